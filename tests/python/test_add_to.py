"""Add-to in the executor: the parts of an add_n whose ops can add into their output are
computed in the sum's buffer (the first written, the others added) and add_n does not run.

Every op that declares it (brass_op_flags bit 2) is run that way here, as a forward sum of two
calls and, for the gradient ops, inside the gradients of networks that use a value twice; the
results must match the executor without add-to (BRASS_ADD_TO=0) and imperative arithmetic."""
import os

import numpy as np
import pytest

import brass as mx
from brass.base import check, ffi, lib
from op_table import BINARY, REDUCE, UNARY


def _flagged():
    n = ffi.new("int32_t*")
    check(lib.brass_op_count(n))
    names = []
    for i in range(n[0]):
        s = ffi.new("const char**")
        check(lib.brass_op_name(i, s))
        name = ffi.string(s[0]).decode()
        h = ffi.new("brass_op_t*")
        check(lib.brass_op_find(name.encode(), h))
        f = ffi.new("int32_t*")
        check(lib.brass_op_flags(h[0], f))
        if f[0] & 2:
            names.append(name)
    return names


def _bind(sym, arrays, grad_req="null", add_to=True):
    if not add_to:
        os.environ["BRASS_ADD_TO"] = "0"
    try:
        args = {k: arrays[k] for k in sym.list_arguments()}
        grads = {k: mx.nd.zeros(v.shape, dtype=v.dtype) for k, v in args.items()} if grad_req != "null" else None
        return sym.bind(mx.cpu(), args, args_grad=grads, grad_req=grad_req)
    finally:
        os.environ.pop("BRASS_ADD_TO", None)


def _sample(shape, dtype, domain, rs):
    lo, hi = domain
    x = rs.uniform(lo, hi, shape)
    if np.dtype(dtype).kind in "iu":
        x = np.round(x)
    return mx.nd.array(x.astype(dtype), dtype=dtype)


# ---- forward: add_n(op(A), op(B)) for every flagged op -------------------------------------
def _v(name):
    return mx.sym.var(name)


def _forward_cases():
    """name -> list of (builder(prefix) -> symbol, {suffix: (shape, dtype, domain)})."""
    cases = {}
    for name, c in UNARY.items():
        dts = [d for d in ("float32", "float64", "int32") if d in c.dtypes]
        cases[name] = [(lambda p, name=name: getattr(mx.sym, name)(_v(p + "x")), {"x": ((3, 5), d, c.domain)})
                       for d in dts] + [(lambda p, name=name: getattr(mx.sym, name)(_v(p + "x")),
                                         {"x": ((70001,), "float32", c.domain)})]
    for name in ("_digamma", "_trigamma"):  # internal: the gradients of gammaln and _digamma
        cases[name] = [(lambda p, name=name: getattr(mx.sym, name)(_v(p + "x")),
                        {"x": ((3, 5), "float32", (0.5, 3))})]
    for name, c in BINARY.items():
        dts = [d for d in ("float32", "int32") if d in c.dtypes]
        if c.nin == 1:
            params = c.params[0]
            cases[name] = [(lambda p, name=name, params=params: getattr(mx.sym, name)(_v(p + "x"), **params),
                            {"x": ((4, 6), d, c.domain)}) for d in dts]
        else:
            sa, sb = ((3, 1), (1, 4)) if name.startswith("broadcast_") else ((3, 4), (3, 4))
            cases[name] = [(lambda p, name=name: getattr(mx.sym, name)(_v(p + "a"), _v(p + "b")),
                            {"a": (sa, d, c.domain), "b": (sb, d, c.domain)}) for d in dts]
    for name, c in REDUCE.items():
        cases[name] = [(lambda p, name=name, kw=kw: getattr(mx.sym, name)(_v(p + "x"), **kw),
                        {"x": ((3, 4, 5), "float32", c.domain)}) for kw in ({}, {"axis": 1}, {"axis": (0, 2)})]
    d = (-1, 1)
    f32 = "float32"
    shaped = {"Reshape": lambda x: mx.sym.Reshape(x, shape=(5, 2, 3)), "Flatten": mx.sym.Flatten,
              "expand_dims": lambda x: mx.sym.expand_dims(x, axis=1), "_copy": mx.sym._copy,
              "BlockGrad": mx.sym.BlockGrad}
    for name, fn in shaped.items():
        cases[name] = [(lambda p, fn=fn: fn(_v(p + "x")), {"x": ((3, 2, 5), dt, d)}) for dt in ("float32", "int32")]
    cases["squeeze"] = [(lambda p: mx.sym.squeeze(_v(p + "x")), {"x": ((3, 1, 5), f32, d)})]
    cases["reshape_like"] = [(lambda p: mx.sym.reshape_like(_v(p + "x"), _v(p + "y")),
                              {"x": ((3, 2, 5), f32, d), "y": ((6, 5), f32, d)})]
    cases["_reduce_grad"] = [(lambda p: mx.sym._reduce_grad(_v(p + "g"), _v(p + "x"), axis=1),
                              {"g": ((3, 5), f32, d), "x": ((3, 4, 5), f32, d)})]
    cases["dot"] = [(lambda p, t=t: mx.sym.dot(_v(p + "a"), _v(p + "b"), transpose_a=t[0], transpose_b=t[1]),
                     {"a": ((4, 3) if t[0] else (3, 4), dt, d), "b": ((5, 4) if t[1] else (4, 5), dt, d)})
                    for t in ((False, False), (True, False), (False, True)) for dt in ("float32", "float64")]
    cases["batch_dot"] = [(lambda p: mx.sym.batch_dot(_v(p + "a"), _v(p + "b")),
                           {"a": ((2, 3, 4), f32, d), "b": ((2, 4, 5), f32, d)})]
    for g, fwd, sa, sb, so in (("_dot_grad_lhs", "dot", (3, 4), (4, 5), (3, 5)),
                               ("_dot_grad_rhs", "dot", (3, 4), (4, 5), (3, 5)),
                               ("_batch_dot_grad_lhs", "batch_dot", (2, 3, 4), (2, 4, 5), (2, 3, 5)),
                               ("_batch_dot_grad_rhs", "batch_dot", (2, 3, 4), (2, 4, 5), (2, 3, 5))):
        cases[g] = [(lambda p, g=g: getattr(mx.sym, g)(_v(p + "g"), _v(p + "a"), _v(p + "b")),
                     {"g": (so, f32, d), "a": (sa, f32, d), "b": (sb, f32, d)})]
    cases["FullyConnected"] = [(lambda p, nb=nb: mx.sym.FullyConnected(
        _v(p + "x"), _v(p + "w"), *([] if nb else [_v(p + "b")]), num_hidden=6, no_bias=nb),
        dict({"x": ((4, 2, 3), f32, d), "w": ((6, 6), f32, d)}, **({} if nb else {"b": ((6,), f32, d)})))
        for nb in (False, True)]
    cases["Activation"] = [(lambda p, a=a: mx.sym.Activation(_v(p + "x"), act_type=a), {"x": ((4, 7), f32, (-3, 3))})
                           for a in ("relu", "sigmoid", "tanh", "softrelu", "softsign", "log_sigmoid", "mish")]
    pools = [dict(kernel=(2, 2), pool_type="max"), dict(kernel=(3, 3), stride=(2, 2), pad=(1, 1), pool_type="avg"),
             dict(kernel=(1, 1), global_pool=True, pool_type="max")]
    cases["Pooling"] = [(lambda p, kw=kw: mx.sym.Pooling(_v(p + "x"), **kw), {"x": ((2, 3, 6, 6), f32, d)})
                        for kw in pools]
    cases["_backward_Pooling"] = [
        (lambda p, kw=kw: mx.sym._backward_Pooling(_v(p + "g"), _v(p + "x"), mx.sym.Pooling(_v(p + "x"), **kw),
                                                             **kw),
         {"g": (so, f32, d), "x": ((2, 3, 6, 6), f32, d)})
        for kw, so in zip(pools, [(2, 3, 5, 5), (2, 3, 3, 3), (2, 3, 1, 1)])]
    conv = dict(kernel=(3, 3), num_filter=4, pad=(1, 1), no_bias=True)
    cases["_backward_Convolution_data"] = [
        (lambda p: mx.sym._backward_Convolution_data(_v(p + "g"), _v(p + "w"), _v(p + "x"), **conv),
         {"g": ((2, 4, 5, 5), f32, d), "w": ((4, 3, 3, 3), f32, d), "x": ((2, 3, 5, 5), f32, d)})]
    wconv = dict(kernel=(3, 3), num_filter=16, pad=(1, 1), no_bias=True)  # by Winograd
    cases["_backward_Convolution_data"].append(
        (lambda p: mx.sym._backward_Convolution_data(_v(p + "g"), _v(p + "w"), _v(p + "x"), **wconv),
         {"g": ((2, 16, 8, 9), f32, d), "w": ((16, 16, 3, 3), f32, d), "x": ((2, 16, 8, 9), f32, d)}))
    cases["_backward_Convolution_weight"] = [
        (lambda p: mx.sym._backward_Convolution_weight(_v(p + "g"), _v(p + "x"), **conv),
         {"g": ((2, 4, 5, 5), f32, d), "x": ((2, 3, 5, 5), f32, d)})]
    # Loss layers, LeakyReLU and prelu's helpers, Deconvolution (and a depthwise convolution's
    # gradients).
    for name in ("LinearRegressionOutput", "LogisticRegressionOutput", "MAERegressionOutput"):
        cases[name] = [(lambda p, name=name: getattr(mx.sym, name)(_v(p + "x"), _v(p + "l")),
                        {"x": ((4, 3), f32, d), "l": ((4, 3), f32, d)})]
    for name in ("_backward_linear_reg_out", "_backward_logistic_reg_out", "_backward_mae_reg_out"):
        cases[name] = [(lambda p, name=name: getattr(mx.sym, name)(_v(p + "l"), _v(p + "y"), grad_scale=2.0),
                        {"l": ((4, 3), f32, d), "y": ((4, 3), f32, d)})]
    cases["SoftmaxActivation"] = [(lambda p, m=m: mx.sym.SoftmaxActivation(_v(p + "x"), mode=m),
                                   {"x": ((2, 3, 4), f32, d)}) for m in ("instance", "channel")]
    cases["MakeLoss"] = [(lambda p: mx.sym.MakeLoss(_v(p + "x")), {"x": ((3, 4), f32, d)})]
    cases["make_loss"] = [(lambda p: mx.sym.make_loss(_v(p + "x")), {"x": ((3, 4), f32, d)})]
    cases["_backward_MakeLoss"] = [(lambda p, nm=nm: mx.sym._backward_MakeLoss(_v(p + "x"), normalization=nm),
                                    {"x": ((3, 4), f32, d)}) for nm in ("null", "batch", "valid")]
    cases["softmax_cross_entropy"] = [(lambda p: mx.sym.softmax_cross_entropy(_v(p + "x"), _v(p + "l")),
                                       {"x": ((4, 5), f32, d), "l": ((4,), f32, (0, 4.9))})]
    cases["_backward_softmax_cross_entropy"] = [
        (lambda p: mx.sym._backward_softmax_cross_entropy(_v(p + "g"), _v(p + "x"), _v(p + "l")),
         {"g": ((1,), f32, d), "x": ((4, 5), f32, d), "l": ((4,), f32, (0, 4.9))})]
    cases["LeakyReLU"] = [(lambda p, a=a: mx.sym.LeakyReLU(_v(p + "x"), act_type=a), {"x": ((4, 7), f32, (-3, 3))})
                          for a in ("leaky", "elu", "selu", "gelu", "rrelu")]
    cases["LeakyReLU"].append((lambda p: mx.sym.LeakyReLU(_v(p + "x"), _v(p + "g"), act_type="prelu"),
                               {"x": ((2, 3, 4), f32, d), "g": ((3,), f32, (0, 1))}))
    cases["_prelu_slope"] = [(lambda p: mx.sym._prelu_slope(_v(p + "x"), _v(p + "g")),
                              {"x": ((2, 3, 4), f32, d), "g": ((3,), f32, (0, 1))})]
    cases["_backward_prelu_gamma"] = [(lambda p: mx.sym._backward_prelu_gamma(_v(p + "h"), _v(p + "x"), _v(p + "g")),
                                       {"h": ((2, 3, 4), f32, d), "x": ((2, 3, 4), f32, d), "g": ((3,), f32, (0, 1))})]
    deconv = dict(kernel=(3, 3), num_filter=4, stride=(2, 2), pad=(1, 1), adj=(1, 1))
    cases["Deconvolution"] = [(lambda p, nb=nb: mx.sym.Deconvolution(
        _v(p + "x"), _v(p + "w"), *([] if nb else [_v(p + "b")]), no_bias=nb, **deconv),
        dict({"x": ((2, 3, 3, 3), f32, d), "w": ((3, 4, 3, 3), f32, d)}, **({} if nb else {"b": ((4,), f32, d)})))
        for nb in (True, False)]
    cases["Deconvolution"].append((lambda p: mx.sym.Deconvolution(  # its data gradient by Winograd
        _v(p + "x"), _v(p + "w"), _v(p + "b"), kernel=(3, 3), num_filter=16, pad=(1, 1), no_bias=False),
        {"x": ((2, 16, 8, 9), f32, d), "w": ((16, 16, 3, 3), f32, d), "b": ((16,), f32, d)}))
    # its data gradient is a convolution: by GEMM, by each way of the depthwise planes (stride
    # 1 on short rows, stride 2 by phases, rows of 32 and more) and by Winograd
    dw = dict(kernel=(3, 3), num_filter=4, pad=(1, 1), num_group=4)
    cases["_backward_Deconvolution_data"] = [
        (lambda p, kw=kw: mx.sym._backward_Deconvolution_data(_v(p + "g"), _v(p + "w"), _v(p + "x"), **kw),
         {"g": (sg, f32, d), "w": (sw, f32, d), "x": (sx, f32, d)})
        for kw, sx, sw, sg in (
            (deconv, (2, 3, 3, 3), (3, 4, 3, 3), (2, 4, 6, 6)),
            (dw, (2, 4, 5, 7), (4, 1, 3, 3), (2, 4, 5, 7)),
            (dict(dw, stride=(2, 2), adj=(1, 1)), (2, 4, 4, 7), (4, 1, 3, 3), (2, 4, 8, 14)),
            (dw, (1, 4, 3, 40), (4, 1, 3, 3), (1, 4, 3, 40)),
            (dict(kernel=(3, 3), num_filter=16, pad=(1, 1)), (2, 16, 8, 9), (16, 16, 3, 3), (2, 16, 8, 9)))]
    cases["_backward_Deconvolution_weight"] = [
        (lambda p: mx.sym._backward_Deconvolution_weight(_v(p + "g"), _v(p + "x"), **deconv),
         {"g": ((2, 4, 6, 6), f32, d), "x": ((2, 3, 3, 3), f32, d)})]
    dwc = dict(kernel=(3, 3), num_filter=6, pad=(1, 1), num_group=3, no_bias=True)
    cases["_backward_Convolution_data"].append(
        (lambda p: mx.sym._backward_Convolution_data(_v(p + "g"), _v(p + "w"), _v(p + "x"), **dwc),
         {"g": ((2, 6, 5, 5), f32, d), "w": ((6, 1, 3, 3), f32, d), "x": ((2, 3, 5, 5), f32, d)}))
    cases["_backward_Convolution_weight"].append(
        (lambda p: mx.sym._backward_Convolution_weight(_v(p + "g"), _v(p + "x"), **dwc),
         {"g": ((2, 6, 5, 5), f32, d), "x": ((2, 3, 5, 5), f32, d)}))
    # Spatial and sequence ops (test_ops_spatial.py); index-like inputs sampled as floats.
    emb = dict(input_dim=5, output_dim=4)
    cases["Embedding"] = [(lambda p: mx.sym.Embedding(_v(p + "i"), _v(p + "w"), **emb),
                           {"i": ((2, 3), f32, (-1, 6)), "w": ((5, 4), f32, d)})]
    cases["_backward_Embedding"] = [(lambda p: mx.sym._backward_Embedding(_v(p + "g"), _v(p + "i"), **emb),
                                     {"g": ((2, 3, 4), f32, d), "i": ((2, 3), f32, (-1, 6))})]
    pw = (0, 0, 0, 0, 1, 2, 2, 1)
    cases["Pad"] = [(lambda p, m=m: mx.sym.Pad(_v(p + "x"), mode=m, pad_width=pw, constant_value=0.5),
                     {"x": ((1, 2, 3, 4), f32, d)}) for m in ("constant", "edge", "reflect")]
    cases["_backward_Pad"] = [(lambda p, m=m: mx.sym._backward_Pad(_v(p + "g"), mode=m, pad_width=pw),
                               {"g": ((1, 2, 6, 7), f32, d)}) for m in ("constant", "edge", "reflect")]
    cases["Crop"] = [(lambda p: mx.sym.Crop(_v(p + "x"), h_w=(2, 3), offset=(1, 2)), {"x": ((2, 3, 5, 6), f32, d)}),
                     (lambda p: mx.sym.Crop(_v(p + "x"), _v(p + "y"), center_crop=True),
                      {"x": ((2, 3, 5, 6), f32, d), "y": ((1, 1, 3, 3), f32, d)})]
    cases["_backward_Crop"] = [(lambda p: mx.sym._backward_Crop(_v(p + "g"), _v(p + "x"), num_args=1, h_w=(2, 3),
                                                                offset=(1, 2)),
                                {"g": ((2, 3, 2, 3), f32, d), "x": ((2, 3, 5, 6), f32, d)})]
    near = dict(scale=2, sample_type="nearest")
    cases["UpSampling"] = [(lambda p: mx.sym.UpSampling(_v(p + "x"), **near), {"x": ((1, 2, 2, 3), f32, d)}),
                           (lambda p: mx.sym.UpSampling(_v(p + "x"), _v(p + "y"), **near),
                            {"x": ((1, 2, 2, 2), f32, d), "y": ((1, 1, 4, 4), f32, d)}),
                           (lambda p: mx.sym.UpSampling(_v(p + "x"), _v(p + "w"), scale=2, sample_type="bilinear",
                                                        num_filter=2),
                            {"x": ((1, 2, 3, 3), f32, d), "w": ((2, 1, 4, 4), f32, d)})]
    cases["_backward_UpSampling"] = [(lambda p: mx.sym._backward_UpSampling(_v(p + "g"), _v(p + "x"), num_args=1, **near),
                                      {"g": ((1, 2, 4, 6), f32, d), "x": ((1, 2, 2, 3), f32, d)})]
    seq = dict(use_sequence_length=True)
    cases["SequenceMask"] = [(lambda p: mx.sym.SequenceMask(_v(p + "x"), _v(p + "n"), value=0.5, **seq),
                              {"x": ((4, 3, 2), f32, d), "n": ((3,), f32, (0, 4.9))})]
    cases["SequenceReverse"] = [(lambda p: mx.sym.SequenceReverse(_v(p + "x"), _v(p + "n"), **seq),
                                 {"x": ((4, 3, 2), f32, d), "n": ((3,), f32, (0, 4.9))})]
    cases["SequenceLast"] = [(lambda p: mx.sym.SequenceLast(_v(p + "x"), _v(p + "n"), **seq),
                              {"x": ((4, 3, 2), f32, d), "n": ((3,), f32, (1, 4.9))})]
    cases["_backward_SequenceLast"] = [(lambda p: mx.sym._backward_SequenceLast(_v(p + "g"), _v(p + "x"), _v(p + "n"), **seq),
                                        {"g": ((3, 2), f32, d), "x": ((4, 3, 2), f32, d), "n": ((3,), f32, (1, 4.9))})]
    cases["GridGenerator"] = [(lambda p: mx.sym.GridGenerator(_v(p + "t"), transform_type="affine", target_shape=(3, 4)),
                               {"t": ((2, 6), f32, d)}),
                              (lambda p: mx.sym.GridGenerator(_v(p + "f"), transform_type="warp"),
                               {"f": ((2, 2, 3, 4), f32, d)})]
    cases["_backward_GridGenerator"] = [(lambda p, t=t: mx.sym._backward_GridGenerator(_v(p + "g"), transform_type=t,
                                                                                       target_shape=(3, 4)),
                                         {"g": ((2, 2, 3, 4), f32, d)}) for t in ("affine", "warp")]
    cases["BilinearSampler"] = [(lambda p: mx.sym.BilinearSampler(_v(p + "x"), _v(p + "grid")),
                                 {"x": ((1, 2, 3, 4), f32, d), "grid": ((1, 2, 3, 3), f32, (-1.2, 1.2))})]
    cases["_backward_BilinearSampler"] = [
        (lambda p, k=k: mx.sym._backward_BilinearSampler(_v(p + "g"), _v(p + "x"), _v(p + "grid"))[k],
         {"g": ((1, 2, 3, 3), f32, d), "x": ((1, 2, 3, 4), f32, d), "grid": ((1, 2, 3, 3), f32, (-1.2, 1.2))})
        for k in (0, 1)]
    cases["_backward_CTCLoss"] = [(lambda p, dt=dt: mx.sym._backward_CTCLoss(_v(p + "h"), _v(p + "g")),
                                   {"h": ((3,), dt, d), "g": ((4, 3, 5), dt, d)}) for dt in ("float32", "float64")]
    return cases


FORWARD = _forward_cases()


def test_every_op_that_can_add_is_run_adding():
    missing = sorted(set(_flagged()) - set(FORWARD))
    assert not missing, "ops declaring add_req with no add-to case here: %s" % missing


@pytest.mark.parametrize("name", sorted(set(FORWARD) & set(_flagged())))
def test_forward_sum_adds_into_one_buffer(name):
    rs = np.random.RandomState(7)
    for build, inputs in FORWARD[name]:
        arrays = {}
        for p in ("p0_", "p1_"):
            for k, (shape, dtype, domain) in inputs.items():
                arrays[p + k] = _sample(shape, dtype, domain, rs)
        sym = mx.sym.add_n(build("p0_"), build("p1_"))
        exe = _bind(sym, arrays)
        assert exe.memory_plan["addto"] == 2, name
        got = exe.forward()[0].asnumpy()
        ref = _bind(sym, arrays, add_to=False)
        assert ref.memory_plan["addto"] == 0
        want = ref.forward()[0].asnumpy()
        kind = np.dtype(want.dtype).kind
        tol = dict(rtol=1e-5, atol=1e-6) if want.dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
        if kind in "iub":
            np.testing.assert_array_equal(got, want, err_msg=name)
        else:
            np.testing.assert_allclose(got, want, equal_nan=True, err_msg=name, **tol)
        # And against imperative calls of the same ops.
        a = build("p0_").eval(ctx=mx.cpu(), **{k: v for k, v in arrays.items() if k.startswith("p0_")})[0]
        b = build("p1_").eval(ctx=mx.cpu(), **{k: v for k, v in arrays.items() if k.startswith("p1_")})[0]
        imp = (a + b).asnumpy()
        if kind in "iub":
            np.testing.assert_array_equal(got, imp, err_msg=name)
        else:
            np.testing.assert_allclose(got, imp, equal_nan=True, err_msg=name, **tol)


# ---- gradients: a value used twice -----------------------------------------------------------
def _layers():
    """name -> (layer(F, x, w) with F = mx.sym or mx.nd, x shape, w shape)."""
    conv = dict(kernel=(3, 3), num_filter=4, pad=(1, 1))
    return {
        "fc": (lambda F, x, w: F.FullyConnected(x, w, num_hidden=5, no_bias=True), (6, 8), (5, 8)),
        "dot": (lambda F, x, w: F.dot(x, w, transpose_b=True), (6, 8), (5, 8)),
        "batch_dot": (lambda F, x, w: F.batch_dot(x, w), (2, 3, 4), (2, 4, 3)),
        "conv": (lambda F, x, w: F.Convolution(x, w, no_bias=True, **conv), (2, 3, 6, 6), (4, 3, 3, 3)),
        "pool_tanh": (lambda F, x, w: F.Pooling(F.tanh(x * w), kernel=(2, 2), pool_type="max"),
                      (2, 3, 6, 6), (2, 3, 6, 6)),
        "act_sum": (lambda F, x, w: F.sum(F.Activation(x, act_type="sigmoid") * w, axis=1),
                    (4, 6), (4, 6)),
        "broadcast": (lambda F, x, w: F.broadcast_mul(F.exp(x), w), (3, 1, 4), (1, 5, 1)),
    }


@pytest.mark.parametrize("name", sorted(_layers()))
def test_gradients_summed_in_place_match(name):
    f, sx, sw = _layers()[name]
    x, w = _v("x"), _v("w")
    # x and w each feed two layers (and the second copy reads a scaled x): their gradients are
    # sums of parts computed by the layers' gradient ops.
    y = f(mx.sym, x, w) * 0.7 + f(mx.sym, x * 0.5, w)
    sym = mx.sym.sum(y * y)
    rs = np.random.RandomState(3)
    arrays = {"x": _sample(sx, "float64", (-1, 1), rs), "w": _sample(sw, "float64", (-1, 1), rs)}
    exe = _bind(sym, arrays, grad_req="write")
    ref = _bind(sym, arrays, grad_req="write", add_to=False)
    assert exe.memory_plan["addto"] >= 2, exe.memory_plan
    for e in (exe, ref):
        e.forward(is_train=True)
        e.backward()
    for k in ("x", "w"):
        np.testing.assert_allclose(exe.grad_dict[k].asnumpy(), ref.grad_dict[k].asnumpy(), rtol=1e-12, atol=1e-12,
                                   err_msg=k)
    # The same with autograd (no executor): the layer built on arrays.
    xs = {k: v.copy() for k, v in arrays.items()}
    for v in xs.values():
        v.attach_grad()
    with mx.autograd.record():
        z = f(mx.nd, xs["x"], xs["w"]) * 0.7 + f(mx.nd, xs["x"] * 0.5, xs["w"])
        loss = mx.nd.sum(z * z)
    loss.backward()
    for k in ("x", "w"):
        np.testing.assert_allclose(exe.grad_dict[k].asnumpy(), xs[k].grad.asnumpy(), rtol=1e-10, atol=1e-10,
                                   err_msg=k)


def test_add_to_saves_memory_and_repeated_backward_stays_right():
    """A residual-style MLP: each hidden value feeds two layers. Add-to plans fewer bytes; with
    grad_req 'add' and two backward passes the gradients double exactly."""
    x = _v("data")
    h = x
    for i in range(4):
        a = mx.sym.FullyConnected(h, num_hidden=32, name="fa%d" % i)
        b = mx.sym.FullyConnected(h, num_hidden=32, name="fb%d" % i)
        h = mx.sym.tanh(a) + mx.sym.sigmoid(b)
    sym = mx.sym.sum(h)
    shapes = {"data": (16, 32)}
    on = sym.simple_bind(mx.cpu(), grad_req="write", **shapes)
    os.environ["BRASS_ADD_TO"] = "0"
    try:
        off = sym.simple_bind(mx.cpu(), grad_req="write", **shapes)
    finally:
        os.environ.pop("BRASS_ADD_TO")
    assert on.memory_plan["addto"] >= 4
    assert on.memory_plan["planned_bytes"] <= off.memory_plan["planned_bytes"]
    rs = np.random.RandomState(0)
    for k, v in on.arg_dict.items():
        v[:] = rs.uniform(-0.5, 0.5, v.shape)
        off.arg_dict[k][:] = v
    for e in (on, off):
        e.forward(is_train=True)
        e.backward()
    for k in on.grad_dict:
        np.testing.assert_allclose(on.grad_dict[k].asnumpy(), off.grad_dict[k].asnumpy(), rtol=1e-5, atol=1e-6,
                                   err_msg=k)


def test_concurrent_plan_gives_the_same_gradients():
    """BRASS_PLAN_CONCURRENT=1 (what hybridized training uses): buffers shared only along
    dependencies. Same results; more bytes than the memory-first plan, fewer than none."""
    x = _v("data")
    a = mx.sym.FullyConnected(x, num_hidden=16, name="a")
    b = mx.sym.FullyConnected(x, num_hidden=16, name="b")  # a branch beside a
    h = mx.sym.tanh(a) * mx.sym.sigmoid(b)
    sym = mx.sym.sum(mx.sym.FullyConnected(h, num_hidden=4, name="c"))
    exes = {}
    for mode, env in (("plain", {}), ("concurrent", {"BRASS_PLAN_CONCURRENT": "1"}),
                      ("off", {"BRASS_MEMORY_PLAN": "0"})):
        os.environ.update(env)
        try:
            exes[mode] = sym.simple_bind(mx.cpu(), grad_req="write", data=(8, 12))
        finally:
            for k in env:
                os.environ.pop(k)
    rs = np.random.RandomState(1)
    for k, v in exes["plain"].arg_dict.items():
        v[:] = rs.uniform(-1, 1, v.shape)
        for e in exes.values():
            e.arg_dict[k][:] = v
    for e in exes.values():
        e.forward(is_train=True)
        e.backward()
    for k in exes["plain"].grad_dict:
        for mode in ("concurrent", "off"):
            np.testing.assert_array_equal(exes[mode].grad_dict[k].asnumpy(), exes["plain"].grad_dict[k].asnumpy())
    bytes_ = {m: e.memory_plan["planned_bytes"] for m, e in exes.items()}
    assert bytes_["plain"] <= bytes_["concurrent"] <= bytes_["off"], bytes_
