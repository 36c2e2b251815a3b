"""Attribute scopes (MXNet's ``mx.AttrScope``): attributes given to every symbol made inside.

>>> import brass as mx
>>> with mx.AttrScope(ctx_group='dev1'):
...     mx.sym.var('x').attr('ctx_group')
'dev1'
"""
import threading

_local = threading.local()


class AttrScope:
    """``with AttrScope(key=value)``: symbols made inside get the attribute (merged with outer
    scopes; a symbol's own attributes win). MXNet's hidden keys (ctx_group, lr_mult, wd_mult,
    force_mirroring, mirror_stage) are stored as ``__key__``."""

    def __init__(self, **kwargs):
        for v in kwargs.values():
            if not isinstance(v, str):
                raise ValueError("attributes must be strings")
        self._attr = dict(kwargs)
        self._old = None

    def get(self, attr):
        out = dict(self._attr)
        if attr:
            out.update(attr)
        return out

    def __enter__(self):
        self._old = current()
        merged = AttrScope()
        merged._attr = dict(self._old._attr)
        merged._attr.update(self._attr)
        _local.value = merged
        return self

    def __exit__(self, *exc):
        _local.value = self._old

    @classmethod
    def current(cls):
        return current()


def current():
    v = getattr(_local, "value", None)
    if v is None:
        v = _local.value = AttrScope()
    return v
