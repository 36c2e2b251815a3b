"""brass.sym.image (MXNet 1.x's ``mx.sym.image``): the image operators on symbols, under the
names of brass.nd.image.

>>> import brass as mx
>>> y = mx.sym.image.normalize(mx.sym.image.to_tensor(mx.sym.var("img")), mean=0.5, std=0.25)
>>> y.infer_shape(img=(8, 8, 3))[1]
[(3, 8, 8)]
"""
from .. import symbol as _symbol
from ..ndarray.image import _short_names

_ops = _short_names({n: f for n, f in vars(_symbol).items() if callable(f)})
globals().update(_ops)
__all__ = sorted(_ops)
