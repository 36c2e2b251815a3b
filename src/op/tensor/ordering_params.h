// Parameters, row planning and the sort order of the ordering operators (ordering.cc), shared
// by the CPU kernels and the CUDA kernels (cuda/ordering.cu), and the kernels of topk, sort and
// argsort over each device's sort. The order is BRASS_XINLINE: the same comparisons on the
// host and the device. rows_of and reject_add_req are defined in ordering.cc.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "base/xinline.h"
#include "kernel/elemwise.h"
#include "op/operator.h"

namespace brass {
namespace ordering_ops {

// An array seen as (outer, n, inner) around the sorted axis; the flattened array when the
// axis is None (outer = inner = 1).
struct Rows {
  int axis = -1;  // -1: flattened
  int64_t outer = 1, n = 1, inner = 1;
};

Rows rows_of(const Shape& d, const std::optional<int>& axis, const char* op);

// Fails when a write request is kAdd: the ordering operators only write.
void reject_add_req(const OpContext& ctx, const char* op);

template <class C> BRASS_XINLINE bool is_nan(C v) {
  if constexpr (std::is_floating_point<C>::value) return v != v;
  else return false;
}

template <class C> struct Key {
  C v;
  int64_t i;  // position along the axis
};

// Strict weak order on values: ascending with NaN last, or descending with NaN first.
template <class C> struct KeyOrder {
  bool asc;
  BRASS_XINLINE bool operator()(const Key<C>& a, const Key<C>& b) const {
    bool na = is_nan(a.v), nb = is_nan(b.v);
    if (na || nb) return asc ? (!na && nb) : (na && !nb);
    return asc ? a.v < b.v : b.v < a.v;
  }
};

// KeyOrder with ties broken by position: the same result as a stable sort (a total order, so
// any sorting algorithm gives it).
template <class C> struct KeyOrderTied {
  KeyOrder<C> o;
  BRASS_XINLINE bool operator()(const Key<C>& a, const Key<C>& b) const {
    if (o(a, b)) return true;
    if (o(b, a)) return false;
    return a.i < b.i;
  }
};

struct TopKParam {
  std::optional<int> axis;
  int k;
  std::string ret_typ;
  bool is_ascend;
  DType dtype;
  static void declare(ParamSpec<TopKParam>& s) {
    s.field("axis", &TopKParam::axis).set_default(std::optional<int>(-1))
        .describe("Axis along which to choose the top k; None uses the flattened array.");
    s.field("k", &TopKParam::k).set_default(1)
        .describe("Number of elements to select (at most the axis size); k < 1 selects them all.");
    s.field("ret_typ", &TopKParam::ret_typ).set_default("indices")
        .set_choices({"value", "indices", "mask", "both"})
        .describe("'value': the top k values; 'indices': their indices; 'mask': 1 at the top k "
                  "elements, 0 elsewhere; 'both': [values, indices].");
    s.field("is_ascend", &TopKParam::is_ascend).set_default(false)
        .describe("Choose the k smallest (True) or the k largest (False) elements.");
    s.field("dtype", &TopKParam::dtype).set_default(DType::kFloat32)
        .set_choices({"uint8", "int32", "int64", "float16", "float32", "float64"})
        .describe("DType of the indices output; it must represent every index exactly.");
  }
};

struct SortParam {
  std::optional<int> axis;
  bool is_ascend;
  static void declare(ParamSpec<SortParam>& s) {
    s.field("axis", &SortParam::axis).set_default(std::optional<int>(-1))
        .describe("Axis along which to sort; None sorts the flattened array.");
    s.field("is_ascend", &SortParam::is_ascend).set_default(true)
        .describe("Sort in ascending (True) or descending (False) order.");
  }
};

struct ArgSortParam {
  std::optional<int> axis;
  bool is_ascend;
  DType dtype;
  static void declare(ParamSpec<ArgSortParam>& s) {
    s.field("axis", &ArgSortParam::axis).set_default(std::optional<int>(-1))
        .describe("Axis along which to sort; None sorts the flattened array.");
    s.field("is_ascend", &ArgSortParam::is_ascend).set_default(true)
        .describe("Sort in ascending (True) or descending (False) order.");
    s.field("dtype", &ArgSortParam::dtype).set_default(DType::kFloat32)
        .set_choices({"uint8", "int32", "int64", "float16", "float32", "float64"})
        .describe("DType of the output indices; it must represent every index exactly.");
  }
};

struct CumsumParam {
  std::optional<int> axis;
  std::optional<DType> dtype;
  static void declare(ParamSpec<CumsumParam>& s) {
    s.field("axis", &CumsumParam::axis).set_default(std::nullopt)
        .describe("Axis along which to sum; None sums over the flattened array.");
    s.field("dtype", &CumsumParam::dtype).set_default(std::nullopt)
        .describe("Output dtype (elements are cast to it first); None keeps the input's "
                  "(int64 for bool).");
  }
};

// The type cumsum adds in for output type O: integers with wrap-around in uint64 (unsigned
// arithmetic, no undefined overflow), the others in O's compute type (float for float16 and
// bfloat16).
template <class O>
using CumsumAcc = std::conditional_t<std::is_integral<O>::value && !std::is_same<O, bool>::value,
                                     uint64_t, typename kernel::ComputeOf<O>::type>;

// ---- topk, sort, argsort over a device's sort --------------------------------------------

// A device's sort: sorts the rows g of d (ascending or not) and writes the first k of each row
// into the outputs that are not null (values, indices, a mask of the input's shape). Ends the
// op.
using SortFn = void (*)(const OpContext& ctx, const TBlob& d, const Rows& g, bool asc,
                        int64_t k, const TBlob* values, const TBlob* indices, const TBlob* mask);

// The kernels of topk, sort and argsort on the device whose sort is Sort: every device sorts
// the same rows, keeps the same k and writes the same outputs.
template <SortFn Sort>
void topk_kernel(const OpContext& ctx, const std::vector<TBlob>& in,
                 const std::vector<TBlob>& out) {
  reject_add_req(ctx, "topk");
  const auto& p = ctx.param<TopKParam>();
  Rows g = rows_of(in[0].shape, p.axis, "topk");
  int64_t k = p.k < 1 ? g.n : p.k;
  auto want = [&](size_t i) { return ctx.req[i] != Req::kNull ? &out[i] : nullptr; };
  const TBlob* none = nullptr;
  if (p.ret_typ == "value") Sort(ctx, in[0], g, p.is_ascend, k, want(0), none, none);
  else if (p.ret_typ == "indices") Sort(ctx, in[0], g, p.is_ascend, k, none, want(0), none);
  else if (p.ret_typ == "mask") Sort(ctx, in[0], g, p.is_ascend, k, none, none, want(0));
  else Sort(ctx, in[0], g, p.is_ascend, k, want(0), want(1), none);
}

template <SortFn Sort>
void sort_kernel(const OpContext& ctx, const std::vector<TBlob>& in,
                 const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  reject_add_req(ctx, "sort");
  const auto& p = ctx.param<SortParam>();
  Rows g = rows_of(in[0].shape, p.axis, "sort");
  Sort(ctx, in[0], g, p.is_ascend, g.n, &out[0], nullptr, nullptr);
}

template <SortFn Sort>
void argsort_kernel(const OpContext& ctx, const std::vector<TBlob>& in,
                    const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  reject_add_req(ctx, "argsort");
  const auto& p = ctx.param<ArgSortParam>();
  Rows g = rows_of(in[0].shape, p.axis, "argsort");
  Sort(ctx, in[0], g, p.is_ascend, g.n, nullptr, &out[0], nullptr);
}

}  // namespace ordering_ops
}  // namespace brass
