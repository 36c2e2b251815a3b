// Indexing operators: take, pick, one_hot, where, diag, and the slice writers _slice_assign /
// _slice_assign_scalar (what NDArray.__setitem__ calls). MXNet 1.x names, parameters and
// semantics; every dtype. Also their gradients, the ops those need (_backward_take,
// _backward_pick, _backward_diag), and the along-axis gather/scatter behind the gradients of
// sort and topk (_gather_along_axis, _scatter_along_axis). Gathers move elements as raw words,
// so only the index input needs a dtype switch. Parameters and the shape/region plans are in
// indexing_params.h (shared with the CUDA kernels, cuda/indexing.cu).
#include <algorithm>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "kernel/elemwise.h"
#include "op/grad.h"
#include "op/operator.h"
#include "op/tensor/indexing_params.h"

namespace brass {
namespace indexing_ops {

// ---- Shared helpers ----------------------------------------------------------------------

SliceTuple parse_slice_tuple(const std::string& s0) {
  size_t b = 0, e = s0.size();
  while (b < e && (s0[b] == ' ' || s0[b] == '\t' || s0[b] == '\n')) ++b;
  while (e > b && (s0[e - 1] == ' ' || s0[e - 1] == '\t' || s0[e - 1] == '\n')) --e;
  std::string s = s0.substr(b, e - b);
  if (s.empty()) fail(BRASS_ERR_INVALID_ARGUMENT, "expected a tuple such as (0, None), got ''");
  if (s.front() == '(' || s.front() == '[') {
    char close = s.front() == '(' ? ')' : ']';
    if (s.back() != close)
      fail(BRASS_ERR_INVALID_ARGUMENT, "expected a tuple such as (0, None), got '", s0, "'");
    s = s.substr(1, s.size() - 2);
  }
  // Items between commas; one trailing comma is allowed ("(1,)"), other blank items are not.
  std::vector<std::string> items;
  size_t pos = 0;
  for (;;) {
    size_t comma = s.find(',', pos);
    items.push_back(s.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  auto blank = [](const std::string& x) {
    return x.find_first_not_of(" \t\n") == std::string::npos;
  };
  if (items.size() > 1 && blank(items.back())) items.pop_back();
  SliceTuple t;
  if (items.size() == 1 && blank(items[0])) return t;
  for (auto& item : items) {
    if (blank(item))
      fail(BRASS_ERR_INVALID_ARGUMENT, "expected a tuple such as (0, None), got '", s0, "'");
    if (parse::is_none(item)) t.v.emplace_back(std::nullopt);
    else t.v.emplace_back(parse::to_int(item));
  }
  return t;
}

std::string slice_tuple_str(const SliceTuple& t) {
  std::string s = "(";
  for (size_t i = 0; i < t.v.size(); ++i) {
    if (i) s += ", ";
    s += t.v[i] ? std::to_string(*t.v[i]) : std::string("None");
  }
  if (t.v.size() == 1) s += ",";
  return s + ")";
}

void reject_add_req(const OpContext& ctx, const char* op) {
  for (Req r : ctx.req)
    if (r == Req::kAdd)
      fail(BRASS_ERR_UNSUPPORTED, op, ": accumulating into the output (kAdd) is not supported");
}

int64_t extent_product(const Shape& s, int from, int to) {
  int64_t p = 1;
  for (int i = from; i < to; ++i) p *= s[i];
  return p;
}

#if BRASS_ALL_OPS || BRASS_OP_take || BRASS_OP_pick || BRASS_OP_one_hot
// Index values of any dtype as int64 (floats truncate toward zero, NaN gives 0).
std::vector<int64_t> indices_as_int64(const TBlob& idx) {
  std::vector<int64_t> out(size_t(idx.size()));
  dispatch_dtype(idx.dtype, [&](auto tag) {
    using I = decltype(tag);
    const I* p = idx.ptr<I>();
    int64_t* o = out.data();
    thread_pool::parallel_for(idx.size(), kernel::kGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        if constexpr (std::is_same<I, uint64_t>::value)
          o[i] = p[i] > uint64_t(INT64_MAX) ? INT64_MAX : int64_t(p[i]);
        else
          o[i] = convert<int64_t>(p[i]);
      }
    });
    return 0;
  });
  return out;
}
#endif

Mode parse_mode(const std::string& m) {
  if (m == "wrap") return Mode::kWrap;
  if (m == "raise") return Mode::kRaise;
  return Mode::kClip;
}

IndexPlan index_plan(const Shape& d, int axis, const std::string& mode) {
  IndexPlan g;
  g.axis = axis;
  g.outer = extent_product(d, 0, axis);
  g.n = d[axis];
  g.inner = extent_product(d, axis + 1, d.ndim());
  g.mode = parse_mode(mode);
  return g;
}

#if BRASS_ALL_OPS || BRASS_OP_take || BRASS_OP_pick
void index_out_of_bounds(const char* op, int64_t v, int axis, int64_t n) {
  fail(BRASS_ERR_INDEX, op, ": index ", v, " is out of bounds for axis ", axis, " with size ", n);
}

// Maps indices into [0, n) by the mode; raise mode fails at the first bad index, naming op.
void apply_mode(std::vector<int64_t>& j, int64_t n, Mode mode, const char* op, int axis) {
  if (mode == Mode::kRaise) {
    for (int64_t v : j)
      if (v < 0 || v >= n) index_out_of_bounds(op, v, axis, n);
    return;
  }
  int64_t* p = j.data();
  thread_pool::parallel_for(int64_t(j.size()), kernel::kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) p[i] = map_index(p[i], n, mode);
  });
}
#endif

bool type_out_is_in0(const NodeAttrs& a, std::vector<int>& in, std::vector<int>& out) {
  const char* op = a.op->name.c_str();
  infer::assign_type(out[0], in[0], op, "output");
  infer::assign_type(in[0], out[0], op, "data");
  return in[0] >= 0 && in[1] >= 0;
}

#if BRASS_ALL_OPS || BRASS_OP_take
// ---- take ----------------------------------------------------------------------------------

bool take_shape(const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
  const Shape& d = in[0];
  const Shape& idx = in[1];
  if (!d.ndim_known() || !idx.ndim_known()) return false;
  if (d.ndim() == 0)
    fail(BRASS_ERR_SHAPE, "take: data must have at least one dimension, got shape ()");
  int axis = normalize_axis(a.param<TakeParam>().axis, d.ndim(), "take");
  int ond = d.ndim() - 1 + idx.ndim();
  if (ond > kMaxNDim)
    fail(BRASS_ERR_SHAPE, "take: the output would have ", ond, " dimensions (at most ", kMaxNDim,
         ")");
  Shape o(ond);
  int k = 0;
  for (int i = 0; i < axis; ++i) o[k++] = d[i];
  for (int i = 0; i < idx.ndim(); ++i) o[k++] = idx[i];
  for (int i = axis + 1; i < d.ndim(); ++i) o[k++] = d[i];
  if (d[axis] == 0 && idx.known() && idx.size() > 0)
    fail(BRASS_ERR_INDEX, "take: cannot take ", idx.size(), " indices from axis ", axis,
         " of size 0 (data shape ", d, ")");
  infer::assign_shape(out[0], o, "take", "output");
  return out[0].known();
}

void take_cpu(const OpContext& ctx, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  reject_add_req(ctx, "take");
  const TBlob& d = in[0];
  IndexPlan g = take_plan(ctx.param<TakeParam>(), d.shape);
  int64_t outer = g.outer, n = g.n, inner = g.inner;
  std::vector<int64_t> j = indices_as_int64(in[1]);
  int64_t m = int64_t(j.size());
  // Raise mode checks the indices even when the output is empty.
  if (g.mode == Mode::kRaise) apply_mode(j, n, g.mode, "take", g.axis);
  if (out[0].size() == 0) return;
  if (g.mode != Mode::kRaise) apply_mode(j, n, g.mode, "take", g.axis);
  dispatch_width(d.dtype, [&](auto tag) {
    using W = decltype(tag);
    const W* src = d.ptr<W>();
    W* dst = out[0].ptr<W>();
    const int64_t* jj = j.data();
    int64_t grain = std::max<int64_t>(1, kernel::kGrain / std::max<int64_t>(inner, 1));
    thread_pool::parallel_for(outer * m, grain, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        int64_t o = r / m, t = r % m;
        const W* s = src + (o * n + jj[t]) * inner;
        W* q = dst + r * inner;
        for (int64_t i = 0; i < inner; ++i) q[i] = s[i];
      }
    });
  });
}
#endif

#if BRASS_ALL_OPS || BRASS_OP_pick
// ---- pick ----------------------------------------------------------------------------------

int pick_axis(const PickParam& p, int ndim) {
  if (!p.axis) fail(BRASS_ERR_INVALID_ARGUMENT, "pick: axis=None is not supported; give an axis");
  if (ndim == 0) fail(BRASS_ERR_SHAPE, "pick: data must have at least one dimension, got shape ()");
  return normalize_axis(*p.axis, ndim, "pick");
}

bool pick_shape(const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
  const auto& p = a.param<PickParam>();
  const Shape& d = in[0];
  if (!d.ndim_known()) {
    if (in[1].ndim_known()) infer::assign_shape(out[0], in[1], "pick", "output");
    return false;
  }
  int axis = pick_axis(p, d.ndim());
  // The data's shape with the axis kept as 1 (keep) or removed (drop).
  auto reduced = [&](bool keep) {
    Shape s(keep ? d.ndim() : d.ndim() - 1);
    int k = 0;
    for (int i = 0; i < d.ndim(); ++i) {
      if (i != axis) s[k++] = d[i];
      else if (keep) s[k++] = 1;
    }
    return s;
  };
  Shape s = reduced(p.keepdims);
  // The index may have either shape whatever keepdims says (MXNet 1.x: Gluon's softmax
  // cross-entropy picks with keepdims from labels without the class axis).
  Shape is = in[1].ndim_known() ? reduced(in[1].ndim() == d.ndim()) : s;
  // MXNet 1.x (no 0-d arrays) gives a 1-D input's index the shape (1,); accept it too.
  if (is.ndim() == 0 && in[1].ndim() == 1 && (in[1][0] == 1 || in[1][0] < 0)) is = Shape{1};
  if (s.ndim() == 0) s = is;
  infer::assign_shape(in[1], is, "pick", "index");
  infer::assign_shape(out[0], s, "pick", "output");
  if (d.known() && d[axis] == 0 && s.size() > 0)
    fail(BRASS_ERR_INDEX, "pick: cannot pick from axis ", axis, " of size 0 (data shape ", d, ")");
  return out[0].known() && d.known();
}

void pick_cpu(const OpContext& ctx, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  reject_add_req(ctx, "pick");
  const TBlob& d = in[0];
  IndexPlan g = pick_plan(ctx.param<PickParam>(), d.shape);
  int64_t n = g.n, inner = g.inner;
  if (out[0].size() == 0) return;
  std::vector<int64_t> j = indices_as_int64(in[1]);
  apply_mode(j, n, g.mode, "pick", g.axis);
  dispatch_width(d.dtype, [&](auto tag) {
    using W = decltype(tag);
    const W* src = d.ptr<W>();
    W* dst = out[0].ptr<W>();
    const int64_t* jj = j.data();
    thread_pool::parallel_for(out[0].size(), kernel::kGrain, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        int64_t o = r / inner, i = r % inner;
        dst[r] = src[(o * n + jj[r]) * inner + i];
      }
    });
  });
}
#endif

#if BRASS_ALL_OPS || BRASS_OP_one_hot
// ---- one_hot -------------------------------------------------------------------------------

bool one_hot_shape(const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
  const Shape& i = in[0];
  if (!i.ndim_known()) return false;
  if (i.ndim() + 1 > kMaxNDim)
    fail(BRASS_ERR_SHAPE, "one_hot: indices of shape ", i, " give more than ", kMaxNDim,
         " dimensions");
  Shape o(i.ndim() + 1);
  for (int k = 0; k < i.ndim(); ++k) o[k] = i[k];
  o[i.ndim()] = a.param<OneHotParam>().depth;
  infer::assign_shape(out[0], o, "one_hot", "output");
  return out[0].known();
}

void one_hot_cpu(const OpContext& ctx, const std::vector<TBlob>& in,
                 const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  reject_add_req(ctx, "one_hot");
  const auto& p = ctx.param<OneHotParam>();
  if (out[0].size() == 0) return;
  std::vector<int64_t> j = indices_as_int64(in[0]);
  int64_t depth = p.depth;
  dispatch_dtype(out[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    T on = convert<T>(p.on_value), off = convert<T>(p.off_value);
    T* o = out[0].ptr<T>();
    const int64_t* jj = j.data();
    int64_t grain = std::max<int64_t>(1, kernel::kGrain / depth);
    thread_pool::parallel_for(int64_t(j.size()), grain, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        T* row = o + r * depth;
        for (int64_t c = 0; c < depth; ++c) row[c] = off;
        if (jj[r] >= 0 && jj[r] < depth) row[jj[r]] = on;  // out of range: an all-off row
      }
    });
    return 0;
  });
}
#endif

#if BRASS_ALL_OPS || BRASS_OP_where
// ---- where ---------------------------------------------------------------------------------

bool where_shape(const NodeAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) {
  Shape s;
  infer::assign_shape(s, in[1], "where", "x");
  infer::assign_shape(s, in[2], "where", "y (must match x)");
  infer::assign_shape(s, out[0], "where", "output");
  infer::assign_shape(in[1], s, "where", "x");
  infer::assign_shape(in[2], s, "where", "y");
  infer::assign_shape(out[0], s, "where", "output");
  const Shape& c = in[0];
  if (c.ndim_known() && s.ndim_known()) {
    if (c.ndim() == s.ndim()) {
      infer::assign_shape(in[0], s, "where",
                          "condition (must match x, or be 1-D of length x.shape[0])");
    } else if (c.ndim() == 1 && s.ndim() >= 1) {
      if (c[0] >= 0 && s[0] >= 0 && c[0] != s[0])
        fail(BRASS_ERR_SHAPE, "where: a 1-D condition must have length x.shape[0]: condition ", c,
             ", x ", s);
    } else {
      fail(BRASS_ERR_SHAPE, "where: condition must have the shape of x, or be 1-D of length "
           "x.shape[0]: condition ", c, ", x ", s);
    }
  }
  return s.known() && in[0].known();
}

bool where_type(const NodeAttrs&, std::vector<int>& in, std::vector<int>& out) {
  int t = -1;
  infer::assign_type(t, in[1], "where", "x");
  infer::assign_type(t, in[2], "where", "y (must match x)");
  infer::assign_type(t, out[0], "where", "output");
  in[1] = in[2] = out[0] = t;
  return t >= 0 && in[0] >= 0;
}

void where_cpu(const OpContext& ctx, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  reject_add_req(ctx, "where");
  const TBlob &c = in[0], &x = in[1], &y = in[2], &o = out[0];
  int64_t n = o.size();
  if (n == 0) return;
  int64_t row = where_row(c.shape, x.shape, n);
  std::vector<uint8_t> mask(size_t(c.size()));
  dispatch_dtype(c.dtype, [&](auto tag) {
    using C = decltype(tag);
    const C* p = c.ptr<C>();
    uint8_t* m = mask.data();
    thread_pool::parallel_for(c.size(), kernel::kGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) m[i] = convert<bool>(p[i]) ? 1 : 0;  // NaN counts as true
    });
    return 0;
  });
  dispatch_width(o.dtype, [&](auto tag) {
    using W = decltype(tag);
    const W* xp = x.ptr<W>();
    const W* yp = y.ptr<W>();
    W* op = o.ptr<W>();
    const uint8_t* m = mask.data();
    thread_pool::parallel_for(n, kernel::kGrain, [&](int64_t b, int64_t e) {
      if (row == 1) {
        for (int64_t i = b; i < e; ++i) op[i] = m[i] ? xp[i] : yp[i];
      } else {
        for (int64_t i = b; i < e; ++i) op[i] = m[i / row] ? xp[i] : yp[i];
      }
    });
  });
}
#endif

#if BRASS_ALL_OPS || BRASS_OP_diag
// ---- diag ----------------------------------------------------------------------------------

DiagPlan diag_plan(const DiagParam& p, const Shape& d) {
  DiagPlan g;
  g.a1 = normalize_axis(p.axis1, d.ndim(), "diag");
  g.a2 = normalize_axis(p.axis2, d.ndim(), "diag");
  if (g.a1 == g.a2)
    fail(BRASS_ERR_INVALID_ARGUMENT, "diag: axis1 and axis2 must differ, both are ", g.a1);
  int64_t h = d[g.a1], w = d[g.a2];
  if (h < 0 || w < 0) { g.len = -1; return g; }
  int64_t s = p.k >= 0 ? std::min(h, w - p.k) : std::min(h + p.k, w);
  g.len = std::max<int64_t>(s, 0);
  return g;
}

bool diag_shape(const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
  const auto& p = a.param<DiagParam>();
  const Shape& d = in[0];
  if (!d.ndim_known()) return false;
  if (d.ndim() == 0)
    fail(BRASS_ERR_SHAPE, "diag: input must have at least one dimension, got shape ()");
  if (d.ndim() == 1) {
    if (d[0] < 0) return false;
    int64_t n = d[0] + (p.k < 0 ? -p.k : p.k);
    infer::assign_shape(out[0], Shape{n, n}, "diag", "output");
    return true;
  }
  DiagPlan g = diag_plan(p, d);
  Shape o(d.ndim() - 1);
  int k = 0;
  for (int i = 0; i < d.ndim(); ++i)
    if (i != g.a1 && i != g.a2) o[k++] = d[i];
  o[k] = g.len;
  infer::assign_shape(out[0], o, "diag", "output");
  return out[0].known();
}

// The diagonals of data d (2 or more dims) into o, one row per diagonal; backward: the other
// way, o's diagonals from the rows of d (o zeroed by the caller).
void diag_extract(const TBlob& d, const TBlob& o, const DiagParam& p, bool backward = false) {
  const Shape& full = backward ? o.shape : d.shape;
  int64_t off_r = p.k < 0 ? -p.k : 0, off_c = p.k > 0 ? p.k : 0;
  DiagPlan g = diag_plan(p, full);
  int nd = full.ndim();
  int64_t stride[kMaxNDim];
  stride[nd - 1] = 1;
  for (int i = nd - 2; i >= 0; --i) stride[i] = stride[i + 1] * full[i + 1];
  // The remaining axes, in order, index the rows; each row is one diagonal.
  int rest[kMaxNDim], nr = 0;
  for (int i = 0; i < nd; ++i)
    if (i != g.a1 && i != g.a2) rest[nr++] = i;
  int64_t len = g.len;
  if (len == 0) return;
  int64_t rows = (backward ? d.size() : o.size()) / len;
  int64_t step = stride[g.a1] + stride[g.a2];
  int64_t start = off_r * stride[g.a1] + off_c * stride[g.a2];
  dispatch_width(d.dtype, [&](auto tag) {
    using W = decltype(tag);
    const W* s = d.ptr<W>();
    W* q = o.ptr<W>();
    int64_t grain = std::max<int64_t>(1, kernel::kGrain / len);
    thread_pool::parallel_for(rows, grain, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        int64_t base = start, t = r;
        for (int i = nr - 1; i >= 0; --i) {
          int64_t ext = full[rest[i]];
          base += (t % ext) * stride[rest[i]];
          t /= ext;
        }
        if (backward) {
          const W* sr = s + r * len;
          for (int64_t l = 0; l < len; ++l) q[base + l * step] = sr[l];
        } else {
          W* qr = q + r * len;
          for (int64_t l = 0; l < len; ++l) qr[l] = s[base + l * step];
        }
      }
    });
  });
}

void diag_cpu(const OpContext& ctx, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  reject_add_req(ctx, "diag");
  const auto& p = ctx.param<DiagParam>();
  const TBlob &d = in[0], &o = out[0];
  if (o.size() == 0) return;
  int64_t off_r = p.k < 0 ? -p.k : 0, off_c = p.k > 0 ? p.k : 0;
  if (d.shape.ndim() == 1) {
    int64_t n = d.shape[0], w = o.shape[1];
    // All-zero bits are 0 in every dtype.
    std::memset(o.dptr, 0, size_t(o.size()) * dtype_size(o.dtype));
    dispatch_width(d.dtype, [&](auto tag) {
      using W = decltype(tag);
      const W* s = d.ptr<W>();
      W* q = o.ptr<W>();
      for (int64_t i = 0; i < n; ++i) q[(i + off_r) * w + i + off_c] = s[i];
    });
    return;
  }
  diag_extract(d, o, p);
}
#endif

#if BRASS_ALL_OPS || BRASS_OP_slice_assign || BRASS_OP_slice_assign_scalar
// ---- _slice_assign, _slice_assign_scalar ---------------------------------------------------

Region slice_region(const Shape& d, const SliceTuple& begin, const SliceTuple& end,
                    const SliceTuple& step, const char* op) {
  size_t nb = begin.v.size();
  if (end.v.size() != nb)
    fail(BRASS_ERR_INVALID_ARGUMENT, op, ": begin ", slice_tuple_str(begin), " and end ",
         slice_tuple_str(end), " must have the same length");
  if (!step.v.empty() && step.v.size() != nb)
    fail(BRASS_ERR_INVALID_ARGUMENT, op, ": step ", slice_tuple_str(step), " and begin ",
         slice_tuple_str(begin), " must have the same length");
  if (int(nb) > d.ndim())
    fail(BRASS_ERR_INVALID_ARGUMENT, op, ": begin ", slice_tuple_str(begin),
         " has more axes than data of shape ", d);
  Region r;
  r.nd = d.ndim();
  for (int i = 0; i < r.nd; ++i) {
    int64_t n = d[i];
    if (size_t(i) >= nb) {
      r.begin[i] = 0; r.step[i] = 1; r.len[i] = n;
      continue;
    }
    int64_t s = step.v.empty() || !step.v[i] ? 1 : *step.v[i];
    if (s == 0) fail(BRASS_ERR_INVALID_ARGUMENT, op, ": step[", i, "] must not be 0");
    r.step[i] = s;
    if (n < 0) { r.begin[i] = 0; r.len[i] = -1; continue; }
    const auto &bo = begin.v[i], &eo = end.v[i];
    int64_t b, e;
    if (s > 0) {
      b = bo ? *bo : 0;
      if (b < 0) b = std::max<int64_t>(b + n, 0);
      b = std::min(b, n);
      e = eo ? *eo : n;
      if (e < 0) e = std::max<int64_t>(e + n, 0);
      e = std::min(e, n);
      r.len[i] = e > b ? (e - b - 1) / s + 1 : 0;
    } else {
      b = bo ? *bo : n - 1;
      if (b < 0) b = std::max<int64_t>(b + n, -1);
      b = std::min(b, n - 1);
      e = eo ? *eo : -1;
      if (eo && e < 0) e = std::max<int64_t>(e + n, -1);
      e = std::min(e, n - 1);
      r.len[i] = b > e ? (b - e - 1) / (-s) + 1 : 0;
    }
    r.begin[i] = r.len[i] > 0 ? b : 0;
  }
  return r;
}

Shape region_shape(const Region& r) {
  Shape s(r.nd);
  for (int i = 0; i < r.nd; ++i) s[i] = r.len[i];
  return s;
}

// Calls fn(offset in data, position in region order, count, element step) for every row of the
// region (its last axis), in parallel. 0-d data is one row of one element.
template <class F>
void for_region_rows(const Shape& d, const Region& r, F&& fn) {
  int nd = r.nd;
  if (nd == 0) { fn(int64_t(0), int64_t(0), int64_t(1), int64_t(1)); return; }
  int64_t stride[kMaxNDim];
  stride[nd - 1] = 1;
  for (int i = nd - 2; i >= 0; --i) stride[i] = stride[i + 1] * d[i + 1];
  int64_t rows = 1;
  for (int i = 0; i < nd - 1; ++i) rows *= r.len[i];
  int64_t len = r.len[nd - 1];
  if (rows == 0 || len == 0) return;
  int64_t base0 = 0;
  for (int i = 0; i < nd; ++i) base0 += r.begin[i] * stride[i];
  int64_t grain = std::max<int64_t>(1, kernel::kGrain / len);
  thread_pool::parallel_for(rows, grain, [&](int64_t b, int64_t e) {
    for (int64_t row = b; row < e; ++row) {
      int64_t off = base0, t = row;
      for (int i = nd - 2; i >= 0; --i) {
        off += (t % r.len[i]) * r.step[i] * stride[i];
        t /= r.len[i];
      }
      fn(off, row * len, len, r.step[nd - 1]);
    }
  });
}

// out = lhs unless they are the same memory (the in-place case writes only the region).
void copy_unless_inplace(const TBlob& lhs, const TBlob& out) {
  if (lhs.dptr == out.dptr) return;
  size_t es = dtype_size(out.dtype);
  const char* s = static_cast<const char*>(lhs.dptr);
  char* q = static_cast<char*>(out.dptr);
  int64_t chunk = kernel::kGrain * 8;
  int64_t nbytes = out.size() * int64_t(es);
  thread_pool::parallel_for(nbytes, chunk, [&](int64_t b, int64_t e) {
    std::memcpy(q + b, s + b, size_t(e - b));
  });
}

bool slice_assign_shape(const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
  infer::assign_shape(out[0], in[0], "_slice_assign", "output (the shape of lhs)");
  infer::assign_shape(in[0], out[0], "_slice_assign", "lhs");
  if (!in[0].ndim_known()) return false;
  const auto& p = a.param<SliceAssignParam>();
  Region r = param_region(p, in[0], "_slice_assign");
  Shape want = region_shape(r);
  try {
    infer::assign_shape(in[1], want, "_slice_assign", "rhs");
  } catch (const Error&) {
    fail(BRASS_ERR_SHAPE, "_slice_assign: rhs has shape ", in[1], ", the region of lhs ", in[0],
         " has shape ", want);
  }
  return in[0].known() && in[1].known();
}

void slice_assign_cpu(const OpContext& ctx, const std::vector<TBlob>& in,
                      const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  reject_add_req(ctx, "_slice_assign");
  const TBlob &lhs = in[0], &rhs = in[1], &o = out[0];
  copy_unless_inplace(lhs, o);
  Region r = param_region(ctx.param<SliceAssignParam>(), o.shape, "_slice_assign");
  dispatch_width(o.dtype, [&](auto tag) {
    using W = decltype(tag);
    const W* s = rhs.ptr<W>();
    W* q = o.ptr<W>();
    for_region_rows(o.shape, r, [&](int64_t off, int64_t pos, int64_t len, int64_t step) {
      W* qr = q + off;
      const W* sr = s + pos;
      for (int64_t j = 0; j < len; ++j) qr[j * step] = sr[j];
    });
  });
}

void slice_assign_scalar_cpu(const OpContext& ctx, const std::vector<TBlob>& in,
                             const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  reject_add_req(ctx, "_slice_assign_scalar");
  const auto& p = ctx.param<SliceAssignScalarParam>();
  const TBlob& o = out[0];
  copy_unless_inplace(in[0], o);
  Region r = param_region(p, o.shape, "_slice_assign_scalar");
  dispatch_dtype(o.dtype, [&](auto tag) {
    using T = decltype(tag);
    T v = convert<T>(p.scalar);
    T* q = o.ptr<T>();
    for_region_rows(o.shape, r, [&](int64_t off, int64_t, int64_t len, int64_t step) {
      T* qr = q + off;
      for (int64_t j = 0; j < len; ++j) qr[j * step] = v;
    });
    return 0;
  });
}
#endif

#if BRASS_TRAINING
// ---- Gradient ops: _backward_take, _backward_pick, _backward_diag ---------------------------
// Inputs: the output gradient, then the forward inputs (for their shapes and indices); the
// result has data's shape and the gradient's dtype.

bool grad_type(const NodeAttrs& a, std::vector<int>& in, std::vector<int>& out) {
  const char* op = a.op->name.c_str();
  infer::assign_type(out[0], in[0], op, "output");
  infer::assign_type(in[0], out[0], op, "ograd");
  for (int t : in) if (t < 0) return false;
  return true;
}

// Output: the shape of input `data`; the gradient (input 0) must have the shape that Fwd, the
// forward op's shape function, gives for the forward inputs `fwd_in`.
template <bool (*Fwd)(const NodeAttrs&, std::vector<Shape>&, std::vector<Shape>&), int data,
          int... fwd_in>
bool grad_shape(const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
  const char* op = a.op->name.c_str();
  infer::assign_shape(out[0], in[data], op, "output");
  infer::assign_shape(in[data], out[0], op, "data");
  std::vector<Shape> fi{in[fwd_in]...}, fo{Shape()};
  bool known = Fwd(a, fi, fo);
  infer::assign_shape(in[0], fo[0], op, "ograd (the forward output's shape)");
  return known && in[0].known() && out[0].known();
}

// The scatter-add of ScatterAddPlan: values v into out (zeroed here). A task owns a block of
// columns of one outer slice and walks t in order, so every element sums in increasing t (the
// CUDA kernel adds in the same order, one thread per column); the sums are in the compute
// type.
void scatter_add(const TBlob& v, const std::vector<int64_t>& j, const ScatterAddPlan& p,
                 const TBlob& out) {
  int64_t size = out.size();
  if (size == 0) return;
  dispatch_dtype(out.dtype, [&](auto tag) {
    using T = decltype(tag);
    using C = typename kernel::ComputeOf<T>::type;
    std::vector<C> buf;
    C* acc;
    if constexpr (std::is_same<T, C>::value) {
      acc = out.ptr<T>();
    } else {
      buf.resize(size_t(size));
      acc = buf.data();
    }
    std::fill(acc, acc + size, C(0));
    const T* src = v.ptr<T>();
    const int64_t* jj = j.data();
    constexpr int64_t kBlock = 1024;
    int64_t inner = p.inner, m = p.m;
    int64_t nb = (inner + kBlock - 1) / kBlock;
    int64_t work = std::max<int64_t>(1, m * std::min(inner, kBlock));
    int64_t grain = std::max<int64_t>(1, kernel::kGrain / work);
    thread_pool::parallel_for(p.outer * nb, grain, [&](int64_t b, int64_t e) {
      for (int64_t w = b; w < e; ++w) {
        int64_t o = w / nb, i0 = (w % nb) * kBlock, i1 = std::min(inner, i0 + kBlock);
        for (int64_t t = 0; t < m; ++t) {
          const T* row = src + (o * m + t) * inner;
          for (int64_t i = i0; i < i1; ++i) {
            C& d = acc[scatter_add_at(p, jj, o, t, i)];
            d = C(d + convert<C>(row[i]));
          }
        }
      }
    });
    if constexpr (!std::is_same<T, C>::value) {
      T* q = out.ptr<T>();
      thread_pool::parallel_for(size, kernel::kGrain, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) q[i] = convert<T>(acc[i]);
      });
    }
    return 0;
  });
}

// _backward_take(ograd, indices, a): zeros of a's shape, then ograd row t added at index j[t]
// (rows with a repeated index sum).
void take_grad_cpu(const OpContext& ctx, const std::vector<TBlob>& in,
                   const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  reject_add_req(ctx, "_backward_take");
  IndexPlan g = take_plan(ctx.param<TakeParam>(), in[2].shape);
  std::vector<int64_t> j = indices_as_int64(in[1]);
  apply_mode(j, g.n, g.mode, "take", g.axis);
  scatter_add(in[0], j, take_scatter_plan(g, int64_t(j.size())), out[0]);
}

// _backward_pick(ograd, index, data): zeros of data's shape with ograd at the picked places
// (one per position, so nothing is summed).
void pick_grad_cpu(const OpContext& ctx, const std::vector<TBlob>& in,
                   const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  reject_add_req(ctx, "_backward_pick");
  const TBlob &g = in[0], &o = out[0];
  IndexPlan p = pick_plan(ctx.param<PickParam>(), in[2].shape);
  if (o.size() == 0) return;
  std::memset(o.dptr, 0, size_t(o.size()) * dtype_size(o.dtype));
  std::vector<int64_t> j = indices_as_int64(in[1]);
  apply_mode(j, p.n, p.mode, "pick", p.axis);
  int64_t n = p.n, inner = p.inner;
  dispatch_width(o.dtype, [&](auto tag) {
    using W = decltype(tag);
    const W* src = g.ptr<W>();
    W* dst = o.ptr<W>();
    const int64_t* jj = j.data();
    thread_pool::parallel_for(g.size(), kernel::kGrain, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        int64_t ob = r / inner, i = r % inner;
        dst[(ob * n + jj[r]) * inner + i] = src[r];
      }
    });
  });
}

// _backward_diag(ograd, data): for 2-D or more data, zeros with ograd's rows on the diagonals;
// for 1-D data (whose diag is a matrix), diagonal k of that matrix.
void diag_grad_cpu(const OpContext& ctx, const std::vector<TBlob>& in,
                   const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  reject_add_req(ctx, "_backward_diag");
  const auto& p = ctx.param<DiagParam>();
  const TBlob &g = in[0], &o = out[0];
  if (o.size() == 0) return;
  if (in[1].shape.ndim() == 1) {
    DiagParam q = p;
    q.axis1 = 0;
    q.axis2 = 1;
    diag_extract(g, o, q);
    return;
  }
  std::memset(o.dptr, 0, size_t(o.size()) * dtype_size(o.dtype));
  diag_extract(g, o, p, true);
}

// ---- _gather_along_axis, _scatter_along_axis -------------------------------------------------

AlongPlan along_plan(const Shape& d, const Shape& idx, const AlongAxisParam& p, const char* op) {
  AlongPlan g;
  if (!p.axis) {
    g.n = d.size();
    g.k = idx.size();
    return g;
  }
  if (d.ndim() == 0) fail(BRASS_ERR_SHAPE, op, ": data must have at least one dimension");
  g.axis = normalize_axis(*p.axis, d.ndim(), op);
  bool ok = idx.ndim() == d.ndim();
  for (int i = 0; ok && i < d.ndim(); ++i) ok = i == g.axis || idx[i] == d[i];
  if (!ok)
    fail(BRASS_ERR_SHAPE, op, ": indices of shape ", idx, " do not match data of shape ", d,
         " outside axis ", g.axis);
  g.outer = extent_product(d, 0, g.axis);
  g.n = d[g.axis];
  g.inner = extent_product(d, g.axis + 1, d.ndim());
  g.k = idx[g.axis];
  return g;
}

// The indices as int64, each checked to lie in [0, n).
std::vector<int64_t> along_indices(const TBlob& idx, const AlongPlan& g, const char* op) {
  std::vector<int64_t> j = indices_as_int64(idx);
  apply_mode(j, g.n, Mode::kRaise, op, g.axis);
  return j;
}

// out[o, j, i] = data[o, indices[o, j, i], i]: numpy.take_along_axis.
void gather_along_cpu(const OpContext& ctx, const std::vector<TBlob>& in,
                      const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  reject_add_req(ctx, "_gather_along_axis");
  const TBlob &d = in[0], &o = out[0];
  AlongPlan g = along_plan(d.shape, in[1].shape, ctx.param<AlongAxisParam>(), "_gather_along_axis");
  std::vector<int64_t> j = along_indices(in[1], g, "_gather_along_axis");
  int64_t k = g.k, n = g.n, inner = g.inner;
  dispatch_width(d.dtype, [&](auto tag) {
    using W = decltype(tag);
    const W* src = d.ptr<W>();
    W* dst = o.ptr<W>();
    const int64_t* jj = j.data();
    thread_pool::parallel_for(o.size(), kernel::kGrain, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        int64_t ob = r / (k * inner), i = r % inner;
        dst[r] = src[(ob * n + jj[r]) * inner + i];
      }
    });
  });
}

// Zeros of data's shape with values[o, j, i] added at [o, indices[o, j, i], i]: the gradient
// of _gather_along_axis (repeated indices sum).
void scatter_along_cpu(const OpContext& ctx, const std::vector<TBlob>& in,
                       const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  reject_add_req(ctx, "_scatter_along_axis");
  AlongPlan g = along_plan(in[2].shape, in[1].shape, ctx.param<AlongAxisParam>(),
                           "_scatter_along_axis");
  std::vector<int64_t> j = along_indices(in[1], g, "_scatter_along_axis");
  scatter_add(in[0], j, along_scatter_plan(g), out[0]);
}

bool gather_along_shape(const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
  infer::assign_shape(out[0], in[1], "_gather_along_axis", "output (the shape of indices)");
  infer::assign_shape(in[1], out[0], "_gather_along_axis", "indices");
  if (!in[0].known() || !in[1].known()) return false;
  along_plan(in[0], in[1], a.param<AlongAxisParam>(), "_gather_along_axis");
  return true;
}

bool scatter_along_shape(const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
  const char* op = "_scatter_along_axis";
  infer::assign_shape(out[0], in[2], op, "output (the shape of data)");
  infer::assign_shape(in[2], out[0], op, "data");
  infer::assign_shape(in[0], in[1], op, "values (the shape of indices)");
  infer::assign_shape(in[1], in[0], op, "indices (the shape of values)");
  if (!in[1].known() || !in[2].known()) return false;
  along_plan(in[2], in[1], a.param<AlongAxisParam>(), op);
  return true;
}
#endif

// ---- Gradients (Op::grad) ------------------------------------------------------------------
using grad::Entries;

// `op` applied to (ograd, the node's inputs `fwd`) with the node's parameters: the gradient of
// input 0; the other inputs (indices, shapes) get none. The gradient ops' own gradients are
// their forward ops, written the same way.
GradFn grad_op(const char* op, std::vector<int> fwd) {
  return [op, fwd](const NodePtr& n, const Entries& g) {
    Entries in{g[0]};
    for (int i : fwd) in.push_back(grad::in(n, size_t(i)));
    Entries r(n->inputs.size());
    r[0] = grad::apply(op, in, n->attrs->dict);
    return r;
  };
}

// where: the gradient goes to x where the condition holds and to y elsewhere.
Entries where_grad(const NodePtr& n, const Entries& g) {
  const NodeEntry& c = grad::in(n, 0);
  NodeEntry zero = grad::apply("zeros_like", {g[0]});
  return {NodeEntry(), grad::apply("where", {c, g[0], zero}), grad::apply("where", {c, zero, g[0]})};
}

// The region parameters of a slice writer with scalar=0: what zeroes its region.
grad::Params zero_region(const NodePtr& n) {
  grad::Params p;
  for (const auto& kv : n->attrs->dict)
    if (kv.first != "scalar") p.push_back(kv);
  p.emplace_back("scalar", "0");
  return p;
}

// _slice_assign: lhs gets the gradient outside the region, rhs the region.
Entries slice_assign_grad(const NodePtr& n, const Entries& g) {
  return {grad::apply("_slice_assign_scalar", {g[0]}, zero_region(n)),
          grad::apply("slice", {g[0]}, n->attrs->dict)};
}

Entries slice_assign_scalar_grad(const NodePtr& n, const Entries& g) {
  return {grad::apply("_slice_assign_scalar", {g[0]}, zero_region(n))};
}

// ---- Registration --------------------------------------------------------------------------

[[maybe_unused]] const bool kRegistered = [] {
#if BRASS_ALL_OPS || BRASS_OP_take
  OpRegistry::get().add("take")
      .describe("Takes elements from an array along an axis by index.\n\n"
                "The output shape is a.shape[:axis] + indices.shape + a.shape[axis+1:].\n"
                "Indices of any dtype are truncated to integers; out-of-range ones clip, wrap\n"
                "or raise (mode).\n\n"
                "    take([[1, 2], [3, 4], [5, 6]], [[0, 1], [1, 2]]) =\n"
                "        [[[1, 2], [3, 4]], [[3, 4], [5, 6]]]")
      .inputs({"a", "indices"}).params<TakeParam>()
      .shape_fn(take_shape).type_fn(type_out_is_in0).cpu(take_cpu)
      .grad(grad_op("_backward_take", {1, 0}));
#endif

#if BRASS_ALL_OPS || BRASS_OP_pick
  OpRegistry::get().add("pick")
      .describe("Picks one element per position along an axis, by index.\n\n"
                "    pick([[1, 2], [3, 4], [5, 6]], index=[0, 1, 0], axis=1) = [1, 4, 5]")
      .inputs({"data", "index"}).params<PickParam>()
      .shape_fn(pick_shape).type_fn(type_out_is_in0).cpu(pick_cpu)
      .grad(grad_op("_backward_pick", {1, 0}));
#endif

#if BRASS_ALL_OPS || BRASS_OP_one_hot
  OpRegistry::get().add("one_hot")
      .describe("One-hot encoding: output[i..., j] = on_value if indices[i...] == j, else\n"
                "off_value. Indices outside [0, depth) give an all-off row.\n\n"
                "    one_hot([1, 0, 2], depth=3) = [[0, 1, 0], [1, 0, 0], [0, 0, 1]]")
      .inputs({"indices"}).params<OneHotParam>()
      .shape_fn(one_hot_shape)
      .type_fn([](const NodeAttrs& a, std::vector<int>& in, std::vector<int>& out) {
        infer::assign_type(out[0], int(a.param<OneHotParam>().dtype), "one_hot", "output");
        return in[0] >= 0;
      })
      .cpu(one_hot_cpu)
      .grad(grad::none);
#endif

#if BRASS_ALL_OPS || BRASS_OP_where
  OpRegistry::get().add("where")
      .describe("Elements from x where condition is true (non-zero), else from y.\n\n"
                "condition has the shape of x, or is 1-D with length x.shape[0] and picks\n"
                "whole rows.\n\n"
                "    where([1, 0, 1], [1, 2, 3], [4, 5, 6]) = [1, 5, 3]")
      .inputs({"condition", "x", "y"})
      .shape_fn(where_shape).type_fn(where_type)
      .inplace_pairs({{1, 0}, {2, 0}})
      .cpu(where_cpu)
      .grad(where_grad);
#endif

#if BRASS_ALL_OPS || BRASS_OP_diag
  OpRegistry::get().add("diag")
      .describe("Diagonals. A 1-D input becomes a 2-D matrix with it on diagonal k; an N-D input\n"
                "gives the diagonals of its 2-D sub-arrays over axis1 and axis2, as a last\n"
                "axis.\n\n"
                "    diag([[1, 2], [3, 4]]) = [1, 4]\n"
                "    diag([1, 2], k=1) = [[0, 1, 0], [0, 0, 2], [0, 0, 0]]")
      .inputs({"data"}).params<DiagParam>()
      .shape_fn(diag_shape).type_fn(infer::same_type).cpu(diag_cpu)
      .grad(grad_op("_backward_diag", {0}));
#endif

#if BRASS_ALL_OPS || BRASS_OP_slice_assign
  OpRegistry::get().add("_slice_assign")
      .describe("lhs with the region begin:end:step replaced by rhs (NDArray.__setitem__).\n\n"
                "begin, end and step follow slice: None is the natural bound, negative values\n"
                "count from the end. Given out= the same array as lhs, only the region is\n"
                "written.\n\n"
                "    _slice_assign(zeros((2, 3)), ones((1, 2)), begin=(1, 1), end=(2, 3)) =\n"
                "        [[0, 0, 0], [0, 1, 1]]")
      .alias("_crop_assign")
      .inputs({"lhs", "rhs"}).params<SliceAssignParam>()
      .shape_fn(slice_assign_shape).type_fn(infer::same_type)
      .inplace_pairs({{0, 0}})
      .cpu(slice_assign_cpu)
      .grad(slice_assign_grad);
#endif

#if BRASS_ALL_OPS || BRASS_OP_slice_assign_scalar
  OpRegistry::get().add("_slice_assign_scalar")
      .describe("data with the region begin:end:step set to a scalar (NDArray.__setitem__).\n\n"
                "    _slice_assign_scalar(zeros((3,)), scalar=2, begin=(1,), end=(None,)) =\n"
                "        [0, 2, 2]")
      .alias("_crop_assign_scalar")
      .inputs({"data"}).params<SliceAssignScalarParam>()
      .shape_fn([](const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
        bool ok = infer::same_shape(a, in, out);
        if (in[0].ndim_known())  // validates begin/end/step against the shape
          param_region(a.param<SliceAssignScalarParam>(), in[0], "_slice_assign_scalar");
        return ok;
      })
      .type_fn(infer::same_type)
      .inplace_pairs({{0, 0}})
      .cpu(slice_assign_scalar_cpu)
      .grad(slice_assign_scalar_grad);
#endif

#if BRASS_TRAINING
  // The gradients' own ops.
  OpRegistry::get().add("_backward_take")
      .describe("The gradient of take: zeros of a's shape, each row of ograd added at its\n"
                "index (repeated indices sum). Inputs: ograd, indices, a.")
      .inputs({"ograd", "indices", "a"}).params<TakeParam>()
      .shape_fn(grad_shape<take_shape, 2, 2, 1>).type_fn(grad_type)
      .cpu(take_grad_cpu)
      .grad(grad_op("take", {1}));
  OpRegistry::get().add("_backward_pick")
      .describe("The gradient of pick: zeros of data's shape with ograd at the picked places.\n"
                "Inputs: ograd, index, data.")
      .inputs({"ograd", "index", "data"}).params<PickParam>()
      .shape_fn(grad_shape<pick_shape, 2, 2, 1>).type_fn(grad_type)
      .cpu(pick_grad_cpu)
      .grad(grad_op("pick", {1}));
  OpRegistry::get().add("_backward_diag")
      .describe("The gradient of diag: ograd's rows put on the diagonals of zeros of data's\n"
                "shape, or (1-D data) diagonal k of ograd.")
      .inputs({"ograd", "data"}).params<DiagParam>()
      .shape_fn(grad_shape<diag_shape, 1, 1>).type_fn(grad_type)
      .cpu(diag_grad_cpu)
      .grad(grad_op("diag", {}));
  OpRegistry::get().add("_gather_along_axis")
      .describe("Elements of data at positions along an axis (numpy.take_along_axis): the\n"
                "output has the indices' shape, and out[o, j, i] = data[o, indices[o, j, i], i].\n"
                "Indices must lie in [0, extent); axis None uses the flattened data.\n\n"
                "    _gather_along_axis([[1, 2], [3, 4]], [[1], [0]], axis=1) = [[2], [3]]")
      .inputs({"data", "indices"}).params<AlongAxisParam>()
      .shape_fn(gather_along_shape).type_fn(type_out_is_in0)
      .cpu(gather_along_cpu)
      .grad([](const NodePtr& n, const Entries& g) {
        return Entries{grad::apply("_scatter_along_axis", {g[0], grad::in(n, 1), grad::in(n, 0)},
                                   n->attrs->dict),
                       NodeEntry()};
      });
  OpRegistry::get().add("_scatter_along_axis")
      .describe("Zeros of data's shape with values[o, j, i] added at [o, indices[o, j, i], i]:\n"
                "the gradient of _gather_along_axis (values at a repeated index sum), and so of\n"
                "sort and topk. Indices must lie in [0, extent); axis None: flattened data.\n\n"
                "    _scatter_along_axis([5, 6], [2, 0], zeros((3,)), axis=0) = [6, 0, 5]")
      .inputs({"values", "indices", "data"}).params<AlongAxisParam>()
      .shape_fn(scatter_along_shape).type_fn(grad_type)
      .cpu(scatter_along_cpu)
      .grad(grad_op("_gather_along_axis", {1}));
#endif
  return true;
}();

}  // namespace indexing_ops
}  // namespace brass
