// Vectorized float32 transcendental functions for the hot element-wise paths, chosen at run
// time by ISA (AVX-512, AVX2, portable). Accurate to about 1 ulp of the C library's result.
#pragma once

#include <cstdint>

namespace brass {
namespace kernel {
// y[i] = exp(x[i]) for i < n; x and y may be the same array.
void exp_f32(const float* x, float* y, int64_t n);
// y[i] = tanh(x[i]) and 1 / (1 + exp(-x[i])) (x and y may be the same array).
void tanh_f32(const float* x, float* y, int64_t n);
void sigmoid_f32(const float* x, float* y, int64_t n);
}  // namespace kernel
}  // namespace brass
