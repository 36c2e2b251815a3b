// AVX-512 GEMM micro-kernels (f32 14x32, f64 14x16; the body is gemm_microkernel.inc), called
// by the driver in gemm.cc.
// Built with function-level target attributes so the library needs no -m flags; the driver
// only calls them after active_isa() reported AVX-512.
#include "kernel/gemm_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include <cmath>
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
BRASS_GEMM_AVX512_INLINE __m512 vadd(__m512 a, __m512 b) { return _mm512_add_ps(a, b); }
BRASS_GEMM_AVX512_INLINE __m512d vadd(__m512d a, __m512d b) { return _mm512_add_pd(a, b); }
BRASS_GEMM_AVX512_INLINE __m512 vsub(__m512 a, __m512 b) { return _mm512_sub_ps(a, b); }
BRASS_GEMM_AVX512_INLINE __m512d vsub(__m512d a, __m512d b) { return _mm512_sub_pd(a, b); }
// relu: v where v > 0 or v is NaN, else +0.
BRASS_GEMM_AVX512_INLINE __m512 vrelu(__m512 v) {
  return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_NLE_UQ), v);
}
BRASS_GEMM_AVX512_INLINE __m512d vrelu(__m512d v) {
  return _mm512_maskz_mov_pd(_mm512_cmp_pd_mask(v, _mm512_setzero_pd(), _CMP_NLE_UQ), v);
}
// clip: t = lo > v ? lo : v; v > hi ? hi : t (NaN stays).
BRASS_GEMM_AVX512_INLINE __m512 vclip(__m512 v, __m512 lo, __m512 hi) {
  const __m512 t = _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask(lo, v, _CMP_GT_OQ), lo);
  return _mm512_mask_mov_ps(t, _mm512_cmp_ps_mask(v, hi, _CMP_GT_OQ), hi);
}
BRASS_GEMM_AVX512_INLINE __m512d vclip(__m512d v, __m512d lo, __m512d hi) {
  const __m512d t = _mm512_mask_mov_pd(v, _mm512_cmp_pd_mask(lo, v, _CMP_GT_OQ), lo);
  return _mm512_mask_mov_pd(t, _mm512_cmp_pd_mask(v, hi, _CMP_GT_OQ), hi);
}

#define BRASS_GEMM_TARGET BRASS_GEMM_AVX512
#define BRASS_GEMM_INLINE BRASS_GEMM_AVX512_INLINE
#include "kernel/gemm_microkernel.inc"
#undef BRASS_GEMM_INLINE
#undef BRASS_GEMM_TARGET

// 128-bit lanes of a and b picked by kImm (_mm512_shuffle_f32x4), in the masked form with
// every lane taken: the plain one passes an undefined value that GCC's -Wall flags.
template <int kImm>
BRASS_GEMM_AVX512_INLINE __m512 lanes(__m512 a, __m512 b) {
  return _mm512_mask_shuffle_f32x4(a, 0xFFFF, a, b, kImm);
}

// r[i] (row i, 16 floats) becomes column i: the usual three rounds of shuffles (pairs of
// elements, pairs of pairs, then 128-bit lanes), element for element a copy. (Masked forms
// taking every lane throughout, as in lanes.)
BRASS_GEMM_AVX512_INLINE void transpose16(__m512* r) {
  __m512 t[16];
#pragma GCC unroll 16
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_mask_unpacklo_ps(r[2 * i], 0xFFFF, r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_mask_unpackhi_ps(r[2 * i], 0xFFFF, r[2 * i], r[2 * i + 1]);
  }
  // r[4i + j], 128-bit lane l: rows 4i .. 4i+3 of column 4l + j.
#pragma GCC unroll 16
  for (int i = 0; i < 4; ++i) {
    const __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 1]);
    const __m512d c = _mm512_castps_pd(t[4 * i + 2]), d = _mm512_castps_pd(t[4 * i + 3]);
    r[4 * i] = _mm512_castpd_ps(_mm512_mask_unpacklo_pd(a, 0xFF, a, c));
    r[4 * i + 1] = _mm512_castpd_ps(_mm512_mask_unpackhi_pd(a, 0xFF, a, c));
    r[4 * i + 2] = _mm512_castpd_ps(_mm512_mask_unpacklo_pd(b, 0xFF, b, d));
    r[4 * i + 3] = _mm512_castpd_ps(_mm512_mask_unpackhi_pd(b, 0xFF, b, d));
  }
  // Column 4l + j: lane l of r[j], r[4 + j], r[8 + j], r[12 + j].
#pragma GCC unroll 16
  for (int j = 0; j < 4; ++j) {
    const __m512 u0 = lanes<0x44>(r[j], r[4 + j]), u1 = lanes<0xEE>(r[j], r[4 + j]);
    const __m512 u2 = lanes<0x44>(r[8 + j], r[12 + j]), u3 = lanes<0xEE>(r[8 + j], r[12 + j]);
    t[j] = lanes<0x88>(u0, u2);
    t[4 + j] = lanes<0xDD>(u0, u2);
    t[8 + j] = lanes<0x88>(u1, u3);
    t[12 + j] = lanes<0xDD>(u1, u3);
  }
#pragma GCC unroll 16
  for (int i = 0; i < 16; ++i) r[i] = t[i];
}

// pack<float, R> for R a multiple of 16, transposing (B^T given: a channels-last operand):
// each 16 x 16 block of whole panels by transpose16, the rest as pack_block does it.
template <int R>
BRASS_GEMM_AVX512 void pack_f32(bool contiguous, const float* src, int64_t ld, int64_t rows, int64_t kc,
                                float* dst) {
  static_assert(R % 16 == 0, "whole 16 x 16 blocks");
  const int64_t full = contiguous ? 0 : rows / R;
  const int64_t deep = kc / 16 * 16;
  for (int64_t q = 0; q < full; ++q) {
    const float* sq = src + q * R * ld;
    float* dq = dst + q * R * kc;
    for (int64_t p0 = 0; p0 < deep; p0 += 16)
      for (int h = 0; h < R / 16; ++h) {
        __m512 r[16];
#pragma GCC unroll 16
        for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(sq + (h * 16 + i) * ld + p0);
        transpose16(r);
#pragma GCC unroll 16
        for (int p = 0; p < 16; ++p) _mm512_storeu_ps(dq + (p0 + p) * R + h * 16, r[p]);
      }
    for (int64_t p = deep; p < kc; ++p)
      for (int i = 0; i < R; ++i) dq[p * R + i] = sq[i * ld + p];
  }
  gemm_internal::pack_block<float, R>(contiguous, src + full * R * ld, ld, rows - full * R, kc, dst + full * R * kc);
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
  d.fn_epi = gemm_avx512_impl::micro_kernel_epi<float, 14, 2>;
  gemm_avx512_impl::fill_rows<float, 14, 2>(d.rows_epi, std::make_index_sequence<13>());
  gemm_avx512_impl::fill_cols<float, 14, 2>(d.cols, &d.cmax, std::make_index_sequence<16>());
  d.half_epi = gemm_avx512_impl::micro_kernel_half_epi<float, 14, 2>;
  d.pack_a = gemm_avx512_impl::pack<float, 14>;
  d.pack_b = gemm_avx512_impl::pack_f32<32>;
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
#if defined(__x86_64__) && !defined(BRASS_LEAN_DTYPES)  // the predictor's lean builds have no float64 kernels
  d.fn_epi = gemm_avx512_impl::micro_kernel_epi<double, 14, 2>;
  gemm_avx512_impl::fill_rows<double, 14, 2>(d.rows_epi, std::make_index_sequence<13>());
  gemm_avx512_impl::fill_cols<double, 14, 2>(d.cols, &d.cmax, std::make_index_sequence<8>());
  d.half_epi = gemm_avx512_impl::micro_kernel_half_epi<double, 14, 2>;
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
