"""gluon.data: datasets, samplers and the DataLoader (MXNet 1.x semantics)."""
import numpy as np
import pytest

import brass as mx
from brass.gluon import data as gdata


def test_array_dataset_and_transforms():
    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    y = np.arange(6)
    ds = gdata.ArrayDataset(x, y)
    assert len(ds) == 6 and ds[2][0].tolist() == [4.0, 5.0] and ds[2][1] == 2
    single = gdata.ArrayDataset(mx.nd.array(x))
    assert isinstance(single[1], mx.nd.NDArray) and single[1].asnumpy().tolist() == [2.0, 3.0]
    t = ds.transform_first(lambda a: a * 10)
    assert t[1][0].tolist() == [20.0, 30.0] and t[1][1] == 1
    t2 = ds.transform(lambda a, b: (a.sum(), b + 1), lazy=False)
    assert isinstance(t2, gdata.SimpleDataset) and t2[0] == (1.0, 1)
    assert [s[1] for s in ds.filter(lambda s: s[1] % 2 == 0)] == [0, 2, 4]
    assert [ds.shard(4, i)[0][1] for i in range(4)] == [0, 2, 4, 5]
    assert [len(ds.shard(4, i)) for i in range(4)] == [2, 2, 1, 1]
    assert len(ds.take(3)) == 3 and len(ds.take(None)) == 6
    assert [s[1] for s in ds.sample(gdata.IntervalSampler(6, 2))] == [0, 2, 4, 1, 3, 5]
    with pytest.raises(mx.BrassError, match="same length"):
        gdata.ArrayDataset(x, y[:4])
    with pytest.raises(mx.BrassError, match="out of range"):
        ds.shard(2, 2)


def test_samplers():
    assert list(gdata.SequentialSampler(3, start=2)) == [2, 3, 4]
    np.random.seed(0)
    r = list(gdata.RandomSampler(10))
    assert sorted(r) == list(range(10)) and r != list(range(10))
    b = gdata.BatchSampler(gdata.SequentialSampler(7), 3, "keep")
    assert list(b) == [[0, 1, 2], [3, 4, 5], [6]] and len(b) == 3
    b = gdata.BatchSampler(gdata.SequentialSampler(7), 3, "discard")
    assert list(b) == [[0, 1, 2], [3, 4, 5]] and len(b) == 2
    b = gdata.BatchSampler(gdata.SequentialSampler(7), 3, "rollover")
    assert list(b) == [[0, 1, 2], [3, 4, 5]]
    assert list(b) == [[6, 0, 1], [2, 3, 4]]  # the leftover starts the next pass
    assert list(gdata.IntervalSampler(5, 2, rollover=False)) == [0, 2, 4]
    with pytest.raises(mx.BrassError, match="last_batch"):
        gdata.BatchSampler(gdata.SequentialSampler(3), 2, "pad")


@pytest.mark.parametrize("workers", [0, 2])
def test_dataloader(workers):
    x = np.random.RandomState(0).uniform(size=(10, 3)).astype(np.float32)
    y = np.arange(10)
    loader = gdata.DataLoader(gdata.ArrayDataset(x, y), batch_size=4, num_workers=workers)
    batches = list(loader)
    assert len(loader) == 3 and [b[0].shape for b in batches] == [(4, 3), (4, 3), (2, 3)]
    np.testing.assert_array_equal(np.concatenate([b[0].asnumpy() for b in batches]), x)
    assert np.concatenate([b[1].asnumpy() for b in batches]).tolist() == list(range(10))
    np.random.seed(3)
    first = [b[1].asnumpy().tolist() for b in gdata.DataLoader(gdata.ArrayDataset(x, y), batch_size=5,
                                                                shuffle=True, num_workers=workers)]
    np.random.seed(3)
    again = [b[1].asnumpy().tolist() for b in gdata.DataLoader(gdata.ArrayDataset(x, y), batch_size=5,
                                                                shuffle=True, num_workers=workers)]
    assert first == again and sorted(sum(first, [])) == list(range(10)) and sum(first, []) != list(range(10))
    dropped = gdata.DataLoader(gdata.ArrayDataset(x, y), batch_size=4, last_batch="discard", num_workers=workers)
    assert len(list(dropped)) == 2 == len(dropped)
    custom = gdata.DataLoader(gdata.ArrayDataset(x, y), batch_size=3, batchify_fn=lambda s: len(s),
                              num_workers=workers)
    assert list(custom) == [3, 3, 3, 1]


def test_dataloader_arguments():
    ds = gdata.ArrayDataset(np.zeros((4, 2)), np.zeros(4))
    bs = gdata.BatchSampler(gdata.SequentialSampler(4), 2)
    assert len(list(gdata.DataLoader(ds, batch_sampler=bs))) == 2
    with pytest.raises(mx.BrassError, match="must be left out"):
        gdata.DataLoader(ds, batch_size=2, batch_sampler=bs)
    with pytest.raises(mx.BrassError, match="shuffle must be False"):
        gdata.DataLoader(ds, batch_size=2, shuffle=True, sampler=gdata.SequentialSampler(4))
    with pytest.raises(mx.BrassError, match="batch_size"):
        gdata.DataLoader(ds)
