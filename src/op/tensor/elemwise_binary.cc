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

template <class F>
void family(const char* bname, const char* ename, const char* sname, const char* rname,
            const char* what, std::vector<const char*> e_aliases = {},
            std::vector<const char*> s_aliases = {}, std::vector<const char*> b_aliases = {}) {
  std::string w(what);
  Op& b = binary_op(bname, binary_kernel<F>, true,
                    w + " with numpy broadcasting.\n\n    " + bname + "([[1], [2]], [10, 20]) has shape (2, 2)");
  for (auto a : b_aliases) b.alias(a);
  if (ename) {
    Op& e = binary_op(ename, binary_kernel<F>, false, w + " of two arrays of the same shape.");
    for (auto a : e_aliases) e.alias(a);
  }
  auto scalar_op = [&](const char* name, const ComputeFn& fn, const std::string& doc) -> Op& {
    return OpRegistry::get().add(name).describe(doc).inputs({"data"}).params<ScalarParam>()
        .shape_fn(infer::same_shape).type_fn(infer::same_type).inplace_pairs({{0, 0}}).set_pointwise().add_req().cpu(fn);
  };
  Op& s = scalar_op(sname, scalar_kernel<F, false>, w + " of an array and a scalar: f(x, scalar).");
  for (auto a : s_aliases) s.alias(a);
  if (rname) scalar_op(rname, scalar_kernel<F, true>, w + " of a scalar and an array: f(scalar, x).");
}

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

const bool kRegistered = [] {
  family<Add>("broadcast_add", "elemwise_add", "_plus_scalar", nullptr, "Sum",
              {"_plus", "_Plus", "_add"}, {"_PlusScalar"}, {"broadcast_plus"});
  family<Sub>("broadcast_sub", "elemwise_sub", "_minus_scalar", "_rminus_scalar", "Difference",
              {"_minus", "_Minus", "_sub"}, {"_MinusScalar"}, {"broadcast_minus"});
  OpRegistry::get().add_alias("_RMinusScalar", const_cast<Op*>(OpRegistry::get().find("_rminus_scalar")));
  family<Mul>("broadcast_mul", "elemwise_mul", "_mul_scalar", nullptr, "Product",
              {"_mul", "_Mul"}, {"_MulScalar"});
  family<Div>("broadcast_div", "elemwise_div", "_div_scalar", "_rdiv_scalar",
              "Quotient (integers truncate; x / 0 gives 0 for integers)", {"_div", "_Div"}, {"_DivScalar"});
  OpRegistry::get().add_alias("_RDivScalar", const_cast<Op*>(OpRegistry::get().find("_rdiv_scalar")));
  family<Mod>("broadcast_mod", "_mod", "_mod_scalar", "_rmod_scalar",
              "Modulo with the sign of the divisor (x mod 0 gives 0)", {"_Mod"});
  family<Power>("broadcast_power", "_power", "_power_scalar", "_rpower_scalar", "Power",
                {"_Power", "elemwise_pow"}, {"_PowerScalar"});
  OpRegistry::get().add_alias("_RPowerScalar", const_cast<Op*>(OpRegistry::get().find("_rpower_scalar")));
  family<Maximum>("broadcast_maximum", "_maximum", "_maximum_scalar", nullptr, "Element-wise maximum",
                  {"_Maximum"}, {"_MaximumScalar"});
  family<Minimum>("broadcast_minimum", "_minimum", "_minimum_scalar", nullptr, "Element-wise minimum",
                  {"_Minimum"}, {"_MinimumScalar"});
  family<Hypot>("broadcast_hypot", "_hypot", "_hypot_scalar", nullptr, "sqrt(a*a + b*b)", {"_Hypot"},
                {"_HypotScalar"});
  family<Equal>("broadcast_equal", "_equal", "_equal_scalar", nullptr, "1 where a == b, else 0");
  family<NotEqual>("broadcast_not_equal", "_not_equal", "_not_equal_scalar", nullptr, "1 where a != b, else 0");
  family<Greater>("broadcast_greater", "_greater", "_greater_scalar", nullptr, "1 where a > b, else 0");
  family<GreaterEqual>("broadcast_greater_equal", "_greater_equal", "_greater_equal_scalar", nullptr,
                       "1 where a >= b, else 0");
  family<Lesser>("broadcast_lesser", "_lesser", "_lesser_scalar", nullptr, "1 where a < b, else 0");
  family<LesserEqual>("broadcast_lesser_equal", "_lesser_equal", "_lesser_equal_scalar", nullptr,
                      "1 where a <= b, else 0");
  family<LogicalAnd>("broadcast_logical_and", "_logical_and", "_logical_and_scalar", nullptr,
                     "Logical and (1 or 0)");
  family<LogicalOr>("broadcast_logical_or", "_logical_or", "_logical_or_scalar", nullptr,
                    "Logical or (1 or 0)");
  family<LogicalXor>("broadcast_logical_xor", "_logical_xor", "_logical_xor_scalar", nullptr,
                     "Logical exclusive or (1 or 0)");
  gradients::register_all();
  return true;
}();

}  // namespace binary_ops
}  // namespace brass
