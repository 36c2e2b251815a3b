// Element-wise unary operators: the math family, rounding, logical_not, plus identity-like
// ops (_copy, BlockGrad) and Cast. Each functor's math is written once for every dtype.
#include <cmath>

#include "kernel/cast.h"
#include "kernel/elemwise.h"
#include "op/operator.h"

namespace brass {
namespace unary_ops {

using kernel::DefaultCompute;
using kernel::FloatCompute;

// Inverse error function: Giles' single-precision approximation refined by two Newton steps
// in double, so it is accurate to double precision.
inline double erfinv_d(double y) {
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

#define BRASS_UNARY(Name, Base, expr)                   \
  struct Name : Base {                                  \
    template <class T> static inline T map(T x) { return expr; } \
  };

BRASS_UNARY(Abs, DefaultCompute, x < T(0) ? T(T(0) - x) : x)
BRASS_UNARY(Sign, DefaultCompute, x > T(0) ? T(1) : (x < T(0) ? T(T(0) - T(1)) : (x == T(0) ? T(0) : x)))
BRASS_UNARY(Negative, DefaultCompute, T(T(0) - x))
BRASS_UNARY(Square, DefaultCompute, T(x * x))
BRASS_UNARY(Relu, DefaultCompute, (x > T(0) || x != x) ? x : T(0))  // NaN propagates
BRASS_UNARY(LogicalNot, DefaultCompute, x == T(0) ? T(1) : T(0))
BRASS_UNARY(Floor, DefaultCompute, T(std::floor(x)))
BRASS_UNARY(Ceil, DefaultCompute, T(std::ceil(x)))
BRASS_UNARY(Round, DefaultCompute, T(std::round(x)))
// MXNet's rint sends halves down: rint(1.5) = 1, rint(-1.5) = -2.
BRASS_UNARY(Rint, DefaultCompute,
            T((x - std::floor(x)) <= (std::ceil(x) - x) ? std::floor(x) : std::ceil(x)))
BRASS_UNARY(Trunc, DefaultCompute, T(std::trunc(x)))
BRASS_UNARY(Fix, DefaultCompute, T(std::trunc(x)))
BRASS_UNARY(Exp, FloatCompute, std::exp(x))
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
BRASS_UNARY(Tanh, FloatCompute, std::tanh(x))
BRASS_UNARY(Arcsinh, FloatCompute, std::asinh(x))
BRASS_UNARY(Arccosh, FloatCompute, std::acosh(x))
BRASS_UNARY(Arctanh, FloatCompute, std::atanh(x))
BRASS_UNARY(Sigmoid, FloatCompute, T(1) / (T(1) + std::exp(-x)))
BRASS_UNARY(Softsign, FloatCompute, x / (T(1) + std::fabs(x)))
BRASS_UNARY(Erf, FloatCompute, std::erf(x))
BRASS_UNARY(Erfinv, FloatCompute, T(erfinv_d(double(x))))
BRASS_UNARY(Gamma, FloatCompute, std::tgamma(x))
BRASS_UNARY(Gammaln, FloatCompute, std::lgamma(x))
#undef BRASS_UNARY

template <class F>
Op& unary(const char* name, const char* doc) {
  return OpRegistry::get()
      .add(name)
      .describe(doc)
      .inputs({"data"})
      .shape_fn(infer::same_shape)
      .type_fn(infer::same_type)
      .inplace_pairs({{0, 0}})
      .cpu([](const OpContext& ctx, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
        kernel::unary<F>(in[0], out[0], ctx.req[0]);
      });
}

void copy_kernel(const OpContext& ctx, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull || in[0].dptr == out[0].dptr) return;
  kernel::cast(in[0], out[0]);
}

struct CastParam {
  DType dtype;
  static void declare(ParamSpec<CastParam>& s) {
    s.field("dtype", &CastParam::dtype).describe("Output data type.");
  }
};

const bool kRegistered = [] {
  unary<Abs>("abs", "Element-wise absolute value.\n\n    abs([-2, 0, 3]) = [2, 0, 3]");
  unary<Sign>("sign", "Element-wise sign: -1, 0 or 1.\n\n    sign([-2, 0, 3]) = [-1, 0, 1]");
  unary<Negative>("negative", "Element-wise negation.\n\n    negative([1, -2]) = [-1, 2]");
  unary<Square>("square", "Element-wise square.\n\n    square([2, 3]) = [4, 9]");
  unary<Relu>("relu", "Rectified linear unit, max(x, 0).\n\n    relu([-1, 2]) = [0, 2]");
  unary<LogicalNot>("logical_not", "Element-wise logical not: 1 where x == 0, else 0.");
  unary<Floor>("floor", "Element-wise floor.\n\n    floor([-2.1, 1.9]) = [-3, 1]");
  unary<Ceil>("ceil", "Element-wise ceiling.\n\n    ceil([-2.1, 1.9]) = [-2, 2]");
  unary<Round>("round", "Round to the nearest integer, halves away from zero.\n\n    round([-2.5, 1.5]) = [-3, 2]");
  unary<Rint>("rint", "Round to the nearest integer; halves go down (MXNet's rint).\n\n    rint([-1.5, 1.5]) = [-2, 1]");
  unary<Trunc>("trunc", "Round toward zero.\n\n    trunc([-2.7, 1.9]) = [-2, 1]");
  unary<Fix>("fix", "Round toward zero (same as trunc).\n\n    fix([-2.7, 1.9]) = [-2, 1]");
  unary<Exp>("exp", "Element-wise exponential.\n\n    exp([0, 1]) = [1, 2.71828]");
  unary<Expm1>("expm1", "exp(x) - 1, accurate near zero.");
  unary<Log>("log", "Natural logarithm.\n\n    log([1, e]) = [0, 1]");
  unary<Log1p>("log1p", "log(1 + x), accurate near zero.");
  unary<Log2>("log2", "Base-2 logarithm.\n\n    log2([1, 8]) = [0, 3]");
  unary<Log10>("log10", "Base-10 logarithm.\n\n    log10([1, 100]) = [0, 2]");
  unary<Sqrt>("sqrt", "Element-wise square root.\n\n    sqrt([4, 9, 16]) = [2, 3, 4]");
  unary<Rsqrt>("rsqrt", "Reciprocal square root 1/sqrt(x).\n\n    rsqrt([4, 16]) = [0.5, 0.25]");
  unary<Cbrt>("cbrt", "Cube root.\n\n    cbrt([8, -27]) = [2, -3]");
  unary<Reciprocal>("reciprocal", "1/x element-wise.\n\n    reciprocal([2, 4]) = [0.5, 0.25]");
  unary<Sin>("sin", "Element-wise sine.");
  unary<Cos>("cos", "Element-wise cosine.");
  unary<Tan>("tan", "Element-wise tangent.");
  unary<Arcsin>("arcsin", "Element-wise inverse sine.");
  unary<Arccos>("arccos", "Element-wise inverse cosine.");
  unary<Arctan>("arctan", "Element-wise inverse tangent.");
  unary<Sinh>("sinh", "Hyperbolic sine.");
  unary<Cosh>("cosh", "Hyperbolic cosine.");
  unary<Tanh>("tanh", "Hyperbolic tangent.");
  unary<Arcsinh>("arcsinh", "Inverse hyperbolic sine.");
  unary<Arccosh>("arccosh", "Inverse hyperbolic cosine.");
  unary<Arctanh>("arctanh", "Inverse hyperbolic tangent.");
  unary<Sigmoid>("sigmoid", "Logistic sigmoid 1 / (1 + exp(-x)).");
  unary<Softsign>("softsign", "x / (1 + |x|).");
  unary<Erf>("erf", "Gauss error function.");
  unary<Erfinv>("erfinv", "Inverse of the Gauss error function.");
  unary<Gamma>("gamma", "Gamma function.");
  unary<Gammaln>("gammaln", "Natural log of the absolute value of the gamma function.");

  OpRegistry::get().add("_copy").describe("Returns a copy of the input.\n\n    _copy([1, 2]) = [1, 2]")
      .alias("identity").inputs({"data"}).shape_fn(infer::same_shape).type_fn(infer::same_type)
      .inplace_pairs({{0, 0}}).cpu(copy_kernel);
  OpRegistry::get().add("BlockGrad")
      .describe("Returns the input unchanged and stops gradients from flowing through it.")
      .alias("stop_gradient").inputs({"data"}).shape_fn(infer::same_shape).type_fn(infer::same_type)
      .inplace_pairs({{0, 0}}).cpu(copy_kernel);
  OpRegistry::get().add("Cast")
      .describe("Casts the input to another dtype.\n\n    Cast([1.7, -2.2], dtype='int32') = [1, -2]")
      .alias("cast").inputs({"data"}).params<CastParam>().shape_fn(infer::same_shape)
      .type_fn([](const NodeAttrs& a, std::vector<int>&, std::vector<int>& out) {
        infer::assign_type(out[0], int(a.param<CastParam>().dtype), "Cast", "output");
        return true;
      })
      .cpu(copy_kernel);
  return true;
}();

}  // namespace unary_ops
}  // namespace brass
