"""VGG 11, 13, 16 and 19 (Simonyan and Zisserman 2014), with or without BatchNorm, built as
MXNet 1.9.1 builds them, so parameter names and shapes match its files. Called by
``vision.get_model``.

>>> import brass as mx
>>> net = mx.gluon.model_zoo.vision.vgg11(classes=10)
>>> net.initialize()
>>> net(mx.nd.zeros((1, 3, 32, 32))).shape
(1, 10)
"""
from ...block import HybridBlock
from ... import nn
from ....base import BrassError
from ....initializer import Xavier
from ..model_store import _load_pretrained

__all__ = ["VGG", "vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn",
           "get_vgg"]


class VGG(HybridBlock):
    """Groups of 3x3 convolutions (``layers[i]`` of them with ``filters[i]`` channels, each
    followed by BatchNorm when ``batch_norm`` and ReLU) separated by 2x2 max pooling, then
    Dense(4096)-ReLU-Dropout twice in ``features`` and Dense(classes) as ``output``."""

    def __init__(self, layers, filters, classes=1000, batch_norm=False, **kwargs):
        super().__init__(**kwargs)
        if len(layers) != len(filters):
            raise BrassError("VGG: layers (%d groups) and filters (%d) must have the same length"
                             % (len(layers), len(filters)))
        with self.name_scope():
            self.features = nn.HybridSequential(prefix="")
            for n, c in zip(layers, filters):
                for _ in range(n):
                    init = Xavier(rnd_type="gaussian", factor_type="out", magnitude=2)
                    self.features.add(nn.Conv2D(c, kernel_size=3, padding=1, weight_initializer=init,
                                                bias_initializer="zeros"))
                    if batch_norm:
                        self.features.add(nn.BatchNorm())
                    self.features.add(nn.Activation("relu"))
                self.features.add(nn.MaxPool2D(strides=2))
            for _ in range(2):
                self.features.add(nn.Dense(4096, activation="relu", weight_initializer="normal",
                                           bias_initializer="zeros"),
                                  nn.Dropout(rate=0.5))
            self.output = nn.Dense(classes, weight_initializer="normal", bias_initializer="zeros")

    def hybrid_forward(self, F, x):
        return self.output(self.features(x))


# depth -> (convolutions per group, channels per group)
vgg_spec = {11: ([1, 1, 2, 2, 2], [64, 128, 256, 512, 512]),
            13: ([2, 2, 2, 2, 2], [64, 128, 256, 512, 512]),
            16: ([2, 2, 3, 3, 3], [64, 128, 256, 512, 512]),
            19: ([2, 2, 4, 4, 4], [64, 128, 256, 512, 512])}


def get_vgg(num_layers, pretrained=False, ctx=None, root=None, **kwargs):
    """VGG with ``num_layers`` (11, 13, 16, 19) layers; ``batch_norm=True`` adds BatchNorm;
    ``pretrained`` loads ``vgg<num_layers>[_bn]`` from ``root`` (default
    ``$BRASS_HOME/models``) onto ``ctx``; other keywords (classes, prefix) go to VGG.

    >>> len(get_vgg(16, batch_norm=True).features)
    48
    """
    if num_layers not in vgg_spec:
        raise BrassError("get_vgg: no VGG with %r layers; there are %s" % (num_layers, sorted(vgg_spec)))
    layers, filters = vgg_spec[num_layers]
    net = VGG(layers, filters, **kwargs)
    if pretrained:
        _load_pretrained(net, "vgg%d%s" % (num_layers, "_bn" if kwargs.get("batch_norm") else ""), ctx, root)
    return net


def vgg11(**kwargs):
    """VGG-11 (see get_vgg for the keywords)."""
    return get_vgg(11, **kwargs)


def vgg13(**kwargs):
    """VGG-13 (see get_vgg for the keywords)."""
    return get_vgg(13, **kwargs)


def vgg16(**kwargs):
    """VGG-16 (see get_vgg for the keywords)."""
    return get_vgg(16, **kwargs)


def vgg19(**kwargs):
    """VGG-19 (see get_vgg for the keywords)."""
    return get_vgg(19, **kwargs)


def vgg11_bn(**kwargs):
    """VGG-11 with BatchNorm (see get_vgg for the keywords)."""
    return get_vgg(11, batch_norm=True, **kwargs)


def vgg13_bn(**kwargs):
    """VGG-13 with BatchNorm (see get_vgg for the keywords)."""
    return get_vgg(13, batch_norm=True, **kwargs)


def vgg16_bn(**kwargs):
    """VGG-16 with BatchNorm (see get_vgg for the keywords)."""
    return get_vgg(16, batch_norm=True, **kwargs)


def vgg19_bn(**kwargs):
    """VGG-19 with BatchNorm (see get_vgg for the keywords)."""
    return get_vgg(19, batch_norm=True, **kwargs)
