// Thread pool: one deque of tasks served by N workers. parallel_for splits work into chunks
// that idle workers pick up; the caller works through chunks too, so it never blocks on a
// chunk nobody has started.
#include "engine/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <pthread.h>

#include "base/build_options.h"

namespace brass {
namespace thread_pool_impl {

thread_local bool t_in_worker = false;
thread_local int t_parallel_depth = 0;

int configured_threads() {
#ifdef BRASS_NO_THREADS
  return 1;
#else
  if (const char* s = std::getenv("BRASS_NUM_THREADS")) {
    int v = std::atoi(s);
    if (v >= 1) return std::min(v, 1024);
  }
  unsigned hc = std::thread::hardware_concurrency();
  return hc ? int(hc) : 1;
#endif
}

// Spins (with a pause) until ready() or about BRASS_SPIN_US microseconds have passed; true if
// ready. BRASS_SPIN=0 turns spinning off (a machine shared with other busy processes).
template <class F>
bool spin_until(F&& ready) {
  static const bool off = [] {
    const char* s = std::getenv("BRASS_SPIN");
    return s && s[0] == '0';
  }();
  if (off) return ready();
  const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(BRASS_SPIN_US);
  for (int i = 1;; ++i) {
    if (ready()) return true;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
    if (i % 64 == 0 && std::chrono::steady_clock::now() >= until) return ready();
  }
}

class Pool {
 public:
  explicit Pool(int n) : n_(n) {
#ifndef BRASS_NO_THREADS
    for (int i = 0; i < n; ++i) workers_.emplace_back([this] { loop(); });
#endif
  }
  // Never joined: the pool lives for the whole process (static destruction order would
  // otherwise race with late frees of engine work).
  int size() const { return n_; }

  void submit(std::function<void()> f, bool urgent) {
#ifdef BRASS_NO_THREADS
    (void)urgent;
    f();
#else
    bool wake;
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (urgent) q_.push_front(std::move(f));
      else q_.push_back(std::move(f));
      queued_.store(int64_t(q_.size()), std::memory_order_release);
      wake = sleeping_ > 0;
    }
    if (wake) cv_.notify_one();
#endif
  }

 private:
  void loop() {
    t_in_worker = true;
    for (;;) {
      // Work comes in bursts (an op's parallel loops, one after another): look for it a short
      // while before sleeping, which costs a system call on each side.
      spin_until([this] { return queued_.load(std::memory_order_acquire) > 0; });
      std::function<void()> f;
      {
        std::unique_lock<std::mutex> lk(mu_);
        if (q_.empty()) {
          ++sleeping_;
          cv_.wait(lk, [this] { return !q_.empty(); });
          --sleeping_;
        }
        f = std::move(q_.front());
        q_.pop_front();
        queued_.store(int64_t(q_.size()), std::memory_order_release);
      }
      f();
    }
  }
  int n_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> q_;
  std::atomic<int64_t> queued_{0};  // q_.size(), readable without the lock
  int sleeping_ = 0;                // workers waiting on cv_ (under mu_)
  std::vector<std::thread> workers_;
};

// The pool, made at first use. A process forked from this one (DataLoader worker processes)
// has none of its threads: the fork handler drops it (the old one is left behind, never
// touched again) and the child makes a pool of its own, of one thread unless
// BRASS_NUM_THREADS says otherwise (its parent's workers are the parallelism). Forking while
// engine work runs is not supported: wait for it first (nd.waitall).
std::atomic<Pool*> g_pool{nullptr};
std::atomic<bool> g_forked{false};
std::mutex* g_pool_mu = new std::mutex;

void on_fork_child() {
  g_pool_mu = new std::mutex;  // the parent's may have been held by a thread that is gone
  g_pool.store(nullptr, std::memory_order_relaxed);
  g_forked.store(true, std::memory_order_relaxed);
}

Pool& pool() {
  Pool* p = g_pool.load(std::memory_order_acquire);
  if (p) return *p;
  std::lock_guard<std::mutex> lk(*g_pool_mu);
  p = g_pool.load(std::memory_order_relaxed);
  if (!p) {
    static const bool registered = [] {
#ifndef BRASS_NO_THREADS
      pthread_atfork(nullptr, nullptr, on_fork_child);
#endif
      return true;
    }();
    (void)registered;
    bool child = g_forked.load(std::memory_order_relaxed) && !std::getenv("BRASS_NUM_THREADS");
    p = new Pool(child ? 1 : configured_threads());
    g_pool.store(p, std::memory_order_release);
  }
  return *p;
}

struct Job {
  explicit Job(thread_pool::RangeBody f) : fn(f) {}
  thread_pool::RangeBody fn;  // the caller's, alive until every chunk is done
  int64_t n = 0, chunk = 0, nchunks = 0;
  std::atomic<int64_t> next{0};
  std::atomic<int64_t> done{0};
  std::mutex mu;
  std::condition_variable cv;
  std::exception_ptr err;

  void run_chunks() {
    ++t_parallel_depth;
    for (;;) {
      int64_t c = next.fetch_add(1);
      if (c >= nchunks) break;
      int64_t b = c * chunk, e = std::min(n, b + chunk);
      try {
        fn(b, e);
      } catch (...) {
        std::lock_guard<std::mutex> lk(mu);
        if (!err) err = std::current_exception();
      }
      if (done.fetch_add(1) + 1 == nchunks) {
        std::lock_guard<std::mutex> lk(mu);
        cv.notify_all();
      }
    }
    --t_parallel_depth;
  }
};

}  // namespace thread_pool_impl

namespace thread_pool {

int num_threads() { return thread_pool_impl::pool().size(); }

void submit(std::function<void()> task, bool urgent) {
  thread_pool_impl::pool().submit(std::move(task), urgent);
}

bool in_worker() { return thread_pool_impl::t_in_worker; }
bool in_parallel() { return thread_pool_impl::t_parallel_depth > 0; }

void parallel_for_impl(int64_t n, int64_t grain, RangeBody fn) {
  using namespace thread_pool_impl;
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  int nt = num_threads();
  if (nt == 1 || n <= grain || t_parallel_depth > 0) {
    fn(0, n);
    return;
  }
  auto job = std::make_shared<Job>(fn);
  job->n = n;
  int64_t max_chunks = int64_t(nt) * 4;
  job->nchunks = std::min<int64_t>((n + grain - 1) / grain, max_chunks);
  job->chunk = (n + job->nchunks - 1) / job->nchunks;
  job->nchunks = (n + job->chunk - 1) / job->chunk;
  int helpers = int(std::min<int64_t>(nt - 1, job->nchunks - 1));
  for (int i = 0; i < helpers; ++i) pool().submit([job] { job->run_chunks(); }, true);
  job->run_chunks();
  spin_until([&] { return job->done.load() == job->nchunks; });  // helpers finish soon after
  if (job->done.load() != job->nchunks) {
    std::unique_lock<std::mutex> lk(job->mu);
    job->cv.wait(lk, [&] { return job->done.load() == job->nchunks; });
  }
  if (job->err) std::rethrow_exception(job->err);
}

}  // namespace thread_pool
}  // namespace brass
