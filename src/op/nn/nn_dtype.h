// Dtype helpers of the dense-layer operators (src/op/nn), host side, shared by the CPU files
// and cuda/nn_dense.cu.
#pragma once

#include <type_traits>
#include <vector>

#include "base/dtype.h"
#include "base/error.h"
#include "base/xinline.h"
#include "op/operator.h"

namespace brass {
namespace nn_dtype {

// The type arithmetic runs in for storage type T: double for float64, float for the others
// (float32, float16, bfloat16), as the element-wise kernels compute.
template <class T>
using Compute = std::conditional_t<std::is_same<T, double>::value, double, float>;

// y[i] += b[(i / inner) % n]: n bias values, each over runs of `inner` elements (along a row's
// last axis: inner 1; over a channel's plane: inner = the plane). CPU and CUDA kernels alike.
template <class T>
struct AddBias {
  T* y;
  const T* b;
  int64_t inner, n;
  BRASS_XINLINE void operator()(int64_t i) const { y[i] += b[(i / inner) % n]; }
};

// Calls f(T()) for the floating-point storage type t names; other dtypes fail naming op.
template <class Fn>
auto dispatch_float(DType t, const char* op, Fn&& f) {
  switch (t) {
    case DType::kFloat32: return f(float());
#ifndef BRASS_LEAN_DTYPES
    case DType::kFloat64: return f(double());
    case DType::kFloat16: return f(half_t());
    case DType::kBFloat16: return f(bf16_t());
#endif
    default: break;
  }
  if (is_float(t)) fail_dtype_not_built(t, op);
  fail(BRASS_ERR_DTYPE, op, ": only floating-point data is supported, got ", dtype_name(t));
}

// Calls f(TI(), TO(), A()) for the floating-point input and output storage types ti and to,
// and the compute type A (double if either is float64, else float).
template <class Fn>
void dispatch_float2(DType ti, DType to, const char* op, Fn&& f) {
  dispatch_float(ti, op, [&](auto a) {
    return dispatch_float(to, op, [&](auto b) {
      using TI = decltype(a);
      using TO = decltype(b);
      using A = std::conditional_t<std::is_same<TI, double>::value ||
                                       std::is_same<TO, double>::value, double, float>;
      f(TI(), TO(), A());
      return 0;
    });
  });
}

// Type inference of ops on floating-point data: every input and output has the same dtype.
inline bool same_float_type(const char* op, std::vector<int>& in, std::vector<int>& out) {
  int t = -1;
  for (int v : in) infer::assign_type(t, v, op, "inputs");
  for (int v : out) infer::assign_type(t, v, op, "outputs");
  if (t < 0) return false;
  if (!is_float(DType(t)))
    fail(BRASS_ERR_DTYPE, op, ": only floating-point data is supported, got ", dtype_name(DType(t)));
  for (auto& v : in) v = t;
  for (auto& v : out) v = t;
  return true;
}

}  // namespace nn_dtype
}  // namespace brass
