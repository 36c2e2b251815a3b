"""Inception v3 (Szegedy et al. 2015), built as MXNet 1.9.1 builds it, so parameter names and
shapes match its file. Called by ``vision.get_model('inceptionv3')``. It takes 299x299 inputs
(the features end in an 8x8 average pooling).

>>> import brass as mx
>>> net = mx.gluon.model_zoo.vision.inception_v3()
>>> [b.prefix[len(net.prefix):] for b in list(net.features)[7:11]]
['A1_', 'A2_', 'A3_', 'B_']
"""
from ...block import HybridBlock
from ... import nn
from ..model_store import _load_pretrained

__all__ = ["Inception3", "inception_v3"]


def _basic_conv(**kwargs):
    """Bias-free convolution (Conv2D keywords), BatchNorm (epsilon 0.001), ReLU."""
    seq = nn.HybridSequential(prefix="")
    seq.add(nn.Conv2D(use_bias=False, **kwargs), nn.BatchNorm(epsilon=0.001), nn.Activation("relu"))
    return seq


def _branch(pool, *convs):
    """An optional pooling ('avg': 3x3/1 padded average, 'max': 3x3/2 max) then basic
    convolutions, each given as (channels, kernel_size, strides, padding) with None for the
    Conv2D default."""
    seq = nn.HybridSequential(prefix="")
    if pool == "avg":
        seq.add(nn.AvgPool2D(pool_size=3, strides=1, padding=1))
    elif pool == "max":
        seq.add(nn.MaxPool2D(pool_size=3, strides=2))
    for setting in convs:
        names = ("channels", "kernel_size", "strides", "padding")
        kwargs = {k: v for k, v in zip(names, setting) if v is not None}
        seq.add(_basic_conv(**kwargs))
    return seq


def _mixed(prefix, branches):
    """A HybridConcurrent (channel axis) named ``prefix`` whose children are built, in order,
    by the functions in ``branches`` (inside its name scope)."""
    block = nn.HybridConcurrent(axis=1, prefix=prefix)
    with block.name_scope():
        for make in branches:
            block.add(make())
    return block


def _make_A(pool_features, prefix):
    return _mixed(prefix, [lambda: _branch(None, (64, 1, None, None)),
                           lambda: _branch(None, (48, 1, None, None), (64, 5, None, 2)),
                           lambda: _branch(None, (64, 1, None, None), (96, 3, None, 1), (96, 3, None, 1)),
                           lambda: _branch("avg", (pool_features, 1, None, None))])


def _make_B(prefix):
    return _mixed(prefix, [lambda: _branch(None, (384, 3, 2, None)),
                           lambda: _branch(None, (64, 1, None, None), (96, 3, None, 1), (96, 3, 2, None)),
                           lambda: _branch("max")])


def _make_C(c7, prefix):
    return _mixed(prefix, [lambda: _branch(None, (192, 1, None, None)),
                           lambda: _branch(None, (c7, 1, None, None), (c7, (1, 7), None, (0, 3)),
                                           (192, (7, 1), None, (3, 0))),
                           lambda: _branch(None, (c7, 1, None, None), (c7, (7, 1), None, (3, 0)),
                                           (c7, (1, 7), None, (0, 3)), (c7, (7, 1), None, (3, 0)),
                                           (192, (1, 7), None, (0, 3))),
                           lambda: _branch("avg", (192, 1, None, None))])


def _make_D(prefix):
    return _mixed(prefix, [lambda: _branch(None, (192, 1, None, None), (320, 3, 2, None)),
                           lambda: _branch(None, (192, 1, None, None), (192, (1, 7), None, (0, 3)),
                                           (192, (7, 1), None, (3, 0)), (192, 3, 2, None)),
                           lambda: _branch("max")])


def _split_3x3(first):
    """``first`` (a branch), then its output through 1x3 and 3x1 convolutions (384 channels
    each) side by side."""
    seq = nn.HybridSequential(prefix="")
    seq.add(first)
    split = nn.HybridConcurrent(axis=1, prefix="")
    split.add(_branch(None, (384, (1, 3), None, (0, 1))), _branch(None, (384, (3, 1), None, (1, 0))))
    seq.add(split)
    return seq


def _make_E(prefix):
    return _mixed(prefix, [lambda: _branch(None, (320, 1, None, None)),
                           lambda: _split_3x3(_branch(None, (384, 1, None, None))),
                           lambda: _split_3x3(_branch(None, (448, 1, None, None), (384, 3, None, 1))),
                           lambda: _branch("avg", (192, 1, None, None))])


class Inception3(HybridBlock):
    """Inception v3: a stem of five basic convolutions and two max poolings, mixed blocks
    A1-A3, B, C1-C4, D, E1-E2 (each a HybridConcurrent of branches), 8x8 average pooling,
    Dropout(0.5), and Dense(classes) as ``output``."""

    def __init__(self, classes=1000, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            f = self.features = nn.HybridSequential(prefix="")
            f.add(_basic_conv(channels=32, kernel_size=3, strides=2), _basic_conv(channels=32, kernel_size=3),
                  _basic_conv(channels=64, kernel_size=3, padding=1), nn.MaxPool2D(pool_size=3, strides=2),
                  _basic_conv(channels=80, kernel_size=1), _basic_conv(channels=192, kernel_size=3),
                  nn.MaxPool2D(pool_size=3, strides=2))
            f.add(_make_A(32, "A1_"), _make_A(64, "A2_"), _make_A(64, "A3_"), _make_B("B_"))
            f.add(_make_C(128, "C1_"), _make_C(160, "C2_"), _make_C(160, "C3_"), _make_C(192, "C4_"))
            f.add(_make_D("D_"), _make_E("E1_"), _make_E("E2_"), nn.AvgPool2D(pool_size=8), nn.Dropout(0.5))
            self.output = nn.Dense(classes)

    def hybrid_forward(self, F, x):
        return self.output(self.features(x))


def inception_v3(pretrained=False, ctx=None, root=None, **kwargs):
    """Inception v3; ``pretrained`` loads ``inceptionv3`` from ``root`` (default
    ``$BRASS_HOME/models``) onto ``ctx``; other keywords (classes, prefix) go to Inception3.

    >>> inception_v3(classes=10).output.__class__.__name__
    'Dense'
    """
    net = Inception3(**kwargs)
    if pretrained:
        _load_pretrained(net, "inceptionv3", ctx, root)
    return net
