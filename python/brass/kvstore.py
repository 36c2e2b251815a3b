"""Key-value stores for data-parallel training on one machine (MXNet 1.x ``mx.kv``).

A store keeps one array per key. ``push`` sums the values given for a key (one per device)
and either replaces the stored array with the sum or, after ``set_optimizer``, updates it
with the optimizer, the sum being the gradient; ``pull`` copies the stored array to every
output (one per device). ``'local'`` keeps and reduces the arrays on the CPU, ``'device'``
on the device of the first value pushed for the key. Sums run in the order the values are
given, so results do not depend on timing.

>>> import brass as mx
>>> kv = mx.kv.create('local')
>>> kv.init(3, mx.nd.ones((2,)))
>>> kv.push(3, [mx.nd.ones((2,), ctx=mx.cpu(0)), mx.nd.ones((2,), ctx=mx.cpu(1)) * 2])
>>> outs = [mx.nd.zeros((2,), ctx=mx.cpu(0)), mx.nd.zeros((2,), ctx=mx.cpu(1))]
>>> kv.pull(3, out=outs)
>>> [o.asnumpy().tolist() for o in outs]
[[3.0, 3.0], [3.0, 3.0]]
"""
import pickle

from . import ndarray as nd
from . import optimizer as opt
from .base import BrassError, atomic_write
from .context import cpu
from .ndarray.ndarray import NDArray

__all__ = ["KVStore", "create"]

_TYPES = ("local", "device", "local_allreduce_cpu", "local_allreduce_device", "local_update_cpu")


def _as_list(v):
    return list(v) if isinstance(v, (list, tuple)) else [v]


class KVStore:
    """A single-process store; create with ``brass.kv.create``."""

    def __init__(self, name="local"):
        self._type = name
        self._on_cpu = name != "device" and name != "local_allreduce_device"
        self._store = {}
        self._updater = None
        self._optimizer = None

    # ---- description -------------------------------------------------------------------------
    @property
    def type(self):
        return self._type

    @property
    def rank(self):
        """This worker's rank (0: one process)."""
        return 0

    @property
    def num_workers(self):
        """The number of worker processes (1)."""
        return 1

    def is_capable(self, capability):
        """'optimizer': the store can run the update (set_optimizer)."""
        return capability.lower() == "optimizer"

    def barrier(self):
        """Nothing to wait for with one process."""

    # ---- keys and values ---------------------------------------------------------------------
    def _pairs(self, key, value, what):
        """(key, [arrays]) pairs: one key with one array or a list (one per device), or a list
        of keys with one entry (an array or a list) each."""
        if isinstance(key, (list, tuple)):
            values = _as_list(value) if value is not None else [None] * len(key)
            if len(values) != len(key):
                raise BrassError("KVStore.%s: %d keys but %d values" % (what, len(key), len(values)), 1)
            return [(self._key(k, what), None if v is None else self._arrays(v, k, what))
                    for k, v in zip(key, values)]
        return [(self._key(key, what), None if value is None else self._arrays(value, key, what))]

    @staticmethod
    def _key(k, what):
        if isinstance(k, bool) or not isinstance(k, (int, str)):
            raise BrassError("KVStore.%s: keys are ints or strings, got %r" % (what, k), 1)
        return k

    @staticmethod
    def _arrays(v, key, what):
        arrays = _as_list(v)
        if not arrays:
            raise BrassError("KVStore.%s: no arrays given for key %r" % (what, key), 1)
        for a in arrays:
            if not isinstance(a, NDArray):
                raise BrassError("KVStore.%s: key %r: expected NDArrays, got a %s" % (what, key, type(a).__name__), 1)
        return arrays

    def _stored(self, k, what):
        if k not in self._store:
            raise BrassError("KVStore.%s: key %r has not been initialized (call init first)" % (what, k), 1)
        return self._store[k]

    def init(self, key, value):
        """Stores a copy of value under key (each key once)."""
        for k, arrays in self._pairs(key, value, "init"):
            if k in self._store:
                raise BrassError("KVStore.init: key %r is already initialized" % (k,), 1)
            src = arrays[0]
            self._store[k] = src.copyto(cpu() if self._on_cpu else src.context)

    def push(self, key, value, priority=0):
        """Sums the values for each key (one per device) into the store: the sum replaces
        the stored array, or updates it through the optimizer after set_optimizer."""
        for k, arrays in self._pairs(key, value, "push"):
            stored = self._stored(k, "push")
            for a in arrays:
                if a.shape != stored.shape:
                    raise BrassError("KVStore.push: key %r holds shape %s, pushed %s" % (k, stored.shape, a.shape), 2)
            if len(arrays) == 1 and arrays[0].context == stored.context:
                merged = arrays[0]  # nothing to sum: used as it is, as MXNet's local store does
            else:
                merged = arrays[0].copyto(stored.context)
                for a in arrays[1:]:
                    merged += a.as_in_context(stored.context)
            if self._updater is not None:
                self._updater(k, merged, stored)
            elif merged.dtype == stored.dtype:
                merged.copyto(stored)
            else:
                merged.astype(stored.dtype).copyto(stored)

    def pull(self, key, out=None, priority=0, ignore_sparse=True):
        """Copies the stored array of each key into every array of out."""
        if out is None:
            raise BrassError("KVStore.pull: out (the arrays to fill) is required", 1)
        for k, arrays in self._pairs(key, out, "pull"):
            stored = self._stored(k, "pull")
            for o in arrays:
                if o.shape != stored.shape:
                    raise BrassError("KVStore.pull: key %r holds shape %s, out has %s" % (k, stored.shape, o.shape), 2)
                stored.astype(o.dtype).copyto(o)

    def pushpull(self, key, value, out=None, priority=0):
        """push then pull (into value itself when out is None)."""
        self.push(key, value, priority)
        self.pull(key, value if out is None else out, priority)

    def broadcast(self, key, value, out, priority=0):
        """init then pull."""
        self.init(key, value)
        self.pull(key, out, priority)

    def row_sparse_pull(self, key, out=None, priority=0, row_ids=None):
        raise BrassError("KVStore.row_sparse_pull: row-sparse arrays are not supported; use pull", 10)

    def set_gradient_compression(self, compression_params):
        raise BrassError("KVStore.set_gradient_compression: gradient compression is not supported (%r)"
                         % (compression_params,), 10)

    # ---- updates -----------------------------------------------------------------------------
    def set_optimizer(self, optimizer):
        """Runs optimizer on the stored arrays at each push (gradients: the pushed sums)."""
        if not isinstance(optimizer, opt.Optimizer):
            raise BrassError("KVStore.set_optimizer: expected an Optimizer, got %s" % type(optimizer).__name__, 1)
        self._optimizer = optimizer
        self._updater = opt.get_updater(optimizer)

    def _set_updater(self, updater):
        """updater(key, merged, stored) runs at each push instead of replacing the array."""
        self._updater = updater

    set_updater = _set_updater

    def save_optimizer_states(self, fname, dump_optimizer=False):
        """Writes the optimizer's states (atomically)."""
        if not isinstance(self._updater, opt.Updater):
            raise BrassError("KVStore.save_optimizer_states: no optimizer has been set", 1)
        atomic_write(fname, self._updater.get_states(dump_optimizer))

    def load_optimizer_states(self, fname):
        """Restores what save_optimizer_states wrote."""
        if not isinstance(self._updater, opt.Updater):
            raise BrassError("KVStore.load_optimizer_states: no optimizer has been set", 1)
        with open(fname, "rb") as f:
            blob = f.read()
        try:
            self._updater.set_states(blob)
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as e:
            raise BrassError("KVStore.load_optimizer_states: %s is not a states file (%s)" % (fname, e), 8)
        self._optimizer = self._updater.optimizer


def create(name="local"):
    """A store: 'local' (reduce and update on the CPU) or 'device' (on the devices)."""
    if isinstance(name, KVStore):
        return name
    if not isinstance(name, str):
        raise BrassError("kvstore: expected a type name, got %r" % (name,), 1)
    if name.startswith("dist"):
        raise BrassError("kvstore '%s': distributed stores need several processes (a launcher); this "
                         "build runs 'local' and 'device' only" % name, 10)
    if name not in _TYPES:
        raise BrassError("kvstore: unknown type '%s' (local, device)" % name, 1)
    return KVStore(name)
