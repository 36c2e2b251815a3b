// Parameters, geometry and math of the normalization operators (norm.cc: LayerNorm,
// InstanceNorm, GroupNorm, L2Normalization, LRN and their gradient ops), shared by the CPU
// kernels and the CUDA kernels (cuda/nn_norm.cu). The row functions are the CPU kernels (one
// row per task, summed in order); the CUDA kernels run the same formulas as chunked
// reductions over the same geometry. LRN's element functions serve both devices.
//
// LayerNorm, InstanceNorm, GroupNorm and L2Normalization all normalize "rows": the data viewed
// as (outer, len, inner), row r = (o, i) holding the len elements o*len*inner + k*inner + i.
// The affine ones scale element k of row r by gamma[(r % rmod) * kblocks + k / kdiv]: LayerNorm
// by k (the normalized axis), InstanceNorm by the channel r % C, GroupNorm by the channel
// (or, with per-group gamma, by the group).
#pragma once

#include <cmath>
#include <cstdint>
#include <string>

#include "base/xinline.h"
#include "op/operator.h"

namespace brass {
namespace norm_ops {

struct LayerNormParam {
  int axis;
  double eps;
  bool output_mean_var;
  static void declare(ParamSpec<LayerNormParam>& s) {
    s.field("axis", &LayerNormParam::axis).set_default(-1)
        .describe("The axis to normalize along (its extent is gamma's and beta's length).");
    s.field("eps", &LayerNormParam::eps).set_default(1e-5).set_lower_bound(0)
        .describe("Added to the variance before the square root.");
    s.field("output_mean_var", &LayerNormParam::output_mean_var).set_default(false)
        .describe("Also output the mean and the standard deviation sqrt(var + eps).");
  }
};

struct InstanceNormParam {
  double eps;
  static void declare(ParamSpec<InstanceNormParam>& s) {
    s.field("eps", &InstanceNormParam::eps).set_default(1e-3).set_lower_bound(0)
        .describe("Added to the variance before the square root.");
  }
};

struct GroupNormParam {
  int num_groups;
  double eps;
  bool output_mean_var;
  static void declare(ParamSpec<GroupNormParam>& s) {
    s.field("num_groups", &GroupNormParam::num_groups).set_default(1).set_lower_bound(1)
        .describe("The number of groups the channels (axis 1) are split into.");
    s.field("eps", &GroupNormParam::eps).set_default(1e-5).set_lower_bound(0)
        .describe("Added to the variance before the square root.");
    s.field("output_mean_var", &GroupNormParam::output_mean_var).set_default(false)
        .describe("Also output the mean and the standard deviation sqrt(var + eps), (N, "
                  "num_groups).");
  }
};

struct L2NormParam {
  double eps;
  std::string mode;
  static void declare(ParamSpec<L2NormParam>& s) {
    s.field("eps", &L2NormParam::eps).set_default(1e-10).set_lower_bound(0)
        .describe("Added to the sum of squares before the square root.");
    s.field("mode", &L2NormParam::mode).set_default("instance")
        .set_choices({"channel", "instance", "spatial"})
        .describe("instance: one norm per sample (all axes but 0); channel: one norm per "
                  "sample and position (across axis 1); spatial: one norm per sample and "
                  "channel (across axes 2...).");
  }
};

struct LRNParam {
  double alpha, beta, knorm;
  int nsize;
  static void declare(ParamSpec<LRNParam>& s) {
    s.field("alpha", &LRNParam::alpha).set_default(1e-4)
        .describe("The scale of the sum of squares (divided by nsize).");
    s.field("beta", &LRNParam::beta).set_default(0.75).describe("The exponent.");
    s.field("knorm", &LRNParam::knorm).set_default(2.0).describe("The additive constant k.");
    s.field("nsize", &LRNParam::nsize).set_lower_bound(1)
        .describe("The window width in channels (odd).");
  }
};

// ---- geometry ------------------------------------------------------------------------------
struct RowGeom {
  int64_t rows, len, inner;
  int64_t rmod, kdiv, kblocks;  // gamma index of (r, k): (r % rmod) * kblocks + k / kdiv
  int64_t gsize;                // gamma's length
};

BRASS_XINLINE int64_t row_elem(const RowGeom& g, int64_t r, int64_t k) {
  return (r / g.inner) * g.len * g.inner + k * g.inner + r % g.inner;
}
BRASS_XINLINE int64_t gamma_index(const RowGeom& g, int64_t r, int64_t k) {
  return (r % g.rmod) * g.kblocks + k / g.kdiv;
}
// The row r and position k of element e (the inverse of row_elem).
BRASS_XINLINE void elem_row(const RowGeom& g, int64_t e, int64_t* r, int64_t* k) {
  int64_t span = g.len * g.inner, rem = e % span;
  *k = rem / g.inner;
  *r = (e / span) * g.inner + rem % g.inner;
}
// gamma[j] scales rows jr, jr + rmod, ... at k in [k0, k0 + kn): kn elements in each of
// rows / rmod rows; element t of that list is row jr + (t / kn) * rmod, position k0 + t % kn.
BRASS_XINLINE void gamma_span(const RowGeom& g, int64_t j, int64_t* jr, int64_t* k0,
                              int64_t* kn) {
  *jr = j / g.kblocks;
  *k0 = (j % g.kblocks) * g.kdiv;
  *kn = *k0 + g.kdiv < g.len ? g.kdiv : g.len - *k0;
  if (*kn < 0) *kn = 0;  // zero-size rows
}

inline int64_t extent_product(const Shape& s, int from, int to) {
  int64_t p = 1;
  for (int i = from; i < to; ++i) p *= s[i];
  return p;
}

inline int64_t at_least_1(int64_t v) { return v > 0 ? v : 1; }

// LayerNorm: rows along `axis`; gamma by k.
inline RowGeom layer_norm_geom(const LayerNormParam& p, const Shape& d, const char* op) {
  if (d.ndim() < 1)
    fail(BRASS_ERR_SHAPE, op, ": data must have at least 1 dimension, got shape ", d);
  int ax = normalize_axis(p.axis, d.ndim(), op);
  int64_t outer = extent_product(d, 0, ax), len = d[ax];
  int64_t inner = extent_product(d, ax + 1, d.ndim());
  return RowGeom{outer * inner, len, at_least_1(inner), 1, 1, len, len};
}

// The mean and std outputs of LayerNorm: the data's shape with the axis reduced to 1.
inline Shape layer_norm_stat_shape(const LayerNormParam& p, const Shape& d, const char* op) {
  Shape s = d;
  s[normalize_axis(p.axis, d.ndim(), op)] = 1;
  return s;
}

inline void check_nc(const Shape& d, const char* op) {
  if (d.ndim() < 3)
    fail(BRASS_ERR_SHAPE, op, ": data must have at least 3 dimensions (N, C, ...), got shape ", d);
}

// InstanceNorm: one row per (sample, channel); gamma by the channel.
inline RowGeom instance_norm_geom(const Shape& d, const char* op) {
  check_nc(d, op);
  int64_t n = d[0], c = d[1], s = extent_product(d, 2, d.ndim());
  return RowGeom{n * c, s, 1, at_least_1(c), at_least_1(s), 1, c};
}

inline void check_groups(const GroupNormParam& p, const Shape& d, const char* op) {
  check_nc(d, op);
  if (d[1] % p.num_groups != 0)
    fail(BRASS_ERR_SHAPE, op, ": num_groups=", p.num_groups, " does not divide the ", d[1],
         " channels of data ", d);
}

// GroupNorm: one row per (sample, group); gamma by the channel (gamma of length C) or by the
// group (length num_groups, MXNet 1.x).
inline RowGeom group_norm_geom(const GroupNormParam& p, const Shape& d, const Shape& gamma,
                               const char* op) {
  check_groups(p, d, op);
  int64_t g = p.num_groups, cpg = d[1] / g, s = extent_product(d, 2, d.ndim());
  bool per_channel = gamma.ndim() == 1 && gamma[0] == d[1] && d[1] != g;
  if (per_channel) return RowGeom{d[0] * g, cpg * s, 1, g, at_least_1(s), cpg, d[1]};
  return RowGeom{d[0] * g, cpg * s, 1, g, at_least_1(cpg * s), 1, g};
}

// L2Normalization: instance: one row per sample; channel: one per (sample, position) across
// the channels; spatial: one per (sample, channel).
inline RowGeom l2_geom(const L2NormParam& p, const Shape& d, const char* op) {
  if (p.mode == "instance") {
    if (d.ndim() < 1)
      fail(BRASS_ERR_SHAPE, op, ": data must have at least 1 dimension, got shape ", d);
    return RowGeom{d[0], extent_product(d, 1, d.ndim()), 1, 1, 1, 0, 0};
  }
  if (d.ndim() < 3)
    fail(BRASS_ERR_SHAPE, op, ": mode='", p.mode, "' needs data of at least 3 dimensions, got "
         "shape ", d);
  int64_t s = extent_product(d, 2, d.ndim());
  if (p.mode == "channel") return RowGeom{d[0] * s, d[1], at_least_1(s), 1, 1, 0, 0};
  return RowGeom{d[0] * d[1], s, 1, 1, 1, 0, 0};
}

inline Shape l2_norm_shape(const L2NormParam& p, const Shape& d) {
  if (p.mode == "instance") return Shape{d[0]};
  if (p.mode == "spatial") return Shape{d[0], d[1]};
  Shape s = d;
  s[1] = 1;
  return s;
}

// LRN: (N, C, H, W) viewed as (N, C, S); the window is nsize channels centred on each.
struct LRNGeom {
  int64_t n, c, s;
  int half;
};

inline LRNGeom lrn_geom(const LRNParam& p, const Shape& d, const char* op) {
  if (d.ndim() != 4)
    fail(BRASS_ERR_SHAPE, op, ": data must be 4-D (N, C, H, W), got shape ", d);
  if (p.nsize % 2 != 1)
    fail(BRASS_ERR_INVALID_ARGUMENT, op, ": nsize must be odd, got ", p.nsize);
  return LRNGeom{d[0], d[1], d[2] * d[3], p.nsize / 2};
}

// The geometry, eps and stat kind (InstanceNorm: the variance, else the std) of the affine op
// (LayerNorm, InstanceNorm, GroupNorm or its gradient op) a kernel runs for.
inline RowGeom affine_geom(const OpContext& ctx, const TBlob& data, const TBlob& gamma,
                           const char* op) {
  const std::string& name = ctx.attrs->op->name;
  if (name == "LayerNorm" || name == "_backward_LayerNorm")
    return layer_norm_geom(ctx.param<LayerNormParam>(), data.shape, op);
  if (name == "InstanceNorm" || name == "_backward_InstanceNorm")
    return instance_norm_geom(data.shape, op);
  return group_norm_geom(ctx.param<GroupNormParam>(), data.shape, gamma.shape, op);
}

inline double affine_eps(const OpContext& ctx) {
  const std::string& name = ctx.attrs->op->name;
  if (name == "LayerNorm" || name == "_backward_LayerNorm")
    return ctx.param<LayerNormParam>().eps;
  if (name == "InstanceNorm" || name == "_backward_InstanceNorm")
    return ctx.param<InstanceNormParam>().eps;
  return ctx.param<GroupNormParam>().eps;
}

inline bool stat_is_var(const OpContext& ctx) {
  return ctx.attrs->op->name.find("InstanceNorm") != std::string::npos;
}

// ---- row math ------------------------------------------------------------------------------
// Write request as an int (device code too): 0 null, 3 add, else write.
template <class T, class A>
BRASS_XINLINE void put(T* p, int64_t i, A v, int req) {
  if (req == int(Req::kAdd)) p[i] = T(A(p[i]) + v);
  else if (req != int(Req::kNull)) p[i] = T(v);
}

template <class A>
BRASS_XINLINE A inv_count(int64_t n) { return n > 0 ? A(1) / A(n) : A(0); }

// Row r of LayerNorm/InstanceNorm/GroupNorm: mean, biased variance, out = (x - mean) /
// sqrt(var + eps) * gamma + beta; stat gets var (InstanceNorm) or sqrt(var + eps).
template <class A, class T>
inline void affine_norm_row(const RowGeom& g, int64_t r, const T* x, const T* gamma,
                            const T* beta, T* y, T* mean_out, T* stat_out, A eps,
                            bool stat_is_var, int req_y, int req_mean, int req_stat) {
  A s = A(0);
  for (int64_t k = 0; k < g.len; ++k) s += A(x[row_elem(g, r, k)]);
  A mean = s * inv_count<A>(g.len);
  A v = A(0);
  for (int64_t k = 0; k < g.len; ++k) {
    A d = A(x[row_elem(g, r, k)]) - mean;
    v += d * d;
  }
  A var = v * inv_count<A>(g.len);
  A sd = std::sqrt(var + eps);
  put(mean_out, r, mean, req_mean);
  put(stat_out, r, stat_is_var ? var : sd, req_stat);
  if (req_y == int(Req::kNull)) return;
  for (int64_t k = 0; k < g.len; ++k) {
    int64_t e = row_elem(g, r, k), j = gamma_index(g, r, k);
    put(y, e, (A(x[e]) - mean) / sd * A(gamma[j]) + A(beta[j]), req_y);
  }
}

// d data of row r: with xhat = (x - mean) / sd and w = dy * gamma,
// dx = (w - mean(w) - xhat * mean(w * xhat)) / sd.
template <class A, class T>
inline void affine_norm_grad_row(const RowGeom& g, int64_t r, const T* dy, const T* x,
                                 const T* gamma, const T* mean, const T* stat, T* dx,
                                 A eps, bool stat_is_var, int req) {
  A m = A(mean[r]);
  A sd = stat_is_var ? std::sqrt(A(stat[r]) + eps) : A(stat[r]);
  A sw = A(0), swx = A(0);
  for (int64_t k = 0; k < g.len; ++k) {
    int64_t e = row_elem(g, r, k);
    A w = A(dy[e]) * A(gamma[gamma_index(g, r, k)]);
    sw += w;
    swx += w * (A(x[e]) - m) / sd;
  }
  A mw = sw * inv_count<A>(g.len), mwx = swx * inv_count<A>(g.len);
  for (int64_t k = 0; k < g.len; ++k) {
    int64_t e = row_elem(g, r, k);
    A w = A(dy[e]) * A(gamma[gamma_index(g, r, k)]);
    put(dx, e, (w - mw - (A(x[e]) - m) / sd * mwx) / sd, req);
  }
}

// d gamma[j] = sum dy * xhat and d beta[j] = sum dy over the elements gamma[j] scales: rows
// jr, jr + rmod, ... and, in each, k in [jk * kdiv, (jk + 1) * kdiv).
template <class A, class T>
inline void affine_norm_param_grad(const RowGeom& g, int64_t j, const T* dy, const T* x,
                                   const T* mean, const T* stat, T* dgamma, T* dbeta,
                                   A eps, bool stat_is_var, int req_gamma, int req_beta) {
  int64_t jr, k0, kn;
  gamma_span(g, j, &jr, &k0, &kn);
  A sg = A(0), sgx = A(0);
  for (int64_t r = jr; r < g.rows; r += g.rmod) {
    A m = A(mean[r]);
    A sd = stat_is_var ? std::sqrt(A(stat[r]) + eps) : A(stat[r]);
    for (int64_t k = k0; k < k0 + kn; ++k) {
      int64_t e = row_elem(g, r, k);
      sg += A(dy[e]);
      sgx += A(dy[e]) * (A(x[e]) - m) / sd;
    }
  }
  put(dgamma, j, sgx, req_gamma);
  put(dbeta, j, sg, req_beta);
}

// Row r of L2Normalization: norm = sqrt(sum x^2 + eps), out = x / norm.
template <class A, class T>
inline void l2_row(const RowGeom& g, int64_t r, const T* x, T* y, T* norm, A eps,
                   int req_y, int req_norm) {
  A s = A(0);
  for (int64_t k = 0; k < g.len; ++k) {
    A v = A(x[row_elem(g, r, k)]);
    s += v * v;
  }
  A n = std::sqrt(s + eps);
  put(norm, r, n, req_norm);
  if (req_y == int(Req::kNull)) return;
  for (int64_t k = 0; k < g.len; ++k) {
    int64_t e = row_elem(g, r, k);
    put(y, e, A(x[e]) / n, req_y);
  }
}

// dx = (dy - out * sum(dy * out)) / norm, from the forward's output and norm (as MXNet).
template <class A, class T>
inline void l2_grad_row(const RowGeom& g, int64_t r, const T* dy, const T* y,
                        const T* norm, T* dx, int req) {
  A s = A(0);
  for (int64_t k = 0; k < g.len; ++k) {
    int64_t e = row_elem(g, r, k);
    s += A(dy[e]) * A(y[e]);
  }
  A n = A(norm[r]);
  for (int64_t k = 0; k < g.len; ++k) {
    int64_t e = row_elem(g, r, k);
    put(dx, e, (A(dy[e]) - A(y[e]) * s) / n, req);
  }
}

// The channel window [c0, c1] of element i of LRN's (N, C, S) view; base = element (n, 0, s).
BRASS_XINLINE void lrn_window(const LRNGeom& g, int64_t i, int64_t* base, int64_t* c0,
                              int64_t* c1) {
  int64_t s = i % g.s, c = (i / g.s) % g.c, n = i / (g.s * g.c);
  *base = n * g.c * g.s + s;
  *c0 = c - g.half > 0 ? c - g.half : 0;
  *c1 = c + g.half < g.c - 1 ? c + g.half : g.c - 1;
}

// Element i: tmp_norm = knorm + alpha / nsize * sum over the window of x^2,
// out = x * tmp_norm^-beta.
template <class A, class T>
BRASS_XINLINE void lrn_at(const LRNGeom& g, int64_t i, const T* x, T* y, T* tmp_norm,
                          A salpha, A knorm, A beta, int req_y, int req_norm) {
  int64_t base, c0, c1;
  lrn_window(g, i, &base, &c0, &c1);
  A s = A(0);
  for (int64_t c = c0; c <= c1; ++c) {
    A v = A(x[base + c * g.s]);
    s += v * v;
  }
  A nrm = knorm + salpha * s;
  put(tmp_norm, i, nrm, req_norm);
  put(y, i, A(x[i]) * std::pow(nrm, -beta), req_y);
}

// dx_i = dy_i * norm_i^-beta - 2 beta alpha / nsize * x_i * sum over the window of
// dy * x * norm^(-beta - 1) (the window is symmetric, so the same channels).
template <class A, class T>
BRASS_XINLINE void lrn_grad_at(const LRNGeom& g, int64_t i, const T* dy, const T* x,
                               const T* tmp_norm, T* dx, A salpha, A beta, int req) {
  int64_t base, c0, c1;
  lrn_window(g, i, &base, &c0, &c1);
  A s = A(0);
  for (int64_t c = c0; c <= c1; ++c) {
    int64_t e = base + c * g.s;
    s += A(dy[e]) * A(x[e]) * std::pow(A(tmp_norm[e]), -beta - A(1));
  }
  put(dx, i, A(dy[i]) * std::pow(A(tmp_norm[i]), -beta) - A(2) * beta * salpha * A(x[i]) * s,
      req);
}

}  // namespace norm_ops
}  // namespace brass
