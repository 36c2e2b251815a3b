"""The pieces of a gradient-check case (shared by test_gradients.py and the op test files
that declare gradient cases of their own ops: each such file has a GRADIENTS dict, name ->
list of Grad, which test_gradients.py checks with the rest, first and second order)."""
import numpy as np

H = 1e-6
RTOL, ATOL = 1e-6, 1e-8


class In:
    """One input of a case.

    shape   its shape.
    domain  (lo, hi) of the uniform samples.
    kinks   points where the op is not differentiable in this input; samples stay `margin`
            away from each.
    diff    False for inputs through which no gradient flows (indices, conditions, shape
            references): their gradient must be zero.
    values  fixed values (or a function of a RandomState) instead of samples.
    dtype   the array's dtype in NO_GRADIENT cases (default float64), for ops that need a
            float32 input (the mixed-precision optimizer updates' master weights).
    """

    def __init__(self, shape, domain=(-3, 3), kinks=(), margin=0.1, diff=True, values=None, dtype=None):
        self.shape = tuple(shape)
        self.dtype = dtype
        self.domain = domain
        self.kinks = tuple(kinks)
        self.margin = margin
        self.diff = diff
        self.values = values

    def sample(self, rs):
        if self.values is not None:
            v = self.values(rs) if callable(self.values) else self.values
            return np.array(v, dtype=np.float64).reshape(self.shape)
        lo, hi = self.domain
        x = np.array(rs.uniform(lo, hi, self.shape), dtype=np.float64)
        for _ in range(1000):
            bad = np.zeros(x.shape, dtype=bool)
            for k in self.kinks:
                bad |= np.abs(x - k) < self.margin
            if not bad.any():
                return x
            x[bad] = rs.uniform(lo, hi, int(bad.sum()))
        raise AssertionError("cannot sample %s in %s away from kinks %s" % (self.shape, self.domain, self.kinks))


class Grad:
    """A gradient case: inputs, op parameters, and optionally a joint condition `ok(*xs)` on
    the sampled inputs (e.g. maximum: lhs and rhs not close), resampled until it holds."""

    def __init__(self, ins, params=None, ok=None, rtol=RTOL, atol=ATOL, index_outputs=()):
        self.ins = ins
        self.params = params or {}
        self.ok = ok
        self.index_outputs = index_outputs  # outputs that are indices: head gradient zero
        self.rtol = rtol
        self.atol = atol

    def sample(self, rs):
        for _ in range(500):
            xs = [i.sample(rs) for i in self.ins]
            if self.ok is None or self.ok(*xs):
                return xs
        raise AssertionError("no sample satisfies the joint condition")


def one(shape, **kw):
    return [In(shape, **kw)]
