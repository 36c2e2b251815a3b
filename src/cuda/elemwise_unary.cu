// CUDA kernels of the element-wise unary operators (the math family of elemwise_unary.cc,
// with the same functors) and of _copy, BlockGrad and Cast; added to the ops registered there.
#include "cuda/cuda_common.cuh"  // first: its pragmas cover the whole unit

#include "op/operator.h"
#include "op/tensor/elemwise_unary_functors.h"

namespace brass {
namespace unary_ops {
namespace gpu {

// y = F(x) in the compute type C, for the dtypes t whose compute type under F is C (one
// kernel per compute type, not per dtype: the math is compiled once for all of them).
template <class F, class C>
__global__ void unary_kernel(const void* x, void* y, DType t, int64_t n, bool add) {
  BRASS_CUDA_LOOP(i, n) {
    C v = F::template map<C>(cuda::load<F, C>(x, i, t));
    cuda::store<F, C>(y, i, t, v, add);
  }
}

template <class F>
void unary(const OpContext& ctx, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
  Req req = ctx.req[0];
  int64_t n = out[0].size();
  if (req == Req::kNull || n == 0) return;
  cudaStream_t s = cuda::stream(ctx.dev.id);
  dispatch_dtype(in[0].dtype, [&](auto tag) {
    using C = typename F::template compute<decltype(tag)>::type;
    cuda::launch(unary_kernel<F, C>, cuda::blocks_for(n), cuda::kThreads, s, in[0].dptr,
                 out[0].dptr, in[0].dtype, n, req == Req::kAdd);
    return 0;
  });
  cuda::finish(s);
}

// Cast: one kernel per source type, the destination type chosen per launch.
template <class S, class D>
__global__ void cast_kernel(const S* x, D* y, int64_t n) {
  BRASS_CUDA_LOOP(i, n) { y[i] = cuda::dev_convert<D>(x[i]); }
}

// _copy, BlockGrad and Cast (as the CPU kernel, a copy ignores kAdd).
void copy(const OpContext& ctx, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
  int64_t n = out[0].size();
  if (ctx.req[0] == Req::kNull || in[0].dptr == out[0].dptr || n == 0) return;
  cudaStream_t s = cuda::stream(ctx.dev.id);
  if (in[0].dtype == out[0].dtype) {
    BRASS_CUDA_CALL(cudaMemcpyAsync(out[0].dptr, in[0].dptr, size_t(n) * dtype_size(in[0].dtype),
                                    cudaMemcpyDeviceToDevice, s));
  } else {
    dispatch_dtype(in[0].dtype, [&](auto stag) {
      using S = decltype(stag);
      return dispatch_dtype(out[0].dtype, [&](auto dtag) {
        using D = decltype(dtag);
        cuda::launch(cast_kernel<S, D>, cuda::blocks_for(n), cuda::kThreads, s, in[0].ptr<S>(),
                     out[0].ptr<D>(), n);
        return 0;
      });
    });
  }
  cuda::finish(s);
}

template <class F>
void add(const char* name) {
  OpRegistry::get().add(name).cuda(unary<F>);
}

const bool kRegistered = [] {
  add<Abs>("abs");
  add<Sign>("sign");
  add<Negative>("negative");
  add<Square>("square");
  add<Relu>("relu");
  add<LogicalNot>("logical_not");
  add<Floor>("floor");
  add<Ceil>("ceil");
  add<Round>("round");
  add<Rint>("rint");
  add<Trunc>("trunc");
  add<Fix>("fix");
  add<Exp>("exp");
  add<Expm1>("expm1");
  add<Log>("log");
  add<Log1p>("log1p");
  add<Log2>("log2");
  add<Log10>("log10");
  add<Sqrt>("sqrt");
  add<Rsqrt>("rsqrt");
  add<Cbrt>("cbrt");
  add<Reciprocal>("reciprocal");
  add<Sin>("sin");
  add<Cos>("cos");
  add<Tan>("tan");
  add<Arcsin>("arcsin");
  add<Arccos>("arccos");
  add<Arctan>("arctan");
  add<Sinh>("sinh");
  add<Cosh>("cosh");
  add<Tanh>("tanh");
  add<Arcsinh>("arcsinh");
  add<Arccosh>("arccosh");
  add<Arctanh>("arctanh");
  add<Sigmoid>("sigmoid");
  add<Softsign>("softsign");
  add<Erf>("erf");
  add<Erfinv>("erfinv");
  add<Gamma>("gamma");
  add<Gammaln>("gammaln");
  add<Digamma>("_digamma");
  add<Trigamma>("_trigamma");
  for (const char* name : {"_copy", "BlockGrad", "Cast", "_cast_like"})
    OpRegistry::get().add(name).cuda(copy);
  return true;
}();

}  // namespace gpu
}  // namespace unary_ops
}  // namespace brass
