// Checks brass::kernel::sgemm/dgemm against a double-accumulated reference, for every ISA this
// machine runs: sizes around the tile and block edges of each kernel, all four transposes,
// alpha/beta variants, padded leading dimensions, and the same bits however C is split.
// Built and run by tests/python/test_gemm_native.py (natively and for aarch64 under qemu):
//   g++ -std=c++17 -O2 -I src -I include -I . tests/c/test_gemm.cc src/kernel/gemm*.cc
//       src/kernel/cpu_features.cc src/engine/thread_pool.cc src/base/error.cc src/base/host_memory.cc -pthread
#include <atomic>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <vector>

#include "kernel/cpu_features.h"
#include "kernel/gemm.h"
#include "kernel/gemm_internal.h"

namespace test_gemm {

using brass::kernel::Isa;
namespace gi = brass::kernel::gemm_internal;

int g_passed = 0, g_failed = 0;
constexpr int kMaxReports = 20;

void report(bool ok, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void report(bool ok, const char* fmt, ...) {
  if (ok) {
    ++g_passed;
    return;
  }
  if (++g_failed <= kMaxReports) {
    va_list ap;
    va_start(ap, fmt);
    std::printf("FAIL ");
    std::vprintf(fmt, ap);
    std::printf("\n");
    va_end(ap);
  }
}

// Deterministic values in [-1, 1), so a failure reproduces.
struct Rng {
  uint64_t s;
  double next() {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    return double(s >> 11) * (2.0 / 9007199254740992.0) - 1.0;
  }
};

void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  brass::kernel::sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const double* a,
          int64_t lda, const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  brass::kernel::dgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

template <class T>
const char* type_name() {
  return sizeof(T) == 4 ? "f32" : "f64";
}

template <class T>
gi::KernelDesc<T> desc(Isa isa);
template <>
gi::KernelDesc<float> desc<float>(Isa isa) {
  return gi::sgemm_kernel(isa);
}
template <>
gi::KernelDesc<double> desc<double>(Isa isa) {
  return gi::dgemm_kernel(isa);
}

struct Shape {
  int64_t m, n, k;
};

// A GEMM epilogue that doubles and adds 1, counting the visits of each element and checking
// that the row index it is given is the block's.
template <class T>
struct Visits {
  T* base;
  int64_t ldc;
  std::vector<int> seen;
  std::atomic<bool> rows_ok;  // tasks run on several threads
  static void run(const void* ctx, T* c, int64_t ldc, int64_t i0, int64_t rows, int64_t cols) {
    auto& v = *const_cast<Visits*>(static_cast<const Visits*>(ctx));
    const int64_t off = c - v.base;
    if (ldc != v.ldc || off / ldc != i0) v.rows_ok = false;
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < cols; ++j) {
        c[i * ldc + j] = T(2) * c[i * ldc + j] + T(1);
        ++v.seen[size_t(off + i * ldc + j)];
      }
  }
};

// One shape, all transposes, run on every ISA with several alpha/beta pairs. pad widens the
// leading dimensions past the minimum; splits > 0 also checks that the bits do not depend on
// how many tasks C is cut into.
template <class T>
void run_shape(const std::vector<Isa>& isas, Shape s, int pad, bool splits) {
  const T kNan = std::numeric_limits<T>::quiet_NaN();
  const T kSentinel = T(-12345.5);
  const double eps = std::numeric_limits<T>::epsilon();
  for (int t = 0; t < 4; ++t) {
    const bool ta = t & 1, tb = t & 2;
    const int64_t m = s.m, n = s.n, k = s.k;
    const int64_t a_rows = ta ? k : m, a_cols = ta ? m : k;
    const int64_t b_rows = tb ? n : k, b_cols = tb ? k : n;
    const int64_t lda = a_cols + pad + (a_cols == 0), ldb = b_cols + pad + (b_cols == 0);
    const int64_t ldc = n + pad + (n == 0);
    Rng rng{uint64_t(m * 1000003 + n * 1009 + k * 31 + t + pad)};
    std::vector<T> a(size_t(a_rows * lda) + 1), b(size_t(b_rows * ldb) + 1);
    for (auto& v : a) v = T(rng.next());
    for (auto& v : b) v = T(rng.next());
    std::vector<T> c0(size_t(m * ldc) + 1);
    for (auto& v : c0) v = T(rng.next());
    std::vector<double> ref(size_t(m * n)), mag(size_t(m * n));
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double acc = 0, aacc = 0;
        for (int64_t p = 0; p < k; ++p) {
          double x = ta ? a[p * lda + i] : a[i * lda + p];
          double y = tb ? b[j * ldb + p] : b[p * ldb + j];
          acc += x * y;
          aacc += std::fabs(x * y);
        }
        ref[i * n + j] = acc;
        mag[i * n + j] = aacc;
      }
    struct Variant {
      T alpha, beta;
    };
    const Variant variants[] = {{T(1), T(0)}, {T(1), T(1)}, {T(-0.75), T(0.5)}, {T(0), T(0.5)}};
    for (Isa isa : isas) {
      brass::kernel::set_isa(isa);
      for (const Variant& v : variants) {
        std::vector<T> c(c0);
        if (v.beta == T(0)) {
          for (int64_t i = 0; i < m; ++i)
            for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = kNan;
        }
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = n; j < ldc; ++j) c[i * ldc + j] = kSentinel;
        gemm(ta, tb, m, n, k, v.alpha, a.data(), lda, b.data(), ldb, v.beta, c.data(), ldc);
        int64_t bad = 0, bi = 0, bj = 0;
        double bgot = 0, bwant = 0;
        for (int64_t i = 0; i < m; ++i) {
          for (int64_t j = 0; j < ldc; ++j) {
            const double got = c[i * ldc + j];
            bool ok;
            double want;
            if (j >= n) {
              want = kSentinel;
              ok = got == want;
            } else {
              const double old = v.beta == T(0) ? 0.0 : double(c0[i * ldc + j]);
              want = double(v.alpha) * ref[i * n + j] + double(v.beta) * old;
              // Rounding-error bound of a length-k dot product plus the alpha/beta update.
              const double tol =
                  2.0 * double(k + 4) * eps *
                      (std::fabs(double(v.alpha)) * mag[i * n + j] + std::fabs(v.beta * old)) +
                  1e-30;
              ok = std::fabs(got - want) <= tol;  // false for NaN
            }
            if (!ok && bad++ == 0) {
              bi = i;
              bj = j;
              bgot = got;
              bwant = want;
            }
          }
        }
        report(bad == 0,
               "%s %s ta=%d tb=%d m=%lld n=%lld k=%lld pad=%d alpha=%g beta=%g: %lld wrong, "
               "first C[%lld,%lld] = %.9g, want %.9g",
               type_name<T>(), brass::kernel::isa_name(isa), int(ta), int(tb), (long long)m,
               (long long)n, (long long)k, pad, double(v.alpha), double(v.beta), (long long)bad,
               (long long)bi, (long long)bj, bgot, bwant);
      }
      if (!tb && m > 1) {
        // B packed from either layout forms each sum the same way: the same bits. (One row of
        // A is a matrix-vector product, whose dot products over B's rows sum in partial sums
        // instead.)
        std::vector<T> bt(size_t(n * k) + 1);
        for (int64_t p = 0; p < k; ++p)
          for (int64_t j = 0; j < n; ++j) bt[size_t(j * k + p)] = b[size_t(p * ldb + j)];
        std::vector<T> c1(c0), c2(c0);
        gemm(ta, false, m, n, k, T(1.25), a.data(), lda, b.data(), ldb, T(0.5), c1.data(), ldc);
        gemm(ta, true, m, n, k, T(1.25), a.data(), lda, bt.data(), k + (k == 0), T(0.5), c2.data(), ldc);
        report(std::memcmp(c1.data(), c2.data(), c1.size() * sizeof(T)) == 0,
               "%s %s ta=%d m=%lld n=%lld k=%lld: B and B transposed give other bits",
               type_name<T>(), brass::kernel::isa_name(isa), int(ta), (long long)m, (long long)n, (long long)k);
      }
      if (splits) {
        // The sum for each element must be formed in the same order however C is divided.
        std::vector<T> first;
        for (int tasks : {1, 2, 3, 4, 7}) {
          std::vector<T> c(c0);
          gi::set_gemm_tasks(tasks);
          gemm(ta, tb, m, n, k, T(1.25), a.data(), lda, b.data(), ldb, T(0.5), c.data(), ldc);
          gi::set_gemm_tasks(0);
          if (first.empty()) {
            first = c;
            continue;
          }
          report(std::memcmp(first.data(), c.data(), c.size() * sizeof(T)) == 0,
                 "%s %s ta=%d tb=%d m=%lld n=%lld k=%lld: %d tasks give other bits than 1",
                 type_name<T>(), brass::kernel::isa_name(isa), int(ta), int(tb), (long long)m,
                 (long long)n, (long long)k, tasks);
        }
        // The epilogue sees every element of C once, after its last product, in its row.
        for (int tasks : {1, 3}) {
          std::vector<T> c(c0);
          Visits<T> v{c.data(), ldc, std::vector<int>(size_t(m * ldc), 0), true};
          const brass::kernel::Epilogue<T> epi{&Visits<T>::run, &v};
          gi::set_gemm_tasks(tasks);
          brass::kernel::gemm_epilogue(ta, tb, m, n, k, T(1.25), a.data(), lda, b.data(), ldb, T(0.5), c.data(),
                                       ldc, &epi);
          gi::set_gemm_tasks(0);
          bool ok = v.rows_ok;
          for (int64_t i = 0; i < m; ++i)
            for (int64_t j = 0; j < ldc; ++j) {
              const size_t at = size_t(i * ldc + j);
              ok = ok && v.seen[at] == (j < n ? 1 : 0) && (j < n ? c[at] == T(2) * first[at] + T(1) : c[at] == c0[at]);
            }
          report(ok, "%s %s ta=%d tb=%d m=%lld n=%lld k=%lld: %d tasks, epilogue not once per element of C",
                 type_name<T>(), brass::kernel::isa_name(isa), int(ta), int(tb), (long long)m, (long long)n,
                 (long long)k, tasks);
        }
      }
    }
  }
}

template <class T>
void run_type(const std::vector<Isa>& isas) {
  // Sizes around each kernel's own tile and block edges.
  for (Isa isa : isas) {
    const gi::KernelDesc<T> d = desc<T>(isa);
    const int64_t mr = d.mr, nr = d.nr, kc = d.kc, mc = d.mc, nc = d.nc;
    const std::vector<Isa> one{isa};
    for (int64_t m : {int64_t(1), mr - 1, mr, mr + 1, 2 * mr + 3})
      for (int64_t n : {int64_t(1), nr - 1, nr, nr + 1, 2 * nr + 3})
        for (int64_t k : {1, 2, 17}) {
          if (m < 1 || n < 1) continue;
          run_shape<T>(one, {m, n, k}, int((m + n + k) % 3) * 3, false);
        }
    for (int64_t k : {kc - 1, kc, kc + 1, 2 * kc + 1})
      run_shape<T>(one, {mr + 1, nr + 1, k}, 1, false);
    run_shape<T>(one, {mc + 1, nr - 1, 9}, 2, true);
    run_shape<T>(one, {3, nc + nr + 1, 5}, 0, true);
  }
  // Empty products: C = beta * C, or nothing at all.
  for (Shape s : {Shape{0, 5, 3}, Shape{4, 0, 3}, Shape{4, 5, 0}, Shape{0, 0, 0}})
    run_shape<T>(isas, s, 2, false);
  // Large enough for the default split across threads, and several blocks deep.
  run_shape<T>(isas, {131, 157, 301}, 3, true);
  run_shape<T>(isas, {700, 20, 130}, 0, true);
  run_shape<T>(isas, {19, 600, 140}, 5, true);
  // One row of A (the matrix-vector path): short and long rows, columns across chunks.
  run_shape<T>(isas, {1, 600, 301}, 3, true);
  run_shape<T>(isas, {1, 1000, 17}, 0, true);
  run_shape<T>(isas, {1, 3, 1}, 1, true);
}

}  // namespace test_gemm

int main() {
  using brass::kernel::Isa;
  std::vector<Isa> isas;
  for (Isa i : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512, Isa::kNeon})
    if (brass::kernel::isa_supported(i)) isas.push_back(i);
  for (Isa i : isas) {
    const int before_p = test_gemm::g_passed, before_f = test_gemm::g_failed;
    test_gemm::run_type<float>({i});
    test_gemm::run_type<double>({i});
    std::printf("%s: %d passed, %d failed\n", brass::kernel::isa_name(i),
                test_gemm::g_passed - before_p, test_gemm::g_failed - before_f);
  }
  std::printf("%d passed, %d failed\n", test_gemm::g_passed, test_gemm::g_failed);
  return test_gemm::g_failed == 0 ? 0 : 1;
}
