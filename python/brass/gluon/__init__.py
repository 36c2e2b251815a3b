"""Gluon (MXNet 1.x): blocks, parameters, layers, hybridization."""
from .parameter import Parameter, ParameterDict, Constant, DeferredInitializationError  # noqa: F401
from .block import Block, HybridBlock, SymbolBlock  # noqa: F401
from .trainer import Trainer  # noqa: F401
from . import loss  # noqa: F401
from . import data  # noqa: F401
from . import nn  # noqa: F401
from . import utils  # noqa: F401
from . import model_zoo  # noqa: F401
from . import rnn  # noqa: F401
