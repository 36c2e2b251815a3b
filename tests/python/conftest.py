"""Test-wide settings.

BRASS_TEST_DEVICE=gpu runs every test with gpu(0) as the default context (``with mx.gpu(0):``),
so the CPU op tables (test_op_table.py, test_ops_indexing.py) check the CUDA kernels against
the same numpy references. test_cuda.py runs them that way where a GPU (or the CUDA host
emulation) is present.
"""
import os

import pytest

DEVICE = os.environ.get("BRASS_TEST_DEVICE", "cpu")


@pytest.fixture(autouse=True)
def _default_device():
    if DEVICE == "cpu":
        yield
        return
    import brass as mx

    with mx.Context(DEVICE, 0):
        yield
