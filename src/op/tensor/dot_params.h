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

}  // namespace dot_ops
}  // namespace brass
