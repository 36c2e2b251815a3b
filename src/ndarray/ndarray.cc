// NDArray creation, views and host copies.
#include "ndarray/ndarray.h"

#include <cstring>

#include "kernel/cast.h"

namespace brass {

namespace cuda_hooks {
void (*copy)(void* dst, Device ddev, const void* src, Device sdev, size_t n) = nullptr;
}

Chunk::~Chunk() {
  if (external) {
    if (release) release();
  } else {
    storage::free(block);
  }
}

NDArray::NDArray(const Shape& shape, DType dtype, Device dev)
    : chunk_(std::make_shared<Chunk>()), shape_(shape), dtype_(dtype) {
  int64_t n = checked_product(shape.data(), shape.ndim(), "array");
  if (n > int64_t(SIZE_MAX / 16)) fail(BRASS_ERR_OUT_OF_MEMORY, "array of ", shape, " is too large");
  chunk_->nbytes = size_t(n) * dtype_size(dtype);
  chunk_->dev = dev;
  chunk_->block = storage::alloc(chunk_->nbytes, dev);
}

NDArray NDArray::from_external(void* data, const Shape& shape, DType dtype, Device dev,
                               std::function<void()> release, bool owner_writes) {
  NDArray a;
  a.chunk_ = std::make_shared<Chunk>();
  a.chunk_->external = data;
  a.chunk_->var.untracked.store(owner_writes);
  a.chunk_->release = std::move(release);
  a.chunk_->dev = dev;
  a.chunk_->nbytes = size_t(checked_product(shape.data(), shape.ndim(), "array")) * dtype_size(dtype);
  a.shape_ = shape;
  a.dtype_ = dtype;
  return a;
}

NDArray NDArray::slice(int64_t begin, int64_t end) const {
  if (shape_.ndim() < 1) fail(BRASS_ERR_SHAPE, "slice: cannot slice a 0-d array");
  if (begin < 0 || end < begin || end > shape_[0])
    fail(BRASS_ERR_INDEX, "slice: [", begin, ", ", end, ") is out of bounds for axis 0 of ", shape_);
  NDArray v = detached();  // a view is a new value for autograd
  int64_t row = shape_[0] ? size() / shape_[0] : checked_product(shape_.data() + 1, shape_.ndim() - 1, "array");
  v.shape_[0] = end - begin;
  v.offset_ += begin * row * int64_t(dtype_size(dtype_));
  return v;
}

NDArray NDArray::at(int64_t i) const {
  if (shape_.ndim() < 1) fail(BRASS_ERR_SHAPE, "at: cannot index a 0-d array");
  if (i < 0 || i >= shape_[0])
    fail(BRASS_ERR_INDEX, "index ", i, " is out of bounds for axis 0 with size ", shape_[0]);
  NDArray v = slice(i, i + 1);
  v.shape_ = Shape(shape_.data() + 1, shape_.ndim() - 1);
  return v;
}

NDArray NDArray::reshape(const Shape& s) const {
  if (!s.known() || s.size() != size())
    fail(BRASS_ERR_SHAPE, "reshape: cannot view an array of shape ", shape_, " as ", s);
  NDArray v = detached();
  v.shape_ = s;
  return v;
}

NDArray NDArray::view_as(const Shape& s, DType t) const {
  if (!s.known() || size_t(s.size()) * dtype_size(t) > nbytes())
    fail(BRASS_ERR_SHAPE, "view_as: ", s, " ", dtype_name(t), " does not fit in an array of ", shape_, " ",
         dtype_name(dtype_));
  NDArray v = detached();
  v.shape_ = s;
  v.dtype_ = t;
  return v;
}

void NDArray::copy_from_host(const void* src, size_t n) const {
  if (n != nbytes())
    fail(BRASS_ERR_INVALID_ARGUMENT, "copy_from: ", n, " bytes given for an array of ", shape_, " ",
         dtype_name(dtype_), " (", nbytes(), " bytes)");
  wait_to_write();
  if (n == 0) return;
  if (device().is_gpu()) cuda_hooks::copy(data(), device(), src, Device::cpu(), n);
  else std::memcpy(data(), src, n);
}

void NDArray::copy_to_host(void* dst, size_t n) const {
  if (n != nbytes())
    fail(BRASS_ERR_INVALID_ARGUMENT, "copy_to: room for ", n, " bytes given for an array of ", shape_,
         " ", dtype_name(dtype_), " (", nbytes(), " bytes)");
  wait_to_read();
  if (n == 0) return;
  if (device().is_gpu()) cuda_hooks::copy(dst, Device::cpu(), data(), device(), n);
  else std::memcpy(dst, data(), n);
}

void copy_array(const NDArray& src, const NDArray& dst) {
  if (src.shape() != dst.shape())
    fail(BRASS_ERR_SHAPE, "copyto: shape mismatch, source ", src.shape(), " destination ", dst.shape());
  if (src.data() == dst.data() && src.dtype() == dst.dtype()) return;
  bool small = src.size() < (1 << 15);
  Engine::get().push(
      [src, dst] {
        if (src.device().is_gpu() || dst.device().is_gpu()) {
          if (src.dtype() != dst.dtype())
            fail(BRASS_ERR_UNSUPPORTED, "copyto: dtype conversion across devices");
          cuda_hooks::copy(dst.data(), dst.device(), src.data(), src.device(), src.nbytes());
          return;
        }
        kernel::cast(src.blob(), dst.blob());
      },
      {src.var()}, {dst.var()}, dst.device(), "copyto", small);
}

}  // namespace brass
