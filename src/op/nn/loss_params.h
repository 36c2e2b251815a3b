// Parameters and element math of MXNet's loss layers (loss.cc), shared by the CPU kernels and
// the CUDA kernels (cuda/nn_loss.cu): the regression outputs (LinearRegressionOutput,
// LogisticRegressionOutput, MAERegressionOutput), MakeLoss, and softmax_cross_entropy.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>

#include "base/xinline.h"
#include "op/operator.h"

namespace brass {
namespace loss_ops {

struct RegressionParam {
  double grad_scale;
  static void declare(ParamSpec<RegressionParam>& s) {
    s.field("grad_scale", &RegressionParam::grad_scale).set_default(1.0)
        .describe("Scales the gradient.");
  }
};

struct MakeLossParam {
  double grad_scale, valid_thresh;
  std::string normalization;
  static void declare(ParamSpec<MakeLossParam>& s) {
    s.field("grad_scale", &MakeLossParam::grad_scale).set_default(1.0)
        .describe("The gradient (the output gradient is ignored: the output is a loss).");
    s.field("valid_thresh", &MakeLossParam::valid_thresh).set_default(0.0)
        .describe("normalization 'valid': elements above this count as valid.");
    s.field("normalization", &MakeLossParam::normalization).set_default("null")
        .set_choices({"batch", "null", "valid"})
        .describe("Divides the gradient by nothing (null), the batch size (batch) or the number "
                  "of elements above valid_thresh (valid, at least 1).");
  }
};

// The regression outputs: forward map and gradient of each kind.
enum RegKind : int { kLinear = 0, kLogistic = 1, kMae = 2 };

template <class C>
BRASS_XINLINE C reg_forward(int kind, C x) {
  return kind == kLogistic ? C(1) / (C(1) + C(std::exp(-x))) : x;
}

// The gradient of one element before scaling: out - label, or its sign (MAE).
template <class C>
BRASS_XINLINE C reg_backward(int kind, C out, C label) {
  C d = out - label;
  if (kind != kMae) return d;
  return d > C(0) ? C(1) : d < C(0) ? C(-1) : C(0);
}

// A class label as an index in [0, k): truncated toward zero, then clipped (out-of-range labels
// take the nearest class).
BRASS_XINLINE int64_t class_index(double label, int64_t k) {
  int64_t c = label != label ? 0 : label <= 0 ? 0 : label >= double(k - 1) ? k - 1 : int64_t(label);
  return c;
}

// -log(softmax(x)[c]) of a row of k values, computed stably (in C).
template <class C, class T>
BRASS_XINLINE C sce_row(const T* x, int64_t k, int64_t c) {
  C m = C(x[0]);
  for (int64_t j = 1; j < k; ++j) m = C(x[j]) > m ? C(x[j]) : m;
  C s = C(0);
  for (int64_t j = 0; j < k; ++j) s += C(std::exp(C(x[j]) - m));
  return C(std::log(s)) + m - C(x[c]);
}

// softmax(x)[j] - (j == c) for every j of a row, times h, written (or added) to g.
template <class C, class T>
BRASS_XINLINE void sce_row_grad(const T* x, int64_t k, int64_t c, C h, T* g, bool add) {
  C m = C(x[0]);
  for (int64_t j = 1; j < k; ++j) m = C(x[j]) > m ? C(x[j]) : m;
  C s = C(0);
  for (int64_t j = 0; j < k; ++j) s += C(std::exp(C(x[j]) - m));
  for (int64_t j = 0; j < k; ++j) {
    C v = h * (C(std::exp(C(x[j]) - m)) / s - (j == c ? C(1) : C(0)));
    g[j] = T(add ? C(g[j]) + v : v);
  }
}

}  // namespace loss_ops
}  // namespace brass
