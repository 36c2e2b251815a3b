// CUDA kernels of the image operators (op/image/image.cc): the host logic and the kernel
// functors are the CPU's (op/image/image_params.h), run by the GPU executor
// (cuda/gpu_exec.cuh), so a GPU gives the CPU's bits (random draws included, for one seed).
#include "cuda/cuda_common.cuh"  // first: its pragmas cover the whole unit

#include "cuda/gpu_exec.cuh"
#include "op/image/image_params.h"
#include "op/operator.h"

namespace brass {
namespace image_gpu {

using cuda::GpuExec;
using cuda::on_gpu;

const bool kRegistered = [] {
  using namespace image_ops;
  auto& R = OpRegistry::get();
  R.add("_image_to_tensor").cuda(on_gpu<to_tensor_forward<GpuExec>>);
  R.add("_backward_image_to_tensor").cuda(on_gpu<to_tensor_backward<GpuExec>>);
  R.add("_image_normalize").cuda(on_gpu<normalize_forward<GpuExec>>);
  R.add("_image_resize").cuda(on_gpu<resize_forward<GpuExec>>);
  R.add("_backward_image_resize").cuda(on_gpu<resize_backward<GpuExec>>);
  R.add("_image_crop").cuda(on_gpu<crop_forward<GpuExec>>);
  R.add("_backward_image_crop").cuda(on_gpu<crop_backward<GpuExec>>);
  R.add("_image_flip_left_right").cuda(on_gpu<Flip<true>::forward<GpuExec>>);
  R.add("_image_flip_top_bottom").cuda(on_gpu<Flip<false>::forward<GpuExec>>);
  R.add("_image_random_flip_left_right").cuda(on_gpu<Flip<true>::random_forward<GpuExec>>);
  R.add("_image_random_flip_top_bottom").cuda(on_gpu<Flip<false>::random_forward<GpuExec>>);
  R.add("_image_random_brightness").cuda(on_gpu<Enhance<false>::forward<GpuExec>>);
  R.add("_image_random_contrast").cuda(on_gpu<Enhance<true>::forward<GpuExec>>);
  return true;
}();

}  // namespace image_gpu
}  // namespace brass
