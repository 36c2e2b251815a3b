// The operator registry. Each operator registers everything about itself in one place:
// names, docs, typed parameters, inputs/outputs/aux states, shape and type inference,
// kernels per device, in-place options, resources, and (later) its gradient.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "base/build_options.h"
#include "base/device.h"
#include "base/dtype.h"
#include "base/fn.h"
#include "base/params.h"
#include "base/shape.h"
#include "base/xinline.h"
#include "ndarray/ndarray.h"

namespace brass {

struct Op;

// What the kernel must do with each output.
enum class Req : int { kNull = 0, kWrite = 1, kInplace = 2, kAdd = 3 };

// An operator applied with parsed parameters: what a graph node or an imperative call holds.
struct NodeAttrs {
  const Op* op = nullptr;
  std::vector<std::pair<std::string, std::string>> dict;  // as given (for JSON)
  std::shared_ptr<const void> parsed;                     // the op's parameter struct
  template <class P> const P& param() const { return *static_cast<const P*>(parsed.get()); }
};

// A counter-based random stream reserved for one invocation (Philox key and stream id).
struct RandomStream {
  uint64_t seed = 0;
  uint64_t stream = 0;
};

struct OpContext {
  Device dev;
  const NodeAttrs* attrs = nullptr;
  std::vector<Req> req;
  void* temp = nullptr;  // scratch of the size the op asked for
  RandomStream rng;
  bool is_train = false;  // autograd's training flag when the op was called (Dropout, BatchNorm)
  // Per input, the version of its contents when the work was pushed (contents_version: 0 when
  // unknown), or null: with the input's address it names what the kernel reads. Given to ops
  // that ask for it (Op::want_versions).
  const uint64_t* versions = nullptr;
  template <class P> const P& param() const { return attrs->param<P>(); }
};

// ---- Graphs: what gradients are written in ------------------------------------------------
// A node applies a registered op to the outputs of other nodes (or is a variable, an input of
// the graph). Gradients, the symbolic graph and autograd's record all use this one form.
struct Node;
using NodePtr = std::shared_ptr<Node>;

// Output `index` of `node`. An empty entry (no node) stands for a gradient that is zero.
struct NodeEntry {
  NodePtr node;
  uint32_t index = 0;
  bool empty() const { return !node; }
};

struct Node {
  const Op* op = nullptr;  // nullptr: a variable
  std::shared_ptr<const NodeAttrs> attrs;
  std::vector<NodeEntry> inputs;
  std::string name;
  std::shared_ptr<void> info;  // what the pass that made the node keeps (autograd: values)
  bool is_variable() const { return op == nullptr; }
  Node() = default;
  Node(const Node&) = default;
  Node& operator=(const Node&) = default;
  // Releases the inputs iteratively: a long chain (a recorded loop) would otherwise free
  // itself by recursion as deep as the chain.
  ~Node();
};

// An op's gradient, as a graph of registered ops: given its node and one gradient entry per
// output (the gradient of the loss with respect to that output; empty when it is zero), the
// gradient entries of its inputs, one per input (empty where no gradient flows, e.g. to an
// index). Written once; autograd, the symbolic gradient pass and hybridized blocks all use it.
using GradFn = Fn<std::vector<NodeEntry>(const NodePtr& node, const std::vector<NodeEntry>& out_grads)>;

using ComputeFn = Fn<void(const OpContext&, const std::vector<TBlob>& in, const std::vector<TBlob>& out)>;
// A computation on arrays, run by invoke on the calling thread instead of a kernel pushed to
// the engine (it pushes work of its own: custom Python functions).
using NDComputeFn = Fn<void(const NodeAttrs&, const std::vector<NDArray>& in, const std::vector<NDArray>& out)>;
// Shape/type inference: fill what can be known (unknown: ndim -1 or extents -1; dtype -1),
// throw on contradiction; return true when every shape/type is known.
using ShapeFn = Fn<bool(const NodeAttrs&, std::vector<Shape>& in, std::vector<Shape>& out)>;
using TypeFn = Fn<bool(const NodeAttrs&, std::vector<int>& in, std::vector<int>& out)>;
using CountFn = Fn<int(const NodeAttrs&)>;
using TempFn = Fn<size_t(const NodeAttrs&, const std::vector<TBlob>& in, const std::vector<TBlob>& out)>;

struct Op {
  std::string name;
  std::string doc;
  std::vector<std::string> aliases;
  int num_inputs = 1;                 // -1: from num_inputs_fn
  int num_outputs = 1;
  int num_visible_outputs = -1;       // -1: all outputs are visible
  CountFn num_inputs_fn, num_outputs_fn, num_visible_fn;
  std::vector<std::string> input_names;  // every input the op may take, in order
  // The names of a call's inputs when they depend on its parameters (a subsequence of
  // input_names, e.g. CTCLoss's label_lengths without data_lengths); empty: the first
  // inputs_for(attrs) of input_names.
  Fn<std::vector<std::string>(const NodeAttrs&)> input_names_fn;
  std::vector<int> mutate_inputs;     // aux states: inputs the op writes
  // Instead of mutate_inputs, when which inputs the op writes depends on its parameters
  // (multi_sgd_mom_update: one momentum per weight).
  Fn<std::vector<int>(const NodeAttrs&)> mutate_fn;
  // Those inputs are written in training mode only (BatchNorm's moving statistics): work in
  // inference mode reads them, and their versions (Var::version) stay.
  bool mutates_in_training = false;
  std::shared_ptr<ParamSchema> schema = std::make_shared<ParamSchema>();
  ShapeFn infer_shape;
  TypeFn infer_type;
  ComputeFn compute[2];               // [0] cpu, [1] cuda
  NDComputeFn compute_nd;             // instead of kernels, on any device
  std::vector<std::pair<int, int>> inplace;  // (input, output) that may share memory
  TempFn temp_size;
  bool need_random = false;
  // The kernel reads OpContext::versions (the inputs' contents versions); others get null.
  bool want_versions = false;
  GradFn gradient;                    // empty: not differentiable (an error if asked)
  // The shape/type functions accept unknown inputs and fill what they can, inputs included
  // (weights from the data shape): graph inference calls them with partial knowledge. Others
  // are called once every input is known. Set by .partial_infer(), and for infer::same_shape
  // and infer::same_type.
  bool partial_shape = false, partial_type = false;
  // Output element i depends only on element i of the inputs, all of one shape (element-wise
  // math): graph fusion may run a chain of such ops block by block in one pass.
  bool pointwise = false;
  // Its CPU kernel adds into its outputs when asked (Req::kAdd): the executor then sums
  // gradient parts in one buffer instead of through add_n. Set by .add_req().
  bool add_to = false;
  std::vector<std::string> output_names;           // visible outputs; empty: "output", "output<i>"
  std::vector<std::pair<int, std::string>> input_init;  // __init__ of variables made for inputs
  std::shared_ptr<const NodeAttrs> default_attrs;  // parsed defaults, for the hot path

  // Builder interface used at registration.
  // The builders that take text are out of line: hundreds of registrations call them, and a
  // string or a list of strings built at each call would make the library bigger.
  BRASS_NOINLINE Op& describe(const char* d);
  Op& describe(const std::string& d) { return describe(d.c_str()); }
  Op& alias(const char* a);
  BRASS_NOINLINE Op& inputs(std::initializer_list<const char*> names);
  Op& inputs(std::vector<std::string> names) {
    input_names = std::move(names);
    num_inputs = int(input_names.size());
    return *this;
  }
  Op& set_num_inputs(CountFn f) { num_inputs = -1; num_inputs_fn = std::move(f); return *this; }
  // Inputs named per call (input_names_fn); their count follows.
  Op& inputs_named(Fn<std::vector<std::string>(const NodeAttrs&)> f) {
    input_names_fn = f;
    num_inputs = -1;
    num_inputs_fn = [f](const NodeAttrs& a) { return int(f(a).size()); };
    return *this;
  }
  Op& set_num_outputs(int n) { num_outputs = n; return *this; }
  Op& set_num_outputs(CountFn f) { num_outputs_fn = std::move(f); return *this; }
  // Outputs past the first n are hidden (kept for the gradient, e.g. Dropout's mask,
  // BatchNorm's batch mean/var): callers see and pass only the visible ones.
  Op& visible_outputs(int n) { num_visible_outputs = n; return *this; }
  Op& visible_outputs(CountFn f) { num_visible_fn = std::move(f); return *this; }
  template <class P> Op& params() { schema = make_schema<P>(); return *this; }
  Op& shape_fn(ShapeFn f);
  Op& partial_infer() { partial_shape = partial_type = true; return *this; }
  Op& set_pointwise() { pointwise = true; return *this; }
  Op& add_req() { add_to = true; return *this; }
  BRASS_NOINLINE Op& outputs_named(std::initializer_list<const char*> names);
  // Variables that a symbol creates for these inputs get this __init__ (BatchNorm's moving
  // stats: zeros and ones).
  Op& init_inputs(std::vector<std::pair<int, std::string>> inits) { input_init = std::move(inits); return *this; }
  Op& type_fn(TypeFn f);
  Op& cpu(ComputeFn f) { compute[0] = std::move(f); return *this; }
  Op& cuda(ComputeFn f) { compute[1] = std::move(f); return *this; }
  Op& inplace_pairs(std::vector<std::pair<int, int>> p) { inplace = std::move(p); return *this; }
  Op& temp(TempFn f) { temp_size = std::move(f); return *this; }
  Op& random() { need_random = true; return *this; }
  Op& reads_versions() { want_versions = true; return *this; }
#if BRASS_TRAINING
  Op& grad(GradFn f) { gradient = std::move(f); return *this; }
#else
  // The predictor builds no gradients: the function is dropped uncompiled.
  template <class F>
  Op& grad(F&&) { return *this; }
#endif
  Op& mutates(std::vector<int> idx) { mutate_inputs = std::move(idx); return *this; }
  Op& mutates_only_in_training() { mutates_in_training = true; return *this; }
  Op& mutates(Fn<std::vector<int>(const NodeAttrs&)> f) {
    mutate_fn = std::move(f);
    return *this;
  }

  // The inputs the op writes, for these parameters; whether it may write any.
  std::vector<int> mutated_inputs(const NodeAttrs& a) const {
    return mutate_fn ? mutate_fn(a) : mutate_inputs;
  }
  bool mutates_any() const { return !mutate_inputs.empty() || bool(mutate_fn); }
  // The inputs a call in this mode writes.
  std::vector<int> written_inputs(const NodeAttrs& a, bool is_train) const {
    return is_train || !mutates_in_training ? mutated_inputs(a) : std::vector<int>();
  }
  int inputs_for(const NodeAttrs& a) const { return num_inputs >= 0 ? num_inputs : num_inputs_fn(a); }
  int outputs_for(const NodeAttrs& a) const { return num_outputs_fn ? num_outputs_fn(a) : num_outputs; }
  int visible_outputs_for(const NodeAttrs& a) const {
    return num_visible_fn ? num_visible_fn(a) : num_visible_outputs >= 0 ? num_visible_outputs : outputs_for(a);
  }
};

class OpRegistry {
 public:
  static OpRegistry& get();
  Op& add(const char* name);
  const Op* find(const std::string& name) const;  // name or alias; nullptr if unknown
  const std::vector<Op*>& ops() const { return ops_; }
  void add_alias(const std::string& alias, Op* op);

 private:
  std::vector<Op*> ops_;
  std::map<std::string, Op*> by_name_;
};

// Whether a key is a hidden attribute ("__shape__", "__lr_mult__", ...): kept in a node's dict
// beside the op's parameters (graphs and JSON carry them), never parsed as a parameter.
bool is_hidden_attr(const std::string& key);
// Parses string parameters for an op (throws naming the op and the parameter); hidden
// attributes are kept in the dict and skipped by the parser.
std::shared_ptr<NodeAttrs> make_attrs(const Op* op,
                                      std::vector<std::pair<std::string, std::string>> kv);

#define BRASS_OP_CONCAT_(a, b) a##b
#define BRASS_OP_CONCAT(a, b) BRASS_OP_CONCAT_(a, b)
// Registers an operator: BRASS_REGISTER_OP(sqrt).describe(...)...;
#define BRASS_REGISTER_OP(name) \
  static ::brass::Op& BRASS_OP_CONCAT(brass_op_reg_, name) = ::brass::OpRegistry::get().add(#name)
// For names that are not identifiers or clash: BRASS_REGISTER_OP_NAMED(tag, "name").
#define BRASS_REGISTER_OP_NAMED(tag, name) \
  static ::brass::Op& BRASS_OP_CONCAT(brass_op_reg_, tag) = ::brass::OpRegistry::get().add(name)

// Imperative execution: infer, allocate, push to the engine. `outputs` empty: allocated here;
// given, it holds either every output or the visible ones (the hidden ones are allocated and
// appended; a none entry is allocated too). On return `outputs` holds every output. reqs (optional, with every output given):
// per output, write or add (Req::kAdd, for ops whose kernels honor it: Op::add_req).
void invoke(const Op* op, const std::shared_ptr<const NodeAttrs>& attrs,
            const std::vector<NDArray>& inputs, std::vector<NDArray>& outputs,
            const std::vector<Req>* reqs = nullptr);

// "cpu(0)", "gpu(1)", "" (cpu(0)) -> a device this build can use, or fails naming op.
Device parse_device(const std::string& s, const char* op);

// Common inference helpers.
namespace infer {
// Every input and output has the same shape (unknowns filled in from the others).
bool same_shape(const NodeAttrs&, std::vector<Shape>& in, std::vector<Shape>& out);
// Every input and output has the same dtype.
bool same_type(const NodeAttrs&, std::vector<int>& in, std::vector<int>& out);
// Unifies two shapes, failing with the op name on contradiction.
void assign_shape(Shape& dst, const Shape& src, const char* op, const char* what);
void assign_type(int& dst, int src, const char* op, const char* what);
}  // namespace infer

}  // namespace brass
