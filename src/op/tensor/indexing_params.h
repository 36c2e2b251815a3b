// Parameters and host-side planning of the indexing operators (indexing.cc), shared by the CPU
// kernels and the CUDA kernels (cuda/indexing.cu): parameter structs, index modes, the
// diagonal, along-axis and slice-region plans. Definitions of the non-inline functions are in indexing.cc.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/xinline.h"
#include "op/operator.h"

namespace brass {
namespace indexing_ops {

// A tuple of optional integers, MXNet's slice syntax: "(0, None)", "[1, -1]", "()".
// Its own type (not Tuple, whose parser reads None as -1, a valid slice bound).
struct SliceTuple {
  std::vector<std::optional<int64_t>> v;
};

SliceTuple parse_slice_tuple(const std::string& s0);
std::string slice_tuple_str(const SliceTuple& t);

}  // namespace indexing_ops

template <> struct ParamTraits<indexing_ops::SliceTuple> {
  static const char* type() { return "Shape(tuple) of int or None"; }
  static indexing_ops::SliceTuple parse(const std::string& s) {
    return indexing_ops::parse_slice_tuple(s);
  }
  static std::string str(const indexing_ops::SliceTuple& v) {
    return indexing_ops::slice_tuple_str(v);
  }
};

namespace indexing_ops {

// Calls f with an unsigned word type of the element size: elements are moved, never converted.
template <class F>
void dispatch_width(DType t, F&& f) {
  switch (dtype_size(t)) {
    case 1: f(uint8_t()); return;
    case 2: f(uint16_t()); return;
    case 4: f(uint32_t()); return;
    case 8: f(uint64_t()); return;
  }
  fail(BRASS_ERR_DTYPE, "unsupported element size for dtype ", dtype_name(t));
}

// The kernels here only write their outputs; accumulation has no use for them.
void reject_add_req(const OpContext& ctx, const char* op);

int64_t extent_product(const Shape& s, int from, int to);

// ---- Index modes ---------------------------------------------------------------------------

enum class Mode { kClip, kWrap, kRaise };

Mode parse_mode(const std::string& m);

// Index j mapped into [0, n) by clip or wrap (n > 0); raise mode leaves it as it is (checked
// separately, see index_out_of_bounds).
BRASS_XINLINE int64_t map_index(int64_t j, int64_t n, Mode mode) {
  if (mode == Mode::kClip) return j < 0 ? 0 : (j >= n ? n - 1 : j);
  if (mode == Mode::kWrap) {
    int64_t r = j % n;
    return r < 0 ? r + n : r;
  }
  return j;
}

// The error of raise mode for index v (MXNet: valid range [0, n)), naming op.
[[noreturn]] void index_out_of_bounds(const char* op, int64_t v, int axis, int64_t n);

// ---- take, pick, one_hot -------------------------------------------------------------------

struct TakeParam {
  int axis;
  std::string mode;
  static void declare(ParamSpec<TakeParam>& s) {
    s.field("axis", &TakeParam::axis).set_default(0)
        .describe("The axis of the input array to take from; negative counts from the end.");
    s.field("mode", &TakeParam::mode).set_default("clip").set_choices({"raise", "wrap", "clip"})
        .describe("Out-of-bound indices: 'clip' to the range, 'wrap' around, or 'raise' an error.");
  }
};

struct PickParam {
  std::optional<int> axis;
  bool keepdims;
  std::string mode;
  static void declare(ParamSpec<PickParam>& s) {
    s.field("axis", &PickParam::axis).set_default(std::optional<int>(-1))
        .describe("The axis to pick along; negative counts from the end. None is not supported "
                  "(as in MXNet).");
    s.field("keepdims", &PickParam::keepdims).set_default(false)
        .describe("Keep the picked axis in the output, with size 1.");
    s.field("mode", &PickParam::mode).set_default("clip").set_choices({"clip", "wrap"})
        .describe("Out-of-bound indices: 'clip' to the range or 'wrap' around.");
  }
};

// The picked axis in [0, ndim), or fails (axis None, 0-d data).
int pick_axis(const PickParam& p, int ndim);

// The data of take or pick seen as (outer, n, inner) around the indexed axis, and the mode.
struct IndexPlan {
  int axis = 0;
  int64_t outer = 1, n = 1, inner = 1;
  Mode mode = Mode::kClip;
};

// axis: already normalized into [0, d.ndim()).
IndexPlan index_plan(const Shape& d, int axis, const std::string& mode);

inline IndexPlan take_plan(const TakeParam& p, const Shape& d) {
  return index_plan(d, normalize_axis(p.axis, d.ndim(), "take"), p.mode);
}

inline IndexPlan pick_plan(const PickParam& p, const Shape& d) {
  return index_plan(d, pick_axis(p, d.ndim()), p.mode);
}

struct OneHotParam {
  int depth;
  double on_value, off_value;
  DType dtype;
  static void declare(ParamSpec<OneHotParam>& s) {
    s.field("depth", &OneHotParam::depth).set_lower_bound(0)
        .describe("Depth of the one-hot dimension.");
    s.field("on_value", &OneHotParam::on_value).set_default(1.0)
        .describe("The value at the positions the indices name.");
    s.field("off_value", &OneHotParam::off_value).set_default(0.0)
        .describe("The value everywhere else.");
    s.field("dtype", &OneHotParam::dtype).set_default(DType::kFloat32).describe("Output dtype.");
  }
};

// ---- where ---------------------------------------------------------------------------------

// Output element i of where (n elements) takes condition element i / row: row is 1 for a
// condition of x's shape, the length of a row of x for a 1-D condition that picks whole rows.
inline int64_t where_row(const Shape& cond, const Shape& x, int64_t n) {
  return cond.ndim() != x.ndim() ? n / x[0] : 1;
}

// ---- diag ----------------------------------------------------------------------------------

struct DiagParam {
  int64_t k;
  int axis1, axis2;
  static void declare(ParamSpec<DiagParam>& s) {
    s.field("k", &DiagParam::k).set_default(int64_t(0))
        .describe("The diagonal: 0 the main one, k > 0 above it, k < 0 below it.");
    s.field("axis1", &DiagParam::axis1).set_default(0)
        .describe("The first axis of the 2-D sub-arrays whose diagonals are taken (input of 2 "
                  "or more dims).");
    s.field("axis2", &DiagParam::axis2).set_default(1)
        .describe("The second axis of the 2-D sub-arrays whose diagonals are taken.");
  }
};

struct DiagPlan {
  int a1 = 0, a2 = 0;
  int64_t len = 0;  // diagonal length
};

// The normalized axes and the diagonal length of an input of 2 or more dims.
DiagPlan diag_plan(const DiagParam& p, const Shape& d);

// ---- _gather_along_axis, _scatter_along_axis (the gradients of sort and topk) ---------------

struct AlongAxisParam {
  std::optional<int> axis;
  static void declare(ParamSpec<AlongAxisParam>& s) {
    s.field("axis", &AlongAxisParam::axis).set_default(std::optional<int>(-1))
        .describe("The axis the indices run along; None: the flattened data.");
  }
};

// data seen as (outer, n, inner) around the axis and the indices as (outer, k, inner): they
// agree on every other axis. Axis None: the flattened data, any shape of indices (outer =
// inner = 1, k their count).
struct AlongPlan {
  int axis = 0;
  int64_t outer = 1, n = 1, inner = 1, k = 1;
};

// Fails, naming op, when the shapes do not agree.
AlongPlan along_plan(const Shape& data, const Shape& idx, const AlongAxisParam& p, const char* op);

// A scatter-add of (outer, m, inner) values into (outer, n, inner) zeros: value (o, t, i) adds
// into [o, j, i], j the index at o * js_o + t * js_t + i * js_i of the (int64) indices. The
// gradient of take (one index per t: js = (0, 1, 0)) and _scatter_along_axis (one index per
// value: js = (m * inner, inner, 1)). Each element sums its values in increasing t, in the
// compute type, on every device.
struct ScatterAddPlan {
  int64_t outer = 1, m = 1, n = 1, inner = 1;
  int64_t js_o = 0, js_t = 1, js_i = 0;
};

// _backward_take's plan: m indices, each taking one whole (inner) row of the output gradient.
inline ScatterAddPlan take_scatter_plan(const IndexPlan& g, int64_t m) {
  ScatterAddPlan p;
  p.outer = g.outer;
  p.m = m;
  p.n = g.n;
  p.inner = g.inner;
  return p;
}

// _scatter_along_axis's plan: an index per value.
inline ScatterAddPlan along_scatter_plan(const AlongPlan& g) {
  ScatterAddPlan p;
  p.outer = g.outer;
  p.m = g.k;
  p.n = g.n;
  p.inner = g.inner;
  p.js_o = g.k * g.inner;
  p.js_t = g.inner;
  p.js_i = 1;
  return p;
}

// The place in the output that value (o, t, i) adds into.
BRASS_XINLINE int64_t scatter_add_at(const ScatterAddPlan& p, const int64_t* j, int64_t o,
                                     int64_t t, int64_t i) {
  return (o * p.n + j[o * p.js_o + t * p.js_t + i * p.js_i]) * p.inner + i;
}

// ---- _slice_assign, _slice_assign_scalar ---------------------------------------------------

struct SliceAssignParam {
  SliceTuple begin, end, step;
  static void declare(ParamSpec<SliceAssignParam>& s) {
    s.field("begin", &SliceAssignParam::begin)
        .describe("Starting indices of the region, e.g. (0, None).");
    s.field("end", &SliceAssignParam::end)
        .describe("Ending indices of the region (exclusive), e.g. (2, None).");
    s.field("step", &SliceAssignParam::step).set_default(SliceTuple{})
        .describe("Step of the region per axis, e.g. (1, -1); empty or None means 1.");
  }
};

struct SliceAssignScalarParam {
  double scalar;
  SliceTuple begin, end, step;
  static void declare(ParamSpec<SliceAssignScalarParam>& s) {
    s.field("scalar", &SliceAssignScalarParam::scalar).set_default(0.0)
        .describe("The value assigned to the region.");
    s.field("begin", &SliceAssignScalarParam::begin)
        .describe("Starting indices of the region, e.g. (0, None).");
    s.field("end", &SliceAssignScalarParam::end)
        .describe("Ending indices of the region (exclusive).");
    s.field("step", &SliceAssignScalarParam::step).set_default(SliceTuple{})
        .describe("Step of the region per axis; empty or None means 1.");
  }
};

// The region a slice selects, per axis: first index, step and count (-1: unknown extent).
struct Region {
  int nd = 0;
  int64_t begin[kMaxNDim], step[kMaxNDim], len[kMaxNDim];
};

// Python's slice.indices() per axis (which is MXNet 1.x's slice since 1.6): bounds clamp,
// negative bounds count from the end, a None bound is the natural end for the step's sign.
Region slice_region(const Shape& d, const SliceTuple& begin, const SliceTuple& end,
                    const SliceTuple& step, const char* op);

Shape region_shape(const Region& r);

template <class P>
Region param_region(const P& p, const Shape& d, const char* op) {
  return slice_region(d, p.begin, p.end, p.step, op);
}

}  // namespace indexing_ops
}  // namespace brass
