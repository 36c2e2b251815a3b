// Parameters and geometry of BatchNorm (batch_norm.cc), shared with its CUDA kernels
// (cuda/nn_conv.cu).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>

#include "base/xinline.h"
#include "op/operator.h"

namespace brass {
namespace bn_ops {

struct BNParam {
  double eps, momentum;
  bool fix_gamma, use_global_stats, output_mean_var, cudnn_off;
  int axis;
  std::optional<double> min_calib_range, max_calib_range;
  static void declare(ParamSpec<BNParam>& s) {
    s.field("eps", &BNParam::eps).set_default(0.0010000000474974513).set_lower_bound(0)
        .describe("Added to the variance before the square root.");
    s.field("momentum", &BNParam::momentum).set_default(0.9)
        .describe("Momentum of the moving average: moving = momentum * moving + (1 - momentum) "
                  "* batch statistic.");
    s.field("fix_gamma", &BNParam::fix_gamma).set_default(true)
        .describe("Treat gamma as 1 (its gradient is then zero).");
    s.field("use_global_stats", &BNParam::use_global_stats).set_default(false)
        .describe("Normalize with the moving statistics in training too (and do not update "
                  "them).");
    s.field("output_mean_var", &BNParam::output_mean_var).set_default(false)
        .describe("Also output the mean and the inverse standard deviation.");
    s.field("axis", &BNParam::axis).set_default(1).describe("The channel axis.");
    s.field("cudnn_off", &BNParam::cudnn_off).set_default(false)
        .describe("Turn off cuDNN (accepted and ignored).");
    s.field("min_calib_range", &BNParam::min_calib_range).set_default(std::nullopt)
        .describe("Quantization calibration (accepted and ignored).");
    s.field("max_calib_range", &BNParam::max_calib_range).set_default(std::nullopt)
        .describe("Quantization calibration (accepted and ignored).");
  }
};

// The CPU forward with an element-wise epilogue run in place on each finished span of the
// output (ptr, elements; float32 or float64 as the data), while it is in cache: what the
// executor's BatchNorm + activation fusion runs (graph/fuse.cc). Write requests only.
using Epilogue = std::function<void(void* ptr, int64_t n)>;
void bn_forward_epilogue(const OpContext& c, const std::vector<TBlob>& in,
                         const std::vector<TBlob>& out, const Epilogue& epi);

// BatchNorm on its moving statistics (not training, or use_global_stats), per channel: the
// mean and scale of out = (data - mean) * scale + beta, as the forward computes them; the
// hidden outputs (mean, inverse std) are written with their requests. in and out are
// BatchNorm's (data unread); CPU, float32 or float64 as the data. versions: those of gamma,
// beta, the moving mean and the moving variance (contents_version), or null: while they name
// the arrays, the inverse std and scale are kept between calls (kernel::derived_cached).
void bn_inference_affine(const OpContext& c, const std::vector<TBlob>& in, const std::vector<TBlob>& out,
                         float* mean, float* scale, const uint64_t* versions = nullptr);
void bn_inference_affine(const OpContext& c, const std::vector<TBlob>& in, const std::vector<TBlob>& out,
                         double* mean, double* scale, const uint64_t* versions = nullptr);

// data viewed as (outer, c, inner) around the channel axis; m = outer * inner elements per
// channel.
struct BNGeom {
  int64_t outer, c, inner, m;
};

inline BNGeom bn_geom(const BNParam& p, const Shape& data, const char* op) {
  if (data.ndim() < 1)
    fail(BRASS_ERR_SHAPE, op, ": data must have at least 1 dimension, got shape ", data);
  int ax = normalize_axis(p.axis, data.ndim(), op);
  BNGeom g{1, data[ax], 1, 0};
  for (int i = 0; i < ax; ++i) g.outer *= data[i];
  for (int i = ax + 1; i < data.ndim(); ++i) g.inner *= data[i];
  g.m = g.outer * g.inner;
  return g;
}

// Index of element k (in [0, m)) of channel ch.
BRASS_XINLINE int64_t bn_index(const BNGeom& g, int64_t ch, int64_t k) {
  return ((k / g.inner) * g.c + ch) * g.inner + k % g.inner;
}

}  // namespace bn_ops
}  // namespace brass
