/*
** brass/c_api.h: the public C API of Brass, a deep-learning engine in the line of MXNet.
**
** A short tour:
**
**   brass_ndarray_t a, b, c = NULL;
**   int64_t shape[2] = {2, 3};
**   brass_ndarray_create(shape, 2, BRASS_FLOAT32, BRASS_CPU, 0, &a);   // uninitialized
**   brass_ndarray_copy_from(a, host_data, sizeof host_data);           // fill it
**   brass_op_t add;
**   brass_op_find("broadcast_add", &add);
**   brass_ndarray_t ins[2] = {a, b};
**   int32_t nout = 1;
**   brass_op_invoke(add, 2, ins, 0, NULL, NULL, &nout, &c);             // asynchronous
**   brass_ndarray_copy_to(c, host_out, sizeof host_out);               // waits for c
**   brass_ndarray_free(a); ...
**
** Conventions:
** - Every fallible function returns a brass_status: BRASS_OK (0) or one of the error codes
**   below. The message of the last failure is in brass_last_error(), a thread-local string
**   valid until the next Brass call on the same thread.
** - Handles are opaque and typed. Each is checked against a table of live handles, so a freed
**   or foreign handle gives BRASS_ERR_HANDLE instead of touching freed memory.
** - Work on arrays is asynchronous: a call that launches work returns once the work is
**   scheduled. An error inside that work is stored on the arrays it writes and returned by the
**   next call that waits on any of them (copy_to, wait_to_read, brass_wait_all).
** - Every function is thread-safe unless its comment says otherwise.
** - Shapes are int64_t; dtypes and device types use MXNet's integer codes.
**
** The declarations between the BRASS_CDEF markers are also read by the Python binding
** (cffi), so they use no macros.
*/
#ifndef BRASS_C_API_H_
#define BRASS_C_API_H_

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#define BRASS_API __declspec(dllexport)
#else
#define BRASS_API __attribute__((visibility("default")))
#endif

#define BRASS_VERSION_MAJOR 0
#define BRASS_VERSION_MINOR 1
#define BRASS_VERSION_PATCH 0
/* major * 10000 + minor * 100 + patch */
#define BRASS_VERSION_NUMBER 100
#define BRASS_VERSION_STRING "0.1.0"

#ifdef __cplusplus
extern "C" {
#endif

/* The types below are shared with brass/c_predict_api.h; either header may come first. */
#ifndef BRASS_COMMON_TYPES_DEFINED
#define BRASS_COMMON_TYPES_DEFINED
/* BRASS_CDEF_COMMON_BEGIN */
typedef int32_t brass_status;

/* Status codes. Fixed numbers, only ever appended to. */
enum {
  BRASS_OK = 0,
  BRASS_ERR_INVALID_ARGUMENT = 1, /* a bad value: parameter, axis, argument count */
  BRASS_ERR_SHAPE = 2,            /* shapes that do not fit together */
  BRASS_ERR_DTYPE = 3,            /* unsupported or mismatched dtype */
  BRASS_ERR_DEVICE = 4,           /* unknown, unavailable or mismatched device */
  BRASS_ERR_INDEX = 5,            /* index out of bounds */
  BRASS_ERR_HANDLE = 6,           /* NULL, freed, foreign or wrongly typed handle */
  BRASS_ERR_IO = 7,               /* a file could not be read or written */
  BRASS_ERR_FORMAT = 8,           /* malformed file or serialized data */
  BRASS_ERR_OUT_OF_MEMORY = 9,    /* an allocation failed or would pass a set limit */
  BRASS_ERR_UNSUPPORTED = 10,     /* valid request this build or device cannot do */
  BRASS_ERR_NOT_FOUND = 11,       /* unknown operator, parameter or name */
  BRASS_ERR_INTERNAL = 12         /* a bug in Brass; please report it */
};

/* Element types: MXNet's codes, used in its file formats. */
typedef int32_t brass_dtype;
enum {
  BRASS_FLOAT32 = 0,
  BRASS_FLOAT64 = 1,
  BRASS_FLOAT16 = 2,
  BRASS_UINT8 = 3,
  BRASS_INT32 = 4,
  BRASS_INT8 = 5,
  BRASS_INT64 = 6,
  BRASS_BOOL = 7,
  BRASS_INT16 = 8,
  BRASS_UINT16 = 9,
  BRASS_UINT32 = 10,
  BRASS_UINT64 = 11,
  BRASS_BFLOAT16 = 12
};

/* Device types: MXNet's codes. A device is a (type, id) pair. */
typedef int32_t brass_device_type;
enum { BRASS_CPU = 1, BRASS_GPU = 2, BRASS_CPU_PINNED = 3 };
/* BRASS_CDEF_COMMON_END */
#endif /* BRASS_COMMON_TYPES_DEFINED */

/* BRASS_CDEF_BEGIN */
typedef struct brass_ndarray_s *brass_ndarray_t;   /* an n-dimensional array */
typedef struct brass_op_s *brass_op_t;             /* a registered operator; never freed */
typedef struct brass_params_s *brass_params_t;     /* parsed operator parameters */
typedef struct brass_ndlist_s *brass_ndlist_t;     /* a loaded list of named arrays */
typedef struct brass_async_s *brass_async_t;       /* completion token of asynchronous work */
typedef struct brass_symbol_s *brass_symbol_t;     /* a symbolic graph's outputs */
typedef struct brass_executor_s *brass_executor_t; /* a symbol bound to arrays */
typedef struct brass_graph_s *brass_graph_t;       /* a symbol prepared to run on any arrays */

enum { BRASS_MAX_NDIM = 32 };

/* ---- Library ------------------------------------------------------------------------- */

/* BRASS_VERSION_NUMBER of the library actually loaded; compare with the header's. */
BRASS_API int32_t brass_version_number(void);
/* Version string and source id (a hash of the sources the library was built from). Static. */
BRASS_API const char *brass_version_string(void);
BRASS_API const char *brass_source_id(void);
/* The message of the last failed call on this thread ("" if none). */
BRASS_API const char *brass_last_error(void);
/* Features of this build and machine as a static string, e.g. "cpu isa=avx512 threads=2". */
BRASS_API const char *brass_build_info(void);
/* Number of GPUs usable by this build (0 without CUDA or without a GPU). */
BRASS_API brass_status brass_gpu_count(int32_t *out);

/* ---- Arrays -------------------------------------------------------------------------- */

/*
** brass_ndarray_create: allocate an uninitialized array.
**   shape [in]  ndim extents (ndim 0 makes a 0-d array); copied, not kept.
**   out   [out] new handle owned by the caller; release with brass_ndarray_free().
*/
BRASS_API brass_status brass_ndarray_create(const int64_t *shape, int32_t ndim, brass_dtype dtype,
                                            brass_device_type dev_type, int32_t dev_id,
                                            brass_ndarray_t *out);
/* Release a handle. The memory returns to the pool once no pending work and no view uses it.
** NULL and already freed handles are harmless no-ops. */
BRASS_API void brass_ndarray_free(brass_ndarray_t arr);
/*
** brass_ndarray_info: everything Python needs to know about an array, in one call.
**   shape [out] room for BRASS_MAX_NDIM extents (may be NULL).
*/
BRASS_API brass_status brass_ndarray_info(brass_ndarray_t arr, int32_t *ndim, int64_t *shape,
                                          brass_dtype *dtype, brass_device_type *dev_type,
                                          int32_t *dev_id);
/* Copy nbytes from host memory into the array (nbytes must equal its size in bytes).
** Waits for pending work on the array first; the copy is done when the call returns. */
BRASS_API brass_status brass_ndarray_copy_from(brass_ndarray_t arr, const void *data,
                                               size_t nbytes);
/* Copy the array into host memory (nbytes must equal its size in bytes); waits for it. */
BRASS_API brass_status brass_ndarray_copy_to(brass_ndarray_t arr, void *data, size_t nbytes);
/* Wait until all pending writes (wait_to_read) or all pending work (wait_to_write) on the
** array are done; returns the error of failed work that wrote it, and clears it. */
BRASS_API brass_status brass_ndarray_wait_to_read(brass_ndarray_t arr);
BRASS_API brass_status brass_ndarray_wait_to_write(brass_ndarray_t arr);
/* Wait for all work on all devices; returns (and clears) the first stored error. */
BRASS_API brass_status brass_wait_all(void);
/* Address of the first element, after waiting for all pending work on the array. CPU arrays
** only. Valid while the handle (or any view of the same memory) is alive. */
BRASS_API brass_status brass_ndarray_data(brass_ndarray_t arr, void **out);
/* A view sharing memory: rows [begin, end) along the first axis. */
BRASS_API brass_status brass_ndarray_slice(brass_ndarray_t arr, int64_t begin, int64_t end,
                                           brass_ndarray_t *out);
/* A view sharing memory with another shape of the same size (no special values here). */
BRASS_API brass_status brass_ndarray_reshape(brass_ndarray_t arr, const int64_t *shape,
                                             int32_t ndim, brass_ndarray_t *out);
/*
** brass_ndarray_from_external: wrap memory owned elsewhere (zero copy, e.g. DLPack).
**   data     [in] contiguous, C-order, aligned to the dtype's size; must stay valid until
**                 deleter(deleter_ctx) is called, which happens once, from any thread, when
**                 the last user of the memory is gone. deleter may be NULL.
*/
BRASS_API brass_status brass_ndarray_from_external(void *data, const int64_t *shape, int32_t ndim,
                                                   brass_dtype dtype, brass_device_type dev_type,
                                                   int32_t dev_id, void (*deleter)(void *),
                                                   void *deleter_ctx, brass_ndarray_t *out);
/* Number of live array handles (for leak tests). */
BRASS_API brass_status brass_ndarray_live_count(int64_t *out);

/* ---- Operators ----------------------------------------------------------------------- */

/* Number of registered operators, and the name of the i-th (static string). */
BRASS_API brass_status brass_op_count(int32_t *out);
BRASS_API brass_status brass_op_name(int32_t index, const char **out);
/* Find an operator by name or alias (MXNet's aliases included). */
BRASS_API brass_status brass_op_find(const char *name, brass_op_t *out);
/*
** brass_op_info: describe an operator. All strings are static.
**   num_inputs  [out] -1 when variadic (then the count comes from a parameter, e.g. num_args).
**   input_names [out] comma-separated input names.
**   num_outputs [out] visible outputs (for ops with a variable count: with default params).
**   aliases     [out] comma-separated other names (MXNet's), "" if none.
*/
BRASS_API brass_status brass_op_info(brass_op_t op, const char **name, const char **doc,
                                     int32_t *num_inputs, const char **input_names,
                                     int32_t *num_outputs, int32_t *num_params,
                                     const char **aliases);
/* Which devices an operator has kernels for in this build: bit 0 (1) the CPU, bit 1 (2) CUDA
** GPUs. */
BRASS_API brass_status brass_op_devices(brass_op_t op, int32_t *mask);
/* Properties: 1 element-wise (fusable), 2 its CPU kernel can add into its outputs, 4 draws
** random numbers, 8 mutates inputs (auxiliary states). */
BRASS_API brass_status brass_op_flags(brass_op_t op, int32_t *flags);
/* Describe parameter i of an operator: name, type (e.g. "int", "float", "Shape",
** "{'relu','tanh'}"), default as a string ("" when required), doc. Static strings. */
BRASS_API brass_status brass_op_param_info(brass_op_t op, int32_t i, const char **name,
                                           const char **type, const char **default_value,
                                           const char **doc);
/*
** brass_params_create: parse string parameters once, for reuse in many invocations.
**   keys, vals [in] num pairs of NUL-terminated strings, MXNet's syntax ("(2, 3)", "True").
**   out        [out] owned by the caller; release with brass_params_free().
*/
BRASS_API brass_status brass_params_create(brass_op_t op, int32_t num, const char **keys,
                                           const char **vals, brass_params_t *out);
BRASS_API void brass_params_free(brass_params_t params);
/*
** brass_op_invoke: run an operator on arrays (imperative, asynchronous).
**   params      [in]     parsed parameters, or NULL for the defaults.
**   num_outputs [in,out] in: room in outputs; out: the number of outputs.
**   outputs     [in,out] either all NULL (new arrays are made, owned by the caller) or all
**                        given (the results are written into them: their shapes and dtypes
**                        must match).
*/
BRASS_API brass_status brass_op_invoke(brass_op_t op, int32_t num_inputs,
                                       const brass_ndarray_t *inputs, brass_params_t params,
                                       int32_t *num_outputs, brass_ndarray_t *outputs);
/* brass_op_invoke with string parameters (parsed on every call). */
BRASS_API brass_status brass_op_invoke_str(brass_op_t op, int32_t num_inputs,
                                           const brass_ndarray_t *inputs, int32_t num_params,
                                           const char **keys, const char **vals,
                                           int32_t *num_outputs, brass_ndarray_t *outputs);

/*
** brass_op_call1 / brass_op_call2: the fast path for operators with one output and one or
** two inputs (element-wise math, arithmetic): the new output array (owned by the caller), or
** NULL on failure, with the message in brass_last_error(). params may be NULL (defaults).
*/
BRASS_API brass_ndarray_t brass_op_call1(brass_op_t op, brass_ndarray_t a, brass_params_t params);
BRASS_API brass_ndarray_t brass_op_call2(brass_op_t op, brass_ndarray_t a, brass_ndarray_t b,
                                         brass_params_t params);

/* ---- Engine -------------------------------------------------------------------------- */

/*
** brass_engine_push_async: schedule foreign work ordered with everything else on the arrays.
**   fn       [in] called once, on an engine thread, when all earlier writes to `reads` and
**                 all earlier work on `writes` are done; it must (now or later, from any
**                 thread) call brass_async_complete(token, NULL or an error message).
**   reads, writes [in] arrays the work reads and writes; the handles are not kept.
** Later work on `writes` waits for the completion. The call returns at once.
*/
BRASS_API brass_status brass_engine_push_async(void (*fn)(void *ctx, brass_async_t token),
                                               void *ctx, int32_t num_reads,
                                               const brass_ndarray_t *reads, int32_t num_writes,
                                               const brass_ndarray_t *writes, const char *name);
/* Signal completion of async work. error: NULL for success, else a message stored on the
** written arrays. Call exactly once per token; the token is dead afterwards. */
BRASS_API brass_status brass_async_complete(brass_async_t token, const char *error);
/* Engine kind in use: "threaded" or "naive" (chosen by BRASS_ENGINE at load). */
BRASS_API const char *brass_engine_kind(void);
/* Threads in the shared CPU pool (cores, or BRASS_NUM_THREADS). */
BRASS_API int32_t brass_num_threads(void);

/* ---- Random numbers ------------------------------------------------------------------ */

/* Seed the generator of every device (dev_type < 0) or of one device. */
BRASS_API brass_status brass_random_seed(int64_t seed, brass_device_type dev_type, int32_t dev_id);

/* ---- Memory -------------------------------------------------------------------------- */

/* Bytes in use by live arrays and bytes held free in the pool, for one device. */
BRASS_API brass_status brass_storage_info(brass_device_type dev_type, int32_t dev_id,
                                          uint64_t *in_use, uint64_t *pooled);
/* Return the pool's free blocks of a device to the system. */
BRASS_API brass_status brass_storage_release(brass_device_type dev_type, int32_t dev_id);
/* What inference keeps prepared on the CPU (convolution filters packed for the GEMM or taken to
** Winograd's domain, kept while the weights are unchanged; BRASS_PACK_CACHE_MB caps it): values
** kept, their bytes, and how many values have been prepared since the process started. */
BRASS_API brass_status brass_kept_info(uint64_t *entries, uint64_t *bytes, uint64_t *made);

/* ---- Files (MXNet's NDArray list format, .params) -------------------------------------- */

/*
** brass_ndarray_save: write arrays (with names, or names == NULL for an unnamed list) to a
** file in MXNet's format, atomically (temporary file, then rename). Waits for the arrays.
** Records are V2 (what MXNet 1.x reads); a file holding a 0-d or zero-size array is written
** all in V3, which MXNet 1.x reads under numpy shape semantics (npx.set_np()).
*/
BRASS_API brass_status brass_ndarray_save(const char *fname, int32_t num,
                                          const brass_ndarray_t *arrays, const char **names);
/* Load a file (or a buffer) written by MXNet or Brass. Every file is treated as hostile. */
BRASS_API brass_status brass_ndarray_load(const char *fname, brass_ndlist_t *out);
BRASS_API brass_status brass_ndarray_load_bytes(const void *data, size_t nbytes,
                                                brass_ndlist_t *out);
/* Entries of a loaded list: count; name of entry i ("" for unnamed lists; valid while the
** list lives) and a new array handle owned by the caller. */
BRASS_API brass_status brass_ndlist_size(brass_ndlist_t list, int32_t *out);
BRASS_API brass_status brass_ndlist_get(brass_ndlist_t list, int32_t i, const char **name,
                                        brass_ndarray_t *out);
BRASS_API void brass_ndlist_free(brass_ndlist_t list);
/* Upper bound on the bytes one load may allocate (default 16 GiB). */
BRASS_API brass_status brass_set_load_limit(uint64_t bytes);
/* ---- Autograd (MXNet 1.x semantics) ----------------------------------------------------- */

/* Per-thread switches: record operations for backward, and the training flag (Dropout,
** BatchNorm). The setters return the previous value in prev (may be NULL). */
BRASS_API brass_status brass_autograd_set_recording(int32_t on, int32_t *prev);
BRASS_API brass_status brass_autograd_set_training(int32_t on, int32_t *prev);
BRASS_API brass_status brass_autograd_is_recording(int32_t *out);
BRASS_API brass_status brass_autograd_is_training(int32_t *out);
/*
** brass_autograd_mark_variables: makes vars[i] a variable of later recorded graphs; backward
** writes (grad_reqs[i] = 1), adds (3) or skips (0) its gradient into grads[i] (the variable's
** shape and device; may be NULL when grad_reqs[i] is 0).
*/
BRASS_API brass_status brass_autograd_mark_variables(int32_t num, const brass_ndarray_t *vars,
                                                     const int32_t *grad_reqs,
                                                     const brass_ndarray_t *grads);
/*
** brass_autograd_backward: gradients of the heads, computed under autograd.record().
**   head_grads   NULL, or one array per head (a NULL entry: ones).
**   num_vars     0: into the gradient arrays of every marked variable the heads depend on;
**                else the gradients with respect to vars, returned in grads_out (new handles).
**   retain_graph keep the recorded values for another backward.
**   create_graph record the gradient computation too (higher derivatives).
**   is_train     the training flag while computing the gradients.
*/
BRASS_API brass_status brass_autograd_backward(int32_t num_heads, const brass_ndarray_t *heads,
                                               const brass_ndarray_t *head_grads,
                                               int32_t num_vars, const brass_ndarray_t *vars,
                                               int32_t retain_graph, int32_t create_graph,
                                               int32_t is_train, brass_ndarray_t *grads_out);
/* The gradient array of a marked variable (a new handle to the same memory), or NULL in *out
** when the array is not marked (or has grad_req 'null'). */
BRASS_API brass_status brass_ndarray_get_grad(brass_ndarray_t arr, brass_ndarray_t *out);
/* A new handle to the same memory, outside any recorded graph. */
BRASS_API brass_status brass_ndarray_detach(brass_ndarray_t arr, brass_ndarray_t *out);
/* Whether a backward has written the gradient of a marked variable since the state was last
** set to 0 (0 for an array that is not marked); set fails for an array that is not marked. */
BRASS_API brass_status brass_ndarray_get_grad_state(brass_ndarray_t arr, int32_t *out);
BRASS_API brass_status brass_ndarray_set_grad_state(brass_ndarray_t arr, int32_t state);
/*
** brass_autograd_record_function: records outputs = f(inputs) for a function computed outside
** the graph (autograd.Function), when recording and some input is recorded. At backward,
** backward(num_outputs, head gradients, num_inputs, input gradients, user) is called on the
** thread running backward with new handles (the callee frees them) and must write the input
** gradients (allocated with the inputs' shapes and dtypes); it returns 0, or non-zero on
** failure. release(user) is called once when the recorded graph is freed (or at once when
** nothing was recorded), possibly on another thread.
*/
typedef int32_t (*brass_custom_backward_fn)(int32_t num_ograds, brass_ndarray_t *ograds, int32_t num_igrads,
                                            brass_ndarray_t *igrads, void *user);
typedef void (*brass_custom_release_fn)(void *user);
BRASS_API brass_status brass_autograd_record_function(int32_t num_inputs, const brass_ndarray_t *inputs,
                                                      int32_t num_outputs, const brass_ndarray_t *outputs,
                                                      brass_custom_backward_fn backward,
                                                      brass_custom_release_fn release, void *user);

/* ---- Symbols (MXNet 1.x semantics and JSON format) ----------------------------------------
** Strings and arrays returned by the calls below stay valid until the next call of the same
** function on the same thread. Symbols are immutable except for attributes (set_attr). */
/* A variable with attributes (__shape__, __dtype__, __init__, __lr_mult__, ... or user keys). */
BRASS_API brass_status brass_symbol_variable(const char *name, int32_t num_attrs, const char **keys,
                                             const char **vals, brass_symbol_t *out);
/*
** brass_symbol_compose: op applied to symbols; args by position, kwargs by input name; inputs
** given by neither become variables "<name>_<input>". Params as strings (hidden __keys__ kept).
*/
BRASS_API brass_status brass_symbol_compose(brass_op_t op, const char *name, int32_t num_params,
                                            const char **keys, const char **vals, int32_t num_args,
                                            const brass_symbol_t *args, int32_t num_kwargs,
                                            const char **kw_names, const brass_symbol_t *kw_args,
                                            brass_symbol_t *out);
BRASS_API void brass_symbol_free(brass_symbol_t sym);
/* A copy of sym with its variables named names[i] replaced by the one-output symbols
** inputs[i] (MXNet's Symbol.__call__ / _compose). */
BRASS_API brass_status brass_symbol_substitute(brass_symbol_t sym, int32_t num, const char **names,
                                               const brass_symbol_t *inputs, brass_symbol_t *out);
/* A deep copy (nodes and attributes are not shared with sym). */
BRASS_API brass_status brass_symbol_copy(brass_symbol_t sym, brass_symbol_t *out);
/* The outputs of several symbols as one. */
BRASS_API brass_status brass_symbol_group(int32_t num, const brass_symbol_t *syms, brass_symbol_t *out);
BRASS_API brass_status brass_symbol_num_outputs(brass_symbol_t sym, int32_t *out);
BRASS_API brass_status brass_symbol_get_output(brass_symbol_t sym, int32_t index, brass_symbol_t *out);
/* which: 0 internals (every node's visible outputs), 1 children (inputs of the output nodes). */
BRASS_API brass_status brass_symbol_related(brass_symbol_t sym, int32_t which, brass_symbol_t *out);
/* which: 0 arguments, 1 outputs, 2 auxiliary states, 3 inputs (arguments then aux, graph order). */
BRASS_API brass_status brass_symbol_list(brass_symbol_t sym, int32_t which, int32_t *num,
                                         const char ***names);
/* The name of a one-output symbol's node; *found = 0 for groups. */
BRASS_API brass_status brass_symbol_name(brass_symbol_t sym, const char **name, int32_t *found);
/* An attribute of a one-output symbol's node (*found = 0 when absent). */
BRASS_API brass_status brass_symbol_get_attr(brass_symbol_t sym, const char *key, const char **value,
                                             int32_t *found);
BRASS_API brass_status brass_symbol_set_attr(brass_symbol_t sym, const char *key, const char *value);
/* Attributes as 2*num strings key, value: of the output node (recursive = 0) or of every node
** with keys "<node>$<key>" (recursive = 1), MXNet's list_attr / attr_dict. */
BRASS_API brass_status brass_symbol_list_attr(brass_symbol_t sym, int32_t recursive, int32_t *num,
                                              const char ***kv);
BRASS_API brass_status brass_symbol_to_json(brass_symbol_t sym, const char **json);
BRASS_API brass_status brass_symbol_from_json(const char *json, brass_symbol_t *out);
/*
** brass_symbol_infer_shape: shapes of arguments, outputs and auxiliary states from known
** shapes by name (ndims[i] extents each, concatenated in dims; -1 or 0 in an extent: unknown).
** Out: for group g in (args, outputs, aux): counts[g] shapes, out_ndims[g][k] (-1: unknown),
** out_dims[g] their extents concatenated (-1: unknown). *complete = 1 when all are known.
*/
BRASS_API brass_status brass_symbol_infer_shape(brass_symbol_t sym, int32_t num, const char **names,
                                                const int32_t *ndims, const int64_t *dims,
                                                int32_t *complete, int32_t *counts,
                                                const int32_t **out_ndims, const int64_t **out_dims);
/* Dtypes likewise (codes; -1 unknown). */
BRASS_API brass_status brass_symbol_infer_type(brass_symbol_t sym, int32_t num, const char **names,
                                               const int32_t *types, int32_t *complete,
                                               int32_t *counts, const int32_t **out_types);

/* ---- Cached graphs (hybridized blocks) ----------------------------------------------------
** A symbol run on arrays given per call (every variable, in list_inputs order) by executors
** kept per input shapes, dtypes and device (planned memory, fused element-wise chains); the
** outputs are new arrays. Under autograd.record(), when some input is recorded, a call is one
** recorded node whose backward runs the executor's backward (retain_graph works; create_graph
** through it fails, naming the hybridized block). */
BRASS_API brass_status brass_graph_create(brass_symbol_t sym, brass_graph_t *out);
BRASS_API void brass_graph_free(brass_graph_t graph);
/* *num_outputs in: room, out: the symbol's output count; new handles in outputs. */
BRASS_API brass_status brass_graph_run(brass_graph_t graph, int32_t num_inputs, const brass_ndarray_t *inputs,
                                       int32_t *num_outputs, brass_ndarray_t *outputs);
/* How many executors the graph keeps (one per input signature, and one per call still held by
** a recorded graph). */
BRASS_API brass_status brass_graph_num_executors(brass_graph_t graph, int32_t *out);

/* ---- Executors ------------------------------------------------------------------------- */
/*
** brass_executor_bind: sym bound to arrays on one device: args and aux in list order;
** grads[i] (NULL allowed where reqs[i] is 0) receives argument i's gradient with write
** request reqs[i] (0 null, 1 write, 3 add). Fails naming the argument on a missing array or a
** shape, dtype or device that does not fit.
*/
BRASS_API brass_status brass_executor_bind(brass_symbol_t sym, brass_device_type dev_type, int32_t dev_id,
                                           int32_t num_args, const brass_ndarray_t *args,
                                           const brass_ndarray_t *grads, const int32_t *reqs,
                                           int32_t num_aux, const brass_ndarray_t *aux,
                                           brass_executor_t *out);
BRASS_API void brass_executor_free(brass_executor_t exe);
BRASS_API brass_status brass_executor_forward(brass_executor_t exe, int32_t is_train);
/* head_grads: one per output (num = outputs), or num = 0 for ones. */
BRASS_API brass_status brass_executor_backward(brass_executor_t exe, int32_t num,
                                               const brass_ndarray_t *head_grads);
/* The outputs of the last forward: *num in: room, out: count; new handles in out. */
BRASS_API brass_status brass_executor_outputs(brass_executor_t exe, int32_t *num, brass_ndarray_t *out);
/* The memory plan: bytes of the values that are planned (not bound arrays, outputs or
** gradients) if each had its own buffer, the bytes of the shared buffers, and how many values
** took over an input's buffer in place, and how many groups of element-wise ops run fused.
** At bind: BRASS_MEMORY_PLAN=0 turns sharing off, BRASS_BACKWARD_DO_MIRROR=1 recomputes
** forward values in backward (sublinear memory), BRASS_FUSE=0 turns fusion off. */
BRASS_API brass_status brass_executor_memory(brass_executor_t exe, int64_t *naive_bytes, int64_t *planned_bytes,
                                             int32_t *inplace, int32_t *fused);
/* How many values are summed into another's buffer instead of through add_n (the parts of a
** sum whose ops can add into their output; CPU; BRASS_ADD_TO=0 turns it off at bind). */
BRASS_API brass_status brass_executor_addto(brass_executor_t exe, int32_t *out);
/* Called after each op of forward/backward with the output's name and a new handle to its
** value (the callee frees it); NULL removes the callback. Runs on the calling thread. */
typedef void (*brass_monitor_fn)(const char *name, brass_ndarray_t value, void *user);
BRASS_API brass_status brass_executor_set_monitor(brass_executor_t exe, brass_monitor_fn fn, void *user);

/* BRASS_CDEF_END */

#ifdef __cplusplus
}
#endif

#endif /* BRASS_C_API_H_ */
