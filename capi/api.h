// What the C API's source files share: the exception-to-status boundary and handle lookups.
#pragma once

#include <string>
#include <vector>

#include "brass/c_api.h"
#include "capi/handles.h"
#include "ndarray/ndarray.h"
#include "op/operator.h"

namespace brass {
namespace capi {

extern thread_local std::string t_last_error;
brass_status set_error(brass_status code, const char* msg);
// This build and machine in words ("cpu isa=avx512 threads=2 engine=threaded cuda=0", and what
// a predictor build leaves out), for brass_build_info and brass_predict_build_info.
const char* build_info();
template <class T> void delete_obj(void* p) { delete static_cast<T*>(p); }
NDArray& arr(brass_ndarray_t h, const char* what = "array");
brass_ndarray_t new_handle(NDArray a);
const Op* op_of(brass_op_t h);
std::vector<NDArray> arrays_of(int32_t n, const brass_ndarray_t* h, const char* what);

}  // namespace capi
}  // namespace brass

// Every entry point: API_BEGIN(); ... API_END(); turns exceptions into a status code and a
// thread-local message.
#define API_BEGIN() try {
#define API_END()                                                           \
  }                                                                         \
  catch (const ::brass::Error& e) {                                         \
    return ::brass::capi::set_error(e.code(), e.what());                    \
  }                                                                         \
  catch (const std::bad_alloc&) {                                           \
    return ::brass::capi::set_error(BRASS_ERR_OUT_OF_MEMORY, "out of memory"); \
  }                                                                         \
  catch (const std::exception& e) {                                         \
    return ::brass::capi::set_error(BRASS_ERR_INTERNAL, e.what());          \
  }                                                                         \
  catch (...) {                                                             \
    return ::brass::capi::set_error(BRASS_ERR_INTERNAL, "unknown error");   \
  }                                                                         \
  return BRASS_OK;
