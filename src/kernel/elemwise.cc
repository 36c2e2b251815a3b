// Broadcast planning and dtype conversion.
#include "kernel/elemwise.h"

#include "kernel/cast.h"

namespace brass {
namespace kernel {

Shape broadcast_shape(const Shape& a, const Shape& b, const char* op) {
  int nd = std::max(a.ndim(), b.ndim());
  Shape out(nd);
  for (int i = 0; i < nd; ++i) {
    int ia = a.ndim() - nd + i, ib = b.ndim() - nd + i;
    int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
    if (da == db || db == 1) out[i] = da;
    else if (da == 1) out[i] = db;
    else if (da < 0 || db < 0) out[i] = -1;
    else fail(BRASS_ERR_SHAPE, op, ": operands could not be broadcast together with shapes ", a, " ", b);
  }
  return out;
}

BroadcastPlan plan_broadcast(const Shape& a, const Shape& b, const Shape& out) {
  int nd = out.ndim();
  // Per output dim: extent and whether each input varies along it.
  std::vector<int64_t> ext;
  std::vector<char> va, vb;
  for (int i = 0; i < nd; ++i) {
    int ia = a.ndim() - nd + i, ib = b.ndim() - nd + i;
    int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
    if (out[i] == 1) continue;  // drop unit dims
    ext.push_back(out[i]);
    va.push_back(da != 1);
    vb.push_back(db != 1);
  }
  // Merge neighbours with the same pattern.
  std::vector<int64_t> me;
  std::vector<char> ma, mb;
  for (size_t i = 0; i < ext.size(); ++i) {
    if (!me.empty() && ma.back() == va[i] && mb.back() == vb[i]) me.back() *= ext[i];
    else { me.push_back(ext[i]); ma.push_back(va[i]); mb.push_back(vb[i]); }
  }
  BroadcastPlan p;
  if (me.empty()) { me.push_back(1); ma.push_back(1); mb.push_back(1); }
  p.inner = me.back();
  p.ia = ma.back() ? 1 : 0;
  p.ib = mb.back() ? 1 : 0;
  p.nd = int(me.size()) - 1;
  int64_t stride_a, stride_b;
  stride_a = ma.back() ? p.inner : 1;
  stride_b = mb.back() ? p.inner : 1;
  for (int d = p.nd - 1; d >= 0; --d) {
    p.dims[d] = me[d];
    p.sa[d] = ma[d] ? stride_a : 0;
    p.sb[d] = mb[d] ? stride_b : 0;
    if (ma[d]) stride_a *= me[d];
    if (mb[d]) stride_b *= me[d];
    p.outer *= me[d];
  }
  return p;
}

void cast(const TBlob& src, const TBlob& dst) {
  int64_t n = src.size();
  dispatch_dtype(src.dtype, [&](auto stag) {
    using S = decltype(stag);
    return dispatch_dtype(dst.dtype, [&](auto dtag) {
      using D = decltype(dtag);
      const S* s = src.ptr<S>();
      D* d = dst.ptr<D>();
      if constexpr (std::is_same<S, D>::value) {
        if (static_cast<const void*>(s) != static_cast<void*>(d)) std::memmove(d, s, size_t(n) * sizeof(S));
      } else {
        thread_pool::parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) d[i] = convert<D>(s[i]);
        });
      }
      return 0;
    });
  });
}

}  // namespace kernel
}  // namespace brass
