// Errors: the exception type thrown for user mistakes inside the engine, caught at the C
// boundary and turned into a status code plus a thread-local message.
#pragma once

#include <cstdint>
#include <cstddef>
#include <ostream>
#include <stdexcept>
#include <string>

#include "brass/c_api.h"

namespace brass {

class Error : public std::runtime_error {
 public:
  Error(brass_status code, const std::string& msg) : std::runtime_error(msg), code_(code) {}
  brass_status code() const { return code_; }

 private:
  brass_status code_;
};

namespace detail {
// One part of a message, by reference, with the function that prints its type. fail() builds
// an array of these and calls one out-of-line function, so each distinct argument list costs
// an array, not a stream and a chain of inserters (the library has hundreds of them).
class Part {
 public:
  Part(const char* s) : p_(s), write_(&write_cstr) {}
  template <class T>
  Part(const T& v) : p_(&v), write_(&write_of<T>) {}
  void write(std::ostream& os) const { write_(os, p_); }

 private:
  static void write_cstr(std::ostream& os, const void* p);
  template <class T>
  static void write_of(std::ostream& os, const void* p) { os << *static_cast<const T*>(p); }
  const void* p_;
  void (*write_)(std::ostream&, const void*);
};

[[noreturn]] void fail_parts(brass_status code, const Part* parts, size_t n);
}  // namespace detail

// Builds a message from its parts: fail(BRASS_ERR_SHAPE, "op ", name, ": bad shape ", s).
template <class... A>
[[noreturn]] void fail(brass_status code, const A&... parts) {
  const detail::Part list[] = {detail::Part(parts)..., detail::Part("")};
  detail::fail_parts(code, list, sizeof...(A));
}

// Internal invariant; a failure is a bug in Brass, reported as BRASS_ERR_INTERNAL.
#define BRASS_CHECK(cond)                                                              \
  do {                                                                                 \
    if (!(cond))                                                                       \
      ::brass::fail(BRASS_ERR_INTERNAL, "internal check failed: " #cond " at ", __FILE__, \
                    ":", __LINE__);                                                    \
  } while (0)

}  // namespace brass
