"""The spatial and sequence operators against NumPy references: Embedding, UpSampling (nearest
and bilinear), Pad, Crop, SequenceMask, SequenceLast, SequenceReverse (and their internal
gradient ops). Forward values for float32 and float64 (float16 where cheap) over edge shapes
and every parameter, GridGenerator and BilinearSampler, gradient formulas, the gradient table (checked by test_gradients.py
against central differences, first and second order) and bad-input errors.

Arrays are made without ctx=, so with BRASS_TEST_DEVICE=gpu the whole file runs on gpu(0)."""
import numpy as np
import pytest

import brass as mx
from grad_table import Grad, In
from nn_testing import grads_of, nd, raises

# Operators this file tests (read by the completeness test in test_op_table.py).
OPS_COVERED = {"Embedding", "_backward_Embedding", "UpSampling", "_backward_UpSampling", "Pad",
               "_backward_Pad", "Crop", "_backward_Crop", "SequenceMask", "SequenceLast",
               "_backward_SequenceLast", "SequenceReverse", "GridGenerator", "_backward_GridGenerator",
               "BilinearSampler", "_backward_BilinearSampler"}

_IDX = [0, 2, 1, 5, -1, 2.7]
_PAD4 = (0, 0, 0, 0, 1, 2, 2, 1)
_PAD5 = (0, 0, 0, 0, 1, 0, 0, 2, 1, 1)
_BIL = {"scale": 2, "sample_type": "bilinear", "num_filter": 2}

# Gradient cases (test_gradients.py checks them with the others, first and second order).
GRADIENTS = {
    "Embedding": [Grad([In((2, 3), diff=False, values=_IDX), In((3, 4))], {"input_dim": 3, "output_dim": 4}),
                  Grad([In((4,), diff=False, values=[1, 1, 0, 1]), In((2, 3))], {"input_dim": 2, "output_dim": 3})],
    "_backward_Embedding": [Grad([In((2, 3, 4)), In((2, 3), diff=False, values=_IDX)],
                                 {"input_dim": 3, "output_dim": 4})],
    "Pad": [Grad([In((1, 2, 3, 3))], {"mode": m, "pad_width": _PAD4, "constant_value": 1.5})
            for m in ("constant", "edge", "reflect")]
           + [Grad([In((1, 1, 2, 3, 2))], {"mode": m, "pad_width": _PAD5}) for m in ("edge", "reflect")],
    "_backward_Pad": [Grad([In((1, 2, 6, 6))], {"mode": m, "pad_width": _PAD4}) for m in ("constant", "edge", "reflect")],
    "Crop": [Grad([In((1, 2, 4, 5))], {"h_w": (2, 3), "offset": (1, 2)}),
             Grad([In((2, 1, 4, 5)), In((1, 1, 3, 3), diff=False)], {"center_crop": True})],
    "_backward_Crop": [Grad([In((1, 2, 2, 3)), In((1, 2, 4, 5), diff=False)], {"num_args": 1, "h_w": (2, 3), "offset": (1, 1)}),
                       Grad([In((1, 1, 3, 3)), In((1, 1, 4, 5), diff=False), In((2, 2, 3, 3), diff=False)],
                            {"num_args": 2, "center_crop": True})],
    "UpSampling": [Grad([In((1, 2, 2, 3))], {"scale": 2, "sample_type": "nearest"}),
                   Grad([In((2, 1, 2, 1))], {"scale": (2, 3), "sample_type": "nearest"}),
                   Grad([In((1, 1, 2, 2)), In((1, 2, 1, 1))], {"scale": 2, "sample_type": "nearest"}),
                   Grad([In((1, 2, 2, 2)), In((1, 2, 4, 4))], {"scale": 2, "sample_type": "nearest",
                                                               "multi_input_mode": "sum"}),
                   Grad([In((1, 2, 3, 3)), In((2, 1, 4, 4))], _BIL),
                   Grad([In((1, 1, 2, 2)), In((1, 1, 5, 5))], {"scale": 3, "sample_type": "bilinear", "num_filter": 1})],
    "_backward_UpSampling": [
        Grad([In((1, 2, 4, 9)), In((1, 2, 2, 3), diff=False)], {"scale": (2, 3), "sample_type": "nearest", "num_args": 1}),
        Grad([In((1, 3, 4, 4)), In((1, 1, 2, 2), diff=False), In((1, 2, 1, 1), diff=False)],
             {"scale": 2, "sample_type": "nearest", "num_args": 2}),
        Grad([In((1, 2, 4, 4)), In((1, 2, 2, 2), diff=False), In((1, 2, 4, 4), diff=False)],
             {"scale": 2, "sample_type": "nearest", "num_args": 2, "multi_input_mode": "sum"}),
        Grad([In((1, 2, 6, 6)), In((1, 2, 3, 3)), In((2, 1, 4, 4))], dict(_BIL, num_args=2))],
    "SequenceMask": [Grad([In((3, 2, 2)), In((2,), diff=False, values=[1, 3])], {"use_sequence_length": True, "value": -1}),
                     Grad([In((2, 3)), In((2,), diff=False, values=[0, 2])], {"use_sequence_length": True, "axis": 1}),
                     Grad([In((2, 3))])],
    "SequenceReverse": [Grad([In((3, 2, 2)), In((2,), diff=False, values=[2, 3])], {"use_sequence_length": True}),
                        Grad([In((3, 2))])],
    "SequenceLast": [Grad([In((3, 2, 2)), In((2,), diff=False, values=[1, 3])], {"use_sequence_length": True}),
                     Grad([In((2, 3, 2)), In((2,), diff=False, values=[2, 3])], {"use_sequence_length": True, "axis": 1}),
                     Grad([In((3, 2))])],
    "_backward_SequenceLast": [Grad([In((2, 2)), In((3, 2, 2), diff=False), In((2,), diff=False, values=[1, 3])],
                                    {"use_sequence_length": True}),
                               Grad([In((2,)), In((2, 3), diff=False)], {"axis": 1})],
}
# The sampler's grid points stay away from pixel coordinates (its kinks): x = (g + 1) * (W - 1) / 2.
_SAMPLER_KINKS = sorted({2.0 * k / (e - 1) - 1 for e in (3, 4) for k in range(-2, e + 2)})
GRADIENTS.update({
    "GridGenerator": [Grad([In((2, 6))], {"transform_type": "affine", "target_shape": (3, 4)}),
                      Grad([In((1, 2, 3, 2))], {"transform_type": "warp"})],
    "_backward_GridGenerator": [Grad([In((2, 2, 3, 4))], {"transform_type": "affine", "target_shape": (3, 4)}),
                                Grad([In((1, 2, 3, 2))], {"transform_type": "warp"})],
    "BilinearSampler": [Grad([In((1, 2, 3, 4)), In((1, 2, 2, 3), domain=(-1.4, 1.4), kinks=_SAMPLER_KINKS, margin=0.04)]),
                        Grad([In((2, 1, 4, 3)), In((2, 2, 3, 2), domain=(-1.4, 1.4), kinks=_SAMPLER_KINKS, margin=0.04)])],
})
# Ops whose gradient has no gradient (asking for a second derivative is a clear error).
NO_SECOND_ORDER = {"BilinearSampler"}
NOT_A_DERIVATIVE = set()
# Ops without a gradient of their own, with a case of inputs.
NO_GRADIENT = {"_backward_BilinearSampler": Grad([In((1, 1, 2, 2)), In((1, 1, 3, 3)), In((1, 2, 2, 2), domain=(-0.9, 0.9))])}

FLOATS = ["float32", "float64"]


def tol(dtype):
    return {"float16": dict(rtol=2e-3, atol=2e-3), "float32": dict(rtol=1e-5, atol=1e-5)}.get(
        dtype, dict(rtol=1e-12, atol=1e-12))


def rand(shape, dtype="float64", seed=0, lo=-2.0, hi=2.0):
    return np.random.RandomState(seed).uniform(lo, hi, size=shape).astype(dtype)


def check(got, want, dtype):
    assert got.dtype == np.dtype(dtype), (got.dtype, dtype)
    assert got.shape == want.shape, (got.shape, want.shape)
    np.testing.assert_allclose(got.asnumpy().astype(np.float64), want, **tol(dtype))


# ---- Embedding -----------------------------------------------------------------------------------
def embed_rows(idx, n):
    r = np.trunc(np.nan_to_num(np.asarray(idx, np.float64), nan=0.0))
    return np.clip(r, 0, n - 1).astype(np.int64)


@pytest.mark.parametrize("dtype", FLOATS + ["float16"])
@pytest.mark.parametrize("itype", ["float32", "int32", "int64", "float64", "uint8"])
def test_embedding(dtype, itype):
    idx = np.array([[0, 3, 1], [7, 2, 2]]) if itype == "uint8" else np.array([[0, 3.9, -1], [7, 2, -0.5]])
    w = rand((4, 5), dtype, 1)
    y = mx.nd.Embedding(nd(idx, itype), nd(w), input_dim=4, output_dim=5, dtype=dtype)
    check(y, w.astype(np.float64)[embed_rows(idx.astype(itype), 4)], dtype)


@pytest.mark.parametrize("shape", [(1,), (0,), (2, 0), (3, 1, 2)])
def test_embedding_shapes(shape):
    idx = np.random.RandomState(0).randint(0, 3, shape).astype(np.float32)
    w = rand((3, 2), "float32", 2)
    y = mx.nd.Embedding(nd(idx), nd(w), input_dim=3, output_dim=2, sparse_grad=True)
    check(y, w.astype(np.float64)[idx.astype(np.int64)], "float32")


@pytest.mark.parametrize("dtype", FLOATS)
def test_embedding_gradient(dtype):
    idx = np.array([[0, 2, 2], [5, -3, 1]], np.float32)
    w = rand((3, 4), dtype, 3)
    g = rand((2, 3, 4), dtype, 4)
    _, (gi, gw) = grads_of(lambda i, v: mx.nd.Embedding(i, v, input_dim=3, output_dim=4, sparse_grad=True),
                           [nd(idx), nd(w)], g)
    want = np.zeros((3, 4))
    for j, r in enumerate(embed_rows(idx, 3).reshape(-1)):
        want[r] += g.reshape(-1, 4)[j]
    np.testing.assert_allclose(gw, want, **tol(dtype))
    assert gw.dtype == np.dtype(dtype) and not gi.any()
    bw = mx.nd._backward_Embedding(nd(g), nd(idx), input_dim=3, output_dim=4)
    check(bw, want, dtype)


def test_embedding_weight_dtype_and_errors():
    idx = nd(np.array([0, 1], np.int32))
    assert mx.nd.Embedding(idx, nd(rand((2, 3))), input_dim=2, output_dim=3).dtype == np.float64
    raises(lambda: mx.nd.Embedding(idx, nd(rand((2, 4))), input_dim=2, output_dim=3), "Embedding", "weight")
    raises(lambda: mx.nd.Embedding(idx, nd(rand((2, 3))), input_dim=2), "Embedding", "output_dim")
    raises(lambda: mx.nd.Embedding(idx, nd(np.ones((2, 3), np.int32)), input_dim=2, output_dim=3), "Embedding", "int32")
    raises(lambda: mx.nd.Embedding(idx, nd(rand((2, 3))), input_dim=0, output_dim=3), "Embedding", "input_dim")


def test_embedding_symbol_infers_weight():
    s = mx.sym.Embedding(mx.sym.Variable("d"), input_dim=7, output_dim=3, name="emb")
    args, outs, _ = s.infer_shape(d=(2, 5))
    assert dict(zip(s.list_arguments(), args))["emb_weight"] == (7, 3) and outs == [(2, 5, 3)]


# ---- Pad -------------------------------------------------------------------------------------------
def pad_ref(x, mode, pw, cv=0.0):
    pairs = [(pw[2 * i], pw[2 * i + 1]) for i in range(x.ndim)]
    if mode == "constant":
        return np.pad(x.astype(np.float64), pairs, mode="constant", constant_values=cv)
    return np.pad(x.astype(np.float64), pairs, mode="edge" if mode == "edge" else "reflect")


PAD_CASES = [((1, 1, 1, 1), (0, 0, 0, 0, 0, 0, 0, 0)), ((2, 3, 4, 5), (0, 0, 0, 0, 1, 2, 3, 0)),
             ((1, 2, 3, 3), (0, 0, 0, 0, 2, 2, 2, 2)), ((2, 1, 3, 4, 5), (0, 0, 0, 0, 1, 2, 0, 3, 4, 1)),
             ((1, 1, 2, 2, 2), (0, 0, 0, 0, 1, 1, 1, 1, 1, 1)), ((0, 2, 3, 3), (0, 0, 0, 0, 1, 1, 1, 1))]


@pytest.mark.parametrize("dtype", FLOATS + ["float16"])
@pytest.mark.parametrize("mode", ["constant", "edge", "reflect"])
@pytest.mark.parametrize("shape,pw", PAD_CASES)
def test_pad(shape, pw, mode, dtype):
    x = rand(shape, dtype, 5)
    kw = {"constant_value": 2.5} if mode == "constant" else {}
    y = mx.nd.Pad(nd(x), mode=mode, pad_width=pw, **kw)
    check(y, pad_ref(x, mode, pw, 2.5), dtype)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("mode", ["constant", "edge", "reflect"])
def test_pad_gradient(mode, dtype):
    x = rand((1, 2, 3, 4), dtype, 6)
    pw = (0, 0, 0, 0, 2, 1, 3, 2)
    g = rand((1, 2, 6, 9), dtype, 7)
    _, (gx,) = grads_of(lambda a: mx.nd.pad(a, mode=mode, pad_width=pw), [nd(x)], g)
    # The adjoint by brute force: d/dx of sum(g * pad(x)) one element at a time.
    want = np.zeros(x.shape)
    for j in range(x.size):
        e = np.zeros(x.size)
        e[j] = 1
        want.reshape(-1)[j] = np.sum(g * pad_ref(e.reshape(x.shape), mode, pw))
    np.testing.assert_allclose(gx, want, **tol(dtype))
    check(mx.nd._backward_Pad(nd(g), mode=mode, pad_width=pw), want, dtype)


def test_pad_errors():
    x = nd(rand((1, 1, 3, 3)))
    raises(lambda: mx.nd.Pad(nd(rand((3, 3))), mode="constant", pad_width=(1, 1, 1, 1)), "Pad", "4-D")
    raises(lambda: mx.nd.Pad(x, mode="constant", pad_width=(0, 0, 1, 1)), "Pad", "pad_width")
    raises(lambda: mx.nd.Pad(x, mode="constant", pad_width=(1, 0, 0, 0, 1, 1, 1, 1)), "Pad", "first 4")
    raises(lambda: mx.nd.Pad(x, mode="reflect", pad_width=(0, 0, 0, 0, 3, 0, 0, 0)), "Pad", "reflect", "(1, 1, 3, 3)")
    raises(lambda: mx.nd.Pad(x, mode="wrap", pad_width=(0,) * 8), "Pad", "mode")
    raises(lambda: mx.nd.Pad(x, mode="edge"), "Pad", "pad_width")
    raises(lambda: mx.nd.Pad(x, mode="edge", pad_width=(0, 0, 0, 0, -1, 0, 0, 0)), "Pad", "negative")
    raises(lambda: mx.nd.Pad(nd(np.ones((1, 1, 2, 2), np.int32)), mode="edge", pad_width=(0,) * 8), "Pad", "int32")


# ---- Crop ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", FLOATS + ["float16"])
def test_crop(dtype):
    x = rand((2, 3, 5, 6), dtype, 8)
    y = mx.nd.Crop(nd(x), num_args=1, h_w=(2, 4), offset=(3, 1))
    check(y, x[:, :, 3:5, 1:5].astype(np.float64), dtype)
    y = mx.nd.Crop(nd(x), h_w=(3, 3), center_crop=True)  # num_args from the inputs
    check(y, x[:, :, 1:4, 1:4].astype(np.float64), dtype)
    y = mx.nd.Crop(nd(x), nd(np.zeros((1, 1, 4, 4), dtype)), offset=(1, 2))
    check(y, x[:, :, 1:5, 2:6].astype(np.float64), dtype)
    y = mx.nd.Crop(nd(x), nd(np.zeros((7, 2, 2, 3), dtype)), center_crop=True, offset=(9, 9))
    check(y, x[:, :, 1:3, 1:4].astype(np.float64), dtype)
    check(mx.nd.Crop(nd(x), h_w=(5, 6)), x.astype(np.float64), dtype)  # the default offset (0, 0)


@pytest.mark.parametrize("dtype", FLOATS)
def test_crop_gradient(dtype):
    x, like = rand((1, 2, 4, 5), dtype, 9), rand((1, 1, 2, 3), dtype, 10)
    g = rand((1, 2, 2, 3), dtype, 11)
    _, (gx, gl) = grads_of(lambda a, b: mx.nd.Crop(a, b, offset=(2, 1)), [nd(x), nd(like)], g)
    want = np.zeros(x.shape)
    want[:, :, 2:4, 1:4] = g
    np.testing.assert_allclose(gx, want, **tol(dtype))
    assert not gl.any()
    check(mx.nd._backward_Crop(nd(g), nd(x), num_args=1, h_w=(2, 3), offset=(2, 1)), want, dtype)


def test_crop_errors():
    x = nd(rand((1, 1, 4, 4)))
    raises(lambda: mx.nd.Crop(x, h_w=(5, 2)), "Crop", "(5, 2)", "(1, 1, 4, 4)")
    raises(lambda: mx.nd.Crop(x, h_w=(2, 2), offset=(3, 0)), "Crop", "offset", "(3, 0)")
    raises(lambda: mx.nd.Crop(x), "Crop", "(0, 0)")
    raises(lambda: mx.nd.Crop(nd(rand((4, 4))), h_w=(2, 2)), "Crop", "4-D")
    raises(lambda: mx.nd.Crop(x, nd(rand((3, 3)))), "Crop", "crop_like")
    raises(lambda: mx.nd.Crop(x, x, x), "Crop", "num_args")


# ---- UpSampling -------------------------------------------------------------------------------------
def up_nearest(x, sh, sw):
    return np.repeat(np.repeat(x.astype(np.float64), sh, axis=2), sw, axis=3)


def deconv_ref(x, w, s):
    k, p = 2 * s - s % 2, -(-(s - 1) // 2)
    n, c, h, wd = x.shape
    full = np.zeros((n, c, (h - 1) * s + k, (wd - 1) * s + k))
    for iy in range(h):
        for ix in range(wd):
            full[:, :, iy * s:iy * s + k, ix * s:ix * s + k] += \
                x[:, :, iy, ix][:, :, None, None].astype(np.float64) * w[:, 0][None].astype(np.float64)
    return full[:, :, p:p + h * s, p:p + wd * s]


@pytest.mark.parametrize("dtype", FLOATS + ["float16"])
@pytest.mark.parametrize("shape,scale", [((1, 1, 1, 1), 1), ((2, 3, 2, 3), 2), ((1, 2, 3, 1), (3, 2)),
                                         ((1, 1, 2, 2), (1, 1, 2, 3)), ((0, 2, 2, 2), 2)])
def test_upsampling_nearest(shape, scale, dtype):
    x = rand(shape, dtype, 12)
    y = mx.nd.UpSampling(nd(x), scale=scale, sample_type="nearest")
    sh, sw = (scale, scale) if isinstance(scale, int) else scale[-2:]
    check(y, up_nearest(x, sh, sw), dtype)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("mode", ["concat", "sum"])
def test_upsampling_multi_input(mode, dtype):
    a, b, c = rand((2, 2, 2, 3), dtype, 13), rand((2, 2 if mode == "sum" else 1, 4, 6), dtype, 14), \
        rand((2, 2 if mode == "sum" else 3, 1, 1), dtype, 15)
    y = mx.nd.UpSampling(nd(a), nd(b), nd(c), scale=2, sample_type="nearest", multi_input_mode=mode)
    parts = [up_nearest(a, 2, 2), up_nearest(b, 1, 1), up_nearest(c, 4, 6)]
    want = sum(parts) if mode == "sum" else np.concatenate(parts, axis=1)
    check(y, want, dtype)
    g = rand(want.shape, dtype, 16)
    _, grads = grads_of(lambda p, q, r: mx.nd.UpSampling(p, q, r, scale=2, sample_type="nearest",
                                                         multi_input_mode=mode), [nd(a), nd(b), nd(c)], g)
    c0 = 0
    for x, (sh, sw), gx in zip((a, b, c), [(2, 2), (1, 1), (4, 6)], grads):
        gk = g if mode == "sum" else g[:, c0:c0 + x.shape[1]]
        c0 += x.shape[1]
        want_k = gk.reshape(x.shape[0], x.shape[1], x.shape[2], sh, x.shape[3], sw).sum(axis=(3, 5))
        np.testing.assert_allclose(gx, want_k, **tol(dtype))


@pytest.mark.parametrize("dtype", FLOATS + ["float16"])
@pytest.mark.parametrize("shape,s", [((1, 1, 3, 3), 2), ((2, 3, 2, 4), 2), ((1, 2, 3, 2), 3), ((1, 1, 2, 2), 4),
                                     ((1, 2, 1, 1), 1)])
def test_upsampling_bilinear(shape, s, dtype):
    x = rand(shape, dtype, 17)
    k = 2 * s - s % 2
    w = rand((shape[1], 1, k, k), dtype, 18)
    y = mx.nd.UpSampling(nd(x), nd(w), scale=s, sample_type="bilinear", num_filter=shape[1])
    check(y, deconv_ref(x, w, s), dtype)


def test_upsampling_bilinear_mxnet_example():
    y = mx.nd.UpSampling(nd(np.ones((1, 1, 3, 3), np.float32)), nd(np.ones((1, 1, 4, 4), np.float32)),
                         scale=2, sample_type="bilinear", num_filter=1)
    row = np.array([1, 2, 2, 2, 2, 1.0])
    np.testing.assert_allclose(y.asnumpy()[0, 0], np.outer(row, row))


@pytest.mark.parametrize("dtype", FLOATS)
def test_upsampling_bilinear_gradient(dtype):
    x, w = rand((2, 2, 3, 2), dtype, 19), rand((2, 1, 4, 4), dtype, 20)
    g = rand((2, 2, 6, 4), dtype, 21)
    _, (gx, gw) = grads_of(lambda a, b: mx.nd.UpSampling(a, b, scale=2, sample_type="bilinear", num_filter=2),
                           [nd(x), nd(w)], g)
    # deconv is linear in x and in w: the adjoints by brute force.
    want_x = np.array([np.sum(g * deconv_ref(e.reshape(x.shape), w, 2)) for e in np.eye(x.size)]).reshape(x.shape)
    want_w = np.array([np.sum(g * deconv_ref(x, e.reshape(w.shape), 2)) for e in np.eye(w.size)]).reshape(w.shape)
    np.testing.assert_allclose(gx, want_x, **tol(dtype))
    np.testing.assert_allclose(gw, want_w, **tol(dtype))


def test_upsampling_symbol_infers_weight():
    s = mx.sym.UpSampling(mx.sym.Variable("d"), mx.sym.Variable("w"), scale=3, sample_type="bilinear",
                          num_filter=4, num_args=2)
    args, outs, _ = s.infer_shape(d=(2, 4, 5, 6))
    assert args[1] == (4, 1, 5, 5) and outs == [(2, 4, 15, 18)]
    # The weight made for a missing input is named like MXNet's (and num_args does not matter).
    s = mx.sym.UpSampling(mx.sym.Variable("d"), scale=2, sample_type="bilinear", num_filter=3, name="up")
    assert s.list_arguments() == ["d", "up_weight"]
    args, outs, _ = s.infer_shape(d=(1, 3, 4, 4))
    assert args[1] == (3, 1, 4, 4) and outs == [(1, 3, 8, 8)]


def test_upsampling_errors():
    x = nd(rand((1, 2, 2, 2)))
    raises(lambda: mx.nd.UpSampling(x, sample_type="nearest"), "UpSampling", "scale")
    raises(lambda: mx.nd.UpSampling(x, scale=2), "UpSampling", "sample_type")
    raises(lambda: mx.nd.UpSampling(x, scale=0, sample_type="nearest"), "UpSampling", "scale")
    raises(lambda: mx.nd.UpSampling(nd(rand((2, 2))), scale=2, sample_type="nearest"), "UpSampling", "4-D")
    raises(lambda: mx.nd.UpSampling(x, nd(rand((1, 1, 3, 3))), scale=2, sample_type="nearest"),
           "UpSampling", "does not divide")
    raises(lambda: mx.nd.UpSampling(x, nd(rand((1, 3, 2, 2))), scale=2, sample_type="nearest",
                                    multi_input_mode="sum"), "UpSampling", "sum")
    raises(lambda: mx.nd.UpSampling(x, nd(rand((2, 1, 4, 4))), scale=2, sample_type="bilinear", num_filter=3),
           "UpSampling", "num_filter")
    raises(lambda: mx.nd.UpSampling(x, nd(rand((2, 1, 3, 3))), scale=2, sample_type="bilinear", num_filter=2),
           "UpSampling", "weight")
    raises(lambda: mx.nd.UpSampling(x, nd(rand((2, 1, 4, 4))), scale=(2, 3), sample_type="bilinear",
                                    num_filter=2), "UpSampling", "same scale")


# ---- Sequence ops ---------------------------------------------------------------------------------
def seq_view(x, axis):
    """(T, B, ...) view of x and its inverse."""
    return (x, lambda y: y) if axis == 0 else (np.swapaxes(x, 0, 1), lambda y: np.swapaxes(y, 0, 1))


def mask_ref(x, lens, axis, value):
    v, back = seq_view(x.astype(np.float64), axis)
    v = v.copy()
    for b, n in enumerate(lens):
        v[max(int(n), 0):, b] = value
    return back(v)


def reverse_ref(x, lens):
    y = x.astype(np.float64).copy()
    for b, n in enumerate(lens):
        y[:int(n), b] = x[:int(n), b][::-1]
    return y


def last_ref(x, lens, axis):
    v, _ = seq_view(x.astype(np.float64), axis)
    return np.stack([v[int(n) - 1, b] for b, n in enumerate(lens)])


SEQ_SHAPES = [(1, 1), (4, 3), (3, 2, 5), (2, 3, 2, 2)]


@pytest.mark.parametrize("dtype", FLOATS + ["float16"])
@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize("shape", SEQ_SHAPES)
def test_sequence_mask(shape, axis, dtype):
    x = rand(shape, dtype, 22)
    t, b = shape[axis], shape[1 - axis]
    lens = np.random.RandomState(1).randint(0, t + 2, b).astype(np.float32)
    y = mx.nd.SequenceMask(nd(x), nd(lens), use_sequence_length=True, value=-7, axis=axis)
    check(y, mask_ref(x, lens, axis, -7), dtype)
    check(mx.nd.SequenceMask(nd(x), axis=axis), x.astype(np.float64), dtype)


@pytest.mark.parametrize("dtype", FLOATS + ["float16"])
@pytest.mark.parametrize("ltype", ["float32", "int32"])
@pytest.mark.parametrize("shape", SEQ_SHAPES)
def test_sequence_reverse(shape, ltype, dtype):
    x = rand(shape, dtype, 23)
    lens = np.random.RandomState(2).randint(0, shape[0] + 1, shape[1])
    y = mx.nd.SequenceReverse(nd(x), nd(lens, ltype), use_sequence_length=True)
    check(y, reverse_ref(x, lens), dtype)
    check(mx.nd.SequenceReverse(nd(x)), x[::-1].astype(np.float64), dtype)


@pytest.mark.parametrize("dtype", FLOATS + ["float16"])
@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize("shape", SEQ_SHAPES)
def test_sequence_last(shape, axis, dtype):
    x = rand(shape, dtype, 24)
    t, b = shape[axis], shape[1 - axis]
    lens = np.random.RandomState(3).randint(1, t + 1, b).astype(np.float64) + 0.5
    y = mx.nd.SequenceLast(nd(x), nd(lens), use_sequence_length=True, axis=axis)
    check(y, last_ref(x, lens, axis), dtype)
    check(mx.nd.SequenceLast(nd(x), axis=axis), last_ref(x, [t] * b, axis), dtype)


@pytest.mark.parametrize("dtype", FLOATS)
def test_sequence_gradients(dtype):
    x = rand((4, 3, 2), dtype, 25)
    lens = np.array([2, 4, 0], np.float32)
    g = rand((4, 3, 2), dtype, 26)
    _, (gx, gl) = grads_of(lambda a, n: mx.nd.SequenceMask(a, n, use_sequence_length=True, value=3),
                           [nd(x), nd(lens)], g)
    np.testing.assert_allclose(gx, mask_ref(g, lens, 0, 0), **tol(dtype))
    assert not gl.any()
    _, (gx, _) = grads_of(lambda a, n: mx.nd.SequenceReverse(a, n, use_sequence_length=True), [nd(x), nd(lens)], g)
    np.testing.assert_allclose(gx, reverse_ref(g, lens), **tol(dtype))
    lens = np.array([2, 4, 1], np.float32)
    g2 = rand((3, 2), dtype, 27)
    _, (gx, _) = grads_of(lambda a, n: mx.nd.SequenceLast(a, n, use_sequence_length=True), [nd(x), nd(lens)], g2)
    want = np.zeros(x.shape)
    for b, n in enumerate(lens):
        want[int(n) - 1, b] = g2[b]
    np.testing.assert_allclose(gx, want, **tol(dtype))
    check(mx.nd._backward_SequenceLast(nd(g2), nd(x), nd(lens), use_sequence_length=True), want, dtype)


def test_sequence_errors():
    x = nd(rand((3, 2)))
    raises(lambda: mx.nd.SequenceLast(x, nd([1.0, 4.0]), use_sequence_length=True), "SequenceLast", "4", "[1, 3]")
    raises(lambda: mx.nd.SequenceLast(x, nd([0.0, 1.0]), use_sequence_length=True), "SequenceLast", "sequence_length[0]")
    raises(lambda: mx.nd.SequenceReverse(x, nd([1.0, 5.0]), use_sequence_length=True), "SequenceReverse", "5")
    raises(lambda: mx.nd.SequenceReverse(x, axis=1), "SequenceReverse", "axis")
    raises(lambda: mx.nd.SequenceMask(x, axis=2), "SequenceMask", "axis")
    raises(lambda: mx.nd.SequenceMask(nd(rand((3,)))), "SequenceMask", "2 axes")
    raises(lambda: mx.nd.SequenceMask(x, nd([1.0, 2.0, 3.0]), use_sequence_length=True), "SequenceMask",
           "sequence_length")
    raises(lambda: mx.nd.SequenceMask(nd(np.ones((3, 2), np.int32))), "SequenceMask", "int32")


def test_sequence_symbol_arguments():
    s = mx.sym.SequenceMask(mx.sym.Variable("d"), mx.sym.Variable("n"), use_sequence_length=True, name="m")
    assert s.list_arguments() == ["d", "n"]
    args, outs, _ = s.infer_shape(d=(5, 3, 2))
    assert args == [(5, 3, 2), (3,)] and outs == [(5, 3, 2)]
    s = mx.sym.SequenceLast(mx.sym.Variable("d"), axis=1)
    assert s.infer_shape(d=(4, 6, 2))[1] == [(4, 2)]


# ---- GridGenerator and BilinearSampler ------------------------------------------------------------
def grid_ref(theta, h, w):
    x = -1 + 2.0 * np.arange(w) / (w - 1)
    y = -1 + 2.0 * np.arange(h) / (h - 1)
    base = np.stack([np.tile(x, h), np.repeat(y, w), np.ones(h * w)])  # (3, H*W)
    return (theta.astype(np.float64).reshape(-1, 2, 3) @ base).reshape(-1, 2, h, w)


def warp_ref(flow):
    n, _, h, w = flow.shape
    f = flow.astype(np.float64)
    return np.stack([(f[:, 0] + np.arange(w)) / ((w - 1) / 2.0) - 1,
                     (f[:, 1] + np.arange(h)[:, None]) / ((h - 1) / 2.0) - 1], axis=1)


def sampler_ref(data, grid):
    n, c, h, w = data.shape
    out = np.zeros((n, c) + grid.shape[2:])
    d = data.astype(np.float64)
    for b in range(n):
        for i in range(grid.shape[2]):
            for j in range(grid.shape[3]):
                xr = (float(grid[b, 0, i, j]) + 1) * (w - 1) / 2
                yr = (float(grid[b, 1, i, j]) + 1) * (h - 1) / 2
                x0, y0 = int(np.floor(xr)), int(np.floor(yr))
                for yy, wy in ((y0, 1 - (yr - y0)), (y0 + 1, yr - y0)):
                    for xx, wx in ((x0, 1 - (xr - x0)), (x0 + 1, xr - x0)):
                        if 0 <= yy < h and 0 <= xx < w:
                            out[b, :, i, j] += d[b, :, yy, xx] * wy * wx
    return out


@pytest.mark.parametrize("dtype", FLOATS + ["float16"])
@pytest.mark.parametrize("n,hw", [(1, (2, 2)), (3, (3, 5)), (2, (4, 2))])
def test_grid_generator_affine(n, hw, dtype):
    theta = rand((n, 6), dtype, 30)
    y = mx.nd.GridGenerator(nd(theta), transform_type="affine", target_shape=hw)
    check(y, grid_ref(theta, *hw), dtype)


@pytest.mark.parametrize("dtype", FLOATS + ["float16"])
@pytest.mark.parametrize("shape", [(1, 2, 2, 2), (2, 2, 3, 4)])
def test_grid_generator_warp(shape, dtype):
    flow = rand(shape, dtype, 31)
    y = mx.nd.GridGenerator(nd(flow), transform_type="warp", target_shape=(9, 9))  # ignored
    check(y, warp_ref(flow), dtype)


@pytest.mark.parametrize("dtype", FLOATS)
def test_grid_generator_gradient(dtype):
    theta, g = rand((2, 6), dtype, 32), rand((2, 2, 3, 4), dtype, 33)
    _, (gt,) = grads_of(lambda t: mx.nd.GridGenerator(t, transform_type="affine", target_shape=(3, 4)), [nd(theta)], g)
    want = np.array([np.sum(g * grid_ref(np.eye(12)[k].reshape(2, 6), 3, 4)) for k in range(12)])
    np.testing.assert_allclose(gt, want.reshape(2, 6), **tol(dtype))
    flow, gw = rand((1, 2, 3, 5), dtype, 34), rand((1, 2, 3, 5), dtype, 35)
    _, (gf,) = grads_of(lambda f: mx.nd.GridGenerator(f, transform_type="warp"), [nd(flow)], gw)
    # x is scaled by 1 / ((5 - 1) / 2), y by 1 / ((3 - 1) / 2).
    np.testing.assert_allclose(gf, gw / np.array([2.0, 1.0])[None, :, None, None], **tol(dtype))
    check(mx.nd._backward_GridGenerator(nd(gw), transform_type="warp"), gw / np.array([2.0, 1.0])[None, :, None, None], dtype)


def test_grid_generator_errors():
    raises(lambda: mx.nd.GridGenerator(nd(rand((2, 5))), transform_type="affine", target_shape=(2, 2)),
           "GridGenerator", "(2, 5)")
    raises(lambda: mx.nd.GridGenerator(nd(rand((2, 6))), transform_type="affine"), "GridGenerator", "target_shape")
    raises(lambda: mx.nd.GridGenerator(nd(rand((2, 3, 2, 2))), transform_type="warp"), "GridGenerator", "flow")
    raises(lambda: mx.nd.GridGenerator(nd(rand((2, 6))), transform_type="shift"), "GridGenerator", "transform_type")


def test_bilinear_sampler_mxnet_examples():
    data = nd(np.array([[[[1, 4, 3, 6], [1, 8, 8, 9], [0, 4, 1, 5], [1, 0, 1, 3]]]], np.float32))
    grid = mx.nd.GridGenerator(nd(np.array([[2, 0, 0, 0, 2, 0]], np.float32)), transform_type="affine",
                               target_shape=(4, 4))
    want = np.array([[0, 0, 0, 0], [0, 3.5, 6.5, 0], [0, 1.25, 2.5, 0], [0, 0, 0, 0]])
    np.testing.assert_allclose(mx.nd.BilinearSampler(data, grid).asnumpy()[0, 0], want, atol=1e-6)
    flow = np.zeros((1, 2, 4, 4), np.float32)
    flow[0, 0] = 1
    grid = mx.nd.GridGenerator(nd(flow), transform_type="warp")
    want = np.array([[4, 3, 6, 0], [8, 8, 9, 0], [4, 1, 5, 0], [0, 1, 3, 0]])
    np.testing.assert_allclose(mx.nd.BilinearSampler(data, grid, cudnn_off=True).asnumpy()[0, 0], want, atol=1e-5)


@pytest.mark.parametrize("dtype", FLOATS + ["float16"])
@pytest.mark.parametrize("dshape,gshape", [((1, 1, 1, 1), (1, 2, 1, 1)), ((2, 3, 4, 5), (2, 2, 3, 2)),
                                           ((1, 2, 3, 3), (1, 2, 5, 4)), ((0, 2, 3, 3), (0, 2, 2, 2))])
def test_bilinear_sampler(dshape, gshape, dtype):
    data, grid = rand(dshape, dtype, 35), rand(gshape, dtype, 36, -1.6, 1.6)
    check(mx.nd.BilinearSampler(nd(data), nd(grid)), sampler_ref(data, grid), dtype)


@pytest.mark.parametrize("dtype", FLOATS)
def test_bilinear_sampler_gradient(dtype):
    data, grid = rand((2, 2, 3, 4), dtype, 37), rand((2, 2, 3, 3), dtype, 38, -1.3, 1.3)
    g = rand((2, 2, 3, 3), dtype, 39)
    _, (gd, gg) = grads_of(lambda a, b: mx.nd.BilinearSampler(a, b), [nd(data), nd(grid)], g)
    # Linear in data: the adjoint by brute force; the grid by central differences in float64.
    want_d = np.array([np.sum(g * sampler_ref(e.reshape(data.shape), grid)) for e in np.eye(data.size)])
    np.testing.assert_allclose(gd, want_d.reshape(data.shape), **tol(dtype))
    gr = grid.astype(np.float64)
    want_g = np.zeros(grid.size)
    for k in range(grid.size):
        e = np.eye(grid.size)[k].reshape(grid.shape) * 1e-6
        want_g[k] = np.sum(g * (sampler_ref(data, gr + e) - sampler_ref(data, gr - e))) / 2e-6
    np.testing.assert_allclose(gg, want_g.reshape(grid.shape), rtol=1e-4, atol=1e-4)
    bd, bg = mx.nd._backward_BilinearSampler(nd(g), nd(data), nd(grid))
    np.testing.assert_allclose(bd.asnumpy(), gd, rtol=1e-12)
    np.testing.assert_allclose(bg.asnumpy(), gg, rtol=1e-12)


def test_bilinear_sampler_errors():
    raises(lambda: mx.nd.BilinearSampler(nd(rand((1, 2, 3, 3))), nd(rand((1, 3, 2, 2)))), "BilinearSampler", "grid")
    raises(lambda: mx.nd.BilinearSampler(nd(rand((2, 2, 3, 3))), nd(rand((1, 2, 2, 2)))), "BilinearSampler",
           "(2, 2, 3, 3)")
    raises(lambda: mx.nd.BilinearSampler(nd(rand((2, 3, 3))), nd(rand((2, 2, 2, 2)))), "BilinearSampler")


# ---- Accumulating gradients (Req::kAdd) and the remaining parameters ------------------------------
@pytest.mark.parametrize("dtype", FLOATS)
def test_gradients_accumulate(dtype):
    """Two uses of one input sum their gradients; grad_req='add' adds across backward calls."""
    x, lens, g = rand((4, 3, 2), dtype, 40), np.array([2, 4, 1], np.float32), rand((4, 3, 2), dtype, 41)
    _, (gx, _) = grads_of(lambda a, n: mx.nd.SequenceMask(a, n, use_sequence_length=True)
                          + mx.nd.SequenceReverse(a, n, use_sequence_length=True), [nd(x), nd(lens)], g)
    np.testing.assert_allclose(gx, mask_ref(g, lens, 0, 0) + reverse_ref(g, lens), **tol(dtype))
    idx, w = nd(np.array([1, 1, 0], np.float32)), nd(rand((2, 3), dtype, 42))
    w.attach_grad(grad_req="add")
    for _ in range(2):
        with mx.autograd.record():
            y = mx.nd.Embedding(idx, w, input_dim=2, output_dim=3)
        y.backward(nd(np.ones((3, 3), dtype)))
    np.testing.assert_allclose(w.grad.asnumpy(), [[2] * 3, [4] * 3], **tol(dtype))


def test_upsampling_workspace_is_accepted():
    x = rand((1, 1, 2, 2), "float32", 43)
    y = mx.nd.UpSampling(nd(x), scale=2, sample_type="nearest", num_args=1, workspace=1024, num_filter=0)
    check(y, up_nearest(x, 2, 2), "float32")


def test_symbolic_graph_matches_imperative():
    """A bound graph of these ops (weight shape inferred from the data) against autograd."""
    def net(F, idx, w=None):
        e = F.Embedding(idx, w, input_dim=5, output_dim=4, name="emb") if w is not None else \
            F.Embedding(idx, input_dim=5, output_dim=4, name="emb")
        y = F.Pad(F.reshape(e, shape=(1, 2, 3, 4)), mode="edge", pad_width=(0, 0, 0, 0, 1, 1, 1, 1))
        y = F.Crop(F.UpSampling(y, scale=2, sample_type="nearest"), h_w=(4, 5), offset=(1, 2))
        return F.SequenceReverse(F.reshape(y, shape=(2, 4, 5)))
    iv = np.array([[0, 4, 2], [9, 1, 1]], np.float64)
    wv = rand((5, 4), "float64", 44)
    g = rand((2, 4, 5), "float64", 45)
    sym = net(mx.sym, mx.sym.Variable("idx"))
    ctx = mx.cpu() if mx.context.current_context().device_type == "cpu" else mx.gpu(0)
    exe = sym.simple_bind(ctx, idx=(2, 3), type_dict={"idx": "float64", "emb_weight": "float64"})
    assert exe.arg_dict["emb_weight"].shape == (5, 4)
    exe.arg_dict["emb_weight"][:] = wv
    out = exe.forward(is_train=True, idx=iv)[0]
    exe.backward(out_grads=[nd(g)])
    y, (_, gw) = grads_of(lambda i, w: net(mx.nd, i, w), [nd(iv), nd(wv)], g)
    np.testing.assert_allclose(out.asnumpy(), y.asnumpy(), rtol=1e-12)
    np.testing.assert_allclose(exe.grad_dict["emb_weight"].asnumpy(), gw, rtol=1e-12)


def test_upsampling_input_names():
    """nearest: data alone, or MXNet's arg0, arg1, ... for several inputs; bilinear: data and
    weight (the variables a symbol makes are named after them)."""
    x = mx.sym.var("x")
    assert mx.sym.UpSampling(x, scale=2, sample_type="nearest", name="u").list_arguments() == ["x"]
    s = mx.sym.UpSampling(x, scale=2, sample_type="nearest", num_args=2, name="u")
    assert s.list_arguments() == ["x", "u_arg1"]
    s = mx.sym.UpSampling(x, scale=2, sample_type="bilinear", num_filter=3, name="u")
    assert s.list_arguments() == ["x", "u_weight"]
