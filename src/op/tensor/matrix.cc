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
#include "op/tensor/elemwise_binary_functors.h"
#include "op/tensor/matrix_params.h"

namespace brass {
namespace matrix_ops {

using Kernel = ComputeFn;
using In = std::vector<TBlob>;

void copy_out(const OpContext& c, const In& in, const In& out) {
  if (c.req[0] == Req::kNull || in[0].dptr == out[0].dptr) return;
  std::memcpy(out[0].dptr, in[0].dptr, size_t(in[0].size()) * dtype_size(in[0].dtype));
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

void strided_copy(const TBlob& in, const TBlob& out, const std::vector<SliceRange>& r) {
  int nd = in.shape.ndim();
  int64_t n = out.size();
  if (n == 0) return;
  size_t es = dtype_size(in.dtype);
  std::vector<int64_t> st(nd, 1);
  for (int d = nd - 2; d >= 0; --d) st[d] = st[d + 1] * in.shape[d + 1];
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
      const char* src = static_cast<const char*>(in.dptr);
      char* dst = static_cast<char*>(out.dptr) + size_t(o * inner) * es;
      int64_t b = nd ? r[nd - 1].begin : 0, s = nd ? r[nd - 1].step : 1;
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
      "Permutes the axes (reverses them by default).\n\n"
      "    transpose(zeros((2, 3))).shape = (3, 2)");
  reg_permute<SwapAxisParam, swap_perm>("SwapAxis", "swapaxes",
      "Swaps two axes.\n\n    SwapAxis(zeros((2, 3)), dim1=0, dim2=1).shape = (3, 2)");

  R.add("Reshape").alias("reshape")
      .describe("Reshapes (copies) the input; MXNet's special values 0, -1, -2, -3, -4 apply.")
      .inputs({"data"}).params<ReshapeParam>().inplace_pairs({{0, 0}}).type_fn(infer::same_type)
      .shape_fn(fixed_shape([](const NodeAttrs& a, const std::vector<Shape>& in) {
        const auto& p = a.param<ReshapeParam>();
        return infer_reshape(in[0], p.shape, p.reverse);
      }))
      .cpu(copy_out);
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
      .cpu(copy_out);
  R.add("expand_dims")
      .describe("Inserts an axis of size 1.\n\n"
                "    expand_dims(zeros((2, 3)), axis=1).shape = (2, 1, 3)")
      .inputs({"data"}).params<AxisParam>().inplace_pairs({{0, 0}}).type_fn(infer::same_type)
      .shape_fn(fixed_shape([](const NodeAttrs& a, const std::vector<Shape>& in) {
        int ax = normalize_axis(a.param<AxisParam>().axis, in[0].ndim() + 1, "expand_dims");
        return insert_axis(in[0], ax);
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
          if (s[k] != 1)
            fail(BRASS_ERR_SHAPE, "squeeze: axis ", v, " of ", s, " has size ", s[k], ", not 1");
          drop[k] = 1;
        }
        Shape o(0);
        for (int i = 0; i < s.ndim(); ++i) if (!drop[i]) o.push_back(s[i]);
        if (o.ndim() == 0) o.push_back(1);
        return o;
      }))
      .cpu(copy_out);

  R.add("Concat").alias("concat")
      .describe("Joins arrays along an axis (dim, default 1).\n\n"
                "    Concat(zeros((2, 1)), zeros((2, 3))).shape = (2, 4)")
      .set_num_inputs([](const NodeAttrs& a) { return a.param<ConcatParam>().num_args; })
      .params<ConcatParam>().type_fn(infer::same_type)
      .shape_fn(fixed_shape([](const NodeAttrs& a, const std::vector<Shape>& in) {
        const Shape& s0 = in[0];
        int ax = normalize_axis(a.param<ConcatParam>().dim, s0.ndim(), "Concat");
        Shape o = s0;
        for (size_t i = 1; i < in.size(); ++i) {
          if (in[i].ndim() != s0.ndim())
            fail(BRASS_ERR_SHAPE, "Concat: input ", i, " has shape ", in[i], ", input 0 ", s0);
          for (int d = 0; d < s0.ndim(); ++d)
            if (d != ax && in[i][d] != s0[d])
              fail(BRASS_ERR_SHAPE, "Concat: input ", i, " has shape ", in[i],
                   ", incompatible with ", s0, " along dim ", ax);
          o[ax] += in[i][ax];
        }
        return o;
      }))
      .cpu([](const OpContext& c, const In& in, const In& out) {
        if (c.req[0] == Req::kNull) return;
        int ax = normalize_axis(c.param<ConcatParam>().dim, out[0].shape.ndim(), "Concat");
        concat_blocks(in, out[0], ax);
      });
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
      });
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
      });
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
      });
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
      });
  R.add("slice_like")
      .describe("Slices the first input to the shape of the second on the given axes.")
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
          strided_copy(in[0], out[0],
                       slice_like_ranges(in[0].shape, in[1].shape, c.param<SliceLikeParam>()));
      });

  R.add("tile")
      .describe("Repeats the whole array (numpy.tile).\n\n"
                "    tile([1, 2], reps=(2,)) = [1, 2, 1, 2]")
      .inputs({"data"}).params<TileParam>().type_fn(infer::same_type)
      .shape_fn(fixed_shape([](const NodeAttrs& a, const std::vector<Shape>& in) {
        const Tuple& reps = a.param<TileParam>().reps;
        int nd = std::max(in[0].ndim(), int(reps.size()));
        Shape o(nd);
        for (int i = 0; i < nd; ++i) {
          int ia = in[0].ndim() - nd + i, ir = int(reps.size()) - nd + i;
          int64_t d = ia >= 0 ? in[0][ia] : 1, r = ir >= 0 ? reps[ir] : 1;
          if (r < 0)
            fail(BRASS_ERR_INVALID_ARGUMENT, "tile: negative repetition in ",
                 parse::tuple_str(reps));
          o[i] = d * r;
        }
        return o;
      }))
      .cpu([](const OpContext& c, const In& in, const In& out) {
        if (c.req[0] == Req::kNull) return;
        TBlob src = in[0];
        const Shape s = src.shape = align_right(in[0].shape, out[0].shape.ndim());
        gather_axes(src, out[0], [&](int d, int64_t i) { return i % s[d]; });
      });
  R.add("repeat")
      .describe("Repeats each element (numpy.repeat).\n\n"
                "    repeat([1, 2], repeats=2) = [1, 1, 2, 2]")
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
      });
  auto bcast_kernel = [](const OpContext& c, const In& in, const In& out) {
    if (c.req[0] == Req::kNull) return;
    TBlob src = in[0];
    const Shape s = src.shape = align_right(in[0].shape, out[0].shape.ndim());
    gather_axes(src, out[0], [&](int d, int64_t i) { return s[d] == 1 ? 0 : i; });
  };
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
      .cpu(bcast_kernel);
  R.add("clip")
      .describe("Limits values to [a_min, a_max].\n\n"
                "    clip([-1, 5, 10], a_min=0, a_max=6) = [0, 5, 6]")
      .inputs({"data"}).params<ClipParam>().inplace_pairs({{0, 0}})
      .type_fn(infer::same_type).shape_fn(infer::same_shape)
      .cpu([](const OpContext& c, const In& in, const In& out) {
        if (c.req[0] == Req::kNull) return;
        const auto& p = c.param<ClipParam>();
        dispatch_dtype(in[0].dtype, [&](auto tag) {
          using T = decltype(tag);
          using C = typename kernel::ComputeOf<T>::type;
          const T* x = in[0].ptr<T>();
          T* y = out[0].ptr<T>();
          auto [lo, hi] = clip_bounds<C>(p);
          thread_pool::parallel_for(in[0].size(), kernel::kGrain, [&](int64_t b, int64_t e) {
            for (int64_t i = b; i < e; ++i) y[i] = convert<T>(clip_value(convert<C>(x[i]), lo, hi));
          });
          return 0;
        });
      });
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
      });
  return true;
}();

}  // namespace matrix_ops
}  // namespace brass
