// Parameters of Dropout (dropout.cc), its mask shape and the draw of the mask, shared by the
// CPU kernel and the CUDA kernel (cuda/nn_dense.cu): element j of the mask is kept when value
// j % 4 of Philox block (stream, j / 4) is below 1 - p, on every device, so a GPU draws the
// CPU's mask for the same seed.
#pragma once

#include <cstdint>
#include <string>

#include "base/xinline.h"
#include "op/operator.h"
#include "random/random.h"

namespace brass {
namespace dropout_ops {

struct DropoutParam {
  double p;
  std::string mode;
  Tuple axes;
  bool cudnn_off;
  static void declare(ParamSpec<DropoutParam>& s) {
    s.field("p", &DropoutParam::p).set_default(0.5).set_range(0, 1)
        .describe("Fraction of the input that gets dropped out during training.");
    s.field("mode", &DropoutParam::mode).set_default("training")
        .set_choices({"training", "always"})
        .describe("training: dropout only in training mode (identity at inference); always: "
                  "at inference too.");
    s.field("axes", &DropoutParam::axes).set_default(Tuple{})
        .describe("Axes along which the mask is shared (one draw broadcast over them).");
    s.field("cudnn_off", &DropoutParam::cudnn_off).set_default(false)
        .describe("Ignored (MXNet: do not use cuDNN).");
  }
};

// The mask's shape: the data's, with extent 1 on the shared axes (checked against the data).
inline Shape mask_shape(const Shape& data, const Tuple& axes) {
  Shape m = data;
  for (int64_t a : axes) m[normalize_axis(a, data.ndim(), "Dropout")] = 1;
  return m;
}

// Whether dropout applies to this call: in training, or always with mode='always'.
inline bool active(const DropoutParam& p, bool is_train) { return is_train || p.mode == "always"; }

// Writes mask values 4b .. min(4b + 4, n) - 1 of an invocation's mask: `scale` (1 / (1 - p),
// converted to the mask's type by the caller) where kept, `zero` where dropped.
template <class T>
BRASS_XINLINE void mask_block(const RandomStream& rs, int64_t b, int64_t n, double keep, T scale,
                              T zero, T* mask) {
  uint32_t w[4];
  random::Philox::block(rs.seed, rs.stream, uint64_t(b), w);
  for (int k = 0; k < 4 && b * 4 + k < n; ++k)
    mask[b * 4 + k] = double(random::u01f(w[k])) < keep ? scale : zero;
}

// The strides of the mask in the data's index space (0 along shared axes), for broadcasting.
struct MaskView {
  int nd = 0;
  int64_t dims[kMaxNDim];     // the data's extents
  int64_t strides[kMaxNDim];  // the mask's strides, 0 where the mask is shared
  bool shared = false;        // some axis is shared
};

inline MaskView mask_view(const Shape& data, const Shape& mask) {
  MaskView v;
  v.nd = data.ndim();
  int64_t s = 1;
  for (int i = v.nd - 1; i >= 0; --i) {
    v.dims[i] = data[i];
    v.strides[i] = mask[i] == 1 && data[i] != 1 ? 0 : s;
    v.shared = v.shared || v.strides[i] == 0;
    s *= mask[i];
  }
  return v;
}

// The mask element of data element i.
BRASS_XINLINE int64_t mask_index(const MaskView& v, int64_t i) {
  if (!v.shared) return i;
  int64_t m = 0;
  for (int d = v.nd - 1; d >= 0; --d) {
    m += (i % v.dims[d]) * v.strides[d];
    i /= v.dims[d];
  }
  return m;
}

}  // namespace dropout_ops
}  // namespace brass
