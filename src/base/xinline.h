// BRASS_XINLINE marks small functions that run on both the host and a CUDA device (the
// element-wise functors and the float16/bfloat16 conversions): `__host__ __device__ inline`
// when nvcc compiles the file, plain `inline` otherwise.
#pragma once

#if defined(__CUDACC__)
#define BRASS_XINLINE __host__ __device__ inline
#else
#define BRASS_XINLINE inline
#endif

// Forces inlining, so that a body written once is compiled for the ISA of each caller (a
// function with a target attribute) rather than called at the baseline.
#if defined(__GNUC__) || defined(__clang__)
#define BRASS_ALWAYS_INLINE __attribute__((always_inline))
#else
#define BRASS_ALWAYS_INLINE
#endif

// Keeps a function out of line: registration code calls it hundreds of times, and inlining
// its body at each call only makes the library bigger and slower to compile.
#if defined(__GNUC__) || defined(__clang__)
#define BRASS_NOINLINE __attribute__((noinline))
#elif defined(_MSC_VER)
#define BRASS_NOINLINE __declspec(noinline)
#else
#define BRASS_NOINLINE
#endif
