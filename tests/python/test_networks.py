"""Whole networks against NumPy: LeNet, an MLP, ResNet-18 v1 and MobileNetV2 (narrow versions,
tests/python/nets.py).

1. Built from symbols in Brass and bound: the forward in inference and in training mode (batch
   statistics) equals a NumPy evaluation of the same graph (the symbol's JSON, interpreted
   below with direct-loop references), in float64; the backward's gradients of every
   parameter and of the data equal the directional derivatives of that NumPy forward.
2. MXNet's own files for these networks (tests/fixtures/mxnet_networks, written by MXNet 1.9.1
   with save_checkpoint: symbol JSON and .params) load, bind and give the NumPy evaluation of
   the loaded graph and parameters, and MXNet's recorded outputs.

Arrays are made without ctx=, so with BRASS_TEST_DEVICE=gpu the networks run on gpu(0)."""
import ast
import json
import os

import numpy as np
import pytest

import brass as mx
from nets import NETS
from test_ops_conv import conv_ref_nd, pool_ref

FIX = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures", "mxnet_networks")


def _tuple(v):
    return tuple(ast.literal_eval(v)) if v not in (None, "", "()") else ()


def _bool(v, default=False):
    return default if v is None else v in ("True", "true", "1")


def np_forward(graph, values, train):
    """Evaluates a symbol's JSON graph in NumPy (float64). values: name -> array for the
    variables. In training mode BatchNorm uses the batch statistics (biased variance)."""
    nodes = graph["nodes"]
    outs = {}
    for i, n in enumerate(nodes):
        a = n.get("attrs", n.get("param", {}))
        ins = [outs[(j, k)] for j, k, *_ in n["inputs"]]
        op = n["op"]
        if op == "null":
            y = np.asarray(values[n["name"]], np.float64)
        elif op == "Convolution":
            b = None if _bool(a.get("no_bias")) else ins[2]
            y = conv_ref_nd(ins[0], ins[1], b, _tuple(a["kernel"]), _tuple(a.get("stride")) or None,
                            _tuple(a.get("dilate")) or None, _tuple(a.get("pad")) or None, int(a.get("num_group", 1)))
        elif op == "BatchNorm":
            x, g, beta, mm, mv = ins
            eps = float(a.get("eps", 1e-3))
            if _bool(a.get("fix_gamma"), True):
                g = np.ones_like(g)
            axes = (0,) + tuple(range(2, x.ndim))
            m, v = (x.mean(axis=axes), x.var(axis=axes)) if train else (mm, mv)
            sh = (1, -1) + (1,) * (x.ndim - 2)
            y = (x - m.reshape(sh)) / np.sqrt(v.reshape(sh) + eps) * g.reshape(sh) + beta.reshape(sh)
        elif op == "Activation":
            t = a["act_type"]
            y = {"relu": lambda z: np.maximum(z, 0), "tanh": np.tanh, "sigmoid": lambda z: 1 / (1 + np.exp(-z))}[t](ins[0])
        elif op == "Pooling":
            y = pool_ref(ins[0], _tuple(a.get("kernel")), a.get("pool_type", "max"), _tuple(a.get("stride")) or None,
                         _tuple(a.get("pad")) or None, a.get("pooling_convention", "valid"), _bool(a.get("global_pool")))
        elif op == "FullyConnected":
            x = ins[0].reshape(ins[0].shape[0], -1)
            y = x @ ins[1].T + (0 if _bool(a.get("no_bias")) else ins[2])
        elif op == "Flatten":
            y = ins[0].reshape(ins[0].shape[0], -1)
        elif op == "clip":
            y = np.clip(ins[0], float(a["a_min"]), float(a["a_max"]))
        elif op in ("elemwise_add", "_Plus", "_plus"):
            y = ins[0] + ins[1]
        else:
            raise NotImplementedError(op)
        outs[(i, 0)] = y
    h = graph["heads"][0]
    return outs[(h[0], h[1])]


def seeded_values(sym, dshape, seed):
    rs = np.random.RandomState(seed)
    arg_shapes, _, aux_shapes = sym.infer_shape(data=dshape)
    vals = {}
    for n, s in list(zip(sym.list_arguments(), arg_shapes)) + list(zip(sym.list_auxiliary_states(), aux_shapes)):
        if n.endswith("_moving_var") or n.endswith("_gamma"):
            vals[n] = rs.uniform(0.5, 1.5, s)
        elif n.endswith("_moving_mean") or n.endswith("_beta") or n.endswith("_bias"):
            vals[n] = rs.uniform(-0.2, 0.2, s)
        else:
            vals[n] = rs.uniform(-1, 1, s) * (np.sqrt(3.0 / np.prod(s[1:])) if len(s) > 1 else 1)
    return vals


def bind(sym, vals, grad=True, dtype="float64"):
    args = {n: mx.nd.array(vals[n], dtype=dtype) for n in sym.list_arguments()}
    aux = {n: mx.nd.array(vals[n], dtype=dtype) for n in sym.list_auxiliary_states()}
    grads = {n: mx.nd.zeros(v.shape, dtype=dtype) for n, v in args.items()} if grad else None
    ctx = mx.gpu(0) if mx.context.current_context().device_type == "gpu" else mx.cpu()
    return sym.bind(ctx, args, args_grad=grads, grad_req="write" if grad else "null", aux_states=aux)


@pytest.mark.parametrize("name", sorted(NETS))
def test_network_forward_and_backward_match_numpy(name):
    sym, dshape = NETS[name](mx.sym)
    graph = json.loads(sym.tojson())
    vals = seeded_values(sym, dshape, 1)
    # inference: the moving statistics
    exe = bind(sym, vals, grad=False)
    y = exe.forward(is_train=False)[0].asnumpy()
    np.testing.assert_allclose(y, np_forward(graph, vals, False), rtol=1e-10, atol=1e-10)
    # training: the batch statistics; then the gradient of sum(h * out) for a random h
    exe = bind(sym, vals)
    y = exe.forward(is_train=True)[0].asnumpy()
    want = np_forward(graph, vals, True)
    np.testing.assert_allclose(y, want, rtol=1e-9, atol=1e-9)
    rs = np.random.RandomState(2)
    h = rs.uniform(-1, 1, want.shape)
    exe.backward(mx.nd.array(h, dtype="float64"))
    names = [n for n in sym.list_arguments()]
    direction = {n: rs.uniform(-1, 1, vals[n].shape) for n in names}

    def check(which):
        """<gradient, direction> over the arrays `which` against central differences of the
        NumPy forward. A ReLU or clip kink may lie within a step of this sample, so the
        derivative must agree at one of three step sizes (a wrong gradient agrees at none)."""
        analytic = sum(float(np.sum(exe.grad_dict[n].asnumpy() * direction[n])) for n in which)
        errs = []
        for eps in (1e-5, 1e-6, 1e-7):
            f = [float(np.sum(h * np_forward(graph, dict(vals, **{n: vals[n] + s * eps * direction[n] for n in which}),
                                             True))) for s in (1, -1)]
            numeric = (f[0] - f[1]) / (2 * eps)
            errs.append(abs(analytic - numeric) / max(1.0, abs(numeric)))
        assert min(errs) <= 1e-6, (which, analytic, errs)
    check(names)
    for n in names[:: max(1, len(names) // 6)]:  # each alone too: a misplaced gradient would cancel above
        check([n])


@pytest.mark.parametrize("name", sorted(NETS))
def test_mxnet_files_run_as_numpy_computes_them(name):
    with open(os.path.join(FIX, "manifest.json")) as f:
        rec = json.load(f)[name]
    sym = mx.sym.load(os.path.join(FIX, name + "-symbol.json"))
    with open(os.path.join(FIX, name + "-symbol.json")) as f:
        graph = json.load(f)
    params = mx.nd.load(os.path.join(FIX, name + "-0000.params"))
    vals = {k.split(":", 1)[1]: v.asnumpy() for k, v in params.items()}
    x = np.array(rec["data"], "float32").reshape(rec["data_shape"])
    vals["data"] = x
    assert set(vals) == set(sym.list_arguments()) | set(sym.list_auxiliary_states())
    exe = bind(sym, vals, grad=False, dtype="float32")
    y = exe.forward(is_train=False)[0].asnumpy()
    want = np_forward(graph, {k: v.astype(np.float64) for k, v in vals.items()}, False)
    assert y.shape == tuple(rec["output_shape"])
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(y, np.array(rec["output"], "float32").reshape(y.shape), rtol=1e-4, atol=1e-5)
