// softmax and log_softmax along an axis (MXNet's 1.x ops: axis=-1, temperature, output
// dtype), and SoftmaxOutput, the legacy loss layer whose gradient is softmax - onehot(label)
// (not the derivative of its forward). Numerically stable: each row's maximum is subtracted
// first. The row math is in softmax_params.h, shared with the CUDA kernels (cuda/nn_dense.cu).
//
// Gradients: softmax/log_softmax -> _backward_softmax/_backward_log_softmax (kernels of their
// own, and gradients as graphs of registered ops, so second derivatives work);
// SoftmaxOutput -> _backward_SoftmaxOutput (no gradient of its own).
#include <string>
#include <vector>

#include "engine/thread_pool.h"
#include "op/grad.h"
#include "op/nn/nn_dtype.h"
#include "op/nn/softmax_params.h"
#include "op/operator.h"

namespace brass {
namespace softmax_ops {

// ---- softmax, log_softmax ------------------------------------------------------------------
#if BRASS_ALL_OPS || BRASS_OP_softmax || BRASS_OP_log_softmax || BRASS_OP_softmin
void check_params(const SoftmaxParam& p, const char* op) {
  if (p.temperature && *p.temperature == 0)
    fail(BRASS_ERR_INVALID_ARGUMENT, op, ": temperature must not be 0");
}



// The length input's shape: the data's without the axis.
Shape length_shape(const Shape& data, int axis, const char* op) {
  int a = normalize_axis(axis, data.ndim(), op);
  Shape l(0);
  for (int i = 0; i < data.ndim(); ++i)
    if (i != a) l.push_back(data[i]);
  return l;
}

bool softmax_shape(const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
  const char* op = a.op->name.c_str();
  const auto& p = a.param<SoftmaxParam>();
  check_params(p, op);
  infer::assign_shape(in[0], out[0], op, "data");
  infer::assign_shape(out[0], in[0], op, "output");
  if (in[0].ndim_known() && in[0].ndim() > 0) normalize_axis(p.axis, in[0].ndim(), op);
  if (p.use_length) {
    if (in[0].ndim_known() && in[0].ndim() == 0)
      fail(BRASS_ERR_SHAPE, op, ": use_length needs data with at least one axis");
    if (in[0].known()) infer::assign_shape(in[1], length_shape(in[0], p.axis, op), op, "length");
    return in[0].known() && in[1].known();
  }
  return in[0].known();
}

bool softmax_type(const NodeAttrs& a, std::vector<int>& in, std::vector<int>& out) {
  const char* op = a.op->name.c_str();
  const auto& p = a.param<SoftmaxParam>();
  if (p.dtype && !is_float(*p.dtype))
    fail(BRASS_ERR_DTYPE, op, ": dtype must be a floating-point type, got ", dtype_name(*p.dtype));
  if (in[0] >= 0 && !is_float(DType(in[0])))
    fail(BRASS_ERR_DTYPE, op, ": only floating-point data is supported, got ",
         dtype_name(DType(in[0])));
  if (p.dtype) {
    infer::assign_type(out[0], int(*p.dtype), op, "output");
  } else {
    infer::assign_type(out[0], in[0], op, "output");
    infer::assign_type(in[0], out[0], op, "data");
  }
  if (p.use_length && in[1] < 0) in[1] = int(DType::kInt32);
  return in[0] >= 0 && out[0] >= 0;
}

template <bool kLog>
void softmax_cpu(const OpContext& ctx, const std::vector<TBlob>& in,
                 const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  const auto& p = ctx.param<SoftmaxParam>();
  const char* op = ctx.attrs->op->name.c_str();
  Rows r = rows_along(in[0].shape, p.axis, op);
  double t = op_temperature(*ctx.attrs);
  bool add = ctx.req[0] == Req::kAdd;
  nn_dtype::dispatch_float2(in[0].dtype, out[0].dtype, op, [&](auto ti, auto to, auto ac) {
    using TI = decltype(ti);
    using TO = decltype(to);
    using A = decltype(ac);
    const TI* x = in[0].ptr<TI>();
    TO* y = out[0].ptr<TO>();
    int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(r.len, 1));
    Lengths lens = lengths_of(p.use_length ? &in[1] : nullptr, op);
    thread_pool::parallel_for(r.count(), grain, [&](int64_t b, int64_t e) {
      for (int64_t row = b; row < e; ++row) {
        int64_t off = (row / r.inner) * r.len * r.inner + row % r.inner;
        int64_t valid = row_length(lens, row, r.len);
        softmax_row<A>(x + off, y + off, valid, r.inner, A(t), kLog, add);
        zero_tail<A>(y + off, valid, r.len, r.inner, add);
      }
    });
  });
}

template <bool kLog>
void softmax_grad_cpu(const OpContext& ctx, const std::vector<TBlob>& in,
                      const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  const auto& p = ctx.param<SoftmaxParam>();
  const char* op = ctx.attrs->op->name.c_str();
  Rows r = rows_along(in[0].shape, p.axis, op);
  double t = temperature(p);
  bool add = ctx.req[0] == Req::kAdd;
  nn_dtype::dispatch_float(in[0].dtype, op, [&](auto tag) {
    using T = decltype(tag);
    using A = nn_dtype::Compute<T>;
    const T* g = in[0].ptr<T>();
    const T* y = in[1].ptr<T>();
    T* dx = out[0].ptr<T>();
    int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(r.len, 1));
    Lengths lens = lengths_of(p.use_length ? &in[2] : nullptr, op);
    thread_pool::parallel_for(r.count(), grain, [&](int64_t b, int64_t e) {
      for (int64_t row = b; row < e; ++row) {
        int64_t off = (row / r.inner) * r.len * r.inner + row % r.inner;
        int64_t valid = row_length(lens, row, r.len);
        softmax_grad_row<A>(g + off, y + off, dx + off, valid, r.inner, A(t), kLog, add);
        zero_tail<A>(dx + off, valid, r.len, r.inner, add);
      }
    });
    return 0;
  });
}
#endif

#if BRASS_TRAINING
// The gradient ops' inputs (out_grad, output): same shapes and float dtypes.
bool grad_shape(const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
  const char* op = a.op->name.c_str();
  const auto& p = a.param<SoftmaxParam>();
  Shape s;
  for (auto* x : {&in[0], &in[1], &out[0]}) infer::assign_shape(s, *x, op, "inputs");
  for (auto* x : {&in[0], &in[1], &out[0]}) infer::assign_shape(*x, s, op, "inputs");
  if (s.ndim_known() && s.ndim() > 0) normalize_axis(p.axis, s.ndim(), op);
  if (p.use_length && s.known() && s.ndim() > 0)
    infer::assign_shape(in[2], length_shape(s, p.axis, op), op, "length");
  return s.known() && (!p.use_length || in[2].known());
}

bool grad_type(const NodeAttrs& a, std::vector<int>& in, std::vector<int>& out) {
  std::vector<int> f{in[0], in[1]};
  bool ok = nn_dtype::same_float_type(a.op->name.c_str(), f, out);
  in[0] = f[0];
  in[1] = f[1];
  if (a.param<SoftmaxParam>().use_length && in[2] < 0) in[2] = int(DType::kInt32);
  return ok;
}

// The parameters that the gradient ops take from the forward node (axis, temperature).
grad::Params row_params(const NodePtr& n) {
  grad::Params p;
  for (const auto& kv : n->attrs->dict)
    if (kv.first == "axis" || kv.first == "use_length") p.push_back(kv);
  p.emplace_back("temperature", grad::num(op_temperature(*n->attrs)));
  return p;
}

void register_softmax_gradients() {
  using grad::Entries;
  using E = NodeEntry;
  for (const char* fwd : {"softmax", "log_softmax", "softmin"}) {
    const char* bwd = std::string(fwd) == "log_softmax" ? "_backward_log_softmax" : "_backward_softmax";
    OpRegistry::get().add(fwd).grad([bwd](const NodePtr& n, const Entries& g) {
      bool len = n->attrs->param<SoftmaxParam>().use_length;
      E dx = len ? grad::apply(bwd, {g[0], grad::out(n), grad::in(n, 1)}, row_params(n))
                 : grad::apply(bwd, {g[0], grad::out(n)}, row_params(n));
      // With an output dtype of its own, the gradient goes back in the data's dtype.
      if (n->attrs->param<SoftmaxParam>().dtype) dx = grad::apply("_cast_like", {dx, grad::in(n, 0)});
      return len ? Entries{dx, E()} : Entries{dx};
    });
  }
  // The gradient ops are linear in g: with H the gradient flowing into dx, t the temperature,
  // S(v) = sum(v) along the axis (kept as extent 1, broadcast back):
  //   _backward_softmax(g, y) = y (g - S(g y)) / t:
  //     d/dg = _backward_softmax(H, y) (its Jacobian is symmetric),
  //     d/dy = (g (H - S(H y)) - H S(g y)) / t;
  //   _backward_log_softmax(g, y) = (g - exp(y) S(g)) / t:
  //     d/dg = (H - S(H exp(y))) / t,  d/dy = -H exp(y) S(g) / t.
  auto sum_axis = [](const NodePtr& n, E v) {
    grad::Params p{{"keepdims", "True"}};
    for (const auto& kv : n->attrs->dict)
      if (kv.first == "axis") p.push_back(kv);
    bool has_axis = p.size() > 1;
    if (!has_axis) p.push_back({"axis", "-1"});
    return grad::apply("sum", {v}, p);
  };
  auto over_t = [](const NodePtr& n, E v, double sign) {
    double t = temperature(n->attrs->param<SoftmaxParam>());
    return sign / t == 1.0 ? v : grad::scalar("_mul_scalar", v, sign / t);
  };
  OpRegistry::get().add("_backward_softmax").grad([=](const NodePtr& n, const Entries& h) {
    if (n->attrs->param<SoftmaxParam>().use_length)
      fail(BRASS_ERR_UNSUPPORTED, n->op->name, ": second derivatives with use_length=True are "
           "not supported");
    E g = grad::in(n, 0), y = grad::in(n, 1), H = h[0];
    E dg = grad::apply("_backward_softmax", {H, y}, row_params(n));
    E shy = sum_axis(n, grad::mul(H, y)), sgy = sum_axis(n, grad::mul(g, y));
    E dy = grad::sub(grad::mul(g, grad::apply("broadcast_sub", {H, shy})),
                     grad::apply("broadcast_mul", {H, sgy}));
    return Entries{dg, over_t(n, dy, 1)};
  });
  OpRegistry::get().add("_backward_log_softmax").grad([=](const NodePtr& n, const Entries& h) {
    if (n->attrs->param<SoftmaxParam>().use_length)
      fail(BRASS_ERR_UNSUPPORTED, n->op->name, ": second derivatives with use_length=True are "
           "not supported");
    E g = grad::in(n, 0), y = grad::in(n, 1), H = h[0];
    E he = grad::mul(H, grad::apply("exp", {y}));
    E dg = grad::apply("broadcast_sub", {H, sum_axis(n, he)});
    E dy = grad::apply("broadcast_mul", {he, sum_axis(n, g)});
    return Entries{over_t(n, dg, 1), over_t(n, dy, -1)};
  });
}
#endif  // BRASS_TRAINING

// ---- SoftmaxActivation ---------------------------------------------------------------------
#if BRASS_ALL_OPS || BRASS_OP_SoftmaxActivation
bool activation_shape(const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
  infer::assign_shape(in[0], out[0], "SoftmaxActivation", "data");
  infer::assign_shape(out[0], in[0], "SoftmaxActivation", "output");
  if (in[0].known()) activation_rows(in[0], a.param<SoftmaxActivationParam>().mode);
  return in[0].known();
}

bool activation_type(const NodeAttrs&, std::vector<int>& in, std::vector<int>& out) {
  return nn_dtype::same_float_type("SoftmaxActivation", in, out);
}
#endif

#if BRASS_ALL_OPS || BRASS_OP_SoftmaxActivation || BRASS_OP_SoftmaxOutput
// Plain softmax (temperature 1) over rows r of in[0] into out[0]: SoftmaxActivation's and
// SoftmaxOutput's forward.
void softmax_rows_cpu(const OpContext& ctx, const std::vector<TBlob>& in,
                      const std::vector<TBlob>& out, const Rows& r, const char* op) {
  if (ctx.req[0] == Req::kNull) return;
  bool add = ctx.req[0] == Req::kAdd;
  nn_dtype::dispatch_float(in[0].dtype, op, [&](auto tag) {
    using T = decltype(tag);
    using A = nn_dtype::Compute<T>;
    const T* x = in[0].ptr<T>();
    T* y = out[0].ptr<T>();
    thread_pool::parallel_for(r.count(), std::max<int64_t>(1, 32768 / std::max<int64_t>(r.len, 1)),
                              [&](int64_t b, int64_t e) {
      for (int64_t row = b; row < e; ++row) {
        int64_t off = (row / r.inner) * r.len * r.inner + row % r.inner;
        softmax_row<A>(x + off, y + off, r.len, r.inner, A(1), false, add);
      }
    });
    return 0;
  });
}
#endif

#if BRASS_ALL_OPS || BRASS_OP_SoftmaxActivation
void activation_cpu(const OpContext& ctx, const std::vector<TBlob>& in,
                    const std::vector<TBlob>& out) {
  softmax_rows_cpu(ctx, in, out,
                   activation_rows(in[0].shape, ctx.param<SoftmaxActivationParam>().mode),
                   "SoftmaxActivation");
}

// The gradient: softmax's along axis 1 (channel), or along the flattened instance.
grad::Entries activation_grad(const NodePtr& n, const grad::Entries& g) {
  NodeEntry y = grad::out(n);
  if (n->attrs->param<SoftmaxActivationParam>().mode == "channel")
    return {grad::apply("_backward_softmax", {g[0], y}, {{"axis", "1"}})};
  grad::Params flat{{"shape", "(0, -1)"}};
  NodeEntry d = grad::apply("_backward_softmax", {grad::apply("Reshape", {g[0]}, flat),
                                                  grad::apply("Reshape", {y}, flat)});
  return {grad::apply("reshape_like", {d, grad::in(n, 0)})};
}
#endif

// ---- SoftmaxOutput --------------------------------------------------------------------------
#if BRASS_ALL_OPS || BRASS_OP_SoftmaxOutput
// Fills the label shape from the data (MXNet): the data's shape without its last axis, or
// with multi_output (n, rest) (also accepted: (n, d2, ...) and (n, 1, d2, ...)); a label of
// the data's own shape is a distribution per row.
bool output_shape(const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
  const auto& p = a.param<SoftmaxOutputParam>();
  const char* op = "SoftmaxOutput";
  infer::assign_shape(in[0], out[0], op, "data");
  infer::assign_shape(out[0], in[0], op, "output");
  const Shape& d = in[0];
  if (!d.known()) return false;
  Shape& l = in[1];
  bool same = l.ndim() == d.ndim();
  for (int i = 0; same && i < d.ndim(); ++i) same = l[i] == d[i];
  if (same) return true;
  if (p.multi_output) {
    Rows r = output_rows(d, p);
    Shape l1{d[0], r.inner}, l2(0), l3 = d;
    l2.push_back(d[0]);
    for (int i = 2; i < d.ndim(); ++i) l2.push_back(d[i]);
    l3[1] = 1;
    if (!l.ndim_known()) { l = l1; return true; }
    for (const Shape* c : {&l1, &l2, &l3}) {
      bool eq = c->ndim() == l.ndim();
      for (int i = 0; eq && i < l.ndim(); ++i) eq = l[i] < 0 || l[i] == (*c)[i];
      if (eq) { l = *c; return true; }
    }
    fail(BRASS_ERR_SHAPE, "SoftmaxOutput: label has shape ", l, ", expected ", l1, " or ", l2,
         " (multi_output) for data ", d);
  }
  // MXNet: the data's shape without its last axis. Also accepted: one label per row of the
  // default (d0, rest) view, (d0,), which MXNet's inference rejects for data of 3 or more axes
  // although its gradient reads exactly that many labels.
  Shape want(0), rows = d.ndim() > 0 ? Shape{d[0]} : Shape(0);
  for (int i = 0; i + 1 < d.ndim(); ++i) want.push_back(d[i]);
  if (!l.ndim_known()) { l = want; return true; }
  for (const Shape* c : {&want, &rows}) {
    if (c == &rows && (p.preserve_shape || d.ndim() < 3)) continue;
    bool eq = c->ndim() == l.ndim();
    for (int i = 0; eq && i < l.ndim(); ++i) eq = l[i] < 0 || l[i] == (*c)[i];
    if (eq) { l = *c; return true; }
  }
  fail(BRASS_ERR_SHAPE, "SoftmaxOutput: label has shape ", l, ", expected ", want,
       " or the data's shape for data ", d);
}

bool output_type(const NodeAttrs&, std::vector<int>& in, std::vector<int>& out) {
  const char* op = "SoftmaxOutput";
  infer::assign_type(in[0], out[0], op, "data");
  if (in[0] < 0) return false;
  if (!is_float(DType(in[0])))
    fail(BRASS_ERR_DTYPE, op, ": only floating-point data is supported, got ",
         dtype_name(DType(in[0])));
  infer::assign_type(out[0], in[0], op, "output");
  if (in[1] < 0) in[1] = in[0];
  return true;
}

void output_cpu(const OpContext& ctx, const std::vector<TBlob>& in,
                const std::vector<TBlob>& out) {
  softmax_rows_cpu(ctx, in, out, output_rows(in[0].shape, ctx.param<SoftmaxOutputParam>()),
                   "SoftmaxOutput");
}
#endif

#if BRASS_TRAINING
// _backward_SoftmaxOutput (out_grad, output, label) -> the data's gradient.
bool output_grad_shape(const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
  const char* op = "_backward_SoftmaxOutput";
  Shape s;
  for (auto* x : {&in[0], &in[1], &out[0]}) infer::assign_shape(s, *x, op, "inputs");
  for (auto* x : {&in[0], &in[1], &out[0]}) infer::assign_shape(*x, s, op, "inputs");
  if (!s.known() || !in[2].known()) return false;
  Rows r = output_rows(s, a.param<SoftmaxOutputParam>());
  bool prob = in[2].ndim() == s.ndim();
  for (int i = 0; prob && i < s.ndim(); ++i) prob = in[2][i] == s[i];
  if (!prob && in[2].size() != r.count())
    fail(BRASS_ERR_SHAPE, "SoftmaxOutput: label has shape ", in[2], " (", in[2].size(),
         " labels), expected ", r.count(), " labels (one per softmax row) or the data's shape ",
         "for data ", s);
  return true;
}

bool output_grad_type(const NodeAttrs&, std::vector<int>& in, std::vector<int>& out) {
  std::vector<int> f{in[0], in[1]};
  bool ok = nn_dtype::same_float_type("_backward_SoftmaxOutput", f, out);
  in[0] = f[0];
  in[1] = f[1];
  return ok && in[2] >= 0;
}

// Whether the label is a distribution per row (the data's shape).
bool prob_label(const Shape& data, const Shape& label) {
  if (label.ndim() != data.ndim()) return false;
  for (int i = 0; i < data.ndim(); ++i)
    if (label[i] != data[i]) return false;
  return true;
}

OutputGrad output_grad_plan(const SoftmaxOutputParam& p, const Shape& data, const Shape& label,
                            int64_t valid) {
  OutputGrad q;
  q.prob = prob_label(data, label);
  q.use_ignore = p.use_ignore;
  q.out_grad = p.out_grad;
  q.ignore = int(p.ignore_label);
  Rows r = output_rows(data, p);
  q.off = p.smooth_alpha != 0 && r.len > 1 ? p.smooth_alpha / double(r.len - 1) : 0.0;
  q.on = 1.0 - p.smooth_alpha;
  if (q.prob) {
    q.scale = p.grad_scale;
    return q;
  }
  // MXNet: batch divides by the first extent of the label (the rows, or n with multi_output),
  // valid by the labels that are not ignore_label (at least 1); multi_output also divides by
  // the positions per example unless the normalization is valid.
  double count = 1;
  if (p.normalization == "batch") count = double(p.multi_output ? data[0] : r.count());
  else if (p.normalization == "valid") count = double(valid > 0 ? valid : 1);
  if (p.multi_output && p.normalization != "valid") count *= double(r.inner);
  q.scale = p.grad_scale / count;
  return q;
}

void output_grad_cpu(const OpContext& ctx, const std::vector<TBlob>& in,
                     const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  const auto& p = ctx.param<SoftmaxOutputParam>();
  const TBlob &og = in[0], &y = in[1], &label = in[2];
  Rows r = output_rows(y.shape, p);
  bool add = ctx.req[0] == Req::kAdd;
  int ignore = int(p.ignore_label);
  dispatch_dtype(label.dtype, [&](auto ltag) {
    using L = decltype(ltag);
    const L* lab = label.ptr<L>();
    int64_t valid = 0;
    if (p.normalization == "valid")
      for (int64_t i = 0; i < label.size(); ++i) valid += int(convert<double>(lab[i])) != ignore;
    OutputGrad q = output_grad_plan(p, y.shape, label.shape, valid);
    return nn_dtype::dispatch_float(y.dtype, "SoftmaxOutput", [&](auto tag) {
      using T = decltype(tag);
      using A = nn_dtype::Compute<T>;
      thread_pool::parallel_for(r.count(), std::max<int64_t>(1, 32768 / std::max<int64_t>(r.len, 1)),
                                [&](int64_t b, int64_t e) {
        for (int64_t row = b; row < e; ++row) {
          int64_t off = (row / r.inner) * r.len * r.inner + row % r.inner;
          double l = q.prob ? 0.0 : convert<double>(lab[row]);
          output_grad_row<A>(og.ptr<T>() + off, y.ptr<T>() + off, q.prob ? lab + off : lab, l,
                             out[0].ptr<T>() + off, r.len, r.inner, q, add);
        }
      });
      return 0;
    });
  });
}
#endif  // BRASS_TRAINING

#if BRASS_ALL_OPS || BRASS_OP_softmax || BRASS_OP_log_softmax || BRASS_OP_softmin
// n inputs, plus the length with use_length=True.
CountFn with_length(int n) {
  return [n](const NodeAttrs& a) { return n + (a.param<SoftmaxParam>().use_length ? 1 : 0); };
}

// softmax, log_softmax, softmin: name(data[, length]).
void reg_softmax(const char* name, const char* doc, ComputeFn cpu) {
  OpRegistry::get().add(name)
      .describe(doc)
      .inputs({"data", "length"})
      .set_num_inputs(with_length(1))
      .params<SoftmaxParam>()
      .shape_fn(softmax_shape)
      .partial_infer()
      .type_fn(softmax_type)
      .cpu(std::move(cpu));
}
#endif

#if BRASS_TRAINING
// Their gradient ops: name(out_grad, output[, length]).
void reg_softmax_grad(const char* name, const char* doc, ComputeFn cpu) {
  OpRegistry::get().add(name)
      .describe(doc)
      .inputs({"out_grad", "output", "length"})
      .set_num_inputs(with_length(2))
      .params<SoftmaxParam>()
      .shape_fn(grad_shape)
      .type_fn(grad_type)
      .cpu(std::move(cpu));
}
#endif

[[maybe_unused]] const bool kRegistered = [] {
#if BRASS_ALL_OPS || BRASS_OP_softmax
  reg_softmax("softmax",
              "Softmax along an axis: exp(x / t) / sum(exp(x / t)), computed stably (the maximum "
              "is subtracted first). dtype gives the output another floating-point type.\n\n"
              "    softmax([[1, 1], [0, ln(3)]]) = [[0.5, 0.5], [0.25, 0.75]]",
              softmax_cpu<false>);
#endif
#if BRASS_ALL_OPS || BRASS_OP_softmin
  reg_softmax("softmin",
              "Softmin along an axis: exp(-x / t) / sum(exp(-x / t)), computed stably; softmax of "
              "-x.\n\n"
              "    softmin([[1, 1], [ln(3), 0]]) = [[0.5, 0.5], [0.25, 0.75]]",
              softmax_cpu<false>);
#endif
#if BRASS_TRAINING
  reg_softmax_grad("_backward_softmax",
                   "The gradient of softmax: y (g - sum(g y)) / t along the axis, for the output "
                   "gradient g and the output y.",
                   softmax_grad_cpu<false>);
#endif
#if BRASS_ALL_OPS || BRASS_OP_log_softmax
  reg_softmax("log_softmax",
              "Log of the softmax along an axis: (x - max) / t - log(sum(exp((x - max) / t))), "
              "computed stably.\n\n"
              "    log_softmax([0, 0]) = [-0.693147, -0.693147]",
              softmax_cpu<true>);
#endif
#if BRASS_TRAINING
  reg_softmax_grad("_backward_log_softmax",
                   "The gradient of log_softmax: (g - exp(y) sum(g)) / t along the axis, for the "
                   "output gradient g and the output y.",
                   softmax_grad_cpu<true>);
  register_softmax_gradients();
#endif

#if BRASS_ALL_OPS || BRASS_OP_SoftmaxOutput
  OpRegistry::get().add("SoftmaxOutput")
      .alias("Softmax")
      .describe("Softmax with a loss gradient (MXNet's legacy output layer). Forward: softmax "
                "over all axes but the first (multi_output: axis 1; preserve_shape: the last "
                "axis). Backward ignores the output gradient (unless out_grad=True) and gives "
                "(softmax - onehot(label)) * grad_scale, with label smoothing, ignored labels "
                "and normalization; the label gets no gradient.")
      .inputs({"data", "label"})
      .params<SoftmaxOutputParam>()
      .shape_fn(output_shape)
      .partial_infer()  // the label from the data
      .type_fn(output_type)
      .cpu(output_cpu)
      .grad([](const NodePtr& n, const std::vector<NodeEntry>& g) {
        return std::vector<NodeEntry>{
            grad::apply("_backward_SoftmaxOutput", {g[0], grad::out(n), grad::in(n, 1)},
                        n->attrs->dict),
            NodeEntry()};
      });
#endif
#if BRASS_ALL_OPS || BRASS_OP_SoftmaxActivation
  OpRegistry::get().add("SoftmaxActivation")
      .describe("Softmax of each instance (all axes but the first, mode='instance') or along "
                "the channels (axis 1, mode='channel'); MXNet's legacy activation layer.")
      .inputs({"data"})
      .params<SoftmaxActivationParam>()
      .shape_fn(activation_shape)
      .partial_infer()
      .type_fn(activation_type)
      .add_req()
      .cpu(activation_cpu)
      .grad(activation_grad);
#endif
#if BRASS_TRAINING
  OpRegistry::get().add("_backward_SoftmaxOutput")
      .describe("The gradient of SoftmaxOutput (MXNet's formula, not a derivative) from the "
                "output gradient, the output and the label. It has no gradient itself.")
      .inputs({"out_grad", "output", "label"})
      .params<SoftmaxOutputParam>()
      .shape_fn(output_grad_shape)
      .type_fn(output_grad_type)
      .cpu(output_grad_cpu);
#endif
  return true;
}();

}  // namespace softmax_ops
}  // namespace brass
