// The C API of symbols and executors.
#include <cstring>
#include <map>
#include <string>
#include <algorithm>
#include <unordered_map>
#include <vector>

#include "capi/api.h"
#include "graph/cached_op.h"
#include "graph/executor.h"
#include "graph/gradient.h"
#include "graph/infer.h"
#include "graph/symbol.h"

namespace brass {
namespace capi {

struct SymbolObj {
  graph::Symbol sym;
};

graph::Symbol& sym_of(brass_symbol_t h, const char* what = "symbol") {
  return static_cast<SymbolObj*>(HandleTable::get().lookup(uintptr_t(h), HandleKind::kSymbol, what))->sym;
}

brass_symbol_t new_symbol(graph::Symbol s) {
  auto* p = new SymbolObj{std::move(s)};
  return reinterpret_cast<brass_symbol_t>(HandleTable::get().insert(HandleKind::kSymbol, p, &delete_obj<SymbolObj>));
}

// A symbol ordered for repeated runs on arrays given per call.
graph::Executor& exe_of(brass_executor_t h) {
  return *static_cast<graph::Executor*>(HandleTable::get().lookup(uintptr_t(h), HandleKind::kExecutor, "executor"));
}

// MXNet's hidden keys, which set_attr/get_attr store as "__key__".
std::string attr_key(const char* key) {
  static const char* const hidden[] = {"ctx_group", "lr_mult", "wd_mult", "force_mirroring", "mirror_stage"};
  for (const char* h : hidden)
    if (std::strcmp(key, h) == 0) return std::string("__") + key + "__";
  return key;
}

graph::Attrs attrs_of(int32_t n, const char** keys, const char** vals, const char* what) {
  if (n < 0 || (n > 0 && (!keys || !vals))) fail(BRASS_ERR_INVALID_ARGUMENT, what, ": bad attribute list");
  graph::Attrs a;
  for (int32_t i = 0; i < n; ++i) {
    if (!keys[i] || !vals[i]) fail(BRASS_ERR_INVALID_ARGUMENT, what, ": attribute ", i, " is NULL");
    a.emplace_back(keys[i], vals[i]);
  }
  return a;
}

void check_out(const void* p, const char* what) {
  if (!p) fail(BRASS_ERR_INVALID_ARGUMENT, what, ": an output pointer is NULL");
}

// Per-thread storage behind returned string lists.
struct StringList {
  std::vector<std::string> strings;
  std::vector<const char*> ptrs;
  const char** set(std::vector<std::string> v) {
    strings = std::move(v);
    ptrs.clear();
    for (auto& s : strings) ptrs.push_back(s.c_str());
    return ptrs.data();
  }
};

const Node& single_node(const graph::Symbol& s, const char* what) {
  if (s.outputs.size() != 1)
    fail(BRASS_ERR_INVALID_ARGUMENT, what, ": the symbol has ", s.outputs.size(), " outputs, not one");
  return *s.outputs[0].node;
}

graph::Symbol deep_copy(const graph::Symbol& s) {
  std::unordered_map<const Node*, NodePtr> copies;
  for (const NodePtr& n : graph::topo_order(s.outputs)) {
    auto c = std::make_shared<Node>(*n);
    for (NodeEntry& e : c->inputs) e.node = copies.at(e.node.get());
    copies[n.get()] = c;
  }
  graph::Symbol r;
  for (const NodeEntry& e : s.outputs) r.outputs.push_back(NodeEntry{copies.at(e.node.get()), e.index});
  return r;
}

}  // namespace capi
}  // namespace brass

using namespace brass;        // NOLINT: this file is the boundary
using namespace brass::capi;  // NOLINT

extern "C" {

brass_status brass_symbol_variable(const char* name, int32_t num_attrs, const char** keys, const char** vals,
                                   brass_symbol_t* out) {
  API_BEGIN();
  check_out(out, "Variable");
  if (!name) fail(BRASS_ERR_INVALID_ARGUMENT, "Variable: name is NULL");
  graph::Attrs a = attrs_of(num_attrs, keys, vals, "Variable");
  for (auto& kv : a) kv.first = attr_key(kv.first.c_str());
  *out = new_symbol(graph::variable(name, std::move(a)));
  API_END();
}

brass_status brass_symbol_compose(brass_op_t op, const char* name, int32_t num_params, const char** keys,
                                  const char** vals, int32_t num_args, const brass_symbol_t* args,
                                  int32_t num_kwargs, const char** kw_names, const brass_symbol_t* kw_args,
                                  brass_symbol_t* out) {
  API_BEGIN();
  const Op* o = op_of(op);
  check_out(out, o->name.c_str());
  if (!name) fail(BRASS_ERR_INVALID_ARGUMENT, o->name, ": name is NULL");
  if (num_args < 0 || (num_args > 0 && !args) || num_kwargs < 0 || (num_kwargs > 0 && (!kw_names || !kw_args)))
    fail(BRASS_ERR_INVALID_ARGUMENT, o->name, ": bad input list");
  std::vector<graph::Symbol> a;
  for (int32_t i = 0; i < num_args; ++i) a.push_back(sym_of(args[i], o->name.c_str()));
  std::vector<std::pair<std::string, graph::Symbol>> kw;
  for (int32_t i = 0; i < num_kwargs; ++i) {
    if (!kw_names[i]) fail(BRASS_ERR_INVALID_ARGUMENT, o->name, ": input name ", i, " is NULL");
    kw.emplace_back(kw_names[i], sym_of(kw_args[i], o->name.c_str()));
  }
  graph::Attrs params = attrs_of(num_params, keys, vals, o->name.c_str());
  for (auto& kv : params) kv.first = attr_key(kv.first.c_str());
  *out = new_symbol(graph::compose(o, std::move(params), name, a, kw));
  API_END();
}

void brass_symbol_free(brass_symbol_t sym) {
  if (sym) HandleTable::get().release(uintptr_t(sym), HandleKind::kSymbol);
}

brass_status brass_symbol_substitute(brass_symbol_t sym, int32_t num, const char** names,
                                     const brass_symbol_t* inputs, brass_symbol_t* out) {
  API_BEGIN();
  check_out(out, "compose");
  if (num < 0 || (num > 0 && (!names || !inputs))) fail(BRASS_ERR_INVALID_ARGUMENT, "compose: bad input list");
  std::vector<std::pair<std::string, NodeEntry>> kv;
  for (int32_t i = 0; i < num; ++i) {
    if (!names[i]) fail(BRASS_ERR_INVALID_ARGUMENT, "compose: name ", i, " is NULL");
    const graph::Symbol& s = sym_of(inputs[i], "compose");
    if (s.outputs.size() != 1)
      fail(BRASS_ERR_INVALID_ARGUMENT, "compose: input '", names[i], "' has ", s.outputs.size(), " outputs, not one");
    kv.emplace_back(names[i], s.outputs[0]);
  }
  *out = new_symbol(graph::substitute(sym_of(sym), kv));
  API_END();
}

brass_status brass_symbol_copy(brass_symbol_t sym, brass_symbol_t* out) {
  API_BEGIN();
  check_out(out, "symbol_copy");
  *out = new_symbol(deep_copy(sym_of(sym)));
  API_END();
}

brass_status brass_symbol_group(int32_t num, const brass_symbol_t* syms, brass_symbol_t* out) {
  API_BEGIN();
  check_out(out, "Group");
  if (num <= 0 || !syms) fail(BRASS_ERR_INVALID_ARGUMENT, "Group: no symbols given");
  graph::Symbol g;
  for (int32_t i = 0; i < num; ++i)
    for (const NodeEntry& e : sym_of(syms[i], "Group").outputs) g.outputs.push_back(e);
  *out = new_symbol(std::move(g));
  API_END();
}

brass_status brass_symbol_num_outputs(brass_symbol_t sym, int32_t* out) {
  API_BEGIN();
  check_out(out, "symbol_num_outputs");
  *out = int32_t(sym_of(sym).outputs.size());
  API_END();
}

brass_status brass_symbol_get_output(brass_symbol_t sym, int32_t index, brass_symbol_t* out) {
  API_BEGIN();
  check_out(out, "symbol_get_output");
  const graph::Symbol& s = sym_of(sym);
  if (index < 0 || index >= int32_t(s.outputs.size()))
    fail(BRASS_ERR_INDEX, "symbol: output index ", index, " out of range for ", s.outputs.size(), " outputs");
  *out = new_symbol(graph::Symbol{{s.outputs[size_t(index)]}});
  API_END();
}

brass_status brass_symbol_related(brass_symbol_t sym, int32_t which, brass_symbol_t* out) {
  API_BEGIN();
  check_out(out, "symbol_related");
  const graph::Symbol& s = sym_of(sym);
  if (which == 0) *out = new_symbol(graph::internals(s));
  else if (which == 1) *out = new_symbol(graph::children(s));
  else fail(BRASS_ERR_INVALID_ARGUMENT, "symbol_related: which must be 0 or 1, got ", which);
  API_END();
}

brass_status brass_symbol_list(brass_symbol_t sym, int32_t which, int32_t* num, const char*** names) {
  API_BEGIN();
  check_out(num, "symbol_list");
  check_out(names, "symbol_list");
  const graph::Symbol& s = sym_of(sym);
  std::vector<std::string> v;
  if (which == 0) v = graph::list_arguments(s);
  else if (which == 1) v = graph::list_outputs(s);
  else if (which == 2) v = graph::list_auxiliary_states(s);
  else if (which == 3) {
    for (const NodePtr& n : graph::topo_order(s.outputs))
      if (n->is_variable()) v.push_back(n->name);
  } else {
    fail(BRASS_ERR_INVALID_ARGUMENT, "symbol_list: which must be 0 to 3, got ", which);
  }
  thread_local StringList store;
  *num = int32_t(v.size());
  *names = store.set(std::move(v));
  API_END();
}

brass_status brass_symbol_name(brass_symbol_t sym, const char** name, int32_t* found) {
  API_BEGIN();
  check_out(name, "symbol_name");
  check_out(found, "symbol_name");
  const graph::Symbol& s = sym_of(sym);
  *found = s.outputs.size() == 1;
  *name = *found ? s.outputs[0].node->name.c_str() : "";
  API_END();
}

brass_status brass_symbol_get_attr(brass_symbol_t sym, const char* key, const char** value, int32_t* found) {
  API_BEGIN();
  check_out(value, "symbol_get_attr");
  check_out(found, "symbol_get_attr");
  if (!key) fail(BRASS_ERR_INVALID_ARGUMENT, "symbol_get_attr: key is NULL");
  const std::string* v = graph::get_attr(single_node(sym_of(sym), "attr"), attr_key(key));
  *found = v != nullptr;
  *value = v ? v->c_str() : "";
  API_END();
}

brass_status brass_symbol_set_attr(brass_symbol_t sym, const char* key, const char* value) {
  API_BEGIN();
  if (!key || !value) fail(BRASS_ERR_INVALID_ARGUMENT, "symbol_set_attr: key or value is NULL");
  const Node& n = single_node(sym_of(sym), "_set_attr");
  graph::set_attr(const_cast<Node&>(n), attr_key(key), value);
  API_END();
}

brass_status brass_symbol_list_attr(brass_symbol_t sym, int32_t recursive, int32_t* num, const char*** kv) {
  API_BEGIN();
  check_out(num, "symbol_list_attr");
  check_out(kv, "symbol_list_attr");
  const graph::Symbol& s = sym_of(sym);
  std::vector<std::string> v;
  if (recursive) {
    for (const NodePtr& n : graph::topo_order(s.outputs))
      if (n->attrs)
        for (auto& a : n->attrs->dict) {
          v.push_back(n->name + "$" + a.first);
          v.push_back(a.second);
        }
  } else {
    const Node& n = single_node(s, "list_attr");
    if (n.attrs)
      for (auto& a : n.attrs->dict) {
        v.push_back(a.first);
        v.push_back(a.second);
      }
  }
  thread_local StringList store;
  *num = int32_t(v.size() / 2);
  *kv = store.set(std::move(v));
  API_END();
}

brass_status brass_symbol_to_json(brass_symbol_t sym, const char** json) {
  API_BEGIN();
  check_out(json, "tojson");
  thread_local std::string store;
  store = graph::to_json(sym_of(sym));
  *json = store.c_str();
  API_END();
}

brass_status brass_symbol_from_json(const char* json, brass_symbol_t* out) {
  API_BEGIN();
  check_out(out, "load_json");
  if (!json) fail(BRASS_ERR_INVALID_ARGUMENT, "load_json: text is NULL");
  *out = new_symbol(graph::from_json(json));
  API_END();
}

namespace {

// Entries of the outputs' graph grouped as (arguments, outputs, auxiliary states).
std::vector<std::vector<uint32_t>> groups_of(const graph::Symbol& s, const graph::IndexedGraph& g) {
  std::vector<std::vector<uint32_t>> groups(3);
  for (const NodePtr& n : graph::list_variables(s, false)) groups[0].push_back(g.entry({n, 0}));
  for (const NodeEntry& e : s.outputs) groups[1].push_back(g.entry(e));
  for (const NodePtr& n : graph::list_variables(s, true)) groups[2].push_back(g.entry({n, 0}));
  return groups;
}

}  // namespace

brass_status brass_symbol_infer_shape(brass_symbol_t sym, int32_t num, const char** names, const int32_t* ndims,
                                      const int64_t* dims, int32_t* complete, int32_t* counts,
                                      const int32_t** out_ndims, const int64_t** out_dims) {
  API_BEGIN();
  check_out(complete, "infer_shape");
  check_out(counts, "infer_shape");
  check_out(out_ndims, "infer_shape");
  check_out(out_dims, "infer_shape");
  if (num < 0 || (num > 0 && (!names || !ndims))) fail(BRASS_ERR_INVALID_ARGUMENT, "infer_shape: bad shape list");
  const graph::Symbol& s = sym_of(sym);
  std::map<std::string, Shape> known;
  int64_t at = 0;
  for (int32_t i = 0; i < num; ++i) {
    if (!names[i]) fail(BRASS_ERR_INVALID_ARGUMENT, "infer_shape: name ", i, " is NULL");
    if (ndims[i] < 0 || ndims[i] > kMaxNDim)
      fail(BRASS_ERR_SHAPE, "infer_shape: '", names[i], "' has ", ndims[i], " dimensions");
    if (ndims[i] > 0 && !dims) fail(BRASS_ERR_INVALID_ARGUMENT, "infer_shape: dims is NULL");
    Shape sh(ndims[i]);
    for (int k = 0; k < ndims[i]; ++k) {
      int64_t d = dims[at++];
      if (d < -1) fail(BRASS_ERR_SHAPE, "infer_shape: '", names[i], "' has a negative extent");
      sh[k] = d <= 0 ? -1 : d;  // MXNet: 0 means unknown
    }
    known[names[i]] = sh;
  }
  std::vector<std::string> inputs;
  for (const NodePtr& n : graph::topo_order(s.outputs))
    if (n->is_variable()) inputs.push_back(n->name);
  for (auto& kv : known)
    if (std::find(inputs.begin(), inputs.end(), kv.first) == inputs.end())
      fail(BRASS_ERR_NOT_FOUND, "infer_shape: the symbol has no argument or auxiliary state named '",
           kv.first, "'");
  graph::IndexedGraph g(s.outputs);
  std::vector<Shape> shapes = graph::infer_shapes(g, known);
  thread_local std::vector<int32_t> nd[3];
  thread_local std::vector<int64_t> ds[3];
  auto groups = groups_of(s, g);
  *complete = 1;
  for (int k = 0; k < 3; ++k) {
    nd[k].clear();
    ds[k].clear();
    for (uint32_t e : groups[size_t(k)]) {
      const Shape& sh = shapes[e];
      nd[k].push_back(sh.ndim());
      for (int d = 0; d < sh.ndim(); ++d) ds[k].push_back(sh[d]);
      if (!sh.known()) *complete = 0;
    }
    counts[k] = int32_t(nd[k].size());
    out_ndims[k] = nd[k].data();
    out_dims[k] = ds[k].data();
  }
  API_END();
}

brass_status brass_symbol_infer_type(brass_symbol_t sym, int32_t num, const char** names, const int32_t* types,
                                     int32_t* complete, int32_t* counts, const int32_t** out_types) {
  API_BEGIN();
  check_out(complete, "infer_type");
  check_out(counts, "infer_type");
  check_out(out_types, "infer_type");
  if (num < 0 || (num > 0 && (!names || !types))) fail(BRASS_ERR_INVALID_ARGUMENT, "infer_type: bad type list");
  const graph::Symbol& s = sym_of(sym);
  std::map<std::string, int> known;
  std::vector<std::string> inputs;
  for (const NodePtr& n : graph::topo_order(s.outputs))
    if (n->is_variable()) inputs.push_back(n->name);
  for (int32_t i = 0; i < num; ++i) {
    if (!names[i]) fail(BRASS_ERR_INVALID_ARGUMENT, "infer_type: name ", i, " is NULL");
    if (std::find(inputs.begin(), inputs.end(), names[i]) == inputs.end())
      fail(BRASS_ERR_NOT_FOUND, "infer_type: the symbol has no argument or auxiliary state named '", names[i], "'");
    known[names[i]] = types[i] < 0 ? -1 : int(dtype_from_code(types[i]));
  }
  graph::IndexedGraph g(s.outputs);
  std::vector<int> t = graph::infer_types(g, known);
  thread_local std::vector<int32_t> ts[3];
  auto groups = groups_of(s, g);
  *complete = 1;
  for (int k = 0; k < 3; ++k) {
    ts[k].clear();
    for (uint32_t e : groups[size_t(k)]) {
      ts[k].push_back(t[e]);
      if (t[e] < 0) *complete = 0;
    }
    counts[k] = int32_t(ts[k].size());
    out_types[k] = ts[k].data();
  }
  API_END();
}

brass_status brass_graph_create(brass_symbol_t sym, brass_graph_t* out) {
  API_BEGIN();
  check_out(out, "graph_create");
  auto* p = new graph::CachedOp(sym_of(sym, "graph_create"));
  *out = reinterpret_cast<brass_graph_t>(HandleTable::get().insert(HandleKind::kGraph, p, &delete_obj<graph::CachedOp>));
  API_END();
}

void brass_graph_free(brass_graph_t graph) {
  if (graph) HandleTable::get().release(uintptr_t(graph), HandleKind::kGraph);
}

brass_status brass_graph_run(brass_graph_t graph, int32_t num_inputs, const brass_ndarray_t* inputs,
                             int32_t* num_outputs, brass_ndarray_t* outputs) {
  API_BEGIN();
  check_out(num_outputs, "graph_run");
  auto* p = static_cast<graph::CachedOp*>(HandleTable::get().lookup(uintptr_t(graph), HandleKind::kGraph, "graph"));
  if (*num_outputs < int32_t(p->symbol().outputs.size()))
    fail(BRASS_ERR_INVALID_ARGUMENT, "graph_run: room for ", *num_outputs, " outputs, needs ", p->symbol().outputs.size());
  check_out(outputs, "graph_run");
  std::vector<NDArray> res = (*p)(arrays_of(num_inputs, inputs, "graph_run"));
  for (size_t i = 0; i < res.size(); ++i) outputs[i] = new_handle(std::move(res[i]));
  *num_outputs = int32_t(res.size());
  API_END();
}

brass_status brass_graph_num_executors(brass_graph_t graph, int32_t* out) {
  API_BEGIN();
  check_out(out, "graph_num_executors");
  *out = int32_t(static_cast<graph::CachedOp*>(HandleTable::get().lookup(uintptr_t(graph), HandleKind::kGraph, "graph"))
                     ->num_executors());
  API_END();
}

brass_status brass_executor_bind(brass_symbol_t sym, brass_device_type dev_type, int32_t dev_id, int32_t num_args,
                                 const brass_ndarray_t* args, const brass_ndarray_t* grads, const int32_t* reqs,
                                 int32_t num_aux, const brass_ndarray_t* aux, brass_executor_t* out) {
  API_BEGIN();
  check_out(out, "bind");
  const graph::Symbol& s = sym_of(sym, "bind");
  std::vector<NDArray> a = arrays_of(num_args, args, "bind"), x = arrays_of(num_aux, aux, "bind");
  std::vector<NDArray> g(static_cast<size_t>(num_args));
  std::vector<Req> r(size_t(num_args), Req::kNull);
  for (int32_t i = 0; i < num_args; ++i) {
    int32_t q = reqs ? reqs[i] : 0;
    if (q != 0 && q != 1 && q != 2 && q != 3)
      fail(BRASS_ERR_INVALID_ARGUMENT, "bind: grad_req ", q, " of argument ", i, " is not 0 (null), 1 (write) or 3 (add)");
    r[size_t(i)] = q == 2 ? Req::kWrite : Req(q);
    if (grads && grads[i]) g[size_t(i)] = arr(grads[i], "bind");
  }
  auto* e = new graph::Executor(s, Device::make(dev_type, dev_id), std::move(a), std::move(g), std::move(r), std::move(x));
  *out = reinterpret_cast<brass_executor_t>(HandleTable::get().insert(HandleKind::kExecutor, e, &delete_obj<graph::Executor>));
  API_END();
}

void brass_executor_free(brass_executor_t exe) {
  if (exe) HandleTable::get().release(uintptr_t(exe), HandleKind::kExecutor);
}

brass_status brass_executor_forward(brass_executor_t exe, int32_t is_train) {
  API_BEGIN();
  exe_of(exe).forward(is_train != 0);
  API_END();
}

brass_status brass_executor_backward(brass_executor_t exe, int32_t num, const brass_ndarray_t* head_grads) {
  API_BEGIN();
  graph::Executor& e = exe_of(exe);
  std::vector<NDArray> hg;
  if (num < 0 || (num > 0 && !head_grads)) fail(BRASS_ERR_INVALID_ARGUMENT, "backward: bad head gradient list");
  for (int32_t i = 0; i < num; ++i)
    hg.push_back(head_grads[i] ? arr(head_grads[i], "backward") : NDArray());
  e.backward(hg);
  API_END();
}

brass_status brass_executor_outputs(brass_executor_t exe, int32_t* num, brass_ndarray_t* out) {
  API_BEGIN();
  check_out(num, "executor_outputs");
  const auto& o = exe_of(exe).outputs();
  if (*num < int32_t(o.size()))
    fail(BRASS_ERR_INVALID_ARGUMENT, "executor_outputs: room for ", *num, ", needs ", o.size());
  if (!o.empty()) check_out(out, "executor_outputs");
  for (size_t i = 0; i < o.size(); ++i) out[i] = new_handle(o[i]);
  *num = int32_t(o.size());
  API_END();
}

brass_status brass_executor_memory(brass_executor_t exe, int64_t* naive_bytes, int64_t* planned_bytes,
                                   int32_t* inplace, int32_t* fused) {
  API_BEGIN();
  const graph::MemoryPlan& p = exe_of(exe).plan();
  if (fused) *fused = exe_of(exe).fused_groups();
  if (naive_bytes) *naive_bytes = int64_t(p.naive_bytes);
  if (planned_bytes) *planned_bytes = int64_t(p.planned_bytes);
  if (inplace) *inplace = p.inplace;
  API_END();
}

brass_status brass_executor_addto(brass_executor_t exe, int32_t* out) {
  API_BEGIN();
  check_out(out, "executor_addto");
  *out = exe_of(exe).plan().addto;
  API_END();
}

brass_status brass_executor_set_monitor(brass_executor_t exe, brass_monitor_fn fn, void* user) {
  API_BEGIN();
  graph::Executor& e = exe_of(exe);
  if (!fn) {
    e.set_monitor(nullptr);
  } else {
    e.set_monitor([fn, user](const std::string& name, const NDArray& v) { fn(name.c_str(), new_handle(v), user); });
  }
  API_END();
}

}  // extern "C"
