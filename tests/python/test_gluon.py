"""Gluon core: parameters and deferred initialization, MXNet 1.x names, blocks in both styles,
hybridize (same outputs and gradients as imperative), export/imports, save/load, bad input."""
import json
import os

import numpy as np
import pytest

import brass as mx
from brass import gluon
from brass.gluon import nn


def _x(shape, seed=0):
    return mx.nd.array(np.random.RandomState(seed).uniform(-1, 1, shape).astype(np.float32))


def _cnn():
    net = nn.HybridSequential()
    with net.name_scope():
        net.add(nn.Conv2D(4, 3, padding=1, activation="relu"), nn.BatchNorm(), nn.MaxPool2D(),
                nn.Conv2D(6, 3, strides=2), nn.AvgPool2D(pool_size=2, strides=1), nn.Flatten(),
                nn.Dense(10, activation="tanh"), nn.Dropout(0.5), nn.Dense(3))
    return net


def _mlp():
    net = nn.HybridSequential()
    with net.name_scope():
        net.add(nn.Dense(16, activation="relu"), nn.Dense(8, activation="sigmoid"), nn.Dense(2))
    return net


# ---- names ---------------------------------------------------------------------------------
def test_names_follow_mxnet():
    with mx.name.NameManager():
        a, b = nn.Dense(2), nn.Dense(3)
        assert (a.prefix, b.prefix) == ("dense0_", "dense1_")
        assert a.weight.name == "dense0_weight" and a.bias.name == "dense0_bias"
        net = nn.HybridSequential(prefix="mobilenet0_")
        with net.name_scope():
            net.add(nn.Conv2D(2, 1), nn.Conv2D(2, 1), nn.BatchNorm())
        assert sorted(net.collect_params().keys()) == [
            "mobilenet0_batchnorm0_beta", "mobilenet0_batchnorm0_gamma", "mobilenet0_batchnorm0_running_mean",
            "mobilenet0_batchnorm0_running_var", "mobilenet0_conv0_bias", "mobilenet0_conv0_weight",
            "mobilenet0_conv1_bias", "mobilenet0_conv1_weight"]
        assert sorted(net.collect_params("mobilenet0_conv0_.*").keys()) == ["mobilenet0_conv0_bias",
                                                                           "mobilenet0_conv0_weight"]


def test_params_sharing_and_get():
    a = nn.Dense(4, in_units=3)
    b = nn.Dense(4, in_units=3, params=a.params)
    assert b.weight is a.weight
    block = gluon.Block(prefix="blk_")
    with block.name_scope():
        w = block.params.get("w", shape=(2, 0), allow_deferred_init=True)
        assert block.params.get("w", shape=(0, 5)) is w
    assert w.shape == (2, 5) and w.name == "blk_w"
    with pytest.raises(mx.BrassError, match="dtype"):
        block.params.get("w", dtype="float64")


# ---- deferred initialization and errors ----------------------------------------------------
def test_deferred_initialization_and_clear_errors():
    net = _mlp()
    net.initialize()
    w = net[0].weight
    with pytest.raises(gluon.DeferredInitializationError, match="first forward"):
        w.data()
    assert net(_x((5, 7))).shape == (5, 2)
    assert w.shape == (16, 7) and w.data().shape == (16, 7)
    fresh = nn.Dense(3, in_units=2)
    with pytest.raises(mx.BrassError, match="has not been initialized"):
        fresh.weight.data()
    fresh.initialize()
    assert fresh.weight.data().shape == (3, 2) and fresh.bias.data().asnumpy().tolist() == [0, 0, 0]
    with pytest.raises(mx.BrassError, match="expected an NDArray"):
        fresh(np.ones((1, 2)))
    with pytest.raises(mx.BrassError, match="FullyConnected"):
        fresh(mx.nd.ones((1, 5)))  # wrong input width: the op names itself


# ---- imperative vs hybridized --------------------------------------------------------------
def _grads(net, x, train=True):
    with mx.autograd.record(train_mode=train):
        y = net(x)
        loss = (y * y).sum()
    loss.backward()
    return y.asnumpy(), {k: p.grad().asnumpy().copy() for k, p in net.collect_params().items()
                         if p.grad_req != "null"}


@pytest.mark.parametrize("make,shape", [(_mlp, (4, 7)), (_cnn, (2, 3, 12, 12))], ids=["mlp", "cnn"])
def test_hybridized_matches_imperative(make, shape):
    mx.random.seed(3)
    net = make()
    net.initialize(mx.init.Xavier())
    x = _x(shape, 1)
    net(x)  # finish deferred init
    # Predict mode: Dropout is identity, BatchNorm uses the running stats (not updated).
    y0, g0 = _grads(net, x, train=False)
    net.hybridize()
    y1, g1 = _grads(net, x, train=False)
    np.testing.assert_allclose(y1, y0, rtol=1e-5, atol=1e-6)
    for k in g0:
        np.testing.assert_allclose(g1[k], g0[k], rtol=1e-4, atol=1e-6, err_msg=k)
    assert net._cached is not None


def _twin_cnns(shape, seed):
    """Two CNNs with the same parameters (initialized by a first call on x), and x."""
    mx.random.seed(seed)
    imp, hyb = _cnn(), _cnn()
    for n in (imp, hyb):
        n.initialize(mx.init.Xavier())
    x = _x(shape, seed)
    imp(x), hyb(x)
    for p, q in zip(imp.collect_params().values(), hyb.collect_params().values()):
        q.set_data(p.data())
    return imp, hyb, x


def test_hybridized_training_mode_updates_running_stats_like_imperative():
    imp, hyb, x = _twin_cnns((2, 3, 12, 12), 5)
    hyb.hybridize()
    for n in (imp, hyb):
        mx.random.seed(11)  # the same dropout masks
        with mx.autograd.record():
            y = n(x)
        y.backward()
    rm_i = [p.data().asnumpy() for k, p in imp.collect_params().items() if "running" in k]
    rm_h = [p.data().asnumpy() for k, p in hyb.collect_params().items() if "running" in k]
    for a, b in zip(rm_i, rm_h):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    assert not np.allclose(rm_i[0], 0)  # the running mean moved


class _MX1Style(gluon.HybridBlock):
    """An MXNet 1.x block: parameters by name into hybrid_forward."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.weight = self.params.get("weight", shape=(4, 3))
            self.dense = nn.Dense(2, in_units=3)

    def hybrid_forward(self, F, x, weight):
        return self.dense(F.relu(F.dot(x, weight)))


class _ForwardStyle(gluon.HybridBlock):
    """A block written with forward(self, x)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.a = nn.Dense(5)
            self.b = nn.Dense(2)

    def forward(self, x):
        return self.b(self.a(x).relu())


@pytest.mark.parametrize("cls", [_MX1Style, _ForwardStyle])
def test_custom_blocks_in_both_styles_hybridize(cls):
    net = cls()
    net.initialize()
    x = _x((3, 4))
    y0, g0 = _grads(net, x)
    net.hybridize()
    y1, g1 = _grads(net, x)
    np.testing.assert_allclose(y1, y0, rtol=1e-6)
    for k in g0:
        np.testing.assert_allclose(g1[k], g0[k], rtol=1e-5, atol=1e-7)
    assert net._cached is not None


def test_plain_block_and_sequential():
    class Twice(gluon.Block):
        def __init__(self):
            super().__init__()
            with self.name_scope():
                self.inner = nn.Dense(3, in_units=2)

        def forward(self, x):
            return self.inner(x) * 2

    net = nn.Sequential()
    net.add(Twice(), nn.Activation("relu"))
    net.initialize()
    out = net(mx.nd.ones((4, 2)))
    assert out.shape == (4, 3) and len(net) == 2
    with pytest.raises(mx.BrassError, match="HybridBlocks"):
        nn.HybridSequential().add(Twice())


# ---- files ---------------------------------------------------------------------------------
def test_export_imports_round_trip(tmp_path):
    net = _cnn()
    net.initialize(mx.init.Xavier())
    x = _x((2, 3, 12, 12), 4)
    net.hybridize()
    want = net(x).asnumpy()
    path = str(tmp_path / "model")
    sym_file, params_file = net.export(path, epoch=3)
    assert os.path.basename(params_file) == "model-0003.params"
    doc = json.loads(open(sym_file).read())
    assert doc["nodes"][0]["name"] == "data"
    saved = mx.nd.load(params_file)
    assert any(k.startswith("aux:") and k.endswith("running_mean") for k in saved)
    assert all(k.startswith(("arg:", "aux:")) for k in saved)
    back = gluon.SymbolBlock.imports(sym_file, ["data"], params_file)
    np.testing.assert_allclose(back(x).asnumpy(), want, rtol=1e-6)
    with pytest.raises(mx.BrassError, match="hybridize"):
        _mlp().export(path)


def test_save_load_parameters(tmp_path):
    a, b = _mlp(), _mlp()
    a.initialize()
    x = _x((2, 5))
    a(x)
    f = str(tmp_path / "mlp.params")
    a.save_parameters(f)
    assert sorted(mx.nd.load(f))[:2] == ["0.bias", "0.weight"]
    b.load_parameters(f)
    np.testing.assert_allclose(b(x).asnumpy(), a(x).asnumpy())
    with pytest.raises(mx.BrassError, match="has no values for parameters"):
        nn.Dense(2).load_parameters(f)
    with pytest.raises(mx.BrassError, match="which the block does not have"):
        nn.Dense(2).load_parameters(f, allow_missing=True)
    full = str(tmp_path / "full.params")
    a.collect_params().save(full, strip_prefix=a.prefix)  # ParameterDict.save / load by full names
    c = _mlp()
    c.collect_params().load(full, restore_prefix=c.prefix)
    np.testing.assert_allclose(c(x).asnumpy(), a(x).asnumpy())


def test_symbolblock_from_symbols():
    x = mx.sym.var("data")
    y = mx.sym.FullyConnected(x, num_hidden=3, name="fc")
    blk = gluon.SymbolBlock(y, x)
    blk.initialize()
    out = blk(mx.nd.ones((2, 4)))
    assert out.shape == (2, 3)
    assert sorted(blk.collect_params().keys()) == ["fc_bias", "fc_weight"]


@pytest.mark.parametrize("module", ["brass.gluon.block", "brass.initializer", "brass.gluon.utils", "brass.kvstore",
                                    "brass.gluon.trainer", "brass.viz"])
def test_docstring_examples(module):
    import doctest
    import importlib
    res = doctest.testmod(importlib.import_module(module))
    assert res.attempted > 0 and res.failed == 0


@pytest.mark.parametrize("name", ["brass_cnn", "brass_mlp"])
def test_mxnet_runs_what_brass_exports(name):
    """Brass-written exports (tests/fixtures/make_brass_exports.py), loaded and run by MXNet
    1.9.1 (make_symbol_fixtures.py): Brass imports the same files and computes what MXNet did."""
    fix = os.path.join(os.path.dirname(__file__), "..", "fixtures", "mxnet_symbols")
    with open(os.path.join(fix, "manifest.json")) as f:
        mxnet = json.load(f)["brass_exports"][name]
    with open(os.path.join(fix, "brass_exports_input.json")) as f:
        inp = json.load(f)[name]
    block = gluon.SymbolBlock.imports(os.path.join(fix, name + "-symbol.json"), ["data"],
                                      os.path.join(fix, name + "-0000.params"))
    sym = mx.sym.load(os.path.join(fix, name + "-symbol.json"))
    assert sym.list_arguments() == mxnet["arguments"]
    assert sym.list_auxiliary_states() == mxnet["auxiliary_states"]
    x = mx.nd.array(np.array(inp["values"], dtype=np.float32).reshape(inp["shape"]))
    np.testing.assert_allclose(block(x).asnumpy().ravel(), mxnet["forward"], rtol=1e-4, atol=1e-5)


def test_hybridized_inference_runs_a_planned_executor():
    net = _cnn()
    net.initialize(mx.init.Xavier())
    x1, x2 = _x((2, 3, 12, 12), 7), _x((3, 3, 12, 12), 8)
    want1, want2 = net(x1).asnumpy(), net(x2).asnumpy()
    net.hybridize()
    y1 = net(x1)
    y2 = net(x2)  # another batch size: another executor; y1 must survive
    np.testing.assert_allclose(y1.asnumpy(), want1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(y2.asnumpy(), want2, rtol=1e-5, atol=1e-6)
    assert net._num_executors() == 2
    net[0].weight.set_data(mx.nd.zeros(net[0].weight.shape))  # same arrays: the executors see it
    assert not np.allclose(net(x1).asnumpy(), want1)
    net.collect_params().initialize(mx.init.Xavier(), force_reinit=True)  # new arrays: rebound
    y = net(x1).asnumpy()
    net.hybridize(False)
    np.testing.assert_allclose(y, net(x1).asnumpy(), rtol=1e-5, atol=1e-6)


def test_hybridized_training_steps_match_imperative_and_reuse_one_executor():
    """Several SGD steps through the cached executor (train mode: batch statistics, running
    stats updated) give the same parameters as imperative steps; the executor is reused."""
    imp, hyb, x = _twin_cnns((3, 3, 12, 12), 4)
    hyb.hybridize(static_alloc=True, static_shape=True)
    for step in range(3):
        for n in (imp, hyb):
            mx.random.seed(20 + step)  # the same dropout masks
            with mx.autograd.record():
                y = n(x)
                loss = (y * y).mean()
            loss.backward()
            for p in n.collect_params().values():
                if p.grad_req != "null":
                    p.set_data(p.data() - 0.1 * p.grad())
    for (k, p), q in zip(imp.collect_params().items(), hyb.collect_params().values()):
        np.testing.assert_allclose(q.data().asnumpy(), p.data().asnumpy(), rtol=1e-4, atol=1e-5, err_msg=k)
    assert hyb._num_executors() == 1  # the previous step's graph was freed by its backward


def test_hybridized_block_called_twice_in_one_graph():
    """A shared block applied twice before one backward: each call keeps its own forward
    values; gradients add up as imperatively; the input's gradient flows through both."""
    net = _mlp()
    net.initialize(mx.init.Xavier())
    a, b = _x((4, 7), 1), _x((4, 7), 2)
    net(a)

    def run():
        xa, xb = a.copy(), b.copy()
        xa.attach_grad()
        with mx.autograd.record():
            loss = (net(xa) * net(xb)).sum() + net(xa).sum()
        loss.backward()
        return xa.grad.asnumpy(), {k: p.grad().asnumpy().copy() for k, p in net.collect_params().items()}

    ga0, g0 = run()
    net.hybridize()
    ga1, g1 = run()
    np.testing.assert_allclose(ga1, ga0, rtol=1e-5, atol=1e-6)
    for k in g0:
        np.testing.assert_allclose(g1[k], g0[k], rtol=1e-5, atol=1e-6, err_msg=k)
    # xa (recorded) and xb (not) differ in gradient needs: two signatures; xa's ran twice at once.
    assert net._num_executors() == 3
    ga2, _ = run()  # all three free again: reused
    np.testing.assert_allclose(ga2, ga0, rtol=1e-5, atol=1e-6)
    assert net._num_executors() == 3


def test_hybridized_retain_graph_dropout_mask_and_errors():
    net = nn.HybridSequential()
    with net.name_scope():
        net.add(nn.Dense(6, in_units=5), nn.Dropout(0.5))
    net.initialize(mx.init.Xavier())
    net.hybridize()
    x = _x((8, 5), 3)
    x.attach_grad()
    with mx.autograd.record():
        y = net(x)
        loss = y.sum()
    loss.backward(retain_graph=True)
    g1 = x.grad.asnumpy().copy()
    w = net[0].weight.data().asnumpy()
    # The backward used the forward's dropout mask: d sum(y) / dx = (mask / 0.5) @ W.
    mask = (y.asnumpy() != 0) / 0.5
    np.testing.assert_allclose(g1, mask @ w, rtol=1e-5, atol=1e-6)
    loss.backward()  # retained: the same forward values again
    np.testing.assert_allclose(x.grad.asnumpy(), g1, rtol=1e-6)
    with pytest.raises(mx.BrassError, match="retain_graph"):
        loss.backward()
    with mx.autograd.record():
        y = net(x)
    with pytest.raises(mx.BrassError, match="hybridized block: .*create_graph"):
        mx.autograd.grad(y, [x], create_graph=True)  # toward a second derivative


def test_main_job_trains_lenet_to_96_percent(tmp_path, capsys):
    """The main job with its defaults: at least 96% of the 1,000 held-out digits, a checkpoint,
    an export in MXNet's format that loads back to the same predictions."""
    from brass import demo
    held = demo.main(["--plain", "--summary", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert held >= 0.96, out
    assert "epoch 12/12" in out and "samples/s" in out, out
    for f in ("lenet.params", "lenet.states", "lenet-symbol.json", "lenet-0000.params", "lenet.gv"):
        assert (tmp_path / f).stat().st_size > 0, f
    assert "Total params: 431080" in out, out  # the layer table (--summary)
    assert (tmp_path / "lenet.gv").read_text().startswith('digraph "lenet"')
    assert "max |diff| 0.0e+00" in out, out
    sym = mx.sym.load(str(tmp_path / "lenet-symbol.json"))
    assert "lenet_conv0_weight" in sym.list_arguments()
    # The C predictor, compiled from its two files, classifies the held-out digits as Python did.
    assert "c++ -std=c++17 -O2 -c brass_predict.cc" in out, out
    assert "on the 1000 held-out digits: accuracy %.4f; same class as Python for 1000" % held in out, out
    assert len(list((tmp_path / "heldout").glob("*.pgm"))) == 1000


def test_main_job_help_and_bad_device(capsys):
    from brass import demo
    with pytest.raises(SystemExit) as e:
        demo.main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for opt in ("--epochs", "--batch-size", "--optimizer", "--device", "--out", "--mnist-dir", "--summary"):
        assert opt in out
    with pytest.raises(SystemExit):
        demo.main(["--device", "tpu"])
    assert "--device must be cpu or gpu" in capsys.readouterr().err


# ---- regressions from review ---------------------------------------------------------------
def test_symbolblock_shares_a_networks_parameters():
    net = nn.HybridSequential()
    with net.name_scope():
        net.add(nn.Dense(5, in_units=4, activation="relu"), nn.Dense(3, in_units=5))
    net.initialize()
    data = mx.sym.var("data")
    internals = net(data).get_internals()
    names = internals.list_outputs()
    assert net.prefix + "dense0_relu_fwd_output" in names  # MXNet's names for a layer's activation
    feat = gluon.SymbolBlock(internals[net.prefix + "dense0_relu_fwd_output"], data, params=net.collect_params())
    x = _x((2, 4))
    assert feat.collect_params()[net.prefix + "dense0_weight"] is net[0].weight
    np.testing.assert_allclose(feat(x).asnumpy(), net[0](x).asnumpy(), rtol=1e-6)


def test_cast_after_hybridize_and_legacy_param_names(tmp_path):
    net = _mlp()
    net.initialize()
    x = _x((2, 3))
    net.hybridize()
    net(x)
    net.cast("float64")
    assert net(x.astype("float64")).dtype == np.float64
    f = str(tmp_path / "legacy.params")
    net.collect_params().save(f, strip_prefix=net.prefix)  # MXNet 1.x save_params names
    other2 = nn.HybridSequential(prefix=net.prefix)
    with other2.name_scope():
        other2.add(nn.Dense(16, activation="relu"), nn.Dense(8, activation="sigmoid"), nn.Dense(2))
    other2.cast("float64")
    other2.load_parameters(f)
    np.testing.assert_allclose(other2(x.astype("float64")).asnumpy(), net(x.astype("float64")).asnumpy())


def test_frozen_parameter_has_no_gradient_buffer_and_can_thaw():
    net = _mlp()
    net.initialize(mx.init.Xavier())
    x = _x((4, 7), 5)
    net(x)
    w = net[0].weight
    w.grad_req = "null"  # frozen: no buffer, outside recorded graphs
    grads = []
    for hybrid in (False, True):
        net.hybridize(hybrid)
        _, g = _grads(net, x)
        assert w.name not in g
        with pytest.raises(mx.BrassError, match="grad_req 'null'"):
            w.grad()
        grads.append(g)
    for k in grads[0]:
        np.testing.assert_allclose(grads[1][k], grads[0][k], rtol=1e-5, atol=1e-6, err_msg=k)
    w.grad_req = "write"
    _, g = _grads(net, x)
    assert np.abs(g[w.name]).sum() > 0


def test_a_dropped_network_is_freed_without_the_garbage_collector():
    """Blocks hold no reference cycles (their name scope refers back weakly), so a model's
    arrays go as soon as the last reference does, not at some later gc pass."""
    import gc
    import weakref
    gc.collect()
    gc.disable()
    try:
        net = mx.gluon.nn.HybridSequential()
        with net.name_scope():
            net.add(mx.gluon.nn.Dense(4, activation="relu"), mx.gluon.nn.Dense(2))
        net.initialize()
        net.hybridize()
        net(mx.nd.ones((1, 3)))
        refs = [weakref.ref(net), weakref.ref(net[0]), weakref.ref(net[0].weight)]
        del net
        assert [r() for r in refs] == [None, None, None]
    finally:
        gc.enable()
