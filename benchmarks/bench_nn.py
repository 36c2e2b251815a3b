"""Neural-network operators at model scale, side by side with PyTorch eager and ONNX Runtime.

    python benchmarks/bench_nn.py [--quick] [--only infer,train,layers,memory]

ResNet-18 v1 and MobileNetV2 1.0 are written once as a layer spec (below) and built from it
three ways: a Brass symbol run by a bound executor, a PyTorch module (by hand: torchvision does
not import beside torch 2.13), and the ONNX export of that module (torch.onnx.export with
dynamo=False) run by ONNX Runtime. All three get the same random weights, and the outputs are
compared before anything is timed. Every figure is the best of several runs in this one
process, 2 threads for everyone (BRASS_NUM_THREADS, torch.set_num_threads, ORT intra-op).

1. Inference latency (ms), batch 1 and 32, 224x224. The frameworks take turns: rounds (five at
   batch 1, three at 32), each timing Brass, PyTorch and ONNX Runtime one after the other (a
   pause between); the best of each over all rounds, and Brass/ONNX Runtime as the median of
   the rounds' ratios, so that a slow spell of this shared machine does not fall on one
   framework's runs alone.
2. Training step (samples/s): LeNet and an MLP 784-256-128-10 at batch 64, ResNet-18 at batch
   16 (forward, backward, SGD update of every weight; softmax cross-entropy loss).
3. Convolution layers: GFLOP/s of each distinct ResNet-18 / MobileNetV2 convolution (batch 1,
   forward), Brass (an imperative call, and the layer in a bound executor) and PyTorch, and
   Brass as a fraction of the machine's peak (one core's SGEMM rate, measured here, times the
   threads).
4. Planned memory of ResNet-18 forward+backward at batch 32 (MB): planning off, on, mirroring.
"""
import argparse
import os
import sys
import time

os.environ.setdefault("BRASS_NUM_THREADS", "2")
import numpy as np  # noqa: E402

import brass as mx  # noqa: E402

THREADS = int(os.environ["BRASS_NUM_THREADS"])


# ---- the layer specs ------------------------------------------------------------------------
# A spec is a function of a backend `B` and the input; B.conv(x, name, cin, cout, k, s, p, g),
# B.bn(x, name, c), B.relu(x), B.relu6(x), B.add(a, b), B.maxpool(x, k, s, p), B.gap(x),
# B.fc(x, name, cin, cout), B.flatten(x), B.tanh(x).

def resnet18(B, x, classes=1000):
    x = B.relu(B.bn(B.conv(x, "conv0", 3, 64, 7, 2, 3), "bn0", 64))
    x = B.maxpool(x, 3, 2, 1)
    cin = 64
    for stage, (cout, stride) in enumerate([(64, 1), (128, 2), (256, 2), (512, 2)]):
        for blk in range(2):
            s = stride if blk == 0 else 1
            name = "s%d_b%d" % (stage, blk)
            y = B.relu(B.bn(B.conv(x, name + "_c1", cin, cout, 3, s, 1), name + "_bn1", cout))
            y = B.bn(B.conv(y, name + "_c2", cout, cout, 3, 1, 1), name + "_bn2", cout)
            if s != 1 or cin != cout:
                x = B.bn(B.conv(x, name + "_down", cin, cout, 1, s, 0), name + "_bnd", cout)
            x = B.relu(B.add(x, y))
            cin = cout
    return B.fc(B.flatten(B.gap(x)), "fc", 512, classes)


MBV2 = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


def mobilenet_v2(B, x, classes=1000):
    x = B.relu6(B.bn(B.conv(x, "conv0", 3, 32, 3, 2, 1), "bn0", 32))
    cin = 32
    i = 0
    for t, c, n, s in MBV2:
        for j in range(n):
            stride = s if j == 0 else 1
            name = "ir%d" % i
            hid = cin * t
            y = x
            if t != 1:
                y = B.relu6(B.bn(B.conv(y, name + "_exp", cin, hid, 1, 1, 0), name + "_bne", hid))
            y = B.relu6(B.bn(B.conv(y, name + "_dw", hid, hid, 3, stride, 1, hid), name + "_bnd", hid))
            y = B.bn(B.conv(y, name + "_proj", hid, c, 1, 1, 0), name + "_bnp", c)
            x = B.add(x, y) if stride == 1 and cin == c else y
            cin = c
            i += 1
    x = B.relu6(B.bn(B.conv(x, "conv_last", cin, 1280, 1, 1, 0), "bn_last", 1280))
    return B.fc(B.flatten(B.gap(x)), "fc", 1280, classes)


def lenet(B, x, classes=10):
    x = B.maxpool(B.tanh(B.conv(x, "c1", 1, 20, 5, 1, 0, bias=True)), 2, 2, 0)
    x = B.maxpool(B.tanh(B.conv(x, "c2", 20, 50, 5, 1, 0, bias=True)), 2, 2, 0)
    return B.fc(B.tanh(B.fc(B.flatten(x), "f1", 800, 500)), "f2", 500, classes)


def mlp(B, x, classes=10):
    return B.fc(B.relu(B.fc(B.relu(B.fc(x, "f1", 784, 256)), "f2", 256, 128)), "f3", 128, classes)


# ---- random weights shared by every backend -------------------------------------------------
class Weights:
    """Records each layer's parameters (numpy, float32) as a spec is traced."""

    def __init__(self, seed=0):
        self.rs = np.random.RandomState(seed)
        self.p = {}

    def conv(self, name, cin, cout, k, g, bias):
        fan = cin // g * k * k
        self.p[name + "_weight"] = (self.rs.randn(cout, cin // g, k, k) * np.sqrt(2.0 / fan)).astype("float32")
        if bias:
            self.p[name + "_bias"] = np.zeros(cout, "float32")

    def bn(self, name, c):
        self.p[name + "_gamma"] = self.rs.uniform(0.5, 1.5, c).astype("float32")
        self.p[name + "_beta"] = self.rs.uniform(-0.1, 0.1, c).astype("float32")
        self.p[name + "_moving_mean"] = self.rs.uniform(-0.1, 0.1, c).astype("float32")
        self.p[name + "_moving_var"] = self.rs.uniform(0.5, 1.5, c).astype("float32")

    def fc(self, name, cin, cout):
        self.p[name + "_weight"] = (self.rs.randn(cout, cin) * np.sqrt(1.0 / cin)).astype("float32")
        self.p[name + "_bias"] = np.zeros(cout, "float32")


class Trace:
    """A backend that only records the weights (shapes from the spec's arguments)."""

    def __init__(self, w):
        self.w = w

    def conv(self, x, name, cin, cout, k, s, p, g=1, bias=False):
        self.w.conv(name, cin, cout, k, g, bias)
        return x

    def bn(self, x, name, c):
        self.w.bn(name, c)
        return x

    def fc(self, x, name, cin, cout):
        self.w.fc(name, cin, cout)
        return x

    def __getattr__(self, _):
        return lambda x, *a, **k: x


def weights_of(spec, seed=0):
    w = Weights(seed)
    spec(Trace(w), None)
    return w.p


# ---- Brass ----------------------------------------------------------------------------------
class BrassSym:
    def conv(self, x, name, cin, cout, k, s, p, g=1, bias=False):
        return mx.sym.Convolution(x, kernel=(k, k), stride=(s, s), pad=(p, p), num_filter=cout, num_group=g,
                                  no_bias=not bias, name=name)

    def bn(self, x, name, c):
        return mx.sym.BatchNorm(x, fix_gamma=False, eps=1e-5, name=name)

    def relu(self, x):
        return mx.sym.Activation(x, act_type="relu")

    def tanh(self, x):
        return mx.sym.Activation(x, act_type="tanh")

    def relu6(self, x):
        return mx.sym.clip(x, a_min=0, a_max=6)

    def add(self, a, b):
        return a + b

    def maxpool(self, x, k, s, p):
        return mx.sym.Pooling(x, kernel=(k, k), stride=(s, s), pad=(p, p), pool_type="max")

    def gap(self, x):
        return mx.sym.Pooling(x, global_pool=True, pool_type="avg", kernel=(1, 1))

    def flatten(self, x):
        return mx.sym.Flatten(x)

    def fc(self, x, name, cin, cout):
        return mx.sym.FullyConnected(x, num_hidden=cout, name=name)


def brass_executor(spec, params, shape, train=False, label=False):
    out = spec(BrassSym(), mx.sym.var("data"))
    if label:
        out = mx.sym.SoftmaxOutput(out, name="softmax")
    req = {k: ("write" if train and k != "data" and not k.endswith("_label") else "null")
           for k in out.list_arguments()}
    exe = out.simple_bind(mx.cpu(), data=shape, grad_req=req)
    for k, v in params.items():
        d = exe.arg_dict if k in exe.arg_dict else exe.aux_dict
        d[k][:] = v
    return exe


# ---- PyTorch --------------------------------------------------------------------------------
def torch_module(spec, params):
    import torch
    import torch.nn.functional as F

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.names = {}
            for k, v in params.items():
                safe = k.replace(".", "_")
                if k.endswith("moving_mean") or k.endswith("moving_var"):
                    self.register_buffer(safe, torch.tensor(v))
                else:
                    self.register_parameter(safe, torch.nn.Parameter(torch.tensor(v)))

        def forward(self, x):
            m = self

            class B:
                def conv(self, x, name, cin, cout, k, s, p, g=1, bias=False):
                    return F.conv2d(x, getattr(m, name + "_weight"), getattr(m, name + "_bias") if bias else None,
                                    stride=s, padding=p, groups=g)

                def bn(self, x, name, c):
                    return F.batch_norm(x, getattr(m, name + "_moving_mean"), getattr(m, name + "_moving_var"),
                                        getattr(m, name + "_gamma"), getattr(m, name + "_beta"),
                                        training=m.training, momentum=0.1, eps=1e-5)

                relu = staticmethod(F.relu)
                tanh = staticmethod(torch.tanh)
                relu6 = staticmethod(F.relu6)

                def add(self, a, b):
                    return a + b

                def maxpool(self, x, k, s, p):
                    return F.max_pool2d(x, k, s, p)

                def gap(self, x):
                    return F.adaptive_avg_pool2d(x, 1)

                def flatten(self, x):
                    return torch.flatten(x, 1)

                def fc(self, x, name, cin, cout):
                    return F.linear(x, getattr(m, name + "_weight"), getattr(m, name + "_bias"))

            return spec(B(), x)

    return Net()


def best_of(fn, runs, warm=1):
    time.sleep(0.5)  # whatever ran before settles (worker threads that spin after a call)
    for _ in range(warm):
        fn()
    best = float("inf")
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


# ---- 1. inference ---------------------------------------------------------------------------
def bench_inference(runs):
    import torch
    torch.set_num_threads(THREADS)
    rows = []
    for mname, spec in [("ResNet-18", resnet18), ("MobileNetV2", mobilenet_v2)]:
        params = weights_of(spec)
        net = torch_module(spec, params).eval()
        for batch in (1, 32):
            # Batch 1 runs in milliseconds, where a noisy machine's stalls weigh most: more runs.
            n = runs * 5 if batch == 1 else runs
            x = np.random.RandomState(1).uniform(-1, 1, (batch, 3, 224, 224)).astype("float32")
            exe = brass_executor(spec, params, x.shape)
            exe.arg_dict["data"][:] = x

            def brass_run():
                exe.forward(is_train=False)
                exe.outputs[0].wait_to_read()
            brass_run()
            ours = exe.outputs[0].asnumpy()
            xt = torch.tensor(x)
            with torch.no_grad():
                ref = net(xt).numpy()

            def torch_run():
                with torch.no_grad():
                    net(xt)
            err = float(np.abs(ours - ref).max() / (np.abs(ref).max() + 1e-12))
            ort_run = ort_session(net, x, ref)
            # One after the other (torch's and ONNX Runtime's workers spin a while after each call
            # and would take a core from whatever ran next), with a pause between, in rounds.
            # This shared machine has slow spells of seconds (both vCPUs sync slowly: every
            # framework's 2-thread batch-1 time grows 1.6x while the spell lasts), so the ratio
            # is taken within each round, from adjacent runs, and the median round's is shown.
            rounds = 5 if batch == 1 else 3
            per = [[float("inf")] * 3 for _ in range(rounds)]
            for r in range(rounds):
                for i, f in enumerate((brass_run, torch_run, ort_run)):
                    if f:
                        per[r][i] = best_of(f, n)
            best = [min(p[i] for p in per) for i in range(3)]
            t_brass, t_torch, t_ort = best[0], best[1], best[2] if ort_run else None
            ratio = float(np.median([p[0] / p[2] for p in per])) if ort_run else None
            rows.append((mname, batch, t_brass * 1e3, t_ort * 1e3 if t_ort else None, t_torch * 1e3, err, ratio))
            print("%-12s batch %2d  brass %8.2f ms  onnxruntime %8s ms  torch %8.2f ms  brass/ort %s  "
                  "(max rel. diff %.1e)" % (
                      mname, batch, t_brass * 1e3, "%.2f" % (t_ort * 1e3) if t_ort else "-", t_torch * 1e3,
                      "%.2f" % ratio if ratio else "-", err), flush=True)
    return rows


def ort_session(net, x, ref):
    try:
        import onnxruntime as ort
        import torch
    except ImportError:
        return None
    path = "/tmp/bench_nn_%d.onnx" % os.getpid()
    with torch.no_grad():
        torch.onnx.export(net, torch.tensor(x), path, dynamo=False, input_names=["x"], output_names=["y"])
    so = ort.SessionOptions()
    so.intra_op_num_threads = THREADS
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    os.remove(path)
    out = sess.run(None, {"x": x})[0]
    assert np.abs(out - ref).max() <= 1e-3 * (np.abs(ref).max() + 1), "ONNX Runtime disagrees with torch"
    return lambda: sess.run(None, {"x": x})


# ---- 2. training step -----------------------------------------------------------------------
def bench_training(runs, quick):
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(THREADS)
    cases = [("LeNet", lenet, (64, 1, 28, 28), 10), ("MLP 784-256-128-10", mlp, (64, 784), 10)]
    if not quick:
        cases.append(("ResNet-18", resnet18, (16, 3, 224, 224), 1000))
    rows = []
    for name, spec, shape, classes in cases:
        params = weights_of(spec)
        rs = np.random.RandomState(2)
        x = rs.uniform(-1, 1, shape).astype("float32")
        y = rs.randint(0, classes, shape[0]).astype("float32")
        exe = brass_executor(spec, params, shape, train=True, label=True)
        exe.arg_dict["data"][:] = x
        exe.arg_dict["softmax_label"][:] = y
        keys = [k for k in exe.grad_dict if exe.grad_dict[k] is not None]
        lr = 0.01 / shape[0]

        def brass_step():
            exe.forward(is_train=True)
            exe.backward()
            for k in keys:  # the fused update op, as mx.optimizer.SGD runs it
                w = exe.arg_dict[k]
                mx.nd.sgd_update(w, exe.grad_dict[k], lr=lr, out=w)
            mx.nd.waitall()
        net = torch_module(spec, params).train()
        opt = torch.optim.SGD(net.parameters(), lr=0.01)
        xt, yt = torch.tensor(x), torch.tensor(y.astype("int64"))

        def torch_step():
            opt.zero_grad()
            F.cross_entropy(net(xt), yt).backward()
            opt.step()
        n = 2 if name == "ResNet-18" else 10
        # In rounds, as for inference: a slow spell of the machine falls on both.
        tb = tt = float("inf")
        for _ in range(3):
            tb = min(tb, best_of(lambda: [brass_step() for _ in range(n)], runs) / n)
            tt = min(tt, best_of(lambda: [torch_step() for _ in range(n)], runs) / n)
        rows.append((name, shape[0], shape[0] / tb, shape[0] / tt))
        print("%-20s batch %2d  brass %8.1f samples/s  torch %8.1f samples/s  ratio %.2f" % (
            name, shape[0], shape[0] / tb, shape[0] / tt, tt / tb), flush=True)
    return rows


# ---- 3. convolution layers ------------------------------------------------------------------
class Layers:
    """A backend that collects the distinct convolutions of a spec with their input sizes."""

    def __init__(self):
        self.seen = []

    def conv(self, x, name, cin, cout, k, s, p, g=1, bias=False):
        h = x
        key = (cin, cout, k, s, p, g, h)
        if key not in self.seen:
            self.seen.append(key)
        return (h + 2 * p - k) // s + 1

    def maxpool(self, x, k, s, p):
        return (x + 2 * p - k) // s + 1

    def bn(self, x, *a):
        return x

    def fc(self, x, *a):
        return x

    def __getattr__(self, _):
        return lambda x, *a: x


def peak_gflops():
    """One core's SGEMM rate (2048^3 through mx.nd.dot on all threads, divided by them)."""
    a = mx.nd.array(np.random.rand(2048, 2048).astype("float32"))
    t = best_of(lambda: mx.nd.dot(a, a).wait_to_read(), 3)
    return 2 * 2048 ** 3 / t / 1e9 / THREADS


def bench_layers(runs):
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(THREADS)
    peak = peak_gflops() * THREADS
    print("peak (SGEMM, %d threads): %.1f GFLOP/s" % (THREADS, peak))
    rows = []
    for mname, spec in [("ResNet-18", resnet18), ("MobileNetV2", mobilenet_v2)]:
        L = Layers()
        spec(L, 224)
        for cin, cout, k, s, p, g, h in L.seen:
            x = np.random.rand(1, cin, h, h).astype("float32")
            w = np.random.rand(cout, cin // g, k, k).astype("float32")
            xb, wb = mx.nd.array(x), mx.nd.array(w)
            o = (h + 2 * p - k) // s + 1
            flops = 2.0 * cout * (cin // g) * k * k * o * o
            tb = best_of(lambda: mx.nd.Convolution(xb, wb, kernel=(k, k), stride=(s, s), pad=(p, p), num_filter=cout,
                                                   num_group=g, no_bias=True).wait_to_read(), runs)
            # the same layer in a bound executor (planned output, no per-call dispatch)
            sym = mx.sym.Convolution(mx.sym.var("data"), kernel=(k, k), stride=(s, s), pad=(p, p), num_filter=cout,
                                     num_group=g, no_bias=True, name="c")
            exe = sym.simple_bind(mx.cpu(), data=x.shape, grad_req="null")
            exe.arg_dict["data"][:] = x
            exe.arg_dict["c_weight"][:] = w

            def bound():
                exe.forward(is_train=False)
                exe.outputs[0].wait_to_read()
            te = best_of(bound, runs * 5)
            xt, wt = torch.tensor(x), torch.tensor(w)
            with torch.no_grad():
                tt = best_of(lambda: F.conv2d(xt, wt, stride=s, padding=p, groups=g), runs)
            gb, gt, ge = flops / tb / 1e9, flops / tt / 1e9, flops / te / 1e9
            rows.append((mname, "%dx%d %d->%d s%d%s %dx%d" % (k, k, cin, cout, s, " dw" if g > 1 else "", h, h),
                         gb, gt, gb / peak, ge))
            print("%-12s %-30s brass %7.1f GFLOP/s (bound %7.1f)  torch %7.1f  (%.0f%% / %.0f%% of peak)" % (
                rows[-1][0], rows[-1][1], gb, ge, gt, 100 * gb / peak, 100 * ge / peak), flush=True)
    return rows


# ---- 4. planned memory ----------------------------------------------------------------------
def bench_memory():
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from bench_graph import planned
    sym = mx.sym.SoftmaxOutput(resnet18(BrassSym(), mx.sym.var("data")), name="softmax")
    row = [planned(sym, (32, 3, 224, 224), plan, mirror) for plan, mirror in [(0, 0), (1, 0), (1, 1)]]
    print("ResNet-18 fwd+bwd batch 32 planned memory (MB): off %.0f  on %.0f  mirror %.0f" % tuple(row))
    return row


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer runs, no ResNet-18 training step")
    ap.add_argument("--only", default="infer,train,layers,memory")
    a = ap.parse_args()
    runs = 2 if a.quick else 4
    parts = a.only.split(",")
    print("Brass %s, %d threads" % (mx.base.ffi.string(mx.base.lib.brass_build_info()).decode(), THREADS))
    if "infer" in parts:
        bench_inference(runs)
    if "train" in parts:
        bench_training(runs, a.quick)
    if "layers" in parts:
        bench_layers(runs)
    if "memory" in parts:
        bench_memory()


if __name__ == "__main__":
    main()
