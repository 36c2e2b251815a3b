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
op tables (test_op_table.py, test_ops_indexing.py, test_ops_internal.py) and the gradient checks
(test_gradients.py, test_autograd.py) then run again with gpu(0) as the default
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
    no_gpu = []  # ops without a CUDA kernel
    for i in range(ops.value):
        name, op, mask = ctypes.c_char_p(), ctypes.c_void_p(), ctypes.c_int32(0)
        lib.brass_op_name(i, ctypes.byref(name))
        lib.brass_op_find(name.value, ctypes.byref(op))
        assert lib.brass_op_devices(op, ctypes.byref(mask)) == 0 and mask.value & 1
        if not mask.value & 2:
            no_gpu.append(name.value.decode())
    print(json.dumps({"status": st, "count": n.value, "ops": ops.value, "info": lib.brass_build_info().decode(),
                      "create_status": cst, "create_error": msg, "no_gpu_kernel": no_gpu}))
""")


def probe(lib):
    out = run([sys.executable, "-c", PROBE, lib], timeout=120)
    return json.loads(out.strip().splitlines()[-1])


def test_cuda_library_links(cuda_build):
    out = run(["ldd", cuda_build["lib"]])
    assert "not found" not in out, out
    syms = run(["nm", "-D", "--defined-only", cuda_build["lib"]])
    assert " brass_gpu_count" in syms
    assert_exports_only_brass(syms)


def assert_exports_only_brass(nm_output):
    """The library exports the C API (brass_*, and MXNet's predict API: MXPred*, MXNDList*,
    MXGetLastError) and, at most, weak template copies: nothing a static archive brought in
    (CUDA runtime, a static libstdc++), which would interpose the process's."""
    ours = ("brass_", "MXPred", "MXNDList", "MXGetLastError")
    strong = [ln.split()[-1] for ln in nm_output.splitlines() if ln.split() and ln.split()[-2] in "TDBR"]
    assert all(s.startswith(ours) for s in strong), [s for s in strong if not s.startswith(ours)][:10]


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


def test_every_op_has_a_cuda_kernel(cuda_build):
    assert probe(cuda_build["lib"])["no_gpu_kernel"] == []


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
# The test files that run again with gpu(0) as the default context: the op tables, the internal
# ops, and the gradient checks.
OP_TABLES = [os.path.join(HERE, f) for f in ("test_op_table.py", "test_ops_indexing.py", "test_ops_internal.py",
                                             "test_gradients.py", "test_autograd.py", "test_ops_conv.py",
                                             "test_ops_nn.py", "test_ops_loss.py", "test_ops_norm.py",
                                             "test_ops_spatial.py", "test_ops_optimizer.py", "test_ops_ctc.py",
                                             "test_ops_rnn.py", "test_networks.py", "test_image.py")]


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
    assert r["no_gpu_kernel"] == [], r
    return lib


def test_emulated_gpu_tests(emulated_build):
    out = gpu_child(emulated_build, [os.path.abspath(__file__), "-k", "gpu_"])
    assert " passed" in out and " failed" not in out, out[-2000:]


def test_emulated_op_tables_on_gpu(emulated_build):
    out = gpu_child(emulated_build, OP_TABLES, device="gpu")
    assert " passed" in out, out[-2000:]


# ---- GPU tests: CUDA against the CPU --------------------------------------------------------

HAVE_GPU = mx.num_gpus() > 0
needs_gpu = pytest.mark.skipif(not HAVE_GPU, reason="no GPU")

# Math that runs integers through double (a last-ulp difference may move the truncation by 1).
FLOAT_MATH = {n for n in UNARY if n not in {"abs", "sign", "negative", "square", "relu", "logical_not", "floor",
                                            "ceil", "round", "rint", "trunc", "fix", "_copy", "BlockGrad",
                                            "zeros_like", "ones_like"}}
UNARY_GPU = sorted(n for n in UNARY if n not in ("zeros_like", "ones_like"))


def gpu_vs_cpu(got, want, dtype, name):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape and got.dtype == want.dtype, (got.shape, want.shape, got.dtype, want.dtype)
    if is_float(dtype):
        r, a = {"float32": (2e-5, 1e-6), "float64": (1e-12, 1e-13), "float16": (2e-3, 2e-3),
                "bfloat16": (1.6e-2, 1.6e-2)}[dtype]
        np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=r, atol=a, equal_nan=True)
    elif name in FLOAT_MATH:
        np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=0, atol=1)
    else:
        np.testing.assert_array_equal(got, want)


def on_both(fn, arrays, **params):
    """fn on cpu(0) and on gpu(0) for the same numpy inputs; both results as numpy."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cpu = fn(*[mx.nd.array(a, dtype=a.dtype) for a in arrays], **params).asnumpy()
        gpu = fn(*[mx.nd.array(a, dtype=a.dtype, ctx=mx.gpu(0)) for a in arrays], **params)
        assert gpu.context == mx.gpu(0)
        return gpu.asnumpy(), cpu


@needs_gpu
@pytest.mark.parametrize("name,dtype", [(n, d) for n in UNARY_GPU for d in UNARY[n].dtypes])
def test_gpu_unary(name, dtype):
    case = UNARY[name]
    for shape in case.shapes:
        x = make(shape, dtype, case.domain, seed=len(shape) * 7 + 1)
        got, want = on_both(getattr(mx.nd, name), [x])
        gpu_vs_cpu(got, want, dtype, name)


@needs_gpu
@pytest.mark.parametrize("name", UNARY_GPU)
def test_gpu_unary_special_values(name):
    for dtype in ("float32", "float64"):
        x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 0.5], dtype=dtype)
        got, want = on_both(getattr(mx.nd, name), [x])
        finite = np.isfinite(want) & np.isfinite(got)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        np.testing.assert_allclose(got[finite], want[finite], rtol=1e-5, atol=1e-6)


@needs_gpu
@pytest.mark.parametrize("name,dtype", [(n, d) for n, c in BINARY.items() if c.nin == 2 for d in c.dtypes])
def test_gpu_binary(name, dtype):
    case = BINARY[name]
    for shapes in case.shapes:
        x = make(shapes[0], dtype, case.domain, seed=3)
        y = make(shapes[1], dtype, case.domain, seed=4)
        got, want = on_both(getattr(mx.nd, name), [x, y])
        gpu_vs_cpu(got, want, dtype, name)


@needs_gpu
@pytest.mark.parametrize("name,dtype", [(n, d) for n, c in BINARY.items() if c.nin == 1 for d in c.dtypes])
def test_gpu_scalar(name, dtype):
    case = BINARY[name]
    for shape in [(7,), (), (0,), (2, 3), (70001,)]:
        x = make(shape, dtype, case.domain, seed=5)
        for params in case.params:
            got, want = on_both(getattr(mx.nd, name), [x], **params)
            gpu_vs_cpu(got, want, dtype, name)


@needs_gpu
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "int32", "uint8"])
def test_gpu_broadcast_many_dims(dtype):
    # 8-d operands whose broadcast pattern changes at every axis, and a 32-d one.
    a = make((2, 1, 3, 1, 2, 1, 3, 1), dtype, (-3, 3), seed=1)
    b = make((1, 2, 1, 3, 1, 2, 1, 2), dtype, (-3, 3), seed=2)
    for name in ("broadcast_add", "broadcast_mul", "broadcast_maximum"):
        got, want = on_both(getattr(mx.nd, name), [a, b])
        gpu_vs_cpu(got, want, dtype, name)
    c = make((1,) * 31 + (5,), dtype, (-3, 3), seed=3)
    d = make((2,) + (1,) * 31, dtype, (-3, 3), seed=4)
    got, want = on_both(mx.nd.broadcast_sub, [c, d])
    gpu_vs_cpu(got, want, dtype, "broadcast_sub")


ALL_DTYPES = ["float32", "float64", "float16", "bfloat16", "uint8", "int8", "int16", "uint16", "int32",
              "uint32", "int64", "uint64", "bool"]


@needs_gpu
@pytest.mark.parametrize("src", ALL_DTYPES)
def test_gpu_cast_and_copies(src):
    x = make((3, 70), src, (-300, 300), seed=6)
    if is_float(src):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # 1e30 overflows float16 on purpose
            x[0, :4] = np.array([np.nan, np.inf, -np.inf, 1e30], dtype=np.float64).astype(npdt(src))
    for dst in ALL_DTYPES:
        got, want = on_both(lambda a: mx.nd.Cast(a, dtype=dst), [x])
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got.astype(np.float64), want.astype(np.float64), err_msg="%s -> %s" % (src, dst))
    got, want = on_both(mx.nd._copy, [x])
    np.testing.assert_array_equal(got.view(np.uint8), want.view(np.uint8))
    # host -> device -> device -> host round trips keep every bit
    g = mx.nd.array(x, dtype=x.dtype, ctx=mx.gpu(0))
    h = g.copyto(mx.gpu(0)).copyto(mx.cpu(0))
    np.testing.assert_array_equal(h.asnumpy().view(np.uint8), x.view(np.uint8))


@needs_gpu
def test_gpu_errors_are_clear():
    with pytest.raises(mx.BrassError, match=r"gpu\(%d\) is not available" % mx.num_gpus()):
        mx.nd.zeros((2,), ctx=mx.gpu(mx.num_gpus()))
    a = mx.nd.array(np.ones(3, np.float32), ctx=mx.gpu(0))
    b = mx.nd.array(np.ones(3, np.float32))
    with pytest.raises(mx.BrassError, match="different devices"):
        mx.nd.broadcast_add(a, b)


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


@needs_gpu
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_gpu_random_matches_cpu(dtype):
    # Element i draws from the same Philox counter on every device: uniform is bit-identical,
    # normal within the device's log/sin/cos accuracy.
    for fn, kw in [(mx.random.uniform, dict(low=-2, high=5)), (mx.random.normal, dict(loc=1, scale=3))]:
        mx.random.seed(11)
        c = fn(shape=(4099,), dtype=dtype, ctx=mx.cpu(0), **kw).asnumpy()
        mx.random.seed(11)
        g = fn(shape=(4099,), dtype=dtype, ctx=mx.gpu(0), **kw).asnumpy()
        if fn is mx.random.uniform:
            np.testing.assert_array_equal(g, c)
        else:
            gpu_vs_cpu(g, c, dtype, "normal")
    mx.random.seed(11)
    c = mx.random.randint(-3, 40, shape=(999,), ctx=mx.cpu(0)).asnumpy()
    mx.random.seed(11)
    np.testing.assert_array_equal(mx.random.randint(-3, 40, shape=(999,), ctx=mx.gpu(0)).asnumpy(), c)


@needs_gpu
@pytest.mark.parametrize("dtype", ["uint8", "float32", "float64"])
def test_gpu_image_ops_match_cpu(dtype):
    """Every image operator on gpu(0) gives the CPU's bits: the same functors, products rounded
    one by one, the random draws from the same Philox counters for one seed."""
    rs = np.random.RandomState(0)
    for shape in [(1, 1, 3), (5, 7, 3), (3, 4, 6, 1), (2, 9, 8, 3)]:
        x = (rs.randint(0, 256, shape) if dtype == "uint8" else rs.uniform(-20, 280, shape)).astype(dtype)
        a = mx.nd.image
        calls = [(a.to_tensor, {}), (a.flip_left_right, {}), (a.flip_top_bottom, {}),
                 (a.crop, dict(x=0, y=0, width=1, height=1)), (a.resize, dict(size=(5, 3))),
                 (a.resize, dict(size=(11, 2), interp=0)), (a.resize, dict(size=4, keep_ratio=True)),
                 (a.random_brightness, dict(min_factor=0.3, max_factor=2.0)),
                 (a.random_flip_left_right, {}), (a.random_flip_top_bottom, {})]
        if shape[-1] == 3:
            calls.append((a.random_contrast, dict(min_factor=0.3, max_factor=2.0)))
        if shape[-3] % 2 == 0 and shape[-2] % 2 == 0:
            calls.append((a.resize, dict(size=(shape[-2] // 2, shape[-3] // 2))))
        for fn, params in calls:
            mx.random.seed(17)
            g, c = on_both(fn, [x], **params)
            np.testing.assert_array_equal(g, c, err_msg="%s %s %s" % (fn.__name__, shape, params))
        if dtype != "uint8":
            t = np.transpose(x, (2, 0, 1) if x.ndim == 3 else (0, 3, 1, 2)) / 255
            g, c = on_both(a.normalize, [t], mean=(0.1,) * shape[-1], std=(0.3,))
            np.testing.assert_array_equal(g, c)
            # the gradient ops
            for op, ins in [(a.resize, dict(size=(5, 3))), (a.crop, dict(x=0, y=0, width=1, height=1)),
                            (a.to_tensor, {}), (a.flip_left_right, {})]:
                grads, head = [], None
                for ctx in (mx.cpu(0), mx.gpu(0)):
                    v = mx.nd.array(x, dtype=dtype, ctx=ctx)
                    v.attach_grad()
                    with mx.autograd.record():
                        y = op(v, **ins)
                    if head is None:
                        head = rs.standard_normal(y.shape)
                    y.backward(mx.nd.array(head, dtype=y.dtype, ctx=ctx))
                    grads.append(v.grad.asnumpy())
                np.testing.assert_array_equal(grads[1], grads[0], err_msg="%s %s" % (op.__name__, shape))


@needs_gpu
def test_gpu_kernel_errors_reach_the_caller():
    # An error only the kernel can see (an index out of range with mode='raise') is raised at
    # the next wait, naming the op, and the device stays usable.
    a = mx.nd.array(np.arange(6, dtype=np.float32).reshape(2, 3), ctx=mx.gpu(0))
    idx = mx.nd.array([0, 5], ctx=mx.gpu(0))
    with pytest.raises(mx.BrassError, match="take: index 5 is out of bounds for axis 0 with size 2"):
        mx.nd.take(a, idx, mode="raise").asnumpy()
    assert (a + 1).asnumpy().sum() == 21
    np.testing.assert_array_equal(mx.nd.take(a, idx, mode="clip").asnumpy(), [[0, 1, 2], [3, 4, 5]])


@needs_gpu
def test_gpu_executor_and_hybridized_training_match_cpu():
    """A bound executor (forward, backward) and hybridized training steps (the cached executor:
    one recorded node per call, concurrent planning; no fusion or add-to on the GPU) give the
    CPU's numbers on gpu(0)."""
    from brass.gluon import nn

    def make():
        net = nn.HybridSequential()
        with net.name_scope():
            net.add(nn.Conv2D(4, 3, padding=1, activation="relu"), nn.BatchNorm(), nn.MaxPool2D(),
                    nn.Flatten(), nn.Dense(5, activation="tanh"), nn.Dense(3))
        return net

    x = np.random.RandomState(0).uniform(-1, 1, (2, 3, 8, 8)).astype(np.float32)
    ref = make()
    ref.initialize(mx.init.Xavier(), ctx=mx.cpu())
    ref(mx.nd.array(x))
    params = {}
    for ctx in (mx.cpu(), mx.gpu(0)):
        net = make()
        net.initialize(ctx=ctx)
        xa = mx.nd.array(x, ctx=ctx)
        net(xa)
        for p, q in zip(ref.collect_params().values(), net.collect_params().values()):
            q.set_data(p.data().as_in_context(ctx))
        net.hybridize()
        for _ in range(2):
            with mx.autograd.record():
                loss = (net(xa) * net(xa)).mean()  # two calls in one graph
            loss.backward()
            for p in net.collect_params().values():
                if p.grad_req != "null":
                    p.set_data(p.data() - 0.1 * p.grad())
        params[str(ctx)] = {k: p.data().asnumpy() for k, p in net.collect_params().items()}
        assert net._num_executors() == 2
    cpu, gpu = params.values()
    for (k, a), b in zip(cpu.items(), gpu.values()):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5, err_msg=k)
    # The symbol of the same network through a bound executor.
    sym = mx.sym.sum(mx.sym.square(_traced(ref, x)))
    grads = {}
    for ctx in (mx.cpu(), mx.gpu(0)):
        args = {n: (mx.nd.array(x, ctx=ctx) if n == "data" else ref.collect_params()[n].data().as_in_context(ctx))
                for n in sym.list_arguments()}
        aux = {n: ref.collect_params()[n].data().as_in_context(ctx) for n in sym.list_auxiliary_states()}
        exe = sym.bind(ctx, args, args_grad={n: mx.nd.zeros(a.shape, ctx=ctx) for n, a in args.items()},
                       aux_states=aux)
        exe.forward(is_train=True)
        exe.backward()
        grads[str(ctx)] = {n: g.asnumpy() for n, g in exe.grad_dict.items()}
    for n in grads["cpu(0)"]:
        np.testing.assert_allclose(grads["gpu(0)"][n], grads["cpu(0)"][n], rtol=1e-4, atol=1e-5, err_msg=n)


def _traced(net, x):
    net.hybridize()
    net(mx.nd.array(x))
    return net._cached[1]


@needs_gpu
@pytest.mark.parametrize("kvstore,update_on_kvstore", [("device", None), ("local", False)])
def test_gpu_data_parallel_training_matches_one_device(kvstore, update_on_kvstore):
    """Gluon on [gpu(0), cpu(0)] with split_and_load (a store on the GPU, or on the CPU with
    updates on each device) gives the parameters of one CPU on the whole batch; the Module
    does the same over [gpu(0), cpu(0)]."""
    from brass import gluon
    from brass.gluon import nn
    rng = np.random.RandomState(1)
    batches = [(rng.rand(8, 1, 10, 10).astype(np.float32), rng.randint(0, 4, 8)) for _ in range(3)]

    def train(ctxs):
        mx.random.seed(5)
        net = nn.HybridSequential()
        with net.name_scope():
            net.add(nn.Conv2D(3, 3, activation="relu"), nn.MaxPool2D(), nn.Flatten(), nn.Dense(4))
        net.initialize(mx.init.Xavier(), ctx=ctxs)
        net.hybridize()
        tr = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.2, "momentum": 0.9},
                           kvstore=kvstore, update_on_kvstore=update_on_kvstore)
        for x, y in batches:
            xs, ys = gluon.utils.split_and_load(x, ctxs), gluon.utils.split_and_load(y, ctxs)
            with mx.autograd.record():
                losses = [gluon.loss.SoftmaxCrossEntropyLoss()(net(a), b) for a, b in zip(xs, ys)]
            for l in losses:
                l.backward()
            tr.step(8)
        return {k: [d.asnumpy() for d in p.list_data()] for k, p in net._collect_params_with_prefix().items()}

    one, two = train([mx.cpu(0)]), train([mx.gpu(0), mx.cpu(0)])
    for k in one:
        np.testing.assert_allclose(two[k][0], two[k][1], rtol=1e-5, atol=1e-6, err_msg=k)
        np.testing.assert_allclose(two[k][0], one[k][0], rtol=1e-4, atol=1e-5, err_msg=k)

    data = mx.sym.var("data")
    out = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(mx.sym.Flatten(data), num_hidden=4, name="fc"), name="softmax")
    results = []
    for ctxs in ([mx.cpu(0)], [mx.gpu(0), mx.cpu(0)]):
        mod = mx.mod.Module(out, context=ctxs)
        mod.bind([("data", (8, 1, 10, 10))], [("softmax_label", (8,))])
        mx.random.seed(5)
        mod.init_params(mx.init.Xavier())
        mod.init_optimizer(kvstore=kvstore, optimizer_params={"learning_rate": 0.2})
        for x, y in batches:
            mod.forward_backward(mx.io.DataBatch([mx.nd.array(x)], [mx.nd.array(y)]))
            mod.update()
        results.append(mod.get_params()[0])
    for k in results[0]:
        np.testing.assert_allclose(results[1][k].asnumpy(), results[0][k].asnumpy(), rtol=1e-4, atol=1e-5, err_msg=k)
