// Sampling operators: _random_uniform, _random_normal, _random_randint. Element i of an
// invocation draws from Philox block (stream, i / 4): results depend only on the seed and the
// program order, not on threads or the engine.
#include <cmath>

#include "kernel/elemwise.h"
#include "op/operator.h"
#include "op/tensor/random_params.h"
#include "random/random.h"

namespace brass {
namespace random_ops {

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

#if BRASS_ALL_OPS || BRASS_OP_random_uniform
void uniform(const OpContext& c, const std::vector<TBlob>&, const std::vector<TBlob>& out) {
  const auto& p = c.param<UniformParam>();
  check_uniform(p);
  int64_t n = out[0].size();
  dispatch_dtype(out[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    T* o = out[0].ptr<T>();
    for_blocks(c.rng, n, [&](int64_t b, const uint32_t* w) {
      for (int k = 0; k < 4 && b * 4 + k < n; ++k)
        o[b * 4 + k] = convert<T>(uniform_sample<T>(w, k, p.low, p.high));
    });
    return 0;
  });
}
#endif

#if BRASS_ALL_OPS || BRASS_OP_random_normal
void normal(const OpContext& c, const std::vector<TBlob>&, const std::vector<TBlob>& out) {
  const auto& p = c.param<NormalParam>();
  int64_t n = out[0].size();
  dispatch_dtype(out[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    T* o = out[0].ptr<T>();
    // Box-Muller: each block of four words gives two pairs of normals.
    for_blocks(c.rng, n, [&](int64_t b, const uint32_t* w) {
      for (int k = 0; k < 4; k += 2) {
        double z0, z1;
        normal_pair(w, k, p.loc, p.scale, &z0, &z1);
        if (b * 4 + k < n) o[b * 4 + k] = convert<T>(z0);
        if (b * 4 + k + 1 < n) o[b * 4 + k + 1] = convert<T>(z1);
      }
    });
    return 0;
  });
}
#endif

#if BRASS_ALL_OPS || BRASS_OP_random_randint
void randint(const OpContext& c, const std::vector<TBlob>&, const std::vector<TBlob>& out) {
  const auto& p = c.param<RandintParam>();
  uint64_t range = randint_range(p);
  int64_t n = out[0].size();
  dispatch_dtype(out[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    T* o = out[0].ptr<T>();
    for_blocks(c.rng, n, [&](int64_t b, const uint32_t* w) {
      for (int k = 0; k < 4 && b * 4 + k < n; ++k)
        o[b * 4 + k] = convert<T>(randint_sample(w, k, p.low, range));
    });
    return 0;
  });
}
#endif

[[maybe_unused]] const bool kRegistered = [] {
#if BRASS_ALL_OPS || BRASS_OP_random_uniform
  OpRegistry::get().add("_random_uniform")
      .describe("Samples from a uniform distribution on [low, high).")
      .alias("random_uniform").alias("uniform").inputs({}).params<UniformParam>().random()
      .shape_fn(shape_fn<UniformParam>).type_fn(type_fn<UniformParam>).cpu(uniform);
#endif
#if BRASS_ALL_OPS || BRASS_OP_random_normal
  OpRegistry::get().add("_random_normal")
      .describe("Samples from a normal distribution N(loc, scale^2).")
      .alias("random_normal").alias("normal").inputs({}).params<NormalParam>().random()
      .shape_fn(shape_fn<NormalParam>).type_fn(type_fn<NormalParam>).cpu(normal);
#endif
#if BRASS_ALL_OPS || BRASS_OP_random_randint
  OpRegistry::get().add("_random_randint")
      .describe("Samples integers uniformly from [low, high).")
      .alias("random_randint").alias("randint").inputs({}).params<RandintParam>().random()
      .shape_fn(shape_fn<RandintParam>).type_fn(type_fn<RandintParam>).cpu(randint);
#endif
  return true;
}();

}  // namespace random_ops
}  // namespace brass
