"""The C predictor against ONNX Runtime (issue 6 §5): batch-1 latency of ResNet-18 v1 and
MobileNetV2 1.0 at 224x224, and start-up (process start to first output, loading the model
from files), side by side in one run.

    python benchmarks/bench_predict.py [--repeats 30] [--rounds 7] [--threads 2] [--out build/bench-predict]

The models come from Brass's model zoo (Xavier-initialised weights: timing does not depend on
their values), exported in MXNet's format; the same graph and weights are written as ONNX
(opset 13) by the small converter below, and ONNX Runtime's output is checked against Brass's
before anything is timed. The predictor is built from the amalgamation twice: with the
portable default (`c++ -std=c++17 -O2`) and with `-O3 -march=native`, each linked with
benchmarks/bench_predict_app.c. ONNX Runtime gets the same thread count (intra-op threads,
sequential execution, all graph optimisations). Latency: the median of --repeats forwards
after one warm-up (input copied in, forward, output copied out), taken in --rounds rounds that
interleave the three (each app, then ONNX Runtime), so that a change in the machine's speed
(these machines are shared) falls on all of them alike; the ratio is taken per round, and the
table gives the medians over the rounds and the range of the ratio. Start-up: the wall time of
a whole process that loads the files, binds, runs once and prints (the C app; for ONNX Runtime
a Python process that imports it, creates the session and runs once), best of three.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHAPE = (1, 3, 224, 224)


def tup(s):
    return [int(v) for v in s.strip("()[] ").split(",") if v.strip()]


def to_onnx(sym_file, params_file, path):
    """The symbol's graph (the ops these CNNs use) and weights as an ONNX model."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    import brass as mx
    nodes = json.load(open(sym_file))["nodes"]
    weights = {k.split(":", 1)[-1]: v.asnumpy() for k, v in mx.nd.load(params_file).items()}
    inits, out, graph_inputs = [], [], []

    def name(e):
        n = nodes[e[0]]
        return n["name"] if n["op"] == "null" or e[1] == 0 else "%s_out%d" % (n["name"], e[1])

    def const(key, value):
        inits.append(numpy_helper.from_array(np.asarray(value, np.float32), key))
        return key

    for n in nodes:
        op, a, ins, me = n["op"], n.get("attrs", {}), [name(e) for e in n.get("inputs", [])], n["name"]
        if op == "null":
            if me in weights:
                inits.append(numpy_helper.from_array(weights[me], me))
            else:
                graph_inputs.append(helper.make_tensor_value_info(me, TensorProto.FLOAT, list(SHAPE)))
        elif op == "Convolution":
            k, s = tup(a["kernel"]), tup(a.get("stride", "(1, 1)")) or [1, 1]
            p, d = tup(a.get("pad", "(0, 0)")) or [0, 0], tup(a.get("dilate", "(1, 1)")) or [1, 1]
            out.append(helper.make_node("Conv", ins, [me], kernel_shape=k, strides=s, pads=p + p, dilations=d,
                                        group=int(a.get("num_group", 1))))
        elif op == "BatchNorm":
            x, g, b, m, v = ins
            if a.get("fix_gamma", "True") in ("True", "1", "true"):
                g = const(me + "_ones", np.ones_like(weights[nodes[n["inputs"][1][0]]["name"]]))
            out.append(helper.make_node("BatchNormalization", [x, g, b, m, v], [me], epsilon=float(a.get("eps", 1e-3))))
        elif op == "Activation":
            out.append(helper.make_node({"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh"}[a["act_type"]], ins, [me]))
        elif op == "clip":
            out.append(helper.make_node("Clip", ins + [const(me + "_min", float(a["a_min"])),
                                                       const(me + "_max", float(a["a_max"]))], [me]))
        elif op == "Pooling":
            kind = a.get("pool_type", "max")
            if a.get("global_pool", "False") in ("True", "1", "true"):
                out.append(helper.make_node("GlobalAveragePool" if kind == "avg" else "GlobalMaxPool", ins, [me]))
            else:
                k, s, p = tup(a["kernel"]), tup(a.get("stride", "(1, 1)")), tup(a.get("pad", "(0, 0)")) or [0, 0]
                extra = {"ceil_mode": int(a.get("pooling_convention", "valid") == "full")}
                if kind == "avg":
                    extra["count_include_pad"] = int(a.get("count_include_pad", "True") in ("True", "1", "true"))
                out.append(helper.make_node("AveragePool" if kind == "avg" else "MaxPool", ins, [me], kernel_shape=k,
                                            strides=s, pads=p + p, **extra))
        elif op in ("Flatten", "flatten"):
            out.append(helper.make_node("Flatten", ins, [me], axis=1))
        elif op == "FullyConnected":
            flat = ins[0]
            if a.get("flatten", "True") in ("True", "1", "true"):
                flat = me + "_flat"
                out.append(helper.make_node("Flatten", [ins[0]], [flat], axis=1))
            out.append(helper.make_node("Gemm", [flat] + ins[1:], [me], transB=1))
        elif op in ("elemwise_add", "broadcast_add", "_Plus", "_plus"):
            out.append(helper.make_node("Add", ins, [me]))
        else:
            raise SystemExit("bench_predict.py: no ONNX conversion for operator %s" % op)
    heads = [name(h) for h in json.load(open(sym_file))["heads"]]
    outputs = [helper.make_tensor_value_info(h, TensorProto.FLOAT, ["batch", "classes"]) for h in heads]
    model = helper.make_model(helper.make_graph(out, "brass", graph_inputs, outputs, inits),
                              opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    onnx.save(model, path)


def export(name, out):
    import brass as mx
    prefix = os.path.join(out, name)
    if not os.path.exists(prefix + "-0000.params"):
        net = getattr(mx.gluon.model_zoo.vision, name)()
        net.initialize(mx.init.Xavier(magnitude=2))
        net.hybridize()
        net(mx.nd.zeros(SHAPE))
        net.export(prefix)
    to_onnx(prefix + "-symbol.json", prefix + "-0000.params", prefix + ".onnx")
    # The converted model computes what Brass computes.
    import onnxruntime as ort
    x = np.random.RandomState(0).uniform(-1, 1, SHAPE).astype(np.float32)
    net = mx.gluon.SymbolBlock.imports(prefix + "-symbol.json", ["data"], prefix + "-0000.params")
    want = net(mx.nd.array(x)).asnumpy()
    got = ort.InferenceSession(prefix + ".onnx", providers=["CPUExecutionProvider"]).run(None, {"data": x})[0]
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-3)
    return prefix


def build_app(out, tag, flags):
    work = os.path.join(out, "app-" + tag)
    os.makedirs(work, exist_ok=True)
    amal = os.path.join(out, "amalgamation")
    fresh = True
    for f in ("brass_predict.cc", "brass_predict.h"):
        dst = os.path.join(work, f)
        with open(os.path.join(amal, f), "rb") as g:
            text = g.read()
        if os.path.exists(dst) and open(dst, "rb").read() == text:
            continue
        fresh = False
        with open(dst, "wb") as g:
            g.write(text)
    seconds = 0.0  # 0: the object from an earlier run of the same source was reused
    if not (fresh and os.path.exists(os.path.join(work, "brass_predict.o"))):
        t0 = time.perf_counter()
        subprocess.run(["c++", "-std=c++17"] + flags + ["-c", "brass_predict.cc"], cwd=work, check=True)
        seconds = time.perf_counter() - t0
    subprocess.run(["cc", "-std=c99", "-O2", "-c", os.path.join(ROOT, "benchmarks", "bench_predict_app.c"), "-I", work,
                    "-o", os.path.join(work, "app.o")], check=True)
    subprocess.run(["c++", "app.o", "brass_predict.o", "-pthread", "-o", "bench_predict_app"], cwd=work, check=True)
    return os.path.join(work, "bench_predict_app"), seconds


def app_env(threads):
    return dict(os.environ, BRASS_NUM_THREADS=str(threads))


def time_app(app, prefix, repeats, threads):
    """The median milliseconds of repeats forwards in one process of the app."""
    p = subprocess.run([app, prefix + "-symbol.json", prefix + "-0000.params", *map(str, SHAPE), str(repeats)],
                       capture_output=True, text=True, check=True, env=app_env(threads))
    assert p.stdout.split()[0] == "first"
    return statistics.median(float(v) for v in p.stdout.splitlines()[1:-1])


def start_app(app, prefix, threads):
    """Process start to first output, best of three."""
    start = []
    for _ in range(3):
        t0 = time.perf_counter()
        subprocess.run([app, prefix + "-symbol.json", prefix + "-0000.params", *map(str, SHAPE), "0"],
                       capture_output=True, check=True, env=app_env(threads))
        start.append(time.perf_counter() - t0)
    return min(start)


ORT_ONCE = """
import sys, numpy as np, onnxruntime as ort
o = ort.SessionOptions(); o.intra_op_num_threads = int(sys.argv[2]); o.inter_op_num_threads = 1
s = ort.InferenceSession(sys.argv[1], o, providers=["CPUExecutionProvider"])
print(s.run(None, {"data": np.zeros((1, 3, 224, 224), np.float32)})[0].ravel()[0])
"""


def ort_session(prefix, threads):
    import onnxruntime as ort
    o = ort.SessionOptions()
    o.intra_op_num_threads, o.inter_op_num_threads = threads, 1
    o.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    o.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    s = ort.InferenceSession(prefix + ".onnx", o, providers=["CPUExecutionProvider"])
    x = np.random.RandomState(1).uniform(-1, 1, SHAPE).astype(np.float32)
    s.run(None, {"data": x})
    return s, x


def time_ort(session, repeats):
    s, x = session
    s.run(None, {"data": x})  # warm again after the apps ran
    ms = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        s.run(None, {"data": x})
        ms.append(1e3 * (time.perf_counter() - t0))
    return statistics.median(ms)


def start_ort(prefix, threads):
    start = []
    for _ in range(3):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", ORT_ONCE, prefix + ".onnx", str(threads)], capture_output=True, check=True)
        start.append(time.perf_counter() - t0)
    return min(start)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "bench-predict"))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    subprocess.run([sys.executable, os.path.join(ROOT, "amalgamation", "amalgamate.py"), "-o",
                    os.path.join(a.out, "amalgamation")], check=True)
    apps = {}
    for tag, flags in (("portable -O2", ["-O2"]), ("-O3 -march=native", ["-O3", "-march=native"])):
        apps[tag], secs = build_app(a.out, tag.split()[0].strip("-"), flags)
        print("built the predictor (%s) in %.1f s" % (tag, secs), flush=True)
    import onnxruntime as ort
    print("ONNX Runtime %s, %d threads each; batch 1, 224x224; medians of %d forwards, over %d interleaved rounds"
          % (ort.__version__, a.threads, a.repeats, a.rounds))
    print()
    print("| model | Brass portable -O2 (ms) | Brass -O3 -march=native (ms) | ONNX Runtime (ms) | "
          "best Brass / ORT (range) | start-up Brass (s) | start-up ORT (s) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name in ("resnet18_v1", "mobilenet_v2_1_0"):
        prefix = export(name, a.out)
        session = ort_session(prefix, a.threads)
        ms = {tag: [] for tag in list(apps) + ["ort"]}
        ratios = []
        for _ in range(a.rounds):
            for tag, app in apps.items():
                ms[tag].append(time_app(app, prefix, a.repeats, a.threads))
            ms["ort"].append(time_ort(session, a.repeats))
            ratios.append(min(ms[tag][-1] for tag in apps) / ms["ort"][-1])
        med = {tag: statistics.median(v) for tag, v in ms.items()}
        print("| %s | %.1f | %.1f | %.1f | %.2f (%.2f-%.2f) | %.3f | %.3f |" % (
            name, med["portable -O2"], med["-O3 -march=native"], med["ort"], statistics.median(ratios), min(ratios),
            max(ratios), start_app(apps["portable -O2"], prefix, a.threads), start_ort(prefix, a.threads)),
            flush=True)


if __name__ == "__main__":
    main()
