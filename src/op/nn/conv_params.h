// Parameters and geometry of Convolution (convolution.cc), shared with its CUDA kernels
// (cuda/nn_conv.cu): the MXNet parameter structs, the checked geometry of a
// call (1-D and 2-D are run as 3-D with extent 1 in the missing axes), Deconvolution's geometry as
// that of the convolution it transposes, and the per-element index arithmetic of im2col and
// col2im that the CPU loops and the CUDA functors both use.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/xinline.h"
#include "kernel/epilogue.h"
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
    s.field("kernel", &ConvParam::kernel)
        .describe("Convolution kernel size: (w,), (h, w) or (d, h, w).");
    s.field("stride", &ConvParam::stride).set_default(Tuple{})
        .describe("Convolution stride, per spatial dimension. Defaults to 1 for each.");
    s.field("dilate", &ConvParam::dilate).set_default(Tuple{})
        .describe("Convolution dilation, per spatial dimension. Defaults to 1 for each.");
    s.field("pad", &ConvParam::pad).set_default(Tuple{})
        .describe("Zero pad on both sides, per spatial dimension. Defaults to no padding.");
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
        .describe("Data layout: None (channels first), NCW, NCHW, NCDHW, or channels last: NWC, "
                  "NHWC, NDHWC (the weight is then (num_filter, *kernel, C/num_group) and the "
                  "output channels last too).");
  }
};

struct DeconvParam {
  Tuple kernel, stride, dilate, pad, adj, target_shape;
  int num_filter, num_group;
  int64_t workspace;
  bool no_bias, cudnn_off;
  std::optional<std::string> cudnn_tune, layout;
  static void declare(ParamSpec<DeconvParam>& s) {
    s.field("kernel", &DeconvParam::kernel)
        .describe("Deconvolution kernel size: (w,), (h, w) or (d, h, w).");
    s.field("stride", &DeconvParam::stride).set_default(Tuple{})
        .describe("Deconvolution stride, per spatial dimension. Defaults to 1 for each.");
    s.field("dilate", &DeconvParam::dilate).set_default(Tuple{})
        .describe("Deconvolution dilation, per spatial dimension. Defaults to 1 for each.");
    s.field("pad", &DeconvParam::pad).set_default(Tuple{})
        .describe("Padding removed from both sides of the output (ignored with target_shape).");
    s.field("adj", &DeconvParam::adj).set_default(Tuple{})
        .describe("Extra output size at the end, below the stride (ignored with "
                  "target_shape).");
    s.field("target_shape", &DeconvParam::target_shape).set_default(Tuple{})
        .describe("The output's spatial shape: pad and adj are then computed from it.");
    s.field("num_filter", &DeconvParam::num_filter).set_range(1, 100000)
        .describe("Output channels.");
    s.field("num_group", &DeconvParam::num_group).set_default(1).set_range(1, 100000)
        .describe("Number of group partitions.");
    s.field("workspace", &DeconvParam::workspace).set_default(512).set_lower_bound(0)
        .describe("Maximum temporary workspace in MB (accepted for MXNet compatibility).");
    s.field("no_bias", &DeconvParam::no_bias).set_default(true)
        .describe("Whether to disable the bias parameter (True by default, as in MXNet).");
    s.field("cudnn_tune", &DeconvParam::cudnn_tune).set_default(std::nullopt)
        .describe("cuDNN algorithm choice (accepted and ignored: Brass does not use cuDNN).");
    s.field("cudnn_off", &DeconvParam::cudnn_off).set_default(false)
        .describe("Turn off cuDNN (accepted and ignored).");
    s.field("layout", &DeconvParam::layout).set_default(std::nullopt)
        .describe("Data layout: None (channels first), NCW, NCHW, NCDHW, or channels last: NWC, "
                  "NHWC, NDHWC (the weight is then (C, *kernel, num_filter/num_group)).");
  }
};

// One convolution call as 3-D NCDHW (1-D and 2-D data get extent 1 in the missing leading
// spatial axes). Weight (f, c/g, kd, kh, kw); the im2col matrix of one sample has c*kd*kh*kw
// rows (channel-major, so each group's rows are contiguous) and p = od*oh*ow columns.
struct ConvGeom {
  int64_t n, c, d, h, w;    // data
  int64_t f, g;             // filters, groups
  int64_t kd, kh, kw, sd, sh, sw, pd, ph, pw, dd, dh, dw;
  int64_t od, oh, ow;
  int64_t cg, fg, k, p;     // channels and filters per group; col rows per group; od*oh*ow
  int nd;                   // 1, 2 or 3 spatial dimensions (as given)
  bool last;                // the caller's arrays are channels-last (the kernels take them
                            // channels-first: see conv_spatial)
  int64_t chw() const { return c * d * h * w; }        // one sample of data
  int64_t col_size() const { return c * kd * kh * kw * p; }  // one sample's im2col matrix
};

inline const char* conv_layout(int nd) { return nd == 1 ? "NCW" : nd == 2 ? "NCHW" : "NCDHW"; }
inline const char* conv_layout_last(int nd) { return nd == 1 ? "NWC" : nd == 2 ? "NHWC" : "NDHWC"; }

// Checks a spatial tuple (empty: dflt everywhere) and returns its value for spatial axis i of
// 3 (the missing leading axes of 1-D and 2-D calls get `missing`).
inline int64_t conv_pick(const char* op, const Tuple& t, const Tuple& kernel, const char* name,
                         int nd, int i, int64_t dflt, int64_t missing, int64_t lo) {
  if (!t.empty() && int(t.size()) != nd)
    fail(BRASS_ERR_INVALID_ARGUMENT, op, ": ", name, " ", parse::tuple_str(t), " must have ", nd,
         " value(s) like kernel ", parse::tuple_str(kernel));
  int a = i - (3 - nd);
  if (a < 0) return missing;
  int64_t v = t.empty() ? dflt : t[a];
  if (v < lo)
    fail(BRASS_ERR_INVALID_ARGUMENT, op, ": ", name, " ", parse::tuple_str(t), " must be >= ", lo);
  return v;
}

// Checks the kernel's rank, the data's rank and the layout against each other; *last: the
// layout is channels-last.
inline int conv_rank(const char* op, const Tuple& kernel, const Shape& data,
                     const std::optional<std::string>& layout, bool* last) {
  int nd = int(kernel.size());
  if (nd < 1 || nd > 3)
    fail(BRASS_ERR_INVALID_ARGUMENT, op, ": kernel must have 1 (NCW), 2 (NCHW) or 3 (NCDHW) "
         "dimensions, got ", parse::tuple_str(kernel));
  *last = layout && *layout == conv_layout_last(nd);
  if (data.ndim() != nd + 2)
    fail(BRASS_ERR_SHAPE, op, ": data of shape ", data, " does not fit kernel ",
         parse::tuple_str(kernel), " (expected ", nd + 2, "-D data: ",
         *last ? conv_layout_last(nd) : conv_layout(nd), ")");
  if (layout && *layout != conv_layout(nd) && !*last)
    fail(BRASS_ERR_UNSUPPORTED, op, ": layout '", *layout, "' does not fit kernel ",
         parse::tuple_str(kernel), " (", conv_layout(nd), " or ", conv_layout_last(nd), " for ",
         nd + 2, "-D data)");
  return nd;
}

// (a, spatial..., b) -> (a, b, spatial...): a channels-last shape as the kernels see it.
inline Shape channels_first(const Shape& s) {
  std::vector<int64_t> d{s[0], s[s.ndim() - 1]};
  for (int i = 1; i + 1 < s.ndim(); ++i) d.push_back(s[i]);
  return Shape(d);
}

// Checks data shape and parameters against each other; fails naming `op`.
inline ConvGeom conv_geom(const ConvParam& prm, const Shape& given, const char* op) {
  bool last;
  int nd = conv_rank(op, prm.kernel, given, prm.layout, &last);
  const Shape data = last ? channels_first(given) : given;
  ConvGeom g{};
  g.nd = nd;
  g.last = last;
  g.n = data[0];
  g.c = data[1];
  int64_t* x[3] = {&g.d, &g.h, &g.w};
  int64_t* k[3] = {&g.kd, &g.kh, &g.kw};
  int64_t* st[3] = {&g.sd, &g.sh, &g.sw};
  int64_t* pd[3] = {&g.pd, &g.ph, &g.pw};
  int64_t* dl[3] = {&g.dd, &g.dh, &g.dw};
  int64_t* o[3] = {&g.od, &g.oh, &g.ow};
  g.f = prm.num_filter;
  g.g = prm.num_group;
  if (g.c % g.g != 0 || g.f % g.g != 0)
    fail(BRASS_ERR_SHAPE, op, ": num_group ", g.g, " must divide the data channels (", g.c,
         ", data ", given, ") and num_filter (", g.f, ")");
  bool big = false;
  for (int i = 0; i < 3; ++i) {
    int a = i - (3 - nd);
    *x[i] = a < 0 ? 1 : data[2 + a];
    *k[i] = conv_pick(op, prm.kernel, prm.kernel, "kernel", nd, i, 1, 1, 1);
    *st[i] = conv_pick(op, prm.stride, prm.kernel, "stride", nd, i, 1, 1, 1);
    *dl[i] = conv_pick(op, prm.dilate, prm.kernel, "dilate", nd, i, 1, 1, 1);
    *pd[i] = conv_pick(op, prm.pad, prm.kernel, "pad", nd, i, 0, 0, 0);
    int64_t ext = *dl[i] * (*k[i] - 1) + 1;  // dilated kernel extent
    big = big || ext > *x[i] + 2 * *pd[i];
    *o[i] = big ? 0 : (*x[i] + 2 * *pd[i] - ext) / *st[i] + 1;
  }
  if (big)
    fail(BRASS_ERR_SHAPE, op, ": kernel ", parse::tuple_str(prm.kernel), " (dilate ",
         parse::tuple_str(prm.dilate), ") is larger than the padded data (data ", given, ", pad ",
         parse::tuple_str(prm.pad), ")");
  g.cg = g.c / g.g;
  g.fg = g.f / g.g;
  g.k = g.cg * g.kd * g.kh * g.kw;
  g.p = g.od * g.oh * g.ow;
  return g;
}

// The caller's shape of an (a, b, spatial) array: (a, spatial..., b) when channels-last.
inline Shape conv_spatial(const ConvGeom& g, int64_t a, int64_t b, int64_t d, int64_t h, int64_t w) {
  if (g.last) return g.nd == 1 ? Shape{a, w, b} : g.nd == 2 ? Shape{a, h, w, b} : Shape{a, d, h, w, b};
  return g.nd == 1 ? Shape{a, b, w} : g.nd == 2 ? Shape{a, b, h, w} : Shape{a, b, d, h, w};
}
inline Shape conv_weight_shape(const ConvGeom& g) {
  return conv_spatial(g, g.f, g.cg, g.kd, g.kh, g.kw);
}
inline Shape conv_out_shape(const ConvGeom& g) { return conv_spatial(g, g.n, g.f, g.od, g.oh, g.ow); }
inline Shape conv_data_shape(const ConvGeom& g) { return conv_spatial(g, g.n, g.c, g.d, g.h, g.w); }
// Elements of one sample's im2col matrix the kernels keep in the temp space (none for
// depthwise convolutions, which run directly).
inline int64_t conv_col_elems(const ConvGeom& g) {
  return g.g > 1 && g.cg == 1 ? 0 : g.col_size();
}
// 1x1 kernel, stride 1, no pad: the im2col matrix is the data itself.
inline bool conv_col_is_data(const ConvGeom& g) {
  return g.kd == 1 && g.kh == 1 && g.kw == 1 && g.sd == 1 && g.sh == 1 && g.sw == 1 &&
         g.pd == 0 && g.ph == 0 && g.pw == 0;
}

// A Deconvolution of data (n, c_in, ...) is the data gradient of a convolution whose data is
// the deconvolution's output (n, num_filter, ...) and whose filters are its input channels:
// that convolution's geometry, with the output size from target_shape (pad and adj computed
// as MXNet does) or from pad and adj.
inline ConvGeom deconv_geom(const DeconvParam& prm, const Shape& given, const char* op) {
  bool last;
  int nd = conv_rank(op, prm.kernel, given, prm.layout, &last);
  const Shape data = last ? channels_first(given) : given;
  int64_t cin = data[1];
  if (cin % prm.num_group != 0 || prm.num_filter % prm.num_group != 0)
    fail(BRASS_ERR_SHAPE, op, ": num_group ", prm.num_group, " must divide the data channels (",
         cin, ", data ", data, ") and num_filter (", prm.num_filter, ")");
  bool target = false;
  for (int64_t v : prm.target_shape) target = target || v != 0;
  if (target && int(prm.target_shape.size()) != nd)
    fail(BRASS_ERR_INVALID_ARGUMENT, op, ": target_shape ", parse::tuple_str(prm.target_shape),
         " must have ", nd, " value(s) like kernel ", parse::tuple_str(prm.kernel));
  ConvParam cp{};
  cp.kernel = prm.kernel;
  cp.stride = prm.stride;
  cp.dilate = prm.dilate;
  cp.num_filter = int(cin);
  cp.num_group = prm.num_group;
  std::vector<int64_t> pads, out{data[0], prm.num_filter};
  for (int i = 3 - nd; i < 3; ++i) {
    int a = i - (3 - nd);
    int64_t s = conv_pick(op, prm.stride, prm.kernel, "stride", nd, i, 1, 1, 1);
    int64_t dl = conv_pick(op, prm.dilate, prm.kernel, "dilate", nd, i, 1, 1, 1);
    int64_t k = conv_pick(op, prm.kernel, prm.kernel, "kernel", nd, i, 1, 1, 1);
    int64_t full = s * (data[2 + a] - 1) + dl * (k - 1) + 1, pad, adj;
    if (target) {
      int64_t t = prm.target_shape[a];
      if (t > full)
        fail(BRASS_ERR_SHAPE, op, ": target_shape ", parse::tuple_str(prm.target_shape),
             " is larger than the full output (", full, " on axis ", a, ", data ", data, ")");
      pad = (full - t + 1) / 2;
      adj = (full - t) % 2;
    } else {
      pad = conv_pick(op, prm.pad, prm.kernel, "pad", nd, i, 0, 0, 0);
      adj = conv_pick(op, prm.adj, prm.kernel, "adj", nd, i, 0, 0, 0);
    }
    if (adj >= s)
      fail(BRASS_ERR_INVALID_ARGUMENT, op, ": adj ", parse::tuple_str(prm.adj),
           " must be smaller than the stride ", parse::tuple_str(prm.stride));
    int64_t o = full - 2 * pad + adj;
    if (o < 1)
      fail(BRASS_ERR_SHAPE, op, ": pad ", parse::tuple_str(prm.pad), " leaves no output (data ",
           data, ", kernel ", parse::tuple_str(prm.kernel), ")");
    pads.push_back(pad);
    out.push_back(o);
  }
  cp.pad = pads;
  ConvGeom g = conv_geom(cp, Shape(out), op);
  g.last = last;
  return g;
}

// Element i of the im2col matrix of one sample x (c, d, h, w): row r = (ci, kz, ky, kx),
// column q = (oz, oy, ox); zero where the kernel tap falls into the padding.
template <class T>
BRASS_XINLINE T im2col_at(const T* x, const ConvGeom& g, int64_t i) {
  int64_t q = i % g.p, r = i / g.p;
  int64_t kx = r % g.kw, ky = (r / g.kw) % g.kh, kz = (r / (g.kw * g.kh)) % g.kd;
  int64_t ci = r / (g.kw * g.kh * g.kd);
  int64_t ox = q % g.ow, oy = (q / g.ow) % g.oh, oz = q / (g.ow * g.oh);
  int64_t iz = oz * g.sd - g.pd + kz * g.dd;
  int64_t iy = oy * g.sh - g.ph + ky * g.dh;
  int64_t ix = ox * g.sw - g.pw + kx * g.dw;
  if (iz < 0 || iz >= g.d || iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) return T(0);
  return x[((ci * g.d + iz) * g.h + iy) * g.w + ix];
}

// The output positions along one axis whose tap k reads input coordinate v: -1 if none.
BRASS_XINLINE int64_t conv_tap_out(int64_t v, int64_t pad, int64_t k, int64_t dil, int64_t s,
                                   int64_t out) {
  int64_t t = v + pad - k * dil;
  if (t < 0 || t % s != 0 || t / s >= out) return -1;
  return t / s;
}

// Element i of col2im of one sample's col matrix (the adjoint of im2col): input voxel
// (ci, iz, iy, ix) is the sum of the col entries whose kernel tap reads it, gathered in a
// fixed order (deterministic, no atomics on the GPU).
template <class T>
BRASS_XINLINE T col2im_at(const T* col, const ConvGeom& g, int64_t i) {
  int64_t ix = i % g.w, iy = (i / g.w) % g.h, iz = (i / (g.w * g.h)) % g.d;
  int64_t ci = i / (g.w * g.h * g.d);
  T acc = T(0);
  for (int64_t kz = 0; kz < g.kd; ++kz) {
    int64_t oz = conv_tap_out(iz, g.pd, kz, g.dd, g.sd, g.od);
    if (oz < 0) continue;
    for (int64_t ky = 0; ky < g.kh; ++ky) {
      int64_t oy = conv_tap_out(iy, g.ph, ky, g.dh, g.sh, g.oh);
      if (oy < 0) continue;
      for (int64_t kx = 0; kx < g.kw; ++kx) {
        int64_t ox = conv_tap_out(ix, g.pw, kx, g.dw, g.sw, g.ow);
        if (ox < 0) continue;
        int64_t r = ((ci * g.kd + kz) * g.kh + ky) * g.kw + kx;
        acc += col[r * g.p + (oz * g.oh + oy) * g.ow + ox];
      }
    }
  }
  return acc;
}


// ---- Depthwise convolution (one input channel per group) -----------------------------------
// Direct loops instead of im2col + GEMM, whose per-group matrices would have a single row.
// Filter f reads input channel f / fg. Each function computes one element, in a fixed order.
inline bool conv_is_depthwise(const ConvGeom& g) { return g.g > 1 && g.cg == 1; }

// Output element i over (n, f, oz, oy, ox).
template <class T>
BRASS_XINLINE T dw_forward_at(const T* x, const T* w, const ConvGeom& g, int64_t i) {
  int64_t ox = i % g.ow, oy = (i / g.ow) % g.oh, oz = (i / (g.ow * g.oh)) % g.od;
  int64_t nf = i / g.p, f = nf % g.f, n = nf / g.f;
  const T* xp = x + (n * g.c + f / g.fg) * g.d * g.h * g.w;
  const T* wp = w + f * g.kd * g.kh * g.kw;
  T acc = T(0);
  for (int64_t kz = 0; kz < g.kd; ++kz) {
    int64_t iz = oz * g.sd - g.pd + kz * g.dd;
    if (iz < 0 || iz >= g.d) continue;
    for (int64_t ky = 0; ky < g.kh; ++ky) {
      int64_t iy = oy * g.sh - g.ph + ky * g.dh;
      if (iy < 0 || iy >= g.h) continue;
      const T* row = xp + (iz * g.h + iy) * g.w;
      const T* wr = wp + (kz * g.kh + ky) * g.kw;
      for (int64_t kx = 0; kx < g.kw; ++kx) {
        int64_t ix = ox * g.sw - g.pw + kx * g.dw;
        if (ix >= 0 && ix < g.w) acc += row[ix] * wr[kx];
      }
    }
  }
  return acc;
}

// Data-gradient element i over (n, c, iz, iy, ix): the taps of the fg filters of channel c
// that read it.
template <class T>
BRASS_XINLINE T dw_bwd_data_at(const T* dy, const T* w, const ConvGeom& g, int64_t i) {
  int64_t ix = i % g.w, iy = (i / g.w) % g.h, iz = (i / (g.w * g.h)) % g.d;
  int64_t nc = i / (g.d * g.h * g.w), c = nc % g.c, n = nc / g.c;
  T acc = T(0);
  for (int64_t j = 0; j < g.fg; ++j) {
    int64_t f = c * g.fg + j;
    const T* dp = dy + (n * g.f + f) * g.p;
    const T* wp = w + f * g.kd * g.kh * g.kw;
    for (int64_t kz = 0; kz < g.kd; ++kz) {
      int64_t oz = conv_tap_out(iz, g.pd, kz, g.dd, g.sd, g.od);
      if (oz < 0) continue;
      for (int64_t ky = 0; ky < g.kh; ++ky) {
        int64_t oy = conv_tap_out(iy, g.ph, ky, g.dh, g.sh, g.oh);
        if (oy < 0) continue;
        for (int64_t kx = 0; kx < g.kw; ++kx) {
          int64_t ox = conv_tap_out(ix, g.pw, kx, g.dw, g.sw, g.ow);
          if (ox >= 0) acc += dp[(oz * g.oh + oy) * g.ow + ox] * wp[(kz * g.kh + ky) * g.kw + kx];
        }
      }
    }
  }
  return acc;
}

// Weight-gradient element i over (f, kz, ky, kx): the sum over samples and output positions.
template <class T>
BRASS_XINLINE T dw_bwd_weight_at(const T* dy, const T* x, const ConvGeom& g, int64_t i) {
  int64_t kx = i % g.kw, ky = (i / g.kw) % g.kh, kz = (i / (g.kw * g.kh)) % g.kd;
  int64_t f = i / (g.kd * g.kh * g.kw);
  T acc = T(0);
  for (int64_t n = 0; n < g.n; ++n) {
    const T* xp = x + (n * g.c + f / g.fg) * g.d * g.h * g.w;
    const T* dp = dy + (n * g.f + f) * g.p;
    for (int64_t oz = 0; oz < g.od; ++oz) {
      int64_t iz = oz * g.sd - g.pd + kz * g.dd;
      if (iz < 0 || iz >= g.d) continue;
      for (int64_t oy = 0; oy < g.oh; ++oy) {
        int64_t iy = oy * g.sh - g.ph + ky * g.dh;
        if (iy < 0 || iy >= g.h) continue;
        const T* row = xp + (iz * g.h + iy) * g.w;
        const T* drow = dp + (oz * g.oh + oy) * g.ow;
        for (int64_t ox = 0; ox < g.ow; ++ox) {
          int64_t ix = ox * g.sw - g.pw + kx * g.dw;
          if (ix >= 0 && ix < g.w) acc += drow[ox] * row[ix];
        }
      }
    }
  }
  return acc;
}

// ---- Fused epilogue (CPU) -------------------------------------------------------------------
// What a fused convolution does to each output element of filter f while the output is in
// cache: kernel/epilogue.h.
using ConvAct = kernel::EpiAct;
template <class T>
using ConvEpilogue = kernel::RowEpilogue<T>;

// How a fused convolution's data and output are stored: channels-first, as their shapes say,
// or channels-last (n, h, w, c) under the same channels-first shapes. graph/fuse.cc stores the
// values inside MobileNet's blocks (pointwise -> depthwise -> pointwise) channels-last in
// inference, where the depthwise convolution runs vectors over channels (any plane size, any
// stride) and the pointwise ones read or write that order straight from their GEMMs.
struct ConvStorage {
  bool in_last = false, out_last = false;
};

// Whether a convolution of geometry g (the op's layout channels-first) runs with that storage:
// 2-D pointwise convolutions (1x1, stride 1, no padding, one group) with any; 2-D depthwise
// 3x3 ones (one filter per channel, padding 1, stride 1 or 2, no dilation) with both
// channels-last, in builds with the depthwise kernels (BRASS_CONV_DEPTHWISE).
inline bool conv_storage_fits(const ConvGeom& g, ConvStorage s) {
  if (g.last || g.nd != 2) return false;
  if (g.g == 1 && conv_col_is_data(g)) return true;
  return BRASS_CONV_DEPTHWISE && g.g > 1 && g.cg == 1 && g.fg == 1 && g.kh == 3 && g.kw == 3 && g.ph == 1 && g.pw == 1 && g.dh == 1 &&
         g.dw == 1 && g.sh == g.sw && (g.sh == 1 || g.sh == 2) && s.in_last && s.out_last;
}

// Convolution's CPU forward (float32 or float64, a write request) with the epilogue: ctx and
// in are the Convolution's (data, weight[, bias]; the bias goes into the epilogue here), out
// its output; storage: conv_storage_fits, or both channels-first.
void conv_forward_epilogue(const OpContext& ctx, const std::vector<TBlob>& in, const TBlob& out,
                           const ConvEpilogue<float>& epi, ConvStorage storage = {});
void conv_forward_epilogue(const OpContext& ctx, const std::vector<TBlob>& in, const TBlob& out,
                           const ConvEpilogue<double>& epi, ConvStorage storage = {});

// The epilogue alone on y in place, rows (filters from 0) of cols elements each (one row when
// the epilogue has no BatchNorm terms).
void conv_epilogue_rows(const ConvEpilogue<float>& epi, float* y, int64_t rows, int64_t cols);
void conv_epilogue_rows(const ConvEpilogue<double>& epi, double* y, int64_t rows, int64_t cols);

}  // namespace conv_ops
}  // namespace brass
