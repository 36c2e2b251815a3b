"""DataLoader (MXNet 1.x ``gluon.data.DataLoader``): batches of a dataset, in order or shuffled,
read on this thread or by a pool of worker threads.

>>> import numpy as np
>>> from brass.gluon.data import ArrayDataset, DataLoader
>>> loader = DataLoader(ArrayDataset(np.arange(10.0).reshape(5, 2), np.arange(5)), batch_size=2)
>>> [(x.shape, y.asnumpy().tolist()) for x, y in loader]
[((2, 2), [0, 1]), ((2, 2), [2, 3]), ((1, 2), [4])]
"""
from concurrent.futures import ThreadPoolExecutor
from collections import deque

import numpy as np

from ... import ndarray as nd
from ...base import BrassError
from ...ndarray import NDArray
from .sampler import BatchSampler, RandomSampler, SequentialSampler

__all__ = ["DataLoader", "default_batchify_fn"]


def default_batchify_fn(data):
    """Stacks samples into a batch: NDArrays with nd.stack, tuples element by element, anything
    else through a NumPy array (its dtype kept)."""
    if isinstance(data[0], NDArray):
        return nd.stack(*data)
    if isinstance(data[0], tuple):
        return [default_batchify_fn(list(x)) for x in zip(*data)]
    arr = np.asarray(data)
    return nd.array(arr, dtype=arr.dtype)


class DataLoader:
    """Iterates over batches of ``dataset``.

    ``batch_size``, ``shuffle`` (a new random order each pass), ``sampler`` (indices) and
    ``last_batch`` ('keep', 'discard' or 'rollover') make the batches, unless ``batch_sampler``
    gives them whole. ``batchify_fn`` turns a list of samples into a batch. ``num_workers`` > 0
    reads batches on that many worker threads, up to ``prefetch`` (default 2 * num_workers)
    batches ahead, in order (the samples' Python code shares the interpreter: the gain is where
    it waits on files or runs array operations). ``thread_pool``, ``pin_memory``,
    ``pin_device_id`` and ``timeout`` are accepted.
    """

    def __init__(self, dataset, batch_size=None, shuffle=False, sampler=None, last_batch=None, batch_sampler=None,
                 batchify_fn=None, num_workers=0, pin_memory=False, pin_device_id=0, prefetch=None,
                 thread_pool=False, timeout=120):
        self._dataset = dataset
        if batch_sampler is None:
            if batch_size is None:
                raise BrassError("DataLoader: give batch_size, or batch_sampler")
            if sampler is None:
                sampler = RandomSampler(len(dataset)) if shuffle else SequentialSampler(len(dataset))
            elif shuffle:
                raise BrassError("DataLoader: shuffle must be False when a sampler is given")
            batch_sampler = BatchSampler(sampler, batch_size, last_batch if last_batch else "keep")
        elif batch_size is not None or shuffle or sampler is not None or last_batch is not None:
            raise BrassError("DataLoader: batch_size, shuffle, sampler and last_batch must be left out when "
                             "batch_sampler is given")
        if num_workers < 0:
            raise BrassError("DataLoader: num_workers must be >= 0, got %d" % num_workers)
        self._batch_sampler = batch_sampler
        self._batchify_fn = batchify_fn or default_batchify_fn
        self._num_workers = num_workers
        self._prefetch = max(0, int(prefetch) if prefetch is not None else 2 * num_workers)
        self._pin_memory = pin_memory
        self._timeout = timeout

    def _batch(self, indices):
        return self._batchify_fn([self._dataset[i] for i in indices])

    def __iter__(self):
        if self._num_workers == 0:
            for indices in self._batch_sampler:
                yield self._batch(indices)
            return
        with ThreadPoolExecutor(self._num_workers) as pool:
            pending = deque()
            batches = iter(self._batch_sampler)
            for indices in batches:
                pending.append(pool.submit(self._batch, indices))
                if len(pending) > self._prefetch:
                    break
            while pending:
                yield pending.popleft().result(timeout=self._timeout)
                nxt = next(batches, None)
                if nxt is not None:
                    pending.append(pool.submit(self._batch, nxt))

    def __len__(self):
        return len(self._batch_sampler)
