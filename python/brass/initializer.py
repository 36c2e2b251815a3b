"""Weight initializers (MXNet 1.x ``mx.init``): called with a parameter's name and array.

>>> import brass as mx
>>> w = mx.nd.zeros((2, 3))
>>> mx.init.Constant(0.5)('fc_weight', w)
>>> w.asnumpy().tolist()
[[0.5, 0.5, 0.5], [0.5, 0.5, 0.5]]
"""
import json
import math
import re

import numpy as np

from . import random as _random

__all__ = ["Initializer", "InitDesc", "Uniform", "Normal", "Zero", "One", "Constant", "Xavier", "MSRAPrelu",
           "Orthogonal", "Bilinear", "LSTMBias", "Mixed", "Load", "create", "register"]

_REGISTRY = {}


def register(klass):
    _REGISTRY[klass.__name__.lower()] = klass
    return klass


class InitDesc(str):
    """A parameter name with its attributes (MXNet passes these to initializers)."""

    def __new__(cls, name, attrs=None, global_init=None):
        s = super().__new__(cls, name)
        s.attrs = attrs or {}
        s.global_init = global_init
        return s


class Initializer:
    """Base: ``init(name, arr)`` fills arr. By name, like MXNet: ``*_bias``/``*_beta``/
    ``*moving_mean``/``*running_mean`` get zeros, ``*_gamma``/``*moving_var``/``*running_var``
    ones, ``*_weight`` (and anything else) this initializer's weight rule."""

    def __init__(self, **kwargs):
        self._kwargs = kwargs

    def dumps(self):
        return json.dumps([type(self).__name__.lower(), self._kwargs])

    def __call__(self, desc, arr):
        name = str(desc)
        init = getattr(desc, "attrs", {}).get("__init__") if isinstance(desc, InitDesc) else None
        if init:
            create(init)._init_weight(name, arr)
        elif name.endswith(("bias", "beta", "moving_mean", "running_mean", "moving_inv_var")):
            arr[:] = 0
        elif name.endswith(("gamma", "moving_var", "running_var")):
            arr[:] = 1
        else:
            self._init_weight(name, arr)

    def _init_weight(self, name, arr):
        raise NotImplementedError("%s cannot initialize weights" % type(self).__name__)

    def __repr__(self):
        return "%s(%s)" % (type(self).__name__, ", ".join("%s=%r" % kv for kv in self._kwargs.items()))


@register
class Uniform(Initializer):
    """U(-scale, scale); MXNet's default (scale 0.07)."""

    def __init__(self, scale=0.07):
        super().__init__(scale=scale)
        self.scale = scale

    def _init_weight(self, name, arr):
        _random.uniform(-self.scale, self.scale, shape=arr.shape, dtype=arr.dtype, ctx=arr.context, out=arr)


@register
class Normal(Initializer):
    """N(0, sigma^2)."""

    def __init__(self, sigma=0.01):
        super().__init__(sigma=sigma)
        self.sigma = sigma

    def _init_weight(self, name, arr):
        _random.normal(0, self.sigma, shape=arr.shape, dtype=arr.dtype, ctx=arr.context, out=arr)


@register
class Zero(Initializer):
    def _init_weight(self, name, arr):
        arr[:] = 0


@register
class One(Initializer):
    def _init_weight(self, name, arr):
        arr[:] = 1


@register
class Constant(Initializer):
    def __init__(self, value):
        super().__init__(value=value)
        self.value = value

    def _init_weight(self, name, arr):
        arr[:] = self.value


@register
class Xavier(Initializer):
    """Glorot: scale = sqrt(magnitude / fan), fan by factor_type (avg, in, out); uniform or
    gaussian."""

    def __init__(self, rnd_type="uniform", factor_type="avg", magnitude=3):
        super().__init__(rnd_type=rnd_type, factor_type=factor_type, magnitude=magnitude)
        self.rnd_type, self.factor_type, self.magnitude = rnd_type, factor_type, float(magnitude)

    def _init_weight(self, name, arr):
        shape = arr.shape
        if len(shape) < 2:
            raise ValueError("Xavier initializer needs at least 2 dimensions, '%s' has shape %s" % (name, shape))
        hw = int(np.prod(shape[2:])) if len(shape) > 2 else 1
        fan_in, fan_out = shape[1] * hw, shape[0] * hw
        fan = {"avg": (fan_in + fan_out) / 2.0, "in": fan_in, "out": fan_out}.get(self.factor_type)
        if fan is None:
            raise ValueError("Xavier: factor_type must be avg, in or out")
        scale = math.sqrt(self.magnitude / fan)
        if self.rnd_type == "uniform":
            _random.uniform(-scale, scale, shape=shape, dtype=arr.dtype, ctx=arr.context, out=arr)
        elif self.rnd_type == "gaussian":
            _random.normal(0, scale, shape=shape, dtype=arr.dtype, ctx=arr.context, out=arr)
        else:
            raise ValueError("Xavier: rnd_type must be uniform or gaussian")


@register
class MSRAPrelu(Xavier):
    def __init__(self, factor_type="avg", slope=0.25):
        super().__init__("gaussian", factor_type, 2.0 / (1 + slope ** 2))


@register
class Orthogonal(Initializer):
    """A (scaled) orthogonal matrix of shape (shape[0], prod(shape[1:])): the orthonormal
    factor of the SVD of a random matrix (uniform in [-1, 1] or standard normal), so rows
    (or, when there are more rows than columns, columns) are orthonormal, times scale."""

    def __init__(self, scale=1.414, rand_type="uniform"):
        if rand_type not in ("uniform", "normal"):
            raise ValueError("Orthogonal: rand_type must be uniform or normal, got %r" % (rand_type,))
        super().__init__(scale=scale, rand_type=rand_type)
        self.scale, self.rand_type = scale, rand_type

    def _init_weight(self, name, arr):
        if len(arr.shape) < 2:
            raise ValueError("Orthogonal initializer needs at least 2 dimensions, '%s' has shape %s"
                             % (name, arr.shape))
        rows, cols = arr.shape[0], int(np.prod(arr.shape[1:]))
        if self.rand_type == "uniform":
            tmp = _random.uniform(-1.0, 1.0, shape=(rows, cols)).asnumpy()
        else:
            tmp = _random.normal(0.0, 1.0, shape=(rows, cols)).asnumpy()
        u, _, vt = np.linalg.svd(tmp.astype(np.float64), full_matrices=False)
        q = u if u.shape == tmp.shape else vt
        arr[:] = (self.scale * q).reshape(arr.shape).astype(arr.dtype)


@register
class Bilinear(Initializer):
    """Bilinear up-sampling weights for a transposed convolution (..., kh, kw): each
    kernel is the outer product of two triangles centred on the kernel."""

    def _init_weight(self, name, arr):
        shape = arr.shape
        if len(shape) < 3:
            raise ValueError("Bilinear initializer needs a (..., height, width) weight, '%s' has shape %s"
                             % (name, shape))
        f = np.ceil(shape[-1] / 2.0)
        c = (2 * f - 1 - f % 2) / (2.0 * f)
        tri_x = 1 - np.abs(np.arange(shape[-1]) / f - c)
        tri_y = 1 - np.abs(np.arange(shape[-2]) / f - c)
        arr[:] = np.broadcast_to(np.outer(tri_y, tri_x), shape).astype(arr.dtype)


@register
class LSTMBias(Initializer):
    """Zeros, except forget_bias for the forget gate: the second quarter of an LSTM bias of
    shape (4 * hidden,) in MXNet's gate order (input, forget, cell, output)."""

    def __init__(self, forget_bias=1.0):
        super().__init__(forget_bias=forget_bias)
        self.forget_bias = forget_bias

    def _init_weight(self, name, arr):
        if len(arr.shape) != 1 or arr.shape[0] % 4:
            raise ValueError("LSTMBias: '%s' must be a bias of shape (4 * hidden,), got %s" % (name, arr.shape))
        h = arr.shape[0] // 4
        arr[:] = 0
        arr[h:2 * h] = self.forget_bias


@register
class Mixed(Initializer):
    """The initializer of the first regular expression (re.match) that the name matches:
    ``Mixed(['.*bias', '.*'], [Zero(), Uniform(0.1)])``."""

    def __init__(self, patterns, initializers):
        if len(patterns) != len(initializers):
            raise ValueError("Mixed: %d patterns but %d initializers" % (len(patterns), len(initializers)))
        super().__init__(patterns=list(patterns), initializers=[create(i).dumps() for i in initializers])
        self.map = [(re.compile(p), create(i)) for p, i in zip(patterns, initializers)]

    def __call__(self, desc, arr):
        self._init_weight(desc, arr)

    def _init_weight(self, name, arr):
        for pattern, init in self.map:
            if pattern.match(str(name)):
                init(str(name), arr)
                return
        raise ValueError("Mixed: parameter '%s' matches none of the patterns %s (add '.*' last for a default)"
                         % (name, [p.pattern for p, _ in self.map]))


@register
class Load(Initializer):
    """Values from a dict of arrays or a file written by nd.save (``arg:``/``aux:`` prefixes
    dropped); names it does not have go to default_init."""

    def __init__(self, param, default_init=None, verbose=False):
        if isinstance(param, str):
            from . import ndarray as nd
            param = nd.load(param)
        if not isinstance(param, dict):
            raise ValueError("Load: expected a dict of arrays or a file of named arrays, got %s"
                             % type(param).__name__)
        super().__init__()
        self.param = {(k[4:] if k.startswith(("arg:", "aux:")) else k): v for k, v in param.items()}
        self.default_init = None if default_init is None else create(default_init)
        self.verbose = verbose

    def __call__(self, desc, arr):
        self._init_weight(desc, arr)

    def _init_weight(self, name, arr):
        name = str(name)
        if name in self.param:
            src = self.param[name]
            if tuple(src.shape) != tuple(arr.shape):
                raise ValueError("Load: '%s' has shape %s in the loaded values, the parameter's is %s"
                                 % (name, tuple(src.shape), tuple(arr.shape)))
            arr[:] = src.asnumpy() if hasattr(src, "asnumpy") else np.asarray(src)
            if self.verbose:
                print("Initialized %s by loading" % name)
        elif self.default_init is not None:
            self.default_init(name, arr)
        else:
            raise ValueError("Load: no value for '%s' and no default_init" % name)


_ALIASES = {"zeros": "zero", "ones": "one"}


def create(init):
    """An initializer from an instance, a name ('zeros', 'xavier') or MXNet's JSON dump."""
    if isinstance(init, Initializer):
        return init
    if isinstance(init, str):
        s = init.strip()
        if s.startswith("["):
            name, kwargs = json.loads(s)
            return _REGISTRY[_ALIASES.get(name.lower(), name.lower())](**kwargs)
        key = _ALIASES.get(s.lower(), s.lower())
        if key in _REGISTRY:
            return _REGISTRY[key]()
    raise ValueError("unknown initializer %r" % (init,))
