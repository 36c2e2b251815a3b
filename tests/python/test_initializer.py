"""Initializers: Orthogonal, Bilinear, LSTMBias, Mixed and Load against hand-computed values,
through Gluon parameters (MXNet's rule: a parameter's own initializer fills it whatever its
name) and through Module.init_params (by name)."""
import numpy as np
import pytest

import brass as mx
from brass import gluon


@pytest.mark.parametrize("shape", [(4, 6), (6, 4), (3, 2, 2, 2), (5, 5)])
@pytest.mark.parametrize("rand_type", ["uniform", "normal"])
def test_orthogonal(shape, rand_type):
    w = mx.nd.zeros(shape)
    mx.init.Orthogonal(scale=2.0, rand_type=rand_type)("w_weight", w)
    m = w.asnumpy().reshape(shape[0], -1).astype(np.float64)
    gram = m @ m.T if m.shape[0] <= m.shape[1] else m.T @ m
    np.testing.assert_allclose(gram, 4.0 * np.eye(gram.shape[0]), atol=1e-5)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        mx.init.Orthogonal()("b_weight", mx.nd.zeros((3,)))


def test_bilinear():
    w = mx.nd.zeros((2, 1, 4, 4))
    mx.init.Bilinear()("up_weight", w)
    tri = np.array([0.25, 0.75, 0.75, 0.25])  # f = 2, c = 0.75: 1 - |x / 2 - 0.75|
    np.testing.assert_allclose(w.asnumpy()[1, 0], np.outer(tri, tri), rtol=1e-6)
    w3 = mx.nd.zeros((1, 1, 3, 3))
    mx.init.Bilinear()("up_weight", w3)
    tri3 = np.array([0.25, 0.75, 0.75])  # f = 2, c = 0.75 (MXNet's formula, uneven for odd sizes)
    np.testing.assert_allclose(w3.asnumpy()[0, 0], np.outer(tri3, tri3), rtol=1e-6)
    # As a transposed convolution's weight it up-samples a constant image to a constant inside.
    up = gluon.nn.Conv2DTranspose(1, 4, strides=2, padding=1, in_channels=1, use_bias=False,
                                  weight_initializer=mx.init.Bilinear())
    up.initialize()
    y = up(mx.nd.ones((1, 1, 4, 4))).asnumpy()[0, 0]
    assert y.shape == (8, 8)
    np.testing.assert_allclose(y[1:-1, 1:-1], 1.0, rtol=1e-6)


def test_lstm_bias_via_parameter_initializer():
    """A bias parameter whose own initializer is LSTMBias gets it (not the zeros its name
    would get by the default rule), as in MXNet."""
    p = gluon.Parameter("lstm_i2h_bias", shape=(8,), init=mx.init.LSTMBias(forget_bias=2.0))
    p.initialize()
    assert p.data().asnumpy().tolist() == [0, 0, 2, 2, 0, 0, 0, 0]
    d = gluon.nn.Dense(3, in_units=2, bias_initializer=mx.init.Constant(0.5))
    d.initialize()
    assert d.bias.data().asnumpy().tolist() == [0.5] * 3
    with pytest.raises(ValueError, match="4 \\* hidden"):
        mx.init.LSTMBias()("b", mx.nd.zeros((6,)))


def test_mixed_and_load(tmp_path):
    # The chosen initializer applies MXNet's name rules: a *_bias gets zeros, a *_gamma ones.
    init = mx.init.Mixed(["fc_w.*", ".*"], [mx.init.Constant(3.0), mx.init.Uniform(5.0)])
    net = gluon.nn.Dense(2, in_units=3, prefix="fc_", bias_initializer=None)  # no own initializer: the global one
    net.initialize(init)
    assert (net.weight.data().asnumpy() == 3).all() and (net.bias.data().asnumpy() == 0).all()
    g = gluon.Parameter("bn_gamma", shape=(3,))
    g.initialize(default_init=init)
    assert (g.data().asnumpy() == 1).all()
    with pytest.raises(ValueError, match="matches none of the patterns"):
        mx.init.Mixed(["a.*"], [mx.init.One()])("b_weight", mx.nd.zeros((2,)))
    # Load: from a file with arg:/aux: prefixes; the rest from default_init.
    w = np.arange(6, dtype=np.float32).reshape(2, 3)
    mx.nd.save(str(tmp_path / "p.params"), {"arg:fc_weight": mx.nd.array(w)})
    net2 = gluon.nn.Dense(2, in_units=3, prefix="fc_")
    net2.initialize(mx.init.Load(str(tmp_path / "p.params"), default_init=mx.init.Constant(7.0)))
    np.testing.assert_array_equal(net2.weight.data().asnumpy(), w)
    assert (net2.bias.data().asnumpy() == 0).all()  # Dense's own bias initializer: zeros
    with pytest.raises(ValueError, match="no value for 'x_weight' and no default_init"):
        mx.init.Load({"fc_weight": mx.nd.array(w)})("x_weight", mx.nd.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"shape \(2, 3\) in the loaded values, the parameter's is \(3, 2\)"):
        mx.init.Load({"fc_weight": mx.nd.array(w)})("fc_weight", mx.nd.zeros((3, 2)))


def test_module_init_params_by_name():
    data = mx.sym.var("data")
    fc = mx.sym.FullyConnected(data, num_hidden=4, name="fc")
    out = mx.sym.SoftmaxOutput(fc, name="softmax")
    mod = mx.mod.Module(out)
    mod.bind([("data", (2, 5))], [("softmax_label", (2,))])
    mod.init_params(mx.init.Mixed(["fc_weight", ".*"], [mx.init.Orthogonal(1.0), mx.init.Constant(0.25)]))
    args, _ = mod.get_params()
    m = args["fc_weight"].asnumpy()
    np.testing.assert_allclose(m @ m.T, np.eye(4), atol=1e-5)
    assert (args["fc_bias"].asnumpy() == 0).all()  # by name, as MXNet's initializers do


def test_create_by_name_and_dump():
    assert isinstance(mx.init.create("orthogonal"), mx.init.Orthogonal)
    b = mx.init.create(mx.init.LSTMBias(1.5).dumps())
    assert isinstance(b, mx.init.LSTMBias) and b.forget_bias == 1.5
    m = mx.init.create(mx.init.Mixed([".*"], [mx.init.Constant(2.0)]).dumps())
    arr = mx.nd.zeros((2,))
    m("any", arr)
    assert arr.asnumpy().tolist() == [2.0, 2.0]
