// CUDA kernels of the indexing operators (indexing.cc): take, pick, one_hot, where, diag,
// _slice_assign and _slice_assign_scalar, the gradient ops _backward_take, _backward_pick and
// _backward_diag, and _gather_along_axis / _scatter_along_axis, with the CPU kernels'
// parameters and plans (indexing_params.h), dtypes, write requests and errors. As on the CPU, elements are moved
// as raw words of their size; only index and condition inputs are converted.
#include "cuda/cuda_common.cuh"  // first: its pragmas cover the whole unit

#include <cstring>
#include <memory>
#include <vector>

#include "cuda/strided.cuh"
#include "kernel/elemwise.h"
#include "op/operator.h"
#include "op/tensor/indexing_params.h"

namespace brass {
namespace indexing_ops {
namespace gpu {

// ---- Indices -------------------------------------------------------------------------------

// An index value as int64 by the CPU's rule (indices_as_int64 in indexing.cc): floats truncate
// toward zero, NaN gives 0, out-of-range values clamp; uint64 above INT64_MAX clamps too
// (a plain cast would wrap it negative).
template <class I>
__device__ __forceinline__ int64_t index_value(I v) {
  if constexpr (std::is_same<I, uint64_t>::value)
    return v > uint64_t(cuda::Limits<int64_t>::kMax) ? cuda::Limits<int64_t>::kMax : int64_t(v);
  else
    return cuda::dev_convert<int64_t>(v);
}

template <class I>
struct ToInt64 {
  const I* idx;
  int64_t* j;
  __device__ void operator()(int64_t i) const { j[i] = index_value(idx[i]); }
};

// Clip or wrap into [0, n) (map_index, as on the CPU).
struct MapIndices {
  int64_t* j;
  int64_t n;
  Mode mode;
  __device__ void operator()(int64_t i) const { j[i] = map_index(j[i], n, mode); }
};

// Raise mode: sets *bad when any index is outside [0, n). Every writer stores the same value,
// so no atomics are needed; the host then finds the first bad index itself.
struct CheckIndices {
  const int64_t* j;
  int64_t n;
  int* bad;
  __device__ void operator()(int64_t i) const {
    if (j[i] < 0 || j[i] >= n) *bad = 1;
  }
};

// The m indices of idx as int64 into j (device memory).
void indices_as_int64(cudaStream_t s, const TBlob& idx, int64_t* j) {
  dispatch_dtype(idx.dtype, [&](auto tag) {
    using I = decltype(tag);
    cuda::for_each(s, idx.size(), ToInt64<I>{idx.ptr<I>(), j});
    return 0;
  });
}

// apply_mode of indexing.cc on the device: maps the m indices in j into [0, n), or in raise
// mode fails at the first one outside it with the CPU's message (waits for the stream then).
void apply_mode(cudaStream_t s, int dev, int64_t* j, int64_t m, int64_t n, Mode mode,
                const char* op, int axis) {
  if (m == 0) return;
  if (mode != Mode::kRaise) {
    cuda::for_each(s, m, MapIndices{j, n, mode});
    return;
  }
  cuda::DeviceBuffer flag(sizeof(int), dev);
  BRASS_CUDA_CALL(cudaMemsetAsync(flag.get(), 0, sizeof(int), s));
  cuda::for_each(s, m, CheckIndices{j, n, flag.get<int>()});
  int bad = 0;
  cuda::to_host(&bad, flag.get(), sizeof(int), s);
  cuda::finish(s);
  if (!bad) return;
  // The error path only: find the first bad index on the host, in order.
  std::vector<int64_t> host(static_cast<size_t>(m));
  cuda::to_host(host.data(), j, size_t(m) * sizeof(int64_t), s);
  cuda::finish(s);
  for (int64_t v : host)
    if (v < 0 || v >= n) index_out_of_bounds(op, v, axis, n);
}

// ---- take, pick, one_hot -------------------------------------------------------------------

// out[o, t, i] = data[o, j[t], i] over (outer, m, inner).
template <class W>
struct Take {
  const W* src;
  W* dst;
  const int64_t* j;
  int64_t m, n, inner;
  __device__ void operator()(int64_t i) const {
    int64_t r = i / inner, k = i - r * inner;
    int64_t o = r / m, t = r - o * m;
    dst[i] = src[(o * n + j[t]) * inner + k];
  }
};

void take(const OpContext& ctx, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  reject_add_req(ctx, "take");
  const TBlob& d = in[0];
  IndexPlan g = take_plan(ctx.param<TakeParam>(), d.shape);
  int64_t m = in[1].size();
  // As on the CPU, raise mode checks the indices even when the output is empty.
  if (m == 0 || (out[0].size() == 0 && g.mode != Mode::kRaise)) return;
  cudaStream_t s = cuda::stream(ctx.dev.id);
  cuda::DeviceBuffer jb(size_t(m) * sizeof(int64_t), ctx.dev.id);
  int64_t* j = jb.get<int64_t>();
  indices_as_int64(s, in[1], j);
  apply_mode(s, ctx.dev.id, j, m, g.n, g.mode, "take", g.axis);
  if (out[0].size() > 0) {
    dispatch_width(d.dtype, [&](auto tag) {
      using W = decltype(tag);
      cuda::for_each(s, g.outer * m * g.inner,
                     Take<W>{d.ptr<W>(), out[0].ptr<W>(), j, m, g.n, g.inner});
    });
  }
  cuda::finish(s);
}

// out[o, i] = data[o, j[o, i], i] over (outer, inner); the index has the output's shape.
template <class W>
struct Pick {
  const W* src;
  W* dst;
  const int64_t* j;
  int64_t n, inner;
  __device__ void operator()(int64_t r) const {
    int64_t o = r / inner, i = r - o * inner;
    dst[r] = src[(o * n + j[r]) * inner + i];
  }
};

void pick(const OpContext& ctx, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  reject_add_req(ctx, "pick");
  const TBlob& d = in[0];
  IndexPlan g = pick_plan(ctx.param<PickParam>(), d.shape);
  int64_t m = out[0].size();
  if (m == 0) return;
  cudaStream_t s = cuda::stream(ctx.dev.id);
  cuda::DeviceBuffer jb(size_t(m) * sizeof(int64_t), ctx.dev.id);
  int64_t* j = jb.get<int64_t>();
  indices_as_int64(s, in[1], j);
  apply_mode(s, ctx.dev.id, j, m, g.n, g.mode, "pick", g.axis);
  dispatch_width(d.dtype, [&](auto tag) {
    using W = decltype(tag);
    cuda::for_each(s, m, Pick<W>{d.ptr<W>(), out[0].ptr<W>(), j, g.n, g.inner});
  });
  cuda::finish(s);
}

// out[r, c] = on if j[r] == c else off; an index outside [0, depth) gives an all-off row.
template <class T>
struct OneHot {
  const int64_t* j;
  T* o;
  int64_t depth;
  T on, off;
  __device__ void operator()(int64_t i) const {
    int64_t r = i / depth, c = i - r * depth;
    o[i] = j[r] == c ? on : off;
  }
};

void one_hot(const OpContext& ctx, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  reject_add_req(ctx, "one_hot");
  const auto& p = ctx.param<OneHotParam>();
  int64_t n = out[0].size();
  if (n == 0) return;
  cudaStream_t s = cuda::stream(ctx.dev.id);
  cuda::DeviceBuffer jb(size_t(in[0].size()) * sizeof(int64_t), ctx.dev.id);
  int64_t* j = jb.get<int64_t>();
  indices_as_int64(s, in[0], j);
  dispatch_dtype(out[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    cuda::for_each(s, n, OneHot<T>{j, out[0].ptr<T>(), int64_t(p.depth), convert<T>(p.on_value),
                                   convert<T>(p.off_value)});
    return 0;
  });
  cuda::finish(s);
}

// ---- where ---------------------------------------------------------------------------------

// The condition as 0/1 bytes (convert<bool>: non-zero and NaN are true).
template <class C>
struct ToMask {
  const C* c;
  uint8_t* m;
  __device__ void operator()(int64_t i) const { m[i] = cuda::dev_convert<bool>(c[i]) ? 1 : 0; }
};

// out[i] = mask[i / row] ? x[i] : y[i] (row: where_row).
template <class W>
struct Select {
  const uint8_t* mask;
  const W* x;
  const W* y;
  W* o;
  int64_t row;
  __device__ void operator()(int64_t i) const { o[i] = mask[i / row] ? x[i] : y[i]; }
};

void where(const OpContext& ctx, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  reject_add_req(ctx, "where");
  const TBlob &c = in[0], &x = in[1], &y = in[2], &o = out[0];
  int64_t n = o.size();
  if (n == 0) return;
  int64_t row = where_row(c.shape, x.shape, n);
  cudaStream_t s = cuda::stream(ctx.dev.id);
  cuda::DeviceBuffer mb(size_t(c.size()), ctx.dev.id);
  uint8_t* mask = mb.get<uint8_t>();
  dispatch_dtype(c.dtype, [&](auto tag) {
    using C = decltype(tag);
    cuda::for_each(s, c.size(), ToMask<C>{c.ptr<C>(), mask});
    return 0;
  });
  dispatch_width(o.dtype, [&](auto tag) {
    using W = decltype(tag);
    cuda::for_each(s, n, Select<W>{mask, x.ptr<W>(), y.ptr<W>(), o.ptr<W>(), row});
  });
  cuda::finish(s);
}

// ---- diag ----------------------------------------------------------------------------------

// The diagonals of an array of shape d (2 or more dims) as a view over diag's output space
// (nd axes: the remaining axes of d in order, then the diagonal): element (rest..., l) lies
// at start + sum rest_i * stride_i + l * (stride[a1] + stride[a2]).
cuda::View diag_view(const Shape& d, const DiagParam& p, int nd_out) {
  DiagPlan g = diag_plan(p, d);
  int64_t off_r = p.k < 0 ? -p.k : 0, off_c = p.k > 0 ? p.k : 0;
  int64_t stride[kMaxNDim], from[kMaxNDim];
  cuda::contiguous_strides(d, stride);
  int k = 0;
  for (int i = 0; i < d.ndim(); ++i)
    if (i != g.a1 && i != g.a2) from[k++] = stride[i];
  from[k] = stride[g.a1] + stride[g.a2];
  int64_t start = off_r * stride[g.a1] + off_c * stride[g.a2];
  return cuda::make_view(nd_out, from, start);
}

void diag(const OpContext& ctx, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  reject_add_req(ctx, "diag");
  const auto& p = ctx.param<DiagParam>();
  const TBlob &d = in[0], &o = out[0];
  if (o.size() == 0) return;
  int64_t off_r = p.k < 0 ? -p.k : 0, off_c = p.k > 0 ? p.k : 0;
  size_t es = dtype_size(d.dtype);
  cudaStream_t s = cuda::stream(ctx.dev.id);
  if (d.shape.ndim() == 1) {
    // 1-D: zeros (all-zero bits are 0 in every dtype), then data[i] to out[i + off_r, i + off_c].
    int64_t n = d.shape[0], w = o.shape[1];
    BRASS_CUDA_CALL(cudaMemsetAsync(o.dptr, 0, size_t(o.size()) * es, s));
    cuda::Space sp;
    sp.nd = 1;
    sp.dim[0] = n;
    int64_t one = 1, diag_step = w + 1;
    cuda::strided_copy(s, es, d.dptr, o.dptr, sp, cuda::make_view(1, &one),
                       cuda::make_view(1, &diag_step, off_r * w + off_c));
    cuda::finish(s);
    return;
  }
  cuda::strided_copy(s, es, d.dptr, o.dptr, cuda::make_space(o.shape),
                     diag_view(d.shape, p, o.shape.ndim()), cuda::contiguous_view(o.shape));
  cuda::finish(s);
}

// _backward_diag(ograd, data): for 2-D or more data, zeros with ograd's rows written through
// the diagonal view of the output; for 1-D data, diagonal k of the matrix ograd (diag's own
// extraction over axes 0 and 1).
void diag_grad(const OpContext& ctx, const std::vector<TBlob>& in,
               const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  reject_add_req(ctx, "_backward_diag");
  const auto& p = ctx.param<DiagParam>();
  const TBlob &g = in[0], &o = out[0];
  if (o.size() == 0) return;
  size_t es = dtype_size(o.dtype);
  cudaStream_t s = cuda::stream(ctx.dev.id);
  if (in[1].shape.ndim() == 1) {
    DiagParam q = p;
    q.axis1 = 0;
    q.axis2 = 1;
    cuda::strided_copy(s, es, g.dptr, o.dptr, cuda::make_space(o.shape),
                       diag_view(g.shape, q, o.shape.ndim()), cuda::contiguous_view(o.shape));
  } else {
    BRASS_CUDA_CALL(cudaMemsetAsync(o.dptr, 0, size_t(o.size()) * es, s));
    cuda::strided_copy(s, es, g.dptr, o.dptr, cuda::make_space(g.shape),
                       cuda::contiguous_view(g.shape), diag_view(o.shape, p, g.shape.ndim()));
  }
  cuda::finish(s);
}

// ---- _backward_take, _backward_pick ---------------------------------------------------------

// The scatter-add of ScatterAddPlan: one thread per column (o, i) adds its values in
// increasing t into acc, in the compute type C, as the CPU does (so the sums are the CPU's).
// Columns own disjoint elements: no atomics.
template <class T, class C>
struct ScatterAdd {
  const T* v;
  C* acc;
  const int64_t* j;
  ScatterAddPlan p;
  __device__ void operator()(int64_t r) const {
    int64_t o = r / p.inner, i = r - o * p.inner;
    for (int64_t t = 0; t < p.m; ++t) {
      C* d = acc + scatter_add_at(p, j, o, t, i);
      *d = C(*d + cuda::dev_convert<C>(v[(o * p.m + t) * p.inner + i]));
    }
  }
};

template <class T, class C>
struct Narrow {
  const C* a;
  T* o;
  __device__ void operator()(int64_t i) const { o[i] = cuda::dev_convert<T>(a[i]); }
};

// out = zeros, then the values v added at the indices j (device memory, already checked).
// Waits for the stream.
void scatter_add(cudaStream_t s, int dev, const TBlob& v, const int64_t* j,
                 const ScatterAddPlan& p, const TBlob& out) {
  int64_t size = out.size();
  if (size == 0) return;
  dispatch_dtype(out.dtype, [&](auto tag) {
    using T = decltype(tag);
    using C = typename kernel::ComputeOf<T>::type;
    constexpr bool kDirect = std::is_same<T, C>::value;
    std::unique_ptr<cuda::DeviceBuffer> buf;
    C* acc;
    if constexpr (kDirect) {
      acc = out.ptr<T>();
    } else {
      buf = std::make_unique<cuda::DeviceBuffer>(size_t(size) * sizeof(C), dev);
      acc = buf->get<C>();
    }
    BRASS_CUDA_CALL(cudaMemsetAsync(acc, 0, size_t(size) * sizeof(C), s));  // 0 in every C
    if (p.m > 0)
      cuda::for_each(s, p.outer * p.inner, ScatterAdd<T, C>{v.ptr<T>(), acc, j, p});
    if constexpr (!kDirect) cuda::for_each(s, size, Narrow<T, C>{acc, out.ptr<T>()});
    cuda::finish(s);  // before the accumulators are released
    return 0;
  });
}

void take_grad(const OpContext& ctx, const std::vector<TBlob>& in,
               const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  reject_add_req(ctx, "_backward_take");
  IndexPlan g = take_plan(ctx.param<TakeParam>(), in[2].shape);
  ScatterAddPlan p = take_scatter_plan(g, in[1].size());
  int dev = ctx.dev.id;
  cudaStream_t s = cuda::stream(dev);
  cuda::DeviceBuffer jb(size_t(std::max<int64_t>(p.m, 1)) * sizeof(int64_t), dev);
  int64_t* j = jb.get<int64_t>();
  if (p.m > 0) {
    indices_as_int64(s, in[1], j);
    apply_mode(s, dev, j, p.m, g.n, g.mode, "take", g.axis);
  }
  scatter_add(s, dev, in[0], j, p, out[0]);
  cuda::finish(s);
}

// Output element (o, c, i) of the (outer, n, inner) result: ograd[o, i] where the index of
// (o, i) is c, else 0. One pass, no separate zeroing.
template <class W>
struct PickGrad {
  const W* g;
  W* o;
  const int64_t* j;
  int64_t n, inner;
  __device__ void operator()(int64_t e) const {
    int64_t q = e / inner, i = e - q * inner;
    int64_t ob = q / n, c = q - ob * n;
    int64_t r = ob * inner + i;
    o[e] = j[r] == c ? g[r] : W(0);
  }
};

void pick_grad(const OpContext& ctx, const std::vector<TBlob>& in,
               const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  reject_add_req(ctx, "_backward_pick");
  const TBlob &g = in[0], &o = out[0];
  IndexPlan p = pick_plan(ctx.param<PickParam>(), in[2].shape);
  int64_t m = g.size();
  if (o.size() == 0) return;
  cudaStream_t s = cuda::stream(ctx.dev.id);
  cuda::DeviceBuffer jb(size_t(m) * sizeof(int64_t), ctx.dev.id);
  int64_t* j = jb.get<int64_t>();
  indices_as_int64(s, in[1], j);
  apply_mode(s, ctx.dev.id, j, m, p.n, p.mode, "pick", p.axis);
  dispatch_width(o.dtype, [&](auto tag) {
    using W = decltype(tag);
    cuda::for_each(s, o.size(), PickGrad<W>{g.ptr<W>(), o.ptr<W>(), j, p.n, p.inner});
  });
  cuda::finish(s);
}

// ---- _gather_along_axis, _scatter_along_axis -------------------------------------------------

// Output element r = (o, t, i) of the (outer, k, inner) result reads data[o, j[r], i].
template <class W>
struct GatherAlong {
  const W* d;
  W* o;
  const int64_t* j;
  int64_t k, n, inner;
  __device__ void operator()(int64_t r) const {
    int64_t ob = r / (k * inner), i = r % inner;
    o[r] = d[(ob * n + j[r]) * inner + i];
  }
};

// Shared by both ops: the indices (input 1) as int64, checked against [0, n) as the CPU does;
// then the gather, or the scatter-add (the gradient of the gather).
template <bool kScatter>
void along(const OpContext& ctx, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
  const char* op = kScatter ? "_scatter_along_axis" : "_gather_along_axis";
  if (ctx.req[0] == Req::kNull) return;
  reject_add_req(ctx, op);
  const TBlob& data = kScatter ? in[2] : in[0];
  const TBlob& o = out[0];
  AlongPlan g = along_plan(data.shape, in[1].shape, ctx.param<AlongAxisParam>(), op);
  int64_t m = in[1].size();
  int dev = ctx.dev.id;
  cudaStream_t s = cuda::stream(dev);
  cuda::DeviceBuffer jb(size_t(std::max<int64_t>(m, 1)) * sizeof(int64_t), dev);
  int64_t* j = jb.get<int64_t>();
  if (m > 0) {
    indices_as_int64(s, in[1], j);
    apply_mode(s, dev, j, m, g.n, Mode::kRaise, op, g.axis);
  }
  if constexpr (kScatter) {
    scatter_add(s, dev, in[0], j, along_scatter_plan(g), o);
  } else if (m > 0) {
    dispatch_width(o.dtype, [&](auto tag) {
      using W = decltype(tag);
      cuda::for_each(s, m, GatherAlong<W>{in[0].ptr<W>(), o.ptr<W>(), j, g.k, g.n, g.inner});
    });
  }
  cuda::finish(s);  // before the indices are released
}

// ---- _slice_assign, _slice_assign_scalar ---------------------------------------------------

// The region r of an array of shape d as a copy space (the region's shape) and a view into
// the array. 0-d data is one element.
void region_view(const Shape& d, const Region& r, cuda::Space* sp, cuda::View* v) {
  *v = cuda::contiguous_view(d);
  sp->nd = r.nd;
  for (int i = 0; i < r.nd; ++i) {
    sp->dim[i] = r.len[i];
    v->base += r.begin[i] * v->stride[i];
    v->stride[i] *= r.step[i];
  }
}

// out = lhs unless they are the same memory (the in-place case writes only the region).
void copy_unless_inplace(cudaStream_t s, const TBlob& lhs, const TBlob& out) {
  if (lhs.dptr == out.dptr) return;
  size_t nbytes = size_t(out.size()) * dtype_size(out.dtype);
  if (nbytes)
    BRASS_CUDA_CALL(cudaMemcpyAsync(out.dptr, lhs.dptr, nbytes, cudaMemcpyDeviceToDevice, s));
}

void slice_assign(const OpContext& ctx, const std::vector<TBlob>& in,
                  const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  reject_add_req(ctx, "_slice_assign");
  const TBlob &lhs = in[0], &rhs = in[1], &o = out[0];
  Region r = param_region(ctx.param<SliceAssignParam>(), o.shape, "_slice_assign");
  cudaStream_t s = cuda::stream(ctx.dev.id);
  copy_unless_inplace(s, lhs, o);
  cuda::Space sp;
  cuda::View to;
  region_view(o.shape, r, &sp, &to);
  // rhs is contiguous in the region's shape.
  cuda::strided_copy(s, dtype_size(o.dtype), rhs.dptr, o.dptr, sp,
                     cuda::contiguous_view(region_shape(r)), to);
  cuda::finish(s);
}

void slice_assign_scalar(const OpContext& ctx, const std::vector<TBlob>& in,
                         const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  reject_add_req(ctx, "_slice_assign_scalar");
  const auto& p = ctx.param<SliceAssignScalarParam>();
  const TBlob& o = out[0];
  Region r = param_region(p, o.shape, "_slice_assign_scalar");
  cudaStream_t s = cuda::stream(ctx.dev.id);
  copy_unless_inplace(s, in[0], o);
  cuda::Space sp;
  cuda::View to;
  region_view(o.shape, r, &sp, &to);
  // The scalar, in the output's dtype, broadcast over the region (a view of all-zero strides).
  size_t es = dtype_size(o.dtype);
  cuda::DeviceBuffer value(es, ctx.dev.id);
  uint64_t bits = 0;  // host copy of the value; lives until finish
  dispatch_dtype(o.dtype, [&](auto tag) {
    using T = decltype(tag);
    T v = convert<T>(p.scalar);
    std::memcpy(&bits, &v, sizeof(T));
    return 0;
  });
  cuda::to_device(value.get(), &bits, es, s);
  cuda::View from;  // base 0, strides 0
  for (int i = 0; i < sp.nd; ++i) {
    from.div[i] = 1;
    from.mod[i] = 0;
  }
  cuda::strided_copy(s, es, value.get(), o.dptr, sp, from, to);
  cuda::finish(s);
}

const bool kRegistered = [] {
  OpRegistry::get().add("take").cuda(take);
  OpRegistry::get().add("pick").cuda(pick);
  OpRegistry::get().add("one_hot").cuda(one_hot);
  OpRegistry::get().add("where").cuda(where);
  OpRegistry::get().add("diag").cuda(diag);
  OpRegistry::get().add("_slice_assign").cuda(slice_assign);
  OpRegistry::get().add("_slice_assign_scalar").cuda(slice_assign_scalar);
  OpRegistry::get().add("_backward_take").cuda(take_grad);
  OpRegistry::get().add("_backward_pick").cuda(pick_grad);
  OpRegistry::get().add("_backward_diag").cuda(diag_grad);
  OpRegistry::get().add("_gather_along_axis").cuda(along<false>);
  OpRegistry::get().add("_scatter_along_axis").cuda(along<true>);
  return true;
}();

}  // namespace gpu
}  // namespace indexing_ops
}  // namespace brass
