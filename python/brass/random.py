"""Random numbers: a counter-based generator per device; a seed fixes every result,
whatever the thread count or engine.

>>> import brass as mx
>>> mx.random.seed(42)
>>> a = mx.random.uniform(0, 1, shape=(3,)).asnumpy()
>>> mx.random.seed(42)
>>> bool((a == mx.random.uniform(0, 1, shape=(3,)).asnumpy()).all())
True
"""
from .base import check, lib
from .context import Context, current_context

__all__ = ["seed", "uniform", "normal", "randint"]


def seed(seed_state, ctx="all"):
    """Seeds the generator of every device (ctx='all') or of one device."""
    if ctx == "all":
        check(lib.brass_random_seed(int(seed_state), -1, 0))
    else:
        c = ctx if isinstance(ctx, Context) else Context(ctx)
        check(lib.brass_random_seed(int(seed_state), c.device_typeid, c.device_id))


def _call(op, shape, ctx, dtype, out, **kw):
    from .ndarray import _internal
    from .ndarray.ndarray import _op
    if shape is None:
        shape = (1,)
    if isinstance(shape, int):
        shape = (shape,)
    kw.update(shape=tuple(shape), ctx=str(ctx or current_context()), dtype=dtype or "float32")
    if out is not None:
        kw["shape"] = out.shape
    return _op(op)(out=out, **kw)


def uniform(low=0, high=1, shape=None, dtype=None, ctx=None, out=None, **kwargs):
    """Samples from U[low, high)."""
    return _call("_random_uniform", shape, ctx, dtype, out, low=low, high=high)


def normal(loc=0, scale=1, shape=None, dtype=None, ctx=None, out=None, **kwargs):
    """Samples from N(loc, scale^2)."""
    return _call("_random_normal", shape, ctx, dtype, out, loc=loc, scale=scale)


def randint(low, high, shape=None, dtype=None, ctx=None, out=None, **kwargs):
    """Samples integers uniformly from [low, high) (int32 by default)."""
    return _call("_random_randint", shape, ctx, dtype or "int32", out, low=low, high=high)
