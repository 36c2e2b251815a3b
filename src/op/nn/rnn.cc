// RNN (MXNet's fused recurrent layer): rnn_relu, rnn_tanh, lstm or gru cells, num_layers
// stacked, optionally bidirectional, over data (T, N, I) with one flat parameter vector (layout
// in rnn_params.h). Outputs: out (T, N, D*H), hy and cy (lstm) — visible with state_outputs —
// and a hidden reserve (gate values, cell states, layer outputs and dropout masks) that the
// gradient op _backward_RNN uses for backprop through time. Both algorithms are written once in
// rnn_params.h; this file runs them with a CPU backend (cuda/nn_rnn.cu with a CUDA one).
// With use_sequence_length, a sequence_length input (N,) ends each sequence early (outputs 0
// past it, the state carried). With projection_size P (lstm only), the cell output is
// projected to P values (LSTMP), which are the output and the recurrent state.
// Also _rnn_param_concat: Concat with a shape inference that fills an unknown input.
#include <memory>
#include <string>
#include <vector>

#include "engine/thread_pool.h"
#include "op/grad.h"
#include "op/nn/rnn_params.h"
#include "op/operator.h"
#include "op/tensor/dot_params.h"
#include "op/tensor/matrix_params.h"

namespace brass {
namespace rnn_ops {

#if BRASS_ALL_OPS || BRASS_OP_RNN
void check_supported(const RNNParam& p, const char* op) {
  if (!p.projection_size) return;
  if (p.mode != "lstm")
    fail(BRASS_ERR_INVALID_ARGUMENT, op, ": projection_size is for mode=lstm only (got mode=",
         p.mode, ", projection_size=", *p.projection_size, ")");
  if (*p.projection_size < 1)
    fail(BRASS_ERR_INVALID_ARGUMENT, op, ": projection_size must be at least 1, got ",
         *p.projection_size);
}

std::string layout_text(const Dims& d) {
  std::string gh = std::to_string(d.G * d.H), r = std::to_string(d.R());
  return "all weights first (for each layer, for each direction: W_i2h (" + gh +
         ", input size), W_h2h (" + gh + ", " + r + ")" +
         (d.P ? ", W_h2r (" + r + ", " + std::to_string(d.H) + ")" : std::string()) +
         "), then all biases in the same order (b_i2h, b_h2h of " + gh + " each)";
}

// A known input shape must equal the expected one.
void check_shape(const Shape& got, const Shape& want, const char* op, const char* what,
                 const char* last, const Shape& data) {
  if (!got.ndim_known()) return;
  bool ok = got.ndim() == want.ndim();
  for (int i = 0; ok && i < got.ndim(); ++i) ok = got[i] < 0 || want[i] < 0 || got[i] == want[i];
  if (!ok)
    fail(BRASS_ERR_SHAPE, op, ": ", what, " has shape ", got, ", expected ", want,
         " (num_layers * directions, batch, ", last, ") for data ", data);
}

bool rnn_shape(const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
  const auto& p = a.param<RNNParam>();
  const char* op = "RNN";
  check_supported(p, op);
  Shape& data = in[0];
  if (data.ndim_known() && data.ndim() != 3)
    fail(BRASS_ERR_SHAPE, op, ": data must be (sequence length, batch, input size), got ", data);
  int64_t LD = p.num_layers * (p.bidirectional ? 2 : 1), H = p.state_size;
  int64_t R = p.projection_size ? *p.projection_size : H;  // the recurrent state's size
  const char* rname = p.projection_size ? "projection_size" : "state_size";
  // The batch can come from the state when the data's is unknown.
  if (data.ndim_known() && data[1] < 0 && in[2].ndim() == 3 && in[2][1] >= 0) data[1] = in[2][1];
  int64_t N = data.ndim_known() ? data[1] : -1;
  Shape st{LD, N, R}, cell{LD, N, H};
  check_shape(in[2], st, op, "state", rname, data);
  infer::assign_shape(in[2], st, op, "state");
  if (p.mode == "lstm") {
    check_shape(in[3], cell, op, "state_cell", "state_size", data);
    infer::assign_shape(in[3], cell, op, "state_cell");
  }
  if (p.use_sequence_length) {
    Shape& sl = in[size_t(seq_index(p))];
    if (sl.ndim_known() && !(sl.ndim() == 1 && (sl[0] < 0 || N < 0 || sl[0] == N)))
      fail(BRASS_ERR_SHAPE, op, ": sequence_length has shape ", sl, ", expected (batch,) = (",
           N, ",) for data ", data);
    infer::assign_shape(sl, Shape{N}, op, "sequence_length");
  }
  if (!data.ndim_known() || data[2] < 0) return false;
  Dims d = make_dims(p, Shape{data[0] < 0 ? 1 : data[0], N < 0 ? 1 : N, data[2]});
  int64_t psize = d.param_size();
  if (in[1].ndim_known() && !(in[1].ndim() == 1 && (in[1][0] < 0 || in[1][0] == psize)))
    fail(BRASS_ERR_SHAPE, op, ": parameters has shape ", in[1], ", expected (", psize,
         ",) for mode=", p.mode, ", num_layers=", p.num_layers, ", bidirectional=",
         p.bidirectional ? "True" : "False", ", input size ", data[2], ", state_size ", H,
         p.projection_size ? ", projection_size " + std::to_string(R) : std::string(), ": ",
         layout_text(d));
  infer::assign_shape(in[1], Shape{psize}, op, "parameters");
  if (!data.known()) return false;
  d = make_dims(p, data);
  infer::assign_shape(out[0], Shape{data[0], data[1], d.D * R}, op, "output");
  infer::assign_shape(out[1], st, op, "state output");
  if (p.mode == "lstm") infer::assign_shape(out[2], cell, op, "state_cell output");
  infer::assign_shape(out[reserve_index(p)], Shape{d.reserve_size()}, op, "reserve");
  return true;
}

// The first nf inputs and every output have one type, float32 or float64.
bool float_type(int nf, std::vector<int>& in, std::vector<int>& out) {
  int t = -1;
  for (int i = 0; i < nf; ++i) infer::assign_type(t, in[i], "RNN", "inputs");
  for (int v : out) infer::assign_type(t, v, "RNN", "outputs");
  if (t < 0) return false;
  if (DType(t) != DType::kFloat32 && DType(t) != DType::kFloat64)
    fail(BRASS_ERR_DTYPE, "RNN: only float32 and float64 are supported, got ",
         dtype_name(DType(t)));
  for (int i = 0; i < nf; ++i) in[i] = t;
  for (auto& v : out) v = t;
  return true;
}

// sequence_length (any type) is left out of the float inputs.
bool float_type_but(int skip, std::vector<int>& in, std::vector<int>& out) {
  std::vector<int> f;
  for (size_t i = 0; i < in.size(); ++i)
    if (int(i) != skip) f.push_back(in[i]);
  bool ok = float_type(int(f.size()), f, out);
  for (size_t i = 0, k = 0; i < in.size(); ++i)
    if (int(i) != skip) in[i] = f[k++];
  return ok && (skip < 0 || in[size_t(skip)] >= 0);
}

bool rnn_type(const NodeAttrs& a, std::vector<int>& in, std::vector<int>& out) {
  return float_type_but(seq_index(a.param<RNNParam>()), in, out);
}

// The CPU backend of the algorithms in rnn_params.h.
struct CpuBackend {
  DType dtype;
  std::vector<std::unique_ptr<char[]>> bufs;
  template <class T> T* scratch(int64_t n) {
    bufs.emplace_back(new char[size_t(n > 0 ? n : 1) * sizeof(T)]);
    return reinterpret_cast<T*>(bufs.back().get());
  }
  void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const void* a, int64_t lda,
            const void* b, int64_t ldb, void* c, bool add) {
    if (m == 0 || n == 0) return;
    dot_ops::gemm_any(dtype, ta, tb, m, n, k, a, lda, b, ldb, c, add ? Req::kAdd : Req::kWrite);
  }
  template <class F> void each(int64_t n, const F& f) {
    thread_pool::parallel_for(n, 4096, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) f(i);
    });
  }
};

template <class Fn>
void dispatch(DType t, Fn&& f) {
  dispatch_f32_f64(t, "RNN", f);
}

template <class T> T* want(const OpContext& ctx, const std::vector<TBlob>& out, size_t k) {
  return k < out.size() && ctx.req[k] != Req::kNull ? out[k].ptr<T>() : nullptr;
}

// The sequence lengths, when used (input k of dtype any), checked.
std::vector<int64_t> cpu_lengths(const std::vector<TBlob>& in, int k, const Dims& d) {
  if (k < 0) return {};
  return lengths(in[size_t(k)].dptr, in[size_t(k)].dtype, d.N, d.T);
}

void rnn_cpu(const OpContext& ctx, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
  const auto& p = ctx.param<RNNParam>();
  check_supported(p, "RNN");
  Dims d = make_dims(p, in[0].shape);
  bool lstm = d.mode == kLstm;
  std::vector<int64_t> lens = cpu_lengths(in, seq_index(p), d);
  CpuBackend be{in[0].dtype, {}};
  dispatch(in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    T* res = out[reserve_index(p)].ptr<T>();
    forward<T>(be, d, in[0].ptr<T>(), in[1].ptr<T>(), in[2].ptr<T>(),
               lstm ? in[3].ptr<T>() : nullptr, p.use_sequence_length ? lens.data() : nullptr,
               want<T>(ctx, out, 0), want<T>(ctx, out, 1),
               lstm ? want<T>(ctx, out, 2) : nullptr, res, ctx.is_train && p.p > 0,
               1.0 - p.p, ctx.rng);
  });
}
#endif

#if BRASS_TRAINING
// _backward_RNN inputs: data, parameters, state, [state_cell], [sequence_length], reserve,
// d out, d hy, [d cy]; outputs: d data, d parameters, d state, [d state_cell].
void rnn_backward_cpu(const OpContext& ctx, const std::vector<TBlob>& in,
                      const std::vector<TBlob>& out) {
  const auto& p = ctx.param<RNNParam>();
  Dims d = make_dims(p, in[0].shape);
  bool lstm = d.mode == kLstm;
  int r = num_inputs(p);  // the reserve, after the forward's inputs
  std::vector<int64_t> lens = cpu_lengths(in, seq_index(p), d);
  CpuBackend be{in[0].dtype, {}};
  dispatch(in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    backward<T>(be, d, in[0].ptr<T>(), in[1].ptr<T>(), in[2].ptr<T>(),
                lstm ? in[3].ptr<T>() : nullptr, p.use_sequence_length ? lens.data() : nullptr,
                in[r].ptr<T>(), in[r + 1].ptr<T>(),
                in[r + 2].ptr<T>(), lstm ? in[r + 3].ptr<T>() : nullptr, want<T>(ctx, out, 0),
                want<T>(ctx, out, 1), want<T>(ctx, out, 2),
                lstm ? want<T>(ctx, out, 3) : nullptr);
  });
}

bool rnn_backward_shape(const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
  int ns = num_states(a.param<RNNParam>());
  for (int k = 0; k < 2 + ns; ++k) infer::assign_shape(out[k], in[k], "_backward_RNN", "gradient");
  for (auto& s : out)
    if (!s.known()) return false;
  return true;
}
#endif

#if BRASS_ALL_OPS || BRASS_OP_RNN
std::vector<NodeEntry> rnn_grad(const NodePtr& n, const std::vector<NodeEntry>& g) {
  const auto& p = n->attrs->param<RNNParam>();
  int ns = num_states(p);
  grad::Entries ins;
  for (int k = 0; k < 2 + ns; ++k) ins.push_back(grad::in(n, size_t(k)));
  if (p.use_sequence_length) ins.push_back(grad::in(n, size_t(seq_index(p))));
  ins.push_back(grad::out(n, uint32_t(reserve_index(p))));
  for (int k = 0; k <= ns; ++k)  // d out, d hy, [d cy]: zeros where no gradient comes
    ins.push_back(g[size_t(k)].empty() ? grad::apply("zeros_like", {grad::out(n, uint32_t(k))})
                                       : g[size_t(k)]);
  NodePtr b = grad::node("_backward_RNN", ins, n->attrs->dict);
  std::vector<NodeEntry> r;
  for (int k = 0; k < 2 + ns; ++k) r.push_back(grad::out(b, uint32_t(k)));
  if (p.use_sequence_length) r.push_back(NodeEntry{});
  return r;
}
#endif

#if BRASS_ALL_OPS || BRASS_OP_rnn_param_concat
// ---- _rnn_param_concat --------------------------------------------------------------------
// MXNet's Concat for gluon's RNN layers (joining the per-gate weights into the flat parameter
// vector): Concat's parameters, kernels and gradient, with a shape inference that also fills
// one unknown input (or its unknown extent along dim) from the output.
bool param_concat_shape(const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
  const char* op = "_rnn_param_concat";
  int nd = out[0].ndim_known() ? out[0].ndim() : -1;
  for (const Shape& s : in) {
    if (!s.ndim_known()) continue;
    if (nd >= 0 && s.ndim() != nd)
      fail(BRASS_ERR_SHAPE, op, ": input has shape ", s, ", expected ", nd, " axes");
    nd = s.ndim();
  }
  if (nd < 0) return false;
  int ax = normalize_axis(a.param<matrix_ops::ConcatParam>().dim, nd, op);
  // Every axis but ax is shared by the inputs and the output.
  Shape common(nd);
  for (int d = 0; d < nd; ++d) common[d] = -1;
  auto unify = [&](const Shape& s) {
    if (!s.ndim_known()) return;
    for (int d = 0; d < nd; ++d) {
      if (d == ax || s[d] < 0) continue;
      if (common[d] >= 0 && common[d] != s[d])
        fail(BRASS_ERR_SHAPE, op, ": shapes ", s, " and ", common, " differ outside dim ", ax);
      common[d] = s[d];
    }
  };
  for (const Shape& s : in) unify(s);
  unify(out[0]);
  int64_t sum = 0;
  int unknown = -1, n_unknown = 0;
  for (size_t k = 0; k < in.size(); ++k) {
    Shape want = common;
    want[ax] = in[k].ndim_known() ? in[k][ax] : -1;
    infer::assign_shape(in[k], want, op, "input");
    if (in[k][ax] < 0) {
      unknown = int(k);
      ++n_unknown;
    } else {
      sum += in[k][ax];
    }
  }
  Shape o = common;
  o[ax] = n_unknown == 0 ? sum : out[0].ndim_known() ? out[0][ax] : -1;
  infer::assign_shape(out[0], o, op, "output");
  if (n_unknown == 1 && out[0][ax] >= 0) {
    if (out[0][ax] < sum)
      fail(BRASS_ERR_SHAPE, op, ": output extent ", out[0][ax], " along dim ", ax,
           " is less than the known inputs' ", sum);
    in[size_t(unknown)][ax] = out[0][ax] - sum;
  }
  for (const Shape& s : in)
    if (!s.known()) return false;
  return out[0].known();
}

// Runs Concat's kernel for device `dev` (0 cpu, 1 cuda) on the same (Concat) parameters.
void param_concat_run(int dev, const OpContext& ctx, const std::vector<TBlob>& in,
                      const std::vector<TBlob>& out) {
  const Op* concat = OpRegistry::get().find("Concat");
  if (!concat || !concat->compute[dev])
    fail(BRASS_ERR_UNSUPPORTED, "_rnn_param_concat: Concat has no kernel for this device");
  concat->compute[dev](ctx, in, out);
}
#endif

[[maybe_unused]] const bool kRegistered = [] {
#if BRASS_ALL_OPS || BRASS_OP_rnn_param_concat
  OpRegistry::get().add("_rnn_param_concat")
      .describe("Joins arrays along dim (like Concat); shape inference also fills one unknown "
                "input from the output (used for the flat parameter vector of RNN).")
      .set_num_inputs([](const NodeAttrs& a) { return a.param<matrix_ops::ConcatParam>().num_args; })
      .params<matrix_ops::ConcatParam>()
      .shape_fn(param_concat_shape)
      .partial_infer()
      .type_fn(infer::same_type)
      .cpu([](const OpContext& ctx, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
        param_concat_run(0, ctx, in, out);
      })
      .grad([](const NodePtr& n, const std::vector<NodeEntry>& g) {
        return OpRegistry::get().find("Concat")->gradient(n, g);  // _backward_Concat's parts
      });
#endif
#if BRASS_ALL_OPS || BRASS_OP_RNN
  OpRegistry::get().add("RNN")
      .describe("A fused recurrent layer (MXNet's RNN): rnn_relu, rnn_tanh, lstm or gru "
                "cells, num_layers stacked, optionally bidirectional, over data (T, N, I) "
                "(layout TNC).\n\n"
                "parameters is one flat vector: every weight first (for each layer, for each "
                "direction: W_i2h (G*H, input size), W_h2h (G*H, H)), then every bias in the "
                "same order (b_i2h, b_h2h, G*H each); G = 4 for lstm (gates i, f, g, o), 3 for "
                "gru (r, z, n), 1 otherwise. state is (num_layers * D, N, H) (D = 2 if "
                "bidirectional), state_cell too (lstm). Outputs: out (T, N, D*H), and with "
                "state_outputs=True the final states hy (and cy for lstm). With "
                "projection_size=P (lstm only), each direction's weights end with W_h2r "
                "(P, H), which projects the cell output o * tanh(c): W_h2h is (G*H, P), state, "
                "hy and each direction's part of out have size P instead of H (state_cell "
                "keeps H), and the input size of layers after the first is D*P. With p > 0, "
                "dropout is applied to the outputs of every layer but the last in training. "
                "With use_sequence_length=True, sequence_length (N,) gives each sequence's "
                "length: later steps output 0 and leave the state as it was (the reverse "
                "direction starts at the sequence's last step).")
      .inputs({"data", "parameters", "state", "state_cell", "sequence_length"})
      .inputs_named([](const NodeAttrs& a) {  // state_cell for LSTM only
        const auto& p = a.param<RNNParam>();
        std::vector<std::string> n{"data", "parameters", "state"};
        if (num_states(p) > 1) n.push_back("state_cell");
        if (p.use_sequence_length) n.push_back("sequence_length");
        return n;
      })
      .set_num_outputs([](const NodeAttrs& a) { return 2 + num_states(a.param<RNNParam>()); })
      .visible_outputs([](const NodeAttrs& a) {
        const auto& p = a.param<RNNParam>();
        return p.state_outputs ? 1 + num_states(p) : 1;
      })
      .params<RNNParam>()
      .shape_fn(rnn_shape)
      .partial_infer()
      .type_fn(rnn_type)
      .random()
      .cpu(rnn_cpu)
      .grad(rnn_grad);
#endif
#if BRASS_TRAINING
  OpRegistry::get().add("_backward_RNN")
      .describe("Gradient of RNN (backprop through time): inputs data, parameters, state, "
                "[state_cell], the forward's reserve, and the gradients of out, hy, [cy]; "
                "outputs the gradients of data, parameters, state, [state_cell].")
      .set_num_inputs([](const NodeAttrs& a) {
        const auto& p = a.param<RNNParam>();
        return 4 + 2 * num_states(p) + (p.use_sequence_length ? 1 : 0);
      })
      .set_num_outputs([](const NodeAttrs& a) { return 2 + num_states(a.param<RNNParam>()); })
      .params<RNNParam>()
      .shape_fn(rnn_backward_shape)
      .type_fn([](const NodeAttrs& a, std::vector<int>& in, std::vector<int>& out) {
        return float_type_but(seq_index(a.param<RNNParam>()), in, out);
      })
      .cpu(rnn_backward_cpu);
#endif
  return true;
}();

}  // namespace rnn_ops
}  // namespace brass
