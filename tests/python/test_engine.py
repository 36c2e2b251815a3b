"""Engine-level behaviour seen from Python: results (random numbers included) do not depend on
the engine or the thread count; memory returns to the pool; independent work overlaps."""
import os
import subprocess
import sys

import numpy as np
import pytest

import brass as mx

PROGRAM = r"""
import numpy as np, brass as mx, sys
mx.random.seed(11)
a = mx.random.uniform(-1, 1, shape=(300, 200))
b = mx.random.normal(0, 1, shape=(200, 50))
c = mx.nd.relu(mx.nd.dot(a, b)) + mx.random.uniform(shape=(300, 50))
s = mx.nd.sum(c, axis=0) * 0.5 + mx.nd.max(c, axis=0)
r = mx.random.randint(0, 100, shape=(1000,))
big = mx.nd.sum(mx.random.normal(shape=(1 << 18,)))
sys.stdout.buffer.write(np.concatenate([s.asnumpy().astype(np.float64), r.asnumpy().astype(np.float64),
                                        big.asnumpy().astype(np.float64)]).tobytes())
"""


def run_with(env):
    e = dict(os.environ)
    e.update(env)
    return subprocess.run([sys.executable, "-c", PROGRAM], env=e, capture_output=True, check=True).stdout


def test_results_independent_of_engine_and_threads():
    base = run_with({"BRASS_ENGINE": "threaded", "BRASS_NUM_THREADS": "2"})
    assert len(base) > 0
    for env in ({"BRASS_ENGINE": "naive", "BRASS_NUM_THREADS": "2"},
                {"BRASS_ENGINE": "threaded", "BRASS_NUM_THREADS": "1"},
                {"BRASS_ENGINE": "naive", "BRASS_NUM_THREADS": "1"},
                {"BRASS_ENGINE": "threaded", "BRASS_NUM_THREADS": "3"}):
        assert run_with(env) == base, env


def test_memory_returns_to_pool():
    mx.nd.waitall()
    before = mx.context.memory_info()["in_use"]
    a = mx.nd.ones((1 << 20,))
    b = a * 2
    b.wait_to_read()
    during = mx.context.memory_info()["in_use"]
    assert during >= before + 2 * 4 * (1 << 20)
    del a, b
    mx.nd.waitall()
    after = mx.context.memory_info()
    assert after["in_use"] <= before
    assert after["pooled"] >= 2 * 4 * (1 << 20)
    mx.cpu().empty_cache()
    assert mx.context.memory_info()["pooled"] == 0


def test_views_keep_memory_alive():
    a = mx.nd.arange(10)
    v = a[2:5]
    del a
    np.testing.assert_array_equal(v.asnumpy(), [2, 3, 4])


def test_write_after_read_ordering():
    # A big read followed by an in-place write to its input: the read sees the old values.
    x = mx.nd.ones((1 << 20,))
    s = mx.nd.sum(x)
    x += 1
    assert s.asscalar() == float(1 << 20)
    assert x.asnumpy()[0] == 2


def test_an_error_raised_by_a_wait_is_not_raised_again_by_waitall():
    data = mx.nd.array(np.arange(3, dtype=np.float32))
    bad = np.zeros(40000, dtype=np.int64)  # large enough to run as pushed (asynchronous) work
    bad[-1] = 3
    r = mx.nd.take(data, mx.nd.array(bad, dtype="int64"), mode="raise")
    with pytest.raises(mx.BrassError, match="take: index 3 is out of bounds"):
        r.wait_to_read()
    mx.nd.waitall()  # already raised: not again
    # An error nobody waited for is raised by waitall, once.
    r2 = mx.nd.take(data, mx.nd.array(bad, dtype="int64"), mode="raise")
    with pytest.raises(mx.BrassError, match="take: index 3 is out of bounds"):
        mx.nd.waitall()
    mx.nd.waitall()
    del r2
