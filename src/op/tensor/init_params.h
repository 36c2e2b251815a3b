// Parameters of the array creation operators (init.cc) and the values of _arange, shared by
// the CPU kernels and the CUDA kernels (cuda/init.cu).
#pragma once

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>

#include "base/xinline.h"
#include "op/operator.h"
#include "random/random.h"  // random::affine: a + b * x rounded alike on host and device

namespace brass {
namespace init_ops {

struct InitParam {
  Tuple shape;
  std::string ctx;
  DType dtype;
  static void declare(ParamSpec<InitParam>& s) {
    s.field("shape", &InitParam::shape).set_default(Tuple{})
        .describe("Output shape (0 = unknown, MXNet 1.x).");
    s.field("ctx", &InitParam::ctx).set_default("").describe("Device, e.g. 'cpu(0)' or 'gpu(1)'.");
    s.field("dtype", &InitParam::dtype).set_default(DType::kFloat32).describe("Output dtype.");
  }
};

struct FullParam {
  Tuple shape;
  std::string ctx;
  DType dtype;
  double value;
  static void declare(ParamSpec<FullParam>& s) {
    s.field("shape", &FullParam::shape).set_default(Tuple{}).describe("Output shape.");
    s.field("ctx", &FullParam::ctx).set_default("").describe("Device, e.g. 'cpu(0)'.");
    s.field("dtype", &FullParam::dtype).set_default(DType::kFloat32).describe("Output dtype.");
    s.field("value", &FullParam::value).describe("Fill value.");
  }
};

struct SetValueParam {
  double src;
  static void declare(ParamSpec<SetValueParam>& s) {
    s.field("src", &SetValueParam::src).describe("The value every element is set to.");
  }
};

struct ArangeParam {
  double start;
  std::optional<double> stop;
  double step;
  int repeat;
  bool infer_range;
  std::string ctx;
  DType dtype;
  static void declare(ParamSpec<ArangeParam>& s) {
    s.field("start", &ArangeParam::start)
        .describe("Start of the interval (or its end, when stop is None).");
    s.field("stop", &ArangeParam::stop).set_default(std::nullopt)
        .describe("End of the interval (exclusive).");
    s.field("step", &ArangeParam::step).set_default(1.0).describe("Spacing between values.");
    s.field("repeat", &ArangeParam::repeat).set_default(1).set_lower_bound(1)
        .describe("Times each value repeats.");
    s.field("infer_range", &ArangeParam::infer_range).set_default(false)
        .describe("Accepted for MXNet compatibility.");
    s.field("ctx", &ArangeParam::ctx).set_default("").describe("Device.");
    s.field("dtype", &ArangeParam::dtype).set_default(DType::kFloat32).describe("Output dtype.");
  }
};

// The first value of _arange: start, or 0 when stop is None (start is then the end).
inline double arange_start(const ArangeParam& p) { return p.stop ? p.start : 0.0; }

// The number of values of _arange (repeats included); fails on a zero step.
inline int64_t arange_len(const ArangeParam& p) {
  double start = arange_start(p), stop = p.stop ? *p.stop : p.start;
  if (p.step == 0) fail(BRASS_ERR_INVALID_ARGUMENT, "_arange: step must not be 0");
  double n = std::ceil((stop - start) / p.step);
  if (!(n > 0)) return 0;
  if (n > 1e15) fail(BRASS_ERR_INVALID_ARGUMENT, "_arange: too many values");
  return int64_t(n) * p.repeat;
}

// Value i of _arange before conversion to the output dtype.
BRASS_XINLINE double arange_value(double start, double step, int repeat, int64_t i) {
  return random::affine(start, double(i / repeat), step);
}

}  // namespace init_ops
}  // namespace brass
