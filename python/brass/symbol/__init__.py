"""Symbolic graphs (MXNet 1.x ``mx.sym``): variables, every registered op as a function on
symbols (generated from the registry, like ``brass.nd``), JSON load/save, binding."""
from .symbol import Symbol, var, Variable, Group, load, load_json, zeros, ones, generate  # noqa: F401

generate(globals())
del generate
