"""MNIST and Fashion-MNIST from the standard IDX files in a folder (no download: the files must
be there, gzipped or not)."""
import gzip
import os
import struct

import numpy as np

from .... import ndarray as nd
from ....base import BrassError
from ..dataset import Dataset

__all__ = ["MNIST", "FashionMNIST", "read_idx"]

_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
              0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def read_idx(path):
    """The array in an IDX file (gzipped when the name ends in .gz), checked against its
    header."""
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise BrassError("read_idx: cannot read %s: %s" % (path, e)) from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise BrassError("read_idx: %s is not an IDX file (bad magic number)" % path)
    ndim = raw[3]
    if len(raw) < 4 + 4 * ndim:
        raise BrassError("read_idx: %s is truncated (its header)" % path)
    shape = struct.unpack(">%dI" % ndim, raw[4:4 + 4 * ndim])
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    need = int(np.prod(shape)) * dtype.itemsize
    body = raw[4 + 4 * ndim:]
    if len(body) != need:
        raise BrassError("read_idx: %s holds %d bytes of data, its header %s says %d"
                         % (path, len(body), shape, need))
    return np.frombuffer(body, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


class MNIST(Dataset):
    """The MNIST digits in ``root`` (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-...,
    each possibly .gz): samples are (image (28, 28, 1) uint8 NDArray, label int32), after
    ``transform(image, label)`` when given."""

    _files = {True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
              False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}

    def __init__(self, root=os.path.join("~", ".brass", "datasets", "mnist"), train=True, transform=None):
        self._root = os.path.expanduser(root)
        self._train = train
        self._transform = transform
        images, labels = (self._find(n) for n in self._files[train])
        x, y = read_idx(images), read_idx(labels)
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise BrassError("%s: %s holds shape %s and %s shape %s; expected (N, rows, cols) images and N labels"
                             % (type(self).__name__, images, x.shape, labels, y.shape))
        self._data = nd.array(x[:, :, :, None], dtype=np.uint8)
        self._label = y.astype(np.int32)

    def _find(self, name):
        for cand in (name, name + ".gz"):
            path = os.path.join(self._root, cand)
            if os.path.exists(path):
                return path
        raise BrassError("%s: %s(.gz) is not in %s; put the dataset's files there"
                         % (type(self).__name__, name, self._root))

    def __getitem__(self, idx):
        if self._transform is not None:
            return self._transform(self._data[idx], self._label[idx])
        return self._data[idx], self._label[idx]

    def __len__(self):
        return len(self._label)


class FashionMNIST(MNIST):
    """Fashion-MNIST (the same files and layout as MNIST)."""

    def __init__(self, root=os.path.join("~", ".brass", "datasets", "fashion-mnist"), train=True, transform=None):
        super().__init__(root, train, transform)
