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
#include <unordered_set>
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
    bool add_to = true;   // sum gradient parts in one buffer where the ops can add (CPU)
    bool concurrent = false;  // share buffers only along dependencies (plan_memory.h)
    // Forward values that backward reads keep their buffers through backward, so backward may
    // run again after one forward (a recorded graph kept with retain_graph).
    bool keep_forward = false;
    // Bind fails, before allocating anything, when the values it plans (activations, outputs,
    // gradients; not the arrays given) need more than this many bytes. 0: no limit.
    uint64_t memory_limit = 0;
    // For binds without gradients that run inference: MobileNet's blocks keep their inner
    // values channels-last (graph::store_channels_last; counted with the fused groups), and
    // forward fails on BatchNorm's batch statistics (is_train).
    bool channels_last = false;
    // BRASS_MEMORY_PLAN=0, BRASS_BACKWARD_DO_MIRROR=1, BRASS_FUSE=0, BRASS_ADD_TO=0,
    // BRASS_PLAN_CONCURRENT=1, BRASS_CHANNELS_LAST=1 (the predictor's default; 0 turns it off
    // there)
    static Options from_env();
    // An environment switch: unset gives dflt; "0" turns a default-on switch off, "1" a
    // default-off one on.
    static bool env_flag(const char* name, bool dflt);
  };
  Executor(const Symbol& sym, Device dev, std::vector<NDArray> args, std::vector<NDArray> arg_grads,
           std::vector<Req> reqs, std::vector<NDArray> aux, Options opt = Options::from_env());

  // fresh_outputs: the outputs go to new arrays (the previous ones stay the caller's).
  void forward(bool is_train, bool fresh_outputs = false);
  // Forward one step at a time (MXNet's partial forward, for progress reports): step i runs
  // the i-th op node (or fused group) alone; the outputs are set after the last step.
  int num_forward_steps() const { return int(fwd_nodes_.size()); }
  void forward_step(int step, bool is_train);
  // head_grads: one per output, or empty for ones. is_train: the training flag of the ops'
  // gradients (-1: the forward's, as MXNet's executor; autograd passes its backward's).
  void backward(const std::vector<NDArray>& head_grads, int is_train = -1);

  const std::vector<NDArray>& outputs() const { return outputs_; }
  const std::vector<NDArray>& args() const { return args_; }
  const std::vector<NDArray>& arg_grads() const { return grads_; }
  const std::vector<NDArray>& aux() const { return aux_; }
  const Symbol& symbol() const { return sym_; }
  // Binds other arrays of the same shapes, dtypes and device: arguments and auxiliary states
  // (for the next forward), or the gradient arrays of the arguments with a request (entries
  // of arg_grads for the others are ignored).
  void rebind(const std::vector<NDArray>& args, const std::vector<NDArray>& aux);
  void rebind_grads(const std::vector<NDArray>& arg_grads);
  const MemoryPlan& plan() const { return plan_; }
  int fused_groups() const { return fused_; }
  // Called with each op output's name ("fc1_output") and value after the op runs. An executor
  // with fused groups is planned again without fusion first, so every op's output is seen.
  void set_monitor(std::function<void(const std::string&, const NDArray&)> cb);

 private:
  NDArray& value(const NodeEntry& e) { return vals_[full_.entry(e)]; }
  // Parts of a sum share the sum's array (after the sum's array changes).
  void alias_sum_parts() {
    for (auto& pr : sum_parts_) vals_[pr.first] = vals_[pr.second];
  }
  void check_same(const NDArray& now, const NDArray& given, const char* what, const std::string& name) const;
  void run(const NodePtr& n);
  void run_steps(size_t first, size_t last, bool is_train);
  void prepare_bulk();
  void forward_bulk(size_t first, size_t last, bool is_train);
  void finish_forward(bool is_train, bool fresh_outputs);
  std::vector<int> plan_add_to(const std::vector<NodePtr>& order, const std::vector<bool>& persistent,
                               const std::vector<Shape>& sh, const std::vector<int>& ty,
                               const std::unordered_set<const Node*>& in_fwd);

  Symbol sym_;
  Device dev_;
  std::vector<NDArray> args_, grads_, aux_, outputs_;
  std::vector<Req> reqs_;
  std::vector<NodeEntry> out_entries_;        // the outputs (after fusion)
  std::vector<NodeEntry> grad_entries_;       // per argument with a gradient
  int fused_ = 0;
  std::vector<size_t> grad_args_;             // which argument each is for
  std::vector<bool> grad_direct_;             // per gradient entry: computed in the gradient array itself
  std::vector<NodePtr> arg_nodes_, aux_nodes_;
  std::unordered_map<const Node*, std::vector<Req>> node_reqs_;  // nodes that add into a sum's buffer
  std::unordered_set<const Node*> summed_;                       // add_n nodes done that way
  std::vector<std::pair<uint32_t, uint32_t>> sum_parts_;         // (part, sum) entries sharing an array
  std::vector<NodePtr> head_grad_vars_;       // variables standing for the head gradients
  IndexedGraph full_;                         // forward heads and gradient entries
  std::vector<NodePtr> fwd_nodes_, bwd_nodes_;  // op nodes to run, in order
  std::vector<NDArray> vals_;                 // per entry of full_: its (planned) array
  std::vector<NDArray> buffers_;
  MemoryPlan plan_;
  NDArray ones_;                              // default head gradient buffers, made once
  std::vector<NDArray> default_head_grads_;
  bool forward_done_ = false, forward_train_ = false, keep_forward_ = false;
  // Forward steps as one piece of engine work (forward_bulk): whether every forward node can
  // run that way (set at bind), the steps (made at the first such forward; summed add_n nodes
  // have none), per node of fwd_nodes_ (and its end) the index of its step, and the scratch
  // memory they share (the most any step asks for).
  struct BulkStep;
  bool bulk_ = false;
  std::shared_ptr<const std::vector<BulkStep>> bulk_steps_;
  std::vector<int> bulk_index_;
  NDArray bulk_temp_;
  Options opt_;
  std::function<void(const std::string&, const NDArray&)> monitor_;
};

}  // namespace graph
}  // namespace brass
