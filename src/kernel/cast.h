// Copy with dtype conversion between equal-sized blobs.
#pragma once

#include "ndarray/ndarray.h"

namespace brass {
namespace kernel {
void cast(const TBlob& src, const TBlob& dst);
}
}  // namespace brass
