"""The CUDA build (BRASS_USE_CUDA=ON).

Build tests (wherever nvcc is; required in CI, which has nvcc but no GPU): CMake builds the
CUDA-enabled libbrass in build/cuda-test (sm_90 only, to save time); it must link with every
library found, load without a GPU or driver, report 0 GPUs, refuse gpu(0) with a clear error, and
register no op the CPU build lacks. The generated brass_cuda.cu must compile with a bare nvcc
command and link with brass.cc's object.

GPU tests (only where a GPU is present, else skipped with the reason "no GPU"): every CUDA op
against the CPU result, for the dtypes and shapes of the CPU op table. They run in this process
when the installed package has a GPU, and otherwise, on a machine with a GPU, in a child pytest
that loads the freshly built CUDA library in place of the installed one (LD_PRELOAD). The CPU
op tables (test_op_table.py, test_ops_indexing.py) then run again with gpu(0) as the default
context (BRASS_TEST_DEVICE=gpu, see conftest.py), against the same numpy references.

Emulation tests (everywhere; cmake and ninja only): CMake builds the library with the CUDA
sources compiled as host C++ against src/cuda/emulation.h (BRASS_CUDA_EMULATION=ON), and the GPU
tests and the op tables run on its emulated gpu(0). That checks the CUDA code's host logic,
indexing, dtype dispatch and write requests on machines without a GPU; not the device math.
"""
import fcntl
import glob
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
import warnings

import numpy as np
import pytest

import brass as mx
from op_table import BINARY, UNARY
from test_op_table import is_float, make, npdt

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, "build", "cuda-test")
IN_CI = os.environ.get("CI") == "true"
CHILD = os.environ.get("BRASS_CUDA_TEST_CHILD") == "1"  # the child run of the GPU tests


def find_nvcc():
    for c in [os.environ.get("CUDACXX"), shutil.which("nvcc"),
              os.path.join(os.environ.get("CUDA_HOME", "/nonexistent"), "bin", "nvcc"), "/usr/local/cuda/bin/nvcc"]:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    return None


def need(what, found):
    if not found:
        if IN_CI:
            pytest.fail("%s is required in CI" % what)
        pytest.skip("%s not found" % what)
    return found


def run(cmd, cwd=ROOT, env=None, timeout=1200):
    p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise AssertionError("%s failed (%d):\n%s\n%s" % (" ".join(cmd), p.returncode, p.stdout[-6000:],
                                                          p.stderr[-6000:]))
    return p.stdout


def gpu_device_files():
    """Whether this machine shows an NVIDIA GPU to programs at all (driver device nodes)."""
    return bool(glob.glob("/dev/nvidia[0-9]*"))


@pytest.fixture(scope="module")
def cuda_build():
    if CHILD:
        pytest.skip("child run of the GPU tests")
    nvcc = need("nvcc", find_nvcc())
    need("cmake", shutil.which("cmake"))
    need("ninja", shutil.which("ninja"))
    t0 = time.time()
    os.makedirs(BUILD, exist_ok=True)
    with open(os.path.join(BUILD, ".test-lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # pytest-xdist workers share the build directory
        run(["cmake", "-S", ROOT, "-B", BUILD, "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release", "-DBRASS_USE_CUDA=ON",
             "-DBRASS_CUDA_ARCHS=90", "-DCMAKE_CUDA_COMPILER=" + nvcc])
        run(["cmake", "--build", BUILD, "-j2"], timeout=1800)
    lib = os.path.join(BUILD, "libbrass.so")
    assert os.path.isfile(lib)
    print("CUDA build: %.0f s" % (time.time() - t0))
    return {"nvcc": nvcc, "lib": lib}


PROBE = textwrap.dedent(r"""
    import ctypes, json, sys
    lib = ctypes.CDLL(sys.argv[1])
    lib.brass_last_error.restype = ctypes.c_char_p
    lib.brass_build_info.restype = ctypes.c_char_p
    n = ctypes.c_int32(-1)
    st = lib.brass_gpu_count(ctypes.byref(n))
    ops = ctypes.c_int32(-1)
    lib.brass_op_count(ctypes.byref(ops))
    shape = (ctypes.c_int64 * 1)(4)
    arr = ctypes.c_void_p()
    cst = lib.brass_ndarray_create(shape, 1, 0, 2, 0, ctypes.byref(arr))  # float32 on gpu(0)
    msg = lib.brass_last_error().decode() if cst else ""
    if cst == 0:
        lib.brass_ndarray_free(arr)
    print(json.dumps({"status": st, "count": n.value, "ops": ops.value, "info": lib.brass_build_info().decode(),
                      "create_status": cst, "create_error": msg}))
""")


def probe(lib):
    out = run([sys.executable, "-c", PROBE, lib], timeout=120)
    return json.loads(out.strip().splitlines()[-1])


def test_cuda_library_links(cuda_build):
    out = run(["ldd", cuda_build["lib"]])
    assert "not found" not in out, out
    syms = run(["nm", "-D", "--defined-only", cuda_build["lib"]])
    assert " brass_gpu_count" in syms


def test_cuda_library_loads_and_counts_gpus(cuda_build):
    r = probe(cuda_build["lib"])
    assert r["status"] == 0, r
    assert "cuda=1" in r["info"], r
    ncpu = mx.base.ffi.new("int32_t *")
    mx.base.check(mx.base.lib.brass_op_count(ncpu))
    assert r["ops"] == ncpu[0], "the CUDA registrations added ops the CPU build lacks (a misspelled name?)"
    if not gpu_device_files():
        assert r["count"] == 0, r
    if r["count"] == 0:
        assert r["create_status"] == 4, r  # BRASS_ERR_DEVICE
        assert "gpu(0) is not available: no CUDA device was found" in r["create_error"], r
    else:
        assert r["create_status"] == 0, r


def test_amalgamated_cuda_source_compiles_bare(cuda_build, tmp_path):
    out = str(tmp_path / "amal")
    run([sys.executable, os.path.join(ROOT, "amalgamation", "amalgamate.py"), "-o", out])
    for f in ("brass.cc", "brass.h", "brass_cuda.cu"):
        assert os.path.isfile(os.path.join(out, f)), f
    obj = str(tmp_path / "brass_cuda.o")
    run([cuda_build["nvcc"], "-std=c++17", "-O2", "-arch=sm_90", "-Xcompiler", "-fPIC", "-c",
         os.path.join(out, "brass_cuda.cu"), "-I", out, "-o", obj])
    # ... and links with brass.cc's object (the one CMake built with -DBRASS_USE_CUDA).
    cc_objs = glob.glob(os.path.join(BUILD, "CMakeFiles", "brass.dir", "**", "brass.cc.o"), recursive=True)
    assert cc_objs, "brass.cc.o not found under " + BUILD
    with open(os.path.join(BUILD, "CMakeCache.txt")) as f:
        cudart = [ln.split("=", 1)[1].strip() for ln in f if ln.startswith("CUDA_cudart_static_LIBRARY:")]
    assert cudart and os.path.isfile(cudart[0]), "CMake found no static CUDA runtime"
    so = str(tmp_path / "libbrass_bare.so")
    run(["c++", "-shared", "-o", so, cc_objs[0], obj, cudart[0], "-ldl", "-lrt", "-pthread", "-Wl,--no-undefined"])
    assert probe(so)["status"] == 0


HERE = os.path.dirname(os.path.abspath(__file__))
OP_TABLES = [os.path.join(HERE, "test_op_table.py"), os.path.join(HERE, "test_ops_indexing.py")]


def gpu_child(lib, args, device=None):
    """A child pytest in tests/python, with lib in place of the installed library (None: the
    installed one) and, when device is given, that device as every test's default context."""
    env = dict(os.environ, BRASS_CUDA_TEST_CHILD="1")
    if lib:
        env["LD_PRELOAD"] = lib
    if device:
        env["BRASS_TEST_DEVICE"] = device
    return run([sys.executable, "-m", "pytest", "-q", "-n", "2", "-p", "no:cacheprovider"] + args, cwd=HERE,
               env=env, timeout=3000)


def test_gpu_suite_with_cuda_build(cuda_build):
    """On a machine with a GPU but a CPU-only installed package, runs the GPU tests below and
    the op tables on gpu(0) against the CUDA build."""
    if mx.num_gpus() > 0:
        pytest.skip("the installed package has a GPU: test_op_tables_on_gpu runs them")
    if probe(cuda_build["lib"])["count"] == 0:
        pytest.skip("no GPU")
    gpu_child(cuda_build["lib"], [os.path.abspath(__file__), "-k", "gpu_"])
    gpu_child(cuda_build["lib"], OP_TABLES, device="gpu")


@pytest.mark.skipif(mx.num_gpus() == 0, reason="no GPU")
def test_op_tables_on_gpu():
    """The installed package has a GPU: the op tables again, on gpu(0)."""
    if CHILD:
        pytest.skip("child run of the GPU tests")
    gpu_child(None, OP_TABLES, device="gpu")


# ---- the CUDA sources under the host emulation (no GPU, no nvcc) --------------------------

EMU_BUILD = os.path.join(ROOT, "build", "cuda-emulation")


@pytest.fixture(scope="module")
def emulated_build():
    if CHILD:
        pytest.skip("child run of the GPU tests")
    need("cmake", shutil.which("cmake"))
    need("ninja", shutil.which("ninja"))
    t0 = time.time()
    os.makedirs(EMU_BUILD, exist_ok=True)
    with open(os.path.join(EMU_BUILD, ".test-lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        run(["cmake", "-S", ROOT, "-B", EMU_BUILD, "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release", "-DBRASS_USE_CUDA=ON",
             "-DBRASS_CUDA_EMULATION=ON", "-DBRASS_AMALGAMATION=OFF"])
        run(["cmake", "--build", EMU_BUILD, "-j2"], timeout=1800)
    lib = os.path.join(EMU_BUILD, "libbrass.so")
    assert os.path.isfile(lib)
    print("emulated CUDA build: %.0f s" % (time.time() - t0))
    r = probe(lib)
    assert r["count"] == 1 and r["create_status"] == 0 and r["info"].endswith("cuda=1"), r
    return lib


def test_emulated_gpu_tests(emulated_build):
    out = gpu_child(emulated_build, [os.path.abspath(__file__), "-k", "gpu_"])
    assert " passed" in out and " failed" not in out, out[-2000:]


@needs_gpu
def test_gpu_engine_keeps_program_order_across_devices():
    # GPU work runs on the device's own queue, CPU work on the pool; reads, in-place writes
    # and copies between them must still see each other in program order.
    rs = np.random.RandomState(0)
    x = rs.rand(3, 1000).astype(np.float32)
    want = x.copy()
    g = mx.nd.array(x, ctx=mx.gpu(0))
    snapshots = []
    for i in range(40):
        g *= 1.01
        g += 0.5
        want = (want * np.float32(1.01)).astype(np.float32) + np.float32(0.5)
        if i % 3 == 0:
            snapshots.append((g.copyto(mx.cpu(0)), want.copy()))
        if i % 5 == 0:
            h = g.copyto(mx.cpu(0)) - 1.0  # a CPU op on a copy, then back to the GPU
            want = want - np.float32(1.0)
            g = h.copyto(mx.gpu(0))
    mx.nd.waitall()
    for got, exp in snapshots:
        np.testing.assert_allclose(got.asnumpy(), exp, rtol=1e-5)
    np.testing.assert_allclose(g.asnumpy(), want, rtol=1e-5)
