// CTCLoss (ctc_loss.cc, CUDA kernels in cuda/nn_ctc.cu): the parameters, the host-side
// preparation of labels and lengths (one function for both devices, so both fail alike), and
// the per-sample alpha-beta computation in log space, run by the CPU kernel and by the CUDA
// kernel (one thread per sample).
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "base/dtype.h"
#include "base/error.h"
#include "base/xinline.h"
#include "op/operator.h"

namespace brass {
namespace ctc_ops {

struct CTCLossParam {
  bool use_data_lengths, use_label_lengths;
  std::string blank_label;
  static void declare(ParamSpec<CTCLossParam>& s) {
    s.field("use_data_lengths", &CTCLossParam::use_data_lengths).set_default(false)
        .describe("Take each sequence's length from the input data_lengths (else every "
                  "sequence has the data's full length).");
    s.field("use_label_lengths", &CTCLossParam::use_label_lengths).set_default(false)
        .describe("Take each label's length from the input label_lengths (else a label ends "
                  "at the first padding value: 0 with blank_label 'first', -1 with 'last').");
    s.field("blank_label", &CTCLossParam::blank_label).set_default("first")
        .set_choices({"first", "last"})
        .describe("The class reserved for the blank: 'first' (class 0; labels 1..C-1) or "
                  "'last' (class C-1; labels 0..C-2).");
  }
};

// The labels and lengths of a batch as the kernels use them: labels (n, width) as int32 with
// lengths label_len (n), sequence lengths seq_len (n).
struct Packed {
  std::vector<int32_t> labels, label_len, seq_len;
};

// Reads labels and lengths (host copies, as double) and checks every value: label values in
// the vocabulary, lengths in range, and each label fitting its sequence (a repeated label
// needs a blank between its copies). Fails naming op and the offending values.
inline Packed ctc_prepare(const char* op, const CTCLossParam& p, int64_t t_max, int64_t n,
                          int64_t width, int64_t classes, const std::vector<double>& label,
                          const std::vector<double>* data_len,
                          const std::vector<double>* label_len) {
  bool first = p.blank_label == "first";
  int64_t lo = first ? 1 : 0, hi = first ? classes - 1 : classes - 2;
  int64_t pad = first ? 0 : -1;
  Packed r;
  r.labels.assign(size_t(n * width), 0);
  r.label_len.assign(size_t(n), 0);
  r.seq_len.assign(size_t(n), int32_t(t_max));
  for (int64_t b = 0; b < n; ++b) {
    int64_t tl = t_max;
    if (data_len) {
      double v = (*data_len)[size_t(b)];
      if (!(v >= 0 && v <= double(t_max)))
        fail(BRASS_ERR_INVALID_ARGUMENT, op, ": data_lengths[", b, "] = ", v,
             " is out of range [0, ", t_max, "] (the data has ", t_max, " time steps)");
      tl = int64_t(v);
    }
    const double* row = label.data() + b * width;
    int64_t len = width;
    if (label_len) {
      double v = (*label_len)[size_t(b)];
      if (!(v >= 0 && v <= double(width)))
        fail(BRASS_ERR_INVALID_ARGUMENT, op, ": label_lengths[", b, "] = ", v,
             " is out of range [0, ", width, "] (the label has ", width, " columns)");
      len = int64_t(v);
    } else {
      for (int64_t j = 0; j < width; ++j) {
        if (row[j] == row[j] && int64_t(row[j]) == pad) {  // NaN is no padding: fails below
          len = j;
          break;
        }
      }
    }
    int64_t repeats = 0;
    for (int64_t j = 0; j < len; ++j) {
      double v = row[j];
      if (!(v == v && int64_t(v) >= lo && int64_t(v) <= hi && v > double(lo - 1) &&
            v < double(hi + 1)))
        fail(BRASS_ERR_INVALID_ARGUMENT, op, ": label[", b, ", ", j, "] = ", v,
             " is out of range [", lo, ", ", hi, "] (", classes, " classes, blank_label '",
             p.blank_label, "')");
      r.labels[size_t(b * width + j)] = int32_t(v);
      if (j > 0 && r.labels[size_t(b * width + j)] == r.labels[size_t(b * width + j - 1)]) ++repeats;
    }
    if (len + repeats > tl)
      fail(BRASS_ERR_INVALID_ARGUMENT, op, ": sample ", b, ": a label of length ", len, " with ",
           repeats, " repeat(s) needs at least ", len + repeats, " time steps, the sequence has ",
           tl);
    r.label_len[size_t(b)] = int32_t(len);
    r.seq_len[size_t(b)] = int32_t(tl);
  }
  return r;
}

// Scratch (in compute-type elements) of one sample: log-softmax (t, classes), alpha (t, s),
// two rows of beta (s) and one per-class accumulator, s = 2 * width + 1.
inline int64_t ctc_scratch(int64_t t_max, int64_t width, int64_t classes) {
  int64_t s = 2 * width + 1;
  return (t_max > 0 ? t_max : 1) * (classes + s) + 2 * s + classes;
}

template <class C>
BRASS_XINLINE C ctc_logadd(C a, C b) {
  C m = a > b ? a : b;
  if (m == C(-INFINITY)) return m;
  C d = a > b ? b - a : a - b;
  return m + C(std::log1p(std::exp(d)));
}

// One sample b of data x (t_max, n, classes): its loss -log p(label | x) to *loss and, when
// grad is not null, d loss / d x to grad (same layout; zero past the sequence's length).
// lab: its label (len values), blank: the blank class, w: ctc_scratch(t_max, width, classes).
template <class C, class T>
BRASS_XINLINE void ctc_sample(const T* x, int64_t t_max, int64_t n, int64_t classes, int64_t b,
                              int64_t tl,
                              const int32_t* lab, int64_t len, int64_t width, int64_t blank,
                              C* w, T* loss, T* grad) {
  const C ninf = C(-INFINITY);
  const int64_t K = classes, S = 2 * len + 1, SW = 2 * width + 1;
  C* lp = w;                       // log-softmax (tl, K)
  C* alpha = lp + (tl > 0 ? tl : 1) * K;  // (tl, SW); row t holds S states
  C* beta = alpha + (tl > 0 ? tl : 1) * SW;  // two rows of SW
  C* acc = beta + 2 * SW;          // K
  // the extended label: blank, l1, blank, l2, ..., blank
#define BRASS_CTC_LABEL(s) ((s) % 2 == 0 ? blank : int64_t(lab[((s) - 1) / 2]))
  for (int64_t t = 0; t < tl; ++t) {
    const T* row = x + (t * n + b) * K;
    C m = C(row[0]);
    for (int64_t k = 1; k < K; ++k) m = C(row[k]) > m ? C(row[k]) : m;
    C sum = C(0);
    for (int64_t k = 0; k < K; ++k) sum += C(std::exp(C(row[k]) - m));
    C lse = m + C(std::log(sum));
    for (int64_t k = 0; k < K; ++k) lp[t * K + k] = C(row[k]) - lse;
  }
  C logp;
  if (tl == 0) {
    logp = len == 0 ? C(0) : ninf;  // the preparation rules out len > 0 here
  } else {
    for (int64_t s = 0; s < S; ++s) alpha[s] = s < 2 ? lp[BRASS_CTC_LABEL(s)] : ninf;
    for (int64_t t = 1; t < tl; ++t) {
      const C* prev = alpha + (t - 1) * SW;
      C* cur = alpha + t * SW;
      for (int64_t s = 0; s < S; ++s) {
        int64_t l = BRASS_CTC_LABEL(s);
        C a = prev[s];
        if (s >= 1) a = ctc_logadd(a, prev[s - 1]);
        if (s >= 2 && l != blank && l != BRASS_CTC_LABEL(s - 2)) a = ctc_logadd(a, prev[s - 2]);
        cur[s] = a == ninf ? ninf : a + lp[t * K + l];
      }
    }
    const C* last = alpha + (tl - 1) * SW;
    logp = S >= 2 ? ctc_logadd(last[S - 1], last[S - 2]) : last[S - 1];
  }
  *loss = T(-logp);
  if (!grad) return;
  for (int64_t t = tl; t < t_max; ++t)  // steps past the sequence do not affect the loss
    for (int64_t k = 0; k < K; ++k) grad[(t * n + b) * K + k] = T(0);
  // Beta, from the last step back: log of the probability of the rest of the label after step
  // t given state s at t. bt is the row of step t, bn the row of step t + 1.
  for (int64_t t = tl - 1; t >= 0; --t) {
    C* bt = beta + ((tl - 1 - t) % 2) * SW;
    const C* bn = beta + ((tl - t) % 2) * SW;
    for (int64_t s = 0; s < S; ++s) {
      if (t == tl - 1) {
        bt[s] = s >= S - 2 ? C(0) : ninf;
        continue;
      }
      int64_t l = BRASS_CTC_LABEL(s);
      C v = bn[s] == ninf ? ninf : bn[s] + lp[(t + 1) * K + l];
      if (s + 1 < S) {
        int64_t l1 = BRASS_CTC_LABEL(s + 1);
        if (bn[s + 1] != ninf) v = ctc_logadd(v, bn[s + 1] + lp[(t + 1) * K + l1]);
      }
      if (s + 2 < S) {
        int64_t l2 = BRASS_CTC_LABEL(s + 2);
        if (l2 != blank && l2 != l && bn[s + 2] != ninf)
          v = ctc_logadd(v, bn[s + 2] + lp[(t + 1) * K + l2]);
      }
      bt[s] = v;
    }
    // d loss / d x[t, k] = softmax(x[t])[k] - sum over states s labelled k of
    // exp(alpha(t, s) + beta(t, s) - log p)
    for (int64_t k = 0; k < K; ++k) acc[k] = ninf;
    const C* at = alpha + t * SW;
    for (int64_t s = 0; s < S; ++s) {
      if (at[s] == ninf || bt[s] == ninf) continue;
      int64_t l = BRASS_CTC_LABEL(s);
      acc[l] = ctc_logadd(acc[l], at[s] + bt[s]);
    }
    T* g = grad + (t * n + b) * K;
    for (int64_t k = 0; k < K; ++k) {
      C v = C(std::exp(lp[t * K + k]));
      if (acc[k] != ninf) v -= C(std::exp(acc[k] - logp));
      g[k] = T(v);
    }
  }
#undef BRASS_CTC_LABEL
}

}  // namespace ctc_ops
}  // namespace brass
