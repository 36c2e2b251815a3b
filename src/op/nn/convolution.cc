// Convolution (MXNet 1.x: 1-D NCW and 2-D NCHW, groups, dilation) as im2col + GEMM per sample
// and group, and its gradient ops _backward_Convolution_data (GEMM + col2im) and
// _backward_Convolution_weight (im2col + GEMM). Parameters and the geometry are in
// conv_params.h, shared with the CUDA kernels (cuda/nn_conv.cu).
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "engine/thread_pool.h"
#include "op/grad.h"
#include "op/nn/conv_params.h"
#include "op/operator.h"
#include "op/tensor/dot_params.h"

namespace brass {
namespace conv_ops {

bool conv_float_type(const NodeAttrs& a, std::vector<int>& in, std::vector<int>& out) {
  bool ok = infer::same_type(a, in, out);
  if (ok && out[0] != int(DType::kFloat32) && out[0] != int(DType::kFloat64))
    fail(BRASS_ERR_DTYPE, a.op->name, ": only float32 and float64 are supported, got ",
         dtype_name(DType(out[0])));
  return ok;
}

// Inputs: data, weight[, bias]. Fills the weight and bias shapes from data and the params.
bool conv_shape(const NodeAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
  const auto& p = attrs.param<ConvParam>();
  if (!in[0].known()) return false;
  ConvGeom g = conv_geom(p, in[0], "Convolution");
  infer::assign_shape(in[1], conv_weight_shape(g), "Convolution", "weight");
  if (!p.no_bias) infer::assign_shape(in[2], Shape{g.f}, "Convolution", "bias");
  infer::assign_shape(out[0], conv_out_shape(g), "Convolution", "output");
  return true;
}

// _backward_Convolution_data(out_grad, weight, data): the gradient of data (data gives its
// shape only).
bool bwd_data_shape(const NodeAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
  const char* op = "_backward_Convolution_data";
  if (!in[2].known()) return false;
  ConvGeom g = conv_geom(attrs.param<ConvParam>(), in[2], op);
  infer::assign_shape(in[0], conv_out_shape(g), op, "out_grad");
  infer::assign_shape(in[1], conv_weight_shape(g), op, "weight");
  infer::assign_shape(out[0], in[2], op, "output");
  return true;
}

// _backward_Convolution_weight(out_grad, data): the gradient of the weight.
bool bwd_weight_shape(const NodeAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
  const char* op = "_backward_Convolution_weight";
  if (!in[1].known()) return false;
  ConvGeom g = conv_geom(attrs.param<ConvParam>(), in[1], op);
  infer::assign_shape(in[0], conv_out_shape(g), op, "out_grad");
  infer::assign_shape(out[0], conv_weight_shape(g), op, "output");
  return true;
}

size_t col_bytes(const NodeAttrs& attrs, const Shape& data, DType t) {
  ConvGeom g = conv_geom(attrs.param<ConvParam>(), data, attrs.op->name.c_str());
  return size_t(g.c * g.kh * g.kw * g.p) * dtype_size(t);
}

template <class T>
void im2col(const T* x, const ConvGeom& g, T* col) {
  int64_t n = g.c * g.kh * g.kw * g.p;
  for (int64_t i = 0; i < n; ++i) col[i] = im2col_at(x, g, i);
}

// Runs body(i0, i1, col) over ranges of [0, n) (samples, or blocks of them) in parallel, each
// with a column buffer of col_n elements: the op's temp space for the range that starts at 0,
// one of its own for the others.
template <class T, class F>
void over_ranges(int64_t n, T* temp, int64_t col_n, F&& body) {
  thread_pool::parallel_for(n, 1, [&](int64_t n0, int64_t n1) {
    std::unique_ptr<T[]> own;
    T* col = temp;
    if (n0 != 0 && col_n > 0) {
      own.reset(new T[size_t(col_n)]);
      col = own.get();
    }
    body(n0, n1, col);
  });
}

template <class T>
void conv_forward(const OpContext& ctx, const std::vector<TBlob>& in,
                  const std::vector<TBlob>& out) {
  const auto& prm = ctx.param<ConvParam>();
  Req req = ctx.req[0];
  if (req == Req::kNull) return;
  ConvGeom g = conv_geom(prm, in[0].shape, "Convolution");
  const T* x = in[0].ptr<T>();
  const T* w = in[1].ptr<T>();
  T* y = out[0].ptr<T>();
  DType t = in[0].dtype;
  int64_t col_n = conv_col_is_data(g) ? 0 : g.c * g.kh * g.kw * g.p;
  over_ranges<T>(g.n, static_cast<T*>(ctx.temp), col_n, [&](int64_t n0, int64_t n1, T* col) {
    for (int64_t n = n0; n < n1; ++n) {
      const T* xn = x + n * g.c * g.h * g.w;
      const T* c = xn;
      if (col_n) {
        im2col(xn, g, col);
        c = col;
      }
      T* yn = y + n * g.f * g.p;
      for (int64_t gi = 0; gi < g.g; ++gi)
        dot_ops::gemm_any(t, false, false, g.fg, g.p, g.k, w + gi * g.fg * g.k, g.k,
                          c + gi * g.k * g.p, g.p, yn + gi * g.fg * g.p, req);
      if (!prm.no_bias) {
        const T* b = in[2].ptr<T>();
        for (int64_t f = 0; f < g.f; ++f)
          for (int64_t q = 0; q < g.p; ++q) yn[f * g.p + q] += b[f];
      }
    }
  });
}

// dx[n] = col2im(W_g^T dy_g[n]) per group.
template <class T>
void conv_bwd_data(const OpContext& ctx, const std::vector<TBlob>& in,
                   const std::vector<TBlob>& out) {
  Req req = ctx.req[0];
  if (req == Req::kNull) return;
  ConvGeom g = conv_geom(ctx.param<ConvParam>(), in[2].shape, "_backward_Convolution_data");
  const T* dy = in[0].ptr<T>();
  const T* w = in[1].ptr<T>();
  T* dx = out[0].ptr<T>();
  DType t = in[0].dtype;
  int64_t chw = g.c * g.h * g.w;
  bool direct = conv_col_is_data(g) && req != Req::kAdd;  // the GEMM writes dx itself
  int64_t col_n = direct ? 0 : g.c * g.kh * g.kw * g.p;
  over_ranges<T>(g.n, static_cast<T*>(ctx.temp), col_n, [&](int64_t n0, int64_t n1, T* col) {
    for (int64_t n = n0; n < n1; ++n) {
      T* dst = direct ? dx + n * chw : col;
      for (int64_t gi = 0; gi < g.g; ++gi)
        dot_ops::gemm_any(t, true, false, g.k, g.p, g.fg, w + gi * g.fg * g.k, g.k,
                          dy + n * g.f * g.p + gi * g.fg * g.p, g.p, dst + gi * g.k * g.p,
                          Req::kWrite);
      if (direct) continue;
      T* dxn = dx + n * chw;
      for (int64_t i = 0; i < chw; ++i) {
        T v = col2im_at(col, g, i);
        dxn[i] = req == Req::kAdd ? dxn[i] + v : v;
      }
    }
  });
}

// dW_g = sum_n dy_g[n] im2col(x[n])_g^T.
template <class T>
void conv_bwd_weight(const OpContext& ctx, const std::vector<TBlob>& in,
                     const std::vector<TBlob>& out) {
  Req req = ctx.req[0];
  if (req == Req::kNull) return;
  ConvGeom g = conv_geom(ctx.param<ConvParam>(), in[1].shape, "_backward_Convolution_weight");
  const T* dy = in[0].ptr<T>();
  const T* x = in[1].ptr<T>();
  T* dw = out[0].ptr<T>();
  DType t = in[0].dtype;
  if (g.n == 0 && req != Req::kAdd) {
    for (int64_t i = 0; i < out[0].size(); ++i) dw[i] = T(0);
    return;
  }
  // Blocks of kBlock samples in parallel: the first sums into dw (with the request), each
  // other into a partial of its own, added to dw in block order after (the same sums
  // whatever the thread count).
  constexpr int64_t kBlock = 4;
  int64_t nb = (g.n + kBlock - 1) / kBlock, wsize = out[0].size();
  int64_t col_n = conv_col_is_data(g) ? 0 : g.c * g.kh * g.kw * g.p;
  std::unique_ptr<T[]> partial(nb > 1 ? new T[size_t((nb - 1) * wsize)] : nullptr);
  over_ranges<T>(nb, static_cast<T*>(ctx.temp), col_n, [&](int64_t b0, int64_t b1, T* col) {
    for (int64_t b = b0; b < b1; ++b) {
      T* acc = b == 0 ? dw : partial.get() + (b - 1) * wsize;
      for (int64_t n = b * kBlock; n < std::min(g.n, (b + 1) * kBlock); ++n) {
        const T* xn = x + n * g.c * g.h * g.w;
        const T* c = xn;
        if (col_n) {
          im2col(xn, g, col);
          c = col;
        }
        Req r = n > b * kBlock ? Req::kAdd : b == 0 ? req : Req::kWrite;
        for (int64_t gi = 0; gi < g.g; ++gi)
          dot_ops::gemm_any(t, false, true, g.fg, g.k, g.p, dy + n * g.f * g.p + gi * g.fg * g.p,
                            g.p, c + gi * g.k * g.p, g.p, acc + gi * g.fg * g.k, r);
      }
    }
  });
  for (int64_t b = 1; b < nb; ++b) {
    const T* pb = partial.get() + (b - 1) * wsize;
    for (int64_t i = 0; i < wsize; ++i) dw[i] += pb[i];
  }
}

// Runs kernel(tag) with the storage type of t (float32 or float64; float_type checked).
template <class F>
void by_float(DType t, F&& kernel) {
  if (t == DType::kFloat32) kernel(float());
  else kernel(double());
}

void conv_forward_cpu(const OpContext& c, const std::vector<TBlob>& in,
                      const std::vector<TBlob>& out) {
  by_float(in[0].dtype, [&](auto tag) { conv_forward<decltype(tag)>(c, in, out); });
}
void conv_bwd_data_cpu(const OpContext& c, const std::vector<TBlob>& in,
                       const std::vector<TBlob>& out) {
  by_float(in[0].dtype, [&](auto tag) { conv_bwd_data<decltype(tag)>(c, in, out); });
}
void conv_bwd_weight_cpu(const OpContext& c, const std::vector<TBlob>& in,
                         const std::vector<TBlob>& out) {
  by_float(in[0].dtype, [&](auto tag) { conv_bwd_weight<decltype(tag)>(c, in, out); });
}

// The parameters of a node with no_bias forced on (for the gradients, which are convolutions
// without bias).
grad::Params without_bias(const NodePtr& n) {
  grad::Params p;
  for (auto& kv : n->attrs->dict)
    if (kv.first != "no_bias") p.push_back(kv);
  p.emplace_back("no_bias", "True");
  return p;
}

// Convolution is bilinear in (data, weight), so every gradient is a convolution-like product
// again: with D(g, w) = _backward_Convolution_data and Wg(g, x) = _backward_Convolution_weight,
// <D(g, w), x> = <g, conv(x, w)> = <Wg(g, x), w>.
void register_gradients() {
  using grad::Entries;
  using E = NodeEntry;
  OpRegistry::get().add("Convolution").grad([](const NodePtr& n, const Entries& og) {
    const auto& p = n->attrs->param<ConvParam>();
    E x = grad::in(n, 0), w = grad::in(n, 1);
    if (og[0].empty()) return Entries(n->inputs.size());
    Entries r{grad::apply("_backward_Convolution_data", {og[0], w, x}, n->attrs->dict),
              grad::apply("_backward_Convolution_weight", {og[0], x}, n->attrs->dict)};
    if (!p.no_bias)
      r.push_back(grad::apply("sum", {og[0]},
                              {{"axis", p.kernel.size() == 1 ? "(0, 2)" : "(0, 2, 3)"}}));
    return r;
  });
  // <H, D(g, w)> = <g, conv(H, w)>: d/dg = conv(H, w), d/dw = Wg(g, H).
  OpRegistry::get().add("_backward_Convolution_data").grad([](const NodePtr& n, const Entries& h) {
    E g = grad::in(n, 0), w = grad::in(n, 1);
    if (h[0].empty()) return Entries(3);
    return Entries{grad::apply("Convolution", {h[0], w}, without_bias(n)),
                   grad::apply("_backward_Convolution_weight", {g, h[0]}, n->attrs->dict), E()};
  });
  // <H, Wg(g, x)> = <g, conv(x, H)>: d/dg = conv(x, H), d/dx = D(g, H).
  OpRegistry::get().add("_backward_Convolution_weight").grad([](const NodePtr& n,
                                                                const Entries& h) {
    E g = grad::in(n, 0), x = grad::in(n, 1);
    if (h[0].empty()) return Entries(2);
    return Entries{grad::apply("Convolution", {x, h[0]}, without_bias(n)),
                   grad::apply("_backward_Convolution_data", {g, h[0], x}, n->attrs->dict)};
  });
}

const bool kRegistered = [] {
  OpRegistry::get().add("Convolution")
      .describe("Convolution of NCW (1-D) or NCHW (2-D) data with num_filter filters (weight "
                "(num_filter, C/num_group, *kernel)), plus a bias unless no_bias:\n\n"
                "    out = floor((x + 2*pad - dilate*(kernel-1) - 1) / stride) + 1 per spatial "
                "dimension")
      .inputs({"data", "weight", "bias"})
      .set_num_inputs([](const NodeAttrs& a) { return a.param<ConvParam>().no_bias ? 2 : 3; })
      .params<ConvParam>()
      .shape_fn(conv_shape).type_fn(conv_float_type).partial_infer()
      .temp([](const NodeAttrs& a, const std::vector<TBlob>& in, const std::vector<TBlob>&) {
        return col_bytes(a, in[0].shape, in[0].dtype);
      })
      .cpu(conv_forward_cpu);
  OpRegistry::get().add("_backward_Convolution_data")
      .describe("The gradient of Convolution with respect to its data.")
      .inputs({"out_grad", "weight", "data"}).params<ConvParam>()
      .shape_fn(bwd_data_shape).type_fn(conv_float_type).partial_infer()
      .temp([](const NodeAttrs& a, const std::vector<TBlob>& in, const std::vector<TBlob>&) {
        return col_bytes(a, in[2].shape, in[0].dtype);
      })
      .add_req()
      .cpu(conv_bwd_data_cpu);
  OpRegistry::get().add("_backward_Convolution_weight")
      .describe("The gradient of Convolution with respect to its weight.")
      .inputs({"out_grad", "data"}).params<ConvParam>()
      .shape_fn(bwd_weight_shape).type_fn(conv_float_type).partial_infer()
      .temp([](const NodeAttrs& a, const std::vector<TBlob>& in, const std::vector<TBlob>&) {
        return col_bytes(a, in[1].shape, in[0].dtype);
      })
      .add_req()
      .cpu(conv_bwd_weight_cpu);
  register_gradients();
  return true;
}();

}  // namespace conv_ops
}  // namespace brass
