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
from nn_testing import grads_of, nd, raises

# Operators this file tests (read by the completeness test in test_op_table.py).
OPS_COVERED = {"FullyConnected", "Activation", "Dropout", "softmax", "log_softmax", "softmin", "_backward_softmax",
               "_backward_log_softmax", "SoftmaxOutput", "_backward_SoftmaxOutput", "LeakyReLU", "_prelu_slope",
               "_backward_prelu_gamma", "SoftmaxActivation"}

# Gradient cases (test_gradients.py checks them with the others, first and second order).
GRADIENTS = {
    "FullyConnected": [
        Grad([In((2, 3)), In((4, 3)), In((4,))], {"num_hidden": 4}),
        Grad([In((2, 3, 2)), In((3, 6)), In((3,))], {"num_hidden": 3}),
        Grad([In((2, 3, 2)), In((3, 2)), In((3,))], {"num_hidden": 3, "flatten": False}),
        Grad([In((3, 2)), In((2, 2))], {"num_hidden": 2, "no_bias": True}),
        Grad([In((3,)), In((2, 1)), In((2,))], {"num_hidden": 2}),
    ],
    "Activation": [Grad([In((3, 4), kinks=(0,) if t in ("relu", "softsign") else ())], {"act_type": t})
                   for t in ("relu", "sigmoid", "tanh", "softrelu", "softsign", "log_sigmoid", "mish")]
                  + [Grad([In((5,), domain=(15, 25))], {"act_type": "softrelu"})],
    # Dropout draws a new mask per call: only p=0 is deterministic for central differences
    # (its gradient with a random mask is checked below).
    "LeakyReLU": [Grad([In((3, 4), kinks=(0,))]),
                  Grad([In((3, 4), kinks=(0,))], {"act_type": "leaky", "slope": 0.1}),
                  Grad([In((2, 3), kinks=(0,))], {"act_type": "elu", "slope": 0.7}),
                  Grad([In((2, 3), kinks=(0,))], {"act_type": "selu"}),
                  Grad([In((2, 5))], {"act_type": "gelu"}),
                  Grad([In((2, 3, 2), kinks=(0,)), In((3,))], {"act_type": "prelu"}),
                  Grad([In((2, 3), kinks=(0,)), In((1,))], {"act_type": "prelu"}),
                  Grad([In((2, 3), kinks=(0,))], {"act_type": "rrelu", "lower_bound": 0.2, "upper_bound": 0.2})],
    "SoftmaxActivation": [Grad([In((2, 3, 2))]), Grad([In((2, 3, 2))], {"mode": "channel"}), Grad([In((3, 4))])],
    "_prelu_slope": [Grad([In((2, 3, 2), kinks=(0,)), In((3,))])],
    "_backward_prelu_gamma": [Grad([In((2, 3, 2)), In((2, 3, 2), kinks=(0,)), In((3,))]),
                              Grad([In((2, 3)), In((2, 3), kinks=(0,)), In((1,))])],
    "Dropout": [Grad([In((3, 4))], {"p": 0.0}), Grad([In((2, 3))], {"p": 0.0, "mode": "always", "axes": (1,)})],
}
for _op in ("softmax", "log_softmax", "softmin"):
    GRADIENTS[_op] = [Grad([In((3, 4))]), Grad([In((3, 4))], {"axis": 0}),
                      Grad([In((2, 3, 2))], {"axis": 1, "temperature": 2.5}),
                      Grad([In((2, 3))], {"dtype": "float64"}), Grad([In((4,))], {"temperature": 0.5})]
    if _op == "softmin":
        continue
    GRADIENTS["_backward_" + _op] = [Grad([In((3, 4)), In((3, 4), domain=(-2, 0))]),
                                     Grad([In((2, 3, 2)), In((2, 3, 2), domain=(-2, 0))], {"axis": 1, "temperature": 2.5}),
                                     Grad([In((3, 2)), In((3, 2), domain=(-2, 0))], {"axis": 0, "temperature": 0.5})]
# Ops whose gradient has no gradient (asking for a second derivative is a clear error).
NO_SECOND_ORDER = set()
# Ops whose gradient is not the derivative of their forward (MXNet's loss layers).
NOT_A_DERIVATIVE = {"SoftmaxOutput"}
# Ops without a gradient of their own, with a case of inputs (a second derivative of
# SoftmaxOutput is a clear error).
NO_GRADIENT = {"_backward_SoftmaxOutput": Grad([In((2, 3)), In((2, 3)), In((2,), diff=False, values=[0, 2])])}

FLOATS = ["float32", "float64"]


def tol(dtype):
    return dict(rtol=1e-5, atol=1e-5) if dtype == "float32" else dict(rtol=1e-12, atol=1e-12)


def rand(shape, dtype="float64", seed=0, lo=-2.0, hi=2.0):
    return np.random.RandomState(seed).uniform(lo, hi, size=shape).astype(dtype)


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


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_fully_connected_small_floats(dtype):
    """float16 and bfloat16 run in float32 and are stored in the small type."""
    import ml_dtypes  # noqa: F401
    x, w, b = rand((3, 2, 4), dtype, 40), rand((5, 8), dtype, 41), rand((5,), dtype, 42)
    y = mx.nd.FullyConnected(nd(x), nd(w), nd(b), num_hidden=5)
    assert y.dtype == np.dtype(dtype)
    want = fc_ref(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), True)
    t = dict(rtol=1e-2, atol=2e-2) if dtype == "float16" else dict(rtol=4e-2, atol=8e-2)
    np.testing.assert_allclose(y.asnumpy().astype(np.float64), want, **t)


# ---- Activation -------------------------------------------------------------------------------
def softrelu_ref(x):
    return np.where(x > 20, x, np.log1p(np.exp(np.minimum(x, 20))))


ACT_REF = {
    "relu": lambda x: np.maximum(x, 0),
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "tanh": np.tanh,
    "softrelu": softrelu_ref,
    "softsign": lambda x: x / (1 + np.abs(x)),
    "log_sigmoid": lambda x: -softrelu_ref(-x),
    "mish": lambda x: x * np.tanh(softrelu_ref(x)),
}


@pytest.mark.parametrize("dtype", FLOATS + ["float16"])
@pytest.mark.parametrize("act", sorted(ACT_REF))
def test_activation(act, dtype):
    x = np.concatenate([rand((3, 7), seed=11, lo=-5, hi=5).ravel(), [0.0, -30.0, 30.0, 19.5, 21.0, -0.25]])
    x = x.astype(dtype)
    y = mx.nd.Activation(nd(x), act_type=act)
    want = ACT_REF[act](x.astype(np.float64))
    assert y.shape == x.shape and y.dtype == np.dtype(dtype)
    t = dict(rtol=2e-3, atol=2e-3) if dtype == "float16" else tol(dtype)
    np.testing.assert_allclose(y.asnumpy().astype(np.float64), want, **t)


@pytest.mark.parametrize("shape", [(), (0,), (1,), (2, 3, 4)])
def test_activation_shapes(shape):
    x = rand(shape, seed=12) if shape != () else np.array(0.5)
    a = nd(x.reshape(-1)).reshape(shape)
    np.testing.assert_allclose(mx.nd.Activation(a, act_type="tanh").asnumpy(), np.tanh(x), rtol=1e-12)


@pytest.mark.parametrize("act", sorted(ACT_REF))
def test_activation_gradient_formula(act):
    x = rand((4, 5), "float32", 13, -4, 4)
    x[np.abs(x) < 0.05] = 0.5
    g = rand((4, 5), "float32", 14)
    _, (gx,) = grads_of(lambda a: mx.nd.Activation(a, act_type=act), [nd(x)], g)
    x64 = x.astype(np.float64)
    s = 1 / (1 + np.exp(-x64))
    tsp = np.tanh(softrelu_ref(x64))
    d = {"relu": (x64 > 0) * 1.0, "sigmoid": s * (1 - s), "tanh": 1 - np.tanh(x64) ** 2, "softrelu": s,
         "softsign": 1 / (1 + np.abs(x64)) ** 2, "log_sigmoid": 1 - s, "mish": tsp + x64 * (1 - tsp ** 2) * s}[act]
    np.testing.assert_allclose(gx, g * d, rtol=1e-5, atol=1e-6)


def test_activation_errors():
    x = nd(rand((2, 3)))
    raises(lambda: mx.nd.Activation(x), "Activation", "act_type")
    raises(lambda: mx.nd.Activation(x, act_type="gelu"), "Activation", "act_type", "gelu")
    raises(lambda: mx.nd.Activation(x, act_type="elu"), "Activation", "act_type", "elu")
    raises(lambda: mx.nd.Activation(nd(np.ones((2, 3), "int32")), act_type="relu"), "Activation", "int32")


# ---- LeakyReLU ---------------------------------------------------------------------------------
SELU_L, SELU_A = 1.0507009873554804934193349852946, 1.6732632423543772848170429916717


def erf_ref(x):
    import math
    return np.vectorize(math.erf)(x)


def leaky_ref(x, act_type="leaky", slope=0.25, gamma=None, lower_bound=0.125, upper_bound=0.334):
    x = x.astype(np.float64)
    if act_type == "leaky":
        return np.where(x > 0, x, slope * x)
    if act_type == "elu":
        return np.where(x > 0, x, slope * np.expm1(x))
    if act_type == "selu":
        return SELU_L * np.where(x > 0, x, SELU_A * np.expm1(x))
    if act_type == "gelu":
        return 0.5 * x * (1 + erf_ref(x / np.sqrt(2)))
    if act_type == "rrelu":  # at inference: the middle slope
        return np.where(x > 0, x, (lower_bound + upper_bound) / 2 * x)
    g = gamma.astype(np.float64)
    g = g.reshape((1, -1) + (1,) * (x.ndim - 2)) if g.size > 1 else g.reshape(())
    return np.where(x > 0, x, g * x)


LEAKY_CASES = [dict(), dict(act_type="leaky", slope=0.1), dict(act_type="leaky", slope=-2.0),
               dict(act_type="elu"), dict(act_type="elu", slope=1.5), dict(act_type="selu"), dict(act_type="gelu"),
               dict(act_type="rrelu"), dict(act_type="rrelu", lower_bound=0.3, upper_bound=0.5)]


@pytest.mark.parametrize("dtype", FLOATS + ["float16"])
@pytest.mark.parametrize("params", LEAKY_CASES, ids=lambda p: "-".join("%s" % v for v in p.values()) or "default")
def test_leaky_relu(params, dtype):
    x = np.concatenate([rand((3, 7), seed=31, lo=-6, hi=6).ravel(), [0.0, -30.0, 30.0, -1e-3]]).astype(dtype)
    y = mx.nd.LeakyReLU(nd(x), **params)
    assert y.shape == x.shape and y.dtype == np.dtype(dtype)
    t = dict(rtol=3e-3, atol=3e-3) if dtype == "float16" else tol(dtype)
    np.testing.assert_allclose(y.asnumpy().astype(np.float64), leaky_ref(x, **params), **t)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape,gshape", [((2, 3), (3,)), ((2, 3, 4, 5), (3,)), ((2, 3, 4), (1,)), ((1, 1), (1,)),
                                          ((5,), (1,)), ((0, 3), (3,)), ((2, 4, 3), None)])
def test_prelu(shape, gshape, dtype):
    x = rand(shape, dtype, 32, -3, 3)
    gs = gshape or (shape[1],)
    gamma = rand(gs, dtype, 33, 0.05, 0.9)
    y = mx.nd.LeakyReLU(nd(x), nd(gamma), act_type="prelu")
    np.testing.assert_allclose(y.asnumpy(), leaky_ref(x, "prelu", gamma=gamma), **tol(dtype))
    # gradients: the data sees its slope; gamma the sum over its channel's negative elements
    h = rand(shape, dtype, 34)
    _, (gx, gg) = grads_of(lambda a, b: mx.nd.LeakyReLU(a, b, act_type="prelu"), [nd(x), nd(gamma)], h)
    gb = gamma.reshape((1, -1) + (1,) * (len(shape) - 2)) if gamma.size > 1 else gamma.reshape(())
    np.testing.assert_allclose(gx, h * np.where(x > 0, 1.0, gb), **tol(dtype))
    neg = h * x * (x <= 0)
    want = neg.sum(axis=tuple(i for i in range(len(shape)) if i != 1)) if gamma.size > 1 else neg.sum().reshape(1)
    np.testing.assert_allclose(gg, want, rtol=1e-5 if dtype == "float32" else 1e-12, atol=1e-5)


def test_prelu_symbol_infers_gamma():
    s = mx.sym.LeakyReLU(mx.sym.var("x"), act_type="prelu", name="pr")
    assert s.list_arguments() == ["x", "pr_gamma"]
    arg, out, _ = s.infer_shape(x=(2, 5, 3))
    assert arg == [(2, 5, 3), (5,)] and out == [(2, 5, 3)]


def test_rrelu_training_draws_slopes_in_range_reproducibly():
    x = -np.ones((1000,), "float32")
    def draw():
        mx.random.seed(77)
        a = nd(x)
        a.attach_grad()
        with mx.autograd.record():
            y = mx.nd.LeakyReLU(a, act_type="rrelu", lower_bound=0.2, upper_bound=0.6)
        y.backward()
        return y.asnumpy(), a.grad.asnumpy()
    y, g = draw()
    s = -y
    assert s.min() >= 0.2 and s.max() < 0.6 and s.std() > 0.05
    np.testing.assert_array_equal(g, s)  # the gradient uses the slopes drawn
    y2, _ = draw()
    np.testing.assert_array_equal(y, y2)  # the same seed, the same slopes
    xp = np.abs(rand((50,), "float32", 35)) + 0.1  # positive inputs pass unchanged
    with mx.autograd.record():
        yp = mx.nd.LeakyReLU(nd(xp), act_type="rrelu")
    np.testing.assert_array_equal(yp.asnumpy(), xp)


def test_rrelu_same_on_every_device():
    if mx.num_gpus() == 0:
        pytest.skip("no GPU")
    x = rand((999,), "float32", 36)
    out = []
    for ctx in (mx.cpu(0), mx.gpu(0)):
        mx.random.seed(5)
        with mx.autograd.record():
            out.append(mx.nd.LeakyReLU(mx.nd.array(x, ctx=ctx), act_type="rrelu").asnumpy())
    np.testing.assert_allclose(out[0], out[1], rtol=1e-6)


def test_leaky_relu_errors():
    x = nd(rand((2, 3)))
    raises(lambda: mx.nd.LeakyReLU(x, act_type="swish"), "LeakyReLU", "act_type", "swish")
    raises(lambda: mx.nd.LeakyReLU(x, nd(np.ones(2)), act_type="prelu"), "LeakyReLU", "gamma", "(2,)", "(2, 3)", "3")
    raises(lambda: mx.nd.LeakyReLU(nd(np.ones((2, 3), "int32"))), "LeakyReLU", "int32")
    raises(lambda: mx.nd._prelu_slope(x, nd(np.ones(4))), "_prelu_slope", "gamma")
    raises(lambda: mx.nd._backward_prelu_gamma(x, nd(rand((3, 2))), nd(np.ones(3))), "_backward_prelu_gamma",
           "(2, 3)", "(3, 2)")


# ---- Dropout ----------------------------------------------------------------------------------
def ratio(y, x):
    """y / x for x without zeros: the mask."""
    return y.asnumpy().astype(np.float64) / x.astype(np.float64)


@pytest.mark.parametrize("dtype", FLOATS + ["float16"])
def test_dropout_identity_at_inference(dtype):
    x = rand((4, 5), dtype, 20, 1, 2)
    y = mx.nd.Dropout(nd(x), p=0.5)
    assert y.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(y.asnumpy(), x)
    with mx.autograd.record(train_mode=False):
        y = mx.nd.Dropout(nd(x), p=0.7)
    np.testing.assert_array_equal(y.asnumpy(), x)


@pytest.mark.parametrize("dtype", FLOATS + ["float16"])
@pytest.mark.parametrize("p", [0.5, 0.2, 0.9])
def test_dropout_training(p, dtype):
    x = rand((100, 201), dtype, 21, 1, 2)
    with mx.autograd.record():
        y = mx.nd.Dropout(nd(x), p=p)
    m = ratio(y, x)
    scale = float(np.array(1 / (1 - p), dtype=dtype))
    kept = m != 0
    np.testing.assert_allclose(m[kept], scale, rtol=2e-3 if dtype == "float16" else 1e-6)
    assert abs((1 - kept.mean()) - p) < 0.02, (kept.mean(), p)
    # Exactly x * scale where kept (the product rounded once).
    want = (x.astype(np.float64) * float(np.array(1 / (1 - p), dtype=dtype))).astype(dtype)
    np.testing.assert_array_equal(y.asnumpy()[kept], want[kept])


def test_dropout_always_mode_and_edges():
    x = rand((50, 40), "float64", 22, 1, 2)
    m = ratio(mx.nd.Dropout(nd(x), p=0.5, mode="always"), x)  # at inference too
    assert set(np.unique(m)) <= {0.0, 2.0} and 0.4 < (m == 0).mean() < 0.6
    with mx.autograd.train_mode():
        np.testing.assert_array_equal(mx.nd.Dropout(nd(x), p=0.0).asnumpy(), x)
        np.testing.assert_array_equal(mx.nd.Dropout(nd(x), p=1.0).asnumpy(), np.zeros_like(x))
        e = mx.nd.Dropout(mx.nd.zeros((0, 3)), p=0.5)
        assert e.shape == (0, 3)


@pytest.mark.parametrize("axes", [(0,), (1,), (0, 2), (-1,)])
def test_dropout_axes(axes):
    x = rand((6, 7, 8), "float64", 23, 1, 2)
    with mx.autograd.train_mode():
        m = ratio(mx.nd.Dropout(nd(x), p=0.5, axes=axes), x)
    first = m[tuple(slice(0, 1) if a in [ax % 3 for ax in axes] else slice(None) for a in range(3))]
    np.testing.assert_array_equal(m, np.broadcast_to(first, m.shape))
    assert set(np.unique(m)) <= {0.0, 2.0} and 0 < (m == 0).mean() < 1


def test_dropout_gradient_is_head_times_mask():
    x = rand((30, 20), "float64", 24, 1, 2)
    g = rand((30, 20), "float64", 25)
    for axes in [(), (1,)]:
        y, (gx,) = grads_of(lambda a: mx.nd.Dropout(a, p=0.4, axes=axes), [nd(x)], g)
        m = ratio(y, x)
        np.testing.assert_allclose(gx, g * m, rtol=1e-15)
        assert 0 < (m == 0).mean() < 1


def test_dropout_second_order():
    """d/dx <v, grad(<g, Dropout(x) * x>)> = 2 v g mask (the mask is a constant)."""
    x = nd(rand((10, 10), "float64", 26, 1, 2))
    g, v = rand((10, 10), "float64", 27), rand((10, 10), "float64", 28)
    x.attach_grad()
    with mx.autograd.record():
        d = mx.nd.Dropout(x, p=0.5)
        y = d * x
        (gx,) = mx.autograd.grad(y, [x], head_grads=[nd(g)], create_graph=True)
    mask = d.asnumpy() / x.asnumpy()
    np.testing.assert_allclose(gx.asnumpy(), 2 * g * mask * x.asnumpy(), rtol=1e-12)
    gx.backward(nd(v))
    np.testing.assert_allclose(x.grad.asnumpy(), 2 * v * g * mask, rtol=1e-12)


def test_dropout_seeded_and_same_on_every_device():
    x = rand((9, 13), "float32", 29, 1, 2)
    masks = []
    for ctx in [None, mx.cpu(0), None]:
        mx.random.seed(1234)
        with mx.autograd.train_mode():
            a = mx.nd.array(x, ctx=ctx) if ctx is not None else nd(x)
            masks.append(ratio(mx.nd.Dropout(a, p=0.3), x))
    np.testing.assert_array_equal(masks[0], masks[1])
    np.testing.assert_array_equal(masks[0], masks[2])
    with mx.autograd.train_mode():
        other = ratio(mx.nd.Dropout(nd(x), p=0.3), x)
    assert (other != masks[0]).any()


def test_dropout_errors():
    x = nd(rand((2, 3)))
    raises(lambda: mx.nd.Dropout(x, p=1.5), "Dropout", "p")
    raises(lambda: mx.nd.Dropout(x, p=-0.1), "Dropout", "p")
    raises(lambda: mx.nd.Dropout(x, mode="sometimes"), "Dropout", "mode")
    raises(lambda: mx.nd.Dropout(x, axes=(2,)), "Dropout", "axis")
    raises(lambda: mx.nd.Dropout(nd(np.ones((2, 3), "int64"))), "Dropout", "int64")


# ---- softmax, log_softmax ---------------------------------------------------------------------
def softmax_ref(x, axis=-1, t=1.0, log=False):
    x = x.astype(np.float64) / t
    z = x - x.max(axis=axis, keepdims=True)
    ls = np.log(np.exp(z).sum(axis=axis, keepdims=True))
    return z - ls if log else np.exp(z - ls)


SOFTMAX_CASES = [((3, 5), {}), ((3, 5), {"axis": 0}), ((2, 3, 4), {"axis": 1}), ((2, 3, 4), {"axis": -3}),
                 ((7,), {}), ((4, 1), {}), ((2, 3), {"temperature": 0.5}), ((2, 3, 4), {"axis": 2, "temperature": 3.0}),
                 ((0, 4), {}), ((5, 300), {"axis": 1})]


@pytest.mark.parametrize("log", [False, True, "min"])
@pytest.mark.parametrize("dtype", FLOATS + ["float16"])
@pytest.mark.parametrize("shape,params", SOFTMAX_CASES)
def test_softmax(shape, params, dtype, log):
    x = rand(shape, dtype, 30, -4, 4)
    op = mx.nd.softmin if log == "min" else mx.nd.log_softmax if log else mx.nd.softmax
    y = op(nd(x), **params)
    t = params.get("temperature", 1.0)
    want = softmax_ref(x, params.get("axis", -1), -t if log == "min" else t, log is True)
    assert y.shape == x.shape and y.dtype == np.dtype(dtype)
    t = dict(rtol=3e-3, atol=3e-3) if dtype == "float16" else tol(dtype)
    np.testing.assert_allclose(y.asnumpy().astype(np.float64), want, **t)


def test_softmin_is_stable_and_is_softmax_of_the_negation():
    x = np.array([[1000.0, 1000.0, -1000.0], [-1e30, 0.0, 1e30]], dtype="float32")
    y = mx.nd.softmin(nd(x)).asnumpy()
    assert np.all(np.isfinite(y))
    np.testing.assert_allclose(y, mx.nd.softmax(nd(-x)).asnumpy(), rtol=1e-6)
    np.testing.assert_allclose(mx.nd.softmin(nd(np.array([[1, 1], [np.log(3), 0]]))).asnumpy(),
                               [[0.5, 0.5], [0.25, 0.75]], rtol=1e-12)
    x2, g = rand((3, 4), "float64", 36), rand((3, 4), "float64", 37)
    _, (ga,) = grads_of(lambda a: mx.nd.softmin(a, temperature=2.0), [nd(x2)], g)
    _, (gb,) = grads_of(lambda a: mx.nd.softmax(-a, temperature=2.0), [nd(x2)], g)
    np.testing.assert_allclose(ga, gb, rtol=1e-12)


@pytest.mark.parametrize("log", [False, True])
def test_softmax_is_stable_and_has_output_dtype(log):
    x = np.array([[1000.0, 1000.0, -1000.0], [-1e30, 0.0, 1e30]], dtype="float32")
    op = mx.nd.log_softmax if log else mx.nd.softmax
    y = op(nd(x))
    assert np.all(np.isfinite(y.asnumpy()[0]))
    np.testing.assert_allclose(y.asnumpy()[0], softmax_ref(x[:1], log=log)[0], rtol=1e-6, atol=1e-6)
    y64 = op(nd(x[:1]), dtype="float64")
    assert y64.dtype == np.float64
    np.testing.assert_allclose(y64.asnumpy(), softmax_ref(x[:1], log=log), rtol=1e-12)
    y16 = op(nd(rand((2, 3), "float32", 31)), dtype="float16")
    assert y16.dtype == np.float16


@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("dtype", FLOATS)
def test_softmax_gradient_formula(log, dtype):
    x, g = rand((3, 4, 5), dtype, 32), rand((3, 4, 5), dtype, 33)
    op = mx.nd.log_softmax if log else mx.nd.softmax
    y, (gx,) = grads_of(lambda a: op(a, axis=1, temperature=1.5), [nd(x)], g)
    yv = softmax_ref(x, 1, 1.5, log)
    g64 = g.astype(np.float64)
    if log:
        want = (g64 - np.exp(yv) * g64.sum(1, keepdims=True)) / 1.5
    else:
        want = yv * (g64 - (g64 * yv).sum(1, keepdims=True)) / 1.5
    np.testing.assert_allclose(gx, want, **tol(dtype))
    # The internal ops directly.
    bwd = mx.nd._backward_log_softmax if log else mx.nd._backward_softmax
    got = bwd(nd(g), nd(yv.astype(dtype)), axis=1, temperature=1.5).asnumpy()
    np.testing.assert_allclose(got, want, **tol(dtype))


def masked_softmax_ref(x, length, axis, t, kind):
    """softmax / log_softmax / softmin over the first length[row] elements of each row along
    axis; 0 past them."""
    x = np.ascontiguousarray(np.moveaxis(x.astype(np.float64), axis, -1))
    out = np.zeros(x.shape)
    flat, lens = x.reshape(-1, x.shape[-1]), np.asarray(length).reshape(-1)
    o = out.reshape(-1, x.shape[-1])
    for r in range(flat.shape[0]):
        n = int(min(max(lens[r], 0), x.shape[-1]))
        if n:
            o[r, :n] = softmax_ref(flat[r:r + 1, :n], -1, -t if kind == "min" else t, kind == "log")[0]
    return np.moveaxis(out, -1, axis)


@pytest.mark.parametrize("kind", ["softmax", "log", "min"])
@pytest.mark.parametrize("ldtype", ["int32", "int64", "float32"])
@pytest.mark.parametrize("shape,axis", [((3, 5), -1), ((2, 4, 3), 1), ((4, 2), 0)])
def test_softmax_use_length(kind, ldtype, shape, axis):
    x = rand(shape, "float64", 38, -3, 3)
    lshape = tuple(d for i, d in enumerate(shape) if i != axis % len(shape))
    length = np.random.RandomState(39).randint(0, shape[axis] + 2, lshape).astype(ldtype)  # 0 .. len + 1
    op = {"softmax": mx.nd.softmax, "log": mx.nd.log_softmax, "min": mx.nd.softmin}[kind]
    g = rand(shape, "float64", 40)
    y, (gx,) = grads_of(lambda a: op(a, nd(length), axis=axis, use_length=True, temperature=1.5), [nd(x)], g)
    want = masked_softmax_ref(x, length, axis, 1.5, kind)
    np.testing.assert_allclose(y.asnumpy(), want, rtol=1e-12, atol=1e-12)
    # gradient: central differences of sum(g * y) (the masked elements get none)
    eps = 1e-6
    num = np.zeros(x.size)
    for j in range(x.size):
        e = np.zeros(x.size)
        e[j] = eps
        num[j] = np.sum(g * (masked_softmax_ref(x + e.reshape(shape), length, axis, 1.5, kind)
                             - masked_softmax_ref(x - e.reshape(shape), length, axis, 1.5, kind))) / (2 * eps)
    np.testing.assert_allclose(gx, num.reshape(shape), rtol=1e-6, atol=1e-7)


def test_softmax_use_length_symbol_and_second_order_error():
    s = mx.sym.softmax(mx.sym.var("x"), mx.sym.var("n"), axis=1, use_length=True)
    assert s.list_arguments() == ["x", "n"]
    arg, out, _ = s.infer_shape(x=(2, 5, 3))
    assert arg == [(2, 5, 3), (2, 3)] and out == [(2, 5, 3)]
    x = nd(rand((2, 3), "float64", 41))
    x.attach_grad()
    with mx.autograd.record():
        y = mx.nd.softmax(x, nd(np.array([2, 3], "int32")), use_length=True)
        (gx,) = mx.autograd.grad(y, [x], create_graph=True)
    with pytest.raises(mx.BrassError, match="use_length"):
        gx.backward()


@pytest.mark.parametrize("dtype", FLOATS + ["float16"])
@pytest.mark.parametrize("shape", [(2, 3), (2, 3, 4), (2, 3, 2, 2), (1, 1), (0, 3)])
@pytest.mark.parametrize("mode", ["instance", "channel"])
def test_softmax_activation(mode, shape, dtype):
    x = rand(shape, dtype, 42, -3, 3)
    y = mx.nd.SoftmaxActivation(nd(x), mode=mode)
    if mode == "channel":
        want = softmax_ref(x, 1)
    else:
        want = softmax_ref(x.reshape(shape[0], int(np.prod(shape[1:]))), -1).reshape(shape)
    t = dict(rtol=3e-3, atol=3e-3) if dtype == "float16" else tol(dtype)
    assert y.dtype == np.dtype(dtype)
    np.testing.assert_allclose(y.asnumpy().astype(np.float64), want, **t)


def test_softmax_activation_errors():
    raises(lambda: mx.nd.SoftmaxActivation(nd(rand((3,))), mode="channel"), "SoftmaxActivation", "channel", "(3,)")
    raises(lambda: mx.nd.SoftmaxActivation(nd(rand((3, 2))), mode="spatial"), "SoftmaxActivation", "mode")


def test_softmax_output_dtype_gradient():
    x = rand((2, 3), "float32", 34)
    _, (gx,) = grads_of(lambda a: mx.nd.softmax(a, dtype="float64"), [nd(x)], rand((2, 3), "float64", 35))
    assert gx.dtype == np.float32


def test_softmax_errors():
    x = nd(rand((2, 3)))
    for op in ("softmax", "log_softmax", "softmin"):
        f = getattr(mx.nd, op)
        raises(lambda: f(x, nd(np.ones(3, "int32")), use_length=True), op, "length", "(3,)", "(2,)")
        raises(lambda: f(x, nd(np.ones(2, "uint8")), use_length=True), op, "length", "uint8")
        raises(lambda: f(x, axis=2), op, "axis")
        raises(lambda: f(x, temperature=0.0), op, "temperature")
        raises(lambda: f(x, dtype="int32"), op, "int32")
        raises(lambda: f(nd(np.ones((2, 3), "int32"))), op, "int32")
    raises(lambda: mx.nd._backward_softmax(x, nd(rand((3, 2)))), "_backward_softmax")


# ---- SoftmaxOutput ----------------------------------------------------------------------------
def so_rows(shape, p):
    """(moveaxis source, rows shape) of SoftmaxOutput's softmax: the axis and the 2-D view."""
    if p.get("multi_output"):
        return 1
    if p.get("preserve_shape"):
        return -1
    return None


def so_forward_ref(x, p):
    ax = so_rows(x.shape, p)
    if ax is None:
        return softmax_ref(x.reshape(x.shape[0], -1), -1).reshape(x.shape)
    return softmax_ref(x, ax)


def so_grad_ref(x, label, p, og=None):
    """MXNet's SoftmaxOutput gradient (softmax_output-inl.h), written plainly."""
    out = so_forward_ref(x, p)
    scale = p.get("grad_scale", 1.0)
    if label.shape == x.shape:
        g = (out - label) * scale
        return g * og if p.get("out_grad") else g
    ax = so_rows(x.shape, p)
    if ax == 1:
        o = np.moveaxis(out, 1, -1)
        o = o.reshape(-1, o.shape[-1])
    else:
        o = out.reshape(-1, out.shape[-1]) if ax == -1 else out.reshape(x.shape[0], -1)
    lab = label.reshape(-1)
    k = o.shape[1]
    alpha = p.get("smooth_alpha", 0.0)
    ignore = int(p.get("ignore_label", -1))
    target = np.full(o.shape, alpha / (k - 1) if alpha and k > 1 else 0.0)
    for r, l in enumerate(lab.astype(np.int64)):
        if 0 <= l < k:
            target[r, l] = 1 - alpha
    g = o - target
    if p.get("use_ignore"):
        g[lab.astype(np.int64) == ignore] = 0
    norm = p.get("normalization", "null")
    cnt = 1.0
    if norm == "batch":
        cnt = x.shape[0] if ax == 1 else len(lab)
    elif norm == "valid":
        cnt = max(1, int(np.sum(lab.astype(np.int64) != ignore)))
    if ax == 1 and norm != "valid":
        cnt *= int(np.prod(x.shape[2:]))
    g = g * (scale / cnt)
    if ax == 1:
        g = np.moveaxis(g.reshape((x.shape[0],) + x.shape[2:] + (x.shape[1],)), -1, 1)
    else:
        g = g.reshape(x.shape)
    return g * og if p.get("out_grad") else g


SO_CASES = [
    ((4, 5), (4,), {}),
    ((4, 5), (4,), {"grad_scale": 2.5}),
    ((4, 5), (4,), {"use_ignore": True, "ignore_label": 2}),
    ((4, 5), (4,), {"use_ignore": True, "ignore_label": 2, "normalization": "valid"}),
    ((4, 5), (4,), {"normalization": "batch"}),
    ((4, 5), (4,), {"normalization": "valid"}),
    ((4, 5), (4,), {"smooth_alpha": 0.1}),
    ((4, 5), (4,), {"smooth_alpha": 0.2, "use_ignore": True, "ignore_label": 0}),
    ((2, 3, 4), (2,), {}),
    ((2, 3, 4), (2, 3), {"preserve_shape": True}),
    ((2, 3, 4), (2, 3), {"preserve_shape": True, "normalization": "batch"}),
    ((2, 3, 4), (2, 4), {"multi_output": True}),
    ((2, 3, 4, 2), (2, 8), {"multi_output": True, "normalization": "batch"}),
    ((2, 3, 4), (2, 4), {"multi_output": True, "normalization": "valid", "use_ignore": True, "ignore_label": 1}),
    ((2, 3, 4), (2, 4), {"multi_output": True, "smooth_alpha": 0.3}),
    ((3, 4), (3, 4), {"grad_scale": 0.5}),  # a distribution per row as the label
    ((4, 5), (4,), {"out_grad": True}),
    ((3, 4), (3, 4), {"out_grad": True}),
    ((1, 1), (1,), {}),
]


def so_labels(label_shape, data_shape, p, seed):
    rs = np.random.RandomState(seed)
    if label_shape == data_shape:
        return softmax_ref(rs.uniform(-1, 1, label_shape), -1 if not p.get("multi_output") else 1)
    k = data_shape[1] if p.get("multi_output") else (data_shape[-1] if p.get("preserve_shape") else
                                                     int(np.prod(data_shape[1:])))
    return rs.randint(0, k, size=label_shape).astype(np.float64)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape,lshape,params", SO_CASES)
def test_softmax_output(shape, lshape, params, dtype):
    x = rand(shape, dtype, 40)
    label = so_labels(lshape, shape, params, 41).astype(dtype)
    og = rand(shape, dtype, 42)
    xa, la = nd(x), nd(label)
    xa.attach_grad()
    la.attach_grad()
    with mx.autograd.record():
        y = mx.nd.SoftmaxOutput(xa, la, **params)
    np.testing.assert_allclose(y.asnumpy(), so_forward_ref(x, params), **tol(dtype))
    y.backward(nd(og))
    want = so_grad_ref(x.astype(np.float64), label.astype(np.float64), params, og.astype(np.float64))
    np.testing.assert_allclose(xa.grad.asnumpy(), want, **tol(dtype))
    assert np.all(la.grad.asnumpy() == 0)


def test_softmax_output_ignores_head_gradient_and_has_alias():
    x, label = rand((3, 4), seed=43), np.array([0.0, 3.0, 1.0])
    grads = []
    for head in (np.ones((3, 4)), rand((3, 4), seed=44)):
        _, (gx, _) = grads_of(lambda a, b: mx.nd.SoftmaxOutput(a, b), [nd(x), nd(label)], head)
        grads.append(gx)
    np.testing.assert_array_equal(grads[0], grads[1])
    np.testing.assert_allclose(grads[0], so_grad_ref(x, label, {}), rtol=1e-12)
    np.testing.assert_allclose(mx.nd.Softmax(nd(x), nd(label)).asnumpy(), softmax_ref(x), rtol=1e-12)
    # A label of another dtype works too (read as numbers, truncated toward zero).
    _, (gi, _) = grads_of(lambda a, b: mx.nd.SoftmaxOutput(a, b), [nd(x), nd(label.astype("int32"))])
    np.testing.assert_allclose(gi, grads[0], rtol=1e-12)
    # The internal op directly: MXNet's formula from (head, output, label).
    got = mx.nd._backward_SoftmaxOutput(nd(rand((3, 4), seed=45)), nd(softmax_ref(x)), nd(label),
                                        grad_scale=3.0).asnumpy()
    np.testing.assert_allclose(got, so_grad_ref(x, label, {"grad_scale": 3.0}), rtol=1e-12)


def test_softmax_output_has_no_second_derivative():
    x = nd(rand((2, 3), seed=46))
    x.attach_grad()
    with mx.autograd.record():
        y = mx.nd.SoftmaxOutput(x, nd(np.array([0.0, 2.0])))
        (g,) = mx.autograd.grad(y, [x], create_graph=True)
    raises(lambda: mx.autograd.backward(g), "_backward_SoftmaxOutput", "no gradient")


def test_softmax_output_errors():
    x = nd(rand((4, 5)))
    raises(lambda: mx.nd.SoftmaxOutput(x, nd(np.zeros(3))), "SoftmaxOutput", "label", "(3,)", "(4,)")
    raises(lambda: mx.nd.SoftmaxOutput(nd(rand((2, 3, 4))), nd(np.zeros((2, 5))), multi_output=True),
           "SoftmaxOutput", "label")
    raises(lambda: mx.nd.SoftmaxOutput(x, nd(np.zeros(4)), normalization="all"), "SoftmaxOutput", "normalization")
    raises(lambda: mx.nd.SoftmaxOutput(nd(np.ones((4, 5), "int32")), nd(np.zeros(4))), "SoftmaxOutput", "int32")
    # A (2, 3) label for (2, 3, 4) data without preserve_shape: 6 labels for 2 rows (MXNet fails too).
    xa = nd(rand((2, 3, 4)))
    xa.attach_grad()
    with mx.autograd.record():
        y = mx.nd.SoftmaxOutput(xa, nd(np.zeros((2, 3))))
    raises(lambda: (y.backward(), xa.grad)[1], "SoftmaxOutput", "label", "(2, 3)")


# ---- graph shape inference fills the parameters' shapes --------------------------------------
def test_symbol_shape_inference_fills_weights_and_labels():
    x = mx.sym.var("data")
    fc = mx.sym.FullyConnected(x, num_hidden=4, name="fc")
    net = mx.sym.SoftmaxOutput(mx.sym.Dropout(mx.sym.Activation(fc, act_type="relu")), name="sm")
    assert net.list_arguments() == ["data", "fc_weight", "fc_bias", "sm_label"]
    args, outs, _ = net.infer_shape(data=(2, 3, 5))
    assert args == [(2, 3, 5), (4, 15), (4,), (2,)] and outs == [(2, 4)]
    flat = mx.sym.FullyConnected(x, num_hidden=6, flatten=False, no_bias=True, name="f2")
    args, outs, _ = flat.infer_shape(data=(2, 3, 5))
    assert args == [(2, 3, 5), (6, 5)] and outs == [(2, 3, 6)]
    multi = mx.sym.SoftmaxOutput(x, multi_output=True, name="m")
    args, outs, _ = multi.infer_shape(data=(2, 3, 4, 5))
    assert args == [(2, 3, 4, 5), (2, 20)] and outs == [(2, 3, 4, 5)]
