"""The executor: a symbol bound to arrays (MXNet 1.x ``Executor``).

>>> import brass as mx, numpy as np
>>> x = mx.sym.var('x')
>>> exe = (x * 2).simple_bind(mx.cpu(), x=(2,))
>>> exe.forward(is_train=True, x=mx.nd.array([1, 2]))[0].asnumpy().tolist()
[2.0, 4.0]
>>> exe.backward(mx.nd.ones((2,)))
>>> exe.grad_dict['x'].asnumpy().tolist()
[2.0, 2.0]
"""
from . import ndarray as nd
from .base import BrassError, check, ffi, lib
from .context import Context
from .ndarray.ndarray import NDArray

_REQ = {"null": 0, "write": 1, "inplace": 2, "add": 3}


def _req_code(r, name):
    if r not in _REQ:
        raise BrassError("bind: grad_req '%s' of '%s' is not one of null, write, add" % (r, name), 1)
    return _REQ[r]


class Executor:
    """Runs a bound symbol: ``forward(is_train, **inputs)``, ``backward(out_grads)``,
    ``outputs``, ``arg_dict``, ``grad_dict``, ``aux_dict``."""

    def __init__(self, handle, symbol, ctx, arg_arrays, grad_arrays, aux_arrays, grad_req):
        self._h = handle
        self._symbol = symbol
        self._ctx = ctx
        self.arg_arrays = arg_arrays
        self.grad_arrays = grad_arrays
        self.aux_arrays = aux_arrays
        self._grad_req = grad_req
        self._outputs = []
        self._monitor = None
        self._arg_names = symbol.list_arguments()
        self._aux_names = symbol.list_auxiliary_states()
        self._output_names = symbol.list_outputs()

    def __del__(self):
        h = getattr(self, "_h", None)
        if h is not None and lib is not None:
            lib.brass_executor_free(h)
            self._h = None

    # ---- binding ---------------------------------------------------------------------------
    @staticmethod
    def _as_list(values, names, what, allow_missing=False):
        if values is None:
            return [None] * len(names)
        if isinstance(values, dict):
            unknown = sorted(set(values) - set(names))
            if unknown:
                raise BrassError("bind: %s %s not in the symbol's %s" % (what, unknown, names), 1)
            out = [values.get(n) for n in names]
        else:
            out = list(values)
            if len(out) != len(names):
                raise BrassError("bind: %d %s given, the symbol has %d (%s)" % (len(out), what, len(names), names), 1)
        if not allow_missing:
            for n, v in zip(names, out):
                if v is None:
                    raise BrassError("bind: no array for %s '%s'" % (what.rstrip("s"), n), 1)
        for n, v in zip(names, out):
            if v is not None and not isinstance(v, NDArray):
                raise BrassError("bind: %s '%s' is a %s, not an NDArray" % (what.rstrip("s"), n, type(v).__name__), 1)
        return out

    @classmethod
    def _bind(cls, symbol, ctx, args, args_grad, grad_req, aux_states):
        ctx = Context(ctx) if not isinstance(ctx, Context) else ctx
        arg_names = symbol.list_arguments()
        aux_names = symbol.list_auxiliary_states()
        args = cls._as_list(args, arg_names, "arguments")
        grads = cls._as_list(args_grad, arg_names, "gradients", allow_missing=True)
        aux = cls._as_list(aux_states, aux_names, "auxiliary states")
        if isinstance(grad_req, str):
            reqs = {n: grad_req for n in arg_names}
        elif isinstance(grad_req, (list, tuple)):
            reqs = dict(zip(arg_names, grad_req))
        else:
            reqs = {n: grad_req.get(n, "null") for n in arg_names}
        codes = []
        for n, g in zip(arg_names, grads):
            c = _req_code(reqs.get(n, "null"), n)
            if g is None:
                c = 0  # no buffer: no gradient (MXNet)
            codes.append(c)
        h_args = ffi.new("brass_ndarray_t[]", [a.handle for a in args] or 1)
        h_grads = ffi.new("brass_ndarray_t[]", [g.handle if g is not None else ffi.NULL for g in grads] or 1)
        h_reqs = ffi.new("int32_t[]", codes or 1)
        h_aux = ffi.new("brass_ndarray_t[]", [a.handle for a in aux] or 1)
        out = ffi.new("brass_executor_t*")
        check(lib.brass_executor_bind(symbol.handle, ctx.device_typeid, ctx.device_id, len(args), h_args,
                                      h_grads, h_reqs, len(aux), h_aux, out))
        req_names = {n: ("null" if c == 0 else reqs.get(n, "null")) for n, c in zip(arg_names, codes)}
        return cls(out[0], symbol, ctx, args, grads, aux, req_names)

    @classmethod
    def _simple_bind(cls, symbol, ctx, grad_req, type_dict, shared_exec, shapes):
        ctx = Context(ctx) if not isinstance(ctx, Context) else ctx
        arg_shapes, _, aux_shapes = symbol.infer_shape(**shapes)
        if arg_shapes is None:
            partial = symbol.infer_shape_partial(**shapes)
            missing = [n for n, s in zip(symbol.list_arguments(), partial[0]) if not s or 0 in s]
            raise BrassError("simple_bind: the shapes given (%s) do not determine the shapes of %s"
                             % (shapes, missing), 2)
        if type_dict is None:  # MXNet: float32 for arguments without a __dtype__ hint
            internals = symbol.get_internals()
            type_dict = {n: "float32" for n in symbol.list_arguments() if internals[n].attr("__dtype__") is None}
        arg_types, _, aux_types = symbol.infer_type(**type_dict)
        if arg_types is None:
            partial = symbol.infer_type(**dict(dict.fromkeys(symbol.list_arguments(), "float32"), **type_dict))
            if partial[0] is None:
                raise BrassError("simple_bind: the dtypes given (%s) do not determine every argument's dtype"
                                 % type_dict, 3)
            arg_types, _, aux_types = partial
        arg_names = symbol.list_arguments()
        shared = shared_exec.arg_dict if shared_exec is not None else {}
        args = []
        for n, s, t in zip(arg_names, arg_shapes, arg_types):
            a = shared.get(n)
            args.append(a if a is not None and a.shape == s else nd.zeros(s, ctx=ctx, dtype=t))
        if isinstance(grad_req, str):
            reqs = dict.fromkeys(arg_names, grad_req)
        elif isinstance(grad_req, (list, tuple)):
            reqs = dict(zip(arg_names, grad_req))
        else:
            reqs = {n: grad_req.get(n, "null") for n in arg_names}
        grads = [nd.zeros(s, ctx=ctx, dtype=t) if reqs.get(n, "null") != "null" else None
                 for n, s, t in zip(arg_names, arg_shapes, arg_types)]
        aux = [nd.zeros(s, ctx=ctx, dtype=t) for s, t in zip(aux_shapes, aux_types)]
        return cls._bind(symbol, ctx, args, grads, reqs, aux)

    # ---- running ---------------------------------------------------------------------------
    def forward(self, is_train=False, **kwargs):
        """Copies kwargs (by argument name) into the bound arrays, runs the graph; returns the
        outputs."""
        for k, v in kwargs.items():
            if k not in self.arg_dict:
                raise BrassError("forward: '%s' is not an argument of the symbol (%s)" % (k, self._arg_names), 1)
            dst = self.arg_dict[k]
            if not isinstance(v, NDArray):
                v = nd.array(v, ctx=dst.context, dtype=dst.dtype)
            if v.shape != dst.shape:
                raise BrassError("forward: '%s' has shape %s, the executor was bound with %s"
                                 % (k, v.shape, dst.shape), 2)
            v.copyto(dst)
        check(lib.brass_executor_forward(self._h, 1 if is_train else 0))
        self._outputs = None
        return self.outputs

    def backward(self, out_grads=None, is_train=True):
        """Gradients of the outputs (with head gradients out_grads, or ones) into grad_arrays."""
        if out_grads is None:
            out_grads = []
        elif isinstance(out_grads, NDArray):
            out_grads = [out_grads]
        elif isinstance(out_grads, dict):
            out_grads = [out_grads.get(n) for n in self._output_names]
        hs = ffi.new("brass_ndarray_t[]", [g.handle if g is not None else ffi.NULL for g in out_grads] or 1)
        check(lib.brass_executor_backward(self._h, len(out_grads), hs))

    @property
    def outputs(self):
        """The outputs of the last forward."""
        if self._outputs is None:
            n = len(self._output_names)
            num = ffi.new("int32_t*", n)
            out = ffi.new("brass_ndarray_t[]", max(n, 1))
            check(lib.brass_executor_outputs(self._h, num, out))
            self._outputs = [NDArray(out[i]) for i in range(num[0])]
        return self._outputs

    @property
    def arg_dict(self):
        return dict(zip(self._arg_names, self.arg_arrays))

    @property
    def grad_dict(self):
        return {n: g for n, g in zip(self._arg_names, self.grad_arrays) if g is not None}

    @property
    def aux_dict(self):
        return dict(zip(self._aux_names, self.aux_arrays))

    @property
    def output_dict(self):
        return dict(zip(self._output_names, self.outputs))

    def copy_params_from(self, arg_params, aux_params=None, allow_extra_params=False):
        """Copies arrays by name into the bound arguments and auxiliary states."""
        for src, dst, what in ((arg_params, self.arg_dict, "argument"), (aux_params or {}, self.aux_dict, "auxiliary state")):
            for k, v in src.items():
                if k in dst:
                    if v.shape != dst[k].shape:
                        raise BrassError("copy_params_from: %s '%s' has shape %s, the executor's %s"
                                         % (what, k, v.shape, dst[k].shape), 2)
                    v.copyto(dst[k])
                elif not allow_extra_params:
                    raise BrassError("copy_params_from: '%s' is not an %s of the symbol" % (k, what), 1)

    def reshape(self, partial_shaping=False, allow_up_sizing=False, **kwargs):
        """A new executor for new input shapes. Arrays whose shape is unchanged are shared;
        arrays that shrink are views of the old memory; arrays may only grow (into new memory)
        with allow_up_sizing."""
        shapes = {n: a.shape for n, a in self.arg_dict.items()}
        shapes.update(kwargs)
        arg_shapes, _, aux_shapes = self._symbol.infer_shape(**{k: v for k, v in shapes.items() if k in kwargs}) \
            if partial_shaping else self._symbol.infer_shape(**shapes)
        if arg_shapes is None:
            raise BrassError("reshape: the new shapes %s do not determine every shape" % kwargs, 2)
        args, grads, aux = [], [], []
        for n, a, g, s in zip(self._arg_names, self.arg_arrays, self.grad_arrays, arg_shapes):
            if a.shape == s:
                args.append(a)
                grads.append(g)
                continue
            if n not in kwargs and not partial_shaping:
                raise BrassError("reshape: the shape of '%s' changes from %s to %s; pass partial_shaping=True"
                                 % (n, a.shape, s), 2)
            if _size(s) > a.size and not allow_up_sizing:
                raise BrassError("reshape: '%s' grows from %s to %s; pass allow_up_sizing=True"
                                 % (n, a.shape, s), 2)
            args.append(_resized(a, s, self._ctx))
            grads.append(_resized(g, s, self._ctx) if g is not None else None)
        for a, s in zip(self.aux_arrays, aux_shapes):
            aux.append(a if a.shape == s else _resized(a, s, self._ctx))
        return Executor._bind(self._symbol, self._ctx, args, grads, self._grad_req, aux)

    def set_monitor_callback(self, callback, monitor_all=False):
        """callback(name, array) after each op of forward and backward."""
        if callback is None:
            self._monitor = None
            check(lib.brass_executor_set_monitor(self._h, ffi.NULL, ffi.NULL))
            return

        @ffi.callback("brass_monitor_fn")
        def cb(name, handle, user):
            callback(ffi.string(name).decode(), NDArray(handle))

        self._monitor = cb  # kept alive with the executor
        check(lib.brass_executor_set_monitor(self._h, cb, ffi.NULL))

    @property
    def memory_plan(self):
        """{'naive_bytes', 'planned_bytes', 'inplace', 'fused', 'addto'}: the bytes of the
        intermediate values (forward and backward) if each had a buffer of its own, the bytes of
        the shared buffers the plan gives them, how many values took over an input's buffer in
        place, how many groups of element-wise ops run fused, and how many values are summed
        into another's buffer (add-to) instead of through add_n."""
        n = ffi.new("int64_t[2]")
        k = ffi.new("int32_t[3]")
        check(lib.brass_executor_memory(self._h, n, n + 1, k, k + 1))
        check(lib.brass_executor_addto(self._h, k + 2))
        return {"naive_bytes": n[0], "planned_bytes": n[1], "inplace": k[0], "fused": k[1], "addto": k[2]}

    def debug_str(self):
        m = self.memory_plan
        return ("Executor of %s: arguments %s, outputs %s\nTotal %.3f MB planned for intermediate values "
                "(%.3f MB unplanned, %d in place)" % (self._symbol.name, self._arg_names, self._output_names,
                                                      m["planned_bytes"] / 2 ** 20, m["naive_bytes"] / 2 ** 20,
                                                      m["inplace"]))


def _resized(a, shape, ctx):
    """A view of a's first elements when shape fits in it, else a new zero array."""
    n = _size(shape)
    if n <= a.size and n > 0:
        return a.reshape((-1,))[:n].reshape(shape)
    return nd.zeros(shape, ctx=ctx, dtype=a.dtype)


def _size(shape):
    n = 1
    for d in shape:
        n *= d
    return n
