// Array creation operators: _zeros, _ones, _full, _arange (zero inputs; the device comes from
// the `ctx` parameter), _set_value (fills a given output), zeros_like/ones_like, and
// shape_array/size_array.
#include <cmath>

#include "kernel/elemwise.h"
#include "op/operator.h"

namespace brass {
namespace init_ops {

struct InitParam {
  Tuple shape;
  std::string ctx;
  DType dtype;
  static void declare(ParamSpec<InitParam>& s) {
    s.field("shape", &InitParam::shape).set_default(Tuple{}).describe("Output shape (0 = unknown, MXNet 1.x).");
    s.field("ctx", &InitParam::ctx).set_default("").describe("Device, e.g. 'cpu(0)' or 'gpu(1)'.");
    s.field("dtype", &InitParam::dtype).set_default(DType::kFloat32).describe("Output dtype.");
  }
};

struct FullParam {
  Tuple shape;
  std::string ctx;
  DType dtype;
  double value;
  static void declare(ParamSpec<FullParam>& s) {
    s.field("shape", &FullParam::shape).set_default(Tuple{}).describe("Output shape.");
    s.field("ctx", &FullParam::ctx).set_default("").describe("Device, e.g. 'cpu(0)'.");
    s.field("dtype", &FullParam::dtype).set_default(DType::kFloat32).describe("Output dtype.");
    s.field("value", &FullParam::value).describe("Fill value.");
  }
};

struct SetValueParam {
  double src;
  static void declare(ParamSpec<SetValueParam>& s) {
    s.field("src", &SetValueParam::src).describe("The value every element is set to.");
  }
};

struct ArangeParam {
  double start;
  std::optional<double> stop;
  double step;
  int repeat;
  bool infer_range;
  std::string ctx;
  DType dtype;
  static void declare(ParamSpec<ArangeParam>& s) {
    s.field("start", &ArangeParam::start).describe("Start of the interval (or its end, when stop is None).");
    s.field("stop", &ArangeParam::stop).set_default(std::nullopt).describe("End of the interval (exclusive).");
    s.field("step", &ArangeParam::step).set_default(1.0).describe("Spacing between values.");
    s.field("repeat", &ArangeParam::repeat).set_default(1).set_lower_bound(1).describe("Times each value repeats.");
    s.field("infer_range", &ArangeParam::infer_range).set_default(false).describe("Accepted for MXNet compatibility.");
    s.field("ctx", &ArangeParam::ctx).set_default("").describe("Device.");
    s.field("dtype", &ArangeParam::dtype).set_default(DType::kFloat32).describe("Output dtype.");
  }
};

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

int64_t arange_len(const ArangeParam& p) {
  double start = p.stop ? p.start : 0.0, stop = p.stop ? *p.stop : p.start;
  if (p.step == 0) fail(BRASS_ERR_INVALID_ARGUMENT, "_arange: step must not be 0");
  double n = std::ceil((stop - start) / p.step);
  if (!(n > 0)) return 0;
  if (n > 1e15) fail(BRASS_ERR_INVALID_ARGUMENT, "_arange: too many values");
  return int64_t(n) * p.repeat;
}

const bool kRegistered = [] {
  auto reg_const = [](const char* name, double v, const char* doc) {
    OpRegistry::get().add(name).describe(doc).inputs({}).params<InitParam>()
        .shape_fn(init_shape<InitParam>).type_fn(init_type<InitParam>)
        .cpu([v](const OpContext&, const std::vector<TBlob>&, const std::vector<TBlob>& out) { fill(out[0], v); });
  };
  reg_const("_zeros", 0.0, "An array of zeros.\n\n    _zeros(shape=(2,)) = [0, 0]");
  reg_const("_ones", 1.0, "An array of ones.\n\n    _ones(shape=(2,)) = [1, 1]");
  OpRegistry::get().add("_full").describe("An array filled with a value.\n\n    _full(shape=(2,), value=3) = [3, 3]")
      .inputs({}).params<FullParam>().shape_fn(init_shape<FullParam>).type_fn(init_type<FullParam>)
      .cpu([](const OpContext& c, const std::vector<TBlob>&, const std::vector<TBlob>& out) {
        fill(out[0], c.param<FullParam>().value);
      });
  OpRegistry::get().add("_set_value")
      .describe("Sets every element of the given output array to a value (needs out=).")
      .inputs({}).params<SetValueParam>()
      .shape_fn([](const NodeAttrs&, std::vector<Shape>&, std::vector<Shape>& out) { return out[0].known(); })
      .type_fn([](const NodeAttrs&, std::vector<int>&, std::vector<int>& out) {
        if (out[0] < 0) out[0] = int(DType::kFloat32);
        return true;
      })
      .cpu([](const OpContext& c, const std::vector<TBlob>&, const std::vector<TBlob>& out) {
        fill(out[0], c.param<SetValueParam>().src);
      });
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
        double start = p.stop ? p.start : 0.0;
        dispatch_dtype(out[0].dtype, [&](auto tag) {
          using T = decltype(tag);
          T* o = out[0].ptr<T>();
          int64_t n = out[0].size();
          for (int64_t i = 0; i < n; ++i) o[i] = convert<T>(start + double(i / p.repeat) * p.step);
          return 0;
        });
      });
  auto reg_like = [](const char* name, double v, const char* doc) {
    OpRegistry::get().add(name).describe(doc).inputs({"data"}).shape_fn(infer::same_shape)
        .type_fn(infer::same_type)
        .cpu([v](const OpContext&, const std::vector<TBlob>&, const std::vector<TBlob>& out) { fill(out[0], v); });
  };
  reg_like("zeros_like", 0.0, "An array of zeros with the input's shape and dtype.");
  reg_like("ones_like", 1.0, "An array of ones with the input's shape and dtype.");
  OpRegistry::get().add("shape_array").describe("The input's shape as an int64 array.\n\n    shape_array(zeros((2, 3))) = [2, 3]")
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
      });
  OpRegistry::get().add("size_array").describe("The input's element count as a one-element int64 array.")
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
      });
  return true;
}();

}  // namespace init_ops
}  // namespace brass
