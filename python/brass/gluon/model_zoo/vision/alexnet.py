"""AlexNet (Krizhevsky et al. 2012, the one-tower variant), built as MXNet 1.9.1 builds it, so
parameter names and shapes match its file. Called by ``vision.get_model``.

>>> import brass as mx
>>> net = mx.gluon.model_zoo.vision.alexnet(classes=10)
>>> net.initialize()
>>> net(mx.nd.zeros((1, 3, 63, 63))).shape
(1, 10)
"""
from ...block import HybridBlock
from ... import nn
from ..model_store import _load_pretrained

__all__ = ["AlexNet", "alexnet"]


class AlexNet(HybridBlock):
    """Five convolutions with ReLU (11x11/4, 5x5, three 3x3) and three 3x3/2 max poolings,
    Flatten, Dense(4096)-ReLU-Dropout(0.5) twice, then Dense(classes) as ``output``."""

    def __init__(self, classes=1000, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.features = nn.HybridSequential(prefix="")
            with self.features.name_scope():
                f = self.features
                f.add(nn.Conv2D(64, kernel_size=11, strides=4, padding=2, activation="relu"),
                      nn.MaxPool2D(pool_size=3, strides=2))
                f.add(nn.Conv2D(192, kernel_size=5, padding=2, activation="relu"),
                      nn.MaxPool2D(pool_size=3, strides=2))
                for c in (384, 256, 256):
                    f.add(nn.Conv2D(c, kernel_size=3, padding=1, activation="relu"))
                f.add(nn.MaxPool2D(pool_size=3, strides=2), nn.Flatten())
                for _ in range(2):
                    f.add(nn.Dense(4096, activation="relu"), nn.Dropout(0.5))
            self.output = nn.Dense(classes)

    def hybrid_forward(self, F, x):
        return self.output(self.features(x))


def alexnet(pretrained=False, ctx=None, root=None, **kwargs):
    """AlexNet; ``pretrained`` loads ``alexnet`` from ``root`` (default
    ``$BRASS_HOME/models``) onto ``ctx``; other keywords (classes, prefix) go to AlexNet.

    >>> len(alexnet().features)
    13
    """
    net = AlexNet(**kwargs)
    if pretrained:
        _load_pretrained(net, "alexnet", ctx, root)
    return net
