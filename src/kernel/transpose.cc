// Axis permutation: merges axes that stay adjacent, then walks the output in order with the
// source strides; the innermost loop runs over the last output axis.
#include "kernel/transpose.h"

#include <cstring>

#include "engine/thread_pool.h"

namespace brass {
namespace kernel {

void transpose(const TBlob& in, const TBlob& out, const std::vector<int>& axes) {
  int nd = in.shape.ndim();
  int64_t n = in.size();
  if (n == 0) return;
  // Source strides in elements.
  std::vector<int64_t> sstride(nd, 1);
  for (int d = nd - 2; d >= 0; --d) sstride[d] = sstride[d + 1] * in.shape[d + 1];
  // Output dims with their source strides, merging runs that are contiguous in the source.
  std::vector<int64_t> dims, strides;
  for (int k = 0; k < nd; ++k) {
    int64_t e = in.shape[axes[k]], st = sstride[axes[k]];
    if (e == 1) continue;
    if (!dims.empty() && strides.back() == st * e) {
      dims.back() *= e;
      strides.back() = st;
    } else {
      dims.push_back(e);
      strides.push_back(st);
    }
  }
  size_t es = dtype_size(in.dtype);
  if (dims.empty() || (dims.size() == 1 && strides[0] == 1)) {
    std::memcpy(out.dptr, in.dptr, size_t(n) * es);
    return;
  }
  int m = int(dims.size());
  int64_t inner = dims[m - 1], istride = strides[m - 1];
  int64_t outer = n / inner;
  auto run = [&](auto tag) {
    using T = decltype(tag);
    const T* src = static_cast<const T*>(in.dptr);
    T* dst = static_cast<T*>(out.dptr);
    thread_pool::parallel_for(outer, std::max<int64_t>(1, 16384 / inner), [&](int64_t ob, int64_t oe) {
      std::vector<int64_t> idx(m, 0);
      int64_t r = ob, off = 0;
      for (int d = m - 2; d >= 0; --d) {
        idx[d] = r % dims[d];
        r /= dims[d];
        off += idx[d] * strides[d];
      }
      for (int64_t o = ob; o < oe; ++o) {
        T* d0 = dst + o * inner;
        const T* s0 = src + off;
        for (int64_t i = 0; i < inner; ++i) d0[i] = s0[i * istride];
        for (int d = m - 2; d >= 0; --d) {
          off += strides[d];
          if (++idx[d] < dims[d]) break;
          off -= strides[d] * dims[d];
          idx[d] = 0;
        }
      }
    });
  };
  switch (es) {
    case 1: run(uint8_t()); break;
    case 2: run(uint16_t()); break;
    case 4: run(uint32_t()); break;
    default: run(uint64_t()); break;
  }
}

}  // namespace kernel
}  // namespace brass
