// The math of the element-wise unary operators, written once for the host and CUDA devices:
// included by elemwise_unary.cc (CPU registrations) and src/cuda/elemwise_unary.cu (kernels).
// Each functor maps a value of its compute type (kernel/elemwise.h: DefaultCompute keeps
// integers in int64, FloatCompute runs them through double).
#pragma once

#include <cmath>
#include <type_traits>

#include "base/xinline.h"
#include "kernel/elemwise.h"
#include "kernel/vmath.h"

namespace brass {
namespace unary_ops {

using kernel::DefaultCompute;
using kernel::FloatCompute;

// Integers reach the rounding functions as double, as std::floor(int) does on the host; the
// explicit conversion keeps the integral overloads of <cmath> (host-only) out of device code.
template <class T>
BRASS_XINLINE std::conditional_t<std::is_integral<T>::value, double, T> as_fp(T x) {
  return x;
}

// Inverse error function: Giles' single-precision approximation refined by two Newton steps
// in double, so it is accurate to double precision.
BRASS_XINLINE double erfinv_d(double y) {
  if (!(y > -1.0 && y < 1.0)) {
    if (y == 1.0) return INFINITY;
    if (y == -1.0) return -INFINITY;
    return NAN;
  }
  double w = -std::log((1.0 - y) * (1.0 + y)), x;
  if (w < 5.0) {
    w -= 2.5;
    x = 2.81022636e-08;
    x = 3.43273939e-07 + x * w; x = -3.5233877e-06 + x * w; x = -4.39150654e-06 + x * w;
    x = 0.00021858087 + x * w;  x = -0.00125372503 + x * w; x = -0.00417768164 + x * w;
    x = 0.246640727 + x * w;    x = 1.50140941 + x * w;
  } else {
    w = std::sqrt(w) - 3.0;
    x = -0.000200214257;
    x = 0.000100950558 + x * w; x = 0.00134934322 + x * w;  x = -0.00367342844 + x * w;
    x = 0.00573950773 + x * w;  x = -0.0076224613 + x * w;  x = 0.00943887047 + x * w;
    x = 1.00167406 + x * w;     x = 2.83297682 + x * w;
  }
  x *= y;
  for (int i = 0; i < 2; ++i) {
    double err = std::erf(x) - y;
    x -= err / (1.1283791670955126 * std::exp(-x * x));
  }
  return x;
}

// Digamma psi(x) = d/dx ln|Gamma(x)| (the gradient of gammaln): reflection below 1/2, the
// recurrence psi(x) = psi(x + 1) - 1/x up to 20, then the asymptotic series (error < 1e-16).
BRASS_XINLINE double digamma_d(double x) {
  constexpr double kPi = 3.14159265358979323846;
  if (x <= 0 && x == std::floor(x)) return NAN;  // the poles
  double r = 0;
  if (x < 0.5) {
    r = -kPi / std::tan(kPi * x);
    x = 1 - x;
  }
  for (; x < 20; x += 1) r -= 1 / x;
  double f = 1 / (x * x);
  return r + std::log(x) - 0.5 / x -
         f * (1.0 / 12 - f * (1.0 / 120 - f * (1.0 / 252 - f * (1.0 / 240 - f / 132))));
}

// Trigamma psi'(x) (the gradient of digamma): reflection below 1/2, the recurrence
// psi'(x) = psi'(x + 1) + 1/x^2 up to 20, then the asymptotic series (error < 1e-16).
BRASS_XINLINE double trigamma_d(double x) {
  constexpr double kPi = 3.14159265358979323846;
  if (x <= 0 && x == std::floor(x)) return NAN;  // the poles
  if (x < 0.5) {
    double s = std::sin(kPi * x);
    return kPi * kPi / (s * s) - trigamma_d(1 - x);
  }
  double r = 0;
  for (; x < 20; x += 1) r += 1 / (x * x);
  double f = 1 / (x * x);
  return r + 1 / x + f / 2 +
         f / x * (1.0 / 6 - f * (1.0 / 30 - f * (1.0 / 42 - f * (1.0 / 30 - f * 5.0 / 66))));
}

#define BRASS_UNARY(Name, Base, expr)                                    \
  struct Name : Base {                                                   \
    template <class T> BRASS_XINLINE static T map(T x) { return expr; } \
  };

BRASS_UNARY(Abs, DefaultCompute, x < T(0) ? T(T(0) - x) : x)
BRASS_UNARY(Sign, DefaultCompute,
            x > T(0) ? T(1) : (x < T(0) ? T(T(0) - T(1)) : (x == T(0) ? T(0) : x)))
BRASS_UNARY(Negative, DefaultCompute, T(T(0) - x))
BRASS_UNARY(Square, DefaultCompute, T(x * x))
BRASS_UNARY(Relu, DefaultCompute, (x > T(0) || x != x) ? x : T(0))  // NaN propagates
BRASS_UNARY(LogicalNot, DefaultCompute, x == T(0) ? T(1) : T(0))
BRASS_UNARY(Floor, DefaultCompute, T(std::floor(as_fp(x))))
BRASS_UNARY(Ceil, DefaultCompute, T(std::ceil(as_fp(x))))
BRASS_UNARY(Round, DefaultCompute, T(std::round(as_fp(x))))
// MXNet's rint sends halves down: rint(1.5) = 1, rint(-1.5) = -2.
BRASS_UNARY(Rint, DefaultCompute,
            T((as_fp(x) - std::floor(as_fp(x))) <= (std::ceil(as_fp(x)) - as_fp(x))
                  ? std::floor(as_fp(x))
                  : std::ceil(as_fp(x))))
BRASS_UNARY(Trunc, DefaultCompute, T(std::trunc(as_fp(x))))
BRASS_UNARY(Fix, DefaultCompute, T(std::trunc(as_fp(x))))
// Exp, Tanh and Sigmoid have SIMD float32 versions on the CPU (kernel/vmath.h).
#ifdef __CUDACC__
#define BRASS_VEC_F32(fn)
#else
#define BRASS_VEC_F32(fn) \
  static void vec_f32(const float* x, float* y, int64_t n) { kernel::fn(x, y, n); }
#endif
struct Exp : kernel::FloatCompute {
  template <class T> BRASS_XINLINE static T map(T x) { return std::exp(x); }
  BRASS_VEC_F32(exp_f32)
};
BRASS_UNARY(Expm1, FloatCompute, std::expm1(x))
BRASS_UNARY(Log, FloatCompute, std::log(x))
BRASS_UNARY(Log1p, FloatCompute, std::log1p(x))
BRASS_UNARY(Log2, FloatCompute, std::log2(x))
BRASS_UNARY(Log10, FloatCompute, std::log10(x))
BRASS_UNARY(Sqrt, FloatCompute, std::sqrt(x))
BRASS_UNARY(Rsqrt, FloatCompute, T(1) / std::sqrt(x))
BRASS_UNARY(Cbrt, FloatCompute, std::cbrt(x))
BRASS_UNARY(Reciprocal, FloatCompute, T(1) / x)
BRASS_UNARY(Sin, FloatCompute, std::sin(x))
BRASS_UNARY(Cos, FloatCompute, std::cos(x))
BRASS_UNARY(Tan, FloatCompute, std::tan(x))
BRASS_UNARY(Arcsin, FloatCompute, std::asin(x))
BRASS_UNARY(Arccos, FloatCompute, std::acos(x))
BRASS_UNARY(Arctan, FloatCompute, std::atan(x))
BRASS_UNARY(Sinh, FloatCompute, std::sinh(x))
BRASS_UNARY(Cosh, FloatCompute, std::cosh(x))
struct Tanh : kernel::FloatCompute {
  template <class T> BRASS_XINLINE static T map(T x) { return std::tanh(x); }
  BRASS_VEC_F32(tanh_f32)
};
BRASS_UNARY(Arcsinh, FloatCompute, std::asinh(x))
BRASS_UNARY(Arccosh, FloatCompute, std::acosh(x))
BRASS_UNARY(Arctanh, FloatCompute, std::atanh(x))
struct Sigmoid : kernel::FloatCompute {
  template <class T> BRASS_XINLINE static T map(T x) { return T(1) / (T(1) + std::exp(-x)); }
  BRASS_VEC_F32(sigmoid_f32)
};
BRASS_UNARY(Softsign, FloatCompute, x / (T(1) + std::fabs(x)))
BRASS_UNARY(Erf, FloatCompute, std::erf(x))
BRASS_UNARY(Erfinv, FloatCompute, T(erfinv_d(double(x))))
BRASS_UNARY(Gamma, FloatCompute, std::tgamma(x))
BRASS_UNARY(Gammaln, FloatCompute, std::lgamma(x))
BRASS_UNARY(Digamma, FloatCompute, T(digamma_d(double(x))))
BRASS_UNARY(Trigamma, FloatCompute, T(trigamma_d(double(x))))
#undef BRASS_UNARY

}  // namespace unary_ops
}  // namespace brass
