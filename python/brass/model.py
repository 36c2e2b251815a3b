"""Checkpoints in MXNet's layout (``mx.model``): ``prefix-symbol.json`` and
``prefix-%04d.params`` with ``arg:`` / ``aux:`` names."""
import logging
from collections import namedtuple

from . import ndarray as nd
from . import symbol as sym
from .base import BrassError
from .context import cpu

__all__ = ["BatchEndParam", "save_checkpoint", "load_checkpoint", "load_params"]

BatchEndParam = namedtuple("BatchEndParam", ["epoch", "nbatch", "eval_metric", "locals"])


def save_checkpoint(prefix, epoch, symbol, arg_params, aux_params, remove_amp_cast=True):
    """Writes prefix-symbol.json (when symbol is given) and prefix-%04d.params, each atomically."""
    if symbol is not None:
        symbol.save("%s-symbol.json" % prefix)
    save = {"arg:%s" % k: v.as_in_context(cpu()) for k, v in arg_params.items()}
    save.update({"aux:%s" % k: v.as_in_context(cpu()) for k, v in aux_params.items()})
    name = "%s-%04d.params" % (prefix, epoch)
    nd.save(name, save)
    logging.info('Saved checkpoint to "%s"', name)


def load_params(prefix, epoch):
    """(arg_params, aux_params) from prefix-%04d.params."""
    loaded = nd.load("%s-%04d.params" % (prefix, epoch))
    if not isinstance(loaded, dict):
        raise BrassError("load_params: %s-%04d.params holds an unnamed list, not a checkpoint" % (prefix, epoch))
    args, auxs = {}, {}
    for k, v in loaded.items():
        kind, _, name = k.partition(":")
        if kind == "arg":
            args[name] = v
        elif kind == "aux":
            auxs[name] = v
        else:
            raise BrassError("load_params: %s-%04d.params holds %r, not an arg: or aux: name" % (prefix, epoch, k))
    return args, auxs


def load_checkpoint(prefix, epoch):
    """(symbol, arg_params, aux_params) from save_checkpoint's files."""
    symbol = sym.load("%s-symbol.json" % prefix)
    args, auxs = load_params(prefix, epoch)
    return symbol, args, auxs
