"""gluon.data: datasets, samplers and the DataLoader (MXNet 1.x semantics)."""
import os
import time

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


@pytest.mark.parametrize("workers,threads", [(0, False), (2, False), (2, True)], ids=["main", "processes", "threads"])
def test_dataloader(workers, threads):
    x = np.random.RandomState(0).uniform(size=(10, 3)).astype(np.float32)
    y = np.arange(10)
    loader = gdata.DataLoader(gdata.ArrayDataset(x, y), batch_size=4, num_workers=workers, thread_pool=threads)
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


class _Pids:
    """Samples that say which process made them, with NDArray math done there."""

    def __len__(self):
        return 12

    def __getitem__(self, i):
        return mx.nd.ones((2,)) * i, np.array([os.getpid()], dtype=np.int64), np.uint8(i)


def _shm_blocks():
    return {f for f in os.listdir("/dev/shm") if f.startswith("psm_")} if os.path.isdir("/dev/shm") else set()


def test_worker_processes_hand_batches_over_in_shared_memory():
    before = _shm_blocks()
    loader = gdata.DataLoader(_Pids(), batch_size=3, num_workers=2)
    for _ in range(2):  # the workers serve several passes
        batches = list(loader)
        assert len(batches) == 4
        data = np.concatenate([b[0].asnumpy() for b in batches])
        np.testing.assert_array_equal(data, np.arange(12)[:, None] * np.ones((1, 2)))
        pids = {int(p) for b in batches for p in b[1].asnumpy().ravel()}
        assert os.getpid() not in pids and 1 <= len(pids) <= 2  # made in the worker processes
        assert batches[0][2].dtype == np.uint8 and batches[0][1].dtype == np.int64
    # A lambda transform and a custom batchify function that does not pickle: the workers are forked.
    shifted = gdata.ArrayDataset(np.arange(6.0)).transform(lambda v: v + 100)
    nested = gdata.DataLoader(shifted, batch_size=4, num_workers=1,
                              batchify_fn=lambda s: (len(s), [np.asarray(s), "tag"]))
    assert [(n, part[0].asnumpy().tolist(), part[1]) for n, part in nested] == [
        (4, [100.0, 101.0, 102.0, 103.0], "tag"), (2, [104.0, 105.0], "tag")]
    # A pass abandoned midway frees the blocks of the batches already made.
    it = iter(loader)
    next(it)
    it.close()
    del loader, nested
    assert _shm_blocks() <= before


def test_worker_seeds_differ_and_repeat():
    class Noise:
        def __len__(self):
            return 8

        def __getitem__(self, i):
            return np.random.uniform(size=1).astype(np.float32)

    def draws():
        np.random.seed(7)
        loader = gdata.DataLoader(Noise(), batch_size=1, num_workers=2)
        return sorted(float(b.asnumpy()[0, 0]) for b in loader)

    np.random.seed(7)
    base = int(np.random.get_state()[1][0])
    streams = set()
    for k in range(2):  # worker k draws from a generator seeded with base + 1 + k
        streams.update(np.random.RandomState(base + 1 + k).uniform(size=8).astype(np.float32).tolist())
    a, b = draws(), draws()
    assert set(a) <= streams and set(b) <= streams  # the seeds follow np.random.seed
    assert len(set(a)) == 8  # no two workers share a random stream


def test_worker_errors_and_timeout():
    class Broken:
        def __len__(self):
            return 4

        def __getitem__(self, i):
            raise ValueError("sample %d is unreadable" % i)

    with pytest.raises(mx.BrassError, match=r"worker process failed(.|\n)*ValueError: sample 0 is unreadable"):
        list(gdata.DataLoader(Broken(), batch_size=2, num_workers=1))

    class Slow:
        def __len__(self):
            return 2

        def __getitem__(self, i):
            time.sleep(3)
            return np.zeros(1)

    with pytest.raises(mx.BrassError, match="within 0.5 s"):
        list(gdata.DataLoader(Slow(), batch_size=1, num_workers=1, timeout=0.5))
