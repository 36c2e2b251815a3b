// CUDA kernels of Convolution, Deconvolution, Pooling and BatchNorm and their gradient ops
// (convolution.cc, pooling.cc, batch_norm.cc), with the CPU kernels' geometry (conv_params.h,
// pool_params.h, bn_params.h), dtypes and write requests.
//
// Convolution: per sample, im2col into the op's temp space and one GEMM batched over the
// groups (cuda/gemm.cuh); the data gradient is a GEMM then col2im computed as a gather per
// input pixel, so no atomics are needed and the result is deterministic. Pooling's gradient is
// a gather per input element as well (max: each window's first maximum, found in a pass over
// the outputs first). BatchNorm's per-channel sums are two-pass reductions: partial sums over
// fixed chunks of a channel, then the chunks of each channel summed in order.
#include "cuda/cuda_common.cuh"  // first: its pragmas cover the whole unit

#include <cmath>
#include <limits>
#include <vector>

#include "cuda/float32_compute.cuh"
#include "cuda/gemm.cuh"
#include "op/nn/bn_params.h"
#include "op/nn/conv_params.h"
#include "op/nn/nn_dtype.h"
#include "op/nn/pool_params.h"
#include "op/operator.h"

namespace brass {
namespace conv_ops {
namespace gpu {

// ---- Convolution ---------------------------------------------------------------------------

template <class T>
struct Im2col {
  const T* x;
  T* col;
  ConvGeom g;
  __device__ void operator()(int64_t i) const { col[i] = im2col_at(x, g, i); }
};

template <class T>
struct Col2im {
  const T* col;
  T* dx;
  ConvGeom g;
  bool add;
  __device__ void operator()(int64_t i) const {
    T v = col2im_at(col, g, i);
    dx[i] = add ? dx[i] + v : v;
  }
};

template <class T>
struct Fill {
  T* p;
  T v;
  __device__ void operator()(int64_t i) const { p[i] = v; }
};

template <class F>
void by_float(DType t, F&& kernel) {
  if (t == DType::kFloat32) kernel(float());
  else kernel(double());
}

// Depthwise convolutions (conv_params.h): one thread per output element; mode 0 forward (plus
// the bias), 1 data gradient, 2 weight gradient.
template <class T>
struct Depthwise {
  const T *a, *b, *bias;
  T* out;
  ConvGeom g;
  int mode;
  bool add;
  __device__ void operator()(int64_t i) const {
    T v = mode == 0 ? dw_forward_at(a, b, g, i) + (bias ? bias[(i / g.p) % g.f] : T(0))
        : mode == 1 ? dw_bwd_data_at(a, b, g, i) : dw_bwd_weight_at(a, b, g, i);
    out[i] = add ? out[i] + v : v;
  }
};

// The convolution of geometry g: y = conv(x, w) (+ bias when given), with the request.
template <class T>
void conv_fwd_impl(cudaStream_t s, const char* op, const ConvGeom& g, DType t, const T* x,
                   const T* w, const T* bias, T* y, Req req, T* col) {
  if (conv_is_depthwise(g)) {
    cuda::for_each(s, g.n * g.f * g.p, Depthwise<T>{x, w, bias, y, g, 0, req == Req::kAdd});
    return;
  }
  for (int64_t n = 0; n < g.n; ++n) {
    const T* xn = x + n * g.chw();
    const T* c = xn;
    if (!conv_col_is_data(g)) {
      cuda::for_each(s, g.col_size(), Im2col<T>{xn, col, g});
      c = col;
    }
    T* yn = y + n * g.f * g.p;
    dot_ops::gpu::gemm(s, op, t, false, false, g.g, g.fg, g.p, g.k, w, g.k, g.fg * g.k, c, g.p,
                       g.k * g.p, yn, g.fg * g.p, req == Req::kAdd);
    if (bias) cuda::for_each(s, g.f * g.p, nn_dtype::AddBias<T>{yn, bias, g.p, g.f});
  }
}

// Its data gradient: col = W_g^T dy_g, then col2im, with the request.
template <class T>
void conv_bwd_data_impl(cudaStream_t s, const char* op, const ConvGeom& g, DType t, const T* dy,
                        const T* w, T* dx, Req req, T* col) {
  if (conv_is_depthwise(g)) {
    cuda::for_each(s, g.n * g.chw(), Depthwise<T>{dy, w, nullptr, dx, g, 1, req == Req::kAdd});
    return;
  }
  int64_t chw = g.chw();
  bool direct = conv_col_is_data(g) && req != Req::kAdd;  // the GEMM writes dx itself
  for (int64_t n = 0; n < g.n; ++n) {
    T* dst = direct ? dx + n * chw : col;
    dot_ops::gpu::gemm(s, op, t, true, false, g.g, g.k, g.p, g.fg, w, g.k, g.fg * g.k,
                       dy + n * g.f * g.p, g.p, g.fg * g.p, dst, g.k * g.p, false);
    if (!direct) cuda::for_each(s, chw, Col2im<T>{col, dx + n * chw, g, req == Req::kAdd});
  }
}

// Its weight gradient: dW_g = sum_n dy_g[n] col_g[n]^T, with the request.
template <class T>
void conv_bwd_weight_impl(cudaStream_t s, const char* op, const ConvGeom& g, DType t,
                          const T* dy, const T* x, T* dw, Req req, T* col) {
  if (conv_is_depthwise(g)) {
    cuda::for_each(s, g.f * g.k, Depthwise<T>{dy, x, nullptr, dw, g, 2, req == Req::kAdd});
    return;
  }
  if (g.n == 0 && req != Req::kAdd) cuda::for_each(s, g.f * g.k, Fill<T>{dw, T(0)});
  for (int64_t n = 0; n < g.n; ++n) {
    const T* xn = x + n * g.chw();
    const T* c = xn;
    if (!conv_col_is_data(g)) {
      cuda::for_each(s, g.col_size(), Im2col<T>{xn, col, g});
      c = col;
    }
    dot_ops::gpu::gemm(s, op, t, false, true, g.g, g.fg, g.k, g.p, dy + n * g.f * g.p, g.p,
                       g.fg * g.p, c, g.p, g.k * g.p, dw, g.fg * g.k, n > 0 || req == Req::kAdd);
  }
}

// (a, s, b) <-> (a, b, s): element i of the destination, channels-first (to_first) or
// channels-last, from the other layout, with the request.
template <class T>
struct MoveChannels {
  const T* src;
  T* dst;
  int64_t s, b;
  bool to_first, add;
  __device__ void operator()(int64_t i) const {
    int64_t a, p, c;
    if (to_first) {  // dst (a, c, p) <- src (a, p, c)
      p = i % s;
      c = (i / s) % b;
      a = i / (s * b);
      dst[i] = src[(a * s + p) * b + c];
    } else {  // dst (a, p, c) <- src (a, c, p)
      c = i % b;
      p = (i / b) % s;
      a = i / (s * b);
      T v = src[(a * b + c) * s + p];
      dst[i] = add ? dst[i] + v : v;
    }
  }
};

// Runs fn(g, a, b, out, req, temp) on channels-first operands: for a channels-last call, on
// copies of `a` and `b` in the temp space after the im2col matrix (as the CPU kernels), the
// result moved back into `out` with req.
template <class T, class F>
void channels_first(cudaStream_t st, const ConvGeom& g, const TBlob& a, const TBlob& b,
                    const TBlob& out, Req req, T* temp, F&& fn) {
  if (!g.last) {
    fn(g, a.ptr<T>(), b.ptr<T>(), out.ptr<T>(), req, temp);
    return;
  }
  auto move = [&](const T* src, T* dst, const Shape& sh, bool to_first, Req r) {
    int64_t c = sh[sh.ndim() - 1], n = sh[0];
    int64_t sp = sh.size() / (n * c > 0 ? n * c : 1);
    cuda::for_each(st, sh.size(), MoveChannels<T>{src, dst, sp, c, to_first, r == Req::kAdd});
  };
  T* pa = temp + conv_col_elems(g);
  T* pb = pa + a.size();
  T* po = pb + b.size();
  move(a.ptr<T>(), pa, a.shape, true, Req::kWrite);
  move(b.ptr<T>(), pb, b.shape, true, Req::kWrite);
  ConvGeom gf = g;
  gf.last = false;
  fn(gf, pa, pb, po, Req::kWrite, temp);
  move(po, out.ptr<T>(), out.shape, false, req);
}

// Runs body(T()) on the stream of the op's device and waits for it.
template <class F>
void run(const OpContext& ctx, const std::vector<TBlob>& in, F&& body) {
  if (ctx.req[0] == Req::kNull) return;
  cudaStream_t s = cuda::stream(ctx.dev.id);
  by_float(in[0].dtype, [&](auto tag) { body(tag, s); });
  cuda::finish(s);
}

void conv_forward(const OpContext& ctx, const std::vector<TBlob>& in,
                  const std::vector<TBlob>& out) {
  run(ctx, in, [&](auto tag, cudaStream_t s) {
    using T = decltype(tag);
    const auto& prm = ctx.param<ConvParam>();
    ConvGeom g = conv_geom(prm, in[0].shape, "Convolution");
    const T* bias = prm.no_bias ? nullptr : in[2].ptr<T>();
    channels_first<T>(s, g, in[0], in[1], out[0], ctx.req[0], static_cast<T*>(ctx.temp),
                      [&](const ConvGeom& gf, const T* x, const T* w, T* y, Req req, T* temp) {
                        conv_fwd_impl<T>(s, "Convolution", gf, in[0].dtype, x, w, bias, y, req, temp);
                      });
  });
}

// _backward_Convolution_data(out_grad, weight, data)
void conv_bwd_data(const OpContext& ctx, const std::vector<TBlob>& in,
                   const std::vector<TBlob>& out) {
  run(ctx, in, [&](auto tag, cudaStream_t s) {
    using T = decltype(tag);
    const char* op = "_backward_Convolution_data";
    ConvGeom g = conv_geom(ctx.param<ConvParam>(), in[2].shape, op);
    channels_first<T>(s, g, in[0], in[1], out[0], ctx.req[0], static_cast<T*>(ctx.temp),
                      [&](const ConvGeom& gf, const T* dy, const T* w, T* dx, Req req, T* temp) {
                        conv_bwd_data_impl<T>(s, op, gf, in[0].dtype, dy, w, dx, req, temp);
                      });
  });
}

// _backward_Convolution_weight(out_grad, data)
void conv_bwd_weight(const OpContext& ctx, const std::vector<TBlob>& in,
                     const std::vector<TBlob>& out) {
  run(ctx, in, [&](auto tag, cudaStream_t s) {
    using T = decltype(tag);
    const char* op = "_backward_Convolution_weight";
    ConvGeom g = conv_geom(ctx.param<ConvParam>(), in[1].shape, op);
    channels_first<T>(s, g, in[0], in[1], out[0], ctx.req[0], static_cast<T*>(ctx.temp),
                      [&](const ConvGeom& gf, const T* dy, const T* x, T* dw, Req req, T* temp) {
                        conv_bwd_weight_impl<T>(s, op, gf, in[0].dtype, dy, x, dw, req, temp);
                      });
  });
}

// Deconvolution(data, weight[, bias]): the data gradient of the convolution it transposes.
void deconv_forward(const OpContext& ctx, const std::vector<TBlob>& in,
                    const std::vector<TBlob>& out) {
  run(ctx, in, [&](auto tag, cudaStream_t s) {
    using T = decltype(tag);
    const auto& prm = ctx.param<DeconvParam>();
    ConvGeom g = deconv_geom(prm, in[0].shape, "Deconvolution");
    channels_first<T>(s, g, in[0], in[1], out[0], ctx.req[0], static_cast<T*>(ctx.temp),
                      [&](const ConvGeom& gf, const T* x, const T* w, T* y, Req req, T* temp) {
                        conv_bwd_data_impl<T>(s, "Deconvolution", gf, in[0].dtype, x, w, y, req, temp);
                        if (!prm.no_bias)
                          cuda::for_each(s, out[0].size(),
                                         nn_dtype::AddBias<T>{y, in[2].ptr<T>(), gf.d * gf.h * gf.w, gf.c});
                      });
  });
}

// _backward_Deconvolution_data(out_grad, weight, data): the transposed convolution's forward.
void deconv_bwd_data(const OpContext& ctx, const std::vector<TBlob>& in,
                     const std::vector<TBlob>& out) {
  run(ctx, in, [&](auto tag, cudaStream_t s) {
    using T = decltype(tag);
    const char* op = "_backward_Deconvolution_data";
    ConvGeom g = deconv_geom(ctx.param<DeconvParam>(), in[2].shape, op);
    channels_first<T>(s, g, in[0], in[1], out[0], ctx.req[0], static_cast<T*>(ctx.temp),
                      [&](const ConvGeom& gf, const T* dy, const T* w, T* dx, Req req, T* temp) {
                        conv_fwd_impl<T>(s, op, gf, in[0].dtype, dy, w, nullptr, dx, req, temp);
                      });
  });
}

// _backward_Deconvolution_weight(out_grad, data): its weight gradient, roles swapped.
void deconv_bwd_weight(const OpContext& ctx, const std::vector<TBlob>& in,
                       const std::vector<TBlob>& out) {
  run(ctx, in, [&](auto tag, cudaStream_t s) {
    using T = decltype(tag);
    const char* op = "_backward_Deconvolution_weight";
    ConvGeom g = deconv_geom(ctx.param<DeconvParam>(), in[1].shape, op);
    channels_first<T>(s, g, in[0], in[1], out[0], ctx.req[0], static_cast<T*>(ctx.temp),
                      [&](const ConvGeom& gf, const T* dy, const T* x, T* dw, Req req, T* temp) {
                        conv_bwd_weight_impl<T>(s, op, gf, in[0].dtype, x, dy, dw, req, temp);
                      });
  });
}

// ---- Pooling -------------------------------------------------------------------------------

using pool_ops::PoolGeom;
using pool_ops::PoolParam;

template <class T, class C>
struct PoolFwd {
  const T* x;
  T* y;
  int64_t* argmax;  // max pooling's gradient: the offset of each output's maximum, else null
  PoolGeom g;
  C neg_inf;
  bool add;
  __device__ void operator()(int64_t i) const {
    int64_t o = pool_ops::pool_out_offset(g, i), arg;
    C v = pool_ops::pool_forward_at<C>(x, g, i, neg_inf, &arg);
    if (argmax) argmax[o] = arg;
    else y[o] = add ? T(C(y[o]) + v) : T(v);
  }
};

template <class T, class C>
struct PoolBwd {
  const T *dy, *x, *y;
  const int64_t* argmax;
  T* dx;
  PoolGeom g;
  bool add;
  __device__ void operator()(int64_t i) const {
    int64_t o;
    C v = pool_ops::pool_backward_at<C>(dy, argmax, x, y, g, i, &o);
    dx[o] = add ? T(C(dx[o]) + v) : T(v);
  }
};

// Runs kernel(T(), C()) for the float storage type T of t and its compute type C (as
// pooling.cc).
template <class F>
void by_float_pool(DType t, F&& kernel) {
  switch (t) {
    case DType::kFloat32: kernel(float(), float()); break;
    case DType::kFloat64: kernel(double(), double()); break;
    case DType::kFloat16: kernel(half_t(), float()); break;
    default: kernel(bf16_t(), float()); break;
  }
}

void pool_forward(const OpContext& ctx, const std::vector<TBlob>& in,
                  const std::vector<TBlob>& out) {
  Req req = ctx.req[0];
  if (req == Req::kNull) return;
  PoolGeom g = pool_ops::pool_geom(ctx.param<PoolParam>(), in[0].shape, "Pooling");
  cudaStream_t s = cuda::stream(ctx.dev.id);
  by_float_pool(in[0].dtype, [&](auto tt, auto ct) {
    using T = decltype(tt);
    using C = decltype(ct);
    cuda::for_each(s, out[0].size(),
                   PoolFwd<T, C>{in[0].ptr<T>(), out[0].ptr<T>(), nullptr, g,
                                 -std::numeric_limits<C>::infinity(), req == Req::kAdd});
  });
  cuda::finish(s);
}

// _backward_Pooling(out_grad, data, out); the temp space holds the argmax of each output
// (max pooling).
void pool_backward(const OpContext& ctx, const std::vector<TBlob>& in,
                   const std::vector<TBlob>& out) {
  Req req = ctx.req[0];
  if (req == Req::kNull) return;
  PoolGeom g = pool_ops::pool_geom(ctx.param<PoolParam>(), in[1].shape, "_backward_Pooling");
  cudaStream_t s = cuda::stream(ctx.dev.id);
  by_float_pool(in[0].dtype, [&](auto tt, auto ct) {
    using T = decltype(tt);
    using C = decltype(ct);
    int64_t* argmax = static_cast<int64_t*>(ctx.temp);
    if (g.type == pool_ops::kPoolMax)
      cuda::for_each(s, in[0].size(), PoolFwd<T, C>{in[1].ptr<T>(), nullptr, argmax, g,
                                                    -std::numeric_limits<C>::infinity(), false});
    cuda::for_each(s, out[0].size(), PoolBwd<T, C>{in[0].ptr<T>(), in[1].ptr<T>(), in[2].ptr<T>(),
                                                   argmax, out[0].ptr<T>(), g, req == Req::kAdd});
  });
  cuda::finish(s);
}

}  // namespace gpu
}  // namespace conv_ops

namespace bn_ops {
namespace gpu {

constexpr int64_t kChunk = 1024;  // elements of a channel per partial sum

// part[ch * q + j] = sum over chunk j of channel ch of: x (kSumX), (x - mean)^2 (kSumSq),
// dy (kSumDy), dy * (x - mean) (kSumDyX).
enum Sum { kSumX, kSumSq, kSumDy, kSumDyX };

template <class T>
struct Partial {
  const T* x;
  const T* dy;
  const T* mean;
  T* part;
  BNGeom g;
  int64_t q;
  int what;
  __device__ void operator()(int64_t i) const {
    int64_t ch = i / q, k0 = (i % q) * kChunk;
    int64_t k1 = k0 + kChunk < g.m ? k0 + kChunk : g.m;
    T acc = T(0);
    for (int64_t k = k0; k < k1; ++k) {
      int64_t e = bn_index(g, ch, k);
      if (what == kSumX) acc += x[e];
      else if (what == kSumDy) acc += dy[e];
      else if (what == kSumSq) acc += (x[e] - mean[ch]) * (x[e] - mean[ch]);
      else acc += dy[e] * (x[e] - mean[ch]);
    }
    part[i] = acc;
  }
};

// sums[ch] = scale * (the q partial sums of channel ch, added in order).
template <class T>
struct Combine {
  const T* part;
  T* sums;
  int64_t q;
  T scale;
  __device__ void operator()(int64_t ch) const {
    T acc = T(0);
    for (int64_t j = 0; j < q; ++j) acc += part[ch * q + j];
    sums[ch] = acc * scale;
  }
};

// Per channel: training turns the batch variance (in invstd) into the inverse std and updates
// the moving statistics; inference takes mean and inverse std from them. Then the mean and
// var outputs are written.
template <class T>
struct Stats {
  T* mean;
  T* invstd;
  T* mm;
  T* mv;
  T* mean_out;
  T* var_out;
  T eps, momentum;
  bool train;
  int req_mean, req_var;
  __device__ void operator()(int64_t ch) const {
    if (train) {
      T var = invstd[ch];
      invstd[ch] = var == T(0) && eps == T(0) ? T(0) : T(1) / std::sqrt(var + eps);
      mm[ch] = mm[ch] * momentum + mean[ch] * (T(1) - momentum);
      mv[ch] = mv[ch] * momentum + var * (T(1) - momentum);
    } else {
      mean[ch] = mm[ch];
      invstd[ch] = T(1) / std::sqrt(mv[ch] + eps);
    }
    put(mean_out, ch, mean[ch], req_mean);
    put(var_out, ch, invstd[ch], req_var);
  }
  __device__ static void put(T* p, int64_t i, T v, int req) {
    if (req == int(Req::kAdd)) p[i] += v;
    else if (req != int(Req::kNull)) p[i] = v;
  }
};

template <class T>
struct Normalize {
  const T* x;
  const T* gamma;
  const T* beta;
  const T* mean;
  const T* invstd;
  T* y;
  BNGeom g;
  bool fix_gamma, add;
  __device__ void operator()(int64_t i) const {
    int64_t ch = (i / g.inner) % g.c;
    T w = fix_gamma ? T(1) : gamma[ch];
    T v = (x[i] - mean[ch]) * invstd[ch] * w + beta[ch];
    y[i] = add ? y[i] + v : v;
  }
};

template <class T>
struct DataGrad {
  const T* dy;
  const T* x;
  const T* gamma;
  const T* mean;
  const T* invstd;
  const T* sg;   // per channel: sum dy
  const T* sgx;  // per channel: sum dy * (x - mean)
  T* dx;
  BNGeom g;
  bool fix_gamma, batch_stats, add;
  __device__ void operator()(int64_t i) const {
    int64_t ch = (i / g.inner) % g.c;
    T is = invstd[ch], w = fix_gamma ? T(1) : gamma[ch], m = T(g.m);
    T v = batch_stats ? (dy[i] - sg[ch] / m - (x[i] - mean[ch]) * sgx[ch] * is * is / m) * w * is
                      : dy[i] * w * is;
    dx[i] = add ? dx[i] + v : v;
  }
};

template <class T>
struct ParamGrad {
  const T* invstd;
  const T* sg;
  const T* sgx;
  T* dgamma;
  T* dbeta;
  bool fix_gamma;
  int req_gamma, req_beta;
  __device__ void operator()(int64_t ch) const {
    Stats<T>::put(dgamma, ch, fix_gamma ? T(0) : sgx[ch] * invstd[ch], req_gamma);
    Stats<T>::put(dbeta, ch, sg[ch], req_beta);
  }
};

// Per-channel sums of one quantity into sums (device, c values), via partial sums in part.
template <class T>
void channel_sums(cudaStream_t s, const BNGeom& g, int what, const T* x, const T* dy,
                  const T* mean, T* part, T* sums, T scale) {
  int64_t q = g.m > 0 ? (g.m + kChunk - 1) / kChunk : 1;
  cuda::for_each(s, g.c * q, Partial<T>{x, dy, mean, part, g, q, what});
  cuda::for_each(s, g.c, Combine<T>{part, sums, q, scale});
}

size_t part_elems(const BNGeom& g) {
  return size_t(g.c * (g.m > 0 ? (g.m + kChunk - 1) / kChunk : 1));
}

void bn_forward(const OpContext& ctx, const std::vector<TBlob>& in,
                const std::vector<TBlob>& out) {
  const auto& p = ctx.param<BNParam>();
  BNGeom g = bn_geom(p, in[0].shape, "BatchNorm");
  if (g.c == 0) return;
  bool train = ctx.is_train && !p.use_global_stats;
  cudaStream_t s = cuda::stream(ctx.dev.id);
  auto run = [&](auto tag) {
    using T = decltype(tag);
    size_t es = sizeof(T);
    cuda::DeviceBuffer stats(2 * g.c * es, ctx.dev.id), part(part_elems(g) * es, ctx.dev.id);
    T* mean = stats.get<T>();
    T* invstd = mean + g.c;
    const T* x = in[0].ptr<T>();
    if (train) {
      T inv_m = g.m ? T(1) / T(g.m) : T(0);
      channel_sums<T>(s, g, kSumX, x, nullptr, nullptr, part.get<T>(), mean, inv_m);
      channel_sums<T>(s, g, kSumSq, x, nullptr, mean, part.get<T>(), invstd, inv_m);
    }
    cuda::for_each(s, g.c, Stats<T>{mean, invstd, in[3].ptr<T>(), in[4].ptr<T>(),
                                    out[1].ptr<T>(), out[2].ptr<T>(), T(p.eps), T(p.momentum),
                                    train, int(ctx.req[1]), int(ctx.req[2])});
    if (ctx.req[0] != Req::kNull)
      cuda::for_each(s, in[0].size(),
                     Normalize<T>{x, in[1].ptr<T>(), in[2].ptr<T>(), mean, invstd,
                                  out[0].ptr<T>(), g, p.fix_gamma, ctx.req[0] == Req::kAdd});
    cuda::finish(s);
  };
  if (in[0].dtype == DType::kFloat32) run(float());
  else run(double());
}

// _backward_BatchNorm(out_grad, data, gamma, mean, invstd) -> d data, d gamma, d beta.
void bn_backward(const OpContext& ctx, const std::vector<TBlob>& in,
                 const std::vector<TBlob>& out) {
  const auto& p = ctx.param<BNParam>();
  BNGeom g = bn_geom(p, in[1].shape, "_backward_BatchNorm");
  if (g.c == 0) return;
  bool batch_stats = ctx.is_train && !p.use_global_stats;
  cudaStream_t s = cuda::stream(ctx.dev.id);
  auto run = [&](auto tag) {
    using T = decltype(tag);
    size_t es = sizeof(T);
    cuda::DeviceBuffer sums(2 * g.c * es, ctx.dev.id), part(part_elems(g) * es, ctx.dev.id);
    T* sg = sums.get<T>();
    T* sgx = sg + g.c;
    const T* dy = in[0].ptr<T>();
    const T* x = in[1].ptr<T>();
    const T* mean = in[3].ptr<T>();
    const T* invstd = in[4].ptr<T>();
    channel_sums<T>(s, g, kSumDy, x, dy, mean, part.get<T>(), sg, T(1));
    channel_sums<T>(s, g, kSumDyX, x, dy, mean, part.get<T>(), sgx, T(1));
    if (ctx.req[0] != Req::kNull)
      cuda::for_each(s, in[1].size(),
                     DataGrad<T>{dy, x, in[2].ptr<T>(), mean, invstd, sg, sgx, out[0].ptr<T>(),
                                 g, p.fix_gamma, batch_stats, ctx.req[0] == Req::kAdd});
    cuda::for_each(s, g.c, ParamGrad<T>{invstd, sg, sgx, out[1].ptr<T>(), out[2].ptr<T>(),
                                        p.fix_gamma, int(ctx.req[1]), int(ctx.req[2])});
    cuda::finish(s);
  };
  if (in[0].dtype == DType::kFloat32) run(float());
  else run(double());
}

}  // namespace gpu
}  // namespace bn_ops

namespace conv_ops {
namespace gpu {

const bool kRegistered = [] {
  auto f32 = [](ComputeFn f) { return nn_dtype::gpu::small_floats(std::move(f)); };  // + half types
  OpRegistry::get().add("Convolution").cuda(f32(conv_forward));
  OpRegistry::get().add("_backward_Convolution_data").cuda(f32(conv_bwd_data));
  OpRegistry::get().add("_backward_Convolution_weight").cuda(f32(conv_bwd_weight));
  OpRegistry::get().add("Deconvolution").cuda(f32(deconv_forward));
  OpRegistry::get().add("_backward_Deconvolution_data").cuda(f32(deconv_bwd_data));
  OpRegistry::get().add("_backward_Deconvolution_weight").cuda(f32(deconv_bwd_weight));
  OpRegistry::get().add("Pooling").cuda(pool_forward);
  OpRegistry::get().add("_backward_Pooling").cuda(pool_backward);
  OpRegistry::get().add("BatchNorm").cuda(f32(bn_ops::gpu::bn_forward));
  OpRegistry::get().add("_backward_BatchNorm").cuda(f32(bn_ops::gpu::bn_backward));
  return true;
}();

}  // namespace gpu
}  // namespace conv_ops
}  // namespace brass
