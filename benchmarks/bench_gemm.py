"""SGEMM throughput of Brass (mx.nd.dot) beside NumPy's matmul (OpenBLAS) in the same run.

    python benchmarks/bench_gemm.py [--sizes 256 512 1024 2048] [--threads 1 2] [--seconds 1]
    python benchmarks/bench_gemm.py --kernel-lib /tmp/libgemm_bench.so   # no Python package

--kernel-lib times brass::kernel::sgemm itself, through the C entry point of a shared library
built from benchmarks/gemm_bench.cc (see there), for when the brass package is not built.

Each thread count runs in its own subprocess, because Brass reads BRASS_NUM_THREADS and
OpenBLAS reads OPENBLAS_NUM_THREADS once, at load. OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are
removed there: forced onto this machine, they slow OpenBLAS down. Inside a subprocess the two
libraries take turns, in blocks of calls with pauses between, and each keeps its best time, so
a busy machine hurts both alike. Prints GFLOP/s and the ratio Brass / NumPy per size.
"""

import argparse
import ctypes
import json
import os
import subprocess
import sys
import time


# Long enough for OpenBLAS's worker threads to stop spinning and sleep.
_PAUSE = 0.5


def _import_brass():
    try:
        import brass as mx

        return mx
    except ImportError:
        pass
    # Not installed: try the source tree (needs the native library built in place).
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                    "python"))
    try:
        import brass as mx

        return mx
    except Exception as e:
        print(f"brass not importable ({type(e).__name__}: {e}); NumPy only", file=sys.stderr)
        return None


class _KernelLib:
    """Stands in for mx.nd: dot() runs sgemm from the gemm_bench shared library."""

    class _Arr:
        def __init__(self, a):
            self.a = a

        def wait_to_read(self):
            pass

        def asnumpy(self):
            return self.a

    def __init__(self, path):
        import numpy as np

        self.np = np
        self.lib = ctypes.CDLL(path)
        p = ctypes.c_void_p
        self.lib.brass_bench_sgemm.argtypes = [ctypes.c_int64] * 3 + [p, p, p]
        self.nd = self
        self.out = {}

    def array(self, a):
        return self._Arr(self.np.ascontiguousarray(a, dtype=self.np.float32))

    def dot(self, x, y):
        m, k = x.a.shape
        n = y.a.shape[1]
        c = self.out.get((m, n))
        if c is None:
            c = self.out[(m, n)] = self.np.empty((m, n), dtype=self.np.float32)
        self.lib.brass_bench_sgemm(m, n, k, x.a.ctypes.data, y.a.ctypes.data, c.ctypes.data)
        return self._Arr(c)


def _worker(sizes, seconds, kernel_lib):
    import numpy as np

    mx = _KernelLib(kernel_lib) if kernel_lib else _import_brass()
    rng = np.random.default_rng(0)
    results = []
    for n in sizes:
        a = rng.standard_normal((n, n), dtype=np.float32)
        b = rng.standard_normal((n, n), dtype=np.float32)
        want = a @ b
        out = np.empty_like(want)
        row = {"n": n, "numpy": None, "brass": None}
        if mx is not None:
            xa, xb = mx.nd.array(a), mx.nd.array(b)
            got = mx.nd.dot(xa, xb)
            got.wait_to_read()
            err = np.max(np.abs(got.asnumpy() - want)) / np.max(np.abs(want))
            if err > 1e-4:
                print(f"n={n}: brass differs from numpy by {err:.2e}", file=sys.stderr)
        runs = {"numpy": lambda: np.matmul(a, b, out=out)}
        if mx is not None:
            runs["brass"] = lambda: mx.nd.dot(xa, xb).wait_to_read()
        best = {lib: float("inf") for lib in runs}
        # Alternate blocks of calls, three rounds each. Not call by call: after a call,
        # OpenBLAS's threads spin for a while and would take a core from the next call.
        for _ in range(3):
            for lib, run in runs.items():
                time.sleep(_PAUSE)
                start = time.perf_counter()
                calls = 0
                while calls < 2 or time.perf_counter() - start < seconds / 3:
                    t0 = time.perf_counter()
                    run()
                    best[lib] = min(best[lib], time.perf_counter() - t0)
                    calls += 1
        flop = 2.0 * n * n * n
        for lib, t in best.items():
            if t != float("inf"):
                row[lib] = flop / t * 1e-9
        results.append(row)
    print(json.dumps(results))


def _run(threads, sizes, seconds, kernel_lib):
    env = dict(os.environ)
    env.pop("OPENBLAS_CORETYPE", None)
    env.pop("OPENBLAS_L2_SIZE", None)
    env["BRASS_NUM_THREADS"] = str(threads)
    env["OPENBLAS_NUM_THREADS"] = str(threads)
    here = os.path.dirname(os.path.abspath(__file__))
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--seconds", str(seconds)]
    cmd += ["--sizes", *map(str, sizes)]
    if kernel_lib:
        cmd += ["--kernel-lib", os.path.abspath(kernel_lib)]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=os.path.dirname(here))
    sys.stderr.write(r.stderr)
    if r.returncode != 0:
        raise SystemExit(f"worker with {threads} thread(s) failed")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024, 2048])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--seconds", type=float, default=1.0, help="time per size and library")
    ap.add_argument("--kernel-lib", help="shared library built from benchmarks/gemm_bench.cc")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        _worker(args.sizes, args.seconds, args.kernel_lib)
        return

    def fmt(x):
        return "     n/a" if x is None else f"{x:8.1f}"

    what = "brass::kernel::sgemm" if args.kernel_lib else "mx.nd.dot"
    print(f"SGEMM, square n x n, GFLOP/s (best of repeated runs); brass = {what}")
    print(f"{'threads':>7} {'n':>6} {'brass':>8} {'numpy':>8} {'ratio':>6}")
    for t in args.threads:
        for row in _run(t, args.sizes, args.seconds, args.kernel_lib):
            ratio = "   n/a"
            if row["brass"] and row["numpy"]:
                ratio = f"{row['brass'] / row['numpy']:6.2f}"
            print(f"{t:>7} {row['n']:>6} {fmt(row['brass'])} {fmt(row['numpy'])} {ratio}")


if __name__ == "__main__":
    main()
