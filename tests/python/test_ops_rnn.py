"""The fused RNN operator (rnn_relu, rnn_tanh, lstm, gru; layers, bidirectional, state
outputs, dropout between layers, LSTM state clipping) against a NumPy RNN written here, its
gradient (backprop through time, _backward_RNN) and its errors.

Arrays are made without ctx=, so with BRASS_TEST_DEVICE=gpu the whole file runs on gpu(0)."""
import numpy as np
import pytest

import brass as mx
from grad_table import Grad, In
from nn_testing import nd, raises, grads_of

OPS_COVERED = {"RNN", "_backward_RNN", "_rnn_param_concat"}

GATES = {"rnn_relu": 1, "rnn_tanh": 1, "lstm": 4, "gru": 3}


def param_size(mode, I, H, L, D, P=None):
    G, R = GATES[mode], P or H
    n = 0
    for l in range(L):
        n += D * (G * H * ((I if l == 0 else D * R) + R + 2) + (P or 0) * H)
    return n


def unpack(mode, w, I, H, L, D, P=None):
    """MXNet's layout: every (W_i2h, W_h2h[, W_h2r]) per layer and direction, then every
    (b_i2h, b_h2h). Returns [wx, wh, bx, bh, wr (or None)] per layer and direction."""
    G, R = GATES[mode], P or H
    ws, off = [], 0
    for l in range(L):
        inn = I if l == 0 else D * R
        for d in range(D):
            wx = w[off:off + G * H * inn].reshape(G * H, inn)
            off += G * H * inn
            wh = w[off:off + G * H * R].reshape(G * H, R)
            off += G * H * R
            wr = None
            if P:
                wr = w[off:off + P * H].reshape(P, H)
                off += P * H
            ws.append([wx, wh, wr])
    for k in range(L * D):
        wr = ws[k].pop()
        ws[k] += [w[off:off + G * H], w[off + G * H:off + 2 * G * H], wr]
        off += 2 * G * H
    assert off == w.size
    return ws


def sig(x):
    return 1 / (1 + np.exp(-x))


def np_rnn(mode, x, w, h0, c0, H, L, D, clip=None, drop_zero=False, lens=None, P=None):
    """Reference forward: out, hy, cy. drop_zero: every layer but the first sees zeros (p=1).
    lens: sequence lengths (N,): later steps output 0 and keep the state. P: the LSTM
    projection size (the state and the output are the cell output times W_h2r^T)."""
    T, N, I = x.shape
    R = P or H
    ws = unpack(mode, w, I, H, L, D, P)
    hy = np.zeros_like(h0)
    cy = np.zeros_like(c0) if c0 is not None else np.zeros_like(h0)
    inp = x
    for l in range(L):
        if l > 0 and drop_zero:
            inp = np.zeros_like(inp)
        out = np.zeros((T, N, D * R), x.dtype)
        for d in range(D):
            wx, wh, bx, bh, wr = ws[l * D + d]
            h = h0[l * D + d].copy()
            c = c0[l * D + d].copy() if c0 is not None else None
            for t in (range(T) if d == 0 else range(T - 1, -1, -1)):
                hold, cold = h, c
                a = inp[t] @ wx.T + bx
                r = h @ wh.T + bh
                if mode == "rnn_relu":
                    h = np.maximum(a + r, 0)
                elif mode == "rnn_tanh":
                    h = np.tanh(a + r)
                elif mode == "lstm":
                    z = a + r
                    i, f, g, o = sig(z[:, :H]), sig(z[:, H:2 * H]), np.tanh(z[:, 2 * H:3 * H]), sig(z[:, 3 * H:])
                    c = f * c + i * g
                    if clip is not None:
                        c = np.clip(c, clip[0], clip[1])
                    h = o * np.tanh(c)
                    if P:
                        h = h @ wr.T
                else:
                    rg = sig(a[:, :H] + r[:, :H])
                    zg = sig(a[:, H:2 * H] + r[:, H:2 * H])
                    n = np.tanh(a[:, 2 * H:] + rg * r[:, 2 * H:])
                    h = (1 - zg) * n + zg * h
                if lens is not None:
                    live = (t < np.asarray(lens))[:, None]
                    h = np.where(live, h, hold)
                    if c is not None:
                        c = np.where(live, c, cold)
                    out[t, :, d * R:(d + 1) * R] = np.where(live, h, 0)
                    continue
                out[t, :, d * R:(d + 1) * R] = h
            hy[l * D + d] = h
            if c is not None:
                cy[l * D + d] = c
        inp = out
    return out, hy, cy


def make(mode, T, N, I, H, L, D, dtype, seed=0, P=None):
    rs = np.random.RandomState(seed)
    x = rs.uniform(-1, 1, (T, N, I)).astype(dtype)
    w = rs.uniform(-0.6, 0.6, param_size(mode, I, H, L, D, P)).astype(dtype)
    h0 = rs.uniform(-1, 1, (L * D, N, P or H)).astype(dtype)
    c0 = rs.uniform(-1, 1, (L * D, N, H)).astype(dtype) if mode == "lstm" else None
    return x, w, h0, c0


def call(mode, x, w, h0, c0, H, L, D, **kw):
    args = [nd(x), nd(w), nd(h0)] + ([nd(c0)] if c0 is not None else [])
    return mx.nd.RNN(*args, mode=mode, state_size=H, num_layers=L, bidirectional=D == 2, **kw)


def tol(dtype):
    return dict(rtol=1e-4, atol=1e-5) if dtype == "float32" else dict(rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("mode", sorted(GATES))
@pytest.mark.parametrize("L,D", [(1, 1), (2, 1), (1, 2), (2, 2)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_forward(mode, L, D, dtype):
    T, N, I, H = 3, 2, 3, 4
    x, w, h0, c0 = make(mode, T, N, I, H, L, D, dtype, seed=L * 10 + D)
    out, hy, cy = np_rnn(mode, x, w, h0, c0, H, L, D)
    y = call(mode, x, w, h0, c0, H, L, D)
    assert y.shape == (T, N, D * H) and np.dtype(y.dtype) == np.dtype(dtype)
    np.testing.assert_allclose(y.asnumpy(), out, **tol(dtype))
    ys = call(mode, x, w, h0, c0, H, L, D, state_outputs=True)
    assert len(ys) == (3 if mode == "lstm" else 2)
    np.testing.assert_allclose(ys[0].asnumpy(), out, **tol(dtype))
    np.testing.assert_allclose(ys[1].asnumpy(), hy, **tol(dtype))
    if mode == "lstm":
        np.testing.assert_allclose(ys[2].asnumpy(), cy, **tol(dtype))


@pytest.mark.parametrize("mode", ["lstm", "gru"])
def test_forward_edge_shapes(mode):
    for T, N, I, H in [(1, 1, 1, 1), (5, 1, 2, 3), (1, 3, 5, 2)]:
        x, w, h0, c0 = make(mode, T, N, I, H, 2, 2, "float64", seed=T + N)
        out, hy, _ = np_rnn(mode, x, w, h0, c0, H, 2, 2)
        ys = call(mode, x, w, h0, c0, H, 2, 2, state_outputs=True)
        np.testing.assert_allclose(ys[0].asnumpy(), out, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(ys[1].asnumpy(), hy, rtol=1e-10, atol=1e-12)


def test_empty_sequence():
    """T = 0: no output rows, hy = the initial state, zero parameter gradients."""
    _, w, h0, c0 = make("lstm", 1, 2, 3, 2, 1, 2, "float64")
    x = np.zeros((0, 2, 3))
    ys = call("lstm", x, w, h0, c0, 2, 1, 2, state_outputs=True)
    assert ys[0].shape == (0, 2, 4)
    np.testing.assert_array_equal(ys[1].asnumpy(), h0)
    np.testing.assert_array_equal(ys[2].asnumpy(), c0)
    ins = [nd(x), nd(w), nd(h0), nd(c0)]
    _, g = grads_of(lambda *a: mx.nd.RNN(*a, mode="lstm", state_size=2, num_layers=1,
                                         bidirectional=True), ins)
    assert g[0].shape == (0, 2, 3) and not g[1].any() and not g[2].any() and not g[3].any()


def test_lstm_state_clip():
    x, w, h0, c0 = make("lstm", 4, 2, 3, 3, 1, 2, "float64", seed=5)
    c0 *= 3
    out, hy, cy = np_rnn("lstm", x, w, h0, c0, 3, 1, 2, clip=(-0.3, 0.4))
    ys = call("lstm", x, w, h0, c0, 3, 1, 2, state_outputs=True, lstm_state_clip_min=-0.3,
              lstm_state_clip_max=0.4)
    for a, b in zip(ys, (out, hy, cy)):
        np.testing.assert_allclose(a.asnumpy(), b, rtol=1e-10, atol=1e-12)


def test_lstm_state_clip_nan():
    """lstm_state_clip_nan=True turns a NaN cell state into the lower bound (like cuDNN's
    non-propagating clip); otherwise NaN propagates."""
    x, w, h0, c0 = make("lstm", 1, 2, 2, 2, 1, 1, "float64", seed=3)
    x[0, 0, 0] = np.nan
    for nan, want in ((True, -0.5), (False, np.nan)):
        ys = call("lstm", x, w, h0, c0, 2, 1, 1, state_outputs=True, lstm_state_clip_min=-0.5,
                  lstm_state_clip_max=0.5, lstm_state_clip_nan=nan)
        cy = ys[2].asnumpy()
        np.testing.assert_array_equal(cy[0, 0], [want, want])
        assert np.isfinite(cy[0, 1]).all()


def test_dropout_between_layers():
    x, w, h0, c0 = make("gru", 3, 2, 3, 4, 2, 1, "float64", seed=9)
    plain, _, _ = np_rnn("gru", x, w, h0, c0, 4, 2, 1)
    # Inference: no dropout.
    np.testing.assert_allclose(call("gru", x, w, h0, c0, 4, 2, 1, p=0.5).asnumpy(), plain,
                               rtol=1e-10, atol=1e-12)
    # p=1 in training: the second layer sees zeros.
    zero, _, _ = np_rnn("gru", x, w, h0, c0, 4, 2, 1, drop_zero=True)
    with mx.autograd.record():
        y = call("gru", x, w, h0, c0, 4, 2, 1, p=1.0)
    np.testing.assert_allclose(y.asnumpy(), zero, rtol=1e-10, atol=1e-12)
    # p=0.5 in training: reproducible for a seed, different from no dropout.
    res = []
    for _ in range(2):
        mx.random.seed(3)
        with mx.autograd.record():
            res.append(call("gru", x, w, h0, c0, 4, 2, 1, p=0.5).asnumpy())
    np.testing.assert_array_equal(res[0], res[1])
    assert not np.allclose(res[0], plain)


def test_dropout_gradient_uses_the_same_mask():
    """With p=1 the first layer gets no gradient through the output: only through hy."""
    x, w, h0, _ = make("rnn_tanh", 2, 2, 3, 2, 2, 1, "float64", seed=4)
    args = [nd(x), nd(w), nd(h0)]
    _, (gx, gw, gh) = grads_of(lambda a, b, c: mx.nd.RNN(a, b, c, mode="rnn_tanh", state_size=2,
                                                         num_layers=2, p=1.0), args)
    assert np.all(gx == 0)
    assert np.all(gh[0] == 0) and np.any(gh[1] != 0)


def numeric_grads(mode, x, w, h0, c0, H, L, D, heads, eps=1e-6):
    """Central differences of sum(heads[k] * outputs[k]) for every input."""
    def f(x, w, h0, c0):
        o = np_rnn(mode, x, w, h0, c0, H, L, D)
        return sum((a * b).sum() for a, b in zip(o, heads) if b is not None)
    res = []
    ins = [x, w, h0] + ([c0] if c0 is not None else [])
    for k, a in enumerate(ins):
        g = np.zeros_like(a)
        for i in np.ndindex(a.shape):
            old = a[i]
            a[i] = old + eps
            fp = f(*ins, *([None] if c0 is None else []))
            a[i] = old - eps
            fm = f(*ins, *([None] if c0 is None else []))
            a[i] = old
            g[i] = (fp - fm) / (2 * eps)
        res.append(g)
    return res


@pytest.mark.parametrize("mode", sorted(GATES))
@pytest.mark.parametrize("L,D", [(1, 1), (2, 2)])
def test_gradient_with_state_heads(mode, L, D):
    """All outputs used (out, hy, cy), against central differences of the NumPy reference."""
    T, N, I, H = 2, 2, 2, 2
    x, w, h0, c0 = make(mode, T, N, I, H, L, D, "float64", seed=21)
    if mode == "rnn_relu":  # away from the kink
        x, w, h0 = np.abs(x) + 0.1, np.abs(w) * 0.5 + 0.05, np.abs(h0) + 0.1
    rs = np.random.RandomState(1)
    heads = [rs.uniform(-1, 1, (T, N, D * H)), rs.uniform(-1, 1, h0.shape),
             rs.uniform(-1, 1, h0.shape) if mode == "lstm" else None]
    ins = [nd(x), nd(w), nd(h0)] + ([nd(c0)] if c0 is not None else [])
    for a in ins:
        a.attach_grad()
    with mx.autograd.record():
        ys = mx.nd.RNN(*ins, mode=mode, state_size=H, num_layers=L, bidirectional=D == 2,
                       state_outputs=True)
    mx.autograd.backward(list(ys), [nd(h) for h in heads if h is not None])
    want = numeric_grads(mode, x, w, h0, c0, H, L, D, heads)
    for a, g in zip(ins, want):
        np.testing.assert_allclose(a.grad.asnumpy(), g, rtol=1e-6, atol=1e-8)


def test_gradient_float32_lstm():
    x, w, h0, c0 = make("lstm", 3, 2, 3, 2, 2, 2, "float32", seed=2)
    ins = [nd(x), nd(w), nd(h0), nd(c0)]
    _, g32 = grads_of(lambda *a: mx.nd.RNN(*a, mode="lstm", state_size=2, num_layers=2,
                                           bidirectional=True), ins)
    ins = [nd(a.astype("float64")) for a in (x, w, h0, c0)]
    _, g64 = grads_of(lambda *a: mx.nd.RNN(*a, mode="lstm", state_size=2, num_layers=2,
                                           bidirectional=True), ins)
    for a, b in zip(g32, g64):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("mode", sorted(GATES))
@pytest.mark.parametrize("D", [1, 2])
def test_sequence_length(mode, D):
    T, N, I, H, L = 4, 3, 2, 3, 2
    x, w, h0, c0 = make(mode, T, N, I, H, L, D, "float64", seed=D)
    lens = np.array([2, 4, 0])
    want = np_rnn(mode, x, w, h0, c0, H, L, D, lens=lens)
    for ldt in ("int32", "float32"):
        args = [nd(x), nd(w), nd(h0)] + ([nd(c0)] if c0 is not None else []) + [nd(lens.astype(ldt))]
        ys = mx.nd.RNN(*args, mode=mode, state_size=H, num_layers=L, bidirectional=D == 2,
                       state_outputs=True, use_sequence_length=True)
        for a, b in zip(ys, want):
            np.testing.assert_allclose(a.asnumpy(), b, rtol=1e-10, atol=1e-12)


def test_sequence_length_gradient():
    T, N, I, H = 3, 2, 2, 2
    for mode, D in (("lstm", 2), ("gru", 1)):
        x, w, h0, c0 = make(mode, T, N, I, H, 1, D, "float64", seed=7)
        lens = np.array([1, 3])
        rs = np.random.RandomState(2)
        heads = [rs.uniform(-1, 1, (T, N, D * H)), rs.uniform(-1, 1, h0.shape),
                 rs.uniform(-1, 1, h0.shape) if mode == "lstm" else None]
        ins = [nd(x), nd(w), nd(h0)] + ([nd(c0)] if c0 is not None else [])
        for a in ins:
            a.attach_grad()
        sl = nd(lens.astype("int64"))
        with mx.autograd.record():
            ys = mx.nd.RNN(*ins, sl, mode=mode, state_size=H, num_layers=1,
                           bidirectional=D == 2, state_outputs=True, use_sequence_length=True)
        mx.autograd.backward(list(ys), [nd(h) for h in heads if h is not None])

        def f(x, w, h0, c0):
            o = np_rnn(mode, x, w, h0, c0, H, 1, D, lens=lens)
            return sum((a * b).sum() for a, b in zip(o, heads) if b is not None)
        raw = [x, w, h0] + ([c0] if c0 is not None else [])
        for k, a in enumerate(raw):
            g = np.zeros_like(a)
            for i in np.ndindex(a.shape):
                old = a[i]
                a[i] = old + 1e-6
                fp = f(*raw, *([None] if c0 is None else []))
                a[i] = old - 1e-6
                fm = f(*raw, *([None] if c0 is None else []))
                a[i] = old
                g[i] = (fp - fm) / 2e-6
            np.testing.assert_allclose(ins[k].grad.asnumpy(), g, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("L,D", [(1, 1), (2, 1), (1, 2), (2, 2)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("H,P", [(4, 2), (3, 5)])
def test_lstm_projection(L, D, dtype, H, P):
    """LSTMP: out, hy (size P) and cy (size H) against the NumPy reference."""
    T, N, I = 3, 2, 3
    x, w, h0, c0 = make("lstm", T, N, I, H, L, D, dtype, seed=L + 3 * D, P=P)
    c0 = np.random.RandomState(5).uniform(-1, 1, (L * D, N, H)).astype(dtype)
    want = np_rnn("lstm", x, w, h0, c0, H, L, D, P=P)
    ys = call("lstm", x, w, h0, c0, H, L, D, projection_size=P, state_outputs=True)
    assert ys[0].shape == (T, N, D * P) and ys[1].shape == (L * D, N, P)
    assert ys[2].shape == (L * D, N, H)
    for a, b in zip(ys, want):
        np.testing.assert_allclose(a.asnumpy(), b, **tol(dtype))


def test_lstm_projection_sequence_length_and_gradient():
    """Projection with sequence lengths: forward, and every input's gradient against central
    differences of the NumPy reference."""
    T, N, I, H, P, D = 3, 2, 2, 3, 2, 2
    x, w, h0, _ = make("lstm", T, N, I, H, 1, D, "float64", seed=11, P=P)
    c0 = np.random.RandomState(6).uniform(-1, 1, (D, N, H))
    lens = np.array([1, 3])
    rs = np.random.RandomState(3)
    heads = [rs.uniform(-1, 1, (T, N, D * P)), rs.uniform(-1, 1, h0.shape),
             rs.uniform(-1, 1, c0.shape)]
    ins = [nd(x), nd(w), nd(h0), nd(c0)]
    for a in ins:
        a.attach_grad()
    with mx.autograd.record():
        ys = mx.nd.RNN(*ins, nd(lens), mode="lstm", state_size=H, num_layers=1,
                       bidirectional=True, state_outputs=True, use_sequence_length=True,
                       projection_size=P)
    for a, b in zip(ys, np_rnn("lstm", x, w, h0, c0, H, 1, D, lens=lens, P=P)):
        np.testing.assert_allclose(a.asnumpy(), b, rtol=1e-10, atol=1e-12)
    mx.autograd.backward(list(ys), [nd(h) for h in heads])
    raw = [x, w, h0, c0]

    def f():
        o = np_rnn("lstm", *raw, H, 1, D, lens=lens, P=P)
        return sum((a * b).sum() for a, b in zip(o, heads))
    for k, a in enumerate(raw):
        g = np.zeros_like(a)
        for i in np.ndindex(a.shape):
            old = a[i]
            a[i] = old + 1e-6
            fp = f()
            a[i] = old - 1e-6
            fm = f()
            a[i] = old
            g[i] = (fp - fm) / 2e-6
        np.testing.assert_allclose(ins[k].grad.asnumpy(), g, rtol=1e-6, atol=1e-8)


def test_rnn_param_concat():
    a, b = np.arange(3.0), np.arange(4.0) + 10
    np.testing.assert_array_equal(mx.nd._rnn_param_concat(nd(a), nd(b), num_args=2, dim=0).asnumpy(),
                                  np.concatenate([a, b]))
    m, n = np.ones((2, 3), "float32"), np.zeros((2, 1), "float32")
    np.testing.assert_array_equal(mx.nd._rnn_param_concat(nd(m), nd(n), num_args=2).asnumpy(),
                                  np.concatenate([m, n], 1))
    _, (ga, gb) = grads_of(lambda p, q: mx.nd._rnn_param_concat(p, q, num_args=2, dim=0) * 2,
                           [nd(a), nd(b)])
    assert ga.tolist() == [2.0] * 3 and gb.tolist() == [2.0] * 4
    # Shape inference fills an unknown input from the output (here: RNN's parameter length).
    x, y = mx.sym.Variable("x"), mx.sym.Variable("y")
    z = mx.sym._rnn_param_concat(x, y, num_args=2, dim=0)
    r = mx.sym.RNN(data=mx.sym.Variable("data"), parameters=z, state=mx.sym.Variable("s"),
                   mode="gru", state_size=2, num_layers=1)
    args, outs, _ = r.infer_shape(data=(2, 3, 4), x=(5,))
    got = dict(zip(r.list_arguments(), args))
    assert got["y"] == (param_size("gru", 4, 2, 1, 1) - 5,)
    raises(lambda: mx.nd._rnn_param_concat(nd(m), nd(a), num_args=2), "_rnn_param_concat")


def test_shape_inference_fills_parameters_and_state():
    data = mx.sym.Variable("data")
    y = mx.sym.RNN(data=data, mode="lstm", state_size=4, num_layers=2, bidirectional=True,
                   name="rnn")
    args, outs, _ = y.infer_shape(data=(5, 3, 6))
    names = y.list_arguments()
    got = dict(zip(names, args))
    assert got["rnn_parameters"] == (param_size("lstm", 6, 4, 2, 2),)
    assert got["rnn_state"] == (4, 3, 4) and got["rnn_state_cell"] == (4, 3, 4)
    assert outs[0] == (5, 3, 8)


def test_bad_inputs():
    x, w, h0, c0 = make("lstm", 2, 2, 3, 4, 2, 1, "float32")
    n = param_size("lstm", 3, 4, 2, 1)
    msg = raises(lambda: call("lstm", x, w[:-1], h0, c0, 4, 2, 1), "RNN", "parameters",
                 str(n), "W_i2h", "W_h2h", "b_i2h")
    assert "all weights first" in msg
    raises(lambda: call("lstm", x, w, h0[:1], c0, 4, 2, 1), "RNN", "state", "(1, 2, 4)")
    raises(lambda: call("lstm", x, w, h0, c0[:, :1], 4, 2, 1), "RNN", "state_cell")
    raises(lambda: call("lstm", x[0], w, h0, c0, 4, 2, 1), "RNN", "data")
    raises(lambda: mx.nd.RNN(nd(x), nd(w), nd(h0), nd(c0), mode="bad", state_size=4,
                             num_layers=2), "RNN", "mode")
    raises(lambda: mx.nd.RNN(nd(x), nd(w), nd(h0), nd(c0), mode="lstm", num_layers=2),
           "RNN", "state_size")
    raises(lambda: call("lstm", x, w, h0[:, :, :2], c0, 4, 2, 1, projection_size=2), "RNN",
           "parameters", str(param_size("lstm", 3, 4, 2, 1, 2)), "W_h2r (2, 4)")
    xg, wg, hg, _ = make("gru", 2, 2, 3, 4, 1, 1, "float32")
    raises(lambda: call("gru", xg, wg, hg, None, 4, 1, 1, projection_size=2), "RNN",
           "projection_size", "lstm only", "mode=gru")
    wp = np.zeros(param_size("lstm", 3, 4, 2, 1, 2), "float32")
    raises(lambda: call("lstm", x, wp, h0, c0, 4, 2, 1, projection_size=2), "RNN", "state",
           "(2, 2, 2)", "projection_size")
    raises(lambda: mx.nd.RNN(nd(x), nd(w), nd(h0), nd(c0), nd(np.ones(3, "float32")),
                             mode="lstm", state_size=4, num_layers=2, use_sequence_length=True),
           "RNN", "sequence_length", "(3,)")
    raises(lambda: mx.nd.RNN(nd(x), nd(w), nd(h0), nd(c0), nd(np.array([1, 3])),
                             mode="lstm", state_size=4, num_layers=2, use_sequence_length=True),
           "RNN", "sequence_length[1] = 3")
    raises(lambda: mx.nd.RNN(nd(x), nd(w), nd(h0), nd(c0), nd(np.array([1.5, 1])),
                             mode="lstm", state_size=4, num_layers=2, use_sequence_length=True),
           "RNN", "sequence_length[0]")
    raises(lambda: call("lstm", x, w.astype("float64"), h0, c0, 4, 2, 1), "RNN")
    raises(lambda: call("lstm", x.astype("int32"), w.astype("int32"), h0.astype("int32"),
                        c0.astype("int32"), 4, 2, 1), "RNN", "int32")


# Gradient cases (test_gradients.py checks them against central differences, first order;
# _backward_RNN has no gradient, so no second order). rnn_relu inputs stay positive (no kink).
_P = dict(domain=(-0.6, 0.6))
_POS = dict(domain=(0.1, 0.6))
GRADIENTS = {
    "RNN": [
        Grad([In((2, 2, 2)), In((param_size("rnn_tanh", 2, 2, 1, 1),), **_P), In((1, 2, 2))],
             {"mode": "rnn_tanh", "state_size": 2, "num_layers": 1}),
        Grad([In((2, 1, 2), **_POS), In((param_size("rnn_relu", 2, 2, 1, 2),), **_POS),
              In((2, 1, 2), **_POS)],
             {"mode": "rnn_relu", "state_size": 2, "num_layers": 1, "bidirectional": True}),
        Grad([In((2, 1, 2)), In((param_size("lstm", 2, 2, 2, 1),), **_P), In((2, 1, 2)),
              In((2, 1, 2))],
             {"mode": "lstm", "state_size": 2, "num_layers": 2, "state_outputs": True}),
        Grad([In((2, 2, 1)), In((param_size("gru", 1, 2, 1, 2),), **_P), In((2, 2, 2))],
             {"mode": "gru", "state_size": 2, "num_layers": 1, "bidirectional": True,
              "state_outputs": True}),
        Grad([In((3, 2, 2)), In((param_size("lstm", 2, 2, 1, 2),), **_P), In((2, 2, 2)),
              In((2, 2, 2)), In((2,), diff=False, values=[2, 3])],
             {"mode": "lstm", "state_size": 2, "num_layers": 1, "bidirectional": True,
              "use_sequence_length": True}),
        Grad([In((2, 2, 2)), In((param_size("lstm", 2, 3, 2, 2, 2),), **_P), In((4, 2, 2)),
              In((4, 2, 3))],
             {"mode": "lstm", "state_size": 3, "num_layers": 2, "bidirectional": True,
              "projection_size": 2, "state_outputs": True}),
    ],
    "_rnn_param_concat": [
        Grad([In((3,)), In((2,))], {"num_args": 2, "dim": 0}),
        Grad([In((2, 1)), In((2, 2)), In((2, 1))], {"num_args": 3, "dim": 1}),
    ],
}
NO_SECOND_ORDER = {"RNN"}
# _backward_RNN (rnn_tanh, T=2, N=1, I=2, H=2): data, parameters, state, reserve (12), d out,
# d hy.
NO_GRADIENT = {
    "_backward_RNN": Grad([In((2, 1, 2)), In((param_size("rnn_tanh", 2, 2, 1, 1),)),
                           In((1, 1, 2)), In((12,)), In((2, 1, 2)), In((1, 1, 2))],
                          {"mode": "rnn_tanh", "state_size": 2, "num_layers": 1}),
}


def test_input_names_follow_mode_and_sequence_length():
    """state_cell is an input of LSTM only, so a GRU with use_sequence_length takes
    sequence_length fourth: by keyword, and in the names of variables made for it."""
    s = mx.sym.RNN(data=mx.sym.var("x"), mode="gru", state_size=3, num_layers=1,
                   use_sequence_length=True, name="r")
    assert s.list_arguments() == ["x", "r_parameters", "r_state", "r_sequence_length"]
    s = mx.sym.RNN(data=mx.sym.var("x"), mode="lstm", state_size=3, num_layers=1,
                   use_sequence_length=True, name="r")
    assert s.list_arguments() == ["x", "r_parameters", "r_state", "r_state_cell", "r_sequence_length"]
    s = mx.sym.RNN(data=mx.sym.var("x"), sequence_length=mx.sym.var("len"), mode="rnn_tanh",
                   state_size=3, num_layers=1, use_sequence_length=True, name="r")
    assert s.list_arguments()[-1] == "len"
    raises(lambda: mx.sym.RNN(data=mx.sym.var("x"), state_cell=mx.sym.var("c"), mode="gru", state_size=3,
                              num_layers=1), "RNN", "state_cell")


def test_zeros_begin_state_with_unknown_batch():
    """MXNet 1.x graphs make RNN begin states with _zeros / _ones whose shape has 0 for the
    batch (unknown until the data fills it): inference fills it, the run gives the RNN with
    explicit zero / one states, and a JSON file with such nodes loads the same way."""
    d = mx.sym.var("data")
    rs = np.random.RandomState(5)
    x = rs.uniform(-1, 1, (4, 3, 2)).astype("float32")
    for maker, value in [(mx.sym.zeros, 0.0), (mx.sym.ones, 1.0)]:
        st = maker(shape=(1, 0, 5))
        r = mx.sym.RNN(data=d, state=st, mode="gru", state_size=5, num_layers=1, name="r")
        args, outs, _ = r.infer_shape(data=x.shape)
        assert outs == [(4, 3, 5)]
        r2 = mx.sym.load_json(r.tojson())
        assert "(1, 0, 5)" in r.tojson()
        params = rs.uniform(-0.5, 0.5, args[1]).astype("float32")
        want = mx.nd.RNN(nd(x), nd(params), mx.nd.full((1, 3, 5), value), mode="gru", state_size=5,
                         num_layers=1).asnumpy()
        for sym in (r, r2):
            e = sym.simple_bind(mx.cpu(), data=x.shape, grad_req="null")
            e.arg_dict["data"][:] = x
            e.arg_dict["r_parameters"][:] = params
            # (the reference ran on the default device, the GPU in GPU runs)
            np.testing.assert_allclose(e.forward()[0].asnumpy(), want, rtol=1e-5, atol=1e-7)
    # a 0 that nothing fills stays unknown: binding says which
    raises(lambda: mx.sym.zeros(shape=(0, 3)).simple_bind(mx.cpu()), "shape")
