// MXNet's optimizer update operators as fused element-wise kernels: sgd_update,
// sgd_mom_update, nag_mom_update, adam_update, _adamw_update, rmsprop_update,
// rmspropalex_update, adagrad_update, ftrl_update, signsgd_update, signum_update,
// lamb_update_phase1/2, multi_sgd_update, multi_sgd_mom_update and the mixed-precision
// mp_sgd_update, mp_sgd_mom_update, mp_nag_mom_update, _mp_adamw_update, multi_mp_sgd_update,
// multi_mp_sgd_mom_update. Each writes the new weight to its output (called as
// `sgd_update(weight, grad, lr=0.1, out=weight)`, in place) and updates its state inputs in
// place (declared with .mutates, so the engine orders later readers of the states after it).
// The parameters, the math and the dispatch are in optimizer_params.h, shared with the CUDA
// kernels (cuda/optimizer.cu). These ops have no gradient.
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "engine/thread_pool.h"
#include "kernel/elemwise.h"
#include "op/nn/optimizer_params.h"
#include "op/operator.h"

namespace brass {
namespace optimizer_ops {

using In = std::vector<TBlob>;

// Runs functor(i) for i in [0, n) on the thread pool.
template <class F, class = void> struct HasRunRange : std::false_type {};
template <class F>
struct HasRunRange<F, std::void_t<decltype(std::declval<const F&>().run_range(0, 0))>> : std::true_type {};

struct CpuExec {
  template <class F>
  void operator()(int64_t n, const F& f) const {
    thread_pool::parallel_for(n, kernel::kGrain, [&](int64_t b, int64_t e) {
      if constexpr (HasRunRange<F>::value) f.run_range(b, e);
      else for (int64_t i = b; i < e; ++i) f(i);
    });
  }
};

// The layout of an op's inputs: groups of `stride` inputs (weight, grad, states, [weight32]),
// one group per output; `nfp32` of each group's last inputs are float32 (mp_: states and
// weight32); `scale`: one more input at the end, a one-element rescale factor (AdamW).
struct Layout {
  int stride, nfp32;
  bool scale;
};

std::string input_name(const NodeAttrs& a, size_t i) {
  const auto& names = a.op->input_names;
  if (i < names.size()) return names[i];
  return "input " + std::to_string(i);
}

bool is_float(int t) {
  return t == int(DType::kFloat16) || t == int(DType::kFloat32) || t == int(DType::kFloat64);
}

void check_float(const NodeAttrs& a, int t, const std::string& what) {
  if (t >= 0 && !is_float(t))
    fail(BRASS_ERR_DTYPE, a.op->name, ": ", what, " must be float16, float32 or float64, got ",
         dtype_name(DType(t)));
}

// Shapes: every input of a group has the output's shape; the rescale factor is (1,).
ShapeFn layout_shape(Layout L) {
  return [L](const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
    const char* op = a.op->name.c_str();
    bool known = true;
    for (size_t k = 0; k < out.size(); ++k) {
      Shape s = out[k];
      for (int j = 0; j < L.stride; ++j) {
        size_t i = k * L.stride + j;
        infer::assign_shape(s, in[i], op, input_name(a, i).c_str());
      }
      for (int j = 0; j < L.stride; ++j) {
        size_t i = k * L.stride + j;
        infer::assign_shape(in[i], s, op, input_name(a, i).c_str());
        known = known && in[i].known();
      }
      infer::assign_shape(out[k], s, op, "output");
      known = known && out[k].known();
    }
    if (L.scale) {
      Shape& s = in.back();
      if (s.ndim_known() && s.known() && s.size() != 1)
        fail(BRASS_ERR_SHAPE, op, ": rescale_grad must hold one element, got shape ", s);
      if (!s.ndim_known()) s = Shape{1};
      known = known && s.known();
    }
    return known;
  };
}

// Dtypes: weight, grad (and the states unless mp_) and the output share one float dtype; the
// mp_ states and weight32 are float32; the rescale factor may be any float dtype.
TypeFn layout_type(Layout L) {
  return [L](const NodeAttrs& a, std::vector<int>& in, std::vector<int>& out) {
    const char* op = a.op->name.c_str();
    bool known = true;
    for (size_t k = 0; k < out.size(); ++k) {
      size_t base = k * L.stride;
      int nsame = L.stride - L.nfp32;
      int t = out[k];
      for (int j = 0; j < nsame; ++j) {
        int v = in[base + j];
        check_float(a, v, input_name(a, base + j));
        if (v < 0) continue;
        if (t < 0) t = v;
        else if (t != v)
          fail(BRASS_ERR_DTYPE, op, ": ", input_name(a, base + j), " has dtype ", dtype_name(DType(v)),
               ", expected ", dtype_name(DType(t)), " (the dtype of the weight)");
      }
      check_float(a, t, "weight");
      for (int j = 0; j < nsame; ++j) in[base + j] = t;
      out[k] = t;
      known = known && t >= 0;
      for (int j = nsame; j < L.stride; ++j) {
        int& v = in[base + j];
        if (v >= 0 && v != int(DType::kFloat32))
          fail(BRASS_ERR_DTYPE, op, ": ", input_name(a, base + j), " must be float32, got ",
               dtype_name(DType(v)));
        v = int(DType::kFloat32);
      }
    }
    if (L.scale) {
      check_float(a, in.back(), "rescale_grad");
      known = known && in.back() >= 0;
    }
    return known;
  };
}

// multi_ ops: lrs and wds hold one value per weight.
template <class P>
void check_multi(const NodeAttrs& a) {
  const P& p = a.param<P>();
  if (int(p.lrs.v.size()) != p.num_weights)
    fail(BRASS_ERR_INVALID_ARGUMENT, a.op->name, ": lrs has ", p.lrs.v.size(), " values, expected num_weights=",
         p.num_weights);
  if (int(p.wds.v.size()) != p.num_weights)
    fail(BRASS_ERR_INVALID_ARGUMENT, a.op->name, ": wds has ", p.wds.v.size(), " values, expected num_weights=",
         p.num_weights);
}

// (input, output) pairs that may share memory: each group's weight and its output.
std::vector<std::pair<int, int>> weight_out_pairs(int stride, int groups) {
  std::vector<std::pair<int, int>> v;
  for (int k = 0; k < groups; ++k) v.emplace_back(k * stride, k);
  return v;
}

template <template <class> class Step, class P, int NS, bool MP, bool SCALE = false>
void cpu_update(const OpContext& ctx, const In& in, const In& out) {
  update<Step, P, NS, MP, SCALE>(ctx, in, out, CpuExec{});
}

// Registers one single-weight update op.
Op& add_update(const char* name, std::vector<std::string> inputs, Layout L, std::vector<int> mutated) {
  Op& op = OpRegistry::get().add(name);
  op.inputs(std::move(inputs))
      .shape_fn(layout_shape(L))
      .type_fn(layout_type(L))
      .partial_infer()
      .inplace_pairs({{0, 0}});
  if (!mutated.empty()) op.mutates(std::move(mutated));
  return op;
}

// Registers a multi_ op: num_weights groups of L.stride inputs, one output per group; `mutated`:
// the indices within a group of the inputs it writes.
template <class P>
Op& add_multi(const char* name, Layout L, std::vector<int> mutated, const char* doc) {
  Op& op = OpRegistry::get().add(name);
  op.describe(doc)
      .set_num_inputs([L](const NodeAttrs& a) { return L.stride * a.param<P>().num_weights; })
      .set_num_outputs([](const NodeAttrs& a) { return a.param<P>().num_weights; })
      .template params<P>()
      .shape_fn([L](const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
        check_multi<P>(a);
        return layout_shape(L)(a, in, out);
      })
      .type_fn(layout_type(L))
      .partial_infer()
      .inplace_pairs(weight_out_pairs(L.stride, 1024));
  if (!mutated.empty())
    op.mutates([L, mutated](const NodeAttrs& a) {
      std::vector<int> idx;
      for (int k = 0; k < a.param<P>().num_weights; ++k)
        for (int j : mutated) idx.push_back(k * L.stride + j);
      return idx;
    });
  return op;
}

const bool kRegistered = [] {
  const Layout plain2{2, 0, false}, plain3{3, 0, false}, plain4{4, 0, false}, plain5{5, 0, false};

  add_update("sgd_update", {"weight", "grad"}, plain2, {})
      .alias("_sparse_sgd_update")
      .describe("SGD update:\n\n"
                "    weight = (1 - lr * wd) * weight - lr * clip(rescale_grad * grad, clip_gradient)\n\n"
                "Writes the new weight to the output (pass out=weight to update in place).")
      .params<SGDParam>()
      .cpu(cpu_update<SgdStep, SGDParam, 0, false>);

  add_update("sgd_mom_update", {"weight", "grad", "mom"}, plain3, {2})
      .alias("_sparse_sgd_mom_update")
      .describe("SGD with momentum (mom is updated in place):\n\n"
                "    mom = momentum * mom - lr * wd * weight - lr * clip(rescale_grad * grad, clip_gradient)\n"
                "    weight = weight + mom")
      .params<SGDMomParam>()
      .cpu(cpu_update<SgdMomStep, SGDMomParam, 1, false>);

  add_update("mp_sgd_update", {"weight", "grad", "weight32"}, Layout{3, 1, false}, {2})
      .describe("Mixed-precision SGD: sgd_update computed in float32 on the float32 master copy "
                "weight32 (updated in place); the output is the new weight in the weight's dtype "
                "(usually float16).")
      .params<SGDParam>()
      .cpu(cpu_update<SgdStep, SGDParam, 0, true>);

  add_update("mp_sgd_mom_update", {"weight", "grad", "mom", "weight32"}, Layout{4, 2, false}, {2, 3})
      .describe("Mixed-precision SGD with momentum: sgd_mom_update in float32 on the float32 "
                "master copy weight32 and float32 mom (both updated in place); the output is the "
                "new weight in the weight's dtype.")
      .params<SGDMomParam>()
      .cpu(cpu_update<SgdMomStep, SGDMomParam, 1, true>);

  add_update("nag_mom_update", {"weight", "grad", "mom"}, plain3, {2})
      .describe("Nesterov momentum update (mom is updated in place), with g = clip(rescale_grad "
                "* grad, clip_gradient):\n\n"
                "    mom = momentum * mom\n"
                "    new_weight = weight - mom + (momentum + 1) * (mom - lr * (g + wd * weight))\n"
                "    mom = mom - lr * (g + wd * new_weight)\n\n"
                "The momentum's weight-decay term uses the new weight, as MXNet computes it in "
                "its usual in-place call (out=weight) and in mp_nag_mom_update.")
      .params<NAGMomParam>()
      .cpu(cpu_update<NagMomStep, NAGMomParam, 1, false>);

  add_update("mp_nag_mom_update", {"weight", "grad", "mom", "weight32"}, Layout{4, 2, false}, {2, 3})
      .describe("Mixed-precision nag_mom_update: float32 math on the float32 master copy weight32 "
                "and float32 mom (both updated in place); the output is the new weight in the "
                "weight's dtype.")
      .params<NAGMomParam>()
      .cpu(cpu_update<NagMomStep, NAGMomParam, 1, true>);

  add_update("adam_update", {"weight", "grad", "mean", "var"}, plain4, {2, 3})
      .alias("_sparse_adam_update")
      .describe("Adam update (mean and var are updated in place), with g = clip(rescale_grad * "
                "grad + wd * weight, clip_gradient):\n\n"
                "    mean = beta1 * mean + (1 - beta1) * g\n"
                "    var = beta2 * var + (1 - beta2) * g^2\n"
                "    weight = weight - lr * mean / (sqrt(var) + epsilon)\n\n"
                "No bias correction (MXNet's optimizer folds it into lr).")
      .params<AdamParam>()
      .cpu(cpu_update<AdamStep, AdamParam, 2, false>);

  add_update("_adamw_update", {"weight", "grad", "mean", "var", "rescale_grad"}, Layout{4, 0, true}, {2, 3})
      .alias("_contrib_adamw_update")
      .describe("AdamW update (decoupled weight decay; mean and var are updated in place), with "
                "g = clip(rescale_grad * grad, clip_gradient):\n\n"
                "    mean = beta1 * mean + (1 - beta1) * g\n"
                "    var = beta2 * var + (1 - beta2) * g^2\n"
                "    weight = weight - eta * (lr * mean / (sqrt(var) + epsilon) + wd * weight)\n\n"
                "rescale_grad is a one-element array; when it is 0, Inf or NaN the update is "
                "skipped (the output is the weight, the states are unchanged).")
      .params<AdamWParam>()
      .cpu(cpu_update<AdamWStep, AdamWParam, 2, false, true>);

  add_update("_mp_adamw_update", {"weight", "grad", "mean", "var", "weight32", "rescale_grad"},
             Layout{5, 3, true}, {2, 3, 4})
      .alias("_contrib_mp_adamw_update")
      .describe("Mixed-precision _adamw_update: float32 math on the float32 master copy weight32 "
                "and float32 mean and var (all updated in place); the output is the new weight in "
                "the weight's dtype. rescale_grad 0, Inf or NaN skips the update.")
      .params<AdamWParam>()
      .cpu(cpu_update<AdamWStep, AdamWParam, 2, true, true>);

  add_update("rmsprop_update", {"weight", "grad", "n"}, plain3, {2})
      .describe("RMSProp update (Tieleman & Hinton; n is updated in place), with g = "
                "clip(rescale_grad * grad + wd * weight, clip_gradient):\n\n"
                "    n = (1 - gamma1) * g^2 + gamma1 * n\n"
                "    weight = weight - lr * g / sqrt(n + epsilon)\n\n"
                "then clipped to [-clip_weights, clip_weights] when clip_weights >= 0.")
      .params<RMSPropParam>()
      .cpu(cpu_update<RMSPropStep, RMSPropParam, 1, false>);

  add_update("rmspropalex_update", {"weight", "grad", "n", "g", "delta"}, plain5, {2, 3, 4})
      .describe("Centered RMSProp update (Graves 2013; n, g and delta are updated in place), with "
                "gr = clip(rescale_grad * grad + wd * weight, clip_gradient):\n\n"
                "    n = (1 - gamma1) * gr^2 + gamma1 * n\n"
                "    g = (1 - gamma1) * gr + gamma1 * g\n"
                "    delta = gamma2 * delta - lr * gr / sqrt(n - g^2 + epsilon)\n"
                "    weight = weight + delta\n\n"
                "then clipped to [-clip_weights, clip_weights] when clip_weights >= 0.")
      .params<RMSPropAlexParam>()
      .cpu(cpu_update<RMSPropAlexStep, RMSPropAlexParam, 3, false>);

  add_update("adagrad_update", {"weight", "grad", "history"}, plain3, {2})
      .alias("_sparse_adagrad_update")
      .describe("AdaGrad update (history is updated in place), with g = clip(rescale_grad * grad, "
                "clip_gradient):\n\n"
                "    history = history + g^2\n"
                "    weight = weight - lr * (g / sqrt(history + epsilon) + wd * weight)\n\n"
                "(MXNet's sparse kernel rejects wd != 0; its AdaGrad optimizer applies wd this way "
                "for dense gradients.)")
      .params<AdagradParam>()
      .cpu(cpu_update<AdagradStep, AdagradParam, 1, false>);

  add_update("ftrl_update", {"weight", "grad", "z", "n"}, plain4, {2, 3})
      .alias("_sparse_ftrl_update")
      .describe("FTRL update (z and n are updated in place), with g = clip(rescale_grad * grad, "
                "clip_gradient):\n\n"
                "    z = z + g - (sqrt(n + g^2) - sqrt(n)) * weight / lr\n"
                "    n = n + g^2\n"
                "    weight = (sign(z) * lamda1 - z) / ((beta + sqrt(n)) / lr + wd) * (|z| > lamda1)")
      .params<FtrlParam>()
      .cpu(cpu_update<FtrlStep, FtrlParam, 2, false>);

  add_update("signsgd_update", {"weight", "grad"}, plain2, {})
      .describe("signSGD update:\n\n"
                "    weight = (1 - lr * wd) * weight - lr * sign(grad)\n\n"
                "rescale_grad and clip_gradient are accepted and have no effect, as in MXNet.")
      .params<SignSGDParam>()
      .cpu(cpu_update<SignSgdStep, SignSGDParam, 0, false>);

  add_update("signum_update", {"weight", "grad", "mom"}, plain3, {2})
      .describe("Signum update (mom is updated in place):\n\n"
                "    mom = momentum * mom - (1 - momentum) * (wd * weight + clip(rescale_grad * grad, clip_gradient))\n"
                "    weight = (1 - lr * wd_lh) * weight + lr * sign(mom)")
      .params<SignumParam>()
      .cpu(cpu_update<SignumStep, SignumParam, 1, false>);

  add_update("lamb_update_phase1", {"weight", "grad", "mean", "var"}, plain4, {2, 3})
      .describe("LAMB phase 1 (mean and var are updated in place): the update direction, with "
                "g = clip(rescale_grad * grad, clip_gradient):\n\n"
                "    mean = beta1 * mean + (1 - beta1) * g\n"
                "    var = beta2 * var + (1 - beta2) * g^2\n"
                "    out = mean' / (sqrt(var') + epsilon) + wd * weight\n\n"
                "where mean' = mean / (1 - beta1^t), var' = var / (1 - beta2^t) with "
                "bias_correction, else mean and var.")
      .params<LambPhase1Param>()
      .cpu(cpu_update<LambPhase1Step, LambPhase1Param, 2, false>);

  OpRegistry::get().add("lamb_update_phase2")
      .describe("LAMB phase 2: weight = weight - lr' * g, with r1 the weight's norm and r2 g's norm "
                "(one-element arrays): r1 is clamped to [lower_bound, upper_bound] (each when >= 0), "
                "and lr' = lr * r1 / r2, or lr when r1 or r2 is 0.")
      .inputs({"weight", "g", "r1", "r2"})
      .params<LambPhase2Param>()
      .shape_fn([](const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
        const char* op = "lamb_update_phase2";
        infer::assign_shape(in[0], in[1], op, "weight");
        infer::assign_shape(in[1], in[0], op, "g");
        infer::assign_shape(out[0], in[0], op, "output");
        infer::assign_shape(in[0], out[0], op, "weight");
        infer::assign_shape(in[1], out[0], op, "g");
        for (int i = 2; i < 4; ++i) {
          if (in[i].ndim_known() && in[i].known() && in[i].size() != 1)
            fail(BRASS_ERR_SHAPE, op, ": ", input_name(a, size_t(i)), " must hold one element, got shape ", in[i]);
          if (!in[i].ndim_known()) in[i] = Shape{1};
        }
        return in[0].known() && in[2].known() && in[3].known();
      })
      .type_fn(layout_type(plain4))
      .partial_infer()
      .inplace_pairs({{0, 0}})
      .cpu([](const OpContext& ctx, const In& in, const In& out) { lamb_phase2(ctx, in, out, CpuExec{}); });

  // Several weights per call: inputs weight_0, grad_0, [mom_0], [weight32_0], weight_1, ...;
  // one output per weight; lrs[k] and wds[k] for weight k.
  add_multi<MultiSGDParam>("multi_sgd_update", Layout{2, 0, false}, {},
                           "SGD update of num_weights weights in one call: inputs weight_0, grad_0, "
                           "weight_1, grad_1, ...; output k is the new weight k:\n\n"
                           "    weight_k = (1 - lrs[k] * wds[k]) * weight_k - lrs[k] * "
                           "clip(rescale_grad * grad_k, clip_gradient)")
      .cpu(cpu_update<MultiSgdStep, MultiSGDParam, 0, false>);
  add_multi<MultiSGDMomParam>("multi_sgd_mom_update", Layout{3, 0, false}, {2},
                              "SGD with momentum for num_weights weights in one call: inputs weight_0, "
                              "grad_0, mom_0, weight_1, ... (each mom_k is updated in place):\n\n"
                              "    mom_k = momentum * mom_k - lrs[k] * wds[k] * weight_k - lrs[k] * "
                              "clip(rescale_grad * grad_k, clip_gradient)\n"
                              "    weight_k = weight_k + mom_k")
      .cpu(cpu_update<MultiSgdMomStep, MultiSGDMomParam, 1, false>);
  add_multi<MultiSGDParam>("multi_mp_sgd_update", Layout{3, 1, false}, {2},
                           "Mixed-precision multi_sgd_update: inputs weight_0, grad_0, weight32_0, "
                           "weight_1, ...; float32 math on each float32 master copy weight32_k "
                           "(updated in place); output k is the new weight k in its dtype.")
      .cpu(cpu_update<MultiSgdStep, MultiSGDParam, 0, true>);
  add_multi<MultiSGDMomParam>("multi_mp_sgd_mom_update", Layout{4, 2, false}, {2, 3},
                              "Mixed-precision multi_sgd_mom_update: inputs weight_0, grad_0, mom_0, "
                              "weight32_0, weight_1, ...; float32 math on the float32 mom_k and "
                              "weight32_k (both updated in place); output k is the new weight k in "
                              "its dtype.")
      .cpu(cpu_update<MultiSgdMomStep, MultiSGDMomParam, 1, true>);
  return true;
}();

}  // namespace optimizer_ops
}  // namespace brass
