// BatchNorm (MXNet 1.x): inputs data, gamma, beta and the aux states moving_mean and
// moving_var (written in training); outputs out and the hidden mean and inverse standard
// deviation kept for the gradient op _backward_BatchNorm. Parameters and the geometry are in
// bn_params.h, shared with the CUDA kernels (cuda/nn_conv.cu).
//
// Semantics (MXNet's CPU operator): in training (autograd's training flag, not
// use_global_stats) the data is normalized with the batch mean and the biased batch variance,
// and the moving statistics are updated in the forward pass with that biased variance
// (MXNet's cuDNN path would use the unbiased one). The output 'var' holds the inverse standard
// deviation 1/sqrt(var + eps), as in MXNet ("output the mean and inverse std"); at inference
// mean and var are the moving mean and 1/sqrt(moving_var + eps). fix_gamma treats gamma as 1.
// The gradient follows the training flag of the backward pass, as in MXNet.
#include <cmath>
#include <vector>

#include "op/grad.h"
#include "op/nn/float32_compute.h"
#include "op/nn/bn_params.h"
#include "op/operator.h"

namespace brass {
namespace bn_ops {

bool bn_type(const NodeAttrs& a, std::vector<int>& in, std::vector<int>& out) {
  bool ok = infer::same_type(a, in, out);
  if (ok && !is_float(DType(out[0])))
    fail(BRASS_ERR_DTYPE, a.op->name, ": only floating-point data is supported, got ",
         dtype_name(DType(out[0])));
  return ok;
}

// Inputs data, gamma, beta, moving_mean, moving_var: the last four are (C,), filled from data.
bool bn_shape(const NodeAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
  if (!in[0].known()) return false;
  BNGeom g = bn_geom(attrs.param<BNParam>(), in[0], "BatchNorm");
  const char* names[] = {"gamma", "beta", "moving_mean", "moving_var"};
  for (int i = 1; i < 5; ++i) infer::assign_shape(in[i], Shape{g.c}, "BatchNorm", names[i - 1]);
  infer::assign_shape(out[0], in[0], "BatchNorm", "output");
  infer::assign_shape(out[1], Shape{g.c}, "BatchNorm", "mean");
  infer::assign_shape(out[2], Shape{g.c}, "BatchNorm", "var");
  return true;
}

// _backward_BatchNorm(out_grad, data, gamma, mean, invstd) -> d data, d gamma, d beta.
bool bwd_shape(const NodeAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
  const char* op = "_backward_BatchNorm";
  if (!in[1].known()) return false;
  BNGeom g = bn_geom(attrs.param<BNParam>(), in[1], op);
  const char* names[] = {"gamma", "mean", "var"};
  infer::assign_shape(in[0], in[1], op, "out_grad");
  for (int i = 2; i < 5; ++i) infer::assign_shape(in[i], Shape{g.c}, op, names[i - 2]);
  infer::assign_shape(out[0], in[1], op, "data gradient");
  infer::assign_shape(out[1], Shape{g.c}, op, "gamma gradient");
  infer::assign_shape(out[2], Shape{g.c}, op, "beta gradient");
  return true;
}

template <class T>
void put(T* p, int64_t i, T v, Req r) {
  if (r == Req::kAdd) p[i] += v;
  else if (r != Req::kNull) p[i] = v;
}

template <class T>
void bn_forward(const OpContext& ctx, const std::vector<TBlob>& in,
                const std::vector<TBlob>& out) {
  const auto& p = ctx.param<BNParam>();
  BNGeom g = bn_geom(p, in[0].shape, "BatchNorm");
  const T* x = in[0].ptr<T>();
  const T* gamma = in[1].ptr<T>();
  const T* beta = in[2].ptr<T>();
  T* mm = in[3].ptr<T>();
  T* mv = in[4].ptr<T>();
  T* y = out[0].ptr<T>();
  T* mean_out = out[1].ptr<T>();
  T* var_out = out[2].ptr<T>();
  bool batch_stats = ctx.is_train && !p.use_global_stats;
  for (int64_t c = 0; c < g.c; ++c) {
    T mean, invstd;
    if (batch_stats) {
      T s = 0;
      for (int64_t k = 0; k < g.m; ++k) s += x[bn_index(g, c, k)];
      mean = g.m ? s / T(g.m) : T(0);
      T v = 0;
      for (int64_t k = 0; k < g.m; ++k) {
        T d = x[bn_index(g, c, k)] - mean;
        v += d * d;
      }
      T var = g.m ? v / T(g.m) : T(0);
      invstd = var == 0 && p.eps == 0 ? T(0) : T(1) / std::sqrt(var + T(p.eps));
      mm[c] = mm[c] * T(p.momentum) + mean * T(1 - p.momentum);
      mv[c] = mv[c] * T(p.momentum) + var * T(1 - p.momentum);
    } else {
      mean = mm[c];
      invstd = T(1) / std::sqrt(mv[c] + T(p.eps));
    }
    put(mean_out, c, mean, ctx.req[1]);
    put(var_out, c, invstd, ctx.req[2]);
    T scale = (p.fix_gamma ? T(1) : gamma[c]) * invstd, shift = beta[c];
    for (int64_t k = 0; k < g.m; ++k) {
      int64_t i = bn_index(g, c, k);
      put(y, i, (x[i] - mean) * scale + shift, ctx.req[0]);
    }
  }
}

// Training: dx = (dy - mean(dy) - xhat * mean(dy * xhat)) * gamma * invstd with
// xhat = (x - mean) * invstd; inference (or use_global_stats): dx = dy * gamma * invstd.
// dgamma = sum(dy * xhat) (0 with fix_gamma), dbeta = sum(dy).
template <class T>
void bn_backward(const OpContext& ctx, const std::vector<TBlob>& in,
                 const std::vector<TBlob>& out) {
  const auto& p = ctx.param<BNParam>();
  BNGeom g = bn_geom(p, in[1].shape, "_backward_BatchNorm");
  const T* dy = in[0].ptr<T>();
  const T* x = in[1].ptr<T>();
  const T* gamma = in[2].ptr<T>();
  const T* mean = in[3].ptr<T>();
  const T* invstd = in[4].ptr<T>();
  T* dx = out[0].ptr<T>();
  bool batch_stats = ctx.is_train && !p.use_global_stats;
  for (int64_t c = 0; c < g.c; ++c) {
    T sg = 0, sgx = 0;
    for (int64_t k = 0; k < g.m; ++k) {
      int64_t i = bn_index(g, c, k);
      sg += dy[i];
      sgx += dy[i] * (x[i] - mean[c]);
    }
    T is = invstd[c], w = p.fix_gamma ? T(1) : gamma[c];
    if (ctx.req[0] != Req::kNull) {
      for (int64_t k = 0; k < g.m; ++k) {
        int64_t i = bn_index(g, c, k);
        T xc = x[i] - mean[c];
        T v = batch_stats ? (dy[i] - sg / T(g.m) - xc * sgx * is * is / T(g.m)) * w * is
                          : dy[i] * w * is;
        put(dx, i, v, ctx.req[0]);
      }
    }
    put(out[1].ptr<T>(), c, p.fix_gamma ? T(0) : sgx * is, ctx.req[1]);
    put(out[2].ptr<T>(), c, sg, ctx.req[2]);
  }
}

void bn_forward_cpu(const OpContext& c, const std::vector<TBlob>& in,
                    const std::vector<TBlob>& out) {
  if (in[0].dtype == DType::kFloat32) bn_forward<float>(c, in, out);
  else bn_forward<double>(c, in, out);
}
void bn_backward_cpu(const OpContext& c, const std::vector<TBlob>& in,
                     const std::vector<TBlob>& out) {
  if (in[0].dtype == DType::kFloat32) bn_backward<float>(c, in, out);
  else bn_backward<double>(c, in, out);
}

const bool kRegistered = [] {
  OpRegistry::get().add("BatchNorm")
      .describe("Batch normalization over every axis but `axis` (the channel axis):\n\n"
                "    out = (data - mean) / sqrt(var + eps) * gamma + beta\n\n"
                "In training (autograd.record / train_mode, and not use_global_stats) mean and "
                "var are the batch statistics (biased variance) and the moving statistics are "
                "updated: moving = momentum * moving + (1 - momentum) * batch. Otherwise the "
                "moving statistics are used. With output_mean_var=True the mean and the inverse "
                "standard deviation 1/sqrt(var + eps) are output too.")
      .inputs({"data", "gamma", "beta", "moving_mean", "moving_var"})
      .set_num_outputs(3)
      .visible_outputs([](const NodeAttrs& a) {
        return a.param<BNParam>().output_mean_var ? 3 : 1;
      })
      .mutates({3, 4})
      .outputs_named({"output", "mean", "var"})
      .init_inputs({{3, "[\"zero\", {}]"}, {4, "[\"one\", {}]"}})
      .params<BNParam>()
      .shape_fn(bn_shape).type_fn(bn_type).partial_infer()
      .cpu(nn_dtype::cpu_small_floats(bn_forward_cpu))
      .grad([](const NodePtr& n, const grad::Entries& og) {
        // MXNet ignores the gradients of the mean and var outputs; the moving statistics are
        // aux states and get none.
        if (og[0].empty()) return grad::Entries(5);
        NodePtr b = grad::node(
            "_backward_BatchNorm",
            {og[0], grad::in(n, 0), grad::in(n, 1), grad::out(n, 1), grad::out(n, 2)},
            n->attrs->dict);
        return grad::Entries{grad::out(b, 0), grad::out(b, 1), grad::out(b, 2), NodeEntry(),
                             NodeEntry()};
      });
  // No gradient of its own: BatchNorm has no second derivative.
  OpRegistry::get().add("_backward_BatchNorm")
      .describe("The gradient of BatchNorm with respect to data, gamma and beta (inputs: "
                "out_grad, data, gamma, and BatchNorm's hidden mean and inverse-std outputs). "
                "Uses the batch-statistics formula when the backward pass runs in training "
                "mode and use_global_stats is off.")
      .inputs({"out_grad", "data", "gamma", "mean", "var"})
      .set_num_outputs(3)
      .params<BNParam>()
      .shape_fn(bwd_shape).type_fn(bn_type).partial_infer()
      .cpu(nn_dtype::cpu_small_floats(bn_backward_cpu));
  return true;
}();

}  // namespace bn_ops
}  // namespace brass
