// CUDA kernels of the spatial and sequence operators (op/nn/spatial.cc): Embedding,
// UpSampling, Pad, Crop, SequenceMask, SequenceLast, SequenceReverse, GridGenerator,
// BilinearSampler and their gradient ops.
// The host logic and the kernel functors are the CPU's (op/nn/spatial_params.h), run by a GPU
// executor: one grid-stride launch per functor, small index tables copied to the device, and
// the few values the host must see (Embedding's indices for the gradient, sequence lengths)
// copied back. Every kernel is a gather: deterministic, no atomics.
#include "cuda/cuda_common.cuh"  // first: its pragmas cover the whole unit

#include <memory>
#include <vector>

#include "op/nn/spatial_params.h"
#include "op/operator.h"

namespace brass {
namespace nn_spatial_gpu {

using In = std::vector<TBlob>;

struct GpuExec {
  cudaStream_t s;
  int dev;
  std::vector<std::vector<int64_t>> host;  // uploaded tables: alive until the stream is done
  std::vector<std::unique_ptr<cuda::DeviceBuffer>> bufs;

  template <class F>
  void run(int64_t n, const F& f) {
    cuda::for_each(s, n, f);
  }
  const int64_t* upload(std::vector<int64_t> v) {
    size_t nbytes = v.size() * sizeof(int64_t);
    bufs.push_back(std::make_unique<cuda::DeviceBuffer>(nbytes ? nbytes : sizeof(int64_t), dev));
    host.push_back(std::move(v));
    cuda::to_device(bufs.back()->get(), host.back().data(), nbytes, s);
    return bufs.back()->get<int64_t>();
  }
  std::vector<double> host_values(const TBlob& b) {
    size_t n = size_t(b.size()), es = dtype_size(b.dtype);
    std::vector<unsigned char> raw(n * es);
    cuda::to_host(raw.data(), b.dptr, raw.size(), s);
    cuda::finish(s);
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

template <void (*F)(GpuExec&, const OpContext&, const In&, const In&)>
void on_gpu(const OpContext& ctx, const In& in, const In& out) {
  GpuExec ex{cuda::stream(ctx.dev.id), ctx.dev.id, {}, {}};
  F(ex, ctx, in, out);
  cuda::finish(ex.s);
}

const bool kRegistered = [] {
  using namespace spatial_ops;
  auto& R = OpRegistry::get();
  R.add("Embedding").cuda(on_gpu<embedding_forward<GpuExec>>);
  R.add("_backward_Embedding").cuda(on_gpu<embedding_backward<GpuExec>>);
  R.add("UpSampling").cuda(on_gpu<upsampling_forward<GpuExec>>);
  R.add("_backward_UpSampling").cuda(on_gpu<upsampling_backward<GpuExec>>);
  R.add("Pad").cuda(on_gpu<pad_forward<GpuExec>>);
  R.add("_backward_Pad").cuda(on_gpu<pad_backward<GpuExec>>);
  R.add("Crop").cuda(on_gpu<crop_forward<GpuExec>>);
  R.add("_backward_Crop").cuda(on_gpu<crop_backward<GpuExec>>);
  R.add("SequenceMask").cuda(on_gpu<seq_mask_forward<GpuExec>>);
  R.add("SequenceReverse").cuda(on_gpu<seq_reverse_forward<GpuExec>>);
  R.add("SequenceLast").cuda(on_gpu<seq_last_forward<GpuExec>>);
  R.add("_backward_SequenceLast").cuda(on_gpu<seq_last_backward<GpuExec>>);
  R.add("GridGenerator").cuda(on_gpu<grid_forward<GpuExec>>);
  R.add("_backward_GridGenerator").cuda(on_gpu<grid_backward<GpuExec>>);
  R.add("BilinearSampler").cuda(on_gpu<sampler_forward<GpuExec>>);
  R.add("_backward_BilinearSampler").cuda(on_gpu<sampler_backward<GpuExec>>);
  return true;
}();

}  // namespace nn_spatial_gpu
}  // namespace brass
