"""gluon.loss against NumPy, imperative and hybridized, with weight and sample_weight; gradients
of the common ones; errors."""
import numpy as np
import pytest

import brass as mx
from brass.gluon import loss as gloss

R = np.random.RandomState(0)
PRED = R.uniform(-2, 2, (4, 5))
PROB = R.uniform(0.05, 0.95, (4, 5))
REAL = R.uniform(-2, 2, (4, 5))
SIGNED = np.where(R.uniform(size=(4, 5)) > 0.5, 1.0, -1.0)
CLASSES = np.array([0, 3, 4, 1])
SW = R.uniform(0.5, 1.5, (4, 1))


def log_softmax(x, axis=-1):
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


def softplus(x):
    return np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0)


def mean1(x):
    return x.reshape(x.shape[0], -1).mean(axis=1)


CASES = [
    ("l2", lambda: gloss.L2Loss(), (PRED, REAL), lambda p, l: mean1(0.5 * (l - p) ** 2)),
    ("l2w", lambda: gloss.L2Loss(weight=3.0), (PRED, REAL), lambda p, l: mean1(1.5 * (l - p) ** 2)),
    ("l1", lambda: gloss.L1Loss(), (PRED, REAL), lambda p, l: mean1(np.abs(l - p))),
    ("sbce", lambda: gloss.SigmoidBCELoss(), (PRED, PROB),
     lambda p, l: mean1(softplus(p) - p * l)),
    ("sbce_sig", lambda: gloss.SigmoidBinaryCrossEntropyLoss(from_sigmoid=True), (PROB, PROB[::-1]),
     lambda p, l: mean1(-(np.log(p + 1e-12) * l + np.log(1 - p + 1e-12) * (1 - l)))),
    ("sce", lambda: gloss.SoftmaxCELoss(), (PRED, CLASSES),
     lambda p, l: -log_softmax(p)[np.arange(4), l]),
    ("sce_dense", lambda: gloss.SoftmaxCrossEntropyLoss(sparse_label=False), (PRED, PROB),
     lambda p, l: -(log_softmax(p) * l).sum(axis=1)),
    ("sce_logits", lambda: gloss.SoftmaxCELoss(from_logits=True), (log_softmax(PRED), CLASSES),
     lambda p, l: -p[np.arange(4), l]),
    ("kl", lambda: gloss.KLDivLoss(), (log_softmax(PRED), PROB),
     lambda p, l: mean1(l * (np.log(l + 1e-12) - p))),
    ("kl_nolog", lambda: gloss.KLDivLoss(from_logits=False), (PRED, PROB),
     lambda p, l: mean1(l * (np.log(l + 1e-12) - log_softmax(p)))),
    ("huber", lambda: gloss.HuberLoss(rho=0.7), (PRED, REAL),
     lambda p, l: mean1(np.where(np.abs(l - p) > 0.7, np.abs(l - p) - 0.35, 0.5 / 0.7 * (l - p) ** 2))),
    ("hinge", lambda: gloss.HingeLoss(), (PRED, SIGNED), lambda p, l: mean1(np.maximum(0, 1 - p * l))),
    ("sqhinge", lambda: gloss.SquaredHingeLoss(margin=2), (PRED, SIGNED),
     lambda p, l: mean1(np.maximum(0, 2 - p * l) ** 2)),
    ("logistic", lambda: gloss.LogisticLoss(), (PRED, SIGNED), lambda p, l: mean1(np.log1p(np.exp(-p * l)))),
    ("logistic_bin", lambda: gloss.LogisticLoss(label_format="binary"), (PRED, (SIGNED + 1) / 2),
     lambda p, l: mean1(np.log1p(np.exp(-p * (2 * l - 1))))),
    ("poisson", lambda: gloss.PoissonNLLLoss(), (PRED, np.abs(REAL)),
     lambda p, l: np.array([np.mean(np.exp(p) - l * p)])),
]


@pytest.mark.parametrize("hybrid", [False, True])
@pytest.mark.parametrize("name,make,args,ref", CASES, ids=[c[0] for c in CASES])
def test_loss_matches_numpy(name, make, args, ref, hybrid):
    blk = make()
    if hybrid:
        blk.hybridize()
    p, lab = args
    got = blk(mx.nd.array(p, dtype="float64"), mx.nd.array(lab, dtype="float64")).asnumpy()
    np.testing.assert_allclose(got.ravel(), ref(p, lab).ravel(), rtol=1e-10, atol=1e-12)
    if name != "poisson":  # sample weights: per-sample scale
        got = blk(mx.nd.array(p, dtype="float64"), mx.nd.array(lab, dtype="float64"),
                  mx.nd.array(SW, dtype="float64")).asnumpy()
        np.testing.assert_allclose(got.ravel(), (ref(p, lab).ravel() * SW.ravel()), rtol=1e-10, atol=1e-12)


def test_triplet_and_cosine_embedding():
    a, pos, neg = PRED, REAL, PROB
    got = gloss.TripletLoss(margin=0.5)(mx.nd.array(a), mx.nd.array(pos), mx.nd.array(neg)).asnumpy()
    want = np.maximum(0, ((pos - a) ** 2 - (neg - a) ** 2).sum(axis=1) + 0.5)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    label = np.array([1, -1, 1, -1])
    for hybrid in (False, True):
        blk = gloss.CosineEmbeddingLoss(margin=0.1)
        if hybrid:
            blk.hybridize()
        got = blk(mx.nd.array(a), mx.nd.array(pos), mx.nd.array(label)).asnumpy()
        cos = (a * pos).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(pos, axis=1))
        want = np.where(label == 1, 1 - cos, np.maximum(0, cos - 0.1))
        np.testing.assert_allclose(got.ravel(), want, rtol=1e-5, atol=1e-6)


def test_ctc_loss_layouts_agree():
    """NTC and TNC layouts (and NT / TN labels) give the same per-sample losses, which match the
    CTCLoss operator."""
    r = np.random.RandomState(1)
    pred = r.uniform(-1, 1, (2, 6, 4)).astype(np.float32)  # N, T, C (class 3 is the blank)
    label = np.array([[0, 1, -1], [2, 2, 1]], np.float32)
    a = gloss.CTCLoss()(mx.nd.array(pred), mx.nd.array(label)).asnumpy()
    b = gloss.CTCLoss(layout="TNC", label_layout="TN")(mx.nd.array(pred.transpose(1, 0, 2)),
                                                       mx.nd.array(label.T)).asnumpy()
    op = mx.nd.CTCLoss(mx.nd.array(pred.transpose(1, 0, 2)), mx.nd.array(label), blank_label="last").asnumpy()
    np.testing.assert_allclose(a, b, rtol=1e-6)
    np.testing.assert_allclose(a, op, rtol=1e-6)
    lengths = gloss.CTCLoss()(mx.nd.array(pred), mx.nd.array(label), mx.nd.array([6, 5]),
                              mx.nd.array([2, 3])).asnumpy()
    assert lengths.shape == (2,) and lengths[0] == pytest.approx(a[0], rel=1e-6)


def test_gradients_match_numpy():
    """d(sum of the loss)/d(pred) for softmax cross-entropy and L2, float64."""
    p = mx.nd.array(PRED, dtype="float64")
    p.attach_grad()
    with mx.autograd.record():
        loss = gloss.SoftmaxCELoss()(p, mx.nd.array(CLASSES, dtype="float64"))
    loss.backward()
    sm = np.exp(log_softmax(PRED))
    want = sm.copy()
    want[np.arange(4), CLASSES] -= 1
    np.testing.assert_allclose(p.grad.asnumpy(), want, rtol=1e-10, atol=1e-12)
    with mx.autograd.record():
        loss = gloss.L2Loss()(p, mx.nd.array(REAL, dtype="float64"))
    loss.backward()
    np.testing.assert_allclose(p.grad.asnumpy(), (PRED - REAL) / 5, rtol=1e-10, atol=1e-12)


def test_bad_input():
    with pytest.raises(mx.BrassError, match=r"reshape.*\(3, 5\)"):
        gloss.L2Loss()(mx.nd.array(PRED), mx.nd.ones((3, 5)))
    with pytest.raises(mx.BrassError, match="pick"):
        gloss.SoftmaxCELoss()(mx.nd.array(PRED), mx.nd.ones((5,)))
    with pytest.raises(mx.BrassError, match="label_format"):
        gloss.LogisticLoss(label_format="sign")
    with pytest.raises(mx.BrassError, match="layout"):
        gloss.CTCLoss(layout="CTN")
    with pytest.raises(mx.BrassError, match="weight must be a number"):
        gloss.L1Loss(weight=mx.nd.ones((1,)))(mx.nd.array(PRED), mx.nd.array(REAL))
