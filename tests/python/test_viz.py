"""brass.viz (print_summary, plot_network) and Block.summary / forward hooks."""
import re

import pytest

import brass as mx
from brass.gluon import nn


def lenet_symbol():
    data = mx.sym.var("data")
    h = mx.sym.Convolution(data, kernel=(5, 5), num_filter=20, name="conv1")
    h = mx.sym.BatchNorm(h, name="bn1")
    h = mx.sym.Pooling(mx.sym.Activation(h, act_type="relu", name="relu1"), kernel=(2, 2), stride=(2, 2),
                       pool_type="max", name="pool1")
    h = mx.sym.FullyConnected(mx.sym.Flatten(h, name="flat"), num_hidden=10, name="fc")
    return mx.sym.SoftmaxOutput(h, name="softmax")


def test_print_summary(capsys):
    mx.viz.print_summary(lenet_symbol(), shape={"data": (1, 1, 28, 28)})
    out = capsys.readouterr().out
    rows = {m.group(1): m.group(2).split() for m in re.finditer(r"^(\w+\(\w+\))\s+(.*)$", out, re.M)}
    assert rows["conv1(Convolution)"] == ["20x24x24", "520", "data"]  # 20 * 25 + 20
    assert rows["bn1(BatchNorm)"] == ["20x24x24", "40", "conv1"]      # gamma, beta; not the moving stats
    assert rows["pool1(Pooling)"] == ["20x12x12", "0", "relu1"]
    assert rows["fc(FullyConnected)"] == ["10", "28810", "flat"]      # 2880 * 10 + 10
    assert rows["softmax(SoftmaxOutput)"] == ["10", "0", "fc"]
    assert "Total params: 29370" in out
    # Without shapes: the layers and their connections, no counts.
    mx.viz.print_summary(lenet_symbol())
    assert "Total params: 0" in capsys.readouterr().out
    with pytest.raises(mx.BrassError, match="expected a Symbol"):
        mx.viz.print_summary("net")


def test_plot_network(tmp_path):
    g = mx.viz.plot_network(lenet_symbol(), title="lenet", shape={"data": (1, 1, 28, 28)})
    src = g.source
    assert src.startswith('digraph "lenet" {') and src.rstrip().endswith("}")
    assert 'label="Convolution\\n5x5/1, 20"' in src and 'label="Pooling\\nmax, 2x2/2x2"' in src
    assert "conv1_weight" not in src and "bn1_moving_mean" not in src  # weights hidden
    assert re.search(r'n\d+ -> n\d+ \[label="20x12x12"\]', src)
    full = mx.viz.plot_network(lenet_symbol(), hide_weights=False).source
    assert 'tooltip="conv1_weight"' in full
    path = g.save(directory=str(tmp_path))
    assert open(path).read() == src
    rendered = g.render(str(tmp_path / "lenet.gv"))
    assert rendered.startswith(str(tmp_path))


def _net():
    net = nn.HybridSequential()
    with net.name_scope():
        net.add(nn.Conv2D(6, 5, activation="relu"), nn.BatchNorm(), nn.MaxPool2D(), nn.Flatten(), nn.Dense(10))
        shared = nn.Dense(10, in_units=10)
        net.add(shared, nn.Dense(10, in_units=10, params=shared.params))
    return net


@pytest.mark.parametrize("hybrid", [False, True])
def test_block_summary(capsys, hybrid):
    net = _net()
    net.initialize()
    if hybrid:
        net.hybridize()
    net.summary(mx.nd.ones((2, 1, 28, 28)))
    out = capsys.readouterr().out
    table = [line.split() for line in out.splitlines() if re.match(r"\s+\w+-\d+ ", line)]
    assert table == [["Conv2D-1", "(2,", "6,", "24,", "24)", "156"], ["BatchNorm-2", "(2,", "6,", "24,", "24)", "24"],
                     ["MaxPool2D-3", "(2,", "6,", "12,", "12)", "0"], ["Flatten-4", "(2,", "864)", "0"],
                     ["Dense-5", "(2,", "10)", "8650"], ["Dense-6", "(2,", "10)", "110"],
                     ["Dense-7", "(2,", "10)", "110"]]
    for text in ("Total params: 9050", "Trainable params: 9038", "Non-trainable params: 12",
                 "Shared params in forward computation graph: 110", "Unique parameters in model: 8940"):
        assert text in out
    # The hybridized network stays hybridized, its cached graph used afterwards.
    assert net._active == hybrid
    net(mx.nd.ones((2, 1, 28, 28)))
    assert (net._cached is not None) == hybrid


def test_forward_hooks():
    d = nn.Dense(2, in_units=3)
    d.initialize()
    calls = []
    pre = d.register_forward_pre_hook(lambda b, x: calls.append(("pre", x[0].shape)))
    with d.register_forward_hook(lambda b, x, y: calls.append(("post", y.shape))):
        d(mx.nd.ones((4, 3)))
    d(mx.nd.ones((5, 3)))
    pre.detach()
    d(mx.nd.ones((6, 3)))
    assert calls == [("pre", (4, 3)), ("post", (4, 2)), ("pre", (5, 3))]
    seen = []
    _net().apply(lambda b: seen.append(type(b).__name__))
    assert seen[-1] == "HybridSequential" and seen[:2] == ["Conv2D", "BatchNorm"]
