"""SqueezeNet 1.0 and 1.1 (Iandola et al. 2016), built as MXNet 1.9.1 builds them, so parameter
names and shapes match its files. Called by ``vision.get_model``. The output ends in a 13x13
average pooling: 224x224 inputs give (batch, classes).

>>> import brass as mx
>>> net = mx.gluon.model_zoo.vision.squeezenet1_1(classes=10)
>>> net.initialize()
>>> net(mx.nd.zeros((1, 3, 224, 224))).shape
(1, 10)
"""
from ...block import HybridBlock
from ... import nn
from ....base import BrassError
from ..model_store import _load_pretrained

__all__ = ["SqueezeNet", "squeezenet1_0", "squeezenet1_1", "get_squeezenet"]


def _conv_relu(channels, kernel_size, padding=0):
    seq = nn.HybridSequential(prefix="")
    seq.add(nn.Conv2D(channels, kernel_size, padding=padding), nn.Activation("relu"))
    return seq


def _fire(squeeze, expand1x1, expand3x3):
    """A fire module: a 1x1 squeeze convolution, then 1x1 and 3x3 expansions concatenated on
    the channel axis (all with ReLU)."""
    fire = nn.HybridSequential(prefix="")
    fire.add(_conv_relu(squeeze, 1))
    expand = nn.HybridConcurrent(axis=1, prefix="")
    expand.add(_conv_relu(expand1x1, 1), _conv_relu(expand3x3, 3, 1))
    fire.add(expand)
    return fire


def _pool():
    return nn.MaxPool2D(pool_size=3, strides=2, ceil_mode=True)


class SqueezeNet(HybridBlock):
    """SqueezeNet ``version`` '1.0' or '1.1': a stem convolution (96 7x7/2, or 64 3x3/2), fire
    modules between 3x3/2 max poolings, Dropout(0.5); the output is a 1x1 convolution to
    ``classes``, ReLU, 13x13 average pooling and Flatten."""

    # version -> stem (channels, kernel), then "pool" or a fire module's (squeeze, e1x1, e3x3)
    _layouts = {"1.0": ((96, 7), ["pool", (16, 64, 64), (16, 64, 64), (32, 128, 128), "pool", (32, 128, 128),
                                  (48, 192, 192), (48, 192, 192), (64, 256, 256), "pool", (64, 256, 256)]),
                "1.1": ((64, 3), ["pool", (16, 64, 64), (16, 64, 64), "pool", (32, 128, 128), (32, 128, 128),
                                  "pool", (48, 192, 192), (48, 192, 192), (64, 256, 256), (64, 256, 256)])}

    def __init__(self, version, classes=1000, **kwargs):
        super().__init__(**kwargs)
        if version not in self._layouts:
            raise BrassError("SqueezeNet: version must be '1.0' or '1.1', got %r" % (version,))
        (stem, kernel), body = self._layouts[version]
        with self.name_scope():
            self.features = nn.HybridSequential(prefix="")
            self.features.add(nn.Conv2D(stem, kernel_size=kernel, strides=2), nn.Activation("relu"))
            for item in body:
                self.features.add(_pool() if item == "pool" else _fire(*item))
            self.features.add(nn.Dropout(0.5))
            self.output = nn.HybridSequential(prefix="")
            self.output.add(nn.Conv2D(classes, kernel_size=1), nn.Activation("relu"), nn.AvgPool2D(13),
                            nn.Flatten())

    def hybrid_forward(self, F, x):
        return self.output(self.features(x))


def get_squeezenet(version, pretrained=False, ctx=None, root=None, **kwargs):
    """SqueezeNet ``version`` ('1.0' or '1.1'); ``pretrained`` loads ``squeezenet<version>``
    from ``root`` (default ``$BRASS_HOME/models``) onto ``ctx``; other keywords (classes,
    prefix) go to SqueezeNet.

    >>> len(get_squeezenet('1.0').features)
    14
    """
    net = SqueezeNet(version, **kwargs)
    if pretrained:
        _load_pretrained(net, "squeezenet" + version, ctx, root)
    return net


def squeezenet1_0(**kwargs):
    """SqueezeNet 1.0 (see get_squeezenet for the keywords)."""
    return get_squeezenet("1.0", **kwargs)


def squeezenet1_1(**kwargs):
    """SqueezeNet 1.1 (see get_squeezenet for the keywords)."""
    return get_squeezenet("1.1", **kwargs)
