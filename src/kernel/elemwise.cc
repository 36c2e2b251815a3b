// Broadcast planning and dtype conversion.
#include "kernel/elemwise.h"

#include "kernel/cast.h"

namespace brass {
namespace kernel {

namespace {
struct Same {  // the identity, computed in the storage type
  template <class T> struct compute { using type = T; };
  template <class T> static T map(T x) { return x; }
};
}  // namespace

void add_flat(const TBlob& in, const TBlob& out) {
  if (in.dtype != out.dtype || in.size() != out.size())
    fail(BRASS_ERR_INTERNAL, "add_flat: ", dtype_name(in.dtype), " ", in.shape, " into ", dtype_name(out.dtype), " ",
         out.shape);
  unary<Same>(in, out, Req::kAdd);
}

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
  // Non-unit output dims with whether each input varies along them, neighbours with the same
  // pattern merged. Fixed arrays: this runs on every small call.
  int64_t me[kMaxNDim];
  char ma[kMaxNDim], mb[kMaxNDim];
  int m = 0;
  for (int i = 0; i < nd; ++i) {
    if (out[i] == 1) continue;
    int ia = a.ndim() - nd + i, ib = b.ndim() - nd + i;
    char va = (ia >= 0 ? a[ia] : 1) != 1, vb = (ib >= 0 ? b[ib] : 1) != 1;
    if (m > 0 && ma[m - 1] == va && mb[m - 1] == vb) {
      me[m - 1] *= out[i];
    } else {
      me[m] = out[i];
      ma[m] = va;
      mb[m] = vb;
      ++m;
    }
  }
  BroadcastPlan p;
  if (m == 0) { me[0] = 1; ma[0] = 1; mb[0] = 1; m = 1; }
  p.inner = me[m - 1];
  p.ia = ma[m - 1] ? 1 : 0;
  p.ib = mb[m - 1] ? 1 : 0;
  p.nd = m - 1;
  int64_t stride_a = ma[m - 1] ? p.inner : 1, stride_b = mb[m - 1] ? p.inner : 1;
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
