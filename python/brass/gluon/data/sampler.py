"""Samplers: the order in which a DataLoader reads samples (MXNet 1.x)."""
import numpy as np

from ...base import BrassError

__all__ = ["Sampler", "SequentialSampler", "RandomSampler", "BatchSampler", "IntervalSampler"]


class Sampler:
    """Base class: iterating gives indices (or, for BatchSampler, lists of them)."""

    def __iter__(self):
        raise NotImplementedError

    def __len__(self):
        raise NotImplementedError


class SequentialSampler(Sampler):
    """start, start + 1, ..., start + length - 1."""

    def __init__(self, length, start=0):
        self._length, self._start = length, start

    def __iter__(self):
        return iter(range(self._start, self._start + self._length))

    def __len__(self):
        return self._length


class RandomSampler(Sampler):
    """A random permutation of range(length), new at each pass (numpy's global generator, as
    MXNet; seed it with numpy.random.seed or brass.random.seed)."""

    def __init__(self, length):
        self._length = length

    def __iter__(self):
        return iter(np.random.permutation(self._length).tolist())

    def __len__(self):
        return self._length


class IntervalSampler(Sampler):
    """0, k, 2k, ..., then 1, k + 1, ... (``rollover``), or only the first pass."""

    def __init__(self, length, interval, rollover=True):
        if interval >= length:
            raise BrassError("IntervalSampler: interval %d must be smaller than the length %d" % (interval, length))
        self._length, self._interval, self._rollover = length, interval, rollover

    def __iter__(self):
        for i in range(self._interval if self._rollover else 1):
            yield from range(i, self._length, self._interval)

    def __len__(self):
        return self._length if self._rollover else len(range(0, self._length, self._interval))


class BatchSampler(Sampler):
    """Lists of ``batch_size`` indices from ``sampler``; the last, short one is kept ('keep'),
    dropped ('discard') or carried into the next pass ('rollover')."""

    def __init__(self, sampler, batch_size, last_batch="keep"):
        if last_batch not in ("keep", "discard", "rollover"):
            raise BrassError("BatchSampler: last_batch must be 'keep', 'discard' or 'rollover', got %r" % (last_batch,))
        if batch_size < 1:
            raise BrassError("BatchSampler: batch_size must be at least 1, got %r" % (batch_size,))
        self._sampler, self._batch_size, self._last_batch = sampler, batch_size, last_batch
        self._prev = []

    def __iter__(self):
        batch, self._prev = self._prev, []
        for i in self._sampler:
            batch.append(i)
            if len(batch) == self._batch_size:
                yield batch
                batch = []
        if batch:
            if self._last_batch == "keep":
                yield batch
            elif self._last_batch == "rollover":
                self._prev = batch

    def __len__(self):
        n = len(self._sampler)
        if self._last_batch == "keep":
            return (n + self._batch_size - 1) // self._batch_size
        if self._last_batch == "discard":
            return n // self._batch_size
        return (len(self._prev) + n) // self._batch_size
