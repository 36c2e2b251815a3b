"""The gradient of every differentiable registered op against float64 central differences.

For each table entry: random float64 inputs in a domain away from the op's kinks and poles,
the analytic gradient from autograd (attach_grad, record, backward with a random head
gradient) and the numeric one, sum(head_grad * (f(x + h) - f(x - h))) / 2h for each element
of each differentiable input. Inputs through which no gradient flows (indices, conditions,
shape references) must get a zero gradient.

Ops through which no gradient flows at all (comparisons, rounding, indices, ...) are listed in
NON_DIFFERENTIABLE: under MXNet 1.x semantics they give a zero gradient (not an error) when
they sit on a path to a variable. A completeness test fails when the registry holds an op
with inputs that neither list names. Ops without inputs (init, random) are exempt.
"""
import zlib

import numpy as np
import pytest

import brass as mx
from brass.base import ffi, lib
from op_table import BIN, RPARAMS, UNARY, _ELEMWISE_NAME, _RSCALAR, _SCALAR_NAME

from grad_table import ATOL, H, RTOL, Grad, In, one


# ---- the gradient table: op name -> list of cases ------------------------------------------
GRADIENTS = {}


def add(name, *cases):
    GRADIENTS.setdefault(name, []).extend(cases)


# Element-wise unary math, with op_table's domains; kinks and poles kept away from.
UNARY_DIFF_DOMAIN = {"sqrt": (0.1, 10), "arccosh": (1.1, 5), "log1p": (-0.8, 10)}
UNARY_KINKS = {"abs": (0,), "relu": (0,), "cbrt": (0,), "softsign": (0,)}
UNARY_NON_DIFF = {"sign", "logical_not", "floor", "ceil", "round", "rint", "trunc", "fix",
                  "BlockGrad", "zeros_like", "ones_like"}
for _n, _c in UNARY.items():
    if _n in UNARY_NON_DIFF:
        continue
    _dom = UNARY_DIFF_DOMAIN.get(_n, _c.domain)
    _k = UNARY_KINKS.get(_n, ())
    add(_n, *[Grad(one(s, domain=_dom, kinks=_k)) for s in [(2, 3), (), (7,)]])


def _bcast_ok(pred):
    def ok(a, b):
        a, b = np.broadcast_arrays(a, b)
        return bool(np.all(pred(a, b)))
    return ok


def _frac_ok(a, b):  # a mod b away from its jumps (a/b an integer)
    f = np.mod(a / b, 1.0)
    return (f > 0.05) & (f < 0.95)


BIN_DIFF = ["add", "sub", "mul", "div", "mod", "power", "maximum", "minimum", "hypot"]
BIN_NON_DIFF = [k for k in BIN if k not in BIN_DIFF]
BCAST_SHAPES = [((3, 4), (3, 4)), ((3, 4), (4,)), ((3, 1), (1, 4)), ((2, 1, 3), (4, 1)), ((2, 3), (1,)),
                ((4,), (3, 4)), ((1,), (2, 3)), ((), ())]
SAME_SHAPES = [((3, 4), (3, 4)), ((5,), (5,)), ((), ())]


def _binary_case(k, sa, sb):
    dom = (0.5, 3) if k == "power" else (-3, 3)
    rhs_kinks, margin, ok = (), 0.1, None
    if k in ("div", "mod"):
        rhs_kinks, margin = (0,), 0.5
    if k == "mod":
        ok = _bcast_ok(_frac_ok)
    if k in ("maximum", "minimum"):
        ok = _bcast_ok(lambda a, b: np.abs(a - b) > 0.05)
    return Grad([In(sa, domain=dom), In(sb, domain=dom, kinks=rhs_kinks, margin=margin)], ok=ok)


for _k in BIN_DIFF:
    add("broadcast_" + _k, *[_binary_case(_k, a, b) for a, b in BCAST_SHAPES])
    add(_ELEMWISE_NAME.get(_k, "_" + _k), *[_binary_case(_k, a, b) for a, b in SAME_SHAPES])


def _scalar_case(s, domain=(-3, 3), kinks=(), margin=0.1):
    return [Grad(one(shape, domain=domain, kinks=kinks, margin=margin), {"scalar": s}) for shape in [(3, 4), ()]]


for _k in ("add", "sub", "mul"):
    add(_SCALAR_NAME[_k], *[c for s in (1.5, -2.0, 0.0) for c in _scalar_case(s)])
add("_div_scalar", *[c for s in (1.5, -2.0) for c in _scalar_case(s)])
add("_mod_scalar", *[c for s in (1.5, -2.0) for c in _scalar_case(s, kinks=[s * i for i in range(-4, 5)])])
add("_power_scalar", *[c for s in (2.0, 0.5, 3.0, -1.5) for c in _scalar_case(s, domain=(0.5, 3))])
for _k in ("maximum", "minimum"):
    add("_%s_scalar" % _k, *[c for s in (1.5, -2.0, 0.0) for c in _scalar_case(s, kinks=(s,))])
add("_hypot_scalar", *[c for s in (1.5, -2.0, 0.0) for c in _scalar_case(s, kinks=(0,))])
add("_rminus_scalar", *_scalar_case(2.5))
add("_rdiv_scalar", *_scalar_case(2.5, kinks=(0,), margin=0.5))
add("_rmod_scalar", *[Grad(one(shape, domain=(-3, 3), kinks=[0] + [2.5 / i for i in range(-6, 7) if i], margin=0.05),
                           {"scalar": 2.5}) for shape in [(3, 4), ()]])
add("_rpower_scalar", *_scalar_case(2.5, domain=(-2, 2)))
assert set(_RSCALAR.values()) <= set(GRADIENTS)

# Reductions (op_table's parameter sets).
for _n in ("sum", "mean", "prod", "max", "min", "nansum", "nanprod"):
    _dom = (0.5, 1.5) if "prod" in _n else (-3, 3)
    add(_n, *[Grad(one((2, 3, 4), domain=_dom), p) for p in RPARAMS])
    add(_n, Grad(one((7,), domain=_dom)))
def _with_nans(shape, domain=(-3, 3)):
    def values(rs):
        x = rs.uniform(*domain, size=shape)
        x.reshape(-1)[::3] = np.nan
        return x
    return In(shape, values=values)


add("nansum", Grad([_with_nans((3, 4))]), Grad([_with_nans((3, 4))], {"axis": 1}))
add("nanprod", Grad([_with_nans((3, 4), (0.5, 1.5))]), Grad([_with_nans((3, 4), (0.5, 1.5))], {"axis": 0}))
add("norm", *[Grad(one((2, 3, 4), kinks=(0,)), p)
              for p in ({}, {"ord": 1}, {"axis": 1}, {"axis": (0, 1), "keepdims": True}, {"ord": 1, "axis": -1})])
add("norm", Grad(one((7,), kinks=(0,))), Grad(one((7,), kinks=(0,)), {"ord": 1}))

# Linear algebra.
add("dot",
    Grad([In((3, 4)), In((4, 5))]),
    Grad([In((4, 3)), In((4, 5))], {"transpose_a": True}),
    Grad([In((3, 4)), In((5, 4))], {"transpose_b": True}),
    Grad([In((4, 3)), In((5, 4))], {"transpose_a": True, "transpose_b": True}),
    Grad([In((5,)), In((5,))]),
    Grad([In((2, 3, 4)), In((4, 5))]),
    Grad([In((3, 4)), In((4,))]))
add("batch_dot",
    Grad([In((2, 3, 4)), In((2, 4, 5))]),
    Grad([In((2, 4, 3)), In((2, 4, 5))], {"transpose_a": True}),
    Grad([In((2, 3, 4)), In((2, 5, 4))], {"transpose_b": True}))
add("add_n", Grad([In((2, 3)), In((2, 3)), In((2, 3))]), Grad([In((4,))]))
add("Cast", Grad(one((2, 3)), {"dtype": "float64"}))
# Ops that gradients are written with: differentiable too, for second derivatives. An input
# whose values do not matter (only its shape or dtype) gets a zero gradient, which the
# numeric check confirms.
add("_cast_like", Grad([In((2, 3)), In((2, 3))]))
add("_digamma", *[Grad(one(s, domain=(0.2, 5))) for s in [(2, 3), ()]])
add("_dot_grad_lhs", Grad([In((3, 5)), In((3, 4)), In((4, 5))]),
    Grad([In((3, 5)), In((4, 3)), In((5, 4))], {"transpose_a": True, "transpose_b": True}))
add("_dot_grad_rhs", Grad([In((3, 5)), In((3, 4)), In((4, 5))]),
    Grad([In((3, 5)), In((4, 3)), In((4, 5))], {"transpose_a": True}))
add("_sum_to_like", Grad([In((3, 4)), In((4,))]), Grad([In((2, 3, 4)), In((3, 1))]), Grad([In((3, 4)), In((3, 4))]))
add("_reduce_grad", Grad([In((2, 4)), In((2, 3, 4))], {"axis": 1}),
    Grad([In((1,)), In((2, 3))]),
    Grad([In((1, 3, 1)), In((2, 3, 4))], {"axis": (0, 2), "keepdims": True}),
    Grad([In((3,)), In((2, 3, 4))], {"axis": (1,), "exclude": True}))
add("reshape_like", Grad([In((2, 3)), In((3, 2))]),
    Grad([In((6, 2)), In((3, 2, 4))], {"lhs_begin": 0, "lhs_end": 1, "rhs_begin": 0, "rhs_end": 2}))
add("_backward_Concat", Grad([In((2, 5)), In((2, 3)), In((2, 2))], {"num_args": 2, "dim": 1}))
add("_backward_slice", Grad([In((2, 3, 5)), In((3, 4, 5))], {"begin": (0, 1), "end": (2, None)}),
    Grad([In((3, 2, 4)), In((3, 4, 5))], {"begin": (None, None, 4), "end": (None, None, 0), "step": (1, 2, -1)}))
add("_backward_slice_axis", Grad([In((3, 2)), In((3, 4))], {"axis": 1, "begin": 1, "end": 3}))
add("_backward_slice_like", Grad([In((2, 3)), In((3, 4))]))
add("_backward_tile", Grad([In((4, 3)), In((2, 3))], {"reps": (2, 1)}),
    Grad([In((1, 4, 6)), In((2, 3))], {"reps": (1, 2, 2)}))
add("_backward_repeat", Grad([In((2, 9)), In((2, 3))], {"repeats": 3, "axis": 1}),
    Grad([In((12,)), In((2, 3))], {"repeats": 2}))
add("_backward_cumsum", Grad([In((3, 4)), In((3, 4))], {"axis": 1}), Grad([In((12,)), In((3, 4))]))
add("_backward_take", Grad([In((2, 3, 3)), In((2, 3), diff=False, values=[[0, 2, 2], [3, 1, 0]]), In((4, 3))]),
    Grad([In((4, 3)), In((3,), diff=False, values=[2, 0, 2]), In((4, 3))], {"axis": 1}))
add("_backward_pick", Grad([In((3,)), In((3,), diff=False, values=[0, 3, 1]), In((3, 4))]),
    Grad([In((4,)), In((4,), diff=False, values=[2, 0, 0, 1]), In((3, 4))], {"axis": 0}))
add("_backward_diag", Grad([In((4,)), In((4, 4))]),
    Grad([In((3,)), In((4, 4))], {"k": 1}), Grad([In((4, 4)), In((4,))]))
add("_gather_along_axis", Grad([In((3, 4)), In((3, 2), diff=False, values=[[1, 3], [0, 2], [2, 1]])], {"axis": 1}),
    # repeated indices: their gradients add up
    Grad([In((3, 4)), In((3, 2), diff=False, values=[[1, 3], [0, 0], [2, 1]])], {"axis": 1}),
    Grad([In((3, 4)), In((2, 4), diff=False, values=[[0, 1, 2, 0], [2, 2, 1, 0]])], {"axis": 0}))
add("_scatter_along_axis",
    Grad([In((3, 2)), In((3, 2), diff=False, values=[[1, 3], [0, 2], [2, 1]]), In((3, 4))], {"axis": 1}))
add("_batch_dot_grad_lhs", Grad([In((2, 3, 5)), In((2, 3, 4)), In((2, 4, 5))]),
    Grad([In((2, 3, 5)), In((2, 3, 4)), In((2, 5, 4))], {"transpose_b": True}))
add("_batch_dot_grad_rhs", Grad([In((2, 3, 5)), In((2, 3, 4)), In((2, 4, 5))]),
    Grad([In((2, 3, 5)), In((2, 4, 3)), In((2, 4, 5))], {"transpose_a": True}))
add("clip", *[Grad(one(s, domain=(-6, 6), kinks=(-2, 3)), {"a_min": -2, "a_max": 3}) for s in [(3, 4), ()]])

# Shape, indexing and ordering ops.
add("transpose", Grad(one((2, 3, 4))), Grad(one((2, 3, 4)), {"axes": (1, 0, 2)}),
    Grad(one((2, 3, 4)), {"axes": (2, 0, 1)}))
add("SwapAxis", Grad(one((2, 3, 4)), {"dim1": 0, "dim2": 2}))
add("Reshape", Grad(one((2, 3, 4)), {"shape": (4, -1)}), Grad(one((2, 3, 4)), {"shape": (-1,)}))
add("Flatten", Grad(one((2, 3, 4))))
add("expand_dims", Grad(one((2, 3)), {"axis": 1}))
add("squeeze", Grad(one((2, 1, 3))), Grad(one((2, 1, 3, 1)), {"axis": (1,)}))
add("Concat", Grad([In((2, 3)), In((2, 1)), In((2, 2))], {"dim": 1}), Grad([In((1, 3)), In((2, 3))], {"dim": 0}))
add("stack", Grad([In((2, 3)), In((2, 3))], {"axis": 1}), Grad([In((4,)), In((4,)), In((4,))]))
add("SliceChannel", Grad(one((2, 6)), {"num_outputs": 3, "axis": 1}),
    Grad(one((2, 3)), {"num_outputs": 2, "axis": 0, "squeeze_axis": True}))
add("slice", Grad(one((3, 4, 5)), {"begin": (0, 1), "end": (2, None)}),
    Grad(one((3, 4, 5)), {"begin": (None, None, 4), "end": (None, None, 0), "step": (1, 2, -1)}))
add("slice_axis", Grad(one((3, 4)), {"axis": 1, "begin": 1, "end": 3}),
    Grad(one((3, 4)), {"axis": 0, "begin": -2, "end": None}))
add("slice_like", Grad([In((3, 4)), In((2, 3), diff=False)]),
    Grad([In((3, 4)), In((2, 3), diff=False)], {"axes": (1,)}))
add("tile", Grad(one((2, 3)), {"reps": (2, 1)}), Grad(one((2, 3)), {"reps": (1, 2, 2)}))
add("repeat", Grad(one((2, 3)), {"repeats": 2}), Grad(one((2, 3)), {"repeats": 3, "axis": 1}))
add("reverse", Grad(one((2, 3)), {"axis": (1,)}), Grad(one((2, 3)), {"axis": (0, 1)}))
add("broadcast_to", Grad(one((3, 1)), {"shape": (2, 3, 4)}), Grad(one((1,)), {"shape": (3,)}))
add("broadcast_like", Grad([In((3, 1)), In((3, 4), diff=False)]),
    Grad([In((3, 1)), In((7, 6), diff=False)], {"lhs_axes": (1,), "rhs_axes": (1,)}))
# take: repeated indices accumulate; clipped and wrapped indices; the indices get zero gradient
add("take", Grad([In((4, 3)), In((2, 3), diff=False, values=[[0, 2, 2], [3, 1, 0]])]),
    Grad([In((4, 3)), In((3,), diff=False, values=[2, 0, 2])], {"axis": 1}),
    Grad([In((4, 3)), In((4,), diff=False, values=[-1, 5, 1, 1])], {"mode": "clip"}),
    Grad([In((4, 3)), In((4,), diff=False, values=[-1, 5, 1, 1])], {"mode": "wrap"}))
add("pick", Grad([In((3, 4)), In((3,), diff=False, values=[0, 3, 1])]),
    Grad([In((3, 4)), In((4,), diff=False, values=[2, 0, 0, 1])], {"axis": 0}),
    Grad([In((3, 4)), In((3, 1), diff=False, values=[1, 1, 2])], {"axis": 1, "keepdims": True}))
add("where", Grad([In((3, 4), diff=False, values=lambda rs: rs.randint(0, 2, (3, 4))), In((3, 4)), In((3, 4))]))
add("diag", Grad(one((4, 4))), Grad(one((4, 4)), {"k": 1}), Grad(one((3, 5)), {"k": -1}), Grad(one((4,))))
add("_slice_assign", Grad([In((3, 4)), In((2, 2))], {"begin": (0, 1), "end": (2, 3)}))
add("_slice_assign_scalar", Grad(one((3, 4)), {"scalar": 2.0, "begin": (0, 1), "end": (2, 3)}))
add("topk", Grad(one((3, 5)), {"k": 2, "ret_typ": "value"}),
    Grad(one((3, 5)), {"k": 2, "ret_typ": "both"}, index_outputs=(1,)),
    Grad(one((3, 5)), {"axis": 0, "k": 2, "ret_typ": "value", "is_ascend": True}))
add("sort", Grad(one((3, 5))), Grad(one((3, 5)), {"axis": 0, "is_ascend": False}))
add("cumsum", Grad(one((3, 4)), {"axis": 1}), Grad(one((3, 4))), Grad(one((3, 4)), {"axis": 0}))


# ---- ops through which no gradient flows -----------------------------------------------------
# op name -> cases whose gradient must be zero for every input. Variants of differentiable ops
# that give none (topk returning indices) are checked the same way (ZERO_VARIANTS).
NON_DIFF_CASES = {}
for _n in UNARY_NON_DIFF:
    NON_DIFF_CASES[_n] = [Grad(one((3, 4)))]
NON_DIFF_CASES["shape_array"] = [Grad(one((3, 4)))]
NON_DIFF_CASES["size_array"] = [Grad(one((3, 4)))]
NON_DIFF_CASES["argmax"] = [Grad(one((3, 4)), {"axis": 1}), Grad(one((3, 4)))]
NON_DIFF_CASES["argmin"] = [Grad(one((3, 4)), {"axis": 0})]
NON_DIFF_CASES["argsort"] = [Grad(one((3, 4)))]
NON_DIFF_CASES["one_hot"] = [Grad([In((3,), values=[0, 2, 1])], {"depth": 3})]
for _k in BIN_NON_DIFF:
    NON_DIFF_CASES["broadcast_" + _k] = [Grad([In((3, 4)), In((4,))])]
    NON_DIFF_CASES["_" + _k] = [Grad([In((3, 4)), In((3, 4))])]
    NON_DIFF_CASES["_%s_scalar" % _k] = [Grad(one((3, 4)), {"scalar": 0.5})]
NON_DIFFERENTIABLE = set(NON_DIFF_CASES)
# Ops that deliberately have no gradient: differentiating through them is a clear error (the
# end of the digamma chain: gammaln -> _digamma -> _trigamma).
NO_GRADIENT = {"_trigamma": Grad(one((2, 3), domain=(0.2, 5)))}
# Ops whose gradient uses a NO_GRADIENT op, so they have no second derivative.
NO_SECOND_ORDER = {"_digamma"}

# Op test files that declare the gradient cases of their own ops (GRADIENTS, NO_SECOND_ORDER).
# (NO_GRADIENT: gradient ops without a gradient, op -> a Grad case for their inputs;
# NOT_A_DERIVATIVE: ops whose gradient is by definition not their forward's derivative, such as
# SoftmaxOutput, tested in their own files.)
OWN_TABLE_MODULES = ["test_ops_conv", "test_ops_nn", "test_ops_loss", "test_ops_norm", "test_ops_spatial",
                     "test_ops_optimizer", "test_ops_ctc", "test_ops_rnn", "test_image"]
NOT_A_DERIVATIVE = set()
for _m in map(__import__, OWN_TABLE_MODULES):
    for _n, _cs in _m.GRADIENTS.items():
        add(_n, *_cs)
    NO_SECOND_ORDER |= set(getattr(_m, "NO_SECOND_ORDER", ()))
    NO_GRADIENT.update(getattr(_m, "NO_GRADIENT", {}))
    NOT_A_DERIVATIVE |= set(getattr(_m, "NOT_A_DERIVATIVE", ()))

ZERO_VARIANTS = {"topk": [Grad(one((3, 5)), {"k": 2}), Grad(one((3, 5)), {"k": 2, "ret_typ": "mask"})]}


# ---- running a case ---------------------------------------------------------------------------
def _call(name, arrays, params):
    out = getattr(mx.nd, name)(*arrays, **params)
    return list(out) if isinstance(out, (list, tuple)) else [out]


def _is_float(dt):
    return np.dtype(dt).kind == "f"


def _forward(name, xs, params):
    """The op on float64 copies of xs, not recorded but in training mode (as under record()):
    its outputs as numpy arrays."""
    with mx.autograd.train_mode():
        return [o.asnumpy() for o in _call(name, [mx.nd.array(x, dtype=np.float64) for x in xs], params)]


def numeric_grad(name, xs, params, i, hgs):
    """sum_k head_grad_k * d out_k / d xs[i], by central differences (step h, exact denominator).
    A NaN element (nansum's input) has gradient zero."""
    x = xs[i]
    flat = x.reshape(-1)
    g = np.zeros(x.size)
    for j in range(x.size):
        v = flat[j]
        if np.isnan(v):
            continue
        flat[j] = v + H
        plus = _forward(name, xs, params)
        flat[j] = v - H
        minus = _forward(name, xs, params)
        flat[j] = v
        step = (v + H) - (v - H)
        g[j] = sum(np.sum((p.astype(np.float64) - m.astype(np.float64)) * hg)
                   for p, m, hg in zip(plus, minus, hgs)) / step
    return g.reshape(x.shape)


def autograd_grads(name, xs, params, hgs=None):
    """The gradients autograd gives for every input (head gradients hgs, or ones)."""
    arrays = [mx.nd.array(x, dtype=np.float64) for x in xs]
    for a in arrays:
        a.attach_grad()
    with mx.autograd.record():
        outs = _call(name, arrays, params)
    if hgs is None:
        mx.autograd.backward(outs)
    else:
        mx.autograd.backward(outs, [mx.nd.array(h, dtype=o.dtype) for h, o in zip(hgs, outs)])
    grads = []
    for a in arrays:
        g = a.grad
        assert g is not None, "%s: attach_grad() gave no gradient array" % name
        assert g.shape == a.shape and g.dtype == np.float64, (name, g.shape, a.shape, g.dtype)
        grads.append(g.asnumpy())
    return grads, outs


def compare(name, vi, i, got, want, rtol, atol):
    err = np.abs(got - want)
    over = err - (atol + rtol * np.abs(want))
    assert got.shape == want.shape, (name, vi, i, got.shape, want.shape)
    if np.any(over > 0) or not np.all(np.isfinite(got)):
        j = np.unravel_index(int(np.argmax(np.where(np.isfinite(over), over, np.inf))), got.shape)
        nonfinite = int(np.sum(~np.isfinite(got)))
        raise AssertionError(
            "%s (case %d) input %d: autograd disagrees with central differences: max abs error %.3g%s "
            "(at %s: autograd %r, numeric %r)\nautograd:\n%s\nnumeric:\n%s"
            % (name, vi, i, float(np.max(np.where(np.isfinite(err), err, np.inf))),
               " (%d non-finite)" % nonfinite if nonfinite else "", j, float(got[j]), float(want[j]), got, want))


def _seed(name, vi):
    return zlib.crc32(("%s/%d" % (name, vi)).encode()) & 0x7FFFFFFF


GRAD_CASES = [(n, vi) for n in sorted(GRADIENTS) for vi in range(len(GRADIENTS[n]))]


@pytest.mark.parametrize("name,vi", GRAD_CASES, ids=["%s-%d" % c for c in GRAD_CASES])
def test_gradient(name, vi):
    case = GRADIENTS[name][vi]
    rs = np.random.RandomState(_seed(name, vi))
    xs = case.sample(rs)
    outs = _forward(name, xs, case.params)
    # A random head gradient for each float output; zero for integer-valued ones (indices).
    hgs = [np.zeros(o.shape) if k in case.index_outputs or not _is_float(o.dtype) else rs.standard_normal(o.shape)
           for k, o in enumerate(outs)]
    grads, _ = autograd_grads(name, xs, case.params, hgs)
    for i, spec in enumerate(case.ins):
        if spec.diff:
            want = numeric_grad(name, xs, case.params, i, hgs)
            compare(name, vi, i, grads[i], want, case.rtol, case.atol)
        else:
            assert np.all(grads[i] == 0), "%s (case %d): input %d takes no gradient, got %s" % (name, vi, i, grads[i])


def _first_order(name, case, xs, hgs, create_graph=False):
    """(arrays, gradients of the differentiable inputs) by autograd.grad."""
    arrays = [mx.nd.array(x, dtype=np.float64) for x in xs]
    diff = [a for a, spec in zip(arrays, case.ins) if spec.diff]
    for a in diff:
        a.attach_grad()
    with mx.autograd.record():
        outs = _call(name, arrays, case.params)
        gs = mx.autograd.grad(outs, diff, head_grads=[mx.nd.array(h, dtype=o.dtype) for h, o in zip(hgs, outs)],
                              create_graph=create_graph)
    return diff, gs


SECOND_ORDER_CASES = [c for c in GRAD_CASES if c[0] not in NO_SECOND_ORDER]


@pytest.mark.parametrize("name", sorted(NO_GRADIENT))
def test_no_gradient_is_a_clear_error(name):
    rs = np.random.RandomState(_seed(name, 7))
    case = NO_GRADIENT[name]
    xs = [mx.nd.array(x, dtype=spec.dtype or np.float64) for x, spec in zip(case.sample(rs), case.ins)]
    for x in xs:
        x.attach_grad()
    with mx.autograd.record():
        y = _call(name, xs, case.params)
    with pytest.raises(mx.BrassError, match="%s: this operator has no gradient" % name):
        mx.autograd.backward(y)
    assert (mx.nd.ones((2,)) + 1).asnumpy().tolist() == [2.0, 2.0]  # still usable


@pytest.mark.parametrize("name", sorted(NO_SECOND_ORDER))
def test_no_second_order_is_a_clear_error(name):
    case = GRADIENTS[name][0] if name in GRADIENTS else Grad(one((2,), domain=(0.7, 1.9)))
    rs = np.random.RandomState(_seed(name, 8))
    xs = [mx.nd.array(x, dtype=np.float64) for x in case.sample(rs)]
    diff = [x for x, spec in zip(xs, case.ins) if spec.diff]
    for x in diff:
        x.attach_grad()
    with mx.autograd.record():
        outs = _call(name, xs, case.params)
        g = mx.autograd.grad(outs, diff, create_graph=True)
    with pytest.raises(mx.BrassError, match="this operator has no gradient"):
        mx.autograd.backward(g)


@pytest.mark.parametrize("name,vi", SECOND_ORDER_CASES, ids=["%s-%d" % c for c in SECOND_ORDER_CASES])
def test_second_order(name, vi):
    """The gradient of the gradient (create_graph=True) against central differences of the
    first-order gradient: d/dx <v, grad(<hg, f(x)>)> for random v."""
    case = GRADIENTS[name][vi]
    rs = np.random.RandomState(_seed(name, 1000 + vi))
    xs = case.sample(rs)
    outs = _forward(name, xs, case.params)
    hgs = [np.zeros(o.shape) if k in case.index_outputs or not _is_float(o.dtype) else rs.standard_normal(o.shape)
           for k, o in enumerate(outs)]
    diff_idx = [i for i, spec in enumerate(case.ins) if spec.diff]
    vs = [rs.standard_normal(xs[i].shape) for i in diff_idx]
    diff, gs = _first_order(name, case, xs, hgs, create_graph=True)
    # The variables are heads too (with zero head gradients), so that a gradient that does not
    # depend on them (linear ops) still has a graph to go back through.
    mx.autograd.backward(list(gs) + diff, [mx.nd.array(v, dtype=np.float64) for v in vs] +
                         [mx.nd.zeros(a.shape, dtype="float64") for a in diff])
    for k, i in enumerate(diff_idx):
        x = xs[i]
        flat = x.reshape(-1)
        want = np.zeros(x.size)
        for j in range(x.size):
            v0 = flat[j]
            if np.isnan(v0):
                continue
            vals = []
            for d in (H, -H):
                flat[j] = v0 + d
                _, g = _first_order(name, case, xs, hgs)
                vals.append(sum(np.sum(gi.asnumpy() * vi) for gi, vi in zip(g, vs)))
            flat[j] = v0
            want[j] = (vals[0] - vals[1]) / ((v0 + H) - (v0 - H))
        compare(name + " (second order)", vi, i, diff[k].grad.asnumpy(), want.reshape(x.shape), 1e-5, 1e-7)


ZERO = dict(NON_DIFF_CASES, **ZERO_VARIANTS)
ZERO_CASES = [(n, vi) for n in sorted(ZERO) for vi in range(len(ZERO[n]))]


@pytest.mark.parametrize("name,vi", ZERO_CASES, ids=["%s-%d" % c for c in ZERO_CASES])
def test_zero_gradient(name, vi):
    """No gradient flows through the op: backward succeeds and every input gets zeros (MXNet's
    MakeZeroGradNodes), also when the op's output is combined with a differentiable path."""
    case = ZERO[name][vi]
    rs = np.random.RandomState(_seed(name, vi))
    xs = case.sample(rs)
    grads, outs = autograd_grads(name, xs, case.params)
    for i, g in enumerate(grads):
        assert np.all(g == 0), "%s (case %d): input %d should get a zero gradient, got %s" % (name, vi, i, g)
    # On a path: y = x0 * op(x...) gives x0 the gradient op(x...) * head_grad, nothing more.
    out = outs[0].asnumpy()
    if out.shape != xs[0].shape or out.dtype != np.float64:
        return
    arrays = [mx.nd.array(x, dtype=np.float64) for x in xs]
    for a in arrays:
        a.attach_grad()
    hg = rs.standard_normal(out.shape)
    with mx.autograd.record():
        y = mx.nd.elemwise_mul(arrays[0], _call(name, arrays, case.params)[0])
    y.backward(mx.nd.array(hg, dtype=np.float64))
    np.testing.assert_allclose(arrays[0].grad.asnumpy(), out * hg, rtol=1e-15, atol=0,
                               err_msg="%s: x * %s(x) should have gradient %s(x) * head_grad" % (name, name, name))
    for a in arrays[1:]:
        assert np.all(a.grad.asnumpy() == 0), name


# ---- completeness --------------------------------------------------------------------------
def registered_ops():
    """name -> number of inputs (-1: variadic) for every registered op."""
    n = ffi.new("int32_t*")
    assert lib.brass_op_count(n) == 0
    ops = {}
    for i in range(n[0]):
        p = ffi.new("const char**")
        assert lib.brass_op_name(i, p) == 0
        name = ffi.string(p[0]).decode()
        op = ffi.new("brass_op_t*")
        assert lib.brass_op_find(name.encode(), op) == 0
        s = [ffi.new("const char**") for _ in range(4)]
        k = [ffi.new("int32_t*") for _ in range(3)]
        assert lib.brass_op_info(op[0], s[0], s[1], k[0], s[2], k[1], k[2], s[3]) == 0
        ops[name] = k[0][0]
    return ops


def test_completeness():
    """Every registered op with inputs is in the gradient table or in NON_DIFFERENTIABLE."""
    ops = registered_ops()
    with_inputs = {n for n, nin in ops.items() if nin != 0}
    unknown = sorted((set(GRADIENTS) | NON_DIFFERENTIABLE | set(ZERO_VARIANTS)) - set(ops))
    assert not unknown, "table names that are not registered ops: %s" % unknown
    both = sorted(set(GRADIENTS) & NON_DIFFERENTIABLE)
    assert not both, "ops both in the gradient table and NON_DIFFERENTIABLE: %s" % both
    missing = sorted(with_inputs - set(GRADIENTS) - NON_DIFFERENTIABLE - set(NO_GRADIENT) - NOT_A_DERIVATIVE)
    assert not missing, "ops with inputs in neither the gradient table nor NON_DIFFERENTIABLE: %s" % missing
    no_inputs_listed = sorted((set(GRADIENTS) | NON_DIFFERENTIABLE) - with_inputs)
    assert not no_inputs_listed, "ops without inputs need no gradient entry: %s" % no_inputs_listed


def test_ops_without_inputs_are_not_recorded():
    """Init and random ops inside record(): constants, nothing to differentiate."""
    x = mx.nd.array(np.array([1.0, 2.0]), dtype=np.float64)
    x.attach_grad()
    with mx.autograd.record():
        c = mx.nd.ones((2,), dtype="float64") + mx.random.uniform(shape=(2,), dtype="float64")
        y = mx.nd.elemwise_mul(x, c)
    y.backward()
    np.testing.assert_allclose(x.grad.asnumpy(), c.asnumpy(), rtol=1e-15)


def test_cast_gradient_has_the_input_dtype():
    x = mx.nd.array(np.array([1.0, -2.0, 3.0]), dtype="float32")
    x.attach_grad()
    hg = np.array([0.5, 2.0, -1.0])
    with mx.autograd.record():
        y = mx.nd.Cast(x, dtype="float64")
    y.backward(mx.nd.array(hg, dtype="float64"))
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.asnumpy(), hg.astype(np.float32))
