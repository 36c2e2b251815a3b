// The gradient pass: from a graph's heads and the gradients flowing into them, the graph that
// computes the gradients of chosen entries, built from each op's own gradient (Op::grad).
#pragma once

#include <functional>
#include <vector>

#include "op/operator.h"

namespace brass {
namespace graph {

// The nodes that `heads` depend on (heads included), each after its inputs. With `stop`, the
// walk does not enter nodes for which it returns true (they are not listed either).
std::vector<NodePtr> topo_order(const std::vector<NodeEntry>& heads,
                                const std::function<bool(const Node&)>& stop = nullptr);

// For each x in xs, an entry computing sum_i <head_grads[i], d heads[i] / d x>. The new nodes
// read forward values through the forward graph's own entries; an x that no head depends on
// gets zeros_like(x). Fails, naming the op, when a node on a path from x to a head has no
// gradient.
std::vector<NodeEntry> gradient(const std::vector<NodeEntry>& heads,
                                const std::vector<NodeEntry>& head_grads,
                                const std::vector<NodeEntry>& xs);

}  // namespace graph
}  // namespace brass
