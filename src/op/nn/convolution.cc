// Convolution (MXNet 1.x: 1-D NCW, 2-D NCHW and 3-D NCDHW, groups, dilation) as im2col + GEMM
// per sample and group, and its gradient ops _backward_Convolution_data (GEMM + col2im) and
// _backward_Convolution_weight (im2col + GEMM); Deconvolution (the transposed convolution) on
// the same three kernels with the roles swapped, and its gradient ops. Parameters and the
// geometry are in conv_params.h, shared with the CUDA kernels (cuda/nn_conv.cu).
#include <algorithm>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "engine/thread_pool.h"
#include "kernel/cpu_features.h"
#include "kernel/gemm.h"
#include "op/grad.h"
#include "op/nn/conv_params.h"
#include "op/nn/conv_winograd.h"
#include "op/nn/float32_compute.h"
#include "op/operator.h"
#include "op/tensor/dot_params.h"
#include "op/tensor/elemwise_unary_functors.h"
#include "op/tensor/matrix_params.h"

namespace brass {
namespace conv_ops {

bool conv_float_type(const NodeAttrs& a, std::vector<int>& in, std::vector<int>& out) {
  bool ok = infer::same_type(a, in, out);
  if (ok && !is_float(DType(out[0])))
    fail(BRASS_ERR_DTYPE, a.op->name, ": only floating-point data is supported, got ",
         dtype_name(DType(out[0])));
  return ok;
}

// The geometry of a node's call for the given data shape: its convolution, or for a
// Deconvolution (D) the convolution it transposes.
template <bool D>
ConvGeom node_geom(const NodeAttrs& a, const Shape& data, const char* op) {
  if constexpr (D) return deconv_geom(a.param<DeconvParam>(), data, op);
  else return conv_geom(a.param<ConvParam>(), data, op);
}

// The op's data, weight, output and bias shapes in its own terms.
struct OpShapes {
  Shape data, weight, out, bias;
};
template <bool D>
OpShapes op_shapes(const ConvGeom& g) {
  if constexpr (D) return {conv_out_shape(g), conv_weight_shape(g), conv_data_shape(g), Shape{g.c}};
  else return {conv_data_shape(g), conv_weight_shape(g), conv_out_shape(g), Shape{g.f}};
}

template <bool D>
bool no_bias(const NodeAttrs& a) {
  if constexpr (D) return a.param<DeconvParam>().no_bias;
  else return a.param<ConvParam>().no_bias;
}

// Inputs: data, weight[, bias]. Fills the weight and bias shapes from data and the params.
template <bool D>
bool fwd_shape(const NodeAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
  const char* op = attrs.op->name.c_str();
  if (!in[0].known()) return false;
  OpShapes s = op_shapes<D>(node_geom<D>(attrs, in[0], op));
  infer::assign_shape(in[1], s.weight, op, "weight");
  if (!no_bias<D>(attrs)) infer::assign_shape(in[2], s.bias, op, "bias");
  infer::assign_shape(out[0], s.out, op, "output");
  return true;
}

// _backward_*_data(out_grad, weight, data): the gradient of data (data gives its shape only).
template <bool D>
bool bwd_data_shape(const NodeAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
  const char* op = attrs.op->name.c_str();
  if (!in[2].known()) return false;
  OpShapes s = op_shapes<D>(node_geom<D>(attrs, in[2], op));
  infer::assign_shape(in[0], s.out, op, "out_grad");
  infer::assign_shape(in[1], s.weight, op, "weight");
  infer::assign_shape(out[0], in[2], op, "output");
  return true;
}

// _backward_*_weight(out_grad, data): the gradient of the weight.
template <bool D>
bool bwd_weight_shape(const NodeAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
  const char* op = attrs.op->name.c_str();
  if (!in[1].known()) return false;
  OpShapes s = op_shapes<D>(node_geom<D>(attrs, in[1], op));
  infer::assign_shape(in[0], s.out, op, "out_grad");
  infer::assign_shape(out[0], s.weight, op, "output");
  return true;
}

// Temp space (`data`: the input that carries the data shape). The kernels an op runs: conv_fwd_impl, conv_bwd_data_impl or conv_bwd_weight_impl.
enum class ConvKernel { kForward, kData, kWeight };

// The im2col scratch a kernel uses: a convolution's forward (conv_fwd_impl, also
// Deconvolution's data gradient) packs the GEMM's panels straight from the data on the CPU and
// needs none, nor does a data gradient that runs directly (depthwise) or by Winograd (float32
// storage or compute); the other gradient kernels, and every CUDA kernel, need one sample's
// matrix.
inline int64_t col_elems(const ConvGeom& g, ConvKernel k, DType t, bool gpu) {
  if (gpu) return conv_col_elems(g);
  ConvGeom a;
  if (k == ConvKernel::kForward ||
      (k == ConvKernel::kData && (conv_is_depthwise(g) || (t != DType::kFloat64 && winograd_fits_adjoint(g, &a)))))
    return 0;
  return conv_col_elems(g);
}

// Channels-last calls also get room for channels-first copies of their two array operands
// and their output, after the im2col matrix (channels_first).
template <bool D>
TempFn col_temp(int data, ConvKernel k) {
  return [data, k](const NodeAttrs& a, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
    ConvGeom g = node_geom<D>(a, in[data].shape, a.op->name.c_str());
    size_t n = size_t(col_elems(g, k, in[0].dtype, in[0].dev.is_gpu()));
    if (g.last) n += size_t(in[0].size() + in[1].size() + out[0].size());
    return n * nn_dtype::compute_size(in[0].dtype);
  };
}

// The im2col matrix of one sample, by rows: row (ci, kz, ky, kx) holds, for every output
// position, the input value its tap reads (0 in the padding); along an output row that is a
// strided run of an input row, a plain copy at stride 1. The same values as im2col_at. Rows in
// parallel (serially when already inside a parallel loop over samples).
template <class T>
void im2col(const T* x, const ConvGeom& g, T* col) {
  int64_t rows = g.c * g.kd * g.kh * g.kw;
  thread_pool::parallel_for(rows, 8, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      int64_t kx = r % g.kw, ky = (r / g.kw) % g.kh, kz = (r / (g.kw * g.kh)) % g.kd;
      int64_t ci = r / (g.kw * g.kh * g.kd);
      int64_t off = kx * g.dw - g.pw;  // ix = ox * sw + off
      int64_t lo = off >= 0 ? 0 : std::min(g.ow, (-off + g.sw - 1) / g.sw);
      int64_t hi = g.w - 1 - off < 0 ? -1 : std::min(g.ow - 1, (g.w - 1 - off) / g.sw);
      if (hi < lo) hi = lo - 1;
      T* dst = col + r * g.p;
      for (int64_t oz = 0; oz < g.od; ++oz) {
        int64_t iz = oz * g.sd - g.pd + kz * g.dd;
        for (int64_t oy = 0; oy < g.oh; ++oy, dst += g.ow) {
          int64_t iy = oy * g.sh - g.ph + ky * g.dh;
          if (iz < 0 || iz >= g.d || iy < 0 || iy >= g.h) {
            std::fill(dst, dst + g.ow, T(0));
            continue;
          }
          const T* src = x + ((ci * g.d + iz) * g.h + iy) * g.w + off;
          std::fill(dst, dst + lo, T(0));
          if (g.sw == 1) {
            std::copy(src + lo, src + hi + 1, dst + lo);
          } else {
            for (int64_t ox = lo; ox <= hi; ++ox) dst[ox] = src[ox * g.sw];
          }
          std::fill(dst + hi + 1, dst + g.ow, T(0));
        }
      }
    }
  });
}

// a[i] += w * r[i] for i < n, in blocks of 8 (fixed-length loops the compiler vectorizes at
// -O2) then one by one: the same sums, element by element.
template <class T>
inline void axpy_run(T* __restrict a, const T* __restrict r, T w, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) a[i + j] += w * r[i + j];
  for (; i < n; ++i) a[i] += w * r[i];
}

// col2im of one sample (the adjoint of im2col) into dxn with the request: per channel, the
// rows of its taps are added in tap order into a zeroed plane (strided runs, as im2col reads
// them), so each input element sums its taps in the order col2im_at does. Channels in
// parallel.
template <class T>
void col2im(const T* col, const ConvGeom& g, T* dxn, Req req) {
  int64_t plane = g.d * g.h * g.w, taps = g.kd * g.kh * g.kw;
  thread_pool::parallel_for(g.c, 1, [&](int64_t c0, int64_t c1) {
    std::vector<T> acc(static_cast<size_t>(plane));
    for (int64_t ci = c0; ci < c1; ++ci) {
      std::fill(acc.begin(), acc.end(), T(0));
      for (int64_t t = 0; t < taps; ++t) {
        int64_t kx = t % g.kw, ky = (t / g.kw) % g.kh, kz = t / (g.kw * g.kh);
        int64_t off = kx * g.dw - g.pw;
        int64_t lo = off >= 0 ? 0 : std::min(g.ow, (-off + g.sw - 1) / g.sw);
        int64_t hi = g.w - 1 - off < 0 ? -1 : std::min(g.ow - 1, (g.w - 1 - off) / g.sw);
        const T* src = col + (ci * taps + t) * g.p;
        for (int64_t oz = 0; oz < g.od; ++oz) {
          int64_t iz = oz * g.sd - g.pd + kz * g.dd;
          for (int64_t oy = 0; oy < g.oh; ++oy) {
            int64_t iy = oy * g.sh - g.ph + ky * g.dh;
            if (iz < 0 || iz >= g.d || iy < 0 || iy >= g.h) continue;
            T* dst = acc.data() + (iz * g.h + iy) * g.w + off;
            const T* s = src + (oz * g.oh + oy) * g.ow;
            if (g.sw == 1) {
              axpy_run(dst + lo, s + lo, T(1), hi - lo + 1);
            } else {
              for (int64_t ox = lo; ox <= hi; ++ox) dst[ox * g.sw] += s[ox];
            }
          }
        }
      }
      T* out = dxn + ci * plane;
      for (int64_t i = 0; i < plane; ++i) out[i] = req == Req::kAdd ? out[i] + acc[size_t(i)] : acc[size_t(i)];
    }
  });
}

// Runs body(i0, i1, col) over ranges of [0, n) (samples, or blocks of them) in parallel, each
// with a column buffer of col_n elements: the op's temp space for the range that starts at 0,
// one of its own for the others.
template <class T, class F>
void over_ranges(int64_t n, T* temp, int64_t col_n, F&& body) {
  thread_pool::parallel_for(n, 1, [&](int64_t n0, int64_t n1) {
    std::unique_ptr<T[]> own;
    T* col = temp;
    if (n0 != 0 && col_n > 0) {
      own.reset(new T[size_t(col_n)]);
      col = own.get();
    }
    body(n0, n1, col);
  });
}

// Runs out[i] = (req: = or +=) at(i) for i in [0, n) on the pool.
template <class T, class F>
void direct(int64_t n, T* out, Req req, F&& at) {
  thread_pool::parallel_for(n, 4096, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      T v = at(i);
      out[i] = req == Req::kAdd ? out[i] + v : v;
    }
  });
}

// ---- The fused epilogue (conv_params.h) ---------------------------------------------------
// The epilogue's work after the bias for one filter f, as a value map: kBn and kAct fixed at
// compile time, so the loops that apply it stay plain and vectorize (the identity when both
// are off).
template <class T, bool kBn, ConvAct kAct>
struct ChannelPost {
  T m = T(0), s = T(0), h = T(0), lo = T(0), hi = T(0);

  static ChannelPost of(const ConvEpilogue<T>* e, int64_t f) {
    ChannelPost p;
    if (kBn) {
      p.m = e->mean[f];
      p.s = e->scale[f];
      p.h = e->shift[f];
    }
    if (kAct == ConvAct::kClip) {
      p.lo = e->lo;
      p.hi = e->hi;
    }
    return p;
  }
  BRASS_ALWAYS_INLINE T norm(T v) const { return kBn ? (v - m) * s + h : v; }
  BRASS_ALWAYS_INLINE T act(T v) const {
    if (kAct == ConvAct::kRelu) v = unary_ops::Relu::map(v);
    if (kAct == ConvAct::kClip) v = matrix_ops::clip_value(v, lo, hi);
    return v;
  }
  BRASS_ALWAYS_INLINE T operator()(T v) const { return act(norm(v)); }
};

// The epilogue's work after the bias for one filter as one branch-free map for every kind
// (identity, BN, ReLU, clip), for the depthwise planes: a depthwise output costs k*k
// multiply-adds, so the few operations of the general map cost little, and the planes'
// kernels (per ISA) are compiled once instead of once per kind. The same bits as ChannelPost:
// the identity is (v - +0) * 1 + -0, which keeps -0; ReLU maps -0 to +0 (v equal to lo gives
// lo) while clip keeps it (clip_value); NaN passes through both.
template <class T>
struct AnyPost {
  T m = T(0), s = T(1), h = -T(0);
  T lo = -std::numeric_limits<T>::infinity(), hi = std::numeric_limits<T>::infinity();
  bool lo_on_equal = false;

  static AnyPost of(const ConvEpilogue<T>* e, int64_t f) {
    AnyPost p;
    if (!e) return p;
    if (e->scale) {
      p.m = e->mean[f];
      p.s = e->scale[f];
      p.h = e->shift[f];
    }
    if (e->act == ConvAct::kRelu) {
      p.lo = T(0);
      p.lo_on_equal = true;
    }
    if (e->act == ConvAct::kClip) {
      p.lo = e->lo;
      p.hi = e->hi;
    }
    return p;
  }
  BRASS_ALWAYS_INLINE T operator()(T v) const {
    v = (v - m) * s + h;
    // Bitwise, not short-circuit, so that the loops this is inlined into stay vectorized.
    const bool low = (lo > v) | (lo_on_equal & (v == lo));
    const T t = low ? lo : v;
    return v > hi ? hi : t;
  }
};

template <class T, bool kBias, bool kBn, ConvAct kAct, bool kRes>
BRASS_ALWAYS_INLINE inline void epi_row(const ConvEpilogue<T>& e, int64_t f, T* __restrict y, int64_t n) {
  const T b = kBias ? e.bias[f] : T(0);
  const auto post = ChannelPost<T, kBn, kAct>::of(&e, f);
  const T* __restrict r = kRes ? e.residual + (y - e.residual_of) : nullptr;
  for (int64_t j = 0; j < n; ++j) {
    T v = y[j];
    if (kBias) v = v + b;
    if (kRes) y[j] = post.act(post.norm(v) + r[j]);
    else y[j] = post(v);
  }
}

template <class T, bool kBias, bool kBn, bool kRes>
BRASS_ALWAYS_INLINE inline void epi_rows_act(const ConvEpilogue<T>& e, T* c, int64_t ldc, int64_t f0,
                                             int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    T* y = c + r * ldc;
    switch (e.act) {
      case ConvAct::kRelu: epi_row<T, kBias, kBn, ConvAct::kRelu, kRes>(e, f0 + r, y, cols); break;
      case ConvAct::kClip: epi_row<T, kBias, kBn, ConvAct::kClip, kRes>(e, f0 + r, y, cols); break;
      default: epi_row<T, kBias, kBn, ConvAct::kNone, kRes>(e, f0 + r, y, cols); break;
    }
  }
}

// A residual comes with BatchNorm (the fused convolution's; conv_epilogue_rows passes an
// exact identity), so only those loops are built for it.
template <class T>
BRASS_ALWAYS_INLINE inline void epi_rows_any(const ConvEpilogue<T>& e, T* c, int64_t ldc, int64_t f0,
                                             int64_t rows, int64_t cols) {
  if (e.residual && e.bias) epi_rows_act<T, true, true, true>(e, c, ldc, f0, rows, cols);
  else if (e.residual) epi_rows_act<T, false, true, true>(e, c, ldc, f0, rows, cols);
  else if (e.bias && e.scale) epi_rows_act<T, true, true, false>(e, c, ldc, f0, rows, cols);
  else if (e.bias) epi_rows_act<T, true, false, false>(e, c, ldc, f0, rows, cols);
  else if (e.scale) epi_rows_act<T, false, true, false>(e, c, ldc, f0, rows, cols);
  else epi_rows_act<T, false, false, false>(e, c, ldc, f0, rows, cols);
}

// Rows [f0, f0+rows) (filters), cols elements each, ldc apart, built for isa's vectors.
template <class T>
void epi_rows(kernel::Isa isa, const ConvEpilogue<T>& e, T* c, int64_t ldc, int64_t f0, int64_t rows,
              int64_t cols) {
  kernel::run_vectorized(isa, [&]() BRASS_ALWAYS_INLINE { epi_rows_any(e, c, ldc, f0, rows, cols); });
}

template <class T>
bool epi_any(const ConvEpilogue<T>& e) {
  return e.bias || e.scale || e.residual || e.act != ConvAct::kNone;
}

// The GEMM's epilogue for one group's product: its rows are filters from f0 on.
template <class T>
struct GroupEpi {
  const ConvEpilogue<T>* e;
  int64_t f0;
  kernel::Isa isa;
  static void run(const void* ctx, T* c, int64_t ldc, int64_t i0, int64_t rows, int64_t cols) {
    const GroupEpi& g = *static_cast<const GroupEpi*>(ctx);
    epi_rows(g.isa, *g.e, c, ldc, g.f0 + i0, rows, cols);
  }
};

#if BRASS_CONV_DEPTHWISE
// Depthwise forward by planes. Each plane is copied once, zero-padded, with every padded row
// split into s phase rows (s the stride): phase r holds padded column s*j + r, so tap kx of
// output ox reads phase (kx*dw) % s at j = ox + (kx*dw) / s, contiguous at every stride.
// Outputs go by rows, each a plain loop over the row that the compiler vectorizes; the taps
// are summed in order (kz, ky, kx) from zero, then the bias: the same bits on every ISA (no
// fused multiply-adds are formed at -ffp-contract=off). 3x3 kernels (MobileNet's) sum their
// nine taps in registers; other kernels go tap by tap through a row of sums.
template <class T>
struct DwPlan {
  const ConvGeom* g;
  const T *x, *w, *bias;
  T* y;
  Req req;
  int64_t s, len, stride, row_at, dp, hp;
  const int64_t *tap_at, *lo, *hi;  // per kx: offset in a row's phases; per phase: data span
  // 3x3, stride 1, padding 1 (MobileNet's): short rows (under 32) are read as one run from
  // copies (see dw_plane_flat); longer ones, when written, in place (see dw_plane_s1).
  bool flat, wide;
  // 3x3, stride 2, padding 1 on even h and w (MobileNet's downsampling): the plane is split
  // into phases read as one run (see dw_plane_flat2); per output, whether it has a left
  // neighbour in its row (o % ow != 0).
  const T* out_left;
  bool masked;      // dw_plane_flat2 takes the left neighbours by masked loads (AVX-512)
  int64_t flat_at;  // the flat paths: elements from one array of the plane's to the next
};

// dst[i] = keep[i] != 0 ? src[i] : 0 for i in [0, n): a neighbour taken only where the row has
// one (src is the plane read one element to the left or right; every read is in the buffer).
template <class T>
BRASS_ALWAYS_INLINE inline void dw_sides(T* __restrict dst, const T* __restrict src, const T* __restrict keep,
                                         int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = keep[i] != T(0) ? src[i] : T(0);
}

// A 3x3 plane at stride 1 with padding 1 as one run over its h*w elements. x is the plane,
// l and r (at and 2*at after x) its left and right neighbours (0 past the row's ends, as
// padding reads), each array with w zeros before and after, so the rows above and below are
// reads at -w and +w. Plain loads only (no conditions): the loop vectorizes on
// every ISA. The taps in the same order as by rows: the same bits, with no padded rows to
// build or copy back.
template <class T, class P>
BRASS_ALWAYS_INLINE inline void dw_plane_flat(const T* __restrict x, int64_t at, int64_t w, const T* wk, T b,
                                              T* __restrict out, int64_t n, bool add, const P& post) {
  const T k0 = wk[0], k1 = wk[1], k2 = wk[2], k3 = wk[3], k4 = wk[4], k5 = wk[5], k6 = wk[6], k7 = wk[7],
          k8 = wk[8];
  const T* __restrict l = x + at;
  const T* __restrict r = x + 2 * at;
  auto sum = [&](int64_t i) BRASS_ALWAYS_INLINE {
    T a = T(0) + k0 * l[i - w] + k1 * x[i - w] + k2 * r[i - w];
    a = a + k3 * l[i] + k4 * x[i] + k5 * r[i];
    a = a + k6 * l[i + w] + k7 * x[i + w] + k8 * r[i + w];
    return a + b;
  };
  if (add) {
    for (int64_t i = 0; i < n; ++i) out[i] = post(out[i] + sum(i));
  } else {
    for (int64_t i = 0; i < n; ++i) out[i] = post(sum(i));
  }
}

// A 3x3 plane at stride 2 with padding 1, h = 2*oh and w = 2*ow, as one run over its oh*ow
// outputs. ph[py*2 + px] is the phase of rows py and columns px mod 2 (element (i, j) is
// x[2i + py][2j + px]), each after ow + 1 zeros. Output (i, j) reads tap (ky, kx) from phase
// (ky != 1, kx != 1) at row i - (ky == 0) and column j - (kx == 0): the only padding reached
// is the top row (the zeros before each phase) and the left column, which kMasked drops by
// hl (o % ow != 0: a condition AVX-512 vectorizes as masked loads) and otherwise reads from
// ph[4] and ph[5], phases 01 and 11 one column to the left with 0 in column 0 (dw_sides;
// plain loads, which vectorize on every ISA). The taps in the same order as by rows: the same
// bits.
template <bool kMasked, class T, class P>
BRASS_ALWAYS_INLINE inline void dw_plane_flat2(const T* const* ph, const T* __restrict hl, int64_t ow,
                                               const T* wk, T b, T* __restrict out, int64_t n, bool add,
                                               const P& post) {
  const T k0 = wk[0], k1 = wk[1], k2 = wk[2], k3 = wk[3], k4 = wk[4], k5 = wk[5], k6 = wk[6], k7 = wk[7],
          k8 = wk[8];
  const T* __restrict p00 = ph[0];
  const T* __restrict p01 = ph[1];
  const T* __restrict p10 = ph[2];
  const T* __restrict p11 = ph[3];
  const T* __restrict l01 = ph[4];
  const T* __restrict l11 = ph[5];
  auto at = [&](int64_t o) BRASS_ALWAYS_INLINE {
    T ul, ml, dl;
    if (kMasked) {
      const bool l = hl[o] != T(0);
      const T u = p11[o - ow - 1], m = p01[o - 1], d = p11[o - 1];
      ul = l ? u : T(0);
      ml = l ? m : T(0);
      dl = l ? d : T(0);
    } else {
      ul = l11[o - ow];
      ml = l01[o];
      dl = l11[o];
    }
    T a = T(0) + k0 * ul + k1 * p10[o - ow] + k2 * p11[o - ow];
    a = a + k3 * ml + k4 * p00[o] + k5 * p01[o];
    a = a + k6 * dl + k7 * p10[o] + k8 * p11[o];
    return a + b;
  };
  if (add) {
    for (int64_t o = 0; o < n; ++o) out[o] = post(out[o] + at(o));
  } else {
    for (int64_t o = 0; o < n; ++o) out[o] = post(at(o));
  }
}

// n outputs of a 3x3 kernel: p points at the first padded row's phases, ry apart row to row.
// kUnit: the taps are 0, 1 and 2 along the row (stride 1, no dilation), offsets the compiler
// then folds into the loads, leaving three row pointers live instead of nine.
template <bool kUnit, class T, class P>
BRASS_ALWAYS_INLINE inline void dw_row3x3(const T* __restrict p, int64_t ry, const int64_t* tap,
                                          const T* w, T b, T* __restrict out, int64_t n, bool add,
                                          const P& post) {
  const T* a = p + (kUnit ? 0 : tap[0]);
  const T* c = p + (kUnit ? 1 : tap[1]);
  const T* e = p + (kUnit ? 2 : tap[2]);
  const T w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3], w4 = w[4], w5 = w[5], w6 = w[6], w7 = w[7], w8 = w[8];
  const int64_t r2 = 2 * ry;
  if (add) {
    for (int64_t j = 0; j < n; ++j)
      out[j] = post(out[j] + (T(0) + w0 * a[j] + w1 * c[j] + w2 * e[j] + w3 * a[j + ry] + w4 * c[j + ry] +
                              w5 * e[j + ry] + w6 * a[j + r2] + w7 * c[j + r2] + w8 * e[j + r2] + b));
  } else {
    for (int64_t j = 0; j < n; ++j)
      out[j] = post(T(0) + w0 * a[j] + w1 * c[j] + w2 * e[j] + w3 * a[j + ry] + w4 * c[j + ry] +
                    w5 * e[j + ry] + w6 * a[j + r2] + w7 * c[j + r2] + w8 * e[j + r2] + b);
  }
}

// A 3x3 plane (h x w) at stride 1 with padding 1, written to out, read in place. The rows
// between the first and the last go as one run (full vectors however short the rows): output
// i sums x[i - w - 1 .. i + w + 1] as if the plane had no row ends, which is right except in
// its first and last columns, where the run wraps to the row before or after; those outputs
// are then computed again one by one, and the first and last rows from zero-padded copies of
// their rows in buf (3 * (w + 2) elements). The taps in the same order as by rows.
template <class T, class P>
BRASS_ALWAYS_INLINE inline void dw_plane_s1(const T* x, int64_t h, int64_t w, const T* wk, T b, T* out, T* buf,
                                            const P& post) {
  if (h > 2) dw_row3x3<true>(x, w, nullptr, wk, b, out + w + 1, (h - 2) * w - 2, false, post);
  auto at = [&](int64_t iy, int64_t ix) { return iy >= 0 && iy < h && ix >= 0 && ix < w ? x[iy * w + ix] : T(0); };
  for (int64_t oy = 1; oy + 1 < h; ++oy)
    for (int64_t ox : {int64_t(0), w - 1}) {
      T a = T(0);
      for (int k = 0; k < 9; ++k) a = a + wk[k] * at(oy + k / 3 - 1, ox + k % 3 - 1);
      out[oy * w + ox] = post(a + b);
    }
  for (int64_t oy : {int64_t(0), h - 1}) {
    for (int64_t k = 0; k < 3; ++k) {
      T* row = buf + k * (w + 2);
      const int64_t iy = oy + k - 1;
      row[0] = row[w + 1] = T(0);
      for (int64_t j = 0; j < w; ++j) row[j + 1] = iy >= 0 && iy < h ? x[iy * w + j] : T(0);
    }
    dw_row3x3<true>(buf, w + 2, nullptr, wk, b, out + oy * w, w, false, post);
    if (h == 1) break;
  }
}

template <class T>
BRASS_ALWAYS_INLINE inline void dw_tap(T* __restrict acc, const T* __restrict src, T w, int64_t n) {
  for (int64_t j = 0; j < n; ++j) acc[j] += w * src[j];
}

template <class T, class P>
BRASS_ALWAYS_INLINE inline void dw_put(T* __restrict out, const T* __restrict acc, T b, int64_t n, bool add,
                                       const P& post) {
  if (add) {
    for (int64_t j = 0; j < n; ++j) out[j] = post(out[j] + (acc[j] + b));
  } else {
    for (int64_t j = 0; j < n; ++j) out[j] = post(acc[j] + b);
  }
}

// Elements of a short-row plane's run (see dw_plane), and the zeros the padded planes need
// after them for its last vector.
constexpr int64_t kDwVec = 16;
inline int64_t dw_run(const ConvGeom& g, int64_t pitch) {
  return ((g.oh - 1) * pitch + g.ow + kDwVec - 1) / kDwVec * kDwVec;
}

// Plane pl (sample, filter) through the scratch buf (padding rows and slack already zero; acc,
// a row of sums, after it); post maps each output as it is stored.
template <class T, class P>
BRASS_ALWAYS_INLINE inline void dw_plane(const DwPlan<T>& q, int64_t pl, T* buf, T* acc, const P& post) {
  const ConvGeom& g = *q.g;
  const int64_t f = pl % g.f, n = pl / g.f, s = q.s;
  const T* xp = q.x + (n * g.c + f / g.fg) * g.d * g.h * g.w;
  if (q.wide) {
    dw_plane_s1(xp, g.h, g.w, q.w + f * 9, q.bias ? q.bias[f] : T(0), q.y + pl * g.p, buf, post);
    return;
  }
  if (q.flat) {
    // The plane and its two neighbours, each with w zeros around it (written once, when buf
    // was made).
    const int64_t hw = g.h * g.w, at = q.flat_at;
    T* __restrict xb = buf + g.w;
    T* __restrict lb = xb + at;
    T* __restrict rb = xb + 2 * at;
    // Three copies of the input (not of the copy just written: reads that straddle recent
    // stores wait for them), then the neighbours past each row's ends set to 0.
    std::memcpy(xb, xp, sizeof(T) * size_t(hw));
    lb[0] = T(0);
    std::memcpy(lb + 1, xp, sizeof(T) * size_t(hw - 1));
    std::memcpy(rb, xp + 1, sizeof(T) * size_t(hw - 1));
    rb[hw - 1] = T(0);
    for (int64_t i = g.w; i < hw; i += g.w) {
      lb[i] = T(0);
      rb[i - 1] = T(0);
    }
    dw_plane_flat(xb, at, g.w, q.w + f * 9, q.bias ? q.bias[f] : T(0), q.y + pl * g.p, hw, q.req == Req::kAdd,
                  post);
    return;
  }
  if (q.out_left) {
    // The four phases (and the two shifted ones unless masked), each after ow + 1 zeros
    // (written once, when buf was made).
    const int64_t oh = g.oh, ow = g.ow, n_out = oh * ow, at = q.flat_at;
    T* ph[6];
    for (int k = 0; k < 6; ++k) ph[k] = buf + k * at + ow + 1;
    for (int64_t i = 0; i < oh; ++i)
      for (int64_t py = 0; py < 2; ++py) {
        const T* __restrict row = xp + (2 * i + py) * g.w;
        T* __restrict e = ph[2 * py] + i * ow;
        T* __restrict o = ph[2 * py + 1] + i * ow;
        for (int64_t j = 0; j < ow; ++j) {
          e[j] = row[2 * j];
          o[j] = row[2 * j + 1];
        }
      }
    const T b = q.bias ? q.bias[f] : T(0);
    if (q.masked) {
      dw_plane_flat2<true>(ph, q.out_left, ow, q.w + f * 9, b, q.y + pl * g.p, n_out, q.req == Req::kAdd, post);
    } else {
      dw_sides(ph[4], ph[1] - 1, q.out_left, n_out);
      dw_sides(ph[5], ph[3] - 1, q.out_left, n_out);
      dw_plane_flat2<false>(ph, q.out_left, ow, q.w + f * 9, b, q.y + pl * g.p, n_out, q.req == Req::kAdd,
                            post);
    }
    return;
  }
  for (int64_t z = 0; z < g.d; ++z)
    for (int64_t yy = 0; yy < g.h; ++yy) {
      const T* row = xp + (z * g.h + yy) * g.w;
      T* ph = buf + ((z + g.pd) * q.hp + yy + g.ph) * q.row_at;
      for (int64_t r = 0; r < s; ++r) {
        T* dst = ph + r * q.stride;
        const int64_t l = q.lo[r], h = q.hi[r];
        for (int64_t j = 0; j < l; ++j) dst[j] = T(0);
        const T* src = row + s * l + r - g.pw;
        if (s == 1) {
          for (int64_t j = 0; j < h - l; ++j) dst[l + j] = src[j];
        } else if (s == 2) {  // a constant stride the compiler vectorizes (MobileNet's)
          for (int64_t j = 0; j < h - l; ++j) dst[l + j] = src[2 * j];
        } else {
          for (int64_t j = 0; j < h - l; ++j) dst[l + j] = src[s * j];
        }
        for (int64_t j = h; j < q.len; ++j) dst[j] = T(0);
      }
    }
  const T* wp = q.w + f * g.kd * g.kh * g.kw;
  T* yp = q.y + pl * g.p;
  const T b = q.bias ? q.bias[f] : T(0);
  const bool add = q.req == Req::kAdd;
  const bool k3 = g.kd == 1 && g.kh == 3 && g.kw == 3;
  for (int64_t oz = 0; oz < g.od; ++oz) {
    if (k3 && g.ow < 32) {
      // Short rows: the plane's rows as one run, pitch = one stride of padded rows, into acc
      // (the columns past ow are computed and dropped), its length rounded up to whole vectors
      // (reading into the zeros after the plane), so the vectors run full.
      const int64_t pitch = g.sh * q.row_at;
      const T* p = buf + oz * g.sd * q.hp * q.row_at;
      dw_row3x3<false>(p, g.dh * q.row_at, q.tap_at, wp, b, acc, dw_run(g, pitch), false,
                       ChannelPost<T, false, ConvAct::kNone>{});
      for (int64_t oy = 0; oy < g.oh; ++oy) {
        T* out = yp + (oz * g.oh + oy) * g.ow;
        const T* a = acc + oy * pitch;
        if (add) {
          for (int64_t j = 0; j < g.ow; ++j) out[j] = post(out[j] + a[j]);
        } else {
          for (int64_t j = 0; j < g.ow; ++j) out[j] = post(a[j]);
        }
      }
      continue;
    }
    for (int64_t oy = 0; oy < g.oh; ++oy) {
      T* out = yp + (oz * g.oh + oy) * g.ow;
      const T* p = buf + (oz * g.sd * q.hp + oy * g.sh) * q.row_at;
      if (k3) {
        if (s == 1 && g.dw == 1) dw_row3x3<true>(p, g.dh * q.row_at, q.tap_at, wp, b, out, g.ow, add, post);
        else dw_row3x3<false>(p, g.dh * q.row_at, q.tap_at, wp, b, out, g.ow, add, post);
        continue;
      }
      for (int64_t j = 0; j < g.ow; ++j) acc[j] = T(0);
      for (int64_t kz = 0; kz < g.kd; ++kz)
        for (int64_t ky = 0; ky < g.kh; ++ky) {
          const T* pr = p + (kz * g.dd * q.hp + ky * g.dh) * q.row_at;
          const T* wr = wp + (kz * g.kh + ky) * g.kw;
          for (int64_t kx = 0; kx < g.kw; ++kx) dw_tap(acc, pr + q.tap_at[kx], wr[kx], g.ow);
        }
      dw_put(out, acc, b, g.ow, add, post);
    }
  }
}

// epi (no bias: the planes add it): applied to each output as it is stored.
template <class T>
void dw_forward_rows(const ConvGeom& g, const T* x, const T* w, const T* bias, T* y, Req req,
                     const ConvEpilogue<T>* epi) {
  DwPlan<T> q{&g, x, w, bias, y, req, g.sw, 0, 0, 0, g.d + 2 * g.pd, g.h + 2 * g.ph,
              nullptr, nullptr, nullptr, false, false, nullptr, false, 0};
  // The flat 3x3 paths (MobileNet's): no padded rows to build.
  const kernel::Isa isa = kernel::active_isa();
  const bool flat3 = g.d == 1 && g.kd == 1 && g.kh == 3 && g.kw == 3 && g.dh == 1 && g.dw == 1 && g.ph == 1 &&
                     g.pw == 1 && g.pd == 0;
  int64_t flat_n = 0;     // the flat paths' buffer
  std::vector<T> out_left;  // o % ow != 0 for o in [0, oh*ow]
  if (flat3 && g.sh == 1 && g.sw == 1 && g.ow < 32) {
    q.flat = true;
    q.flat_at = (g.h * g.w + 2 * g.w + kDwVec - 1) / kDwVec * kDwVec;
    flat_n = 3 * q.flat_at;
  } else if (flat3 && g.sh == 1 && g.sw == 1 && req == Req::kWrite) {
    q.wide = true;
    flat_n = 3 * (g.w + 2);
  } else if (flat3 && g.sh == 2 && g.sw == 2 && g.h % 2 == 0 && g.w % 2 == 0) {
    for (int64_t o = 0; o <= g.oh * g.ow; ++o) out_left.push_back(o % g.ow != 0 ? T(1) : T(0));
    q.out_left = out_left.data();
    q.masked = std::is_same<T, float>::value && isa == kernel::Isa::kAvx512;
    q.flat_at = (g.oh * g.ow + g.ow + 1 + kDwVec - 1) / kDwVec * kDwVec;
    flat_n = 6 * q.flat_at;
  }
  q.len = g.ow + (g.kw - 1) * g.dw / q.s;
  q.stride = q.len;
  q.row_at = q.s * q.stride;  // one padded row's phases
  std::vector<int64_t> tap_at(static_cast<size_t>(g.kw)), lo(static_cast<size_t>(q.s)), hi(static_cast<size_t>(q.s));
  for (int64_t kx = 0; kx < g.kw; ++kx) tap_at[size_t(kx)] = (kx * g.dw % q.s) * q.stride + kx * g.dw / q.s;
  // Per phase: j in [lo, hi) reads data column s*j + r - pw; the rest is padding.
  for (int64_t r = 0; r < q.s; ++r) {
    const int64_t off = r - g.pw;
    lo[size_t(r)] = std::min(q.len, off >= 0 ? 0 : (-off + q.s - 1) / q.s);
    hi[size_t(r)] = std::max(lo[size_t(r)], std::min(q.len, (g.w - off + q.s - 1) / q.s));
  }
  q.tap_at = tap_at.data();
  q.lo = lo.data();
  q.hi = hi.data();
  const int64_t plane = q.dp * q.hp * q.row_at;
  thread_pool::parallel_for(g.n * g.f, 1, [&](int64_t p0, int64_t p1) {
    // acc: a row of sums, or a 3x3 plane's rows run together (pitch sh padded rows), after the
    // padded planes and a vector of zeros.
    const int64_t run = dw_run(g, g.sh * q.row_at);
    std::vector<T> buf(static_cast<size_t>(std::max(flat_n, plane + kDwVec + std::max(g.ow, run))), T(0));
    T* acc = buf.data() + plane + kDwVec;
    for (int64_t pl = p0; pl < p1; ++pl) {
      const AnyPost<T> post = AnyPost<T>::of(epi, pl % g.f);
      // The float plane is built for the ISA's vectors too (the others as compiled).
      if constexpr (std::is_same<T, float>::value)
        kernel::run_vectorized(isa, [&]() BRASS_ALWAYS_INLINE { dw_plane(q, pl, buf.data(), acc, post); });
      else
        dw_plane(q, pl, buf.data(), acc, post);
    }
  });
}

#endif  // BRASS_CONV_DEPTHWISE

// ---- Channels-last storage (ConvStorage) ---------------------------------------------------

// The epilogue on columns [j0, j0+cols) of rows of C, filters as columns (a channels-last
// output): per element the same operations as epi_row on a filter's row.
template <class T, bool kBias, bool kBn, ConvAct kAct>
BRASS_ALWAYS_INLINE inline void epi_cols_as(const ConvEpilogue<T>& e, T* c, int64_t ldc, int64_t j0, int64_t rows,
                                            int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    T* __restrict y = c + r * ldc;
    for (int64_t j = 0; j < cols; ++j) {
      T v = y[j];
      if (kBias) v = v + e.bias[j0 + j];
      y[j] = ChannelPost<T, kBn, kAct>::of(&e, j0 + j)(v);
    }
  }
}

template <class T, bool kBias, bool kBn>
BRASS_ALWAYS_INLINE inline void epi_cols_act(const ConvEpilogue<T>& e, T* c, int64_t ldc, int64_t j0, int64_t rows,
                                             int64_t cols) {
  switch (e.act) {
    case ConvAct::kRelu: epi_cols_as<T, kBias, kBn, ConvAct::kRelu>(e, c, ldc, j0, rows, cols); break;
    case ConvAct::kClip: epi_cols_as<T, kBias, kBn, ConvAct::kClip>(e, c, ldc, j0, rows, cols); break;
    default: epi_cols_as<T, kBias, kBn, ConvAct::kNone>(e, c, ldc, j0, rows, cols); break;
  }
}

// The GEMM's epilogue for a product whose columns are filters: c0 is C, so a block's first
// column is its offset from c0 less its rows'.
template <class T>
struct ColumnEpi {
  const ConvEpilogue<T>* e;
  const T* c0;
  static void run(const void* ctx, T* c, int64_t ldc, int64_t i0, int64_t rows, int64_t cols) {
    const ColumnEpi& q = *static_cast<const ColumnEpi*>(ctx);
    const ConvEpilogue<T>& e = *q.e;
    const int64_t j0 = (c - q.c0) - i0 * ldc;
    // The ISAs whose micro-kernels take the terms in their registers never call this (but for
    // degenerate products): built once, at the baseline.
    kernel::run_base_vec([&]() BRASS_ALWAYS_INLINE {
      if (e.bias && e.scale) epi_cols_act<T, true, true>(e, c, ldc, j0, rows, cols);
      else if (e.bias) epi_cols_act<T, true, false>(e, c, ldc, j0, rows, cols);
      else if (e.scale) epi_cols_act<T, false, true>(e, c, ldc, j0, rows, cols);
      else epi_cols_act<T, false, false>(e, c, ldc, j0, rows, cols);
    });
  }
};

#if BRASS_CONV_DEPTHWISE
// kernel::derived_cached's kind for a depthwise convolution's taps, tap-major
// (conv_winograd.cc's are 1 and 2).
constexpr int kDwTapsKind = 3;

// Per channel, what a depthwise plane does after its taps (the bias, then AnyPost), as arrays
// over the channels, for the channels-last kernel's vectors: the taps tap-major (9 x c), kept
// between calls while `version` names the filters (0: made afresh); the bias and BatchNorm's
// terms read where the epilogue has them, defaults (0, 1, -0) where it has none.
template <class T>
struct DwChannels {
  std::shared_ptr<const void> kept;  // the taps
  std::vector<T> defaults;           // c zeros, c ones, c negative zeros, when needed
  const T *taps, *bias, *m, *s, *h;
  T lo, hi;
  bool lo_on_equal;
  DwChannels(const T* w, int64_t c, const ConvEpilogue<T>& epi, uint64_t version) {
    kept = kernel::derived_cached(w, kDwTapsKind, c, 9, version, [&] {
      auto t = std::make_shared<std::vector<T>>(size_t(9 * c));
      for (int64_t f = 0; f < c; ++f)
        for (int64_t k = 0; k < 9; ++k) (*t)[size_t(k * c + f)] = w[f * 9 + k];
      return std::make_pair(std::shared_ptr<const void>(t), t->size() * sizeof(T));
    });
    taps = static_cast<const std::vector<T>*>(kept.get())->data();
    ConvEpilogue<T> rest = epi;
    rest.bias = nullptr;
    const AnyPost<T> p = AnyPost<T>::of(epi_any(rest) ? &rest : nullptr, 0);  // bounds: the same for all
    lo = p.lo;
    hi = p.hi;
    lo_on_equal = p.lo_on_equal;
    if (!epi.bias || !epi.scale) {
      defaults.assign(size_t(3 * c), T(0));
      std::fill(defaults.begin() + c, defaults.begin() + 2 * c, T(1));
      std::fill(defaults.begin() + 2 * c, defaults.end(), -T(0));
    }
    bias = epi.bias ? epi.bias : defaults.data();
    m = epi.scale ? epi.mean : defaults.data();
    s = epi.scale ? epi.scale : defaults.data() + c;
    h = epi.scale ? epi.shift : defaults.data() + 2 * c;
  }
};

// One output pixel of a channels-last depthwise 3x3, channels [c0, c1): p[t] is tap t's input
// pixel (a row of zeros where the tap reads padding). Per channel the taps summed in order
// from zero, then the bias and AnyPost: the operations of the channels-first planes
// (dw_plane_flat, dw_row3x3), so the same bits.
template <class T>
BRASS_ALWAYS_INLINE inline void dw_pixel_last(const T* const* p, const DwChannels<T>& q, int64_t c, int64_t c0,
                                              int64_t c1, T* __restrict out) {
  const T* k = q.taps;
  for (int64_t i = c0; i < c1; ++i) {
    T a = T(0) + k[i] * p[0][i] + k[c + i] * p[1][i] + k[2 * c + i] * p[2][i];
    a = a + k[3 * c + i] * p[3][i] + k[4 * c + i] * p[4][i] + k[5 * c + i] * p[5][i];
    a = a + k[6 * c + i] * p[6][i] + k[7 * c + i] * p[7][i] + k[8 * c + i] * p[8][i];
    const AnyPost<T> post{q.m[i], q.s[i], q.h[i], q.lo, q.hi, q.lo_on_equal};
    out[i] = post(a + q.bias[i]);
  }
}

// Tap t's input pixel for output column ox (zeros where it is padding).
template <class T>
BRASS_ALWAYS_INLINE inline void dw_taps_at(const T* const* row, int64_t w, int64_t s, int64_t c, int64_t ox,
                                           const T* zeros, const T** p) {
  for (int t = 0; t < 9; ++t) {
    const int64_t ix = ox * s - 1 + t % 3;
    p[t] = ix >= 0 && ix < w ? row[t / 3] + ix * c : zeros;
  }
}

#if defined(__GNUC__)
#if !defined(__clang__)
// Everything below is inlined into its caller (no vector crosses a call), so GCC's note that
// passing 64-byte vectors without AVX-512 changes the ABI does not apply.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"
#endif
// The same pixel in vectors of kBytes of channels (kernel::Lanes, as wide as the registers of
// the ISA they are built for), the channels' taps and epilogue terms loaded once for a row.
// Element-wise, the operations of dw_pixel_last in its order.
template <class T, int kBytes>
using DwLanes = kernel::Lanes<T, kBytes>;

// A row's pixels for the channels from cb: k[t] the taps, put(o, a) stores the window sum a at
// o with the epilogue. The pixels whose window is inside the row [first, last) read the input
// straight; the others (padding) through dw_taps_at. Vectors go by reference between these
// (inlined) helpers.
template <class T, int kBytes, class Put>
BRASS_ALWAYS_INLINE inline void dw_row_pixels(const T* const* row, int64_t w, int64_t s, int64_t ow, int64_t first,
                                              int64_t last, const T* zeros, const typename DwLanes<T, kBytes>::V* k,
                                              int64_t c, int64_t cb, T* out, const Put& put) {
  using V = typename DwLanes<T, kBytes>::V;
  auto ld = [](V& v, const T* p) BRASS_ALWAYS_INLINE { std::memcpy(&v, p, sizeof v); };
  auto edge = [&](int64_t ox) BRASS_ALWAYS_INLINE {
    const T* p[9];
    dw_taps_at(row, w, s, c, ox, zeros, p);
    V a = V{}, x;
    for (int t = 0; t < 9; ++t) {
      ld(x, p[t] + cb);
      a = a + k[t] * x;
    }
    put(out + ox * c + cb, a);
  };
  for (int64_t ox = 0; ox < first; ++ox) edge(ox);
  for (int64_t ox = first; ox < last; ++ox) {
    const int64_t d = (ox * s - 1) * c + cb;
    V a = V{}, x;
    for (int t = 0; t < 9; ++t) {
      ld(x, row[t / 3] + d + (t % 3) * c);
      a = a + k[t] * x;
    }
    put(out + ox * c + cb, a);
  }
  for (int64_t ox = std::max(first, last); ox < ow; ++ox) edge(ox);
}

template <class T, int kBytes>
BRASS_ALWAYS_INLINE inline void dw_row_lanes(const T* const* row, int64_t w, int64_t s, int64_t ow, int64_t first,
                                             int64_t last, const T* zeros, const DwChannels<T>& q, int64_t c,
                                             int64_t cb, T* out) {
  using V = typename DwLanes<T, kBytes>::V;
  using M = typename DwLanes<T, kBytes>::M;
  auto ld = [](V& v, const T* p) BRASS_ALWAYS_INLINE { std::memcpy(&v, p, sizeof v); };
  V k[9], b, m, sc, h, lo, hi;
  for (int t = 0; t < 9; ++t) ld(k[t], q.taps + t * c + cb);
  ld(b, q.bias + cb);
  ld(m, q.m + cb);
  ld(sc, q.s + cb);
  ld(h, q.h + cb);
  for (int64_t i = 0; i < DwLanes<T, kBytes>::kLanes; ++i) {
    lo[i] = q.lo;
    hi[i] = q.hi;
  }
  // AnyPost's low test (lo > v, or v == lo too when lo_on_equal) is lo >= v in the second case
  // (both false on NaN), fixed for the row as kGe.
  auto put_as = [&](T* o, const V& a, auto kGe) BRASS_ALWAYS_INLINE {
    V v = a + b;
    v = (v - m) * sc + h;
    const M low = decltype(kGe)::value ? lo >= v : lo > v;
#if defined(__clang__)
    const M high = v > hi;
    const V t = (V)(((M)lo & low) | ((M)v & ~low));
    const V r = (V)(((M)hi & high) | ((M)t & ~high));
#else  // GCC's vector conditionals: blends (Clang's C++ lacks them for these vectors)
    const V t = low ? lo : v;
    const V r = v > hi ? hi : t;
#endif
    std::memcpy(o, &r, sizeof r);
  };
  if (q.lo_on_equal)
    dw_row_pixels<T, kBytes>(row, w, s, ow, first, last, zeros, k, c, cb, out,
                             [&](T* o, const V& a) BRASS_ALWAYS_INLINE { put_as(o, a, std::true_type()); });
  else
    dw_row_pixels<T, kBytes>(row, w, s, ow, first, last, zeros, k, c, cb, out,
                             [&](T* o, const V& a) BRASS_ALWAYS_INLINE { put_as(o, a, std::false_type()); });
}
#if !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#endif

// Depthwise 3x3 (conv_storage_fits) from channels-last data to a channels-last output, output
// rows and groups of channels in parallel; epi: the bias and the fused work; w_version: names the
// filters for their kept taps (DwChannels).
template <class T>
void dw_forward_last(const ConvGeom& g, const T* x, const T* w, T* y, const ConvEpilogue<T>& epi,
                     uint64_t w_version) {
  const int64_t c = g.c, s = g.sh;
  const DwChannels<T> q(w, c, epi, w_version);
  // The row that padding rows read: w * c zeros, kept per thread and grown when a layer needs
  // more (only ever read; the pool's threads read the caller's while it waits).
  static thread_local std::vector<T> zero_row;
  if (zero_row.size() < size_t(g.w * c)) zero_row.assign(size_t(g.w * c), T(0));
  const std::vector<T>& zeros = zero_row;
  const kernel::Isa isa = kernel::active_isa();
  // Work units: an output row's channels in groups of kDwGroup (whole vectors on every ISA; the
  // last group takes the rest), so that small planes (7 rows) still split evenly. One run of
  // rows per thread, in order: the caller (which starts first) usually takes the first, as it
  // took the first rows of the GEMM that wrote this input, so each thread reads what its own
  // cache holds (measured better than handing out short units as threads come free).
  constexpr int64_t kDwGroup = 64;
  const int64_t groups = (c + kDwGroup - 1) / kDwGroup, units = g.n * g.oh * groups;
  const int64_t threads = thread_pool::num_threads();
  const int64_t grain = std::max<int64_t>({1, 16384 / std::max<int64_t>(1, 9 * std::min(c, kDwGroup) * g.ow),
                                           (units + threads - 1) / threads});
  thread_pool::parallel_for(units, grain, [&](int64_t u0, int64_t u1) {
    // kBytes: the vectors' width (the ISA's registers).
    auto units = [&](auto kBytes) BRASS_ALWAYS_INLINE {
      (void)kBytes;
      for (int64_t u = u0; u < u1; ++u) {
        const int64_t r = u / groups, c0 = u % groups * kDwGroup, c1 = std::min(c, c0 + kDwGroup);
        const int64_t n = r / g.oh, oy = r % g.oh;
        const T* row[3];
        for (int64_t ky = 0; ky < 3; ++ky) {
          const int64_t iy = oy * s - 1 + ky;
          row[ky] = iy >= 0 && iy < g.h ? x + ((n * g.h + iy) * g.w) * c : zeros.data();
        }
        T* out = y + r * g.ow * c;
        int64_t cb = c0;
#if defined(__GNUC__)
        // Pixels [first, last) read no padding along the row: ox * s - 1 >= 0, ox * s + 1 < w.
        const int64_t first = std::min<int64_t>(g.ow, 1);
        const int64_t last = g.w >= 2 ? std::max(first, std::min(g.ow, (g.w - 2) / s + 1)) : first;
        constexpr int64_t kLanes = DwLanes<T, decltype(kBytes)::value>::kLanes;
        static_assert(kDwGroup % kLanes == 0, "whole vectors per group");
        for (; cb + kLanes <= c1; cb += kLanes)
          dw_row_lanes<T, decltype(kBytes)::value>(row, g.w, s, g.ow, first, last, zeros.data(), q, c, cb, out);
#endif
        if (cb < c1)
          for (int64_t ox = 0; ox < g.ow; ++ox) {
            const T* p[9];
            dw_taps_at(row, g.w, s, c, ox, zeros.data(), p);
            dw_pixel_last(p, q, c, cb, c1, out + ox * c);
          }
      }
    };
    if constexpr (std::is_same<T, float>::value) kernel::run_vectorized_width(isa, units);
    else units(std::integral_constant<int, 16>());
  });
}

#endif  // BRASS_CONV_DEPTHWISE

// A pointwise convolution (conv_storage_fits) with channels-last data or output: C = W X per
// sample as channels-first computes it, with X or C transposed in the GEMM's operands
// (channels-last data: B = X^T read as the transposed (p x c) matrix; a channels-last output:
// C^T (p x f) = X^T W^T, W^T packed once and kept like A's packings), each element the same
// sum in the same order, and the epilogue on filters as rows or columns: the same bits as
// channels-first.
template <class T>
void pointwise_last(const ConvGeom& g, const T* x, const T* w, T* y, const ConvEpilogue<T>& epi, ConvStorage st,
                    uint64_t w_version) {
  const kernel::Isa isa = kernel::active_isa();
  const bool has_epi = epi_any(epi);
  // The filters packed once while they are unchanged: as A (rows), or for a channels-last
  // output as B = W^T (columns).
  std::shared_ptr<const kernel::PackedA<T>> wp =
      st.out_last ? kernel::pack_b_cached(true, g.c, g.f, w, g.c, w_version)
                  : kernel::pack_a_cached(false, g.f, g.c, w, g.c, w_version);
  for (int64_t n = 0; n < g.n; ++n) {
    const T* xn = x + n * g.c * g.p;
    T* yn = y + n * g.f * g.p;
    if (!st.out_last) {
      const GroupEpi<T> ge{&epi, 0, isa};
      const kernel::Epilogue<T> ke{&GroupEpi<T>::run, &ge, &epi};
      kernel::gemm_packed<T>(*wp, g.p, T(1), true, xn, g.c, nullptr, T(0), yn, g.p, has_epi ? &ke : nullptr);
      continue;
    }
    const ColumnEpi<T> ce{&epi, yn};
    ConvEpilogue<T> cols = epi;  // for the micro-kernel's registers
    cols.columns = true;
    const kernel::Epilogue<T> ke{&ColumnEpi<T>::run, &ce, &cols};
    kernel::gemm_packed_b<T>(!st.in_last, g.p, T(1), xn, st.in_last ? g.c : g.p, *wp, T(0), yn, g.f,
                             has_epi ? &ke : nullptr);
  }
}

// One sample's im2col matrix (rows from row0 on: a group's) packed straight into the GEMM's
// B panels (kernel::PackB), so the matrix never exists whole. x is the sample as
// prepared_sample lays it out (zero-padded to extents (dp, hp, wp), each padded row split into
// ps column phases of wq elements; or the sample itself when that changes nothing), so that
// element (row, column) is x[base(row) + at(column)]: per call the columns are cut into runs
// along output rows and panels once, and every im2col row copies the same runs from its own
// base (contiguous runs when the rows are split into stride phases, else strided by sw).
template <class T>
struct Im2colPack {
  const T* x;
  const ConvGeom* g;
  int64_t row0, dp, hp, wq, ps;

  static void pack(const void* ctx, int64_t j0, int64_t cols, int64_t p0, int64_t kc, int nr,
                   T* dst) {
    const Im2colPack& s = *static_cast<const Im2colPack*>(ctx);
    const ConvGeom& g = *s.g;
    // Runs: (first column, length, offset in x) with the column's panel position folded in.
    thread_local std::vector<int64_t> runs;
    runs.clear();
    int64_t ox = j0 % g.ow, oy = (j0 / g.ow) % g.oh, oz = j0 / (g.ow * g.oh);
    for (int64_t c = 0; c < cols;) {
      const int64_t len = std::min({g.ow - ox, cols - c, nr - c % nr});
      runs.push_back((c / nr) * nr * kc + c % nr);
      runs.push_back(len);
      runs.push_back((oz * g.sd * s.hp + oy * g.sh) * s.ps * s.wq + ox * (g.sw / s.ps));
      c += len;
      ox += len;
      if (ox == g.ow) {
        ox = 0;
        if (++oy == g.oh) {
          oy = 0;
          ++oz;
        }
      }
    }
    const int64_t nruns = int64_t(runs.size()) / 3;
    const int64_t* rp = runs.data();
    const int64_t last = (cols - 1) / nr, tail = cols - last * nr;
    const int64_t step = g.sw / s.ps;  // along a run: 1 when the rows are split by the stride
    // A contiguous run goes over as one fixed-size copy of kBlock elements where the slack is
    // harmless: what it writes past the run lies in later depths of the same panel (written
    // after it), and what it reads stays inside the sample.
    constexpr int64_t kBlock = 32;
    const T* const x_end = s.x + g.c * s.dp * s.hp * s.ps * s.wq;
    const int64_t block_rows = kc - (kBlock + nr - 1) / nr;  // depths whose slack fits
    for (int64_t p = 0; p < kc; ++p) {
      const int64_t r = s.row0 + p0 + p;
      const int64_t kx = r % g.kw, ky = (r / g.kw) % g.kh, kz = (r / (g.kw * g.kh)) % g.kd;
      const int64_t ci = r / (g.kw * g.kh * g.kd);
      const T* base = s.x + ((ci * s.dp + kz * g.dd) * s.hp + ky * g.dh) * s.ps * s.wq +
                      (kx * g.dw) % s.ps * s.wq + (kx * g.dw) / s.ps;
      T* drow = dst + p * nr;
      for (int64_t q = 0; q < nruns; ++q) {
        T* d = drow + rp[3 * q];
        const int64_t len = rp[3 * q + 1];
        const T* src = base + rp[3 * q + 2];
        if (step == 1 && len <= kBlock && p < block_rows && src + kBlock <= x_end) {
          std::memcpy(d, src, sizeof(T) * size_t(kBlock));
        } else if (step == 1) {
          int64_t u = 0;
          for (; u + 8 <= len; u += 8)
            for (int v = 0; v < 8; ++v) d[u + v] = src[u + v];
          for (; u < len; ++u) d[u] = src[u];
        } else if (step == 2) {  // a constant stride the compiler vectorizes (1x1 downsampling)
          for (int64_t u = 0; u < len; ++u) d[u] = src[2 * u];
        } else {
          for (int64_t u = 0; u < len; ++u) d[u] = src[u * step];
        }
      }
      T* d = drow + last * nr * kc;
      for (int64_t u = tail; u < nr; ++u) d[u] = T(0);
    }
  }
};

// The sample xn zero-padded by the convolution's padding into buf (resized), each padded row
// (wp = w + 2*pw) split into *ps column phases of *wq = ceil(wp / ps) elements: padded column X
// at (X % ps) * wq + X / ps. The rows are split by the stride (ps = sw) when several taps
// along a row read each element (kw > 1), so that every tap's reads along an output row are
// contiguous; else ps = 1 (a 1-wide kernel at a stride reads each element once, in place). xn
// itself when there is neither padding nor a split. Extents to *dp, *hp.
template <class T>
const T* prepared_sample(const ConvGeom& g, const T* xn, std::unique_ptr<T[]>& buf, int64_t* dp,
                         int64_t* hp, int64_t* wq, int64_t* ps) {
  const int64_t sw = g.kw > 1 ? g.sw : 1, wp = g.w + 2 * g.pw;
  *ps = sw;
  *dp = g.d + 2 * g.pd;
  *hp = g.h + 2 * g.ph;
  *wq = (wp + sw - 1) / sw;
  if (g.pd == 0 && g.ph == 0 && g.pw == 0 && sw == 1) return xn;
  const int64_t row = sw * *wq, chan = *dp * *hp * row;
  buf.reset(new T[size_t(g.c * chan)]);
  T* const out = buf.get();
  // By padded rows in parallel (inline inside a loop over samples): padding rows zeroed, data
  // rows copied with only their padding zeroed around them.
  const int64_t planes = *dp * *hp;
  thread_pool::parallel_for(g.c * planes, std::max<int64_t>(1, 4096 / row), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t ci = r / planes, z = r % planes / *hp - g.pd, y = r % *hp - g.ph;
      T* dst = out + r * row;
      if (z < 0 || z >= g.d || y < 0 || y >= g.h) {
        std::fill(dst, dst + row, T(0));
        continue;
      }
      const T* src = xn + ((ci * g.d + z) * g.h + y) * g.w;
      if (sw == 1) {
        std::fill(dst, dst + g.pw, T(0));
        std::copy(src, src + g.w, dst + g.pw);
        std::fill(dst + g.pw + g.w, dst + row, T(0));
        continue;
      }
      // Phase k holds padded columns sw*j + k: input columns sw*j + k - pw for j in [lo, hi).
      for (int64_t k = 0; k < sw; ++k) {
        const int64_t lo = std::min(*wq, std::max<int64_t>(0, (g.pw - k + sw - 1) / sw));
        const int64_t hi = std::min(*wq, std::max(lo, (g.w + g.pw - k + sw - 1) / sw));
        T* d = dst + k * *wq;
        const T* sr = src + sw * lo + k - g.pw;
        std::fill(d, d + lo, T(0));
        if (sw == 2) {  // a constant stride the compiler vectorizes (the usual downsampling)
          for (int64_t j = 0; j < hi - lo; ++j) d[lo + j] = sr[2 * j];
        } else {
          for (int64_t j = 0; j < hi - lo; ++j) d[lo + j] = sr[sw * j];
        }
        std::fill(d + hi, d + *wq, T(0));
      }
    }
  });
  return out;
}

// Adds bias[c] to every element of channel c of (n, c, plane) data.
template <class T>
void add_channel_bias(T* y, const T* bias, int64_t n, int64_t c, int64_t plane) {
  for (int64_t i = 0; i < n * c; ++i)
    for (int64_t q = 0; q < plane; ++q) y[i * plane + q] += bias[i % c];
}

// The convolution of geometry g: y = conv(x, w) (+ bias when given), with the request.
// w_version: the filters' contents version (OpContext::versions), 0 when unknown.
template <class T>
void conv_fwd_impl(const ConvGeom& g, const T* x, const T* w, const T* bias, T* y,
                   Req req, T* temp, const ConvEpilogue<T>* fused = nullptr, uint64_t w_version = 0) {
  // The bias and any fused work go in as the output's epilogue (one pass over memory less),
  // except when adding.
  if (fused && req == Req::kAdd) fail(BRASS_ERR_INTERNAL, "Convolution: a fused epilogue with an add request");
  ConvEpilogue<T> epi = fused ? *fused : ConvEpilogue<T>();
  epi.bias = req == Req::kAdd ? nullptr : bias;
  const bool has_epi = epi_any(epi);
#if BRASS_CONV_DEPTHWISE
  if (conv_is_depthwise(g)) {
    ConvEpilogue<T> rest = epi;
    rest.bias = nullptr;
    dw_forward_rows(g, x, w, bias, y, req, epi_any(rest) ? &rest : nullptr);
    return;
  }
#endif
  (void)temp;
  if (req == Req::kNull) return;
  const kernel::Isa isa = kernel::active_isa();
  if constexpr (std::is_same<T, float>::value) {
    if (winograd_fits(g)) {
      const GroupEpi<T> ge{&epi, 0, isa};
      const kernel::Epilogue<T> ke{&GroupEpi<T>::run, &ge};
      conv_winograd(g, x, w, y, req, has_epi ? &ke : nullptr, w_version);
      if (bias && req == Req::kAdd) add_channel_bias(y, bias, g.n, g.f, g.p);
      return;
    }
  }
  const bool implicit = !conv_col_is_data(g);
  const T beta = req == Req::kAdd ? T(1) : T(0);
  // With several samples each group's filters are packed once for all of them, and filters
  // whose contents are named (inference) are packed once for as long as they stay the same;
  // otherwise, with one sample, the GEMM packs them block by block as it goes (while they are
  // in cache).
  const bool shared = g.n > 1 || w_version != 0;
  std::vector<std::shared_ptr<const kernel::PackedA<T>>> wp;
  for (int64_t gi = 0; shared && gi < g.g; ++gi)
    wp.push_back(kernel::pack_a_cached(false, g.fg, g.k, w + gi * g.fg * g.k, g.k, w_version));
  thread_pool::parallel_for(g.n, 1, [&](int64_t n0, int64_t n1) {
    std::unique_ptr<T[]> pad;
    for (int64_t n = n0; n < n1; ++n) {
      const T* xn = x + n * g.chw();
      T* yn = y + n * g.f * g.p;
      int64_t dp = 0, hp = 0, wq = 0, ps = 1;
      const T* xs = implicit ? prepared_sample(g, xn, pad, &dp, &hp, &wq, &ps) : xn;
      for (int64_t gi = 0; gi < g.g; ++gi) {
        T* yg = yn + gi * g.fg * g.p;
        const T* wg = w + gi * g.fg * g.k;
        const GroupEpi<T> ge{&epi, gi * g.fg, isa};
        const ConvEpilogue<T> re = epi.from_row(gi * g.fg);  // for the micro-kernel's registers
        const kernel::Epilogue<T> ke{&GroupEpi<T>::run, &ge, epi.residual ? nullptr : &re};
        const kernel::Epilogue<T>* ep = has_epi ? &ke : nullptr;
        if (implicit) {
          const Im2colPack<T> src{xs, &g, gi * g.k, dp, hp, wq, ps};
          const kernel::PackB<T> pb{&Im2colPack<T>::pack, &src};
          if (shared) kernel::gemm_packed<T>(*wp[size_t(gi)], g.p, T(1), false, nullptr, 0, &pb, beta, yg, g.p, ep);
          else kernel::gemm_pack_b<T>(false, g.fg, g.p, g.k, T(1), wg, g.k, pb, beta, yg, g.p, ep);
        } else if (!shared) {
          kernel::gemm_epilogue<T>(false, false, g.fg, g.p, g.k, T(1), wg, g.k, xn + gi * g.k * g.p, g.p, beta,
                                   yg, g.p, ep);
        } else {
          kernel::gemm_packed<T>(*wp[size_t(gi)], g.p, T(1), false, xn + gi * g.k * g.p, g.p, nullptr,
                              beta, yg, g.p, ep);
        }
      }
      if (bias && req == Req::kAdd) add_channel_bias(yn, bias, 1, g.f, g.p);
    }
  });
}

// Its data gradient: dx[n] = col2im(W_g^T dy_g[n]) per group, with the request.
template <class T>
void conv_bwd_data_impl(const ConvGeom& g, DType t, const T* dy, const T* w, T* dx, Req req,
                        T* temp) {
  if (conv_is_depthwise(g)) {
    direct(g.n * g.chw(), dx, req, [&](int64_t i) { return dw_bwd_data_at(dy, w, g, i); });
    return;
  }
  if constexpr (std::is_same<T, float>::value) {
    ConvGeom a;
    if (winograd_fits_adjoint(g, &a)) {
      conv_winograd(a, dy, w, dx, req, nullptr, 0, true);
      return;
    }
  }
  int64_t chw = g.chw();
  bool direct = conv_col_is_data(g) && req != Req::kAdd;  // the GEMM writes dx itself
  int64_t col_n = direct ? 0 : g.col_size();
  over_ranges<T>(g.n, temp, col_n, [&](int64_t n0, int64_t n1, T* col) {
    for (int64_t n = n0; n < n1; ++n) {
      T* dst = direct ? dx + n * chw : col;
      for (int64_t gi = 0; gi < g.g; ++gi)
        dot_ops::gemm_any(t, true, false, g.k, g.p, g.fg, w + gi * g.fg * g.k, g.k,
                          dy + n * g.f * g.p + gi * g.fg * g.p, g.p, dst + gi * g.k * g.p,
                          Req::kWrite);
      if (direct) continue;
      col2im(col, g, dx + n * chw, req);
    }
  });
}

// Its weight gradient: dW_g = sum_n dy_g[n] im2col(x[n])_g^T, with the request.
template <class T>
void conv_bwd_weight_impl(const ConvGeom& g, DType t, const T* dy, const T* x, T* dw, Req req,
                          T* temp) {
  int64_t wsize = g.f * g.k;
  if (conv_is_depthwise(g)) {
    direct(wsize, dw, req, [&](int64_t i) { return dw_bwd_weight_at(dy, x, g, i); });
    return;
  }
  if (g.n == 0 && req != Req::kAdd) {
    for (int64_t i = 0; i < wsize; ++i) dw[i] = T(0);
    return;
  }
  // Blocks of kBlock samples in parallel: the first sums into dw (with the request), each
  // other into a partial of its own, added to dw in block order after (the same sums
  // whatever the thread count).
  constexpr int64_t kBlock = 4;
  int64_t nb = (g.n + kBlock - 1) / kBlock;
  int64_t col_n = conv_col_is_data(g) ? 0 : g.col_size();
  std::unique_ptr<T[]> partial(nb > 1 ? new T[size_t((nb - 1) * wsize)] : nullptr);
  over_ranges<T>(nb, temp, col_n, [&](int64_t b0, int64_t b1, T* col) {
    for (int64_t b = b0; b < b1; ++b) {
      T* acc = b == 0 ? dw : partial.get() + (b - 1) * wsize;
      for (int64_t n = b * kBlock; n < std::min(g.n, (b + 1) * kBlock); ++n) {
        const T* xn = x + n * g.chw();
        const T* c = xn;
        if (col_n) {
          im2col(xn, g, col);
          c = col;
        }
        Req r = n > b * kBlock ? Req::kAdd : b == 0 ? req : Req::kWrite;
        for (int64_t gi = 0; gi < g.g; ++gi)
          dot_ops::gemm_any(t, false, true, g.fg, g.k, g.p, dy + n * g.f * g.p + gi * g.fg * g.p,
                            g.p, c + gi * g.k * g.p, g.p, acc + gi * g.fg * g.k, r);
      }
    }
  });
  for (int64_t b = 1; b < nb; ++b) {
    const T* pb = partial.get() + (b - 1) * wsize;
    for (int64_t i = 0; i < wsize; ++i) dw[i] += pb[i];
  }
}

// Runs kernel(tag) with the storage type of t (float32 or float64; float_type checked).
template <class F>
void by_float(DType t, F&& kernel) {
  dispatch_f32_f64(t, "Convolution", kernel);
}

// (a, s, b) <-> (a, b, s) copies, blocked for the cache: a channels-last operand as the
// kernels take it, and their channels-first result back with the request.
template <class T>
void move_channels(const T* src, T* dst, int64_t a, int64_t s, int64_t b, bool to_first, Req req) {
  constexpr int64_t kTile = 32;
  const int64_t tiles_s = (s + kTile - 1) / kTile, tiles_b = (b + kTile - 1) / kTile;
  thread_pool::parallel_for(a * tiles_s, 4, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t i = t / tiles_s, p0 = (t % tiles_s) * kTile, p1 = std::min(s, p0 + kTile);
      const T* sa = src + i * s * b;
      T* da = dst + i * s * b;
      for (int64_t tb = 0; tb < tiles_b; ++tb) {
        const int64_t c0 = tb * kTile, c1 = std::min(b, c0 + kTile);
        for (int64_t p = p0; p < p1; ++p)
          for (int64_t c = c0; c < c1; ++c) {
            // channels-last element (p, c) <-> channels-first element (c, p)
            if (to_first) da[c * s + p] = sa[p * b + c];
            else if (req == Req::kAdd) da[p * b + c] += sa[c * s + p];
            else da[p * b + c] = sa[c * s + p];
          }
      }
    }
  });
}

// Runs fn(g, a, b, out, req, temp) on channels-first operands: for a channels-last call
// (g.last), on copies of the arrays `a` and `b` (in the temp space after the im2col matrix),
// with the geometry turned channels-first, and the result moved back into `out` with req.
template <class T, class F>
void channels_first(const ConvGeom& g, ConvKernel k, const TBlob& a, const TBlob& b, const TBlob& out,
                    Req req, T* temp, F&& fn) {
  if (!g.last) {
    fn(g, a.ptr<T>(), b.ptr<T>(), out.ptr<T>(), req, temp);
    return;
  }
  auto dims = [](const Shape& sh, int64_t* n, int64_t* sp, int64_t* c) {
    *n = sh[0];
    *c = sh[sh.ndim() - 1];
    *sp = sh.size() / std::max<int64_t>(1, *n * *c);
  };
  T* pa = temp + col_elems(g, k, a.dtype, false);
  T* pb = pa + a.size();
  T* po = pb + b.size();
  int64_t n, sp, c;
  dims(a.shape, &n, &sp, &c);
  move_channels(a.ptr<T>(), pa, n, sp, c, true, Req::kWrite);
  dims(b.shape, &n, &sp, &c);
  move_channels(b.ptr<T>(), pb, n, sp, c, true, Req::kWrite);
  ConvGeom gf = g;
  gf.last = false;
  fn(gf, pa, pb, po, Req::kWrite, temp);
  dims(out.shape, &n, &sp, &c);
  move_channels(po, out.ptr<T>(), n, sp, c, false, req);
}

// The version that names the filters (input 1) a forward reads in place, for the kept packing
// (kernel::pack_a_cached): in inference only (training changes them every step), and not for
// channels-last calls (the kernel reads a copy).
uint64_t filters_version(const OpContext& ctx, const ConvGeom& g) {
  return !ctx.is_train && ctx.versions && !g.last ? ctx.versions[1] : 0;
}

#if BRASS_ALL_OPS || BRASS_OP_Convolution
void conv_forward_cpu(const OpContext& ctx, const std::vector<TBlob>& in,
                      const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  const auto& prm = ctx.param<ConvParam>();
  ConvGeom g = conv_geom(prm, in[0].shape, "Convolution");
  by_float(in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* bias = prm.no_bias ? nullptr : in[2].ptr<T>();
    channels_first<T>(g, ConvKernel::kForward, in[0], in[1], out[0], ctx.req[0], static_cast<T*>(ctx.temp),
                      [&](const ConvGeom& gf, const T* x, const T* w, T* y, Req req, T* temp) {
                        conv_fwd_impl<T>(gf, x, w, bias, y, req, temp, nullptr,
                                         filters_version(ctx, g));
                      });
  });
}
#endif

template <class T>
void conv_forward_fused(const OpContext& ctx, const std::vector<TBlob>& in, const TBlob& out,
                        const ConvEpilogue<T>& epi, ConvStorage st) {
  const auto& prm = ctx.param<ConvParam>();
  ConvGeom g = conv_geom(prm, in[0].shape, "Convolution");
  if (g.last || ctx.req[0] == Req::kAdd || in[0].dtype != DTypeOf<T>::value)
    fail(BRASS_ERR_INTERNAL,
         "Convolution: a fused epilogue needs channels-first data of its type and a write request");
  if (ctx.req[0] == Req::kNull) return;
  const T* bias = prm.no_bias ? nullptr : in[2].ptr<T>();
  if (epi.residual && (st.in_last || st.out_last || g.g != 1 || !epi.scale))
    fail(BRASS_ERR_INTERNAL, "Convolution: a residual without BatchNorm, or in a grouped or channels-last ",
         "convolution's epilogue");
  // One pixel per plane: both storages are the same.
  if ((st.in_last || st.out_last) && g.h * g.w * g.p > 1) {
    if (!conv_storage_fits(g, st))
      fail(BRASS_ERR_INTERNAL, "Convolution: channels-last storage for geometry it does not fit");
    ConvEpilogue<T> e = epi;
    e.bias = bias;
#if BRASS_CONV_DEPTHWISE
    if (conv_is_depthwise(g)) {
      dw_forward_last(g, in[0].ptr<T>(), in[1].ptr<T>(), out.ptr<T>(), e, filters_version(ctx, g));
      return;
    }
#endif
    pointwise_last(g, in[0].ptr<T>(), in[1].ptr<T>(), out.ptr<T>(), e, st, filters_version(ctx, g));
    return;
  }
  conv_fwd_impl<T>(g, in[0].ptr<T>(), in[1].ptr<T>(), bias, out.ptr<T>(), ctx.req[0], static_cast<T*>(ctx.temp),
                   &epi, filters_version(ctx, g));
}

void conv_forward_epilogue(const OpContext& ctx, const std::vector<TBlob>& in, const TBlob& out,
                           const ConvEpilogue<float>& epi, ConvStorage storage) {
  conv_forward_fused(ctx, in, out, epi, storage);
}

template <class T>
void epilogue_rows(ConvEpilogue<T> e, T* y, int64_t rows, int64_t cols) {
  // Without BatchNorm's terms, an exact identity in their place: (v - 0) * 1 + -0 is v, -0 too.
  const T zero = T(0), one = T(1), minus_zero = -T(0);
  if (!e.scale) {
    if (rows != 1) fail(BRASS_ERR_INTERNAL, "Convolution: an epilogue without BatchNorm over several filters");
    e.mean = &zero;
    e.scale = &one;
    e.shift = &minus_zero;
  }
  epi_rows(kernel::active_isa(), e, y, cols, 0, rows, cols);
}

void conv_epilogue_rows(const ConvEpilogue<float>& epi, float* y, int64_t rows, int64_t cols) {
  epilogue_rows(epi, y, rows, cols);
}
void conv_epilogue_rows(const ConvEpilogue<double>& epi, double* y, int64_t rows, int64_t cols) {
#ifdef BRASS_LEAN_DTYPES
  (void)epi, (void)y, (void)rows, (void)cols;
  fail_dtype_not_built(DType::kFloat64, "Convolution");
#else
  epilogue_rows(epi, y, rows, cols);
#endif
}
void conv_forward_epilogue(const OpContext& ctx, const std::vector<TBlob>& in, const TBlob& out,
                           const ConvEpilogue<double>& epi, ConvStorage storage) {
#ifdef BRASS_LEAN_DTYPES
  (void)ctx, (void)in, (void)out, (void)epi, (void)storage;
  fail_dtype_not_built(DType::kFloat64, "Convolution");
#else
  conv_forward_fused(ctx, in, out, epi, storage);
#endif
}

#if BRASS_TRAINING
// _backward_Convolution_data(out_grad, weight, data)
void conv_bwd_data_cpu(const OpContext& ctx, const std::vector<TBlob>& in,
                       const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  ConvGeom g = conv_geom(ctx.param<ConvParam>(), in[2].shape, "_backward_Convolution_data");
  by_float(in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    channels_first<T>(g, ConvKernel::kData, in[0], in[1], out[0], ctx.req[0], static_cast<T*>(ctx.temp),
                      [&](const ConvGeom& gf, const T* dy, const T* w, T* dx, Req req, T* temp) {
                        conv_bwd_data_impl<T>(gf, in[0].dtype, dy, w, dx, req, temp);
                      });
  });
}

// _backward_Convolution_weight(out_grad, data)
void conv_bwd_weight_cpu(const OpContext& ctx, const std::vector<TBlob>& in,
                         const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  ConvGeom g = conv_geom(ctx.param<ConvParam>(), in[1].shape, "_backward_Convolution_weight");
  by_float(in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    channels_first<T>(g, ConvKernel::kWeight, in[0], in[1], out[0], ctx.req[0], static_cast<T*>(ctx.temp),
                      [&](const ConvGeom& gf, const T* dy, const T* x, T* dw, Req req, T* temp) {
                        conv_bwd_weight_impl<T>(gf, in[0].dtype, dy, x, dw, req, temp);
                      });
  });
}
#endif  // BRASS_TRAINING

#if BRASS_ALL_OPS || BRASS_OP_Deconvolution
// Deconvolution(data, weight[, bias]) = the data gradient of the convolution it transposes.
void deconv_forward_cpu(const OpContext& ctx, const std::vector<TBlob>& in,
                        const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  const auto& prm = ctx.param<DeconvParam>();
  ConvGeom g = deconv_geom(prm, in[0].shape, "Deconvolution");
  by_float(in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    channels_first<T>(g, ConvKernel::kData, in[0], in[1], out[0], ctx.req[0], static_cast<T*>(ctx.temp),
                      [&](const ConvGeom& gf, const T* x, const T* w, T* y, Req req, T* temp) {
                        conv_bwd_data_impl<T>(gf, in[0].dtype, x, w, y, req, temp);
                        if (!prm.no_bias) add_channel_bias(y, in[2].ptr<T>(), gf.n, gf.c, gf.d * gf.h * gf.w);
                      });
  });
}
#endif

#if BRASS_TRAINING
// _backward_Deconvolution_data(out_grad, weight, data): the transposed convolution's forward.
void deconv_bwd_data_cpu(const OpContext& ctx, const std::vector<TBlob>& in,
                         const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  ConvGeom g = deconv_geom(ctx.param<DeconvParam>(), in[2].shape, "_backward_Deconvolution_data");
  by_float(in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    channels_first<T>(g, ConvKernel::kForward, in[0], in[1], out[0], ctx.req[0], static_cast<T*>(ctx.temp),
                      [&](const ConvGeom& gf, const T* dy, const T* w, T* dx, Req req, T* temp) {
                        conv_fwd_impl<T>(gf, dy, w, nullptr, dx, req, temp);
                      });
  });
}

// _backward_Deconvolution_weight(out_grad, data): the transposed convolution's weight
// gradient, with the roles swapped (data as its output gradient, out_grad as its data).
void deconv_bwd_weight_cpu(const OpContext& ctx, const std::vector<TBlob>& in,
                           const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  ConvGeom g = deconv_geom(ctx.param<DeconvParam>(), in[1].shape,
                           "_backward_Deconvolution_weight");
  by_float(in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    channels_first<T>(g, ConvKernel::kWeight, in[0], in[1], out[0], ctx.req[0], static_cast<T*>(ctx.temp),
                      [&](const ConvGeom& gf, const T* dy, const T* x, T* dw, Req req, T* temp) {
                        conv_bwd_weight_impl<T>(gf, in[0].dtype, x, dy, dw, req, temp);
                      });
  });
}

// The parameters of a node with no_bias forced on (for the gradients, which are convolutions
// without bias).
grad::Params without_bias(const NodePtr& n) {
  grad::Params p;
  for (auto& kv : n->attrs->dict)
    if (kv.first != "no_bias") p.push_back(kv);
  p.emplace_back("no_bias", "True");
  return p;
}

// The axes a bias gradient sums over: all but the channels (axis 1, or the last).
const char* bias_axes(size_t nd, bool last) {
  if (last) return nd == 1 ? "(0, 1)" : nd == 2 ? "(0, 1, 2)" : "(0, 1, 2, 3)";
  return nd == 1 ? "(0, 2)" : nd == 2 ? "(0, 2, 3)" : "(0, 2, 3, 4)";
}

// Convolution and Deconvolution are bilinear in (data, weight), so every gradient is a
// convolution-like product again. For Convolution, with D(g, w) = _backward_Convolution_data
// and Wg(g, x) = _backward_Convolution_weight: <D(g, w), x> = <g, conv(x, w)> = <Wg(g, x), w>.
// Deconvolution(x, w) = D_c(x, w) for the convolution c it transposes, whose forward is
// _backward_Deconvolution_data and whose weight gradient Wg_c(a, b) is
// _backward_Deconvolution_weight(b, a).
template <bool Dc>
void register_gradients() {
  using grad::Entries;
  using E = NodeEntry;
  const char* fwd = Dc ? "Deconvolution" : "Convolution";
  const char* bdata = Dc ? "_backward_Deconvolution_data" : "_backward_Convolution_data";
  const char* bweight = Dc ? "_backward_Deconvolution_weight" : "_backward_Convolution_weight";
  OpRegistry::get().add(fwd).grad([=](const NodePtr& n, const Entries& og) {
    E x = grad::in(n, 0), w = grad::in(n, 1);
    if (og[0].empty()) return Entries(n->inputs.size());
    Entries r{grad::apply(bdata, {og[0], w, x}, n->attrs->dict),
              grad::apply(bweight, {og[0], x}, n->attrs->dict)};
    if (!no_bias<Dc>(*n->attrs)) {
      size_t nd = Dc ? n->attrs->param<DeconvParam>().kernel.size()
                     : n->attrs->param<ConvParam>().kernel.size();
      const auto& layout = Dc ? n->attrs->param<DeconvParam>().layout
                              : n->attrs->param<ConvParam>().layout;
      bool last = layout && *layout == conv_layout_last(int(nd));
      r.push_back(grad::apply("sum", {og[0]}, {{"axis", bias_axes(nd, last)}}));
    }
    return r;
  });
  // <H, bdata(g, w)> = <g, fwd(H, w)>: d/dg = fwd(H, w), d/dw = bweight(g, H).
  OpRegistry::get().add(bdata).grad([=](const NodePtr& n, const Entries& h) {
    E g = grad::in(n, 0), w = grad::in(n, 1);
    if (h[0].empty()) return Entries(3);
    return Entries{grad::apply(fwd, {h[0], w}, without_bias(n)),
                   grad::apply(bweight, {g, h[0]}, n->attrs->dict), E()};
  });
  // <H, bweight(g, x)> = <g, fwd(x, H)>: d/dg = fwd(x, H), d/dx = bdata(g, H).
  OpRegistry::get().add(bweight).grad([=](const NodePtr& n, const Entries& h) {
    E g = grad::in(n, 0), x = grad::in(n, 1);
    if (h[0].empty()) return Entries(2);
    return Entries{grad::apply(fwd, {x, h[0]}, without_bias(n)),
                   grad::apply(bdata, {g, h[0], x}, n->attrs->dict)};
  });
}
#endif  // BRASS_TRAINING

[[maybe_unused]] const bool kRegistered = [] {
#if BRASS_ALL_OPS || BRASS_OP_Convolution
  OpRegistry::get().add("Convolution")
      .describe("Convolution of NCW (1-D), NCHW (2-D) or NCDHW (3-D) data with num_filter "
                "filters (weight (num_filter, C/num_group, *kernel)), plus a bias unless "
                "no_bias:\n\n"
                "    out = floor((x + 2*pad - dilate*(kernel-1) - 1) / stride) + 1 per spatial "
                "dimension")
      .inputs({"data", "weight", "bias"})
      .set_num_inputs([](const NodeAttrs& a) { return a.param<ConvParam>().no_bias ? 2 : 3; })
      .params<ConvParam>()
      .shape_fn(fwd_shape<false>).type_fn(conv_float_type).partial_infer()
      .temp(col_temp<false>(0, ConvKernel::kForward))
      .reads_versions()
      .cpu(nn_dtype::cpu_small_floats(conv_forward_cpu));
#endif
#if BRASS_TRAINING
  OpRegistry::get().add("_backward_Convolution_data")
      .describe("The gradient of Convolution with respect to its data.")
      .inputs({"out_grad", "weight", "data"}).params<ConvParam>()
      .shape_fn(bwd_data_shape<false>).type_fn(conv_float_type).partial_infer()
      .temp(col_temp<false>(2, ConvKernel::kData))
      .add_req()
      .cpu(nn_dtype::cpu_small_floats(conv_bwd_data_cpu));
  OpRegistry::get().add("_backward_Convolution_weight")
      .describe("The gradient of Convolution with respect to its weight.")
      .inputs({"out_grad", "data"}).params<ConvParam>()
      .shape_fn(bwd_weight_shape<false>).type_fn(conv_float_type).partial_infer()
      .temp(col_temp<false>(1, ConvKernel::kWeight))
      .add_req()
      .cpu(nn_dtype::cpu_small_floats(conv_bwd_weight_cpu));
#endif
#if BRASS_ALL_OPS || BRASS_OP_Deconvolution
  OpRegistry::get().add("Deconvolution")
      .describe("Transposed convolution (the gradient of a convolution with respect to its "
                "data) of NCW, NCHW or NCDHW data: weight (C, num_filter/num_group, *kernel), "
                "bias (num_filter,) unless no_bias (True by default).\n\n"
                "    out = (x - 1)*stride - 2*pad + dilate*(kernel-1) + 1 + adj per spatial "
                "dimension\n\n"
                "With target_shape the output has that shape, pad and adj being computed "
                "from it.")
      .inputs({"data", "weight", "bias"})
      .set_num_inputs([](const NodeAttrs& a) { return a.param<DeconvParam>().no_bias ? 2 : 3; })
      .params<DeconvParam>()
      .shape_fn(fwd_shape<true>).type_fn(conv_float_type).partial_infer()
      .temp(col_temp<true>(0, ConvKernel::kData))
      .add_req()
      .cpu(nn_dtype::cpu_small_floats(deconv_forward_cpu));
#endif
#if BRASS_TRAINING
  OpRegistry::get().add("_backward_Deconvolution_data")
      .describe("The gradient of Deconvolution with respect to its data.")
      .inputs({"out_grad", "weight", "data"}).params<DeconvParam>()
      .shape_fn(bwd_data_shape<true>).type_fn(conv_float_type).partial_infer()
      .temp(col_temp<true>(2, ConvKernel::kForward))
      .add_req()
      .cpu(nn_dtype::cpu_small_floats(deconv_bwd_data_cpu));
  OpRegistry::get().add("_backward_Deconvolution_weight")
      .describe("The gradient of Deconvolution with respect to its weight.")
      .inputs({"out_grad", "data"}).params<DeconvParam>()
      .shape_fn(bwd_weight_shape<true>).type_fn(conv_float_type).partial_infer()
      .temp(col_temp<true>(1, ConvKernel::kWeight))
      .add_req()
      .cpu(nn_dtype::cpu_small_floats(deconv_bwd_weight_cpu));
  register_gradients<false>();
  register_gradients<true>();
#endif
  return true;
}();

}  // namespace conv_ops
}  // namespace brass
