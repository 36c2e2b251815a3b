// dot and batch_dot on the packed GEMM (float32/float64), with MXNet's transpose flags.
// dot of N-d arrays contracts the last axis of lhs with the first axis of rhs (MXNet rule).
// Parameters and dot_dims are in dot_params.h (shared with the CUDA kernels, cuda/dot.cu).
#include "kernel/gemm.h"
#include "op/operator.h"
#include "op/tensor/dot_params.h"

namespace brass {
namespace dot_ops {

Dims dot_dims(const Shape& a, const Shape& b, const DotParam& p) {
  // MXNet: lhs (.., K) flattened to (M, K); transpose_a takes lhs as (K, M) with K = first dim.
  Dims d{};
  if (a.ndim() == 0 || b.ndim() == 0)
    fail(BRASS_ERR_SHAPE, "dot: operands must not be 0-d (", a, ", ", b, ")");
  if (!p.transpose_a) {
    d.k = a[a.ndim() - 1];
    d.m = checked_product(a.data(), a.ndim() - 1, "dot");
  } else {
    d.k = a[0];
    d.m = checked_product(a.data() + 1, a.ndim() - 1, "dot");
  }
  if (!p.transpose_b) {
    d.k2 = b[0];
    d.n = checked_product(b.data() + 1, b.ndim() - 1, "dot");
  } else {
    d.k2 = b[b.ndim() - 1];
    d.n = checked_product(b.data(), b.ndim() - 1, "dot");
  }
  return d;
}

bool dot_shape(const NodeAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
  if (!in[0].known() || !in[1].known()) return false;
  const auto& p = attrs.param<DotParam>();
  const Shape &a = in[0], &b = in[1];
  Dims d = dot_dims(a, b, p);
  if (d.k != d.k2)
    fail(BRASS_ERR_SHAPE, "dot: shapes ", a, " and ", b, " are not aligned (transpose_a=",
         p.transpose_a, ", transpose_b=", p.transpose_b, ")");
  Shape s(0);
  if (!p.transpose_a) for (int i = 0; i < a.ndim() - 1; ++i) s.push_back(a[i]);
  else for (int i = 1; i < a.ndim(); ++i) s.push_back(a[i]);
  if (!p.transpose_b) for (int i = 1; i < b.ndim(); ++i) s.push_back(b[i]);
  else for (int i = 0; i < b.ndim() - 1; ++i) s.push_back(b[i]);
  if (s.ndim() == 0) s.push_back(1);  // MXNet 1.x: 1-D . 1-D -> (1,)
  infer::assign_shape(out[0], s, "dot", "output");
  return true;
}

bool float_type(const NodeAttrs& a, std::vector<int>& in, std::vector<int>& out) {
  bool ok = infer::same_type(a, in, out);
  if (ok && out[0] != int(DType::kFloat32) && out[0] != int(DType::kFloat64))
    fail(BRASS_ERR_DTYPE, a.op->name, ": only float32 and float64 are supported, got ",
         dtype_name(DType(out[0])));
  return ok;
}

void gemm_any(DType t, bool ta, bool tb, int64_t m, int64_t n, int64_t k, const void* a,
              int64_t lda, const void* b, int64_t ldb, void* c, Req req) {
  if (req == Req::kNull) return;
  double beta = req == Req::kAdd ? 1.0 : 0.0;
  if (t == DType::kFloat32)
    kernel::sgemm(ta, tb, m, n, k, 1.0f, static_cast<const float*>(a), lda,
                  static_cast<const float*>(b), ldb, float(beta), static_cast<float*>(c), n);
  else
    kernel::dgemm(ta, tb, m, n, k, 1.0, static_cast<const double*>(a), lda,
                  static_cast<const double*>(b), ldb, beta, static_cast<double*>(c), n);
}

void dot_cpu(const OpContext& ctx, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
  const auto& p = ctx.param<DotParam>();
  Dims d = dot_dims(in[0].shape, in[1].shape, p);
  int64_t lda = p.transpose_a ? d.m : d.k, ldb = p.transpose_b ? d.k : d.n;
  gemm_any(in[0].dtype, p.transpose_a, p.transpose_b, d.m, d.n, d.k, in[0].dptr, lda, in[1].dptr,
           ldb, out[0].dptr, ctx.req[0]);
}

bool batch_dot_shape(const NodeAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
  if (!in[0].known() || !in[1].known()) return false;
  const auto& p = attrs.param<DotParam>();
  const Shape &a = in[0], &b = in[1];
  if (a.ndim() != 3 || b.ndim() != 3 || a[0] != b[0])
    fail(BRASS_ERR_SHAPE, "batch_dot: expected two 3-D arrays with the same batch size, got ", a,
         " and ", b);
  int64_t m = p.transpose_a ? a[2] : a[1], ka = p.transpose_a ? a[1] : a[2];
  int64_t kb = p.transpose_b ? b[2] : b[1], n = p.transpose_b ? b[1] : b[2];
  if (ka != kb)
    fail(BRASS_ERR_SHAPE, "batch_dot: shapes ", a, " and ", b, " are not aligned (transpose_a=",
         p.transpose_a, ", transpose_b=", p.transpose_b, ")");
  infer::assign_shape(out[0], Shape{a[0], m, n}, "batch_dot", "output");
  return true;
}

void batch_dot_cpu(const OpContext& ctx, const std::vector<TBlob>& in,
                   const std::vector<TBlob>& out) {
  const auto& p = ctx.param<DotParam>();
  const Shape &a = in[0].shape, &b = in[1].shape;
  int64_t bs = a[0], m = out[0].shape[1], n = out[0].shape[2], k = p.transpose_a ? a[1] : a[2];
  size_t es = dtype_size(in[0].dtype);
  for (int64_t i = 0; i < bs; ++i) {
    const char* pa = static_cast<const char*>(in[0].dptr) + i * a[1] * a[2] * es;
    const char* pb = static_cast<const char*>(in[1].dptr) + i * b[1] * b[2] * es;
    char* pc = static_cast<char*>(out[0].dptr) + i * m * n * es;
    gemm_any(in[0].dtype, p.transpose_a, p.transpose_b, m, n, k, pa, a[2], pb, b[2], pc,
             ctx.req[0]);
  }
}

const bool kRegistered = [] {
  OpRegistry::get().add("dot")
      .describe("Matrix product. N-d operands contract lhs's last axis with rhs's first axis.\n\n"
                "    dot([[1, 2]], [[3], [4]]) = [[11]]")
      .inputs({"lhs", "rhs"}).params<DotParam>()
      .shape_fn(dot_shape).type_fn(float_type).cpu(dot_cpu);
  OpRegistry::get().add("batch_dot")
      .describe("Batched matrix product of (B, M, K) and (B, K, N) arrays.")
      .inputs({"lhs", "rhs"}).params<DotParam>()
      .shape_fn(batch_dot_shape).type_fn(float_type).cpu(batch_dot_cpu);
  return true;
}();

}  // namespace dot_ops
}  // namespace brass
