"""gluon.utils (split_data, split_and_load, clip_global_norm, check_sha1) and loading parameters
saved in another dtype (cast_dtype, dtype_source)."""
import hashlib
import warnings

import numpy as np
import pytest

import brass as mx
from brass import gluon
from brass.gluon import nn, utils


def test_split_data():
    x = mx.nd.arange(14).reshape((7, 2))
    parts = utils.split_data(x, 3, even_split=False)
    assert [p.shape for p in parts] == [(2, 2), (2, 2), (3, 2)]  # the last part takes the rest
    np.testing.assert_array_equal(np.concatenate([p.asnumpy() for p in parts]), x.asnumpy())
    cols = utils.split_data(mx.nd.ones((2, 6)), 3, batch_axis=1)
    assert [p.shape for p in cols] == [(2, 2)] * 3
    with pytest.raises(mx.BrassError, match=r"shape \(7, 2\) cannot be split evenly into 3 slices"):
        utils.split_data(x, 3)
    with pytest.raises(mx.BrassError, match="fewer than 8 entries"):
        utils.split_data(x, 8, even_split=False)
    with pytest.raises(mx.BrassError, match="batch_axis 2 is out of range"):
        utils.split_data(x, 2, batch_axis=2)
    loaded = utils.split_and_load(np.arange(4.0), [mx.cpu(0)])
    assert len(loaded) == 1 and loaded[0].asnumpy().tolist() == [0, 1, 2, 3]


def test_clip_global_norm():
    a = mx.nd.array([3.0, 0.0])
    b = mx.nd.array([[4.0]], ctx=mx.cpu(1))
    total = utils.clip_global_norm([a, b], 1.0)
    assert abs(total - 5.0) < 1e-6
    np.testing.assert_allclose(a.asnumpy(), [0.6, 0.0], rtol=1e-5)
    np.testing.assert_allclose(b.asnumpy(), [[0.8]], rtol=1e-5)
    assert b.context == mx.cpu(1)
    # Below max_norm: untouched; without the finite check the norm stays an NDArray.
    c = mx.nd.array([0.3, 0.4])
    norm = utils.clip_global_norm([c], 10.0, check_isfinite=False)
    assert isinstance(norm, mx.nd.NDArray) and abs(norm.asscalar() - 0.5) < 1e-6
    assert c.asnumpy().tolist() == pytest.approx([0.3, 0.4])
    # float16 arrays keep their dtype; the norm is taken in float32.
    h = mx.nd.array([300.0, 400.0], dtype="float16")
    assert abs(utils.clip_global_norm([h], 50.0) - 500.0) < 1e-3 and h.dtype == np.float16
    np.testing.assert_allclose(h.asnumpy(), [30.0, 40.0], rtol=1e-3)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        utils.clip_global_norm([mx.nd.array([np.inf, 1.0])], 1.0)
    assert any("clipped values are undefined" in str(x.message) for x in w)
    with pytest.raises(mx.BrassError, match="no arrays"):
        utils.clip_global_norm([], 1.0)


def test_check_sha1(tmp_path):
    f = tmp_path / "blob"
    f.write_bytes(b"brass")
    assert utils.check_sha1(str(f), hashlib.sha1(b"brass").hexdigest())
    assert not utils.check_sha1(str(f), hashlib.sha1(b"other").hexdigest())


def test_load_parameters_cast_dtype(tmp_path):
    net = nn.Dense(3, in_units=2)
    net.initialize()
    net.cast("float16")
    path = str(tmp_path / "half.params")
    net.save_parameters(path)
    fresh = nn.Dense(3, in_units=2)
    fresh.initialize()
    with pytest.raises(mx.BrassError, match=r"holds 'weight' as float16, the parameter is float32 \(cast_dtype"):
        fresh.load_parameters(path)
    fresh.load_parameters(path, cast_dtype=True)  # values converted to the block's float32
    assert fresh.weight.data().dtype == np.float32
    np.testing.assert_allclose(fresh.weight.data().asnumpy(), net.weight.data().asnumpy().astype(np.float32))
    saved = nn.Dense(3, in_units=2)
    saved.initialize()
    saved.load_parameters(path, cast_dtype=True, dtype_source="saved")  # the block takes float16
    assert saved.weight.data().dtype == np.float16 and saved.bias.dtype == "float16"
    with pytest.raises(mx.BrassError, match="dtype_source must be 'current' or 'saved'"):
        saved.load_parameters(path, cast_dtype=True, dtype_source="file")


def test_collect_params_select_matches_from_the_start():
    """MXNet's select is a regular expression matched at the start of the full name."""
    with mx.name.NameManager():
        net = nn.HybridSequential()
        with net.name_scope():
            net.add(nn.Dense(2, in_units=2), nn.Dense(2, in_units=2))
    assert sorted(net.collect_params(".*weight").keys()) == ["hybridsequential0_dense0_weight",
                                                             "hybridsequential0_dense1_weight"]
    assert list(net.collect_params("hybridsequential0_dense1_.*").keys()) == [
        "hybridsequential0_dense1_weight", "hybridsequential0_dense1_bias"]
    assert len(net.collect_params("weight")) == 0  # not a search: the name must start so
    assert isinstance(net.collect_params(), gluon.ParameterDict)
