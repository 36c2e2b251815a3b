"""The dense-layer operators against NumPy references: FullyConnected, Activation, Dropout,
softmax, log_softmax, SoftmaxOutput (and their internal gradient ops). Forward values for
float32 and float64 over edge shapes and every parameter that matters, gradients (the table
below is checked by test_gradients.py against central differences, first and second order;
SoftmaxOutput's MXNet gradient, which is not a derivative, is checked here), and errors.

Arrays are made without ctx=, so with BRASS_TEST_DEVICE=gpu the whole file runs on gpu(0)."""
import numpy as np
import pytest

import brass as mx
from grad_table import Grad, In

# Operators this file tests (read by the completeness test in test_op_table.py).
OPS_COVERED = {"FullyConnected"}

# Gradient cases (test_gradients.py checks them with the others, first and second order).
GRADIENTS = {
    "FullyConnected": [
        Grad([In((2, 3)), In((4, 3)), In((4,))], {"num_hidden": 4}),
        Grad([In((2, 3, 2)), In((3, 6)), In((3,))], {"num_hidden": 3}),
        Grad([In((2, 3, 2)), In((3, 2)), In((3,))], {"num_hidden": 3, "flatten": False}),
        Grad([In((3, 2)), In((2, 2))], {"num_hidden": 2, "no_bias": True}),
        Grad([In((3,)), In((2, 1)), In((2,))], {"num_hidden": 2}),
    ],
}
# Ops whose gradient has no gradient (asking for a second derivative is a clear error).
NO_SECOND_ORDER = set()
# Ops whose gradient is not the derivative of their forward (MXNet's loss layers).
NOT_A_DERIVATIVE = set()

FLOATS = ["float32", "float64"]


def tol(dtype):
    return dict(rtol=1e-5, atol=1e-5) if dtype == "float32" else dict(rtol=1e-12, atol=1e-12)


def rand(shape, dtype="float64", seed=0, lo=-2.0, hi=2.0):
    return np.random.RandomState(seed).uniform(lo, hi, size=shape).astype(dtype)


def nd(a, dtype=None):
    a = np.asarray(a)
    return mx.nd.array(a, dtype=dtype or a.dtype)


def raises(fn, *words):
    """fn() (including waiting for its result) raises BrassError naming every word."""
    with pytest.raises(mx.BrassError) as e:
        r = fn()
        for x in r if isinstance(r, (list, tuple)) else [r]:
            x.asnumpy()
    msg = str(e.value)
    for w in words:
        assert str(w) in msg, (w, msg)
    return msg


def grads_of(fn, arrays, head=None):
    """Autograd gradients of fn(*arrays) for the head gradient `head` (ones by default)."""
    for a in arrays:
        a.attach_grad()
    with mx.autograd.record():
        y = fn(*arrays)
    y.backward(None if head is None else nd(head, np.dtype(y.dtype).name))
    return y, [a.grad.asnumpy() for a in arrays]


# ---- FullyConnected ---------------------------------------------------------------------------
def fc_ref(x, w, b, flatten):
    x = x.astype(np.float64)
    k = w.shape[1]
    x2 = x.reshape(x.shape[0], k) if flatten else x.reshape(-1, k)
    y = x2 @ w.astype(np.float64).T
    if b is not None:
        y = y + b
    return y if flatten else y.reshape(x.shape[:-1] + (w.shape[0],))


FC_CASES = [((1, 3), 4, True), ((5, 7), 3, True), ((2, 3, 4), 5, True), ((2, 3, 4), 5, False),
            ((7,), 2, True), ((4,), 3, False), ((3, 1, 1), 1, True), ((0, 3), 2, True), ((2, 0), 3, True),
            ((17, 33), 9, True), ((2, 2, 3, 5), 6, False)]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("no_bias", [False, True])
@pytest.mark.parametrize("shape,h,flatten", FC_CASES)
def test_fully_connected(shape, h, flatten, no_bias, dtype):
    x = rand(shape, dtype, 1)
    k = int(np.prod(shape[1:])) if flatten else shape[-1]
    w = rand((h, k), dtype, 2)
    b = None if no_bias else rand((h,), dtype, 3)
    args = [nd(x), nd(w)] + ([] if no_bias else [nd(b)])
    y = mx.nd.FullyConnected(*args, num_hidden=h, no_bias=no_bias, flatten=flatten)
    want = fc_ref(x, w, b, flatten)
    assert y.shape == want.shape and y.dtype == np.dtype(dtype)
    np.testing.assert_allclose(y.asnumpy(), want, **tol(dtype))


def test_fully_connected_keywords_and_default_flatten():
    x, w, b = rand((2, 2, 3), seed=4), rand((3, 6), seed=5), rand((3,), seed=6)
    y = mx.nd.FullyConnected(data=nd(x), weight=nd(w), bias=nd(b), num_hidden=3)
    np.testing.assert_allclose(y.asnumpy(), fc_ref(x, w, b, True), rtol=1e-12)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("flatten", [True, False])
def test_fully_connected_gradient_formula(flatten, dtype):
    """Autograd gives g . W (reshaped), g^T . X and sum(g) (on every device, both dtypes)."""
    x, w, b = rand((2, 3, 4), dtype, 7), rand((5, 12 if flatten else 4), dtype, 8), rand((5,), dtype, 9)
    out_shape = (2, 5) if flatten else (2, 3, 5)
    g = rand(out_shape, dtype, 10)
    _, (gx, gw, gb) = grads_of(lambda a, c, d: mx.nd.FullyConnected(a, c, d, num_hidden=5, flatten=flatten),
                               [nd(x), nd(w), nd(b)], g)
    g2 = g.reshape(-1, 5).astype(np.float64)
    x2 = x.reshape(2, -1) if flatten else x.reshape(-1, 4)
    np.testing.assert_allclose(gx, (g2 @ w).reshape(x.shape), **tol(dtype))
    np.testing.assert_allclose(gw, g2.T @ x2, **tol(dtype))
    np.testing.assert_allclose(gb, g2.sum(0), **tol(dtype))
    assert gx.dtype == gw.dtype == gb.dtype == np.dtype(dtype)


def test_fully_connected_errors():
    x = nd(rand((2, 3)))
    raises(lambda: mx.nd.FullyConnected(x, nd(rand((4, 2))), nd(rand((4,))), num_hidden=4),
           "FullyConnected", "weight", "(4, 2)", "(4, 3)")
    raises(lambda: mx.nd.FullyConnected(x, nd(rand((5, 3))), nd(rand((4,))), num_hidden=4),
           "FullyConnected", "weight", "(5, 3)")
    raises(lambda: mx.nd.FullyConnected(x, nd(rand((4, 3))), nd(rand((3,))), num_hidden=4),
           "FullyConnected", "bias", "(3,)")
    raises(lambda: mx.nd.FullyConnected(x, nd(rand((4, 3))), nd(rand((4,)))), "FullyConnected", "num_hidden")
    raises(lambda: mx.nd.FullyConnected(x, nd(rand((4, 3))), nd(rand((4,))), num_hidden=0),
           "FullyConnected", "num_hidden")
    raises(lambda: mx.nd.FullyConnected(x, nd(rand((4, 3))), num_hidden=4), "FullyConnected")  # bias missing
    xi = nd(np.ones((2, 3), dtype="int32"))
    raises(lambda: mx.nd.FullyConnected(xi, nd(np.ones((4, 3), "int32")), nd(np.ones(4, "int32")), num_hidden=4),
           "FullyConnected", "int32")
    raises(lambda: mx.nd.FullyConnected(nd(rand((2, 3), "float32")), nd(rand((4, 3))), nd(rand((4,))), num_hidden=4),
           "FullyConnected", "float")
    scalar = mx.nd.array(np.ones(1), dtype="float64").reshape(())
    raises(lambda: mx.nd.FullyConnected(scalar, nd(rand((4, 1))), nd(rand((4,))), num_hidden=4), "FullyConnected", "axis")
    assert (mx.nd.ones((2,)) + 1).asnumpy().tolist() == [2.0, 2.0]  # still usable
