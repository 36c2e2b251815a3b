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

// out = exp(v) for lanes inside [kLo, kHi] (other lanes are garbage: callers redo them).
#define BRASS_VMATH_EXP_VEC(VF, VI, v, out)                                        \
  {                                                                                \
    VF t_ = (v) * kLog2e + kRound;                                                 \
    VF nf_ = t_ - kRound;                                                          \
    VF r_ = (v) - nf_ * kLn2Hi;                                                    \
    r_ = r_ - nf_ * kLn2Lo;                                                        \
    VF p_ = r_ * (1.0f / 5040) + (1.0f / 720);                                     \
    p_ = p_ * r_ + (1.0f / 120);                                                   \
    p_ = p_ * r_ + (1.0f / 24);                                                    \
    p_ = p_ * r_ + (1.0f / 6);                                                     \
    p_ = p_ * r_ + 0.5f;                                                           \
    p_ = p_ * r_ + 1.0f;                                                           \
    p_ = p_ * r_ + 1.0f;                                                           \
    VI e_ = (__builtin_convertvector(nf_, VI) + 127) << 23;                        \
    VF scale_;                                                                     \
    std::memcpy(&scale_, &e_, sizeof scale_);                                      \
    out = p_ * scale_;                                                             \
  }

#define BRASS_VMATH_EXP_BODY(VF, VI, W)                                            \
  int64_t i = 0;                                                                   \
  for (; i + W <= n; i += W) {                                                     \
    VF v, out;                                                                     \
    std::memcpy(&v, x + i, sizeof v);                                              \
    BRASS_VMATH_EXP_VEC(VF, VI, v, out)                                            \
    std::memcpy(y + i, &out, sizeof out);                                          \
    for (int k = 0; k < W; ++k)                                                    \
      if (!in_range(v[k])) y[i + k] = std::exp(v[k]);                              \
  }                                                                                \
  for (; i < n; ++i) y[i] = std::exp(x[i]);

// tanh: below |x| = 0.625 an odd polynomial x + x^3 P(x^2) (P fitted to tanh on Chebyshev
// nodes of [0, 0.625], under 0.8 ulp); above, 1 - 2 / (exp(2|x|) + 1) with |x| capped at 9
// (tanh(9) rounds to 1), the sign put back. NaN and zero lanes return x itself.
#define BRASS_VMATH_TANH_BODY(VF, VI, W)                                           \
  int64_t i = 0;                                                                   \
  for (; i + W <= n; i += W) {                                                     \
    VF v, e;                                                                       \
    std::memcpy(&v, x + i, sizeof v);                                              \
    VF r = v < 0.0f ? -v : v;                                                      \
    VF rc = r < 9.0f ? r : 9.0f;                                                   \
    VF two = rc + rc;                                                              \
    BRASS_VMATH_EXP_VEC(VF, VI, two, e)                                            \
    VF big = 1.0f - 2.0f / (e + 1.0f);                                             \
    VF u = r * r;                                                                  \
    VF p = u * kTanh5 + kTanh4;                                                    \
    p = p * u + kTanh3;                                                            \
    p = p * u + kTanh2;                                                            \
    p = p * u + kTanh1;                                                            \
    p = p * u + kTanh0;                                                            \
    VF small = r + r * (u * p);                                                    \
    VF t = r < 0.625f ? small : big;                                               \
    VF out = v < 0.0f ? -t : t;                                                    \
    std::memcpy(y + i, &out, sizeof out);                                          \
    for (int k = 0; k < W; ++k)                                                    \
      if (v[k] != v[k] || v[k] == 0.0f) y[i + k] = v[k]; /* NaN, and the sign of 0 */ \
  }                                                                                \
  for (; i < n; ++i) y[i] = std::tanh(x[i]);

constexpr float kTanh0 = -0.33333333178954627f, kTanh1 = 0.1333330433439547f,
                kTanh2 = -0.053959414013045486f, kTanh3 = 0.021770008341334728f,
                kTanh4 = -0.008347101900142996f, kTanh5 = 0.0022959542803596394f;

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
__attribute__((target("avx512f,avx2,fma"))) void tanh_avx512(const float* x, float* y, int64_t n) {
  BRASS_VMATH_TANH_BODY(v16f, v16i, 16)
}
__attribute__((target("avx2,fma"))) void tanh_avx2(const float* x, float* y, int64_t n) {
  BRASS_VMATH_TANH_BODY(v8f, v8i, 8)
}
#endif

#if defined(__aarch64__) && (defined(__GNUC__) || defined(__clang__))
typedef float v4f __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));
void exp_neon(const float* x, float* y, int64_t n) { BRASS_VMATH_EXP_BODY(v4f, v4i, 4) }
void tanh_neon(const float* x, float* y, int64_t n) { BRASS_VMATH_TANH_BODY(v4f, v4i, 4) }
#endif

#undef BRASS_VMATH_EXP_BODY
#undef BRASS_VMATH_TANH_BODY
#undef BRASS_VMATH_EXP_VEC

// One function's SIMD versions (null where this build has none) and its scalar form.
using VecFn = void (*)(const float*, float*, int64_t);
struct Versions {
  VecFn avx512, avx2, neon;
  float (*scalar)(float);
};
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
const Versions kExp{exp_avx512, exp_avx2, nullptr, std::exp};
const Versions kTanh{tanh_avx512, tanh_avx2, nullptr, std::tanh};
#elif defined(__aarch64__) && (defined(__GNUC__) || defined(__clang__))
const Versions kExp{nullptr, nullptr, exp_neon, std::exp};
const Versions kTanh{nullptr, nullptr, tanh_neon, std::tanh};
#else
const Versions kExp{nullptr, nullptr, nullptr, std::exp};
const Versions kTanh{nullptr, nullptr, nullptr, std::tanh};
#endif

void run(const Versions& v, const float* x, float* y, int64_t n) {
  const Isa isa = active_isa();
  VecFn fn = isa == Isa::kAvx512 ? v.avx512 : isa == Isa::kAvx2 ? v.avx2 : isa == Isa::kNeon ? v.neon : nullptr;
  if (fn) return fn(x, y, n);
  for (int64_t i = 0; i < n; ++i) y[i] = v.scalar(x[i]);
}

}  // namespace vmath_impl

void exp_f32(const float* x, float* y, int64_t n) { vmath_impl::run(vmath_impl::kExp, x, y, n); }
void tanh_f32(const float* x, float* y, int64_t n) { vmath_impl::run(vmath_impl::kTanh, x, y, n); }

void sigmoid_f32(const float* x, float* y, int64_t n) {
  // 1 / (1 + exp(-x)) in blocks: -x, exp in place, then the quotient.
  constexpr int64_t kStep = 256;
  for (int64_t b = 0; b < n; b += kStep) {
    const int64_t m = n - b < kStep ? n - b : kStep;
    float t[kStep];
    for (int64_t i = 0; i < m; ++i) t[i] = -x[b + i];
    exp_f32(t, t, m);
    for (int64_t i = 0; i < m; ++i) y[b + i] = 1.0f / (1.0f + t[i]);
  }
}

}  // namespace kernel
}  // namespace brass
