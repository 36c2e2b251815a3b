// NEON GEMM micro-kernels for aarch64 (f32 8x12, f64 8x6), called by the driver in gemm.cc.
// NEON is part of the aarch64 base ISA, so no target attributes are needed.
#include "kernel/gemm_internal.h"

#if defined(__aarch64__)
#include <arm_neon.h>

#include <cstddef>
#include <utility>
#endif

namespace brass {
namespace kernel {
namespace gemm_neon_impl {

#if defined(__aarch64__)
template <class T>
struct Vec;
template <>
struct Vec<float> {
  using type = float32x4_t;
  static constexpr int kLanes = 4;
};
template <>
struct Vec<double> {
  using type = float64x2_t;
  static constexpr int kLanes = 2;
};

inline float32x4_t vzero(float) { return vdupq_n_f32(0.0f); }
inline float64x2_t vzero(double) { return vdupq_n_f64(0.0); }
inline float32x4_t vset(float x) { return vdupq_n_f32(x); }
inline float64x2_t vset(double x) { return vdupq_n_f64(x); }
inline float32x4_t vload(const float* p) { return vld1q_f32(p); }
inline float64x2_t vload(const double* p) { return vld1q_f64(p); }
inline void vstore(float* p, float32x4_t v) { vst1q_f32(p, v); }
inline void vstore(double* p, float64x2_t v) { vst1q_f64(p, v); }
inline float32x4_t vfma_v(float32x4_t acc, float32x4_t b, float32x4_t a) {
  return vfmaq_f32(acc, b, a);
}
inline float64x2_t vfma_v(float64x2_t acc, float64x2_t b, float64x2_t a) {
  return vfmaq_f64(acc, b, a);
}
// acc += b * a[Lane]: the by-element FMA reads A straight from a vector register, so A costs
// MR / lanes registers instead of MR scalars (which would push accumulators to the stack).
template <int Lane>
__attribute__((always_inline)) inline float32x4_t vfma_lane(float32x4_t acc, float32x4_t b,
                                                             float32x4_t a) {
  return vfmaq_laneq_f32(acc, b, a, Lane);
}
template <int Lane>
__attribute__((always_inline)) inline float64x2_t vfma_lane(float64x2_t acc, float64x2_t b,
                                                             float64x2_t a) {
  return vfmaq_laneq_f64(acc, b, a, Lane);
}

// One depth step for row I of the tile (the lane index must be a constant, hence a template).
template <int I, int L, class V, int NV, int NA>
__attribute__((always_inline)) inline void row_step(V (&acc)[NV], const V (&bv)[NV],
                                                    const V (&av)[NA]) {
#pragma GCC unroll 8
  for (int j = 0; j < NV; ++j) acc[j] = vfma_lane<I % L>(acc[j], bv[j], av[I / L]);
}
template <int L, class V, int MR, int NV, int NA, std::size_t... I>
__attribute__((always_inline)) inline void depth_step(V (&acc)[MR][NV], const V (&bv)[NV],
                                                      const V (&av)[NA],
                                                      std::index_sequence<I...>) {
  (row_step<int(I), L>(acc[I], bv, av), ...);
}

inline float32x4_t vmul(float32x4_t a, float32x4_t b) { return vmulq_f32(a, b); }
inline float64x2_t vmul(float64x2_t a, float64x2_t b) { return vmulq_f64(a, b); }

// MR rows x NV vectors: 24 accumulators plus B and A vectors fit the 32 q registers.
template <class T, int MR, int NV>
void micro_kernel(int64_t kc, const T* a, const T* b, T* c, int64_t ldc, T alpha, T beta) {
  using V = typename Vec<T>::type;
  constexpr int L = Vec<T>::kLanes;
  V acc[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int j = 0; j < NV; ++j) acc[i][j] = vzero(T());
  constexpr int NA = MR / L;
  static_assert(MR % L == 0, "rows of A are loaded as whole vectors");
  for (int64_t p = 0; p < kc; ++p) {
    V bv[NV], av[NA];
#pragma GCC unroll 8
    for (int j = 0; j < NV; ++j) bv[j] = vload(b + j * L);
#pragma GCC unroll 8
    for (int j = 0; j < NA; ++j) av[j] = vload(a + j * L);
    depth_step<L>(acc, bv, av, std::make_index_sequence<MR>());
    a += MR;
    b += NV * L;
  }
  const V va = vset(alpha);
  if (beta == T(0)) {
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
      for (int j = 0; j < NV; ++j) vstore(c + i * ldc + j * L, vmul(va, acc[i][j]));
  } else {
    const V vb = vset(beta);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
      for (int j = 0; j < NV; ++j) {
        T* ci = c + i * ldc + j * L;
        vstore(ci, vfma_v(vmul(vb, vload(ci)), va, acc[i][j]));
      }
  }
}
#endif  // __aarch64__

}  // namespace gemm_neon_impl

namespace gemm_internal {

KernelDesc<float> neon_f32() {
  KernelDesc<float> d;
#if defined(__aarch64__)
  d.fn = gemm_neon_impl::micro_kernel<float, 8, 3>;
  d.pack_a = gemm_internal::pack_block<float, 8>;
  d.pack_b = gemm_internal::pack_block<float, 12>;
  d.mr = 8;
  d.nr = 12;
  d.kc = 512;
  d.mc = 128;
  d.nc = 1024;
#endif
  return d;
}

KernelDesc<double> neon_f64() {
  KernelDesc<double> d;
#if defined(__aarch64__) && !defined(BRASS_LEAN_DTYPES)  // the predictor's lean builds have no float64 kernels
  d.fn = gemm_neon_impl::micro_kernel<double, 8, 3>;
  d.pack_a = gemm_internal::pack_block<double, 8>;
  d.pack_b = gemm_internal::pack_block<double, 6>;
  d.mr = 8;
  d.nr = 6;
  d.kc = 256;
  d.mc = 128;
  d.nc = 1024;
#endif
  return d;
}

}  // namespace gemm_internal
}  // namespace kernel
}  // namespace brass
