// Symbols: composition, listing, attributes and MXNet's JSON format.
#include "graph/symbol.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "base/json.h"
#include "graph/gradient.h"

namespace brass {
namespace graph {

namespace {

std::shared_ptr<NodeAttrs> variable_attrs(Attrs dict) {
  auto a = std::make_shared<NodeAttrs>();
  a->dict = std::move(dict);
  return a;
}

NodePtr new_variable(const std::string& name, Attrs attrs) {
  auto n = std::make_shared<Node>();
  n->name = name;
  n->attrs = variable_attrs(std::move(attrs));
  return n;
}

// Variables that some op mutates (auxiliary states).
std::unordered_set<const Node*> aux_set(const std::vector<NodePtr>& order) {
  std::unordered_set<const Node*> aux;
  for (const NodePtr& n : order) {
    if (n->is_variable()) continue;
    for (int m : n->op->mutated_inputs(*n->attrs))
      if (m < int(n->inputs.size()) && n->inputs[m].node->is_variable()) aux.insert(n->inputs[m].node.get());
  }
  return aux;
}

int visible_outputs(const Node& n) {
  return n.is_variable() ? 1 : n.op->visible_outputs_for(*n.attrs);
}

std::string entry_name(const NodeEntry& e) {
  const Node& n = *e.node;
  if (n.is_variable()) return n.name;
  return n.name + "_" + output_names(n.op, *n.attrs).at(e.index);
}

}  // namespace

Symbol variable(const std::string& name, Attrs attrs) {
  if (name.empty()) fail(BRASS_ERR_INVALID_ARGUMENT, "Variable: the name must not be empty");
  return Symbol{{NodeEntry{new_variable(name, std::move(attrs)), 0}}};
}

std::vector<std::string> input_names(const Op* op, const NodeAttrs& attrs) {
  if (op->input_names_fn) return op->input_names_fn(attrs);
  size_t n = size_t(op->inputs_for(attrs));
  if (op->input_names.size() >= n)  // FullyConnected with no_bias: the first two
    return std::vector<std::string>(op->input_names.begin(), op->input_names.begin() + long(n));
  if (n == 1) return {"data"};
  std::vector<std::string> names;
  for (size_t i = 0; i < n; ++i) names.push_back("arg" + std::to_string(i));
  return names;
}

std::vector<std::string> output_names(const Op* op, const NodeAttrs& attrs) {
  int n = op->visible_outputs_for(attrs);
  if (int(op->output_names.size()) >= n)
    return std::vector<std::string>(op->output_names.begin(), op->output_names.begin() + n);
  if (n == 1) return {"output"};
  std::vector<std::string> names;
  for (int i = 0; i < n; ++i) names.push_back("output" + std::to_string(i));
  return names;
}

Symbol compose(const Op* op, Attrs params, const std::string& name, const std::vector<Symbol>& args,
               const std::vector<std::pair<std::string, Symbol>>& kwargs) {
  const char* opn = op->name.c_str();
  if (name.empty()) fail(BRASS_ERR_INVALID_ARGUMENT, opn, ": a symbol needs a name");
  std::shared_ptr<NodeAttrs> attrs;
  try {
    attrs = make_attrs(op, std::move(params));
  } catch (const Error& e) {
    fail(e.code(), e.what(), " (symbol '", name, "')");
  }
  std::vector<std::string> names = input_names(op, *attrs);
  size_t n = names.size();
  if (args.size() > n)
    fail(BRASS_ERR_INVALID_ARGUMENT, opn, " '", name, "': ", args.size(), " inputs given, the op takes ", n);
  std::vector<NodeEntry> inputs(n);
  auto one_output = [&](const Symbol& s, const std::string& what) {
    if (s.outputs.size() != 1)
      fail(BRASS_ERR_INVALID_ARGUMENT, opn, " '", name, "': input ", what, " has ", s.outputs.size(),
           " outputs; an input must be a symbol with one output (index it: sym[i])");
    return s.outputs[0];
  };
  for (size_t i = 0; i < args.size(); ++i) inputs[i] = one_output(args[i], names[i]);
  for (const auto& kv : kwargs) {
    auto it = std::find(names.begin(), names.end(), kv.first);
    if (it == names.end()) {
      std::string all;
      for (auto& s : names) all += (all.empty() ? "" : ", ") + s;
      fail(BRASS_ERR_INVALID_ARGUMENT, opn, " '", name, "': no input named '", kv.first, "' (inputs: ", all, ")");
    }
    size_t i = size_t(it - names.begin());
    if (!inputs[i].empty())
      fail(BRASS_ERR_INVALID_ARGUMENT, opn, " '", name, "': input '", kv.first, "' given twice");
    inputs[i] = one_output(kv.second, kv.first);
  }
  auto node = std::make_shared<Node>();
  node->op = op;
  node->attrs = attrs;
  node->name = name;
  for (size_t i = 0; i < n; ++i) {
    if (inputs[i].empty()) {
      if (op->num_inputs < 0 && op->input_names.empty())
        fail(BRASS_ERR_INVALID_ARGUMENT, opn, " '", name, "': ", n, " inputs expected, ", args.size(), " given");
      Attrs va;  // MXNet: created inputs get the op's hidden attributes (__ctx_group__, __lr_mult__)
      for (auto& kv : attrs->dict)
        if (is_hidden_attr(kv.first)) va.push_back(kv);
      for (auto& init : op->input_init)
        if (init.first == int(i)) va.emplace_back("__init__", init.second);
      inputs[i] = NodeEntry{new_variable(name + "_" + names[i], std::move(va)), 0};
    }
  }
  node->inputs = std::move(inputs);
  Symbol s;
  int nv = op->visible_outputs_for(*attrs);
  for (int i = 0; i < nv; ++i) s.outputs.push_back(NodeEntry{node, uint32_t(i)});
  return s;
}

Symbol substitute(const Symbol& s, const std::vector<std::pair<std::string, NodeEntry>>& inputs) {
  std::vector<NodePtr> order = topo_order(s.outputs);
  std::unordered_map<std::string, NodeEntry> by_name;
  for (auto& kv : inputs) {
    bool found = false;
    for (const NodePtr& n : order) found = found || (n->is_variable() && n->name == kv.first);
    if (!found) fail(BRASS_ERR_NOT_FOUND, "compose: the symbol has no input named '", kv.first, "'");
    by_name[kv.first] = kv.second;
  }
  std::unordered_map<const Node*, NodeEntry> map;  // old node -> its replacement (output 0)
  std::unordered_map<const Node*, NodePtr> copies;
  for (const NodePtr& n : order) {
    if (n->is_variable()) {
      auto it = by_name.find(n->name);
      if (it != by_name.end()) map[n.get()] = it->second;
      continue;
    }
    auto c = std::make_shared<Node>(*n);
    for (NodeEntry& e : c->inputs) {
      auto m = map.find(e.node.get());
      if (m != map.end()) e = m->second;
      else if (copies.count(e.node.get())) e.node = copies.at(e.node.get());
    }
    copies[n.get()] = c;
  }
  Symbol r;
  for (const NodeEntry& e : s.outputs) {
    auto m = map.find(e.node.get());
    if (m != map.end()) r.outputs.push_back(m->second);
    else if (copies.count(e.node.get())) r.outputs.push_back(NodeEntry{copies.at(e.node.get()), e.index});
    else r.outputs.push_back(e);
  }
  return r;
}

std::vector<NodePtr> list_variables(const Symbol& s, bool aux) {
  std::vector<NodePtr> order = topo_order(s.outputs);
  auto auxs = aux_set(order);
  std::vector<NodePtr> out;
  for (const NodePtr& n : order)
    if (n->is_variable() && (auxs.count(n.get()) > 0) == aux) out.push_back(n);
  return out;
}

static std::vector<std::string> names_of(const std::vector<NodePtr>& nodes) {
  std::vector<std::string> out;
  for (auto& n : nodes) out.push_back(n->name);
  return out;
}

std::vector<std::string> list_arguments(const Symbol& s) { return names_of(list_variables(s, false)); }
std::vector<std::string> list_auxiliary_states(const Symbol& s) { return names_of(list_variables(s, true)); }

std::vector<std::string> list_outputs(const Symbol& s) {
  std::vector<std::string> out;
  for (const NodeEntry& e : s.outputs) out.push_back(entry_name(e));
  return out;
}

Symbol internals(const Symbol& s) {
  Symbol r;
  for (const NodePtr& n : topo_order(s.outputs)) {
    int nv = visible_outputs(*n);
    for (int i = 0; i < nv; ++i) r.outputs.push_back(NodeEntry{n, uint32_t(i)});
  }
  return r;
}

Symbol children(const Symbol& s) {
  Symbol r;
  for (const NodeEntry& e : s.outputs)
    for (const NodeEntry& i : e.node->inputs) r.outputs.push_back(i);
  return r;
}

const std::string* get_attr(const Node& n, const std::string& key) {
  if (!n.attrs) return nullptr;
  for (auto& kv : n.attrs->dict)
    if (kv.first == key) return &kv.second;
  return nullptr;
}

void set_attr(Node& n, const std::string& key, const std::string& value) {
  Attrs dict = n.attrs ? n.attrs->dict : Attrs();
  bool found = false;
  for (auto& kv : dict)
    if (kv.first == key) { kv.second = value; found = true; }
  if (!found) dict.emplace_back(key, value);
  if (n.is_variable()) {
    n.attrs = variable_attrs(std::move(dict));
  } else {
    if (!is_hidden_attr(key))
      fail(BRASS_ERR_INVALID_ARGUMENT, n.op->name, " '", n.name, "': attribute '", key,
           "' is not hidden (__name__); operator parameters are fixed when a symbol is made");
    n.attrs = make_attrs(n.op, std::move(dict));
  }
}

// ---- JSON ------------------------------------------------------------------------------------
namespace {

constexpr int kWrittenVersion = 10901;  // files load in MXNet 1.x as its own 1.9.1 files

std::string attrs_json(const Attrs& dict) {
  Attrs sorted = dict;
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string s = "{";
  for (size_t i = 0; i < sorted.size(); ++i)
    s += (i ? ", " : "") + json::quote(sorted[i].first) + ": " + json::quote(sorted[i].second);
  return s + "}";
}

}  // namespace

std::string to_json(const Symbol& s) {
  std::vector<NodePtr> order = topo_order(s.outputs);
  std::unordered_map<const Node*, size_t> id;
  for (size_t i = 0; i < order.size(); ++i) id[order[i].get()] = i;
  std::ostringstream os;
  os << "{\n  \"nodes\": [";
  std::vector<size_t> args;
  std::vector<int64_t> row_ptr{0};
  for (size_t i = 0; i < order.size(); ++i) {
    const Node& n = *order[i];
    os << (i ? "," : "") << "\n    {\n      \"op\": " << json::quote(n.is_variable() ? "null" : n.op->name)
       << ",\n      \"name\": " << json::quote(n.name) << ",\n";
    if (n.attrs && !n.attrs->dict.empty()) os << "      \"attrs\": " << attrs_json(n.attrs->dict) << ",\n";
    os << "      \"inputs\": [";
    std::vector<int> mut = n.is_variable() ? std::vector<int>() : n.op->mutated_inputs(*n.attrs);
    for (size_t k = 0; k < n.inputs.size(); ++k) {
      const NodeEntry& e = n.inputs[k];
      bool mutated = !n.is_variable() && e.node->is_variable() &&
                     std::find(mut.begin(), mut.end(), int(k)) != mut.end();
      os << (k ? ", " : "") << "[" << id.at(e.node.get()) << ", " << e.index << ", " << (mutated ? 1 : 0) << "]";
    }
    os << "]\n    }";
    if (n.is_variable()) args.push_back(i);
    row_ptr.push_back(row_ptr.back() + (n.is_variable() ? 1 : n.op->outputs_for(*n.attrs)));
  }
  os << "\n  ],\n  \"arg_nodes\": [";
  for (size_t i = 0; i < args.size(); ++i) os << (i ? ", " : "") << args[i];
  os << "],\n  \"node_row_ptr\": [";
  for (size_t i = 0; i < row_ptr.size(); ++i) os << (i ? ", " : "") << row_ptr[i];
  os << "],\n  \"heads\": [";
  for (size_t i = 0; i < s.outputs.size(); ++i)
    os << (i ? ", " : "") << "[" << id.at(s.outputs[i].node.get()) << ", " << s.outputs[i].index << ", 0]";
  os << "],\n  \"attrs\": {\"mxnet_version\": [\"int\", " << kWrittenVersion << "]}\n}";
  return os.str();
}

namespace {

const char* kWhat = "symbol JSON";

// Keys that MXNet's legacy files carry bare and 1.x hides as __key__.
const char* const kLegacyHidden[] = {"ctx_group", "lr_mult", "wd_mult", "force_mirroring", "mirror_stage"};

bool is_legacy_hidden(const std::string& k) {
  for (const char* h : kLegacyHidden)
    if (k == h) return true;
  return false;
}

const json::Value& member(const json::Value& obj, const char* key, json::Value::Kind kind,
                          const std::string& where) {
  const json::Value* v = obj.find(key);
  if (!v) fail(BRASS_ERR_FORMAT, kWhat, ": ", where, " has no \"", key, "\"");
  if (!v->is(kind))
    fail(BRASS_ERR_FORMAT, kWhat, ": \"", key, "\" of ", where, " is ", json::kind_name(v->kind),
         ", expected ", json::kind_name(kind));
  return *v;
}

int64_t index_value(const json::Value& v, const std::string& where) {
  if (!v.is(json::Value::kNumber) || v.number < 0 || v.number > 1e15 || std::floor(v.number) != v.number)
    fail(BRASS_ERR_FORMAT, kWhat, ": ", where, " must be a non-negative integer");
  return int64_t(v.number);
}

// [node, index] or [node, index, version].
std::pair<int64_t, int64_t> entry_ref(const json::Value& v, const std::string& where) {
  if (!v.is(json::Value::kArray) || v.items.size() < 2 || v.items.size() > 3)
    fail(BRASS_ERR_FORMAT, kWhat, ": ", where, " must be [node, output] or [node, output, version]");
  return {index_value(v.items[0], where + " node"), index_value(v.items[1], where + " output")};
}

int parse_version(const json::Value& root) {
  const json::Value* attrs = root.find("attrs");
  const json::Value* v = attrs ? attrs->find("mxnet_version") : nullptr;
  if (!v) return 800;  // files without a version are MXNet 0.8
  if (v->is(json::Value::kArray) && v->items.size() == 2 && v->items[1].is(json::Value::kNumber) &&
      v->items[1].number >= 0 && v->items[1].number < 1e9)
    return int(v->items[1].number);
  fail(BRASS_ERR_FORMAT, kWhat, ": attrs.mxnet_version must be [\"int\", <version>]");
}

}  // namespace

Symbol from_json(const std::string& text) {
  json::Value root = json::parse(text, kWhat);
  if (!root.is(json::Value::kObject)) fail(BRASS_ERR_FORMAT, kWhat, ": the document is not an object");
  const auto& jnodes = member(root, "nodes", json::Value::kArray, "the graph").items;
  const auto& jheads = member(root, "heads", json::Value::kArray, "the graph").items;
  int version = parse_version(root);
  std::vector<NodePtr> nodes;
  nodes.reserve(jnodes.size());
  for (size_t i = 0; i < jnodes.size(); ++i) {
    const json::Value& jn = jnodes[i];
    std::string where = "node " + std::to_string(i);
    if (!jn.is(json::Value::kObject)) fail(BRASS_ERR_FORMAT, kWhat, ": ", where, " is not an object");
    std::string opname = member(jn, "op", json::Value::kString, where).str;
    std::string name = member(jn, "name", json::Value::kString, where).str;
    where += " ('" + name + "')";
    Attrs dict;
    for (const char* key : {"param", "attr", "attrs"}) {
      const json::Value* d = jn.find(key);
      if (!d || d->is(json::Value::kNull)) continue;
      if (!d->is(json::Value::kObject))
        fail(BRASS_ERR_FORMAT, kWhat, ": \"", key, "\" of ", where, " is not an object");
      for (auto& kv : d->members) {
        if (!kv.second.is(json::Value::kString))
          fail(BRASS_ERR_FORMAT, kWhat, ": attribute '", kv.first, "' of ", where, " is ",
               json::kind_name(kv.second.kind), ", expected a string");
        std::string k = is_legacy_hidden(kv.first) ? "__" + kv.first + "__" : kv.first;
        bool dup = false;
        for (auto& e : dict) if (e.first == k) { e.second = kv.second.str; dup = true; }
        if (!dup) dict.emplace_back(k, kv.second.str);
      }
    }
    const auto& jin = member(jn, "inputs", json::Value::kArray, where).items;
    auto node = std::make_shared<Node>();
    node->name = name;
    for (size_t k = 0; k < jin.size(); ++k) {
      auto [nid, idx] = entry_ref(jin[k], where + " input " + std::to_string(k));
      if (nid >= int64_t(i))
        fail(BRASS_ERR_FORMAT, kWhat, ": ", where, " input ", k, " refers to node ", nid,
             ", which does not come before it (", jnodes.size(), " nodes)");
      const Node& src = *nodes[size_t(nid)];
      int nout = src.is_variable() ? 1 : src.op->outputs_for(*src.attrs);
      if (idx >= nout)
        fail(BRASS_ERR_FORMAT, kWhat, ": ", where, " input ", k, " is output ", idx, " of node ",
             nid, " ('", src.name, "'), which has ", nout);
      node->inputs.push_back(NodeEntry{nodes[size_t(nid)], uint32_t(idx)});
    }
    if (opname == "null") {
      if (!node->inputs.empty())
        fail(BRASS_ERR_FORMAT, kWhat, ": ", where, " is a variable but has inputs");
      node->attrs = variable_attrs(std::move(dict));
      nodes.push_back(node);
      continue;
    }
    const Op* op = OpRegistry::get().find(opname);
    if (!op) fail(BRASS_ERR_NOT_FOUND, kWhat, ": ", where, ": unknown operator '", opname, "'");
    node->op = op;
    // "<input>_<key>" (weight_lr_mult) on an op belongs to that input's variable.
    std::shared_ptr<NodeAttrs> probe;
    Attrs own;
    std::vector<std::pair<std::string, std::pair<std::string, std::string>>> for_inputs;
    for (auto& kv : dict) {
      bool moved = false;
      for (const char* h : kLegacyHidden) {
        std::string suffix = std::string("_") + h;
        if (kv.first.size() > suffix.size() &&
            kv.first.compare(kv.first.size() - suffix.size(), suffix.size(), suffix) == 0) {
          for_inputs.push_back({kv.first.substr(0, kv.first.size() - suffix.size()),
                                {"__" + std::string(h) + "__", kv.second}});
          moved = true;
        }
      }
      if (!moved) own.push_back(kv);
    }
    if (version < 905 && (opname == "argmax" || opname == "argmin"))
      own.erase(std::remove_if(own.begin(), own.end(),
                               [](const auto& kv) { return kv.first == "axis" && kv.second == "-1"; }),
                own.end());
    try {
      node->attrs = make_attrs(op, std::move(own));
    } catch (const Error& e) {
      fail(e.code(), kWhat, ": ", where, ": ", e.what());
    }
    std::vector<std::string> names = input_names(op, *node->attrs);
    if (node->inputs.size() < names.size() && version < 900) {
      // MXNet 0.8 files leave out auxiliary states: make their variables as 0.9 did, with a
      // copy of the op's attributes.
      for (size_t k = node->inputs.size(); k < names.size(); ++k) {
        Attrs va(node->attrs->dict.begin(), node->attrs->dict.end());
        for (auto& init : op->input_init)
          if (init.first == int(k)) va.emplace_back("__init__", init.second);
        node->inputs.push_back(NodeEntry{new_variable(name + "_" + names[k], std::move(va)), 0});
      }
    }
    if (node->inputs.size() != names.size())
      fail(BRASS_ERR_FORMAT, kWhat, ": ", where, ": operator ", op->name, " takes ", names.size(),
           " inputs, the file gives ", node->inputs.size());
    for (auto& fi : for_inputs) {
      auto it = std::find(names.begin(), names.end(), fi.first);
      if (it == names.end()) continue;  // not an input name: MXNet drops it too
      Node& in = *node->inputs[size_t(it - names.begin())].node;
      if (in.is_variable()) set_attr(in, fi.second.first, fi.second.second);
    }
    if (version < 904)
      for (auto& init : op->input_init) {
        if (init.first >= int(node->inputs.size())) continue;
        Node& in = *node->inputs[size_t(init.first)].node;
        if (in.is_variable() && !get_attr(in, "__init__")) set_attr(in, "__init__", init.second);
      }
    nodes.push_back(node);
  }
  if (const json::Value* an = root.find("arg_nodes")) {
    if (!an->is(json::Value::kArray)) fail(BRASS_ERR_FORMAT, kWhat, ": \"arg_nodes\" is not an array");
    for (size_t k = 0; k < an->items.size(); ++k) {
      int64_t nid = index_value(an->items[k], "arg_nodes entry " + std::to_string(k));
      if (nid >= int64_t(nodes.size()))
        fail(BRASS_ERR_FORMAT, kWhat, ": arg_nodes entry ", k, " is node ", nid, " of ", nodes.size());
      if (!nodes[size_t(nid)]->is_variable())
        fail(BRASS_ERR_FORMAT, kWhat, ": arg_nodes entry ", k, " is node ", nid, " ('",
             nodes[size_t(nid)]->name, "'), which is not a variable");
    }
  }
  Symbol s;
  if (jheads.empty()) fail(BRASS_ERR_FORMAT, kWhat, ": the graph has no heads");
  for (size_t k = 0; k < jheads.size(); ++k) {
    auto [nid, idx] = entry_ref(jheads[k], "head " + std::to_string(k));
    if (nid >= int64_t(nodes.size()))
      fail(BRASS_ERR_FORMAT, kWhat, ": head ", k, " refers to node ", nid, " of ", nodes.size());
    const NodePtr& n = nodes[size_t(nid)];
    if (idx >= visible_outputs(*n))
      fail(BRASS_ERR_FORMAT, kWhat, ": head ", k, " is output ", idx, " of node ", nid, " ('",
           n->name, "'), which shows ", visible_outputs(*n));
    s.outputs.push_back(NodeEntry{n, uint32_t(idx)});
  }
  return s;
}

}  // namespace graph
}  // namespace brass
