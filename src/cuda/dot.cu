// CUDA kernels of dot and batch_dot (dot.cc): the same shapes (dot_dims, dot_params.h), dtypes
// (float32 and float64, accumulated in their own type as the CPU GEMM does) and write
// requests (kAdd adds the product to the output; kWrite ignores its old values).
//
// The GEMM, first version (no cuBLAS, no shared memory): each thread computes a 4x4 tile of C
// in registers, looping over K. Neighbouring threads take neighbouring column tiles, so their
// loads of a row of B are contiguous and their loads of A are the same addresses (broadcast).
#include "cuda/cuda_common.cuh"  // first: its pragmas cover the whole unit

#include "op/operator.h"
#include "op/tensor/dot_params.h"
#include "cuda/gemm.cuh"

namespace brass {
namespace dot_ops {
namespace gpu {

constexpr int kTile = 4;  // C tile per thread: kTile x kTile

// C[b] = A[b] * B[b] (+ C[b] when add) for a batch of row-major products, C of m x n with row
// stride n. Element (i, p) of A[b] is a[b * batch_a + i * a_row + p * a_k], element (p, j) of
// B[b] is b[b * batch_b + p * b_k + j * b_col]: the transposes are a choice of strides.
template <class T>
struct Gemm {
  const T* a;
  const T* b;
  T* c;
  int64_t m, n, k;
  int64_t a_row, a_k, b_k, b_col;
  int64_t batch_a, batch_b, batch_c;
  int64_t tiles_m, tiles_n;  // tiles per matrix: ceil(m / kTile) x ceil(n / kTile)
  bool add;

  __device__ void operator()(int64_t t) const {
    int64_t tn = t % tiles_n, r = t / tiles_n;
    int64_t tm = r % tiles_m, batch = r / tiles_m;
    int64_t i0 = tm * kTile, j0 = tn * kTile;
    // Rows and columns past the edge of C read the last valid one (so every load is in
    // bounds and the loop has no branches) and are not stored.
    const T* ap[kTile];
    const T* bp[kTile];
    for (int u = 0; u < kTile; ++u) {
      int64_t i = i0 + u < m ? i0 + u : m - 1, j = j0 + u < n ? j0 + u : n - 1;
      ap[u] = a + batch * batch_a + i * a_row;
      bp[u] = b + batch * batch_b + j * b_col;
    }
    T acc[kTile][kTile];
    for (int u = 0; u < kTile; ++u)
      for (int v = 0; v < kTile; ++v) acc[u][v] = T(0);
    for (int64_t p = 0; p < k; ++p) {
      T av[kTile], bv[kTile];
      for (int u = 0; u < kTile; ++u) {
        av[u] = ap[u][p * a_k];
        bv[u] = bp[u][p * b_k];
      }
      for (int u = 0; u < kTile; ++u)
        for (int v = 0; v < kTile; ++v) acc[u][v] += av[u] * bv[v];
    }
    T* cb = c + batch * batch_c;
    for (int u = 0; u < kTile && i0 + u < m; ++u) {
      T* row = cb + (i0 + u) * n;
      for (int v = 0; v < kTile && j0 + v < n; ++v)
        row[j0 + v] = add ? acc[u][v] + row[j0 + v] : acc[u][v];
    }
  }
};

void gemm(cudaStream_t s, const char* op, DType t, bool ta, bool tb, int64_t batch, int64_t m,
          int64_t n, int64_t k, const void* a, int64_t lda, int64_t sa, const void* b,
          int64_t ldb, int64_t sb, void* c, int64_t sc, bool add) {
  int64_t tiles_m = (m + kTile - 1) / kTile, tiles_n = (n + kTile - 1) / kTile;
  int64_t tiles = batch * tiles_m * tiles_n;
  auto run = [&](auto tag) {
    using T = decltype(tag);
    Gemm<T> g{static_cast<const T*>(a), static_cast<const T*>(b), static_cast<T*>(c), m, n, k,
              ta ? 1 : lda, ta ? lda : 1, tb ? 1 : ldb, tb ? ldb : 1, sa, sb, sc,
              tiles_m, tiles_n, add};
    cuda::for_each(s, tiles, g);
  };
  if (t == DType::kFloat32) run(float());
  else if (t == DType::kFloat64) run(double());
  else fail(BRASS_ERR_DTYPE, op, ": only float32 and float64 are supported, got ", dtype_name(t));
}

void dot(const OpContext& ctx, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
  const auto& p = ctx.param<DotParam>();
  Dims d = dot_dims(in[0].shape, in[1].shape, p);
  if (ctx.req[0] == Req::kNull) return;
  int64_t lda = p.transpose_a ? d.m : d.k, ldb = p.transpose_b ? d.k : d.n;
  cudaStream_t s = cuda::stream(ctx.dev.id);
  gemm(s, "dot", in[0].dtype, p.transpose_a, p.transpose_b, 1, d.m, d.n, d.k, in[0].dptr, lda,
       0, in[1].dptr, ldb, 0, out[0].dptr, 0, ctx.req[0] == Req::kAdd);
  cuda::finish(s);
}

void batch_dot(const OpContext& ctx, const std::vector<TBlob>& in,
               const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  const auto& p = ctx.param<DotParam>();
  const Shape &a = in[0].shape, &b = in[1].shape;
  int64_t bs = a[0], m = out[0].shape[1], n = out[0].shape[2], k = p.transpose_a ? a[1] : a[2];
  cudaStream_t s = cuda::stream(ctx.dev.id);
  gemm(s, "batch_dot", in[0].dtype, p.transpose_a, p.transpose_b, bs, m, n, k, in[0].dptr,
       a[2], a[1] * a[2], in[1].dptr, b[2], b[1] * b[2], out[0].dptr, m * n,
       ctx.req[0] == Req::kAdd);
  cuda::finish(s);
}

// _dot_grad_lhs/_rhs and the batch forms (inputs out_grad, lhs, rhs): one GEMM per gradient,
// planned by grad_gemm (dot_params.h) as on the CPU.
template <bool kLhs, bool kBatch>
void dot_grad(const OpContext& ctx, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  const auto& p = ctx.param<DotParam>();
  const Shape &a = in[1].shape, &b = in[2].shape;
  Dims d = kBatch ? batch_dims(a, b, p) : dot_dims(a, b, p);
  GradGemm g = grad_gemm(kLhs, p, d);
  int64_t batch = kBatch ? a[0] : 1;
  int64_t step[3] = {d.m * d.n, kBatch ? a[1] * a[2] : 0, kBatch ? b[1] * b[2] : 0};
  cudaStream_t s = cuda::stream(ctx.dev.id);
  gemm(s, ctx.attrs->op->name.c_str(), in[0].dtype, g.ta, g.tb, batch, g.m, g.n, g.k,
       in[g.a_src].dptr, g.lda, step[g.a_src], in[g.b_src].dptr, g.ldb, step[g.b_src],
       out[0].dptr, g.m * g.n, ctx.req[0] == Req::kAdd);
  cuda::finish(s);
}

const bool kRegistered = [] {
  OpRegistry::get().add("dot").cuda(dot);
  OpRegistry::get().add("batch_dot").cuda(batch_dot);
  OpRegistry::get().add("_dot_grad_lhs").cuda(dot_grad<true, false>);
  OpRegistry::get().add("_dot_grad_rhs").cuda(dot_grad<false, false>);
  OpRegistry::get().add("_batch_dot_grad_lhs").cuda(dot_grad<true, true>);
  OpRegistry::get().add("_batch_dot_grad_rhs").cuda(dot_grad<false, true>);
  return true;
}();

}  // namespace gpu
}  // namespace dot_ops
}  // namespace brass
