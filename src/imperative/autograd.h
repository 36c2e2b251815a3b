// Imperative autograd (MXNet 1.x semantics): while recording, every op applied to arrays that
// descend from marked variables becomes a node of a graph, with the values its gradient may
// read; backward builds the gradient graph from the ops' own gradients (graph/gradient.h) and
// runs it with the same imperative invoke.
#pragma once

#include <functional>
#include <vector>

#include "ndarray/ndarray.h"
#include "op/operator.h"

namespace brass {
namespace autograd {

// Per-thread switches; each setter returns the previous value.
bool is_recording();
bool set_recording(bool on);
bool is_training();
bool set_training(bool on);

// Makes each vars[i] a variable of later graphs: backward writes (Req::kWrite), adds
// (Req::kAdd) or skips (Req::kNull) its gradient into grads[i] (same shape and device).
void mark_variables(const std::vector<NDArray*>& vars, const std::vector<Req>& reqs,
                    const std::vector<NDArray>& grads);
// Whether x is marked with a gradient buffer (grad_req other than null).
bool is_variable(const NDArray& x);
// The gradient buffer of a marked variable (none when x is not one).
NDArray grad_of(const NDArray& x);
// Whether a backward has written x's gradient since the flag was cleared (Gluon's Trainer
// warns of a parameter whose gradient is stale); set_grad_fresh fails for a non-variable.
bool grad_fresh(const NDArray& x);
void set_grad_fresh(const NDArray& x, bool fresh);

// Called by invoke() after pushing an op while recording: links outputs to a new node.
void record(const Op* op, const std::shared_ptr<const NodeAttrs>& attrs,
            const std::vector<NDArray>& inputs, std::vector<NDArray>& outputs);

// A function whose forward ran outside the recorded graph (a Python autograd.Function) and
// whose backward is a callback: given the head gradients of the outputs, it fills the
// gradient arrays of the inputs (allocated with the inputs' shapes and dtypes). Returns false
// on failure (the caller reports why). `release` is called once, when a backward without
// retain_graph frees the recorded graph or when the graph is destroyed.
struct CustomBackward {
  std::function<bool(const std::vector<NDArray>& out_grads, const std::vector<NDArray>& in_grads)> run;
  std::function<void()> release;
};
// Records outputs = f(inputs) for such a function: outputs become recorded values.
// `what` names the function in messages ("autograd.Function", "hybridized block").
void record_custom(const std::vector<NDArray>& inputs, std::vector<NDArray>& outputs, CustomBackward backward,
                   const char* what = "autograd.Function");

// Gradients of heads (with head_grads; a none entry means ones) with respect to `variables`
// (returned in order), or, when variables is empty, with respect to every marked variable
// that the heads depend on (written into their gradient buffers; nothing returned).
// retain_graph keeps the recorded values for another backward; create_graph records the
// gradient computation itself (for higher derivatives); is_train: the training flag during it.
std::vector<NDArray> backward(const std::vector<NDArray>& heads,
                              const std::vector<NDArray>& head_grads,
                              const std::vector<NDArray>& variables, bool retain_graph,
                              bool create_graph, bool is_train);

}  // namespace autograd
}  // namespace brass
