// CUDA kernels of the shape and layout operators of matrix.cc, added to the ops registered
// there. Every layout op is one or a few strided copies (cuda/strided.cuh): transpose permutes
// the source strides, slices offset and scale them, reverse negates them, broadcast zeroes
// them, tile takes a modulo and repeat a division per axis; Concat, stack and SliceChannel copy
// each input or output in turn. The host planning (permutations, slice ranges, aligned shapes)
// is the CPU's, from op/tensor/matrix_params.h. clip and add_n are element-wise kernels with
// the CPU's compute types and roundings. The gradient ops (_backward_Concat, _backward_slice*)
// are strided copies too; _backward_tile and _backward_repeat sum each element's copies. As on
// the CPU, only kNull is special among the write requests: the others overwrite the output.
#include "cuda/cuda_common.cuh"  // first: its pragmas cover the whole unit

#include "cuda/strided.cuh"
#include "op/operator.h"
#include "op/tensor/elemwise_binary_functors.h"
#include "op/tensor/matrix_params.h"

namespace brass {
namespace matrix_ops {
namespace gpu {

using Blobs = std::vector<TBlob>;
using cuda::contiguous_view;
using cuda::Space;
using cuda::View;

// ---- strided-copy planning ----------------------------------------------------------------
// Drops extent-1 axes and merges neighbouring axes that both views walk as one (plain strides,
// the outer one the inner one times its extent): the same copy with fewer divisions per element.
void simplify(Space& sp, View& a, View& b) {
  Space o;
  View na, nb;
  na.base = a.base;
  nb.base = b.base;
  bool plain[kMaxNDim] = {};
  int m = 0;
  for (int d = 0; d < sp.nd; ++d) {
    int64_t e = sp.dim[d];
    if (e == 1) continue;
    bool p = a.div[d] == 1 && a.mod[d] == 0 && b.div[d] == 1 && b.mod[d] == 0;
    if (m > 0 && p && plain[m - 1] && na.stride[m - 1] == a.stride[d] * e &&
        nb.stride[m - 1] == b.stride[d] * e) {
      o.dim[m - 1] *= e;
      na.stride[m - 1] = a.stride[d];
      nb.stride[m - 1] = b.stride[d];
      continue;
    }
    o.dim[m] = e;
    na.stride[m] = a.stride[d], na.div[m] = a.div[d], na.mod[m] = a.mod[d];
    nb.stride[m] = b.stride[d], nb.div[m] = b.div[d], nb.mod[m] = b.mod[d];
    plain[m++] = p;
  }
  o.nd = m;
  sp = o;
  a = na;
  b = nb;
}

// out[to(idx)] = in[from(idx)] over sp, the elements of in's dtype; does not wait.
void copy(cudaStream_t s, const TBlob& in, const TBlob& out, Space sp, View from, View to) {
  simplify(sp, from, to);
  cuda::strided_copy(s, dtype_size(in.dtype), in.dptr, out.dptr, sp, from, to);
}

// Copies region r of in (begin + step * k per axis) to out, contiguous in the region's order.
void copy_region(cudaStream_t s, const TBlob& in, const TBlob& out,
                 const std::vector<SliceRange>& r) {
  Shape rs = ranges_shape(r);
  View from = contiguous_view(in.shape);
  for (int d = 0; d < in.shape.ndim(); ++d) {
    from.base += r[d].begin * from.stride[d];
    from.stride[d] *= r[d].step;
  }
  copy(s, in, out, cuda::make_space(rs), from, contiguous_view(rs));
}

// Concat (and stack, with each input seen with a size-1 axis there): input k lands in out at
// offset (sum of the earlier inputs' extents) along axis ax.
void concat(cudaStream_t s, const Blobs& in, const std::vector<Shape>& shapes, const TBlob& out,
            int ax) {
  View to = contiguous_view(out.shape);
  int64_t step = to.stride[ax], base = 0;
  for (size_t k = 0; k < in.size(); ++k) {
    to.base = base * step;
    copy(s, in[k], out, cuda::make_space(shapes[k]), contiguous_view(shapes[k]), to);
    base += shapes[k][ax];
  }
}

// ---- operators ----------------------------------------------------------------------------
// Reshape, Flatten, expand_dims, squeeze: the same bytes under another shape.
void copy_out(const OpContext& c, const Blobs& in, const Blobs& out) {
  size_t n = size_t(in[0].size()) * dtype_size(in[0].dtype);
  if (c.req[0] == Req::kNull || in[0].dptr == out[0].dptr || n == 0) return;
  cudaStream_t s = cuda::stream(c.dev.id);
  BRASS_CUDA_CALL(cudaMemcpyAsync(out[0].dptr, in[0].dptr, n, cudaMemcpyDeviceToDevice, s));
  cuda::finish(s);
}

// transpose and SwapAxis: output axis k walks input axis perm[k].
template <class P, std::vector<int> (*Perm)(const P&, int)>
void permute(const OpContext& c, const Blobs& in, const Blobs& out) {
  if (c.req[0] == Req::kNull) return;
  View from = cuda::permuted_view(in[0].shape, Perm(c.param<P>(), in[0].shape.ndim()));
  cudaStream_t s = cuda::stream(c.dev.id);
  copy(s, in[0], out[0], cuda::make_space(out[0].shape), from, contiguous_view(out[0].shape));
  cuda::finish(s);
}

void concat_op(const OpContext& c, const Blobs& in, const Blobs& out) {
  if (c.req[0] == Req::kNull) return;
  int ax = normalize_axis(c.param<ConcatParam>().dim, out[0].shape.ndim(), "Concat");
  std::vector<Shape> shapes;
  for (const TBlob& t : in) shapes.push_back(t.shape);
  cudaStream_t s = cuda::stream(c.dev.id);
  concat(s, in, shapes, out[0], ax);
  cuda::finish(s);
}

void stack(const OpContext& c, const Blobs& in, const Blobs& out) {
  if (c.req[0] == Req::kNull) return;
  int ax = normalize_axis(c.param<StackParam>().axis, out[0].shape.ndim(), "stack");
  std::vector<Shape> shapes;
  for (const TBlob& t : in) shapes.push_back(insert_axis(t.shape, ax));
  cudaStream_t s = cuda::stream(c.dev.id);
  concat(s, in, shapes, out[0], ax);
  cuda::finish(s);
}

void split(const OpContext& c, const Blobs& in, const Blobs& out) {
  const auto& p = c.param<SplitParam>();
  cudaStream_t s = cuda::stream(c.dev.id);
  for (int k = 0; k < p.num_outputs; ++k)
    if (c.req[k] != Req::kNull) copy_region(s, in[0], out[k], split_ranges(in[0].shape, p, k));
  cuda::finish(s);
}

// slice, slice_axis, slice_like: Ranges computes the region from the inputs and parameters.
template <std::vector<SliceRange> (*Ranges)(const OpContext&, const Blobs&)>
void slice_op(const OpContext& c, const Blobs& in, const Blobs& out) {
  if (c.req[0] == Req::kNull) return;
  std::vector<SliceRange> r = Ranges(c, in);
  cudaStream_t s = cuda::stream(c.dev.id);
  copy_region(s, in[0], out[0], r);
  cuda::finish(s);
}

std::vector<SliceRange> slice_of(const OpContext& c, const Blobs& in) {
  return slice_ranges(in[0].shape, c.param<SliceParam>());
}
std::vector<SliceRange> slice_axis_of(const OpContext& c, const Blobs& in) {
  return slice_axis_ranges(in[0].shape, c.param<SliceAxisParam>());
}
std::vector<SliceRange> slice_like_of(const OpContext& c, const Blobs& in) {
  return slice_like_ranges(in[0].shape, in[1].shape, c.param<SliceLikeParam>());
}

// tile: output index i on axis d reads the input (right-aligned) at i mod its extent.
void tile(const OpContext& c, const Blobs& in, const Blobs& out) {
  if (c.req[0] == Req::kNull || out[0].size() == 0) return;
  Shape a = align_right(in[0].shape, out[0].shape.ndim());
  View from = contiguous_view(a);
  for (int d = 0; d < a.ndim(); ++d) from.mod[d] = a[d];
  cudaStream_t s = cuda::stream(c.dev.id);
  copy(s, in[0], out[0], cuda::make_space(out[0].shape), from, contiguous_view(out[0].shape));
  cuda::finish(s);
}

// repeat: output index i on the axis reads the input at i / repeats (axis None: the input
// flattened).
void repeat(const OpContext& c, const Blobs& in, const Blobs& out) {
  if (c.req[0] == Req::kNull || out[0].size() == 0) return;
  const auto& p = c.param<RepeatParam>();
  Shape src = p.axis ? in[0].shape : Shape{in[0].size()};
  int ax = p.axis ? normalize_axis(*p.axis, in[0].shape.ndim(), "repeat") : 0;
  View from = contiguous_view(src);
  from.div[ax] = p.repeats;
  cudaStream_t s = cuda::stream(c.dev.id);
  copy(s, in[0], out[0], cuda::make_space(out[0].shape), from, contiguous_view(out[0].shape));
  cuda::finish(s);
}

// reverse: flipped axes start at their last element and walk backwards.
void reverse(const OpContext& c, const Blobs& in, const Blobs& out) {
  if (c.req[0] == Req::kNull) return;
  std::vector<char> rev = reversed_axes(c.param<ReverseParam>(), in[0].shape.ndim());
  if (in[0].dptr == out[0].dptr) fail(BRASS_ERR_INTERNAL, "reverse: in place");
  const Shape& sh = in[0].shape;
  View from = contiguous_view(sh);
  for (int d = 0; d < sh.ndim(); ++d) {
    if (!rev[d] || sh[d] == 0) continue;
    from.base += (sh[d] - 1) * from.stride[d];
    from.stride[d] = -from.stride[d];
  }
  cudaStream_t s = cuda::stream(c.dev.id);
  copy(s, in[0], out[0], cuda::make_space(out[0].shape), from, contiguous_view(out[0].shape));
  cuda::finish(s);
}

// broadcast_to and broadcast_like: the input (right-aligned) with stride 0 on its size-1 axes.
void broadcast(const OpContext& c, const Blobs& in, const Blobs& out) {
  if (c.req[0] == Req::kNull) return;
  Shape a = align_right(in[0].shape, out[0].shape.ndim());
  View from = contiguous_view(a);
  for (int d = 0; d < a.ndim(); ++d)
    if (a[d] == 1) from.stride[d] = 0;
  cudaStream_t s = cuda::stream(c.dev.id);
  copy(s, in[0], out[0], cuda::make_space(out[0].shape), from, contiguous_view(out[0].shape));
  cuda::finish(s);
}

// ---- gradient ops -------------------------------------------------------------------------
// _backward_Concat: output k is ograd's part [begin, begin + extent of x_k) along the axis.
void concat_grad(const OpContext& c, const Blobs& in, const Blobs& out) {
  const TBlob& g = in[0];
  int ax = normalize_axis(c.param<ConcatParam>().dim, g.shape.ndim(), "Concat");
  cudaStream_t s = cuda::stream(c.dev.id);
  int64_t begin = 0;
  for (size_t k = 0; k < out.size(); ++k) {
    int64_t len = in[k + 1].shape[ax];
    if (c.req[k] != Req::kNull)
      copy_region(s, g, out[k], concat_part_ranges(g.shape, ax, begin, len));
    begin += len;
  }
  cuda::finish(s);
}

// The slice gradients: zeros (all-zero bits are 0 in every dtype), then ograd scattered into
// the region r of the output (the inverse of copy_region).
template <std::vector<SliceRange> (*Ranges)(const NodeAttrs&, const Shape&, const Shape&)>
void slice_grad(const OpContext& c, const Blobs& in, const Blobs& out) {
  if (c.req[0] == Req::kNull) return;
  std::vector<SliceRange> r = Ranges(*c.attrs, in[0].shape, in[1].shape);
  size_t nbytes = size_t(out[0].size()) * dtype_size(out[0].dtype);
  if (nbytes == 0) return;
  cudaStream_t s = cuda::stream(c.dev.id);
  BRASS_CUDA_CALL(cudaMemsetAsync(out[0].dptr, 0, nbytes, s));
  Shape rs = ranges_shape(r);
  View to = contiguous_view(out[0].shape);
  for (int d = 0; d < out[0].shape.ndim(); ++d) {
    to.base += r[d].begin * to.stride[d];
    to.stride[d] *= r[d].step;
  }
  copy(s, in[0], out[0], cuda::make_space(rs), contiguous_view(rs), to);
  cuda::finish(s);
}

// _backward_tile / _backward_repeat: one thread per input element sums its copies in the
// CPU's compute type and order (row-major over the copies), so the results are the CPU's.
template <class T, class C>
struct BlockSum {
  const T* g;
  T* o;
  BlockSumPlan p;
  __device__ void operator()(int64_t i) const {
    const T* gi = g + block_base(p, i);
    C acc = C(0);
    for (int64_t k = 0; k < p.count; ++k)
      acc = C(acc + cuda::dev_convert<C>(gi[block_offset(p, k)]));
    o[i] = cuda::dev_convert<T>(acc);
  }
};

template <class P, BlockSumPlan (*Plan)(const Shape&, const Shape&, const P&)>
void block_sum(const OpContext& c, const Blobs& in, const Blobs& out) {
  int64_t n = out[0].size();
  if (c.req[0] == Req::kNull || n == 0) return;
  BlockSumPlan p = Plan(in[1].shape, in[0].shape, c.param<P>());
  cudaStream_t s = cuda::stream(c.dev.id);
  dispatch_dtype(out[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    using C = typename kernel::ComputeOf<T>::type;
    cuda::for_each(s, n, BlockSum<T, C>{in[0].ptr<T>(), out[0].ptr<T>(), p});
    return 0;
  });
  cuda::finish(s);
}

// ---- clip / add_n -------------------------------------------------------------------------
// Compute types as the CPU kernels (kernel::ComputeOf): one kernel per compute type C serves
// every dtype that computes in C.
using Compute = kernel::DefaultCompute;

template <class C>
struct Clip {
  const void* x;
  void* y;
  DType t;
  C lo, hi;
  __device__ void operator()(int64_t i) const {
    cuda::store<Compute, C>(y, i, t, clip_value(cuda::load<Compute, C>(x, i, t), lo, hi), false);
  }
};

void clip(const OpContext& c, const Blobs& in, const Blobs& out) {
  int64_t n = in[0].size();
  if (c.req[0] == Req::kNull || n == 0) return;
  cudaStream_t s = cuda::stream(c.dev.id);
  dispatch_dtype(in[0].dtype, [&](auto tag) {
    using C = typename kernel::ComputeOf<decltype(tag)>::type;
    const auto bounds = clip_bounds<C>(c.param<ClipParam>());
    const C lo = bounds.lo, hi = bounds.hi;
    cuda::for_each(s, n, Clip<C>{in[0].dptr, out[0].dptr, in[0].dtype, lo, hi});
    return 0;
  });
  cuda::finish(s);
}

// As the CPU kernel: out = in0 + in1, then out = out + in_k for k >= 2, each sum rounded to
// the dtype when stored, so every element sums in input order with the CPU's roundings (and
// the same result when out is one of the inputs).
template <class C>
struct AddN {
  const void* const* x;  // device array of the input pointers
  int k;
  void* y;
  DType t;
  __device__ void operator()(int64_t i) const {
    using Add = binary_ops::Add;
    C v = Add::map<C>(cuda::load<Add, C>(x[0], i, t), cuda::load<Add, C>(x[1], i, t));
    cuda::store<Add, C>(y, i, t, v, false);
    for (int j = 2; j < k; ++j) {
      v = Add::map<C>(cuda::load<Add, C>(y, i, t), cuda::load<Add, C>(x[j], i, t));
      cuda::store<Add, C>(y, i, t, v, false);
    }
  }
};

void add_n(const OpContext& c, const Blobs& in, const Blobs& out) {
  int64_t n = out[0].size();
  if (c.req[0] == Req::kNull || n == 0) return;
  cudaStream_t s = cuda::stream(c.dev.id);
  if (in.size() == 1) {
    if (in[0].dptr != out[0].dptr)
      BRASS_CUDA_CALL(cudaMemcpyAsync(out[0].dptr, in[0].dptr, size_t(n) * dtype_size(in[0].dtype),
                                      cudaMemcpyDeviceToDevice, s));
    cuda::finish(s);
    return;
  }
  std::vector<const void*> ptrs;
  for (const TBlob& t : in) ptrs.push_back(t.dptr);
  cuda::DeviceBuffer dptrs(ptrs.size() * sizeof(void*), c.dev.id);
  cuda::to_device(dptrs.get(), ptrs.data(), ptrs.size() * sizeof(void*), s);
  dispatch_dtype(out[0].dtype, [&](auto tag) {
    using C = typename binary_ops::Add::compute<decltype(tag)>::type;
    AddN<C> f{dptrs.get<const void*>(), int(in.size()), out[0].dptr, out[0].dtype};
    cuda::for_each(s, n, f);
    return 0;
  });
  cuda::finish(s);  // also keeps ptrs alive until the copy is done
}

const bool kRegistered = [] {
  auto& R = OpRegistry::get();
  R.add("transpose").cuda(permute<TransposeParam, transpose_perm>);
  R.add("SwapAxis").cuda(permute<SwapAxisParam, swap_perm>);
  for (const char* name : {"Reshape", "Flatten", "expand_dims", "squeeze"})
    R.add(name).cuda(copy_out);
  R.add("Concat").cuda(concat_op);
  R.add("stack").cuda(stack);
  R.add("SliceChannel").cuda(split);
  R.add("slice").cuda(slice_op<slice_of>);
  R.add("slice_axis").cuda(slice_op<slice_axis_of>);
  R.add("slice_like").cuda(slice_op<slice_like_of>);
  R.add("tile").cuda(tile);
  R.add("repeat").cuda(repeat);
  R.add("reverse").cuda(reverse);
  R.add("broadcast_to").cuda(broadcast);
  R.add("broadcast_like").cuda(broadcast);
  R.add("clip").cuda(clip);
  R.add("add_n").cuda(add_n);
  R.add("reshape_like").cuda(copy_out);
  R.add("_backward_Concat").cuda(concat_grad);
  R.add("_backward_slice").cuda(slice_grad<slice_grad_ranges>);
  R.add("_backward_slice_axis").cuda(slice_grad<slice_axis_grad_ranges>);
  R.add("_backward_slice_like").cuda(slice_grad<slice_like_grad_ranges>);
  R.add("_backward_tile").cuda(block_sum<TileParam, tile_grad_plan>);
  R.add("_backward_repeat").cuda(block_sum<RepeatParam, repeat_grad_plan>);
  return true;
}();

}  // namespace gpu
}  // namespace matrix_ops
}  // namespace brass
