// NDArray: a view (shape, dtype, byte offset) of a reference-counted chunk of device memory
// that carries the engine variable ordering all work on that memory. Views share the chunk.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "base/device.h"
#include "base/dtype.h"
#include "base/shape.h"
#include "engine/engine.h"
#include "storage/storage.h"

namespace brass {

struct Node;  // op/operator.h: a node of a graph (autograd records into one)

struct Chunk {
  Block block;                      // pooled memory, or
  void* external = nullptr;         // memory owned elsewhere, released by `release`
  std::function<void()> release;
  size_t nbytes = 0;
  Device dev;
  Var var;                          // orders all work on this memory
  void* ptr() const { return external ? external : block.ptr; }
  ~Chunk();
};

// The raw view that kernels see.
struct TBlob {
  void* dptr = nullptr;
  Shape shape;
  DType dtype = DType::kFloat32;
  Device dev;
  TBlob() {}  // user-provided: value-initialization must not zero the whole Shape
  TBlob(void* p, const Shape& s, DType t, Device d) : dptr(p), shape(s), dtype(t), dev(d) {}
  int64_t size() const { return shape.size(); }
  template <class T> T* ptr() const { return static_cast<T*>(dptr); }
};

class NDArray {
 public:
  NDArray() = default;
  NDArray(const Shape& shape, DType dtype, Device dev);  // allocates, uninitialized
  // Memory owned elsewhere, released by `release` when the last user is gone. owner_writes:
  // its owner may write it behind the engine's back, so versions do not name its contents.
  static NDArray from_external(void* data, const Shape& shape, DType dtype, Device dev,
                               std::function<void()> release, bool owner_writes = true);

  bool is_none() const { return !chunk_; }
  const Shape& shape() const { return shape_; }
  DType dtype() const { return dtype_; }
  Device device() const { return chunk_ ? chunk_->dev : Device(); }
  int64_t size() const { return shape_.size(); }
  size_t nbytes() const { return size_t(size()) * dtype_size(dtype_); }
  void* data() const { return static_cast<char*>(chunk_->ptr()) + offset_; }
  // The engine variable, sharing the chunk's ownership: pushed work holding it keeps the
  // memory alive (one allocation serves both).
  VarPtr var() const { return VarPtr(chunk_, &chunk_->var); }
  // Its memory may be written outside the engine from now on (its address was handed out):
  // its versions no longer name its contents (Var::untracked).
  void mark_untracked() const { chunk_->var.untracked.store(true); }
  const std::shared_ptr<Chunk>& chunk() const { return chunk_; }
  bool same_memory(const NDArray& o) const { return chunk_ == o.chunk_; }
  TBlob blob() const { return TBlob{data(), shape_, dtype_, device()}; }

  NDArray slice(int64_t begin, int64_t end) const;   // view along axis 0
  NDArray reshape(const Shape& s) const;             // view, same size
  NDArray at(int64_t i) const;                       // view of row i (ndim - 1 dims)
  // A view of this array's first bytes as another shape and dtype (a planned buffer).
  NDArray view_as(const Shape& s, DType t) const;

  void wait_to_read() const { Engine::get().wait_for_var(var(), false); }
  void wait_to_write() const { Engine::get().wait_for_var(var(), true); }
  void copy_from_host(const void* src, size_t nbytes) const;  // synchronous
  void copy_to_host(void* dst, size_t nbytes) const;          // synchronous

  // Autograd: the graph entry (node, output) this value came from under record(), or the
  // variable node of an array marked for gradients; no node otherwise.
  const std::shared_ptr<Node>& ag_node() const { return ag_node_; }
  uint32_t ag_index() const { return ag_index_; }
  void set_ag(std::shared_ptr<Node> n, uint32_t index) {
    ag_node_ = std::move(n);
    ag_index_ = index;
  }
  // The same value, outside any graph.
  NDArray detached() const {
    NDArray d(*this);
    d.ag_node_.reset();
    return d;
  }

 private:
  std::shared_ptr<Chunk> chunk_;
  Shape shape_ = Shape(0);
  DType dtype_ = DType::kFloat32;
  int64_t offset_ = 0;  // bytes
  std::shared_ptr<Node> ag_node_;
  uint32_t ag_index_ = 0;
};

// Asynchronous copy between arrays of the same shape, converting dtype if needed.
void copy_array(const NDArray& src, const NDArray& dst);

// Copies between host and a device (CUDA hooks; CPU is memcpy).
namespace cuda_hooks {
extern void (*copy)(void* dst, Device ddev, const void* src, Device sdev, size_t n);
}

}  // namespace brass
