// MXNet's NDArray list format (.params, .nd): save and load, byte for byte compatible.
// Loading treats its input as hostile: every read is bounds-checked, shape products are
// checked for overflow and sizes are checked against the input before anything is allocated.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ndarray/ndarray.h"

namespace brass {

struct NamedArrays {
  std::vector<NDArray> arrays;
  std::vector<std::string> names;  // empty for an unnamed list
};

// Serializes to bytes: V2 records, V3 only when some array is 0-d or zero-size.
std::vector<uint8_t> save_ndarrays_bytes(const std::vector<NDArray>& arrays,
                                         const std::vector<std::string>& names);
// Writes atomically: a temporary file beside fname, then rename.
void save_ndarrays(const std::string& fname, const std::vector<NDArray>& arrays,
                   const std::vector<std::string>& names);
// What one load may allocate beyond the global load limit: `per_byte` bytes for each byte of
// input plus `extra` (per_byte 0: no such bound). Only sparse records, which are expanded to
// dense arrays, can ask for more than their input holds. `rule` is named in the error.
struct LoadBudget {
  uint64_t per_byte = 0;
  uint64_t extra = 0;
  const char* rule = nullptr;
};
NamedArrays load_ndarrays_bytes(const uint8_t* data, size_t n, const LoadBudget& budget = {});
// share_file: the file is read once into memory that its dense arrays then use in place (when
// aligned for their type) instead of copies; it is kept while any of them lives. Loading a
// model's weights then touches their memory once.
NamedArrays load_ndarrays(const std::string& fname, const LoadBudget& budget = {}, bool share_file = false);
// Upper bound on bytes one load may allocate.
void set_load_limit(uint64_t bytes);

}  // namespace brass
