// Winograd F(2x2, 3x3) for float32 convolutions (conv_winograd.h). With
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],  G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1],
//   A^T = [1 1 1 0; 0 1 -1 -1],
// a 2x2 output tile is A^T [sum_c (G w_fc G^T) .* (B^T d_c B)] A for the 4x4 input tile d_c
// of each channel c (the cross-correlation a convolution layer computes). Point xi of the
// 4x4 domain is then the GEMM M_xi (F x tiles) = U_xi (F x C) V_xi (C x tiles).
//
// The tiles of all samples go by rows of tiles (2 output rows each) in blocks sized so that
// a block's V and M stay in cache; each block runs in three parallel phases: the input
// transform (by channel and tile row), the 16 GEMMs (by xi, each on one thread against the
// filters packed once per call, or once for as long as their version holds), and the output
// transform with the epilogue (by filter). Tile rows are phase-split (even and odd columns) so
// every transform is a plain loop over the tiles of a row, which the compiler vectorizes for
// the active ISA.
#include "op/nn/conv_winograd.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "base/xinline.h"
#include "engine/thread_pool.h"
#include "kernel/cpu_features.h"

namespace brass {
namespace conv_ops {
namespace {

constexpr int kXi = 16;           // points of the 4x4 transformed domain
constexpr int kFiltersKind = 1;   // kernel::derived_cached's kinds for the transformed filters
constexpr int kAdjointKind = 2;   // and for those of a data gradient

struct WinoFilters {
  kernel::PackedA<float> u[kXi];  // U_xi (F x C), packed as the GEMM's A
};

bool enabled() {
  static const bool on = [] {
    const char* s = std::getenv("BRASS_CONV_WINOGRAD");
    return !(s && std::strcmp(s, "0") == 0);
  }();
  return on;
}

// U_xi[f*C + c] = (G w_fc G^T)[xi] for every filter f < F and channel c < C, u holding the
// 16 U_xi one after another. adjoint: w_fc is the given filters' (c, f) kernel, flipped.
void transform_filters(const float* w, int64_t f, int64_t c, bool adjoint, float* u) {
  const int64_t fc = f * c;
  // Each run of kRun pairs lands in a local buffer, then in the 16 planes one plane at a
  // time: storing the 16 values of a pair straight to their planes, fc floats apart (a power
  // of two in most networks), kept 16 streams in the same cache sets, and stores missed.
  constexpr int64_t kRun = 64;
  thread_pool::parallel_for((fc + kRun - 1) / kRun, 8, [&](int64_t r0, int64_t r1) {
    float buf[kXi][kRun];
    for (int64_t i0 = r0 * kRun; i0 < std::min(fc, r1 * kRun); i0 += kRun) {
      const int64_t n = std::min(kRun, fc - i0);
      for (int64_t q = 0; q < n; ++q) {
        const int64_t i = i0 + q;
        // Read in place: a copy into a local array was reread across its stores' boundaries,
        // which store forwarding does not serve.
        float flipped[9];
        const float* k = w + i * 9;
        if (adjoint) {
          const float* src = w + ((i % c) * f + i / c) * 9;
          for (int j = 0; j < 9; ++j) flipped[j] = src[8 - j];
          k = flipped;
        }
        // G k, column by column, then each row of it times G^T; in named values, not arrays,
        // which GCC's straight-line vectorizer stores and reloads in overlapping pieces.
        const auto g = [&](int j, float& t0, float& t1, float& t2, float& t3) BRASS_ALWAYS_INLINE {
          t0 = k[j];
          t1 = 0.5f * (k[j] + k[3 + j] + k[6 + j]);
          t2 = 0.5f * (k[j] - k[3 + j] + k[6 + j]);
          t3 = k[6 + j];
        };
        const auto row = [&](int r, float a, float b, float c) BRASS_ALWAYS_INLINE {
          buf[r * 4 + 0][q] = a;
          buf[r * 4 + 1][q] = 0.5f * (a + b + c);
          buf[r * 4 + 2][q] = 0.5f * (a - b + c);
          buf[r * 4 + 3][q] = c;
        };
        float a0, a1, a2, a3, b0, b1, b2, b3, c0, c1, c2, c3;
        g(0, a0, a1, a2, a3);
        g(1, b0, b1, b2, b3);
        g(2, c0, c1, c2, c3);
        row(0, a0, b0, c0);
        row(1, a1, b1, c1);
        row(2, a2, b2, c2);
        row(3, a3, b3, c3);
      }
      for (int xi = 0; xi < kXi; ++xi) std::memcpy(u + xi * fc + i0, buf[xi], sizeof(float) * size_t(n));
    }
  });
}

std::shared_ptr<const WinoFilters> filters_for(const float* w, int64_t f, int64_t c, bool adjoint,
                                               uint64_t version) {
  auto made = kernel::derived_cached(w, adjoint ? kAdjointKind : kFiltersKind, f, c, version, [&]() {
    const int64_t fc = f * c;
    std::unique_ptr<float[]> u(new float[size_t(kXi * fc)]);
    transform_filters(w, f, c, adjoint, u.get());
    auto wf = std::make_shared<WinoFilters>();
    thread_pool::parallel_for(kXi, 1, [&](int64_t x0, int64_t x1) {
      for (int64_t xi = x0; xi < x1; ++xi) wf->u[xi] = kernel::pack_a(false, f, c, u.get() + xi * fc, c);
    });
    size_t bytes = 0;
    for (const auto& p : wf->u) bytes += size_t(p.mp * p.k) * sizeof(float);
    return std::make_pair(std::shared_ptr<const void>(wf), bytes);
  });
  return std::static_pointer_cast<const WinoFilters>(made);
}

// The loops of the transforms, each over restrict operands so that it vectorizes as written.
// d0..d3 = B^T (r0..r3) down the rows: r0 - r2, r1 + r2, r2 - r1, r1 - r3.
BRASS_ALWAYS_INLINE inline void bt_rows(const float* __restrict r0, const float* __restrict r1,
                                        const float* __restrict r2, const float* __restrict r3,
                                        float* __restrict d0, float* __restrict d1, float* __restrict d2,
                                        float* __restrict d3, int64_t n) {
  for (int64_t j = 0; j < n; ++j) {
    d0[j] = r0[j] - r2[j];
    d1[j] = r1[j] + r2[j];
    d2[j] = r2[j] - r1[j];
    d3[j] = r1[j] - r3[j];
  }
}

// The same across columns, tile t's four columns being e[t], o[t], e[t+1], o[t+1].
BRASS_ALWAYS_INLINE inline void bt_cols(const float* __restrict e, const float* __restrict o,
                                        float* __restrict v0, float* __restrict v1, float* __restrict v2,
                                        float* __restrict v3, int64_t tw) {
  for (int64_t t = 0; t < tw; ++t) {
    v0[t] = e[t] - e[t + 1];
    v1[t] = o[t] + e[t + 1];
    v2[t] = e[t + 1] - o[t];
    v3[t] = o[t] - o[t + 1];
  }
}

// e[j] = src[2j], o[j] = src[2j + 1] for j < n.
BRASS_ALWAYS_INLINE inline void split_phases(const float* __restrict src, float* __restrict e,
                                             float* __restrict o, int64_t n) {
  for (int64_t j = 0; j < n; ++j) {
    e[j] = src[2 * j];
    o[j] = src[2 * j + 1];
  }
}

// A^T M A of each tile: s + xi * ms + t holds M_xi of tile t; its 2x2 outputs to y00..y11.
BRASS_ALWAYS_INLINE inline void at_tiles(const float* __restrict s, int64_t ms, float* __restrict y00,
                                         float* __restrict y01, float* __restrict y10,
                                         float* __restrict y11, int64_t tw) {
  const float* __restrict s0 = s;
  const float* __restrict s1 = s + 4 * ms;
  const float* __restrict s2 = s + 8 * ms;
  const float* __restrict s3 = s + 12 * ms;
  for (int64_t t = 0; t < tw; ++t) {
    // A^T down the rows, then across.
    const float p0 = s0[t] + s1[t] + s2[t], q0 = s1[t] - s2[t] - s3[t];
    const float p1 = s0[ms + t] + s1[ms + t] + s2[ms + t], q1 = s1[ms + t] - s2[ms + t] - s3[ms + t];
    const float p2 = s0[2 * ms + t] + s1[2 * ms + t] + s2[2 * ms + t];
    const float q2 = s1[2 * ms + t] - s2[2 * ms + t] - s3[2 * ms + t];
    const float p3 = s0[3 * ms + t] + s1[3 * ms + t] + s2[3 * ms + t];
    const float q3 = s1[3 * ms + t] - s2[3 * ms + t] - s3[3 * ms + t];
    y00[t] = p0 + p1 + p2;
    y01[t] = p1 - p2 - p3;
    y10[t] = q0 + q1 + q2;
    y11[t] = q1 - q2 - q3;
  }
}

// y[2t] (=, +=) ev[t], y[2t + 1] (=, +=) od[t] over ow outputs.
BRASS_ALWAYS_INLINE inline void put_pairs(float* __restrict y, const float* __restrict ev,
                                          const float* __restrict od, int64_t ow, bool add) {
  const int64_t pairs = ow / 2;
  if (add) {
    for (int64_t t = 0; t < pairs; ++t) {
      y[2 * t] += ev[t];
      y[2 * t + 1] += od[t];
    }
    if (ow % 2) y[ow - 1] += ev[pairs];
  } else {
    for (int64_t t = 0; t < pairs; ++t) {
      y[2 * t] = ev[t];
      y[2 * t + 1] = od[t];
    }
    if (ow % 2) y[ow - 1] = ev[pairs];
  }
}

// The input transform of tile row ty of one channel plane xc: V_xi's tiles of that row to
// v + xi * vs + t (t < tw). buf: 16 * (tw + 1) floats.
BRASS_ALWAYS_INLINE inline void input_row(const ConvGeom& g, int64_t tw, const float* xc, int64_t ty,
                                          float* buf, float* v, int64_t vs) {
  const int64_t n1 = tw + 1;
  // Phase rows of the four padded input rows: e (row k) at buf + 2k*n1 holds padded column
  // 2j, o after it column 2j + 1. Inside the row for j in [lo, hi) (both columns).
  const int64_t lo = std::min(n1, (g.pw + 1) / 2), hi = std::min(n1, std::max(lo, (g.w + g.pw) / 2));
  for (int k = 0; k < 4; ++k) {
    float* e = buf + 2 * k * n1;
    float* o = e + n1;
    const int64_t iy = 2 * ty - g.ph + k;
    if (iy < 0 || iy >= g.h) {
      std::fill(e, e + 2 * n1, 0.f);
      continue;
    }
    const float* row = xc + iy * g.w;
    auto edge = [&](int64_t j) {
      const int64_t ce = 2 * j - g.pw, co = ce + 1;
      e[j] = ce >= 0 && ce < g.w ? row[ce] : 0.f;
      o[j] = co >= 0 && co < g.w ? row[co] : 0.f;
    };
    for (int64_t j = 0; j < lo; ++j) edge(j);
    if (hi > lo) split_phases(row + 2 * lo - g.pw, e + lo, o + lo, hi - lo);
    for (int64_t j = hi; j < n1; ++j) edge(j);
  }
  float* d = buf + 8 * n1;
  for (int ph = 0; ph < 2; ++ph) {
    const float* r = buf + ph * n1;
    float* dd = d + ph * n1;
    bt_rows(r, r + 2 * n1, r + 4 * n1, r + 6 * n1, dd, dd + 2 * n1, dd + 4 * n1, dd + 6 * n1, n1);
  }
  for (int i = 0; i < 4; ++i) {
    float* vi = v + 4 * i * vs;
    bt_cols(d + 2 * i * n1, d + (2 * i + 1) * n1, vi, vi + vs, vi + 2 * vs, vi + 3 * vs, tw);
  }
}

// The output transform of one tile row of one filter: m + xi * ms + t holds M_xi of tile t;
// output rows y0 and y1 (null past the plane's last row), ow wide, are written or added to.
// tmp: 4 * tw floats.
BRASS_ALWAYS_INLINE inline void output_row(const float* m, int64_t ms, int64_t tw, float* tmp, float* y0,
                                           float* y1, int64_t ow, bool add) {
  at_tiles(m, ms, tmp, tmp + tw, tmp + 2 * tw, tmp + 3 * tw, tw);
  put_pairs(y0, tmp, tmp + tw, ow, add);
  if (y1) put_pairs(y1, tmp + 2 * tw, tmp + 3 * tw, ow, add);
}

// Tile rows per block: V and M (16 * (C + F) floats a tile) within about 3 MiB, at least 96
// and at most 512 tiles where the rows allow, the blocks then evened out.
int64_t block_rows(const ConvGeom& g, int64_t tw, int64_t rows) {
  const int64_t per_tile = int64_t(kXi) * (g.c + g.f) * int64_t(sizeof(float));
  const int64_t tiles = std::clamp<int64_t>((int64_t(3) << 20) / per_tile, 96, 512);
  const int64_t rb = std::max<int64_t>(1, tiles / tw);
  const int64_t nb = (rows + rb - 1) / rb;
  return (rows + nb - 1) / nb;
}

// Blocks of tiles each thread takes whole: V and M of a block in bytes (an L2's worth), and
// the fewest tiles a thread must get for that (fewer, and its products are too narrow).
constexpr int64_t kTileBlockBytes = int64_t(2) << 20;
constexpr int64_t kMinTilesPerThread = 64;

}  // namespace

bool winograd_fits(const ConvGeom& g) {
  if (!(g.kd == 1 && g.d == 1 && g.pd == 0 && g.kh == 3 && g.kw == 3 && g.sh == 1 && g.sw == 1 &&
        g.dh == 1 && g.dw == 1 && g.g == 1 && g.oh >= 2 && g.ow >= 2))
    return false;
  const int64_t tiles = g.n * ((g.oh + 1) / 2) * ((g.ow + 1) / 2);
  return g.c >= 16 && g.f >= 16 && tiles >= 32 && enabled();
}

bool winograd_fits_adjoint(const ConvGeom& g, ConvGeom* a) {
  // a keeps g's kernel, stride, dilation, groups and depth, which winograd_fits checks.
  if (g.ph > 2 || g.pw > 2) return false;
  *a = g;
  a->c = a->cg = g.f;
  a->f = a->fg = g.c;
  a->h = g.oh;
  a->w = g.ow;
  a->ph = 2 - g.ph;
  a->pw = 2 - g.pw;
  a->oh = g.h;
  a->ow = g.w;
  a->k = g.f * 9;
  a->p = g.h * g.w;
  a->last = false;
  return winograd_fits(*a);
}

void conv_winograd(const ConvGeom& g, const float* x, const float* w, float* y, Req req,
                   const kernel::Epilogue<float>* epi, uint64_t w_version, bool adjoint) {
  if (req == Req::kNull) return;
  const int64_t th = (g.oh + 1) / 2, tw = (g.ow + 1) / 2, rows = g.n * th;
  const int64_t plane_in = g.h * g.w, plane_out = g.oh * g.ow;
  const auto filters = filters_for(w, g.f, g.c, adjoint, w_version);
  const kernel::Isa isa = kernel::active_isa();
  const bool add = req == Req::kAdd;
  // The three steps over tile rows [r0, r0 + nr), V and M at vbuf and mbuf (ld = nr * tw
  // tiles a row of each): the input transform of (channel, row) pairs [i0, i1), the products
  // of points [x0, x1), the output transform (and epilogue) of filters [f0, f1).
  auto transform_in = [&](int64_t r0, int64_t nr, float* vbuf, int64_t i0, int64_t i1) {
    thread_local std::vector<float> buf;
    buf.resize(size_t(kXi * (tw + 1)));
    const int64_t ld = nr * tw;
    kernel::run_vectorized(isa, [&]() BRASS_ALWAYS_INLINE {
      for (int64_t i = i0; i < i1; ++i) {
        const int64_t c = i / nr, r = r0 + i % nr, n = r / th;
        input_row(g, tw, x + (n * g.c + c) * plane_in, r % th, buf.data(), vbuf + c * ld + (r - r0) * tw, g.c * ld);
      }
    });
  };
  auto products = [&](int64_t nr, const float* vbuf, float* mbuf, int64_t x0, int64_t x1) {
    const int64_t ld = nr * tw;
    for (int64_t xi = x0; xi < x1; ++xi)
      kernel::gemm_packed<float>(filters->u[xi], ld, 1.f, false, vbuf + xi * g.c * ld, ld, nullptr, 0.f,
                                 mbuf + xi * g.f * ld, ld);
  };
  auto transform_out = [&](int64_t r0, int64_t nr, const float* mbuf, int64_t f0, int64_t f1) {
    thread_local std::vector<float> tmp;
    tmp.resize(size_t(4 * tw));
    const int64_t ld = nr * tw;
    for (int64_t f = f0; f < f1; ++f) {
      kernel::run_vectorized(isa, [&]() BRASS_ALWAYS_INLINE {
        for (int64_t r = r0; r < r0 + nr; ++r) {
          const int64_t ty = r % th;
          float* y0 = y + (r / th * g.f + f) * plane_out + 2 * ty * g.ow;
          output_row(mbuf + f * ld + (r - r0) * tw, g.f * ld, tw, tmp.data(), y0,
                     2 * ty + 1 < g.oh ? y0 + g.ow : nullptr, g.ow, add);
        }
      });
      if (!epi) continue;
      // The finished rows of each sample's plane of filter f.
      for (int64_t r = r0; r < r0 + nr;) {
        const int64_t n = r / th, end = std::min(r0 + nr, (n + 1) * th);
        const int64_t ya = 2 * (r % th), yb = std::min(g.oh, 2 * ((end - 1) % th + 1));
        epi->fn(epi->ctx, y + (n * g.f + f) * plane_out + ya * g.ow, plane_out, f, 1, (yb - ya) * g.ow);
        r = end;
      }
    }
  };
  const int64_t threads = thread_pool::num_threads();
  if (!thread_pool::in_parallel() && rows * tw >= kMinTilesPerThread * threads) {
    // Tiles enough for every thread: each block of tile rows goes through the three steps on
    // one thread, its V and M staying in that core's cache (and, block after block, in the
    // same scratch), with no wait between the steps. Blocks of about kTileBlockBytes, as many
    // as a multiple of the threads, rows spread evenly.
    const int64_t per_tile = int64_t(kXi) * (g.c + g.f) * int64_t(sizeof(float));
    const int64_t want = std::max<int64_t>(1, (rows * tw * per_tile + kTileBlockBytes - 1) / kTileBlockBytes);
    const int64_t nb = std::min(rows, (want + threads - 1) / threads * threads);
    thread_pool::parallel_for(nb, 1, [&](int64_t b0, int64_t b1) {
      thread_local std::vector<float> scratch;
      for (int64_t b = b0; b < b1; ++b) {
        const int64_t r0 = b * rows / nb, nr = (b + 1) * rows / nb - r0;
        scratch.resize(size_t(kXi * (g.c + g.f) * nr * tw));
        float* const vbuf = scratch.data();
        float* const mbuf = vbuf + kXi * g.c * nr * tw;
        transform_in(r0, nr, vbuf, 0, g.c * nr);
        products(nr, vbuf, mbuf, 0, kXi);
        transform_out(r0, nr, mbuf, 0, g.f);
      }
    });
    return;
  }
  // Few tiles: each step split across the threads in turn (the products by point), blocks of
  // tile rows shared by all.
  const int64_t rb = block_rows(g, tw, rows);
  thread_local std::vector<float> scratch;
  scratch.resize(size_t(kXi * (g.c + g.f) * rb * tw));
  float* const vbuf = scratch.data();
  float* const mbuf = vbuf + kXi * g.c * rb * tw;
  for (int64_t r0 = 0; r0 < rows; r0 += rb) {
    const int64_t nr = std::min(rb, rows - r0);
    thread_pool::parallel_for(g.c * nr, std::max<int64_t>(1, 256 / tw),
                              [&](int64_t i0, int64_t i1) { transform_in(r0, nr, vbuf, i0, i1); });
    thread_pool::parallel_for(kXi, 1, [&](int64_t x0, int64_t x1) { products(nr, vbuf, mbuf, x0, x1); });
    thread_pool::parallel_for(g.f, std::max<int64_t>(1, 64 / nr),
                              [&](int64_t f0, int64_t f1) { transform_out(r0, nr, mbuf, f0, f1); });
  }
}

}  // namespace conv_ops
}  // namespace brass
