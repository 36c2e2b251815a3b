"""The predictor's load-and-run entry under libFuzzer (tests/fuzz/fuzz_predict.cc) with
AddressSanitizer and UndefinedBehaviorSanitizer: first every file kept in
tests/fuzz/regressions/ (inputs that once crashed), then 60 seconds of fuzzing
(BRASS_FUZZ_SECONDS) from seeds made of MXNet 1.9.1's LeNet, MLP, ResNet-18 and MobileNetV2
files. A crash fails the test and its input is copied into tests/fuzz/regressions/, to be kept.
The predictor fuzzed holds those models' operators (amalgamate.py --ops-from, as the cross
builds): the loaders, the JSON parser, the graph passes and the C API are whole, and the
sanitized build takes a third of the full one's time."""
import glob
import hashlib
import os
import shutil
import struct
import subprocess

import pytest

from test_cross_builds import selected  # noqa: F401 (fixture)
from test_native_builds import CACHE, ROOT, need

FIX = os.path.join(ROOT, "tests", "fixtures", "mxnet_networks")
TARGET = os.path.join(ROOT, "tests", "fuzz", "fuzz_predict.cc")
REGRESSIONS = os.path.join(ROOT, "tests", "fuzz", "regressions")


def clang():
    for c in ("clang++", "clang++-14", "clang++-15", "clang++-16"):
        if shutil.which(c):
            return c
    need("clang++")


def seed(dims, model):
    with open(os.path.join(FIX, model + "-symbol.json"), "rb") as f:
        js = f.read()
    with open(os.path.join(FIX, model + "-0000.params"), "rb") as f:
        params = f.read()
    return bytes(d - 1 for d in dims) + struct.pack("<I", len(js)) + js + params


def test_fuzz_predictor(selected, tmp_path):  # noqa: F811
    cxx = clang()
    out = selected
    h = hashlib.sha256()
    for p in (os.path.join(out, "brass_predict.cc"), TARGET):
        with open(p, "rb") as f:
            h.update(f.read())
    exe = os.path.join(CACHE, "fuzz_predict-" + h.hexdigest()[:16])
    if not os.path.exists(exe):
        p = subprocess.run([cxx, "-std=c++17", "-O1", "-g", "-fsanitize=fuzzer,address,undefined",
                            "-fno-sanitize-recover=undefined", "-DBRASS_NO_THREADS", "-I", out,
                            os.path.join(out, "brass_predict.cc"), TARGET, "-o", exe + ".tmp"],
                           capture_output=True, text=True, timeout=1800)
        assert p.returncode == 0, p.stderr[-4000:]
        os.replace(exe + ".tmp", exe)
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=1",
               UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
    kept = sorted(glob.glob(os.path.join(REGRESSIONS, "*")))
    if kept:
        p = subprocess.run([exe, "-rss_limit_mb=2048", "-timeout=20"] + kept, capture_output=True, text=True,
                           env=env, timeout=600)
        assert p.returncode == 0, p.stderr[-6000:]
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i, (dims, model) in enumerate([((1, 1, 14, 14), "lenet"), ((2, 1, 14, 14), "lenet"),
                                       ((4, 20, 1, 1), "mlp"), ((1, 3, 16, 16), "resnet18_v1"),
                                       ((1, 3, 16, 16), "mobilenet_v2")]):
        (corpus / ("seed%d" % i)).write_bytes(seed(dims, model))
    art = tmp_path / "artifacts"
    art.mkdir()
    seconds = int(os.environ.get("BRASS_FUZZ_SECONDS", "60"))
    p = subprocess.run([exe, "-max_total_time=%d" % seconds, "-seed=1", "-timeout=20", "-rss_limit_mb=2048",
                        "-max_len=200000", "-print_final_stats=1", "-artifact_prefix=%s/" % art, str(corpus)],
                       capture_output=True, text=True, env=env, timeout=seconds + 600)
    crashes = sorted(os.listdir(art))
    if crashes:
        os.makedirs(REGRESSIONS, exist_ok=True)
        for c in crashes:
            shutil.copy(art / c, os.path.join(REGRESSIONS, c))
    assert p.returncode == 0 and not crashes, "kept in tests/fuzz/regressions: %s\n%s" % (crashes, p.stderr[-6000:])
    assert "stat::number_of_executed_units" in p.stderr
