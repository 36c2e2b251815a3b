"""gluon.Trainer: SGD steps against NumPy, the optimizer's multipliers through Parameters, stale
gradients, grad_req 'add', hybridized and imperative training agreeing, saved states, errors."""
import numpy as np
import pytest

import brass as mx
from brass import autograd, gluon
from brass.gluon import nn


def mlp(hybrid=False):
    net = nn.HybridSequential(prefix="mlp_")
    with net.name_scope():
        net.add(nn.Dense(5, in_units=4, activation="relu"))
        net.add(nn.Dense(3, in_units=5))
    net.initialize(mx.init.Xavier(rnd_type="gaussian"))
    if hybrid:
        net.hybridize()
    return net


def data(seed=0, n=6):
    r = np.random.RandomState(seed)
    return r.uniform(-1, 1, (n, 4)).astype(np.float32), r.uniform(-1, 1, (n, 3)).astype(np.float32)


def set_weights(net, seed=1):
    r = np.random.RandomState(seed)
    for name in sorted(net.collect_params().keys()):
        p = net.collect_params()[name]
        p.set_data(mx.nd.array(r.uniform(-0.5, 0.5, p.shape)))


def test_sgd_step_matches_numpy():
    """One step of plain SGD with weight decay: w -= lr * (grad / batch + wd * w), the gradient
    of the squared error of a two-layer MLP computed by hand."""
    net = mlp()
    set_weights(net)
    x, y = data()
    params = net.collect_params()
    w1, b1 = params["mlp_dense0_weight"].data().asnumpy(), params["mlp_dense0_bias"].data().asnumpy()
    w2, b2 = params["mlp_dense1_weight"].data().asnumpy(), params["mlp_dense1_bias"].data().asnumpy()
    trainer = gluon.Trainer(params, "sgd", {"learning_rate": 0.5, "wd": 0.01})
    with autograd.record():
        loss = ((net(mx.nd.array(x)) - mx.nd.array(y)) ** 2).sum()
    loss.backward()
    trainer.step(x.shape[0])
    # NumPy: forward and backward of the same network
    h_pre = x @ w1.T + b1
    h = np.maximum(h_pre, 0)
    out = h @ w2.T + b2
    d_out = 2 * (out - y)
    g_w2, g_b2 = d_out.T @ h, d_out.sum(0)
    d_h = (d_out @ w2) * (h_pre > 0)
    g_w1, g_b1 = d_h.T @ x, d_h.sum(0)
    n = x.shape[0]
    for name, w, g in [("mlp_dense0_weight", w1, g_w1), ("mlp_dense0_bias", b1, g_b1),
                       ("mlp_dense1_weight", w2, g_w2), ("mlp_dense1_bias", b2, g_b2)]:
        want = w - 0.5 * (g / n + 0.01 * w)
        np.testing.assert_allclose(params[name].data().asnumpy(), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name,kw", [("sgd", {"momentum": 0.9}), ("adam", {}), ("nag", {"momentum": 0.8}),
                                     ("rmsprop", {"centered": True})])
def test_hybridized_and_imperative_training_agree(name, kw):
    """Three steps of the same optimizer on the same data: a hybridized network ends where the
    imperative one does."""
    results = []
    for hybrid in (False, True):
        net = mlp(hybrid)
        set_weights(net)
        trainer = gluon.Trainer(net.collect_params(), name, dict(kw, learning_rate=0.05))
        for step in range(3):
            x, y = data(step)
            with autograd.record():
                loss = ((net(mx.nd.array(x)) - mx.nd.array(y)) ** 2).mean()
            loss.backward()
            trainer.step(1)
        results.append({k: v.data().asnumpy() for k, v in net.collect_params().items()})
    for k in results[0]:
        np.testing.assert_allclose(results[0][k], results[1][k], rtol=1e-5, atol=1e-6)


def test_multipliers_reach_the_update():
    net = mlp()
    set_weights(net)
    params = net.collect_params()
    params["mlp_dense0_weight"].lr_mult = 0.0  # frozen by its multiplier
    params["mlp_dense1_bias"].wd_mult = 0.0
    before = {k: v.data().asnumpy() for k, v in params.items()}
    trainer = gluon.Trainer(params, "sgd", {"learning_rate": 0.1, "wd": 0.5})
    x, y = data()
    with autograd.record():
        loss = ((net(mx.nd.array(x)) - mx.nd.array(y)) ** 2).sum()
    loss.backward()
    g_b2 = params["mlp_dense1_bias"].grad().asnumpy()
    trainer.step(2)
    np.testing.assert_array_equal(params["mlp_dense0_weight"].data().asnumpy(), before["mlp_dense0_weight"])
    np.testing.assert_allclose(params["mlp_dense1_bias"].data().asnumpy(),
                               before["mlp_dense1_bias"] - 0.1 * g_b2 / 2, rtol=1e-6, atol=1e-7)


def test_stale_gradients():
    """A parameter no backward reached since the last step: an error naming it, or skipped with
    ignore_stale_grad=True."""
    a, b = nn.Dense(2, in_units=2, prefix="a_"), nn.Dense(2, in_units=2, prefix="b_")
    for blk in (a, b):
        blk.initialize(mx.init.One())
    params = a.collect_params()
    params.update(b.collect_params())
    trainer = gluon.Trainer(params, "sgd", {"learning_rate": 0.1})
    x = mx.nd.ones((1, 2))
    with autograd.record():
        loss = a(x).sum()
    loss.backward()
    a_before = a.weight.data().asnumpy()
    with pytest.raises(mx.BrassError, match="b_(weight|bias).*has not been written by a backward"):
        trainer.step(1)
    np.testing.assert_array_equal(a.weight.data().asnumpy(), a_before)  # nothing updated
    b_before = b.weight.data().asnumpy()
    trainer.step(1, ignore_stale_grad=True)
    np.testing.assert_array_equal(b.weight.data().asnumpy(), b_before)
    assert not np.array_equal(a.weight.data().asnumpy(), np.ones((2, 2)))
    # after the step, a's gradients are stale too until the next backward
    with pytest.raises(mx.BrassError, match="a_"):
        trainer.step(1)


def test_grad_req_add_accumulates_until_the_step():
    net = nn.Dense(1, in_units=2, prefix="acc_")
    net.initialize(mx.init.Zero())
    net.collect_params().setattr("grad_req", "add")
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 1.0})
    for v in ([1.0, 2.0], [3.0, 4.0]):
        with autograd.record():
            loss = net(mx.nd.array([v])).sum()
        loss.backward()
    trainer.step(2)
    np.testing.assert_allclose(net.weight.data().asnumpy(), [[-2.0, -3.0]])


def test_save_and_load_states(tmp_path):
    """States saved after two Adam steps and loaded into a fresh trainer continue exactly as the
    original does."""
    nets, trainers = [], []
    for _ in range(2):
        net = mlp()
        set_weights(net)
        nets.append(net)
        trainers.append(gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 0.01}))

    def step(net, trainer, seed):
        x, y = data(seed)
        with autograd.record():
            loss = ((net(mx.nd.array(x)) - mx.nd.array(y)) ** 2).sum()
        loss.backward()
        trainer.step(x.shape[0])

    for s in range(2):
        step(nets[0], trainers[0], s)
    f = str(tmp_path / "t.states")
    trainers[0].save_states(f)
    for k, v in nets[0].collect_params().items():
        nets[1].collect_params()[k].set_data(v.data())
    trainers[1].load_states(f)
    assert isinstance(trainers[1].optimizer, mx.optimizer.Adam)
    for net, trainer in zip(nets, trainers):
        step(net, trainer, 5)
    for k, v in nets[0].collect_params().items():
        np.testing.assert_array_equal(v.data().asnumpy(), nets[1].collect_params()[k].data().asnumpy())
    with open(f, "wb") as fh:
        fh.write(b"not a state file")
    with pytest.raises(mx.BrassError, match="not a file written by save_states"):
        trainers[1].load_states(f)


def test_learning_rate_and_scheduler():
    net = mlp()
    sched = mx.lr_scheduler.FactorScheduler(step=1, factor=0.5, base_lr=0.2)
    trainer = gluon.Trainer(net.collect_params(), mx.optimizer.SGD(lr_scheduler=sched))
    assert trainer.learning_rate == 0.2
    with pytest.raises(mx.BrassError, match="lr_scheduler"):
        trainer.set_learning_rate(0.1)
    plain = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.3})
    plain.set_learning_rate(0.05)
    assert plain.learning_rate == 0.05


def test_bad_input():
    net = mlp()
    with pytest.raises(mx.BrassError, match="no optimizer named 'sgdx'"):
        gluon.Trainer(net.collect_params(), "sgdx")
    with pytest.raises(mx.BrassError, match="must hold Parameters"):
        gluon.Trainer([net.collect_params()["mlp_dense0_weight"], "w"], "sgd")
    with pytest.raises(mx.BrassError, match="given twice"):
        p = net.collect_params()["mlp_dense0_weight"]
        gluon.Trainer([p, p], "sgd")
    with pytest.raises(mx.BrassError, match="optimizer_params must be empty"):
        gluon.Trainer(net.collect_params(), mx.optimizer.SGD(), {"learning_rate": 0.1})
    with pytest.raises(mx.BrassError, match="ParameterDict, a dict or a list"):
        gluon.Trainer(net, "sgd")


def test_a_save_killed_midway_leaves_the_previous_file(tmp_path):
    """A process killed (SIGKILL) while it saves parameters and trainer states over and over:
    each file left behind loads whole, and holds one save's values (never a mix)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    prog = (
        "import sys, brass as mx\n"
        "from brass import gluon\n"
        "net = gluon.nn.Dense(2000, in_units=1000, prefix='big_')\n"
        "net.initialize(mx.init.Zero())\n"
        "tr = gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': 0.1, 'momentum': 0.9})\n"
        "d = sys.argv[1]\n"
        "v = 0\n"
        "while True:\n"
        "    v += 1\n"
        "    for p in net.collect_params().values(): p.set_data(mx.nd.full(p.shape, v))\n"
        "    net.save_parameters(d + '/p.params')\n"
        "    tr.save_states(d + '/t.states')\n"
        "    print(v, flush=True)\n")
    proc = subprocess.Popen([sys.executable, "-c", prog, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        for _ in range(3):  # a few saves done, then killed in the middle of some later one
            assert proc.stdout.readline(), "the saving process stopped early"
        time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    net = gluon.nn.Dense(2000, in_units=1000, prefix="big_")
    net.load_parameters(str(tmp_path / "p.params"))
    w, b = net.weight.data().asnumpy(), net.bias.data().asnumpy()
    assert w.min() == w.max() == b.min() == b.max() >= 3
    trainer = gluon.Trainer(net.collect_params(), "sgd")
    trainer.load_states(str(tmp_path / "t.states"))
    assert isinstance(trainer.optimizer, mx.optimizer.SGD) and trainer.optimizer.momentum == 0.9
    leftovers = [f for f in os.listdir(tmp_path) if ".tmp" in f]
    assert len(leftovers) <= 2  # a killed save leaves at most its own temporary file


# ---- one SGD step of a LeNet against a NumPy forward and backward ----------------------------

def _np_conv(x, w, b):
    """Valid, stride-1 convolution (N, C, H, W) * (F, C, k, k) and its patches."""
    k = w.shape[2]
    oh, ow = x.shape[2] - k + 1, x.shape[3] - k + 1
    patches = np.stack([x[:, :, i:i + oh, j:j + ow] for i in range(k) for j in range(k)], axis=2)  # N,C,kk,oh,ow
    y = np.einsum("nckhw,fck->nfhw", patches, w.reshape(w.shape[0], w.shape[1], k * k)) + b[None, :, None, None]
    return y, patches


def _np_conv_back(dy, x, w, patches):
    k = w.shape[2]
    oh, ow = dy.shape[2], dy.shape[3]
    dw = np.einsum("nfhw,nckhw->fck", dy, patches).reshape(w.shape)
    dpatch = np.einsum("nfhw,fck->nckhw", dy, w.reshape(w.shape[0], w.shape[1], k * k))
    dx = np.zeros_like(x)
    for t, (i, j) in enumerate((i, j) for i in range(k) for j in range(k)):
        dx[:, :, i:i + oh, j:j + ow] += dpatch[:, :, t]
    return dx, dw, dy.sum(axis=(0, 2, 3))


def _np_pool(x):
    n, c, h, w = x.shape
    blocks = x.reshape(n, c, h // 2, 2, w // 2, 2)
    y = blocks.max(axis=(3, 5))
    mask = blocks == y[:, :, :, None, :, None]
    return y, mask


def _np_pool_back(dy, mask):
    n, c, h, _, w, _ = mask.shape
    return (mask * dy[:, :, :, None, :, None]).reshape(n, c, h * 2, w * 2)


def test_lenet_sgd_step_matches_numpy():
    """LeNet (conv-relu-pool twice, dense-relu, dense) with softmax cross-entropy: one SGD
    step (momentum 0, weight decay) gives the weights a NumPy forward and backward give, in
    float64."""
    net = nn.HybridSequential(prefix="lenet_")
    with net.name_scope():
        net.add(nn.Conv2D(3, 3, activation="relu"), nn.MaxPool2D(), nn.Conv2D(4, 2, activation="relu"),
                nn.MaxPool2D(), nn.Flatten(), nn.Dense(8, activation="relu"), nn.Dense(3))
    net.initialize(mx.init.Xavier(rnd_type="gaussian", magnitude=3))
    net.cast("float64")
    net.hybridize()
    r = np.random.RandomState(4)
    x = r.uniform(-1, 1, (4, 1, 12, 12))
    y = np.array([0, 2, 1, 2])
    net(mx.nd.array(x, dtype="float64"))
    names = ["lenet_conv0_weight", "lenet_conv0_bias", "lenet_conv1_weight", "lenet_conv1_bias",
             "lenet_dense0_weight", "lenet_dense0_bias", "lenet_dense1_weight", "lenet_dense1_bias"]
    params = net.collect_params()
    w = {n: params[n].data().asnumpy() for n in names}
    trainer = gluon.Trainer(params, "sgd", {"learning_rate": 0.3, "wd": 0.001})
    with autograd.record():
        loss = gluon.loss.SoftmaxCrossEntropyLoss()(net(mx.nd.array(x, dtype="float64")),
                                                    mx.nd.array(y, dtype="float64"))
    loss.backward()
    trainer.step(4)
    # NumPy forward
    c1, p1 = _np_conv(x, w["lenet_conv0_weight"], w["lenet_conv0_bias"])
    a1 = np.maximum(c1, 0)
    m1, mask1 = _np_pool(a1)
    c2, p2 = _np_conv(m1, w["lenet_conv1_weight"], w["lenet_conv1_bias"])
    a2 = np.maximum(c2, 0)
    m2, mask2 = _np_pool(a2)
    f = m2.reshape(4, -1)
    h_pre = f @ w["lenet_dense0_weight"].T + w["lenet_dense0_bias"]
    h = np.maximum(h_pre, 0)
    z = h @ w["lenet_dense1_weight"].T + w["lenet_dense1_bias"]
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    np.testing.assert_allclose(loss.asnumpy(), -np.log(p[np.arange(4), y]), rtol=1e-10)
    # NumPy backward of the summed loss
    dz = p.copy()
    dz[np.arange(4), y] -= 1
    g = {"lenet_dense1_weight": dz.T @ h, "lenet_dense1_bias": dz.sum(0)}
    dh = (dz @ w["lenet_dense1_weight"]) * (h_pre > 0)
    g["lenet_dense0_weight"], g["lenet_dense0_bias"] = dh.T @ f, dh.sum(0)
    dm2 = (dh @ w["lenet_dense0_weight"]).reshape(m2.shape)
    dc2 = _np_pool_back(dm2, mask2) * (c2 > 0)
    dm1, g["lenet_conv1_weight"], g["lenet_conv1_bias"] = _np_conv_back(dc2, m1, w["lenet_conv1_weight"], p2)
    dc1 = _np_pool_back(dm1, mask1) * (c1 > 0)
    _, g["lenet_conv0_weight"], g["lenet_conv0_bias"] = _np_conv_back(dc1, x, w["lenet_conv0_weight"], p1)
    for n in names:
        want = w[n] - 0.3 * (g[n] / 4 + 0.001 * w[n])
        np.testing.assert_allclose(params[n].data().asnumpy(), want, rtol=1e-9, atol=1e-12, err_msg=n)
        assert np.abs(want - w[n]).max() > 1e-4, n  # the step moved every parameter
