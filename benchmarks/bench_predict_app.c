/* The C predictor's timing app for benchmarks/bench_predict.py:
**   bench_predict_app SYMBOL PARAMS N C H W REPEATS
** loads the model, binds it for (N, C, H, W), runs one forward (printing the seconds from
** process start to the first output, as the first line "first S"), then REPEATS more and
** prints each forward's milliseconds (set input, forward, read the output), one per line. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "brass_predict.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int fail(const char *what) {
  fprintf(stderr, "bench_predict_app: %s: %s\n", what, brass_predict_last_error());
  return 1;
}

int main(int argc, char **argv) {
  double start = now();
  if (argc != 8) {
    fprintf(stderr, "usage: bench_predict_app SYMBOL PARAMS N C H W REPEATS\n");
    return 2;
  }
  int64_t dims[4], indptr[2] = {0, 4};
  for (int i = 0; i < 4; ++i) dims[i] = atoll(argv[3 + i]);
  int repeats = atoi(argv[7]);
  size_t n = (size_t)(dims[0] * dims[1] * dims[2] * dims[3]);
  float *x = (float *)malloc(n * sizeof(float));
  for (size_t i = 0; i < n; ++i) x[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
  const char *names[1] = {"data"};
  brass_model_t model;
  brass_predictor_t pred;
  if (brass_model_load_files(argv[1], argv[2], &model) != BRASS_OK) return fail("load");
  if (brass_predictor_create(model, BRASS_CPU, 0, 1, names, indptr, dims, 0, NULL, &pred) != BRASS_OK)
    return fail("create");
  const char *oname;
  int32_t ndim;
  const int64_t *oshape;
  brass_dtype dt;
  if (brass_predictor_output_info(pred, 0, &oname, &ndim, &oshape, &dt) != BRASS_OK) return fail("output_info");
  size_t on = 1;
  for (int32_t i = 0; i < ndim; ++i) on *= (size_t)oshape[i];
  float *y = (float *)malloc(on * sizeof(float));
  for (int r = -1; r < repeats; ++r) {
    double t0 = now();
    if (brass_predictor_set_input(pred, "data", x, n * sizeof(float)) != BRASS_OK ||
        brass_predictor_forward(pred) != BRASS_OK ||
        brass_predictor_get_output(pred, 0, y, on * sizeof(float)) != BRASS_OK)
      return fail("forward");
    if (r < 0) printf("first %.4f\n", now() - start);
    else printf("%.4f\n", 1e3 * (now() - t0));
  }
  printf("checksum %.6g\n", (double)y[0] + (double)y[on - 1]);
  fprintf(stderr, "%s\n", brass_predict_build_info());
  brass_predictor_free(pred);
  brass_model_free(model);
  free(x);
  free(y);
  return 0;
}
