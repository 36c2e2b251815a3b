// CUDA kernels of the array creation operators of init.cc (_zeros, _ones, _full, _set_value,
// zeros_like, ones_like, _arange, shape_array, size_array), added to the ops registered there.
#include "cuda/cuda_common.cuh"  // first: its pragmas cover the whole unit

#include "op/operator.h"
#include "op/tensor/init_params.h"

namespace brass {
namespace init_ops {
namespace gpu {

using Blobs = std::vector<TBlob>;

template <class T>
struct Fill {
  T* out;
  T value;
  __device__ void operator()(int64_t i) const { out[i] = value; }
};

// Sets every element of out to v, converted once on the host with the CPU's rules. As the CPU
// kernel, writes whatever the request (these ops have no input to add to).
void fill(const OpContext& c, const TBlob& out, double v) {
  int64_t n = out.size();
  if (n == 0) return;
  cudaStream_t s = cuda::stream(c.dev.id);
  dispatch_dtype(out.dtype, [&](auto tag) {
    using T = decltype(tag);
    cuda::for_each(s, n, Fill<T>{out.ptr<T>(), convert<T>(v)});
    return 0;
  });
  cuda::finish(s);
}

// A fill kernel for the value v (the ops without a value parameter).
ComputeFn constant(double v) {
  return [v](const OpContext& c, const Blobs&, const Blobs& out) { fill(c, out[0], v); };
}

template <class T>
struct Arange {
  T* out;
  double start, step;
  int repeat;
  __device__ void operator()(int64_t i) const {
    out[i] = cuda::dev_convert<T>(arange_value(start, step, repeat, i));
  }
};

void arange(const OpContext& c, const Blobs&, const Blobs& out) {
  const auto& p = c.param<ArangeParam>();
  int64_t n = out[0].size();
  if (n == 0) return;
  cudaStream_t s = cuda::stream(c.dev.id);
  dispatch_dtype(out[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    cuda::for_each(s, n, Arange<T>{out[0].ptr<T>(), arange_start(p), p.step, p.repeat});
    return 0;
  });
  cuda::finish(s);
}

// shape_array and size_array: the few int64 values are known on the host; copied over.
void shape_array(const OpContext& c, const Blobs& in, const Blobs& out) {
  std::vector<int64_t> dims = in[0].shape.vec();
  cudaStream_t s = cuda::stream(c.dev.id);
  cuda::to_device(out[0].dptr, dims.data(), dims.size() * sizeof(int64_t), s);
  cuda::finish(s);  // dims must outlive the copy
}

void size_array(const OpContext& c, const Blobs& in, const Blobs& out) {
  int64_t n = in[0].size();
  cudaStream_t s = cuda::stream(c.dev.id);
  cuda::to_device(out[0].dptr, &n, sizeof(n), s);
  cuda::finish(s);
}

const bool kRegistered = [] {
  auto& R = OpRegistry::get();
  R.add("_zeros").cuda(constant(0.0));
  R.add("_ones").cuda(constant(1.0));
  R.add("zeros_like").cuda(constant(0.0));
  R.add("ones_like").cuda(constant(1.0));
  R.add("_full").cuda([](const OpContext& c, const Blobs&, const Blobs& out) {
    fill(c, out[0], c.param<FullParam>().value);
  });
  R.add("_set_value").cuda([](const OpContext& c, const Blobs&, const Blobs& out) {
    fill(c, out[0], c.param<SetValueParam>().src);
  });
  R.add("_arange").cuda(arange);
  R.add("shape_array").cuda(shape_array);
  R.add("size_array").cuda(size_array);
  return true;
}();

}  // namespace gpu
}  // namespace init_ops
}  // namespace brass
