// Errors: building a failure's message out of line (see fail in error.h).
#include "base/error.h"

#include <sstream>

namespace brass {
namespace detail {

void Part::write_cstr(std::ostream& os, const void* p) { os << static_cast<const char*>(p); }

void fail_parts(brass_status code, const Part* parts, size_t n) {
  std::ostringstream os;
  for (size_t i = 0; i < n; ++i) parts[i].write(os);
  throw Error(code, os.str());
}

}  // namespace detail
}  // namespace brass
