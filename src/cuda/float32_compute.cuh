// The CUDA side of op/nn/float32_compute.h: float32 scratch on the device and the conversion
// between float32 and float16/bfloat16, for kernels that run small-float arrays in float32.
#pragma once

#include <vector>

#include "cuda/cuda_common.cuh"
#include "op/nn/float32_compute.h"

namespace brass {
namespace nn_dtype {
namespace gpu {

struct DeviceScratch {
  cuda::DeviceBuffer b;
  DeviceScratch(size_t bytes, int dev) : b(bytes, dev) {}
  void* ptr() const { return b.get(); }
};

template <class S, class D>
struct CastAdd {
  const S* a;
  D* b;
  bool add;
  __device__ void operator()(int64_t i) const {
    float v = cuda::dev_convert<float>(a[i]);
    b[i] = cuda::dev_convert<D>(add ? cuda::dev_convert<float>(b[i]) + v : v);
  }
};

inline void device_cast(const TBlob& src, const TBlob& dst, bool add) {
  cudaStream_t s = cuda::stream(src.dev.id);
  small_float_dispatch(src.dtype, [&](auto sa) {
    small_float_dispatch(dst.dtype, [&](auto da) {
      using S = decltype(sa);
      using D = decltype(da);
      cuda::for_each(s, src.size(), CastAdd<S, D>{src.ptr<S>(), dst.ptr<D>(), add});
    });
  });
  cuda::finish(s);
}

inline ComputeFn small_floats(ComputeFn fn) {
  return with_small_floats<DeviceScratch>(std::move(fn), device_cast);
}

}  // namespace gpu
}  // namespace nn_dtype
}  // namespace brass
