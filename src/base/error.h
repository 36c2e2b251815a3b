// Errors: the exception type thrown for user mistakes inside the engine, caught at the C
// boundary and turned into a status code plus a thread-local message.
#pragma once

#include <cstdint>
#include <sstream>
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
inline void append_all(std::ostringstream&) {}
template <class T, class... R>
void append_all(std::ostringstream& os, const T& v, const R&... rest) {
  os << v;
  append_all(os, rest...);
}
}  // namespace detail

// Builds a message from its parts: fail(BRASS_ERR_SHAPE, "op ", name, ": bad shape ", s).
template <class... A>
[[noreturn]] void fail(brass_status code, const A&... parts) {
  std::ostringstream os;
  detail::append_all(os, parts...);
  throw Error(code, os.str());
}

// Internal invariant; a failure is a bug in Brass, reported as BRASS_ERR_INTERNAL.
#define BRASS_CHECK(cond)                                                              \
  do {                                                                                 \
    if (!(cond))                                                                       \
      ::brass::fail(BRASS_ERR_INTERNAL, "internal check failed: " #cond " at ", __FILE__, \
                    ":", __LINE__);                                                    \
  } while (0)

}  // namespace brass
