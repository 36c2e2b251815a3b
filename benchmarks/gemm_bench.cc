// SGEMM/DGEMM throughput of brass::kernel::sgemm called directly, for tuning the kernels
// without the Python package. Build (from the repository root):
//   g++ -std=c++17 -O2 -I src -I include -I . benchmarks/gemm_bench.cc src/kernel/gemm*.cc
//   (continued) src/kernel/cpu_features.cc src/engine/thread_pool.cc src/base/error.cc src/base/host_memory.cc -pthread -o /tmp/gemm_bench
//   BRASS_NUM_THREADS=1 /tmp/gemm_bench [sizes...]   (BRASS_ISA=avx2 forces a kernel family)
// Options: -d (float64), -t (A and B transposed), -r SECONDS (time per size), -c (time by the
// calling thread's CPU clock: steadier on a busy machine, meaningful with one thread only),
// -n TASKS (cut C into that many tasks instead of the driver's choice).
// Built with -shared -fPIC instead, it is the library that bench_gemm.py --kernel-lib loads.
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "engine/thread_pool.h"
#include "kernel/cpu_features.h"
#include "kernel/gemm.h"
#include "kernel/gemm_internal.h"

namespace gemm_bench {

template <class T>
void call(bool t, int64_t n, const T* a, const T* b, T* c);
template <>
void call<float>(bool t, int64_t n, const float* a, const float* b, float* c) {
  brass::kernel::sgemm(t, t, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
}
template <>
void call<double>(bool t, int64_t n, const double* a, const double* b, double* c) {
  brass::kernel::dgemm(t, t, n, n, n, 1.0, a, n, b, n, 0.0, c, n);
}

bool g_cpu_clock = false;

double now() {
  if (g_cpu_clock) {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

template <class T>
double gflops(int64_t n, bool t, double seconds) {
  std::vector<T> a(n * n), b(n * n), c(n * n);
  for (int64_t i = 0; i < n * n; ++i) {
    a[i] = T((i * 7 % 13) - 6) / 8;
    b[i] = T((i * 5 % 11) - 5) / 8;
  }
  call<T>(t, n, a.data(), b.data(), c.data());
  double best = 1e30;
  auto start = std::chrono::steady_clock::now();
  int reps = 0;
  // Best of many short runs: the machine is shared, and the minimum is the least disturbed.
  while (reps < 3 ||
         std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() <
             seconds) {
    double t0 = now();
    call<T>(t, n, a.data(), b.data(), c.data());
    double dt = now() - t0;
    if (dt < best) best = dt;
    ++reps;
  }
  return 2.0 * double(n) * double(n) * double(n) / best * 1e-9;
}

}  // namespace gemm_bench

// C = A * B for row-major float32 matrices; the entry point bench_gemm.py calls with ctypes.
extern "C" __attribute__((visibility("default"))) void brass_bench_sgemm(int64_t m, int64_t n,
                                                                       int64_t k, const float* a,
                                                                       const float* b, float* c) {
  brass::kernel::sgemm(false, false, m, n, k, 1.0f, a, k, b, n, 0.0f, c, n);
}

int main(int argc, char** argv) {
  bool dbl = false, trans = false;
  double seconds = 1.0;
  std::vector<long> sizes;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "-d")) dbl = true;
    else if (!std::strcmp(argv[i], "-t")) trans = true;
    else if (!std::strcmp(argv[i], "-c")) gemm_bench::g_cpu_clock = true;
    else if (!std::strcmp(argv[i], "-n") && i + 1 < argc)
      brass::kernel::gemm_internal::set_gemm_tasks(std::atoi(argv[++i]));
    else if (!std::strcmp(argv[i], "-r") && i + 1 < argc) seconds = std::atof(argv[++i]);
    else sizes.push_back(std::atol(argv[i]));
  }
  if (sizes.empty()) sizes = {256, 512, 1024, 2048};
  std::printf("isa=%s threads=%d dtype=%s trans=%d\n",
              brass::kernel::isa_name(brass::kernel::active_isa()),
              brass::thread_pool::num_threads(), dbl ? "f64" : "f32", int(trans));
  for (long n : sizes) {
    double g = dbl ? gemm_bench::gflops<double>(n, trans, seconds)
                   : gemm_bench::gflops<float>(n, trans, seconds);
    std::printf("%6ld %8.1f GFLOP/s\n", n, g);
    std::fflush(stdout);
  }
  return 0;
}
