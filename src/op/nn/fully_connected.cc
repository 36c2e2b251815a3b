// FullyConnected (MXNet's dense layer): out = data . weight^T + bias, with data viewed as a
// matrix of rows (fc_dims in fully_connected_params.h, shared with the CUDA kernel in
// cuda/nn_dense.cu). One GEMM plus a bias add; float32 and float64 (the GEMM's dtypes).
// The gradient is a graph of the dot gradient ops, so second derivatives work too.
#include <algorithm>
#include <string>

#include "engine/thread_pool.h"
#include "op/grad.h"
#include "op/nn/float32_compute.h"
#include "op/nn/fully_connected_params.h"
#include "op/operator.h"
#include "op/tensor/dot_params.h"

namespace brass {
namespace fc_ops {

#if BRASS_ALL_OPS || BRASS_OP_FullyConnected
// The expected weight shape (num_hidden, k), or a clear error naming the shapes.
void check_weight(const Shape& w, const Shape& data, int64_t h, int64_t k) {
  bool ok = w.ndim() == 2 && (w[0] < 0 || w[0] == h) && (w[1] < 0 || k < 0 || w[1] == k);
  if (!ok)
    fail(BRASS_ERR_SHAPE, "FullyConnected: weight has shape ", w, ", expected (num_hidden, ",
         "input features) = (", h, ", ", k < 0 ? std::string("?") : std::to_string(k),
         ") for data ", data);
}

// Fills weight (num_hidden, k) and bias (num_hidden,) from the data shape and num_hidden; when
// the data's feature extent is unknown and is one axis, it is taken from the weight.
bool fc_shape(const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
  const auto& p = a.param<FullyConnectedParam>();
  const char* op = "FullyConnected";
  int64_t h = p.num_hidden;
  if (in[1].ndim_known()) check_weight(in[1], in[0], h, -1);
  infer::assign_shape(in[1], Shape{h, -1}, op, "weight");
  if (!p.no_bias) {
    if (in[2].ndim_known() && !(in[2].ndim() == 1 && (in[2][0] < 0 || in[2][0] == h)))
      fail(BRASS_ERR_SHAPE, "FullyConnected: bias has shape ", in[2], ", expected (", h, ",)");
    infer::assign_shape(in[2], Shape{h}, op, "bias");
  }
  Shape& d = in[0];
  if (!d.ndim_known()) return false;
  if (d.ndim() == 0)
    fail(BRASS_ERR_SHAPE, "FullyConnected: data must have at least one axis, got ", d);
  int nd = d.ndim();
  bool one_axis = !p.flatten || nd == 2;  // the features are the last axis alone
  if (one_axis && d[nd - 1] < 0 && in[1][1] >= 0) d[nd - 1] = in[1][1];
  int64_t k = -1;
  if (!p.flatten) {
    k = d[nd - 1];
  } else {
    Shape rest(0);
    for (int i = 1; i < nd; ++i) rest.push_back(d[i]);
    if (rest.known()) k = rest.size();
  }
  check_weight(in[1], d, h, k);
  if (k >= 0) in[1][1] = k;
  Shape o(0);
  if (p.flatten) {
    o.push_back(d[0]);
  } else {
    for (int i = 0; i < nd - 1; ++i) o.push_back(d[i]);
  }
  o.push_back(h);
  infer::assign_shape(out[0], o, op, "output");
  bool known = d.known() && in[1].known() && out[0].known();
  return known && (p.no_bias || in[2].known());
}

bool fc_type(const NodeAttrs& a, std::vector<int>& in, std::vector<int>& out) {
  bool ok = infer::same_type(a, in, out);
  if (ok && !is_float(DType(out[0])))
    fail(BRASS_ERR_DTYPE, "FullyConnected: only floating-point data is supported, got ",
         dtype_name(DType(out[0])));
  return ok;
}

template <class T>
void add_bias(T* y, const T* b, int64_t m, int64_t h) {
  thread_pool::parallel_for(m, std::max<int64_t>(1, 32768 / std::max<int64_t>(h, 1)),
                            [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t j = 0; j < h; ++j) y[r * h + j] += b[j];
  });
}

void fc_cpu(const OpContext& ctx, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  const auto& p = ctx.param<FullyConnectedParam>();
  FcDims d = fc_dims(in[0].shape, p.flatten);
  int64_t h = p.num_hidden;
  // out (m x h) = data (m x k) . weight^T, weight stored as (h x k).
  dot_ops::gemm_any(in[0].dtype, false, true, d.m, h, d.k, in[0].dptr, d.k, in[1].dptr, d.k,
                    out[0].dptr, ctx.req[0]);
  if (p.no_bias) return;
  dispatch_f32_f64(in[0].dtype, "FullyConnected", [&](auto tag) {
    using T = decltype(tag);
    add_bias(out[0].ptr<T>(), in[2].ptr<T>(), d.m, h);
  });
}

// d data = g . weight (reshaped back to the data), d weight = g^T . data, d bias = g summed
// over every axis but the last: the gradients of dot(data2d, weight, transpose_b=True).
std::vector<NodeEntry> fc_grad(const NodePtr& n, const std::vector<NodeEntry>& g) {
  const auto& p = n->attrs->param<FullyConnectedParam>();
  NodeEntry x = grad::in(n, 0), w = grad::in(n, 1);
  NodeEntry x2 = p.flatten ? grad::apply("Flatten", {x}) : x;
  grad::Params tb{{"transpose_b", "True"}};
  NodeEntry dx = grad::apply("_dot_grad_lhs", {g[0], x2, w}, tb);
  if (p.flatten) dx = grad::apply("reshape_like", {dx, x});
  std::vector<NodeEntry> r{dx, grad::apply("_dot_grad_rhs", {g[0], x2, w}, tb)};
  if (!p.no_bias) r.push_back(grad::apply("_sum_to_like", {g[0], grad::in(n, 2)}));
  return r;
}
#endif

[[maybe_unused]] const bool kRegistered = [] {
#if BRASS_ALL_OPS || BRASS_OP_FullyConnected
  OpRegistry::get().add("FullyConnected")
      .describe("Applies a linear transformation: out = data . weight^T + bias.\n\n"
                "With flatten=True the data (N, ...) is viewed as (N, features); with "
                "flatten=False the layer acts on the last axis. weight is (num_hidden, "
                "features), bias (num_hidden,) (absent with no_bias=True).\n\n"
                "    FullyConnected([[1, 2]], [[1, 1], [0, 1]], [0, 10], num_hidden=2)"
                " = [[3, 12]]")
      .inputs({"data", "weight", "bias"})
      .set_num_inputs([](const NodeAttrs& a) {
        return a.param<FullyConnectedParam>().no_bias ? 2 : 3;
      })
      .params<FullyConnectedParam>()
      .shape_fn(fc_shape)
      .partial_infer()  // weight and bias from the data (and the data's features back)
      .type_fn(fc_type)
      .add_req()
      .cpu(nn_dtype::cpu_small_floats(fc_cpu))
      .grad(fc_grad);
#endif
  return true;
}();

}  // namespace fc_ops
}  // namespace brass
