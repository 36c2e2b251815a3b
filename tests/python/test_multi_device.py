"""Data parallelism on one machine: Parameters on several contexts, brass.kv stores, and the
Trainer keeping the copies equal. Training on [cpu(0), cpu(1)] with split_and_load gives,
step for step, the parameters of training on one device with the whole batch."""
import numpy as np
import pytest

import brass as mx
from brass import autograd, gluon
from brass.gluon import nn

CTXS = [mx.cpu(0), mx.cpu(1)]


def mlp():
    net = nn.HybridSequential()
    with net.name_scope():
        net.add(nn.Dense(32, activation="relu"), nn.Dense(16, activation="tanh"), nn.Dense(10))
    return net


def lenet():
    net = nn.HybridSequential()
    with net.name_scope():
        net.add(nn.Conv2D(6, 5, activation="relu"), nn.MaxPool2D(2), nn.Conv2D(8, 3, activation="relu"),
                nn.MaxPool2D(2), nn.Flatten(), nn.Dense(24, activation="relu"), nn.Dense(10))
    return net


def _data(shape, n=4, batch=16, seed=0):
    rng = np.random.RandomState(seed)
    return [(rng.rand(batch, *shape).astype(np.float32), rng.randint(0, 10, batch)) for _ in range(n)]


def _train(make, data, ctxs, optimizer, opt_params, hybrid, **trainer_kw):
    mx.random.seed(42)
    net = make()
    net.initialize(mx.init.Xavier(), ctx=ctxs)
    if hybrid:
        net.hybridize()
    trainer = gluon.Trainer(net.collect_params(), optimizer, dict(opt_params), **trainer_kw)
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    history = []
    for x, y in data:
        xs = gluon.utils.split_and_load(x, ctxs)
        ys = gluon.utils.split_and_load(y, ctxs)
        with autograd.record():
            losses = [loss_fn(net(a), b) for a, b in zip(xs, ys)]
        for l in losses:
            l.backward()
        trainer.step(x.shape[0])
        params = net._collect_params_with_prefix()  # structural names: equal across the two nets
        history.append({k: [d.asnumpy() for d in p.list_data()] for k, p in params.items()})
    return history, trainer


@pytest.mark.parametrize("make,shape", [(mlp, (20,)), (lenet, (1, 16, 16))], ids=["mlp", "lenet"])
@pytest.mark.parametrize("kvstore,update_on_kvstore", [("device", None), ("local", None), ("device", False),
                                                        ("local", False)])
@pytest.mark.parametrize("optimizer,opt_params", [("sgd", {"learning_rate": 0.1, "momentum": 0.9, "wd": 1e-4}),
                                                  ("adam", {"learning_rate": 0.01})], ids=["sgd", "adam"])
def test_two_devices_match_one(make, shape, kvstore, update_on_kvstore, optimizer, opt_params):
    data = _data(shape)
    one, _ = _train(make, data, [mx.cpu(0)], optimizer, opt_params, True)
    two, trainer = _train(make, data, CTXS, optimizer, opt_params, True, kvstore=kvstore,
                          update_on_kvstore=update_on_kvstore)
    assert trainer._kvstore is not None and trainer._kvstore.type == kvstore
    assert trainer._update_on_kvstore == (update_on_kvstore is None)
    for step, (a, b) in enumerate(zip(one, two)):
        assert a.keys() == b.keys()
        for k in a:
            (ref,), (d0, d1) = a[k], b[k]
            np.testing.assert_array_equal(d0, d1, err_msg="%s: the devices differ at step %d" % (k, step))
            np.testing.assert_allclose(d0, ref, rtol=1e-4, atol=1e-5, err_msg="%s at step %d" % (k, step))
    # The parameters moved: the comparison is not between two untouched initializations.
    moved = [k for k in one[-1] if np.abs(one[-1][k][0] - one[0][k][0]).max() > 0]
    assert len(moved) == len(one[-1])


def test_imperative_two_devices_and_parameter_copies():
    data = _data((20,), n=2)
    one, _ = _train(mlp, data, [mx.cpu(0)], "sgd", {"learning_rate": 0.5}, False)
    two, _ = _train(mlp, data, CTXS, "sgd", {"learning_rate": 0.5}, False, kvstore="device")
    for k in one[-1]:
        np.testing.assert_allclose(two[-1][k][1], one[-1][k][0], rtol=1e-4, atol=1e-5)
    p = gluon.Parameter("w", shape=(2, 3))
    p.initialize(mx.init.Uniform(), ctx=CTXS)
    assert p.list_ctx() == CTXS and [d.context for d in p.list_data()] == CTXS
    assert [g.context for g in p.list_grad()] == CTXS
    np.testing.assert_array_equal(p.data(mx.cpu(0)).asnumpy(), p.data(mx.cpu(1)).asnumpy())
    with mx.cpu(1):
        assert p.data().context == mx.cpu(1)
    with pytest.raises(mx.BrassError, match=r"'w': its data is on \[cpu\(0\), cpu\(1\)\], not on cpu\(2\)"):
        p.data(mx.cpu(2))
    p.set_data(mx.nd.ones((2, 3)))
    assert all((d.asnumpy() == 1).all() for d in p.list_data())
    p.data(mx.cpu(1))[:] = 3
    assert (p._reduce().asnumpy() == 2).all()  # the mean of the copies
    p.reset_ctx(mx.cpu(0))
    assert p.list_ctx() == [mx.cpu(0)] and (p.data().asnumpy() == 2).all()
    with pytest.raises(mx.BrassError, match="distinct contexts"):
        p.initialize(ctx=[mx.cpu(0), mx.cpu(0)], force_reinit=True)


def test_save_load_and_states_with_two_devices(tmp_path):
    data = _data((20,), n=2)
    hist, trainer = _train(mlp, data, CTXS, "adam", {"learning_rate": 0.01}, True)
    net = trainer._params  # the Parameters themselves
    trainer.save_states(str(tmp_path / "t.states"))
    trainer.load_states(str(tmp_path / "t.states"))
    assert trainer._kvstore._updater.optimizer is trainer.optimizer
    block = mlp()
    block.initialize(ctx=CTXS)
    block(mx.nd.ones((2, 20), ctx=mx.cpu(0)))
    for src, dst in zip(net, sorted(block.collect_params().values(), key=lambda q: q.name)):
        dst.set_data(src.data(mx.cpu(0)))
    block.save_parameters(str(tmp_path / "p.params"))
    again = mlp()
    again.load_parameters(str(tmp_path / "p.params"), ctx=CTXS)
    for a, b in zip(block.collect_params().values(), again.collect_params().values()):
        assert b.list_ctx() == CTXS
        np.testing.assert_array_equal(a.data(mx.cpu(1)).asnumpy(), b.data(mx.cpu(1)).asnumpy())


def test_trainer_errors():
    net = nn.Dense(3, in_units=2)
    net.initialize(ctx=CTXS)
    tr = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    with pytest.raises(mx.BrassError, match="update_on_kvstore=False"):
        tr.allreduce_grads()
    other = nn.Dense(3, in_units=2)
    other.initialize(ctx=mx.cpu(0))
    mixed = gluon.Trainer(list(net.collect_params().values()) + list(other.collect_params().values()), "sgd")
    with pytest.raises(mx.BrassError, match="same contexts"):
        mixed.step(1)
    single = gluon.Trainer(other.collect_params(), "sgd", kvstore="device", update_on_kvstore=True)
    with pytest.raises(mx.BrassError, match="update_on_kvstore=True needs a kvstore"):
        single.step(1)
    with pytest.raises(mx.BrassError, match="cannot be split evenly into 2 slices"):
        gluon.utils.split_and_load(mx.nd.ones((3, 2)), CTXS)
    parts = gluon.utils.split_and_load(mx.nd.ones((3, 2)), CTXS, even_split=False)
    assert [p.shape for p in parts] == [(1, 2), (2, 2)]


def test_kvstore_local_and_device():
    for kind in ("local", "device"):
        kv = mx.kv.create(kind)
        assert kv.type == kind and kv.rank == 0 and kv.num_workers == 1
        kv.init([1, "b"], [mx.nd.zeros((2, 2), ctx=mx.cpu(1)), mx.nd.ones((3,))])
        assert kv._store[1].context == (mx.cpu(0) if kind == "local" else mx.cpu(1))
        vals = [mx.nd.ones((2, 2), ctx=c) * (i + 1) for i, c in enumerate(CTXS)]
        kv.push(1, vals)
        outs = [mx.nd.zeros((2, 2), ctx=c) for c in CTXS]
        kv.pull(1, out=outs)
        assert [o.asnumpy().tolist() for o in outs] == [[[3, 3], [3, 3]]] * 2
        assert [o.context for o in outs] == CTXS
        kv.pushpull("b", [mx.nd.ones((3,)) * 4])
        out = mx.nd.zeros((3,))
        kv.pull("b", out=out)
        assert out.asnumpy().tolist() == [4, 4, 4]
        # With an optimizer the pushed sum is the gradient: w -= lr * (g0 + g1).
        kv.set_optimizer(mx.optimizer.SGD(learning_rate=0.5))
        kv.push(1, vals)
        kv.pull(1, out=outs)
        assert outs[1].asnumpy().tolist() == [[1.5, 1.5], [1.5, 1.5]]
        with pytest.raises(mx.BrassError, match="key 7 has not been initialized"):
            kv.push(7, vals)
        with pytest.raises(mx.BrassError, match=r"key 1 holds shape \(2, 2\), pushed \(3,\)"):
            kv.push(1, mx.nd.ones((3,)))
        with pytest.raises(mx.BrassError, match="already initialized"):
            kv.init(1, vals[0])
    with pytest.raises(mx.BrassError, match="unknown type 'nope'"):
        mx.kv.create("nope")
    with pytest.raises(mx.BrassError, match="distributed"):
        mx.kv.create("dist_sync")


def test_kvstore_push_of_one_array_is_taken_as_it_is():
    """One array on the store's device is stored (or given to the optimizer) without a copy of
    its own; writes to it after the push do not reach the store, and a float16 push into a
    float32 key is converted."""
    kv = mx.kv.create("local")
    kv.init(["w", "h"], [mx.nd.zeros((2, 3)), mx.nd.zeros((2,))])
    g = mx.nd.ones((2, 3))
    kv.push("w", g)
    g[:] = 5  # after the push: ordered after the store's read of g
    out = mx.nd.zeros((2, 3))
    kv.pull("w", out=out)
    assert out.asnumpy().tolist() == [[1, 1, 1]] * 2
    kv.push("h", mx.nd.array([1.5, 2.5], dtype="float16"))
    outh = mx.nd.zeros((2,))
    kv.pull("h", out=outh)
    assert outh.dtype == np.float32 and outh.asnumpy().tolist() == [1.5, 2.5]
    kv.set_optimizer(mx.optimizer.SGD(learning_rate=0.5))
    kv.push("w", g)  # w -= 0.5 * 5
    kv.pull("w", out=out)
    assert out.asnumpy().tolist() == [[-1.5, -1.5, -1.5]] * 2
    assert g.asnumpy().tolist() == [[5, 5, 5]] * 2  # the gradient is left as it was


def test_kvstore_optimizer_states_roundtrip(tmp_path):
    kv = mx.kv.create("local")
    kv.set_optimizer(mx.optimizer.Adam(learning_rate=0.1))
    kv.init(0, mx.nd.ones((4,)))
    kv.push(0, mx.nd.ones((4,)))
    kv.save_optimizer_states(str(tmp_path / "s"))
    before = kv._updater.states[0][0].asnumpy()
    kv.push(0, mx.nd.ones((4,)))
    kv.load_optimizer_states(str(tmp_path / "s"))
    np.testing.assert_array_equal(kv._updater.states[0][0].asnumpy(), before)
    (tmp_path / "bad").write_bytes(b"not a pickle")
    with pytest.raises(mx.BrassError, match="not a states file"):
        kv.load_optimizer_states(str(tmp_path / "bad"))


def _module_symbol(conv):
    data = mx.sym.var("data")
    if conv:
        h = mx.sym.Convolution(data, kernel=(3, 3), num_filter=4, name="conv")
        h = mx.sym.Pooling(mx.sym.Activation(h, act_type="relu"), kernel=(2, 2), stride=(2, 2), pool_type="max")
        h = mx.sym.Flatten(h)
    else:
        h = mx.sym.Activation(mx.sym.FullyConnected(data, num_hidden=16, name="fc1"), act_type="relu")
    return mx.sym.SoftmaxOutput(mx.sym.FullyConnected(h, num_hidden=10, name="fc2"), name="softmax")


def _fit_module(ctxs, conv, kvstore, data, work_load_list=None):
    mod = mx.mod.Module(_module_symbol(conv), context=ctxs, work_load_list=work_load_list)
    shape = data[0][0].shape
    mod.bind(data_shapes=[("data", shape)], label_shapes=[("softmax_label", (shape[0],))])
    mx.random.seed(3)
    mod.init_params(mx.init.Xavier())
    mod.init_optimizer(kvstore=kvstore, optimizer="sgd", optimizer_params={"learning_rate": 0.2, "momentum": 0.9})
    history = []
    for x, y in data:
        mod.forward_backward(mx.io.DataBatch([mx.nd.array(x)], [mx.nd.array(y)]))
        mod.update()
        history.append(mod.get_params()[0])
    return mod, history


@pytest.mark.parametrize("conv", [False, True], ids=["mlp", "conv"])
@pytest.mark.parametrize("kvstore", ["local", "device", None])
def test_module_two_devices_match_one(conv, kvstore):
    data = _data((1, 8, 8) if conv else (12,), n=3)
    _, one = _fit_module([mx.cpu(0)], conv, kvstore, data)
    mod, two = _fit_module(CTXS, conv, kvstore, data, work_load_list=[3, 1])
    assert [e.arg_dict["data"].shape[0] for e in mod._execs] == [12, 4]
    assert (mod._kvstore is None) == (kvstore is None)
    for step, (a, b) in enumerate(zip(one, two)):
        for k in a:
            np.testing.assert_allclose(b[k].asnumpy(), a[k].asnumpy(), rtol=1e-4, atol=1e-5,
                                       err_msg="%s at step %d" % (k, step))
    for n in mod._param_names:
        np.testing.assert_array_equal(mod._execs[0].arg_dict[n].asnumpy(), mod._execs[1].arg_dict[n].asnumpy())
    # Outputs merge along the batch on the first device; per device without merging.
    out = mod.get_outputs()[0]
    assert out.shape == (16, 10) and out.context == mx.cpu(0)
    parts = mod.get_outputs(merge_multi_context=False)[0]
    assert [p.shape for p in parts] == [(12, 10), (4, 10)] and parts[1].context == mx.cpu(1)
    np.testing.assert_array_equal(out.asnumpy()[12:], parts[1].asnumpy())


def test_module_fit_score_checkpoint_on_two_devices(tmp_path):
    rng = np.random.RandomState(1)
    x = rng.randn(64, 12).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.float32)
    mod = mx.mod.Module(_module_symbol(False), context=CTXS)
    mod.fit(mx.io.NDArrayIter(x, y, batch_size=16, shuffle=True), num_epoch=8, initializer=mx.init.Xavier(),
            optimizer_params={"learning_rate": 0.5})
    (name, acc), = mod.score(mx.io.NDArrayIter(x, y, batch_size=16), "acc")
    assert acc > 0.9
    mod.save_checkpoint(str(tmp_path / "m"), 1, save_optimizer_states=True)
    back = mx.mod.Module.load(str(tmp_path / "m"), 1, load_optimizer_states=True, context=CTXS)
    back.bind(data_shapes=[("data", (16, 12))], label_shapes=[("softmax_label", (16,))])
    back.init_params()
    back.init_optimizer(optimizer_params={"learning_rate": 0.5})
    np.testing.assert_allclose(back.predict(mx.io.NDArrayIter(x, y, batch_size=16)).asnumpy(),
                               mod.predict(mx.io.NDArrayIter(x, y, batch_size=16)).asnumpy(), rtol=1e-5)
