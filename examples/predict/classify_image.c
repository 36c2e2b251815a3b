/*
** classify_image.c: the smallest useful app over the Brass predictor. It loads a model (symbol
** JSON + params, trained in Brass or MXNet 1.x), reads images in the netpbm formats (PGM for
** one channel, PPM for three; binary or text; no image library), and prints each image's top
** classes.
**
**   c++ -std=c++17 -O2 -c brass_predict.cc
**   cc -std=c99 -O2 -c classify_image.c
**   c++ -o classify_image classify_image.o brass_predict.o -pthread
**   ./classify_image lenet-symbol.json lenet-0000.params digit.pgm
**
** Options (before the files):
**   -i NAME        the model's data input (default "data")
**   -k K           how many classes to print (default 5)
**   --scale S      pixel value * S (default 1/255: pixels in [0, 1])
**   --mean A[,B,C] subtracted after scaling, one value or one per channel (default 0)
**   --std A[,B,C]  divided by after that (default 1)
**   --labels FILE  class names, one per line (default: class indices)
**   --softmax      print probabilities (for models whose output is logits)
** The model's input is (1, channels, height, width) of each image: images of another size are
** reshaped for, not resized. Output lines: "IMAGE: CLASS (SCORE), CLASS (SCORE), ...".
** Exit status 0 when every image was classified, 1 otherwise (the reason on stderr).
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "brass_predict.h"

enum { kMaxSide = 1 << 14 };

typedef struct {
  int channels, height, width;
  float *pixels; /* planar: channel, row, column; raw values (0..maxval) */
} Image;

/* Reads the next header number of a netpbm file, skipping white space and comments. */
static int read_header_int(FILE *f, long *out) {
  int c;
  for (;;) {
    c = fgetc(f);
    if (c == '#') {
      while (c != '\n' && c != EOF) c = fgetc(f);
    } else if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
      break;
    }
  }
  if (c < '0' || c > '9') return 0;
  long v = 0;
  while (c >= '0' && c <= '9') {
    v = v * 10 + (c - '0');
    if (v > 1000000000L) return 0;
    c = fgetc(f);
  }
  *out = v; /* the single white-space character after the number is consumed */
  return 1;
}

/* Loads a PGM (P2/P5) or PPM (P3/P6) image; on failure returns 0 with a message in err. */
static int read_netpbm(const char *path, Image *img, char *err, size_t errlen) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(err, errlen, "cannot open");
    return 0;
  }
  int ok = 0;
  long w = 0, h = 0, maxval = 0;
  char magic[2];
  img->pixels = NULL;
  if (fread(magic, 1, 2, f) != 2 || magic[0] != 'P' || (magic[1] != '2' && magic[1] != '3' &&
                                                        magic[1] != '5' && magic[1] != '6')) {
    snprintf(err, errlen, "not a PGM or PPM file (expected P2, P3, P5 or P6)");
  } else if (!read_header_int(f, &w) || !read_header_int(f, &h) || !read_header_int(f, &maxval)) {
    snprintf(err, errlen, "bad header");
  } else if (w < 1 || h < 1 || w > kMaxSide || h > kMaxSide || maxval < 1 || maxval > 65535) {
    snprintf(err, errlen, "unsupported size %ldx%ld or maxval %ld", w, h, maxval);
  } else {
    int c = (magic[1] == '3' || magic[1] == '6') ? 3 : 1;
    int text = magic[1] == '2' || magic[1] == '3';
    int wide = maxval > 255;
    size_t n = (size_t)w * (size_t)h * (size_t)c;
    img->pixels = (float *)malloc(n * sizeof(float));
    unsigned char *raw = text ? NULL : (unsigned char *)malloc(n * (wide ? 2 : 1));
    if (!img->pixels || (!text && !raw)) {
      snprintf(err, errlen, "out of memory");
    } else if (!text && fread(raw, wide ? 2 : 1, n, f) != n) {
      snprintf(err, errlen, "truncated pixel data");
    } else {
      ok = 1;
      for (size_t i = 0; i < n && ok; ++i) {
        long v;
        if (text) {
          if (!read_header_int(f, &v) || v > maxval) {
            snprintf(err, errlen, "bad pixel value at %zu", i);
            ok = 0;
          }
        } else {
          v = wide ? (long)raw[2 * i] << 8 | raw[2 * i + 1] : raw[i];
        }
        /* interleaved (pixel-major) in the file; planar in the tensor */
        size_t px = i / (size_t)c, ch = i % (size_t)c;
        img->pixels[ch * (size_t)w * (size_t)h + px] = (float)v * (255.0f / (float)maxval);
      }
      img->channels = c;
      img->height = (int)h;
      img->width = (int)w;
    }
    free(raw);
  }
  fclose(f);
  if (!ok) {
    free(img->pixels);
    img->pixels = NULL;
  }
  return ok;
}

/* "a" or "a,b,c" into three floats (one value repeated). */
static int parse_triple(const char *s, float out[3]) {
  char *end;
  for (int i = 0; i < 3; ++i) {
    out[i] = strtof(s, &end);
    if (end == s) return 0;
    if (*end == '\0') {
      for (int j = i + 1; j < 3; ++j) out[j] = (i == 0) ? out[0] : out[i];
      return i == 0 || i == 2;
    }
    if (*end != ',') return 0;
    s = end + 1;
  }
  return 0;
}

static char **read_labels(const char *path, int *count) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char line[1024];
  char **labels = NULL;
  int n = 0, cap = 0;
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\r\n")] = '\0';
    if (n == cap) {
      cap = cap ? 2 * cap : 64;
      char **grown = (char **)realloc(labels, (size_t)cap * sizeof *labels);
      if (!grown) break;
      labels = grown;
    }
    labels[n] = (char *)malloc(strlen(line) + 1);
    if (!labels[n]) break;
    strcpy(labels[n++], line);
  }
  fclose(f);
  *count = n;
  return labels;
}

static void usage(void) {
  fprintf(stderr, "usage: classify_image [-i NAME] [-k K] [--scale S] [--mean A[,B,C]] [--std A[,B,C]]\n"
                  "                      [--labels FILE] [--softmax] SYMBOL_JSON PARAMS IMAGE...\n");
}

int main(int argc, char **argv) {
  const char *input = "data", *labels_path = NULL;
  int top = 5, softmax = 0, a = 1;
  float scale = 1.0f / 255.0f, mean[3] = {0, 0, 0}, stdev[3] = {1, 1, 1};
  for (; a < argc && argv[a][0] == '-'; ++a) {
    const char *opt = argv[a];
    int has_value = a + 1 < argc;
    if (!strcmp(opt, "--softmax")) {
      softmax = 1;
    } else if (!has_value) {
      usage();
      return 1;
    } else if (!strcmp(opt, "-i")) {
      input = argv[++a];
    } else if (!strcmp(opt, "-k")) {
      top = atoi(argv[++a]);
    } else if (!strcmp(opt, "--scale")) {
      scale = strtof(argv[++a], NULL);
    } else if (!strcmp(opt, "--mean")) {
      if (!parse_triple(argv[++a], mean)) { usage(); return 1; }
    } else if (!strcmp(opt, "--std")) {
      if (!parse_triple(argv[++a], stdev)) { usage(); return 1; }
    } else if (!strcmp(opt, "--labels")) {
      labels_path = argv[++a];
    } else {
      usage();
      return 1;
    }
  }
  if (argc - a < 3 || top < 1) {
    usage();
    return 1;
  }
  int num_labels = 0;
  char **labels = NULL;
  if (labels_path && !(labels = read_labels(labels_path, &num_labels))) {
    fprintf(stderr, "classify_image: cannot read labels from %s\n", labels_path);
    return 1;
  }

  brass_model_t model;
  if (brass_model_load_files(argv[a], argv[a + 1], &model) != BRASS_OK) {
    fprintf(stderr, "classify_image: %s\n", brass_predict_last_error());
    return 1;
  }
  brass_predictor_t pred = 0;
  int have_pred = 0, failures = 0;
  int64_t shape[4] = {1, 0, 0, 0};
  float *scores = NULL;
  int *order = NULL;
  for (int i = a + 2; i < argc; ++i) {
    Image img;
    char err[256];
    if (!read_netpbm(argv[i], &img, err, sizeof err)) {
      fprintf(stderr, "classify_image: %s: %s\n", argv[i], err);
      ++failures;
      continue;
    }
    int64_t dims[4] = {1, img.channels, img.height, img.width}, indptr[2] = {0, 4};
    brass_status st = BRASS_OK;
    if (!have_pred) {
      st = brass_predictor_create(model, BRASS_CPU, 0, 1, &input, indptr, dims, 0, NULL, &pred);
      have_pred = st == BRASS_OK;
    } else if (memcmp(dims, shape, sizeof dims) != 0) {
      brass_predictor_t reshaped;
      st = brass_predictor_reshape(pred, 1, &input, indptr, dims, &reshaped);
      if (st == BRASS_OK) {
        brass_predictor_free(pred);
        pred = reshaped;
      }
    }
    memcpy(shape, dims, sizeof dims);
    size_t plane = (size_t)img.height * (size_t)img.width;
    for (int c = 0; c < img.channels; ++c)
      for (size_t p = 0; p < plane; ++p) {
        float *v = &img.pixels[(size_t)c * plane + p];
        *v = (*v * scale - mean[c]) / stdev[c];
      }
    int32_t ndim = 0;
    const int64_t *oshape = NULL;
    brass_dtype dtype = BRASS_FLOAT32;
    const char *oname = NULL;
    size_t count = 1;
    if (st == BRASS_OK)
      st = brass_predictor_set_input(pred, input, img.pixels, plane * (size_t)img.channels * sizeof(float));
    if (st == BRASS_OK) st = brass_predictor_forward(pred);
    if (st == BRASS_OK) st = brass_predictor_output_info(pred, 0, &oname, &ndim, &oshape, &dtype);
    if (st == BRASS_OK && dtype != BRASS_FLOAT32) {
      fprintf(stderr, "classify_image: the model's output %s is not float32\n", oname);
      return 1;
    }
    if (st == BRASS_OK) {
      for (int32_t d = 0; d < ndim; ++d) count *= (size_t)oshape[d];
      float *grown = (float *)realloc(scores, count * sizeof(float));
      int *grown_order = (int *)realloc(order, count * sizeof(int));
      if (grown) scores = grown;
      if (grown_order) order = grown_order;
      if (!grown || !grown_order) {
        fprintf(stderr, "classify_image: out of memory\n");
        return 1;
      }
      st = brass_predictor_get_output(pred, 0, scores, count * sizeof(float));
    }
    free(img.pixels);
    if (st != BRASS_OK) {
      fprintf(stderr, "classify_image: %s: %s\n", argv[i], brass_predict_last_error());
      ++failures;
      continue;
    }
    if (softmax) {
      float mx = scores[0], sum = 0;
      for (size_t k = 1; k < count; ++k) mx = scores[k] > mx ? scores[k] : mx;
      for (size_t k = 0; k < count; ++k) sum += scores[k] = expf(scores[k] - mx);
      for (size_t k = 0; k < count; ++k) scores[k] /= sum;
    }
    /* top-k by selection: k is small */
    int k = top < (int)count ? top : (int)count;
    for (size_t j = 0; j < count; ++j) order[j] = (int)j;
    for (int j = 0; j < k; ++j) {
      size_t best = (size_t)j;
      for (size_t q = (size_t)j + 1; q < count; ++q)
        if (scores[order[q]] > scores[order[best]]) best = q;
      int t = order[j];
      order[j] = order[best];
      order[best] = t;
    }
    printf("%s:", argv[i]);
    for (int j = 0; j < k; ++j) {
      if (order[j] < num_labels) printf("%s %s (%.4f)", j ? "," : "", labels[order[j]], scores[order[j]]);
      else printf("%s %d (%.4f)", j ? "," : "", order[j], scores[order[j]]);
    }
    printf("\n");
  }
  if (have_pred) brass_predictor_free(pred);
  brass_model_free(model);
  free(scores);
  free(order);
  for (int j = 0; j < num_labels; ++j) free(labels[j]);
  free(labels);
  return failures ? 1 : 0;
}
