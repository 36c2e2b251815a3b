// The GPU executor of kernels written once for both devices (the twin of op/cpu_exec.h, which
// describes the interface): one grid-stride launch per functor on the device's stream, small
// host tables copied to the device, and the few values the host must see copied back.
#pragma once

#include "cuda/cuda_common.cuh"

#include <memory>
#include <utility>
#include <vector>

#include "op/operator.h"

namespace brass {
namespace cuda {

struct GpuExec {
  cudaStream_t s;
  int dev;
  std::vector<std::shared_ptr<void>> host;  // uploaded tables: alive until the stream is done
  std::vector<std::unique_ptr<DeviceBuffer>> bufs;

  template <class F>
  void run(int64_t n, const F& f) {
    cuda::for_each(s, n, f);
  }
  template <class V>
  const V* upload(std::vector<V> v) {
    size_t nbytes = v.size() * sizeof(V);
    bufs.push_back(std::make_unique<DeviceBuffer>(nbytes ? nbytes : sizeof(V), dev));
    auto t = std::make_shared<std::vector<V>>(std::move(v));
    host.push_back(t);
    to_device(bufs.back()->get(), t->data(), nbytes, s);
    return bufs.back()->get<V>();
  }
  std::vector<double> host_values(const TBlob& b) {
    size_t n = size_t(b.size()), es = dtype_size(b.dtype);
    std::vector<unsigned char> raw(n * es);
    to_host(raw.data(), b.dptr, raw.size(), s);
    finish(s);
    std::vector<double> v(n);
    dispatch_dtype(b.dtype, [&](auto tag) {
      using I = decltype(tag);
      const I* p = reinterpret_cast<const I*>(raw.data());
      for (size_t i = 0; i < n; ++i) v[i] = convert<double>(p[i]);
      return 0;
    });
    return v;
  }
};

// A ComputeFn that runs F with a GPU executor on the op's device, then waits for its stream.
template <void (*F)(GpuExec&, const OpContext&, const std::vector<TBlob>&,
                     const std::vector<TBlob>&)>
void on_gpu(const OpContext& ctx, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
  GpuExec ex{stream(ctx.dev.id), ctx.dev.id, {}, {}};
  F(ex, ctx, in, out);
  finish(ex.s);
}

}  // namespace cuda
}  // namespace brass
