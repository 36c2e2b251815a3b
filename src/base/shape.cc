// Shape helpers.
#include "base/shape.h"

#include <sstream>

namespace brass {

Shape::Shape(int ndim, int64_t fill) : ndim_(ndim) {
  if (ndim > kMaxNDim) fail(BRASS_ERR_SHAPE, "ndim ", ndim, " exceeds the maximum ", kMaxNDim);
  for (int i = 0; i < ndim; ++i) d_[i] = fill;
}

Shape::Shape(std::initializer_list<int64_t> dims) : ndim_(0) {
  for (int64_t v : dims) push_back(v);
}

Shape::Shape(const int64_t* dims, int ndim) : ndim_(ndim) {
  if (ndim > kMaxNDim || ndim < -1)
    fail(BRASS_ERR_SHAPE, "ndim ", ndim, " is out of range [0, ", kMaxNDim, "]");
  for (int i = 0; i < ndim; ++i) d_[i] = dims[i];
}

void Shape::push_back(int64_t v) {
  if (ndim_ < 0) ndim_ = 0;
  if (ndim_ >= kMaxNDim) fail(BRASS_ERR_SHAPE, "ndim exceeds the maximum ", kMaxNDim);
  d_[ndim_++] = v;
}

bool Shape::known() const {
  if (ndim_ < 0) return false;
  for (int i = 0; i < ndim_; ++i)
    if (d_[i] < 0) return false;
  return true;
}

int64_t checked_product(const int64_t* dims, int ndim, const char* what) {
  int64_t p = 1;
  for (int i = 0; i < ndim; ++i) {
    if (dims[i] < 0) fail(BRASS_ERR_SHAPE, what, ": negative extent ", dims[i]);
    if (dims[i] != 0 && p > INT64_MAX / dims[i])
      fail(BRASS_ERR_SHAPE, what, ": element count overflows int64");
    p *= dims[i];
  }
  return p;
}

int64_t Shape::size() const {
  if (!known()) return -1;
  return checked_product(d_, ndim_, "shape");
}

bool Shape::operator==(const Shape& o) const {
  if (ndim_ != o.ndim_) return false;
  for (int i = 0; i < ndim_; ++i)
    if (d_[i] != o.d_[i]) return false;
  return true;
}

std::string Shape::str() const {
  if (ndim_ < 0) return "[unknown]";
  std::ostringstream os;
  os << "(";
  for (int i = 0; i < ndim_; ++i) {
    if (i) os << ", ";
    if (d_[i] < 0) os << "?"; else os << d_[i];
  }
  if (ndim_ == 1) os << ",";
  os << ")";
  return os.str();
}

int normalize_axis(int64_t axis, int ndim, const char* op) {
  if (axis < -ndim || axis >= ndim || ndim == 0)
    fail(BRASS_ERR_INVALID_ARGUMENT, op, ": axis ", axis, " is out of range for an array with ",
         ndim, " dimension(s)");
  return int(axis < 0 ? axis + ndim : axis);
}

}  // namespace brass
