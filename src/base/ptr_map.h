// A hash map from pointers to small values: open addressing with linear probing, no erase.
// Graph walks (visited sets, per-node tables over thousands of recorded nodes) use it where
// std::unordered_map would allocate a node per element.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace brass {

template <class V>
class PtrMap {
 public:
  explicit PtrMap(size_t expect = 8) {
    size_t cap = 16;
    while (cap < expect * 2) cap *= 2;
    init(cap);
  }

  // The value of k, or nullptr.
  V* find(const void* k) {
    for (size_t i = slot(k);; i = (i + 1) & mask_) {
      if (keys_[i] == k) return &vals_[i];
      if (!keys_[i]) return nullptr;
    }
  }
  const V* find(const void* k) const { return const_cast<PtrMap*>(this)->find(k); }
  bool contains(const void* k) const { return find(k) != nullptr; }

  // The value of k, inserted as V() when absent (k must not be null).
  V& operator[](const void* k) {
    size_t i = slot(k);
    for (; keys_[i]; i = (i + 1) & mask_)
      if (keys_[i] == k) return vals_[i];
    if ((n_ + 1) * 2 > keys_.size()) {  // keep the load under one half
      grow();
      return (*this)[k];
    }
    keys_[i] = k;
    ++n_;
    return vals_[i];
  }
  size_t size() const { return n_; }

 private:
  void init(size_t cap) {
    keys_.assign(cap, nullptr);
    vals_.assign(cap, V());
    mask_ = cap - 1;
    bits_ = 0;
    while ((size_t(1) << bits_) < cap) ++bits_;
    n_ = 0;
  }
  size_t slot(const void* k) const {  // Fibonacci hashing of the address
    return size_t((uint64_t(reinterpret_cast<uintptr_t>(k)) * 0x9E3779B97F4A7C15ull) >> (64 - bits_));
  }
  void grow() {
    std::vector<const void*> keys = std::move(keys_);
    std::vector<V> vals = std::move(vals_);
    init(keys.size() * 2);
    for (size_t i = 0; i < keys.size(); ++i)
      if (keys[i]) (*this)[keys[i]] = std::move(vals[i]);
  }

  std::vector<const void*> keys_;
  std::vector<V> vals_;
  size_t mask_ = 0, n_ = 0;
  int bits_ = 0;
};

}  // namespace brass
