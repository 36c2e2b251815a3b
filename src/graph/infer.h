// Shape and dtype inference over a graph: every op's own inference functions, run forwards and
// backwards until nothing changes, so shapes flow both ways (a weight's shape from the data's,
// a batch size from a later node's). Unknown extents are -1; MXNet's legacy 0 reads as unknown.
#pragma once

#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "graph/symbol.h"

namespace brass {
namespace graph {

// The nodes of a graph in order and a dense id per output entry (every output, hidden ones
// included): entry(e) = row[id of e.node] + e.index.
struct IndexedGraph {
  std::vector<NodePtr> nodes;
  std::unordered_map<const Node*, uint32_t> id;
  std::vector<uint32_t> row;  // nodes + 1 prefix sums of output counts
  explicit IndexedGraph(const std::vector<NodeEntry>& heads);
  uint32_t entry(const NodeEntry& e) const { return row[id.at(e.node.get())] + e.index; }
  uint32_t num_entries() const { return row.back(); }
};

// Shapes (and dtypes) of every entry of g. `known` gives variables' shapes by name; the
// variables' own __shape__/__dtype__ hints count too. Fails naming the node on a
// contradiction; unknowns remain -1 (check with Shape::known()).
std::vector<Shape> infer_shapes(const IndexedGraph& g, const std::map<std::string, Shape>& known);
std::vector<int> infer_types(const IndexedGraph& g, const std::map<std::string, int>& known);

// A shape as MXNet's text gives it, where 0 means unknown ("(64, 0)").
Shape shape_from_hint(const std::string& text, const std::string& variable);

}  // namespace graph
}  // namespace brass
