// CPU feature detection (cpuid on x86-64; NEON is always there on aarch64).
#include "kernel/cpu_features.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "base/error.h"

namespace brass {
namespace kernel {

namespace cpu_features_impl {
std::atomic<int> g_forced{-1};

bool detect(Isa i) {
  switch (i) {
    case Isa::kScalar: return true;
#if defined(__x86_64__) || defined(__i386__)
    case Isa::kAvx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case Isa::kAvx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") &&
             __builtin_cpu_supports("fma");
    case Isa::kNeon: return false;
#elif defined(__aarch64__)
    case Isa::kNeon: return true;
    default: return false;
#else
    default: return false;
#endif
  }
  return false;
}

Isa from_env() {
  const char* s = std::getenv("BRASS_ISA");
  if (!s) return best_isa();
  Isa want = Isa::kScalar;
  if (!std::strcmp(s, "avx512")) want = Isa::kAvx512;
  else if (!std::strcmp(s, "avx2")) want = Isa::kAvx2;
  else if (!std::strcmp(s, "neon")) want = Isa::kNeon;
  else if (!std::strcmp(s, "scalar")) want = Isa::kScalar;
  else return best_isa();
  return detect(want) ? want : best_isa();
}
}  // namespace cpu_features_impl

bool isa_supported(Isa i) { return cpu_features_impl::detect(i); }

Isa best_isa() {
  static Isa best = [] {
    for (Isa i : {Isa::kAvx512, Isa::kAvx2, Isa::kNeon})
      if (cpu_features_impl::detect(i)) return i;
    return Isa::kScalar;
  }();
  return best;
}

Isa active_isa() {
  int f = cpu_features_impl::g_forced.load(std::memory_order_relaxed);
  if (f >= 0) return Isa(f);
  static Isa env = cpu_features_impl::from_env();
  return env;
}

void set_isa(Isa i) {
  if (!isa_supported(i)) fail(BRASS_ERR_UNSUPPORTED, "ISA ", isa_name(i), " is not supported here");
  cpu_features_impl::g_forced.store(int(i));
}

const char* isa_name(Isa i) {
  switch (i) {
    case Isa::kAvx512: return "avx512";
    case Isa::kAvx2: return "avx2";
    case Isa::kNeon: return "neon";
    default: return "scalar";
  }
}

}  // namespace kernel
}  // namespace brass
