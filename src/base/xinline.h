// BRASS_XINLINE marks small functions that run on both the host and a CUDA device (the
// element-wise functors and the float16/bfloat16 conversions): `__host__ __device__ inline`
// when nvcc compiles the file, plain `inline` otherwise.
#pragma once

#if defined(__CUDACC__)
#define BRASS_XINLINE __host__ __device__ inline
#else
#define BRASS_XINLINE inline
#endif
