"""Matrix products with numpy semantics (``@``)."""
from ..base import BrassError
from .ndarray import _op


def matmul(a, b):
    """numpy.matmul semantics on NDArrays: 1-D operands are promoted, leading dims broadcast.

    >>> import brass as mx
    >>> (mx.nd.ones((2, 3)) @ mx.nd.ones((3, 4))).shape
    (2, 4)
    """
    if a.ndim == 0 or b.ndim == 0:
        raise BrassError("matmul: operands must not be 0-d (shapes %s, %s)" % (a.shape, b.shape), 2)
    squeeze_a = a.ndim == 1
    squeeze_b = b.ndim == 1
    if squeeze_a:
        a = a.reshape((1, a.shape[0]))
    if squeeze_b:
        b = b.reshape((b.shape[0], 1))
    if a.shape[-1] != b.shape[-2]:
        raise BrassError("matmul: shapes %s and %s are not aligned" % (a.shape, b.shape), 2)
    if a.ndim == 2 and b.ndim == 2:
        c = _op("dot")(a, b)
    else:
        batch = _broadcast_batch(a.shape[:-2], b.shape[:-2])
        a2 = _op("broadcast_to")(a, shape=batch + a.shape[-2:]) if a.shape[:-2] != batch else a
        b2 = _op("broadcast_to")(b, shape=batch + b.shape[-2:]) if b.shape[:-2] != batch else b
        nb = 1
        for d in batch:
            nb *= d
        c = _op("batch_dot")(a2.reshape((nb,) + a.shape[-2:]), b2.reshape((nb,) + b.shape[-2:]))
        c = c.reshape(batch + c.shape[-2:])
    if squeeze_a:
        c = c.reshape(c.shape[:-2] + c.shape[-1:])
    if squeeze_b:
        c = c.reshape(c.shape[:-1])
    return c


def _broadcast_batch(x, y):
    n = max(len(x), len(y))
    x = (1,) * (n - len(x)) + tuple(x)
    y = (1,) * (n - len(y)) + tuple(y)
    out = []
    for p, q in zip(x, y):
        if p != q and p != 1 and q != 1:
            raise BrassError("matmul: batch dims %s and %s do not broadcast" % (x, y), 2)
        out.append(max(p, q) if p and q else 0)
    return tuple(out)
