"""NDArray indexing with MXNet 1.x semantics: basic slices of the first axis are views; other
slices copy (the `slice` op); integer arrays use `take`; a result with no axes has shape (1,)."""
import numpy as np

from .. import base
from ..base import BrassError
from .ndarray import NDArray, _op, array


def _is_int(k):
    return isinstance(k, base.integer_types) and not isinstance(k, bool)


def _expand(arr, key):
    """-> (begin, end, step per input axis, int_axes, new_axis_positions_in_output)."""
    if not isinstance(key, tuple):
        key = (key,)
    n_real = sum(1 for k in key if k is not None and k is not Ellipsis)
    if n_real > arr.ndim:
        raise IndexError("too many indices (%d) for an array with %d dimension(s)" % (n_real, arr.ndim))
    if sum(1 for k in key if k is Ellipsis) > 1:
        raise IndexError("an index can only have a single ellipsis")
    full = []
    for k in key:
        if k is Ellipsis:
            full.extend([slice(None)] * (arr.ndim - n_real))
        else:
            full.append(k)
    if Ellipsis not in key:
        full.extend([slice(None)] * (arr.ndim - n_real))
    begin, end, step, drop, newaxes, out_pos = [], [], [], [], [], 0
    axis = 0
    for k in full:
        if k is None:
            newaxes.append(out_pos)
            out_pos += 1
            continue
        n = arr.shape[axis]
        if _is_int(k):
            i = int(k)
            if i < -n or i >= n:
                raise IndexError("index %d is out of bounds for axis %d with size %d" % (i, axis, n))
            i = i + n if i < 0 else i
            begin.append(i)
            end.append(i + 1)
            step.append(1)
            drop.append(axis)
        elif isinstance(k, slice):
            b, e, s = k.indices(n)
            begin.append(b)
            end.append(e if (e >= 0 or s > 0) else None)
            step.append(s)
            out_pos += 1
        else:
            raise IndexError("unsupported index %r of type %s" % (k, type(k).__name__))
        if not _is_int(k):
            pass
        axis += 1
    return begin, end, step, drop, newaxes


def _result_shape(arr, begin, end, step, drop, newaxes):
    shape = []
    for ax, (b, e, s) in enumerate(zip(begin, end, step)):
        if ax in drop:
            continue
        shape.append(len(range(b, arr.shape[ax] if e is None and s > 0 else (-1 if e is None else e), s)))
    for p in newaxes:
        shape.insert(p, 1)
    return tuple(shape)


def _is_view(arr, begin, end, step, drop):
    """True when the region is rows [b, e) of axis 0 with every other axis whole."""
    if any(s != 1 for s in step):
        return False
    for ax in range(1, arr.ndim):
        if ax in drop or begin[ax] != 0 or end[ax] != arr.shape[ax]:
            return False
    return True


def _advanced(key):
    return isinstance(key, (NDArray, np.ndarray, list))


def getitem(arr, key):
    if _is_int(key):
        return arr._at(int(key))
    if _advanced(key):
        idx = key if isinstance(key, NDArray) else array(np.asarray(key), ctx=arr.context, dtype="int64")
        if idx.dtype == np.bool_:
            raise BrassError("boolean mask indexing is not supported; use nd.contrib.boolean_mask", 1)
        return _op("take")(arr, idx, axis=0)
    if isinstance(key, tuple) and any(_advanced(k) for k in key):
        raise BrassError("indexing with arrays mixed with slices is not supported: %r" % (key,), 1)
    if arr.ndim == 0:
        if key is Ellipsis or key == ():
            return arr
        raise IndexError("too many indices for a 0-d array")
    begin, end, step, drop, newaxes = _expand(arr, key)
    out_shape = _result_shape(arr, begin, end, step, drop, newaxes) or (1,)
    if _is_view(arr, begin, end, step, drop):
        b = begin[0]
        e = max(b, end[0])
        v = arr._slice(b, e)
    else:
        v = _op("slice")(arr, begin=tuple(begin), end=tuple(end), step=tuple(step))
    return v if v.shape == out_shape else v._reshape_view(out_shape)


def setitem(arr, key, value):
    if isinstance(value, NDArray) and value.context != arr.context:
        value = value.as_in_context(arr.context)
    if _advanced(key) or (isinstance(key, tuple) and any(_advanced(k) for k in key)):
        raise BrassError("assignment through integer-array indices is not supported yet", 10)
    if arr.ndim == 0:
        begin, end, step, drop, newaxes = [], [], [], [], []
        target_shape = ()
    else:
        if _is_int(key):
            key = (key,)
        begin, end, step, drop, newaxes = _expand(arr, key)
        target_shape = tuple(
            len(range(b, arr.shape[ax] if e is None and s > 0 else (-1 if e is None else e), s))
            for ax, (b, e, s) in enumerate(zip(begin, end, step)))
    scalar = isinstance(value, base.numeric_types) and not isinstance(value, NDArray)
    if not scalar and not isinstance(value, NDArray):
        value = array(np.asarray(value), ctx=arr.context, dtype=arr.dtype)
    if arr.ndim == 0 or _is_view(arr, begin, end, step, drop):
        target = arr if arr.ndim == 0 else arr._slice(begin[0], max(begin[0], end[0]))
        if scalar:
            _op("_set_value")(src=float(value), out=target)
            return
        if value.dtype != target.dtype:
            value = value.astype(target.dtype)
        _assign_array(target, value)
        return
    if scalar:
        _op("_slice_assign_scalar")(arr, scalar=float(value), begin=tuple(begin), end=tuple(end),
                                    step=tuple(step), out=arr)
        return
    if value.dtype != arr.dtype:
        value = value.astype(arr.dtype)
    if value.shape != target_shape:
        value = _broadcast_value(value, target_shape)
    _op("_slice_assign")(arr, value, begin=tuple(begin), end=tuple(end), step=tuple(step), out=arr)


def _broadcast_value(value, shape):
    vs = value.shape
    # drop leading 1s the target lacks, then broadcast
    while len(vs) > len(shape) and vs[0] == 1:
        vs = vs[1:]
    if len(vs) > len(shape):
        raise BrassError("cannot assign an array of shape %s to a region of shape %s" % (value.shape, shape), 2)
    v = value._reshape_view((1,) * (len(shape) - len(vs)) + tuple(vs)) if vs != value.shape or len(vs) < len(shape) else value
    if v.shape != shape:
        try:
            v = _op("broadcast_to")(v, shape=shape)
        except BrassError:
            raise BrassError("cannot assign an array of shape %s to a region of shape %s"
                             % (value.shape, shape), 2) from None
    return v


def _assign_array(target, value):
    if value.shape != target.shape:
        if value.size == target.size and len(target.shape) == 0:
            value = value._reshape_view(())
        else:
            value = _broadcast_value(value, target.shape)
    _op("_copy")(value, out=target)
