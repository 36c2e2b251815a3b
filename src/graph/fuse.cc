// Element-wise fusion.
#include "graph/fuse.h"

#include <algorithm>
#include <memory>
#include <functional>
#include <numeric>
#include <tuple>
#include <type_traits>
#include <unordered_map>

#include "engine/thread_pool.h"
#include "op/nn/activation_params.h"
#include "op/nn/bn_params.h"
#include "op/nn/conv_params.h"
#include "op/tensor/matrix_params.h"

namespace brass {
namespace graph {

namespace {

// One op of a fused group: its inputs are the group's inputs (>= 0) or earlier steps (-1 - k).
struct Step {
  const Op* op;
  std::shared_ptr<const NodeAttrs> attrs;
  std::vector<int> args;
  DType dtype;
};

struct Program {
  std::vector<Step> steps;
  std::vector<DType> in_types;
};

const Program& program(const NodeAttrs& a) { return *static_cast<const Program*>(a.parsed.get()); }

constexpr int64_t kBlock = 8192;  // elements per block: every step's block stays in cache
constexpr uint32_t kMaxSteps = 32;  // ops per fused group (a scratch block each)

void run_fused(const OpContext& ctx, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
  const Program& p = program(*ctx.attrs);
  int64_t n = out[0].size();
  size_t ns = p.steps.size();
  // Each step but the last (which writes the output) fills a block of scratch: blk elements,
  // every block 64-byte aligned in one buffer kept per thread (uninitialized: each step writes
  // its block before a later one reads it).
  const int64_t blk = std::min(kBlock, n);
  std::vector<size_t> at(ns, 0);
  size_t bytes = 0;
  for (size_t k = 0; k + 1 < ns; ++k) {
    at[k] = bytes;
    bytes += (size_t(blk) * dtype_size(p.steps[k].dtype) + 63) / 64 * 64;
  }
  bytes += 64;  // room to align the start
  thread_pool::parallel_for((n + kBlock - 1) / kBlock, 1, [&](int64_t b0, int64_t b1) {
    thread_local std::unique_ptr<char[]> t_buf;
    thread_local size_t t_size = 0;
    if (t_size < bytes) {
      t_buf.reset(new char[bytes]);
      t_size = bytes;
    }
    char* base = t_buf.get() + (64 - reinterpret_cast<uintptr_t>(t_buf.get()) % 64) % 64;
    std::vector<TBlob> si, so(1);
    OpContext sc;
    sc.dev = ctx.dev;
    for (int64_t b = b0; b < b1; ++b) {
      int64_t lo = b * kBlock, len = std::min(kBlock, n - lo);
      Shape shape{len};
      for (size_t k = 0; k < ns; ++k) {
        const Step& s = p.steps[k];
        si.clear();
        for (int a : s.args) {
          if (a >= 0) {
            const TBlob& t = in[size_t(a)];
            si.emplace_back(static_cast<char*>(t.dptr) + lo * int64_t(dtype_size(t.dtype)), shape, t.dtype, t.dev);
          } else {
            size_t j = size_t(-1 - a);
            si.emplace_back(base + at[j], shape, p.steps[j].dtype, ctx.dev);
          }
        }
        bool last = k + 1 == ns;
        so[0] = last ? TBlob(static_cast<char*>(out[0].dptr) + lo * int64_t(dtype_size(out[0].dtype)), shape,
                             out[0].dtype, out[0].dev)
                     : TBlob(base + at[k], shape, s.dtype, ctx.dev);
        sc.attrs = s.attrs.get();
        sc.req.assign(1, last ? ctx.req[0] : Req::kWrite);
        s.op->compute[0](sc, si, so);
      }
    }
  });
}

const Op& fused_op() {
  static const Op* op = [] {
    auto* o = new Op();
    o->name = "_FusedPointwise";
    o->num_inputs = -1;
    o->num_inputs_fn = [](const NodeAttrs& a) { return int(program(a).in_types.size()); };
    o->infer_shape = infer::same_shape;
    o->partial_shape = true;
    o->infer_type = [](const NodeAttrs& a, std::vector<int>& in, std::vector<int>& out) {
      const Program& p = program(a);
      for (size_t i = 0; i < in.size(); ++i) infer::assign_type(in[i], int(p.in_types[i]), "_FusedPointwise", "input");
      infer::assign_type(out[0], int(p.steps.back().dtype), "_FusedPointwise", "output");
      return true;
    };
    o->compute[0] = run_fused;
    return o;
  }();
  return *op;
}

bool fusable(const Node& n) {
  return !n.is_variable() && n.op->pointwise && n.op->compute[0] && n.op->outputs_for(*n.attrs) == 1 &&
         !n.op->need_random && !n.op->mutates_any() && !n.op->temp_size;
}

// ---- BatchNorm + a unary pointwise op ----------------------------------------------------
struct BnAct {
  std::shared_ptr<const NodeAttrs> bn, act;
};

const BnAct& bn_act(const NodeAttrs& a) { return *static_cast<const BnAct*>(a.parsed.get()); }

// BatchNorm (attributes bn) with the unary op of `act` as its epilogue.
void bn_then(const OpContext& ctx, const NodeAttrs* bn, const NodeAttrs* aa, const std::vector<TBlob>& in,
             const std::vector<TBlob>& out) {
  OpContext bc = ctx;
  bc.attrs = bn;
  const DType dt = out[0].dtype;
  const Device dev = ctx.dev;
  const bool train = ctx.is_train;
  bn_ops::Epilogue epi = [aa, dt, dev, train](void* p, int64_t n) {
    std::vector<TBlob> v{TBlob(p, Shape{n}, dt, dev)};
    OpContext ac;
    ac.dev = dev;
    ac.attrs = aa;
    ac.req.assign(1, Req::kWrite);
    ac.is_train = train;
    aa->op->compute[0](ac, v, v);
  };
  bn_ops::bn_forward_epilogue(bc, in, out, epi);
}

void run_bn_act(const OpContext& ctx, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
  // The op does not declare add_req, so the executor never asks it to add.
  if (ctx.req[0] == Req::kAdd) fail(BRASS_ERR_INTERNAL, "_BatchNormActivation: add request");
  const BnAct& f = bn_act(*ctx.attrs);
  bn_then(ctx, f.bn.get(), f.act.get(), in, out);
}

// BatchNorm's op with the pair's attributes: its shape, type and output functions read the
// BatchNorm attributes kept inside.
const Op& bn_act_op() {
  static const Op* op = [] {
    const Op* bn = OpRegistry::get().find("BatchNorm");
    auto* o = new Op(*bn);
    o->name = "_BatchNormActivation";
    o->aliases.clear();
    o->infer_shape = [bn](const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
      return bn->infer_shape(*bn_act(a).bn, in, out);
    };
    o->infer_type = [bn](const NodeAttrs& a, std::vector<int>& in, std::vector<int>& out) {
      return bn->infer_type(*bn_act(a).bn, in, out);
    };
    o->num_visible_fn = [bn](const NodeAttrs& a) { return bn->visible_outputs_for(*bn_act(a).bn); };
    o->num_outputs_fn = [bn](const NodeAttrs& a) { return bn->outputs_for(*bn_act(a).bn); };
    o->compute[0] = run_bn_act;
    o->compute[1] = nullptr;
    o->compute_nd = nullptr;
    o->gradient = nullptr;
    o->pointwise = false;
    o->add_to = false;
    o->inplace.clear();
    return o;
  }();
  return *op;
}

// ---- Convolution + BatchNorm [+ relu or clip] ---------------------------------------------

struct ConvBn {
  std::shared_ptr<const NodeAttrs> conv, bn, act;  // act: null, relu or clip
  int nconv;  // the convolution's inputs (data, weight[, bias]); BatchNorm's four follow
  conv_ops::ConvStorage storage;  // store_channels_last
  bool residual = false;  // a last input added before the activation (fuse_conv_residual)
};

const ConvBn& conv_bn(const NodeAttrs& a) { return *static_cast<const ConvBn*>(a.parsed.get()); }

// The fused activation (relu or clip) into e.
template <class T>
void set_act(const ConvBn& f, conv_ops::ConvEpilogue<T>* e) {
  if (f.act->op->name == "clip") {
    e->act = conv_ops::ConvAct::kClip;
    const auto bounds = matrix_ops::clip_bounds<T>(f.act->param<matrix_ops::ClipParam>());
    e->lo = bounds.lo;
    e->hi = bounds.hi;
  } else {
    e->act = conv_ops::ConvAct::kRelu;
  }
}

template <class T>
void run_conv_bn_as(const OpContext& ctx, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
  const ConvBn& f = conv_bn(*ctx.attrs);
  const auto nc = static_cast<std::ptrdiff_t>(f.nconv);
  const std::vector<TBlob> conv_in(in.begin(), in.begin() + nc);
  std::vector<TBlob> bn_in{out[0]};
  bn_in.insert(bn_in.end(), in.begin() + nc, in.begin() + nc + 4);
  conv_ops::ConvEpilogue<T> e;
  if (f.residual) {
    e.residual = in.back().ptr<T>();
    e.residual_of = out[0].ptr<T>();
  }
  OpContext cc = ctx;
  cc.attrs = f.conv.get();
  cc.req.assign(1, ctx.req[0]);
  OpContext bc = ctx;
  bc.attrs = f.bn.get();
  const auto& bp = f.bn->param<bn_ops::BNParam>();
  if (ctx.is_train && !bp.use_global_stats) {
    if (f.storage.in_last || f.storage.out_last)
      fail(BRASS_ERR_UNSUPPORTED, "_ConvolutionBatchNorm: a value stored channels-last (an inference bind) ",
           "cannot run BatchNorm on batch statistics (is_train)");
    // Batch statistics: the convolution's output first, then BatchNorm in place on it (then
    // the residual and the activation).
    f.conv->op->compute[0](cc, conv_in, {out[0]});
    if (f.act && !f.residual) {
      bn_then(ctx, f.bn.get(), f.act.get(), bn_in, out);
      return;
    }
    f.bn->op->compute[0](bc, bn_in, out);
    if (f.residual) {
      if (f.act) set_act(f, &e);
      conv_ops::conv_epilogue_rows(e, out[0].ptr<T>(), 1, int64_t(out[0].size()));
    }
    return;
  }
  const size_t c = static_cast<size_t>(in[size_t(nc) + 2].size());
  std::vector<T> mean(c), scale(c);
  bn_ops::bn_inference_affine(bc, bn_in, out, mean.data(), scale.data(), ctx.versions ? ctx.versions + nc : nullptr);
  e.mean = mean.data();
  e.scale = scale.data();
  e.shift = in[size_t(nc) + 1].ptr<T>();
  if (f.act) set_act(f, &e);
  conv_ops::conv_forward_epilogue(cc, conv_in, out[0], e, f.storage);
}

void run_conv_bn(const OpContext& ctx, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
  if (ctx.req[0] == Req::kAdd) fail(BRASS_ERR_INTERNAL, "_ConvolutionBatchNorm: add request");
  dispatch_f32_f64(out[0].dtype, "_ConvolutionBatchNorm", [&](auto tag) {
    run_conv_bn_as<decltype(tag)>(ctx, in, out);
  });
}

// Inputs: the convolution's, then BatchNorm's gamma, beta, moving mean and var; outputs and
// their shapes and types: BatchNorm's (of the convolution's output).
const Op& conv_bn_op() {
  static const Op* op = [] {
    const Op* conv = OpRegistry::get().find("Convolution");
    const Op* bn = OpRegistry::get().find("BatchNorm");
    auto* o = new Op();
    o->name = "_ConvolutionBatchNorm";
    o->num_inputs = -1;
    o->num_inputs_fn = [](const NodeAttrs& a) { return conv_bn(a).nconv + 4 + int(conv_bn(a).residual); };
    o->num_outputs_fn = [bn](const NodeAttrs& a) { return bn->outputs_for(*conv_bn(a).bn); };
    o->num_visible_fn = [bn](const NodeAttrs& a) { return bn->visible_outputs_for(*conv_bn(a).bn); };
    o->mutate_fn = [](const NodeAttrs& a) { return std::vector<int>{conv_bn(a).nconv + 2, conv_bn(a).nconv + 3}; };
    o->mutates_in_training = true;
    // Each part's function on its own inputs, the convolution's output between them.
    auto split = [](const NodeAttrs& a, auto& in, auto& out, auto&& conv_fn, auto&& bn_fn) {
      const ConvBn& f = conv_bn(a);
      const auto nc = static_cast<std::ptrdiff_t>(f.nconv);
      // BatchNorm's output has its data's shape and type: what is known of it seeds the
      // convolution's output.
      std::remove_reference_t<decltype(in)> ci(in.begin(), in.begin() + nc), bi(1, out[0]), co(1, out[0]);
      bi.insert(bi.end(), in.begin() + nc, in.begin() + nc + 4);
      if (!conv_fn(*f.conv, ci, co)) return false;
      bi[0] = co[0];
      const bool ok = bn_fn(*f.bn, bi, out);
      std::copy(ci.begin(), ci.end(), in.begin());
      std::copy(bi.begin() + 1, bi.end(), in.begin() + nc);
      return ok;
    };
    // The residual: the output's shape and type.
    o->infer_shape = [conv, bn, split](const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
      const bool ok = split(a, in, out, conv->infer_shape, bn->infer_shape);
      if (ok && conv_bn(a).residual) infer::assign_shape(in.back(), out[0], "_ConvolutionBatchNorm", "residual");
      return ok;
    };
    o->infer_type = [conv, bn, split](const NodeAttrs& a, std::vector<int>& in, std::vector<int>& out) {
      const bool ok = split(a, in, out, conv->infer_type, bn->infer_type);
      if (ok && conv_bn(a).residual) {
        if (in.back() < 0) in.back() = out[0];
        else if (in.back() != out[0])
          fail(BRASS_ERR_DTYPE, "_ConvolutionBatchNorm: residual of type ", dtype_name(DType(in.back())),
               " for an output of type ", dtype_name(DType(out[0])));
      }
      return ok;
    };
    o->temp_size = [conv](const NodeAttrs& a, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
      const ConvBn& f = conv_bn(a);
      return conv->temp_size(*f.conv, std::vector<TBlob>(in.begin(), in.begin() + f.nconv), {out[0]});
    };
    o->compute[0] = run_conv_bn;
    o->want_versions = true;  // the convolution's kept filter packing
    return o;
  }();
  return *op;
}

// A convolution whose output may carry the fused epilogue: CPU layout channels-first.
bool epilogue_conv(const Node& n) {
  if (n.is_variable() || n.op->name != "Convolution") return false;
  const auto& layout = n.attrs->param<conv_ops::ConvParam>().layout;
  return !layout || layout->rfind("NC", 0) == 0;
}

// relu (Activation or the op) or clip: what the epilogue applies itself.
bool epilogue_act(const Node& n) {
  if (n.is_variable()) return false;
  if (n.op->name == "relu" || n.op->name == "clip") return true;
  return n.op->name == "Activation" && n.attrs->param<act_ops::ActivationParam>().act_type == "relu";
}

// A node of op (no inputs yet) named and with the parameters of `like`, the fused program
// kept as its parsed attributes.
NodePtr fused_node(const Op& op, const Node& like, std::shared_ptr<void> prog) {
  auto attrs = std::make_shared<NodeAttrs>();
  attrs->op = &op;
  attrs->dict = like.attrs->dict;
  attrs->parsed = std::move(prog);
  auto f = std::make_shared<Node>();
  f->op = &op;
  f->attrs = attrs;
  f->name = like.name;
  return f;
}

// How many readers each entry of g has (heads count as two: they always stay values).
std::vector<int> count_readers(const IndexedGraph& g, const std::vector<NodeEntry>& heads) {
  std::vector<int> readers(g.num_entries(), 0);
  for (const NodePtr& n : g.nodes)
    for (const NodeEntry& e : n->inputs) ++readers[g.entry(e)];
  for (const NodeEntry& h : heads) readers[g.entry(h)] += 2;
  return readers;
}

// A graph rebuilt with some nodes replaced: the nodes after them are copied when an input
// changes (the original graph is not modified).
struct Rebuild {
  std::unordered_map<const Node*, NodePtr> repl;
  NodeEntry map(const NodeEntry& e) const {
    auto it = repl.find(e.node.get());
    return it == repl.end() ? e : NodeEntry{it->second, e.index};
  }
  void copy_if_changed(const NodePtr& n) {
    bool changed = false;
    for (const NodeEntry& e : n->inputs) changed = changed || repl.count(e.node.get());
    if (!changed) return;
    auto c = std::make_shared<Node>(*n);
    for (NodeEntry& e : c->inputs) e = map(e);
    repl[n.get()] = c;
  }
  std::vector<NodeEntry> heads(const std::vector<NodeEntry>& h) const {
    std::vector<NodeEntry> out;
    for (const NodeEntry& e : h) out.push_back(map(e));
    return out;
  }
};

}  // namespace

std::vector<NodeEntry> fuse_bn_activation(const IndexedGraph& g, const std::vector<NodeEntry>& heads,
                                          const std::vector<int>& types, int* fused) {
  *fused = 0;
  const std::vector<int> readers = count_readers(g, heads);
  Rebuild rb;
  for (const NodePtr& n : g.nodes) {
    if (n->is_variable()) continue;
    if (fusable(*n) && n->inputs.size() == 1) {
      const NodeEntry& src = n->inputs[0];
      const Node& bn = *src.node;
      const uint32_t e0 = g.entry(src);
      const int t = types[e0];
      if (!bn.is_variable() && bn.op->name == "BatchNorm" && src.index == 0 && readers[e0] == 1 &&
          readers[g.entry(NodeEntry{src.node, 1})] == 0 && readers[g.entry(NodeEntry{src.node, 2})] == 0 &&
          (t == int(DType::kFloat32) || t == int(DType::kFloat64)) && types[g.entry(NodeEntry{n, 0})] == t) {
        auto prog = std::make_shared<BnAct>();
        prog->bn = bn.attrs;
        prog->act = n->attrs;
        NodePtr f = fused_node(bn_act_op(), bn, prog);
        for (const NodeEntry& e : bn.inputs) f->inputs.push_back(rb.map(e));
        rb.repl[n.get()] = f;  // the activation's output is the pair's output 0
        ++*fused;
        continue;
      }
    }
    rb.copy_if_changed(n);
  }
  return rb.heads(heads);
}

std::vector<NodeEntry> fuse_conv_bn(const IndexedGraph& g, const std::vector<NodeEntry>& heads,
                                    const std::vector<int>& types, int* fused) {
  *fused = 0;
  const std::vector<int> readers = count_readers(g, heads);
  // Each BatchNorm to fuse: the node whose output becomes the fused node's (the BatchNorm, or
  // the relu/clip that alone reads it), and the activation if any.
  std::unordered_map<const Node*, std::pair<const Node*, const Node*>> roots;  // root -> (bn, act)
  std::unordered_map<const Node*, const Node*> act_of;                        // bn -> its act
  for (const NodePtr& n : g.nodes)
    if (epilogue_act(*n) && n->inputs.size() == 1 && !n->inputs[0].node->is_variable() &&
        n->inputs[0].node->op->name == "BatchNorm" && n->inputs[0].index == 0 &&
        readers[g.entry(n->inputs[0])] == 1 && types[g.entry(NodeEntry{n, 0})] == types[g.entry(n->inputs[0])])
      act_of[n->inputs[0].node.get()] = n.get();
  for (const NodePtr& n : g.nodes) {
    if (n->is_variable() || n->op->name != "BatchNorm" || n->inputs.size() != 5) continue;
    const NodeEntry& src = n->inputs[0];
    const uint32_t e0 = g.entry(src);
    const int t = types[e0];
    if (!epilogue_conv(*src.node) || src.index != 0 || readers[e0] != 1) continue;
    if (n->attrs->param<bn_ops::BNParam>().axis != 1) continue;
    if (t != int(DType::kFloat32) && t != int(DType::kFloat64)) continue;
    if (readers[g.entry(NodeEntry{n, 1})] || readers[g.entry(NodeEntry{n, 2})]) continue;
    auto a = act_of.find(n.get());
    const Node* act = a == act_of.end() ? nullptr : a->second;
    roots[act ? act : n.get()] = {n.get(), act};
  }
  Rebuild rb;
  for (const NodePtr& n : g.nodes) {
    auto r = roots.find(n.get());
    if (r == roots.end()) {
      if (!n->is_variable()) rb.copy_if_changed(n);
      continue;
    }
    const Node& bn = *r->second.first;
    const Node& conv = *bn.inputs[0].node;
    auto prog = std::make_shared<ConvBn>();
    prog->conv = conv.attrs;
    prog->bn = bn.attrs;
    if (r->second.second) prog->act = r->second.second->attrs;
    prog->nconv = int(conv.inputs.size());
    NodePtr f = fused_node(conv_bn_op(), conv, prog);
    for (const NodeEntry& e : conv.inputs) f->inputs.push_back(rb.map(e));
    for (size_t i = 1; i < bn.inputs.size(); ++i) f->inputs.push_back(rb.map(bn.inputs[i]));
    rb.repl[n.get()] = f;  // output 0 of the root is the fused node's output 0
    ++*fused;
  }
  return rb.heads(heads);
}

std::vector<NodeEntry> fuse_conv_residual(const IndexedGraph& g, const std::vector<NodeEntry>& heads,
                                          const std::vector<int>& types, int* fused) {
  *fused = 0;
  const std::vector<int> readers = count_readers(g, heads);
  // The value of e when its node is a fused convolution without an activation or residual,
  // one group, whose output only `reader` reads.
  auto plain_conv = [&](const NodeEntry& e) {
    const Node& c = *e.node;
    if (c.is_variable() || c.op != &conv_bn_op() || e.index != 0 || readers[g.entry(e)] != 1) return false;
    const ConvBn& f = conv_bn(*c.attrs);
    return !f.act && !f.residual && !f.storage.in_last && !f.storage.out_last &&
           f.conv->param<conv_ops::ConvParam>().num_group == 1;
  };
  Rebuild rb;
  for (const NodePtr& n : g.nodes) {
    if (n->is_variable()) continue;
    // act(conv + r) or act(r + conv): the sum's only reader, all of one type.
    const Node* add = n->inputs.size() == 1 ? n->inputs[0].node.get() : nullptr;
    int side = -1;
    if (epilogue_act(*n) && add && !add->is_variable() && add->op->name == "elemwise_add" &&
        n->inputs[0].index == 0 && readers[g.entry(n->inputs[0])] == 1 && add->inputs.size() == 2) {
      const int t = types[g.entry(NodeEntry{n, 0})];
      const bool same = types[g.entry(n->inputs[0])] == t && types[g.entry(add->inputs[0])] == t &&
                        types[g.entry(add->inputs[1])] == t;
      for (int s = 0; same && s < 2 && side < 0; ++s)
        if (plain_conv(add->inputs[size_t(s)]) && add->inputs[size_t(s)].node != add->inputs[size_t(1 - s)].node)
          side = s;
    }
    if (side < 0) {
      rb.copy_if_changed(n);
      continue;
    }
    const Node& conv = *add->inputs[size_t(side)].node;
    auto prog = std::make_shared<ConvBn>(conv_bn(*conv.attrs));
    prog->act = n->attrs;
    prog->residual = true;
    NodePtr f = fused_node(conv_bn_op(), conv, prog);
    f->name = n->name;  // the value it stands for
    for (const NodeEntry& e : conv.inputs) f->inputs.push_back(rb.map(e));
    f->inputs.push_back(rb.map(add->inputs[size_t(1 - side)]));
    rb.repl[n.get()] = f;
    ++*fused;
  }
  return rb.heads(heads);
}

std::vector<NodeEntry> store_channels_last(const IndexedGraph& g, const std::vector<NodeEntry>& heads,
                                           const std::vector<Shape>& shapes, int* blocks) {
  *blocks = 0;
  const std::vector<int> readers = count_readers(g, heads);
  // A fused convolution's geometry (its data's shape known).
  auto geom = [&](const Node* n, conv_ops::ConvGeom* out) {
    if (!n || n->is_variable() || n->op != &conv_bn_op() || conv_bn(*n->attrs).residual) return false;
    const Shape& ds = shapes[g.entry(n->inputs[0])];
    if (!ds.known()) return false;
    *out = conv_ops::conv_geom(conv_bn(*n->attrs).conv->param<conv_ops::ConvParam>(), ds, "Convolution");
    return true;
  };
  // Each node whose output 0 has one reader, which reads it as its data (input 0): that reader.
  std::unordered_map<const Node*, const Node*> sole_reader;
  for (const NodePtr& n : g.nodes) {
    if (n->is_variable() || n->inputs.empty()) continue;
    const NodeEntry& e = n->inputs[0];
    if (e.index == 0 && readers[g.entry(e)] == 1) sole_reader[e.node.get()] = n.get();
  }
  auto pointwise = [](const conv_ops::ConvGeom& q, conv_ops::ConvStorage s) {
    return !conv_ops::conv_is_depthwise(q) && conv_ops::conv_storage_fits(q, s);
  };
  std::unordered_map<const Node*, conv_ops::ConvStorage> st;
  for (const NodePtr& n : g.nodes) {
    conv_ops::ConvGeom dg, pg, qg;
    if (!geom(n.get(), &dg) || !conv_ops::conv_is_depthwise(dg) || !conv_ops::conv_storage_fits(dg, {true, true}))
      continue;
    const Node* p = n->inputs[0].index == 0 && readers[g.entry(n->inputs[0])] == 1 ? n->inputs[0].node.get() : nullptr;
    auto r = sole_reader.find(n.get());
    const Node* q = r == sole_reader.end() ? nullptr : r->second;
    if (!geom(p, &pg) || !pointwise(pg, {false, true}) || !geom(q, &qg) || !pointwise(qg, {true, false})) continue;
    st[p].out_last = true;
    st[n.get()] = {true, true};
    st[q].in_last = true;
    ++*blocks;
  }
  Rebuild rb;
  for (const NodePtr& n : g.nodes) {
    auto it = st.find(n.get());
    if (it == st.end()) {
      if (!n->is_variable()) rb.copy_if_changed(n);
      continue;
    }
    auto prog = std::make_shared<ConvBn>(conv_bn(*n->attrs));
    prog->storage = it->second;
    auto attrs = std::make_shared<NodeAttrs>(*n->attrs);
    attrs->parsed = prog;
    auto c = std::make_shared<Node>(*n);
    c->attrs = attrs;
    for (NodeEntry& e : c->inputs) e = rb.map(e);
    rb.repl[n.get()] = c;
  }
  return rb.heads(heads);
}

std::vector<NodeEntry> fuse_pointwise(const IndexedGraph& g, const std::vector<NodeEntry>& heads,
                                      const std::vector<int>& types, const std::unordered_set<const Node*>& phase,
                                      int* fused) {
  size_t nn = g.nodes.size();
  const std::vector<int> readers = count_readers(g, heads);
  // Union-find over nodes: a fusable node joins the group of each fusable input whose value it
  // alone reads (in the same phase).
  std::vector<uint32_t> parent(nn);
  std::iota(parent.begin(), parent.end(), 0u);
  auto find = [&](uint32_t x) {
    uint32_t r = x;
    while (parent[r] != r) r = parent[r];
    while (parent[x] != r) {  // path compression, iteratively (groups may be long chains)
      uint32_t next = parent[x];
      parent[x] = r;
      x = next;
    }
    return r;
  };
  std::vector<uint32_t> size(nn, 1);
  for (uint32_t i = 0; i < nn; ++i) {
    const Node& n = *g.nodes[i];
    if (!fusable(n)) continue;
    bool ph = phase.count(&n) > 0;
    for (const NodeEntry& e : n.inputs) {
      uint32_t j = g.id.at(e.node.get());
      if (!fusable(*e.node) || readers[g.entry(e)] != 1 || (phase.count(e.node.get()) > 0) != ph) continue;
      uint32_t a = find(j), b = find(i);
      if (a == b || size[a] + size[b] > kMaxSteps) continue;  // scratch stays small
      parent[a] = b;  // the consumer stays the root
      size[b] += size[a];
    }
  }
  std::unordered_map<uint32_t, std::vector<uint32_t>> groups;  // root -> members in order
  for (uint32_t i = 0; i < nn; ++i)
    if (fusable(*g.nodes[i])) groups[find(i)].push_back(i);
  // Rebuild: copies of nodes whose inputs change; a group root becomes its fused node.
  Rebuild rb;
  *fused = 0;
  for (uint32_t i = 0; i < nn; ++i) {
    const NodePtr& n = g.nodes[i];
    if (n->is_variable()) continue;
    auto grp = groups.find(i);
    bool is_root = grp != groups.end() && grp->second.size() >= 2;
    bool member = !is_root && fusable(*n) && groups.count(find(i)) && groups[find(i)].size() >= 2;
    if (member) continue;  // built into its root's fused node
    if (is_root) {
      auto prog = std::make_shared<Program>();
      auto f = std::make_shared<Node>();
      std::unordered_map<uint32_t, int> step_of;
      std::unordered_map<uint32_t, int> input_of;  // entry id -> group input
      for (uint32_t m : grp->second) {
        const Node& mn = *g.nodes[m];
        Step s{mn.op, mn.attrs, {}, DType(types[g.row[m]])};
        for (const NodeEntry& e : mn.inputs) {
          uint32_t src = g.id.at(e.node.get());
          auto st = step_of.find(src);
          if (st != step_of.end() && find(src) == i) {
            s.args.push_back(-1 - st->second);
            continue;
          }
          uint32_t eid = g.entry(e);
          auto in = input_of.find(eid);
          if (in == input_of.end()) {
            in = input_of.emplace(eid, int(f->inputs.size())).first;
            f->inputs.push_back(rb.map(e));
            prog->in_types.push_back(DType(types[eid]));
          }
          s.args.push_back(in->second);
        }
        step_of[m] = int(prog->steps.size());
        prog->steps.push_back(std::move(s));
      }
      auto attrs = std::make_shared<NodeAttrs>();
      attrs->op = &fused_op();
      attrs->parsed = prog;
      f->op = attrs->op;
      f->attrs = attrs;
      f->name = n->name;
      rb.repl[n.get()] = f;
      ++*fused;
      continue;
    }
    rb.copy_if_changed(n);
  }
  return rb.heads(heads);
}

}  // namespace graph
}  // namespace brass
