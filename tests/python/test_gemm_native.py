"""Builds the C++ GEMM test (tests/c/test_gemm.cc) and runs it: natively, which covers every
x86 kernel this machine has plus the portable one, and cross-compiled for aarch64 under qemu,
which covers the NEON kernels. Missing tools skip the test, except on CI (CI=true) where they
are required: Debian packages g++-aarch64-linux-gnu and qemu-user-static."""

import glob
import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TEST_SOURCE = os.path.join("tests", "c", "test_gemm.cc")
FLAGS = ["-std=c++17", "-O2", "-I", "src", "-I", "include", "-I", ".", "-pthread"]


def _sources():
    kernels = sorted(glob.glob(os.path.join(ROOT, "src", "kernel", "gemm*.cc")))
    rel = [os.path.relpath(p, ROOT) for p in kernels]
    return [TEST_SOURCE] + rel + [
        os.path.join("src", "kernel", "cpu_features.cc"),
        os.path.join("src", "engine", "thread_pool.cc"),
        os.path.join("src", "base", "error.cc"),
        os.path.join("src", "base", "host_memory.cc"),
    ]


def _require(tool, package):
    path = shutil.which(tool)
    if path:
        return path
    msg = f"{tool} not found (Debian package {package})"
    if os.environ.get("CI") == "true":
        pytest.fail(msg + "; it is required on CI")
    pytest.skip(msg)


def _build(compiler, out, extra=()):
    cmd = [compiler, *FLAGS, *extra, *_sources(), "-o", out]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, "build failed:\n" + " ".join(cmd) + "\n" + r.stdout + r.stderr


def _run_and_check(cmd):
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    out = r.stdout + r.stderr
    print(out)
    lines = [ln for ln in out.splitlines() if ln.strip()]
    assert r.returncode == 0, out
    assert lines and lines[-1].endswith(" passed, 0 failed"), out
    assert not lines[-1].startswith("0 passed"), out


def test_gemm_native(tmp_path):
    cxx = _require("g++", "g++")
    exe = str(tmp_path / "test_gemm")
    _build(cxx, exe)
    _run_and_check([exe])


def test_gemm_aarch64_qemu(tmp_path):
    cxx = _require("aarch64-linux-gnu-g++", "g++-aarch64-linux-gnu")
    qemu = _require("qemu-aarch64-static", "qemu-user-static")
    exe = str(tmp_path / "test_gemm_aarch64")
    _build(cxx, exe, ["-static"])
    _run_and_check([qemu, exe])
