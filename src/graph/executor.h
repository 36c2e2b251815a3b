// The executor: a symbol bound to arrays (arguments, their gradient buffers with a write
// request each, auxiliary states) that runs forward and backward through the engine. Nodes are
// pushed in graph order with their read and write sets, so independent branches run
// concurrently and imperative work interleaves. Values live in buffers planned once at bind
// (plan_memory.h); with mirroring, backward recomputes most forward values from checkpoints
// instead of keeping them.
#pragma once

#include <functional>
#include <memory>
#include <unordered_map>
#include <string>
#include <vector>

#include "graph/fuse.h"
#include "graph/infer.h"
#include "graph/plan_memory.h"
#include "graph/symbol.h"

namespace brass {
namespace graph {

class Executor {
 public:
  // args/aux in list_arguments/list_auxiliary_states order; arg_grads[i] may be none when
  // reqs[i] is kNull. Fails naming the argument on a missing array or a wrong shape/dtype/device.
  struct Options {
    bool plan = true;     // share buffers between values (else one buffer per value)
    bool mirror = false;  // recompute forward values in backward (sublinear memory)
    bool fuse = true;     // fuse element-wise chains (CPU)
    static Options from_env();  // BRASS_MEMORY_PLAN=0, BRASS_BACKWARD_DO_MIRROR=1, BRASS_FUSE=0
  };
  Executor(const Symbol& sym, Device dev, std::vector<NDArray> args, std::vector<NDArray> arg_grads,
           std::vector<Req> reqs, std::vector<NDArray> aux, Options opt = Options::from_env());

  void forward(bool is_train);
  // head_grads: one per output, or empty for ones.
  void backward(const std::vector<NDArray>& head_grads);

  const std::vector<NDArray>& outputs() const { return outputs_; }
  const std::vector<NDArray>& args() const { return args_; }
  const std::vector<NDArray>& arg_grads() const { return grads_; }
  const std::vector<NDArray>& aux() const { return aux_; }
  const Symbol& symbol() const { return sym_; }
  const MemoryPlan& plan() const { return plan_; }
  int fused_groups() const { return fused_; }
  // Called with each op output's name ("fc1_output") and value after the op runs.
  void set_monitor(std::function<void(const std::string&, const NDArray&)> cb) { monitor_ = std::move(cb); }

 private:
  NDArray& value(const NodeEntry& e) { return vals_[full_.entry(e)]; }
  void run(const NodePtr& n);

  Symbol sym_;
  Device dev_;
  std::vector<NDArray> args_, grads_, aux_, outputs_;
  std::vector<Req> reqs_;
  std::vector<NodeEntry> out_entries_;        // the outputs (after fusion)
  std::vector<NodeEntry> grad_entries_;       // per argument with a gradient
  int fused_ = 0;
  std::vector<size_t> grad_args_;             // which argument each is for
  std::vector<NodePtr> head_grad_vars_;       // variables standing for the head gradients
  IndexedGraph full_;                         // forward heads and gradient entries
  std::vector<NodePtr> fwd_nodes_, bwd_nodes_;  // op nodes to run, in order
  std::vector<NDArray> vals_;                 // per entry of full_: its (planned) array
  std::vector<NDArray> buffers_;
  MemoryPlan plan_;
  NDArray ones_;                              // default head gradient buffers, made once
  std::vector<NDArray> default_head_grads_;
  bool forward_done_ = false, forward_train_ = false;
  std::function<void(const std::string&, const NDArray&)> monitor_;
};

}  // namespace graph
}  // namespace brass
