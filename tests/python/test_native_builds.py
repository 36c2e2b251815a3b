"""The single file and the C API, built the way users build them:
- brass.cc compiled with exactly the bare command from the docs, linked --no-undefined;
- a C99 program that includes only brass.h, run against it under both engines and thread counts;
- the same program with the engine and pool built without threads (BRASS_NO_THREADS);
- the C tests under AddressSanitizer and UndefinedBehaviorSanitizer;
- the two-file predictor (brass_predict.cc + brass_predict.h) with an app written for MXNet.
Builds are cached in build/native-tests by the hash of the generated source."""
import hashlib
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CACHE = os.path.join(ROOT, "build", "native-tests")
CTEST = os.path.join(ROOT, "tests", "c", "test_capi.c")


def need(tool):
    if shutil.which(tool) is None:
        if os.environ.get("CI") == "true":
            pytest.fail("%s is required in CI" % tool)
        pytest.skip("%s not found" % tool)


def run(cmd, env=None, timeout=900):
    e = dict(os.environ)
    if env:
        e.update(env)
    p = subprocess.run(cmd, cwd=CACHE, env=e, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise AssertionError("%s failed (%d):\n%s\n%s" % (" ".join(cmd), p.returncode, p.stdout[-4000:], p.stderr[-4000:]))
    return p.stdout


@pytest.fixture(scope="module")
def amalgamation():
    need("c++")
    os.makedirs(CACHE, exist_ok=True)
    out = os.path.join(CACHE, "amalgamation")
    subprocess.run([sys.executable, os.path.join(ROOT, "amalgamation", "amalgamate.py"), "-o", out], check=True)
    with open(os.path.join(out, "brass.cc"), "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:16]
    return out, digest


def build_lib(amal, flags, tag):
    out, digest = amal
    lib = os.path.join(CACHE, "libbrass-%s-%s.so" % (tag, digest))
    if not os.path.exists(lib):
        tmp = lib + ".tmp"
        run(["c++", "-std=c++17"] + flags + ["-fPIC", "-shared", os.path.join(out, "brass.cc"), "-I", out,
                                              "-o", tmp, "-pthread", "-Wl,--no-undefined"], timeout=1200)
        os.replace(tmp, lib)
    return lib


def build_ctest(amal, lib, tag, extra=()):
    out, _ = amal
    exe = os.path.join(CACHE, "test_capi-" + tag)
    libdir = os.path.join(CACHE, "lib-" + tag)
    os.makedirs(libdir, exist_ok=True)
    shutil.copy(lib, os.path.join(libdir, "libbrass.so"))
    run(["cc", "-std=c99", "-Wall", "-Werror", "-DBRASS_TEST_AMALGAMATION", *extra, CTEST, "-I", out, "-L", libdir,
         "-lbrass", "-lpthread", "-Wl,-rpath," + libdir, "-o", exe])
    return exe


def test_bare_compile_and_c_api(amalgamation):
    # Exactly the documented command.
    lib = build_lib(amalgamation, ["-O2"], "O2")
    exe = build_ctest(amalgamation, lib, "O2")
    outputs = {}
    for engine in ("threaded", "naive"):
        for threads in ("1", "2"):
            o = run([exe], env={"BRASS_ENGINE": engine, "BRASS_NUM_THREADS": threads})
            assert "0 failed" in o and "engine %s threads %s" % (engine, threads) in o, o
            outputs[engine, threads] = o


def test_header_compiles_alone_as_c99(amalgamation):
    out, _ = amalgamation
    src = os.path.join(CACHE, "only_header.c")
    with open(src, "w") as f:
        f.write('#include "brass.h"\nint main(void) { return brass_version_number() == BRASS_VERSION_NUMBER ? 0 : 1; }\n')
    run(["cc", "-std=c99", "-pedantic", "-Wall", "-Werror", "-c", src, "-I", out, "-o", src + ".o"])


def test_no_threads_build(amalgamation):
    # -O0: this build checks behaviour, and the single file compiles several times faster.
    lib = build_lib(amalgamation, ["-O0", "-DBRASS_NO_THREADS"], "nothreads")
    exe = build_ctest(amalgamation, lib, "nothreads")
    o = run([exe])
    assert "0 failed" in o and "engine naive threads 1" in o, o


def test_sanitizers(amalgamation):
    flags = ["-O0", "-g", "-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-fno-sanitize-recover=undefined"]
    lib = build_lib(amalgamation, flags, "asan")
    exe = build_ctest(amalgamation, lib, "asan", extra=("-fsanitize=address,undefined", "-g"))
    env = {"ASAN_OPTIONS": "detect_leaks=0:abort_on_error=0", "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1"}
    for engine in ("threaded", "naive"):
        env["BRASS_ENGINE"] = engine
        o = run([exe], env=env)
        assert "0 failed" in o, o


def test_installed_library_exports_only_the_c_api():
    # The library pip built (CMake: --exclude-libs) exports brass_* and at most weak template
    # copies, never a static archive's symbols that would interpose the process's libstdc++.
    import brass

    from test_cuda import assert_exports_only_brass
    lib = os.path.join(os.path.dirname(brass.__file__), "libbrass.so")
    need("nm")
    assert_exports_only_brass(run(["nm", "-D", "--defined-only", os.path.realpath(lib)]))


def test_two_file_predictor(amalgamation, tmp_path):
    """brass_predict.cc compiled with exactly the documented command (nothing else: no -I, no
    defines), linked with a C99 app written for MXNet's predict API that includes only
    brass_predict.h: the app runs a model MXNet 1.9.1 wrote and prints MXNet's outputs."""
    import json

    import numpy as np
    out, _ = amalgamation
    src = os.path.join(out, "brass_predict.cc")
    with open(src, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:16]
    obj = os.path.join(CACHE, "brass_predict-%s.o" % digest)
    if not os.path.exists(obj):
        work = os.path.join(CACHE, "predict-build")
        os.makedirs(work, exist_ok=True)
        for name in ("brass_predict.cc", "brass_predict.h"):
            shutil.copy(os.path.join(out, name), os.path.join(work, name))
        p = subprocess.run(["c++", "-std=c++17", "-O2", "-c", "brass_predict.cc"], cwd=work, capture_output=True,
                           text=True, timeout=1200)
        assert p.returncode == 0, p.stderr[-4000:]
        os.replace(os.path.join(work, "brass_predict.o"), obj)
    app = str(tmp_path / "app")
    run(["cc", "-std=c99", "-pedantic", "-Wall", "-Werror", "-DBRASS_TEST_AMALGAMATION", "-c",
         os.path.join(ROOT, "tests", "c", "predict_mxnet_app.c"), "-I", out, "-o", app + ".o"])
    run(["c++", app + ".o", obj, "-pthread", "-o", app])
    fix = os.path.join(ROOT, "tests", "fixtures", "mxnet_networks")
    with open(os.path.join(fix, "manifest.json")) as f:
        rec = json.load(f)["lenet"]
    x = np.array(rec["data"], np.float32)
    p = subprocess.run([app, os.path.join(fix, "lenet-symbol.json"), os.path.join(fix, "lenet-0000.params"),
                        *map(str, rec["data_shape"])], input=" ".join("%.9g" % v for v in x.ravel()),
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    y = np.array([float(v) for v in p.stdout.split()])
    np.testing.assert_allclose(y, np.array(rec["output"], np.float32).ravel(), rtol=1e-4, atol=1e-5)
