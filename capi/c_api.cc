// The C API: the only place C++ meets C. Every entry point catches exceptions and turns them
// into a status code plus a thread-local message.
#include "brass/c_api.h"

#include <cstring>
#include <string>
#include <vector>

#include "base/error.h"
#include "capi/api.h"
#include "capi/handles.h"
#include "engine/engine.h"
#include "engine/thread_pool.h"
#include "imperative/autograd.h"
#include "kernel/cpu_features.h"
#include "kernel/gemm.h"
#include "ndarray/ndarray.h"
#include "ndarray/ndarray_io.h"
#include "op/operator.h"
#include "random/random.h"
#include "storage/storage.h"

#ifndef BRASS_SOURCE_ID
#define BRASS_SOURCE_ID "modular-build"
#endif

namespace brass {
namespace capi {

NDArray& arr(brass_ndarray_t h, const char* what) {
  return *static_cast<NDArray*>(HandleTable::get().lookup(uintptr_t(h), HandleKind::kNDArray, what));
}

brass_ndarray_t new_handle(NDArray a) {
  auto* p = new NDArray(std::move(a));
  return reinterpret_cast<brass_ndarray_t>(
      HandleTable::get().insert(HandleKind::kNDArray, p, &delete_obj<NDArray>));
}

const Op* op_of(brass_op_t h) {
  // Op handles are registry indices + 1: static, never freed.
  auto& ops = OpRegistry::get().ops();
  uintptr_t i = uintptr_t(h);
  if (i == 0 || i > ops.size()) fail(BRASS_ERR_HANDLE, "invalid operator handle");
  return ops[i - 1];
}

brass_op_t op_handle(const Op* op) {
  auto& ops = OpRegistry::get().ops();
  for (size_t i = 0; i < ops.size(); ++i)
    if (ops[i] == op) return reinterpret_cast<brass_op_t>(uintptr_t(i + 1));
  return nullptr;
}

struct ParamsObj {
  std::shared_ptr<const NodeAttrs> attrs;
};

struct NDListObj {
  NamedArrays list;
};

struct AsyncObj {
  DoneFn done;
};

const std::shared_ptr<const NodeAttrs>& default_attrs(const Op* op) {
  // Parsed once; ops without required parameters get their defaults here.
  if (!op->default_attrs) const_cast<Op*>(op)->default_attrs = make_attrs(op, {});
  return op->default_attrs;
}

std::mutex g_default_mu;

brass_status do_invoke(const Op* op, const std::shared_ptr<const NodeAttrs>& attrs, int32_t num_inputs,
                       const brass_ndarray_t* inputs, int32_t* num_outputs, brass_ndarray_t* outputs) {
  if (num_inputs < 0 || (num_inputs > 0 && !inputs))
    fail(BRASS_ERR_INVALID_ARGUMENT, op->name, ": bad input list");
  if (!num_outputs || *num_outputs < 0 || (*num_outputs > 0 && !outputs))
    fail(BRASS_ERR_INVALID_ARGUMENT, op->name, ": bad output list");
  // Per-thread vectors: the imperative hot path allocates nothing here after warm-up.
  thread_local std::vector<NDArray> in, out;
  struct Clear { ~Clear() { in.clear(); out.clear(); } } clear_after;
  in.clear();
  out.clear();
  for (int32_t i = 0; i < num_inputs; ++i) in.push_back(arr(inputs[i], op->name.c_str()));
  int nout = op->visible_outputs_for(*attrs);
  if (*num_outputs < nout)
    fail(BRASS_ERR_INVALID_ARGUMENT, op->name, ": room for ", *num_outputs, " outputs, needs ", nout);
  bool given = nout > 0 && outputs[0] != nullptr;
  if (given) {
    for (int i = 0; i < nout; ++i) {
      if (!outputs[i]) fail(BRASS_ERR_INVALID_ARGUMENT, op->name, ": output ", i, " is NULL while output 0 is given");
      out.push_back(arr(outputs[i], op->name.c_str()));
    }
  }
  invoke(op, attrs, in, out);
  if (!given)
    for (int i = 0; i < nout; ++i) outputs[i] = new_handle(std::move(out[i]));
  else if (autograd::is_recording())  // the given arrays now hold recorded values
    for (int i = 0; i < nout; ++i) arr(outputs[i]).set_ag(out[i].ag_node(), out[i].ag_index());
  *num_outputs = nout;
  return BRASS_OK;
}

// Views are new values for autograd: while recording, a view of a recorded array is linked to
// its source as the op that would copy it (MXNet records slices and reshapes the same way).
void record_view(const NDArray& src, NDArray& view, const char* op_name,
                 std::vector<std::pair<std::string, std::string>> params) {
  if (!autograd::is_recording() || !src.ag_node()) return;
  const Op* op = OpRegistry::get().find(op_name);
  std::vector<NDArray> outs{view};
  autograd::record(op, make_attrs(op, std::move(params)), {src}, outs);
  view = outs[0];
}

std::vector<NDArray> arrays_of(int32_t n, const brass_ndarray_t* h, const char* what) {
  if (n < 0 || (n > 0 && !h)) fail(BRASS_ERR_INVALID_ARGUMENT, what, ": bad array list");
  std::vector<NDArray> v;
  for (int32_t i = 0; i < n; ++i) v.push_back(arr(h[i], what));
  return v;
}

}  // namespace capi
}  // namespace brass

using namespace brass;        // NOLINT: this file is the boundary; names are unambiguous here
using namespace brass::capi;  // NOLINT

extern "C" {

int32_t brass_version_number(void) { return BRASS_VERSION_NUMBER; }
const char* brass_version_string(void) { return BRASS_VERSION_STRING; }
const char* brass_source_id(void) { return BRASS_SOURCE_ID; }
const char* brass_last_error(void) { return t_last_error.c_str(); }

const char* brass_build_info(void) { return build_info(); }

brass_status brass_gpu_count(int32_t* out) {
  API_BEGIN();
  if (!out) fail(BRASS_ERR_INVALID_ARGUMENT, "brass_gpu_count: out is NULL");
  *out = gpu_count();
  API_END();
}

brass_status brass_ndarray_create(const int64_t* shape, int32_t ndim, brass_dtype dtype,
                                  brass_device_type dev_type, int32_t dev_id, brass_ndarray_t* out) {
  API_BEGIN();
  if (!out) fail(BRASS_ERR_INVALID_ARGUMENT, "ndarray_create: out is NULL");
  if (ndim < 0 || ndim > BRASS_MAX_NDIM || (ndim > 0 && !shape))
    fail(BRASS_ERR_SHAPE, "ndarray_create: ndim ", ndim, " is out of range [0, ", BRASS_MAX_NDIM, "]");
  Shape s(shape, ndim);
  for (int i = 0; i < ndim; ++i)
    if (s[i] < 0) fail(BRASS_ERR_SHAPE, "ndarray_create: negative extent in shape ", s);
  *out = new_handle(NDArray(s, dtype_from_code(dtype), Device::make(dev_type, dev_id)));
  API_END();
}

void brass_ndarray_free(brass_ndarray_t a) {
  if (a) HandleTable::get().release(uintptr_t(a), HandleKind::kNDArray);
}

brass_status brass_ndarray_info(brass_ndarray_t h, int32_t* ndim, int64_t* shape, brass_dtype* dtype,
                                brass_device_type* dev_type, int32_t* dev_id) {
  API_BEGIN();
  NDArray& a = arr(h);
  if (ndim) *ndim = a.shape().ndim();
  if (shape) for (int i = 0; i < a.shape().ndim(); ++i) shape[i] = a.shape()[i];
  if (dtype) *dtype = int32_t(a.dtype());
  if (dev_type) *dev_type = a.device().type;
  if (dev_id) *dev_id = a.device().id;
  API_END();
}

brass_status brass_ndarray_copy_from(brass_ndarray_t h, const void* data, size_t nbytes) {
  API_BEGIN();
  NDArray& a = arr(h, "copy_from");
  if (!data && nbytes) fail(BRASS_ERR_INVALID_ARGUMENT, "copy_from: data is NULL");
  a.copy_from_host(data, nbytes);
  API_END();
}

brass_status brass_ndarray_copy_to(brass_ndarray_t h, void* data, size_t nbytes) {
  API_BEGIN();
  NDArray& a = arr(h, "copy_to");
  if (!data && nbytes) fail(BRASS_ERR_INVALID_ARGUMENT, "copy_to: data is NULL");
  a.copy_to_host(data, nbytes);
  API_END();
}

brass_status brass_ndarray_wait_to_read(brass_ndarray_t h) {
  API_BEGIN();
  arr(h, "wait_to_read").wait_to_read();
  API_END();
}

brass_status brass_ndarray_wait_to_write(brass_ndarray_t h) {
  API_BEGIN();
  arr(h, "wait_to_write").wait_to_write();
  API_END();
}

brass_status brass_wait_all(void) {
  API_BEGIN();
  Engine::get().wait_all();
  API_END();
}

brass_status brass_ndarray_data(brass_ndarray_t h, void** out) {
  API_BEGIN();
  NDArray& a = arr(h, "data");
  if (!out) fail(BRASS_ERR_INVALID_ARGUMENT, "data: out is NULL");
  if (a.device().is_gpu()) fail(BRASS_ERR_DEVICE, "data: the array is on ", a.device().str());
  a.wait_to_write();
  a.mark_untracked();  // the caller may write through the address
  *out = a.data();
  API_END();
}

brass_status brass_ndarray_slice(brass_ndarray_t h, int64_t begin, int64_t end, brass_ndarray_t* out) {
  API_BEGIN();
  if (!out) fail(BRASS_ERR_INVALID_ARGUMENT, "slice: out is NULL");
  const NDArray& src = arr(h, "slice");
  NDArray v = src.slice(begin, end);
  record_view(src, v, "slice_axis", {{"axis", "0"}, {"begin", std::to_string(begin)},
                                     {"end", std::to_string(end)}});
  *out = new_handle(std::move(v));
  API_END();
}

brass_status brass_ndarray_reshape(brass_ndarray_t h, const int64_t* shape, int32_t ndim,
                                   brass_ndarray_t* out) {
  API_BEGIN();
  if (!out) fail(BRASS_ERR_INVALID_ARGUMENT, "reshape: out is NULL");
  if (ndim < 0 || ndim > BRASS_MAX_NDIM || (ndim > 0 && !shape))
    fail(BRASS_ERR_SHAPE, "reshape: ndim ", ndim, " is out of range");
  const NDArray& src = arr(h, "reshape");
  NDArray v = src.reshape(Shape(shape, ndim));
  std::string spec = "(";
  for (int32_t i = 0; i < ndim; ++i) spec += std::to_string(shape[i]) + ",";
  record_view(src, v, "Reshape", {{"shape", spec + ")"}});
  *out = new_handle(std::move(v));
  API_END();
}

brass_status brass_ndarray_from_external(void* data, const int64_t* shape, int32_t ndim,
                                         brass_dtype dtype, brass_device_type dev_type, int32_t dev_id,
                                         void (*deleter)(void*), void* deleter_ctx, brass_ndarray_t* out) {
  API_BEGIN();
  if (!out) fail(BRASS_ERR_INVALID_ARGUMENT, "from_external: out is NULL");
  if (ndim < 0 || ndim > BRASS_MAX_NDIM || (ndim > 0 && !shape))
    fail(BRASS_ERR_SHAPE, "from_external: ndim ", ndim, " is out of range");
  Shape s(shape, ndim);
  DType t = dtype_from_code(dtype);
  if (!data && s.size() != 0) fail(BRASS_ERR_INVALID_ARGUMENT, "from_external: data is NULL");
  if (data && reinterpret_cast<uintptr_t>(data) % dtype_size(t) != 0)
    fail(BRASS_ERR_INVALID_ARGUMENT, "from_external: data is not aligned to ", dtype_size(t), " bytes");
  std::function<void()> rel;
  if (deleter) rel = [deleter, deleter_ctx] { deleter(deleter_ctx); };
  *out = new_handle(NDArray::from_external(data, s, t, Device::make(dev_type, dev_id), std::move(rel)));
  API_END();
}

brass_status brass_ndarray_live_count(int64_t* out) {
  API_BEGIN();
  if (!out) fail(BRASS_ERR_INVALID_ARGUMENT, "live_count: out is NULL");
  *out = HandleTable::get().live(HandleKind::kNDArray);
  API_END();
}

brass_status brass_op_count(int32_t* out) {
  API_BEGIN();
  if (!out) fail(BRASS_ERR_INVALID_ARGUMENT, "op_count: out is NULL");
  *out = int32_t(OpRegistry::get().ops().size());
  API_END();
}

brass_status brass_op_name(int32_t index, const char** out) {
  API_BEGIN();
  auto& ops = OpRegistry::get().ops();
  if (!out) fail(BRASS_ERR_INVALID_ARGUMENT, "op_name: out is NULL");
  if (index < 0 || size_t(index) >= ops.size())
    fail(BRASS_ERR_INDEX, "op_name: index ", index, " is out of range [0, ", ops.size(), ")");
  *out = ops[index]->name.c_str();
  API_END();
}

brass_status brass_op_find(const char* name, brass_op_t* out) {
  API_BEGIN();
  if (!name || !out) fail(BRASS_ERR_INVALID_ARGUMENT, "op_find: NULL argument");
  const Op* op = OpRegistry::get().find(name);
  if (!op) fail(BRASS_ERR_NOT_FOUND, "unknown operator '", name, "'");
  *out = op_handle(op);
  API_END();
}

brass_status brass_op_info(brass_op_t h, const char** name, const char** doc, int32_t* num_inputs,
                           const char** input_names, int32_t* num_outputs, int32_t* num_params,
                           const char** aliases) {
  API_BEGIN();
  const Op* op = op_of(h);
  static std::mutex mu;
  static std::map<const Op*, std::string> joined, joined_aliases;
  if (name) *name = op->name.c_str();
  if (doc) *doc = op->doc.c_str();
  if (num_inputs) *num_inputs = op->num_inputs;
  if (input_names) {
    std::lock_guard<std::mutex> lk(mu);
    std::string& s = joined[op];
    if (s.empty())
      for (auto& n : op->input_names) s += (s.empty() ? "" : ",") + n;
    *input_names = s.c_str();
  }
  if (aliases) {
    std::lock_guard<std::mutex> lk(mu);
    std::string& s = joined_aliases[op];
    if (s.empty())
      for (auto& n : op->aliases) s += (s.empty() ? "" : ",") + n;
    *aliases = s.c_str();
  }
  if (num_outputs) *num_outputs = op->num_visible_outputs >= 0 ? op->num_visible_outputs : op->num_outputs;
  if (num_params) *num_params = int32_t(op->schema->fields.size());
  API_END();
}

brass_status brass_op_devices(brass_op_t h, int32_t* mask) {
  API_BEGIN();
  const Op* op = op_of(h);
  *mask = (op->compute[0] ? 1 : 0) | (op->compute[1] ? 2 : 0);
  API_END();
}

brass_status brass_op_flags(brass_op_t h, int32_t* flags) {
  API_BEGIN();
  const Op* op = op_of(h);
  if (!flags) fail(BRASS_ERR_INVALID_ARGUMENT, "op_flags: the output pointer is NULL");
  *flags = (op->pointwise ? 1 : 0) | (op->add_to ? 2 : 0) | (op->need_random ? 4 : 0) |
           (op->mutates_any() ? 8 : 0);
  API_END();
}

brass_status brass_op_param_info(brass_op_t h, int32_t i, const char** name, const char** type,
                                 const char** default_value, const char** doc) {
  API_BEGIN();
  const Op* op = op_of(h);
  auto& f = op->schema->fields;
  if (i < 0 || size_t(i) >= f.size())
    fail(BRASS_ERR_INDEX, op->name, ": parameter index ", i, " is out of range");
  if (name) *name = f[i].name.c_str();
  if (type) *type = f[i].type.c_str();
  if (default_value) *default_value = f[i].default_str.c_str();
  if (doc) *doc = f[i].doc.c_str();
  API_END();
}

brass_status brass_params_create(brass_op_t h, int32_t num, const char** keys, const char** vals,
                                 brass_params_t* out) {
  API_BEGIN();
  const Op* op = op_of(h);
  if (!out || num < 0 || (num > 0 && (!keys || !vals)))
    fail(BRASS_ERR_INVALID_ARGUMENT, op->name, ": bad parameter list");
  std::vector<std::pair<std::string, std::string>> kv;
  for (int32_t i = 0; i < num; ++i) {
    if (!keys[i] || !vals[i]) fail(BRASS_ERR_INVALID_ARGUMENT, op->name, ": NULL parameter string");
    kv.emplace_back(keys[i], vals[i]);
  }
  auto* p = new ParamsObj{make_attrs(op, std::move(kv))};
  *out = reinterpret_cast<brass_params_t>(
      HandleTable::get().insert(HandleKind::kParams, p, &delete_obj<ParamsObj>));
  API_END();
}

void brass_params_free(brass_params_t p) {
  if (p) HandleTable::get().release(uintptr_t(p), HandleKind::kParams);
}

brass_status brass_op_invoke(brass_op_t h, int32_t num_inputs, const brass_ndarray_t* inputs,
                             brass_params_t params, int32_t* num_outputs, brass_ndarray_t* outputs) {
  API_BEGIN();
  const Op* op = op_of(h);
  if (params) {
    auto* p = static_cast<ParamsObj*>(HandleTable::get().lookup(uintptr_t(params), HandleKind::kParams, op->name.c_str()));
    if (p->attrs->op != op)
      fail(BRASS_ERR_INVALID_ARGUMENT, op->name, ": parameters were parsed for '", p->attrs->op->name, "'");
    return do_invoke(op, p->attrs, num_inputs, inputs, num_outputs, outputs);
  }
  std::shared_ptr<const NodeAttrs> a;
  {
    std::lock_guard<std::mutex> lk(g_default_mu);
    a = default_attrs(op);
  }
  return do_invoke(op, a, num_inputs, inputs, num_outputs, outputs);
  API_END();
}

brass_ndarray_t brass_op_call1(brass_op_t op, brass_ndarray_t a, brass_params_t params) {
  int32_t n = 1;
  brass_ndarray_t out = nullptr;
  return brass_op_invoke(op, 1, &a, params, &n, &out) == BRASS_OK && n == 1 ? out : nullptr;
}

brass_ndarray_t brass_op_call2(brass_op_t op, brass_ndarray_t a, brass_ndarray_t b, brass_params_t params) {
  brass_ndarray_t in[2] = {a, b};
  int32_t n = 1;
  brass_ndarray_t out = nullptr;
  return brass_op_invoke(op, 2, in, params, &n, &out) == BRASS_OK && n == 1 ? out : nullptr;
}

brass_status brass_op_invoke_str(brass_op_t h, int32_t num_inputs, const brass_ndarray_t* inputs,
                                 int32_t num_params, const char** keys, const char** vals,
                                 int32_t* num_outputs, brass_ndarray_t* outputs) {
  API_BEGIN();
  const Op* op = op_of(h);
  if (num_params < 0 || (num_params > 0 && (!keys || !vals)))
    fail(BRASS_ERR_INVALID_ARGUMENT, op->name, ": bad parameter list");
  std::vector<std::pair<std::string, std::string>> kv;
  for (int32_t i = 0; i < num_params; ++i) {
    if (!keys[i] || !vals[i]) fail(BRASS_ERR_INVALID_ARGUMENT, op->name, ": NULL parameter string");
    kv.emplace_back(keys[i], vals[i]);
  }
  return do_invoke(op, make_attrs(op, std::move(kv)), num_inputs, inputs, num_outputs, outputs);
  API_END();
}

brass_status brass_engine_push_async(void (*fn)(void*, brass_async_t), void* ctx, int32_t num_reads,
                                     const brass_ndarray_t* reads, int32_t num_writes,
                                     const brass_ndarray_t* writes, const char* name) {
  API_BEGIN();
  if (!fn) fail(BRASS_ERR_INVALID_ARGUMENT, "push_async: fn is NULL");
  auto r = arrays_of(num_reads, reads, "push_async");
  auto w = arrays_of(num_writes, writes, "push_async");
  std::vector<VarPtr> rv, wv;
  Device dev = !w.empty() ? w[0].device() : !r.empty() ? r[0].device() : Device::cpu();
  for (auto& a : r) rv.push_back(a.var());
  for (auto& a : w) wv.push_back(a.var());
  // Static storage for the name: the engine keeps a const char*.
  static std::mutex mu;
  static std::vector<std::unique_ptr<std::string>> names;
  const char* nm = "async";
  if (name) {
    std::lock_guard<std::mutex> lk(mu);
    for (auto& s : names) if (*s == name) nm = s->c_str();
    if (nm == std::string("async") && std::string(name) != "async" && names.size() < 4096) {
      names.push_back(std::make_unique<std::string>(name));
      nm = names.back()->c_str();
    }
  }
  // The arrays stay alive until the work completes.
  Engine::get().push_async(
      [fn, ctx, r, w](DoneFn done) {
        auto* obj = new AsyncObj{std::move(done)};
        auto tok = HandleTable::get().insert(HandleKind::kAsync, obj, &delete_obj<AsyncObj>);
        fn(ctx, reinterpret_cast<brass_async_t>(tok));
      },
      std::move(rv), std::move(wv), dev, nm);
  API_END();
}

brass_status brass_async_complete(brass_async_t token, const char* error) {
  API_BEGIN();
  auto* obj = static_cast<AsyncObj*>(HandleTable::get().lookup(uintptr_t(token), HandleKind::kAsync, "async_complete"));
  DoneFn done = std::move(obj->done);
  if (!HandleTable::get().release(uintptr_t(token), HandleKind::kAsync))
    fail(BRASS_ERR_HANDLE, "async_complete: token already completed");
  done(error ? std::make_exception_ptr(Error(BRASS_ERR_INVALID_ARGUMENT, error)) : nullptr);
  API_END();
}

const char* brass_engine_kind(void) { return Engine::get().kind(); }
int32_t brass_num_threads(void) { return thread_pool::num_threads(); }

brass_status brass_random_seed(int64_t seed, brass_device_type dev_type, int32_t dev_id) {
  API_BEGIN();
  random::seed(uint64_t(seed), dev_type, dev_id);
  API_END();
}

brass_status brass_storage_info(brass_device_type dev_type, int32_t dev_id, uint64_t* in_use,
                                uint64_t* pooled) {
  API_BEGIN();
  storage::info(Device{dev_type, dev_id}, in_use, pooled);
  API_END();
}

brass_status brass_storage_release(brass_device_type dev_type, int32_t dev_id) {
  API_BEGIN();
  storage::release(Device{dev_type, dev_id});
  API_END();
}

brass_status brass_kept_info(uint64_t* entries, uint64_t* bytes, uint64_t* made) {
  API_BEGIN();
  const kernel::KeptInfo k = kernel::kept_info();
  if (entries) *entries = k.entries;
  if (bytes) *bytes = k.bytes;
  if (made) *made = k.made;
  API_END();
}

brass_status brass_ndarray_save(const char* fname, int32_t num, const brass_ndarray_t* arrays,
                                const char** names) {
  API_BEGIN();
  if (!fname) fail(BRASS_ERR_INVALID_ARGUMENT, "save: fname is NULL");
  auto v = arrays_of(num, arrays, "save");
  std::vector<std::string> nm;
  if (names)
    for (int32_t i = 0; i < num; ++i) {
      if (!names[i]) fail(BRASS_ERR_INVALID_ARGUMENT, "save: name ", i, " is NULL");
      nm.emplace_back(names[i]);
    }
  save_ndarrays(fname, v, nm);
  API_END();
}

static brass_status wrap_list(NamedArrays l, brass_ndlist_t* out) {
  auto* p = new NDListObj{std::move(l)};
  *out = reinterpret_cast<brass_ndlist_t>(HandleTable::get().insert(HandleKind::kNDList, p, &delete_obj<NDListObj>));
  return BRASS_OK;
}

brass_status brass_ndarray_load(const char* fname, brass_ndlist_t* out) {
  API_BEGIN();
  if (!fname || !out) fail(BRASS_ERR_INVALID_ARGUMENT, "load: NULL argument");
  return wrap_list(load_ndarrays(fname), out);
  API_END();
}

brass_status brass_ndarray_load_bytes(const void* data, size_t nbytes, brass_ndlist_t* out) {
  API_BEGIN();
  if ((!data && nbytes) || !out) fail(BRASS_ERR_INVALID_ARGUMENT, "load_bytes: NULL argument");
  return wrap_list(load_ndarrays_bytes(static_cast<const uint8_t*>(data), nbytes), out);
  API_END();
}

brass_status brass_ndlist_size(brass_ndlist_t l, int32_t* out) {
  API_BEGIN();
  auto* p = static_cast<NDListObj*>(HandleTable::get().lookup(uintptr_t(l), HandleKind::kNDList, "ndlist"));
  if (!out) fail(BRASS_ERR_INVALID_ARGUMENT, "ndlist_size: out is NULL");
  *out = int32_t(p->list.arrays.size());
  API_END();
}

brass_status brass_ndlist_get(brass_ndlist_t l, int32_t i, const char** name, brass_ndarray_t* out) {
  API_BEGIN();
  auto* p = static_cast<NDListObj*>(HandleTable::get().lookup(uintptr_t(l), HandleKind::kNDList, "ndlist"));
  if (i < 0 || size_t(i) >= p->list.arrays.size())
    fail(BRASS_ERR_INDEX, "ndlist_get: index ", i, " is out of range [0, ", p->list.arrays.size(), ")");
  if (name) *name = p->list.names.empty() ? "" : p->list.names[i].c_str();
  if (out) *out = new_handle(p->list.arrays[i]);
  API_END();
}

void brass_ndlist_free(brass_ndlist_t l) {
  if (l) HandleTable::get().release(uintptr_t(l), HandleKind::kNDList);
}

brass_status brass_set_load_limit(uint64_t bytes) {
  API_BEGIN();
  set_load_limit(bytes);
  API_END();
}

// ---- Autograd -------------------------------------------------------------------------

brass_status brass_autograd_set_recording(int32_t on, int32_t* prev) {
  API_BEGIN();
  bool p = autograd::set_recording(on != 0);
  if (prev) *prev = p;
  API_END();
}

brass_status brass_autograd_set_training(int32_t on, int32_t* prev) {
  API_BEGIN();
  bool p = autograd::set_training(on != 0);
  if (prev) *prev = p;
  API_END();
}

brass_status brass_autograd_is_recording(int32_t* out) {
  API_BEGIN();
  *out = autograd::is_recording();
  API_END();
}

brass_status brass_autograd_is_training(int32_t* out) {
  API_BEGIN();
  *out = autograd::is_training();
  API_END();
}

brass_status brass_autograd_mark_variables(int32_t num, const brass_ndarray_t* vars,
                                           const int32_t* grad_reqs, const brass_ndarray_t* grads) {
  API_BEGIN();

  if (num < 0 || (num > 0 && (!vars || !grad_reqs || !grads)))
    fail(BRASS_ERR_INVALID_ARGUMENT, "mark_variables: bad argument lists");
  std::vector<NDArray*> v;
  std::vector<Req> reqs;
  std::vector<NDArray> g;
  for (int32_t i = 0; i < num; ++i) {
    v.push_back(&capi::arr(vars[i], "mark_variables"));
    if (grad_reqs[i] != 0 && grad_reqs[i] != 1 && grad_reqs[i] != 3)
      fail(BRASS_ERR_INVALID_ARGUMENT, "mark_variables: grad_req ", grad_reqs[i],
           " is not one of 0 (null), 1 (write), 3 (add)");
    reqs.push_back(Req(grad_reqs[i]));
    g.push_back(grads[i] ? capi::arr(grads[i], "mark_variables") : NDArray());
  }
  autograd::mark_variables(v, reqs, g);
  API_END();
}

brass_status brass_autograd_backward(int32_t num_heads, const brass_ndarray_t* heads,
                                     const brass_ndarray_t* head_grads, int32_t num_vars,
                                     const brass_ndarray_t* vars, int32_t retain_graph,
                                     int32_t create_graph, int32_t is_train,
                                     brass_ndarray_t* grads_out) {
  API_BEGIN();

  if (num_vars > 0 && !grads_out)
    fail(BRASS_ERR_INVALID_ARGUMENT, "backward: grads_out is NULL while variables are given");
  std::vector<NDArray> h = capi::arrays_of(num_heads, heads, "backward"), hg, v;
  if (head_grads)
    for (int32_t i = 0; i < num_heads; ++i)
      hg.push_back(head_grads[i] ? capi::arr(head_grads[i], "backward") : NDArray());
  v = capi::arrays_of(num_vars, vars, "backward");
  std::vector<NDArray> g = autograd::backward(h, hg, v, retain_graph != 0, create_graph != 0,
                                              is_train != 0);
  for (size_t i = 0; i < g.size(); ++i) grads_out[i] = capi::new_handle(std::move(g[i]));
  API_END();
}

brass_status brass_ndarray_get_grad(brass_ndarray_t h, brass_ndarray_t* out) {
  API_BEGIN();

  NDArray g = autograd::grad_of(capi::arr(h, "grad"));
  *out = g.is_none() ? nullptr : capi::new_handle(std::move(g));
  API_END();
}

brass_status brass_ndarray_detach(brass_ndarray_t h, brass_ndarray_t* out) {
  API_BEGIN();
  *out = new_handle(arr(h, "detach").detached());
  API_END();
}

brass_status brass_ndarray_get_grad_state(brass_ndarray_t h, int32_t* out) {
  API_BEGIN();
  *out = autograd::grad_fresh(arr(h, "grad state")) ? 1 : 0;
  API_END();
}

brass_status brass_ndarray_set_grad_state(brass_ndarray_t h, int32_t state) {
  API_BEGIN();
  autograd::set_grad_fresh(arr(h, "grad state"), state != 0);
  API_END();
}

brass_status brass_autograd_record_function(int32_t num_inputs, const brass_ndarray_t* inputs, int32_t num_outputs,
                                            const brass_ndarray_t* outputs, brass_custom_backward_fn backward,
                                            brass_custom_release_fn release, void* user) {
  // Release exactly once, also when this call fails.
  std::shared_ptr<void> keep(user, [release](void* u) { if (release) release(u); });
  API_BEGIN();
  if (!backward) fail(BRASS_ERR_INVALID_ARGUMENT, "autograd.Function: backward callback is NULL");
  std::vector<NDArray> in = arrays_of(num_inputs, inputs, "autograd.Function");
  std::vector<NDArray> out = arrays_of(num_outputs, outputs, "autograd.Function");
  if (out.empty()) fail(BRASS_ERR_INVALID_ARGUMENT, "autograd.Function: forward returned no arrays");
  if (!autograd::is_recording()) return BRASS_OK;
  autograd::CustomBackward cb;
  cb.run = [backward, user, keep](const std::vector<NDArray>& og, const std::vector<NDArray>& ig) {
    std::vector<brass_ndarray_t> o, i;
    for (auto& a : og) o.push_back(new_handle(a.detached()));
    for (auto& a : ig) i.push_back(new_handle(a.detached()));
    return backward(int32_t(o.size()), o.data(), int32_t(i.size()), i.data(), user) == 0;
  };
  autograd::record_custom(in, out, std::move(cb));
  for (int32_t k = 0; k < num_outputs; ++k) arr(outputs[k]).set_ag(out[size_t(k)].ag_node(), out[size_t(k)].ag_index());
  API_END();
}

}  // extern "C"

