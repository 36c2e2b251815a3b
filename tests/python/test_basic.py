"""End-to-end checks of the Python package: creation, arithmetic, views, errors, engine."""
import numpy as np
import pytest

import brass as mx


def test_array_roundtrip_dtypes():
    for dt in [np.float32, np.float64, np.float16, np.int8, np.uint8, np.int32, np.int64,
               np.int16, np.uint16, np.uint32, np.uint64, np.bool_]:
        x = (np.arange(12) % 3).astype(dt).reshape(3, 4)
        a = mx.nd.array(x, dtype=x.dtype)
        assert a.dtype == dt
        assert a.shape == (3, 4)
        np.testing.assert_array_equal(a.asnumpy(), x)
        f = mx.nd.array(x)  # MXNet 1.x: numpy arrays of any dtype give float32 by default
        assert f.dtype == np.float32
        np.testing.assert_array_equal(f.asnumpy(), x.astype(np.float32))
        assert mx.nd.from_numpy(x).dtype == dt  # zero-copy keeps the dtype


def test_bfloat16_through_ml_dtypes():
    import ml_dtypes
    x = np.array([1.5, -2.25, 3.0], dtype=ml_dtypes.bfloat16)
    a = mx.nd.array(x, dtype=x.dtype)
    assert np.dtype(a.dtype) == np.dtype(ml_dtypes.bfloat16)
    np.testing.assert_array_equal(a.asnumpy().astype(np.float32), x.astype(np.float32))


def test_mxnet_legacy_shapes():
    assert mx.nd.array(3.0).shape == (1,)
    assert mx.nd.sum(mx.nd.ones((2, 3))).shape == (1,)
    assert mx.nd.array([1, 2, 3])[1].shape == (1,)
    assert mx.nd.zeros((0, 3)).shape == (0, 3)


def test_arithmetic_matches_numpy():
    x = np.random.RandomState(0).randn(4, 5).astype(np.float32)
    y = np.random.RandomState(1).randn(5).astype(np.float32)
    a, b = mx.nd.array(x), mx.nd.array(y)
    np.testing.assert_allclose((a + b).asnumpy(), x + y, rtol=1e-6)
    np.testing.assert_allclose((a * 2 - 1).asnumpy(), x * 2 - 1, rtol=1e-6)
    np.testing.assert_allclose((1 - a).asnumpy(), 1 - x, rtol=1e-6)
    np.testing.assert_allclose((2 / (a + 10)).asnumpy(), 2 / (x + 10), rtol=1e-6)
    np.testing.assert_allclose((a ** 2).asnumpy(), x ** 2, rtol=1e-6)
    np.testing.assert_array_equal((a > b).asnumpy(), (x > y).astype(np.float32))
    np.testing.assert_allclose((-a).asnumpy(), -x)
    np.testing.assert_allclose(abs(a).asnumpy(), np.abs(x))


def test_inplace_operators_write_same_array():
    a = mx.nd.ones((3,))
    h = a.handle
    a += 2
    a *= mx.nd.array([1, 2, 3])
    assert a.handle == h
    np.testing.assert_array_equal(a.asnumpy(), [3, 6, 9])


def test_views_share_memory():
    a = mx.nd.zeros((4, 3))
    v = a[1:3]
    v[:] = 5
    r = a.reshape((3, 4))
    np.testing.assert_array_equal(a.asnumpy()[1:3], 5)
    assert r.asnumpy().sum() == 30


def test_reshape_special_values():
    a = mx.nd.zeros((2, 3, 4))
    assert a.reshape((-1, 0)).shape == (8, 3)  # 0 copies the input dim at its position
    assert a.reshape((0, -1)).shape == (2, 12)
    assert a.reshape((-3, -2)).shape == (6, 4)
    assert a.reshape((-4, 1, 2, -2)).shape == (1, 2, 3, 4)
    assert a.reshape((0, 0, -4, 2, 2)).shape == (2, 3, 2, 2)
    with pytest.raises(mx.BrassError, match="Reshape"):
        a.reshape((5, -1))


def test_indexing():
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    a = mx.nd.array(x)
    np.testing.assert_array_equal(a[1].asnumpy(), x[1])
    np.testing.assert_array_equal(a[:, 1].asnumpy(), x[:, 1])
    np.testing.assert_array_equal(a[..., ::2].asnumpy(), x[..., ::2])
    np.testing.assert_array_equal(a[:, None, 1:].asnumpy(), x[:, None, 1:])
    np.testing.assert_array_equal(a[1, 2, 3].asnumpy(), [x[1, 2, 3]])
    np.testing.assert_array_equal(a[-1, ::-1].asnumpy(), x[-1, ::-1])
    with pytest.raises(IndexError):
        a[2]


def test_setitem():
    x = np.zeros((3, 4), dtype=np.float32)
    a = mx.nd.array(x)
    a[1] = 2
    x[1] = 2
    a[:, 1:3] = mx.nd.ones((3, 2)) * 7
    x[:, 1:3] = 7
    a[0, ::2] = 9
    x[0, ::2] = 9
    np.testing.assert_array_equal(a.asnumpy(), x)


def test_dot_and_matmul():
    rs = np.random.RandomState(0)
    x, y = rs.randn(7, 5).astype(np.float32), rs.randn(5, 3).astype(np.float32)
    np.testing.assert_allclose(mx.nd.dot(mx.nd.array(x), mx.nd.array(y)).asnumpy(), x @ y, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose((mx.nd.array(x) @ mx.nd.array(y)).asnumpy(), x @ y, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(mx.nd.dot(mx.nd.array(x), mx.nd.array(x), transpose_b=True).asnumpy(),
                               x @ x.T, rtol=1e-5, atol=1e-5)


def test_random_reproducible():
    mx.random.seed(7)
    a = mx.random.uniform(shape=(100,)).asnumpy()
    b = mx.random.normal(shape=(10,)).asnumpy()
    mx.random.seed(7)
    np.testing.assert_array_equal(a, mx.random.uniform(shape=(100,)).asnumpy())
    np.testing.assert_array_equal(b, mx.random.normal(shape=(10,)).asnumpy())
    assert 0 <= a.min() and a.max() < 1


def test_errors_are_clear_and_process_survives():
    with pytest.raises(mx.BrassError, match="broadcast_add.*\\(2, 3\\).*\\(4,\\)"):
        mx.nd.broadcast_add(mx.nd.ones((2, 3)), mx.nd.ones((4,)))
    with pytest.raises(mx.BrassError, match="unknown parameter 'bogus'"):
        mx.nd.sum(mx.nd.ones((2,)), bogus=1)
    with pytest.raises(mx.BrassError, match="axis 5 is out of range"):
        mx.nd.sum(mx.nd.ones((2,)), axis=5)
    with pytest.raises(mx.BrassError, match="gpu"):
        mx.nd.zeros((2,), ctx=mx.gpu(0))
    np.testing.assert_array_equal((mx.nd.ones((2,)) + 1).asnumpy(), [2, 2])


def test_waitall_and_memory_info():
    a = [mx.nd.ones((100,)) * i for i in range(10)]
    mx.nd.waitall()
    info = mx.context.memory_info()
    assert info["in_use"] >= 10 * 400
    del a


def test_fluent_methods_match_functions():
    x = np.random.RandomState(0).rand(3, 4).astype(np.float32)
    a = mx.nd.array(x)
    np.testing.assert_allclose(a.sum(axis=1).asnumpy(), x.sum(axis=1), rtol=1e-6)
    np.testing.assert_allclose(a.exp().asnumpy(), np.exp(x), rtol=1e-6)
    assert a.expand_dims(0).shape == (1, 3, 4)
    assert a.transpose().shape == (4, 3)
    np.testing.assert_array_equal(a.argmax(axis=1).asnumpy(), x.argmax(axis=1))
    np.testing.assert_array_equal(a.clip(0.2, 0.5).asnumpy(), np.clip(x, 0.2, 0.5))


def test_import_brass_as_mx_names():
    for name in ["nd", "cpu", "gpu", "Context", "current_context", "random", "MXNetError"]:
        assert hasattr(mx, name), name
    for name in ["array", "zeros", "ones", "full", "arange", "empty", "save", "load", "waitall",
                 "concat", "split", "flip", "reshape", "flatten", "stop_gradient", "cast", "swapaxes"]:
        assert hasattr(mx.nd, name), name
    with mx.cpu(0):
        assert mx.current_context() == mx.cpu(0)


def test_maximum_minimum_of_arrays_and_numbers():
    """nd.maximum / nd.minimum and sym.maximum / sym.minimum (MXNet 1.x): array-array
    broadcast, array-number either way, number-number."""
    a = mx.nd.array([1.0, 5.0, 3.0])
    assert mx.nd.maximum(a, 2).asnumpy().tolist() == [2.0, 5.0, 3.0]
    assert mx.nd.minimum(2, a).asnumpy().tolist() == [1.0, 2.0, 2.0]
    b = mx.nd.array([[2.0], [4.0]])
    np.testing.assert_array_equal(mx.nd.maximum(a, b).asnumpy(), np.maximum(a.asnumpy(), b.asnumpy()))
    np.testing.assert_array_equal(mx.nd.minimum(a, b).asnumpy(), np.minimum(a.asnumpy(), b.asnumpy()))
    assert mx.nd.maximum(1, 3) == 3 and mx.nd.minimum(1, 3) == 1
    x, y = mx.sym.var("x"), mx.sym.var("y")
    exe = mx.sym.Group([mx.sym.maximum(x, 2.0), mx.sym.minimum(1.5, x), mx.sym.maximum(x, y)]).bind(
        mx.cpu(), {"x": a, "y": mx.nd.array([0.0, 9.0, 3.0])})
    outs = [o.asnumpy().tolist() for o in exe.forward()]
    assert outs == [[2.0, 5.0, 3.0], [1.0, 1.5, 1.5], [1.0, 9.0, 3.0]]
