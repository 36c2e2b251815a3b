// dtype tables: sizes and names by MXNet code.
#include "base/dtype.h"

namespace brass {

namespace dtype_tables {
struct Entry {
  const char* name;
  size_t size;
};
const Entry kEntries[kNumDTypes] = {
    {"float32", 4}, {"float64", 8}, {"float16", 2}, {"uint8", 1},  {"int32", 4},
    {"int8", 1},    {"int64", 8},   {"bool", 1},    {"int16", 2},  {"uint16", 2},
    {"uint32", 4},  {"uint64", 8},  {"bfloat16", 2}};
}  // namespace dtype_tables

bool dtype_valid(int32_t code) { return code >= 0 && code < kNumDTypes; }

DType dtype_from_code(int32_t code) {
  if (!dtype_valid(code)) fail(BRASS_ERR_DTYPE, "unknown dtype code ", code);
  return static_cast<DType>(code);
}

size_t dtype_size(DType t) { return dtype_tables::kEntries[static_cast<int>(t)].size; }
const char* dtype_name(DType t) {
  int c = static_cast<int>(t);
  return dtype_valid(c) ? dtype_tables::kEntries[c].name : "unknown";
}

void fail_dtype_not_built(DType t, const char* op) {
  int c = static_cast<int>(t);
  if (!dtype_valid(c)) fail(BRASS_ERR_DTYPE, op ? op : "", op ? ": " : "", "unknown dtype code ", c);
  fail(BRASS_ERR_DTYPE, op ? op : "", op ? ": " : "", "dtype ", dtype_name(t),
       " is not compiled into this build (the predictor keeps float32, int32, int64 and uint8; "
       "compile it with -DBRASS_PREDICT_ALL_DTYPES for the others)");
}

DType dtype_from_name(const std::string& s) {
  for (int i = 0; i < kNumDTypes; ++i)
    if (s == dtype_tables::kEntries[i].name) return static_cast<DType>(i);
  if (s == "float" ) return DType::kFloat32;
  if (s == "double") return DType::kFloat64;
  if (s == "half") return DType::kFloat16;
  if (s == "bool_") return DType::kBool;
  fail(BRASS_ERR_DTYPE, "unknown dtype '", s, "'");
}

}  // namespace brass
