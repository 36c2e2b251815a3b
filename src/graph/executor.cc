// The executor: forward and backward passes of a bound symbol over planned memory.
#include "graph/executor.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <unordered_set>

#include "base/build_options.h"
#include "graph/gradient.h"
#include "imperative/autograd.h"
#include "op/grad.h"
#include "random/random.h"

namespace brass {
namespace graph {

namespace {

// Recording off and the training flag set for a pass; restored after.
struct PassMode {
  bool rec, train;
  explicit PassMode(bool is_train)
      : rec(autograd::set_recording(false)), train(autograd::set_training(is_train)) {}
  ~PassMode() {
    autograd::set_recording(rec);
    autograd::set_training(train);
  }
};

void check_array(const NDArray& a, const std::string& what, const std::string& name, Device dev) {
  if (a.is_none()) fail(BRASS_ERR_INVALID_ARGUMENT, "bind: no array for ", what, " '", name, "'");
  if (a.device() != dev)
    fail(BRASS_ERR_DEVICE, "bind: ", what, " '", name, "' is on ", a.device().str(), ", the executor on ",
         dev.str());
}

#if BRASS_TRAINING  // the predictor binds no gradients
// Sublinear memory (MXNet's mirror): forward values are kept only at checkpoints, about every
// sqrt(n)-th op; the gradient nodes read the others from copies of the forward nodes that
// recompute them from the nearest checkpoint during backward. Ops that draw random numbers or
// mutate inputs are always checkpoints (recomputing them would change the result or the state).
void mirror(const std::vector<NodePtr>& forward_ops, std::vector<NodeEntry>& grads) {
  size_t n = forward_ops.size();
  if (n < 4) return;
  size_t every = size_t(std::ceil(std::sqrt(double(n))));
  std::unordered_set<const Node*> fwd, keep;
  for (size_t i = 0; i < n; ++i) {
    const Node* p = forward_ops[i].get();
    fwd.insert(p);
    if ((i + 1) % every == 0 || p->op->need_random || p->op->mutates_any() || p->op->compute_nd)
      keep.insert(p);
  }
  std::unordered_map<const Node*, NodePtr> copies;
  std::function<NodePtr(const NodePtr&)> copy_of = [&](const NodePtr& m) -> NodePtr {
    auto it = copies.find(m.get());
    if (it != copies.end()) return it->second;
    auto c = std::make_shared<Node>(*m);
    c->name = m->name + "_mirror";
    for (NodeEntry& e : c->inputs)
      if (fwd.count(e.node.get()) && !keep.count(e.node.get())) e.node = copy_of(e.node);
    copies[m.get()] = c;
    return c;
  };
  // Rewire the gradient nodes (those not in the forward graph) to read recomputed values.
  std::unordered_set<const Node*> seen;
  for (const NodePtr& b : topo_order(grads)) {
    if (b->is_variable() || fwd.count(b.get()) || copies.count(b.get())) continue;
    bool is_copy = false;
    for (auto& kv : copies) is_copy = is_copy || kv.second == b;
    if (is_copy) continue;
    for (NodeEntry& e : b->inputs)
      if (fwd.count(e.node.get()) && !keep.count(e.node.get())) e.node = copy_of(e.node);
  }
}

#endif  // BRASS_TRAINING

}  // namespace

bool Executor::Options::env_flag(const char* name, bool dflt) {
  const char* v = std::getenv(name);
  if (!v) return dflt;
  return dflt ? std::strcmp(v, "0") != 0 : std::strcmp(v, "1") == 0;
}

Executor::Options Executor::Options::from_env() {
  Options o;
  o.plan = env_flag("BRASS_MEMORY_PLAN", true);
  o.mirror = env_flag("BRASS_BACKWARD_DO_MIRROR", false);
  o.fuse = env_flag("BRASS_FUSE", true);
  o.add_to = env_flag("BRASS_ADD_TO", true);
  o.concurrent = env_flag("BRASS_PLAN_CONCURRENT", false);
  o.channels_last = env_flag("BRASS_CHANNELS_LAST", false);
  return o;
}

Executor::Executor(const Symbol& sym, Device dev, std::vector<NDArray> args, std::vector<NDArray> arg_grads,
                   std::vector<Req> reqs, std::vector<NDArray> aux, Options opt)
    : sym_(sym), dev_(dev), args_(std::move(args)), grads_(std::move(arg_grads)), aux_(std::move(aux)),
      reqs_(std::move(reqs)), full_(std::vector<NodeEntry>{}) {
  arg_nodes_ = list_variables(sym_, false);
  aux_nodes_ = list_variables(sym_, true);
  const std::vector<NodePtr>& arg_nodes = arg_nodes_;
  const std::vector<NodePtr>& aux_nodes = aux_nodes_;
  if (args_.size() != arg_nodes.size())
    fail(BRASS_ERR_INVALID_ARGUMENT, "bind: the symbol has ", arg_nodes.size(), " arguments, ",
         args_.size(), " arrays given");
  if (aux_.size() != aux_nodes.size())
    fail(BRASS_ERR_INVALID_ARGUMENT, "bind: the symbol has ", aux_nodes.size(), " auxiliary states, ",
         aux_.size(), " arrays given");
  if (grads_.empty()) grads_.resize(args_.size());
  if (reqs_.empty()) reqs_.assign(args_.size(), Req::kNull);
  if (grads_.size() != args_.size() || reqs_.size() != args_.size())
    fail(BRASS_ERR_INVALID_ARGUMENT, "bind: ", args_.size(), " arguments but ", grads_.size(),
         " gradient arrays and ", reqs_.size(), " grad_reqs");
  std::map<std::string, Shape> shapes;
  std::map<std::string, int> types;
  for (size_t i = 0; i < args_.size(); ++i) {
    check_array(args_[i], "argument", arg_nodes[i]->name, dev_);
    shapes[arg_nodes[i]->name] = args_[i].shape();
    types[arg_nodes[i]->name] = int(args_[i].dtype());
  }
  for (size_t i = 0; i < aux_.size(); ++i) {
    check_array(aux_[i], "auxiliary state", aux_nodes[i]->name, dev_);
    shapes[aux_nodes[i]->name] = aux_[i].shape();
    types[aux_nodes[i]->name] = int(aux_[i].dtype());
  }
  for (size_t i = 0; i < args_.size(); ++i) {
    if (reqs_[i] == Req::kNull) continue;
    const NDArray& g = grads_[i];
    check_array(g, "gradient of argument", arg_nodes[i]->name, dev_);
    if (g.shape() != args_[i].shape())
      fail(BRASS_ERR_SHAPE, "bind: the gradient array of '", arg_nodes[i]->name, "' has shape ", g.shape(),
           ", the argument ", args_[i].shape());
    if (g.dtype() != args_[i].dtype())
      fail(BRASS_ERR_DTYPE, "bind: the gradient array of '", arg_nodes[i]->name, "' has dtype ",
           dtype_name(g.dtype()), ", the argument ", dtype_name(args_[i].dtype()));
  }
  // Forward shapes first: they give the head gradients theirs.
  IndexedGraph fwd(sym_.outputs);
  std::vector<Shape> fsh = infer_shapes(fwd, shapes);
  std::vector<int> fty = infer_types(fwd, types);
  for (uint32_t nid = 0; nid < fwd.nodes.size(); ++nid)
    for (uint32_t e = fwd.row[nid]; e < fwd.row[nid + 1]; ++e)
      if (!fsh[e].known() || fty[e] < 0)
        fail(BRASS_ERR_SHAPE, "bind: the ", fsh[e].known() ? "dtype" : "shape", " of ",
             fwd.nodes[nid]->is_variable() ? "variable '" : "an output of node '", fwd.nodes[nid]->name,
             "' cannot be inferred from the arrays given");
  for (const NodePtr& n : fwd.nodes)
    if (!n->is_variable()) fwd_nodes_.push_back(n);

  // The gradient graph, built once; the head gradients are variables.
  std::vector<NodeEntry> xs;
  for (size_t i = 0; i < args_.size(); ++i)
    if (reqs_[i] != Req::kNull) {
      xs.push_back({arg_nodes[i], 0});
      grad_args_.push_back(i);
    }
  if (!xs.empty()) {
    std::vector<NodeEntry> hgs;
    for (size_t i = 0; i < sym_.outputs.size(); ++i) {
      auto v = std::make_shared<Node>();
      v->name = "\x01head_grad" + std::to_string(i);
      head_grad_vars_.push_back(v);
      hgs.push_back({v, 0});
      shapes[v->name] = fsh[fwd.entry(sym_.outputs[i])];
      types[v->name] = fty[fwd.entry(sym_.outputs[i])];
    }
#if BRASS_TRAINING
    grad_entries_ = gradient(sym_.outputs, hgs, xs);
    if (opt.mirror) mirror(fwd_nodes_, grad_entries_);
#else
    fail(BRASS_ERR_UNSUPPORTED, "bind: this build has no gradients (BRASS_TRAINING is 0); bind with grad_req null");
#endif
  }
  // Gradients in reverse argument order: arguments come roughly in forward order, so the
  // backward nodes then run layer by layer from the top, and each layer's gradient dies soon.
  std::vector<NodeEntry> heads = sym_.outputs;
  heads.insert(heads.end(), grad_entries_.rbegin(), grad_entries_.rend());
  full_ = IndexedGraph(heads);
  std::unordered_set<const Node*> in_fwd(fwd_nodes_.size());
  for (auto& n : fwd_nodes_) in_fwd.insert(n.get());
  for (const NodePtr& n : full_.nodes)
    if (!n->is_variable() && !in_fwd.count(n.get())) bwd_nodes_.push_back(n);
  std::vector<Shape> sh = infer_shapes(full_, shapes);
  std::vector<int> ty = infer_types(full_, types);
  out_entries_ = sym_.outputs;
  if (opt.fuse && !dev_.is_gpu()) {
    // After a pass that changed the graph: the new graph, its passes and its shapes and types.
    auto rebuild = [&] {
      out_entries_.assign(heads.begin(), heads.begin() + long(sym_.outputs.size()));
      grad_entries_.assign(heads.rbegin(), heads.rend() - long(sym_.outputs.size()));
      full_ = IndexedGraph(heads);
      fwd_nodes_.clear();
      bwd_nodes_.clear();
      in_fwd.clear();
      for (const NodePtr& n : IndexedGraph(out_entries_).nodes)
        if (!n->is_variable()) {
          fwd_nodes_.push_back(n);
          in_fwd.insert(n.get());
        }
      for (const NodePtr& n : full_.nodes)
        if (!n->is_variable() && !in_fwd.count(n.get())) bwd_nodes_.push_back(n);
      sh = infer_shapes(full_, shapes);
      ty = infer_types(full_, types);
    };
    int convs = 0, pairs = 0, groups = 0, blocks = 0, sums = 0;
    heads = fuse_conv_bn(full_, heads, ty, &convs);
    if (convs) rebuild();
    if (convs && grad_entries_.empty()) {
      heads = fuse_conv_residual(full_, heads, ty, &sums);
      if (sums) rebuild();
    }
    if (convs && opt.channels_last && grad_entries_.empty()) {
      heads = store_channels_last(full_, heads, sh, &blocks);
      if (blocks) rebuild();
    }
    heads = fuse_bn_activation(full_, heads, ty, &pairs);
    if (pairs) rebuild();
    heads = fuse_pointwise(full_, heads, ty, in_fwd, &groups);
    if (groups) rebuild();
    fused_ = convs + pairs + groups + blocks + sums;
  }
  for (uint32_t nid = 0; nid < full_.nodes.size(); ++nid)
    for (uint32_t e = full_.row[nid]; e < full_.row[nid + 1]; ++e)
      if (!sh[e].known() || ty[e] < 0)
        fail(BRASS_ERR_INTERNAL, "bind: the shape or dtype of gradient node '", full_.nodes[nid]->name, "' (",
             full_.nodes[nid]->op ? full_.nodes[nid]->op->name : "variable", ") is unknown");

  // Plan: variables, outputs and gradients keep arrays of their own.
  uint32_t ne = full_.num_entries();
  std::vector<bool> persistent(ne, false);
  std::vector<size_t> bytes(ne);
  for (uint32_t e = 0; e < ne; ++e) bytes[e] = size_t(sh[e].size()) * dtype_size(DType(ty[e]));
  for (const NodePtr& n : full_.nodes)
    if (n->is_variable()) persistent[full_.entry({n, 0})] = true;
  for (const NodeEntry& e : heads) persistent[full_.entry(e)] = true;
  std::vector<NodePtr> order = fwd_nodes_;
  order.insert(order.end(), bwd_nodes_.begin(), bwd_nodes_.end());
  std::vector<bool> held;
  if (opt.keep_forward) {  // what backward reads of the forward values stays
    held.assign(ne, false);
    for (const NodePtr& n : bwd_nodes_)
      for (const NodeEntry& e : n->inputs)
        if (in_fwd.count(e.node.get())) held[full_.entry(e)] = true;
  }
  std::vector<int> sum_into;
  if (opt.add_to && opt.plan && !dev_.is_gpu()) sum_into = plan_add_to(order, persistent, sh, ty, in_fwd);
  plan_ = plan_memory(full_, order, bytes, persistent, opt.plan, held.empty() ? nullptr : &held,
                      sum_into.empty() ? nullptr : &sum_into, opt.concurrent);
  if (opt.memory_limit) {
    uint64_t need = plan_.planned_bytes;
    for (uint32_t e = 0; e < ne; ++e)
      if (plan_.storage[e] < 0 && !persistent[e]) need += bytes[e];
    for (const NodeEntry& e : heads) need += bytes[full_.entry(e)];
    if (need > opt.memory_limit)
      fail(BRASS_ERR_OUT_OF_MEMORY, "bind: the graph needs ", need, " bytes for its values (activations and ",
           "outputs), more than the limit of ", opt.memory_limit, " bytes");
  }
  for (size_t s : plan_.sizes) buffers_.push_back(NDArray(Shape{int64_t(std::max<size_t>(s, 1))}, DType::kUint8, dev_));
  vals_.assign(ne, NDArray());
  for (size_t i = 0; i < args_.size(); ++i) value({arg_nodes[i], 0}) = args_[i];
  for (size_t i = 0; i < aux_.size(); ++i) value({aux_nodes[i], 0}) = aux_[i];
  // A gradient with write request that an op computes, and that is no other head, is computed
  // in the gradient array itself (no copy after).
  std::vector<int> head_count(ne, 0);
  for (const NodeEntry& e : heads) ++head_count[full_.entry(e)];
  grad_direct_.assign(grad_entries_.size(), false);
  for (size_t k = 0; k < grad_entries_.size(); ++k) {
    uint32_t e = full_.entry(grad_entries_[k]);
    const NDArray& g = grads_[grad_args_[k]];
    if (reqs_[grad_args_[k]] == Req::kWrite && !grad_entries_[k].node->is_variable() && head_count[e] == 1 &&
        sh[e] == g.shape() && ty[e] == int(g.dtype())) {
      grad_direct_[k] = true;
      vals_[e] = g;
    }
  }
  for (const NodePtr& n : order) {
    uint32_t nid = full_.id.at(n.get());
    for (uint32_t e = full_.row[nid]; e < full_.row[nid + 1]; ++e) {
      if (!vals_[e].is_none()) continue;  // a gradient array
      int id = plan_.storage[e];
      vals_[e] = id >= 0 ? buffers_[size_t(id)].view_as(sh[e], DType(ty[e])) : NDArray(sh[e], DType(ty[e]), dev_);
    }
  }
  alias_sum_parts();
  keep_forward_ = opt.keep_forward;
  opt_ = opt;
  bulk_ = !dev_.is_gpu() && (!BRASS_TRAINING || Options::env_flag("BRASS_EXEC_BULK", true));
  for (const NodePtr& n : fwd_nodes_)
    if (!n->op->compute[0] || n->op->compute_nd) bulk_ = false;
}

void Executor::set_monitor(std::function<void(const std::string&, const NDArray&)> cb) {
  if (cb && fused_ > 0) {
    Options o = opt_;
    o.fuse = false;
    *this = Executor(sym_, dev_, args_, grads_, reqs_, aux_, o);
  }
  monitor_ = std::move(cb);
}

std::vector<int> Executor::plan_add_to(const std::vector<NodePtr>& order, const std::vector<bool>& persistent,
                                       const std::vector<Shape>& sh, const std::vector<int>& ty,
                                       const std::unordered_set<const Node*>& in_fwd) {
  // add_n(a, b, ...) whose parts are each computed by an op that can add into its output, read
  // by the sum only, of the sum's shape and dtype, by distinct nodes of the same pass: the
  // first part is written into the sum's buffer, the others added, and add_n does not run.
  const Op* add_n = OpRegistry::get().find("add_n");
  uint32_t ne = full_.num_entries();
  std::vector<int> reads(ne, 0), sum_into;
  std::unordered_map<const Node*, size_t> pos;
  for (size_t i = 0; i < order.size(); ++i) {
    pos[order[i].get()] = i;
    for (const NodeEntry& e : order[i]->inputs) ++reads[full_.entry(e)];
  }
  for (const NodePtr& n : order) {
    if (n->op != add_n || n->inputs.size() < 2) continue;
    uint32_t root = full_.entry({n, 0});
    bool fwd = in_fwd.count(n.get()) > 0, ok = true;
    std::unordered_set<const Node*> producers;
    for (const NodeEntry& e : n->inputs) {
      uint32_t m = full_.entry(e);
      const Node* p = e.node.get();
      ok = ok && !p->is_variable() && p->op->add_to && !p->op->compute_nd && reads[m] == 1 && !persistent[m] &&
           sh[m] == sh[root] && ty[m] == ty[root] && (in_fwd.count(p) > 0) == fwd && producers.insert(p).second;
    }
    if (!ok) continue;
    if (sum_into.empty()) sum_into.assign(ne, -1);
    std::vector<NodeEntry> parts = n->inputs;
    std::sort(parts.begin(), parts.end(),
              [&](const NodeEntry& a, const NodeEntry& b) { return pos.at(a.node.get()) < pos.at(b.node.get()); });
    for (size_t k = 0; k < parts.size(); ++k) {
      const Node* p = parts[k].node.get();
      std::vector<Req>& r = node_reqs_[p];
      if (r.empty()) r.assign(size_t(full_.row[full_.id.at(p) + 1] - full_.row[full_.id.at(p)]), Req::kWrite);
      r[parts[k].index] = k == 0 ? Req::kWrite : Req::kAdd;
      uint32_t m = full_.entry(parts[k]);
      sum_into[m] = int(root);
      sum_parts_.emplace_back(m, root);
    }
    summed_.insert(n.get());
  }
  return sum_into;
}

void Executor::check_same(const NDArray& now, const NDArray& given, const char* what, const std::string& name) const {
  if (given.is_none()) fail(BRASS_ERR_INVALID_ARGUMENT, "rebind: no array for ", what, " '", name, "'");
  if (given.shape() != now.shape() || given.dtype() != now.dtype() || given.device() != now.device())
    fail(BRASS_ERR_SHAPE, "rebind: ", what, " '", name, "' is ", given.shape(), " ", dtype_name(given.dtype()), " on ",
         given.device().str(), ", bound as ", now.shape(), " ", dtype_name(now.dtype()), " on ", now.device().str());
}

void Executor::rebind(const std::vector<NDArray>& args, const std::vector<NDArray>& aux) {
  if (args.size() != args_.size() || aux.size() != aux_.size())
    fail(BRASS_ERR_INVALID_ARGUMENT, "rebind: ", args.size(), " arguments and ", aux.size(), " auxiliary states given, ",
         args_.size(), " and ", aux_.size(), " bound");
  for (size_t i = 0; i < args.size(); ++i) check_same(args_[i], args[i], "argument", arg_nodes_[i]->name);
  for (size_t i = 0; i < aux.size(); ++i) check_same(aux_[i], aux[i], "auxiliary state", aux_nodes_[i]->name);
  for (size_t i = 0; i < args.size(); ++i) value({arg_nodes_[i], 0}) = args_[i] = args[i];
  for (size_t i = 0; i < aux.size(); ++i) value({aux_nodes_[i], 0}) = aux_[i] = aux[i];
}

void Executor::rebind_grads(const std::vector<NDArray>& arg_grads) {
  if (arg_grads.size() != args_.size())
    fail(BRASS_ERR_INVALID_ARGUMENT, "rebind: ", arg_grads.size(), " gradient arrays for ", args_.size(), " arguments");
  for (size_t i : grad_args_) check_same(grads_[i], arg_grads[i], "gradient of argument", arg_nodes_[i]->name);
  for (size_t k = 0; k < grad_args_.size(); ++k) {
    size_t i = grad_args_[k];
    grads_[i] = arg_grads[i];
    if (grad_direct_[k]) value(grad_entries_[k]) = grads_[i];
  }
  alias_sum_parts();
}

#if BRASS_TRAINING  // the predictor runs every forward in pushes of whole steps (forward_bulk)
void Executor::run(const NodePtr& n) {
  if (!summed_.empty() && summed_.count(n.get())) return;  // its parts summed in its buffer
  std::vector<NDArray> in, out;
  in.reserve(n->inputs.size());
  for (const NodeEntry& e : n->inputs) in.push_back(value(e));
  uint32_t nid = full_.id.at(n.get());
  out.assign(vals_.begin() + full_.row[nid], vals_.begin() + full_.row[nid + 1]);
  try {
    auto r = node_reqs_.empty() ? node_reqs_.end() : node_reqs_.find(n.get());
    invoke(n->op, n->attrs, in, out, r == node_reqs_.end() ? nullptr : &r->second);
  } catch (const Error& e) {
    fail(e.code(), "node '", n->name, "' (", n->op->name, "): ", e.what());
  }
  if (monitor_ && !n->name.empty()) {
    std::vector<std::string> names = output_names(n->op, *n->attrs);
    for (size_t o = 0; o < names.size(); ++o) monitor_(n->name + "_" + names[o], out[o]);
  }
}
#endif  // BRASS_TRAINING

// Forward steps [first, last) of fwd_nodes_: in one push (forward_bulk) for inference (and
// always in the predictor), else op by op.
void Executor::run_steps(size_t first, size_t last, bool is_train) {
  if (bulk_ && !monitor_ && (!is_train || !BRASS_TRAINING)) {
    if (!bulk_steps_) prepare_bulk();
    forward_bulk(size_t(bulk_index_[first]), size_t(bulk_index_[last]), is_train);
    return;
  }
#if BRASS_TRAINING
  for (size_t i = first; i < last; ++i) run(fwd_nodes_[i]);
#else
  fail(BRASS_ERR_UNSUPPORTED, "forward: ", monitor_ ? "a monitor" : "this graph", " needs the full library");
#endif
}

void Executor::forward(bool is_train, bool fresh_outputs) {
  PassMode mode(is_train);
  if (fresh_outputs) {
    for (const NodeEntry& e : out_entries_)
      if (!e.node->is_variable()) {
        NDArray& v = value(e);
        v = NDArray(v.shape(), v.dtype(), dev_);
      }
    alias_sum_parts();
  }
  run_steps(0, fwd_nodes_.size(), is_train);
  finish_forward(is_train, fresh_outputs);
}

// A forward node's kernel call: its entries in full_ and write requests.
struct Executor::BulkStep {
  const Op* op;
  std::shared_ptr<const NodeAttrs> attrs;
  std::string name;
  std::vector<uint32_t> in, out;
  std::vector<int> mutated;  // inputs the op may write (BatchNorm's moving statistics)
  std::vector<Req> reqs;
};

void Executor::prepare_bulk() {
  auto steps = std::make_shared<std::vector<BulkStep>>();
  size_t temp = 0;
  std::vector<TBlob> in, out;
  bulk_index_.clear();
  for (const NodePtr& n : fwd_nodes_) {
    bulk_index_.push_back(int(steps->size()));
    if (summed_.count(n.get())) continue;  // its parts summed in its buffer
    BulkStep st{n->op, n->attrs, n->name, {}, {}, n->op->mutated_inputs(*n->attrs), {}};
    for (const NodeEntry& e : n->inputs) st.in.push_back(full_.entry(e));
    uint32_t nid = full_.id.at(n.get());
    for (uint32_t e = full_.row[nid]; e < full_.row[nid + 1]; ++e) st.out.push_back(e);
    auto r = node_reqs_.find(n.get());
    st.reqs = r != node_reqs_.end() ? r->second : std::vector<Req>(st.out.size(), Req::kWrite);
    if (st.op->temp_size) {
      in.clear();
      out.clear();
      for (uint32_t e : st.in) in.push_back(vals_[e].blob());
      for (uint32_t e : st.out) out.push_back(vals_[e].blob());
      temp = std::max(temp, st.op->temp_size(*st.attrs, in, out));
    }
    steps->push_back(std::move(st));
  }
  bulk_index_.push_back(int(steps->size()));
  if (temp) bulk_temp_ = NDArray(Shape{int64_t(temp)}, DType::kUint8, dev_);
  bulk_steps_ = std::move(steps);
}

// Steps [first, last) of bulk_steps_ as one piece of engine work (MXNet's bulk execution):
// the nodes run in order on one thread, their kernels called straight, with the shapes, dtypes
// and memory settled at bind, so a forward costs one push instead of one per op (shape
// inference, checks, a closure and a thread hop each) and the next kernel starts right after
// the last. The work reads what the steps read and do not write, and writes their values, the
// inputs they may write in this mode and the shared scratch; kernels see the same requests,
// random streams (drawn here, in node order) and versions as op by op, except that a value the
// executor computes has no version (0: nothing derived from it is kept). A forward after a
// failed one runs again (Engine::push's overwrites).
void Executor::forward_bulk(size_t first, size_t last, bool is_train) {
  if (first >= last) return;
  struct Job {
    std::shared_ptr<const std::vector<BulkStep>> steps;
    size_t first, last;
    bool is_train;
    std::vector<NDArray> vals;           // the arrays, alive until the work has run
    NDArray temp;
    std::vector<RandomStream> rng;       // per step
    std::vector<uint64_t> versions;      // per input of the steps that ask, in order
  };
  const std::vector<BulkStep>& steps = *bulk_steps_;
  auto job = std::make_shared<Job>();
  job->steps = bulk_steps_;
  job->first = first;
  job->last = last;
  job->is_train = is_train;
  job->vals = vals_;
  job->temp = bulk_temp_;
  std::vector<VarPtr> reads, writes;
  // 1: a value some step computes; 2: one these steps compute.
  std::vector<char> computed(vals_.size(), 0);
  for (size_t s = 0; s < steps.size(); ++s)
    for (uint32_t e : steps[s].out) computed[e] = s >= first && s < last ? 2 : 1;
  bool overwrites = true;  // unless some op writes a variable it reads
  job->rng.resize(last - first);
  for (size_t s = first; s < last; ++s) {
    const BulkStep& st = steps[s];
    for (uint32_t e : st.in) {
      if (computed[e] != 2) reads.push_back(vals_[e].var());
      if (st.op->want_versions) job->versions.push_back(computed[e] ? 0 : contents_version(*vals_[e].var()));
    }
    for (uint32_t e : st.out) writes.push_back(vals_[e].var());
    if (is_train || !st.op->mutates_in_training)
      for (int i : st.mutated) {
        writes.push_back(vals_[st.in[size_t(i)]].var());
        overwrites = false;
      }
    if (st.op->need_random) job->rng[s - first] = random::next_stream(dev_);
  }
  if (!bulk_temp_.is_none()) writes.push_back(bulk_temp_.var());
  const Device dev = dev_;
  Engine::get().push(
      [job, dev] {
        std::vector<TBlob> in, out;
        OpContext ctx;
        ctx.dev = dev;
        ctx.is_train = job->is_train;
        void* temp = job->temp.is_none() ? nullptr : job->temp.data();
        const uint64_t* versions = job->versions.data();
        for (size_t s = job->first; s < job->last; ++s) {
          const BulkStep& st = (*job->steps)[s];
          in.resize(st.in.size());
          out.resize(st.out.size());
          for (size_t i = 0; i < st.in.size(); ++i) in[i] = job->vals[st.in[i]].blob();
          for (size_t i = 0; i < st.out.size(); ++i) out[i] = job->vals[st.out[i]].blob();
          ctx.attrs = st.attrs.get();
          ctx.req = st.reqs;
          ctx.rng = job->rng[s - job->first];
          ctx.temp = st.op->temp_size ? temp : nullptr;
          ctx.versions = st.op->want_versions ? versions : nullptr;
          if (st.op->want_versions) versions += st.in.size();
          try {
            st.op->compute[0](ctx, in, out);
          } catch (const Error& e) {
            fail(e.code(), "node '", st.name, "' (", st.op->name, "): ", e.what());
          }
        }
      },
      std::move(reads), std::move(writes), dev_, "forward", false, overwrites);
}

void Executor::finish_forward(bool is_train, bool fresh_outputs) {
  outputs_.clear();
  for (const NodeEntry& e : out_entries_) {
    outputs_.push_back(value(e));
    if (fresh_outputs && e.node->is_variable()) {  // an input passed through: a copy
      outputs_.back() = NDArray(value(e).shape(), value(e).dtype(), dev_);
      copy_array(value(e), outputs_.back());
    }
  }
  forward_done_ = true;
  forward_train_ = is_train;
}

void Executor::forward_step(int step, bool is_train) {
  if (step < 0 || step > int(fwd_nodes_.size()))
    fail(BRASS_ERR_INDEX, "forward step ", step, " is out of range: the graph has ", fwd_nodes_.size(), " steps");
  PassMode mode(is_train);
  if (step < int(fwd_nodes_.size())) run_steps(size_t(step), size_t(step) + 1, is_train);
  if (step + 1 >= int(fwd_nodes_.size())) finish_forward(is_train, false);
}

void Executor::backward(const std::vector<NDArray>& head_grads, int is_train) {
  if (!forward_done_)
    fail(BRASS_ERR_INVALID_ARGUMENT, "backward: call forward(is_train=True) first (once per backward: backward "
         "reuses the memory of the forward values it has read)");
  if (grad_args_.empty()) return;  // every grad_req is null
#if BRASS_TRAINING
  if (!head_grads.empty() && head_grads.size() != outputs_.size())
    fail(BRASS_ERR_INVALID_ARGUMENT, "backward: ", head_grads.size(), " head gradients for ", outputs_.size(),
         " outputs");
  PassMode mode(is_train < 0 ? forward_train_ : is_train != 0);
  for (size_t i = 0; i < outputs_.size(); ++i) {
    if (!full_.id.count(head_grad_vars_[i].get())) continue;  // no gradient flows from this output
    NDArray& hv = value({head_grad_vars_[i], 0});
    if (i < head_grads.size() && !head_grads[i].is_none()) {
      const NDArray& g = head_grads[i];
      if (g.shape() != outputs_[i].shape() || g.device() != dev_)
        fail(BRASS_ERR_SHAPE, "backward: head gradient ", i, " has shape ", g.shape(), " on ", g.device().str(),
             ", output '", list_outputs(sym_)[i], "' is ", outputs_[i].shape(), " on ", dev_.str());
      hv = g.dtype() == outputs_[i].dtype() ? g.detached() : NDArray();
      if (hv.is_none()) {  // another dtype: converted into the default buffer
        if (default_head_grads_.size() <= i) default_head_grads_.resize(outputs_.size());
        if (default_head_grads_[i].is_none())
          default_head_grads_[i] = NDArray(outputs_[i].shape(), outputs_[i].dtype(), dev_);
        copy_array(g, default_head_grads_[i]);
        hv = default_head_grads_[i];
      }
    } else {
      if (default_head_grads_.size() <= i) default_head_grads_.resize(outputs_.size());
      NDArray& d = default_head_grads_[i];
      if (d.is_none()) d = NDArray(outputs_[i].shape(), outputs_[i].dtype(), dev_);
      const Op* ones = OpRegistry::get().find("ones_like");
      std::vector<NDArray> o{d};
      invoke(ones, make_attrs(ones, {}), {outputs_[i]}, o);
      hv = d;
    }
  }
  // Backward reuses buffers of forward values after their last read: another backward needs
  // another forward (unless they are kept).
  forward_done_ = keep_forward_;
  for (const NodePtr& n : bwd_nodes_) run(n);
  const Op* add = OpRegistry::get().find("elemwise_add");
  auto add_attrs = make_attrs(add, {});
  for (size_t k = 0; k < grad_args_.size(); ++k) {
    size_t i = grad_args_[k];
    if (grad_direct_[k]) continue;
    const NDArray& g = value(grad_entries_[k]);
    if (reqs_[i] == Req::kAdd) {
      std::vector<NDArray> out{grads_[i]};
      invoke(add, add_attrs, {grads_[i], g}, out);
    } else {
      copy_array(g, grads_[i]);
    }
  }
#else
  (void)head_grads, (void)is_train;
#endif
}

}  // namespace graph
}  // namespace brass
