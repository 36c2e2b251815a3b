// Symbols: declarative graphs over the same Node form that gradients and autograd use. A
// symbol is a list of output entries; its variables are its arguments (inputs, weights) and
// auxiliary states (inputs that some op mutates, e.g. BatchNorm's moving statistics).
// MXNet 1.x semantics: names, compose with automatic variables, list_*, internals, JSON.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "op/operator.h"

namespace brass {
namespace graph {

using Attrs = std::vector<std::pair<std::string, std::string>>;

struct Symbol {
  std::vector<NodeEntry> outputs;
};

// A variable named `name`; attrs are hidden attributes (__shape__, __dtype__, __init__, ...)
// or user attributes.
Symbol variable(const std::string& name, Attrs attrs = {});

// The names of an op's inputs for these parameters (its declared names, or "data" / "arg<i>").
std::vector<std::string> input_names(const Op* op, const NodeAttrs& attrs);
// The names of an op's visible outputs ("output", "output<i>" or the op's own).
std::vector<std::string> output_names(const Op* op, const NodeAttrs& attrs);

// Applies `op` (params as strings, hidden attributes included) to symbols: `args` by
// position, `kwargs` by input name. Inputs given by neither become new variables named
// "<name>_<input>" (MXNet's "fc1_weight"). Every given symbol must have one output.
Symbol compose(const Op* op, Attrs params, const std::string& name, const std::vector<Symbol>& args,
               const std::vector<std::pair<std::string, Symbol>>& kwargs);

// A copy of s whose variables named in `inputs` are replaced by those entries (MXNet's
// Symbol.__call__); fails naming an input that is not a variable of s.
Symbol substitute(const Symbol& s, const std::vector<std::pair<std::string, NodeEntry>>& inputs);

// Variables in graph order (each after the nodes it follows in a depth-first walk from the
// outputs), split into arguments and auxiliary states.
std::vector<NodePtr> list_variables(const Symbol& s, bool aux);
std::vector<std::string> list_arguments(const Symbol& s);
std::vector<std::string> list_auxiliary_states(const Symbol& s);
std::vector<std::string> list_outputs(const Symbol& s);
// Every visible output of every node (variables included), in graph order.
Symbol internals(const Symbol& s);
// The inputs of the output nodes.
Symbol children(const Symbol& s);

// A node's hidden/user attribute (nullptr when absent); setting replaces the node's attrs.
const std::string* get_attr(const Node& n, const std::string& key);
void set_attr(Node& n, const std::string& key, const std::string& value);

// MXNet's symbol JSON (what MXNet 1.x writes and reads).
std::string to_json(const Symbol& s);
// Reads MXNet symbol JSON of any version (0.8 through 1.9, with MXNet's upgrades of legacy
// files); fails with BRASS_ERR_FORMAT/NOT_FOUND naming the node on malformed input.
Symbol from_json(const std::string& text);

}  // namespace graph
}  // namespace brass
