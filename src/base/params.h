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
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/dtype.h"
#include "base/error.h"

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

// One field, type-erased over the parameter struct.
struct FieldInfo {
  std::string name, type, default_str, doc;
  bool has_default = false;
  std::function<void(void*, const std::string&)> set;      // parse + range check
  std::function<void(void*)> set_default;
};

template <class P, class T>
class FieldBuilder {
 public:
  FieldBuilder(FieldInfo* f, T P::*m) : f_(f), m_(m) {}
  FieldBuilder& set_default(T v) {
    f_->has_default = true;
    f_->default_str = ParamTraits<T>::str(v);
    auto m = m_;
    f_->set_default = [m, v](void* o) { static_cast<P*>(o)->*m = v; };
    return *this;
  }
  FieldBuilder& describe(const char* d) { f_->doc = d; return *this; }
  // Inclusive bounds for numbers (optional numbers when set).
  FieldBuilder& set_range(double lo, double hi) {
    auto prev = f_->set;
    auto name = f_->name;
    auto m = m_;
    f_->set = [prev, m, lo, hi, name](void* o, const std::string& s) {
      prev(o, s);
      const T& v = static_cast<P*>(o)->*m;
      double x;
      if constexpr (is_opt<T>::value) { if (!v) return; x = double(*v); } else { x = double(v); }
      if (x < lo || x > hi)
        fail(BRASS_ERR_INVALID_ARGUMENT, "value ", s, " is out of range [", parse::double_str(lo),
             ", ", parse::double_str(hi), "]");
    };
    return *this;
  }
  FieldBuilder& set_lower_bound(double lo) { return set_range(lo, 1e308); }
  // Restricts a string field to a set of words (MXNet's enum parameters).
  FieldBuilder& set_choices(std::vector<std::string> words) {
    std::string t = "{";
    for (size_t i = 0; i < words.size(); ++i) t += (i ? ", '" : "'") + words[i] + "'";
    t += "}";
    f_->type = t;
    auto prev = f_->set;
    f_->set = [prev, words, t](void* o, const std::string& s) {
      for (auto& w : words)
        if (w == s) return prev(o, s);
      fail(BRASS_ERR_INVALID_ARGUMENT, "'", s, "' is not one of ", t);
    };
    return *this;
  }

 private:
  template <class U> struct is_opt : std::false_type {};
  template <class U> struct is_opt<std::optional<U>> : std::true_type {};
  FieldInfo* f_;
  T P::*m_;
};

// The fields of one parameter struct, with a factory. Built once per struct type.
class ParamSchema {
 public:
  std::vector<FieldInfo> fields;
  std::function<std::shared_ptr<void>()> make;
  // Parses key/value strings into a new struct; `op` names the operator in errors.
  std::shared_ptr<const void> parse(const char* op, const std::vector<std::pair<std::string, std::string>>& kv) const;
};

template <class P>
class ParamSpec {
 public:
  explicit ParamSpec(ParamSchema* s) : s_(s) {}
  template <class T>
  FieldBuilder<P, T> field(const char* name, T P::*m) {
    s_->fields.emplace_back();
    FieldInfo& f = s_->fields.back();
    f.name = name;
    f.type = ParamTraits<T>::type();
    f.set = [m](void* o, const std::string& s) { static_cast<P*>(o)->*m = ParamTraits<T>::parse(s); };
    return FieldBuilder<P, T>(&f, m);
  }

 private:
  ParamSchema* s_;
};

template <class P>
std::shared_ptr<ParamSchema> make_schema() {
  auto s = std::make_shared<ParamSchema>();
  ParamSpec<P> spec(s.get());
  P::declare(spec);
  s->make = [] { return std::static_pointer_cast<void>(std::make_shared<P>()); };
  return s;
}

}  // namespace brass
