// Strided copies on the device: the one kernel behind the layout operators (transpose, slices,
// tile, repeat, reverse, broadcast_to, Concat, stack, split, diag, slice assignment). Both
// sides are affine views over one index space, so every such op is a choice of strides.
#pragma once

#include <vector>

#include "base/shape.h"
#include "cuda/cuda_common.cuh"

namespace brass {
namespace cuda {

// Where element idx (a multi-index over the copy's index space) lives in an array:
// base + sum_d ((idx_d / div_d) % mod_d) * stride_d elements; mod_d == 0 means no modulo.
// Strides may be 0 (broadcast) or negative (reverse); div/mod express repeat and tile.
struct View {
  int64_t base = 0;
  int64_t stride[kMaxNDim] = {};
  int64_t div[kMaxNDim] = {};
  int64_t mod[kMaxNDim] = {};
};

struct Space {  // the index space: nd extents, row-major
  int nd = 0;
  int64_t dim[kMaxNDim] = {};
};

// A view with plain strides (div 1, no modulo).
inline View make_view(int nd, const int64_t* stride, int64_t base = 0) {
  View v;
  v.base = base;
  for (int d = 0; d < nd; ++d) {
    v.stride[d] = stride[d];
    v.div[d] = 1;
    v.mod[d] = 0;
  }
  return v;
}

// Row-major element strides of a shape.
inline void contiguous_strides(const Shape& s, int64_t* st) {
  int64_t acc = 1;
  for (int d = s.ndim() - 1; d >= 0; --d) {
    st[d] = acc;
    acc *= s[d];
  }
}

inline Space make_space(const Shape& s) {
  Space sp;
  sp.nd = s.ndim();
  for (int d = 0; d < sp.nd; ++d) sp.dim[d] = s[d];
  return sp;
}

// The row-major view of an array of shape s, starting at element base.
inline View contiguous_view(const Shape& s, int64_t base = 0) {
  int64_t st[kMaxNDim];
  contiguous_strides(s, st);
  return make_view(s.ndim(), st, base);
}

// A transpose: the view of a row-major array of shape s in which axis k of the copy's index
// space walks axis perm[k] of the array.
inline View permuted_view(const Shape& s, const std::vector<int>& perm) {
  View a = contiguous_view(s), v = a;
  for (size_t k = 0; k < perm.size(); ++k) v.stride[k] = a.stride[perm[k]];
  return v;
}

template <class T>
struct StridedCopy {
  const T* src;
  T* dst;
  Space sp;
  View from, to;
  __device__ void operator()(int64_t i) const {
    int64_t a = from.base, b = to.base, rem = i;
    for (int d = sp.nd - 1; d >= 0; --d) {
      int64_t q = rem / sp.dim[d], k = rem - q * sp.dim[d];
      rem = q;
      int64_t ka = k / from.div[d], kb = k / to.div[d];
      if (from.mod[d]) ka %= from.mod[d];
      if (to.mod[d]) kb %= to.mod[d];
      a += ka * from.stride[d];
      b += kb * to.stride[d];
    }
    dst[b] = src[a];
  }
};

// dst[to(idx)] = src[from(idx)] for every idx in sp, elements of elem_size bytes (1, 2, 4, 8;
// the bits are copied, so one kernel per size serves every dtype). Several indices may write
// one destination only when they read the same value. Does not wait for the stream.
inline void strided_copy(cudaStream_t s, size_t elem_size, const void* src, void* dst,
                         const Space& sp, const View& from, const View& to) {
  int64_t n = 1;
  for (int d = 0; d < sp.nd; ++d) n *= sp.dim[d];
  if (n == 0) return;
  auto run = [&](auto tag) {
    using T = decltype(tag);
    for_each(s, n, StridedCopy<T>{static_cast<const T*>(src), static_cast<T*>(dst), sp, from, to});
  };
  switch (elem_size) {
    case 1: run(uint8_t()); break;
    case 2: run(uint16_t()); break;
    case 4: run(uint32_t()); break;
    case 8: run(uint64_t()); break;
    default: fail(BRASS_ERR_INTERNAL, "strided_copy: element size ", elem_size);
  }
}

}  // namespace cuda
}  // namespace brass
