// The CUDA GEMM of dot.cu, for other ops' kernels (FullyConnected, Convolution).
#pragma once

#include <cstdint>

#include "cuda/cuda_common.cuh"

namespace brass {
namespace dot_ops {
namespace gpu {

// `batch` row-major products C[b] = op(A[b]) op(B[b]) (+ C[b] when add), each C of m x n with
// row stride n; lda/ldb are the row strides of the stored A and B, sa/sb/sc the strides between
// batch entries; float32 and float64 (t), other dtypes fail naming `op`. Defined in dot.cu.
void gemm(cudaStream_t s, const char* op, DType t, bool ta, bool tb, int64_t batch, int64_t m,
          int64_t n, int64_t k, const void* a, int64_t lda, int64_t sa, const void* b,
          int64_t ldb, int64_t sb, void* c, int64_t sc, bool add);

}  // namespace gpu
}  // namespace dot_ops
}  // namespace brass
