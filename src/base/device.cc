// Device validation.
#include "base/device.h"

namespace brass {

namespace cuda_hooks {
int (*device_count)() = nullptr;  // set by the CUDA sources when built with CUDA
}

int gpu_count() { return cuda_hooks::device_count ? cuda_hooks::device_count() : 0; }

Device Device::make(int32_t type, int32_t id) {
  if (type != BRASS_CPU && type != BRASS_GPU && type != BRASS_CPU_PINNED)
    fail(BRASS_ERR_DEVICE, "unknown device type ", type, " (1 = cpu, 2 = gpu, 3 = cpu_pinned)");
  if (id < 0) fail(BRASS_ERR_DEVICE, "device id ", id, " is negative");
  if (type == BRASS_GPU) {
    int n = gpu_count();
    if (n == 0)
      fail(BRASS_ERR_DEVICE, "gpu(", id, ") is not available: ",
#ifdef BRASS_USE_CUDA
           "no CUDA device was found"
#else
           "this build of Brass has no CUDA support"
#endif
      );
    if (id >= n) fail(BRASS_ERR_DEVICE, "gpu(", id, ") is not available: ", n, " GPU(s) found");
  }
  // cpu(i) for any i shares the host's memory and pool, as in MXNet.
  return Device{type == BRASS_CPU_PINNED ? BRASS_CPU : type, type == BRASS_GPU ? id : id};
}

}  // namespace brass
