"""Operator functions generated at import from the C registry, and the invoke fast path."""
import numpy as np

from .. import base
from ..base import BrassError, check, ffi, lib
from ..context import Context
from .ndarray import NDArray, _bufs, _ops

_handles = {}        # op name or alias -> op handle
_meta = {}           # op name -> (handle, num_inputs, input_names, param_names)
_param_cache = {}    # (name, key) -> brass_params_t (kept for the process's life)
_PARAM_CACHE_MAX = 8192


def _to_str(v):
    """A parameter value in MXNet's string syntax."""
    if isinstance(v, bool) or isinstance(v, np.bool_):
        return "True" if v else "False"
    if isinstance(v, str):
        return v
    if v is None:
        return "None"
    if isinstance(v, (list, tuple)):
        return "(" + ", ".join(_to_str(x) for x in v) + ("," if len(v) == 1 else "") + ")"
    if isinstance(v, Context):
        return str(v)
    if isinstance(v, (type, np.dtype)):
        return base.dtype_name(v)
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, NDArray):
        raise BrassError("an NDArray was passed where a parameter value was expected", 1)
    return str(v)


def op_handle(name):
    h = _handles.get(name)
    if h is None:
        p = ffi.new("brass_op_t*")
        check(lib.brass_op_find(name.encode(), p))
        h = _handles[name] = p[0]
    return h


def params_handle(name, kwargs):
    """Parsed parameters for (op, kwargs), cached; ffi.NULL for no parameters."""
    if not kwargs:
        return ffi.NULL
    items = tuple(sorted((k, _to_str(v)) for k, v in kwargs.items()))
    key = (name, items)
    p = _param_cache.get(key)
    if p is None:
        keys = [ffi.new("char[]", k.encode()) for k, _ in items]
        vals = [ffi.new("char[]", v.encode()) for _, v in items]
        out = ffi.new("brass_params_t*")
        check(lib.brass_params_create(op_handle(name), len(items), ffi.new("char*[]", keys),
                                      ffi.new("char*[]", vals), out))
        p = ffi.gc(out[0], lib.brass_params_free)
        if len(_param_cache) >= _PARAM_CACHE_MAX:
            _param_cache.clear()
        _param_cache[key] = p
    return p


def invoke(name, inputs, params, out):
    """Runs op `name` on NDArrays; returns one NDArray or a list (several outputs)."""
    ins, outs, nout, _, _ = _bufs()
    n = len(inputs)
    if n > 64:
        ins = ffi.new("brass_ndarray_t[]", n)
    for i in range(n):
        ins[i] = inputs[i]._h
    if out is None:
        nout[0] = 16
        outs[0] = ffi.NULL
        check(lib.brass_op_invoke(op_handle(name), n, ins, params, nout, outs))
        k = nout[0]
        if k == 1:
            return NDArray(outs[0])
        return [NDArray(outs[i]) for i in range(k)]
    outl = out if isinstance(out, (list, tuple)) else (out,)
    for i, o in enumerate(outl):
        outs[i] = o._h
    nout[0] = len(outl)
    check(lib.brass_op_invoke(op_handle(name), n, ins, params, nout, outs))
    return out


_scalar_cache = {}


def scalar_params(name, value):
    """Parsed {scalar: value} parameters for a scalar op, cached per (op, value)."""
    key = (name, value, type(value))
    p = _scalar_cache.get(key)
    if p is None:
        p = params_handle(name, {"scalar": value})
        if len(_scalar_cache) > 4096:
            _scalar_cache.clear()
        _scalar_cache[key] = p
    return p


def invoke_fast(name, inputs, out, **kwargs):
    return invoke(name, inputs, params_handle(name, kwargs) if kwargs else ffi.NULL, out)


def _make_function(name, nin, input_names, param_names, doc):
    def op(*args, **kwargs):
        out = kwargs.pop("out", None)
        kwargs.pop("name", None)
        inputs = []
        extra = []
        for a in args:
            if isinstance(a, NDArray):
                inputs.append(a)
            elif isinstance(a, (list, tuple)) and a and isinstance(a[0], NDArray):
                inputs.extend(a)
            elif a is None and not extra:
                continue
            else:
                extra.append(a)
        for nm in input_names:
            if nm in kwargs:
                v = kwargs.pop(nm)
                if v is not None:
                    inputs.append(v)
        if extra:
            free = [p for p in param_names if p not in kwargs]
            if len(extra) > len(free):
                raise BrassError("%s: too many positional arguments" % name, 1)
            kwargs.update(zip(free, extra))
        if nin < 0 and "num_args" in param_names and "num_args" not in kwargs:
            kwargs["num_args"] = len(inputs)
        for i, a in enumerate(inputs):
            if not isinstance(a, NDArray):
                raise BrassError("%s: input %d must be an NDArray, got %s" % (name, i, type(a).__name__), 1)
        dt = kwargs.get("dtype")
        if dt is not None and not isinstance(dt, str):
            kwargs["dtype"] = base.dtype_name(dt)
        return invoke(name, inputs, params_handle(name, kwargs), out)

    op.__name__ = name
    op.__qualname__ = name
    op.__doc__ = doc
    return op


def _describe(handle):
    name = ffi.new("const char**")
    doc = ffi.new("const char**")
    nin = ffi.new("int32_t*")
    inames = ffi.new("const char**")
    nout = ffi.new("int32_t*")
    npar = ffi.new("int32_t*")
    aliases = ffi.new("const char**")
    check(lib.brass_op_info(handle, name, doc, nin, inames, nout, npar, aliases))
    pn, pt, pd, pdoc = (ffi.new("const char**") for _ in range(4))
    params = []
    for i in range(npar[0]):
        check(lib.brass_op_param_info(handle, i, pn, pt, pd, pdoc))
        params.append(tuple(ffi.string(x[0]).decode() for x in (pn, pt, pd, pdoc)))
    input_names = [s for s in ffi.string(inames[0]).decode().split(",") if s]
    text = ffi.string(doc[0]).decode()
    lines = [text, "", "Parameters", "----------"]
    for n in input_names:
        lines.append("%s : NDArray\n    Input." % n)
    for n, t, d, pd_ in params:
        lines.append("%s : %s, %s\n    %s" % (n, t, ("default=" + d) if d else "required", pd_))
    lines.append("out : NDArray, optional\n    The output array.")
    alias_list = [a for a in ffi.string(aliases[0]).decode().split(",") if a]
    return (ffi.string(name[0]).decode(), nin[0], input_names, [p[0] for p in params],
            "\n".join(lines), alias_list)


def generate(namespace):
    """Adds a function per registered op (and its aliases' names) to `namespace`."""
    cnt = ffi.new("int32_t*")
    check(lib.brass_op_count(cnt))
    nm = ffi.new("const char**")
    for i in range(cnt[0]):
        check(lib.brass_op_name(i, nm))
        name = ffi.string(nm[0]).decode()
        h = op_handle(name)
        name, nin, input_names, param_names, doc, aliases = _describe(h)
        fn = _make_function(name, nin, input_names, param_names, doc)
        _ops[name] = fn
        _meta[name] = (h, nin, input_names, param_names)
        namespace[name] = fn
        for a in aliases:
            _handles[a] = h
            if a.isidentifier() and a not in namespace:
                namespace[a] = fn
    from .ndarray import _fast
    for n in list(_ops):
        _fast[n] = _handles[n]
    _add_fluent_methods()


# MXNet's fluent NDArray methods: x.sum(axis=1) == nd.sum(x, axis=1).
_FLUENT = {
    "transpose": "transpose", "expand_dims": "expand_dims", "squeeze": "squeeze", "flatten": "Flatten",
    "sum": "sum", "mean": "mean", "prod": "prod", "max": "max", "min": "min", "nansum": "nansum",
    "nanprod": "nanprod", "norm": "norm", "argmax": "argmax", "argmin": "argmin", "clip": "clip",
    "abs": "abs", "sign": "sign", "exp": "exp", "expm1": "expm1", "log": "log", "log1p": "log1p",
    "log2": "log2", "log10": "log10", "sqrt": "sqrt", "rsqrt": "rsqrt", "cbrt": "cbrt", "square": "square",
    "reciprocal": "reciprocal", "sin": "sin", "cos": "cos", "tan": "tan", "arcsin": "arcsin",
    "arccos": "arccos", "arctan": "arctan", "sinh": "sinh", "cosh": "cosh", "tanh": "tanh",
    "arcsinh": "arcsinh", "arccosh": "arccosh", "arctanh": "arctanh", "relu": "relu", "sigmoid": "sigmoid",
    "softsign": "softsign", "floor": "floor", "ceil": "ceil", "round": "round", "rint": "rint",
    "trunc": "trunc", "fix": "fix", "tile": "tile", "repeat": "repeat", "flip": "reverse",
    "slice": "slice", "slice_axis": "slice_axis", "slice_like": "slice_like", "take": "take",
    "pick": "pick", "one_hot": "one_hot", "topk": "topk", "sort": "sort", "argsort": "argsort",
    "broadcast_to": "broadcast_to", "broadcast_like": "broadcast_like", "split": "SliceChannel",
    "swapaxes": "SwapAxis", "zeros_like": "zeros_like", "ones_like": "ones_like", "diag": "diag",
    "cumsum": "cumsum", "shape_array": "shape_array", "size_array": "size_array",
}


def _add_fluent_methods():
    for meth, opname in _FLUENT.items():
        fn = _ops.get(opname)
        if fn is None or hasattr(NDArray, meth):
            continue

        def method(self, *args, __fn=fn, **kwargs):
            return __fn(self, *args, **kwargs)

        method.__name__ = meth
        method.__doc__ = "Same as brass.nd.%s(self, ...).\n\n%s" % (opname, fn.__doc__ or "")
        setattr(NDArray, meth, method)
