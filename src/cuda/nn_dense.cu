// CUDA kernels of the dense-layer operators (src/op/nn: FullyConnected, Activation, LeakyReLU,
// Dropout,
// softmax, log_softmax, SoftmaxOutput and their gradient ops), added to the ops registered
// there, with the same parameters and shape logic (the op/nn/*_params.h headers).
#include "cuda/cuda_common.cuh"  // first: its pragmas cover the whole unit

#include <optional>

#include "cuda/float32_compute.cuh"
#include "cuda/gemm.cuh"
#include "op/nn/activation_params.h"
#include "op/nn/dropout_params.h"
#include "op/nn/fully_connected_params.h"
#include "op/nn/leaky_relu_params.h"
#include "op/nn/nn_dtype.h"
#include "op/nn/softmax_params.h"
#include "op/operator.h"

namespace brass {
namespace nn_dense_gpu {

// ---- FullyConnected ----------------------------------------------------------------------
void fully_connected(const OpContext& ctx, const std::vector<TBlob>& in,
                     const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  const auto& p = ctx.param<fc_ops::FullyConnectedParam>();
  fc_ops::FcDims d = fc_ops::fc_dims(in[0].shape, p.flatten);
  int64_t h = p.num_hidden;
  cudaStream_t s = cuda::stream(ctx.dev.id);
  // out (m x h) = data (m x k) . weight^T, weight stored as (h x k); then the bias.
  dot_ops::gpu::gemm(s, "FullyConnected", in[0].dtype, false, true, 1, d.m, h, d.k, in[0].dptr,
                     d.k, 0, in[1].dptr, d.k, 0, out[0].dptr, 0, ctx.req[0] == Req::kAdd);
  if (!p.no_bias) {
    if (in[0].dtype == DType::kFloat32)
      cuda::for_each(s, d.m * h, nn_dtype::AddBias<float>{out[0].ptr<float>(), in[2].ptr<float>(), 1, h});
    else
      cuda::for_each(s, d.m * h, nn_dtype::AddBias<double>{out[0].ptr<double>(), in[2].ptr<double>(), 1, h});
  }
  cuda::finish(s);
}

// ---- Activation ----------------------------------------------------------------------------
// y = F(x) in F's compute type C (the functors of the element-wise unary ops, and Softrelu).
template <class F, class C>
__global__ void act_kernel(const void* x, void* y, DType t, int64_t n, bool add) {
  BRASS_CUDA_LOOP(i, n) {
    cuda::store<F, C>(y, i, t, F::template map<C>(cuda::load<F, C>(x, i, t)), add);
  }
}

void activation(const OpContext& ctx, const std::vector<TBlob>& in,
                const std::vector<TBlob>& out) {
  int64_t n = out[0].size();
  if (ctx.req[0] == Req::kNull || n == 0) return;
  cudaStream_t s = cuda::stream(ctx.dev.id);
  act_ops::with_activation(ctx.param<act_ops::ActivationParam>().act_type, [&](auto f) {
    using F = decltype(f);
    nn_dtype::dispatch_float(in[0].dtype, "Activation", [&](auto tag) {
      using C = typename F::template compute<decltype(tag)>::type;
      cuda::launch(act_kernel<F, C>, cuda::blocks_for(n), cuda::kThreads, s, in[0].dptr,
                   out[0].dptr, in[0].dtype, n, ctx.req[0] == Req::kAdd);
      return 0;
    });
  });
  cuda::finish(s);
}

// ---- LeakyReLU and prelu's helper ops (leaky_relu_params.h, as on the CPU) ----------------
template <class T, class C>
__device__ __forceinline__ void put(T* y, int64_t i, C v, bool add) {
  y[i] = cuda::dev_convert<T>(add ? cuda::dev_convert<C>(y[i]) + v : v);
}

// mode 0: y = act(x) with slope a; 1: prelu with gamma g; 2: rrelu (mask may be null); 3: the
// slope of prelu (_prelu_slope).
template <class T, class C>
struct LeakyApply {
  const T *x, *g;
  T *y, *mask;
  int kind, mode;
  C a;
  leaky_ops::ChannelView v;
  RandomStream rs;
  bool train, add;
  double lo, hi;
  __device__ void operator()(int64_t i) const {
    C xv = cuda::dev_convert<C>(x[i]);
    if (mode == 0) {
      put(y, i, leaky_ops::leaky_map<C>(kind, xv, a), add);
    } else if (mode == 1) {
      put(y, i, leaky_ops::leaky_map<C>(kind, xv, cuda::dev_convert<C>(g[v.of(i)])), add);
    } else if (mode == 3) {
      put(y, i, xv > C(0) ? C(1) : cuda::dev_convert<C>(g[v.of(i)]), add);
    } else {
      C s = xv > C(0) ? C(1) : C(train ? leaky_ops::rrelu_slope(rs, i, lo, hi) : (lo + hi) / 2);
      if (mask) mask[i] = cuda::dev_convert<T>(s);
      if (y) put(y, i, xv * s, add);
    }
  }
};

void leaky_relu(const OpContext& ctx, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
  const auto& p = ctx.param<leaky_ops::LeakyReLUParam>();
  int k = leaky_ops::kind_of(p.act_type);
  bool want_y = ctx.req[0] != Req::kNull;
  cudaStream_t s = cuda::stream(ctx.dev.id);
  nn_dtype::dispatch_float(in[0].dtype, "LeakyReLU", [&](auto tag) {
    using T = decltype(tag);
    using C = nn_dtype::Compute<T>;
    LeakyApply<T, C> f{in[0].ptr<T>(), nullptr, want_y ? out[0].ptr<T>() : nullptr, nullptr, k, 0,
                       C(p.slope), {}, ctx.rng, ctx.is_train, ctx.req[0] == Req::kAdd,
                       p.lower_bound, p.upper_bound};
    if (k == leaky_ops::kPrelu) {
      f.mode = 1;
      f.g = in[1].ptr<T>();
      f.v = leaky_ops::channel_view(in[0].shape, in[1].size());
    } else if (k == leaky_ops::kRrelu) {
      f.mode = 2;
      if (ctx.req[1] != Req::kNull) f.mask = out[1].ptr<T>();
    }
    if (want_y || f.mask) cuda::for_each(s, in[0].size(), f);
    return 0;
  });
  cuda::finish(s);
}

void prelu_slope(const OpContext& ctx, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  cudaStream_t s = cuda::stream(ctx.dev.id);
  nn_dtype::dispatch_float(in[0].dtype, "_prelu_slope", [&](auto tag) {
    using T = decltype(tag);
    using C = nn_dtype::Compute<T>;
    cuda::for_each(s, in[0].size(),
                   LeakyApply<T, C>{in[0].ptr<T>(), in[1].ptr<T>(), out[0].ptr<T>(), nullptr, 0, 3,
                                    C(0), leaky_ops::channel_view(in[0].shape, in[1].size()), {},
                                    false, ctx.req[0] == Req::kAdd, 0, 0});
    return 0;
  });
  cuda::finish(s);
}

// One thread per channel: the sum of h over the channel's elements with x <= 0, in order, in
// double (the CPU's order and precision).
template <class T>
struct GammaSum {
  const T *h, *x;
  T* out;
  int64_t n, per, stride;
  bool add;
  __device__ void operator()(int64_t c) const {
    double s = 0;
    for (int64_t b = c * per; b < n; b += stride)
      for (int64_t i = b; i < b + per; ++i)
        if (!(cuda::dev_convert<double>(x[i]) > 0)) s += cuda::dev_convert<double>(h[i]);
    put(out, c, s, add);
  }
};

void prelu_gamma_grad(const OpContext& ctx, const std::vector<TBlob>& in,
                      const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  cudaStream_t s = cuda::stream(ctx.dev.id);
  leaky_ops::ChannelView v = leaky_ops::channel_view(in[1].shape, in[2].size());
  int64_t n = in[1].size(), per = v.c == 1 ? n : v.inner;
  nn_dtype::dispatch_float(in[0].dtype, "_backward_prelu_gamma", [&](auto tag) {
    using T = decltype(tag);
    cuda::for_each(s, v.c, GammaSum<T>{in[0].ptr<T>(), in[1].ptr<T>(), out[0].ptr<T>(), n, per,
                                       v.c * per, ctx.req[0] == Req::kAdd});
    return 0;
  });
  cuda::finish(s);
}

// ---- Dropout -------------------------------------------------------------------------------
// One thread per Philox block of the mask (mask_block, dropout_params.h, as on the CPU).
template <class T>
struct DropoutMask {
  RandomStream rs;
  int64_t n;
  double keep;
  T scale, zero;
  T* mask;
  __device__ void operator()(int64_t b) const {
    dropout_ops::mask_block(rs, b, n, keep, scale, zero, mask);
  }
};

template <class T>
struct Fill {
  T* p;
  T v;
  __device__ void operator()(int64_t i) const { p[i] = v; }
};

// y = x * mask (broadcast along the shared axes), in the compute type C.
template <class T, class C>
struct DropoutApply {
  const T* x;
  const T* mask;
  T* y;
  dropout_ops::MaskView v;
  bool add;
  __device__ void operator()(int64_t i) const {
    C r = cuda::dev_convert<C>(x[i]) * cuda::dev_convert<C>(mask[dropout_ops::mask_index(v, i)]);
    y[i] = cuda::dev_convert<T>(add ? cuda::dev_convert<C>(y[i]) + r : r);
  }
};

void dropout(const OpContext& ctx, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
  const auto& p = ctx.param<dropout_ops::DropoutParam>();
  bool on = dropout_ops::active(p, ctx.is_train);
  dropout_ops::MaskView v = dropout_ops::mask_view(in[0].shape, out[1].shape);
  int64_t n = in[0].size(), nm = out[1].size();
  cudaStream_t s = cuda::stream(ctx.dev.id);
  nn_dtype::dispatch_float(in[0].dtype, "Dropout", [&](auto tag) {
    using T = decltype(tag);
    using C = nn_dtype::Compute<T>;
    // The mask goes to its output, or to scratch when that output is not wanted.
    bool own = ctx.req[1] == Req::kNull;
    std::optional<cuda::DeviceBuffer> scratch;
    if (own) scratch.emplace(size_t(nm) * sizeof(T), ctx.dev.id);
    T* mask = own ? scratch->get<T>() : out[1].ptr<T>();
    if (on) {
      double keep = 1.0 - p.p;
      T scale = convert<T>(keep > 0 ? 1.0 / keep : 0.0);
      cuda::for_each(s, (nm + 3) / 4,
                     DropoutMask<T>{ctx.rng, nm, keep, scale, convert<T>(0.0), mask});
    } else {
      cuda::for_each(s, nm, Fill<T>{mask, convert<T>(1.0)});
    }
    if (ctx.req[0] != Req::kNull)
      cuda::for_each(s, n, DropoutApply<T, C>{in[0].ptr<T>(), mask, out[0].ptr<T>(), v,
                                              ctx.req[0] == Req::kAdd});
    cuda::finish(s);  // before the scratch goes
    return 0;
  });
}

// ---- softmax, log_softmax, SoftmaxOutput --------------------------------------------------
// One thread per row (softmax_params.h): the row's loops run in the thread, so no shared
// memory or cross-thread reduction is needed. (A row-per-block version would be faster for
// long rows.)
BRASS_XINLINE int64_t row_offset(const softmax_ops::Rows& r, int64_t row) {
  return (row / r.inner) * r.len * r.inner + row % r.inner;
}

template <class A, class TI, class TO>
struct SoftmaxRows {
  const TI* x;
  TO* y;
  softmax_ops::Rows r;
  A t;
  bool log, add;
  softmax_ops::Lengths length = {};  // with use_length
  __device__ void operator()(int64_t row) const {
    int64_t off = row_offset(r, row);
    int64_t valid = softmax_ops::row_length(length, row, r.len);
    softmax_ops::softmax_row<A>(x + off, y + off, valid, r.inner, t, log, add);
    softmax_ops::zero_tail<A>(y + off, valid, r.len, r.inner, add);
  }
};

template <class A, class T>
struct SoftmaxGradRows {
  const T* g;
  const T* y;
  T* dx;
  softmax_ops::Rows r;
  A t;
  bool log, add;
  softmax_ops::Lengths length;
  __device__ void operator()(int64_t row) const {
    int64_t off = row_offset(r, row);
    int64_t valid = softmax_ops::row_length(length, row, r.len);
    softmax_ops::softmax_grad_row<A>(g + off, y + off, dx + off, valid, r.inner, t, log, add);
    softmax_ops::zero_tail<A>(dx + off, valid, r.len, r.inner, add);
  }
};

template <bool kLog>
void softmax(const OpContext& ctx, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  const auto& p = ctx.param<softmax_ops::SoftmaxParam>();
  const char* op = ctx.attrs->op->name.c_str();
  softmax_ops::Rows r = softmax_ops::rows_along(in[0].shape, p.axis, op);
  double t = softmax_ops::op_temperature(*ctx.attrs);
  cudaStream_t s = cuda::stream(ctx.dev.id);
  nn_dtype::dispatch_float2(in[0].dtype, out[0].dtype, op, [&](auto ti, auto to, auto ac) {
    using TI = decltype(ti);
    using TO = decltype(to);
    using A = decltype(ac);
    cuda::for_each(s, r.count(), SoftmaxRows<A, TI, TO>{
                                     in[0].ptr<TI>(), out[0].ptr<TO>(), r, A(t), kLog,
                                     ctx.req[0] == Req::kAdd,
                                     softmax_ops::lengths_of(p.use_length ? &in[1] : nullptr, op)});
  });
  cuda::finish(s);
}

template <bool kLog>
void softmax_grad(const OpContext& ctx, const std::vector<TBlob>& in,
                  const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  const auto& p = ctx.param<softmax_ops::SoftmaxParam>();
  const char* op = ctx.attrs->op->name.c_str();
  softmax_ops::Rows r = softmax_ops::rows_along(in[0].shape, p.axis, op);
  double t = softmax_ops::temperature(p);
  cudaStream_t s = cuda::stream(ctx.dev.id);
  nn_dtype::dispatch_float(in[0].dtype, op, [&](auto tag) {
    using T = decltype(tag);
    using A = nn_dtype::Compute<T>;
    cuda::for_each(s, r.count(), SoftmaxGradRows<A, T>{
                                     in[0].ptr<T>(), in[1].ptr<T>(), out[0].ptr<T>(), r, A(t), kLog,
                                     ctx.req[0] == Req::kAdd,
                                     softmax_ops::lengths_of(p.use_length ? &in[2] : nullptr, op)});
    return 0;
  });
  cuda::finish(s);
}

void softmax_activation(const OpContext& ctx, const std::vector<TBlob>& in,
                        const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  softmax_ops::Rows r = softmax_ops::activation_rows(
      in[0].shape, ctx.param<softmax_ops::SoftmaxActivationParam>().mode);
  cudaStream_t s = cuda::stream(ctx.dev.id);
  nn_dtype::dispatch_float(in[0].dtype, "SoftmaxActivation", [&](auto tag) {
    using T = decltype(tag);
    using A = nn_dtype::Compute<T>;
    cuda::for_each(s, r.count(), SoftmaxRows<A, T, T>{in[0].ptr<T>(), out[0].ptr<T>(), r, A(1),
                                                      false, ctx.req[0] == Req::kAdd});
    return 0;
  });
  cuda::finish(s);
}

void softmax_output(const OpContext& ctx, const std::vector<TBlob>& in,
                    const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  softmax_ops::Rows r =
      softmax_ops::output_rows(in[0].shape, ctx.param<softmax_ops::SoftmaxOutputParam>());
  cudaStream_t s = cuda::stream(ctx.dev.id);
  nn_dtype::dispatch_float(in[0].dtype, "SoftmaxOutput", [&](auto tag) {
    using T = decltype(tag);
    using A = nn_dtype::Compute<T>;
    cuda::for_each(s, r.count(), SoftmaxRows<A, T, T>{in[0].ptr<T>(), out[0].ptr<T>(), r, A(1),
                                                      false, ctx.req[0] == Req::kAdd});
    return 0;
  });
  cuda::finish(s);
}

// The number of labels that are not `ignore` (normalization='valid'), by one thread: a
// serial pass (no atomics or shared memory); the labels are few next to the data.
template <class L>
struct CountValid {
  const L* lab;
  int64_t n;
  int ignore;
  int64_t* count;
  __device__ void operator()(int64_t) const {
    int64_t c = 0;
    for (int64_t i = 0; i < n; ++i) c += int(cuda::dev_convert<double>(lab[i])) != ignore;
    *count = c;
  }
};

template <class A, class T, class L>
struct OutputGradRows {
  const T* og;
  const T* y;
  const L* lab;
  T* dx;
  softmax_ops::Rows r;
  softmax_ops::OutputGrad q;
  bool add;
  __device__ void operator()(int64_t row) const {
    int64_t off = row_offset(r, row);
    double l = q.prob ? 0.0 : cuda::dev_convert<double>(lab[row]);
    softmax_ops::output_grad_row<A>(og + off, y + off, q.prob ? lab + off : lab, l, dx + off,
                                    r.len, r.inner, q, add);
  }
};

void softmax_output_grad(const OpContext& ctx, const std::vector<TBlob>& in,
                         const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  const auto& p = ctx.param<softmax_ops::SoftmaxOutputParam>();
  const TBlob &og = in[0], &y = in[1], &label = in[2];
  softmax_ops::Rows r = softmax_ops::output_rows(y.shape, p);
  cudaStream_t s = cuda::stream(ctx.dev.id);
  dispatch_dtype(label.dtype, [&](auto ltag) {
    using L = decltype(ltag);
    int64_t valid = 0;
    if (p.normalization == "valid" && label.size() > 0) {
      cuda::DeviceBuffer count(sizeof(int64_t), ctx.dev.id);
      cuda::for_each(s, 1, CountValid<L>{label.ptr<L>(), label.size(), int(p.ignore_label),
                                         count.get<int64_t>()});
      cuda::to_host(&valid, count.get(), sizeof valid, s);
      cuda::finish(s);
    }
    softmax_ops::OutputGrad q = softmax_ops::output_grad_plan(p, y.shape, label.shape, valid);
    return nn_dtype::dispatch_float(y.dtype, "SoftmaxOutput", [&](auto tag) {
      using T = decltype(tag);
      using A = nn_dtype::Compute<T>;
      cuda::for_each(s, r.count(), OutputGradRows<A, T, L>{og.ptr<T>(), y.ptr<T>(), label.ptr<L>(),
                                                           out[0].ptr<T>(), r, q,
                                                           ctx.req[0] == Req::kAdd});
      return 0;
    });
  });
  cuda::finish(s);
}

const bool kRegistered = [] {
  OpRegistry::get().add("FullyConnected").cuda(nn_dtype::gpu::small_floats(fully_connected));
  OpRegistry::get().add("Activation").cuda(activation);
  OpRegistry::get().add("Dropout").cuda(dropout);
  OpRegistry::get().add("LeakyReLU").cuda(leaky_relu);
  OpRegistry::get().add("_prelu_slope").cuda(prelu_slope);
  OpRegistry::get().add("_backward_prelu_gamma").cuda(prelu_gamma_grad);
  OpRegistry::get().add("softmax").cuda(softmax<false>);
  OpRegistry::get().add("log_softmax").cuda(softmax<true>);
  OpRegistry::get().add("softmin").cuda(softmax<false>);
  OpRegistry::get().add("_backward_softmax").cuda(softmax_grad<false>);
  OpRegistry::get().add("_backward_log_softmax").cuda(softmax_grad<true>);
  OpRegistry::get().add("SoftmaxOutput").cuda(softmax_output);
  OpRegistry::get().add("SoftmaxActivation").cuda(softmax_activation);
  OpRegistry::get().add("_backward_SoftmaxOutput").cuda(softmax_output_grad);
  return true;
}();

}  // namespace nn_dense_gpu
}  // namespace brass
