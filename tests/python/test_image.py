"""The image operators (``mx.nd.image``: to_tensor, normalize, resize, crop, flips, random flips,
random brightness and contrast, and their gradient ops) and ``gluon.data.vision.transforms``.

Forward values against NumPy references (uint8 and floating dtypes, 1x1 images, 1 and 3
channels, single images and batches); resize against a NumPy implementation of OpenCV's
convention (what MXNet's CPU operator calls) and, with every other op and the transforms,
against MXNet 1.9.1's own outputs (tests/fixtures/image, written by
make_image_fixtures.py); the gradient table (checked by test_gradients.py against central
differences, first and second order); random ops: seeded runs repeat, factors stay in range,
per-image draws are spread as they should be; transforms on a dataset through a DataLoader;
bad input. Arrays are made without ctx=, so with BRASS_TEST_DEVICE=gpu the whole file runs on
gpu(0)."""
import gzip
import json
import os
import random

import numpy as np
import pytest

import brass as mx
from brass.gluon.data import ArrayDataset, DataLoader
from brass.gluon.data.vision import transforms as T
from grad_table import Grad, In
from nn_testing import grads_of, nd, raises

# Operators this file tests (read by the completeness test in test_op_table.py).
OPS_COVERED = {"_image_to_tensor", "_backward_image_to_tensor", "_image_normalize", "_image_resize",
               "_backward_image_resize", "_image_crop", "_backward_image_crop", "_image_flip_left_right",
               "_image_flip_top_bottom", "_image_random_flip_left_right", "_image_random_flip_top_bottom",
               "_image_random_brightness", "_image_random_contrast"}

_CROP = {"x": 1, "y": 2, "width": 3, "height": 2}
# Gradient cases (test_gradients.py checks them with the others, first and second order).
GRADIENTS = {
    # The output is float32 whatever the input: small inputs keep the central differences of
    # x / 255 well above float32's rounding.
    "_image_to_tensor": [Grad([In((2, 3, 2), domain=(0, 0.01))], rtol=2e-3, atol=1e-6),
                         Grad([In((2, 2, 1, 3), domain=(0, 0.01))], rtol=2e-3, atol=1e-6)],
    "_backward_image_to_tensor": [Grad([In((2, 2, 3)), In((2, 3, 2), diff=False)]),
                                  Grad([In((2, 3, 1, 2)), In((2, 1, 2, 3), diff=False)])],
    "_image_normalize": [Grad([In((3, 2, 2))], {"mean": (0.1, 0.2, 0.3), "std": (0.5, 2.0, 4.0)}),
                         Grad([In((2, 1, 2, 3))], {"mean": 0.5, "std": 0.25})],
    "_image_flip_left_right": [Grad([In((2, 3, 3))]), Grad([In((2, 2, 3, 1))])],
    "_image_flip_top_bottom": [Grad([In((3, 2, 1))]), Grad([In((2, 3, 2, 3))])],
    "_image_crop": [Grad([In((4, 5, 3))], _CROP), Grad([In((2, 4, 5, 1))], _CROP)],
    "_backward_image_crop": [Grad([In((2, 3, 3)), In((4, 5, 3), diff=False)], _CROP)],
    "_image_resize": [Grad([In((3, 4, 1))], {"size": (6, 5)}),
                      Grad([In((2, 5, 4, 1))], {"size": (3, 2)}),
                      Grad([In((4, 4, 2))], {"size": (2, 2)}),  # halving: OpenCV's area path
                      Grad([In((3, 4, 1))], {"size": (5, 2), "interp": 0}),
                      Grad([In((3, 6, 1))], {"size": 2, "keep_ratio": True})],
    "_backward_image_resize": [Grad([In((5, 6, 1)), In((3, 4, 1), diff=False)], {"size": (6, 5)}),
                               Grad([In((2, 2, 3, 1)), In((2, 5, 4, 1), diff=False)], {"size": (3, 2)}),
                               Grad([In((2, 5, 1)), In((3, 4, 1), diff=False)], {"size": (5, 2), "interp": 0})],
}
NO_SECOND_ORDER = set()
NOT_A_DERIVATIVE = set()
# The random ops have no gradient: differentiating through them is a clear error.
_FACTORS = {"min_factor": 0.5, "max_factor": 1.5}
NO_GRADIENT = {"_image_random_flip_left_right": Grad([In((2, 3, 3))]),
               "_image_random_flip_top_bottom": Grad([In((2, 3, 3))]),
               "_image_random_brightness": Grad([In((2, 3, 3))], _FACTORS),
               "_image_random_contrast": Grad([In((2, 3, 3))], _FACTORS)}

IMAGE_SHAPES = [(1, 1, 1), (1, 1, 3), (4, 5, 3), (3, 2, 1), (2, 4, 5, 3), (3, 1, 1, 1), (2, 3, 4, 1)]
DTYPES = ["uint8", "float32"]


def image(shape, dtype, seed=0):
    rs = np.random.RandomState(seed)
    if dtype == "uint8":
        return rs.randint(0, 256, shape).astype(dtype)
    return rs.uniform(-20, 280, shape).astype(dtype)


def same(got, want):
    got = got.asnumpy() if isinstance(got, mx.nd.NDArray) else np.asarray(got)
    assert got.dtype == want.dtype and got.shape == want.shape, (got.dtype, want.dtype, got.shape, want.shape)
    np.testing.assert_array_equal(got, want)


# ---- NumPy references ---------------------------------------------------------------------------
def ref_to_tensor(x):
    axes = (2, 0, 1) if x.ndim == 3 else (0, 3, 1, 2)
    return np.transpose(x.astype(np.float32) / np.float32(255), axes)


def ref_normalize(x, mean, std):
    c = x.shape[-3]
    shape = (c, 1, 1)
    m = np.broadcast_to(np.asarray(mean, dtype=x.dtype), (c,)).reshape(shape)
    s = np.broadcast_to(np.asarray(std, dtype=x.dtype), (c,)).reshape(shape)
    return (x - m) / s


def cv_axis(n_in, n_out, kind):
    """OpenCV's taps along one axis: source indices s0, s1 and float32 weights w0, w1 of each
    output index. kind 'nearest', 'x' (bilinear, border taps moved onto the border) or 'y'
    (bilinear, rows clamped)."""
    scale = 1.0 / (n_out / n_in)
    o = np.arange(n_out)
    if kind == "nearest":
        s = np.minimum(np.floor(o * scale).astype(np.int64), n_in - 1)
        return s, s, np.ones(n_out, np.float32), np.zeros(n_out, np.float32)
    f = ((o + 0.5) * scale - 0.5).astype(np.float32)
    s = np.floor(f).astype(np.int64)
    f = f - s.astype(np.float32)
    if kind == "x":
        edge = (s < 0) | (s >= n_in - 1)
        s = np.clip(s, 0, n_in - 1)
        f[edge] = 0
        s1 = np.minimum(s + 1, n_in - 1)
    else:
        s1 = np.clip(s + 1, 0, n_in - 1)
        s = np.clip(s, 0, n_in - 1)
    return s, s1, np.float32(1) - f, f


def ref_resize(x, size, interp=1):
    """cv::resize of (H, W, C) or (N, H, W, C) to size (w, h): INTER_NEAREST or INTER_LINEAR
    with half-pixel centres; uint8 in 11-bit fixed point; halving both sides averages 2x2
    blocks (OpenCV's INTER_AREA path)."""
    batch = x.ndim == 4
    xb = x if batch else x[None]
    n, h, w, c = xb.shape
    ow, oh = size
    r0, r1, b0, b1 = cv_axis(h, oh, "nearest" if interp == 0 else "y")
    c0, c1, a0, a1 = cv_axis(w, ow, "nearest" if interp == 0 else "x")
    if interp == 0:
        out = xb[:, r0][:, :, c0]
    elif x.dtype == np.uint8:
        ia0, ia1 = (np.rint(a * 2048).astype(np.int64).reshape(1, 1, -1, 1) for a in (a0, a1))
        ib0, ib1 = (np.rint(b * 2048).astype(np.int64).reshape(1, -1, 1, 1) for b in (b0, b1))
        v = xb.astype(np.int64)
        h0 = v[:, r0][:, :, c0] * ia0 + v[:, r0][:, :, c1] * ia1
        h1 = v[:, r1][:, :, c0] * ia0 + v[:, r1][:, :, c1] * ia1
        out = ((((ib0 * (h0 >> 4)) >> 16) + ((ib1 * (h1 >> 4)) >> 16) + 2) >> 2).clip(0, 255).astype(np.uint8)
    elif h == 2 * oh and w == 2 * ow:
        out = (((xb[:, 0::2, 0::2] + xb[:, 0::2, 1::2]) + xb[:, 1::2, 0::2]) + xb[:, 1::2, 1::2]) * x.dtype.type(0.25)
    else:
        t = x.dtype.type
        a0, a1 = a0.astype(x.dtype).reshape(1, 1, -1, 1), a1.astype(x.dtype).reshape(1, 1, -1, 1)
        b0, b1 = b0.astype(x.dtype).reshape(1, -1, 1, 1), b1.astype(x.dtype).reshape(1, -1, 1, 1)
        h0 = xb[:, r0][:, :, c0] * a0 + xb[:, r0][:, :, c1] * a1
        h1 = xb[:, r1][:, :, c0] * a0 + xb[:, r1][:, :, c1] * a1
        out = (h0 * b0 + h1 * b1).astype(t)
    return out if batch else out[0]


def saturate(v, dtype):
    """MXNet's saturate_cast: integers clamped to the range, then truncated."""
    if np.dtype(dtype).kind in "iu":
        info = np.iinfo(dtype)
        return np.trunc(np.clip(v, info.min, info.max)).astype(dtype)
    return v.astype(dtype)


def ref_brightness(x, f):
    ct = np.float64 if x.dtype == np.float64 else np.float32  # the compute type
    return saturate(x.astype(ct) * ct(np.float32(f)), x.dtype)


def ref_contrast(x, f):
    xf = x.astype(np.float64 if x.dtype == np.float64 else np.float32)
    if x.shape[-1] == 3:
        gray = (xf[..., 0] * np.float32(0.299) + xf[..., 1] * np.float32(0.587)) + xf[..., 2] * np.float32(0.114)
    else:
        gray = xf[..., 0]
    mean = gray.reshape(gray.shape[:-2] + (-1,)).astype(np.float64).mean(axis=-1)[..., None, None, None]
    a = xf.dtype.type(np.float32(f))
    return saturate(xf * a + (1 - a) * mean.astype(xf.dtype), x.dtype)


# ---- forward values -----------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES + ["float64", "int32"])
@pytest.mark.parametrize("shape", IMAGE_SHAPES)
def test_to_tensor(dtype, shape):
    x = image(shape, dtype)
    same(mx.nd.image.to_tensor(nd(x)), ref_to_tensor(x))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape,mean,std", [((3, 4, 5), (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
                                            ((1, 1, 1), 0.5, 0.25), ((3, 1, 1), 0.1, (1.0, 2.0, 4.0)),
                                            ((2, 3, 2, 2), (1.0, -2.0, 3.0), 2.0), ((4, 1, 3, 1), (0.5,), (0.3,)),
                                            ((2, 4, 2), (1, 2), (3, 4))])
def test_normalize(dtype, shape, mean, std):
    x = image(shape, dtype) / 255
    got = mx.nd.image.normalize(nd(x), mean=mean, std=std)
    np.testing.assert_allclose(got.asnumpy(), ref_normalize(x, mean, std), rtol=1e-6 if dtype == "float32" else 1e-15)
    assert got.dtype == np.dtype(dtype)
    # in place, as the op allows
    a = nd(x)
    mx.nd.image.normalize(a, mean=mean, std=std, out=a)
    np.testing.assert_allclose(a.asnumpy(), got.asnumpy(), rtol=0)


@pytest.mark.parametrize("dtype", DTYPES + ["float64", "int32"])
@pytest.mark.parametrize("shape", IMAGE_SHAPES)
def test_flips(dtype, shape):
    x = image(shape, dtype)
    same(mx.nd.image.flip_left_right(nd(x)), x[..., ::-1, :].copy())
    same(mx.nd.image.flip_top_bottom(nd(x)), x[..., ::-1, :, :].copy())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,box", [((4, 5, 3), (1, 2, 3, 2)), ((1, 1, 1), (0, 0, 1, 1)), ((4, 5, 1), (0, 0, 5, 4)),
                                       ((2, 4, 5, 3), (4, 3, 1, 1)), ((3, 6, 2, 1), (0, 1, 2, 5))])
def test_crop(dtype, shape, box):
    x = image(shape, dtype)
    x0, y0, w, h = box
    same(mx.nd.image.crop(nd(x), x0, y0, w, h), x[..., y0:y0 + h, x0:x0 + w, :].copy())


RESIZE_CASES = [((5, 7, 3), (3, 2)), ((5, 7, 3), (14, 10)), ((5, 7, 1), (7, 5)), ((1, 1, 3), (4, 3)),
                ((1, 1, 1), (1, 1)), ((6, 4, 3), (1, 1)), ((8, 6, 3), (3, 4)), ((3, 9, 1), (20, 2)),
                ((2, 5, 4, 3), (3, 7)), ((3, 3, 2, 1), (4, 1)), ((13, 11, 3), (5, 6)), ((2, 2, 3), (5, 5))]


@pytest.mark.parametrize("dtype", DTYPES + ["float64"])
@pytest.mark.parametrize("interp", [0, 1])
@pytest.mark.parametrize("shape,size", RESIZE_CASES)
def test_resize(dtype, interp, shape, size):
    x = image(shape, dtype, seed=sum(shape))
    got = mx.nd.image.resize(nd(x), size, False, interp)
    same(got, ref_resize(x, size, interp))


@pytest.mark.parametrize("shape,size,keep,want", [((6, 9, 3), 4, True, (4, 6, 3)), ((9, 6, 1), 4, True, (6, 4, 1)),
                                                  ((5, 5, 3), 2, True, (2, 2, 3)), ((2, 7, 5, 3), 3, True, (2, 4, 3, 3)),
                                                  ((6, 9, 3), 4, False, (4, 4, 3)), ((6, 9, 3), (5, 2), True, (2, 5, 3))])
def test_resize_sizes(shape, size, keep, want):
    x = image(shape, "uint8")
    got = mx.nd.image.resize(nd(x), size=size, keep_ratio=keep)
    assert got.shape == want
    same(got, ref_resize(x, (want[-2], want[-3])))


def test_resize_float16_and_bfloat16_compute_in_float():
    x = image((5, 6, 3), "float32")
    want = ref_resize(x, (4, 3))
    for dt in ("float16", "bfloat16"):
        got = mx.nd.image.resize(mx.nd.array(x).astype(dt), (4, 3))
        assert got.dtype == mx.nd.zeros((1,), dtype=dt).dtype
        np.testing.assert_allclose(got.asnumpy().astype(np.float64), want, rtol=2e-2, atol=1)


@pytest.mark.parametrize("dtype", DTYPES + ["float64"])
@pytest.mark.parametrize("f", [0.0, 0.3, 1.0, 1.7, 2.5])
@pytest.mark.parametrize("shape", [(1, 1, 3), (3, 4, 3), (4, 2, 1), (2, 3, 2, 3), (3, 2, 2, 1)])
def test_brightness_and_contrast_formulas(dtype, f, shape):
    """With min_factor == max_factor the factor is known: the ops against their formulas
    (integer results clamped and truncated)."""
    x = image(shape, dtype, seed=7)
    same(mx.nd.image.random_brightness(nd(x), f, f), ref_brightness(x, f))
    got = mx.nd.image.random_contrast(nd(x), f, f)
    want = ref_contrast(x, f)
    if dtype == "uint8":
        # the gray mean is a sum in another order than the reference: truncation may differ by 1
        assert np.abs(got.asnumpy().astype(int) - want.astype(int)).max() <= 1
    else:
        np.testing.assert_allclose(got.asnumpy(), want, rtol=1e-5 if dtype == "float32" else 1e-12, atol=1e-3)


def test_contrast_gray_mean_per_image():
    # Two images of a batch: each blends towards its own gray level.
    x = np.zeros((2, 1, 2, 3), np.float32)
    x[0] = 100
    x[1, 0, 0] = [255, 0, 0]
    got = mx.nd.image.random_contrast(nd(x), 0.0, 0.0).asnumpy()
    np.testing.assert_allclose(got[0], np.full((1, 2, 3), 100.0), rtol=1e-6)
    np.testing.assert_allclose(got[1], np.full((1, 2, 3), 255 * 0.299 / 2), rtol=1e-6)


# ---- random ops: seeds, ranges, distributions ------------------------------------------------------
RANDOM_OPS = [("random_flip_left_right", {}), ("random_flip_top_bottom", {}),
              ("random_brightness", {"min_factor": 0.2, "max_factor": 1.9}),
              ("random_contrast", {"min_factor": 0.1, "max_factor": 2.0})]


@pytest.mark.parametrize("name,params", RANDOM_OPS)
def test_random_ops_repeat_with_the_seed(name, params):
    fn = getattr(mx.nd.image, name)
    x = nd(image((16, 5, 6, 3), "uint8", seed=3))
    mx.random.seed(42)
    a = [fn(x, **params).asnumpy() for _ in range(3)]
    mx.random.seed(42)
    b = [fn(x, **params).asnumpy() for _ in range(3)]
    for p, q in zip(a, b):
        np.testing.assert_array_equal(p, q)
    assert any(not np.array_equal(a[0], v) for v in a[1:]), "three calls drew the same augmentation"
    mx.random.seed(43)
    assert not np.array_equal(fn(x, **params).asnumpy(), a[0])


def test_random_brightness_factors_in_range_and_uniform():
    # A batch of 1x1 images of ones: the output is each image's factor.
    mx.random.seed(5)
    f = mx.nd.image.random_brightness(mx.nd.ones((20000, 1, 1, 1)), 0.5, 1.5).asnumpy().ravel()
    assert f.min() >= 0.5 and f.max() < 1.5
    assert abs(f.mean() - 1.0) < 0.01 and abs(f.std() - 1 / np.sqrt(12)) < 0.01
    hist = np.histogram(f, bins=10, range=(0.5, 1.5))[0]
    assert hist.min() > 1800 and hist.max() < 2200, hist
    # a single image: one factor for all its pixels, from call to call in range
    x = image((3, 4, 3), "float32", seed=1) + 300
    ratios = []
    for _ in range(200):
        r = mx.nd.image.random_brightness(nd(x), 0.25, 0.75).asnumpy() / x
        assert np.allclose(r, r.flat[0], rtol=1e-5)
        ratios.append(r.flat[0])
    assert min(ratios) >= 0.25 - 1e-6 and max(ratios) < 0.75 + 1e-6 and np.std(ratios) > 0.1


def test_random_contrast_factors_in_range():
    # contrast about a known gray level: out - gray = f * (x - gray)
    x = np.zeros((4000, 1, 2, 1), np.float32)
    x[:, 0, 0] = 10
    x[:, 0, 1] = 30
    mx.random.seed(9)
    y = mx.nd.image.random_contrast(nd(x), 0.5, 2.0).asnumpy()
    f = (y[:, 0, 1, 0] - 20) / 10
    assert f.min() >= 0.5 - 1e-5 and f.max() < 2.0 + 1e-5
    assert abs(f.mean() - 1.25) < 0.03
    np.testing.assert_allclose(y[:, 0, 0, 0] - 20, -10 * f, rtol=1e-4)


@pytest.mark.parametrize("name,axis", [("random_flip_left_right", 2), ("random_flip_top_bottom", 1)])
def test_random_flips_half_the_time_per_image(name, axis):
    fn = getattr(mx.nd.image, name)
    x = np.arange(2, dtype=np.float32).reshape((1, 2, 1, 1) if axis == 1 else (1, 1, 2, 1))
    batch = np.repeat(x, 4000, axis=0)
    mx.random.seed(1)
    y = fn(nd(batch)).asnumpy()
    flipped = np.array([np.array_equal(v, np.flip(u, axis - 1)) for u, v in zip(batch, y)])
    kept = np.array([np.array_equal(v, u) for u, v in zip(batch, y)])
    assert np.all(flipped ^ kept)
    assert 0.46 < flipped.mean() < 0.54
    # a single image: flipped in about half of the calls, never anything else
    img = image((3, 4, 3), "uint8")
    outs = [fn(nd(img)).asnumpy() for _ in range(200)]
    n_flip = sum(np.array_equal(o, np.flip(img, axis - 1)) for o in outs)
    assert sum(np.array_equal(o, img) for o in outs) + n_flip == 200 and 70 < n_flip < 130


def test_random_ops_saturate_uint8():
    # Factors above 1 push bright pixels past 255: they stay at 255 (not wrapped around), and
    # each image's output is its own factor times its pixels, truncated.
    xs = image((8, 6, 6, 3), "uint8")
    x = nd(xs)
    for _ in range(5):
        y = mx.nd.image.random_brightness(x, 1.5, 3.0).asnumpy()
        assert y.dtype == np.uint8 and np.all(y[xs > 200] == 255) and np.all(y >= xs)
        c = mx.nd.image.random_contrast(x, 2.0, 3.0).asnumpy()
        assert c.dtype == np.uint8 and c.min() == 0 and c.max() == 255


# ---- MXNet 1.9.1's outputs ----------------------------------------------------------------------
FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "image",
                        "image_mxnet191.json.gz")


def _fixture_cases():
    with gzip.open(FIXTURES, "rt") as f:
        return json.load(f)["cases"]


CASES = _fixture_cases()


def _run_case(c, x):
    k, p = c["kind"], c["call"]
    if k == "resize":
        return mx.nd.image.resize(x, tuple(p["size"]) if isinstance(p["size"], list) else p["size"],
                                  p["keep_ratio"], p["interp"])
    if k == "crop":
        return mx.nd.image.crop(x, p["x0"], p["y0"], p["width"], p["height"])
    if k == "normalize":
        return mx.nd.image.normalize(x, mean=tuple(p["mean"]), std=tuple(p["std"]))
    if k in ("random_brightness", "random_contrast"):
        return getattr(mx.nd.image, k)(x, p["factor"], p["factor"])
    if k in ("to_tensor", "flip_left_right", "flip_top_bottom"):
        return getattr(mx.nd.image, k)(x)
    if k == "symbol_json":
        return mx.sym.load_json(p["json"]).eval(ctx=mx.current_context(), data=x)[0]
    size = tuple(p["size"]) if isinstance(p["size"], list) else p["size"]
    if k == "CenterCrop":
        return T.CenterCrop(size)(x)
    if k == "Resize":
        return T.Resize(size, keep_ratio=p["keep_ratio"])(x)
    assert k == "RandomResizedCrop", k
    random.seed(p["seed"])
    kw = {"ratio": tuple(p["ratio"])} if "ratio" in p else {}
    return T.RandomResizedCrop(size, scale=tuple(p["scale"]), **kw)(x)


@pytest.mark.parametrize("i", range(len(CASES)), ids=["%s-%d" % (c["kind"], i) for i, c in enumerate(CASES)])
def test_matches_mxnet(i):
    c = CASES[i]
    x = np.array(c["x"], dtype=c["dtype"]).reshape(c["shape"])
    want = np.array(c["out"], dtype=c["out_dtype"]).reshape(c["out_shape"])
    got = _run_case(c, nd(x))
    if c["kind"] == "random_contrast" and want.dtype == np.uint8:
        # MXNet sums the gray level in float32 from the first pixel on; Brass in double by rows
        assert got.shape == want.shape and np.abs(got.asnumpy().astype(int) - want.astype(int)).max() <= 1
    elif c["kind"] in ("random_contrast", "normalize", "symbol_json") or (
            c["kind"] == "random_brightness" and want.dtype != np.uint8):
        np.testing.assert_allclose(got.asnumpy(), want, rtol=1e-6, atol=1e-5)
    else:
        same(got, want)  # bit for bit: resize (OpenCV's arithmetic), layouts, uint8 brightness


# ---- gradients beyond the table ----------------------------------------------------------------------
def test_to_tensor_gradient_is_the_transpose_over_255():
    x = nd(image((2, 4, 5, 3), "float64"))
    head = np.random.RandomState(0).standard_normal((2, 3, 4, 5)).astype(np.float32)
    _, (g,) = grads_of(mx.nd.image.to_tensor, [x], head)
    assert g.dtype == np.float64
    np.testing.assert_allclose(g, np.transpose(head, (0, 2, 3, 1)).astype(np.float64) / 255, rtol=1e-7)


def test_linear_op_gradients_against_their_formulas():
    x = image((4, 5, 3), "float64")
    head = np.random.RandomState(1).standard_normal((2, 3, 3))
    _, (g,) = grads_of(lambda a: mx.nd.image.crop(a, 1, 2, 3, 2), [nd(x)], head)
    want = np.zeros_like(x)
    want[2:4, 1:4] = head
    np.testing.assert_array_equal(g, want)
    head = np.random.RandomState(2).standard_normal(x.shape)
    _, (g,) = grads_of(mx.nd.image.flip_left_right, [nd(x)], head)
    np.testing.assert_array_equal(g, head[:, ::-1])
    c = np.transpose(x, (2, 0, 1)) / 255
    _, (g,) = grads_of(lambda a: mx.nd.image.normalize(a, mean=(1, 2, 3), std=(0.5, 2, 4)), [nd(c)], head.transpose(2, 0, 1))
    np.testing.assert_allclose(g, head.transpose(2, 0, 1) / np.array([0.5, 2, 4]).reshape(3, 1, 1), rtol=1e-15)


def test_resize_gradient_is_the_adjoint():
    # <resize(x), y> == <x, resize^T(y)> for random x, y: bilinear up and down, nearest.
    rs = np.random.RandomState(4)
    for shape, size, interp in [((5, 7, 2), (3, 9), 1), ((2, 4, 4, 1), (8, 2), 1), ((6, 6, 3), (3, 3), 1),
                                ((5, 3, 1), (7, 4), 0), ((1, 1, 1), (3, 2), 1)]:
        x = rs.standard_normal(shape)
        out_shape = shape[:-3] + (size[1], size[0], shape[-1])
        y = rs.standard_normal(out_shape)
        fwd = mx.nd.image.resize(nd(x), size, False, interp).asnumpy()
        _, (g,) = grads_of(lambda a: mx.nd.image.resize(a, size, False, interp), [nd(x)], y)
        np.testing.assert_allclose(np.sum(fwd * y), np.sum(x * g), rtol=1e-12)


# ---- namespaces: nd.image and sym.image -----------------------------------------------------------
def test_symbol_namespace_matches_ndarray():
    img = image((6, 8, 3), "uint8")
    s = mx.sym.var("img")
    y = mx.sym.image.normalize(mx.sym.image.to_tensor(mx.sym.image.crop(mx.sym.image.resize(s, (5, 4)), 1, 0, 3, 4)),
                               mean=(0.5, 0.4, 0.3), std=0.2)
    y = mx.sym.image.flip_top_bottom(mx.sym.image.flip_left_right(y.transpose((1, 2, 0))))
    _, out_shapes, _ = y.infer_shape(img=img.shape)
    assert out_shapes == [(4, 3, 3)]
    got = y.eval(ctx=mx.current_context(), img=nd(img))[0]
    a = mx.nd.image
    want = a.normalize(a.to_tensor(a.crop(a.resize(nd(img), (5, 4)), 1, 0, 3, 4)), mean=(0.5, 0.4, 0.3), std=0.2)
    want = a.flip_top_bottom(a.flip_left_right(want.transpose((1, 2, 0))))
    np.testing.assert_array_equal(got.asnumpy(), want.asnumpy())
    assert sorted(mx.nd.image.__all__) == sorted(mx.sym.image.__all__)
    assert "Converts an image" in mx.nd.image.to_tensor.__doc__


# ---- transforms ------------------------------------------------------------------------------------------
def test_transforms_values():
    x = image((6, 8, 3), "uint8")
    same(T.ToTensor()(nd(x)), ref_to_tensor(x))
    t = ref_to_tensor(x)
    np.testing.assert_allclose(T.Normalize((0.5, 0.4, 0.3), (0.2, 0.1, 0.3))(nd(t)).asnumpy(),
                               ref_normalize(t, (0.5, 0.4, 0.3), (0.2, 0.1, 0.3)), rtol=1e-6)
    same(T.Resize((4, 3))(nd(x)), ref_resize(x, (4, 3)))
    same(T.Resize(3, keep_ratio=True, interpolation=0)(nd(x)), ref_resize(x, (4, 3), 0))
    same(T.Cast("float16")(nd(x)), x.astype(np.float16))
    same(T.CenterCrop(4)(nd(x)), x[1:5, 2:6])
    same(T.CenterCrop((3, 2))(nd(x)), x[2:4, 2:5])
    # smaller than the crop: the largest window of its aspect ratio, resized up (MXNet's rule)
    same(T.CenterCrop((8, 12))(nd(x)), ref_resize(x[:, 2:6], (8, 12)))
    same(T.CropResize(1, 2, 4, 3)(nd(x)), x[2:5, 1:5])
    same(T.CropResize(1, 2, 4, 3, size=(2, 6), interpolation=0)(nd(x)), ref_resize(x[2:5, 1:5], (2, 6), 0))
    # batches go through every transform
    b = image((2, 6, 8, 3), "uint8")
    assert T.Compose([T.Resize(4), T.CenterCrop(3), T.RandomFlipLeftRight(), T.ToTensor()])(nd(b)).shape == (2, 3, 3, 3)


def test_random_resized_crop_sampling():
    """Python's random in MXNet's order (area, log-ratio, x0, y0; the fixtures check MXNet's own
    crops): the window for a seed is the one computed here."""
    x = image((20, 30, 3), "uint8")
    for seed in range(20):
        random.seed(seed)
        got = T.RandomResizedCrop((6, 5), scale=(0.2, 0.9), ratio=(0.5, 2.0))(nd(x))
        random.seed(seed)
        for _ in range(10):
            area = random.uniform(0.2, 0.9) * 600
            r = np.exp(random.uniform(np.log(0.5), np.log(2.0)))
            w, h = int(round(np.sqrt(area * r))), int(round(np.sqrt(area / r)))
            if 0 < w <= 30 and 0 < h <= 20:
                x0, y0 = random.randint(0, 30 - w), random.randint(0, 20 - h)
                break
        else:
            raise AssertionError("no window in 10 draws")
        same(got, ref_resize(x[y0:y0 + h, x0:x0 + w], (6, 5)))
    # windows that never fit: the center crop (a 2:1 crop of a 1:1 image, at most 3 pixels tall)
    random.seed(0)
    same(T.RandomResizedCrop((4, 2), scale=(0.99, 1.0), ratio=(8.0, 9.0))(nd(x[:3, :3])),
         ref_resize(x[:3, :3][1:2, :], (4, 2)))


def test_compose_hybridizes_consecutive_hybrid_blocks():
    t = T.Compose([T.Resize(6), T.RandomFlipLeftRight(), T.CenterCrop(4), T.ToTensor(), T.Normalize(0.5, 0.2)])
    kids = list(t._children.values())
    assert [type(k).__name__ for k in kids] == ["HybridSequential", "CenterCrop", "HybridSequential"]
    assert kids[0]._active and kids[2]._active
    x = image((8, 10, 3), "uint8")
    assert t(nd(x)).shape == (3, 4, 4)
    assert [type(k).__name__ for k in T.Compose([T.ToTensor(), T.CenterCrop(2)])._children.values()] == \
        ["ToTensor", "CenterCrop"]
    t2 = T.Compose([T.Resize((5, 4)), T.ToTensor(), T.Normalize((0.1, 0.2, 0.3), (0.3, 0.2, 0.1))])
    want = ref_normalize(ref_to_tensor(ref_resize(x, (5, 4))), (0.1, 0.2, 0.3), (0.3, 0.2, 0.1))
    for _ in range(2):  # the second call runs the cached graph
        np.testing.assert_allclose(t2(nd(x)).asnumpy(), want, rtol=1e-6, atol=1e-6)
    # random ops inside a hybridized graph draw anew on every call, and repeat with the seed
    t3 = T.Compose([T.Cast(), T.RandomBrightness(0.8), T.RandomContrast(0.8)])
    mx.random.seed(7)
    a = [t3(nd(x)).asnumpy() for _ in range(3)]
    mx.random.seed(7)
    b = [t3(nd(x)).asnumpy() for _ in range(3)]
    assert not np.array_equal(a[0], a[1])
    for p, q in zip(a, b):
        np.testing.assert_array_equal(p, q)


def test_transforms_on_a_dataset_through_a_dataloader():
    rs = np.random.RandomState(0)
    imgs = rs.randint(0, 256, (10, 12, 14, 3)).astype(np.uint8)
    labels = np.arange(10)
    ds = ArrayDataset(mx.nd.array(imgs, dtype="uint8"), labels)
    aug = T.Compose([T.RandomResizedCrop(8), T.RandomFlipLeftRight(), T.RandomBrightness(0.2),
                     T.RandomContrast(0.2), T.ToTensor(), T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])
    plain = T.Compose([T.Resize(8, keep_ratio=True), T.CenterCrop(8), T.ToTensor(), T.Normalize(0.5, 0.25)])
    for tf in (aug, plain):
        loader = DataLoader(ds.transform_first(tf), batch_size=4, last_batch="keep")
        seen = []
        for data, label in loader:
            assert data.dtype == np.float32 and data.shape[1:] == (3, 8, 8)
            seen.extend(label.asnumpy().astype(int).tolist())
        assert seen == list(range(10))
    want = np.stack([ref_normalize(ref_to_tensor(ref_resize(im, (9, 8))[:, 0:8]), 0.5, 0.25) for im in imgs])
    # worker processes (forked; they cannot use a GPU, so only when the test runs on the CPU)
    for workers in [0, 2] if mx.current_context() == mx.cpu(0) else [0]:
        data = mx.nd.concat(*[d for d, _ in DataLoader(ds.transform_first(plain), batch_size=3,
                                                         num_workers=workers)], dim=0)
        np.testing.assert_allclose(data.asnumpy(), want, rtol=1e-6, atol=1e-6)


def test_random_transforms_repeat_with_their_seeds():
    x = nd(image((9, 11, 3), "uint8"))
    tf = T.Compose([T.RandomResizedCrop(5), T.RandomFlipTopBottom(), T.RandomBrightness(0.5), T.ToTensor()])
    runs = []
    for _ in range(2):
        random.seed(11)
        mx.random.seed(11)
        runs.append([tf(x).asnumpy() for _ in range(4)])
    for p, q in zip(*runs):
        np.testing.assert_array_equal(p, q)
    random.seed(0)
    assert T.RandomApply(T.Cast("float64"), p=1.0)(x).dtype == np.float64
    assert T.RandomApply(T.Cast("float64"), p=0.0)(x).dtype == np.uint8


# ---- errors -------------------------------------------------------------------------------------------
def test_errors():
    img = nd(image((4, 5, 3), "uint8"))
    f = nd(image((4, 5, 3), "float32"))
    chw = nd(image((3, 4, 5), "float32"))
    a = mx.nd.image
    raises(lambda: a.to_tensor(nd(np.zeros((4, 5), np.uint8))), "_image_to_tensor", "(H, W, C)", "(4, 5)")
    raises(lambda: a.to_tensor(nd(np.zeros((1, 2, 4, 5, 3), np.uint8))), "_image_to_tensor", "(1, 2, 4, 5, 3)")
    raises(lambda: a.normalize(nd(np.zeros((5,), np.float32))), "_image_normalize", "(C, H, W)", "(5,)")
    raises(lambda: a.normalize(chw, mean=(1, 2)), "_image_normalize", "mean", "1 or 3", "(3, 4, 5)")
    raises(lambda: a.normalize(chw, std=(1, 2, 3, 4)), "_image_normalize", "std", "1 or 3")
    raises(lambda: a.normalize(chw, std=0), "_image_normalize", "std must not be 0")
    raises(lambda: a.normalize(img.transpose((2, 0, 1))), "_image_normalize", "floating-point", "uint8")
    raises(lambda: a.resize(img, 0), "_image_resize", "size must be positive", "(0,)")
    raises(lambda: a.resize(img, (3, -1)), "_image_resize", "size must be positive")
    raises(lambda: a.resize(img, (3, 3, 3)), "_image_resize", "1 value or 2")
    raises(lambda: a.resize(img), "_image_resize", "1 value or 2", "()")
    raises(lambda: a.resize(img, 3, interp=2), "_image_resize", "interp 2", "not supported")
    raises(lambda: a.resize(img.astype("int32"), 3), "_image_resize", "int32")
    raises(lambda: a.resize(nd(np.zeros((4, 5), np.uint8)), 3), "_image_resize", "(4, 5)")
    raises(lambda: a.resize(nd(np.zeros((0, 5, 3), np.uint8)), 3), "_image_resize", "empty", "(0, 5, 3)")
    raises(lambda: a.crop(img, 3, 2, 3, 2), "_image_crop", "outside", "(4, 5, 3)")
    raises(lambda: a.crop(img, -1, 0, 2, 2), "_image_crop", "outside", "x -1")
    raises(lambda: a.crop(img, 0, 3, 2, 2), "_image_crop", "outside", "height 2")
    raises(lambda: a.crop(img, 0, 0, 0, 2), "_image_crop", "width and height must be positive")
    raises(lambda: a.crop(nd(np.zeros((5, 3), np.uint8)), 0, 0, 1, 1), "_image_crop", "(5, 3)")
    raises(lambda: a.flip_left_right(nd(np.zeros((5, 3), np.uint8))), "_image_flip_left_right", "(5, 3)")
    raises(lambda: a.random_flip_top_bottom(nd(np.zeros((5,), np.uint8))), "_image_random_flip_top_bottom", "(5,)")
    raises(lambda: a.random_contrast(nd(np.zeros((2, 2, 2), np.float32)), 0.5, 1.5), "_image_random_contrast",
           "1 or 3 channels", "(2, 2, 2)")
    raises(lambda: a.random_contrast(nd(np.zeros((2, 2, 2, 4), np.float32)), 0.5, 1.5), "_image_random_contrast",
           "(2, 2, 2, 4)")
    raises(lambda: a.random_brightness(f, 1.5, 0.5), "_image_random_brightness", "min_factor", "max_factor")
    raises(lambda: a.random_brightness(f, -1, 0.5), "_image_random_brightness", "min_factor")
    raises(lambda: a.random_brightness(nd(np.zeros((2, 2, 3), bool)), 0.5, 1.5), "_image_random_brightness", "bool")
    raises(lambda: a.to_tensor(nd(np.zeros((2, 2, 3), bool))), "_image_to_tensor", "bool")
    raises(lambda: T.RandomResizedCrop((2, 2, 2)), "size", "(width, height)")
    raises(lambda: T.CenterCrop(3)(nd(np.zeros((3,), np.uint8))), "(H, W, C)")
    with pytest.raises(mx.BrassError, match="this operator has no gradient"):
        x = nd(image((2, 3, 3), "float32"))
        x.attach_grad()
        with mx.autograd.record():
            y = a.random_brightness(x, 0.5, 1.5)
        y.backward()
    assert (a.flip_left_right(img).asnumpy() == img.asnumpy()[:, ::-1]).all()  # still usable


@pytest.mark.parametrize("module", ["brass.gluon.data.vision.transforms", "brass.ndarray.image", "brass.symbol.image"])
def test_docstring_examples(module):
    import doctest
    import importlib
    res = doctest.testmod(importlib.import_module(module))
    assert res.attempted > 0 and res.failed == 0
