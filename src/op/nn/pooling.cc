// Pooling (MXNet 1.x: max, avg, sum and lp over 1-D, 2-D and 3-D windows, channels first or
// last; conventions valid, full and same; global pooling) and its gradient op
// _backward_Pooling. The window arithmetic is in pool_params.h, shared with the CUDA kernels
// (cuda/nn_conv.cu); both devices compute the gradient as a gather per input element, so they
// agree and are deterministic.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <utility>
#include <vector>

#include "base/xinline.h"
#include "engine/thread_pool.h"
#include "kernel/cpu_features.h"
#include "op/grad.h"
#include "op/nn/nn_dtype.h"
#include "op/nn/pool_params.h"
#include "op/operator.h"

namespace brass {
namespace pool_ops {

#if BRASS_ALL_OPS || BRASS_OP_Pooling
bool pool_float_type(const NodeAttrs& a, std::vector<int>& in, std::vector<int>& out) {
  bool ok = infer::same_type(a, in, out);
  if (ok && !is_float(DType(out[0])))
    fail(BRASS_ERR_DTYPE, a.op->name, ": only floating-point data is supported, got ",
         dtype_name(DType(out[0])));
  return ok;
}

bool pool_shape(const NodeAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
  if (!in[0].known()) return false;
  PoolGeom g = pool_geom(attrs.param<PoolParam>(), in[0], "Pooling");
  infer::assign_shape(out[0], pool_out_shape(g), "Pooling", "output");
  return true;
}
#endif

#if BRASS_TRAINING
// _backward_Pooling(out_grad, data, out): the gradient of data.
bool bwd_shape(const NodeAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
  const char* op = "_backward_Pooling";
  if (!in[1].known()) return false;
  PoolGeom g = pool_geom(attrs.param<PoolParam>(), in[1], op);
  Shape os = pool_out_shape(g);
  infer::assign_shape(in[0], os, op, "out_grad");
  infer::assign_shape(in[2], os, op, "out");
  infer::assign_shape(out[0], in[1], op, "output");
  return true;
}
#endif

// Runs kernel(T(), C()) for the float storage type T of t and its compute type C.
template <class F>
void by_float(DType t, F&& kernel) {
  nn_dtype::dispatch_float(t, "Pooling", [&](auto v) {
    using T = decltype(v);
    kernel(T(), nn_dtype::Compute<T>());
  });
}

// Channels-first pooling by output rows. The windows along the last axis are worked out once
// per call; a row's windows along the first two axes once per row.
struct RowWindows {
  std::vector<int64_t> lo, hi, cnt;  // per output column: data columns [lo, hi), count factor
  // The longest run of output columns [full_lo, full_hi) whose windows are whole and evenly
  // spaced: column ox reads data columns ox * s[2] - p[2] + kx for kx < k[2].
  int64_t full_lo = 0, full_hi = 0;
  explicit RowWindows(const PoolGeom& g) {
    const size_t nw = static_cast<size_t>(g.o[2]);
    lo.resize(nw);
    hi.resize(nw);
    cnt.resize(nw);
    for (int64_t ox = 0, run = 0; ox < g.o[2]; ++ox) {
      int64_t oz[3] = {0, 0, ox};
      PoolWindow w = pool_window(g, oz);
      lo[size_t(ox)] = w.lo[2];
      hi[size_t(ox)] = w.hi[2];
      cnt[size_t(ox)] = w.axis[2];
      const bool full = w.lo[2] == ox * g.s[2] - g.p[2] && w.hi[2] == w.lo[2] + g.k[2];
      run = full ? run + 1 : 0;
      if (run > full_hi - full_lo) {
        full_lo = ox + 1 - run;
        full_hi = ox + 1;
      }
    }
  }
};

// Output row r (over n*c planes, then the first two output axes): its plane and window.
struct RowAt {
  int64_t pl, oz, oy, outer;  // outer: the first two axes' count factor
  PoolWindow w;
  RowAt(const PoolGeom& g, int64_t r) {
    oy = r % g.o[1];
    oz = (r / g.o[1]) % g.o[0];
    pl = r / (g.o[0] * g.o[1]);
    int64_t at[3] = {oz, oy, 0};
    w = pool_window(g, at);
    outer = w.axis[0] * w.axis[1];
  }
};

// Max and sums over output columns [f0, f1), whose windows are whole: column ox takes
// row[ox * s - p + kx] for kx in order. Built for the active ISA's vectors (float).
template <class T, class C>
BRASS_ALWAYS_INLINE inline void pool_taps_at(const T* __restrict row, C* __restrict acc, int64_t s, int64_t k,
                                             int64_t p, bool max, int64_t f0, int64_t f1) {
  for (int64_t kx = 0; kx < k; ++kx) {
    const int64_t at = kx - p;
    if (max) {
      for (int64_t ox = f0; ox < f1; ++ox) {
        const C u = C(row[ox * s + at]);
        acc[ox] = u > acc[ox] ? u : acc[ox];
      }
    } else {
      for (int64_t ox = f0; ox < f1; ++ox) acc[ox] += C(row[ox * s + at]);
    }
  }
}

#if defined(__GNUC__)
#if !defined(__clang__)
// Inlined throughout (no vector crosses a call): GCC's note on passing 64-byte vectors without
// AVX-512 does not apply.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"
#endif
// Max pooling over whole windows in explicit vectors of kBytes (GCC's and Clang's vector
// extensions), for strides 1 and 2: output columns [f0, f1) (at least a vector's worth) take
// rows[0 .. nrows) (the window's data rows, in order) tap by tap, kU vectors of outputs at a
// time as independent chains, each output its elements in pool_taps_at's order. The last
// vector overlaps the one before it rather than leaving a scalar tail: the maximum taken
// again over the same elements changes nothing (the first of equal maxima stays), so the same
// bits.
template <int S, int kBytes, int... I>
BRASS_ALWAYS_INLINE inline void max_rows_lanes(const float* const* rows, int64_t nrows, float* acc, int64_t k,
                                               int64_t p, int64_t f0, int64_t f1, std::integer_sequence<int, I...>) {
  using V = typename kernel::Lanes<float, kBytes>::V;
  using M = typename kernel::Lanes<float, kBytes>::M;
  constexpr int L = int(kernel::Lanes<float, kBytes>::kLanes);
  constexpr int kU = 4;
  static_assert(sizeof...(I) == L, "one index per lane");
  auto ld = [](V& v, const float* q) BRASS_ALWAYS_INLINE { std::memcpy(&v, q, sizeof v); };
  // a = max(a, the data under outputs o .. o+L-1 at tap src), lane by lane as pool_taps_at
  // (u > a ? u : a). Stride 2: the even lanes of src[0 .. L) and the odd ones of
  // src[L-1 .. 2L-1), so nothing past the last tap is read. (Vectors by reference: nothing
  // returns one.)
  auto take = [&](V& a, const float* src) BRASS_ALWAYS_INLINE {
    V u;
    if constexpr (S == 1) {
      ld(u, src);
    } else {
      V lo, hi;
      ld(lo, src);
      ld(hi, src + L - 1);
#if defined(__clang__)
      u = __builtin_shufflevector(lo, hi, (I < L / 2 ? 2 * I : L + 2 * (I - L / 2) + 1)...);
#else
      const M pick = {(I < L / 2 ? 2 * I : L + 2 * (I - L / 2) + 1)...};
      u = __builtin_shuffle(lo, hi, pick);
#endif
    }
    const M gt = u > a;
    a = (V)(((M)u & gt) | ((M)a & ~gt));
  };
  int64_t o = f0;
  for (; o + kU * L <= f1; o += kU * L) {
    V a[kU];
    for (int u = 0; u < kU; ++u) ld(a[u], acc + o + u * L);
    for (int64_t r = 0; r < nrows; ++r)
      for (int64_t kx = 0; kx < k; ++kx) {
        const float* src = rows[r] + o * S - p + kx;
        for (int u = 0; u < kU; ++u) take(a[u], src + u * L * S);
      }
    for (int u = 0; u < kU; ++u) std::memcpy(acc + o + u * L, &a[u], sizeof(V));
  }
  for (; o < f1; o += L) {
    if (o + L > f1) o = f1 - L;
    V a;
    ld(a, acc + o);
    for (int64_t r = 0; r < nrows; ++r)
      for (int64_t kx = 0; kx < k; ++kx) take(a, rows[r] + o * S - p + kx);
    std::memcpy(acc + o, &a, sizeof a);
  }
}
#if !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#endif

template <class T, class C>
void pool_taps(kernel::Isa isa, const PoolGeom& g, const T* row, C* acc, int64_t f0, int64_t f1) {
  const int64_t s = g.s[2], k = g.k[2], p = g.p[2];
  const bool max = g.type == kPoolMax;
  auto body = [&]() BRASS_ALWAYS_INLINE {
    // Strides 1 and 2 as constants, which the loops vectorize with.
    if (s == 1) pool_taps_at<T, C>(row, acc, 1, k, p, max, f0, f1);
    else if (s == 2) pool_taps_at<T, C>(row, acc, 2, k, p, max, f0, f1);
    else pool_taps_at<T, C>(row, acc, s, k, p, max, f0, f1);
  };
  if constexpr (std::is_same<T, float>::value) kernel::run_vectorized(isa, body);
  else body();
}

// Whether max_rows_lanes serves a row of outputs: float max pooling, stride 1 or 2 along the
// row, at least a vector of whole windows and at most kMaxRows data rows per window.
constexpr int64_t kMaxRows = 16;
template <class T, class C>
bool max_rows_fit(const PoolGeom& g, int64_t f0, int64_t f1) {
#if defined(__GNUC__)
  return std::is_same<T, float>::value && std::is_same<C, float>::value && g.type == kPoolMax &&
         (g.s[2] == 1 || g.s[2] == 2) && f1 - f0 >= 16 && g.k[0] * g.k[1] <= kMaxRows;
#else
  (void)g, (void)f0, (void)f1;
  return false;
#endif
}

template <class T, class C>
void pool_max_rows(kernel::Isa isa, const PoolGeom& g, const T* const* rows, int64_t nrows, C* acc, int64_t f0,
                   int64_t f1) {
#if defined(__GNUC__)
  if constexpr (std::is_same<T, float>::value && std::is_same<C, float>::value) {
    kernel::run_vectorized_width(isa, [&](auto kBytes) BRASS_ALWAYS_INLINE {
      constexpr int kB = decltype(kBytes)::value;
      const auto lanes = std::make_integer_sequence<int, kB / int(sizeof(float))>();
      if (g.s[2] == 1) max_rows_lanes<1, kB>(rows, nrows, acc, g.k[2], g.p[2], f0, f1, lanes);
      else max_rows_lanes<2, kB>(rows, nrows, acc, g.k[2], g.p[2], f0, f1, lanes);
    });
  }
#else
  (void)isa, (void)g, (void)rows, (void)nrows, (void)acc, (void)f0, (void)f1;
#endif
}

// An output's accumulated value finished (avg: divided by its window's count n; lp: the
// root) and stored with the request.
template <class T, class C>
BRASS_ALWAYS_INLINE inline void pool_put(const PoolGeom& g, C v, int64_t n, Req req, T* out) {
  if (g.type == kPoolAvg) v = n > 0 ? v / C(n) : C(0);
  else if (g.type == kPoolLp) v = lp_root(v, g.p_value);
  *out = req == Req::kAdd ? T(C(*out) + v) : T(v);
}

// One output per plane (global pooling): every plane has the same window, so planes go kPlanes
// side by side, each summing (or taking the max of) its window's elements in the order
// pool_rows takes them (the same bits), as independent chains instead of one long one.
template <class T, class C>
void pool_planes(const PoolGeom& g, const RowWindows& rw, const T* x, T* y, Req req, C neg_inf) {
  constexpr int64_t kPlanes = 16;
  const RowAt at(g, 0);
  const int64_t lo = rw.lo[0], hi = rw.hi[0], n = at.outer * rw.cnt[0];
  const int64_t planes = g.n * g.c;
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, kPlanes * g.xc));
  thread_pool::parallel_for((planes + kPlanes - 1) / kPlanes, grain, [&](int64_t b0, int64_t b1) {
    for (int64_t blk = b0; blk < b1; ++blk) {
      const int64_t p0 = blk * kPlanes, np = std::min(kPlanes, planes - p0);
      C acc[kPlanes];
      for (int64_t j = 0; j < kPlanes; ++j) acc[j] = g.type == kPoolMax ? neg_inf : C(0);
      const T* xp = x + p0 * g.xc;
      // A whole block's planes as a constant count, which the compiler keeps in registers.
      auto block = [&](auto count) {
        for (int64_t a = at.w.lo[0]; a < at.w.hi[0]; ++a)
          for (int64_t b = at.w.lo[1]; b < at.w.hi[1]; ++b)
            for (int64_t e = lo; e < hi; ++e) {
              const T* src = xp + a * g.xst[0] + b * g.xst[1] + e;
              for (int64_t j = 0; j < int64_t(count); ++j) {
                const C u = C(src[j * g.xc]);
                if (g.type == kPoolMax) acc[j] = u > acc[j] ? u : acc[j];
                else acc[j] += g.type == kPoolLp ? lp_pow(u, g.p_value) : u;
              }
            }
      };
      if (np == kPlanes) block(std::integral_constant<int64_t, kPlanes>());
      else block(np);
      for (int64_t j = 0; j < np; ++j) pool_put(g, acc[j], n, req, y + (p0 + j) * g.oc);
    }
  });
}

// Forward: each output row accumulates the data rows of its window in order (per output the
// same elements in the same order as pool_forward_at, so the same bits); rows in parallel.
template <class T, class C>
void pool_rows(const PoolGeom& g, const T* x, T* y, Req req, C neg_inf) {
  const int64_t ow = g.o[2];
  const RowWindows rw(g);
  if (g.o[0] * g.o[1] * ow == 1) {
    pool_planes<T, C>(g, rw, x, y, req, neg_inf);
    return;
  }
  const int64_t rows = g.n * g.c * g.o[0] * g.o[1];
  const int64_t grain = std::max<int64_t>(1, 4096 / std::max<int64_t>(1, ow * g.k[0] * g.k[1] * g.k[2]));
  // The whole, evenly spaced windows go tap by tap, in loops over the columns that vectorize
  // (each output takes its elements in the same order: the same bits); the others one by one.
  const bool taps = g.type != kPoolLp && rw.full_hi > rw.full_lo;
  const int64_t f0 = taps ? rw.full_lo : ow, f1 = taps ? rw.full_hi : ow;
  const kernel::Isa isa = kernel::active_isa();
  const bool max_write = g.type == kPoolMax && req != Req::kAdd;
  // Max pooling's whole windows in vectors over all of a window's rows at once.
  const bool by_rows = taps && max_rows_fit<T, C>(g, f0, f1);
  thread_pool::parallel_for(rows, grain, [&](int64_t r0, int64_t r1) {
    std::vector<C> acc(static_cast<size_t>(ow));
    for (int64_t r = r0; r < r1; ++r) {
      const RowAt at(g, r);
      const T* xp = x + at.pl * g.xc;
      std::fill(acc.begin(), acc.end(), g.type == kPoolMax ? neg_inf : C(0));
      const T* wrows[kMaxRows];  // the window's data rows, for max_rows_lanes
      int64_t nrows = 0;
      for (int64_t a = at.w.lo[0]; a < at.w.hi[0]; ++a)
        for (int64_t b = at.w.lo[1]; b < at.w.hi[1]; ++b) {
          const T* row = xp + a * g.xst[0] + b * g.xst[1];
          if (by_rows) wrows[nrows++] = row;
          auto window = [&](int64_t ox) {
            C v = acc[size_t(ox)];
            for (int64_t e = rw.lo[size_t(ox)]; e < rw.hi[size_t(ox)]; ++e) {
              C u = C(row[e]);
              if (g.type == kPoolMax) {
                if (u > v) v = u;
              } else {
                v += g.type == kPoolLp ? lp_pow(u, g.p_value) : u;
              }
            }
            acc[size_t(ox)] = v;
          };
          for (int64_t ox = 0; ox < f0; ++ox) window(ox);
          if (taps && !by_rows) pool_taps(isa, g, row, acc.data(), f0, f1);
          for (int64_t ox = f1; ox < ow; ++ox) window(ox);
        }
      if (by_rows) pool_max_rows(isa, g, wrows, nrows, acc.data(), f0, f1);
      T* out = y + at.pl * g.oc + at.oz * g.ost[0] + at.oy * g.ost[1];
      if (max_write) {  // nothing to finish: a copy, which vectorizes
        const C* a = acc.data();
        for (int64_t ox = 0; ox < ow; ++ox) out[ox] = T(a[ox]);
        continue;
      }
      for (int64_t ox = 0; ox < ow; ++ox) {
        pool_put(g, acc[size_t(ox)], at.outer * rw.cnt[size_t(ox)], req, out + ox);
      }
    }
  });
}

// Backward: per plane, each output in order adds its share of the gradient to the inputs of
// its window (max: the window's first maximum), so every input sums its outputs in the order
// pool_backward_at gathers them (the same bits); planes in parallel.
template <class T, class C>
void pool_bwd_rows(const PoolGeom& g, const T* dy, const T* x, const T* y, T* dx, Req req) {
  const int64_t ow = g.o[2], rows_per_plane = g.o[0] * g.o[1];
  const RowWindows rw(g);
  const C neg_inf = -std::numeric_limits<C>::infinity();
  thread_pool::parallel_for(g.n * g.c, 1, [&](int64_t p0, int64_t p1) {
    std::vector<C> acc(static_cast<size_t>(g.xc));
    for (int64_t pl = p0; pl < p1; ++pl) {
      std::fill(acc.begin(), acc.end(), C(0));
      const T* xp = x + pl * g.xc;
      for (int64_t r = pl * rows_per_plane; r < (pl + 1) * rows_per_plane; ++r) {
        const RowAt at(g, r);
        const int64_t orow = at.pl * g.oc + at.oz * g.ost[0] + at.oy * g.ost[1];
        for (int64_t ox = 0; ox < ow; ++ox) {
          const C gv = C(dy[orow + ox]);
          const int64_t lo = rw.lo[size_t(ox)], hi = rw.hi[size_t(ox)];
          if (g.type == kPoolMax) {
            C best = neg_inf;
            int64_t arg = -1;
            for (int64_t a = at.w.lo[0]; a < at.w.hi[0]; ++a)
              for (int64_t b = at.w.lo[1]; b < at.w.hi[1]; ++b)
                for (int64_t e = lo; e < hi; ++e) {
                  const int64_t off = a * g.xst[0] + b * g.xst[1] + e;
                  const C u = C(xp[off]);
                  if (u > best) {
                    best = u;
                    arg = off;
                  }
                }
            if (arg >= 0) acc[size_t(arg)] += gv;
            continue;
          }
          C share = gv;
          if (g.type == kPoolAvg) {
            const int64_t n = at.outer * rw.cnt[size_t(ox)];
            if (n <= 0) continue;
            share = gv / C(n);
          }
          const C yv = g.type == kPoolLp ? C(y[orow + ox]) : C(0);
          if (g.type == kPoolLp && g.p_value != 1 && yv == C(0)) continue;
          for (int64_t a = at.w.lo[0]; a < at.w.hi[0]; ++a)
            for (int64_t b = at.w.lo[1]; b < at.w.hi[1]; ++b)
              for (int64_t e = lo; e < hi; ++e) {
                const int64_t off = a * g.xst[0] + b * g.xst[1] + e;
                if (g.type == kPoolLp && g.p_value != 1)
                  acc[size_t(off)] += gv * lp_pow(C(xp[off]) / yv, g.p_value - 1);
                else
                  acc[size_t(off)] += share;
              }
        }
      }
      T* d = dx + pl * g.xc;
      for (int64_t i = 0; i < g.xc; ++i)
        d[i] = req == Req::kAdd ? T(C(d[i]) + acc[size_t(i)]) : T(acc[size_t(i)]);
    }
  });
}

#if BRASS_ALL_OPS || BRASS_OP_Pooling
void pool_cpu(const OpContext& ctx, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
  Req req = ctx.req[0];
  if (req == Req::kNull) return;
  PoolGeom g = pool_geom(ctx.param<PoolParam>(), in[0].shape, "Pooling");
  by_float(in[0].dtype, [&](auto tt, auto ct) {
    using T = decltype(tt);
    using C = decltype(ct);
    const T* x = in[0].ptr<T>();
    T* y = out[0].ptr<T>();
    C neg_inf = -std::numeric_limits<C>::infinity();
    if (!g.channels_last) {
      pool_rows<T, C>(g, x, y, req, neg_inf);
      return;
    }
    thread_pool::parallel_for(out[0].size(), 1024, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        int64_t o = pool_out_offset(g, i);
        C v = pool_forward_at<C>(x, g, i, neg_inf, nullptr);
        y[o] = req == Req::kAdd ? T(C(y[o]) + v) : T(v);
      }
    });
  });
}
#endif

#if BRASS_TRAINING
size_t bwd_temp(const NodeAttrs& attrs, const std::vector<TBlob>& in, const std::vector<TBlob>&) {
  const auto& p = attrs.param<PoolParam>();
  return p.pool_type == "max" ? size_t(in[0].size()) * sizeof(int64_t) : 0;
}

void pool_bwd_cpu(const OpContext& ctx, const std::vector<TBlob>& in,
                  const std::vector<TBlob>& out) {
  Req req = ctx.req[0];
  if (req == Req::kNull) return;
  PoolGeom g = pool_geom(ctx.param<PoolParam>(), in[1].shape, "_backward_Pooling");
  by_float(in[0].dtype, [&](auto tt, auto ct) {
    using T = decltype(tt);
    using C = decltype(ct);
    const T *dy = in[0].ptr<T>(), *x = in[1].ptr<T>(), *y = in[2].ptr<T>();
    T* dx = out[0].ptr<T>();
    if (!g.channels_last) {
      pool_bwd_rows<T, C>(g, dy, x, y, dx, req);
      return;
    }
    int64_t* argmax = static_cast<int64_t*>(ctx.temp);
    if (g.type == kPoolMax) {
      C neg_inf = -std::numeric_limits<C>::infinity();
      thread_pool::parallel_for(in[0].size(), 1024, [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i)
          pool_forward_at<C>(x, g, i, neg_inf, &argmax[pool_out_offset(g, i)]);
      });
    }
    thread_pool::parallel_for(out[0].size(), 1024, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        int64_t o;
        C v = pool_backward_at<C>(dy, argmax, x, y, g, i, &o);
        dx[o] = req == Req::kAdd ? T(C(dx[o]) + v) : T(v);
      }
    });
  });
}
#endif  // BRASS_TRAINING

[[maybe_unused]] const bool kRegistered = [] {
#if BRASS_ALL_OPS || BRASS_OP_Pooling
  OpRegistry::get().add("Pooling")
      .describe("Pooling of 1-D, 2-D or 3-D data (NCW, NCHW, NCDHW; or channels last with "
                "layout NWC, NHWC, NDHWC): max, avg, sum or lp ((sum x^p)^(1/p)) over windows.\n\n"
                "    out = floor((x + 2*pad - kernel) / stride) + 1   (pooling_convention "
                "'valid')\n    out = ceil((x + 2*pad - kernel) / stride) + 1    ('full')\n"
                "    out = ceil(x / stride)                           ('same', no pad)\n\n"
                "Max pooling pads with -inf; avg pooling counts padded zeros unless "
                "count_include_pad=False; global_pool pools each whole plane.")
      .inputs({"data"}).params<PoolParam>()
      .shape_fn(pool_shape).type_fn(pool_float_type).partial_infer()
      .add_req()
      .cpu(pool_cpu)
      .grad([](const NodePtr& n, const grad::Entries& og) {
        if (og[0].empty()) return grad::Entries(1);
        return grad::Entries{grad::apply("_backward_Pooling",
                                         {og[0], grad::in(n, 0), grad::out(n, 0)},
                                         n->attrs->dict)};
      });
#endif
#if BRASS_TRAINING
  // No gradient of its own (piecewise linear in out_grad, with kinks in data): Pooling has no
  // second derivative.
  OpRegistry::get().add("_backward_Pooling")
      .describe("The gradient of Pooling with respect to its data (inputs: out_grad, data, "
                "out). Max pooling sends each window's gradient to its first maximum; lp pooling "
                "gives grad * (x / out)^(p - 1).")
      .inputs({"out_grad", "data", "out"}).params<PoolParam>()
      .shape_fn(bwd_shape).type_fn(pool_float_type).partial_infer()
      .temp(bwd_temp)
      .add_req()
      .cpu(pool_bwd_cpu);
#endif
  return true;
}();

}  // namespace pool_ops
}  // namespace brass
