// Pooled allocator: per device, free lists keyed by size class (four classes per power of
// two, so at most 25% is wasted). Blocks go back to the pool, not to the system, until
// release() or an allocation failure empties it.
#include "storage/storage.h"

#include <cstdlib>
#include <map>
#include <mutex>
#include <new>
#include <vector>

#include "base/error.h"
#include "base/host_memory.h"

namespace brass {

// CUDA storage lives in the CUDA sources; these hooks are filled in there.
namespace cuda_hooks {
void* (*device_malloc)(size_t, int) = nullptr;
void (*device_free)(void*, int) = nullptr;
}  // namespace cuda_hooks

namespace storage_pool {

size_t size_class(size_t n) {
  if (n < kAlign) n = kAlign;
  if (n <= 4096) return (n + kAlign - 1) / kAlign * kAlign;
  size_t p = 1;
  while (p < n) p <<= 1;      // next power of two
  size_t step = p / 8;        // four classes between p/2 and p
  return (n + step - 1) / step * step;
}

struct Pool {
  std::mutex mu;
  std::map<size_t, std::vector<void*>> free;
  uint64_t in_use = 0, pooled = 0;
};

Pool& pool_for(Device dev) {
  // A fixed set of pools: cpu, then one per GPU id (up to 64). Never destroyed, so late
  // frees from static destructors stay safe.
  static Pool* pools = new Pool[65];
  if (dev.type == BRASS_GPU) return pools[1 + (dev.id & 63)];
  return pools[0];
}

void* sys_alloc(size_t n, Device dev) {
  if (dev.type == BRASS_GPU) {
    if (!cuda_hooks::device_malloc) fail(BRASS_ERR_DEVICE, "no CUDA support in this build");
    return cuda_hooks::device_malloc(n, dev.id);
  }
  return host_alloc(n);
}

void sys_free(void* p, Device dev) {
  if (dev.type == BRASS_GPU) cuda_hooks::device_free(p, dev.id);
  else std::free(p);
}

void release_locked(Pool& p, Device dev) {
  for (auto& [sz, list] : p.free) {
    for (void* ptr : list) sys_free(ptr, dev);
    p.pooled -= sz * list.size();
    list.clear();
  }
  p.free.clear();
}

}  // namespace storage_pool

namespace storage {

Block alloc(size_t nbytes, Device dev) {
  using namespace storage_pool;
  Pool& p = pool_for(dev);
  size_t sz = size_class(nbytes);
  if (sz < nbytes) fail(BRASS_ERR_OUT_OF_MEMORY, "allocation of ", nbytes, " bytes is too large");
  Device key = dev.type == BRASS_CPU_PINNED ? Device::cpu(0) : dev;
  {
    std::lock_guard<std::mutex> lk(p.mu);
    auto it = p.free.find(sz);
    if (it != p.free.end() && !it->second.empty()) {
      void* ptr = it->second.back();
      it->second.pop_back();
      p.pooled -= sz;
      p.in_use += sz;
      return Block{ptr, sz, key};
    }
  }
  void* ptr = sys_alloc(sz, key);
  if (!ptr) {
    std::lock_guard<std::mutex> lk(p.mu);
    release_locked(p, key);
    ptr = sys_alloc(sz, key);
  }
  if (!ptr) fail(BRASS_ERR_OUT_OF_MEMORY, "out of memory allocating ", nbytes, " bytes on ", key.str());
  std::lock_guard<std::mutex> lk(p.mu);
  p.in_use += sz;
  return Block{ptr, sz, key};
}

void free(const Block& b) {
  if (!b.ptr) return;
  storage_pool::Pool& p = storage_pool::pool_for(b.dev);
  std::lock_guard<std::mutex> lk(p.mu);
  p.free[b.size].push_back(b.ptr);
  p.in_use -= b.size;
  p.pooled += b.size;
}

void info(Device dev, uint64_t* in_use, uint64_t* pooled) {
  storage_pool::Pool& p = storage_pool::pool_for(dev);
  std::lock_guard<std::mutex> lk(p.mu);
  if (in_use) *in_use = p.in_use;
  if (pooled) *pooled = p.pooled;
}

void release(Device dev) {
  storage_pool::Pool& p = storage_pool::pool_for(dev);
  std::lock_guard<std::mutex> lk(p.mu);
  storage_pool::release_locked(p, dev);
}

}  // namespace storage
}  // namespace brass
