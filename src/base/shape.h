// Shape: up to BRASS_MAX_NDIM int64 extents, -1 for an unknown extent; ndim -1 means the
// number of dimensions itself is unknown. A small fixed-size value type.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "base/error.h"

namespace brass {

constexpr int kMaxNDim = BRASS_MAX_NDIM;

class Shape {
 public:
  Shape() : ndim_(-1) {}
  explicit Shape(int ndim, int64_t fill = -1);
  Shape(std::initializer_list<int64_t> dims);
  Shape(const int64_t* dims, int ndim);
  explicit Shape(const std::vector<int64_t>& dims) : Shape(dims.data(), int(dims.size())) {}
  // Copies touch only the used extents: shapes are copied on every imperative call.
  Shape(const Shape& o) : ndim_(o.ndim_) {
    for (int i = 0; i < ndim_; ++i) d_[i] = o.d_[i];
  }
  Shape& operator=(const Shape& o) {
    ndim_ = o.ndim_;
    for (int i = 0; i < ndim_; ++i) d_[i] = o.d_[i];
    return *this;
  }

  int ndim() const { return ndim_; }
  bool ndim_known() const { return ndim_ >= 0; }
  bool known() const;  // ndim and every extent known
  int64_t operator[](int i) const { return d_[i]; }
  int64_t& operator[](int i) { return d_[i]; }
  const int64_t* data() const { return d_; }
  int64_t size() const;  // product of extents (1 for 0-d); throws on overflow; -1 if unknown
  bool operator==(const Shape& o) const;
  bool operator!=(const Shape& o) const { return !(*this == o); }
  std::string str() const;  // "(2, 3)", "()", "[unknown]"
  std::vector<int64_t> vec() const { return std::vector<int64_t>(d_, d_ + (ndim_ > 0 ? ndim_ : 0)); }
  void push_back(int64_t v);
  int64_t back() const { return d_[ndim_ - 1]; }

 private:
  int32_t ndim_;
  int64_t d_[kMaxNDim];
};

inline std::ostream& operator<<(std::ostream& os, const Shape& s) { return os << s.str(); }

// Product of extents with overflow detection; name says what is being sized.
int64_t checked_product(const int64_t* dims, int ndim, const char* what);

// Normalizes an axis in [-ndim, ndim) to [0, ndim), or fails naming the op.
int normalize_axis(int64_t axis, int ndim, const char* op);

}  // namespace brass
