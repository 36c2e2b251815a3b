// MXNet's CTCLoss (aliases ctc_loss, _contrib_CTCLoss, _contrib_ctc_loss): the connectionist
// temporal classification loss of unnormalized activations data (T, N, C) (a softmax over C
// is applied inside) against labels (N, L), one loss per sample, shape (N,).
// - blank_label 'first': class 0 is the blank, labels are 1..C-1 and 0 pads a label;
//   'last': class C-1 is the blank, labels are 0..C-2 and -1 pads. With use_label_lengths the
//   lengths come from label_lengths (N,) instead of the padding; with use_data_lengths each
//   sequence's length comes from data_lengths (N,) (else T). Inputs: data, label, then
//   data_lengths and label_lengths, each present only when used (MXNet's order).
// - Like MXNet, the op has a hidden second output, the gradient d loss / d data (T, N, C),
//   computed by the forward (alpha-beta in log space, the softmax folded in; zero past a
//   sequence's length). The data gradient, _backward_CTCLoss, is that times the head
//   gradient of each sample's loss (MXNet multiplies by it too).
// - Labels (values truncated to integers) and lengths are checked by the kernel: values out of
//   the vocabulary, lengths out of range, or a label that cannot fit its sequence (a repeated
//   label needs a blank between the copies) fail naming the op and the values.
// CUDA kernels in cuda/nn_ctc.cu.
#include <vector>

#include "engine/thread_pool.h"
#include "op/grad.h"
#include "op/nn/ctc_params.h"
#include "op/nn/nn_dtype.h"
#include "op/operator.h"

namespace brass {
namespace ctc_ops {

namespace {

using grad::Entries;

[[maybe_unused]] const char* const kOp = "CTCLoss";
[[maybe_unused]] const char* const kGradOp = "_backward_CTCLoss";

#if BRASS_ALL_OPS || BRASS_OP_CTCLoss
// data, label, then data_lengths and label_lengths when used.
std::vector<std::string> input_names(const NodeAttrs& a) {
  const auto& p = a.param<CTCLossParam>();
  std::vector<std::string> n{"data", "label"};
  if (p.use_data_lengths) n.push_back("data_lengths");
  if (p.use_label_lengths) n.push_back("label_lengths");
  return n;
}

// data (T, N, C), label (N, L) with L <= T (as MXNet checks), lengths (N,); outputs: the
// loss (N,) and the hidden gradient, data's shape.
bool ctc_shape(const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
  Shape& d = in[0];
  if (d.ndim_known() && d.ndim() != 3)
    fail(BRASS_ERR_SHAPE, kOp, ": data must be 3-D (time, batch, classes), got ", d.str());
  if (in[1].ndim_known() && in[1].ndim() != 2)
    fail(BRASS_ERR_SHAPE, kOp, ": label must be 2-D (batch, label width), got ", in[1].str());
  infer::assign_shape(out[1], d, kOp, "gradient output");
  infer::assign_shape(d, out[1], kOp, "data");
  for (size_t i = 2; i < in.size(); ++i)
    if (in[i].ndim_known() && in[i].ndim() != 1)
      fail(BRASS_ERR_SHAPE, kOp, ": ", i == 2 && a.param<CTCLossParam>().use_data_lengths
                                           ? "data_lengths" : "label_lengths",
           " must be 1-D (batch,), got ", in[i].str());
  if (!d.known()) return false;
  if (d[2] == 0 && d[0] * d[1] > 0)
    fail(BRASS_ERR_SHAPE, kOp, ": data ", d.str(), " has no classes");
  infer::assign_shape(out[0], Shape({d[1]}), kOp, "output");
  for (size_t i = 2; i < in.size(); ++i) {
    if (in[i].known() && in[i][0] != d[1])
      fail(BRASS_ERR_SHAPE, kOp, ": ", i == 2 && a.param<CTCLossParam>().use_data_lengths
                                           ? "data_lengths " : "label_lengths ",
           in[i].str(), " does not fit the batch of data ", d.str());
    infer::assign_shape(in[i], Shape({d[1]}), kOp, "lengths");
  }
  if (!in[1].known()) return false;
  if (in[1][0] != d[1])
    fail(BRASS_ERR_SHAPE, kOp, ": label ", in[1].str(), " does not fit the batch of data ",
         d.str());
  if (in[1][1] > d[0])
    fail(BRASS_ERR_SHAPE, kOp, ": label ", in[1].str(), " is wider than the ", d[0],
         " time steps of data ", d.str());
  return true;
}

// Float32 or float64 data; the outputs share its type; labels and lengths may be any type
// (taking the data's when unknown).
void check_float(const char* op, int t) {
  if (t >= 0 && DType(t) != DType::kFloat32 && DType(t) != DType::kFloat64)
    fail(BRASS_ERR_DTYPE, op, ": only float32 and float64 data are supported, got ",
         dtype_name(DType(t)));
}

bool ctc_type(const NodeAttrs&, std::vector<int>& in, std::vector<int>& out) {
  std::vector<int> d{in[0]};
  bool ok = nn_dtype::same_float_type(kOp, d, out);
  in[0] = d[0];
  check_float(kOp, in[0]);
  for (size_t i = 1; i < in.size(); ++i)
    if (in[i] < 0 && in[0] >= 0) in[i] = in[0];
  for (int t : in) ok = ok && t >= 0;
  return ok;
}

std::vector<double> host_values(const TBlob& b) {
  std::vector<double> v(size_t(b.size()));
  dispatch_dtype(b.dtype, [&](auto tag) {
    using L = decltype(tag);
    const L* p = b.ptr<L>();
    for (size_t i = 0; i < v.size(); ++i) v[i] = convert<double>(p[i]);
  });
  return v;
}

void ctc_cpu(const OpContext& ctx, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
  const auto& p = ctx.param<CTCLossParam>();
  const Shape& ds = in[0].shape;
  int64_t t_max = ds[0], n = ds[1], k = ds[2], width = in[1].shape[1];
  std::vector<double> dl, ll;
  if (p.use_data_lengths) dl = host_values(in[2]);
  if (p.use_label_lengths) ll = host_values(in[2 + int(p.use_data_lengths)]);
  Packed pk = ctc_prepare(kOp, p, t_max, n, width, k, host_values(in[1]),
                          p.use_data_lengths ? &dl : nullptr, p.use_label_lengths ? &ll : nullptr);
  bool want_loss = ctx.req[0] != Req::kNull, want_grad = ctx.req[1] != Req::kNull;
  if (!want_loss && !want_grad) return;
  int64_t blank = p.blank_label == "first" ? 0 : k - 1;
  int64_t scratch = ctc_scratch(t_max, width, k);
  dispatch_f32_f64(in[0].dtype, kOp, [&](auto tag) {
    using T = decltype(tag);
    using C = nn_dtype::Compute<T>;
    const T* x = in[0].ptr<T>();
    T* loss = out[0].ptr<T>();
    T* g = want_grad ? out[1].ptr<T>() : nullptr;
    thread_pool::parallel_for(n, 1, [&](int64_t b0, int64_t b1) {
      std::vector<C> w(static_cast<size_t>(scratch));
      for (int64_t b = b0; b < b1; ++b) {
        T l;
        ctc_sample<C>(x, t_max, n, k, b, pk.seq_len[size_t(b)], pk.labels.data() + b * width,
                      pk.label_len[size_t(b)], width, blank, w.data(), &l, g);
        if (want_loss) loss[b] = l;
      }
    });
  });
}
#endif

#if BRASS_TRAINING
// _backward_CTCLoss(out_grad (N,), grad (T, N, C)): grad[t, b, :] * out_grad[b].
bool ctc_grad_shape(const NodeAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) {
  infer::assign_shape(out[0], in[1], kGradOp, "output");
  infer::assign_shape(in[1], out[0], kGradOp, "grad");
  const Shape& g = in[1];
  if (g.ndim_known() && g.ndim() != 3)
    fail(BRASS_ERR_SHAPE, kGradOp, ": grad must be 3-D (time, batch, classes), got ", g.str());
  if (!g.known()) return false;
  if (in[0].known() && in[0] != Shape({g[1]}))
    fail(BRASS_ERR_SHAPE, kGradOp, ": out_grad ", in[0].str(), " does not fit grad ", g.str());
  infer::assign_shape(in[0], Shape({g[1]}), kGradOp, "out_grad");
  return true;
}

bool ctc_grad_type(const NodeAttrs&, std::vector<int>& in, std::vector<int>& out) {
  bool ok = nn_dtype::same_float_type(kGradOp, in, out);
  check_float(kGradOp, in[0]);
  return ok;
}

void ctc_grad_cpu(const OpContext& ctx, const std::vector<TBlob>& in,
                  const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  bool add = ctx.req[0] == Req::kAdd;
  const Shape& gs = in[1].shape;
  int64_t n = gs[1], k = gs[2], total = in[1].size();
  dispatch_f32_f64(in[1].dtype, kGradOp, [&](auto tag) {
    using T = decltype(tag);
    const T *h = in[0].ptr<T>(), *g = in[1].ptr<T>();
    T* y = out[0].ptr<T>();
    thread_pool::parallel_for(total, 32768, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        T v = g[i] * h[(i / k) % n];
        y[i] = add ? T(y[i] + v) : v;
      }
    });
  });
}
#endif  // BRASS_TRAINING

[[maybe_unused]] const bool kRegistered = [] {
#if BRASS_ALL_OPS || BRASS_OP_CTCLoss
  OpRegistry::get().add(kOp)
      .describe("Connectionist temporal classification loss: -log p(label | data) per sample, "
                "shape (N,), for unnormalized activations data (T, N, C) (softmax over C "
                "inside) and labels (N, L). blank_label 'first': class 0 is the blank, labels "
                "1..C-1, padded with 0; 'last': class C-1 is the blank, labels 0..C-2, padded "
                "with -1. use_data_lengths / use_label_lengths add the inputs data_lengths (N,) "
                "and label_lengths (N,) (in that order) instead of full-length sequences and "
                "padded labels. The gradient is exact (alpha-beta), scaled per sample by the "
                "head gradient.")
      .alias("ctc_loss").alias("_contrib_CTCLoss").alias("_contrib_ctc_loss").alias("_npx_ctc_loss")
      .inputs({"data", "label", "data_lengths", "label_lengths"})
      .inputs_named(input_names)
      .set_num_outputs(2)
      .visible_outputs(1)
      .outputs_named({"output", "grad"})
      .params<CTCLossParam>()
      .shape_fn(ctc_shape)
      .partial_infer()
      .type_fn(ctc_type)
      .cpu(ctc_cpu)
      .grad([](const NodePtr& nd, const Entries& g) {
        Entries r(nd->inputs.size());
        if (!g[0].empty()) r[0] = grad::apply(kGradOp, {g[0], grad::out(nd, 1)});
        return r;
      });
#endif
#if BRASS_TRAINING
  OpRegistry::get().add(kGradOp)
      .describe("The data gradient of CTCLoss: grad (its hidden output, T x N x C) times "
                "out_grad (N,) for each sample (inputs: out_grad, grad).")
      .alias("_backward_ctc_loss")
      .inputs({"out_grad", "grad"})
      .shape_fn(ctc_grad_shape)
      .partial_infer()
      .type_fn(ctc_grad_type)
      .add_req()
      .cpu(ctc_grad_cpu);
#endif
  return true;
}();

}  // namespace

}  // namespace ctc_ops
}  // namespace brass
