// dot and batch_dot on the packed GEMM (float32/float64), with MXNet's transpose flags.
// dot of N-d arrays contracts the last axis of lhs with the first axis of rhs (MXNet rule).
// Parameters and dot_dims are in dot_params.h (shared with the CUDA kernels, cuda/dot.cu).
#include <string>

#include "kernel/gemm.h"
#include "op/grad.h"
#include "op/operator.h"
#include "op/tensor/dot_params.h"

namespace brass {
namespace dot_ops {

#if BRASS_ALL_OPS || BRASS_OP_dot
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
#endif

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
  dispatch_f32_f64(t, "dot", [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same<T, float>::value)
      kernel::sgemm(ta, tb, m, n, k, 1.0f, static_cast<const float*>(a), lda, static_cast<const float*>(b), ldb,
                    float(beta), static_cast<float*>(c), n);
    else
      kernel::dgemm(ta, tb, m, n, k, 1.0, static_cast<const double*>(a), lda, static_cast<const double*>(b), ldb,
                    beta, static_cast<double*>(c), n);
  });
}

#if BRASS_ALL_OPS || BRASS_OP_dot
void dot_cpu(const OpContext& ctx, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
  const auto& p = ctx.param<DotParam>();
  Dims d = dot_dims(in[0].shape, in[1].shape, p);
  int64_t lda = p.transpose_a ? d.m : d.k, ldb = p.transpose_b ? d.k : d.n;
  gemm_any(in[0].dtype, p.transpose_a, p.transpose_b, d.m, d.n, d.k, in[0].dptr, lda, in[1].dptr,
           ldb, out[0].dptr, ctx.req[0]);
}
#endif

#if BRASS_ALL_OPS || BRASS_OP_batch_dot
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
#endif

#if BRASS_TRAINING
// ---- Gradients ---------------------------------------------------------------------------------
// _dot_grad_lhs(g, a, b) is the gradient of dot(a, b) with respect to a for the output
// gradient g (shape and dtype of a); _dot_grad_rhs the one with respect to b. The batch_dot
// forms work per batch entry. One GEMM each (grad_gemm in dot_params.h).
template <bool kLhs, bool kBatch>
void dot_grad_cpu(const OpContext& ctx, const std::vector<TBlob>& in,
                  const std::vector<TBlob>& out) {
  const auto& p = ctx.param<DotParam>();
  const Shape &a = in[1].shape, &b = in[2].shape;
  Dims d = kBatch ? batch_dims(a, b, p) : dot_dims(a, b, p);
  GradGemm g = grad_gemm(kLhs, p, d);
  int64_t batch = kBatch ? a[0] : 1;
  size_t es = dtype_size(in[0].dtype);
  // Elements per batch entry of each input and of the output.
  int64_t step[3] = {d.m * d.n, kBatch ? a[1] * a[2] : 0, kBatch ? b[1] * b[2] : 0};
  int64_t ostep = g.m * g.n;
  for (int64_t i = 0; i < batch; ++i) {
    auto at = [&](int src) { return static_cast<const char*>(in[src].dptr) + i * step[src] * es; };
    gemm_any(in[0].dtype, g.ta, g.tb, g.m, g.n, g.k, at(g.a_src), g.lda, at(g.b_src), g.ldb,
             static_cast<char*>(out[0].dptr) + i * ostep * es, ctx.req[0]);
  }
}

// Output: the shape and dtype of input 1 (lhs) or 2 (rhs); the forward shapes must agree.
template <int kLike>
void reg_grad(const char* name, ShapeFn forward_shape) {
  OpRegistry::get().add(name)
      .describe(kLike == 1 ? "The gradient of a matrix product with respect to its lhs."
                           : "The gradient of a matrix product with respect to its rhs.")
      .inputs({"out_grad", "lhs", "rhs"}).params<DotParam>().add_req()
      .shape_fn([forward_shape](const NodeAttrs& at, std::vector<Shape>& in,
                                std::vector<Shape>& out) {
        std::vector<Shape> fin{in[1], in[2]}, fout{Shape()};
        if (!forward_shape(at, fin, fout)) return false;
        infer::assign_shape(in[0], fout[0], at.op->name.c_str(), "out_grad");
        infer::assign_shape(out[0], in[kLike], at.op->name.c_str(), "output");
        return true;
      })
      .type_fn([](const NodeAttrs& at, std::vector<int>& in, std::vector<int>& out) {
        return float_type(at, in, out);
      });
}

void register_gradients() {
  using grad::Entries;
  using E = NodeEntry;
  // The products are bilinear, so their gradients are products again: with H the gradient
  // flowing into a gradient, d<H, lhs_grad(g, a, b)> = <dot(H, b), g> + <rhs_grad(g, H, b), b>.
  for (bool batch : {false, true}) {
    std::string fwd = batch ? "batch_dot" : "dot";
    std::string lhs = "_" + fwd + "_grad_lhs", rhs = "_" + fwd + "_grad_rhs";
    auto params = [](const NodePtr& n) { return n->attrs->dict; };
    OpRegistry::get().add(fwd.c_str()).grad([=](const NodePtr& n, const Entries& g) {
      E a = grad::in(n, 0), b = grad::in(n, 1);
      return Entries{grad::apply(lhs.c_str(), {g[0], a, b}, params(n)),
                     grad::apply(rhs.c_str(), {g[0], a, b}, params(n))};
    });
    OpRegistry::get().add(lhs.c_str()).grad([=](const NodePtr& n, const Entries& h) {
      E g = grad::in(n, 0), b = grad::in(n, 2);
      return Entries{grad::apply(fwd.c_str(), {h[0], b}, params(n)), E(),
                     grad::apply(rhs.c_str(), {g, h[0], b}, params(n))};
    });
    OpRegistry::get().add(rhs.c_str()).grad([=](const NodePtr& n, const Entries& h) {
      E g = grad::in(n, 0), a = grad::in(n, 1);
      return Entries{grad::apply(fwd.c_str(), {a, h[0]}, params(n)),
                     grad::apply(lhs.c_str(), {g, a, h[0]}, params(n)), E()};
    });
  }
}
#endif  // BRASS_TRAINING

[[maybe_unused]] const bool kRegistered = [] {
#if BRASS_ALL_OPS || BRASS_OP_dot
  OpRegistry::get().add("dot")
      .describe("Matrix product. N-d operands contract lhs's last axis with rhs's first axis.\n\n"
                "    dot([[1, 2]], [[3], [4]]) = [[11]]")
      .inputs({"lhs", "rhs"}).params<DotParam>()
      .shape_fn(dot_shape).type_fn(float_type).add_req().cpu(dot_cpu);
#endif
#if BRASS_ALL_OPS || BRASS_OP_batch_dot
  OpRegistry::get().add("batch_dot")
      .describe("Batched matrix product of (B, M, K) and (B, K, N) arrays.")
      .inputs({"lhs", "rhs"}).params<DotParam>()
      .shape_fn(batch_dot_shape).type_fn(float_type).add_req().cpu(batch_dot_cpu);
#endif
#if BRASS_TRAINING
  reg_grad<1>("_dot_grad_lhs", dot_shape);
  OpRegistry::get().add("_dot_grad_lhs").cpu(dot_grad_cpu<true, false>);
  reg_grad<2>("_dot_grad_rhs", dot_shape);
  OpRegistry::get().add("_dot_grad_rhs").cpu(dot_grad_cpu<false, false>);
  reg_grad<1>("_batch_dot_grad_lhs", batch_dot_shape);
  OpRegistry::get().add("_batch_dot_grad_lhs").cpu(dot_grad_cpu<true, true>);
  reg_grad<2>("_batch_dot_grad_rhs", batch_dot_shape);
  OpRegistry::get().add("_batch_dot_grad_rhs").cpu(dot_grad_cpu<false, true>);
  register_gradients();
#endif
  return true;
}();

}  // namespace dot_ops
}  // namespace brass
