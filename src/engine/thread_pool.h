// The one shared CPU thread pool. Engine work and intra-op chunks both run here, so busy
// threads never exceed its size (the cores, or BRASS_NUM_THREADS). Built without threads
// (BRASS_NO_THREADS) everything runs on the calling thread.
#pragma once

#include <cstdint>
#include <functional>
#include <utility>

namespace brass {

namespace thread_pool {
int num_threads();                                    // >= 1
void submit(std::function<void()> task, bool urgent = false);  // urgent: front of the queue
// Calls fn(begin, end) over [0, n) in chunks of at least `grain`, in parallel when worth it.
// Exceptions from fn are rethrown on the caller. Nested calls run serially.
void parallel_for_impl(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);
// Work that fits in one chunk runs inline without building a std::function.
template <class F>
inline void parallel_for(int64_t n, int64_t grain, F&& fn) {
  if (n <= 0) return;
  if (n <= grain || n <= 1) { fn(int64_t(0), n); return; }
  parallel_for_impl(n, grain, std::function<void(int64_t, int64_t)>(std::forward<F>(fn)));
}
bool in_worker();                                     // true on a pool thread
bool in_parallel();  // true inside a parallel_for body (nested loops run inline there)
}  // namespace thread_pool

}  // namespace brass
