// A host emulation of the small part of CUDA that the Brass kernels use, for testing the CUDA
// sources on machines without a GPU (BRASS_CUDA_EMULATION; CMake: -DBRASS_CUDA_EMULATION=ON).
//
// The .cu files compile as plain C++ against this header: device memory is host memory,
// streams do nothing (work runs when it is launched), and a kernel launch calls the kernel
// function for every (block, thread) of a small grid on the calling thread. Every Brass kernel
// is a grid-stride loop whose result does not depend on the launch shape, so a small grid
// covers all elements while still exercising the striding. What this checks is the host logic,
// the indexing, the dtype dispatch and the conversions; not the device math or timing.
// The number of emulated GPUs is BRASS_EMULATED_GPUS (default 1).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
};

namespace brass {
namespace cuda {
namespace emulation {
inline thread_local dim3 block_idx, thread_idx, block_dim, grid_dim;
}  // namespace emulation
}  // namespace cuda
}  // namespace brass

#define blockIdx (::brass::cuda::emulation::block_idx)
#define threadIdx (::brass::cuda::emulation::thread_idx)
#define blockDim (::brass::cuda::emulation::block_dim)
#define gridDim (::brass::cuda::emulation::grid_dim)

enum cudaError_t { cudaSuccess = 0, cudaErrorInvalidValue = 1, cudaErrorMemoryAllocation = 2,
                   cudaErrorInvalidDevice = 101 };
enum cudaMemcpyKind { cudaMemcpyHostToHost, cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost,
                      cudaMemcpyDeviceToDevice, cudaMemcpyDefault };
using cudaStream_t = struct CUstream_emulated*;
constexpr unsigned cudaStreamNonBlocking = 1;

inline const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
  }
  return "cudaErrorUnknown";
}
inline const char* cudaGetErrorString(cudaError_t e) {
  return e == cudaSuccess ? "no error" : "emulated CUDA error";
}
inline cudaError_t cudaGetLastError() { return cudaSuccess; }
inline cudaError_t cudaGetDeviceCount(int* n) {
  const char* s = std::getenv("BRASS_EMULATED_GPUS");
  *n = s ? std::atoi(s) : 1;
  return cudaSuccess;
}
inline cudaError_t cudaSetDevice(int dev) {
  int n = 0;
  cudaGetDeviceCount(&n);
  return dev >= 0 && dev < n ? cudaSuccess : cudaErrorInvalidDevice;
}
inline cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned) {
  static char tag;
  *s = reinterpret_cast<cudaStream_t>(&tag);
  return cudaSuccess;
}
inline cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
inline cudaError_t cudaMalloc(void** p, size_t n) {
  // Poisoned, as fresh device memory holds garbage: kernels must not read what they did not write.
  *p = std::aligned_alloc(256, (n + 255) / 256 * 256);
  if (!*p) return cudaErrorMemoryAllocation;
  std::memset(*p, 0xA5, n);
  return cudaSuccess;
}
inline cudaError_t cudaFree(void* p) {
  std::free(p);
  return cudaSuccess;
}
inline cudaError_t cudaMemcpyAsync(void* d, const void* s, size_t n, cudaMemcpyKind, cudaStream_t) {
  std::memmove(d, s, n);
  return cudaSuccess;
}
inline cudaError_t cudaMemcpyPeerAsync(void* d, int, const void* s, int, size_t n, cudaStream_t) {
  std::memmove(d, s, n);
  return cudaSuccess;
}
inline cudaError_t cudaMemsetAsync(void* d, int v, size_t n, cudaStream_t) {
  std::memset(d, v, n);
  return cudaSuccess;
}

namespace brass {
namespace cuda {
namespace emulation {
// Runs body() once per (block, thread) of a grid cut down to at most 3 blocks of 5 threads:
// small enough to be fast, large enough that every grid-stride loop strides.
template <class Body>
void launch(unsigned grid, unsigned block, const Body& body) {
  grid_dim = dim3{grid < 3 ? grid : 3u, 1, 1};
  block_dim = dim3{block < 5 ? block : 5u, 1, 1};
  for (unsigned b = 0; b < grid_dim.x; ++b)
    for (unsigned t = 0; t < block_dim.x; ++t) {
      block_idx = dim3{b, 0, 0};
      thread_idx = dim3{t, 0, 0};
      body();
    }
}
}  // namespace emulation
}  // namespace cuda
}  // namespace brass
