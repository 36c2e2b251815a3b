// CUDA device management: device count, raw device memory for the pooled allocator
// (storage.cc), host<->device and device<->device copies (ndarray.cc), per-device streams.
// A static initializer installs these as the cuda_hooks that the CPU sources call.
#include "cuda/cuda_common.cuh"  // first: its pragmas cover the whole unit

#include <mutex>

#include "base/device.h"
#include "base/error.h"
#include "ndarray/ndarray.h"

namespace brass {

// Defined (as nullptr) in the CPU sources; device.h and storage.h leave them undeclared.
namespace cuda_hooks {
extern int (*device_count)();
extern void* (*device_malloc)(size_t, int);
extern void (*device_free)(void*, int);
}  // namespace cuda_hooks

namespace cuda {

void check(cudaError_t e, const char* call) {
  if (e == cudaSuccess) return;
  cudaGetLastError();  // clear it, so that later calls on this thread start clean
  fail(e == cudaErrorMemoryAllocation ? BRASS_ERR_OUT_OF_MEMORY : BRASS_ERR_DEVICE, call,
       " failed: ", cudaGetErrorName(e), ": ", cudaGetErrorString(e));
}

constexpr int kMaxDevices = 64;  // as the storage pools (storage.cc)

int device_count() {
  // Asked once: without a driver (or without a device) this is 0, never an abort.
  static const int n = [] {
    int c = 0;
    if (cudaGetDeviceCount(&c) != cudaSuccess) {
      cudaGetLastError();
      c = 0;
    }
    return c < kMaxDevices ? c : kMaxDevices;
  }();
  return n;
}

void set_device(int dev) {
  if (dev < 0 || dev >= device_count())
    fail(BRASS_ERR_DEVICE, "gpu(", dev, ") is not available: ", device_count(), " GPU(s) found");
  BRASS_CUDA_CALL(cudaSetDevice(dev));
}

cudaStream_t stream(int dev) {
  static std::mutex mu;
  static cudaStream_t streams[kMaxDevices] = {};
  set_device(dev);
  std::lock_guard<std::mutex> lk(mu);
  if (!streams[dev]) {
    // Non-blocking: no implicit ordering with the legacy default stream; every op and copy
    // of a device runs on this stream and waits for it.
    BRASS_CUDA_CALL(cudaStreamCreateWithFlags(&streams[dev], cudaStreamNonBlocking));
  }
  return streams[dev];
}

void finish(cudaStream_t s) {
  BRASS_CUDA_CALL(cudaGetLastError());
  BRASS_CUDA_CALL(cudaStreamSynchronize(s));
}

void* device_malloc(size_t n, int dev) {
  set_device(dev);
  void* p = nullptr;
  cudaError_t e = cudaMalloc(&p, n);
  if (e == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    return nullptr;  // the pool empties itself and retries, then reports out of memory
  }
  check(e, "cudaMalloc");
  return p;
}

void device_free(void* p, int dev) {
  // Called while releasing pooled blocks; a failure here (a device already torn down) has
  // nothing useful to report and must not throw.
  if (cudaSetDevice(dev) != cudaSuccess || cudaFree(p) != cudaSuccess) cudaGetLastError();
}

// Synchronous for now: the copy runs on the stream of the GPU side and is waited for.
void copy(void* dst, Device ddev, const void* src, Device sdev, size_t n) {
  if (n == 0) return;
  if (ddev.is_gpu() && sdev.is_gpu()) {
    cudaStream_t s = stream(sdev.id);
    if (ddev.id == sdev.id)
      BRASS_CUDA_CALL(cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToDevice, s));
    else
      BRASS_CUDA_CALL(cudaMemcpyPeerAsync(dst, ddev.id, src, sdev.id, n, s));
    BRASS_CUDA_CALL(cudaStreamSynchronize(s));
    return;
  }
  if (!ddev.is_gpu() && !sdev.is_gpu())
    fail(BRASS_ERR_INTERNAL, "cuda copy between two host buffers");
  cudaStream_t s = stream(ddev.is_gpu() ? ddev.id : sdev.id);
  cudaMemcpyKind kind = ddev.is_gpu() ? cudaMemcpyHostToDevice : cudaMemcpyDeviceToHost;
  BRASS_CUDA_CALL(cudaMemcpyAsync(dst, src, n, kind, s));
  BRASS_CUDA_CALL(cudaStreamSynchronize(s));
}

// The hooks are constant-initialized to nullptr, so setting them here is safe in any
// static-initialization order.
const bool kHooksInstalled = [] {
  cuda_hooks::device_count = &device_count;
  cuda_hooks::device_malloc = &device_malloc;
  cuda_hooks::device_free = &device_free;
  cuda_hooks::copy = &copy;
  return true;
}();

}  // namespace cuda
}  // namespace brass
