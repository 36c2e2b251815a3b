// A cached graph (what a hybridized block runs): a symbol called like an op on arrays given
// per call. Each call runs a bound executor (planned memory, fused element-wise chains) kept
// per input shapes, dtypes, device and gradient needs; the inputs are rebound, the outputs are
// new arrays. Under autograd.record(), when some input is recorded, the call is one recorded
// node whose backward runs the executor's backward: the forward values it reads stay in the
// executor's buffers (so retain_graph works) until a backward frees the recorded graph, and a
// second call while the first is still recorded gets an executor of its own.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "graph/executor.h"

namespace brass {
namespace graph {

class CachedOp {
 public:
  explicit CachedOp(Symbol sym);
  // inputs: every variable, in list_inputs order (arguments and auxiliary states).
  std::vector<NDArray> operator()(const std::vector<NDArray>& inputs);
  const Symbol& symbol() const { return sym_; }
  size_t num_executors() const;

  struct State;  // an executor and whether a recorded graph holds it

 private:
  std::shared_ptr<State> acquire(const std::vector<NDArray>& inputs, const std::vector<Req>& reqs);

  Symbol sym_;
  size_t num_inputs_;
  std::vector<size_t> arg_pos_, aux_pos_;  // where each argument / auxiliary state is in the inputs
  mutable std::mutex mu_;
  std::vector<std::shared_ptr<State>> states_;  // most recently used last
};

}  // namespace graph
}  // namespace brass
