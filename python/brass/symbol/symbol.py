"""Symbols: declarative graphs (MXNet 1.x ``mx.sym``).

>>> import brass as mx
>>> x = mx.sym.var('x')
>>> y = mx.sym.dot(x, name='d')  # inputs not given become variables
>>> y.list_arguments()
['x', 'd_rhs']
>>> y.infer_shape(x=(2, 3), d_rhs=(3, 4))[1]
[(2, 4)]
"""

import numpy as np

from .. import attribute, base, name as _name
from ..base import BrassError, atomic_write, check, ffi, lib
from ..context import current_context
from ..ndarray import _internal as _nd_internal

__all__ = ["Symbol", "var", "Variable", "Group", "load", "load_json", "zeros", "ones"]

_LIST_ARGS, _LIST_OUTPUTS, _LIST_AUX, _LIST_INPUTS = 0, 1, 2, 3


def _strings(n, arr):
    return [ffi.string(arr[i]).decode() for i in range(n)]


def _cstrs(items):
    keep = [ffi.new("char[]", s.encode()) for s in items]
    return keep, ffi.new("char*[]", keep) if keep else ffi.NULL


class Symbol:
    """A list of graph outputs. Made by ``var``, by calling ops on symbols and by arithmetic."""

    __slots__ = ("_h", "__weakref__")

    def __init__(self, handle):
        self._h = handle

    def __del__(self):
        h = getattr(self, "_h", None)
        if h is not None and lib is not None:
            lib.brass_symbol_free(h)
            self._h = None

    @property
    def handle(self):
        return self._h

    # ---- structure -------------------------------------------------------------------------
    def _list(self, which):
        n = ffi.new("int32_t*")
        names = ffi.new("const char***")
        check(lib.brass_symbol_list(self._h, which, n, names))
        return _strings(n[0], names[0])

    def list_arguments(self):
        """Names of the arguments (inputs and weights), in graph order."""
        return self._list(_LIST_ARGS)

    def list_outputs(self):
        """Names of the outputs (``fc1_output``; a variable by its name)."""
        return self._list(_LIST_OUTPUTS)

    def list_auxiliary_states(self):
        """Names of the auxiliary states (inputs some op mutates: BatchNorm's moving stats)."""
        return self._list(_LIST_AUX)

    def list_inputs(self):
        """Names of every variable, arguments and auxiliary states, in graph order."""
        return self._list(_LIST_INPUTS)

    def __len__(self):
        n = ffi.new("int32_t*")
        check(lib.brass_symbol_num_outputs(self._h, n))
        return n[0]

    num_outputs = property(__len__)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __getitem__(self, index):
        if isinstance(index, str):
            names = self.list_outputs()
            matches = [i for i, n in enumerate(names) if n == index]
            if not matches:
                raise ValueError("cannot find output '%s' among %s" % (index, names))
            if len(matches) > 1:
                raise ValueError("there are several outputs named '%s'" % index)
            index = matches[0]
        if isinstance(index, slice):
            return Group([self[i] for i in range(len(self))[index]])
        if not isinstance(index, (int, np.integer)):
            raise TypeError("symbol index must be an int, a slice or an output name")
        n = len(self)
        if index < 0:
            index += n
        out = ffi.new("brass_symbol_t*")
        check(lib.brass_symbol_get_output(self._h, int(index), out))
        return Symbol(out[0])

    def _related(self, which):
        out = ffi.new("brass_symbol_t*")
        check(lib.brass_symbol_related(self._h, which, out))
        return Symbol(out[0])

    def get_internals(self):
        """Every visible output of every node as one symbol (index it by name)."""
        return self._related(0)

    def get_children(self):
        """The inputs of this symbol's output nodes, or None for a variable."""
        s = self._related(1)
        return s if len(s) else None

    @property
    def name(self):
        """The node's name for a one-output symbol; None for a group."""
        p = ffi.new("const char**")
        found = ffi.new("int32_t*")
        check(lib.brass_symbol_name(self._h, p, found))
        return ffi.string(p[0]).decode() if found[0] else None

    def __repr__(self):
        n = self.name
        if n is None:
            return "<Symbol group [%s]>" % ", ".join(s.name for s in self)
        return "<Symbol %s>" % n

    def __copy__(self):
        out = ffi.new("brass_symbol_t*")
        check(lib.brass_symbol_copy(self._h, out))
        return Symbol(out[0])

    def __deepcopy__(self, memo):
        return self.__copy__()

    def __call__(self, *args, **kwargs):
        """A copy with inputs replaced: positional symbols for the arguments in order, or by
        name (MXNet's composition: ``net2 = net(data=other)``)."""
        kwargs.pop("name", None)
        names = self.list_arguments()
        if len(args) > len(names):
            raise BrassError("compose: %d inputs for %d arguments" % (len(args), len(names)), 1)
        pairs = list(zip(names, args)) + list(kwargs.items())
        for k, v in pairs:
            if not isinstance(v, Symbol):
                raise TypeError("compose: '%s' must be a Symbol, got %s" % (k, type(v).__name__))
        keep, cn = _cstrs([k for k, _ in pairs])
        arr = ffi.new("brass_symbol_t[]", [v._h for _, v in pairs] or 1)
        out = ffi.new("brass_symbol_t*")
        check(lib.brass_symbol_substitute(self._h, len(pairs), cn, arr, out))
        return Symbol(out[0])

    def __reduce__(self):
        return (load_json, (self.tojson(),))

    # ---- attributes ------------------------------------------------------------------------
    def attr(self, key):
        """The attribute ``key`` of this symbol's node (None when absent)."""
        p = ffi.new("const char**")
        found = ffi.new("int32_t*")
        check(lib.brass_symbol_get_attr(self._h, key.encode(), p, found))
        return ffi.string(p[0]).decode() if found[0] else None

    def list_attr(self, recursive=False):
        """This node's attributes as a dict (recursive: every node's, keys ``name$key``)."""
        n = ffi.new("int32_t*")
        kv = ffi.new("const char***")
        check(lib.brass_symbol_list_attr(self._h, 1 if recursive else 0, n, kv))
        flat = _strings(2 * n[0], kv[0])
        return dict(zip(flat[::2], flat[1::2]))

    def attr_dict(self):
        """{node name: {key: value}} for every node with attributes."""
        out = {}
        for k, v in self.list_attr(recursive=True).items():
            node, key = k.split("$", 1)
            out.setdefault(node, {})[key] = v
        return out

    def _set_attr(self, **kwargs):
        for k, v in kwargs.items():
            if not isinstance(v, str):
                raise ValueError("attribute values must be strings, got %r for %s" % (v, k))
            check(lib.brass_symbol_set_attr(self._h, k.encode(), v.encode()))

    # ---- inference -------------------------------------------------------------------------
    def _known_shapes(self, args, kwargs):
        known = {}
        if args:
            names = self.list_arguments()
            if len(args) > len(names):
                raise BrassError("infer_shape: %d positional shapes for %d arguments" % (len(args), len(names)), 1)
            for n, s in zip(names, args):
                if s is not None:
                    known[n] = s
        for k, v in kwargs.items():
            if v is not None:
                known[k] = v
        return known

    def _infer_shape(self, partial, args, kwargs):
        known = self._known_shapes(args, kwargs)
        keep, names = _cstrs(list(known))
        shapes = [tuple(int(d) for d in (s if isinstance(s, (tuple, list)) else (s,))) for s in known.values()]
        ndims = ffi.new("int32_t[]", [len(s) for s in shapes] or [0])
        dims = ffi.new("int64_t[]", [d for s in shapes for d in s] or [0])
        complete = ffi.new("int32_t*")
        counts = ffi.new("int32_t[3]")
        out_nd = ffi.new("const int32_t*[3]")
        out_d = ffi.new("const int64_t*[3]")
        check(lib.brass_symbol_infer_shape(self._h, len(shapes), names, ndims, dims, complete, counts, out_nd, out_d))
        groups = []
        for g in range(3):
            lst, at = [], 0
            for k in range(counts[g]):
                nd = out_nd[g][k]
                if nd < 0:
                    lst.append(None if not partial else ())
                    continue
                # MXNet reports unknown extents as 0.
                lst.append(tuple(max(int(out_d[g][at + j]), 0) for j in range(nd)))
                at += nd
            groups.append(lst)
        if not complete[0] and not partial:
            return None, None, None
        return tuple(groups)

    def infer_shape(self, *args, **kwargs):
        """(arg_shapes, out_shapes, aux_shapes) from some known shapes (by position or name);
        (None, None, None) when they do not determine every shape."""
        return self._infer_shape(False, args, kwargs)

    def infer_shape_partial(self, *args, **kwargs):
        """Like infer_shape, but reports what is known: () for an unknown rank, 0 for an
        unknown extent."""
        return self._infer_shape(True, args, kwargs)

    def infer_type(self, *args, **kwargs):
        """(arg_types, out_types, aux_types) as numpy types from some known dtypes; (None, None,
        None) when they do not determine every dtype."""
        known = {}
        if args:
            for n, t in zip(self.list_arguments(), args):
                if t is not None:
                    known[n] = t
        known.update({k: v for k, v in kwargs.items() if v is not None})
        keep, names = _cstrs(list(known))
        types = ffi.new("int32_t[]", [base.dtype_code(t) for t in known.values()] or [0])
        complete = ffi.new("int32_t*")
        counts = ffi.new("int32_t[3]")
        out_t = ffi.new("const int32_t*[3]")
        check(lib.brass_symbol_infer_type(self._h, len(known), names, types, complete, counts, out_t))
        if not complete[0]:
            return None, None, None
        return tuple([base.dtype_np(out_t[g][k]).type for k in range(counts[g])] for g in range(3))

    # ---- files -----------------------------------------------------------------------------
    def tojson(self):
        """MXNet's symbol JSON."""
        p = ffi.new("const char**")
        check(lib.brass_symbol_to_json(self._h, p))
        return ffi.string(p[0]).decode()

    def save(self, fname, remove_amp_cast=True):
        """Writes the JSON to fname atomically (a temporary file renamed into place)."""
        atomic_write(fname, self.tojson())

    # ---- execution -------------------------------------------------------------------------
    def bind(self, ctx, args, args_grad=None, grad_req="write", aux_states=None, group2ctx=None,
             shared_exec=None):
        """Binds arrays (lists in list_arguments order, or dicts by name) into an Executor."""
        from ..executor import Executor
        return Executor._bind(self, ctx, args, args_grad, grad_req, aux_states)

    def simple_bind(self, ctx, grad_req="write", type_dict=None, stype_dict=None, group2ctx=None,
                    shared_arg_names=None, shared_exec=None, shared_buffer=None, **kwargs):
        """Allocates the arguments (zeros), their gradients and the auxiliary states from
        shapes given by name, and binds them."""
        from ..executor import Executor
        return Executor._simple_bind(self, ctx, grad_req, type_dict, shared_exec, kwargs)

    def eval(self, ctx=None, **kwargs):
        """Runs the graph forward on the given arrays (by name); returns the outputs."""
        ctx = ctx or current_context()
        exe = self.bind(ctx, kwargs, grad_req="null")
        exe.forward(is_train=False)
        return exe.outputs

    # ---- arithmetic (MXNet: element-wise ops without broadcasting) -------------------------
    def _binary(self, other, op, scalar_op, reverse=False):
        if isinstance(other, Symbol):
            return _make(op, [other, self] if reverse else [self, other], {})
        if isinstance(other, base.numeric_types):
            return _make(scalar_op, [self], {"scalar": float(other)})
        return NotImplemented

    def __add__(self, o): return self._binary(o, "elemwise_add", "_plus_scalar")
    def __radd__(self, o): return self._binary(o, "elemwise_add", "_plus_scalar", True)
    def __sub__(self, o): return self._binary(o, "elemwise_sub", "_minus_scalar")
    def __rsub__(self, o): return self._binary(o, "elemwise_sub", "_rminus_scalar", True)
    def __mul__(self, o): return self._binary(o, "elemwise_mul", "_mul_scalar")
    def __rmul__(self, o): return self._binary(o, "elemwise_mul", "_mul_scalar", True)
    def __truediv__(self, o): return self._binary(o, "elemwise_div", "_div_scalar")
    def __rtruediv__(self, o): return self._binary(o, "elemwise_div", "_rdiv_scalar", True)
    def __mod__(self, o): return self._binary(o, "_mod", "_mod_scalar")
    def __rmod__(self, o): return self._binary(o, "_mod", "_rmod_scalar", True)
    def __pow__(self, o): return self._binary(o, "_power", "_power_scalar")
    def __rpow__(self, o): return self._binary(o, "_power", "_rpower_scalar", True)
    def __neg__(self): return _make("_mul_scalar", [self], {"scalar": -1.0})
    def __abs__(self): return _make("abs", [self], {})
    def __eq__(self, o): return self._binary(o, "_equal", "_equal_scalar")
    def __ne__(self, o): return self._binary(o, "_not_equal", "_not_equal_scalar")
    def __gt__(self, o): return self._binary(o, "_greater", "_greater_scalar")
    def __ge__(self, o): return self._binary(o, "_greater_equal", "_greater_equal_scalar")
    def __lt__(self, o): return self._binary(o, "_lesser", "_lesser_scalar")
    def __le__(self, o): return self._binary(o, "_lesser_equal", "_lesser_equal_scalar")
    __hash__ = object.__hash__

    def __bool__(self):
        raise NotImplementedError("a Symbol has no truth value; compare with 'is None' instead")


def _make(op, inputs, params, name=None, attr=None, kw_inputs=None):
    """Applies a registered op to symbols: the one place symbols are composed."""
    meta = _nd_internal._meta.get(op)
    if meta is None:
        h = _nd_internal.op_handle(op)  # an alias
        canonical = next(n for n, m in _nd_internal._meta.items() if m[0] == h)
        meta = _nd_internal._meta[canonical]
    handle, nin, input_names, param_names = meta
    kw_inputs = kw_inputs or {}
    if nin < 0 and "num_args" in param_names and "num_args" not in params:
        params = dict(params, num_args=len(inputs) + len(kw_inputs))
    hint = _canonical_name(op).lower()
    name = _name.current().get(name, hint)
    attrs = attribute.current().get(attr)
    keys = list(params) + list(attrs)
    vals = [_nd_internal._to_str(v) for v in params.values()] + [str(v) for v in attrs.values()]
    keep_k, ck = _cstrs(keys)
    keep_v, cv = _cstrs(vals)
    args = ffi.new("brass_symbol_t[]", [s._h for s in inputs] or 1)
    kw_names = list(kw_inputs)
    keep_n, cn = _cstrs(kw_names)
    kw_args = ffi.new("brass_symbol_t[]", [kw_inputs[k]._h for k in kw_names] or 1)
    out = ffi.new("brass_symbol_t*")
    check(lib.brass_symbol_compose(handle, name.encode(), len(keys), ck, cv, len(inputs), args,
                                   len(kw_names), cn, kw_args, out))
    return Symbol(out[0])


_CANONICAL = {}


def _canonical_name(op):
    c = _CANONICAL.get(op)
    if c is None:
        h = _nd_internal.op_handle(op)
        c = _CANONICAL[op] = next(n for n, m in _nd_internal._meta.items() if m[0] == h)
    return c


def _make_function(opname, doc):
    def fn(*args, name=None, attr=None, **kwargs):
        inputs, extra = [], []
        for a in args:
            if isinstance(a, Symbol) and not extra:
                inputs.append(a)
            elif isinstance(a, (list, tuple)) and a and all(isinstance(s, Symbol) for s in a) and not extra:
                inputs.extend(a)
            elif isinstance(a, Symbol):
                raise BrassError("%s: a Symbol input after the parameters given by position" % opname, 1)
            else:
                extra.append(a)
        if extra:  # parameters by position, in the operator's order (as MXNet's functions)
            free = [p for p in _nd_internal._meta[opname][3] if p not in kwargs]
            if len(extra) > len(free):
                raise BrassError("%s: too many positional arguments (parameters: %s)"
                                 % (opname, _nd_internal._meta[opname][3]), 1)
            kwargs.update(zip(free, extra))
        kw_inputs = {k: v for k, v in kwargs.items() if isinstance(v, Symbol)}
        params = {k: v for k, v in kwargs.items() if not isinstance(v, Symbol) and v is not None}
        return _make(opname, inputs, params, name=name, attr=attr, kw_inputs=kw_inputs)

    fn.__name__ = opname
    fn.__qualname__ = opname
    fn.__doc__ = doc
    return fn


def var(name, attr=None, shape=None, lr_mult=None, wd_mult=None, dtype=None, init=None, stype=None, **kwargs):
    """A variable: an input or a parameter of the graph, with optional hints."""
    if not isinstance(name, str):
        raise TypeError("Variable: the name must be a string")
    attrs = attribute.current().get(attr)
    if shape is not None:
        attrs["__shape__"] = str(tuple(shape))
    if lr_mult is not None:
        attrs["__lr_mult__"] = str(lr_mult)
    if wd_mult is not None:
        attrs["__wd_mult__"] = str(wd_mult)
    if dtype is not None:
        attrs["__dtype__"] = str(base.dtype_code(dtype))
    if init is not None:
        attrs["__init__"] = init if isinstance(init, str) else init.dumps()
    if stype is not None:
        attrs["__storage_type__"] = str({"default": 0, "row_sparse": 1, "csr": 2}.get(stype, stype))
    for k, v in kwargs.items():
        if k.startswith("__") and k.endswith("__"):
            attrs[k] = str(v)
        else:
            raise ValueError("Variable: attribute %s must be hidden (__%s__)" % (k, k))
    keep_k, ck = _cstrs(list(attrs))
    keep_v, cv = _cstrs([str(v) for v in attrs.values()])
    out = ffi.new("brass_symbol_t*")
    check(lib.brass_symbol_variable(name.encode(), len(attrs), ck, cv, out))
    return Symbol(out[0])


Variable = var


def Group(symbols):
    """The outputs of several symbols as one symbol."""
    symbols = list(symbols)
    if not symbols or not all(isinstance(s, Symbol) for s in symbols):
        raise TypeError("Group: expected a non-empty list of Symbols")
    arr = ffi.new("brass_symbol_t[]", [s._h for s in symbols])
    out = ffi.new("brass_symbol_t*")
    check(lib.brass_symbol_group(len(symbols), arr, out))
    return Symbol(out[0])


def load_json(json_str):
    """A symbol from MXNet's JSON text (any MXNet version from 0.8)."""
    if not isinstance(json_str, str):
        raise TypeError("load_json: expected a str")
    out = ffi.new("brass_symbol_t*")
    check(lib.brass_symbol_from_json(json_str.encode(), out))
    return Symbol(out[0])


def load(fname):
    """A symbol from a JSON file (``model-symbol.json``)."""
    with open(fname) as f:
        return load_json(f.read())


def zeros(shape, dtype=None, **kwargs):
    return _make("_zeros", [], dict(shape=shape, dtype=base.dtype_name(dtype) if dtype else "float32"), **kwargs)


def ones(shape, dtype=None, **kwargs):
    return _make("_ones", [], dict(shape=shape, dtype=base.dtype_name(dtype) if dtype else "float32"), **kwargs)


def _extremum(name, left, right, pick):
    if isinstance(left, Symbol) and isinstance(right, Symbol):
        return _make("_" + name, [left, right], {})
    if isinstance(left, Symbol) or isinstance(right, Symbol):
        sym_, scalar = (left, right) if isinstance(left, Symbol) else (right, left)
        return _make("_%s_scalar" % name, [sym_], dict(scalar=float(scalar)))
    return pick(left, right)


def maximum(left, right):
    """Elementwise maximum of symbols and/or numbers (MXNet 1.x ``sym.maximum``)."""
    return _extremum("maximum", left, right, max)


def minimum(left, right):
    """Elementwise minimum of symbols and/or numbers (MXNet 1.x ``sym.minimum``)."""
    return _extremum("minimum", left, right, min)


def generate(namespace):
    """A function per registered op (and alias) in `namespace`, as for brass.nd."""
    for name, (h, nin, input_names, param_names) in list(_nd_internal._meta.items()):
        fn = _make_function(name, _nd_internal._ops[name].__doc__)
        namespace.setdefault(name, fn)
    for alias, h in list(_nd_internal._handles.items()):
        if alias in namespace or not alias.isidentifier():
            continue
        canonical = next((n for n, m in _nd_internal._meta.items() if m[0] == h), None)
        if canonical:
            namespace[alias] = namespace[canonical]
    # MXNet's fluent methods: s.sum(axis=1) == sym.sum(s, axis=1), as on NDArray.
    for meth, opname in _nd_internal._FLUENT.items():
        fn = namespace.get(opname)
        if fn is None or hasattr(Symbol, meth):
            continue
        setattr(Symbol, meth, lambda self, *args, __fn=fn, **kwargs: __fn(self, *args, **kwargs))
    setattr(Symbol, "reshape", lambda self, *args, **kwargs: namespace["Reshape"](
        self, shape=args[0] if len(args) == 1 else args, **kwargs) if args else namespace["Reshape"](self, **kwargs))


