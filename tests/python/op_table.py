"""The operator test table: one entry per registered operator (see test_op_table.py).

Each entry gives a numpy reference and what to feed it. Ops tested in their own files list
themselves in OPS_COVERED_ELSEWHERE (the completeness test accepts either)."""
import math

import numpy as np

try:
    import scipy.special as _sps  # optional: references for erfinv/gamma
except ImportError:  # pragma: no cover
    _sps = None

F = ["float32", "float64", "float16", "bfloat16"]
I = ["int8", "uint8", "int32", "int64"]
ALL = F + I + ["int16", "uint16", "uint32", "uint64"]

# Shapes for element-wise ops: 0-d, zero-size, odd sizes past a parallel chunk.
SHAPES_1 = [(), (0,), (1,), (7,), (3, 5), (2, 3, 4), (2, 0, 3), (70001,)]
# (lhs, rhs) broadcasting pairs
SHAPES_2 = [((), ()), ((5,), (5,)), ((3, 4), (4,)), ((3, 1), (1, 4)), ((2, 1, 3), (4, 1)),
            ((0, 3), (1, 3)), ((2, 3), ()), ((1,), (6,)), ((70001,), (70001,)),
            ((4, 1, 5, 1), (1, 3, 1, 2))]
SAME_2 = [((), ()), ((5,), (5,)), ((3, 4), (3, 4)), ((0, 2), (0, 2)), ((70001,), (70001,))]


class Case:
    def __init__(self, ref, nin=1, dtypes=F, shapes=None, params=({},), domain=(-3, 3),
                 kind="elemwise", inplace=True, special=True, int_ref=None, rtol=None):
        self.ref = ref
        self.nin = nin
        self.dtypes = dtypes
        self.shapes = shapes or (SHAPES_1 if nin == 1 else SHAPES_2)
        self.params = params
        self.domain = domain
        self.kind = kind
        self.inplace = inplace
        self.special = special
        self.int_ref = int_ref
        self.rtol = rtol


def _vec(f):
    def safe(v):
        try:
            return f(v)
        except (ValueError, OverflowError):
            return math.nan if v != v or v in (-math.inf,) or v <= 0 else math.inf
    return np.vectorize(safe, otypes=[np.float64])


def _rint_mx(x):
    fl, ce = np.floor(x), np.ceil(x)
    return np.where((x - fl) <= (ce - x), fl, ce)


def _round_away(x):
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def _sign(x):
    return np.sign(x)


def _erfinv(x):
    if _sps is not None:
        return _sps.erfinv(x)
    # bisection fallback (slow but exact enough)
    def one(y):
        if y != y:
            return math.nan
        if y == 0:
            return 0.0
        if y <= -1:
            return -math.inf if y == -1 else math.nan
        if y >= 1:
            return math.inf if y == 1 else math.nan
        lo, hi = -10.0, 10.0
        for _ in range(200):
            mid = (lo + hi) / 2
            if math.erf(mid) < y:
                lo = mid
            else:
                hi = mid
        return (lo + hi) / 2
    return _vec(one)(x)


UNARY = {
    "abs": Case(np.abs, dtypes=ALL),
    "sign": Case(_sign, dtypes=F + ["int8", "int32", "int64"]),
    "negative": Case(np.negative, dtypes=F + ["int8", "int32", "int64"]),
    "square": Case(np.square, dtypes=ALL),
    "relu": Case(lambda x: np.maximum(x, 0), dtypes=ALL),
    "logical_not": Case(lambda x: (x == 0).astype(np.float64), dtypes=ALL),
    "floor": Case(np.floor, dtypes=ALL),
    "ceil": Case(np.ceil, dtypes=ALL),
    "round": Case(_round_away, dtypes=ALL),
    "rint": Case(_rint_mx, dtypes=ALL),
    "trunc": Case(np.trunc, dtypes=ALL),
    "fix": Case(np.trunc, dtypes=ALL),
    "exp": Case(np.exp, dtypes=F + ["int32"], domain=(-5, 5)),
    "expm1": Case(np.expm1, domain=(-5, 5)),
    "log": Case(np.log, dtypes=F + ["int32"], domain=(0.1, 10)),
    "log1p": Case(np.log1p, domain=(-0.9, 10)),
    "log2": Case(np.log2, domain=(0.1, 10)),
    "log10": Case(np.log10, domain=(0.1, 10)),
    "sqrt": Case(np.sqrt, dtypes=F + ["int32", "uint8"], domain=(0, 10)),
    "rsqrt": Case(lambda x: 1 / np.sqrt(x), domain=(0.1, 10)),
    "cbrt": Case(np.cbrt, domain=(-10, 10)),
    "reciprocal": Case(lambda x: 1 / x, domain=(0.5, 4)),
    "sin": Case(np.sin),
    "cos": Case(np.cos),
    "tan": Case(np.tan, domain=(-1.2, 1.2)),
    "arcsin": Case(np.arcsin, domain=(-0.99, 0.99)),
    "arccos": Case(np.arccos, domain=(-0.99, 0.99)),
    "arctan": Case(np.arctan),
    "sinh": Case(np.sinh),
    "cosh": Case(np.cosh),
    "tanh": Case(np.tanh),
    "arcsinh": Case(np.arcsinh),
    "arccosh": Case(np.arccosh, domain=(1.01, 5)),
    "arctanh": Case(np.arctanh, domain=(-0.95, 0.95)),
    "sigmoid": Case(lambda x: 1 / (1 + np.exp(-x)), domain=(-8, 8)),
    "softsign": Case(lambda x: x / (1 + np.abs(x))),
    "erf": Case(_vec(math.erf)),
    "erfinv": Case(_erfinv, domain=(-0.95, 0.95)),
    "gamma": Case(_vec(math.gamma), domain=(0.2, 5)),
    "gammaln": Case(_vec(math.lgamma), domain=(0.2, 5)),
    "_copy": Case(lambda x: x, dtypes=ALL + ["bool"]),
    "BlockGrad": Case(lambda x: x, dtypes=ALL),
    "zeros_like": Case(np.zeros_like, dtypes=ALL, inplace=False),
    "ones_like": Case(np.ones_like, dtypes=ALL, inplace=False),
}


def _py_mod(a, b):
    with np.errstate(all="ignore"):
        r = np.where(b == 0, 0, np.fmod(a, np.where(b == 0, 1, b)))
        fix = (r != 0) & ((r < 0) != (b < 0))
        return np.where(fix, r + b, r)


def _int_div(a, b):
    with np.errstate(all="ignore"):
        q = np.where(b == 0, 0, np.trunc(a / np.where(b == 0, 1, b)))
    return q


def _maximum(a, b):
    return np.where((a > b) | np.isnan(a), a, b)


def _minimum(a, b):
    return np.where((a < b) | np.isnan(a), a, b)


BIN = {
    "add": (np.add, ALL),
    "sub": (np.subtract, ALL),
    "mul": (np.multiply, ALL),
    "div": (np.divide, F),
    "mod": (_py_mod, F + ["int32", "int64"]),
    "power": (np.power, F),
    "maximum": (_maximum, ALL),
    "minimum": (_minimum, ALL),
    "hypot": (np.hypot, F),
    "equal": (lambda a, b: (a == b) * 1.0, ALL),
    "not_equal": (lambda a, b: (a != b) * 1.0, ALL),
    "greater": (lambda a, b: (a > b) * 1.0, ALL),
    "greater_equal": (lambda a, b: (a >= b) * 1.0, ALL),
    "lesser": (lambda a, b: (a < b) * 1.0, ALL),
    "lesser_equal": (lambda a, b: (a <= b) * 1.0, ALL),
    "logical_and": (lambda a, b: ((a != 0) & (b != 0)) * 1.0, ALL),
    "logical_or": (lambda a, b: ((a != 0) | (b != 0)) * 1.0, ALL),
    "logical_xor": (lambda a, b: ((a != 0) ^ (b != 0)) * 1.0, ALL),
}
_ELEMWISE_NAME = {"add": "elemwise_add", "sub": "elemwise_sub", "mul": "elemwise_mul",
                  "div": "elemwise_div"}
_SCALAR_NAME = {"add": "_plus_scalar", "sub": "_minus_scalar", "mul": "_mul_scalar",
                "div": "_div_scalar"}
_RSCALAR = {"sub": "_rminus_scalar", "div": "_rdiv_scalar", "mod": "_rmod_scalar",
            "power": "_rpower_scalar"}

BINARY = {}
for k, (f, dts) in BIN.items():
    dom = (0.5, 3) if k in ("power",) else (-3, 3)
    BINARY["broadcast_" + k] = Case(f, nin=2, dtypes=dts, domain=dom)
    BINARY[_ELEMWISE_NAME.get(k, "_" + k)] = Case(f, nin=2, dtypes=dts, domain=dom, shapes=SAME_2)
    sdts = dts if k != "div" else F
    BINARY[_SCALAR_NAME.get(k, "_%s_scalar" % k)] = Case(
        f, nin=1, dtypes=sdts, domain=dom, kind="scalar", params=({"scalar": 1.5}, {"scalar": -2.0}, {"scalar": 0.0}) if k not in ("power",) else ({"scalar": 2.0}, {"scalar": 0.5}))
    if k in _RSCALAR:
        BINARY[_RSCALAR[k]] = Case(f, nin=1, dtypes=sdts if k != "mod" else F, domain=dom if k != "power" else (-2, 2),
                                   kind="rscalar", params=({"scalar": 2.5},))


def _reduce_ref(f):
    def ref(x, axis=None, keepdims=False, exclude=False):
        nd = x.ndim
        if axis is None or axis == ():
            ax = tuple(range(nd)) if not exclude else ()
            if exclude and axis == ():
                ax = tuple(range(nd))
        else:
            ax = tuple(a % nd for a in (axis if isinstance(axis, tuple) else (axis,)))
            if exclude:
                ax = tuple(i for i in range(nd) if i not in ax)
        r = f(x, axis=ax, keepdims=keepdims)
        r = np.asarray(r)
        if r.ndim == 0:
            r = r.reshape((1,))
        return r
    return ref


RSHAPES = [(7,), (3, 5), (2, 3, 4), (2, 3, 4, 5), (0, 3), (300001,)]
RPARAMS = ({}, {"axis": 0}, {"axis": -1}, {"axis": (0, 2)}, {"axis": 1, "keepdims": True},
           {"axis": (1,), "exclude": True}, {"keepdims": True})
REDUCE = {
    "sum": Case(_reduce_ref(np.sum), dtypes=F + ["int32", "int64", "uint8"], shapes=RSHAPES, params=RPARAMS, kind="reduce"),
    "mean": Case(_reduce_ref(np.mean), dtypes=F, shapes=RSHAPES, params=RPARAMS, kind="reduce"),
    "prod": Case(_reduce_ref(np.prod), dtypes=F + ["int32"], shapes=RSHAPES[:4], params=RPARAMS, kind="reduce", domain=(0.5, 1.5)),
    "max": Case(_reduce_ref(np.max), dtypes=F + ["int32", "uint8"], shapes=[s for s in RSHAPES if 0 not in s], params=RPARAMS, kind="reduce"),
    "min": Case(_reduce_ref(np.min), dtypes=F + ["int32", "uint8"], shapes=[s for s in RSHAPES if 0 not in s], params=RPARAMS, kind="reduce"),
    "nansum": Case(_reduce_ref(np.nansum), dtypes=F, shapes=RSHAPES, params=RPARAMS, kind="reduce"),
    "nanprod": Case(_reduce_ref(np.nanprod), dtypes=F, shapes=RSHAPES[:4], params=RPARAMS, kind="reduce", domain=(0.5, 1.5)),
    "norm": Case(lambda x, axis=None, keepdims=False, ord=2: _reduce_ref(
        lambda v, axis, keepdims: (np.sqrt(np.sum(v.astype(np.float64) ** 2, axis=axis, keepdims=keepdims)) if ord == 2
                                   else np.sum(np.abs(v.astype(np.float64)), axis=axis, keepdims=keepdims)))(x, axis, keepdims),
                 dtypes=F, shapes=RSHAPES, params=({}, {"ord": 1}, {"axis": 1}, {"axis": (0, 1), "keepdims": True}),
                 kind="reduce"),
}


def _arg_ref(f):
    def ref(x, axis=None, keepdims=False):
        if axis is None:
            r = np.asarray(f(x.reshape(-1)))
            return r.reshape((1,) * x.ndim if keepdims else (1,))
        r = f(x, axis=axis)
        return np.expand_dims(r, axis) if keepdims else (r if np.ndim(r) else np.asarray(r).reshape((1,)))
    return ref


REDUCE["argmax"] = Case(_arg_ref(np.argmax), dtypes=F + ["int32"], shapes=[(7,), (3, 5), (2, 3, 4)],
                        params=({}, {"axis": 0}, {"axis": -1, "keepdims": True}), kind="arg")
REDUCE["argmin"] = Case(_arg_ref(np.argmin), dtypes=F + ["int32"], shapes=[(7,), (3, 5), (2, 3, 4)],
                        params=({}, {"axis": 1}, {"axis": 0, "keepdims": True}), kind="arg")

OPS_COVERED_ELSEWHERE = set()
