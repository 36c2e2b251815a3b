"""MXNet .params files: fixtures written by MXNet 1.9.1, byte-exact saves, round trips of every
dtype, a hostile-input corpus (every truncation, targeted header edits, byte sweeps) and atomic
saves. The fixtures and their manifest come from tests/fixtures/make_mxnet_fixtures.py.
"""
import json
import os
import resource
import struct
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import brass as mx
import numpy as np
import pytest
from brass import BrassError

try:
    import ml_dtypes
except ImportError:  # bfloat16 cases are skipped without it
    ml_dtypes = None

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "mxnet"
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())["files"]
BY_FILE = {e["file"]: e for e in MANIFEST}

ERR_IO, ERR_FORMAT, ERR_OOM = 7, 8, 9
V1, V2, V3 = 0xF993FAC8, 0xF993FAC9, 0xF993FACA


# ---- helpers --------------------------------------------------------------------------------

def fixture_bytes(name):
    return (FIXTURES / name).read_bytes()


def load_bytes(buf, tmp_path=None):
    """Loads from memory when the binding can, else through a file."""
    fn = getattr(mx.nd, "load_frombuffer", None)
    if fn is not None:
        return fn(bytes(buf))
    p = Path(tmp_path or "/tmp") / (f"brass_params_io_{os.getpid()}.params")
    p.write_bytes(bytes(buf))
    try:
        return mx.nd.load(str(p))
    finally:
        p.unlink()


def set_load_limit(n):
    fn = getattr(mx.nd, "set_load_limit", None)
    if fn is not None:
        fn(n)
    else:
        from brass.base import check, lib
        check(lib.brass_set_load_limit(n))


def items(loaded):
    if isinstance(loaded, dict):
        return list(loaded.keys()), list(loaded.values())
    return None, list(loaded)


def dtype_name(a):
    dt = np.dtype(a.dtype)
    if ml_dtypes is not None and dt == np.dtype(ml_dtypes.bfloat16):
        return "bfloat16"
    return dt.name


def np_dtype(name):
    if name == "bfloat16":
        if ml_dtypes is None:
            pytest.skip("ml_dtypes is not installed")
        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(name)


def expect_error(buf, codes=(ERR_FORMAT,), fragment=None):
    """Loading buf must raise BrassError with a message; returns the message."""
    with pytest.raises(BrassError) as ei:
        load_bytes(buf)
    msg = str(ei.value)
    assert msg.startswith("load"), msg
    assert getattr(ei.value, "code", None) in codes, (ei.value.code, msg)
    if fragment is not None:
        assert fragment in msg, msg
    return msg


class Walk:
    """An independent reader of the format that records where each header field sits, so the
    tests can aim edits at fields. It trusts its input: only valid files go through it."""

    def __init__(self, buf):
        self.b = bytes(buf)
        self.p = 0
        self.fields = []  # (kind, offset, size, record index)
        self.records = []  # per record: dict(magic, stype, shape, dev, dtype, ...)
        self.rec = None
        self._parse()

    def _take(self, kind, fmt):
        n = struct.calcsize(fmt)
        v = struct.unpack_from(fmt, self.b, self.p)[0]
        self.fields.append((kind, self.p, n, self.rec))
        self.p += n
        return v

    def _shape(self, kind, ndim_fmt="<i", dim_fmt="<q", ndim=None):
        if ndim is None:
            ndim = self._take(kind + "_ndim", ndim_fmt)
        dims = [self._take(kind + "_dim", dim_fmt) for _ in range(max(ndim, 0))]
        return dims

    def _parse(self):
        self._take("list_magic", "<Q")
        self._take("reserved", "<Q")
        n = self._take("count", "<Q")
        for i in range(n):
            self.rec = i
            self.records.append(self._record())
        self.rec = None
        k = self._take("name_count", "<Q")
        self.names = []
        for _ in range(k):
            ln = self._take("name_len", "<Q")
            self.fields.append(("name_text", self.p, ln, None))
            self.names.append(self.b[self.p:self.p + ln].decode())
            self.p += ln
        assert self.p == len(self.b)

    def _record(self):
        r = {"start": self.p}
        magic = r["magic"] = self._take("magic", "<I")
        if magic in (V2, V3):
            stype = r["stype"] = self._take("stype", "<i")
            if stype in (1, 2):
                r["sshape"] = self._shape("sshape")
            shape = r["shape"] = self._shape("shape")
            if magic == V2 and not shape:
                return r
        else:
            stype = r["stype"] = 0
            if magic == V1:
                shape = r["shape"] = self._shape("shape", ndim_fmt="<I")
            else:
                shape = r["shape"] = self._shape("shape", dim_fmt="<I", ndim=magic)
            if not shape:
                return r
        r["dev"] = (self._take("dev_type", "<i"), self._take("dev_id", "<i"))
        dt = r["dtype"] = self._take("dtype", "<i")
        size = np.dtype(np_dtype_code(dt)).itemsize
        aux = []
        for _ in range({0: 0, 1: 1, 2: 2}[stype]):
            at = self._take("aux_dtype", "<i")
            aux.append((at, self._shape("aux_shape")))
        if stype:
            sshape = r["sshape"]
            if int(np.prod(sshape)) == 0:  # MXNet's stale storage shape; see ndarray_io.cc
                sshape = list(shape)
                sshape[0] = aux[0][1][0]
                if stype == 2:
                    sshape = aux[1][1]
            nvals = int(np.prod(sshape))
        else:
            nvals = int(np.prod(shape))
        self.fields.append(("data", self.p, nvals * size, self.rec))
        self.p += nvals * size
        for j, (at, ash) in enumerate(aux):
            n = int(np.prod(ash))
            kind = ("row_idx",) if stype == 1 else ("indptr", "indices")
            self.fields.append((kind[j], self.p, n * 8, self.rec))
            r[kind[j]] = (self.p, n)
            self.p += n * np.dtype(np_dtype_code(at)).itemsize
        return r

    def of(self, kind):
        return [(off, size, rec) for k, off, size, rec in self.fields if k == kind]


def np_dtype_code(code):
    return [np.float32, np.float64, np.float16, np.uint8, np.int32, np.int8, np.int64, np.bool_,
            np.int16, np.uint16, np.uint32, np.uint64, np.uint16][code]


def patched(buf, off, fmt, value):
    b = bytearray(buf)
    struct.pack_into(fmt, b, off, value)
    return bytes(b)


FMT = {1: "<b", 4: "<i", 8: "<q"}
UFMT = {1: "<B", 4: "<I", 8: "<Q"}


def put(buf, off, size, value):
    return patched(buf, off, UFMT[size] if value >= 0 else FMT[size], value)


# ---- (a) fixtures written by MXNet 1.9.1 --------------------------------------------------

@pytest.mark.parametrize("entry", MANIFEST, ids=[e["file"] for e in MANIFEST])
def test_fixture_matches_manifest(entry):
    if any(a["dtype"] == "bfloat16" for a in entry["arrays"]) and ml_dtypes is None:
        pytest.skip("ml_dtypes is not installed")
    loaded = mx.nd.load(str(FIXTURES / entry["file"]))
    names, arrays = items(loaded)
    assert names == entry["names"]
    assert len(arrays) == len(entry["arrays"])
    for a, want in zip(arrays, entry["arrays"]):
        assert tuple(a.shape) == tuple(want["shape"])
        assert dtype_name(a) == want["dtype"]
        host = a.asnumpy()
        if want["dtype"] == "bool" or want["dtype"].startswith(("int", "uint")):
            assert host.ravel().tolist() == want["values"]
        else:
            got = host.astype(np.float64).ravel()
            exp = np.array(want["values"], dtype=np.float64)
            assert got.tobytes() == exp.tobytes()  # bit-exact, -0.0 included


def test_fixture_bytes_match_formats_md():
    # The hex dump of FORMATS.md section 5 and the file MXNet wrote are the same bytes, except
    # that the dump labels the second record's data and the names 4 bytes late (0x7c, 0x8c):
    # they start at 0x78 and 0x88 in the 170-byte file.
    b = fixture_bytes("two.params")
    assert len(b) == 170
    assert b[:0x18] == bytes.fromhex("1201000000000000" "0000000000000000" "0200000000000000")
    assert b[0x18:0x20] == bytes.fromhex("c9fa93f900000000")
    assert b[0x88:] == bytes.fromhex("0200000000000000" "0500000000000000") + b"arg:w" + \
        bytes.fromhex("0500000000000000") + b"aux:m"


# ---- (b) saves byte-identical to MXNet -----------------------------------------------------

def test_save_two_params_byte_identical(tmp_path):
    f = tmp_path / "two.params"
    mx.nd.save(str(f), {"arg:w": mx.nd.array(np.arange(6, dtype=np.float32).reshape(2, 3)),
                        "aux:m": mx.nd.array(np.array([1, 2], dtype=np.int64), dtype="int64")})
    assert f.read_bytes() == fixture_bytes("two.params")


@pytest.mark.parametrize("name", ["two.params", "dtypes.params", "list.params",
                                  "ckpt-0003.params", "v3.params", "v3_list.params"])
def test_resave_mxnet_file_byte_identical(tmp_path, name):
    if name == "dtypes.params" and ml_dtypes is None:
        pytest.skip("ml_dtypes is not installed")
    loaded = mx.nd.load(str(FIXTURES / name))
    out = tmp_path / name
    mx.nd.save(str(out), loaded)
    assert out.read_bytes() == fixture_bytes(name)


def test_sparse_files_resave_as_dense(tmp_path):
    for name in ["row_sparse.params", "csr.params"]:
        loaded = mx.nd.load(str(FIXTURES / name))
        out = tmp_path / name
        mx.nd.save(str(out), loaded)
        w = Walk(out.read_bytes())
        assert all(r["magic"] == V2 and r["stype"] == 0 for r in w.records)
        again = mx.nd.load(str(out))
        for k in loaded:
            assert again[k].asnumpy().tobytes() == loaded[k].asnumpy().tobytes()


# ---- (c) round trips -----------------------------------------------------------------------

CODES = {"float32": 0, "float64": 1, "float16": 2, "uint8": 3, "int32": 4, "int8": 5, "int64": 6,
         "bool": 7, "int16": 8, "uint16": 9, "uint32": 10, "uint64": 11, "bfloat16": 12}
DTYPES = list(CODES)
SHAPES = [(), (0,), (2, 0), (0, 3, 1), (1,), (3,), (2, 3), (2, 1, 2), (1,) * 8]


def make_array(src):
    a = mx.nd.array(src, dtype=src.dtype)
    if tuple(a.shape) != src.shape:  # 0-d sources may come back as (1,), as in MXNet 1.x
        a = a.reshape(src.shape)
    assert tuple(a.shape) == src.shape
    return a


def sample(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    dt = np_dtype(dtype)
    if dtype == "bool":
        return rng.integers(0, 2, size=shape).astype(bool)
    if dtype in ("float32", "float64", "float16", "bfloat16"):
        v = rng.standard_normal(size=shape) * 100
        if v.size >= 3:
            v.ravel()[:3] = [np.inf, -0.0, np.nan]
        return np.asarray(v.astype(np.float32)).astype(dt)
    info = np.iinfo(dt)
    v = rng.integers(info.min, info.max, size=shape, dtype=dt, endpoint=True)
    if v.size >= 2:
        v.ravel()[:2] = [info.min, info.max]
    return v


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("with_v3", [False, True], ids=["v2", "v3"])
def test_roundtrip_every_dtype_and_shape(tmp_path, dtype, with_v3):
    # A 0-d or zero-size array makes every record of the file V3, as mx.npx.save writes them;
    # otherwise all records are V2, as mx.nd.save writes them.
    shapes = SHAPES if with_v3 else [s for s in SHAPES if s and 0 not in s]
    srcs = [sample(s, dtype, i) for i, s in enumerate(shapes)]
    arrays = [make_array(s) for s in srcs]
    named = {f"p{i}": a for i, a in enumerate(arrays)}
    for data in (named, arrays):
        f = tmp_path / "rt.params"
        mx.nd.save(str(f), data)
        raw = f.read_bytes()
        w = Walk(raw)
        for r, s in zip(w.records, srcs):
            assert (r["magic"], r["stype"], r["dev"]) == (V3 if with_v3 else V2, 0, (1, 0))
            assert r["shape"] == list(s.shape)
            assert r["dtype"] == CODES[dtype]
        names, back = items(mx.nd.load(str(f)))
        assert names == (list(named) if data is named else None)
        for a, s in zip(back, srcs):
            assert tuple(a.shape) == s.shape and dtype_name(a) == dtype
            assert a.asnumpy().tobytes() == s.tobytes()  # bit-exact: NaN payloads, -0.0
        # Saving what was loaded reproduces the file.
        f2 = tmp_path / "rt2.params"
        mx.nd.save(str(f2), mx.nd.load(str(f)))
        assert f2.read_bytes() == raw


def test_roundtrip_empty_list_and_unicode_names(tmp_path):
    f = tmp_path / "e.params"
    mx.nd.save(str(f), [])
    assert f.read_bytes() == struct.pack("<QQQQ", 0x112, 0, 0, 0)
    assert mx.nd.load(str(f)) == []
    names = {"arg:wéight": mx.nd.array([1.0]), "ключ/β": mx.nd.array([2.0]),
             "x" * 1000: mx.nd.array([3.0])}
    mx.nd.save(str(f), names)
    back = mx.nd.load(str(f))
    assert list(back) == list(names)
    assert [v.asnumpy().tolist() for v in back.values()] == [[1.0], [2.0], [3.0]]


def test_none_records_load_as_empty():
    # ndim 0 outside V3 is MXNet's "none" array; Brass gives an empty (0,) float32 array.
    back = mx.nd.load(str(FIXTURES / "none.params"))
    assert list(back) == ["x", "y", "z"]
    for a in back.values():
        assert a.shape == (0,) and dtype_name(a) == "float32"


def test_gpu_arrays_save_their_device(tmp_path):
    if mx.num_gpus() == 0:
        pytest.skip("no GPU")
    src = np.arange(6, dtype=np.float32).reshape(2, 3)
    f = tmp_path / "g.params"
    mx.nd.save(str(f), {"w": mx.nd.array(src, ctx=mx.gpu(0))})
    w = Walk(f.read_bytes())
    assert w.records[0]["dev"] == (2, 0)
    back = mx.nd.load(str(f))["w"]
    assert back.asnumpy().tobytes() == src.tobytes()


# ---- (d) hostile input ---------------------------------------------------------------------

VALID = ["two.params", "dtypes.params", "list.params", "row_sparse.params", "csr.params",
         "v1.params", "legacy.params", "none.params", "v3.params", "ckpt-0003.params"]


@pytest.mark.parametrize("name", VALID)
def test_every_truncation_fails_cleanly(name):
    b = fixture_bytes(name)
    for n in range(len(b)):
        msg = expect_error(b[:n])
        assert "truncated" in msg or "cannot fit" in msg, (n, msg)


@pytest.mark.parametrize("name", VALID)
def test_trailing_bytes_rejected(name):
    expect_error(fixture_bytes(name) + b"\0", fragment="unexpected bytes")


def test_tiny_and_empty_inputs():
    for buf in [b"", b"\x12", b"\x12\x01" + b"\0" * 14, struct.pack("<QQQ", 0x112, 0, 0)]:
        expect_error(buf)
    assert load_bytes(struct.pack("<QQQQ", 0x112, 0, 0, 0)) == []


def edit_cases():
    """(file, description, bytes, expected message fragment or None) for targeted edits."""
    out = []
    for name in VALID:
        b = fixture_bytes(name)
        w = Walk(b)
        n = len(w.records)

        def case(desc, buf, frag=None, name=name):
            out.append((name, desc, buf, frag))

        case("list magic 0", put(b, 0, 8, 0), "not an NDArray list file")
        case("list magic 0x113", put(b, 0, 8, 0x113), "not an NDArray list file")
        case("reserved 1", put(b, 8, 8, 1), "reserved")
        case("reserved -1", put(b, 8, 8, -1), "reserved")
        for v in [n + 1, 2 ** 32, 2 ** 63 - 1, -1]:
            case(f"count {v}", put(b, 16, 8, v))
        for off, size, rec in w.of("magic"):
            for v in [0xF993FACB, 0xDEADBEEF, 33, 0xFFFFFFFF]:
                case(f"record {rec} magic {v:#x}", put(b, off, 4, v), "magic")
        for off, size, rec in w.of("stype"):
            for v in [3, -1, 2 ** 31 - 1, -(2 ** 31)]:
                case(f"record {rec} stype {v}", put(b, off, 4, v), "storage type")
            if w.records[rec]["magic"] == V3:
                case(f"V3 record {rec} stype 1", put(b, off, 4, 1), "only dense")
        for kind in ("shape_ndim", "sshape_ndim", "aux_shape_ndim"):
            for off, size, rec in w.of(kind):
                for v in [33, 2 ** 31 - 1, -(2 ** 31), -2]:
                    case(f"record {rec} {kind} {v}", put(b, off, size, v), "ndim")
                if kind == "shape_ndim" and w.records[rec]["magic"] == V3:
                    case(f"V3 record {rec} ndim -1", put(b, off, size, -1), "ndim -1")
        for kind in ("shape_dim", "sshape_dim"):
            for off, size, rec in w.of(kind):
                if size != 8:
                    continue
                case(f"record {rec} {kind} -1", put(b, off, 8, -1), "negative")
                # A zero extent elsewhere keeps the array empty (and an empty storage shape
                # is derived from the aux shapes), so a huge extent there is still valid.
                if 0 in w.records[rec].get(kind[:-4], []):
                    continue
                case(f"record {rec} {kind} 2^62", put(b, off, 8, 2 ** 62))
                case(f"record {rec} {kind} 2^63-1", put(b, off, 8, 2 ** 63 - 1))
        for i, r in enumerate(w.records):  # two dims at 2^32: the product overflows int64
            dims = [(off, rec) for off, size, rec in w.of("shape_dim") if rec == i]
            if len(dims) >= 2 and r["stype"] == 0 and r["magic"] in (V1, V2, V3):
                buf = put(put(b, dims[0][0], 8, 2 ** 32), dims[1][0], 8, 2 ** 32)
                case(f"record {dims[0][1]} dims 2^32 x 2^32", buf, "overflows")
        for off, size, rec in w.of("dev_type"):
            for v in [0, 4, 6, -1, 2 ** 31 - 1]:
                case(f"record {rec} dev_type {v}", put(b, off, 4, v), "device type")
        for off, size, rec in w.of("dev_id"):
            case(f"record {rec} dev_id -1", put(b, off, 4, -1), "device id")
        for off, size, rec in w.of("dtype"):
            for v in [13, 99, -1, 2 ** 31 - 1]:
                case(f"record {rec} dtype {v}", put(b, off, 4, v), f"dtype code {v}")
        for off, size, rec in w.of("aux_dtype"):
            for v, frag in [(0, "integer type"), (7, "integer type"), (13, "code 13"),
                            (-1, "code -1")]:
                case(f"record {rec} aux dtype {v}", put(b, off, 4, v), frag)
        for off, size, rec in w.of("name_count"):
            for v in {n + 1, 2 ** 64 - 1, 1 if n > 1 else 2}:
                case(f"name count {v}", put(b, off, 8, v))
        for off, size, rec in w.of("name_len"):
            for v in [2 ** 64 - 1, 2 ** 63, len(b) - off - 8 + 1]:
                case(f"name len {v}", put(b, off, 8, v), "truncated")
        for off, size, rec in w.of("name_text"):
            if size:
                case("name byte 0xff", b[:off] + b"\xff" + b[off + 1:], "UTF-8")
                case("name byte NUL", b[:off] + b"\0" + b[off + 1:], "UTF-8")
        for rec, r in enumerate(w.records):
            shape = r.get("shape")
            if "row_idx" in r and r["row_idx"][1]:
                off = r["row_idx"][0]
                for v in [shape[0], -1, 2 ** 63 - 1]:
                    case(f"record {rec} row index {v}", put(b, off, 8, v), "out of range")
            if "indices" in r and r["indices"][1]:
                off = r["indices"][0]
                for v in [shape[1], -1]:
                    case(f"record {rec} csr column {v}", put(b, off, 8, v), "out of range")
            if "indptr" in r:
                off, cnt = r["indptr"]
                case(f"record {rec} indptr[0] 1", put(b, off, 8, 1), "indptr")
                last = off + 8 * (cnt - 1)
                case(f"record {rec} indptr[-1] +1",
                     put(b, last, 8, struct.unpack_from("<q", b, last)[0] + 1), "indptr")
                case(f"record {rec} indptr[1] -1", put(b, off + 8, 8, -1), "indptr")
    return out


EDITS = edit_cases()


@pytest.mark.parametrize("name,desc,buf,frag", EDITS, ids=[f"{e[0]}: {e[1]}" for e in EDITS])
def test_targeted_edit_rejected(name, desc, buf, frag):
    msg = expect_error(buf, codes=(ERR_FORMAT, ERR_OOM), fragment=frag)
    # Loading the same bad input again gives the same error.
    assert expect_error(buf, codes=(ERR_FORMAT, ERR_OOM)) == msg


@pytest.mark.parametrize("name", VALID)
def test_byte_sweep_never_crashes(name):
    """Every byte set to a few values: the load either succeeds or raises BrassError."""
    b = bytearray(fixture_bytes(name))
    failures = 0
    # An edited extent may legitimately ask for a dense expansion of a sparse array in the
    # hundreds of MB; a small limit keeps the sweep fast while still exercising that check.
    set_load_limit(1 << 20)
    try:
        for i in range(len(b)):
            old = b[i]
            for v in (old ^ 0xFF, 0x00, 0x80, 0x7F):
                if v == old:
                    continue
                b[i] = v
                try:
                    load_bytes(b)
                except BrassError as e:
                    failures += 1
                    assert str(e).startswith("load"), str(e)
            b[i] = old
    finally:
        set_load_limit(16 << 30)
    assert failures > 0


def max_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def header(n):
    return struct.pack("<QQQ", 0x112, 0, n)


def dense_record(shape, dtype=0, data=b"", magic=V2):
    r = struct.pack("<Iii", magic, 0, len(shape)) + struct.pack(f"<{len(shape)}q", *shape)
    return r + struct.pack("<iii", 1, 0, dtype) + data


def csr_record(rows, cols, nnz_declared=0, dtype=0):
    r = struct.pack("<Iii", V2, 2, 1) + struct.pack("<q", nnz_declared)
    r += struct.pack("<iqq", 2, rows, cols) + struct.pack("<iii", 1, 0, dtype)
    r += struct.pack("<iiq", 6, 1, rows + 1) + struct.pack("<iiq", 6, 1, nnz_declared)
    return r + struct.pack(f"<{rows + 1}q", *([0] * (rows + 1)))


def test_huge_claims_rejected_before_allocation():
    before = max_rss_mb()
    # 2^40 bytes of float32 data claimed by a 60-byte file.
    no_names = struct.pack("<Q", 0)
    msg = expect_error(header(1) + dense_record([2 ** 38]) + no_names, fragment="truncated")
    assert str(2 ** 40) in msg
    # 2^40 arrays claimed.
    expect_error(header(2 ** 40) + b"\0" * 64, fragment="cannot fit")
    # A names count of 2^40.
    expect_error(header(0) + struct.pack("<Q", 2 ** 40))
    # Shapes whose element count or byte size overflows.
    expect_error(header(1) + dense_record([2 ** 32, 2 ** 32]) + no_names, fragment="overflows")
    expect_error(header(1) + dense_record([2 ** 62], dtype=1) + no_names, fragment="overflows")
    # A csr array with no entries whose dense form is 2^42 bytes (4 TiB): over the 16 GiB
    # default limit, refused before allocating.
    rows = 4
    big = header(1) + csr_record(rows, 2 ** 40) + struct.pack("<Q", 0)
    expect_error(big, codes=(ERR_OOM,), fragment="load limit")
    assert max_rss_mb() - before < 200


def test_load_limit_bounds_sparse_expansion_and_files(tmp_path):
    # 2^13 x 2^13 float32 = 256 MiB dense from a small file: fine under the default limit,
    # refused under a 64 MiB one before anything is allocated.
    buf = header(1) + csr_record(2 ** 13, 2 ** 13) + struct.pack("<Q", 0)
    assert len(buf) < 70000
    set_load_limit(64 << 20)
    try:
        before = max_rss_mb()
        expect_error(buf, codes=(ERR_OOM,), fragment="load limit")
        assert max_rss_mb() - before < 32
        f = tmp_path / "d.params"
        f.write_bytes(fixture_bytes("dtypes.params"))
        set_load_limit(100)
        with pytest.raises(BrassError) as ei:
            mx.nd.load(str(f))
        assert ei.value.code == ERR_OOM and str(f) in str(ei.value)
        set_load_limit(len(fixture_bytes("two.params")))
        assert set(mx.nd.load(str(FIXTURES / "two.params"))) == {"arg:w", "aux:m"}
    finally:
        set_load_limit(16 << 30)
    small = header(1) + csr_record(64, 64) + struct.pack("<Q", 0)
    (a,) = load_bytes(small)
    assert a.shape == (64, 64) and not a.asnumpy().any()


def test_many_tiny_records_stay_bounded():
    # 2^16 legacy "none" records of 4 bytes each: memory grows with the count, not beyond.
    n = 1 << 16
    before = max_rss_mb()
    out = load_bytes(header(n) + b"\0" * (4 * n) + struct.pack("<Q", 0))
    assert len(out) == n
    del out
    assert max_rss_mb() - before < 300


def test_file_errors(tmp_path):
    missing = tmp_path / "missing.params"
    with pytest.raises(BrassError) as ei:
        mx.nd.load(str(missing))
    assert ei.value.code == ERR_IO and str(missing) in str(ei.value)
    with pytest.raises(BrassError) as ei:
        mx.nd.load(str(tmp_path))
    assert ei.value.code == ERR_IO and "regular file" in str(ei.value)
    fifo = tmp_path / "fifo.params"
    os.mkfifo(str(fifo))
    with pytest.raises(BrassError) as ei:  # refused without waiting for a writer
        mx.nd.load(str(fifo))
    assert ei.value.code == ERR_IO and "regular file" in str(ei.value)
    bad = tmp_path / "bad.params"
    bad.write_bytes(fixture_bytes("two.params")[:100])
    with pytest.raises(BrassError) as ei:
        mx.nd.load(str(bad))
    assert ei.value.code == ERR_FORMAT and str(bad) in str(ei.value)


# ---- (e) atomic saves ----------------------------------------------------------------------

def test_save_into_missing_directory(tmp_path):
    target = tmp_path / "no" / "such" / "dir" / "x.params"
    with pytest.raises(BrassError) as ei:
        mx.nd.save(str(target), {"a": mx.nd.array([1.0])})
    assert ei.value.code == ERR_IO and str(target) in str(ei.value)
    assert list(tmp_path.iterdir()) == []


def test_save_over_directory_leaves_nothing(tmp_path):
    target = tmp_path / "adir"
    target.mkdir()
    with pytest.raises(BrassError) as ei:
        mx.nd.save(str(target), [mx.nd.array([1.0])])
    assert ei.value.code == ERR_IO
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir"]
    assert list(target.iterdir()) == []


def test_save_replaces_and_leaves_no_temp_files(tmp_path):
    f = tmp_path / "m.params"
    mx.nd.save(str(f), {"a": mx.nd.array([1.0, 2.0])})
    mx.nd.save(str(f), {"b": mx.nd.array(np.arange(1000, dtype=np.float32))})
    assert [p.name for p in tmp_path.iterdir()] == ["m.params"]
    back = mx.nd.load(str(f))
    assert list(back) == ["b"] and back["b"].asnumpy().sum() == 499500


def test_concurrent_saves_to_one_path(tmp_path):
    f = tmp_path / "c.params"
    errors = []

    def worker(k):
        try:
            for i in range(10):
                mx.nd.save(str(f), {"k": mx.nd.array(np.full(256, k * 100 + i, dtype=np.float32))})
        except Exception as e:  # noqa: BLE001 - any failure is reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert [p.name for p in tmp_path.iterdir()] == ["c.params"]
    v = mx.nd.load(str(f))["k"].asnumpy()
    assert (v == v[0]).all()


def test_failed_write_keeps_the_old_file(tmp_path):
    """A write that fails midway (file size limit) leaves the previous file untouched."""
    f = tmp_path / "keep.params"
    mx.nd.save(str(f), {"old": mx.nd.array([1.0, 2.0, 3.0])})
    before = f.read_bytes()
    script = textwrap.dedent("""
        import resource, signal, sys
        import numpy as np
        import brass as mx
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        big = mx.nd.array(np.ones(1 << 20, dtype=np.float32))
        resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))
        try:
            mx.nd.save(sys.argv[1], {"new": big})
        except mx.BrassError as e:
            print("ERR", e.code, e)
            sys.exit(0)
        sys.exit(3)
    """)
    r = subprocess.run([sys.executable, "-c", script, str(f)], capture_output=True, text=True,
                       timeout=120, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith(f"ERR {ERR_IO}") and str(f) in r.stdout, r.stdout
    assert f.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["keep.params"]
