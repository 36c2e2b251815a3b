// CUDA kernels of CTCLoss and _backward_CTCLoss (src/op/nn/ctc_loss.cc). The labels and
// lengths (small: N x L and N values) are copied to the host and checked and packed there by
// the CPU kernel's own function (ctc_prepare), so both devices fail alike; then one thread per
// sample runs the shared alpha-beta computation (ctc_sample) in a scratch slice of its own.
#include "cuda/cuda_common.cuh"  // first: its pragmas cover the whole unit

#include <memory>
#include <vector>

#include "op/nn/ctc_params.h"
#include "op/nn/nn_dtype.h"
#include "op/operator.h"

namespace brass {
namespace ctc_ops {
namespace gpu {

const char* const kOp = "CTCLoss";
const char* const kGradOp = "_backward_CTCLoss";

// A (small) device array as host doubles.
std::vector<double> host_values(const TBlob& b, cudaStream_t s) {
  std::vector<double> v(size_t(b.size()));
  dispatch_dtype(b.dtype, [&](auto tag) {
    using L = decltype(tag);
    std::unique_ptr<L[]> h(new L[v.size() + 1]);  // not std::vector: vector<bool> has no data()
    cuda::to_host(h.get(), b.ptr<L>(), v.size() * sizeof(L), s);
    cuda::finish(s);
    for (size_t i = 0; i < v.size(); ++i) v[i] = convert<double>(h[i]);
  });
  return v;
}

template <class T, class C>
struct Sample {
  const T* x;
  const int32_t *labels, *label_len, *seq_len;
  int64_t t_max, n, k, width, blank, scratch;
  C* w;
  T *loss, *grad, *loss_tmp;
  __device__ void operator()(int64_t b) const {
    T* l = loss ? loss + b : loss_tmp + b;
    ctc_sample<C>(x, t_max, n, k, b, int64_t(seq_len[b]), labels + b * width,
                  int64_t(label_len[b]), width, blank, w + b * scratch, l, grad);
  }
};

void ctc(const OpContext& ctx, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
  const auto& p = ctx.param<CTCLossParam>();
  const Shape& ds = in[0].shape;
  int64_t t_max = ds[0], n = ds[1], k = ds[2], width = in[1].shape[1];
  cudaStream_t s = cuda::stream(ctx.dev.id);
  std::vector<double> dl, ll;
  if (p.use_data_lengths) dl = host_values(in[2], s);
  if (p.use_label_lengths) ll = host_values(in[2 + int(p.use_data_lengths)], s);
  Packed pk = ctc_prepare(kOp, p, t_max, n, width, k, host_values(in[1], s),
                          p.use_data_lengths ? &dl : nullptr, p.use_label_lengths ? &ll : nullptr);
  bool want_loss = ctx.req[0] != Req::kNull, want_grad = ctx.req[1] != Req::kNull;
  if ((!want_loss && !want_grad) || n == 0) return;
  int64_t blank = p.blank_label == "first" ? 0 : k - 1;
  int64_t scratch = ctc_scratch(t_max, width, k);
  // labels (n, width), label lengths (n), sequence lengths (n) in one int32 buffer
  std::vector<int32_t> ints(pk.labels);
  ints.insert(ints.end(), pk.label_len.begin(), pk.label_len.end());
  ints.insert(ints.end(), pk.seq_len.begin(), pk.seq_len.end());
  cuda::DeviceBuffer dints(ints.size() * sizeof(int32_t), ctx.dev.id);
  cuda::to_device(dints.get(), ints.data(), ints.size() * sizeof(int32_t), s);
  const int32_t* labels = dints.get<int32_t>();
  dispatch_f32_f64(in[0].dtype, kOp, [&](auto tag) {
    using T = decltype(tag);
    using C = nn_dtype::Compute<T>;
    cuda::DeviceBuffer w(size_t(n * scratch) * sizeof(C), ctx.dev.id);
    // the loss goes somewhere even when only the gradient is asked for
    cuda::DeviceBuffer tmp(want_loss ? 1 : size_t(n) * sizeof(T), ctx.dev.id);
    cuda::for_each(s, n, Sample<T, C>{in[0].ptr<T>(), labels, labels + n * width,
                                      labels + n * width + n, t_max, n, k, width, blank, scratch,
                                      w.get<C>(), want_loss ? out[0].ptr<T>() : nullptr,
                                      want_grad ? out[1].ptr<T>() : nullptr, tmp.get<T>()});
    cuda::finish(s);  // before the buffers go
  });
  cuda::finish(s);
}

template <class T>
struct ScaleGrad {
  const T *h, *g;
  T* y;
  int64_t n, k;
  bool add;
  __device__ void operator()(int64_t i) const {
    T v = g[i] * h[(i / k) % n];
    y[i] = add ? T(y[i] + v) : v;
  }
};

void ctc_grad(const OpContext& ctx, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  const Shape& gs = in[1].shape;
  cudaStream_t s = cuda::stream(ctx.dev.id);
  dispatch_f32_f64(in[1].dtype, kGradOp, [&](auto tag) {
    using T = decltype(tag);
    cuda::for_each(s, in[1].size(), ScaleGrad<T>{in[0].ptr<T>(), in[1].ptr<T>(), out[0].ptr<T>(),
                                                 gs[1], gs[2], ctx.req[0] == Req::kAdd});
  });
  cuda::finish(s);
}

const bool kRegistered = [] {
  OpRegistry::get().add(kOp).cuda(ctc);
  OpRegistry::get().add(kGradOp).cuda(ctc_grad);
  return true;
}();

}  // namespace gpu
}  // namespace ctc_ops
}  // namespace brass
