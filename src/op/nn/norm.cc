// The normalization operators of MXNet 1.x: LayerNorm, InstanceNorm, GroupNorm (inputs data,
// gamma, beta; outputs out and the hidden per-row mean and std/var kept for the gradient),
// L2Normalization (hidden output: the norm) and LRN (hidden output: tmp_norm), each with a
// gradient op _backward_<Op>. Parameters, geometry and the row math are in norm_params.h,
// shared with the CUDA kernels (cuda/nn_norm.cu).
//
// Semantics (MXNet 1.9): the variance is the biased one; LayerNorm's and GroupNorm's std output
// is sqrt(var + eps), InstanceNorm's is the variance itself ("var"); their gradients ignore the
// gradients of the mean and std outputs, as MXNet's do. GroupNorm's gamma and beta are
// (num_groups,) in MXNet 1.x (one scale per group: what shape inference fills in); (C,) (one
// per channel, MXNet 2.0 and the paper) is accepted too when given. float16/bfloat16 data is
// computed in float32 and stored in its own type.
#include <algorithm>
#include <vector>

#include "engine/thread_pool.h"
#include "op/grad.h"
#include "op/nn/nn_dtype.h"
#include "op/nn/norm_params.h"
#include "op/operator.h"

namespace brass {
namespace norm_ops {

bool float_type(const NodeAttrs& a, std::vector<int>& in, std::vector<int>& out) {
  return nn_dtype::same_float_type(a.op->name.c_str(), in, out);
}

// ---- shape inference -----------------------------------------------------------------------
#if BRASS_ALL_OPS || BRASS_OP_LayerNorm || BRASS_OP_InstanceNorm || BRASS_OP_GroupNorm
// The forward ops: data, gamma, beta -> out, mean, stat. gamma and beta are filled in from the
// data shape.
void affine_shapes(const char* op, std::vector<Shape>& in, std::vector<Shape>& out,
                   const Shape& param, const Shape& stat, const char* stat_name = "std") {
  infer::assign_shape(in[1], param, op, "gamma");
  infer::assign_shape(in[2], param, op, "beta");
  infer::assign_shape(out[0], in[0], op, "output");
  infer::assign_shape(out[1], stat, op, "mean");
  infer::assign_shape(out[2], stat, op, stat_name);
}
#endif

// These need only the data's rank and the extents they use: a data shape with an unknown
// batch extent still gives gamma and beta.
#if BRASS_ALL_OPS || BRASS_OP_LayerNorm
bool layer_norm_shape(const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
  const char* op = "LayerNorm";
  const Shape& d = in[0];
  if (!d.ndim_known()) return false;
  if (d.ndim() < 1)
    fail(BRASS_ERR_SHAPE, op, ": data must have at least 1 dimension, got shape ", d);
  const auto& p = a.param<LayerNormParam>();
  affine_shapes(op, in, out, Shape{d[normalize_axis(p.axis, d.ndim(), op)]},
                layer_norm_stat_shape(p, d, op));
  return d.known();
}
#endif

#if BRASS_ALL_OPS || BRASS_OP_InstanceNorm
bool instance_norm_shape(const NodeAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) {
  const char* op = "InstanceNorm";
  const Shape& d = in[0];
  if (!d.ndim_known()) return false;
  check_nc(d, op);
  affine_shapes(op, in, out, Shape{d[1]}, Shape{d[0], d[1]}, "var");
  return d.known();
}
#endif

#if BRASS_ALL_OPS || BRASS_OP_GroupNorm
// GroupNorm's gamma/beta shape: (C,) when given so (and C != num_groups), else (num_groups,).
Shape group_param_shape(const GroupNormParam& p, const Shape& data, const Shape& gamma,
                        const Shape& beta, const char* op) {
  Shape per_group{int64_t(p.num_groups)}, per_channel{data[1]};
  for (const Shape* s : {&gamma, &beta})
    if (s->known() && *s != per_group && *s != per_channel)
      fail(BRASS_ERR_SHAPE, op, ": gamma and beta must be ", per_group, " (one per group) or ",
           per_channel, " (one per channel) for data ", data, " and num_groups=", p.num_groups,
           ", got ", *s);
  for (const Shape* s : {&gamma, &beta})
    if (s->known() && *s == per_channel) return per_channel;
  return per_group;
}

bool group_norm_shape(const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
  const char* op = "GroupNorm";
  const Shape& d = in[0];
  if (!d.ndim_known() || (d.ndim() >= 2 && d[1] < 0)) return false;  // needs C
  const auto& p = a.param<GroupNormParam>();
  check_groups(p, d, op);
  affine_shapes(op, in, out, group_param_shape(p, d, in[1], in[2], op),
                Shape{d[0], int64_t(p.num_groups)});
  return d.known();
}
#endif

#if BRASS_TRAINING
// The gradient ops: out_grad, data, gamma, mean, stat -> d data, d gamma, d beta.
void affine_grad_shapes(const char* op, std::vector<Shape>& in, std::vector<Shape>& out,
                        const Shape& param, const Shape& stat, const char* stat_name = "std") {
  infer::assign_shape(in[0], in[1], op, "out_grad");
  infer::assign_shape(in[2], param, op, "gamma");
  infer::assign_shape(in[3], stat, op, "mean");
  infer::assign_shape(in[4], stat, op, stat_name);
  infer::assign_shape(out[0], in[1], op, "data gradient");
  infer::assign_shape(out[1], param, op, "gamma gradient");
  infer::assign_shape(out[2], param, op, "beta gradient");
}

bool layer_norm_grad_shape(const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
  const char* op = "_backward_LayerNorm";
  if (!in[1].known()) return false;
  const auto& p = a.param<LayerNormParam>();
  RowGeom g = layer_norm_geom(p, in[1], op);
  affine_grad_shapes(op, in, out, Shape{g.gsize}, layer_norm_stat_shape(p, in[1], op));
  return true;
}

bool instance_norm_grad_shape(const NodeAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) {
  const char* op = "_backward_InstanceNorm";
  if (!in[1].known()) return false;
  RowGeom g = instance_norm_geom(in[1], op);
  affine_grad_shapes(op, in, out, Shape{g.gsize}, Shape{in[1][0], in[1][1]}, "var");
  return true;
}

bool group_norm_grad_shape(const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
  const char* op = "_backward_GroupNorm";
  if (!in[1].known()) return false;
  const auto& p = a.param<GroupNormParam>();
  check_groups(p, in[1], op);
  affine_grad_shapes(op, in, out, group_param_shape(p, in[1], in[2], out[1], op),
                     Shape{in[1][0], int64_t(p.num_groups)});
  return true;
}
#endif  // BRASS_TRAINING

#if BRASS_ALL_OPS || BRASS_OP_L2Normalization
bool l2_shape(const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
  const char* op = "L2Normalization";
  if (!in[0].known()) return false;
  const auto& p = a.param<L2NormParam>();
  l2_geom(p, in[0], op);
  infer::assign_shape(out[0], in[0], op, "output");
  infer::assign_shape(out[1], l2_norm_shape(p, in[0]), op, "norm");
  return true;
}
#endif

#if BRASS_TRAINING
// _backward_L2Normalization: out_grad, output, norm -> d data.
bool l2_grad_shape(const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
  const char* op = "_backward_L2Normalization";
  if (!in[1].known()) return false;
  const auto& p = a.param<L2NormParam>();
  l2_geom(p, in[1], op);
  infer::assign_shape(in[0], in[1], op, "out_grad");
  infer::assign_shape(in[2], l2_norm_shape(p, in[1]), op, "norm");
  infer::assign_shape(out[0], in[1], op, "data gradient");
  return true;
}
#endif

#if BRASS_ALL_OPS || BRASS_OP_LRN
bool lrn_shape(const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
  const char* op = "LRN";
  if (!in[0].known()) return false;
  lrn_geom(a.param<LRNParam>(), in[0], op);
  infer::assign_shape(out[0], in[0], op, "output");
  infer::assign_shape(out[1], in[0], op, "tmp_norm");
  return true;
}
#endif

#if BRASS_TRAINING
// _backward_LRN: out_grad, data, tmp_norm -> d data.
bool lrn_grad_shape(const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
  const char* op = "_backward_LRN";
  if (!in[1].known()) return false;
  lrn_geom(a.param<LRNParam>(), in[1], op);
  infer::assign_shape(in[0], in[1], op, "out_grad");
  infer::assign_shape(in[2], in[1], op, "tmp_norm");
  infer::assign_shape(out[0], in[1], op, "data gradient");
  return true;
}
#endif

// ---- CPU kernels ---------------------------------------------------------------------------
// Rows in parallel blocks of about 32k elements; each row's sums run in order, so the result
// does not depend on the thread count.
template <class F>
void for_rows(int64_t rows, int64_t len, F&& f) {
  int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(len, 1));
  thread_pool::parallel_for(rows, grain, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) f(r);
  });
}

#if BRASS_ALL_OPS || BRASS_OP_LayerNorm || BRASS_OP_InstanceNorm || BRASS_OP_GroupNorm
void affine_forward_cpu(const OpContext& ctx, const std::vector<TBlob>& in,
                        const std::vector<TBlob>& out) {
  const char* op = ctx.attrs->op->name.c_str();
  RowGeom g = affine_geom(ctx, in[0], in[1], op);
  double eps = affine_eps(ctx);
  bool is_var = stat_is_var(ctx);
  nn_dtype::dispatch_float(in[0].dtype, op, [&](auto tag) {
    using T = decltype(tag);
    using A = nn_dtype::Compute<T>;
    for_rows(g.rows, g.len, [&](int64_t r) {
      affine_norm_row<A>(g, r, in[0].ptr<T>(), in[1].ptr<T>(), in[2].ptr<T>(), out[0].ptr<T>(),
                         out[1].ptr<T>(), out[2].ptr<T>(), A(eps), is_var, int(ctx.req[0]),
                         int(ctx.req[1]), int(ctx.req[2]));
    });
    return 0;
  });
}
#endif

#if BRASS_TRAINING
void affine_backward_cpu(const OpContext& ctx, const std::vector<TBlob>& in,
                         const std::vector<TBlob>& out) {
  const char* op = ctx.attrs->op->name.c_str();
  RowGeom g = affine_geom(ctx, in[1], in[2], op);
  double eps = affine_eps(ctx);
  bool is_var = stat_is_var(ctx);
  nn_dtype::dispatch_float(in[0].dtype, op, [&](auto tag) {
    using T = decltype(tag);
    using A = nn_dtype::Compute<T>;
    const T* dy = in[0].ptr<T>();
    const T* x = in[1].ptr<T>();
    if (ctx.req[0] != Req::kNull)
      for_rows(g.rows, g.len, [&](int64_t r) {
        affine_norm_grad_row<A>(g, r, dy, x, in[2].ptr<T>(), in[3].ptr<T>(), in[4].ptr<T>(),
                                out[0].ptr<T>(), A(eps), is_var, int(ctx.req[0]));
      });
    if (ctx.req[1] != Req::kNull || ctx.req[2] != Req::kNull)
      for_rows(g.gsize, g.rows * g.kdiv / std::max<int64_t>(g.rmod, 1), [&](int64_t j) {
        affine_norm_param_grad<A>(g, j, dy, x, in[3].ptr<T>(), in[4].ptr<T>(), out[1].ptr<T>(),
                                  out[2].ptr<T>(), A(eps), is_var, int(ctx.req[1]),
                                  int(ctx.req[2]));
      });
    return 0;
  });
}
#endif

#if BRASS_ALL_OPS || BRASS_OP_L2Normalization
void l2_forward_cpu(const OpContext& ctx, const std::vector<TBlob>& in,
                    const std::vector<TBlob>& out) {
  const auto& p = ctx.param<L2NormParam>();
  RowGeom g = l2_geom(p, in[0].shape, "L2Normalization");
  nn_dtype::dispatch_float(in[0].dtype, "L2Normalization", [&](auto tag) {
    using T = decltype(tag);
    using A = nn_dtype::Compute<T>;
    for_rows(g.rows, g.len, [&](int64_t r) {
      l2_row<A>(g, r, in[0].ptr<T>(), out[0].ptr<T>(), out[1].ptr<T>(), A(p.eps),
                int(ctx.req[0]), int(ctx.req[1]));
    });
    return 0;
  });
}
#endif

#if BRASS_TRAINING
void l2_backward_cpu(const OpContext& ctx, const std::vector<TBlob>& in,
                     const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  const char* op = "_backward_L2Normalization";
  RowGeom g = l2_geom(ctx.param<L2NormParam>(), in[1].shape, op);
  nn_dtype::dispatch_float(in[0].dtype, op, [&](auto tag) {
    using T = decltype(tag);
    using A = nn_dtype::Compute<T>;
    for_rows(g.rows, g.len, [&](int64_t r) {
      l2_grad_row<A>(g, r, in[0].ptr<T>(), in[1].ptr<T>(), in[2].ptr<T>(), out[0].ptr<T>(),
                     int(ctx.req[0]));
    });
    return 0;
  });
}
#endif

#if BRASS_ALL_OPS || BRASS_OP_LRN
void lrn_forward_cpu(const OpContext& ctx, const std::vector<TBlob>& in,
                     const std::vector<TBlob>& out) {
  const auto& p = ctx.param<LRNParam>();
  LRNGeom g = lrn_geom(p, in[0].shape, "LRN");
  nn_dtype::dispatch_float(in[0].dtype, "LRN", [&](auto tag) {
    using T = decltype(tag);
    using A = nn_dtype::Compute<T>;
    for_rows(in[0].size(), p.nsize, [&](int64_t i) {
      lrn_at<A>(g, i, in[0].ptr<T>(), out[0].ptr<T>(), out[1].ptr<T>(), A(p.alpha / p.nsize),
                A(p.knorm), A(p.beta), int(ctx.req[0]), int(ctx.req[1]));
    });
    return 0;
  });
}
#endif

#if BRASS_TRAINING
void lrn_backward_cpu(const OpContext& ctx, const std::vector<TBlob>& in,
                      const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  const auto& p = ctx.param<LRNParam>();
  LRNGeom g = lrn_geom(p, in[1].shape, "_backward_LRN");
  nn_dtype::dispatch_float(in[0].dtype, "_backward_LRN", [&](auto tag) {
    using T = decltype(tag);
    using A = nn_dtype::Compute<T>;
    for_rows(in[1].size(), p.nsize, [&](int64_t i) {
      lrn_grad_at<A>(g, i, in[0].ptr<T>(), in[1].ptr<T>(), in[2].ptr<T>(), out[0].ptr<T>(),
                     A(p.alpha / p.nsize), A(p.beta), int(ctx.req[0]));
    });
    return 0;
  });
}
#endif

#if BRASS_ALL_OPS || BRASS_OP_LayerNorm || BRASS_OP_InstanceNorm || BRASS_OP_GroupNorm
// ---- gradients -----------------------------------------------------------------------------
// The affine ops: _backward_<Op>(out_grad, data, gamma, mean, stat) -> d data, d gamma, d beta;
// the gradients of the mean and stat outputs are ignored (as MXNet).
GradFn affine_grad(const char* bwd) {
  return [bwd](const NodePtr& n, const grad::Entries& og) {
    if (og[0].empty()) return grad::Entries(3);
    NodePtr b = grad::node(bwd, {og[0], grad::in(n, 0), grad::in(n, 1), grad::out(n, 1),
                                 grad::out(n, 2)},
                           n->attrs->dict);
    return grad::Entries{grad::out(b, 0), grad::out(b, 1), grad::out(b, 2)};
  };
}
#endif

[[maybe_unused]] const bool kRegistered = [] {
#if BRASS_ALL_OPS || BRASS_OP_LayerNorm
  OpRegistry::get().add("LayerNorm")
      .describe("Layer normalization along `axis` (default the last):\n\n"
                "    out = (data - mean(data, axis)) / sqrt(var(data, axis) + eps) * gamma\n"
                "          + beta\n\n"
                "gamma and beta have the axis's length; var is the biased variance. With "
                "output_mean_var=True the mean and std = sqrt(var + eps) are output too, shaped "
                "like data with the axis reduced to 1 (they get no gradient).\n\n"
                "    LayerNorm([[1, 3]], gamma=[1, 1], beta=[0, 0], eps=0) = [[-1, 1]]")
      .inputs({"data", "gamma", "beta"})
      .set_num_outputs(3)
      .visible_outputs([](const NodeAttrs& a) {
        return a.param<LayerNormParam>().output_mean_var ? 3 : 1;
      })
      .outputs_named({"output", "mean", "std"})
      .params<LayerNormParam>()
      .shape_fn(layer_norm_shape).type_fn(float_type).partial_infer()
      .cpu(affine_forward_cpu)
      .grad(affine_grad("_backward_LayerNorm"));
#endif
#if BRASS_TRAINING
  OpRegistry::get().add("_backward_LayerNorm")
      .describe("The gradient of LayerNorm with respect to data, gamma and beta (inputs: "
                "out_grad, data, gamma, and LayerNorm's mean and std outputs). It has no "
                "gradient itself.")
      .inputs({"out_grad", "data", "gamma", "mean", "std"})
      .set_num_outputs(3)
      .params<LayerNormParam>()
      .shape_fn(layer_norm_grad_shape).type_fn(float_type).partial_infer()
      .cpu(affine_backward_cpu);
#endif

#if BRASS_ALL_OPS || BRASS_OP_InstanceNorm
  OpRegistry::get().add("InstanceNorm")
      .describe("Instance normalization of (N, C, ...) data: each (sample, channel) over the "
                "remaining axes:\n\n"
                "    out = (data - mean) / sqrt(var + eps) * gamma[c] + beta[c]\n\n"
                "gamma and beta are (C,); var is the biased variance. The hidden outputs mean "
                "and var are (N, C).\n\n"
                "    InstanceNorm([[[1, 3]]], gamma=[2], beta=[1], eps=0) = [[[-1, 3]]]")
      .inputs({"data", "gamma", "beta"})
      .set_num_outputs(3)
      .visible_outputs(1)
      .outputs_named({"output", "mean", "var"})
      .params<InstanceNormParam>()
      .shape_fn(instance_norm_shape).type_fn(float_type).partial_infer()
      .cpu(affine_forward_cpu)
      .grad(affine_grad("_backward_InstanceNorm"));
#endif
#if BRASS_TRAINING
  OpRegistry::get().add("_backward_InstanceNorm")
      .describe("The gradient of InstanceNorm with respect to data, gamma and beta (inputs: "
                "out_grad, data, gamma, and InstanceNorm's mean and var outputs). It has no "
                "gradient itself.")
      .inputs({"out_grad", "data", "gamma", "mean", "var"})
      .set_num_outputs(3)
      .params<InstanceNormParam>()
      .shape_fn(instance_norm_grad_shape).type_fn(float_type).partial_infer()
      .cpu(affine_backward_cpu);
#endif

#if BRASS_ALL_OPS || BRASS_OP_GroupNorm
  OpRegistry::get().add("GroupNorm")
      .describe("Group normalization of (N, C, ...) data: the channels are split into "
                "num_groups groups and each (sample, group) is normalized over its channels "
                "and the remaining axes:\n\n"
                "    out = (data - mean) / sqrt(var + eps) * gamma + beta\n\n"
                "gamma and beta are (num_groups,) as in MXNet 1.x (one scale per group), or "
                "(C,) (one per channel, as in MXNet 2.0) when given so. With "
                "output_mean_var=True the mean and std = sqrt(var + eps), (N, num_groups), are "
                "output too.\n\n"
                "    GroupNorm([[[1], [3]]], gamma=[1], beta=[0], eps=0) = [[[-1], [1]]]")
      .inputs({"data", "gamma", "beta"})
      .set_num_outputs(3)
      .visible_outputs([](const NodeAttrs& a) {
        return a.param<GroupNormParam>().output_mean_var ? 3 : 1;
      })
      .outputs_named({"output", "mean", "std"})
      .params<GroupNormParam>()
      .shape_fn(group_norm_shape).type_fn(float_type).partial_infer()
      .cpu(affine_forward_cpu)
      .grad(affine_grad("_backward_GroupNorm"));
#endif
#if BRASS_TRAINING
  OpRegistry::get().add("_backward_GroupNorm")
      .describe("The gradient of GroupNorm with respect to data, gamma and beta (inputs: "
                "out_grad, data, gamma, and GroupNorm's mean and std outputs). It has no "
                "gradient itself.")
      .inputs({"out_grad", "data", "gamma", "mean", "std"})
      .set_num_outputs(3)
      .params<GroupNormParam>()
      .shape_fn(group_norm_grad_shape).type_fn(float_type).partial_infer()
      .cpu(affine_backward_cpu);
#endif

#if BRASS_ALL_OPS || BRASS_OP_L2Normalization
  OpRegistry::get().add("L2Normalization")
      .describe("Divides the data by its L2 norm sqrt(sum(x^2) + eps): per sample (mode "
                "instance, over all axes but 0), per sample and position across axis 1 "
                "(channel), or per sample and channel over axes 2... (spatial). The hidden "
                "output norm is (N,), the data's shape with axis 1 set to 1, or (N, C).\n\n"
                "    L2Normalization([[3, 4]], eps=0) = [[0.6, 0.8]]")
      .inputs({"data"})
      .set_num_outputs(2)
      .visible_outputs(1)
      .outputs_named({"output", "norm"})
      .params<L2NormParam>()
      .shape_fn(l2_shape).type_fn(float_type).partial_infer()
      .cpu(l2_forward_cpu)
      .grad([](const NodePtr& n, const grad::Entries& og) {
        if (og[0].empty()) return grad::Entries(1);
        return grad::Entries{grad::apply("_backward_L2Normalization",
                                         {og[0], grad::out(n, 0), grad::out(n, 1)},
                                         n->attrs->dict)};
      });
#endif
#if BRASS_TRAINING
  OpRegistry::get().add("_backward_L2Normalization")
      .describe("The gradient of L2Normalization: (out_grad - output * sum(out_grad * "
                "output)) / norm over each normalized group (inputs: out_grad, output, norm). "
                "It has no gradient itself.")
      .inputs({"out_grad", "output", "norm"})
      .params<L2NormParam>()
      .shape_fn(l2_grad_shape).type_fn(float_type).partial_infer()
      .cpu(l2_backward_cpu);
#endif

#if BRASS_ALL_OPS || BRASS_OP_LRN
  OpRegistry::get().add("LRN")
      .describe("Local response normalization across channels of (N, C, H, W) data:\n\n"
                "    tmp_norm[n, c] = knorm + alpha / nsize * sum(data[n, c']^2 for c' in "
                "[c - nsize/2, c + nsize/2] within [0, C))\n"
                "    out = data * tmp_norm^-beta\n\n"
                "nsize must be odd. tmp_norm is a hidden output.\n\n"
                "    LRN([[[[1]], [[1]]]], nsize=3, alpha=3, beta=1, knorm=0)\n"
                "        = [[[[0.5]], [[0.5]]]]")
      .inputs({"data"})
      .set_num_outputs(2)
      .visible_outputs(1)
      .outputs_named({"output", "tmp_norm"})
      .params<LRNParam>()
      .shape_fn(lrn_shape).type_fn(float_type).partial_infer()
      .cpu(lrn_forward_cpu)
      .grad([](const NodePtr& n, const grad::Entries& og) {
        if (og[0].empty()) return grad::Entries(1);
        return grad::Entries{grad::apply("_backward_LRN",
                                         {og[0], grad::in(n, 0), grad::out(n, 1)},
                                         n->attrs->dict)};
      });
#endif
#if BRASS_TRAINING
  OpRegistry::get().add("_backward_LRN")
      .describe("The gradient of LRN (inputs: out_grad, data, and LRN's tmp_norm output). It "
                "has no gradient itself.")
      .inputs({"out_grad", "data", "tmp_norm"})
      .params<LRNParam>()
      .shape_fn(lrn_grad_shape).type_fn(float_type).partial_infer()
      .cpu(lrn_backward_cpu);
#endif
  return true;
}();

}  // namespace norm_ops
}  // namespace brass
