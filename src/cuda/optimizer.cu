// CUDA kernels of the optimizer update operators (op/nn/optimizer.cc). The per-element math
// and the dispatch over weights and dtypes are shared with the CPU kernels
// (op/nn/optimizer_params.h); here each element-wise pass is one grid-stride launch
// (cuda::for_each). Every element is updated independently, so the results do not depend on
// the launch shape. AdamW's rescale factor and LAMB's r1/r2 are read on the device, so no
// host round trip is needed.
#include "cuda/cuda_common.cuh"  // first: its pragmas cover the whole unit

#include <vector>

#include "op/nn/optimizer_params.h"
#include "op/operator.h"

namespace brass {
namespace optimizer_ops {
namespace gpu {

using In = std::vector<TBlob>;

// Runs functor(i) for i in [0, n) on the stream.
struct GpuExec {
  cudaStream_t s;
  template <class F>
  void operator()(int64_t n, const F& f) const {
    cuda::for_each(s, n, f);
  }
};

template <template <class> class Step, class P, int NS, bool MP, bool SCALE = false>
void gpu_update(const OpContext& ctx, const In& in, const In& out) {
  cudaStream_t s = cuda::stream(ctx.dev.id);
  update<Step, P, NS, MP, SCALE>(ctx, in, out, GpuExec{s});
  cuda::finish(s);
}

void gpu_lamb_phase2(const OpContext& ctx, const In& in, const In& out) {
  cudaStream_t s = cuda::stream(ctx.dev.id);
  lamb_phase2(ctx, in, out, GpuExec{s});
  cuda::finish(s);
}

const bool kRegistered = [] {
  auto& R = OpRegistry::get();
  R.add("sgd_update").cuda(gpu_update<SgdStep, SGDParam, 0, false>);
  R.add("sgd_mom_update").cuda(gpu_update<SgdMomStep, SGDMomParam, 1, false>);
  R.add("mp_sgd_update").cuda(gpu_update<SgdStep, SGDParam, 0, true>);
  R.add("mp_sgd_mom_update").cuda(gpu_update<SgdMomStep, SGDMomParam, 1, true>);
  R.add("nag_mom_update").cuda(gpu_update<NagMomStep, NAGMomParam, 1, false>);
  R.add("mp_nag_mom_update").cuda(gpu_update<NagMomStep, NAGMomParam, 1, true>);
  R.add("adam_update").cuda(gpu_update<AdamStep, AdamParam, 2, false>);
  R.add("_adamw_update").cuda(gpu_update<AdamWStep, AdamWParam, 2, false, true>);
  R.add("_mp_adamw_update").cuda(gpu_update<AdamWStep, AdamWParam, 2, true, true>);
  R.add("rmsprop_update").cuda(gpu_update<RMSPropStep, RMSPropParam, 1, false>);
  R.add("rmspropalex_update").cuda(gpu_update<RMSPropAlexStep, RMSPropAlexParam, 3, false>);
  R.add("adagrad_update").cuda(gpu_update<AdagradStep, AdagradParam, 1, false>);
  R.add("ftrl_update").cuda(gpu_update<FtrlStep, FtrlParam, 2, false>);
  R.add("signsgd_update").cuda(gpu_update<SignSgdStep, SignSGDParam, 0, false>);
  R.add("signum_update").cuda(gpu_update<SignumStep, SignumParam, 1, false>);
  R.add("lamb_update_phase1").cuda(gpu_update<LambPhase1Step, LambPhase1Param, 2, false>);
  R.add("lamb_update_phase2").cuda(gpu_lamb_phase2);
  R.add("multi_sgd_update").cuda(gpu_update<MultiSgdStep, MultiSGDParam, 0, false>);
  R.add("multi_sgd_mom_update").cuda(gpu_update<MultiSgdMomStep, MultiSGDMomParam, 1, false>);
  R.add("multi_mp_sgd_update").cuda(gpu_update<MultiSgdStep, MultiSGDParam, 0, true>);
  R.add("multi_mp_sgd_mom_update").cuda(gpu_update<MultiSgdMomStep, MultiSGDMomParam, 1, true>);
  return true;
}();

}  // namespace gpu
}  // namespace optimizer_ops
}  // namespace brass
