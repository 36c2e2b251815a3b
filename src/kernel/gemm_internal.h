// Contract between the GEMM driver (gemm.cc) and the per-ISA micro-kernel files
// (gemm_avx512.cc, gemm_avx2.cc, gemm_neon.cc). Not part of the public interface.
#pragma once

#include <cstdint>
#include <cstring>

#include "kernel/cpu_features.h"
#include "kernel/gemm.h"

namespace brass {
namespace kernel {
namespace gemm_internal {

// Computes one MR x NR tile of C from packed panels:
//   c[i*ldc + j] = alpha * sum_{p<kc} a[p*MR + i] * b[p*NR + j] + beta * c[i*ldc + j]
// for i < MR, j < NR, summing p in increasing order (the driver relies on that for results
// that do not depend on how the work was split). beta == 0 stores without reading c.
// a and b are 64-byte aligned; c is not assumed aligned.
template <class T>
using MicroKernel = void (*)(int64_t kc, const T* a, const T* b, T* c, int64_t ldc, T alpha,
                             T beta);
// The same, then the row epilogue e (kernel::RowEpilogue) on the tile's rows, which are rows
// r0 .. of C, before the store.
template <class T>
using MicroKernelEpi = void (*)(int64_t kc, const T* a, const T* b, T* c, int64_t ldc, T alpha,
                                T beta, const RowEpilogue<T>* e, int64_t r0);

// The first r columns of MicroKernel's tile (C's right edge, r < nr) for `tiles` tiles down
// C's rows at once: A's panels one after another from a (mr * kc apart), tile t on C's rows
// from c + t * mr * ldc, the last tile's first rm rows stored (the others' mr), with the row
// epilogue when e is set (rows r0 + t * mr ..; micro_kernel_cols in gemm_microkernel.inc).
// Each element's arithmetic is MicroKernel's (and MicroKernelEpi's).
template <class T>
using MicroKernelCols = void (*)(int64_t kc, const T* a, int64_t tiles, const T* b, T* c, int64_t ldc, T alpha,
                                 T beta, const RowEpilogue<T>* e, int64_t r0, int64_t rm);

// Packed A is read up to kPackSlack bytes past its last panel (the column kernels load a panel
// row as whole vectors); every buffer that holds packed A has that much more room.
constexpr int64_t kPackSlack = 64;

// Packs `rows` rows of a depth-kc slice into ceil(rows / R) panels of R rows, panel q at
// dst + q*R*kc holding row q*R + i at depth p in dst[q*R*kc + p*R + i]; the last panel is
// zero-filled past `rows`, so edge tiles can run the full kernel. contiguous: row i at depth p
// is src[p*ld + i] (A transposed, B not); otherwise src[i*ld + p].
template <class T>
using PackBlock = void (*)(bool contiguous, const T* src, int64_t ld, int64_t rows, int64_t kc,
                           T* dst);

// Plain version of PackBlock with the panel height fixed at compile time, so that ISA files can
// wrap it in a function with their target attribute and let the compiler vectorize it.
template <class T, int R>
__attribute__((always_inline)) inline void pack_block(bool contiguous, const T* src, int64_t ld,
                                                      int64_t rows, int64_t kc, T* dst) {
  const int64_t full = rows / R, rest = rows % R;
  constexpr int64_t kLine = 64 / sizeof(T);
  if (contiguous) {
    // Depth-major, so each source row is read front to back rather than in R-wide pieces one
    // ld apart. Rows are usually a page or more apart, where hardware prefetchers stop, so
    // the row kAhead steps on is requested here.
    constexpr int64_t kAhead = 4;
    for (int64_t p = 0; p < kc; ++p) {
      const T* s = src + p * ld;
      T* d = dst + p * R;
      if (p + kAhead < kc) {
        for (int64_t x = 0; x < rows; x += kLine) __builtin_prefetch(s + kAhead * ld + x);
      }
      for (int64_t q = 0; q < full; ++q) std::memcpy(d + q * R * kc, s + q * R, sizeof(T) * R);
      if (rest) {
        T* dl = d + full * R * kc;
        for (int64_t i = 0; i < rest; ++i) dl[i] = s[full * R + i];
        for (int64_t i = rest; i < R; ++i) dl[i] = T(0);
      }
    }
    return;
  }
  // A transpose, in slices of 16 depths: when ld is a power of two the R source rows share a
  // few cache sets, so each row's line is used up before moving to the next row.
  constexpr int kSlice = 16;
  for (int64_t q = 0; q < full; ++q) {
    const T* sq = src + q * R * ld;
    T* dq = dst + q * R * kc;
    int64_t p0 = 0;
    for (; p0 + kSlice <= kc; p0 += kSlice) {
      T* d = dq + p0 * R;
      const bool more = p0 + 2 * kSlice <= kc;
      for (int i = 0; i < R; ++i) {
        const T* s = sq + i * ld + p0;
        // R streams are more than the hardware prefetcher follows; fetch the next slice.
        if (more) __builtin_prefetch(s + kSlice);
#pragma GCC unroll 16
        for (int p = 0; p < kSlice; ++p) d[p * R + i] = s[p];
      }
    }
    for (; p0 < kc; ++p0)
      for (int i = 0; i < R; ++i) dq[p0 * R + i] = sq[i * ld + p0];
  }
  if (rest) {
    const T* sq = src + full * R * ld;
    T* dq = dst + full * R * kc;
    for (int64_t p = 0; p < kc; ++p) {
      T* d = dq + p * R;
      for (int64_t i = 0; i < rest; ++i) d[i] = sq[i * ld + p];
      for (int64_t i = rest; i < R; ++i) d[i] = T(0);
    }
  }
}

// A micro-kernel and the cache blocking tuned for it: fn, or fn_epi (x86). Neither set: not
// built for this target (the driver then falls back to the portable kernel).
template <class T>
struct KernelDesc {
  MicroKernel<T> fn = nullptr;
  PackBlock<T> pack_a = nullptr;  // R = mr
  PackBlock<T> pack_b = nullptr;  // R = nr
  int mr = 0, nr = 0;          // tile of C per call (mr <= 16, mr * nr <= 1024)
  int kc = 0, mc = 0, nc = 0;  // depth of a packed block, rows of packed A, columns of packed B
  // rows[r], 0 < r < mr, where set: fn cut down to the first r rows of the tile (A's panel
  // keeps its stride mr), for C's bottom edge. Each row's arithmetic is fn's, so the bits
  // do not depend on which of the two computed an element.
  MicroKernel<T> rows[16] = {};
  // Where set: the kernel and rows[] with a row epilogue (else the driver runs
  // Epilogue::fn), which the driver then runs for every product, given no epilogue (null)
  // where it has none: one copy of each kernel, not two.
  MicroKernelEpi<T> fn_epi = nullptr;
  MicroKernelEpi<T> rows_epi[16] = {};
  // cols[r], 0 < r <= cmax, where set: the column kernels for C's right edge (a tile of rn
  // columns runs as kernels of cmax columns and one of the rest).
  MicroKernelCols<T> cols[32] = {};
  int cmax = 0;
  // Where set: fn_epi for the left half of the tile's columns (B's panel keeps its width nr),
  // which a right edge of at least nr / 2 columns runs first on full-height tiles.
  MicroKernelEpi<T> half_epi = nullptr;
};

// Per-ISA kernels; each returns fn == nullptr when its file was built for another target.
KernelDesc<float> avx512_f32();
KernelDesc<double> avx512_f64();
KernelDesc<float> avx2_f32();
KernelDesc<double> avx2_f64();
KernelDesc<float> neon_f32();
KernelDesc<double> neon_f64();

// What sgemm/dgemm run when isa is active (the portable kernel where isa has none). For tests,
// which place sizes around the tile and block edges.
KernelDesc<float> sgemm_kernel(Isa isa);
KernelDesc<double> dgemm_kernel(Isa isa);

// Test hook: n > 0 makes every following call split C into n tasks (as far as the tiles allow)
// whatever the thread count and size; 0 restores the default. Results must not change.
void set_gemm_tasks(int n);

}  // namespace gemm_internal
}  // namespace kernel
}  // namespace brass
