// Per-row work on a product's output while it is in cache: a convolution's bias, BatchNorm on
// its moving statistics, a residual and relu or clip (graph/fuse.cc fuses Convolution ->
// BatchNorm [-> elemwise_add] [-> relu or clip] for inference). Row r (filter r) becomes,
// with each part only where its pointer is set (mean, scale and shift come together):
//   v = v + bias[r];  v = (v - mean[r]) * scale[r] + shift[r];  v = v + residual element;
//   relu: v = (v > 0 or v is NaN) ? v : +0;  clip: t = lo > v ? lo : v; v = v > hi ? hi : t
// Each step is the unfused op's own arithmetic, in the same order, so the bits are the same
// wherever it runs: the GEMM micro-kernels' registers (gemm_microkernel.inc), the strip pass
// and the depthwise planes (op/nn/convolution.cc).
#pragma once

#include <cstdint>

namespace brass {
namespace kernel {

enum class EpiAct { kNone, kRelu, kClip };

template <class T>
struct RowEpilogue {
  const T* bias = nullptr;
  const T *mean = nullptr, *scale = nullptr, *shift = nullptr;
  EpiAct act = EpiAct::kNone;
  T lo = T(0), hi = T(0);
  // The filters are the columns of C (a channels-last output) rather than its rows: column j
  // takes bias[j], mean[j]... (the GEMM then passes the micro-kernels the tile's first column
  // where it passes the first row).
  bool columns = false;
  // A residual added before the activation: the element of `residual` at the output
  // element's offset from `residual_of` (the output's first element). The strip pass alone
  // applies it: the micro-kernels are not given an epilogue that has one.
  const T* residual = nullptr;
  const T* residual_of = nullptr;

  // The same work for rows from f0 on.
  RowEpilogue from_row(int64_t f0) const {
    RowEpilogue r = *this;
    if (r.bias) r.bias += f0;
    if (r.scale) {
      r.mean += f0;
      r.scale += f0;
      r.shift += f0;
    }
    return r;
  }
};

}  // namespace kernel
}  // namespace brass
