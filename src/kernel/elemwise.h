// Element-wise kernel machinery shared by the unary, binary, broadcast and scalar operators.
// A functor's math is written once as `template <class T> static T map(T...)` and runs in a
// compute type per storage type: float for float32/float16/bfloat16, double for float64,
// int64_t (uint64_t for uint64) for the integer types and bool. float32 and float64 run
// straight on the arrays; the others go through small blocks converted on the fly.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "base/dtype.h"
#include "engine/thread_pool.h"
#include "ndarray/ndarray.h"
#include "op/operator.h"

namespace brass {
namespace kernel {

constexpr int64_t kGrain = 32768;  // elements per parallel chunk at least
constexpr int64_t kBlock = 512;    // conversion block

template <class T> struct ComputeOf { using type = int64_t; };
template <> struct ComputeOf<float> { using type = float; };
template <> struct ComputeOf<double> { using type = double; };
template <> struct ComputeOf<half_t> { using type = float; };
template <> struct ComputeOf<bf16_t> { using type = float; };
template <> struct ComputeOf<uint64_t> { using type = uint64_t; };

// Converters between a storage dtype and a compute type, one pair per (compute type, dtype),
// shared by every functor: types that are not their own compute type run through these, so
// each functor is compiled for a handful of compute types rather than for every dtype.
template <class C> using LoadFn = void (*)(C* dst, const void* src, int64_t start, int64_t stride, int64_t n);
template <class C> using StoreFn = void (*)(void* dst, int64_t start, const C* v, int64_t n, Req req);

template <class C, class T>
void load_as(C* d, const void* src, int64_t start, int64_t stride, int64_t n) {
  const T* p = static_cast<const T*>(src) + start;
  if (stride == 1) for (int64_t i = 0; i < n; ++i) d[i] = convert<C>(p[i]);
  else for (int64_t i = 0; i < n; ++i) d[i] = convert<C>(p[i * stride]);
}

template <class C, class T>
void store_as(void* dst, int64_t start, const C* v, int64_t n, Req req) {
  T* out = static_cast<T*>(dst) + start;
  if (req == Req::kAdd) {
    for (int64_t i = 0; i < n; ++i) out[i] = convert<T>(convert<C>(out[i]) + v[i]);
  } else {
    for (int64_t i = 0; i < n; ++i) out[i] = convert<T>(v[i]);
  }
}

template <class C> LoadFn<C> loader(DType t) {
  return dispatch_dtype(t, [](auto tag) -> LoadFn<C> { return &load_as<C, decltype(tag)>; });
}
template <class C> StoreFn<C> storer(DType t) {
  return dispatch_dtype(t, [](auto tag) -> StoreFn<C> { return &store_as<C, decltype(tag)>; });
}

// Whether storage type T runs straight on the arrays: T is its own compute type C and, in the
// predictor's lean builds (BRASS_LEAN_DTYPES), a floating type. There int64 goes through the
// converters like int32 and uint8, whose compute type it shares: each functor is compiled
// once for the integers rather than twice (integer arithmetic is rare in inference).
template <class T, class C>
constexpr bool runs_direct() {
#ifdef BRASS_LEAN_DTYPES
  if (!std::is_floating_point<T>::value) return false;
#endif
  return std::is_same<T, C>::value;
}

// Default compute type choice for functors (override with a member template `compute`).
struct DefaultCompute {
  template <class T> struct compute { using type = typename ComputeOf<T>::type; };
};
// Math that only makes sense in floating point runs integers through double.
struct FloatCompute {
  template <class T> struct compute {
    using type = std::conditional_t<std::is_same<typename ComputeOf<T>::type, float>::value ||
                                        std::is_same<T, double>::value,
                                    typename ComputeOf<T>::type, double>;
  };
};

// ---- unary ------------------------------------------------------------------------------
// A functor with `static void vec_f32(const float* x, float* y, int64_t n)` (host builds) has a
// SIMD float32 version of its math (kernel/vmath.h), used for float32 arrays it writes.
template <class F, class = void> struct HasVecF32 : std::false_type {};
template <class F> struct HasVecF32<F, std::void_t<decltype(&F::vec_f32)>> : std::true_type {};

template <class F, class T>
void unary_direct(const TBlob& in, const TBlob& out, Req req) {
  const T* x = in.ptr<T>();
  T* y = out.ptr<T>();
  if constexpr (std::is_same<T, float>::value && HasVecF32<F>::value) {
    if (req != Req::kAdd) {
      thread_pool::parallel_for(out.size(), kGrain, [&](int64_t b, int64_t e) { F::vec_f32(x + b, y + b, e - b); });
      return;
    }
  }
  thread_pool::parallel_for(out.size(), kGrain, [&](int64_t b, int64_t e) {
    if (req == Req::kAdd) {
      for (int64_t i = b; i < e; ++i) y[i] = T(y[i] + F::template map<T>(x[i]));
    } else {
      for (int64_t i = b; i < e; ++i) y[i] = F::template map<T>(x[i]);
    }
  });
}

template <class F, class C>
void unary_generic(const TBlob& in, const TBlob& out, Req req) {
  LoadFn<C> ld = loader<C>(in.dtype);
  StoreFn<C> st = storer<C>(out.dtype);
  thread_pool::parallel_for(out.size(), kGrain, [&](int64_t b, int64_t e) {
    C buf[kBlock];
    for (int64_t s = b; s < e; s += kBlock) {
      int64_t m = std::min(kBlock, e - s);
      ld(buf, in.dptr, s, 1, m);
      for (int64_t i = 0; i < m; ++i) buf[i] = F::template map<C>(buf[i]);
      st(out.dptr, s, buf, m, req);
    }
  });
}

// y = F(x) element-wise over equal-sized blobs (in may equal out).
template <class F>
void unary(const TBlob& in, const TBlob& out, Req req) {
  if (req == Req::kNull) return;
  dispatch_dtype(in.dtype, [&](auto tag) {
    using T = decltype(tag);
    using C = typename F::template compute<T>::type;
    if constexpr (runs_direct<T, C>()) unary_direct<F, T>(in, out, req);
    else unary_generic<F, C>(in, out, req);
    return 0;
  });
}

// out += in element by element in memory order (equal sizes and dtypes, any shapes): what
// copies and reshapes do when asked to add (Req::kAdd).
void add_flat(const TBlob& in, const TBlob& out);

// ---- broadcast -------------------------------------------------------------------------
// The output shape split into an outer index space and a contiguous inner run, with each
// input's strides (0 where it is broadcast).
struct BroadcastPlan {
  int nd = 0;                 // merged outer dims
  int64_t dims[kMaxNDim];
  int64_t sa[kMaxNDim], sb[kMaxNDim];
  int64_t inner = 1, ia = 1, ib = 1;  // inner run length and its input strides (0 or 1)
  int64_t outer = 1;
};

// Returns the broadcast output shape of a and b, or fails naming op.
Shape broadcast_shape(const Shape& a, const Shape& b, const char* op);
BroadcastPlan plan_broadcast(const Shape& a, const Shape& b, const Shape& out);

// Walks the outer index space of a plan over [ob, oe), calling f(o, offset_a, offset_b).
template <class Fn>
inline void for_outer(const BroadcastPlan& p, int64_t ob, int64_t oe, Fn f) {
  int64_t idx[kMaxNDim];
  int64_t r = ob, offa = 0, offb = 0;
  for (int d = p.nd - 1; d >= 0; --d) {
    idx[d] = r % p.dims[d];
    r /= p.dims[d];
    offa += idx[d] * p.sa[d];
    offb += idx[d] * p.sb[d];
  }
  for (int64_t o = ob; o < oe; ++o) {
    f(o, offa, offb);
    for (int d = p.nd - 1; d >= 0; --d) {
      offa += p.sa[d];
      offb += p.sb[d];
      if (++idx[d] < p.dims[d]) break;
      offa -= p.sa[d] * p.dims[d];
      offb -= p.sb[d] * p.dims[d];
      idx[d] = 0;
    }
  }
}

template <class F, class T>
void broadcast_direct(const TBlob& a, const TBlob& b, const TBlob& out, Req req, const BroadcastPlan& p) {
  const T* x = a.ptr<T>();
  const T* y = b.ptr<T>();
  T* z = out.ptr<T>();
  int64_t grain = std::max<int64_t>(1, kGrain / p.inner);
  thread_pool::parallel_for(p.outer, grain, [&](int64_t ob, int64_t oe) {
    for_outer(p, ob, oe, [&](int64_t o, int64_t offa, int64_t offb) {
      T* zo = z + o * p.inner;
      const T* xa = x + offa;
      const T* yb = y + offb;
      if (req == Req::kAdd) {
        for (int64_t i = 0; i < p.inner; ++i) zo[i] += F::template map<T>(xa[i * p.ia], yb[i * p.ib]);
      } else if (p.ia == 1 && p.ib == 1) {
        for (int64_t i = 0; i < p.inner; ++i) zo[i] = F::template map<T>(xa[i], yb[i]);
      } else if (p.ia == 1) {
        T yv = yb[0];
        for (int64_t i = 0; i < p.inner; ++i) zo[i] = F::template map<T>(xa[i], yv);
      } else if (p.ib == 1) {
        T xv = xa[0];
        for (int64_t i = 0; i < p.inner; ++i) zo[i] = F::template map<T>(xv, yb[i]);
      } else {
        T v = F::template map<T>(xa[0], yb[0]);
        for (int64_t i = 0; i < p.inner; ++i) zo[i] = v;
      }
    });
  });
}

template <class F, class C>
void broadcast_generic(const TBlob& a, const TBlob& b, const TBlob& out, Req req, const BroadcastPlan& p) {
  LoadFn<C> la = loader<C>(a.dtype), lb = loader<C>(b.dtype);
  StoreFn<C> st = storer<C>(out.dtype);
  int64_t grain = std::max<int64_t>(1, kGrain / p.inner);
  thread_pool::parallel_for(p.outer, grain, [&](int64_t ob, int64_t oe) {
    C bufa[kBlock], bufb[kBlock];
    for_outer(p, ob, oe, [&](int64_t o, int64_t offa, int64_t offb) {
      for (int64_t s = 0; s < p.inner; s += kBlock) {
        int64_t m = std::min(kBlock, p.inner - s);
        la(bufa, a.dptr, offa + s * p.ia, p.ia, m);
        lb(bufb, b.dptr, offb + s * p.ib, p.ib, m);
        for (int64_t i = 0; i < m; ++i) bufa[i] = F::template map<C>(bufa[i], bufb[i]);
        st(out.dptr, o * p.inner + s, bufa, m, req);
      }
    });
  });
}

// out = F(a, b) with numpy broadcasting.
template <class F>
void binary_broadcast(const TBlob& a, const TBlob& b, const TBlob& out, Req req) {
  if (req == Req::kNull || out.size() == 0) return;
  BroadcastPlan p = plan_broadcast(a.shape, b.shape, out.shape);
  dispatch_dtype(out.dtype, [&](auto tag) {
    using T = decltype(tag);
    using C = typename F::template compute<T>::type;
    if constexpr (runs_direct<T, C>()) broadcast_direct<F, T>(a, b, out, req, p);
    else broadcast_generic<F, C>(a, b, out, req, p);
    return 0;
  });
}

// ---- scalar ----------------------------------------------------------------------------
template <class F, class T, bool kReverse>
void scalar_direct(const TBlob& in, T s, const TBlob& out, Req req) {
  const T* x = in.ptr<T>();
  T* y = out.ptr<T>();
  thread_pool::parallel_for(out.size(), kGrain, [&](int64_t b, int64_t e) {
    if (req == Req::kAdd) {
      for (int64_t i = b; i < e; ++i) y[i] += kReverse ? F::template map<T>(s, x[i]) : F::template map<T>(x[i], s);
    } else {
      for (int64_t i = b; i < e; ++i) y[i] = kReverse ? F::template map<T>(s, x[i]) : F::template map<T>(x[i], s);
    }
  });
}

template <class F, class C, bool kReverse>
void scalar_generic(const TBlob& in, C s, const TBlob& out, Req req) {
  LoadFn<C> ld = loader<C>(in.dtype);
  StoreFn<C> st = storer<C>(out.dtype);
  thread_pool::parallel_for(out.size(), kGrain, [&](int64_t b, int64_t e) {
    C buf[kBlock];
    for (int64_t off = b; off < e; off += kBlock) {
      int64_t m = std::min(kBlock, e - off);
      ld(buf, in.dptr, off, 1, m);
      for (int64_t i = 0; i < m; ++i) buf[i] = kReverse ? F::template map<C>(s, buf[i]) : F::template map<C>(buf[i], s);
      st(out.dptr, off, buf, m, req);
    }
  });
}

// out = F(x, scalar) (or F(scalar, x) when reverse) element-wise.
template <class F>
void binary_scalar(const TBlob& in, double scalar, bool reverse, const TBlob& out, Req req) {
  if (req == Req::kNull) return;
  dispatch_dtype(in.dtype, [&](auto tag) {
    using T = decltype(tag);
    using C = typename F::template compute<T>::type;
    // MXNet casts the scalar to the array's type (so 2.5 acts as 2 on int arrays); float16
    // and bfloat16 arrays keep it in float.
    C s = std::is_floating_point<C>::value ? C(scalar) : convert<C>(convert<T>(scalar));
    if constexpr (runs_direct<T, C>()) {
      if (reverse) scalar_direct<F, T, true>(in, s, out, req);
      else scalar_direct<F, T, false>(in, s, out, req);
    } else {
      if (reverse) scalar_generic<F, C, true>(in, s, out, req);
      else scalar_generic<F, C, false>(in, s, out, req);
    }
    return 0;
  });
}

}  // namespace kernel
}  // namespace brass
