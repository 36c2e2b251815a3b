"""MobileNet v1 (Howard et al. 2017) and v2 (Sandler et al. 2018) at width multipliers 1.0,
0.75, 0.5 and 0.25, built as MXNet 1.9.1 builds them, so parameter names and shapes match its
files. Called by ``vision.get_model``.

>>> import brass as mx
>>> net = mx.gluon.model_zoo.vision.mobilenet_v2_0_25(classes=10)
>>> net.initialize()
>>> net(mx.nd.zeros((1, 3, 32, 32))).shape
(1, 10)
"""
from ...block import HybridBlock
from ... import nn
from ..model_store import _load_pretrained

__all__ = ["MobileNet", "MobileNetV2", "mobilenet1_0", "mobilenet_v2_1_0", "mobilenet0_75",
           "mobilenet_v2_0_75", "mobilenet0_5", "mobilenet_v2_0_5", "mobilenet0_25", "mobilenet_v2_0_25",
           "get_mobilenet", "get_mobilenet_v2"]


class RELU6(HybridBlock):
    """min(max(x, 0), 6)."""

    def hybrid_forward(self, F, x):
        return F.clip(x, a_min=0, a_max=6, name="relu6")


def _add_conv(seq, channels, kernel=1, stride=1, pad=0, groups=1, active=True, relu6=False):
    """Appends a bias-free convolution, a BatchNorm and (when ``active``) ReLU or ReLU6."""
    seq.add(nn.Conv2D(channels, kernel, stride, pad, groups=groups, use_bias=False), nn.BatchNorm(scale=True))
    if active:
        seq.add(RELU6() if relu6 else nn.Activation("relu"))


def _add_conv_dw(seq, dw_channels, channels, stride, relu6=False):
    """Appends a depthwise 3x3 convolution and a pointwise 1x1 one, each with BN and ReLU."""
    _add_conv(seq, dw_channels, kernel=3, stride=stride, pad=1, groups=dw_channels, relu6=relu6)
    _add_conv(seq, channels, relu6=relu6)


class LinearBottleneck(HybridBlock):
    """MobileNetV2's inverted residual: 1x1 expansion by ``t``, depthwise 3x3 with ``stride``,
    1x1 linear projection to ``channels``; the input is added when shapes allow it."""

    def __init__(self, in_channels, channels, t, stride, **kwargs):
        super().__init__(**kwargs)
        self.use_shortcut = stride == 1 and in_channels == channels
        with self.name_scope():
            self.out = nn.HybridSequential()
            wide = in_channels * t
            _add_conv(self.out, wide, relu6=True)
            _add_conv(self.out, wide, kernel=3, stride=stride, pad=1, groups=wide, relu6=True)
            _add_conv(self.out, channels, active=False, relu6=True)

    def hybrid_forward(self, F, x):
        y = self.out(x)
        return F.elemwise_add(y, x) if self.use_shortcut else y


def _scaled(multiplier, counts):
    return [int(c * multiplier) for c in counts]


class MobileNet(HybridBlock):
    """MobileNet v1 with channels scaled by ``multiplier``: a 3x3/2 convolution, 13 depthwise
    separable convolutions, global average pooling, Flatten, Dense(classes)."""

    def __init__(self, multiplier=1.0, classes=1000, **kwargs):
        super().__init__(**kwargs)
        dw = _scaled(multiplier, [32, 64] + [128] * 2 + [256] * 2 + [512] * 6 + [1024])
        pw = _scaled(multiplier, [64] + [128] * 2 + [256] * 2 + [512] * 6 + [1024] * 2)
        strides = [1, 2] * 3 + [1] * 5 + [2, 1]
        with self.name_scope():
            self.features = nn.HybridSequential(prefix="")
            with self.features.name_scope():
                _add_conv(self.features, int(32 * multiplier), kernel=3, stride=2, pad=1)
                for d, c, s in zip(dw, pw, strides):
                    _add_conv_dw(self.features, d, c, s)
                self.features.add(nn.GlobalAvgPool2D(), nn.Flatten())
            self.output = nn.Dense(classes)

    def hybrid_forward(self, F, x):
        return self.output(self.features(x))


class MobileNetV2(HybridBlock):
    """MobileNet v2 with channels scaled by ``multiplier``: a 3x3/2 convolution, 17 linear
    bottlenecks, a 1x1 convolution to 1280 channels (more when multiplier > 1), global average
    pooling, and a bias-free 1x1 convolution to ``classes`` then Flatten as the output."""

    def __init__(self, multiplier=1.0, classes=1000, **kwargs):
        super().__init__(**kwargs)
        ins = _scaled(multiplier, [32, 16] + [24] * 2 + [32] * 3 + [64] * 4 + [96] * 3 + [160] * 3)
        outs = _scaled(multiplier, [16] + [24] * 2 + [32] * 3 + [64] * 4 + [96] * 3 + [160] * 3 + [320])
        expand = [1] + [6] * 16
        strides = [1, 2] * 2 + [1, 1, 2] + [1] * 6 + [2] + [1] * 3
        with self.name_scope():
            self.features = nn.HybridSequential(prefix="features_")
            with self.features.name_scope():
                _add_conv(self.features, int(32 * multiplier), kernel=3, stride=2, pad=1, relu6=True)
                for i, c, t, s in zip(ins, outs, expand, strides):
                    self.features.add(LinearBottleneck(in_channels=i, channels=c, t=t, stride=s))
                _add_conv(self.features, int(1280 * multiplier) if multiplier > 1.0 else 1280, relu6=True)
                self.features.add(nn.GlobalAvgPool2D())
            self.output = nn.HybridSequential(prefix="output_")
            with self.output.name_scope():
                self.output.add(nn.Conv2D(classes, 1, use_bias=False, prefix="pred_"), nn.Flatten())

    def hybrid_forward(self, F, x):
        return self.output(self.features(x))


def _suffix(multiplier):
    """The model store's spelling of a multiplier: 1.0, 0.75, 0.5, 0.25."""
    s = "%.2f" % multiplier
    return s[:-1] if s in ("1.00", "0.50") else s


def get_mobilenet(multiplier, pretrained=False, ctx=None, root=None, **kwargs):
    """MobileNet v1 at width ``multiplier``; ``pretrained`` loads ``mobilenet<multiplier>``
    from ``root`` (default ``$BRASS_HOME/models``) onto ``ctx``; other keywords (classes,
    prefix) go to MobileNet.

    >>> get_mobilenet(0.5).output.__class__.__name__
    'Dense'
    """
    net = MobileNet(multiplier, **kwargs)
    if pretrained:
        _load_pretrained(net, "mobilenet" + _suffix(multiplier), ctx, root)
    return net


def get_mobilenet_v2(multiplier, pretrained=False, ctx=None, root=None, **kwargs):
    """MobileNet v2 at width ``multiplier``; ``pretrained`` loads ``mobilenetv2_<multiplier>``
    from ``root`` (default ``$BRASS_HOME/models``) onto ``ctx``; other keywords go to
    MobileNetV2.

    >>> len(get_mobilenet_v2(1.0).features)
    24
    """
    net = MobileNetV2(multiplier, **kwargs)
    if pretrained:
        _load_pretrained(net, "mobilenetv2_" + _suffix(multiplier), ctx, root)
    return net


def mobilenet1_0(**kwargs):
    """MobileNet v1, multiplier 1.0 (see get_mobilenet for the keywords)."""
    return get_mobilenet(1.0, **kwargs)


def mobilenet0_75(**kwargs):
    """MobileNet v1, multiplier 0.75 (see get_mobilenet for the keywords)."""
    return get_mobilenet(0.75, **kwargs)


def mobilenet0_5(**kwargs):
    """MobileNet v1, multiplier 0.5 (see get_mobilenet for the keywords)."""
    return get_mobilenet(0.5, **kwargs)


def mobilenet0_25(**kwargs):
    """MobileNet v1, multiplier 0.25 (see get_mobilenet for the keywords)."""
    return get_mobilenet(0.25, **kwargs)


def mobilenet_v2_1_0(**kwargs):
    """MobileNet v2, multiplier 1.0 (see get_mobilenet_v2 for the keywords)."""
    return get_mobilenet_v2(1.0, **kwargs)


def mobilenet_v2_0_75(**kwargs):
    """MobileNet v2, multiplier 0.75 (see get_mobilenet_v2 for the keywords)."""
    return get_mobilenet_v2(0.75, **kwargs)


def mobilenet_v2_0_5(**kwargs):
    """MobileNet v2, multiplier 0.5 (see get_mobilenet_v2 for the keywords)."""
    return get_mobilenet_v2(0.5, **kwargs)


def mobilenet_v2_0_25(**kwargs):
    """MobileNet v2, multiplier 0.25 (see get_mobilenet_v2 for the keywords)."""
    return get_mobilenet_v2(0.25, **kwargs)
