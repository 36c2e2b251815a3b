// Parameters and geometry of Convolution (convolution.cc), shared with its CUDA kernels
// (cuda/nn_conv.cu): the MXNet parameter structs, the checked geometry of a
// call (1-D NCW is run as 2-D NCHW with height 1), and the per-element index arithmetic of
// im2col and col2im that the CPU loops and the CUDA functors both use.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "base/xinline.h"
#include "op/operator.h"

namespace brass {
namespace conv_ops {

// ---- Convolution ---------------------------------------------------------------------------

struct ConvParam {
  Tuple kernel, stride, dilate, pad;
  int num_filter, num_group;
  int64_t workspace;
  bool no_bias, cudnn_off;
  std::optional<std::string> cudnn_tune, layout;
  static void declare(ParamSpec<ConvParam>& s) {
    s.field("kernel", &ConvParam::kernel).describe("Convolution kernel size: (w,) or (h, w).");
    s.field("stride", &ConvParam::stride).set_default(Tuple{})
        .describe("Convolution stride: (w,) or (h, w). Defaults to 1 for each dimension.");
    s.field("dilate", &ConvParam::dilate).set_default(Tuple{})
        .describe("Convolution dilation: (w,) or (h, w). Defaults to 1 for each dimension.");
    s.field("pad", &ConvParam::pad).set_default(Tuple{})
        .describe("Zero pad on both sides: (w,) or (h, w). Defaults to no padding.");
    s.field("num_filter", &ConvParam::num_filter).set_range(1, 100000)
        .describe("Convolution filter (channel) number.");
    s.field("num_group", &ConvParam::num_group).set_default(1).set_range(1, 100000)
        .describe("Number of group partitions.");
    s.field("workspace", &ConvParam::workspace).set_default(1024).set_lower_bound(0)
        .describe("Maximum temporary workspace in MB (accepted for MXNet compatibility).");
    s.field("no_bias", &ConvParam::no_bias).set_default(false)
        .describe("Whether to disable the bias parameter.");
    s.field("cudnn_tune", &ConvParam::cudnn_tune).set_default(std::nullopt)
        .describe("cuDNN algorithm choice (accepted and ignored: Brass does not use cuDNN).");
    s.field("cudnn_off", &ConvParam::cudnn_off).set_default(false)
        .describe("Turn off cuDNN (accepted and ignored).");
    s.field("layout", &ConvParam::layout).set_default(std::nullopt)
        .describe("Data layout: None, NCW (1-D) or NCHW (2-D); others are not supported.");
  }
};

// One convolution call as 2-D NCHW. Weight (f, c/g, kh, kw); the im2col matrix of one sample
// has c*kh*kw rows (channel-major, so each group's rows are contiguous) and p = oh*ow columns.
struct ConvGeom {
  int64_t n, c, h, w;       // data
  int64_t f, g;             // filters, groups
  int64_t kh, kw, sh, sw, ph, pw, dh, dw;
  int64_t oh, ow;
  int64_t cg, fg, k, p;     // channels and filters per group; col rows per group; oh*ow
  int nd;                   // 1 or 2 spatial dimensions (as given)
};

// Checks data shape and parameters against each other; fails naming `op`.
inline ConvGeom conv_geom(const ConvParam& prm, const Shape& data, const char* op) {
  int nd = int(prm.kernel.size());
  if (nd != 1 && nd != 2)
    fail(BRASS_ERR_INVALID_ARGUMENT, op, ": kernel must have 1 (NCW) or 2 (NCHW) dimensions, "
         "got ", parse::tuple_str(prm.kernel), " (3-D convolution is not supported)");
  if (data.ndim() != nd + 2)
    fail(BRASS_ERR_SHAPE, op, ": data of shape ", data, " does not fit kernel ",
         parse::tuple_str(prm.kernel), " (expected ", nd + 2, "-D data: ",
         nd == 1 ? "NCW" : "NCHW", ")");
  const char* want = nd == 1 ? "NCW" : "NCHW";
  if (prm.layout && *prm.layout != want)
    fail(BRASS_ERR_UNSUPPORTED, op, ": layout '", *prm.layout, "' is not supported (only ",
         want, " for ", nd + 2, "-D data)");
  auto pick = [&](const Tuple& t, const char* name, int64_t dflt, int i, int64_t lo) {
    if (!t.empty() && int(t.size()) != nd)
      fail(BRASS_ERR_INVALID_ARGUMENT, op, ": ", name, " ", parse::tuple_str(t), " must have ",
           nd, " value(s) like kernel ", parse::tuple_str(prm.kernel));
    int64_t v = t.empty() ? dflt : t[i];
    if (v < lo)
      fail(BRASS_ERR_INVALID_ARGUMENT, op, ": ", name, " ", parse::tuple_str(t), " must be >= ",
           lo);
    return v;
  };
  ConvGeom g{};
  g.nd = nd;
  g.n = data[0];
  g.c = data[1];
  g.h = nd == 1 ? 1 : data[2];
  g.w = data[nd + 1];
  g.f = prm.num_filter;
  g.g = prm.num_group;
  int hi = nd == 1 ? -1 : 0, wi = nd - 1;  // tuple index of the h and w values
  g.kh = hi < 0 ? 1 : pick(prm.kernel, "kernel", 1, hi, 1);
  g.kw = pick(prm.kernel, "kernel", 1, wi, 1);
  g.sh = hi < 0 ? 1 : pick(prm.stride, "stride", 1, hi, 1);
  g.sw = pick(prm.stride, "stride", 1, wi, 1);
  g.dh = hi < 0 ? 1 : pick(prm.dilate, "dilate", 1, hi, 1);
  g.dw = pick(prm.dilate, "dilate", 1, wi, 1);
  g.ph = hi < 0 ? 0 : pick(prm.pad, "pad", 0, hi, 0);
  g.pw = pick(prm.pad, "pad", 0, wi, 0);
  if (g.c % g.g != 0 || g.f % g.g != 0)
    fail(BRASS_ERR_SHAPE, op, ": num_group ", g.g, " must divide the data channels (", g.c,
         ", data ", data, ") and num_filter (", g.f, ")");
  int64_t eh = g.dh * (g.kh - 1) + 1, ew = g.dw * (g.kw - 1) + 1;  // dilated kernel extent
  if (eh > g.h + 2 * g.ph || ew > g.w + 2 * g.pw)
    fail(BRASS_ERR_SHAPE, op, ": kernel ", parse::tuple_str(prm.kernel), " (dilate ",
         parse::tuple_str(prm.dilate), ") is larger than the padded data (data ", data, ", pad ",
         parse::tuple_str(prm.pad), ")");
  g.oh = (g.h + 2 * g.ph - eh) / g.sh + 1;
  g.ow = (g.w + 2 * g.pw - ew) / g.sw + 1;
  g.cg = g.c / g.g;
  g.fg = g.f / g.g;
  g.k = g.cg * g.kh * g.kw;
  g.p = g.oh * g.ow;
  return g;
}

inline Shape conv_weight_shape(const ConvGeom& g) {
  return g.nd == 1 ? Shape{g.f, g.cg, g.kw} : Shape{g.f, g.cg, g.kh, g.kw};
}
inline Shape conv_out_shape(const ConvGeom& g) {
  return g.nd == 1 ? Shape{g.n, g.f, g.ow} : Shape{g.n, g.f, g.oh, g.ow};
}
// 1x1 kernel, stride 1, no pad: the im2col matrix is the data itself.
inline bool conv_col_is_data(const ConvGeom& g) {
  return g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0;
}

// Element i of the im2col matrix of one sample x (c, h, w): row r = (ci, ki, kj), column
// q = (oy, ox); zero where the kernel tap falls into the padding.
template <class T>
BRASS_XINLINE T im2col_at(const T* x, const ConvGeom& g, int64_t i) {
  int64_t q = i % g.p, r = i / g.p;
  int64_t kj = r % g.kw, ki = (r / g.kw) % g.kh, ci = r / (g.kw * g.kh);
  int64_t iy = (q / g.ow) * g.sh - g.ph + ki * g.dh;
  int64_t ix = (q % g.ow) * g.sw - g.pw + kj * g.dw;
  if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) return T(0);
  return x[(ci * g.h + iy) * g.w + ix];
}

// Element i of col2im of one sample's col matrix (the adjoint of im2col): input pixel
// (ci, iy, ix) is the sum of the col entries whose kernel tap reads it, gathered in a fixed
// order (deterministic, no atomics on the GPU).
template <class T>
BRASS_XINLINE T col2im_at(const T* col, const ConvGeom& g, int64_t i) {
  int64_t ix = i % g.w, iy = (i / g.w) % g.h, ci = i / (g.w * g.h);
  T acc = T(0);
  for (int64_t ki = 0; ki < g.kh; ++ki) {
    int64_t ty = iy + g.ph - ki * g.dh;
    if (ty < 0 || ty % g.sh != 0 || ty / g.sh >= g.oh) continue;
    for (int64_t kj = 0; kj < g.kw; ++kj) {
      int64_t tx = ix + g.pw - kj * g.dw;
      if (tx < 0 || tx % g.sw != 0 || tx / g.sw >= g.ow) continue;
      int64_t r = (ci * g.kh + ki) * g.kw + kj;
      acc += col[r * g.p + (ty / g.sh) * g.ow + tx / g.sw];
    }
  }
  return acc;
}

}  // namespace conv_ops
}  // namespace brass
