"""The two-file predictor cross-compiled for boards, phones and the browser and run under
emulation: aarch64 Linux and armv7 hard-float Linux (qemu-user), each built from brass_predict.cc
with the distribution's cross g++ and the bare documented command, linked statically with the
C99 app written for MXNet's predict API; WebAssembly (Debian's emscripten, single-threaded),
driven by mobile/web/brass_predictor.js under node; and the Java class brass.Predictor over JNI
(mobile/android) on the host JVM, the shape of an Android binding. Each runs MXNet 1.9.1's LeNet, ResNet-18 and
MobileNetV2: outputs match MXNet's and the x86-64 build's on the same model. The aarch64 build
must run the NEON GEMM kernels (the app prints the build's kernel choice). The predictor here
selects the three models' operators (amalgamate.py --ops-from), which keeps the builds short."""
import hashlib
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from test_native_builds import CACHE, ROOT, build_mxnet_app, compile_predictor, need, run_mxnet_fixture

FIX = os.path.join(ROOT, "tests", "fixtures", "mxnet_networks")
MODELS = ("lenet", "resnet18_v1", "mobilenet_v2")
# MXNet's outputs were computed on x86-64 in float32; other instruction orders differ by rounding.
TOL = {"lenet": (1e-4, 1e-5), "resnet18_v1": (1e-3, 1e-4), "mobilenet_v2": (1e-3, 1e-4)}


@pytest.fixture(scope="module")
def selected():
    need("c++")
    os.makedirs(CACHE, exist_ok=True)
    out = os.path.join(CACHE, "amalgamation-cross")
    cmd = [sys.executable, os.path.join(ROOT, "amalgamation", "amalgamate.py"), "-o", out]
    for m in MODELS:
        cmd += ["--ops-from", os.path.join(FIX, m + "-symbol.json")]
    subprocess.run(cmd, check=True)
    return out


@pytest.fixture(scope="module")
def host_outputs(selected, tmp_path_factory):
    app = build_mxnet_app(selected, compile_predictor(selected, "cross-host"),
                          str(tmp_path_factory.mktemp("host") / "app"))
    return {m: run_mxnet_fixture(app, m, *TOL[m])[0] for m in MODELS}


def cross_run(selected, host_outputs, tmp_path, triple, qemu):
    need(triple + "-g++")
    need(qemu)
    obj = compile_predictor(selected, triple, cxx=triple + "-g++")
    app = build_mxnet_app(selected, obj, str(tmp_path / "app"), cc=triple + "-gcc", cxx=triple + "-g++",
                          link=("-static",))
    info = None
    for m in MODELS:
        y, err = run_mxnet_fixture(app, m, *TOL[m], prefix=(qemu,))
        np.testing.assert_allclose(y, host_outputs[m], rtol=TOL[m][0], atol=TOL[m][1])
        info = err
    return info


def test_aarch64_under_qemu(selected, host_outputs, tmp_path):
    info = cross_run(selected, host_outputs, tmp_path, "aarch64-linux-gnu", "qemu-aarch64-static")
    assert "isa=neon" in info, info
    assert "ops=selected" in info and "predict-only" in info, info


def test_armv7_hard_float_under_qemu(selected, host_outputs, tmp_path):
    info = cross_run(selected, host_outputs, tmp_path, "arm-linux-gnueabihf", "qemu-arm-static")
    assert "isa=" in info and "predict-only" in info, info


def test_wasm_under_node(selected, host_outputs):
    need("em++")
    need("node")
    with open(os.path.join(selected, "brass_predict.cc"), "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:16]
    build = os.path.join(CACHE, "wasm-" + digest)
    if not os.path.exists(os.path.join(build, "brass_predict.wasm")):
        tmp = build + ".tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        for f in ("brass_predict.cc", "brass_predict.h"):
            shutil.copy(os.path.join(selected, f), tmp)
        p = subprocess.run(["sh", os.path.join(ROOT, "mobile", "web", "build.sh"), tmp], capture_output=True,
                           text=True, timeout=1200)
        assert p.returncode == 0, p.stderr[-4000:]
        shutil.rmtree(build, ignore_errors=True)
        os.replace(tmp, build)
    runner = os.path.join(ROOT, "tests", "js", "run_predictor.js")
    with open(os.path.join(FIX, "manifest.json")) as f:
        manifest = json.load(f)

    def node(model, shape, values):
        p = subprocess.run(["node", "--no-experimental-fetch", runner, build, os.path.join(FIX, model + "-symbol.json"),
                            os.path.join(FIX, model + "-0000.params"), json.dumps(shape)],
                           input=" ".join("%.9g" % v for v in values), capture_output=True, text=True, timeout=600)
        return p.returncode, json.loads(p.stdout.strip().splitlines()[-1]) if p.stdout.strip() else p.stderr

    for m in MODELS:
        rec = manifest[m]
        rc, res = node(m, rec["data_shape"], rec["data"])
        assert rc == 0, res
        y = np.array(res["output"], np.float32)
        np.testing.assert_allclose(y, np.array(rec["output"], np.float32).ravel(), rtol=TOL[m][0], atol=TOL[m][1])
        np.testing.assert_allclose(y, host_outputs[m], rtol=TOL[m][0], atol=TOL[m][1])
        assert res["refusedAfterDispose"] is True
        assert "threads=1" in res["info"] and "ops=selected" in res["info"], res["info"]
    # A shape the model cannot take: a BrassError with the predictor's message, no crash.
    rc, res = node("lenet", [1, 1, 9, 9], [0.5] * 81)
    assert rc == 1 and "infer_shape" in res["error"], res


def test_java_over_jni(selected, host_outputs, tmp_path):
    need("javac")
    need("java")
    javac = os.path.realpath(shutil.which("javac"))
    include = os.path.join(os.path.dirname(os.path.dirname(javac)), "include")
    assert os.path.exists(os.path.join(include, "jni.h")), include
    lib = tmp_path / "libbrass_jni.so"
    run_in = dict(cwd=selected, capture_output=True, text=True, timeout=1200)
    p = subprocess.run(["c++", "-std=c++17", "-O2", "-fPIC", "-shared", "-Wall", "-Werror", "brass_predict.cc",
                        os.path.join(ROOT, "mobile", "android", "jni", "brass_jni.cc"), "-I.", "-I" + include,
                        "-I" + os.path.join(include, "linux"), "-o", str(lib), "-pthread"], **run_in)
    assert p.returncode == 0, p.stderr[-4000:]
    classes = tmp_path / "classes"
    p = subprocess.run(["javac", "-Xlint:all", "-Werror", "-d", str(classes),
                        os.path.join(ROOT, "mobile", "android", "java", "brass", "Predictor.java"),
                        os.path.join(ROOT, "tests", "java", "PredictorDemo.java")], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    with open(os.path.join(FIX, "manifest.json")) as f:
        manifest = json.load(f)

    def java(model, shape, values):
        return subprocess.run(["java", "-Djava.library.path=" + str(tmp_path), "-cp", str(classes), "PredictorDemo",
                               os.path.join(FIX, model + "-symbol.json"), os.path.join(FIX, model + "-0000.params"),
                               *map(str, shape)], input=" ".join("%.9g" % v for v in values),
                              capture_output=True, text=True, timeout=600)

    for m in MODELS:
        rec = manifest[m]
        p = java(m, rec["data_shape"], rec["data"])
        assert p.returncode == 0, p.stdout + p.stderr
        lines = p.stdout.splitlines()
        assert lines[0].startswith("build: cpu isa=") and "predict-only" in lines[0]
        want = np.array(rec["output"], np.float32)
        dims = [int(v) for v in lines[1].split()[1:]]
        assert dims[0] == rec["data_shape"][0] and int(np.prod(dims)) == want.size, lines[1]
        y = np.array([float(v) for v in lines[2:]], np.float32)
        np.testing.assert_allclose(y, want.ravel(), rtol=TOL[m][0], atol=TOL[m][1])
        np.testing.assert_allclose(y, host_outputs[m], rtol=TOL[m][0], atol=TOL[m][1])
    p = java("lenet", [1, 1, 9, 9], [0.5] * 81)
    assert p.returncode == 1 and "BrassException: " in p.stdout and "Convolution" in p.stdout, p.stdout + p.stderr
