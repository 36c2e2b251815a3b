"""NDArray: an asynchronous n-dimensional array on a device, with MXNet 1.x semantics."""
import threading

import numpy as np

from .. import base
from ..base import BrassError, check, ffi, lib
from ..context import Context, current_context

__all__ = ["NDArray", "array", "empty", "zeros", "ones", "full", "arange", "waitall",
           "from_numpy", "from_dlpack", "concatenate", "moveaxis"]

_tls = threading.local()
_MAX_NDIM = 32


def _bufs():
    """Per-thread scratch for C calls (cffi releases the GIL during calls)."""
    b = getattr(_tls, "b", None)
    if b is None:
        b = _tls.b = (
            ffi.new("brass_ndarray_t[64]"),
            ffi.new("brass_ndarray_t[16]"),
            ffi.new("int32_t*"),
            ffi.new("int64_t[32]"),
            ffi.new("int32_t[4]"),
        )
    return b


class NDArray:
    """An n-dimensional array. Work on it is asynchronous: ``asnumpy()`` waits for it.

    >>> import brass as mx
    >>> a = mx.nd.array([[1, 2], [3, 4]])
    >>> (a * 2 + 1).asnumpy().tolist()
    [[3.0, 5.0], [7.0, 9.0]]
    """

    __slots__ = ("_h", "_meta", "__weakref__")
    __array_priority__ = 1000.0

    def __init__(self, handle):
        self._h = handle
        self._meta = None

    def __del__(self):
        h = self._h
        if h is not None:
            self._h = None
            lib.brass_ndarray_free(h)

    # ---- metadata ---------------------------------------------------------------------
    def _info(self):
        m = self._meta
        if m is None:
            _, _, _, shp, ints = _bufs()
            check(lib.brass_ndarray_info(self._h, ints, shp, ints + 1, ints + 2, ints + 3))
            m = self._meta = (tuple(shp[i] for i in range(ints[0])), ints[1], ints[2], ints[3])
        return m

    @property
    def shape(self):
        """The shape, a tuple of ints."""
        return self._info()[0]

    @property
    def dtype(self):
        """The element type as a numpy dtype (bfloat16 through ml_dtypes)."""
        return base.dtype_np(self._info()[1]).type

    @property
    def context(self):
        """The device the array lives on."""
        m = self._info()
        return Context(m[2], m[3])

    ctx = context

    @property
    def size(self):
        s = 1
        for d in self.shape:
            s *= d
        return s

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def handle(self):
        return self._h

    @property
    def stype(self):
        return "default"

    def __len__(self):
        shp = self.shape
        if not shp:
            raise TypeError("len() of a 0-d array")
        return shp[0]

    def __repr__(self):
        shape_info = "x".join("%d" % x for x in self.shape)
        return "\n%s\n<NDArray %s @%s>" % (str(self.asnumpy()), shape_info, self.context)

    # ---- host transfer ---------------------------------------------------------------
    def asnumpy(self):
        """A numpy copy of the array (waits for pending work and raises its errors)."""
        m = self._info()
        out = np.empty(m[0], dtype=base.dtype_np(m[1]))
        check(lib.brass_ndarray_copy_to(self._h, ffi.from_buffer(out, require_writable=True), out.nbytes))
        return out

    def asscalar(self):
        """The value of a one-element array as a Python scalar."""
        if self.size != 1:
            raise ValueError("The current array is not a scalar")
        return self.asnumpy().reshape(()).item() if self.ndim else self.asnumpy().item()

    def item(self):
        return self.asscalar()

    def __array__(self, dtype=None, copy=None):
        a = self.asnumpy()
        return a.astype(dtype) if dtype is not None else a

    def _sync_copyfrom(self, source):
        src = np.ascontiguousarray(source, dtype=base.dtype_np(self._info()[1]))
        if src.shape != self.shape:
            if src.size == self.size:
                src = src.reshape(self.shape)
            else:
                raise ValueError("array shape %s does not match %s" % (src.shape, self.shape))
        check(lib.brass_ndarray_copy_from(self._h, ffi.from_buffer(src), src.nbytes))

    def wait_to_read(self):
        """Blocks until pending writes to this array are done; raises their errors."""
        check(lib.brass_ndarray_wait_to_read(self._h))

    def wait_to_write(self):
        check(lib.brass_ndarray_wait_to_write(self._h))

    def __bool__(self):
        n = self.size
        if n == 0:
            raise ValueError("The truth value of an empty array is ambiguous")
        if n > 1:
            raise ValueError("The truth value of an NDArray with multiple elements is ambiguous.")
        return bool(self.asscalar())

    def __float__(self):
        return float(self.asscalar())

    def __int__(self):
        return int(self.asscalar())

    def __index__(self):
        if not np.issubdtype(self.dtype, np.integer) or self.size != 1:
            raise TypeError("only integer scalar arrays can be converted to a scalar index")
        return int(self.asscalar())

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __getstate__(self):
        return {"data": self.asnumpy(), "ctx": self.context}

    def __setstate__(self, state):
        other = array(state["data"], ctx=Context("cpu", 0), dtype=state["data"].dtype)
        self._h, other._h = other._h, None
        self._meta = None

    # ---- views and copies ------------------------------------------------------------
    def _view(self, handle_setter):
        out = _bufs()[1]
        check(handle_setter(out))
        return NDArray(out[0])

    def reshape(self, *shape, **kwargs):
        """A view with another shape; MXNet's special values 0, -1, -2, -3, -4 work.

        >>> import brass as mx
        >>> mx.nd.zeros((2, 3, 4)).reshape(-1, 0).shape
        (6, 4)
        """
        if len(shape) == 1 and isinstance(shape[0], (list, tuple)):
            shape = tuple(shape[0])
        if "shape" in kwargs:
            shape = tuple(kwargs.pop("shape"))
        reverse = kwargs.pop("reverse", False)
        if kwargs:
            raise TypeError("reshape: unexpected arguments %s" % list(kwargs))
        target = infer_reshape(self.shape, shape, reverse)
        return self._reshape_view(target)

    def _reshape_view(self, target):
        n = len(target)
        shp = ffi.new("int64_t[]", list(target)) if n else ffi.NULL
        return self._view(lambda out: lib.brass_ndarray_reshape(self._h, shp, n, out))

    def reshape_like(self, other):
        return self._reshape_view(other.shape)

    def _slice(self, begin, end):
        return self._view(lambda out: lib.brass_ndarray_slice(self._h, begin, end, out))

    def _at(self, i):
        shp = self.shape
        if not shp:
            raise IndexError("too many indices for a 0-d array")
        n = shp[0]
        if i < -n or i >= n:
            raise IndexError("index %d is out of bounds for axis 0 with size %d" % (i, n))
        if i < 0:
            i += n
        v = self._slice(i, i + 1)
        # MXNet 1.x: integer indexing of a 1-D array keeps shape (1,)
        return v if len(shp) == 1 else v._reshape_view(shp[1:])

    def copy(self):
        """A deep copy on the same device."""
        return _op("_copy")(self)

    def copyto(self, other):
        """Copies into another NDArray (returns it) or onto a Context (returns a new array)."""
        if isinstance(other, NDArray):
            if other._h == self._h:
                return other
            if other.shape != self.shape:
                raise BrassError("copyto: shape mismatch, source %s destination %s"
                                 % (self.shape, other.shape))
            if other.context != self.context:
                other._sync_copyfrom(self.asnumpy())
                return other
            return _op("_copy")(self, out=other) if other.dtype == self.dtype else \
                _op("Cast")(self, dtype=base.dtype_name(other.dtype), out=other)
        if isinstance(other, Context):
            if other == self.context:
                return self.copy()
            return array(self.asnumpy(), ctx=other, dtype=self.dtype)
        raise TypeError("copyto does not support type " + str(type(other)))

    def as_in_context(self, context):
        """This array if already on `context`, else a copy there."""
        if self.context == context:
            return self
        return self.copyto(context)

    as_in_ctx = as_in_context

    def astype(self, dtype, copy=True):
        """A copy converted to `dtype` (this array when copy=False and the dtype matches)."""
        if not copy and np.dtype(self.dtype) == base.dtype_np(base.dtype_code(dtype)):
            return self
        return _op("Cast")(self, dtype=base.dtype_name(dtype))

    # ---- autograd ----------------------------------------------------------------------
    def attach_grad(self, grad_req="write", stype=None):
        """Allocates a gradient array (zeros) and marks this array as a variable for autograd."""
        from .. import autograd

        grad = zeros(self.shape, ctx=self.context, dtype=self.dtype)
        autograd.mark_variables([self], [grad], grad_req)

    @property
    def grad(self):
        """The gradient array attached by attach_grad() (None when there is none)."""
        out = _bufs()[1]
        check(lib.brass_ndarray_get_grad(self._h, out))
        return NDArray(out[0]) if out[0] != ffi.NULL else None

    @property
    def _fresh_grad(self):
        """Whether a backward has written this variable's gradient since the flag was last
        cleared (False for an array that is not a variable)."""
        out = ffi.new("int32_t*")
        check(lib.brass_ndarray_get_grad_state(self._h, out))
        return bool(out[0])

    @_fresh_grad.setter
    def _fresh_grad(self, state):
        check(lib.brass_ndarray_set_grad_state(self._h, 1 if state else 0))

    def backward(self, out_grad=None, retain_graph=False, train_mode=True):
        """Computes the gradient of this array with respect to the marked variables."""
        from .. import autograd

        autograd.backward([self], None if out_grad is None else [out_grad], retain_graph, train_mode)

    def detach(self):
        """The same values, outside any recorded graph (gradients stop here)."""
        return self._view(lambda out: lib.brass_ndarray_detach(self._h, out))

    @property
    def T(self):
        """The transpose (axes reversed)."""
        return _op("transpose")(self)

    def __dlpack__(self, stream=None, **kwargs):
        """A DLPack capsule sharing this array's memory (waits for pending work first)."""
        from .dlpack import as_numpy_view
        return as_numpy_view(self).__dlpack__(stream=stream, **kwargs)

    def __dlpack_device__(self):
        return (1, 0) if self.context.device_typeid != 2 else (2, self.context.device_id)

    # ---- indexing --------------------------------------------------------------------
    def __getitem__(self, key):
        from .indexing import getitem
        return getitem(self, key)

    def __setitem__(self, key, value):
        from .indexing import setitem
        setitem(self, key, value)

    # ---- arithmetic ------------------------------------------------------------------
    def __add__(self, other):
        return _binary(self, other, "broadcast_add", "_plus_scalar", None)

    __radd__ = __add__

    def __sub__(self, other):
        return _binary(self, other, "broadcast_sub", "_minus_scalar", None)

    def __rsub__(self, other):
        return _binary(self, other, None, "_rminus_scalar", None)

    def __mul__(self, other):
        return _binary(self, other, "broadcast_mul", "_mul_scalar", None)

    __rmul__ = __mul__

    def __truediv__(self, other):
        return _binary(self, other, "broadcast_div", "_div_scalar", None)

    def __rtruediv__(self, other):
        return _binary(self, other, None, "_rdiv_scalar", None)

    __div__ = __truediv__
    __rdiv__ = __rtruediv__

    def __mod__(self, other):
        return _binary(self, other, "broadcast_mod", "_mod_scalar", None)

    def __rmod__(self, other):
        return _binary(self, other, None, "_rmod_scalar", None)

    def __pow__(self, other):
        return _binary(self, other, "broadcast_power", "_power_scalar", None)

    def __rpow__(self, other):
        return _binary(self, other, None, "_rpower_scalar", None)

    def __matmul__(self, other):
        from .linalg import matmul
        return matmul(self, other)

    def __rmatmul__(self, other):
        from .linalg import matmul
        return matmul(array(other, ctx=self.context, dtype=self.dtype), self)

    def __neg__(self):
        return _op("negative")(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _op("abs")(self)

    def __eq__(self, other):
        return _binary(self, other, "broadcast_equal", "_equal_scalar", None)

    def __ne__(self, other):
        return _binary(self, other, "broadcast_not_equal", "_not_equal_scalar", None)

    def __gt__(self, other):
        return _binary(self, other, "broadcast_greater", "_greater_scalar", None)

    def __ge__(self, other):
        return _binary(self, other, "broadcast_greater_equal", "_greater_equal_scalar", None)

    def __lt__(self, other):
        return _binary(self, other, "broadcast_lesser", "_lesser_scalar", None)

    def __le__(self, other):
        return _binary(self, other, "broadcast_lesser_equal", "_lesser_equal_scalar", None)

    __hash__ = object.__hash__

    def __iadd__(self, other):
        return _binary(self, other, "broadcast_add", "_plus_scalar", self)

    def __isub__(self, other):
        return _binary(self, other, "broadcast_sub", "_minus_scalar", self)

    def __imul__(self, other):
        return _binary(self, other, "broadcast_mul", "_mul_scalar", self)

    def __itruediv__(self, other):
        return _binary(self, other, "broadcast_div", "_div_scalar", self)

    __idiv__ = __itruediv__

    def __imod__(self, other):
        return _binary(self, other, "broadcast_mod", "_mod_scalar", self)

    def __ipow__(self, other):
        return _binary(self, other, "broadcast_power", "_power_scalar", self)


# ---------------------------------------------------------------------------------------
_ops = {}  # name -> generated function (filled by the op module at import)


def _op(name):
    return _ops[name]


_NULL = ffi.NULL
_call1 = lib.brass_op_call1
_call2 = lib.brass_op_call2
_fast = {}  # op name -> op handle, for the operator fast path


def _raise_last():
    raise BrassError(ffi.string(lib.brass_last_error()).decode("utf-8", "replace"))


def _binary(lhs, rhs, array_op, scalar_op, out):
    """Dispatches a Python operator: array-array broadcast, or the scalar form. One C call."""
    if type(rhs) is NDArray:
        if array_op is None:  # reflected ops only reach here with a scalar
            return NotImplemented
        if out is None:
            h = _call2(_fast[array_op], lhs._h, rhs._h, _NULL)
            if not h:
                _raise_last()
            return NDArray(h)
        from ._internal import invoke
        return invoke(array_op, (lhs, rhs), _NULL, out)
    if isinstance(rhs, base.numeric_types):
        from ._internal import scalar_params
        p = scalar_params(scalar_op, rhs)
        if out is None:
            h = _call1(_fast[scalar_op], lhs._h, p)
            if not h:
                _raise_last()
            return NDArray(h)
        from ._internal import invoke
        return invoke(scalar_op, (lhs,), p, out)
    if isinstance(rhs, NDArray):  # a subclass
        from ._internal import invoke
        return invoke(array_op, (lhs, rhs), _NULL, out) if array_op else NotImplemented
    if isinstance(rhs, (np.ndarray, list, tuple)) and array_op:
        return _binary(lhs, array(rhs, ctx=lhs.context, dtype=lhs.dtype), array_op, scalar_op, out)
    return NotImplemented


def infer_reshape(src, shape, reverse=False):
    """MXNet's Reshape special values: 0 copy, -1 infer, -2 copy rest, -3 merge two, -4 split."""
    src = list(src)
    shape = list(shape)
    if reverse:
        src = src[::-1]
        shape = shape[::-1]
        # -4 splits read in order after reversal: keep pairs in their original order
    out = []
    i = 0  # index in src
    j = 0
    infer_at = -1
    while j < len(shape):
        s = shape[j]
        if s == 0:
            if i >= len(src):
                raise BrassError("Reshape: 0 in %s refers past the input shape %s" % (tuple(shape), tuple(src)), 2)
            out.append(src[i])
            i += 1
        elif s == -1:
            if infer_at >= 0:
                raise BrassError("Reshape: only one -1 is allowed in %s" % (tuple(shape),), 2)
            infer_at = len(out)
            out.append(-1)
            i += 1
        elif s == -2:
            out.extend(src[i:])
            i = len(src)
        elif s == -3:
            if i + 1 >= len(src):
                raise BrassError("Reshape: -3 needs two input dims in %s" % (tuple(src),), 2)
            out.append(src[i] * src[i + 1])
            i += 2
        elif s == -4:
            if j + 2 >= len(shape) or i >= len(src):
                raise BrassError("Reshape: -4 needs two following values in %s" % (tuple(shape),), 2)
            d0, d1 = shape[j + 1], shape[j + 2]
            if reverse:
                d0, d1 = d1, d0
            if d0 == -1:
                d0 = src[i] // d1 if d1 else 0
            if d1 == -1:
                d1 = src[i] // d0 if d0 else 0
            if d0 * d1 != src[i]:
                raise BrassError("Reshape: cannot split %d into %d x %d" % (src[i], d0, d1), 2)
            out.extend([d0, d1])
            i += 1
            j += 2
        elif s > 0:
            out.append(s)
            i += 1
        else:
            raise BrassError("Reshape: invalid value %d in %s" % (s, tuple(shape)), 2)
        j += 1
    total = 1
    for d in src:
        total *= d
    if infer_at >= 0:
        known = 1
        for k, d in enumerate(out):
            if k != infer_at:
                known *= d
        if known == 0 or total % known:
            raise BrassError("Reshape: cannot reshape array of shape %s into %s"
                             % (tuple(src), tuple(shape)), 2)
        out[infer_at] = total // known
    prod = 1
    for d in out:
        prod *= d
    if prod != total:
        raise BrassError("Reshape: cannot reshape array of shape %s into %s (size %d vs %d)"
                         % (tuple(src[::-1] if reverse else src), tuple(shape[::-1] if reverse else shape), total, prod), 2)
    return tuple(out[::-1] if reverse else out)


def _new(shape, ctx, dtype):
    shape = (shape,) if isinstance(shape, base.integer_types) else tuple(int(s) for s in shape)
    ctx = ctx or current_context()
    if not isinstance(ctx, Context):
        ctx = Context(ctx)
    code = base.dtype_code(dtype)
    out = _bufs()[1]
    n = len(shape)
    shp = ffi.new("int64_t[]", shape) if n else ffi.NULL
    check(lib.brass_ndarray_create(shp, n, code, ctx.device_typeid, ctx.device_id, out))
    return NDArray(out[0])


def empty(shape, ctx=None, dtype=None):
    """An uninitialized array.

    >>> import brass as mx
    >>> mx.nd.empty((2, 3)).shape
    (2, 3)
    """
    return _new(shape, ctx, dtype or "float32")


def full(shape, val, ctx=None, dtype=None, out=None):
    """An array filled with `val`.

    >>> import brass as mx
    >>> mx.nd.full((2,), 7).asnumpy().tolist()
    [7.0, 7.0]
    """
    if out is None:
        out = _new(shape, ctx, dtype or "float32")
    return _op("_set_value")(src=float(val), out=out)


def zeros(shape, ctx=None, dtype=None, **kwargs):
    """An array of zeros (float32 by default).

    >>> import brass as mx
    >>> mx.nd.zeros((2, 2)).asnumpy().tolist()
    [[0.0, 0.0], [0.0, 0.0]]
    """
    return full(shape, 0, ctx, dtype)


def ones(shape, ctx=None, dtype=None, **kwargs):
    """An array of ones.

    >>> import brass as mx
    >>> mx.nd.ones(3).asnumpy().tolist()
    [1.0, 1.0, 1.0]
    """
    return full(shape, 1, ctx, dtype)


def array(source_array, ctx=None, dtype=None):
    """An array from a numpy array, a list, a scalar or another NDArray.

    The dtype defaults to float32 for lists, scalars and numpy arrays of any dtype (MXNet 1.x:
    pass ``dtype=x.dtype`` to keep a numpy array's), and to the source's for NDArrays. A
    Python scalar gives shape (1,), as in MXNet 1.x.

    >>> import brass as mx
    >>> mx.nd.array([1, 2, 3]).asnumpy().tolist()
    [1.0, 2.0, 3.0]
    """
    if isinstance(source_array, NDArray):
        if dtype is None:
            dtype = source_array.dtype
        return source_array.as_in_context(ctx or source_array.context).astype(dtype)
    if isinstance(source_array, np.ndarray):
        if dtype is None:
            dtype = np.float32
        src = source_array
    else:
        if dtype is None:
            dtype = np.float32
        src = np.array(source_array, dtype=base.dtype_np(base.dtype_code(dtype)))
        if src.ndim == 0:
            src = src.reshape((1,))
    npdt = base.dtype_np(base.dtype_code(dtype))
    src = np.asarray(src, dtype=npdt, order="C")  # keeps an explicit 0-d numpy array 0-d
    out = _new(src.shape, ctx, npdt)
    if src.nbytes:
        check(lib.brass_ndarray_copy_from(out._h, ffi.from_buffer(src), src.nbytes))
    return out


def from_numpy(ndarray, zero_copy=True):
    """An NDArray sharing memory with a C-contiguous numpy array (copied if not contiguous)."""
    from .dlpack import from_numpy_zero_copy
    if zero_copy and ndarray.flags["C_CONTIGUOUS"] and ndarray.dtype in base._NP_TO_CODE:
        return from_numpy_zero_copy(ndarray)
    return array(ndarray, dtype=ndarray.dtype if ndarray.dtype in base._NP_TO_CODE else None)


def from_dlpack(x):
    """An NDArray sharing memory with any object that has __dlpack__ (numpy, PyTorch)."""
    from .dlpack import from_dlpack as _fd
    return _fd(x)


def arange(start, stop=None, step=1.0, repeat=1, ctx=None, dtype=None, infer_range=False):
    """Evenly spaced values in [start, stop).

    >>> import brass as mx
    >>> mx.nd.arange(3).asnumpy().tolist()
    [0.0, 1.0, 2.0]
    """
    return _op("_arange")(start=start, stop=stop, step=step, repeat=repeat,
                          ctx=str(ctx or current_context()), dtype=base.dtype_name(dtype or "float32"))


def waitall():
    """Blocks until all pending work is done; raises the first stored error."""
    check(lib.brass_wait_all())


def concatenate(arrays, axis=0, always_copy=True):
    """Concatenates arrays along an axis."""
    return _op("Concat")(*arrays, dim=axis, num_args=len(arrays))


def moveaxis(tensor, source, destination):
    """Moves one axis to another position."""
    axes = list(range(tensor.ndim))
    src = source % tensor.ndim
    dst = destination % tensor.ndim
    axes.pop(src)
    axes.insert(dst, src)
    return _op("transpose")(tensor, axes=tuple(axes))


def _extremum(name, lhs, rhs, pick):
    if isinstance(lhs, NDArray) and isinstance(rhs, NDArray):
        return _op("broadcast_" + name)(lhs, rhs)
    if isinstance(lhs, NDArray) or isinstance(rhs, NDArray):
        arr, scalar = (lhs, rhs) if isinstance(lhs, NDArray) else (rhs, lhs)
        return _op("_%s_scalar" % name)(arr, scalar=float(scalar))
    return pick(lhs, rhs)


def maximum(lhs, rhs):
    """Elementwise maximum of arrays (broadcast) and/or numbers (MXNet 1.x ``nd.maximum``)."""
    return _extremum("maximum", lhs, rhs, max)


def minimum(lhs, rhs):
    """Elementwise minimum of arrays (broadcast) and/or numbers (MXNet 1.x ``nd.minimum``)."""
    return _extremum("minimum", lhs, rhs, min)
