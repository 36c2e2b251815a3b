// Building blocks for gradient definitions (Op::grad): nodes of registered ops, the entries
// of a node's inputs and outputs, and common gradient shapes.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "op/operator.h"

namespace brass {
namespace grad {

using Entries = std::vector<NodeEntry>;
using Params = std::vector<std::pair<std::string, std::string>>;

// A new node applying the registered op `name` to `inputs` with string parameters.
NodePtr node(const char* name, Entries inputs, Params params = {});
// Output `index` of such a node.
inline NodeEntry apply(const char* name, Entries inputs, Params params = {}, uint32_t index = 0) {
  return NodeEntry{node(name, std::move(inputs), std::move(params)), index};
}
inline NodeEntry out(const NodePtr& n, uint32_t i = 0) { return NodeEntry{n, i}; }
inline const NodeEntry& in(const NodePtr& n, size_t i) { return n->inputs[i]; }

// A double as a parameter string that parses back to the same value.
std::string num(double v);

// x * y, x / y, x + y, x - y on same-shape entries.
inline NodeEntry mul(NodeEntry a, NodeEntry b) { return apply("elemwise_mul", {a, b}); }
inline NodeEntry div(NodeEntry a, NodeEntry b) { return apply("elemwise_div", {a, b}); }
inline NodeEntry add(NodeEntry a, NodeEntry b) { return apply("elemwise_add", {a, b}); }
inline NodeEntry sub(NodeEntry a, NodeEntry b) { return apply("elemwise_sub", {a, b}); }
// x (op) s for a scalar s, e.g. scalar("_mul_scalar", x, 2).
inline NodeEntry scalar(const char* op, NodeEntry x, double s) {
  return apply(op, {x}, {{"scalar", num(s)}});
}

// For ops through which no gradient flows (comparisons, rounding, indices): every input gets
// an empty entry, which the gradient pass treats as zero.
Entries none(const NodePtr& n, const Entries& ograds);

}  // namespace grad
}  // namespace brass
