"""Looking at a network (MXNet 1.x ``mx.viz``): ``print_summary`` prints a table of its layers,
``plot_network`` draws it as a Graphviz DOT graph.

>>> import brass as mx
>>> data = mx.sym.var("data")
>>> net = mx.sym.FullyConnected(mx.sym.Activation(data, act_type="relu", name="act"), num_hidden=4, name="fc")
>>> mx.viz.print_summary(net, shape={"data": (1, 3)}, line_length=80)
________________________________________________________________________________
Layer (type)                       Output Shape    Param # Previous Layer
================================================================================
data(null)                         3               0
________________________________________________________________________________
act(Activation)                    3               0       data
________________________________________________________________________________
fc(FullyConnected)                 4               16      act
================================================================================
Total params: 16
________________________________________________________________________________
"""
import json
import os

import numpy as np

from .base import BrassError, atomic_write

__all__ = ["print_summary", "plot_network", "Digraph"]


def _graph(symbol):
    from .symbol.symbol import Symbol
    if not isinstance(symbol, Symbol):
        raise BrassError("viz: expected a Symbol, got %s" % type(symbol).__name__, 1)
    conf = json.loads(symbol.tojson())
    return conf["nodes"], {h[0] for h in conf["heads"]}


def _shapes(symbol, shape):
    """Each internal output's shape (by output name) from the input shapes."""
    if not shape:
        return {}
    if not isinstance(shape, dict):
        raise BrassError("viz: shape must be a dict of input name to shape, got %r" % (shape,), 1)
    internals = symbol.get_internals()
    _, out_shapes, _ = internals.infer_shape_partial(**shape)
    return dict(zip(internals.list_outputs(), out_shapes))


def _is_input(node, shape):
    name = node["name"]
    return name in (shape or {}) or name == "data" or name.endswith("label")


def print_summary(symbol, shape=None, line_length=120, positions=(.44, .64, .74, 1.)):
    """Prints each layer (operator node, and the data) of symbol with its output shape
    (without the batch axis), its number of parameters (the sizes of the variables it
    reads that are not inputs or auxiliary states; needs shape) and the layers feeding it,
    then the total."""
    nodes, heads = _graph(symbol)
    shapes = _shapes(symbol, shape)
    aux = set(symbol.list_auxiliary_states())
    arg_shapes = {}
    if shape:
        arg_shapes = dict(zip(symbol.list_arguments(), symbol.infer_shape_partial(**shape)[0]))
    cols = [int(line_length * p) for p in positions]
    if cols[-1] <= 0 or cols != sorted(cols):
        raise BrassError("print_summary: positions must be increasing fractions, got %r" % (positions,), 1)

    def row(fields):
        line = ""
        for text, end in zip(fields, cols):
            line = (line + str(text))[:end - 1]  # one space at least between columns
            line += " " * (end - len(line))
        print(line.rstrip())

    print("_" * line_length)
    row(["Layer (type)", "Output Shape", "Param #", "Previous Layer"])
    print("=" * line_length)
    total = 0
    shown = [i for i, n in enumerate(nodes) if n["op"] != "null" or (i == 0 or i in heads)]
    for k, i in enumerate(shown):
        node = nodes[i]
        key = node["name"] + ("_output" if node["op"] != "null" else "")
        out = shapes.get(key, shapes.get(node["name"], ()))
        out = "x".join(str(d) for d in out[1:]) if out else ""
        params, previous = 0, []
        for src in node.get("inputs", []):
            inp = nodes[src[0]]
            if inp["op"] != "null" or src[0] == 0 or inp["name"] in (shape or {}):
                previous.append(inp["name"])
            elif inp["name"] not in aux and not _is_input(inp, shape) and arg_shapes.get(inp["name"]):
                params += int(np.prod(arg_shapes[inp["name"]]))
        total += params
        lines = previous or [""]
        row(["%s(%s)" % (node["name"], node["op"]), out, params, lines[0]])
        for p in lines[1:]:
            row(["", "", "", p])
        print(("=" if k == len(shown) - 1 else "_") * line_length)
    print("Total params: %d" % total)
    print("_" * line_length)


class Digraph:
    """A drawn network: ``source`` is its Graphviz DOT text; ``save`` writes it, ``render``
    also runs Graphviz on it when the ``graphviz`` package (and its ``dot`` program) is
    installed."""

    def __init__(self, name, source, save_format="pdf"):
        self.name, self.source, self.format = name, source, save_format

    def __repr__(self):
        return "<Digraph %s: %d lines of DOT>" % (self.name, self.source.count("\n"))

    def save(self, filename=None, directory=None):
        """Writes the DOT text (atomically) to filename (default ``<name>.gv``); returns the path."""
        path = filename or "%s.gv" % self.name
        if directory:
            path = os.path.join(directory, path)
        atomic_write(path, self.source.encode())
        return path

    def render(self, filename=None, directory=None, view=False, cleanup=False):
        """Writes the DOT file and, with the graphviz package, the rendered file in
        ``format`` (its path is returned; without graphviz, the DOT file's)."""
        path = self.save(filename, directory)
        try:
            import graphviz
        except ImportError:
            return path
        return graphviz.Source(self.source, format=self.format).render(path, view=view, cleanup=cleanup)


def _label(node):
    op, attrs = node["op"], node.get("attrs", {})

    def tup(key):
        return "x".join(v.strip() for v in attrs.get(key, "").strip("()[]").split(",") if v.strip())
    if op == "Convolution" or op == "Deconvolution":
        text = "%s\\n%s/%s, %s" % (op, tup("kernel"), tup("stride") or "1", attrs.get("num_filter", ""))
    elif op == "FullyConnected":
        text = "FullyConnected\\n%s" % attrs.get("num_hidden", "")
    elif op in ("Activation", "LeakyReLU"):
        text = "%s\\n%s" % (op, attrs.get("act_type", ""))
    elif op == "Pooling":
        text = "Pooling\\n%s, %s/%s" % (attrs.get("pool_type", "max"), tup("kernel"), tup("stride") or "1")
    else:
        text = op if op != "null" else node["name"]
    return text


_COLORS = {"Convolution": "#fb8072", "Deconvolution": "#fb8072", "FullyConnected": "#fb8072",
           "BatchNorm": "#bebada", "Activation": "#ffffb3", "LeakyReLU": "#ffffb3", "Pooling": "#80b1d3",
           "Concat": "#fdb462", "Flatten": "#fdb462", "Reshape": "#fdb462", "SoftmaxOutput": "#b3de69",
           "softmax": "#b3de69", "null": "#8dd3c7"}


def plot_network(symbol, title="plot", save_format="pdf", shape=None, dtype=None, node_attrs=None,
                 hide_weights=True):
    """The network as a Digraph (DOT): a box per operator (and per input), edges from inputs
    to consumers, labelled with the shapes flowing along them when shape is given; weights,
    biases and auxiliary states are left out with hide_weights."""
    nodes, heads = _graph(symbol)
    shapes = _shapes(symbol, shape)
    attrs = {"shape": "box", "fixedsize": "true", "width": "1.3", "height": "0.8034", "style": "filled"}
    attrs.update(node_attrs or {})
    hidden = set()
    lines = ['digraph "%s" {' % title.replace('"', r'\"'),
             "  node [%s];" % ", ".join('%s="%s"' % kv for kv in sorted(attrs.items()))]
    for i, node in enumerate(nodes):
        if node["op"] == "null" and hide_weights and i not in heads and not _is_input(node, shape):
            hidden.add(i)
            continue
        color = _COLORS.get(node["op"], "#fccde5")
        shape_kind = "oval" if node["op"] == "null" else "box"
        lines.append('  n%d [label="%s", fillcolor="%s", shape=%s, tooltip="%s"];'
                     % (i, _label(node), color, shape_kind, node["name"]))
    for i, node in enumerate(nodes):
        if i in hidden:
            continue
        for src in node.get("inputs", []):
            if src[0] in hidden:
                continue
            inp = nodes[src[0]]
            key = inp["name"] + ("_output" if inp["op"] != "null" else "")
            if inp["op"] != "null" and src[1] > 0:
                key = "%s_output%d" % (inp["name"], src[1])
            label = ""
            if len(shapes.get(key) or ()) > 1:
                label = ' [label="%s"]' % "x".join(str(d) for d in shapes[key][1:])
            lines.append("  n%d -> n%d%s;" % (src[0], i, label))
    lines.append("}")
    return Digraph(title, "\n".join(lines) + "\n", save_format)
