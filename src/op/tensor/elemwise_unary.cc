// Element-wise unary operators: the math family, rounding, logical_not, plus identity-like
// ops (_copy, BlockGrad) and Cast. The functors (elemwise_unary_functors.h) are shared with
// the CUDA kernels (src/cuda/elemwise_unary.cu), which add .cuda() to the same ops.
#include "kernel/cast.h"
#include "kernel/elemwise.h"
#include "kernel/vmath.h"
#include "op/grad.h"
#include "op/operator.h"
#include "op/tensor/elemwise_unary_functors.h"

namespace brass {
namespace unary_ops {

template <class F>
Op& unary(const char* name, const char* doc) {
  return OpRegistry::get()
      .add(name)
      .describe(doc)
      .inputs({"data"})
      .shape_fn(infer::same_shape)
      .type_fn(infer::same_type)
      .inplace_pairs({{0, 0}})
      .set_pointwise()
      .add_req()
      .cpu([](const OpContext& ctx, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
        kernel::unary<F>(in[0], out[0], ctx.req[0]);
      });
}

#if BRASS_ALL_OPS || BRASS_OP_copy || BRASS_OP_BlockGrad || BRASS_OP_Cast
void copy_kernel(const OpContext& ctx, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kAdd) return kernel::add_flat(in[0], out[0]);  // (same dtype: _copy, BlockGrad)
  if (ctx.req[0] == Req::kNull || in[0].dptr == out[0].dptr) return;
  kernel::cast(in[0], out[0]);
}
#endif

struct CastParam {
  DType dtype;
  static void declare(ParamSpec<CastParam>& s) {
    s.field("dtype", &CastParam::dtype).describe("Output data type.");
  }
};

#if BRASS_TRAINING
// ---- Gradients: out_grad * dy/dx, as graphs of registered ops (x the input, y the output) --
namespace gradients {
using grad::Entries;
using E = NodeEntry;

E x(const NodePtr& n) { return grad::in(n, 0); }
E y(const NodePtr& n) { return grad::out(n); }
E f(const char* op, E a) { return grad::apply(op, {a}); }
E sc(const char* op, E a, double v) { return grad::scalar(op, a, v); }
using grad::div;
using grad::mul;

// Sets op `name`'s gradient to out_grad * d(n, out_grad) ... as built by `dx`, which gets the
// node and the output gradient and returns the input gradient.
template <class Dx>
void set(const char* name, Dx dx) {
  OpRegistry::get().add(name).grad([dx](const NodePtr& n, const Entries& g) {
    return Entries{dx(n, g[0])};
  });
}

}  // namespace gradients

void register_gradients() {
  using namespace gradients;
  constexpr double kPi = 3.14159265358979323846;
  for (const char* name : {"sign", "logical_not", "floor", "ceil", "round", "rint", "trunc", "fix",
                           "BlockGrad"})
    OpRegistry::get().add(name).grad(grad::none);
  set("_copy", [](const NodePtr&, E g) { return g; });
  set("Cast", [](const NodePtr& n, E g) { return grad::apply("_cast_like", {g, x(n)}); });
  OpRegistry::get().add("_cast_like").grad([](const NodePtr& n, const Entries& g) {
    return Entries{grad::apply("_cast_like", {g[0], x(n)}), E()};
  });
  set("abs", [](const NodePtr& n, E g) { return mul(g, f("sign", x(n))); });
  set("negative", [](const NodePtr&, E g) { return f("negative", g); });
  set("square", [](const NodePtr& n, E g) { return mul(g, sc("_mul_scalar", x(n), 2)); });
  set("relu", [](const NodePtr& n, E g) { return mul(g, sc("_greater_scalar", x(n), 0)); });
  set("exp", [](const NodePtr& n, E g) { return mul(g, y(n)); });
  set("expm1", [](const NodePtr& n, E g) { return mul(g, sc("_plus_scalar", y(n), 1)); });
  set("log", [](const NodePtr& n, E g) { return div(g, x(n)); });
  set("log1p", [](const NodePtr& n, E g) { return div(g, sc("_plus_scalar", x(n), 1)); });
  set("log2", [](const NodePtr& n, E g) { return div(g, sc("_mul_scalar", x(n), std::log(2.0))); });
  set("log10", [](const NodePtr& n, E g) {
    return div(g, sc("_mul_scalar", x(n), std::log(10.0)));
  });
  set("sqrt", [](const NodePtr& n, E g) { return div(g, sc("_mul_scalar", y(n), 2)); });
  set("rsqrt", [](const NodePtr& n, E g) {  // -y / (2x)
    return mul(g, sc("_mul_scalar", div(y(n), x(n)), -0.5));
  });
  set("cbrt", [](const NodePtr& n, E g) {  // 1 / (3 y^2)
    return div(g, sc("_mul_scalar", f("square", y(n)), 3));
  });
  set("reciprocal", [](const NodePtr& n, E g) { return mul(g, f("negative", f("square", y(n)))); });
  set("sin", [](const NodePtr& n, E g) { return mul(g, f("cos", x(n))); });
  set("cos", [](const NodePtr& n, E g) { return mul(g, f("negative", f("sin", x(n)))); });
  set("tan", [](const NodePtr& n, E g) {  // 1 + y^2
    return mul(g, sc("_plus_scalar", f("square", y(n)), 1));
  });
  set("arcsin", [](const NodePtr& n, E g) {  // 1 / sqrt(1 - x^2)
    return mul(g, f("rsqrt", sc("_rminus_scalar", f("square", x(n)), 1)));
  });
  set("arccos", [](const NodePtr& n, E g) {
    return mul(g, f("negative", f("rsqrt", sc("_rminus_scalar", f("square", x(n)), 1))));
  });
  set("arctan", [](const NodePtr& n, E g) {  // 1 / (1 + x^2)
    return div(g, sc("_plus_scalar", f("square", x(n)), 1));
  });
  set("sinh", [](const NodePtr& n, E g) { return mul(g, f("cosh", x(n))); });
  set("cosh", [](const NodePtr& n, E g) { return mul(g, f("sinh", x(n))); });
  set("tanh", [](const NodePtr& n, E g) {  // 1 - y^2
    return mul(g, sc("_rminus_scalar", f("square", y(n)), 1));
  });
  set("arcsinh", [](const NodePtr& n, E g) {  // 1 / sqrt(x^2 + 1)
    return mul(g, f("rsqrt", sc("_plus_scalar", f("square", x(n)), 1)));
  });
  set("arccosh", [](const NodePtr& n, E g) {  // 1 / sqrt(x^2 - 1)
    return mul(g, f("rsqrt", sc("_minus_scalar", f("square", x(n)), 1)));
  });
  set("arctanh", [](const NodePtr& n, E g) {  // 1 / (1 - x^2)
    return div(g, sc("_rminus_scalar", f("square", x(n)), 1));
  });
  set("sigmoid", [](const NodePtr& n, E g) {  // y (1 - y)
    return mul(g, mul(y(n), sc("_rminus_scalar", y(n), 1)));
  });
  set("softsign", [](const NodePtr& n, E g) {  // 1 / (1 + |x|)^2
    return div(g, f("square", sc("_plus_scalar", f("abs", x(n)), 1)));
  });
  set("erf", [kPi](const NodePtr& n, E g) {  // 2 / sqrt(pi) exp(-x^2)
    return mul(g, sc("_mul_scalar", f("exp", f("negative", f("square", x(n)))), 2 / std::sqrt(kPi)));
  });
  set("erfinv", [kPi](const NodePtr& n, E g) {  // sqrt(pi) / 2 exp(y^2)
    return mul(g, sc("_mul_scalar", f("exp", f("square", y(n))), std::sqrt(kPi) / 2));
  });
  set("gamma", [](const NodePtr& n, E g) { return mul(g, mul(y(n), f("_digamma", x(n)))); });
  set("gammaln", [](const NodePtr& n, E g) { return mul(g, f("_digamma", x(n))); });
  set("_digamma", [](const NodePtr& n, E g) { return mul(g, f("_trigamma", x(n))); });
}
#endif  // BRASS_TRAINING

[[maybe_unused]] const bool kRegistered = [] {
#if BRASS_ALL_OPS || BRASS_OP_abs
  unary<Abs>("abs", "Element-wise absolute value.\n\n    abs([-2, 0, 3]) = [2, 0, 3]");
#endif
#if BRASS_ALL_OPS || BRASS_OP_sign
  unary<Sign>("sign", "Element-wise sign: -1, 0 or 1.\n\n    sign([-2, 0, 3]) = [-1, 0, 1]");
#endif
#if BRASS_ALL_OPS || BRASS_OP_negative
  unary<Negative>("negative", "Element-wise negation.\n\n    negative([1, -2]) = [-1, 2]");
#endif
#if BRASS_ALL_OPS || BRASS_OP_square
  unary<Square>("square", "Element-wise square.\n\n    square([2, 3]) = [4, 9]");
#endif
#if BRASS_ALL_OPS || BRASS_OP_relu
  unary<Relu>("relu", "Rectified linear unit, max(x, 0).\n\n    relu([-1, 2]) = [0, 2]");
#endif
#if BRASS_ALL_OPS || BRASS_OP_logical_not
  unary<LogicalNot>("logical_not", "Element-wise logical not: 1 where x == 0, else 0.");
#endif
#if BRASS_ALL_OPS || BRASS_OP_floor
  unary<Floor>("floor", "Element-wise floor.\n\n    floor([-2.1, 1.9]) = [-3, 1]");
#endif
#if BRASS_ALL_OPS || BRASS_OP_ceil
  unary<Ceil>("ceil", "Element-wise ceiling.\n\n    ceil([-2.1, 1.9]) = [-2, 2]");
#endif
#if BRASS_ALL_OPS || BRASS_OP_round
  unary<Round>("round", "Round to the nearest integer, halves away from zero.\n\n    round([-2.5, 1.5]) = [-3, 2]");
#endif
#if BRASS_ALL_OPS || BRASS_OP_rint
  unary<Rint>("rint", "Round to the nearest integer; halves go down (MXNet's rint).\n\n    rint([-1.5, 1.5]) = [-2, 1]");
#endif
#if BRASS_ALL_OPS || BRASS_OP_trunc
  unary<Trunc>("trunc", "Round toward zero.\n\n    trunc([-2.7, 1.9]) = [-2, 1]");
#endif
#if BRASS_ALL_OPS || BRASS_OP_fix
  unary<Fix>("fix", "Round toward zero (same as trunc).\n\n    fix([-2.7, 1.9]) = [-2, 1]");
#endif
#if BRASS_ALL_OPS || BRASS_OP_exp
  unary<Exp>("exp", "Element-wise exponential.\n\n    exp([0, 1]) = [1, 2.71828]");
#endif
#if BRASS_ALL_OPS || BRASS_OP_expm1
  unary<Expm1>("expm1", "exp(x) - 1, accurate near zero.");
#endif
#if BRASS_ALL_OPS || BRASS_OP_log
  unary<Log>("log", "Natural logarithm.\n\n    log([1, e]) = [0, 1]");
#endif
#if BRASS_ALL_OPS || BRASS_OP_log1p
  unary<Log1p>("log1p", "log(1 + x), accurate near zero.");
#endif
#if BRASS_ALL_OPS || BRASS_OP_log2
  unary<Log2>("log2", "Base-2 logarithm.\n\n    log2([1, 8]) = [0, 3]");
#endif
#if BRASS_ALL_OPS || BRASS_OP_log10
  unary<Log10>("log10", "Base-10 logarithm.\n\n    log10([1, 100]) = [0, 2]");
#endif
#if BRASS_ALL_OPS || BRASS_OP_sqrt
  unary<Sqrt>("sqrt", "Element-wise square root.\n\n    sqrt([4, 9, 16]) = [2, 3, 4]");
#endif
#if BRASS_ALL_OPS || BRASS_OP_rsqrt
  unary<Rsqrt>("rsqrt", "Reciprocal square root 1/sqrt(x).\n\n    rsqrt([4, 16]) = [0.5, 0.25]");
#endif
#if BRASS_ALL_OPS || BRASS_OP_cbrt
  unary<Cbrt>("cbrt", "Cube root.\n\n    cbrt([8, -27]) = [2, -3]");
#endif
#if BRASS_ALL_OPS || BRASS_OP_reciprocal
  unary<Reciprocal>("reciprocal", "1/x element-wise.\n\n    reciprocal([2, 4]) = [0.5, 0.25]");
#endif
#if BRASS_ALL_OPS || BRASS_OP_sin
  unary<Sin>("sin", "Element-wise sine.");
#endif
#if BRASS_ALL_OPS || BRASS_OP_cos
  unary<Cos>("cos", "Element-wise cosine.");
#endif
#if BRASS_ALL_OPS || BRASS_OP_tan
  unary<Tan>("tan", "Element-wise tangent.");
#endif
#if BRASS_ALL_OPS || BRASS_OP_arcsin
  unary<Arcsin>("arcsin", "Element-wise inverse sine.");
#endif
#if BRASS_ALL_OPS || BRASS_OP_arccos
  unary<Arccos>("arccos", "Element-wise inverse cosine.");
#endif
#if BRASS_ALL_OPS || BRASS_OP_arctan
  unary<Arctan>("arctan", "Element-wise inverse tangent.");
#endif
#if BRASS_ALL_OPS || BRASS_OP_sinh
  unary<Sinh>("sinh", "Hyperbolic sine.");
#endif
#if BRASS_ALL_OPS || BRASS_OP_cosh
  unary<Cosh>("cosh", "Hyperbolic cosine.");
#endif
#if BRASS_ALL_OPS || BRASS_OP_tanh
  unary<Tanh>("tanh", "Hyperbolic tangent.");
#endif
#if BRASS_ALL_OPS || BRASS_OP_arcsinh
  unary<Arcsinh>("arcsinh", "Inverse hyperbolic sine.");
#endif
#if BRASS_ALL_OPS || BRASS_OP_arccosh
  unary<Arccosh>("arccosh", "Inverse hyperbolic cosine.");
#endif
#if BRASS_ALL_OPS || BRASS_OP_arctanh
  unary<Arctanh>("arctanh", "Inverse hyperbolic tangent.");
#endif
#if BRASS_ALL_OPS || BRASS_OP_sigmoid
  unary<Sigmoid>("sigmoid", "Logistic sigmoid 1 / (1 + exp(-x)).");
#endif
#if BRASS_ALL_OPS || BRASS_OP_softsign
  unary<Softsign>("softsign", "x / (1 + |x|).");
#endif
#if BRASS_ALL_OPS || BRASS_OP_erf
  unary<Erf>("erf", "Gauss error function.");
#endif
#if BRASS_ALL_OPS || BRASS_OP_erfinv
  unary<Erfinv>("erfinv", "Inverse of the Gauss error function.");
#endif
#if BRASS_ALL_OPS || BRASS_OP_gamma
  unary<Gamma>("gamma", "Gamma function.");
#endif
#if BRASS_ALL_OPS || BRASS_OP_gammaln
  unary<Gammaln>("gammaln", "Natural log of the absolute value of the gamma function.");
#endif
#if BRASS_TRAINING
  unary<Digamma>("_digamma", "The digamma function d/dx ln|gamma(x)| (gammaln's gradient).");
  unary<Trigamma>("_trigamma", "The trigamma function, the derivative of digamma.");
#endif

#if BRASS_ALL_OPS || BRASS_OP_copy
  OpRegistry::get().add("_copy").describe("Returns a copy of the input.\n\n    _copy([1, 2]) = [1, 2]")
      .alias("identity").inputs({"data"}).shape_fn(infer::same_shape).type_fn(infer::same_type)
      .inplace_pairs({{0, 0}}).add_req().cpu(copy_kernel);
#endif
#if BRASS_ALL_OPS || BRASS_OP_BlockGrad
  OpRegistry::get().add("BlockGrad")
      .describe("Returns the input unchanged and stops gradients from flowing through it.")
      .alias("stop_gradient").inputs({"data"}).shape_fn(infer::same_shape).type_fn(infer::same_type)
      .inplace_pairs({{0, 0}}).add_req().cpu(copy_kernel);
#endif
#if BRASS_ALL_OPS || BRASS_OP_Cast
  OpRegistry::get().add("Cast")
      .describe("Casts the input to another dtype.\n\n    Cast([1.7, -2.2], dtype='int32') = [1, -2]")
      .alias("cast").inputs({"data"}).params<CastParam>().shape_fn(infer::same_shape)
      .type_fn([](const NodeAttrs& a, std::vector<int>&, std::vector<int>& out) {
        infer::assign_type(out[0], int(a.param<CastParam>().dtype), "Cast", "output");
        return true;
      })
      .cpu(copy_kernel);
#endif
#if BRASS_TRAINING
  OpRegistry::get().add("_cast_like")
      .describe("Casts the first input to the dtype of the second (Cast's gradient).")
      .inputs({"data", "like"})
      .shape_fn([](const NodeAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) {
        infer::assign_shape(out[0], in[0], "_cast_like", "output");
        return out[0].known();
      })
      .type_fn([](const NodeAttrs&, std::vector<int>& in, std::vector<int>& out) {
        infer::assign_type(out[0], in[1], "_cast_like", "output");
        return out[0] >= 0 && in[0] >= 0;
      })
      .cpu(copy_kernel);
  register_gradients();
#endif
  return true;
}();

}  // namespace unary_ops
}  // namespace brass
