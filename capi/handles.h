// The table of live handles. A handle is (slot index + 1) | generation << 32, cast to the
// opaque pointer type; a lookup checks the slot's kind and generation, so a freed, forged or
// wrongly typed handle is refused without dereferencing anything the caller passed.
#pragma once

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
  static constexpr uint32_t kChunkBits = 12, kChunkSize = 1u << kChunkBits, kMaxChunks = 4096;
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
