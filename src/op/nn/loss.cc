// MXNet's loss layers (loss_params.h; CUDA kernels in cuda/nn_loss.cu):
// - LinearRegressionOutput, LogisticRegressionOutput, MAERegressionOutput (data, label): the
//   forward is the identity (logistic: the sigmoid); the gradient ignores the output gradient
//   and is grad_scale / num_output * (out - label) (MAE: its sign), num_output being the
//   label's elements per sample, as MXNet computes it. A label of shape (n,) fits data (n, 1).
// - MakeLoss (data): the identity; the gradient is grad_scale everywhere, divided by the batch
//   size or the number of valid elements with normalization 'batch' or 'valid'. make_loss:
//   the identity, with a gradient of ones.
// - softmax_cross_entropy (data (n, k), label (n,)): the sum over rows of
//   -log(softmax(row)[label]), shape (1,); labels are truncated to integers and clipped to
//   [0, k - 1]. Its gradient, (softmax - one_hot(label)) * out_grad, is a true derivative.
// The gradients are kernels of their own (_backward_*), without second derivatives.
#include <vector>

#include "engine/thread_pool.h"
#include "op/grad.h"
#include "op/nn/loss_params.h"
#include "op/nn/nn_dtype.h"
#include "op/operator.h"

namespace brass {
namespace loss_ops {

namespace {

using grad::Entries;

#if BRASS_ALL_OPS || BRASS_OP_LinearRegressionOutput || BRASS_OP_LogisticRegressionOutput || \
    BRASS_OP_MAERegressionOutput
const char* const kRegNames[3] = {"LinearRegressionOutput", "LogisticRegressionOutput",
                                  "MAERegressionOutput"};
const char* const kRegGradNames[3] = {"_backward_linear_reg_out", "_backward_logistic_reg_out",
                                      "_backward_mae_reg_out"};

// Regression outputs: label must hold one value per data element, sample for sample.
bool reg_shape(const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
  const char* op = a.op->name.c_str();
  infer::assign_shape(out[0], in[0], op, "output");
  infer::assign_shape(in[0], out[0], op, "data");
  const Shape& d = in[0];
  if (!d.known()) return false;
  if (!in[1].ndim_known()) {
    in[1] = d.ndim() == 2 && d[1] == 1 ? Shape({d[0]}) : d;
  } else if (in[1].known() && (in[1].ndim() == 0 || d.ndim() == 0 || in[1][0] != d[0] ||
                               in[1].size() != d.size())) {
    fail(BRASS_ERR_SHAPE, op, ": label ", in[1].str(), " does not fit data ", d.str(),
         " (the same number of samples and elements)");
  }
  return in[1].known();
}
#endif

#if BRASS_TRAINING
// _backward_*_reg_out(label, out): the data gradient (out's shape).
bool reg_grad_shape(const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
  const char* op = a.op->name.c_str();
  if (!in[0].known() || !in[1].known()) return false;
  if (in[0].size() != in[1].size())
    fail(BRASS_ERR_SHAPE, op, ": label ", in[0].str(), " and output ", in[1].str(),
         " differ in size");
  infer::assign_shape(out[0], in[1], op, "output");
  return true;
}
#endif

#if BRASS_ALL_OPS || BRASS_OP_LinearRegressionOutput || BRASS_OP_LogisticRegressionOutput || \
    BRASS_OP_MAERegressionOutput || BRASS_OP_MakeLoss || BRASS_OP_make_loss
bool float_type(const NodeAttrs& a, std::vector<int>& in, std::vector<int>& out) {
  return nn_dtype::same_float_type(a.op->name.c_str(), in, out);
}
#endif

template <class T, class C>
void put(T* y, int64_t i, C v, bool add) {
  y[i] = convert<T>(add ? convert<C>(y[i]) + v : v);
}

#if BRASS_ALL_OPS || BRASS_OP_LinearRegressionOutput || BRASS_OP_LogisticRegressionOutput || \
    BRASS_OP_MAERegressionOutput
template <int K>
void reg_cpu(const OpContext& ctx, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  bool add = ctx.req[0] == Req::kAdd;
  nn_dtype::dispatch_float(in[0].dtype, kRegNames[K], [&](auto tag) {
    using T = decltype(tag);
    using C = nn_dtype::Compute<T>;
    const T* x = in[0].ptr<T>();
    T* y = out[0].ptr<T>();
    thread_pool::parallel_for(in[0].size(), 32768, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) put(y, i, reg_forward<C>(K, convert<C>(x[i])), add);
    });
    return 0;
  });
}
#endif

#if BRASS_TRAINING
// grad_scale / (elements per sample of the label).
double reg_scale(const OpContext& ctx, const Shape& label) {
  int64_t per = label.ndim() > 0 && label[0] > 0 ? label.size() / label[0] : 1;
  return ctx.param<RegressionParam>().grad_scale / double(per > 0 ? per : 1);
}

template <int K>
void reg_grad_cpu(const OpContext& ctx, const std::vector<TBlob>& in,
                  const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  bool add = ctx.req[0] == Req::kAdd;
  double scale = reg_scale(ctx, in[0].shape);
  nn_dtype::dispatch_float(in[1].dtype, kRegGradNames[K], [&](auto tag) {
    using T = decltype(tag);
    using C = nn_dtype::Compute<T>;
    const T *label = in[0].ptr<T>(), *y = in[1].ptr<T>();
    T* g = out[0].ptr<T>();
    thread_pool::parallel_for(in[1].size(), 32768, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i)
        put(g, i, C(scale) * reg_backward<C>(K, convert<C>(y[i]), convert<C>(label[i])), add);
    });
    return 0;
  });
}
#endif

#if BRASS_ALL_OPS || BRASS_OP_LinearRegressionOutput || BRASS_OP_LogisticRegressionOutput || \
    BRASS_OP_MAERegressionOutput
template <int K>
void register_regression() {
  OpRegistry::get().add(kRegNames[K])
      .describe(K == kLinear ? "Linear regression output layer: the identity; the gradient is "
                               "grad_scale / num_output * (out - label), ignoring the output "
                               "gradient (num_output: label elements per sample)."
              : K == kLogistic ? "Logistic regression output layer: sigmoid(data); the gradient "
                                 "is grad_scale / num_output * (out - label), ignoring the output "
                                 "gradient."
                               : "Mean-absolute-error regression output layer: the identity; the "
                                 "gradient is grad_scale / num_output * sign(out - label), "
                                 "ignoring the output gradient.")
      .inputs({"data", "label"})
      .params<RegressionParam>()
      .shape_fn(reg_shape)
      .partial_infer()
      .type_fn(float_type)
      .inplace_pairs({{0, 0}})
      .add_req()
      .cpu(reg_cpu<K>)
      .grad([](const NodePtr& n, const Entries&) {
        return Entries{grad::apply(kRegGradNames[K], {grad::in(n, 1), grad::out(n)},
                                   n->attrs->dict),
                       NodeEntry{}};
      });
#if BRASS_TRAINING
  OpRegistry::get().add(kRegGradNames[K])
      .describe("The data gradient of a regression output layer (inputs: label, out).")
      .inputs({"label", "out"})
      .params<RegressionParam>()
      .shape_fn(reg_grad_shape)
      .type_fn(float_type)
      .add_req()
      .cpu(reg_grad_cpu<K>);
#endif
}
#endif

// ---- MakeLoss, make_loss -------------------------------------------------------------------

#if BRASS_ALL_OPS || BRASS_OP_MakeLoss || BRASS_OP_make_loss
void identity_cpu(const OpContext& ctx, const std::vector<TBlob>& in,
                  const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull || ctx.req[0] == Req::kInplace) return;
  bool add = ctx.req[0] == Req::kAdd;
  nn_dtype::dispatch_float(in[0].dtype, "MakeLoss", [&](auto tag) {
    using T = decltype(tag);
    using C = nn_dtype::Compute<T>;
    const T* x = in[0].ptr<T>();
    T* y = out[0].ptr<T>();
    thread_pool::parallel_for(in[0].size(), 32768, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) put(y, i, convert<C>(x[i]), add);
    });
    return 0;
  });
}
#endif

#if BRASS_TRAINING
// _backward_MakeLoss(data): grad_scale / the normalization, everywhere.
void make_loss_grad_cpu(const OpContext& ctx, const std::vector<TBlob>& in,
                        const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  const auto& p = ctx.param<MakeLossParam>();
  bool add = ctx.req[0] == Req::kAdd;
  nn_dtype::dispatch_float(in[0].dtype, "_backward_MakeLoss", [&](auto tag) {
    using T = decltype(tag);
    using C = nn_dtype::Compute<T>;
    const T* x = in[0].ptr<T>();
    int64_t n = in[0].size();
    double v = p.grad_scale;
    if (p.normalization == "batch" && in[0].shape.ndim() > 0 && in[0].shape[0] > 0) {
      v /= double(in[0].shape[0]);
    } else if (p.normalization == "valid") {
      int64_t cnt = 0;
      for (int64_t i = 0; i < n; ++i) cnt += convert<double>(x[i]) > p.valid_thresh;
      v /= double(cnt > 1 ? cnt : 1);
    }
    T* g = out[0].ptr<T>();
    for (int64_t i = 0; i < n; ++i) put(g, i, C(v), add);
    return 0;
  });
}
#endif

// ---- softmax_cross_entropy -----------------------------------------------------------------

#if BRASS_ALL_OPS || BRASS_OP_softmax_cross_entropy
// Checks the data (known) and fills the label's and the loss's shapes.
void sce_shapes(const char* op, const Shape& data, Shape& label, Shape& loss) {
  if (data.ndim() != 2)
    fail(BRASS_ERR_SHAPE, op, ": data must be 2-D (batch, classes), got ", data.str());
  if (data[1] == 0 && data[0] > 0)
    fail(BRASS_ERR_SHAPE, op, ": data ", data.str(), " has no classes");
  infer::assign_shape(label, Shape({data[0]}), op, "label");
  infer::assign_shape(loss, Shape({1}), op, "loss");
}

bool sce_shape(const NodeAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) {
  infer::assign_shape(out[0], Shape({1}), "softmax_cross_entropy", "output");
  if (!in[0].known()) return false;
  sce_shapes("softmax_cross_entropy", in[0], in[1], out[0]);
  return true;
}

bool sce_type(const NodeAttrs&, std::vector<int>& in, std::vector<int>& out) {
  std::vector<int> d{in[0]};
  bool ok = nn_dtype::same_float_type("softmax_cross_entropy", d, out);
  in[0] = d[0];
  if (in[1] < 0 && in[0] >= 0) in[1] = in[0];
  return ok && in[1] >= 0;
}

void sce_cpu(const OpContext& ctx, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  int64_t n = in[0].shape[0], k = in[0].shape[1];
  nn_dtype::dispatch_float(in[0].dtype, "softmax_cross_entropy", [&](auto tag) {
    using T = decltype(tag);
    using C = nn_dtype::Compute<T>;
    const T* x = in[0].ptr<T>();
    std::vector<double> rows(size_t(n), 0.0);
    const void* label = in[1].dptr;
    DType lt = in[1].dtype;
    thread_pool::parallel_for(n, 64, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r)
        rows[size_t(r)] = double(sce_row<C>(x + r * k, k, class_index(value_at(label, lt, r), k)));
    });
    double s = 0;
    for (double v : rows) s += v;  // in row order: the same sum at any thread count
    put(out[0].ptr<T>(), 0, C(s), ctx.req[0] == Req::kAdd);
    return 0;
  });
}
#endif

#if BRASS_TRAINING
// _backward_softmax_cross_entropy(out_grad, data, label): the data gradient.
void sce_grad_cpu(const OpContext& ctx, const std::vector<TBlob>& in,
                  const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  int64_t n = in[1].shape[0], k = in[1].shape[1];
  bool add = ctx.req[0] == Req::kAdd;
  nn_dtype::dispatch_float(in[1].dtype, "_backward_softmax_cross_entropy", [&](auto tag) {
    using T = decltype(tag);
    using C = nn_dtype::Compute<T>;
    const T* x = in[1].ptr<T>();
    C h = convert<C>(in[0].ptr<T>()[0]);
    T* g = out[0].ptr<T>();
    const void* label = in[2].dptr;
    DType lt = in[2].dtype;
    thread_pool::parallel_for(n, 64, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r)
        sce_row_grad<C>(x + r * k, k, class_index(value_at(label, lt, r), k), h, g + r * k, add);
    });
    return 0;
  });
}

bool sce_grad_shape(const NodeAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) {
  const char* op = "_backward_softmax_cross_entropy";
  if (!in[1].known()) return false;
  sce_shapes(op, in[1], in[2], in[0]);
  infer::assign_shape(out[0], in[1], op, "output");
  return true;
}

// out_grad, data and the output share the float type; the label may be any type.
bool sce_grad_type(const NodeAttrs&, std::vector<int>& in, std::vector<int>& out) {
  std::vector<int> f{in[0], in[1]};
  bool ok = nn_dtype::same_float_type("_backward_softmax_cross_entropy", f, out);
  in[0] = f[0];
  in[1] = f[1];
  if (in[2] < 0 && in[1] >= 0) in[2] = in[1];
  return ok && in[2] >= 0;
}
#endif  // BRASS_TRAINING

[[maybe_unused]] const bool kRegistered = [] {
#if BRASS_ALL_OPS || BRASS_OP_LinearRegressionOutput
  register_regression<kLinear>();
#endif
#if BRASS_ALL_OPS || BRASS_OP_LogisticRegressionOutput
  register_regression<kLogistic>();
#endif
#if BRASS_ALL_OPS || BRASS_OP_MAERegressionOutput
  register_regression<kMae>();
#endif

#if BRASS_ALL_OPS || BRASS_OP_MakeLoss
  OpRegistry::get().add("MakeLoss")
      .describe("Makes a loss of its input: the identity forward; the gradient is grad_scale "
                "everywhere (the output gradient is ignored), divided by the batch size "
                "(normalization 'batch') or the number of elements above valid_thresh ('valid').")
      .inputs({"data"})
      .params<MakeLossParam>()
      .shape_fn(infer::same_shape)
      .type_fn(float_type)
      .inplace_pairs({{0, 0}})
      .add_req()
      .cpu(identity_cpu)
      .grad([](const NodePtr& n, const Entries&) {
        return Entries{grad::apply("_backward_MakeLoss", {grad::in(n, 0)}, n->attrs->dict)};
      });
#endif
#if BRASS_TRAINING
  OpRegistry::get().add("_backward_MakeLoss")
      .describe("The data gradient of MakeLoss (input: data).")
      .inputs({"data"})
      .params<MakeLossParam>()
      .shape_fn(infer::same_shape)
      .type_fn(float_type)
      .add_req()
      .cpu(make_loss_grad_cpu);
#endif
#if BRASS_ALL_OPS || BRASS_OP_make_loss
  OpRegistry::get().add("make_loss")
      .describe("Makes a loss of its input: the identity forward; the gradient is ones (the "
                "output gradient is ignored).")
      .inputs({"data"})
      .shape_fn(infer::same_shape)
      .type_fn(float_type)
      .inplace_pairs({{0, 0}})
      .add_req()
      .cpu(identity_cpu)
      .grad([](const NodePtr& n, const Entries&) {
        return Entries{grad::apply("ones_like", {grad::in(n, 0)})};
      });
#endif

#if BRASS_ALL_OPS || BRASS_OP_softmax_cross_entropy
  OpRegistry::get().add("softmax_cross_entropy")
      .describe("The cross entropy of softmax(data) against integer labels, summed over the "
                "batch: sum_i -log(softmax(data[i])[label[i]]), shape (1,). data is (batch, "
                "classes), label (batch,); labels are truncated to integers and clipped to "
                "[0, classes - 1].")
      .inputs({"data", "label"})
      .shape_fn(sce_shape)
      .partial_infer()
      .type_fn(sce_type)
      .add_req()
      .cpu(sce_cpu)
      .grad([](const NodePtr& n, const Entries& g) {
        return Entries{grad::apply("_backward_softmax_cross_entropy",
                                   {g[0], grad::in(n, 0), grad::in(n, 1)}),
                       NodeEntry{}};
      });
#endif
#if BRASS_TRAINING
  OpRegistry::get().add("_backward_softmax_cross_entropy")
      .describe("The data gradient of softmax_cross_entropy: (softmax(data) - one_hot(label)) "
                "* out_grad (inputs: out_grad, data, label).")
      .inputs({"out_grad", "data", "label"})
      .shape_fn(sce_grad_shape)
      .type_fn(sce_grad_type)
      .add_req()
      .cpu(sce_grad_cpu);
#endif
  return true;
}();

}  // namespace

}  // namespace loss_ops
}  // namespace brass
