// Run-time choice of the instruction set for the hand-written kernels. BRASS_ISA forces one
// (avx512, avx2, neon, scalar); a forced ISA the machine lacks falls back to the best one.
#pragma once

#include <cstdint>
#include <type_traits>

#include "base/xinline.h"

namespace brass {
namespace kernel {

enum class Isa { kScalar = 0, kAvx2 = 1, kAvx512 = 2, kNeon = 3 };

Isa best_isa();            // what this machine supports best
Isa active_isa();          // best_isa() unless BRASS_ISA or set_isa() chose another
bool isa_supported(Isa i);
void set_isa(Isa i);       // for tests; fails if unsupported
const char* isa_name(Isa i);

// Runs f() built for isa's vector width: on x86-64, f (a lambda marked BRASS_ALWAYS_INLINE
// whose own calls are always-inline) is inlined into a wrapper compiled for AVX-512 or AVX2,
// so one source vectorizes for each ISA with the same arithmetic. Other ISAs (and other
// builds) run f as compiled.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
template <class F> __attribute__((target("avx2"))) void run_avx2(const F& f) { f(); }
template <class F> __attribute__((target("avx512f"))) void run_avx512(const F& f) { f(); }
template <class F>
inline void run_for(Isa isa, const F& f) {
  if (isa == Isa::kAvx512) run_avx512(f);
  else if (isa == Isa::kAvx2) run_avx2(f);
  else f();
}
#else
template <class F>
inline void run_for(Isa, const F& f) {
  f();
}
#endif

// run_for for loops that GCC vectorizes only with its -O3 cost model: at -O2 it vectorizes
// just the loops that need no remainder or runtime check (its "very cheap" model), which
// left the depthwise planes (MobileNetV2 twice as slow), the Winograd transforms and the
// convolution epilogues scalar in a plain `c++ -O2` build.
// Used where the loops' results do not depend on how they are split (not in the GEMM, whose
// bits must not change with the thread count).
#if defined(__GNUC__) && !defined(__clang__) && !defined(__CUDACC__)
#define BRASS_VECTORIZE __attribute__((optimize("tree-vectorize", "vect-cost-model=dynamic")))
#else
#define BRASS_VECTORIZE
#endif
template <class F> BRASS_VECTORIZE void run_base_vec(const F& f) { f(); }
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
template <class F> __attribute__((target("avx2"))) BRASS_VECTORIZE void run_avx2_vec(const F& f) { f(); }
template <class F> __attribute__((target("avx512f"))) BRASS_VECTORIZE void run_avx512_vec(const F& f) { f(); }
template <class F>
inline void run_vectorized(Isa isa, const F& f) {
  if (isa == Isa::kAvx512) run_avx512_vec(f);
  else if (isa == Isa::kAvx2) run_avx2_vec(f);
  else run_base_vec(f);
}
#else
template <class F>
inline void run_vectorized(Isa, const F& f) {
  run_base_vec(f);
}
#endif

// run_vectorized for a body written over explicit vectors: f(width) gets the bytes of the
// ISA's vector registers as a std::integral_constant (64 AVX-512, 32 AVX2, else 16: SSE2,
// NEON), so each copy is built for vectors that fit its registers.
template <class F>
inline void run_vectorized_width(Isa isa, const F& f) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  if (isa == Isa::kAvx512) {
    run_avx512_vec([&]() BRASS_ALWAYS_INLINE { f(std::integral_constant<int, 64>()); });
    return;
  }
  if (isa == Isa::kAvx2) {
    run_avx2_vec([&]() BRASS_ALWAYS_INLINE { f(std::integral_constant<int, 32>()); });
    return;
  }
#else
  (void)isa;
#endif
  run_base_vec([&]() BRASS_ALWAYS_INLINE { f(std::integral_constant<int, 16>()); });
}

#if defined(__GNUC__)
// The vectors such a body works in (GCC's and Clang's vector extensions): V holds kBytes of
// T, M the lane masks its comparisons give.
template <class T, int kBytes>
struct Lanes {
  typedef T V __attribute__((vector_size(kBytes)));
  using M = decltype(V{} > V{});
  static constexpr int64_t kLanes = kBytes / int64_t(sizeof(T));
};
#endif

}  // namespace kernel
}  // namespace brass
