// Parameters, planning and per-element math of the reductions (reduce.cc), shared by the CPU
// kernels and the CUDA kernels (cuda/reduce.cu): parameter structs, which axes are reduced,
// the (outer, R, inner) plan, the accumulation types and the init/step/combine/finish rules
// (BRASS_XINLINE: the same math on the host and the device). reduced_axes, reduced_shape and
// make_plan are defined in reduce.cc.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <type_traits>
#include <vector>

#include "base/xinline.h"
#include "op/operator.h"

namespace brass {
namespace reduce_ops {

struct ReduceParam {
  std::optional<Tuple> axis;
  bool keepdims, exclude;
  static void declare(ParamSpec<ReduceParam>& s) {
    s.field("axis", &ReduceParam::axis).set_default(std::nullopt)
        .describe("Axes to reduce; None or () reduces all of them.");
    s.field("keepdims", &ReduceParam::keepdims).set_default(false)
        .describe("Keep reduced axes as size 1.");
    s.field("exclude", &ReduceParam::exclude).set_default(false)
        .describe("Reduce every axis except `axis`.");
  }
};

struct NormParam {
  int ord;
  std::optional<Tuple> axis;
  bool keepdims;
  std::optional<DType> out_dtype;
  static void declare(ParamSpec<NormParam>& s) {
    s.field("ord", &NormParam::ord).set_default(2).set_range(1, 2)
        .describe("Order of the norm: 1 or 2.");
    s.field("axis", &NormParam::axis).set_default(std::nullopt).describe("Axes; None for all.");
    s.field("keepdims", &NormParam::keepdims).set_default(false)
        .describe("Keep reduced axes as size 1.");
    s.field("out_dtype", &NormParam::out_dtype).set_default(std::nullopt)
        .describe("Output dtype (default: input's).");
  }
};

struct ArgParam {
  std::optional<int> axis;
  bool keepdims;
  static void declare(ParamSpec<ArgParam>& s) {
    s.field("axis", &ArgParam::axis).set_default(std::nullopt)
        .describe("Axis; None flattens the input.");
    s.field("keepdims", &ArgParam::keepdims).set_default(false)
        .describe("Keep the reduced axis as size 1.");
  }
};

// Which axes are reduced, from the op's parameters (1 per reduced axis).
std::vector<char> reduced_axes(const char* op, int nd, const std::optional<Tuple>& axis,
                               bool exclude);

// The same for op (sum, mean, ...) with parameters p, and for norm, over nd axes.
inline std::vector<char> reduced_axes(const char* op, int nd, const ReduceParam& p) {
  return reduced_axes(op, nd, p.axis, p.exclude);
}
inline std::vector<char> reduced_axes(int nd, const NormParam& p) {
  return reduced_axes("norm", nd, p.axis, false);
}

Shape reduced_shape(const Shape& in, const std::vector<char>& r, bool keepdims);
// The axes of `data` that _sum_to_like sums to reach `like` (numpy broadcasting, aligned to
// the right: data's leading axes, and axes where like has extent 1); fails when like does not
// broadcast to data.
std::vector<char> sum_to_like_axes(const Shape& data, const Shape& like);

// The out_grad input of _reduce_grad (inputs: out_grad, data) seen with the reduced axes kept
// (extent 1), so that it broadcasts against the reduction's input.
inline TBlob reduce_grad_source(const OpContext& c, const std::vector<TBlob>& in) {
  const auto& p = c.param<ReduceParam>();
  auto red = reduced_axes("_reduce_grad", in[1].shape.ndim(), p);
  TBlob g = in[0];
  g.shape = reduced_shape(in[1].shape, red, true);
  return g;
}

// The reduction as (outer, R, inner) after moving reduced axes together if needed.
struct Plan {
  int64_t outer = 1, r = 1, inner = 1;
  bool need_transpose = false;
  std::vector<int> perm;  // kept axes then reduced axes
};

Plan make_plan(const Shape& s, const std::vector<char>& red);

// argmax/argmin as (outer, R, inner): the flattened input when the axis is None. Fails, naming
// op, when R is 0 (nothing to choose from).
struct ArgPlan {
  int64_t outer = 1, r = 1, inner = 1;
};

ArgPlan make_arg_plan(const Shape& s, const std::optional<int>& axis, const char* op);

// The accumulation type: double for the floating types, int64 for the integers and bool
// (uint64 for uint64).
template <class T>
using Acc = std::conditional_t<
    std::is_floating_point<T>::value || std::is_same<T, half_t>::value ||
        std::is_same<T, bf16_t>::value,
    double, std::conditional_t<std::is_same<T, uint64_t>::value, uint64_t, int64_t>>;

template <class A> BRASS_XINLINE bool is_nan(A v) { return v != v; }

// The extremes max/min start from: +-infinity for double, the integer range otherwise
// (constants, so that device code may read them).
template <class A> struct Extremes {
  using L = std::numeric_limits<A>;
  static constexpr A kHigh = L::has_infinity ? L::infinity() : L::max();
  static constexpr A kLow = L::has_infinity ? -L::infinity() : L::lowest();
};

enum class Kind { kSum, kMean, kProd, kMax, kMin, kNanSum, kNanProd, kNorm1, kNorm2 };

template <Kind K, class A> BRASS_XINLINE A init() {
  if constexpr (K == Kind::kProd || K == Kind::kNanProd) return A(1);
  else if constexpr (K == Kind::kMax) return Extremes<A>::kLow;
  else if constexpr (K == Kind::kMin) return Extremes<A>::kHigh;
  else return A(0);
}

// Adds one element x to the accumulator (NaN propagates through max/min).
template <Kind K, class A> BRASS_XINLINE A step(A acc, A x) {
  if constexpr (K == Kind::kSum || K == Kind::kMean) return acc + x;
  else if constexpr (K == Kind::kProd) return acc * x;
  else if constexpr (K == Kind::kNanSum) return is_nan(x) ? acc : acc + x;
  else if constexpr (K == Kind::kNanProd) return is_nan(x) ? acc : acc * x;
  else if constexpr (K == Kind::kMax)
    return (x > acc || is_nan(x) || is_nan(acc)) ? (is_nan(acc) ? acc : x) : acc;
  else if constexpr (K == Kind::kMin)
    return (x < acc || is_nan(x) || is_nan(acc)) ? (is_nan(acc) ? acc : x) : acc;
  else if constexpr (K == Kind::kNorm1) return acc + (x < A(0) ? A(0) - x : x);
  else return acc + x * x;
}

// Merges two partial accumulators.
template <Kind K, class A> BRASS_XINLINE A combine(A a, A b) {
  if constexpr (K == Kind::kProd || K == Kind::kNanProd) return a * b;
  else if constexpr (K == Kind::kMax || K == Kind::kMin) return step<K, A>(a, b);
  else return a + b;
}

// The result from the accumulator of r elements. The mean of nothing is NaN, and 0 for the
// integer types (which have no NaN).
template <Kind K, class A> BRASS_XINLINE A finish(A acc, int64_t r) {
  if constexpr (K == Kind::kMean) {
    if constexpr (std::is_floating_point<A>::value) return r ? acc / A(r) : A(NAN);
    else return r ? acc / A(r) : A(0);
  } else if constexpr (K == Kind::kNorm2) {
    return A(std::sqrt(double(acc)));
  } else {
    return acc;
  }
}

}  // namespace reduce_ops
}  // namespace brass
