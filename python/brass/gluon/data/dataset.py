"""Datasets: indexable collections of samples (MXNet 1.x ``gluon.data``)."""
from ...base import BrassError
from ...ndarray import NDArray

__all__ = ["Dataset", "SimpleDataset", "ArrayDataset"]


class Dataset:
    """Base class: ``__getitem__(idx)`` and ``__len__``."""

    def __getitem__(self, idx):
        raise NotImplementedError("Dataset subclasses define __getitem__")

    def __len__(self):
        raise NotImplementedError("Dataset subclasses define __len__")

    def filter(self, fn):
        """The samples for which fn(sample) is true."""
        return SimpleDataset([self[i] for i in range(len(self)) if fn(self[i])])

    def shard(self, num_shards, index):
        """Shard ``index`` of ``num_shards`` nearly equal contiguous parts (the first ones one longer)."""
        if not 0 <= index < num_shards:
            raise BrassError("Dataset.shard: index %d out of range for %d shards" % (index, num_shards))
        n = len(self)
        size, extra = divmod(n, num_shards)
        start = index * size + min(index, extra)
        end = start + size + (1 if index < extra else 0)
        return _Subset(self, range(start, end))

    def take(self, count):
        """The first ``count`` samples (all when count is None or larger)."""
        n = len(self) if count is None else min(count, len(self))
        return _Subset(self, range(n))

    def sample(self, sampler):
        """The samples at the indices ``sampler`` yields."""
        return _Subset(self, list(sampler))

    def transform(self, fn, lazy=True):
        """fn(*sample) for every sample (computed on access when lazy, else now)."""
        t = _LazyTransform(self, fn)
        return t if lazy else SimpleDataset([t[i] for i in range(len(t))])

    def transform_first(self, fn, lazy=True):
        """fn applied to the first element of every sample (the data, not the label)."""
        return self.transform(_First(fn), lazy)


class _First:
    def __init__(self, fn):
        self._fn = fn

    def __call__(self, x, *args):
        return (self._fn(x),) + args if args else self._fn(x)


class _Subset(Dataset):
    def __init__(self, data, indices):
        self._data, self._indices = data, indices

    def __getitem__(self, idx):
        return self._data[self._indices[idx]]

    def __len__(self):
        return len(self._indices)


class _LazyTransform(Dataset):
    def __init__(self, data, fn):
        self._data, self._fn = data, fn

    def __len__(self):
        return len(self._data)

    def __getitem__(self, idx):
        item = self._data[idx]
        return self._fn(*item) if isinstance(item, tuple) else self._fn(item)


class SimpleDataset(Dataset):
    """A dataset over a list (or anything indexable with a length)."""

    def __init__(self, data):
        self._data = data

    def __len__(self):
        return len(self._data)

    def __getitem__(self, idx):
        return self._data[idx]


class ArrayDataset(Dataset):
    """Samples from several arrays of the same length: sample i is (a[i], b[i], ...), or a[i]
    alone for one array. NDArrays give NDArrays, NumPy arrays and lists their elements."""

    def __init__(self, *args):
        if not args:
            raise BrassError("ArrayDataset: needs at least one array")
        self._length = len(args[0])
        self._data = []
        for i, a in enumerate(args):
            if len(a) != self._length:
                raise BrassError("ArrayDataset: all arrays must have the same length; array 0 has %d, array %d has %d"
                                 % (self._length, i, len(a)))
            if isinstance(a, NDArray) and a.ndim == 1:
                a = a.asnumpy()  # scalars come back as NumPy scalars, as in MXNet
            self._data.append(a)

    def __getitem__(self, idx):
        if len(self._data) == 1:
            return self._data[0][idx]
        return tuple(d[idx] for d in self._data)

    def __len__(self):
        return self._length
