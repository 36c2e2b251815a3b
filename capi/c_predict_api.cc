// The predict API (brass/c_predict_api.h): models loaded once and shared read-only by their
// predictors, each predictor a symbol bound for inference on its input shapes; and MXNet
// 1.x's MXPred*/MXNDList* functions over the same objects.
//
// Choices where MXNet's predictor had sharp edges: a weight or auxiliary state the graph
// needs and the file lacks is an error listing every such name (MXNet left them
// uninitialised); parameter names load with or without arg:/aux:; an input left out is
// allowed only when its shape can be inferred and it is a label of a loss head, so a label
// never blocks a reshape; MXPredGetOutputType writes *out_dtype; MXNDListGet hands out
// float32 data for any stored dtype.
#include <algorithm>
#include <atomic>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "brass/c_predict_api.h"
#include "capi/api.h"
#include "graph/executor.h"
#include "graph/gradient.h"
#include "graph/infer.h"
#include "graph/symbol.h"
#include "ndarray/ndarray_io.h"

namespace brass {
namespace predict {

// The most memory one predictor may allocate for its inputs and values (brass_predict_set_memory_limit).
std::atomic<uint64_t> g_memory_limit{sizeof(void*) >= 8 ? uint64_t(8) << 30 : uint64_t(1) << 30};

struct Model {
  graph::Symbol sym;
  std::map<std::string, NDArray> weights;  // arguments and auxiliary states from the file (CPU)
  std::vector<std::string> inputs;         // arguments the file has no values for
  std::vector<const char*> input_ptrs;
  std::mutex mu;                           // guards copies
  std::map<std::pair<int, int>, std::map<std::string, NDArray>> copies;  // weights on other devices

  // The weights on dev (copied there once per device).
  const std::map<std::string, NDArray>& weights_on(Device dev) {
    if (dev.type == BRASS_CPU) return weights;
    std::lock_guard<std::mutex> lk(mu);
    auto key = std::make_pair(dev.type, dev.id);
    auto it = copies.find(key);
    if (it != copies.end()) return it->second;
    std::map<std::string, NDArray> m;
    for (const auto& kv : weights) {
      NDArray a(kv.second.shape(), kv.second.dtype(), dev);
      copy_array(kv.second, a);
      m.emplace(kv.first, a);
    }
    return copies.emplace(key, std::move(m)).first->second;
  }
};

struct Predictor {
  std::shared_ptr<Model> model;
  Device dev;
  std::vector<std::string> output_names;   // as asked (empty: the heads)
  std::map<std::string, Shape> given;      // input shapes the caller gave
  std::map<std::string, int> dtypes;       // dtypes the caller gave (MXPredCreateEx)
  graph::Symbol sym;                       // the outputs to compute
  std::unique_ptr<graph::Executor> exe;
  std::map<std::string, NDArray> inputs;   // the arrays set_input writes
  std::vector<std::string> out_names;
  std::vector<Shape> out_shapes;
  std::vector<int> out_dtypes;
  // Buffers behind pointers handed out (shapes as int64 and as uint32 for MXNet).
  std::map<std::string, std::vector<int64_t>> input_dims;
  std::vector<std::vector<int64_t>> out_dims;
  std::vector<std::vector<uint32_t>> out_dims32;
};

struct PredList {
  NamedArrays arrays;
  std::vector<std::vector<int64_t>> dims;
  std::vector<std::vector<uint32_t>> dims32;
  std::vector<std::vector<float>> as_float;  // MXNDListGet's float32 copies, made on demand
};

// ---- handles -------------------------------------------------------------------------------

template <class T>
struct Held {
  std::shared_ptr<T> p;
};

template <class T>
uintptr_t insert(HandleKind kind, std::shared_ptr<T> p) {
  return HandleTable::get().insert(kind, new Held<T>{std::move(p)}, &capi::delete_obj<Held<T>>);
}

template <class T>
const std::shared_ptr<T>& lookup(const void* h, HandleKind kind, const char* what) {
  return static_cast<Held<T>*>(HandleTable::get().lookup(uintptr_t(h), kind, what))->p;
}

Model& model_of(brass_model_t h) { return *lookup<Model>(h, HandleKind::kModel, "model"); }
Predictor& pred_of(const void* h) { return *lookup<Predictor>(h, HandleKind::kPredictor, "predictor"); }
PredList& list_of(const void* h) { return *lookup<PredList>(h, HandleKind::kPredList, "array list"); }

void need(const void* p, const char* what) {
  if (!p) fail(BRASS_ERR_INVALID_ARGUMENT, what, " is NULL");
}

// ---- loading -------------------------------------------------------------------------------

// Loading is bounded by the memory limit too. Parsing JSON holds at most about 100 bytes per
// byte of text (a value per two bytes of "0,0,...", vectors at twice their size), so the text
// is capped at 1/128 of the limit. A parameter file may make the loader allocate 8 times its
// size plus 1 MiB: dense arrays never exceed the file; sparse ones are expanded to dense.
constexpr uint64_t kJsonPerLimit = 128;
constexpr uint64_t kLoadPerByte = 8, kLoadExtra = uint64_t(1) << 20;

void check_json_size(uint64_t size) {
  const uint64_t limit = g_memory_limit.load();
  if (limit && size > limit / kJsonPerLimit)
    fail(BRASS_ERR_OUT_OF_MEMORY, "the symbol JSON is ", size, " bytes; at most ", limit / kJsonPerLimit,
         " (1/", kJsonPerLimit, " of the memory limit of ", limit, " bytes, brass_predict_set_memory_limit) is read");
}

LoadBudget load_budget() {
  LoadBudget b;
  if (g_memory_limit.load()) {
    b.per_byte = kLoadPerByte;
    b.extra = kLoadExtra;
    b.rule = "a predictor's load may allocate 8 times the parameter file's size plus 1 MiB; "
             "brass_predict_set_memory_limit(0) lifts this";
  }
  return b;
}

std::string read_symbol_file(const char* path) {
  const char* what = "symbol file";
  need(path, what);
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) fail(BRASS_ERR_IO, "cannot open the ", what, " '", path, "'");
  // One read of the whole file into its final buffer (a stream copy was 5x slower).
  std::streamoff size = f.tellg();
  if (size < 0) fail(BRASS_ERR_IO, "cannot read the ", what, " '", path, "' (not a regular file)");
  check_json_size(uint64_t(size));
  std::string data(size_t(size), '\0');
  f.seekg(0);
  if (size && !f.read(&data[0], size)) fail(BRASS_ERR_IO, "cannot read the ", what, " '", path, "'");
  return data;
}

// A model from the symbol's JSON and the parameter file's arrays.
std::shared_ptr<Model> load_model(const char* json, NamedArrays na) {
  need(json, "the symbol JSON");
  check_json_size(std::strlen(json));
  auto m = std::make_shared<Model>();
  m->sym = graph::from_json(json);
  if (!na.arrays.empty() && na.names.empty())
    fail(BRASS_ERR_FORMAT, "the parameter file holds an unnamed list of ", na.arrays.size(),
         " arrays; a model's parameters are named");
  std::vector<std::string> args = graph::list_arguments(m->sym), aux = graph::list_auxiliary_states(m->sym);
  std::set<std::string> known(args.begin(), args.end());
  known.insert(aux.begin(), aux.end());
  for (size_t i = 0; i < na.arrays.size(); ++i) {
    std::string name = na.names[i];
    if (name.rfind("arg:", 0) == 0 || name.rfind("aux:", 0) == 0) name = name.substr(4);
    if (!known.count(name)) continue;  // a value the graph does not use (another head's, an optimizer's)
    if (!m->weights.emplace(name, na.arrays[i]).second)
      fail(BRASS_ERR_FORMAT, "the parameter file holds '", name, "' twice");
  }
  std::vector<std::string> missing_aux;
  for (const auto& a : aux)
    if (!m->weights.count(a)) missing_aux.push_back(a);
  if (!missing_aux.empty()) {
    std::string list;
    for (const auto& a : missing_aux) list += (list.empty() ? "" : ", ") + a;
    fail(BRASS_ERR_NOT_FOUND, "the parameter file has no values for the auxiliary states ", list);
  }
  for (const auto& a : args)
    if (!m->weights.count(a)) m->inputs.push_back(a);
  for (const auto& s : m->inputs) m->input_ptrs.push_back(s.c_str());
  return m;
}

std::shared_ptr<Model> load_model(const char* json, const void* params, size_t size) {
  if (size && !params) fail(BRASS_ERR_INVALID_ARGUMENT, "the parameter bytes are NULL (size ", size, ")");
  return load_model(json, size ? load_ndarrays_bytes(static_cast<const uint8_t*>(params), size, load_budget())
                               : NamedArrays());
}

// ---- binding -------------------------------------------------------------------------------

// Whether variable `name` feeds a loss head (*Output) after its first input: a label.
bool is_label(const graph::Symbol& sym, const std::string& name) {
  for (const NodePtr& n : graph::topo_order(sym.outputs)) {
    if (n->is_variable()) continue;
    const std::string& op = n->op->name;
    bool loss = op.size() > 6 && op.compare(op.size() - 6, 6, "Output") == 0;
    for (size_t i = 1; loss && i < n->inputs.size(); ++i)
      if (n->inputs[i].node->is_variable() && n->inputs[i].node->name == name) return true;
  }
  return false;
}

graph::Symbol select_outputs(const graph::Symbol& sym, const std::vector<std::string>& names) {
  if (names.empty()) return sym;
  graph::Symbol all = graph::internals(sym);
  std::vector<std::string> outs = graph::list_outputs(all);
  graph::Symbol s;
  for (const auto& want : names) {
    size_t k = 0;
    for (; k < outs.size(); ++k)
      if (outs[k] == want || outs[k] == want + "_output") break;
    if (k == outs.size())
      fail(BRASS_ERR_NOT_FOUND, "the model has no output or node named '", want,
           "' (internal outputs are named like 'fc1_output')");
    s.outputs.push_back(all.outputs[k]);
  }
  return s;
}

void bind(Predictor& p) {
  Model& m = *p.model;
  p.sym = select_outputs(m.sym, p.output_names);
  std::vector<std::string> args = graph::list_arguments(p.sym), aux = graph::list_auxiliary_states(p.sym);
  for (const auto& kv : p.given) {
    bool found = false;
    for (const auto& a : args) found = found || a == kv.first;
    if (!found) {
      bool input = false;
      for (const auto& i : m.inputs) input = input || i == kv.first;
      fail(BRASS_ERR_NOT_FOUND, "'", kv.first, "' is not an input of ",
           input ? "the selected outputs" : "the model", " (its inputs: ",
           [&] { std::string l; for (const auto& i : m.inputs) l += (l.empty() ? "" : ", ") + i; return l; }(), ")");
    }
    if (m.weights.count(kv.first))
      fail(BRASS_ERR_INVALID_ARGUMENT, "'", kv.first, "' is a weight of the model, not an input");
  }
  std::map<std::string, Shape> known = p.given;
  std::map<std::string, int> types = p.dtypes;
  for (const auto& kv : m.weights) {
    known.emplace(kv.first, kv.second.shape());
    types[kv.first] = int(kv.second.dtype());
  }
  graph::IndexedGraph g(p.sym.outputs);
  std::vector<Shape> shapes = graph::infer_shapes(g, known);
  std::vector<int> dts = graph::infer_types(g, types);
  auto var_entry = [&](const std::string& name) -> uint32_t {
    for (const NodePtr& n : g.nodes)
      if (n->is_variable() && n->name == name) return g.entry({n, 0});
    fail(BRASS_ERR_INTERNAL, "predictor: variable '", name, "' not found");
  };
  std::vector<std::string> unknown, missing;
  for (const auto& a : args) {
    if (m.weights.count(a) || p.given.count(a)) continue;
    uint32_t e = var_entry(a);
    if (!shapes[e].known()) unknown.push_back(a);
    else if (!is_label(p.sym, a)) missing.push_back(a);  // a weight the file lacks (shape inferred)
  }
  auto join = [](const std::vector<std::string>& v) {
    std::string l;
    for (const auto& s : v) l += (l.empty() ? "" : ", ") + s;
    return l;
  };
  if (!missing.empty())
    fail(BRASS_ERR_NOT_FOUND, "the parameter file has no values for the weights ", join(missing),
         " (inputs must be given with their shapes)");
  if (!unknown.empty())
    fail(BRASS_ERR_SHAPE, "no shape for the inputs ", join(unknown), ": give them to the predictor");
  // The inputs and the values the graph plans are checked against the limit before anything is
  // allocated: a small file cannot make the process ask for terabytes.
  const uint64_t limit = g_memory_limit.load();
  uint64_t input_bytes = 0;
  for (const auto& a : args)
    if (!m.weights.count(a)) {
      uint32_t e = var_entry(a);
      int t = dts[e] < 0 ? int(DType::kFloat32) : dts[e];
      input_bytes += uint64_t(shapes[e].size()) * dtype_size(DType(t));
    }
  if (limit && input_bytes > limit)
    fail(BRASS_ERR_OUT_OF_MEMORY, "the inputs need ", input_bytes, " bytes, more than the predictor's memory limit of ",
         limit, " bytes (brass_predict_set_memory_limit)");
  const auto& weights = m.weights_on(p.dev);
  std::vector<NDArray> arg_arrays, grads(args.size()), aux_arrays;
  std::vector<Req> reqs(args.size(), Req::kNull);
  p.inputs.clear();
  p.input_dims.clear();
  for (const auto& a : args) {
    uint32_t e = var_entry(a);
    auto w = weights.find(a);
    if (w != weights.end()) {
      if (w->second.shape() != shapes[e])
        fail(BRASS_ERR_SHAPE, "weight '", a, "' has shape ", w->second.shape(), " in the file, the graph needs ",
             shapes[e]);
      arg_arrays.push_back(w->second);
      continue;
    }
    int t = dts[e] < 0 ? int(DType::kFloat32) : dts[e];
    NDArray in(shapes[e], DType(t), p.dev);
    std::vector<uint8_t> zeros(in.nbytes());
    in.copy_from_host(zeros.data(), zeros.size());
    arg_arrays.push_back(in);
    p.inputs.emplace(a, in);
    p.input_dims[a] = in.shape().vec();
  }
  for (const auto& a : aux) aux_arrays.push_back(weights.at(a));
  graph::Executor::Options opt = graph::Executor::Options::from_env();
  opt.channels_last = graph::Executor::Options::env_flag("BRASS_CHANNELS_LAST", true);
  opt.memory_limit = limit ? std::max<uint64_t>(limit - input_bytes, 1) : 0;
  p.exe = std::make_unique<graph::Executor>(p.sym, p.dev, std::move(arg_arrays), std::move(grads), std::move(reqs),
                                            std::move(aux_arrays), opt);
  p.out_names = graph::list_outputs(p.sym);
  p.out_shapes.clear();
  p.out_dtypes.clear();
  p.out_dims.clear();
  p.out_dims32.clear();
  for (const NodeEntry& o : p.sym.outputs) {
    uint32_t e = g.entry(o);
    p.out_shapes.push_back(shapes[e]);
    p.out_dtypes.push_back(dts[e]);
    p.out_dims.push_back(shapes[e].vec());
    p.out_dims32.emplace_back(p.out_dims.back().begin(), p.out_dims.back().end());
  }
}

std::map<std::string, Shape> shapes_of(int32_t n, const char** names, const int64_t* indptr, const int64_t* data) {
  if (n < 0) fail(BRASS_ERR_INVALID_ARGUMENT, "negative number of inputs (", n, ")");
  if (n > 0) {
    need(names, "input_names");
    need(indptr, "shape_indptr");
  }
  std::map<std::string, Shape> out;
  for (int32_t i = 0; i < n; ++i) {
    need(names[i], "an input name");
    int64_t b = indptr[i], e = indptr[i + 1];
    if (b < 0 || e < b || e - b > kMaxNDim)
      fail(BRASS_ERR_SHAPE, "input '", names[i], "': shape_indptr [", b, ", ", e, ") is not a valid range");
    if (e > b) need(data, "shape_data");
    Shape s(int(e - b));
    for (int64_t k = b; k < e; ++k) {
      if (data[k] < 0) fail(BRASS_ERR_SHAPE, "input '", names[i], "': negative extent ", data[k]);
      s[int(k - b)] = data[k];
    }
    s.size();  // fails on overflow
    if (!out.emplace(names[i], s).second) fail(BRASS_ERR_INVALID_ARGUMENT, "input '", names[i], "' is given twice");
  }
  return out;
}

std::shared_ptr<Predictor> make_predictor(std::shared_ptr<Model> m, int dev_type, int dev_id,
                                          std::map<std::string, Shape> given, std::vector<std::string> outputs,
                                          std::map<std::string, int> dtypes = {}) {
  auto p = std::make_shared<Predictor>();
  p->model = std::move(m);
  p->dev = Device::make(dev_type, dev_id);
  p->given = std::move(given);
  p->output_names = std::move(outputs);
  p->dtypes = std::move(dtypes);
  bind(*p);
  return p;
}

NDArray& input_of(Predictor& p, const char* name) {
  need(name, "the input name");
  auto it = p.inputs.find(name);
  if (it == p.inputs.end()) {
    if (p.model->weights.count(name))
      fail(BRASS_ERR_INVALID_ARGUMENT, "'", name, "' is a weight, shared by the model's predictors; it cannot be set");
    fail(BRASS_ERR_NOT_FOUND, "the predictor has no input named '", name, "'");
  }
  return it->second;
}

const NDArray& output_of(Predictor& p, int64_t index) {
  if (index < 0 || index >= int64_t(p.out_names.size()))
    fail(BRASS_ERR_INDEX, "output index ", index, " is out of range (", p.out_names.size(), " outputs)");
  const auto& outs = p.exe->outputs();
  if (outs.empty()) fail(BRASS_ERR_INVALID_ARGUMENT, "no output yet: call forward first");
  return outs[size_t(index)];
}

}  // namespace predict
}  // namespace brass

using namespace brass;
using namespace brass::predict;

extern "C" {

const char* brass_predict_last_error(void) { return capi::t_last_error.c_str(); }
const char* brass_predict_build_info(void) { return capi::build_info(); }
void brass_predict_set_memory_limit(uint64_t bytes) { predict::g_memory_limit.store(bytes); }
uint64_t brass_predict_memory_limit(void) { return predict::g_memory_limit.load(); }

brass_status brass_model_load(const char* symbol_json, const void* params, size_t params_size, brass_model_t* out) {
  API_BEGIN();
  need(out, "out");
  *out = reinterpret_cast<brass_model_t>(insert(HandleKind::kModel, load_model(symbol_json, params, params_size)));
  API_END();
}

brass_status brass_model_load_files(const char* symbol_path, const char* params_path, brass_model_t* out) {
  API_BEGIN();
  need(out, "out");
  std::string json = read_symbol_file(symbol_path);
  need(params_path, "parameter file");
  auto m = load_model(json.c_str(), load_ndarrays(params_path, load_budget(), /*share_file=*/true));
  *out = reinterpret_cast<brass_model_t>(insert(HandleKind::kModel, std::move(m)));
  API_END();
}

brass_status brass_model_inputs(brass_model_t model, int32_t* num, const char*** names) {
  API_BEGIN();
  need(num, "num");
  need(names, "names");
  Model& m = model_of(model);
  *num = int32_t(m.input_ptrs.size());
  *names = m.input_ptrs.data();
  API_END();
}

void brass_model_free(brass_model_t model) { HandleTable::get().release(uintptr_t(model), HandleKind::kModel); }

brass_status brass_predictor_create(brass_model_t model, brass_device_type dev_type, int32_t dev_id,
                                    int32_t num_inputs, const char** input_names, const int64_t* shape_indptr,
                                    const int64_t* shape_data, int32_t num_outputs, const char** output_names,
                                    brass_predictor_t* out) {
  API_BEGIN();
  need(out, "out");
  std::shared_ptr<Model> m = lookup<Model>(model, HandleKind::kModel, "model");
  if (num_outputs < 0) fail(BRASS_ERR_INVALID_ARGUMENT, "negative number of outputs (", num_outputs, ")");
  std::vector<std::string> outs;
  for (int32_t i = 0; i < num_outputs; ++i) {
    need(output_names, "output_names");
    need(output_names[i], "an output name");
    outs.emplace_back(output_names[i]);
  }
  auto p = make_predictor(m, dev_type, dev_id, shapes_of(num_inputs, input_names, shape_indptr, shape_data), outs);
  *out = reinterpret_cast<brass_predictor_t>(insert(HandleKind::kPredictor, p));
  API_END();
}

brass_status brass_predictor_reshape(brass_predictor_t pred, int32_t num_inputs, const char** input_names,
                                     const int64_t* shape_indptr, const int64_t* shape_data, brass_predictor_t* out) {
  API_BEGIN();
  need(out, "out");
  Predictor& old = pred_of(pred);
  std::map<std::string, Shape> given = old.given;
  for (auto& kv : shapes_of(num_inputs, input_names, shape_indptr, shape_data)) given[kv.first] = kv.second;
  auto p = make_predictor(old.model, old.dev.type, old.dev.id, given, old.output_names, old.dtypes);
  *out = reinterpret_cast<brass_predictor_t>(insert(HandleKind::kPredictor, p));
  API_END();
}

brass_status brass_predictor_set_input(brass_predictor_t pred, const char* name, const void* data, size_t nbytes) {
  API_BEGIN();
  NDArray& in = input_of(pred_of(pred), name);
  if (nbytes != in.nbytes())
    fail(BRASS_ERR_SHAPE, "input '", name, "' ", in.shape(), " ", dtype_name(in.dtype()), " holds ", in.nbytes(),
         " bytes, ", nbytes, " given");
  if (nbytes) need(data, "data");
  in.copy_from_host(data, nbytes);
  API_END();
}

brass_status brass_predictor_input_info(brass_predictor_t pred, const char* name, int32_t* ndim,
                                        const int64_t** shape, brass_dtype* dtype) {
  API_BEGIN();
  Predictor& p = pred_of(pred);
  NDArray& in = input_of(p, name);
  if (ndim) *ndim = in.shape().ndim();
  if (shape) *shape = p.input_dims[name].data();
  if (dtype) *dtype = brass_dtype(in.dtype());
  API_END();
}

brass_status brass_predictor_forward(brass_predictor_t pred) {
  API_BEGIN();
  pred_of(pred).exe->forward(false);
  API_END();
}

brass_status brass_predictor_partial_forward(brass_predictor_t pred, int32_t step, int32_t* steps_left) {
  API_BEGIN();
  graph::Executor& e = *pred_of(pred).exe;
  e.forward_step(step, false);
  if (steps_left) *steps_left = std::max(0, e.num_forward_steps() - step - 1);
  API_END();
}

brass_status brass_predictor_num_outputs(brass_predictor_t pred, int32_t* out) {
  API_BEGIN();
  need(out, "out");
  *out = int32_t(pred_of(pred).out_names.size());
  API_END();
}

brass_status brass_predictor_output_info(brass_predictor_t pred, int32_t index, const char** name, int32_t* ndim,
                                         const int64_t** shape, brass_dtype* dtype) {
  API_BEGIN();
  Predictor& p = pred_of(pred);
  if (index < 0 || index >= int32_t(p.out_names.size()))
    fail(BRASS_ERR_INDEX, "output index ", index, " is out of range (", p.out_names.size(), " outputs)");
  if (name) *name = p.out_names[size_t(index)].c_str();
  if (ndim) *ndim = p.out_shapes[size_t(index)].ndim();
  if (shape) *shape = p.out_dims[size_t(index)].data();
  if (dtype) *dtype = p.out_dtypes[size_t(index)];
  API_END();
}

brass_status brass_predictor_get_output(brass_predictor_t pred, int32_t index, void* data, size_t nbytes) {
  API_BEGIN();
  const NDArray& o = output_of(pred_of(pred), index);
  if (nbytes != o.nbytes())
    fail(BRASS_ERR_SHAPE, "output ", index, " ", o.shape(), " ", dtype_name(o.dtype()), " holds ", o.nbytes(),
         " bytes, ", nbytes, " asked for");
  if (nbytes) need(data, "data");
  o.copy_to_host(data, nbytes);
  API_END();
}

void brass_predictor_free(brass_predictor_t pred) {
  HandleTable::get().release(uintptr_t(pred), HandleKind::kPredictor);
}

brass_status brass_pred_list_load(const void* bytes, size_t size, brass_pred_list_t* out, int32_t* length) {
  API_BEGIN();
  need(out, "out");
  if (size) need(bytes, "bytes");
  auto l = std::make_shared<PredList>();
  l->arrays = load_ndarrays_bytes(static_cast<const uint8_t*>(bytes), size, load_budget());
  for (const auto& a : l->arrays.arrays) {
    l->dims.push_back(a.shape().vec());
    l->dims32.emplace_back(l->dims.back().begin(), l->dims.back().end());
  }
  l->as_float.resize(l->arrays.arrays.size());
  if (length) *length = int32_t(l->arrays.arrays.size());
  *out = reinterpret_cast<brass_pred_list_t>(insert(HandleKind::kPredList, l));
  API_END();
}

brass_status brass_pred_list_get(brass_pred_list_t list, int32_t index, const char** name, const void** data,
                                 int32_t* ndim, const int64_t** shape, brass_dtype* dtype) {
  API_BEGIN();
  PredList& l = list_of(list);
  if (index < 0 || index >= int32_t(l.arrays.arrays.size()))
    fail(BRASS_ERR_INDEX, "index ", index, " is out of range (", l.arrays.arrays.size(), " arrays)");
  const NDArray& a = l.arrays.arrays[size_t(index)];
  static const char kEmpty[] = "";
  if (name) *name = l.arrays.names.empty() ? kEmpty : l.arrays.names[size_t(index)].c_str();
  if (data) {
    a.wait_to_read();
    *data = a.data();
  }
  if (ndim) *ndim = a.shape().ndim();
  if (shape) *shape = l.dims[size_t(index)].data();
  if (dtype) *dtype = brass_dtype(a.dtype());
  API_END();
}

void brass_pred_list_free(brass_pred_list_t list) { HandleTable::get().release(uintptr_t(list), HandleKind::kPredList); }

// ---- MXNet 1.x -----------------------------------------------------------------------------

const char* MXGetLastError(void) { return capi::t_last_error.c_str(); }

static int mx_status(brass_status s) { return s == BRASS_OK ? 0 : -1; }

// Runs an MXNet entry point's body: 0, or -1 with the message for MXGetLastError.
extern "C++" template <class F>
int mx_call(F&& body) {
  return mx_status([&]() -> brass_status {
    API_BEGIN();
    body();
    API_END();
  }());
}

static std::map<std::string, Shape> mx_shapes(mx_uint n, const char** keys, const mx_uint* indptr,
                                              const mx_uint* data) {
  std::vector<int64_t> ip, d;
  if (n > 0) {
    need(indptr, "input_shape_indptr");
    for (mx_uint i = 0; i <= n; ++i) ip.push_back(indptr[i]);
    if (ip.back() > 0) need(data, "input_shape_data");
    for (int64_t k = 0; k < ip.back(); ++k) d.push_back(data[k]);
  }
  return shapes_of(int32_t(n), keys, ip.data(), d.data());
}

static int mx_create(const char* json, const void* params, int size, int dev_type, int dev_id, mx_uint n,
                     const char** keys, const mx_uint* indptr, const mx_uint* data, mx_uint num_out,
                     const char** out_keys, std::map<std::string, int> dtypes, int num_threads, PredictorHandle* out) {
  return mx_call([&] {
    need(out, "out");
    if (size < 0) fail(BRASS_ERR_INVALID_ARGUMENT, "param_size ", size, " is negative");
    if (num_threads < 1) fail(BRASS_ERR_INVALID_ARGUMENT, "num_threads ", num_threads, " must be at least 1");
    auto m = load_model(json, params, size_t(size));
    std::vector<std::string> outs;
    for (mx_uint i = 0; i < num_out; ++i) {
      need(out_keys, "output_keys");
      need(out_keys[i], "an output key");
      outs.emplace_back(out_keys[i]);
    }
    auto given = mx_shapes(n, keys, indptr, data);
    std::vector<uintptr_t> made;
    for (int t = 0; t < num_threads; ++t)
      made.push_back(insert(HandleKind::kPredictor, make_predictor(m, dev_type, dev_id, given, outs, dtypes)));
    for (int t = 0; t < num_threads; ++t) out[t] = reinterpret_cast<PredictorHandle>(made[size_t(t)]);
  });
}

int MXPredCreate(const char* symbol_json_str, const void* param_bytes, int param_size, int dev_type, int dev_id,
                 mx_uint num_input_nodes, const char** input_keys, const mx_uint* input_shape_indptr,
                 const mx_uint* input_shape_data, PredictorHandle* out) {
  return mx_create(symbol_json_str, param_bytes, param_size, dev_type, dev_id, num_input_nodes, input_keys,
                   input_shape_indptr, input_shape_data, 0, nullptr, {}, 1, out);
}

int MXPredCreateEx(const char* symbol_json_str, const void* param_bytes, int param_size, int dev_type, int dev_id,
                   const mx_uint num_input_nodes, const char** input_keys, const mx_uint* input_shape_indptr,
                   const mx_uint* input_shape_data, const mx_uint num_provided_arg_dtypes,
                   const char** provided_arg_dtype_names, const int* provided_arg_dtypes, PredictorHandle* out) {
  std::map<std::string, int> dtypes;
  for (mx_uint i = 0; i < num_provided_arg_dtypes; ++i) {
    if (!provided_arg_dtype_names || !provided_arg_dtype_names[i] || !provided_arg_dtypes) {
      capi::set_error(BRASS_ERR_INVALID_ARGUMENT, "MXPredCreateEx: a provided dtype name or value is NULL");
      return -1;
    }
    dtypes[provided_arg_dtype_names[i]] = provided_arg_dtypes[i];
  }
  return mx_create(symbol_json_str, param_bytes, param_size, dev_type, dev_id, num_input_nodes, input_keys,
                   input_shape_indptr, input_shape_data, 0, nullptr, dtypes, 1, out);
}

int MXPredCreatePartialOut(const char* symbol_json_str, const void* param_bytes, int param_size, int dev_type,
                           int dev_id, mx_uint num_input_nodes, const char** input_keys,
                           const mx_uint* input_shape_indptr, const mx_uint* input_shape_data,
                           mx_uint num_output_nodes, const char** output_keys, PredictorHandle* out) {
  return mx_create(symbol_json_str, param_bytes, param_size, dev_type, dev_id, num_input_nodes, input_keys,
                   input_shape_indptr, input_shape_data, num_output_nodes, output_keys, {}, 1, out);
}

int MXPredCreateMultiThread(const char* symbol_json_str, const void* param_bytes, int param_size, int dev_type,
                            int dev_id, mx_uint num_input_nodes, const char** input_keys,
                            const mx_uint* input_shape_indptr, const mx_uint* input_shape_data, int num_threads,
                            PredictorHandle* out) {
  return mx_create(symbol_json_str, param_bytes, param_size, dev_type, dev_id, num_input_nodes, input_keys,
                   input_shape_indptr, input_shape_data, 0, nullptr, {}, num_threads, out);
}

int MXPredReshape(mx_uint num_input_nodes, const char** input_keys, const mx_uint* input_shape_indptr,
                  const mx_uint* input_shape_data, PredictorHandle handle, PredictorHandle* out) {
  return mx_call([&] {
    need(out, "out");
    Predictor& old = pred_of(handle);
    std::map<std::string, Shape> given = old.given;
    for (auto& kv : mx_shapes(num_input_nodes, input_keys, input_shape_indptr, input_shape_data))
      given[kv.first] = kv.second;
    auto p = make_predictor(old.model, old.dev.type, old.dev.id, given, old.output_names, old.dtypes);
    *out = reinterpret_cast<PredictorHandle>(insert(HandleKind::kPredictor, p));
  });
}

int MXPredGetOutputShape(PredictorHandle handle, mx_uint index, mx_uint** shape_data, mx_uint* shape_ndim) {
  return mx_call([&] {
    need(shape_data, "shape_data");
    need(shape_ndim, "shape_ndim");
    Predictor& p = pred_of(handle);
    if (index >= p.out_names.size())
      fail(BRASS_ERR_INDEX, "output index ", index, " is out of range (", p.out_names.size(), " outputs)");
    *shape_data = p.out_dims32[index].data();
    *shape_ndim = mx_uint(p.out_dims32[index].size());
  });
}

int MXPredGetOutputType(PredictorHandle handle, mx_uint out_index, int* out_dtype) {
  return mx_call([&] {
    need(out_dtype, "out_dtype");
    Predictor& p = pred_of(handle);
    if (out_index >= p.out_names.size())
      fail(BRASS_ERR_INDEX, "output index ", out_index, " is out of range (", p.out_names.size(), " outputs)");
    *out_dtype = p.out_dtypes[out_index];
  });
}

int MXPredSetInput(PredictorHandle handle, const char* key, const mx_float* data, mx_uint size) {
  return mx_call([&] {
    NDArray& in = input_of(pred_of(handle), key);
    if (int64_t(size) != in.size())
      fail(BRASS_ERR_SHAPE, "input '", key, "' ", in.shape(), " has ", in.size(), " elements, ", size, " given");
    if (size) need(data, "data");
    in.copy_from_host(data, in.nbytes());  // in the input's own dtype, as MXNet
  });
}

int MXPredForward(PredictorHandle handle) { return mx_status(brass_predictor_forward(brass_predictor_t(handle))); }

int MXPredPartialForward(PredictorHandle handle, int step, int* step_left) {
  int32_t left = 0;
  brass_status s = brass_predictor_partial_forward(brass_predictor_t(handle), step, &left);
  if (s == BRASS_OK && step_left) *step_left = left;
  return mx_status(s);
}

int MXPredGetOutput(PredictorHandle handle, mx_uint index, mx_float* data, mx_uint size) {
  return mx_call([&] {
    const NDArray& o = output_of(pred_of(handle), index);
    if (int64_t(size) != o.size())
      fail(BRASS_ERR_SHAPE, "output ", index, " ", o.shape(), " has ", o.size(), " elements, ", size, " asked for");
    if (size) need(data, "data");
    o.copy_to_host(data, o.nbytes());
  });
}

int MXPredFree(PredictorHandle handle) {
  if (!HandleTable::get().release(uintptr_t(handle), HandleKind::kPredictor)) {
    capi::set_error(BRASS_ERR_HANDLE, "MXPredFree: not a live predictor handle");
    return -1;
  }
  return 0;
}

int MXNDListCreate(const char* nd_file_bytes, int nd_file_size, NDListHandle* out, mx_uint* out_length) {
  if (nd_file_size < 0) {
    capi::set_error(BRASS_ERR_INVALID_ARGUMENT, "MXNDListCreate: nd_file_size is negative");
    return -1;
  }
  int32_t len = 0;
  brass_status s = brass_pred_list_load(nd_file_bytes, size_t(nd_file_size), reinterpret_cast<brass_pred_list_t*>(out),
                                        &len);
  if (s == BRASS_OK && out_length) *out_length = mx_uint(len);
  return mx_status(s);
}

int MXNDListGet(NDListHandle handle, mx_uint index, const char** out_key, const mx_float** out_data,
                const mx_uint** out_shape, mx_uint* out_ndim) {
  return mx_call([&] {
    PredList& l = list_of(handle);
    if (index >= l.arrays.arrays.size())
      fail(BRASS_ERR_INDEX, "index ", index, " is out of range (", l.arrays.arrays.size(), " arrays)");
    const NDArray& a = l.arrays.arrays[index];
    std::vector<float>& f = l.as_float[index];
    if (f.empty() && a.size() > 0) {  // float32 for any stored dtype (MXNet copied the raw bytes)
      NDArray as32(a.shape(), DType::kFloat32, a.device());
      copy_array(a, as32);
      f.resize(size_t(a.size()));
      as32.copy_to_host(f.data(), f.size() * sizeof(float));
    }
    static const char kEmpty[] = "";
    if (out_key) *out_key = l.arrays.names.empty() ? kEmpty : l.arrays.names[index].c_str();
    if (out_data) *out_data = f.data();
    if (out_shape) *out_shape = l.dims32[index].data();
    if (out_ndim) *out_ndim = mx_uint(l.dims32[index].size());
  });
}

int MXNDListFree(NDListHandle handle) {
  if (!HandleTable::get().release(uintptr_t(handle), HandleKind::kPredList)) {
    capi::set_error(BRASS_ERR_HANDLE, "MXNDListFree: not a live list handle");
    return -1;
  }
  return 0;
}

}  // extern "C"
