"""DenseNet 121, 161, 169 and 201 (Huang et al. 2016), built as MXNet 1.9.1 builds them, so
parameter names and shapes match its files. Called by ``vision.get_model``. The features end in
a 7x7 average pooling: 224x224 inputs give (batch, classes).

>>> import brass as mx
>>> net = mx.gluon.model_zoo.vision.densenet121()
>>> [len(net.features[k]) for k in (4, 6, 8, 10)]
[6, 12, 24, 16]
"""
from ...block import HybridBlock
from ... import nn
from ....base import BrassError
from ..model_store import _load_pretrained

__all__ = ["DenseNet", "densenet121", "densenet161", "densenet169", "densenet201", "get_densenet"]


def _dense_layer(growth_rate, bn_size, dropout):
    """BN-ReLU-1x1 convolution (bn_size * growth_rate channels), BN-ReLU-3x3 convolution
    (growth_rate channels), optional Dropout; its output is concatenated to its input."""
    new = nn.HybridSequential(prefix="")
    new.add(nn.BatchNorm(), nn.Activation("relu"),
            nn.Conv2D(bn_size * growth_rate, kernel_size=1, use_bias=False),
            nn.BatchNorm(), nn.Activation("relu"),
            nn.Conv2D(growth_rate, kernel_size=3, padding=1, use_bias=False))
    if dropout:
        new.add(nn.Dropout(dropout))
    layer = nn.HybridConcurrent(axis=1, prefix="")
    layer.add(nn.Identity(), new)
    return layer


def _dense_block(num_layers, bn_size, growth_rate, dropout, index):
    block = nn.HybridSequential(prefix="stage%d_" % index)
    with block.name_scope():
        for _ in range(num_layers):
            block.add(_dense_layer(growth_rate, bn_size, dropout))
    return block


def _transition(channels):
    """BN-ReLU-1x1 convolution to ``channels``, then 2x2/2 average pooling."""
    seq = nn.HybridSequential(prefix="")
    seq.add(nn.BatchNorm(), nn.Activation("relu"), nn.Conv2D(channels, kernel_size=1, use_bias=False),
            nn.AvgPool2D(pool_size=2, strides=2))
    return seq


class DenseNet(HybridBlock):
    """A 7x7/2 convolution to ``num_init_features`` channels, BN, ReLU, 3x3/2 max pooling;
    dense blocks of ``block_config[i]`` layers (each adding ``growth_rate`` channels) with
    halving transitions between them; BN, ReLU, 7x7 average pooling, Flatten, Dense."""

    def __init__(self, num_init_features, growth_rate, block_config, bn_size=4, dropout=0, classes=1000,
                 **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.features = nn.HybridSequential(prefix="")
            self.features.add(nn.Conv2D(num_init_features, kernel_size=7, strides=2, padding=3,
                                        use_bias=False),
                              nn.BatchNorm(), nn.Activation("relu"),
                              nn.MaxPool2D(pool_size=3, strides=2, padding=1))
            channels = num_init_features
            for i, n in enumerate(block_config):
                self.features.add(_dense_block(n, bn_size, growth_rate, dropout, i + 1))
                channels += n * growth_rate
                if i + 1 < len(block_config):
                    channels //= 2
                    self.features.add(_transition(channels))
            self.features.add(nn.BatchNorm(), nn.Activation("relu"), nn.AvgPool2D(pool_size=7), nn.Flatten())
            self.output = nn.Dense(classes)

    def hybrid_forward(self, F, x):
        return self.output(self.features(x))


# depth -> (initial channels, growth rate, layers per dense block)
densenet_spec = {121: (64, 32, [6, 12, 24, 16]),
                 161: (96, 48, [6, 12, 36, 24]),
                 169: (64, 32, [6, 12, 32, 32]),
                 201: (64, 32, [6, 12, 48, 32])}


def get_densenet(num_layers, pretrained=False, ctx=None, root=None, **kwargs):
    """DenseNet with ``num_layers`` (121, 161, 169, 201) layers; ``pretrained`` loads
    ``densenet<num_layers>`` from ``root`` (default ``$BRASS_HOME/models``) onto ``ctx``;
    other keywords (bn_size, dropout, classes, prefix) go to DenseNet.

    >>> len(get_densenet(161).features[10])
    24
    """
    if num_layers not in densenet_spec:
        raise BrassError("get_densenet: no DenseNet with %r layers; there are %s"
                         % (num_layers, sorted(densenet_spec)))
    init, growth, config = densenet_spec[num_layers]
    net = DenseNet(init, growth, config, **kwargs)
    if pretrained:
        _load_pretrained(net, "densenet%d" % num_layers, ctx, root)
    return net


def densenet121(**kwargs):
    """DenseNet-121 (see get_densenet for the keywords)."""
    return get_densenet(121, **kwargs)


def densenet161(**kwargs):
    """DenseNet-161 (see get_densenet for the keywords)."""
    return get_densenet(161, **kwargs)


def densenet169(**kwargs):
    """DenseNet-169 (see get_densenet for the keywords)."""
    return get_densenet(169, **kwargs)


def densenet201(**kwargs):
    """DenseNet-201 (see get_densenet for the keywords)."""
    return get_densenet(201, **kwargs)
