// The executor: forward and backward passes of a bound symbol.
#include "graph/executor.h"

#include <algorithm>
#include <unordered_set>

#include "graph/gradient.h"
#include "imperative/autograd.h"
#include "op/grad.h"

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

}  // namespace

Executor::Executor(const Symbol& sym, Device dev, std::vector<NDArray> args, std::vector<NDArray> arg_grads,
                   std::vector<Req> reqs, std::vector<NDArray> aux)
    : sym_(sym), dev_(dev), args_(std::move(args)), grads_(std::move(arg_grads)), aux_(std::move(aux)),
      reqs_(std::move(reqs)), fwd_(sym.outputs) {
  std::vector<NodePtr> arg_nodes = list_variables(sym_, false), aux_nodes = list_variables(sym_, true);
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
  // Shapes and dtypes must agree with the graph.
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
  std::vector<Shape> sh = infer_shapes(fwd_, shapes);
  infer_types(fwd_, types);
  for (size_t i = 0; i < sh.size(); ++i)
    if (!sh[i].known())
      fail(BRASS_ERR_SHAPE, "bind: the shape of an output of node '",
           fwd_.nodes[std::upper_bound(fwd_.row.begin(), fwd_.row.end(), uint32_t(i)) - fwd_.row.begin() - 1]->name,
           "' cannot be inferred");
  for (size_t i = 0; i < args_.size(); ++i) {
    if (reqs_[i] == Req::kNull) continue;
    const NDArray& g = grads_[i];
    check_array(g, "gradient of argument", arg_nodes[i]->name, dev_);
    if (g.shape() != args_[i].shape())
      fail(BRASS_ERR_SHAPE, "bind: the gradient array of '", arg_nodes[i]->name, "' has shape ", g.shape(),
           ", the argument ", args_[i].shape());
  }
  // Values of variables are the bound arrays.
  vals_.assign(fwd_.num_entries(), NDArray());
  for (size_t i = 0; i < args_.size(); ++i) vals_[fwd_.entry({arg_nodes[i], 0})] = args_[i];
  for (size_t i = 0; i < aux_.size(); ++i) vals_[fwd_.entry({aux_nodes[i], 0})] = aux_[i];

  // The gradient graph, built once.
  std::vector<NodeEntry> xs;
  for (size_t i = 0; i < args_.size(); ++i)
    if (reqs_[i] != Req::kNull) {
      xs.push_back({arg_nodes[i], 0});
      grad_args_.push_back(i);
    }
  if (xs.empty()) return;
  std::vector<NodeEntry> hgs;
  for (size_t i = 0; i < sym_.outputs.size(); ++i) {
    auto v = std::make_shared<Node>();
    v->name = "head_grad" + std::to_string(i);
    head_grad_vars_.push_back(v);
    hgs.push_back({v, 0});
  }
  grad_entries_ = gradient(sym_.outputs, hgs, xs);
  std::unordered_set<const Node*> hv;
  for (auto& v : head_grad_vars_) hv.insert(v.get());
  for (const NodePtr& n : topo_order(grad_entries_))
    if (!n->is_variable() && !fwd_.id.count(n.get())) bwd_nodes_.push_back(n);
}

NDArray Executor::value(const NodeEntry& e) const {
  auto f = fwd_.id.find(e.node.get());
  if (f != fwd_.id.end()) return vals_[fwd_.row[f->second] + e.index];
  for (size_t i = 0; i < head_grad_vars_.size(); ++i)
    if (head_grad_vars_[i] == e.node) return head_grads_[i];
  auto b = bwd_vals_.find(e.node.get());
  BRASS_CHECK(b != bwd_vals_.end());
  return b->second[e.index];
}

void Executor::run(const NodePtr& n) {
  std::vector<NDArray> in, out;
  in.reserve(n->inputs.size());
  for (const NodeEntry& e : n->inputs) in.push_back(value(e));
  try {
    invoke(n->op, n->attrs, in, out);
  } catch (const Error& e) {
    fail(e.code(), "node '", n->name, "' (", n->op->name, "): ", e.what());
  }
  if (monitor_ && !n->name.empty()) {
    std::vector<std::string> names = output_names(n->op, *n->attrs);
    for (size_t o = 0; o < names.size(); ++o) monitor_(n->name + "_" + names[o], out[o]);
  }
  auto f = fwd_.id.find(n.get());
  if (f != fwd_.id.end()) {
    for (size_t o = 0; o < out.size(); ++o) vals_[fwd_.row[f->second] + o] = std::move(out[o]);
  } else {
    bwd_vals_[n.get()] = std::move(out);
  }
}

void Executor::forward(bool is_train) {
  PassMode mode(is_train);
  for (const NodePtr& n : fwd_.nodes)
    if (!n->is_variable()) run(n);
  outputs_.clear();
  for (const NodeEntry& e : sym_.outputs) outputs_.push_back(value(e));
  forward_done_ = true;
  forward_train_ = is_train;
}

void Executor::backward(const std::vector<NDArray>& head_grads) {
  if (!forward_done_) fail(BRASS_ERR_INVALID_ARGUMENT, "backward: call forward(is_train=True) first");
  if (grad_args_.empty()) return;  // every grad_req is null
  if (!head_grads.empty() && head_grads.size() != outputs_.size())
    fail(BRASS_ERR_INVALID_ARGUMENT, "backward: ", head_grads.size(), " head gradients for ", outputs_.size(),
         " outputs");
  PassMode mode(forward_train_);
  head_grads_.clear();
  const Op* ones = OpRegistry::get().find("ones_like");
  auto no_params = make_attrs(ones, {});
  for (size_t i = 0; i < outputs_.size(); ++i) {
    if (i < head_grads.size() && !head_grads[i].is_none()) {
      const NDArray& g = head_grads[i];
      if (g.shape() != outputs_[i].shape() || g.device() != dev_)
        fail(BRASS_ERR_SHAPE, "backward: head gradient ", i, " has shape ", g.shape(), " on ", g.device().str(),
             ", output '", list_outputs(sym_)[i], "' is ", outputs_[i].shape(), " on ", dev_.str());
      head_grads_.push_back(g);
    } else {
      std::vector<NDArray> o;
      invoke(ones, no_params, {outputs_[i]}, o);
      head_grads_.push_back(o[0]);
    }
  }
  bwd_vals_.clear();
  for (const NodePtr& n : bwd_nodes_) run(n);
  const Op* add = OpRegistry::get().find("elemwise_add");
  auto add_attrs = make_attrs(add, {});
  for (size_t k = 0; k < grad_args_.size(); ++k) {
    size_t i = grad_args_[k];
    NDArray g = value(grad_entries_[k]);
    if (reqs_[i] == Req::kAdd) {
      std::vector<NDArray> out{grads_[i]};
      invoke(add, add_attrs, {grads_[i], g}, out);
    } else {
      copy_array(g, grads_[i]);
    }
  }
  bwd_vals_.clear();
  head_grads_.clear();
}

}  // namespace graph
}  // namespace brass
