"""Parameters of Gluon blocks (MXNet 1.x ``gluon.Parameter`` / ``ParameterDict``): arrays with a
name, a gradient buffer, an initializer, and deferred initialization for shapes known only
once data flows (0 in a shape is unknown)."""
from collections import OrderedDict

import numpy as np

from .. import autograd, initializer as _init, ndarray as nd
from .. import symbol as _sym
from ..base import BrassError
from ..context import cpu, current_context

__all__ = ["Parameter", "ParameterDict", "DeferredInitializationError", "Constant"]


class DeferredInitializationError(BrassError):
    """A parameter's shape is not known yet: it is initialized at the first forward."""


def _ctx_list(ctx, name):
    """ctx (None: the current context; a context; a list of distinct contexts) as a list."""
    if ctx is None:
        return [current_context()]
    if not isinstance(ctx, (list, tuple)):
        return [ctx]
    if not ctx or len(set(ctx)) != len(ctx):
        raise BrassError("Parameter '%s': contexts must be a non-empty list of distinct contexts, got %s"
                         % (name, list(ctx)), 4)
    return list(ctx)


def _shape_known(shape):
    return shape is not None and all(d > 0 for d in shape)


class Parameter:
    """A named array of a block with its gradient.

    shape may hold 0 for an extent fixed by the first forward (deferred initialization);
    grad_req is 'write', 'add' or 'null'.
    """

    def __init__(self, name, grad_req="write", shape=None, dtype="float32", lr_mult=1.0, wd_mult=1.0, init=None,
                 allow_deferred_init=False, differentiable=True, stype="default", grad_stype="default"):
        self.name = name
        self._shape = tuple(shape) if isinstance(shape, (tuple, list)) else ((shape,) if shape else None)
        self.dtype = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
        self.lr_mult = lr_mult
        self.wd_mult = wd_mult
        self.init = init
        self.allow_deferred_init = allow_deferred_init
        self._differentiable = differentiable
        self._grad_req = grad_req if differentiable else "null"
        self._data = None       # one array per context of _ctx_list
        self._grad = None
        self._ctx_list = []
        self._deferred = None   # (init, contexts, default_init) waiting for a shape
        self._var = None

    def __repr__(self):
        return "Parameter %s (shape=%s, dtype=%s)" % (self.name, self._shape, self.dtype)

    @property
    def shape(self):
        return self._shape

    @shape.setter
    def shape(self, new):
        new = tuple(new)
        if self._shape is not None:
            if len(self._shape) != len(new) or any(a and a != b for a, b in zip(self._shape, new)):
                raise BrassError("Parameter '%s': shape %s does not fit the declared %s" % (self.name, new, self._shape), 2)
        if new != self._shape:
            self._var = None  # its variable carries the shape
        self._shape = new

    @property
    def grad_req(self):
        return self._grad_req

    @grad_req.setter
    def grad_req(self, req):
        if req not in ("write", "add", "null"):
            raise ValueError("grad_req must be write, add or null, got %r" % (req,))
        if not self._differentiable:
            req = "null"
        if self._grad_req == req:
            return
        self._grad_req = req
        if self._data is not None:
            self._init_grad()

    # ---- initialization ----------------------------------------------------------------------
    def initialize(self, init=None, ctx=None, default_init=_init.Uniform(), force_reinit=False):
        """Allocates and fills the array, one copy per context of ``ctx`` (a context or a
        list; the current one by default), later, at the first forward, if the shape is not
        known yet and deferred initialization is allowed. ``init`` (else the parameter's own
        initializer, else ``default_init``) fills it by its weight rule, as MXNet does."""
        if self._data is not None and not force_reinit:
            return
        ctx = _ctx_list(ctx, self.name)
        if init is None:
            init = default_init if self.init is None else self.init
        if not _shape_known(self._shape):
            if not self.allow_deferred_init:
                raise BrassError("Parameter '%s': shape %s is unknown and deferred initialization is not allowed"
                                 % (self.name, self._shape), 2)
            self._data = self._grad = None
            self._deferred = (init, ctx, default_init)
            return
        self._finish_init(init, ctx, default_init)

    def _finish_init(self, init, ctx, default_init):
        data = nd.zeros(self._shape, ctx=ctx[0], dtype=self.dtype)
        with autograd.pause():
            _init.create(default_init)(_init.InitDesc(self.name, {"__init__": init}), data)
        self._init_impl(data, ctx)

    def _init_impl(self, data, ctx):
        """One copy of data per context (data itself on the first when it is there)."""
        self._ctx_list = list(ctx)
        with autograd.pause():
            self._data = [data if data.context == c else data.copyto(c) for c in self._ctx_list]
        self._deferred = None
        self._init_grad()

    def _finish_deferred_init(self):
        if self._deferred is None:
            return
        if not _shape_known(self._shape):
            raise DeferredInitializationError("Parameter '%s': shape %s is still unknown" % (self.name, self._shape))
        self._finish_init(*self._deferred)

    def _init_grad(self):
        if self._grad_req == "null":  # no gradient buffer, and outside recorded graphs
            self._grad = None
            self._data = [d.detach() for d in self._data]
            return
        self._grad = [nd.zeros(d.shape, ctx=d.context, dtype=d.dtype) for d in self._data]
        autograd.mark_variables(self._data, self._grad, self._grad_req)

    def _check_initialized(self):
        if self._data is not None:
            return
        if self._deferred is not None:
            raise DeferredInitializationError(
                "Parameter '%s' has not been initialized yet because its shape %s is not known; it is "
                "initialized at the first forward pass" % (self.name, self._shape))
        raise BrassError("Parameter '%s' has not been initialized: call block.initialize() or "
                         "collect_params().initialize()" % self.name, 1)

    def _pick(self, arrays, ctx, what):
        """The copy of arrays on ctx (the only one, or the current context's, by default)."""
        if ctx is None:
            if len(arrays) == 1:
                return arrays[0]
            ctx = current_context()
        for c, a in zip(self._ctx_list, arrays):
            if c == ctx:
                return a
        raise BrassError("Parameter '%s': its %s is on %s, not on %s (initialize(ctx=...) or reset_ctx(...) puts "
                         "it there)" % (self.name, what, self._ctx_list, ctx), 4)

    # ---- access ------------------------------------------------------------------------------
    def data(self, ctx=None):
        """The value on ctx (the only copy, or the current context's)."""
        self._check_initialized()
        return self._pick(self._data, ctx, "data")

    def list_data(self):
        """The copies on every context, in the order of list_ctx()."""
        self._check_initialized()
        return list(self._data)

    def grad(self, ctx=None):
        self._check_initialized()
        if self._grad is None:
            raise BrassError("Parameter '%s' has grad_req 'null': it has no gradient" % self.name, 1)
        return self._pick(self._grad, ctx, "gradient")

    def list_grad(self):
        self._check_initialized()
        if self._grad is None:
            raise BrassError("Parameter '%s' has grad_req 'null': it has no gradient" % self.name, 1)
        return list(self._grad)

    def list_ctx(self):
        """The contexts the parameter lives on (where it will, while initialization waits)."""
        if self._data is None and self._deferred is not None:
            return list(self._deferred[1])
        self._check_initialized()
        return list(self._ctx_list)

    def set_data(self, data):
        """Replaces the values on every context (same shape)."""
        if self._data is None and self._deferred is not None:
            self.shape = data.shape
            self._finish_deferred_init()
        self._check_initialized()
        if tuple(data.shape) != self._data[0].shape:
            raise BrassError("Parameter '%s': set_data with shape %s, the parameter's is %s"
                             % (self.name, tuple(data.shape), self._data[0].shape), 2)
        src = data if isinstance(data, nd.NDArray) else nd.array(data, dtype=self.dtype)
        with autograd.pause():
            src = src.astype(self.dtype)
            for d in self._data:
                src.copyto(d)

    def _reduce(self):
        """The value on the CPU: the mean of the copies (they are equal when a Trainer keeps
        them in step)."""
        self._check_initialized()
        with autograd.pause():
            if len(self._data) == 1:
                return self._data[0].as_in_context(cpu())
            return nd.add_n(*[d.as_in_context(cpu()) for d in self._data]) / len(self._data)

    def zero_grad(self):
        for g in self._grad or []:
            g[:] = 0

    def reset_ctx(self, ctx):
        """Moves the parameter to ctx (a context or a list): the copies are averaged, then
        placed on every new context."""
        ctx = _ctx_list(ctx, self.name)
        if self._data is not None:
            if self._ctx_list != ctx:
                self._init_impl(self._reduce(), ctx)
        elif self._deferred is not None:
            self._deferred = (self._deferred[0], ctx, self._deferred[2])
        else:
            raise BrassError("Parameter '%s': reset_ctx before initialize" % self.name, 1)

    def cast(self, dtype):
        self.dtype = np.dtype(dtype).name
        self._var = None
        if self._data is not None:
            with autograd.pause():
                self._data = [d.astype(dtype) for d in self._data]
            self._init_grad()

    def var(self):
        """The symbol variable of this parameter (with its shape, dtype and multipliers)."""
        if self._var is None:
            self._var = _sym.var(self.name, shape=self._shape, dtype=self.dtype, lr_mult=self.lr_mult,
                                 wd_mult=self.wd_mult,
                                 init=self.init if isinstance(self.init, (str, type(None))) else self.init.dumps())
        return self._var


class Constant(Parameter):
    """A parameter that is not learned (grad_req null), initialized with a given value."""

    def __init__(self, name, value):
        value = value if isinstance(value, nd.NDArray) else nd.array(value)
        self.value = value

        class _Init(_init.Initializer):
            def _init_weight(self_, _, arr):
                value.copyto(arr)

        super().__init__(name, grad_req="null", shape=value.shape, dtype=value.dtype, init=_Init())


class ParameterDict:
    """Parameters by full name, all sharing a prefix; ``get`` creates or finds one."""

    def __init__(self, prefix="", shared=None):
        self._prefix = prefix
        self._params = OrderedDict()
        self._shared = shared

    @property
    def prefix(self):
        return self._prefix

    def __repr__(self):
        body = "\n".join("  " + repr(p) for p in self._params.values())
        return "%s(\n%s\n)" % (self._prefix or "ParameterDict", body)

    def __getitem__(self, key):
        return self._params[key]

    def __iter__(self):
        return iter(self._params)

    def __len__(self):
        return len(self._params)

    def __contains__(self, key):
        return key in self._params

    def keys(self):
        return self._params.keys()

    def values(self):
        return self._params.values()

    def items(self):
        return self._params.items()

    def _get_impl(self, name):
        if name in self._params:
            return self._params[name]
        if self._shared is not None and name in self._shared._params:
            self._params[name] = self._shared._params[name]
            return self._params[name]
        return None

    def get(self, name, **kwargs):
        """The parameter prefix + name, created with kwargs when new; an existing one must
        agree with kwargs (0 extents in either shape are filled from the other)."""
        full = self._prefix + name
        p = self._get_impl(full)
        if p is None:
            p = Parameter(full, **kwargs)
            self._params[full] = p
            return p
        for k, v in kwargs.items():
            if k == "shape" and v is not None:
                p.shape = tuple(max(a, b) for a, b in zip(v, p.shape)) if p.shape and len(p.shape) == len(v) else v
            elif k == "init" and v is not None and p.init is None:
                p.init = v
            elif hasattr(p, k) and v is not None and k not in ("shape", "init") and getattr(p, k) != v:
                if k == "dtype" and np.dtype(v) == np.dtype(p.dtype):
                    continue
                raise BrassError("Parameter '%s' exists with %s=%r, asked for %r" % (full, k, getattr(p, k), v), 1)
        return p

    def get_constant(self, name, value=None):
        full = self._prefix + name
        p = self._get_impl(full)
        if p is None:
            if value is None:
                raise KeyError("no constant named %s" % full)
            p = self._params[full] = Constant(full, value)
        return p

    def update(self, other):
        for k, v in other.items():
            if k in self._params and self._params[k] is not v:
                raise BrassError("cannot update: a different parameter named '%s' exists" % k, 1)
            self._params[k] = v

    def initialize(self, init=_init.Uniform(), ctx=None, verbose=False, force_reinit=False):
        for p in self.values():
            p.initialize(None, ctx, init, force_reinit=force_reinit)

    def zero_grad(self):
        for p in self.values():
            p.zero_grad()

    def reset_ctx(self, ctx):
        for p in self.values():
            p.reset_ctx(ctx)

    def setattr(self, name, value):
        for p in self.values():
            setattr(p, name, value)

    def list_ctx(self):
        return sorted({c for p in self.values() for c in p.list_ctx()}, key=str)

    def save(self, fname, strip_prefix=""):
        arrays = {}
        for p in self.values():
            name = p.name[len(strip_prefix):] if strip_prefix and p.name.startswith(strip_prefix) else p.name
            arrays[name] = p._reduce()
        nd.save(fname, arrays)

    def load(self, fname, ctx=None, allow_missing=False, ignore_extra=False, restore_prefix="", cast_dtype=False,
             dtype_source="current"):
        loaded = {restore_prefix + k.split(":", 1)[-1]: v for k, v in nd.load(fname).items()}
        _load_into(self._params, loaded, fname, allow_missing, ignore_extra, ctx, cast_dtype, dtype_source)


def _load_into(params, loaded, fname, allow_missing, ignore_extra, ctx, cast_dtype=False, dtype_source="current"):
    if dtype_source not in ("current", "saved"):
        raise BrassError("load_parameters: dtype_source must be 'current' or 'saved', got %r" % (dtype_source,), 1)
    if not allow_missing:
        missing = [k for k in params if k not in loaded]
        if missing:
            raise BrassError("%s has no values for parameters %s" % (fname, missing), 11)
    if not ignore_extra:
        extra = [k for k in loaded if k not in params]
        if extra:
            raise BrassError("%s has values for %s, which the block does not have (ignore_extra=True skips them)"
                             % (fname, extra), 11)
    for k, v in loaded.items():
        p = params.get(k)
        if p is None:
            continue
        if np.dtype(v.dtype) != np.dtype(p.dtype):
            if not cast_dtype:
                raise BrassError("%s holds '%s' as %s, the parameter is %s (cast_dtype=True converts)"
                                 % (fname, k, np.dtype(v.dtype).name, p.dtype), 3)
            if dtype_source == "saved":
                p.cast(v.dtype)
        if p._data is None and p._deferred is None:
            p.shape = v.shape
            p.initialize(ctx=ctx or cpu())
        p.set_data(v)
