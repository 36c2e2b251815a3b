"""Gluon blocks (MXNet 1.x): ``Block`` (imperative), ``HybridBlock`` (imperative, or traced
into a graph once by ``hybridize()``), ``SymbolBlock`` (a block around a symbol).

Names follow MXNet 1.x: a top-level block gets ``<class>N_`` (``dense0_``), children made in
``name_scope()`` get their parent's prefix plus their own count, and parameters are
``<prefix><name>`` (``dense0_weight``), so exported files carry MXNet's names.

>>> import brass as mx
>>> with mx.name.NameManager():  # fresh counters (as in a new process)
...     net = mx.gluon.nn.HybridSequential()
...     with net.name_scope():
...         net.add(mx.gluon.nn.Dense(4, activation='relu'), mx.gluon.nn.Dense(2))
>>> net.initialize()
>>> net.hybridize()
>>> net(mx.nd.ones((3, 5))).shape
(3, 2)
>>> sorted(net.collect_params().keys())[:2]
['hybridsequential0_dense0_bias', 'hybridsequential0_dense0_weight']
"""
import re
import threading
import weakref
from collections import OrderedDict

import numpy as np

from .. import autograd, name as _name, ndarray as nd, symbol as _sym
from ..base import BrassError, check, ffi, lib
from ..context import current_context
from ..ndarray.ndarray import NDArray
from ..symbol.symbol import Symbol
from .parameter import DeferredInitializationError, Parameter, ParameterDict, _load_into

__all__ = ["Block", "HybridBlock", "SymbolBlock"]


class _BlockScope:
    """Where children get their names: a counter per class name inside each parent."""

    _current = threading.local()

    def __init__(self, block):
        self._ref = weakref.ref(block)  # no cycle: a dropped block is freed at once, not by gc
        self._counter = {}
        self._old = None
        self._name_scope = None

    def _block(self):
        return self._ref()

    @staticmethod
    def create(prefix, params, hint):
        current = getattr(_BlockScope._current, "value", None)
        if current is None:
            if prefix is None:
                prefix = _name.current().get(None, hint) + "_"
            params = ParameterDict(prefix) if params is None else ParameterDict(params.prefix, params)
            return prefix, params
        if prefix is None:
            count = current._counter.get(hint, 0)
            prefix = "%s%d_" % (hint, count)
            current._counter[hint] = count + 1
        if params is None:
            parent = current._block().params
            params = ParameterDict(parent.prefix + prefix, parent._shared)
        else:
            params = ParameterDict(params.prefix, params)
        return current._block().prefix + prefix, params

    def __enter__(self):
        if self._block()._empty_prefix:
            return self
        self._old = getattr(_BlockScope._current, "value", None)
        _BlockScope._current.value = self
        self._name_scope = _name.Prefix(self._block().prefix)
        self._name_scope.__enter__()
        return self

    def __exit__(self, *exc):
        if self._block()._empty_prefix:
            return
        self._name_scope.__exit__(*exc)
        self._name_scope = None
        _BlockScope._current.value = self._old


class _HookHandle:
    """Removes a forward hook from its block (``detach``); a context manager too."""

    _next = 0

    def __init__(self, hooks, hook):
        self._hooks, self._id = hooks, _HookHandle._next
        _HookHandle._next += 1
        hooks[self._id] = hook

    def detach(self):
        self._hooks.pop(self._id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.detach()


def _shape_str(values):
    """The shapes of (nested lists of) arrays, as summary prints them."""
    if isinstance(values, (list, tuple)):
        shapes = [_shape_str(v) for v in values]
        return shapes[0] if len(shapes) == 1 else "[%s]" % ", ".join(shapes)
    return str(tuple(values.shape)) if hasattr(values, "shape") else str(values)


def _known(shape):
    return bool(shape) and all(d > 0 for d in shape)


def _is_container(block):
    from .nn.basic_layers import HybridSequential, Sequential
    return isinstance(block, (Sequential, HybridSequential))


class Block:
    """A piece of a network: children blocks and parameters, and ``forward``."""

    def __init__(self, prefix=None, params=None):
        self._empty_prefix = prefix == ""
        self._prefix, self._params = _BlockScope.create(prefix, params, self._alias())
        self._name = self._prefix[:-1] if self._prefix.endswith("_") else self._prefix
        self._scope = _BlockScope(self)
        self._children = OrderedDict()
        self._reg_params = OrderedDict()

    def _alias(self):
        return type(self).__name__.lower()

    def __repr__(self):
        body = "\n".join("  (%s): %s" % (k, repr(v).replace("\n", "\n  ")) for k, v in self._children.items())
        return "%s(\n%s\n)" % (type(self).__name__, body) if body else "%s()" % type(self).__name__

    def __setattr__(self, name, value):
        if isinstance(value, Block):
            self.register_child(value, name)
        elif isinstance(value, Parameter):
            if hasattr(self, "_reg_params"):
                self._reg_params[name] = value
        super().__setattr__(name, value)

    @property
    def prefix(self):
        return self._prefix

    @property
    def name(self):
        return self._name

    @property
    def params(self):
        """This block's own parameters (children's not included)."""
        return self._params

    def name_scope(self):
        """``with self.name_scope():`` children made inside get this block's prefix."""
        return self._scope

    def register_child(self, block, name=None):
        self._children[name if name is not None else str(len(self._children))] = block

    def collect_params(self, select=None):
        """Every parameter of this block and its children (a regex on names selects)."""
        ret = ParameterDict(self._params.prefix)
        pattern = re.compile(select) if select else None
        for k, v in self._params.items():
            if pattern is None or pattern.match(k):
                ret._params[k] = v
        for child in self._children.values():
            for k, v in child.collect_params(select).items():
                ret._params[k] = v
        return ret

    def _collect_params_with_prefix(self, prefix=""):
        if prefix:
            prefix += "."
        ret = OrderedDict((prefix + k, v) for k, v in self._reg_params.items())
        for name, child in self._children.items():
            ret.update(child._collect_params_with_prefix(prefix + name))
        return ret

    def initialize(self, init=None, ctx=None, verbose=False, force_reinit=False):
        from .. import initializer
        self.collect_params().initialize(init or initializer.Uniform(), ctx, verbose, force_reinit)

    def save_parameters(self, filename):
        """Saves the parameters by structural name ("0.weight"), atomically."""
        params = self._collect_params_with_prefix()
        nd.save(filename, {k: v._reduce() for k, v in params.items()})

    def load_parameters(self, filename, ctx=None, allow_missing=False, ignore_extra=False, cast_dtype=False,
                        dtype_source="current"):
        """Loads what save_parameters wrote (or, by full names, what save_params /
        export wrote). A saved dtype that differs from a parameter's is an error unless
        cast_dtype: then the values are cast to the parameter's dtype (dtype_source
        'current') or the parameter takes the saved dtype ('saved')."""
        loaded = nd.load(filename)
        if not isinstance(loaded, dict):
            raise BrassError("%s holds an unnamed list, not parameters" % filename, 8)
        params = self._collect_params_with_prefix()
        if loaded and not any("." in k for k in loaded) and not any(k in params for k in loaded):
            # Full names (export's arg:/aux:), or MXNet 1.x save_params' names without this
            # block's prefix.
            full = dict(self.collect_params().items())
            loaded = {k.split(":", 1)[-1]: v for k, v in loaded.items()}
            if not any(k in full for k in loaded):
                loaded = {self.prefix + k: v for k, v in loaded.items()}
            _load_into(full, loaded, filename, allow_missing, ignore_extra, ctx, cast_dtype, dtype_source)
            return
        _load_into(params, loaded, filename, allow_missing, ignore_extra, ctx, cast_dtype, dtype_source)

    save_params = save_parameters
    load_params = load_parameters

    def zero_grad(self):
        self.collect_params().zero_grad()

    def cast(self, dtype):
        for child in self._children.values():
            child.cast(dtype)
        for p in self._reg_params.values():
            p.cast(dtype)

    def hybridize(self, active=True, **kwargs):
        for child in self._children.values():
            child.hybridize(active, **kwargs)

    def apply(self, fn):
        """Calls fn on every child (recursively), then on this block; returns self."""
        for child in self._children.values():
            child.apply(fn)
        fn(self)
        return self

    def register_forward_pre_hook(self, hook):
        """hook(block, inputs) runs before each forward; the handle's detach() removes it."""
        return _HookHandle(self.__dict__.setdefault("_pre_hooks", OrderedDict()), hook)

    def register_forward_hook(self, hook):
        """hook(block, inputs, outputs) runs after each forward; the handle's detach() removes it."""
        return _HookHandle(self.__dict__.setdefault("_hooks", OrderedDict()), hook)

    def __call__(self, *args):
        pre, post = self.__dict__.get("_pre_hooks"), self.__dict__.get("_hooks")
        for hook in list(pre.values()) if pre else ():
            hook(self, args)
        out = self._call_impl(*args)
        for hook in list(post.values()) if post else ():
            hook(self, args, out)
        return out

    def _call_impl(self, *args):
        return self.forward(*args)

    def forward(self, *args):
        raise NotImplementedError

    def summary(self, *inputs):
        """Prints each layer that runs in a forward on inputs (containers left out) with its
        output shape and parameter count, then the totals: trainable or not, and parameters
        met more than once (shared). A hybridized network is run imperatively for this."""
        rows = [("Input", _shape_str(inputs), 0, 0, 0)]
        seen, handles = set(), []

        def record(block, _, outputs):
            if any(isinstance(o, Symbol) for o in (outputs if isinstance(outputs, (list, tuple)) else [outputs])):
                return  # shapes being inferred through the graph (deferred initialization)
            total = trainable = shared = 0
            for p in block.params.values():
                size = int(np.prod(p.shape)) if p.shape else 0
                total += size
                trainable += 0 if p.grad_req == "null" else size
                shared += size if id(p) in seen else 0
                seen.add(id(p))
            rows.append(("%s-%d" % (type(block).__name__, len(rows)), _shape_str(outputs), total, trainable, shared))

        def hook(block):
            if not _is_container(block):
                handles.append(block.register_forward_hook(record))

        active = []
        self.apply(lambda b: active.append((b, b._active)) if isinstance(b, HybridBlock) else None)
        try:
            for b, _ in active:
                b._active = False
            self.apply(hook)
            with autograd.pause():
                self(*inputs)
        finally:
            for h in handles:
                h.detach()
            for b, was in active:
                b._active = was
        fmt = "{:>20}  {:>42} {:>15}"
        print("-" * 80)
        print(fmt.format("Layer (type)", "Output Shape", "Param #"))
        print("=" * 80)
        for name, shape, n, _, _ in rows:
            print(fmt.format(name, shape, n))
        total, trainable, shared = (sum(r[i] for r in rows) for i in (2, 3, 4))
        print("=" * 80)
        print("Parameters in forward computation graph, duplicate included")
        print("   Total params: %d" % total)
        print("   Trainable params: %d" % trainable)
        print("   Non-trainable params: %d" % (total - trainable))
        print("Shared params in forward computation graph: %d" % shared)
        print("Unique parameters in model: %d" % (total - shared))
        print("-" * 80)


class HybridBlock(Block):
    """A block written for both arrays and symbols: ``hybrid_forward(F, x, **params)`` with
    F = brass.nd or brass.sym (MXNet 1.x), or ``forward(x)`` using the parameters' data.
    ``hybridize()`` traces hybrid_forward into a symbol at the next call and runs that graph
    from then on: a cached executor per input shapes (planned memory, fused element-wise
    chains), recorded by autograd as one node whose backward is the executor's."""

    def __init__(self, prefix=None, params=None):
        super().__init__(prefix, params)
        self._active = False
        self._flags = {}
        self._cached = None  # (input names, symbol, graph handle, param list)

    def hybridize(self, active=True, **kwargs):
        self._active = active
        self._flags = kwargs
        self._clear_cached()
        super().hybridize(active, **kwargs)

    def _clear_cached(self):
        if self._cached is not None and self._cached[2] is not None and lib is not None:
            lib.brass_graph_free(self._cached[2])
        self._cached = None

    def __del__(self):
        try:
            self._clear_cached()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    def cast(self, dtype):
        self._clear_cached()
        super().cast(dtype)

    def register_child(self, block, name=None):
        if not isinstance(block, HybridBlock):
            raise BrassError("children of a HybridBlock must be HybridBlocks, got %s" % type(block).__name__, 1)
        super().register_child(block, name)
        self._clear_cached()

    # ---- tracing -----------------------------------------------------------------------------
    def _trace(self, nargs):
        names = ["data"] if nargs == 1 else ["data%d" % i for i in range(nargs)]
        inputs = [_sym.var(n) for n in names]
        if self._own_forward():
            out = self.forward(*inputs)  # forward(self, x) style: children trace themselves
        else:
            with self.name_scope():
                out = self._hybrid_call(_sym, *inputs)
        outs = out if isinstance(out, (list, tuple)) else [out]
        flat = []
        for o in outs:
            if not isinstance(o, Symbol):
                raise BrassError("%s.hybrid_forward must return Symbols when traced, got %s"
                                 % (type(self).__name__, type(o).__name__), 1)
            flat.extend(list(o))
        sym = _sym.Group(flat) if len(flat) > 1 else flat[0]
        return names, sym, isinstance(out, (list, tuple))

    def _own_forward(self):
        return type(self).forward is not HybridBlock.forward and not isinstance(self, SymbolBlock)

    def _call_impl(self, *args):
        if self._active and self._own_forward() and args and isinstance(args[0], NDArray):
            # A block written with forward(self, x): traced by calling forward on symbols; if
            # its code needs arrays (parameter data, numpy), it keeps running imperatively.
            if self._cached is None and not self._flags.get("_untraceable"):
                try:
                    self._build_cache(args)
                except (BrassError, TypeError, AttributeError, NotImplementedError, DeferredInitializationError):
                    self._flags["_untraceable"] = True
            if self._cached is not None:
                try:
                    for p in self.collect_params().values():
                        p._check_initialized()
                except DeferredInitializationError:
                    self._infer_param_shapes(args)
                return self._call_cached(args)
        return self.forward(*args)

    def _hybrid_call(self, F, *args):
        ctx = None if F is _sym else args[0].context  # each device's call reads its own copies
        params = {k: (p.var() if F is _sym else p.data(ctx)) for k, p in self._reg_params.items()}
        return self.hybrid_forward(F, *args, **params)

    def _infer_param_shapes(self, args):
        """Deferred initialization: parameter shapes from the data's, through the graph. A
        block inside whose parameters the graph cannot determine (an RNN layer's two
        directions' input weights) and that defines ``_shapes_from_input(shape)`` gets them
        from the shape of its traced input."""
        probes, handles = [], []
        self.apply(lambda b: handles.append(b.register_forward_pre_hook(
            lambda blk, inputs: probes.append((blk, inputs[0])))) if b is not self and hasattr(
                b, "_shapes_from_input") else None)
        try:
            names, sym, _ = self._trace(len(args))
        finally:
            for h in handles:
                h.detach()
        given = {n: a.shape for n, a in zip(names, args)}
        for _ in range(2):
            arg_shapes, _, aux_shapes = sym.infer_shape_partial(**given)
            shapes = dict(zip(sym.list_arguments(), arg_shapes))
            shapes.update(zip(sym.list_auxiliary_states(), aux_shapes))
            for p in self.collect_params().values():
                s = shapes.get(p.name)
                if s and all(d > 0 for d in s):
                    p.shape = s
            pending = [(b, x) for b, x in probes if isinstance(x, Symbol) and
                       not all(_known(p.shape) for p in b.collect_params().values())]
            if not pending:
                break
            for b, x in pending:
                _, out, _ = x.infer_shape_partial(**{n: s for n, s in given.items() if n in x.list_arguments()})
                if out and _known(out[0]):
                    b._shapes_from_input(out[0])
        for p in self.collect_params().values():
            p._finish_deferred_init()

    def _build_cache(self, args):
        names, sym, multi = self._trace(len(args))
        params = self.collect_params()
        inputs = sym.list_inputs()
        unknown = [n for n in inputs if n not in names and n not in params]
        if unknown:
            raise BrassError("%s: the traced graph has inputs %s that are neither data nor parameters"
                             % (type(self).__name__, unknown), 1)
        h = ffi.new("brass_graph_t*")
        check(lib.brass_graph_create(sym.handle, h))
        order = [("data", names.index(n)) if n in names else ("param", params[n]) for n in inputs]
        self._cached = (names, sym, h[0], order, multi, len(sym))

    def _call_cached(self, args):
        if self._cached is not None and len(self._cached[0]) != len(args):
            self._clear_cached()  # called with another number of inputs (a loss's sample_weight): traced again
        if self._cached is None:
            self._build_cache(args)
        names, sym, handle, order, multi, nout = self._cached
        ctx = args[0].context
        arrays = [args[i] if kind == "data" else i.data(ctx) for kind, i in order]
        h = ffi.new("brass_ndarray_t[]", [a.handle for a in arrays] or 1)
        num = ffi.new("int32_t*", nout)
        out = ffi.new("brass_ndarray_t[]", nout)
        check(lib.brass_graph_run(handle, len(arrays), h, num, out))
        res = [NDArray(out[i]) for i in range(num[0])]
        return res if multi or len(res) > 1 else res[0]

    def _num_executors(self):
        """How many executors the cached graph keeps (0 before the first hybridized call)."""
        if self._cached is None:
            return 0
        n = ffi.new("int32_t*")
        check(lib.brass_graph_num_executors(self._cached[2], n))
        return n[0]

    def forward(self, x, *args):
        inputs = (x,) + args
        if isinstance(x, Symbol):
            with self.name_scope():
                return self._hybrid_call(_sym, *inputs)
        for k, a in enumerate(inputs):
            if not isinstance(a, NDArray):
                raise BrassError("%s: input %d is a %s, expected an NDArray" % (type(self).__name__, k, type(a).__name__), 1)
        try:
            for p in self.collect_params().values():
                p._check_initialized()
        except DeferredInitializationError:
            self._infer_param_shapes(inputs)
        if self._active:
            return self._call_cached(inputs)
        return self._hybrid_call(nd, *inputs)

    def hybrid_forward(self, F, x, *args, **kwargs):
        raise NotImplementedError

    def infer_shape(self, *args):
        self._infer_param_shapes(args)

    def export(self, path, epoch=0, remove_amp_cast=True):
        """Writes ``path-symbol.json`` and ``path-%04d.params`` (``arg:``/``aux:`` names), as
        MXNet's export. The block must have been hybridized and run once."""
        if self._cached is None:
            raise BrassError("export: call hybridize() and run the block once before exporting", 1)
        sym = self._cached[1]
        sym.save("%s-symbol.json" % path)
        params = self.collect_params()
        arg_names, aux_names = set(sym.list_arguments()), set(sym.list_auxiliary_states())
        out = {}
        for name, p in params.items():
            if name in arg_names:
                out["arg:" + name] = p._reduce()
            elif name in aux_names:
                out["aux:" + name] = p._reduce()
        nd.save("%s-%04d.params" % (path, epoch), out)
        return "%s-symbol.json" % path, "%s-%04d.params" % (path, epoch)


class SymbolBlock(HybridBlock):
    """A block that runs a symbol: its non-input arguments and auxiliary states become
    parameters (``SymbolBlock.imports`` loads an exported model)."""

    def __init__(self, outputs, inputs, params=None):
        super().__init__(prefix="", params=None)
        if isinstance(outputs, (list, tuple)):
            outputs = _sym.Group(list(outputs)) if len(outputs) > 1 else outputs[0]
        inputs = inputs if isinstance(inputs, (list, tuple)) else [inputs]
        self._input_names = [i.name if isinstance(i, Symbol) else i for i in inputs]
        self._symbol = outputs
        self._params = ParameterDict("", params)  # finds shared parameters by full name
        aux = set(outputs.list_auxiliary_states())
        for name in outputs.list_inputs():
            if name in self._input_names:
                continue
            p = self._params.get(name, allow_deferred_init=True, grad_req="null" if name in aux else "write")
            self._reg_params[name] = p
        self._active = True

    def _trace(self, nargs):
        if nargs != len(self._input_names):
            raise BrassError("SymbolBlock: %d inputs given, the symbol takes %s" % (nargs, self._input_names), 1)
        return list(self._input_names), self._symbol, len(self._symbol) > 1

    def hybridize(self, active=True, **kwargs):
        self._flags = kwargs  # always runs its graph

    def forward(self, x, *args):
        inputs = (x,) + args
        if isinstance(x, Symbol):
            raise BrassError("SymbolBlock: calling on symbols is not supported; use its symbol", 10)
        try:
            for p in self.collect_params().values():
                p._check_initialized()
        except DeferredInitializationError:
            self._infer_param_shapes(inputs)
        return self._call_cached(inputs)

    @staticmethod
    def imports(symbol_file, input_names, param_file=None, ctx=None):
        """A block from an exported ``-symbol.json`` (and ``.params``)."""
        sym = _sym.load(symbol_file)
        input_names = [input_names] if isinstance(input_names, str) else list(input_names)
        block = SymbolBlock(sym, input_names)
        if param_file is not None:
            loaded = {k.split(":", 1)[-1]: v for k, v in nd.load(param_file).items()}
            _load_into(dict(block.collect_params().items()), loaded, param_file, False, False,
                       ctx or current_context(), cast_dtype=True, dtype_source="saved")
        return block

