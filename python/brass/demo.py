"""The main job: train LeNet on the packaged MNIST digits, ``python -m brass.demo``.

The package carries 5,000 real MNIST digits (500 per class). A stratified split with a fixed
seed holds 100 digits per class out and trains on the other 400 per class: a hybridized Gluon
LeNet, softmax cross-entropy, Adam with a cosine schedule and small random shifts of the
training digits, a progress bar per epoch (tqdm when installed). Then it prints the held-out
accuracy, saves a checkpoint (parameters and trainer states) and exports the model in MXNet's
format (``lenet-symbol.json`` + ``lenet-0000.params``), loads the export back and checks it
gives the same predictions, and draws the network as Graphviz DOT (``lenet.gv``; ``--summary``
also prints its layer table). Last, the embeddable C predictor: its two files
(``brass_predict.cc`` + ``brass_predict.h``) and the example app ``classify_image.c`` are
compiled with bare ``c++``/``cc`` commands (in the background, while the network trains), and
the program classifies the held-out digits, written as PGM images, with the exported model:
it prints the same accuracy as Python (``--no-predictor`` skips this part). ``--mnist-dir`` trains on the standard MNIST IDX files instead
(train-images-idx3-ubyte[.gz], ...; their test set is then the held-out set).
"""
import argparse
import gzip
import os
import sys
import time

import numpy as np

import brass as mx
from brass import autograd, gluon, native_predictor
from brass.gluon import nn


def load_packaged(seed):
    """The packaged digits, split 400 / 100 per class (stratified, seeded): (x_train, y_train,
    x_held, y_held), images as float32 (N, 1, 28, 28) in [0, 1]."""
    path = os.path.join(os.path.dirname(__file__), "data", "mnist_5k.csv.gz")
    with gzip.open(path, "rt") as f:
        raw = np.loadtxt(f, delimiter=",", dtype=np.float32)
    x, y = raw[:, :784].reshape(-1, 1, 28, 28) / 255.0, raw[:, 784].astype(np.int64)
    rs = np.random.RandomState(seed)
    train, held = [], []
    for c in range(10):
        idx = rs.permutation(np.flatnonzero(y == c))
        train.append(idx[:400])
        held.append(idx[400:500])
    train, held = np.concatenate(train), np.concatenate(held)
    return x[train], y[train], x[held], y[held]


def load_idx_dir(folder):
    """The standard MNIST files in ``folder`` (gzipped or not): train and test sets."""
    from brass.gluon.data.vision import MNIST

    sets = [MNIST(folder, train=t) for t in (True, False)]
    arrays = []
    for s in sets:
        arrays += [s._data.asnumpy().transpose(0, 3, 1, 2).astype(np.float32) / 255.0, s._label.astype(np.int64)]
    return tuple(arrays)


def lenet():
    net = nn.HybridSequential(prefix="lenet_")
    with net.name_scope():
        net.add(nn.Conv2D(20, kernel_size=5, activation="relu"), nn.MaxPool2D(2, 2),
                nn.Conv2D(50, kernel_size=5, activation="relu"), nn.MaxPool2D(2, 2),
                nn.Flatten(), nn.Dense(500, activation="relu"), nn.Dense(10))
    return net


def shifted(batch, rs, max_shift):
    """Each image moved by up to max_shift pixels along each axis (zeros fill in)."""
    if max_shift == 0:
        return batch
    out = np.zeros_like(batch)
    for i, img in enumerate(batch):
        dy, dx = rs.randint(-max_shift, max_shift + 1, 2)
        ys, yd = (slice(0, 28 - dy), slice(dy, 28)) if dy >= 0 else (slice(-dy, 28), slice(0, 28 + dy))
        xs, xd = (slice(0, 28 - dx), slice(dx, 28)) if dx >= 0 else (slice(-dx, 28), slice(0, 28 + dx))
        out[i, :, yd, xd] = img[:, ys, xs]
    return out


class Progress:
    """An epoch's progress: tqdm when installed, else one line at the end."""

    def __init__(self, total, desc, plain):
        self.bar = None
        if not plain:
            try:
                from tqdm import tqdm

                self.bar = tqdm(total=total, desc=desc, unit="img", leave=True, file=sys.stdout)
            except ImportError:
                pass
        self.desc, self.total = desc, total

    def update(self, n, **stats):
        if self.bar is not None:
            self.bar.set_postfix({k: "%.4f" % v for k, v in stats.items()}, refresh=False)
            self.bar.update(n)

    def close(self, rate, **stats):
        if self.bar is not None:
            self.bar.close()
        else:
            print("%s: %d samples, %.0f samples/s, %s" % (self.desc, self.total, rate,
                                                        ", ".join("%s %.4f" % kv for kv in stats.items())),
                  flush=True)


def evaluate(net, x, y, ctx, batch=500):
    """Accuracy on (x, y), and the predicted classes."""
    metric = mx.metric.Accuracy()
    classes = []
    for i in range(0, len(x), batch):
        out = net(mx.nd.array(x[i:i + batch], ctx=ctx))
        metric.update([mx.nd.array(y[i:i + batch])], [out])
        classes.append(out.asnumpy().argmax(1))
    return metric.get()[1], np.concatenate(classes)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m brass.demo", description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=12, help="passes over the training digits (default 12)")
    ap.add_argument("--batch-size", type=int, default=64, help="samples per step (default 64)")
    ap.add_argument("--optimizer", default="adam", help="any brass.optimizer name (default adam)")
    ap.add_argument("--lr", type=float, default=None, help="learning rate (default: 0.002 for adam, 0.05 otherwise)")
    ap.add_argument("--device", default="cpu", help="cpu or gpu[:N] (default cpu)")
    ap.add_argument("--out", default="brass-mnist", help="folder for the checkpoint and the export (default ./brass-mnist)")
    ap.add_argument("--mnist-dir", default=None, help="a folder with the standard MNIST IDX files, used instead")
    ap.add_argument("--shift", type=int, default=2, help="random shift of training digits, in pixels (default 2)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the split, the weights and the order (default 0)")
    ap.add_argument("--plain", action="store_true", help="one line per epoch instead of a progress bar")
    ap.add_argument("--summary", action="store_true", help="print the exported network's layer table")
    ap.add_argument("--no-predictor", action="store_true",
                    help="skip compiling the C predictor and classifying the held-out digits with it")
    a = ap.parse_args(argv)

    if a.device.startswith("gpu"):
        ctx = mx.gpu(int(a.device.split(":")[1]) if ":" in a.device else 0)
    elif a.device == "cpu":
        ctx = mx.cpu()
    else:
        ap.error("--device must be cpu or gpu[:N], got %r" % a.device)
    print("Brass", mx.__version__, "|", mx.build_info())
    if a.mnist_dir:
        x_tr, y_tr, x_ho, y_ho = load_idx_dir(a.mnist_dir)
        source = "MNIST from %s" % a.mnist_dir
    else:
        x_tr, y_tr, x_ho, y_ho = load_packaged(a.seed)
        source = "the packaged digits (MNIST subset, 400 per class to train, 100 held out)"
    print("data: %s: %d to train, %d held out" % (source, len(x_tr), len(x_ho)))
    # The C predictor compiles on its own thread while the network trains.
    build = None if a.no_predictor else native_predictor.Build(os.path.join(a.out, "predictor"))

    mx.random.seed(a.seed)
    rs = np.random.RandomState(a.seed)
    net = lenet()
    net.initialize(mx.init.Xavier(magnitude=2.24), ctx=ctx)
    net.hybridize()
    steps = a.epochs * ((len(x_tr) + a.batch_size - 1) // a.batch_size)
    lr = a.lr if a.lr is not None else (0.002 if a.optimizer.lower() in ("adam", "adamw") else 0.05)
    opt_params = {"learning_rate": lr, "lr_scheduler": mx.lr_scheduler.CosineScheduler(max(steps, 1), base_lr=lr)}
    if a.optimizer.lower() in ("sgd", "nag"):
        opt_params["momentum"] = 0.9
    trainer = gluon.Trainer(net.collect_params(), a.optimizer, opt_params)
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()

    start = time.perf_counter()
    for epoch in range(a.epochs):
        order = rs.permutation(len(x_tr))
        acc, tot = mx.metric.Accuracy(), mx.metric.Loss()
        bar = Progress(len(x_tr), "epoch %d/%d" % (epoch + 1, a.epochs), a.plain)
        t0 = time.perf_counter()
        for i in range(0, len(order), a.batch_size):
            idx = order[i:i + a.batch_size]
            data = mx.nd.array(shifted(x_tr[idx], rs, a.shift), ctx=ctx)
            label = mx.nd.array(y_tr[idx], ctx=ctx)
            with autograd.record():
                out = net(data)
                loss = loss_fn(out, label)
            loss.backward()
            trainer.step(len(idx))
            acc.update([label], [out])
            tot.update(None, [loss])
            bar.update(len(idx), loss=tot.get()[1], accuracy=acc.get()[1])
        bar.close(len(x_tr) / (time.perf_counter() - t0), loss=tot.get()[1], accuracy=acc.get()[1])
    took = time.perf_counter() - start

    held, held_classes = evaluate(net, x_ho, y_ho, ctx)
    print("trained in %.1f s; held-out accuracy %.4f (%d digits)" % (took, held, len(x_ho)))
    os.makedirs(a.out, exist_ok=True)
    prefix = os.path.join(a.out, "lenet")
    net.save_parameters(prefix + ".params")
    trainer.save_states(prefix + ".states")
    sym_file, params_file = net.export(prefix)
    back = gluon.SymbolBlock.imports(sym_file, ["data"], params_file, ctx=ctx)
    probe = mx.nd.array(x_ho[:200], ctx=ctx)
    same = np.abs(back(probe).asnumpy() - net(probe).asnumpy()).max()
    graph = mx.viz.plot_network(mx.sym.load(sym_file), title="lenet", shape={"data": (1, 1, 28, 28)})
    dot_file = graph.save(prefix + ".gv")
    if a.summary:
        mx.viz.print_summary(mx.sym.load(sym_file), shape={"data": (1, 1, 28, 28)})
    print("checkpoint: %s.params, %s.states; export: %s, %s (reloaded: max |diff| %.1e); graph: %s"
          % (prefix, prefix, sym_file, params_file, same, dot_file))
    if build is not None:
        classify_in_c(build, sym_file, params_file, held_classes, x_ho, y_ho, a.out)
    return held


def classify_in_c(build, sym_file, params_file, py, x_ho, y_ho, out):
    """The held-out digits as PGM files, classified by the compiled C predictor: its accuracy,
    and how many of its answers match Python's classes `py`."""
    program = build.wait()
    print("C predictor: %s (%.0f s)" % ("; ".join(" ".join(c) for c in build.commands), build.seconds))
    folder = os.path.join(out, "heldout")
    os.makedirs(folder, exist_ok=True)
    files = []
    for i, (img, label) in enumerate(zip(x_ho, y_ho)):
        files.append(os.path.join(folder, "%04d_label%d.pgm" % (i, label)))
        native_predictor.write_pgm(files[-1], np.rint(img[0] * 255.0))
    got = np.array([r[0] for r in native_predictor.classify(program, sym_file, params_file, files)])
    print("C predictor (%s) on the %d held-out digits: accuracy %.4f; same class as Python for %d"
          % (os.path.relpath(program), len(files), float((got == y_ho).mean()), int((got == py).sum())))


if __name__ == "__main__":
    main()
