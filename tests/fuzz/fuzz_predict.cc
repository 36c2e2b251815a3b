// libFuzzer target over the predictor's load-and-run entry: one input holds a symbol's JSON and
// a parameter file's bytes, and the shape of each data input; the model is loaded, bound, run
// and its outputs read. Any error code is fine; a crash, a sanitizer report, a hang or an
// allocation past libFuzzer's limit is a bug. Built and run by tests/python/test_fuzz.py:
//   clang++ -std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined -DBRASS_NO_THREADS \
//       brass_predict.cc fuzz_predict.cc -o fuzz_predict
//
// Input layout: 4 bytes of dims for the data inputs (each 1..16: an (a, b, c, d) shape), a
// 4-byte little-endian length n, n bytes of JSON, then the parameter file.
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "brass_predict.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 8) return 0;
  brass_predict_set_memory_limit(uint64_t(256) << 20);
  int64_t dims[4];
  for (int i = 0; i < 4; ++i) dims[i] = 1 + (data[i] % 16);
  uint32_t n = uint32_t(data[4]) | uint32_t(data[5]) << 8 | uint32_t(data[6]) << 16 | uint32_t(data[7]) << 24;
  data += 8;
  size -= 8;
  if (n > size) n = uint32_t(size);
  std::string json(reinterpret_cast<const char*>(data), n);
  std::vector<uint8_t> params(data + n, data + size);
  brass_model_t model;
  if (brass_model_load(json.c_str(), params.data(), params.size(), &model) != BRASS_OK) return 0;
  int32_t num_inputs = 0;
  const char** names = nullptr;
  if (brass_model_inputs(model, &num_inputs, &names) == BRASS_OK && num_inputs > 0) {
    // The first input gets the 4-D shape; the others (labels) are inferred.
    int64_t indptr[2] = {0, 4};
    brass_predictor_t pred;
    if (brass_predictor_create(model, BRASS_CPU, 0, 1, names, indptr, dims, 0, nullptr, &pred) == BRASS_OK) {
      int32_t ndim;
      const int64_t* shape;
      brass_dtype dtype;
      if (brass_predictor_input_info(pred, names[0], &ndim, &shape, &dtype) == BRASS_OK && dtype == BRASS_FLOAT32) {
        std::vector<float> x(size_t(dims[0] * dims[1] * dims[2] * dims[3]), 0.5f);
        brass_predictor_set_input(pred, names[0], x.data(), x.size() * sizeof(float));
      }
      if (brass_predictor_forward(pred) == BRASS_OK) {
        int32_t outs = 0;
        brass_predictor_num_outputs(pred, &outs);
        for (int32_t i = 0; i < outs; ++i) {
          const char* oname;
          if (brass_predictor_output_info(pred, i, &oname, &ndim, &shape, &dtype) != BRASS_OK) continue;
          uint64_t count = 1;
          for (int32_t d = 0; d < ndim; ++d) count *= uint64_t(shape[d]);
          static const size_t kSize[] = {4, 8, 2, 1, 4, 1, 8, 1, 2, 2, 4, 8, 2};
          if (dtype < 0 || dtype > 12 || count > (uint64_t(64) << 20)) continue;
          std::vector<uint8_t> out(size_t(count) * kSize[dtype]);
          brass_predictor_get_output(pred, i, out.data(), out.size());
        }
      }
      brass_predictor_free(pred);
    }
  }
  brass_model_free(model);
  return 0;
}
