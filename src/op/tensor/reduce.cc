// Reductions: sum, mean, prod, max, min, nansum, nanprod, norm, argmax, argmin, with MXNet
// 1.x axis/keepdims/exclude rules (a full reduction gives shape (1,)). Every output element
// sums in one fixed order, so results do not depend on the thread count.
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "kernel/elemwise.h"
#include "kernel/transpose.h"
#include "op/grad.h"
#include "op/operator.h"
#include "op/tensor/elemwise_binary_functors.h"
#include "op/tensor/reduce_params.h"
#include "storage/storage.h"

namespace brass {
namespace reduce_ops {

std::vector<char> reduced_axes(const char* op, int nd, const std::optional<Tuple>& axis,
                               bool exclude) {
  std::vector<char> r(nd, 0);
  if (!axis || axis->empty()) {
    std::fill(r.begin(), r.end(), exclude ? 0 : 1);
    if (exclude && axis) std::fill(r.begin(), r.end(), 1);  // exclude=() keeps nothing out
    return r;
  }
  for (int64_t a : *axis) {
    int k = normalize_axis(a, nd, op);
    if (r[k]) fail(BRASS_ERR_INVALID_ARGUMENT, op, ": axis ", a, " is given twice");
    r[k] = 1;
  }
  if (exclude)
    for (auto& v : r) v = !v;
  return r;
}

Shape reduced_shape(const Shape& in, const std::vector<char>& r, bool keepdims) {
  Shape out(0);
  bool all = true;
  for (int i = 0; i < in.ndim(); ++i) {
    if (!r[i]) { out.push_back(in[i]); all = false; }
    else if (keepdims) out.push_back(1);
  }
  if (out.ndim() == 0 && all && !keepdims) out.push_back(1);  // MXNet 1.x: full reduction -> (1,)
  return out;
}

#if BRASS_TRAINING
std::vector<char> sum_to_like_axes(const Shape& data, const Shape& like) {
  int off = data.ndim() - like.ndim();
  bool ok = off >= 0;
  std::vector<char> r(data.ndim(), 0);
  for (int i = 0; ok && i < data.ndim(); ++i) {
    if (i < off) { r[i] = 1; continue; }
    int64_t l = like[i - off];
    if (l == 1 && data[i] != 1) r[i] = 1;
    else ok = l == data[i];
  }
  if (!ok) fail(BRASS_ERR_SHAPE, "_sum_to_like: ", like, " does not broadcast to ", data);
  return r;
}
#endif

Plan make_plan(const Shape& s, const std::vector<char>& red) {
  Plan p;
  // Pattern of non-unit axes.
  std::vector<std::pair<char, int64_t>> runs;
  for (int i = 0; i < s.ndim(); ++i) {
    if (s[i] == 1) continue;
    if (!runs.empty() && runs.back().first == red[i]) runs.back().second *= s[i];
    else runs.emplace_back(red[i], s[i]);
  }
  int nred = 0;
  for (auto& rr : runs) nred += rr.first;
  if (nred <= 1 && runs.size() <= 3) {
    int stage = 0;  // 0: before R, 1: after R
    for (auto& rr : runs) {
      if (rr.first) { p.r = rr.second; stage = 1; }
      else if (stage == 0) p.outer *= rr.second;
      else p.inner *= rr.second;
    }
    return p;
  }
  p.need_transpose = true;
  for (int i = 0; i < s.ndim(); ++i) if (!red[i]) { p.perm.push_back(i); p.outer *= s[i]; }
  for (int i = 0; i < s.ndim(); ++i) if (red[i]) { p.perm.push_back(i); p.r *= s[i]; }
  return p;
}

ArgPlan make_arg_plan(const Shape& s, const std::optional<int>& axis, const char* op) {
  ArgPlan p;
  p.r = s.size();
  if (axis) {
    int ax = normalize_axis(*axis, s.ndim(), op);
    p.r = s[ax];
    for (int i = 0; i < ax; ++i) p.outer *= s[i];
    for (int i = ax + 1; i < s.ndim(); ++i) p.inner *= s[i];
  }
  if (p.r == 0) fail(BRASS_ERR_INVALID_ARGUMENT, op, ": attempt to reduce an empty axis");
  return p;
}

constexpr int64_t kChunk = 1 << 16;  // fixed partial-sum block: independent of threads

template <Kind K, class T, class O>
void reduce_typed(const T* x, O* y, const Plan& p, Req req) {
  using A = Acc<T>;
  auto put = [&](int64_t i, A v) {
    v = finish<K, A>(v, p.r);
    y[i] = req == Req::kAdd ? convert<O>(convert<double>(y[i]) + double(v)) : convert<O>(v);
  };
  if (p.inner == 1) {
    if (p.outer == 1 && p.r > kChunk) {
      int64_t nc = (p.r + kChunk - 1) / kChunk;
      std::vector<A> part(nc);
      thread_pool::parallel_for(nc, 1, [&](int64_t cb, int64_t ce) {
        for (int64_t c = cb; c < ce; ++c) {
          A acc = init<K, A>();
          int64_t e = std::min(p.r, (c + 1) * kChunk);
          for (int64_t j = c * kChunk; j < e; ++j) acc = step<K, A>(acc, convert<A>(x[j]));
          part[c] = acc;
        }
      });
      A acc = init<K, A>();
      for (int64_t c = 0; c < nc; ++c) acc = combine<K, A>(acc, part[c]);
      put(0, acc);
      return;
    }
    int64_t grain = std::max<int64_t>(1, kernel::kGrain / std::max<int64_t>(p.r, 1));
    thread_pool::parallel_for(p.outer, grain, [&](int64_t ob, int64_t oe) {
      for (int64_t o = ob; o < oe; ++o) {
        const T* xo = x + o * p.r;
        A acc = init<K, A>();
        for (int64_t j = 0; j < p.r; ++j) acc = step<K, A>(acc, convert<A>(xo[j]));
        put(o, acc);
      }
    });
    return;
  }
  int64_t grain = std::max<int64_t>(1, kernel::kGrain / std::max<int64_t>(p.r * p.inner, 1));
  thread_pool::parallel_for(p.outer, grain, [&](int64_t ob, int64_t oe) {
    std::vector<A> acc(p.inner);
    for (int64_t o = ob; o < oe; ++o) {
      std::fill(acc.begin(), acc.end(), init<K, A>());
      const T* xo = x + o * p.r * p.inner;
      for (int64_t j = 0; j < p.r; ++j) {
        const T* row = xo + j * p.inner;
        for (int64_t i = 0; i < p.inner; ++i) acc[i] = step<K, A>(acc[i], convert<A>(row[i]));
      }
      for (int64_t i = 0; i < p.inner; ++i) put(o * p.inner + i, acc[i]);
    }
  });
}

// Runs the plan, transposing into temp space first when the reduced axes are scattered.
template <Kind K>
void run(const OpContext& ctx, const TBlob& in, const TBlob& out, const std::vector<char>& red) {
  if (ctx.req[0] == Req::kNull) return;
  Plan p = make_plan(in.shape, red);
  TBlob src = in;
  if (p.need_transpose) {
    Shape ts(0);
    for (int a : p.perm) ts.push_back(in.shape[a]);
    src = TBlob{ctx.temp, ts, in.dtype, in.dev};
    kernel::transpose(in, src, p.perm);
  }
  Req req = ctx.req[0];
  dispatch_dtype(in.dtype, [&](auto tag) {
    using T = decltype(tag);
    // Integers have no NaN: nansum and nanprod are sum and prod (one instantiation less each).
    constexpr Kind KK = std::is_integral<T>::value && K == Kind::kNanSum    ? Kind::kSum
                        : std::is_integral<T>::value && K == Kind::kNanProd ? Kind::kProd
                                                                            : K;
    const T* x = src.ptr<T>();
    if (out.dtype == in.dtype) {
      reduce_typed<KK, T, T>(x, out.ptr<T>(), p, req);
      return 0;
    }
    // Only norm has an output dtype of its own: the results in double (which holds the
    // accumulator's value exactly, so each is still rounded once), then stored in that dtype.
    if constexpr (K == Kind::kNorm1 || K == Kind::kNorm2) {
      if (out.dtype == DType::kFloat64) return reduce_typed<K, T, double>(x, out.ptr<double>(), p, req), 0;
      if (out.dtype == DType::kFloat32 || out.dtype == DType::kFloat16) {
        std::vector<double> r(size_t(out.size()));
        reduce_typed<K, T, double>(x, r.data(), p, Req::kWrite);
        auto store = [&](auto* y) {
          using O = std::remove_pointer_t<decltype(y)>;
          for (size_t i = 0; i < r.size(); ++i)
            y[i] = req == Req::kAdd ? convert<O>(convert<double>(y[i]) + r[i]) : convert<O>(r[i]);
        };
        if (out.dtype == DType::kFloat32) store(out.ptr<float>());
        else store(out.ptr<half_t>());
        return 0;
      }
    }
    fail(BRASS_ERR_DTYPE, "reduce: unsupported output dtype ", dtype_name(out.dtype));
    return 0;
  });
}

// Temp space only when the reduced axes are scattered and the input must be transposed first.
size_t temp_if_transposed(const std::vector<TBlob>& in, const std::vector<char>& red) {
  if (!make_plan(in[0].shape, red).need_transpose) return 0;
  return size_t(in[0].size()) * dtype_size(in[0].dtype);
}

size_t reduce_temp(const NodeAttrs& a, const std::vector<TBlob>& in, const std::vector<TBlob>&) {
  const char* op = a.op->name.c_str();
  return temp_if_transposed(in, reduced_axes(op, in[0].shape.ndim(), a.param<ReduceParam>()));
}

#if BRASS_ALL_OPS || BRASS_OP_norm
size_t norm_temp(const NodeAttrs& a, const std::vector<TBlob>& in, const std::vector<TBlob>&) {
  return temp_if_transposed(in, reduced_axes(in[0].shape.ndim(), a.param<NormParam>()));
}
#endif

#if BRASS_TRAINING
// ---- Gradients ---------------------------------------------------------------------------------
// The gradients of the reductions, as graphs of registered ops: the output gradient goes back
// over the reduced axes with _reduce_grad (which takes the reduction's axis/keepdims/exclude
// from the node's own parameters), then is weighted per reduction.
void register_gradients() {
  using grad::Entries;
  using E = NodeEntry;
  // The reduction parameters of node n, for _reduce_grad.
  auto axes = [](const NodePtr& n) {
    grad::Params p;
    for (const auto& kv : n->attrs->dict)
      if (kv.first == "axis" || kv.first == "keepdims" || kv.first == "exclude") p.push_back(kv);
    return p;
  };
  auto back = [axes](const NodePtr& n, E g) {  // g broadcast to the input's shape
    return grad::apply("_reduce_grad", {g, grad::in(n, 0)}, axes(n));
  };
  auto set = [](const char* name, GradFn f) { OpRegistry::get().add(name).grad(std::move(f)); };
  E (*mul)(E, E) = grad::mul;
  set("sum", [back](const NodePtr& n, const Entries& g) { return Entries{back(n, g[0])}; });
  set("mean", [back, axes](const NodePtr& n, const Entries& g) {
    // g / (elements per output), the count taken from the shapes when the graph runs.
    E x = grad::in(n, 0);
    E count = grad::apply("sum", {grad::apply("ones_like", {x})}, axes(n));
    return Entries{back(n, grad::div(g[0], count))};
  });
  set("prod", [back, mul](const NodePtr& n, const Entries& g) {  // g * z / x
    E x = grad::in(n, 0);
    return Entries{grad::div(back(n, mul(g[0], grad::out(n))), x)};
  });
  for (const char* name : {"max", "min"})
    set(name, [back, mul](const NodePtr& n, const Entries& g) {  // g where x is the extreme
      E x = grad::in(n, 0);
      return Entries{mul(back(n, g[0]), grad::apply("_equal", {x, back(n, grad::out(n))}))};
    });
  set("nansum", [back, mul](const NodePtr& n, const Entries& g) {  // g where x is not NaN
    E x = grad::in(n, 0);
    return Entries{mul(back(n, g[0]), grad::apply("_equal", {x, x}))};
  });
  set("nanprod", [back, mul](const NodePtr& n, const Entries& g) {  // g * z / x; 0 at NaN
    // NaN never enters the arithmetic (x is replaced by 1 there), so higher derivatives stay
    // finite too.
    E x = grad::in(n, 0), keep = grad::apply("_equal", {x, x});
    E safe = grad::apply("where", {keep, x, grad::apply("ones_like", {x})});
    E d = grad::div(back(n, mul(g[0], grad::out(n))), safe);
    return Entries{grad::apply("where", {keep, d, grad::apply("zeros_like", {x})})};
  });
  set("norm", [axes, mul](const NodePtr& n, const Entries& g) {
    E x = grad::in(n, 0);
    auto back = [&](E v) {  // in the input's dtype (norm may have another output dtype)
      return grad::apply("_reduce_grad", {grad::apply("_cast_like", {v, x}), x}, axes(n));
    };
    if (n->attrs->param<NormParam>().ord == 1)  // g * sign(x)
      return Entries{mul(back(g[0]), grad::apply("sign", {x}))};
    return Entries{mul(back(grad::div(g[0], grad::out(n))), x)};  // g * x / z
  });
  set("argmax", grad::none);
  set("argmin", grad::none);
  set("_sum_to_like", [](const NodePtr& n, const Entries& g) {  // broadcast back
    E data = grad::in(n, 0);
    return Entries{grad::apply("broadcast_add", {grad::apply("zeros_like", {data}), g[0]}), E()};
  });
  set("_reduce_grad", [axes](const NodePtr& n, const Entries& g) {  // sum again
    return Entries{grad::apply("sum", {g[0]}, axes(n)), E()};
  });
}
#endif  // BRASS_TRAINING

template <Kind K>
void reg(const char* name, const char* doc, std::vector<const char*> aliases = {}) {
  Op& op = OpRegistry::get().add(name).describe(doc).inputs({"data"}).params<ReduceParam>().add_req()
      .shape_fn([](const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
        if (!in[0].ndim_known()) return false;
        const auto& p = a.param<ReduceParam>();
        const char* name = a.op->name.c_str();
        auto red = reduced_axes(name, in[0].ndim(), p);
        infer::assign_shape(out[0], reduced_shape(in[0], red, p.keepdims), name, "output");
        return out[0].known();
      })
      .type_fn(infer::same_type)
      .temp(reduce_temp)
      .cpu([](const OpContext& c, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
        const char* name = c.attrs->op->name.c_str();
        run<K>(c, in[0], out[0], reduced_axes(name, in[0].shape.ndim(), c.param<ReduceParam>()));
      });
  for (auto a : aliases) op.alias(a);
}

template <bool kMax>
void arg_kernel(const OpContext& c, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
  if (c.req[0] == Req::kNull) return;
  const auto& p = c.param<ArgParam>();
  const TBlob& x = in[0];
  ArgPlan ap = make_arg_plan(x.shape, p.axis, kMax ? "argmax" : "argmin");
  int64_t outer = ap.outer, r = ap.r, inner = ap.inner;
  dispatch_dtype(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    using A = Acc<T>;
    const T* xs = x.ptr<T>();
    T* y = out[0].ptr<T>();
    int64_t grain = std::max<int64_t>(1, 4096 / r);
    thread_pool::parallel_for(outer * inner, grain, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        int64_t o = t / inner, i = t % inner;
        const T* base = xs + o * r * inner + i;
        A best = convert<A>(base[0]);
        int64_t bi = 0;
        for (int64_t j = 1; j < r && !is_nan(best); ++j) {
          A v = convert<A>(base[j * inner]);
          if (is_nan(v) || (kMax ? v > best : v < best)) { best = v; bi = j; }
        }
        y[t] = convert<T>(bi);
      }
    });
    return 0;
  });
}

template <bool kMax>
void reg_arg(const char* name, const char* doc) {
  OpRegistry::get().add(name).describe(doc).inputs({"data"}).params<ArgParam>()
      .shape_fn([](const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
        if (!in[0].ndim_known()) return false;
        const auto& p = a.param<ArgParam>();
        Shape s(0);
        if (!p.axis) {
          if (p.keepdims) s = Shape(in[0].ndim(), 1); else s = Shape{1};
        } else {
          int ax = normalize_axis(*p.axis, in[0].ndim(), a.op->name.c_str());
          std::vector<char> red(in[0].ndim(), 0);
          red[ax] = 1;
          s = reduced_shape(in[0], red, p.keepdims);
        }
        infer::assign_shape(out[0], s, a.op->name.c_str(), "output");
        return out[0].known();
      })
      .type_fn(infer::same_type)
      .cpu(arg_kernel<kMax>);
}

[[maybe_unused]] const bool kRegistered = [] {
#if BRASS_ALL_OPS || BRASS_OP_sum
  reg<Kind::kSum>("sum", "Sum over axes.\n\n    sum([[1, 2], [3, 4]], axis=1) = [3, 7]",
                  {"sum_axis"});
#endif
#if BRASS_ALL_OPS || BRASS_OP_mean
  reg<Kind::kMean>("mean", "Mean over axes.\n\n    mean([[1, 2], [3, 4]], axis=0) = [2, 3]");
#endif
#if BRASS_ALL_OPS || BRASS_OP_prod
  reg<Kind::kProd>("prod", "Product over axes.\n\n    prod([[1, 2], [3, 4]], axis=1) = [2, 12]");
#endif
#if BRASS_ALL_OPS || BRASS_OP_max
  reg<Kind::kMax>("max", "Maximum over axes (NaN propagates).", {"max_axis"});
#endif
#if BRASS_ALL_OPS || BRASS_OP_min
  reg<Kind::kMin>("min", "Minimum over axes (NaN propagates).", {"min_axis"});
#endif
#if BRASS_ALL_OPS || BRASS_OP_nansum
  reg<Kind::kNanSum>("nansum", "Sum over axes, treating NaN as zero.");
#endif
#if BRASS_ALL_OPS || BRASS_OP_nanprod
  reg<Kind::kNanProd>("nanprod", "Product over axes, treating NaN as one.");
#endif
#if BRASS_ALL_OPS || BRASS_OP_norm
  OpRegistry::get().add("norm").describe("L1 or L2 norm over axes.\n\n    norm([3, 4]) = [5]")
      .inputs({"data"}).params<NormParam>()
      .shape_fn([](const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
        if (!in[0].ndim_known()) return false;
        const auto& p = a.param<NormParam>();
        auto red = reduced_axes(in[0].ndim(), p);
        infer::assign_shape(out[0], reduced_shape(in[0], red, p.keepdims), "norm", "output");
        return out[0].known();
      })
      .type_fn([](const NodeAttrs& a, std::vector<int>& in, std::vector<int>& out) {
        const auto& p = a.param<NormParam>();
        if (p.out_dtype) infer::assign_type(out[0], int(*p.out_dtype), "norm", "output");
        else infer::assign_type(out[0], in[0], "norm", "output");
        return in[0] >= 0 && out[0] >= 0;
      })
      .temp(norm_temp)
      .cpu([](const OpContext& c, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
        const auto& p = c.param<NormParam>();
        auto red = reduced_axes(in[0].shape.ndim(), p);
        if (p.ord == 1) run<Kind::kNorm1>(c, in[0], out[0], red);
        else run<Kind::kNorm2>(c, in[0], out[0], red);
      });
#endif
#if BRASS_TRAINING
  OpRegistry::get().add("_sum_to_like")
      .describe("Sums the first input down to the shape of the second, over the axes where "
                "numpy broadcasting would have stretched the second to the first (the "
                "gradient of broadcasting).")
      .inputs({"data", "like"})
      .shape_fn([](const NodeAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) {
        if (!in[0].known() || !in[1].known()) return false;
        sum_to_like_axes(in[0], in[1]);
        infer::assign_shape(out[0], in[1], "_sum_to_like", "output");
        return true;
      })
      .type_fn([](const NodeAttrs&, std::vector<int>& in, std::vector<int>& out) {
        infer::assign_type(out[0], in[0], "_sum_to_like", "output");
        return in[0] >= 0;
      })
      .temp([](const NodeAttrs&, const std::vector<TBlob>& in, const std::vector<TBlob>&) {
        return temp_if_transposed(in, sum_to_like_axes(in[0].shape, in[1].shape));
      })
      .cpu([](const OpContext& c, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
        run<Kind::kSum>(c, in[0], out[0], sum_to_like_axes(in[0].shape, in[1].shape));
      });
  OpRegistry::get().add("_reduce_grad")
      .describe("The first input (a reduction's output gradient) broadcast back over the "
                "reduced axes to the shape of the second (the reduction's input).")
      .inputs({"out_grad", "data"}).params<ReduceParam>().add_req()
      .shape_fn([](const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
        if (!in[1].known()) return false;
        const auto& p = a.param<ReduceParam>();
        auto red = reduced_axes("_reduce_grad", in[1].ndim(), p);
        infer::assign_shape(in[0], reduced_shape(in[1], red, p.keepdims), "_reduce_grad",
                            "out_grad");
        infer::assign_shape(out[0], in[1], "_reduce_grad", "output");
        return true;
      })
      .type_fn([](const NodeAttrs&, std::vector<int>& in, std::vector<int>& out) {
        infer::assign_type(out[0], in[0], "_reduce_grad", "output");
        return in[0] >= 0;
      })
      .cpu([](const OpContext& c, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
        TBlob g = reduce_grad_source(c, in);
        kernel::binary_broadcast<binary_ops::Second>(out[0], g, out[0], c.req[0]);
      });
  register_gradients();
#endif
#if BRASS_ALL_OPS || BRASS_OP_argmax
  reg_arg<true>("argmax", "Index of the maximum along an axis (first one on ties; NaN wins).");
#endif
#if BRASS_ALL_OPS || BRASS_OP_argmin
  reg_arg<false>("argmin", "Index of the minimum along an axis (first one on ties; NaN wins).");
#endif
  return true;
}();

}  // namespace reduce_ops
}  // namespace brass
