// The dependency engine. Work is pushed with the variables it reads and writes; work on
// disjoint variables runs concurrently, conflicting work keeps program order (reads between
// two writes may run together). Two implementations behind one interface: threaded (the
// default) and naive (BRASS_ENGINE=naive: runs each push to completion on the caller).
//
// Errors: work that throws stores its error on the variables it writes; later work touching
// such a variable is skipped and inherits the error; a wait on the variable rethrows it.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/device.h"

namespace brass {

struct OprBlock;

// A variable tags one resource (an array's memory). Owned by shared_ptr; pushed work keeps
// the variables it uses alive.
// A FIFO of waiting work that allocates nothing until something waits (most variables never
// queue anything, and a std::deque allocates on construction).
class WaitQueue {
 public:
  bool empty() const { return head_ == items_.size(); }
  const std::pair<OprBlock*, bool>& front() const { return items_[head_]; }
  void pop_front() {
    if (++head_ == items_.size()) { items_.clear(); head_ = 0; }
  }
  void emplace_back(OprBlock* op, bool is_write) { items_.emplace_back(op, is_write); }

 private:
  std::vector<std::pair<OprBlock*, bool>> items_;
  size_t head_ = 0;
};

struct Var {
  std::mutex mu;
  int64_t running_reads = 0;
  bool writing = false;
  WaitQueue queue;  // (work, is_write) not yet granted
  std::exception_ptr error;
  // Names the contents: a number new to the process whenever work that writes the variable is
  // pushed (or run now), or a host write is waited for (wait_for_var for writing). Read when
  // work is pushed, it names what that work will read: (address, version) can key a cache of
  // something derived from the contents (packed convolution filters). 0: never written that way.
  std::atomic<uint64_t> version{0};
  // The memory is written outside the engine (its address was handed out, or it belongs to
  // someone else): versions say nothing. Never cleared.
  std::atomic<bool> untracked{false};
};
using VarPtr = std::shared_ptr<Var>;

// Gives each of the variables a new version (see Var::version).
void mark_written(const VarPtr* vars, size_t n);
// The variable's version, or 0 when its contents cannot be named (untracked, never written).
inline uint64_t contents_version(const Var& v) {
  return v.untracked.load(std::memory_order_relaxed) ? 0 : v.version.load(std::memory_order_acquire);
}

// Completion callback of asynchronous work: call once, from any thread; nullptr = success.
using DoneFn = std::function<void(std::exception_ptr)>;
using SyncFn = std::function<void()>;
using AsyncFn = std::function<void(DoneFn)>;

class Engine {
 public:
  virtual ~Engine() = default;
  static Engine& get();
  static VarPtr new_var() { return std::make_shared<Var>(); }

  // `small` hints that the work is cheap: the threaded engine may run it on the pushing
  // thread when nothing blocks it, which saves a thread hop. Both give the written variables
  // new versions first.
  // overwrites: the work writes all of every variable it writes, whatever it held, so errors
  // stored there (an earlier write failed) neither skip it nor outlive its success: only its
  // reads' errors are inherited.
  void push(SyncFn fn, std::vector<VarPtr> reads, std::vector<VarPtr> writes, Device dev,
            const char* name, bool small = false, bool overwrites = false) {
    mark_written(writes.data(), writes.size());
    do_push(std::move(fn), std::move(reads), std::move(writes), dev, name, small, overwrites);
  }
  void push_async(AsyncFn fn, std::vector<VarPtr> reads, std::vector<VarPtr> writes, Device dev,
                  const char* name) {
    mark_written(writes.data(), writes.size());
    do_push_async(std::move(fn), std::move(reads), std::move(writes), dev, name);
  }
  // Runs fn on the calling thread right now if nothing blocks it (no pending work that
  // conflicts, no stored errors), holding the variables as pushed work would; returns false
  // (without running anything) otherwise, and the caller pushes instead. Saves the cost of a
  // pushed closure for small work.
  virtual bool run_now(const VarPtr* reads, int num_reads, const VarPtr* writes, int num_writes,
                       const std::function<void()>& fn, const char* name) = 0;
  // Blocks until earlier writes (for_write: all earlier work) on v are done; rethrows and
  // clears v's stored error.
  virtual void wait_for_var(const VarPtr& v, bool for_write = false) = 0;
  // Blocks until all pushed work is done; rethrows (and clears) the first stored error.
  virtual void wait_all() = 0;
  virtual const char* kind() const = 0;

 protected:
  virtual void do_push(SyncFn fn, std::vector<VarPtr> reads, std::vector<VarPtr> writes, Device dev,
                       const char* name, bool small, bool overwrites) = 0;
  virtual void do_push_async(AsyncFn fn, std::vector<VarPtr> reads, std::vector<VarPtr> writes,
                             Device dev, const char* name) = 0;
};

// Wraps an exception so its message names the op it came from.
std::exception_ptr annotate_error(std::exception_ptr e, const char* op);

}  // namespace brass
