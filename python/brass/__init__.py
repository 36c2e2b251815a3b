"""Brass: a deep-learning framework in the line of MXNet. ``import brass as mx``.

>>> import brass as mx
>>> (mx.nd.ones((2, 2)) + 1).asnumpy().tolist()
[[2.0, 2.0], [2.0, 2.0]]
"""
from .base import BrassError, MXNetError  # noqa: F401
from .context import Context, cpu, gpu, cpu_pinned, current_context, num_gpus  # noqa: F401
from . import context  # noqa: F401
from . import ndarray  # noqa: F401
from . import ndarray as nd  # noqa: F401
from . import random  # noqa: F401
from . import autograd  # noqa: F401
from . import name  # noqa: F401
from . import attribute  # noqa: F401
from .attribute import AttrScope  # noqa: F401
from . import symbol  # noqa: F401
from . import symbol as sym  # noqa: F401
from .symbol import Symbol  # noqa: F401
from . import executor  # noqa: F401
from . import initializer  # noqa: F401
from . import initializer as init  # noqa: F401
from . import lr_scheduler  # noqa: F401
from . import optimizer  # noqa: F401
from . import kvstore  # noqa: F401
from . import kvstore as kv  # noqa: F401
from . import metric  # noqa: F401
from . import io  # noqa: F401
from . import model  # noqa: F401
from . import callback  # noqa: F401
from . import viz  # noqa: F401
from . import module  # noqa: F401
from . import module as mod  # noqa: F401
from . import gluon  # noqa: F401
from .base import lib as _lib, ffi as _ffi

__version__ = _ffi.string(_lib.brass_version_string()).decode()


def build_info():
    """Features of this build and machine (ISA, threads, engine, CUDA)."""
    return _ffi.string(_lib.brass_build_info()).decode()
