"""Convolution, transposed convolution, pooling and reflection-padding layers, 1-D to 3-D,
against NumPy (channels first and last, groups, stride, dilation, padding, output_padding),
imperative and hybridized, with the weight gradient checked by finite differences in float64."""
import itertools

import numpy as np
import pytest

import brass as mx
from brass.gluon import nn

RNG = np.random.RandomState(7)


def _windows(shape_out, k, s, d):
    """For each kernel tap: the slice of the (padded) data axis each output reads."""
    for tap in itertools.product(*(range(v) for v in k)):
        yield tap, tuple(slice(t * dd, t * dd + ss * (o - 1) + 1, ss) for t, dd, ss, o in zip(tap, d, s, shape_out))


def conv_ref(x, w, b, s, p, d, g):
    """Channels-first convolution: x (N, C, *S), w (F, C/g, *K)."""
    n, c, sp = x.shape[0], x.shape[1], x.shape[2:]
    f, k = w.shape[0], w.shape[2:]
    xp = np.pad(x, [(0, 0), (0, 0)] + [(v, v) for v in p])
    out = [(xp.shape[2 + i] - d[i] * (k[i] - 1) - 1) // s[i] + 1 for i in range(len(sp))]
    y = np.zeros((n, g, f // g) + tuple(out))
    for tap, sl in _windows(out, k, s, d):
        xs = xp[(slice(None), slice(None)) + sl].reshape((n, g, c // g) + tuple(out))
        wt = w[(slice(None), slice(None)) + tap].reshape(g, f // g, c // g)
        y += np.einsum("ngc...,gfc->ngf...", xs, wt)
    y = y.reshape((n, f) + tuple(out))
    return y if b is None else y + b.reshape((1, f) + (1,) * len(sp))


def deconv_ref(x, w, b, s, p, d, g, adj):
    """Channels-first transposed convolution: x (N, Cin, *X), w (Cin, F/g, *K)."""
    n, c, sp = x.shape[0], x.shape[1], x.shape[2:]
    fg, k = w.shape[1], w.shape[2:]
    full = [s[i] * (sp[i] - 1) + d[i] * (k[i] - 1) + 1 for i in range(len(sp))]
    y = np.zeros((n, g, fg) + tuple(v + a for v, a in zip(full, adj)))
    xs = x.reshape((n, g, c // g) + tuple(sp))
    for tap, sl in _windows(sp, k, s, d):
        wt = w[(slice(None), slice(None)) + tap].reshape(g, c // g, fg)
        y[(slice(None),) * 3 + sl] += np.einsum("ngc...,gcf->ngf...", xs, wt)
    out = tuple(slice(pi, pi + fu - 2 * pi + a) for pi, fu, a in zip(p, full, adj))
    y = y[(slice(None),) * 3 + out].reshape((n, g * fg) + tuple(v.stop - v.start for v in out))
    return y if b is None else y + b.reshape((1, g * fg) + (1,) * len(sp))


def pool_ref(x, k, s, p, kind, include_pad=True):
    sp = x.shape[2:]
    fill = -np.inf if kind == "max" else 0.0
    xp = np.pad(x, [(0, 0), (0, 0)] + [(v, v) for v in p], constant_values=fill)
    ones = np.pad(np.ones(sp), [(v, v) for v in p])
    out = [(sp[i] + 2 * p[i] - k[i]) // s[i] + 1 for i in range(len(sp))]
    stack = np.stack([xp[(slice(None), slice(None)) + sl] for _, sl in _windows(out, k, s, (1,) * len(k))])
    if kind == "max":
        return stack.max(0)
    count = np.prod(k) if include_pad else np.stack([ones[sl] for _, sl in _windows(out, k, s, (1,) * len(k))]).sum(0)
    return stack.sum(0) / count


def to_last(a):
    return np.moveaxis(a, 1, -1)


CONV_CASES = [  # (n, transpose, channels, in_channels, kernel, stride, pad, dilation, groups, output_padding, spatial)
    (1, False, 4, 3, 3, 1, 0, 1, 1, 0, (9,)),
    (1, False, 6, 4, 3, 2, 1, 2, 2, 0, (11,)),
    (2, False, 4, 2, (3, 2), (2, 1), (1, 0), 1, 1, 0, (7, 6)),
    (2, False, 4, 4, 3, 1, 1, (2, 1), 4, 0, (6, 5)),
    (3, False, 3, 2, 2, (1, 2, 1), (0, 1, 1), 1, 1, 0, (4, 5, 3)),
    (1, True, 4, 3, 3, 2, 1, 1, 1, 1, (5,)),
    (2, True, 4, 2, (3, 2), (2, 3), (1, 0), 1, 2, (1, 2), (4, 3)),
    (2, True, 3, 2, 3, 1, 0, 2, 1, 0, (3, 4)),
    (3, True, 2, 2, 2, 2, 0, 1, 1, 0, (2, 3, 2)),
]


def _make(case, layout=None, **kw):
    nsp, tr, ch, cin, k, s, p, d, g, adj, _ = case
    cls = getattr(nn, "Conv%dD%s" % (nsp, "Transpose" if tr else ""))
    extra = {"output_padding": adj} if tr else {}
    if layout:
        extra["layout"] = layout
    return cls(ch, k, strides=s, padding=p, dilation=d, groups=g, **extra, **kw)


def _ref(case, x, w, b):
    nsp, tr, _, _, k, s, p, d, g, adj, _ = case
    t = lambda v: v if isinstance(v, tuple) else (v,) * nsp  # noqa: E731
    if tr:
        return deconv_ref(x, w, b, t(s), t(p), t(d), g, t(adj))
    return conv_ref(x, w, b, t(s), t(p), t(d), g)


@pytest.mark.parametrize("hybrid", [False, True])
@pytest.mark.parametrize("case", CONV_CASES, ids=["%dd%s_%d" % (c[0], "T" if c[1] else "", i)
                                                   for i, c in enumerate(CONV_CASES)])
def test_conv_matches_numpy(case, hybrid):
    nsp, tr, ch, cin, _, _, _, _, g, _, sp = case
    layer = _make(case)
    layer.initialize(mx.init.Normal(0.5))
    layer.bias.set_data(mx.nd.array(RNG.randn(ch)))
    if hybrid:
        layer.hybridize()
    x = RNG.randn(2, cin, *sp)
    y = layer(mx.nd.array(x)).asnumpy()
    w = layer.weight.data().asnumpy()
    expect_w = (cin, ch // g) if tr else (ch, cin // g)
    assert w.shape[:2] == expect_w
    np.testing.assert_allclose(y, _ref(case, x, w, layer.bias.data().asnumpy()), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("case", [CONV_CASES[1], CONV_CASES[2], CONV_CASES[4], CONV_CASES[6]],
                         ids=["1d", "2d", "3d", "2dT"])
def test_conv_channels_last(case):
    """NWC/NHWC/NDHWC: the weight holds channels last too; same numbers as channels first."""
    nsp, tr, ch, cin, _, _, _, _, g, _, sp = case
    layout = {1: "NWC", 2: "NHWC", 3: "NDHWC"}[nsp]
    layer = _make(case, layout=layout, use_bias=False, activation="relu")
    layer.initialize(mx.init.Normal(0.5))
    x = RNG.randn(2, cin, *sp)
    y = layer(mx.nd.array(to_last(x))).asnumpy()
    w = np.moveaxis(layer.weight.data().asnumpy(), -1, 1)
    np.testing.assert_allclose(y, to_last(np.maximum(_ref(case, x, w, None), 0)), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("case", [CONV_CASES[1], CONV_CASES[3], CONV_CASES[6], CONV_CASES[8]],
                         ids=["1d", "2d_depthwise", "2dT", "3dT"])
def test_conv_weight_gradient_float64(case):
    """d sum(y * h) / d w by autograd against central differences of the NumPy reference."""
    nsp, tr, ch, cin, _, _, _, _, g, _, sp = case
    layer = _make(case, in_channels=cin)
    layer.initialize(mx.init.Normal(0.5))
    layer.cast("float64")
    x = RNG.randn(2, cin, *sp)
    xa = mx.nd.array(x, dtype="float64")
    with mx.autograd.record():
        y = layer(xa)
    h = RNG.randn(*y.shape)
    y.backward(mx.nd.array(h, dtype="float64"))
    grad = layer.weight.grad().asnumpy()
    w, b = layer.weight.data().asnumpy(), layer.bias.data().asnumpy()
    eps = 1e-6
    for idx in list(np.ndindex(w.shape))[::max(1, w.size // 12)]:
        wp, wm = w.copy(), w.copy()
        wp[idx] += eps
        wm[idx] -= eps
        num = ((_ref(case, x, wp, b) - _ref(case, x, wm, b)) * h).sum() / (2 * eps)
        assert abs(num - grad[idx]) < 1e-6 * max(1.0, abs(num)), (idx, num, grad[idx])
    np.testing.assert_allclose(layer.bias.grad().asnumpy(), h.sum(axis=tuple(i for i in range(h.ndim) if i != 1)))


POOL_CASES = [  # (class, kwargs, spatial, kind, kernel, stride, pad, count_include_pad)
    ("MaxPool1D", {}, (9,), "max", (2,), (2,), (0,), True),
    ("MaxPool1D", {"pool_size": 3, "strides": 1, "padding": 1}, (7,), "max", (3,), (1,), (1,), True),
    ("AvgPool1D", {"pool_size": 3, "strides": 2, "padding": 1}, (8,), "avg", (3,), (2,), (1,), True),
    ("MaxPool2D", {"pool_size": (3, 2), "strides": (2, 1)}, (7, 5), "max", (3, 2), (2, 1), (0, 0), True),
    ("AvgPool2D", {"pool_size": 3, "strides": 1, "padding": 1, "count_include_pad": False}, (5, 6), "avg",
     (3, 3), (1, 1), (1, 1), False),
    ("MaxPool3D", {}, (4, 6, 4), "max", (2, 2, 2), (2, 2, 2), (0, 0, 0), True),
    ("AvgPool3D", {"pool_size": (2, 3, 2), "strides": 1, "padding": (0, 1, 1)}, (3, 5, 4), "avg", (2, 3, 2),
     (1, 1, 1), (0, 1, 1), True),
]


@pytest.mark.parametrize("hybrid", [False, True])
@pytest.mark.parametrize("case", POOL_CASES, ids=["%s_%d" % (c[0], i) for i, c in enumerate(POOL_CASES)])
def test_pool_matches_numpy(case, hybrid):
    cls, kw, sp, kind, k, s, p, inc = case
    layer = getattr(nn, cls)(**kw)
    if hybrid:
        layer.hybridize()
    x = RNG.randn(2, 3, *sp)
    np.testing.assert_allclose(layer(mx.nd.array(x)).asnumpy(), pool_ref(x, k, s, p, kind, inc), rtol=1e-5, atol=1e-6)
    last = {1: "NWC", 2: "NHWC", 3: "NDHWC"}[len(sp)]
    layer = getattr(nn, cls)(layout=last, **kw)
    np.testing.assert_allclose(layer(mx.nd.array(to_last(x))).asnumpy(), to_last(pool_ref(x, k, s, p, kind, inc)),
                               rtol=1e-5, atol=1e-6)


def test_pool_ceil_mode():
    """ceil_mode=True is MXNet's 'full' convention: a last, partial window."""
    x = np.arange(7.0).reshape(1, 1, 7)
    assert nn.MaxPool1D(2)(mx.nd.array(x)).shape == (1, 1, 3)
    assert nn.MaxPool1D(2, ceil_mode=True)(mx.nd.array(x)).asnumpy().ravel().tolist() == [1, 3, 5, 6]


@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize("kind", ["Max", "Avg"])
def test_global_pool(n, kind):
    x = RNG.randn(2, 3, *(4, 3, 5)[:n])
    f = np.max if kind == "Max" else np.mean
    axes = tuple(range(2, 2 + n))
    blk = getattr(nn, "Global%sPool%dD" % (kind, n))()
    blk.hybridize()
    np.testing.assert_allclose(blk(mx.nd.array(x)).asnumpy(), f(x, axis=axes, keepdims=True), rtol=1e-5)
    last = getattr(nn, "Global%sPool%dD" % (kind, n))(layout={1: "NWC", 2: "NHWC", 3: "NDHWC"}[n])
    np.testing.assert_allclose(last(mx.nd.array(to_last(x))).asnumpy(), to_last(f(x, axis=axes, keepdims=True)),
                               rtol=1e-5)


def test_reflection_pad():
    x = RNG.randn(2, 3, 4, 5)
    for hybrid in (False, True):
        blk = nn.ReflectionPad2D(2)
        if hybrid:
            blk.hybridize()
        np.testing.assert_allclose(blk(mx.nd.array(x)).asnumpy(),
                                   np.pad(x, [(0, 0), (0, 0), (2, 2), (2, 2)], mode="reflect"), rtol=1e-6)
    blk = nn.ReflectionPad2D((0, 0, 0, 0, 1, 0, 0, 3))
    np.testing.assert_allclose(blk(mx.nd.array(x)).asnumpy(),
                               np.pad(x, [(0, 0), (0, 0), (1, 0), (0, 3)], mode="reflect"), rtol=1e-6)
    xa = mx.nd.array(x)
    xa.attach_grad()
    with mx.autograd.record():
        y = nn.ReflectionPad2D(1)(xa)
    y.backward()
    # Each input element counts once, plus once per border it is reflected across.
    cnt = np.pad(np.ones((4, 5)), 1, mode="reflect")
    expect = np.zeros((4, 5))
    for i, j in np.ndindex(cnt.shape):
        si = abs(i - 1) if i - 1 < 4 else 2 * 3 - (i - 1)
        sj = abs(j - 1) if j - 1 < 5 else 2 * 4 - (j - 1)
        expect[si, sj] += 1
    np.testing.assert_allclose(xa.grad.asnumpy()[0, 0], expect)


def test_names_shapes_and_deferred_init():
    """MXNet's prefixes (conv, pool) and weight shapes, in_channels inferred at the first call."""
    with mx.name.NameManager():
        net = nn.HybridSequential()
        with net.name_scope():
            net.add(nn.Conv1D(4, 3), nn.Conv2DTranspose(5, 2, groups=1), nn.MaxPool3D(), nn.ReflectionPad2D(1))
    assert [b.name for b in net._children.values()] == [
        "hybridsequential0_conv0", "hybridsequential0_conv1", "hybridsequential0_pool0",
        "hybridsequential0_reflectionpad2d0"]
    c = nn.Conv3DTranspose(6, (1, 2, 3), groups=3)
    c.initialize()
    assert c.weight.shape == (0, 2, 1, 2, 3)
    c(mx.nd.ones((1, 9, 2, 2, 2)))
    assert c.weight.shape == (9, 2, 1, 2, 3) and c.bias.shape == (6,)
    assert repr(nn.Conv2D(8, 3, padding=1, in_channels=4, activation="relu")) == \
        "Conv2D(4 -> 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), Activation(relu))"


def test_bad_arguments():
    with pytest.raises(ValueError, match="Conv2D: layout must be NCHW or NHWC, got 'NCW'"):
        nn.Conv2D(4, 3, layout="NCW")
    with pytest.raises(ValueError, match="Conv3D: kernel_size must be an int or 3 ints"):
        nn.Conv3D(4, (3, 3))
    with pytest.raises(ValueError, match="groups 3 must divide channels 4"):
        nn.Conv1D(4, 3, groups=3)
    with pytest.raises(ValueError, match="ReflectionPad2D: padding must be"):
        nn.ReflectionPad2D((1, 2))
    with pytest.raises(ValueError, match="MaxPool1D: layout must be NCW or NWC"):
        nn.MaxPool1D(layout="NCHW")
    c = nn.Conv2D(4, 3, in_channels=3)
    c.initialize()
    with pytest.raises(mx.BrassError, match="Convolution"):
        c(mx.nd.ones((1, 3, 5))).asnumpy()  # rank 3 data for a 2-D kernel
    with pytest.raises(mx.BrassError, match="weight"):
        c(mx.nd.ones((1, 2, 5, 5))).asnumpy()  # 2 channels for in_channels 3
    t = nn.Conv1DTranspose(2, 3, strides=2, output_padding=2)
    t.initialize()
    with pytest.raises(mx.BrassError, match="adj"):
        t(mx.nd.ones((1, 2, 4))).asnumpy()
