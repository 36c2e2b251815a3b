// Parameters, shape logic and kernels of the spatial and sequence operators (nn/spatial.cc):
// Embedding, UpSampling, Pad, Crop, SequenceMask, SequenceLast, SequenceReverse, GridGenerator,
// BilinearSampler and their gradient ops. Every kernel is a functor over output elements with a BRASS_XINLINE body, and
// every op's host logic is a template over an executor `Exec` (op/cpu_exec.h describes it), so
// the CPU file (CpuExec) and the CUDA file (cuda/nn_spatial.cu, GpuExec) run the same code.
// Gradients are gathers (each output of a gradient sums its own inputs), never scatters, so
// both devices are deterministic and need no atomics.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/dtype.h"
#include "base/error.h"
#include "base/xinline.h"
#include "op/nn/nn_dtype.h"
#include "op/operator.h"

namespace brass {
namespace spatial_ops {

constexpr int kMaxAxes = 5;

// ---- Element access in the compute type (double for float64, float otherwise) --------------
BRASS_XINLINE float widen(float v) { return v; }
BRASS_XINLINE double widen(double v) { return v; }
BRASS_XINLINE float widen(half_t v) { return float(v); }
BRASS_XINLINE float widen(bf16_t v) { return float(v); }

// p[i] = v, or p[i] += v (Req::kAdd).
template <class T, class C>
BRASS_XINLINE void put(T* p, int64_t i, C v, bool add) {
  p[i] = T(add ? C(widen(p[i])) + v : v);
}

// ---- Parameters ------------------------------------------------------------------------------
struct EmbeddingParam {
  int64_t input_dim, output_dim;
  DType dtype;
  bool sparse_grad;
  static void declare(ParamSpec<EmbeddingParam>& s) {
    s.field("input_dim", &EmbeddingParam::input_dim).set_lower_bound(1)
        .describe("Vocabulary size: the number of rows of the weight.");
    s.field("output_dim", &EmbeddingParam::output_dim).set_lower_bound(0)
        .describe("Dimension of the embedding vectors: the number of columns of the weight.");
    s.field("dtype", &EmbeddingParam::dtype).set_default(DType::kFloat32)
        .describe("Data type of the weight and the output.");
    s.field("sparse_grad", &EmbeddingParam::sparse_grad).set_default(false)
        .describe("Accepted for compatibility; the gradient of the weight is always dense.");
  }
};

struct UpSamplingParam {
  Tuple scale;
  int64_t num_filter;
  std::string sample_type, multi_input_mode;
  int64_t num_args, workspace;
  static void declare(ParamSpec<UpSamplingParam>& s) {
    s.field("scale", &UpSamplingParam::scale)
        .describe("Up-sampling scale: an integer, or (h, w), or 4 values of which the last two "
                  "are used (different h and w only for nearest).");
    s.field("num_filter", &UpSamplingParam::num_filter).set_default(0).set_lower_bound(0)
        .describe("Bilinear only: the number of channels of the data.");
    s.field("sample_type", &UpSamplingParam::sample_type).set_choices({"nearest", "bilinear"})
        .describe("nearest: repeat each pixel; bilinear: a depthwise deconvolution with the "
                  "weight input.");
    s.field("multi_input_mode", &UpSamplingParam::multi_input_mode).set_default("concat")
        .set_choices({"concat", "sum"})
        .describe("Nearest with several inputs: concatenate the up-sampled inputs along the "
                  "channels, or add them.");
    s.field("num_args", &UpSamplingParam::num_args).set_lower_bound(1)
        .describe("Number of inputs: 1-N for nearest, 2 (data, weight) for bilinear.");
    s.field("workspace", &UpSamplingParam::workspace).set_default(512).set_range(0, 8192)
        .describe("Ignored (MXNet: deconvolution workspace in MB).");
  }
};

struct PadParam {
  std::string mode;
  Tuple pad_width;
  double constant_value;
  static void declare(ParamSpec<PadParam>& s) {
    s.field("mode", &PadParam::mode).set_choices({"constant", "edge", "reflect"})
        .describe("constant: pad with constant_value; edge: repeat the border values; reflect: "
                  "mirror the values next to the border (the border itself excluded).");
    s.field("pad_width", &PadParam::pad_width)
        .describe("(before_1, after_1, ..., before_N, after_N): 2 values per axis; the first 4 "
                  "(batch and channel axes) must be 0.");
    s.field("constant_value", &PadParam::constant_value).set_default(0.0)
        .describe("The padding value of mode constant.");
  }
};

struct CropParam {
  int64_t num_args;
  Tuple offset, h_w;
  bool center_crop;
  static void declare(ParamSpec<CropParam>& s) {
    s.field("num_args", &CropParam::num_args).set_range(1, 2)
        .describe("1: crop to h_w; 2: crop to the height and width of the second input.");
    s.field("offset", &CropParam::offset).set_default(Tuple{0, 0})
        .describe("(y, x) of the crop's top-left corner.");
    s.field("h_w", &CropParam::h_w).set_default(Tuple{0, 0})
        .describe("(height, width) of the crop, with one input.");
    s.field("center_crop", &CropParam::center_crop).set_default(false)
        .describe("Crop the center (offset ignored).");
  }
};

struct SequenceParam {
  bool use_sequence_length;
  double value;
  int64_t axis;
  static void declare(ParamSpec<SequenceParam>& s) {
    s.field("use_sequence_length", &SequenceParam::use_sequence_length).set_default(false)
        .describe("Take the length of each sequence from the sequence_length input (else every "
                  "sequence is the full length).");
    s.field("value", &SequenceParam::value).set_default(0.0)
        .describe("SequenceMask: the value of masked elements.");
    s.field("axis", &SequenceParam::axis).set_default(0)
        .describe("The time axis: 0 (data (T, B, ...)) or 1 (data (B, T, ...)).");
  }
};

// ---- Separable gathers (Pad, Crop, nearest UpSampling) ----------------------------------------
// Output coordinate o on axis d reads input coordinate map_d(o) (-1: outside, the fill value).
// The table holds each axis's map, and its inverse as CSR (for each input coordinate, the
// output coordinates that read it), so the adjoint is a gather too. The output may be a slice
// of a larger array (out_base, out_strides: UpSampling's channel blocks).
struct AxisGather {
  int nd = 0;
  int64_t in_dims[kMaxAxes], out_dims[kMaxAxes];
  int64_t in_strides[kMaxAxes], out_strides[kMaxAxes];
  int64_t out_base = 0;
  int64_t fwd[kMaxAxes];  // where axis d's map starts in the table
  int64_t inv[kMaxAxes];  // where axis d's CSR offsets start (in_dims[d] + 1 absolute positions)
  const int64_t* table = nullptr;
};

// Builds the geometry and its table from per-axis maps; in: the input's shape; out_strides:
// the element strides of the output (empty: contiguous in the maps' extents).
inline AxisGather build_gather(const std::vector<std::vector<int64_t>>& maps, const Shape& in,
                               std::vector<int64_t> out_strides, int64_t out_base,
                               std::vector<int64_t>& table) {
  AxisGather g;
  g.nd = int(maps.size());
  g.out_base = out_base;
  int64_t si = 1, so = 1;
  for (int d = g.nd - 1; d >= 0; --d) {
    g.in_dims[d] = in[d];
    g.out_dims[d] = int64_t(maps[d].size());
    g.in_strides[d] = si;
    g.out_strides[d] = out_strides.empty() ? so : out_strides[size_t(d)];
    si *= in[d];
    so *= g.out_dims[d];
  }
  for (int d = 0; d < g.nd; ++d) {
    g.fwd[d] = int64_t(table.size());
    table.insert(table.end(), maps[d].begin(), maps[d].end());
    // CSR: counts per input coordinate, then the output coordinates in increasing order.
    int64_t n = in[d];
    std::vector<int64_t> start(size_t(n + 1), 0);
    for (int64_t s : maps[d])
      if (s >= 0) ++start[size_t(s + 1)];
    for (int64_t x = 0; x < n; ++x) start[size_t(x + 1)] += start[size_t(x)];
    g.inv[d] = int64_t(table.size());
    int64_t list_at = g.inv[d] + n + 1;
    for (int64_t x = 0; x <= n; ++x) table.push_back(list_at + start[size_t(x)]);
    std::vector<int64_t> list(static_cast<size_t>(start[size_t(n)]));
    std::vector<int64_t> fill(start.begin(), start.end() - 1);
    for (int64_t o = 0; o < int64_t(maps[d].size()); ++o)
      if (maps[d][size_t(o)] >= 0) list[size_t(fill[size_t(maps[d][size_t(o)])]++)] = o;
    table.insert(table.end(), list.begin(), list.end());
  }
  return g;
}

inline int64_t gather_out_size(const AxisGather& g) {
  int64_t n = 1;
  for (int d = 0; d < g.nd; ++d) n *= g.out_dims[d];
  return n;
}

// y[slot of output element i] = x[map(i)] or fill.
template <class T, class C>
struct GatherFwd {
  AxisGather g;
  const T* x;
  T* y;
  C fill;
  bool add;
  BRASS_XINLINE void operator()(int64_t i) const {
    int64_t src = 0, dst = g.out_base;
    bool inside = true;
    for (int d = g.nd - 1; d >= 0; --d) {
      int64_t o = i % g.out_dims[d];
      i /= g.out_dims[d];
      int64_t s = g.table[g.fwd[d] + o];
      if (s < 0) inside = false; else src += s * g.in_strides[d];
      dst += o * g.out_strides[d];
    }
    put(y, dst, inside ? C(widen(x[src])) : fill, add);
  }
};

// The adjoint: dx[i] = sum of dy over the output elements that read input element i.
template <class T, class C>
struct GatherAdj {
  AxisGather g;
  const T* dy;
  T* dx;
  bool add;
  BRASS_XINLINE void operator()(int64_t i) const {
    int64_t lo[kMaxAxes], hi[kMaxAxes], k[kMaxAxes];
    int64_t rem = i;
    bool empty = false;
    for (int d = g.nd - 1; d >= 0; --d) {
      int64_t x = rem % g.in_dims[d];
      rem /= g.in_dims[d];
      lo[d] = k[d] = g.table[g.inv[d] + x];
      hi[d] = g.table[g.inv[d] + x + 1];
      empty = empty || lo[d] == hi[d];
    }
    C s = C(0);
    while (!empty) {  // every combination of the axes' output coordinates, in a fixed order
      int64_t off = g.out_base;
      for (int d = 0; d < g.nd; ++d) off += g.table[k[d]] * g.out_strides[d];
      s += C(widen(dy[off]));
      int d = g.nd - 1;
      while (d >= 0 && ++k[d] == hi[d]) {  // odometer step
        k[d] = lo[d];
        --d;
      }
      if (d < 0) break;
    }
    put(dx, i, s, add);
  }
};

template <class Exec>
void run_gather(Exec& ex, const std::vector<std::vector<int64_t>>& maps, const TBlob& x,
                const TBlob& y, double fill, bool add, const char* op,
                std::vector<int64_t> out_strides = {}, int64_t out_base = 0) {
  std::vector<int64_t> table;
  AxisGather g = build_gather(maps, x.shape, std::move(out_strides), out_base, table);
  g.table = ex.upload(std::move(table));
  nn_dtype::dispatch_float(x.dtype, op, [&](auto tag) {
    using T = decltype(tag);
    using C = nn_dtype::Compute<T>;
    ex.run(gather_out_size(g), GatherFwd<T, C>{g, x.ptr<T>(), y.ptr<T>(), C(fill), add});
  });
}

template <class Exec>
void run_gather_adj(Exec& ex, const std::vector<std::vector<int64_t>>& maps, const TBlob& dy,
                    const TBlob& dx, bool add, const char* op,
                    std::vector<int64_t> out_strides = {}, int64_t out_base = 0) {
  std::vector<int64_t> table;
  AxisGather g = build_gather(maps, dx.shape, std::move(out_strides), out_base, table);
  g.table = ex.upload(std::move(table));
  nn_dtype::dispatch_float(dx.dtype, op, [&](auto tag) {
    using T = decltype(tag);
    using C = nn_dtype::Compute<T>;
    ex.run(dx.size(), GatherAdj<T, C>{g, dy.ptr<T>(), dx.ptr<T>(), add});
  });
}

inline std::vector<int64_t> identity_map(int64_t n) {
  std::vector<int64_t> m(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) m[size_t(i)] = i;
  return m;
}

// ---- Pad ---------------------------------------------------------------------------------------
// Checks the parameters against the data shape; returns the output shape.
inline Shape pad_out_shape(const PadParam& p, const Shape& x, const char* op) {
  int nd = x.ndim();
  if (nd != 4 && nd != 5)
    fail(BRASS_ERR_SHAPE, op, ": only 4-D and 5-D data is supported, got data ", x.str());
  if (int64_t(p.pad_width.size()) != 2 * nd)
    fail(BRASS_ERR_SHAPE, op, ": pad_width must hold 2 values per axis (", 2 * nd,
         " for data ", x.str(), "), got ", p.pad_width.size());
  for (int i = 0; i < 4; ++i)
    if (p.pad_width[size_t(i)] != 0)
      fail(BRASS_ERR_SHAPE, op, ": padding of the batch and channel axes is not supported: "
           "the first 4 values of pad_width must be 0, got ", parse::tuple_str(p.pad_width));
  Shape o = x;
  for (int d = 0; d < nd; ++d) {
    int64_t b = p.pad_width[size_t(2 * d)], a = p.pad_width[size_t(2 * d + 1)];
    if (b < 0 || a < 0)
      fail(BRASS_ERR_SHAPE, op, ": pad_width must not be negative, got ", parse::tuple_str(p.pad_width));
    if (x[d] >= 0) {
      if (p.mode == "reflect" && a + b > 0 && (b >= x[d] || a >= x[d]))
        fail(BRASS_ERR_SHAPE, op, ": reflect padding needs pad widths smaller than the axis "
             "extent; axis ", d, " of data ", x.str(), " has extent ", x[d], ", pad_width ",
             parse::tuple_str(p.pad_width));
      if (p.mode == "edge" && x[d] == 0 && a + b > 0)
        fail(BRASS_ERR_SHAPE, op, ": edge padding of the empty axis ", d, " of data ", x.str());
      o[d] = x[d] + a + b;
    }
  }
  return o;
}

inline std::vector<std::vector<int64_t>> pad_maps(const PadParam& p, const Shape& x) {
  std::vector<std::vector<int64_t>> maps;
  for (int d = 0; d < x.ndim(); ++d) {
    int64_t b = p.pad_width[size_t(2 * d)], n = x[d];
    int64_t out = n + b + p.pad_width[size_t(2 * d + 1)];
    std::vector<int64_t> m(static_cast<size_t>(out));
    for (int64_t o = 0; o < out; ++o) {
      int64_t s = o - b;
      if (s < 0 || s >= n) {
        if (p.mode == "constant") s = -1;
        else if (p.mode == "edge") s = s < 0 ? 0 : n - 1;
        else s = s < 0 ? -s : 2 * (n - 1) - s;  // reflect (pads < n: one reflection)
      }
      m[size_t(o)] = s;
    }
    maps.push_back(std::move(m));
  }
  return maps;
}

template <class Exec>
void pad_forward(Exec& ex, const OpContext& ctx, const std::vector<TBlob>& in,
                 const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  const auto& p = ctx.param<PadParam>();
  pad_out_shape(p, in[0].shape, "Pad");
  run_gather(ex, pad_maps(p, in[0].shape), in[0], out[0], p.constant_value,
             ctx.req[0] == Req::kAdd, "Pad");
}

// _backward_Pad(ograd, data): the gradient of data.
template <class Exec>
void pad_backward(Exec& ex, const OpContext& ctx, const std::vector<TBlob>& in,
                  const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  const auto& p = ctx.param<PadParam>();
  run_gather_adj(ex, pad_maps(p, out[0].shape), in[0], out[0], ctx.req[0] == Req::kAdd,
                 "_backward_Pad");
}

// ---- Crop --------------------------------------------------------------------------------------
struct CropBox {
  int64_t h, w, y, x;
};

// The crop of data (N, C, H, W) to (h, w) at (y, x): from h_w or the second input's shape.
inline CropBox crop_box(const CropParam& p, const Shape& data, const Shape* like) {
  const char* op = "Crop";
  if (data.ndim() != 4)
    fail(BRASS_ERR_SHAPE, op, ": data must be 4-D (N, C, H, W), got ", data.str());
  CropBox b{};
  if (p.num_args == 2) {
    if (like->ndim() != 4)
      fail(BRASS_ERR_SHAPE, op, ": crop_like must be 4-D (N, C, H, W), got ", like->str());
    b.h = (*like)[2];
    b.w = (*like)[3];
  } else {
    if (p.h_w.size() != 2)
      fail(BRASS_ERR_SHAPE, op, ": h_w must hold 2 values, got ", parse::tuple_str(p.h_w));
    b.h = p.h_w[0];
    b.w = p.h_w[1];
  }
  if (p.offset.size() != 2)
    fail(BRASS_ERR_SHAPE, op, ": offset must hold 2 values, got ", parse::tuple_str(p.offset));
  if (b.h < 1 || b.w < 1 || b.h > data[2] || b.w > data[3])
    fail(BRASS_ERR_SHAPE, op, ": the crop (", b.h, ", ", b.w, ") must be positive and fit in "
         "data ", data.str());
  if (p.center_crop) {
    b.y = (data[2] - b.h) / 2;
    b.x = (data[3] - b.w) / 2;
  } else {
    b.y = p.offset[0];
    b.x = p.offset[1];
    if (b.y < 0 || b.x < 0 || b.y + b.h > data[2] || b.x + b.w > data[3])
      fail(BRASS_ERR_SHAPE, op, ": offset ", parse::tuple_str(p.offset), " with crop (", b.h, ", ",
           b.w, ") exceeds data ", data.str());
  }
  return b;
}

// data: in[0]; crop_like: in[1] when num_args is 2.
inline std::vector<std::vector<int64_t>> crop_maps(const CropParam& p, const Shape& x,
                                                   const Shape* like) {
  CropBox b = crop_box(p, x, p.num_args == 2 ? like : nullptr);
  std::vector<std::vector<int64_t>> maps{identity_map(x[0]), identity_map(x[1]),
                                         identity_map(b.h), identity_map(b.w)};
  for (auto& v : maps[2]) v += b.y;
  for (auto& v : maps[3]) v += b.x;
  return maps;
}

template <class Exec>
void crop_forward(Exec& ex, const OpContext& ctx, const std::vector<TBlob>& in,
                  const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  const auto& p = ctx.param<CropParam>();
  auto maps = crop_maps(p, in[0].shape, in.size() > 1 ? &in[1].shape : nullptr);
  run_gather(ex, maps, in[0], out[0], 0.0, ctx.req[0] == Req::kAdd, "Crop");
}

// _backward_Crop(ograd, data, [crop_like]): ograd in the cropped window, zeros elsewhere.
template <class Exec>
void crop_backward(Exec& ex, const OpContext& ctx, const std::vector<TBlob>& in,
                   const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  const auto& p = ctx.param<CropParam>();
  auto maps = crop_maps(p, in[1].shape, in.size() > 2 ? &in[2].shape : nullptr);
  run_gather_adj(ex, maps, in[0], out[0], ctx.req[0] == Req::kAdd, "_backward_Crop");
}

// ---- UpSampling (nearest) ----------------------------------------------------------------------
// (scale_h, scale_w) from the scale tuple.
inline std::pair<int64_t, int64_t> scale_hw(const UpSamplingParam& p, const char* op) {
  const Tuple& s = p.scale;
  std::pair<int64_t, int64_t> r;
  if (s.size() == 1) r = {s[0], s[0]};
  else if (s.size() == 2) r = {s[0], s[1]};
  else if (s.size() == 4) r = {s[2], s[3]};
  else fail(BRASS_ERR_INVALID_ARGUMENT, op, ": scale must hold 1, 2 or 4 values, got ", parse::tuple_str(s));
  if (r.first < 1 || r.second < 1)
    fail(BRASS_ERR_INVALID_ARGUMENT, op, ": scale must be positive, got ", parse::tuple_str(s));
  return r;
}

inline bool is_bilinear(const UpSamplingParam& p) { return p.sample_type == "bilinear"; }

// Bilinear: the deconvolution's kernel size, stride and padding (as MXNet derives them).
struct BilinearGeom {
  int64_t k, s, pad;
};
inline BilinearGeom bilinear_geom(const UpSamplingParam& p, const char* op) {
  auto hw = scale_hw(p, op);
  if (hw.first != hw.second)
    fail(BRASS_ERR_INVALID_ARGUMENT, op, ": bilinear up-sampling needs the same scale along "
         "height and width, got ", parse::tuple_str(p.scale));
  int64_t s = hw.first;
  return BilinearGeom{2 * s - s % 2, s, s / 2};  // pad = ceil((s - 1) / 2)
}

// The output shape of nearest up-sampling of inputs `in` (all known, 4-D).
inline Shape upsampling_nearest_shape(const UpSamplingParam& p, const std::vector<Shape>& in,
                                      const char* op) {
  auto hw = scale_hw(p, op);
  Shape o = in[0];
  if (o.ndim() != 4) fail(BRASS_ERR_SHAPE, op, ": inputs must be 4-D (N, C, H, W), got ", o.str());
  int64_t oh = in[0][2] * hw.first, ow = in[0][3] * hw.second;
  o[1] = 0;
  for (size_t k = 0; k < in.size(); ++k) {
    const Shape& s = in[k];
    if (s.ndim() != 4 || s[0] != in[0][0])
      fail(BRASS_ERR_SHAPE, op, ": input ", k, " must be 4-D with batch ", in[0][0], ", got ", s.str());
    if (s[2] < 1 || s[3] < 1 || oh % s[2] != 0 || ow % s[3] != 0)
      fail(BRASS_ERR_SHAPE, op, ": input ", k, " ", s.str(), " does not divide the output size (",
           oh, ", ", ow, ")");
    if (p.multi_input_mode == "sum" && in.size() > 1) {
      if (k > 0 && s[1] != o[1])
        fail(BRASS_ERR_SHAPE, op, ": multi_input_mode 'sum' needs equal channels, got ", in[0].str(),
             " and ", s.str());
      o[1] = s[1];
    } else {
      o[1] += s[1];
    }
  }
  o[2] = oh;
  o[3] = ow;
  return o;
}

// The maps of an input x into an output o (N, C', OH, OW): each pixel repeated OH / H times
// down and OW / W times across (the caller places the channel block).
inline std::vector<std::vector<int64_t>> upsampling_maps(const Shape& x, const Shape& o) {
  std::vector<std::vector<int64_t>> maps{identity_map(x[0]), identity_map(x[1]),
                                         identity_map(o[2]), identity_map(o[3])};
  int64_t sh = o[2] / x[2], sw = o[3] / x[3];
  for (auto& v : maps[2]) v /= sh;
  for (auto& v : maps[3]) v /= sw;
  return maps;
}

inline std::vector<int64_t> contiguous_strides(const Shape& s) {
  std::vector<int64_t> st(static_cast<size_t>(s.ndim()));
  int64_t m = 1;
  for (int d = s.ndim() - 1; d >= 0; --d) {
    st[size_t(d)] = m;
    m *= s[d];
  }
  return st;
}

template <class Exec>
void upsampling_nearest_forward(Exec& ex, const OpContext& ctx, const std::vector<TBlob>& in,
                                const std::vector<TBlob>& out) {
  const auto& p = ctx.param<UpSamplingParam>();
  const Shape& o = out[0].shape;
  bool sum = p.multi_input_mode == "sum" && in.size() > 1;
  int64_t c0 = 0;
  for (size_t k = 0; k < in.size(); ++k) {
    bool add = ctx.req[0] == Req::kAdd || (sum && k > 0);
    run_gather(ex, upsampling_maps(in[k].shape, o), in[k], out[0], 0.0, add, "UpSampling",
               contiguous_strides(o), sum ? 0 : c0 * o[2] * o[3]);
    c0 += in[k].shape[1];
  }
}

// _backward_UpSampling (nearest): inputs (ograd, the forward inputs), one gradient per input.
template <class Exec>
void upsampling_nearest_backward(Exec& ex, const OpContext& ctx, const std::vector<TBlob>& in,
                                 const std::vector<TBlob>& out) {
  const auto& p = ctx.param<UpSamplingParam>();
  const Shape& o = in[0].shape;
  bool sum = p.multi_input_mode == "sum" && out.size() > 1;
  int64_t c0 = 0;
  for (size_t k = 0; k < out.size(); ++k) {
    if (ctx.req[k] != Req::kNull)
      run_gather_adj(ex, upsampling_maps(out[k].shape, o), in[0], out[k],
                     ctx.req[k] == Req::kAdd, "_backward_UpSampling", contiguous_strides(o),
                     sum ? 0 : c0 * o[2] * o[3]);
    c0 += out[k].shape[1];
  }
}

// ---- UpSampling (bilinear): a depthwise transposed convolution --------------------------------
// y[n, c, oy, ox] = sum over (iy, ky) with oy = iy*s - pad + ky (and likewise x) of
// x[n, c, iy, ix] * w[c, 0, ky, kx]. Three gathers: the forward, the data gradient (a strided
// correlation of dy with w) and the weight gradient (per weight element, over n, iy, ix).
struct DeconvDims {
  int64_t n, c, h, w, oh, ow, k, s, pad;
};

template <class T, class C>
struct DeconvFwd {  // over output elements
  DeconvDims d;
  const T* x;
  const T* wt;
  T* y;
  bool add;
  BRASS_XINLINE void operator()(int64_t i) const {
    int64_t ox = i % d.ow, oy = (i / d.ow) % d.oh, nc = i / (d.ow * d.oh), c = nc % d.c;
    C acc = C(0);
    // ky = oy + pad - iy*s: ky with the residue of (oy + pad) mod s, then iy from it.
    for (int64_t ky = (oy + d.pad) % d.s; ky < d.k; ky += d.s) {
      int64_t iy = (oy + d.pad - ky) / d.s;
      if (iy < 0 || iy >= d.h) continue;
      for (int64_t kx = (ox + d.pad) % d.s; kx < d.k; kx += d.s) {
        int64_t ix = (ox + d.pad - kx) / d.s;
        if (ix < 0 || ix >= d.w) continue;
        acc += C(widen(x[(nc * d.h + iy) * d.w + ix])) * C(widen(wt[(c * d.k + ky) * d.k + kx]));
      }
    }
    put(y, i, acc, add);
  }
};

template <class T, class C>
struct DeconvDataGrad {  // over data elements: dx = sum_k dy[iy*s - pad + ky, ...] * w[ky, kx]
  DeconvDims d;
  const T* dy;
  const T* wt;
  T* dx;
  bool add;
  BRASS_XINLINE void operator()(int64_t i) const {
    int64_t ix = i % d.w, iy = (i / d.w) % d.h, nc = i / (d.w * d.h), c = nc % d.c;
    C acc = C(0);
    for (int64_t ky = 0; ky < d.k; ++ky) {
      int64_t oy = iy * d.s - d.pad + ky;
      if (oy < 0 || oy >= d.oh) continue;
      for (int64_t kx = 0; kx < d.k; ++kx) {
        int64_t ox = ix * d.s - d.pad + kx;
        if (ox < 0 || ox >= d.ow) continue;
        acc += C(widen(dy[(nc * d.oh + oy) * d.ow + ox])) * C(widen(wt[(c * d.k + ky) * d.k + kx]));
      }
    }
    put(dx, i, acc, add);
  }
};

template <class T, class C>
struct DeconvWeightGrad {  // over weight elements: dw[c, ky, kx] = sum_{n,iy,ix} x * dy
  DeconvDims d;
  const T* dy;
  const T* x;
  T* dw;
  bool add;
  BRASS_XINLINE void operator()(int64_t i) const {
    int64_t kx = i % d.k, ky = (i / d.k) % d.k, c = i / (d.k * d.k);
    C acc = C(0);
    for (int64_t n = 0; n < d.n; ++n) {
      int64_t nc = n * d.c + c;
      for (int64_t iy = 0; iy < d.h; ++iy) {
        int64_t oy = iy * d.s - d.pad + ky;
        if (oy < 0 || oy >= d.oh) continue;
        for (int64_t ix = 0; ix < d.w; ++ix) {
          int64_t ox = ix * d.s - d.pad + kx;
          if (ox < 0 || ox >= d.ow) continue;
          acc += C(widen(x[(nc * d.h + iy) * d.w + ix])) * C(widen(dy[(nc * d.oh + oy) * d.ow + ox]));
        }
      }
    }
    put(dw, i, acc, add);
  }
};

// The bilinear geometry of data shape x, checked against num_filter.
inline DeconvDims deconv_dims(const UpSamplingParam& p, const Shape& x, const char* op) {
  BilinearGeom g = bilinear_geom(p, op);
  if (x.ndim() != 4) fail(BRASS_ERR_SHAPE, op, ": data must be 4-D (N, C, H, W), got ", x.str());
  if (p.num_filter != x[1])
    fail(BRASS_ERR_SHAPE, op, ": bilinear needs num_filter equal to the data's channels; "
         "num_filter ", p.num_filter, ", data ", x.str());
  return DeconvDims{x[0], x[1], x[2], x[3], x[2] * g.s, x[3] * g.s, g.k, g.s, g.pad};
}

inline Shape bilinear_weight_shape(const DeconvDims& d) { return Shape{d.c, 1, d.k, d.k}; }

template <class Exec>
void upsampling_bilinear_forward(Exec& ex, const OpContext& ctx, const std::vector<TBlob>& in,
                                 const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  DeconvDims d = deconv_dims(ctx.param<UpSamplingParam>(), in[0].shape, "UpSampling");
  nn_dtype::dispatch_float(in[0].dtype, "UpSampling", [&](auto tag) {
    using T = decltype(tag);
    using C = nn_dtype::Compute<T>;
    ex.run(out[0].size(), DeconvFwd<T, C>{d, in[0].ptr<T>(), in[1].ptr<T>(), out[0].ptr<T>(),
                                          ctx.req[0] == Req::kAdd});
  });
}

// _backward_UpSampling (bilinear): inputs (ograd, data, weight); outputs (d data, d weight).
template <class Exec>
void upsampling_bilinear_backward(Exec& ex, const OpContext& ctx, const std::vector<TBlob>& in,
                                  const std::vector<TBlob>& out) {
  DeconvDims d = deconv_dims(ctx.param<UpSamplingParam>(), in[1].shape, "_backward_UpSampling");
  nn_dtype::dispatch_float(in[0].dtype, "_backward_UpSampling", [&](auto tag) {
    using T = decltype(tag);
    using C = nn_dtype::Compute<T>;
    if (ctx.req[0] != Req::kNull)
      ex.run(out[0].size(), DeconvDataGrad<T, C>{d, in[0].ptr<T>(), in[2].ptr<T>(),
                                                 out[0].ptr<T>(), ctx.req[0] == Req::kAdd});
    if (ctx.req[1] != Req::kNull)
      ex.run(out[1].size(), DeconvWeightGrad<T, C>{d, in[0].ptr<T>(), in[1].ptr<T>(),
                                                   out[1].ptr<T>(), ctx.req[1] == Req::kAdd});
  });
}

template <class Exec>
void upsampling_forward(Exec& ex, const OpContext& ctx, const std::vector<TBlob>& in,
                        const std::vector<TBlob>& out) {
  if (is_bilinear(ctx.param<UpSamplingParam>())) upsampling_bilinear_forward(ex, ctx, in, out);
  else if (ctx.req[0] != Req::kNull) upsampling_nearest_forward(ex, ctx, in, out);
}

template <class Exec>
void upsampling_backward(Exec& ex, const OpContext& ctx, const std::vector<TBlob>& in,
                         const std::vector<TBlob>& out) {
  if (is_bilinear(ctx.param<UpSamplingParam>())) upsampling_bilinear_backward(ex, ctx, in, out);
  else upsampling_nearest_backward(ex, ctx, in, out);
}

// ---- Embedding ---------------------------------------------------------------------------------
// Row of index value v: truncated toward zero, then clipped to [0, rows - 1] (NaN: row 0).
BRASS_XINLINE int64_t embed_row(double v, int64_t rows) {
  if (!(v >= 1)) return 0;
  if (v >= double(rows - 1)) return rows - 1;
  return int64_t(v);
}

template <class T, class I>
struct EmbedFwd {  // over output elements (j, c): weight[row(data[j]), c]
  const I* idx;
  const T* wt;
  T* y;
  int64_t rows, dim;
  bool add;
  BRASS_XINLINE void operator()(int64_t i) const {
    int64_t j = i / dim, c = i % dim;
    int64_t r = embed_row(double(widen_index(idx[j])), rows);
    put(y, i, nn_dtype::Compute<T>(widen(wt[r * dim + c])), add);
  }
  // Any index dtype to a number (float16/bfloat16 through float).
  template <class V> BRASS_XINLINE static double widen_index(V v) { return double(v); }
  BRASS_XINLINE static double widen_index(half_t v) { return double(float(v)); }
  BRASS_XINLINE static double widen_index(bf16_t v) { return double(float(v)); }
};

template <class Exec>
void embedding_forward(Exec& ex, const OpContext& ctx, const std::vector<TBlob>& in,
                       const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  const auto& p = ctx.param<EmbeddingParam>();
  nn_dtype::dispatch_float(in[1].dtype, "Embedding", [&](auto tag) {
    using T = decltype(tag);
    dispatch_dtype(in[0].dtype, [&](auto itag) {
      using I = decltype(itag);
      ex.run(out[0].size(), EmbedFwd<T, I>{in[0].ptr<I>(), in[1].ptr<T>(), out[0].ptr<T>(),
                                           p.input_dim, p.output_dim, ctx.req[0] == Req::kAdd});
      return 0;
    });
  });
}

template <class T, class C>
struct EmbedGrad {  // over weight elements (r, c): the sum of ograd rows whose index is r
  const int64_t* table;  // rows + 1 offsets into the list of positions, then the list
  const T* dy;
  T* dw;
  int64_t dim;
  bool add;
  BRASS_XINLINE void operator()(int64_t i) const {
    int64_t r = i / dim, c = i % dim;
    C s = C(0);
    for (int64_t k = table[r]; k < table[r + 1]; ++k) s += C(widen(dy[table[k] * dim + c]));
    put(dw, i, s, add);
  }
};

// _backward_Embedding(ograd, data): the gradient of the weight, (input_dim, output_dim).
template <class Exec>
void embedding_backward(Exec& ex, const OpContext& ctx, const std::vector<TBlob>& in,
                        const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  const auto& p = ctx.param<EmbeddingParam>();
  std::vector<double> idx = ex.host_values(in[1]);
  int64_t rows = p.input_dim, n = int64_t(idx.size());
  // Positions grouped by row (a counting sort, positions increasing within a row).
  std::vector<int64_t> table(size_t(rows + 1 + n), 0);
  std::vector<int64_t> row(static_cast<size_t>(n));
  for (int64_t j = 0; j < n; ++j) {
    row[size_t(j)] = embed_row(idx[size_t(j)], rows);
    ++table[size_t(row[size_t(j)] + 1)];
  }
  table[0] = rows + 1;
  for (int64_t r = 0; r < rows; ++r) table[size_t(r + 1)] += table[size_t(r)];
  std::vector<int64_t> fill(table.begin(), table.begin() + rows);
  for (int64_t j = 0; j < n; ++j) table[size_t(fill[size_t(row[size_t(j)])]++)] = j;
  const int64_t* t = ex.upload(std::move(table));
  nn_dtype::dispatch_float(in[0].dtype, "_backward_Embedding", [&](auto tag) {
    using T = decltype(tag);
    using C = nn_dtype::Compute<T>;
    ex.run(out[0].size(), EmbedGrad<T, C>{t, in[0].ptr<T>(), out[0].ptr<T>(), p.output_dim,
                                          ctx.req[0] == Req::kAdd});
  });
}

// ---- Sequence ops ------------------------------------------------------------------------------
// Data viewed as (T, B, R) (axis 0) or (B, T, R) (axis 1).
struct SeqDims {
  int64_t t, b, r;
  int axis;
  // (time, batch) of element i of the data.
  BRASS_XINLINE void split(int64_t i, int64_t& ti, int64_t& bi) const {
    int64_t q = i / r;
    if (axis == 0) { ti = q / b; bi = q % b; } else { bi = q / t; ti = q % t; }
  }
  BRASS_XINLINE int64_t at(int64_t ti, int64_t bi, int64_t ri) const {
    return (axis == 0 ? ti * b + bi : bi * t + ti) * r + ri;
  }
};

inline SeqDims seq_dims(const SequenceParam& p, const Shape& x, const char* op, bool axis0_only) {
  if (axis0_only && p.axis != 0)
    fail(BRASS_ERR_INVALID_ARGUMENT, op, ": only axis 0 is supported, got axis ", p.axis);
  if (p.axis != 0 && p.axis != 1)
    fail(BRASS_ERR_INVALID_ARGUMENT, op, ": axis must be 0 or 1, got ", p.axis);
  if (x.ndim() < 2)
    fail(BRASS_ERR_SHAPE, op, ": data must have at least 2 axes (time and batch), got ", x.str());
  SeqDims d;
  d.axis = int(p.axis);
  d.t = x[d.axis];
  d.b = x[1 - d.axis];
  d.r = 1;
  for (int i = 2; i < x.ndim(); ++i) d.r *= x[i];
  return d;
}

// The lengths of the sequences as integers (truncated toward zero), checked to lie in
// [lo, T] when `check`; without use_sequence_length, T for every sequence.
template <class Exec>
std::vector<int64_t> seq_lengths(Exec& ex, const SequenceParam& p, const std::vector<TBlob>& in,
                                 const SeqDims& d, const char* op, bool check, int64_t lo) {
  std::vector<int64_t> len(size_t(d.b), d.t);
  if (!p.use_sequence_length) return len;
  std::vector<double> v = ex.host_values(in[1]);
  for (int64_t b = 0; b < d.b; ++b) {
    double x = v[size_t(b)];
    if (check && !(x >= double(lo) && x < double(d.t) + 1))
      fail(BRASS_ERR_INVALID_ARGUMENT, op, ": sequence_length[", b, "] = ", x,
           " is out of range [", lo, ", ", d.t, "]");
    // Truncated toward zero; NaN as 0 and huge values clamped (only SequenceMask gets here
    // unchecked, where any length >= T or <= 0 means the same).
    len[size_t(b)] = !(x == x) ? 0 : x > 9e18 ? int64_t(9e18) : x < -9e18 ? int64_t(-9e18) : int64_t(x);
  }
  return len;
}

template <class T, class C>
struct SeqMaskFwd {
  SeqDims d;
  const int64_t* len;
  const T* x;
  T* y;
  C value;
  bool add;
  BRASS_XINLINE void operator()(int64_t i) const {
    int64_t t, b;
    d.split(i, t, b);
    put(y, i, t < len[b] ? C(widen(x[i])) : value, add);
  }
};

// SequenceMask(data, [sequence_length]); value: the fill (the gradient uses 0).
template <class Exec>
void seq_mask_forward(Exec& ex, const OpContext& ctx, const std::vector<TBlob>& in,
                      const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  const auto& p = ctx.param<SequenceParam>();
  SeqDims d = seq_dims(p, in[0].shape, "SequenceMask", false);
  const int64_t* len = ex.upload(seq_lengths(ex, p, in, d, "SequenceMask", false, 0));
  nn_dtype::dispatch_float(in[0].dtype, "SequenceMask", [&](auto tag) {
    using T = decltype(tag);
    using C = nn_dtype::Compute<T>;
    ex.run(in[0].size(), SeqMaskFwd<T, C>{d, len, in[0].ptr<T>(), out[0].ptr<T>(), C(p.value),
                                          ctx.req[0] == Req::kAdd});
  });
}

template <class T, class C>
struct SeqReverseFwd {
  SeqDims d;
  const int64_t* len;
  const T* x;
  T* y;
  bool add;
  BRASS_XINLINE void operator()(int64_t i) const {
    int64_t t, b;
    d.split(i, t, b);
    int64_t src = t < len[b] ? d.at(len[b] - 1 - t, b, i % d.r) : i;
    put(y, i, C(widen(x[src])), add);
  }
};

template <class Exec>
void seq_reverse_forward(Exec& ex, const OpContext& ctx, const std::vector<TBlob>& in,
                         const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  const auto& p = ctx.param<SequenceParam>();
  SeqDims d = seq_dims(p, in[0].shape, "SequenceReverse", true);
  const int64_t* len = ex.upload(seq_lengths(ex, p, in, d, "SequenceReverse", true, 0));
  nn_dtype::dispatch_float(in[0].dtype, "SequenceReverse", [&](auto tag) {
    using T = decltype(tag);
    using C = nn_dtype::Compute<T>;
    ex.run(in[0].size(), SeqReverseFwd<T, C>{d, len, in[0].ptr<T>(), out[0].ptr<T>(),
                                             ctx.req[0] == Req::kAdd});
  });
}

template <class T, class C>
struct SeqLastFwd {  // over output elements (b, r)
  SeqDims d;
  const int64_t* len;
  const T* x;
  T* y;
  bool add;
  BRASS_XINLINE void operator()(int64_t i) const {
    int64_t b = i / d.r;
    put(y, i, C(widen(x[d.at(len[b] - 1, b, i % d.r)])), add);
  }
};

template <class T, class C>
struct SeqLastGrad {  // over data elements: ograd[b, r] where t is the last step, else 0
  SeqDims d;
  const int64_t* len;
  const T* dy;
  T* dx;
  bool add;
  BRASS_XINLINE void operator()(int64_t i) const {
    int64_t t, b;
    d.split(i, t, b);
    put(dx, i, t == len[b] - 1 ? C(widen(dy[b * d.r + i % d.r])) : C(0), add);
  }
};

inline Shape seq_last_shape(const Shape& x, int64_t axis) {
  Shape o(x.ndim() - 1);
  for (int i = 0, j = 0; i < x.ndim(); ++i)
    if (i != int(axis)) o[j++] = x[i];
  return o;
}

template <class Exec>
void seq_last_forward(Exec& ex, const OpContext& ctx, const std::vector<TBlob>& in,
                      const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  const auto& p = ctx.param<SequenceParam>();
  SeqDims d = seq_dims(p, in[0].shape, "SequenceLast", false);
  if (d.t == 0 && d.b > 0) fail(BRASS_ERR_SHAPE, "SequenceLast: data has no time steps: ", in[0].shape.str());
  const int64_t* len = ex.upload(seq_lengths(ex, p, in, d, "SequenceLast", true, 1));
  nn_dtype::dispatch_float(in[0].dtype, "SequenceLast", [&](auto tag) {
    using T = decltype(tag);
    using C = nn_dtype::Compute<T>;
    ex.run(out[0].size(), SeqLastFwd<T, C>{d, len, in[0].ptr<T>(), out[0].ptr<T>(),
                                           ctx.req[0] == Req::kAdd});
  });
}

// _backward_SequenceLast(ograd, data, [sequence_length]): the gradient of data.
template <class Exec>
void seq_last_backward(Exec& ex, const OpContext& ctx, const std::vector<TBlob>& in,
                       const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  const auto& p = ctx.param<SequenceParam>();
  const char* op = "_backward_SequenceLast";
  SeqDims d = seq_dims(p, in[1].shape, op, false);
  std::vector<TBlob> fwd_in(in.begin() + 1, in.end());  // (data, [sequence_length])
  const int64_t* len = ex.upload(seq_lengths(ex, p, fwd_in, d, op, true, 1));
  nn_dtype::dispatch_float(in[0].dtype, op, [&](auto tag) {
    using T = decltype(tag);
    using C = nn_dtype::Compute<T>;
    ex.run(out[0].size(), SeqLastGrad<T, C>{d, len, in[0].ptr<T>(), out[0].ptr<T>(),
                                            ctx.req[0] == Req::kAdd});
  });
}

// ---- GridGenerator -----------------------------------------------------------------------------
struct GridGeneratorParam {
  std::string transform_type;
  Tuple target_shape;
  static void declare(ParamSpec<GridGeneratorParam>& s) {
    s.field("transform_type", &GridGeneratorParam::transform_type).set_choices({"affine", "warp"})
        .describe("affine: data (N, 6) holds 2x3 affine matrices; warp: data (N, 2, H, W) is an "
                  "optical flow.");
    s.field("target_shape", &GridGeneratorParam::target_shape).set_default(Tuple{0, 0})
        .describe("(H, W) of the grid, for affine (ignored for warp).");
  }
};

// The grid's shape (N, 2, H, W), checked against the data.
inline Shape grid_shape(const GridGeneratorParam& p, const Shape& x, const char* op) {
  if (p.transform_type == "affine") {
    if (x.ndim() != 2 || x[1] != 6)
      fail(BRASS_ERR_SHAPE, op, ": affine data must be (batch, 6), got ", x.str());
    if (p.target_shape.size() != 2 || p.target_shape[0] < 1 || p.target_shape[1] < 1)
      fail(BRASS_ERR_SHAPE, op, ": affine needs a positive target_shape (H, W), got ",
           parse::tuple_str(p.target_shape));
    return Shape{x[0], 2, p.target_shape[0], p.target_shape[1]};
  }
  if (x.ndim() != 4 || x[1] != 2)
    fail(BRASS_ERR_SHAPE, op, ": warp data must be a flow (batch, 2, H, W), got ", x.str());
  return x;
}

// The hidden output grid_dst: affine (3, H*W) rows x, y, 1; warp (2, H, W) pixel x, y.
inline Shape grid_dst_shape(const GridGeneratorParam& p, const Shape& g) {
  return p.transform_type == "affine" ? Shape{3, g[2] * g[3]} : Shape{2, g[2], g[3]};
}

// Normalized target coordinates: -1 + k * 2 / (extent - 1) (as MXNet: NaN for extent 1).
template <class C>
struct GridAxes {
  int64_t h, w;
  C sx, sy;
  BRASS_XINLINE C x(int64_t j) const { return C(-1) + C(j) * sx; }
  BRASS_XINLINE C y(int64_t i) const { return C(-1) + C(i) * sy; }
};

template <class C>
inline GridAxes<C> grid_axes(int64_t h, int64_t w) {
  return GridAxes<C>{h, w, C(2.0 / double(w - 1)), C(2.0 / double(h - 1))};
}

template <class T, class C>
struct GridFwd {  // over grid elements (n, a, i, j)
  GridAxes<C> ax;
  bool affine;
  const T* d;
  T* y;
  bool add;
  BRASS_XINLINE void operator()(int64_t k) const {
    int64_t j = k % ax.w, i = (k / ax.w) % ax.h, a = (k / (ax.w * ax.h)) % 2, n = k / (2 * ax.w * ax.h);
    C v;
    if (affine) {
      const T* t = d + n * 6 + a * 3;
      v = C(widen(t[0])) * ax.x(j) + C(widen(t[1])) * ax.y(i) + C(widen(t[2]));
    } else {  // (flow + pixel) / ((extent - 1) / 2) - 1
      C half = a == 0 ? C(double(ax.w - 1) / 2.0) : C(double(ax.h - 1) / 2.0);
      v = (C(widen(d[k])) + C(a == 0 ? j : i)) / half - C(1);
    }
    put(y, k, v, add);
  }
};

template <class T, class C>
struct GridDst {  // grid_dst elements
  GridAxes<C> ax;
  bool affine;
  T* y;
  BRASS_XINLINE void operator()(int64_t k) const {
    int64_t hw = ax.h * ax.w, r = k / hw, p = k % hw;
    C v;
    if (affine) v = r == 0 ? ax.x(p % ax.w) : r == 1 ? ax.y(p / ax.w) : C(1);
    else v = C(r == 0 ? p % ax.w : p / ax.w);
    y[k] = T(v);
  }
};

template <class T, class C>
struct GridGrad {  // over data elements: affine (n, 6) sums; warp: ograd / half-extent
  GridAxes<C> ax;
  bool affine;
  const T* g;
  T* dx;
  bool add;
  BRASS_XINLINE void operator()(int64_t k) const {
    C v = C(0);
    if (affine) {
      int64_t n = k / 6, a = (k % 6) / 3, m = k % 3;
      const T* gp = g + (n * 2 + a) * ax.h * ax.w;
      for (int64_t i = 0; i < ax.h; ++i)
        for (int64_t j = 0; j < ax.w; ++j) {
          C f = m == 0 ? ax.x(j) : m == 1 ? ax.y(i) : C(1);
          v += C(widen(gp[i * ax.w + j])) * f;
        }
    } else {
      int64_t a = (k / (ax.w * ax.h)) % 2;
      C half = a == 0 ? C(double(ax.w - 1) / 2.0) : C(double(ax.h - 1) / 2.0);
      v = C(widen(g[k])) / half;
    }
    put(dx, k, v, add);
  }
};

template <class Exec>
void grid_forward(Exec& ex, const OpContext& ctx, const std::vector<TBlob>& in,
                  const std::vector<TBlob>& out) {
  const auto& p = ctx.param<GridGeneratorParam>();
  const Shape& g = out[0].shape;
  bool affine = p.transform_type == "affine";
  nn_dtype::dispatch_float(in[0].dtype, "GridGenerator", [&](auto tag) {
    using T = decltype(tag);
    using C = nn_dtype::Compute<T>;
    GridAxes<C> ax = grid_axes<C>(g[2], g[3]);
    if (ctx.req[0] != Req::kNull)
      ex.run(out[0].size(), GridFwd<T, C>{ax, affine, in[0].ptr<T>(), out[0].ptr<T>(),
                                          ctx.req[0] == Req::kAdd});
    if (ctx.req[1] != Req::kNull) ex.run(out[1].size(), GridDst<T, C>{ax, affine, out[1].ptr<T>()});
  });
}

// _backward_GridGenerator(ograd): the data's gradient.
template <class Exec>
void grid_backward(Exec& ex, const OpContext& ctx, const std::vector<TBlob>& in,
                   const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  const auto& p = ctx.param<GridGeneratorParam>();
  const Shape& g = in[0].shape;
  nn_dtype::dispatch_float(in[0].dtype, "_backward_GridGenerator", [&](auto tag) {
    using T = decltype(tag);
    using C = nn_dtype::Compute<T>;
    ex.run(out[0].size(), GridGrad<T, C>{grid_axes<C>(g[2], g[3]), p.transform_type == "affine",
                                         in[0].ptr<T>(), out[0].ptr<T>(), ctx.req[0] == Req::kAdd});
  });
}

// ---- BilinearSampler ---------------------------------------------------------------------------
struct BilinearSamplerParam {
  std::optional<bool> cudnn_off;
  static void declare(ParamSpec<BilinearSamplerParam>& s) {
    s.field("cudnn_off", &BilinearSamplerParam::cudnn_off).set_default(std::nullopt)
        .describe("Ignored (MXNet: do not use cuDNN).");
  }
};

struct SamplerDims {
  int64_t n, c, h, w, oh, ow;
};

// Where grid point p = (n, oy, ox) samples: (x0, y0) the top-left pixel and the weights of the
// left column and the top row (MXNet's arithmetic); `valid` false when no pixel is touched.
template <class C>
struct SamplePoint {
  int64_t x0, y0;
  C wx, wy;
  bool valid;
};

template <class T, class C>
BRASS_XINLINE SamplePoint<C> sample_point(const SamplerDims& d, const T* grid, int64_t p) {
  int64_t hw = d.oh * d.ow, n = p / hw, r = p % hw;
  C xr = (C(widen(grid[n * 2 * hw + r])) + C(1)) * C(d.w - 1) / C(2);
  C yr = (C(widen(grid[n * 2 * hw + hw + r])) + C(1)) * C(d.h - 1) / C(2);
  SamplePoint<C> s{0, 0, C(0), C(0), false};
  // Far outside (or NaN): no pixel; this also keeps the integer conversion in range.
  if (!(xr > C(-2) && xr < C(d.w + 1) && yr > C(-2) && yr < C(d.h + 1))) return s;
  s.x0 = int64_t(xr);
  if (C(s.x0) > xr) --s.x0;  // floor
  s.y0 = int64_t(yr);
  if (C(s.y0) > yr) --s.y0;
  s.wx = C(1) - (xr - C(s.x0));
  s.wy = C(1) - (yr - C(s.y0));
  s.valid = true;
  return s;
}

BRASS_XINLINE bool in_box(int64_t y, int64_t x, int64_t h, int64_t w) {
  return y >= 0 && y < h && x >= 0 && x < w;
}

template <class T, class C>
struct SamplerFwd {  // over output elements (n, c, oy, ox)
  SamplerDims d;
  const T* x;
  const T* grid;
  T* y;
  bool add;
  BRASS_XINLINE void operator()(int64_t i) const {
    int64_t hw = d.oh * d.ow, nc = i / hw, n = nc / d.c;
    SamplePoint<C> s = sample_point<T, C>(d, grid, n * hw + i % hw);
    C v = C(0);
    if (s.valid) {
      const T* plane = x + nc * d.h * d.w;
      for (int dy = 0; dy < 2; ++dy)
        for (int dx = 0; dx < 2; ++dx) {
          int64_t yy = s.y0 + dy, xx = s.x0 + dx;
          if (in_box(yy, xx, d.h, d.w))
            v += C(widen(plane[yy * d.w + xx])) * (dy ? C(1) - s.wy : s.wy) * (dx ? C(1) - s.wx : s.wx);
        }
    }
    put(y, i, v, add);
  }
};

template <class T, class C>
struct SamplerGridGrad {  // over grid points (n, oy, ox): both coordinates' gradients
  SamplerDims d;
  const T* g;
  const T* x;
  const T* grid;
  T* dgrid;
  bool add;
  BRASS_XINLINE void operator()(int64_t p) const {
    int64_t hw = d.oh * d.ow, n = p / hw, r = p % hw;
    SamplePoint<C> s = sample_point<T, C>(d, grid, p);
    C gx = C(0), gy = C(0);
    if (s.valid) {
      for (int64_t c = 0; c < d.c; ++c) {
        const T* plane = x + (n * d.c + c) * d.h * d.w;
        C v[2][2];
        for (int dy = 0; dy < 2; ++dy)
          for (int dx = 0; dx < 2; ++dx) {
            int64_t yy = s.y0 + dy, xx = s.x0 + dx;
            v[dy][dx] = in_box(yy, xx, d.h, d.w) ? C(widen(plane[yy * d.w + xx])) : C(0);
          }
        C go = C(widen(g[(n * d.c + c) * hw + r]));
        C cross = v[0][0] - v[0][1] - v[1][0] + v[1][1];
        gy -= go * (v[0][1] - v[1][1] + cross * s.wx);
        gx -= go * (v[1][0] - v[1][1] + cross * s.wy);
      }
    }
    put(dgrid, n * 2 * hw + r, gx * C(d.w - 1) / C(2), add);
    put(dgrid, n * 2 * hw + hw + r, gy * C(d.h - 1) / C(2), add);
  }
};

template <class T, class C>
struct SamplerDataGrad {  // over data elements: the grid points that sample pixel (n, y, x)
  SamplerDims d;
  const int64_t* table;  // n*h*w + 1 offsets, then grid points
  const T* g;
  const T* grid;
  T* dx;
  bool add;
  BRASS_XINLINE void operator()(int64_t i) const {
    int64_t xx = i % d.w, yy = (i / d.w) % d.h, nc = i / (d.w * d.h), n = nc / d.c;
    int64_t q = (n * d.h + yy) * d.w + xx, hw = d.oh * d.ow;
    C v = C(0);
    for (int64_t k = table[q]; k < table[q + 1]; ++k) {
      int64_t p = table[k];
      SamplePoint<C> s = sample_point<T, C>(d, grid, p);
      C wy = yy == s.y0 ? s.wy : C(1) - s.wy, wx = xx == s.x0 ? s.wx : C(1) - s.wx;
      v += C(widen(g[nc * hw + p % hw])) * wy * wx;
    }
    put(dx, i, v, add);
  }
};

inline SamplerDims sampler_dims(const Shape& x, const Shape& grid, const char* op) {
  if (x.ndim() != 4 || grid.ndim() != 4 || grid[1] != 2 || grid[0] != x[0])
    fail(BRASS_ERR_SHAPE, op, ": data must be (N, C, H, W) and grid (N, 2, OH, OW), got data ",
         x.str(), ", grid ", grid.str());
  return SamplerDims{x[0], x[1], x[2], x[3], grid[2], grid[3]};
}

template <class Exec>
void sampler_forward(Exec& ex, const OpContext& ctx, const std::vector<TBlob>& in,
                     const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kNull) return;
  SamplerDims d = sampler_dims(in[0].shape, in[1].shape, "BilinearSampler");
  nn_dtype::dispatch_float(in[0].dtype, "BilinearSampler", [&](auto tag) {
    using T = decltype(tag);
    using C = nn_dtype::Compute<T>;
    ex.run(out[0].size(), SamplerFwd<T, C>{d, in[0].ptr<T>(), in[1].ptr<T>(), out[0].ptr<T>(),
                                           ctx.req[0] == Req::kAdd});
  });
}

// _backward_BilinearSampler(ograd, data, grid) -> (d data, d grid). The data's gradient is a
// gather: the host lists, for each pixel, the grid points that sample it (from a host copy of
// the grid, with the device's arithmetic in the compute type).
template <class Exec>
void sampler_backward(Exec& ex, const OpContext& ctx, const std::vector<TBlob>& in,
                      const std::vector<TBlob>& out) {
  const char* op = "_backward_BilinearSampler";
  SamplerDims d = sampler_dims(in[1].shape, in[2].shape, op);
  nn_dtype::dispatch_float(in[0].dtype, op, [&](auto tag) {
    using T = decltype(tag);
    using C = nn_dtype::Compute<T>;
    if (ctx.req[1] != Req::kNull)
      ex.run(d.n * d.oh * d.ow, SamplerGridGrad<T, C>{d, in[0].ptr<T>(), in[1].ptr<T>(),
                                                      in[2].ptr<T>(), out[1].ptr<T>(),
                                                      ctx.req[1] == Req::kAdd});
    if (ctx.req[0] == Req::kNull) return;
    std::vector<double> gv = ex.host_values(in[2]);
    std::vector<T> grid(gv.size());
    for (size_t i = 0; i < gv.size(); ++i) grid[i] = T(C(gv[i]));
    int64_t pixels = d.n * d.h * d.w, points = d.n * d.oh * d.ow;
    std::vector<int64_t> pix(static_cast<size_t>(points * 4), -1);
    std::vector<int64_t> table(static_cast<size_t>(pixels + 1), 0);
    for (int64_t p = 0; p < points; ++p) {
      SamplePoint<C> s = sample_point<T, C>(d, grid.data(), p);
      if (!s.valid) continue;
      int64_t n = p / (d.oh * d.ow);
      for (int k = 0; k < 4; ++k) {
        int64_t yy = s.y0 + k / 2, xx = s.x0 + k % 2;
        if (!in_box(yy, xx, d.h, d.w)) continue;
        int64_t q = (n * d.h + yy) * d.w + xx;
        pix[size_t(p * 4 + k)] = q;
        ++table[size_t(q + 1)];
      }
    }
    table[0] = pixels + 1;
    for (int64_t q = 0; q < pixels; ++q) table[size_t(q + 1)] += table[size_t(q)];
    std::vector<int64_t> fill(table.begin(), table.begin() + pixels);
    table.resize(size_t(table[size_t(pixels)]));
    for (int64_t p = 0; p < points; ++p)
      for (int k = 0; k < 4; ++k)
        if (pix[size_t(p * 4 + k)] >= 0) table[size_t(fill[size_t(pix[size_t(p * 4 + k)])]++)] = p;
    const int64_t* t = ex.upload(std::move(table));
    ex.run(out[0].size(), SamplerDataGrad<T, C>{d, t, in[0].ptr<T>(), in[2].ptr<T>(),
                                                out[0].ptr<T>(), ctx.req[0] == Req::kAdd});
  });
}

}  // namespace spatial_ops
}  // namespace brass
