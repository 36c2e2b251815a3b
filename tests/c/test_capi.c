/* C99 test of the public API: includes only the public header (brass.h when built against
** the amalgamation). Creates, invokes, reads back, checks error paths and version agreement,
** async work completed from another thread, and a randomized workload whose results must equal
** a serial evaluation bit for bit. Prints "N passed, N failed". */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef BRASS_TEST_AMALGAMATION
#include "brass.h"
#else
#include "brass/c_api.h"
#endif

static int g_pass = 0, g_fail = 0;
#define CHECK(cond, ...)                                         \
  do {                                                           \
    if (cond) {                                                  \
      ++g_pass;                                                  \
    } else {                                                     \
      ++g_fail;                                                  \
      printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);     \
      printf(__VA_ARGS__);                                       \
      printf("\n");                                              \
    }                                                            \
  } while (0)

static brass_op_t op(const char *name) {
  brass_op_t h = NULL;
  if (brass_op_find(name, &h) != BRASS_OK) {
    printf("no op %s: %s\n", name, brass_last_error());
    exit(2);
  }
  return h;
}

static brass_ndarray_t vec(const float *v, int64_t n) {
  brass_ndarray_t a = NULL;
  brass_ndarray_create(&n, 1, BRASS_FLOAT32, BRASS_CPU, 0, &a);
  brass_ndarray_copy_from(a, v, (size_t)n * sizeof(float));
  return a;
}

static brass_ndarray_t call2(const char *name, brass_ndarray_t a, brass_ndarray_t b) {
  brass_ndarray_t in[2];
  brass_ndarray_t out = NULL;
  int32_t n = 1;
  in[0] = a;
  in[1] = b;
  if (brass_op_invoke(op(name), 2, in, NULL, &n, &out) != BRASS_OK) return NULL;
  return out;
}

static void test_version_and_info(void) {
  CHECK(brass_version_number() == BRASS_VERSION_NUMBER, "library %d header %d", brass_version_number(),
        BRASS_VERSION_NUMBER);
  CHECK(strcmp(brass_version_string(), BRASS_VERSION_STRING) == 0, "%s", brass_version_string());
  CHECK(strlen(brass_source_id()) > 0, "empty source id");
  CHECK(brass_num_threads() >= 1, "threads %d", brass_num_threads());
  int32_t n = 0;
  CHECK(brass_op_count(&n) == BRASS_OK && n > 100, "op count %d", n);
}

static void test_create_invoke_read(void) {
  float x[4] = {1, 2, 3, 4}, y[4] = {10, 20, 30, 40}, r[4] = {0};
  brass_ndarray_t a = vec(x, 4), b = vec(y, 4);
  brass_ndarray_t c = call2("broadcast_add", a, b);
  CHECK(c != NULL, "%s", brass_last_error());
  CHECK(brass_ndarray_copy_to(c, r, sizeof r) == BRASS_OK, "%s", brass_last_error());
  CHECK(r[0] == 11 && r[3] == 44, "got %g %g", r[0], r[3]);
  int32_t ndim = -1, dtype = -1, dt = -1, di = -1;
  int64_t shape[BRASS_MAX_NDIM];
  CHECK(brass_ndarray_info(c, &ndim, shape, &dtype, &dt, &di) == BRASS_OK && ndim == 1 && shape[0] == 4 &&
            dtype == BRASS_FLOAT32 && dt == BRASS_CPU && di == 0,
        "info");
  /* string parameters */
  const char *keys[1] = {"scalar"}, *vals[1] = {"0.5"};
  brass_ndarray_t d = NULL;
  int32_t n = 1;
  CHECK(brass_op_invoke_str(op("_mul_scalar"), 1, &c, 1, keys, vals, &n, &d) == BRASS_OK, "%s",
        brass_last_error());
  brass_ndarray_copy_to(d, r, sizeof r);
  CHECK(r[1] == 11, "got %g", r[1]);
  /* writing into a given output */
  n = 1;
  CHECK(brass_op_invoke(op("broadcast_mul"), 2, (brass_ndarray_t[]){a, b}, NULL, &n, &d) == BRASS_OK, "%s",
        brass_last_error());
  brass_ndarray_copy_to(d, r, sizeof r);
  CHECK(r[2] == 90, "got %g", r[2]);
  brass_ndarray_free(a);
  brass_ndarray_free(b);
  brass_ndarray_free(c);
  brass_ndarray_free(d);
}

static void test_errors(void) {
  float x[3] = {1, 2, 3}, y[2] = {1, 2};
  brass_ndarray_t a = vec(x, 3), b = vec(y, 2);
  CHECK(call2("broadcast_add", a, b) == NULL, "mismatched shapes accepted");
  CHECK(strstr(brass_last_error(), "broadcast_add") != NULL, "message: %s", brass_last_error());
  brass_op_t h;
  CHECK(brass_op_find("no_such_op", &h) == BRASS_ERR_NOT_FOUND, "unknown op");
  CHECK(strstr(brass_last_error(), "no_such_op") != NULL, "message: %s", brass_last_error());
  brass_ndarray_free(b);
  /* a freed handle is refused, not dereferenced */
  float r[2];
  CHECK(brass_ndarray_copy_to(b, r, sizeof r) == BRASS_ERR_HANDLE, "freed handle accepted");
  CHECK(brass_ndarray_copy_to((brass_ndarray_t)(uintptr_t)0xdeadbeef, r, sizeof r) == BRASS_ERR_HANDLE,
        "forged handle accepted");
  CHECK(brass_ndarray_copy_to(a, r, sizeof r) == BRASS_ERR_INVALID_ARGUMENT, "wrong size accepted");
  int64_t bad = -3;
  brass_ndarray_t z = NULL;
  CHECK(brass_ndarray_create(&bad, 1, BRASS_FLOAT32, BRASS_CPU, 0, &z) == BRASS_ERR_SHAPE, "negative extent");
  int64_t ok = 2;
  CHECK(brass_ndarray_create(&ok, 1, 99, BRASS_CPU, 0, &z) == BRASS_ERR_DTYPE, "bad dtype");
  CHECK(brass_ndarray_create(&ok, 1, BRASS_FLOAT32, BRASS_GPU, 0, &z) == BRASS_ERR_DEVICE, "gpu without cuda");
  brass_ndarray_free(NULL); /* harmless */
  brass_ndarray_free(b);    /* double free is harmless */
  brass_ndarray_free(a);
}

/* Async work completed later from another thread. */
struct async_ctx {
  brass_ndarray_t arr;
  float value;
  int fail;
};

static void *completer(void *p) {
  void **args = (void **)p;
  struct async_ctx *c = (struct async_ctx *)args[0];
  brass_async_t tok = (brass_async_t)args[1];
  brass_async_complete(tok, c->fail ? "network went away" : NULL);
  free(p);
  return NULL;
}

static void async_fn(void *ctx, brass_async_t tok) {
  pthread_t t;
  void **args = (void **)malloc(2 * sizeof(void *));
  args[0] = ctx;
  args[1] = tok;
  pthread_create(&t, NULL, completer, args);
  pthread_detach(t);
}

static void test_async(void) {
  float x[2] = {1, 2}, r[2];
  brass_ndarray_t a = vec(x, 2);
  struct async_ctx ok = {a, 0, 0}, bad = {a, 0, 1};
  CHECK(brass_engine_push_async(async_fn, &ok, 0, NULL, 1, &a, "reduce_ok") == BRASS_OK, "%s",
        brass_last_error());
  brass_ndarray_t b = call2("broadcast_add", a, a); /* ordered after the async work */
  CHECK(brass_ndarray_copy_to(b, r, sizeof r) == BRASS_OK && r[1] == 4, "after async: %g", r[1]);
  CHECK(brass_engine_push_async(async_fn, &bad, 0, NULL, 1, &a, "allreduce") == BRASS_OK, "push");
  brass_ndarray_t c = call2("broadcast_add", a, a); /* skipped: its input carries the error */
  CHECK(brass_ndarray_copy_to(c, r, sizeof r) != BRASS_OK, "error not propagated");
  CHECK(strstr(brass_last_error(), "network went away") != NULL, "message: %s", brass_last_error());
  brass_wait_all(); /* clears the stored errors */
  brass_ndarray_free(a);
  brass_ndarray_free(b);
  brass_ndarray_free(c);
}

/* Randomized workload: results must equal a serial evaluation in plain C, bit for bit. */
static uint32_t rng_state = 12345;
static uint32_t rnd(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 17;
  rng_state ^= rng_state << 5;
  return rng_state;
}

static void test_random_workload(void) {
  enum { NA = 12, LEN = 3000, STEPS = 400 };
  static float ref[NA][LEN], got[LEN];
  brass_ndarray_t arr[NA];
  int64_t n = LEN;
  for (int i = 0; i < NA; ++i) {
    for (int j = 0; j < LEN; ++j) ref[i][j] = (float)((i * 7 + j) % 13) * 0.25f;
    brass_ndarray_create(&n, 1, BRASS_FLOAT32, BRASS_CPU, 0, &arr[i]);
    brass_ndarray_copy_from(arr[i], ref[i], sizeof ref[i]);
  }
  const char *names[3] = {"broadcast_add", "broadcast_mul", "broadcast_sub"};
  for (int s = 0; s < STEPS; ++s) {
    int k = rnd() % 3, x = rnd() % NA, y = rnd() % NA, z = rnd() % NA;
    brass_ndarray_t in[2];
    in[0] = arr[x];
    in[1] = arr[y];
    int32_t no = 1;
    brass_ndarray_t out = arr[z];
    brass_status st = brass_op_invoke(op(names[k]), 2, in, NULL, &no, &out);
    if (st != BRASS_OK) {
      CHECK(0, "invoke: %s", brass_last_error());
      return;
    }
    for (int j = 0; j < LEN; ++j) {
      float a = ref[x][j], b = ref[y][j];
      float v = k == 0 ? a + b : k == 1 ? a * b : a - b;
      /* keep values bounded so they stay finite */
      got[j] = v;
    }
    memcpy(ref[z], got, sizeof got);
    if (s % 50 == 49) { /* rescale everything to keep magnitudes sane */
      for (int i = 0; i < NA; ++i) {
        const char *k2[1] = {"scalar"}, *v2[1] = {"0.125"};
        int32_t n1 = 1;
        brass_ndarray_t o = arr[i];
        brass_op_invoke_str(op("_mul_scalar"), 1, &arr[i], 1, k2, v2, &n1, &o);
        for (int j = 0; j < LEN; ++j) ref[i][j] *= 0.125f;
      }
    }
  }
  int mismatch = 0;
  for (int i = 0; i < NA; ++i) {
    brass_ndarray_copy_to(arr[i], got, sizeof got);
    if (memcmp(got, ref[i], sizeof got) != 0) ++mismatch;
    brass_ndarray_free(arr[i]);
  }
  CHECK(mismatch == 0, "%d arrays differ from the serial evaluation", mismatch);
  /* checksum for cross-engine comparison */
  printf("engine %s threads %d\n", brass_engine_kind(), brass_num_threads());
}

/* Symbols from C: compose, JSON round trip, hostile JSON, inference, executor. */
static void test_symbols(void) {
  brass_symbol_t x = NULL, y = NULL, r = NULL, s = NULL, back = NULL;
  CHECK(brass_symbol_variable("x", 0, NULL, NULL, &x) == BRASS_OK, "%s", brass_last_error());
  CHECK(brass_symbol_variable("y", 0, NULL, NULL, &y) == BRASS_OK, "%s", brass_last_error());
  brass_symbol_t xy[2];
  xy[0] = x;
  xy[1] = y;
  CHECK(brass_symbol_compose(op("elemwise_mul"), "m", 0, NULL, NULL, 2, xy, 0, NULL, NULL, &s) == BRASS_OK,
        "%s", brass_last_error());
  CHECK(brass_symbol_compose(op("relu"), "r", 0, NULL, NULL, 1, &s, 0, NULL, NULL, &r) == BRASS_OK, "%s",
        brass_last_error());
  int32_t n = 0;
  const char **names = NULL;
  CHECK(brass_symbol_list(r, 0, &n, &names) == BRASS_OK && n == 2 && strcmp(names[1], "y") == 0, "arguments");
  const char *json = NULL;
  CHECK(brass_symbol_to_json(r, &json) == BRASS_OK && strstr(json, "\"relu\"") != NULL, "tojson");
  CHECK(brass_symbol_from_json(json, &back) == BRASS_OK, "%s", brass_last_error());
  const char *json2 = NULL;
  char *copy = (char *)malloc(strlen(json) + 1);
  strcpy(copy, json);
  CHECK(brass_symbol_to_json(back, &json2) == BRASS_OK && strcmp(copy, json2) == 0, "round trip");
  /* Every prefix of a valid document is malformed: refused with a message, never a crash. */
  size_t len = strlen(copy);
  int refused = 0;
  for (size_t k = 0; k < len; k += 7) {
    char saved = copy[k];
    brass_symbol_t t = NULL;
    copy[k] = 0;
    if (brass_symbol_from_json(copy, &t) != BRASS_OK) ++refused;
    else brass_symbol_free(t);
    copy[k] = saved;
  }
  CHECK(refused == (int)((len + 6) / 7), "%d of %d prefixes refused", refused, (int)((len + 6) / 7));
  free(copy);
  char *deep = (char *)malloc(200001);
  memset(deep, '[', 200000);
  deep[200000] = 0;
  brass_symbol_t t = NULL;
  CHECK(brass_symbol_from_json(deep, &t) == BRASS_ERR_FORMAT && strstr(brass_last_error(), "deeply"), "%s",
        brass_last_error());
  free(deep);
  CHECK(brass_symbol_from_json("{\"nodes\": [{\"op\": \"relu\", \"name\": \"q\", \"inputs\": [[3, 0]]}], "
                               "\"heads\": [[0, 0]]}", &t) == BRASS_ERR_FORMAT &&
            strstr(brass_last_error(), "'q'") != NULL, "%s", brass_last_error());
  /* Shapes and a bound executor: r = relu(x * y). */
  const char *known[1] = {"x"};
  int32_t nd[1] = {1};
  int64_t dims[1] = {3};
  int32_t complete = 0, counts[3];
  const int32_t *ond[3];
  const int64_t *od[3];
  CHECK(brass_symbol_infer_shape(r, 1, known, nd, dims, &complete, counts, ond, od) == BRASS_OK && complete &&
            counts[0] == 2 && od[0][1] == 3, "infer_shape: %s", brass_last_error());
  float xv[3] = {1, -2, 3}, yv[3] = {2, 2, -1}, gv[3];
  brass_ndarray_t args[2], grads[2], out = NULL;
  args[0] = vec(xv, 3);
  args[1] = vec(yv, 3);
  grads[0] = vec(gv, 3);
  grads[1] = NULL;
  int32_t reqs[2] = {1, 0};
  brass_executor_t exe = NULL;
  CHECK(brass_executor_bind(r, BRASS_CPU, 0, 2, args, grads, reqs, 0, NULL, &exe) == BRASS_OK, "%s",
        brass_last_error());
  CHECK(brass_executor_forward(exe, 1) == BRASS_OK && brass_executor_backward(exe, 0, NULL) == BRASS_OK, "%s",
        brass_last_error());
  int32_t nout = 1;
  float ov[3];
  CHECK(brass_executor_outputs(exe, &nout, &out) == BRASS_OK && nout == 1, "outputs");
  brass_ndarray_copy_to(out, ov, sizeof ov);
  brass_ndarray_copy_to(grads[0], gv, sizeof gv);
  CHECK(ov[0] == 2 && ov[1] == 0 && ov[2] == 0 && gv[0] == 2 && gv[1] == 0 && gv[2] == 0, "values %g %g %g / %g %g %g",
        ov[0], ov[1], ov[2], gv[0], gv[1], gv[2]);
  int64_t wrong = 4;
  brass_ndarray_t w = NULL;
  brass_ndarray_create(&wrong, 1, BRASS_FLOAT32, BRASS_CPU, 0, &w);
  brass_ndarray_t bad_args[2];
  brass_executor_t bad = NULL;
  bad_args[0] = w;
  bad_args[1] = args[1];
  CHECK(brass_executor_bind(r, BRASS_CPU, 0, 2, bad_args, NULL, NULL, 0, NULL, &bad) == BRASS_ERR_SHAPE &&
            strstr(brass_last_error(), "'m'") != NULL, "%s", brass_last_error());
  brass_executor_free(exe);
  brass_ndarray_free(w);
  brass_ndarray_free(out);
  brass_ndarray_free(args[0]);
  brass_ndarray_free(args[1]);
  brass_ndarray_free(grads[0]);
  brass_symbol_free(back);
  brass_symbol_free(r);
  brass_symbol_free(s);
  brass_symbol_free(y);
  brass_symbol_free(x);
}

static void test_live_handles(void) {
  int64_t live = -1;
  CHECK(brass_ndarray_live_count(&live) == BRASS_OK && live == 0, "%lld arrays leaked", (long long)live);
}

int main(void) {
  test_version_and_info();
  test_create_invoke_read();
  test_errors();
  test_async();
  test_random_workload();
  test_symbols();
  test_live_handles();
  printf("%d passed, %d failed\n", g_pass, g_fail);
  return g_fail ? 1 : 0;
}
