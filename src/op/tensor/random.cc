// Sampling operators: _random_uniform, _random_normal, _random_randint. Element i of an
// invocation draws from Philox block (stream, i / 4): results depend only on the seed and the
// program order, not on threads or the engine.
#include <cmath>

#include "kernel/elemwise.h"
#include "op/operator.h"
#include "random/random.h"

namespace brass {
namespace random_ops {

struct UniformParam {
  double low, high;
  Tuple shape;
  std::string ctx;
  DType dtype;
  static void declare(ParamSpec<UniformParam>& s) {
    s.field("low", &UniformParam::low).set_default(0.0).describe("Lower bound (inclusive).");
    s.field("high", &UniformParam::high).set_default(1.0).describe("Upper bound (exclusive).");
    s.field("shape", &UniformParam::shape).set_default(Tuple{}).describe("Output shape.");
    s.field("ctx", &UniformParam::ctx).set_default("").describe("Device.");
    s.field("dtype", &UniformParam::dtype).set_default(DType::kFloat32).describe("Output dtype.");
  }
};

struct NormalParam {
  double loc, scale;
  Tuple shape;
  std::string ctx;
  DType dtype;
  static void declare(ParamSpec<NormalParam>& s) {
    s.field("loc", &NormalParam::loc).set_default(0.0).describe("Mean.");
    s.field("scale", &NormalParam::scale).set_default(1.0).set_lower_bound(0).describe("Standard deviation.");
    s.field("shape", &NormalParam::shape).set_default(Tuple{}).describe("Output shape.");
    s.field("ctx", &NormalParam::ctx).set_default("").describe("Device.");
    s.field("dtype", &NormalParam::dtype).set_default(DType::kFloat32).describe("Output dtype.");
  }
};

struct RandintParam {
  int64_t low, high;
  Tuple shape;
  std::string ctx;
  DType dtype;
  static void declare(ParamSpec<RandintParam>& s) {
    s.field("low", &RandintParam::low).describe("Lowest value (inclusive).");
    s.field("high", &RandintParam::high).describe("Highest value (exclusive).");
    s.field("shape", &RandintParam::shape).set_default(Tuple{}).describe("Output shape.");
    s.field("ctx", &RandintParam::ctx).set_default("").describe("Device.");
    s.field("dtype", &RandintParam::dtype).set_default(DType::kInt32).describe("Output dtype (int32 or int64).");
  }
};

template <class P>
bool shape_fn(const NodeAttrs& a, std::vector<Shape>&, std::vector<Shape>& out) {
  const Tuple& t = a.param<P>().shape;
  Shape s(int(t.size()));
  for (size_t i = 0; i < t.size(); ++i) s[int(i)] = t[i] == 0 ? -1 : t[i];
  infer::assign_shape(out[0], s, a.op->name.c_str(), "output");
  return out[0].known();
}

template <class P>
bool type_fn(const NodeAttrs& a, std::vector<int>&, std::vector<int>& out) {
  infer::assign_type(out[0], int(a.param<P>().dtype), a.op->name.c_str(), "output");
  return true;
}

// Calls f(i, w) with the four random words w of block i, for the blocks covering n values.
template <class F>
void for_blocks(const RandomStream& rs, int64_t n, F f) {
  int64_t nb = (n + 3) / 4;
  thread_pool::parallel_for(nb, 4096, [&](int64_t b, int64_t e) {
    uint32_t w[4];
    for (int64_t i = b; i < e; ++i) {
      random::Philox::block(rs.seed, rs.stream, uint64_t(i), w);
      f(i, w);
    }
  });
}

void uniform(const OpContext& c, const std::vector<TBlob>&, const std::vector<TBlob>& out) {
  const auto& p = c.param<UniformParam>();
  if (!(p.low <= p.high)) fail(BRASS_ERR_INVALID_ARGUMENT, "_random_uniform: low ", p.low, " > high ", p.high);
  int64_t n = out[0].size();
  dispatch_dtype(out[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    T* o = out[0].ptr<T>();
    for_blocks(c.rng, n, [&](int64_t b, const uint32_t* w) {
      for (int k = 0; k < 4 && b * 4 + k < n; ++k) {
        double u = std::is_same<T, double>::value ? random::u01d(w[k], w[(k + 1) & 3]) : random::u01f(w[k]);
        o[b * 4 + k] = convert<T>(p.low + (p.high - p.low) * u);
      }
    });
    return 0;
  });
}

void normal(const OpContext& c, const std::vector<TBlob>&, const std::vector<TBlob>& out) {
  const auto& p = c.param<NormalParam>();
  int64_t n = out[0].size();
  dispatch_dtype(out[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    T* o = out[0].ptr<T>();
    // Box-Muller: each block of four words gives two pairs of normals.
    for_blocks(c.rng, n, [&](int64_t b, const uint32_t* w) {
      for (int k = 0; k < 4; k += 2) {
        double u1 = (double(w[k]) + 1.0) * (1.0 / 4294967297.0);
        double u2 = double(w[k + 1]) * (1.0 / 4294967296.0);
        double r = std::sqrt(-2.0 * std::log(u1));
        double z0 = r * std::cos(6.283185307179586 * u2), z1 = r * std::sin(6.283185307179586 * u2);
        if (b * 4 + k < n) o[b * 4 + k] = convert<T>(p.loc + p.scale * z0);
        if (b * 4 + k + 1 < n) o[b * 4 + k + 1] = convert<T>(p.loc + p.scale * z1);
      }
    });
    return 0;
  });
}

void randint(const OpContext& c, const std::vector<TBlob>&, const std::vector<TBlob>& out) {
  const auto& p = c.param<RandintParam>();
  if (p.low >= p.high) fail(BRASS_ERR_INVALID_ARGUMENT, "_random_randint: low ", p.low, " >= high ", p.high);
  uint64_t range = uint64_t(p.high) - uint64_t(p.low);
  int64_t n = out[0].size();
  dispatch_dtype(out[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    T* o = out[0].ptr<T>();
    for_blocks(c.rng, n, [&](int64_t b, const uint32_t* w) {
      for (int k = 0; k < 4 && b * 4 + k < n; k += 2) {
        uint64_t r = (uint64_t(w[k]) << 32) | w[k + 1];
        o[b * 4 + k] = convert<T>(p.low + int64_t(r % range));
        if (b * 4 + k + 1 < n) {
          uint64_t r2 = (uint64_t(w[k + 1]) << 32) | w[k];
          o[b * 4 + k + 1] = convert<T>(p.low + int64_t(r2 % range));
        }
      }
    });
    return 0;
  });
}

const bool kRegistered = [] {
  OpRegistry::get().add("_random_uniform").describe("Samples from a uniform distribution on [low, high).")
      .alias("random_uniform").alias("uniform").inputs({}).params<UniformParam>().random()
      .shape_fn(shape_fn<UniformParam>).type_fn(type_fn<UniformParam>).cpu(uniform);
  OpRegistry::get().add("_random_normal").describe("Samples from a normal distribution N(loc, scale^2).")
      .alias("random_normal").alias("normal").inputs({}).params<NormalParam>().random()
      .shape_fn(shape_fn<NormalParam>).type_fn(type_fn<NormalParam>).cpu(normal);
  OpRegistry::get().add("_random_randint").describe("Samples integers uniformly from [low, high).")
      .alias("random_randint").alias("randint").inputs({}).params<RandintParam>().random()
      .shape_fn(shape_fn<RandintParam>).type_fn(type_fn<RandintParam>).cpu(randint);
  return true;
}();

}  // namespace random_ops
}  // namespace brass
