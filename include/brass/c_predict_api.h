/*
** brass/c_predict_api.h: running trained models from C (forward only), in Brass's own terms
** and with MXNet's c_predict_api.h functions, for apps that embed Brass.
**
**   brass_model_t model;
**   brass_model_load_files("lenet-symbol.json", "lenet-0000.params", &model);
**   const char *names[1] = {"data"};
**   int64_t indptr[2] = {0, 4}, dims[4] = {1, 1, 28, 28};
**   brass_predictor_t p;
**   brass_predictor_create(model, BRASS_CPU, 0, 1, names, indptr, dims, 0, NULL, &p);
**   brass_predictor_set_input(p, "data", pixels, sizeof pixels);       // float32 input
**   brass_predictor_forward(p);
**   brass_predictor_get_output(p, 0, scores, sizeof scores);          // waits for it
**   brass_predictor_free(p);
**   brass_model_free(model);
**
** A model is loaded once (the symbol's JSON and the parameter file's bytes, as MXNet's
** save_checkpoint or a Gluon export writes them; names with or without the arg:/aux:
** prefixes) and is read-only afterwards. Predictors made from it share its weights; each is
** meant for one thread at a time, and predictors on different threads run concurrently.
** A weight the graph needs and the file lacks is an error that names it.
**
** Conventions are those of brass/c_api.h: every fallible function returns a brass_status
** (BRASS_OK or an error code), brass_predict_last_error() holds the message of the last
** failure on the calling thread, handles are checked (a freed or foreign one gives
** BRASS_ERR_HANDLE), shapes are int64_t and dtypes MXNet's codes.
**
** The MXNet functions at the end keep MXNet 1.x's exact signatures, so an app written for
** MXNet's c_predict_api.h compiles and links unchanged; they return 0 on success and -1 on
** failure, with the message in MXGetLastError().
*/
#ifndef BRASS_C_PREDICT_API_H_
#define BRASS_C_PREDICT_API_H_

#include <stddef.h>
#include <stdint.h>

#ifndef BRASS_API
#if defined(_WIN32)
#define BRASS_API __declspec(dllexport)
#else
#define BRASS_API __attribute__((visibility("default")))
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* The types below are shared with brass/c_api.h; either header may come first. */
#ifndef BRASS_COMMON_TYPES_DEFINED
#define BRASS_COMMON_TYPES_DEFINED
typedef int32_t brass_status;
enum {
  BRASS_OK = 0,
  BRASS_ERR_INVALID_ARGUMENT = 1,
  BRASS_ERR_SHAPE = 2,
  BRASS_ERR_DTYPE = 3,
  BRASS_ERR_DEVICE = 4,
  BRASS_ERR_INDEX = 5,
  BRASS_ERR_HANDLE = 6,
  BRASS_ERR_IO = 7,
  BRASS_ERR_FORMAT = 8,
  BRASS_ERR_OUT_OF_MEMORY = 9,
  BRASS_ERR_UNSUPPORTED = 10,
  BRASS_ERR_NOT_FOUND = 11,
  BRASS_ERR_INTERNAL = 12
};
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
typedef int32_t brass_device_type;
enum { BRASS_CPU = 1, BRASS_GPU = 2, BRASS_CPU_PINNED = 3 };
#endif /* BRASS_COMMON_TYPES_DEFINED */

/* BRASS_PREDICT_CDEF_BEGIN */
typedef struct brass_model_s *brass_model_t;         /* a loaded symbol and its weights */
typedef struct brass_predictor_s *brass_predictor_t; /* a model bound to input shapes */
typedef struct brass_pred_list_s *brass_pred_list_t; /* a loaded list of named arrays */

/* The message of the last failure on this thread ("" if none). */
BRASS_API const char *brass_predict_last_error(void);
/* This build and machine as a static string: the GEMM kernels' instruction set, threads,
** engine and what the build leaves out, e.g. "cpu isa=neon threads=4 engine=threaded cuda=0
** predict-only dtypes=float32,int32,int64,uint8". */
BRASS_API const char *brass_predict_build_info(void);
/* The most memory a predictor may allocate for its inputs and the values its graph plans
** (activations, outputs; the shared weights are not counted). Creating or reshaping a
** predictor that needs more fails before allocating anything, so a small model file cannot
** ask for terabytes. Loading a model is bounded by it too: the symbol JSON may be at most
** 1/128 of it, and reading a parameter file may allocate at most 8 times the file's size
** plus 1 MiB (only sparse arrays, expanded to dense, can need more than the file holds).
** Default: 8 GiB on 64-bit targets, 1 GiB on 32-bit ones; 0: no limit. Process-wide. */
BRASS_API void brass_predict_set_memory_limit(uint64_t bytes);
BRASS_API uint64_t brass_predict_memory_limit(void);

/* ---- Models ------------------------------------------------------------------------- */
/* From the symbol's JSON text (NUL-terminated) and the bytes of a parameter file. */
BRASS_API brass_status brass_model_load(const char *symbol_json, const void *params, size_t params_size,
                                        brass_model_t *out);
/* From the two files' paths. */
BRASS_API brass_status brass_model_load_files(const char *symbol_path, const char *params_path,
                                              brass_model_t *out);
/* The model's inputs that are not weights (data, labels), in the symbol's argument order;
** names stay valid as long as the model. */
BRASS_API brass_status brass_model_inputs(brass_model_t model, int32_t *num, const char ***names);
/* Frees the model once its last predictor is freed too (predictors keep it alive). */
BRASS_API void brass_model_free(brass_model_t model);

/* ---- Predictors --------------------------------------------------------------------- */
/* Binds the model on a device for the given input shapes: shape i is
** shape_data[shape_indptr[i] .. shape_indptr[i + 1]). Inputs left out get the shapes that
** inference gives them (a label of a SoftmaxOutput head), else the call fails naming them.
** output_names selects internal outputs instead of the model's heads (num_outputs 0: the
** heads): an output's name ("fc1_output") or its node's name ("fc1"). */
BRASS_API brass_status brass_predictor_create(brass_model_t model, brass_device_type dev_type, int32_t dev_id,
                                              int32_t num_inputs, const char **input_names,
                                              const int64_t *shape_indptr, const int64_t *shape_data,
                                              int32_t num_outputs, const char **output_names,
                                              brass_predictor_t *out);
/* A new predictor for new input shapes, sharing the weights (the old one stays valid). */
BRASS_API brass_status brass_predictor_reshape(brass_predictor_t pred, int32_t num_inputs,
                                               const char **input_names, const int64_t *shape_indptr,
                                               const int64_t *shape_data, brass_predictor_t *out);
/* Copies nbytes (exactly the input's size in its dtype) into the input named name. */
BRASS_API brass_status brass_predictor_set_input(brass_predictor_t pred, const char *name, const void *data,
                                                 size_t nbytes);
/* The input's shape and dtype (shape valid until the predictor is freed). */
BRASS_API brass_status brass_predictor_input_info(brass_predictor_t pred, const char *name, int32_t *ndim,
                                                  const int64_t **shape, brass_dtype *dtype);
/* Runs the whole graph (asynchronously: get_output waits). */
BRASS_API brass_status brass_predictor_forward(brass_predictor_t pred);
/* Runs step `step` of the graph alone (steps from 0 in order; the outputs are ready after
** the last); *steps_left: how many remain after this one. */
BRASS_API brass_status brass_predictor_partial_forward(brass_predictor_t pred, int32_t step,
                                                       int32_t *steps_left);
BRASS_API brass_status brass_predictor_num_outputs(brass_predictor_t pred, int32_t *out);
/* Output index's name, shape and dtype (valid until the predictor is freed). */
BRASS_API brass_status brass_predictor_output_info(brass_predictor_t pred, int32_t index, const char **name,
                                                   int32_t *ndim, const int64_t **shape, brass_dtype *dtype);
/* Copies output index (nbytes: exactly its size in its dtype) to data, waiting for it. */
BRASS_API brass_status brass_predictor_get_output(brass_predictor_t pred, int32_t index, void *data,
                                                  size_t nbytes);
BRASS_API void brass_predictor_free(brass_predictor_t pred);

/* ---- Lists of named arrays (a mean image) ------------------------------------------- */
/* Any dtype: entry i's data is in its own dtype. */
BRASS_API brass_status brass_pred_list_load(const void *bytes, size_t size, brass_pred_list_t *out,
                                            int32_t *length);
BRASS_API brass_status brass_pred_list_get(brass_pred_list_t list, int32_t index, const char **name,
                                           const void **data, int32_t *ndim, const int64_t **shape,
                                           brass_dtype *dtype);
BRASS_API void brass_pred_list_free(brass_pred_list_t list);
/* BRASS_PREDICT_CDEF_END */

/* ---- MXNet 1.x's c_predict_api.h ------------------------------------------------------ */
#ifndef BRASS_NO_MXNET_PREDICT_API
typedef uint32_t mx_uint;
typedef float mx_float;
typedef void *PredictorHandle;
typedef void *NDListHandle;
typedef void *NDArrayHandle;
typedef void (*PredMonitorCallback)(const char *, NDArrayHandle, void *);

BRASS_API const char *MXGetLastError(void);
BRASS_API int MXPredCreate(const char *symbol_json_str, const void *param_bytes, int param_size, int dev_type,
                           int dev_id, mx_uint num_input_nodes, const char **input_keys,
                           const mx_uint *input_shape_indptr, const mx_uint *input_shape_data,
                           PredictorHandle *out);
BRASS_API int MXPredCreateEx(const char *symbol_json_str, const void *param_bytes, int param_size, int dev_type,
                             int dev_id, const mx_uint num_input_nodes, const char **input_keys,
                             const mx_uint *input_shape_indptr, const mx_uint *input_shape_data,
                             const mx_uint num_provided_arg_dtypes, const char **provided_arg_dtype_names,
                             const int *provided_arg_dtypes, PredictorHandle *out);
BRASS_API int MXPredCreatePartialOut(const char *symbol_json_str, const void *param_bytes, int param_size,
                                     int dev_type, int dev_id, mx_uint num_input_nodes, const char **input_keys,
                                     const mx_uint *input_shape_indptr, const mx_uint *input_shape_data,
                                     mx_uint num_output_nodes, const char **output_keys, PredictorHandle *out);
BRASS_API int MXPredCreateMultiThread(const char *symbol_json_str, const void *param_bytes, int param_size,
                                      int dev_type, int dev_id, mx_uint num_input_nodes, const char **input_keys,
                                      const mx_uint *input_shape_indptr, const mx_uint *input_shape_data,
                                      int num_threads, PredictorHandle *out);
BRASS_API int MXPredReshape(mx_uint num_input_nodes, const char **input_keys, const mx_uint *input_shape_indptr,
                            const mx_uint *input_shape_data, PredictorHandle handle, PredictorHandle *out);
BRASS_API int MXPredGetOutputShape(PredictorHandle handle, mx_uint index, mx_uint **shape_data,
                                   mx_uint *shape_ndim);
BRASS_API int MXPredGetOutputType(PredictorHandle handle, mx_uint out_index, int *out_dtype);
BRASS_API int MXPredSetInput(PredictorHandle handle, const char *key, const mx_float *data, mx_uint size);
BRASS_API int MXPredForward(PredictorHandle handle);
BRASS_API int MXPredPartialForward(PredictorHandle handle, int step, int *step_left);
BRASS_API int MXPredGetOutput(PredictorHandle handle, mx_uint index, mx_float *data, mx_uint size);
BRASS_API int MXPredFree(PredictorHandle handle);
BRASS_API int MXNDListCreate(const char *nd_file_bytes, int nd_file_size, NDListHandle *out, mx_uint *out_length);
BRASS_API int MXNDListGet(NDListHandle handle, mx_uint index, const char **out_key, const mx_float **out_data,
                          const mx_uint **out_shape, mx_uint *out_ndim);
BRASS_API int MXNDListFree(NDListHandle handle);
#endif /* BRASS_NO_MXNET_PREDICT_API */

#ifdef __cplusplus
}
#endif

#endif /* BRASS_C_PREDICT_API_H_ */
