// Parameters and host-side shape planning of the shape and layout operators (matrix.cc),
// shared by the CPU kernels and the CUDA kernels (cuda/matrix.cu): parameter structs, axis
// permutations, slice ranges, and the aligned input shapes of tile and broadcast_to.
#pragma once

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "base/xinline.h"
#include "op/operator.h"

namespace brass {
namespace matrix_ops {

// ---- transpose / SwapAxis -----------------------------------------------------------------
struct TransposeParam {
  Tuple axes;
  static void declare(ParamSpec<TransposeParam>& s) {
    s.field("axes", &TransposeParam::axes).set_default(Tuple{})
        .describe("Permutation; () reverses the axes.");
  }
};

inline std::vector<int> perm_of(const Tuple& axes, int nd) {
  std::vector<int> p(nd);
  if (axes.empty()) {
    for (int i = 0; i < nd; ++i) p[i] = nd - 1 - i;
    return p;
  }
  if (int(axes.size()) != nd)
    fail(BRASS_ERR_INVALID_ARGUMENT, "transpose: axes ", parse::tuple_str(axes), " do not match ",
         nd, " dimensions");
  std::vector<char> seen(nd, 0);
  for (int i = 0; i < nd; ++i) {
    p[i] = normalize_axis(axes[i], nd, "transpose");
    if (seen[p[i]]++)
      fail(BRASS_ERR_INVALID_ARGUMENT, "transpose: repeated axis in ", parse::tuple_str(axes));
  }
  return p;
}

struct SwapAxisParam {
  int dim1, dim2;
  static void declare(ParamSpec<SwapAxisParam>& s) {
    s.field("dim1", &SwapAxisParam::dim1).set_default(0).describe("First axis.");
    s.field("dim2", &SwapAxisParam::dim2).set_default(0).describe("Second axis.");
  }
};

inline std::vector<int> swap_perm(const SwapAxisParam& p, int nd) {
  std::vector<int> v(nd);
  std::iota(v.begin(), v.end(), 0);
  std::swap(v[normalize_axis(p.dim1, nd, "SwapAxis")], v[normalize_axis(p.dim2, nd, "SwapAxis")]);
  return v;
}

inline std::vector<int> transpose_perm(const TransposeParam& p, int nd) {
  return perm_of(p.axes, nd);
}

// ---- Reshape family (copies; NDArray.reshape in Python makes views) ---------------------
struct ReshapeParam {
  Tuple shape;
  bool reverse;
  static void declare(ParamSpec<ReshapeParam>& s) {
    s.field("shape", &ReshapeParam::shape).set_default(Tuple{})
        .describe("Target shape; MXNet's special values 0, -1, -2, -3, -4 apply.");
    s.field("reverse", &ReshapeParam::reverse).set_default(false)
        .describe("Apply special values from the right.");
  }
};

inline Shape infer_reshape(const Shape& src0, const Tuple& spec0, bool reverse) {
  std::vector<int64_t> src = src0.vec(), spec = spec0, out;
  if (reverse) { std::reverse(src.begin(), src.end()); std::reverse(spec.begin(), spec.end()); }
  size_t i = 0;
  int infer_at = -1;
  auto bad = [&](const char* why) {
    fail(BRASS_ERR_SHAPE, "Reshape: cannot reshape ", src0, " into ", parse::tuple_str(spec0), ": ",
         why);
  };
  for (size_t j = 0; j < spec.size(); ++j) {
    int64_t s = spec[j];
    if (s == 0) {
      if (i >= src.size()) bad("0 refers past the input");
      out.push_back(src[i++]);
    } else if (s == -1) {
      if (infer_at >= 0) bad("more than one -1");
      infer_at = int(out.size());
      out.push_back(-1);
      ++i;
    } else if (s == -2) {
      while (i < src.size()) out.push_back(src[i++]);
    } else if (s == -3) {
      if (i + 1 >= src.size()) bad("-3 needs two input axes");
      out.push_back(src[i] * src[i + 1]);
      i += 2;
    } else if (s == -4) {
      if (j + 2 >= spec.size() || i >= src.size()) bad("-4 needs two values after it");
      int64_t d0 = spec[j + 1], d1 = spec[j + 2];
      if (reverse) std::swap(d0, d1);
      if (d0 == -1 && d1 > 0) d0 = src[i] / d1;
      if (d1 == -1 && d0 > 0) d1 = src[i] / d0;
      if (d0 * d1 != src[i]) bad("-4 split does not match");
      out.push_back(d0); out.push_back(d1);
      ++i;
      j += 2;
    } else if (s > 0) {
      out.push_back(s);
      ++i;
    } else {
      bad("invalid value");
    }
  }
  int64_t total = src0.size(), known = 1;
  for (size_t k = 0; k < out.size(); ++k) if (int(k) != infer_at) known *= out[k];
  if (infer_at >= 0) {
    if (known == 0 || total % known) bad("sizes do not divide");
    out[infer_at] = total / known;
  } else if (known != total) {
    bad("sizes differ");
  }
  if (reverse) std::reverse(out.begin(), out.end());
  return Shape(out);
}

// reshape_like: lhs's elements in a shape taken (in part) from rhs.
struct ReshapeLikeParam {
  std::optional<int> lhs_begin, lhs_end, rhs_begin, rhs_end;
  static void declare(ParamSpec<ReshapeLikeParam>& s) {
    s.field("lhs_begin", &ReshapeLikeParam::lhs_begin).set_default(std::nullopt)
        .describe("First axis of lhs to replace (None: 0; negative counts from the end).");
    s.field("lhs_end", &ReshapeLikeParam::lhs_end).set_default(std::nullopt)
        .describe("End (exclusive) of the axes of lhs to replace (None: ndim).");
    s.field("rhs_begin", &ReshapeLikeParam::rhs_begin).set_default(std::nullopt)
        .describe("First axis of rhs whose extents replace them (None: 0).");
    s.field("rhs_end", &ReshapeLikeParam::rhs_end).set_default(std::nullopt)
        .describe("End (exclusive) of the axes of rhs to use (None: ndim).");
  }
};

// MXNet's reshape_like: lhs[:lhs_begin] + rhs[rhs_begin:rhs_end] + lhs[lhs_end:], which must
// hold as many elements as lhs.
inline Shape reshape_like_shape(const Shape& l, const Shape& r, const ReshapeLikeParam& p) {
  auto range = [](const std::optional<int>& b, const std::optional<int>& e, int nd,
                  const char* side) {
    int lo = b ? (*b < 0 ? *b + nd : *b) : 0, hi = e ? (*e < 0 ? *e + nd : *e) : nd;
    if (lo < 0 || hi > nd || lo > hi)
      fail(BRASS_ERR_INVALID_ARGUMENT, "reshape_like: ", side, "_begin/", side, "_end [",
           b ? std::to_string(*b) : "None", ", ", e ? std::to_string(*e) : "None",
           ") is not a range of axes of a ", nd, "-d array");
    return std::pair<int, int>(lo, hi);
  };
  auto [lb, le] = range(p.lhs_begin, p.lhs_end, l.ndim(), "lhs");
  auto [rb, re] = range(p.rhs_begin, p.rhs_end, r.ndim(), "rhs");
  Shape o(0);
  for (int i = 0; i < lb; ++i) o.push_back(l[i]);
  for (int i = rb; i < re; ++i) o.push_back(r[i]);
  for (int i = le; i < l.ndim(); ++i) o.push_back(l[i]);
  if (o.size() != l.size())
    fail(BRASS_ERR_SHAPE, "reshape_like: cannot reshape lhs ", l, " (", l.size(),
         " elements) into ", o, " (from rhs ", r, ")");
  return o;
}

struct AxisParam {
  int axis;
  static void declare(ParamSpec<AxisParam>& s) {
    s.field("axis", &AxisParam::axis)
        .describe("Position of the new axis (negative counts from the end).");
  }
};

struct SqueezeParam {
  std::optional<Tuple> axis;
  static void declare(ParamSpec<SqueezeParam>& s) {
    s.field("axis", &SqueezeParam::axis).set_default(std::nullopt)
        .describe("Axes of size 1 to drop; None: all.");
  }
};

// ---- Concat / stack / split ------------------------------------------------------------
struct ConcatParam {
  int num_args, dim;
  static void declare(ParamSpec<ConcatParam>& s) {
    s.field("num_args", &ConcatParam::num_args).set_lower_bound(1).describe("Number of inputs.");
    s.field("dim", &ConcatParam::dim).set_default(1).describe("Axis to concatenate along.");
  }
};

struct StackParam {
  int axis, num_args;
  static void declare(ParamSpec<StackParam>& s) {
    s.field("axis", &StackParam::axis).set_default(0).describe("Position of the new axis.");
    s.field("num_args", &StackParam::num_args).set_lower_bound(1).describe("Number of inputs.");
  }
};

struct SplitParam {
  int num_outputs, axis;
  bool squeeze_axis;
  static void declare(ParamSpec<SplitParam>& s) {
    s.field("num_outputs", &SplitParam::num_outputs).set_lower_bound(1)
        .describe("Number of equal parts.");
    s.field("axis", &SplitParam::axis).set_default(1).describe("Axis to split along.");
    s.field("squeeze_axis", &SplitParam::squeeze_axis).set_default(false)
        .describe("Drop the split axis when parts have size 1.");
  }
};

// ---- slicing --------------------------------------------------------------------------
struct SliceParam {
  OptTuple begin, end, step;
  static void declare(ParamSpec<SliceParam>& s) {
    s.field("begin", &SliceParam::begin).describe("Start per axis (None: from the edge).");
    s.field("end", &SliceParam::end).describe("Stop per axis, exclusive (None: to the edge).");
    s.field("step", &SliceParam::step).set_default(OptTuple{}).describe("Step per axis (None: 1).");
  }
};

struct SliceRange { int64_t begin, step, len; };

// numpy slice semantics per axis; axes past the tuples are taken whole.
inline std::vector<SliceRange> slice_ranges(const Shape& s, const SliceParam& p) {
  int nd = s.ndim();
  if (int(p.begin.size()) > nd || int(p.end.size()) > nd || int(p.step.size()) > nd)
    fail(BRASS_ERR_INVALID_ARGUMENT, "slice: begin/end/step have more axes than the input ", s);
  if (p.begin.size() != p.end.size())
    fail(BRASS_ERR_INVALID_ARGUMENT, "slice: begin and end must have the same length");
  std::vector<SliceRange> r(nd);
  for (int i = 0; i < nd; ++i) {
    int64_t n = s[i];
    int64_t st = i < int(p.step.size()) && p.step[i] ? *p.step[i] : 1;
    if (st == 0) fail(BRASS_ERR_INVALID_ARGUMENT, "slice: step must not be 0 (axis ", i, ")");
    std::optional<int64_t> b = i < int(p.begin.size()) ? p.begin[i] : std::nullopt;
    std::optional<int64_t> e = i < int(p.end.size()) ? p.end[i] : std::nullopt;
    int64_t lo, hi;
    if (st > 0) {
      lo = b ? (*b < 0 ? std::max<int64_t>(*b + n, 0) : std::min(*b, n)) : 0;
      hi = e ? (*e < 0 ? std::max<int64_t>(*e + n, 0) : std::min(*e, n)) : n;
      r[i] = {lo, st, hi > lo ? (hi - lo + st - 1) / st : 0};
    } else {
      lo = b ? (*b < 0 ? std::max<int64_t>(*b + n, -1) : std::min(*b, n - 1)) : n - 1;
      hi = e ? (*e < 0 ? std::max<int64_t>(*e + n, -1) : std::min(*e, n - 1)) : -1;
      r[i] = {lo, st, lo > hi ? (lo - hi - st - 1) / (-st) : 0};
    }
  }
  return r;
}

struct SliceAxisParam {
  int axis;
  int64_t begin;
  std::optional<int64_t> end;
  static void declare(ParamSpec<SliceAxisParam>& s) {
    s.field("axis", &SliceAxisParam::axis).describe("Axis to slice.");
    s.field("begin", &SliceAxisParam::begin).describe("Start (negative counts from the end).");
    s.field("end", &SliceAxisParam::end).describe("Stop, exclusive; None for the end.");
  }
};

inline std::vector<SliceRange> slice_axis_ranges(const Shape& s, const SliceAxisParam& p) {
  int ax = normalize_axis(p.axis, s.ndim(), "slice_axis");
  std::vector<SliceRange> r(s.ndim());
  for (int i = 0; i < s.ndim(); ++i) r[i] = {0, 1, s[i]};
  int64_t n = s[ax], b = p.begin < 0 ? p.begin + n : p.begin;
  int64_t e = p.end ? (*p.end < 0 ? *p.end + n : *p.end) : n;
  if (b < 0 || b > n || e < b || e > n)
    fail(BRASS_ERR_INDEX, "slice_axis: [", p.begin, ", ", p.end ? std::to_string(*p.end) : "None",
         ") is out of bounds for axis ", p.axis, " of size ", n);
  r[ax] = {b, 1, e - b};
  return r;
}

struct SliceLikeParam {
  Tuple axes;
  static void declare(ParamSpec<SliceLikeParam>& s) {
    s.field("axes", &SliceLikeParam::axes).set_default(Tuple{})
        .describe("Axes to slice like the second input; () all.");
  }
};

inline std::vector<SliceRange> slice_like_ranges(const Shape& s, const Shape& like,
                                                 const SliceLikeParam& p) {
  std::vector<SliceRange> r(s.ndim());
  for (int i = 0; i < s.ndim(); ++i) r[i] = {0, 1, s[i]};
  std::vector<int> axes;
  if (p.axes.empty()) {
    if (like.ndim() != s.ndim())
      fail(BRASS_ERR_SHAPE, "slice_like: shapes ", s, " and ", like, " differ in rank; give axes");
    for (int i = 0; i < s.ndim(); ++i) axes.push_back(i);
  } else {
    for (int64_t a : p.axes) {
      int ax = normalize_axis(a, s.ndim(), "slice_like");
      normalize_axis(a, like.ndim(), "slice_like");
      axes.push_back(ax);
    }
  }
  for (int ax : axes) {
    int64_t want = like[ax < like.ndim() ? ax : 0];
    if (want > s[ax])
      fail(BRASS_ERR_SHAPE, "slice_like: ", like, " is larger than ", s, " on axis ", ax);
    r[ax].len = want;
  }
  return r;
}

inline Shape ranges_shape(const std::vector<SliceRange>& r) {
  Shape s(int(r.size()));
  for (size_t i = 0; i < r.size(); ++i) s[int(i)] = r[i].len;
  return s;
}

// ---- tile / repeat / reverse / broadcast_to ---------------------------------------------
struct TileParam {
  Tuple reps;
  static void declare(ParamSpec<TileParam>& s) {
    s.field("reps", &TileParam::reps).describe("Repetitions per axis (numpy.tile rules).");
  }
};

struct RepeatParam {
  int repeats;
  std::optional<int> axis;
  static void declare(ParamSpec<RepeatParam>& s) {
    s.field("repeats", &RepeatParam::repeats).set_lower_bound(0)
        .describe("Repetitions of each element.");
    s.field("axis", &RepeatParam::axis).set_default(std::nullopt)
        .describe("Axis; None flattens first.");
  }
};

struct ReverseParam {
  Tuple axis;
  static void declare(ParamSpec<ReverseParam>& s) {
    s.field("axis", &ReverseParam::axis).describe("Axes to reverse.");
  }
};

struct BroadcastToParam {
  Tuple shape;
  static void declare(ParamSpec<BroadcastToParam>& s) {
    s.field("shape", &BroadcastToParam::shape).set_default(Tuple{})
        .describe("Target shape; 0 keeps the input's extent.");
  }
};

struct BroadcastLikeParam {
  std::optional<Tuple> lhs_axes, rhs_axes;
  static void declare(ParamSpec<BroadcastLikeParam>& s) {
    s.field("lhs_axes", &BroadcastLikeParam::lhs_axes).set_default(std::nullopt)
        .describe("Axes of lhs to broadcast.");
    s.field("rhs_axes", &BroadcastLikeParam::rhs_axes).set_default(std::nullopt)
        .describe("Matching axes of rhs.");
  }
};

// ---- clip / add_n ---------------------------------------------------------------------
struct ClipParam {
  double a_min, a_max;
  static void declare(ParamSpec<ClipParam>& s) {
    s.field("a_min", &ClipParam::a_min).describe("Minimum value.");
    s.field("a_max", &ClipParam::a_max).describe("Maximum value.");
  }
};

struct AddNParam {
  int num_args;
  static void declare(ParamSpec<AddNParam>& s) {
    s.field("num_args", &AddNParam::num_args).set_lower_bound(1).describe("Number of inputs.");
  }
};

// ---- shared planning helpers ------------------------------------------------------------
// s with size-1 axes prepended to nd axes (numpy's right alignment: tile, broadcast_to).
inline Shape align_right(const Shape& s, int nd) {
  Shape o(nd, 1);
  for (int i = 0; i < s.ndim(); ++i) o[i + nd - s.ndim()] = s[i];
  return o;
}

// s with a size-1 axis inserted at ax (0 <= ax <= ndim): an input of stack seen in the output.
inline Shape insert_axis(const Shape& s, int ax) {
  Shape o(0);
  for (int i = 0; i < s.ndim(); ++i) {
    if (i == ax) o.push_back(1);
    o.push_back(s[i]);
  }
  if (ax == s.ndim()) o.push_back(1);
  return o;
}

// The region of input s that part k of SliceChannel copies (the split axis kept, size part).
inline std::vector<SliceRange> split_ranges(const Shape& s, const SplitParam& p, int k) {
  int ax = normalize_axis(p.axis, s.ndim(), "SliceChannel");
  int64_t part = s[ax] / p.num_outputs;
  std::vector<SliceRange> r(s.ndim());
  for (int i = 0; i < s.ndim(); ++i) r[i] = {0, 1, s[i]};
  r[ax] = {k * part, 1, part};
  return r;
}

// The gradients of tile and repeat (_backward_tile, _backward_repeat): element i of the input,
// seen with nd axes of extents dim, sums the `count` elements of the output gradient it was
// copied to. Copy k (row-major over reps) of element i lies at
// block_base(i) + block_offset(k) in the gradient: along axis d, copy k_d of index i_d sits at
// k_d * a + i_d * b of the gradient's axis d, kept premultiplied by the gradient's stride as
// step_k = a * stride and step_i = b * stride.
struct BlockSumPlan {
  int nd = 0;
  int64_t dim[kMaxNDim] = {}, reps[kMaxNDim] = {};
  int64_t step_i[kMaxNDim] = {}, step_k[kMaxNDim] = {};
  int64_t count = 1;  // product of reps: the copies summed into each element
};

BRASS_XINLINE int64_t block_base(const BlockSumPlan& p, int64_t i) {
  int64_t off = 0;
  for (int d = p.nd - 1; d >= 0; --d) {
    int64_t q = i / p.dim[d];
    off += (i - q * p.dim[d]) * p.step_i[d];
    i = q;
  }
  return off;
}

BRASS_XINLINE int64_t block_offset(const BlockSumPlan& p, int64_t k) {
  int64_t off = 0;
  for (int d = p.nd - 1; d >= 0; --d) {
    int64_t q = k / p.reps[d];
    off += (k - q * p.reps[d]) * p.step_k[d];
    k = q;
  }
  return off;
}

// The plan over `dim` (the input's view) with per-axis reps/a/b, for a gradient of shape g.
inline BlockSumPlan block_sum_plan(const Shape& dim, const Shape& g, const std::vector<int64_t>& reps,
                                   const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
  BlockSumPlan p;
  p.nd = dim.ndim();
  int64_t stride = 1;
  for (int d = p.nd - 1; d >= 0; --d) {
    p.dim[d] = dim[d];
    p.reps[d] = reps[d];
    p.step_k[d] = a[d] * stride;
    p.step_i[d] = b[d] * stride;
    p.count *= reps[d];
    stride *= g[d];
  }
  return p;
}

// tile: along axis d of the right-aligned input, copy k of index i is at k * extent + i.
inline BlockSumPlan tile_grad_plan(const Shape& data, const Shape& g, const TileParam& p) {
  int nd = g.ndim();
  Shape s = align_right(data, nd);
  std::vector<int64_t> reps(nd, 1), a(nd), b(nd, 1);
  for (int d = 0; d < nd; ++d) {
    int ir = int(p.reps.size()) - nd + d;
    if (ir >= 0) reps[d] = p.reps[ir];
    a[d] = s[d];
  }
  return block_sum_plan(s, g, reps, a, b);
}

// repeat: along the repeated axis, copy k of index i is at i * repeats + k (axis None: the
// input flattened).
inline BlockSumPlan repeat_grad_plan(const Shape& data, const Shape& g, const RepeatParam& p) {
  Shape s = p.axis ? data : Shape{data.size()};
  int nd = s.ndim(), ax = p.axis ? normalize_axis(*p.axis, nd, "repeat") : 0;
  std::vector<int64_t> reps(nd, 1), a(nd, 0), b(nd, 1);
  reps[ax] = p.repeats;
  a[ax] = 1;
  b[ax] = p.repeats;
  return block_sum_plan(s, g, reps, a, b);
}

// The part of a Concat's output gradient g (axis ax) that input k fills: [begin, begin + len).
inline std::vector<SliceRange> concat_part_ranges(const Shape& g, int ax, int64_t begin,
                                                  int64_t len) {
  std::vector<SliceRange> r(g.ndim());
  for (int i = 0; i < g.ndim(); ++i) r[i] = {0, 1, g[i]};
  r[ax] = {begin, 1, len};
  return r;
}

// The regions of data (shape d) that the gradients of slice, slice_axis and slice_like put
// their output gradient g back into (the rest is zero).
inline std::vector<SliceRange> slice_grad_ranges(const NodeAttrs& a, const Shape&, const Shape& d) {
  return slice_ranges(d, a.param<SliceParam>());
}
inline std::vector<SliceRange> slice_axis_grad_ranges(const NodeAttrs& a, const Shape&,
                                                      const Shape& d) {
  return slice_axis_ranges(d, a.param<SliceAxisParam>());
}
// slice_like keeps the leading part of each axis: g's extents from 0.
inline std::vector<SliceRange> slice_like_grad_ranges(const NodeAttrs&, const Shape& g,
                                                      const Shape& d) {
  if (g.ndim() != d.ndim())
    fail(BRASS_ERR_SHAPE, "_backward_slice_like: ograd ", g, " and data ", d, " differ in rank");
  std::vector<SliceRange> r(d.ndim());
  for (int i = 0; i < d.ndim(); ++i) {
    if (g[i] > d[i])
      fail(BRASS_ERR_SHAPE, "_backward_slice_like: ograd ", g, " is larger than data ", d,
           " on axis ", i);
    r[i] = {0, 1, g[i]};
  }
  return r;
}

// Which of nd axes reverse flips (an axis named twice is flipped once).
inline std::vector<char> reversed_axes(const ReverseParam& p, int nd) {
  std::vector<char> rev(nd, 0);
  for (int64_t a : p.axis) rev[normalize_axis(a, nd, "reverse")] = 1;
  return rev;
}

// clip's bounds in compute type C: integer types take them converted (with the clamping rules
// of convert), floating types keep them in full. A struct, not std::pair: aarch64 g++ notes
// an ABI change for pairs of floats passed by value.
template <class C>
struct ClipBounds {
  C lo, hi;
};
template <class C>
inline ClipBounds<C> clip_bounds(const ClipParam& p) {
  if constexpr (std::is_floating_point<C>::value) return {C(p.a_min), C(p.a_max)};
  else return {convert<C>(p.a_min), convert<C>(p.a_max)};
}

// clip of one value in its compute type, as MXNet's kernel (above a_max: a_max; else below
// a_min: a_min), NaN passing through. Written as a select of a maximum so that it vectorizes to
// max/compare/blend.
template <class C>
BRASS_XINLINE C clip_value(C v, C lo, C hi) {
  C t = lo > v ? lo : v;
  return v > hi ? hi : t;
}

}  // namespace matrix_ops
}  // namespace brass
