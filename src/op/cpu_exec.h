// The CPU executor of kernels written once for both devices (op/nn/spatial_params.h,
// op/image/image_params.h): the ops' host logic is a template over an executor `Exec` that
// provides
//   ex.run(n, f)        calls f(i) for i in [0, n) (on its device);
//   ex.upload(v)        a device copy of a small host table (std::vector<V>), alive until the
//                       op returns;
//   ex.host_values(b)   the values of a (small) array of any dtype, as doubles on the host.
// Its CUDA twin is cuda/gpu_exec.cuh.
#pragma once

#include <memory>
#include <utility>
#include <vector>

#include "base/dtype.h"
#include "engine/thread_pool.h"
#include "op/operator.h"

namespace brass {

struct CpuExec {
  std::vector<std::shared_ptr<void>> tables;
  template <class F>
  void run(int64_t n, const F& f) {
    thread_pool::parallel_for(n, 8192, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) f(i);
    });
  }
  template <class V>
  const V* upload(std::vector<V> v) {
    auto t = std::make_shared<std::vector<V>>(std::move(v));
    tables.push_back(t);
    return t->data();
  }
  std::vector<double> host_values(const TBlob& b) {
    std::vector<double> v(static_cast<size_t>(b.size()));
    dispatch_dtype(b.dtype, [&](auto tag) {
      using I = decltype(tag);
      const I* p = b.ptr<I>();
      for (size_t i = 0; i < v.size(); ++i) v[i] = convert<double>(p[i]);
      return 0;
    });
    return v;
  }
};

// A ComputeFn that runs F with a fresh CPU executor.
template <void (*F)(CpuExec&, const OpContext&, const std::vector<TBlob>&,
                     const std::vector<TBlob>&)>
void on_cpu(const OpContext& ctx, const std::vector<TBlob>& in, const std::vector<TBlob>& out) {
  CpuExec ex;
  F(ex, ctx, in, out);
}

}  // namespace brass
