// Binary operators: broadcast_* (numpy broadcasting), elemwise_* and MXNet's same-shape
// internal forms, and the scalar forms (_plus_scalar, _rminus_scalar, ...). One functor per
// operation serves all three; the functors (elemwise_binary_functors.h) are shared with the
// CUDA kernels (src/cuda/elemwise_binary.cu).
#include <string>

#include "kernel/elemwise.h"
#include "op/grad.h"
#include "op/operator.h"
#include "op/tensor/elemwise_binary_functors.h"

namespace brass {
namespace binary_ops {

bool broadcast_shape_fn(const NodeAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
  if (!in[0].ndim_known() || !in[1].ndim_known()) return false;
  Shape s = kernel::broadcast_shape(in[0], in[1], attrs.op->name.c_str());
  infer::assign_shape(out[0], s, attrs.op->name.c_str(), "output");
  return out[0].known();
}

template <class F>
void binary_kernel(const OpContext& ctx, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
  kernel::binary_broadcast<F>(in[0], in[1], out[0], ctx.req[0]);
}

template <class F, bool kReverse>
void scalar_kernel(const OpContext& ctx, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
  kernel::binary_scalar<F>(in[0], ctx.param<ScalarParam>().scalar, kReverse, out[0], ctx.req[0]);
}

Op& binary_op(const char* name, const ComputeFn& fn, bool broadcast, const std::string& doc) {
  Op& op = OpRegistry::get()
               .add(name)
               .describe(doc)
               .inputs({"lhs", "rhs"})
               .shape_fn(broadcast ? ShapeFn(broadcast_shape_fn) : ShapeFn(infer::same_shape))
               .type_fn(infer::same_type)
               .inplace_pairs({{0, 0}, {1, 0}})
               .add_req()
               .cpu(fn);
  if (!broadcast) op.set_pointwise();
  return op;
}

// One op of a family: the broadcast form, the same-shape form, or a scalar form f(x, scalar)
// (kReverse: f(scalar, x)); `what` names the operation in the doc.
template <class F>
Op& broadcast_op(const char* name, const std::string& what, std::vector<const char*> aliases = {}) {
  Op& op = binary_op(name, binary_kernel<F>, true,
                     what + " with numpy broadcasting.\n\n    " + name +
                         "([[1], [2]], [10, 20]) has shape (2, 2)");
  for (auto a : aliases) op.alias(a);
  return op;
}

template <class F>
Op& same_shape_op(const char* name, const std::string& what, std::vector<const char*> aliases = {}) {
  Op& op = binary_op(name, binary_kernel<F>, false, what + " of two arrays of the same shape.");
  for (auto a : aliases) op.alias(a);
  return op;
}

template <class F, bool kReverse>
Op& scalar_op(const char* name, const std::string& what, std::vector<const char*> aliases = {}) {
  Op& op = OpRegistry::get().add(name)
               .describe(what + (kReverse ? " of a scalar and an array: f(scalar, x)."
                                          : " of an array and a scalar: f(x, scalar)."))
               .inputs({"data"}).params<ScalarParam>()
               .shape_fn(infer::same_shape).type_fn(infer::same_type).inplace_pairs({{0, 0}})
               .set_pointwise().add_req().cpu(scalar_kernel<F, kReverse>);
  for (auto a : aliases) op.alias(a);
  return op;
}

#if BRASS_TRAINING
// ---- Gradients -------------------------------------------------------------------------------
// As graphs of registered ops. For the broadcast forms, a gradient is summed back to its
// input's shape (_sum_to_like); the same-shape forms need no sum.
namespace gradients {
using grad::Entries;
using E = NodeEntry;

E a(const NodePtr& n) { return grad::in(n, 0); }
E b(const NodePtr& n) { return grad::in(n, 1); }
E z(const NodePtr& n) { return grad::out(n); }
E bin(const char* op, E l, E r) { return grad::apply(op, {l, r}); }
E mul(E l, E r) { return bin("broadcast_mul", l, r); }
E div(E l, E r) { return bin("broadcast_div", l, r); }
E neg(E x) { return grad::apply("negative", {x}); }
E sc(const char* op, E x, double v) { return grad::scalar(op, x, v); }
double scalar_of(const NodePtr& n) { return n->attrs->param<ScalarParam>().scalar; }

// Registers the gradient of a binary op pair (broadcast form, same-shape form): da and db build
// the gradients (of the output's shape) with respect to the left and right inputs.
template <class Da, class Db>
void pair(const char* bname, const char* ename, Da da, Db db) {
  OpRegistry::get().add(bname).grad([da, db](const NodePtr& n, const Entries& g) {
    return Entries{grad::apply("_sum_to_like", {da(n, g[0]), a(n)}),
                   grad::apply("_sum_to_like", {db(n, g[0]), b(n)})};
  });
  OpRegistry::get().add(ename).grad([da, db](const NodePtr& n, const Entries& g) {
    return Entries{da(n, g[0]), db(n, g[0])};
  });
}

// Registers the gradient of a scalar op: dx builds it from the node, out_grad and the scalar.
template <class Dx>
void scalar(const char* name, Dx dx) {
  OpRegistry::get().add(name).grad([dx](const NodePtr& n, const Entries& g) {
    return Entries{dx(n, g[0], scalar_of(n))};
  });
}

void register_all() {
  pair("broadcast_add", "elemwise_add", [](const NodePtr&, E g) { return g; },
       [](const NodePtr&, E g) { return g; });
  pair("broadcast_sub", "elemwise_sub", [](const NodePtr&, E g) { return g; },
       [](const NodePtr&, E g) { return neg(g); });
  pair("broadcast_mul", "elemwise_mul", [](const NodePtr& n, E g) { return mul(g, b(n)); },
       [](const NodePtr& n, E g) { return mul(g, a(n)); });
  pair("broadcast_div", "elemwise_div", [](const NodePtr& n, E g) { return div(g, b(n)); },
       [](const NodePtr& n, E g) { return neg(div(mul(g, z(n)), b(n))); });  // -g a / b^2
  pair("broadcast_mod", "_mod", [](const NodePtr&, E g) { return g; },
       [](const NodePtr& n, E g) {  // -g floor(a / b)
         return neg(mul(g, grad::apply("floor", {div(a(n), b(n))})));
       });
  pair("broadcast_power", "_power",
       [](const NodePtr& n, E g) {  // g b a^(b - 1)
         return mul(g, mul(b(n), bin("broadcast_power", a(n), sc("_minus_scalar", b(n), 1))));
       },
       [](const NodePtr& n, E g) {  // g z log(a)
         return mul(g, mul(z(n), grad::apply("log", {a(n)})));
       });
  // Ties send the gradient to the left input, as MXNet does.
  pair("broadcast_maximum", "_maximum",
       [](const NodePtr& n, E g) { return mul(g, bin("broadcast_greater_equal", a(n), b(n))); },
       [](const NodePtr& n, E g) { return mul(g, bin("broadcast_lesser", a(n), b(n))); });
  pair("broadcast_minimum", "_minimum",
       [](const NodePtr& n, E g) { return mul(g, bin("broadcast_lesser_equal", a(n), b(n))); },
       [](const NodePtr& n, E g) { return mul(g, bin("broadcast_greater", a(n), b(n))); });
  pair("broadcast_hypot", "_hypot", [](const NodePtr& n, E g) { return mul(g, div(a(n), z(n))); },
       [](const NodePtr& n, E g) { return mul(g, div(b(n), z(n))); });
  for (const char* base : {"equal", "not_equal", "greater", "greater_equal", "lesser",
                           "lesser_equal", "logical_and", "logical_or", "logical_xor"})
    for (std::string name : {std::string("broadcast_") + base, std::string("_") + base,
                             std::string("_") + base + "_scalar"})
      OpRegistry::get().add(name.c_str()).grad(grad::none);

  scalar("_plus_scalar", [](const NodePtr&, E g, double) { return g; });
  scalar("_minus_scalar", [](const NodePtr&, E g, double) { return g; });
  scalar("_rminus_scalar", [](const NodePtr&, E g, double) { return neg(g); });
  scalar("_mul_scalar", [](const NodePtr&, E g, double s) { return sc("_mul_scalar", g, s); });
  scalar("_div_scalar", [](const NodePtr&, E g, double s) { return sc("_div_scalar", g, s); });
  scalar("_rdiv_scalar", [](const NodePtr& n, E g, double) {  // s / x: -g z / x
    return neg(div(mul(g, z(n)), a(n)));
  });
  scalar("_mod_scalar", [](const NodePtr&, E g, double) { return g; });
  scalar("_rmod_scalar", [](const NodePtr& n, E g, double s) {  // s mod x: -g floor(s / x)
    return neg(mul(g, grad::apply("floor", {sc("_rdiv_scalar", a(n), s)})));
  });
  scalar("_power_scalar", [](const NodePtr& n, E g, double s) {  // g s x^(s - 1)
    return mul(g, sc("_mul_scalar", sc("_power_scalar", a(n), s - 1), s));
  });
  scalar("_rpower_scalar", [](const NodePtr& n, E g, double s) {  // s^x: g z log(s)
    return mul(g, sc("_mul_scalar", z(n), std::log(s)));
  });
  scalar("_maximum_scalar", [](const NodePtr& n, E g, double s) {
    return mul(g, sc("_greater_equal_scalar", a(n), s));
  });
  scalar("_minimum_scalar", [](const NodePtr& n, E g, double s) {
    return mul(g, sc("_lesser_equal_scalar", a(n), s));
  });
  scalar("_hypot_scalar", [](const NodePtr& n, E g, double) { return mul(g, div(a(n), z(n))); });
}

}  // namespace gradients
#endif  // BRASS_TRAINING

// The docs' long names of operations (each of a family of four ops).
[[maybe_unused]] const char* const kQuotient = "Quotient (integers truncate; x / 0 gives 0 for integers)";
[[maybe_unused]] const char* const kModulo = "Modulo with the sign of the divisor (x mod 0 gives 0)";

// Each op of a family on its own, so that the predictor can select it alone (BRASS_OP_*).
[[maybe_unused]] const bool kRegistered = [] {
#if BRASS_ALL_OPS || BRASS_OP_broadcast_add
  broadcast_op<Add>("broadcast_add", "Sum", {"broadcast_plus"});
#endif
#if BRASS_ALL_OPS || BRASS_OP_elemwise_add
  same_shape_op<Add>("elemwise_add", "Sum", {"_plus", "_Plus", "_add"});
#endif
#if BRASS_ALL_OPS || BRASS_OP_plus_scalar
  scalar_op<Add, false>("_plus_scalar", "Sum", {"_PlusScalar"});
#endif
#if BRASS_ALL_OPS || BRASS_OP_broadcast_sub
  broadcast_op<Sub>("broadcast_sub", "Difference", {"broadcast_minus"});
#endif
#if BRASS_ALL_OPS || BRASS_OP_elemwise_sub
  same_shape_op<Sub>("elemwise_sub", "Difference", {"_minus", "_Minus", "_sub"});
#endif
#if BRASS_ALL_OPS || BRASS_OP_minus_scalar
  scalar_op<Sub, false>("_minus_scalar", "Difference", {"_MinusScalar"});
#endif
#if BRASS_ALL_OPS || BRASS_OP_rminus_scalar
  OpRegistry::get().add_alias("_RMinusScalar", &scalar_op<Sub, true>("_rminus_scalar", "Difference"));
#endif
#if BRASS_ALL_OPS || BRASS_OP_broadcast_mul
  broadcast_op<Mul>("broadcast_mul", "Product");
#endif
#if BRASS_ALL_OPS || BRASS_OP_elemwise_mul
  same_shape_op<Mul>("elemwise_mul", "Product", {"_mul", "_Mul"});
#endif
#if BRASS_ALL_OPS || BRASS_OP_mul_scalar
  scalar_op<Mul, false>("_mul_scalar", "Product", {"_MulScalar"});
#endif
#if BRASS_ALL_OPS || BRASS_OP_broadcast_div
  broadcast_op<Div>("broadcast_div", kQuotient);
#endif
#if BRASS_ALL_OPS || BRASS_OP_elemwise_div
  same_shape_op<Div>("elemwise_div", kQuotient, {"_div", "_Div"});
#endif
#if BRASS_ALL_OPS || BRASS_OP_div_scalar
  scalar_op<Div, false>("_div_scalar", kQuotient, {"_DivScalar"});
#endif
#if BRASS_ALL_OPS || BRASS_OP_rdiv_scalar
  OpRegistry::get().add_alias("_RDivScalar", &scalar_op<Div, true>("_rdiv_scalar", kQuotient));
#endif
#if BRASS_ALL_OPS || BRASS_OP_broadcast_mod
  broadcast_op<Mod>("broadcast_mod", kModulo);
#endif
#if BRASS_ALL_OPS || BRASS_OP_mod
  same_shape_op<Mod>("_mod", kModulo, {"_Mod"});
#endif
#if BRASS_ALL_OPS || BRASS_OP_mod_scalar
  scalar_op<Mod, false>("_mod_scalar", kModulo);
#endif
#if BRASS_ALL_OPS || BRASS_OP_rmod_scalar
  scalar_op<Mod, true>("_rmod_scalar", kModulo);
#endif
#if BRASS_ALL_OPS || BRASS_OP_broadcast_power
  broadcast_op<Power>("broadcast_power", "Power");
#endif
#if BRASS_ALL_OPS || BRASS_OP_power
  same_shape_op<Power>("_power", "Power", {"_Power", "elemwise_pow"});
#endif
#if BRASS_ALL_OPS || BRASS_OP_power_scalar
  scalar_op<Power, false>("_power_scalar", "Power", {"_PowerScalar"});
#endif
#if BRASS_ALL_OPS || BRASS_OP_rpower_scalar
  OpRegistry::get().add_alias("_RPowerScalar", &scalar_op<Power, true>("_rpower_scalar", "Power"));
#endif
#if BRASS_ALL_OPS || BRASS_OP_broadcast_maximum
  broadcast_op<Maximum>("broadcast_maximum", "Element-wise maximum");
#endif
#if BRASS_ALL_OPS || BRASS_OP_maximum
  same_shape_op<Maximum>("_maximum", "Element-wise maximum", {"_Maximum"});
#endif
#if BRASS_ALL_OPS || BRASS_OP_maximum_scalar
  scalar_op<Maximum, false>("_maximum_scalar", "Element-wise maximum", {"_MaximumScalar"});
#endif
#if BRASS_ALL_OPS || BRASS_OP_broadcast_minimum
  broadcast_op<Minimum>("broadcast_minimum", "Element-wise minimum");
#endif
#if BRASS_ALL_OPS || BRASS_OP_minimum
  same_shape_op<Minimum>("_minimum", "Element-wise minimum", {"_Minimum"});
#endif
#if BRASS_ALL_OPS || BRASS_OP_minimum_scalar
  scalar_op<Minimum, false>("_minimum_scalar", "Element-wise minimum", {"_MinimumScalar"});
#endif
#if BRASS_ALL_OPS || BRASS_OP_broadcast_hypot
  broadcast_op<Hypot>("broadcast_hypot", "sqrt(a*a + b*b)");
#endif
#if BRASS_ALL_OPS || BRASS_OP_hypot
  same_shape_op<Hypot>("_hypot", "sqrt(a*a + b*b)", {"_Hypot"});
#endif
#if BRASS_ALL_OPS || BRASS_OP_hypot_scalar
  scalar_op<Hypot, false>("_hypot_scalar", "sqrt(a*a + b*b)", {"_HypotScalar"});
#endif
#if BRASS_ALL_OPS || BRASS_OP_broadcast_equal
  broadcast_op<Equal>("broadcast_equal", "1 where a == b, else 0");
#endif
#if BRASS_ALL_OPS || BRASS_OP_equal
  same_shape_op<Equal>("_equal", "1 where a == b, else 0");
#endif
#if BRASS_ALL_OPS || BRASS_OP_equal_scalar
  scalar_op<Equal, false>("_equal_scalar", "1 where a == b, else 0");
#endif
#if BRASS_ALL_OPS || BRASS_OP_broadcast_not_equal
  broadcast_op<NotEqual>("broadcast_not_equal", "1 where a != b, else 0");
#endif
#if BRASS_ALL_OPS || BRASS_OP_not_equal
  same_shape_op<NotEqual>("_not_equal", "1 where a != b, else 0");
#endif
#if BRASS_ALL_OPS || BRASS_OP_not_equal_scalar
  scalar_op<NotEqual, false>("_not_equal_scalar", "1 where a != b, else 0");
#endif
#if BRASS_ALL_OPS || BRASS_OP_broadcast_greater
  broadcast_op<Greater>("broadcast_greater", "1 where a > b, else 0");
#endif
#if BRASS_ALL_OPS || BRASS_OP_greater
  same_shape_op<Greater>("_greater", "1 where a > b, else 0");
#endif
#if BRASS_ALL_OPS || BRASS_OP_greater_scalar
  scalar_op<Greater, false>("_greater_scalar", "1 where a > b, else 0");
#endif
#if BRASS_ALL_OPS || BRASS_OP_broadcast_greater_equal
  broadcast_op<GreaterEqual>("broadcast_greater_equal", "1 where a >= b, else 0");
#endif
#if BRASS_ALL_OPS || BRASS_OP_greater_equal
  same_shape_op<GreaterEqual>("_greater_equal", "1 where a >= b, else 0");
#endif
#if BRASS_ALL_OPS || BRASS_OP_greater_equal_scalar
  scalar_op<GreaterEqual, false>("_greater_equal_scalar", "1 where a >= b, else 0");
#endif
#if BRASS_ALL_OPS || BRASS_OP_broadcast_lesser
  broadcast_op<Lesser>("broadcast_lesser", "1 where a < b, else 0");
#endif
#if BRASS_ALL_OPS || BRASS_OP_lesser
  same_shape_op<Lesser>("_lesser", "1 where a < b, else 0");
#endif
#if BRASS_ALL_OPS || BRASS_OP_lesser_scalar
  scalar_op<Lesser, false>("_lesser_scalar", "1 where a < b, else 0");
#endif
#if BRASS_ALL_OPS || BRASS_OP_broadcast_lesser_equal
  broadcast_op<LesserEqual>("broadcast_lesser_equal", "1 where a <= b, else 0");
#endif
#if BRASS_ALL_OPS || BRASS_OP_lesser_equal
  same_shape_op<LesserEqual>("_lesser_equal", "1 where a <= b, else 0");
#endif
#if BRASS_ALL_OPS || BRASS_OP_lesser_equal_scalar
  scalar_op<LesserEqual, false>("_lesser_equal_scalar", "1 where a <= b, else 0");
#endif
#if BRASS_ALL_OPS || BRASS_OP_broadcast_logical_and
  broadcast_op<LogicalAnd>("broadcast_logical_and", "Logical and (1 or 0)");
#endif
#if BRASS_ALL_OPS || BRASS_OP_logical_and
  same_shape_op<LogicalAnd>("_logical_and", "Logical and (1 or 0)");
#endif
#if BRASS_ALL_OPS || BRASS_OP_logical_and_scalar
  scalar_op<LogicalAnd, false>("_logical_and_scalar", "Logical and (1 or 0)");
#endif
#if BRASS_ALL_OPS || BRASS_OP_broadcast_logical_or
  broadcast_op<LogicalOr>("broadcast_logical_or", "Logical or (1 or 0)");
#endif
#if BRASS_ALL_OPS || BRASS_OP_logical_or
  same_shape_op<LogicalOr>("_logical_or", "Logical or (1 or 0)");
#endif
#if BRASS_ALL_OPS || BRASS_OP_logical_or_scalar
  scalar_op<LogicalOr, false>("_logical_or_scalar", "Logical or (1 or 0)");
#endif
#if BRASS_ALL_OPS || BRASS_OP_broadcast_logical_xor
  broadcast_op<LogicalXor>("broadcast_logical_xor", "Logical exclusive or (1 or 0)");
#endif
#if BRASS_ALL_OPS || BRASS_OP_logical_xor
  same_shape_op<LogicalXor>("_logical_xor", "Logical exclusive or (1 or 0)");
#endif
#if BRASS_ALL_OPS || BRASS_OP_logical_xor_scalar
  scalar_op<LogicalXor, false>("_logical_xor_scalar", "Logical exclusive or (1 or 0)");
#endif
#if BRASS_TRAINING
  gradients::register_all();
#endif
  return true;
}();

}  // namespace binary_ops
}  // namespace brass
