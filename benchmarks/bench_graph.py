"""Graphs: planned memory and hybridized step time, for an MLP and a small CNN.

    python benchmarks/bench_graph.py

1. Memory of the intermediate values of forward+backward in a bound executor (MB), with
   planning off (every value its own buffer: BRASS_MEMORY_PLAN=0), on (buffers shared and
   reused in place), and on with mirroring (BRASS_BACKWARD_DO_MIRROR=1, forward values
   recomputed in backward from checkpoints), and shared only along dependencies
   (BRASS_PLAN_CONCURRENT=1, what hybridized blocks use). Also a 50-layer MLP, the mirror target (at least
   3x less than planning alone).
2. One training step (forward, backward under autograd.record, SGD update) of the same
   networks as Gluon blocks, imperative and hybridized (a cached executor per input shape,
   recorded as one node), in microseconds (the best of 6 interleaved rounds), in this one
   process; PyTorch eager for the same MLP (same step) when installed.
   Add-to: a branching MLP planned with and without summing gradient parts in one buffer
   (BRASS_ADD_TO=0).
3. Element-wise fusion: chains of element-wise ops on 4M float32, forward in a bound
   executor, fused (default) and unfused (BRASS_FUSE=0), in milliseconds; and a 40-op chain
   on 256 values (the per-call cost of a fused group), in microseconds.
"""
import os
import time

import numpy as np

import brass as mx
from brass.gluon import nn


def mlp(layers=3, hidden=256):
    net = nn.HybridSequential()
    with net.name_scope():
        for _ in range(layers - 1):
            net.add(nn.Dense(hidden, activation="relu"))
        net.add(nn.Dense(10))
    return net


def cnn():
    net = nn.HybridSequential()
    with net.name_scope():
        net.add(nn.Conv2D(16, 3, padding=1, activation="relu"), nn.BatchNorm(), nn.MaxPool2D(),
                nn.Conv2D(32, 3, padding=1, activation="relu"), nn.MaxPool2D(), nn.Flatten(),
                nn.Dense(64, activation="relu"), nn.Dense(10))
    return net


def symbol_of(net, shape):
    net.initialize()
    net.hybridize()
    net(mx.nd.ones(shape))
    return net._cached[1]


def branching_mlp(blocks, hidden):
    """h <- tanh(FC_a(h)) + sigmoid(FC_b(h)): every h feeds two layers, so its gradient is a
    sum of two parts."""
    h = mx.sym.var("data")
    for i in range(blocks):
        a = mx.sym.FullyConnected(h, num_hidden=hidden, name="fa%d" % i)
        b = mx.sym.FullyConnected(h, num_hidden=hidden, name="fb%d" % i)
        h = mx.sym.tanh(a) + mx.sym.sigmoid(b)
    return mx.sym.sum(h)


def planned(sym, shape, plan, mirror, add_to=True, concurrent=False):
    env = {"BRASS_MEMORY_PLAN": plan, "BRASS_BACKWARD_DO_MIRROR": mirror, "BRASS_ADD_TO": add_to,
           "BRASS_PLAN_CONCURRENT": concurrent}
    os.environ.update({k: "1" if v else "0" for k, v in env.items()})
    try:
        exe = sym.simple_bind(mx.cpu(), data=shape)
    finally:
        for k in env:
            os.environ.pop(k)
    exe.forward(is_train=True)
    exe.backward()
    mx.nd.waitall()
    return exe.memory_plan["planned_bytes"] / 2 ** 20


def step_times(nets, x, rounds=6, steps=10):
    """Best time of one training step (forward and backward under record, then a plain SGD
    update of every parameter, the same code for each net), rounds interleaved across nets."""
    def step(net, params):
        with mx.autograd.record():
            loss = net(x).sum()
        loss.backward()
        for p in params:
            mx.nd.elemwise_sub(p.data(), p.grad() * 1e-4, out=p.data())
    best = [float("inf")] * len(nets)
    for _ in range(rounds):
        for i, net in enumerate(nets):
            params = [p for p in net.collect_params().values() if p.grad_req != "null"]
            step(net, params)
            mx.nd.waitall()
            t = time.perf_counter()
            for _ in range(steps):
                step(net, params)
            mx.nd.waitall()
            best[i] = min(best[i], (time.perf_counter() - t) / steps)
    return [b * 1e6 for b in best]


def torch_mlp_step(batch, inp, hidden, layers):
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(int(os.environ.get("BRASS_NUM_THREADS", os.cpu_count())))
    mods = []
    d = inp
    for _ in range(layers - 1):
        mods += [torch.nn.Linear(d, hidden), torch.nn.ReLU()]
        d = hidden
    mods.append(torch.nn.Linear(d, 10))
    net = torch.nn.Sequential(*mods)
    x = torch.rand(batch, inp)
    best = float("inf")
    for r in range(6):
        t = time.perf_counter()
        for _ in range(20):
            net.zero_grad()
            net(x).sum().backward()
            with torch.no_grad():
                for p in net.parameters():
                    p -= 1e-4 * p.grad
        if r:
            best = min(best, (time.perf_counter() - t) / 20)
    return best * 1e6


def main():
    print("## Planned memory of forward+backward intermediates (MB)")
    print("| network | plan off | plan on | plan + mirror | plan, concurrent (hybridized training) |")
    print("|---|---|---|---|---|")
    cases = [("MLP 3x256, batch 64", mlp(), (64, 784)), ("CNN 2 conv, batch 16", cnn(), (16, 3, 32, 32)),
             ("MLP 50x256, batch 64", mlp(50), (64, 256))]
    for name, net, shape in cases:
        sym = symbol_of(net, shape)
        off, on, mirror = (planned(sym, shape, p, m) for p, m in ((False, False), (True, False), (True, True)))
        conc = planned(sym, shape, True, False, concurrent=True)
        print("| %s | %.2f | %.2f (%.1fx less) | %.2f (%.1fx less than on) | %.2f (%.1fx less than off) |"
              % (name, off, on, off / on, mirror, on / mirror, conc, off / conc))
    print()
    print("## Add-to: a branching MLP (each hidden value feeds two layers), planned MB")
    print("| network | add-to off | add-to on | summed parts |")
    print("|---|---|---|---|")
    sym = branching_mlp(8, 256)
    off, on = (planned(sym, (64, 256), True, False, add_to=a) for a in (False, True))
    parts = sym.simple_bind(mx.cpu(), data=(64, 256)).memory_plan["addto"]
    print("| 8 blocks of two 256-wide layers, batch 64 | %.2f | %.2f (%.2fx less) | %d |" % (off, on, off / on, parts))
    print()
    print("## One training step (us): imperative vs hybridized")
    print("| network | imperative | hybridized | ratio |")
    print("|---|---|---|---|")
    for name, make, shape in [("MLP 3x256, batch 64", mlp, (64, 784)), ("MLP 3x64, batch 8", lambda: mlp(3, 64), (8, 32)),
                              ("CNN 2 conv, batch 16", cnn, (16, 3, 32, 32))]:
        x = mx.nd.array(np.random.RandomState(0).uniform(-1, 1, shape).astype(np.float32))
        imp, hyb = make(), make()
        for net in (imp, hyb):
            net.initialize()
            net(x)
        hyb.hybridize()
        t_imp, t_hyb = step_times([imp, hyb], x)
        print("| %s | %.0f | %.0f | %.2fx |" % (name, t_imp, t_hyb, t_imp / t_hyb))
    t = torch_mlp_step(8, 32, 64, 3)
    if t is not None:
        print("\nPyTorch eager, MLP 3x64 batch 8: %.0f us per step" % t)
    print()
    x, y = mx.sym.var("x"), mx.sym.var("y")
    small = x
    for i in range(40):  # 40 ops: two fused groups
        small = mx.sym.relu(small) if i % 2 else mx.sym.clip(small, a_min=-1, a_max=6)
    tables = [("Element-wise chains, 4M float32, forward (ms)", (2048, 2048), 1e3,
               [("((x * 0.5 + 1) - 2) * 3", ((x * 0.5 + 1.0) - 2.0) * 3.0),
                ("tanh(exp(x * 0.5) + y * y - 1) / 3",
                 mx.sym.tanh(mx.sym.exp(x * 0.5) + y * y - 1.0) / 3.0)]),
              ("Element-wise chains, 256 float32, forward (us: per-call cost)", (1, 256), 1e6,
               [("clip, relu alternating, 40 ops", small)])]
    for title, shape, unit, chains in tables:
        print("## " + title)
        print("| chain | unfused | fused | speedup |\n|---|---|---|---|")
        for label, z in chains:
            times = {}
            for fuse in ("0", "1"):
                os.environ["BRASS_FUSE"] = fuse
                exe = z.simple_bind(mx.cpu(), grad_req="null", **{k: shape for k in z.list_arguments()})
                os.environ.pop("BRASS_FUSE")
                exe.forward()
                mx.nd.waitall()
                best = float("inf")
                for _ in range(5):
                    t0 = time.perf_counter()
                    for _ in range(5):
                        exe.forward()
                    mx.nd.waitall()
                    best = min(best, (time.perf_counter() - t0) / 5)
                times[fuse] = best * unit
            print("| %s | %.2f | %.2f | %.2fx |" % (label, times["0"], times["1"], times["0"] / times["1"]))
        print()

if __name__ == "__main__":
    main()
