"""Automatic names of symbols (MXNet's ``mx.name``): ``fullyconnected0``, ``relu0``, ``relu1``...

>>> import brass as mx
>>> with mx.name.NameManager():
...     mx.sym.relu(mx.sym.relu(mx.sym.var('x'))).name
'relu1'
"""
import threading

_local = threading.local()


class NameManager:
    """Gives each unnamed symbol ``<hint><count>``, counting per hint. ``with`` scopes it."""

    def __init__(self):
        self._counter = {}
        self._old = None

    def get(self, name, hint):
        if name:
            return name
        n = self._counter.get(hint, 0)
        self._counter[hint] = n + 1
        return "%s%d" % (hint, n)

    def __enter__(self):
        self._old = current()
        _local.value = self
        return self

    def __exit__(self, *exc):
        _local.value = self._old

    @classmethod
    def current(cls):  # MXNet 1.x spelling: NameManager.current
        return current()


class Prefix(NameManager):
    """Every name, given or automatic, gets ``prefix`` in front."""

    def __init__(self, prefix):
        super().__init__()
        self._prefix = prefix

    def get(self, name, hint):
        return self._prefix + super().get(name, hint)


def current():
    v = getattr(_local, "value", None)
    if v is None:
        v = _local.value = NameManager()
    return v
