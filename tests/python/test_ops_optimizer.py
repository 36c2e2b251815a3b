"""The optimizer update operators against NumPy references of MXNet's formulas: sgd_update,
sgd_mom_update, nag_mom_update, adam_update, _adamw_update, rmsprop_update, rmspropalex_update,
adagrad_update, ftrl_update, signsgd_update, signum_update, lamb_update_phase1/2,
multi_sgd_update, multi_sgd_mom_update and the mixed-precision mp_sgd_update, mp_sgd_mom_update,
mp_nag_mom_update, _mp_adamw_update, multi_mp_sgd_update, multi_mp_sgd_mom_update.

Each op runs several steps in place (out=weight, as MXNet's optimizers call them); every step
is checked against the reference applied to the arrays as they were before it, so the states
written in place are checked too. float32 and float64 (float16 weights for the mp_ ops and a
few others), rescale_grad / clip_gradient / wd each on and off, and bad input.

Arrays are made without ctx=, so with BRASS_TEST_DEVICE=gpu the whole file runs on gpu(0)."""
import zlib

import numpy as np
import pytest

import brass as mx
from grad_table import Grad, In

# Operators this file tests (read by the completeness test in test_op_table.py).
OPS_COVERED = {"sgd_update", "sgd_mom_update", "nag_mom_update", "adam_update", "_adamw_update",
               "rmsprop_update", "rmspropalex_update", "adagrad_update", "ftrl_update", "signsgd_update",
               "signum_update", "lamb_update_phase1", "lamb_update_phase2", "multi_sgd_update",
               "mp_sgd_update", "mp_sgd_mom_update", "mp_nag_mom_update", "_mp_adamw_update",
               "multi_sgd_mom_update", "multi_mp_sgd_update", "multi_mp_sgd_mom_update"}

# No gradient cases: these ops have none (GRADIENTS is read by test_gradients.py).
GRADIENTS = {}
NO_SECOND_ORDER = set()


def _w(shape):
    return [In(shape), In(shape)]


def _f32(shape, domain=(-3, 3), values=None):
    """A float32 input (the mp_ ops' states and master weights)."""
    return In(shape, domain, diff=False, values=values, dtype="float32")


# Differentiating through an update is a clear error (checked by test_gradients.py).
NO_GRADIENT = {
    "sgd_update": Grad(_w((2, 3)), {"lr": 0.1}),
    "sgd_mom_update": Grad(_w((2, 3)) + [In((2, 3), diff=False)], {"lr": 0.1, "momentum": 0.9}),
    "nag_mom_update": Grad(_w((2, 3)) + [In((2, 3), diff=False)], {"lr": 0.1, "momentum": 0.9}),
    "adam_update": Grad(_w((2, 3)) + [In((2, 3), diff=False), In((2, 3), (0.5, 2), diff=False)], {"lr": 0.1}),
    "_adamw_update": Grad(_w((2, 3)) + [In((2, 3), diff=False), In((2, 3), (0.5, 2), diff=False),
                                        In((1,), diff=False, values=[1.0])], {"lr": 0.1, "eta": 1.0}),
    "rmsprop_update": Grad(_w((2, 3)) + [In((2, 3), (0.5, 2), diff=False)], {"lr": 0.1}),
    "rmspropalex_update": Grad(_w((2, 3)) + [In((2, 3), (5, 6), diff=False), In((2, 3), (0, 1), diff=False),
                                             In((2, 3), diff=False)], {"lr": 0.1}),
    "adagrad_update": Grad(_w((2, 3)) + [In((2, 3), (0.5, 2), diff=False)], {"lr": 0.1}),
    "ftrl_update": Grad(_w((2, 3)) + [In((2, 3), diff=False), In((2, 3), (0.5, 2), diff=False)], {"lr": 0.1}),
    "signsgd_update": Grad(_w((2, 3)), {"lr": 0.1}),
    "signum_update": Grad(_w((2, 3)) + [In((2, 3), diff=False)], {"lr": 0.1, "momentum": 0.9}),
    "lamb_update_phase1": Grad(_w((2, 3)) + [In((2, 3), diff=False), In((2, 3), (0.5, 2), diff=False)],
                               {"t": 1, "wd": 0.0}),
    "lamb_update_phase2": Grad(_w((2, 3)) + [In((1,), (0.5, 2), diff=False), In((1,), (0.5, 2), diff=False)],
                               {"lr": 0.1}),
    "multi_sgd_update": Grad(_w((2, 3)) + _w((4,)), {"lrs": (0.1, 0.2), "wds": (0.0, 0.1), "num_weights": 2}),
    "mp_sgd_update": Grad(_w((2, 3)) + [_f32((2, 3))], {"lr": 0.1}),
    "mp_sgd_mom_update": Grad(_w((2, 3)) + [_f32((2, 3)), _f32((2, 3))], {"lr": 0.1, "momentum": 0.9}),
    "mp_nag_mom_update": Grad(_w((2, 3)) + [_f32((2, 3)), _f32((2, 3))], {"lr": 0.1, "momentum": 0.9}),
    "_mp_adamw_update": Grad(_w((2, 3)) + [_f32((2, 3)), _f32((2, 3), (0.5, 2)), _f32((2, 3)),
                                           _f32((1,), values=[1.0])], {"lr": 0.1, "eta": 1.0}),
    "multi_sgd_mom_update": Grad(_w((2, 3)) + [In((2, 3), diff=False)] + _w((4,)) + [In((4,), diff=False)],
                                 {"lrs": (0.1, 0.2), "wds": (0.0, 0.1), "momentum": 0.9, "num_weights": 2}),
    "multi_mp_sgd_update": Grad(_w((2, 3)) + [_f32((2, 3))] + _w((4,)) + [_f32((4,))],
                                {"lrs": (0.1, 0.2), "wds": (0.0, 0.1), "num_weights": 2}),
    "multi_mp_sgd_mom_update": Grad(_w((2, 3)) + [_f32((2, 3)), _f32((2, 3))] + _w((4,)) + [_f32((4,)), _f32((4,))],
                                    {"lrs": (0.1, 0.2), "wds": (0.0, 0.1), "momentum": 0.9, "num_weights": 2}),
}


# ---- NumPy references (float64), MXNet's formulas -----------------------------------------------

def _clip(x, c):
    return np.clip(x, -c, c) if c >= 0 else x


def _p(p, k, d):
    return p.get(k, d)


def _g(g, p):
    return _clip(_p(p, "rescale_grad", 1.0) * g, _p(p, "clip_gradient", -1.0))


def ref_sgd(w, g, s, p):
    lr, wd = p["lr"], _p(p, "wd", 0.0)
    return (1 - lr * wd) * w - lr * _g(g, p), []


def ref_sgd_mom(w, g, s, p):
    lr, wd, m = p["lr"], _p(p, "wd", 0.0), _p(p, "momentum", 0.0)
    mom = m * s[0] - lr * wd * w - lr * _g(g, p)
    return w + mom, [mom]


def ref_nag_mom(w, g, s, p):
    lr, wd, m = p["lr"], _p(p, "wd", 0.0), _p(p, "momentum", 0.0)
    gg = _g(g, p)
    mom = m * s[0]
    nw = w - mom + (m + 1) * (mom - lr * (gg + wd * w))
    return nw, [mom - lr * (gg + wd * nw)]


def ref_adam(w, g, s, p):
    b1, b2, eps = _p(p, "beta1", 0.9), _p(p, "beta2", 0.999), _p(p, "epsilon", 1e-8)
    gr = _clip(g * _p(p, "rescale_grad", 1.0) + w * _p(p, "wd", 0.0), _p(p, "clip_gradient", -1.0))
    m = b1 * s[0] + (1 - b1) * gr
    v = b2 * s[1] + (1 - b2) * gr * gr
    return w - p["lr"] * m / (np.sqrt(v) + eps), [m, v]


def ref_adamw(w, g, s, p, rescale):
    b1, b2, eps = _p(p, "beta1", 0.9), _p(p, "beta2", 0.999), _p(p, "epsilon", 1e-8)
    gr = _clip(rescale * g, _p(p, "clip_gradient", -1.0))
    m = b1 * s[0] + (1 - b1) * gr
    v = b2 * s[1] + (1 - b2) * gr * gr
    return w - p["eta"] * (p["lr"] * m / (np.sqrt(v) + eps) + _p(p, "wd", 0.0) * w), [m, v]


def ref_rmsprop(w, g, s, p):
    g1, eps, cw = _p(p, "gamma1", 0.95), _p(p, "epsilon", 1e-8), _p(p, "clip_weights", -1.0)
    gr = _clip(_p(p, "rescale_grad", 1.0) * g + _p(p, "wd", 0.0) * w, _p(p, "clip_gradient", -1.0))
    n = (1 - g1) * gr * gr + g1 * s[0]
    return _clip(w - p["lr"] * gr / np.sqrt(n + eps), cw), [n]


def ref_rmspropalex(w, g, s, p):
    g1, g2, eps, cw = _p(p, "gamma1", 0.95), _p(p, "gamma2", 0.9), _p(p, "epsilon", 1e-8), _p(p, "clip_weights", -1.0)
    gr = _clip(_p(p, "rescale_grad", 1.0) * g + _p(p, "wd", 0.0) * w, _p(p, "clip_gradient", -1.0))
    n = (1 - g1) * gr * gr + g1 * s[0]
    gs = (1 - g1) * gr + g1 * s[1]
    delta = g2 * s[2] - p["lr"] * gr / np.sqrt(n - gs * gs + eps)
    return _clip(w + delta, cw), [n, gs, delta]


def ref_adagrad(w, g, s, p):
    gr = _g(g, p)
    h = s[0] + gr * gr
    return w - p["lr"] * (gr / np.sqrt(h + _p(p, "epsilon", 1e-7)) + _p(p, "wd", 0.0) * w), [h]


def ref_ftrl(w, g, s, p):
    lr, l1, beta, wd = p["lr"], _p(p, "lamda1", 0.01), _p(p, "beta", 1.0), _p(p, "wd", 0.0)
    gr = _g(g, p)
    z = s[0] + gr - (np.sqrt(s[1] + gr * gr) - np.sqrt(s[1])) * w / lr
    n = s[1] + gr * gr
    out = (np.sign(z) * l1 - z) / ((beta + np.sqrt(n)) / lr + wd) * (np.abs(z) > l1)
    return out, [z, n]


def ref_signsgd(w, g, s, p):
    lr, wd = p["lr"], _p(p, "wd", 0.0)
    return (1 - lr * wd) * w - lr * np.sign(g), []


def ref_signum(w, g, s, p):
    lr, wd, m, wdlh = p["lr"], _p(p, "wd", 0.0), _p(p, "momentum", 0.0), _p(p, "wd_lh", 0.0)
    mom = m * s[0] - (1 - m) * wd * w - (1 - m) * _g(g, p)
    return (1 - lr * wdlh) * w + lr * np.sign(mom), [mom]


def ref_lamb1(w, g, s, p):
    b1, b2, eps, t = _p(p, "beta1", 0.9), _p(p, "beta2", 0.999), _p(p, "epsilon", 1e-6), p["t"]
    gr = _g(g, p)
    m = b1 * s[0] + (1 - b1) * gr
    v = b2 * s[1] + (1 - b2) * gr * gr
    mh, vh = (m / (1 - b1 ** t), v / (1 - b2 ** t)) if _p(p, "bias_correction", True) else (m, v)
    return mh / (np.sqrt(vh) + eps) + p["wd"] * w, [m, v]


# name -> (state names, reference, parameter sets, state init: "rand" | "pos" | "zero")
CASES = {
    "sgd_update": ([], ref_sgd, [{"lr": 0.1}, {"lr": 0.05, "wd": 0.1, "rescale_grad": 0.5},
                                 {"lr": 0.2, "wd": 0.01, "rescale_grad": 2.0, "clip_gradient": 0.3},
                                 {"lr": 0.1, "clip_gradient": 0.0}]),
    "sgd_mom_update": (["mom"], ref_sgd_mom,
                       [{"lr": 0.1}, {"lr": 0.1, "momentum": 0.9, "wd": 0.1},
                        {"lr": 0.05, "momentum": 0.5, "rescale_grad": 3.0, "clip_gradient": 0.5, "lazy_update": False}]),
    "nag_mom_update": (["mom"], ref_nag_mom,
                       [{"lr": 0.1, "momentum": 0.9}, {"lr": 0.1, "momentum": 0.9, "wd": 0.2},
                        {"lr": 0.05, "momentum": 0.5, "wd": 0.05, "rescale_grad": 2.0, "clip_gradient": 0.4}]),
    "adam_update": (["mean", "var"], ref_adam,
                    [{"lr": 0.01}, {"lr": 0.01, "beta1": 0.8, "beta2": 0.9, "epsilon": 1e-3, "wd": 0.1},
                     {"lr": 0.02, "rescale_grad": 0.25, "clip_gradient": 0.2, "wd": 0.5}]),
    "rmsprop_update": (["n"], ref_rmsprop,
                       [{"lr": 0.01}, {"lr": 0.01, "gamma1": 0.8, "wd": 0.1, "epsilon": 1e-4},
                        {"lr": 0.5, "rescale_grad": 2.0, "clip_gradient": 0.5, "clip_weights": 0.6}]),
    "rmspropalex_update": (["n", "g", "delta"], ref_rmspropalex,
                           [{"lr": 0.01}, {"lr": 0.01, "gamma1": 0.7, "gamma2": 0.5, "wd": 0.1},
                            {"lr": 0.3, "rescale_grad": 0.5, "clip_gradient": 0.2, "clip_weights": 0.7}]),
    "adagrad_update": (["history"], ref_adagrad,
                       [{"lr": 0.1}, {"lr": 0.1, "epsilon": 1e-3, "wd": 0.1},
                        {"lr": 0.2, "rescale_grad": 4.0, "clip_gradient": 1.0}]),
    "ftrl_update": (["z", "n"], ref_ftrl,
                    [{"lr": 0.1}, {"lr": 0.1, "lamda1": 0.5, "beta": 2.0, "wd": 0.3},
                     {"lr": 0.2, "rescale_grad": 2.0, "clip_gradient": 0.5}]),
    "signsgd_update": ([], ref_signsgd, [{"lr": 0.1}, {"lr": 0.1, "wd": 0.5},
                                         {"lr": 0.1, "rescale_grad": 3.0, "clip_gradient": 0.1}]),
    "signum_update": (["mom"], ref_signum,
                      [{"lr": 0.1, "momentum": 0.9}, {"lr": 0.1, "momentum": 0.5, "wd": 0.2, "wd_lh": 0.1},
                       {"lr": 0.1, "momentum": 0.7, "rescale_grad": 2.0, "clip_gradient": 0.3}]),
    "lamb_update_phase1": (["mean", "var"], ref_lamb1,
                           [{"t": 1, "wd": 0.0}, {"t": 3, "wd": 0.1, "beta1": 0.8, "epsilon": 1e-4},
                            {"t": 2, "wd": 0.01, "bias_correction": False, "rescale_grad": 0.5, "clip_gradient": 0.2}]),
}
POSITIVE_STATES = {"var", "n", "history"}
ZERO_STATES = {"rmspropalex_update"}  # n - g^2 stays >= 0 when the states start at 0


def _rand(rs, shape, lo=-1.0, hi=1.0):
    return rs.uniform(lo, hi, shape)


def nd(x, dtype):
    return mx.nd.array(np.asarray(x), dtype=dtype)


def _tol(dtype):
    return {"float16": (2e-3, 2e-3), "float32": (2e-5, 1e-6), "float64": (1e-12, 1e-14)}[dtype]


def close(a, b, dtype, what=""):
    rtol, atol = _tol(dtype)
    np.testing.assert_allclose(a.asnumpy().astype(np.float64) if hasattr(a, "asnumpy") else a, b,
                               rtol=rtol, atol=atol, err_msg=what)


def _states(rs, name, shape, dtype):
    names = CASES[name][0]
    out = []
    for s in names:
        if name in ZERO_STATES:
            v = np.zeros(shape)
        elif s in POSITIVE_STATES:
            v = _rand(rs, shape, 0.1, 1.0)
        else:
            v = _rand(rs, shape)
        out.append(nd(v, dtype))
    return out


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_update_in_place(name, dtype):
    """Three steps with out=weight for each parameter set: weight and states follow the formula."""
    _, ref, psets = CASES[name][:3]
    for pi, p in enumerate(psets):
        rs = np.random.RandomState(zlib.crc32(("%s %d" % (name, pi)).encode()))
        shape = (4, 5) if pi % 2 == 0 else (7,)
        w = nd(_rand(rs, shape), dtype)
        st = _states(rs, name, shape, dtype)
        for step in range(3):
            g = nd(_rand(rs, shape, -2, 2), dtype)
            w0, s0 = w.asnumpy().astype(np.float64), [s.asnumpy().astype(np.float64) for s in st]
            ew, es = ref(w0, g.asnumpy().astype(np.float64), s0, p)
            r = getattr(mx.nd, name)(w, g, *st, out=w, **p)
            assert r is w
            what = "%s %s step %d" % (name, p, step)
            close(w, ew, dtype, what)
            for k, (s, e) in enumerate(zip(st, es)):
                close(s, e, dtype, "%s state %d" % (what, k))
            assert w.dtype == np.dtype(dtype)


@pytest.mark.parametrize("name", ["sgd_mom_update", "adam_update", "ftrl_update"])
def test_update_into_a_new_array(name):
    """Without out=, the weight is unchanged, the result is a new array, the states still move."""
    _, ref, psets = CASES[name][:3]
    p = psets[1]
    rs = np.random.RandomState(3)
    w = nd(_rand(rs, (3, 4)), "float64")
    st = _states(rs, name, (3, 4), "float64")
    g = nd(_rand(rs, (3, 4)), "float64")
    w0 = w.asnumpy()
    ew, es = ref(w0, g.asnumpy(), [s.asnumpy() for s in st], p)
    out = getattr(mx.nd, name)(w, g, *st, **p)
    close(out, ew, "float64")
    np.testing.assert_array_equal(w.asnumpy(), w0)
    for s, e in zip(st, es):
        close(s, e, "float64")


def test_large_update_orders_later_reads_of_the_states():
    """A large update runs on the engine; reads of the momentum and weight wait for it."""
    rs = np.random.RandomState(4)
    shape = (300, 200)
    w, mom = nd(_rand(rs, shape), "float32"), nd(_rand(rs, shape), "float32")
    ws, ms = w.asnumpy().astype(np.float64), mom.asnumpy().astype(np.float64)
    p = {"lr": 0.1, "momentum": 0.9, "wd": 0.01}
    for step in range(3):
        g = nd(_rand(rs, shape), "float32")
        mx.nd.sgd_mom_update(w, g, mom, out=w, **p)
        ew, (em,) = ref_sgd_mom(ws, g.asnumpy().astype(np.float64), [ms], p)
        ms = mom.asnumpy().astype(np.float64)
        close(mom, em, "float32")
        close(w, ew, "float32")
        ws = w.asnumpy().astype(np.float64)


@pytest.mark.parametrize("name", ["sgd_update", "sgd_mom_update", "adam_update"])
def test_float16_weights(name):
    """float16 weights and states compute in float32, rounded to float16 when stored."""
    _, ref, psets = CASES[name][:3]
    p = psets[-1]
    rs = np.random.RandomState(5)
    w = nd(_rand(rs, (5, 3)), "float16")
    st = _states(rs, name, (5, 3), "float16")
    for step in range(2):
        g = nd(_rand(rs, (5, 3)), "float16")
        ew, es = ref(w.asnumpy().astype(np.float64), g.asnumpy().astype(np.float64),
                     [s.asnumpy().astype(np.float64) for s in st], p)
        getattr(mx.nd, name)(w, g, *st, out=w, **p)
        close(w, ew, "float16")
        for s, e in zip(st, es):
            close(s, e, "float16")


def test_clip_gradient_zero_clips_to_zero():
    """MXNet clips when clip_gradient >= 0: 0 clips every gradient to 0 (only wd acts)."""
    w = nd([1.0, -2.0, 3.0], "float64")
    out = mx.nd.sgd_update(w, nd([5.0, -5.0, 0.5], "float64"), lr=0.5, wd=0.1, clip_gradient=0.0)
    close(out, np.array([1.0, -2.0, 3.0]) * 0.95, "float64")


def test_aliases():
    w, g = nd([1.0, 2.0], "float32"), nd([0.5, -0.5], "float32")
    close(mx.nd._sparse_sgd_update(w, g, lr=1.0), np.array([0.5, 2.5]), "float32")
    h = nd([0.0, 0.0], "float32")
    close(mx.nd._sparse_adagrad_update(w, g, h, lr=1.0, epsilon=0.0), np.array([0.0, 3.0]), "float32")
    close(h, np.array([0.25, 0.25]), "float32")


# ---- AdamW: rescale_grad is an input array -------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_adamw(dtype):
    rs = np.random.RandomState(6)
    psets = [{"lr": 0.01, "eta": 1.0}, {"lr": 0.01, "eta": 0.5, "wd": 0.1, "beta1": 0.8, "epsilon": 1e-4},
             {"lr": 0.05, "eta": 2.0, "wd": 0.01, "clip_gradient": 0.2}]
    for p, rescale in zip(psets, (1.0, 0.5, 4.0)):
        w = nd(_rand(rs, (3, 4)), dtype)
        st = [nd(_rand(rs, (3, 4)), dtype), nd(_rand(rs, (3, 4), 0.1, 1), dtype)]
        # the factor is float32 (MXNet's type), whatever the weight's dtype
        scale = nd([rescale], "float32")
        for step in range(3):
            g = nd(_rand(rs, (3, 4), -2, 2), dtype)
            ew, es = ref_adamw(w.asnumpy().astype(np.float64), g.asnumpy().astype(np.float64),
                               [s.asnumpy().astype(np.float64) for s in st], p, rescale)
            mx.nd._adamw_update(w, g, st[0], st[1], scale, out=w, **p)
            close(w, ew, dtype)
            for s, e in zip(st, es):
                close(s, e, dtype)
    out = mx.nd._contrib_adamw_update(w, g, st[0], st[1], nd([1.0], dtype), lr=0.01, eta=1.0)
    assert out.shape == (3, 4)


@pytest.mark.parametrize("bad", [0.0, np.inf, np.nan])
def test_adamw_skips_on_a_bad_rescale(bad):
    """rescale_grad 0, Inf or NaN: the output is the weight and the states are untouched."""
    rs = np.random.RandomState(7)
    w, g = nd(_rand(rs, (2, 3)), "float32"), nd(_rand(rs, (2, 3)), "float32")
    m, v = nd(_rand(rs, (2, 3)), "float32"), nd(_rand(rs, (2, 3), 0.1, 1), "float32")
    w0, m0, v0 = w.asnumpy(), m.asnumpy(), v.asnumpy()
    out = mx.nd._adamw_update(w, g, m, v, nd([bad], "float32"), lr=0.1, eta=1.0, wd=0.1)
    np.testing.assert_array_equal(out.asnumpy(), w0)
    np.testing.assert_array_equal(m.asnumpy(), m0)
    np.testing.assert_array_equal(v.asnumpy(), v0)


@pytest.mark.parametrize("wdtype", ["float16", "float32"])
def test_mp_adamw(wdtype):
    """Mixed-precision AdamW: float32 mean, var and weight32 updated in place; a bad rescale
    factor skips the update."""
    rs = np.random.RandomState(11)
    p = {"lr": 0.05, "eta": 0.5, "wd": 0.1, "clip_gradient": 0.3}
    w32 = nd(_rand(rs, (3, 4)), "float32")
    w = w32.astype(wdtype)
    st = [nd(_rand(rs, (3, 4)), "float32"), nd(_rand(rs, (3, 4), 0.1, 1), "float32")]
    for step in range(3):
        g = nd(_rand(rs, (3, 4), -2, 2), wdtype)
        ew, es = ref_adamw(w32.asnumpy().astype(np.float64), g.asnumpy().astype(np.float64),
                           [s.asnumpy().astype(np.float64) for s in st], p, 2.0)
        mx.nd._mp_adamw_update(w, g, st[0], st[1], w32, nd([2.0], "float32"), out=w, **p)
        close(w32, ew, "float32")
        for s, e in zip(st, es):
            close(s, e, "float32")
        np.testing.assert_array_equal(w.asnumpy(), w32.asnumpy().astype(wdtype))
    before = [a.asnumpy() for a in [w, w32] + st]
    mx.nd._contrib_mp_adamw_update(w, g, st[0], st[1], w32, nd([np.nan], "float32"), out=w, **p)
    for a, b in zip([w, w32] + st, before):
        np.testing.assert_array_equal(a.asnumpy(), b)
    with pytest.raises(mx.BrassError, match="_mp_adamw_update: weight32 must be float32"):
        mx.nd._mp_adamw_update(w, g, st[0], st[1], w32.astype("float64"), nd([1.0], "float32"), **p)


# ---- LAMB phase 2 --------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_lamb_phase2(dtype):
    rs = np.random.RandomState(8)
    w, g = _rand(rs, (4, 3)), _rand(rs, (4, 3))
    cases = [(2.0, 4.0, {}, 0.5), (0.0, 4.0, {}, 1.0), (2.0, 0.0, {}, 1.0),
             (2.0, 4.0, {"lower_bound": 3.0}, 0.75), (2.0, 4.0, {"upper_bound": 1.0}, 0.25),
             (2.0, 4.0, {"lower_bound": 0.5, "upper_bound": 8.0}, 0.5)]
    for r1, r2, p, factor in cases:
        out = mx.nd.lamb_update_phase2(nd(w, dtype), nd(g, dtype), nd([r1], dtype), nd([r2], dtype), lr=0.1, **p)
        close(out, w - 0.1 * factor * g, dtype, "%s %s %s" % (r1, r2, p))
    # the two phases as MXNet's LAMB optimizer chains them, in place
    W, G = nd(w, dtype), nd(g, dtype)
    m, v = nd(np.zeros((4, 3)), dtype), nd(np.zeros((4, 3)), dtype)
    d = mx.nd.lamb_update_phase1(W, G, m, v, t=1, wd=0.01)
    r1, r2 = mx.nd.norm(W).reshape((1,)), mx.nd.norm(d).reshape((1,))
    mx.nd.lamb_update_phase2(W, d, r1, r2, lr=0.01, out=W)
    ed, _ = ref_lamb1(w, g, [np.zeros((4, 3))] * 2, {"t": 1, "wd": 0.01})
    close(W, w - 0.01 * np.linalg.norm(w) / np.linalg.norm(ed) * ed, dtype)


# ---- multi_sgd_update ----------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_multi_sgd_update(dtype):
    rs = np.random.RandomState(9)
    shapes = [(3, 4), (5,), (1,)]
    lrs, wds = (0.1, 0.2, 0.05), (0.0, 0.1, 0.5)
    ws = [nd(_rand(rs, s), dtype) for s in shapes]
    for step in range(2):
        gs = [nd(_rand(rs, s, -2, 2), dtype) for s in shapes]
        p = {"rescale_grad": 0.5, "clip_gradient": 0.4} if step else {}
        expect = [ref_sgd(w.asnumpy().astype(np.float64), g.asnumpy().astype(np.float64), [],
                          dict(p, lr=lr, wd=wd))[0] for w, g, lr, wd in zip(ws, gs, lrs, wds)]
        args = [a for wg in zip(ws, gs) for a in wg]
        outs = mx.nd.multi_sgd_update(*args, lrs=lrs, wds=wds, num_weights=3, out=ws, **p)
        for w, o, e in zip(ws, outs, expect):
            assert o is w
            close(w, e, dtype)
    outs = mx.nd.multi_sgd_update(ws[0], gs[0], lrs=(0.1,), wds=(0.0,), num_weights=1)
    close(outs, ws[0].asnumpy() - 0.1 * gs[0].asnumpy(), dtype)


@pytest.mark.parametrize("wdtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("name", ["multi_sgd_mom_update", "multi_mp_sgd_update", "multi_mp_sgd_mom_update"])
def test_multi_with_states(name, wdtype):
    """Momenta (and float32 master weights) of every weight are updated in place; a large
    weight makes the call run on the engine, so later reads must wait for it."""
    mom, mp = "mom" in name, "_mp_" in name
    if wdtype == "float16" and not mp:
        wdtype = "float32"
    rs = np.random.RandomState(12)
    shapes = [(3, 4), (200, 200), (1,)]
    lrs, wds, momentum = (0.1, 0.2, 0.05), (0.0, 0.1, 0.5), 0.9
    sdt = "float32" if mp else wdtype
    w32 = [nd(_rand(rs, s), "float32") for s in shapes]
    ws = [w.astype(wdtype) for w in w32]
    moms = [nd(_rand(rs, s), sdt) for s in shapes] if mom else []
    for step in range(2):
        gs = [nd(_rand(rs, s, -2, 2), wdtype) for s in shapes]
        p = {"rescale_grad": 0.5, "clip_gradient": 0.4} if step else {}
        if mom:
            p["momentum"] = momentum
        expect = []
        for k in range(3):
            w0 = (w32[k] if mp else ws[k]).asnumpy().astype(np.float64)
            st = [moms[k].asnumpy().astype(np.float64)] if mom else []
            pk = dict(p, lr=lrs[k], wd=wds[k])
            expect.append((ref_sgd_mom if mom else ref_sgd)(w0, gs[k].asnumpy().astype(np.float64), st,
                                                            dict(pk, momentum=p.get("momentum", 0.0))))
        args = []
        for k in range(3):
            args += [ws[k], gs[k]] + ([moms[k]] if mom else []) + ([w32[k]] if mp else [])
        outs = getattr(mx.nd, name)(*args, lrs=lrs, wds=wds, num_weights=3, out=ws, **p)
        tol = "float32" if mp or wdtype == "float32" else wdtype
        for k in range(3):
            assert outs[k] is ws[k]
            ew, es = expect[k]
            if mom:
                close(moms[k], es[0], tol, "%s mom %d" % (name, k))
            if mp:
                close(w32[k], ew, "float32", "%s weight32 %d" % (name, k))
                np.testing.assert_array_equal(ws[k].asnumpy(), w32[k].asnumpy().astype(wdtype))
            else:
                close(ws[k], ew, tol, "%s weight %d" % (name, k))
    stride = 2 + mom + mp
    with pytest.raises(mx.BrassError, match="%s: expected %d input" % (name, 2 * stride)):
        getattr(mx.nd, name)(*args[:2 * stride - 1], lrs=lrs[:2], wds=wds[:2], num_weights=2)


# ---- Mixed precision -----------------------------------------------------------------------------

MP = {"mp_sgd_update": ([], ref_sgd, [{"lr": 0.1}, {"lr": 0.1, "wd": 0.1, "rescale_grad": 2.0, "clip_gradient": 0.5}]),
      "mp_sgd_mom_update": (["mom"], ref_sgd_mom, [{"lr": 0.1, "momentum": 0.9},
                                                   {"lr": 0.05, "momentum": 0.5, "wd": 0.1, "rescale_grad": 0.5,
                                                    "clip_gradient": 0.2}]),
      "mp_nag_mom_update": (["mom"], ref_nag_mom, [{"lr": 0.1, "momentum": 0.9},
                                                   {"lr": 0.05, "momentum": 0.5, "wd": 0.1, "rescale_grad": 2.0,
                                                    "clip_gradient": 0.3}])}


@pytest.mark.parametrize("wdtype", ["float16", "float32"])
@pytest.mark.parametrize("name", sorted(MP))
def test_mixed_precision(name, wdtype):
    """float16 weight + float32 master copy: the math runs on weight32 (updated in place), the
    output is weight32 rounded to float16; the float32 momentum is updated in place."""
    names, ref, psets = MP[name]
    for p in psets:
        rs = np.random.RandomState(10)
        w32 = nd(_rand(rs, (4, 3)), "float32")
        w = w32.astype(wdtype)
        st = [nd(_rand(rs, (4, 3)), "float32") for _ in names]
        for step in range(3):
            g = nd(_rand(rs, (4, 3), -2, 2), wdtype)
            ew, es = ref(w32.asnumpy().astype(np.float64), g.asnumpy().astype(np.float64),
                         [s.asnumpy().astype(np.float64) for s in st], p)
            r = getattr(mx.nd, name)(w, g, *st, w32, out=w, **p)
            assert r is w and w.dtype == np.dtype(wdtype)
            close(w32, ew, "float32", "%s weight32 %s" % (name, p))
            for s, e in zip(st, es):
                close(s, e, "float32", "%s state %s" % (name, p))
            np.testing.assert_array_equal(w.asnumpy(), w32.asnumpy().astype(wdtype))


# ---- No gradient ---------------------------------------------------------------------------------

def test_differentiating_through_an_update_is_an_error():
    w, g = nd([1.0, 2.0], "float64"), nd([0.5, 0.5], "float64")
    w.attach_grad()
    with mx.autograd.record():
        y = mx.nd.sgd_update(w, g, lr=0.1)
    with pytest.raises(mx.BrassError, match="sgd_update: this operator has no gradient"):
        y.backward()


# ---- Bad input -----------------------------------------------------------------------------------

def _f(shape, dtype="float32"):
    return mx.nd.array(np.zeros(shape), dtype=dtype)


@pytest.mark.parametrize("call,match", [
    (lambda: mx.nd.sgd_update(_f((3, 4)), _f((3, 5)), lr=0.1), r"sgd_update: .*\(3, ?5\)"),
    (lambda: mx.nd.sgd_mom_update(_f((3, 4)), _f((3, 4)), _f((4, 3)), lr=0.1), r"sgd_mom_update: .*mom"),
    (lambda: mx.nd.adam_update(_f((2,)), _f((2,)), _f((2,)), _f((3,)), lr=0.1), r"adam_update: .*var"),
    (lambda: mx.nd.sgd_update(_f((2,)), _f((2,)), out=_f((3,)), lr=0.1), "sgd_update"),
    (lambda: mx.nd.sgd_update(_f((2,)), _f((2,))), "sgd_update.*lr"),
    (lambda: mx.nd.sgd_mom_update(_f((2,)), _f((2,), "float64"), _f((2,)), lr=0.1), "sgd_mom_update: .*dtype"),
    (lambda: mx.nd.sgd_update(_f((2,), "int32"), _f((2,), "int32"), lr=0.1), "sgd_update: .*int32"),
    (lambda: mx.nd.mp_sgd_update(_f((2,), "float16"), _f((2,), "float16"), _f((2,), "float16"), lr=0.1),
     "mp_sgd_update: weight32 must be float32, got float16"),
    (lambda: mx.nd.mp_sgd_mom_update(_f((2,), "float16"), _f((2,), "float16"), _f((2,), "float16"),
                                     _f((2,)), lr=0.1), "mp_sgd_mom_update: mom must be float32"),
    (lambda: mx.nd.mp_nag_mom_update(_f((2,), "float16"), _f((2,), "float32"), _f((2,)), _f((2,)), lr=0.1),
     "mp_nag_mom_update: grad has dtype float32"),
    (lambda: mx.nd.mp_sgd_update(_f((2,), "float16"), _f((2,), "float16"), _f((3,)), lr=0.1), "mp_sgd_update: .*weight32"),
    (lambda: mx.nd._adamw_update(_f((2,)), _f((2,)), _f((2,)), _f((2,)), _f((2,)), lr=0.1, eta=1.0),
     "_adamw_update: rescale_grad must hold one element"),
    (lambda: mx.nd._adamw_update(_f((2,)), _f((2,)), _f((2,)), _f((2,)), _f((1,)), lr=0.1), "_adamw_update.*eta"),
    (lambda: mx.nd.lamb_update_phase2(_f((2,)), _f((2,)), _f((2,)), _f((1,)), lr=0.1),
     "lamb_update_phase2: r1 must hold one element"),
    (lambda: mx.nd.lamb_update_phase1(_f((2,)), _f((2,)), _f((2,)), _f((2,)), wd=0.0), "lamb_update_phase1.*t"),
    (lambda: mx.nd.multi_sgd_update(_f((2,)), _f((2,)), _f((3,)), lrs=(0.1, 0.1), wds=(0, 0), num_weights=2),
     "multi_sgd_update: expected 4 input"),
    (lambda: mx.nd.multi_sgd_update(_f((2,)), _f((2,)), _f((3,)), _f((3,)), lrs=(0.1,), wds=(0, 0), num_weights=2),
     "multi_sgd_update: lrs has 1 values"),
    (lambda: mx.nd.multi_sgd_update(_f((2,)), _f((2,)), _f((3,)), _f((4,)), lrs=(0.1, 0.1), wds=(0, 0),
                                    num_weights=2), r"multi_sgd_update: .*\(4,?\)"),
])
def test_bad_input(call, match):
    with pytest.raises(mx.BrassError, match=match):
        call()
    assert (mx.nd.ones((2,)) + 1).asnumpy().tolist() == [2.0, 2.0]  # still usable
