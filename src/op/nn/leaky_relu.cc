// LeakyReLU: MXNet's family of rectifiers with a negative-side slope (leaky_relu_params.h; CUDA
// kernels in cuda/nn_dense.cu). prelu takes the slope as an input gamma, (C,) for the channels
// on axis 1 or (1,) for all; rrelu draws a slope per element in training from the invocation's
// Philox stream and keeps it as a hidden output (the mask), which its gradient reads.
//
// Gradients are graphs of registered ops. prelu's uses two helper ops with kernels of their
// own: _prelu_slope(x, gamma), the slope each element sees (1 where x > 0, else its gamma),
// and _backward_prelu_gamma(h, x, gamma), the sum of h over each channel's elements with
// x <= 0 (gamma's shape). Each is the other's gradient, so second derivatives work.
#include <vector>

#include "engine/thread_pool.h"
#include "op/grad.h"
#include "op/nn/leaky_relu_params.h"
#include "op/nn/nn_dtype.h"
#include "op/operator.h"

namespace brass {
namespace leaky_ops {

namespace {

using grad::Entries;

#if BRASS_ALL_OPS || BRASS_OP_LeakyReLU
// Whether gamma's size suits prelu on this data: 1, or the channels (axis 1).
void check_gamma(const char* op, const Shape& data, const Shape& gamma) {
  int64_t g = gamma.size();
  if (g == 1 || (data.ndim() >= 2 && g == data[1])) return;
  fail(BRASS_ERR_SHAPE, op, ": gamma ", gamma.str(), " has ", g, " element(s); prelu on data ",
       data.str(), " needs 1 or one per channel (axis 1: ",
       data.ndim() >= 2 ? std::to_string(data[1]) : std::string("none"), ")");
}

bool leaky_shape(const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
  infer::assign_shape(in[0], out[0], "LeakyReLU", "data");
  infer::assign_shape(out[0], in[0], "LeakyReLU", "output");
  Kind k = kind_of(a.param<LeakyReLUParam>().act_type);
  if (k == kRrelu) infer::assign_shape(out[1], in[0], "LeakyReLU", "mask");
  if (k == kPrelu) {
    if (!in[1].ndim_known() && in[0].ndim_known() && in[0].ndim() >= 2 && in[0][1] >= 0)
      in[1] = Shape({in[0][1]});
    if (in[0].known() && in[1].known()) check_gamma("LeakyReLU", in[0], in[1]);
    return in[0].known() && in[1].known();
  }
  return in[0].known();
}

bool float_type(const NodeAttrs&, std::vector<int>& in, std::vector<int>& out) {
  return nn_dtype::same_float_type("LeakyReLU", in, out);
}

// Runs body(i0, i1) over [0, n) on the pool.
template <class F>
void over(int64_t n, F&& body) {
  thread_pool::parallel_for(n, 32768, body);
}

template <class T, class C>
void put(T* y, int64_t i, C v, bool add) {
  y[i] = convert<T>(add ? convert<C>(y[i]) + v : v);
}

void leaky_cpu(const OpContext& ctx, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
  const auto& p = ctx.param<LeakyReLUParam>();
  Kind k = kind_of(p.act_type);
  const TBlob& x = in[0];
  int64_t n = x.size();
  bool add = ctx.req[0] == Req::kAdd, want_y = ctx.req[0] != Req::kNull;
  nn_dtype::dispatch_float(x.dtype, "LeakyReLU", [&](auto tag) {
    using T = decltype(tag);
    using C = nn_dtype::Compute<T>;
    const T* xs = x.ptr<T>();
    T* ys = out[0].ptr<T>();
    if (k == kPrelu) {
      if (!want_y) return 0;
      ChannelView v = channel_view(x.shape, in[1].size());
      const T* g = in[1].ptr<T>();
      over(n, [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i)
          put(ys, i, leaky_map<C>(k, convert<C>(xs[i]), convert<C>(g[v.of(i)])), add);
      });
    } else if (k == kRrelu) {
      T* mask = ctx.req[1] == Req::kNull ? nullptr : out[1].ptr<T>();
      double lo = p.lower_bound, hi = p.upper_bound, mid = (lo + hi) / 2;
      bool train = ctx.is_train;
      over(n, [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) {
          C xv = convert<C>(xs[i]);
          C s = xv > C(0) ? C(1) : C(train ? rrelu_slope(ctx.rng, i, lo, hi) : mid);
          if (mask) mask[i] = convert<T>(s);
          if (want_y) put(ys, i, xv * s, add);
        }
      });
    } else {
      if (!want_y) return 0;
      C a = C(p.slope);
      over(n, [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) put(ys, i, leaky_map<C>(k, convert<C>(xs[i]), a), add);
      });
    }
    return 0;
  });
}

Entries leaky_grad(const NodePtr& n, const Entries& g) {
  const auto& p = n->attrs->param<LeakyReLUParam>();
  Kind k = kind_of(p.act_type);
  NodeEntry x = grad::in(n, 0), y = grad::out(n);
  NodeEntry pos = grad::scalar("_greater_scalar", x, 0);
  auto ones = [&] { return grad::apply("ones_like", {x}); };
  NodeEntry d;
  switch (k) {
    case kPrelu: {
      NodeEntry gamma = grad::in(n, 1);
      return {grad::mul(g[0], grad::apply("_prelu_slope", {x, gamma})),
              grad::apply("_backward_prelu_gamma", {grad::mul(g[0], x), x, gamma})};
    }
    case kRrelu:  // the mask holds each element's slope (1 where x > 0)
      return {grad::mul(g[0], grad::out(n, 1))};
    case kLeaky:  // 1 or slope
      d = grad::scalar("_plus_scalar", grad::scalar("_mul_scalar", pos, 1 - p.slope), p.slope);
      break;
    case kElu:  // 1, or slope*exp(x) = y + slope
      d = grad::apply("where", {pos, ones(), grad::scalar("_plus_scalar", y, p.slope)});
      break;
    case kSelu:  // lambda, or lambda*alpha*exp(x) = y + lambda*alpha
      d = grad::apply("where", {pos, grad::scalar("_mul_scalar", ones(), kSeluLambda),
                                grad::scalar("_plus_scalar", y, kSeluLambda * kSeluAlpha)});
      break;
    case kGelu: {  // Phi(x) + x phi(x)
      NodeEntry cdf = grad::scalar(
          "_mul_scalar",
          grad::scalar("_plus_scalar", grad::apply("erf", {grad::scalar("_mul_scalar", x, kSqrtHalf)}), 1),
          0.5);
      NodeEntry pdf = grad::scalar(
          "_mul_scalar", grad::apply("exp", {grad::scalar("_mul_scalar", grad::apply("square", {x}), -0.5)}),
          0.39894228040143267793994605993438);  // 1 / sqrt(2 pi)
      d = grad::add(cdf, grad::mul(x, pdf));
      break;
    }
  }
  return {grad::mul(g[0], d)};
}
#endif

#if BRASS_TRAINING
// ---- prelu's helper ops --------------------------------------------------------------------

bool slope_shape(const NodeAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) {
  check_gamma("_prelu_slope", in[0], in[1]);
  infer::assign_shape(out[0], in[0], "_prelu_slope", "output");
  return true;
}

void slope_cpu(const OpContext& ctx, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  bool add = ctx.req[0] == Req::kAdd;
  nn_dtype::dispatch_float(in[0].dtype, "_prelu_slope", [&](auto tag) {
    using T = decltype(tag);
    using C = nn_dtype::Compute<T>;
    const T *xs = in[0].ptr<T>(), *g = in[1].ptr<T>();
    T* ys = out[0].ptr<T>();
    ChannelView v = channel_view(in[0].shape, in[1].size());
    over(in[0].size(), [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i)
        put(ys, i, convert<C>(xs[i]) > C(0) ? C(1) : convert<C>(g[v.of(i)]), add);
    });
    return 0;
  });
}

bool gamma_sum_shape(const NodeAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) {
  if (in[0] != in[1])
    fail(BRASS_ERR_SHAPE, "_backward_prelu_gamma: the gradient ", in[0].str(), " and the data ",
         in[1].str(), " differ in shape");
  check_gamma("_backward_prelu_gamma", in[1], in[2]);
  infer::assign_shape(out[0], in[2], "_backward_prelu_gamma", "output");
  return true;
}

void gamma_sum_cpu(const OpContext& ctx, const std::vector<TBlob>& in,
                   const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  bool add = ctx.req[0] == Req::kAdd;
  nn_dtype::dispatch_float(in[0].dtype, "_backward_prelu_gamma", [&](auto tag) {
    using T = decltype(tag);
    const T *h = in[0].ptr<T>(), *xs = in[1].ptr<T>();
    T* gs = out[0].ptr<T>();
    ChannelView v = channel_view(in[1].shape, in[2].size());
    int64_t n = in[1].size(), per = v.c == 1 ? n : v.inner, stride = v.c * per;
    // Channel c owns the runs [c*per + b*stride, +per) for every b: summed in order, in double.
    thread_pool::parallel_for(v.c, 1, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        double s = 0;
        for (int64_t b = c * per; b < n; b += stride)
          for (int64_t i = b; i < b + per; ++i)
            if (!(double(xs[i]) > 0)) s += double(h[i]);
        put(gs, c, s, add);
      }
    });
    return 0;
  });
}
#endif  // BRASS_TRAINING

[[maybe_unused]] const bool kRegistered = [] {
#if BRASS_ALL_OPS || BRASS_OP_LeakyReLU
  OpRegistry::get().add("LeakyReLU")
      .describe("Rectifiers with a negative-side slope: leaky (x > 0 ? x : slope*x), prelu "
                "(the slope is the input gamma: one per channel on axis 1, or one for all), "
                "elu (x > 0 ? x : slope*(exp(x) - 1)), selu (1.0507*(x > 0 ? x : "
                "1.67326*(exp(x) - 1))), gelu (x*Phi(x), Phi the normal CDF) and rrelu (a "
                "random slope in [lower_bound, upper_bound] per element in training, their "
                "mean at inference).\n\n"
                "    LeakyReLU([-2, 3], act_type='leaky', slope=0.25) = [-0.5, 3]")
      .inputs({"data", "gamma"})
      .set_num_inputs([](const NodeAttrs& a) {
        return kind_of(a.param<LeakyReLUParam>().act_type) == kPrelu ? 2 : 1;
      })
      .set_num_outputs([](const NodeAttrs& a) {
        return kind_of(a.param<LeakyReLUParam>().act_type) == kRrelu ? 2 : 1;
      })
      .visible_outputs(1)
      .params<LeakyReLUParam>()
      .shape_fn(leaky_shape)
      .partial_infer()
      .type_fn(float_type)
      .inplace_pairs({{0, 0}})
      .add_req()
      .random()
      .cpu(leaky_cpu)
      .grad(leaky_grad);
#endif

#if BRASS_TRAINING
  OpRegistry::get().add("_prelu_slope")
      .describe("prelu's slope for each element of data: 1 where data > 0, else the element's "
                "gamma (one per channel on axis 1, or one for all).")
      .inputs({"data", "gamma"})
      .shape_fn(slope_shape)
      .type_fn(float_type)
      .add_req()
      .cpu(slope_cpu)
      .grad([](const NodePtr& n, const Entries& h) {
        return Entries{NodeEntry{}, grad::apply("_backward_prelu_gamma",
                                                {h[0], grad::in(n, 0), grad::in(n, 1)})};
      });

  OpRegistry::get().add("_backward_prelu_gamma")
      .describe("prelu's gamma gradient: the sum of grad over each channel's elements where "
                "data <= 0 (gamma's shape).")
      .inputs({"grad", "data", "gamma"})
      .shape_fn(gamma_sum_shape)
      .type_fn(float_type)
      .add_req()
      .cpu(gamma_sum_cpu)
      .grad([](const NodePtr& n, const Entries& q) {
        // Linear in grad: (data <= 0) * q broadcast = _prelu_slope(data, q) - (data > 0).
        NodeEntry x = grad::in(n, 1);
        return Entries{grad::sub(grad::apply("_prelu_slope", {x, q[0]}),
                                 grad::scalar("_greater_scalar", x, 0)),
                       NodeEntry{}, NodeEntry{}};
      });
#endif
  return true;
}();

}  // namespace

}  // namespace leaky_ops
}  // namespace brass
