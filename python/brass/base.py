"""The one module that touches the C library: loading, error checking, dtype tables."""
import numpy as np

try:
    import ml_dtypes as _ml_dtypes

    _bfloat16 = np.dtype(_ml_dtypes.bfloat16)
except ImportError:  # pragma: no cover - ml_dtypes is a declared dependency
    _bfloat16 = None

from ._ffi import ffi, lib  # noqa: E402

__all__ = ["BrassError", "MXNetError", "ffi", "lib", "check", "string_types", "numeric_types", "atomic_write"]

string_types = (str,)
numeric_types = (float, int, np.generic)
integer_types = (int, np.integer)


class BrassError(Exception):
    """Error raised by Brass: the message names the operator, the argument and the shapes.

    ``code`` is the C status (see brass/c_api.h).
    """

    def __init__(self, msg, code=None):
        super().__init__(msg)
        self.code = code


MXNetError = BrassError  # the name MXNet scripts catch


def atomic_write(fname, data):
    """Writes ``data`` (bytes or str) to ``fname`` through a temporary file renamed into place,
    so a reader, or a crash mid-write, sees the old file or the new one, never a part."""
    import os

    fname = os.fspath(fname)
    tmp = "%s.tmp-%d" % (fname, os.getpid())
    try:
        with open(tmp, "wb" if isinstance(data, (bytes, bytearray)) else "w") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, fname)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def check(status):
    """Raises BrassError for a failed C call."""
    if status != 0:
        raise BrassError(ffi.string(lib.brass_last_error()).decode("utf-8", "replace"), status)


# dtype codes (MXNet's) <-> numpy dtypes
_CODE_TO_NP = {
    0: np.dtype(np.float32),
    1: np.dtype(np.float64),
    2: np.dtype(np.float16),
    3: np.dtype(np.uint8),
    4: np.dtype(np.int32),
    5: np.dtype(np.int8),
    6: np.dtype(np.int64),
    7: np.dtype(np.bool_),
    8: np.dtype(np.int16),
    9: np.dtype(np.uint16),
    10: np.dtype(np.uint32),
    11: np.dtype(np.uint64),
}
if _bfloat16 is not None:
    _CODE_TO_NP[12] = _bfloat16
_NP_TO_CODE = {v: k for k, v in _CODE_TO_NP.items()}
_NAME_TO_CODE = {v.name: k for k, v in _CODE_TO_NP.items()}
_NAME_TO_CODE.update({"bool": 7, "bfloat16": 12, "float": 0, "double": 1, "half": 2})


def dtype_code(dtype):
    """Code of a dtype given as numpy dtype, type, or name ('float32')."""
    if dtype is None:
        return 0
    if isinstance(dtype, str):
        try:
            return _NAME_TO_CODE[dtype]
        except KeyError:
            raise BrassError("unknown dtype '%s'" % dtype, 3) from None
    try:
        return _NP_TO_CODE[np.dtype(dtype)]
    except (KeyError, TypeError):
        raise BrassError("unsupported dtype %r" % (dtype,), 3) from None


def dtype_np(code):
    return _CODE_TO_NP[code]


def dtype_name(dtype):
    return dtype_np(dtype_code(dtype)).name
