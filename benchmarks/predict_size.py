"""The predictor's compile time and sizes: the full two-file predictor and the one selected for
ResNet-18 (amalgamate.py --ops-from), for x86-64 and (when its cross g++ is installed) aarch64.

    python benchmarks/predict_size.py [--targets x86_64,aarch64] [--out build/predict-size]

Each build compiles brass_predict.cc once,
    CXX -std=c++17 -O2 -fPIC -fvisibility=hidden -ffunction-sections -fdata-sections -c brass_predict.cc
(the documented bare -O2 compile plus what a shared library and unused-code removal need), and
links it into a shared library that exports the predict API only,
    CXX -shared -Wl,--gc-sections -s brass_predict.o -o libbrass_predict.so -pthread
(for aarch64 with -Wl,-z,max-page-size=16384, as Android's NDK links for 16 KB pages: the
Linux default of 64 KB pads the file between the code and data segments by up to 64 KB).
Reported: the compile's wall time (one job, on this machine), the object's code and data
(`size`: text + data + bss), the shared library's code and data (`size` of the .so) and the
stripped shared library's file size. Targets (issue 6):
under 60 s to compile; under 1.5 MB stripped for the full predictor on aarch64 and under
600 KB for ResNet-18's selection. Run it alone: the timing is wall-clock.
"""
import argparse
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "tests", "fixtures", "mxnet_networks")
TRIPLES = {"x86_64": "", "aarch64": "aarch64-linux-gnu-"}
LINK = {"x86_64": [], "aarch64": ["-Wl,-z,max-page-size=16384"]}
FLAGS = ["-std=c++17", "-O2", "-fPIC", "-fvisibility=hidden", "-ffunction-sections", "-fdata-sections"]


def amalgamate(out, ops_from=None):
    cmd = [sys.executable, os.path.join(ROOT, "amalgamation", "amalgamate.py"), "-o", out]
    if ops_from:
        cmd += ["--ops-from", ops_from]
    subprocess.run(cmd, check=True)


def text_data(tool, path, cwd):
    fields = subprocess.run([tool, path], cwd=cwd, check=True, capture_output=True,
                            text=True).stdout.splitlines()[1].split()
    return sum(int(v) for v in fields[:3])


def build(src_dir, work, prefix, link):
    os.makedirs(work, exist_ok=True)
    for f in ("brass_predict.cc", "brass_predict.h"):
        shutil.copy(os.path.join(src_dir, f), os.path.join(work, f))
    cxx = prefix + "g++" if prefix else os.environ.get("CXX", "c++")
    t0 = time.perf_counter()
    subprocess.run([cxx] + FLAGS + ["-c", "brass_predict.cc"], cwd=work, check=True)
    seconds = time.perf_counter() - t0
    subprocess.run([cxx, "-shared", "-Wl,--gc-sections", "-s"] + link + ["brass_predict.o", "-o",
                    "libbrass_predict.so", "-pthread"], cwd=work, check=True)
    tool = prefix + "size" if prefix else "size"
    obj = text_data(tool, "brass_predict.o", work)
    loaded = text_data(tool, "libbrass_predict.so", work)
    so = os.path.getsize(os.path.join(work, "libbrass_predict.so"))
    return seconds, obj, loaded, so


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--targets", default="x86_64,aarch64")
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "predict-size"))
    a = ap.parse_args()
    full, sel = os.path.join(a.out, "full"), os.path.join(a.out, "resnet18")
    amalgamate(full)
    amalgamate(sel, os.path.join(FIX, "resnet18_v1-symbol.json"))
    rows = []
    for target in a.targets.split(","):
        prefix = TRIPLES[target]
        if prefix and shutil.which(prefix + "g++") is None:
            print("skipping %s: %sg++ not installed" % (target, prefix))
            continue
        for name, src in (("full", full), ("ResNet-18 ops", sel)):
            s, obj, loaded, so = build(src, os.path.join(a.out, "build-%s-%s" % (target, name.split()[0])),
                                       prefix, LINK[target])
            rows.append((target, name, s, obj, loaded, so))
            print("%-8s %-14s compile %6.1f s   object %8.0f KB   .so code+data %8.0f KB   stripped .so %8.0f KB"
                  % (target, name, s, obj / 1024, loaded / 1024, so / 1024), flush=True)
    print()
    print("| target | predictor | -O2 compile (s) | object text+data (KB) | .so text+data (KB) | stripped .so (KB) |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for t, n, s, obj, loaded, so in rows:
        print("| %s | %s | %.1f | %.0f | %.0f | %.0f |" % (t, n, s, obj / 1024, loaded / 1024, so / 1024))


if __name__ == "__main__":
    main()
