"""Devices: ``brass.cpu(i)``, ``brass.gpu(i)`` and the current default context."""
import threading

from .base import check, ffi, lib

__all__ = ["Context", "cpu", "gpu", "cpu_pinned", "current_context", "num_gpus", "memory_info", "kept_info"]


class Context:
    """A device: type ('cpu', 'gpu', 'cpu_pinned') and id. Usable as ``with ctx:``.

    >>> import brass as mx
    >>> mx.cpu(0)
    cpu(0)
    """

    devtype2str = {1: "cpu", 2: "gpu", 3: "cpu_pinned"}
    devstr2type = {"cpu": 1, "gpu": 2, "cpu_pinned": 3}
    _default = threading.local()

    __slots__ = ("device_typeid", "device_id", "_old")

    def __init__(self, device_type, device_id=0):
        if isinstance(device_type, Context):
            self.device_typeid, self.device_id = device_type.device_typeid, device_type.device_id
        else:
            self.device_typeid = (
                self.devstr2type[device_type] if isinstance(device_type, str) else int(device_type)
            )
            self.device_id = int(device_id)
        self._old = None

    @property
    def device_type(self):
        return self.devtype2str[self.device_typeid]

    def __hash__(self):
        return hash((self.device_typeid, self.device_id))

    def __eq__(self, other):
        return (
            isinstance(other, Context)
            and self.device_typeid == other.device_typeid
            and self.device_id == other.device_id
        )

    def __repr__(self):
        return "%s(%d)" % (self.device_type, self.device_id)

    __str__ = __repr__

    def __enter__(self):
        self._old = current_context()
        Context._default.value = self
        return self

    def __exit__(self, *exc):
        Context._default.value = self._old

    def empty_cache(self):
        """Returns the pool's free blocks of this device to the system."""
        check(lib.brass_storage_release(self.device_typeid, self.device_id))


def cpu(device_id=0):
    """The CPU context. ``brass.cpu()`` -> cpu(0)."""
    return Context("cpu", device_id)


def cpu_pinned(device_id=0):
    return Context("cpu_pinned", device_id)


def gpu(device_id=0):
    """The GPU context. Work on it raises BrassError when no GPU is usable."""
    return Context("gpu", device_id)


def current_context():
    """The default context (cpu(0) unless changed with ``with ctx:``)."""
    return getattr(Context._default, "value", None) or cpu(0)


def num_gpus():
    """Number of GPUs this build can use."""
    n = ffi.new("int32_t*")
    check(lib.brass_gpu_count(n))
    return n[0]


def memory_info(ctx=None):
    """Pool use of a device: ``{'in_use': bytes held by live arrays, 'pooled': bytes cached}``."""
    ctx = ctx or cpu()
    a = ffi.new("uint64_t*")
    b = ffi.new("uint64_t*")
    check(lib.brass_storage_info(ctx.device_typeid, ctx.device_id, a, b))
    return {"in_use": a[0], "pooled": b[0]}


def kept_info():
    """What inference keeps prepared on the CPU (convolution filters packed, or in Winograd's
    domain, while their weights are unchanged): ``{'entries': values kept, 'bytes': their size,
    'made': values prepared since the process started}``."""
    e, b, m = ffi.new("uint64_t*"), ffi.new("uint64_t*"), ffi.new("uint64_t*")
    check(lib.brass_kept_info(e, b, m))
    return {"entries": e[0], "bytes": b[0], "made": m[0]}
