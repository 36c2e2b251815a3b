// Parameters, shape rules and kernels of MXNet 1.x's image operators (image/image.cc):
// _image_to_tensor, _image_normalize, _image_resize, _image_crop, the flips, the random flips,
// _image_random_brightness, _image_random_contrast and the gradient ops
// _backward_image_to_tensor, _backward_image_crop and _backward_image_resize. Every kernel is a functor over output elements with a
// BRASS_XINLINE body and every op's host logic a template over an executor (op/cpu_exec.h), so
// the CPU file and the CUDA file (cuda/image.cu) run the same code and give the same bits.
//
// Images are HWC, or NHWC for a batch (normalize: CHW / NCHW, after to_tensor). Random ops draw
// one value per image from the op's Philox stream (counter = the image's index), so a seed
// gives the same augmentations on every device and thread count.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "base/dtype.h"
#include "base/error.h"
#include "base/params.h"
#include "base/xinline.h"
#include "op/nn/nn_dtype.h"
#include "op/operator.h"
#include "random/random.h"

namespace brass {
namespace image_ops {

// ---- Parameters (MXNet 1.9's names, in its order: they are positional in nd.image.*) ----------
struct NormalizeParam {
  FloatTuple mean, std;
  static void declare(ParamSpec<NormalizeParam>& s) {
    s.field("mean", &NormalizeParam::mean).set_default(FloatTuple{{0.0}})
        .describe("The mean of each channel, or one value for all of them.");
    s.field("std", &NormalizeParam::std).set_default(FloatTuple{{1.0}})
        .describe("The standard deviation of each channel, or one value for all of them (not 0).");
  }
};

struct ResizeParam {
  Tuple size;
  bool keep_ratio;
  int64_t interp;
  static void declare(ParamSpec<ResizeParam>& s) {
    s.field("size", &ResizeParam::size).set_default(Tuple{})
        .describe("The new size: (width, height), or one value: both sides, or the short side "
                  "with keep_ratio.");
    s.field("keep_ratio", &ResizeParam::keep_ratio).set_default(false)
        .describe("With one size value: resize the short side to it and keep the aspect ratio "
                  "(the long side rounded down).");
    s.field("interp", &ResizeParam::interp).set_default(1)
        .describe("0: nearest neighbour, 1: bilinear (OpenCV's INTER_NEAREST and INTER_LINEAR).");
  }
};

struct CropParam {
  int64_t x, y, width, height;
  static void declare(ParamSpec<CropParam>& s) {
    s.field("x", &CropParam::x).describe("Left column of the crop.");
    s.field("y", &CropParam::y).describe("Top row of the crop.");
    s.field("width", &CropParam::width).describe("Width of the crop.");
    s.field("height", &CropParam::height).describe("Height of the crop.");
  }
};

struct RandomEnhanceParam {
  double min_factor, max_factor;
  static void declare(ParamSpec<RandomEnhanceParam>& s) {
    s.field("min_factor", &RandomEnhanceParam::min_factor).set_lower_bound(0.0)
        .describe("Smallest factor.");
    s.field("max_factor", &RandomEnhanceParam::max_factor).set_lower_bound(0.0)
        .describe("Largest factor (the factor is uniform in [min_factor, max_factor)).");
  }
};

// ---- Layouts -----------------------------------------------------------------------------------
// An image (3-D) or a batch of images (4-D), channels last (HWC) or first (CHW): n images
// (1 for a single one) of h x w pixels and c channels.
struct Dims {
  int64_t n, h, w, c;
  bool batch;
  int64_t pixels() const { return h * w; }
  int64_t image_size() const { return h * w * c; }
};

// data (H, W, C) or (N, H, W, C).
inline Dims hwc_dims(const Shape& s, const char* op) {
  if (s.ndim() != 3 && s.ndim() != 4)
    fail(BRASS_ERR_SHAPE, op, ": data must be an image (H, W, C) or a batch of images "
         "(N, H, W, C), got shape ", s.str());
  int b = s.ndim() - 3;
  return Dims{b ? s[0] : 1, s[b], s[b + 1], s[b + 2], b == 1};
}

// data (C, H, W) or (N, C, H, W).
inline Dims chw_dims(const Shape& s, const char* op) {
  if (s.ndim() != 3 && s.ndim() != 4)
    fail(BRASS_ERR_SHAPE, op, ": data must be a tensor (C, H, W) or a batch (N, C, H, W), got "
         "shape ", s.str());
  int b = s.ndim() - 3;
  return Dims{b ? s[0] : 1, s[b + 1], s[b + 2], s[b], b == 1};
}

// The HWC shape of dims (with the batch axis when d.batch).
inline Shape hwc_shape(const Dims& d) {
  return d.batch ? Shape{d.n, d.h, d.w, d.c} : Shape{d.h, d.w, d.c};
}

// Element i of an (N, H, W, C) array: image n, row r, column col, channel ch.
struct Pixel {
  int64_t n, r, col, ch;
  BRASS_XINLINE Pixel(int64_t i, int64_t h, int64_t w, int64_t c) {
    ch = i % c;
    i /= c;
    col = i % w;
    i /= w;
    r = i % h;
    n = i / h;
  }
  // The offset of (r, col, ch) of image n in an (N, h, w, c) array.
  static BRASS_XINLINE int64_t at(int64_t n, int64_t r, int64_t col, int64_t ch, int64_t h,
                                  int64_t w, int64_t c) {
    return ((n * h + r) * w + col) * c + ch;
  }
};

// ---- Arithmetic written once for both devices ------------------------------------------------
// a * b + c * d and a * b + c with every operation rounded on its own: nvcc would fuse them
// into fma on the device, and a GPU's bits would differ from the CPU's. Every product that
// meets a sum in these kernels goes through them (or random::affine).
BRASS_XINLINE float dot2(float a, float b, float c, float d) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(__fmul_rn(a, b), __fmul_rn(c, d));
#else
  return a * b + c * d;
#endif
}
BRASS_XINLINE double dot2(double a, double b, double c, double d) {
#if defined(__CUDA_ARCH__)
  return __dadd_rn(__dmul_rn(a, b), __dmul_rn(c, d));
#else
  return a * b + c * d;
#endif
}
BRASS_XINLINE float mul_add(float a, float b, float c) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(__fmul_rn(a, b), c);
#else
  return a * b + c;
#endif
}
BRASS_XINLINE double mul_add(double a, double b, double c) { return random::affine(c, a, b); }

// The compute type of storage type T: double for float64, float otherwise (MXNet computes the
// image arithmetic in float).
template <class T>
using Compute = std::conditional_t<std::is_same<T, double>::value, double, float>;

// A compute value stored as T: integers clamp to T's range and truncate (MXNet's uint8
// saturate_cast), floating types round.
template <class T>
struct Saturate {
  T lo, hi;
  static Saturate make() {
    if constexpr (std::is_integral<T>::value)
      return Saturate{std::numeric_limits<T>::lowest(), std::numeric_limits<T>::max()};
    else
      return Saturate{};
  }
  template <class C>
  BRASS_XINLINE T operator()(C v) const {
    if constexpr (std::is_integral<T>::value) {
      if (!(v == v)) return T(0);
      if (v >= C(hi)) return hi;
      if (v <= C(lo)) return lo;
      return T(v);
    } else {
      return T(v);
    }
  }
};

// Calls f(T()) for the dtypes the arithmetic image ops take (every dtype but bool).
template <class Fn>
void dispatch_numeric(DType t, const char* op, Fn&& f) {
  if (t == DType::kBool) fail(BRASS_ERR_DTYPE, op, ": data of dtype bool is not supported");
  dispatch_dtype(t, [&](auto tag) {
    f(tag);
    return 0;
  });
}

// ---- to_tensor ----------------------------------------------------------------------------------
// forward: y (n, c, p) = x (n, p, c) / 255 in float32, p a pixel; backward (its adjoint,
// _backward_image_to_tensor): y (n, p, c) = x (n, c, p) / 255 in the data's dtype.
template <class TI, class TO, bool kBackward>
struct ToTensorFn {
  const TI* x;
  TO* y;
  int64_t hw, c;
  BRASS_XINLINE void operator()(int64_t i) const {
    using C = Compute<TO>;
    if (!kBackward) {
      int64_t p = i % hw, t = i / hw, ch = t % c, n = t / c;
      y[i] = TO(float(x[(n * hw + p) * c + ch]) / 255.0f);
    } else {
      Pixel q(i, 1, hw, c);  // the pixels of an image as one row
      y[i] = TO(C(x[(q.n * c + q.ch) * hw + q.col]) / C(255));
    }
  }
};

inline Shape to_tensor_shape(const Shape& x, const char* op) {
  Dims d = hwc_dims(x, op);
  return d.batch ? Shape{d.n, d.c, d.h, d.w} : Shape{d.c, d.h, d.w};
}

template <class Exec>
void to_tensor_forward(Exec& ex, const OpContext& ctx, const std::vector<TBlob>& in,
                       const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  const char* op = "_image_to_tensor";
  Dims d = hwc_dims(in[0].shape, op);
  dispatch_numeric(in[0].dtype, op, [&](auto tag) {
    using T = decltype(tag);
    ex.run(out[0].size(),
           ToTensorFn<T, float, false>{in[0].ptr<T>(), out[0].ptr<float>(), d.pixels(), d.c});
  });
}

// _backward_image_to_tensor(ograd, data): the data's gradient (ograd of any floating type).
template <class Exec>
void to_tensor_backward(Exec& ex, const OpContext& ctx, const std::vector<TBlob>& in,
                        const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  const char* op = "_backward_image_to_tensor";
  Dims d = hwc_dims(in[1].shape, op);
  nn_dtype::dispatch_float(in[0].dtype, op, [&](auto gtag) {
    using G = decltype(gtag);
    dispatch_numeric(out[0].dtype, op, [&](auto tag) {
      using T = decltype(tag);
      ex.run(out[0].size(),
             ToTensorFn<G, T, true>{in[0].ptr<G>(), out[0].ptr<T>(), d.pixels(), d.c});
    });
  });
}

// ---- normalize ----------------------------------------------------------------------------------
// y = (x - mean[c]) / std[c] over (N, C, H, W); stats holds C means, then C standard deviations.
template <class T, class C>
struct NormalizeFn {
  const T* x;
  T* y;
  const double* stats;
  int64_t hw, c;
  BRASS_XINLINE void operator()(int64_t i) const {
    int64_t ch = (i / hw) % c;
    y[i] = T((C(x[i]) - C(stats[ch])) / C(stats[c + ch]));
  }
};

// Checks the parameters against data (C, H, W) or (N, C, H, W).
inline Dims normalize_dims(const NormalizeParam& p, const Shape& x, const char* op) {
  Dims d = chw_dims(x, op);
  auto check = [&](const FloatTuple& t, const char* what) {
    if (t.v.size() != 1 && int64_t(t.v.size()) != d.c)
      fail(BRASS_ERR_INVALID_ARGUMENT, op, ": ", what, " must hold 1 or ", d.c, " values (the "
           "channels of data ", x.str(), "), got ", ParamTraits<FloatTuple>::str(t));
  };
  check(p.mean, "mean");
  check(p.std, "std");
  for (double s : p.std.v)
    if (s == 0)
      fail(BRASS_ERR_INVALID_ARGUMENT, op, ": std must not be 0, got ",
           ParamTraits<FloatTuple>::str(p.std));
  return d;
}

template <class Exec>
void normalize_forward(Exec& ex, const OpContext& ctx, const std::vector<TBlob>& in,
                       const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  const char* op = "_image_normalize";
  const auto& p = ctx.param<NormalizeParam>();
  Dims d = normalize_dims(p, in[0].shape, op);
  std::vector<double> stats(size_t(2 * d.c));
  for (int64_t k = 0; k < d.c; ++k) {
    stats[size_t(k)] = p.mean.v[p.mean.v.size() == 1 ? 0 : size_t(k)];
    stats[size_t(d.c + k)] = p.std.v[p.std.v.size() == 1 ? 0 : size_t(k)];
  }
  const double* st = ex.upload(std::move(stats));
  nn_dtype::dispatch_float(in[0].dtype, op, [&](auto tag) {
    using T = decltype(tag);
    ex.run(out[0].size(),
           NormalizeFn<T, Compute<T>>{in[0].ptr<T>(), out[0].ptr<T>(), st, d.pixels(), d.c});
  });
}

// ---- flips and random draws ---------------------------------------------------------------------
// y = x flipped along the width (left_right) or the height, for the images n whose draw[n] is
// below 0.5 (draw null: every image).
template <class T>
struct FlipFn {
  const T* x;
  T* y;
  int64_t h, w, c;
  bool left_right;
  const double* draw;
  BRASS_XINLINE void operator()(int64_t i) const {
    Pixel q(i, h, w, c);
    if (draw == nullptr || draw[q.n] < 0.5) {
      if (left_right) q.col = w - 1 - q.col;
      else q.r = h - 1 - q.r;
    }
    y[i] = x[Pixel::at(q.n, q.r, q.col, q.ch, h, w, c)];
  }
};

// out[n] = lo + span * u, u uniform in [0, 1) from counter n of the op's stream.
struct DrawFn {
  RandomStream rs;
  double lo, span;
  double* out;
  BRASS_XINLINE void operator()(int64_t n) const {
    uint32_t w[4];
    random::Philox::block(rs.seed, rs.stream, uint64_t(n), w);
    out[n] = random::affine(lo, span, double(random::u01f(w[0])));
  }
};

// data (H, W, C) or (N, H, W, C) of any dtype (flips move elements, they compute nothing).
template <class Exec>
void run_flip(Exec& ex, const TBlob& x, const TBlob& y, bool left_right, const double* draw,
              const char* op) {
  Dims d = hwc_dims(x.shape, op);
  dispatch_dtype(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    ex.run(y.size(), FlipFn<T>{x.ptr<T>(), y.ptr<T>(), d.h, d.w, d.c, left_right, draw});
    return 0;
  });
}

template <bool kLeftRight>
struct Flip {
  static const char* name() {
    return kLeftRight ? "_image_flip_left_right" : "_image_flip_top_bottom";
  }
  static const char* random_name() {
    return kLeftRight ? "_image_random_flip_left_right" : "_image_random_flip_top_bottom";
  }
  template <class Exec>
  static void forward(Exec& ex, const OpContext& ctx, const std::vector<TBlob>& in,
                      const std::vector<TBlob>& out) {
    if (ctx.req[0] == Req::kNull) return;
    run_flip(ex, in[0], out[0], kLeftRight, nullptr, name());
  }
  // Each image flipped with probability 1/2; the draws live in the op's temp space.
  template <class Exec>
  static void random_forward(Exec& ex, const OpContext& ctx, const std::vector<TBlob>& in,
                             const std::vector<TBlob>& out) {
    if (ctx.req[0] == Req::kNull) return;
    Dims d = hwc_dims(in[0].shape, random_name());
    double* draw = static_cast<double*>(ctx.temp);
    ex.run(d.n, DrawFn{ctx.rng, 0.0, 1.0, draw});
    run_flip(ex, in[0], out[0], kLeftRight, draw, random_name());
  }
};

// Temp space of the random ops: per image its factor (or flip draw), its gray mean, and the
// gray sum of each of its rows (contrast).
inline size_t random_temp_bytes(const Shape& x, bool rows) {
  Dims d = hwc_dims(x, "image");
  return size_t(d.n * (rows ? 2 + d.h : 1)) * sizeof(double);
}

inline void check_factors(const RandomEnhanceParam& p, const char* op) {
  if (p.min_factor > p.max_factor)
    fail(BRASS_ERR_INVALID_ARGUMENT, op, ": min_factor (", parse::double_str(p.min_factor),
         ") must not exceed max_factor (", parse::double_str(p.max_factor), ")");
}

// ---- random brightness and contrast -------------------------------------------------------------
// y = saturate(x * alpha[n] + beta[n]); beta null: 0.
template <class T, class C>
struct ScaleShiftFn {
  const T* x;
  T* y;
  const double* alpha;
  const double* gray;  // per image its gray mean (contrast), or null (brightness)
  int64_t image_size;
  Saturate<T> sat;
  BRASS_XINLINE void operator()(int64_t i) const {
    int64_t n = i / image_size;
    C a = C(float(alpha[n]));  // MXNet draws the factor as a float
    C v = C(x[i]);
    if (gray == nullptr) {
      y[i] = sat(v * a);
    } else {
      C beta = (C(1) - a) * C(gray[n]);
      y[i] = sat(mul_add(v, a, beta));
    }
  }
};

// rows[r] = the sum over row r (of N * H) of the pixels' luminance 0.299 R + 0.587 G + 0.114 B
// (one channel: the value itself).
template <class T, class C>
struct GrayRowFn {
  const T* x;
  double* rows;
  int64_t w, c;
  BRASS_XINLINE void operator()(int64_t r) const {
    const T* p = x + r * w * c;
    double s = 0;
    for (int64_t j = 0; j < w; ++j, p += c) {
      if (c == 1) {
        s += double(C(p[0]));
      } else {
        C g = mul_add(C(p[1]), C(0.587f), C(p[0]) * C(0.299f));
        s += double(mul_add(C(p[2]), C(0.114f), g));
      }
    }
    rows[r] = s;
  }
};

// mean[n] = the sum of image n's h row sums / its pixels.
struct GrayMeanFn {
  const double* rows;
  double* mean;
  int64_t h, pixels;
  BRASS_XINLINE void operator()(int64_t n) const {
    double s = 0;
    for (int64_t r = 0; r < h; ++r) s += rows[n * h + r];
    mean[n] = s / double(pixels);
  }
};

inline void check_contrast_channels(const Dims& d, const Shape& x, const char* op) {
  if (d.c != 1 && d.c != 3)
    fail(BRASS_ERR_SHAPE, op, ": data must have 1 or 3 channels (gray or RGB, the last axis), "
         "got shape ", x.str());
}

// brightness: y = x * alpha; contrast: y = x * alpha + (1 - alpha) * (the image's gray mean).
template <bool kContrast>
struct Enhance {
  static const char* name() {
    return kContrast ? "_image_random_contrast" : "_image_random_brightness";
  }
  template <class Exec>
  static void forward(Exec& ex, const OpContext& ctx, const std::vector<TBlob>& in,
                      const std::vector<TBlob>& out) {
    if (ctx.req[0] == Req::kNull) return;
    const auto& p = ctx.param<RandomEnhanceParam>();
    const char* op = name();
    check_factors(p, op);
    Dims d = hwc_dims(in[0].shape, op);
    if (kContrast) check_contrast_channels(d, in[0].shape, op);
    if (in[0].size() == 0) return;
    double* alpha = static_cast<double*>(ctx.temp);
    double* gray = kContrast ? alpha + d.n : nullptr;
    ex.run(d.n, DrawFn{ctx.rng, p.min_factor, p.max_factor - p.min_factor, alpha});
    dispatch_numeric(in[0].dtype, op, [&](auto tag) {
      using T = decltype(tag);
      using C = Compute<T>;
      if (kContrast) {
        double* rows = gray + d.n;
        ex.run(d.n * d.h, GrayRowFn<T, C>{in[0].ptr<T>(), rows, d.w, d.c});
        ex.run(d.n, GrayMeanFn{rows, gray, d.h, d.pixels()});
      }
      ex.run(out[0].size(), ScaleShiftFn<T, C>{in[0].ptr<T>(), out[0].ptr<T>(), alpha, gray,
                                                d.image_size(), Saturate<T>::make()});
    });
  }
};

// ---- crop ---------------------------------------------------------------------------------------
// The crop's window checked against data (H, W, C) or (N, H, W, C); returns the data's dims.
inline Dims crop_dims(const CropParam& p, const Shape& x, const char* op) {
  Dims d = hwc_dims(x, op);
  if (p.width <= 0 || p.height <= 0)
    fail(BRASS_ERR_INVALID_ARGUMENT, op, ": width and height must be positive, got width ", p.width,
         ", height ", p.height);
  if (p.x < 0 || p.y < 0 || p.x + p.width > d.w || p.y + p.height > d.h)
    fail(BRASS_ERR_INVALID_ARGUMENT, op, ": the crop (x ", p.x, ", y ", p.y, ", width ", p.width,
         ", height ", p.height, ") lies outside the image of data ", x.str(), " (width ", d.w,
         ", height ", d.h, ")");
  return d;
}

inline Shape crop_out_shape(const CropParam& p, const Shape& x, const char* op) {
  Dims d = crop_dims(p, x, op);
  d.h = p.height;
  d.w = p.width;
  return hwc_shape(d);
}

// forward: y (n, r, j, ch) = x (n, y0 + r, x0 + j, ch), over the crop's elements; backward
// (adjoint): y over the data's elements, the head gradient inside the window, 0 elsewhere.
template <class T, bool kBackward>
struct CropFn {
  const T* x;
  T* y;
  int64_t h, w, c;         // the data's
  int64_t y0, x0, wh, ww;  // the window: top, left, height, width
  BRASS_XINLINE void operator()(int64_t i) const {
    if (!kBackward) {
      Pixel q(i, wh, ww, c);
      y[i] = x[Pixel::at(q.n, y0 + q.r, x0 + q.col, q.ch, h, w, c)];
    } else {
      Pixel q(i, h, w, c);
      bool in = q.r >= y0 && q.r < y0 + wh && q.col >= x0 && q.col < x0 + ww;
      y[i] = in ? x[Pixel::at(q.n, q.r - y0, q.col - x0, q.ch, wh, ww, c)] : T(0.0f);
    }
  }
};

// forward: in (data), out (crop); backward: in (ograd, data), out (the data's gradient).
template <bool kBackward, class Exec>
void crop_run(Exec& ex, const OpContext& ctx, const std::vector<TBlob>& in,
              const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  const char* op = kBackward ? "_backward_image_crop" : "_image_crop";
  const auto& p = ctx.param<CropParam>();
  Dims d = crop_dims(p, kBackward ? in[1].shape : in[0].shape, op);
  dispatch_dtype(in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    ex.run(out[0].size(), CropFn<T, kBackward>{in[0].ptr<T>(), out[0].ptr<T>(), d.h, d.w, d.c, p.y,
                                               p.x, p.height, p.width});
    return 0;
  });
}

template <class Exec>
void crop_forward(Exec& ex, const OpContext& ctx, const std::vector<TBlob>& in,
                  const std::vector<TBlob>& out) {
  crop_run<false>(ex, ctx, in, out);
}

template <class Exec>
void crop_backward(Exec& ex, const OpContext& ctx, const std::vector<TBlob>& in,
                   const std::vector<TBlob>& out) {
  crop_run<true>(ex, ctx, in, out);
}

// ---- resize -------------------------------------------------------------------------------------
// OpenCV's sampling along one axis (cv::resize, which MXNet's CPU operator calls): output
// coordinate o reads source coordinates s0 and s1 with weights w0 and w1, computed in float as
// OpenCV computes them. Nearest: s = floor(o * scale), clamped. Bilinear (half-pixel centres):
// f = (o + 0.5) * scale - 0.5, s = floor(f), weights (1 - frac, frac); along x OpenCV moves the
// taps that fall outside onto the border with weights (1, 0), along y it clamps the rows and
// keeps the weights.
struct ResizeAxis {
  int64_t in, out;
  double scale;  // 1 / (out / in), as OpenCV computes it
  int kind;      // 0 nearest, 1 bilinear along x, 2 bilinear along y

  BRASS_XINLINE void taps(int64_t o, int64_t& s0, int64_t& s1, float& w0, float& w1) const {
    if (kind == 0) {
      int64_t s = int64_t(floor(double(o) * scale));
      s0 = s1 = s < in - 1 ? s : in - 1;
      w0 = 1.0f;
      w1 = 0.0f;
      return;
    }
    float f = float(random::affine(-0.5, double(o) + 0.5, scale));
    int64_t s = int64_t(floorf(f));
    f -= float(s);
    if (kind == 1) {
      if (s < 0) s = 0, f = 0.0f;
      if (s >= in - 1) s = in - 1, f = 0.0f;
      s0 = s;
      s1 = s + 1 < in ? s + 1 : s;
    } else {
      s0 = s < 0 ? 0 : (s > in - 1 ? in - 1 : s);
      s1 = s + 1 < 0 ? 0 : (s + 1 > in - 1 ? in - 1 : s + 1);
    }
    w0 = 1.0f - f;
    w1 = f;
  }

  // The output coordinates whose taps may touch source coordinate i (a superset; the weights
  // tell): [lo, hi].
  BRASS_XINLINE void reach(int64_t i, int64_t& lo, int64_t& hi) const {
    double a, b;
    if (kind == 0) {
      a = double(i) / scale;
      b = double(i + 1) / scale;
    } else {
      a = (double(i) - 0.5) / scale - 0.5;
      b = (double(i) + 1.5) / scale - 0.5;
    }
    lo = i == 0 ? 0 : int64_t(floor(a)) - 1;
    hi = i == in - 1 ? out - 1 : int64_t(ceil(b)) + 1;
    if (lo < 0) lo = 0;
    if (hi > out - 1) hi = out - 1;
  }

  // The weight with which output coordinate o reads source coordinate i.
  BRASS_XINLINE float weight(int64_t o, int64_t i) const {
    int64_t s0, s1;
    float w0, w1;
    taps(o, s0, s1, w0, w1);
    return (s0 == i ? w0 : 0.0f) + (s1 == i ? w1 : 0.0f);
  }
};

// OpenCV's fixed-point weights of 8-bit bilinear resizing: w * 2048, rounded half to even.
BRASS_XINLINE int fixed_weight(float w) { return int(rintf(w * 2048.0f)); }

// y (n, oy, ox, ch) of the resized images. 8-bit bilinear runs OpenCV's fixed-point arithmetic,
// the rest in the compute type; halving both sides, OpenCV averages each 2x2 block (its
// INTER_AREA path, the same weights summed in another order). Results match OpenCV bit for bit.
template <class T, class C>
struct ResizeFn {
  const T* x;
  T* y;
  ResizeAxis ay, ax;
  int64_t c;
  bool halve;
  BRASS_XINLINE void operator()(int64_t i) const {
    Pixel q(i, ay.out, ax.out, c);
    int64_t oy = q.r, ox = q.col;
    int64_t r0, r1, c0, c1;
    float b0, b1, a0, a1;
    ay.taps(oy, r0, r1, b0, b1);
    ax.taps(ox, c0, c1, a0, a1);
    const T* img = x + Pixel::at(q.n, 0, 0, q.ch, ay.in, ax.in, c);
    auto at = [&](int64_t r, int64_t col) { return img[(r * ax.in + col) * c]; };
    if (ax.kind == 0) {
      y[i] = at(r0, c0);
    } else if constexpr (std::is_same<T, uint8_t>::value) {
      int ia0 = fixed_weight(a0), ia1 = fixed_weight(a1);
      // rows in 2^11 fixed point; OpenCV's vertical pass: (b * (row >> 4)) >> 16, rounded at 2^2
      int h0 = int(at(r0, c0)) * ia0 + int(at(r0, c1)) * ia1;
      int h1 = int(at(r1, c0)) * ia0 + int(at(r1, c1)) * ia1;
      int v0 = (fixed_weight(b0) * (h0 >> 4)) >> 16, v1 = (fixed_weight(b1) * (h1 >> 4)) >> 16;
      int v = (v0 + v1 + 2) >> 2;
      y[i] = T(v < 0 ? 0 : (v > 255 ? 255 : v));
    } else if (halve) {
      y[i] = T((((C(at(2 * oy, 2 * ox)) + C(at(2 * oy, 2 * ox + 1))) + C(at(2 * oy + 1, 2 * ox))) +
                C(at(2 * oy + 1, 2 * ox + 1))) * C(0.25));
    } else {
      C h0 = dot2(C(at(r0, c0)), C(a0), C(at(r0, c1)), C(a1));
      C h1 = dot2(C(at(r1, c0)), C(a0), C(at(r1, c1)), C(a1));
      y[i] = T(dot2(h0, C(b0), h1, C(b1)));
    }
  }
};

// The adjoint of the resize (float types): dx (n, iy, ix, ch) sums dy over the outputs that
// read the pixel, each times its weight.
template <class T, class C>
struct ResizeAdjFn {
  const T* dy;
  T* dx;
  ResizeAxis ay, ax;
  int64_t c;
  BRASS_XINLINE void operator()(int64_t i) const {
    Pixel q(i, ay.in, ax.in, c);
    int64_t iy = q.r, ix = q.col;
    int64_t ylo, yhi, xlo, xhi;
    ay.reach(iy, ylo, yhi);
    ax.reach(ix, xlo, xhi);
    const T* g = dy + Pixel::at(q.n, 0, 0, q.ch, ay.out, ax.out, c);
    C s = C(0);
    for (int64_t oy = ylo; oy <= yhi; ++oy) {
      float wy = ay.weight(oy, iy);
      if (wy == 0.0f) continue;
      C row = C(0);
      for (int64_t ox = xlo; ox <= xhi; ++ox) {
        float wx = ax.weight(ox, ix);
        if (wx != 0.0f) row = mul_add(C(g[(oy * ax.out + ox) * c]), C(wx), row);
      }
      s = mul_add(row, C(wy), s);
    }
    dx[i] = T(s);
  }
};

// The output size for data of (h, w): (height, width).
inline std::pair<int64_t, int64_t> resize_hw(const ResizeParam& p, int64_t h, int64_t w,
                                             const char* op) {
  if (p.size.size() != 1 && p.size.size() != 2)
    fail(BRASS_ERR_INVALID_ARGUMENT, op, ": size must hold 1 value or 2 (width, height), got ",
         parse::tuple_str(p.size));
  for (int64_t v : p.size)
    if (v <= 0)
      fail(BRASS_ERR_INVALID_ARGUMENT, op, ": size must be positive, got ",
           parse::tuple_str(p.size));
  if (p.interp != 0 && p.interp != 1)
    fail(BRASS_ERR_INVALID_ARGUMENT, op, ": interp ", p.interp, " is not supported (0: nearest, "
         "1: bilinear; MXNet's OpenCV modes 2-4, bicubic, area and Lanczos, are not built)");
  if (p.size.size() == 2) return {p.size[1], p.size[0]};
  int64_t s = p.size[0];
  if (!p.keep_ratio) return {s, s};
  if (h > w) return {h * s / w, s};
  return {s, w * s / h};
}

// data (H, W, C) or (N, H, W, C) -> the resized shape.
inline Shape resize_out_shape(const ResizeParam& p, const Shape& x, const char* op) {
  Dims d = hwc_dims(x, op);
  if (d.h < 1 || d.w < 1)
    fail(BRASS_ERR_SHAPE, op, ": data ", x.str(), " holds empty images (height or width 0)");
  auto hw = resize_hw(p, d.h, d.w, op);  // keep_ratio: the long side is at least size
  d.h = hw.first;
  d.w = hw.second;
  return hwc_shape(d);
}

inline ResizeAxis resize_axis(int64_t in, int64_t out, int64_t interp, bool is_x) {
  return ResizeAxis{in, out, 1.0 / (double(out) / double(in)), interp == 0 ? 0 : (is_x ? 1 : 2)};
}

// The dtypes resize takes: uint8 and the floating types.
template <class Fn>
void dispatch_resize(DType t, const char* op, Fn&& f) {
  if (t == DType::kUint8) return f(uint8_t());
  if (!is_float(t))
    fail(BRASS_ERR_DTYPE, op, ": data must be uint8 or floating point, got ", dtype_name(t));
  dispatch_dtype(t, [&](auto tag) {
    if constexpr (!std::is_integral<decltype(tag)>::value) f(tag);
    return 0;
  });
}

template <class Exec>
void resize_forward(Exec& ex, const OpContext& ctx, const std::vector<TBlob>& in,
                    const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  const char* op = "_image_resize";
  const auto& p = ctx.param<ResizeParam>();
  resize_out_shape(p, in[0].shape, op);
  Dims di = hwc_dims(in[0].shape, op), dout = hwc_dims(out[0].shape, op);
  ResizeAxis ay = resize_axis(di.h, dout.h, p.interp, false);
  ResizeAxis ax = resize_axis(di.w, dout.w, p.interp, true);
  bool halve = p.interp == 1 && di.h == 2 * dout.h && di.w == 2 * dout.w;
  dispatch_resize(in[0].dtype, op, [&](auto tag) {
    using T = decltype(tag);
    ex.run(out[0].size(),
           ResizeFn<T, Compute<T>>{in[0].ptr<T>(), out[0].ptr<T>(), ay, ax, di.c, halve});
  });
}

// _backward_image_resize(ograd, data): the data's gradient (floating types).
template <class Exec>
void resize_backward(Exec& ex, const OpContext& ctx, const std::vector<TBlob>& in,
                     const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  const char* op = "_backward_image_resize";
  const auto& p = ctx.param<ResizeParam>();
  Dims di = hwc_dims(in[1].shape, op), dout = hwc_dims(in[0].shape, op);
  ResizeAxis ay = resize_axis(di.h, dout.h, p.interp, false);
  ResizeAxis ax = resize_axis(di.w, dout.w, p.interp, true);
  nn_dtype::dispatch_float(in[0].dtype, op, [&](auto tag) {
    using T = decltype(tag);
    ex.run(out[0].size(),
           ResizeAdjFn<T, Compute<T>>{in[0].ptr<T>(), out[0].ptr<T>(), ay, ax, di.c});
  });
}

}  // namespace image_ops
}  // namespace brass
