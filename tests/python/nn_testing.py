"""Helpers shared by the operator test files (test_ops_*.py)."""
import numpy as np
import pytest

import brass as mx


def nd(a, dtype=None):
    """An NDArray of a (numpy or list), in a's dtype unless dtype is given; made without ctx=,
    so it lands on the test's default device."""
    a = np.asarray(a)
    return mx.nd.array(a, dtype=dtype or a.dtype)


def raises(fn, *words):
    """fn() (including waiting for its result) raises BrassError naming every word."""
    with pytest.raises(mx.BrassError) as e:
        r = fn()
        for x in r if isinstance(r, (list, tuple)) else [r]:
            x.asnumpy()
    msg = str(e.value)
    for w in words:
        assert str(w) in msg, (w, msg)
    return msg


def grads_of(fn, arrays, head=None):
    """Autograd gradients of fn(*arrays) for the head gradient `head` (ones by default)."""
    for a in arrays:
        a.attach_grad()
    with mx.autograd.record():
        y = fn(*arrays)
    y.backward(None if head is None else nd(head, np.dtype(y.dtype).name))
    return y, [a.grad.asnumpy() for a in arrays]
