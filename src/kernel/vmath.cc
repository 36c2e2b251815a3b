// exp in SIMD with GCC/Clang vector extensions inside functions compiled for one ISA each
// (target attributes), so the library still builds with a bare c++ command. Range reduction:
// x = n ln2 + r with |r| <= ln2/2, exp(r) by a degree-7 Taylor polynomial (error < 2^-27),
// times 2^n built in the exponent bits. Lanes outside the normal range (overflow, subnormal
// results, NaN) are redone with std::exp.
#include "kernel/vmath.h"

#include <cmath>
#include <cstring>

#include "kernel/cpu_features.h"

namespace brass {
namespace kernel {
namespace vmath_impl {

constexpr float kLog2e = 1.44269504088896341f;
constexpr float kLn2Hi = 0.693359375f;        // ln2 split so n * kLn2Hi is exact
constexpr float kLn2Lo = -2.12194440e-4f;
constexpr float kLo = -87.0f, kHi = 88.0f;    // inside: result is a normal float
constexpr float kRound = 12582912.0f;         // 1.5 * 2^23: adding it rounds to an integer

inline bool in_range(float v) { return v >= kLo && v <= kHi; }

#define BRASS_VMATH_EXP_BODY(VF, VI, W)                                            \
  int64_t i = 0;                                                                   \
  for (; i + W <= n; i += W) {                                                     \
    VF v;                                                                          \
    std::memcpy(&v, x + i, sizeof v);                                              \
    VF t = v * kLog2e + kRound;                                                    \
    VF nf = t - kRound;                                                            \
    VF r = v - nf * kLn2Hi;                                                        \
    r = r - nf * kLn2Lo;                                                           \
    VF p = r * (1.0f / 5040) + (1.0f / 720);                                       \
    p = p * r + (1.0f / 120);                                                      \
    p = p * r + (1.0f / 24);                                                       \
    p = p * r + (1.0f / 6);                                                        \
    p = p * r + 0.5f;                                                              \
    p = p * r + 1.0f;                                                              \
    p = p * r + 1.0f;                                                              \
    VI e = (__builtin_convertvector(nf, VI) + 127) << 23;                          \
    VF scale;                                                                      \
    std::memcpy(&scale, &e, sizeof scale);                                         \
    VF out = p * scale;                                                            \
    std::memcpy(y + i, &out, sizeof out);                                          \
    for (int k = 0; k < W; ++k)                                                    \
      if (!in_range(v[k])) y[i + k] = std::exp(v[k]);                              \
  }                                                                                \
  for (; i < n; ++i) y[i] = std::exp(x[i]);

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
typedef float v16f __attribute__((vector_size(64)));
typedef int32_t v16i __attribute__((vector_size(64)));
typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

__attribute__((target("avx512f,avx2,fma"))) void exp_avx512(const float* x, float* y, int64_t n) {
  BRASS_VMATH_EXP_BODY(v16f, v16i, 16)
}
__attribute__((target("avx2,fma"))) void exp_avx2(const float* x, float* y, int64_t n) {
  BRASS_VMATH_EXP_BODY(v8f, v8i, 8)
}
#endif

#if defined(__aarch64__) && (defined(__GNUC__) || defined(__clang__))
typedef float v4f __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));
void exp_neon(const float* x, float* y, int64_t n) { BRASS_VMATH_EXP_BODY(v4f, v4i, 4) }
#endif

#undef BRASS_VMATH_EXP_BODY

}  // namespace vmath_impl

void exp_f32(const float* x, float* y, int64_t n) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  Isa isa = active_isa();
  if (isa == Isa::kAvx512) return vmath_impl::exp_avx512(x, y, n);
  if (isa == Isa::kAvx2) return vmath_impl::exp_avx2(x, y, n);
#elif defined(__aarch64__) && (defined(__GNUC__) || defined(__clang__))
  if (active_isa() == Isa::kNeon) return vmath_impl::exp_neon(x, y, n);
#endif
  for (int64_t i = 0; i < n; ++i) y[i] = std::exp(x[i]);
}

}  // namespace kernel
}  // namespace brass
