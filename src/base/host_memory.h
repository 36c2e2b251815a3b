// Host memory for large buffers (arrays, packed operands, files read whole).
#pragma once
#include <cstddef>

namespace brass {

// n bytes, 64-byte aligned, released with std::free; null when the system refuses. Buffers of
// 2 MiB and more are aligned to 2 MiB and, on Linux, ask for transparent huge pages: first
// touching them then takes one page fault per 2 MiB instead of 512, which is most of the cost
// of loading a model's weights.
void* host_alloc(size_t n);

}  // namespace brass
