// CUDA kernels of the sampling operators of random.cc (_random_uniform, _random_normal,
// _random_randint), added to the ops registered there. One thread per Philox block: element j
// takes value j % 4 of block (stream, j / 4), through the same generator and sample functions
// as the CPU (random/random.h, op/tensor/random_params.h), so both devices draw the same
// values for the same seed (normal: up to the last bit of the device's log/sin/cos).
#include "cuda/cuda_common.cuh"  // first: its pragmas cover the whole unit

#include "op/operator.h"
#include "op/tensor/random_params.h"
#include "random/random.h"

namespace brass {
namespace random_ops {
namespace gpu {

// The values of block b that fall below n: min(4, n - 4b).
__device__ __forceinline__ int block_len(int64_t b, int64_t n) {
  int64_t r = n - b * 4;
  return r < 4 ? int(r) : 4;
}

template <class T>
struct Uniform {
  T* out;
  int64_t n;
  RandomStream rs;
  double low, high;
  __device__ void operator()(int64_t b) const {
    uint32_t w[4];
    random::Philox::block(rs.seed, rs.stream, uint64_t(b), w);
    for (int k = 0; k < block_len(b, n); ++k)
      out[b * 4 + k] = cuda::dev_convert<T>(uniform_sample<T>(w, k, low, high));
  }
};

template <class T>
struct Normal {
  T* out;
  int64_t n;
  RandomStream rs;
  double loc, scale;
  __device__ void operator()(int64_t b) const {
    uint32_t w[4];
    random::Philox::block(rs.seed, rs.stream, uint64_t(b), w);
    int len = block_len(b, n);
    for (int k = 0; k < len; k += 2) {  // Box-Muller: two values per pair of words
      double z0, z1;
      normal_pair(w, k, loc, scale, &z0, &z1);
      out[b * 4 + k] = cuda::dev_convert<T>(z0);
      if (k + 1 < len) out[b * 4 + k + 1] = cuda::dev_convert<T>(z1);
    }
  }
};

template <class T>
struct Randint {
  T* out;
  int64_t n;
  RandomStream rs;
  int64_t low;
  uint64_t range;
  __device__ void operator()(int64_t b) const {
    uint32_t w[4];
    random::Philox::block(rs.seed, rs.stream, uint64_t(b), w);
    for (int k = 0; k < block_len(b, n); ++k)
      out[b * 4 + k] = cuda::dev_convert<T>(randint_sample(w, k, low, range));
  }
};

// Runs Sampler<T>{out, n, rng, args...} over the blocks covering out[0] (as the CPU kernels,
// the output is written whatever the request).
template <template <class> class Sampler, class... A>
void sample(const OpContext& c, const std::vector<TBlob>& out, A... args) {
  int64_t n = out[0].size();
  if (n == 0) return;
  cudaStream_t s = cuda::stream(c.dev.id);
  dispatch_dtype(out[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    cuda::for_each(s, (n + 3) / 4, Sampler<T>{out[0].ptr<T>(), n, c.rng, args...});
    return 0;
  });
  cuda::finish(s);
}

void uniform(const OpContext& c, const std::vector<TBlob>&, const std::vector<TBlob>& out) {
  const auto& p = c.param<UniformParam>();
  check_uniform(p);
  sample<Uniform>(c, out, p.low, p.high);
}

void normal(const OpContext& c, const std::vector<TBlob>&, const std::vector<TBlob>& out) {
  const auto& p = c.param<NormalParam>();
  sample<Normal>(c, out, p.loc, p.scale);
}

void randint(const OpContext& c, const std::vector<TBlob>&, const std::vector<TBlob>& out) {
  const auto& p = c.param<RandintParam>();
  uint64_t range = randint_range(p);
  sample<Randint>(c, out, p.low, range);
}

const bool kRegistered = [] {
  OpRegistry::get().add("_random_uniform").cuda(uniform);
  OpRegistry::get().add("_random_normal").cuda(normal);
  OpRegistry::get().add("_random_randint").cuda(randint);
  return true;
}();

}  // namespace gpu
}  // namespace random_ops
}  // namespace brass
