// CUDA kernels of the ordering operators (ordering.cc): topk, sort, argsort, cumsum and
// cumsum's gradient _backward_cumsum, added to the ops registered there, with the CPU's rows
// (op/tensor/ordering_params.h), order (NaN as the largest value, ties by position: a stable
// sort) and accumulation types.
//
// Sorting: each row's keys (value in the compute type, position) are copied into a scratch
// row padded to a power of two and sorted there by a bitonic network, one launch per stage.
// The order compares positions on ties and puts the padding last, so it is total and the
// network gives exactly the stable sort the CPU computes. The first k of each sorted row then
// give the values (gathered from the input, so the bits are the input's), the indices (in any
// dtype) or the mask.
#include "cuda/cuda_common.cuh"  // first: its pragmas cover the whole unit

#include <memory>

#include "kernel/elemwise.h"
#include "op/operator.h"
#include "op/tensor/ordering_params.h"

namespace brass {
namespace ordering_ops {
namespace gpu {

// ---- sorting rows --------------------------------------------------------------------------

// The sort order over a padded row: the tied key order of the CPU, with the padding (positions
// n and up) after every element and among itself by position.
template <class C>
__device__ __forceinline__ bool before(const Key<C>& a, const Key<C>& b, int64_t n, bool asc) {
  bool pa = a.i >= n, pb = b.i >= n;
  if (pa || pb) return pa ? (pb && a.i < b.i) : true;
  return KeyOrderTied<C>{KeyOrder<C>{asc}}(a, b);
}

// Fills the padded rows (rows, n2): keys of row r = (o, i) from x (dtype t; (outer, n, inner)),
// in the compute type C of t; padding gets position j >= n.
template <class C>
struct LoadKeys {
  const void* x;
  C* v;
  int64_t* idx;
  DType t;
  int64_t n, n2, inner;
  __device__ void operator()(int64_t k) const {
    int64_t r = k / n2, j = k - r * n2;
    int64_t o = r / inner, i = r - o * inner;
    v[k] = j < n ? cuda::load<kernel::DefaultCompute, C>(x, (o * n + j) * inner + i, t) : C(0);
    idx[k] = j;
  }
};

// One compare-exchange stage of the bitonic network (block size `block`, distance `dist`, both
// powers of two) over every padded row: thread k handles the pair (a, a + dist) of its row.
template <class C>
struct BitonicStage {
  C* v;
  int64_t* idx;
  int64_t n, n2, block, dist;
  bool asc;
  __device__ void operator()(int64_t k) const {
    int64_t half = n2 >> 1;
    int64_t r = k / half, q = k - r * half;
    int64_t a = ((q & ~(dist - 1)) << 1) | (q & (dist - 1));  // q with a 0 bit inserted at dist
    int64_t b = a | dist;
    int64_t base = r * n2;
    Key<C> ka{v[base + a], idx[base + a]}, kb{v[base + b], idx[base + b]};
    // Blocks alternate direction so that each pair of them forms a bitonic sequence.
    bool forward = (a & block) == 0;
    if (forward ? before(kb, ka, n, asc) : before(ka, kb, n, asc)) {
      v[base + a] = kb.v;
      idx[base + a] = kb.i;
      v[base + b] = ka.v;
      idx[base + b] = ka.i;
    }
  }
};

// Output element e = (o, j, i) of the (outer, k, inner) outputs: where its key lies in the
// sorted rows (the row of (o, i), place j); sets o and i.
__device__ __forceinline__ int64_t sorted_at(int64_t e, int64_t k, int64_t inner, int64_t n2,
                                             int64_t* o_out, int64_t* i_out) {
  int64_t i = e % inner, q = e / inner, j = q % k, o = q / k;
  *o_out = o;
  *i_out = i;
  return (o * inner + i) * n2 + j;
}

// values (outer, k, inner) = the input elements (elem_size bytes: bits are copied) at the first
// k sorted positions.
template <class W>
struct GatherValues {
  const W* x;
  W* y;
  const int64_t* idx;
  int64_t n, k, inner, n2;
  __device__ void operator()(int64_t e) const {
    int64_t o, i;
    int64_t at = sorted_at(e, k, inner, n2, &o, &i);
    y[e] = x[(o * n + idx[at]) * inner + i];
  }
};

// indices (outer, k, inner, dtype t) = the first k sorted positions.
struct StoreIndices {
  void* y;
  const int64_t* idx;
  DType t;
  int64_t k, inner, n2;
  __device__ void operator()(int64_t e) const {
    int64_t o, i;
    int64_t pos = idx[sorted_at(e, k, inner, n2, &o, &i)];
    cuda::for_any_dtype(t, [&](auto tag) {
      using I = decltype(tag);
      static_cast<I*>(y)[e] = cuda::dev_convert<I>(pos);
    });
  }
};

// mask (outer, n, inner, dtype t; zeroed before) = 1 at the first k sorted positions.
struct SetMask {
  void* y;
  const int64_t* idx;
  DType t;
  int64_t n, k, inner, n2;
  __device__ void operator()(int64_t e) const {
    int64_t o, i;
    int64_t at = sorted_at(e, k, inner, n2, &o, &i);
    int64_t m = (o * n + idx[at]) * inner + i;
    cuda::for_any_dtype(t, [&](auto tag) {
      using T = decltype(tag);
      static_cast<T*>(y)[m] = cuda::dev_convert<T>(int64_t(1));
    });
  }
};

// Whether the memory of a and b overlaps.
inline bool overlaps(const TBlob& a, const TBlob& b) {
  auto lo = [](const TBlob& x) { return static_cast<const char*>(x.dptr); };
  auto hi = [](const TBlob& x) {
    return static_cast<const char*>(x.dptr) + x.size() * dtype_size(x.dtype);
  };
  return lo(a) < hi(b) && lo(b) < hi(a);
}

// Zeroes the elements of t (all-zero bits are 0 in every dtype); does not wait.
void zero(cudaStream_t s, const TBlob& t) {
  BRASS_CUDA_CALL(cudaMemsetAsync(t.dptr, 0, size_t(t.size()) * dtype_size(t.dtype), s));
}

// Sorts the rows of d (seen as g) and writes the first k of each into the requested outputs
// (null: not written), as run_sort in ordering.cc: the GPU's SortFn. Ends the op (waits for
// the stream).
void run_sort(const OpContext& ctx, const TBlob& d, const Rows& g, bool asc, int64_t k,
              const TBlob* values, const TBlob* indices, const TBlob* mask) {
  if (!values && !indices && !mask) return;
  int dev = ctx.dev.id;
  cudaStream_t s = cuda::stream(dev);
  int64_t rows = g.outer * g.inner, n = g.n, inner = g.inner;
  if (rows == 0 || k == 0) {
    if (mask) zero(s, *mask);
    cuda::finish(s);
    return;
  }
  int64_t n2 = 1;
  while (n2 < n) n2 <<= 1;
  cuda::DeviceBuffer ibuf(size_t(rows * n2) * sizeof(int64_t), dev);
  int64_t* idx = ibuf.get<int64_t>();
  dispatch_dtype(d.dtype, [&](auto tag) {
    using C = typename kernel::ComputeOf<decltype(tag)>::type;
    cuda::DeviceBuffer vbuf(size_t(rows * n2) * sizeof(C), dev);
    C* v = vbuf.get<C>();
    cuda::for_each(s, rows * n2, LoadKeys<C>{d.dptr, v, idx, d.dtype, n, n2, inner});
    for (int64_t block = 2; block <= n2; block <<= 1)
      for (int64_t dist = block >> 1; dist > 0; dist >>= 1)
        cuda::for_each(s, rows * (n2 >> 1), BitonicStage<C>{v, idx, n, n2, block, dist, asc});
    cuda::finish(s);  // before the keys' scratch is released
    return 0;
  });
  int64_t nk = rows * k;
  if (values) {
    // Gathered from the input: from a copy of it when the values overwrite it.
    size_t es = dtype_size(d.dtype);
    const void* src = d.dptr;
    std::unique_ptr<cuda::DeviceBuffer> copy;
    if (overlaps(*values, d)) {
      copy = std::make_unique<cuda::DeviceBuffer>(size_t(d.size()) * es, dev);
      BRASS_CUDA_CALL(cudaMemcpyAsync(copy->get(), d.dptr, size_t(d.size()) * es,
                                      cudaMemcpyDeviceToDevice, s));
      src = copy->get();
    }
    auto gather = [&](auto word) {
      using W = decltype(word);
      cuda::for_each(s, nk, GatherValues<W>{static_cast<const W*>(src),
                                            static_cast<W*>(values->dptr), idx, n, k, inner, n2});
    };
    switch (es) {
      case 1: gather(uint8_t()); break;
      case 2: gather(uint16_t()); break;
      case 4: gather(uint32_t()); break;
      default: gather(uint64_t()); break;
    }
    cuda::finish(s);  // before the copy is released
  }
  if (indices)
    cuda::for_each(s, nk, StoreIndices{indices->dptr, idx, indices->dtype, k, inner, n2});
  if (mask) {
    zero(s, *mask);
    cuda::for_each(s, nk, SetMask{mask->dptr, idx, mask->dtype, n, k, inner, n2});
  }
  cuda::finish(s);
}

// ---- cumsum --------------------------------------------------------------------------------

// One thread per row (o, i) of (outer, n, inner): scans its row in order (from the end when
// reverse: _backward_cumsum), as the CPU does. Elements are cast to the output type O first,
// then added in CumsumAcc<O>.
template <class O>
struct CumsumRows {
  const void* x;
  O* y;
  DType tx;
  int64_t n, inner;
  bool reverse;
  __device__ void operator()(int64_t r) const {
    using A = CumsumAcc<O>;
    int64_t base = (r / inner) * n * inner + r % inner;
    A acc = A(0);
    for (int64_t q = 0; q < n; ++q) {
      int64_t at = base + (reverse ? n - 1 - q : q) * inner;
      O v = O();
      cuda::for_any_dtype(tx, [&](auto tag) {
        using T = decltype(tag);
        v = cuda::dev_convert<O>(static_cast<const T*>(x)[at]);
      });
      if constexpr (std::is_same<A, uint64_t>::value) {
        acc += static_cast<uint64_t>(v);
        y[at] = static_cast<O>(acc);
      } else {
        acc = A(acc + cuda::dev_convert<A>(v));
        y[at] = cuda::dev_convert<O>(acc);
      }
    }
  }
};

// cumsum(a) and _backward_cumsum(ograd, a): the rows are a's (the gradient has a's shape, or
// is a flattened when the axis is None); the scanned input is input 0.
template <bool kReverse>
void cumsum(const OpContext& ctx, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
  const char* op = kReverse ? "_backward_cumsum" : "cumsum";
  if (ctx.req[0] == Req::kNull) return;
  reject_add_req(ctx, op);
  const auto& p = ctx.param<CumsumParam>();
  Rows g = rows_of(in[kReverse ? 1 : 0].shape, p.axis, "cumsum");
  if (out[0].size() == 0) return;
  cudaStream_t s = cuda::stream(ctx.dev.id);
  dispatch_dtype(out[0].dtype, [&](auto tag) {
    using O = decltype(tag);
    cuda::for_each(s, g.outer * g.inner, CumsumRows<O>{in[0].dptr, out[0].ptr<O>(), in[0].dtype,
                                                       g.n, g.inner, kReverse});
    return 0;
  });
  cuda::finish(s);
}

const bool kRegistered = [] {
  OpRegistry::get().add("topk").cuda(topk_kernel<run_sort>);
  OpRegistry::get().add("sort").cuda(sort_kernel<run_sort>);
  OpRegistry::get().add("argsort").cuda(argsort_kernel<run_sort>);
  OpRegistry::get().add("cumsum").cuda(cumsum<false>);
  OpRegistry::get().add("_backward_cumsum").cuda(cumsum<true>);
  return true;
}();

}  // namespace gpu
}  // namespace ordering_ops
}  // namespace brass
