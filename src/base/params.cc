// Parameter text parsing: MXNet's syntax for numbers, booleans and tuples.
#include "base/params.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace brass {
namespace parse {

static std::string strip(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t' || s[b] == '\n')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\n')) --e;
  return s.substr(b, e - b);
}

bool is_none(const std::string& s) {
  std::string t = strip(s);
  return t == "None" || t == "none";
}

int64_t to_int(const std::string& s0) {
  std::string s = strip(s0);
  if (!s.empty() && (s.back() == 'L' || s.back() == 'l')) s.pop_back();
  if (s.empty()) fail(BRASS_ERR_INVALID_ARGUMENT, "expected an integer, got '", s0, "'");
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (*end != 0) {
    // Accept integral floats such as "3.0" (Python passes them sometimes).
    double d = std::strtod(s.c_str(), &end);
    if (*end == 0 && std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.2e18) return int64_t(d);
    fail(BRASS_ERR_INVALID_ARGUMENT, "expected an integer, got '", s0, "'");
  }
  if (errno == ERANGE) fail(BRASS_ERR_INVALID_ARGUMENT, "integer '", s0, "' does not fit int64");
  return v;
}

double to_double(const std::string& s0) {
  std::string s = strip(s0);
  if (s.empty()) fail(BRASS_ERR_INVALID_ARGUMENT, "expected a number, got '", s0, "'");
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (*end != 0) fail(BRASS_ERR_INVALID_ARGUMENT, "expected a number, got '", s0, "'");
  return v;
}

bool to_bool(const std::string& s0) {
  std::string s = strip(s0);
  if (s == "True" || s == "true" || s == "1") return true;
  if (s == "False" || s == "false" || s == "0") return false;
  fail(BRASS_ERR_INVALID_ARGUMENT, "expected a boolean (True/False), got '", s0, "'");
}

static std::vector<std::string> tuple_items(const std::string& s0) {
  std::string s = strip(s0);
  if (s.empty()) fail(BRASS_ERR_INVALID_ARGUMENT, "expected a tuple, got ''");
  char open = s.front();
  if (open == '(' || open == '[') {
    char close = open == '(' ? ')' : ']';
    if (s.back() != close) fail(BRASS_ERR_INVALID_ARGUMENT, "expected a tuple, got '", s0, "'");
    s = strip(s.substr(1, s.size() - 2));
  }
  std::vector<std::string> items;
  if (s.empty()) return items;  // "()"
  size_t pos = 0;
  for (;;) {
    size_t comma = s.find(',', pos);
    bool last = comma == std::string::npos;
    std::string item = strip(s.substr(pos, last ? std::string::npos : comma - pos));
    if (item.empty() && !(last && !items.empty()))  // only "(2,)" may end empty
      fail(BRASS_ERR_INVALID_ARGUMENT, "expected a tuple, got '", s0, "'");
    if (!item.empty()) items.push_back(item);
    if (last) break;
    pos = comma + 1;
  }
  return items;
}

OptTuple to_opt_tuple(const std::string& s) {
  OptTuple t;
  for (auto& item : tuple_items(s)) {
    if (is_none(item)) t.push_back(std::nullopt);
    else t.push_back(to_int(item));
  }
  return t;
}

std::string opt_tuple_str(const OptTuple& t) {
  std::string s = "(";
  for (size_t i = 0; i < t.size(); ++i) s += (i ? ", " : "") + (t[i] ? std::to_string(*t[i]) : std::string("None"));
  if (t.size() == 1) s += ",";
  return s + ")";
}

Tuple to_tuple(const std::string& s0) {
  Tuple t;
  for (auto& item : tuple_items(s0)) t.push_back(is_none(item) ? -1 : to_int(item));
  return t;
}

std::string tuple_str(const Tuple& t) {
  std::string s = "(";
  for (size_t i = 0; i < t.size(); ++i) s += (i ? ", " : "") + std::to_string(t[i]);
  if (t.size() == 1) s += ",";
  return s + ")";
}

FloatTuple to_float_tuple(const std::string& s0) {
  FloatTuple t;
  for (auto& item : tuple_items(s0)) t.v.push_back(to_double(item));
  return t;
}

std::string float_tuple_str(const FloatTuple& t) {
  std::string s = "(";
  for (size_t i = 0; i < t.v.size(); ++i) s += (i ? ", " : "") + double_str(t.v[i]);
  if (t.v.size() == 1) s += ",";
  return s + ")";
}

std::string double_str(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  // Prefer the shortest text that reads back exactly.
  for (int p = 1; p < 17; ++p) {
    char b2[64];
    std::snprintf(b2, sizeof b2, "%.*g", p, v);
    if (std::strtod(b2, nullptr) == v) return b2;
  }
  return buf;
}

}  // namespace parse

void FieldInfo::set_doc(const char* d) { doc = d; }

void FieldInfo::set_default_str(std::string s) {
  has_default = true;
  default_str = std::move(s);
}

void FieldInfo::set_choices(std::vector<std::string> words) {
  std::string t = "{";
  for (size_t i = 0; i < words.size(); ++i) t += (i ? ", '" : "'") + words[i] + "'";
  t += "}";
  type = t;
  choices = std::move(words);
}

FieldInfo& ParamSchema::add(const char* name, std::string type, size_t offset,
                            void (*from_text)(void*, const std::string&)) {
  fields.emplace_back();
  FieldInfo& f = fields.back();
  f.name = name;
  f.type = std::move(type);
  f.offset = offset;
  f.from_text = from_text;
  return f;
}

std::shared_ptr<ParamSchema> ParamSchema::create(void* proto, void* (*copy)(const void*), void (*destroy)(void*)) {
  std::shared_ptr<void> owned(proto, Deleter{destroy});  // deletes proto if this throws
  auto s = std::make_shared<ParamSchema>();
  s->proto = std::move(owned);
  s->copy = copy;
  s->destroy = destroy;
  return s;
}

void FieldInfo::set(void* obj, const std::string& s) const {
  if (!choices.empty()) {
    bool ok = false;
    for (const auto& w : choices) ok = ok || w == s;
    if (!ok) fail(BRASS_ERR_INVALID_ARGUMENT, "'", s, "' is not one of ", type);
  }
  void* member = static_cast<char*>(obj) + offset;
  from_text(member, s);
  double x;
  if (number && number(member, &x) && (x < lo || x > hi))
    fail(BRASS_ERR_INVALID_ARGUMENT, "value ", s, " is out of range [", parse::double_str(lo), ", ",
         parse::double_str(hi), "]");
}

std::shared_ptr<const void> ParamSchema::parse(
    const char* op, const std::vector<std::pair<std::string, std::string>>& kv) const {
  // Ops without parameters have no struct.
  std::shared_ptr<void> obj = copy ? std::shared_ptr<void>(copy(proto.get()), Deleter{destroy}) : nullptr;
  std::vector<char> seen(fields.size(), 0);
  for (auto& [k, v] : kv) {
    if (k.size() > 4 && k.compare(0, 2, "__") == 0 && k.compare(k.size() - 2, 2, "__") == 0)
      continue;  // hidden attributes (__shape__, __lr_mult__, ...) belong to the graph
    size_t i = 0;
    while (i < fields.size() && fields[i].name != k) ++i;
    if (i == fields.size()) {
      std::string names;
      for (auto& f : fields) names += (names.empty() ? "" : ", ") + f.name;
      fail(BRASS_ERR_INVALID_ARGUMENT, op, ": unknown parameter '", k, "'",
           fields.empty() ? std::string(" (it takes no parameters)") : " (valid: " + names + ")");
    }
    try {
      fields[i].set(obj.get(), v);
    } catch (const Error& e) {
      fail(e.code(), op, ": parameter '", k, "': ", e.what());
    }
    seen[i] = 1;
  }
  for (size_t i = 0; i < fields.size(); ++i) {
    if (seen[i]) continue;
    if (!fields[i].has_default)
      fail(BRASS_ERR_INVALID_ARGUMENT, op, ": required parameter '", fields[i].name, "' is missing");
  }
  return obj;
}

}  // namespace brass
