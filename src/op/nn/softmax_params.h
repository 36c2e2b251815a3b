// Parameters and row math of softmax, log_softmax and SoftmaxOutput (softmax.cc), shared by
// the CPU kernels and the CUDA kernels (cuda/nn_dense.cu). A softmax runs along one axis of
// the data viewed as (outer, len, inner): row (o, i) holds the len elements o*len*inner + k*inner
// + i. The row functions are BRASS_XINLINE so both devices run the same arithmetic.
#pragma once

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>

#include "base/xinline.h"
#include "ndarray/ndarray.h"
#include "op/operator.h"

namespace brass {
namespace softmax_ops {

struct SoftmaxParam {
  int axis;
  std::optional<double> temperature;
  std::optional<DType> dtype;
  bool use_length;
  static void declare(ParamSpec<SoftmaxParam>& s) {
    s.field("axis", &SoftmaxParam::axis).set_default(-1).describe("The axis to normalize along.");
    s.field("temperature", &SoftmaxParam::temperature).set_default(std::nullopt)
        .describe("Divides the data first (None: 1).");
    s.field("dtype", &SoftmaxParam::dtype).set_default(std::nullopt)
        .describe("Output dtype: float16, float32 or float64 (None: the data's).");
    s.field("use_length", &SoftmaxParam::use_length).set_default(false)
        .describe("Whether a length input (the data's shape without the axis; int32, int64, "
                  "float32 or float64) limits each row: elements past a row's length output 0 "
                  "and get no gradient.");
  }
};

struct SoftmaxActivationParam {
  std::string mode;
  static void declare(ParamSpec<SoftmaxActivationParam>& s) {
    s.field("mode", &SoftmaxActivationParam::mode).set_default("instance")
        .set_choices({"channel", "instance"})
        .describe("instance: softmax over all axes but the first; channel: over axis 1.");
  }
};

struct SoftmaxOutputParam {
  double grad_scale, ignore_label;
  bool multi_output, use_ignore, preserve_shape;
  std::string normalization;
  bool out_grad;
  double smooth_alpha;
  static void declare(ParamSpec<SoftmaxOutputParam>& s) {
    s.field("grad_scale", &SoftmaxOutputParam::grad_scale).set_default(1.0)
        .describe("Scales the gradient.");
    s.field("ignore_label", &SoftmaxOutputParam::ignore_label).set_default(-1.0)
        .describe("Rows with this label get no gradient (with use_ignore=True).");
    s.field("multi_output", &SoftmaxOutputParam::multi_output).set_default(false)
        .describe("Softmax along axis 1 of (n, k, ...) data, one label per (n, ...) position.");
    s.field("use_ignore", &SoftmaxOutputParam::use_ignore).set_default(false)
        .describe("Whether rows labelled ignore_label are left out of the gradient.");
    s.field("preserve_shape", &SoftmaxOutputParam::preserve_shape).set_default(false)
        .describe("Softmax along the last axis (else along all axes but the first).");
    s.field("normalization", &SoftmaxOutputParam::normalization).set_default("null")
        .set_choices({"batch", "null", "valid"})
        .describe("Divides the gradient by the batch size (batch), the number of labels that "
                  "are not ignore_label (valid), or nothing (null).");
    s.field("out_grad", &SoftmaxOutputParam::out_grad).set_default(false)
        .describe("Whether the gradient is multiplied by the output gradient (else it is "
                  "ignored: the layer is a loss).");
    s.field("smooth_alpha", &SoftmaxOutputParam::smooth_alpha).set_default(0.0)
        .describe("Label smoothing: the target is 1 - alpha for the label and alpha / (k - 1) "
                  "for the other classes.");
  }
};

inline double temperature(const SoftmaxParam& p) { return p.temperature ? *p.temperature : 1.0; }

// softmin(x) with temperature t is softmax(x) with temperature -t, gradients included: the
// op's effective temperature.
inline double op_temperature(const NodeAttrs& a) {
  double t = temperature(a.param<SoftmaxParam>());
  return a.op->name == "softmin" ? -t : t;
}

// The data seen as (outer, len, inner) rows along one axis.
struct Rows {
  int64_t outer, len, inner;
  int64_t count() const { return outer * inner; }
};

// Rows along `axis` of shape s (softmax, log_softmax); fails naming op for a bad axis.
inline Rows rows_along(const Shape& s, int axis, const char* op) {
  if (s.ndim() == 0) return Rows{1, 1, 1};
  int a = normalize_axis(axis, s.ndim(), op);
  Rows r{1, s[a], 1};
  for (int i = 0; i < a; ++i) r.outer *= s[i];
  for (int i = a + 1; i < s.ndim(); ++i) r.inner *= s[i];
  return r;
}

// SoftmaxActivation's rows: everything after the first axis (instance), or axis 1 (channel).
inline Rows activation_rows(const Shape& s, const std::string& mode) {
  const char* op = "SoftmaxActivation";
  if (s.ndim() < (mode == "channel" ? 2 : 1))
    fail(BRASS_ERR_SHAPE, op, ": mode '", mode, "' needs data with at least ",
         mode == "channel" ? 2 : 1, " axes, got ", s);
  if (mode == "channel") return rows_along(s, 1, op);
  Rows r{s[0], 1, 1};
  for (int i = 1; i < s.ndim(); ++i) r.len *= s[i];
  return r;
}

// SoftmaxOutput's rows: axis 1 of (n, k, rest) with multi_output, the last axis with
// preserve_shape, else everything after the first axis.
inline Rows output_rows(const Shape& s, const SoftmaxOutputParam& p) {
  if (s.ndim() == 0) return Rows{1, 1, 1};
  if (p.multi_output) {
    if (s.ndim() < 2)
      fail(BRASS_ERR_SHAPE, "SoftmaxOutput: multi_output needs data with at least 2 axes, got ", s);
    return rows_along(s, 1, "SoftmaxOutput");
  }
  if (p.preserve_shape) return rows_along(s, -1, "SoftmaxOutput");
  Rows r{s[0], 1, 1};
  for (int i = 1; i < s.ndim(); ++i) r.len *= s[i];
  return r;
}

// Conversions between storage types and the compute type A (float or double), the same on
// both devices: float16 and bfloat16 go through float, as brass::convert does.
template <class T>
constexpr bool kHalf = !std::is_same<T, float>::value && !std::is_same<T, double>::value;
template <class A, class T>
BRASS_XINLINE A ld(T v) {
  if constexpr (kHalf<T>) return A(static_cast<float>(v));
  else return A(v);
}
template <class T, class A>
BRASS_XINLINE T st(A v) {
  if constexpr (kHalf<T>) return T(static_cast<float>(v));
  else return T(v);
}
template <class T, class A>
BRASS_XINLINE void put(T* p, A v, bool add) {
  *p = add ? st<T>(A(ld<A>(*p) + v)) : st<T>(v);
}

// One softmax (or log_softmax) row of v = x / t: y = exp(v - max v) / sum, or v - max v -
// log(sum). Scaling first keeps a negative t (softmin) as stable as a positive one.
template <class A, class TI, class TO>
BRASS_XINLINE void softmax_row(const TI* x, TO* y, int64_t len, int64_t stride, A t, bool log,
                               bool add) {
  if (len <= 0) return;
  A m = ld<A>(x[0]) / t;
  for (int64_t k = 1; k < len; ++k) {
    A v = ld<A>(x[k * stride]) / t;
    m = v > m ? v : m;
  }
  A sum = A(0);
  for (int64_t k = 0; k < len; ++k) sum += std::exp(ld<A>(x[k * stride]) / t - m);
  if (log) {
    A ls = std::log(sum);
    for (int64_t k = 0; k < len; ++k) put(y + k * stride, A(ld<A>(x[k * stride]) / t - m - ls), add);
  } else {
    for (int64_t k = 0; k < len; ++k)
      put(y + k * stride, A(std::exp(ld<A>(x[k * stride]) / t - m) / sum), add);
  }
}

// The lengths of use_length: int32, int64, float32 or float64, read at run time (one read
// per row, so no kernel is compiled once per length type).
struct Lengths {
  const void* p = nullptr;  // null: every row is whole
  int code = 0;             // 0 int32, 1 int64, 2 float32, 3 float64
};

inline Lengths lengths_of(const TBlob* b, const char* op) {
  Lengths l;
  if (!b) return l;
  l.p = b->dptr;
  switch (b->dtype) {
    case DType::kInt32: l.code = 0; return l;
    case DType::kInt64: l.code = 1; return l;
    case DType::kFloat32: l.code = 2; return l;
    case DType::kFloat64: l.code = 3; return l;
    default: break;
  }
  fail(BRASS_ERR_DTYPE, op, ": length must be int32, int64, float32 or float64, got ",
       dtype_name(b->dtype));
}

// A row's valid length: its length value clipped to [0, len] (len without lengths).
BRASS_XINLINE int64_t row_length(const Lengths& l, int64_t row, int64_t len) {
  if (!l.p) return len;
  double v = l.code == 0 ? double(static_cast<const int32_t*>(l.p)[row])
           : l.code == 1 ? double(static_cast<const int64_t*>(l.p)[row])
           : l.code == 2 ? double(static_cast<const float*>(l.p)[row])
                         : static_cast<const double*>(l.p)[row];
  return !(v > 0) ? 0 : v >= double(len) ? len : int64_t(v);
}

// Zeroes (or adds nothing to) the elements of a row past its valid length.
template <class A, class TO>
BRASS_XINLINE void zero_tail(TO* y, int64_t valid, int64_t len, int64_t stride, bool add) {
  for (int64_t k = valid; k < len; ++k) put(y + k * stride, A(0), add);
}

// The gradient of one row for the output gradient g and the output y: y (g - sum(g y)) / t for
// softmax, (g - exp(y) sum(g)) / t for log_softmax.
template <class A, class T>
BRASS_XINLINE void softmax_grad_row(const T* g, const T* y, T* dx, int64_t len, int64_t stride,
                                    A t, bool log, bool add) {
  A s = A(0);
  for (int64_t k = 0; k < len; ++k)
    s += log ? ld<A>(g[k * stride]) : A(ld<A>(g[k * stride]) * ld<A>(y[k * stride]));
  for (int64_t k = 0; k < len; ++k) {
    A gk = ld<A>(g[k * stride]), yk = ld<A>(y[k * stride]);
    put(dx + k * stride, A((log ? gk - std::exp(yk) * s : yk * (gk - s)) / t), add);
  }
}

// What SoftmaxOutput's gradient needs besides the arrays (computed on the host).
struct OutputGrad {
  bool prob;          // the label has the data's shape: a distribution per row
  bool use_ignore, out_grad;
  int ignore;         // ignore_label as the integer labels are compared with
  double on, off;     // subtracted from the output at the label's class, and elsewhere
  double scale;       // grad_scale over the normalization
};

// The scalars of SoftmaxOutput's gradient for data and label shapes; `valid` is the number of
// labels that are not ignore_label (read for normalization='valid'). Defined in softmax.cc.
OutputGrad output_grad_plan(const SoftmaxOutputParam& p, const Shape& data, const Shape& label,
                            int64_t valid);

// One row of SoftmaxOutput's gradient (not a derivative: MXNet's formula), for label value
// `label` (class labels) or the label row `lrow` (prob): (out - target) * scale [* og].
template <class A, class T, class L>
BRASS_XINLINE void output_grad_row(const T* og, const T* out, const L* lrow, double label,
                                   T* dx, int64_t len, int64_t stride, const OutputGrad& q,
                                   bool add) {
  int l = int(label);
  bool skip = !q.prob && q.use_ignore && l == q.ignore;
  for (int64_t k = 0; k < len; ++k) {
    A v = A(0);
    if (!skip) {
      A target = q.prob ? ld<A>(lrow[k * stride]) : A(k == l ? q.on : q.off);
      v = A(A(ld<A>(out[k * stride]) - target) * A(q.scale));
      if (q.out_grad) v = A(v * ld<A>(og[k * stride]));
    }
    put(dx + k * stride, v, add);
  }
}

}  // namespace softmax_ops
}  // namespace brass
