/* An app written against MXNet 1.x's c_predict_api.h (only its names and types): loads a
** checkpoint, classifies one input given as text on stdin, prints the scores. Built by
** tests/python/test_predict_api.py against Brass's header and library, and against the
** two-file predictor (brass_predict.h + brass_predict.cc). */
#include <stdio.h>
#include <stdlib.h>

#ifdef BRASS_TEST_AMALGAMATION
#include "brass_predict.h"
#else
#include "brass/c_predict_api.h"
#endif

static char *slurp(const char *path, long *size) {
  FILE *f = fopen(path, "rb");
  char *buf;
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  *size = ftell(f);
  fseek(f, 0, SEEK_SET);
  buf = (char *)malloc((size_t)*size + 1);
  if (buf && fread(buf, 1, (size_t)*size, f) != (size_t)*size) {
    free(buf);
    buf = NULL;
  }
  if (buf) buf[*size] = 0;
  fclose(f);
  return buf;
}

int main(int argc, char **argv) {
  long json_size, param_size;
  char *json, *params;
  const char *keys[1] = {"data"};
  mx_uint indptr[2] = {0, 0}, shape[8], ndim = 0, *oshape, ondim, i, n = 1, on = 1;
  PredictorHandle pred;
  mx_float *in, *out;
  if (argc < 4) {
    fprintf(stderr, "usage: %s symbol.json params dim...\n", argv[0]);
    return 2;
  }
  json = slurp(argv[1], &json_size);
  params = slurp(argv[2], &param_size);
  if (!json || !params) {
    fprintf(stderr, "cannot read the model files\n");
    return 2;
  }
  for (i = 3; i < (mx_uint)argc && ndim < 8; ++i) {
    shape[ndim++] = (mx_uint)atoi(argv[i]);
    n *= shape[ndim - 1];
  }
  indptr[1] = ndim;
#ifdef BRASS_C_PREDICT_API_H_ /* Brass's header: which kernels run (tests of cross builds read it) */
  fprintf(stderr, "build: %s\n", brass_predict_build_info());
#endif
  if (MXPredCreate(json, params, (int)param_size, 1, 0, 1, keys, indptr, shape, &pred) != 0) {
    printf("error: %s\n", MXGetLastError());
    return 1;
  }
  in = (mx_float *)malloc(n * sizeof(mx_float));
  for (i = 0; i < n; ++i)
    if (scanf("%f", &in[i]) != 1) return 2;
  if (MXPredSetInput(pred, "data", in, n) != 0 || MXPredForward(pred) != 0 ||
      MXPredGetOutputShape(pred, 0, &oshape, &ondim) != 0) {
    printf("error: %s\n", MXGetLastError());
    return 1;
  }
  for (i = 0; i < ondim; ++i) on *= oshape[i];
  out = (mx_float *)malloc(on * sizeof(mx_float));
  if (MXPredGetOutput(pred, 0, out, on) != 0) {
    printf("error: %s\n", MXGetLastError());
    return 1;
  }
  for (i = 0; i < on; ++i) printf("%.9g\n", out[i]);
  MXPredFree(pred);
  free(in);
  free(out);
  free(json);
  free(params);
  return 0;
}
