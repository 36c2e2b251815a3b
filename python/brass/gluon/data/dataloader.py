"""DataLoader (MXNet 1.x ``gluon.data.DataLoader``): batches of a dataset, in order or shuffled,
read on this thread, by worker processes that hand batches over in shared memory, or by a
pool of worker threads.

>>> import numpy as np
>>> from brass.gluon.data import ArrayDataset, DataLoader
>>> loader = DataLoader(ArrayDataset(np.arange(10.0).reshape(5, 2), np.arange(5)), batch_size=2)
>>> [(x.shape, y.asnumpy().tolist()) for x, y in loader]
[((2, 2), [0, 1]), ((2, 2), [2, 3]), ((1, 2), [4])]
"""
import multiprocessing
import sys
import traceback
import warnings
from concurrent.futures import ThreadPoolExecutor
from collections import deque
from multiprocessing import resource_tracker, shared_memory

import numpy as np

from ... import ndarray as nd
from ... import random as _random
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


# ---- worker processes -----------------------------------------------------------------------
# Forked from the loader (so datasets and batchify functions need not pickle), each worker
# makes whole batches and writes every array of one into a single shared-memory block; the
# loader copies them into NDArrays and frees the block. Workers get their own random seeds.
_worker = {}
_ALIGN = 64


def _worker_init(dataset, batchify_fn, base_seed, counter):
    _worker.update(dataset=dataset, batchify=batchify_fn)
    with counter.get_lock():  # worker k of the loader: seeds that repeat from run to run
        k = counter.value
        counter.value += 1
    seed = (base_seed + 1 + k) % (1 << 31)
    np.random.seed(seed)
    _random.seed(seed)


def _flatten(obj, arrays):
    """obj with each array replaced by its index in arrays (NDArrays as NumPy)."""
    if isinstance(obj, NDArray):
        obj = obj.asnumpy()
    if isinstance(obj, np.ndarray):
        arrays.append(np.ascontiguousarray(obj))
        return ("array", len(arrays) - 1)
    if isinstance(obj, (list, tuple)):
        return (type(obj).__name__, [_flatten(o, arrays) for o in obj])
    return ("value", obj)


def _new_block(size):
    """A shared-memory block that the loading process frees (so not this process's to track)."""
    if sys.version_info >= (3, 13):
        return shared_memory.SharedMemory(create=True, size=size, track=False)
    block = shared_memory.SharedMemory(create=True, size=size)
    resource_tracker.unregister(block._name, "shared_memory")
    return block


def _worker_batch(indices):
    try:
        batch = _worker["batchify"]([_worker["dataset"][i] for i in indices])
        arrays = []
        spec = _flatten(batch, arrays)
        offsets, size = [], 0
        for a in arrays:
            offsets.append(size)
            size += -(-a.nbytes // _ALIGN) * _ALIGN
        if not arrays:
            return None, spec, []
        block = _new_block(max(size, 1))
        try:
            for a, off in zip(arrays, offsets):
                np.ndarray(a.shape, a.dtype, buffer=block.buf, offset=off)[...] = a
            meta = [(off, a.shape, a.dtype.str) for a, off in zip(arrays, offsets)]
            return block.name, spec, meta
        finally:
            block.close()
    except BaseException:  # noqa: BLE001 - reported in the loading process
        return "error", traceback.format_exc(), None


def _unflatten(spec, arrays):
    kind, val = spec
    if kind == "array":
        return arrays[val]
    if kind in ("list", "tuple"):
        items = [_unflatten(v, arrays) for v in val]
        return items if kind == "list" else tuple(items)
    return val


def _receive(result):
    name, spec, meta = result
    if name == "error":
        raise BrassError("DataLoader: a worker process failed making a batch:\n%s" % spec, 1)
    if name is None:
        return _unflatten(spec, [])
    block = shared_memory.SharedMemory(name=name)
    try:
        arrays = []
        for off, shape, dtype in meta:
            view = np.ndarray(shape, np.dtype(dtype), buffer=block.buf, offset=off)
            arrays.append(nd.array(view, dtype=view.dtype))
            del view
        nd.waitall()  # the copies have read the block before it goes
    finally:
        block.close()
        block.unlink()
    return _unflatten(spec, arrays)


class DataLoader:
    """Iterates over batches of ``dataset``.

    ``batch_size``, ``shuffle`` (a new random order each pass), ``sampler`` (indices) and
    ``last_batch`` ('keep', 'discard' or 'rollover') make the batches, unless ``batch_sampler``
    gives them whole. ``batchify_fn`` turns a list of samples into a batch.

    ``num_workers`` > 0 makes batches in that many worker processes, forked when the loader
    is made (the dataset and functions need not pickle), up to ``prefetch`` (default 2 *
    num_workers) batches ahead, in order; each batch comes back through shared memory (its
    arrays become NDArrays, lists and tuples keep their structure). A worker that fails
    raises its traceback here; one that gives no batch within ``timeout`` seconds raises too.
    With ``thread_pool=True`` the workers are threads of this process instead. ``pin_memory``
    and ``pin_device_id`` are accepted (host memory is used as it is).
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
        self._thread_pool = thread_pool
        self._processes = None
        if num_workers > 0 and not thread_pool:
            if "fork" not in multiprocessing.get_all_start_methods():
                raise BrassError("DataLoader: worker processes need fork, which this system lacks; use "
                                 "thread_pool=True", 10)
            nd.waitall()  # no engine work in flight while the workers fork
            resource_tracker.ensure_running()  # one tracker, shared with the workers
            with warnings.catch_warnings():  # the engine's threads are not the child's concern
                warnings.simplefilter("ignore", DeprecationWarning)
                ctx = multiprocessing.get_context("fork")
                base = int(np.random.get_state()[1][0])  # follows np.random.seed, draws nothing
                self._processes = ctx.Pool(num_workers, initializer=_worker_init,
                                           initargs=(dataset, self._batchify_fn, base, ctx.Value("i", 0)))

    def _batch(self, indices):
        return self._batchify_fn([self._dataset[i] for i in indices])

    def _submit(self, indices):
        if self._processes is not None:
            return self._processes.apply_async(_worker_batch, (list(indices),))
        return self._threads.submit(self._batch, indices)

    def _result(self, pending):
        if self._processes is None:
            return pending.result(timeout=self._timeout)
        try:
            return _receive(pending.get(timeout=self._timeout))
        except multiprocessing.TimeoutError:
            raise BrassError("DataLoader: no batch from the worker processes within %s s (timeout)"
                             % self._timeout, 1) from None

    def __iter__(self):
        if self._num_workers == 0:
            for indices in self._batch_sampler:
                yield self._batch(indices)
            return
        threads = ThreadPoolExecutor(self._num_workers) if self._processes is None else None
        self._threads = threads
        try:
            pending = deque()
            batches = iter(self._batch_sampler)
            for indices in batches:
                pending.append(self._submit(indices))
                if len(pending) > self._prefetch:
                    break
            while pending:
                batch = self._result(pending.popleft())
                nxt = next(batches, None)
                if nxt is not None:
                    pending.append(self._submit(nxt))
                yield batch
        finally:
            if threads is not None:
                threads.shutdown(wait=True)
            elif pending:  # abandoned mid-pass: free the blocks of batches already made
                for p in pending:
                    try:
                        _receive(p.get(timeout=self._timeout))
                    except Exception:  # noqa: BLE001 - the pass is over; nothing to report to
                        pass

    def __len__(self):
        return len(self._batch_sampler)

    def __del__(self):
        procs = getattr(self, "_processes", None)
        if procs is not None:
            procs.terminate()
