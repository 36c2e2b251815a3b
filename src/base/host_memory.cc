#include "base/host_memory.h"

#include <cstdlib>

#if defined(__linux__) && !defined(__EMSCRIPTEN__)
#include <sys/mman.h>
#endif

namespace brass {

void* host_alloc(size_t n) {
  constexpr size_t kAlign = 64, kHuge = size_t(2) << 20;
  if (n < kHuge) return std::aligned_alloc(kAlign, (n + kAlign - 1) / kAlign * kAlign);
  void* p = nullptr;
  if (posix_memalign(&p, kHuge, n) != 0) return nullptr;
#if defined(MADV_HUGEPAGE)
  (void)madvise(p, n / kHuge * kHuge, MADV_HUGEPAGE);  // advice only: refused, small pages serve
#endif
  return p;
}

}  // namespace brass
