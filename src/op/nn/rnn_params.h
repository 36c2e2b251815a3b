// The fused RNN operator (rnn.cc): its parameters, its shapes (the flat parameter vector and
// the reserve, a hidden output that keeps what backprop through time needs), the per-element
// gate math, and the forward and backward algorithms, written once over a "backend" that
// supplies GEMM, element-wise loops and scratch memory: the CPU one in rnn.cc, the CUDA one in
// cuda/nn_rnn.cu. The gate functors are BRASS_XINLINE, so both run the same math.
//
// Layout (MXNet's): data (T, N, I), state (L*D, N, R), out (T, N, D*R), where R = H, or the
// projection size P for an LSTM with projection (LSTMP: the cell's output o * tanh(c), of
// size H, is multiplied by W_h2r (P, H); the product is the output and the recurrent state,
// and state_cell stays (L*D, N, H)). Parameters: every weight first, for each layer l and
// direction d: W_i2h (G*H, in_l), W_h2h (G*H, R) and with projection W_h2r (P, H), with
// in_0 = I and in_l = D*R; then every bias in the same order: b_i2h (G*H), b_h2h (G*H).
// Gates: LSTM i, f, g, o (G = 4); GRU r, z, n (G = 3) with n = tanh(x W_in + b_in + r * (h W_hn
// + b_hn)) and h' = (1 - z) n + z h; rnn_relu/rnn_tanh G = 1.
#pragma once

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/dtype.h"
#include "base/error.h"
#include "base/xinline.h"
#include "op/nn/nn_dtype.h"
#include "op/operator.h"
#include "random/random.h"

namespace brass {
namespace rnn_ops {

enum Mode : int { kRelu = 0, kTanh = 1, kLstm = 2, kGru = 3 };

struct RNNParam {
  std::string mode;
  int64_t state_size, num_layers;
  bool bidirectional;
  double p;
  bool state_outputs;
  std::optional<int64_t> projection_size;
  std::optional<double> lstm_state_clip_min, lstm_state_clip_max;
  bool lstm_state_clip_nan;
  bool use_sequence_length;
  static void declare(ParamSpec<RNNParam>& s) {
    s.field("mode", &RNNParam::mode).set_choices({"rnn_relu", "rnn_tanh", "lstm", "gru"})
        .describe("The recurrent cell: rnn_relu, rnn_tanh, lstm or gru.");
    s.field("state_size", &RNNParam::state_size).set_range(1, 1e15)
        .describe("Size of the hidden state (H).");
    s.field("num_layers", &RNNParam::num_layers).set_range(1, 1e6)
        .describe("Number of stacked layers.");
    s.field("bidirectional", &RNNParam::bidirectional).set_default(false)
        .describe("Whether each layer also runs backwards in time (outputs concatenated).");
    s.field("p", &RNNParam::p).set_default(0.0).set_range(0, 1)
        .describe("Dropout probability on the outputs of every layer but the last (training "
                  "only).");
    s.field("state_outputs", &RNNParam::state_outputs).set_default(false)
        .describe("Whether to also return the final states (hy, and cy for lstm).");
    s.field("projection_size", &RNNParam::projection_size)
        .set_default(std::optional<int64_t>())
        .describe("LSTM only: the size P the cell output is projected to (W_h2r, P x "
                  "state_size, no bias); the output and the recurrent state have size P.");
    s.field("lstm_state_clip_min", &RNNParam::lstm_state_clip_min)
        .set_default(std::optional<double>())
        .describe("Lower bound the LSTM cell state is clipped to (None: no clipping).");
    s.field("lstm_state_clip_max", &RNNParam::lstm_state_clip_max)
        .set_default(std::optional<double>())
        .describe("Upper bound the LSTM cell state is clipped to (None: no clipping).");
    s.field("lstm_state_clip_nan", &RNNParam::lstm_state_clip_nan).set_default(false)
        .describe("With clipping, a NaN cell state becomes the lower bound instead of "
                  "propagating.");
    s.field("use_sequence_length", &RNNParam::use_sequence_length).set_default(false)
        .describe("Whether a sequence_length input (batch,) gives each sequence's valid "
                  "length: steps past it output zeros and leave the states as they were.");
  }
};

// Inputs: data, parameters, state, [state_cell (lstm)], [sequence_length]. Outputs: out, hy,
// [cy (lstm)], reserve.
inline int num_states(const RNNParam& p) { return p.mode == "lstm" ? 2 : 1; }
inline int num_inputs(const RNNParam& p) {
  return 2 + num_states(p) + (p.use_sequence_length ? 1 : 0);
}
inline int reserve_index(const RNNParam& p) { return 1 + num_states(p); }
// Where sequence_length is among the forward's inputs (-1: absent).
inline int seq_index(const RNNParam& p) { return p.use_sequence_length ? 2 + num_states(p) : -1; }

inline Mode mode_of(const std::string& m) {
  return m == "rnn_relu" ? kRelu : m == "rnn_tanh" ? kTanh : m == "lstm" ? kLstm : kGru;
}
inline int gates_of(Mode m) { return m == kLstm ? 4 : m == kGru ? 3 : 1; }

// Sizes of one call, and the offsets of the parameters and of the reserve.
struct Dims {
  Mode mode;
  int64_t T, N, I, H, L, D, G;
  int64_t P = 0;  // projection size (lstm only; 0: none)
  int64_t GS;  // values kept per unit and step in the reserve: lstm i,f,g,o; gru r,z,n,hn; h
  bool clip = false, clip_nan = false;
  double clip_lo = 0, clip_hi = 0;

  int64_t R() const { return P ? P : H; }  // output and recurrent state size per direction
  int64_t in_size(int64_t l) const { return l == 0 ? I : D * R(); }
  int64_t dir_weights(int64_t l) const { return G * H * (in_size(l) + R()) + P * H; }
  // Weights of (l, d): W_i2h, W_h2h, then W_h2r (projection).
  int64_t w_off(int64_t l, int64_t d) const {
    int64_t o = 0;
    for (int64_t k = 0; k < l; ++k) o += D * dir_weights(k);
    return o + d * dir_weights(l);
  }
  int64_t weights() const { return w_off(L, 0); }
  int64_t b_off(int64_t l, int64_t d) const { return weights() + (l * D + d) * 2 * G * H; }
  int64_t param_size() const { return weights() + L * D * 2 * G * H; }

  // Reserve: per (l, d) the gate values (T, N, GS*H), for lstm the cell states (T, N, H), the
  // recurrent states (T, N, R) after each step (the output, except past a sequence's length,
  // where the output is 0 and the state is carried) and with projection the cell outputs
  // before it (T, N, H); then per layer its output y_l (T, N, D*R); then per layer l < L-1 the
  // dropout mask of y_l and the next layer's input x_{l+1} = y_l * mask.
  int64_t per_dir() const {
    return T * N * (H * (GS + (mode == kLstm ? 1 : 0)) + R() + (P ? H : 0));
  }
  int64_t gates_off(int64_t l, int64_t d) const { return (l * D + d) * per_dir(); }
  int64_t cells_off(int64_t l, int64_t d) const { return gates_off(l, d) + T * N * GS * H; }
  int64_t hs_off(int64_t l, int64_t d) const {
    return cells_off(l, d) + (mode == kLstm ? T * N * H : 0);
  }
  int64_t raw_off(int64_t l, int64_t d) const { return hs_off(l, d) + T * N * R(); }
  int64_t layer_out() const { return T * N * D * R(); }
  int64_t y_off(int64_t l) const { return L * D * per_dir() + l * layer_out(); }
  int64_t mask_off(int64_t l) const { return y_off(L) + 2 * l * layer_out(); }
  int64_t xin_off(int64_t l) const { return mask_off(l - 1) + layer_out(); }  // input of l >= 1
  int64_t reserve_size() const { return mask_off(L - 1); }
};

// Dims from the data shape (T, N, I) and the parameters (checked by the shape function).
inline Dims make_dims(const RNNParam& p, const Shape& data) {
  Dims d;
  d.mode = mode_of(p.mode);
  d.T = data[0];
  d.N = data[1];
  d.I = data[2];
  d.H = p.state_size;
  d.L = p.num_layers;
  d.D = p.bidirectional ? 2 : 1;
  d.G = gates_of(d.mode);
  d.GS = d.mode == kLstm || d.mode == kGru ? 4 : 1;
  d.P = p.projection_size ? *p.projection_size : 0;
  if (d.mode == kLstm && (p.lstm_state_clip_min || p.lstm_state_clip_max)) {
    d.clip = true;
    d.clip_lo = p.lstm_state_clip_min ? *p.lstm_state_clip_min : -HUGE_VAL;
    d.clip_hi = p.lstm_state_clip_max ? *p.lstm_state_clip_max : HUGE_VAL;
    d.clip_nan = p.lstm_state_clip_nan;
  }
  return d;
}

// The sequence lengths from the sequence_length input (N values of dtype t, in host memory):
// whole numbers in [0, T], else a clear error.
inline std::vector<int64_t> lengths(const void* p, DType t, int64_t N, int64_t T) {
  std::vector<int64_t> r(size_t(N > 0 ? N : 0));
  dispatch_dtype(t, [&](auto tag) {
    using S = decltype(tag);
    for (int64_t n = 0; n < N; ++n) {
      double v = convert<double>(static_cast<const S*>(p)[n]);
      if (!(v >= 0 && v <= double(T) && v == std::floor(v)))
        fail(BRASS_ERR_INVALID_ARGUMENT, "RNN: sequence_length[", n, "] = ", v,
             " is not a whole number in [0, ", T, "] (the sequence length T)");
      r[size_t(n)] = int64_t(v);
    }
    return 0;
  });
  return r;
}

template <class T> BRASS_XINLINE T sigmoid(T x) { return T(1) / (T(1) + std::exp(-x)); }

// ---- Forward -------------------------------------------------------------------------------

// One step (time t) of one direction for unit (n, j), i in [0, N*H): from xg (N, G*H, with
// b_i2h), hg = h_prev W_h2h^T (N, G*H, no bias) and b_h2h, writes the state h (N, H), the
// output y (row stride ldy), the cell (lstm) and the kept gate values gs (N, GS*H). Past the
// sequence's length (lens, when given) the state and cell are carried and the output is 0.
// With projection y is null and h is the cell output before it (Project finishes the step).
template <class T>
struct Step {
  Dims d;
  const T *xg, *hg, *bh, *hprev, *cprev;
  T *h, *c, *gs, *y;
  int64_t ldy;
  const int64_t* lens;
  int64_t t;
  BRASS_XINLINE void operator()(int64_t i) const {
    int64_t H = d.H, n = i / H, j = i % H, G = d.G;
    const T* x = xg + n * G * H;
    const T* r = hg + n * G * H;
    T* g = gs + n * d.GS * H;
    if (lens && t >= lens[n]) {
      h[i] = y ? hprev[i] : T(0);
      if (d.mode == kLstm) c[i] = cprev[i];
      if (y) y[n * ldy + j] = T(0);
      for (int64_t k = 0; k < d.GS; ++k) g[k * H + j] = T(0);
      return;
    }
    T hv;
    if (d.mode == kLstm) {
      T gi = sigmoid(x[j] + r[j] + bh[j]);
      T gf = sigmoid(x[H + j] + r[H + j] + bh[H + j]);
      T gg = std::tanh(x[2 * H + j] + r[2 * H + j] + bh[2 * H + j]);
      T go = sigmoid(x[3 * H + j] + r[3 * H + j] + bh[3 * H + j]);
      T cv = gf * cprev[n * H + j] + gi * gg;
      if (d.clip) {
        if (cv != cv) {
          if (d.clip_nan) cv = T(d.clip_lo);
        } else {
          cv = cv < T(d.clip_lo) ? T(d.clip_lo) : cv > T(d.clip_hi) ? T(d.clip_hi) : cv;
        }
      }
      c[i] = cv;
      hv = go * std::tanh(cv);
      g[j] = gi;
      g[H + j] = gf;
      g[2 * H + j] = gg;
      g[3 * H + j] = go;
    } else if (d.mode == kGru) {
      T gr = sigmoid(x[j] + r[j] + bh[j]);
      T gz = sigmoid(x[H + j] + r[H + j] + bh[H + j]);
      T hn = r[2 * H + j] + bh[2 * H + j];
      T gn = std::tanh(x[2 * H + j] + gr * hn);
      hv = (T(1) - gz) * gn + gz * hprev[i];
      g[j] = gr;
      g[H + j] = gz;
      g[2 * H + j] = gn;
      g[3 * H + j] = hn;
    } else {
      T a = x[j] + r[j] + bh[j];
      hv = d.mode == kRelu ? (a > T(0) ? a : T(0)) : std::tanh(a);
      g[j] = hv;
    }
    h[i] = hv;
    if (y) y[n * ldy + j] = hv;
  }
};

// The end of a step with projection, for unit (n, j), i in [0, N*P): h (N, P) holds the
// projected cell output; past the sequence's length it becomes the carried state hprev and
// the output is 0, else the output y (row stride ldy) is h.
template <class T>
struct Project {
  T* h;
  const T* hprev;
  T* y;
  int64_t ldy, P;
  const int64_t* lens;
  int64_t t;
  BRASS_XINLINE void operator()(int64_t i) const {
    int64_t n = i / P, j = i % P;
    bool past = lens && t >= lens[n];
    if (past) h[i] = hprev[i];
    y[n * ldy + j] = past ? T(0) : h[i];
  }
};

// dst (rows, w, row stride ldd) = src (rows, w, row stride lds).
template <class T>
struct Copy2D {
  const T* src;
  int64_t lds;
  T* dst;
  int64_t ldd, w;
  BRASS_XINLINE void operator()(int64_t i) const {
    dst[(i / w) * ldd + i % w] = src[(i / w) * lds + i % w];
  }
};

// The dropout mask of layer l's output (keep: 1 / (1 - p), else 0; all ones when inactive) and
// the next layer's input x = y * mask. Element j of layer l draws value (base + j) % 4 of Philox
// block (base + j) / 4 of the invocation's stream, base = l * T*N*D*H.
template <class T>
struct DropMask {
  RandomStream rs;
  bool on;
  double keep;
  int64_t base;
  const T* y;
  T *mask, *x;
  BRASS_XINLINE void operator()(int64_t j) const {
    T m = T(1);
    if (on) {
      uint32_t w[4];
      uint64_t k = uint64_t(base + j);
      random::Philox::block(rs.seed, rs.stream, k / 4, w);
      m = double(random::u01f(w[k % 4])) < keep ? T(1.0 / keep) : T(0);
    }
    mask[j] = m;
    x[j] = y[j] * m;
  }
};

// ---- Backward ------------------------------------------------------------------------------
// One step of one direction backwards for unit (n, j): dh = dy + dh_next; writes the gate
// pre-activation gradients of the input side dgx (N, G*H) and of the recurrent side dgh
// (differs from dgx for gru only: its n gate sees r * (h W_hn + b_hn)), and in place the part
// of dh_prev that does not go through W_h2h (gru: z * dh) and dc_prev (lstm). Past the
// sequence's length the state's gradient passes through unchanged.
template <class T>
struct StepBack {
  Dims d;
  const T* dy;
  int64_t lddy;
  const T *gs, *c, *cprev, *hprev;
  T *dh, *dc, *dgx, *dgh;
  const int64_t* lens;
  int64_t t;
  BRASS_XINLINE void operator()(int64_t i) const {
    int64_t H = d.H, n = i / H, j = i % H, G = d.G;
    const T* g = gs + n * d.GS * H;
    T* ox = dgx + n * G * H;
    if (lens && t >= lens[n]) {
      for (int64_t k = 0; k < G; ++k) ox[k * H + j] = dgh[n * G * H + k * H + j] = T(0);
      return;
    }
    T dhv = dy[n * lddy + j] + dh[i];
    if (d.mode == kLstm) {
      T gi = g[j], gf = g[H + j], gg = g[2 * H + j], go = g[3 * H + j];
      T cv = c[i], tc = std::tanh(cv);
      T dcv = dc[i] + dhv * go * (T(1) - tc * tc);
      if (d.clip && !(cv > T(d.clip_lo) && cv < T(d.clip_hi))) dcv = T(0);
      ox[j] = dcv * gg * gi * (T(1) - gi);
      ox[H + j] = dcv * cprev[i] * gf * (T(1) - gf);
      ox[2 * H + j] = dcv * gi * (T(1) - gg * gg);
      ox[3 * H + j] = dhv * tc * go * (T(1) - go);
      dc[i] = dcv * gf;
      dh[i] = T(0);
    } else if (d.mode == kGru) {
      T gr = g[j], gz = g[H + j], gn = g[2 * H + j], hn = g[3 * H + j];
      T hp = hprev[i];
      T dn = dhv * (T(1) - gz) * (T(1) - gn * gn);
      T dz = dhv * (hp - gn) * gz * (T(1) - gz);
      T dr = dn * hn * gr * (T(1) - gr);
      T* oh = dgh + n * G * H;
      ox[j] = oh[j] = dr;
      ox[H + j] = oh[H + j] = dz;
      ox[2 * H + j] = dn;
      oh[2 * H + j] = dn * gr;
      dh[i] = dhv * gz;
    } else {
      T v = g[j];
      ox[j] = d.mode == kRelu ? (v > T(0) ? dhv : T(0)) : dhv * (T(1) - v * v);
      dh[i] = T(0);
    }
  }
};

// The start of a step backwards with projection, for unit (n, j), i in [0, N*P): the
// gradient of the projected output dr = dy + dh (dh then 0); past the sequence's length dr is
// 0 and dh (the carried state's gradient) stays.
template <class T>
struct ProjectBack {
  const T* dy;
  int64_t lddy, P;
  T *dh, *dr;
  const int64_t* lens;
  int64_t t;
  BRASS_XINLINE void operator()(int64_t i) const {
    int64_t n = i / P, j = i % P;
    if (lens && t >= lens[n]) {
      dr[i] = T(0);
      return;
    }
    dr[i] = dy[n * lddy + j] + dh[i];
    dh[i] = T(0);
  }
};

// out[j] = sum over rows r of a[r * w + j] (a bias gradient), j in [0, w).
template <class T>
struct ColSum {
  const T* a;
  int64_t rows, w;
  T* out;
  BRASS_XINLINE void operator()(int64_t j) const {
    T s = T(0);
    for (int64_t r = 0; r < rows; ++r) s += a[r * w + j];
    out[j] = s;
  }
};

template <class T>
struct Fill {
  T* p;
  T v;
  BRASS_XINLINE void operator()(int64_t i) const { p[i] = v; }
};

template <class T>
struct Mul {
  const T *a, *b;
  T* out;
  BRASS_XINLINE void operator()(int64_t i) const { out[i] = a[i] * b[i]; }
};

// ---- The algorithms, over a backend B with:
//   T* B::scratch<T>(n)                        memory living until the backend dies
//   B::gemm(ta, tb, m, n, k, a, lda, b, ldb, c, add)   c (m x n) (+)= op(a) op(b)
//   B::each(n, functor)                        functor(i) for i in [0, n)
// lens: the sequence lengths (N,) on the backend's device, or null (all T).
template <class T, class B>
void forward(B& be, const Dims& d, const T* x, const T* w, const T* hx, const T* cx,
             const int64_t* lens, T* out, T* hy, T* cy, T* res, bool drop_on, double keep,
             RandomStream rs) {
  int64_t T_ = d.T, N = d.N, H = d.H, R = d.R(), P = d.P, D = d.D, GH = d.G * H, TN = T_ * N,
          DR = D * R;
  bool lstm = d.mode == kLstm;
  T* xg = be.template scratch<T>(TN * GH);
  T* hg = be.template scratch<T>(N * GH);
  for (int64_t l = 0; l < d.L; ++l) {
    const T* xl = l == 0 ? x : res + d.xin_off(l);
    int64_t in = d.in_size(l);
    T* y = res + d.y_off(l);
    for (int64_t dir = 0; dir < D; ++dir) {
      const T* wx = w + d.w_off(l, dir);
      const T* wh = wx + GH * in;
      const T* wr = wh + GH * R;  // W_h2r (projection)
      const T* bx = w + d.b_off(l, dir);
      const T* bh = bx + GH;
      be.gemm(false, true, TN, GH, in, xl, in, wx, in, xg, false);
      be.each(TN * GH, nn_dtype::AddBias<T>{xg, bx, 1, GH});  // xg[t] + b_i2h, (rows, GH) += b
      int64_t sidx = l * D + dir;
      const T* hp = hx + sidx * N * R;
      const T* cp = lstm ? cx + sidx * N * H : nullptr;
      T* gates = res + d.gates_off(l, dir);
      T* cells = res + d.cells_off(l, dir);
      T* hs = res + d.hs_off(l, dir);
      T* raws = res + d.raw_off(l, dir);
      for (int64_t s = 0; s < T_; ++s) {
        int64_t t = dir == 0 ? s : T_ - 1 - s;
        be.gemm(false, true, N, GH, R, hp, R, wh, R, hg, false);
        T* h = hs + t * N * R;
        T* c = lstm ? cells + t * N * H : nullptr;
        T* yt = y + t * N * DR + dir * R;
        T* hc = P ? raws + t * N * H : h;  // the cell output
        be.each(N * H, Step<T>{d, xg + t * N * GH, hg, bh, hp, cp, hc, c,
                               gates + t * N * d.GS * H, P ? nullptr : yt, DR, lens, t});
        if (P) {
          be.gemm(false, true, N, P, H, hc, H, wr, H, h, false);
          be.each(N * P, Project<T>{h, hp, yt, DR, P, lens, t});
        }
        hp = h;
        cp = c;
      }
      if (hy) be.each(N * R, Copy2D<T>{hp, R, hy + sidx * N * R, R, R});
      if (cy && lstm) be.each(N * H, Copy2D<T>{cp, H, cy + sidx * N * H, H, H});
    }
    if (l + 1 < d.L)
      be.each(TN * DR, DropMask<T>{rs, drop_on, keep, l * TN * DR, y, res + d.mask_off(l),
                                   res + d.xin_off(l + 1)});
  }
  if (out) be.each(TN * DR, Copy2D<T>{res + d.y_off(d.L - 1), DR, out, DR, DR});
}

// Gradients of data (dx), parameters (dw), state (dhx) and state_cell (dcx) from the reserve
// and the gradients of out (dout), hy (dhy) and cy (dcy). Outputs are written; any may be
// null (not wanted).
template <class T, class B>
void backward(B& be, const Dims& d, const T* x, const T* w, const T* hx, const T* cx,
              const int64_t* lens, const T* res, const T* dout, const T* dhy, const T* dcy,
              T* dx, T* dw, T* dhx, T* dcx) {
  int64_t T_ = d.T, N = d.N, H = d.H, R = d.R(), P = d.P, D = d.D, GH = d.G * H, TN = T_ * N,
          DR = D * R;
  bool lstm = d.mode == kLstm, gru = d.mode == kGru;
  if (!dw) dw = be.template scratch<T>(d.param_size());
  if (!dhx) dhx = be.template scratch<T>(d.L * D * N * R);
  if (lstm && !dcx) dcx = be.template scratch<T>(d.L * D * N * H);
  T* dgx = be.template scratch<T>(TN * GH);
  T* dgh = gru ? be.template scratch<T>(TN * GH) : dgx;
  T* dh = be.template scratch<T>(N * R);  // the recurrent state's gradient
  T* dc = be.template scratch<T>(N * H);
  T* dxl = d.L > 1 ? be.template scratch<T>(TN * DR) : nullptr;  // dx of a layer l >= 1
  T* dyl = d.L > 1 ? be.template scratch<T>(TN * DR) : nullptr;  // dy of a layer l < L-1
  // With projection: the projected output's gradient, the cell output's, and zeros (the cell
  // output has no recurrent gradient of its own).
  T* dr = P ? be.template scratch<T>(N * P) : nullptr;
  T* dhc = P ? be.template scratch<T>(N * H) : nullptr;
  T* zeros = P ? be.template scratch<T>(N * H) : nullptr;
  if (P) be.each(N * H, Fill<T>{zeros, T(0)});
  for (int64_t l = d.L - 1; l >= 0; --l) {
    const T* xl = l == 0 ? x : res + d.xin_off(l);
    int64_t in = d.in_size(l);
    const T* dy = l == d.L - 1 ? dout : dyl;
    T* dxo = l == 0 ? dx : dxl;
    for (int64_t dir = 0; dir < D; ++dir) {
      const T* wx = w + d.w_off(l, dir);
      const T* wh = wx + GH * in;
      const T* wr = wh + GH * R;
      T* dwx = dw + d.w_off(l, dir);
      T* dwh = dwx + GH * in;
      T* dwr = dwh + GH * R;
      T* dbx = dw + d.b_off(l, dir);
      int64_t sidx = l * D + dir;
      const T* gates = res + d.gates_off(l, dir);
      const T* cells = res + d.cells_off(l, dir);
      const T* hs = res + d.hs_off(l, dir);
      const T* raws = res + d.raw_off(l, dir);
      be.each(N * R, Copy2D<T>{dhy + sidx * N * R, R, dh, R, R});
      if (lstm) be.each(N * H, Copy2D<T>{dcy + sidx * N * H, H, dc, H, H});
      for (int64_t s = T_ - 1; s >= 0; --s) {
        int64_t t = dir == 0 ? s : T_ - 1 - s;
        bool first = s == 0;  // the step whose previous state is the initial one
        int64_t tp = dir == 0 ? t - 1 : t + 1;
        const T* hp = first ? hx + sidx * N * R : hs + tp * N * R;
        const T* cp = !lstm ? nullptr : first ? cx + sidx * N * H : cells + tp * N * H;
        const T* dyt = dy + t * N * DR + dir * R;
        int64_t lddy = DR;
        T* dhs = dh;
        if (P) {
          // dr = dy + dh; d(cell output) = dr W_h2r; dW_h2r (+)= dr^T (cell output).
          be.each(N * P, ProjectBack<T>{dyt, DR, P, dh, dr, lens, t});
          be.gemm(false, false, N, H, P, dr, P, wr, H, dhc, false);
          be.gemm(true, false, P, H, N, dr, P, raws + t * N * H, H, dwr, s != T_ - 1);
          dyt = dhc;
          lddy = H;
          dhs = zeros;
        }
        be.each(N * H, StepBack<T>{d, dyt, lddy, gates + t * N * d.GS * H,
                                   lstm ? cells + t * N * H : nullptr, cp, hp, dhs, dc,
                                   dgx + t * N * GH, dgh + t * N * GH, lens, t});
        // dh_prev += dgh W_h2h; dW_h2h (+)= dgh^T h_prev.
        be.gemm(false, false, N, R, GH, dgh + t * N * GH, GH, wh, R, dh, true);
        be.gemm(true, false, GH, R, N, dgh + t * N * GH, GH, hp, R, dwh, s != T_ - 1);
      }
      if (T_ == 0) be.each(GH * R + P * H, Fill<T>{dwh, T(0)});
      be.each(N * R, Copy2D<T>{dh, R, dhx + sidx * N * R, R, R});
      if (lstm) be.each(N * H, Copy2D<T>{dc, H, dcx + sidx * N * H, H, H});
      be.gemm(true, false, GH, in, TN, dgx, GH, xl, in, dwx, false);
      be.each(GH, ColSum<T>{dgx, TN, GH, dbx});
      be.each(GH, ColSum<T>{dgh, TN, GH, dbx + GH});
      if (dxo) be.gemm(false, false, TN, in, GH, dgx, GH, wx, in, dxo, dir > 0);
    }
    if (l > 0) be.each(TN * DR, Mul<T>{dxl, res + d.mask_off(l - 1), dyl});
  }
}

}  // namespace rnn_ops
}  // namespace brass
