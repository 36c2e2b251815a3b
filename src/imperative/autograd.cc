// Imperative autograd: recording, marking variables, backward.
#include "imperative/autograd.h"

#include <atomic>
#include <string>

#include "base/build_options.h"
#include "base/ptr_map.h"
#include "graph/gradient.h"
#include "op/grad.h"

namespace brass {
namespace autograd {

namespace {

thread_local bool t_recording = false;
thread_local bool t_training = false;

// What a variable node keeps: its value (outside the graph) and where its gradient goes.
struct VarInfo {
  NDArray value;
  NDArray grad;
  Req req = Req::kNull;
  bool fresh = false;  // a backward has written grad since the flag was last cleared
};

// What a recorded op node keeps: its input and output values (outside the graph), until a
// backward without retain_graph frees them.
struct OpInfo {
  std::vector<NDArray> inputs, outputs;
  bool freed = false;
};

VarInfo* var_info(const Node& n) {
  return n.is_variable() ? static_cast<VarInfo*>(n.info.get()) : nullptr;
}
#if BRASS_TRAINING
OpInfo* op_info(const Node& n) {
  return n.is_variable() ? nullptr : static_cast<OpInfo*>(n.info.get());
}

// A node and what autograd keeps for it, in one allocation (recording is on the hot path).
// Node::info points at the payload without owning it: the payload lives as long as the node.
template <class Info>
struct NodeWith : Node {
  Info payload;
};
template <class Info>
std::shared_ptr<NodeWith<Info>> new_node() {
  auto n = std::make_shared<NodeWith<Info>>();
  n->info = std::shared_ptr<void>(std::shared_ptr<void>(), &n->payload);  // non-owning
  return n;
}

// A variable node holding a value that no gradient is asked of (a constant input).
NodePtr constant_node(const NDArray& v) {
  auto n = new_node<VarInfo>();
  n->payload.value = v.detached();
  return n;
}

// Sets the thread's switches for a scope and restores them after.
struct Switches {
  bool rec, train;
  Switches(bool r, bool t) : rec(set_recording(r)), train(set_training(t)) {}
  ~Switches() {
    set_recording(rec);
    set_training(train);
  }
};

#endif  // BRASS_TRAINING

}  // namespace

bool is_recording() { return t_recording; }
bool set_recording(bool on) { bool o = t_recording; t_recording = on; return o; }
bool is_training() { return t_training; }
bool set_training(bool on) { bool o = t_training; t_training = on; return o; }

#if BRASS_TRAINING  // the predictor records nothing
void mark_variables(const std::vector<NDArray*>& vars, const std::vector<Req>& reqs,
                    const std::vector<NDArray>& grads) {
  if (vars.size() != reqs.size() || vars.size() != grads.size())
    fail(BRASS_ERR_INVALID_ARGUMENT, "mark_variables: ", vars.size(), " variables, ",
         reqs.size(), " grad_reqs and ", grads.size(), " gradient arrays");
  for (size_t i = 0; i < vars.size(); ++i) {
    const NDArray& x = *vars[i];
    const NDArray& g = grads[i];
    if (reqs[i] != Req::kNull && (g.is_none() || g.shape() != x.shape() ||
                                  g.device() != x.device()))
      fail(BRASS_ERR_INVALID_ARGUMENT, "mark_variables: the gradient array of variable ", i,
           " must have the variable's shape ", x.shape(), " and device ", x.device().str());
  }
  for (size_t i = 0; i < vars.size(); ++i) {
    auto n = new_node<VarInfo>();
    n->payload.value = vars[i]->detached();
    n->payload.grad = grads[i].detached();
    n->payload.req = reqs[i];
    vars[i]->set_ag(n, 0);
  }
}

#endif  // BRASS_TRAINING

bool is_variable(const NDArray& x) { return !grad_of(x).is_none(); }

NDArray grad_of(const NDArray& x) {
  const VarInfo* v = x.ag_node() ? var_info(*x.ag_node()) : nullptr;
  return v && v->req != Req::kNull ? v->grad : NDArray();
}

bool grad_fresh(const NDArray& x) {
  const VarInfo* v = x.ag_node() ? var_info(*x.ag_node()) : nullptr;
  return v && v->fresh;
}

void set_grad_fresh(const NDArray& x, bool fresh) {
  VarInfo* v = x.ag_node() ? var_info(*x.ag_node()) : nullptr;
  if (!v) fail(BRASS_ERR_INVALID_ARGUMENT, "grad state: the array is not a variable (attach_grad first)");
  v->fresh = fresh;
}

#if BRASS_TRAINING
void record(const Op* op, const std::shared_ptr<const NodeAttrs>& attrs,
            const std::vector<NDArray>& inputs, std::vector<NDArray>& outputs) {
  bool tracked = false;
  for (const NDArray& a : inputs) tracked = tracked || a.ag_node();
  if (!tracked) return;  // nothing recorded can reach a variable
  auto n = new_node<OpInfo>();
  n->op = op;
  n->attrs = attrs;
  OpInfo& info = n->payload;
  n->inputs.reserve(inputs.size());
  info.inputs.reserve(inputs.size());
  info.outputs.reserve(outputs.size());
  for (const NDArray& a : inputs) {
    n->inputs.push_back(a.ag_node() ? NodeEntry{a.ag_node(), a.ag_index()}
                                    : NodeEntry{constant_node(a), 0});
    info.inputs.push_back(a.detached());
  }
  for (const NDArray& a : outputs) info.outputs.push_back(a.detached());
  NodePtr node = std::move(n);
  for (size_t k = 0; k < outputs.size(); ++k) outputs[k].set_ag(node, uint32_t(k));
}

namespace {

// What a custom function's nodes hold (as their parsed parameters).
struct CustomInfo {
  CustomBackward backward;
  std::string what;  // for messages
  std::vector<Shape> in_shapes;
  std::vector<DType> in_types;
  int nin = 0, nout = 0;
  mutable std::atomic<bool> released{false};
  // Once: when a backward frees the recorded graph, or with the graph.
  void release() const {
    if (!released.exchange(true) && backward.release) backward.release();
  }
  ~CustomInfo() { release(); }
};

const CustomInfo& custom_info(const NodeAttrs& a) { return *static_cast<const CustomInfo*>(a.parsed.get()); }

// Two ops outside the registry (a graph holding them cannot be saved or loaded): the recorded
// forward and its backward, which calls the function's callback.
const Op& custom_backward_op() {
  static const Op* op = [] {
    auto* o = new Op();
    o->name = "_CustomFunctionBackward";
    o->num_inputs = -1;
    o->num_inputs_fn = [](const NodeAttrs& a) { return custom_info(a).nout; };
    o->num_outputs_fn = [](const NodeAttrs& a) { return custom_info(a).nin; };
    o->infer_shape = [](const NodeAttrs& a, std::vector<Shape>&, std::vector<Shape>& out) {
      const CustomInfo& c = custom_info(a);
      for (size_t i = 0; i < out.size(); ++i) infer::assign_shape(out[i], c.in_shapes[i], c.what.c_str(), "gradient");
      return true;
    };
    o->infer_type = [](const NodeAttrs& a, std::vector<int>&, std::vector<int>& out) {
      const CustomInfo& c = custom_info(a);
      for (size_t i = 0; i < out.size(); ++i) infer::assign_type(out[i], int(c.in_types[i]), c.what.c_str(), "gradient");
      return true;
    };
    o->compute_nd = [](const NodeAttrs& a, const std::vector<NDArray>& in, const std::vector<NDArray>& out) {
      const CustomInfo& c = custom_info(a);
      if (c.released)
        fail(BRASS_ERR_INVALID_ARGUMENT, c.what, ": the recorded graph was freed by an earlier backward; pass "
             "retain_graph=True to keep it for another backward");
      if (!c.backward.run(in, out)) fail(BRASS_ERR_INVALID_ARGUMENT, c.what, ": backward failed");
    };
    return o;
  }();
  return *op;
}

const Op& custom_forward_op() {
  static const Op* op = [] {
    auto* o = new Op();
    o->name = "_CustomFunction";
    o->num_inputs = -1;
    o->num_inputs_fn = [](const NodeAttrs& a) { return custom_info(a).nin; };
    o->num_outputs_fn = [](const NodeAttrs& a) { return custom_info(a).nout; };
    o->gradient = [](const NodePtr& n, const std::vector<NodeEntry>& ograds) {
      auto b = std::make_shared<Node>();
      b->op = &custom_backward_op();
      b->attrs = n->attrs;
      b->inputs = ograds;
      std::vector<NodeEntry> g;
      for (int i = 0; i < custom_info(*n->attrs).nin; ++i) g.push_back(NodeEntry{b, uint32_t(i)});
      return g;
    };
    return o;
  }();
  return *op;
}

}  // namespace

void record_custom(const std::vector<NDArray>& inputs, std::vector<NDArray>& outputs, CustomBackward backward,
                   const char* what) {
  auto info = std::make_shared<CustomInfo>();
  info->what = what;
  info->nin = int(inputs.size());
  info->nout = int(outputs.size());
  for (const NDArray& a : inputs) {
    info->in_shapes.push_back(a.shape());
    info->in_types.push_back(a.dtype());
  }
  info->backward = std::move(backward);
  auto attrs = std::make_shared<NodeAttrs>();
  attrs->op = &custom_forward_op();
  attrs->parsed = info;
  record(attrs->op, attrs, inputs, outputs);
}

std::vector<NDArray> backward(const std::vector<NDArray>& heads,
                              const std::vector<NDArray>& head_grads,
                              const std::vector<NDArray>& variables, bool retain_graph,
                              bool create_graph, bool is_train) {
  if (heads.empty()) fail(BRASS_ERR_INVALID_ARGUMENT, "backward: no heads");
  if (!head_grads.empty() && head_grads.size() != heads.size())
    fail(BRASS_ERR_INVALID_ARGUMENT, "backward: ", heads.size(), " heads but ", head_grads.size(),
         " head gradients");
  std::vector<NodeEntry> hs, hgs, xs;
  for (size_t i = 0; i < heads.size(); ++i) {
    const NDArray& h = heads[i];
    if (!h.ag_node())
      fail(BRASS_ERR_INVALID_ARGUMENT, "backward: head ", i, " (shape ", h.shape(),
           ") is not part of a recorded graph: compute it inside autograd.record() from arrays "
           "marked with attach_grad()");
    hs.push_back({h.ag_node(), h.ag_index()});
    NDArray hg = i < head_grads.size() ? head_grads[i] : NDArray();
    if (!hg.is_none() && (hg.shape() != h.shape() || hg.device() != h.device()))
      fail(BRASS_ERR_SHAPE, "backward: head gradient ", i, " has shape ", hg.shape(), " on ",
           hg.device().str(), ", the head ", h.shape(), " on ", h.device().str());
    if (hg.is_none()) {
      std::vector<NDArray> ones;
      Switches off(false, is_train);
      const Op* op = OpRegistry::get().find("ones_like");
      invoke(op, make_attrs(op, {}), {h.detached()}, ones);
      hg = ones[0];
    }
    auto v = constant_node(hg);
    hgs.push_back({v, 0});
  }
  std::vector<NodePtr> order = graph::topo_order(hs);
  for (const NodePtr& n : order)
    if (const OpInfo* oi = op_info(*n); oi && oi->freed)
      fail(BRASS_ERR_INVALID_ARGUMENT, "backward: the recorded graph was freed by an earlier "
           "backward (at op ", n->op->name, "); pass retain_graph=True to keep it for another "
           "backward");
  bool to_buffers = variables.empty();
  if (to_buffers) {
    for (const NodePtr& n : order) {
      const VarInfo* v = var_info(*n);
      if (v && v->req != Req::kNull) xs.push_back({n, 0});
    }
    if (xs.empty())
      fail(BRASS_ERR_INVALID_ARGUMENT, "backward: the heads depend on no array marked with "
           "attach_grad() (or every such array has grad_req 'null')");
  } else {
    for (size_t i = 0; i < variables.size(); ++i) {
      const NDArray& x = variables[i];
      if (!x.ag_node() || !var_info(*x.ag_node()))
        fail(BRASS_ERR_INVALID_ARGUMENT, "autograd.grad: variable ", i, " (shape ", x.shape(),
             ") was not marked with attach_grad()");
      xs.push_back({x.ag_node(), 0});
    }
  }
  std::vector<NodeEntry> gs = graph::gradient(hs, hgs, xs);

  // Run the gradient graph: forward values come from what was recorded; new nodes run here.
  Switches sw(create_graph, is_train);
  PtrMap<uint32_t> computed(order.size());  // node -> 1 + its outputs' index in `values`
  std::vector<std::vector<NDArray>> values;
  auto value_of = [&](const NodeEntry& e) -> NDArray {
    const Node* n = e.node.get();
    if (const uint32_t* c = computed.find(n)) return values[*c - 1][e.index];  // computed here (recorded if asked)
    NDArray v;
    if (const VarInfo* vi = var_info(*n)) {  // a variable, a constant or a head gradient
      v = vi->value;
    } else if (const OpInfo* oi = op_info(*n)) {
      if (oi->freed)
        fail(BRASS_ERR_INVALID_ARGUMENT, "backward: the recorded graph was freed by an earlier "
             "backward; pass retain_graph=True to keep it for another backward");
      v = oi->outputs[e.index];
    } else {
      fail(BRASS_ERR_INTERNAL, "backward: no value for a node of op ", n->op->name);
    }
    v = v.detached();
    if (create_graph) v.set_ag(e.node, e.index);  // the gradient graph joins the forward one
    return v;
  };
  // A gradient with write request that a new node computes goes straight into its buffer.
  std::vector<bool> written(xs.size(), false);
  PtrMap<uint8_t> feeds;
  if (to_buffers && !create_graph)
    for (size_t i = 0; i < xs.size(); ++i)
      if (var_info(*xs[i].node)->req == Req::kWrite && !gs[i].node->is_variable() && !gs[i].node->info)
        feeds[gs[i].node.get()] = 1;
  // Only the new nodes run: the walk stops at recorded nodes and variables (known values).
  for (const NodePtr& n : graph::topo_order(gs, [](const Node& m) { return m.info != nullptr; })) {
    if (n->is_variable() || n->info) continue;
    std::vector<NDArray> in, out;
    for (const NodeEntry& e : n->inputs) in.push_back(value_of(e));
    bool into_buffers = false;
    if (feeds.size() && feeds.contains(n.get())) {
      out.assign(size_t(n->op->outputs_for(*n->attrs)), NDArray());
      for (size_t i = 0; i < xs.size(); ++i)
        if (gs[i].node == n && out[gs[i].index].is_none()) {
          out[gs[i].index] = var_info(*xs[i].node)->grad;
          written[i] = into_buffers = true;
        }
    }
    try {
      invoke(n->op, n->attrs, in, out);  // under create_graph, invoke records it
    } catch (const Error&) {
      if (!into_buffers) throw;
      // A gradient of another shape or dtype than its buffer: computed apart (the copy below
      // converts or reports it).
      for (size_t i = 0; i < xs.size(); ++i)
        if (gs[i].node == n) written[i] = false;
      out.clear();
      invoke(n->op, n->attrs, in, out);
    }
    values.push_back(std::move(out));
    computed[n.get()] = uint32_t(values.size());
  }
  std::vector<NDArray> result;
  for (const NodeEntry& g : gs) result.push_back(value_of(g));
  if (to_buffers) {
    Switches off(false, is_train);
    const Op* add = OpRegistry::get().find("elemwise_add");
    auto add_attrs = make_attrs(add, {});
    for (size_t i = 0; i < xs.size(); ++i) {
      VarInfo* v = var_info(*xs[i].node);
      v->fresh = true;
      if (written[i]) continue;
      if (v->req == Req::kAdd) {
        std::vector<NDArray> out{v->grad};
        invoke(add, add_attrs, {v->grad, result[i]}, out);
      } else {
        copy_array(result[i], v->grad);
      }
    }
    result.clear();
  }
  if (!retain_graph) {
    for (const NodePtr& n : order)
      if (OpInfo* oi = op_info(*n)) {
        oi->inputs.clear();
        oi->outputs.clear();
        oi->freed = true;
        if (n->op == &custom_forward_op()) custom_info(*n->attrs).release();  // its state, at once
      }
  }
  return result;
}

#endif  // BRASS_TRAINING

}  // namespace autograd
}  // namespace brass
