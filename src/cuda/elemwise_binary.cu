// CUDA kernels of the binary operators (broadcast_*, elemwise_* and the scalar forms of
// elemwise_binary.cc, with the same functors); added to the ops registered there.
#include "cuda/cuda_common.cuh"  // first: its pragmas cover the whole unit

#include "kernel/elemwise.h"
#include "op/operator.h"
#include "op/tensor/elemwise_binary_functors.h"
#include "op/tensor/reduce_params.h"

namespace brass {
namespace binary_ops {
namespace gpu {

// One kernel per (functor, compute type C) serves every dtype whose compute type is C, so the
// math is compiled once for all of them (binary ops take one dtype for inputs and output).

// z = F(a, b) with numpy broadcasting. The plan (kernel::plan_broadcast, as on the CPU) merges
// the output into an outer index space of p.nd dims and a contiguous inner run; each output
// index maps to one offset per input through the plan's strides (0 where broadcast).
template <class F, class C>
__global__ void broadcast_kernel(const void* a, const void* b, void* z, DType t, int64_t n,
                                 kernel::BroadcastPlan p, bool add) {
  BRASS_CUDA_LOOP(i, n) {
    int64_t offa, offb;
    if (p.nd == 0) {
      offa = i * p.ia;
      offb = i * p.ib;
    } else {
      int64_t o = i / p.inner, k = i - o * p.inner;
      offa = k * p.ia;
      offb = k * p.ib;
      for (int d = p.nd - 1; d >= 0; --d) {
        int64_t q = o / p.dims[d], r = o - q * p.dims[d];
        offa += r * p.sa[d];
        offb += r * p.sb[d];
        o = q;
      }
    }
    C v = F::template map<C>(cuda::load<F, C>(a, offa, t), cuda::load<F, C>(b, offb, t));
    cuda::store<F, C>(z, i, t, v, add);
  }
}

template <class F>
void broadcast(const OpContext& ctx, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
  Req req = ctx.req[0];
  int64_t n = out[0].size();
  if (req == Req::kNull || n == 0) return;
  kernel::BroadcastPlan p = kernel::plan_broadcast(in[0].shape, in[1].shape, out[0].shape);
  cudaStream_t s = cuda::stream(ctx.dev.id);
  dispatch_dtype(out[0].dtype, [&](auto tag) {
    using C = typename F::template compute<decltype(tag)>::type;
    cuda::launch(broadcast_kernel<F, C>, cuda::blocks_for(n), cuda::kThreads, s, in[0].dptr,
                 in[1].dptr, out[0].dptr, out[0].dtype, n, p, req == Req::kAdd);
    return 0;
  });
  cuda::finish(s);
}

// y = F(x, s), or F(s, x) when reverse; s is already in the compute type.
template <class F, class C>
__global__ void scalar_kernel(const void* x, C s, void* y, DType t, int64_t n, bool reverse,
                              bool add) {
  BRASS_CUDA_LOOP(i, n) {
    C xv = cuda::load<F, C>(x, i, t);
    C v = reverse ? F::template map<C>(s, xv) : F::template map<C>(xv, s);
    cuda::store<F, C>(y, i, t, v, add);
  }
}

template <class F, bool kReverse>
void scalar(const OpContext& ctx, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
  Req req = ctx.req[0];
  int64_t n = out[0].size();
  if (req == Req::kNull || n == 0) return;
  double scalar = ctx.param<ScalarParam>().scalar;
  cudaStream_t s = cuda::stream(ctx.dev.id);
  dispatch_dtype(in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    using C = typename F::template compute<T>::type;
    // As on the CPU (kernel::binary_scalar): the scalar takes the array's type, except that
    // floating compute types (float16/bfloat16 included) keep it in full.
    C sv = std::is_floating_point<C>::value ? C(scalar) : convert<C>(convert<T>(scalar));
    cuda::launch(scalar_kernel<F, C>, cuda::blocks_for(n), cuda::kThreads, s, in[0].dptr, sv,
                 out[0].dptr, in[0].dtype, n, kReverse, req == Req::kAdd);
    return 0;
  });
  cuda::finish(s);
}

// The broadcast, same-shape, scalar and reversed-scalar forms of one operation (nullptr where
// the family has no such op), as family() in elemwise_binary.cc names them.
template <class F>
void family(const char* bname, const char* ename, const char* sname, const char* rname) {
  OpRegistry::get().add(bname).cuda(broadcast<F>);
  if (ename) OpRegistry::get().add(ename).cuda(broadcast<F>);
  OpRegistry::get().add(sname).cuda(scalar<F, false>);
  if (rname) OpRegistry::get().add(rname).cuda(scalar<F, true>);
}

const bool kRegistered = [] {
  family<Add>("broadcast_add", "elemwise_add", "_plus_scalar", nullptr);
  family<Sub>("broadcast_sub", "elemwise_sub", "_minus_scalar", "_rminus_scalar");
  family<Mul>("broadcast_mul", "elemwise_mul", "_mul_scalar", nullptr);
  family<Div>("broadcast_div", "elemwise_div", "_div_scalar", "_rdiv_scalar");
  family<Mod>("broadcast_mod", "_mod", "_mod_scalar", "_rmod_scalar");
  family<Power>("broadcast_power", "_power", "_power_scalar", "_rpower_scalar");
  family<Maximum>("broadcast_maximum", "_maximum", "_maximum_scalar", nullptr);
  family<Minimum>("broadcast_minimum", "_minimum", "_minimum_scalar", nullptr);
  family<Hypot>("broadcast_hypot", "_hypot", "_hypot_scalar", nullptr);
  family<Equal>("broadcast_equal", "_equal", "_equal_scalar", nullptr);
  family<NotEqual>("broadcast_not_equal", "_not_equal", "_not_equal_scalar", nullptr);
  family<Greater>("broadcast_greater", "_greater", "_greater_scalar", nullptr);
  family<GreaterEqual>("broadcast_greater_equal", "_greater_equal", "_greater_equal_scalar",
                       nullptr);
  family<Lesser>("broadcast_lesser", "_lesser", "_lesser_scalar", nullptr);
  family<LesserEqual>("broadcast_lesser_equal", "_lesser_equal", "_lesser_equal_scalar", nullptr);
  family<LogicalAnd>("broadcast_logical_and", "_logical_and", "_logical_and_scalar", nullptr);
  family<LogicalOr>("broadcast_logical_or", "_logical_or", "_logical_or_scalar", nullptr);
  // A reduction's gradient: out_grad (reduced axes kept) broadcast to the input's shape.
  OpRegistry::get().add("_reduce_grad").cuda(
      [](const OpContext& c, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
        broadcast<Second>(c, {out[0], reduce_ops::reduce_grad_source(c, in)}, out);
      });
  family<LogicalXor>("broadcast_logical_xor", "_logical_xor", "_logical_xor_scalar", nullptr);
  return true;
}();

}  // namespace gpu
}  // namespace binary_ops
}  // namespace brass
