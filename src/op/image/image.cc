// MXNet 1.x's image operators (mx.nd.image.*, what gluon.data.vision.transforms runs):
// _image_to_tensor, _image_normalize, _image_resize, _image_crop, _image_flip_left_right,
// _image_flip_top_bottom, _image_random_flip_left_right, _image_random_flip_top_bottom,
// _image_random_brightness, _image_random_contrast, and the gradient ops
// _backward_image_to_tensor, _backward_image_crop, _backward_image_resize. The kernels and
// the host logic live in image_params.h, shared with cuda/image.cu; this file registers the
// ops with their shape and type inference, the CPU executor and the gradients. The
// deterministic ops are linear in their data, so each gradient op's gradient is the forward
// op (derivatives of any order compose); the random ops have no gradient.
#include <string>
#include <utility>
#include <vector>

#include "op/cpu_exec.h"
#include "op/grad.h"
#include "op/image/image_params.h"
#include "op/nn/nn_dtype.h"
#include "op/operator.h"

namespace brass {
namespace image_ops {

using grad::Entries;

// ---- Inference ----------------------------------------------------------------------------------
// out[0] = f(in[0]) once in[0] is known.
template <Shape (*F)(const NodeAttrs&, const Shape&, const char*)>
bool unary_shape(const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
  if (!in[0].known()) return false;
  const char* op = a.op->name.c_str();
  infer::assign_shape(out[0], F(a, in[0], op), op, "output");
  return true;
}

Shape to_tensor_shape_of(const NodeAttrs&, const Shape& x, const char* op) {
  return to_tensor_shape(x, op);
}
Shape normalize_shape_of(const NodeAttrs& a, const Shape& x, const char* op) {
  normalize_dims(a.param<NormalizeParam>(), x, op);
  return x;
}
Shape resize_shape_of(const NodeAttrs& a, const Shape& x, const char* op) {
  return resize_out_shape(a.param<ResizeParam>(), x, op);
}
Shape crop_shape_of(const NodeAttrs& a, const Shape& x, const char* op) {
  return crop_out_shape(a.param<CropParam>(), x, op);
}
Shape image_shape_of(const NodeAttrs&, const Shape& x, const char* op) {
  hwc_dims(x, op);
  return x;
}
template <bool kContrast>
Shape enhance_shape_of(const NodeAttrs& a, const Shape& x, const char* op) {
  check_factors(a.param<RandomEnhanceParam>(), op);
  Dims d = hwc_dims(x, op);
  if (kContrast) check_contrast_channels(d, x, op);
  return x;
}

// A gradient op (ograd, data) -> the data's gradient: the output has data's shape, and ograd
// the shape `F` gives for data.
template <Shape (*F)(const NodeAttrs&, const Shape&, const char*)>
bool backward_shape(const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
  const char* op = a.op->name.c_str();
  infer::assign_shape(out[0], in[1], op, "output");
  infer::assign_shape(in[1], out[0], op, "data");
  if (!in[1].known()) return false;
  infer::assign_shape(in[0], F(a, in[1], op), op, "ograd");
  return in[0].known();
}

// Which data dtypes an op takes: ok(t), and what in words.
struct AllDTypes {
  static bool ok(DType) { return true; }
  static const char* what() { return ""; }
};
struct NumericDType {
  static bool ok(DType t) { return t != DType::kBool; }
  static const char* what() { return "any dtype but bool"; }
};
struct ResizeDType {
  static bool ok(DType t) { return t == DType::kUint8 || is_float(t); }
  static const char* what() { return "uint8 or floating point"; }
};

// Every input and output of one dtype, one that Rule takes.
template <class Rule>
bool same_type_of(const NodeAttrs& a, std::vector<int>& in, std::vector<int>& out) {
  if (!infer::same_type(a, in, out)) return false;
  if (!Rule::ok(DType(out[0])))
    fail(BRASS_ERR_DTYPE, a.op->name, ": data of dtype ", dtype_name(DType(out[0])),
         " is not supported (", Rule::what(), ")");
  return true;
}

bool float_type(const NodeAttrs& a, std::vector<int>& in, std::vector<int>& out) {
  return nn_dtype::same_float_type(a.op->name.c_str(), in, out);
}

bool to_tensor_type(const NodeAttrs& a, std::vector<int>& in, std::vector<int>& out) {
  infer::assign_type(out[0], int(DType::kFloat32), a.op->name.c_str(), "output");
  if (in[0] == int(DType::kBool))
    fail(BRASS_ERR_DTYPE, a.op->name, ": data of dtype bool is not supported");
  return in[0] >= 0;
}

// (ograd, data) -> the data's gradient in data's dtype; ograd of data's dtype (kTied) or of
// any floating type.
template <bool kTied>
bool backward_type(const NodeAttrs& a, std::vector<int>& in, std::vector<int>& out) {
  const char* op = a.op->name.c_str();
  infer::assign_type(out[0], in[1], op, "output");
  infer::assign_type(in[1], out[0], op, "data");
  if (kTied) {
    infer::assign_type(in[0], out[0], op, "ograd");
    infer::assign_type(out[0], in[0], op, "ograd");
    infer::assign_type(in[1], out[0], op, "data");
  }
  if (in[0] >= 0 && !is_float(DType(in[0])))
    fail(BRASS_ERR_DTYPE, op, ": ograd must be floating point, got ", dtype_name(DType(in[0])));
  return in[0] >= 0 && in[1] >= 0;
}

size_t draws_temp(const NodeAttrs&, const std::vector<TBlob>& in, const std::vector<TBlob>&) {
  return random_temp_bytes(in[0].shape, false);
}
size_t contrast_temp(const NodeAttrs&, const std::vector<TBlob>& in, const std::vector<TBlob>&) {
  return random_temp_bytes(in[0].shape, true);
}

// ---- Gradients ----------------------------------------------------------------------------------
// The op `name` on ograd with the node's parameters: the gradient of an op that is its own
// adjoint (the flips).
Entries self_adjoint(const char* name, const NodePtr& n, const Entries& g) {
  if (g[0].empty()) return Entries(1);
  return Entries{grad::apply(name, {g[0]}, n->attrs->dict)};
}

// The gradient op `name`(ograd, data) for the data; nothing for ograd's own role.
Entries via_backward(const char* name, const NodePtr& n, const Entries& g) {
  if (g[0].empty()) return Entries(1);
  return Entries{grad::apply(name, {g[0], grad::in(n, 0)}, n->attrs->dict)};
}

#if BRASS_TRAINING
// The gradient of a gradient op (ograd, data): its adjoint, the forward op `name`, applied to
// the head gradient (cast to ograd's dtype); data only lends its shape.
Entries forward_of(const char* name, const NodePtr& n, const Entries& gg, bool cast) {
  if (gg[0].empty()) return Entries(2);
  NodeEntry f = grad::apply(name, {gg[0]}, n->attrs->dict);
  if (cast) f = grad::apply("_cast_like", {f, grad::in(n, 0)});
  return Entries{f, NodeEntry{}};
}
#endif

// ---- Registration -------------------------------------------------------------------------------
// _image_flip_<dir> and _image_random_flip_<dir>; `dir` in words, an example of the flip.
template <bool kLeftRight>
void register_flip(OpRegistry& R, const std::string& dir, const std::string& example) {
  using F = Flip<kLeftRight>;
  R.add(F::name())
      .inputs({"data"})
      .shape_fn(unary_shape<image_shape_of>).type_fn(same_type_of<AllDTypes>)
      .describe("Flips an image (H, W, C) or every image of a batch (N, H, W, C) " + dir + ".\n\n    " +
                example)
      .cpu(on_cpu<F::template forward<CpuExec>>)
      .grad([](const NodePtr& n, const Entries& g) { return self_adjoint(F::name(), n, g); });
}

template <bool kLeftRight>
void register_random_flip(OpRegistry& R, const std::string& dir) {
  using F = Flip<kLeftRight>;
  R.add(F::random_name())
      .inputs({"data"})
      .shape_fn(unary_shape<image_shape_of>).type_fn(same_type_of<AllDTypes>)
      .describe("Flips an image (H, W, C), or each image of a batch (N, H, W, C) on its own "
                "draw, " + dir + " with probability 1/2 (the seeded generator: "
                "mx.random.seed). No gradient.")
      .random().temp(draws_temp)
      .cpu(on_cpu<F::template random_forward<CpuExec>>);
}

// A linear op name(data) whose gradient is its adjoint backward(ograd, data), and the adjoint,
// whose gradient is the op again (cast to ograd's dtype when `cast`). P: the parameters (void:
// none); S: the output shape for data.
template <class P, Shape (*S)(const NodeAttrs&, const Shape&, const char*)>
void register_linear(OpRegistry& R, const char* name, const char* backward, const std::string& doc,
                     TypeFn type, ComputeFn cpu) {
  Op& f = R.add(name).describe(doc).inputs({"data"}).shape_fn(unary_shape<S>).type_fn(type).cpu(cpu);
  if constexpr (!std::is_void<P>::value) f.params<P>();
  f.grad([backward](const NodePtr& n, const Entries& g) { return via_backward(backward, n, g); });
}

#if BRASS_TRAINING
template <class P, Shape (*S)(const NodeAttrs&, const Shape&, const char*)>
void register_adjoint(OpRegistry& R, const char* backward, const char* name, const std::string& doc,
                      TypeFn type, ComputeFn cpu, bool cast) {
  Op& b = R.add(backward).describe(doc).inputs({"ograd", "data"})
              .shape_fn(backward_shape<S>).type_fn(type).cpu(cpu);
  if constexpr (!std::is_void<P>::value) b.params<P>();
  b.grad([name, cast](const NodePtr& n, const Entries& gg) { return forward_of(name, n, gg, cast); });
}
#endif

// _image_random_brightness or _image_random_contrast.
template <bool kContrast>
void register_enhance(OpRegistry& R, const char* doc) {
  Op& op = R.add(Enhance<kContrast>::name());
  op.describe(doc)
      .inputs({"data"}).params<RandomEnhanceParam>()
      .shape_fn(unary_shape<enhance_shape_of<kContrast>>).type_fn(same_type_of<NumericDType>)
      .inplace_pairs({{0, 0}})
      .random().temp(kContrast ? contrast_temp : draws_temp)
      .cpu(on_cpu<Enhance<kContrast>::template forward<CpuExec>>);
}

[[maybe_unused]] const bool kRegistered = [] {
  [[maybe_unused]] auto& R = OpRegistry::get();

#if BRASS_ALL_OPS || BRASS_OP_image_to_tensor
  register_linear<void, to_tensor_shape_of>(
      R, "_image_to_tensor", "_backward_image_to_tensor",
      "Converts an image (H, W, C) or a batch (N, H, W, C) of any numeric dtype (uint8 images in "
      "[0, 255]) to float32 (C, H, W) or (N, C, H, W), divided by 255.\n\n"
      "    _image_to_tensor([[[0, 255]]] (uint8, 1x1x2)) = [[[0]], [[1]]]",
      to_tensor_type, on_cpu<to_tensor_forward<CpuExec>>);
#endif
#if BRASS_TRAINING
  register_adjoint<void, to_tensor_shape_of>(
      R, "_backward_image_to_tensor", "_image_to_tensor",
      "The gradient of _image_to_tensor (inputs: ograd, data): ograd moved back to the data's "
      "layout, divided by 255, in the data's dtype.",
      backward_type<false>, on_cpu<to_tensor_backward<CpuExec>>, true);
#endif

#if BRASS_ALL_OPS || BRASS_OP_image_normalize
  R.add("_image_normalize")
      .describe("Normalizes a tensor (C, H, W) or a batch (N, C, H, W) per channel: out = (data - "
                "mean[c]) / std[c]; one mean or std value serves every channel. Floating-point "
                "data (after to_tensor).\n\n"
                "    _image_normalize([[[1, 3]], [[2, 6]]], mean=(1, 2), std=(2, 4)) = "
                "[[[0, 1]], [[0, 1]]]")
      .inputs({"data"}).params<NormalizeParam>()
      .shape_fn(unary_shape<normalize_shape_of>).type_fn(float_type)
      .inplace_pairs({{0, 0}})
      .cpu(on_cpu<normalize_forward<CpuExec>>)
      .grad([](const NodePtr& n, const Entries& g) {
        // Linear: the gradient is ograd / std, i.e. the op with mean 0.
        if (g[0].empty()) return Entries(1);
        grad::Params p;
        for (const auto& kv : n->attrs->dict)
          if (kv.first != "mean") p.push_back(kv);
        p.emplace_back("mean", "(0,)");
        return Entries{grad::apply("_image_normalize", {g[0]}, p)};
      });
#endif

#if BRASS_ALL_OPS || BRASS_OP_image_resize
  register_linear<ResizeParam, resize_shape_of>(
      R, "_image_resize", "_backward_image_resize",
      "Resizes an image (H, W, C) or a batch (N, H, W, C) of uint8 or floating-point data to size "
      "(width, height), or to a square, or (keep_ratio) with its short side at size, as OpenCV's "
      "cv::resize (MXNet's CPU operator): interp 0 nearest neighbour (source pixel floor(o * in / "
      "out)), 1 bilinear with half-pixel centres, uint8 in OpenCV's 11-bit fixed point, so results "
      "match it bit for bit.\n\n"
      "    _image_resize(ones((4, 6, 3)), size=(3, 2)).shape = (2, 3, 3)",
      same_type_of<ResizeDType>, on_cpu<resize_forward<CpuExec>>);
#endif
#if BRASS_TRAINING
  register_adjoint<ResizeParam, resize_shape_of>(
      R, "_backward_image_resize", "_image_resize",
      "The gradient of _image_resize (inputs: ograd, data; floating point): each data pixel sums "
      "the ograd of the outputs that read it, times their weights.",
      float_type, on_cpu<resize_backward<CpuExec>>, false);
#endif

#if BRASS_ALL_OPS || BRASS_OP_image_crop
  register_linear<CropParam, crop_shape_of>(
      R, "_image_crop", "_backward_image_crop",
      "Crops an image (H, W, C) or every image of a batch (N, H, W, C) to the window of width x "
      "height at column x, row y; the window must lie inside the image.\n\n"
      "    _image_crop(zeros((4, 5, 3)), x=1, y=2, width=3, height=2).shape = (2, 3, 3)",
      same_type_of<AllDTypes>, on_cpu<crop_forward<CpuExec>>);
#endif
#if BRASS_TRAINING
  register_adjoint<CropParam, crop_shape_of>(
      R, "_backward_image_crop", "_image_crop",
      "The gradient of _image_crop (inputs: ograd, data): ograd inside the window, 0 elsewhere.",
      backward_type<true>, on_cpu<crop_backward<CpuExec>>, false);
#endif

#if BRASS_ALL_OPS || BRASS_OP_image_flip_left_right
  register_flip<true>(R, "left to right", "_image_flip_left_right([[[1], [2], [3]]]) = [[[3], [2], [1]]]");
#endif
#if BRASS_ALL_OPS || BRASS_OP_image_random_flip_left_right
  register_random_flip<true>(R, "left to right");
#endif
#if BRASS_ALL_OPS || BRASS_OP_image_flip_top_bottom
  register_flip<false>(R, "top to bottom", "_image_flip_top_bottom([[[1]], [[2]]]) = [[[2]], [[1]]]");
#endif
#if BRASS_ALL_OPS || BRASS_OP_image_random_flip_top_bottom
  register_random_flip<false>(R, "top to bottom");
#endif

#if BRASS_ALL_OPS || BRASS_OP_image_random_brightness
  register_enhance<false>(
      R, "Scales an image (H, W, C), or each image of a batch (N, H, W, C), by a factor uniform in "
         "[min_factor, max_factor) (one draw per image, from the seeded generator): out = data * "
         "factor, computed in float; integer data is clamped to its range and truncated (uint8: "
         "MXNet's saturate_cast). No gradient.");
#endif
#if BRASS_ALL_OPS || BRASS_OP_image_random_contrast
  register_enhance<true>(
      R, "Changes the contrast of an image (H, W, C) with 1 or 3 channels, or of each image of a "
         "batch, by a factor uniform in [min_factor, max_factor) (one draw per image): out = data "
         "* factor + (1 - factor) * gray, gray the image's mean luminance (0.299 R + 0.587 G + "
         "0.114 B; with one channel its mean); integer data clamped and truncated as in "
         "_image_random_brightness. No gradient.");
#endif
  return true;
}();

}  // namespace image_ops
}  // namespace brass
