"""Forward tests of the internal ops that gradients are built from (_sum_to_like,
_reduce_grad, _dot_grad_lhs/_rhs and their batch forms, _digamma, _cast_like) against numpy
references. Their gradients are checked with every other op's in test_gradients.py."""
import math

import numpy as np
import pytest

import brass as mx

OPS_COVERED = {"_sum_to_like", "_reduce_grad", "_dot_grad_lhs", "_dot_grad_rhs", "_batch_dot_grad_lhs",
               "_batch_dot_grad_rhs", "_digamma", "_trigamma", "_cast_like"}


def nd(x):
    return mx.nd.array(x, dtype=x.dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32"])
@pytest.mark.parametrize("data,like", [((2, 3, 4), (3, 4)), ((2, 3, 4), (1, 3, 1)), ((2, 3, 4), (2, 3, 4)),
                                       ((5,), (1,)), ((4, 1, 6), (1, 6)), ((2, 0, 3), (1, 3)), ((300001,), (1,))])
def test_sum_to_like(dtype, data, like):
    rs = np.random.RandomState(1)
    x = rs.uniform(-3, 3, size=data).astype(dtype)
    l = np.zeros(like, dtype="float32")
    got = mx.nd._sum_to_like(nd(x), nd(l)).asnumpy()
    off = len(data) - len(like)
    axes = tuple(range(off)) + tuple(i + off for i, d in enumerate(like) if d == 1 and data[i + off] != 1)
    want = x.astype(np.float64).sum(axis=axes).reshape(like) if axes else x.astype(np.float64)
    assert got.shape == like and got.dtype == np.dtype(dtype)
    np.testing.assert_allclose(got, want.astype(dtype), rtol=1e-5 if dtype == "float32" else 1e-12, atol=1e-3)


def test_sum_to_like_errors():
    with pytest.raises(mx.BrassError, match=r"_sum_to_like: \(2, 5\) does not broadcast to \(2, 3\)"):
        mx.nd._sum_to_like(mx.nd.ones((2, 3)), mx.nd.ones((2, 5)))
    with pytest.raises(mx.BrassError, match="does not broadcast"):
        mx.nd._sum_to_like(mx.nd.ones((3,)), mx.nd.ones((2, 3)))


@pytest.mark.parametrize("params", [{}, {"axis": 1}, {"axis": (0, 2), "keepdims": True}, {"axis": 1, "exclude": True},
                                    {"axis": -1, "keepdims": True}])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_reduce_grad(params, dtype):
    rs = np.random.RandomState(2)
    x = rs.uniform(-3, 3, size=(2, 3, 4)).astype(dtype)
    reduced = mx.nd.sum(nd(x), **params)
    g = rs.uniform(-3, 3, size=reduced.shape).astype(dtype)
    got = mx.nd._reduce_grad(nd(g), nd(x), **params).asnumpy()
    axis = params.get("axis")
    axes = tuple(range(3)) if axis is None else ((axis,) if isinstance(axis, int) else axis)
    axes = tuple(a % 3 for a in axes)
    if params.get("exclude"):
        axes = tuple(a for a in range(3) if a not in axes)
    kept = [1 if i in axes else x.shape[i] for i in range(3)]
    np.testing.assert_array_equal(got, np.broadcast_to(g.reshape(kept), x.shape))


@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dot_grads(ta, tb, dtype):
    rs = np.random.RandomState(3)
    for m, k, n in [(3, 4, 5), (1, 1, 1), (17, 33, 15), (0, 2, 3), (2, 0, 3)]:
        a = rs.randn(*((k, m) if ta else (m, k))).astype(dtype)
        b = rs.randn(*((n, k) if tb else (k, n))).astype(dtype)
        g = rs.randn(m, n).astype(dtype)
        A, B = (a.T if ta else a), (b.T if tb else b)
        ga, gb = g @ B.T, A.T @ g
        r = 1e-4 if dtype == "float32" else 1e-12
        got_a = mx.nd._dot_grad_lhs(nd(g), nd(a), nd(b), transpose_a=ta, transpose_b=tb).asnumpy()
        got_b = mx.nd._dot_grad_rhs(nd(g), nd(a), nd(b), transpose_a=ta, transpose_b=tb).asnumpy()
        np.testing.assert_allclose(got_a, ga.T if ta else ga, rtol=r, atol=r)
        np.testing.assert_allclose(got_b, gb.T if tb else gb, rtol=r, atol=r)
        # batched: three independent products
        a3, b3 = np.stack([a, 2 * a, -a]), np.stack([b, b, 3 * b])
        g3 = rs.randn(3, m, n).astype(dtype)
        got_a3 = mx.nd._batch_dot_grad_lhs(nd(g3), nd(a3), nd(b3), transpose_a=ta, transpose_b=tb).asnumpy()
        got_b3 = mx.nd._batch_dot_grad_rhs(nd(g3), nd(a3), nd(b3), transpose_a=ta, transpose_b=tb).asnumpy()
        for i in range(3):
            Ai, Bi = (a3[i].T if ta else a3[i]), (b3[i].T if tb else b3[i])
            gai, gbi = g3[i] @ Bi.T, Ai.T @ g3[i]
            np.testing.assert_allclose(got_a3[i], gai.T if ta else gai, rtol=r, atol=r)
            np.testing.assert_allclose(got_b3[i], gbi.T if tb else gbi, rtol=r, atol=r)


def test_dot_grads_nd_and_errors():
    rs = np.random.RandomState(4)
    x, w, g = rs.randn(2, 3, 4), rs.randn(4, 5), rs.randn(2, 3, 5)
    got = mx.nd._dot_grad_lhs(nd(g), nd(x), nd(w)).asnumpy()
    np.testing.assert_allclose(got, g @ w.T, rtol=1e-12)
    got = mx.nd._dot_grad_rhs(nd(g), nd(x), nd(w)).asnumpy()
    np.testing.assert_allclose(got, x.reshape(6, 4).T @ g.reshape(6, 5), rtol=1e-12)
    with pytest.raises(mx.BrassError, match="_dot_grad_lhs: shape mismatch for out_grad"):
        mx.nd._dot_grad_lhs(nd(rs.randn(2, 2)), nd(x), nd(w))


def _digamma_ref(x):
    # recurrence up to 20, then the asymptotic series; or the reflection formula below 1/2
    if x < 0.5:
        return _digamma_ref(1 - x) - math.pi / math.tan(math.pi * x)
    r = 0.0
    while x < 20:
        r -= 1 / x
        x += 1
    f = 1 / (x * x)
    return r + math.log(x) - 0.5 / x - f * (1 / 12 - f * (1 / 120 - f * (1 / 252 - f * (1 / 240 - f / 132))))


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_digamma(dtype):
    x = np.array([0.1, 0.5, 1.0, 1.5, 2.0, 3.7, 9.99, 10.0, 57.0, 1e6, -0.5, -2.3, -7.9], dtype=dtype)
    want = np.array([_digamma_ref(float(v)) for v in x.astype(np.float64)])
    got = mx.nd._digamma(nd(x)).asnumpy().astype(np.float64)
    r = {"float64": 1e-13, "float32": 1e-6, "float16": 2e-3}[dtype]
    np.testing.assert_allclose(got, want.astype(dtype).astype(np.float64), rtol=r, atol=r)
    poles = mx.nd._digamma(mx.nd.array([0.0, -1.0, -2.0], dtype=dtype)).asnumpy()
    assert np.isnan(poles).all()
    assert abs(_digamma_ref(1.0) + 0.5772156649015329) < 1e-15  # -Euler's gamma


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_trigamma(dtype):
    x = np.array([0.1, 0.5, 1.0, 2.5, 9.99, 10.0, 57.0, 1e4, -0.5, -2.3], dtype=dtype)
    h = 1e-5  # the reference: a central difference of the digamma reference (error ~1e-10)
    want = np.array([(_digamma_ref(v + h) - _digamma_ref(v - h)) / (2 * h) for v in x.astype(np.float64)])
    got = mx.nd._trigamma(nd(x)).asnumpy().astype(np.float64)
    np.testing.assert_allclose(got, want, rtol=1e-6 if dtype == "float32" else 1e-8, atol=1e-9)
    assert abs(mx.nd._trigamma(mx.nd.array([1.0], dtype="float64")).asscalar() - math.pi ** 2 / 6) < 1e-14
    assert np.isnan(mx.nd._trigamma(mx.nd.array([0.0, -3.0], dtype=dtype)).asnumpy()).all()


@pytest.mark.parametrize("src,dst", [("float32", "float64"), ("float64", "float16"), ("float32", "int32"),
                                     ("int64", "float32"), ("bool", "float32")])
def test_cast_like(src, dst):
    x = np.array([1.7, -2.2, 3.0, 0.0]).astype(src)
    got = mx.nd._cast_like(nd(x), mx.nd.zeros((7,), dtype=dst))
    assert got.dtype == np.dtype(dst) and got.shape == (4,)
    np.testing.assert_array_equal(got.asnumpy(), mx.nd.Cast(nd(x), dtype=dst).asnumpy())
