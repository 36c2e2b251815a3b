// Parameters and element math of LeakyReLU (leaky_relu.cc), shared by the CPU kernels and the
// CUDA kernels (cuda/nn_dense.cu): leaky, prelu (a learned slope per channel), elu, selu, gelu
// and rrelu (a random slope per element in training, the middle of the range at inference).
#pragma once

#include <cmath>
#include <cstdint>
#include <string>

#include "base/xinline.h"
#include "op/operator.h"
#include "random/random.h"

namespace brass {
namespace leaky_ops {

struct LeakyReLUParam {
  std::string act_type;
  double slope, lower_bound, upper_bound;
  static void declare(ParamSpec<LeakyReLUParam>& s) {
    s.field("act_type", &LeakyReLUParam::act_type).set_default("leaky")
        .set_choices({"elu", "gelu", "leaky", "prelu", "rrelu", "selu"})
        .describe("leaky: x > 0 ? x : slope*x; prelu: the slope is the input gamma (one per "
                  "channel, axis 1, or one for all); elu: x > 0 ? x : slope*(exp(x)-1); selu: "
                  "scaled elu with fixed constants; gelu: x*Phi(x) (the erf form); rrelu: a "
                  "random slope in [lower_bound, upper_bound] per element in training, their "
                  "mean at inference.");
    s.field("slope", &LeakyReLUParam::slope).set_default(0.25)
        .describe("The slope of leaky, and elu's alpha.");
    s.field("lower_bound", &LeakyReLUParam::lower_bound).set_default(0.125)
        .describe("rrelu: the lowest random slope.");
    s.field("upper_bound", &LeakyReLUParam::upper_bound).set_default(0.334)
        .describe("rrelu: the highest random slope.");
  }
};

enum Kind : int { kLeaky, kPrelu, kElu, kSelu, kGelu, kRrelu };

inline Kind kind_of(const std::string& t) {
  return t == "leaky" ? kLeaky : t == "prelu" ? kPrelu : t == "elu" ? kElu : t == "selu" ? kSelu
       : t == "gelu" ? kGelu : kRrelu;
}

constexpr double kSeluLambda = 1.0507009873554804934193349852946;
constexpr double kSeluAlpha = 1.6732632423543772848170429916717;
constexpr double kSqrtHalf = 0.70710678118654752440084436210485;

// The activation of x with slope a (leaky, prelu, rrelu: the slope; elu: alpha).
template <class C>
BRASS_XINLINE C leaky_map(int kind, C x, C a) {
  switch (kind) {
    case kElu: return x > C(0) ? x : a * C(std::expm1(x));
    case kSelu: return C(kSeluLambda) * (x > C(0) ? x : C(kSeluAlpha) * C(std::expm1(x)));
    case kGelu: return C(0.5) * x * (C(1) + C(std::erf(x * C(kSqrtHalf))));
    default: return x > C(0) ? x : a * x;
  }
}

// prelu's gamma for data element i: one slope for all (c == 1), or one per index of axis 1,
// whose elements repeat every `inner` elements.
struct ChannelView {
  int64_t c = 1, inner = 1;
  BRASS_XINLINE int64_t of(int64_t i) const { return c == 1 ? 0 : (i / inner) % c; }
};

inline ChannelView channel_view(const Shape& data, int64_t gamma_size) {
  ChannelView v;
  v.c = gamma_size;
  for (int d = 2; d < data.ndim(); ++d) v.inner *= data[d];
  return v;
}

// rrelu's slope for element j: value j % 4 of Philox block (stream, j / 4), scaled into
// [lo, hi), so a GPU draws the CPU's slopes for the same seed.
BRASS_XINLINE double rrelu_slope(const RandomStream& rs, int64_t j, double lo, double hi) {
  uint32_t w[4];
  random::Philox::block(rs.seed, rs.stream, uint64_t(j / 4), w);
  return lo + (hi - lo) * double(random::u01f(w[j % 4]));
}

}  // namespace leaky_ops
}  // namespace brass
