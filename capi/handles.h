// The table of live handles. A handle is (slot index + 1) | generation << kIdxBits, cast to
// the opaque pointer type (32 + 32 bits on 64-bit targets; 24 + 8 on 32-bit ones such as
// armv7 and wasm32); a lookup checks the slot's kind and generation, so a freed, forged or
// wrongly typed handle is refused without dereferencing anything the caller passed.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "base/error.h"

namespace brass {

enum class HandleKind : uint8_t {
  kFree = 0, kNDArray, kParams, kNDList, kAsync, kSymbol, kExecutor, kGraph, kModel, kPredictor, kPredList, kCount
};

class HandleTable {
 public:
  static HandleTable& get();
  // Takes ownership of obj (deleted by `release`).
  uintptr_t insert(HandleKind kind, void* obj, void (*deleter)(void*));
  // The object behind a live handle of that kind, or throws BRASS_ERR_HANDLE naming `what`.
  void* lookup(uintptr_t h, HandleKind kind, const char* what) const;
  // Removes and destroys; false if the handle was not live.
  bool release(uintptr_t h, HandleKind kind);
  int64_t live(HandleKind kind) const;

 private:
  static constexpr unsigned kIdxBits = sizeof(uintptr_t) >= 8 ? 32 : 24;
  static constexpr uint32_t kGenMask = sizeof(uintptr_t) >= 8 ? 0xffffffffu : 0xffu;
  static constexpr uint32_t kChunkBits = 12, kChunkSize = 1u << kChunkBits, kMaxChunks = 4096;
  // Slots a handle can name: index + 1 must fit in kIdxBits.
  static constexpr uint64_t kMaxSlots = std::min<uint64_t>(uint64_t(kMaxChunks) * kChunkSize,
                                                           (uint64_t(1) << kIdxBits) - 1);
  static uint32_t index_of(uintptr_t h) { return uint32_t(uint64_t(h) & ((uint64_t(1) << kIdxBits) - 1)); }
  static uint32_t gen_of(uintptr_t h) { return uint32_t(uint64_t(h) >> kIdxBits) & kGenMask; }
  struct Slot {
    std::atomic<uint32_t> gen{1};
    std::atomic<uint8_t> kind{0};
    void* obj = nullptr;
    void (*deleter)(void*) = nullptr;
  };
  Slot* slot(uint32_t idx) const;
  mutable std::mutex mu_;
  std::atomic<Slot*> chunks_[kMaxChunks] = {};
  uint32_t next_ = 0;
  std::vector<uint32_t> free_;
  std::atomic<int64_t> live_[size_t(HandleKind::kCount)] = {};
};

}  // namespace brass
