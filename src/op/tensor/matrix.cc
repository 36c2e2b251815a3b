// Shape and layout operators: transpose, Reshape, Flatten, expand_dims, squeeze, reshape_like,
// Concat, stack, SliceChannel, slice, slice_axis, slice_like, SwapAxis, tile, repeat, reverse,
// broadcast_to, broadcast_like, clip, add_n; their gradients, and the ops those need
// (_backward_Concat, _backward_slice*, _backward_tile, _backward_repeat).
#include <cmath>
#include <cstring>
#include <numeric>

#include "kernel/cast.h"
#include "kernel/elemwise.h"
#include "kernel/transpose.h"
#include "op/grad.h"
#include "op/operator.h"
#include "op/tensor/elemwise_binary_functors.h"
#include "op/tensor/matrix_params.h"

namespace brass {
namespace matrix_ops {

using Kernel = ComputeFn;
using In = std::vector<TBlob>;

void copy_out(const OpContext& c, const In& in, const In& out) {
  if (c.req[0] == Req::kAdd) return kernel::add_flat(in[0], out[0]);
  if (c.req[0] == Req::kNull || in[0].dptr == out[0].dptr) return;
  std::memcpy(out[0].dptr, in[0].dptr, size_t(in[0].size()) * dtype_size(in[0].dtype));
}

template <class P, std::vector<int> (*Perm)(const P&, int)>
void reg_permute(const char* name, const char* alias, const char* doc, GradFn grad) {
  Op& op = OpRegistry::get().add(name).describe(doc).inputs({"data"}).params<P>()
      .shape_fn([](const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
        if (!in[0].ndim_known()) return false;
        auto p = Perm(a.param<P>(), in[0].ndim());
        Shape s(in[0].ndim());
        for (int i = 0; i < s.ndim(); ++i) s[i] = in[0][p[i]];
        infer::assign_shape(out[0], s, a.op->name.c_str(), "output");
        return s.known();
      })
      .type_fn(infer::same_type)
      .cpu([](const OpContext& c, const In& in, const In& out) {
        if (c.req[0] == Req::kNull) return;
        kernel::transpose(in[0], out[0], Perm(c.param<P>(), in[0].shape.ndim()));
      })
      .grad(std::move(grad));
  if (alias) op.alias(alias);
}

// Copies blocks: out viewed as (outer, sum of mids, inner), input i as (outer, mid_i, inner).
void concat_blocks(const In& in, const TBlob& out, int axis) {
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < axis; ++i) outer *= out.shape[i];
  for (int i = axis + 1; i < out.shape.ndim(); ++i) inner *= out.shape[i];
  size_t es = dtype_size(out.dtype);
  int64_t total = out.shape.ndim() ? out.shape[axis] : 1;
  int64_t grain = std::max<int64_t>(1, kernel::kGrain / std::max<int64_t>(1, total * inner));
  thread_pool::parallel_for(outer, grain, [&](int64_t b, int64_t e) {
    for (int64_t o = b; o < e; ++o) {
      char* dst = static_cast<char*>(out.dptr) + size_t(o * total * inner) * es;
      for (auto& t : in) {
        int64_t mid = t.shape.ndim() ? t.shape[axis] : 1;
        size_t n = size_t(mid * inner) * es;
        std::memcpy(dst, static_cast<const char*>(t.dptr) + o * n, n);
        dst += n;
      }
    }
  });
}

// Copies region r of `in` (begin + step * k per axis) to `out`, contiguous in the region's
// order; scatter: the other way, `out`'s region r from the contiguous `in`.
void strided_copy(const TBlob& in, const TBlob& out, const std::vector<SliceRange>& r,
                  bool scatter = false) {
  const TBlob& full = scatter ? out : in;
  int nd = full.shape.ndim();
  int64_t n = scatter ? in.size() : out.size();
  if (n == 0) return;
  size_t es = dtype_size(in.dtype);
  std::vector<int64_t> st(nd, 1);
  for (int d = nd - 2; d >= 0; --d) st[d] = st[d + 1] * full.shape[d + 1];
  int64_t inner = nd ? r[nd - 1].len : 1;
  int64_t outer = n / inner;
  int64_t grain = std::max<int64_t>(1, 16384 / inner);
  thread_pool::parallel_for(outer, grain, [&](int64_t ob, int64_t oe) {
    for (int64_t o = ob; o < oe; ++o) {
      int64_t rem = o, off = 0;
      for (int d = nd - 2; d >= 0; --d) {
        int64_t idx = rem % r[d].len;
        rem /= r[d].len;
        off += (r[d].begin + idx * r[d].step) * st[d];
      }
      int64_t b = nd ? r[nd - 1].begin : 0, s = nd ? r[nd - 1].step : 1;
      if (scatter) {
        const char* src = static_cast<const char*>(in.dptr) + size_t(o * inner) * es;
        char* dst = static_cast<char*>(out.dptr);
        if (s == 1) {
          std::memcpy(dst + size_t(off + b) * es, src, size_t(inner) * es);
        } else {
          for (int64_t i = 0; i < inner; ++i)
            std::memcpy(dst + size_t(off + b + i * s) * es, src + i * es, es);
        }
        continue;
      }
      const char* src = static_cast<const char*>(in.dptr);
      char* dst = static_cast<char*>(out.dptr) + size_t(o * inner) * es;
      if (s == 1) {
        std::memcpy(dst, src + size_t(off + b) * es, size_t(inner) * es);
      } else {
        for (int64_t i = 0; i < inner; ++i)
          std::memcpy(dst + i * es, src + size_t(off + b + i * s) * es, es);
      }
    }
  });
}

// Generic gather: out element at multi-index o reads in at map(o) per axis.
template <class MapFn>
void gather_axes(const TBlob& in, const TBlob& out, MapFn map) {
  int nd = out.shape.ndim();
  int64_t n = out.size();
  if (n == 0) return;
  size_t es = dtype_size(in.dtype);
  std::vector<int64_t> st(nd, 1);
  for (int d = nd - 2; d >= 0; --d) st[d] = st[d + 1] * in.shape[d + 1];
  thread_pool::parallel_for(n, 16384, [&](int64_t b, int64_t e) {
    std::vector<int64_t> idx(nd);
    for (int64_t o = b; o < e; ++o) {
      int64_t rem = o, off = 0;
      for (int d = nd - 1; d >= 0; --d) {
        idx[d] = rem % out.shape[d];
        rem /= out.shape[d];
        off += map(d, idx[d]) * st[d];
      }
      std::memcpy(static_cast<char*>(out.dptr) + size_t(o) * es,
                  static_cast<const char*>(in.dptr) + size_t(off) * es, es);
    }
  });
}

Shape concat_shape(int dim, const std::vector<Shape>& in) {
  const Shape& s0 = in[0];
  int ax = normalize_axis(dim, s0.ndim(), "Concat");
  Shape o = s0;
  for (size_t i = 1; i < in.size(); ++i) {
    if (in[i].ndim() != s0.ndim())
      fail(BRASS_ERR_SHAPE, "Concat: input ", i, " has shape ", in[i], ", input 0 ", s0);
    for (int d = 0; d < s0.ndim(); ++d)
      if (d != ax && in[i][d] != s0[d])
        fail(BRASS_ERR_SHAPE, "Concat: input ", i, " has shape ", in[i], ", incompatible with ",
             s0, " along dim ", ax);
    o[ax] += in[i][ax];
  }
  return o;
}

Shape tile_shape(const Shape& s, const TileParam& p) {
  const Tuple& reps = p.reps;
  int nd = std::max(s.ndim(), int(reps.size()));
  Shape o(nd);
  for (int i = 0; i < nd; ++i) {
    int ia = s.ndim() - nd + i, ir = int(reps.size()) - nd + i;
    int64_t d = ia >= 0 ? s[ia] : 1, r = ir >= 0 ? reps[ir] : 1;
    if (r < 0)
      fail(BRASS_ERR_INVALID_ARGUMENT, "tile: negative repetition in ", parse::tuple_str(reps));
    o[i] = d * r;
  }
  return o;
}

Shape repeat_shape(const Shape& s, const RepeatParam& p) {
  if (!p.axis) return Shape{s.size() * p.repeats};
  Shape o = s;
  int ax = normalize_axis(*p.axis, o.ndim(), "repeat");
  o[ax] *= p.repeats;
  return o;
}

ShapeFn fixed_shape(std::function<Shape(const NodeAttrs&, const std::vector<Shape>&)> f) {
  return [f](const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
    for (auto& s : in) if (!s.known()) return false;
    infer::assign_shape(out[0], f(a, in), a.op->name.c_str(), "output");
    return true;
  };
}

// Reshape's output from its input; also, as MXNet, the input from a known output when the
// input's rank is known and a single extent of it is not (a weight whose input size is
// inferred from a flattened parameter vector).
bool reshape_shape(const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
  const auto& p = a.param<ReshapeParam>();
  if (!in[0].known() && in[0].ndim_known() && out[0].known()) {
    int unknown = -1;
    int64_t rest = 1;
    for (int i = 0; i < in[0].ndim(); ++i) {
      if (in[0][i] >= 0) { rest *= in[0][i]; continue; }
      if (unknown >= 0) return false;  // two unknown extents: not determined
      unknown = i;
    }
    int64_t total = out[0].size();
    if (rest == 0 || total % rest != 0)
      fail(BRASS_ERR_SHAPE, "Reshape: the output ", out[0], " has ", total,
           " elements, which the input ", in[0], " cannot hold");
    in[0][unknown] = total / rest;
  }
  if (!in[0].known()) return false;
  infer::assign_shape(out[0], infer_reshape(in[0], p.shape, p.reverse), "Reshape", "output");
  return true;
}

#if BRASS_TRAINING
// ---- Gradient ops ---------------------------------------------------------------------------
// They take the output gradient first and the forward input(s) whose shape they restore;
// the result has the output gradient's dtype.
bool grad_type(const NodeAttrs& a, std::vector<int>& in, std::vector<int>& out) {
  const char* op = a.op->name.c_str();
  for (int& o : out) infer::assign_type(o, in[0], op, "output");
  for (int o : out) infer::assign_type(in[0], o, op, "ograd");
  for (int t : in) if (t < 0) return false;
  return true;
}

// Output 0 has the shape of input `like`; the output gradient (input 0) must have the shape
// Fwd gives for it.
template <int like, Shape (*Fwd)(const NodeAttrs&, const std::vector<Shape>& in)>
bool grad_shape(const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
  const char* op = a.op->name.c_str();
  infer::assign_shape(out[0], in[like], op, "output");
  infer::assign_shape(in[like], out[0], op, "data");
  for (size_t i = 1; i < in.size(); ++i) if (!in[i].known()) return false;
  infer::assign_shape(in[0], Fwd(a, in), op, "ograd (the forward output's shape)");
  return in[0].known();
}

template <std::vector<SliceRange> (*Ranges)(const NodeAttrs&, const Shape&, const Shape&)>
Shape slice_grad_fwd(const NodeAttrs& a, const std::vector<Shape>& in) {
  return ranges_shape(Ranges(a, in[0], in[1]));
}

// _backward_slice_like: ograd's shape is the region itself.
bool slice_like_grad_shape(const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
  infer::assign_shape(out[0], in[1], "_backward_slice_like", "output");
  infer::assign_shape(in[1], out[0], "_backward_slice_like", "data");
  if (!in[0].known() || !in[1].known()) return false;
  slice_like_grad_ranges(a, in[0], in[1]);  // validates
  return true;
}

// The slice gradients: zeros of data's shape with ograd in the region.
template <std::vector<SliceRange> (*Ranges)(const NodeAttrs&, const Shape&, const Shape&)>
void slice_grad_cpu(const OpContext& c, const In& in, const In& out) {
  if (c.req[0] == Req::kNull) return;
  std::vector<SliceRange> r = Ranges(*c.attrs, in[0].shape, in[1].shape);
  std::memset(out[0].dptr, 0, size_t(out[0].size()) * dtype_size(out[0].dtype));
  strided_copy(in[0], out[0], r, true);
}

// _backward_Concat(ograd, x_0, ..., x_{n-1}): output k is the part of ograd that x_k filled.
bool concat_grad_shape(const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
  for (size_t k = 0; k < out.size(); ++k) {
    infer::assign_shape(out[k], in[k + 1], "_backward_Concat", "output");
    infer::assign_shape(in[k + 1], out[k], "_backward_Concat", "input");
  }
  for (size_t i = 1; i < in.size(); ++i) if (!in[i].known()) return false;
  std::vector<Shape> xs(in.begin() + 1, in.end());
  infer::assign_shape(in[0], concat_shape(a.param<ConcatParam>().dim, xs), "_backward_Concat",
                      "ograd (the forward output's shape)");
  return in[0].known();
}

void concat_grad_cpu(const OpContext& c, const In& in, const In& out) {
  const TBlob& g = in[0];
  int ax = normalize_axis(c.param<ConcatParam>().dim, g.shape.ndim(), "Concat");
  int64_t begin = 0;
  for (size_t k = 0; k < out.size(); ++k) {
    int64_t len = in[k + 1].shape[ax];
    if (c.req[k] != Req::kNull) strided_copy(g, out[k], concat_part_ranges(g.shape, ax, begin, len));
    begin += len;
  }
}

// _backward_tile / _backward_repeat: each input element sums the copies of it (in the compute
// type, copies in row-major order: the CUDA kernel adds in the same order).
template <BlockSumPlan (*Plan)(const NodeAttrs&, const Shape& data, const Shape& g)>
void block_sum_cpu(const OpContext& c, const In& in, const In& out) {
  if (c.req[0] == Req::kNull || out[0].size() == 0) return;
  BlockSumPlan p = Plan(*c.attrs, in[1].shape, in[0].shape);
  std::vector<int64_t> koff(size_t(p.count));
  for (int64_t k = 0; k < p.count; ++k) koff[size_t(k)] = block_offset(p, k);
  dispatch_dtype(out[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    using C = typename kernel::ComputeOf<T>::type;
    const T* g = in[0].ptr<T>();
    T* o = out[0].ptr<T>();
    int64_t grain = std::max<int64_t>(1, kernel::kGrain / std::max<int64_t>(1, p.count));
    thread_pool::parallel_for(out[0].size(), grain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        const T* gi = g + block_base(p, i);
        C acc = C(0);
        for (int64_t k = 0; k < p.count; ++k) acc = C(acc + convert<C>(gi[koff[size_t(k)]]));
        o[i] = convert<T>(acc);
      }
    });
    return 0;
  });
}

BlockSumPlan tile_plan(const NodeAttrs& a, const Shape& data, const Shape& g) {
  return tile_grad_plan(data, g, a.param<TileParam>());
}
BlockSumPlan repeat_plan(const NodeAttrs& a, const Shape& data, const Shape& g) {
  return repeat_grad_plan(data, g, a.param<RepeatParam>());
}
Shape tile_fwd(const NodeAttrs& a, const std::vector<Shape>& in) {
  return tile_shape(in[1], a.param<TileParam>());
}
Shape repeat_fwd(const NodeAttrs& a, const std::vector<Shape>& in) {
  return repeat_shape(in[1], a.param<RepeatParam>());
}
#endif  // BRASS_TRAINING

// ---- Gradients (Op::grad) -----------------------------------------------------------------
using grad::Entries;

// One op applied to the output gradient with the forward node's own parameters, and the
// forward inputs `like` (for their shapes); the other inputs get no gradient.
GradFn grad_with_params(const char* op, std::vector<int> like = {}) {
  return [op, like](const NodePtr& n, const Entries& g) {
    Entries in{g[0]};
    for (int i : like) in.push_back(grad::in(n, size_t(i)));
    Entries r(n->inputs.size());
    r[0] = grad::apply(op, in, n->attrs->dict);
    return r;
  };
}

// The output gradient reshaped back to input 0 (Reshape, Flatten, expand_dims, squeeze,
// reshape_like).
Entries reshape_grad(const NodePtr& n, const Entries& g) {
  Entries r(n->inputs.size());
  r[0] = grad::apply("reshape_like", {g[0], grad::in(n, 0)});
  return r;
}

Entries transpose_grad(const NodePtr& n, const Entries& g) {
  const Tuple& axes = n->attrs->param<TransposeParam>().axes;
  if (axes.empty()) return {grad::apply("transpose", {g[0]})};  // reversing is its own inverse
  int nd = int(axes.size());
  std::vector<int> p = perm_of(axes, nd);
  Tuple inv(size_t(nd), 0);
  for (int i = 0; i < nd; ++i) inv[size_t(p[i])] = i;
  return {grad::apply("transpose", {g[0]}, {{"axes", parse::tuple_str(inv)}})};
}

Entries concat_grad(const NodePtr& n, const Entries& g) {
  Entries in{g[0]};
  for (const NodeEntry& e : n->inputs) in.push_back(e);
  NodePtr parts = grad::node("_backward_Concat", in, n->attrs->dict);
  Entries r;
  for (size_t k = 0; k < n->inputs.size(); ++k) r.push_back(grad::out(parts, uint32_t(k)));
  return r;
}

#if BRASS_TRAINING
// The gradient of _backward_Concat: its output gradients joined again.
Entries concat_grad_grad(const NodePtr& n, const Entries& g) {
  Entries r(n->inputs.size());
  r[0] = grad::apply("Concat", g, n->attrs->dict);
  return r;
}
#endif

// stack: the output gradient split along the new axis, each part reshaped to its input.
Entries stack_grad(const NodePtr& n, const Entries& g) {
  const auto& p = n->attrs->param<StackParam>();
  NodePtr parts = grad::node("SliceChannel", {g[0]}, {{"num_outputs", std::to_string(p.num_args)},
                                                      {"axis", std::to_string(p.axis)}});
  Entries r;
  for (int k = 0; k < p.num_args; ++k)
    r.push_back(grad::apply("reshape_like", {grad::out(parts, uint32_t(k)), grad::in(n, size_t(k))}));
  return r;
}

// SliceChannel: the output gradients joined along the axis (each given its size-1 axis back
// first under squeeze_axis; a 1-D input's parts are (1,), hence the final reshape).
Entries split_grad(const NodePtr& n, const Entries& g) {
  const auto& p = n->attrs->param<SplitParam>();
  std::string ax = std::to_string(p.axis);
  Entries parts;
  for (const NodeEntry& e : g)
    parts.push_back(p.squeeze_axis ? grad::apply("expand_dims", {e}, {{"axis", ax}}) : e);
  NodeEntry joined =
      grad::apply("Concat", parts, {{"num_args", std::to_string(parts.size())}, {"dim", ax}});
  if (p.squeeze_axis) joined = grad::apply("reshape_like", {joined, grad::in(n, 0)});
  return {joined};
}

// clip: the gradient passes where a_min <= x <= a_max (as MXNet: also at the bounds).
Entries clip_grad(const NodePtr& n, const Entries& g) {
  const auto& p = n->attrs->param<ClipParam>();
  const NodeEntry& x = grad::in(n, 0);
  NodeEntry inside = grad::mul(grad::scalar("_greater_equal_scalar", x, p.a_min),
                               grad::scalar("_lesser_equal_scalar", x, p.a_max));
  return {grad::mul(g[0], inside)};
}

// slice_like: the output gradient put back into zeros of data's shape; none to shape_like.
Entries slice_like_grad(const NodePtr& n, const Entries& g) {
  return {grad::apply("_backward_slice_like", {g[0], grad::in(n, 0)}), NodeEntry()};
}

// add_n: every input receives the output gradient.
Entries add_n_grad(const NodePtr& n, const Entries& g) { return Entries(n->inputs.size(), g[0]); }

// broadcast_to / broadcast_like: summed back to the input's shape.
Entries broadcast_grad(const NodePtr& n, const Entries& g) {
  Entries r(n->inputs.size());
  r[0] = grad::apply("_sum_to_like", {g[0], grad::in(n, 0)});
  return r;
}

[[maybe_unused]] const bool kRegistered = [] {
  [[maybe_unused]] auto& R = OpRegistry::get();
#if BRASS_ALL_OPS || BRASS_OP_transpose
  reg_permute<TransposeParam, transpose_perm>("transpose", nullptr,
      "Permutes the axes (reverses them by default).\n\n"
      "    transpose(zeros((2, 3))).shape = (3, 2)", transpose_grad);
#endif
#if BRASS_ALL_OPS || BRASS_OP_SwapAxis
  reg_permute<SwapAxisParam, swap_perm>("SwapAxis", "swapaxes",
      "Swaps two axes.\n\n    SwapAxis(zeros((2, 3)), dim1=0, dim2=1).shape = (3, 2)",
      grad_with_params("SwapAxis"));
#endif

#if BRASS_ALL_OPS || BRASS_OP_Reshape
  R.add("Reshape").alias("reshape")
      .describe("Reshapes (copies) the input; MXNet's special values 0, -1, -2, -3, -4 apply.")
      .inputs({"data"}).params<ReshapeParam>().inplace_pairs({{0, 0}}).type_fn(infer::same_type)
      .shape_fn(reshape_shape).partial_infer()
      .add_req()
      .cpu(copy_out)
      .grad(reshape_grad);
#endif
#if BRASS_ALL_OPS || BRASS_OP_Flatten
  R.add("Flatten").alias("flatten")
      .describe("Collapses all axes but the first.\n\n"
                "    Flatten(zeros((2, 3, 4))).shape = (2, 12)")
      .inputs({"data"}).inplace_pairs({{0, 0}}).type_fn(infer::same_type)
      .shape_fn(fixed_shape([](const NodeAttrs&, const std::vector<Shape>& in) {
        const Shape& s = in[0];
        if (s.ndim() == 0) return Shape{1, 1};
        int64_t rest =
            s[0] ? s.size() / s[0] : checked_product(s.data() + 1, s.ndim() - 1, "Flatten");
        return Shape{s[0], rest};
      }))
      .add_req()
      .cpu(copy_out)
      .grad(reshape_grad);
#endif
#if BRASS_ALL_OPS || BRASS_OP_expand_dims
  R.add("expand_dims")
      .describe("Inserts an axis of size 1.\n\n"
                "    expand_dims(zeros((2, 3)), axis=1).shape = (2, 1, 3)")
      .inputs({"data"}).params<AxisParam>().inplace_pairs({{0, 0}}).type_fn(infer::same_type)
      .shape_fn(fixed_shape([](const NodeAttrs& a, const std::vector<Shape>& in) {
        int ax = normalize_axis(a.param<AxisParam>().axis, in[0].ndim() + 1, "expand_dims");
        return insert_axis(in[0], ax);
      }))
      .add_req()
      .cpu(copy_out)
      .grad(reshape_grad);
#endif
#if BRASS_ALL_OPS || BRASS_OP_squeeze
  R.add("squeeze").describe("Drops axes of size 1 (a result with no axes has shape (1,)).")
      .inputs({"data"}).params<SqueezeParam>().inplace_pairs({{0, 0}}).type_fn(infer::same_type)
      .shape_fn(fixed_shape([](const NodeAttrs& a, const std::vector<Shape>& in) {
        const Shape& s = in[0];
        std::vector<char> drop(s.ndim(), 0);
        const auto& ax = a.param<SqueezeParam>().axis;
        if (!ax) { for (int i = 0; i < s.ndim(); ++i) drop[i] = s[i] == 1; }
        else for (int64_t v : *ax) {
          int k = normalize_axis(v, s.ndim(), "squeeze");
          if (s[k] != 1)
            fail(BRASS_ERR_SHAPE, "squeeze: axis ", v, " of ", s, " has size ", s[k], ", not 1");
          drop[k] = 1;
        }
        Shape o(0);
        for (int i = 0; i < s.ndim(); ++i) if (!drop[i]) o.push_back(s[i]);
        if (o.ndim() == 0) o.push_back(1);
        return o;
      }))
      .add_req()
      .cpu(copy_out)
      .grad(reshape_grad);
#endif

#if BRASS_ALL_OPS || BRASS_OP_Concat
  R.add("Concat").alias("concat")
      .describe("Joins arrays along an axis (dim, default 1).\n\n"
                "    Concat(zeros((2, 1)), zeros((2, 3))).shape = (2, 4)")
      .set_num_inputs([](const NodeAttrs& a) { return a.param<ConcatParam>().num_args; })
      .params<ConcatParam>().type_fn(infer::same_type)
      .shape_fn(fixed_shape([](const NodeAttrs& a, const std::vector<Shape>& in) {
        return concat_shape(a.param<ConcatParam>().dim, in);
      }))
      .cpu([](const OpContext& c, const In& in, const In& out) {
        if (c.req[0] == Req::kNull) return;
        int ax = normalize_axis(c.param<ConcatParam>().dim, out[0].shape.ndim(), "Concat");
        concat_blocks(in, out[0], ax);
      })
      .grad(concat_grad);
#endif
#if BRASS_ALL_OPS || BRASS_OP_stack
  R.add("stack")
      .describe("Joins arrays along a new axis.\n\n"
                "    stack(zeros((2,)), zeros((2,))).shape = (2, 2)")
      .set_num_inputs([](const NodeAttrs& a) { return a.param<StackParam>().num_args; })
      .params<StackParam>().type_fn(infer::same_type)
      .shape_fn(fixed_shape([](const NodeAttrs& a, const std::vector<Shape>& in) {
        for (size_t i = 1; i < in.size(); ++i)
          if (in[i] != in[0])
            fail(BRASS_ERR_SHAPE, "stack: input ", i, " has shape ", in[i], ", input 0 ", in[0]);
        int ax = normalize_axis(a.param<StackParam>().axis, in[0].ndim() + 1, "stack");
        Shape o = insert_axis(in[0], ax);
        o[ax] = int64_t(in.size());
        return o;
      }))
      .cpu([](const OpContext& c, const In& in, const In& out) {
        if (c.req[0] == Req::kNull) return;
        int ax = normalize_axis(c.param<StackParam>().axis, out[0].shape.ndim(), "stack");
        In views = in;
        for (auto& v : views) v.shape = insert_axis(v.shape, ax);  // a size-1 axis at `ax`
        concat_blocks(views, out[0], ax);
      })
      .grad(stack_grad);
#endif
#if BRASS_ALL_OPS || BRASS_OP_SliceChannel
  R.add("SliceChannel").alias("split")
      .describe("Splits an array into equal parts along an axis (default 1).")
      .inputs({"data"}).params<SplitParam>()
      .set_num_outputs([](const NodeAttrs& a) { return a.param<SplitParam>().num_outputs; })
      .type_fn(infer::same_type)
      .shape_fn([](const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
        if (!in[0].known()) return false;
        const auto& p = a.param<SplitParam>();
        int ax = normalize_axis(p.axis, in[0].ndim(), "SliceChannel");
        if (in[0][ax] % p.num_outputs)
          fail(BRASS_ERR_SHAPE, "SliceChannel: axis ", p.axis, " of ", in[0],
               " does not split into ", p.num_outputs, " equal parts");
        Shape s = in[0];
        s[ax] /= p.num_outputs;
        if (p.squeeze_axis) {
          if (s[ax] != 1)
            fail(BRASS_ERR_SHAPE, "SliceChannel: squeeze_axis needs parts of size 1, got ", s[ax]);
          Shape t(0);
          for (int i = 0; i < s.ndim(); ++i) if (i != ax) t.push_back(s[i]);
          if (t.ndim() == 0) t.push_back(1);
          s = t;
        }
        for (auto& o : out) infer::assign_shape(o, s, "SliceChannel", "output");
        return true;
      })
      .cpu([](const OpContext& c, const In& in, const In& out) {
        const auto& p = c.param<SplitParam>();
        for (int k = 0; k < p.num_outputs; ++k) {
          if (c.req[k] == Req::kNull) continue;
          std::vector<SliceRange> r = split_ranges(in[0].shape, p, k);
          TBlob o = out[k];
          o.shape = ranges_shape(r);
          strided_copy(in[0], o, r);
        }
      })
      .grad(split_grad);
#endif
#if BRASS_ALL_OPS || BRASS_OP_slice
  R.add("slice").alias("crop")
      .describe("Slices with begin/end/step per axis (numpy rules; None means the edge).\n\n"
                "    slice([[1, 2, 3], [4, 5, 6]], begin=(0, 1), end=(2, None)) = "
                "[[2, 3], [5, 6]]")
      .inputs({"data"}).params<SliceParam>().type_fn(infer::same_type)
      .shape_fn(fixed_shape([](const NodeAttrs& a, const std::vector<Shape>& in) {
        return ranges_shape(slice_ranges(in[0], a.param<SliceParam>()));
      }))
      .cpu([](const OpContext& c, const In& in, const In& out) {
        if (c.req[0] != Req::kNull)
          strided_copy(in[0], out[0], slice_ranges(in[0].shape, c.param<SliceParam>()));
      })
      .grad(grad_with_params("_backward_slice", {0}));
#endif
#if BRASS_ALL_OPS || BRASS_OP_slice_axis
  R.add("slice_axis")
      .describe("Slices one axis: [begin, end).\n\n"
                "    slice_axis([1, 2, 3], axis=0, begin=1, end=None) = [2, 3]")
      .inputs({"data"}).params<SliceAxisParam>().type_fn(infer::same_type)
      .shape_fn(fixed_shape([](const NodeAttrs& a, const std::vector<Shape>& in) {
        return ranges_shape(slice_axis_ranges(in[0], a.param<SliceAxisParam>()));
      }))
      .cpu([](const OpContext& c, const In& in, const In& out) {
        if (c.req[0] != Req::kNull)
          strided_copy(in[0], out[0], slice_axis_ranges(in[0].shape, c.param<SliceAxisParam>()));
      })
      .grad(grad_with_params("_backward_slice_axis", {0}));
#endif
#if BRASS_ALL_OPS || BRASS_OP_slice_like
  R.add("slice_like")
      .describe("Slices the first input to the shape of the second on the given axes.")
      .inputs({"data", "shape_like"}).params<SliceLikeParam>()
      .type_fn([](const NodeAttrs&, std::vector<int>& in, std::vector<int>& out) {
        infer::assign_type(out[0], in[0], "slice_like", "output");
        return in[0] >= 0 && in[1] >= 0;
      })
      .shape_fn(fixed_shape([](const NodeAttrs& a, const std::vector<Shape>& in) {
        return ranges_shape(slice_like_ranges(in[0], in[1], a.param<SliceLikeParam>()));
      }))
      .cpu([](const OpContext& c, const In& in, const In& out) {
        if (c.req[0] != Req::kNull)
          strided_copy(in[0], out[0],
                       slice_like_ranges(in[0].shape, in[1].shape, c.param<SliceLikeParam>()));
      })
      .grad(slice_like_grad);
#endif

#if BRASS_ALL_OPS || BRASS_OP_tile
  R.add("tile")
      .describe("Repeats the whole array (numpy.tile).\n\n"
                "    tile([1, 2], reps=(2,)) = [1, 2, 1, 2]")
      .inputs({"data"}).params<TileParam>().type_fn(infer::same_type)
      .shape_fn(fixed_shape([](const NodeAttrs& a, const std::vector<Shape>& in) {
        return tile_shape(in[0], a.param<TileParam>());
      }))
      .cpu([](const OpContext& c, const In& in, const In& out) {
        if (c.req[0] == Req::kNull) return;
        TBlob src = in[0];
        const Shape s = src.shape = align_right(in[0].shape, out[0].shape.ndim());
        gather_axes(src, out[0], [&](int d, int64_t i) { return i % s[d]; });
      })
      .grad(grad_with_params("_backward_tile", {0}));
#endif
#if BRASS_ALL_OPS || BRASS_OP_repeat
  R.add("repeat")
      .describe("Repeats each element (numpy.repeat).\n\n"
                "    repeat([1, 2], repeats=2) = [1, 1, 2, 2]")
      .inputs({"data"}).params<RepeatParam>().type_fn(infer::same_type)
      .shape_fn(fixed_shape([](const NodeAttrs& a, const std::vector<Shape>& in) {
        return repeat_shape(in[0], a.param<RepeatParam>());
      }))
      .cpu([](const OpContext& c, const In& in, const In& out) {
        if (c.req[0] == Req::kNull) return;
        const auto& p = c.param<RepeatParam>();
        TBlob src = in[0];
        int ax = 0;
        if (!p.axis) src.shape = Shape{in[0].size()};
        else ax = normalize_axis(*p.axis, in[0].shape.ndim(), "repeat");
        gather_axes(src, out[0], [&](int d, int64_t i) { return d == ax ? i / p.repeats : i; });
      })
      .grad(grad_with_params("_backward_repeat", {0}));
#endif
#if BRASS_ALL_OPS || BRASS_OP_reverse
  R.add("reverse").alias("flip")
      .describe("Reverses the order of elements along axes.\n\n"
                "    reverse([1, 2, 3], axis=0) = [3, 2, 1]")
      .inputs({"data"}).params<ReverseParam>().type_fn(infer::same_type).shape_fn(infer::same_shape)
      .cpu([](const OpContext& c, const In& in, const In& out) {
        if (c.req[0] == Req::kNull) return;
        std::vector<char> rev = reversed_axes(c.param<ReverseParam>(), in[0].shape.ndim());
        if (in[0].dptr == out[0].dptr) fail(BRASS_ERR_INTERNAL, "reverse: in place");
        gather_axes(in[0], out[0],
                    [&](int d, int64_t i) { return rev[d] ? in[0].shape[d] - 1 - i : i; });
      })
      .grad(grad_with_params("reverse"));
#endif
#if BRASS_ALL_OPS || BRASS_OP_broadcast_to || BRASS_OP_broadcast_like
  auto bcast_kernel = [](const OpContext& c, const In& in, const In& out) {
    if (c.req[0] == Req::kNull) return;
    TBlob src = in[0];
    const Shape s = src.shape = align_right(in[0].shape, out[0].shape.ndim());
    gather_axes(src, out[0], [&](int d, int64_t i) { return s[d] == 1 ? 0 : i; });
  };
#endif
#if BRASS_ALL_OPS || BRASS_OP_broadcast_to
  R.add("broadcast_to")
      .describe("Broadcasts to a shape (0 keeps the input's extent).\n\n"
                "    broadcast_to([[1], [2]], shape=(2, 3)).shape = (2, 3)")
      .inputs({"data"}).params<BroadcastToParam>().type_fn(infer::same_type)
      .shape_fn(fixed_shape([](const NodeAttrs& a, const std::vector<Shape>& in) {
        const Tuple& t = a.param<BroadcastToParam>().shape;
        const Shape& s = in[0];
        if (int(t.size()) < s.ndim())
          fail(BRASS_ERR_SHAPE, "broadcast_to: cannot broadcast ", s, " to ", parse::tuple_str(t));
        Shape o(int(t.size()));
        for (int i = 0; i < o.ndim(); ++i) {
          int is = s.ndim() - o.ndim() + i;
          int64_t d = is >= 0 ? s[is] : 1;
          o[i] = t[i] == 0 ? d : t[i];
          if (d != 1 && d != o[i])
            fail(BRASS_ERR_SHAPE, "broadcast_to: cannot broadcast ", s, " to ",
                 parse::tuple_str(t));
        }
        return o;
      }))
      .cpu(bcast_kernel)
      .grad(broadcast_grad);
#endif
#if BRASS_ALL_OPS || BRASS_OP_broadcast_like
  R.add("broadcast_like").describe("Broadcasts the first input to the shape of the second.")
      .inputs({"lhs", "rhs"}).params<BroadcastLikeParam>()
      .type_fn([](const NodeAttrs&, std::vector<int>& in, std::vector<int>& out) {
        infer::assign_type(out[0], in[0], "broadcast_like", "output");
        return in[0] >= 0;
      })
      .shape_fn(fixed_shape([](const NodeAttrs& a, const std::vector<Shape>& in) {
        const auto& p = a.param<BroadcastLikeParam>();
        const Shape &l = in[0], &r = in[1];
        Shape o = l;
        if (!p.lhs_axes) {
          if (l.ndim() != r.ndim())
            fail(BRASS_ERR_SHAPE, "broadcast_like: ", l, " and ", r, " differ in rank");
          for (int i = 0; i < l.ndim(); ++i) {
            if (l[i] != 1 && l[i] != r[i])
              fail(BRASS_ERR_SHAPE, "broadcast_like: cannot broadcast ", l, " to ", r);
            o[i] = r[i];
          }
        } else {
          if (!p.rhs_axes || p.rhs_axes->size() != p.lhs_axes->size())
            fail(BRASS_ERR_INVALID_ARGUMENT,
                 "broadcast_like: lhs_axes and rhs_axes must have the same length");
          for (size_t k = 0; k < p.lhs_axes->size(); ++k) {
            int la = normalize_axis((*p.lhs_axes)[k], l.ndim(), "broadcast_like");
            int ra = normalize_axis((*p.rhs_axes)[k], r.ndim(), "broadcast_like");
            if (l[la] != 1 && l[la] != r[ra])
              fail(BRASS_ERR_SHAPE, "broadcast_like: cannot broadcast ", l, " to ", r);
            o[la] = r[ra];
          }
        }
        return o;
      }))
      .cpu(bcast_kernel)
      .grad(broadcast_grad);
#endif
#if BRASS_ALL_OPS || BRASS_OP_clip
  R.add("clip")
      .describe("Limits values to [a_min, a_max].\n\n"
                "    clip([-1, 5, 10], a_min=0, a_max=6) = [0, 5, 6]")
      .inputs({"data"}).params<ClipParam>().inplace_pairs({{0, 0}}).set_pointwise()
      .type_fn(infer::same_type).shape_fn(infer::same_shape)
      .cpu([](const OpContext& c, const In& in, const In& out) {
        if (c.req[0] == Req::kNull) return;
        const auto& p = c.param<ClipParam>();
        dispatch_dtype(in[0].dtype, [&](auto tag) {
          using T = decltype(tag);
          using C = typename kernel::ComputeOf<T>::type;
          const T* x = in[0].ptr<T>();
          T* y = out[0].ptr<T>();
          // Not a structured binding: a lambda may not capture one in C++17 (clang rejects it).
          const ClipBounds<C> bounds = clip_bounds<C>(p);
          const C lo = bounds.lo, hi = bounds.hi;
          thread_pool::parallel_for(in[0].size(), kernel::kGrain, [&](int64_t b, int64_t e) {
            for (int64_t i = b; i < e; ++i) y[i] = convert<T>(clip_value(convert<C>(x[i]), lo, hi));
          });
          return 0;
        });
      })
      .grad(clip_grad);
#endif
#if BRASS_ALL_OPS || BRASS_OP_add_n
  R.add("add_n").alias("ElementWiseSum").alias("_sum")
      .describe("Sums any number of arrays of the same shape.\n\n"
                "    add_n([1, 2], [3, 4], [5, 6]) = [9, 12]")
      .set_num_inputs([](const NodeAttrs& a) { return a.param<AddNParam>().num_args; })
      .params<AddNParam>().type_fn(infer::same_type).shape_fn(infer::same_shape)
      .inplace_pairs({{0, 0}})
      .cpu([](const OpContext& c, const In& in, const In& out) {
        if (c.req[0] == Req::kNull) return;
        // out = in0 + in1, then out += in_k: each element sums in input order.
        if (in.size() == 1) {
          if (in[0].dptr != out[0].dptr) kernel::cast(in[0], out[0]);
          return;
        }
        kernel::binary_broadcast<binary_ops::Add>(in[0], in[1], out[0], Req::kWrite);
        for (size_t k = 2; k < in.size(); ++k)
          kernel::binary_broadcast<binary_ops::Add>(out[0], in[k], out[0], Req::kWrite);
      })
      .grad(add_n_grad);
#endif

#if BRASS_ALL_OPS || BRASS_OP_reshape_like
  R.add("reshape_like")
      .describe("Reshapes (copies) lhs to the shape of rhs, or replaces the axes\n"
                "lhs_begin:lhs_end of lhs by the axes rhs_begin:rhs_end of rhs.\n\n"
                "    reshape_like(zeros((2, 3)), zeros((3, 2))).shape = (3, 2)\n"
                "    reshape_like(zeros((30, 7)), zeros((15, 2, 4)), lhs_begin=0, lhs_end=1,\n"
                "                 rhs_begin=0, rhs_end=2).shape = (15, 2, 7)")
      .inputs({"lhs", "rhs"}).params<ReshapeLikeParam>().inplace_pairs({{0, 0}})
      .type_fn([](const NodeAttrs&, std::vector<int>& in, std::vector<int>& out) {
        infer::assign_type(out[0], in[0], "reshape_like", "output");
        infer::assign_type(in[0], out[0], "reshape_like", "lhs");
        return in[0] >= 0 && in[1] >= 0;
      })
      .shape_fn(fixed_shape([](const NodeAttrs& a, const std::vector<Shape>& in) {
        return reshape_like_shape(in[0], in[1], a.param<ReshapeLikeParam>());
      }))
      .add_req()
      .cpu(copy_out)
      .grad(reshape_grad);
#endif

#if BRASS_TRAINING
  // The gradients' own ops. Each one's gradient is its forward op again, so gradients of any
  // order compose.
  R.add("_backward_Concat")
      .describe("The gradient of Concat: splits ograd along dim into parts of the inputs'\n"
                "extents (inputs: ograd, then the num_args forward inputs).")
      .set_num_inputs([](const NodeAttrs& a) { return a.param<ConcatParam>().num_args + 1; })
      .set_num_outputs([](const NodeAttrs& a) { return a.param<ConcatParam>().num_args; })
      .params<ConcatParam>().type_fn(grad_type).shape_fn(concat_grad_shape)
      .cpu(concat_grad_cpu)
      .grad(concat_grad_grad);
  R.add("_backward_slice")
      .describe("The gradient of slice: zeros of data's shape with ograd in the sliced region.")
      .inputs({"ograd", "data"}).params<SliceParam>().type_fn(grad_type)
      .shape_fn(grad_shape<1, slice_grad_fwd<slice_grad_ranges>>)
      .cpu(slice_grad_cpu<slice_grad_ranges>)
      .grad(grad_with_params("slice"));
  R.add("_backward_slice_axis")
      .describe("The gradient of slice_axis: zeros of data's shape with ograd in the slice.")
      .inputs({"ograd", "data"}).params<SliceAxisParam>().type_fn(grad_type)
      .shape_fn(grad_shape<1, slice_grad_fwd<slice_axis_grad_ranges>>)
      .cpu(slice_grad_cpu<slice_axis_grad_ranges>)
      .grad(grad_with_params("slice_axis"));
  R.add("_backward_slice_like")
      .describe("The gradient of slice_like: ograd padded with zeros at the end of each axis to\n"
                "data's shape.")
      .inputs({"ograd", "data"}).type_fn(grad_type).shape_fn(slice_like_grad_shape)
      .cpu(slice_grad_cpu<slice_like_grad_ranges>)
      .grad([](const NodePtr& n, const Entries& g) {
        return Entries{grad::apply("slice_like", {g[0], grad::in(n, 0)}), NodeEntry()};
      });
  R.add("_backward_tile")
      .describe("The gradient of tile: each element of data's shape sums its copies in ograd.")
      .inputs({"ograd", "data"}).params<TileParam>().type_fn(grad_type)
      .shape_fn(grad_shape<1, tile_fwd>)
      .cpu(block_sum_cpu<tile_plan>)
      .grad(grad_with_params("tile"));
  R.add("_backward_repeat")
      .describe("The gradient of repeat: each element of data's shape sums its repeats in ograd.")
      .inputs({"ograd", "data"}).params<RepeatParam>().type_fn(grad_type)
      .shape_fn(grad_shape<1, repeat_fwd>)
      .cpu(block_sum_cpu<repeat_plan>)
      .grad(grad_with_params("repeat"));
#endif
  return true;
}();

}  // namespace matrix_ops
}  // namespace brass
