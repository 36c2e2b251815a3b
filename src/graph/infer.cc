// Shape and dtype inference over graphs.
#include "graph/infer.h"

#include "base/params.h"
#include "graph/gradient.h"

namespace brass {
namespace graph {

IndexedGraph::IndexedGraph(const std::vector<NodeEntry>& heads) : nodes(topo_order(heads)) {
  row.push_back(0);
  for (uint32_t i = 0; i < nodes.size(); ++i) {
    const Node& n = *nodes[i];
    id[&n] = i;
    row.push_back(row.back() + uint32_t(n.is_variable() ? 1 : n.op->outputs_for(*n.attrs)));
  }
}

Shape shape_from_hint(const std::string& text, const std::string& variable) {
  Tuple t;
  try {
    t = parse::to_tuple(text);
  } catch (const Error& e) {
    fail(BRASS_ERR_INVALID_ARGUMENT, "variable '", variable, "': bad __shape__ '", text, "': ", e.what());
  }
  if (int(t.size()) > kMaxNDim)
    fail(BRASS_ERR_SHAPE, "variable '", variable, "': __shape__ ", text, " has more than ", kMaxNDim, " dimensions");
  Shape s(int(t.size()));
  for (size_t i = 0; i < t.size(); ++i) {
    if (t[i] < 0) fail(BRASS_ERR_SHAPE, "variable '", variable, "': negative extent in __shape__ ", text);
    s[int(i)] = t[i] == 0 ? -1 : t[i];
  }
  return s;
}

namespace {

bool same(const Shape& a, const Shape& b) { return a == b; }
bool same(int a, int b) { return a == b; }
bool known(const Shape& s) { return s.known(); }
bool known(int t) { return t >= 0; }

template <class T>
void merge(T& dst, const T& src, const Node& n, const std::string& what);
template <>
void merge(Shape& dst, const Shape& src, const Node& n, const std::string& what) {
  try {
    infer::assign_shape(dst, src, n.name.c_str(), what.c_str());
  } catch (const Error& e) {
    fail(BRASS_ERR_SHAPE, "infer_shape: ", e.what());
  }
}
template <>
void merge(int& dst, const int& src, const Node& n, const std::string& what) {
  try {
    infer::assign_type(dst, src, n.name.c_str(), what.c_str());
  } catch (const Error& e) {
    fail(BRASS_ERR_DTYPE, "infer_type: ", e.what());
  }
}

// The fixed point of the ops' inference functions, forwards then backwards, repeated.
template <class T, class Fn>
void propagate(const IndexedGraph& g, std::vector<T>& v, const char* pass, bool Op::*partial, Fn call) {
  std::vector<T> in, out;
  for (size_t round = 0; round < g.nodes.size() + 2; ++round) {
    bool changed = false;
    for (int dir = 0; dir < 2; ++dir) {
      for (size_t k = 0; k < g.nodes.size(); ++k) {
        const Node& n = *g.nodes[dir == 0 ? k : g.nodes.size() - 1 - k];
        if (n.is_variable()) continue;
        in.clear();
        bool all_in = true;
        for (const NodeEntry& e : n.inputs) {
          in.push_back(v[g.entry(e)]);
          all_in = all_in && known(in.back());
        }
        if (!all_in && !(n.op->*partial)) continue;
        uint32_t first = g.row[g.id.at(&n)], nout = g.row[g.id.at(&n) + 1] - first;
        out.assign(v.begin() + first, v.begin() + first + nout);
        try {
          call(n, in, out);
        } catch (const Error& e) {
          fail(e.code(), pass, ": node '", n.name, "' (", n.op->name, "): ", e.what());
        }
        for (size_t i = 0; i < n.inputs.size(); ++i) {
          T& dst = v[g.entry(n.inputs[i])];
          if (same(dst, in[i])) continue;
          merge(dst, in[i], n, "input " + std::to_string(i) + " of '" + n.name + "'");
          changed = true;
        }
        for (uint32_t o = 0; o < nout; ++o) {
          if (same(v[first + o], out[o])) continue;
          merge(v[first + o], out[o], n, "output " + std::to_string(o) + " of '" + n.name + "'");
          changed = true;
        }
      }
    }
    if (!changed) return;
  }
}

}  // namespace

std::vector<Shape> infer_shapes(const IndexedGraph& g, const std::map<std::string, Shape>& given) {
  std::vector<Shape> v(g.num_entries());
  for (const NodePtr& n : g.nodes) {
    if (!n->is_variable()) continue;
    Shape& s = v[g.entry({n, 0})];
    auto it = given.find(n->name);  // a given shape wins over the variable's hint (as MXNet)
    if (it != given.end()) s = it->second;
    else if (const std::string* h = get_attr(*n, "__shape__")) s = shape_from_hint(*h, n->name);
  }
  propagate(g, v, "infer_shape", &Op::partial_shape, [](const Node& n, std::vector<Shape>& in, std::vector<Shape>& out) {
    n.op->infer_shape(*n.attrs, in, out);
  });
  return v;
}

std::vector<int> infer_types(const IndexedGraph& g, const std::map<std::string, int>& given) {
  std::vector<int> v(g.num_entries(), -1);
  for (const NodePtr& n : g.nodes) {
    if (!n->is_variable()) continue;
    int& t = v[g.entry({n, 0})];
    auto it = given.find(n->name);  // a given dtype wins over the variable's hint
    if (it != given.end()) {
      t = it->second;
    } else if (const std::string* h = get_attr(*n, "__dtype__")) {
      try {
        t = int(dtype_from_code(int32_t(parse::to_int(*h))));
      } catch (const Error&) {
        t = int(dtype_from_name(*h));
      }
    }
  }
  propagate(g, v, "infer_type", &Op::partial_type, [](const Node& n, std::vector<int>& in, std::vector<int>& out) {
    n.op->infer_type(*n.attrs, in, out);
  });
  return v;
}

}  // namespace graph
}  // namespace brass
