"""The normalization operators against NumPy references: LayerNorm, InstanceNorm, GroupNorm,
L2Normalization and LRN (and their internal gradient ops). Forward values and hidden outputs
for float32 and float64 (float16/bfloat16 too) over edge shapes and every parameter, gradients
(the table below is checked by test_gradients.py against central differences; a few cases are
also checked here so they run on every device), symbol shape inference and errors.

Arrays are made without ctx=, so with BRASS_TEST_DEVICE=gpu the whole file runs on gpu(0)."""
import numpy as np
import pytest

import brass as mx
from grad_table import Grad, In
from nn_testing import nd, raises

# Operators this file tests (read by the completeness test in test_op_table.py).
OPS_COVERED = {"LayerNorm", "_backward_LayerNorm", "InstanceNorm", "_backward_InstanceNorm",
               "GroupNorm", "_backward_GroupNorm", "L2Normalization", "_backward_L2Normalization",
               "LRN", "_backward_LRN"}

# Gradient cases (test_gradients.py checks them with the others). gamma away from 0 and data
# spread enough that the variance is not tiny.
_G = dict(domain=(0.5, 2))
GRADIENTS = {
    "LayerNorm": [
        Grad([In((3, 4)), In((4,), **_G), In((4,))]),
        Grad([In((2, 3, 2)), In((3,), **_G), In((3,))], {"axis": 1, "eps": 1e-3}),
        Grad([In((3, 2)), In((3,), **_G), In((3,))], {"axis": 0}),
        Grad([In((5,)), In((5,), **_G), In((5,))], {"eps": 0.1}),
    ],
    "InstanceNorm": [
        Grad([In((2, 3, 4)), In((3,), **_G), In((3,))]),
        Grad([In((1, 2, 2, 3)), In((2,), **_G), In((2,))], {"eps": 1e-5}),
    ],
    "GroupNorm": [
        Grad([In((2, 4, 3)), In((2,), **_G), In((2,))], {"num_groups": 2}),
        Grad([In((2, 4, 3)), In((4,), **_G), In((4,))], {"num_groups": 2}),
        Grad([In((1, 3, 2, 2)), In((1,), **_G), In((1,))], {"eps": 1e-3}),
        Grad([In((2, 6, 2)), In((6,), **_G), In((6,))], {"num_groups": 3}),
    ],
    "L2Normalization": [
        Grad([In((3, 4))]),
        Grad([In((2, 3, 4))], {"mode": "channel"}),
        Grad([In((2, 3, 2, 2))], {"mode": "spatial", "eps": 1e-3}),
        Grad([In((2, 3, 2))], {"mode": "instance"}),
    ],
    "LRN": [
        Grad([In((2, 5, 2, 2))], {"nsize": 3}),
        Grad([In((1, 4, 2, 3))], {"nsize": 5, "alpha": 0.5, "beta": 0.6, "knorm": 1.5}),
        Grad([In((1, 3, 1, 2))], {"nsize": 1, "alpha": 2.0, "beta": 1.0, "knorm": 1.0}),
    ],
}
# Their gradient ops have no gradient of their own.
NO_SECOND_ORDER = {"LayerNorm", "InstanceNorm", "GroupNorm", "L2Normalization", "LRN"}
# Gradient ops without a gradient: differentiating through them is a clear error.
_POS = dict(domain=(0.5, 2))
NO_GRADIENT = {
    "_backward_LayerNorm": Grad([In((2, 3)), In((2, 3)), In((3,)), In((2, 1)), In((2, 1), **_POS)]),
    "_backward_InstanceNorm": Grad([In((1, 2, 3)), In((1, 2, 3)), In((2,)), In((1, 2)), In((1, 2), **_POS)]),
    "_backward_GroupNorm": Grad([In((1, 2, 3)), In((1, 2, 3)), In((1,)), In((1, 1)), In((1, 1), **_POS)]),
    "_backward_L2Normalization": Grad([In((2, 3)), In((2, 3)), In((2,), **_POS)]),
    "_backward_LRN": Grad([In((1, 3, 1, 2)), In((1, 3, 1, 2)), In((1, 3, 1, 2), **_POS)], {"nsize": 3}),
}

FLOATS = ["float32", "float64"]
TOL = {"float32": dict(rtol=1e-4, atol=1e-5), "float64": dict(rtol=1e-10, atol=1e-12),
       "float16": dict(rtol=1e-2, atol=1e-2), "bfloat16": dict(rtol=3e-2, atol=3e-2)}


def rand(shape, dtype="float64", seed=0, lo=-1.0, hi=1.0):
    return np.random.default_rng(seed).uniform(lo, hi, shape).astype(dtype)


def close(got, want, dtype):
    got = got.asnumpy() if hasattr(got, "asnumpy") else got
    assert got.shape == want.shape, (got.shape, want.shape)
    assert got.dtype == np.dtype(dtype), (got.dtype, dtype)
    np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), **TOL[dtype])


# ---- NumPy references -----------------------------------------------------------------------
def layer_norm_ref(x, gamma, beta, axis=-1, eps=1e-5):
    x = x.astype(np.float64)
    mean = x.mean(axis=axis, keepdims=True)
    std = np.sqrt(x.var(axis=axis, keepdims=True) + eps)
    shape = [1] * x.ndim
    shape[axis] = -1
    out = (x - mean) / std * gamma.reshape(shape) + beta.reshape(shape)
    return out, mean, std


def instance_norm_ref(x, gamma, beta, eps=1e-3):
    x = x.astype(np.float64)
    axes = tuple(range(2, x.ndim))
    mean, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    out = (x - mean) / np.sqrt(var + eps) * gamma.reshape(shape) + beta.reshape(shape)
    return out, mean.reshape(x.shape[:2]), var.reshape(x.shape[:2])


def group_norm_ref(x, gamma, beta, num_groups=1, eps=1e-5):
    x = x.astype(np.float64)
    n, c = x.shape[:2]
    xr = x.reshape(n, num_groups, -1)
    mean, std = xr.mean(axis=2, keepdims=True), np.sqrt(xr.var(axis=2, keepdims=True) + eps)
    norm = (xr - mean) / std
    if gamma.size == c and c != num_groups:  # one scale per channel
        shape = (1, c) + (1,) * (x.ndim - 2)
        out = norm.reshape(x.shape) * gamma.reshape(shape) + beta.reshape(shape)
    else:  # one per group (MXNet 1.x)
        out = (norm * gamma.reshape(1, -1, 1) + beta.reshape(1, -1, 1)).reshape(x.shape)
    return out, mean.reshape(n, num_groups), std.reshape(n, num_groups)


def l2_ref(x, mode="instance", eps=1e-10):
    x = x.astype(np.float64)
    axes = {"instance": tuple(range(1, x.ndim)), "channel": (1,), "spatial": tuple(range(2, x.ndim))}[mode]
    norm = np.sqrt((x * x).sum(axis=axes, keepdims=True) + eps)
    want_norm = {"instance": lambda: norm.reshape(x.shape[0]), "channel": lambda: norm,
                 "spatial": lambda: norm.reshape(x.shape[:2])}[mode]()
    return x / norm, want_norm


def lrn_ref(x, nsize, alpha=1e-4, beta=0.75, knorm=2.0):
    x = x.astype(np.float64)
    c = x.shape[1]
    half = nsize // 2
    tmp = np.empty_like(x)
    for ch in range(c):
        lo, hi = max(0, ch - half), min(c - 1, ch + half)
        tmp[:, ch] = knorm + alpha / nsize * (x[:, lo:hi + 1] ** 2).sum(axis=1)
    return x * tmp ** -beta, tmp


def numeric_grads(f, xs, hg, h=1e-6):
    """Central differences of sum(hg * f(*xs)) with respect to every x in xs (float64)."""
    grads = []
    for x in xs:
        g = np.zeros_like(x)
        for j in range(x.size):
            v = x.flat[j]
            x.flat[j] = v + h
            p = np.sum(f(*xs) * hg)
            x.flat[j] = v - h
            m = np.sum(f(*xs) * hg)
            x.flat[j] = v
            g.flat[j] = (p - m) / (2 * h)
        grads.append(g)
    return grads


def autograd(op, xs, hg, **params):
    arrs = [nd(x) for x in xs]
    for a in arrs:
        a.attach_grad()
    with mx.autograd.record():
        y = op(*arrs, **params)
    y.backward(nd(hg))
    return y, [a.grad.asnumpy() for a in arrs]


# ---- LayerNorm ------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape,axis", [((3, 5), -1), ((4, 5, 6), -1), ((4, 5, 6), 1), ((4, 5, 6), 0),
                                        ((7,), 0), ((1, 1), -1), ((2, 3, 1), 2), ((1, 17, 3), -2)])
def test_layer_norm(shape, axis, dtype):
    x = rand(shape, dtype, 1, -2, 3)
    c = shape[axis]
    gamma, beta = rand((c,), dtype, 2, 0.5, 2), rand((c,), dtype, 3)
    out, mean, std = mx.nd.LayerNorm(nd(x), nd(gamma), nd(beta), axis=axis, output_mean_var=True)
    want = layer_norm_ref(x, gamma, beta, axis)
    for got, w in zip((out, mean, std), want):
        close(got, w, dtype)
    one = mx.nd.LayerNorm(nd(x), nd(gamma), nd(beta), axis=axis)
    assert not isinstance(one, (list, tuple))
    close(one, want[0], dtype)


@pytest.mark.parametrize("eps", [1e-5, 0.5, 0.0])
def test_layer_norm_eps_and_keywords(eps):
    x = rand((3, 4), "float64", 4)
    gamma, beta = rand((4,), "float64", 5), rand((4,), "float64", 6)
    got = mx.nd.LayerNorm(data=nd(x), gamma=nd(gamma), beta=nd(beta), eps=eps)
    close(got, layer_norm_ref(x, gamma, beta, eps=eps)[0], "float64")


def test_zero_size_data():
    x = np.zeros((0, 3))
    out = mx.nd.LayerNorm(nd(x), nd(np.ones(3)), nd(np.zeros(3)))
    assert out.shape == (0, 3)
    y, (dx, dg, db) = autograd(mx.nd.LayerNorm, [x, np.ones(3), np.zeros(3)], x)
    assert dx.shape == (0, 3) and np.all(dg == 0) and np.all(db == 0)
    y, (dx, dg, db) = autograd(mx.nd.InstanceNorm, [np.zeros((0, 2, 3)), np.ones(2), np.zeros(2)], np.zeros((0, 2, 3)))
    assert y.shape == (0, 2, 3) and np.all(dg == 0) and np.all(db == 0)
    assert mx.nd.L2Normalization(nd(np.zeros((0, 4)))).shape == (0, 4)
    assert mx.nd.LRN(nd(np.zeros((0, 3, 2, 2))), nsize=3).shape == (0, 3, 2, 2)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_small_float_types(dtype):
    x = rand((3, 8), "float32", 7, -2, 2)
    g, b = rand((8,), "float32", 8, 0.5, 2), rand((8,), "float32", 9)
    close(mx.nd.LayerNorm(nd(x, dtype), nd(g, dtype), nd(b, dtype)),
          layer_norm_ref(x, g, b)[0], dtype)
    x4 = rand((2, 4, 2, 3), "float32", 10, -2, 2)
    close(mx.nd.InstanceNorm(nd(x4, dtype), nd(g[:4], dtype), nd(b[:4], dtype)),
          instance_norm_ref(x4, g[:4], b[:4])[0], dtype)
    close(mx.nd.GroupNorm(nd(x4, dtype), nd(g[:2], dtype), nd(b[:2], dtype), num_groups=2),
          group_norm_ref(x4, g[:2], b[:2], 2)[0], dtype)
    close(mx.nd.L2Normalization(nd(x4, dtype), mode="channel"), l2_ref(x4, "channel")[0], dtype)
    close(mx.nd.LRN(nd(x4, dtype), nsize=3, alpha=0.5), lrn_ref(x4, 3, alpha=0.5)[0], dtype)
    hg = rand(x.shape, "float32", 11)
    xa = nd(x, dtype)
    xa.attach_grad()
    with mx.autograd.record():
        y = mx.nd.LayerNorm(xa, nd(g, dtype), nd(b, dtype))
    y.backward(nd(hg, dtype))
    assert xa.grad.dtype == y.dtype
    want = numeric_grads(lambda a: layer_norm_ref(a, g.astype(np.float64), b)[0], [x.astype(np.float64)], hg)[0]
    np.testing.assert_allclose(xa.grad.asnumpy().astype(np.float64), want, rtol=5e-2, atol=5e-2)


# ---- InstanceNorm ---------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", [(2, 3, 4), (1, 2, 3, 5), (3, 1, 7), (2, 4, 1, 1), (1, 5, 2, 2, 3)])
@pytest.mark.parametrize("eps", [1e-3, 0.1])
def test_instance_norm(shape, eps, dtype):
    x = rand(shape, dtype, 12, -2, 3)
    gamma, beta = rand((shape[1],), dtype, 13, 0.5, 2), rand((shape[1],), dtype, 14)
    out = mx.nd.InstanceNorm(nd(x), nd(gamma), nd(beta), eps=eps)
    close(out, instance_norm_ref(x, gamma, beta, eps)[0], dtype)


def test_instance_norm_default_eps():
    x = rand((2, 2, 3), "float64", 15)
    g, b = np.ones(2), np.zeros(2)
    close(mx.nd.InstanceNorm(nd(x), nd(g), nd(b)), instance_norm_ref(x, g, b, 1e-3)[0], "float64")


# ---- GroupNorm ------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape,groups,per_channel", [
    ((2, 4, 3), 1, False), ((2, 4, 3), 2, False), ((2, 4, 3), 2, True), ((2, 4, 3), 4, False),
    ((1, 6, 2, 3), 3, True), ((3, 6, 5), 3, False), ((1, 2, 1), 1, True), ((2, 8, 2, 2, 2), 4, True)])
@pytest.mark.parametrize("eps", [1e-5, 0.2])
def test_group_norm(shape, groups, per_channel, eps, dtype):
    x = rand(shape, dtype, 16, -2, 3)
    k = shape[1] if per_channel else groups
    gamma, beta = rand((k,), dtype, 17, 0.5, 2), rand((k,), dtype, 18)
    out, mean, std = mx.nd.GroupNorm(nd(x), nd(gamma), nd(beta), num_groups=groups, eps=eps,
                                     output_mean_var=True)
    want = group_norm_ref(x, gamma, beta, groups, eps)
    for got, w in zip((out, mean, std), want):
        close(got, w, dtype)
    close(mx.nd.GroupNorm(nd(x), nd(gamma), nd(beta), num_groups=groups, eps=eps), want[0], dtype)


def test_group_norm_default_is_one_group():
    x = rand((2, 3, 4), "float64", 19)
    g, b = rand((1,), "float64", 20), rand((1,), "float64", 21)
    close(mx.nd.GroupNorm(nd(x), nd(g), nd(b)), group_norm_ref(x, g, b, 1, 1e-5)[0], "float64")


# ---- L2Normalization ------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("mode,shape", [("instance", (3, 4)), ("instance", (2, 3, 4)), ("instance", (5,)),
                                        ("channel", (2, 3, 4)), ("channel", (1, 4, 2, 3)), ("channel", (2, 1, 5)),
                                        ("spatial", (2, 3, 4)), ("spatial", (1, 4, 2, 3)), ("spatial", (3, 2, 1))])
@pytest.mark.parametrize("eps", [1e-10, 0.5])
def test_l2_normalization(mode, shape, eps, dtype):
    x = rand(shape, dtype, 22, -2, 2)
    out = mx.nd.L2Normalization(nd(x), mode=mode, eps=eps)
    want, want_norm = l2_ref(x, mode, eps)
    close(out, want, dtype)
    # the hidden norm, as the gradient op takes it
    hg = rand(shape, dtype, 24)
    dx = mx.nd._backward_L2Normalization(nd(hg), out, nd(want_norm.astype(dtype)), mode=mode, eps=eps)
    assert dx.shape == shape
    _, outs, _ = mx.sym.L2Normalization(mx.sym.var("x"), mode=mode).infer_shape(x=shape)
    assert outs == [shape]


def test_l2_normalization_default_mode_and_zero_data():
    x = np.zeros((2, 3))
    out = mx.nd.L2Normalization(nd(x))
    assert np.all(out.asnumpy() == 0)
    close(mx.nd.L2Normalization(nd(np.array([[3.0, 4.0]])), eps=0), np.array([[0.6, 0.8]]), "float64")


# ---- LRN ------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape,params", [
    ((2, 5, 3, 3), {"nsize": 3}), ((1, 7, 2, 3), {"nsize": 5, "alpha": 0.3, "beta": 0.5, "knorm": 1.0}),
    ((2, 3, 2, 2), {"nsize": 1}), ((1, 2, 4, 1), {"nsize": 7, "alpha": 1.0}),
    ((1, 1, 1, 1), {"nsize": 3, "alpha": 2.0, "beta": 1.0, "knorm": 0.5})])
def test_lrn(shape, params, dtype):
    x = rand(shape, dtype, 23, -2, 2)
    close(mx.nd.LRN(nd(x), **params), lrn_ref(x, **params)[0], dtype)


# ---- gradients (on every device; test_gradients.py checks the GRADIENTS table too) ----------
CASES = [
    (mx.nd.LayerNorm, lambda x, g, b: layer_norm_ref(x, g, b)[0], [(3, 4), (4,), (4,)], {}),
    (mx.nd.LayerNorm, lambda x, g, b: layer_norm_ref(x, g, b, axis=1, eps=0.1)[0], [(2, 3, 2), (3,), (3,)],
     {"axis": 1, "eps": 0.1}),
    (mx.nd.LayerNorm, lambda x, g, b: layer_norm_ref(x, g, b)[0], [(20, 3), (3,), (3,)], {}),
    (mx.nd.InstanceNorm, lambda x, g, b: instance_norm_ref(x, g, b)[0], [(2, 3, 4), (3,), (3,)], {}),
    (mx.nd.InstanceNorm, lambda x, g, b: instance_norm_ref(x, g, b)[0], [(4, 5, 2), (5,), (5,)], {}),
    (mx.nd.GroupNorm, lambda x, g, b: group_norm_ref(x, g, b, 2)[0], [(2, 4, 3), (2,), (2,)], {"num_groups": 2}),
    (mx.nd.GroupNorm, lambda x, g, b: group_norm_ref(x, g, b, 2)[0], [(2, 4, 3), (4,), (4,)], {"num_groups": 2}),
    (mx.nd.GroupNorm, lambda x, g, b: group_norm_ref(x, g, b, 1)[0], [(3, 2, 2, 2), (1,), (1,)], {}),
    (mx.nd.L2Normalization, lambda x: l2_ref(x)[0], [(3, 4)], {}),
    (mx.nd.L2Normalization, lambda x: l2_ref(x, "channel")[0], [(2, 3, 4)], {"mode": "channel"}),
    (mx.nd.L2Normalization, lambda x: l2_ref(x, "spatial")[0], [(2, 3, 4)], {"mode": "spatial"}),
    (mx.nd.L2Normalization, lambda x: l2_ref(x, "channel")[0], [(20, 2, 1)], {"mode": "channel"}),
    (mx.nd.LRN, lambda x: lrn_ref(x, 3, alpha=0.5)[0], [(2, 4, 2, 2)], {"nsize": 3, "alpha": 0.5}),
    (mx.nd.LRN, lambda x: lrn_ref(x, 5, 1.0, 0.6, 1.5)[0], [(1, 6, 1, 2)],
     {"nsize": 5, "alpha": 1.0, "beta": 0.6, "knorm": 1.5}),
]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_gradient_against_central_differences(case):
    op, ref, shapes, params = CASES[case]
    xs = [rand(s, "float64", 30 + i + case, -2, 2) for i, s in enumerate(shapes)]
    if len(xs) == 3:
        xs[1] = rand(shapes[1], "float64", 40 + case, 0.5, 2)
    hg = rand(ref(*xs).shape, "float64", 50 + case)
    y, grads = autograd(op, xs, hg, **params)
    close(y, ref(*xs), "float64")
    for got, want in zip(grads, numeric_grads(ref, xs, hg)):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("dtype", FLOATS)
def test_backward_ops_directly(dtype):
    x = rand((2, 6, 3), dtype, 60, -2, 2)
    g, b = rand((3,), dtype, 61, 0.5, 2), rand((3,), dtype, 62)
    hg = rand(x.shape, dtype, 63)
    out, mean, std = mx.nd.GroupNorm(nd(x), nd(g), nd(b), num_groups=3, output_mean_var=True)
    dx, dg, db = mx.nd._backward_GroupNorm(nd(hg), nd(x), nd(g), mean, std, num_groups=3)
    xh = ((out.asnumpy().astype(np.float64) - np.repeat(b, 2).reshape(1, 6, 1))
          / np.repeat(g, 2).reshape(1, 6, 1))
    close(db, hg.astype(np.float64).reshape(2, 3, 6).sum(axis=(0, 2)), dtype)
    close(dg, (hg * xh).reshape(2, 3, 6).sum(axis=(0, 2)), dtype)
    x64 = x.astype(np.float64)
    want = numeric_grads(lambda a: group_norm_ref(a, g.astype(np.float64), b, 3)[0], [x64.copy()],
                         hg.astype(np.float64))[0]
    np.testing.assert_allclose(dx.asnumpy().astype(np.float64), want, rtol=1e-3, atol=1e-4)
    # InstanceNorm's hidden stat is the variance; LayerNorm's and GroupNorm's the std
    x4 = np.ascontiguousarray(rand((2, 3, 4), dtype, 64)[:, :, :3])
    h4 = np.ascontiguousarray(hg[:, :3, :])
    dxi, dgi, dbi = mx.nd._backward_InstanceNorm(nd(h4), nd(x4), nd(g), nd(x4.mean(axis=2)), nd(x4.var(axis=2)))
    assert dxi.shape == (2, 3, 3) and dgi.shape == (3,) and dbi.shape == (3,)
    close(dbi, h4.astype(np.float64).sum(axis=(0, 2)), dtype)
    xh4 = (x4 - x4.mean(axis=2, keepdims=True)) / np.sqrt(x4.var(axis=2, keepdims=True) + 1e-3)
    close(dgi, (h4 * xh4).astype(np.float64).sum(axis=(0, 2)), dtype)
    # L2Normalization and LRN gradient ops
    x2 = rand((2, 3), dtype, 66)
    y2, n2 = l2_ref(x2)
    h2 = np.ascontiguousarray(hg[:, 0, :])
    dl2 = mx.nd._backward_L2Normalization(nd(h2), nd(y2.astype(dtype)), nd(n2.astype(dtype)))
    want = (h2 - y2 * (h2 * y2).sum(axis=1, keepdims=True)) / n2.reshape(2, 1)
    close(dl2, want, dtype)
    x5 = rand((1, 3, 1, 2), dtype, 67)
    _, tmp = lrn_ref(x5, 3)
    dlrn = mx.nd._backward_LRN(nd(x5), nd(x5), nd(tmp.astype(dtype)), nsize=3)
    want = numeric_grads(lambda a: lrn_ref(a, 3)[0], [x5.astype(np.float64)], x5.astype(np.float64))[0]
    np.testing.assert_allclose(dlrn.asnumpy().astype(np.float64), want, rtol=1e-3, atol=1e-5)


def _norm_grads(x, gamma_b, hg, axes, eps):
    """Reference gradients of (x - mean) / sqrt(var + eps) * gamma + beta, the moments over
    `axes`, gamma_b broadcast to x: d x and the full-shape d gamma / d beta terms."""
    mean, sd = x.mean(axis=axes, keepdims=True), np.sqrt(x.var(axis=axes, keepdims=True) + eps)
    xh = (x - mean) / sd
    w = hg * gamma_b
    dx = (w - w.mean(axis=axes, keepdims=True) - xh * (w * xh).mean(axis=axes, keepdims=True)) / sd
    return dx, hg * xh, hg


@pytest.mark.parametrize("dtype", FLOATS)
def test_long_rows_and_many_elements_per_gamma(dtype):
    """Rows and gamma entries spanning several GPU partial-sum chunks."""
    x = rand((1, 2, 30, 41), dtype, 90, -1, 3)
    g, b = rand((2,), dtype, 91, 0.5, 2), rand((2,), dtype, 92)
    hg = rand(x.shape, dtype, 93)
    y, (dx, dg, db) = autograd(mx.nd.InstanceNorm, [x, g, b], hg)
    x64, hg64 = x.astype(np.float64), hg.astype(np.float64)
    close(y, instance_norm_ref(x, g, b)[0], dtype)
    wdx, wdg, wdb = _norm_grads(x64, g.reshape(1, 2, 1, 1), hg64, (2, 3), 1e-3)
    for got, want in ((dx, wdx), (dg, wdg.sum(axis=(0, 2, 3))), (db, wdb.sum(axis=(0, 2, 3)))):
        np.testing.assert_allclose(got, want, **TOL[dtype])
    x = rand((1100, 3), dtype, 94, -1, 3)
    g, b = rand((3,), dtype, 95, 0.5, 2), rand((3,), dtype, 96)
    hg = rand(x.shape, dtype, 97)
    y, (dx, dg, db) = autograd(mx.nd.LayerNorm, [x, g, b], hg)
    close(y, layer_norm_ref(x, g, b)[0], dtype)
    wdx, wdg, wdb = _norm_grads(x.astype(np.float64), g, hg.astype(np.float64), (1,), 1e-5)
    for got, want in ((dx, wdx), (dg, wdg.sum(axis=0)), (db, wdb.sum(axis=0))):
        np.testing.assert_allclose(got, want, rtol=1e-3 if dtype == "float32" else 1e-9, atol=1e-3)
    x = rand((2, 1300), dtype, 98)
    hg = rand(x.shape, dtype, 99)
    y, (dx,) = autograd(mx.nd.L2Normalization, [x], hg)
    yr = l2_ref(x)[0]
    close(y, yr, dtype)
    n = np.sqrt((x.astype(np.float64) ** 2).sum(axis=1, keepdims=True) + 1e-10)
    np.testing.assert_allclose(dx, (hg - yr * (hg * yr).sum(axis=1, keepdims=True)) / n, **TOL[dtype])
    x = rand((2, 8, 600), dtype, 100)
    g, b = rand((8,), dtype, 101, 0.5, 2), rand((8,), dtype, 102)
    hg = rand(x.shape, dtype, 103)
    y, (dx, dg, db) = autograd(lambda *a: mx.nd.GroupNorm(*a, num_groups=2), [x, g, b], hg)
    close(y, group_norm_ref(x, g, b, 2)[0], dtype)
    xr, hr = x.astype(np.float64).reshape(2, 2, 4, 600), hg.astype(np.float64).reshape(2, 2, 4, 600)
    wdx, wdg, wdb = _norm_grads(xr, g.reshape(1, 2, 4, 1), hr, (2, 3), 1e-5)
    np.testing.assert_allclose(dx, wdx.reshape(x.shape), rtol=1e-3 if dtype == "float32" else 1e-9, atol=1e-4)
    np.testing.assert_allclose(dg, wdg.sum(axis=(0, 3)).reshape(8), rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(db, wdb.sum(axis=(0, 3)).reshape(8), rtol=1e-3, atol=1e-3)


def test_hidden_outputs_get_no_gradient():
    """MXNet ignores the gradients of mean/std: only the output's head gradient counts."""
    x = rand((3, 4), "float64", 70)
    g, b = rand((4,), "float64", 71, 0.5, 2), rand((4,), "float64", 72)
    xa = nd(x)
    xa.attach_grad()
    with mx.autograd.record():
        out, mean, std = mx.nd.LayerNorm(xa, nd(g), nd(b), output_mean_var=True)
    mx.autograd.backward([out, mean, std], [nd(np.ones((3, 4))), nd(np.ones((3, 1))), nd(np.ones((3, 1)))])
    want = numeric_grads(lambda a: layer_norm_ref(a, g, b)[0], [x.copy()], np.ones((3, 4)))[0]
    np.testing.assert_allclose(xa.grad.asnumpy(), want, rtol=1e-6, atol=1e-7)


def test_same_on_every_device():
    if mx.num_gpus() == 0:
        pytest.skip("no GPU")
    x = rand((3, 6, 2, 2), "float32", 80, -2, 2)
    g, b = rand((6,), "float32", 81, 0.5, 2), rand((6,), "float32", 82)
    res = []
    for ctx in (mx.cpu(0), mx.gpu(0)):
        a = [mx.nd.array(v, ctx=ctx) for v in (x, g, b)]
        res.append([o.asnumpy() for o in (
            mx.nd.LayerNorm(a[0], a[1][:2], a[2][:2]), mx.nd.InstanceNorm(*a),
            mx.nd.GroupNorm(a[0], a[1], a[2], num_groups=3), mx.nd.L2Normalization(a[0], mode="spatial"),
            mx.nd.LRN(a[0], nsize=3))])
    for c, gp in zip(*res):
        np.testing.assert_allclose(c, gp, rtol=1e-6, atol=1e-6)


# ---- symbols: parameter names, shape inference, outputs --------------------------------------
def test_symbol_shape_inference_fills_gamma_and_beta():
    x = mx.sym.var("data")
    ln = mx.sym.LayerNorm(x, name="ln", axis=1)
    assert ln.list_arguments() == ["data", "ln_gamma", "ln_beta"]
    args, outs, _ = ln.infer_shape(data=(2, 5, 3))
    assert args == [(2, 5, 3), (5,), (5,)] and outs == [(2, 5, 3)]
    lnm = mx.sym.LayerNorm(x, name="ln2", output_mean_var=True)
    _, outs, _ = lnm.infer_shape(data=(2, 5, 3))
    assert outs == [(2, 5, 3), (2, 5, 1), (2, 5, 1)]
    args, outs, _ = mx.sym.InstanceNorm(x, name="in").infer_shape(data=(2, 4, 3, 3))
    assert args == [(2, 4, 3, 3), (4,), (4,)] and outs == [(2, 4, 3, 3)]
    gn = mx.sym.GroupNorm(x, name="gn", num_groups=2, output_mean_var=True)
    args, outs, _ = gn.infer_shape(data=(3, 4, 5))
    assert args == [(3, 4, 5), (2,), (2,)]  # MXNet 1.x: one gamma per group
    assert outs == [(3, 4, 5), (3, 2), (3, 2)]
    args, _, _ = gn.infer_shape(data=(3, 4, 5), gn_gamma=(4,))
    assert args == [(3, 4, 5), (4,), (4,)]  # per channel when given so
    _, outs, _ = mx.sym.LRN(x, nsize=3).infer_shape(data=(1, 3, 2, 2))
    assert outs == [(1, 3, 2, 2)]


def test_gamma_and_beta_inferred_with_an_unknown_batch():
    x = mx.sym.var("data", shape=(0, 5, 3))  # 0: unknown extent
    args, outs, _ = mx.sym.LayerNorm(x, name="ln").infer_shape_partial()
    assert args == [(0, 5, 3), (3,), (3,)] and outs == [(0, 5, 3)]
    args, _, _ = mx.sym.InstanceNorm(x, name="in").infer_shape_partial()
    assert args == [(0, 5, 3), (5,), (5,)]
    args, _, _ = mx.sym.GroupNorm(x, name="gn", num_groups=5).infer_shape_partial()
    assert args == [(0, 5, 3), (5,), (5,)]


# ---- errors ---------------------------------------------------------------------------------
def test_errors():
    x = nd(rand((2, 4, 3), "float32", 90))
    g, b = nd(np.ones(3, "float32")), nd(np.zeros(3, "float32"))
    raises(lambda: mx.nd.LayerNorm(x, g, b, axis=3), "LayerNorm", "axis")
    raises(lambda: mx.nd.LayerNorm(x, nd(np.ones(4, "float32")), b), "LayerNorm", "gamma", "(3,)", "(4,)")
    raises(lambda: mx.nd.LayerNorm(x, g, nd(np.ones(2, "float32"))), "LayerNorm", "beta")
    raises(lambda: mx.nd.LayerNorm(nd(np.ones((2, 3), "int32")), nd(np.ones(3, "int32")), nd(np.ones(3, "int32"))),
           "LayerNorm", "int32")
    raises(lambda: mx.nd.LayerNorm(x, g, b, eps=-1), "LayerNorm", "eps")
    raises(lambda: mx.nd.InstanceNorm(nd(np.ones((2, 3), "float32")), g, b), "InstanceNorm", "3 dimensions",
           "(2, 3)")
    raises(lambda: mx.nd.InstanceNorm(x, g, b), "InstanceNorm", "gamma", "(4,)")
    raises(lambda: mx.nd.GroupNorm(x, g, b, num_groups=3), "GroupNorm", "num_groups=3", "4 channels")
    raises(lambda: mx.nd.GroupNorm(x, g, b, num_groups=2), "GroupNorm", "gamma", "(2,)", "(4,)", "got (3,)")
    raises(lambda: mx.nd.GroupNorm(x, nd(np.ones(2, "float32")), nd(np.ones(4, "float32")), num_groups=2),
           "GroupNorm", "(2,)", "(4,)")
    raises(lambda: mx.nd.GroupNorm(x, g, b, num_groups=0), "GroupNorm", "num_groups")
    raises(lambda: mx.nd.GroupNorm(nd(np.ones((2, 4), "float32")), g, b), "GroupNorm", "3 dimensions")
    raises(lambda: mx.nd.L2Normalization(x, mode="bogus"), "L2Normalization", "bogus")
    raises(lambda: mx.nd.L2Normalization(nd(np.ones((2, 3), "float32")), mode="channel"), "L2Normalization",
           "channel", "3 dimensions")
    raises(lambda: mx.nd.L2Normalization(nd(np.ones((2, 3), "float32")), mode="spatial"), "L2Normalization",
           "spatial")
    raises(lambda: mx.nd.LRN(nd(np.ones((1, 3, 2, 2), "float32"))), "LRN", "nsize")
    raises(lambda: mx.nd.LRN(nd(np.ones((1, 3, 2, 2), "float32")), nsize=2), "LRN", "nsize", "odd")
    raises(lambda: mx.nd.LRN(nd(np.ones((1, 3, 2, 2), "float32")), nsize=0), "LRN", "nsize")
    raises(lambda: mx.nd.LRN(x, nsize=3), "LRN", "4-D", "(2, 4, 3)")
    raises(lambda: mx.nd.LRN(nd(np.ones((1, 3, 2, 2), "int64")), nsize=3), "LRN", "int64")
    raises(lambda: mx.nd._backward_LRN(x, x, x, nsize=3), "_backward_LRN", "4-D")
    raises(lambda: mx.nd._backward_GroupNorm(x, x, g, nd(np.ones((2, 1), "float32")), nd(np.ones((2, 1), "float32")),
                                             num_groups=3), "_backward_GroupNorm", "num_groups")
