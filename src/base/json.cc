// JSON reading and writing (RFC 8259), for symbol files.
#include "base/json.h"

#include <cstdlib>

#include "base/error.h"

namespace brass {
namespace json {

namespace {

constexpr int kMaxDepth = 512;  // deeper documents are refused, not recursed into

struct Reader {
  const std::string& s;
  const char* what;
  size_t i = 0;

  [[noreturn]] void error(const char* msg) {
    fail(BRASS_ERR_FORMAT, what, ": malformed JSON at byte ", i, ": ", msg);
  }
  void skip_ws() {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
  }
  bool eat(char c) {
    skip_ws();
    if (i < s.size() && s[i] == c) { ++i; return true; }
    return false;
  }
  void expect(char c) {
    if (!eat(c)) {
      char msg[32] = "expected ' '";
      msg[10] = c;
      error(msg);
    }
  }
  void literal(const char* word) {
    for (const char* p = word; *p; ++p, ++i)
      if (i >= s.size() || s[i] != *p) error("invalid literal");
  }
  unsigned hex4() {
    if (i + 4 > s.size()) error("truncated \\u escape");
    unsigned v = 0;
    for (int k = 0; k < 4; ++k) {
      char c = s[i++];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= unsigned(c - '0');
      else if (c >= 'a' && c <= 'f') v |= unsigned(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= unsigned(c - 'A' + 10);
      else error("bad hex digit in \\u escape");
    }
    return v;
  }
  static void put_utf8(std::string& out, unsigned cp) {
    if (cp < 0x80) {
      out += char(cp);
    } else if (cp < 0x800) {
      out += char(0xC0 | (cp >> 6));
      out += char(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += char(0xE0 | (cp >> 12));
      out += char(0x80 | ((cp >> 6) & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    } else {
      out += char(0xF0 | (cp >> 18));
      out += char(0x80 | ((cp >> 12) & 0x3F));
      out += char(0x80 | ((cp >> 6) & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    }
  }
  std::string string() {
    skip_ws();
    if (i >= s.size() || s[i] != '"') error("expected a string");
    ++i;
    std::string out;
    while (true) {
      if (i >= s.size()) error("unterminated string");
      char c = s[i++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) error("control character in string");
      if (c != '\\') { out += c; continue; }
      if (i >= s.size()) error("unterminated escape");
      char e = s[i++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          unsigned cp = hex4();
          if (cp >= 0xD800 && cp < 0xDC00) {  // a surrogate pair
            if (i + 2 > s.size() || s[i] != '\\' || s[i + 1] != 'u') error("lone surrogate");
            i += 2;
            unsigned lo = hex4();
            if (lo < 0xDC00 || lo >= 0xE000) error("bad low surrogate");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp < 0xE000) {
            error("lone surrogate");
          }
          put_utf8(out, cp);
          break;
        }
        default: error("bad escape");
      }
    }
  }
  double number() {
    size_t start = i;
    if (i < s.size() && s[i] == '-') ++i;
    if (i >= s.size() || !(s[i] >= '0' && s[i] <= '9')) error("bad number");
    if (s[i] == '0') ++i;
    else while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    if (i < s.size() && s[i] == '.') {
      ++i;
      if (i >= s.size() || !(s[i] >= '0' && s[i] <= '9')) error("bad number");
      while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    }
    if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
      ++i;
      if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
      if (i >= s.size() || !(s[i] >= '0' && s[i] <= '9')) error("bad number");
      while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    }
    return std::strtod(s.substr(start, i - start).c_str(), nullptr);
  }
  void value(Value& v, int depth) {
    if (depth > kMaxDepth) error("nested too deeply");
    skip_ws();
    if (i >= s.size()) error("unexpected end of input");
    char c = s[i];
    if (c == '{') {
      ++i;
      v.kind = Value::kObject;
      if (eat('}')) return;
      do {
        std::string key = string();
        expect(':');
        v.members.emplace_back(std::move(key), Value());
        value(v.members.back().second, depth + 1);
      } while (eat(','));
      expect('}');
    } else if (c == '[') {
      ++i;
      v.kind = Value::kArray;
      if (eat(']')) return;
      do {
        v.items.emplace_back();
        value(v.items.back(), depth + 1);
      } while (eat(','));
      expect(']');
    } else if (c == '"') {
      v.kind = Value::kString;
      v.str = string();
    } else if (c == 't') {
      literal("true");
      v.kind = Value::kBool;
      v.boolean = true;
    } else if (c == 'f') {
      literal("false");
      v.kind = Value::kBool;
    } else if (c == 'n') {
      literal("null");
    } else {
      v.kind = Value::kNumber;
      v.number = number();
    }
  }
};

}  // namespace

const Value* Value::find(const std::string& key) const {
  if (kind != kObject) return nullptr;
  for (auto& m : members)
    if (m.first == key) return &m.second;
  return nullptr;
}

const char* kind_name(Value::Kind k) {
  switch (k) {
    case Value::kNull: return "null";
    case Value::kBool: return "a boolean";
    case Value::kNumber: return "a number";
    case Value::kString: return "a string";
    case Value::kArray: return "an array";
    case Value::kObject: return "an object";
  }
  return "?";
}

Value parse(const std::string& text, const char* what) {
  Reader r{text, what};
  Value v;
  r.value(v, 0);
  r.skip_ws();
  if (r.i != text.size()) r.error("trailing characters after the document");
  return v;
}

std::string quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          static const char* hex = "0123456789abcdef";
          out += "\\u00";
          out += hex[(c >> 4) & 0xF];
          out += hex[c & 0xF];
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

}  // namespace json
}  // namespace brass
