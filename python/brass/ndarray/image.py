"""brass.nd.image (MXNet 1.x's ``mx.nd.image``): the registry's ``_image_*`` operators under
their short names: to_tensor, normalize, resize, crop, flip_left_right, flip_top_bottom,
random_flip_left_right, random_flip_top_bottom, random_brightness, random_contrast.

>>> import brass as mx
>>> img = mx.nd.ones((4, 6, 3), dtype="uint8")
>>> mx.nd.image.to_tensor(mx.nd.image.resize(img, (3, 2))).shape
(3, 2, 3)
"""
from . import _internal

_PREFIX = "_image_"


def _short_names(ops):
    """name -> function for the ``_image_*`` entries of ops (a dict of generated op functions),
    the prefix taken off."""
    return {n[len(_PREFIX):]: f for n, f in ops.items() if n.startswith(_PREFIX)}


_ops = _short_names(_internal._ops)
globals().update(_ops)
__all__ = sorted(_ops)
