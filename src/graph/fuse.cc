// Element-wise fusion.
#include "graph/fuse.h"

#include <algorithm>
#include <memory>
#include <functional>
#include <numeric>
#include <unordered_map>

#include "engine/thread_pool.h"
#include "op/nn/bn_params.h"

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
  thread_pool::parallel_for((n + kBlock - 1) / kBlock, 1, [&](int64_t b0, int64_t b1) {
    std::vector<std::vector<char>> scratch(ns);
    for (size_t k = 0; k + 1 < ns; ++k) scratch[k].resize(size_t(kBlock) * dtype_size(p.steps[k].dtype) + 64);
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
            si.emplace_back(scratch[j].data(), shape, p.steps[j].dtype, ctx.dev);
          }
        }
        bool last = k + 1 == ns;
        so[0] = last ? TBlob(static_cast<char*>(out[0].dptr) + lo * int64_t(dtype_size(out[0].dtype)), shape,
                             out[0].dtype, out[0].dev)
                     : TBlob(scratch[k].data(), shape, s.dtype, ctx.dev);
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

void run_bn_act(const OpContext& ctx, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
  const BnAct& f = bn_act(*ctx.attrs);
  OpContext bc = ctx;
  bc.attrs = f.bn.get();
  const NodeAttrs* aa = f.act.get();
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
  // The op does not declare add_req, so the executor never asks it to add.
  if (ctx.req[0] == Req::kAdd) fail(BRASS_ERR_INTERNAL, "_BatchNormActivation: add request");
  bn_ops::bn_forward_epilogue(bc, in, out, epi);
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
        auto attrs = std::make_shared<NodeAttrs>();
        attrs->op = &bn_act_op();
        attrs->dict = bn.attrs->dict;
        attrs->parsed = prog;
        auto f = std::make_shared<Node>();
        f->op = attrs->op;
        f->attrs = attrs;
        f->name = bn.name;
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
