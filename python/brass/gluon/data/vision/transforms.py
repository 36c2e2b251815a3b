"""gluon.data.vision.transforms (MXNet 1.x): image transforms as Blocks on the ``nd.image``
operators, for ``dataset.transform_first(...)``.

Images are NDArrays (H, W, C) (uint8 as decoded), or batches (N, H, W, C); ``ToTensor`` turns
them into float32 (C, H, W) in [0, 1], which ``Normalize`` takes. The random transforms that
are operators (flips, brightness, contrast) draw from Brass's generator (``mx.random.seed``);
``RandomResizedCrop`` and ``RandomApply`` draw from Python's ``random`` module, as MXNet's do,
so ``random.seed`` repeats them (with MXNet's crops for the same seed).

>>> import brass as mx
>>> from brass.gluon.data.vision import transforms
>>> t = transforms.Compose([transforms.Resize(8), transforms.CenterCrop(6),
...                         transforms.ToTensor(), transforms.Normalize(0.5, 0.25)])
>>> t(mx.nd.ones((10, 12, 3), dtype="uint8")).shape
(3, 6, 6)
"""
import random

import numpy as np

from ....base import BrassError
from .... import ndarray as nd
from ...block import Block, HybridBlock
from ...nn import HybridSequential, Sequential

__all__ = ["Compose", "Cast", "ToTensor", "Normalize", "Resize", "CenterCrop", "CropResize",
           "RandomResizedCrop", "RandomFlipLeftRight", "RandomFlipTopBottom", "RandomBrightness",
           "RandomContrast", "RandomApply"]


class Compose(Sequential):
    """Runs transforms one after another. Consecutive HybridBlocks are grouped into one
    hybridized HybridSequential (one graph), as MXNet does.

    >>> import brass as mx
    >>> t = Compose([Cast("float32"), ToTensor()])
    >>> t(mx.nd.zeros((2, 2, 3), dtype="uint8")).shape
    (3, 2, 2)
    """

    def __init__(self, transforms):
        super().__init__()
        hybrid = []
        for t in list(transforms) + [None]:
            if isinstance(t, HybridBlock):
                hybrid.append(t)
                continue
            if len(hybrid) == 1:
                self.add(hybrid[0])
            elif len(hybrid) > 1:
                block = HybridSequential()
                block.add(*hybrid)
                block.hybridize()
                self.add(block)
            hybrid = []
            if t is not None:
                self.add(t)


class Cast(HybridBlock):
    """Casts the input to dtype.

    >>> import brass as mx
    >>> Cast("float16")(mx.nd.ones((2,), dtype="uint8")).dtype
    <class 'numpy.float16'>
    """

    def __init__(self, dtype="float32"):
        super().__init__()
        self._dtype = dtype

    def hybrid_forward(self, F, x):
        return F.Cast(x, dtype=self._dtype)


class ToTensor(HybridBlock):
    """(H, W, C) or (N, H, W, C) in [0, 255] -> float32 (C, H, W) or (N, C, H, W) in [0, 1].

    >>> import brass as mx
    >>> ToTensor()(mx.nd.full((1, 1, 3), 255, dtype="uint8")).asnumpy().ravel().tolist()
    [1.0, 1.0, 1.0]
    """

    def hybrid_forward(self, F, x):
        return F.image.to_tensor(x)


class Normalize(HybridBlock):
    """(C, H, W) or (N, C, H, W): output[c] = (input[c] - mean[c]) / std[c]; a scalar mean or
    std serves every channel.

    >>> import brass as mx
    >>> Normalize(mean=(0, 1), std=(1, 2))(mx.nd.ones((2, 1, 1))).asnumpy().ravel().tolist()
    [1.0, 0.0]
    """

    def __init__(self, mean=0.0, std=1.0):
        super().__init__()
        self._mean, self._std = mean, std

    def hybrid_forward(self, F, x):
        return F.image.normalize(x, mean=self._mean, std=self._std)


class Resize(HybridBlock):
    """Resizes (H, W, C) or (N, H, W, C) to size (an int: a square, or with keep_ratio the short
    side; or (width, height)); interpolation 0 nearest, 1 bilinear (OpenCV's, as MXNet).

    >>> import brass as mx
    >>> Resize((4, 2))(mx.nd.zeros((6, 6, 3), dtype="uint8")).shape
    (2, 4, 3)
    >>> Resize(3, keep_ratio=True)(mx.nd.zeros((6, 12, 3), dtype="uint8")).shape
    (3, 6, 3)
    """

    def __init__(self, size, keep_ratio=False, interpolation=1):
        super().__init__()
        self._size, self._keep, self._interp = size, keep_ratio, interpolation

    def hybrid_forward(self, F, x):
        return F.image.resize(x, size=self._size, keep_ratio=self._keep, interp=self._interp)


class CropResize(HybridBlock):
    """Crops the window (x, y, width, height) and, when size is given, resizes it to size.

    >>> import brass as mx
    >>> CropResize(1, 1, 4, 2, size=(2, 2))(mx.nd.zeros((5, 6, 3))).shape
    (2, 2, 3)
    """

    def __init__(self, x, y, width, height, size=None, interpolation=None):
        super().__init__()
        self._box = (x, y, width, height)
        self._size, self._interp = size, interpolation

    def hybrid_forward(self, F, x):
        out = F.image.crop(x, *self._box)
        if self._size:
            kw = {} if self._interp is None else {"interp": self._interp}
            out = F.image.resize(out, size=self._size, keep_ratio=False, **kw)
        return out


def _size_pair(size):
    if isinstance(size, (int, np.integer)):
        return (int(size), int(size))
    if len(size) != 2:
        raise BrassError("size must be an int or (width, height), got %r" % (size,), 2)
    return (int(size[0]), int(size[1]))


def _hw(x):
    if x.ndim not in (3, 4):
        raise BrassError("an image must be (H, W, C) or a batch (N, H, W, C), got shape %s"
                         % (x.shape,), 2)
    return x.shape[-3], x.shape[-2]


def _fixed_crop(x, x0, y0, w, h, size, interp):
    """The window (x0, y0, w, h) of x, resized to size (width, height) when it differs."""
    out = nd.image.crop(x, x0, y0, w, h)
    if size is not None and (w, h) != tuple(size):
        out = nd.image.resize(out, size=tuple(size), keep_ratio=False, interp=interp)
    return out


def _scale_down(src_size, size):
    """(w, h) of size shrunk, keeping its aspect ratio, to fit in src_size (MXNet's)."""
    w, h = size
    sw, sh = src_size
    if sh < h:
        w, h = float(w * sh) / h, sh
    if sw < w:
        w, h = sw, float(h * sw) / w
    return int(w), int(h)


def _center_crop(x, size, interp):
    h, w = _hw(x)
    new_w, new_h = _scale_down((w, h), size)
    return _fixed_crop(x, int((w - new_w) / 2), int((h - new_h) / 2), new_w, new_h, size, interp)


class CenterCrop(Block):
    """Crops the center of (H, W, C) (or of every image of a batch) to size (an int or (width,
    height)); an image smaller than size is cropped to its aspect ratio and resized up.

    >>> import brass as mx
    >>> CenterCrop((4, 2))(mx.nd.zeros((10, 10, 3), dtype="uint8")).shape
    (2, 4, 3)
    """

    def __init__(self, size, interpolation=1):
        super().__init__()
        self._size, self._interp = _size_pair(size), interpolation

    def forward(self, x):
        return _center_crop(x, self._size, self._interp)


class RandomResizedCrop(Block):
    """Crops a random window of area scale * the image's area (uniform in scale) and aspect
    ratio w/h (log-uniform in ratio), resized to size; after 10 draws that do not fit, the
    center crop. Draws from Python's ``random`` as MXNet's (MXNet's crops for a seed).

    >>> import brass as mx
    >>> RandomResizedCrop(4)(mx.nd.zeros((10, 12, 3), dtype="uint8")).shape
    (4, 4, 3)
    """

    def __init__(self, size, scale=(0.08, 1.0), ratio=(3.0 / 4.0, 4.0 / 3.0), interpolation=1):
        super().__init__()
        if isinstance(scale, (int, float)):
            scale = (scale, 1.0)
        self._size, self._scale, self._ratio = _size_pair(size), tuple(scale), tuple(ratio)
        self._interp = interpolation

    def forward(self, x):
        h, w = _hw(x)
        area = h * w
        log_ratio = (np.log(self._ratio[0]), np.log(self._ratio[1]))
        for _ in range(10):
            target_area = random.uniform(self._scale[0], self._scale[1]) * area
            new_ratio = np.exp(random.uniform(*log_ratio))
            new_w = int(round(np.sqrt(target_area * new_ratio)))
            new_h = int(round(np.sqrt(target_area / new_ratio)))
            if 0 < new_w <= w and 0 < new_h <= h:
                x0 = random.randint(0, w - new_w)
                y0 = random.randint(0, h - new_h)
                return _fixed_crop(x, x0, y0, new_w, new_h, self._size, self._interp)
        return _center_crop(x, self._size, self._interp)


class _RandomOp(HybridBlock):
    """A transform that is one random ``nd.image`` operator (``_op``) with fixed arguments."""

    _op = None

    def __init__(self, *args):
        super().__init__()
        self._args = args

    def hybrid_forward(self, F, x):
        return getattr(F.image, self._op)(x, *self._args)


class RandomFlipLeftRight(_RandomOp):
    """Flips the image (each image of a batch on its own draw) left to right with probability
    1/2.

    >>> import brass as mx
    >>> RandomFlipLeftRight()(mx.nd.zeros((2, 3, 3))).shape
    (2, 3, 3)
    """

    _op = "random_flip_left_right"


class RandomFlipTopBottom(_RandomOp):
    """Flips the image (each image of a batch on its own draw) top to bottom with probability
    1/2.

    >>> import brass as mx
    >>> RandomFlipTopBottom()(mx.nd.zeros((2, 3, 3))).shape
    (2, 3, 3)
    """

    _op = "random_flip_top_bottom"


class RandomBrightness(_RandomOp):
    """Multiplies the image by a factor uniform in [max(0, 1 - brightness), 1 + brightness].

    >>> import brass as mx
    >>> y = RandomBrightness(0.5)(mx.nd.ones((2, 2, 3)))
    >>> bool(((y >= 0.5) * (y <= 1.5)).asnumpy().all())
    True
    """

    _op = "random_brightness"

    def __init__(self, brightness):
        super().__init__(max(0, 1 - brightness), 1 + brightness)


class RandomContrast(_RandomOp):
    """Blends the image with its mean gray level: x * f + (1 - f) * gray, f uniform in
    [max(0, 1 - contrast), 1 + contrast] (1 or 3 channels).

    >>> import brass as mx
    >>> RandomContrast(0.5)(mx.nd.ones((2, 2, 3))).asnumpy().ravel().tolist() == [1.0] * 12
    True
    """

    _op = "random_contrast"

    def __init__(self, contrast):
        super().__init__(max(0, 1 - contrast), 1 + contrast)


class RandomApply(Sequential):
    """Applies transforms with probability p (Python's ``random``, as MXNet).

    >>> import brass as mx
    >>> RandomApply(ToTensor(), p=0.0)(mx.nd.zeros((2, 2, 3))).shape
    (2, 2, 3)
    """

    def __init__(self, transforms, p=0.5):
        super().__init__()
        self.transforms = transforms
        self.p = p

    def forward(self, x):
        if self.p < random.random():
            return x
        return self.transforms(x)
