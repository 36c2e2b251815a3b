"""A table of bad calls: each raises BrassError with a message naming the op, the argument and
the offending shapes or values, and the process stays usable afterwards."""
import numpy as np
import pytest

import brass as mx
from brass.base import ffi, lib

nd = mx.nd


def a(*shape, dtype="float32"):
    return nd.zeros(shape, dtype=dtype)


BAD_CALLS = [
    # (description, callable, regex the message must match)
    ("unknown op", lambda: nd._internal.invoke("no_such_op", [], ffi.NULL, None), r"unknown operator 'no_such_op'"),
    ("unknown parameter", lambda: nd.sum(a(2), bogus=1), r"sum: unknown parameter 'bogus'"),
    ("ill-typed int parameter", lambda: nd.sum(a(2), axis="x"), r"sum: parameter 'axis'"),
    ("ill-typed bool parameter", lambda: nd.sum(a(2), keepdims="maybe"), r"sum: parameter 'keepdims'.*boolean"),
    ("ill-typed float parameter", lambda: nd.clip(a(2), a_min="low", a_max=1), r"clip: parameter 'a_min'.*number"),
    ("missing required parameter", lambda: nd.clip(a(2), a_min=0), r"clip: required parameter 'a_max'"),
    ("enum out of choices", lambda: nd.take(a(3), nd.array([0]), mode="bounce"), r"take: parameter 'mode'.*not one of"),
    ("parameter out of range", lambda: nd.norm(a(3), ord=3), r"norm: parameter 'ord'.*out of range"),
    ("negative repeat count", lambda: nd.repeat(a(3), repeats=-1), r"repeat: parameter 'repeats'.*out of range"),
    ("unknown dtype name", lambda: nd.Cast(a(2), dtype="float7"), r"Cast: parameter 'dtype'.*unknown dtype 'float7'"),
    ("too few inputs", lambda: nd.broadcast_add(a(2)), r"broadcast_add: expected 2 input\(s\), got 1"),
    ("too many inputs", lambda: nd.relu(a(2), a(2)), r"relu: expected 1 input\(s\), got 2"),
    ("non-broadcastable shapes", lambda: nd.broadcast_mul(a(2, 3), a(4)), r"broadcast_mul: .*\(2, 3\) \(4,\)"),
    ("elemwise shape mismatch", lambda: nd.elemwise_add(a(2, 3), a(3, 2)), r"elemwise_add: shape mismatch.*\(2, 3\).*\(3, 2\)"),
    ("dtype mismatch", lambda: nd.broadcast_add(a(2), a(2, dtype="int32")), r"broadcast_add: dtype mismatch.*float32.*int32"),
    ("axis out of range", lambda: nd.sum(a(2, 3), axis=2), r"sum: axis 2 is out of range.*2 dimension"),
    ("negative axis out of range", lambda: nd.mean(a(2, 3), axis=-3), r"mean: axis -3 is out of range"),
    ("repeated axis", lambda: nd.sum(a(2, 3), axis=(1, 1)), r"sum: axis 1 is given twice"),
    ("argmax axis out of range", lambda: nd.argmax(a(2), axis=1), r"argmax: axis 1 is out of range"),
    ("transpose axes wrong length", lambda: nd.transpose(a(2, 3), axes=(0,)), r"transpose: axes \(0,\) do not match 2"),
    ("transpose repeated axes", lambda: nd.transpose(a(2, 3), axes=(0, 0)), r"transpose: repeated axis"),
    ("reshape wrong size", lambda: nd.Reshape(a(2, 3), shape=(4, 2)), r"Reshape: cannot reshape \(2, 3\) into \(4, 2\)"),
    ("reshape two -1", lambda: nd.Reshape(a(2, 3), shape=(-1, -1)), r"Reshape: .*more than one -1"),
    ("view reshape wrong size", lambda: a(2, 3).reshape((7,)), r"Reshape: cannot reshape array of shape \(2, 3\)"),
    ("dot misaligned", lambda: nd.dot(a(2, 3), a(4, 5)), r"dot: shapes \(2, 3\) and \(4, 5\) are not aligned"),
    ("dot integer dtype", lambda: nd.dot(a(2, 2, dtype="int32"), a(2, 2, dtype="int32")), r"dot: only float32 and float64"),
    ("batch_dot rank", lambda: nd.batch_dot(a(2, 3), a(3, 2)), r"batch_dot: expected two 3-D arrays"),
    ("concat mismatch", lambda: nd.Concat(a(2, 3), a(3, 3), dim=1), r"Concat: input 1 has shape \(3, 3\)"),
    ("stack mismatch", lambda: nd.stack(a(2), a(3)), r"stack: input 1 has shape \(3,\)"),
    ("split uneven", lambda: nd.split(a(2, 5), num_outputs=2), r"SliceChannel: axis 1 of \(2, 5\) does not split into 2"),
    ("squeeze non-unit axis", lambda: nd.squeeze(a(2, 3), axis=0), r"squeeze: axis 0 of \(2, 3\) has size 2"),
    ("slice_axis out of bounds", lambda: nd.slice_axis(a(3), axis=0, begin=5, end=6), r"slice_axis: \[5, 6\) is out of bounds"),
    ("slice step zero", lambda: nd.slice(a(3), begin=(0,), end=(2,), step=(0,)), r"slice: step must not be 0"),
    ("broadcast_to impossible", lambda: nd.broadcast_to(a(2, 3), shape=(4, 3)), r"broadcast_to: cannot broadcast \(2, 3\) to \(4, 3\)"),
    ("take index out of bounds (raise)", lambda: nd.take(a(3), nd.array([5]), mode="raise").asnumpy(), r"take: index 5 is out of bounds"),
    ("topk k too large", lambda: nd.topk(a(2, 3), k=5), r"topk: k 5 is out of range"),
    ("python index out of bounds", lambda: a(3, 2)[3], r"index 3 is out of bounds for axis 0 with size 3"),
    ("too many indices", lambda: a(3)[0, 0], r"too many indices"),
    ("gpu without CUDA", lambda: nd.zeros((2,), ctx=mx.gpu(0)), r"gpu\(0\) is not available"),
    ("unknown device string", lambda: nd._zeros(shape=(2,), ctx="tpu(0)"), r"_zeros: unknown device 'tpu\(0\)'"),
    ("arange step zero", lambda: nd.arange(0, 5, 0), r"_arange: step must not be 0"),
    ("randint empty range", lambda: mx.random.randint(5, 5, shape=(2,)).asnumpy(), r"_random_randint: low 5 >= high 5"),
    ("copy into wrong shape", lambda: a(2).copyto(a(3)), r"copyto: shape mismatch, source \(2,\) destination \(3,\)"),
    ("output of wrong shape", lambda: nd.relu(a(2, 2), out=a(3)), r"relu: shape mismatch.*\(2, 2\).*\(3,\)"),
    ("setitem shape mismatch", lambda: a(3, 4).__setitem__((slice(None), 1), nd.ones((5,))), r"cannot assign an array of shape \(5,\)"),
    ("unsupported dtype", lambda: nd.array([1, 2], dtype=np.complex64), r"unsupported dtype"),
    ("empty axis argmax", lambda: nd.argmax(a(0, 3), axis=0).asnumpy(), r"argmax: attempt to reduce an empty axis"),
]


@pytest.mark.parametrize("desc,call,pattern", BAD_CALLS, ids=[b[0] for b in BAD_CALLS])
def test_bad_call(desc, call, pattern):
    with pytest.raises((mx.BrassError, IndexError)) as info:
        call()
    assert __import__("re").search(pattern, str(info.value)), "message was: %s" % info.value
    # the process is still usable
    np.testing.assert_array_equal((nd.ones((2,)) + 1).asnumpy(), [2, 2])


def test_table_is_big_enough():
    assert len(BAD_CALLS) >= 40


def test_freed_and_foreign_handles_are_refused():
    h = ffi.new("brass_ndarray_t*")
    shape = ffi.new("int64_t[]", [3])
    assert lib.brass_ndarray_create(shape, 1, 0, 1, 0, h) == 0
    arr = h[0]
    lib.brass_ndarray_free(arr)
    buf = ffi.new("float[3]")
    assert lib.brass_ndarray_copy_to(arr, buf, 12) == 6  # BRASS_ERR_HANDLE
    assert "invalid handle" in ffi.string(lib.brass_last_error()).decode()
    forged = ffi.cast("brass_ndarray_t", 0x123456789)
    assert lib.brass_ndarray_copy_to(forged, buf, 12) == 6
    p = ffi.new("brass_params_t*")
    # a handle of another kind is refused too
    assert lib.brass_params_free(ffi.cast("brass_params_t", 0x1)) is None
    assert lib.brass_ndarray_wait_to_read(ffi.cast("brass_ndarray_t", p[0])) == 6


def test_async_error_names_op_and_is_raised_at_wait():
    # A kernel error happens on the engine: it is stored and raised by the next wait.
    x = nd.take(nd.zeros((3,)), nd.array([7.0]), mode="raise")
    y = x + 1  # depends on the failed result: skipped, inherits the error
    with pytest.raises(mx.BrassError, match="take"):
        y.asnumpy()
    with pytest.raises(mx.BrassError, match="take"):
        x.asnumpy()  # a wait raises the stored error once (MXNet semantics), then clears it
    try:
        nd.waitall()
    except mx.BrassError:
        pass
    np.testing.assert_array_equal((nd.ones((1,)) * 3).asnumpy(), [3])
