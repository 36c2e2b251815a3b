// Ordering operators: topk, sort, argsort (MXNet 1.x) and cumsum (numpy.cumsum, MXNet's
// _np_cumsum), their gradients, and cumsum's gradient op _backward_cumsum. Sorts are stable,
// so ties keep their input order, and NaN sorts as the largest value (last ascending, first
// descending), as numpy.sort does.
#include <algorithm>
#include <cstring>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "kernel/elemwise.h"
#include "op/grad.h"
#include "op/operator.h"
#include "op/tensor/ordering_params.h"

namespace brass {
namespace ordering_ops {

Rows rows_of(const Shape& d, const std::optional<int>& axis, const char* op) {
  Rows r;
  if (!axis) {
    r.n = d.size();
    return r;
  }
  r.axis = normalize_axis(*axis, d.ndim(), op);
  for (int i = 0; i < r.axis; ++i) r.outer *= d[i];
  r.n = d[r.axis];
  for (int i = r.axis + 1; i < d.ndim(); ++i) r.inner *= d[i];
  return r;
}

#if BRASS_ALL_OPS || BRASS_OP_topk
// The shape of k results per row: the input with the axis cut to k, or (k,) when flattened.
Shape k_shape(const Shape& d, const std::optional<int>& axis, int64_t k, const char* op) {
  if (!axis) return Shape{k};
  Shape s = d;
  s[normalize_axis(*axis, d.ndim(), op)] = k;
  return s;
}
#endif

#if BRASS_ALL_OPS || BRASS_OP_topk || BRASS_OP_sort || BRASS_OP_argsort
// The largest n such that 0..n are all exact in dtype t.
int64_t index_limit(DType t) {
  switch (t) {
    case DType::kUint8: return 255;
    case DType::kInt8: return 127;
    case DType::kInt16: return 32767;
    case DType::kUint16: return 65535;
    case DType::kFloat16: return 2048;
    case DType::kBFloat16: return 256;
    case DType::kFloat32: return int64_t(1) << 24;
    case DType::kInt32: return INT32_MAX;
    case DType::kUint32: return UINT32_MAX;
    case DType::kFloat64: return int64_t(1) << 53;
    default: return INT64_MAX;
  }
}

void check_index_dtype(DType t, int64_t n, const char* op) {
  if (n > 0 && n - 1 > index_limit(t))
    fail(BRASS_ERR_DTYPE, op, ": dtype ", dtype_name(t),
         " cannot represent the indices of an axis of size ", n, "; choose a wider dtype");
}

// Where the first k sorted elements of each row go; null pointers are not written.
template <class T> struct SortOut {
  T* values = nullptr;       // (outer, k, inner): the values
  int64_t* indices = nullptr;  // (outer, k, inner): their positions along the axis
  T* mask = nullptr;         // the input's shape: 1 at the chosen elements (zeroed by the caller)
};

template <class T>
void sort_rows(const TBlob& d, const Rows& g, bool asc, int64_t k, const SortOut<T>& out) {
  using C = typename kernel::ComputeOf<T>::type;
  const T* src = d.ptr<T>();
  int64_t rows = g.outer * g.inner, n = g.n, inner = g.inner;
  if (rows == 0 || k == 0) return;
  bool partial = k * 8 < n;
  int64_t grain = std::max<int64_t>(1, kernel::kGrain / n);
  thread_pool::parallel_for(rows, grain, [&](int64_t b, int64_t e) {
    std::vector<Key<C>> keys(static_cast<size_t>(n));
    for (int64_t r = b; r < e; ++r) {
      int64_t o = r / inner, i = r % inner;
      const T* row = src + o * n * inner + i;
      for (int64_t j = 0; j < n; ++j) keys[j] = Key<C>{convert<C>(row[j * inner]), j};
      if (partial)
        std::partial_sort(keys.begin(), keys.begin() + k, keys.end(),
                          KeyOrderTied<C>{KeyOrder<C>{asc}});
      else
        std::stable_sort(keys.begin(), keys.end(), KeyOrder<C>{asc});
      int64_t ob = o * k * inner + i;
      if (out.values)
        for (int64_t j = 0; j < k; ++j) out.values[ob + j * inner] = row[keys[j].i * inner];
      if (out.indices)
        for (int64_t j = 0; j < k; ++j) out.indices[ob + j * inner] = keys[j].i;
      if (out.mask) {
        T one = convert<T>(1);
        T* mrow = out.mask + o * n * inner + i;
        for (int64_t j = 0; j < k; ++j) mrow[keys[j].i * inner] = one;
      }
    }
  });
}

// Positions (int64) into an index output of any dtype.
void store_indices(const std::vector<int64_t>& idx, const TBlob& out) {
  dispatch_dtype(out.dtype, [&](auto tag) {
    using I = decltype(tag);
    I* q = out.ptr<I>();
    const int64_t* p = idx.data();
    thread_pool::parallel_for(out.size(), kernel::kGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) q[i] = convert<I>(p[i]);
    });
    return 0;
  });
}

// Runs the sort of `d` and fills the requested outputs (any of them may be null): the CPU's
// SortFn.
void run_sort(const OpContext&, const TBlob& d, const Rows& g, bool asc, int64_t k,
              const TBlob* values, const TBlob* indices, const TBlob* mask) {
  std::vector<int64_t> idx;
  if (indices) idx.resize(size_t(indices->size()));
  if (mask) std::memset(mask->dptr, 0, size_t(mask->size()) * dtype_size(mask->dtype));
  dispatch_dtype(d.dtype, [&](auto tag) {
    using T = decltype(tag);
    SortOut<T> so;
    if (values) so.values = values->ptr<T>();
    if (indices) so.indices = idx.data();
    if (mask) so.mask = mask->ptr<T>();
    sort_rows<T>(d, g, asc, k, so);
    return 0;
  });
  if (indices) store_indices(idx, *indices);
}
#endif

void reject_add_req(const OpContext& ctx, const char* op) {
  for (Req r : ctx.req)
    if (r == Req::kAdd)
      fail(BRASS_ERR_UNSUPPORTED, op, ": accumulating into the output (kAdd) is not supported");
}

#if BRASS_ALL_OPS || BRASS_OP_topk
// ---- topk ----------------------------------------------------------------------------------

bool topk_both(const NodeAttrs& a) { return a.param<TopKParam>().ret_typ == "both"; }

bool topk_shape(const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
  const auto& p = a.param<TopKParam>();
  const Shape& d = in[0];
  if (!d.ndim_known()) return false;
  int64_t n;
  int axis = -1;
  if (p.axis) {
    axis = normalize_axis(*p.axis, d.ndim(), "topk");
    n = d[axis];
  } else {
    n = d.known() ? d.size() : -1;
  }
  int64_t k = p.k < 1 ? n : p.k;
  if (n >= 0 && k > n) {
    if (p.axis)
      fail(BRASS_ERR_INVALID_ARGUMENT, "topk: k ", p.k, " is out of range for axis ", axis,
           " of size ", n);
    fail(BRASS_ERR_INVALID_ARGUMENT, "topk: k ", p.k,
         " is out of range for the flattened input of size ", n);
  }
  if (p.ret_typ == "indices" || p.ret_typ == "both") check_index_dtype(p.dtype, n, "topk");
  if (p.ret_typ == "mask") {
    infer::assign_shape(out[0], d, "topk", "output");
    return d.known();
  }
  if (k < 0) return false;
  Shape s = k_shape(d, p.axis, k, "topk");
  for (auto& o : out) infer::assign_shape(o, s, "topk", "output");
  return s.known();
}

bool topk_type(const NodeAttrs& a, std::vector<int>& in, std::vector<int>& out) {
  const auto& p = a.param<TopKParam>();
  if (p.ret_typ == "indices") {
    infer::assign_type(out[0], int(p.dtype), "topk", "indices output");
  } else {
    infer::assign_type(out[0], in[0], "topk", "output");
    infer::assign_type(in[0], out[0], "topk", "data");
    if (p.ret_typ == "both") infer::assign_type(out[1], int(p.dtype), "topk", "indices output");
  }
  return in[0] >= 0;
}
#endif

// ---- sort, argsort -------------------------------------------------------------------------

// Output shape of a full sort: the input's, or (size,) when flattened.
template <class P>
bool sorted_shape(const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
  const auto& p = a.param<P>();
  const char* op = a.op->name.c_str();
  const Shape& d = in[0];
  if (!d.ndim_known()) return false;
  if (p.axis) {
    normalize_axis(*p.axis, d.ndim(), op);
    infer::assign_shape(out[0], d, op, "output");
    if constexpr (std::is_same<P, ArgSortParam>::value)
      if (d.known()) check_index_dtype(p.dtype, d[normalize_axis(*p.axis, d.ndim(), op)], op);
    return d.known();
  }
  if (!d.known()) return false;
  if constexpr (std::is_same<P, ArgSortParam>::value) check_index_dtype(p.dtype, d.size(), op);
  infer::assign_shape(out[0], Shape{d.size()}, op, "output");
  return true;
}

#if BRASS_ALL_OPS || BRASS_OP_cumsum
// ---- cumsum --------------------------------------------------------------------------------

bool cumsum_shape(const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
  const auto& p = a.param<CumsumParam>();
  const Shape& d = in[0];
  if (!d.ndim_known()) return false;
  if (p.axis) {
    normalize_axis(*p.axis, d.ndim(), "cumsum");
    infer::assign_shape(out[0], d, "cumsum", "output");
    infer::assign_shape(in[0], out[0], "cumsum", "input");
    return in[0].known();
  }
  if (!d.known()) return false;
  infer::assign_shape(out[0], Shape{d.size()}, "cumsum", "output");
  return true;
}

bool cumsum_type(const NodeAttrs& a, std::vector<int>& in, std::vector<int>& out) {
  const auto& p = a.param<CumsumParam>();
  if (p.dtype) {
    infer::assign_type(out[0], int(*p.dtype), "cumsum", "output");
  } else if (in[0] >= 0) {
    int t = in[0] == int(DType::kBool) ? int(DType::kInt64) : in[0];
    infer::assign_type(out[0], t, "cumsum", "output");
  }
  return in[0] >= 0 && out[0] >= 0;
}

// Scans the rows g of `in` into `out` (of type O): from the first element, or from the last
// (reverse: the gradient of cumsum, a sum of what follows).
template <class T, class O>
void cumsum_rows(const TBlob& in, const TBlob& out, const Rows& g, bool reverse) {
  using A = CumsumAcc<O>;
  const T* x = in.ptr<T>();
  O* y = out.ptr<O>();
  int64_t rows = g.outer * g.inner, n = g.n, inner = g.inner;
  int64_t grain = std::max<int64_t>(1, kernel::kGrain / std::max<int64_t>(n, 1));
  thread_pool::parallel_for(rows, grain, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      int64_t base = (r / inner) * n * inner + r % inner;
      A acc = A(0);
      for (int64_t q = 0; q < n; ++q) {
        int64_t at = base + (reverse ? n - 1 - q : q) * inner;
        O v = convert<O>(x[at]);
        if constexpr (std::is_same<A, uint64_t>::value) {
          acc += static_cast<uint64_t>(v);
          y[at] = static_cast<O>(acc);
        } else {
          acc = A(acc + convert<A>(v));
          y[at] = convert<O>(acc);
        }
      }
    }
  });
}

void cumsum_cpu(const OpContext& ctx, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  reject_add_req(ctx, "cumsum");
  const auto& p = ctx.param<CumsumParam>();
  Rows g = rows_of(in[0].shape, p.axis, "cumsum");
  if (out[0].size() == 0) return;
  dispatch_dtype(in[0].dtype, [&](auto ti) {
    using T = decltype(ti);
    dispatch_dtype(out[0].dtype, [&](auto to) {
      using O = decltype(to);
      cumsum_rows<T, O>(in[0], out[0], g, false);
      return 0;
    });
    return 0;
  });
}
#endif

#if BRASS_TRAINING
// _backward_cumsum(ograd, a): out[j] = sum of ograd[j:] along the axis, in a's shape and
// dtype (ograd converted to it first, then added as cumsum adds).
void cumsum_grad_cpu(const OpContext& ctx, const std::vector<TBlob>& in,
                     const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  reject_add_req(ctx, "_backward_cumsum");
  Rows g = rows_of(in[1].shape, ctx.param<CumsumParam>().axis, "cumsum");
  if (out[0].size() == 0) return;
  dispatch_dtype(in[0].dtype, [&](auto ti) {
    using T = decltype(ti);
    dispatch_dtype(out[0].dtype, [&](auto to) {
      using O = decltype(to);
      cumsum_rows<T, O>(in[0], out[0], g, true);
      return 0;
    });
    return 0;
  });
}

bool cumsum_grad_shape(const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
  infer::assign_shape(out[0], in[1], "_backward_cumsum", "output");
  infer::assign_shape(in[1], out[0], "_backward_cumsum", "a");
  std::vector<Shape> fi{in[1]}, fo{Shape()};
  bool known = cumsum_shape(a, fi, fo);
  infer::assign_shape(in[0], fo[0], "_backward_cumsum", "ograd (the forward output's shape)");
  return known && in[0].known();
}

bool cumsum_grad_type(const NodeAttrs&, std::vector<int>& in, std::vector<int>& out) {
  infer::assign_type(out[0], in[1], "_backward_cumsum", "output (a's dtype)");
  infer::assign_type(in[1], out[0], "_backward_cumsum", "a");
  return in[0] >= 0 && in[1] >= 0;
}
#endif  // BRASS_TRAINING

// ---- Gradients (Op::grad) ------------------------------------------------------------------
using grad::Entries;

#if BRASS_ALL_OPS || BRASS_OP_topk || BRASS_OP_sort
// The gradient of sorted values: each goes back to where it came from. The positions are
// recomputed with the same stable order (int64, exact for any axis).
Entries scatter_back(const NodePtr& n, const NodeEntry& g, const NodeEntry& positions) {
  grad::Params axis;
  for (const auto& kv : n->attrs->dict)
    if (kv.first == "axis") axis.push_back(kv);
  return {grad::apply("_scatter_along_axis", {g, positions, grad::in(n, 0)}, axis)};
}

// The parameters of n with the keys of `set` replaced (or added).
grad::Params with(const NodePtr& n, const grad::Params& set) {
  grad::Params p;
  for (const auto& kv : n->attrs->dict) {
    bool replaced = false;
    for (const auto& s : set) replaced = replaced || s.first == kv.first;
    if (!replaced) p.push_back(kv);
  }
  p.insert(p.end(), set.begin(), set.end());
  return p;
}

Entries sort_grad(const NodePtr& n, const Entries& g) {
  NodeEntry pos = grad::apply("argsort", {grad::in(n, 0)}, with(n, {{"dtype", "int64"}}));
  return scatter_back(n, g[0], pos);
}

// topk: the values (ret_typ 'value', or output 0 of 'both', whose output 1 are the positions)
// go back to their places; indices and masks are not differentiable.
Entries topk_grad(const NodePtr& n, const Entries& g) {
  const std::string& rt = n->attrs->param<TopKParam>().ret_typ;
  if (rt == "both") return scatter_back(n, g[0], grad::out(n, 1));
  if (rt != "value") return grad::none(n, g);
  NodeEntry pos = grad::apply("topk", {grad::in(n, 0)},
                              with(n, {{"ret_typ", "indices"}, {"dtype", "int64"}}));
  return scatter_back(n, g[0], pos);
}
#endif

// ---- Registration --------------------------------------------------------------------------

[[maybe_unused]] const bool kRegistered = [] {
#if BRASS_ALL_OPS || BRASS_OP_topk
  OpRegistry::get().add("topk")
      .describe("The top k elements along an axis: their indices (default), values, both, or a\n"
                "mask. Largest first unless is_ascend; ties keep their input order.\n\n"
                "    topk([[0.3, 0.2, 0.4], [0.1, 0.3, 0.2]], k=2) = [[2, 0], [1, 2]]\n"
                "    topk([[0.3, 0.2, 0.4], [0.1, 0.3, 0.2]], k=2, ret_typ='value', axis=0) =\n"
                "        [[0.3, 0.3, 0.4], [0.1, 0.2, 0.2]]")
      .inputs({"data"}).params<TopKParam>()
      .set_num_outputs([](const NodeAttrs& a) { return topk_both(a) ? 2 : 1; })
      .shape_fn(topk_shape).type_fn(topk_type).cpu(topk_kernel<run_sort>)
      .grad(topk_grad);
#endif

#if BRASS_ALL_OPS || BRASS_OP_sort
  OpRegistry::get().add("sort")
      .describe("Sorts along an axis (stable; NaN sorts as the largest value).\n\n"
                "    sort([[1, 4], [3, 1]]) = [[1, 4], [1, 3]]\n"
                "    sort([[1, 4], [3, 1]], axis=None) = [1, 1, 3, 4]")
      .inputs({"data"}).params<SortParam>()
      .shape_fn(sorted_shape<SortParam>).type_fn(infer::same_type).cpu(sort_kernel<run_sort>)
      .grad(sort_grad);
#endif

#if BRASS_ALL_OPS || BRASS_OP_argsort
  OpRegistry::get().add("argsort")
      .describe("The indices that sort an array along an axis (stable: ties keep their order).\n\n"
                "    argsort([0.3, 0.2, 0.4]) = [1, 0, 2]")
      .inputs({"data"}).params<ArgSortParam>()
      .shape_fn(sorted_shape<ArgSortParam>)
      .type_fn([](const NodeAttrs& a, std::vector<int>& in, std::vector<int>& out) {
        infer::assign_type(out[0], int(a.param<ArgSortParam>().dtype), "argsort", "output");
        return in[0] >= 0;
      })
      .cpu(argsort_kernel<run_sort>)
      .grad(grad::none);
#endif

#if BRASS_ALL_OPS || BRASS_OP_cumsum
  OpRegistry::get().add("cumsum")
      .describe("Cumulative sum along an axis (numpy.cumsum); None sums the flattened array.\n\n"
                "    cumsum([[1, 2], [3, 4]]) = [1, 3, 6, 10]\n"
                "    cumsum([[1, 2], [3, 4]], axis=0) = [[1, 2], [4, 6]]")
      .alias("_np_cumsum")
      .inputs({"a"}).params<CumsumParam>()
      .shape_fn(cumsum_shape).type_fn(cumsum_type)
      .inplace_pairs({{0, 0}})
      .cpu(cumsum_cpu)
      .grad([](const NodePtr& n, const Entries& g) {
        return Entries{grad::apply("_backward_cumsum", {g[0], grad::in(n, 0)}, n->attrs->dict)};
      });
#endif

#if BRASS_TRAINING
  OpRegistry::get().add("_backward_cumsum")
      .describe("The gradient of cumsum: the reverse cumulative sum of ograd along the axis,\n"
                "in a's shape and dtype. Inputs: ograd, a. Parameters: cumsum's (dtype, the\n"
                "forward output's dtype, is what this op's own gradient, cumsum, produces).")
      .inputs({"ograd", "a"}).params<CumsumParam>()
      .shape_fn(cumsum_grad_shape).type_fn(cumsum_grad_type)
      .cpu(cumsum_grad_cpu)
      .grad([](const NodePtr& n, const Entries& g) {
        return Entries{grad::apply("cumsum", {g[0]}, n->attrs->dict), NodeEntry()};
      });
#endif
  return true;
}();

}  // namespace ordering_ops
}  // namespace brass
