"""Recording overhead: `c = a + b` on 10-element float32 arrays, 10,000 times, plain and
inside autograd.record() with `a` marked by attach_grad() (so every op is recorded), plus the
backward of such a recorded chain and PyTorch's equivalents when installed.

    python benchmarks/bench_autograd.py

Prints microseconds per op (the best of three interleaved rounds of 5 runs), all in this one
process; the target is recorded dispatch within 1.5x of plain dispatch.
"""
import brass as mx
from bench_dispatch import N, best  # the same loop count and timing as the dispatch benchmark


def main():
    a, b = mx.nd.ones((10,)), mx.nd.ones((10,))

    def plain():
        for _ in range(N):
            c = a + b
        mx.nd.waitall()
        return c

    ra = mx.nd.ones((10,))
    ra.attach_grad()

    def recorded():
        with mx.autograd.record():
            for _ in range(N):
                c = ra + b
        mx.nd.waitall()
        return c

    def chain_backward():  # N recorded ops in a chain, then one backward through all of them
        with mx.autograd.record():
            c = ra
            for _ in range(N):
                c = c + b
        c.backward()
        mx.nd.waitall()

    fns = [("brass plain", plain), ("brass recorded", recorded), ("brass chain + backward", chain_backward)]
    try:
        import torch
        torch.set_num_threads(1)
        tb = torch.ones(10)
        ta = torch.ones(10, requires_grad=True)

        def torch_plain():
            with torch.no_grad():
                for _ in range(N):
                    c = ta + tb
            return c

        def torch_recorded():
            for _ in range(N):
                c = ta + tb
            return c

        def torch_chain():
            c = ta
            for _ in range(N):
                c = c + tb
            c.sum().backward()

        fns += [("torch %s plain" % torch.__version__, torch_plain), ("torch recorded", torch_recorded),
                ("torch chain + backward", torch_chain)]
    except ImportError:
        pass
    # Three interleaved rounds, the best of each: warm-up and frequency changes hit all alike.
    times = {}
    for _ in range(3):
        for name, fn in fns:
            times[name] = min(times.get(name, float("inf")), best(fn))
    rows = [(name, times[name]) for name, _ in fns]
    print("autograd overhead, c = a + b on 10 float32, %d ops (best of 3 x 5 runs)" % N)
    for name, us in rows:
        print("  %-28s %6.2f us/op" % (name, us))
    print("  brass recorded/plain ratio %.2f (target <= 1.5)" % (rows[1][1] / rows[0][1]))


if __name__ == "__main__":
    main()
