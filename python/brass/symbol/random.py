"""brass.sym.random (MXNet 1.x's ``mx.sym.random``): random samples as graph nodes, drawn anew
at each forward from the generator that ``mx.random.seed`` seeds (the same draws as
``mx.nd.random`` after the same seed).

>>> import brass as mx
>>> noise = mx.sym.random.normal(0, 0.1, shape=(2, 3))
>>> y = mx.sym.var("x") + noise
>>> y.infer_shape(x=(2, 3))[1]
[(2, 3)]

The distribution's parameters are numbers. MXNet also takes symbols there (one distribution
per element, its ``_sample_*`` operators); Brass refuses those with a BrassError.
"""
from ..base import BrassError
from .. import symbol as _symbol

__all__ = ["uniform", "normal", "randint"]


def _node(fn, op, params, shape, dtype, kwargs):
    for k, v in params.items():
        if isinstance(v, _symbol.Symbol):
            raise BrassError("sym.random.%s: %s is a Symbol; per-element parameters (MXNet's _sample_%s) "
                             "are not supported, pass a number" % (fn, k, fn))
    if shape is not None:
        kwargs["shape"] = (shape,) if isinstance(shape, int) else tuple(shape)
    if dtype is not None:
        kwargs["dtype"] = dtype
    kwargs.pop("ctx", None)  # a graph node runs on the device it is bound to
    return getattr(_symbol, op)(**params, **kwargs)


def uniform(low=0, high=1, shape=None, dtype=None, **kwargs):
    """Samples from U[low, high)."""
    return _node("uniform", "_random_uniform", dict(low=low, high=high), shape, dtype, kwargs)


def normal(loc=0, scale=1, shape=None, dtype=None, **kwargs):
    """Samples from N(loc, scale^2)."""
    return _node("normal", "_random_normal", dict(loc=loc, scale=scale), shape, dtype, kwargs)


def randint(low, high, shape=None, dtype=None, **kwargs):
    """Samples integers uniformly from [low, high) (int32 by default)."""
    return _node("randint", "_random_randint", dict(low=low, high=high), shape, dtype or "int32", kwargs)
