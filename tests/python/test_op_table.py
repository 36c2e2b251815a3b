"""Every registered operator against a numpy reference: dtypes, edge shapes (0-d, zero-size,
broadcasting, sizes past a parallel chunk), inputs that are views, in-place use, NaN/inf.
The completeness test fails when the registry holds an op that no table covers."""
import math
import warnings

import ml_dtypes
import numpy as np
import pytest

import brass as mx
from op_table import BINARY, REDUCE, UNARY, F

BF16 = np.dtype(ml_dtypes.bfloat16)


def npdt(name):
    return BF16 if name == "bfloat16" else np.dtype(name)


def is_float(name):
    return name in ("float32", "float64", "float16", "bfloat16")


def make(shape, dtype, domain, seed):
    rs = np.random.RandomState(seed)
    lo, hi = domain
    if is_float(dtype):
        x = rs.uniform(lo, hi, size=shape)
    elif dtype == "bool":
        x = rs.randint(0, 2, size=shape)
    else:
        info = np.iinfo(np.dtype(dtype))
        a, b = max(math.floor(lo) - 2, info.min, -20), min(math.ceil(hi) + 3, info.max, 20)
        if b <= a:
            b = a + 5
        x = rs.randint(a, b, size=shape)
    return x.astype(npdt(dtype))


def tol(dtype, rtol=None):
    return {"float32": (1e-5, 1e-6), "float64": (1e-12, 1e-13), "float16": (2e-3, 2e-3),
            "bfloat16": (1.6e-2, 1.6e-2)}.get(dtype, (0, 0)) if rtol is None else (rtol, rtol)


def to_int_like(v, dtype):
    """MXNet's float -> integer conversion: NaN -> 0, clamp to the range, truncate."""
    if dtype == "bool":
        return np.asarray(v) != 0
    info = np.iinfo(np.dtype(dtype))
    v = np.nan_to_num(np.asarray(v, dtype=np.float64), nan=0.0, posinf=float(info.max), neginf=float(info.min))
    v = np.clip(np.trunc(v), float(info.min), float(info.max))
    return v.astype(np.dtype(dtype))


def expect_cast(ref, dtype, compute_int=False):
    if is_float(dtype):
        return np.asarray(ref, dtype=np.float64).astype(npdt(dtype))
    if compute_int:
        return np.asarray(ref).astype(np.dtype(dtype))  # integer math wraps
    return to_int_like(ref, dtype)


def check(got, want, dtype, rtol=None):
    got = np.asarray(got)
    want = np.asarray(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    r, a = tol(dtype, rtol)
    if is_float(dtype):
        np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=r, atol=a, equal_nan=True)
    else:
        np.testing.assert_array_equal(got, want)


def as_view(x):
    """The same values as an NDArray that is a view into larger storage (offset 1 row)."""
    if x.ndim == 0 or x.shape[0] == 0:
        return mx.nd.array(x, dtype=x.dtype)
    pad = np.zeros((1,) + x.shape[1:], dtype=x.dtype)
    big = mx.nd.array(np.concatenate([pad, x, pad]), dtype=x.dtype)
    v = big[1:1 + x.shape[0]]
    assert v.shape == x.shape
    return v


# Integer-native ops compute in integers (wrapping); the rest convert through double.
INT_NATIVE = {"abs", "sign", "negative", "square", "relu", "logical_not", "floor", "ceil", "round", "rint",
              "trunc", "fix", "_copy", "BlockGrad", "zeros_like", "ones_like"}


def unary_ref(name, case, x, dtype):
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        if is_float(dtype):
            return expect_cast(case.ref(x.astype(np.float64)), dtype)
        if name in INT_NATIVE:
            big = x.astype(np.uint64 if dtype == "uint64" else np.int64)
            return np.asarray(case.ref(big)).astype(np.int64 if dtype != "uint64" else np.uint64).astype(np.dtype(dtype))
        return to_int_like(case.ref(x.astype(np.float64)), dtype)


UNARY_CASES = [(n, d, s) for n, c in UNARY.items() for d in c.dtypes for s in c.shapes]


@pytest.mark.parametrize("name,dtype,shape", UNARY_CASES)
def test_unary(name, dtype, shape):
    case = UNARY[name]
    x = make(shape, dtype, case.domain, seed=len(shape) * 7 + 1)
    want = unary_ref(name, case, x, dtype)
    fn = getattr(mx.nd, name)
    got = fn(mx.nd.array(x, dtype=x.dtype))
    assert np.dtype(got.dtype) == npdt(dtype)
    check(got.asnumpy(), want, dtype)
    # a view input, and writing into a given array / in place
    check(fn(as_view(x)).asnumpy(), want, dtype)
    if case.inplace:
        a = mx.nd.array(x, dtype=x.dtype)
        fn(a, out=a)
        check(a.asnumpy(), want, dtype)


@pytest.mark.parametrize("name", sorted(n for n, c in UNARY.items() if c.special))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_unary_special_values(name, dtype):
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 0.5], dtype=dtype)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        want = np.asarray(UNARY[name].ref(x.astype(np.float64))).astype(dtype)
    got = getattr(mx.nd, name)(mx.nd.array(x, dtype=dtype)).asnumpy()
    if name in ("gamma", "gammaln", "erfinv"):  # special-function edge conventions differ
        finite = np.isfinite(want) & np.isfinite(got)
        np.testing.assert_allclose(got[finite], want[finite], rtol=1e-5, atol=1e-12)
        return
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, equal_nan=True)


def binary_np(case, a, b, dtype):
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        if is_float(dtype):
            return expect_cast(case.ref(a.astype(np.float64), b.astype(np.float64)), dtype)
        wide = np.uint64 if dtype == "uint64" else np.int64
        return np.asarray(case.ref(a.astype(wide), b.astype(wide))).astype(wide).astype(np.dtype(dtype))


BINARY_ARRAY = [(n, d, s) for n, c in BINARY.items() if c.nin == 2 for d in c.dtypes for s in c.shapes]


@pytest.mark.parametrize("name,dtype,shapes", BINARY_ARRAY)
def test_binary(name, dtype, shapes):
    case = BINARY[name]
    x = make(shapes[0], dtype, case.domain, seed=3)
    y = make(shapes[1], dtype, case.domain, seed=4)
    if name.endswith("mod") or name.endswith("div"):
        y = np.where(y == 0, np.ones_like(y), y)
    want = binary_np(case, x, y, dtype)
    fn = getattr(mx.nd, name)
    got = fn(mx.nd.array(x, dtype=x.dtype), mx.nd.array(y, dtype=y.dtype))
    check(got.asnumpy(), want, dtype)
    check(fn(as_view(x), as_view(y)).asnumpy(), want, dtype)
    if want.shape == x.shape:
        a = mx.nd.array(x, dtype=x.dtype)
        fn(a, mx.nd.array(y, dtype=y.dtype), out=a)
        check(a.asnumpy(), want, dtype)


def scalar_value(s, dtype):
    if is_float(dtype):
        return np.float64(s)
    return to_int_like(s, dtype).astype(np.int64)


SCALAR_CASES = [(n, d, s, i) for n, c in BINARY.items() if c.nin == 1 for d in c.dtypes
                for s in [(7,), (), (0,), (2, 3), (70001,)] for i in range(len(c.params))]


@pytest.mark.parametrize("name,dtype,shape,pi", SCALAR_CASES)
def test_scalar(name, dtype, shape, pi):
    case = BINARY[name]
    params = case.params[pi]
    x = make(shape, dtype, case.domain, seed=5)
    if case.kind == "rscalar" and name in ("_rdiv_scalar", "_rmod_scalar"):
        x = np.where(x == 0, np.ones_like(x), x)
    s = scalar_value(params["scalar"], dtype)
    sv = np.full(x.shape, s, dtype=np.float64 if is_float(dtype) else np.int64)
    if case.kind == "rscalar":
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            if is_float(dtype):
                want = expect_cast(case.ref(sv, x.astype(np.float64)), dtype)
            else:
                want = np.asarray(case.ref(sv, x.astype(np.int64))).astype(np.int64).astype(np.dtype(dtype))
    else:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            if is_float(dtype):
                want = expect_cast(case.ref(x.astype(np.float64), sv), dtype)
            else:
                wide = np.uint64 if dtype == "uint64" else np.int64
                want = np.asarray(case.ref(x.astype(wide), sv.astype(wide))).astype(wide).astype(np.dtype(dtype))
    fn = getattr(mx.nd, name)
    got = fn(mx.nd.array(x, dtype=x.dtype), **params)
    check(got.asnumpy(), want, dtype)
    a = as_view(x)
    fn(a, out=a, **params)
    check(a.asnumpy(), want, dtype)


REDUCE_CASES = [(n, d, s, i) for n, c in REDUCE.items() for d in c.dtypes for s in c.shapes
                for i in range(len(c.params))]


@pytest.mark.parametrize("name,dtype,shape,pi", REDUCE_CASES)
def test_reduce(name, dtype, shape, pi):
    case = REDUCE[name]
    params = dict(case.params[pi])
    nd = len(shape)
    ax = params.get("axis")
    axes = ax if isinstance(ax, tuple) else ((ax,) if ax is not None else ())
    if any(a >= nd or a < -nd for a in axes):
        with pytest.raises(mx.BrassError, match="out of range"):
            getattr(mx.nd, name)(mx.nd.zeros(shape, dtype=dtype), **params).wait_to_read()
        return
    x = make(shape, dtype, case.domain, seed=6)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        ref = case.ref(x.astype(np.float64) if is_float(dtype) else x.astype(np.int64), **params)
    want = expect_cast(ref, dtype, compute_int=not is_float(dtype))
    if case.kind == "arg":
        want = np.asarray(ref).astype(npdt(dtype))
    got = getattr(mx.nd, name)(mx.nd.array(x, dtype=x.dtype), **params)
    check(got.asnumpy(), want, dtype, rtol=(5e-5 if dtype == "float32" and name in ("prod", "nanprod") else None))


def test_reduce_nan_rules():
    x = np.array([[1.0, np.nan, 3.0], [4.0, 5.0, 6.0]], dtype=np.float32)
    a = mx.nd.array(x)
    np.testing.assert_array_equal(mx.nd.max(a, axis=1).asnumpy(), [np.nan, 6.0])
    np.testing.assert_array_equal(mx.nd.nansum(a, axis=1).asnumpy(), [4.0, 15.0])
    np.testing.assert_array_equal(mx.nd.argmax(a, axis=1).asnumpy(), [1, 2])


@pytest.mark.parametrize("dt,ord", [("float16", 2), ("float32", 1), ("float32", 2), ("float64", 2),
                                    ("int32", 1)])
@pytest.mark.parametrize("out", ["float16", "float32", "float64"])
def test_norm_out_dtype(dt, ord, out):
    """norm's result in another dtype: computed in the input's accumulator, rounded once."""
    x = np.random.RandomState(0).uniform(-3, 3, (3, 4, 5)).astype(dt)
    got = mx.nd.norm(mx.nd.array(x, dtype=dt), ord=ord, axis=1, out_dtype=out)
    assert np.dtype(got.dtype) == np.dtype(out) and got.shape == (3, 5)
    x64 = x.astype(np.float64)
    want = np.abs(x64).sum(axis=1) if ord == 1 else np.sqrt((x64 * x64).sum(axis=1))
    tight = "float16" not in (dt, out)
    np.testing.assert_allclose(got.asnumpy().astype(np.float64), want, rtol=1e-6 if tight else 2e-3)


def test_reduce_is_thread_count_independent():
    # Fixed-size partial sums: the same bits whatever the split (checked against a serial sum
    # of the same blocks).
    x = np.random.RandomState(0).randn(1 << 20).astype(np.float32)
    got = mx.nd.sum(mx.nd.array(x)).asnumpy()[0]
    blocks = [x[i:i + 65536].astype(np.float64) for i in range(0, x.size, 65536)]
    serial = 0.0
    for b in blocks:
        acc = 0.0
        for v in b.tolist():
            acc += v
        serial += acc
    assert got == np.float32(serial)


# ---------------------------------------------------------------------------------------------
# Ops whose semantics need their own checks.
CUSTOM = {}


def custom(*names):
    def deco(f):
        for n in names:
            CUSTOM[n] = f
        return f
    return deco


@custom("Cast")
def t_cast():
    x = np.array([1.7, -2.2, 300.0, np.nan], dtype=np.float32)
    a = mx.nd.array(x)
    np.testing.assert_array_equal(mx.nd.Cast(a, dtype="int32").asnumpy(), [1, -2, 300, 0])
    np.testing.assert_array_equal(mx.nd.Cast(a, dtype="uint8").asnumpy(), [1, 0, 255, 0])
    np.testing.assert_array_equal(a.astype("float16").asnumpy(), x.astype(np.float16))
    np.testing.assert_array_equal(a.astype("bfloat16").asnumpy().astype(np.float32),
                                  x.astype(BF16).astype(np.float32))
    h = np.array([65504, 1e-8, 6e-5, -0.0], dtype=np.float32)
    np.testing.assert_array_equal(mx.nd.array(h).astype("float16").asnumpy(), h.astype(np.float16))


@custom("_set_value", "_zeros", "_ones", "_full")
def t_init():
    a = mx.nd.empty((2, 3), dtype="int32")
    mx.nd._set_value(src=7, out=a)
    np.testing.assert_array_equal(a.asnumpy(), np.full((2, 3), 7))
    # The ops themselves default to cpu(0) (as MXNet's); the wrappers take the current context.
    ctx = str(mx.current_context())
    for got, want in [(mx.nd._zeros(shape=(2, 2), ctx=ctx), np.zeros((2, 2))),
                      (mx.nd._ones(shape=(3,), dtype="int64", ctx=ctx), np.ones(3)),
                      (mx.nd._full(shape=(2,), value=2.5, ctx=ctx), [2.5, 2.5]),
                      (mx.nd.zeros((2, 3), dtype="float16"), np.zeros((2, 3))),
                      (mx.nd.full((4,), -1.5, dtype="bfloat16"), np.full(4, -1.5))]:
        assert got.context == mx.current_context()
        np.testing.assert_array_equal(got.asnumpy().astype(np.float64), want)
    assert mx.nd._zeros(shape=(1,)).context == mx.cpu(0)
    assert mx.nd.zeros((0, 4)).shape == (0, 4)
    assert mx.nd.full((2,), 3, dtype="uint8").dtype == np.uint8


@custom("_arange")
def t_arange():
    np.testing.assert_allclose(mx.nd.arange(5).asnumpy(), np.arange(5))
    np.testing.assert_allclose(mx.nd.arange(1, 2, 0.25).asnumpy(), np.arange(1, 2, 0.25))
    np.testing.assert_allclose(mx.nd.arange(0, 3, repeat=2).asnumpy(), [0, 0, 1, 1, 2, 2])
    np.testing.assert_array_equal(mx.nd.arange(5, 0, -2, dtype="int32").asnumpy(), [5, 3, 1])
    assert mx.nd.arange(3, 3).shape == (0,)


@custom("_random_uniform", "_random_normal", "_random_randint")
def t_random():
    mx.random.seed(3)
    u = mx.random.uniform(-2, 5, shape=(20000,)).asnumpy()
    assert u.min() >= -2 and u.max() < 5 and abs(u.mean() - 1.5) < 0.1
    n = mx.random.normal(1, 2, shape=(20000,), dtype="float64").asnumpy()
    assert abs(n.mean() - 1) < 0.1 and abs(n.std() - 2) < 0.1
    r = mx.random.randint(-3, 4, shape=(5000,)).asnumpy()
    assert r.dtype == np.int32 and set(np.unique(r)) == set(range(-3, 4))
    mx.random.seed(3)
    np.testing.assert_array_equal(u, mx.random.uniform(-2, 5, shape=(20000,)).asnumpy())


@custom("dot")
def t_dot():
    rs = np.random.RandomState(0)
    for m, k, n in [(1, 1, 1), (15, 17, 33), (16, 16, 16), (31, 64, 65), (129, 7, 3), (0, 4, 5), (3, 0, 2)]:
        for dt in ("float32", "float64"):
            a, b = rs.randn(m, k).astype(dt), rs.randn(k, n).astype(dt)
            r = 1e-5 if dt == "float32" else 1e-12
            np.testing.assert_allclose(mx.nd.dot(mx.nd.array(a, dtype=dt), mx.nd.array(b, dtype=dt)).asnumpy(), a @ b, rtol=r, atol=r * 10)
            np.testing.assert_allclose(mx.nd.dot(mx.nd.array(a.T.copy(), dtype=dt), mx.nd.array(b.T.copy(), dtype=dt), transpose_a=True,
                                                 transpose_b=True).asnumpy(), a @ b, rtol=r, atol=r * 10)
    v = rs.randn(5).astype(np.float32)
    assert mx.nd.dot(mx.nd.array(v), mx.nd.array(v)).shape == (1,)
    x3 = rs.randn(2, 3, 4).astype(np.float32)
    w = rs.randn(4, 5).astype(np.float32)
    np.testing.assert_allclose(mx.nd.dot(mx.nd.array(x3), mx.nd.array(w)).asnumpy(), x3 @ w, rtol=1e-5, atol=1e-5)
    with pytest.raises(mx.BrassError, match="dot: shapes .* not aligned"):
        mx.nd.dot(mx.nd.ones((2, 3)), mx.nd.ones((2, 3)))
    with pytest.raises(mx.BrassError, match="float32 and float64"):
        mx.nd.dot(mx.nd.ones((2, 2), dtype="int32"), mx.nd.ones((2, 2), dtype="int32"))


@custom("batch_dot")
def t_batch_dot():
    rs = np.random.RandomState(1)
    a, b = rs.randn(3, 4, 5).astype(np.float32), rs.randn(3, 5, 6).astype(np.float32)
    np.testing.assert_allclose(mx.nd.batch_dot(mx.nd.array(a), mx.nd.array(b)).asnumpy(), a @ b, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(mx.nd.batch_dot(mx.nd.array(a), mx.nd.array(a), transpose_b=True).asnumpy(),
                               a @ a.transpose(0, 2, 1), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose((mx.nd.array(rs.randn(2, 1, 3, 4)) @ mx.nd.array(rs.randn(5, 4, 2))).shape, (2, 5, 3, 2))


@custom("transpose", "SwapAxis")
def t_transpose():
    x = np.arange(120, dtype=np.float32).reshape(2, 3, 4, 5)
    a = mx.nd.array(x)
    np.testing.assert_array_equal(mx.nd.transpose(a).asnumpy(), x.T)
    np.testing.assert_array_equal(mx.nd.transpose(a, axes=(0, 2, 1, 3)).asnumpy(), x.transpose(0, 2, 1, 3))
    np.testing.assert_array_equal(mx.nd.transpose(a, axes=(3, 0, 1, 2)).asnumpy(), x.transpose(3, 0, 1, 2))
    np.testing.assert_array_equal(mx.nd.SwapAxis(a, dim1=1, dim2=3).asnumpy(), np.swapaxes(x, 1, 3))
    np.testing.assert_array_equal(a.T.asnumpy(), x.T)
    big = np.random.RandomState(0).randn(300, 257).astype(np.float32)
    np.testing.assert_array_equal(mx.nd.transpose(mx.nd.array(big)).asnumpy(), big.T)
    with pytest.raises(mx.BrassError, match="transpose"):
        mx.nd.transpose(a, axes=(0, 1))


@custom("Reshape", "Flatten", "expand_dims", "squeeze")
def t_reshape():
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    a = mx.nd.array(x)
    np.testing.assert_array_equal(mx.nd.Reshape(a, shape=(4, -1)).asnumpy(), x.reshape(4, 6))
    np.testing.assert_array_equal(mx.nd.reshape(a, shape=(-1, 0), reverse=True).asnumpy(), x.reshape(6, 4))
    np.testing.assert_array_equal(mx.nd.Flatten(a).asnumpy(), x.reshape(2, 12))
    np.testing.assert_array_equal(mx.nd.expand_dims(a, axis=-1).asnumpy(), x[..., None])
    np.testing.assert_array_equal(mx.nd.squeeze(mx.nd.ones((1, 3, 1))).asnumpy(), np.ones(3))
    assert mx.nd.squeeze(mx.nd.ones((1, 1))).shape == (1,)
    with pytest.raises(mx.BrassError, match="squeeze"):
        mx.nd.squeeze(a, axis=1)


@custom("Concat", "stack", "SliceChannel")
def t_concat():
    x, y = np.ones((2, 3), np.float32), np.zeros((2, 1), np.float32)
    np.testing.assert_array_equal(mx.nd.Concat(mx.nd.array(x), mx.nd.array(y)).asnumpy(), np.concatenate([x, y], 1))
    np.testing.assert_array_equal(mx.nd.concat(mx.nd.array(x), mx.nd.array(x), dim=0).asnumpy(), np.concatenate([x, x]))
    np.testing.assert_array_equal(mx.nd.stack(mx.nd.array(x), mx.nd.array(x), axis=1).asnumpy(), np.stack([x, x], 1))
    z = np.arange(12, dtype=np.float32).reshape(2, 6)
    parts = mx.nd.split(mx.nd.array(z), num_outputs=3, axis=1)
    for p, q in zip(parts, np.split(z, 3, axis=1)):
        np.testing.assert_array_equal(p.asnumpy(), q)
    sq = mx.nd.SliceChannel(mx.nd.array(z), num_outputs=2, axis=0, squeeze_axis=True)
    np.testing.assert_array_equal(sq[1].asnumpy(), z[1])
    with pytest.raises(mx.BrassError, match="Concat"):
        mx.nd.Concat(mx.nd.array(x), mx.nd.ones((3, 3)))


@custom("slice", "slice_axis", "slice_like")
def t_slice():
    x = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
    a = mx.nd.array(x)
    np.testing.assert_array_equal(mx.nd.slice(a, begin=(0, 1), end=(2, None)).asnumpy(), x[0:2, 1:])
    np.testing.assert_array_equal(mx.nd.slice(a, begin=(None, None, 4), end=(None, None, 0), step=(1, 2, -1)).asnumpy(),
                                  x[:, ::2, 4:0:-1])
    np.testing.assert_array_equal(mx.nd.slice_axis(a, axis=2, begin=-2, end=None).asnumpy(), x[:, :, -2:])
    np.testing.assert_array_equal(mx.nd.slice_like(a, mx.nd.zeros((2, 2, 2))).asnumpy(), x[:2, :2, :2])
    np.testing.assert_array_equal(mx.nd.slice_like(a, mx.nd.zeros((2, 3)), axes=(1,)).asnumpy(), x[:, :3])
    with pytest.raises(mx.BrassError, match="slice_axis"):
        mx.nd.slice_axis(a, axis=0, begin=4, end=5)


@custom("tile", "repeat", "reverse")
def t_tile():
    x = np.arange(6, dtype=np.int32).reshape(2, 3)
    a = mx.nd.array(x, dtype="int32")
    for reps in [(2,), (2, 1), (1, 2, 2)]:
        np.testing.assert_array_equal(mx.nd.tile(a, reps=reps).asnumpy(), np.tile(x, reps))
    np.testing.assert_array_equal(mx.nd.repeat(a, repeats=2).asnumpy(), np.repeat(x, 2))
    np.testing.assert_array_equal(mx.nd.repeat(a, repeats=3, axis=1).asnumpy(), np.repeat(x, 3, axis=1))
    np.testing.assert_array_equal(mx.nd.reverse(a, axis=1).asnumpy(), x[:, ::-1])
    np.testing.assert_array_equal(mx.nd.flip(a, axis=(0, 1)).asnumpy(), x[::-1, ::-1])


@custom("broadcast_to", "broadcast_like")
def t_broadcast_to():
    x = np.arange(3, dtype=np.float32).reshape(3, 1)
    a = mx.nd.array(x)
    np.testing.assert_array_equal(mx.nd.broadcast_to(a, shape=(2, 3, 4)).asnumpy(), np.broadcast_to(x, (2, 3, 4)))
    np.testing.assert_array_equal(mx.nd.broadcast_to(a, shape=(0, 5)).asnumpy(), np.broadcast_to(x, (3, 5)))
    np.testing.assert_array_equal(mx.nd.broadcast_like(a, mx.nd.zeros((3, 4))).asnumpy(), np.broadcast_to(x, (3, 4)))
    np.testing.assert_array_equal(
        mx.nd.broadcast_like(a, mx.nd.zeros((7, 6)), lhs_axes=(1,), rhs_axes=(1,)).asnumpy(), np.broadcast_to(x, (3, 6)))
    with pytest.raises(mx.BrassError, match="broadcast_to"):
        mx.nd.broadcast_to(a, shape=(4, 4))


@custom("clip")
def t_clip():
    for dt in ("float32", "float64", "float16", "int32", "uint8"):
        x = make((50,), dt, (-10, 10), 1)
        want = np.clip(x.astype(np.float64), 0, 6).astype(npdt(dt))
        check(mx.nd.clip(mx.nd.array(x, dtype=x.dtype), a_min=0, a_max=6).asnumpy(), want, dt)
    a = mx.nd.array([-1.0, 5.0, 10.0])
    mx.nd.clip(a, 0, 6, out=a)
    np.testing.assert_array_equal(a.asnumpy(), [0, 5, 6])
    # NaN passes, -0 keeps its sign; a_min > a_max as MXNet's kernel: above a_max -> a_max,
    # else below a_min -> a_min
    x = np.array([np.nan, -0.0, -np.inf, np.inf, 1.0, 3.0, 5.0], np.float32)
    got = mx.nd.clip(mx.nd.array(x), a_min=-0.0 + 0, a_max=6).asnumpy()
    np.testing.assert_array_equal(got, [np.nan, -0.0, 0, 6, 1, 3, 5])
    assert np.signbit(got[1])
    got = mx.nd.clip(mx.nd.array(x), a_min=4, a_max=2).asnumpy()
    np.testing.assert_array_equal(got, [np.nan, 4, 4, 2, 4, 2, 2])


@custom("add_n")
def t_add_n():
    xs = [np.random.RandomState(i).randn(4, 5).astype(np.float32) for i in range(5)]
    got = mx.nd.add_n(*[mx.nd.array(x) for x in xs]).asnumpy()
    want = xs[0] + xs[1]
    for x in xs[2:]:
        want = want + x
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(mx.nd.ElementWiseSum(mx.nd.ones((2,))).asnumpy(), [1, 1])


@custom("shape_array", "size_array")
def t_shape_array():
    a = mx.nd.zeros((2, 3, 4))
    np.testing.assert_array_equal(mx.nd.shape_array(a).asnumpy(), [2, 3, 4])
    assert mx.nd.shape_array(a).dtype == np.int64
    np.testing.assert_array_equal(mx.nd.size_array(a).asnumpy(), [24])


def test_integer_division_semantics():
    a = mx.nd.array([7, -7, 5, 3], dtype="int32")
    b = mx.nd.array([2, 2, 0, -1], dtype="int32")
    np.testing.assert_array_equal(mx.nd.broadcast_div(a, b).asnumpy(), [3, -3, 0, -3])
    np.testing.assert_array_equal(mx.nd.broadcast_mod(a, b).asnumpy(), [1, 1, 0, 0])
    np.testing.assert_array_equal(mx.nd.broadcast_power(a, mx.nd.array([2, 3, 0, -1], dtype="int32")).asnumpy(),
                                  [49, -343, 1, 0])


@pytest.mark.parametrize("name", sorted(set(CUSTOM.values()), key=lambda f: f.__name__), ids=lambda f: f.__name__)
def test_custom(name):
    name()


def _registered_ops():
    from brass.ndarray import _internal
    return set(_internal._meta)


def test_completeness():
    """Every registered op is covered by a table entry or its own test file."""
    import test_image
    import test_ops_conv
    import test_ops_ctc
    import test_ops_indexing
    import test_ops_loss
    import test_ops_nn
    import test_ops_internal
    import test_ops_norm
    import test_ops_optimizer
    import test_ops_rnn
    import test_ops_spatial
    covered = (set(UNARY) | set(BINARY) | set(REDUCE) | set(CUSTOM) | set(test_ops_indexing.OPS_COVERED)
               | set(test_ops_internal.OPS_COVERED) | set(test_ops_conv.OPS_COVERED) | set(test_ops_nn.OPS_COVERED)
               | set(test_ops_loss.OPS_COVERED) | set(test_ops_norm.OPS_COVERED)
               | set(test_ops_spatial.OPS_COVERED) | set(test_ops_optimizer.OPS_COVERED)
               | set(test_ops_ctc.OPS_COVERED) | set(test_ops_rnn.OPS_COVERED) | set(test_image.OPS_COVERED))
    missing = sorted(_registered_ops() - covered)
    assert not missing, "ops without tests: %s" % missing


@pytest.mark.parametrize("isa", ["scalar", "avx2", "avx512"])
def test_vectorized_exp_on_every_isa(isa):
    """The SIMD exp, tanh and sigmoid paths of each ISA (a missing ISA falls back, so each run
    must still agree): random values over the whole range plus the branch edges and specials,
    through the ops and through Activation."""
    import subprocess
    import sys
    prog = ("import numpy as np, brass as mx\n"
            "x = np.random.RandomState(0).uniform(-90, 90, 100003).astype(np.float32)\n"
            "x[:7] = [np.nan, np.inf, -np.inf, -100, 88.7, -87.5, 0]\n"
            "s = np.random.RandomState(1).uniform(-1.5, 1.5, 50001).astype(np.float32)\n"
            "e = np.array([0.625, -0.625, np.nextafter(np.float32(0.625), np.float32(0)), 9, -9, 8.9, 1e-30, -1e-30,\n"
            "              1e-45, -0.0, 0.0, 20, -20, np.nan, np.inf, -np.inf, 44, -44, 1e-3], np.float32)\n"
            "x = np.concatenate([x, s, e])\n"
            "xd = x.astype(np.float64)\n"
            "with np.errstate(all='ignore'):\n"
            "    want = {'exp': np.exp(xd), 'tanh': np.tanh(xd), 'sigmoid': 1 / (1 + np.exp(-xd))}\n"
            "for name, w in want.items():\n"
            "    w = w.astype(np.float32)\n"
            "    g = getattr(mx.nd, name)(mx.nd.array(x)).asnumpy()\n"
            "    # sigmoid far below zero: 1 / (1 + exp(-x)) with exp(-x) past float32 is 0, not subnormal\n"
            "    atol = 2e-38 if name == 'sigmoid' else 1e-44\n"
            "    np.testing.assert_allclose(g, w, rtol=4e-7, atol=atol, equal_nan=True, err_msg=name)\n"
            "    if name != 'exp':\n"
            "        a = mx.nd.Activation(mx.nd.array(x), act_type=name).asnumpy()\n"
            "        np.testing.assert_array_equal(a, g, err_msg=name)\n"
            "    if name == 'tanh':\n"
            "        assert np.array_equal(np.signbit(g[x == 0]), np.signbit(x[x == 0]))\n"
            "print('ok', mx.build_info())\n")
    env = dict(__import__("os").environ, BRASS_ISA=isa)
    out = subprocess.run([sys.executable, "-c", prog], env=env, capture_output=True, text=True)
    assert out.returncode == 0 and "ok" in out.stdout, out.stdout + out.stderr
