// Shared by the CUDA sources (nvcc only): error checking, the per-device streams, launch
// shapes, and device-side conversions between storage dtypes and compute types.
//
// The GPU execution model, first version: the engine runs a GPU op on a pool thread like CPU
// work; the op launches its kernels on its device's stream and synchronizes that stream
// before returning, so the engine sees GPU work as ordinary synchronous work. (Later: push it
// as asynchronous work completed by a stream callback.)
#pragma once

// Included first by every CUDA source, so these cover the whole unit (the amalgamated
// brass_cuda.cu included): functors instantiated for unsigned compute types compare with zero
// on purpose (186), and the shared headers declare constants a CUDA unit does not use (177).
#if defined(BRASS_CUDA_EMULATION)
#include "cuda/emulation.h"  // host emulation for tests without a GPU
#else
#pragma nv_diag_suppress 186
#pragma nv_diag_suppress 177
#include <cuda_runtime.h>
#endif

#include <cstdint>
#include <limits>
#include <type_traits>

#include "base/dtype.h"
#include "base/error.h"
#include "base/xinline.h"
#include "storage/storage.h"

namespace brass {
namespace cuda {

// Turns a failed CUDA call into brass::Error: BRASS_ERR_OUT_OF_MEMORY for allocation
// failures, BRASS_ERR_DEVICE otherwise; the message names the call. Clears the error.
void check(cudaError_t e, const char* call);
#define BRASS_CUDA_CALL(expr) ::brass::cuda::check((expr), #expr)

// The stream of gpu(dev), created at first use; also makes dev the calling thread's device.
cudaStream_t stream(int dev);
// After the launches of one op: reports launch errors, then waits for the stream.
void finish(cudaStream_t s);

// Device scratch memory from the pooled allocator for the duration of one op (the op waits
// for its stream before returning, so the memory is free to reuse when this dies).
class DeviceBuffer {
 public:
  DeviceBuffer(size_t nbytes, int dev) : b_(storage::alloc(nbytes, Device{BRASS_GPU, dev})) {}
  ~DeviceBuffer() { storage::free(b_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  template <class T = void> T* get() const { return static_cast<T*>(b_.ptr); }

 private:
  Block b_;
};

// Host -> device and device -> host copies of small buffers on stream s (ordered with the
// kernels on s; the host side must stay alive until the stream is waited for).
inline void to_device(void* dst, const void* src, size_t n, cudaStream_t s) {
  if (n) BRASS_CUDA_CALL(cudaMemcpyAsync(dst, src, n, cudaMemcpyHostToDevice, s));
}
inline void to_host(void* dst, const void* src, size_t n, cudaStream_t s) {
  if (n) BRASS_CUDA_CALL(cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToHost, s));
}

constexpr int kThreads = 256;
// Blocks for n elements with grid-stride loops (capped: large arrays loop).
inline unsigned blocks_for(int64_t n) {
  int64_t b = (n + kThreads - 1) / kThreads;
  return unsigned(b < 65536 ? b : 65536);
}

// Launches kernel k on stream s; the one place that launches (the host emulation runs it
// on the calling thread). Every Brass kernel is a grid-stride loop, correct for any grid.
template <class... P, class... A>
void launch(void (*k)(P...), unsigned grid, unsigned block, cudaStream_t s, const A&... a) {
#if defined(BRASS_CUDA_EMULATION)
  (void)s;
  emulation::launch(grid, block, [&] { k(P(a)...); });
#else
  k<<<grid, block, 0, s>>>(P(a)...);
#endif
}

#define BRASS_CUDA_LOOP(i, n)                                                          \
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < (n);            \
       i += int64_t(gridDim.x) * blockDim.x)

template <class F>
__global__ void for_each_kernel(int64_t n, F f) {
  BRASS_CUDA_LOOP(i, n) { f(i); }
}

// Calls f(i) on the device for every i in [0, n); f is a functor with a __device__
// operator()(int64_t), copied to the kernel by value.
template <class F>
void for_each(cudaStream_t s, int64_t n, const F& f) {
  if (n > 0) launch(for_each_kernel<F>, blocks_for(n), kThreads, s, n, f);
}

template <class T> struct Limits {  // compile-time constants, usable in device code
  static constexpr T kMax = std::numeric_limits<T>::max();
  static constexpr T kLowest = std::numeric_limits<T>::lowest();
};

template <class T>
constexpr bool kIsHalf = std::is_same<T, half_t>::value || std::is_same<T, bf16_t>::value;

// brass::convert (base/dtype.h) for device code, with the same rules: float16/bfloat16 go
// through float, NaN to an integer gives 0, out-of-range floats clamp to the integer range.
template <class To, class From>
__device__ __forceinline__ To dev_convert(From v) {
  if constexpr (std::is_same<To, From>::value) {
    return v;
  } else if constexpr (kIsHalf<To>) {
    return To(static_cast<float>(v));
  } else if constexpr (kIsHalf<From>) {
    return dev_convert<To>(static_cast<float>(v));
  } else if constexpr (std::is_same<To, bool>::value) {
    return v != From(0);
  } else if constexpr (std::is_integral<To>::value && std::is_floating_point<From>::value) {
    if (!(v == v)) return To(0);
    if (v >= static_cast<From>(Limits<To>::kMax)) return Limits<To>::kMax;
    if (v <= static_cast<From>(Limits<To>::kLowest)) return Limits<To>::kLowest;
    return static_cast<To>(v);
  } else {
    return static_cast<To>(v);
  }
}

// Calls f(T()) for the storage type T that t names, but only for the types whose compute
// type under F is C: a kernel instantiated per (functor, compute type) then holds the
// conversions of exactly the dtypes it serves, and the functor's math once.
template <class F, class C, class Fn>
__device__ __forceinline__ void for_dtype(DType t, Fn&& f) {
#define BRASS_CUDA_CASE(T)                                                            \
  case DTypeOf<T>::value:                                                             \
    if constexpr (std::is_same<typename F::template compute<T>::type, C>::value) f(T()); \
    break;
  switch (t) {
    BRASS_CUDA_CASE(float)
    BRASS_CUDA_CASE(double)
    BRASS_CUDA_CASE(half_t)
    BRASS_CUDA_CASE(bf16_t)
    BRASS_CUDA_CASE(uint8_t)
    BRASS_CUDA_CASE(int8_t)
    BRASS_CUDA_CASE(int16_t)
    BRASS_CUDA_CASE(uint16_t)
    BRASS_CUDA_CASE(int32_t)
    BRASS_CUDA_CASE(uint32_t)
    BRASS_CUDA_CASE(int64_t)
    BRASS_CUDA_CASE(uint64_t)
    BRASS_CUDA_CASE(bool)
  }
#undef BRASS_CUDA_CASE
}

// Calls f(T()) for the storage type T that t names, whichever it is (for arrays such as index
// outputs and masks that may have any dtype).
struct AnyDType {
  template <class T> struct compute { using type = AnyDType; };
};
template <class Fn>
__device__ __forceinline__ void for_any_dtype(DType t, Fn&& f) {
  for_dtype<AnyDType, AnyDType>(t, f);
}

// Element i of an array of dtype t, in compute type C.
template <class F, class C>
__device__ __forceinline__ C load(const void* p, int64_t i, DType t) {
  C v = C(0);
  for_dtype<F, C>(t, [&](auto tag) {
    using T = decltype(tag);
    v = dev_convert<C>(static_cast<const T*>(p)[i]);
  });
  return v;
}

// Stores v into element i of an array of dtype t; add: adds to what is there (Req::kAdd).
template <class F, class C>
__device__ __forceinline__ void store(void* p, int64_t i, DType t, C v, bool add) {
  for_dtype<F, C>(t, [&](auto tag) {
    using T = decltype(tag);
    T* q = static_cast<T*>(p) + i;
    *q = dev_convert<T>(add ? C(dev_convert<C>(*q) + v) : v);
  });
}

}  // namespace cuda
}  // namespace brass
