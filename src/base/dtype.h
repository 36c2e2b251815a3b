// Element types: MXNet's codes, sizes, names, and the switch that turns a runtime dtype into a
// template parameter. float16/bfloat16 are storage types converted through float (the
// conversions are BRASS_XINLINE: CUDA kernels use them too).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <string>

#include "base/build_options.h"
#include "base/error.h"
#include "base/xinline.h"

namespace brass {

enum class DType : int32_t {
  kFloat32 = 0, kFloat64 = 1, kFloat16 = 2, kUint8 = 3, kInt32 = 4, kInt8 = 5, kInt64 = 6,
  kBool = 7, kInt16 = 8, kUint16 = 9, kUint32 = 10, kUint64 = 11, kBFloat16 = 12
};
constexpr int kNumDTypes = 13;

struct half_t {
  uint16_t bits;
  half_t() = default;
  BRASS_XINLINE explicit half_t(float f) : bits(from_float(f)) {}
  BRASS_XINLINE operator float() const { return to_float(bits); }

  BRASS_XINLINE static float to_float(uint16_t h) {
    uint32_t sign = uint32_t(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ffu, bits;
    if (exp == 0) {
      if (man == 0) {
        bits = sign;
      } else {  // subnormal: renormalize
        int e = -1;
        do { ++e; man <<= 1; } while (!(man & 0x400u));
        bits = sign | uint32_t(127 - 15 - e) << 23 | (man & 0x3ffu) << 13;
      }
    } else if (exp == 31) {
      bits = sign | 0x7f800000u | man << 13;
    } else {
      bits = sign | (exp + 112) << 23 | man << 13;
    }
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
  }
  // Round to nearest even, as numpy does.
  BRASS_XINLINE static uint16_t from_float(float f) {
    uint32_t x;
    std::memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) return uint16_t(sign | 0x7c00u | (ax > 0x7f800000u ? 0x200u : 0));
    if (ax >= 0x477ff000u) return uint16_t(sign | 0x7c00u);  // overflow to inf
    if (ax < 0x38800000u) {                                    // subnormal or zero in half
      if (ax < 0x33000000u) return uint16_t(sign);
      uint32_t e = ax >> 23, m = (ax & 0x7fffffu) | 0x800000u;
      uint32_t shift = 126 - e;  // 14 + (113 - e)
      uint32_t r = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
      if (rem > half || (rem == half && (r & 1))) ++r;
      return uint16_t(sign | r);
    }
    uint32_t r = ax + 0xfffu + ((ax >> 13) & 1);  // round to nearest even on bit 13
    return uint16_t(sign | ((r - 0x38000000u) >> 13));
  }
};

struct bf16_t {
  uint16_t bits;
  bf16_t() = default;
  BRASS_XINLINE explicit bf16_t(float f) : bits(from_float(f)) {}
  BRASS_XINLINE operator float() const {
    uint32_t x = uint32_t(bits) << 16;
    float f;
    std::memcpy(&f, &x, 4);
    return f;
  }
  BRASS_XINLINE static uint16_t from_float(float f) {
    uint32_t x;
    std::memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u) return uint16_t((x >> 16) | 0x40);  // quiet NaN
    return uint16_t((x + 0x7fffu + ((x >> 16) & 1)) >> 16);
  }
};

size_t dtype_size(DType t);
const char* dtype_name(DType t);
bool dtype_valid(int32_t code);
DType dtype_from_code(int32_t code);           // throws on unknown codes
DType dtype_from_name(const std::string& s);   // "float32", "int8", ... ; throws
inline bool is_float(DType t) {
  return t == DType::kFloat32 || t == DType::kFloat64 || t == DType::kFloat16 ||
         t == DType::kBFloat16;
}
inline bool is_signed_int(DType t) {
  return t == DType::kInt8 || t == DType::kInt16 || t == DType::kInt32 || t == DType::kInt64;
}
inline bool is_unsigned_int(DType t) {
  return t == DType::kUint8 || t == DType::kUint16 || t == DType::kUint32 ||
         t == DType::kUint64 || t == DType::kBool;
}

// Element i of an array of run-time type t, as a double (labels, lengths, indices that a
// kernel reads a few of: one switch per read instead of one kernel per type). Host and device.
BRASS_XINLINE double value_at(const void* p, DType t, int64_t i) {
  switch (t) {
    case DType::kFloat32: return static_cast<const float*>(p)[i];
    case DType::kFloat64: return static_cast<const double*>(p)[i];
    case DType::kFloat16: return float(static_cast<const half_t*>(p)[i]);
    case DType::kBFloat16: return float(static_cast<const bf16_t*>(p)[i]);
    case DType::kUint8: return static_cast<const uint8_t*>(p)[i];
    case DType::kInt8: return static_cast<const int8_t*>(p)[i];
    case DType::kInt16: return static_cast<const int16_t*>(p)[i];
    case DType::kUint16: return static_cast<const uint16_t*>(p)[i];
    case DType::kInt32: return static_cast<const int32_t*>(p)[i];
    case DType::kUint32: return static_cast<const uint32_t*>(p)[i];
    case DType::kInt64: return double(static_cast<const int64_t*>(p)[i]);
    case DType::kUint64: return double(static_cast<const uint64_t*>(p)[i]);
    case DType::kBool: return static_cast<const bool*>(p)[i] ? 1.0 : 0.0;
  }
  return 0.0;
}

// The element types kernels are compiled for. Every type in the library; in the predictor
// (BRASS_LEAN_DTYPES, base/build_options.h) float32 and the integer types that carry indices,
// counts and image bytes (int32, int64, uint8), which cuts its compile time and size by a third.
constexpr bool dtype_built(DType t) {
#ifdef BRASS_LEAN_DTYPES
  return t == DType::kFloat32 || t == DType::kInt32 || t == DType::kInt64 || t == DType::kUint8;
#else
  return int32_t(t) >= 0 && int32_t(t) < kNumDTypes;
#endif
}
// Fails for a dtype that this build has no kernels for (or an unknown code), naming it.
[[noreturn]] void fail_dtype_not_built(DType t, const char* op = nullptr);

// Turns a runtime dtype into a type for a generic lambda: BRASS_TYPE_SWITCH-free style.
// f receives a value of the C++ element type (its value is unused).
template <class F>
auto dispatch_dtype(DType t, F&& f) {
  switch (t) {
    case DType::kFloat32: return f(float());
    case DType::kUint8: return f(uint8_t());
    case DType::kInt32: return f(int32_t());
    case DType::kInt64: return f(int64_t());
#ifndef BRASS_LEAN_DTYPES
    case DType::kFloat64: return f(double());
    case DType::kFloat16: return f(half_t());
    case DType::kBFloat16: return f(bf16_t());
    case DType::kInt8: return f(int8_t());
    case DType::kInt16: return f(int16_t());
    case DType::kUint16: return f(uint16_t());
    case DType::kUint32: return f(uint32_t());
    case DType::kUint64: return f(uint64_t());
    case DType::kBool: return f(bool());
#endif
    default: break;
  }
  fail_dtype_not_built(t);
}

// Calls f(float()) or f(double()) for t: the ops with float32 and float64 kernels only (GEMM,
// convolution, batch norm, RNN); other types fail naming op.
template <class F>
auto dispatch_f32_f64(DType t, const char* op, F&& f) {
  if (t == DType::kFloat32) return f(float());
#ifndef BRASS_LEAN_DTYPES
  if (t == DType::kFloat64) return f(double());
#endif
  if (t == DType::kFloat64) fail_dtype_not_built(t, op);
  fail(BRASS_ERR_DTYPE, op, ": only float32 and float64 are supported, got ", dtype_name(t));
}

template <class T> struct DTypeOf;
template <> struct DTypeOf<float> { static constexpr DType value = DType::kFloat32; };
template <> struct DTypeOf<double> { static constexpr DType value = DType::kFloat64; };
template <> struct DTypeOf<half_t> { static constexpr DType value = DType::kFloat16; };
template <> struct DTypeOf<bf16_t> { static constexpr DType value = DType::kBFloat16; };
template <> struct DTypeOf<uint8_t> { static constexpr DType value = DType::kUint8; };
template <> struct DTypeOf<int8_t> { static constexpr DType value = DType::kInt8; };
template <> struct DTypeOf<int16_t> { static constexpr DType value = DType::kInt16; };
template <> struct DTypeOf<uint16_t> { static constexpr DType value = DType::kUint16; };
template <> struct DTypeOf<int32_t> { static constexpr DType value = DType::kInt32; };
template <> struct DTypeOf<uint32_t> { static constexpr DType value = DType::kUint32; };
template <> struct DTypeOf<int64_t> { static constexpr DType value = DType::kInt64; };
template <> struct DTypeOf<uint64_t> { static constexpr DType value = DType::kUint64; };
template <> struct DTypeOf<bool> { static constexpr DType value = DType::kBool; };

// Value conversions that behave for the storage types and saturate nothing (C semantics for
// in-range values; NaN to integer gives 0 rather than undefined behaviour).
template <class To, class From>
inline To convert(From v) {
  if constexpr (std::is_same<To, half_t>::value || std::is_same<To, bf16_t>::value) {
    return To(static_cast<float>(v));
  } else if constexpr (std::is_same<From, half_t>::value || std::is_same<From, bf16_t>::value) {
    return convert<To>(static_cast<float>(v));
  } else if constexpr (std::is_same<To, bool>::value) {
    return v != From(0);
  } else if constexpr (std::is_integral<To>::value && std::is_floating_point<From>::value) {
    if (!(v == v)) return To(0);
    // Out-of-range float to int is undefined in C++; clamp to the range instead.
    if (v >= static_cast<From>(std::numeric_limits<To>::max())) return std::numeric_limits<To>::max();
    if (v <= static_cast<From>(std::numeric_limits<To>::lowest())) return std::numeric_limits<To>::lowest();
    return static_cast<To>(v);
  } else {
    return static_cast<To>(v);
  }
}

}  // namespace brass
