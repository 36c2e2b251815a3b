// A small JSON reader and writer for the formats Brass speaks (MXNet's symbol JSON). The
// reader is strict about syntax, bounds nesting depth and reports the byte offset of an error;
// numbers are kept as doubles.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace brass {
namespace json {

struct Value {
  enum Kind { kNull, kBool, kNumber, kString, kArray, kObject };
  Kind kind = kNull;
  bool boolean = false;
  double number = 0;
  std::string str;
  std::vector<Value> items;                            // kArray
  std::vector<std::pair<std::string, Value>> members;  // kObject, in file order

  bool is(Kind k) const { return kind == k; }
  // The member named `key` of an object (nullptr when absent or not an object).
  const Value* find(const std::string& key) const;
};

const char* kind_name(Value::Kind k);

// Parses a whole document; fails with BRASS_ERR_FORMAT naming `what` and the byte offset.
Value parse(const std::string& text, const char* what);

// `s` as a JSON string literal (quotes and escapes included).
std::string quote(const std::string& s);

}  // namespace json
}  // namespace brass
