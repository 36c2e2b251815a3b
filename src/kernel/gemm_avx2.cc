// AVX2+FMA GEMM micro-kernels (f32 6x16, f64 6x8; the body is gemm_microkernel.inc), called
// by the driver in gemm.cc.
// Built with function-level target attributes so the library needs no -m flags; the driver
// only calls them after active_isa() reported AVX2 and FMA.
#include "kernel/gemm_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include <cmath>
#include <cstddef>
#include <utility>
#endif

namespace brass {
namespace kernel {
namespace gemm_avx2_impl {

#if defined(__x86_64__)
#define BRASS_GEMM_AVX2 __attribute__((target("avx2,fma")))
#define BRASS_GEMM_AVX2_INLINE __attribute__((target("avx2,fma"), always_inline)) inline

template <class T>
struct Vec;
template <>
struct Vec<float> {
  using type = __m256;
  static constexpr int kLanes = 8;
};
template <>
struct Vec<double> {
  using type = __m256d;
  static constexpr int kLanes = 4;
};

BRASS_GEMM_AVX2_INLINE __m256 vzero(float) { return _mm256_setzero_ps(); }
BRASS_GEMM_AVX2_INLINE __m256d vzero(double) { return _mm256_setzero_pd(); }
BRASS_GEMM_AVX2_INLINE __m256 vset(float x) { return _mm256_set1_ps(x); }
BRASS_GEMM_AVX2_INLINE __m256d vset(double x) { return _mm256_set1_pd(x); }
BRASS_GEMM_AVX2_INLINE __m256 vload(const float* p) { return _mm256_load_ps(p); }
BRASS_GEMM_AVX2_INLINE __m256d vload(const double* p) { return _mm256_load_pd(p); }
BRASS_GEMM_AVX2_INLINE __m256 vloadu(const float* p) { return _mm256_loadu_ps(p); }
BRASS_GEMM_AVX2_INLINE __m256d vloadu(const double* p) { return _mm256_loadu_pd(p); }
BRASS_GEMM_AVX2_INLINE void vstoreu(float* p, __m256 v) { _mm256_storeu_ps(p, v); }
BRASS_GEMM_AVX2_INLINE void vstoreu(double* p, __m256d v) { _mm256_storeu_pd(p, v); }
BRASS_GEMM_AVX2_INLINE __m256 vfma(__m256 a, __m256 b, __m256 c) {
  return _mm256_fmadd_ps(a, b, c);
}
BRASS_GEMM_AVX2_INLINE __m256d vfma(__m256d a, __m256d b, __m256d c) {
  return _mm256_fmadd_pd(a, b, c);
}
BRASS_GEMM_AVX2_INLINE __m256 vmul(__m256 a, __m256 b) { return _mm256_mul_ps(a, b); }
BRASS_GEMM_AVX2_INLINE __m256d vmul(__m256d a, __m256d b) { return _mm256_mul_pd(a, b); }

BRASS_GEMM_AVX2_INLINE __m256 vadd(__m256 a, __m256 b) { return _mm256_add_ps(a, b); }
BRASS_GEMM_AVX2_INLINE __m256d vadd(__m256d a, __m256d b) { return _mm256_add_pd(a, b); }
BRASS_GEMM_AVX2_INLINE __m256 vsub(__m256 a, __m256 b) { return _mm256_sub_ps(a, b); }
BRASS_GEMM_AVX2_INLINE __m256d vsub(__m256d a, __m256d b) { return _mm256_sub_pd(a, b); }
// relu: v where v > 0 or v is NaN, else +0.
BRASS_GEMM_AVX2_INLINE __m256 vrelu(__m256 v) {
  return _mm256_and_ps(_mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_NLE_UQ), v);
}
BRASS_GEMM_AVX2_INLINE __m256d vrelu(__m256d v) {
  return _mm256_and_pd(_mm256_cmp_pd(v, _mm256_setzero_pd(), _CMP_NLE_UQ), v);
}
// clip: t = lo > v ? lo : v; v > hi ? hi : t (NaN stays).
BRASS_GEMM_AVX2_INLINE __m256 vclip(__m256 v, __m256 lo, __m256 hi) {
  const __m256 t = _mm256_blendv_ps(v, lo, _mm256_cmp_ps(lo, v, _CMP_GT_OQ));
  return _mm256_blendv_ps(t, hi, _mm256_cmp_ps(v, hi, _CMP_GT_OQ));
}
BRASS_GEMM_AVX2_INLINE __m256d vclip(__m256d v, __m256d lo, __m256d hi) {
  const __m256d t = _mm256_blendv_pd(v, lo, _mm256_cmp_pd(lo, v, _CMP_GT_OQ));
  return _mm256_blendv_pd(t, hi, _mm256_cmp_pd(v, hi, _CMP_GT_OQ));
}

#define BRASS_GEMM_TARGET BRASS_GEMM_AVX2
#define BRASS_GEMM_INLINE BRASS_GEMM_AVX2_INLINE
#include "kernel/gemm_microkernel.inc"
#undef BRASS_GEMM_INLINE
#undef BRASS_GEMM_TARGET

#undef BRASS_GEMM_AVX2_INLINE
#undef BRASS_GEMM_AVX2
#endif  // __x86_64__

}  // namespace gemm_avx2_impl

namespace gemm_internal {

// Blocking measured on a Zen 4 (32 KiB L1d, 1 MiB L2 per core). A deep kc pays best: each
// further depth block reloads the C tile, whose rows often collide in L1. A's packed block,
// 144 x 1024 floats of A (576 KiB), stays in L2; B's (kc x nc) in L3.
KernelDesc<float> avx2_f32() {
  KernelDesc<float> d;
#if defined(__x86_64__)
  d.fn_epi = gemm_avx2_impl::micro_kernel_epi<float, 6, 2>;
  gemm_avx2_impl::fill_rows<float, 6, 2>(d.rows_epi, std::make_index_sequence<5>());
  gemm_avx2_impl::fill_cols<float, 6, 2>(d.cols, &d.cmax, std::make_index_sequence<8>());
  d.pack_a = gemm_avx2_impl::pack<float, 6>;
  d.pack_b = gemm_avx2_impl::pack<float, 16>;
  d.mr = 6;
  d.nr = 16;
  d.kc = 1024;
  d.mc = 144;
  d.nc = 1024;
#endif
  return d;
}

KernelDesc<double> avx2_f64() {
  KernelDesc<double> d;
#if defined(__x86_64__) && !defined(BRASS_LEAN_DTYPES)  // the predictor's lean builds have no float64 kernels
  d.fn_epi = gemm_avx2_impl::micro_kernel_epi<double, 6, 2>;
  gemm_avx2_impl::fill_rows<double, 6, 2>(d.rows_epi, std::make_index_sequence<5>());
  gemm_avx2_impl::fill_cols<double, 6, 2>(d.cols, &d.cmax, std::make_index_sequence<4>());
  d.pack_a = gemm_avx2_impl::pack<double, 6>;
  d.pack_b = gemm_avx2_impl::pack<double, 8>;
  d.mr = 6;
  d.nr = 8;
  d.kc = 512;
  d.mc = 144;
  d.nc = 1024;
#endif
  return d;
}

}  // namespace gemm_internal
}  // namespace kernel
}  // namespace brass
