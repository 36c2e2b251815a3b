// Dropout (MXNet's, inverted): in training (or always, with mode='always') each element is
// kept with probability 1 - p and scaled by 1 / (1 - p): out = data * mask, the mask (a hidden
// output, shared along `axes`) holding 1 / (1 - p) or 0. At inference it is the identity and
// the mask is ones. The mask comes from the invocation's Philox stream (dropout_params.h), the
// same on the CPU and the GPU (cuda/nn_dense.cu). Gradient: out_grad * mask.
#include <vector>

#include "engine/thread_pool.h"
#include "op/grad.h"
#include "op/nn/dropout_params.h"
#include "op/nn/nn_dtype.h"
#include "op/operator.h"

namespace brass {
namespace dropout_ops {

#if BRASS_ALL_OPS || BRASS_OP_Dropout
bool dropout_shape(const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
  infer::assign_shape(in[0], out[0], "Dropout", "data");
  infer::assign_shape(out[0], in[0], "Dropout", "output");
  if (!in[0].ndim_known()) return false;
  infer::assign_shape(out[1], mask_shape(in[0], a.param<DropoutParam>().axes), "Dropout", "mask");
  return in[0].known();
}

bool dropout_type(const NodeAttrs&, std::vector<int>& in, std::vector<int>& out) {
  return nn_dtype::same_float_type("Dropout", in, out);
}

void dropout_cpu(const OpContext& ctx, const std::vector<TBlob>& in,
                 const std::vector<TBlob>& out) {
  const auto& p = ctx.param<DropoutParam>();
  bool on = active(p, ctx.is_train);
  const TBlob &x = in[0], &y = out[0];
  MaskView v = mask_view(x.shape, out[1].shape);
  int64_t n = x.size(), nm = out[1].size();
  nn_dtype::dispatch_float(x.dtype, "Dropout", [&](auto tag) {
    using T = decltype(tag);
    using C = nn_dtype::Compute<T>;
    std::vector<T> own;  // the mask, when its output is not wanted
    T* mask = out[1].ptr<T>();
    if (ctx.req[1] == Req::kNull) {
      own.resize(size_t(nm));
      mask = own.data();
    }
    T one = convert<T>(1.0), zero = convert<T>(0.0);
    if (on) {
      double keep = 1.0 - p.p;
      T scale = convert<T>(keep > 0 ? 1.0 / keep : 0.0);
      thread_pool::parallel_for((nm + 3) / 4, 4096, [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b) mask_block(ctx.rng, b, nm, keep, scale, zero, mask);
      });
    } else {
      for (int64_t j = 0; j < nm; ++j) mask[j] = one;
    }
    if (ctx.req[0] == Req::kNull) return 0;
    const T* xs = x.ptr<T>();
    T* ys = y.ptr<T>();
    bool add = ctx.req[0] == Req::kAdd;
    thread_pool::parallel_for(n, 32768, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        C r = convert<C>(xs[i]) * convert<C>(mask[mask_index(v, i)]);
        ys[i] = convert<T>(add ? convert<C>(ys[i]) + r : r);
      }
    });
    return 0;
  });
}
#endif

[[maybe_unused]] const bool kRegistered = [] {
#if BRASS_ALL_OPS || BRASS_OP_Dropout
  OpRegistry::get().add("Dropout")
      .describe("Randomly zeroes elements with probability p during training, scaling the "
                "others by 1 / (1 - p); the identity at inference (unless mode='always'). "
                "With axes, one draw is shared along those axes.\n\n"
                "    Dropout(ones((2, 3)), p=0.5) = [[2, 0, 2], [0, 0, 2]] (in training)")
      .inputs({"data"})
      .set_num_outputs(2)
      .visible_outputs(1)
      .params<DropoutParam>()
      .shape_fn(dropout_shape)
      .partial_infer()
      .type_fn(dropout_type)
      .inplace_pairs({{0, 0}})
      .random()
      .cpu(dropout_cpu)
      .grad([](const NodePtr& n, const std::vector<NodeEntry>& g) {
        // The mask does not depend on the data: its own gradient (g[1]) goes nowhere.
        return std::vector<NodeEntry>{grad::apply("broadcast_mul", {g[0], grad::out(n, 1)})};
      });
#endif
  return true;
}();

}  // namespace dropout_ops
}  // namespace brass
