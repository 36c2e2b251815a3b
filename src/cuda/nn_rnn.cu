// CUDA kernels of RNN and _backward_RNN (op/nn/rnn.cc): the same algorithms (rnn_params.h)
// with a CUDA backend: GEMMs through dot.cu's gemm, the gate math as for_each functors (one
// thread per unit of a step; the steps run one after another on the stream), scratch from the
// pooled allocator. Dropout masks come from the same Philox draws as on the CPU; sequence
// lengths are checked on the host. _rnn_param_concat runs Concat's CUDA kernel.
#include "cuda/cuda_common.cuh"  // first: its pragmas cover the whole unit

#include <memory>
#include <vector>

#include "cuda/gemm.cuh"
#include "op/nn/rnn_params.h"
#include "op/operator.h"

namespace brass {
namespace rnn_gpu {

using rnn_ops::Dims;
using rnn_ops::RNNParam;

struct GpuBackend {
  cudaStream_t s;
  int dev;
  DType dtype;
  std::vector<std::unique_ptr<cuda::DeviceBuffer>> bufs;
  template <class T> T* scratch(int64_t n) {
    bufs.emplace_back(new cuda::DeviceBuffer(size_t(n > 0 ? n : 1) * sizeof(T), dev));
    return bufs.back()->get<T>();
  }
  void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const void* a, int64_t lda,
            const void* b, int64_t ldb, void* c, bool add) {
    if (m == 0 || n == 0) return;
    dot_ops::gpu::gemm(s, "RNN", dtype, ta, tb, 1, m, n, k, a, lda, 0, b, ldb, 0, c, 0, add);
  }
  template <class F> void each(int64_t n, const F& f) { cuda::for_each(s, n, f); }
};

template <class Fn>
void dispatch(DType t, Fn&& f) {
  if (t == DType::kFloat32) f(float());
  else if (t == DType::kFloat64) f(double());
  else fail(BRASS_ERR_DTYPE, "RNN: only float32 and float64 are supported, got ", dtype_name(t));
}

// The sequence lengths (input k, any dtype), checked on the host and copied to the device
// (null when not used).
const int64_t* device_lengths(GpuBackend& be, const std::vector<TBlob>& in, int k,
                              const Dims& d) {
  if (k < 0) return nullptr;
  const TBlob& b = in[size_t(k)];
  std::vector<char> host(size_t(b.size()) * dtype_size(b.dtype) + 1);
  cuda::to_host(host.data(), b.dptr, size_t(b.size()) * dtype_size(b.dtype), be.s);
  cuda::finish(be.s);
  std::vector<int64_t> lens = rnn_ops::lengths(host.data(), b.dtype, d.N, d.T);
  int64_t* dev = be.scratch<int64_t>(d.N);
  cuda::to_device(dev, lens.data(), lens.size() * sizeof(int64_t), be.s);
  cuda::finish(be.s);
  return dev;
}

template <class T> T* want(const OpContext& ctx, const std::vector<TBlob>& out, size_t k) {
  return k < out.size() && ctx.req[k] != Req::kNull ? out[k].ptr<T>() : nullptr;
}

void rnn(const OpContext& ctx, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
  const auto& p = ctx.param<RNNParam>();
  Dims d = rnn_ops::make_dims(p, in[0].shape);
  bool lstm = d.mode == rnn_ops::kLstm;
  cudaStream_t s = cuda::stream(ctx.dev.id);
  {
    GpuBackend be{s, ctx.dev.id, in[0].dtype, {}};
    const int64_t* lens = device_lengths(be, in, rnn_ops::seq_index(p), d);
    dispatch(in[0].dtype, [&](auto tag) {
      using T = decltype(tag);
      T* res = out[size_t(rnn_ops::reserve_index(p))].ptr<T>();
      rnn_ops::forward<T>(be, d, in[0].ptr<T>(), in[1].ptr<T>(), in[2].ptr<T>(),
                          lstm ? in[3].ptr<T>() : nullptr, lens, want<T>(ctx, out, 0),
                          want<T>(ctx, out, 1), lstm ? want<T>(ctx, out, 2) : nullptr, res,
                          ctx.is_train && p.p > 0, 1.0 - p.p, ctx.rng);
    });
    cuda::finish(s);  // before the scratch goes back to the pool
  }
}

void rnn_backward(const OpContext& ctx, const std::vector<TBlob>& in,
                  const std::vector<TBlob>& out) {
  const auto& p = ctx.param<RNNParam>();
  Dims d = rnn_ops::make_dims(p, in[0].shape);
  bool lstm = d.mode == rnn_ops::kLstm;
  size_t r = size_t(rnn_ops::num_inputs(p));  // the reserve, after the forward's inputs
  cudaStream_t s = cuda::stream(ctx.dev.id);
  {
    GpuBackend be{s, ctx.dev.id, in[0].dtype, {}};
    const int64_t* lens = device_lengths(be, in, rnn_ops::seq_index(p), d);
    dispatch(in[0].dtype, [&](auto tag) {
      using T = decltype(tag);
      rnn_ops::backward<T>(be, d, in[0].ptr<T>(), in[1].ptr<T>(), in[2].ptr<T>(),
                           lstm ? in[3].ptr<T>() : nullptr, lens, in[r].ptr<T>(),
                           in[r + 1].ptr<T>(), in[r + 2].ptr<T>(),
                           lstm ? in[r + 3].ptr<T>() : nullptr, want<T>(ctx, out, 0),
                           want<T>(ctx, out, 1), want<T>(ctx, out, 2),
                           lstm ? want<T>(ctx, out, 3) : nullptr);
    });
    cuda::finish(s);
  }
}

const bool kRegistered = [] {
  OpRegistry::get().add("RNN").cuda(rnn);
  OpRegistry::get().add("_backward_RNN").cuda(rnn_backward);
  // Concat's CUDA kernel, on Concat's parameters (see rnn.cc).
  OpRegistry::get().add("_rnn_param_concat")
      .cuda([](const OpContext& ctx, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
        const Op* concat = OpRegistry::get().find("Concat");
        if (!concat || !concat->compute[1])
          fail(BRASS_ERR_UNSUPPORTED, "_rnn_param_concat: Concat has no CUDA kernel");
        concat->compute[1](ctx, in, out);
      });
  return true;
}();

}  // namespace rnn_gpu
}  // namespace brass
