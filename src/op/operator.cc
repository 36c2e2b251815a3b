// Registry, attribute parsing, common inference, and imperative invocation.
#include "op/operator.h"

#include <algorithm>
#include <optional>

#include "imperative/autograd.h"
#include "random/random.h"
#include "storage/storage.h"

namespace brass {

Op& Op::describe(const char* d) {
  doc = d;
  return *this;
}

Op& Op::inputs(std::initializer_list<const char*> names) {
  input_names.assign(names.begin(), names.end());
  num_inputs = int(input_names.size());
  return *this;
}

Op& Op::outputs_named(std::initializer_list<const char*> names) {
  output_names.assign(names.begin(), names.end());
  return *this;
}

Op& Op::alias(const char* a) {
  aliases.emplace_back(a);
  OpRegistry::get().add_alias(a, this);
  return *this;
}

OpRegistry& OpRegistry::get() {
  static OpRegistry* r = new OpRegistry;
  return *r;
}

Op& OpRegistry::add(const char* name) {
  auto it = by_name_.find(name);
  if (it != by_name_.end()) return *it->second;  // a second file adding a kernel
  Op* op = new Op;
  op->name = name;
  ops_.push_back(op);
  by_name_[name] = op;
  return *op;
}

void OpRegistry::add_alias(const std::string& alias, Op* op) { by_name_[alias] = op; }

const Op* OpRegistry::find(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

Op& Op::shape_fn(ShapeFn f) {
  using Ptr = bool (*)(const NodeAttrs&, std::vector<Shape>&, std::vector<Shape>&);
  const Ptr* p = f.target<Ptr>();
  if (p && *p == &infer::same_shape) partial_shape = true;
  infer_shape = std::move(f);
  return *this;
}

Op& Op::type_fn(TypeFn f) {
  using Ptr = bool (*)(const NodeAttrs&, std::vector<int>&, std::vector<int>&);
  const Ptr* p = f.target<Ptr>();
  if (p && *p == &infer::same_type) partial_type = true;
  infer_type = std::move(f);
  return *this;
}

Node::~Node() {
  std::vector<NodePtr> stack;
  for (NodeEntry& e : inputs)
    if (e.node) stack.push_back(std::move(e.node));
  while (!stack.empty()) {
    NodePtr n = std::move(stack.back());
    stack.pop_back();
    if (n.use_count() == 1)  // the last owner: take its inputs before it goes
      for (NodeEntry& e : n->inputs)
        if (e.node) stack.push_back(std::move(e.node));
  }
}

bool is_hidden_attr(const std::string& key) {
  return key.size() > 4 && key.compare(0, 2, "__") == 0 && key.compare(key.size() - 2, 2, "__") == 0;
}

std::shared_ptr<NodeAttrs> make_attrs(const Op* op,
                                      std::vector<std::pair<std::string, std::string>> kv) {
  auto a = std::make_shared<NodeAttrs>();
  a->op = op;
  bool any_hidden = false;
  for (auto& p : kv) any_hidden = any_hidden || is_hidden_attr(p.first);
  if (!any_hidden) {
    a->parsed = op->schema->parse(op->name.c_str(), kv);
  } else {
    std::vector<std::pair<std::string, std::string>> params;
    for (auto& p : kv)
      if (!is_hidden_attr(p.first)) params.push_back(p);
    a->parsed = op->schema->parse(op->name.c_str(), params);
  }
  a->dict = std::move(kv);
  return a;
}

namespace infer {

void assign_shape(Shape& dst, const Shape& src, const char* op, const char* what) {
  if (!src.ndim_known()) return;
  if (!dst.ndim_known()) { dst = src; return; }
  if (dst.ndim() != src.ndim())
    fail(BRASS_ERR_SHAPE, op, ": shape mismatch for ", what, ": ", dst, " vs ", src);
  for (int i = 0; i < dst.ndim(); ++i) {
    if (src[i] < 0) continue;
    if (dst[i] < 0) dst[i] = src[i];
    else if (dst[i] != src[i])
      fail(BRASS_ERR_SHAPE, op, ": shape mismatch for ", what, ": ", dst, " vs ", src);
  }
}

void assign_type(int& dst, int src, const char* op, const char* what) {
  if (src < 0) return;
  if (dst < 0) { dst = src; return; }
  if (dst != src)
    fail(BRASS_ERR_DTYPE, op, ": dtype mismatch for ", what, ": ", dtype_name(DType(dst)), " vs ",
         dtype_name(DType(src)));
}

bool same_shape(const NodeAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
  Shape s;
  const char* op = a.op->name.c_str();
  for (size_t i = 0; i < in.size(); ++i) assign_shape(s, in[i], op, "inputs");
  for (auto& o : out) assign_shape(s, o, op, "outputs");
  for (auto& i : in) assign_shape(i, s, op, "inputs");
  for (auto& o : out) assign_shape(o, s, op, "outputs");
  return s.known();
}

bool same_type(const NodeAttrs& a, std::vector<int>& in, std::vector<int>& out) {
  int t = -1;
  const char* op = a.op->name.c_str();
  for (int v : in) assign_type(t, v, op, "inputs");
  for (int v : out) assign_type(t, v, op, "outputs");
  for (auto& v : in) v = t;
  for (auto& v : out) v = t;
  return t >= 0;
}

}  // namespace infer

// ---------------------------------------------------------------------------------------
namespace invoke_impl {

bool overlaps(const NDArray& a, const NDArray& b) {
  if (!a.same_memory(b)) return false;
  const char* a0 = static_cast<const char*>(a.data());
  const char* b0 = static_cast<const char*>(b.data());
  return a0 < b0 + b.nbytes() && b0 < a0 + a.nbytes();
}

}  // namespace invoke_impl

Device parse_device(const std::string& s, const char* op) {
  if (s.empty()) return Device::cpu();
  auto open = s.find('('), close = s.find(')');
  std::string kind = s.substr(0, open);
  int id = 0;
  if (open != std::string::npos) {
    if (close == std::string::npos || close < open)
      fail(BRASS_ERR_DEVICE, op, ": bad device '", s, "'");
    id = int(parse::to_int(s.substr(open + 1, close - open - 1)));
  }
  if (kind == "cpu") return Device::make(BRASS_CPU, id);
  if (kind == "gpu") return Device::make(BRASS_GPU, id);
  if (kind == "cpu_pinned") return Device::make(BRASS_CPU_PINNED, id);
  fail(BRASS_ERR_DEVICE, op, ": unknown device '", s, "'");
}

namespace invoke_impl {

// Runs a kernel on arrays: builds the blobs and context, provides temp space.
void run_kernel(const ComputeFn& fn, const TempFn* tf, const NodeAttrs& attrs, Device dev,
                const RandomStream& rng, bool is_train, const NDArray* inputs, size_t nin, const NDArray* results,
                size_t nout, std::vector<TBlob>& in, std::vector<TBlob>& out, OpContext& ctx, const Req* reqs,
                const uint64_t* versions) {
  ctx.dev = dev;
  ctx.versions = versions;
  ctx.attrs = &attrs;
  if (reqs)
    ctx.req.assign(reqs, reqs + nout);
  else
    ctx.req.assign(nout, Req::kWrite);
  ctx.rng = rng;
  ctx.is_train = is_train;
  ctx.temp = nullptr;
  in.resize(nin);
  out.resize(nout);
  for (size_t i = 0; i < nin; ++i) in[i] = inputs[i].blob();
  for (size_t i = 0; i < nout; ++i) out[i] = results[i].blob();
  Block tmp;
  if (tf) {
    size_t n = (*tf)(attrs, in, out);
    if (n) tmp = storage::alloc(n, dev);
    ctx.temp = tmp.ptr;
  }
  try {
    fn(ctx, in, out);
  } catch (...) {
    storage::free(tmp);
    throw;
  }
  storage::free(tmp);
}

// Per-thread scratch so that small imperative calls allocate nothing but their outputs.
struct Scratch {
  std::vector<Shape> ishapes, oshapes;
  std::vector<int> itypes, otypes;
  std::vector<NDArray> results, copy_back;
  std::vector<VarPtr> reads, writes;
  std::vector<TBlob> in, out;
  std::vector<uint64_t> versions;
  OpContext ctx;
  int depth = 0;
};
thread_local Scratch t_scratch;

}  // namespace invoke_impl

void invoke(const Op* op, const std::shared_ptr<const NodeAttrs>& held,
            const std::vector<NDArray>& inputs, std::vector<NDArray>& outputs, const std::vector<Req>* reqs) {
  const NodeAttrs& attrs = *held;
  const char* name = op->name.c_str();
  int nin = op->inputs_for(attrs), nout = op->outputs_for(attrs);
  if (reqs && (int(reqs->size()) != nout || int(outputs.size()) != nout || op->compute_nd))
    fail(BRASS_ERR_INTERNAL, name, ": write requests need every output given and a kernel");
  if (int(inputs.size()) != nin)
    fail(BRASS_ERR_INVALID_ARGUMENT, name, ": expected ", nin, " input(s), got ", inputs.size());
  int ngiven = int(outputs.size());
  if (ngiven && ngiven != nout && ngiven != op->visible_outputs_for(attrs))
    fail(BRASS_ERR_INVALID_ARGUMENT, name, ": expected ", op->visible_outputs_for(attrs),
         " output array(s), got ", outputs.size());
  Device dev = !inputs.empty() ? inputs[0].device()
               : !outputs.empty() && !outputs[0].is_none() ? outputs[0].device() : Device::cpu();
  if (inputs.empty() && outputs.empty())
    for (auto& kv : attrs.dict)
      if (kv.first == "ctx") dev = parse_device(kv.second, name);
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].is_none()) fail(BRASS_ERR_INVALID_ARGUMENT, name, ": input ", i, " is empty");
    if (inputs[i].device() != dev)
      fail(BRASS_ERR_DEVICE, name, ": inputs are on different devices (", dev.str(), " and ",
           inputs[i].device().str(), ")");
  }
  bool recording = autograd::is_recording();
  if (recording)
    for (size_t i = 0; i < outputs.size(); ++i)
      if (autograd::is_variable(outputs[i]))
        fail(BRASS_ERR_INVALID_ARGUMENT, name, ": output ", i, " is an array marked with "
             "attach_grad(); writing into it inside autograd.record() would corrupt its "
             "gradient (write outside record(), or into a copy)");
  int di = dev.is_gpu() ? 1 : 0;
  if (!op->compute[di] && !op->compute_nd)
    fail(BRASS_ERR_UNSUPPORTED, name, ": no kernel for ", dev.str(), " in this build");

  // Scratch is per thread; a nested call (none today) would get fresh vectors.
  std::optional<invoke_impl::Scratch> local;
  invoke_impl::Scratch& sc =
      invoke_impl::t_scratch.depth == 0 ? invoke_impl::t_scratch : local.emplace();
  ++sc.depth;
  struct DepthGuard { int& d; ~DepthGuard() { --d; } } guard{sc.depth};
  auto& ishapes = sc.ishapes;
  auto& oshapes = sc.oshapes;
  auto& itypes = sc.itypes;
  auto& otypes = sc.otypes;
  ishapes.resize(nin);
  itypes.resize(nin);
  oshapes.assign(nout, Shape());
  otypes.assign(nout, -1);
  for (int i = 0; i < nin; ++i) { ishapes[i] = inputs[i].shape(); itypes[i] = int(inputs[i].dtype()); }
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (outputs[i].is_none()) continue;
    otypes[i] = int(outputs[i].dtype());
    oshapes[i] = outputs[i].shape();
  }
  if (!op->infer_shape(attrs, ishapes, oshapes))
    fail(BRASS_ERR_SHAPE, name, ": could not infer the output shapes");
  for (int i = 0; i < nin; ++i)
    if (ishapes[i] != inputs[i].shape())
      fail(BRASS_ERR_SHAPE, name, ": input ", i, " has shape ", inputs[i].shape(), ", expected ", ishapes[i]);
  if (!op->infer_type(attrs, itypes, otypes))
    fail(BRASS_ERR_DTYPE, name, ": could not infer the output dtypes");
  for (int i = 0; i < nin; ++i)
    if (itypes[i] != int(inputs[i].dtype()))
      fail(BRASS_ERR_DTYPE, name, ": input ", i, " has dtype ", dtype_name(inputs[i].dtype()),
           ", expected ", dtype_name(DType(itypes[i])));

  // Results written into given arrays that an input overlaps (and the op cannot handle in
  // place) are computed into fresh arrays and copied over afterwards.
  auto& results = sc.results;
  auto& copy_back = sc.copy_back;
  results.assign(nout, NDArray());
  copy_back.assign(nout, NDArray());
  bool any_copy_back = false;
  for (int o = 0; o < nout; ++o) {
    if (o >= ngiven || outputs[o].is_none()) {  // (a none entry: allocated here)
      results[o] = NDArray(oshapes[o], DType(otypes[o]), dev);
      continue;
    }
    const NDArray& given = outputs[o];
    if (given.shape() != oshapes[o])
      fail(BRASS_ERR_SHAPE, name, ": output ", o, " has shape ", given.shape(), ", expected ", oshapes[o]);
    if (given.device() != dev)
      fail(BRASS_ERR_DEVICE, name, ": output ", o, " is on ", given.device().str(), ", inputs on ", dev.str());
    bool clash = false;
    for (int i = 0; i < nin; ++i) {
      if (!invoke_impl::overlaps(inputs[i], given)) continue;
      bool allowed = inputs[i].data() == given.data() && inputs[i].shape() == given.shape() &&
                     std::find(op->inplace.begin(), op->inplace.end(), std::make_pair(i, o)) != op->inplace.end();
      if (!allowed) clash = true;
    }
    if (clash) {
      if (reqs && (*reqs)[size_t(o)] == Req::kAdd)
        fail(BRASS_ERR_INTERNAL, name, ": output ", o, " is added to but overlaps an input");
      results[o] = NDArray(oshapes[o], DType(otypes[o]), dev);
      copy_back[o] = given;
      any_copy_back = true;
    } else {
      results[o] = given;
    }
  }

  auto& reads = sc.reads;
  auto& writes = sc.writes;
  reads.clear();
  writes.clear();
  for (auto& a : inputs) reads.push_back(a.var());
  for (auto& a : results) writes.push_back(a.var());
  bool is_train = autograd::is_training();
  for (int m : op->written_inputs(attrs, is_train)) writes.push_back(inputs[size_t(m)].var());
  // What each input will hold when the kernel runs: read before this work's own writes are
  // marked (an in-place input is read first).
  auto& versions = sc.versions;
  versions.clear();
  if (op->want_versions)
    for (auto& v : reads) versions.push_back(contents_version(*v));
  const uint64_t* vp = op->want_versions ? versions.data() : nullptr;

  RandomStream rng;
  if (op->need_random) rng = random::next_stream(dev);
  int64_t work = 0;
  for (auto& r : results) work += r.size();
  for (auto& a : inputs) work = std::max(work, a.size());
  bool small = work < (1 << 15) && !dev.is_gpu();
  const ComputeFn& fn = op->compute[di];
  const TempFn* tf = op->temp_size ? &op->temp_size : nullptr;

  bool done = false;
  if (op->compute_nd) {  // on this thread, on arrays: it pushes its own work
    op->compute_nd(attrs, inputs, results);
    done = true;
  } else if (small) {
    done = Engine::get().run_now(
        reads.data(), int(reads.size()), writes.data(), int(writes.size()),
        [&] {
          invoke_impl::run_kernel(fn, tf, attrs, dev, rng, is_train, inputs.data(), inputs.size(), results.data(),
                                  results.size(), sc.in, sc.out, sc.ctx, reqs ? reqs->data() : nullptr, vp);
        },
        name);
  }
  if (!done) {
    std::vector<NDArray> in_copy(inputs), res_copy(results);
    std::vector<Req> req_copy = reqs ? *reqs : std::vector<Req>();
    const ComputeFn* fp = &fn;
    Engine::get().push(
        [fp, tf, held, in_copy, res_copy, req_copy, dev, rng, is_train, vers = versions] {
          std::vector<TBlob> in, out;
          OpContext ctx;
          invoke_impl::run_kernel(*fp, tf, *held, dev, rng, is_train, in_copy.data(), in_copy.size(), res_copy.data(),
                                  res_copy.size(), in, out, ctx, req_copy.empty() ? nullptr : req_copy.data(),
                                  vers.empty() ? nullptr : vers.data());
        },
        std::vector<VarPtr>(reads), std::vector<VarPtr>(writes), dev, name, small);
  }
  if (any_copy_back)
    for (int o = 0; o < nout; ++o)
      if (!copy_back[o].is_none()) copy_array(results[o], copy_back[o]);
  for (int o = 0; o < ngiven; ++o)
    if (outputs[o].is_none()) outputs[o] = results[o];
  for (int o = ngiven; o < nout; ++o) outputs.push_back(results[o]);
#if BRASS_TRAINING
  if (recording) autograd::record(op, held, inputs, outputs);
#endif
  // Drop the scratch's references so memory returns to the pool when callers let go.
  results.clear();
  copy_back.clear();
  reads.clear();
  writes.clear();
}

}  // namespace brass
