// Live-handle table implementation: chunked slots that never move, so lookups need no lock.
#include "capi/handles.h"

#include <string>

#include "brass/c_api.h"
#include "capi/api.h"
#include "engine/engine.h"
#include "engine/thread_pool.h"
#include "kernel/cpu_features.h"

namespace brass {
namespace capi {

// The message of the last failure on this thread, shared by the full and the predict API.
thread_local std::string t_last_error;

brass_status set_error(brass_status code, const char* msg) {
  t_last_error = msg;
  return code;
}

const char* build_info() {
  static const std::string info = std::string("cpu isa=") + kernel::isa_name(kernel::active_isa()) +
                                  " threads=" + std::to_string(thread_pool::num_threads()) +
                                  " engine=" + Engine::get().kind() +
#ifdef BRASS_USE_CUDA
                                  " cuda=1"
#else
                                  " cuda=0"
#endif
#ifdef BRASS_PREDICT_ONLY
                                  " predict-only"
#endif
#ifdef BRASS_LEAN_DTYPES
                                  " dtypes=float32,int32,int64,uint8"
#endif
#if !BRASS_ALL_OPS
                                  " ops=selected"
#endif
      ;
  return info.c_str();
}

}  // namespace capi

HandleTable& HandleTable::get() {
  static HandleTable* t = new HandleTable;
  return *t;
}

HandleTable::Slot* HandleTable::slot(uint32_t idx) const {
  uint32_t c = idx >> kChunkBits;
  if (c >= kMaxChunks) return nullptr;
  Slot* base = chunks_[c].load(std::memory_order_acquire);
  return base ? base + (idx & (kChunkSize - 1)) : nullptr;
}

uintptr_t HandleTable::insert(HandleKind kind, void* obj, void (*deleter)(void*)) {
  std::lock_guard<std::mutex> lk(mu_);
  uint32_t idx;
  if (!free_.empty()) {
    idx = free_.back();
    free_.pop_back();
  } else {
    idx = next_;
    if (idx >= kMaxSlots) {
      deleter(obj);
      fail(BRASS_ERR_OUT_OF_MEMORY, "too many live handles");
    }
    if (!chunks_[idx >> kChunkBits].load()) chunks_[idx >> kChunkBits].store(new Slot[kChunkSize]);
    ++next_;
  }
  Slot* s = slot(idx);
  s->obj = obj;
  s->deleter = deleter;
  s->kind.store(uint8_t(kind), std::memory_order_release);
  live_[int(kind)].fetch_add(1);
  uint64_t gen = s->gen.load();
  return uintptr_t((gen << kIdxBits) | uint64_t(idx + 1));
}

void* HandleTable::lookup(uintptr_t h, HandleKind kind, const char* what) const {
  uint32_t idx = index_of(h);
  if (h == 0) fail(BRASS_ERR_HANDLE, what, ": NULL handle");
  Slot* s = idx ? slot(idx - 1) : nullptr;
  if (!s || s->gen.load(std::memory_order_acquire) != gen_of(h) ||
      s->kind.load(std::memory_order_acquire) != uint8_t(kind))
    fail(BRASS_ERR_HANDLE, what, ": invalid handle (freed, foreign, or of another type)");
  return s->obj;
}

bool HandleTable::release(uintptr_t h, HandleKind kind) {
  void* obj;
  void (*del)(void*);
  {
    std::lock_guard<std::mutex> lk(mu_);
    uint32_t idx = index_of(h);
    Slot* s = idx ? slot(idx - 1) : nullptr;
    if (!s || s->gen.load() != gen_of(h) || s->kind.load() != uint8_t(kind)) return false;
    obj = s->obj;
    del = s->deleter;
    s->kind.store(uint8_t(HandleKind::kFree));
    uint32_t g = (s->gen.load() + 1) & kGenMask;
    s->gen.store(g == 0 ? 1 : g);
    s->obj = nullptr;
    free_.push_back(idx - 1);
    live_[int(kind)].fetch_sub(1);
  }
  del(obj);
  return true;
}

int64_t HandleTable::live(HandleKind kind) const { return live_[int(kind)].load(); }

}  // namespace brass
