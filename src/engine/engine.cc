// Threaded and naive engines. The threaded engine keeps, per variable, a count of running
// reads, a flag for a running write and a queue of waiting work; each piece of work counts
// the variables still to be granted and is dispatched when the count reaches zero.
#include "engine/engine.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#ifndef BRASS_NO_THREADS
#include <thread>
#endif

#include "base/error.h"
#include "engine/thread_pool.h"

namespace brass {

std::exception_ptr annotate_error(std::exception_ptr e, const char* op) {
  try {
    std::rethrow_exception(e);
  } catch (const Error& err) {
    std::string msg = err.what();
    if (msg.compare(0, std::strlen(op), op) == 0) return e;
    return std::make_exception_ptr(Error(err.code(), std::string(op) + ": " + msg));
  } catch (const std::bad_alloc&) {
    return std::make_exception_ptr(Error(BRASS_ERR_OUT_OF_MEMORY, std::string(op) + ": out of memory"));
  } catch (const std::exception& ex) {
    return std::make_exception_ptr(Error(BRASS_ERR_INTERNAL, std::string(op) + ": " + ex.what()));
  } catch (...) {
    return std::make_exception_ptr(Error(BRASS_ERR_INTERNAL, std::string(op) + ": unknown error"));
  }
}

struct OprBlock {
  std::atomic<int> wait{0};
  SyncFn fn;
  AsyncFn afn;
  std::vector<VarPtr> reads, writes;
  const char* name = "";
  Device dev;
  bool small = false;
  bool no_skip = false;  // wait markers run even when their variables carry errors
  bool overwrites = false;  // see Engine::push
};

namespace {
std::atomic<uint64_t> g_versions{0};
}  // namespace

void mark_written(const VarPtr* vars, size_t n) {
  for (size_t i = 0; i < n; ++i)
    vars[i]->version.store(g_versions.fetch_add(1, std::memory_order_relaxed) + 1, std::memory_order_release);
}

namespace engine_impl {

// Drops duplicates, and reads that are also writes.
void dedup(std::vector<VarPtr>& reads, std::vector<VarPtr>& writes) {
  auto uniq = [](std::vector<VarPtr>& v) {
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
  };
  if (writes.size() > 1) uniq(writes);
  if (reads.size() > 1) uniq(reads);
  if (!writes.empty() && !reads.empty())
    reads.erase(std::remove_if(reads.begin(), reads.end(),
                               [&](const VarPtr& r) {
                                 return std::find(writes.begin(), writes.end(), r) != writes.end();
                               }),
                reads.end());
}

std::exception_ptr first_error(const OprBlock& op) {
  for (auto* list : {&op.reads, &op.writes})
    for (auto& v : *list) {
      if (list == &op.writes && op.overwrites) break;
      std::lock_guard<std::mutex> lk(v->mu);
      if (v->error) return v->error;
    }
  return nullptr;
}

class GlobalErrors {
 public:
  void add(std::exception_ptr e) {
    std::lock_guard<std::mutex> lk(mu_);
    if (errs_.size() < 64) errs_.push_back(e);
  }
  // An error already raised by a wait on a variable is not raised again by wait_all.
  void forget(const std::exception_ptr& e) {
    std::lock_guard<std::mutex> lk(mu_);
    errs_.erase(std::remove(errs_.begin(), errs_.end(), e), errs_.end());
  }
  std::exception_ptr take() {
    std::lock_guard<std::mutex> lk(mu_);
    std::exception_ptr e = errs_.empty() ? nullptr : errs_.front();
    errs_.clear();
    return e;
  }

 private:
  std::mutex mu_;
  std::vector<std::exception_ptr> errs_;
};

void store_error(OprBlock& op, std::exception_ptr e, GlobalErrors& g) {
  for (auto& v : op.writes) {
    std::lock_guard<std::mutex> lk(v->mu);
    v->error = e;
  }
  g.add(e);
}

// After work that overwrites its variables succeeded: what they hold is no longer an error.
void clear_errors(OprBlock& op) {
  for (auto& v : op.writes) {
    std::lock_guard<std::mutex> lk(v->mu);
    v->error = nullptr;
  }
}

// ---------------------------------------------------------------------------------------
class NaiveEngine : public Engine {
 public:
  void do_push(SyncFn fn, std::vector<VarPtr> reads, std::vector<VarPtr> writes, Device dev,
               const char* name, bool, bool overwrites) override {
    OprBlock op;
    op.reads = std::move(reads);
    op.writes = std::move(writes);
    op.name = name;
    op.dev = dev;
    op.overwrites = overwrites;
    if (auto e = first_error(op)) { store_error(op, e, errors_); return; }
    try {
      fn();
    } catch (...) {
      store_error(op, annotate_error(std::current_exception(), name), errors_);
      return;
    }
    if (overwrites) clear_errors(op);
  }

  void do_push_async(AsyncFn fn, std::vector<VarPtr> reads, std::vector<VarPtr> writes, Device dev,
                     const char* name) override {
    OprBlock op;
    op.reads = std::move(reads);
    op.writes = std::move(writes);
    op.name = name;
    op.dev = dev;
    if (auto e = first_error(op)) { store_error(op, e, errors_); return; }
    struct State { std::mutex mu; std::condition_variable cv; bool done = false; std::exception_ptr err; };
    auto st = std::make_shared<State>();
    try {
      fn([st](std::exception_ptr e) {
        std::lock_guard<std::mutex> lk(st->mu);
        st->err = e;
        st->done = true;
        st->cv.notify_all();
      });
    } catch (...) {
      std::lock_guard<std::mutex> lk(st->mu);
      st->err = std::current_exception();
      st->done = true;
    }
    std::unique_lock<std::mutex> lk(st->mu);
    st->cv.wait(lk, [&] { return st->done; });
    if (st->err) store_error(op, annotate_error(st->err, name), errors_);
  }

  bool run_now(const VarPtr* reads, int nr, const VarPtr* writes, int nw,
               const std::function<void()>& fn, const char* name) override {
    for (int i = 0; i < nr + nw; ++i) {
      const VarPtr& v = i < nr ? reads[i] : writes[i - nr];
      std::lock_guard<std::mutex> lk(v->mu);
      if (v->error) return false;  // the pushed path propagates it
    }
    mark_written(writes, size_t(nw));
    try {
      fn();
    } catch (...) {
      auto e = annotate_error(std::current_exception(), name);
      for (int i = 0; i < nw; ++i) {
        std::lock_guard<std::mutex> lk(writes[i]->mu);
        writes[i]->error = e;
      }
      errors_.add(e);
    }
    return true;
  }

  void wait_for_var(const VarPtr& v, bool for_write) override {
    if (for_write) mark_written(&v, 1);
    std::exception_ptr e;
    {
      std::lock_guard<std::mutex> lk(v->mu);
      std::swap(e, v->error);
    }
    if (e) {
      errors_.forget(e);
      std::rethrow_exception(e);
    }
  }
  void wait_all() override {
    if (auto e = errors_.take()) std::rethrow_exception(e);
  }
  const char* kind() const override { return "naive"; }

 private:
  GlobalErrors errors_;
};

// ---------------------------------------------------------------------------------------
// The queue of one GPU: a worker thread that runs the device's work in the order it became
// ready. A GPU op waits for its stream before it completes; this keeps those waits on the
// device's own thread instead of the CPU pool's. Built without threads, the pool runs it.
class DeviceQueue {
 public:
  void submit(std::function<void()> task) {
#ifdef BRASS_NO_THREADS
    thread_pool::submit(std::move(task));
#else
    std::lock_guard<std::mutex> lk(mu_);
    tasks_.push_back(std::move(task));
    if (!started_) {
      started_ = true;
      std::thread([this] { loop(); }).detach();  // lives as long as the process
    }
    cv_.notify_one();
#endif
  }

 private:
#ifndef BRASS_NO_THREADS
  void loop() {
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock<std::mutex> lk(mu_);
        cv_.wait(lk, [&] { return !tasks_.empty(); });
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool started_ = false;
#endif
};

thread_local int t_inline_depth = 0;

class ThreadedEngine : public Engine {
 public:
  void do_push(SyncFn fn, std::vector<VarPtr> reads, std::vector<VarPtr> writes, Device dev,
               const char* name, bool small, bool overwrites) override {
    auto* op = new OprBlock;
    op->fn = std::move(fn);
    op->reads = std::move(reads);
    op->writes = std::move(writes);
    op->name = name;
    op->dev = dev;
    op->small = small;
    op->overwrites = overwrites;
    schedule(op);
  }

  void do_push_async(AsyncFn fn, std::vector<VarPtr> reads, std::vector<VarPtr> writes, Device dev,
                     const char* name) override {
    auto* op = new OprBlock;
    op->afn = std::move(fn);
    op->reads = std::move(reads);
    op->writes = std::move(writes);
    op->name = name;
    op->dev = dev;
    schedule(op);
  }

  void wait_for_var(const VarPtr& v, bool for_write) override {
    bool idle;
    {
      std::lock_guard<std::mutex> lk(v->mu);
      idle = !v->writing && v->queue.empty() && (!for_write || v->running_reads == 0);
    }
    if (!idle) {
      struct State { std::mutex mu; std::condition_variable cv; bool done = false; };
      auto st = std::make_shared<State>();
      auto* op = new OprBlock;
      op->fn = [st] {
        std::lock_guard<std::mutex> lk(st->mu);
        st->done = true;
        st->cv.notify_all();
      };
      if (for_write) op->writes.push_back(v); else op->reads.push_back(v);
      op->name = "wait_for_var";
      op->no_skip = true;
      op->small = true;
      schedule(op);
      std::unique_lock<std::mutex> lk(st->mu);
      st->cv.wait(lk, [&] { return st->done; });
    }
    if (for_write) mark_written(&v, 1);  // a host write follows
    std::exception_ptr e;
    {
      std::lock_guard<std::mutex> lk(v->mu);
      std::swap(e, v->error);
    }
    if (e) {
      errors_.forget(e);
      std::rethrow_exception(e);
    }
  }

  bool run_now(const VarPtr* reads, int nr, const VarPtr* writes, int nw,
               const std::function<void()>& fn, const char* name) override {
    // Claim every variable or none: lock them all (in address order, so two claimers cannot
    // deadlock), check they are idle, mark them, unlock.
    constexpr int kMax = 16;
    if (nr + nw > kMax) return false;
    Var* vs[kMax];
    bool wr[kMax];
    int n = 0;
    for (int i = 0; i < nw; ++i) { vs[n] = writes[i].get(); wr[n++] = true; }
    for (int i = 0; i < nr; ++i) {
      Var* v = reads[i].get();
      bool dup = false;
      for (int j = 0; j < n; ++j) dup = dup || vs[j] == v;
      if (!dup) { vs[n] = v; wr[n++] = false; }
    }
    for (int i = 1; i < n; ++i)  // insertion sort by address; n is tiny
      for (int j = i; j > 0 && vs[j] < vs[j - 1]; --j) { std::swap(vs[j], vs[j - 1]); std::swap(wr[j], wr[j - 1]); }
    int m = 0;
    for (int i = 0; i < n; ++i) {
      if (i > 0 && vs[i] == vs[i - 1]) { wr[i - 1] = wr[i - 1] || wr[i]; continue; }
      vs[m] = vs[i]; wr[m++] = wr[i];
    }
    n = m;
    for (int i = 0; i < n; ++i) vs[i]->mu.lock();
    bool ok = true;
    for (int i = 0; i < n && ok; ++i) {
      Var* v = vs[i];
      ok = !v->error && !v->writing && v->queue.empty() && (!wr[i] || v->running_reads == 0);
    }
    if (ok)
      for (int i = 0; i < n; ++i) {
        if (wr[i]) vs[i]->writing = true;
        else ++vs[i]->running_reads;
      }
    for (int i = n - 1; i >= 0; --i) vs[i]->mu.unlock();
    if (!ok) return false;
    mark_written(writes, size_t(nw));
    pending_.fetch_add(1);
    std::exception_ptr err;
    try {
      fn();
    } catch (...) {
      err = annotate_error(std::current_exception(), name);
    }
    // Release as complete() does, granting whatever queued behind us meanwhile.
    std::vector<OprBlock*> ready;
    for (int i = 0; i < n; ++i) {
      Var* v = vs[i];
      std::lock_guard<std::mutex> lk(v->mu);
      if (err && wr[i]) v->error = err;
      if (wr[i]) {
        v->writing = false;
        release_after_write(v, ready);
      } else if (--v->running_reads == 0 && !v->queue.empty()) {
        ready.push_back(v->queue.front().first);
        v->queue.pop_front();
        v->writing = true;
      }
    }
    if (err) errors_.add(err);
    for (OprBlock* r : ready) grant(r);
    if (pending_.fetch_sub(1) == 1) {
      std::lock_guard<std::mutex> lk(pending_mu_);
      pending_cv_.notify_all();
    }
    return true;
  }

  void wait_all() override {
    {
      std::unique_lock<std::mutex> lk(pending_mu_);
      pending_cv_.wait(lk, [&] { return pending_.load() == 0; });
    }
    if (auto e = errors_.take()) std::rethrow_exception(e);
  }

  const char* kind() const override { return "threaded"; }

 private:
  void schedule(OprBlock* op) {
    dedup(op->reads, op->writes);
    pending_.fetch_add(1);
    op->wait.store(int(op->reads.size() + op->writes.size()) + 1);
    int granted = 0;
    for (auto& v : op->reads) {
      std::lock_guard<std::mutex> lk(v->mu);
      if (!v->writing && v->queue.empty()) { ++v->running_reads; ++granted; }
      else v->queue.emplace_back(op, false);
    }
    for (auto& v : op->writes) {
      std::lock_guard<std::mutex> lk(v->mu);
      if (!v->writing && v->running_reads == 0 && v->queue.empty()) { v->writing = true; ++granted; }
      else v->queue.emplace_back(op, true);
    }
    if (op->wait.fetch_sub(granted + 1) == granted + 1) dispatch(op, true);
  }

  // After a write completes (v locked): grant the run of reads at the head, or one write.
  static void release_after_write(Var* v, std::vector<OprBlock*>& ready) {
    while (!v->queue.empty() && !v->queue.front().second) {
      ready.push_back(v->queue.front().first);
      v->queue.pop_front();
      ++v->running_reads;
    }
    if (v->running_reads == 0 && !v->queue.empty()) {
      ready.push_back(v->queue.front().first);
      v->queue.pop_front();
      v->writing = true;
    }
  }

  void grant(OprBlock* op, OprBlock** next = nullptr) {
    if (op->wait.fetch_sub(1) == 1) dispatch(op, false, next);
  }

  // next: where a pool worker that completed work takes the first CPU op it made ready, to
  // run it itself (see execute), or null.
  void dispatch(OprBlock* op, bool from_push, OprBlock** next = nullptr) {
    // GPU work goes to its device's queue. Cheap work that nothing blocks runs right here;
    // the rest goes to the pool. A bounded depth keeps chains of completions from growing
    // the stack.
    if (op->dev.is_gpu()) {
      device_queue(op->dev.id).submit([this, op] { execute(op); });
    } else if (op->small && t_inline_depth < 8 && (from_push || thread_pool::in_worker())) {
      ++t_inline_depth;
      execute(op);
      --t_inline_depth;
    } else if (next && !*next && thread_pool::in_worker()) {
      *next = op;
    } else {
      thread_pool::submit([this, op] { execute(op); });
    }
  }

  // Runs op, then, on a pool worker, the first CPU op its completion made ready, and so on: a
  // chain of dependent ops stays on one thread, skipping a trip through the pool's queue per
  // op, and finds its inputs in that core's cache. Other ready ops go to the pool.
  void execute(OprBlock* op) {
    while (op) {
      OprBlock* next = nullptr;
      execute_one(op, &next);
      op = next;
    }
  }

  void execute_one(OprBlock* op, OprBlock** next) {
    if (!op->no_skip) {
      if (auto e = first_error(*op)) return complete(op, e, true, next);
    }
    if (op->afn) {
      try {
        op->afn([this, op](std::exception_ptr e) { complete(op, e, false); });
      } catch (...) {
        complete(op, std::current_exception(), false);
      }
      return;
    }
    try {
      op->fn();
    } catch (...) {
      return complete(op, std::current_exception(), false, next);
    }
    complete(op, nullptr, false, next);
  }

  void complete(OprBlock* op, std::exception_ptr e, bool inherited, OprBlock** next = nullptr) {
    if (e) store_error(*op, inherited ? e : annotate_error(e, op->name), errors_);
    else if (op->overwrites) clear_errors(*op);
    std::vector<OprBlock*> ready;
    for (auto& v : op->reads) {
      std::lock_guard<std::mutex> lk(v->mu);
      if (--v->running_reads == 0 && !v->queue.empty()) {
        // Only a write can wait behind running reads.
        ready.push_back(v->queue.front().first);
        v->queue.pop_front();
        v->writing = true;
      }
    }
    for (auto& v : op->writes) {
      std::lock_guard<std::mutex> lk(v->mu);
      v->writing = false;
      release_after_write(v.get(), ready);
    }
    delete op;
    for (OprBlock* r : ready) grant(r, next);
    if (pending_.fetch_sub(1) == 1) {
      std::lock_guard<std::mutex> lk(pending_mu_);
      pending_cv_.notify_all();
    }
  }

  DeviceQueue& device_queue(int id) {
    std::lock_guard<std::mutex> lk(queues_mu_);
    auto& q = gpu_queues_[id];
    if (!q) q = std::make_unique<DeviceQueue>();
    return *q;
  }

  std::mutex queues_mu_;
  std::map<int, std::unique_ptr<DeviceQueue>> gpu_queues_;
  std::atomic<int64_t> pending_{0};
  std::mutex pending_mu_;
  std::condition_variable pending_cv_;
  GlobalErrors errors_;
};

}  // namespace engine_impl

Engine& Engine::get() {
  static Engine* e = [] () -> Engine* {
#ifdef BRASS_NO_THREADS
    return new engine_impl::NaiveEngine;
#else
    const char* k = std::getenv("BRASS_ENGINE");
    if (k && (std::strcmp(k, "naive") == 0 || std::strcmp(k, "NaiveEngine") == 0))
      return new engine_impl::NaiveEngine;
    return new engine_impl::ThreadedEngine;
#endif
  }();
  return *e;
}

}  // namespace brass
