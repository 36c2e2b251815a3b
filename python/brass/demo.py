"""A short tour of the imperative API: ``python -m brass.demo``."""
import time

import numpy as np

import brass as mx


def main():
    print("Brass", mx.__version__, "|", mx.build_info())
    a = mx.nd.array([[1, 2, 3], [4, 5, 6]])
    b = mx.nd.ones((2, 3)) * 2
    print("a + b =\n", (a + b).asnumpy())
    print("sum over axis 1:", mx.nd.sum(a, axis=1).asnumpy())
    print("a . a^T =\n", mx.nd.dot(a, a.T).asnumpy())
    mx.random.seed(0)
    x = mx.random.uniform(-1, 1, shape=(512, 512))
    w = mx.random.normal(0, 0.1, shape=(512, 512))
    t = time.perf_counter()
    y = mx.nd.relu(mx.nd.dot(x, w))
    y.wait_to_read()
    dt = time.perf_counter() - t
    ref = np.maximum(x.asnumpy() @ w.asnumpy(), 0)
    print("relu(x . w) on 512x512: %.2f ms, max |diff| vs numpy %.2e"
          % (dt * 1e3, float(np.abs(y.asnumpy() - ref).max())))
    # autograd: fit y = 3x + 2 by gradient descent
    xs = mx.nd.array(np.linspace(-1, 1, 64, dtype=np.float32).reshape(-1, 1))
    ys = xs * 3 + 2
    w, b = mx.nd.zeros((1, 1)), mx.nd.zeros((1,))
    for p in (w, b):
        p.attach_grad()
    for _ in range(100):
        with mx.autograd.record():
            loss = ((mx.nd.dot(xs, w) + b - ys) ** 2).mean()
        loss.backward()
        w[:] = w - 0.5 * w.grad
        b[:] = b - 0.5 * b.grad
    print("autograd fit of y = 3x + 2: w = %.4f, b = %.4f, loss %.2e"
          % (w.asscalar(), b.asscalar(), loss.asscalar()))
    mnist_mlp()
    try:
        mx.nd.broadcast_add(mx.nd.ones((2, 3)), mx.nd.ones((4,)))
    except mx.BrassError as e:
        print("a clear error:", e)


def mnist_mlp():
    """A hybridized Gluon MLP trained with plain SGD on the packaged MNIST digits (4,000 to
    train, 1,000 held out), then exported in MXNet's format and loaded back."""
    import gzip
    import os
    import tempfile
    import time

    from .gluon import nn

    path = os.path.join(os.path.dirname(__file__), "data", "mnist_5k.csv.gz")
    with gzip.open(path, "rt") as f:
        raw = np.loadtxt(f, delimiter=",", dtype=np.float32)
    rs = np.random.RandomState(0)
    raw = raw[rs.permutation(len(raw))]
    x, y = raw[:, :784] / 255.0, raw[:, 784]
    train_x, train_y, test_x, test_y = x[:4000], y[:4000], mx.nd.array(x[4000:]), y[4000:]
    mx.random.seed(0)
    net = nn.HybridSequential()
    with net.name_scope():
        net.add(nn.Dense(128, activation="relu"), nn.Dense(64, activation="relu"), nn.Dense(10))
    net.initialize(mx.init.Xavier())
    net.hybridize()
    params = [p for p in net.collect_params().values() if p.grad_req != "null"]
    start = time.perf_counter()
    for epoch in range(3):
        order = rs.permutation(4000)
        for i in range(0, 4000, 50):
            idx = order[i:i + 50]
            data, label = mx.nd.array(train_x[idx]), mx.nd.array(train_y[idx])
            with mx.autograd.record():
                out = net(data)
                loss = -mx.nd.pick(mx.nd.log_softmax(out), label).mean()
            loss.backward()
            for p in params:
                p.data()[:] = p.data() - 0.2 * p.grad()
    took = time.perf_counter() - start
    acc = (net(test_x).asnumpy().argmax(axis=1) == test_y).mean()
    print("Gluon MLP (hybridized) on MNIST: 3 epochs in %.1f s, held-out accuracy %.3f" % (took, acc))
    with tempfile.TemporaryDirectory() as d:
        sym_file, params_file = net.export(os.path.join(d, "mlp"))
        back = mx.gluon.SymbolBlock.imports(sym_file, ["data"], params_file)
        same = np.abs(back(test_x).asnumpy() - net(test_x).asnumpy()).max()
    print("exported to MXNet's -symbol.json/.params and imported back: max |diff| %.1e" % same)


if __name__ == "__main__":
    main()
