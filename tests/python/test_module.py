"""The Module API: fit against Gluon training on the same data (same parameters), predict and
score with padding, checkpoints in MXNet's layout and resuming, callbacks, errors."""
import logging

import numpy as np
import pytest

import brass as mx
from brass import autograd, gluon


def mlp_symbol():
    data = mx.sym.var("data")
    h = mx.sym.Activation(mx.sym.FullyConnected(data, num_hidden=8, name="fc1"), act_type="relu")
    return mx.sym.SoftmaxOutput(mx.sym.FullyConnected(h, num_hidden=3, name="fc2"), name="softmax")


def toy(n=48, seed=0):
    r = np.random.RandomState(seed)
    x = r.uniform(-1, 1, (n, 5)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.float32) + (x[:, 1] > 0.5)
    return x, y


def initial_params(seed=1):
    r = np.random.RandomState(seed)
    return {"fc1_weight": r.uniform(-0.5, 0.5, (8, 5)), "fc1_bias": np.zeros(8),
            "fc2_weight": r.uniform(-0.5, 0.5, (3, 8)), "fc2_bias": np.zeros(3)}


def test_module_and_gluon_train_to_the_same_parameters():
    x, y = toy()
    start = initial_params()
    mod = mx.mod.Module(mlp_symbol())
    mod.fit(mx.io.NDArrayIter(x, y, batch_size=8), num_epoch=3, optimizer="sgd",
            optimizer_params={"learning_rate": 0.3, "momentum": 0.9},
            arg_params={k: mx.nd.array(v) for k, v in start.items()})
    got, _ = mod.get_params()

    net = gluon.nn.HybridSequential(prefix="")
    with net.name_scope():
        net.add(gluon.nn.Dense(8, in_units=5, activation="relu", prefix="fc1_"),
                gluon.nn.Dense(3, in_units=8, prefix="fc2_"))
    net.initialize()
    for k, v in start.items():
        net.collect_params()[k].set_data(mx.nd.array(v))
    net.hybridize()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.3, "momentum": 0.9})
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    for _ in range(3):
        for i in range(0, len(x), 8):
            with autograd.record():
                loss = loss_fn(net(mx.nd.array(x[i:i + 8])), mx.nd.array(y[i:i + 8]))
            loss.backward()
            trainer.step(8)
    for k in start:
        np.testing.assert_allclose(got[k].asnumpy(), net.collect_params()[k].data().asnumpy(), rtol=1e-4, atol=1e-5)


def test_predict_score_and_padding():
    x, y = toy(50)
    mod = mx.mod.Module(mlp_symbol())
    mod.bind(data_shapes=[("data", (16, 5))], label_shapes=[("softmax_label", (16,))])
    mod.init_params(arg_params={k: mx.nd.array(v) for k, v in initial_params().items()})
    it = mx.io.NDArrayIter(x, y, batch_size=16)  # 50 = 3 * 16 + 2: the last batch padded by 14
    out = mod.predict(it)
    assert out.shape == (50, 3)
    h = np.maximum(x @ initial_params()["fc1_weight"].T, 0)
    logits = h @ initial_params()["fc2_weight"].T
    want = np.exp(logits - logits.max(1, keepdims=True))
    want /= want.sum(1, keepdims=True)
    np.testing.assert_allclose(out.asnumpy(), want, rtol=1e-4, atol=1e-6)
    (name, acc), = mod.score(it, "acc")
    assert name == "accuracy" and acc == pytest.approx((want.argmax(1) == y).mean())
    parts = mod.predict(it, merge_batches=False)
    assert len(parts) == 4 and parts[-1][0].shape == (2, 3)
    assert mod.output_shapes == [("softmax_output", (16, 3))]


def test_checkpoint_resume_and_callbacks(tmp_path, caplog):
    x, y = toy()
    prefix = str(tmp_path / "mlp")
    mod = mx.mod.Module(mlp_symbol())
    with caplog.at_level(logging.INFO):
        mod.fit(mx.io.NDArrayIter(x, y, batch_size=8), num_epoch=2, optimizer="adam",
                optimizer_params={"learning_rate": 0.01}, initializer=mx.init.Xavier(),
                epoch_end_callback=mx.callback.do_checkpoint(prefix),
                batch_end_callback=mx.callback.Speedometer(8, frequent=2),
                eval_data=mx.io.NDArrayIter(x, y, batch_size=8))
    assert "Speed:" in caplog.text and "Validation-accuracy" in caplog.text
    for f in ("mlp-symbol.json", "mlp-0001.params", "mlp-0002.params"):
        assert (tmp_path / f).exists()
    sym, args, auxs = mx.model.load_checkpoint(prefix, 2)
    assert sorted(args) == ["fc1_bias", "fc1_weight", "fc2_bias", "fc2_weight"] and auxs == {}
    mod.save_checkpoint(prefix, 3, save_optimizer_states=True)
    # a module loaded from the checkpoint predicts what the original does, and resumes training
    back = mx.mod.Module.load(prefix, 3, load_optimizer_states=True)
    back.bind(data_shapes=[("data", (8, 5))], label_shapes=[("softmax_label", (8,))])
    back.init_params()
    it = mx.io.NDArrayIter(x, y, batch_size=8)
    np.testing.assert_array_equal(back.predict(it).asnumpy(), mod.predict(it).asnumpy())
    back.init_optimizer(optimizer="adam", optimizer_params={"learning_rate": 0.01})
    mod.fit(it, num_epoch=4, begin_epoch=3, optimizer="adam", optimizer_params={"learning_rate": 0.01})
    back.fit(it, num_epoch=4, begin_epoch=3, optimizer="adam", optimizer_params={"learning_rate": 0.01})
    for k, v in mod.get_params()[0].items():
        np.testing.assert_allclose(back.get_params()[0][k].asnumpy(), v.asnumpy(), rtol=1e-5, atol=1e-6)


def test_fixed_params_and_rebind_on_a_new_batch_size():
    x, y = toy()
    mod = mx.mod.Module(mlp_symbol(), fixed_param_names=["fc1_weight"])
    start = {k: mx.nd.array(v) for k, v in initial_params().items()}
    mod.fit(mx.io.NDArrayIter(x, y, batch_size=8), num_epoch=1, arg_params=start)
    args, _ = mod.get_params()
    np.testing.assert_array_equal(args["fc1_weight"].asnumpy(), start["fc1_weight"].asnumpy())
    assert not np.array_equal(args["fc2_weight"].asnumpy(), start["fc2_weight"].asnumpy())
    out = mod.predict(mx.io.NDArrayIter(x[:5], y[:5], batch_size=5))  # another batch size: rebinds
    assert out.shape == (5, 3)


def test_errors():
    x, y = toy()
    mod = mx.mod.Module(mlp_symbol())
    with pytest.raises(mx.BrassError, match="call bind"):
        mod.forward(mx.io.DataBatch([mx.nd.array(x[:8])], [mx.nd.array(y[:8])]))
    with pytest.raises(mx.BrassError, match="data shapes are given for"):
        mod.bind(data_shapes=[("image", (8, 5))])
    mod.bind(data_shapes=[("data", (8, 5))], label_shapes=[("softmax_label", (8,))])
    with pytest.raises(mx.BrassError, match="'fc2_bias' is missing"):
        mod.init_params(arg_params={k: mx.nd.array(v) for k, v in initial_params().items() if k != "fc2_bias"})
    with pytest.raises(mx.BrassError, match=r"shape \(3, 3\), the module's is \(3, 8\)"):
        mod.init_params(arg_params=dict({k: mx.nd.array(v) for k, v in initial_params().items()},
                                        fc2_weight=mx.nd.zeros((3, 3))))
    mod.init_params()
    with pytest.raises(mx.BrassError, match="label 'softmax_label' has shape"):
        mod.forward(mx.io.DataBatch([mx.nd.array(x[:8])], [mx.nd.zeros((8, 2))]))
    with pytest.raises(mx.BrassError, match=r"data 'data' has shape \(8, 6\); the module is bound for \(8, 5\)"):
        mod.forward(mx.io.DataBatch([mx.nd.zeros((8, 6))], [mx.nd.zeros((8,))]))
    with pytest.raises(mx.BrassError, match="list of distinct devices"):
        mx.mod.Module(mlp_symbol(), context=[mx.cpu(0), mx.cpu(0)])
    with pytest.raises(mx.BrassError, match=r"work_load_list \[1\] must hold one positive weight per context \(2\)"):
        mx.mod.Module(mlp_symbol(), context=[mx.cpu(0), mx.cpu(1)], work_load_list=[1])
    two = mx.mod.Module(mlp_symbol(), context=[mx.cpu(0), mx.cpu(1)], work_load_list=[5, 1])
    with pytest.raises(mx.BrassError, match="a batch of 2 cannot be split over 2 devices"):
        two.bind(data_shapes=[("data", (2, 5))], label_shapes=[("softmax_label", (2,))])
    with pytest.raises(mx.BrassError, match="no optimizer named"):
        mod.init_optimizer(optimizer="sgdd")
    with pytest.raises(mx.BrassError, match=r"data 'data' has shape"):
        mod.fit(mx.io.NDArrayIter(np.zeros((8, 6), np.float32), y[:8], batch_size=8), num_epoch=1)
    with pytest.raises(mx.BrassError, match="not an argument"):
        mx.mod.Module(mlp_symbol(), data_names=["x"])


def test_truncated_checkpoint(tmp_path):
    mod = mx.mod.Module(mlp_symbol())
    mod.bind(data_shapes=[("data", (8, 5))], label_shapes=[("softmax_label", (8,))])
    mod.init_params()
    prefix = str(tmp_path / "m")
    mod.save_checkpoint(prefix, 1)
    path = tmp_path / "m-0001.params"
    raw = path.read_bytes()
    path.write_bytes(raw[:len(raw) // 2])
    with pytest.raises(mx.BrassError, match="truncated"):
        mx.mod.Module.load(prefix, 1)
    with pytest.raises(mx.BrassError, match="truncated"):
        mx.model.load_checkpoint(prefix, 1)
