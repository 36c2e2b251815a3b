"""gluon.data.vision (MXNet 1.x): image datasets."""
from .datasets import MNIST, FashionMNIST, read_idx  # noqa: F401
