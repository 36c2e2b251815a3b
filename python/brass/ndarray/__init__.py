"""brass.nd: imperative arrays and every registered operator (generated at import)."""
from .ndarray import (NDArray, array, empty, zeros, ones, full, arange, waitall,  # noqa: F401
                      from_numpy, from_dlpack, concatenate, moveaxis, maximum, minimum)
from . import _internal
from .utils import save, load, zeros_like, ones_like  # noqa: F401

_internal.generate(globals())
from . import ndarray as _nd_mod  # noqa: E402
from .. import random  # noqa: E402,F401
from . import linalg  # noqa: E402,F401
from . import image  # noqa: E402,F401
