// Element-wise kernel machinery shared by the unary, binary, broadcast and scalar operators.
// A functor's math is written once as `template <class T> static T map(T...)` and runs in a
// compute type per storage type: float for float32/float16/bfloat16, double for float64,
// int64_t (uint64_t for uint64) for the integer types and bool. float32 and float64 run
// straight on the arrays; the others go through small blocks converted on the fly.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

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

// Stores computed values into an output, honouring the write request.
template <class T, class C>
inline void store(T* out, const C* v, int64_t n, Req req) {
  if (req == Req::kAdd) {
    for (int64_t i = 0; i < n; ++i)
      out[i] = convert<T>(convert<C>(out[i]) + v[i]);
  } else {
    for (int64_t i = 0; i < n; ++i) out[i] = convert<T>(v[i]);
  }
}

template <class C, class T>
inline void load(C* dst, const T* src, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = convert<C>(src[i]);
}

// y = F(x) element-wise over equal-sized blobs (in may equal out).
template <class F>
void unary(const TBlob& in, const TBlob& out, Req req) {
  if (req == Req::kNull) return;
  int64_t n = out.size();
  dispatch_dtype(in.dtype, [&](auto tag) {
    using T = decltype(tag);
    using C = typename F::template compute<T>::type;
    const T* x = in.ptr<T>();
    T* y = out.ptr<T>();
    thread_pool::parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
      if constexpr (std::is_same<T, C>::value) {
        if (req == Req::kAdd) {
          for (int64_t i = b; i < e; ++i) y[i] = convert<T>(y[i] + F::template map<C>(x[i]));
        } else {
          for (int64_t i = b; i < e; ++i) y[i] = F::template map<C>(x[i]);
        }
      } else {
        C buf[kBlock];
        for (int64_t s = b; s < e; s += kBlock) {
          int64_t m = std::min(kBlock, e - s);
          load(buf, x + s, m);
          for (int64_t i = 0; i < m; ++i) buf[i] = F::template map<C>(buf[i]);
          store(y + s, buf, m, req);
        }
      }
    });
    return 0;
  });
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

// Broadcast iteration: the output shape split into an outer index space and a contiguous
// inner run, with each input's strides (0 where it is broadcast).
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

// out = F(a, b) with numpy broadcasting.
template <class F>
void binary_broadcast(const TBlob& a, const TBlob& b, const TBlob& out, Req req) {
  if (req == Req::kNull || out.size() == 0) return;
  BroadcastPlan p = plan_broadcast(a.shape, b.shape, out.shape);
  dispatch_dtype(out.dtype, [&](auto tag) {
    using T = decltype(tag);
    using C = typename F::template compute<T>::type;
    const T* x = a.ptr<T>();
    const T* y = b.ptr<T>();
    T* z = out.ptr<T>();
    int64_t grain = std::max<int64_t>(1, kGrain / p.inner);
    thread_pool::parallel_for(p.outer, grain, [&](int64_t ob, int64_t oe) {
      int64_t idx[kMaxNDim];
      int64_t r = ob;
      int64_t offa = 0, offb = 0;
      for (int d = p.nd - 1; d >= 0; --d) {
        idx[d] = r % p.dims[d];
        r /= p.dims[d];
        offa += idx[d] * p.sa[d];
        offb += idx[d] * p.sb[d];
      }
      C bufa[kBlock], bufb[kBlock];
      for (int64_t o = ob; o < oe; ++o) {
        T* zo = z + o * p.inner;
        const T* xa = x + offa;
        const T* yb = y + offb;
        if constexpr (std::is_same<T, C>::value) {
          if (req == Req::kAdd) {
            for (int64_t i = 0; i < p.inner; ++i) zo[i] += F::template map<C>(xa[i * p.ia], yb[i * p.ib]);
          } else if (p.ia == 1 && p.ib == 1) {
            for (int64_t i = 0; i < p.inner; ++i) zo[i] = F::template map<C>(xa[i], yb[i]);
          } else if (p.ia == 1) {
            C yv = yb[0];
            for (int64_t i = 0; i < p.inner; ++i) zo[i] = F::template map<C>(xa[i], yv);
          } else if (p.ib == 1) {
            C xv = xa[0];
            for (int64_t i = 0; i < p.inner; ++i) zo[i] = F::template map<C>(xv, yb[i]);
          } else {
            for (int64_t i = 0; i < p.inner; ++i) zo[i] = F::template map<C>(xa[0], yb[0]);
          }
        } else {
          for (int64_t s = 0; s < p.inner; s += kBlock) {
            int64_t m = std::min(kBlock, p.inner - s);
            for (int64_t i = 0; i < m; ++i) {
              bufa[i] = convert<C>(xa[(s + i) * p.ia]);
              bufb[i] = convert<C>(yb[(s + i) * p.ib]);
            }
            for (int64_t i = 0; i < m; ++i) bufa[i] = F::template map<C>(bufa[i], bufb[i]);
            store(zo + s, bufa, m, req);
          }
        }
        // advance the outer multi-index
        for (int d = p.nd - 1; d >= 0; --d) {
          offa += p.sa[d];
          offb += p.sb[d];
          if (++idx[d] < p.dims[d]) break;
          offa -= p.sa[d] * p.dims[d];
          offb -= p.sb[d] * p.dims[d];
          idx[d] = 0;
        }
      }
    });
    return 0;
  });
}

// out = F(x, scalar) (or F(scalar, x) when reverse) element-wise.
template <class F>
void binary_scalar(const TBlob& in, double scalar, bool reverse, const TBlob& out, Req req) {
  if (req == Req::kNull) return;
  int64_t n = out.size();
  dispatch_dtype(in.dtype, [&](auto tag) {
    using T = decltype(tag);
    using C = typename F::template compute<T>::type;
    const T* x = in.ptr<T>();
    T* y = out.ptr<T>();
    // MXNet casts the scalar to the array's type (so 2.5 acts as 2 on int arrays).
    C s = convert<C>(convert<T>(scalar));
    if constexpr (std::is_floating_point<C>::value) s = C(scalar);
    if constexpr (std::is_same<T, half_t>::value || std::is_same<T, bf16_t>::value) s = C(scalar);
    thread_pool::parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
      C buf[kBlock];
      for (int64_t st = b; st < e; st += kBlock) {
        int64_t m = std::min(kBlock, e - st);
        if constexpr (std::is_same<T, C>::value) {
          T* yo = y + st;
          const T* xo = x + st;
          if (req == Req::kAdd) {
            for (int64_t i = 0; i < m; ++i) yo[i] += reverse ? F::template map<C>(s, xo[i]) : F::template map<C>(xo[i], s);
          } else if (reverse) {
            for (int64_t i = 0; i < m; ++i) yo[i] = F::template map<C>(s, xo[i]);
          } else {
            for (int64_t i = 0; i < m; ++i) yo[i] = F::template map<C>(xo[i], s);
          }
        } else {
          load(buf, x + st, m);
          if (reverse) for (int64_t i = 0; i < m; ++i) buf[i] = F::template map<C>(s, buf[i]);
          else for (int64_t i = 0; i < m; ++i) buf[i] = F::template map<C>(buf[i], s);
          store(y + st, buf, m, req);
        }
      }
    });
    return 0;
  });
}

}  // namespace kernel
}  // namespace brass
