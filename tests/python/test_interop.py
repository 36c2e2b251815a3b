"""Zero-copy exchange with numpy and PyTorch through DLPack and the array interface."""
import numpy as np
import pytest

import brass as mx


def test_from_numpy_shares_memory():
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    a = mx.nd.from_numpy(x)
    x[0, 0] = 42
    assert a.asnumpy()[0, 0] == 42
    b = a * 2  # usable in ops
    np.testing.assert_array_equal(b.asnumpy(), x * 2)
    del x
    import gc
    gc.collect()
    assert a.asnumpy()[0, 0] == 42  # the memory is still alive


def test_from_dlpack_numpy_and_back():
    x = np.arange(12, dtype=np.int64)
    a = mx.nd.from_dlpack(x)
    x[3] = -1
    assert a.asnumpy()[3] == -1
    y = np.from_dlpack(a)
    y[4] = 99
    assert a.asnumpy()[4] == 99
    assert a.__dlpack_device__() == (1, 0)


def test_dlpack_waits_for_pending_work():
    a = mx.nd.ones((1000,))
    b = a * 3
    y = np.from_dlpack(b)
    np.testing.assert_array_equal(y, 3)


def test_bfloat16_view():
    import ml_dtypes
    a = mx.nd.array(np.array([1.5, 2.5], dtype=ml_dtypes.bfloat16), dtype=ml_dtypes.bfloat16)
    from brass.ndarray.dlpack import as_numpy_view
    v = as_numpy_view(a)
    assert v.dtype == ml_dtypes.bfloat16 and v.astype(np.float32).tolist() == [1.5, 2.5]


def test_torch_both_ways():
    torch = pytest.importorskip("torch")
    t = torch.arange(6, dtype=torch.float32)
    a = mx.nd.from_dlpack(t)
    t[1] = 7
    assert a.asnumpy()[1] == 7
    u = torch.from_dlpack(a)
    u[2] = 5
    assert a.asnumpy()[2] == 5
