// Activation: MXNet's activation layer, relu / sigmoid / tanh / softrelu / softsign, on the
// element-wise kernels of the unary ops (activation_params.h; CUDA kernel in cuda/nn_dense.cu).
// The gradient is a graph of registered ops (the same as the unary ops' own), so second
// derivatives work too.
#include "kernel/elemwise.h"
#include "op/grad.h"
#include "op/nn/activation_params.h"
#include "op/nn/nn_dtype.h"
#include "op/operator.h"

namespace brass {
namespace act_ops {

#if BRASS_ALL_OPS || BRASS_OP_Activation
bool act_type_fn(const NodeAttrs&, std::vector<int>& in, std::vector<int>& out) {
  return nn_dtype::same_float_type("Activation", in, out);
}

void act_cpu(const OpContext& ctx, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
  with_activation(ctx.param<ActivationParam>().act_type, [&](auto f) {
    kernel::unary<decltype(f)>(in[0], out[0], ctx.req[0]);
  });
}

// out_grad * dy/dx, with x the input and y the output.
std::vector<NodeEntry> act_grad(const NodePtr& n, const std::vector<NodeEntry>& g) {
  const std::string& t = n->attrs->param<ActivationParam>().act_type;
  NodeEntry x = grad::in(n, 0), y = grad::out(n);
  auto f = [](const char* op, NodeEntry a) { return grad::apply(op, {a}); };
  NodeEntry d;
  if (t == "relu") {
    d = grad::mul(g[0], grad::scalar("_greater_scalar", x, 0));
  } else if (t == "sigmoid") {  // y (1 - y)
    d = grad::mul(g[0], grad::mul(y, grad::scalar("_rminus_scalar", y, 1)));
  } else if (t == "tanh") {  // 1 - y^2
    d = grad::mul(g[0], grad::scalar("_rminus_scalar", f("square", y), 1));
  } else if (t == "softrelu") {  // sigmoid(x)
    d = grad::mul(g[0], f("sigmoid", x));
  } else if (t == "log_sigmoid") {  // sigmoid(-x) = 1 - sigmoid(x)
    d = grad::mul(g[0], grad::scalar("_rminus_scalar", f("sigmoid", x), 1));
  } else if (t == "mish") {  // tanh(sp) + x (1 - tanh(sp)^2) sigmoid(x), sp = softrelu(x)
    NodeEntry th = f("tanh", grad::apply("Activation", {x}, {{"act_type", "softrelu"}}));
    NodeEntry sech2 = grad::scalar("_rminus_scalar", f("square", th), 1);
    d = grad::mul(g[0], grad::add(th, grad::mul(x, grad::mul(sech2, f("sigmoid", x)))));
  } else {  // softsign: 1 / (1 + |x|)^2
    d = grad::div(g[0], f("square", grad::scalar("_plus_scalar", f("abs", x), 1)));
  }
  return {d};
}
#endif

[[maybe_unused]] const bool kRegistered = [] {
#if BRASS_ALL_OPS || BRASS_OP_Activation
  OpRegistry::get().add("Activation")
      .describe("Applies an activation function element-wise: relu, sigmoid, tanh, softrelu "
                "(log(1 + exp(x))), softsign (x / (1 + |x|)), log_sigmoid (log(sigmoid(x))) "
                "or mish (x * tanh(softrelu(x))).\n\n"
                "    Activation([-1, 2], act_type='relu') = [0, 2]")
      .inputs({"data"})
      .params<ActivationParam>()
      .shape_fn(infer::same_shape)
      .partial_infer()
      .type_fn(act_type_fn)
      .inplace_pairs({{0, 0}})
      .set_pointwise()
      .add_req()
      .cpu(act_cpu)
      .grad(act_grad);
#endif
  return true;
}();

}  // namespace act_ops
}  // namespace brass
