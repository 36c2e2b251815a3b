"""The predict API (brass/c_predict_api.h) through ctypes on the installed library: Brass's
own functions and MXNet's MXPred*/MXNDList* ones. Models exported by Brass and files written
by MXNet 1.9.1 (tests/fixtures/mxnet_networks) give the outputs Python and MXNet gave;
weights are shared, predictors run concurrently, and bad input gets an error code and a
message."""
import ctypes as C
import json
import os
import threading

import numpy as np
import pytest

import brass as mx
from brass.gluon import nn

LIB = C.CDLL(os.path.realpath(os.path.join(os.path.dirname(mx.__file__), "libbrass.so")))
FIX = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures", "mxnet_networks")
P = C.c_void_p
I64P = C.POINTER(C.c_int64)
STRS = C.POINTER(C.c_char_p)

for name, res, args in [
    ("brass_predict_last_error", C.c_char_p, []),
    ("brass_model_load", C.c_int32, [C.c_char_p, C.c_void_p, C.c_size_t, C.POINTER(P)]),
    ("brass_model_load_files", C.c_int32, [C.c_char_p, C.c_char_p, C.POINTER(P)]),
    ("brass_model_inputs", C.c_int32, [P, C.POINTER(C.c_int32), C.POINTER(STRS)]),
    ("brass_model_free", None, [P]),
    ("brass_predictor_create", C.c_int32, [P, C.c_int32, C.c_int32, C.c_int32, STRS, I64P, I64P, C.c_int32, STRS,
                                           C.POINTER(P)]),
    ("brass_predictor_reshape", C.c_int32, [P, C.c_int32, STRS, I64P, I64P, C.POINTER(P)]),
    ("brass_predictor_set_input", C.c_int32, [P, C.c_char_p, C.c_void_p, C.c_size_t]),
    ("brass_predictor_forward", C.c_int32, [P]),
    ("brass_predictor_partial_forward", C.c_int32, [P, C.c_int32, C.POINTER(C.c_int32)]),
    ("brass_predictor_num_outputs", C.c_int32, [P, C.POINTER(C.c_int32)]),
    ("brass_predictor_output_info", C.c_int32, [P, C.c_int32, C.POINTER(C.c_char_p), C.POINTER(C.c_int32),
                                                C.POINTER(I64P), C.POINTER(C.c_int32)]),
    ("brass_predictor_get_output", C.c_int32, [P, C.c_int32, C.c_void_p, C.c_size_t]),
    ("brass_predictor_free", None, [P]),
    ("brass_pred_list_load", C.c_int32, [C.c_void_p, C.c_size_t, C.POINTER(P), C.POINTER(C.c_int32)]),
    ("brass_pred_list_get", C.c_int32, [P, C.c_int32, C.POINTER(C.c_char_p), C.POINTER(C.c_void_p),
                                        C.POINTER(C.c_int32), C.POINTER(I64P), C.POINTER(C.c_int32)]),
    ("brass_pred_list_free", None, [P]),
    ("MXGetLastError", C.c_char_p, []),
    ("MXPredCreate", C.c_int, [C.c_char_p, C.c_void_p, C.c_int, C.c_int, C.c_int, C.c_uint32, STRS,
                               C.POINTER(C.c_uint32), C.POINTER(C.c_uint32), C.POINTER(P)]),
    ("MXPredCreatePartialOut", C.c_int, [C.c_char_p, C.c_void_p, C.c_int, C.c_int, C.c_int, C.c_uint32, STRS,
                                         C.POINTER(C.c_uint32), C.POINTER(C.c_uint32), C.c_uint32, STRS,
                                         C.POINTER(P)]),
    ("MXPredCreateMultiThread", C.c_int, [C.c_char_p, C.c_void_p, C.c_int, C.c_int, C.c_int, C.c_uint32, STRS,
                                          C.POINTER(C.c_uint32), C.POINTER(C.c_uint32), C.c_int, C.POINTER(P)]),
    ("MXPredReshape", C.c_int, [C.c_uint32, STRS, C.POINTER(C.c_uint32), C.POINTER(C.c_uint32), P, C.POINTER(P)]),
    ("MXPredGetOutputShape", C.c_int, [P, C.c_uint32, C.POINTER(C.POINTER(C.c_uint32)), C.POINTER(C.c_uint32)]),
    ("MXPredGetOutputType", C.c_int, [P, C.c_uint32, C.POINTER(C.c_int)]),
    ("MXPredSetInput", C.c_int, [P, C.c_char_p, C.POINTER(C.c_float), C.c_uint32]),
    ("MXPredForward", C.c_int, [P]),
    ("MXPredPartialForward", C.c_int, [P, C.c_int, C.POINTER(C.c_int)]),
    ("MXPredGetOutput", C.c_int, [P, C.c_uint32, C.POINTER(C.c_float), C.c_uint32]),
    ("MXPredFree", C.c_int, [P]),
    ("MXNDListCreate", C.c_int, [C.c_char_p, C.c_int, C.POINTER(P), C.POINTER(C.c_uint32)]),
    ("MXNDListGet", C.c_int, [P, C.c_uint32, C.POINTER(C.c_char_p), C.POINTER(C.POINTER(C.c_float)),
                              C.POINTER(C.POINTER(C.c_uint32)), C.POINTER(C.c_uint32)]),
    ("MXNDListFree", C.c_int, [P]),
]:
    fn = getattr(LIB, name)
    fn.restype, fn.argtypes = res, args


def ok(status):
    assert status == 0, LIB.brass_predict_last_error().decode()


def err(status, code, *words):
    msg = LIB.brass_predict_last_error().decode()
    assert status == code, (status, msg)
    for w in words:
        assert w in msg, (w, msg)
    return msg


def strs(names):
    return (C.c_char_p * len(names))(*[n.encode() for n in names])


def create(model, shapes, outputs=(), dev=1):
    names = list(shapes)
    indptr = np.cumsum([0] + [len(s) for s in shapes.values()]).astype(np.int64)
    dims = np.array([d for s in shapes.values() for d in s] or [0], np.int64)
    out = P()
    status = LIB.brass_predictor_create(model, dev, 0, len(names), strs(names), indptr.ctypes.data_as(I64P),
                                        dims.ctypes.data_as(I64P), len(outputs), strs(list(outputs)) if outputs else None,
                                        C.byref(out))
    return status, out


def output(pred, i=0):
    name, ndim, shape, dtype = C.c_char_p(), C.c_int32(), I64P(), C.c_int32()
    ok(LIB.brass_predictor_output_info(pred, i, C.byref(name), C.byref(ndim), C.byref(shape), C.byref(dtype)))
    dims = tuple(shape[k] for k in range(ndim.value))
    arr = np.empty(dims, {0: np.float32, 1: np.float64, 2: np.float16}[dtype.value])
    ok(LIB.brass_predictor_get_output(pred, i, arr.ctypes.data, arr.nbytes))
    return name.value.decode(), arr


def run(pred, name, x):
    x = np.ascontiguousarray(x)
    ok(LIB.brass_predictor_set_input(pred, name.encode(), x.ctypes.data, x.nbytes))
    ok(LIB.brass_predictor_forward(pred))
    return output(pred)[1]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A hybridized conv net with BatchNorm, exported (arg:/aux: names), and its outputs."""
    d = tmp_path_factory.mktemp("model")
    mx.random.seed(0)
    net = nn.HybridSequential(prefix="net_")
    with net.name_scope():
        net.add(nn.Conv2D(4, 3, activation="relu"), nn.BatchNorm(), nn.MaxPool2D(), nn.Flatten(),
                nn.Dense(6, activation="tanh"), nn.Dense(3))
    net.initialize(mx.init.Xavier())
    x = np.random.RandomState(0).uniform(-1, 1, (2, 1, 8, 8)).astype(np.float32)
    net(mx.nd.array(x))  # shapes known
    for p in net.collect_params().values():  # non-trivial moving statistics
        if "running" in p.name or "moving" in p.name:
            p.set_data(mx.nd.array(np.random.RandomState(1).uniform(0.5, 1.5, p.shape)))
    net.hybridize()
    y = net(mx.nd.array(x)).asnumpy()
    sym_file, params_file = net.export(str(d / "net"))
    return {"sym": sym_file, "params": params_file, "x": x, "y": y, "net": net}


def load(sym_file, params_file):
    model = P()
    ok(LIB.brass_model_load_files(sym_file.encode(), params_file.encode(), C.byref(model)))
    return model


def test_brass_api_runs_an_exported_model(exported):
    model = load(exported["sym"], exported["params"])
    num, names = C.c_int32(), STRS()
    ok(LIB.brass_model_inputs(model, C.byref(num), C.byref(names)))
    assert [names[i].decode() for i in range(num.value)] == ["data"]
    status, pred = create(model, {"data": (2, 1, 8, 8)})
    ok(status)
    n = C.c_int32()
    ok(LIB.brass_predictor_num_outputs(pred, C.byref(n)))
    assert n.value == 1
    np.testing.assert_allclose(run(pred, "data", exported["x"]), exported["y"], rtol=1e-5, atol=1e-6)
    # The model may go first: its predictors keep it alive.
    LIB.brass_model_free(model)
    np.testing.assert_allclose(run(pred, "data", exported["x"][::-1].copy()), exported["y"][::-1], rtol=1e-5,
                               atol=1e-6)
    # Reshape to a batch of 1, sharing the weights; the old predictor stays usable.
    one = P()
    indptr, dims = np.array([0, 4], np.int64), np.array([1, 1, 8, 8], np.int64)
    ok(LIB.brass_predictor_reshape(pred, 1, strs(["data"]), indptr.ctypes.data_as(I64P), dims.ctypes.data_as(I64P),
                                   C.byref(one)))
    np.testing.assert_allclose(run(one, "data", exported["x"][1:]), exported["y"][1:], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(run(pred, "data", exported["x"]), exported["y"], rtol=1e-5, atol=1e-6)
    # Step by step: the same result once no steps are left.
    ok(LIB.brass_predictor_set_input(pred, b"data", exported["x"].ctypes.data, exported["x"].nbytes))
    step, left, steps = 0, C.c_int32(1), 0
    while left.value > 0:
        ok(LIB.brass_predictor_partial_forward(pred, step, C.byref(left)))
        step += 1
    assert step >= 5
    np.testing.assert_allclose(output(pred)[1], exported["y"], rtol=1e-5, atol=1e-6)
    LIB.brass_predictor_free(one)
    LIB.brass_predictor_free(pred)
    err(LIB.brass_predictor_forward(pred), 6, "predictor")  # freed: refused, not dereferenced


def test_prepared_filters_are_made_once_and_shared(tmp_path):
    """A predictor prepares each convolution's filters (Winograd's transform for the 3x3, the
    GEMM packing for the 1x1) on its first forward and keeps them: later forwards, and other
    predictors of the same model, prepare nothing and give the same outputs."""
    rng = np.random.RandomState(3)
    data = mx.sym.var("data")
    h = mx.sym.Convolution(data, num_filter=16, kernel=(3, 3), pad=(1, 1), name="c3")
    h = mx.sym.Convolution(mx.sym.relu(h), num_filter=8, kernel=(1, 1), name="c1")
    shapes = {"c3_weight": (16, 16, 3, 3), "c3_bias": (16,), "c1_weight": (8, 16, 1, 1), "c1_bias": (8,)}
    params = {k: rng.uniform(-1, 1, s).astype(np.float32) for k, s in shapes.items()}
    h.save(str(tmp_path / "m-symbol.json"))
    mx.nd.save(str(tmp_path / "m-0000.params"), {"arg:" + k: mx.nd.array(v) for k, v in params.items()})
    x = rng.uniform(-1, 1, (1, 16, 16, 16)).astype(np.float32)
    want = h.eval(ctx=mx.cpu(), data=mx.nd.array(x), **{k: mx.nd.array(v) for k, v in params.items()})[0].asnumpy()

    model = load(str(tmp_path / "m-symbol.json"), str(tmp_path / "m-0000.params"))
    preds = []
    for _ in range(2):
        status, pred = create(model, {"data": x.shape})
        ok(status)
        preds.append(pred)
    made = mx.context.kept_info()["made"]
    np.testing.assert_allclose(run(preds[0], "data", x), want, rtol=1e-4, atol=1e-4)
    first = mx.context.kept_info()["made"] - made
    assert first == 2, first  # one per convolution
    for pred in preds + preds:
        np.testing.assert_allclose(run(pred, "data", x), want, rtol=1e-4, atol=1e-4)
    assert mx.context.kept_info()["made"] - made == first
    for pred in preds:
        LIB.brass_predictor_free(pred)
    LIB.brass_model_free(model)


@pytest.mark.parametrize("lead", [0, 1, 2, 3])
def test_weights_at_any_offset_in_the_file(tmp_path, lead):
    """Loading from a file uses the weights where the file holds them when they are aligned for
    their type, and copies them when not: an unused float16 array of `lead` elements ahead of
    them shifts every later record by 2 * lead bytes. Outputs match those of the same bytes
    loaded from memory (always copied) and of Python."""
    rng = np.random.RandomState(lead)
    data = mx.sym.var("data")
    h = mx.sym.FullyConnected(data, num_hidden=5, name="fc1")
    h = mx.sym.FullyConnected(mx.sym.relu(h), num_hidden=3, name="fc2")
    params = {"arg:fc1_weight": rng.uniform(-1, 1, (5, 7)).astype(np.float32),
              "arg:fc1_bias": rng.uniform(-1, 1, (5,)).astype(np.float32),
              "arg:fc2_weight": rng.uniform(-1, 1, (3, 5)).astype(np.float32),
              "arg:fc2_bias": rng.uniform(-1, 1, (3,)).astype(np.float32)}
    arrays = {"arg:unused": mx.nd.array(np.arange(lead), dtype="float16")} if lead else {}
    arrays.update({k: mx.nd.array(v) for k, v in params.items()})
    h.save(str(tmp_path / "m-symbol.json"))
    mx.nd.save(str(tmp_path / "m-0000.params"), arrays)
    x = rng.uniform(-1, 1, (2, 7)).astype(np.float32)
    want = h.eval(ctx=mx.cpu(), data=mx.nd.array(x), **{k[4:]: mx.nd.array(v) for k, v in params.items()})[0]
    from_file = load(str(tmp_path / "m-symbol.json"), str(tmp_path / "m-0000.params"))
    raw = (tmp_path / "m-0000.params").read_bytes()
    from_bytes = P()
    ok(LIB.brass_model_load((tmp_path / "m-symbol.json").read_bytes(), raw, len(raw), C.byref(from_bytes)))
    outs = []
    for model in (from_file, from_bytes):
        status, pred = create(model, {"data": x.shape})
        ok(status)
        LIB.brass_model_free(model)  # the predictor keeps the weights (and the file's buffer) alive
        outs.append(run(pred, "data", x))
        LIB.brass_predictor_free(pred)
    assert outs[0].tobytes() == outs[1].tobytes()
    np.testing.assert_allclose(outs[0], want.asnumpy(), rtol=1e-5, atol=1e-6)


def test_internal_outputs_and_unprefixed_names(exported, tmp_path):
    net = exported["net"]
    # Parameters saved with bare names (no arg:/aux:) load too.
    params = {p.name: p.data() for p in net.collect_params().values()}
    mx.nd.save(str(tmp_path / "bare.params"), params)
    model = load(exported["sym"], str(tmp_path / "bare.params"))
    sym = mx.sym.load(exported["sym"])
    inner = [o for o in sym.get_internals().list_outputs() if o.endswith("dense0_tanh_fwd_output")][0]
    status, pred = create(model, {"data": (2, 1, 8, 8)}, outputs=[inner[:-len("_output")], inner])
    ok(status)
    exe = sym.get_internals()[inner].bind(mx.cpu(), {"data": mx.nd.array(exported["x"]),
                                                       **{k: v for k, v in params.items()
                                                          if k in sym.get_internals()[inner].list_arguments()}},
                                          aux_states={k: v for k, v in params.items()
                                                      if k in sym.get_internals()[inner].list_auxiliary_states()})
    want = exe.forward(is_train=False)[0].asnumpy()
    x = exported["x"]
    ok(LIB.brass_predictor_set_input(pred, b"data", x.ctypes.data, x.nbytes))
    ok(LIB.brass_predictor_forward(pred))
    for i in range(2):
        name, got = output(pred, i)
        assert name == inner and got.shape == (2, 6)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    err(create(model, {"data": (2, 1, 8, 8)}, outputs=["nope"])[0], 11, "no output or node named 'nope'")
    LIB.brass_predictor_free(pred)
    LIB.brass_model_free(model)


def test_errors_name_what_is_wrong(exported, tmp_path):
    text = open(exported["sym"]).read()
    raw = open(exported["params"], "rb").read()
    model = P()
    # A weight missing from the file: listed (MXNet left it uninitialised).
    params = {k: v for k, v in mx.nd.load(exported["params"]).items() if "dense1_weight" not in k}
    mx.nd.save(str(tmp_path / "short.params"), params)
    short = load(exported["sym"], str(tmp_path / "short.params"))
    err(create(short, {"data": (2, 1, 8, 8)})[0], 11, "no values for the weights net_dense1_weight")
    noaux = {k: v for k, v in mx.nd.load(exported["params"]).items() if not k.startswith("aux:")}
    mx.nd.save(str(tmp_path / "noaux.params"), noaux)
    err(LIB.brass_model_load_files(exported["sym"].encode(), str(tmp_path / "noaux.params").encode(),
                                   C.byref(model)), 11, "auxiliary states", "running_mean")
    err(LIB.brass_model_load(b"{not json", raw, len(raw), C.byref(model)), 8)
    err(LIB.brass_model_load(text.encode(), raw, len(raw) // 2, C.byref(model)), 8)
    err(LIB.brass_model_load_files(b"/nonexistent.json", b"/nonexistent.params", C.byref(model)), 7, "nonexistent")
    good = load(exported["sym"], exported["params"])
    err(create(good, {})[0], 2, "no shape for the inputs data")
    err(create(good, {"image": (1, 1, 8, 8)})[0], 11, "'image' is not an input of the model", "data")
    err(create(good, {"data": (2, 3, 8, 8)})[0], 2)  # 3 channels for a 1-channel weight
    status, pred = create(good, {"data": (2, 1, 8, 8)})
    ok(status)
    x = exported["x"]
    err(LIB.brass_predictor_set_input(pred, b"data", x.ctypes.data, x.nbytes - 4), 2, "holds 512 bytes, 508 given")
    err(LIB.brass_predictor_set_input(pred, b"net_dense1_weight", x.ctypes.data, 4), 1, "is a weight")
    err(LIB.brass_predictor_get_output(pred, 0, x.ctypes.data, 24), 1, "call forward first")
    ok(LIB.brass_predictor_forward(pred))
    err(LIB.brass_predictor_get_output(pred, 1, x.ctypes.data, 24), 5, "out of range")
    err(LIB.brass_predictor_get_output(pred, 0, x.ctypes.data, 20), 2, "24 bytes, 20 asked for")
    err(LIB.brass_predictor_partial_forward(pred, 999, None), 5, "out of range")
    LIB.brass_predictor_free(pred)
    for m in (short, good):
        LIB.brass_model_free(m)


def test_a_failed_forward_leaves_the_predictor_usable(tmp_path):
    """A kernel that fails on the data it is given (an index out of bounds) reports it with the
    node and op; the next forward on good data runs."""
    y = mx.sym.take(mx.sym.relu(mx.sym.var("data")), mx.sym.var("idx"), mode="raise", name="pick") * 2
    y.save(str(tmp_path / "take-symbol.json"))
    mx.nd.save(str(tmp_path / "take.params"), {})
    model = load(str(tmp_path / "take-symbol.json"), str(tmp_path / "take.params"))
    status, pred = create(model, {"data": (3, 2), "idx": (1,)})
    ok(status)
    x = np.arange(6, dtype=np.float32).reshape(3, 2)
    ok(LIB.brass_predictor_set_input(pred, b"data", x.ctypes.data, x.nbytes))
    for i, want in ((7, None), (1, [[4, 6]]), (-9, None), (2, [[8, 10]])):
        idx = np.array([i], np.float32)
        ok(LIB.brass_predictor_set_input(pred, b"idx", idx.ctypes.data, idx.nbytes))
        out = np.empty((1, 2), np.float32)
        status = LIB.brass_predictor_forward(pred)
        if status == 0:
            status = LIB.brass_predictor_get_output(pred, 0, out.ctypes.data, out.nbytes)
        if want is None:
            assert status != 0
            msg = LIB.brass_predict_last_error().decode()
            assert "node 'pick' (take)" in msg and "out of bounds" in msg, msg
        else:
            ok(status)
            np.testing.assert_array_equal(out, want)
    LIB.brass_predictor_free(pred)
    LIB.brass_model_free(model)


def test_predictors_share_weights_and_run_concurrently(exported):
    model = load(exported["sym"], exported["params"])
    preds = []
    for _ in range(4):
        status, p = create(model, {"data": (2, 1, 8, 8)})
        ok(status)
        preds.append(p)
    rng = np.random.RandomState(3)
    inputs = [rng.uniform(-1, 1, (2, 1, 8, 8)).astype(np.float32) for _ in preds]
    wants = [exported["net"](mx.nd.array(x)).asnumpy() for x in inputs]
    got = [None] * len(preds)

    def work(i):
        for _ in range(20):
            got[i] = run(preds[i], "data", inputs[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(preds))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for g, w in zip(got, wants):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    for p in preds:
        LIB.brass_predictor_free(p)
    LIB.brass_model_free(model)


def mx_create(json_text, raw, shapes, partial=None):
    keys = list(shapes)
    indptr = (C.c_uint32 * (len(keys) + 1))(*np.cumsum([0] + [len(s) for s in shapes.values()]).tolist())
    dims = [d for s in shapes.values() for d in s]
    data = (C.c_uint32 * max(1, len(dims)))(*dims)
    out = P()
    if partial:
        status = LIB.MXPredCreatePartialOut(json_text, raw, len(raw), 1, 0, len(keys), strs(keys), indptr, data,
                                            len(partial), strs(partial), C.byref(out))
    else:
        status = LIB.MXPredCreate(json_text, raw, len(raw), 1, 0, len(keys), strs(keys), indptr, data, C.byref(out))
    return status, out


@pytest.mark.parametrize("name", ["lenet", "mlp", "resnet18_v1"])
def test_mxnet_api_on_mxnet_files(name):
    """Files MXNet 1.9.1 wrote, through MXNet's own functions: MXNet's recorded outputs."""
    with open(os.path.join(FIX, "manifest.json")) as f:
        rec = json.load(f)[name]
    text = open(os.path.join(FIX, name + "-symbol.json"), "rb").read()
    raw = open(os.path.join(FIX, name + "-0000.params"), "rb").read()
    shape = tuple(rec["data_shape"])
    status, pred = mx_create(text, raw, {"data": shape})
    assert status == 0, LIB.MXGetLastError().decode()
    x = np.array(rec["data"], np.float32).reshape(shape)
    assert LIB.MXPredSetInput(pred, b"data", x.ctypes.data_as(C.POINTER(C.c_float)), x.size) == 0
    assert LIB.MXPredForward(pred) == 0
    dims, ndim = C.POINTER(C.c_uint32)(), C.c_uint32()
    assert LIB.MXPredGetOutputShape(pred, 0, C.byref(dims), C.byref(ndim)) == 0
    oshape = tuple(dims[i] for i in range(ndim.value))
    assert oshape == tuple(rec["output_shape"])
    dtype = C.c_int(-1)
    assert LIB.MXPredGetOutputType(pred, 0, C.byref(dtype)) == 0 and dtype.value == 0
    y = np.empty(oshape, np.float32)
    assert LIB.MXPredGetOutput(pred, 0, y.ctypes.data_as(C.POINTER(C.c_float)), y.size) == 0
    np.testing.assert_allclose(y, np.array(rec["output"], np.float32).reshape(oshape), rtol=1e-4, atol=1e-5)
    # A new batch size: MXPredReshape (a SoftmaxOutput's label never blocks it).
    new = P()
    two = (2 * shape[0],) + shape[1:]
    indptr = (C.c_uint32 * 2)(0, len(two))
    data = (C.c_uint32 * len(two))(*two)
    assert LIB.MXPredReshape(1, strs(["data"]), indptr, data, pred, C.byref(new)) == 0, LIB.MXGetLastError()
    xx = np.concatenate([x, x])
    assert LIB.MXPredSetInput(new, b"data", xx.ctypes.data_as(C.POINTER(C.c_float)), xx.size) == 0
    left = C.c_int(1)
    step = 0
    while left.value:
        assert LIB.MXPredPartialForward(new, step, C.byref(left)) == 0
        step += 1
    yy = np.empty((2 * oshape[0],) + oshape[1:], np.float32)
    assert LIB.MXPredGetOutput(new, 0, yy.ctypes.data_as(C.POINTER(C.c_float)), yy.size) == 0
    np.testing.assert_allclose(yy, np.concatenate([y, y]), rtol=1e-5, atol=1e-6)
    assert LIB.MXPredFree(new) == 0 and LIB.MXPredFree(pred) == 0
    assert LIB.MXPredFree(pred) == -1 and "not a live predictor" in LIB.MXGetLastError().decode()


def test_mxnet_multithread_partial_out_and_ndlist(exported, tmp_path):
    text = open(exported["sym"], "rb").read()
    raw = open(exported["params"], "rb").read()
    keys = strs(["data"])
    indptr = (C.c_uint32 * 2)(0, 4)
    data = (C.c_uint32 * 4)(2, 1, 8, 8)
    outs = (P * 3)()
    assert LIB.MXPredCreateMultiThread(text, raw, len(raw), 1, 0, 1, keys, indptr, data, 3, outs) == 0
    x = exported["x"]
    for h in outs:
        assert LIB.MXPredSetInput(h, b"data", x.ctypes.data_as(C.POINTER(C.c_float)), x.size) == 0
        assert LIB.MXPredForward(h) == 0
        y = np.empty((2, 3), np.float32)
        assert LIB.MXPredGetOutput(h, 0, y.ctypes.data_as(C.POINTER(C.c_float)), y.size) == 0
        np.testing.assert_allclose(y, exported["y"], rtol=1e-5, atol=1e-6)
        assert LIB.MXPredFree(h) == 0
    status, part = mx_create(text, raw, {"data": (2, 1, 8, 8)}, partial=["net_flatten0_flatten0"])
    assert status == 0, LIB.MXGetLastError().decode()
    dims, ndim = C.POINTER(C.c_uint32)(), C.c_uint32()
    assert LIB.MXPredGetOutputShape(part, 0, C.byref(dims), C.byref(ndim)) == 0
    assert [dims[i] for i in range(ndim.value)] == [2, 36]
    assert LIB.MXPredGetOutputType(part, 5, C.byref(C.c_int())) == -1  # no out-of-range write
    assert LIB.MXPredFree(part) == 0
    assert LIB.MXPredCreate(b"[]", raw, len(raw), 1, 0, 1, keys, indptr, data, C.byref(P())) == -1
    assert LIB.MXGetLastError().decode()
    # NDList of any dtype: MXNDListGet gives float32 values, brass_pred_list_get the raw dtype.
    mean = {"mean_img": mx.nd.array(np.arange(6).reshape(2, 3), dtype="int64"),
            "half": mx.nd.array([1.5, -2.0], dtype="float16")}
    mx.nd.save(str(tmp_path / "mean.nd"), mean)
    blob = open(tmp_path / "mean.nd", "rb").read()
    lst, n = P(), C.c_uint32()
    assert LIB.MXNDListCreate(blob, len(blob), C.byref(lst), C.byref(n)) == 0 and n.value == 2
    got = {}
    for i in range(2):
        key, vals, shp, nd_ = C.c_char_p(), C.POINTER(C.c_float)(), C.POINTER(C.c_uint32)(), C.c_uint32()
        assert LIB.MXNDListGet(lst, i, C.byref(key), C.byref(vals), C.byref(shp), C.byref(nd_)) == 0
        dims_i = [shp[k] for k in range(nd_.value)]
        got[key.value.decode()] = np.array([vals[k] for k in range(int(np.prod(dims_i)))]).reshape(dims_i)
    np.testing.assert_array_equal(got["mean_img"], np.arange(6).reshape(2, 3))
    np.testing.assert_array_equal(got["half"], [1.5, -2.0])
    assert LIB.MXNDListGet(lst, 2, None, None, None, None) == -1
    assert LIB.MXNDListFree(lst) == 0
    blst, length = P(), C.c_int32()
    ok(LIB.brass_pred_list_load(blob, len(blob), C.byref(blst), C.byref(length)))
    raw_ptr, dt, ndim32, shape = C.c_void_p(), C.c_int32(), C.c_int32(), I64P()
    ok(LIB.brass_pred_list_get(blst, 0, None, C.byref(raw_ptr), C.byref(ndim32), C.byref(shape), C.byref(dt)))
    assert dt.value in (6, 2)
    LIB.brass_pred_list_free(blst)


def test_loss_head_labels_are_inferred_and_never_block_a_reshape(tmp_path):
    data = mx.sym.var("data")
    fc = mx.sym.FullyConnected(data, num_hidden=3, name="fc")
    sym = mx.sym.SoftmaxOutput(fc, name="softmax")
    rng = np.random.RandomState(2)
    w, b = rng.randn(3, 5).astype(np.float32), rng.randn(3).astype(np.float32)
    mx.model.save_checkpoint(str(tmp_path / "soft"), 0, sym, {"fc_weight": mx.nd.array(w), "fc_bias": mx.nd.array(b)},
                             {})
    text = open(tmp_path / "soft-symbol.json", "rb").read()
    raw = open(tmp_path / "soft-0000.params", "rb").read()
    status, pred = mx_create(text, raw, {"data": (4, 5)})  # no label given
    assert status == 0, LIB.MXGetLastError().decode()
    for batch in (4, 1, 7):
        if batch != 4:
            new = P()
            indptr, dims = (C.c_uint32 * 2)(0, 2), (C.c_uint32 * 2)(batch, 5)
            assert LIB.MXPredReshape(1, strs(["data"]), indptr, dims, pred, C.byref(new)) == 0, LIB.MXGetLastError()
            assert LIB.MXPredFree(pred) == 0
            pred = new
        x = rng.randn(batch, 5).astype(np.float32)
        assert LIB.MXPredSetInput(pred, b"data", x.ctypes.data_as(C.POINTER(C.c_float)), x.size) == 0
        assert LIB.MXPredForward(pred) == 0
        y = np.empty((batch, 3), np.float32)
        assert LIB.MXPredGetOutput(pred, 0, y.ctypes.data_as(C.POINTER(C.c_float)), y.size) == 0
        z = x @ w.T + b
        want = np.exp(z - z.max(1, keepdims=True))
        np.testing.assert_allclose(y, want / want.sum(1, keepdims=True), rtol=1e-5, atol=1e-6)
    assert LIB.MXPredFree(pred) == 0


def test_a_c_app_written_for_mxnet_builds_and_runs(exported, tmp_path):
    """A C99 program using only MXNet's predict names compiles against Brass's header, links
    with the library and prints what Python computes."""
    import shutil
    import subprocess
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.fail("no C compiler (cc) on this machine")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    lib = os.path.realpath(os.path.join(os.path.dirname(mx.__file__), "libbrass.so"))
    libdir = tmp_path / "lib"
    libdir.mkdir()
    shutil.copy(lib, libdir / "libbrass.so")
    exe = str(tmp_path / "app")
    subprocess.run([cc, "-std=c99", "-pedantic", "-Wall", "-Werror", os.path.join(root, "tests", "c",
                    "predict_mxnet_app.c"), "-I", os.path.join(root, "include"), "-L", str(libdir), "-lbrass",
                    "-Wl,-rpath," + str(libdir), "-o", exe], check=True, capture_output=True, text=True)
    x = exported["x"]
    r = subprocess.run([exe, exported["sym"], exported["params"], *map(str, x.shape)],
                       input=" ".join("%.9g" % v for v in x.ravel()), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    got = np.array([float(v) for v in r.stdout.split()]).reshape(exported["y"].shape)
    np.testing.assert_allclose(got, exported["y"], rtol=1e-5, atol=1e-6)
    bad = subprocess.run([exe, exported["sym"], exported["params"], "2", "3", "8", "8"], input="0 " * 384,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and bad.stdout.startswith("error: ") and "weight" in bad.stdout, bad.stdout


def test_both_headers_declare_the_same_common_types():
    """brass/c_api.h and brass/c_predict_api.h each carry the shared status, dtype and device
    types (either may be included first, and brass_predict.h must stand alone): the two copies
    must give every name the same value."""
    import re
    inc = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "include", "brass")

    def common(name):
        with open(os.path.join(inc, name), encoding="utf-8") as f:
            text = f.read()
        block = text.split("#define BRASS_COMMON_TYPES_DEFINED", 1)[1].split("#endif /* BRASS_COMMON_TYPES_DEFINED */")[0]
        block = re.sub(r"/\*.*?\*/", "", block, flags=re.S)
        values = dict(re.findall(r"\b(BRASS_[A-Z0-9_]+)\s*=\s*(\d+)", block))
        typedefs = sorted(re.findall(r"typedef\s+[^;]+;", block))
        return values, typedefs

    full, predict = common("c_api.h"), common("c_predict_api.h")
    assert len(full[0]) >= 29 and full[1]
    assert full == predict
