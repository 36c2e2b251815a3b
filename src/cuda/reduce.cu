// CUDA kernels of the reductions (reduce.cc): sum, mean, prod, max, min, nansum, nanprod,
// norm, argmax and argmin, added to the ops registered there. They share the CPU's plan (the
// input seen as (outer, R, inner), transposed first when the reduced axes are scattered), its
// accumulation types and its init/step/combine/finish rules (op/tensor/reduce_params.h).
//
// Without shared memory a reduction is a chain of launches. While rows are long and outputs
// too few to keep the GPU busy, a partial pass turns (outer, R, inner) into (outer, P, inner):
// partial p accumulates rows p, p + P, p + 2P, ... (neighbouring threads read neighbouring
// elements). The last pass gives each output one thread that folds its R rows in order,
// finishes and stores. P depends on the shape alone, so a result never depends on the launch
// shape; where the last pass reads the input itself (short rows or many outputs), each
// output accumulates in the CPU's order and gets the CPU's bits.
#include "cuda/cuda_common.cuh"  // first: its pragmas cover the whole unit

#include <algorithm>
#include <memory>

#include "cuda/strided.cuh"
#include "op/operator.h"
#include "op/tensor/reduce_params.h"

namespace brass {
namespace reduce_ops {
namespace gpu {

// For cuda::for_dtype: the storage types whose accumulation type is A (kernels are compiled
// per accumulation type, and convert the storage types they serve on the fly).
struct AccOf {
  template <class T> struct compute { using type = Acc<T>; };
};

// Element i of an input of dtype t, in its accumulation type A.
template <class A>
__device__ __forceinline__ A load_acc(const void* x, int64_t i, DType t) {
  return cuda::load<AccOf, A>(x, i, t);
}

// Stores the result v into element i of an output of dtype t; add: as the CPU does for kAdd,
// adds to what is there in double.
template <class A>
__device__ __forceinline__ void store_result(void* y, int64_t i, DType t, A v, bool add) {
  cuda::for_any_dtype(t, [&](auto tag) {
    using O = decltype(tag);
    O* q = static_cast<O*>(y) + i;
    *q = add ? cuda::dev_convert<O>(cuda::dev_convert<double>(*q) + double(v))
             : cuda::dev_convert<O>(v);
  });
}

constexpr int64_t kSerialRows = 1024;        // rows the last pass may fold per output
constexpr int64_t kBusyOutputs = 1 << 15;    // outputs that keep the GPU busy on their own
constexpr int64_t kTargetThreads = 1 << 17;  // threads a partial pass aims for
constexpr int64_t kRowsPerPartial = 32;      // rows a partial folds at least

// Partials per output for the next pass over rows of length r, or 0 when the last pass
// should run now. Always less than r, so every partial folds at least one row.
inline int64_t partials_for(int64_t outputs, int64_t r) {
  if (r <= kSerialRows || outputs >= kBusyOutputs) return 0;
  int64_t by_work = (r + kRowsPerPartial - 1) / kRowsPerPartial;
  int64_t by_threads = (kTargetThreads + outputs - 1) / outputs;
  return std::min(by_work, by_threads);
}

// The chain of passes of a reduction over rows of length r into `outputs` outputs. While
// partials_for asks for partials, pass(src, dst, len, np) reduces rows of length len in
// scratch slot src (-1: the input) to np partials per output in slot dst (0 or 1: the slots
// alternate); then last(src, len) runs the last pass. The first pass into a slot has the most
// partials, so a slot allocated then (outputs * np elements) serves every later pass into it.
template <class Pass, class Last>
void run_passes(int64_t outputs, int64_t r, Pass pass, Last last) {
  int src = -1;
  for (int64_t np; (np = partials_for(outputs, r)) != 0; r = np) {
    int dst = src == 0 ? 1 : 0;
    pass(src, dst, r, np);
    src = dst;
  }
  last(src, r);
}

// Where thread k of a pass over x (outer, r, inner) into (outer, np, inner) works: returns
// the offset in x of its column (o, i), and its first row in *p (rows p, p + np, ... are its
// own). np = 1 for the last pass (k is then the output).
__device__ __forceinline__ int64_t column_of(int64_t k, int64_t r, int64_t inner, int64_t np,
                                             int64_t* p) {
  int64_t i = k % inner, q = k / inner, o = q / np;
  *p = q - o * np;
  return o * r * inner + i;
}

// Folds rows p, p + np, ... (below r) of the column at base of x into an accumulator, in
// order. kInput: x is the input (dtype t; elements enter with step), else earlier partials
// of type A (with combine).
template <Kind K, class A, bool kInput>
__device__ __forceinline__ A fold(const void* x, DType t, int64_t base, int64_t inner,
                                  int64_t p, int64_t r, int64_t np) {
  A acc = init<K, A>();
  for (int64_t j = p; j < r; j += np) {
    if constexpr (kInput) acc = step<K, A>(acc, load_acc<A>(x, base + j * inner, t));
    else acc = combine<K, A>(acc, static_cast<const A*>(x)[base + j * inner]);
  }
  return acc;
}

// One partial pass over x (outer, r, inner) into part (outer, np, inner).
template <Kind K, class A, bool kInput>
struct PartialPass {
  const void* x;
  A* part;
  DType t;
  int64_t r, inner, np;
  __device__ void operator()(int64_t k) const {
    int64_t p;
    int64_t base = column_of(k, r, inner, np, &p);
    part[k] = fold<K, A, kInput>(x, t, base, inner, p, r, np);
  }
};

// The last pass: output k folds its r rows of x (outer, r, inner) in order, finishes (count:
// the number of input elements behind each output) and stores into y (dtype ty).
template <Kind K, class A, bool kInput>
struct LastPass {
  const void* x;
  void* y;
  DType tx, ty;
  int64_t r, inner, count;
  bool add;
  __device__ void operator()(int64_t k) const {
    int64_t p;
    int64_t base = column_of(k, r, inner, 1, &p);
    A acc = fold<K, A, kInput>(x, tx, base, inner, p, r, 1);
    store_result<A>(y, k, ty, finish<K, A>(acc, count), add);
  }
};

// Reduces x (dtype t) seen as (outer, r, inner) into y (dtype ty), with A the accumulation
// type of t. Ends the op: waits for the stream (before the scratch is released).
template <Kind K, class A>
void reduce_planned(cudaStream_t s, int dev, const void* x, DType t, void* y, DType ty,
                    int64_t outer, int64_t r, int64_t inner, bool add) {
  int64_t outputs = outer * inner, count = r;
  std::unique_ptr<cuda::DeviceBuffer> buf[2];
  auto part = [&](int b) { return buf[b]->get<A>(); };
  run_passes(
      outputs, r,
      [&](int src, int dst, int64_t len, int64_t np) {
        if (!buf[dst])
          buf[dst] = std::make_unique<cuda::DeviceBuffer>(size_t(outputs * np) * sizeof(A), dev);
        if (src < 0)
          cuda::for_each(s, outputs * np,
                         PartialPass<K, A, true>{x, part(dst), t, len, inner, np});
        else
          cuda::for_each(s, outputs * np,
                         PartialPass<K, A, false>{part(src), part(dst), t, len, inner, np});
      },
      [&](int src, int64_t len) {
        if (src < 0)
          cuda::for_each(s, outputs, LastPass<K, A, true>{x, y, t, ty, len, inner, count, add});
        else
          cuda::for_each(s, outputs,
                         LastPass<K, A, false>{part(src), y, t, ty, len, inner, count, add});
      });
  cuda::finish(s);
}

template <Kind K>
void run(const OpContext& ctx, const TBlob& in, const TBlob& out, const std::vector<char>& red) {
  if (ctx.req[0] == Req::kNull) return;
  // Only norm has an output dtype of its own (float32, float64 or float16), as on the CPU.
  constexpr bool kNorm = K == Kind::kNorm1 || K == Kind::kNorm2;
  if (out.dtype != in.dtype &&
      !(kNorm && (out.dtype == DType::kFloat32 || out.dtype == DType::kFloat64 ||
                  out.dtype == DType::kFloat16)))
    fail(BRASS_ERR_DTYPE, "reduce: unsupported output dtype ", dtype_name(out.dtype));
  Plan p = make_plan(in.shape, red);
  if (p.outer * p.inner == 0) return;
  cudaStream_t s = cuda::stream(ctx.dev.id);
  const void* src = in.dptr;
  if (p.need_transpose) {
    // Kept axes first, reduced axes last, into the temp space the op asked for.
    Shape ts(0);
    for (int a : p.perm) ts.push_back(in.shape[a]);
    cuda::strided_copy(s, dtype_size(in.dtype), in.dptr, ctx.temp, cuda::make_space(ts),
                       cuda::permuted_view(in.shape, p.perm), cuda::contiguous_view(ts));
    src = ctx.temp;
  }
  bool add = ctx.req[0] == Req::kAdd;
  dispatch_dtype(in.dtype, [&](auto tag) {
    reduce_planned<K, Acc<decltype(tag)>>(s, ctx.dev.id, src, in.dtype, out.dptr, out.dtype,
                                          p.outer, p.r, p.inner, add);
    return 0;
  });
}

// ---- argmax, argmin --------------------------------------------------------------------------

// Whether candidate (v, i) beats (best, bi): the first NaN wins, then the larger (kMax) or the
// smaller value, then the smaller index. A total order, so partials may be merged in any
// grouping and still give the CPU's answer (the first NaN, else the first extreme).
template <bool kMax, class A>
__device__ __forceinline__ bool beats(A v, int64_t i, A best, int64_t bi) {
  bool nv = is_nan(v), nb = is_nan(best);
  if (nv || nb) return nv && (!nb || i < bi);
  if (kMax ? v > best : v < best) return true;
  return v == best && i < bi;
}

// The winner among rows p, p + np, ... (below r) of the column at base of x: its value in
// *best and its index as the result (-1: no rows). kInput: x is the input (dtype t; the index
// is the row), else earlier candidates (values x, indices xi).
template <bool kMax, class A, bool kInput>
__device__ __forceinline__ int64_t arg_fold(const void* x, const int64_t* xi, DType t,
                                            int64_t base, int64_t inner, int64_t p, int64_t r,
                                            int64_t np, A* best) {
  A bv = A(0);
  int64_t bi = -1;
  for (int64_t j = p; j < r; j += np) {
    int64_t at = base + j * inner;
    A v = kInput ? load_acc<A>(x, at, t) : static_cast<const A*>(x)[at];
    int64_t vi = kInput ? j : xi[at];
    if (bi < 0 || beats<kMax>(v, vi, bv, bi)) {
      bv = v;
      bi = vi;
    }
  }
  *best = bv;
  return bi;
}

// Partial candidates over (outer, r, inner) into (outer, np, inner) pairs (pv, pi).
template <bool kMax, class A, bool kInput>
struct ArgPartialPass {
  const void* x;
  const int64_t* xi;
  A* pv;
  int64_t* pi;
  DType t;
  int64_t r, inner, np;
  __device__ void operator()(int64_t k) const {
    int64_t p;
    int64_t base = column_of(k, r, inner, np, &p);
    pi[k] = arg_fold<kMax, A, kInput>(x, xi, t, base, inner, p, r, np, &pv[k]);
  }
};

// The last pass: output k takes the winner of its r rows and stores its index in y (dtype t,
// the input's). As on the CPU, a write request of kAdd writes too.
template <bool kMax, class A, bool kInput>
struct ArgLastPass {
  const void* x;
  const int64_t* xi;
  void* y;
  DType t;
  int64_t r, inner;
  __device__ void operator()(int64_t k) const {
    int64_t p;
    int64_t base = column_of(k, r, inner, 1, &p);
    A best;
    int64_t bi = arg_fold<kMax, A, kInput>(x, xi, t, base, inner, p, r, 1, &best);
    store_result<int64_t>(y, k, t, bi, false);
  }
};

// As reduce_planned, with (value, index) candidates in the scratch slots.
template <bool kMax, class A>
void arg_planned(cudaStream_t s, int dev, const void* x, void* y, DType t, int64_t outer,
                 int64_t r, int64_t inner) {
  int64_t outputs = outer * inner;
  std::unique_ptr<cuda::DeviceBuffer> vbuf[2], ibuf[2];
  auto pv = [&](int b) { return vbuf[b]->get<A>(); };
  auto pi = [&](int b) { return ibuf[b]->get<int64_t>(); };
  run_passes(
      outputs, r,
      [&](int src, int dst, int64_t len, int64_t np) {
        int64_t n = outputs * np;
        if (!vbuf[dst]) {
          vbuf[dst] = std::make_unique<cuda::DeviceBuffer>(size_t(n) * sizeof(A), dev);
          ibuf[dst] = std::make_unique<cuda::DeviceBuffer>(size_t(n) * sizeof(int64_t), dev);
        }
        if (src < 0)
          cuda::for_each(s, n, ArgPartialPass<kMax, A, true>{x, nullptr, pv(dst), pi(dst), t, len,
                                                             inner, np});
        else
          cuda::for_each(s, n, ArgPartialPass<kMax, A, false>{pv(src), pi(src), pv(dst), pi(dst),
                                                              t, len, inner, np});
      },
      [&](int src, int64_t len) {
        if (src < 0)
          cuda::for_each(s, outputs, ArgLastPass<kMax, A, true>{x, nullptr, y, t, len, inner});
        else
          cuda::for_each(s, outputs,
                         ArgLastPass<kMax, A, false>{pv(src), pi(src), y, t, len, inner});
      });
  cuda::finish(s);
}

template <bool kMax>
void arg_kernel(const OpContext& c, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
  if (c.req[0] == Req::kNull) return;
  const char* name = kMax ? "argmax" : "argmin";
  const TBlob& x = in[0];
  ArgPlan ap = make_arg_plan(x.shape, c.param<ArgParam>().axis, name);
  if (ap.outer * ap.inner == 0) return;
  cudaStream_t s = cuda::stream(c.dev.id);
  dispatch_dtype(x.dtype, [&](auto tag) {
    arg_planned<kMax, Acc<decltype(tag)>>(s, c.dev.id, x.dptr, out[0].dptr, x.dtype, ap.outer,
                                          ap.r, ap.inner);
    return 0;
  });
}

// ---- Registration ----------------------------------------------------------------------------

template <Kind K>
void add(const char* name) {
  OpRegistry::get().add(name).cuda(
      [](const OpContext& c, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
        const char* name = c.attrs->op->name.c_str();
        run<K>(c, in[0], out[0], reduced_axes(name, in[0].shape.ndim(), c.param<ReduceParam>()));
      });
}

const bool kRegistered = [] {
  add<Kind::kSum>("sum");
  add<Kind::kMean>("mean");
  add<Kind::kProd>("prod");
  add<Kind::kMax>("max");
  add<Kind::kMin>("min");
  add<Kind::kNanSum>("nansum");
  add<Kind::kNanProd>("nanprod");
  OpRegistry::get().add("norm").cuda(
      [](const OpContext& c, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
        const auto& p = c.param<NormParam>();
        auto red = reduced_axes(in[0].shape.ndim(), p);
        if (p.ord == 1) run<Kind::kNorm1>(c, in[0], out[0], red);
        else run<Kind::kNorm2>(c, in[0], out[0], red);
      });
  OpRegistry::get().add("_sum_to_like").cuda(
      [](const OpContext& c, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
        run<Kind::kSum>(c, in[0], out[0], sum_to_like_axes(in[0].shape, in[1].shape));
      });
  OpRegistry::get().add("argmax").cuda(arg_kernel<true>);
  OpRegistry::get().add("argmin").cuda(arg_kernel<false>);
  return true;
}();

}  // namespace gpu
}  // namespace reduce_ops
}  // namespace brass
