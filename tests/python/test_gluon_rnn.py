"""gluon.rnn: the fused layers (RNN, LSTM with and without projection, GRU) against a NumPy
recurrence written here from the named parameters (which also checks how they are packed for
the RNN operator), the cells one step at a time and unrolled (NDArrays, symbols, inside
hybridized blocks), cells against layers, gradients against central differences, MXNet's
parameter names, errors, and a short training run."""

import os

import brass as mx
import numpy as np
import pytest
from brass import gluon
from brass.gluon import nn, rnn

GATES = {"rnn_relu": 1, "rnn_tanh": 1, "lstm": 4, "gru": 3}


# ---- NumPy reference ----------------------------------------------------------------------
def sig(v):
    return 1 / (1 + np.exp(-v))


def np_step(mode, x, h, c, wx, wh, bx, bh, wr=None, clip=None):
    """One step of one cell: returns (h', c'). Gates in MXNet's order (lstm i, f, g, o; gru
    r, z, n with the reset gate on h W_hn^T + b_hn); wr: the LSTM projection; clip: the LSTM
    cell state's bounds."""
    a = x @ wx.T + bx
    r = h @ wh.T + bh
    H = wh.shape[0] // GATES[mode]
    if mode == "rnn_relu":
        return np.maximum(a + r, 0), None
    if mode == "rnn_tanh":
        return np.tanh(a + r), None
    if mode == "lstm":
        z = a + r
        i, f, g, o = (
            sig(z[:, :H]),
            sig(z[:, H : 2 * H]),
            np.tanh(z[:, 2 * H : 3 * H]),
            sig(z[:, 3 * H :]),
        )
        c = f * c + i * g
        if clip is not None:
            c = np.clip(c, *clip)
        h = o * np.tanh(c)
        return (h @ wr.T if wr is not None else h), c
    rg, zg = sig(a[:, :H] + r[:, :H]), sig(a[:, H : 2 * H] + r[:, H : 2 * H])
    n = np.tanh(a[:, 2 * H :] + rg * r[:, 2 * H :])
    return (1 - zg) * n + zg * h, None


def np_layer(mode, x, params, states, L, D, lens=None, clip=None):
    """The fused layer in layout TNC from parameters by short name (l0_i2h_weight, ...):
    returns (output, [h] or [h, c]). lens: later steps output 0 and keep the state."""
    T, N, _ = x.shape
    lstm = mode == "lstm"
    inp = x
    hs, cs = [], []
    for layer in range(L):
        outs = []
        for di, d in enumerate("lr"[:D]):
            k = layer * D + di
            w = [
                params["%s%d_%s" % (d, layer, g)]
                for g in ("i2h_weight", "h2h_weight", "i2h_bias", "h2h_bias")
            ]
            wr = params.get("%s%d_h2r_weight" % (d, layer))
            h = states[0][k]
            c = states[1][k] if lstm else None
            out = np.zeros((T, N, h.shape[1]))
            for t in range(T) if di == 0 else range(T - 1, -1, -1):
                nh, nc = np_step(mode, inp[t], h, c, *w, wr=wr, clip=clip)
                if lens is not None:
                    live = (t < np.asarray(lens))[:, None]
                    nh = np.where(live, nh, h)
                    nc = np.where(live, nc, c) if lstm else None
                    out[t] = np.where(live, nh, 0)
                else:
                    out[t] = nh
                h, c = nh, nc
            outs.append(out)
            hs.append(h)
            cs.append(c)
        inp = np.concatenate(outs, axis=2)
    return inp, [np.stack(hs)] + ([np.stack(cs)] if lstm else [])


# ---- helpers ------------------------------------------------------------------------------
def short(block):
    """The block's parameters as NumPy arrays by name without the block's prefix."""
    return {k[len(block.prefix) :]: v.data().asnumpy() for k, v in block.collect_params().items()}


def randomize(block, seed, scale=0.5):
    rs = np.random.RandomState(seed)
    for p in block.collect_params().values():
        p.set_data(mx.nd.array(rs.uniform(-scale, scale, p.shape), dtype=p.dtype))


def make_layer(mode, H, L, D, layout="TNC", P=None, dtype="float64", **kw):
    common = dict(num_layers=L, layout=layout, bidirectional=D == 2, dtype=dtype, **kw)
    if mode.startswith("rnn_"):
        return rnn.RNN(H, activation=mode[4:], **common)
    if mode == "lstm":
        return rnn.LSTM(H, projection_size=P, **common)
    return rnn.GRU(H, **common)


def to_tnc(a, layout):
    return a if layout == "TNC" else np.swapaxes(a, 0, 1)


def nd64(a):
    return mx.nd.array(np.asarray(a), dtype="float64")


def raises(fn, *words, exc=mx.base.BrassError):
    with pytest.raises(exc) as e:
        r = fn()
        for x in r if isinstance(r, (list, tuple)) else [r]:
            if isinstance(x, mx.nd.NDArray):
                x.asnumpy()
    for w in words:
        assert str(w) in str(e.value), (w, str(e.value))
    return str(e.value)


# ---- the fused layers ---------------------------------------------------------------------
LAYER_CASES = [(m, None) for m in ("rnn_relu", "rnn_tanh", "lstm", "gru")] + [("lstm", 2)]


@pytest.mark.parametrize(
    "mode,P", LAYER_CASES, ids=["rnn_relu", "rnn_tanh", "lstm", "gru", "lstmp"]
)
@pytest.mark.parametrize("L,D", [(1, 1), (2, 1), (1, 2), (2, 2)])
@pytest.mark.parametrize("layout", ["TNC", "NTC"])
def test_layer_matches_numpy(mode, P, L, D, layout):
    T, N, I, H = 4, 3, 5, 3
    layer = make_layer(mode, H, L, D, layout, P=P, input_size=I)
    layer.initialize()
    randomize(layer, seed=L + 3 * D)
    rs = np.random.RandomState(7)
    x = rs.uniform(-1, 1, (T, N, I) if layout == "TNC" else (N, T, I))
    info = layer.state_info(N)
    states = [rs.uniform(-1, 1, s["shape"]) for s in info]
    want_out, want_states = np_layer(mode, to_tnc(x, layout), short(layer), states, L, D)
    want_out = to_tnc(want_out, layout)
    assert want_out.shape[2] == D * (P or H)
    for hybrid in (False, True):
        if hybrid:
            layer.hybridize()
        out, new_states = layer(nd64(x), [nd64(s) for s in states])
        np.testing.assert_allclose(out.asnumpy(), want_out, rtol=1e-10, atol=1e-12)
        assert len(new_states) == len(want_states)
        for a, b in zip(new_states, want_states):
            np.testing.assert_allclose(a.asnumpy(), b, rtol=1e-10, atol=1e-12)
        # Without states: zeros are used and only the output comes back.
        alone = layer(nd64(x))
        assert isinstance(alone, mx.nd.NDArray)
        zero_out, _ = np_layer(
            mode, to_tnc(x, layout), short(layer), [np.zeros(s["shape"]) for s in info], L, D
        )
        np.testing.assert_allclose(
            alone.asnumpy(), to_tnc(zero_out, layout), rtol=1e-10, atol=1e-12
        )


def test_layer_float32_and_single_state_array():
    """float32 (the default dtype), and RNN/GRU taking their one state as an array."""
    layer = rnn.GRU(4, input_size=3)
    layer.initialize()
    x = np.random.RandomState(0).uniform(-1, 1, (5, 2, 3)).astype("float32")
    h0 = np.random.RandomState(1).uniform(-1, 1, (1, 2, 4)).astype("float32")
    out, (h,) = layer(mx.nd.array(x), mx.nd.array(h0))
    assert out.dtype == np.float32
    want, (wh,) = np_layer(
        "gru",
        x.astype("float64"),
        {k: v.astype("float64") for k, v in short(layer).items()},
        [h0.astype("float64")],
        1,
        1,
    )
    np.testing.assert_allclose(out.asnumpy(), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h.asnumpy(), wh, rtol=1e-5, atol=1e-6)


def test_parameter_names_and_shapes():
    with mx.name.NameManager():
        lstm = rnn.LSTM(20, num_layers=2, bidirectional=True, input_size=10)
        gru = rnn.GRU(5, input_size=3)
        plain = rnn.RNN(6, num_layers=2)
        lstmp = rnn.LSTM(8, num_layers=2, bidirectional=True, projection_size=3, input_size=4)
    got = {k: v.shape for k, v in lstm.collect_params().items()}
    want = {}
    for layer, ni in ((0, 10), (1, 40)):
        for d in "lr":
            want.update(
                {
                    "lstm0_%s%d_i2h_weight" % (d, layer): (80, ni),
                    "lstm0_%s%d_h2h_weight" % (d, layer): (80, 20),
                    "lstm0_%s%d_i2h_bias" % (d, layer): (80,),
                    "lstm0_%s%d_h2h_bias" % (d, layer): (80,),
                }
            )
    assert got == want
    assert list(got)[:5] == [
        "lstm0_l0_i2h_weight",
        "lstm0_l0_h2h_weight",
        "lstm0_l0_i2h_bias",
        "lstm0_l0_h2h_bias",
        "lstm0_r0_i2h_weight",
    ]
    assert {k: v.shape for k, v in gru.collect_params().items()} == {
        "gru0_l0_i2h_weight": (15, 3),
        "gru0_l0_h2h_weight": (15, 5),
        "gru0_l0_i2h_bias": (15,),
        "gru0_l0_h2h_bias": (15,),
    }
    shapes = {k: v.shape for k, v in plain.collect_params().items()}
    assert shapes["rnn0_l0_i2h_weight"] == (6, 0) and shapes["rnn0_l1_i2h_weight"] == (6, 6)
    shapes = {k: v.shape for k, v in lstmp.collect_params().items()}
    assert shapes["lstm1_l0_h2r_weight"] == (3, 8) and shapes["lstm1_r1_h2r_weight"] == (3, 8)
    assert shapes["lstm1_l0_h2h_weight"] == (32, 3) and shapes["lstm1_r1_i2h_weight"] == (32, 6)
    assert "lstm1_l0_h2r_bias" not in shapes
    assert (
        lstm.state_info(7) == [{"shape": (4, 7, 20), "__layout__": "LNC", "dtype": "float32"}] * 2
    )
    assert [s["shape"] for s in lstmp.state_info(2)] == [(4, 2, 3), (4, 2, 8)]
    assert repr(lstm) == "LSTM(10 -> 20, TNC, num_layers=2, bidirectional)"
    assert repr(plain) == "RNN(None -> 6, TNC, num_layers=2)"


@pytest.mark.parametrize("hybrid", [False, True])
def test_deferred_input_size(hybrid):
    """input_size=0: the first layer's i2h weights take their shape from the first input, for
    a layer alone and inside a (hybridized or not) HybridSequential."""
    x = mx.nd.array(np.random.RandomState(0).uniform(-1, 1, (2, 6, 5)))
    layer = rnn.LSTM(4, bidirectional=True, layout="NTC")
    layer.initialize()
    if hybrid:
        layer.hybridize()
    assert layer(x).shape == (2, 6, 8)
    assert layer.l0_i2h_weight.shape == (16, 5) and layer.r0_i2h_weight.shape == (16, 5)
    net = nn.HybridSequential()
    with net.name_scope():
        net.add(rnn.GRU(3, num_layers=2, layout="NTC"), nn.Dense(2, flatten=False))
    net.initialize()
    if hybrid:
        net.hybridize()
    assert net(x).shape == (2, 6, 2)
    assert net[0].l0_i2h_weight.shape == (9, 5) and net[0].l1_i2h_weight.shape == (9, 3)


def test_layer_as_symbol():
    """Called on a symbol: a graph whose shapes infer (input size included) and whose values
    equal the imperative layer's."""
    layer = rnn.LSTM(3, num_layers=2, layout="NTC", dtype="float64")
    data = mx.sym.var("data")
    out = layer(data)
    args, outs, _ = out.infer_shape(data=(2, 4, 5))
    shapes = dict(zip(out.list_arguments(), args))
    assert shapes[layer.prefix + "l0_i2h_weight"] == (12, 5) and outs == [(2, 4, 3)]
    layer.initialize()
    x = np.random.RandomState(2).uniform(-1, 1, (2, 4, 5))
    want = layer(nd64(x)).asnumpy()
    feed = {k: v.data() for k, v in layer.collect_params().items()}
    got = out.eval(data=nd64(x), **feed)[0].asnumpy()
    np.testing.assert_allclose(got, want, rtol=1e-12)
    # With states: (output, [h, c]) symbols.
    o, (h, c) = layer(data, layer.begin_state(0, func=mx.sym.zeros))
    assert o.infer_shape(data=(2, 4, 5))[1] == [(2, 4, 3)]
    assert c.infer_shape(data=(2, 4, 5))[1] == [(2, 2, 3)]
    assert h.infer_shape(data=(2, 4, 5))[1] == [(2, 2, 3)]


@pytest.mark.parametrize("mode", ["lstm", "gru", "rnn_tanh"])
@pytest.mark.parametrize("D", [1, 2])
def test_sequence_length(mode, D):
    T, N, I, H, L = 5, 3, 2, 3, 2
    layer = make_layer(mode, H, L, D, input_size=I, use_sequence_length=True)
    layer.initialize()
    randomize(layer, seed=4)
    rs = np.random.RandomState(3)
    x = rs.uniform(-1, 1, (T, N, I))
    states = [rs.uniform(-1, 1, s["shape"]) for s in layer.state_info(N)]
    lens = np.array([2, 5, 1])
    want_out, want_states = np_layer(mode, x, short(layer), states, L, D, lens=lens)
    for hybrid in (False, True):
        if hybrid:
            layer.hybridize()
        out, new = layer(nd64(x), [nd64(s) for s in states], mx.nd.array(lens, dtype="int32"))
        np.testing.assert_allclose(out.asnumpy(), want_out, rtol=1e-10, atol=1e-12)
        for a, b in zip(new, want_states):
            np.testing.assert_allclose(a.asnumpy(), b, rtol=1e-10, atol=1e-12)


def test_lstm_state_clip():
    layer = rnn.LSTM(3, input_size=2, state_clip_min=-0.2, state_clip_max=0.3, dtype="float64")
    layer.initialize()
    randomize(layer, seed=8, scale=1.5)
    rs = np.random.RandomState(1)
    x = rs.uniform(-2, 2, (4, 2, 2))
    states = [rs.uniform(-1, 1, (1, 2, 3)), rs.uniform(-1, 1, (1, 2, 3))]
    want_out, (wh, wc) = np_layer("lstm", x, short(layer), states, 1, 1, clip=(-0.2, 0.3))
    out, (h, c) = layer(nd64(x), [nd64(s) for s in states])
    np.testing.assert_allclose(out.asnumpy(), want_out, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(h.asnumpy(), wh, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(c.asnumpy(), wc, rtol=1e-10, atol=1e-12)
    assert c.asnumpy().max() <= 0.3 + 1e-12 and c.asnumpy().min() >= -0.2 - 1e-12


def test_dropout_between_layers():
    """dropout acts in training only (inference equals the layer without dropout); with
    dropout=1 the second layer sees zeros."""
    x = nd64(np.random.RandomState(0).uniform(-1, 1, (3, 2, 4)))
    a = rnn.GRU(3, num_layers=2, dropout=1.0, input_size=4, dtype="float64")
    b = rnn.GRU(3, num_layers=2, input_size=4, dtype="float64")
    for blk in (a, b):
        blk.initialize()
        randomize(blk, seed=5)
    np.testing.assert_allclose(a(x).asnumpy(), b(x).asnumpy(), rtol=1e-12)
    with mx.autograd.record():
        dropped = a(x).asnumpy()
    p = short(a)
    zero_in = np_layer(
        "gru",
        np.zeros((3, 2, 3)),
        {k.replace("l1", "l0"): v for k, v in p.items() if "l1" in k},
        [np.zeros((1, 2, 3))],
        1,
        1,
    )[0]
    np.testing.assert_allclose(dropped, zero_in, rtol=1e-10, atol=1e-12)


# ---- gradients ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "mode,P",
    [("lstm", None), ("lstm", 2), ("gru", None), ("rnn_tanh", None)],
    ids=["lstm", "lstmp", "gru", "rnn_tanh"],
)
def test_layer_gradients_match_central_differences(mode, P):
    """d(sum(out * g0) + sum(h * g1) [+ sum(c * g2)]) / d(every parameter, the input and the
    states), through the layer (2 layers, bidirectional, NTC), against float64 central
    differences of the NumPy reference."""
    T, N, I, H, L, D = 3, 2, 2, 2, 2, 2
    layer = make_layer(mode, H, L, D, "NTC", P=P, input_size=I)
    layer.initialize()
    randomize(layer, seed=11)
    rs = np.random.RandomState(12)
    x = rs.uniform(-1, 1, (N, T, I))
    states = [rs.uniform(-1, 1, s["shape"]) for s in layer.state_info(N)]
    out_shape = (N, T, D * (P or H))
    heads = [rs.uniform(-1, 1, out_shape)] + [rs.uniform(-1, 1, s.shape) for s in states]

    def loss(x, params, states):
        out, new = np_layer(mode, np.swapaxes(x, 0, 1), params, states, L, D)
        return (np.swapaxes(out, 0, 1) * heads[0]).sum() + sum(
            (a * g).sum() for a, g in zip(new, heads[1:])
        )

    xs = nd64(x)
    ss = [nd64(s) for s in states]
    for a in [xs] + ss:
        a.attach_grad()
    with mx.autograd.record():
        out, new = layer(xs, ss)
        total = (out * nd64(heads[0])).sum() + sum(
            (a * nd64(g)).sum() for a, g in zip(new, heads[1:])
        )
    total.backward()
    params = short(layer)
    np.testing.assert_allclose(total.asscalar(), loss(x, params, states), rtol=1e-12)

    def numeric(arr, f, eps=1e-6):
        g = np.zeros_like(arr)
        for i in np.ndindex(arr.shape):
            old = arr[i]
            arr[i] = old + eps
            fp = f()
            arr[i] = old - eps
            fm = f()
            arr[i] = old
            g[i] = (fp - fm) / (2 * eps)
        return g

    f = lambda: loss(x, params, states)  # noqa: E731 - reads the arrays numeric() perturbs
    for name, p in layer.collect_params().items():
        np.testing.assert_allclose(
            p.grad().asnumpy(),
            numeric(params[name[len(layer.prefix) :]], f),
            rtol=1e-6,
            atol=1e-8,
            err_msg=name,
        )
    np.testing.assert_allclose(xs.grad.asnumpy(), numeric(x, f), rtol=1e-6, atol=1e-8)
    for s, arr in zip(ss, states):
        np.testing.assert_allclose(s.grad.asnumpy(), numeric(arr, f), rtol=1e-6, atol=1e-8)


def test_hybridized_gradients_equal_imperative():
    x = nd64(np.random.RandomState(0).uniform(-1, 1, (4, 3, 5)))
    grads = []
    for hybrid in (False, True):
        layer = rnn.LSTM(
            3, num_layers=2, bidirectional=True, input_size=5, dtype="float64", prefix="same_"
        )
        layer.initialize()
        randomize(layer, seed=1)
        if hybrid:
            layer.hybridize()
        with mx.autograd.record():
            y = layer(x)
            (y * y).sum().backward()
        grads.append({k: v.grad().asnumpy() for k, v in layer.collect_params().items()})
    for k in grads[0]:
        np.testing.assert_allclose(grads[1][k], grads[0][k], rtol=1e-12, atol=1e-14, err_msg=k)


# ---- cells --------------------------------------------------------------------------------
CELLS = [
    ("rnn_tanh", lambda H, **k: rnn.RNNCell(H, **k)),
    ("rnn_relu", lambda H, **k: rnn.RNNCell(H, activation="relu", **k)),
    ("lstm", lambda H, **k: rnn.LSTMCell(H, **k)),
    ("gru", lambda H, **k: rnn.GRUCell(H, **k)),
]


@pytest.mark.parametrize("mode,make", CELLS, ids=[c[0] for c in CELLS])
@pytest.mark.parametrize("hybrid", [False, True])
def test_cell_step_matches_numpy(mode, make, hybrid):
    with mx.name.NameManager():
        cell = make(4)
    assert cell.prefix == ("rnn" if mode.startswith("rnn") else mode) + "0_"
    cell.initialize()
    rs = np.random.RandomState(3)
    x = rs.uniform(-1, 1, (2, 3)).astype("float32")
    states = [rs.uniform(-1, 1, (2, 4)).astype("float32") for _ in cell.state_info()]
    out, new = cell(mx.nd.array(x), [mx.nd.array(s) for s in states])  # deferred input size
    assert cell.i2h_weight.shape == (GATES[mode] * 4, 3)
    randomize(cell, seed=9)
    if hybrid:
        cell.hybridize()
    out, new = cell(mx.nd.array(x), [mx.nd.array(s) for s in states])
    p = short(cell)
    h, c = np_step(
        mode,
        x,
        states[0],
        states[1] if mode == "lstm" else None,
        p["i2h_weight"],
        p["h2h_weight"],
        p["i2h_bias"],
        p["h2h_bias"],
    )
    np.testing.assert_allclose(out.asnumpy(), h, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(new[0].asnumpy(), h, rtol=1e-5, atol=1e-6)
    if mode == "lstm":
        np.testing.assert_allclose(new[1].asnumpy(), c, rtol=1e-5, atol=1e-6)
    assert sorted(cell.collect_params()) == sorted(
        cell.prefix + n for n in ("i2h_weight", "h2h_weight", "i2h_bias", "h2h_bias")
    )


def cell_stack(mode, make, H, L, D, prefix):
    """Cells arranged as the fused layer (l0_, r0_, ... prefixes in one ParameterDict, as MXNet
    names them), so the layer's parameters load into them by name."""
    stack = rnn.SequentialRNNCell(prefix=prefix)
    with stack.name_scope():
        for layer in range(L):
            if D == 2:
                stack.add(
                    rnn.BidirectionalCell(
                        make(H, prefix="l%d_" % layer), make(H, prefix="r%d_" % layer)
                    )
                )
            else:
                stack.add(make(H, prefix="l%d_" % layer))
    return stack


@pytest.mark.parametrize("mode,make", CELLS, ids=[c[0] for c in CELLS])
@pytest.mark.parametrize("L,D,layout", [(1, 1, "TNC"), (2, 1, "NTC"), (2, 2, "NTC"), (1, 2, "TNC")])
def test_unrolled_cells_equal_the_layer(mode, make, L, D, layout):
    """The same weights: a stack of cells unrolled (imperatively, and as symbols) equals the
    fused layer's output and final states."""
    T, N, I, H = 4, 2, 3, 3
    layer = make_layer(mode, H, L, D, layout, input_size=I, prefix="net_")
    layer.initialize()
    randomize(layer, seed=L * 7 + D)
    stack = cell_stack(mode, make, H, L, D, "net_")
    stack.initialize()
    for name, p in stack.collect_params().items():
        p.cast("float64")
        p.set_data(layer.collect_params()[name].data())
    rs = np.random.RandomState(5)
    x = rs.uniform(-1, 1, (T, N, I) if layout == "TNC" else (N, T, I))
    layer_states = [rs.uniform(-1, 1, s["shape"]) for s in layer.state_info(N)]
    # The stack's states: per layer and direction h (and c), in the order of state_info.
    ns = len(layer_states)
    cell_states = [layer_states[j][k] for k in range(L * D) for j in range(ns)]
    want_out, want_states = layer(nd64(x), [nd64(s) for s in layer_states])
    out, states = stack.unroll(
        T, nd64(x), [nd64(s) for s in cell_states], layout=layout, merge_outputs=True
    )
    np.testing.assert_allclose(out.asnumpy(), want_out.asnumpy(), rtol=1e-10, atol=1e-12)
    for j in range(ns):
        got = np.stack([states[k * ns + j].asnumpy() for k in range(L * D)])
        np.testing.assert_allclose(got, want_states[j].asnumpy(), rtol=1e-10, atol=1e-12)
    # The same unroll traced as symbols and run by an executor.
    data = mx.sym.var("data")
    svars = [mx.sym.var("s%d" % k) for k in range(len(cell_states))]
    sout, _ = stack.unroll(T, data, svars, layout=layout, merge_outputs=True)
    feed = {k: v.data() for k, v in stack.collect_params().items()}
    feed.update({"s%d" % k: nd64(s) for k, s in enumerate(cell_states)})
    got = sout.eval(data=nd64(x), **feed)[0].asnumpy()
    np.testing.assert_allclose(got, want_out.asnumpy(), rtol=1e-10, atol=1e-12)


def test_unroll_gradients_equal_the_layer():
    """Autograd through the unrolled LSTM cells equals autograd through the fused layer."""
    T, N, I, H = 3, 2, 3, 2
    layer = rnn.LSTM(H, bidirectional=True, input_size=I, dtype="float64", prefix="g_")
    layer.initialize()
    randomize(layer, seed=2)
    stack = cell_stack("lstm", lambda h, **k: rnn.LSTMCell(h, **k), H, 1, 2, "g_")
    stack.initialize()
    for name, p in stack.collect_params().items():
        p.cast("float64")
        p.set_data(layer.collect_params()[name].data())
    x = nd64(np.random.RandomState(1).uniform(-1, 1, (N, T, I)))
    head = nd64(np.random.RandomState(2).uniform(-1, 1, (N, T, 2 * H)))
    with mx.autograd.record():
        (mx.nd.swapaxes(layer(mx.nd.swapaxes(x, 0, 1)), 0, 1) * head).sum().backward()
    with mx.autograd.record():
        out, _ = stack.unroll(T, x, layout="NTC", merge_outputs=True)
        (out * head).sum().backward()
    for name, p in stack.collect_params().items():
        np.testing.assert_allclose(
            p.grad().asnumpy(),
            layer.collect_params()[name].grad().asnumpy(),
            rtol=1e-10,
            atol=1e-12,
            err_msg=name,
        )


class _UnrollNet(gluon.HybridBlock):
    def __init__(self, make_cell, layout, **kwargs):
        super().__init__(**kwargs)
        self._layout = layout
        with self.name_scope():
            self.cell = make_cell()
            self.proj = nn.Dense(2, flatten=False)

    def hybrid_forward(self, F, x):
        out, _ = self.cell.unroll(4, x, layout=self._layout, merge_outputs=True)
        return self.proj(out)


def _hybrid_stack():
    s = rnn.HybridSequentialRNNCell()
    with s.name_scope():
        s.add(rnn.LSTMCell(3))
        s.add(rnn.DropoutCell(0.5))
        s.add(rnn.GRUCell(4))
    return s


UNROLL_NETS = {
    "lstm": lambda: rnn.LSTMCell(5),
    "gru": lambda: rnn.GRUCell(5),
    "rnn_relu": lambda: rnn.RNNCell(5, activation="relu"),
    "bidirectional": lambda: rnn.BidirectionalCell(rnn.LSTMCell(3), rnn.GRUCell(2)),
    "zoneout": lambda: rnn.ZoneoutCell(rnn.GRUCell(5), 0.3, 0.3),
    "residual": lambda: rnn.ResidualCell(rnn.GRUCell(5)),
    "hybrid_sequential": _hybrid_stack,
}


@pytest.mark.parametrize("layout", ["NTC", "TNC"])
@pytest.mark.parametrize("kind", sorted(UNROLL_NETS))
def test_cells_inside_hybridized_block(kind, layout):
    """A HybridBlock unrolling a cell (default begin states, deferred input size) gives the
    same values imperatively and hybridized, in inference and for the parameters' gradients."""
    x = mx.nd.array(
        np.random.RandomState(0).uniform(-1, 1, (3, 4, 5) if layout == "NTC" else (4, 3, 5))
    )
    net = _UnrollNet(UNROLL_NETS[kind], layout)
    net.initialize()
    results = []
    for hybrid in (False, True):
        if hybrid:
            net.hybridize()
        with mx.autograd.record(train_mode=False):
            y = net(x)
            (y * y).sum().backward()
        results.append(
            (y.asnumpy(), {k: v.grad().asnumpy().copy() for k, v in net.collect_params().items()})
        )
    assert results[0][0].shape == ((3, 4, 2) if layout == "NTC" else (4, 3, 2))
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-5, atol=1e-6)
    for k in results[0][1]:
        np.testing.assert_allclose(
            results[1][1][k], results[0][1][k], rtol=1e-4, atol=1e-6, err_msg=k
        )


def test_unroll_valid_length():
    """valid_length: outputs past each sequence's length are 0, the states are those of its
    last valid step; bidirectional cells start the backward pass at that step."""
    T, N, I, H = 4, 3, 2, 3
    lens = np.array([4, 2, 1])
    rs = np.random.RandomState(0)
    x = rs.uniform(-1, 1, (N, T, I))
    cell = rnn.LSTMCell(H, input_size=I)
    cell.initialize()
    cell.cast("float64")
    randomize(cell, seed=1)
    out, (h, c) = cell.unroll(T, nd64(x), layout="NTC", merge_outputs=True, valid_length=nd64(lens))
    p = {"l0_" + k: v for k, v in short(cell).items()}
    want, (wh, wc) = np_layer(
        "lstm", np.swapaxes(x, 0, 1), p, [np.zeros((1, N, H))] * 2, 1, 1, lens=lens
    )
    np.testing.assert_allclose(out.asnumpy(), np.swapaxes(want, 0, 1), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(h.asnumpy(), wh[0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(c.asnumpy(), wc[0], rtol=1e-10, atol=1e-12)
    bi = rnn.BidirectionalCell(
        rnn.GRUCell(H, input_size=I, prefix="l0_"), rnn.GRUCell(H, input_size=I, prefix="r0_")
    )
    bi.initialize()
    bi.cast("float64")
    randomize(bi, seed=2)
    out, states = bi.unroll(T, nd64(x), layout="NTC", merge_outputs=False, valid_length=nd64(lens))
    want, (wh,) = np_layer(
        "gru", np.swapaxes(x, 0, 1), short(bi), [np.zeros((2, N, H))], 1, 2, lens=lens
    )
    np.testing.assert_allclose(
        np.stack([o.asnumpy() for o in out], 1), np.swapaxes(want, 0, 1), rtol=1e-10, atol=1e-12
    )
    np.testing.assert_allclose(states[0].asnumpy(), wh[0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(states[1].asnumpy(), wh[1], rtol=1e-10, atol=1e-12)


def test_unroll_output_forms():
    cell = rnn.GRUCell(3)
    cell.initialize()
    x = mx.nd.array(np.random.RandomState(0).uniform(-1, 1, (2, 5, 4)))
    merged, _ = cell.unroll(5, x, merge_outputs=True)
    steps, _ = cell.unroll(5, x, merge_outputs=False)
    assert merged.shape == (2, 5, 3) and len(steps) == 5 and steps[0].shape == (2, 3)
    np.testing.assert_allclose(
        np.stack([s.asnumpy() for s in steps], 1), merged.asnumpy(), rtol=1e-6
    )
    # A list of step inputs, and TNC.
    tnc, _ = cell.unroll(5, [x[:, t] for t in range(5)], layout="TNC", merge_outputs=True)
    np.testing.assert_allclose(np.swapaxes(tnc.asnumpy(), 0, 1), merged.asnumpy(), rtol=1e-6)
    # Symbols: a list of per-step outputs, with names per step (t0_, t1_, ...).
    outs, states = cell.unroll(3, mx.sym.var("data"), merge_outputs=False)
    assert len(outs) == 3 and len(states) == 1
    assert outs[2].name.endswith("t2_out")


def test_modifier_and_dropout_cells():
    x = nd64(np.random.RandomState(0).uniform(-1, 1, (2, 4, 3)))
    base = rnn.GRUCell(3, input_size=3)
    base.initialize()
    base.cast("float64")
    randomize(base, seed=3)
    plain, plain_states = base.unroll(4, x, merge_outputs=True)
    # ResidualCell: the base cell's output plus the input; same states.
    res = rnn.ResidualCell(base)
    out, states = res.unroll(4, x, merge_outputs=True)
    np.testing.assert_allclose(out.asnumpy(), plain.asnumpy() + x.asnumpy(), rtol=1e-12)
    np.testing.assert_allclose(states[0].asnumpy(), plain_states[0].asnumpy(), rtol=1e-12)
    step_out, _ = res(x[:, 0], res.begin_state(batch_size=2, dtype="float64"))
    np.testing.assert_allclose(
        step_out.asnumpy(), plain[:, 0].asnumpy() + x[:, 0].asnumpy(), rtol=1e-12
    )
    assert sorted(res.collect_params()) == sorted(base.collect_params())
    # The base cell is now used through its modifier only.
    raises(lambda: base.begin_state(batch_size=2), "modifier")
    raises(lambda: rnn.ZoneoutCell(base), "already modified", exc=ValueError)

    base2 = rnn.LSTMCell(3, input_size=3)
    base2.initialize()
    zo = rnn.ZoneoutCell(base2, zoneout_outputs=1.0, zoneout_states=1.0)
    y = mx.nd.array(x.asnumpy())
    inference, _ = zo.unroll(4, y, merge_outputs=True)
    base2._modified = False
    want, _ = base2.unroll(4, y, merge_outputs=True)
    base2._modified = True
    np.testing.assert_allclose(inference.asnumpy(), want.asnumpy(), rtol=1e-6)  # no zoneout
    begin = [mx.nd.ones((2, 3)), mx.nd.ones((2, 3)) * 2]
    with mx.autograd.record():
        out, states = zo.unroll(4, y, begin, merge_outputs=True)
    assert not out.asnumpy().any()  # every output keeps the previous one: zeros
    np.testing.assert_array_equal(states[0].asnumpy(), 1)  # the states never change
    np.testing.assert_array_equal(states[1].asnumpy(), 2)

    drop = rnn.DropoutCell(0.5)
    out, states = drop.unroll(4, y, merge_outputs=True)
    np.testing.assert_array_equal(out.asnumpy(), y.asnumpy())  # inference: identity
    assert states == []
    with mx.autograd.record():
        out, _ = drop.unroll(4, y, merge_outputs=False)
    kept = np.stack([o.asnumpy() for o in out], 1)
    assert set(np.unique(np.round(kept / y.asnumpy(), 6))) <= {0.0, 2.0}


def test_sequential_cells():
    stack = rnn.SequentialRNNCell()
    with stack.name_scope():
        stack.add(rnn.LSTMCell(4))
        stack.add(rnn.GRUCell(3))
    stack.initialize()
    x = mx.nd.array(np.random.RandomState(0).uniform(-1, 1, (2, 5, 6)))
    states = stack.begin_state(batch_size=2)
    assert [s.shape for s in states] == [(2, 4), (2, 4), (2, 3)]
    out, new = stack(x[:, 0], states)
    assert out.shape == (2, 3) and len(new) == 3
    # One step of the stack is the cells' steps in turn.
    o1, s1 = stack[0](x[:, 0], states[:2])
    o2, s2 = stack[1](o1, states[2:])
    np.testing.assert_allclose(out.asnumpy(), o2.asnumpy(), rtol=1e-6)
    for a, b in zip(new, s1 + s2):
        np.testing.assert_allclose(a.asnumpy(), b.asnumpy(), rtol=1e-6)
    assert len(stack) == 2
    assert stack.state_info(2) == [{"shape": (2, 4), "__layout__": "NC"}] * 2 + [
        {"shape": (2, 3), "__layout__": "NC"}
    ]
    hs = rnn.HybridSequentialRNNCell()
    with hs.name_scope():
        hs.add(rnn.RNNCell(3, input_size=6))
    hs.initialize()
    hs.hybridize()
    out, _ = hs.unroll(5, x, merge_outputs=True)
    assert out.shape == (2, 5, 3)


class _TanhCell(rnn.HybridRecurrentCell):
    """A user's cell, written as MXNet's documentation shows: h' = tanh(x W^T + h)."""

    def __init__(self, hidden, **kwargs):
        super().__init__(**kwargs)
        self._hidden = hidden
        with self.name_scope():
            self.weight = self.params.get("weight", shape=(hidden, 0), allow_deferred_init=True)

    def state_info(self, batch_size=0):
        return [{"shape": (batch_size, self._hidden), "__layout__": "NC"}]

    def hybrid_forward(self, F, inputs, states, weight):
        h = F.tanh(
            F.FullyConnected(inputs, weight, no_bias=True, num_hidden=self._hidden) + states[0]
        )
        return h, [h]


@pytest.mark.parametrize("hybrid", [False, True])
def test_user_defined_cell(hybrid):
    cell = _TanhCell(3)
    cell.initialize()
    if hybrid:
        cell.hybridize()
    x = np.random.RandomState(0).uniform(-1, 1, (2, 4, 5)).astype("float32")
    out, (h,) = cell.unroll(4, mx.nd.array(x), merge_outputs=True)
    w = cell.weight.data().asnumpy()
    assert w.shape == (3, 5)
    want = np.zeros((2, 3))
    for t in range(4):
        want = np.tanh(x[:, t] @ w.T + want)
        np.testing.assert_allclose(out.asnumpy()[:, t], want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h.asnumpy(), want, rtol=1e-5, atol=1e-6)


def test_export_and_import(tmp_path):
    """A hybridized network with an LSTM exports (symbol and parameters) and comes back as a
    SymbolBlock computing the same values."""
    net = nn.HybridSequential()
    with net.name_scope():
        net.add(
            rnn.LSTM(4, num_layers=2, bidirectional=True, layout="NTC"), nn.Dense(2, flatten=False)
        )
    net.initialize()
    net.hybridize()
    x = mx.nd.array(np.random.RandomState(0).uniform(-1, 1, (3, 5, 6)))
    want = net(x).asnumpy()
    path = os.path.join(str(tmp_path), "lstm")
    sym_file, param_file = net.export(path)
    back = gluon.SymbolBlock.imports(sym_file, ["data"], param_file)
    np.testing.assert_allclose(back(x).asnumpy(), want, rtol=1e-6)
    # Other batch sizes and lengths run through the same layer.
    assert net(mx.nd.ones((2, 7, 6))).shape == (2, 7, 2)


def test_begin_state_functions():
    cell = rnn.LSTMCell(3)
    ones = cell.begin_state(batch_size=2, func=mx.nd.ones)
    assert [s.asnumpy().tolist() for s in ones] == [[[1.0] * 3] * 2] * 2
    syms = cell.begin_state(func=mx.sym.var)
    assert [s.name for s in syms] == [cell.prefix + "begin_state_2", cell.prefix + "begin_state_3"]
    layer = rnn.GRU(4, num_layers=2)
    (h,) = layer.begin_state(3, func=mx.nd.ones, dtype="float64")
    assert h.shape == (2, 3, 4) and h.dtype == np.float64


# ---- save / load --------------------------------------------------------------------------
def test_save_load_parameters_mxnet_names(tmp_path):
    """save_parameters writes MXNet 1.x's names for these layers (those of the old cell
    stack: _unfused.<layer>.<l|r>_cell.<name>), and loads them back."""
    a = rnn.LSTM(3, num_layers=2, bidirectional=True, input_size=2)
    a.initialize()
    fname = os.path.join(str(tmp_path), "lstm.params")
    a.save_parameters(fname)
    keys = sorted(mx.nd.load(fname))
    assert "_unfused.0.l_cell.i2h_weight" in keys and "_unfused.1.r_cell.h2h_bias" in keys
    assert len(keys) == 16
    b = rnn.LSTM(3, num_layers=2, bidirectional=True, input_size=2)
    b.load_parameters(fname)
    for (ka, pa), (kb, pb) in zip(a.collect_params().items(), b.collect_params().items()):
        np.testing.assert_array_equal(pa.data().asnumpy(), pb.data().asnumpy())
    g = rnn.GRU(2, input_size=2)
    g.initialize()
    g.save_parameters(fname)
    assert sorted(mx.nd.load(fname)) == [
        "_unfused.0.h2h_bias",
        "_unfused.0.h2h_weight",
        "_unfused.0.i2h_bias",
        "_unfused.0.i2h_weight",
    ]


# ---- errors -------------------------------------------------------------------------------
def test_layer_errors():
    layer = rnn.LSTM(4, num_layers=2, input_size=3)
    layer.initialize()
    x = mx.nd.ones((5, 2, 3))
    raises(lambda: layer(mx.nd.ones((5, 3))), "LSTM(lstm", "3-D", "(5, 3)")
    raises(lambda: layer(mx.nd.ones((5, 2, 7))), "7 features", "(5, 2, 7)", "(16, 3)")
    good = layer.begin_state(2)
    raises(
        lambda: layer(x, [mx.nd.zeros((2, 3, 4)), good[1]]),
        "state 0",
        "(2, 3, 4)",
        "(2, 2, 4)",
        "(5, 2, 3)",
    )
    raises(lambda: layer(x, [good[0]]), "1 states given, expected 2")
    raises(lambda: layer(x, [good[0], "c"]), "state 1 is a str")
    raises(lambda: layer(x.astype("float64")), "float64", "float32")
    raises(lambda: layer(np.ones((5, 2, 3))), "NDArray or a Symbol")
    raises(lambda: layer(x, good, mx.nd.array([5, 5])), "use_sequence_length=False")
    seq = rnn.GRU(2, input_size=3, use_sequence_length=True)
    seq.initialize()
    raises(lambda: seq(x, seq.begin_state(2)), "sequence_length", "required")
    raises(lambda: seq(x, seq.begin_state(2), mx.nd.array([9, 1])), "sequence_length", "9")
    lstmp = rnn.LSTM(4, projection_size=2, input_size=3)
    lstmp.initialize()
    raises(
        lambda: lstmp(x, [mx.nd.zeros((1, 2, 4)), mx.nd.zeros((1, 2, 4))]),
        "state 0",
        "(1, 2, 2)",
        "projection_size",
    )


@pytest.mark.parametrize(
    "make,words",
    [
        (lambda: rnn.LSTM(4, layout="CTN"), ["LSTM", "layout", "CTN"]),
        (lambda: rnn.RNN(4, activation="sigmoid"), ["RNN", "activation", "sigmoid"]),
        (lambda: rnn.GRU(0), ["GRU", "hidden_size", "0"]),
        (lambda: rnn.GRU(3, num_layers=0), ["num_layers"]),
        (lambda: rnn.LSTM(3, dropout=1.5), ["dropout", "1.5"]),
        (lambda: rnn.LSTM(3, projection_size=-1), ["projection_size"]),
        (lambda: rnn.LSTM(3, dtype="float16"), ["float16"]),
        (lambda: rnn.LSTMCell(-2), ["LSTMCell", "hidden_size"]),
        (lambda: rnn.DropoutCell("x"), ["rate"]),
        (lambda: rnn.ZoneoutCell(rnn.GRUCell(2), zoneout_outputs=2), ["zoneout_outputs"]),
    ],
)
def test_bad_constructor_arguments(make, words):
    """A BrassError that is also a ValueError (MXNet scripts catch either)."""
    msg = raises(make, *words, exc=ValueError)
    with pytest.raises(mx.base.BrassError):
        make()
    assert msg


def test_cell_errors():
    cell = rnn.LSTMCell(3, input_size=2)
    cell.initialize()
    x = mx.nd.ones((4, 2))
    raises(lambda: cell(x, [mx.nd.zeros((4, 3))]), "1 states given", "takes 2")
    raises(
        lambda: cell(x, [mx.nd.zeros((4, 5)), mx.nd.zeros((4, 3))]), "state 0", "(4, 5)", "(4, 3)"
    )
    raises(lambda: cell(mx.nd.ones((4, 5)), cell.begin_state(4)), "5 features", "takes 2")
    raises(lambda: cell(mx.nd.ones((4,)), cell.begin_state(4)), "(batch, features)")
    raises(lambda: cell.unroll(3, mx.nd.ones((4, 5, 2))), "length is 3", "5 steps")
    raises(lambda: cell.unroll(3, mx.nd.ones((4, 3, 2)), layout="NTX"), "layout")
    bi = rnn.BidirectionalCell(rnn.GRUCell(2), rnn.GRUCell(2))
    raises(lambda: bi(x, bi.begin_state(batch_size=4)), "cannot be stepped")
    stack = rnn.SequentialRNNCell()
    stack.add(rnn.GRUCell(2))
    stack.initialize()
    raises(lambda: stack(x, []), "0 states given", "take 1")


# ---- training -----------------------------------------------------------------------------
def test_training_lowers_the_loss():
    """A tiny LSTM regressor (sum of the sequence so far), trained a few steps with Trainer."""
    rs = np.random.RandomState(0)
    x = rs.uniform(-1, 1, (16, 6, 2)).astype("float32")
    y = np.cumsum(x[:, :, :1], axis=1) * 0.5
    net = nn.HybridSequential()
    with net.name_scope():
        net.add(rnn.LSTM(8, layout="NTC"), nn.Dense(1, flatten=False))
    net.initialize(mx.init.Xavier())
    net.hybridize()
    trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 0.03})
    loss_fn = gluon.loss.L2Loss()
    data, label = mx.nd.array(x), mx.nd.array(y)
    losses = []
    for _ in range(40):
        with mx.autograd.record():
            loss = loss_fn(net(data), label)
        loss.backward()
        trainer.step(x.shape[0])
        losses.append(loss.mean().asscalar())
    assert losses[-1] < 0.3 * losses[0], losses


@pytest.mark.parametrize("module", ["brass.gluon.rnn.rnn_cell", "brass.gluon.rnn.rnn_layer"])
def test_docstring_examples(module):
    import doctest
    import importlib

    res = doctest.testmod(importlib.import_module(module))
    assert res.attempted > 0 and res.failed == 0


def test_lstm_on_two_devices_matches_one():
    """A bidirectional LSTM trained on [cpu(0), cpu(1)] (deferred input size inferred inside a
    parent) keeps its copies equal and matches one device on the whole batch."""
    rng = np.random.RandomState(5)
    batches = [(rng.randn(4, 6, 3).astype(np.float32), rng.randn(4, 2).astype(np.float32)) for _ in range(3)]

    def train(ctxs):
        mx.random.seed(11)
        net = nn.HybridSequential()
        with net.name_scope():
            net.add(rnn.LSTM(5, bidirectional=True, layout="NTC"), nn.Dense(2))
        net.initialize(mx.init.Xavier(), ctx=ctxs)
        net.hybridize()
        trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 0.05})
        for x, y in batches:
            xs, ys = gluon.utils.split_and_load(x, ctxs), gluon.utils.split_and_load(y, ctxs)
            with mx.autograd.record():
                losses = [gluon.loss.L2Loss()(net(a), b) for a, b in zip(xs, ys)]
            for l in losses:
                l.backward()
            trainer.step(4)
        return {k: [d.asnumpy() for d in p.list_data()] for k, p in net._collect_params_with_prefix().items()}

    one, two = train([mx.cpu(0)]), train([mx.cpu(0), mx.cpu(1)])
    assert one["0._unfused.0.l_cell.i2h_weight"][0].shape == (20, 3)
    assert one["0._unfused.0.r_cell.i2h_weight"][0].shape == (20, 3)
    for k in one:
        np.testing.assert_array_equal(two[k][0], two[k][1])
        np.testing.assert_allclose(two[k][0], one[k][0], rtol=1e-4, atol=1e-5, err_msg=k)
