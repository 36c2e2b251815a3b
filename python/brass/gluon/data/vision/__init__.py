"""gluon.data.vision (MXNet 1.x): image datasets and transforms."""
from .datasets import MNIST, FashionMNIST, read_idx  # noqa: F401
from . import transforms  # noqa: F401
