// Shape and layout operators: transpose, Reshape, Flatten, expand_dims, squeeze, Concat,
// stack, SliceChannel, slice, slice_axis, slice_like, SwapAxis, tile, repeat, reverse,
// broadcast_to, broadcast_like, clip, add_n.
#include <cmath>
#include <cstring>
#include <numeric>

#include "kernel/cast.h"
#include "kernel/elemwise.h"
#include "kernel/transpose.h"
#include "op/operator.h"

namespace brass {
namespace matrix_ops {

using Kernel = ComputeFn;
using In = std::vector<TBlob>;

void copy_out(const OpContext& c, const In& in, const In& out) {
  if (c.req[0] == Req::kNull || in[0].dptr == out[0].dptr) return;
  std::memcpy(out[0].dptr, in[0].dptr, size_t(in[0].size()) * dtype_size(in[0].dtype));
}

// ---- transpose / SwapAxis -----------------------------------------------------------------
struct TransposeParam {
  Tuple axes;
  static void declare(ParamSpec<TransposeParam>& s) {
    s.field("axes", &TransposeParam::axes).set_default(Tuple{}).describe("Permutation; () reverses the axes.");
  }
};

std::vector<int> perm_of(const Tuple& axes, int nd) {
  std::vector<int> p(nd);
  if (axes.empty()) {
    for (int i = 0; i < nd; ++i) p[i] = nd - 1 - i;
    return p;
  }
  if (int(axes.size()) != nd)
    fail(BRASS_ERR_INVALID_ARGUMENT, "transpose: axes ", parse::tuple_str(axes), " do not match ", nd, " dimensions");
  std::vector<char> seen(nd, 0);
  for (int i = 0; i < nd; ++i) {
    p[i] = normalize_axis(axes[i], nd, "transpose");
    if (seen[p[i]]++) fail(BRASS_ERR_INVALID_ARGUMENT, "transpose: repeated axis in ", parse::tuple_str(axes));
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

std::vector<int> swap_perm(const SwapAxisParam& p, int nd) {
  std::vector<int> v(nd);
  std::iota(v.begin(), v.end(), 0);
  std::swap(v[normalize_axis(p.dim1, nd, "SwapAxis")], v[normalize_axis(p.dim2, nd, "SwapAxis")]);
  return v;
}

template <class P, std::vector<int> (*Perm)(const P&, int)>
void reg_permute(const char* name, const char* alias, const char* doc) {
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
      });
  if (alias) op.alias(alias);
}

std::vector<int> transpose_perm(const TransposeParam& p, int nd) { return perm_of(p.axes, nd); }

// ---- Reshape family (copies; NDArray.reshape in Python makes views) ---------------------
struct ReshapeParam {
  Tuple shape;
  bool reverse;
  static void declare(ParamSpec<ReshapeParam>& s) {
    s.field("shape", &ReshapeParam::shape).set_default(Tuple{})
        .describe("Target shape; MXNet's special values 0, -1, -2, -3, -4 apply.");
    s.field("reverse", &ReshapeParam::reverse).set_default(false).describe("Apply special values from the right.");
  }
};

Shape infer_reshape(const Shape& src0, const Tuple& spec0, bool reverse) {
  std::vector<int64_t> src = src0.vec(), spec = spec0, out;
  if (reverse) { std::reverse(src.begin(), src.end()); std::reverse(spec.begin(), spec.end()); }
  size_t i = 0;
  int infer_at = -1;
  auto bad = [&](const char* why) {
    fail(BRASS_ERR_SHAPE, "Reshape: cannot reshape ", src0, " into ", parse::tuple_str(spec0), ": ", why);
  };
  for (size_t j = 0; j < spec.size(); ++j) {
    int64_t s = spec[j];
    if (s == 0) { if (i >= src.size()) bad("0 refers past the input"); out.push_back(src[i++]); }
    else if (s == -1) { if (infer_at >= 0) bad("more than one -1"); infer_at = int(out.size()); out.push_back(-1); ++i; }
    else if (s == -2) { while (i < src.size()) out.push_back(src[i++]); }
    else if (s == -3) { if (i + 1 >= src.size()) bad("-3 needs two input axes"); out.push_back(src[i] * src[i + 1]); i += 2; }
    else if (s == -4) {
      if (j + 2 >= spec.size() || i >= src.size()) bad("-4 needs two values after it");
      int64_t d0 = spec[j + 1], d1 = spec[j + 2];
      if (reverse) std::swap(d0, d1);
      if (d0 == -1 && d1 > 0) d0 = src[i] / d1;
      if (d1 == -1 && d0 > 0) d1 = src[i] / d0;
      if (d0 * d1 != src[i]) bad("-4 split does not match");
      out.push_back(d0); out.push_back(d1);
      ++i;
      j += 2;
    } else if (s > 0) { out.push_back(s); ++i; }
    else bad("invalid value");
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

struct AxisParam {
  int axis;
  static void declare(ParamSpec<AxisParam>& s) {
    s.field("axis", &AxisParam::axis).describe("Position of the new axis (negative counts from the end).");
  }
};

struct SqueezeParam {
  std::optional<Tuple> axis;
  static void declare(ParamSpec<SqueezeParam>& s) {
    s.field("axis", &SqueezeParam::axis).set_default(std::nullopt).describe("Axes of size 1 to drop; None: all.");
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

// Copies blocks: out viewed as (outer, sum of mids, inner), input i as (outer, mid_i, inner).
void concat_blocks(const In& in, const TBlob& out, int axis) {
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < axis; ++i) outer *= out.shape[i];
  for (int i = axis + 1; i < out.shape.ndim(); ++i) inner *= out.shape[i];
  size_t es = dtype_size(out.dtype);
  int64_t total = out.shape.ndim() ? out.shape[axis] : 1;
  thread_pool::parallel_for(outer, std::max<int64_t>(1, kernel::kGrain / std::max<int64_t>(1, total * inner)),
                            [&](int64_t b, int64_t e) {
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

struct SplitParam {
  int num_outputs, axis;
  bool squeeze_axis;
  static void declare(ParamSpec<SplitParam>& s) {
    s.field("num_outputs", &SplitParam::num_outputs).set_lower_bound(1).describe("Number of equal parts.");
    s.field("axis", &SplitParam::axis).set_default(1).describe("Axis to split along.");
    s.field("squeeze_axis", &SplitParam::squeeze_axis).set_default(false).describe("Drop the split axis when parts have size 1.");
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
std::vector<SliceRange> slice_ranges(const Shape& s, const SliceParam& p) {
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

void strided_copy(const TBlob& in, const TBlob& out, const std::vector<SliceRange>& r) {
  int nd = in.shape.ndim();
  int64_t n = out.size();
  if (n == 0) return;
  size_t es = dtype_size(in.dtype);
  std::vector<int64_t> st(nd, 1);
  for (int d = nd - 2; d >= 0; --d) st[d] = st[d + 1] * in.shape[d + 1];
  int64_t inner = nd ? r[nd - 1].len : 1;
  int64_t outer = n / inner;
  thread_pool::parallel_for(outer, std::max<int64_t>(1, 16384 / inner), [&](int64_t ob, int64_t oe) {
    for (int64_t o = ob; o < oe; ++o) {
      int64_t rem = o, off = 0;
      for (int d = nd - 2; d >= 0; --d) {
        int64_t idx = rem % r[d].len;
        rem /= r[d].len;
        off += (r[d].begin + idx * r[d].step) * st[d];
      }
      const char* src = static_cast<const char*>(in.dptr);
      char* dst = static_cast<char*>(out.dptr) + size_t(o * inner) * es;
      int64_t b = nd ? r[nd - 1].begin : 0, s = nd ? r[nd - 1].step : 1;
      if (s == 1) {
        std::memcpy(dst, src + size_t(off + b) * es, size_t(inner) * es);
      } else {
        for (int64_t i = 0; i < inner; ++i) std::memcpy(dst + i * es, src + size_t(off + b + i * s) * es, es);
      }
    }
  });
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

std::vector<SliceRange> slice_axis_ranges(const Shape& s, const SliceAxisParam& p) {
  int ax = normalize_axis(p.axis, s.ndim(), "slice_axis");
  std::vector<SliceRange> r(s.ndim());
  for (int i = 0; i < s.ndim(); ++i) r[i] = {0, 1, s[i]};
  int64_t n = s[ax], b = p.begin < 0 ? p.begin + n : p.begin, e = p.end ? (*p.end < 0 ? *p.end + n : *p.end) : n;
  if (b < 0 || b > n || e < b || e > n)
    fail(BRASS_ERR_INDEX, "slice_axis: [", p.begin, ", ", p.end ? std::to_string(*p.end) : "None",
         ") is out of bounds for axis ", p.axis, " of size ", n);
  r[ax] = {b, 1, e - b};
  return r;
}

struct SliceLikeParam {
  Tuple axes;
  static void declare(ParamSpec<SliceLikeParam>& s) {
    s.field("axes", &SliceLikeParam::axes).set_default(Tuple{}).describe("Axes to slice like the second input; () all.");
  }
};

std::vector<SliceRange> slice_like_ranges(const Shape& s, const Shape& like, const SliceLikeParam& p) {
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
    if (want > s[ax]) fail(BRASS_ERR_SHAPE, "slice_like: ", like, " is larger than ", s, " on axis ", ax);
    r[ax].len = want;
  }
  return r;
}

Shape ranges_shape(const std::vector<SliceRange>& r) {
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
    s.field("repeats", &RepeatParam::repeats).set_lower_bound(0).describe("Repetitions of each element.");
    s.field("axis", &RepeatParam::axis).set_default(std::nullopt).describe("Axis; None flattens first.");
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
    s.field("shape", &BroadcastToParam::shape).set_default(Tuple{}).describe("Target shape; 0 keeps the input's extent.");
  }
};

struct BroadcastLikeParam {
  std::optional<Tuple> lhs_axes, rhs_axes;
  static void declare(ParamSpec<BroadcastLikeParam>& s) {
    s.field("lhs_axes", &BroadcastLikeParam::lhs_axes).set_default(std::nullopt).describe("Axes of lhs to broadcast.");
    s.field("rhs_axes", &BroadcastLikeParam::rhs_axes).set_default(std::nullopt).describe("Matching axes of rhs.");
  }
};

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
      std::memcpy(static_cast<char*>(out.dptr) + size_t(o) * es, static_cast<const char*>(in.dptr) + size_t(off) * es, es);
    }
  });
}

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

struct AddF : kernel::DefaultCompute {
  template <class T> static inline T map(T a, T b) { return T(a + b); }
};

ShapeFn fixed_shape(std::function<Shape(const NodeAttrs&, const std::vector<Shape>&)> f) {
  return [f](const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
    for (auto& s : in) if (!s.known()) return false;
    infer::assign_shape(out[0], f(a, in), a.op->name.c_str(), "output");
    return true;
  };
}

const bool kRegistered = [] {
  auto& R = OpRegistry::get();
  reg_permute<TransposeParam, transpose_perm>("transpose", nullptr,
      "Permutes the axes (reverses them by default).\n\n    transpose(zeros((2, 3))).shape = (3, 2)");
  reg_permute<SwapAxisParam, swap_perm>("SwapAxis", "swapaxes", "Swaps two axes.\n\n    SwapAxis(zeros((2, 3)), dim1=0, dim2=1).shape = (3, 2)");

  R.add("Reshape").alias("reshape").describe("Reshapes (copies) the input; MXNet's special values 0, -1, -2, -3, -4 apply.")
      .inputs({"data"}).params<ReshapeParam>().inplace_pairs({{0, 0}}).type_fn(infer::same_type)
      .shape_fn(fixed_shape([](const NodeAttrs& a, const std::vector<Shape>& in) {
        const auto& p = a.param<ReshapeParam>();
        return infer_reshape(in[0], p.shape, p.reverse);
      }))
      .cpu(copy_out);
  R.add("Flatten").alias("flatten").describe("Collapses all axes but the first.\n\n    Flatten(zeros((2, 3, 4))).shape = (2, 12)")
      .inputs({"data"}).inplace_pairs({{0, 0}}).type_fn(infer::same_type)
      .shape_fn(fixed_shape([](const NodeAttrs&, const std::vector<Shape>& in) {
        const Shape& s = in[0];
        if (s.ndim() == 0) return Shape{1, 1};
        return Shape{s[0], s[0] ? s.size() / s[0] : checked_product(s.data() + 1, s.ndim() - 1, "Flatten")};
      }))
      .cpu(copy_out);
  R.add("expand_dims").describe("Inserts an axis of size 1.\n\n    expand_dims(zeros((2, 3)), axis=1).shape = (2, 1, 3)")
      .inputs({"data"}).params<AxisParam>().inplace_pairs({{0, 0}}).type_fn(infer::same_type)
      .shape_fn(fixed_shape([](const NodeAttrs& a, const std::vector<Shape>& in) {
        int nd = in[0].ndim();
        int ax = normalize_axis(a.param<AxisParam>().axis, nd + 1, "expand_dims");
        Shape s(0);
        for (int i = 0; i < nd; ++i) { if (i == ax) s.push_back(1); s.push_back(in[0][i]); }
        if (ax == nd) s.push_back(1);
        return s;
      }))
      .cpu(copy_out);
  R.add("squeeze").describe("Drops axes of size 1 (a result with no axes has shape (1,)).")
      .inputs({"data"}).params<SqueezeParam>().inplace_pairs({{0, 0}}).type_fn(infer::same_type)
      .shape_fn(fixed_shape([](const NodeAttrs& a, const std::vector<Shape>& in) {
        const Shape& s = in[0];
        std::vector<char> drop(s.ndim(), 0);
        const auto& ax = a.param<SqueezeParam>().axis;
        if (!ax) { for (int i = 0; i < s.ndim(); ++i) drop[i] = s[i] == 1; }
        else for (int64_t v : *ax) {
          int k = normalize_axis(v, s.ndim(), "squeeze");
          if (s[k] != 1) fail(BRASS_ERR_SHAPE, "squeeze: axis ", v, " of ", s, " has size ", s[k], ", not 1");
          drop[k] = 1;
        }
        Shape o(0);
        for (int i = 0; i < s.ndim(); ++i) if (!drop[i]) o.push_back(s[i]);
        if (o.ndim() == 0) o.push_back(1);
        return o;
      }))
      .cpu(copy_out);

  R.add("Concat").alias("concat").describe("Joins arrays along an axis (dim, default 1).\n\n    Concat(zeros((2, 1)), zeros((2, 3))).shape = (2, 4)")
      .set_num_inputs([](const NodeAttrs& a) { return a.param<ConcatParam>().num_args; })
      .params<ConcatParam>().type_fn(infer::same_type)
      .shape_fn(fixed_shape([](const NodeAttrs& a, const std::vector<Shape>& in) {
        const Shape& s0 = in[0];
        int ax = normalize_axis(a.param<ConcatParam>().dim, s0.ndim(), "Concat");
        Shape o = s0;
        for (size_t i = 1; i < in.size(); ++i) {
          if (in[i].ndim() != s0.ndim()) fail(BRASS_ERR_SHAPE, "Concat: input ", i, " has shape ", in[i], ", input 0 ", s0);
          for (int d = 0; d < s0.ndim(); ++d)
            if (d != ax && in[i][d] != s0[d])
              fail(BRASS_ERR_SHAPE, "Concat: input ", i, " has shape ", in[i], ", incompatible with ", s0, " along dim ", ax);
          o[ax] += in[i][ax];
        }
        return o;
      }))
      .cpu([](const OpContext& c, const In& in, const In& out) {
        if (c.req[0] == Req::kNull) return;
        concat_blocks(in, out[0], normalize_axis(c.param<ConcatParam>().dim, out[0].shape.ndim(), "Concat"));
      });
  R.add("stack").describe("Joins arrays along a new axis.\n\n    stack(zeros((2,)), zeros((2,))).shape = (2, 2)")
      .set_num_inputs([](const NodeAttrs& a) { return a.param<StackParam>().num_args; })
      .params<StackParam>().type_fn(infer::same_type)
      .shape_fn(fixed_shape([](const NodeAttrs& a, const std::vector<Shape>& in) {
        for (size_t i = 1; i < in.size(); ++i)
          if (in[i] != in[0]) fail(BRASS_ERR_SHAPE, "stack: input ", i, " has shape ", in[i], ", input 0 ", in[0]);
        int ax = normalize_axis(a.param<StackParam>().axis, in[0].ndim() + 1, "stack");
        Shape o(0);
        for (int i = 0; i < in[0].ndim(); ++i) { if (i == ax) o.push_back(int64_t(in.size())); o.push_back(in[0][i]); }
        if (ax == in[0].ndim()) o.push_back(int64_t(in.size()));
        return o;
      }))
      .cpu([](const OpContext& c, const In& in, const In& out) {
        if (c.req[0] == Req::kNull) return;
        int ax = normalize_axis(c.param<StackParam>().axis, out[0].shape.ndim(), "stack");
        In views = in;
        for (auto& v : views) {  // each input seen with a size-1 axis at `ax`
          Shape s(0);
          for (int i = 0; i < v.shape.ndim(); ++i) { if (i == ax) s.push_back(1); s.push_back(v.shape[i]); }
          if (ax == v.shape.ndim()) s.push_back(1);
          v.shape = s;
        }
        concat_blocks(views, out[0], ax);
      });
  R.add("SliceChannel").alias("split").describe("Splits an array into equal parts along an axis (default 1).")
      .inputs({"data"}).params<SplitParam>()
      .set_num_outputs([](const NodeAttrs& a) { return a.param<SplitParam>().num_outputs; })
      .type_fn(infer::same_type)
      .shape_fn([](const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
        if (!in[0].known()) return false;
        const auto& p = a.param<SplitParam>();
        int ax = normalize_axis(p.axis, in[0].ndim(), "SliceChannel");
        if (in[0][ax] % p.num_outputs)
          fail(BRASS_ERR_SHAPE, "SliceChannel: axis ", p.axis, " of ", in[0], " does not split into ", p.num_outputs, " equal parts");
        Shape s = in[0];
        s[ax] /= p.num_outputs;
        if (p.squeeze_axis) {
          if (s[ax] != 1) fail(BRASS_ERR_SHAPE, "SliceChannel: squeeze_axis needs parts of size 1, got ", s[ax]);
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
        int ax = normalize_axis(p.axis, in[0].shape.ndim(), "SliceChannel");
        int64_t part = in[0].shape[ax] / p.num_outputs;
        for (int k = 0; k < p.num_outputs; ++k) {
          if (c.req[k] == Req::kNull) continue;
          std::vector<SliceRange> r(in[0].shape.ndim());
          for (int i = 0; i < in[0].shape.ndim(); ++i) r[i] = {0, 1, in[0].shape[i]};
          r[ax] = {k * part, 1, part};
          TBlob o = out[k];
          o.shape = ranges_shape(r);
          strided_copy(in[0], o, r);
        }
      });
  R.add("slice").alias("crop").describe("Slices with begin/end/step per axis (numpy rules; None means the edge).\n\n"
                                        "    slice([[1, 2, 3], [4, 5, 6]], begin=(0, 1), end=(2, None)) = [[2, 3], [5, 6]]")
      .inputs({"data"}).params<SliceParam>().type_fn(infer::same_type)
      .shape_fn(fixed_shape([](const NodeAttrs& a, const std::vector<Shape>& in) {
        return ranges_shape(slice_ranges(in[0], a.param<SliceParam>()));
      }))
      .cpu([](const OpContext& c, const In& in, const In& out) {
        if (c.req[0] != Req::kNull) strided_copy(in[0], out[0], slice_ranges(in[0].shape, c.param<SliceParam>()));
      });
  R.add("slice_axis").describe("Slices one axis: [begin, end).\n\n    slice_axis([1, 2, 3], axis=0, begin=1, end=None) = [2, 3]")
      .inputs({"data"}).params<SliceAxisParam>().type_fn(infer::same_type)
      .shape_fn(fixed_shape([](const NodeAttrs& a, const std::vector<Shape>& in) {
        return ranges_shape(slice_axis_ranges(in[0], a.param<SliceAxisParam>()));
      }))
      .cpu([](const OpContext& c, const In& in, const In& out) {
        if (c.req[0] != Req::kNull) strided_copy(in[0], out[0], slice_axis_ranges(in[0].shape, c.param<SliceAxisParam>()));
      });
  R.add("slice_like").describe("Slices the first input to the shape of the second on the given axes.")
      .inputs({"data", "shape_like"}).params<SliceLikeParam>()
      .type_fn([](const NodeAttrs& a, std::vector<int>& in, std::vector<int>& out) {
        infer::assign_type(out[0], in[0], "slice_like", "output");
        return in[0] >= 0 && in[1] >= 0;
      })
      .shape_fn(fixed_shape([](const NodeAttrs& a, const std::vector<Shape>& in) {
        return ranges_shape(slice_like_ranges(in[0], in[1], a.param<SliceLikeParam>()));
      }))
      .cpu([](const OpContext& c, const In& in, const In& out) {
        if (c.req[0] != Req::kNull)
          strided_copy(in[0], out[0], slice_like_ranges(in[0].shape, in[1].shape, c.param<SliceLikeParam>()));
      });

  R.add("tile").describe("Repeats the whole array (numpy.tile).\n\n    tile([1, 2], reps=(2,)) = [1, 2, 1, 2]")
      .inputs({"data"}).params<TileParam>().type_fn(infer::same_type)
      .shape_fn(fixed_shape([](const NodeAttrs& a, const std::vector<Shape>& in) {
        const Tuple& reps = a.param<TileParam>().reps;
        int nd = std::max(in[0].ndim(), int(reps.size()));
        Shape o(nd);
        for (int i = 0; i < nd; ++i) {
          int ia = in[0].ndim() - nd + i, ir = int(reps.size()) - nd + i;
          int64_t d = ia >= 0 ? in[0][ia] : 1, r = ir >= 0 ? reps[ir] : 1;
          if (r < 0) fail(BRASS_ERR_INVALID_ARGUMENT, "tile: negative repetition in ", parse::tuple_str(reps));
          o[i] = d * r;
        }
        return o;
      }))
      .cpu([](const OpContext& c, const In& in, const In& out) {
        if (c.req[0] == Req::kNull) return;
        int nd = out[0].shape.ndim(), off = nd - in[0].shape.ndim();
        TBlob src = in[0];
        Shape s(nd, 1);
        for (int i = 0; i < in[0].shape.ndim(); ++i) s[i + off] = in[0].shape[i];
        src.shape = s;
        gather_axes(src, out[0], [&](int d, int64_t i) { return i % s[d]; });
      });
  R.add("repeat").describe("Repeats each element (numpy.repeat).\n\n    repeat([1, 2], repeats=2) = [1, 1, 2, 2]")
      .inputs({"data"}).params<RepeatParam>().type_fn(infer::same_type)
      .shape_fn(fixed_shape([](const NodeAttrs& a, const std::vector<Shape>& in) {
        const auto& p = a.param<RepeatParam>();
        if (!p.axis) return Shape{in[0].size() * p.repeats};
        Shape o = in[0];
        int ax = normalize_axis(*p.axis, o.ndim(), "repeat");
        o[ax] *= p.repeats;
        return o;
      }))
      .cpu([](const OpContext& c, const In& in, const In& out) {
        if (c.req[0] == Req::kNull) return;
        const auto& p = c.param<RepeatParam>();
        TBlob src = in[0];
        int ax = 0;
        if (!p.axis) src.shape = Shape{in[0].size()};
        else ax = normalize_axis(*p.axis, in[0].shape.ndim(), "repeat");
        gather_axes(src, out[0], [&](int d, int64_t i) { return d == ax ? i / p.repeats : i; });
      });
  R.add("reverse").alias("flip").describe("Reverses the order of elements along axes.\n\n    reverse([1, 2, 3], axis=0) = [3, 2, 1]")
      .inputs({"data"}).params<ReverseParam>().type_fn(infer::same_type).shape_fn(infer::same_shape)
      .cpu([](const OpContext& c, const In& in, const In& out) {
        if (c.req[0] == Req::kNull) return;
        int nd = in[0].shape.ndim();
        std::vector<char> rev(nd, 0);
        for (int64_t a : c.param<ReverseParam>().axis) rev[normalize_axis(a, nd, "reverse")] = 1;
        if (in[0].dptr == out[0].dptr) fail(BRASS_ERR_INTERNAL, "reverse: in place");
        gather_axes(in[0], out[0], [&](int d, int64_t i) { return rev[d] ? in[0].shape[d] - 1 - i : i; });
      });
  auto bcast_kernel = [](const OpContext& c, const In& in, const In& out) {
    if (c.req[0] == Req::kNull) return;
    int nd = out[0].shape.ndim(), off = nd - in[0].shape.ndim();
    TBlob src = in[0];
    Shape s(nd, 1);
    for (int i = 0; i < in[0].shape.ndim(); ++i) s[i + off] = in[0].shape[i];
    src.shape = s;
    gather_axes(src, out[0], [&](int d, int64_t i) { return s[d] == 1 ? 0 : i; });
  };
  R.add("broadcast_to").describe("Broadcasts to a shape (0 keeps the input's extent).\n\n    broadcast_to([[1], [2]], shape=(2, 3)).shape = (2, 3)")
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
            fail(BRASS_ERR_SHAPE, "broadcast_to: cannot broadcast ", s, " to ", parse::tuple_str(t));
        }
        return o;
      }))
      .cpu(bcast_kernel);
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
          if (l.ndim() != r.ndim()) fail(BRASS_ERR_SHAPE, "broadcast_like: ", l, " and ", r, " differ in rank");
          for (int i = 0; i < l.ndim(); ++i) {
            if (l[i] != 1 && l[i] != r[i]) fail(BRASS_ERR_SHAPE, "broadcast_like: cannot broadcast ", l, " to ", r);
            o[i] = r[i];
          }
        } else {
          if (!p.rhs_axes || p.rhs_axes->size() != p.lhs_axes->size())
            fail(BRASS_ERR_INVALID_ARGUMENT, "broadcast_like: lhs_axes and rhs_axes must have the same length");
          for (size_t k = 0; k < p.lhs_axes->size(); ++k) {
            int la = normalize_axis((*p.lhs_axes)[k], l.ndim(), "broadcast_like");
            int ra = normalize_axis((*p.rhs_axes)[k], r.ndim(), "broadcast_like");
            if (l[la] != 1 && l[la] != r[ra]) fail(BRASS_ERR_SHAPE, "broadcast_like: cannot broadcast ", l, " to ", r);
            o[la] = r[ra];
          }
        }
        return o;
      }))
      .cpu(bcast_kernel);
  R.add("clip").describe("Limits values to [a_min, a_max].\n\n    clip([-1, 5, 10], a_min=0, a_max=6) = [0, 5, 6]")
      .inputs({"data"}).params<ClipParam>().inplace_pairs({{0, 0}}).type_fn(infer::same_type).shape_fn(infer::same_shape)
      .cpu([](const OpContext& c, const In& in, const In& out) {
        if (c.req[0] == Req::kNull) return;
        const auto& p = c.param<ClipParam>();
        dispatch_dtype(in[0].dtype, [&](auto tag) {
          using T = decltype(tag);
          using C = typename kernel::ComputeOf<T>::type;
          const T* x = in[0].ptr<T>();
          T* y = out[0].ptr<T>();
          C lo = convert<C>(p.a_min), hi = convert<C>(p.a_max);
          if constexpr (std::is_floating_point<C>::value) { lo = C(p.a_min); hi = C(p.a_max); }
          thread_pool::parallel_for(in[0].size(), kernel::kGrain, [&](int64_t b, int64_t e) {
            for (int64_t i = b; i < e; ++i) {
              C v = convert<C>(x[i]);
              y[i] = convert<T>(v < lo ? lo : v > hi ? hi : v);
            }
          });
          return 0;
        });
      });
  R.add("add_n").alias("ElementWiseSum").alias("_sum").describe("Sums any number of arrays of the same shape.\n\n    add_n([1, 2], [3, 4], [5, 6]) = [9, 12]")
      .set_num_inputs([](const NodeAttrs& a) { return a.param<AddNParam>().num_args; })
      .params<AddNParam>().type_fn(infer::same_type).shape_fn(infer::same_shape).inplace_pairs({{0, 0}})
      .cpu([](const OpContext& c, const In& in, const In& out) {
        if (c.req[0] == Req::kNull) return;
        // out = in0 + in1, then out += in_k: each element sums in input order.
        if (in.size() == 1) {
          if (in[0].dptr != out[0].dptr) kernel::cast(in[0], out[0]);
          return;
        }
        kernel::binary_broadcast<AddF>(in[0], in[1], out[0], Req::kWrite);
        for (size_t k = 2; k < in.size(); ++k) kernel::binary_broadcast<AddF>(out[0], in[k], out[0], Req::kWrite);
      });
  return true;
}();

}  // namespace matrix_ops
}  // namespace brass
