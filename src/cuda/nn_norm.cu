// CUDA kernels of the normalization operators (norm.cc: LayerNorm, InstanceNorm, GroupNorm,
// L2Normalization, LRN and their gradient ops), running the CPU kernels' row math
// (op/nn/norm_params.h) with the same geometry, dtypes and write requests.
//
// The per-row sums (mean, variance, the gradient's means, the L2 norm) are two-pass reductions:
// partial sums over fixed chunks of each row, then the chunks of each row added in order; the
// gamma/beta gradients the same over the elements each gamma entry scales (a gather, so no
// atomics); then one thread per element. The result does not depend on the launch shape. LRN
// runs one thread per element, its window summed in the thread.
#include "cuda/cuda_common.cuh"  // first: its pragmas cover the whole unit

#include <algorithm>
#include <cmath>
#include <vector>

#include "op/nn/nn_dtype.h"
#include "op/nn/norm_params.h"
#include "op/operator.h"

namespace brass {
namespace norm_ops {
namespace gpu {

template <class T>
using Acc = nn_dtype::Compute<T>;

constexpr int64_t kChunk = 512;  // elements per partial sum

int64_t chunks(int64_t n) { return n > 0 ? (n + kChunk - 1) / kChunk : 1; }

// ---- per-row sums ---------------------------------------------------------------------------
// part[r * q + c] = sum over chunk c of row r of: x (kSumX), (x - mean)^2 (kSumDev2), x^2
// (kSumSq), w = dy * gamma (kSumW), w * (x - mean) / sd (kSumWXhat), dy * x (kSumDyX; L2's
// gradient, with x its output).
enum RowSum { kSumX, kSumDev2, kSumSq, kSumW, kSumWXhat, kSumDyX };

template <class T>
struct RowPartial {
  RowGeom g;
  int64_t q;
  int what;
  const T* x;
  const T* dy;
  const T* gamma;
  const Acc<T>* mean;
  const Acc<T>* sd;
  Acc<T>* part;
  __device__ void operator()(int64_t i) const {
    using A = Acc<T>;
    int64_t r = i / q, k0 = (i % q) * kChunk;
    int64_t k1 = k0 + kChunk < g.len ? k0 + kChunk : g.len;
    A acc = A(0);
    for (int64_t k = k0; k < k1; ++k) {
      int64_t e = row_elem(g, r, k);
      A v = A(x[e]);
      if (what == kSumX) {
        acc += v;
      } else if (what == kSumDev2) {
        acc += (v - mean[r]) * (v - mean[r]);
      } else if (what == kSumSq) {
        acc += v * v;
      } else if (what == kSumDyX) {
        acc += A(dy[e]) * v;
      } else {
        A w = A(dy[e]) * A(gamma[gamma_index(g, r, k)]);
        acc += what == kSumW ? w : w * (v - mean[r]) / sd[r];
      }
    }
    part[i] = acc;
  }
};

// sums[r] = scale * (the q partial sums of row r, added in order).
template <class A>
struct RowCombine {
  const A* part;
  A* sums;
  int64_t q;
  A scale;
  __device__ void operator()(int64_t r) const {
    A acc = A(0);
    for (int64_t c = 0; c < q; ++c) acc += part[r * q + c];
    sums[r] = acc * scale;
  }
};

// One sum per row into sums (device, g.rows values of the compute type), via part.
template <class T>
void row_sums(cudaStream_t s, const RowGeom& g, int what, const T* x, const T* dy,
              const T* gamma, const Acc<T>* mean, const Acc<T>* sd, Acc<T>* part, Acc<T>* sums,
              Acc<T> scale) {
  int64_t q = chunks(g.len);
  cuda::for_each(s, g.rows * q, RowPartial<T>{g, q, what, x, dy, gamma, mean, sd, part});
  cuda::for_each(s, g.rows, RowCombine<Acc<T>>{part, sums, q, scale});
}

// Scratch of the compute type: n values per buffer, each buffer its own allocation.
struct Scratch {
  cuda::DeviceBuffer buf;
  size_t n;
  Scratch(size_t count, size_t n_values, size_t elem, int dev)
      : buf(count * (n_values ? n_values : 1) * elem, dev), n(n_values ? n_values : 1) {}
  template <class A> A* at(size_t i) const { return buf.get<A>() + i * n; }
};

// ---- LayerNorm, InstanceNorm, GroupNorm ----------------------------------------------------
// Per row: var (in sd) -> sd = sqrt(var + eps); the mean and stat outputs.
template <class T>
struct AffineStats {
  const Acc<T>* mean;
  Acc<T>* sd;
  T* mean_out;
  T* stat_out;
  Acc<T> eps;
  bool is_var;
  int req_mean, req_stat;
  __device__ void operator()(int64_t r) const {
    Acc<T> var = sd[r];
    sd[r] = std::sqrt(var + eps);
    put(mean_out, r, mean[r], req_mean);
    put(stat_out, r, is_var ? var : sd[r], req_stat);
  }
};

template <class T>
struct AffineNormalize {
  RowGeom g;
  const T* x;
  const T* gamma;
  const T* beta;
  const Acc<T>* mean;
  const Acc<T>* sd;
  T* y;
  int req;
  __device__ void operator()(int64_t e) const {
    int64_t r, k;
    elem_row(g, e, &r, &k);
    int64_t j = gamma_index(g, r, k);
    put(y, e, (Acc<T>(x[e]) - mean[r]) / sd[r] * Acc<T>(gamma[j]) + Acc<T>(beta[j]), req);
  }
};

void affine_forward(const OpContext& ctx, const std::vector<TBlob>& in,
                    const std::vector<TBlob>& out) {
  const char* op = ctx.attrs->op->name.c_str();
  RowGeom g = affine_geom(ctx, in[0], in[1], op);
  if (g.rows == 0) return;
  double eps = affine_eps(ctx);
  bool is_var = stat_is_var(ctx);
  cudaStream_t s = cuda::stream(ctx.dev.id);
  nn_dtype::dispatch_float(in[0].dtype, op, [&](auto tag) {
    using T = decltype(tag);
    using A = Acc<T>;
    Scratch stats(2, size_t(g.rows), sizeof(A), ctx.dev.id);
    Scratch part(1, size_t(g.rows * chunks(g.len)), sizeof(A), ctx.dev.id);
    A* mean = stats.at<A>(0);
    A* sd = stats.at<A>(1);
    const T* x = in[0].ptr<T>();
    A inv_len = inv_count<A>(g.len);
    row_sums<T>(s, g, kSumX, x, nullptr, nullptr, nullptr, nullptr, part.at<A>(0), mean,
                inv_len);
    row_sums<T>(s, g, kSumDev2, x, nullptr, nullptr, mean, nullptr, part.at<A>(0), sd,
                inv_len);
    cuda::for_each(s, g.rows, AffineStats<T>{mean, sd, out[1].ptr<T>(), out[2].ptr<T>(), A(eps),
                                             is_var, int(ctx.req[1]), int(ctx.req[2])});
    if (ctx.req[0] != Req::kNull)
      cuda::for_each(s, in[0].size(),
                     AffineNormalize<T>{g, x, in[1].ptr<T>(), in[2].ptr<T>(), mean, sd,
                                        out[0].ptr<T>(), int(ctx.req[0])});
    cuda::finish(s);
    return 0;
  });
}

// Per row, from the forward's outputs: the mean and sd in the compute type.
template <class T>
struct AffineLoadStats {
  const T* mean_in;
  const T* stat;
  Acc<T>* mean;
  Acc<T>* sd;
  Acc<T> eps;
  bool is_var;
  __device__ void operator()(int64_t r) const {
    mean[r] = Acc<T>(mean_in[r]);
    sd[r] = is_var ? std::sqrt(Acc<T>(stat[r]) + eps) : Acc<T>(stat[r]);
  }
};

// dx = (w - mean(w) - xhat * mean(w * xhat)) / sd, w = dy * gamma, xhat = (x - mean) / sd.
template <class T>
struct AffineDataGrad {
  RowGeom g;
  const T* dy;
  const T* x;
  const T* gamma;
  const Acc<T>* mean;
  const Acc<T>* sd;
  const Acc<T>* mw;
  const Acc<T>* mwx;
  T* dx;
  int req;
  __device__ void operator()(int64_t e) const {
    using A = Acc<T>;
    int64_t r, k;
    elem_row(g, e, &r, &k);
    A w = A(dy[e]) * A(gamma[gamma_index(g, r, k)]);
    put(dx, e, (w - mw[r] - (A(x[e]) - mean[r]) / sd[r] * mwx[r]) / sd[r], req);
  }
};

// part[j * q + c]: sums of dy (part) and dy * xhat (part + gsize * q) over chunk c of the
// elements gamma[j] scales (gamma_span).
template <class T>
struct ParamPartial {
  RowGeom g;
  int64_t q;
  const T* dy;
  const T* x;
  const Acc<T>* mean;
  const Acc<T>* sd;
  Acc<T>* part;
  __device__ void operator()(int64_t i) const {
    using A = Acc<T>;
    int64_t j = i / q, jr, k0, kn;
    gamma_span(g, j, &jr, &k0, &kn);
    int64_t n = kn > 0 ? g.rows / g.rmod * kn : 0;
    int64_t t0 = (i % q) * kChunk, t1 = t0 + kChunk < n ? t0 + kChunk : n;
    A sg = A(0), sgx = A(0);
    for (int64_t t = t0; t < t1; ++t) {
      int64_t r = jr + (t / kn) * g.rmod, e = row_elem(g, r, k0 + t % kn);
      sg += A(dy[e]);
      sgx += A(dy[e]) * (A(x[e]) - mean[r]) / sd[r];
    }
    part[i] = sg;
    part[g.gsize * q + i] = sgx;
  }
};

template <class T>
struct ParamCombine {
  const Acc<T>* part;
  int64_t q, gsize;
  T* dgamma;
  T* dbeta;
  int req_gamma, req_beta;
  __device__ void operator()(int64_t j) const {
    Acc<T> sg = Acc<T>(0), sgx = Acc<T>(0);
    for (int64_t c = 0; c < q; ++c) {
      sg += part[j * q + c];
      sgx += part[gsize * q + j * q + c];
    }
    put(dgamma, j, sgx, req_gamma);
    put(dbeta, j, sg, req_beta);
  }
};

// _backward_<Op>(out_grad, data, gamma, mean, stat) -> d data, d gamma, d beta.
void affine_backward(const OpContext& ctx, const std::vector<TBlob>& in,
                     const std::vector<TBlob>& out) {
  const char* op = ctx.attrs->op->name.c_str();
  RowGeom g = affine_geom(ctx, in[1], in[2], op);
  double eps = affine_eps(ctx);
  bool is_var = stat_is_var(ctx);
  cudaStream_t s = cuda::stream(ctx.dev.id);
  nn_dtype::dispatch_float(in[0].dtype, op, [&](auto tag) {
    using T = decltype(tag);
    using A = Acc<T>;
    const T* dy = in[0].ptr<T>();
    const T* x = in[1].ptr<T>();
    const T* gamma = in[2].ptr<T>();
    // Rows of gamma's elements: rows / rmod rows of at most kdiv positions each.
    int64_t per_gamma = g.rmod > 0 ? g.rows / g.rmod * g.kdiv : 0, qp = chunks(per_gamma);
    Scratch stats(4, size_t(g.rows), sizeof(A), ctx.dev.id);
    Scratch part(1, size_t(std::max(g.rows * chunks(g.len), 2 * g.gsize * qp)), sizeof(A),
                 ctx.dev.id);
    A* mean = stats.at<A>(0);
    A* sd = stats.at<A>(1);
    A* mw = stats.at<A>(2);
    A* mwx = stats.at<A>(3);
    cuda::for_each(s, g.rows, AffineLoadStats<T>{in[3].ptr<T>(), in[4].ptr<T>(), mean, sd,
                                                 A(eps), is_var});
    if (ctx.req[0] != Req::kNull) {
      A inv_len = inv_count<A>(g.len);
      row_sums<T>(s, g, kSumW, x, dy, gamma, mean, sd, part.at<A>(0), mw, inv_len);
      row_sums<T>(s, g, kSumWXhat, x, dy, gamma, mean, sd, part.at<A>(0), mwx, inv_len);
      cuda::for_each(s, in[1].size(), AffineDataGrad<T>{g, dy, x, gamma, mean, sd, mw, mwx,
                                                        out[0].ptr<T>(), int(ctx.req[0])});
    }
    if (ctx.req[1] != Req::kNull || ctx.req[2] != Req::kNull) {
      cuda::for_each(s, g.gsize * qp, ParamPartial<T>{g, qp, dy, x, mean, sd, part.at<A>(0)});
      cuda::for_each(s, g.gsize, ParamCombine<T>{part.at<A>(0), qp, g.gsize, out[1].ptr<T>(),
                                                 out[2].ptr<T>(), int(ctx.req[1]),
                                                 int(ctx.req[2])});
    }
    cuda::finish(s);
    return 0;
  });
}

// ---- L2Normalization -----------------------------------------------------------------------
// Per row: norm = sqrt(sum x^2 + eps) (in place of the sum), and the norm output.
template <class T>
struct L2Norms {
  Acc<T>* norm;
  T* norm_out;
  Acc<T> eps;
  int req;
  __device__ void operator()(int64_t r) const {
    norm[r] = std::sqrt(norm[r] + eps);
    put(norm_out, r, norm[r], req);
  }
};

template <class T>
struct L2Scale {
  RowGeom g;
  const T* x;
  const Acc<T>* norm;
  T* y;
  int req;
  __device__ void operator()(int64_t e) const {
    int64_t r, k;
    elem_row(g, e, &r, &k);
    put(y, e, Acc<T>(x[e]) / norm[r], req);
  }
};

// dx = (dy - y * sum(dy * y)) / norm.
template <class T>
struct L2DataGrad {
  RowGeom g;
  const T* dy;
  const T* y;
  const T* norm;
  const Acc<T>* sums;
  T* dx;
  int req;
  __device__ void operator()(int64_t e) const {
    using A = Acc<T>;
    int64_t r, k;
    elem_row(g, e, &r, &k);
    put(dx, e, (A(dy[e]) - A(y[e]) * sums[r]) / A(norm[r]), req);
  }
};

void l2_forward(const OpContext& ctx, const std::vector<TBlob>& in,
                const std::vector<TBlob>& out) {
  const auto& p = ctx.param<L2NormParam>();
  RowGeom g = l2_geom(p, in[0].shape, "L2Normalization");
  if (g.rows == 0) return;
  cudaStream_t s = cuda::stream(ctx.dev.id);
  nn_dtype::dispatch_float(in[0].dtype, "L2Normalization", [&](auto tag) {
    using T = decltype(tag);
    using A = Acc<T>;
    Scratch norm(1, size_t(g.rows), sizeof(A), ctx.dev.id);
    Scratch part(1, size_t(g.rows * chunks(g.len)), sizeof(A), ctx.dev.id);
    const T* x = in[0].ptr<T>();
    row_sums<T>(s, g, kSumSq, x, nullptr, nullptr, nullptr, nullptr, part.at<A>(0),
                norm.at<A>(0), A(1));
    cuda::for_each(s, g.rows, L2Norms<T>{norm.at<A>(0), out[1].ptr<T>(), A(p.eps),
                                         int(ctx.req[1])});
    if (ctx.req[0] != Req::kNull)
      cuda::for_each(s, in[0].size(),
                     L2Scale<T>{g, x, norm.at<A>(0), out[0].ptr<T>(), int(ctx.req[0])});
    cuda::finish(s);
    return 0;
  });
}

// _backward_L2Normalization(out_grad, output, norm) -> d data.
void l2_backward(const OpContext& ctx, const std::vector<TBlob>& in,
                 const std::vector<TBlob>& out) {
  const char* op = "_backward_L2Normalization";
  RowGeom g = l2_geom(ctx.param<L2NormParam>(), in[1].shape, op);
  if (ctx.req[0] == Req::kNull || g.rows == 0) return;
  cudaStream_t s = cuda::stream(ctx.dev.id);
  nn_dtype::dispatch_float(in[0].dtype, op, [&](auto tag) {
    using T = decltype(tag);
    using A = Acc<T>;
    Scratch sums(1, size_t(g.rows), sizeof(A), ctx.dev.id);
    Scratch part(1, size_t(g.rows * chunks(g.len)), sizeof(A), ctx.dev.id);
    const T* dy = in[0].ptr<T>();
    const T* y = in[1].ptr<T>();
    row_sums<T>(s, g, kSumDyX, y, dy, nullptr, nullptr, nullptr, part.at<A>(0), sums.at<A>(0),
                A(1));
    cuda::for_each(s, in[1].size(), L2DataGrad<T>{g, dy, y, in[2].ptr<T>(), sums.at<A>(0),
                                                  out[0].ptr<T>(), int(ctx.req[0])});
    cuda::finish(s);
    return 0;
  });
}

// ---- LRN -----------------------------------------------------------------------------------
template <class T>
struct LRNElems {
  LRNGeom g;
  const T* x;
  T* y;
  T* tmp_norm;
  Acc<T> salpha, knorm, beta;
  int req_y, req_norm;
  __device__ void operator()(int64_t i) const {
    lrn_at<Acc<T>>(g, i, x, y, tmp_norm, salpha, knorm, beta, req_y, req_norm);
  }
};

template <class T>
struct LRNGradElems {
  LRNGeom g;
  const T* dy;
  const T* x;
  const T* tmp_norm;
  T* dx;
  Acc<T> salpha, beta;
  int req;
  __device__ void operator()(int64_t i) const {
    lrn_grad_at<Acc<T>>(g, i, dy, x, tmp_norm, dx, salpha, beta, req);
  }
};

void lrn_forward(const OpContext& ctx, const std::vector<TBlob>& in,
                 const std::vector<TBlob>& out) {
  const auto& p = ctx.param<LRNParam>();
  LRNGeom g = lrn_geom(p, in[0].shape, "LRN");
  cudaStream_t s = cuda::stream(ctx.dev.id);
  nn_dtype::dispatch_float(in[0].dtype, "LRN", [&](auto tag) {
    using T = decltype(tag);
    cuda::for_each(s, in[0].size(),
                   LRNElems<T>{g, in[0].ptr<T>(), out[0].ptr<T>(), out[1].ptr<T>(),
                               Acc<T>(p.alpha / p.nsize), Acc<T>(p.knorm), Acc<T>(p.beta),
                               int(ctx.req[0]), int(ctx.req[1])});
    return 0;
  });
  cuda::finish(s);
}

// _backward_LRN(out_grad, data, tmp_norm) -> d data.
void lrn_backward(const OpContext& ctx, const std::vector<TBlob>& in,
                  const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  const auto& p = ctx.param<LRNParam>();
  LRNGeom g = lrn_geom(p, in[1].shape, "_backward_LRN");
  cudaStream_t s = cuda::stream(ctx.dev.id);
  nn_dtype::dispatch_float(in[0].dtype, "_backward_LRN", [&](auto tag) {
    using T = decltype(tag);
    cuda::for_each(s, in[1].size(),
                   LRNGradElems<T>{g, in[0].ptr<T>(), in[1].ptr<T>(), in[2].ptr<T>(),
                                   out[0].ptr<T>(), Acc<T>(p.alpha / p.nsize), Acc<T>(p.beta),
                                   int(ctx.req[0])});
    return 0;
  });
  cuda::finish(s);
}

const bool kRegistered = [] {
  for (const char* name : {"LayerNorm", "InstanceNorm", "GroupNorm"}) {
    OpRegistry::get().add(name).cuda(affine_forward);
    OpRegistry::get().add((std::string("_backward_") + name).c_str()).cuda(affine_backward);
  }
  OpRegistry::get().add("L2Normalization").cuda(l2_forward);
  OpRegistry::get().add("_backward_L2Normalization").cuda(l2_backward);
  OpRegistry::get().add("LRN").cuda(lrn_forward);
  OpRegistry::get().add("_backward_LRN").cuda(lrn_backward);
  return true;
}();

}  // namespace gpu
}  // namespace norm_ops
}  // namespace brass
