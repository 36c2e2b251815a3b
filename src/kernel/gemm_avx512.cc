// AVX-512 GEMM micro-kernels (f32 14x32, f64 14x16), called by the driver in gemm.cc.
// Built with function-level target attributes so the library needs no -m flags; the driver
// only calls them after active_isa() reported AVX-512.
#include "kernel/gemm_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include <cstddef>
#include <utility>
#endif

namespace brass {
namespace kernel {
namespace gemm_avx512_impl {

#if defined(__x86_64__)
#define BRASS_GEMM_AVX512 __attribute__((target("avx512f,avx2,fma")))
#define BRASS_GEMM_AVX512_INLINE __attribute__((target("avx512f,avx2,fma"), always_inline)) inline

template <class T>
struct Vec;
template <>
struct Vec<float> {
  using type = __m512;
  static constexpr int kLanes = 16;
};
template <>
struct Vec<double> {
  using type = __m512d;
  static constexpr int kLanes = 8;
};

BRASS_GEMM_AVX512_INLINE __m512 vzero(float) { return _mm512_setzero_ps(); }
BRASS_GEMM_AVX512_INLINE __m512d vzero(double) { return _mm512_setzero_pd(); }
BRASS_GEMM_AVX512_INLINE __m512 vset(float x) { return _mm512_set1_ps(x); }
BRASS_GEMM_AVX512_INLINE __m512d vset(double x) { return _mm512_set1_pd(x); }
BRASS_GEMM_AVX512_INLINE __m512 vload(const float* p) { return _mm512_load_ps(p); }
BRASS_GEMM_AVX512_INLINE __m512d vload(const double* p) { return _mm512_load_pd(p); }
BRASS_GEMM_AVX512_INLINE __m512 vloadu(const float* p) { return _mm512_loadu_ps(p); }
BRASS_GEMM_AVX512_INLINE __m512d vloadu(const double* p) { return _mm512_loadu_pd(p); }
BRASS_GEMM_AVX512_INLINE void vstoreu(float* p, __m512 v) { _mm512_storeu_ps(p, v); }
BRASS_GEMM_AVX512_INLINE void vstoreu(double* p, __m512d v) { _mm512_storeu_pd(p, v); }
BRASS_GEMM_AVX512_INLINE __m512 vfma(__m512 a, __m512 b, __m512 c) {
  return _mm512_fmadd_ps(a, b, c);
}
BRASS_GEMM_AVX512_INLINE __m512d vfma(__m512d a, __m512d b, __m512d c) {
  return _mm512_fmadd_pd(a, b, c);
}
BRASS_GEMM_AVX512_INLINE __m512 vmul(__m512 a, __m512 b) { return _mm512_mul_ps(a, b); }
BRASS_GEMM_AVX512_INLINE __m512d vmul(__m512d a, __m512d b) { return _mm512_mul_pd(a, b); }

// Each depth step broadcasts MR values of A against NV vectors of B: for 14x2 that is 28
// accumulators, 2 B vectors and one broadcast, all 32 zmm registers and no spills. MU < MR
// computes only the first MU rows (the bottom edge of C).
template <class T, int MR, int NV, int MU = MR>
BRASS_GEMM_AVX512 void micro_kernel(int64_t kc, const T* a, const T* b, T* c, int64_t ldc,
                                    T alpha, T beta) {
  using V = typename Vec<T>::type;
  constexpr int L = Vec<T>::kLanes;
  V acc[MU][NV];
#pragma GCC unroll 32
  for (int i = 0; i < MU; ++i)
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) acc[i][j] = vzero(T());
  // C's rows are often a power of two apart and collide in L1; start fetching them now so the
  // update after the loop does not wait on them.
#pragma GCC unroll 32
  for (int i = 0; i < MU; ++i) {
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + NV * L - 1), _MM_HINT_T0);
  }
  for (int64_t p = 0; p < kc; ++p) {
    V bv[NV];
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) bv[j] = vload(b + j * L);
    // Packed A streams in from L2; ask for it a few depth steps before it is needed.
    _mm_prefetch(reinterpret_cast<const char*>(a + 8 * MR), _MM_HINT_T0);
#pragma GCC unroll 32
    for (int i = 0; i < MU; ++i) {
      V av = vset(a[i]);
#pragma GCC unroll 4
      for (int j = 0; j < NV; ++j) acc[i][j] = vfma(av, bv[j], acc[i][j]);
    }
    a += MR;
    b += NV * L;
  }
  V va = vset(alpha);
  if (beta == T(0)) {
#pragma GCC unroll 32
    for (int i = 0; i < MU; ++i)
#pragma GCC unroll 4
      for (int j = 0; j < NV; ++j) vstoreu(c + i * ldc + j * L, vmul(va, acc[i][j]));
  } else {
    V vb = vset(beta);
#pragma GCC unroll 32
    for (int i = 0; i < MU; ++i)
#pragma GCC unroll 4
      for (int j = 0; j < NV; ++j) {
        T* ci = c + i * ldc + j * L;
        vstoreu(ci, vfma(va, acc[i][j], vmul(vb, vloadu(ci))));
      }
  }
}

// The generic packer, vectorized for this ISA.
template <class T, int R>
BRASS_GEMM_AVX512 void pack(bool contiguous, const T* src, int64_t ld, int64_t rows, int64_t kc,
                            T* dst) {
  gemm_internal::pack_block<T, R>(contiguous, src, ld, rows, kc, dst);
}

// Kernels for 1 .. MR-1 rows, into KernelDesc::rows.
template <class T, int MR, int NV, std::size_t... R>
void fill_rows(gemm_internal::MicroKernel<T>* rows, std::index_sequence<R...>) {
  ((rows[R + 1] = micro_kernel<T, MR, NV, int(R) + 1>), ...);
}

#undef BRASS_GEMM_AVX512_INLINE
#undef BRASS_GEMM_AVX512
#endif  // __x86_64__

}  // namespace gemm_avx512_impl

namespace gemm_internal {

// Blocking measured on a Zen 4 (32 KiB L1d, 1 MiB L2 per core). A deep kc pays best: each
// further depth block reloads the C tile, whose rows often collide in L1. A's packed block,
// 168 x 1024 floats of A (672 KiB), stays in L2; B's (kc x nc) in L3.
KernelDesc<float> avx512_f32() {
  KernelDesc<float> d;
#if defined(__x86_64__)
  d.fn = gemm_avx512_impl::micro_kernel<float, 14, 2>;
  gemm_avx512_impl::fill_rows<float, 14, 2>(d.rows, std::make_index_sequence<13>());
  d.pack_a = gemm_avx512_impl::pack<float, 14>;
  d.pack_b = gemm_avx512_impl::pack<float, 32>;
  d.mr = 14;
  d.nr = 32;
  d.kc = 1024;
  d.mc = 168;
  d.nc = 1024;
#endif
  return d;
}

KernelDesc<double> avx512_f64() {
  KernelDesc<double> d;
#if defined(__x86_64__)
  d.fn = gemm_avx512_impl::micro_kernel<double, 14, 2>;
  gemm_avx512_impl::fill_rows<double, 14, 2>(d.rows, std::make_index_sequence<13>());
  d.pack_a = gemm_avx512_impl::pack<double, 14>;
  d.pack_b = gemm_avx512_impl::pack<double, 16>;
  d.mr = 14;
  d.nr = 16;
  d.kc = 512;
  d.mc = 168;
  d.nc = 1024;
#endif
  return d;
}

}  // namespace gemm_internal
}  // namespace kernel
}  // namespace brass
