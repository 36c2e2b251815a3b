// The gradient pass (reverse-mode differentiation over the graph).
#include "graph/gradient.h"

#include <utility>

#include "base/build_options.h"
#include "base/ptr_map.h"
#include "op/grad.h"

namespace brass {
namespace graph {

std::vector<NodePtr> topo_order(const std::vector<NodeEntry>& heads, const std::function<bool(const Node&)>& stop) {
  // Iterative depth-first search: graphs may be deep (long recorded loops).
  std::vector<NodePtr> order;
  PtrMap<uint8_t> state(64);  // 1: on the current path, 2: done
  std::vector<std::pair<const Node*, size_t>> stack;
  for (const NodeEntry& h : heads) {
    if (!h.node || state.contains(h.node.get()) || (stop && stop(*h.node))) continue;
    stack.emplace_back(h.node.get(), 0);
    state[h.node.get()] = 1;
    while (!stack.empty()) {
      auto& [n, next] = stack.back();
      if (next < n->inputs.size()) {
        const NodePtr& c = n->inputs[next++].node;
        if (!c || (stop && stop(*c))) continue;
        uint8_t& st = state[c.get()];
        if (st == 2) continue;
        if (st == 1) fail(BRASS_ERR_INVALID_ARGUMENT, "graph: cycle through node '", c->name, "'");
        st = 1;
        stack.emplace_back(c.get(), 0);
        continue;
      }
      state[n] = 2;
      stack.pop_back();
      // The shared pointer comes from the parent's input (or the head).
      order.push_back(stack.empty() ? h.node : stack.back().first->inputs[stack.back().second - 1].node);
    }
  }
  return order;
}

#if BRASS_TRAINING  // the predictor builds no gradients
namespace {

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
  // Only nodes on a path to some x need a gradient: leads[n] = 1 + the first of n's slots in
  // `parts` (one per output); an x that no head depends on keeps kWanted (no slot).
  constexpr uint32_t kWanted = ~uint32_t(0);
  PtrMap<uint32_t> leads(order.size());
  for (const NodeEntry& x : xs) leads[x.node.get()] = kWanted;
  uint32_t slots = 0;
  for (const NodePtr& n : order) {
    bool l = leads.contains(n.get());
    for (const NodeEntry& e : n->inputs) l = l || leads.contains(e.node.get());
    if (!l) continue;
    leads[n.get()] = slots + 1;
    slots += n->is_variable() ? 1 : uint32_t(n->op->outputs_for(*n->attrs));
  }
  // The gradient entries that reached each output (most get one: kept without a vector).
  struct Parts {
    NodeEntry first;
    std::vector<NodeEntry> more;
    void add(const NodeEntry& e) {
      if (first.empty()) first = e;
      else more.push_back(e);
    }
  };
  std::vector<Parts> parts(slots);
  auto parts_of = [&](const NodeEntry& e) -> Parts* {
    const uint32_t* l = leads.find(e.node.get());
    return l && *l != kWanted ? &parts[*l - 1 + e.index] : nullptr;
  };
  auto sum = [](Parts* p) -> NodeEntry {
    if (!p || p->more.empty()) return p ? p->first : NodeEntry();
    std::vector<NodeEntry> all{p->first};
    all.insert(all.end(), p->more.begin(), p->more.end());
    return sum_of(all);
  };
  for (size_t i = 0; i < heads.size(); ++i)
    if (!head_grads[i].empty())
      if (Parts* p = parts_of(heads[i])) p->add(head_grads[i]);

  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    const NodePtr& n = *it;
    const uint32_t* l = leads.find(n.get());
    if (n->is_variable() || !l || *l == kWanted) continue;
    int nout = n->op->outputs_for(*n->attrs);
    std::vector<NodeEntry> ograds(nout);
    bool any = false;
    for (int o = 0; o < nout; ++o) {
      ograds[o] = sum(&parts[*l - 1 + uint32_t(o)]);
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
      if (!igrads[i].empty())
        if (Parts* p = parts_of(n->inputs[i])) p->add(igrads[i]);
  }

  std::vector<NodeEntry> out;
  for (const NodeEntry& x : xs) {
    NodeEntry e = sum(parts_of(x));
    out.push_back(e.empty() ? grad::apply("zeros_like", {x}) : e);
  }
  return out;
}

#endif  // BRASS_TRAINING

}  // namespace graph
}  // namespace brass
