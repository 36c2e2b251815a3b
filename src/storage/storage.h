// Pooled storage per device: 64-byte aligned blocks recycled by size class, with per-device
// counters for memory_info(). Called by NDArray when it allocates and when its last user dies.
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/device.h"

namespace brass {

constexpr size_t kAlign = 64;

struct Block {
  void* ptr = nullptr;
  size_t size = 0;  // the size class actually reserved
  Device dev;
};

namespace storage {
// Throws Error(BRASS_ERR_OUT_OF_MEMORY) when the system refuses, after emptying the pool.
Block alloc(size_t nbytes, Device dev);
void free(const Block& b);
void info(Device dev, uint64_t* in_use, uint64_t* pooled);
void release(Device dev);  // frees the pooled (unused) blocks
}  // namespace storage

}  // namespace brass
