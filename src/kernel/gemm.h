// GEMM: C = alpha * op(A) * op(B) + beta * C on row-major matrices, op = transpose or not.
// Packed, cache-blocked, with micro-kernels chosen at run time (AVX-512, AVX2+FMA, NEON,
// portable scalar). Parallel over the shared thread pool. beta == 0 ignores C's old values.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <utility>

#include "kernel/epilogue.h"

namespace brass {
namespace kernel {

void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
           const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
           int64_t ldc);
void dgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha,
           const double* a, int64_t lda, const double* b, int64_t ldb, double beta, double* c,
           int64_t ldc);

// B given by the function that packs it rather than as a matrix, for operands that never need
// to exist whole (a convolution's im2col matrix). fn(ctx, j0, cols, p0, kc, nr, dst) writes
// columns [j0, j0+cols) x depths [p0, p0+kc) of B as ceil(cols/nr) panels of nr columns: column
// j0 + q*nr + i at depth p0 + p goes to dst[q*nr*kc + p*nr + i], zeros past `cols`.
template <class T>
struct PackB {
  void (*fn)(const void* ctx, int64_t j0, int64_t cols, int64_t p0, int64_t kc, int nr, T* dst);
  const void* ctx;
};

// Work on C while it is in cache: fn(ctx, c, ldc, i0, rows, cols) is called once for each
// finished block of C (rows [i0, i0+rows) of C, cols columns, starting at c), after the last
// product has been summed into it; blocks do not overlap and together cover C. A convolution's
// bias, BatchNorm and activation (per-row work) run this way.
//
// When rows is set and the ISA's micro-kernel can, that per-row work (kernel/epilogue.h, rows
// of C from 0; or per-column work, columns from 0, when rows->columns) is done instead in its
// registers before C's tile is stored (fn is then not called for those blocks); fn must
// compute the same, operation for operation.
template <class T>
struct Epilogue {
  void (*fn)(const void* ctx, T* c, int64_t ldc, int64_t i0, int64_t rows, int64_t cols);
  const void* ctx;
  const RowEpilogue<T>* rows = nullptr;
};

// C (m x n) = alpha * op(A) * op(B) + beta * C, then the epilogue (none when null).
template <class T>
void gemm_epilogue(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
                   int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc, const Epilogue<T>* epi);

// C (m x n) = alpha * op(A) * B + beta * C, B packed by `b`.
template <class T>
void gemm_pack_b(bool trans_a, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
                 const PackB<T>& b, T beta, T* c, int64_t ldc, const Epilogue<T>* epi = nullptr);

// op(A) (m x k) packed once for several products that share it (a convolution's weights
// against every sample), in the panels of the kernel active when it was packed.
template <class T>
struct PackedA {
  std::unique_ptr<T, void (*)(void*)> data{nullptr, std::free};
  int64_t m = 0, k = 0, kc = 0, mp = 0;  // mp: m rounded up to the panel height
  int isa = 0;
};
template <class T>
PackedA<T> pack_a(bool trans_a, int64_t m, int64_t k, const T* a, int64_t lda);

// op(A) packed as pack_a packs it, kept between calls under its address while `version` says
// its contents are unchanged: a caller that can name A's contents (the engine's versions of an
// array) packs a convolution's filters once for an inference loop. version 0: packed afresh and
// not kept. A new version of the same A replaces the old packing; at most BRASS_PACK_CACHE_MB
// megabytes (default 256; 0 keeps nothing) are kept, the least recently used dropped first.
template <class T>
std::shared_ptr<const PackedA<T>> pack_a_cached(bool trans_a, int64_t m, int64_t k, const T* a, int64_t lda,
                                                uint64_t version);

// Any other value derived from the contents of the array at `a` (a convolution's filters in
// Winograd's domain, packed), kept in the same cache under (a, kind, m, k) as pack_a_cached
// keeps packings (kind > 0 tells the derivations apart; m, k: the array's extents): make()
// returns the value and its size in bytes and runs only when no kept value has `version`.
// version 0: made afresh and not kept.
std::shared_ptr<const void> derived_cached(
    const void* a, int kind, int64_t m, int64_t k, uint64_t version,
    const std::function<std::pair<std::shared_ptr<const void>, size_t>()>& make);

// What the cache of pack_a_cached and derived_cached holds: values kept, their bytes, and how
// many values have been made since the process started (kept or not, version 0 included).
struct KeptInfo {
  uint64_t entries = 0, bytes = 0, made = 0;
};
KeptInfo kept_info();

// C (m x n) = alpha * A * op(B) + beta * C with A packed by pack_a; B is (trans_b, b, ldb) or,
// when packer is given, whatever it packs. The same bits as sgemm/dgemm of the same operands.
template <class T>
void gemm_packed(const PackedA<T>& a, int64_t n, T alpha, bool trans_b, const T* b, int64_t ldb,
                 const PackB<T>* packer, T beta, T* c, int64_t ldc, const Epilogue<T>* epi = nullptr);

// op(B) (k x n) packed once for several products that share it, as pack_a_cached keeps A's
// packing (the same cache, versions and limit): its columns in the panels the active kernel
// reads (PackedA's fields with m = n, mp = n rounded up to the panel width).
template <class T>
std::shared_ptr<const PackedA<T>> pack_b_cached(bool trans_b, int64_t k, int64_t n, const T* b, int64_t ldb,
                                                uint64_t version);

// C (m x n) = alpha * op(A) * B + beta * C with B packed by pack_b_cached. The same bits as
// sgemm/dgemm of the same operands.
template <class T>
void gemm_packed_b(bool trans_a, int64_t m, T alpha, const T* a, int64_t lda, const PackedA<T>& b, T beta, T* c,
                   int64_t ldc, const Epilogue<T>* epi = nullptr);

}  // namespace kernel
}  // namespace brass
