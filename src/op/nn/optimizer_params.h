// Optimizer update operators (optimizer.cc): their parameters, the per-element update math
// (one functor per optimizer, BRASS_XINLINE so the CPU loop and the CUDA kernel run the same
// code), and the host-side dispatch shared by the CPU kernels and the CUDA kernels
// (cuda/optimizer.cu). The dispatch takes an executor, `exec(n, functor)`, that calls
// functor(i) for i in [0, n): a thread-pool loop on the CPU, cuda::for_each on a GPU.
//
// Semantics are MXNet 1.9's fused optimizer kernels (src/operator/optimizer_op-inl.h,
// contrib/adamw-inl.h), on dense arrays: every op writes the new weight (LAMB phase 1: the
// update direction) to its output and updates its state inputs in place. Gradient clipping is
// on when clip_gradient >= 0 (MXNet's kernels test >= 0). float16 weights compute in float32;
// mixed-precision (mp_) ops compute in float32 from the float32 master copy `weight32`.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "base/dtype.h"
#include "base/params.h"
#include "base/xinline.h"
#include "op/operator.h"

namespace brass {
namespace optimizer_ops {

// ---- Parameters (names and defaults of MXNet 1.9) ------------------------------------------
#define BRASS_OPT_LR(S) s.field("lr", &S::lr).describe("Learning rate.")
#define BRASS_OPT_WD(S)                                                                       \
  s.field("wd", &S::wd).set_default(0.0).describe(                                            \
      "Weight decay coefficient (where it enters: see the op's formula).")
#define BRASS_OPT_RESCALE(S)                                                                  \
  s.field("rescale_grad", &S::rescale_grad).set_default(1.0)                                  \
      .describe("The gradient is multiplied by rescale_grad first.")
#define BRASS_OPT_CLIP(S)                                                                     \
  s.field("clip_gradient", &S::clip_gradient).set_default(-1.0)                               \
      .describe("Clip the (rescaled) gradient to [-clip_gradient, clip_gradient]; negative: " \
                "no clipping.")
#define BRASS_OPT_LAZY(S)                                                                     \
  s.field("lazy_update", &S::lazy_update).set_default(true)                                   \
      .describe("Lazy update for row_sparse gradients (accepted; every array is dense here, " \
                "so it has no effect).")

struct SGDParam {
  double lr, wd, rescale_grad, clip_gradient;
  bool lazy_update;
  static void declare(ParamSpec<SGDParam>& s) {
    BRASS_OPT_LR(SGDParam);
    BRASS_OPT_WD(SGDParam);
    BRASS_OPT_RESCALE(SGDParam);
    BRASS_OPT_CLIP(SGDParam);
    BRASS_OPT_LAZY(SGDParam);
  }
};

struct SGDMomParam {
  double lr, momentum, wd, rescale_grad, clip_gradient;
  bool lazy_update;
  static void declare(ParamSpec<SGDMomParam>& s) {
    BRASS_OPT_LR(SGDMomParam);
    s.field("momentum", &SGDMomParam::momentum).set_default(0.0)
        .describe("The decay rate of the momentum.");
    BRASS_OPT_WD(SGDMomParam);
    BRASS_OPT_RESCALE(SGDMomParam);
    BRASS_OPT_CLIP(SGDMomParam);
    BRASS_OPT_LAZY(SGDMomParam);
  }
};

struct NAGMomParam {
  double lr, momentum, wd, rescale_grad, clip_gradient;
  static void declare(ParamSpec<NAGMomParam>& s) {
    BRASS_OPT_LR(NAGMomParam);
    s.field("momentum", &NAGMomParam::momentum).set_default(0.0)
        .describe("The decay rate of the momentum.");
    BRASS_OPT_WD(NAGMomParam);
    BRASS_OPT_RESCALE(NAGMomParam);
    BRASS_OPT_CLIP(NAGMomParam);
  }
};

struct AdamParam {
  double lr, beta1, beta2, epsilon, wd, rescale_grad, clip_gradient;
  bool lazy_update;
  static void declare(ParamSpec<AdamParam>& s) {
    BRASS_OPT_LR(AdamParam);
    s.field("beta1", &AdamParam::beta1).set_default(0.9).describe("Decay rate of the mean.");
    s.field("beta2", &AdamParam::beta2).set_default(0.999).describe("Decay rate of the variance.");
    s.field("epsilon", &AdamParam::epsilon).set_default(1e-8).describe("Added to sqrt(var).");
    BRASS_OPT_WD(AdamParam);
    BRASS_OPT_RESCALE(AdamParam);
    BRASS_OPT_CLIP(AdamParam);
    BRASS_OPT_LAZY(AdamParam);
  }
};

// AdamW: rescale_grad is an input array here (MXNet), not a parameter.
struct AdamWParam {
  double lr, beta1, beta2, epsilon, wd, eta, clip_gradient;
  static void declare(ParamSpec<AdamWParam>& s) {
    BRASS_OPT_LR(AdamWParam);
    s.field("beta1", &AdamWParam::beta1).set_default(0.9).describe("Decay rate of the mean.");
    s.field("beta2", &AdamWParam::beta2).set_default(0.999).describe("Decay rate of the variance.");
    s.field("epsilon", &AdamWParam::epsilon).set_default(1e-8).describe("Added to sqrt(var).");
    s.field("wd", &AdamWParam::wd).set_default(0.0)
        .describe("Decoupled weight decay: eta * wd * weight is subtracted.");
    s.field("eta", &AdamWParam::eta).describe("Learning rate schedule multiplier.");
    BRASS_OPT_CLIP(AdamWParam);
  }
};

struct RMSPropParam {
  double lr, gamma1, epsilon, wd, rescale_grad, clip_gradient, clip_weights;
  static void declare(ParamSpec<RMSPropParam>& s) {
    BRASS_OPT_LR(RMSPropParam);
    s.field("gamma1", &RMSPropParam::gamma1).set_default(0.95).describe("Decay rate of n.");
    s.field("epsilon", &RMSPropParam::epsilon).set_default(1e-8).describe("Added to n under the square root.");
    BRASS_OPT_WD(RMSPropParam);
    BRASS_OPT_RESCALE(RMSPropParam);
    BRASS_OPT_CLIP(RMSPropParam);
    s.field("clip_weights", &RMSPropParam::clip_weights).set_default(-1.0)
        .describe("Clip the new weight to [-clip_weights, clip_weights]; negative: no clipping.");
  }
};

struct RMSPropAlexParam {
  double lr, gamma1, gamma2, epsilon, wd, rescale_grad, clip_gradient, clip_weights;
  static void declare(ParamSpec<RMSPropAlexParam>& s) {
    BRASS_OPT_LR(RMSPropAlexParam);
    s.field("gamma1", &RMSPropAlexParam::gamma1).set_default(0.95).describe("Decay rate of n and g.");
    s.field("gamma2", &RMSPropAlexParam::gamma2).set_default(0.9).describe("Decay rate of delta.");
    s.field("epsilon", &RMSPropAlexParam::epsilon).set_default(1e-8).describe("Added under the square root.");
    BRASS_OPT_WD(RMSPropAlexParam);
    BRASS_OPT_RESCALE(RMSPropAlexParam);
    BRASS_OPT_CLIP(RMSPropAlexParam);
    s.field("clip_weights", &RMSPropAlexParam::clip_weights).set_default(-1.0)
        .describe("Clip the new weight to [-clip_weights, clip_weights]; negative: no clipping.");
  }
};

struct AdagradParam {
  double lr, epsilon, wd, rescale_grad, clip_gradient;
  static void declare(ParamSpec<AdagradParam>& s) {
    BRASS_OPT_LR(AdagradParam);
    s.field("epsilon", &AdagradParam::epsilon).set_default(1e-7).describe("Added to history under the square root.");
    s.field("wd", &AdagradParam::wd).set_default(0.0)
        .describe("Weight decay: lr * wd * weight is subtracted (as MXNet's AdaGrad optimizer does "
                  "for dense gradients).");
    BRASS_OPT_RESCALE(AdagradParam);
    BRASS_OPT_CLIP(AdagradParam);
  }
};

struct FtrlParam {
  double lr, lamda1, beta, wd, rescale_grad, clip_gradient;
  static void declare(ParamSpec<FtrlParam>& s) {
    BRASS_OPT_LR(FtrlParam);
    s.field("lamda1", &FtrlParam::lamda1).set_default(0.01).describe("The L1 regularization coefficient.");
    s.field("beta", &FtrlParam::beta).set_default(1.0).describe("Per-coordinate learning rate beta.");
    s.field("wd", &FtrlParam::wd).set_default(0.0).describe("The L2 regularization coefficient.");
    BRASS_OPT_RESCALE(FtrlParam);
    BRASS_OPT_CLIP(FtrlParam);
  }
};

struct SignSGDParam {
  double lr, wd, rescale_grad, clip_gradient;
  static void declare(ParamSpec<SignSGDParam>& s) {
    BRASS_OPT_LR(SignSGDParam);
    BRASS_OPT_WD(SignSGDParam);
    s.field("rescale_grad", &SignSGDParam::rescale_grad).set_default(1.0)
        .describe("Accepted; no effect (only the sign of the gradient is used), as in MXNet.");
    s.field("clip_gradient", &SignSGDParam::clip_gradient).set_default(-1.0)
        .describe("Accepted; no effect (only the sign of the gradient is used), as in MXNet.");
  }
};

struct SignumParam {
  double lr, momentum, wd, rescale_grad, clip_gradient, wd_lh;
  static void declare(ParamSpec<SignumParam>& s) {
    BRASS_OPT_LR(SignumParam);
    s.field("momentum", &SignumParam::momentum).set_default(0.0)
        .describe("The decay rate of the momentum.");
    BRASS_OPT_WD(SignumParam);
    BRASS_OPT_RESCALE(SignumParam);
    BRASS_OPT_CLIP(SignumParam);
    s.field("wd_lh", &SignumParam::wd_lh).set_default(0.0)
        .describe("Decoupled weight decay (Loshchilov and Hutter): the weight is scaled by "
                  "1 - lr * wd_lh.");
  }
};

struct LambPhase1Param {
  double beta1, beta2, epsilon, wd, rescale_grad, clip_gradient;
  int t;
  bool bias_correction;
  static void declare(ParamSpec<LambPhase1Param>& s) {
    s.field("beta1", &LambPhase1Param::beta1).set_default(0.9).describe("Decay rate of the mean.");
    s.field("beta2", &LambPhase1Param::beta2).set_default(0.999).describe("Decay rate of the variance.");
    s.field("epsilon", &LambPhase1Param::epsilon).set_default(1e-6).describe("Added to sqrt(var).");
    s.field("t", &LambPhase1Param::t).describe("The update count (for the bias correction).");
    s.field("bias_correction", &LambPhase1Param::bias_correction).set_default(true)
        .describe("Divide mean and var by 1 - beta^t.");
    s.field("wd", &LambPhase1Param::wd).describe("Weight decay: wd * weight is added to the direction.");
    BRASS_OPT_RESCALE(LambPhase1Param);
    BRASS_OPT_CLIP(LambPhase1Param);
  }
};

struct LambPhase2Param {
  double lr, lower_bound, upper_bound;
  static void declare(ParamSpec<LambPhase2Param>& s) {
    BRASS_OPT_LR(LambPhase2Param);
    s.field("lower_bound", &LambPhase2Param::lower_bound).set_default(-1.0)
        .describe("Lower limit of r1 (the weight norm); negative: none.");
    s.field("upper_bound", &LambPhase2Param::upper_bound).set_default(-1.0)
        .describe("Upper limit of r1 (the weight norm); negative: none.");
  }
};

struct MultiSGDParam {
  FloatTuple lrs, wds;
  double rescale_grad, clip_gradient;
  int num_weights;
  static void declare(ParamSpec<MultiSGDParam>& s) {
    s.field("lrs", &MultiSGDParam::lrs).describe("Learning rates, one per weight.");
    s.field("wds", &MultiSGDParam::wds).describe("Weight decays, one per weight.");
    BRASS_OPT_RESCALE(MultiSGDParam);
    BRASS_OPT_CLIP(MultiSGDParam);
    s.field("num_weights", &MultiSGDParam::num_weights).set_default(1).set_lower_bound(1)
        .describe("Number of updated weights.");
  }
};

struct MultiSGDMomParam {
  FloatTuple lrs, wds;
  double momentum, rescale_grad, clip_gradient;
  int num_weights;
  static void declare(ParamSpec<MultiSGDMomParam>& s) {
    s.field("lrs", &MultiSGDMomParam::lrs).describe("Learning rates, one per weight.");
    s.field("wds", &MultiSGDMomParam::wds).describe("Weight decays, one per weight.");
    s.field("momentum", &MultiSGDMomParam::momentum).set_default(0.0)
        .describe("The decay rate of the momentum.");
    BRASS_OPT_RESCALE(MultiSGDMomParam);
    BRASS_OPT_CLIP(MultiSGDMomParam);
    s.field("num_weights", &MultiSGDMomParam::num_weights).set_default(1).set_lower_bound(1)
        .describe("Number of updated weights.");
  }
};

#undef BRASS_OPT_LR
#undef BRASS_OPT_WD
#undef BRASS_OPT_RESCALE
#undef BRASS_OPT_CLIP
#undef BRASS_OPT_LAZY

// ---- The math, once for host and device ----------------------------------------------------

// MXNet's clip: into [-bound, bound] (NaN passes through).
template <class C>
BRASS_XINLINE C clip_to(C x, C bound) {
  return x > bound ? bound : x < -bound ? -bound : x;
}
// rescale * g, clipped when clip >= 0.
template <class C>
BRASS_XINLINE C scaled(C g, C rescale, C clip) {
  C x = rescale * g;
  return clip >= C(0) ? clip_to(x, clip) : x;
}
template <class C>
BRASS_XINLINE C sign_of(C x) {
  return C((x > C(0)) - (x < C(0)));
}

// Each step maps (weight, gradient, rescale factor, states) to the output value and updates
// the states (s[0..]) in place; C is the compute type. Constructed on the host from the
// parameters and the index k of the weight (multi_ ops: its lr and wd).

template <class C>
struct SgdStep {  // sgd_update, mp_sgd_update
  C lr, wd, rescale, clip;
  SgdStep(const SGDParam& p, int) : lr(C(p.lr)), wd(C(p.wd)), rescale(C(p.rescale_grad)), clip(C(p.clip_gradient)) {}
  BRASS_XINLINE C operator()(C w, C g, C rs, C*) const {
    return (C(1) - lr * wd) * w - lr * scaled(g, rs, clip);
  }
};

template <class C>
struct SgdMomStep {  // sgd_mom_update, mp_sgd_mom_update; s: mom
  C lr, momentum, wd, rescale, clip;
  SgdMomStep(const SGDMomParam& p, int)
      : lr(C(p.lr)), momentum(C(p.momentum)), wd(C(p.wd)), rescale(C(p.rescale_grad)), clip(C(p.clip_gradient)) {}
  BRASS_XINLINE C operator()(C w, C g, C rs, C* s) const {
    s[0] = momentum * s[0] - lr * wd * w - lr * scaled(g, rs, clip);
    return w + s[0];
  }
};

// multi_sgd_update / multi_sgd_mom_update (and their mp_ forms): per-weight lr and wd.
template <class C>
struct MultiSgdStep {  // multi_sgd_update, multi_mp_sgd_update: sgd_update's arithmetic per weight
  C lr, wd, rescale, clip;
  MultiSgdStep(const MultiSGDParam& p, int k)
      : lr(C(p.lrs.v[size_t(k)])), wd(C(p.wds.v[size_t(k)])), rescale(C(p.rescale_grad)),
        clip(C(p.clip_gradient)) {}
  BRASS_XINLINE C operator()(C w, C g, C rs, C*) const {
    return (C(1) - lr * wd) * w - lr * scaled(g, rs, clip);
  }
};
template <class C>
struct MultiSgdMomStep {  // multi_sgd_mom_update, multi_mp_sgd_mom_update: sgd_mom_update's; s: mom
  C lr, wd, momentum, rescale, clip;
  MultiSgdMomStep(const MultiSGDMomParam& p, int k)
      : lr(C(p.lrs.v[size_t(k)])), wd(C(p.wds.v[size_t(k)])), momentum(C(p.momentum)),
        rescale(C(p.rescale_grad)), clip(C(p.clip_gradient)) {}
  BRASS_XINLINE C operator()(C w, C g, C rs, C* s) const {
    s[0] = momentum * s[0] - lr * wd * w - lr * scaled(g, rs, clip);
    return w + s[0];
  }
};

// nag_mom_update, mp_nag_mom_update; s: mom. The weight-decay term of the new momentum uses
// the updated weight: what MXNet computes for mp_nag_mom_update, and for nag_mom_update in
// its usual in-place call (out=weight).
template <class C>
struct NagMomStep {
  C lr, momentum, wd, rescale, clip;
  NagMomStep(const NAGMomParam& p, int)
      : lr(C(p.lr)), momentum(C(p.momentum)), wd(C(p.wd)), rescale(C(p.rescale_grad)), clip(C(p.clip_gradient)) {}
  BRASS_XINLINE C operator()(C w, C g, C rs, C* s) const {
    C gg = scaled(g, rs, clip);
    C mom = momentum * s[0];
    C nw = w - mom + (momentum + C(1)) * (mom - lr * (gg + wd * w));
    s[0] = mom - lr * (gg + wd * nw);
    return nw;
  }
};

template <class C>
struct AdamStep {  // adam_update; s: mean, var
  C lr, beta1, beta2, epsilon, wd, rescale, clip;
  AdamStep(const AdamParam& p, int)
      : lr(C(p.lr)), beta1(C(p.beta1)), beta2(C(p.beta2)), epsilon(C(p.epsilon)), wd(C(p.wd)),
        rescale(C(p.rescale_grad)), clip(C(p.clip_gradient)) {}
  BRASS_XINLINE C operator()(C w, C g, C rs, C* s) const {
    C gr = g * rs + w * wd;
    if (clip >= C(0)) gr = clip_to(gr, clip);
    s[0] = beta1 * s[0] + (C(1) - beta1) * gr;
    s[1] = beta2 * s[1] + (C(1) - beta2) * gr * gr;
    return w - lr * s[0] / (std::sqrt(s[1]) + epsilon);
  }
};

template <class C>
struct AdamWStep {  // _adamw_update; s: mean, var; rs from the rescale_grad input
  C lr, beta1, beta2, epsilon, wd, eta, rescale, clip;
  AdamWStep(const AdamWParam& p, int)
      : lr(C(p.lr)), beta1(C(p.beta1)), beta2(C(p.beta2)), epsilon(C(p.epsilon)), wd(C(p.wd)),
        eta(C(p.eta)), rescale(C(1)), clip(C(p.clip_gradient)) {}
  BRASS_XINLINE C operator()(C w, C g, C rs, C* s) const {
    C gr = scaled(g, rs, clip);
    s[0] = beta1 * s[0] + (C(1) - beta1) * gr;
    s[1] = beta2 * s[1] + (C(1) - beta2) * gr * gr;
    return w - eta * (lr * s[0] / (std::sqrt(s[1]) + epsilon) + wd * w);
  }
};

template <class C>
struct RMSPropStep {  // rmsprop_update; s: n
  C lr, gamma1, epsilon, wd, rescale, clip, clip_weights;
  RMSPropStep(const RMSPropParam& p, int)
      : lr(C(p.lr)), gamma1(C(p.gamma1)), epsilon(C(p.epsilon)), wd(C(p.wd)), rescale(C(p.rescale_grad)),
        clip(C(p.clip_gradient)), clip_weights(C(p.clip_weights)) {}
  BRASS_XINLINE C operator()(C w, C g, C rs, C* s) const {
    C gr = rs * g + wd * w;
    if (clip >= C(0)) gr = clip_to(gr, clip);
    s[0] = (C(1) - gamma1) * (gr * gr) + gamma1 * s[0];
    C nw = w - lr * (gr / std::sqrt(s[0] + epsilon));
    return clip_weights >= C(0) ? clip_to(nw, clip_weights) : nw;
  }
};

template <class C>
struct RMSPropAlexStep {  // rmspropalex_update; s: n, g, delta
  C lr, gamma1, gamma2, epsilon, wd, rescale, clip, clip_weights;
  RMSPropAlexStep(const RMSPropAlexParam& p, int)
      : lr(C(p.lr)), gamma1(C(p.gamma1)), gamma2(C(p.gamma2)), epsilon(C(p.epsilon)), wd(C(p.wd)),
        rescale(C(p.rescale_grad)), clip(C(p.clip_gradient)), clip_weights(C(p.clip_weights)) {}
  BRASS_XINLINE C operator()(C w, C g, C rs, C* s) const {
    C gr = rs * g + wd * w;
    if (clip >= C(0)) gr = clip_to(gr, clip);
    s[0] = (C(1) - gamma1) * gr * gr + gamma1 * s[0];
    s[1] = (C(1) - gamma1) * gr + gamma1 * s[1];
    s[2] = gamma2 * s[2] - lr * gr / std::sqrt(s[0] - s[1] * s[1] + epsilon);
    C nw = w + s[2];
    return clip_weights >= C(0) ? clip_to(nw, clip_weights) : nw;
  }
};

template <class C>
struct AdagradStep {  // adagrad_update / _sparse_adagrad_update; s: history
  C lr, epsilon, wd, rescale, clip;
  AdagradStep(const AdagradParam& p, int)
      : lr(C(p.lr)), epsilon(C(p.epsilon)), wd(C(p.wd)), rescale(C(p.rescale_grad)), clip(C(p.clip_gradient)) {}
  BRASS_XINLINE C operator()(C w, C g, C rs, C* s) const {
    C gr = scaled(g, rs, clip);
    s[0] += gr * gr;
    return w - lr * (gr / std::sqrt(s[0] + epsilon) + wd * w);
  }
};

template <class C>
struct FtrlStep {  // ftrl_update; s: z, n
  C lr, lamda1, beta, wd, rescale, clip;
  FtrlStep(const FtrlParam& p, int)
      : lr(C(p.lr)), lamda1(C(p.lamda1)), beta(C(p.beta)), wd(C(p.wd)), rescale(C(p.rescale_grad)),
        clip(C(p.clip_gradient)) {}
  BRASS_XINLINE C operator()(C w, C g, C rs, C* s) const {
    C gr = scaled(g, rs, clip);
    s[0] += gr - (std::sqrt(s[1] + gr * gr) - std::sqrt(s[1])) * w / lr;
    s[1] += gr * gr;
    C z = s[0];
    if (!((z > C(0) ? z : -z) > lamda1)) return C(0);
    return (sign_of(z) * lamda1 - z) / ((beta + std::sqrt(s[1])) / lr + wd);
  }
};

template <class C>
struct SignSgdStep {  // signsgd_update
  C lr, wd, rescale;
  SignSgdStep(const SignSGDParam& p, int) : lr(C(p.lr)), wd(C(p.wd)), rescale(C(p.rescale_grad)) {}
  BRASS_XINLINE C operator()(C w, C g, C, C*) const { return (C(1) - lr * wd) * w - lr * sign_of(g); }
};

template <class C>
struct SignumStep {  // signum_update; s: mom
  C lr, momentum, wd, rescale, clip, wd_lh;
  SignumStep(const SignumParam& p, int)
      : lr(C(p.lr)), momentum(C(p.momentum)), wd(C(p.wd)), rescale(C(p.rescale_grad)),
        clip(C(p.clip_gradient)), wd_lh(C(p.wd_lh)) {}
  BRASS_XINLINE C operator()(C w, C g, C rs, C* s) const {
    s[0] = momentum * s[0] - (C(1) - momentum) * wd * w - (C(1) - momentum) * scaled(g, rs, clip);
    return (C(1) - lr * wd_lh) * w + lr * sign_of(s[0]);
  }
};

template <class C>
struct LambPhase1Step {  // lamb_update_phase1; s: mean, var; the output is the direction g
  C beta1, beta2, epsilon, wd, rescale, clip, corr1, corr2;
  bool bias_correction;
  LambPhase1Step(const LambPhase1Param& p, int)
      : beta1(C(p.beta1)), beta2(C(p.beta2)), epsilon(C(p.epsilon)), wd(C(p.wd)), rescale(C(p.rescale_grad)),
        clip(C(p.clip_gradient)), corr1(C(1 - std::pow(p.beta1, double(p.t)))),
        corr2(C(1 - std::pow(p.beta2, double(p.t)))), bias_correction(p.bias_correction) {}
  BRASS_XINLINE C operator()(C w, C g, C rs, C* s) const {
    C gr = scaled(g, rs, clip);
    s[0] = beta1 * s[0] + (C(1) - beta1) * gr;
    s[1] = beta2 * s[1] + (C(1) - beta2) * gr * gr;
    C m = bias_correction ? s[0] / corr1 : s[0];
    C v = bias_correction ? s[1] / corr2 : s[1];
    return m / (std::sqrt(v) + epsilon) + wd * w;
  }
};

// Storage type -> compute type: float16 computes in float.
template <class T> struct ComputeOf { using type = float; };
template <> struct ComputeOf<double> { using type = double; };

// One weight's update: weight w, gradient g, up to 3 states of storage type S, optionally the
// float32 master weight w32 (read instead of w and written back), optionally a device scalar
// rescale factor (AdamW: when it is 0, Inf or NaN the update is skipped: the output is the
// weight and the states stay), and the output (written unless its request is kNull).
template <class Step, class W, class S, class C>
struct Runner {
  Step step;
  const W* w;
  const W* g;
  S* st0;
  S* st1;
  S* st2;
  int nst;
  float* w32;
  const void* scale;
  int scale_dtype;
  W* out;
  bool write;
  BRASS_XINLINE void operator()(int64_t i) const {
    C wv = w32 ? C(w32[i]) : C(w[i]);
    C rs = step.rescale;
    if (scale) {
      rs = scale_dtype == int(DType::kFloat64) ? C(static_cast<const double*>(scale)[0])
           : scale_dtype == int(DType::kFloat16) ? C(float(static_cast<const half_t*>(scale)[0]))
                                                 : C(static_cast<const float*>(scale)[0]);
      if (!(rs - rs == C(0)) || rs == C(0)) {  // not finite, or zero: skip the update
        if (write) out[i] = W(wv);
        return;
      }
    }
    C s[3];
    S* st[3] = {st0, st1, st2};
    for (int k = 0; k < nst; ++k) s[k] = C(st[k][i]);
    C nw = step(wv, C(g[i]), rs, s);
    for (int k = 0; k < nst; ++k) st[k][i] = S(s[k]);
    if (w32) w32[i] = float(nw);
    if (write) out[i] = W(nw);
  }
#ifndef __CUDACC__
  // Elements [b, e) with the cases that do not change along the array decided once, so the
  // common ones (no rescale array, no float32 master copy) are plain loops that vectorize.
  void run_range(int64_t b, int64_t e) const {
    if (!scale && !w32 && write) {
      const C rs = step.rescale;
      if (nst == 0) {
        for (int64_t i = b; i < e; ++i) out[i] = W(step(C(w[i]), C(g[i]), rs, nullptr));
        return;
      }
      if (nst == 1) {
        for (int64_t i = b; i < e; ++i) {
          C s[1] = {C(st0[i])};
          C nw = step(C(w[i]), C(g[i]), rs, s);
          st0[i] = S(s[0]);
          out[i] = W(nw);
        }
        return;
      }
    }
    for (int64_t i = b; i < e; ++i) (*this)(i);
  }
#endif
};

// lamb_update_phase2: out = weight - lr' * g with lr' = lr * r1' / r2 (r1' = r1 within the
// bounds), or lr when r1' or r2 is 0. r1 and r2 are one-element arrays read on the device.
template <class W, class C>
struct LambPhase2Runner {
  const W* w;
  const W* g;
  const W* r1;
  const W* r2;
  W* out;
  C lr, lower, upper;
  BRASS_XINLINE void operator()(int64_t i) const {
    C a = C(r1[0]), b = C(r2[0]);
    if (lower >= C(0)) a = a > lower ? a : lower;
    if (upper >= C(0)) a = a < upper ? a : upper;
    C rate = (a == C(0) || b == C(0)) ? lr : lr * a / b;
    out[i] = W(C(w[i]) - rate * C(g[i]));
  }
};

// ---- Host dispatch, shared by the CPU and CUDA kernels -------------------------------------

// Calls f(T()) for the storage type of a float dtype (float16, float32, float64).
template <class F>
void float_dispatch(DType t, F&& f) {
  if (t == DType::kFloat32) f(float());
  else if (t == DType::kFloat64) f(double());
  else f(half_t());
}

// Inputs per weight: weight, grad, NS states, then weight32 when MP; SCALE: one more input at
// the very end, the rescale_grad array (AdamW). One output per weight.
template <template <class> class Step, class P, int NS, bool MP, bool SCALE, class Exec>
void update(const OpContext& ctx, const std::vector<TBlob>& in, const std::vector<TBlob>& out, Exec&& exec) {
  const P& p = ctx.param<P>();
  const int stride = 2 + NS + (MP ? 1 : 0);
  const TBlob* scale = SCALE ? &in.back() : nullptr;
  for (size_t k = 0; k < out.size(); ++k) {
    const TBlob& w = in[k * stride];
    int64_t n = w.size();
    if (n == 0) continue;
    float_dispatch(w.dtype, [&](auto tag) {
      using W = decltype(tag);
      using C = std::conditional_t<MP, float, typename ComputeOf<W>::type>;
      using S = std::conditional_t<MP, float, W>;
      S* st[3] = {nullptr, nullptr, nullptr};
      for (int j = 0; j < NS; ++j) st[j] = in[k * stride + 2 + j].ptr<S>();
      Runner<Step<C>, W, S, C> r{Step<C>(p, int(k)),
                                 w.ptr<W>(),
                                 in[k * stride + 1].ptr<W>(),
                                 st[0], st[1], st[2], NS,
                                 MP ? in[k * stride + 2 + NS].ptr<float>() : nullptr,
                                 scale ? scale->dptr : nullptr,
                                 scale ? int(scale->dtype) : 0,
                                 out[k].ptr<W>(),
                                 ctx.req[k] != Req::kNull};
      exec(n, r);
    });
  }
}

template <class Exec>
void lamb_phase2(const OpContext& ctx, const std::vector<TBlob>& in, const std::vector<TBlob>& out, Exec&& exec) {
  const auto& p = ctx.param<LambPhase2Param>();
  if (ctx.req[0] == Req::kNull || in[0].size() == 0) return;
  float_dispatch(in[0].dtype, [&](auto tag) {
    using W = decltype(tag);
    using C = typename ComputeOf<W>::type;
    LambPhase2Runner<W, C> r{in[0].ptr<W>(), in[1].ptr<W>(), in[2].ptr<W>(),
                             in[3].ptr<W>(), out[0].ptr<W>(), C(p.lr), C(p.lower_bound),
                             C(p.upper_bound)};
    exec(in[0].size(), r);
  });
}

}  // namespace optimizer_ops
}  // namespace brass
