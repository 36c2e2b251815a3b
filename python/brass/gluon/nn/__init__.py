"""Gluon layers: Dense, Conv2D, pooling, Activation, Flatten, BatchNorm, Dropout, Sequential."""
from .basic_layers import *  # noqa: F401,F403
from .conv_layers import *  # noqa: F401,F403
from .extra_layers import *  # noqa: F401,F403
