// CUDA kernels of the spatial and sequence operators (op/nn/spatial.cc): Embedding,
// UpSampling, Pad, Crop, SequenceMask, SequenceLast, SequenceReverse, GridGenerator,
// BilinearSampler and their gradient ops.
// The host logic and the kernel functors are the CPU's (op/nn/spatial_params.h), run by the GPU
// executor (cuda/gpu_exec.cuh; the values the host must see are Embedding's indices for the
// gradient and sequence lengths). Every kernel is a gather: deterministic, no atomics.
#include "cuda/cuda_common.cuh"  // first: its pragmas cover the whole unit

#include <vector>

#include "cuda/gpu_exec.cuh"
#include "op/nn/spatial_params.h"
#include "op/operator.h"

namespace brass {
namespace nn_spatial_gpu {

using cuda::GpuExec;
using cuda::on_gpu;

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
