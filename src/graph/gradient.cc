// The gradient pass (reverse-mode differentiation over the graph).
#include "graph/gradient.h"

#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "op/grad.h"

namespace brass {
namespace graph {

std::vector<NodePtr> topo_order(const std::vector<NodeEntry>& heads, const std::function<bool(const Node&)>& stop) {
  // Iterative depth-first search: graphs may be deep (long recorded loops).
  std::vector<NodePtr> order;
  std::unordered_set<const Node*> done, on_path;
  std::vector<std::pair<NodePtr, size_t>> stack;
  for (const NodeEntry& h : heads) {
    if (!h.node || done.count(h.node.get()) || (stop && stop(*h.node))) continue;
    stack.emplace_back(h.node, 0);
    on_path.insert(h.node.get());
    while (!stack.empty()) {
      auto& [n, next] = stack.back();
      if (next < n->inputs.size()) {
        const NodePtr& c = n->inputs[next++].node;
        if (!c || done.count(c.get()) || (stop && stop(*c))) continue;
        if (!on_path.insert(c.get()).second)
          fail(BRASS_ERR_INVALID_ARGUMENT, "graph: cycle through node '", c->name, "'");
        stack.emplace_back(c, 0);
        continue;
      }
      on_path.erase(n.get());
      done.insert(n.get());
      order.push_back(n);
      stack.pop_back();
    }
  }
  return order;
}

namespace {

struct EntryKey {
  const Node* node;
  uint32_t index;
  bool operator==(const EntryKey& o) const { return node == o.node && index == o.index; }
};
struct EntryHash {
  size_t operator()(const EntryKey& k) const {
    return std::hash<const void*>()(k.node) * 31 + k.index;
  }
};

// The sum of the gradient entries that reached one value (empty when none did).
NodeEntry sum_of(std::vector<NodeEntry>& parts) {
  if (parts.empty()) return NodeEntry();
  if (parts.size() == 1) return parts[0];
  return grad::apply("add_n", parts, {{"num_args", std::to_string(parts.size())}});
}

}  // namespace

std::vector<NodeEntry> gradient(const std::vector<NodeEntry>& heads,
                                const std::vector<NodeEntry>& head_grads,
                                const std::vector<NodeEntry>& xs) {
  if (heads.size() != head_grads.size())
    fail(BRASS_ERR_INVALID_ARGUMENT, "gradient: ", heads.size(), " heads but ", head_grads.size(),
         " head gradients");
  std::vector<NodePtr> order = topo_order(heads);
  // Only nodes on a path to some x need a gradient.
  std::unordered_set<const Node*> wanted;
  for (const NodeEntry& x : xs) wanted.insert(x.node.get());
  std::unordered_set<const Node*> leads;  // nodes from which an x is reachable
  for (const NodePtr& n : order) {
    bool l = wanted.count(n.get()) > 0;
    for (const NodeEntry& e : n->inputs) l = l || leads.count(e.node.get()) > 0;
    if (l) leads.insert(n.get());
  }
  std::unordered_map<EntryKey, std::vector<NodeEntry>, EntryHash> grads;
  grads.reserve(order.size());
  for (size_t i = 0; i < heads.size(); ++i)
    if (!head_grads[i].empty()) grads[{heads[i].node.get(), heads[i].index}].push_back(head_grads[i]);

  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    const NodePtr& n = *it;
    if (n->is_variable() || !leads.count(n.get())) continue;
    int nout = n->op->outputs_for(*n->attrs);
    std::vector<NodeEntry> ograds(nout);
    bool any = false;
    for (int o = 0; o < nout; ++o) {
      auto g = grads.find({n.get(), uint32_t(o)});
      if (g != grads.end()) ograds[o] = sum_of(g->second);
      any = any || !ograds[o].empty();
    }
    if (!any) continue;  // nothing flows back through this node
    if (!n->op->gradient)
      fail(BRASS_ERR_UNSUPPORTED, n->op->name, ": this operator has no gradient",
           n->name.empty() ? "" : " (node '", n->name, n->name.empty() ? "" : "')");
    for (int o = 0; o < nout; ++o)
      if (ograds[o].empty()) ograds[o] = grad::apply("zeros_like", {grad::out(n, uint32_t(o))});
    std::vector<NodeEntry> igrads = n->op->gradient(n, ograds);
    if (igrads.size() != n->inputs.size())
      fail(BRASS_ERR_INTERNAL, n->op->name, ": gradient gave ", igrads.size(), " entries for ",
           n->inputs.size(), " inputs");
    for (size_t i = 0; i < igrads.size(); ++i)
      if (!igrads[i].empty() && leads.count(n->inputs[i].node.get()))
        grads[{n->inputs[i].node.get(), n->inputs[i].index}].push_back(igrads[i]);
  }

  std::vector<NodeEntry> out;
  for (const NodeEntry& x : xs) {
    auto g = grads.find({x.node.get(), x.index});
    NodeEntry e = g == grads.end() ? NodeEntry() : sum_of(g->second);
    out.push_back(e.empty() ? grad::apply("zeros_like", {x}) : e);
  }
  return out;
}

}  // namespace graph
}  // namespace brass
