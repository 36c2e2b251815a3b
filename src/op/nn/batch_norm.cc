// BatchNorm (MXNet 1.x): inputs data, gamma, beta and the aux states moving_mean and
// moving_var (written in training); outputs out and the hidden mean and inverse standard
// deviation kept for the gradient op _backward_BatchNorm. Parameters and the geometry are in
// bn_params.h, shared with the CUDA kernels (cuda/nn_conv.cu).
//
// Semantics (MXNet's CPU operator): in training (autograd's training flag, not
// use_global_stats) the data is normalized with the batch mean and the biased batch variance,
// and the moving statistics are updated in the forward pass with that biased variance
// (MXNet's cuDNN path would use the unbiased one). The output 'var' holds the inverse standard
// deviation 1/sqrt(var + eps), as in MXNet ("output the mean and inverse std"); at inference
// mean and var are the moving mean and 1/sqrt(moving_var + eps). fix_gamma treats gamma as 1.
// The gradient follows the training flag of the backward pass, as in MXNet.
#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/thread_pool.h"
#include "kernel/gemm.h"

#include "op/grad.h"
#include "op/nn/float32_compute.h"
#include "op/nn/bn_params.h"
#include "op/operator.h"

namespace brass {
namespace bn_ops {

#if BRASS_ALL_OPS || BRASS_OP_BatchNorm
bool bn_type(const NodeAttrs& a, std::vector<int>& in, std::vector<int>& out) {
  bool ok = infer::same_type(a, in, out);
  if (ok && !is_float(DType(out[0])))
    fail(BRASS_ERR_DTYPE, a.op->name, ": only floating-point data is supported, got ",
         dtype_name(DType(out[0])));
  return ok;
}

// Inputs data, gamma, beta, moving_mean, moving_var: the last four are (C,), filled from data.
bool bn_shape(const NodeAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
  if (!in[0].known()) return false;
  BNGeom g = bn_geom(attrs.param<BNParam>(), in[0], "BatchNorm");
  const char* names[] = {"gamma", "beta", "moving_mean", "moving_var"};
  for (int i = 1; i < 5; ++i) infer::assign_shape(in[i], Shape{g.c}, "BatchNorm", names[i - 1]);
  infer::assign_shape(out[0], in[0], "BatchNorm", "output");
  infer::assign_shape(out[1], Shape{g.c}, "BatchNorm", "mean");
  infer::assign_shape(out[2], Shape{g.c}, "BatchNorm", "var");
  return true;
}
#endif

#if BRASS_TRAINING
// _backward_BatchNorm(out_grad, data, gamma, mean, invstd) -> d data, d gamma, d beta.
bool bwd_shape(const NodeAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
  const char* op = "_backward_BatchNorm";
  if (!in[1].known()) return false;
  BNGeom g = bn_geom(attrs.param<BNParam>(), in[1], op);
  const char* names[] = {"gamma", "mean", "var"};
  infer::assign_shape(in[0], in[1], op, "out_grad");
  for (int i = 2; i < 5; ++i) infer::assign_shape(in[i], Shape{g.c}, op, names[i - 2]);
  infer::assign_shape(out[0], in[1], op, "data gradient");
  infer::assign_shape(out[1], Shape{g.c}, op, "gamma gradient");
  infer::assign_shape(out[2], Shape{g.c}, op, "beta gradient");
  return true;
}
#endif

template <class T>
void put(T* p, int64_t i, T v, Req r) {
  if (r == Req::kAdd) p[i] += v;
  else if (r != Req::kNull) p[i] = v;
}

// Channels per parallel task: about kBnGrain elements each.
constexpr int64_t kBnGrain = 32768;
inline int64_t channel_grain(const BNGeom& g) {
  return std::max<int64_t>(1, kBnGrain / std::max<int64_t>(1, g.m));
}

// Per-channel sums of K terms over the channel's elements: term(c, i, v) writes the K terms of
// element i (a flat index) of channel c into v; sums[k][c] gets their totals. The order of the
// additions depends on the shape alone (8 lanes along each run of `inner` elements, or one
// accumulator per channel when inner is 1), never on the thread count. Channels in parallel.
template <int K, class T, class Term>
void channel_sums(const BNGeom& g, T* const (&sums)[K], Term term) {
  if (g.inner == 1) {
    // Channel-last: each row of c channels is contiguous, so accumulate across a row.
    thread_pool::parallel_for(g.c, std::max<int64_t>(64, channel_grain(g)), [&](int64_t c0, int64_t c1) {
      for (int k = 0; k < K; ++k) std::fill(sums[k] + c0, sums[k] + c1, T(0));
      for (int64_t o = 0; o < g.outer; ++o) {
        for (int64_t c = c0; c < c1; ++c) {
          T v[K];
          term(c, o * g.c + c, v);
          for (int k = 0; k < K; ++k) sums[k][c] += v[k];
        }
      }
    });
    return;
  }
  thread_pool::parallel_for(g.c, channel_grain(g), [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      T acc[K][8] = {};
      for (int64_t o = 0; o < g.outer; ++o) {
        const int64_t base = (o * g.c + c) * g.inner;
        int64_t i = 0;
        for (; i + 8 <= g.inner; i += 8) {
          for (int j = 0; j < 8; ++j) {
            T v[K];
            term(c, base + i + j, v);
            for (int k = 0; k < K; ++k) acc[k][j] += v[k];
          }
        }
        for (int j = 0; i < g.inner; ++i, ++j) {
          T v[K];
          term(c, base + i, v);
          for (int k = 0; k < K; ++k) acc[k][j] += v[k];
        }
      }
      for (int k = 0; k < K; ++k) {
        const T* a = acc[k];
        sums[k][c] = ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]));
      }
    }
  });
}

// out[i] (req) = f(c, i) over every element, rows of `inner` in parallel. epi, when given,
// then runs on each finished span of rows (contiguous, still in cache).
template <class T, class F>
void channel_map(const BNGeom& g, T* out, Req req, F f, const Epilogue* epi = nullptr) {
  if (req == Req::kNull) return;
  const int64_t rows = g.outer * g.c, span = std::max<int64_t>(1, kBnGrain / g.inner);
  thread_pool::parallel_for(rows, span, [&](int64_t r0, int64_t r1) {
    for (int64_t s0 = r0; s0 < r1; s0 += span) {  // spans of about kBnGrain elements
      const int64_t s1 = std::min(r1, s0 + span);
      for (int64_t r = s0; r < s1; ++r) {
        const int64_t c = r % g.c, b = r * g.inner, e = b + g.inner;
        if (req == Req::kAdd) {
          for (int64_t i = b; i < e; ++i) out[i] += f(c, i);
        } else {
          for (int64_t i = b; i < e; ++i) out[i] = f(c, i);
        }
      }
      if (epi && *epi) (*epi)(out + s0 * g.inner, (s1 - s0) * g.inner);
    }
  });
}

// The moving statistics as BatchNorm normalizes with them (inference, use_global_stats).
template <class T>
void moving_stats(const BNParam& p, const T* mm, const T* mv, int64_t c, T* mean, T* invstd) {
  for (int64_t i = 0; i < c; ++i) {
    mean[i] = mm[i];
    invstd[i] = T(1) / std::sqrt(mv[i] + T(p.eps));
  }
}

// The factor of (x - mean) of channel i.
template <class T>
T scale_of(const BNParam& p, const T* gamma, int64_t i, T invstd) {
  return (p.fix_gamma ? T(1) : gamma[i]) * invstd;
}

// The hidden outputs (mean, inverse std) with their requests, and the factor of (x - mean).
template <class T>
void put_stats(const OpContext& ctx, const BNParam& p, const T* gamma, const T* mean, const T* invstd,
               int64_t c, const std::vector<TBlob>& out, T* scale) {
  for (int64_t i = 0; i < c; ++i) {
    put(out[1].ptr<T>(), i, mean[i], ctx.req[1]);
    put(out[2].ptr<T>(), i, invstd[i], ctx.req[2]);
    scale[i] = scale_of(p, gamma, i, invstd[i]);
  }
}

// Forward: the statistics per channel (two passes: mean, then the variance around it), then
// out = (x - mean) * gamma * invstd + beta in one pass.
template <class T>
void bn_forward(const OpContext& ctx, const std::vector<TBlob>& in,
                const std::vector<TBlob>& out, const Epilogue* epi = nullptr) {
  const auto& p = ctx.param<BNParam>();
  BNGeom g = bn_geom(p, in[0].shape, "BatchNorm");
  const T* x = in[0].ptr<T>();
  const T* gamma = in[1].ptr<T>();
  const T* beta = in[2].ptr<T>();
  T* mm = in[3].ptr<T>();
  T* mv = in[4].ptr<T>();
  T* y = out[0].ptr<T>();
  std::vector<T> mean(g.c), invstd(g.c), scale(g.c);
  const bool batch_stats = ctx.is_train && !p.use_global_stats;
  if (batch_stats) {
    std::vector<T> var(g.c);
    T* s1[1] = {mean.data()};
    channel_sums<1, T>(g, s1, [&](int64_t, int64_t i, T* v) { v[0] = x[i]; });
    for (int64_t c = 0; c < g.c; ++c) mean[c] = g.m ? mean[c] / T(g.m) : T(0);
    T* s2[1] = {var.data()};
    const T* mp = mean.data();
    channel_sums<1, T>(g, s2, [&](int64_t c, int64_t i, T* v) {
      T d = x[i] - mp[c];
      v[0] = d * d;
    });
    for (int64_t c = 0; c < g.c; ++c) {
      T vc = g.m ? var[c] / T(g.m) : T(0);
      invstd[c] = vc == 0 && p.eps == 0 ? T(0) : T(1) / std::sqrt(vc + T(p.eps));
      mm[c] = mm[c] * T(p.momentum) + mean[c] * T(1 - p.momentum);
      mv[c] = mv[c] * T(p.momentum) + vc * T(1 - p.momentum);
    }
  } else {
    moving_stats(p, mm, mv, g.c, mean.data(), invstd.data());
  }
  put_stats(ctx, p, gamma, mean.data(), invstd.data(), g.c, out, scale.data());
  const T *mp = mean.data(), *sp = scale.data();
  channel_map(g, y, ctx.req[0], [&](int64_t c, int64_t i) { return (x[i] - mp[c]) * sp[c] + beta[c]; }, epi);
}

#if BRASS_TRAINING
// Training: dx = (dy - mean(dy) - xhat * mean(dy * xhat)) * gamma * invstd with
// xhat = (x - mean) * invstd; inference (or use_global_stats): dx = dy * gamma * invstd.
// dgamma = sum(dy * xhat) (0 with fix_gamma), dbeta = sum(dy).
template <class T>
void bn_backward(const OpContext& ctx, const std::vector<TBlob>& in,
                 const std::vector<TBlob>& out) {
  const auto& p = ctx.param<BNParam>();
  BNGeom g = bn_geom(p, in[1].shape, "_backward_BatchNorm");
  const T* dy = in[0].ptr<T>();
  const T* x = in[1].ptr<T>();
  const T* gamma = in[2].ptr<T>();
  const T* mean = in[3].ptr<T>();
  const T* invstd = in[4].ptr<T>();
  const bool batch_stats = ctx.is_train && !p.use_global_stats;
  std::vector<T> sg(g.c), sgx(g.c);
  T* sums[2] = {sg.data(), sgx.data()};
  channel_sums<2, T>(g, sums, [&](int64_t c, int64_t i, T* v) {
    v[0] = dy[i];
    v[1] = dy[i] * (x[i] - mean[c]);
  });
  // dx = dy * a[c] + (x - mean[c]) * b[c] + d[c], with the per-channel factors folded once.
  std::vector<T> a(g.c), b(g.c), d(g.c);
  for (int64_t c = 0; c < g.c; ++c) {
    const T is = invstd[c], w = p.fix_gamma ? T(1) : gamma[c];
    a[c] = w * is;
    b[c] = batch_stats ? -sgx[c] * is * is / T(g.m) * w * is : T(0);
    d[c] = batch_stats ? -sg[c] / T(g.m) * w * is : T(0);
    put(out[1].ptr<T>(), c, p.fix_gamma ? T(0) : sgx[c] * is, ctx.req[1]);
    put(out[2].ptr<T>(), c, sg[c], ctx.req[2]);
  }
  const T *ap = a.data(), *bp = b.data(), *dp = d.data();
  channel_map(g, out[0].ptr<T>(), ctx.req[0], [&](int64_t c, int64_t i) {
    return dy[i] * ap[c] + ((x[i] - mean[c]) * bp[c] + dp[c]);
  });
}
#endif  // BRASS_TRAINING

#if BRASS_ALL_OPS || BRASS_OP_BatchNorm
void bn_forward_cpu(const OpContext& c, const std::vector<TBlob>& in,
                    const std::vector<TBlob>& out) {
  dispatch_f32_f64(in[0].dtype, "BatchNorm", [&](auto tag) { bn_forward<decltype(tag)>(c, in, out); });
}
#endif

void bn_forward_epilogue(const OpContext& c, const std::vector<TBlob>& in,
                         const std::vector<TBlob>& out, const Epilogue& epi) {
  dispatch_f32_f64(in[0].dtype, "BatchNorm", [&](auto tag) { bn_forward<decltype(tag)>(c, in, out, &epi); });
}
// kernel::derived_cached's kind for BatchNorm's inverse std and scale (the convolutions' are
// 1 to 3).
constexpr int kInvStdKind = 4;

template <class T>
void bn_inference(const OpContext& ctx, const std::vector<TBlob>& in, const std::vector<TBlob>& out, T* mean,
                  T* scale, const uint64_t* versions) {
  const auto& p = ctx.param<BNParam>();
  const int64_t c = in[3].size();
  struct Kept {
    uint64_t gamma;  // the version of gamma they were made from
    double eps;
    bool fix_gamma;
    std::vector<T> invstd, scale;
  };
  // Kept under the moving variance's address and version; another gamma (or a node with
  // other parameters on the same arrays) computes afresh.
  std::shared_ptr<const Kept> kept;
  if (versions && versions[0] && versions[3]) {
    kept = std::static_pointer_cast<const Kept>(kernel::derived_cached(
        in[4].ptr<T>(), kInvStdKind, c, int64_t(sizeof(T)), versions[3], [&] {
          auto k = std::make_shared<Kept>();
          k->gamma = versions[0];
          k->eps = p.eps;
          k->fix_gamma = p.fix_gamma;
          k->invstd.resize(size_t(c));
          k->scale.resize(size_t(c));
          moving_stats(p, in[3].ptr<T>(), in[4].ptr<T>(), c, mean, k->invstd.data());
          const T* gamma = in[1].ptr<T>();
          for (int64_t i = 0; i < c; ++i) k->scale[size_t(i)] = scale_of(p, gamma, i, k->invstd[size_t(i)]);
          return std::make_pair(std::shared_ptr<const void>(k), size_t(2 * c) * sizeof(T));
        }));
    if (kept->gamma != versions[0] || kept->eps != p.eps || kept->fix_gamma != p.fix_gamma) kept.reset();
  }
  if (!kept) {
    std::vector<T> invstd(static_cast<size_t>(c));
    moving_stats(p, in[3].ptr<T>(), in[4].ptr<T>(), c, mean, invstd.data());
    put_stats(ctx, p, in[1].ptr<T>(), mean, invstd.data(), c, out, scale);
    return;
  }
  const T* mm = in[3].ptr<T>();
  std::copy(mm, mm + c, mean);
  std::copy(kept->scale.begin(), kept->scale.end(), scale);
  for (int64_t i = 0; i < c; ++i) {
    put(out[1].ptr<T>(), i, mean[i], ctx.req[1]);
    put(out[2].ptr<T>(), i, kept->invstd[size_t(i)], ctx.req[2]);
  }
}
void bn_inference_affine(const OpContext& ctx, const std::vector<TBlob>& in, const std::vector<TBlob>& out,
                         float* mean, float* scale, const uint64_t* versions) {
  bn_inference(ctx, in, out, mean, scale, versions);
}
void bn_inference_affine(const OpContext& ctx, const std::vector<TBlob>& in, const std::vector<TBlob>& out,
                         double* mean, double* scale, const uint64_t* versions) {
  bn_inference(ctx, in, out, mean, scale, versions);
}

#if BRASS_TRAINING
void bn_backward_cpu(const OpContext& c, const std::vector<TBlob>& in,
                     const std::vector<TBlob>& out) {
  dispatch_f32_f64(in[0].dtype, "BatchNorm", [&](auto tag) { bn_backward<decltype(tag)>(c, in, out); });
}
#endif

[[maybe_unused]] const bool kRegistered = [] {
#if BRASS_ALL_OPS || BRASS_OP_BatchNorm
  OpRegistry::get().add("BatchNorm")
      .describe("Batch normalization over every axis but `axis` (the channel axis):\n\n"
                "    out = (data - mean) / sqrt(var + eps) * gamma + beta\n\n"
                "In training (autograd.record / train_mode, and not use_global_stats) mean and "
                "var are the batch statistics (biased variance) and the moving statistics are "
                "updated: moving = momentum * moving + (1 - momentum) * batch. Otherwise the "
                "moving statistics are used. With output_mean_var=True the mean and the inverse "
                "standard deviation 1/sqrt(var + eps) are output too.")
      .inputs({"data", "gamma", "beta", "moving_mean", "moving_var"})
      .set_num_outputs(3)
      .visible_outputs([](const NodeAttrs& a) {
        return a.param<BNParam>().output_mean_var ? 3 : 1;
      })
      .mutates({3, 4})
      .mutates_only_in_training()
      .outputs_named({"output", "mean", "var"})
      .init_inputs({{3, "[\"zero\", {}]"}, {4, "[\"one\", {}]"}})
      .params<BNParam>()
      .shape_fn(bn_shape).type_fn(bn_type).partial_infer()
      .cpu(nn_dtype::cpu_small_floats(bn_forward_cpu))
      .grad([](const NodePtr& n, const grad::Entries& og) {
        // MXNet ignores the gradients of the mean and var outputs; the moving statistics are
        // aux states and get none.
        if (og[0].empty()) return grad::Entries(5);
        NodePtr b = grad::node(
            "_backward_BatchNorm",
            {og[0], grad::in(n, 0), grad::in(n, 1), grad::out(n, 1), grad::out(n, 2)},
            n->attrs->dict);
        return grad::Entries{grad::out(b, 0), grad::out(b, 1), grad::out(b, 2), NodeEntry(),
                             NodeEntry()};
      });
#endif
#if BRASS_TRAINING
  // No gradient of its own: BatchNorm has no second derivative.
  OpRegistry::get().add("_backward_BatchNorm")
      .describe("The gradient of BatchNorm with respect to data, gamma and beta (inputs: "
                "out_grad, data, gamma, and BatchNorm's hidden mean and inverse-std outputs). "
                "Uses the batch-statistics formula when the backward pass runs in training "
                "mode and use_global_stats is off.")
      .inputs({"out_grad", "data", "gamma", "mean", "var"})
      .set_num_outputs(3)
      .params<BNParam>()
      .shape_fn(bwd_shape).type_fn(bn_type).partial_infer()
      .cpu(nn_dtype::cpu_small_floats(bn_backward_cpu));
#endif
  return true;
}();

}  // namespace bn_ops
}  // namespace brass
