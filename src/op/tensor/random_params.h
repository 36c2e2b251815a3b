// Parameters of the sampling operators (random.cc) and the math that turns Philox words into
// samples, shared by the CPU kernels and the CUDA kernels (cuda/random.cu): element j of an
// invocation is value j % 4 of Philox block (stream, j / 4) on every device, computed by the
// same BRASS_XINLINE functions, so a GPU gives the CPU's values for the same seed.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>

#include "base/xinline.h"
#include "op/operator.h"
#include "random/random.h"

namespace brass {
namespace random_ops {

struct UniformParam {
  double low, high;
  Tuple shape;
  std::string ctx;
  DType dtype;
  static void declare(ParamSpec<UniformParam>& s) {
    s.field("low", &UniformParam::low).set_default(0.0).describe("Lower bound (inclusive).");
    s.field("high", &UniformParam::high).set_default(1.0).describe("Upper bound (exclusive).");
    s.field("shape", &UniformParam::shape).set_default(Tuple{}).describe("Output shape.");
    s.field("ctx", &UniformParam::ctx).set_default("").describe("Device.");
    s.field("dtype", &UniformParam::dtype).set_default(DType::kFloat32).describe("Output dtype.");
  }
};

struct NormalParam {
  double loc, scale;
  Tuple shape;
  std::string ctx;
  DType dtype;
  static void declare(ParamSpec<NormalParam>& s) {
    s.field("loc", &NormalParam::loc).set_default(0.0).describe("Mean.");
    s.field("scale", &NormalParam::scale).set_default(1.0).set_lower_bound(0)
        .describe("Standard deviation.");
    s.field("shape", &NormalParam::shape).set_default(Tuple{}).describe("Output shape.");
    s.field("ctx", &NormalParam::ctx).set_default("").describe("Device.");
    s.field("dtype", &NormalParam::dtype).set_default(DType::kFloat32).describe("Output dtype.");
  }
};

struct RandintParam {
  int64_t low, high;
  Tuple shape;
  std::string ctx;
  DType dtype;
  static void declare(ParamSpec<RandintParam>& s) {
    s.field("low", &RandintParam::low).describe("Lowest value (inclusive).");
    s.field("high", &RandintParam::high).describe("Highest value (exclusive).");
    s.field("shape", &RandintParam::shape).set_default(Tuple{}).describe("Output shape.");
    s.field("ctx", &RandintParam::ctx).set_default("").describe("Device.");
    s.field("dtype", &RandintParam::dtype).set_default(DType::kInt32)
        .describe("Output dtype (int32 or int64).");
  }
};

// Parameter checks at run time (both devices raise the same errors).
inline void check_uniform(const UniformParam& p) {
  if (!(p.low <= p.high))
    fail(BRASS_ERR_INVALID_ARGUMENT, "_random_uniform: low ", p.low, " > high ", p.high);
}
// The number of values randint draws from.
inline uint64_t randint_range(const RandintParam& p) {
  if (p.low >= p.high)
    fail(BRASS_ERR_INVALID_ARGUMENT, "_random_randint: low ", p.low, " >= high ", p.high);
  return uint64_t(p.high) - uint64_t(p.low);
}

// Value k (0..3) of block w, uniform in [low, high), before conversion to T: float64 takes
// 53 random bits from two words, every other dtype 24 bits from one.
template <class T>
BRASS_XINLINE double uniform_sample(const uint32_t* w, int k, double low, double high) {
  double u = std::is_same<T, double>::value ? random::u01d(w[k], w[(k + 1) & 3])
                                            : random::u01f(w[k]);
  return random::affine(low, high - low, u);
}

// Box-Muller: words w[k], w[k + 1] (k = 0 or 2) give values k and k + 1 of the block.
BRASS_XINLINE void normal_pair(const uint32_t* w, int k, double loc, double scale, double* z0,
                               double* z1) {
  double u1 = (double(w[k]) + 1.0) * (1.0 / 4294967297.0);  // (0, 1]: log(u1) is finite
  double u2 = double(w[k + 1]) * (1.0 / 4294967296.0);
  double r = std::sqrt(-2.0 * std::log(u1));
  double t = 6.283185307179586 * u2;
  *z0 = random::affine(loc, scale, r * std::cos(t));
  *z1 = random::affine(loc, scale, r * std::sin(t));
}

// Value k of block w, uniform in [low, low + range): 64 bits, w[k] high and its pair word low.
BRASS_XINLINE int64_t randint_sample(const uint32_t* w, int k, int64_t low, uint64_t range) {
  uint64_t r = (uint64_t(w[k]) << 32) | w[k ^ 1];
  return low + int64_t(r % range);
}

}  // namespace random_ops
}  // namespace brass
