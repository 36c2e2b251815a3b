"""CTCLoss (and its aliases ctc_loss, _contrib_CTCLoss, _contrib_ctc_loss) against NumPy
references written here: a brute force over every alignment for tiny cases and the forward
(alpha-beta) algorithm for larger ones, for the loss and the data gradient (softmax inside;
the gradient scaled per sample by the head gradient, as MXNet does). Blank first/last, padded
labels or label_lengths, full sequences or data_lengths, float32/float64; bad labels, lengths,
shapes and dtypes are BrassErrors naming the op and the values.

Arrays are made without ctx=, so with BRASS_TEST_DEVICE=gpu the whole file runs on gpu(0)."""
import itertools

import numpy as np
import pytest

import brass as mx
from grad_table import Grad, In
from nn_testing import grads_of, nd, raises

OPS_COVERED = {"CTCLoss", "_backward_CTCLoss"}

GRADIENTS = {
    "CTCLoss": [
        Grad([In((4, 2, 3)), In((2, 2), diff=False, values=[1, 2, 2, 0])]),
        Grad([In((5, 2, 3)), In((2, 2), diff=False, values=[1, 1, 0, -1]),
              In((2,), diff=False, values=[5, 3])], {"blank_label": "last", "use_data_lengths": True}),
        Grad([In((4, 1, 4)), In((1, 3), diff=False, values=[3, 1, 3]), In((1,), diff=False, values=[2])],
             {"use_label_lengths": True}),
    ],
}
# The gradient op has no gradient of its own.
NO_SECOND_ORDER = {"CTCLoss"}
NO_GRADIENT = {"_backward_CTCLoss": Grad([In((2,)), In((3, 2, 4))])}

FLOATS = ["float32", "float64"]


def tol(dtype):
    return dict(rtol=2e-5, atol=2e-6) if dtype == "float32" else dict(rtol=1e-10, atol=1e-12)


def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def label_of(row, length, blank_first):
    """The label sequence of one row: the first `length` values, or up to the padding value."""
    row = [int(v) for v in row]
    if length is None:
        pad = 0 if blank_first else -1
        length = row.index(pad) if pad in row else len(row)
    return row[:int(length)]


# ---- references ------------------------------------------------------------------------------
def brute_sample(x, label, blank):
    """Loss and gradient of one sample x (t, k) by enumerating every alignment."""
    t, k = x.shape
    y = softmax(x)
    p = 0.0
    dp = np.zeros((t, k))  # sum over matching paths of prob(path) * [path[t] == k]
    for path in itertools.product(range(k), repeat=t):
        coll = [c for j, c in enumerate(path) if j == 0 or c != path[j - 1]]
        if [c for c in coll if c != blank] != list(label):
            continue
        pr = np.prod([y[j, c] for j, c in enumerate(path)])
        p += pr
        for j, c in enumerate(path):
            dp[j, c] += pr
    return -np.log(p), y - dp / p


def forward_sample(x, label, blank):
    """Loss and gradient of one sample x (t, k) by the alpha-beta recursions (probabilities)."""
    t, k = x.shape
    y = softmax(x)
    ext = [blank]
    for c in label:
        ext += [c, blank]
    s = len(ext)
    if t == 0:
        return 0.0, np.zeros((0, k))

    def skip(j):  # may state j be entered from j - 2
        return j >= 2 and ext[j] != blank and ext[j] != ext[j - 2]

    a = np.zeros((t, s))
    a[0, 0] = y[0, ext[0]]
    if s > 1:
        a[0, 1] = y[0, ext[1]]
    for i in range(1, t):
        for j in range(s):
            v = a[i - 1, j] + (a[i - 1, j - 1] if j >= 1 else 0) + (a[i - 1, j - 2] if skip(j) else 0)
            a[i, j] = v * y[i, ext[j]]
    b = np.zeros((t, s))  # includes y at step i
    b[t - 1, s - 1] = y[t - 1, ext[s - 1]]
    if s > 1:
        b[t - 1, s - 2] = y[t - 1, ext[s - 2]]
    for i in range(t - 2, -1, -1):
        for j in range(s):
            v = b[i + 1, j] + (b[i + 1, j + 1] if j + 1 < s else 0) + (b[i + 1, j + 2] if j + 2 < s and skip(j + 2) else 0)
            b[i, j] = v * y[i, ext[j]]
    p = a[t - 1, s - 1] + (a[t - 1, s - 2] if s > 1 else 0)
    g = y.copy()
    for i in range(t):
        for j in range(s):
            g[i, ext[j]] -= a[i, j] * b[i, j] / y[i, ext[j]] / p
    return -np.log(p), g


def reference(x, labels, blank_label="first", data_lengths=None, label_lengths=None, sample=forward_sample):
    """Losses (n,) and gradient (t, n, k) of data x (t, n, k) in float64."""
    x = x.astype(np.float64)
    t, n, k = x.shape
    blank = 0 if blank_label == "first" else k - 1
    loss = np.zeros(n)
    grad = np.zeros(x.shape)
    for i in range(n):
        tl = t if data_lengths is None else int(data_lengths[i])
        lab = label_of(labels[i], None if label_lengths is None else label_lengths[i], blank_label == "first")
        loss[i], grad[:tl, i] = sample(x[:tl, i], lab, blank)
    return loss, grad


def run(x, labels, dtype, head=None, data_lengths=None, label_lengths=None, op="CTCLoss", **params):
    """The op's loss and data gradient (for head gradient `head`, ones by default)."""
    extra = []
    if data_lengths is not None:
        params["use_data_lengths"] = True
        extra.append(nd(np.asarray(data_lengths), dtype))
    if label_lengths is not None:
        params["use_label_lengths"] = True
        extra.append(nd(np.asarray(label_lengths), dtype))
    fn = getattr(mx.nd, op)
    y, (g,) = grads_of(lambda a: fn(a, nd(np.asarray(labels), dtype), *extra, **params),
                       [nd(x.astype(dtype))], head=head)
    return y.asnumpy(), g


def rand(shape, seed, scale=2.0):
    return np.random.RandomState(seed).uniform(-scale, scale, size=shape)


# ---- forward and gradient ----------------------------------------------------------------------
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("blank", ["first", "last"])
def test_brute_force_tiny(dtype, blank):
    # t=4, k=3: 81 alignments per sample; labels with a repeat, a single label, an empty one
    x = rand((4, 4, 3), 1)
    if blank == "first":
        labels = [[1, 2, 0], [2, 2, 0], [1, 0, 0], [0, 0, 0]]
    else:
        labels = [[0, 1, -1], [1, 1, -1], [0, -1, -1], [-1, -1, -1]]
    head = rand((4,), 2)
    loss, g = run(x, labels, dtype, head=head, blank_label=blank)
    want, wg = reference(x, labels, blank, sample=brute_sample)
    np.testing.assert_allclose(loss, want, **tol(dtype))
    np.testing.assert_allclose(g, wg * head[None, :, None], **tol(dtype))
    # the two references agree
    want2, wg2 = reference(x, labels, blank)
    np.testing.assert_allclose(want2, want, rtol=1e-12)
    np.testing.assert_allclose(wg2, wg, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", FLOATS)
def test_brute_force_with_lengths(dtype):
    x = rand((5, 3, 3), 3)
    labels = [[1, 2, 1], [2, 1, 1], [2, 2, 2]]
    dl, ll = [5, 3, 4], [3, 1, 0]
    loss, g = run(x, labels, dtype, data_lengths=dl, label_lengths=ll)
    want, wg = reference(x, labels, "first", dl, ll, sample=brute_sample)
    np.testing.assert_allclose(loss, want, **tol(dtype))
    np.testing.assert_allclose(g, wg, **tol(dtype))
    assert np.all(g[3:, 1] == 0) and np.all(g[4:, 2] == 0)  # past the sequence


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("blank", ["first", "last"])
@pytest.mark.parametrize("use_dl,use_ll", [(False, False), (True, False), (False, True), (True, True)])
def test_forward_algorithm(dtype, blank, use_dl, use_ll):
    t, n, k, width = 12, 4, 6, 5
    rs = np.random.RandomState(5)
    x = rs.uniform(-3, 3, (t, n, k))
    lo, hi = (1, k - 1) if blank == "first" else (0, k - 2)
    pad = 0 if blank == "first" else -1
    labels = rs.randint(lo, hi + 1, (n, width)).astype(np.float64)
    labels[0, 1] = labels[0, 0]  # a repeat
    ll = [5, 3, 0, 2]
    dl = [12, 9, 1, 5] if use_dl else None
    if not use_ll:
        for i, m in enumerate(ll):
            labels[i, m:] = pad
    head = rs.uniform(0.5, 2, n)
    loss, g = run(x, labels, dtype, head=head, data_lengths=dl, label_lengths=ll if use_ll else None,
                  blank_label=blank)
    want, wg = reference(x, labels, blank, dl, ll if use_ll else None)
    np.testing.assert_allclose(loss, want, **tol(dtype))
    np.testing.assert_allclose(g, wg * head[None, :, None], **tol(dtype))


@pytest.mark.parametrize("op", ["ctc_loss", "_contrib_CTCLoss", "_contrib_ctc_loss", "_npx_ctc_loss"])
def test_aliases(op):
    x = rand((5, 2, 4), 7)
    labels = [[1, 3], [2, 0]]
    loss, g = run(x, labels, "float64", op=op)
    want, wg = reference(x, labels)
    np.testing.assert_allclose(loss, want, rtol=1e-10)
    np.testing.assert_allclose(g, wg, rtol=1e-10, atol=1e-12)


def test_one_output_and_exact_fit():
    # the gradient output is hidden; a label needing every step (repeat: 1 blank 1) fits exactly
    y = mx.nd.CTCLoss(nd(rand((3, 1, 2), 8)), nd([[1.0, 1.0]]))
    assert isinstance(y, mx.nd.NDArray) and y.shape == (1,)
    x = rand((3, 1, 2), 8)
    want, _ = reference(x, [[1, 1]], sample=brute_sample)
    np.testing.assert_allclose(y.asnumpy(), want, rtol=1e-5)


def test_large_activations_are_stable():
    # log-space recursions: probabilities far below float range still give finite losses
    rs = np.random.RandomState(9)
    t, k = 60, 5
    x = rs.uniform(-40, 40, (t, 1, k))
    labels = [[1, 2, 3, 4, 1, 2]]
    loss, g = run(x, labels, "float64")
    assert np.all(np.isfinite(loss)) and np.all(np.isfinite(g))
    assert loss[0] > 100
    # each step's gradient sums to zero (softmax minus a distribution over classes)
    np.testing.assert_allclose(g.sum(axis=-1), 0, atol=1e-10)
    # float32 (whose log-probabilities near -1000 carry errors of ~1e-4): close to float64
    loss32, g32 = run(x, labels, "float32")
    np.testing.assert_allclose(loss32, loss, rtol=1e-5)
    np.testing.assert_allclose(g32, g, atol=2e-3)


def test_label_dtypes_and_data_length_zero():
    x = rand((4, 2, 3), 10)
    labels = np.array([[1, 2], [0, 0]], dtype=np.int32)
    dl = np.array([4, 0], dtype=np.int64)
    fn = mx.nd.CTCLoss
    y = fn(nd(x), nd(labels), nd(dl), use_data_lengths=True).asnumpy()
    want, _ = reference(x, labels, "first", dl)
    np.testing.assert_allclose(y, want, rtol=1e-10)
    assert y[1] == 0  # an empty label over an empty sequence


def test_backward_op_directly():
    rs = np.random.RandomState(11)
    h = rs.standard_normal(3)
    g = rs.standard_normal((2, 3, 4))
    for dtype in FLOATS:
        got = mx.nd._backward_CTCLoss(nd(h, dtype), nd(g, dtype)).asnumpy()
        np.testing.assert_allclose(got, g * h[None, :, None], **tol(dtype))


def test_symbol_shapes_and_outputs():
    data, label, ll = mx.sym.var("data"), mx.sym.var("label"), mx.sym.var("ll")
    s = mx.sym.CTCLoss(data, label, ll, use_label_lengths=True)
    assert s.list_outputs() == [s.name + "_output"]
    args, outs, _ = s.infer_shape(data=(6, 3, 5), label=(3, 4))
    assert outs == [(3,)]
    assert dict(zip(s.list_arguments(), args)) == {"data": (6, 3, 5), "label": (3, 4), "ll": (3,)}


# ---- bad input -----------------------------------------------------------------------------------
def test_bad_labels_and_lengths():
    x = nd(rand((4, 2, 3), 12))
    lab = lambda v: nd(np.asarray(v, dtype=np.float32))  # noqa: E731
    # value out of the vocabulary (k=3: 1..2 with blank first; 0..1 with blank last)
    raises(lambda: mx.nd.CTCLoss(x, lab([[1, 3], [1, 0]])), "CTCLoss", "label[0, 1] = 3", "[1, 2]")
    raises(lambda: mx.nd.CTCLoss(x, lab([[1, 2], [2, -1]])), "CTCLoss", "label[1, 1] = -1")
    raises(lambda: mx.nd.CTCLoss(x, lab([[0, 1], [2, 2]]), blank_label="last"), "CTCLoss", "label[1, 0] = 2",
           "[0, 1]")
    raises(lambda: mx.nd.CTCLoss(x, lab([[0, 1], [1, 0]]), lab([2, 2]), use_label_lengths=True), "CTCLoss",
           "label[0, 0] = 0")
    # too long for the sequence (repeats need blanks in between)
    raises(lambda: mx.nd.CTCLoss(x, lab([[1, 1], [2, 2]]), lab([4, 2]), use_data_lengths=True),
           "CTCLoss", "sample 1", "needs at least 3", "has 2")
    x5 = nd(rand((5, 1, 3), 13))
    raises(lambda: mx.nd.CTCLoss(nd(rand((4, 1, 3), 13)), lab([[1, 1, 1, 1]])), "CTCLoss", "needs at least 7")
    # lengths out of range
    raises(lambda: mx.nd.CTCLoss(x, lab([[1, 2], [1, 2]]), lab([5, 4]), use_data_lengths=True),
           "CTCLoss", "data_lengths[0] = 5", "[0, 4]")
    raises(lambda: mx.nd.CTCLoss(x, lab([[1, 2], [1, 2]]), lab([4, -1]), use_data_lengths=True),
           "CTCLoss", "data_lengths[1] = -1")
    raises(lambda: mx.nd.CTCLoss(x, lab([[1, 2], [1, 2]]), lab([3, 2]), use_label_lengths=True),
           "CTCLoss", "label_lengths[0] = 3", "[0, 2]")
    # still usable afterwards
    assert mx.nd.CTCLoss(x5, lab([[1, 2, 1]])).shape == (1,)


def test_bad_shapes_and_dtypes():
    x = nd(rand((4, 2, 3), 14))
    lab = nd(np.array([[1, 2], [1, 0]], dtype=np.float32))
    raises(lambda: mx.nd.CTCLoss(nd(rand((4, 6), 1)), lab), "CTCLoss", "3-D", "(4, 6)")
    raises(lambda: mx.nd.CTCLoss(x, nd(np.ones(2))), "CTCLoss", "label", "2-D")
    raises(lambda: mx.nd.CTCLoss(x, nd(np.ones((3, 2)))), "CTCLoss", "label (3, 2)", "(4, 2, 3)")
    raises(lambda: mx.nd.CTCLoss(x, nd(np.ones((2, 5)))), "CTCLoss", "label (2, 5)", "4 time steps")
    raises(lambda: mx.nd.CTCLoss(x, lab, nd(np.ones(3)), use_data_lengths=True), "CTCLoss", "data_lengths (3,)")
    raises(lambda: mx.nd.CTCLoss(x, lab, nd(np.ones((2, 1))), use_label_lengths=True), "CTCLoss",
           "label_lengths", "1-D")
    raises(lambda: mx.nd.CTCLoss(nd(np.ones((4, 2, 3), dtype=np.int32)), lab), "CTCLoss", "int32")
    raises(lambda: mx.nd.CTCLoss(nd(np.ones((4, 2, 3), dtype=np.float16)), lab), "CTCLoss", "float16")
    raises(lambda: mx.nd.CTCLoss(x, lab, blank_label="middle"), "CTCLoss", "blank_label")
    raises(lambda: mx.nd._backward_CTCLoss(nd(np.ones(3)), x), "_backward_CTCLoss", "out_grad (3,)")


def test_input_names_follow_the_length_flags():
    """With only use_label_lengths the third input is label_lengths: by keyword in symbols and
    NDArray calls, and in the names of the variables a symbol makes for missing inputs."""
    s = mx.sym.CTCLoss(data=mx.sym.var("d"), use_label_lengths=True, name="ctc")
    assert s.list_arguments() == ["d", "ctc_label", "ctc_label_lengths"]
    s = mx.sym.CTCLoss(mx.sym.var("d"), mx.sym.var("l"), label_lengths=mx.sym.var("ll"),
                       use_label_lengths=True, name="ctc")
    assert s.list_arguments() == ["d", "l", "ll"]
    s = mx.sym.CTCLoss(data=mx.sym.var("d"), use_data_lengths=True, use_label_lengths=True, name="c")
    assert s.list_arguments() == ["d", "c_label", "c_data_lengths", "c_label_lengths"]
    raises(lambda: mx.sym.CTCLoss(data=mx.sym.var("d"), data_lengths=mx.sym.var("dl"), use_label_lengths=True),
           "CTCLoss", "data_lengths", "label_lengths")
    rs = np.random.RandomState(3)
    x = rs.uniform(-1, 1, (5, 2, 4)).astype("float32")
    labels = np.array([[1, 2, 0], [3, 0, 0]], "float32")
    ll = np.array([2, 1], "float32")
    a = mx.nd.CTCLoss(nd(x), nd(labels), label_lengths=nd(ll), use_label_lengths=True).asnumpy()
    b = mx.nd.CTCLoss(nd(x), nd(labels), nd(ll), use_label_lengths=True).asnumpy()
    want, _ = reference(x, labels, label_lengths=ll)
    np.testing.assert_allclose(a, want, rtol=1e-5)
    np.testing.assert_array_equal(a, b)
