// Memory planning over an indexed graph.
#include "graph/plan_memory.h"

#include <algorithm>
#include <map>

namespace brass {
namespace graph {

MemoryPlan plan_memory(const IndexedGraph& g, const std::vector<NodePtr>& order, const std::vector<size_t>& bytes,
                       const std::vector<bool>& persistent, bool share, const std::vector<bool>* held,
                       const std::vector<int>* sum_into, bool concurrent) {
  MemoryPlan p;
  uint32_t ne = g.num_entries();
  p.storage.assign(ne, -1);
  // Reads left of each value.
  std::vector<int> reads(ne, 0);
  for (const NodePtr& n : order)
    for (const NodeEntry& e : n->inputs) ++reads[g.entry(e)];
  if (held)
    for (uint32_t e = 0; e < ne; ++e) reads[e] += (*held)[e] ? 1 : 0;  // a read that never comes
  std::multimap<size_t, int> free_by_size;  // size -> buffer
  std::vector<int> holders;                 // per buffer: live values in it
  // concurrent: the engine runs a node that writes a buffer after every earlier use of it, so
  // a node takes a free buffer only if every node that used the buffer's values is one of its
  // ancestors (a dependency it has anyway): reuse never chains nodes that could run side by
  // side. Ancestors as bitsets over positions in `order` (not for huge graphs).
  size_t n_ops = order.size(), words = (n_ops + 63) / 64;
  std::vector<uint64_t> anc;
  if (share && concurrent && n_ops <= 16384) {
    std::vector<int> at(g.nodes.size(), -1);
    for (size_t i = 0; i < n_ops; ++i) at[g.id.at(order[i].get())] = int(i);
    anc.assign(n_ops * words, 0);
    for (size_t i = 0; i < n_ops; ++i)
      for (const NodeEntry& in : order[i]->inputs) {
        int j = at[g.id.at(in.node.get())];
        if (j < 0) continue;
        for (size_t w = 0; w < words; ++w) anc[i * words + w] |= anc[size_t(j) * words + w];
        anc[i * words + size_t(j) / 64] |= uint64_t(1) << (size_t(j) % 64);
      }
  }
  std::vector<std::vector<uint32_t>> users;  // per buffer: positions of the nodes using its values
  size_t cur = 0;                            // position of the node being planned
  auto usable = [&](int id) {
    if (anc.empty()) return true;
    for (uint32_t u : users[size_t(id)])
      if (!(anc[cur * words + u / 64] >> (u % 64) & 1)) return false;
    return true;
  };
  auto take = [&](size_t need) {
    if (share && !free_by_size.empty()) {
      // The smallest (usable) free buffer that fits, else the largest one grows to fit.
      auto it = free_by_size.lower_bound(need);
      auto found = free_by_size.end();
      for (auto f = it; f != free_by_size.end() && found == free_by_size.end(); ++f)
        if (usable(f->second)) found = f;
      for (auto f = it; found == free_by_size.end() && f != free_by_size.begin();)
        if (usable((--f)->second)) found = f;
      if (found != free_by_size.end()) {
        int id = found->second;
        free_by_size.erase(found);
        p.sizes[size_t(id)] = std::max(p.sizes[size_t(id)], need);
        if (!anc.empty()) users[size_t(id)].assign(1, uint32_t(cur));
        return id;
      }
    }
    p.sizes.push_back(need);
    holders.push_back(0);
    users.emplace_back(1, uint32_t(cur));
    return int(p.sizes.size()) - 1;
  };
  auto use = [&](int id) {
    if (!anc.empty()) users[size_t(id)].push_back(uint32_t(cur));
  };
  auto release = [&](uint32_t e) {
    int id = p.storage[e];
    // A buffer may hold values in place of one another: free it when the last is dead.
    if (id < 0 || --holders[size_t(id)] > 0 || !share) return;
    free_by_size.emplace(p.sizes[size_t(id)], id);
  };
  for (; cur < n_ops; ++cur) {
    const NodePtr& n = order[cur];
    uint32_t nid = g.id.at(n.get()), first = g.row[nid], nout = g.row[nid + 1] - first;
    for (uint32_t o = 0; o < nout; ++o) {
      uint32_t e = first + o;
      int root = sum_into ? (*sum_into)[e] : -1;
      if (root >= 0) {  // a part of a sum: in the sum's buffer
        p.naive_bytes += bytes[e];
        ++p.addto;
        if (persistent[uint32_t(root)]) continue;
        if (p.storage[uint32_t(root)] < 0) {
          p.storage[uint32_t(root)] = take(bytes[uint32_t(root)]);
          ++holders[size_t(p.storage[uint32_t(root)])];
        }
        p.storage[e] = p.storage[uint32_t(root)];
        ++holders[size_t(p.storage[e])];
        use(p.storage[e]);
        continue;
      }
      if (persistent[e] || bytes[e] == 0) continue;
      p.naive_bytes += bytes[e];
      if (p.storage[e] >= 0) continue;  // a sum: its buffer came with its first part
      int id = -1;
      if (share) {
        for (auto& io : n->op->inplace) {
          if (io.second != int(o) || io.first >= int(n->inputs.size())) continue;
          uint32_t in = g.entry(n->inputs[size_t(io.first)]);
          if (persistent[in] || p.storage[in] < 0 || reads[in] != 1 || bytes[in] != bytes[e]) continue;
          bool taken = false;  // one output per input buffer
          for (uint32_t k = first; k < e; ++k) taken = taken || p.storage[k] == p.storage[in];
          if (taken) continue;
          id = p.storage[in];
          use(id);
          ++p.inplace;
          break;
        }
      }
      p.storage[e] = id >= 0 ? id : take(bytes[e]);
      ++holders[size_t(p.storage[e])];
    }
    for (const NodeEntry& in : n->inputs) {
      uint32_t e = g.entry(in);
      if (p.storage[e] >= 0) use(p.storage[e]);
      if (--reads[e] == 0 && !persistent[e]) release(e);
    }
    for (uint32_t o = 0; o < nout; ++o)  // values nobody reads
      if (reads[first + o] == 0 && !persistent[first + o]) release(first + o);
  }
  for (size_t s : p.sizes) p.planned_bytes += s;
  return p;
}

}  // namespace graph
}  // namespace brass
