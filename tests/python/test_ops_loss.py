"""The loss layers against NumPy references: LinearRegressionOutput, LogisticRegressionOutput,
MAERegressionOutput (MXNet's gradient: grad_scale / num_output * (out - label), the output
gradient ignored), MakeLoss (normalization null/batch/valid) and make_loss, and
softmax_cross_entropy (a true derivative: in the gradient table). Errors name the op.

Arrays are made without ctx=, so with BRASS_TEST_DEVICE=gpu the whole file runs on gpu(0)."""
import numpy as np
import pytest

import brass as mx
from grad_table import Grad, In
from nn_testing import nd, raises

REG = ["LinearRegressionOutput", "LogisticRegressionOutput", "MAERegressionOutput"]
REG_GRAD = {"LinearRegressionOutput": "_backward_linear_reg_out",
            "LogisticRegressionOutput": "_backward_logistic_reg_out", "MAERegressionOutput": "_backward_mae_reg_out"}
OPS_COVERED = set(REG) | set(REG_GRAD.values()) | {"MakeLoss", "_backward_MakeLoss", "make_loss",
                                                   "softmax_cross_entropy", "_backward_softmax_cross_entropy"}

GRADIENTS = {
    "softmax_cross_entropy": [Grad([In((3, 4)), In((3,), diff=False, values=[0, 3, 1])]),
                              Grad([In((1, 2)), In((1,), diff=False, values=[1])])],
}
# Their gradient ops have no gradient of their own.
NO_SECOND_ORDER = {"softmax_cross_entropy"}
NOT_A_DERIVATIVE = set(REG) | {"MakeLoss", "make_loss"}
NO_GRADIENT = {g: Grad([In((2, 3)), In((2, 3))]) for g in REG_GRAD.values()}
NO_GRADIENT["_backward_MakeLoss"] = Grad([In((2, 3))])
NO_GRADIENT["_backward_softmax_cross_entropy"] = Grad([In((1,)), In((2, 3)), In((2,), diff=False, values=[2, 0])])

FLOATS = ["float32", "float64"]


def rand(shape, dtype="float64", seed=0, lo=-2.0, hi=2.0):
    return np.random.RandomState(seed).uniform(lo, hi, size=shape).astype(dtype)


def tol(dtype):
    return {"float16": dict(rtol=3e-3, atol=3e-3), "float32": dict(rtol=1e-5, atol=1e-6)}.get(
        dtype, dict(rtol=1e-12, atol=1e-12))


def grad_of(fn, x, *rest, head=None):
    a = nd(x)
    a.attach_grad()
    with mx.autograd.record():
        y = fn(a, *rest)
    y.backward(None if head is None else nd(head, np.dtype(y.dtype).name))
    return y.asnumpy(), a.grad.asnumpy()


# ---- regression outputs -----------------------------------------------------------------------
def reg_forward(name, x):
    return 1 / (1 + np.exp(-x)) if name == "LogisticRegressionOutput" else x


def reg_grad(name, out, label, scale):
    d = out - label.reshape(out.shape)
    if name == "MAERegressionOutput":
        d = np.sign(d)
    return scale / (label.size // label.shape[0]) * d


@pytest.mark.parametrize("dtype", FLOATS + ["float16"])
@pytest.mark.parametrize("name", REG)
@pytest.mark.parametrize("shape,lshape", [((4, 1), (4,)), ((4, 1), (4, 1)), ((3, 5), (3, 5)), ((2, 3, 2), (2, 6)),
                                          ((1, 1), (1,))])
def test_regression_outputs(name, dtype, shape, lshape):
    x = rand(shape, dtype, 1)
    label = rand(lshape, dtype, 2)
    scale = 2.5
    fn = getattr(mx.nd, name)
    # the output gradient is ignored: any head gives the same data gradient
    y, g = grad_of(lambda a: fn(a, nd(label), grad_scale=scale), x, head=rand(shape, dtype, 3))
    want = reg_forward(name, x.astype(np.float64))
    np.testing.assert_allclose(y.astype(np.float64), want, **tol(dtype))
    np.testing.assert_allclose(g.astype(np.float64), reg_grad(name, want, label.astype(np.float64), scale), **tol(dtype))
    # the gradient op directly
    gd = getattr(mx.nd, REG_GRAD[name])(nd(label), nd(want.astype(dtype)), grad_scale=scale)
    np.testing.assert_allclose(gd.asnumpy().astype(np.float64), reg_grad(name, want, label.astype(np.float64), scale),
                               **tol(dtype))


def test_regression_symbol_makes_the_label_and_infers_its_shape():
    s = mx.sym.LinearRegressionOutput(mx.sym.var("x"), name="lro")
    assert s.list_arguments() == ["x", "lro_label"]
    arg, out, _ = s.infer_shape(x=(5, 1))
    assert arg == [(5, 1), (5,)] and out == [(5, 1)]
    arg, _, _ = s.infer_shape(x=(5, 3))
    assert arg[1] == (5, 3)


def test_regression_trains_through_an_executor():
    # y = 3x - 1 by gradient descent on a bound executor: the layer's gradient drives it
    rs = np.random.RandomState(0)
    xv = rs.uniform(-1, 1, (32, 1)).astype("float32")
    yv = (3 * xv[:, 0] - 1).astype("float32")
    net = mx.sym.LinearRegressionOutput(mx.sym.FullyConnected(mx.sym.var("data"), num_hidden=1, name="fc"), name="lro")
    exe = net.simple_bind(mx.cpu() if mx.context.current_context().device_type == "cpu" else mx.gpu(0),
                          data=(32, 1))
    exe.arg_dict["data"][:] = xv
    exe.arg_dict["lro_label"][:] = yv
    exe.arg_dict["fc_weight"][:] = 0
    exe.arg_dict["fc_bias"][:] = 0
    for _ in range(300):
        exe.forward(is_train=True)
        exe.backward()
        for k in ("fc_weight", "fc_bias"):
            exe.arg_dict[k][:] = exe.arg_dict[k] - 0.5 / 32 * exe.grad_dict[k]
    np.testing.assert_allclose(exe.arg_dict["fc_weight"].asnumpy().ravel(), [3], atol=1e-3)
    np.testing.assert_allclose(exe.arg_dict["fc_bias"].asnumpy(), [-1], atol=1e-3)


def test_regression_errors():
    x = nd(rand((4, 3)))
    raises(lambda: mx.nd.LinearRegressionOutput(x, nd(rand((4, 2)))), "LinearRegressionOutput", "label", "(4, 2)",
           "(4, 3)")
    raises(lambda: mx.nd.MAERegressionOutput(x, nd(rand((3, 4)))), "MAERegressionOutput", "(3, 4)")
    raises(lambda: mx.nd.LogisticRegressionOutput(nd(np.ones((2, 2), "int32")), nd(np.ones((2, 2), "int32"))),
           "LogisticRegressionOutput", "int32")
    raises(lambda: mx.nd._backward_linear_reg_out(nd(rand((4,))), x), "_backward_linear_reg_out", "(4,)", "(4, 3)")


# ---- MakeLoss, make_loss ----------------------------------------------------------------------
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("norm", ["null", "batch", "valid"])
def test_make_loss(dtype, norm):
    x = rand((4, 5), dtype, 4)
    y, g = grad_of(lambda a: mx.nd.MakeLoss(a, grad_scale=3.0, normalization=norm, valid_thresh=0.5), x,
                   head=rand((4, 5), dtype, 5))
    np.testing.assert_array_equal(y, x)
    div = {"null": 1, "batch": 4, "valid": max(1, int((x > 0.5).sum()))}[norm]
    np.testing.assert_allclose(g, np.full(x.shape, 3.0 / div), **tol(dtype))
    # valid with nothing above the threshold divides by 1
    _, g0 = grad_of(lambda a: mx.nd.MakeLoss(a, normalization="valid", valid_thresh=10), x)
    np.testing.assert_allclose(g0, np.ones(x.shape), **tol(dtype))


def test_make_loss_lowercase_has_a_gradient_of_ones():
    x = rand((3, 2), "float32", 6)
    y, g = grad_of(lambda a: mx.nd.make_loss(mx.nd.square(a)), x, head=rand((3, 2), "float32", 7))
    np.testing.assert_allclose(y, x * x, rtol=1e-6)
    np.testing.assert_allclose(g, 2 * x, rtol=1e-6)  # ones through square


# ---- softmax_cross_entropy ----------------------------------------------------------------------
def sce_ref(x, label):
    x = x.astype(np.float64)
    k = x.shape[1]
    lab = np.clip(np.trunc(label.astype(np.float64)), 0, k - 1).astype(int)
    m = x.max(axis=1, keepdims=True)
    ls = x - m - np.log(np.exp(x - m).sum(axis=1, keepdims=True))
    return -ls[np.arange(len(lab)), lab].sum(), np.exp(ls) - np.eye(k)[lab]


@pytest.mark.parametrize("dtype", FLOATS + ["float16"])
@pytest.mark.parametrize("shape", [(4, 5), (1, 3), (7, 1), (0, 4), (3, 200)])
@pytest.mark.parametrize("ldtype", ["float32", "int32", "int64"])
def test_softmax_cross_entropy(dtype, shape, ldtype):
    x = rand(shape, dtype, 8, -5, 5)
    label = np.random.RandomState(9).randint(0, shape[1], shape[0]).astype(ldtype)
    y, g = grad_of(lambda a: mx.nd.softmax_cross_entropy(a, nd(label)), x, head=np.array([1.5]))
    loss, grad = sce_ref(x, label)
    assert y.shape == (1,) and y.dtype == np.dtype(dtype)
    t = dict(rtol=5e-3, atol=5e-3) if dtype == "float16" else dict(rtol=1e-5, atol=1e-5) if dtype == "float32" else tol(dtype)
    np.testing.assert_allclose(y.astype(np.float64), [loss], **t)
    np.testing.assert_allclose(g.astype(np.float64), 1.5 * grad, **t)


def test_softmax_cross_entropy_clips_labels_and_is_stable():
    x = np.array([[1000.0, 0.0, -1000.0], [0.5, 0.2, 0.1]])
    label = np.array([7.0, -2.0])  # clipped to 2 and 0
    y = mx.nd.softmax_cross_entropy(nd(x), nd(label)).asnumpy()
    np.testing.assert_allclose(y, [sce_ref(x, label)[0]], rtol=1e-12)
    assert np.isfinite(y).all()


def test_softmax_cross_entropy_errors():
    raises(lambda: mx.nd.softmax_cross_entropy(nd(rand((4,))), nd(np.zeros(4))), "softmax_cross_entropy", "2-D",
           "(4,)")
    raises(lambda: mx.nd.softmax_cross_entropy(nd(rand((4, 3))), nd(np.zeros(3))), "softmax_cross_entropy", "label",
           "(3,)", "(4,)")
    raises(lambda: mx.nd.softmax_cross_entropy(nd(np.ones((2, 3), "int32")), nd(np.zeros(2))),
           "softmax_cross_entropy", "int32")
