"""Hostile model files through the predict API (../shared checklist: truncation at every byte,
byte flips, wrong magic, length prefixes past the end, overflowing or negative dims, unknown
dtypes, node indices out of range, cycles, unknown ops, missing, extra or misshapen weights,
JSON nested or sized beyond a cap, invalid UTF-8), and the memory limit that stops a small file
from asking for terabytes. Each bad file must give an error code and a message; nothing may
crash or hang. The corpora run in a child process (this file run as a script), so a crash is a
failed test naming the corpus instead of a dead test run."""
import ctypes as C
import json
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(os.path.dirname(HERE), "fixtures", "mxnet_networks")


def lib():
    import brass as mx
    L = C.CDLL(os.path.realpath(os.path.join(os.path.dirname(mx.__file__), "libbrass.so")))
    P, I64P = C.c_void_p, C.POINTER(C.c_int64)
    for name, res, args in [
        ("brass_predict_last_error", C.c_char_p, []),
        ("brass_model_load", C.c_int32, [C.c_char_p, C.c_void_p, C.c_size_t, C.POINTER(P)]),
        ("brass_model_load_files", C.c_int32, [C.c_char_p, C.c_char_p, C.POINTER(P)]),
        ("brass_model_free", None, [P]),
        ("brass_predictor_create", C.c_int32, [P, C.c_int32, C.c_int32, C.c_int32, C.POINTER(C.c_char_p), I64P,
                                               I64P, C.c_int32, C.POINTER(C.c_char_p), C.POINTER(P)]),
        ("brass_predictor_forward", C.c_int32, [P]),
        ("brass_predictor_output_info", C.c_int32, [P, C.c_int32, C.POINTER(C.c_char_p), C.POINTER(C.c_int32),
                                                    C.POINTER(I64P), C.POINTER(C.c_int32)]),
        ("brass_predictor_get_output", C.c_int32, [P, C.c_int32, C.c_void_p, C.c_size_t]),
        ("brass_predictor_free", None, [P]),
        ("brass_pred_list_load", C.c_int32, [C.c_void_p, C.c_size_t, C.POINTER(P), C.POINTER(C.c_int32)]),
        ("brass_pred_list_free", None, [P]),
        ("brass_predict_set_memory_limit", None, [C.c_uint64]),
        ("brass_predict_memory_limit", C.c_uint64, []),
    ]:
        fn = getattr(L, name)
        fn.restype, fn.argtypes = res, args
    return L


def run_model(L, json_bytes, params, shape):
    """Loads, binds for data `shape`, runs and reads the first output. Returns (0, None) on
    success or (code, message); asserts that every failure has a message."""
    P = C.c_void_p
    model, pred = P(), P()
    st = L.brass_model_load(json_bytes, params, len(params), C.byref(model))
    try:
        if st == 0:
            names = (C.c_char_p * 1)(b"data")
            indptr = (C.c_int64 * 2)(0, len(shape))
            dims = (C.c_int64 * len(shape))(*shape)
            st = L.brass_predictor_create(model, 1, 0, 1, names, indptr, dims, 0, None, C.byref(pred))
        if st == 0:
            st = L.brass_predictor_forward(pred)
        if st == 0:
            name, ndim, oshape, dt = C.c_char_p(), C.c_int32(), C.POINTER(C.c_int64)(), C.c_int32()
            st = L.brass_predictor_output_info(pred, 0, C.byref(name), C.byref(ndim), C.byref(oshape), C.byref(dt))
            if st == 0:
                n = 1
                for i in range(ndim.value):
                    n *= oshape[i]
                buf = C.create_string_buffer(max(n, 1) * 4)
                st = L.brass_predictor_get_output(pred, 0, buf, n * 4)
    finally:
        if pred:
            L.brass_predictor_free(pred)
        if model:
            L.brass_model_free(model)
    if st == 0:
        return 0, None
    msg = L.brass_predict_last_error().decode("utf-8", "replace")
    assert msg, "error %d without a message" % st
    return st, msg


LENET_SHAPE = (1, 1, 14, 14)


def corpus(kind):
    """Every truncation and every byte flip (xor 0xff) of one of LeNet's files: returns counts."""
    L = lib()
    with open(os.path.join(FIX, "lenet-symbol.json"), "rb") as f:
        sym = f.read()
    with open(os.path.join(FIX, "lenet-0000.params"), "rb") as f:
        params = f.read()
    counts = {"ok": 0, "error": 0}
    target = sym if kind.startswith("symbol") else params
    if kind.endswith("truncate"):
        variants = (target[:n] for n in range(len(target)))
    else:
        variants = (target[:i] + bytes([target[i] ^ 0xFF]) + target[i + 1:] for i in range(len(target)))
    for v in variants:
        if kind.startswith("symbol"):
            st, _ = run_model(L, v, params, LENET_SHAPE)
        elif kind.startswith("list"):
            h, n = C.c_void_p(), C.c_int32()
            st = L.brass_pred_list_load(v, len(v), C.byref(h), C.byref(n))
            if st == 0:
                L.brass_pred_list_free(h)
            else:
                assert L.brass_predict_last_error()
        else:
            st, _ = run_model(L, sym, v, LENET_SHAPE)
        counts["ok" if st == 0 else "error"] += 1
        if kind.endswith("truncate"):
            assert st != 0, "a truncated file loaded"
    return counts


@pytest.mark.parametrize("kind", ["symbol-truncate", "symbol-flip", "params-truncate", "params-flip",
                                  "list-truncate", "list-flip"])
def test_every_truncation_and_byte_flip(kind):
    p = subprocess.run([sys.executable, __file__, kind], capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, "%s: exit %d\n%s" % (kind, p.returncode, p.stderr[-3000:])
    counts = json.loads(p.stdout.strip().splitlines()[-1])
    assert counts["error"] > 0
    if kind.endswith("flip") and not kind.startswith("symbol"):
        assert counts["ok"] > 0  # flips inside the weights' values still load and run


def lenet_json():
    with open(os.path.join(FIX, "lenet-symbol.json")) as f:
        return json.load(f)


def lenet_params():
    with open(os.path.join(FIX, "lenet-0000.params"), "rb") as f:
        return f.read()


def edited(fn):
    doc = lenet_json()
    fn(doc)
    return json.dumps(doc).encode()


def node_index(doc, op):
    return next(i for i, n in enumerate(doc["nodes"]) if n["op"] == op)


def test_targeted_symbol_edits():
    L = lib()
    params = lenet_params()

    def set_input(doc, op, slot, value):
        doc["nodes"][node_index(doc, op)]["inputs"][slot][0] = value

    def cycle(doc):
        # the first convolution reads the last node's output
        doc["nodes"][node_index(doc, "Convolution")]["inputs"][0] = [len(doc["nodes"]) - 1, 0, 0]

    cases = {
        "index past the end": (lambda d: set_input(d, "Convolution", 0, 10 ** 6), ["node"]),
        "negative index": (lambda d: set_input(d, "Convolution", 0, -3), ["node"]),
        "cycle": (cycle, []),
        "unknown op": (lambda d: d["nodes"][node_index(d, "Pooling")].__setitem__("op", "NoSuchOp"), ["NoSuchOp"]),
        "bad attribute": (lambda d: d["nodes"][node_index(d, "Convolution")]["attrs"].__setitem__("kernel", "(a, b)"),
                          ["kernel"]),
        "huge filter count": (lambda d: d["nodes"][node_index(d, "Convolution")]["attrs"].__setitem__(
            "num_filter", "99999999999"), []),
        "heads out of range": (lambda d: d.__setitem__("heads", [[999, 0, 0]]), []),
        "arg_nodes out of range": (lambda d: d.__setitem__("arg_nodes", [0, 12345]), []),
        "no nodes": (lambda d: d.__setitem__("nodes", []), []),
        "nodes not a list": (lambda d: d.__setitem__("nodes", {"a": 1}), []),
    }
    for name, (fn, words) in cases.items():
        st, msg = run_model(L, edited(fn), params, LENET_SHAPE)
        assert st != 0, name
        for w in words:
            assert w in msg, (name, msg)
    # Bytes that are not JSON, or not UTF-8, or nested or sized past the parser's caps.
    for name, text in {"deep": b"[" * 100000 + b"]" * 100000, "invalid utf-8": b'{"nodes": [{"op": "\xff\xfe"}]}',
                       "empty": b"", "nul inside": b'{"nodes"\x00: []}',
                       "huge number": b'{"nodes": [], "heads": [[1e999999, 0, 0]]}'}.items():
        st, msg = run_model(L, text, params, LENET_SHAPE)
        assert st != 0 and msg, name


def test_targeted_weight_edits():
    import numpy as np

    import brass as mx
    L = lib()
    sym = json.dumps(lenet_json()).encode()
    weights = {k: v.asnumpy() for k, v in mx.nd.load(os.path.join(FIX, "lenet-0000.params")).items()}
    tmp = os.path.join(os.environ.get("TMPDIR", "/tmp"), "brass-hostile-%d.params" % os.getpid())

    def saved(d):
        mx.nd.save(tmp, {k: mx.nd.array(v) for k, v in d.items()})
        with open(tmp, "rb") as f:
            data = f.read()
        os.remove(tmp)
        return data

    first = sorted(weights)[0]
    missing = dict(weights)
    del missing[first]
    st, msg = run_model(L, sym, saved(missing), LENET_SHAPE)
    assert st != 0 and first.split(":")[-1] in msg
    extra = dict(weights, **{"arg:unused_extra": np.ones(3, np.float32)})
    assert run_model(L, sym, saved(extra), LENET_SHAPE)[0] == 0  # extra values are ignored
    wrong = dict(weights, **{first: np.ones((2, 2), np.float32)})
    st, msg = run_model(L, sym, saved(wrong), LENET_SHAPE)
    assert st != 0 and "shape" in msg
    # Raw edits of the header: wrong magic, a count past the end, an unknown dtype code.
    data = saved(weights)
    for name, blob in {"magic": b"\x00" * 8 + data[8:], "count": data[:16] + b"\xff" * 8 + data[24:],
                       "short": data[:20]}.items():
        st, msg = run_model(L, sym, blob, LENET_SHAPE)
        assert st != 0 and msg, name


def test_memory_limit_refuses_terabytes():
    """A tiny symbol whose values would need terabytes is refused at bind, before allocating;
    the limit is settable and 0 turns it off for ordinary models."""
    L = lib()
    tiny = json.dumps({
        "nodes": [{"op": "null", "name": "data", "inputs": []},
                  {"op": "broadcast_to", "name": "big", "attrs": {"shape": "(100000, 100000, 1000)"},
                   "inputs": [[0, 0, 0]]}],
        "arg_nodes": [0], "node_row_ptr": [0, 1, 2], "heads": [[1, 0, 0]],
        "attrs": {"mxnet_version": ["int", 10901]}}).encode()
    empty = bytes(8) + bytes(8) + bytes(8)  # no arrays, no names
    import brass as mx
    tmp = os.path.join(os.environ.get("TMPDIR", "/tmp"), "brass-empty-%d.params" % os.getpid())
    mx.nd.save(tmp, {})
    with open(tmp, "rb") as f:
        empty = f.read()
    os.remove(tmp)
    before = L.brass_predict_memory_limit()
    assert before >= 1 << 30
    st, msg = run_model(L, tiny, empty, (1, 1, 1))
    assert st != 0 and "limit" in msg and "bytes" in msg, msg
    try:
        L.brass_predict_set_memory_limit(1 << 20)
        st, msg = run_model(L, json.dumps(lenet_json()).encode(), lenet_params(), (4096, 1, 14, 14))
        assert st != 0 and "limit" in msg, msg  # inputs of 3 MB: over a 1 MB limit
        L.brass_predict_set_memory_limit(0)
        assert run_model(L, json.dumps(lenet_json()).encode(), lenet_params(), LENET_SHAPE)[0] == 0
    finally:
        L.brass_predict_set_memory_limit(before)


def test_loading_is_bounded_by_the_file_size(tmp_path):
    """Reading a parameter file allocates at most 8 times its size plus 1 MiB (a sparse array
    expanded to dense is the only way past the file's size); the symbol JSON may be 1/128 of
    the memory limit at most. brass_predict_set_memory_limit(0) lifts both."""
    import struct

    from test_params_io import csr_record, header
    L = lib()
    # A 2^11 x 2^11 float32 csr array with no entries: 16 MiB dense from a 16 KB file.
    blob = header(1) + csr_record(2 ** 11, 2 ** 11) + struct.pack("<Q", 0)
    assert len(blob) < 17000
    h, n = C.c_void_p(), C.c_int32()

    def list_load():
        st = L.brass_pred_list_load(blob, len(blob), C.byref(h), C.byref(n))
        if st == 0:
            L.brass_pred_list_free(h)
        return st, L.brass_predict_last_error().decode() if st else ""

    st, msg = list_load()
    assert st != 0 and "8 times" in msg and str(16 << 20) in msg, msg
    sym = json.dumps(lenet_json()).encode()
    sym_path, params_path = tmp_path / "lenet-symbol.json", tmp_path / "lenet-0000.params"
    sym_path.write_bytes(sym)
    params_path.write_bytes(lenet_params())

    def load_files():
        model = C.c_void_p()
        st = L.brass_model_load_files(str(sym_path).encode(), str(params_path).encode(), C.byref(model))
        if st == 0:
            L.brass_model_free(model)
        return st, L.brass_predict_last_error().decode() if st else ""

    before = L.brass_predict_memory_limit()
    try:
        L.brass_predict_set_memory_limit(0)
        assert list_load()[0] == 0
        # The JSON cap: one byte short, then exactly the text's size.
        L.brass_predict_set_memory_limit((len(sym) - 1) * 128)
        for st, msg in (run_model(L, sym, lenet_params(), LENET_SHAPE), load_files()):
            assert st != 0 and "symbol JSON is %d bytes" % len(sym) in msg, msg
        L.brass_predict_set_memory_limit(len(sym) * 128)
        assert run_model(L, sym, lenet_params(), LENET_SHAPE) == (0, None)
        assert load_files() == (0, "")
    finally:
        L.brass_predict_set_memory_limit(before)


if __name__ == "__main__":
    print(json.dumps(corpus(sys.argv[1])))
