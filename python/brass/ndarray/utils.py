"""save/load in MXNet's .params format, and *_like helpers."""
import os

from ..base import check, ffi, lib
from .ndarray import NDArray, _op

__all__ = ["save", "load", "zeros_like", "ones_like"]


def save(fname, data):
    """Saves a list or a dict (str -> NDArray) of arrays in MXNet's format, atomically.

    >>> import brass as mx, tempfile, os
    >>> f = os.path.join(tempfile.mkdtemp(), "x.params")
    >>> mx.nd.save(f, {"w": mx.nd.ones(2)})
    >>> mx.nd.load(f)["w"].asnumpy().tolist()
    [1.0, 1.0]
    """
    if isinstance(data, NDArray):
        data = [data]
    if isinstance(data, dict):
        names = list(data.keys())
        arrays = [data[k] for k in names]
        if not all(isinstance(k, str) for k in names):
            raise TypeError("save: dict keys must be str")
    else:
        arrays = list(data)
        names = None
    if not all(isinstance(a, NDArray) for a in arrays):
        raise TypeError("save: only NDArrays can be saved")
    hs = ffi.new("brass_ndarray_t[]", [a._h for a in arrays]) if arrays else ffi.NULL
    if names is not None:
        keep = [ffi.new("char[]", n.encode()) for n in names]
        cn = ffi.new("char*[]", keep)
    else:
        cn = ffi.NULL
    check(lib.brass_ndarray_save(os.fsencode(fname), len(arrays), hs, cn))


def _from_list(lst):
    try:
        n = ffi.new("int32_t*")
        check(lib.brass_ndlist_size(lst, n))
        names, arrays = [], []
        nm = ffi.new("const char**")
        out = ffi.new("brass_ndarray_t*")
        for i in range(n[0]):
            check(lib.brass_ndlist_get(lst, i, nm, out))
            arrays.append(NDArray(out[0]))
            names.append(ffi.string(nm[0]).decode("utf-8", "replace"))
    finally:
        lib.brass_ndlist_free(lst)
    if arrays and any(names):
        return dict(zip(names, arrays))
    return arrays


def load(fname):
    """Loads a file written by MXNet or Brass: a list, or a dict when the file has names."""
    out = ffi.new("brass_ndlist_t*")
    check(lib.brass_ndarray_load(os.fsencode(fname), out))
    return _from_list(out[0])


def load_frombuffer(buf):
    """Like load, from bytes."""
    out = ffi.new("brass_ndlist_t*")
    b = ffi.from_buffer(buf)
    check(lib.brass_ndarray_load_bytes(b, len(b), out))
    return _from_list(out[0])


def zeros_like(data, **kwargs):
    return _op("zeros_like")(data, **kwargs)


def ones_like(data, **kwargs):
    return _op("ones_like")(data, **kwargs)
