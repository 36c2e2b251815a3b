// N-d axis permutation copy: out[i_0..i_n] = in[i_axes[0]..]. Used by transpose, SwapAxis and
// by reductions over scattered axes.
#pragma once

#include <vector>

#include "ndarray/ndarray.h"

namespace brass {
namespace kernel {
// out.shape[k] == in.shape[axes[k]]; same dtype.
void transpose(const TBlob& in, const TBlob& out, const std::vector<int>& axes);
}  // namespace kernel
}  // namespace brass
