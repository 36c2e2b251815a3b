"""The extra gluon.nn layers against NumPy, imperative and hybridized (parameters' shapes from
the first input where deferred), with gradients flowing to their parameters."""
import math

import numpy as np
import pytest

import brass as mx
from brass.gluon import nn

X = np.random.RandomState(0).randn(2, 3, 4, 5)


def erf(v):
    return np.vectorize(math.erf)(v)


def layer_norm(x, axis=-1, eps=1e-5):
    m = x.mean(axis=axis, keepdims=True)
    v = x.var(axis=axis, keepdims=True)
    return (x - m) / np.sqrt(v + eps)


def group_norm(x, g, eps=1e-5):
    n, c = x.shape[:2]
    y = x.reshape(n, g, -1)
    y = (y - y.mean(-1, keepdims=True)) / np.sqrt(y.var(-1, keepdims=True) + eps)
    return y.reshape(x.shape)


SELU_A, SELU_L = 1.6732632423543772, 1.0507009873554805

CASES = [
    ("identity", lambda: nn.Identity(), lambda x: x),
    ("leaky", lambda: nn.LeakyReLU(0.1), lambda x: np.where(x > 0, x, 0.1 * x)),
    ("prelu", lambda: nn.PReLU(), lambda x: np.where(x > 0, x, 0.25 * x)),
    ("elu", lambda: nn.ELU(0.5), lambda x: np.where(x > 0, x, 0.5 * (np.exp(x) - 1))),
    ("selu", lambda: nn.SELU(), lambda x: SELU_L * np.where(x > 0, x, SELU_A * (np.exp(x) - 1))),
    ("gelu", lambda: nn.GELU(), lambda x: 0.5 * x * (1 + erf(x / np.sqrt(2)))),
    ("swish", lambda: nn.Swish(2.0), lambda x: x / (1 + np.exp(-2.0 * x))),
    ("layernorm", lambda: nn.LayerNorm(), layer_norm),
    ("layernorm_axis1", lambda: nn.LayerNorm(axis=1), lambda x: layer_norm(x, 1)),
    ("instancenorm", lambda: nn.InstanceNorm(), lambda x: layer_norm(x.reshape(2, 3, -1), -1).reshape(x.shape)),
    ("instancenorm_axis3", lambda: nn.InstanceNorm(axis=3),
     lambda x: np.swapaxes(layer_norm(np.swapaxes(x, 1, 3).reshape(2, 5, -1)).reshape(2, 5, 4, 3), 1, 3)),
    ("groupnorm", lambda: nn.GroupNorm(3), lambda x: group_norm(x, 3)),
]


@pytest.mark.parametrize("hybrid", [False, True])
@pytest.mark.parametrize("name,make,ref", CASES, ids=[c[0] for c in CASES])
def test_layer_matches_numpy(name, make, ref, hybrid):
    blk = make()
    blk.initialize()
    if hybrid:
        blk.hybridize()
    x = mx.nd.array(X, dtype="float64") if name != "gelu" else mx.nd.array(X)
    if name != "gelu":
        blk.cast("float64")
    got = blk(x).asnumpy()
    np.testing.assert_allclose(got, ref(X), rtol=1e-5 if name == "gelu" else 1e-9, atol=1e-6 if name == "gelu" else 1e-10)


def test_parameters_learn():
    """PReLU's slope, LayerNorm's gamma/beta and Embedding's rows get gradients."""
    p = nn.PReLU(in_channels=3)
    p.initialize()
    x = mx.nd.array(X[:, :, :2, :2])
    x.attach_grad()
    with mx.autograd.record():
        y = p(x).sum()
    y.backward()
    neg = np.minimum(X[:, :, :2, :2], 0).sum(axis=(0, 2, 3))
    np.testing.assert_allclose(p.alpha.grad().asnumpy(), neg, rtol=1e-5)
    ln = nn.LayerNorm(in_channels=5)
    ln.initialize()
    with mx.autograd.record():
        y = (ln(mx.nd.array(X)) * mx.nd.array(X)).sum()
    y.backward()
    np.testing.assert_allclose(ln.beta.grad().asnumpy(), X.sum(axis=(0, 1, 2)), rtol=1e-5)
    e = nn.Embedding(6, 3)
    e.initialize(mx.init.Constant(1.0))
    with mx.autograd.record():
        y = e(mx.nd.array([[1, 4], [4, 9]])).sum()  # 9 is clipped to 5
    y.backward()
    g = e.weight.grad().asnumpy()
    assert g[:, 0].tolist() == [0, 1, 0, 0, 2, 1]
    assert e(mx.nd.array([0, 5])).shape == (2, 3)


def test_containers_and_lambdas():
    c = nn.HybridConcurrent(axis=1)
    with c.name_scope():
        c.add(nn.Dense(3, in_units=5), nn.Identity())
    c.initialize()
    x = mx.nd.ones((2, 5))
    a = c(x).asnumpy()
    c.hybridize()
    np.testing.assert_allclose(c(x).asnumpy(), a)
    assert a.shape == (2, 8) and (a[:, 3:] == 1).all()
    seq = nn.Concurrent(axis=0)
    seq.add(nn.Lambda("relu"), nn.Lambda(lambda v: v * 2))
    assert seq(mx.nd.array([[-1.0, 2.0]])).asnumpy().tolist() == [[0.0, 2.0], [-2.0, 4.0]]
    h = nn.HybridLambda("tanh")
    h.hybridize()
    np.testing.assert_allclose(h(mx.nd.array([0.5])).asnumpy(), np.tanh([0.5]), rtol=1e-6)
    with pytest.raises(mx.BrassError, match="no function 'tanhh'"):
        nn.Lambda("tanhh")
    with pytest.raises(mx.BrassError, match="alpha must be >= 0"):
        nn.LeakyReLU(-1)
