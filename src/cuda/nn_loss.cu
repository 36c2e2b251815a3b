// CUDA kernels of the loss layers (src/op/nn/loss.cc): the regression outputs and their
// gradients, MakeLoss / make_loss, softmax_cross_entropy and their gradient ops, with the CPU
// kernels' element math (loss_params.h). Sums run in the CPU's order (one thread per row, then
// one thread over the rows), so both devices give the same losses.
#include "cuda/cuda_common.cuh"  // first: its pragmas cover the whole unit

#include <vector>

#include "op/nn/loss_params.h"
#include "op/nn/nn_dtype.h"
#include "op/operator.h"

namespace brass {
namespace loss_ops {
namespace gpu {

template <class T, class C>
__device__ __forceinline__ void put(T* y, int64_t i, C v, bool add) {
  y[i] = cuda::dev_convert<T>(add ? cuda::dev_convert<C>(y[i]) + v : v);
}

// mode 0: y = reg_forward(x); 1: y = scale * reg_backward(x (the output), label); 2: y = x;
// 3: y = scale (MakeLoss's gradient).
template <class T, class C>
struct Elem {
  const T *x, *label;
  T* y;
  int kind, mode;
  C scale;
  bool add;
  __device__ void operator()(int64_t i) const {
    C v = mode == 3 ? scale : cuda::dev_convert<C>(x[i]);
    if (mode == 0) v = reg_forward<C>(kind, v);
    else if (mode == 1) v = scale * reg_backward<C>(kind, v, cuda::dev_convert<C>(label[i]));
    put(y, i, v, add);
  }
};

template <class F>
void float_op(const std::vector<TBlob>& in, int input, const char* op, F&& f) {
  nn_dtype::dispatch_float(in[input].dtype, op, [&](auto tag) {
    using T = decltype(tag);
    f(T(), nn_dtype::Compute<T>());
    return 0;
  });
}

template <int K>
void regression(const OpContext& ctx, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  cudaStream_t s = cuda::stream(ctx.dev.id);
  float_op(in, 0, "regression output", [&](auto t, auto c) {
    using T = decltype(t);
    using C = decltype(c);
    cuda::for_each(s, in[0].size(), Elem<T, C>{in[0].ptr<T>(), nullptr, out[0].ptr<T>(), K, 0, C(0),
                                               ctx.req[0] == Req::kAdd});
  });
  cuda::finish(s);
}

template <int K>
void regression_grad(const OpContext& ctx, const std::vector<TBlob>& in,
                     const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  const Shape& l = in[0].shape;
  int64_t per = l.ndim() > 0 && l[0] > 0 ? l.size() / l[0] : 1;
  double scale = ctx.param<RegressionParam>().grad_scale / double(per > 0 ? per : 1);
  cudaStream_t s = cuda::stream(ctx.dev.id);
  float_op(in, 1, "regression output gradient", [&](auto t, auto c) {
    using T = decltype(t);
    using C = decltype(c);
    cuda::for_each(s, in[1].size(), Elem<T, C>{in[1].ptr<T>(), in[0].ptr<T>(), out[0].ptr<T>(), K, 1,
                                               C(scale), ctx.req[0] == Req::kAdd});
  });
  cuda::finish(s);
}

void identity(const OpContext& ctx, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull || ctx.req[0] == Req::kInplace) return;
  cudaStream_t s = cuda::stream(ctx.dev.id);
  float_op(in, 0, "MakeLoss", [&](auto t, auto c) {
    using T = decltype(t);
    using C = decltype(c);
    cuda::for_each(s, in[0].size(), Elem<T, C>{in[0].ptr<T>(), nullptr, out[0].ptr<T>(), 0, 2, C(0),
                                               ctx.req[0] == Req::kAdd});
  });
  cuda::finish(s);
}

// The number of elements above thresh, counted by one thread (deterministic).
template <class T>
struct CountAbove {
  const T* x;
  int64_t n;
  double thresh;
  int64_t* count;
  __device__ void operator()(int64_t) const {
    int64_t c = 0;
    for (int64_t i = 0; i < n; ++i) c += cuda::dev_convert<double>(x[i]) > thresh;
    *count = c;
  }
};

void make_loss_grad(const OpContext& ctx, const std::vector<TBlob>& in,
                    const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  const auto& p = ctx.param<MakeLossParam>();
  cudaStream_t s = cuda::stream(ctx.dev.id);
  float_op(in, 0, "_backward_MakeLoss", [&](auto t, auto c) {
    using T = decltype(t);
    using C = decltype(c);
    int64_t n = in[0].size();
    double v = p.grad_scale;
    if (p.normalization == "batch" && in[0].shape.ndim() > 0 && in[0].shape[0] > 0) {
      v /= double(in[0].shape[0]);
    } else if (p.normalization == "valid") {
      cuda::DeviceBuffer cnt(sizeof(int64_t), ctx.dev.id);
      cuda::for_each(s, 1, CountAbove<T>{in[0].ptr<T>(), n, p.valid_thresh, cnt.get<int64_t>()});
      int64_t host = 0;
      cuda::to_host(&host, cnt.get(), sizeof(int64_t), s);
      cuda::finish(s);
      v /= double(host > 1 ? host : 1);
    }
    cuda::for_each(s, n, Elem<T, C>{nullptr, nullptr, out[0].ptr<T>(), 0, 3, C(v),
                                    ctx.req[0] == Req::kAdd});
  });
  cuda::finish(s);
}

// ---- softmax_cross_entropy -----------------------------------------------------------------
template <class T, class C>
struct SceRows {
  const T* x;
  const void* label;
  DType lt;
  int64_t k;
  double* rows;
  __device__ void operator()(int64_t r) const {
    rows[r] = double(sce_row<C>(x + r * k, k, class_index(value_at(label, lt, r), k)));
  }
};

template <class T, class C>
struct SumRows {
  const double* rows;
  int64_t n;
  T* y;
  bool add;
  __device__ void operator()(int64_t) const {
    double s = 0;
    for (int64_t r = 0; r < n; ++r) s += rows[r];
    put(y, 0, C(s), add);
  }
};

template <class T, class C>
struct SceGrad {
  const T *og, *x;
  const void* label;
  DType lt;
  int64_t k;
  T* g;
  bool add;
  __device__ void operator()(int64_t r) const {
    sce_row_grad<C>(x + r * k, k, class_index(value_at(label, lt, r), k),
                    cuda::dev_convert<C>(og[0]), g + r * k, add);
  }
};

void sce(const OpContext& ctx, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  int64_t n = in[0].shape[0], k = in[0].shape[1];
  cudaStream_t s = cuda::stream(ctx.dev.id);
  cuda::DeviceBuffer rows(size_t(n > 0 ? n : 1) * sizeof(double), ctx.dev.id);
  float_op(in, 0, "softmax_cross_entropy", [&](auto t, auto c) {
    using T = decltype(t);
    using C = decltype(c);
    cuda::for_each(s, n, SceRows<T, C>{in[0].ptr<T>(), in[1].dptr, in[1].dtype, k, rows.get<double>()});
    cuda::for_each(s, 1, SumRows<T, C>{rows.get<double>(), n, out[0].ptr<T>(), ctx.req[0] == Req::kAdd});
  });
  cuda::finish(s);
}

void sce_grad(const OpContext& ctx, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  int64_t n = in[1].shape[0], k = in[1].shape[1];
  cudaStream_t s = cuda::stream(ctx.dev.id);
  float_op(in, 1, "_backward_softmax_cross_entropy", [&](auto t, auto c) {
    using T = decltype(t);
    using C = decltype(c);
    cuda::for_each(s, n, SceGrad<T, C>{in[0].ptr<T>(), in[1].ptr<T>(), in[2].dptr, in[2].dtype, k,
                                       out[0].ptr<T>(), ctx.req[0] == Req::kAdd});
  });
  cuda::finish(s);
}

const bool kRegistered = [] {
  OpRegistry::get().add("LinearRegressionOutput").cuda(regression<kLinear>);
  OpRegistry::get().add("LogisticRegressionOutput").cuda(regression<kLogistic>);
  OpRegistry::get().add("MAERegressionOutput").cuda(regression<kMae>);
  OpRegistry::get().add("_backward_linear_reg_out").cuda(regression_grad<kLinear>);
  OpRegistry::get().add("_backward_logistic_reg_out").cuda(regression_grad<kLogistic>);
  OpRegistry::get().add("_backward_mae_reg_out").cuda(regression_grad<kMae>);
  OpRegistry::get().add("MakeLoss").cuda(identity);
  OpRegistry::get().add("make_loss").cuda(identity);
  OpRegistry::get().add("_backward_MakeLoss").cuda(make_loss_grad);
  OpRegistry::get().add("softmax_cross_entropy").cuda(sce);
  OpRegistry::get().add("_backward_softmax_cross_entropy").cuda(sce_grad);
  return true;
}();

}  // namespace gpu
}  // namespace loss_ops
}  // namespace brass
