// Array creation operators: _zeros, _ones, _full, _arange (zero inputs; the device comes from
// the `ctx` parameter), _set_value (fills a given output), zeros_like/ones_like, and
// shape_array/size_array.
#include <cmath>

#include "kernel/elemwise.h"
#include "op/grad.h"
#include "op/operator.h"
#include "op/tensor/init_params.h"

namespace brass {
namespace init_ops {

#if BRASS_ALL_OPS || BRASS_OP_zeros || BRASS_OP_ones || BRASS_OP_full || BRASS_OP_set_value || \
    BRASS_OP_zeros_like || BRASS_OP_ones_like
void fill(const TBlob& out, double v) {
  dispatch_dtype(out.dtype, [&](auto tag) {
    using T = decltype(tag);
    T x = convert<T>(v);
    T* p = out.ptr<T>();
    thread_pool::parallel_for(out.size(), kernel::kGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) p[i] = x;
    });
    return 0;
  });
}
#endif

#if BRASS_ALL_OPS || BRASS_OP_zeros || BRASS_OP_ones || BRASS_OP_zeros_like || BRASS_OP_ones_like
// A kernel that fills its output with v (the ops without a value parameter).
ComputeFn constant(double v) {
  return [v](const OpContext&, const std::vector<TBlob>&, const std::vector<TBlob>& out) {
    fill(out[0], v);
  };
}
#endif

template <class P>
bool init_shape(const NodeAttrs& a, std::vector<Shape>&, std::vector<Shape>& out) {
  const Tuple& t = a.param<P>().shape;
  Shape s(int(t.size()));
  for (size_t i = 0; i < t.size(); ++i) s[int(i)] = t[i] == 0 ? -1 : t[i];  // 0 = unknown
  infer::assign_shape(out[0], s, a.op->name.c_str(), "output");
  return out[0].known();
}

template <class P>
bool init_type(const NodeAttrs& a, std::vector<int>&, std::vector<int>& out) {
  infer::assign_type(out[0], int(a.param<P>().dtype), a.op->name.c_str(), "output");
  return true;
}

[[maybe_unused]] const bool kRegistered = [] {
#if BRASS_ALL_OPS || BRASS_OP_zeros || BRASS_OP_ones
  auto reg_const = [](const char* name, double v, const char* doc) {
    OpRegistry::get().add(name).describe(doc).inputs({}).params<InitParam>()
        .shape_fn(init_shape<InitParam>).type_fn(init_type<InitParam>).cpu(constant(v));
  };
#endif
#if BRASS_ALL_OPS || BRASS_OP_zeros
  reg_const("_zeros", 0.0, "An array of zeros.\n\n    _zeros(shape=(2,)) = [0, 0]");
#endif
#if BRASS_ALL_OPS || BRASS_OP_ones
  reg_const("_ones", 1.0, "An array of ones.\n\n    _ones(shape=(2,)) = [1, 1]");
#endif
#if BRASS_ALL_OPS || BRASS_OP_full
  OpRegistry::get().add("_full")
      .describe("An array filled with a value.\n\n    _full(shape=(2,), value=3) = [3, 3]")
      .inputs({}).params<FullParam>().shape_fn(init_shape<FullParam>).type_fn(init_type<FullParam>)
      .cpu([](const OpContext& c, const std::vector<TBlob>&, const std::vector<TBlob>& out) {
        fill(out[0], c.param<FullParam>().value);
      });
#endif
#if BRASS_ALL_OPS || BRASS_OP_set_value
  OpRegistry::get().add("_set_value")
      .describe("Sets every element of the given output array to a value (needs out=).")
      .inputs({}).params<SetValueParam>()
      .shape_fn([](const NodeAttrs&, std::vector<Shape>&, std::vector<Shape>& out) {
        return out[0].known();
      })
      .type_fn([](const NodeAttrs&, std::vector<int>&, std::vector<int>& out) {
        if (out[0] < 0) out[0] = int(DType::kFloat32);
        return true;
      })
      .cpu([](const OpContext& c, const std::vector<TBlob>&, const std::vector<TBlob>& out) {
        fill(out[0], c.param<SetValueParam>().src);
      });
#endif
#if BRASS_ALL_OPS || BRASS_OP_arange
  OpRegistry::get().add("_arange")
      .describe("Evenly spaced values in [start, stop), each repeated `repeat` times.\n\n"
                "    _arange(start=0, stop=3) = [0, 1, 2]")
      .inputs({}).params<ArangeParam>()
      .shape_fn([](const NodeAttrs& a, std::vector<Shape>&, std::vector<Shape>& out) {
        infer::assign_shape(out[0], Shape{arange_len(a.param<ArangeParam>())}, "_arange", "output");
        return true;
      })
      .type_fn(init_type<ArangeParam>)
      .cpu([](const OpContext& c, const std::vector<TBlob>&, const std::vector<TBlob>& out) {
        const auto& p = c.param<ArangeParam>();
        double start = arange_start(p);
        dispatch_dtype(out[0].dtype, [&](auto tag) {
          using T = decltype(tag);
          T* o = out[0].ptr<T>();
          int64_t n = out[0].size();
          for (int64_t i = 0; i < n; ++i)
            o[i] = convert<T>(arange_value(start, p.step, p.repeat, i));
          return 0;
        });
      });
#endif
#if BRASS_ALL_OPS || BRASS_OP_zeros_like || BRASS_OP_ones_like
  auto reg_like = [](const char* name, double v, const char* doc) {
    OpRegistry::get().add(name).describe(doc).inputs({"data"}).shape_fn(infer::same_shape)
        .type_fn(infer::same_type).cpu(constant(v))
        .grad(grad::none);  // constant in the input's values
  };
#endif
#if BRASS_ALL_OPS || BRASS_OP_zeros_like
  reg_like("zeros_like", 0.0, "An array of zeros with the input's shape and dtype.");
#endif
#if BRASS_ALL_OPS || BRASS_OP_ones_like
  reg_like("ones_like", 1.0, "An array of ones with the input's shape and dtype.");
#endif
#if BRASS_ALL_OPS || BRASS_OP_shape_array
  OpRegistry::get().add("shape_array")
      .describe("The input's shape as an int64 array.\n\n    shape_array(zeros((2, 3))) = [2, 3]")
      .inputs({"data"})
      .shape_fn([](const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
        if (!in[0].ndim_known()) return false;
        infer::assign_shape(out[0], Shape{int64_t(in[0].ndim())}, a.op->name.c_str(), "output");
        return true;
      })
      .type_fn([](const NodeAttrs&, std::vector<int>&, std::vector<int>& out) {
        out[0] = int(DType::kInt64);
        return true;
      })
      .cpu([](const OpContext&, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
        for (int i = 0; i < in[0].shape.ndim(); ++i) out[0].ptr<int64_t>()[i] = in[0].shape[i];
      })
      .grad(grad::none);
#endif
#if BRASS_ALL_OPS || BRASS_OP_size_array
  OpRegistry::get().add("size_array")
      .describe("The input's element count as a one-element int64 array.")
      .inputs({"data"})
      .shape_fn([](const NodeAttrs& a, std::vector<Shape>&, std::vector<Shape>& out) {
        infer::assign_shape(out[0], Shape{1}, a.op->name.c_str(), "output");
        return true;
      })
      .type_fn([](const NodeAttrs&, std::vector<int>&, std::vector<int>& out) {
        out[0] = int(DType::kInt64);
        return true;
      })
      .cpu([](const OpContext&, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
        out[0].ptr<int64_t>()[0] = in[0].size();
      })
      .grad(grad::none);
#endif
  return true;
}();

}  // namespace init_ops
}  // namespace brass
