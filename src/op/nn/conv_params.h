// Parameters and geometry of Convolution and Pooling (convolution.cc, pooling.cc), shared with
// their CUDA kernels (cuda/nn_conv.cu): the MXNet parameter structs, the checked geometry of a
// call (1-D NCW is run as 2-D NCHW with height 1), and the per-element index arithmetic of
// im2col, col2im and pooling windows that the CPU loops and the CUDA functors both use.
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

// ---- Pooling -------------------------------------------------------------------------------

struct PoolParam {
  Tuple kernel, stride, pad;
  std::string pool_type, pooling_convention;
  bool global_pool, cudnn_off;
  std::optional<int> p_value;
  std::optional<bool> count_include_pad;
  std::optional<std::string> layout;
  static void declare(ParamSpec<PoolParam>& s) {
    s.field("kernel", &PoolParam::kernel).set_default(Tuple{})
        .describe("Pooling kernel size: (w,) or (h, w); ignored when global_pool is set.");
    s.field("pool_type", &PoolParam::pool_type).set_default("max")
        .set_choices({"avg", "lp", "max", "sum"}).describe("Pooling type ('lp' is not supported).");
    s.field("global_pool", &PoolParam::global_pool).set_default(false)
        .describe("Pool over the whole spatial extent, ignoring kernel, stride and pad.");
    s.field("cudnn_off", &PoolParam::cudnn_off).set_default(false)
        .describe("Turn off cuDNN (accepted and ignored).");
    s.field("pooling_convention", &PoolParam::pooling_convention).set_default("valid")
        .set_choices({"full", "same", "valid"})
        .describe("'valid': out = floor((x+2p-k)/s)+1; 'full': ceil((x+2p-k)/s)+1 ('same' is not "
                  "supported).");
    s.field("stride", &PoolParam::stride).set_default(Tuple{})
        .describe("Stride for pooling: (w,) or (h, w). Defaults to 1 for each dimension.");
    s.field("pad", &PoolParam::pad).set_default(Tuple{})
        .describe("Pad for pooling: (w,) or (h, w). Defaults to no padding.");
    s.field("p_value", &PoolParam::p_value).set_default(std::nullopt)
        .describe("Value of p for Lp pooling (Lp pooling is not supported).");
    s.field("count_include_pad", &PoolParam::count_include_pad).set_default(std::nullopt)
        .describe("Count padded elements in avg pooling (None means True).");
    s.field("layout", &PoolParam::layout).set_default(std::nullopt)
        .describe("Data layout: None, NCW (1-D) or NCHW (2-D); others are not supported.");
  }
};

enum PoolType : int { kPoolMax = 0, kPoolAvg = 1, kPoolSum = 2 };

struct PoolGeom {
  int64_t n, c, h, w;
  int64_t kh, kw, sh, sw, ph, pw;
  int64_t oh, ow;
  int type;            // PoolType
  bool include_pad;    // avg: padded positions count in the divisor
  int nd;
};

inline PoolGeom pool_geom(const PoolParam& prm, const Shape& data, const char* op) {
  PoolGeom g{};
  if (prm.pool_type == "lp")
    fail(BRASS_ERR_UNSUPPORTED, op, ": pool_type 'lp' is not supported");
  if (prm.pooling_convention == "same")
    fail(BRASS_ERR_UNSUPPORTED, op, ": pooling_convention 'same' is not supported");
  g.type = prm.pool_type == "max" ? kPoolMax : prm.pool_type == "avg" ? kPoolAvg : kPoolSum;
  g.include_pad = prm.count_include_pad.value_or(true);
  int nd = data.ndim() - 2;
  if (nd != 1 && nd != 2)
    fail(BRASS_ERR_SHAPE, op, ": data must be 3-D (NCW) or 4-D (NCHW), got shape ", data,
         " (3-D pooling is not supported)");
  if (!prm.global_pool && int(prm.kernel.size()) != nd)
    fail(BRASS_ERR_SHAPE, op, ": kernel ", parse::tuple_str(prm.kernel), " must have ", nd,
         " value(s) for data of shape ", data);
  const char* want = nd == 1 ? "NCW" : "NCHW";
  if (prm.layout && *prm.layout != want)
    fail(BRASS_ERR_UNSUPPORTED, op, ": layout '", *prm.layout, "' is not supported (only ",
         want, " for ", nd + 2, "-D data)");
  g.nd = nd;
  g.n = data[0];
  g.c = data[1];
  g.h = nd == 1 ? 1 : data[2];
  g.w = data[nd + 1];
  if (prm.global_pool) {
    g.kh = g.h; g.kw = g.w;
    g.sh = g.sw = 1;
    g.ph = g.pw = 0;
    g.oh = g.ow = 1;
    return g;
  }
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
  int hi = nd == 1 ? -1 : 0, wi = nd - 1;
  g.kh = hi < 0 ? 1 : pick(prm.kernel, "kernel", 1, hi, 1);
  g.kw = pick(prm.kernel, "kernel", 1, wi, 1);
  g.sh = hi < 0 ? 1 : pick(prm.stride, "stride", 1, hi, 1);
  g.sw = pick(prm.stride, "stride", 1, wi, 1);
  g.ph = hi < 0 ? 0 : pick(prm.pad, "pad", 0, hi, 0);
  g.pw = pick(prm.pad, "pad", 0, wi, 0);
  if (g.kh > g.h + 2 * g.ph || g.kw > g.w + 2 * g.pw)
    fail(BRASS_ERR_SHAPE, op, ": kernel ", parse::tuple_str(prm.kernel),
         " is larger than the padded data (data ", data, ", pad ", parse::tuple_str(prm.pad), ")");
  bool full = prm.pooling_convention == "full";
  auto extent = [full](int64_t x, int64_t k, int64_t p, int64_t s) {
    int64_t span = x + 2 * p - k;  // >= 0
    return (full ? (span + s - 1) / s : span / s) + 1;
  };
  g.oh = extent(g.h, g.kh, g.ph, g.sh);
  g.ow = extent(g.w, g.kw, g.pw, g.sw);
  return g;
}

inline Shape pool_out_shape(const PoolGeom& g) {
  return g.nd == 1 ? Shape{g.n, g.c, g.ow} : Shape{g.n, g.c, g.oh, g.ow};
}

// The window of output (oy, ox): rows [y0, y1) and columns [x0, x1) clipped to the data, and
// the avg divisor. As in MXNet (and Caffe), the window is first clipped to the padded extent
// (x + pad), which is what counts with count_include_pad; then to the data.
struct PoolWindow {
  int64_t y0, y1, x0, x1;
  int64_t count;
};

BRASS_XINLINE PoolWindow pool_window(const PoolGeom& g, int64_t oy, int64_t ox) {
  PoolWindow wdw;
  int64_t ys = oy * g.sh - g.ph, xs = ox * g.sw - g.pw;
  int64_t ye = ys + g.kh < g.h + g.ph ? ys + g.kh : g.h + g.ph;
  int64_t xe = xs + g.kw < g.w + g.pw ? xs + g.kw : g.w + g.pw;
  int64_t padded = (ye - ys) * (xe - xs);
  wdw.y0 = ys > 0 ? ys : 0;
  wdw.x0 = xs > 0 ? xs : 0;
  wdw.y1 = ye < g.h ? ye : g.h;
  wdw.x1 = xe < g.w ? xe : g.w;
  int64_t inside = (wdw.y1 > wdw.y0 && wdw.x1 > wdw.x0) ? (wdw.y1 - wdw.y0) * (wdw.x1 - wdw.x0) : 0;
  wdw.count = g.include_pad ? padded : inside;
  return wdw;
}

// Index (y * w + x) in the plane of the first maximum of the window (row-major scan, strict
// >, starting from neg_inf = -infinity, so NaNs are skipped as in MXNet), or -1 when nothing
// in the window is above -infinity (the output is then -infinity and takes no gradient).
template <class C, class T>
BRASS_XINLINE int64_t pool_argmax(const T* plane, const PoolGeom& g, const PoolWindow& wdw,
                                  C neg_inf) {
  int64_t best = -1;
  C bv = neg_inf;
  for (int64_t y = wdw.y0; y < wdw.y1; ++y)
    for (int64_t x = wdw.x0; x < wdw.x1; ++x) {
      C v = C(plane[y * g.w + x]);
      if (v > bv) { best = y * g.w + x; bv = v; }
    }
  return best;
}

// The output rows (or columns) whose windows contain input row iy: [lo, hi] (empty if lo > hi).
BRASS_XINLINE void pool_cover(int64_t i, int64_t k, int64_t s, int64_t p, int64_t out,
                              int64_t* lo, int64_t* hi) {
  int64_t t = i + p - k + 1;
  *lo = t <= 0 ? 0 : (t + s - 1) / s;
  int64_t h = (i + p) / s;
  *hi = h < out - 1 ? h : out - 1;
}


// Output element i (over n, c, oy, ox) of the pooling of x, in compute type C.
template <class C, class T>
BRASS_XINLINE C pool_forward_at(const T* x, const PoolGeom& g, int64_t i, C neg_inf) {
  int64_t ox = i % g.ow, oy = (i / g.ow) % g.oh, plane = i / (g.ow * g.oh);
  const T* xp = x + plane * g.h * g.w;
  PoolWindow wdw = pool_window(g, oy, ox);
  if (g.type == kPoolMax) {
    int64_t a = pool_argmax<C>(xp, g, wdw, neg_inf);
    return a < 0 ? neg_inf : C(xp[a]);
  }
  C acc = C(0);
  for (int64_t y = wdw.y0; y < wdw.y1; ++y)
    for (int64_t x1 = wdw.x0; x1 < wdw.x1; ++x1) acc += C(xp[y * g.w + x1]);
  if (g.type == kPoolSum) return acc;
  return wdw.count > 0 ? acc / C(wdw.count) : C(0);
}

// Input element i (over n, c, iy, ix) of the pooling gradient: a gather over the windows that
// contain it (deterministic, no atomics). argmax: per output, the plane index of its window's
// first maximum (max pooling only).
template <class C, class T>
BRASS_XINLINE C pool_backward_at(const T* dy, const int64_t* argmax, const PoolGeom& g,
                                 int64_t i) {
  int64_t ix = i % g.w, iy = (i / g.w) % g.h, plane = i / (g.w * g.h);
  int64_t ylo, yhi, xlo, xhi;
  pool_cover(iy, g.kh, g.sh, g.ph, g.oh, &ylo, &yhi);
  pool_cover(ix, g.kw, g.sw, g.pw, g.ow, &xlo, &xhi);
  int64_t base = plane * g.oh * g.ow, self = iy * g.w + ix;
  C acc = C(0);
  for (int64_t oy = ylo; oy <= yhi; ++oy)
    for (int64_t ox = xlo; ox <= xhi; ++ox) {
      int64_t o = base + oy * g.ow + ox;
      if (g.type == kPoolMax) {
        if (argmax[o] == self) acc += C(dy[o]);
      } else if (g.type == kPoolSum) {
        acc += C(dy[o]);
      } else {
        int64_t cnt = pool_window(g, oy, ox).count;
        if (cnt > 0) acc += C(dy[o]) / C(cnt);
      }
    }
  return acc;
}

// argmax[i] for output element i (max pooling): see pool_backward_at.
template <class C, class T>
BRASS_XINLINE int64_t pool_argmax_at(const T* x, const PoolGeom& g, int64_t i, C neg_inf) {
  int64_t ox = i % g.ow, oy = (i / g.ow) % g.oh, plane = i / (g.ow * g.oh);
  return pool_argmax<C>(x + plane * g.h * g.w, g, pool_window(g, oy, ox), neg_inf);
}

}  // namespace conv_ops
}  // namespace brass
