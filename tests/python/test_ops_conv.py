"""Convolution, Pooling and BatchNorm (and their gradient ops) against direct-loop NumPy
references: strides, pads, dilation, groups (depthwise too), no_bias, 1-D and 2-D, batch 1,
non-square shapes, pooling conventions valid and full, global pooling, BatchNorm in training and
inference mode with the moving-statistics update, fix_gamma and other axes; error messages."""
import itertools
import os

import numpy as np
import pytest

import brass as mx
from grad_table import Grad, In
from nn_testing import nd, raises

# Operators this file tests (read by the completeness test in test_op_table.py).
OPS_COVERED = {"Convolution", "_backward_Convolution_data", "_backward_Convolution_weight", "Deconvolution",
               "_backward_Deconvolution_data", "_backward_Deconvolution_weight",
               "Pooling", "_backward_Pooling", "BatchNorm", "_backward_BatchNorm"}

FLOATS = ["float32", "float64"]
TOL = {"float32": dict(rtol=1e-4, atol=1e-4), "float64": dict(rtol=1e-10, atol=1e-10),
       "float16": dict(rtol=2e-2, atol=2e-2)}


def rand(shape, dtype="float32", seed=0, lo=-1.0, hi=1.0):
    return np.random.default_rng(seed).uniform(lo, hi, shape).astype(dtype)


def close(got, want, dtype):
    got = got.asnumpy() if hasattr(got, "asnumpy") else got
    assert got.shape == want.shape, (got.shape, want.shape)
    assert got.dtype == np.dtype(dtype), (got.dtype, dtype)
    np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), **TOL[dtype])


# ---- NumPy references -----------------------------------------------------------------------


def _as2d(x, kernel, stride, dilate, pad):
    """1-D arguments as 2-D with height 1."""
    if len(kernel) == 1:
        return (x[:, :, None, :], (1,) + tuple(kernel), (1,) + tuple(stride), (1,) + tuple(dilate),
                (0,) + tuple(pad))
    return x, tuple(kernel), tuple(stride), tuple(dilate), tuple(pad)


def conv_ref(x, w, b, kernel, stride=None, dilate=None, pad=None, num_group=1):
    """Direct loops over output positions and kernel taps (float64)."""
    nd_ = len(kernel)
    stride = stride or (1,) * nd_
    dilate = dilate or (1,) * nd_
    pad = pad or (0,) * nd_
    one_d = nd_ == 1
    x, k, s, d, p = _as2d(x.astype(np.float64), kernel, stride, dilate, pad)
    w = w.astype(np.float64)
    if one_d:
        w = w[:, :, None, :]
    n, c, h, wd = x.shape
    f = w.shape[0]
    xp = np.zeros((n, c, h + 2 * p[0], wd + 2 * p[1]))
    xp[:, :, p[0]:p[0] + h, p[1]:p[1] + wd] = x
    oh = (h + 2 * p[0] - d[0] * (k[0] - 1) - 1) // s[0] + 1
    ow = (wd + 2 * p[1] - d[1] * (k[1] - 1) - 1) // s[1] + 1
    out = np.zeros((n, f, oh, ow))
    cg, fg = c // num_group, f // num_group
    for gi in range(num_group):
        xs = xp[:, gi * cg:(gi + 1) * cg]
        ws = w[gi * fg:(gi + 1) * fg]
        for ki in range(k[0]):
            for kj in range(k[1]):
                patch = xs[:, :, ki * d[0]:ki * d[0] + s[0] * (oh - 1) + 1:s[0],
                           kj * d[1]:kj * d[1] + s[1] * (ow - 1) + 1:s[1]]
                out[:, gi * fg:(gi + 1) * fg] += np.einsum("nchw,fc->nfhw", patch, ws[:, :, ki, kj])
    if b is not None:
        out += b.astype(np.float64)[None, :, None, None]
    return out[:, :, 0, :] if one_d else out


def conv_ref_nd(x, w, b, kernel, stride=None, dilate=None, pad=None, num_group=1):
    """Direct loops over kernel taps for 1-D, 2-D or 3-D data (float64)."""
    nd_ = len(kernel)
    s, d, p = tuple(stride or (1,) * nd_), tuple(dilate or (1,) * nd_), tuple(pad or (0,) * nd_)
    x, w = x.astype(np.float64), w.astype(np.float64)
    n, c = x.shape[:2]
    f = w.shape[0]
    xp = np.pad(x, [(0, 0), (0, 0)] + [(q, q) for q in p])
    o = [(x.shape[2 + i] + 2 * p[i] - d[i] * (kernel[i] - 1) - 1) // s[i] + 1 for i in range(nd_)]
    out = np.zeros((n, f) + tuple(o))
    cg, fg = c // num_group, f // num_group
    for gi in range(num_group):
        xs, ws = xp[:, gi * cg:(gi + 1) * cg], w[gi * fg:(gi + 1) * fg]
        for taps in itertools.product(*[range(k) for k in kernel]):
            sl = tuple(slice(t * d[i], t * d[i] + s[i] * (o[i] - 1) + 1, s[i]) for i, t in enumerate(taps))
            patch = xs[(slice(None), slice(None)) + sl]
            out[:, gi * fg:(gi + 1) * fg] += np.tensordot(patch, ws[(slice(None), slice(None)) + taps], ([1], [1])
                                                          ).transpose([0, nd_ + 1] + list(range(1, nd_ + 1)))
    if b is not None:
        out += b.astype(np.float64).reshape((1, -1) + (1,) * nd_)
    return out


def deconv_ref(x, w, b, kernel, stride=None, dilate=None, pad=None, adj=None, target_shape=None, num_group=1):
    """Scatter of every input element through every kernel tap, then the pad cropped (float64)."""
    nd_ = len(kernel)
    s, d = tuple(stride or (1,) * nd_), tuple(dilate or (1,) * nd_)
    sp = x.shape[2:]
    full = [s[i] * (sp[i] - 1) + d[i] * (kernel[i] - 1) + 1 for i in range(nd_)]
    if target_shape:
        tot = [full[i] - target_shape[i] for i in range(nd_)]
        p, a = [(t + 1) // 2 for t in tot], [t % 2 for t in tot]
    else:
        p, a = list(pad or (0,) * nd_), list(adj or (0,) * nd_)
    x, w = x.astype(np.float64), w.astype(np.float64)
    n, cin = x.shape[:2]
    fg = w.shape[1]
    f = fg * num_group
    cg = cin // num_group
    yf = np.zeros((n, f) + tuple(fu + ai for fu, ai in zip(full, a)))
    for gi in range(num_group):
        xs, ws = x[:, gi * cg:(gi + 1) * cg], w[gi * cg:(gi + 1) * cg]
        for taps in itertools.product(*[range(k) for k in kernel]):
            contrib = np.tensordot(xs, ws[(slice(None), slice(None)) + taps], ([1], [0]))  # n, *sp, fg
            contrib = np.moveaxis(contrib, -1, 1)
            sl = tuple(slice(t * d[i], t * d[i] + s[i] * (sp[i] - 1) + 1, s[i]) for i, t in enumerate(taps))
            yf[(slice(None), slice(gi * fg, (gi + 1) * fg)) + sl] += contrib
    o = [full[i] - 2 * p[i] + a[i] for i in range(nd_)]
    y = yf[(slice(None), slice(None)) + tuple(slice(p[i], p[i] + o[i]) for i in range(nd_))]
    if b is not None:
        y = y + b.astype(np.float64).reshape((1, -1) + (1,) * nd_)
    return y


def pool_ref(x, kernel=None, pool_type="max", stride=None, pad=None, convention="valid",
             global_pool=False, count_include_pad=True, p_value=None, layout=None):
    """Direct loops over windows of 1-D, 2-D or 3-D data, MXNet's rules (a window is clipped to
    x + pad for the avg count; max ignores the padding; lp is (sum x^p)^(1/p))."""
    last = layout is not None and layout.endswith("C")
    x = x.astype(np.float64)
    if last:
        x = np.moveaxis(x, -1, 1)
    sp = x.shape[2:]
    nd_ = len(sp)
    if global_pool:
        k, s, p = sp, (1,) * nd_, (0,) * nd_
    else:
        k, s, p = tuple(kernel), tuple(stride or (1,) * nd_), tuple(pad or (0,) * nd_)
    outs = []
    for i in range(nd_):
        span = sp[i] + 2 * p[i] - k[i]
        outs.append(1 if global_pool else span // s[i] + 1 if convention == "valid"
                    else -(-span // s[i]) + 1 if convention == "full" else -(-sp[i] // s[i]))
    out = np.zeros(x.shape[:2] + tuple(outs))
    for idx in itertools.product(*[range(o) for o in outs]):
        sl, padded = [], 1
        for i, o in enumerate(idx):
            st = o * s[i] - p[i]
            en = min(st + k[i], sp[i] + p[i])
            padded *= en - st
            sl.append(slice(max(st, 0), min(en, sp[i])))
        win = x[(slice(None), slice(None)) + tuple(sl)].reshape(x.shape[0], x.shape[1], -1)
        if pool_type == "max":
            v = win.max(axis=2) if win.shape[2] else np.full(x.shape[:2], -np.inf)
        elif pool_type == "sum":
            v = win.sum(axis=2)
        elif pool_type == "avg":
            v = win.sum(axis=2) / (padded if count_include_pad else win.shape[2])
        else:
            t = (win ** p_value).sum(axis=2)
            v = t if p_value == 1 else np.sqrt(t) if p_value == 2 else np.cbrt(t)
        out[(slice(None), slice(None)) + idx] = v
    return np.moveaxis(out, 1, -1) if last else out


# ---- Convolution ----------------------------------------------------------------------------

CONV_CASES = [
    # data shape, num_filter, params
    ((2, 3, 7, 7), 4, dict(kernel=(3, 3))),
    ((2, 3, 7, 6), 4, dict(kernel=(3, 3), stride=(2, 2), pad=(1, 1))),
    ((1, 2, 9, 8), 3, dict(kernel=(3, 2), stride=(2, 1), pad=(2, 0), dilate=(2, 3))),
    ((2, 4, 5, 5), 6, dict(kernel=(3, 3), pad=(1, 1), num_group=2)),
    ((2, 4, 6, 5), 4, dict(kernel=(3, 3), pad=(1, 1), num_group=4)),  # depthwise
    ((2, 4, 6, 5), 8, dict(kernel=(3, 3), stride=(2, 2), pad=(1, 1), num_group=4)),
    ((3, 5, 4, 6), 7, dict(kernel=(1, 1))),
    ((2, 6, 4, 6), 4, dict(kernel=(1, 1), num_group=2, no_bias=True)),
    ((2, 3, 8, 8), 5, dict(kernel=(1, 1), stride=(2, 2))),
    ((1, 3, 11, 13), 2, dict(kernel=(5, 5), stride=(3, 4), pad=(2, 1))),
    ((2, 3, 5, 5), 2, dict(kernel=(5, 5))),  # output 1x1
    ((2, 3, 9), 4, dict(kernel=(3,))),  # 1-D
    ((1, 4, 10), 2, dict(kernel=(3,), stride=(2,), pad=(1,), dilate=(2,), num_group=2)),
    ((2, 3, 6, 6), 4, dict(kernel=(3, 3), no_bias=True, layout="NCHW")),
    # depthwise rows: 8-wide blocks and a tail, stride 3 with dilation and a multiplier,
    # asymmetric kernel, 1-D with padding past the kernel
    ((1, 3, 5, 21), 3, dict(kernel=(3, 3), pad=(1, 1), num_group=3)),
    ((2, 2, 9, 19), 4, dict(kernel=(3, 5), stride=(3, 3), pad=(2, 3), dilate=(2, 2), num_group=2)),
    ((1, 4, 12), 4, dict(kernel=(5,), stride=(2,), pad=(4,), num_group=4)),
    ((1, 2, 3, 17), 2, dict(kernel=(1, 3), stride=(1, 2), num_group=2, no_bias=True)),
    # 3x3 depthwise rows of 32 and more (one run per row) and shorter (the plane as one run),
    # strided, dilated, with a multiplier
    ((1, 3, 5, 37), 3, dict(kernel=(3, 3), pad=(1, 1), num_group=3)),
    ((2, 2, 7, 70), 2, dict(kernel=(3, 3), stride=(2, 2), pad=(1, 1), num_group=2)),
    ((1, 2, 9, 41), 4, dict(kernel=(3, 3), stride=(1, 2), pad=(2, 2), dilate=(2, 2), num_group=2)),
    ((1, 2, 9, 13), 2, dict(kernel=(3, 3), stride=(2, 1), dilate=(2, 1), num_group=2, no_bias=True)),
    # 3x3 depthwise, stride 1, padding 1: short rows (the plane as one run, from copies), single
    # rows and columns; rows of 32 and more (the rows between the first and last as one run,
    # read in place): one, two, three and more rows, a multiplier
    ((2, 3, 7, 9), 3, dict(kernel=(3, 3), pad=(1, 1), num_group=3)),
    ((1, 2, 1, 5), 2, dict(kernel=(3, 3), pad=(1, 1), num_group=2)),
    ((1, 2, 4, 1), 4, dict(kernel=(3, 3), pad=(1, 1), num_group=2, no_bias=True)),
    ((1, 2, 2, 40), 2, dict(kernel=(3, 3), pad=(1, 1), num_group=2)),
    ((1, 3, 5, 2), 3, dict(kernel=(3, 3), pad=(1, 1), num_group=3)),
    ((2, 2, 12, 67), 4, dict(kernel=(3, 3), pad=(1, 1), num_group=2)),
    ((1, 2, 1, 33), 2, dict(kernel=(3, 3), pad=(1, 1), num_group=2, no_bias=True)),
    ((1, 2, 3, 32), 2, dict(kernel=(3, 3), pad=(1, 1), num_group=2)),
    # 3x3 depthwise, stride 2, padding 1 on even extents (the four phases as one run): square,
    # wide, a single output, with a multiplier
    ((2, 3, 8, 8), 3, dict(kernel=(3, 3), stride=(2, 2), pad=(1, 1), num_group=3)),
    ((1, 2, 4, 38), 2, dict(kernel=(3, 3), stride=(2, 2), pad=(1, 1), num_group=2, no_bias=True)),
    ((1, 2, 2, 2), 2, dict(kernel=(3, 3), stride=(2, 2), pad=(1, 1), num_group=2)),
    ((1, 2, 6, 4), 4, dict(kernel=(3, 3), stride=(2, 2), pad=(1, 1), num_group=2)),
    # 3x3 stride 1 with 16 channels and filters or more and 32 output tiles or more: Winograd
    # F(2x2, 3x3) in float32. Odd and even extents, no padding, padding wider than 1 or only
    # on one axis, blocks of tile rows across samples (3 x 33x33), no bias.
    ((2, 16, 9, 11), 17, dict(kernel=(3, 3), pad=(1, 1))),
    ((1, 24, 14, 15), 16, dict(kernel=(3, 3), no_bias=True)),
    ((2, 16, 11, 8), 20, dict(kernel=(3, 3), pad=(2, 0))),
    ((3, 16, 33, 33), 16, dict(kernel=(3, 3), pad=(1, 1))),
]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("ci", range(len(CONV_CASES)))
def test_convolution(dtype, ci):
    shape, f, prm = CONV_CASES[ci]
    g = prm.get("num_group", 1)
    x = rand(shape, dtype, seed=ci)
    w = rand((f, shape[1] // g) + tuple(prm["kernel"]), dtype, seed=100 + ci)
    no_bias = prm.get("no_bias", False)
    b = None if no_bias else rand((f,), dtype, seed=200 + ci)
    args = [nd(x), nd(w)] + ([] if no_bias else [nd(b)])
    out = mx.nd.Convolution(*args, num_filter=f, **prm)
    want = conv_ref(x, w, b, prm["kernel"], prm.get("stride"), prm.get("dilate"), prm.get("pad"), g)
    close(out, want.astype(dtype), dtype)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("ci", [1, 2, 4, 5, 9, 12, 15, 16])
def test_convolution_backward(dtype, ci):
    """Autograd gradients satisfy the adjoint identities: <dx, u> = <hg, conv(u, w)>,
    <dw, v> = <hg, conv(x, v)>, db = sum of hg over all but the channel axis."""
    shape, f, prm = CONV_CASES[ci]
    g = prm.get("num_group", 1)
    x = rand(shape, dtype, seed=ci)
    w = rand((f, shape[1] // g) + tuple(prm["kernel"]), dtype, seed=100 + ci)
    b = rand((f,), dtype, seed=200 + ci)
    xs, ws, bs = nd(x), nd(w), nd(b)
    for a in (xs, ws, bs):
        a.attach_grad()
    with mx.autograd.record():
        y = mx.nd.Convolution(xs, ws, bs, num_filter=f, **prm)
    hg = rand(y.shape, dtype, seed=300 + ci)
    y.backward(nd(hg))
    k, s, d, p = prm["kernel"], prm.get("stride"), prm.get("dilate"), prm.get("pad")
    # Exact references: dx[i] = <hg, conv(e_i, w)>, computed for every i by linearity in x.
    x64, w64, hg64 = x.astype(np.float64), w.astype(np.float64), hg.astype(np.float64)
    eye = np.eye(x.size).reshape((x.size,) + x.shape)
    dx = np.array([np.sum(hg64 * conv_ref(e, w64, None, k, s, d, p, g)) for e in eye]).reshape(x.shape)
    eye = np.eye(w.size).reshape((w.size,) + w.shape)
    dw = np.array([np.sum(hg64 * conv_ref(x64, e, None, k, s, d, p, g)) for e in eye]).reshape(w.shape)
    db = hg64.sum(axis=tuple(i for i in range(hg.ndim) if i != 1))
    close(xs.grad, dx.astype(dtype), dtype)
    close(ws.grad, dw.astype(dtype), dtype)
    close(bs.grad, db.astype(dtype), dtype)


def test_convolution_infers_weight_and_bias_shapes():
    x = mx.nd.ones((2, 4, 5, 5))
    msg = raises(lambda: mx.nd.Convolution(x, mx.nd.ones((3, 4, 3, 2)), mx.nd.ones((3,)), kernel=(3, 3),
                                           num_filter=3), "Convolution", "(3, 4, 3, 3)")
    assert "weight" in msg or "input 1" in msg
    raises(lambda: mx.nd.Convolution(x, mx.nd.ones((6, 2, 3, 3)), mx.nd.ones((5,)), kernel=(3, 3),
                                     num_filter=6, num_group=2), "Convolution", "(6,)")


def test_convolution_errors():
    x = mx.nd.ones((2, 4, 5, 5))
    w = mx.nd.ones((3, 4, 3, 3))
    b = mx.nd.ones((3,))
    raises(lambda: mx.nd.Convolution(x, w, b, num_filter=3), "Convolution", "kernel")
    raises(lambda: mx.nd.Convolution(x, w, b, kernel=(3, 3)), "Convolution", "num_filter")
    raises(lambda: mx.nd.Convolution(x, w, b, kernel=(3, 3, 3), num_filter=3), "Convolution", "5-D", "NCDHW")
    raises(lambda: mx.nd.Convolution(x, w, b, kernel=(3, 3, 3, 3), num_filter=3), "Convolution", "kernel",
           "(3, 3, 3, 3)")
    raises(lambda: mx.nd.Convolution(mx.nd.ones((2, 4, 5)), w, b, kernel=(3, 3), num_filter=3),
           "Convolution", "(2, 4, 5)")
    raises(lambda: mx.nd.Convolution(x, w, b, kernel=(3, 3), num_filter=3, stride=(1, 1, 1)),
           "Convolution", "stride")
    raises(lambda: mx.nd.Convolution(x, w, b, kernel=(3, 3), num_filter=3, num_group=3),
           "Convolution", "num_group")
    raises(lambda: mx.nd.Convolution(x, w, b, kernel=(7, 7), num_filter=3), "Convolution", "larger")
    raises(lambda: mx.nd.Convolution(x, w, b, kernel=(3, 3), num_filter=3, layout="NDHWC"),
           "Convolution", "NDHWC", "NCHW or NHWC")
    raises(lambda: mx.nd.Convolution(x, w, b, kernel=(3, 3), num_filter=3, layout="NHWC"),
           "Convolution", "weight")  # (2, 4, 5, 5) as NHWC has 5 channels: weight (3, 3, 3, 5)
    raises(lambda: mx.nd.Convolution(mx.nd.ones((2, 4, 5, 5), dtype="int32"), mx.nd.ones((3, 4, 3, 3), dtype="int32"),
                                     mx.nd.ones((3,), dtype="int32"), kernel=(3, 3), num_filter=3),
           "Convolution", "int32")
    raises(lambda: mx.nd.Convolution(x, w, kernel=(3, 3), num_filter=3), "Convolution", "input")


CONV3D_CASES = [
    ((2, 3, 4, 5, 6), 4, dict(kernel=(3, 3, 3))),
    ((1, 2, 5, 6, 4), 3, dict(kernel=(2, 3, 1), stride=(2, 1, 2), pad=(1, 1, 0), dilate=(1, 2, 1))),
    ((2, 4, 3, 4, 5), 4, dict(kernel=(3, 3, 3), pad=(1, 1, 1), num_group=4)),
    ((1, 2, 4, 5, 11), 2, dict(kernel=(2, 3, 3), stride=(1, 2, 2), pad=(1, 0, 2), num_group=2)),
    ((1, 4, 3, 3, 3), 6, dict(kernel=(1, 1, 1), num_group=2, no_bias=True, layout="NCDHW")),
    ((2, 16, 1, 10, 9), 16, dict(kernel=(1, 3, 3), pad=(0, 1, 1))),  # a 2-D 3x3 in 3-D: Winograd
]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("ci", range(len(CONV3D_CASES)))
def test_convolution_3d(dtype, ci):
    shape, nf, prm = CONV3D_CASES[ci]
    x = rand(shape, dtype, 60 + ci)
    w = rand((nf, shape[1] // prm.get("num_group", 1)) + prm["kernel"], dtype, 70 + ci)
    b = None if prm.get("no_bias") else rand((nf,), dtype, 80 + ci)
    args = [nd(x), nd(w)] + ([] if b is None else [nd(b)])
    out = mx.nd.Convolution(*args, num_filter=nf, **prm)
    want = conv_ref_nd(x, w, b, prm["kernel"], prm.get("stride"), prm.get("dilate"), prm.get("pad"),
                       prm.get("num_group", 1))
    close(out, want.astype(dtype), dtype)
    # the 2-D reference agrees with the N-D one (both references checked against each other)
    if ci == 0:
        x2, w2 = x[:, :, 0], w[:, :, 0]
        close(mx.nd.Convolution(nd(x2), nd(w2), nd(b), kernel=(3, 3), num_filter=nf),
              conv_ref_nd(x2, w2, b, (3, 3)).astype(dtype), dtype)


DECONV_CASES = [
    # data shape, num_filter, params
    ((2, 3, 4, 5), 4, dict(kernel=(3, 3))),
    ((2, 3, 4, 5), 2, dict(kernel=(3, 3), stride=(2, 2), pad=(1, 1), no_bias=False)),
    ((1, 4, 3, 4), 6, dict(kernel=(4, 4), stride=(2, 2), pad=(1, 1), adj=(1, 0), num_group=2, no_bias=False)),
    ((1, 2, 5, 4), 3, dict(kernel=(3, 2), stride=(2, 3), dilate=(2, 1), adj=(1, 2))),
    ((2, 4, 3, 3), 4, dict(kernel=(3, 3), stride=(2, 2), pad=(1, 1), num_group=4, no_bias=False)),  # depthwise
    ((1, 3, 4, 4), 2, dict(kernel=(4, 4), stride=(2, 2), target_shape=(8, 8))),
    ((1, 3, 4, 5), 2, dict(kernel=(3, 3), stride=(2, 2), target_shape=(8, 9), no_bias=False)),
    ((2, 3, 6), 4, dict(kernel=(3,), stride=(2,), pad=(1,), adj=(1,), no_bias=False)),  # 1-D
    ((1, 2, 3, 4, 3), 3, dict(kernel=(2, 3, 2), stride=(2, 1, 2), pad=(0, 1, 1), no_bias=False)),  # 3-D
    ((2, 5, 3, 3), 5, dict(kernel=(1, 1))),
]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("ci", range(len(DECONV_CASES)))
def test_deconvolution(dtype, ci):
    shape, nf, prm = DECONV_CASES[ci]
    g = prm.get("num_group", 1)
    x = rand(shape, dtype, 90 + ci)
    w = rand((shape[1], nf // g) + prm["kernel"], dtype, 100 + ci)
    b = rand((nf,), dtype, 110 + ci) if prm.get("no_bias") is False else None
    args = [nd(x), nd(w)] + ([] if b is None else [nd(b)])
    out = mx.nd.Deconvolution(*args, num_filter=nf, **prm)
    want = deconv_ref(x, w, b, prm["kernel"], prm.get("stride"), prm.get("dilate"), prm.get("pad"), prm.get("adj"),
                      prm.get("target_shape"), g)
    close(out, want.astype(dtype), dtype)
    if prm.get("target_shape"):
        assert out.shape[2:] == tuple(prm["target_shape"])


@pytest.mark.parametrize("ci", [1, 2, 3, 7, 8])
def test_deconvolution_backward(ci):
    """Gradients of sum(h * deconv(x, w, b)) against the reference's adjoint identities: the
    deconvolution is linear in x and in w, so <h, deconv(x, w)> gives both gradients."""
    shape, nf, prm = DECONV_CASES[ci]
    g = prm.get("num_group", 1)
    x = rand(shape, "float64", 120 + ci)
    w = rand((shape[1], nf // g) + prm["kernel"], "float64", 130 + ci)
    b = rand((nf,), "float64", 140 + ci) if prm.get("no_bias") is False else None
    ref = lambda xx, ww: deconv_ref(xx, ww, None, prm["kernel"], prm.get("stride"), prm.get("dilate"), prm.get("pad"),
                                    prm.get("adj"), prm.get("target_shape"), g)
    h = rand(ref(x, w).shape, "float64", 150 + ci)
    arrs = [nd(x), nd(w)] + ([] if b is None else [nd(b)])
    for a in arrs:
        a.attach_grad()
    with mx.autograd.record():
        y = mx.nd.Deconvolution(*arrs, num_filter=nf, **prm)
    y.backward(nd(h))
    gx = np.array([np.sum(h * ref(e.reshape(x.shape), w)) for e in np.eye(x.size)]).reshape(x.shape)
    gw = np.array([np.sum(h * ref(x, e.reshape(w.shape))) for e in np.eye(w.size)]).reshape(w.shape)
    np.testing.assert_allclose(arrs[0].grad.asnumpy(), gx, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(arrs[1].grad.asnumpy(), gw, rtol=1e-10, atol=1e-10)
    if b is not None:
        np.testing.assert_allclose(arrs[2].grad.asnumpy(), h.sum(axis=(0,) + tuple(range(2, h.ndim))), rtol=1e-10)


def test_deconvolution_symbol():
    s = mx.sym.Deconvolution(mx.sym.var("x"), kernel=(4, 4), stride=(2, 2), pad=(1, 1), num_filter=8, name="up")
    assert s.list_arguments() == ["x", "up_weight"]  # no_bias is True by default
    arg, out, _ = s.infer_shape(x=(2, 3, 5, 6))
    assert arg == [(2, 3, 5, 6), (3, 8, 4, 4)] and out == [(2, 8, 10, 12)]
    s = mx.sym.Deconvolution(mx.sym.var("x"), kernel=(3, 3), stride=(2, 2), num_filter=4, num_group=2,
                             no_bias=False, target_shape=(9, 11), name="up")
    arg, out, _ = s.infer_shape(x=(1, 6, 4, 5))
    assert arg == [(1, 6, 4, 5), (6, 2, 3, 3), (4,)] and out == [(1, 4, 9, 11)]


def test_deconvolution_errors():
    x = mx.nd.ones((2, 4, 5, 5))
    w = mx.nd.ones((4, 3, 3, 3))
    raises(lambda: mx.nd.Deconvolution(x, w, kernel=(3, 3), num_filter=3, stride=(2, 2), adj=(2, 0)),
           "Deconvolution", "adj", "(2, 0)", "stride")
    raises(lambda: mx.nd.Deconvolution(x, w, kernel=(3, 3), num_filter=3, target_shape=(20, 20)),
           "Deconvolution", "target_shape", "(20, 20)")
    raises(lambda: mx.nd.Deconvolution(x, w, kernel=(3, 3), num_filter=3, num_group=3), "Deconvolution",
           "num_group", "4")
    raises(lambda: mx.nd.Deconvolution(x, w, kernel=(3, 3), num_filter=3, pad=(4, 4)), "Deconvolution", "pad",
           "(4, 4)")
    raises(lambda: mx.nd.Deconvolution(x, mx.nd.ones((4, 3, 2, 2)), kernel=(3, 3), num_filter=3),
           "Deconvolution", "weight")
    raises(lambda: mx.nd.Deconvolution(mx.nd.ones((2, 4, 5)), w, kernel=(3, 3), num_filter=3), "Deconvolution",
           "(2, 4, 5)")


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_small_float_convolution_deconvolution_batchnorm(dtype):
    """float16 and bfloat16 run in float32 and are stored in the small type: the results are
    the float32 results of the rounded inputs, rounded once."""
    import ml_dtypes  # noqa: F401 (bfloat16 in numpy)
    rs = np.random.RandomState(7)
    x = rs.uniform(-1, 1, (2, 4, 6, 6)).astype(dtype)
    w = rs.uniform(-1, 1, (6, 2, 3, 3)).astype(dtype)
    b = rs.uniform(-1, 1, (6,)).astype(dtype)
    tol = dict(rtol=1e-2, atol=1e-2) if dtype == "float16" else dict(rtol=4e-2, atol=4e-2)
    as32 = lambda a: mx.nd.array(a.astype("float32"))
    y = mx.nd.Convolution(nd(x), nd(w), nd(b), kernel=(3, 3), num_filter=6, num_group=2, pad=(1, 1))
    want = mx.nd.Convolution(as32(x), as32(w), as32(b), kernel=(3, 3), num_filter=6, num_group=2, pad=(1, 1))
    assert y.dtype == np.dtype(dtype)
    np.testing.assert_allclose(y.asnumpy().astype("float32"), want.asnumpy(), **tol)
    wd = rs.uniform(-1, 1, (4, 3, 3, 3)).astype(dtype)
    y = mx.nd.Deconvolution(nd(x), nd(wd), kernel=(3, 3), num_filter=3, stride=(2, 2))
    want = mx.nd.Deconvolution(as32(x), as32(wd), kernel=(3, 3), num_filter=3, stride=(2, 2))
    np.testing.assert_allclose(y.asnumpy().astype("float32"), want.asnumpy(), **tol)
    g, be = nd(rs.uniform(0.5, 1.5, 4).astype(dtype)), nd(rs.uniform(-1, 1, 4).astype(dtype))
    mm, mv = nd(np.zeros(4, dtype)), nd(np.ones(4, dtype))
    xs = nd(x)
    xs.attach_grad()
    with mx.autograd.record():
        y = mx.nd.BatchNorm(xs, g, be, mm, mv, fix_gamma=False)
    y.backward()
    want = bn_ref(x.astype("float32"), g.asnumpy().astype("float32"), be.asnumpy().astype("float32"),
                  np.zeros(4, "float32"), np.ones(4, "float32"), fix_gamma=False)[0]
    np.testing.assert_allclose(y.asnumpy().astype("float32"), want, **tol)
    np.testing.assert_allclose(mm.asnumpy().astype("float32"), 0.1 * x.astype("float32").mean(axis=(0, 2, 3)),
                               **tol)  # the moving mean is stored back
    assert xs.grad.dtype == np.dtype(dtype)
    # the convolution gradients too
    xs, ws = nd(x), nd(w)
    xs.attach_grad()
    ws.attach_grad()
    with mx.autograd.record():
        mx.nd.Convolution(xs, ws, kernel=(3, 3), num_filter=6, num_group=2, no_bias=True).sum().backward()
    x32, w32 = as32(x), as32(w)
    x32.attach_grad()
    w32.attach_grad()
    with mx.autograd.record():
        mx.nd.Convolution(x32, w32, kernel=(3, 3), num_filter=6, num_group=2, no_bias=True).sum().backward()
    np.testing.assert_allclose(xs.grad.asnumpy().astype("float32"), x32.grad.asnumpy(), **tol)
    np.testing.assert_allclose(ws.grad.asnumpy().astype("float32"), w32.grad.asnumpy(), rtol=5e-2, atol=0.3)


def test_convolution_write_into_out_and_no_bias_inputs():
    x = rand((1, 2, 4, 4), "float32")
    w = rand((3, 2, 3, 3), "float32", seed=1)
    out = mx.nd.zeros((1, 3, 2, 2))
    mx.nd.Convolution(nd(x), nd(w), kernel=(3, 3), num_filter=3, no_bias=True, out=out)
    close(out, conv_ref(x, w, None, (3, 3)).astype("float32"), "float32")


# ---- Pooling --------------------------------------------------------------------------------

POOL_CASES = [
    # data shape, params (pool_type added by the test)
    ((2, 3, 8, 8), dict(kernel=(2, 2), stride=(2, 2))),
    ((2, 3, 8, 8), dict(kernel=(3, 3), stride=(2, 2), pooling_convention="full")),  # 8 -> 4
    ((1, 2, 13, 13), dict(kernel=(3, 3), stride=(2, 2), pooling_convention="full")),  # squeezenet, odd
    ((1, 2, 14, 14), dict(kernel=(3, 3), stride=(2, 2), pooling_convention="full")),
    ((2, 2, 7, 9), dict(kernel=(3, 2), stride=(2, 3), pad=(1, 1))),
    ((2, 2, 7, 9), dict(kernel=(3, 3), stride=(2, 2), pad=(1, 1), pooling_convention="full")),
    ((1, 3, 5, 6), dict(kernel=(3, 3))),  # stride defaults to 1
    ((2, 3, 5, 7), dict(global_pool=True)),
    ((2, 3, 5, 7), dict(global_pool=True, kernel=(2, 2), stride=(2, 2), pad=(1, 1))),  # ignored
    ((2, 3, 10), dict(kernel=(3,), stride=(2,), pad=(1,))),  # 1-D
    ((2, 3, 10), dict(kernel=(4,), stride=(3,), pooling_convention="full")),
    ((1, 1, 6, 6), dict(kernel=(2, 2), stride=(3, 3), pad=(1, 1), pooling_convention="full")),
    # rows long enough for the whole windows' vector loops: ResNet's 3x3/2 with padding, 2x2/1,
    # and stride 3
    ((1, 2, 9, 70), dict(kernel=(3, 3), stride=(2, 2), pad=(1, 1))),
    ((1, 2, 5, 67), dict(kernel=(2, 2), stride=(1, 1))),
    ((1, 2, 4, 100), dict(kernel=(1, 4), stride=(1, 3), pad=(0, 2))),
]


def _pool_ref(x, prm, pool_type, count_include_pad=True):
    return pool_ref(x, prm.get("kernel"), pool_type, prm.get("stride"), prm.get("pad"),
                    prm.get("pooling_convention", "valid"), prm.get("global_pool", False), count_include_pad)


@pytest.mark.parametrize("dtype", FLOATS + ["float16"])
@pytest.mark.parametrize("pool_type", ["max", "avg", "sum"])
@pytest.mark.parametrize("pi", range(len(POOL_CASES)))
def test_pooling(dtype, pool_type, pi):
    shape, prm = POOL_CASES[pi]
    x = rand(shape, dtype, seed=pi)
    out = mx.nd.Pooling(nd(x), pool_type=pool_type, **prm)
    close(out, _pool_ref(x, prm, pool_type).astype(dtype), dtype)


@pytest.mark.parametrize("pi", [4, 5, 9, 11])
def test_pooling_avg_count_include_pad(pi):
    shape, prm = POOL_CASES[pi]
    x = rand(shape, "float64", seed=pi)
    for cip in (True, False):
        out = mx.nd.Pooling(nd(x), pool_type="avg", count_include_pad=cip, **prm)
        close(out, _pool_ref(x, prm, "avg", cip), "float64")


def test_pooling_max_pads_with_minus_infinity():
    x = -np.ones((1, 1, 3, 3), dtype="float32") * 5
    out = mx.nd.Pooling(nd(x), kernel=(2, 2), stride=(2, 2), pad=(1, 1)).asnumpy()
    assert np.all(out == -5)


@pytest.mark.parametrize("isa", ["scalar", "avx2", "avx512"])
def test_max_pooling_wide_rows_on_every_isa(isa, tmp_path):
    """Max pooling's rows in each ISA's vectors (strides 1 and 2, the last vector overlapping
    the one before it): widths around the vector sizes, padded and not, with NaN (never the
    maximum) and -0 before +0 (the first of equal maxima wins), the same bits as the
    element-by-element scan."""
    import json
    import subprocess
    import sys
    rs = np.random.RandomState(5)
    cases = [(w, k, s, p) for w in (16, 17, 31, 33, 40, 67, 112) for (k, s, p) in
             ((3, 2, 1), (3, 1, 1), (2, 2, 0), (3, 2, 0), (5, 1, 2), (2, 1, 0))]
    arrays = {}
    for i, (w, k, s, p) in enumerate(cases):
        x = rs.uniform(-1, 1, (1, 2, 5, w)).astype("float32")
        x[0, 0, 1, 3] = np.nan
        x[0, 1, 2, :] = 0.0
        x[0, 1, 2, ::3] = -0.0
        arrays[str(i)] = x
    np.savez(tmp_path / "in.npz", **arrays)
    prog = ("import sys, json, numpy as np, brass as mx\n"
            "cases = json.loads(sys.argv[1]); a = np.load(sys.argv[2]); out = {}\n"
            "for i, (w, k, s, p) in enumerate(cases):\n"
            "    out[str(i)] = mx.nd.Pooling(mx.nd.array(a[str(i)]), kernel=(k, k), stride=(s, s), pad=(p, p),\n"
            "                                pool_type='max').asnumpy()\n"
            "np.savez(sys.argv[3], **out)\n")
    run = subprocess.run([sys.executable, "-c", prog, json.dumps(cases), str(tmp_path / "in.npz"),
                          str(tmp_path / "out.npz")], env=dict(os.environ, BRASS_ISA=isa), capture_output=True,
                         text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    got = np.load(tmp_path / "out.npz")
    for i, (w, k, s, p) in enumerate(cases):
        x = arrays[str(i)]
        oh, ow = (5 + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
        want = np.full((1, 2, oh, ow), -np.inf, np.float32)
        for c in range(2):
            for oy in range(oh):
                for ox in range(ow):
                    v = np.float32(-np.inf)
                    for iy in range(max(0, oy * s - p), min(5, oy * s - p + k)):
                        for ix in range(max(0, ox * s - p), min(w, ox * s - p + k)):
                            if x[0, c, iy, ix] > v:
                                v = x[0, c, iy, ix]
                    want[0, c, oy, ox] = v
        np.testing.assert_array_equal(got[str(i)], want)
        assert np.array_equal(np.signbit(got[str(i)]), np.signbit(want)), (w, k, s, p)


def _pool_backward_ref(x, hg, prm, pool_type):
    """The data gradient of sum(hg * pool(x)) by the window rules (max: first maximum)."""
    one_d = x.ndim == 3
    x64, hg64 = x.astype(np.float64), hg.astype(np.float64)
    eye = np.eye(x.size).reshape((x.size,) + x.shape)
    if pool_type != "max":  # linear in x
        return np.array([np.sum(hg64 * _pool_ref(e, prm, pool_type)) for e in eye]).reshape(x.shape)
    xs = x64[:, :, None, :] if one_d else x64
    hgs = hg64[:, :, None, :] if one_d else hg64
    n, c, h, w = xs.shape
    if prm.get("global_pool"):
        k, s, p = (h, w), (1, 1), (0, 0)
    else:
        k, s, p = tuple(prm["kernel"]), tuple(prm.get("stride", (1,) * len(prm["kernel"]))), \
            tuple(prm.get("pad", (0,) * len(prm["kernel"])))
        if one_d:
            k, s, p = (1,) + k, (1,) + s, (0,) + p
    dx = np.zeros_like(xs)
    oh, ow = hgs.shape[2:]
    for a in range(n):
        for b in range(c):
            for i in range(oh):
                for j in range(ow):
                    y0, x0 = max(i * s[0] - p[0], 0), max(j * s[1] - p[1], 0)
                    y1, x1 = min(i * s[0] - p[0] + k[0], h), min(j * s[1] - p[1] + k[1], w)
                    win = xs[a, b, y0:y1, x0:x1]
                    if win.size == 0:
                        continue
                    yy, xx = np.unravel_index(int(np.argmax(win)), win.shape)  # first maximum
                    dx[a, b, y0 + yy, x0 + xx] += hgs[a, b, i, j]
    return dx[:, :, 0, :] if one_d else dx


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("pool_type", ["max", "avg", "sum"])
@pytest.mark.parametrize("pi", [0, 1, 2, 4, 5, 7, 9, 11])
def test_pooling_backward(dtype, pool_type, pi):
    shape, prm = POOL_CASES[pi]
    x = rand(shape, dtype, seed=pi)
    xs = nd(x)
    xs.attach_grad()
    with mx.autograd.record():
        y = mx.nd.Pooling(xs, pool_type=pool_type, **prm)
    hg = rand(y.shape, dtype, seed=50 + pi)
    y.backward(nd(hg))
    close(xs.grad, _pool_backward_ref(x, hg, prm, pool_type).astype(dtype), dtype)


def test_pooling_max_gradient_goes_to_the_first_maximum():
    x = np.array([[[[1.0, 3.0, 3.0], [3.0, 0.0, 2.0], [3.0, 1.0, 3.0]]]], dtype="float32")
    xs = nd(x)
    xs.attach_grad()
    with mx.autograd.record():
        y = mx.nd.Pooling(xs, kernel=(2, 2), stride=(1, 1))
    y.backward()
    want = np.array([[[[0, 2, 0], [1, 0, 0], [0, 0, 1]]]], dtype="float32")
    np.testing.assert_array_equal(xs.grad.asnumpy(), want)


def test_backward_pooling_op_directly():
    x = rand((1, 2, 5, 5), "float64", seed=3)
    prm = dict(kernel=(3, 3), stride=(2, 2), pooling_convention="full", pool_type="avg")
    y = mx.nd.Pooling(nd(x), **prm)
    hg = rand(y.shape, "float64", seed=4)
    dx = mx.nd._backward_Pooling(nd(hg), nd(x), y, **prm)
    close(dx, _pool_backward_ref(x, hg, prm, "avg"), "float64")


def test_pooling_errors():
    x = mx.nd.ones((2, 3, 6, 6))
    raises(lambda: mx.nd.Pooling(x, kernel=(3,)), "Pooling", "kernel")
    raises(lambda: mx.nd.Pooling(x), "Pooling", "kernel")
    raises(lambda: mx.nd.Pooling(x, kernel=(2, 2), pool_type="lp"), "Pooling", "lp", "p_value")
    raises(lambda: mx.nd.Pooling(x, kernel=(2, 2), pool_type="lp", p_value=4), "Pooling", "p_value 4")
    raises(lambda: mx.nd.Pooling(x, kernel=(2, 2), pooling_convention="same", pad=(1, 1)), "Pooling", "same",
           "(1, 1)")
    raises(lambda: mx.nd.Pooling(x, kernel=(0, 2)), "Pooling", "kernel", "(0, 2)")
    raises(lambda: mx.nd.Pooling(x, kernel=(2, 2), pool_type="median"), "Pooling", "median")
    raises(lambda: mx.nd.Pooling(x, kernel=(7, 7)), "Pooling", "larger")
    raises(lambda: mx.nd.Pooling(x, kernel=(2, 2), stride=(0, 1)), "Pooling", "stride")
    raises(lambda: mx.nd.Pooling(x, kernel=(2, 2), layout="NCDHW"), "Pooling", "NCDHW", "NCHW or NHWC")
    raises(lambda: mx.nd.Pooling(mx.nd.ones((1, 2, 3, 4, 5, 6)), kernel=(2, 2, 2, 2)), "Pooling", "5-D")
    raises(lambda: mx.nd.Pooling(mx.nd.ones((2, 3)), kernel=(2, 2)), "Pooling", "(2, 3)")
    raises(lambda: mx.nd.Pooling(mx.nd.ones((2, 3, 4, 4), dtype="int32"), kernel=(2, 2)), "Pooling", "int32")


POOL_ND_CASES = [
    # 3-D (NCDHW)
    ((2, 2, 4, 5, 6), dict(kernel=(2, 2, 2), stride=(2, 2, 2))),
    ((1, 3, 5, 5, 4), dict(kernel=(3, 2, 3), stride=(2, 1, 2), pad=(1, 0, 1))),
    ((1, 2, 5, 6, 7), dict(kernel=(3, 3, 3), stride=(2, 2, 2), pad=(1, 1, 1), pooling_convention="full")),
    ((2, 2, 3, 4, 5), dict(global_pool=True)),
    # channels last
    ((2, 7, 3), dict(kernel=(3,), stride=(2,), pad=(1,), layout="NWC")),
    ((2, 5, 6, 3), dict(kernel=(3, 2), stride=(2, 2), pad=(1, 0), layout="NHWC")),
    ((1, 5, 5, 2), dict(kernel=(3, 3), stride=(2, 2), pooling_convention="full", layout="NHWC")),
    ((2, 4, 5, 6, 3), dict(kernel=(2, 3, 2), stride=(2, 2, 2), layout="NDHWC")),
    ((2, 4, 5, 3), dict(global_pool=True, layout="NHWC")),
    # 'same': ceil(x / stride) outputs, the last windows cut short
    ((2, 3, 10), dict(kernel=(3,), stride=(3,), pooling_convention="same")),
    ((1, 2, 7), dict(kernel=(4,), stride=(2,), pooling_convention="same")),
    ((1, 2, 7, 5), dict(kernel=(2, 3), stride=(2, 2), pooling_convention="same")),
    ((1, 2, 6, 5), dict(kernel=(3, 3), stride=(1, 1), pooling_convention="same", layout="NCHW")),
]


def _nd_ref(x, prm, **kw):
    return pool_ref(x, prm.get("kernel"), stride=prm.get("stride"), pad=prm.get("pad"),
                    convention=prm.get("pooling_convention", "valid"), global_pool=prm.get("global_pool", False),
                    layout=prm.get("layout"), **kw)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("pool_type", ["max", "avg", "sum", "lp1", "lp2", "lp3"])
@pytest.mark.parametrize("pi", range(len(POOL_ND_CASES)))
def test_pooling_nd_layouts_lp_same(dtype, pool_type, pi):
    shape, prm = POOL_ND_CASES[pi]
    x = rand(shape, dtype, 40 + pi, 0.1 if pool_type == "lp2" else -1.0)
    kw = dict(pool_type=pool_type[:2], p_value=int(pool_type[2])) if pool_type.startswith("lp") else dict(pool_type=pool_type)
    out = mx.nd.Pooling(nd(x), **prm, **kw)
    close(out, _nd_ref(x, prm, **kw).astype(dtype), dtype)
    if pool_type == "avg" and not prm.get("global_pool"):
        out = mx.nd.Pooling(nd(x), count_include_pad=False, **prm, **kw)
        close(out, _nd_ref(x, prm, count_include_pad=False, **kw).astype(dtype), dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
@pytest.mark.parametrize("pool_type", ["max", "avg", "sum", "lp2"])
@pytest.mark.parametrize("channels", [1, 15, 16, 17, 37])
def test_pooling_one_output_per_plane_matches_channels_last(dtype, pool_type, channels):
    """One output per plane (global pooling; a window that covers the padded plane) runs
    planes side by side: the same bits as channels-last pooling, which goes output by output,
    and close to numpy."""
    kw = dict(pool_type="lp", p_value=2) if pool_type == "lp2" else dict(pool_type=pool_type)
    x = rand((2, channels, 5, 3), dtype, channels, 0.1 if pool_type == "lp2" else -1.0)
    for prm in (dict(global_pool=True, kernel=(1, 1)), dict(kernel=(7, 5), pad=(1, 1)),
                dict(kernel=(7, 5), pad=(1, 1), count_include_pad=False)):
        if "count_include_pad" in prm and pool_type != "avg":
            continue
        first = mx.nd.Pooling(nd(x), **prm, **kw).asnumpy()
        assert first.shape == (2, channels, 1, 1)
        last = mx.nd.Pooling(nd(x.transpose(0, 2, 3, 1)), layout="NHWC", **prm, **kw).asnumpy()
        np.testing.assert_array_equal(first, last.transpose(0, 3, 1, 2))
    close(mx.nd.Pooling(nd(x), global_pool=True, kernel=(1, 1), **kw),
          _nd_ref(x, dict(global_pool=True), **kw).astype(dtype), dtype)


@pytest.mark.parametrize("pool_type", ["max", "avg", "lp2", "lp3"])
@pytest.mark.parametrize("pi", [1, 5, 7, 10, 12])
def test_pooling_nd_backward(pool_type, pi):
    """The data gradient of sum(hg * pool(x)): the pooling is linear (avg, sum) or piecewise
    smooth (max, lp); compared with central differences of the reference."""
    shape, prm = POOL_ND_CASES[pi]
    rs = np.random.RandomState(pi)
    x = (rs.permutation(int(np.prod(shape))).reshape(shape) * 0.01 + 0.1).astype("float64")
    kw = dict(pool_type=pool_type[:2], p_value=int(pool_type[2])) if pool_type.startswith("lp") else dict(pool_type=pool_type)
    y = _nd_ref(x, prm, **kw)
    hg = rs.uniform(-1, 1, y.shape)
    xs = nd(x)
    xs.attach_grad()
    with mx.autograd.record():
        out = mx.nd.Pooling(xs, **prm, **kw)
    out.backward(nd(hg))
    want = np.zeros(x.size)
    eps = 1e-6
    for j in range(x.size):
        e = np.zeros(x.size)
        e[j] = eps
        want[j] = np.sum(hg * (_nd_ref(x + e.reshape(shape), prm, **kw) - _nd_ref(x - e.reshape(shape), prm, **kw))) / (2 * eps)
    np.testing.assert_allclose(xs.grad.asnumpy(), want.reshape(shape), rtol=1e-6, atol=1e-7)


def test_pooling_symbol_shapes_nd():
    s = mx.sym.Pooling(mx.sym.var("x"), kernel=(2, 2, 2), stride=(2, 2, 2), layout="NDHWC")
    _, out, _ = s.infer_shape(x=(2, 8, 6, 4, 3))
    assert out == [(2, 4, 3, 2, 3)]
    s = mx.sym.Pooling(mx.sym.var("x"), kernel=(3,), stride=(2,), pooling_convention="same")
    _, out, _ = s.infer_shape(x=(1, 2, 9))
    assert out == [(1, 2, 5)]


# ---- BatchNorm ------------------------------------------------------------------------------


def bn_ref(x, gamma, beta, mm, mv, eps=float(np.float32(1e-3)), momentum=0.9, fix_gamma=True, axis=1, train=True,
           use_global_stats=False):
    """(out, mean, invstd, new moving_mean, new moving_var) in float64."""
    x = x.astype(np.float64)
    ax = axis % x.ndim
    red = tuple(i for i in range(x.ndim) if i != ax)
    bshape = [1] * x.ndim
    bshape[ax] = x.shape[ax]
    g = np.ones_like(gamma, dtype=np.float64) if fix_gamma else gamma.astype(np.float64)
    mm, mv = mm.astype(np.float64), mv.astype(np.float64)
    if train and not use_global_stats:
        mean, var = x.mean(axis=red), x.var(axis=red)
        new_mm, new_mv = mm * momentum + mean * (1 - momentum), mv * momentum + var * (1 - momentum)
    else:
        mean, var = mm, mv
        new_mm, new_mv = mm, mv
    invstd = 1 / np.sqrt(var + eps)
    out = (x - mean.reshape(bshape)) * (invstd * g).reshape(bshape) + beta.astype(np.float64).reshape(bshape)
    return out, mean, invstd, new_mm, new_mv


def _bn_inputs(shape, axis, dtype, seed):
    c = shape[axis % len(shape)]
    x = rand(shape, dtype, seed=seed, lo=-2, hi=3)
    gamma, beta = rand((c,), dtype, seed + 1, 0.5, 2), rand((c,), dtype, seed + 2)
    mm, mv = rand((c,), dtype, seed + 3), rand((c,), dtype, seed + 4, 0.5, 2)
    return x, gamma, beta, mm, mv


BN_CASES = [((4, 3, 5, 5), {}), ((2, 3, 4, 5), dict(fix_gamma=False)),
            ((2, 4, 3), dict(fix_gamma=False, eps=1e-5, momentum=0.8)), ((5, 3), dict(fix_gamma=False)),
            ((2, 3, 4), dict(fix_gamma=False, axis=-1)), ((3, 2, 2, 4), dict(fix_gamma=False, axis=2)),
            ((1, 3, 1, 1), dict(fix_gamma=False)),
            ((2, 3, 40, 30), dict(fix_gamma=False)),  # 2400 per channel: several partial sums on the GPU
            ((40, 130), dict(fix_gamma=False))]  # channel-last rows, channels split across tasks


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("bi", range(len(BN_CASES)))
def test_batchnorm(dtype, train, bi):
    shape, prm = BN_CASES[bi]
    axis = prm.get("axis", 1)
    x, gamma, beta, mm, mv = _bn_inputs(shape, axis, dtype, bi)
    arrs = [nd(a) for a in (x, gamma, beta, mm, mv)]
    with (mx.autograd.train_mode() if train else mx.autograd.predict_mode()):
        out, mean, invstd = mx.nd.BatchNorm(*arrs, output_mean_var=True, **prm)
        out1 = mx.nd.BatchNorm(*[nd(a) for a in (x, gamma, beta, mm, mv)], **prm)
    ref = bn_ref(x, gamma, beta, mm, mv, train=train, **prm)
    close(out, ref[0].astype(dtype), dtype)
    close(out1, ref[0].astype(dtype), dtype)
    close(mean, ref[1].astype(dtype), dtype)
    close(invstd, ref[2].astype(dtype), dtype)
    close(arrs[3], ref[3].astype(dtype), dtype)  # moving stats: updated in training only
    close(arrs[4], ref[4].astype(dtype), dtype)
    close(arrs[1], gamma, dtype)  # fix_gamma does not write gamma


def test_batchnorm_use_global_stats_in_training():
    x, gamma, beta, mm, mv = _bn_inputs((2, 3, 4), 1, "float64", 7)
    arrs = [nd(a) for a in (x, gamma, beta, mm, mv)]
    with mx.autograd.train_mode():
        out = mx.nd.BatchNorm(*arrs, use_global_stats=True, fix_gamma=False)
    ref = bn_ref(x, gamma, beta, mm, mv, fix_gamma=False, train=False)
    close(out, ref[0], "float64")
    close(arrs[3], mm, "float64")
    close(arrs[4], mv, "float64")


def test_batchnorm_defaults_and_infer_shapes():
    x, gamma, beta, mm, mv = _bn_inputs((2, 3, 4), 1, "float32", 3)
    out = mx.nd.BatchNorm(nd(x), nd(gamma), nd(beta), nd(mm), nd(mv))  # inference, fix_gamma, eps 1e-3
    close(out, bn_ref(x, gamma, beta, mm, mv, train=False)[0].astype("float32"), "float32")
    assert not isinstance(out, list)
    raises(lambda: mx.nd.BatchNorm(nd(x), nd(gamma[:2]), nd(beta), nd(mm), nd(mv)), "BatchNorm", "(3,)")
    raises(lambda: mx.nd.BatchNorm(nd(x), nd(gamma), nd(beta), nd(mm), nd(mv), axis=3), "BatchNorm", "axis")
    h = lambda a: mx.nd.array(a, dtype="int32")  # noqa: E731
    raises(lambda: mx.nd.BatchNorm(h(x), h(gamma), h(beta), h(mm), h(mv)), "BatchNorm", "int32")


def _bn_grad_ref(x, gamma, hg, prm, train):
    """Gradients of sum(hg * out) by central differences of bn_ref (float64)."""
    fix_gamma, axis, eps = prm.get("fix_gamma", True), prm.get("axis", 1), prm.get("eps", float(np.float32(1e-3)))
    c = x.shape[axis % x.ndim]
    mm, mv = np.zeros(c), np.ones(c)
    beta = np.zeros(c)

    def f(xx, gg, bb):
        return np.sum(hg * bn_ref(xx, gg, bb, mm, mv, eps=eps, fix_gamma=fix_gamma, axis=axis, train=train)[0])

    def num(a, fn):
        g = np.zeros(a.shape)
        for i in range(a.size):
            e = np.zeros(a.size)
            e[i] = 1e-6
            e = e.reshape(a.shape)
            g.reshape(-1)[i] = (fn(a + e) - fn(a - e)) / 2e-6
        return g

    return (num(x, lambda v: f(v, gamma, beta)), num(gamma, lambda v: f(x, v, beta)),
            num(beta, lambda v: f(x, gamma, v)))


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("bi", [0, 1, 4, 5])
def test_batchnorm_backward(train, bi):
    shape, prm = BN_CASES[bi]
    prm = dict(prm)
    axis = prm.get("axis", 1)
    x, gamma, beta, _, _ = _bn_inputs(shape, axis, "float64", bi)
    c = x.shape[axis % x.ndim]
    arrs = [nd(x), nd(gamma), nd(beta), mx.nd.zeros((c,), dtype="float64"), mx.nd.ones((c,), dtype="float64")]
    for a in arrs[:3]:
        a.attach_grad()
    with mx.autograd.record(train_mode=train):
        y = mx.nd.BatchNorm(*arrs, **prm)
    hg = rand(shape, "float64", seed=99)
    y.backward(nd(hg), train_mode=train)
    want = _bn_grad_ref(x, gamma, hg, prm, train)
    for a, w in zip(arrs[:3], want):
        np.testing.assert_allclose(a.grad.asnumpy(), w, rtol=1e-6, atol=1e-6)


def test_backward_batchnorm_op_directly():
    x, gamma, beta, mm, mv = _bn_inputs((2, 3, 4), 1, "float64", 5)
    hg = rand((2, 3, 4), "float64", seed=6)
    mean, invstd = x.mean(axis=(0, 2)), 1 / np.sqrt(x.var(axis=(0, 2)) + 1e-3)
    with mx.autograd.predict_mode():  # inference formula: dx = hg * gamma * invstd
        dx, dg, db = mx.nd._backward_BatchNorm(nd(hg), nd(x), nd(gamma), nd(mean), nd(invstd), fix_gamma=False)
    close(dx, hg * (gamma * invstd)[None, :, None], "float64")
    close(dg, np.sum(hg * (x - mean[None, :, None]) * invstd[None, :, None], axis=(0, 2)), "float64")
    close(db, hg.sum(axis=(0, 2)), "float64")


# ---- gradient table (test_gradients.py runs these, first and second order) -------------------

GRADIENTS = {
    "Convolution": [
        Grad([In((1, 2, 4, 4)), In((2, 2, 3, 3)), In((2,))], {"kernel": (3, 3), "num_filter": 2}),
        Grad([In((2, 2, 5, 4)), In((2, 1, 3, 2))],
             {"kernel": (3, 2), "num_filter": 2, "num_group": 2, "stride": (2, 1), "pad": (1, 1),
              "dilate": (1, 2), "no_bias": True}),
        Grad([In((1, 2, 6)), In((3, 2, 3)), In((3,))], {"kernel": (3,), "num_filter": 3, "stride": (2,), "pad": (1,)}),
        Grad([In((1, 2, 3, 4, 3)), In((2, 1, 2, 3, 2)), In((2,))],
             {"kernel": (2, 3, 2), "num_filter": 2, "num_group": 2, "stride": (1, 2, 1), "pad": (1, 1, 0)}),
    ],
    "_backward_Convolution_data": [
        Grad([In((1, 2, 3, 3)), In((2, 2, 2, 3)), In((1, 2, 4, 5), diff=False)],
             {"kernel": (2, 3), "num_filter": 2, "stride": (2, 2), "pad": (1, 1)}),
    ],
    "_backward_Convolution_weight": [
        Grad([In((1, 2, 3, 3)), In((1, 2, 4, 5))],
             {"kernel": (2, 3), "num_filter": 2, "stride": (2, 2), "pad": (1, 1)}),
        Grad([In((2, 2, 3, 3)), In((2, 2, 3, 3))], {"kernel": (1, 1), "num_filter": 2, "num_group": 2}),
    ],
    "Pooling": [
        Grad([In((1, 2, 4, 4))], {"kernel": (2, 2), "stride": (2, 2), "pool_type": "avg"}),
        Grad([In((1, 2, 5, 5))], {"kernel": (3, 3), "stride": (2, 2), "pad": (1, 1), "pool_type": "avg",
                                  "pooling_convention": "full"}),
        Grad([In((1, 2, 3, 4))], {"kernel": (2, 2), "pool_type": "sum"}),
        Grad([In((2, 2, 3, 3))], {"global_pool": True, "pool_type": "avg"}),
        # max: distinct values (no ties), so the function is smooth near the sample
        Grad([In((1, 2, 5, 5), values=lambda rs: rs.permutation(50) * 0.1)],
             {"kernel": (3, 3), "stride": (2, 2), "pooling_convention": "full"}),
        Grad([In((1, 2, 7), values=lambda rs: rs.permutation(14) * 0.1)], {"kernel": (3,), "stride": (2,), "pad": (1,)}),
        Grad([In((1, 2, 3, 4, 3))], {"kernel": (2, 2, 2), "stride": (1, 2, 1), "pool_type": "avg"}),
        Grad([In((1, 4, 3, 2))], {"kernel": (2, 2), "pool_type": "avg", "layout": "NHWC", "pad": (1, 0)}),
        Grad([In((1, 2, 5), domain=(0.5, 2))], {"kernel": (2,), "pool_type": "lp", "p_value": 2}),
        Grad([In((1, 2, 5), domain=(0.5, 2))], {"kernel": (3,), "stride": (2,), "pool_type": "lp", "p_value": 3,
                                                 "pooling_convention": "same"}),
        Grad([In((1, 2, 4))], {"kernel": (2,), "pool_type": "lp", "p_value": 1}),
    ],
    "Deconvolution": [
        Grad([In((1, 2, 3, 3)), In((2, 2, 3, 3)), In((2,))], {"kernel": (3, 3), "num_filter": 2, "stride": (2, 2),
                                                            "pad": (1, 1), "adj": (1, 1), "no_bias": False}),
        Grad([In((1, 4, 2, 3)), In((4, 1, 2, 2))], {"kernel": (2, 2), "num_filter": 2, "num_group": 2,
                                                   "stride": (2, 1), "dilate": (1, 2)}),
        Grad([In((1, 2, 3)), In((2, 3, 3))], {"kernel": (3,), "num_filter": 3, "stride": (2,), "target_shape": (6,)}),
        Grad([In((1, 2, 2, 2, 2)), In((2, 1, 2, 2, 2))], {"kernel": (2, 2, 2), "num_filter": 1, "stride": (2, 1, 2)}),
    ],
    "_backward_Deconvolution_data": [
        Grad([In((1, 2, 6, 6)), In((2, 2, 3, 3)), In((1, 2, 3, 3), diff=False)],
             {"kernel": (3, 3), "num_filter": 2, "stride": (2, 2), "pad": (1, 1), "adj": (1, 1)}),
    ],
    "_backward_Deconvolution_weight": [
        Grad([In((1, 2, 6, 6)), In((1, 2, 3, 3))], {"kernel": (3, 3), "num_filter": 2, "stride": (2, 2), "pad": (1, 1),
                                                   "adj": (1, 1)}),
    ],
    "BatchNorm": [
        Grad([In((2, 2, 3)), In((2,), domain=(0.5, 2)), In((2,)), In((2,), diff=False), In((2,), domain=(0.5, 2), diff=False)],
             {"fix_gamma": False}),
        Grad([In((3, 2)), In((2,), domain=(0.5, 2)), In((2,)), In((2,), diff=False), In((2,), domain=(0.5, 2), diff=False)],
             {"fix_gamma": True, "eps": 1e-5}),
        Grad([In((2, 3, 2)), In((2,), domain=(0.5, 2)), In((2,)), In((2,), diff=False), In((2,), domain=(0.5, 2), diff=False)],
             {"fix_gamma": False, "axis": -1}),
    ],
}
# Their gradients use ops that have no gradient of their own (NO_GRADIENT below).
NO_SECOND_ORDER = {"Pooling", "BatchNorm"}
# Gradient ops without a gradient: differentiating through them is a clear error.
NO_GRADIENT = {
    "_backward_BatchNorm": Grad([In((2, 2)), In((2, 2)), In((2,)), In((2,)), In((2,), domain=(0.5, 2))]),
    "_backward_Pooling": Grad([In((1, 1, 2, 2)), In((1, 1, 4, 4)), In((1, 1, 2, 2))], {"kernel": (2, 2), "stride": (2, 2)}),
}


def test_batchnorm_backward_many_elements_per_channel():
    """Per-channel sums over more elements than one GPU partial-sum chunk."""
    x = rand((2, 2, 40, 30), "float64", seed=11, lo=-2, hi=3)
    gamma, beta = rand((2,), "float64", 12, 0.5, 2), rand((2,), "float64", 13)
    hg = rand(x.shape, "float64", seed=14)
    arrs = [nd(x), nd(gamma), nd(beta), mx.nd.zeros((2,), dtype="float64"), mx.nd.ones((2,), dtype="float64")]
    for a in arrs[:3]:
        a.attach_grad()
    with mx.autograd.record():
        y = mx.nd.BatchNorm(*arrs, fix_gamma=False)
    y.backward(nd(hg))
    red = (0, 2, 3)
    mean, var = x.mean(axis=red, keepdims=True), x.var(axis=red, keepdims=True)
    invstd = 1 / np.sqrt(var + float(np.float32(1e-3)))
    xhat = (x - mean) * invstd
    m = x.size // 2
    dx = (hg - hg.sum(axis=red, keepdims=True) / m - xhat * (hg * xhat).sum(axis=red, keepdims=True) / m) \
        * gamma.reshape(1, 2, 1, 1) * invstd
    close(arrs[0].grad, dx, "float64")
    close(arrs[1].grad, (hg * xhat).sum(axis=red), "float64")
    close(arrs[2].grad, hg.sum(axis=red), "float64")


def test_convolution_gradients_do_not_depend_on_the_thread_count():
    """Samples run in parallel; the weight gradient sums fixed blocks of them in order, so the
    bits are the same with one thread or several; so are a Winograd forward's (blocks of tile
    rows and each GEMM on one thread: with tiles enough, whole blocks on each thread, blocks
    that cross samples; with few, each step split across the threads in turn), and an
    im2col product split into many tasks."""
    import subprocess
    import sys
    code = (
        "import numpy as np, brass as mx\n"
        "rs = np.random.RandomState(0)\n"
        "x = mx.nd.array(rs.randn(11, 3, 9, 9)); w = mx.nd.array(rs.randn(4, 3, 3, 3))\n"
        "x.attach_grad(); w.attach_grad()\n"
        "with mx.autograd.record():\n"
        "    y = mx.nd.Convolution(x, w, kernel=(3, 3), num_filter=4, pad=(1, 1), no_bias=True)\n"
        "y.backward(mx.nd.array(rs.randn(*y.shape)))\n"
        "x2 = mx.nd.array(rs.randn(3, 16, 20, 21), dtype='float32')\n"
        "w2 = mx.nd.array(rs.randn(24, 16, 3, 3), dtype='float32')\n"
        "y2 = mx.nd.Convolution(x2, w2, kernel=(3, 3), num_filter=24, pad=(1, 1), no_bias=True)  # Winograd\n"
        "x3 = mx.nd.array(rs.randn(1, 16, 12, 13), dtype='float32')\n"
        "w3 = mx.nd.array(rs.randn(17, 16, 3, 3), dtype='float32')\n"
        "y3 = mx.nd.Convolution(x3, w3, kernel=(3, 3), num_filter=17, pad=(1, 1), no_bias=True)  # 42 tiles\n"
        "x4 = mx.nd.array(rs.randn(1, 64, 20, 20), dtype='float32')\n"
        "w4 = mx.nd.array(rs.randn(256, 64, 3, 3), dtype='float32')\n"
        "y4 = mx.nd.Convolution(x4, w4, kernel=(3, 3), stride=(2, 2), num_filter=256, pad=(1, 1), no_bias=True)\n"
        "print(*(a.asnumpy().tobytes().hex() for a in (y, w.grad, x.grad, y2, y3, y4)))\n")
    outs = []
    # Eight threads: tasks split both the filters and the 100 columns of y4's shared im2col
    # packing, each task from a whole panel on.
    for threads in ("1", "2", "3", "8"):
        env = dict(os.environ, BRASS_NUM_THREADS=threads)
        outs.append(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                   timeout=300, check=True).stdout)
    assert outs[0] == outs[1] == outs[2] == outs[3]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_depthwise_planes_at_their_edges(dtype):
    """The depthwise 3x3 plane paths (the whole plane as one run at stride 1, four phases at
    stride 2, padded rows) on planes of one element, one row, one column, two, and odd and
    even sides, with a bias, against the reference."""
    for i, (n, c, h, w) in enumerate([(1, 2, 1, 1), (1, 2, 5, 1), (1, 2, 1, 5), (2, 3, 2, 3), (1, 2, 2, 2),
                                      (1, 3, 4, 6), (2, 2, 8, 2), (1, 2, 31, 31), (1, 2, 33, 40)]):
        for s in (1, 2):
            x = rand((n, c, h, w), dtype, seed=i)
            wt = rand((c, 1, 3, 3), dtype, seed=20 + i)
            b = rand((c,), dtype, seed=40 + i)
            got = mx.nd.Convolution(mx.nd.array(x, dtype=dtype), mx.nd.array(wt, dtype=dtype),
                                    mx.nd.array(b, dtype=dtype), kernel=(3, 3), pad=(1, 1), stride=(s, s),
                                    num_filter=c, num_group=c).asnumpy()
            close(got, conv_ref_nd(x, wt, b, (3, 3), (s, s), None, (1, 1), c).astype(dtype), dtype)


@pytest.mark.parametrize("isa", ["scalar", "avx2", "avx512"])
def test_convolution_on_every_isa(isa, tmp_path):
    """Convolution through each ISA's GEMM panels (panel widths differ) and depthwise kernels:
    one sample (filters packed as the GEMM goes) and several (filters packed once), padded,
    strided, grouped, 1x1, 3-D and depthwise, in float32 and float64, against the NumPy
    reference (a missing ISA falls back, so each run must still agree)."""
    import os
    import subprocess
    import sys
    cases = [((1, 5, 9, 11), 7, dict(kernel=(3, 3), pad=(1, 1))),
             ((3, 5, 9, 11), 7, dict(kernel=(3, 3), pad=(1, 1))),
             ((3, 4, 13, 10), 6, dict(kernel=(5, 3), stride=(2, 3), pad=(2, 1), dilate=(1, 2), num_group=2)),
             ((2, 6, 5, 7), 33, dict(kernel=(1, 1))),
             ((2, 6, 9, 9), 17, dict(kernel=(1, 1), stride=(2, 2))),
             ((2, 3, 4, 6, 5), 4, dict(kernel=(3, 2, 3), pad=(1, 0, 1))),
             ((2, 4, 9, 19), 4, dict(kernel=(3, 3), stride=(2, 2), pad=(1, 1), num_group=4)),  # depthwise
             ((1, 3, 7, 21), 6, dict(kernel=(3, 3), pad=(1, 1), num_group=3)),
             ((1, 2, 5, 45), 2, dict(kernel=(3, 3), pad=(1, 1), num_group=2)),  # depthwise, wide rows
             ((1, 2, 6, 67), 2, dict(kernel=(3, 3), stride=(2, 2), pad=(1, 1), num_group=2)),
             ((2, 3, 14, 14), 3, dict(kernel=(3, 3), stride=(2, 2), pad=(1, 1), num_group=3)),
             ((1, 2, 8, 70), 4, dict(kernel=(3, 3), stride=(2, 2), pad=(1, 1), num_group=2)),
             ((1, 16, 12, 13), 17, dict(kernel=(3, 3), pad=(1, 1))),  # Winograd (float32)
             ((2, 20, 9, 10), 33, dict(kernel=(3, 3), pad=(0, 2)))]
    arrays = {}
    for i, (shape, f, prm) in enumerate(cases):
        for dt in ("float32", "float64"):
            g = prm.get("num_group", 1)
            arrays["x%d%s" % (i, dt)] = rand(shape, dt, seed=i)
            arrays["w%d%s" % (i, dt)] = rand((f, shape[1] // g) + prm["kernel"], dt, seed=10 + i)
    np.savez(tmp_path / "in.npz", **arrays)
    prog = ("import sys, json, numpy as np, brass as mx\n"
            "cases = json.loads(sys.argv[1]); a = np.load(sys.argv[2]); out = {}\n"
            "for i, (shape, f, prm) in enumerate(cases):\n"
            "    prm = {k: tuple(v) if isinstance(v, list) else v for k, v in prm.items()}\n"
            "    for dt in ('float32', 'float64'):\n"
            "        x, w = a['x%d%s' % (i, dt)], a['w%d%s' % (i, dt)]\n"
            "        out['%d%s' % (i, dt)] = mx.nd.Convolution(mx.nd.array(x, dtype=dt), mx.nd.array(w, dtype=dt),\n"
            "            num_filter=f, no_bias=True, **prm).asnumpy()\n"
            "np.savez(sys.argv[3], **out)\n")
    import json
    env = dict(os.environ, BRASS_ISA=isa)
    run = subprocess.run([sys.executable, "-c", prog, json.dumps(cases), str(tmp_path / "in.npz"),
                          str(tmp_path / "out.npz")], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    got = np.load(tmp_path / "out.npz")
    for i, (shape, f, prm) in enumerate(cases):
        for dt in ("float32", "float64"):
            x, w = arrays["x%d%s" % (i, dt)], arrays["w%d%s" % (i, dt)]
            want = conv_ref_nd(x, w, None, prm["kernel"], prm.get("stride"), prm.get("dilate"), prm.get("pad"),
                               prm.get("num_group", 1))
            close(got["%d%s" % (i, dt)], want.astype(dt), dt)


@pytest.mark.parametrize("isa", ["scalar", "avx2", "avx512"])
def test_convolution_batchnorm_fusion_on_every_isa(isa):
    """The fused epilogue (bias, BatchNorm, relu/clip) through each ISA's GEMM strips (or its
    micro-kernel's registers, after one depth block or, at depth 1080, two) and depthwise
    planes (rows, and the flat paths at stride 1 and 2) gives the unfused graph's bits (a
    missing ISA falls back)."""
    import os
    import subprocess
    import sys
    prog = (
        "import os, numpy as np, brass as mx\n"
        "def block(x, i, conv, act):\n"
        "    y = mx.sym.BatchNorm(mx.sym.Convolution(x, name='c%d' % i, **conv), fix_gamma=False, name='b%d' % i)\n"
        "    return act(y)\n"
        "x = mx.sym.var('data')\n"
        "y = block(x, 0, dict(kernel=(1, 1), num_filter=24, no_bias=True), lambda y: mx.sym.clip(y, a_min=0, a_max=6))\n"
        "y = block(y, 1, dict(kernel=(3, 3), pad=(1, 1), num_filter=24, num_group=24, no_bias=True), mx.sym.relu)\n"
        "y = block(y, 2, dict(kernel=(3, 3), stride=(2, 2), num_filter=40), lambda y: y)\n"
        "y = block(y, 3, dict(kernel=(1, 1), num_filter=120, no_bias=True), lambda y: y)\n"
        "y = block(y, 4, dict(kernel=(3, 3), pad=(1, 1), num_filter=19), mx.sym.relu)\n"
        "dw = lambda s: dict(kernel=(3, 3), pad=(1, 1), stride=(s, s), num_filter=8, num_group=8, no_bias=True)\n"
        "z = block(mx.sym.var('data'), 5, dw(1), lambda y: mx.sym.clip(y, a_min=0, a_max=6))\n"
        "z = block(z, 6, dw(2), mx.sym.relu)\n"
        "for sym, shape, nodes in ((y, (2, 16, 37, 45), 5), (z, (2, 8, 10, 12), 2)):\n"
        "  outs = []\n"
        "  for fuse in ('1', '0'):\n"
        "    os.environ['BRASS_FUSE'] = fuse\n"
        "    exe = sym.simple_bind(mx.cpu(), data=shape, grad_req='null')\n"
        "    r = np.random.RandomState(0)\n"
        "    for k in sorted(exe.arg_dict): exe.arg_dict[k][:] = r.uniform(-1, 1, exe.arg_dict[k].shape)\n"
        "    for k in sorted(exe.aux_dict): exe.aux_dict[k][:] = r.uniform(0.5, 1.5, exe.aux_dict[k].shape)\n"
        "    outs.append(exe.forward(is_train=False)[0].asnumpy())\n"
        "    assert exe.memory_plan['fused'] == (nodes if fuse == '1' else 0), exe.memory_plan\n"
        "  assert outs[0].tobytes() == outs[1].tobytes(), np.abs(outs[0] - outs[1]).max()\n")
    env = dict(os.environ, BRASS_ISA=isa)
    run = subprocess.run([sys.executable, "-c", prog], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.parametrize("shape,f", [((1, 3, 9, 8), 6), ((1, 16, 12, 13), 16)])  # GEMM, Winograd
def test_kept_filter_packing_follows_every_write(shape, f):
    """Inference keeps each layer's packed filters (or their Winograd transform) while the
    engine says the weight array is unchanged; every way of writing the weights must show in
    the next result: assignment, an op writing in place, copyto, a write through a slice, a
    NumPy view of the memory (its address handed out), memory shared with NumPy from the
    start, and a new array that may reuse a freed one's memory. CPU kernels (a GPU run of the
    suite keeps this on the CPU)."""
    with mx.cpu(0):
        _kept_filter_packing_follows_every_write(shape, f)


def _kept_filter_packing_follows_every_write(shape, f):
    from brass.ndarray.dlpack import as_numpy_view
    prm = dict(kernel=(3, 3), pad=(1, 1))
    c = shape[1]
    x = rand(shape, seed=1)

    def want(w):
        return conv_ref(x, w, None, prm["kernel"], None, None, prm["pad"])

    sym = mx.sym.Convolution(mx.sym.var("data"), mx.sym.var("w"), num_filter=f, no_bias=True, **prm)
    for n in (1, 2):  # one sample and a batch: both keep the packing
        xs = np.concatenate([x] * n)
        exe = sym.simple_bind(mx.cpu(), data=xs.shape, w=(f, c, 3, 3), grad_req="null")
        exe.arg_dict["data"][:] = xs
        w = exe.arg_dict["w"]

        def check(wv):
            for _ in range(2):  # the second run reads the kept packing
                got = exe.forward(is_train=False)[0].asnumpy()
                close(got, np.concatenate([want(wv)] * n), "float32")

        wv = rand((f, c, 3, 3), seed=2)
        w[:] = wv
        check(wv)
        wv = rand((f, c, 3, 3), seed=3)
        w[:] = wv  # assignment
        check(wv)
        mx.nd.elemwise_mul(w, mx.nd.full(w.shape, 2.0), out=w)  # an op writing in place
        wv = wv * 2
        check(wv)
        wv = rand((f, c, 3, 3), seed=4)
        mx.nd.array(wv).copyto(w)  # copyto
        check(wv)
        w[1:3] = 0.5  # through a slice
        wv[1:3] = 0.5
        check(wv)
        wv = rand((f, c, 3, 3), seed=5)
        w._sync_copyfrom(wv)  # a host copy into the array's memory
        check(wv)
        view = as_numpy_view(w)  # the memory's address handed out
        view[0] = -1.0
        wv[0] = -1.0
        check(wv)
        view[4] = 3.0  # written again with no engine call in between
        wv[4] = 3.0
        check(wv)
    # memory shared with NumPy from the start: NumPy's writes show
    wn = rand((f, c, 3, 3), seed=5)
    wz = mx.nd.from_numpy(wn, zero_copy=True)
    xa = mx.nd.array(x)
    for _ in range(2):
        close(mx.nd.Convolution(xa, wz, num_filter=f, no_bias=True, **prm), want(wn), "float32")
    wn *= -0.5
    close(mx.nd.Convolution(xa, wz, num_filter=f, no_bias=True, **prm), want(wn), "float32")
    # imperative calls on arrays freed and made again (the pool may hand back the same memory)
    for seed in range(6, 10):
        wv = rand((f, c, 3, 3), seed=seed)
        wa = mx.nd.array(wv)
        for _ in range(2):
            close(mx.nd.Convolution(xa, wa, num_filter=f, no_bias=True, **prm), want(wv), "float32")
        del wa


# ---- Winograd F(2x2, 3x3) ---------------------------------------------------------------------

def test_winograd_runs_and_can_be_turned_off(tmp_path):
    """3x3 stride-1 float32 convolutions with 16 channels and filters or more take the Winograd
    path, and so do their data gradients: its bits differ from the im2col+GEMM path's
    (BRASS_CONV_WINOGRAD=0), and both agree with the float64 reference; convolutions it does not take (too few channels, stride 2,
    float64) give the same bits either way."""
    import subprocess
    import sys
    cases = [((2, 16, 14, 15), 24, dict(kernel=(3, 3), pad=(1, 1))),
             ((1, 8, 14, 15), 24, dict(kernel=(3, 3), pad=(1, 1))),
             ((1, 16, 14, 15), 24, dict(kernel=(3, 3), stride=(2, 2), pad=(1, 1)))]
    arrays = {}
    for i, (shape, f, _) in enumerate(cases):
        arrays["x%d" % i], arrays["w%d" % i] = rand(shape, seed=i), rand((f, shape[1], 3, 3), seed=10 + i)
    arrays["hg"] = rand((2, 24, 14, 15), seed=20)
    np.savez(tmp_path / "in.npz", **arrays)
    prog = ("import sys, numpy as np, brass as mx\n"
            "a = np.load(sys.argv[1]); out = {}\n"
            "for i, (f, pad, st) in enumerate([(24, 1, 1), (24, 1, 1), (24, 1, 2)]):\n"
            "    x, w = a['x%d' % i], a['w%d' % i]\n"
            "    for dt in ('float32', 'float64'):\n"
            "        out['%d%s' % (i, dt)] = mx.nd.Convolution(mx.nd.array(x, dtype=dt), mx.nd.array(w, dtype=dt),\n"
            "            kernel=(3, 3), pad=(pad, pad), stride=(st, st), num_filter=f, no_bias=True).asnumpy()\n"
            "out['dx'] = mx.nd._backward_Convolution_data(mx.nd.array(a['hg']), mx.nd.array(a['w0']),\n"
            "    mx.nd.array(a['x0']), kernel=(3, 3), pad=(1, 1), num_filter=24, no_bias=True).asnumpy()\n"
            "np.savez(sys.argv[2], **out)\n")
    got = {}
    for on in ("1", "0"):
        env = dict(os.environ, BRASS_CONV_WINOGRAD=on)
        run = subprocess.run([sys.executable, "-c", prog, str(tmp_path / "in.npz"), str(tmp_path / ("o%s.npz" % on))],
                             env=env, capture_output=True, text=True)
        assert run.returncode == 0, run.stdout + run.stderr
        got[on] = np.load(tmp_path / ("o%s.npz" % on))
    for i, (shape, f, prm) in enumerate(cases):
        want = conv_ref(arrays["x%d" % i].astype(np.float64), arrays["w%d" % i].astype(np.float64), None,
                        prm["kernel"], prm.get("stride"), None, prm["pad"])
        for dt in ("float32", "float64"):
            for on in ("1", "0"):
                close(got[on]["%d%s" % (i, dt)], want.astype(dt), dt)
            same = got["1"]["%d%s" % (i, dt)].tobytes() == got["0"]["%d%s" % (i, dt)].tobytes()
            assert same == (i != 0 or dt != "float32"), (i, dt)
    # the data gradient (a convolution too)
    want = _conv_data_grad_ref(arrays["hg"], arrays["w0"], (1, 1), cases[0][0])
    for on in ("1", "0"):
        close(got[on]["dx"], want.astype("float32"), "float32")
    assert got["1"]["dx"].tobytes() != got["0"]["dx"].tobytes()


def _conv_data_grad_ref(hg, w, pad, xshape):
    """dx of a 3x3 stride-1 convolution: each tap's product scattered back (float64)."""
    n, c, h, wd = xshape
    ph, pw = pad
    oh, ow = hg.shape[2:]
    dxp = np.zeros((n, c, h + 2 * ph, wd + 2 * pw))
    for ky in range(3):
        for kx in range(3):
            dxp[:, :, ky:ky + oh, kx:kx + ow] += np.einsum("nfhw,fc->nchw", hg.astype(np.float64),
                                                         w[:, :, ky, kx].astype(np.float64))
    return dxp[:, :, ph:ph + h, pw:pw + wd]


@pytest.mark.parametrize("shape,f,pad", [((2, 16, 9, 11), 17, (1, 1)), ((1, 24, 14, 15), 16, (0, 0)),
                                         ((2, 16, 11, 8), 20, (2, 0)), ((3, 20, 17, 16), 16, (1, 2))])
def test_winograd_data_gradient(shape, f, pad):
    """The data gradient of a 3x3 stride-1 convolution with padding up to 2 is a 3x3 stride-1
    convolution of the head gradient (filters flipped and transposed, padding 2 - p): Winograd
    runs it in float32, with write and add requests."""
    x, w = rand(shape, seed=1), rand((f, shape[1], 3, 3), seed=2)
    xs, ws = nd(x), nd(w)
    xs.attach_grad(grad_req="add")
    with mx.autograd.record():
        y = mx.nd.Convolution(xs, ws, kernel=(3, 3), pad=pad, num_filter=f, no_bias=True)
    hg = rand(y.shape, seed=3)
    want = _conv_data_grad_ref(hg, w, pad, shape)
    y.backward(nd(hg))
    close(xs.grad, want.astype("float32"), "float32")
    with mx.autograd.record():
        y = mx.nd.Convolution(xs, ws, kernel=(3, 3), pad=pad, num_filter=f, no_bias=True)
    y.backward(nd(hg))
    close(xs.grad, (2 * want).astype("float32"), "float32")
    # the gradient op called directly (no temp space asked for: none is used)
    dx = mx.nd._backward_Convolution_data(nd(hg), ws, xs, kernel=(3, 3), pad=pad, num_filter=f, no_bias=True)
    close(dx, want.astype("float32"), "float32")


def test_winograd_training_add_requests_and_small_floats():
    """The Winograd forward under autograd (filters transformed afresh each step), through a
    stride-1 Deconvolution's data gradient with an add request (it runs the convolution the
    Deconvolution transposes), and for float16 and bfloat16 (computed in float32)."""
    import ml_dtypes  # noqa: F401
    x, w, b = rand((2, 16, 10, 11), seed=1), rand((20, 16, 3, 3), seed=2), rand((20,), seed=3)
    want = conv_ref(x, w, b, (3, 3), None, None, (1, 1))
    xs, ws, bs = nd(x), nd(w), nd(b)
    for a in (xs, ws, bs):
        a.attach_grad()
    for step in range(2):
        with mx.autograd.record():
            y = mx.nd.Convolution(xs, ws, bs, kernel=(3, 3), pad=(1, 1), num_filter=20)
        close(y, want.astype("float32"), "float32")
        y.backward()
        ws[:] = ws * 0.5  # the next step sees new filters
        w = w * 0.5
        want = conv_ref(x, w, b, (3, 3), None, None, (1, 1))
    close(bs.grad, np.full(20, 2 * 110.0, "float32"), "float32")
    # Deconvolution (16 -> 20 channels, stride 1): its data gradient is Convolution(dy, w)
    wd = rand((16, 20, 3, 3), seed=4)
    xd = mx.nd.array(x)
    xd.attach_grad(grad_req="add")
    hg = rand((2, 20, 10, 11), seed=5)
    for _ in range(2):
        with mx.autograd.record():
            yd = mx.nd.Deconvolution(xd, nd(wd), kernel=(3, 3), pad=(1, 1), num_filter=20)
        yd.backward(nd(hg))
    close(xd.grad, 2 * conv_ref(hg, wd, None, (3, 3), None, None, (1, 1)).astype("float32"), "float32")
    for dt, tol in (("float16", 1e-2), ("bfloat16", 4e-2)):
        xh, wh = x.astype(dt), w.astype(dt)
        y = mx.nd.Convolution(nd(xh), nd(wh), kernel=(3, 3), pad=(1, 1), num_filter=20, no_bias=True)
        ref = conv_ref(xh.astype(np.float64), wh.astype(np.float64), None, (3, 3), None, None, (1, 1))
        np.testing.assert_allclose(y.asnumpy().astype("float32"), ref, rtol=tol, atol=tol * np.abs(ref).max())


# ---- channels-last layouts ------------------------------------------------------------------

def _to_last(a):
    return np.ascontiguousarray(np.moveaxis(a, 1, -1))


def _to_first(a):
    return np.ascontiguousarray(np.moveaxis(a, -1, 1))


LAST_CASES = [
    # (op, channels-first data shape, num_filter, params)
    ("Convolution", (2, 3, 7, 6), 4, dict(kernel=(3, 3), stride=(2, 1), pad=(1, 1))),
    ("Convolution", (2, 4, 5, 5), 6, dict(kernel=(3, 3), pad=(1, 1), num_group=2)),
    ("Convolution", (2, 4, 6, 5), 4, dict(kernel=(3, 3), pad=(1, 1), num_group=4)),  # depthwise
    ("Convolution", (3, 5, 4, 6), 7, dict(kernel=(1, 1))),
    ("Convolution", (2, 3, 9), 4, dict(kernel=(3,), dilate=(2,))),
    ("Convolution", (1, 2, 4, 5, 3), 3, dict(kernel=(2, 3, 2), pad=(1, 1, 0))),
    ("Convolution", (2, 16, 8, 9), 16, dict(kernel=(3, 3), pad=(1, 1))),  # Winograd (float32)
    ("Deconvolution", (2, 3, 4, 5), 2, dict(kernel=(3, 3), stride=(2, 2), pad=(1, 1), adj=(1, 0))),
    ("Deconvolution", (1, 4, 3, 4), 6, dict(kernel=(3, 3), stride=(2, 2), num_group=2)),
]
LAYOUT_LAST = {3: "NWC", 4: "NHWC", 5: "NDHWC"}
LAYOUT_FIRST = {3: "NCW", 4: "NCHW", 5: "NCDHW"}


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("ci", range(len(LAST_CASES)))
def test_channels_last_layouts(dtype, ci):
    """NWC / NHWC / NDHWC Convolution and Deconvolution (weight (O, *kernel, I)) give the
    channels-first results moved to channels-last, forward and every gradient (data, weight,
    bias), with add requests too, and infer their shapes in their own layout."""
    op, shape, f, prm = LAST_CASES[ci]
    g = prm.get("num_group", 1)
    k = prm["kernel"]
    wshape = ((f, shape[1] // g) if op == "Convolution" else (shape[1], f // g)) + k
    x, w, b = rand(shape, dtype, seed=ci), rand(wshape, dtype, seed=10 + ci), rand((f,), dtype, seed=20 + ci)
    fn = getattr(mx.nd, op)
    first = dict(prm, layout=LAYOUT_FIRST[len(shape)])
    last = dict(prm, layout=LAYOUT_LAST[len(shape)])
    arrs = [nd(x), nd(w), nd(b)]
    for a in arrs:
        a.attach_grad()
    with mx.autograd.record():
        y = fn(*arrs, num_filter=f, no_bias=False, **first)
    hg1 = rand(y.shape, dtype, seed=30 + ci)
    y.backward(nd(hg1))
    y1, g1 = y.asnumpy(), [a.grad.asnumpy() for a in arrs]
    # the channels-last run, with the same head gradient in its own layout
    arrs = [nd(_to_last(x)), nd(_to_last(w)), nd(b)]
    for a in arrs:
        a.attach_grad()
    with mx.autograd.record():
        y = fn(*arrs, num_filter=f, no_bias=False, **last)
    assert y.shape == _to_last(y1).shape
    y.backward(nd(_to_last(hg1)))
    close(y, _to_last(y1), dtype)
    close(arrs[0].grad, _to_last(g1[0]), dtype)
    close(arrs[1].grad, _to_last(g1[1]), dtype)
    close(arrs[2].grad, g1[2], dtype)
    # add requests: the gradient ops add into what is there
    dy = nd(_to_last(hg1))
    for name, ins, want in [("_backward_%s_data" % op, [dy, nd(_to_last(w)), nd(_to_last(x))], _to_last(g1[0])),
                            ("_backward_%s_weight" % op, [dy, nd(_to_last(x))], _to_last(g1[1]))]:
        out = mx.nd.ones(want.shape, dtype=dtype)
        getattr(mx.nd, name)(*ins, out=out, num_filter=f, **last)
        close(out, want, dtype)
    # shapes inferred in the layout
    sym = getattr(mx.sym, op)(mx.sym.var("data"), num_filter=f, name="c", **last)
    args, outs, _ = sym.infer_shape(data=_to_last(x).shape)
    assert tuple(args[1]) == _to_last(w).shape and tuple(outs[0]) == _to_last(y1).shape
