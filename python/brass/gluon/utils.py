"""Gluon helpers (MXNet 1.x ``gluon.utils``): splitting a batch across devices, clipping
gradients by their global norm, checking a file's SHA-1.

>>> import brass as mx
>>> parts = mx.gluon.utils.split_and_load(mx.nd.arange(6).reshape((6, 1)), [mx.cpu(0), mx.cpu(1)])
>>> [(p.shape, str(p.context)) for p in parts]
[((3, 1), 'cpu(0)'), ((3, 1), 'cpu(1)')]
"""
import hashlib
import warnings

import numpy as np

from .. import ndarray as nd
from ..base import BrassError
from ..ndarray.ndarray import NDArray

__all__ = ["split_data", "split_and_load", "clip_global_norm", "check_sha1"]


def split_data(data, num_slice, batch_axis=0, even_split=True):
    """num_slice parts of data along batch_axis. With even_split the size must divide
    evenly; otherwise the last part takes the remainder (MXNet's rule: the first parts get
    size // num_slice each)."""
    if not isinstance(data, NDArray):
        data = nd.array(data)
    if num_slice < 1:
        raise BrassError("split_data: num_slice must be at least 1, got %d" % num_slice, 1)
    if not -data.ndim <= batch_axis < data.ndim:
        raise BrassError("split_data: batch_axis %d is out of range for data of shape %s"
                         % (batch_axis, data.shape), 1)
    batch_axis %= data.ndim
    size = data.shape[batch_axis]
    if even_split and size % num_slice:
        raise BrassError("split_data: data with shape %s cannot be split evenly into %d slices along axis %d; "
                         "use a batch size that is a multiple of %d or even_split=False"
                         % (data.shape, num_slice, batch_axis, num_slice), 2)
    if size < num_slice:
        raise BrassError("split_data: data with shape %s has fewer than %d entries along axis %d"
                         % (data.shape, num_slice, batch_axis), 2)
    if num_slice == 1:
        return [data]
    step = size // num_slice
    bounds = [i * step for i in range(num_slice)] + [size]
    return [nd.slice_axis(data, axis=batch_axis, begin=bounds[i], end=bounds[i + 1]) for i in range(num_slice)]


def split_and_load(data, ctx_list, batch_axis=0, even_split=True):
    """data split along batch_axis into len(ctx_list) parts, part i copied to ctx_list[i]."""
    if not isinstance(data, NDArray):
        data = nd.array(data, ctx=ctx_list[0])
    if len(ctx_list) == 1:
        return [data.as_in_context(ctx_list[0])]
    parts = split_data(data, len(ctx_list), batch_axis, even_split)
    return [p.as_in_context(c) for p, c in zip(parts, ctx_list)]


def clip_global_norm(arrays, max_norm, check_isfinite=True):
    """Scales every array in place by max_norm / total when the total L2 norm of all of them
    exceeds max_norm. Returns the total norm: a float after checking it is finite (a warning
    if not: the result of clipping is then undefined), or, with check_isfinite=False, a
    1-element NDArray without waiting for it."""
    if not arrays:
        raise BrassError("clip_global_norm: no arrays given", 1)
    ctx = arrays[0].context
    total = nd.sqrt(nd.add_n(*[nd.sum(nd.square(a.astype("float32"))).reshape((1,)).as_in_context(ctx)
                               for a in arrays]))
    if check_isfinite and not np.isfinite(total.asscalar()):
        warnings.warn("clip_global_norm: the total norm is %s; the clipped values are undefined"
                      % total.asscalar(), UserWarning, stacklevel=2)
    scale = nd.minimum(max_norm / (total + 1e-8), 1.0)
    for a in arrays:
        a *= scale.as_in_context(a.context).astype(a.dtype)
    return total.asscalar() if check_isfinite else total


def sha1_of(filename):
    """The SHA-1 hex digest of a file's content."""
    h = hashlib.sha1()
    with open(filename, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_sha1(filename, sha1_hash):
    """Whether the file's SHA-1 hex digest is sha1_hash."""
    return sha1_of(filename) == sha1_hash.lower()
