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
    try:
        mx.nd.broadcast_add(mx.nd.ones((2, 3)), mx.nd.ones((4,)))
    except mx.BrassError as e:
        print("a clear error:", e)


if __name__ == "__main__":
    main()
