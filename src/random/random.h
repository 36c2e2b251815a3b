// Counter-based random numbers (Philox4x32-10). Each random invocation reserves a stream id
// at push time, in program order, and element i draws from counter (stream, i): the values
// depend on the seed and the program, never on threads or the engine. The generator and the
// conversions to [0, 1) are BRASS_XINLINE: the CUDA kernels (cuda/random.cu) run this same code,
// so a GPU draws the same values as the CPU for the same seed.
#pragma once

#include <cmath>
#include <cstdint>

#include "base/device.h"
#include "base/xinline.h"

namespace brass {

struct RandomStream;

namespace random {
void seed(uint64_t s, int dev_type, int dev_id);  // dev_type < 0: every device
RandomStream next_stream(Device dev);

struct Philox {
  // Returns four 32-bit random words for counter block (stream, index).
  BRASS_XINLINE static void block(uint64_t seed, uint64_t stream, uint64_t index, uint32_t out[4]) {
    uint32_t k0 = uint32_t(seed), k1 = uint32_t(seed >> 32);
    uint32_t c0 = uint32_t(index), c1 = uint32_t(index >> 32), c2 = uint32_t(stream),
             c3 = uint32_t(stream >> 32);
    for (int r = 0; r < 10; ++r) {
      uint64_t p0 = uint64_t(0xD2511F53u) * c0, p1 = uint64_t(0xCD9E8D57u) * c2;
      uint32_t n0 = uint32_t(p1 >> 32) ^ c1 ^ k0, n2 = uint32_t(p0 >> 32) ^ c3 ^ k1;
      c1 = uint32_t(p1);
      c3 = uint32_t(p0);
      c0 = n0;
      c2 = n2;
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
  }
};

// Uniform in [0, 1) with 24 (float) or 53 (double) random bits.
BRASS_XINLINE float u01f(uint32_t x) { return float(x >> 8) * (1.0f / 16777216.0f); }
BRASS_XINLINE double u01d(uint32_t a, uint32_t b) {
  return double((uint64_t(a) << 21) ^ (b >> 11)) * (1.0 / 9007199254740992.0);
}

// a + b * x with each operation rounded on its own: nvcc would otherwise fuse it into one fma
// on the device (one rounding), and the GPU's values would differ from the CPU's in the last bit.
BRASS_XINLINE double affine(double a, double b, double x) {
#if defined(__CUDA_ARCH__)
  return __dadd_rn(a, __dmul_rn(b, x));
#else
  return a + b * x;
#endif
}
}  // namespace random
}  // namespace brass
