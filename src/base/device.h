// Device: (type, id), MXNet's codes. Every array and every op carries one.
#pragma once

#include <cstdint>
#include <string>

#include "base/error.h"

namespace brass {

struct Device {
  int32_t type = BRASS_CPU;
  int32_t id = 0;
  bool is_gpu() const { return type == BRASS_GPU; }
  bool operator==(const Device& o) const { return type == o.type && id == o.id; }
  bool operator!=(const Device& o) const { return !(*this == o); }
  std::string str() const {
    return std::string(type == BRASS_GPU ? "gpu(" : type == BRASS_CPU_PINNED ? "cpu_pinned(" : "cpu(") +
           std::to_string(id) + ")";
  }
  static Device cpu(int id = 0) { return Device{BRASS_CPU, id}; }
  // Checks the (type, id) pair names a device this build can use, or fails.
  static Device make(int32_t type, int32_t id);
};

int gpu_count();  // 0 without CUDA

}  // namespace brass
