// Memory planning: assigns the values of a graph to a few shared buffers. Walking the nodes in
// execution order, an output takes over an input's buffer in place when the op allows it and
// that input has no later reader, or else the smallest free buffer that fits (a free buffer
// that is too small grows), or a new one; a buffer is freed after the last read of its value.
// Persistent values (bound arrays, outputs, gradients) are never shared.
#pragma once

#include <cstdint>
#include <vector>

#include "graph/infer.h"

namespace brass {
namespace graph {

struct MemoryPlan {
  std::vector<int> storage;      // per entry: buffer id, or -1 (persistent or unused)
  std::vector<size_t> sizes;     // bytes per buffer
  size_t naive_bytes = 0;        // every planned value in a buffer of its own
  size_t planned_bytes = 0;      // sum of sizes
  int inplace = 0;               // values that took over an input's buffer
  int addto = 0;                 // values summed into another's buffer (add-to)
};

// bytes[e]: size of entry e; persistent[e]: not planned; order: the op nodes in execution
// order (every node of g that runs). share=false gives every value a buffer of its own.
// held (optional, per entry): values whose buffers no later value takes (they outlive the
// order, as forward values that a repeatable backward reads).
// sum_into (optional, per entry): the entry whose buffer this value is written or added into
// (the parts of an add_n computed in its output's buffer), or -1. The buffer is taken when the
// first part is written and lives until the sum's last read; a persistent sum gives its parts
// no buffer (they use its array).
// concurrent: a value takes a freed buffer only when every node that used the buffer is an
// ancestor of its node, so sharing adds no ordering between nodes that could run side by side
// (more memory, kept concurrency).
MemoryPlan plan_memory(const IndexedGraph& g, const std::vector<NodePtr>& order, const std::vector<size_t>& bytes,
                       const std::vector<bool>& persistent, bool share, const std::vector<bool>* held = nullptr,
                       const std::vector<int>* sum_into = nullptr, bool concurrent = false);

}  // namespace graph
}  // namespace brass
