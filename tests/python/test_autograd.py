"""Imperative autograd, MXNet 1.x semantics: the recording and training switches and their
scopes, grad_req, backward and autograd.grad, higher-order gradients (create_graph), stopping
gradients, accumulation through shared values, and the errors a user can cause (each a
BrassError naming the problem, after which the process keeps working).

The element-wise, scalar, sum/mean and dot gradients are used throughout; the shape and
indexing ops (Reshape, transpose, slice, Concat, take) each have their own test at the end.
"""
import numpy as np
import pytest

import brass as mx
from brass import autograd as ag


mul, plus = mx.nd.elemwise_mul, mx.nd.elemwise_add


def arr(x):
    return mx.nd.array(np.asarray(x, dtype=np.float64), dtype=np.float64)


def rand(shape, seed, lo=-2.0, hi=2.0):
    return np.random.RandomState(seed).uniform(lo, hi, shape)


def variable(x, grad_req="write"):
    a = arr(x)
    a.attach_grad(grad_req)
    return a


def close(got, want, rtol=1e-12, atol=1e-12):
    got = got.asnumpy() if hasattr(got, "asnumpy") else np.asarray(got)
    np.testing.assert_allclose(got, np.asarray(want, dtype=np.float64), rtol=rtol, atol=atol)


def still_works():
    """A fresh gradient computation gives the right answer (after an error)."""
    assert not ag.is_recording()
    x = variable([1.0, -2.0, 3.0])
    with ag.record():
        y = mul(x, x)
    y.backward()
    close(x.grad, [2.0, -4.0, 6.0])


# ---- switches and scopes -----------------------------------------------------------------------
def test_default_state():
    assert ag.is_recording() is False
    assert ag.is_training() is False


def test_record_sets_recording_and_training_and_restores():
    with ag.record():
        assert ag.is_recording() and ag.is_training()
    assert not ag.is_recording() and not ag.is_training()
    with ag.record(train_mode=False):
        assert ag.is_recording() and not ag.is_training()
    assert not ag.is_recording() and not ag.is_training()


def test_pause_inside_record():
    with ag.record():
        with ag.pause():
            assert not ag.is_recording() and not ag.is_training()
            with ag.pause(train_mode=True):
                assert not ag.is_recording() and ag.is_training()
            assert not ag.is_recording() and not ag.is_training()
        assert ag.is_recording() and ag.is_training()
    assert not ag.is_recording() and not ag.is_training()


def test_train_and_predict_mode_leave_recording_alone():
    with ag.train_mode():
        assert ag.is_training() and not ag.is_recording()
        with ag.predict_mode():
            assert not ag.is_training() and not ag.is_recording()
        assert ag.is_training()
    assert not ag.is_training()
    with ag.record():
        with ag.predict_mode():
            assert ag.is_recording() and not ag.is_training()
            with ag.train_mode():
                assert ag.is_recording() and ag.is_training()
            assert not ag.is_training()
        assert ag.is_recording() and ag.is_training()
    assert not ag.is_recording() and not ag.is_training()


def test_nested_record_and_restoring_after_an_exception():
    with ag.record(train_mode=False):
        with ag.record():
            assert ag.is_recording() and ag.is_training()
        assert ag.is_recording() and not ag.is_training()
    with pytest.raises(ZeroDivisionError):
        with ag.record():
            with ag.pause(train_mode=True):
                1 / 0
    assert not ag.is_recording() and not ag.is_training()


def test_set_recording_and_set_training_return_the_previous_state():
    assert ag.set_recording(True) is False
    try:
        assert ag.is_recording()
        assert ag.set_recording(True) is True
    finally:
        assert ag.set_recording(False) is True
    assert ag.set_training(True) is False
    assert ag.set_training(False) is True
    assert not ag.is_recording() and not ag.is_training()


def test_pause_stops_recording():
    x = variable([1.0, 2.0])
    with ag.record():
        y = mul(x, x)
        with ag.pause():
            z = y * 3.0  # not recorded: z is a constant
        w = mul(y, z)
    w.backward()
    # d/dx (x^2 * const) with const = 3 x^2
    close(x.grad, 2 * np.array([1.0, 2.0]) * 3 * np.array([1.0, 4.0]))
    with pytest.raises(mx.BrassError, match="recorded graph"):
        z.backward()
    still_works()


# ---- grad_req -----------------------------------------------------------------------------------
def test_grad_req_write_overwrites():
    x = variable([1.0, 2.0, 3.0])
    for _ in range(2):
        with ag.record():
            y = mul(x, x)
        y.backward()
        close(x.grad, [2.0, 4.0, 6.0])


def test_grad_req_add_accumulates():
    x = variable([1.0, 2.0, 3.0], "add")
    close(x.grad, [0.0, 0.0, 0.0])
    with ag.record():
        y = mul(x, x)
    y.backward()
    close(x.grad, [2.0, 4.0, 6.0])
    with ag.record():
        y = x * 5.0
    y.backward()
    close(x.grad, [7.0, 9.0, 11.0])
    x.attach_grad("add")  # a fresh gradient buffer of zeros
    close(x.grad, [0.0, 0.0, 0.0])


def test_grad_req_null():
    x = variable([1.0, 2.0], "null")
    w = variable([3.0, 4.0])
    assert x.grad is None
    with ag.record():
        y = mul(x, w)
    y.backward()
    assert x.grad is None
    close(w.grad, [1.0, 2.0])
    with ag.record():
        z = x * 2.0
    with pytest.raises(mx.BrassError):
        z.backward()  # depends on no variable that takes a gradient
    still_works()


def test_grad_is_none_without_attach_grad():
    assert arr([1.0]).grad is None


def test_bad_grad_req_is_rejected():
    with pytest.raises((ValueError, mx.BrassError)):
        arr([1.0]).attach_grad("sometimes")


# ---- backward ---------------------------------------------------------------------------------
def test_backward_of_a_non_scalar_uses_ones():
    v = rand((2, 3), 0)
    x = variable(v)
    with ag.record():
        y = mul(x, x)
    assert y.shape == (2, 3)
    y.backward()
    close(x.grad, 2 * v)


def test_backward_with_out_grad():
    v, g = rand((2, 3), 1), rand((2, 3), 2)
    x = variable(v)
    with ag.record():
        y = mx.nd.sin(x)
    y.backward(out_grad=arr(g))
    close(x.grad, np.cos(v) * g)


def test_backward_with_out_grad_of_the_wrong_shape():
    x = variable([1.0, 2.0])
    with ag.record():
        y = mul(x, x)
    with pytest.raises(mx.BrassError, match="shape"):
        y.backward(out_grad=arr([1.0, 2.0, 3.0]))
    still_works()


def test_backward_of_several_heads_sums():
    v = rand((4,), 3)
    x = variable(v)
    with ag.record():
        a = mx.nd.exp(x)
        b = x * 3.0
    ag.backward([a, b], [arr(np.ones(4)), arr(np.full(4, 2.0))])
    close(x.grad, np.exp(v) + 6.0)


def test_backward_twice_needs_retain_graph():
    x = variable([1.0, 2.0])
    with ag.record():
        y = mul(x, x)
    y.backward()
    with pytest.raises(mx.BrassError, match="retain_graph"):
        y.backward()
    still_works()


def test_backward_twice_with_retain_graph():
    x = variable([1.0, 2.0], "add")
    with ag.record():
        y = mx.nd.exp(x)
    y.backward(retain_graph=True)
    close(x.grad, np.exp([1.0, 2.0]))
    y.backward(retain_graph=True)
    close(x.grad, 2 * np.exp([1.0, 2.0]))
    y.backward()  # the last one may free the graph
    close(x.grad, 3 * np.exp([1.0, 2.0]))
    with pytest.raises(mx.BrassError, match="retain_graph"):
        y.backward()


def test_explicit_mark_variables():
    x = arr([1.0, 2.0, 3.0])
    g = arr([0.0, 0.0, 0.0])
    ag.mark_variables([x], [g])
    with ag.record():
        y = mul(mul(x, x), x)
    y.backward()
    close(g, 3 * np.array([1.0, 4.0, 9.0]))
    close(x.grad, g.asnumpy())


# ---- autograd.grad -----------------------------------------------------------------------------
def test_grad_returns_arrays_and_leaves_grad_alone():
    v, u = rand((3,), 4), rand((3,), 5)
    x, w = variable(v), variable(u)
    with ag.record():
        y = plus(mul(x, w), mx.nd.tanh(x))
    gx, gw = ag.grad(y, [x, w])
    close(gx, u + 1 - np.tanh(v) ** 2)
    close(gw, v)
    assert gx.shape == (3,) and gx.dtype == np.float64
    close(x.grad, np.zeros(3))
    close(w.grad, np.zeros(3))


def test_grad_with_head_grads_and_retain_graph():
    v, g = rand((2, 2), 6), rand((2, 2), 7)
    x = variable(v)
    with ag.record():
        y = mul(x, x)
    (gx,) = ag.grad([y], [x], head_grads=[arr(g)], retain_graph=True)
    close(gx, 2 * v * g)
    y.backward()  # the graph was kept
    close(x.grad, 2 * v)


def test_grad_without_retain_graph_frees_the_graph():
    x = variable([1.0, 2.0])
    with ag.record():
        y = mul(x, x)
    ag.grad(y, [x])
    with pytest.raises(mx.BrassError, match="retain_graph"):
        ag.grad(y, [x])
    still_works()


# ---- higher order (create_graph) ---------------------------------------------------------------
def _second_derivative(f, v):
    x = variable(v)
    with ag.record():
        y = f(x)
        (dx,) = ag.grad(y, [x], create_graph=True)
    dx.backward()
    return dx, x.grad


SECOND = {
    "tanh": (mx.nd.tanh, lambda v: 1 - np.tanh(v) ** 2, lambda v: -2 * np.tanh(v) * (1 - np.tanh(v) ** 2)),
    "sigmoid": (mx.nd.sigmoid, lambda v: (1 / (1 + np.exp(-v))) * (1 - 1 / (1 + np.exp(-v))),
                lambda v: (lambda s: s * (1 - s) * (1 - 2 * s))(1 / (1 + np.exp(-v)))),
    "exp": (mx.nd.exp, np.exp, np.exp),
    "mul": (lambda x: mx.nd.elemwise_mul(x, x), lambda v: 2 * v, lambda v: np.full_like(v, 2.0)),
    "broadcast_mul": (lambda x: x * x, lambda v: 2 * v, lambda v: np.full_like(v, 2.0)),
}


@pytest.mark.parametrize("name", sorted(SECOND))
def test_second_derivative(name):
    f, d1, d2 = SECOND[name]
    v = rand((2, 5), 8)
    dx, ddx = _second_derivative(f, v)
    close(dx, d1(v))
    close(ddx, d2(v))


def test_second_derivative_of_a_composition():
    # f(x) = sin(x) * exp(x): f'' = 2 cos(x) exp(x)
    v = rand((6,), 9)
    dx, ddx = _second_derivative(lambda x: mul(mx.nd.sin(x), mx.nd.exp(x)), v)
    close(dx, (np.cos(v) + np.sin(v)) * np.exp(v))
    close(ddx, 2 * np.cos(v) * np.exp(v))


def test_third_derivative():
    v = rand((4,), 10, 0.5, 2.0)
    x = variable(v)
    with ag.record():
        y = mul(mul(x, x), mul(x, x))
        (d1,) = ag.grad(y, [x], create_graph=True)
        (d2,) = ag.grad(d1, [x], create_graph=True)
    d2.backward()
    close(d1, 4 * v ** 3)
    close(d2, 12 * v ** 2)
    close(x.grad, 24 * v)


def test_gradient_of_the_gradient_of_sum_dot():
    # L = sum(dot(x, w)); dL/dx = 1 w^T, which does not depend on x, and
    # d/dw <G, dL/dx> = (sum_i G_ik) for every column j.
    xv, wv, G = rand((3, 4), 11), rand((4, 5), 12), rand((3, 4), 13)
    x, w = variable(xv), variable(wv)
    with ag.record():
        L = mx.nd.sum(mx.nd.dot(x, w))
        (gx,) = ag.grad(L, [x], create_graph=True)
    close(gx, np.ones((3, 5)) @ wv.T)
    (gw,) = ag.grad(gx, [w], head_grads=arr(G), retain_graph=True)
    close(gw, np.repeat(G.sum(0)[:, None], 5, axis=1))
    gx.backward(arr(G))
    close(w.grad, np.repeat(G.sum(0)[:, None], 5, axis=1))
    close(x.grad, np.zeros((3, 4)))


def test_gradient_of_the_gradient_of_sum_square_dot():
    # L = sum((x w)^2): dL/dx = 2 x w w^T; with head G on it,
    # d/dx = 2 G w w^T and d/dw = 2 (x^T G w + G^T x w).
    xv, wv, G = rand((3, 4), 14), rand((4, 5), 15), rand((3, 4), 16)
    x, w = variable(xv), variable(wv)
    with ag.record():
        L = mx.nd.sum(mx.nd.square(mx.nd.dot(x, w)))
        (gx,) = ag.grad(L, [x], create_graph=True)
    close(gx, 2 * xv @ wv @ wv.T)
    gx.backward(arr(G))
    close(x.grad, 2 * G @ wv @ wv.T)
    close(w.grad, 2 * (xv.T @ G @ wv + G.T @ xv @ wv))


# ---- stopping gradients --------------------------------------------------------------------------
def test_detach_stops_gradients():
    v = rand((5,), 17)
    x = variable(v)
    with ag.record():
        d = x.detach()
        y = mul(x, d)
    y.backward()
    close(x.grad, v)  # not 2 v
    close(d, v)
    assert d.grad is None


def test_block_grad_stops_gradients():
    v = rand((5,), 18)
    x = variable(v)
    with ag.record():
        y = mul(x, mx.nd.BlockGrad(mx.nd.exp(x)))
    y.backward()
    close(x.grad, np.exp(v))
    with ag.record():
        z = mx.nd.stop_gradient(mul(x, x))
    z.backward()  # a path, through which nothing flows
    close(x.grad, np.zeros(5))


# ---- graph shapes -------------------------------------------------------------------------------
CHAIN = [  # (brass op, numpy value, numpy derivative)
    (mx.nd.sin, np.sin, np.cos),
    (lambda a: a * 1.5, lambda v: v * 1.5, lambda v: np.full_like(v, 1.5)),
    (mx.nd.tanh, np.tanh, lambda v: 1 - np.tanh(v) ** 2),
    (lambda a: a + 2.0, lambda v: v + 2.0, np.ones_like),
    (mx.nd.log, np.log, lambda v: 1 / v),
    (mx.nd.exp, np.exp, np.exp),
    (lambda a: a - 0.5, lambda v: v - 0.5, np.ones_like),
    (mx.nd.square, np.square, lambda v: 2 * v),
    (mx.nd.sqrt, np.sqrt, lambda v: 0.5 / np.sqrt(v)),
    (lambda a: 1.0 / a, lambda v: 1.0 / v, lambda v: -1 / v ** 2),
    (mx.nd.sigmoid, lambda v: 1 / (1 + np.exp(-v)), lambda v: np.exp(-v) / (1 + np.exp(-v)) ** 2),
    (lambda a: 3.0 - a, lambda v: 3.0 - v, lambda v: -np.ones_like(v)),
    (mx.nd.cos, np.cos, lambda v: -np.sin(v)),
    (lambda a: a / 2.0, lambda v: v / 2.0, lambda v: np.full_like(v, 0.5)),
    (mx.nd.arctan, np.arctan, lambda v: 1 / (1 + v ** 2)),
    (mx.nd.negative, np.negative, lambda v: -np.ones_like(v)),
    (mx.nd.sinh, np.sinh, np.cosh),
    (lambda a: a ** 2.0, lambda v: v ** 2.0, lambda v: 2 * v),
    (mx.nd.log1p, np.log1p, lambda v: 1 / (1 + v)),
    (mx.nd.relu, lambda v: np.maximum(v, 0), lambda v: (v > 0).astype(np.float64)),
    (lambda a: mul(a, a), np.square, lambda v: 2 * v),
]


def test_chain_of_twenty_ops():
    v = rand((7,), 19, 0.1, 1.0)
    x = variable(v)
    with ag.record():
        y = x
        for f, _, _ in CHAIN:
            y = f(y)
    y.backward()
    want, cur = np.ones_like(v), v
    for _, f, df in CHAIN:
        want = want * df(cur)
        cur = f(cur)
    close(y, cur)
    close(x.grad, want, rtol=1e-10)


def test_variable_used_twice_accumulates():
    v = rand((4,), 20)
    x = variable(v)
    with ag.record():
        y = plus(mul(x, x), x)
    y.backward()
    close(x.grad, 2 * v + 1)
    with ag.record():
        a = mx.nd.sin(x)
        b = mx.nd.exp(x)
        z = plus(mul(a, b), plus(a, x))  # x reaches z on four paths
    z.backward()
    close(x.grad, np.cos(v) * np.exp(v) + np.sin(v) * np.exp(v) + np.cos(v) + 1)


def test_value_used_by_many_consumers():
    v = rand((3,), 21)
    x = variable(v)
    with ag.record():
        h = mx.nd.tanh(x)
        total = h
        for k in range(2, 12):
            total = plus(total, h * float(k))
    total.backward()
    close(x.grad, (1 - np.tanh(v) ** 2) * (1 + sum(range(2, 12))))


def test_constant_inputs():
    v, c = rand((2, 3), 22), rand((2, 3), 23)
    x, k = variable(v), arr(c)
    with ag.record():
        y = plus(mul(x, k), mx.nd.exp(k) * 2.0)
    y.backward()
    close(x.grad, c)
    assert k.grad is None


def test_sum_and_mean_with_axes():
    v, g = rand((2, 3, 4), 24), rand((2, 4), 25)
    x = variable(v)
    with ag.record():
        y = mx.nd.sum(x, axis=1)
    y.backward(arr(g))
    close(x.grad, np.repeat(g[:, None, :], 3, axis=1))
    with ag.record():
        z = mx.nd.mean(x, axis=(0, 2), keepdims=True)
    z.backward()
    close(x.grad, np.full((2, 3, 4), 1 / 8))


def test_broadcast_gradients_reduce_to_the_input_shape():
    a, b, g = rand((3, 1), 26), rand((1, 4), 27), rand((3, 4), 28)
    x, w = variable(a), variable(b)
    with ag.record():
        y = mx.nd.broadcast_mul(x, w) + mx.nd.broadcast_div(x, w + 3.0)
    y.backward(arr(g))
    close(x.grad, (g * (b + 1 / (b + 3.0))).sum(1, keepdims=True))
    close(w.grad, (g * (a - a / (b + 3.0) ** 2)).sum(0, keepdims=True))


def test_python_operators():
    # x * w, x / w, x + 1, 2 - x, -x, x ** 2 on NDArrays: the broadcast_* and scalar ops.
    a, b = rand((2, 3), 41), rand((2, 3), 42, 0.5, 2.0)
    x, w = variable(a), variable(b)
    with ag.record():
        y = x * w + x / w - (2.0 - x) * 3.0 + (-x) ** 2.0
    y.backward()
    close(x.grad, b + 1 / b + 3.0 + 2 * a)
    close(w.grad, a - a / b ** 2)


def test_sum_of_a_product():
    v = rand((3,), 43)
    x = variable(v)
    with ag.record():
        y = mx.nd.sum(x * x)
    assert y.shape == (1,)
    y.backward()
    close(x.grad, 2 * v)


def test_zero_size_arrays():
    x = variable(np.zeros((0, 3)))
    with ag.record():
        y = mx.nd.exp(x) * 2.0
    y.backward()
    assert x.grad.shape == (0, 3)


def test_float32_gradients():
    v = np.array([0.5, -1.0, 2.0], dtype=np.float32)
    x = mx.nd.array(v)
    x.attach_grad()
    with ag.record():
        y = mul(mx.nd.exp(x), x)
    y.backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad.asnumpy(), np.exp(v) * (v + 1), rtol=1e-6)


# ---- errors ---------------------------------------------------------------------------------------
def test_backward_of_an_unrecorded_array():
    x = variable([1.0, 2.0])
    y = x * 2.0  # outside record()
    with pytest.raises(mx.BrassError, match="record"):
        y.backward()
    still_works()
    with ag.record():
        z = arr([1.0, 2.0]) * 2.0  # recorded, but from no variable
    with pytest.raises(mx.BrassError, match="record"):
        z.backward()
    still_works()


def test_grad_of_a_variable_without_attach_grad():
    x, c = variable([1.0, 2.0]), arr([3.0, 4.0])
    with ag.record():
        y = mul(x, c)
    with pytest.raises(mx.BrassError, match="attach_grad"):
        ag.grad(y, [c])
    still_works()


def test_writing_into_a_variable_inside_record():
    x = variable([1.0, 2.0])
    with pytest.raises(mx.BrassError, match="attach_grad") as e:
        with ag.record():
            x += 1
    assert "record" in str(e.value)
    assert not ag.is_recording()
    close(x, [1.0, 2.0])  # left unchanged
    x += 1  # outside record() it is allowed
    close(x, [2.0, 3.0])
    with ag.record():
        y = mul(x, x)
    y.backward()
    close(x.grad, [4.0, 6.0])
    still_works()


def test_mark_variables_with_a_wrong_shape_gradient():
    x = arr([1.0, 2.0, 3.0])
    with pytest.raises(mx.BrassError, match="shape") as e:
        ag.mark_variables([x], [arr([0.0, 0.0])])
    assert "mark_variables" in str(e.value)
    assert x.grad is None
    with pytest.raises(mx.BrassError, match="mark_variables"):
        ag.mark_variables([x, x], [arr([0.0, 0.0, 0.0])])
    still_works()


# ---- shape and indexing ops (gradients written by another helper) ---------------------------------
def test_reshape_gradient():
    v, g = rand((2, 3, 4), 30), rand((4, 6), 31)
    x = variable(v)
    with ag.record():
        y = mx.nd.Reshape(x, shape=(4, -1)) * 2.0
    y.backward(arr(g))
    close(x.grad, 2 * g.reshape(2, 3, 4))


def test_reshape_method_is_recorded():
    # MXNet records NDArray.reshape (ReshapeWithRecord) even where it is a view.
    v, g = rand((2, 3, 4), 30), rand((6, 4), 31)
    x = variable(v)
    with ag.record():
        z = x.reshape((6, 4))
    z.backward(arr(g))
    close(x.grad, g.reshape(2, 3, 4))


def test_transpose_gradient():
    v, g = rand((2, 3, 4), 32), rand((4, 2, 3), 33)
    x = variable(v)
    with ag.record():
        y = mx.nd.transpose(x, axes=(2, 0, 1))
    y.backward(arr(g))
    close(x.grad, g.transpose(1, 2, 0))
    with ag.record():
        z = mx.nd.sum(x.T * arr(v.T))
    z.backward()
    close(x.grad, v)


def test_slice_gradient():
    v, g = rand((4, 5), 34), rand((2, 2), 35)
    x = variable(v)
    with ag.record():
        y = mx.nd.slice(x, begin=(1, 0), end=(3, 4), step=(1, 2))
    y.backward(arr(g))
    want = np.zeros((4, 5))
    want[1:3, 0:4:2] = g
    close(x.grad, want)


def test_basic_indexing_is_recorded():
    # MXNet records x[1:3] and x[i] (SliceWithRecord, AtWithRecord) even where they are views.
    v = rand((4, 5), 34)
    x = variable(v)
    with ag.record():
        z = x[1:3] * 3.0
    z.backward()
    want = np.zeros((4, 5))
    want[1:3] = 3.0
    close(x.grad, want)
    with ag.record():
        z = x[2] * 2.0
    z.backward()
    want = np.zeros((4, 5))
    want[2] = 2.0
    close(x.grad, want)
    with ag.record():
        z = x[:, 1:4:2] * 5.0
    z.backward()
    want = np.zeros((4, 5))
    want[:, 1:4:2] = 5.0
    close(x.grad, want)


def test_concat_gradient():
    a, b, g = rand((2, 3), 36), rand((2, 2), 37), rand((2, 5), 38)
    x, w = variable(a), variable(b)
    with ag.record():
        y = mx.nd.Concat(x, w, dim=1)
    y.backward(arr(g))
    close(x.grad, g[:, :3])
    close(w.grad, g[:, 3:])
    with ag.record():
        z = mx.nd.concat(x, x, dim=0)  # the same variable twice
    z.backward(arr(np.concatenate([g[:, :3], 2 * g[:, :3]])))
    close(x.grad, 3 * g[:, :3])


def test_take_gradient():
    v = rand((4, 3), 39)
    idx = np.array([0, 2, 2, 3, 0, 0], dtype=np.float64)
    g = rand((6, 3), 40)
    x = variable(v)
    with ag.record():
        y = mx.nd.take(x, arr(idx))
    y.backward(arr(g))
    want = np.zeros((4, 3))
    np.add.at(want, idx.astype(int), g)  # repeated indices accumulate
    close(x.grad, want)


# ---- autograd.Function ---------------------------------------------------------------------
class _MulAdd(mx.autograd.Function):
    """(x * y, x + y) with a hand-written backward."""

    def forward(self, x, y):
        self.save_for_backward(x, y)
        return x * y, x + y

    def backward(self, d_prod, d_sum):
        x, y = self.saved_tensors
        return d_prod * y + d_sum, d_prod * x + d_sum


def test_custom_function_gradients_with_several_inputs_and_outputs():
    xv, yv = np.array([1.0, -2.0, 0.5]), np.array([3.0, 0.25, -1.0])
    x, y = mx.nd.array(xv, dtype="float64"), mx.nd.array(yv, dtype="float64")
    x.attach_grad()
    y.attach_grad()
    with mx.autograd.record():
        p, s = _MulAdd()(mx.nd.exp(x), y)
        loss = (p * 2 + s * s).sum()
    loss.backward()
    e = np.exp(xv)
    np.testing.assert_allclose(x.grad.asnumpy(), (2 * yv + 2 * (e + yv)) * e, rtol=1e-12)
    np.testing.assert_allclose(y.grad.asnumpy(), 2 * e + 2 * (e + yv), rtol=1e-12)


def test_custom_function_outside_record_is_plain_and_single_use():
    f = _MulAdd()
    p, s = f(mx.nd.array([2.0]), mx.nd.array([3.0]))
    assert (p.asnumpy().tolist(), s.asnumpy().tolist()) == ([6.0], [5.0])
    with pytest.raises(RuntimeError, match="called once"):
        f(mx.nd.array([1.0]), mx.nd.array([1.0]))


def test_custom_function_errors_reach_the_caller_and_graphs_release_it():
    import gc

    from brass import autograd as ag

    class Bad(mx.autograd.Function):
        def forward(self, x):
            return x * 1

        def backward(self, dy):
            return dy, dy  # one input, two gradients

    x = mx.nd.array([1.0, 2.0])
    x.attach_grad()
    with mx.autograd.record():
        y = Bad()(x)
    with pytest.raises(ValueError, match="returned 2 gradients for 1 inputs"):
        y.backward()
    before = len(ag._live)
    with mx.autograd.record():
        z = _MulAdd()(x, x)[0]
    assert len(ag._live) == before + 1
    z.backward()
    del z
    gc.collect()
    assert len(ag._live) == before
