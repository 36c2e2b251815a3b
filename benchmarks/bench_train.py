"""Training throughput the way users train: Gluon (hybridized, gluon.Trainer with SGD, softmax
cross-entropy loss) and the Module API (SoftmaxOutput, the module's SGD) against PyTorch eager, samples/s at batch 64, for the MLP 784-256-128-10 and
LeNet (conv 20 5x5 tanh, max-pool 2, conv 50 5x5 tanh, max-pool 2, dense 500 tanh, dense 10),
and each framework's peak resident memory.

    python benchmarks/bench_train.py [--rounds N]

Each framework runs in its own process (so the peak RSS is its own: interpreter, library and
training), 2 threads; the processes alternate in rounds and the ratio is taken within each
round, the median shown (this machine has slow spells of seconds to minutes). Within a process:
20 warm-up steps, then the best of 5 timings of 50 steps, on fixed random data.
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np

THREADS = 2
STEPS, REPEATS = 50, 5


def rate(step, batch, sync=lambda: None):
    """Samples/s of step(): 20 warm-up steps, then the best of REPEATS timings of STEPS steps
    (sync waits for queued work)."""
    import time

    for _ in range(20):
        step()
    sync()
    best = float("inf")
    for _ in range(REPEATS):
        t = time.perf_counter()
        for _ in range(STEPS):
            step()
        sync()
        best = min(best, time.perf_counter() - t)
    return batch * STEPS / best


def brass_rates():

    import brass as mx
    from brass import autograd, gluon
    from brass.gluon import nn

    def mlp():
        net = nn.HybridSequential()
        with net.name_scope():
            net.add(nn.Dense(256, activation="relu"), nn.Dense(128, activation="relu"), nn.Dense(10))
        return net

    def lenet():
        net = nn.HybridSequential()
        with net.name_scope():
            net.add(nn.Conv2D(20, 5, activation="tanh"), nn.MaxPool2D(2, 2), nn.Conv2D(50, 5, activation="tanh"),
                    nn.MaxPool2D(2, 2), nn.Flatten(), nn.Dense(500, activation="tanh"), nn.Dense(10))
        return net

    out = {}
    for name, make, shape in (("mlp", mlp, (64, 784)), ("lenet", lenet, (64, 1, 28, 28))):
        rs = np.random.RandomState(2)
        x = mx.nd.array(rs.uniform(-1, 1, shape))
        y = mx.nd.array(rs.randint(0, 10, shape[0]))
        net = make()
        net.initialize(mx.init.Xavier())
        net.hybridize()
        trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.01})
        loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()

        def step():
            with autograd.record():
                loss = loss_fn(net(x), y)
            loss.backward()
            trainer.step(shape[0])

        out[name] = rate(step, shape[0], mx.nd.waitall)
        # The same network through the Module API (SoftmaxOutput, the module's SGD updater).
        data = mx.sym.var("data")
        sym = mx.sym.SoftmaxOutput(net(data), name="softmax")
        mod = mx.mod.Module(sym)
        mod.bind(data_shapes=[("data", shape)], label_shapes=[("softmax_label", (shape[0],))])
        mod.init_params(mx.init.Xavier())
        mod.init_optimizer(optimizer="sgd", optimizer_params={"learning_rate": 0.01})
        batch = mx.io.DataBatch([x], [y])

        def mod_step():
            mod.forward_backward(batch)
            mod.update()

        out[name + "_module"] = rate(mod_step, shape[0], mx.nd.waitall)
    return out


def torch_rates():

    import torch
    import torch.nn as tnn
    import torch.nn.functional as F

    torch.set_num_threads(THREADS)
    torch.manual_seed(0)
    nets = {
        "mlp": (tnn.Sequential(tnn.Linear(784, 256), tnn.ReLU(), tnn.Linear(256, 128), tnn.ReLU(),
                               tnn.Linear(128, 10)), (64, 784)),
        "lenet": (tnn.Sequential(tnn.Conv2d(1, 20, 5), tnn.Tanh(), tnn.MaxPool2d(2, 2), tnn.Conv2d(20, 50, 5),
                                 tnn.Tanh(), tnn.MaxPool2d(2, 2), tnn.Flatten(), tnn.Linear(800, 500), tnn.Tanh(),
                                 tnn.Linear(500, 10)), (64, 1, 28, 28)),
    }
    out = {}
    for name, (net, shape) in nets.items():
        rs = np.random.RandomState(2)
        x = torch.tensor(rs.uniform(-1, 1, shape).astype("float32"))
        y = torch.tensor(rs.randint(0, 10, shape[0]).astype("int64"))
        opt = torch.optim.SGD(net.parameters(), lr=0.01)

        def step():
            opt.zero_grad()
            F.cross_entropy(net(x), y).backward()
            opt.step()

        out[name] = rate(step, shape[0])
    return out


def child(which):
    import resource

    rates = brass_rates() if which == "brass" else torch_rates()
    rates["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps(rates))


def run(which):
    env = dict(os.environ, BRASS_NUM_THREADS=str(THREADS), OMP_NUM_THREADS=str(THREADS))
    res = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", which], env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--child", default=None)
    a = ap.parse_args()
    if a.child:
        child(a.child)
        return
    rounds = []
    for r in range(a.rounds):
        b, t = run("brass"), run("torch")
        rounds.append((b, t))
        print("round %d: brass Gluon MLP %.0f LeNet %.0f, Module MLP %.0f LeNet %.0f samples/s (%.0f MB); "
              "torch MLP %.0f LeNet %.0f (%.0f MB)" % (r + 1, b["mlp"], b["lenet"], b["mlp_module"],
                                                        b["lenet_module"], b["rss_mb"], t["mlp"], t["lenet"],
                                                        t["rss_mb"]), flush=True)
    for key, label in (("mlp", "MLP 784-256-128-10"), ("lenet", "LeNet")):
        best_t = max(t[key] for _, t in rounds)
        for api, bkey in (("Gluon (hybridized, Trainer)", key), ("Module", key + "_module")):
            best_b = max(b[bkey] for b, _ in rounds)
            ratio = float(np.median([b[bkey] / t[key] for b, t in rounds]))
            print("%-20s batch 64  %-27s %9.0f samples/s  PyTorch %9.0f  ratio %.2f" % (
                label, api, best_b, best_t, ratio))
    print("peak RSS (MB): Brass %.0f  PyTorch %.0f" % (max(b["rss_mb"] for b, _ in rounds),
                                                       max(t["rss_mb"] for _, t in rounds)))


if __name__ == "__main__":
    main()
