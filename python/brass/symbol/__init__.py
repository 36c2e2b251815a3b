"""Symbolic graphs (MXNet 1.x ``mx.sym``): variables, every registered op as a function on
symbols (generated from the registry, like ``brass.nd``), JSON load/save, binding."""
from .symbol import (Symbol, var, Variable, Group, load, load_json, zeros, ones, maximum, minimum,  # noqa: F401
                     generate)

generate(globals())
del generate
from . import image  # noqa: E402,F401
from . import random  # noqa: E402,F401
