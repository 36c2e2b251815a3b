// The math of the binary operators (broadcast_*, elemwise_*, the scalar forms), written once
// for the host and CUDA devices: included by elemwise_binary.cc (CPU registrations) and
// src/cuda/elemwise_binary.cu (kernels), with the scalar forms' parameter. Integers compute
// in int64 (uint64 for uint64).
#pragma once

#include <cmath>
#include <type_traits>

#include "base/params.h"
#include "base/xinline.h"
#include "kernel/elemwise.h"

namespace brass {
namespace binary_ops {

using kernel::DefaultCompute;

template <class T> BRASS_XINLINE T int_div(T a, T b) {
  if (b == T(0)) return T(0);  // no SIGFPE: integer division by zero gives 0
  if constexpr (std::is_signed<T>::value) {
    if (b == T(-1)) return T(T(0) - a);  // INT_MIN / -1 wraps instead of trapping
  }
  return a / b;
}

// Python-style modulo: the result takes the divisor's sign; x mod 0 = 0 (MXNet).
template <class T> BRASS_XINLINE T py_mod(T a, T b) {
  if constexpr (std::is_floating_point<T>::value) {
    if (b == T(0)) return T(0);
    T r = std::fmod(a, b);
    if (r != T(0) && ((r < T(0)) != (b < T(0)))) r += b;
    return r;
  } else {
    if (b == T(0)) return T(0);
    if constexpr (std::is_signed<T>::value) {
      if (b == T(-1)) return T(0);
      T r = a % b;
      if (r != 0 && ((r < 0) != (b < 0))) r += b;
      return r;
    } else {
      return a % b;
    }
  }
}

template <class T> BRASS_XINLINE T int_pow(T a, T b) {
  if constexpr (std::is_signed<T>::value) {
    if (b < 0) return a == T(1) ? T(1) : a == T(-1) ? ((b & 1) ? T(-1) : T(1)) : T(0);
  }
  using U = std::make_unsigned_t<T>;
  U r = 1, base = U(a);
  for (U e = U(b); e; e >>= 1) {
    if (e & 1) r *= base;
    base *= base;
  }
  return T(r);
}

// Division: integers truncate (and give 0 for x / 0), floats divide.
template <class T> BRASS_XINLINE T div_of(T a, T b) {
  if constexpr (std::is_integral<T>::value) return int_div(a, b);
  else return T(a / b);
}

#define BRASS_BINARY(Name, expr)                                                \
  struct Name : DefaultCompute {                                                \
    template <class T> BRASS_XINLINE static T map(T a, T b) { return expr; } \
  };

BRASS_BINARY(Add, T(a + b))
BRASS_BINARY(Second, b)  // b broadcast to the shape of a (reductions' gradient)
BRASS_BINARY(Sub, T(a - b))
BRASS_BINARY(Mul, T(a * b))
BRASS_BINARY(Div, div_of(a, b))
BRASS_BINARY(Mod, py_mod(a, b))
BRASS_BINARY(Maximum, (a > b || a != a) ? a : b)
BRASS_BINARY(Minimum, (a < b || a != a) ? a : b)
BRASS_BINARY(Hypot, T(std::hypot(double(a), double(b))))
BRASS_BINARY(Equal, a == b ? T(1) : T(0))
BRASS_BINARY(NotEqual, a != b ? T(1) : T(0))
BRASS_BINARY(Greater, a > b ? T(1) : T(0))
BRASS_BINARY(GreaterEqual, a >= b ? T(1) : T(0))
BRASS_BINARY(Lesser, a < b ? T(1) : T(0))
BRASS_BINARY(LesserEqual, a <= b ? T(1) : T(0))
BRASS_BINARY(LogicalAnd, (a != T(0) && b != T(0)) ? T(1) : T(0))
BRASS_BINARY(LogicalOr, (a != T(0) || b != T(0)) ? T(1) : T(0))
BRASS_BINARY(LogicalXor, ((a != T(0)) != (b != T(0))) ? T(1) : T(0))
#undef BRASS_BINARY

struct Power : DefaultCompute {
  template <class T> BRASS_XINLINE static T map(T a, T b) {
    if constexpr (std::is_integral<T>::value) return int_pow(a, b);
    else return std::pow(a, b);
  }
};

// The parameter of the scalar forms (_plus_scalar, ...); the CUDA kernels read it too.
struct ScalarParam {
  double scalar;
  bool is_int;
  static void declare(ParamSpec<ScalarParam>& s) {
    s.field("scalar", &ScalarParam::scalar).set_default(1.0).describe("Scalar input value.");
    s.field("is_int", &ScalarParam::is_int).set_default(true)
        .describe("Whether the scalar is an integer (accepted for MXNet compatibility).");
  }
};

}  // namespace binary_ops
}  // namespace brass
