// GEMM driver: packs A and B into cache-sized blocks (BLIS loop order) and runs the
// micro-kernel of the active ISA over them, splitting C (never K) across the thread pool.
// Called by the dot/FullyConnected/convolution kernels through kernel/gemm.h.
#include "kernel/gemm.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <functional>
#include <list>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#include "base/host_memory.h"
#include "base/xinline.h"
#include "engine/thread_pool.h"
#include "kernel/cpu_features.h"
#include "kernel/gemm_internal.h"

namespace brass {
namespace kernel {
namespace gemm_impl {

using gemm_internal::KernelDesc;
using gemm_internal::MicroKernel;
using gemm_internal::MicroKernelEpi;
using gemm_internal::kPackSlack;

// The largest tile any kernel uses; edge tiles go through a buffer of this size.
constexpr int kMaxTile = 16 * 64;
// Below this many multiply-adds per task, splitting costs more than it saves.
constexpr int64_t kMinMacsPerTask = int64_t(1) << 20;
// An operand element read from memory (or packed) costs about this many multiply-adds: where a
// product has few multiply-adds per element (a matrix times a vector) the reads are its work.
constexpr int64_t kReadCost = 8;

// Portable kernel, always present; plain loops the compiler may vectorize for the baseline.
template <class T, int MR, int NR>
void scalar_kernel(int64_t kc, const T* a, const T* b, T* c, int64_t ldc, T alpha, T beta) {
  T acc[MR][NR] = {};
  for (int64_t p = 0; p < kc; ++p) {
    for (int i = 0; i < MR; ++i) {
      T av = a[i];
      for (int j = 0; j < NR; ++j) acc[i][j] += av * b[j];
    }
    a += MR;
    b += NR;
  }
  for (int i = 0; i < MR; ++i) {
    T* ci = c + i * ldc;
    if (beta == T(0)) {
      for (int j = 0; j < NR; ++j) ci[j] = alpha * acc[i][j];
    } else {
      for (int j = 0; j < NR; ++j) ci[j] = alpha * acc[i][j] + beta * ci[j];
    }
  }
}

template <class T, int MR, int NR>
KernelDesc<T> scalar_desc() {
  KernelDesc<T> d;
  d.fn = scalar_kernel<T, MR, NR>;
  d.pack_a = gemm_internal::pack_block<T, MR>;
  d.pack_b = gemm_internal::pack_block<T, NR>;
  d.mr = MR;
  d.nr = NR;
  d.kc = 256;
  d.mc = 64;
  d.nc = 1024;
  return d;
}

template <class T>
struct Kernels;
template <>
struct Kernels<float> {
  static KernelDesc<float> scalar() { return scalar_desc<float, 4, 8>(); }
  static KernelDesc<float> avx512() { return gemm_internal::avx512_f32(); }
  static KernelDesc<float> avx2() { return gemm_internal::avx2_f32(); }
  static KernelDesc<float> neon() { return gemm_internal::neon_f32(); }
};
template <>
struct Kernels<double> {
  static KernelDesc<double> scalar() { return scalar_desc<double, 4, 4>(); }
  static KernelDesc<double> avx512() { return gemm_internal::avx512_f64(); }
  static KernelDesc<double> avx2() { return gemm_internal::avx2_f64(); }
  static KernelDesc<double> neon() { return gemm_internal::neon_f64(); }
};

template <class T>
const KernelDesc<T>& kernel_for(Isa isa) {
  static const KernelDesc<T> scalar = Kernels<T>::scalar();
  static const KernelDesc<T> avx512 = Kernels<T>::avx512();
  static const KernelDesc<T> avx2 = Kernels<T>::avx2();
  static const KernelDesc<T> neon = Kernels<T>::neon();
  const KernelDesc<T>* d = &scalar;
  switch (isa) {
    case Isa::kAvx512: d = &avx512; break;
    case Isa::kAvx2: d = &avx2; break;
    case Isa::kNeon: d = &neon; break;
    default: break;
  }
  return d->fn || d->fn_epi ? *d : scalar;
}

// Grow-only, 64-byte aligned scratch, one per thread, so tasks never share packing space.
struct Scratch {
  void* p = nullptr;
  size_t bytes = 0;
  ~Scratch() { std::free(p); }
  void* get(size_t n) {
    if (n > bytes) {
      std::free(p);
      p = nullptr;
      bytes = 0;
      size_t rounded = (n + 63) / 64 * 64;
      p = host_alloc(rounded);
      if (!p) throw std::bad_alloc();
      bytes = rounded;
    }
    return p;
  }
};
thread_local Scratch t_pack_a, t_pack_b, t_shared_b;

std::atomic<int> g_forced_tasks{0};

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
inline int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

// Rows [i0, i0+rows) x depth [p0, p0+kc) of op(A) into consecutive panels of mr rows.
template <class T>
void pack_a(const KernelDesc<T>& kd, bool ta, const T* a, int64_t lda, int64_t i0, int64_t rows,
            int64_t p0, int64_t kc, T* dst) {
  kd.pack_a(ta, ta ? a + p0 * lda + i0 : a + i0 * lda + p0, lda, rows, kc, dst);
}

// Columns [j0, j0+cols) x depth [p0, p0+kc) of op(B) into consecutive panels of nr columns.
template <class T>
void pack_b(const KernelDesc<T>& kd, bool tb, const T* b, int64_t ldb, int64_t j0, int64_t cols,
            int64_t p0, int64_t kc, T* dst) {
  kd.pack_b(!tb, tb ? b + j0 * ldb + p0 : b + p0 * ldb + j0, ldb, cols, kc, dst);
}

template <class T>
struct Problem {
  bool ta, tb;
  int64_t m, n, k;
  T alpha;
  const T* a;
  int64_t lda;
  const T* b;
  int64_t ldb;
  T beta;
  T* c;
  int64_t ldc;
  int64_t kc;  // depth per packed block: a function of k alone, so sums never depend on the split
  const PackB<T>* packer;  // B's packing function, or null to pack b
  const T* packed_a;       // A packed whole (PackedA::data), or null to pack a
  int64_t mp;              // its rows rounded up to mr
  const Epilogue<T>* epi;  // run on each finished column strip of C, or null
  const T* packed_b;       // B packed whole (pack_b_cached), or null to pack b
  int64_t np;              // its columns rounded up to nr
};

// A tile cut by C's right edge: run(tmp, ld) runs the kernel on a copy, so the arithmetic (and
// so the bits) match what an interior tile would have computed.
template <class T, class Run>
void edge_tile(const Run& run, int nr, T* c, int64_t ldc, int64_t rm, int64_t rn, T beta) {
  alignas(64) T tmp[kMaxTile];
  if (beta != T(0)) {
    for (int64_t i = 0; i < rm; ++i)
      for (int64_t j = 0; j < rn; ++j) tmp[i * nr + j] = c[i * ldc + j];
  }
  run(tmp, int64_t(nr));
  for (int64_t i = 0; i < rm; ++i)
    for (int64_t j = 0; j < rn; ++j) c[i * ldc + j] = tmp[i * nr + j];
}

// C[m0:m1, n0:n1] on the calling thread: loops jc (nc) / pc (kc) / ic (mc) / jr / ir.
template <class T>
void run_tile(const KernelDesc<T>& kd, const Problem<T>& pr, int64_t m0, int64_t m1, int64_t n0,
              int64_t n1) {
  const int mr = kd.mr, nr = kd.nr;
  const int64_t kcs = pr.kc;
  const int64_t mrows = m1 - m0, ncols = n1 - n0;
  const int64_t ncs = round_up(ceil_div(ncols, ceil_div(ncols, kd.nc)), nr);
  const int64_t mcs = round_up(ceil_div(mrows, ceil_div(mrows, kd.mc)), mr);
  T* pa = pr.packed_a ? nullptr
                      : static_cast<T*>(t_pack_a.get(sizeof(T) * size_t(mcs * kcs) + size_t(kPackSlack)));
  T* pb = pr.packed_b ? nullptr : static_cast<T*>(t_pack_b.get(sizeof(T) * size_t(ncs * kcs)));
  for (int64_t jc = n0; jc < n1; jc += ncs) {
    const int64_t nc = std::min(ncs, n1 - jc);
    for (int64_t pc = 0; pc < pr.k; pc += kcs) {
      const int64_t kc = std::min(kcs, pr.k - pc);
      const T* bblk = pb;
      if (pr.packed_b) bblk = pr.packed_b + pr.np * pc + jc * kc;
      else if (pr.packer) pr.packer->fn(pr.packer->ctx, jc, nc, pc, kc, nr, pb);
      else pack_b(kd, pr.tb, pr.b, pr.ldb, jc, nc, pc, kc, pb);
      const T beta = pc == 0 ? pr.beta : T(1);
      // The epilogue after the last depth block: in the micro-kernel's registers where it can.
      const bool last = pc + kc >= pr.k;
      const RowEpilogue<T>* re = last && pr.epi && pr.epi->rows && kd.fn_epi ? pr.epi->rows : nullptr;
      for (int64_t ic = m0; ic < m1; ic += mcs) {
        const int64_t mc = std::min(mcs, m1 - ic);
        const T* ablk = pa;
        if (pr.packed_a) ablk = pr.packed_a + pr.mp * pc + ic * kc;
        else pack_a(kd, pr.ta, pr.a, pr.lda, ic, mc, pc, kc, pa);
        for (int64_t jr = 0; jr < nc; jr += nr) {
          const int64_t rn = std::min<int64_t>(nr, nc - jr);
          const T* bp = bblk + jr * kc;
          // Filters as columns: the kernels take the first column where they take the first
          // row, and read whole vectors of terms, so a cut strip without column kernels goes
          // through the epilogue's function.
          const RowEpilogue<T>* rs = re && re->columns && rn < nr && !kd.cmax ? nullptr : re;
          const int64_t at = rs && rs->columns ? jc + jr : -1;
          // At C's right edge: the half kernel on each full-height tile where the left half is
          // whole, then the column kernels across the strip's tiles at once, straight on C.
          if (rn < nr && kd.cmax) {
            const int64_t tiles = ceil_div(mc, mr), full = mc / mr, rml = mc - (tiles - 1) * mr;
            const bool half = kd.half_epi && rn >= nr / 2 && full > 0;
            T* cs = pr.c + ic * pr.ldc + jc + jr;
            if (half)
              for (int64_t t = 0; t < full; ++t) {
                const T* ap = ablk + t * mr * kc;
                T* cp = cs + t * mr * pr.ldc;
                kd.half_epi(kc, ap, bp, cp, pr.ldc, pr.alpha, beta, rs, at >= 0 ? at : ic + t * mr);
              }
            const auto cols = [&](int64_t t0, int64_t nt, int64_t rm, int64_t j0) {
              for (int64_t j = j0; j < rn; j += kd.cmax) {
                const int64_t r = std::min<int64_t>(kd.cmax, rn - j);
                kd.cols[r](kc, ablk + t0 * mr * kc, nt, bp + j, cs + t0 * mr * pr.ldc + j, pr.ldc, pr.alpha, beta,
                           rs, at >= 0 ? at + j : ic + t0 * mr, rm);
              }
            };
            if (!half) {
              cols(0, tiles, rml, 0);
            } else {
              cols(0, full, mr, nr / 2);
              if (full < tiles) cols(full, 1, rml, 0);
            }
          } else {
            for (int64_t ir = 0; ir < mc; ir += mr) {
              const int64_t rm = std::min<int64_t>(mr, mc - ir);
              const T* ap = ablk + ir * kc;
              T* cp = pr.c + (ic + ir) * pr.ldc + jc + jr;
              // The kernel for the tile's rows (rows[rm]: cut down at C's bottom edge, else the
              // whole one on a copy), on C or, at C's right edge, on a copy.
              auto place = [&](const auto& rows, auto whole, auto call) {
                const auto fn = rm < mr && rows[rm] ? rows[rm] : whole;
                auto run = [&](T* cc, int64_t ld) { call(fn, cc, ld); };
                if (rn == nr && (rm == mr || fn != whole)) run(cp, pr.ldc);
                else edge_tile(run, nr, cp, pr.ldc, rm, rn, beta);
              };
              if (kd.fn_epi)  // with the epilogue rs, or none (null)
                place(kd.rows_epi, kd.fn_epi, [&](MicroKernelEpi<T> fn, T* cc, int64_t ld) {
                  fn(kc, ap, bp, cc, ld, pr.alpha, beta, rs, at >= 0 ? at : ic + ir);
                });
              else
                place(kd.rows, kd.fn, [&](MicroKernel<T> fn, T* cc, int64_t ld) {
                  fn(kc, ap, bp, cc, ld, pr.alpha, beta);
                });
            }
          }
          // The strip (mc rows x nr columns) is final after the last depth block, and in L1.
          if (pr.epi && last && !rs)
            pr.epi->fn(pr.epi->ctx, pr.c + ic * pr.ldc + jc + jr, pr.ldc, ic, mc, rn);
        }
      }
    }
  }
}

template <class T>
void scale_c(int64_t m, int64_t n, T beta, T* c, int64_t ldc) {
  for (int64_t i = 0; i < m; ++i) {
    T* ci = c + i * ldc;
    if (beta == T(0)) {
      std::fill(ci, ci + n, T(0));
    } else if (beta != T(1)) {
      for (int64_t j = 0; j < n; ++j) ci[j] *= beta;
    }
  }
}

// ---- One row of C (a matrix-vector product: a fully-connected layer on one sample) ----------
// Packing B for a single row of A would cost more than the product, and the micro-kernel would
// compute mr rows for one: instead, straight from B. Columns [j0, j1) of c = alpha * a B + beta
// * c, a contiguous (k). B (k x n) is summed row by row (each column's sum in order of p); B^T
// (n x k) column by column as dot products in kLanes partial sums combined in a fixed order.
// The same bits at any thread count.
constexpr int kLanes = 16;

template <class T>
BRASS_ALWAYS_INLINE inline void gemv_cols(bool tb, int64_t k, T alpha, const T* a, const T* b, int64_t ldb,
                                          T beta, T* c, int64_t j0, int64_t j1) {
  constexpr int64_t kChunk = 256;  // columns summed together, in cache
  T acc[kChunk];
  for (int64_t jb = j0; jb < j1; jb += kChunk) {
    const int64_t w = std::min(kChunk, j1 - jb);
    if (!tb) {
      for (int64_t j = 0; j < w; ++j) acc[j] = T(0);
      for (int64_t p = 0; p < k; ++p) {
        const T av = a[p];
        const T* __restrict br = b + p * ldb + jb;
        for (int64_t j = 0; j < w; ++j) acc[j] += av * br[j];
      }
    } else {
      for (int64_t j = 0; j < w; ++j) {
        const T* __restrict br = b + (jb + j) * ldb;
        T part[kLanes] = {};
        int64_t p = 0;
        for (; p + kLanes <= k; p += kLanes)
          for (int l = 0; l < kLanes; ++l) part[l] += a[p + l] * br[p + l];
        for (int l = 0; p + l < k; ++l) part[l] += a[p + l] * br[p + l];
        for (int h = kLanes / 2; h > 0; h /= 2)
          for (int l = 0; l < h; ++l) part[l] += part[l + h];
        acc[j] = part[0];
      }
    }
    T* cj = c + jb;
    if (beta == T(0)) {
      for (int64_t j = 0; j < w; ++j) cj[j] = alpha * acc[j];
    } else {
      for (int64_t j = 0; j < w; ++j) cj[j] = alpha * acc[j] + beta * cj[j];
    }
  }
}

template <class T>
void gemv(bool ta, bool tb, int64_t n, int64_t k, T alpha, const T* a, int64_t lda, const T* b, int64_t ldb,
          T beta, T* c) {
  std::vector<T> at;
  if (ta && k > 1) {  // A is a column: gather it
    at.resize(size_t(k));
    for (int64_t p = 0; p < k; ++p) at[size_t(p)] = a[p * lda];
    a = at.data();
  }
  const Isa isa = active_isa();
  const int64_t forced = g_forced_tasks.load(std::memory_order_relaxed);
  // Each column's k multiply-adds read k elements of B: its work is (1 + kReadCost) k.
  const int64_t grain = forced > 0 ? std::max<int64_t>(1, ceil_div(n, forced))
                                   : std::max<int64_t>(16, ceil_div(kMinMacsPerTask, (1 + kReadCost) * k));
  auto body = [&](int64_t j0, int64_t j1) {
    run_for(isa, [&]() BRASS_ALWAYS_INLINE { gemv_cols(tb, k, alpha, a, b, ldb, beta, c, j0, j1); });
  };
  if (forced > 0) {
    for (int64_t j = 0; j < n; j += grain) body(j, std::min(n, j + grain));  // a split changes nothing
    return;
  }
  thread_pool::parallel_for(n, grain, body);
}

// rows x k of an operand in panels of r rows into dst (the layout run_tile reads: mp = rows
// rounded up to r, depth blocks of kcs each holding every panel), in parallel
// tasks of grain (depth block, panel) pairs.
template <class T, class F>
void pack_panels_into(int64_t rows, int64_t k, int64_t r, int64_t kcs, int64_t mp, T* dst, int64_t grain,
                      const F& pack) {
  const int64_t panels = mp / r, blocks = ceil_div(k, kcs);
  thread_pool::parallel_for(blocks * panels, grain, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t pc = (t / panels) * kcs, i0 = (t % panels) * r;
      const int64_t kc = std::min(kcs, k - pc);
      pack(i0, std::min(r, rows - i0), pc, kc, dst + mp * pc + i0 * kc);
    }
  });
}

template <class T>
void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
          const T* b, int64_t ldb, T beta, T* c, int64_t ldc, const PackB<T>* packer = nullptr,
          const PackedA<T>* packed = nullptr, const Epilogue<T>* epi = nullptr,
          const PackedA<T>* packed_b = nullptr) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0 || alpha == T(0)) {
    scale_c(m, n, beta, c, ldc);
    if (epi) epi->fn(epi->ctx, c, ldc, 0, m, n);
    return;
  }
  if (m == 1 && !packer && !packed && !packed_b) {
    gemv(ta, tb, n, k, alpha, a, lda, b, ldb, beta, c);
    if (epi) epi->fn(epi->ctx, c, ldc, 0, m, n);
    return;
  }
  const KernelDesc<T>& kd =
      kernel_for<T>(packed ? Isa(packed->isa) : packed_b ? Isa(packed_b->isa) : active_isa());
  Problem<T> pr{ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, 0, packer,
                packed ? packed->data.get() : nullptr, packed ? packed->mp : 0, epi,
                packed_b ? packed_b->data.get() : nullptr, packed_b ? packed_b->mp : 0};
  pr.kc = ceil_div(k, ceil_div(k, kd.kc));

  // Split C into a gm x gn grid of tasks, one per thread. Each task packs its own rows of A
  // once per nc block and its own columns of B once, so the grid is chosen for the shortest
  // task: its multiply-adds plus its packing, a packed element costing kReadCost of them.
  const int64_t mtiles = ceil_div(m, kd.mr), ntiles = ceil_div(n, kd.nr);
  int64_t tasks = g_forced_tasks.load(std::memory_order_relaxed);
  if (tasks <= 0 && (thread_pool::in_parallel() || thread_pool::num_threads() == 1)) {
    // Inside a parallel loop (a convolution's samples), or with one thread: the tasks would
    // run one after another on this thread, each packing its own copy of B's columns or A's
    // rows. One task.
    tasks = 1;
  } else if (tasks <= 0) {
    // Large products get two tasks per thread: the pool hands them out as threads come free,
    // so a core that is busy with something else delays the result less, for one more pass
    // of packing.
    const int64_t threads = thread_pool::num_threads();
    const double work = double(m) * double(n) * double(k) + double(kReadCost) * (double(m) + double(n)) * double(k);
    tasks = threads * (work >= double(kMinMacsPerTask) * 64.0 * double(threads) ? 2 : 1);
    tasks = int64_t(std::min(double(tasks), work / double(kMinMacsPerTask)));
  }
  tasks = std::max<int64_t>(1, std::min(tasks, mtiles * ntiles));
  // With column kernels a task's columns need not be whole panels (its last ones run on them):
  // the columns split evenly, in steps of 8. Not B packed whole, whose panels are read from
  // each task's first column on: there whole panels.
  const int64_t nstep = kd.cmax && !packed_b ? std::min<int64_t>(8, kd.nr) : kd.nr;
  int64_t gm = 1, gn = 1;
  for (; tasks > 1; --tasks) {
    double best = -1;
    for (int64_t g = 1; g <= tasks; ++g) {
      if (tasks % g || g > mtiles || tasks / g > ntiles) continue;
      const int64_t tm = std::min(m, round_up(ceil_div(m, g), kd.mr));
      const int64_t tn = std::min(n, round_up(ceil_div(n, tasks / g), nstep));
      const double cost =
          double(tm) * double(tn) + double(kReadCost) * (double(tm) * double(ceil_div(tn, kd.nc)) + double(tn));
      if (best < 0 || cost < best) {
        best = cost;
        gm = g;
        gn = tasks / g;
      }
    }
    if (best >= 0) break;  // else no grid of this many tasks fits the tiles; try fewer
  }
  const int64_t tm = round_up(ceil_div(m, gm), kd.mr);
  gm = ceil_div(m, tm);
  // A packer's columns (a convolution's gathered im2col matrix) cost far more to pack than
  // kReadCost: when several tasks share columns (gm > 1: a product with few columns split by
  // rows), they are packed once, by all threads, and the tasks read that packing. Tasks read
  // such a packing, like B packed whole, from their first column on: whole panels each.
  const bool shared_b = packer && gm > 1;
  const int64_t tn = round_up(ceil_div(n, gn), shared_b ? int64_t(kd.nr) : nstep);
  gn = ceil_div(n, tn);
  if (shared_b) {
    const int64_t nr = kd.nr, np = round_up(n, nr);
    T* buf = static_cast<T*>(t_shared_b.get(sizeof(T) * size_t(np * k)));
    pack_panels_into(n, k, nr, pr.kc, np, buf, 1, [&](int64_t j0, int64_t cols, int64_t pc, int64_t kc, T* d) {
      packer->fn(packer->ctx, j0, cols, pc, kc, int(nr), d);
    });
    pr.packer = nullptr;
    pr.packed_b = buf;
    pr.np = np;
  }
  auto body = [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t i = t / gn, j = t % gn;
      run_tile(kd, pr, i * tm, std::min(m, (i + 1) * tm), j * tn, std::min(n, (j + 1) * tn));
    }
  };
  if (gm * gn == 1) {
    body(0, 1);
  } else {
    thread_pool::parallel_for(gm * gn, 1, body);
  }
}

}  // namespace gemm_impl

namespace gemm_internal {
KernelDesc<float> sgemm_kernel(Isa isa) { return gemm_impl::kernel_for<float>(isa); }
KernelDesc<double> dgemm_kernel(Isa isa) { return gemm_impl::kernel_for<double>(isa); }
void set_gemm_tasks(int n) { gemm_impl::g_forced_tasks.store(n < 0 ? 0 : n); }
}  // namespace gemm_internal

void sgemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
           int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  gemm_impl::gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
void dgemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const double* a,
           int64_t lda, const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  gemm_impl::gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
namespace gemm_impl {
// rows x k of an operand in panels of r rows (A's rows, or B's columns), in blocks of depth kc
// each holding every panel (the layout run_tile reads): pack(i0, rows, pc, kc, dst) packs one.
template <class T, class F>
PackedA<T> pack_panels(Isa isa, int64_t rows, int64_t k, int64_t r, int64_t kcmax, const F& pack) {
  PackedA<T> p;
  p.m = rows;
  p.k = k;
  p.isa = int(isa);
  if (rows <= 0 || k <= 0) return p;
  p.kc = ceil_div(k, ceil_div(k, kcmax));
  p.mp = round_up(rows, r);
  const size_t bytes = round_up(int64_t(sizeof(T)) * p.mp * k + gemm_internal::kPackSlack, 64);
  p.data.reset(static_cast<T*>(host_alloc(bytes)));
  if (!p.data) throw std::bad_alloc();
  pack_panels_into(rows, k, r, p.kc, p.mp, p.data.get(), 8, pack);
  return p;
}
}  // namespace gemm_impl

template <class T>
PackedA<T> pack_a(bool ta, int64_t m, int64_t k, const T* a, int64_t lda) {
  const Isa isa = active_isa();
  const gemm_internal::KernelDesc<T>& kd = gemm_impl::kernel_for<T>(isa);
  return gemm_impl::pack_panels<T>(isa, m, k, kd.mr, kd.kc, [&](int64_t i0, int64_t rows, int64_t pc, int64_t kc,
                                                                 T* d) {
    gemm_impl::pack_a(kd, ta, a, lda, i0, rows, pc, kc, d);
  });
}
template PackedA<float> pack_a(bool, int64_t, int64_t, const float*, int64_t);
template PackedA<double> pack_a(bool, int64_t, int64_t, const double*, int64_t);

namespace gemm_impl {

// The packings pack_a_cached keeps (kind 0) and the values derived_cached keeps (its kinds):
// one per (address, layout, ISA, type, kind), with the version of the contents it was made
// from.
struct CacheKey {
  const void* a;
  int64_t m, k, lda;
  int isa, tsize, kind;
  bool ta;
  bool operator==(const CacheKey& o) const {
    return a == o.a && m == o.m && k == o.k && lda == o.lda && isa == o.isa && tsize == o.tsize &&
           kind == o.kind && ta == o.ta;
  }
};
struct CacheKeyHash {
  size_t operator()(const CacheKey& c) const {
    size_t h = std::hash<const void*>()(c.a);
    for (int64_t v : {c.m, c.k, c.lda, int64_t(c.isa) * 16 + c.tsize * 2 + int64_t(c.ta), int64_t(c.kind)})
      h = h * 1000003u ^ std::hash<int64_t>()(v);
    return h;
  }
};

class PackCache {
 public:
  static PackCache& get() {
    static PackCache* c = new PackCache();  // never destroyed: used until the process ends
    return *c;
  }
  // The kept packing of key at `version`, or null.
  std::shared_ptr<const void> find(const CacheKey& key, uint64_t version) {
    std::lock_guard<std::mutex> lk(mu_);
    auto it = map_.find(key);
    if (it == map_.end() || it->second.version != version) return nullptr;
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    return it->second.packed;
  }
  KeptInfo info() {
    std::lock_guard<std::mutex> lk(mu_);
    return {uint64_t(map_.size()), uint64_t(bytes_), made_.load()};
  }
  void count_made() { made_.fetch_add(1, std::memory_order_relaxed); }
  void put(const CacheKey& key, uint64_t version, std::shared_ptr<const void> packed, size_t bytes) {
    if (bytes > cap_) return;
    std::lock_guard<std::mutex> lk(mu_);
    auto it = map_.find(key);
    if (it != map_.end()) {
      if (it->second.version > version) return;  // a newer packing got there first
      bytes_ -= it->second.bytes;
      lru_.erase(it->second.lru);
      map_.erase(it);
    }
    lru_.push_front(key);
    map_.emplace(key, Entry{version, std::move(packed), bytes, lru_.begin()});
    bytes_ += bytes;
    while (bytes_ > cap_) {
      auto last = map_.find(lru_.back());
      bytes_ -= last->second.bytes;
      map_.erase(last);
      lru_.pop_back();
    }
  }

 private:
  struct Entry {
    uint64_t version;
    std::shared_ptr<const void> packed;
    size_t bytes;
    std::list<CacheKey>::iterator lru;
  };
  PackCache() {
    const char* s = std::getenv("BRASS_PACK_CACHE_MB");
    const long mb = s ? std::strtol(s, nullptr, 10) : 256;
    cap_ = size_t(std::max(0L, mb)) << 20;
  }
  std::mutex mu_;
  std::unordered_map<CacheKey, Entry, CacheKeyHash> map_;
  std::list<CacheKey> lru_;  // most recently used first
  size_t bytes_ = 0, cap_ = 0;
  std::atomic<uint64_t> made_{0};
};

}  // namespace gemm_impl

namespace gemm_impl {
std::shared_ptr<const void> kept_or_made(
    const CacheKey& key, uint64_t version,
    const std::function<std::pair<std::shared_ptr<const void>, size_t>()>& make) {
  auto& cache = PackCache::get();
  if (version) {
    if (auto kept = cache.find(key, version)) return kept;
  }
  auto made = make();
  cache.count_made();
  if (version) cache.put(key, version, made.first, made.second);
  return made.first;
}
}  // namespace gemm_impl

KeptInfo kept_info() { return gemm_impl::PackCache::get().info(); }

std::shared_ptr<const void> derived_cached(
    const void* a, int kind, int64_t m, int64_t k, uint64_t version,
    const std::function<std::pair<std::shared_ptr<const void>, size_t>()>& make) {
  return gemm_impl::kept_or_made({a, m, k, 0, int(active_isa()), 0, kind, false}, version, make);
}

namespace gemm_impl {
// A packing kept under key while version holds, pack() making it when none is.
template <class T, class F>
std::shared_ptr<const PackedA<T>> kept_packing(const CacheKey& key, uint64_t version, const F& pack) {
  return std::static_pointer_cast<const PackedA<T>>(kept_or_made(key, version, [&]() {
    auto p = std::make_shared<PackedA<T>>(pack());
    return std::make_pair(std::shared_ptr<const void>(p), size_t(p->mp * p->k) * sizeof(T));
  }));
}
}  // namespace gemm_impl

template <class T>
std::shared_ptr<const PackedA<T>> pack_a_cached(bool ta, int64_t m, int64_t k, const T* a, int64_t lda,
                                                uint64_t version) {
  const gemm_impl::CacheKey key{a, m, k, lda, int(active_isa()), int(sizeof(T)), 0, ta};
  return gemm_impl::kept_packing<T>(key, version, [&]() { return pack_a(ta, m, k, a, lda); });
}
template std::shared_ptr<const PackedA<float>> pack_a_cached(bool, int64_t, int64_t, const float*, int64_t,
                                                             uint64_t);
template std::shared_ptr<const PackedA<double>> pack_a_cached(bool, int64_t, int64_t, const double*, int64_t,
                                                              uint64_t);

template <class T>
void gemm_epilogue(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
                   const T* b, int64_t ldb, T beta, T* c, int64_t ldc, const Epilogue<T>* epi) {
  gemm_impl::gemm<T>(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, nullptr, nullptr, epi);
}
template void gemm_epilogue(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*,
                            int64_t, float, float*, int64_t, const Epilogue<float>*);
template void gemm_epilogue(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t,
                            const double*, int64_t, double, double*, int64_t, const Epilogue<double>*);

template <class T>
void gemm_pack_b(bool ta, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
                 const PackB<T>& b, T beta, T* c, int64_t ldc, const Epilogue<T>* epi) {
  gemm_impl::gemm<T>(ta, false, m, n, k, alpha, a, lda, nullptr, 0, beta, c, ldc, &b, nullptr, epi);
}
template void gemm_pack_b(bool, int64_t, int64_t, int64_t, float, const float*, int64_t,
                          const PackB<float>&, float, float*, int64_t, const Epilogue<float>*);
template void gemm_pack_b(bool, int64_t, int64_t, int64_t, double, const double*, int64_t,
                          const PackB<double>&, double, double*, int64_t, const Epilogue<double>*);

template <class T>
std::shared_ptr<const PackedA<T>> pack_b_cached(bool tb, int64_t k, int64_t n, const T* b, int64_t ldb,
                                                uint64_t version) {
  constexpr int kPackedB = -1;  // the cache's kind for B's packings (A's: 0)
  const gemm_impl::CacheKey key{b, n, k, ldb, int(active_isa()), int(sizeof(T)), kPackedB, tb};
  return gemm_impl::kept_packing<T>(key, version, [&]() {
    const Isa isa = active_isa();
    const gemm_internal::KernelDesc<T>& kd = gemm_impl::kernel_for<T>(isa);
    return gemm_impl::pack_panels<T>(isa, n, k, kd.nr, kd.kc, [&](int64_t j0, int64_t cols, int64_t pc, int64_t kc,
                                                                  T* d) {
      gemm_impl::pack_b(kd, tb, b, ldb, j0, cols, pc, kc, d);
    });
  });
}
template std::shared_ptr<const PackedA<float>> pack_b_cached(bool, int64_t, int64_t, const float*, int64_t,
                                                             uint64_t);
template std::shared_ptr<const PackedA<double>> pack_b_cached(bool, int64_t, int64_t, const double*, int64_t,
                                                              uint64_t);

template <class T>
void gemm_packed_b(bool ta, int64_t m, T alpha, const T* a, int64_t lda, const PackedA<T>& b, T beta, T* c,
                   int64_t ldc, const Epilogue<T>* epi) {
  gemm_impl::gemm<T>(ta, false, m, b.m, b.k, alpha, a, lda, nullptr, 0, beta, c, ldc, nullptr, nullptr, epi, &b);
}
template void gemm_packed_b(bool, int64_t, float, const float*, int64_t, const PackedA<float>&, float, float*,
                            int64_t, const Epilogue<float>*);
template void gemm_packed_b(bool, int64_t, double, const double*, int64_t, const PackedA<double>&, double,
                            double*, int64_t, const Epilogue<double>*);

template <class T>
void gemm_packed(const PackedA<T>& a, int64_t n, T alpha, bool tb, const T* b, int64_t ldb,
                 const PackB<T>* packer, T beta, T* c, int64_t ldc, const Epilogue<T>* epi) {
  gemm_impl::gemm<T>(false, tb, a.m, n, a.k, alpha, nullptr, 0, b, ldb, beta, c, ldc, packer, &a, epi);
}
template void gemm_packed(const PackedA<float>&, int64_t, float, bool, const float*, int64_t,
                          const PackB<float>*, float, float*, int64_t, const Epilogue<float>*);
template void gemm_packed(const PackedA<double>&, int64_t, double, bool, const double*, int64_t,
                          const PackB<double>*, double, double*, int64_t, const Epilogue<double>*);

}  // namespace kernel
}  // namespace brass
