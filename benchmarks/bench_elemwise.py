"""Element-wise throughput on 16M float32: add and exp, GB/s (bytes read + written) beside
numpy, measured in the same process.

    python benchmarks/bench_elemwise.py
"""
import time

import numpy as np

import brass as mx

N = 16 * 1024 * 1024


def best(fn, repeats=5):
    fn()
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return min(ts)


def main():
    x = np.random.RandomState(0).rand(N).astype(np.float32)
    y = np.random.RandomState(1).rand(N).astype(np.float32)
    a, b = mx.nd.array(x), mx.nd.array(y)
    out = mx.nd.empty((N,))
    zo = np.empty_like(x)
    cases = [
        ("add", 3 * 4 * N, lambda: mx.nd.broadcast_add(a, b, out=out).wait_to_read(),
         lambda: np.add(x, y, out=zo)),
        ("exp", 2 * 4 * N, lambda: mx.nd.exp(a, out=out).wait_to_read(), lambda: np.exp(x, out=zo)),
    ]
    print("element-wise on %dM float32 (%d threads), GB/s, best of 5" % (N >> 20, mx.base.lib.brass_num_threads()))
    for name, nbytes, fb, fn in cases:
        tb, tn = best(fb), best(fn)
        print("  %-4s brass %6.1f GB/s   numpy %6.1f GB/s   ratio %.2f" % (name, nbytes / tb / 1e9, nbytes / tn / 1e9, tn / tb))


if __name__ == "__main__":
    main()
