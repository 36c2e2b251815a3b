// Parameters of Activation (activation.cc) and the functor of softrelu, shared by the CPU
// kernel and the CUDA kernel (cuda/nn_dense.cu). The other activations reuse the functors of
// the element-wise ops (op/tensor/elemwise_unary_functors.h).
#pragma once

#include <cmath>
#include <string>

#include "base/xinline.h"
#include "op/operator.h"
#include "op/tensor/elemwise_unary_functors.h"

namespace brass {
namespace act_ops {

struct ActivationParam {
  std::string act_type;
  static void declare(ParamSpec<ActivationParam>& s) {
    s.field("act_type", &ActivationParam::act_type)
        .set_choices({"log_sigmoid", "mish", "relu", "sigmoid", "softrelu", "softsign", "tanh"})
        .describe("The activation: relu max(x, 0), sigmoid 1/(1+exp(-x)), tanh, softrelu "
                  "log(1+exp(x)), softsign x/(1+|x|), log_sigmoid log(sigmoid(x)), mish "
                  "x*tanh(softrelu(x)).");
  }
};

// log(1 + exp(x)); above 20 it is x to the precision of the types (and exp would overflow
// sooner or later), as MXNet computes it.
struct Softrelu : kernel::FloatCompute {
  template <class T> BRASS_XINLINE static T map(T x) {
    return x > T(20) ? x : T(std::log1p(std::exp(x)));
  }
};

// log(sigmoid(x)) = -softrelu(-x), without overflow on either side.
struct LogSigmoid : kernel::FloatCompute {
  template <class T> BRASS_XINLINE static T map(T x) {
    return x >= T(0) ? T(-std::log1p(std::exp(-x))) : T(x - std::log1p(std::exp(x)));
  }
};

// x * tanh(softrelu(x)).
struct Mish : kernel::FloatCompute {
  template <class T> BRASS_XINLINE static T map(T x) { return x * T(std::tanh(Softrelu::map(x))); }
};

// Calls f(F()) with the functor of act_type (checked by the parameter parser).
template <class Fn>
void with_activation(const std::string& t, Fn&& f) {
  if (t == "relu") f(unary_ops::Relu());
  else if (t == "sigmoid") f(unary_ops::Sigmoid());
  else if (t == "tanh") f(unary_ops::Tanh());
  else if (t == "softrelu") f(Softrelu());
  else if (t == "log_sigmoid") f(LogSigmoid());
  else if (t == "mish") f(Mish());
  else f(unary_ops::Softsign());
}

}  // namespace act_ops
}  // namespace brass
