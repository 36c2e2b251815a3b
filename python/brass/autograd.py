"""Imperative autograd, MXNet 1.x style.

>>> import brass as mx
>>> x = mx.nd.array([1.0, 2.0, 3.0])
>>> x.attach_grad()
>>> with mx.autograd.record():
...     y = (x * x).sum()
>>> y.backward()
>>> x.grad.asnumpy().tolist()
[2.0, 4.0, 6.0]
"""
from .base import check, ffi, lib

import threading

__all__ = ["record", "pause", "train_mode", "predict_mode", "is_recording", "is_training",
           "set_recording", "set_training", "mark_variables", "backward", "grad", "Function"]

_REQ = {"null": 0, "write": 1, "add": 3}


def set_recording(is_recording):
    """Turns recording on or off for this thread; returns the previous state."""
    prev = ffi.new("int32_t*")
    check(lib.brass_autograd_set_recording(int(bool(is_recording)), prev))
    return bool(prev[0])


def set_training(train_mode):
    """Sets the training flag for this thread; returns the previous state."""
    prev = ffi.new("int32_t*")
    check(lib.brass_autograd_set_training(int(bool(train_mode)), prev))
    return bool(prev[0])


def is_recording():
    out = ffi.new("int32_t*")
    check(lib.brass_autograd_is_recording(out))
    return bool(out[0])


def is_training():
    out = ffi.new("int32_t*")
    check(lib.brass_autograd_is_training(out))
    return bool(out[0])


class _Scope:
    """Sets recording and training for a ``with`` block (None: leave unchanged)."""

    def __init__(self, recording, training):
        self._rec, self._train = recording, training
        self._prev = None

    def __enter__(self):
        rec = set_recording(self._rec) if self._rec is not None else None
        train = set_training(self._train) if self._train is not None else None
        self._prev = (rec, train)
        return self

    def __exit__(self, *exc):
        rec, train = self._prev
        if rec is not None:
            set_recording(rec)
        if train is not None:
            set_training(train)


def record(train_mode=True):
    """Records the operations in the block for backward (and sets the training flag)."""
    return _Scope(True, train_mode)


def pause(train_mode=False):
    """Stops recording inside a record() block."""
    return _Scope(False, train_mode)


def train_mode():
    """Training behaviour (Dropout, BatchNorm) without changing recording."""
    return _Scope(None, True)


def predict_mode():
    """Inference behaviour without changing recording."""
    return _Scope(None, False)


def _handles(arrays):
    return ffi.new("brass_ndarray_t[]", [a.handle for a in arrays])


def mark_variables(variables, gradients, grad_reqs="write"):
    """Marks arrays as variables: backward puts their gradients into `gradients`."""
    from .ndarray.ndarray import NDArray

    if isinstance(variables, NDArray):
        variables, gradients = [variables], [gradients]
    if isinstance(grad_reqs, str):
        grad_reqs = [grad_reqs] * len(variables)
    reqs = []
    for r in grad_reqs:
        if r not in _REQ:
            raise ValueError("grad_req must be one of 'write', 'add', 'null', not %r" % (r,))
        reqs.append(_REQ[r])
    grads = ffi.new("brass_ndarray_t[]", [g.handle if g is not None else ffi.NULL for g in gradients])
    check(lib.brass_autograd_mark_variables(len(variables), _handles(variables), ffi.new("int32_t[]", reqs),
                                            grads))


def _heads(heads, head_grads):
    from .ndarray.ndarray import NDArray

    if isinstance(heads, NDArray):
        heads = [heads]
        if head_grads is not None and not isinstance(head_grads, (list, tuple)):
            head_grads = [head_grads]
    hg = ffi.NULL
    if head_grads is not None:
        if len(head_grads) != len(heads):
            raise ValueError("%d heads but %d head gradients" % (len(heads), len(head_grads)))
        hg = ffi.new("brass_ndarray_t[]", [g.handle if g is not None else ffi.NULL for g in head_grads])
    return list(heads), hg


def backward(heads, head_grads=None, retain_graph=False, train_mode=True):
    """Computes the gradients of heads into the gradient arrays of the marked variables."""
    heads, hg = _heads(heads, head_grads)
    _check_backward(lib.brass_autograd_backward(len(heads), _handles(heads), hg, 0, ffi.NULL,
                                                int(bool(retain_graph)), 0, int(bool(train_mode)), ffi.NULL))


def grad(heads, variables, head_grads=None, retain_graph=None, create_graph=False, train_mode=True):
    """The gradients of heads with respect to variables, returned as new arrays.

    With create_graph=True the gradient computation is recorded too, so the results can be
    differentiated again (retain_graph then defaults to True).
    """
    from .ndarray.ndarray import NDArray

    heads, hg = _heads(heads, head_grads)
    single = isinstance(variables, NDArray)
    if single:
        variables = [variables]
    if retain_graph is None:
        retain_graph = create_graph
    out = ffi.new("brass_ndarray_t[]", len(variables))
    _check_backward(lib.brass_autograd_backward(len(heads), _handles(heads), hg, len(variables),
                                                _handles(variables), int(bool(retain_graph)),
                                                int(bool(create_graph)), int(bool(train_mode)), out))
    res = [NDArray(out[i]) for i in range(len(variables))]
    return res


# ---- custom functions -------------------------------------------------------------------------
_errors = threading.local()   # the exception a Function's backward raised, per thread
_live = {}                     # id -> Function kept alive while a recorded graph uses it
_live_lock = threading.Lock()


def _check_backward(status):
    err = getattr(_errors, "value", None)
    _errors.value = None
    if status != 0 and err is not None:
        raise err
    check(status)


@ffi.callback("brass_custom_backward_fn")
def _run_backward(n_out, ograds, n_in, igrads, user):
    from .ndarray.ndarray import NDArray

    try:
        og = [NDArray(ograds[i]) for i in range(n_out)]
        ig = [NDArray(igrads[i]) for i in range(n_in)]
        fn = ffi.from_handle(user)
        with pause():
            res = fn.backward(*og)
        if isinstance(res, NDArray):
            res = (res,)
        res = tuple(res)
        if len(res) != n_in:
            raise ValueError("%s.backward returned %d gradients for %d inputs"
                             % (type(fn).__name__, len(res), n_in))
        for k, (r, dst) in enumerate(zip(res, ig)):
            if not isinstance(r, NDArray):
                raise TypeError("%s.backward: gradient %d is a %s, not an NDArray" % (type(fn).__name__, k, type(r).__name__))
            if r.shape != dst.shape:
                raise ValueError("%s.backward: gradient %d has shape %s, its input %s"
                                 % (type(fn).__name__, k, r.shape, dst.shape))
            r.astype(dst.dtype).copyto(dst) if r.dtype != dst.dtype else r.copyto(dst)
        return 0
    except BaseException as e:  # reported by the backward() that ran us
        _errors.value = e
        return 1


@ffi.callback("brass_custom_release_fn")
def _release(user):
    with _live_lock:
        _live.pop(ffi.from_handle(user), None)


class Function:
    """A differentiable function written in Python (MXNet 1.x ``autograd.Function``):
    subclass it with ``forward(*inputs)`` and ``backward(*output_grads)`` (returning one
    gradient per input), and call an instance on arrays. ``forward`` runs with recording
    paused; ``save_for_backward(*arrays)`` keeps what ``backward`` needs in
    ``saved_tensors``.

    >>> import brass as mx
    >>> class Square(mx.autograd.Function):
    ...     def forward(self, x):
    ...         self.save_for_backward(x)
    ...         return x * x
    ...     def backward(self, dy):
    ...         x, = self.saved_tensors
    ...         return 2 * x * dy
    >>> x = mx.nd.array([1.0, 3.0])
    >>> x.attach_grad()
    >>> with mx.autograd.record():
    ...     y = Square()(x)
    >>> y.backward()
    >>> x.grad.asnumpy().tolist()
    [2.0, 6.0]
    """

    def __init__(self):
        self._used = False
        self.saved_tensors = ()

    def save_for_backward(self, *args):
        self.saved_tensors = args

    def forward(self, *inputs):
        raise NotImplementedError

    def backward(self, *output_grads):
        raise NotImplementedError

    def __call__(self, *inputs):
        from .ndarray.ndarray import NDArray

        if self._used:
            raise RuntimeError("an autograd.Function instance can be called once; make a new one per call")
        self._used = True
        for k, a in enumerate(inputs):
            if not isinstance(a, NDArray):
                raise TypeError("%s: input %d is a %s, not an NDArray" % (type(self).__name__, k, type(a).__name__))
        with pause():
            outputs = self.forward(*inputs)
        single = isinstance(outputs, NDArray)
        outs = (outputs,) if single else tuple(outputs)
        if not all(isinstance(o, NDArray) for o in outs):
            raise TypeError("%s.forward must return NDArrays" % type(self).__name__)
        if is_recording():
            handle = ffi.new_handle(self)
            with _live_lock:
                _live[self] = handle
            check(lib.brass_autograd_record_function(len(inputs), _handles(inputs), len(outs), _handles(outs),
                                                     _run_backward, _release, handle))
        return outputs
