// Typed operator parameters parsed from strings (the C API and JSON speak strings), with
// defaults, ranges and docs. An op declares its fields once:
//
//   struct ClipParam {
//     double a_min, a_max;
//     static void declare(ParamSpec<ClipParam>& s) {
//       s.field("a_min", &ClipParam::a_min).describe("Minimum value");
//       s.field("a_max", &ClipParam::a_max).describe("Maximum value");
//     }
//   };
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/dtype.h"
#include "base/error.h"
#include "base/xinline.h"

namespace brass {

using Tuple = std::vector<int64_t>;  // "(2, 3)", "[2,3]", "2", "()"
using OptTuple = std::vector<std::optional<int64_t>>;  // "(0, None, -1)": slice bounds
// "(0.5, 0.25)", "0.5", "()": floating-point values (image normalize's mean and std, the
// multi-weight optimizers' learning rates).
struct FloatTuple {
  std::vector<double> v;
};

// Text to value, MXNet's syntax; throws Error(BRASS_ERR_INVALID_ARGUMENT, plain reason).
namespace parse {
int64_t to_int(const std::string& s);
double to_double(const std::string& s);
bool to_bool(const std::string& s);
Tuple to_tuple(const std::string& s);
bool is_none(const std::string& s);
OptTuple to_opt_tuple(const std::string& s);
std::string opt_tuple_str(const OptTuple& t);
std::string tuple_str(const Tuple& t);
FloatTuple to_float_tuple(const std::string& s);
std::string float_tuple_str(const FloatTuple& t);
std::string double_str(double v);
}  // namespace parse

template <class T> struct ParamTraits;
template <> struct ParamTraits<int> {
  static const char* type() { return "int"; }
  static int parse(const std::string& s) {
    int64_t v = parse::to_int(s);
    if (v < INT32_MIN || v > INT32_MAX) fail(BRASS_ERR_INVALID_ARGUMENT, "integer ", s, " does not fit int32");
    return int(v);
  }
  static std::string str(int v) { return std::to_string(v); }
};
template <> struct ParamTraits<int64_t> {
  static const char* type() { return "long"; }
  static int64_t parse(const std::string& s) { return parse::to_int(s); }
  static std::string str(int64_t v) { return std::to_string(v); }
};
template <> struct ParamTraits<double> {
  static const char* type() { return "double"; }
  static double parse(const std::string& s) { return parse::to_double(s); }
  static std::string str(double v) { return parse::double_str(v); }
};
template <> struct ParamTraits<bool> {
  static const char* type() { return "boolean"; }
  static bool parse(const std::string& s) { return parse::to_bool(s); }
  static std::string str(bool v) { return v ? "True" : "False"; }
};
template <> struct ParamTraits<std::string> {
  static const char* type() { return "string"; }
  static std::string parse(const std::string& s) { return s; }
  static std::string str(const std::string& v) { return v; }
};
template <> struct ParamTraits<Tuple> {
  static const char* type() { return "Shape(tuple)"; }
  static Tuple parse(const std::string& s) { return parse::to_tuple(s); }
  static std::string str(const Tuple& v) { return parse::tuple_str(v); }
};
template <> struct ParamTraits<OptTuple> {
  static const char* type() { return "tuple of int or None"; }
  static OptTuple parse(const std::string& s) { return parse::to_opt_tuple(s); }
  static std::string str(const OptTuple& v) { return parse::opt_tuple_str(v); }
};
template <> struct ParamTraits<FloatTuple> {
  static const char* type() { return "tuple of float"; }
  static FloatTuple parse(const std::string& s) { return parse::to_float_tuple(s); }
  static std::string str(const FloatTuple& v) { return parse::float_tuple_str(v); }
};
template <> struct ParamTraits<DType> {
  static const char* type() { return "dtype"; }
  static DType parse(const std::string& s) { return dtype_from_name(s); }
  static std::string str(DType v) { return dtype_name(v); }
};
template <class T> struct ParamTraits<std::optional<T>> {
  static std::string type() { return std::string(ParamTraits<T>::type()) + " or None"; }
  static std::optional<T> parse(const std::string& s) {
    if (parse::is_none(s)) return std::nullopt;
    return ParamTraits<T>::parse(s);
  }
  static std::string str(const std::optional<T>& v) { return v ? ParamTraits<T>::str(*v) : "None"; }
};

// One field, type-erased: where the member lives in its struct and how its type parses. What
// is generated per field type is two plain functions, not a closure per struct and field:
// the library declares hundreds of fields.
struct FieldInfo {
  std::string name, type, default_str, doc;
  bool has_default = false;
  size_t offset = 0;                                   // of the member in the struct
  void (*from_text)(void* member, const std::string&) = nullptr;
  // The member as a number for the range check (false: an unset optional).
  bool (*number)(const void* member, double* out) = nullptr;
  double lo = 0, hi = 0;                               // inclusive bounds, when `number` is set
  std::vector<std::string> choices;                    // MXNet's enum parameters; empty: any
  // Checks and parses `s` into the member of the struct at `obj`.
  void set(void* obj, const std::string& s) const;
  // For FieldBuilder (out of line: they run once per field, at registration, and a call is
  // smaller than a string built in place; per type, not per field).
  BRASS_NOINLINE void set_doc(const char* d);
  BRASS_NOINLINE void set_default_str(std::string s);
  template <class T>
  BRASS_NOINLINE void set_default_of(const T& v) { set_default_str(ParamTraits<T>::str(v)); }
  BRASS_NOINLINE void set_choices(std::vector<std::string> words);
};

template <class T>
void parse_member(void* member, const std::string& s) {
  *static_cast<T*>(member) = ParamTraits<T>::parse(s);
}

template <class T> struct NumberOf {
  static bool get(const void* m, double* out) { *out = double(*static_cast<const T*>(m)); return true; }
};
template <class T> struct NumberOf<std::optional<T>> {
  static bool get(const void* m, double* out) {
    const auto& v = *static_cast<const std::optional<T>*>(m);
    if (v) *out = double(*v);
    return bool(v);
  }
};

template <class P, class T>
class FieldBuilder {
 public:
  FieldBuilder(FieldInfo* f, P* proto, T P::*m) : f_(f), proto_(proto), m_(m) {}
  // The default lives in the schema's prototype struct, which every parse starts from.
  FieldBuilder& set_default(T v) {
    f_->set_default_of(v);
    proto_->*m_ = std::move(v);
    return *this;
  }
  FieldBuilder& describe(const char* d) { f_->set_doc(d); return *this; }
  // Inclusive bounds for numbers (optional numbers when set).
  FieldBuilder& set_range(double lo, double hi) {
    f_->number = &NumberOf<T>::get;
    f_->lo = lo;
    f_->hi = hi;
    return *this;
  }
  FieldBuilder& set_lower_bound(double lo) { return set_range(lo, 1e308); }
  // Restricts a string field to a set of words (MXNet's enum parameters).
  FieldBuilder& set_choices(std::vector<std::string> words) {
    f_->set_choices(std::move(words));
    return *this;
  }

 private:
  FieldInfo* f_;
  P* proto_;
  T P::*m_;
};

// The fields of one parameter struct, with a prototype holding the defaults. Built once per
// struct type.
class ParamSchema {
 public:
  // A new field of type T (out of line: it runs once per field, at registration).
  template <class T>
  BRASS_NOINLINE FieldInfo& add(const char* name, size_t offset) {
    return add(name, ParamTraits<T>::type(), offset, &parse_member<T>);
  }
  BRASS_NOINLINE FieldInfo& add(const char* name, std::string type, size_t offset,
                                void (*from_text)(void*, const std::string&));
  std::vector<FieldInfo> fields;
  // Structs are held as shared_ptr<void> with one deleter type for every struct (a
  // make_shared per struct type would add a control block class, its vtable and typeinfo).
  struct Deleter {
    void (*destroy)(void*);
    void operator()(void* p) const { destroy(p); }
  };
  std::shared_ptr<void> proto;              // null: no parameters
  void* (*copy)(const void*) = nullptr;     // a new struct from proto (owned by the caller)
  void (*destroy)(void*) = nullptr;         // deletes one
  // A schema owning `proto` (the same for every struct type: out of line).
  BRASS_NOINLINE static std::shared_ptr<ParamSchema> create(void* proto, void* (*copy)(const void*),
                                                            void (*destroy)(void*));
  // Parses key/value strings into a new struct; `op` names the operator in errors.
  std::shared_ptr<const void> parse(const char* op, const std::vector<std::pair<std::string, std::string>>& kv) const;
};

template <class P>
class ParamSpec {
 public:
  ParamSpec(ParamSchema* s, P* proto) : s_(s), proto_(proto) {}
  template <class T>
  FieldBuilder<P, T> field(const char* name, T P::*m) {
    size_t offset = size_t(reinterpret_cast<const char*>(&(proto_->*m)) - reinterpret_cast<const char*>(proto_));
    FieldInfo& f = s_->template add<T>(name, offset);
    return FieldBuilder<P, T>(&f, proto_, m);
  }

 private:
  ParamSchema* s_;
  P* proto_;
};

template <class P>
std::shared_ptr<ParamSchema> make_schema() {
  P* proto = new P();
  auto s = ParamSchema::create(
      proto, [](const void* p) -> void* { return new P(*static_cast<const P*>(p)); },
      [](void* p) { delete static_cast<P*>(p); });
  ParamSpec<P> spec(s.get(), proto);
  P::declare(spec);
  return s;
}

}  // namespace brass
