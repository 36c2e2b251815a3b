"""brass.io: NDArrayIter's last-batch modes and shuffling, CSVIter, MNISTIter, ResizeIter,
PrefetchingIter, DataDesc / DataBatch (MXNet 1.x semantics), errors."""
import numpy as np
import pytest

import brass as mx


def batches(it):
    return [(b.data[0].asnumpy().tolist(), b.label[0].asnumpy().tolist() if b.label else None, b.pad) for b in it]


def test_ndarray_iter_last_batch_modes():
    x = np.arange(7, dtype=np.float32).reshape(7, 1)
    y = np.arange(7) * 10
    pad = mx.io.NDArrayIter(x, y, batch_size=3)
    got = batches(pad)
    assert [g[2] for g in got] == [0, 0, 2]
    assert got[2][0] == [[6.0], [0.0], [1.0]] and got[2][1] == [60.0, 0.0, 10.0]
    pad.reset()
    assert len(batches(pad)) == 3
    disc = mx.io.NDArrayIter(x, y, batch_size=3, last_batch_handle="discard")
    assert [g[1] for g in batches(disc)] == [[0.0, 10.0, 20.0], [30.0, 40.0, 50.0]]
    roll = mx.io.NDArrayIter(x, y, batch_size=3, last_batch_handle="roll_over")
    assert [g[1] for g in batches(roll)] == [[0.0, 10.0, 20.0], [30.0, 40.0, 50.0]]
    roll.reset()
    first = batches(roll)
    assert first[0][1] == [60.0, 0.0, 10.0] and first[0][2] == 1  # the leftover starts the next pass
    assert [g[1] for g in first[1:]] == [[20.0, 30.0, 40.0]]
    roll.hard_reset()
    assert batches(roll)[0][1] == [0.0, 10.0, 20.0]


def test_ndarray_iter_descriptions_shuffle_and_dicts():
    it = mx.io.NDArrayIter({"a": np.zeros((5, 2, 3)), "b": np.ones((5, 4))}, {"lab": np.arange(5)}, batch_size=2)
    assert [(d.name, d.shape) for d in it.provide_data] == [("a", (2, 2, 3)), ("b", (2, 4))]
    assert it.provide_label == [("lab", (2,))] and it.provide_label[0].dtype == np.float32
    b = next(iter(it))
    assert len(b.data) == 2 and b.data[1].shape == (2, 4)
    assert "data shapes: [(2, 2, 3), (2, 4)]" in str(b)
    np.random.seed(0)
    x = np.arange(20, dtype=np.float32).reshape(10, 2)
    it = mx.io.NDArrayIter(x, x[:, 0], batch_size=5, shuffle=True)
    seen = np.concatenate([b.data[0].asnumpy() for b in it])
    assert sorted(seen[:, 0].tolist()) == x[:, 0].tolist() and seen[:, 0].tolist() != x[:, 0].tolist()
    np.testing.assert_array_equal(seen[:, 1], seen[:, 0] + 1)  # rows stay whole, labels with them
    two = mx.io.NDArrayIter([x, x * 2], batch_size=5)
    assert [d.name for d in two.provide_data] == ["_0_data", "_1_data"]
    assert mx.io.DataDesc("x", (1, 2)) == ("x", (1, 2))
    assert mx.io.DataDesc.get_batch_axis("TNC") == 1


def test_csv_and_mnist_iters(tmp_path):
    data = np.arange(24, dtype=np.float32).reshape(6, 4)
    np.savetxt(tmp_path / "d.csv", data, delimiter=",")
    np.savetxt(tmp_path / "l.csv", np.arange(6), delimiter=",")
    it = mx.io.CSVIter(data_csv=str(tmp_path / "d.csv"), data_shape=(2, 2), label_csv=str(tmp_path / "l.csv"),
                       batch_size=4)
    got = [(b.data[0].shape, b.label[0].asnumpy().tolist(), b.pad) for b in it]
    assert got == [((4, 2, 2), [0.0, 1.0, 2.0, 3.0], 0), ((4, 2, 2), [4.0, 5.0, 0.0, 1.0], 2)]
    it = mx.io.CSVIter(data_csv=str(tmp_path / "d.csv"), data_shape=(4,), batch_size=4, round_batch=False)
    assert len(list(it)) == 1
    with pytest.raises(mx.BrassError, match="values per row"):
        mx.io.CSVIter(data_csv=str(tmp_path / "d.csv"), data_shape=(3,))
    from test_vision_data import fake_mnist
    fake_mnist(tmp_path, n_train=30, compress=False)
    it = mx.io.MNISTIter(image=str(tmp_path / "train-images-idx3-ubyte"),
                         label=str(tmp_path / "train-labels-idx1-ubyte"), batch_size=8, shuffle=False, flat=True)
    b = next(iter(it))
    assert b.data[0].shape == (8, 784) and b.label[0].asnumpy().tolist() == list(range(8))
    assert 0.0 <= b.data[0].asnumpy().min() and b.data[0].asnumpy().max() <= 1.0


def test_resize_and_prefetching():
    x = np.arange(10, dtype=np.float32).reshape(10, 1)
    base = mx.io.NDArrayIter(x, x[:, 0], batch_size=4, last_batch_handle="discard")
    r = mx.io.ResizeIter(base, 5)
    labels = [b.label[0].asnumpy().tolist() for b in r]
    assert len(labels) == 5 and labels[2] == [0.0, 1.0, 2.0, 3.0]  # wrapped around
    pre = mx.io.PrefetchingIter([mx.io.NDArrayIter(x, x[:, 0], batch_size=5),
                                 mx.io.NDArrayIter(x * 2, batch_size=5, data_name="d2")])
    assert [d.name for d in pre.provide_data] == ["data", "d2"]
    got = [b for b in pre]
    assert len(got) == 2 and got[1].data[1].asnumpy()[0, 0] == 10.0
    pre.reset()
    assert len(list(pre)) == 2


def test_errors():
    with pytest.raises(mx.BrassError, match="last_batch_handle"):
        mx.io.NDArrayIter(np.zeros((3, 1)), batch_size=2, last_batch_handle="keep")
    with pytest.raises(mx.BrassError, match="has 3 samples but"):
        mx.io.NDArrayIter(np.zeros((4, 1)), np.zeros(3))
    with pytest.raises(mx.BrassError, match="must be a list of NDArrays"):
        mx.io.DataBatch(mx.nd.zeros((1,)))
