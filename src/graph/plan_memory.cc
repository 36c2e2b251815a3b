// Memory planning over an indexed graph.
#include "graph/plan_memory.h"

#include <algorithm>
#include <map>

namespace brass {
namespace graph {

MemoryPlan plan_memory(const IndexedGraph& g, const std::vector<NodePtr>& order, const std::vector<size_t>& bytes,
                       const std::vector<bool>& persistent, bool share, const std::vector<bool>* held,
                       const std::vector<int>* sum_into) {
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
  auto take = [&](size_t need) {
    if (share && !free_by_size.empty()) {
      auto it = free_by_size.lower_bound(need);
      if (it == free_by_size.end()) --it;  // the largest free buffer grows to fit
      int id = it->second;
      free_by_size.erase(it);
      p.sizes[size_t(id)] = std::max(p.sizes[size_t(id)], need);
      return id;
    }
    p.sizes.push_back(need);
    holders.push_back(0);
    return int(p.sizes.size()) - 1;
  };
  auto release = [&](uint32_t e) {
    int id = p.storage[e];
    // A buffer may hold values in place of one another: free it when the last is dead.
    if (id < 0 || --holders[size_t(id)] > 0 || !share) return;
    free_by_size.emplace(p.sizes[size_t(id)], id);
  };
  for (const NodePtr& n : order) {
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
          ++p.inplace;
          break;
        }
      }
      p.storage[e] = id >= 0 ? id : take(bytes[e]);
      ++holders[size_t(p.storage[e])];
    }
    for (const NodeEntry& in : n->inputs) {
      uint32_t e = g.entry(in);
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
