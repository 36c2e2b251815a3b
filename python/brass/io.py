"""Data iterators (MXNet 1.x ``mx.io``): DataDesc, DataBatch, DataIter and NDArrayIter, CSVIter,
MNISTIter, PrefetchingIter, ResizeIter. An iterator yields DataBatches (``data``, ``label``:
lists of NDArrays, ``pad``: how many samples at the end are filler) and describes them with
``provide_data`` / ``provide_label``; ``reset()`` starts the next pass.

>>> import numpy as np, brass as mx
>>> it = mx.io.NDArrayIter(np.arange(10).reshape(5, 2), np.arange(5), batch_size=2)
>>> [(b.data[0].shape, b.label[0].asnumpy().tolist(), b.pad) for b in it]
[((2, 2), [0.0, 1.0], 0), ((2, 2), [2.0, 3.0], 0), ((2, 2), [4.0, 0.0], 1)]
"""
import queue
import threading
from collections import OrderedDict, namedtuple

import numpy as np

from . import ndarray as nd
from .base import BrassError
from .ndarray import NDArray

__all__ = ["DataDesc", "DataBatch", "DataIter", "NDArrayIter", "CSVIter", "MNISTIter", "PrefetchingIter",
           "ResizeIter"]


class DataDesc(namedtuple("DataDesc", ["name", "shape"])):
    """A named input's shape (and ``dtype``, ``layout``): compares equal to (name, shape)."""

    def __new__(cls, name, shape, dtype=np.float32, layout="NCHW"):
        ret = super().__new__(cls, name, tuple(shape))
        ret.dtype = dtype
        ret.layout = layout
        return ret

    def __repr__(self):
        return "DataDesc[%s,%s,%s,%s]" % (self.name, self.shape, np.dtype(self.dtype).name, self.layout)

    @staticmethod
    def get_batch_axis(layout):
        """The batch axis of ``layout`` (0 when None)."""
        return 0 if layout is None else layout.find("N")

    @staticmethod
    def get_list(shapes, types):
        """DataDescs from (name, shape) pairs and optional (name, dtype) pairs."""
        if types is not None:
            t = dict(types)
            return [DataDesc(n, s, t[n]) for n, s in shapes]
        return [DataDesc(n, s) for n, s in shapes]


class DataBatch:
    """One batch: ``data`` and ``label`` (lists of NDArrays), ``pad`` (filler samples at the
    end), ``index``, ``bucket_key``, ``provide_data`` / ``provide_label``."""

    def __init__(self, data, label=None, pad=None, index=None, bucket_key=None, provide_data=None,
                 provide_label=None):
        if data is not None and not isinstance(data, (list, tuple)):
            raise BrassError("DataBatch: data must be a list of NDArrays, got %s" % type(data).__name__)
        if label is not None and not isinstance(label, (list, tuple)):
            raise BrassError("DataBatch: label must be a list of NDArrays, got %s" % type(label).__name__)
        self.data, self.label, self.pad, self.index = data, label, pad, index
        self.bucket_key, self.provide_data, self.provide_label = bucket_key, provide_data, provide_label

    def __str__(self):
        return "{}: data shapes: {} label shapes: {}".format(
            type(self).__name__, [d.shape for d in self.data], [x.shape for x in self.label] if self.label else None)


class DataIter:
    """Base class: ``iter_next``, ``getdata``, ``getlabel``, ``getpad``, ``getindex`` make the
    batches of ``next``."""

    def __init__(self, batch_size=0):
        self.batch_size = batch_size

    def __iter__(self):
        return self

    def reset(self):
        pass

    def next(self):
        if self.iter_next():
            return DataBatch(data=self.getdata(), label=self.getlabel(), pad=self.getpad(), index=self.getindex())
        raise StopIteration

    def __next__(self):
        return self.next()

    def iter_next(self):
        return False

    def getdata(self):
        return None

    def getlabel(self):
        return None

    def getindex(self):
        return None

    def getpad(self):
        return 0


def _init_data(data, allow_empty, default_name):
    """[(name, NDArray)] sorted by name, from an array, a list or a dict of arrays."""
    if data is None:
        if not allow_empty:
            raise BrassError("NDArrayIter: data must be given")
        data = []
    if isinstance(data, (np.ndarray, NDArray)):
        data = [data]
    if isinstance(data, (list, tuple)):
        if not data and not allow_empty:
            raise BrassError("NDArrayIter: data must not be empty")
        data = OrderedDict([(default_name, data[0])] if len(data) == 1 else
                           [("_%d_%s" % (i, default_name), d) for i, d in enumerate(data)])
    if not isinstance(data, dict):
        raise BrassError("NDArrayIter: data must be an NDArray, a numpy array, a list of them or a dict of them, "
                         "got %s" % type(data).__name__)
    out = []
    for k, v in data.items():
        if not isinstance(v, NDArray):
            try:
                v = nd.array(v)
            except Exception:
                raise BrassError("NDArrayIter: %r is a %s, not an array" % (k, type(v).__name__)) from None
        out.append((k, v))
    return sorted(out, key=lambda kv: kv[0])


class NDArrayIter(DataIter):
    """Batches of in-memory arrays (their first axis the sample axis). ``last_batch_handle``:
    'pad' fills the last batch from the start (``pad`` says how many), 'discard' drops it,
    'roll_over' carries it into the first batch of the next pass. ``shuffle`` permutes the
    samples at every reset (NumPy's global generator, as MXNet)."""

    def __init__(self, data, label=None, batch_size=1, shuffle=False, last_batch_handle="pad", data_name="data",
                 label_name="softmax_label"):
        super().__init__(batch_size)
        if last_batch_handle not in ("pad", "discard", "roll_over"):
            raise BrassError("NDArrayIter: last_batch_handle must be 'pad', 'discard' or 'roll_over', got %r"
                             % (last_batch_handle,))
        if batch_size < 1:
            raise BrassError("NDArrayIter: batch_size must be at least 1, got %r" % (batch_size,))
        self.data = _init_data(data, False, data_name)
        self.label = _init_data(label, True, label_name)
        self.num_data = self.data[0][1].shape[0]
        for k, v in self.data + self.label:
            if v.shape[0] != self.num_data:
                raise BrassError("NDArrayIter: %r has %d samples but %r has %d" % (k, v.shape[0], self.data[0][0],
                                                                                  self.num_data))
        self.idx = np.arange(self.num_data)
        self.shuffle = shuffle
        self.last_batch_handle = last_batch_handle
        self.cursor = -batch_size
        self._cache_data = self._cache_label = None
        self.reset()

    @property
    def provide_data(self):
        return [DataDesc(k, (self.batch_size,) + tuple(v.shape[1:]), v.dtype) for k, v in self.data]

    @property
    def provide_label(self):
        return [DataDesc(k, (self.batch_size,) + tuple(v.shape[1:]), v.dtype) for k, v in self.label]

    def _shuffle(self):
        np.random.shuffle(self.idx)
        self.data = [(k, nd.array(v.asnumpy()[self.idx], v.context, dtype=v.dtype)) for k, v in self.data]
        self.label = [(k, nd.array(v.asnumpy()[self.idx], v.context, dtype=v.dtype)) for k, v in self.label]

    def hard_reset(self):
        """Back to the start, the rolled-over samples forgotten."""
        if self.shuffle:
            self._shuffle()
        self.cursor = -self.batch_size
        self._cache_data = self._cache_label = None

    def reset(self):
        if self.shuffle:
            self._shuffle()
        if self.last_batch_handle == "roll_over" and self.num_data - self.batch_size < self.cursor < self.num_data:
            self.cursor = self.cursor - self.num_data - self.batch_size  # the leftovers start the pass
        else:
            self.cursor = -self.batch_size

    def iter_next(self):
        self.cursor += self.batch_size
        return self.cursor < self.num_data

    def next(self):
        if not self.iter_next():
            raise StopIteration
        data, label = self.getdata(), self.getlabel()
        if data[0].shape[0] != self.batch_size:  # a short last batch: kept for roll_over, else dropped
            self._cache_data, self._cache_label = data, label
            raise StopIteration
        return DataBatch(data=data, label=label, pad=self.getpad(), index=None)

    @staticmethod
    def _slice(source, start, end):
        return [v[start:end] for _, v in source]

    def _batchify(self, source, cached):
        if self.cursor >= self.num_data:
            raise BrassError("NDArrayIter: the pass is over; call reset()")
        if self.last_batch_handle == "roll_over" and -self.batch_size < self.cursor < 0:
            rest = self._slice(source, 0, self.cursor + self.batch_size)
            return [nd.concatenate([a, b]) for a, b in zip(cached, rest)]
        if self.last_batch_handle == "pad" and self.cursor + self.batch_size > self.num_data:
            pad = self.batch_size - self.num_data + self.cursor
            return [nd.concatenate([a, b]) for a, b in zip(self._slice(source, self.cursor, self.num_data),
                                                            self._slice(source, 0, pad))]
        return self._slice(source, self.cursor, min(self.cursor + self.batch_size, self.num_data))

    def getdata(self):
        return self._batchify(self.data, self._cache_data)

    def getlabel(self):
        return self._batchify(self.label, self._cache_label)

    def getpad(self):
        if self.last_batch_handle == "pad" and self.cursor + self.batch_size > self.num_data:
            return self.cursor + self.batch_size - self.num_data
        if self.last_batch_handle == "roll_over" and -self.batch_size < self.cursor < 0:
            return -self.cursor
        return 0


class CSVIter(NDArrayIter):
    """Batches from CSV files: each row of ``data_csv`` reshaped to ``data_shape``, of
    ``label_csv`` to ``label_shape`` (zeros without one); ``round_batch`` pads the last batch
    from the start, else it is dropped."""

    def __init__(self, data_csv, data_shape, label_csv=None, label_shape=(1,), batch_size=1, round_batch=True,
                 shuffle=False, dtype="float32", data_name="data", label_name="softmax_label", **kwargs):
        data = self._read(data_csv, data_shape, dtype)
        if label_csv is not None:
            label = self._read(label_csv, label_shape, dtype)
        else:
            label = np.zeros((data.shape[0],) + tuple(label_shape), dtype=dtype)
        if label.shape[0] != data.shape[0]:
            raise BrassError("CSVIter: %s has %d rows but %s has %d" % (data_csv, data.shape[0], label_csv,
                                                                        label.shape[0]))
        if tuple(label_shape) == (1,):
            label = label.reshape(-1)
        super().__init__({data_name: data}, {label_name: label}, batch_size, shuffle,
                         "pad" if round_batch else "discard", data_name, label_name)

    @staticmethod
    def _read(path, shape, dtype):
        try:
            rows = np.loadtxt(path, delimiter=",", dtype=dtype, ndmin=2)
        except (OSError, ValueError) as e:
            raise BrassError("CSVIter: cannot read %s: %s" % (path, e)) from None
        if rows.shape[1] != int(np.prod(shape)):
            raise BrassError("CSVIter: %s has %d values per row; shape %s needs %d"
                             % (path, rows.shape[1], tuple(shape), int(np.prod(shape))))
        return rows.reshape((rows.shape[0],) + tuple(shape))


class MNISTIter(NDArrayIter):
    """Batches of MNIST from its IDX files (``image``, ``label``, gzipped or not): images as
    float32 in [0, 1], (N, 1, 28, 28), or (N, 784) with ``flat``; ``shuffle`` with ``seed``."""

    def __init__(self, image="./train-images-idx3-ubyte", label="./train-labels-idx1-ubyte", batch_size=128,
                 shuffle=True, flat=False, seed=0, silent=False, num_parts=1, part_index=0, **kwargs):
        from .gluon.data.vision import read_idx

        x = read_idx(image).astype(np.float32) / 255.0
        y = read_idx(label).astype(np.float32)
        if len(x) != len(y):
            raise BrassError("MNISTIter: %s holds %d images but %s %d labels" % (image, len(x), label, len(y)))
        x = x.reshape(len(x), -1) if flat else x.reshape(len(x), 1, x.shape[1], x.shape[2])
        if shuffle:
            order = np.random.RandomState(seed).permutation(len(x))
            x, y = x[order], y[order]
        part = np.array_split(np.arange(len(x)), num_parts)[part_index]
        super().__init__(x[part], y[part], batch_size, False, "pad")


class ResizeIter(DataIter):
    """``size`` batches per pass from ``data_iter`` (resetting it whenever it runs out, and at
    each reset when ``reset_internal``)."""

    def __init__(self, data_iter, size, reset_internal=True):
        super().__init__(data_iter.batch_size)
        self.data_iter, self.size, self.reset_internal = data_iter, size, reset_internal
        self.cur = 0
        self.current_batch = None
        self.provide_data = data_iter.provide_data
        self.provide_label = data_iter.provide_label
        if hasattr(data_iter, "default_bucket_key"):
            self.default_bucket_key = data_iter.default_bucket_key

    def reset(self):
        self.cur = 0
        if self.reset_internal:
            self.data_iter.reset()

    def iter_next(self):
        if self.cur == self.size:
            return False
        try:
            self.current_batch = self.data_iter.next()
        except StopIteration:
            self.data_iter.reset()
            self.current_batch = self.data_iter.next()
        self.cur += 1
        return True

    def getdata(self):
        return self.current_batch.data

    def getlabel(self):
        return self.current_batch.label

    def getindex(self):
        return self.current_batch.index

    def getpad(self):
        return self.current_batch.pad


class PrefetchingIter(DataIter):
    """Reads the next batch of each iterator in ``iters`` on a background thread while the
    current one is used; their data and labels are joined (``rename_data`` / ``rename_label``:
    dicts per iterator renaming the descriptions)."""

    def __init__(self, iters, rename_data=None, rename_label=None):
        super().__init__()
        self.iters = iters if isinstance(iters, list) else [iters]
        self.rename_data, self.rename_label = rename_data, rename_label
        self.batch_size = self.provide_data[0][1][0]
        self._queues = None
        self._start()

    def _descs(self, attr, renames):
        out = []
        for i, it in enumerate(self.iters):
            for d in getattr(it, attr):
                name = renames[i].get(d.name, d.name) if renames else d.name
                out.append(DataDesc(name, d.shape, getattr(d, "dtype", np.float32)))
        return out

    @property
    def provide_data(self):
        return self._descs("provide_data", self.rename_data)

    @property
    def provide_label(self):
        return self._descs("provide_label", self.rename_label)

    def _start(self):
        self._queues = [queue.Queue(maxsize=1) for _ in self.iters]

        def work(it, q):
            while True:
                try:
                    q.put(it.next())
                except StopIteration:
                    q.put(None)
                    return
                except Exception as e:  # noqa: BLE001 - handed to the reader
                    q.put(e)
                    return

        self._threads = [threading.Thread(target=work, args=(it, q), daemon=True)
                         for it, q in zip(self.iters, self._queues)]
        for t in self._threads:
            t.start()

    def _stop(self):
        for q, t in zip(self._queues, self._threads):
            while t.is_alive():
                try:
                    q.get(timeout=0.1)
                except queue.Empty:
                    pass

    def reset(self):
        self._stop()
        for it in self.iters:
            it.reset()
        self._start()

    def next(self):
        batches = [q.get() for q in self._queues]
        for b in batches:
            if isinstance(b, Exception):
                raise b
        if any(b is None for b in batches):
            if not all(b is None for b in batches):
                raise BrassError("PrefetchingIter: the iterators have different numbers of batches")
            raise StopIteration
        return DataBatch(sum([b.data for b in batches], []), sum([b.label or [] for b in batches], []),
                         batches[0].pad, batches[0].index, provide_data=self.provide_data,
                         provide_label=self.provide_label)

    def iter_next(self):
        raise BrassError("PrefetchingIter: use next()")
