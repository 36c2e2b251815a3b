"""Channels-last storage inside MobileNet's blocks (graph::store_channels_last): in binds
without gradients that ask for it (BRASS_CHANNELS_LAST=1; the predictor's default), each fused
pointwise -> depthwise -> pointwise chain keeps its two inner values channels-last. The outputs
are bit-identical to channels-first storage for every plane size, stride, channel count (whole
vector blocks and tails), epilogue and dtype; values a caller can see stay channels-first; and
BatchNorm on batch statistics fails with a clear error instead of computing on the wrong
layout."""
import os
import subprocess
import sys

import numpy as np
import pytest

import brass as mx
from test_predict_api import LIB, create, load, ok, run


def block(x, cin, cout, t, stride, name, act="clip", bias=False):
    """MobileNetV2's inverted residual: 1x1 expand, 3x3 depthwise, 1x1 project, each with
    BatchNorm (and relu6 or relu on the first two), the input added when the shapes match."""
    h = cin * t

    def cbn(y, f, k, s, g, suffix, with_act):
        y = mx.sym.Convolution(y, num_filter=f, kernel=(k, k), stride=(s, s), pad=(k // 2, k // 2), num_group=g,
                               no_bias=not bias, name=f"{name}_conv{suffix}")
        y = mx.sym.BatchNorm(y, fix_gamma=False, name=f"{name}_bn{suffix}")
        if not with_act:
            return y
        return mx.sym.clip(y, 0, 6) if act == "clip" else mx.sym.Activation(y, act_type="relu")

    y = cbn(x, h, 1, 1, 1, 0, True)
    y = cbn(y, h, 3, stride, h, 1, True)
    y = cbn(y, cout, 1, 1, 1, 2, False)
    return y + x if stride == 1 and cin == cout else y


def net():
    x = mx.sym.Variable("data")
    y = block(x, 3, 8, 3, 1, "b0")                 # 9 channels inside: a tail only
    y = block(y, 8, 8, 5, 1, "b1", act="relu")      # 40: two whole blocks and a tail, residual
    y = block(y, 8, 16, 9, 2, "b2", bias=True)      # 72: two groups of channels, stride 2, biases
    y = block(y, 16, 16, 3, 2, "b3")                # 48, stride 2 down to the last planes
    y = block(y, 16, 16, 2, 1, "b4")
    return mx.sym.Pooling(y, global_pool=True, kernel=(1, 1), pool_type="avg")


def params(sym, shape, dtype, seed=0):
    rs = np.random.RandomState(seed)
    arg_shapes, _, aux_shapes = sym.infer_shape(data=shape)
    args = {n: rs.uniform(-0.5, 0.5, s).astype(dtype) for n, s in zip(sym.list_arguments(), arg_shapes)}
    aux = {}
    for n, s in zip(sym.list_auxiliary_states(), aux_shapes):
        aux[n] = (rs.uniform(-0.3, 0.3, s) if "mean" in n else rs.uniform(0.5, 1.5, s)).astype(dtype)
    for n in args:
        if n.endswith("gamma"):
            args[n] = rs.uniform(0.5, 1.5, args[n].shape).astype(dtype)
    return args, aux


def bind(sym, args, aux, dtype):
    exe = sym.simple_bind(mx.cpu(), grad_req="null", type_dict={"data": dtype}, data=args["data"].shape)
    for n, v in args.items():
        exe.arg_dict[n][:] = v
    for n, v in aux.items():
        exe.aux_dict[n][:] = v
    return exe


SHAPES = [(1, 3, 9, 9), (2, 3, 16, 12), (1, 3, 2, 7), (1, 3, 1, 1), (1, 3, 3, 1)]


def same_bits(dtype, shape, sym=None, blocks=5):
    """The net bound channels-first and channels-last: its blocks stored channels-last
    (counted with the fused groups), the same bits, and training mode refused."""
    sym = net() if sym is None else sym
    args, aux = params(sym, shape, dtype)
    args["data"] = np.random.RandomState(1).uniform(-1, 1, shape).astype(dtype)
    os.environ["BRASS_CHANNELS_LAST"] = "0"
    first = bind(sym, args, aux, dtype)
    os.environ["BRASS_FUSE"] = "0"
    plain = bind(sym, args, aux, dtype)  # the ops one by one: nothing kept between calls
    del os.environ["BRASS_FUSE"]
    os.environ["BRASS_CHANNELS_LAST"] = "1"
    last = bind(sym, args, aux, dtype)
    del os.environ["BRASS_CHANNELS_LAST"]
    assert last.memory_plan["fused"] == first.memory_plan["fused"] + blocks
    want = first.forward(is_train=False)[0].asnumpy()
    got = last.forward(is_train=False)[0].asnumpy()
    np.testing.assert_array_equal(got, want)
    # New weights, then new moving statistics: what the kernels keep between calls (the
    # depthwise taps, BatchNorm's inverse std and scale) follows them.
    new_args, new_aux = params(sym, shape, dtype, seed=2)
    for arrays, new in (("arg_dict", new_args), ("aux_dict", new_aux)):
        for exe in (plain, first, last):
            for n, v in new.items():
                if n != "data":
                    getattr(exe, arrays)[n][:] = v
        want2 = plain.forward(is_train=False)[0].asnumpy()
        assert not np.array_equal(want2, want)
        for exe in (first, last):
            np.testing.assert_array_equal(exe.forward(is_train=False)[0].asnumpy(), want2)
        want = want2
    with pytest.raises(mx.base.BrassError, match="channels-last.*batch statistics"):
        last.forward(is_train=True)[0].asnumpy()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", SHAPES)
def test_blocks_channels_last_give_the_same_bits(monkeypatch, dtype, shape):
    monkeypatch.setenv("BRASS_CHANNELS_LAST", "0")  # restored after
    same_bits(dtype, shape)


@pytest.mark.parametrize("isa", ["scalar", "avx2", "avx512"])
def test_same_bits_on_every_isa(isa):
    """Each ISA's GEMM (filters as columns: the micro-kernels' registers, their column and
    bottom-edge kernels, or the epilogue's function; transposed B panels) and the depthwise
    kernel's vectors (a missing ISA falls back)."""
    prog = ("import sys; sys.path.insert(0, sys.argv[1]); import test_channels_last as t\n"
            "for dt in ('float32', 'float64'):\n"
            "    for shape in ((2, 3, 16, 12), (1, 3, 9, 9)): t.same_bits(dt, shape)\n")
    env = dict(os.environ, BRASS_ISA=isa)
    run = subprocess.run([sys.executable, "-c", prog, os.path.dirname(os.path.abspath(__file__))], env=env,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_wide_blocks_split_across_many_threads():
    """Products split into many tasks (eight threads): a task's columns of the filters packed
    once as B start at a whole panel, so a wide expansion on a small plane (960 filters, 49
    pixels) gives the same bits as channels-first."""
    prog = ("import sys; sys.path.insert(0, sys.argv[1]); import test_channels_last as t, brass as mx\n"
            "y = t.block(mx.sym.Variable('data'), 160, 160, 6, 1, 'w0')\n"
            "y = t.block(y, 160, 24, 6, 1, 'w1')\n"
            "t.same_bits('float32', (1, 160, 7, 7), y, blocks=2)\n")
    env = dict(os.environ, BRASS_NUM_THREADS="8")
    run = subprocess.run([sys.executable, "-c", prog, os.path.dirname(os.path.abspath(__file__))], env=env,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_values_a_caller_sees_stay_channels_first(monkeypatch):
    """An inner value that is also an output (get_internals) is no chain's link: it and the
    rest come out as channels-first computes them."""
    sym = net()
    inner = sym.get_internals()["b1_bn1_output"]
    both = mx.sym.Group([sym, inner])
    shape = (1, 3, 9, 9)
    args, aux = params(both, shape, "float32")
    args["data"] = np.random.RandomState(2).uniform(-1, 1, shape).astype("float32")
    monkeypatch.setenv("BRASS_CHANNELS_LAST", "0")
    want = [o.asnumpy() for o in bind(both, args, aux, "float32").forward(is_train=False)]
    monkeypatch.setenv("BRASS_CHANNELS_LAST", "1")
    exe = bind(both, args, aux, "float32")
    got = [o.asnumpy() for o in exe.forward(is_train=False)]
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


def test_the_predictor_stores_blocks_channels_last(monkeypatch, tmp_path):
    """The predictor binds channels-last by default: the same bits as with it turned off, and
    an internal output asked for by name is channels-first."""
    sym = net()
    shape = (2, 3, 16, 12)
    args, aux = params(sym, shape, "float32", seed=3)
    x = np.random.RandomState(4).uniform(-1, 1, shape).astype("float32")
    del args["data"]
    prefix = str(tmp_path / "mb")
    mx.model.save_checkpoint(prefix, 0, sym, {k: mx.nd.array(v) for k, v in args.items()},
                             {k: mx.nd.array(v) for k, v in aux.items()})
    outs = {}
    for flag in ["0", None]:
        if flag is None:
            monkeypatch.delenv("BRASS_CHANNELS_LAST", raising=False)
        else:
            monkeypatch.setenv("BRASS_CHANNELS_LAST", flag)
        model = load(prefix + "-symbol.json", prefix + "-0000.params")
        status, pred = create(model, {"data": shape})
        ok(status)
        outs[flag] = run(pred, "data", x)
        status, part = create(model, {"data": shape}, outputs=["b2_bn1"])
        ok(status)
        outs[(flag, "inner")] = run(part, "data", x)
        LIB.brass_predictor_free(pred)
        LIB.brass_predictor_free(part)
        LIB.brass_model_free(model)
    np.testing.assert_array_equal(outs[None], outs["0"])
    np.testing.assert_array_equal(outs[(None, "inner")], outs[("0", "inner")])
    assert outs[(None, "inner")].shape == (2, 72, 8, 6)
