// Cached graphs: executors per input signature, and their calls recorded as one node.
#include "graph/cached_op.h"

#include <algorithm>
#include <atomic>
#include <unordered_map>

#include "base/build_options.h"
#include "graph/gradient.h"
#include "imperative/autograd.h"

#if BRASS_TRAINING  // hybridized blocks train; the predictor runs executors directly
namespace brass {
namespace graph {

struct CachedOp::State {
  std::vector<int64_t> key;
  std::unique_ptr<Executor> exe;
  std::atomic<bool> busy{false};  // a call runs it or a recorded graph holds its forward values
};

namespace {

constexpr size_t kMaxStates = 16;  // free executors kept per cached graph (input signatures)

// Shapes, dtypes and device of the inputs, and which arguments get a gradient.
std::vector<int64_t> signature(const std::vector<NDArray>& inputs, const std::vector<size_t>& arg_pos,
                               const std::vector<Req>& reqs) {
  std::vector<int64_t> k;
  for (const NDArray& a : inputs) {
    k.push_back(int64_t(a.dtype()));
    k.push_back(int64_t(a.device().type) * 65536 + a.device().id);
    k.push_back(a.shape().ndim());
    k.insert(k.end(), a.shape().data(), a.shape().data() + a.shape().ndim());
  }
  for (size_t i = 0; i < arg_pos.size(); ++i) k.push_back(int64_t(reqs[i]));
  return k;
}

}  // namespace

CachedOp::CachedOp(Symbol sym) : sym_(std::move(sym)) {
  std::unordered_map<const Node*, size_t> pos;
  for (const NodePtr& n : topo_order(sym_.outputs))
    if (n->is_variable()) pos.emplace(n.get(), pos.size());
  num_inputs_ = pos.size();
  for (const NodePtr& n : list_variables(sym_, false)) arg_pos_.push_back(pos.at(n.get()));
  for (const NodePtr& n : list_variables(sym_, true)) aux_pos_.push_back(pos.at(n.get()));
}

size_t CachedOp::num_executors() const {
  std::lock_guard<std::mutex> lock(mu_);
  return states_.size();
}

std::shared_ptr<CachedOp::State> CachedOp::acquire(const std::vector<NDArray>& inputs, const std::vector<Req>& reqs) {
  std::vector<int64_t> key = signature(inputs, arg_pos_, reqs);
  std::vector<NDArray> args, aux;
  for (size_t p : arg_pos_) args.push_back(inputs[p]);
  for (size_t p : aux_pos_) aux.push_back(inputs[p]);
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = states_.size(); i-- > 0;) {
      std::shared_ptr<State> s = states_[i];
      if (s->key != key || s->busy.exchange(true)) continue;
      states_.erase(states_.begin() + long(i));  // most recently used goes last
      states_.push_back(s);
      try {
        s->exe->rebind(args, aux);
      } catch (...) {
        s->busy = false;
        throw;
      }
      return s;
    }
  }
  // A new executor (outside the lock: binding plans the graph). Gradient arrays are placeholders
  // until a backward binds the ones it fills.
  auto s = std::make_shared<State>();
  s->key = std::move(key);
  s->busy = true;
  std::vector<NDArray> grads(args.size());
  for (size_t i = 0; i < args.size(); ++i)
    if (reqs[i] != Req::kNull) grads[i] = NDArray(args[i].shape(), args[i].dtype(), args[i].device());
  Executor::Options opt = Executor::Options::from_env();
  opt.keep_forward = true;
  // Training steps keep the engine's concurrency: buffers shared along dependencies only
  // (BRASS_PLAN_CONCURRENT=0 shares them as bound executors do).
  opt.concurrent = Executor::Options::env_flag("BRASS_PLAN_CONCURRENT", true);
  Device dev = inputs.empty() ? Device::cpu() : inputs[0].device();
  s->exe = std::make_unique<Executor>(sym_, dev, args, std::move(grads), reqs, aux, opt);
  std::lock_guard<std::mutex> lock(mu_);
  states_.push_back(s);
  size_t free_states = 0;
  for (const auto& t : states_) free_states += t->busy ? 0 : 1;
  for (size_t i = 0; free_states > kMaxStates && i < states_.size();) {  // least recently used first
    if (!states_[i]->busy) {
      states_.erase(states_.begin() + long(i));
      --free_states;
    } else {
      ++i;
    }
  }
  return s;
}

std::vector<NDArray> CachedOp::operator()(const std::vector<NDArray>& inputs) {
  if (inputs.size() != num_inputs_)
    fail(BRASS_ERR_INVALID_ARGUMENT, "hybridized block: ", inputs.size(), " inputs given, its graph has ", num_inputs_);
  for (size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i].is_none()) fail(BRASS_ERR_INVALID_ARGUMENT, "hybridized block: input ", i, " is none");
  bool record = false;
  if (autograd::is_recording())
    for (const NDArray& a : inputs) record = record || a.ag_node();
  std::vector<Req> reqs(arg_pos_.size(), Req::kNull);
  for (size_t i = 0; i < arg_pos_.size(); ++i)
    if (record && inputs[arg_pos_[i]].ag_node()) reqs[i] = Req::kWrite;
  std::shared_ptr<State> s = acquire(inputs, reqs);
  std::vector<NDArray> outputs;
  try {
    s->exe->forward(autograd::is_training(), /*fresh_outputs=*/true);
    outputs = s->exe->outputs();
  } catch (...) {
    s->busy = false;
    throw;
  }
  if (!record) {
    s->busy = false;
    return outputs;
  }
  // One recorded node: its backward binds the gradient arrays it fills and runs the executor's.
  // Recorded auxiliary states get zero gradients (the gradient pass reads only what leads to
  // a variable; the gradients of unrecorded inputs are never read).
  std::vector<size_t> arg_pos = arg_pos_, zero_pos;
  for (size_t p : aux_pos_)
    if (inputs[p].ag_node()) zero_pos.push_back(p);
  autograd::CustomBackward cb;
  cb.run = [s, arg_pos, zero_pos](const std::vector<NDArray>& out_grads, const std::vector<NDArray>& in_grads) {
    if (autograd::is_recording())  // the executor's gradient ops are not recorded
      fail(BRASS_ERR_UNSUPPORTED, "hybridized block: its gradient cannot be recorded for higher-order "
           "gradients (create_graph=True); call hybridize(False) on the block for that");
    std::vector<NDArray> grads(arg_pos.size());
    for (size_t i = 0; i < arg_pos.size(); ++i) grads[i] = in_grads[arg_pos[i]];
    s->exe->rebind_grads(grads);
    s->exe->backward(out_grads, autograd::is_training());  // the flag of autograd's backward
    const Op* zeros = OpRegistry::get().find("zeros_like");
    for (size_t p : zero_pos) {
      std::vector<NDArray> z{in_grads[p]};
      invoke(zeros, make_attrs(zeros, {}), {in_grads[p]}, z);
    }
    return true;  // failures throw, with the node's name
  };
  cb.release = [s] { s->busy = false; };
  autograd::record_custom(inputs, outputs, std::move(cb), "hybridized block");
  return outputs;
}

}  // namespace graph
}  // namespace brass
#endif  // BRASS_TRAINING
