// Spatial and sequence operators of MXNet 1.x: Embedding, UpSampling (nearest and bilinear),
// Pad, Crop, SequenceMask, SequenceLast, SequenceReverse, GridGenerator, BilinearSampler and
// the gradient ops they need (_backward_Embedding, _backward_UpSampling, _backward_Pad,
// _backward_Crop, _backward_SequenceLast, _backward_GridGenerator, _backward_BilinearSampler).
// The kernels and the host logic live in spatial_params.h, shared with the CUDA file
// (cuda/nn_spatial.cu); this file registers the ops with their shape and type inference, the CPU
// kernels (run by op/cpu_exec.h) and the gradients. Every gradient op has a gradient of its own
// (each is linear in its head gradient), so derivatives of any order compose, except
// _backward_BilinearSampler's.
#include <string>
#include <utility>
#include <vector>

#include "op/cpu_exec.h"
#include "op/grad.h"
#include "op/nn/nn_dtype.h"
#include "op/nn/spatial_params.h"
#include "op/operator.h"

namespace brass {
namespace spatial_ops {

using grad::Entries;

// ---- Shared helpers ----------------------------------------------------------------------------
// The node's parameters with `key` set to `value`.
grad::Params with(const NodePtr& n, const std::string& key, const std::string& value) {
  grad::Params p;
  for (const auto& kv : n->attrs->dict)
    if (kv.first != key) p.push_back(kv);
  p.emplace_back(key, value);
  return p;
}

// Type inference of ops on float data plus index-like inputs (Embedding's data, the sequence
// lengths) of any dtype: inputs in `idx` may have any dtype (the data's when unknown).
bool float_type_with_index(const char* op, std::vector<int>& in, std::vector<int>& out,
                           std::vector<size_t> idx) {
  auto is_idx = [&](size_t i) {
    for (size_t k : idx)
      if (k == i) return true;
    return false;
  };
  int t = -1;
  for (size_t i = 0; i < in.size(); ++i)
    if (!is_idx(i)) infer::assign_type(t, in[i], op, "inputs");
  for (int v : out) infer::assign_type(t, v, op, "outputs");
  if (t < 0) return false;
  if (!is_float(DType(t)))
    fail(BRASS_ERR_DTYPE, op, ": only floating-point data is supported, got ", dtype_name(DType(t)));
  for (size_t i = 0; i < in.size(); ++i)
    if (!is_idx(i) || in[i] < 0) in[i] = t;
  for (auto& v : out) v = t;
  return true;
}

bool float_type(const NodeAttrs& a, std::vector<int>& in, std::vector<int>& out) {
  return nn_dtype::same_float_type(a.op->name.c_str(), in, out);
}

bool all_known(const std::vector<Shape>& v) {
  for (const Shape& s : v)
    if (!s.known()) return false;
  return true;
}

// ---- Embedding ---------------------------------------------------------------------------------
bool embed_shape(const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
  const auto& p = a.param<EmbeddingParam>();
  infer::assign_shape(in[1], Shape{p.input_dim, p.output_dim}, "Embedding", "weight");
  if (!in[0].ndim_known()) return false;
  Shape o = in[0];
  o.push_back(p.output_dim);
  infer::assign_shape(out[0], o, "Embedding", "output");
  return in[0].known();
}

bool embed_type(const NodeAttrs& a, std::vector<int>& in, std::vector<int>& out) {
  int t = -1;
  infer::assign_type(t, in[1], "Embedding", "weight");
  infer::assign_type(t, out[0], "Embedding", "output");
  if (t < 0) t = int(a.param<EmbeddingParam>().dtype);
  if (!is_float(DType(t)))
    fail(BRASS_ERR_DTYPE, "Embedding: only floating-point weights are supported, got ",
         dtype_name(DType(t)));
  in[1] = out[0] = t;
  return in[0] >= 0;
}

#if BRASS_TRAINING
// _backward_Embedding(ograd, data) -> the weight's gradient.
bool embed_bwd_shape(const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
  const auto& p = a.param<EmbeddingParam>();
  infer::assign_shape(out[0], Shape{p.input_dim, p.output_dim}, "_backward_Embedding", "output");
  if (!in[1].ndim_known()) return false;
  Shape o = in[1];
  o.push_back(p.output_dim);
  infer::assign_shape(in[0], o, "_backward_Embedding", "ograd");
  return in[1].known();
}

bool embed_bwd_type(const NodeAttrs&, std::vector<int>& in, std::vector<int>& out) {
  return float_type_with_index("_backward_Embedding", in, out, {1});
}
#endif

// ---- UpSampling ----------------------------------------------------------------------------
int up_inputs(const UpSamplingParam& p) { return is_bilinear(p) ? 2 : int(p.num_args); }

bool up_shape(const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
  const auto& p = a.param<UpSamplingParam>();
  const char* op = "UpSampling";
  if (is_bilinear(p)) {
    if (!in[0].known()) return false;
    DeconvDims d = deconv_dims(p, in[0], op);
    infer::assign_shape(in[1], bilinear_weight_shape(d), op, "weight");
    infer::assign_shape(out[0], Shape{d.n, d.c, d.oh, d.ow}, op, "output");
    return true;
  }
  if (!all_known(in)) return false;
  infer::assign_shape(out[0], upsampling_nearest_shape(p, in, op), op, "output");
  return true;
}

#if BRASS_TRAINING
// _backward_UpSampling(ograd, forward inputs...) -> one gradient per forward input.
bool up_bwd_shape(const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
  for (size_t k = 0; k < out.size(); ++k) {
    infer::assign_shape(in[k + 1], out[k], "_backward_UpSampling", "input");
    infer::assign_shape(out[k], in[k + 1], "_backward_UpSampling", "output");
  }
  std::vector<Shape> fin(in.begin() + 1, in.end()), fout{in[0]};
  if (!up_shape(a, fin, fout)) return false;
  for (size_t k = 0; k < out.size(); ++k) out[k] = fin[k];
  infer::assign_shape(in[0], fout[0], "_backward_UpSampling", "ograd");
  return true;
}
#endif

Entries up_grad(const NodePtr& n, const Entries& g) {
  size_t m = n->inputs.size();
  if (g[0].empty()) return Entries(m);
  Entries ins{g[0]};
  for (size_t k = 0; k < m; ++k) ins.push_back(grad::in(n, k));
  NodePtr b = grad::node("_backward_UpSampling", ins, n->attrs->dict);
  Entries r;
  for (size_t k = 0; k < m; ++k) r.push_back(grad::out(b, uint32_t(k)));
  return r;
}

#if BRASS_TRAINING
// The gradient op is linear in ograd (and, for bilinear, bilinear in (ograd, data, weight)).
Entries up_bwd_grad(const NodePtr& n, const Entries& gg) {
  const auto& p = n->attrs->param<UpSamplingParam>();
  size_t m = gg.size();
  Entries r(m + 1);
  if (!is_bilinear(p)) {
    bool any = false;
    Entries parts;
    for (size_t k = 0; k < m; ++k) {
      any = any || !gg[k].empty();
      parts.push_back(gg[k].empty() ? grad::apply("zeros_like", {grad::in(n, k + 1)}) : gg[k]);
    }
    if (any) r[0] = grad::apply("UpSampling", parts, n->attrs->dict);
    return r;
  }
  NodeEntry g = grad::in(n, 0), x = grad::in(n, 1), w = grad::in(n, 2);
  const auto& dict = n->attrs->dict;
  if (!gg[0].empty()) {  // output 0 = D(g, w): linear in g and in w
    r[0] = grad::apply("UpSampling", {gg[0], w}, dict);
    r[2] = grad::apply("_backward_UpSampling", {g, gg[0], w}, dict, 1);
  }
  if (!gg[1].empty()) {  // output 1 = W(g, x): linear in g and in x
    NodeEntry t = grad::apply("UpSampling", {x, gg[1]}, dict);
    r[0] = r[0].empty() ? t : grad::add(r[0], t);
    r[1] = grad::apply("_backward_UpSampling", {g, x, gg[1]}, dict, 0);
  }
  return r;
}
#endif

// ---- Pad ---------------------------------------------------------------------------------------
bool pad_shape(const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
  if (!in[0].ndim_known()) return false;
  infer::assign_shape(out[0], pad_out_shape(a.param<PadParam>(), in[0], "Pad"), "Pad", "output");
  return in[0].known();
}

#if BRASS_TRAINING
// _backward_Pad(ograd) -> the data's gradient: ograd's shape less the padding.
bool pad_bwd_shape(const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
  const char* op = "_backward_Pad";
  const auto& p = a.param<PadParam>();
  if (out[0].ndim_known()) infer::assign_shape(in[0], pad_out_shape(p, out[0], op), op, "ograd");
  if (!in[0].ndim_known()) return false;
  Shape x = in[0];
  if (int64_t(p.pad_width.size()) != 2 * x.ndim()) pad_out_shape(p, x, op);  // reports it
  for (int d = 0; d < x.ndim(); ++d)
    if (x[d] >= 0) x[d] -= p.pad_width[size_t(2 * d)] + p.pad_width[size_t(2 * d + 1)];
  for (int d = 0; d < x.ndim(); ++d)
    if (in[0][d] >= 0 && x[d] < 0)
      fail(BRASS_ERR_SHAPE, op, ": ograd ", in[0].str(), " is smaller than the padding ",
           parse::tuple_str(p.pad_width));
  pad_out_shape(p, x, op);
  infer::assign_shape(out[0], x, op, "output");
  return out[0].known();
}
#endif

// ---- Crop --------------------------------------------------------------------------------------
bool crop_shape(const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
  const auto& p = a.param<CropParam>();
  if (!all_known(in)) return false;
  CropBox b = crop_box(p, in[0], p.num_args == 2 ? &in[1] : nullptr);
  infer::assign_shape(out[0], Shape{in[0][0], in[0][1], b.h, b.w}, "Crop", "output");
  return true;
}

#if BRASS_TRAINING
// _backward_Crop(ograd, data, [crop_like]) -> the data's gradient.
bool crop_bwd_shape(const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
  infer::assign_shape(out[0], in[1], "_backward_Crop", "output");
  infer::assign_shape(in[1], out[0], "_backward_Crop", "data");
  std::vector<Shape> fin(in.begin() + 1, in.end()), fout{in[0]};
  if (!crop_shape(a, fin, fout)) return false;
  infer::assign_shape(in[0], fout[0], "_backward_Crop", "ograd");
  return true;
}
#endif

bool crop_type(const NodeAttrs&, std::vector<int>& in, std::vector<int>& out) {
  return float_type_with_index("Crop", in, out, {1});
}

#if BRASS_TRAINING
bool crop_bwd_type(const NodeAttrs&, std::vector<int>& in, std::vector<int>& out) {
  return float_type_with_index("_backward_Crop", in, out, {2});
}
#endif

// ---- Sequence ops ------------------------------------------------------------------------------
int seq_inputs(const NodeAttrs& a) { return a.param<SequenceParam>().use_sequence_length ? 2 : 1; }

// The sequence_length input, when used, is (B): the data's batch extent.
void seq_len_shape(const NodeAttrs& a, std::vector<Shape>& in, size_t data, size_t len,
                   const char* op) {
  const auto& p = a.param<SequenceParam>();
  if (!p.use_sequence_length || !in[data].ndim_known()) return;
  seq_dims(p, in[data], op, false);
  infer::assign_shape(in[len], Shape{in[data][1 - int(p.axis)]}, op, "sequence_length");
}

template <bool kAxis0Only>
bool seq_same_shape(const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
  const char* op = a.op->name.c_str();
  infer::assign_shape(in[0], out[0], op, "data");
  infer::assign_shape(out[0], in[0], op, "output");
  if (in[0].ndim_known()) seq_dims(a.param<SequenceParam>(), in[0], op, kAxis0Only);
  seq_len_shape(a, in, 0, 1, op);
  return all_known(in);
}

bool seq_last_shape_fn(const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
  const auto& p = a.param<SequenceParam>();
  if (!in[0].ndim_known()) return false;
  seq_dims(p, in[0], "SequenceLast", false);
  seq_len_shape(a, in, 0, 1, "SequenceLast");
  infer::assign_shape(out[0], seq_last_shape(in[0], p.axis), "SequenceLast", "output");
  return all_known(in);
}

#if BRASS_TRAINING
// _backward_SequenceLast(ograd, data, [sequence_length]) -> the data's gradient.
bool seq_last_bwd_shape(const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
  const char* op = "_backward_SequenceLast";
  const auto& p = a.param<SequenceParam>();
  infer::assign_shape(out[0], in[1], op, "output");
  infer::assign_shape(in[1], out[0], op, "data");
  if (!in[1].ndim_known()) return false;
  seq_dims(p, in[1], op, false);
  seq_len_shape(a, in, 1, 2, op);
  infer::assign_shape(in[0], seq_last_shape(in[1], p.axis), op, "ograd");
  return all_known(in);
}
#endif

bool seq_type(const NodeAttrs& a, std::vector<int>& in, std::vector<int>& out) {
  return float_type_with_index(a.op->name.c_str(), in, out, {1});
}

#if BRASS_TRAINING
bool seq_bwd_type(const NodeAttrs& a, std::vector<int>& in, std::vector<int>& out) {
  return float_type_with_index(a.op->name.c_str(), in, out, {2});
}
#endif

// ograd's entries for the inputs (data, [sequence_length]) given data's gradient.
Entries seq_entries(const NodePtr& n, NodeEntry data_grad) {
  Entries r(n->inputs.size());
  r[0] = data_grad;
  return r;
}

// The op `name` applied to (x, [the node's sequence_length input]).
NodeEntry seq_apply(const char* name, const NodePtr& n, Entries head, size_t len_at,
                    grad::Params p) {
  if (n->inputs.size() > len_at) head.push_back(grad::in(n, len_at));
  return grad::apply(name, head, std::move(p));
}

// ---- GridGenerator and BilinearSampler -----------------------------------------------------------
bool grid_shape_fn(const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
  if (!in[0].known()) return false;
  const auto& p = a.param<GridGeneratorParam>();
  Shape g = grid_shape(p, in[0], "GridGenerator");
  infer::assign_shape(out[0], g, "GridGenerator", "output");
  infer::assign_shape(out[1], grid_dst_shape(p, g), "GridGenerator", "grid_dst");
  return true;
}

#if BRASS_TRAINING
// _backward_GridGenerator(ograd) -> the data's gradient: (N, 6) for affine, the flow's shape
// for warp.
bool grid_bwd_shape(const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
  const char* op = "_backward_GridGenerator";
  const auto& p = a.param<GridGeneratorParam>();
  if (out[0].known()) infer::assign_shape(in[0], grid_shape(p, out[0], op), op, "ograd");
  if (!in[0].known()) return false;
  if (in[0].ndim() != 4 || in[0][1] != 2)
    fail(BRASS_ERR_SHAPE, op, ": ograd must be (N, 2, H, W), got ", in[0].str());
  Shape x = p.transform_type == "affine" ? Shape{in[0][0], 6} : in[0];
  infer::assign_shape(in[0], grid_shape(p, x, op), op, "ograd");
  infer::assign_shape(out[0], x, op, "output");
  return true;
}
#endif

bool sampler_shape(const NodeAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) {
  if (!in[0].known() || !in[1].known()) return false;
  SamplerDims d = sampler_dims(in[0], in[1], "BilinearSampler");
  infer::assign_shape(out[0], Shape{d.n, d.c, d.oh, d.ow}, "BilinearSampler", "output");
  return true;
}

#if BRASS_TRAINING
// _backward_BilinearSampler(ograd, data, grid) -> (d data, d grid).
bool sampler_bwd_shape(const NodeAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) {
  const char* op = "_backward_BilinearSampler";
  infer::assign_shape(out[0], in[1], op, "output");
  infer::assign_shape(out[1], in[2], op, "output");
  if (!in[1].known() || !in[2].known()) return false;
  SamplerDims d = sampler_dims(in[1], in[2], op);
  infer::assign_shape(in[0], Shape{d.n, d.c, d.oh, d.ow}, op, "ograd");
  return true;
}
#endif

// ---- Registration ------------------------------------------------------------------------------
[[maybe_unused]] const bool kRegistered = [] {
  [[maybe_unused]] auto& R = OpRegistry::get();

#if BRASS_ALL_OPS || BRASS_OP_Embedding
  R.add("Embedding")
      .describe("Maps integer indices to rows of a weight (input_dim, output_dim): out[..., :] "
                "= weight[data[...], :]. Index values are truncated to integers and clipped "
                "to [0, input_dim - 1]; data may be of any dtype.\n\n"
                "    Embedding([0, 5, -1], weight 3x2, input_dim=3, output_dim=2) = weight[[0, 2, 0]]")
      .inputs({"data", "weight"}).params<EmbeddingParam>()
      .shape_fn(embed_shape).type_fn(embed_type).partial_infer()
      .add_req()
      .cpu(on_cpu<embedding_forward<CpuExec>>)
      .grad([](const NodePtr& n, const Entries& g) {
        if (g[0].empty()) return Entries(2);
        return Entries{NodeEntry{}, grad::apply("_backward_Embedding", {g[0], grad::in(n, 0)},
                                                n->attrs->dict)};
      });
#endif
#if BRASS_TRAINING
  R.add("_backward_Embedding")
      .describe("The gradient of Embedding's weight (inputs: ograd, data): row r sums the "
                "ograd rows whose index is r.")
      .inputs({"ograd", "data"}).params<EmbeddingParam>()
      .shape_fn(embed_bwd_shape).type_fn(embed_bwd_type).partial_infer()
      .add_req()
      .cpu(on_cpu<embedding_backward<CpuExec>>)
      .grad([](const NodePtr& n, const Entries& gg) {
        if (gg[0].empty()) return Entries(2);
        return Entries{grad::apply("Embedding", {grad::in(n, 1), gg[0]}, n->attrs->dict),
                       NodeEntry{}};
      });
#endif

#if BRASS_ALL_OPS || BRASS_OP_UpSampling
  R.add("UpSampling")
      .describe("Up-samples NCHW data. nearest: each pixel repeated scale x scale times; with "
                "several inputs (num_args), each is up-sampled to the size of the first times "
                "scale and the results are concatenated along the channels "
                "(multi_input_mode='concat') or added ('sum'). bilinear: a depthwise "
                "deconvolution with the weight input (num_filter channels, kernel 2*scale - "
                "scale % 2, stride scale, pad ceil((scale - 1) / 2)).\n\n"
                "    UpSampling([[[[1, 2]]]], scale=2, sample_type='nearest') = "
                "[[[[1, 1, 2, 2], [1, 1, 2, 2]]]]")
      // Bilinear: (data, weight) whatever num_args says (as MXNet); nearest: data alone, or
      // num_args inputs arg0, arg1, ... (MXNet's names).
      .inputs({"data", "weight"})
      .inputs_named([](const NodeAttrs& a) {
        const auto& p = a.param<UpSamplingParam>();
        if (is_bilinear(p)) return std::vector<std::string>{"data", "weight"};
        if (p.num_args == 1) return std::vector<std::string>{"data"};
        std::vector<std::string> n;
        for (int i = 0; i < int(p.num_args); ++i) n.push_back("arg" + std::to_string(i));
        return n;
      })
      .params<UpSamplingParam>()
      .shape_fn(up_shape).type_fn(float_type).partial_infer()
      .add_req()
      .cpu(on_cpu<upsampling_forward<CpuExec>>)
      .grad(up_grad);
#endif
#if BRASS_TRAINING
  R.add("_backward_UpSampling")
      .describe("The gradient of UpSampling (inputs: ograd, then the forward inputs; one "
                "gradient per forward input). nearest: sums of scale x scale blocks.")
      .set_num_inputs([](const NodeAttrs& a) { return 1 + up_inputs(a.param<UpSamplingParam>()); })
      .set_num_outputs([](const NodeAttrs& a) { return up_inputs(a.param<UpSamplingParam>()); })
      .params<UpSamplingParam>()
      .shape_fn(up_bwd_shape).type_fn(float_type).partial_infer()
      .add_req()
      .cpu(on_cpu<upsampling_backward<CpuExec>>)
      .grad(up_bwd_grad);
#endif

#if BRASS_ALL_OPS || BRASS_OP_Pad
  R.add("Pad").alias("pad")
      .describe("Pads 4-D or 5-D data along its spatial axes (the first 4 values of pad_width "
                "are 0): mode constant (constant_value), edge (the border value) or reflect "
                "(mirrored about the border).\n\n"
                "    Pad(x (1, 1, 1, 2) = [[[[1, 2]]]], mode='reflect', "
                "pad_width=(0,0,0,0,0,0,1,1)) = [[[[2, 1, 2, 1]]]]")
      .inputs({"data"}).params<PadParam>()
      .shape_fn(pad_shape).type_fn(float_type).partial_infer()
      .add_req()
      .cpu(on_cpu<pad_forward<CpuExec>>)
      .grad([](const NodePtr& n, const Entries& g) {
        if (g[0].empty()) return Entries(1);
        return Entries{grad::apply("_backward_Pad", {g[0]}, n->attrs->dict)};
      });
#endif
#if BRASS_TRAINING
  R.add("_backward_Pad")
      .describe("The gradient of Pad (input: ograd): each data element sums the ograd "
                "elements that copy it.")
      .inputs({"ograd"}).params<PadParam>()
      .shape_fn(pad_bwd_shape).type_fn(float_type).partial_infer()
      .add_req()
      .cpu(on_cpu<pad_backward<CpuExec>>)
      .grad([](const NodePtr& n, const Entries& gg) {
        if (gg[0].empty()) return Entries(1);
        return Entries{grad::apply("Pad", {gg[0]}, with(n, "constant_value", "0"))};
      });
#endif

#if BRASS_ALL_OPS || BRASS_OP_Crop
  R.add("Crop")
      .describe("Crops NCHW data to (h, w) at offset (y, x): h_w with one input, the "
                "height and width of the second input (crop_like) with two; center_crop "
                "centers the window (legacy MXNet op).\n\n"
                "    Crop(zeros((1, 1, 4, 5)), num_args=1, h_w=(2, 3)).shape = (1, 1, 2, 3)")
      .inputs({"data", "crop_like"})
      .set_num_inputs([](const NodeAttrs& a) { return int(a.param<CropParam>().num_args); })
      .params<CropParam>()
      .shape_fn(crop_shape).type_fn(crop_type).partial_infer()
      .add_req()
      .cpu(on_cpu<crop_forward<CpuExec>>)
      .grad([](const NodePtr& n, const Entries& g) {
        Entries r(n->inputs.size());
        if (g[0].empty()) return r;
        Entries ins{g[0]};
        for (const NodeEntry& e : n->inputs) ins.push_back(e);
        r[0] = grad::apply("_backward_Crop", ins, n->attrs->dict);
        return r;
      });
#endif
#if BRASS_TRAINING
  R.add("_backward_Crop")
      .describe("The gradient of Crop (inputs: ograd, data, [crop_like]): ograd in the "
                "window, zeros elsewhere.")
      .inputs({"ograd", "data", "crop_like"})
      .set_num_inputs([](const NodeAttrs& a) { return 1 + int(a.param<CropParam>().num_args); })
      .params<CropParam>()
      .shape_fn(crop_bwd_shape).type_fn(crop_bwd_type).partial_infer()
      .add_req()
      .cpu(on_cpu<crop_backward<CpuExec>>)
      .grad([](const NodePtr& n, const Entries& gg) {
        Entries r(n->inputs.size());
        if (gg[0].empty()) return r;
        Entries ins{gg[0]};
        if (n->inputs.size() > 2) ins.push_back(grad::in(n, 2));
        r[0] = grad::apply("Crop", ins, n->attrs->dict);
        return r;
      });
#endif

#if BRASS_ALL_OPS || BRASS_OP_SequenceMask
  R.add("SequenceMask")
      .describe("Sets the elements of each sequence past its length to value: data (T, B, "
                "...) with axis=0 or (B, T, ...) with axis=1, lengths from sequence_length "
                "(B) when use_sequence_length (else the identity).\n\n"
                "    SequenceMask(ones((3, 2)), [1, 2], use_sequence_length=True) = "
                "[[1, 1], [0, 1], [0, 0]]")
      .inputs({"data", "sequence_length"}).set_num_inputs(seq_inputs)
      .params<SequenceParam>()
      .shape_fn(seq_same_shape<false>).type_fn(seq_type).partial_infer()
      .add_req()
      .cpu(on_cpu<seq_mask_forward<CpuExec>>)
      .grad([](const NodePtr& n, const Entries& g) {
        if (g[0].empty()) return Entries(n->inputs.size());
        return seq_entries(n, seq_apply("SequenceMask", n, {g[0]}, 1, with(n, "value", "0")));
      });
#endif
#if BRASS_ALL_OPS || BRASS_OP_SequenceReverse
  R.add("SequenceReverse")
      .describe("Reverses the first length steps of each sequence (data (T, B, ...), axis 0); "
                "the steps past the length stay in place.\n\n"
                "    SequenceReverse([[1, 2], [3, 4], [5, 6]], [2, 3], use_sequence_length=True)"
                " = [[3, 6], [1, 4], [5, 2]]")
      .inputs({"data", "sequence_length"}).set_num_inputs(seq_inputs)
      .params<SequenceParam>()
      .shape_fn(seq_same_shape<true>).type_fn(seq_type).partial_infer()
      .add_req()
      .cpu(on_cpu<seq_reverse_forward<CpuExec>>)
      .grad([](const NodePtr& n, const Entries& g) {
        if (g[0].empty()) return Entries(n->inputs.size());
        return seq_entries(n, seq_apply("SequenceReverse", n, {g[0]}, 1, n->attrs->dict));
      });
#endif
#if BRASS_ALL_OPS || BRASS_OP_SequenceLast
  R.add("SequenceLast")
      .describe("The last step of each sequence: out[b, ...] = data[length[b] - 1, b, ...] "
                "(axis 0; axis 1: data[b, length[b] - 1, ...]); the full length without "
                "use_sequence_length. Lengths must lie in [1, T].\n\n"
                "    SequenceLast([[1, 2], [3, 4], [5, 6]], [1, 3], use_sequence_length=True)"
                " = [1, 6]")
      .inputs({"data", "sequence_length"}).set_num_inputs(seq_inputs)
      .params<SequenceParam>()
      .shape_fn(seq_last_shape_fn).type_fn(seq_type).partial_infer()
      .add_req()
      .cpu(on_cpu<seq_last_forward<CpuExec>>)
      .grad([](const NodePtr& n, const Entries& g) {
        if (g[0].empty()) return Entries(n->inputs.size());
        return seq_entries(n, seq_apply("_backward_SequenceLast", n, {g[0], grad::in(n, 0)}, 1,
                                        n->attrs->dict));
      });
#endif
#if BRASS_TRAINING
  R.add("_backward_SequenceLast")
      .describe("The gradient of SequenceLast (inputs: ograd, data, [sequence_length]): "
                "ograd at each sequence's last step, zeros elsewhere.")
      .inputs({"ograd", "data", "sequence_length"})
      .set_num_inputs([](const NodeAttrs& a) { return 1 + seq_inputs(a); })
      .params<SequenceParam>()
      .shape_fn(seq_last_bwd_shape).type_fn(seq_bwd_type).partial_infer()
      .add_req()
      .cpu(on_cpu<seq_last_backward<CpuExec>>)
      .grad([](const NodePtr& n, const Entries& gg) {
        Entries r(n->inputs.size());
        if (gg[0].empty()) return r;
        r[0] = seq_apply("SequenceLast", n, {gg[0]}, 2, n->attrs->dict);
        return r;
      });
#endif
#if BRASS_ALL_OPS || BRASS_OP_GridGenerator
  R.add("GridGenerator")
      .describe("Generates a sampling grid (N, 2, H, W) of normalized (x, y) source "
                "coordinates for BilinearSampler. affine: data (N, 6) holds 2x3 matrices "
                "applied to the target coordinates (x, y, 1), x = -1 + 2j / (W - 1), y = -1 + "
                "2i / (H - 1), (H, W) = target_shape; warp: data (N, 2, H, W) is a flow in "
                "pixels: x = (j + flow_x) / ((W - 1) / 2) - 1, likewise y. A hidden second "
                "output holds the target coordinates (grid_dst, as MXNet).\n\n"
                "    GridGenerator([[1, 0, 0, 0, 1, 0]], transform_type='affine', "
                "target_shape=(2, 2))[0, 0] = [[-1, 1], [-1, 1]]")
      .inputs({"data"}).set_num_outputs(2).visible_outputs(1)
      .outputs_named({"output", "grid_dst"})
      .params<GridGeneratorParam>()
      .shape_fn(grid_shape_fn).type_fn(float_type).partial_infer()
      .add_req()
      .cpu(on_cpu<grid_forward<CpuExec>>)
      .grad([](const NodePtr& n, const Entries& g) {
        // grid_dst does not depend on the data: its gradient goes nowhere.
        if (g[0].empty()) return Entries(1);
        return Entries{grad::apply("_backward_GridGenerator", {g[0]}, n->attrs->dict)};
      });
#endif
#if BRASS_TRAINING
  R.add("_backward_GridGenerator")
      .describe("The gradient of GridGenerator (input: ograd): affine, the sums of ograd "
                "times the target coordinates; warp, ograd / ((extent - 1) / 2).")
      .inputs({"ograd"}).params<GridGeneratorParam>()
      .shape_fn(grid_bwd_shape).type_fn(float_type).partial_infer()
      .add_req()
      .cpu(on_cpu<grid_backward<CpuExec>>)
      .grad([](const NodePtr& n, const Entries& gg) {
        // Linear in ograd: affine, the forward map itself; warp, a diagonal scaling.
        if (gg[0].empty()) return Entries(1);
        bool affine = n->attrs->param<GridGeneratorParam>().transform_type == "affine";
        return Entries{grad::apply(affine ? "GridGenerator" : "_backward_GridGenerator", {gg[0]},
                                   n->attrs->dict)};
      });
#endif

#if BRASS_ALL_OPS || BRASS_OP_BilinearSampler
  R.add("BilinearSampler")
      .describe("Samples data (N, C, H, W) at the normalized grid (N, 2, OH, OW) points by "
                "bilinear interpolation: x = (grid_x + 1) (W - 1) / 2, y likewise; pixels "
                "outside the data count as zeros. Output (N, C, OH, OW).")
      .inputs({"data", "grid"}).params<BilinearSamplerParam>()
      .shape_fn(sampler_shape).type_fn(float_type).partial_infer()
      .add_req()
      .cpu(on_cpu<sampler_forward<CpuExec>>)
      .grad([](const NodePtr& n, const Entries& g) {
        if (g[0].empty()) return Entries(2);
        NodePtr b = grad::node("_backward_BilinearSampler", {g[0], grad::in(n, 0), grad::in(n, 1)},
                               n->attrs->dict);
        return Entries{grad::out(b, 0), grad::out(b, 1)};
      });
#endif
#if BRASS_TRAINING
  // No gradient of its own (the grid gradient is piecewise in the grid): BilinearSampler has
  // no second derivative.
  R.add("_backward_BilinearSampler")
      .describe("The gradient of BilinearSampler (inputs: ograd, data, grid; outputs: the "
                "gradients of data and grid), as gathers.")
      .inputs({"ograd", "data", "grid"}).set_num_outputs(2).params<BilinearSamplerParam>()
      .shape_fn(sampler_bwd_shape).type_fn(float_type).partial_infer()
      .add_req()
      .cpu(on_cpu<sampler_backward<CpuExec>>);
#endif
  return true;
}();

}  // namespace spatial_ops
}  // namespace brass
