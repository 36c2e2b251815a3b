"""Dispatch overhead: `c = a + b` on 10-element float32 arrays, 10,000 times, then one wait.

    python benchmarks/bench_dispatch.py

Prints microseconds per op for Brass beside numpy and PyTorch (if installed), best of 5 runs,
all measured in this one process.
"""
import time

import numpy as np

import brass as mx

N = 10000


def best(fn, repeats=5):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times) / N * 1e6


def main():
    a, b = mx.nd.ones((10,)), mx.nd.ones((10,))

    def brass_loop():
        for _ in range(N):
            c = a + b
        mx.nd.waitall()
        return c


    x, y = np.ones(10, np.float32), np.ones(10, np.float32)

    def numpy_loop():
        for _ in range(N):
            z = x + y
        return z

    rows = [("brass", best(brass_loop)), ("numpy", best(numpy_loop))]
    try:
        import torch
        torch.set_num_threads(1)
        tx, ty = torch.ones(10), torch.ones(10)

        def torch_loop():
            for _ in range(N):
                tz = tx + ty
            return tz

        rows.append(("torch %s" % torch.__version__, best(torch_loop)))
    except ImportError:
        rows.append(("torch", float("nan")))
    print("dispatch overhead, c = a + b on 10 float32, %d ops (best of 5)" % N)
    for name, us in rows:
        print("  %-14s %6.2f us/op" % (name, us))
    print("  brass/numpy ratio %.2f" % (rows[0][1] / rows[1][1]))


if __name__ == "__main__":
    main()
