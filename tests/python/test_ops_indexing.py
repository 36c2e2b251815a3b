"""Indexing and ordering operators against NumPy references: take, pick, one_hot, where, diag,
_slice_assign(_scalar), topk, sort, argsort, cumsum. Every dtype, edge shapes (0-d,
zero-size, length-1 axes, negative axes), every mode, in-place use, and error messages."""
import numpy as np
import pytest

import brass as mx

# Operators this file tests (read by the completeness test in test_op_table.py).
OPS_COVERED = {"take", "pick", "one_hot", "where", "diag", "_slice_assign", "_slice_assign_scalar",
               "topk", "sort", "argsort", "cumsum"}

DTYPES = ["float32", "float64", "float16", "int32", "int64", "uint8"]
INDEX_DTYPES = ["int32", "int64", "float32", "float64", "uint8", "float16"]


def rand(shape, dtype, seed=0, low=None, high=None):
    """Random data of a dtype; small integer ranges so that ties happen."""
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    if dt.kind == "f":
        return rng.standard_normal(shape).astype(dt)
    if dt.kind == "u":
        lo, hi = (0 if low is None else low), (20 if high is None else high)
        return rng.integers(lo, hi, shape).astype(dt)
    return rng.integers(-10 if low is None else low, 10 if high is None else high, shape).astype(dt)


def nd(a, dtype=None):
    a = np.asarray(a)
    if a.ndim == 0:  # built as (1,) and viewed as 0-d, whatever array() does with 0-d input
        return mx.nd.array(a.reshape(1), dtype=dtype or a.dtype).reshape(())
    return mx.nd.array(a, dtype=dtype or a.dtype)


def check_equal(got, want):
    got = got.asnumpy() if hasattr(got, "asnumpy") else got
    assert got.shape == want.shape, (got.shape, want.shape)
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    np.testing.assert_array_equal(got, want)


def raises(fn, *words):
    """fn() (including waiting for its result) raises BrassError naming every word."""
    with pytest.raises(mx.BrassError) as e:
        r = fn()
        for x in r if isinstance(r, list) else [r]:
            x.asnumpy()
    msg = str(e.value)
    for w in words:
        assert str(w) in msg, (w, msg)
    return msg


def as_index(idx):
    """NumPy's view of Brass index semantics: any dtype, truncated toward zero."""
    return np.trunc(np.asarray(idx, dtype=np.float64)).astype(np.int64)


# ---- take -----------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", ["clip", "wrap"])
@pytest.mark.parametrize("axis", [0, 1, 2, -1, -3])
def test_take(dtype, mode, axis):
    data = rand((4, 5, 3), dtype, seed=1)
    idx = np.array([[0, 2, -1], [7, -6, 4]], dtype=np.int32)
    out = mx.nd.take(nd(data), nd(idx), axis=axis, mode=mode)
    check_equal(out, np.take(data, idx, axis=axis, mode=mode))


@pytest.mark.parametrize("idx_dtype", INDEX_DTYPES)
def test_take_index_dtypes(idx_dtype):
    data = rand((6, 2), "float32")
    if np.dtype(idx_dtype).kind == "f":
        idx = np.array([0.7, 1.9, 5.2, -0.5, 3.0], dtype=idx_dtype)
    else:
        idx = np.array([0, 1, 5, 3, 2], dtype=idx_dtype)
    out = mx.nd.take(nd(data), nd(idx))
    check_equal(out, np.take(data, as_index(idx), axis=0, mode="clip"))


def test_take_default_is_clip_axis0():
    data = np.arange(12, dtype=np.float32).reshape(3, 4)
    idx = np.array([-3, 1, 9], dtype=np.float32)
    check_equal(mx.nd.take(nd(data), nd(idx)), data[[0, 1, 2]])


def test_take_raise_in_range():
    data = rand((3, 4), "int64")
    idx = np.array([[2, 0], [1, 1]], dtype=np.int64)
    check_equal(mx.nd.take(nd(data), nd(idx), axis=0, mode="raise"), np.take(data, idx, axis=0))
    check_equal(mx.nd.take(nd(data), nd(idx), axis=1, mode="raise"), np.take(data, idx, axis=1))


@pytest.mark.parametrize("bad", [3, -1, 100])
def test_take_raise_out_of_range(bad):
    data = nd(rand((3, 4), "float32"))
    idx = nd(np.array([0, bad], dtype=np.int32))
    raises(lambda: mx.nd.take(data, idx, axis=0, mode="raise"), "take", bad, "size 3")


def test_take_edge_shapes():
    data = rand((4, 3), "float64")
    # 0-d indices drop the axis
    check_equal(mx.nd.take(nd(data), nd(np.array(2, dtype=np.int32))), data[2])
    check_equal(mx.nd.take(nd(data), nd(np.array(1.0, dtype=np.float32)), axis=1), data[:, 1])
    # zero-size indices
    check_equal(mx.nd.take(nd(data), nd(np.zeros((0,), np.int32)), axis=1), data[:, :0])
    check_equal(mx.nd.take(nd(data), nd(np.zeros((2, 0), np.int32))), np.zeros((2, 0, 3)))
    # zero-size data on another axis
    z = np.zeros((0, 5), np.float32)
    check_equal(mx.nd.take(nd(z), nd(np.array([4, 1], np.int32)), axis=1),
                np.zeros((0, 2), np.float32))
    # length-1 axis
    one = rand((1, 3), "int32")
    check_equal(mx.nd.take(nd(one), nd(np.array([0, 5, -2], np.int64))), one[[0, 0, 0]])
    # 1-D data
    v = rand((5,), "uint8")
    check_equal(mx.nd.take(nd(v), nd(np.array([[4, 0], [2, 7]], np.int32)), mode="wrap"),
                np.take(v, [[4, 0], [2, 7]], mode="wrap"))


def test_take_errors():
    data = nd(rand((3, 4), "float32"))
    idx = nd(np.array([0, 1], np.int32))
    raises(lambda: mx.nd.take(data, idx, axis=2), "take", "axis")
    raises(lambda: mx.nd.take(data, idx, axis=-3), "take", "axis")
    raises(lambda: mx.nd.take(data, idx, mode="bogus"), "take", "mode")
    raises(lambda: mx.nd.take(nd(np.array(1.0, np.float32)), idx), "take")
    raises(lambda: mx.nd.take(nd(np.zeros((0, 2), np.float32)), idx), "take", "size 0")


# ---- pick -----------------------------------------------------------------------------------


def np_pick(data, index, axis, mode, keepdims):
    n = data.shape[axis]
    j = as_index(index)
    j = np.clip(j, 0, n - 1) if mode == "clip" else np.mod(j, n)
    if not keepdims:
        j = np.expand_dims(j, axis)
    out = np.take_along_axis(data, j, axis)
    return out if keepdims else np.squeeze(out, axis)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("axis", [0, 1, -1, 2, -2])
@pytest.mark.parametrize("mode", ["clip", "wrap"])
@pytest.mark.parametrize("keepdims", [False, True])
def test_pick(dtype, axis, mode, keepdims):
    data = rand((3, 4, 5), dtype, seed=2)
    ishape = list(data.shape)
    if keepdims:
        ishape[axis] = 1
    else:
        del ishape[axis]
    idx = np.random.default_rng(3).integers(-7, 9, ishape).astype(np.float32) + 0.5
    out = mx.nd.pick(nd(data), nd(idx), axis=axis, mode=mode, keepdims=keepdims)
    check_equal(out, np_pick(data, idx, axis, mode, keepdims))


@pytest.mark.parametrize("idx_dtype", INDEX_DTYPES)
def test_pick_default_axis_and_index_dtypes(idx_dtype):
    data = rand((4, 3), "float32")
    idx = np.array([0, 2, 1, 5], dtype=idx_dtype)
    check_equal(mx.nd.pick(nd(data), nd(idx)), np_pick(data, idx, -1, "clip", False))


def test_pick_edge_shapes():
    v = rand((5,), "int64")
    check_equal(mx.nd.pick(nd(v), nd(np.array(3, np.int32))), np.array(v[3]))
    check_equal(mx.nd.pick(nd(v), nd(np.array([3], np.int32))), v[[3]])  # MXNet 1.x index shape
    check_equal(mx.nd.pick(nd(v), nd(np.array([3], np.int32)), keepdims=True), v[[3]])
    z = np.zeros((0, 4), np.float32)
    check_equal(mx.nd.pick(nd(z), nd(np.zeros((0,), np.int32)), axis=1), np.zeros((0,), np.float32))
    one = rand((3, 1), "float16")
    check_equal(mx.nd.pick(nd(one), nd(np.array([0, 4, -1], np.int32)), axis=1), one[:, 0])
    # the index with or without the picked axis, whatever keepdims says (MXNet 1.x)
    m = rand((3, 4), "float32")
    j = np.array([2, 0, 3], np.int32)
    check_equal(mx.nd.pick(nd(m), nd(j), axis=1, keepdims=True), m[np.arange(3), j][:, None])
    check_equal(mx.nd.pick(nd(m), nd(j[:, None]), axis=1), m[np.arange(3), j])
    s = mx.sym.pick(mx.sym.var("d"), mx.sym.var("i"), axis=-1, keepdims=True)
    assert s.infer_shape(d=(3, 4), i=(3,))[1] == [(3, 1)]


def test_pick_errors():
    data = nd(rand((3, 4), "float32"))
    raises(lambda: mx.nd.pick(data, nd(np.zeros((3,), np.int32)), axis=2), "pick", "axis")
    raises(lambda: mx.nd.pick(data, nd(np.zeros((4,), np.int32)), axis=1), "pick", "index")
    raises(lambda: mx.nd.pick(data, nd(np.zeros((3,), np.int32)), axis=None), "pick", "None")
    raises(lambda: mx.nd.pick(data, nd(np.zeros((3,), np.int32)), axis=1, mode="raise"),
           "pick", "mode")


# ---- one_hot --------------------------------------------------------------------------------


def np_one_hot(idx, depth, on=1.0, off=0.0, dtype="float32"):
    j = as_index(idx)
    return np.where(np.arange(depth) == j[..., None], on, off).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("idx_dtype", INDEX_DTYPES)
def test_one_hot(dtype, idx_dtype):
    idx = np.array([[0, 3, 1], [4, 2, 9]], dtype=idx_dtype)
    out = mx.nd.one_hot(nd(idx), depth=5, on_value=7, off_value=2, dtype=dtype)
    check_equal(out, np_one_hot(idx, 5, 7, 2, dtype))


def test_one_hot_defaults_and_out_of_range():
    idx = np.array([1.7, -1, 3, 2, -0.5], dtype=np.float32)
    out = mx.nd.one_hot(nd(idx), depth=3)
    want = np_one_hot(idx, 3)
    check_equal(out, want)
    assert not want[1].any() and not want[2].any()  # negative and too large: all-off rows
    check_equal(mx.nd.one_hot(nd(idx), 3, on_value=-1.5, off_value=0.25, dtype="float64"),
                np_one_hot(idx, 3, -1.5, 0.25, "float64"))


def test_one_hot_edge_shapes():
    check_equal(mx.nd.one_hot(nd(np.array(2, np.int32)), depth=4), np_one_hot(np.array(2), 4))
    i01 = nd(np.array([0, 1], np.int32))
    check_equal(mx.nd.one_hot(nd(np.zeros((0, 3), np.int32)), depth=4),
                np.zeros((0, 3, 4), np.float32))
    check_equal(mx.nd.one_hot(i01, depth=0), np.zeros((2, 0), np.float32))
    check_equal(mx.nd.one_hot(i01, depth=1), np_one_hot(np.array([0, 1]), 1))


def test_one_hot_errors():
    idx = nd(np.array([0, 1], np.int32))
    raises(lambda: mx.nd.one_hot(idx), "one_hot", "depth")
    raises(lambda: mx.nd.one_hot(idx, depth=-1), "one_hot", "depth")


# ---- where ----------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cond_dtype", ["float32", "int32", "uint8", "float64"])
def test_where_same_shape(dtype, cond_dtype):
    x, y = rand((3, 4), dtype, seed=4), rand((3, 4), dtype, seed=5)
    cond = np.random.default_rng(6).integers(-1, 2, (3, 4)).astype(cond_dtype)
    if cond_dtype == "uint8":
        cond = cond.astype(np.int64).clip(0).astype(cond_dtype)
    check_equal(mx.nd.where(nd(cond), nd(x), nd(y)), np.where(cond != 0, x, y))


@pytest.mark.parametrize("dtype", DTYPES)
def test_where_row_condition(dtype):
    x, y = rand((4, 2, 3), dtype, seed=7), rand((4, 2, 3), dtype, seed=8)
    cond = np.array([1, 0, 0, 2], dtype=np.float32)
    check_equal(mx.nd.where(nd(cond), nd(x), nd(y)), np.where(cond[:, None, None] != 0, x, y))


def test_where_edge_cases():
    cond = np.array([np.nan, 0.0, -0.0, 0.5], dtype=np.float32)
    x, y = np.arange(4, dtype=np.float32), -np.arange(4, dtype=np.float32)
    check_equal(mx.nd.where(nd(cond), nd(x), nd(y)), np.where(cond != 0, x, y))  # NaN is true
    s = np.array(1.0, np.float32)
    check_equal(mx.nd.where(nd(np.array(0, np.int32)), nd(s), nd(s * 2)), np.array(2.0, np.float32))
    z = np.zeros((0, 3), np.int64)
    check_equal(mx.nd.where(nd(z), nd(z), nd(z)), z)
    check_equal(mx.nd.where(nd(np.zeros((0,), np.int64)), nd(z), nd(z)), z)
    # in place into x
    xa, ya = nd(x), nd(y)
    mx.nd.where(nd(np.array([1, 0, 1, 0], np.int32)), xa, ya, out=xa)
    check_equal(xa, np.array([0, -1, 2, -3], np.float32))


def test_where_errors():
    x = nd(np.zeros((3, 4), np.float32))
    c = nd(np.zeros((3, 4), np.float32))
    raises(lambda: mx.nd.where(c, x, nd(np.zeros((4, 3), np.float32))), "where", "(4, 3)")
    raises(lambda: mx.nd.where(nd(np.zeros((4,), np.float32)), x, x), "where", "condition")
    raises(lambda: mx.nd.where(nd(np.zeros((3, 2), np.float32)), x, x), "where", "condition")
    raises(lambda: mx.nd.where(c, x, nd(np.zeros((3, 4), np.int32))), "where", "int32")


# ---- diag -----------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k", [-3, -1, 0, 2, 5])
def test_diag_1d_and_2d(dtype, k):
    v = rand((4,), dtype, seed=9)
    check_equal(mx.nd.diag(nd(v), k=k), np.diag(v, k))
    m = rand((4, 6), dtype, seed=10)
    check_equal(mx.nd.diag(nd(m), k=k), np.diag(m, k))
    check_equal(mx.nd.diag(nd(m.T.copy()), k=k), np.diag(m.T, k))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("axes", [(0, 1), (1, 0), (0, 2), (-1, 1), (2, -3), (1, 3)])
@pytest.mark.parametrize("k", [-2, 0, 1])
def test_diag_nd(dtype, axes, k):
    a = rand((3, 4, 5, 2), dtype, seed=11)
    out = mx.nd.diag(nd(a), k=k, axis1=axes[0], axis2=axes[1])
    check_equal(out, np.diagonal(a, offset=k, axis1=axes[0], axis2=axes[1]).copy())


def test_diag_edge_shapes():
    check_equal(mx.nd.diag(nd(np.zeros((0,), np.float32))), np.zeros((0, 0), np.float32))
    check_equal(mx.nd.diag(nd(np.zeros((0,), np.float32)), k=2), np.zeros((2, 2), np.float32))
    check_equal(mx.nd.diag(nd(np.ones((1,), np.int32))), np.ones((1, 1), np.int32))
    check_equal(mx.nd.diag(nd(np.zeros((3, 0), np.float32))), np.zeros((0,), np.float32))
    check_equal(mx.nd.diag(nd(np.zeros((2, 0, 3), np.float32)), axis1=0, axis2=2),
                np.zeros((0, 2), np.float32))
    m = rand((1, 5), "float64")
    check_equal(mx.nd.diag(nd(m), k=3), np.diag(m, 3))


def test_diag_errors():
    raises(lambda: mx.nd.diag(nd(np.array(1.0, np.float32))), "diag")
    m = nd(np.zeros((3, 3), np.float32))
    raises(lambda: mx.nd.diag(m, axis1=1, axis2=1), "diag", "axis")
    raises(lambda: mx.nd.diag(m, axis1=0, axis2=2), "diag", "axis")
    raises(lambda: mx.nd.diag(m, axis1=-3), "diag", "axis")


# ---- _slice_assign, _slice_assign_scalar ----------------------------------------------------

SLICES = [
    ((4, 5), (1, None), (3, None), None),
    ((4, 5), (None, 1), (None, None), (None, 2)),
    ((4, 5, 3), (3, -1), (0, 1), (-1, -2)),
    ((6,), (-4,), (None,), (2,)),
    ((6,), (None,), (None,), (-1,)),
    ((6,), (-2,), (-100,), (-3,)),
    ((4, 5), (0,), (0,), None),
    ((4, 5), (10,), (20,), None),
    ((3, 4), (-10, None), (10, None), (1, -1)),
    ((2, 3, 4), (), (), None),
    ((2, 1, 4), (1, 0, -1), (2, 1, None), None),
]


def py_slices(shape, begin, end, step):
    step = step or (None,) * len(begin)
    return tuple(slice(b, e, s) for b, e, s in zip(begin, end, step)) + (slice(None),) * (
        len(shape) - len(begin))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", range(len(SLICES)))
@pytest.mark.parametrize("how", ["new", "out", "inplace"])
def test_slice_assign(dtype, case, how):
    shape, begin, end, step = SLICES[case]
    lhs = rand(shape, dtype, seed=12)
    sl = py_slices(shape, begin, end, step)
    rhs = rand(lhs[sl].shape, dtype, seed=13)
    want = lhs.copy()
    want[sl] = rhs
    kw = dict(begin=begin, end=end)
    if step is not None:
        kw["step"] = step
    a, b = nd(lhs), nd(rhs)
    if how == "new":
        out = mx.nd._slice_assign(a, b, **kw)
        check_equal(a, lhs)  # the input is untouched
    elif how == "out":
        out = nd(np.zeros(shape, dtype))
        mx.nd._slice_assign(a, b, out=out, **kw)
    else:
        out = mx.nd._slice_assign(a, b, out=a, **kw)
        assert out is a
    check_equal(out, want)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", range(len(SLICES)))
@pytest.mark.parametrize("inplace", [False, True])
def test_slice_assign_scalar(dtype, case, inplace):
    shape, begin, end, step = SLICES[case]
    lhs = rand(shape, dtype, seed=14)
    sl = py_slices(shape, begin, end, step)
    want = lhs.copy()
    want[sl] = 3.75 if np.dtype(dtype).kind == "f" else 3
    kw = dict(begin=begin, end=end, scalar=3.75)
    if step is not None:
        kw["step"] = step
    a = nd(lhs)
    if inplace:
        out = mx.nd._slice_assign_scalar(a, out=a, **kw)
    else:
        out = mx.nd._slice_assign_scalar(a, **kw)
    check_equal(out, want)
    if not inplace:
        check_equal(a, lhs)


def test_slice_assign_syntax_and_0d():
    lhs = np.arange(12, dtype=np.float32).reshape(3, 4)
    want = lhs.copy()
    want[1:, ::2] = -1
    out = mx.nd._slice_assign_scalar(nd(lhs), scalar=-1, begin="(1, None)", end="[None, None]",
                                     step="(None, 2)")
    check_equal(out, want)
    s = np.array(5, np.int32)
    check_equal(mx.nd._slice_assign(nd(s), nd(np.array(9, np.int32)), begin=(), end=()),
                np.array(9, np.int32))
    check_equal(mx.nd._slice_assign_scalar(nd(s), scalar=2, begin=(), end=()),
                np.array(2, np.int32))
    z = np.zeros((0, 3), np.float32)
    check_equal(mx.nd._slice_assign_scalar(nd(z), scalar=1, begin=(None,), end=(None,)), z)


def test_slice_assign_errors():
    lhs = nd(np.zeros((3, 4), np.float32))
    raises(lambda: mx.nd._slice_assign(lhs, nd(np.zeros((2, 4), np.float32)), begin=(0,), end=(1,)),
           "_slice_assign", "(2, 4)", "(1, 4)")
    raises(lambda: mx.nd._slice_assign(lhs, nd(np.zeros((2, 4), np.int32)), begin=(0,), end=(2,)),
           "_slice_assign")
    raises(lambda: mx.nd._slice_assign_scalar(lhs, scalar=1, begin=(0,), end=(2,), step=(0,)),
           "_slice_assign_scalar", "step")
    raises(lambda: mx.nd._slice_assign_scalar(lhs, scalar=1, begin=(0, 0), end=(2,)),
           "_slice_assign_scalar", "same length")
    raises(lambda: mx.nd._slice_assign_scalar(lhs, scalar=1, begin=(0, 0, 0), end=(1, 1, 1)),
           "_slice_assign_scalar")
    raises(lambda: mx.nd._slice_assign_scalar(lhs, scalar=1, begin="(0, x)", end=(1, 1)),
           "_slice_assign_scalar", "begin")


# ---- topk, sort, argsort --------------------------------------------------------------------


def ref_order(x, axis, asc):
    """Stable sort order along an axis, NaN as the largest value (numpy's convention)."""
    if axis is None:
        x, axis = x.reshape(-1), 0
    v = np.moveaxis(x.astype(np.float64), axis, -1)
    rows = v.reshape(-1, v.shape[-1]) if v.size else np.zeros((0, v.shape[-1]))
    out = np.empty(rows.shape, np.int64)
    for r, row in enumerate(rows):
        nan = np.isnan(row)
        if asc:
            key = lambda i: (bool(nan[i]), 0.0 if nan[i] else row[i], i)  # noqa: E731
        else:
            key = lambda i: (not nan[i], 0.0 if nan[i] else -row[i], i)  # noqa: E731
        out[r] = sorted(range(len(row)), key=key)
    return np.moveaxis(out.reshape(v.shape), -1, axis), axis


def ref_topk(x, axis, k, asc, ret_typ, dtype="float32"):
    order, ax = ref_order(x, axis, asc)
    flat = x.reshape(-1) if axis is None else x
    n = flat.shape[ax]
    k = n if k < 1 else k
    idx = np.take(order, np.arange(k), axis=ax)
    val = np.take_along_axis(flat, idx, ax)
    if ret_typ == "mask":
        mask = np.zeros(flat.shape, x.dtype)
        np.put_along_axis(mask, idx, 1, ax)
        return mask.reshape(x.shape)
    if ret_typ == "value":
        return val
    if ret_typ == "indices":
        return idx.astype(dtype)
    return [val, idx.astype(dtype)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("axis", [-1, 0, 1, None])
@pytest.mark.parametrize("ret_typ", ["indices", "value", "mask", "both"])
@pytest.mark.parametrize("is_ascend", [False, True])
def test_topk(dtype, axis, ret_typ, is_ascend):
    x = rand((4, 6, 3), dtype, seed=15, low=0, high=5)  # many ties
    for k in [1, 3, 0]:
        got = mx.nd.topk(nd(x), axis=axis, k=k, ret_typ=ret_typ, is_ascend=is_ascend)
        want = ref_topk(x, axis, k, is_ascend, ret_typ)
        if ret_typ == "both":
            assert isinstance(got, list) and len(got) == 2
            check_equal(got[0], want[0])
            check_equal(got[1], want[1])
        else:
            check_equal(got, want)


@pytest.mark.parametrize("idx_dtype", ["int32", "int64", "uint8", "float16", "float32", "float64"])
def test_topk_index_dtype_and_defaults(idx_dtype):
    x = rand((5, 7), "float32", seed=16)
    check_equal(mx.nd.topk(nd(x)), ref_topk(x, -1, 1, False, "indices"))
    check_equal(mx.nd.topk(nd(x), k=4, dtype=idx_dtype),
                ref_topk(x, -1, 4, False, "indices", idx_dtype))
    v, i = mx.nd.topk(nd(x), k=2, axis=0, ret_typ="both", dtype=idx_dtype)
    check_equal(v, ref_topk(x, 0, 2, False, "value"))
    check_equal(i, ref_topk(x, 0, 2, False, "indices", idx_dtype))


def test_topk_nan_and_edge_shapes():
    x = np.array([[1.0, np.nan, 3.0, -np.inf, np.nan, np.inf]], np.float32)
    for asc in [False, True]:
        for ret in ["indices", "value", "mask"]:
            check_equal(mx.nd.topk(nd(x), k=4, ret_typ=ret, is_ascend=asc),
                        ref_topk(x, -1, 4, asc, ret))
    s = np.array(2.5, np.float32)
    check_equal(mx.nd.topk(nd(s), axis=None), np.array([0], np.float32))
    check_equal(mx.nd.topk(nd(s), axis=None, ret_typ="mask"), np.array(1, np.float32))
    z = np.zeros((0, 4), np.float32)
    check_equal(mx.nd.topk(nd(z), k=2), np.zeros((0, 2), np.float32))
    check_equal(mx.nd.topk(nd(z), k=2, ret_typ="mask"), z)
    check_equal(mx.nd.topk(nd(np.zeros((3, 0), np.int32)), k=0, ret_typ="value"),
                np.zeros((3, 0), np.int32))
    one = rand((3, 1), "int64")
    check_equal(mx.nd.topk(nd(one), ret_typ="value"), one)


def test_topk_errors():
    x = nd(np.zeros((3, 4), np.float32))
    raises(lambda: mx.nd.topk(x, k=5), "topk", "k 5", "size 4")
    raises(lambda: mx.nd.topk(x, k=4, axis=0), "topk", "k 4", "size 3")
    raises(lambda: mx.nd.topk(x, k=13, axis=None), "topk", "13", "12")
    raises(lambda: mx.nd.topk(x, axis=2), "topk", "axis")
    raises(lambda: mx.nd.topk(x, ret_typ="nope"), "topk", "ret_typ")
    raises(lambda: mx.nd.topk(nd(np.zeros((2, 300), np.float32)), dtype="uint8"), "topk", "uint8")
    raises(lambda: mx.nd.topk(nd(np.array(1.0, np.float32))), "topk", "axis")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("axis", [-1, 0, 1, -2, None])
@pytest.mark.parametrize("is_ascend", [True, False])
def test_sort_argsort(dtype, axis, is_ascend):
    x = rand((5, 4, 2), dtype, seed=17, low=0, high=4)
    order, ax = ref_order(x, axis, is_ascend)
    flat = x.reshape(-1) if axis is None else x
    check_equal(mx.nd.sort(nd(x), axis=axis, is_ascend=is_ascend),
                np.take_along_axis(flat, order, ax))
    check_equal(mx.nd.argsort(nd(x), axis=axis, is_ascend=is_ascend), order.astype(np.float32))
    check_equal(mx.nd.argsort(nd(x), axis=axis, is_ascend=is_ascend, dtype="int64"), order)


def test_sort_defaults_nan_and_edges():
    x = np.array([[3, np.nan, 1, 2, np.nan, -np.inf, 1]], np.float64)
    check_equal(mx.nd.sort(nd(x)), np.sort(x, axis=-1))
    check_equal(mx.nd.argsort(nd(x)), np.argsort(x, axis=-1, kind="stable").astype(np.float32))
    check_equal(mx.nd.sort(nd(x), is_ascend=False), ref_topk(x, -1, 0, False, "value"))
    check_equal(mx.nd.sort(nd(np.array(4, np.int32)), axis=None), np.array([4], np.int32))
    check_equal(mx.nd.sort(nd(np.zeros((2, 0), np.float16))), np.zeros((2, 0), np.float16))
    check_equal(mx.nd.argsort(nd(np.zeros((0, 3), np.uint8)), axis=0), np.zeros((0, 3), np.float32))
    big = np.random.default_rng(18).standard_normal((3, 5000)).astype(np.float32)
    check_equal(mx.nd.sort(nd(big)), np.sort(big, axis=-1))
    check_equal(mx.nd.argsort(nd(big), dtype="int64"), np.argsort(big, axis=-1, kind="stable"))


def test_sort_errors():
    x = nd(np.zeros((3, 4), np.float32))
    raises(lambda: mx.nd.sort(x, axis=2), "sort", "axis")
    raises(lambda: mx.nd.argsort(x, axis=-3), "argsort", "axis")
    raises(lambda: mx.nd.argsort(nd(np.zeros((300,), np.float32)), dtype="uint8"),
           "argsort", "uint8")
    raises(lambda: mx.nd.argsort(x, dtype="int8"), "argsort", "dtype")


# ---- cumsum ---------------------------------------------------------------------------------


def ref_cumsum(x, axis, dtype):
    out_dt = np.dtype(dtype) if dtype else (np.dtype(np.int64) if x.dtype == np.bool_ else x.dtype)
    if out_dt.kind == "f":
        return np.cumsum(x.astype(out_dt).astype(np.float64), axis=axis).astype(out_dt)
    with np.errstate(over="ignore"):
        return np.cumsum(x.astype(out_dt), axis=axis, dtype=out_dt)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("axis", [None, 0, 1, -1, -3])
@pytest.mark.parametrize("out_dtype", [None, "float64", "int32"])
def test_cumsum(dtype, axis, out_dtype):
    x = rand((3, 4, 5), dtype, seed=19)
    got = mx.nd.cumsum(nd(x), axis=axis, dtype=out_dtype).asnumpy()
    want = ref_cumsum(x, axis, out_dtype)
    assert got.shape == want.shape and got.dtype == want.dtype
    if want.dtype == np.float16:
        np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64),
                                   rtol=2e-3, atol=2e-2)
    elif want.dtype.kind == "f":
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    else:
        np.testing.assert_array_equal(got, want)


def test_cumsum_edges():
    check_equal(mx.nd.cumsum(nd(np.array(3.0, np.float32))), np.array([3.0], np.float32))
    check_equal(mx.nd.cumsum(nd(np.zeros((0, 3), np.int32)), axis=1), np.zeros((0, 3), np.int32))
    check_equal(mx.nd.cumsum(nd(np.zeros((0, 3), np.int32))), np.zeros((0,), np.int32))
    b = np.array([True, False, True, True])
    check_equal(mx.nd.cumsum(nd(b)), np.cumsum(b))
    u = np.array([200, 100, 50], np.uint8)
    check_equal(mx.nd.cumsum(nd(u)), np.cumsum(u, dtype=np.uint8))  # wraps like numpy
    check_equal(mx.nd.cumsum(nd(u), dtype="int64"), np.cumsum(u, dtype=np.int64))
    f = np.array([1.5, 1.5, -2.7], np.float32)
    check_equal(mx.nd.cumsum(nd(f), dtype="int32"), np.cumsum(f.astype(np.int32), dtype=np.int32))
    # in place along an axis
    x = np.arange(6, dtype=np.float64).reshape(2, 3)
    a = nd(x)
    mx.nd.cumsum(a, axis=0, out=a)
    check_equal(a, np.cumsum(x, axis=0))


def test_cumsum_errors():
    x = nd(np.zeros((3, 4), np.float32))
    raises(lambda: mx.nd.cumsum(x, axis=2), "cumsum", "axis")
    raises(lambda: mx.nd.cumsum(nd(np.array(1.0, np.float32)), axis=0), "cumsum", "axis")
    raises(lambda: mx.nd.cumsum(x, dtype="nonsense"), "cumsum", "dtype")


# ---- sizes past the parallel grain (several chunks per op) ----------------------------------


def test_large_inputs_run_in_parallel_chunks():
    rng = np.random.default_rng(20)
    data = rng.standard_normal((400, 300)).astype(np.float32)
    idx = rng.integers(-5, 420, (700,)).astype(np.int64)
    check_equal(mx.nd.take(nd(data), nd(idx), mode="wrap"), np.take(data, idx, axis=0, mode="wrap"))
    check_equal(mx.nd.take(nd(data), nd(idx), axis=1), np.take(data, idx, axis=1, mode="clip"))
    pidx = rng.integers(0, 300, (400,)).astype(np.int32)
    check_equal(mx.nd.pick(nd(data), nd(pidx)), data[np.arange(400), pidx])
    check_equal(mx.nd.one_hot(nd(pidx), depth=300), np_one_hot(pidx, 300))
    cond = (data > 0).astype(np.uint8)
    check_equal(mx.nd.where(nd(cond), nd(data), nd(-data)), np.abs(data))
    check_equal(mx.nd.diag(nd(data.reshape(400, 3, 100)), axis1=1, axis2=2, k=-1),
                np.diagonal(data.reshape(400, 3, 100), -1, 1, 2).copy())
    want = data.copy()
    want[3:390:2, ::-3] = 7
    a = nd(data)
    mx.nd._slice_assign_scalar(a, scalar=7, begin=(3, None), end=(390, None), step=(2, -3), out=a)
    check_equal(a, want)
    check_equal(mx.nd.sort(nd(data), axis=0), np.sort(data, axis=0))
    order, _ = ref_order(data[:, :40], -1, False)
    check_equal(mx.nd.topk(nd(data[:, :40].copy()), k=3, dtype="int64"), order[:, :3])
    np.testing.assert_allclose(mx.nd.cumsum(nd(data), axis=0).asnumpy(), np.cumsum(data, axis=0),
                               rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(mx.nd.cumsum(nd(data.astype(np.float64))).asnumpy(),
                               np.cumsum(data.astype(np.float64)), rtol=1e-9, atol=1e-9)


# ---- the ops that gradients are built from ---------------------------------------------------
# reshape_like and the gradient ops of the shape, indexing and ordering operators: forward
# values against NumPy (their own gradients are checked in test_gradients.py).


def check_sum(got, want, dtype):
    """Sums: exact for integers, a few roundings apart for floats."""
    got = got.asnumpy()
    assert got.shape == want.shape and got.dtype == np.dtype(dtype), (got.shape, want.shape, got.dtype)
    tol = {"float16": 2e-3, "float32": 1e-5}.get(dtype, 1e-12)
    np.testing.assert_allclose(got.astype(np.float64), want.astype(np.dtype(dtype)).astype(np.float64),
                               rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_reshape_like(dtype):
    x = rand((2, 3, 4), dtype)
    check_equal(mx.nd.reshape_like(nd(x), nd(np.zeros((4, 6), np.float32))), x.reshape(4, 6))
    check_equal(mx.nd.reshape_like(nd(x), nd(np.zeros((6, 7))), lhs_begin=0, lhs_end=2, rhs_begin=0, rhs_end=1),
                x.reshape(6, 4))
    check_equal(mx.nd.reshape_like(nd(x), nd(np.zeros((7, 2, 2))), lhs_begin=-1, rhs_begin=1),
                x.reshape(2, 3, 2, 2))
    check_equal(mx.nd.reshape_like(nd(np.zeros((0, 3), dtype)), nd(np.zeros((3, 0)))), np.zeros((3, 0), dtype))
    raises(lambda: mx.nd.reshape_like(nd(x), nd(np.zeros((5, 5)))), "reshape_like", "(2, 3, 4)", "(5, 5)")
    raises(lambda: mx.nd.reshape_like(nd(x), nd(np.zeros((5,))), lhs_begin=2, lhs_end=1), "reshape_like", "lhs")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_backward_concat(dtype, dim):
    xs = [np.zeros((2, 3, 4), np.float32), np.zeros((2, 3, 4), np.float32)]
    xs[1] = np.zeros(tuple(5 if d == dim % 3 else s for d, s in enumerate((2, 3, 4))), np.float32)
    total = xs[0].shape[dim % 3] + 5
    gshape = tuple(total if d == dim % 3 else s for d, s in enumerate((2, 3, 4)))
    g = rand(gshape, dtype, seed=3)
    parts = mx.nd._backward_Concat(nd(g), *[nd(x) for x in xs], num_args=2, dim=dim)
    first = xs[0].shape[dim % 3]
    want = np.split(g, [first], axis=dim % 3)
    assert len(parts) == 2
    for p, w in zip(parts, want):
        check_equal(p, w)
    raises(lambda: mx.nd._backward_Concat(nd(g), nd(xs[0]), nd(xs[0]), num_args=2, dim=dim),
           "_backward_Concat", "ograd")


def _put(shape, region, g):
    z = np.zeros(shape, g.dtype)
    z[region] = g
    return z


@pytest.mark.parametrize("dtype", DTYPES)
def test_backward_slice_family(dtype):
    d = np.zeros((3, 4, 5), np.float32)
    for begin, end, step, region in [((0, 1), (2, None), (), np.s_[0:2, 1:]),
                                     ((None, None, 4), (None, None, 0), (1, 2, -1), np.s_[:, ::2, 4:0:-1]),
                                     ((-1,), (None,), (-2,), np.s_[-1::-2])]:
        g = rand(d[region].shape, dtype, seed=4)
        check_equal(mx.nd._backward_slice(nd(g), nd(d), begin=begin, end=end, step=step),
                    _put(d.shape, region, g))
    g = rand((3, 2, 5), dtype, seed=5)
    check_equal(mx.nd._backward_slice_axis(nd(g), nd(d), axis=1, begin=-3, end=-1), _put(d.shape, np.s_[:, 1:3], g))
    g = rand((3, 4, 1), dtype, seed=6)
    check_equal(mx.nd._backward_slice_axis(nd(g), nd(d), axis=-1, begin=4, end=None), _put(d.shape, np.s_[..., 4:], g))
    g = rand((2, 4, 3), dtype, seed=7)
    check_equal(mx.nd._backward_slice_like(nd(g), nd(d)), _put(d.shape, np.s_[:2, :, :3], g))
    # zero-size regions and data
    check_equal(mx.nd._backward_slice_axis(nd(np.zeros((3, 0, 5), dtype)), nd(d), axis=1, begin=2, end=2),
                np.zeros(d.shape, dtype))
    check_equal(mx.nd._backward_slice_like(nd(np.zeros((0, 2), dtype)), nd(np.zeros((0, 3)))), np.zeros((0, 3), dtype))
    raises(lambda: mx.nd._backward_slice(nd(rand((2, 2, 5), dtype)), nd(d), begin=(0, 1), end=(2, None)),
           "_backward_slice", "ograd")
    raises(lambda: mx.nd._backward_slice_like(nd(rand((4, 4, 5), dtype)), nd(d)), "_backward_slice_like", "larger")


def _tile_grad(g, shape, reps):
    nd_ = g.ndim
    s = (1,) * (nd_ - len(shape)) + tuple(shape)
    r = (1,) * (nd_ - len(reps)) + tuple(reps)
    split = g.astype(np.float64).reshape([v for pair in zip(r, s) for v in pair])
    return split.sum(axis=tuple(range(0, 2 * nd_, 2))).reshape(shape)


@pytest.mark.parametrize("dtype", DTYPES)
def test_backward_tile_repeat(dtype):
    for shape, reps in [((2, 3), (2, 1)), ((2, 3), (3,)), ((2, 3), (1, 2, 2)), ((), (4,)), ((3, 0), (2, 2)),
                        ((1, 50001), (2, 1)), ((2, 3), (0, 1))]:
        gshape = np.tile(np.zeros(shape), reps).shape
        g = rand(gshape, dtype, seed=8, low=0, high=5)
        check_sum(mx.nd._backward_tile(nd(g), nd(np.zeros(shape)), reps=reps), _tile_grad(g, shape, reps), dtype)
    for shape, repeats, axis in [((2, 3), 3, 1), ((2, 3), 2, -2), ((2, 3), 2, None), ((4,), 0, 0), ((), 3, None),
                                 ((70001,), 2, None)]:
        gshape = np.repeat(np.zeros(shape), repeats, axis=axis).shape
        g = rand(gshape, dtype, seed=9, low=0, high=5)
        if axis is None:
            want = g.astype(np.float64).reshape(-1, repeats).sum(axis=1).reshape(shape) if repeats else np.zeros(shape)
        else:
            ax = axis % len(shape)
            split = g.astype(np.float64).reshape(shape[:ax] + (shape[ax], repeats) + shape[ax + 1:])
            want = split.sum(axis=ax + 1)
        check_sum(mx.nd._backward_repeat(nd(g), nd(np.zeros(shape)), repeats=repeats, axis=axis), want, dtype)
    raises(lambda: mx.nd._backward_tile(nd(np.zeros((4, 4), dtype)), nd(np.zeros((2, 3))), reps=(2, 1)),
           "_backward_tile", "ograd")


def np_take_grad(g, idx, shape, axis, mode):
    n = shape[axis]
    j = as_index(idx).reshape(-1)
    j = np.clip(j, 0, n - 1) if mode == "clip" else np.mod(j, n)
    outer, inner = int(np.prod(shape[:axis])), int(np.prod(shape[axis + 1:]))
    z = np.zeros((outer, n, inner))
    gv = g.astype(np.float64).reshape(outer, j.size, inner)
    for t, v in enumerate(j):
        z[:, v, :] += gv[:, t, :]
    return z.reshape(shape)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", ["clip", "wrap"])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_backward_take(dtype, mode, axis):
    shape = (4, 5, 3)
    idx = np.array([[0, 2, -1], [7, 2, 2]], dtype=np.int32)
    gshape = np.take(np.zeros(shape), idx, axis=axis, mode="clip").shape
    g = rand(gshape, dtype, seed=10, low=0, high=5)
    got = mx.nd._backward_take(nd(g), nd(idx), nd(np.zeros(shape, np.float32)), axis=axis, mode=mode)
    check_sum(got, np_take_grad(g, idx, shape, axis % 3, mode), dtype)


def test_backward_take_edges_and_errors():
    g = rand((3, 2), "float32")
    check_equal(mx.nd._backward_take(nd(np.zeros((0, 2), np.float32)), nd(np.zeros((0,), np.int64)),
                                     nd(np.zeros((3, 2)))), np.zeros((3, 2), np.float32))
    check_sum(mx.nd._backward_take(nd(g), nd(np.array([1.7, 1.2, 0.0], np.float32)), nd(np.zeros((2, 2))),
                                   mode="raise"), np_take_grad(g, np.array([1, 1, 0]), (2, 2), 0, "clip"), "float32")
    raises(lambda: mx.nd._backward_take(nd(g), nd(np.array([0, 2, 1], np.int32)), nd(np.zeros((2, 2))),
                                        mode="raise"), "take", "index 2", "size 2")
    raises(lambda: mx.nd._backward_take(nd(g), nd(np.array([0, 1], np.int32)), nd(np.zeros((2, 2)))),
           "_backward_take", "ograd")
    # many rows onto few: every column sums in index order
    rng = np.random.default_rng(11)
    big = rng.standard_normal((3000, 70))
    idx = rng.integers(0, 5, (3000,))
    check_sum(mx.nd._backward_take(nd(big), nd(idx), nd(np.zeros((5, 70)))),
              np_take_grad(big, idx, (5, 70), 0, "clip"), "float64")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("axis,keepdims", [(-1, False), (0, False), (1, True)])
def test_backward_pick(dtype, axis, keepdims):
    shape = (3, 4)
    idx = np.array([0, 3, 9], np.int64) if axis % 2 == 1 else np.array([2, 0, -1, 1], np.int64)
    if keepdims:
        idx = idx.reshape(3, 1)
    g = rand(idx.shape, dtype, seed=12)
    got = mx.nd._backward_pick(nd(g), nd(idx), nd(np.zeros(shape)), axis=axis, keepdims=keepdims, mode="wrap")
    n = shape[axis]
    j = np.mod(idx.reshape(-1), n)
    want = np.zeros(shape, dtype)
    for r, v in enumerate(j):
        if axis % 2 == 1:
            want[r, v] = g.reshape(-1)[r]
        else:
            want[v, r] = g.reshape(-1)[r]
    check_equal(got, want)


@pytest.mark.parametrize("dtype", DTYPES)
def test_backward_diag(dtype):
    for shape, k, a1, a2 in [((4, 4), 0, 0, 1), ((3, 5), 1, 0, 1), ((5, 3), -2, 0, 1), ((2, 3, 4), 1, 2, 0),
                             ((2, 3), 5, 0, 1)]:
        z = np.zeros(shape, dtype)
        g = rand(np.diagonal(z, k, a1, a2).shape, dtype, seed=13)
        got = mx.nd._backward_diag(nd(g), nd(z), k=k, axis1=a1, axis2=a2)
        want = z.copy()
        view = np.moveaxis(want, (a1, a2), (-2, -1))
        r0, c0 = max(-k, 0), max(k, 0)
        for l in range(g.shape[-1]):
            view[..., r0 + l, c0 + l] = g[..., l]
        check_equal(got, want)
    # 1-D data: diagonal k of the (n + |k|)-square gradient
    for k in (0, 2, -1):
        g = rand((3 + abs(k), 3 + abs(k)), dtype, seed=14)
        check_equal(mx.nd._backward_diag(nd(g), nd(np.zeros(3, dtype)), k=k), np.diagonal(g, k).copy())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("idx_dtype", ["int64", "int32", "float32"])
def test_gather_scatter_along_axis(dtype, idx_dtype):
    data = rand((3, 4, 2), dtype, seed=15)
    for axis in (0, 1, -1):
        ax = axis % 3
        kshape = tuple(5 if d == ax else s for d, s in enumerate(data.shape))
        idx = np.random.default_rng(16).integers(0, data.shape[ax], kshape)
        got = mx.nd._gather_along_axis(nd(data), nd(idx, idx_dtype), axis=axis)
        check_equal(got, np.take_along_axis(data, idx, axis=ax))
        v = rand(kshape, dtype, seed=17, low=0, high=5)
        want = np.zeros(data.shape)
        np.add.at(want, tuple(idx if d == ax else np.indices(kshape)[d] for d in range(3)), v.astype(np.float64))
        check_sum(mx.nd._scatter_along_axis(nd(v), nd(idx, idx_dtype), nd(data), axis=axis), want, dtype)
    idx = np.array([[5, 0], [23, 5]])
    check_equal(mx.nd._gather_along_axis(nd(data), nd(idx), axis=None), data.reshape(-1)[idx])
    v = rand((2, 2), dtype, seed=18, low=0, high=5)
    want = np.zeros(24)
    np.add.at(want, idx.reshape(-1), v.reshape(-1).astype(np.float64))
    check_sum(mx.nd._scatter_along_axis(nd(v), nd(idx), nd(data), axis=None), want.reshape(data.shape), dtype)


def test_gather_scatter_along_axis_edges_and_errors():
    d = nd(rand((3, 4), "float32"))
    check_equal(mx.nd._gather_along_axis(d, nd(np.zeros((3, 0), np.int64)), axis=1), np.zeros((3, 0), np.float32))
    check_equal(mx.nd._scatter_along_axis(nd(np.zeros((0, 4), np.float32)), nd(np.zeros((0, 4), np.int64)), d,
                                          axis=0), np.zeros((3, 4), np.float32))
    raises(lambda: mx.nd._gather_along_axis(d, nd(np.array([[0], [4], [1]])), axis=1), "_gather_along_axis",
           "index 4", "size 4")
    raises(lambda: mx.nd._gather_along_axis(d, nd(np.array([[0], [-1], [1]])), axis=1), "_gather_along_axis",
           "index -1")
    raises(lambda: mx.nd._scatter_along_axis(nd(np.ones((1, 4), np.float32)), nd(np.array([[3, 0, 0, 1]])), d,
                                             axis=0), "_scatter_along_axis", "index 3", "size 3")
    raises(lambda: mx.nd._gather_along_axis(d, nd(np.zeros((2, 2), np.int64)), axis=1), "_gather_along_axis",
           "do not match")
    raises(lambda: mx.nd._scatter_along_axis(nd(np.ones((3, 2), np.float32)), nd(np.zeros((3, 1), np.int64)), d,
                                             axis=1), "_scatter_along_axis", "values")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("axis", [None, 0, 1, -1])
def test_backward_cumsum(dtype, axis):
    shape = (3, 4, 5)
    gdt = "float64" if dtype == "float16" else dtype
    g = rand((60,) if axis is None else shape, gdt, seed=19, low=0, high=5)
    got = mx.nd._backward_cumsum(nd(g), nd(np.zeros(shape, dtype)), axis=axis)
    ax = 0 if axis is None else axis
    want = np.flip(np.cumsum(np.flip(g.astype(np.float64), ax), ax), ax).reshape(shape)
    check_sum(got, want, dtype)
    raises(lambda: mx.nd._backward_cumsum(nd(np.zeros((3, 4), dtype)), nd(np.zeros(shape, dtype)), axis=axis),
           "_backward_cumsum", "ograd")


OPS_COVERED |= {"reshape_like", "_backward_Concat", "_backward_slice", "_backward_slice_axis",
                "_backward_slice_like", "_backward_tile", "_backward_repeat", "_backward_take",
                "_backward_pick", "_backward_diag", "_gather_along_axis", "_scatter_along_axis",
                "_backward_cumsum"}
