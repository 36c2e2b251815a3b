// Parameters and geometry of Pooling (pooling.cc), shared with its CUDA kernels
// (cuda/nn_conv.cu): the MXNet parameter struct, the checked geometry of a call, and the
// per-element window arithmetic that the CPU loops and the CUDA functors both run.
//
// Every call is seen as 3-D pooling of (n, c, d, h, w) (1-D and 2-D data get extent 1 in the
// missing leading spatial axes), and the layout only changes the strides: NCW/NCHW/NCDHW have
// the channel before the spatial axes, NWC/NHWC/NDHWC after them. Outputs and inputs are
// indexed in logical (n, c, d, h, w) order and mapped to memory through the strides.
#pragma once

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>

#include "base/xinline.h"
#include "op/operator.h"

namespace brass {
namespace pool_ops {

struct PoolParam {
  Tuple kernel, stride, pad;
  std::string pool_type, pooling_convention;
  bool global_pool, cudnn_off;
  std::optional<int> p_value;
  std::optional<bool> count_include_pad;
  std::optional<std::string> layout;
  static void declare(ParamSpec<PoolParam>& s) {
    s.field("kernel", &PoolParam::kernel).set_default(Tuple{})
        .describe("Pooling kernel size: (w,), (h, w) or (d, h, w); ignored with global_pool.");
    s.field("pool_type", &PoolParam::pool_type).set_default("max")
        .set_choices({"avg", "lp", "max", "sum"})
        .describe("max, avg (mean), sum, or lp ((sum of x^p)^(1/p), p = p_value).");
    s.field("global_pool", &PoolParam::global_pool).set_default(false)
        .describe("Pool over the whole spatial extent, ignoring kernel, stride and pad.");
    s.field("cudnn_off", &PoolParam::cudnn_off).set_default(false)
        .describe("Turn off cuDNN (accepted and ignored).");
    s.field("pooling_convention", &PoolParam::pooling_convention).set_default("valid")
        .set_choices({"full", "same", "valid"})
        .describe("'valid': out = floor((x+2p-k)/s)+1; 'full': ceil((x+2p-k)/s)+1; 'same': "
                  "ceil(x/s) (no pad; windows past the end are cut short).");
    s.field("stride", &PoolParam::stride).set_default(Tuple{})
        .describe("Stride for pooling. Defaults to 1 for each dimension.");
    s.field("pad", &PoolParam::pad).set_default(Tuple{})
        .describe("Pad for pooling: both sides of each spatial axis. Defaults to no padding.");
    s.field("p_value", &PoolParam::p_value).set_default(std::nullopt)
        .describe("p for lp pooling: 1, 2 or 3 (required with pool_type 'lp').");
    s.field("count_include_pad", &PoolParam::count_include_pad).set_default(std::nullopt)
        .describe("avg pooling: padded positions count in the divisor (None means True).");
    s.field("layout", &PoolParam::layout).set_default(std::nullopt)
        .describe("Data layout: None (channels first), NCW, NCHW, NCDHW, NWC, NHWC or NDHWC.");
  }
};

enum PoolType : int { kPoolMax = 0, kPoolAvg = 1, kPoolSum = 2, kPoolLp = 3 };

struct PoolGeom {
  int64_t n, c;
  int64_t x[3], k[3], s[3], p[3], o[3];  // spatial (d, h, w): data, kernel, stride, pad, output
  int64_t xst[3], xn, xc;                // data strides: spatial, batch, channel
  int64_t ost[3], on, oc;                // output strides
  int type, p_value, nd;
  bool include_pad, channels_last;
};

inline const char* layout_name(int nd, bool last) {
  static const char* names[2][3] = {{"NCW", "NCHW", "NCDHW"}, {"NWC", "NHWC", "NDHWC"}};
  return names[last ? 1 : 0][nd - 1];
}

// Strides of an (n, c, spatial...) tensor with extents e, in the layout.
inline void pool_strides(const int64_t* e, int64_t n, int64_t c, bool last, int64_t* st,
                         int64_t* sn, int64_t* sc) {
  (void)n;
  int64_t plane = e[0] * e[1] * e[2];
  st[2] = last ? c : 1;
  st[1] = st[2] * e[2];
  st[0] = st[1] * e[1];
  *sc = last ? 1 : plane;
  *sn = plane * c;
}

inline PoolGeom pool_geom(const PoolParam& prm, const Shape& data, const char* op) {
  PoolGeom g{};
  g.type = prm.pool_type == "max" ? kPoolMax : prm.pool_type == "avg" ? kPoolAvg
         : prm.pool_type == "sum" ? kPoolSum : kPoolLp;
  if (g.type == kPoolLp) {
    if (!prm.p_value)
      fail(BRASS_ERR_INVALID_ARGUMENT, op, ": pool_type 'lp' needs p_value (1, 2 or 3)");
    if (*prm.p_value < 1 || *prm.p_value > 3)
      fail(BRASS_ERR_INVALID_ARGUMENT, op, ": p_value ", *prm.p_value,
           " is not supported for lp pooling (1, 2 or 3)");
    g.p_value = *prm.p_value;
  }
  g.include_pad = prm.count_include_pad.value_or(true);
  int nd = data.ndim() - 2;
  if (nd < 1 || nd > 3)
    fail(BRASS_ERR_SHAPE, op, ": data must be 3-D (NCW), 4-D (NCHW) or 5-D (NCDHW), got shape ",
         data);
  if (!prm.global_pool && int(prm.kernel.size()) != nd)
    fail(BRASS_ERR_SHAPE, op, ": kernel ", parse::tuple_str(prm.kernel), " must have ", nd,
         " value(s) for data of shape ", data);
  g.channels_last = false;
  if (prm.layout) {
    if (*prm.layout == layout_name(nd, true)) g.channels_last = true;
    else if (*prm.layout != layout_name(nd, false))
      fail(BRASS_ERR_INVALID_ARGUMENT, op, ": layout '", *prm.layout, "' does not fit ", nd + 2,
           "-D data (", layout_name(nd, false), " or ", layout_name(nd, true), ")");
  }
  g.nd = nd;
  g.n = data[0];
  g.c = g.channels_last ? data[nd + 1] : data[1];
  int first = g.channels_last ? 1 : 2;  // data axis of the first spatial extent
  for (int i = 0; i < 3; ++i) {
    int a = i - (3 - nd);  // index among the given spatial axes; < 0: a missing leading one
    g.x[i] = a < 0 ? 1 : data[first + a];
    g.k[i] = g.s[i] = g.o[i] = 1;
    g.p[i] = 0;
  }
  if (prm.global_pool) {
    for (int i = 0; i < 3; ++i) { g.k[i] = g.x[i]; g.o[i] = 1; }
  } else {
    bool same = prm.pooling_convention == "same";
    for (int i = 3 - nd; i < 3; ++i) {
      int a = i - (3 - nd);
      auto pick = [&](const Tuple& t, const char* name, int64_t dflt, int64_t lo) {
        if (!t.empty() && int(t.size()) != nd)
          fail(BRASS_ERR_INVALID_ARGUMENT, op, ": ", name, " ", parse::tuple_str(t),
               " must have ", nd, " value(s) like kernel ", parse::tuple_str(prm.kernel));
        int64_t v = t.empty() ? dflt : t[a];
        if (v < lo)
          fail(BRASS_ERR_INVALID_ARGUMENT, op, ": ", name, " ", parse::tuple_str(t),
               " must be >= ", lo);
        return v;
      };
      g.k[i] = pick(prm.kernel, "kernel", 1, 1);
      g.s[i] = pick(prm.stride, "stride", 1, 1);
      g.p[i] = pick(prm.pad, "pad", 0, 0);
      if (same && g.p[i] != 0)
        fail(BRASS_ERR_INVALID_ARGUMENT, op, ": pooling_convention 'same' takes no pad, got pad ",
             parse::tuple_str(prm.pad));
      if (g.k[i] > g.x[i] + 2 * g.p[i])
        fail(BRASS_ERR_SHAPE, op, ": kernel ", parse::tuple_str(prm.kernel),
             " is larger than the padded data (data ", data, ", pad ", parse::tuple_str(prm.pad),
             ")");
      int64_t span = g.x[i] + 2 * g.p[i] - g.k[i];  // >= 0
      g.o[i] = same ? (g.x[i] + g.s[i] - 1) / g.s[i]
             : prm.pooling_convention == "full" ? (span + g.s[i] - 1) / g.s[i] + 1
             : span / g.s[i] + 1;
    }
  }
  pool_strides(g.x, g.n, g.c, g.channels_last, g.xst, &g.xn, &g.xc);
  pool_strides(g.o, g.n, g.c, g.channels_last, g.ost, &g.on, &g.oc);
  return g;
}

inline Shape pool_out_shape(const PoolGeom& g) {
  Shape s(g.nd + 2);
  s[0] = g.n;
  int first = g.channels_last ? 1 : 2;
  s[g.channels_last ? g.nd + 1 : 1] = g.c;
  for (int a = 0; a < g.nd; ++a) s[first + a] = g.o[3 - g.nd + a];
  return s;
}

// Logical index i over (n, c, e0, e1, e2) -> (plane offset with strides sn, sc; coordinates).
BRASS_XINLINE int64_t pool_split(int64_t i, const int64_t* e, int64_t c, int64_t sn, int64_t sc,
                                 int64_t* z) {
  z[2] = i % e[2];
  i /= e[2];
  z[1] = i % e[1];
  i /= e[1];
  z[0] = i % e[0];
  i /= e[0];
  return (i / c) * sn + (i % c) * sc;
}

// The memory offset of output element i (logical order).
BRASS_XINLINE int64_t pool_out_offset(const PoolGeom& g, int64_t i) {
  int64_t z[3];
  int64_t b = pool_split(i, g.o, g.c, g.on, g.oc, z);
  return b + z[0] * g.ost[0] + z[1] * g.ost[1] + z[2] * g.ost[2];
}

// The window of an output position: [lo, hi) per spatial axis, clipped to the data, and the
// avg divisor. As in MXNet (and Caffe), a window is first clipped to the padded extent
// (x + pad), which is what counts with count_include_pad; then to the data.
struct PoolWindow {
  int64_t lo[3], hi[3];
  int64_t axis[3];  // the count's factor along each axis
  int64_t count;
};

BRASS_XINLINE PoolWindow pool_window(const PoolGeom& g, const int64_t* oz) {
  PoolWindow w;
  w.count = 1;
  for (int i = 0; i < 3; ++i) {
    int64_t st = oz[i] * g.s[i] - g.p[i];
    int64_t en = st + g.k[i] < g.x[i] + g.p[i] ? st + g.k[i] : g.x[i] + g.p[i];
    w.lo[i] = st > 0 ? st : 0;
    w.hi[i] = en < g.x[i] ? en : g.x[i];
    w.axis[i] = g.include_pad ? en - st : w.hi[i] > w.lo[i] ? w.hi[i] - w.lo[i] : 0;
    w.count *= w.axis[i];
  }
  return w;
}

// x^p and its p-th root for lp pooling (as MXNet: no absolute value; the cube root keeps the
// sign).
template <class C>
BRASS_XINLINE C lp_pow(C v, int p) { return p == 1 ? v : p == 2 ? v * v : v * v * v; }
template <class C>
BRASS_XINLINE C lp_root(C v, int p) {
  return p == 1 ? v : p == 2 ? C(std::sqrt(v)) : C(std::cbrt(v));
}

// Output element i (logical order) of the pooling of x, in compute type C; *arg gets the
// memory offset of the window's first maximum (max pooling; -1 when nothing in the window is
// above -infinity: the output is then -infinity and takes no gradient). Row-major scan with a
// strict >, starting from -infinity, so NaNs are skipped as in MXNet.
template <class C, class T>
BRASS_XINLINE C pool_forward_at(const T* x, const PoolGeom& g, int64_t i, C neg_inf,
                                int64_t* arg) {
  int64_t oz[3];
  int64_t base = pool_split(i, g.o, g.c, g.xn, g.xc, oz);
  PoolWindow w = pool_window(g, oz);
  C acc = g.type == kPoolMax ? neg_inf : C(0);
  int64_t best = -1;
  for (int64_t a = w.lo[0]; a < w.hi[0]; ++a)
    for (int64_t b = w.lo[1]; b < w.hi[1]; ++b)
      for (int64_t e = w.lo[2]; e < w.hi[2]; ++e) {
        int64_t off = base + a * g.xst[0] + b * g.xst[1] + e * g.xst[2];
        C v = C(x[off]);
        if (g.type == kPoolMax) {
          if (v > acc) { acc = v; best = off; }
        } else {
          acc += g.type == kPoolLp ? lp_pow(v, g.p_value) : v;
        }
      }
  if (arg) *arg = best;
  if (g.type == kPoolAvg) return w.count > 0 ? acc / C(w.count) : C(0);
  if (g.type == kPoolLp) return lp_root(acc, g.p_value);
  return acc;
}

// The outputs along one axis whose windows contain input coordinate v: [lo, hi].
BRASS_XINLINE void pool_cover(int64_t v, int64_t k, int64_t s, int64_t p, int64_t out,
                              int64_t* lo, int64_t* hi) {
  int64_t t = v + p - k + 1;
  *lo = t <= 0 ? 0 : (t + s - 1) / s;
  int64_t h = (v + p) / s;
  *hi = h < out - 1 ? h : out - 1;
}

// Input element i (logical order) of the pooling gradient: a gather over the windows that
// contain it (deterministic, no atomics). Its memory offset goes to *off. argmax: per output
// (memory order), the memory offset of its window's first maximum (max pooling); x and y the
// data and output (lp pooling).
template <class C, class T>
BRASS_XINLINE C pool_backward_at(const T* dy, const int64_t* argmax, const T* x, const T* y,
                                 const PoolGeom& g, int64_t i, int64_t* off) {
  int64_t z[3], lo[3], hi[3];
  int64_t ibase = pool_split(i, g.x, g.c, g.xn, g.xc, z);
  int64_t self = ibase + z[0] * g.xst[0] + z[1] * g.xst[1] + z[2] * g.xst[2];
  *off = self;
  int64_t obase = (ibase / g.xn) * g.on + ((ibase % g.xn) / g.xc) * g.oc;
  for (int d = 0; d < 3; ++d) pool_cover(z[d], g.k[d], g.s[d], g.p[d], g.o[d], &lo[d], &hi[d]);
  C acc = C(0);
  C xv = g.type == kPoolLp ? C(x[self]) : C(0);
  for (int64_t a = lo[0]; a <= hi[0]; ++a)
    for (int64_t b = lo[1]; b <= hi[1]; ++b)
      for (int64_t e = lo[2]; e <= hi[2]; ++e) {
        int64_t o = obase + a * g.ost[0] + b * g.ost[1] + e * g.ost[2];
        C gv = C(dy[o]);
        if (g.type == kPoolMax) {
          if (argmax[o] == self) acc += gv;
        } else if (g.type == kPoolSum) {
          acc += gv;
        } else if (g.type == kPoolAvg) {
          int64_t oz[3] = {a, b, e};
          int64_t cnt = pool_window(g, oz).count;
          if (cnt > 0) acc += gv / C(cnt);
        } else {  // lp: g * (x / y)^(p - 1), 0 where y is 0
          C yv = C(y[o]);
          if (g.p_value == 1) acc += gv;
          else if (yv != C(0)) acc += gv * lp_pow(xv / yv, g.p_value - 1);
        }
      }
  return acc;
}

}  // namespace pool_ops
}  // namespace brass
