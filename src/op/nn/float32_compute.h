// float16 and bfloat16 for kernels written for float32 and float64 (Convolution,
// Deconvolution, FullyConnected, BatchNorm): the small-type inputs are widened into float32
// scratch, the kernel runs in float32, and its outputs (and any inputs it updates in place,
// such as BatchNorm's moving statistics) are narrowed back, honouring the write requests. One
// template for both devices: the CPU files and the CUDA files give it their scratch buffer
// and their conversion.
#pragma once

#include <memory>
#include <vector>

#include "base/dtype.h"
#include "ndarray/ndarray.h"
#include "op/operator.h"

namespace brass {
namespace nn_dtype {

inline bool is_small_float(DType t) { return t == DType::kFloat16 || t == DType::kBFloat16; }

// Bytes per element of the type a kernel computes in for storage type t (the temp space of a
// kernel run through run_in_float32 is sized with this).
inline size_t compute_size(DType t) { return is_small_float(t) ? sizeof(float) : dtype_size(t); }

// Runs fn on ctx/in/out with the small-float arrays replaced by float32 copies. Buffer(bytes,
// dev) owns scratch on the device (ptr() gives it); cast(src, dst, add) converts between
// float32 and the small type on the device (dst = src, or dst += src).
template <class Buffer, class Cast>
void run_in_float32(const ComputeFn& fn, const OpContext& ctx, const std::vector<TBlob>& in,
                    const std::vector<TBlob>& out, Cast&& cast) {
  std::vector<std::unique_ptr<Buffer>> keep;
  auto widened = [&](const TBlob& b) {
    keep.emplace_back(new Buffer(size_t(b.size() > 0 ? b.size() : 1) * sizeof(float), b.dev.id));
    return TBlob(keep.back()->ptr(), b.shape, DType::kFloat32, b.dev);
  };
  std::vector<TBlob> in32(in), out32(out);
  for (size_t i = 0; i < in.size(); ++i) {
    if (!is_small_float(in[i].dtype)) continue;
    in32[i] = widened(in[i]);
    cast(in[i], in32[i], false);
  }
  OpContext c32 = ctx;
  c32.versions = nullptr;  // the widened copies are new memory each call
  for (size_t k = 0; k < out.size(); ++k) {
    if (!is_small_float(out[k].dtype)) continue;
    out32[k] = widened(out[k]);
    if (c32.req[k] != Req::kNull) c32.req[k] = Req::kWrite;  // added or stored below
  }
  fn(c32, in32, out32);
  for (size_t k = 0; k < out.size(); ++k)
    if (is_small_float(out[k].dtype) && ctx.req[k] != Req::kNull)
      cast(out32[k], out[k], ctx.req[k] == Req::kAdd);
  if (ctx.attrs)
    for (int i : ctx.attrs->op->written_inputs(*ctx.attrs, ctx.is_train))
      if (size_t(i) < in.size() && is_small_float(in[i].dtype)) cast(in32[i], in[i], false);
}

// fn itself for float32 and float64 arrays; run_in_float32 when any array is small.
template <class Buffer, class Cast>
ComputeFn with_small_floats(ComputeFn fn, Cast cast) {
  return [fn, cast](const OpContext& ctx, const std::vector<TBlob>& in,
                    const std::vector<TBlob>& out) {
    bool small = false;
    for (const auto& b : in) small = small || is_small_float(b.dtype);
    for (const auto& b : out) small = small || is_small_float(b.dtype);
    if (small) run_in_float32<Buffer>(fn, ctx, in, out, cast);
    else fn(ctx, in, out);
  };
}

// The host's scratch and conversion.
struct HostBuffer {
  std::unique_ptr<float[]> p;
  HostBuffer(size_t bytes, int) : p(new float[bytes / sizeof(float)]) {}
  void* ptr() const { return p.get(); }
};

// Calls f(T()) for float32, float16 or bfloat16.
template <class F>
void small_float_dispatch(DType t, F&& f) {
  if (t == DType::kFloat16) f(half_t());
  else if (t == DType::kBFloat16) f(bf16_t());
  else f(float());
}

inline void host_cast(const TBlob& src, const TBlob& dst, bool add) {
  small_float_dispatch(src.dtype, [&](auto s) {
    small_float_dispatch(dst.dtype, [&](auto d) {
      using S = decltype(s);
      using D = decltype(d);
      const S* a = src.ptr<S>();
      D* b = dst.ptr<D>();
      for (int64_t i = 0; i < src.size(); ++i)
        b[i] = add ? convert<D>(convert<float>(b[i]) + convert<float>(a[i])) : convert<D>(a[i]);
    });
  });
}

inline ComputeFn cpu_small_floats(ComputeFn fn) {
  return with_small_floats<HostBuffer>(std::move(fn), host_cast);
}

}  // namespace nn_dtype
}  // namespace brass
