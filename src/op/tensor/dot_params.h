// Parameters and shape logic of dot and batch_dot (dot.cc), shared by the CPU kernels and the
// CUDA kernels (cuda/dot.cu). dot_dims is defined in dot.cc.
#pragma once

#include <cstdint>

#include "op/operator.h"

namespace brass {
namespace dot_ops {

struct DotParam {
  bool transpose_a, transpose_b;
  static void declare(ParamSpec<DotParam>& s) {
    s.field("transpose_a", &DotParam::transpose_a).set_default(false)
        .describe("Transpose lhs first.");
    s.field("transpose_b", &DotParam::transpose_b).set_default(false)
        .describe("Transpose rhs first.");
  }
};

// lhs viewed as (m, k) and rhs as (k, n) for dot, after the transpose flags.
struct Dims { int64_t m, k, n, k2; };

// MXNet: lhs (.., K) flattened to (M, K); transpose_a takes lhs as (K, M) with K = first dim
// (and rhs likewise as (K, N), or (N, K) with transpose_b).
Dims dot_dims(const Shape& a, const Shape& b, const DotParam& p);

// The gradients of dot and batch_dot (the ops _dot_grad_lhs/_rhs and _batch_dot_grad_lhs/_rhs,
// inputs (out_grad, lhs, rhs)) are one GEMM each per batch entry, C = op(A) op(B) with C of
// m x n: the gradient of lhs (lhs == true, stored like lhs) or of rhs. A and B are chosen
// among the inputs: 0 out_grad, 1 lhs, 2 rhs.
struct GradGemm {
  bool ta, tb;
  int64_t m, n, k;
  int a_src, b_src;
  int64_t lda, ldb;
};

// d: the forward product's dims (m, k, n) after the transpose flags.
inline GradGemm grad_gemm(bool lhs, const DotParam& p, const Dims& d) {
  bool ta = p.transpose_a, tb = p.transpose_b;
  int64_t m = d.m, k = d.k, n = d.n;
  if (lhs) {
    if (!ta) return {false, !tb, m, k, n, 0, 2, n, tb ? k : n};  // g op(b)^T
    return {tb, true, k, m, n, 2, 0, tb ? k : n, n};             // (g op(b)^T)^T
  }
  if (!tb) return {!ta, false, k, n, m, 1, 0, ta ? m : k, n};    // op(a)^T g
  return {true, ta, n, k, m, 0, 1, n, ta ? m : k};               // (op(a)^T g)^T
}

// The forward dims of batch_dot per batch entry (lhs, rhs of shape (B, ., .)).
inline Dims batch_dims(const Shape& a, const Shape& b, const DotParam& p) {
  return Dims{p.transpose_a ? a[2] : a[1], p.transpose_a ? a[1] : a[2],
              p.transpose_b ? b[1] : b[2], p.transpose_b ? b[2] : b[1]};
}

// C (m x n, row stride n) = op(A) op(B) on the CPU, for float32/float64 `t`: written
// (Req::kWrite/kInplace), added to (kAdd) or skipped (kNull). lda/ldb: row strides of the stored
// A and B. Defined in dot.cc; other ops (FullyConnected, Convolution) use it too.
void gemm_any(DType t, bool ta, bool tb, int64_t m, int64_t n, int64_t k, const void* a,
              int64_t lda, const void* b, int64_t ldb, void* c, Req req);

}  // namespace dot_ops
}  // namespace brass
