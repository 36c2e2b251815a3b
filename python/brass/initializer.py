"""Weight initializers (MXNet 1.x ``mx.init``): called with a parameter's name and array.

>>> import brass as mx
>>> w = mx.nd.zeros((2, 3))
>>> mx.init.Constant(0.5)('fc_weight', w)
>>> w.asnumpy().tolist()
[[0.5, 0.5, 0.5], [0.5, 0.5, 0.5]]
"""
import json
import math

import numpy as np

from . import random as _random

__all__ = ["Initializer", "InitDesc", "Uniform", "Normal", "Zero", "One", "Constant", "Xavier", "MSRAPrelu",
           "create", "register"]

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
