"""Zero-copy exchange with numpy (and PyTorch, or anything with __dlpack__)."""
import numpy as np

from .. import base
from ..base import BrassError, check, ffi, lib
from .ndarray import NDArray, _bufs

_keep = {}  # id -> object kept alive until Brass releases the memory
_next = [0]


def _release(key):
    _keep.pop(key, None)


def from_numpy_zero_copy(a):
    """An NDArray over a C-contiguous numpy array's memory; the array is kept alive."""
    if not a.flags["C_CONTIGUOUS"]:
        raise BrassError("from_numpy: the array must be C-contiguous", 1)
    code = base.dtype_code(a.dtype)
    out = _bufs()[1]
    n = a.ndim
    shp = ffi.new("int64_t[]", a.shape) if n else ffi.NULL
    ptr = ffi.cast("void*", a.ctypes.data) if a.size else ffi.NULL
    check(lib.brass_ndarray_from_external(ptr, shp, n, code, 1, 0, ffi.NULL, ffi.NULL, out))
    arr = NDArray(out[0])
    # The memory must outlive every view; keep the numpy array alive with the NDArray object
    # through a registry entry released when the handle's Python object dies.
    _keep[id(arr)] = a
    import weakref
    weakref.finalize(arr, _release, id(arr))
    return arr


def from_dlpack(x):
    """An NDArray sharing memory with a DLPack-capable object (CPU memory)."""
    if isinstance(x, NDArray):
        return x
    if hasattr(x, "__dlpack__"):
        dev = x.__dlpack_device__() if hasattr(x, "__dlpack_device__") else (1, 0)
        if dev[0] != 1:
            raise BrassError("from_dlpack: only CPU tensors can be shared (device %s)" % (dev,), 4)
        a = np.from_dlpack(x)
        if not a.flags["C_CONTIGUOUS"]:
            raise BrassError("from_dlpack: the tensor must be C-contiguous", 1)
        return from_numpy_zero_copy(a)
    raise TypeError("from_dlpack: %s has no __dlpack__" % type(x).__name__)


class _Holder:
    """Keeps an NDArray alive while a numpy view of its memory exists."""

    def __init__(self, arr):
        self.arr = arr
        p = ffi.new("void**")
        check(lib.brass_ndarray_data(arr._h, p))
        self.__array_interface__ = {
            "shape": arr.shape,
            "typestr": "<u2" if np.dtype(arr.dtype) == base._bfloat16 else np.dtype(arr.dtype).str,
            "data": (int(ffi.cast("uintptr_t", p[0])), False),
            "version": 3,
        }


def as_numpy_view(arr):
    """A numpy array sharing the NDArray's memory (waits for pending work first)."""
    if arr.context.device_typeid == 2:
        raise BrassError("a GPU array has no host view; use asnumpy()", 4)
    v = np.asarray(_Holder(arr))
    return v.view(base._bfloat16) if np.dtype(arr.dtype) == base._bfloat16 else v
