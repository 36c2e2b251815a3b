// The one shared CPU thread pool. Engine work and intra-op chunks both run here, so busy
// threads never exceed its size (the cores, or BRASS_NUM_THREADS). Built without threads
// (BRASS_NO_THREADS) everything runs on the calling thread.
#pragma once

#include <cstdint>
#include <functional>
#include <type_traits>
#include <utility>

namespace brass {

namespace thread_pool {
int num_threads();                                    // >= 1
void submit(std::function<void()> task, bool urgent = false);  // urgent: front of the queue
// A range body borrowed for one parallel_for call: a pointer and a call thunk, nothing copied
// (parallel_for returns only after every chunk has run). One small thunk per body type is all
// a loop instantiates: the library has hundreds of them.
class RangeBody {
 public:
  template <class F, class = std::enable_if_t<!std::is_same_v<std::remove_const_t<F>, RangeBody>>>
  explicit RangeBody(F& f)
      : obj_(const_cast<void*>(static_cast<const void*>(&f))),
        call_([](void* o, int64_t b, int64_t e) { (*static_cast<F*>(o))(b, e); }) {}
  void operator()(int64_t b, int64_t e) const { call_(obj_, b, e); }

 private:
  void* obj_;
  void (*call_)(void*, int64_t, int64_t);
};

// Calls fn(begin, end) over [0, n) in chunks of at least `grain`, in parallel when worth it.
// Exceptions from fn are rethrown on the caller. Nested calls run serially.
void parallel_for_impl(int64_t n, int64_t grain, RangeBody fn);
// Work that fits in one chunk runs inline.
template <class F>
inline void parallel_for(int64_t n, int64_t grain, F&& fn) {
  if (n <= 0) return;
  if (n <= grain || n <= 1) { fn(int64_t(0), n); return; }
  parallel_for_impl(n, grain, RangeBody(fn));
}
bool in_worker();                                     // true on a pool thread
bool in_parallel();  // true inside a parallel_for body (nested loops run inline there)
}  // namespace thread_pool

}  // namespace brass
