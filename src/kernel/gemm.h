// GEMM: C = alpha * op(A) * op(B) + beta * C on row-major matrices, op = transpose or not.
// Packed, cache-blocked, with micro-kernels chosen at run time (AVX-512, AVX2+FMA, NEON,
// portable scalar). Parallel over the shared thread pool. beta == 0 ignores C's old values.
#pragma once

#include <cstdint>

namespace brass {
namespace kernel {

void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
           const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
           int64_t ldc);
void dgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha,
           const double* a, int64_t lda, const double* b, int64_t ldb, double beta, double* c,
           int64_t ldc);

}  // namespace kernel
}  // namespace brass
