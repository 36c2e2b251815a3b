// MXNet's NDArray list files (.params, .nd): the writer and the hostile-input loader declared in
// ndarray_io.h. Called by the C API (brass_ndarray_save / brass_ndarray_load*). The layout is
// given in FORMATS.md section 5; every field is little-endian.
#include "ndarray/ndarray_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "base/host_memory.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
// Array data is copied verbatim between memory and the file.
#error "ndarray_io.cc assumes a little-endian host"
#endif

namespace brass {
namespace ndarray_io_impl {

constexpr uint64_t kListMagic = 0x112;
constexpr uint32_t kMagicV1 = 0xF993FAC8u;
constexpr uint32_t kMagicV2 = 0xF993FAC9u;
constexpr uint32_t kMagicV3 = 0xF993FACAu;
constexpr int32_t kStypeDefault = 0, kStypeRowSparse = 1, kStypeCSR = 2;

std::atomic<uint64_t> g_load_limit{uint64_t(16) << 30};

// ---- Writing --------------------------------------------------------------------------------

class Sink {
 public:
  virtual ~Sink() = default;
  virtual void write(const void* p, size_t n) = 0;
  void u32(uint32_t v) {
    uint8_t b[4];
    for (int i = 0; i < 4; ++i) b[i] = uint8_t(v >> (8 * i));
    write(b, 4);
  }
  void i32(int32_t v) { u32(uint32_t(v)); }
  void u64(uint64_t v) {
    uint8_t b[8];
    for (int i = 0; i < 8; ++i) b[i] = uint8_t(v >> (8 * i));
    write(b, 8);
  }
  void i64(int64_t v) { u64(uint64_t(v)); }
};

class VectorSink : public Sink {
 public:
  explicit VectorSink(std::vector<uint8_t>* out) : out_(out) {}
  void write(const void* p, size_t n) override {
    // resize + memcpy rather than insert: g++ 12 at -O3 warned (wrongly) that insert's
    // inlined copy overflows.
    if (n == 0) return;
    size_t at = out_->size();
    out_->resize(at + n);
    std::memcpy(out_->data() + at, p, n);
  }

 private:
  std::vector<uint8_t>* out_;
};

class FileSink : public Sink {
 public:
  FileSink(FILE* f, const std::string& fname) : f_(f), fname_(fname) {}
  void write(const void* p, size_t n) override {
    if (n && std::fwrite(p, 1, n, f_) != n) {
      int e = errno;
      fail(BRASS_ERR_IO, "save '", fname_, "': write failed: ", std::strerror(e));
    }
  }

 private:
  FILE* f_;
  const std::string& fname_;
};

void check_names(const std::vector<NDArray>& arrays, const std::vector<std::string>& names) {
  if (!names.empty() && names.size() != arrays.size())
    fail(BRASS_ERR_INVALID_ARGUMENT, "save: ", names.size(), " names given for ", arrays.size(),
         " arrays (give one name per array, or none for an unnamed list)");
}

uint64_t record_size(const NDArray& a) {
  if (a.is_none()) return 12;
  return 4 + 4 + 4 + 8 * uint64_t(a.shape().ndim()) + 4 + 4 + 4 + a.nbytes();
}

void write_record(Sink& s, const NDArray& a, bool v3) {
  if (a.is_none()) {
    // MXNet itself refuses to save a none array; ndim 0 in a V2 record is what its loader
    // reads back as one, and what ours reads back as an empty (0,) array.
    s.u32(kMagicV2);
    s.i32(kStypeDefault);
    s.i32(0);
    return;
  }
  const Shape& sh = a.shape();
  s.u32(v3 ? kMagicV3 : kMagicV2);
  s.i32(kStypeDefault);
  s.i32(sh.ndim());
  for (int i = 0; i < sh.ndim(); ++i) s.i64(sh[i]);
  Device d = a.device();
  if (d.is_gpu()) {
    s.i32(BRASS_GPU);
    s.i32(d.id);
  } else {
    s.i32(BRASS_CPU);
    s.i32(0);
  }
  s.i32(int32_t(a.dtype()));
  size_t n = a.nbytes();
  if (d.is_gpu()) {
    std::vector<uint8_t> host(n);
    a.copy_to_host(host.data(), n);
    s.write(host.data(), n);
  } else {
    a.wait_to_read();
    if (n) s.write(a.data(), n);
  }
}

// V2 cannot express 0-d or zero-size arrays: ndim 0 there means "none", and a zero extent
// meant "unknown" under MXNet's legacy shape semantics. When one is present every record is
// V3, as mx.npx.save writes them: MXNet 1.9.1 loads V3 records only with np-shape on and V2
// records only with it off (unless it is on globally), so a mixed file would load nowhere
// in the usual set_np() setup.
bool needs_v3(const std::vector<NDArray>& arrays) {
  for (const NDArray& a : arrays)
    if (!a.is_none() && (a.shape().ndim() == 0 || a.size() == 0)) return true;
  return false;
}

void write_list(Sink& s, const std::vector<NDArray>& arrays,
                const std::vector<std::string>& names) {
  s.u64(kListMagic);
  s.u64(0);
  s.u64(arrays.size());
  bool v3 = needs_v3(arrays);
  for (const NDArray& a : arrays) write_record(s, a, v3);
  s.u64(names.size());
  for (const std::string& n : names) {
    s.u64(n.size());
    s.write(n.data(), n.size());
  }
}

// ---- Reading --------------------------------------------------------------------------------

// Bounds-checked reads over the input plus the context that error messages name.
class Reader {
 public:
  Reader(const uint8_t* p, size_t n, std::string where, const LoadBudget& b)
      : p_(p), n_(n), where_(std::move(where)), rule_(b.rule) {
    budget_ = total_ = g_load_limit.load();
    if (b.per_byte) {
      // per_byte * n + extra, saturating.
      uint64_t own = uint64_t(n) > (UINT64_MAX - b.extra) / b.per_byte ? UINT64_MAX : b.per_byte * n + b.extra;
      if (own < budget_) {
        budget_ = total_ = own;
      } else {
        rule_ = nullptr;
      }
    }
  }
  size_t pos() const { return pos_; }
  size_t left() const { return n_ - pos_; }
  // The buffer being read, when arrays may use it in place.
  const std::shared_ptr<uint8_t>& shared() const { return shared_; }
  void set_shared(std::shared_ptr<uint8_t> buf) { shared_ = std::move(buf); }
  void set_context(std::string ctx) { ctx_ = std::move(ctx); }

  template <class... A>
  [[noreturn]] void bad(const A&... parts) const {
    if (ctx_.empty()) fail(BRASS_ERR_FORMAT, where_, ": ", parts...);
    fail(BRASS_ERR_FORMAT, where_, ": ", ctx_, ": ", parts...);
  }

  const uint8_t* take(uint64_t k, const char* what) {
    if (k > left()) {
      fail(BRASS_ERR_FORMAT, where_, ": truncated at byte ", pos_, " (", ctx_,
           ctx_.empty() ? "" : " ", what, " needs ", k, " bytes, ", left(), " left)");
    }
    const uint8_t* r = p_ + pos_;
    pos_ += size_t(k);
    return r;
  }
  uint32_t u32(const char* what) {
    const uint8_t* b = take(4, what);
    return uint32_t(b[0]) | uint32_t(b[1]) << 8 | uint32_t(b[2]) << 16 | uint32_t(b[3]) << 24;
  }
  int32_t i32(const char* what) { return int32_t(u32(what)); }
  uint64_t u64(const char* what) {
    const uint8_t* b = take(8, what);
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = v << 8 | b[i];
    return v;
  }
  int64_t i64(const char* what) { return int64_t(u64(what)); }

  // Accounts for an allocation the file asks for, before it is made.
  void charge(uint64_t nbytes, const char* what) {
    if (nbytes > budget_)
      fail(BRASS_ERR_OUT_OF_MEMORY, where_, ": ", ctx_, ": ", what, " needs ", nbytes,
           " bytes, more than the load limit allows (", budget_, " bytes left of ", total_, "; ",
           rule_ ? rule_ : "see set_load_limit", ")");
    budget_ -= nbytes;
  }

 private:
  const uint8_t* p_;
  size_t n_;
  size_t pos_ = 0;
  uint64_t budget_, total_;
  std::string where_, ctx_;
  const char* rule_;
  std::shared_ptr<uint8_t> shared_;
};

enum class ShapeKind { kI32Ndim, kI32NdimV3, kU32Ndim, kLegacy };

// ndim_word is read by the caller for legacy records (it doubles as their magic).
Shape read_shape(Reader& r, const char* what, ShapeKind kind, int64_t ndim_word = 0) {
  int64_t ndim;
  if (kind == ShapeKind::kI32Ndim || kind == ShapeKind::kI32NdimV3) ndim = r.i32(what);
  else if (kind == ShapeKind::kU32Ndim) ndim = r.u32(what);
  else ndim = ndim_word;
  if (ndim == -1 && kind == ShapeKind::kI32NdimV3)
    r.bad(what, ": ndim -1 (a none array of unknown shape) is not supported");
  if (ndim < 0 || ndim > kMaxNDim)
    r.bad(what, ": ndim ", ndim, " is out of range [0, ", kMaxNDim, "]");
  size_t dim_bytes = kind == ShapeKind::kLegacy ? 4 : 8;
  const uint8_t* b = r.take(uint64_t(ndim) * dim_bytes, what);
  int64_t dims[kMaxNDim];
  for (int i = 0; i < int(ndim); ++i) {
    uint64_t v = 0;
    for (int k = int(dim_bytes) - 1; k >= 0; --k) v = v << 8 | b[i * dim_bytes + k];
    dims[i] = int64_t(v);
    if (dims[i] < 0) r.bad(what, ": dimension ", i, " is negative (", dims[i], ")");
  }
  return Shape(dims, int(ndim));
}

// Bytes of an array of this shape and dtype; overflow is a format error, not a wrap.
uint64_t byte_size(Reader& r, const Shape& s, DType t, const char* what) {
  int64_t n;
  try {
    n = checked_product(s.data(), s.ndim(), what);
  } catch (const Error&) {
    r.bad(what, " ", s.str(), " overflows");
  }
  uint64_t es = dtype_size(t);
  if (uint64_t(n) > UINT64_MAX / es || uint64_t(n) * es > uint64_t(INT64_MAX))
    r.bad(what, " ", s.str(), " of ", dtype_name(t), " overflows");
  return uint64_t(n) * es;
}

void read_context(Reader& r) {
  int32_t type = r.i32("device type");
  int32_t id = r.i32("device id");
  // Everything loads onto the CPU: the loader has no device argument, and a file saved on a
  // GPU must open on a machine without one.
  if (type != 1 && type != 2 && type != 3 && type != 5)
    r.bad("unknown device type ", type, " (expected 1 cpu, 2 gpu, 3 cpu_pinned or 5 cpu_shared)");
  if (id < 0) r.bad("negative device id ", id);
}

DType read_dtype(Reader& r, const char* what) {
  int32_t code = r.i32(what);
  if (!dtype_valid(code)) r.bad("unknown ", what, " code ", code);
  return DType(code);
}

// A bool element holding anything but 0 or 1 is undefined behaviour once kernels read it.
void normalize_bool(const NDArray& a) {
  if (a.dtype() != DType::kBool) return;
  uint8_t* p = static_cast<uint8_t*>(a.data());
  for (size_t i = 0, n = a.nbytes(); i < n; ++i) p[i] = p[i] != 0;
}

// MXNet's "none" array (ndim 0 outside V3) has no shape at all; the closest thing Brass has
// is an empty (0,) float32 array, which keeps list positions and names intact.
NDArray none_array() { return NDArray(Shape(1, 0), DType::kFloat32, Device::cpu()); }

NDArray read_dense(Reader& r, const Shape& shape, DType t) {
  uint64_t nbytes = byte_size(r, shape, t, "shape");
  // Checked against the input before allocating: dense data never exceeds the file.
  const uint8_t* src = r.take(nbytes, "data");
  // In place in a shared buffer when aligned for the type (bool data is normalized: a copy).
  if (r.shared() && nbytes && t != DType::kBool && reinterpret_cast<uintptr_t>(src) % dtype_size(t) == 0)
    return NDArray::from_external(const_cast<uint8_t*>(src), shape, t, Device::cpu(),
                                  [keep = r.shared()]() mutable { keep.reset(); }, false);
  r.charge(nbytes, "data");
  NDArray a(shape, t, Device::cpu());
  if (nbytes) std::memcpy(a.data(), src, size_t(nbytes));
  normalize_bool(a);
  return a;
}

// Index element i of an integer aux array; false when the value cannot be an index.
bool index_at(const uint8_t* base, DType t, int64_t i, int64_t* out) {
  const uint8_t* p = base + size_t(i) * dtype_size(t);
  switch (t) {
    case DType::kInt8: { int8_t v; std::memcpy(&v, p, 1); *out = v; return true; }
    case DType::kUint8: { uint8_t v; std::memcpy(&v, p, 1); *out = v; return true; }
    case DType::kInt16: { int16_t v; std::memcpy(&v, p, 2); *out = v; return true; }
    case DType::kUint16: { uint16_t v; std::memcpy(&v, p, 2); *out = v; return true; }
    case DType::kInt32: { int32_t v; std::memcpy(&v, p, 4); *out = v; return true; }
    case DType::kUint32: { uint32_t v; std::memcpy(&v, p, 4); *out = v; return true; }
    case DType::kInt64: { int64_t v; std::memcpy(&v, p, 8); *out = v; return true; }
    case DType::kUint64: {
      uint64_t v;
      std::memcpy(&v, p, 8);
      *out = int64_t(v);
      return v <= uint64_t(INT64_MAX);
    }
    default: return false;
  }
}

bool is_index_dtype(DType t) {
  return (is_signed_int(t) || is_unsigned_int(t)) && t != DType::kBool;
}

// Sparse records are expanded to dense arrays: the only way a load can allocate more than
// its input holds, so the dense size is what the load limit is charged.
NDArray read_sparse(Reader& r, int32_t stype, Shape sshape, const Shape& shape, DType t) {
  const bool csr = stype == kStypeCSR;
  const int nad = csr ? 2 : 1;
  const char* aux_name[2] = {csr ? "indptr" : "row index", "indices"};
  DType aux_t[2];
  Shape aux_s[2];
  for (int i = 0; i < nad; ++i) {
    aux_t[i] = read_dtype(r, "aux dtype");
    if (!is_index_dtype(aux_t[i]))
      r.bad(aux_name[i], " has dtype ", dtype_name(aux_t[i]), "; an integer type is required");
    aux_s[i] = read_shape(r, "aux shape", ShapeKind::kI32Ndim);
    if (aux_s[i].ndim() != 1) r.bad(aux_name[i], " shape ", aux_s[i].str(), " is not 1-D");
  }
  // MXNet 1.9.1 writes a stale storage shape such as (0, 2, 2) for some row_sparse arrays (seen
  // with 3-D ones made by tostype) while the data that follows has aux_shape[0] rows. Its loader
  // derives the storage shape from the aux shapes whenever the stored one has no elements;
  // so does this one.
  bool stored_empty = false;
  for (int i = 0; i < sshape.ndim(); ++i) stored_empty |= sshape[i] == 0;
  if (csr) {
    if (shape.ndim() != 2) r.bad("csr array of shape ", shape.str(), " is not 2-D");
    if (stored_empty) sshape = aux_s[1];
    if (sshape.ndim() != 1) r.bad("csr storage shape ", sshape.str(), " is not 1-D");
    if (aux_s[0][0] < 1 || aux_s[0][0] - 1 != shape[0])
      r.bad("csr indptr shape ", aux_s[0].str(), " does not match ", shape[0], " rows");
    if (aux_s[1][0] != sshape[0])
      r.bad("csr indices shape ", aux_s[1].str(), " does not match storage shape ", sshape.str());
  } else {
    if (shape.ndim() < 1) r.bad("row_sparse array of shape ", shape.str(), " has no rows");
    if (stored_empty) {
      sshape = shape;
      sshape[0] = aux_s[0][0];
    }
    bool ok = sshape.ndim() == shape.ndim() && sshape[0] <= shape[0];
    for (int i = 1; ok && i < shape.ndim(); ++i) ok = sshape[i] == shape[i];
    if (!ok) r.bad("row_sparse storage shape ", sshape.str(), " does not fit shape ", shape.str());
    if (aux_s[0][0] != sshape[0])
      r.bad("row_sparse index shape ", aux_s[0].str(), " does not match storage shape ",
            sshape.str());
  }
  uint64_t vbytes = byte_size(r, sshape, t, "storage shape");
  const uint8_t* vals = r.take(vbytes, "sparse values");
  const uint8_t* aux[2];
  for (int i = 0; i < nad; ++i)
    aux[i] = r.take(byte_size(r, aux_s[i], aux_t[i], "aux shape"), aux_name[i]);

  uint64_t dense_bytes = byte_size(r, shape, t, "shape");
  const int64_t es = int64_t(dtype_size(t));
  if (csr) {
    const int64_t rows = shape[0], cols = shape[1], nnz = sshape[0];
    int64_t prev = 0, v;
    for (int64_t i = 0; i <= rows; ++i) {
      if (!index_at(aux[0], aux_t[0], i, &v) || v < prev || v > nnz || (i == 0 && v != 0))
        r.bad("csr indptr[", i, "] = ", v, " is out of order or range (nnz ", nnz, ")");
      prev = v;
    }
    if (prev != nnz) r.bad("csr indptr ends at ", prev, ", not at nnz ", nnz);
    for (int64_t j = 0; j < nnz; ++j)
      if (!index_at(aux[1], aux_t[1], j, &v) || v < 0 || v >= cols)
        r.bad("csr column index ", j, " (", v, ") is out of range [0, ", cols, ")");
    r.charge(dense_bytes, "dense csr array");
    NDArray a(shape, t, Device::cpu());
    uint8_t* dst = static_cast<uint8_t*>(a.data());
    if (dense_bytes) std::memset(dst, 0, size_t(dense_bytes));
    int64_t lo, hi, col;
    // Duplicate columns in a row are not rejected: the last one wins, as in MXNet's cast.
    for (int64_t row = 0; row < rows; ++row) {
      index_at(aux[0], aux_t[0], row, &lo);
      index_at(aux[0], aux_t[0], row + 1, &hi);
      for (int64_t j = lo; j < hi; ++j) {
        index_at(aux[1], aux_t[1], j, &col);
        std::memcpy(dst + (row * cols + col) * es, vals + j * es, size_t(es));
      }
    }
    normalize_bool(a);
    return a;
  }
  const int64_t nrows = sshape[0];
  int64_t v;
  for (int64_t k = 0; k < nrows; ++k)
    if (!index_at(aux[0], aux_t[0], k, &v) || v < 0 || v >= shape[0])
      r.bad("row_sparse row index ", k, " (", v, ") is out of range [0, ", shape[0], ")");
  r.charge(dense_bytes, "dense row_sparse array");
  NDArray a(shape, t, Device::cpu());
  uint8_t* dst = static_cast<uint8_t*>(a.data());
  if (dense_bytes) std::memset(dst, 0, size_t(dense_bytes));
  const int64_t row_bytes = shape[0] ? int64_t(dense_bytes) / shape[0] : 0;
  for (int64_t k = 0; k < nrows; ++k) {
    index_at(aux[0], aux_t[0], k, &v);
    if (row_bytes) std::memcpy(dst + v * row_bytes, vals + k * row_bytes, size_t(row_bytes));
  }
  normalize_bool(a);
  return a;
}

NDArray read_v2(Reader& r, bool v3) {
  int32_t stype = r.i32("storage type");
  if (v3 && stype != kStypeDefault)
    r.bad("V3 record has storage type ", stype, "; only dense (0) is allowed");
  if (stype != kStypeDefault && stype != kStypeRowSparse && stype != kStypeCSR)
    r.bad("unknown storage type ", stype, " (expected 0 dense, 1 row_sparse or 2 csr)");
  Shape sshape;
  if (stype != kStypeDefault) sshape = read_shape(r, "storage shape", ShapeKind::kI32Ndim);
  if (v3) {
    // In V3, ndim 0 is a scalar with data and zero extents are real; ndim -1 marks a none
    // array, which MXNet's own save refuses to write, so no real file has one.
    Shape shape = read_shape(r, "shape", ShapeKind::kI32NdimV3);
    read_context(r);
    DType t = read_dtype(r, "dtype");
    return read_dense(r, shape, t);
  }
  Shape shape = read_shape(r, "shape", ShapeKind::kI32Ndim);
  if (shape.ndim() == 0) return none_array();
  read_context(r);
  DType t = read_dtype(r, "dtype");
  if (stype == kStypeDefault) return read_dense(r, shape, t);
  return read_sparse(r, stype, sshape, shape, t);
}

NDArray read_record(Reader& r) {
  uint32_t magic = r.u32("magic");
  if (magic == kMagicV2 || magic == kMagicV3) return read_v2(r, magic == kMagicV3);
  Shape shape;
  if (magic == kMagicV1) {
    shape = read_shape(r, "shape", ShapeKind::kU32Ndim);
  } else {
    // Pre-V1 records have no magic: the first word is the ndim of a u32-dims shape.
    if (magic > uint32_t(kMaxNDim)) {
      char hex[16];
      std::snprintf(hex, sizeof hex, "0x%08X", unsigned(magic));
      r.bad("unknown record magic ", hex, " (not V1/V2/V3, and too large for a legacy ndim)");
    }
    shape = read_shape(r, "legacy shape", ShapeKind::kLegacy, magic);
  }
  if (shape.ndim() == 0) return none_array();
  read_context(r);
  DType t = read_dtype(r, "dtype");
  return read_dense(r, shape, t);
}

bool valid_utf8(const uint8_t* s, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint8_t c = s[i];
    if (c < 0x80) {
      if (c == 0) return false;  // names cross the C API as NUL-terminated strings
      ++i;
      continue;
    }
    int len;
    uint32_t cp, min;
    if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; min = 0x80; }
    else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; min = 0x800; }
    else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; min = 0x10000; }
    else return false;
    if (n - i < size_t(len)) return false;
    for (int k = 1; k < len; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) return false;
      cp = cp << 6 | (s[i + k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += size_t(len);
  }
  return true;
}

NamedArrays parse_list(const uint8_t* data, size_t n, const std::string& where, const LoadBudget& budget,
                       std::shared_ptr<uint8_t> shared = nullptr) {
  Reader r(data, n, where, budget);
  r.set_shared(std::move(shared));
  r.set_context("header");
  uint64_t magic = r.u64("list magic");
  if (magic != kListMagic) {
    char hex[24];
    std::snprintf(hex, sizeof hex, "0x%llX", static_cast<unsigned long long>(magic));
    r.bad("not an NDArray list file (magic ", hex, ", expected 0x112)");
  }
  uint64_t reserved = r.u64("reserved field");
  if (reserved != 0) r.bad("reserved field is ", reserved, ", expected 0");
  uint64_t count = r.u64("array count");
  // The shortest record (a legacy none array) is 4 bytes.
  if (count > r.left() / 4)
    r.bad("array count ", count, " cannot fit in the ", r.left(), " bytes that follow");
  NamedArrays out;
  out.arrays.reserve(size_t(count));
  for (uint64_t i = 0; i < count; ++i) {
    r.set_context("record " + std::to_string(i));
    out.arrays.push_back(read_record(r));
    // Written here on the host: a version names the contents from now on, so what is derived
    // from them (a convolution's packed filters) is made once and kept.
    const VarPtr v = out.arrays.back().var();
    mark_written(&v, 1);
  }
  r.set_context("names");
  uint64_t k = r.u64("name count");
  if (k != 0 && k != count) r.bad(k, " names for ", count, " arrays (expected 0 or ", count, ")");
  if (k > r.left() / 8)
    r.bad("name count ", k, " cannot fit in the ", r.left(), " bytes that follow");
  out.names.reserve(size_t(k));
  for (uint64_t i = 0; i < k; ++i) {
    r.set_context("name " + std::to_string(i));
    uint64_t len = r.u64("length");
    const uint8_t* s = r.take(len, "text");
    if (!valid_utf8(s, size_t(len))) r.bad("name is not valid UTF-8 (or contains a NUL byte)");
    out.names.emplace_back(reinterpret_cast<const char*>(s), size_t(len));
  }
  r.set_context("");
  if (r.left()) r.bad(r.left(), " unexpected bytes after the names, at byte ", r.pos());
  return out;
}

struct FdCloser {
  int fd;
  ~FdCloser() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace ndarray_io_impl

std::vector<uint8_t> save_ndarrays_bytes(const std::vector<NDArray>& arrays,
                                         const std::vector<std::string>& names) {
  ndarray_io_impl::check_names(arrays, names);
  uint64_t total = 32;
  for (const NDArray& a : arrays) total += ndarray_io_impl::record_size(a);
  for (const std::string& n : names) total += 8 + n.size();
  std::vector<uint8_t> out;
  out.reserve(size_t(total));
  ndarray_io_impl::VectorSink s(&out);
  ndarray_io_impl::write_list(s, arrays, names);
  return out;
}

void save_ndarrays(const std::string& fname, const std::vector<NDArray>& arrays,
                   const std::vector<std::string>& names) {
  ndarray_io_impl::check_names(arrays, names);
  // The destination is replaced only by a complete, synced file: a crash or a failing array
  // leaves the previous contents in place. The name is unique per process and call.
  static std::atomic<uint64_t> counter{0};
  std::string tmp = fname + ".tmp." + std::to_string(long(::getpid())) + "." +
                    std::to_string(counter.fetch_add(1));
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd < 0) {
    int e = errno;
    fail(BRASS_ERR_IO, "save '", fname, "': cannot create '", tmp, "': ", std::strerror(e));
  }
  FILE* f = ::fdopen(fd, "wb");
  if (!f) {
    int e = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    fail(BRASS_ERR_IO, "save '", fname, "': ", std::strerror(e));
  }
  try {
    ndarray_io_impl::FileSink s(f, fname);
    ndarray_io_impl::write_list(s, arrays, names);
    const char* step = nullptr;
    if (std::fflush(f) != 0) step = "write failed";
    else if (::fsync(::fileno(f)) != 0) step = "fsync failed";
    int e = errno;
    FILE* g = f;
    f = nullptr;
    if (std::fclose(g) != 0 && !step) {
      e = errno;
      step = "close failed";
    }
    if (!step && std::rename(tmp.c_str(), fname.c_str()) != 0) {
      e = errno;
      step = "rename failed";
    }
    if (step) fail(BRASS_ERR_IO, "save '", fname, "': ", step, ": ", std::strerror(e));
  } catch (...) {
    if (f) std::fclose(f);
    ::unlink(tmp.c_str());
    throw;
  }
  // Make the rename itself durable; the data is already safe, so a failure here is ignored.
  size_t slash = fname.rfind('/');
  std::string dir = slash == std::string::npos ? "." : fname.substr(0, slash + 1);
  int dfd = ::open(dir.c_str(), O_RDONLY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
}

NamedArrays load_ndarrays_bytes(const uint8_t* data, size_t n, const LoadBudget& budget) {
  return ndarray_io_impl::parse_list(data, n, "load", budget);
}

NamedArrays load_ndarrays(const std::string& fname, const LoadBudget& budget, bool share_file) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused just below.
  ndarray_io_impl::FdCloser fc{::open(fname.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK)};
  if (fc.fd < 0) {
    int e = errno;
    fail(BRASS_ERR_IO, "load '", fname, "': cannot open: ", std::strerror(e));
  }
  struct stat st;
  if (::fstat(fc.fd, &st) != 0) {
    int e = errno;
    fail(BRASS_ERR_IO, "load '", fname, "': cannot stat: ", std::strerror(e));
  }
  // Directories, pipes and devices have no size to check against the limit.
  if (!S_ISREG(st.st_mode)) fail(BRASS_ERR_IO, "load '", fname, "': not a regular file");
  uint64_t size = uint64_t(st.st_size);
  uint64_t limit = ndarray_io_impl::g_load_limit.load();
  if (size > limit || size > uint64_t(SIZE_MAX / 2))
    fail(BRASS_ERR_OUT_OF_MEMORY, "load '", fname, "': file of ", size,
         " bytes is larger than the load limit (", limit, " bytes; see set_load_limit)");
  // Not zeroed first: read() fills every byte that parsing reads.
  std::shared_ptr<uint8_t> buf(static_cast<uint8_t*>(host_alloc(std::max<size_t>(size_t(size), 1))), std::free);
  if (!buf) fail(BRASS_ERR_OUT_OF_MEMORY, "load '", fname, "': out of memory for ", size, " bytes");
  size_t got = 0;
  while (got < size_t(size)) {
    ssize_t k = ::read(fc.fd, buf.get() + got, size_t(size) - got);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) {
      int e = errno;
      fail(BRASS_ERR_IO, "load '", fname, "': read failed at byte ", got, ": ", std::strerror(e));
    }
    if (k == 0)
      fail(BRASS_ERR_IO, "load '", fname, "': file shrank while reading (", got, " of ", size,
           " bytes)");
    got += size_t(k);
  }
  return ndarray_io_impl::parse_list(buf.get(), size_t(size), "load '" + fname + "'", budget,
                                     share_file ? buf : nullptr);
}

void set_load_limit(uint64_t bytes) { ndarray_io_impl::g_load_limit.store(bytes); }

}  // namespace brass
