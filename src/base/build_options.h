// Build options that trim the library for the predictor (amalgamate.py writes them into
// brass_predict.cc; docs/PREDICT.md lists them):
//   BRASS_PREDICT_ONLY        inference only: BRASS_TRAINING is 0, so backward operators and
//                             gradient functions are left out, and kernels are compiled for
//                             float32, int32, int64 and uint8 only (BRASS_LEAN_DTYPES)...
//   BRASS_PREDICT_ALL_DTYPES  ...unless this is defined too.
//   BRASS_ALL_OPS 0           op selection: only the operators X with BRASS_OP_X defined to 1
//                             are compiled (X is the operator's name without its leading
//                             underscores: BRASS_OP_Convolution, BRASS_OP_plus_scalar).
//                             Predictor builds only.
//   BRASS_CONV_DEPTHWISE 0    no depthwise convolution kernels (the planes, the channels-last
//                             blocks): amalgamate.py --ops-from writes it for models without
//                             grouped convolutions. A depthwise convolution then still runs,
//                             as a grouped GEMM (slower, other rounding).
//   BRASS_NO_THREADS          one thread: the engine runs everything on the caller's thread.
//   BRASS_SPIN_US             how long (microseconds) an idle pool thread looks for work
//                             before it sleeps: 50, 300 in predictor builds, whose callers run
//                             forward after forward with a little work of their own between
//                             (copying the input in and the output out) and would otherwise
//                             wake sleeping threads at each one. BRASS_SPIN=0 turns spinning
//                             off at run time.
// Each registration in src/op sits under `#if BRASS_ALL_OPS || BRASS_OP_X ...` naming the
// operators it registers; backward ones under `#if BRASS_TRAINING`.
#pragma once

#ifdef BRASS_PREDICT_ONLY
#define BRASS_TRAINING 0
#if !defined(BRASS_PREDICT_ALL_DTYPES) && !defined(BRASS_LEAN_DTYPES)
#define BRASS_LEAN_DTYPES 1
#endif
#else
#define BRASS_TRAINING 1
#endif

#ifndef BRASS_ALL_OPS
#define BRASS_ALL_OPS 1
#endif
#ifndef BRASS_CONV_DEPTHWISE
#define BRASS_CONV_DEPTHWISE 1
#endif
#ifndef BRASS_SPIN_US
#define BRASS_SPIN_US (BRASS_TRAINING ? 50 : 300)
#endif
#if !BRASS_ALL_OPS && BRASS_TRAINING
#error "op selection (BRASS_ALL_OPS 0) is for the predictor: define BRASS_PREDICT_ONLY too"
#endif
