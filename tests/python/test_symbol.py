"""Symbols (brass.sym): composition, names, listing, attributes, inference, MXNet JSON (files
written by MXNet 1.9.1 in tests/fixtures/mxnet_symbols, legacy forms), the executor, and bad
input."""
import copy
import json
import os
import pickle

import numpy as np
import pytest

import brass as mx

FIX = os.path.join(os.path.dirname(__file__), "..", "fixtures", "mxnet_symbols")


def _manifest():
    with open(os.path.join(FIX, "manifest.json")) as f:
        return json.load(f)


# ---- composition and names -----------------------------------------------------------------
def test_variables_and_automatic_inputs():
    x = mx.sym.var("x")
    d = mx.sym.dot(x, name="d")
    assert d.list_arguments() == ["x", "d_rhs"]
    assert d.list_outputs() == ["d_output"]
    assert d.list_auxiliary_states() == []
    assert d.name == "d"
    assert x.list_outputs() == ["x"]
    w = mx.sym.Variable("w")
    e = mx.sym.dot(lhs=w, rhs=x, name="e")
    assert e.list_arguments() == ["w", "x"]


def test_automatic_names_count_per_op():
    with mx.name.NameManager():
        x = mx.sym.var("x")
        a = mx.sym.relu(x)
        b = mx.sym.relu(a)
        c = mx.sym.exp(b)
        assert (a.name, b.name, c.name) == ("relu0", "relu1", "exp0")
    with mx.name.Prefix("net_"):
        assert mx.sym.relu(x).name == "net_relu0"
        assert mx.sym.relu(x, name="r").name == "net_r"


def test_arithmetic_builds_elementwise_nodes():
    x, y = mx.sym.var("x"), mx.sym.var("y")
    z = (x + y) * 2 - 1 / x + (-y) ** 2
    assert z.list_arguments() == ["x", "y"]
    xv = np.array([1.0, 2.0, 4.0], dtype=np.float32)
    yv = np.array([0.5, -1.0, 3.0], dtype=np.float32)
    out = z.eval(x=mx.nd.array(xv), y=mx.nd.array(yv))[0].asnumpy()
    np.testing.assert_allclose(out, (xv + yv) * 2 - 1 / xv + yv ** 2, rtol=1e-6)
    cmp = (x > 1.5).eval(x=mx.nd.array(xv))[0].asnumpy()
    np.testing.assert_array_equal(cmp, [0, 1, 1])


def test_group_indexing_internals_children():
    x = mx.sym.var("x")
    a = mx.sym.exp(x, name="a")
    b = mx.sym.sin(a, name="b")
    c = mx.sym.cos(a, name="c")
    g = mx.sym.Group([b, c])
    assert len(g) == 2 and g.name is None
    assert g.list_outputs() == ["b_output", "c_output"]
    assert g[1].name == "c" and g["b_output"].name == "b" and g[-1].name == "c"
    internals = b.get_internals()
    assert internals.list_outputs() == ["x", "a_output", "b_output"]
    assert internals["a_output"].list_arguments() == ["x"]
    assert b.get_children().list_outputs() == ["a_output"]
    assert x.get_children() is None
    outs = g.eval(x=mx.nd.array([0.0, 1.0]))
    np.testing.assert_allclose(outs[0].asnumpy(), np.sin(np.exp([0.0, 1.0])), rtol=1e-6)
    np.testing.assert_allclose(outs[1].asnumpy(), np.cos(np.exp([0.0, 1.0])), rtol=1e-6)
    with pytest.raises(ValueError, match="cannot find output"):
        g["nope"]


def test_call_composes_by_replacing_inputs():
    x = mx.sym.var("x")
    f = mx.sym.exp(x, name="f")
    z = mx.sym.var("z")
    g = f(x=mx.sym.relu(z, name="rz"))
    assert g.list_arguments() == ["z"] and f.list_arguments() == ["x"]
    out = g.eval(z=mx.nd.array([-1.0, 2.0]))[0].asnumpy()
    np.testing.assert_allclose(out, np.exp([0.0, 2.0]), rtol=1e-6)
    assert f(mx.sym.var("w")).list_arguments() == ["w"]
    with pytest.raises(mx.BrassError, match="no input named 'q'"):
        f(q=z)


def test_variadic_ops_count_their_inputs():
    x, y, z = mx.sym.var("x"), mx.sym.var("y"), mx.sym.var("z")
    s = mx.sym.add_n(x, y, z, name="s")
    assert s.list_arguments() == ["x", "y", "z"]
    assert s.attr("num_args") == "3"
    c = mx.sym.Concat(x, y, dim=0)
    assert c.infer_shape(x=(2, 3), y=(4, 3))[1] == [(6, 3)]


def test_attributes_scopes_and_hints():
    x = mx.sym.var("x", shape=(2, 0), lr_mult=2.0, wd_mult=0.5, dtype="float64", init="zeros")
    assert x.attr("__shape__") == "(2, 0)"
    assert x.attr("lr_mult") == "2.0" and x.attr("__lr_mult__") == "2.0"
    assert x.attr("__wd_mult__") == "0.5"
    assert x.attr("__dtype__") == "1"
    assert x.attr("__init__") == "zeros"
    assert x.attr("missing") is None
    with mx.AttrScope(ctx_group="dev1", __mood__="calm"):
        y = mx.sym.relu(x, name="r")
        v = mx.sym.var("v", attr={"color": "red"})
    assert y.attr("ctx_group") == "dev1" and y.attr("__mood__") == "calm"
    assert v.attr("color") == "red" and v.attr("ctx_group") == "dev1"
    y._set_attr(__note__="hello")
    assert y.list_attr() == {"__ctx_group__": "dev1", "__mood__": "calm", "__note__": "hello"}
    with pytest.raises(mx.BrassError, match="unknown parameter 'mood'"):
        mx.sym.relu(x, attr={"mood": "calm"})  # as in MXNet: op attributes must be hidden
    d = y.attr_dict()
    assert d["r"]["__note__"] == "hello" and d["x"]["__lr_mult__"] == "2.0"
    with pytest.raises(mx.BrassError, match="not hidden"):
        y._set_attr(alpha="1")


def test_copy_is_deep_and_pickle_round_trips():
    x = mx.sym.var("x")
    y = mx.sym.relu(x, name="r")
    z = copy.copy(y)
    z._set_attr(__tag__="z")
    assert y.attr("__tag__") is None and z.attr("__tag__") == "z"
    w = pickle.loads(pickle.dumps(y))
    assert w.tojson() == y.tojson()


# ---- inference -----------------------------------------------------------------------------
def test_infer_shape_runs_both_ways():
    x, y = mx.sym.var("x"), mx.sym.var("y")
    z = mx.sym.elemwise_add(mx.sym.exp(x), y, name="z")
    # Only y's shape is given: x's flows back through elemwise_add and exp.
    args, outs, aux = z.infer_shape(y=(2, 5))
    assert args == [(2, 5), (2, 5)] and outs == [(2, 5)] and aux == []
    assert z.infer_shape((2, 5))[0] == [(2, 5), (2, 5)]  # positional, in argument order


def test_infer_shape_partial_and_hints():
    x = mx.sym.var("x", shape=(4, 0))  # MXNet: 0 is an unknown extent
    y = mx.sym.var("y")
    z = mx.sym.dot(x, y, name="z")
    assert z.infer_shape() == (None, None, None)
    args, outs, _ = z.infer_shape_partial()
    assert args == [(4, 0), ()] and outs == [()]
    # dot infers no input from its output: x stays partly unknown.
    assert z.infer_shape(y=(3, 6)) == (None, None, None)
    assert z.infer_shape_partial(y=(3, 6))[0] == [(4, 0), (3, 6)]
    assert z.infer_shape(x=(4, 3), y=(3, 6))[1] == [(4, 6)]
    # Hints fill what elemwise ops infer backwards.
    a = mx.sym.var("a", shape=(0, 3))
    b = mx.sym.var("b", shape=(2, 0))
    s = a + b
    assert s.infer_shape() == ([(2, 3), (2, 3)], [(2, 3)], [])


def test_infer_shape_contradiction_names_the_node():
    x, y = mx.sym.var("x"), mx.sym.var("y")
    z = mx.sym.elemwise_add(x, y, name="adder")
    with pytest.raises(mx.BrassError, match="adder"):
        z.infer_shape(x=(2, 3), y=(3, 2))
    with pytest.raises(mx.BrassError, match="no argument or auxiliary state named 'q'"):
        z.infer_shape(q=(1,))


def test_infer_type():
    x, y = mx.sym.var("x"), mx.sym.var("y")
    z = mx.sym.elemwise_mul(x, y)
    assert z.infer_type(x="float64") == ([np.float64, np.float64], [np.float64], [])
    assert z.infer_type() == (None, None, None)
    c = mx.sym.Cast(x, dtype="float16")
    assert c.infer_type(x=np.float32)[1] == [np.float16]
    with pytest.raises(mx.BrassError, match="dtype"):
        z.infer_type(x="float32", y="float64")


# ---- JSON ----------------------------------------------------------------------------------
def test_json_round_trip_and_save_load(tmp_path):
    x = mx.sym.var("x", shape=(2, 3))
    y = mx.sym.sum(mx.sym.exp(x * 2), axis=1, name="s")
    text = y.tojson()
    doc = json.loads(text)
    assert doc["attrs"]["mxnet_version"] == ["int", 10901]
    assert [n["op"] for n in doc["nodes"]] == ["null", "_mul_scalar", "exp", "sum"]
    assert doc["arg_nodes"] == [0] and doc["heads"] == [[3, 0, 0]]
    assert doc["node_row_ptr"] == [0, 1, 2, 3, 4]
    z = mx.sym.load_json(text)
    assert z.tojson() == text
    p = tmp_path / "net-symbol.json"
    y.save(str(p))
    assert mx.sym.load(str(p)).tojson() == text
    assert not [f for f in os.listdir(tmp_path) if ".tmp-" in f]


def test_mxnet_file_arith_loads_and_runs_like_mxnet():
    m = _manifest()["nets"]["arith"]
    s = mx.sym.load(os.path.join(FIX, "arith-symbol.json"))
    assert s.list_arguments() == m["arguments"] and s.list_outputs() == m["outputs"]
    shapes = {k: tuple(v) for k, v in m["shapes"].items()}
    args, outs, aux = s.infer_shape(**shapes)
    assert [list(a) for a in args] == m["arg_shapes"] and [list(o) for o in outs] == m["out_shapes"]
    feed = {k: mx.nd.array(np.array(v, dtype=np.float32).reshape(sh)) for (k, v), sh in
            zip(m["args"].items(), args)}
    got = s.eval(**feed)
    for g, want in zip(got, m["forward"]):
        np.testing.assert_allclose(g.asnumpy().ravel(), want, rtol=1e-5, atol=1e-6)


def test_aliases_and_legacy_upgrades():
    legacy = {  # MXNet 0.8 style: "param"/"attr", two-element inputs, no version
        "nodes": [
            {"op": "null", "param": {}, "name": "x", "inputs": [], "backward_source_id": -1,
             "attr": {"ctx_group": "stage1", "lr_mult": "0.5"}},
            {"op": "_MulScalar", "param": {"scalar": "3"}, "name": "m", "inputs": [[0, 0]],
             "backward_source_id": -1},
            {"op": "_Plus", "param": {}, "name": "p", "inputs": [[1, 0], [0, 0]], "backward_source_id": -1},
            {"op": "argmax", "param": {"axis": "-1"}, "name": "am", "inputs": [[2, 0]], "backward_source_id": -1},
        ],
        "arg_nodes": [0],
        "heads": [[3, 0]],
    }
    s = mx.sym.load_json(json.dumps(legacy))
    assert s.list_arguments() == ["x"]
    assert s.get_internals()["x"].attr("__ctx_group__") == "stage1"
    assert s.get_internals()["x"].attr("lr_mult") == "0.5"
    doc = json.loads(s.tojson())
    assert [n["op"] for n in doc["nodes"]] == ["null", "_mul_scalar", "elemwise_add", "argmax"]
    assert "axis" not in doc["nodes"][3].get("attrs", {})  # < 0.9.5: axis=-1 meant "unset"
    out = s.eval(x=mx.nd.array([[1.0, 5.0], [2.0, 0.5]]))[0].asnumpy()
    assert out.tolist() == [1.0]  # argmax of 4x over the flattened array


@pytest.mark.parametrize("text,match", [
    ("{", "malformed JSON at byte"),
    ("[]", "not an object"),
    ('{"nodes": [], "heads": []}', "no heads"),
    ('{"nodes": [{"op": "null", "name": "x", "inputs": []}], "heads": [[1, 0, 0]]}', "head 0 refers to node 1"),
    ('{"nodes": [{"op": "null", "name": "x", "inputs": []}], "heads": [[0, 3, 0]]}', "head 0 is output 3"),
    ('{"nodes": [{"op": "nosuchop", "name": "q", "inputs": []}], "heads": [[0, 0, 0]]}',
     "node 0 \\('q'\\): unknown operator 'nosuchop'"),
    ('{"nodes": [{"op": "relu", "name": "r", "inputs": [[0, 0, 0]]}], "heads": [[0, 0, 0]]}',
     "node 0 \\('r'\\) input 0 refers to node 0, which does not come before it"),
    ('{"nodes": [{"op": "null", "name": "x", "inputs": []}, {"op": "relu", "name": "r", "inputs": [[5, 0, 0]]}],'
     ' "heads": [[1, 0, 0]]}', "node 1 \\('r'\\) input 0 refers to node 5"),
    ('{"nodes": [{"op": "null", "name": "x", "inputs": []}, {"op": "relu", "name": "r", "inputs": [[0, 2, 0]]}],'
     ' "heads": [[1, 0, 0]]}', "input 0 is output 2 of node 0"),
    ('{"nodes": [{"op": "null", "name": "x", "inputs": []}, {"op": "relu", "name": "r", "inputs": [[0, 0, 0]]}],'
     ' "arg_nodes": [1], "heads": [[1, 0, 0]]}', "arg_nodes entry 0 is node 1 \\('r'\\), which is not a variable"),
    ('{"nodes": [{"op": "null", "name": "x", "inputs": []}, {"op": "elemwise_add", "name": "a", "inputs": [[0, 0, 0]]}],'
     ' "heads": [[1, 0, 0]], "attrs": {"mxnet_version": ["int", 10901]}}', "takes 2 inputs, the file gives 1"),
    ('{"nodes": [{"op": "null", "name": "x", "inputs": []}, {"op": "sum", "name": "s", "attrs": {"axis": 3},'
     ' "inputs": [[0, 0, 0]]}], "heads": [[1, 0, 0]]}', "attribute 'axis' of node 1 \\('s'\\) is a number"),
    ('{"nodes": [{"op": "null", "name": "x", "inputs": []}, {"op": "sum", "name": "s", "attrs": {"bogus": "1"},'
     ' "inputs": [[0, 0, 0]]}], "heads": [[1, 0, 0]]}', "node 1 \\('s'\\)"),
    ('{"nodes": [{"op": "null", "name": "x", "inputs": [[-1, 0]]}], "heads": [[0, 0, 0]]}', "non-negative integer"),
    ('{"nodes": 5, "heads": []}', "\"nodes\" of the graph is a number"),
    ("[" * 100000, "nested too deeply"),
    ('{"nodes": [], "heads": []} trailing', "trailing characters"),
    ('{"nodes": [{"op": "null", "name": "\\ud800", "inputs": []}], "heads": [[0, 0, 0]]}', "lone surrogate"),
])
def test_bad_json_is_a_clear_error(text, match):
    with pytest.raises(mx.BrassError, match=match):
        mx.sym.load_json(text)


# ---- executor ------------------------------------------------------------------------------
def _net():
    x, w = mx.sym.var("x"), mx.sym.var("w")
    h = mx.sym.tanh(mx.sym.dot(x, w, name="d"), name="t")
    return mx.sym.sum(mx.sym.broadcast_add(h * h, mx.sym.sin(x).sum()), name="loss"), x, w


def test_executor_gradients_match_autograd():
    loss, _, _ = _net()
    rs = np.random.RandomState(0)
    xv, wv = rs.standard_normal((3, 4)), rs.standard_normal((4, 2))
    exe = loss.simple_bind(mx.cpu(), x=(3, 4), w=(4, 2), type_dict={"x": "float64", "w": "float64"})
    exe.forward(is_train=True, x=mx.nd.array(xv, dtype="float64"), w=mx.nd.array(wv, dtype="float64"))
    exe.backward()
    x, w = mx.nd.array(xv, dtype="float64"), mx.nd.array(wv, dtype="float64")
    x.attach_grad()
    w.attach_grad()
    with mx.autograd.record():
        h = mx.nd.tanh(mx.nd.dot(x, w))
        y = mx.nd.sum(mx.nd.broadcast_add(h * h, mx.nd.sin(x).sum()))
    y.backward()
    np.testing.assert_allclose(exe.outputs[0].asnumpy(), y.asnumpy(), rtol=1e-12)
    np.testing.assert_allclose(exe.grad_dict["x"].asnumpy(), x.grad.asnumpy(), rtol=1e-12)
    np.testing.assert_allclose(exe.grad_dict["w"].asnumpy(), w.grad.asnumpy(), rtol=1e-12)


def test_executor_grad_req_add_null_and_head_grads():
    x = mx.sym.var("x")
    y = mx.sym.square(x, name="y")
    xa = mx.nd.array([1.0, 2.0])
    ga = mx.nd.zeros((2,))
    exe = y.bind(mx.cpu(), {"x": xa}, args_grad={"x": ga}, grad_req="add")
    for _ in range(2):
        exe.forward(is_train=True)
        exe.backward(mx.nd.array([1.0, 0.5]))
    np.testing.assert_allclose(ga.asnumpy(), 2 * np.array([2.0, 2.0]))
    exe = y.bind(mx.cpu(), [xa], args_grad=[mx.nd.zeros((2,))], grad_req="null")
    exe.forward(is_train=True)
    exe.backward()
    assert exe.grad_dict["x"].asnumpy().tolist() == [0.0, 0.0]


def test_executor_dicts_reshape_copy_params_monitor():
    loss, _, _ = _net()
    exe = loss.simple_bind(mx.cpu(), x=(3, 4), w=(4, 2))
    assert set(exe.arg_dict) == {"x", "w"} and set(exe.grad_dict) == {"x", "w"} and exe.aux_dict == {}
    exe.copy_params_from({"w": mx.nd.ones((4, 2))})
    assert exe.arg_dict["w"].asnumpy().sum() == 8
    with pytest.raises(mx.BrassError, match="not an argument"):
        exe.copy_params_from({"nope": mx.nd.ones((1,))})
    seen = []
    exe.set_monitor_callback(lambda name, arr: seen.append((name, arr.shape)))
    exe.forward(is_train=False, x=np.ones((3, 4)))
    assert ("d_output", (3, 2)) in seen and ("loss_output", (1,)) in seen
    small = exe.reshape(x=(1, 4))
    assert small.arg_dict["w"] is exe.arg_dict["w"]  # unchanged shapes share memory
    small.arg_dict["x"][:] = 5  # a shrunk array is a view of the old memory
    assert exe.arg_dict["x"].asnumpy()[0].tolist() == [5, 5, 5, 5]
    out = small.forward(x=np.ones((1, 4)))[0]
    assert out.shape == (1,)
    with pytest.raises(mx.BrassError, match="grows"):
        exe.reshape(x=(5, 4))
    assert exe.reshape(allow_up_sizing=True, x=(5, 4)).arg_dict["x"].shape == (5, 4)


def test_bind_errors_name_the_argument():
    loss, _, _ = _net()
    with pytest.raises(mx.BrassError, match="no array for argument 'w'"):
        loss.bind(mx.cpu(), {"x": mx.nd.ones((3, 4))})
    with pytest.raises(mx.BrassError, match="'d'"):
        loss.bind(mx.cpu(), {"x": mx.nd.ones((3, 4)), "w": mx.nd.ones((5, 2))})
    with pytest.raises(mx.BrassError, match="gradient array of 'x'"):
        loss.bind(mx.cpu(), {"x": mx.nd.ones((3, 4)), "w": mx.nd.ones((4, 2))},
                  args_grad={"x": mx.nd.ones((2, 2))})
    with pytest.raises(mx.BrassError, match="gradient array of 'w' has dtype float64"):
        loss.bind(mx.cpu(), {"x": mx.nd.ones((3, 4)), "w": mx.nd.ones((4, 2))},
                  args_grad={"w": mx.nd.ones((4, 2), dtype="float64")})
    with pytest.raises(mx.BrassError, match="do not determine"):
        loss.simple_bind(mx.cpu(), x=(3, 4))
    with pytest.raises(mx.BrassError, match="grad_req 'sometimes'"):
        loss.simple_bind(mx.cpu(), grad_req="sometimes", x=(3, 4), w=(4, 2))
    exe = loss.simple_bind(mx.cpu(), x=(3, 4), w=(4, 2))
    with pytest.raises(mx.BrassError, match="has shape"):
        exe.forward(x=np.ones((2, 4)))
    with pytest.raises(mx.BrassError, match="head gradient 0"):
        exe.forward(is_train=True)
        exe.backward(mx.nd.ones((7,)))
    with pytest.raises(mx.BrassError, match="relu: too many positional arguments"):
        mx.sym.relu(3)
    # Parameters by position follow the operator's order, as MXNet's functions take them.
    clipped = mx.sym.clip(mx.sym.var("v"), 0, 6)
    assert clipped.eval(v=mx.nd.array([-1.0, 3.0, 9.0]))[0].asnumpy().tolist() == [0.0, 3.0, 6.0]
    with pytest.raises(mx.BrassError, match="a Symbol input after the parameters"):
        mx.sym.broadcast_add(mx.sym.var("a"), 2, mx.sym.var("b"))


def test_executor_runs_independent_branches_and_interleaves_with_imperative_work():
    x = mx.sym.var("x")
    branches = [mx.sym.sum(mx.sym.exp(x * float(i)), name="b%d" % i) for i in range(4)]
    g = mx.sym.Group(branches)
    exe = g.simple_bind(mx.cpu(), grad_req="null", x=(64, 64))
    xv = np.random.RandomState(1).uniform(-1, 1, (64, 64)).astype(np.float32)
    outs = exe.forward(x=xv)
    side = mx.nd.array(xv) * 2  # imperative work pushed while the graph runs
    for i, o in enumerate(outs):
        np.testing.assert_allclose(o.asnumpy(), np.exp(xv * i).sum(), rtol=1e-4)
    np.testing.assert_allclose(side.asnumpy(), xv * 2)


def _bulk_net():
    x = mx.sym.var("data")
    h = mx.sym.Convolution(x, num_filter=8, kernel=(3, 3), pad=(1, 1), name="conv")
    h = mx.sym.relu(mx.sym.BatchNorm(h, fix_gamma=False, name="bn"))
    h = mx.sym.Pooling(h, kernel=(2, 2), stride=(2, 2), pool_type="max")
    h = mx.sym.Dropout(h, p=0.5) + mx.sym.random_uniform(shape=(2, 8, 4, 4))
    h = mx.sym.FullyConnected(h, num_hidden=5, name="fc")
    return mx.sym.Group([mx.sym.softmax(h), h * 2])


@pytest.mark.parametrize("grads", [False, True])
def test_inference_forward_in_one_push_matches_op_by_op(monkeypatch, grads):
    """An inference forward runs as one piece of engine work (BRASS_EXEC_BULK, on by default):
    the same bits as op by op, random draws included, the moving statistics untouched, on a
    bind with or without gradients."""
    rs = np.random.RandomState(0)
    init = {}
    runs = []
    for bulk in ("0", "1"):
        monkeypatch.setenv("BRASS_EXEC_BULK", bulk)
        exe = _bulk_net().simple_bind(mx.cpu(), grad_req="write" if grads else "null", data=(2, 3, 8, 8))
        for k, a in list(exe.arg_dict.items()) + list(exe.aux_dict.items()):
            if k not in init:
                init[k] = rs.uniform(0.5 if "var" in k else -1, 1, a.shape).astype(np.float32)
            a[:] = init[k]
        mx.random.seed(7)
        outs = [[o.asnumpy() for o in exe.forward(is_train=False)] for _ in range(2)]
        assert not np.array_equal(outs[0][1], outs[1][1])  # a fresh draw each forward
        for k, a in exe.aux_dict.items():
            np.testing.assert_array_equal(a.asnumpy(), init[k])
        runs.append(outs)
    for a, b in zip(runs[0], runs[1]):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)


def test_inference_forward_in_one_push_names_the_failing_node_and_recovers():
    d, i = mx.sym.var("data"), mx.sym.var("idx")
    y = mx.sym.take(mx.sym.relu(d), i, mode="raise", name="pick_rows") * 2
    exe = y.simple_bind(mx.cpu(), grad_req="null", data=(3, 2), idx=(1,))
    exe.arg_dict["idx"][:] = [7]
    with pytest.raises(mx.BrassError, match=r"node 'pick_rows' \(take\).*index 7 is out of bounds"):
        exe.forward(is_train=False)[0].asnumpy()
    # The failure does not stick to the executor's values: good input runs again.
    exe.arg_dict["data"][:] = np.arange(6).reshape(3, 2)
    exe.arg_dict["idx"][:] = [1]
    np.testing.assert_array_equal(exe.forward(is_train=False)[0].asnumpy(), [[4, 6]])


@pytest.mark.parametrize("module", ["brass.symbol.symbol", "brass.executor", "brass.name", "brass.attribute"])
def test_docstring_examples(module):
    import doctest
    import importlib
    res = doctest.testmod(importlib.import_module(module))
    assert res.attempted > 0 and res.failed == 0


# ---- memory planning -----------------------------------------------------------------------
def _deep_mlp(n):
    h = mx.sym.var("data")
    for i in range(n):
        h = mx.sym.relu(mx.sym.dot(h, mx.sym.var("w%d" % i)), name="relu%d" % i)
    return mx.sym.sum(h, name="loss")


def _run_planned(sym, shapes, plan, mirror, monkeypatch, fuse=False):
    monkeypatch.setenv("BRASS_MEMORY_PLAN", "1" if plan else "0")
    monkeypatch.setenv("BRASS_BACKWARD_DO_MIRROR", "1" if mirror else "0")
    monkeypatch.setenv("BRASS_FUSE", "1" if fuse else "0")
    exe = sym.simple_bind(mx.cpu(), **shapes)
    rs = np.random.RandomState(0)
    for k in sorted(exe.arg_dict):
        exe.arg_dict[k][:] = rs.uniform(-0.3, 0.3, exe.arg_dict[k].shape)
    exe.forward(is_train=True)
    exe.backward()
    return exe


def test_memory_plan_shares_buffers_and_mirror_cuts_activations(monkeypatch):
    n = 50
    sym = _deep_mlp(n)
    shapes = dict({"data": (32, 64)}, **{"w%d" % i: (64, 64) for i in range(n)})
    off = _run_planned(sym, shapes, False, False, monkeypatch)
    on = _run_planned(sym, shapes, True, False, monkeypatch)
    mirror = _run_planned(sym, shapes, True, True, monkeypatch)
    m_off, m_on, m_mirror = off.memory_plan, on.memory_plan, mirror.memory_plan
    assert m_off["planned_bytes"] == m_off["naive_bytes"] and m_off["inplace"] == 0
    assert m_on["naive_bytes"] == m_off["naive_bytes"]
    assert m_on["planned_bytes"] * 2 <= m_off["planned_bytes"] and m_on["inplace"] > 0
    assert m_mirror["planned_bytes"] * 3 <= m_on["planned_bytes"], (m_on, m_mirror)
    for exe in (on, mirror):
        np.testing.assert_array_equal(exe.outputs[0].asnumpy(), off.outputs[0].asnumpy())
        for k in off.grad_dict:
            np.testing.assert_array_equal(exe.grad_dict[k].asnumpy(), off.grad_dict[k].asnumpy())
    assert "MB planned" in on.debug_str()


def test_planned_executor_runs_again_with_new_inputs(monkeypatch):
    """Buffers are reused between runs: a second forward/backward must not see stale values."""
    sym = _deep_mlp(3)
    shapes = {"data": (2, 4), "w0": (4, 4), "w1": (4, 4), "w2": (4, 4)}
    exe = _run_planned(sym, shapes, True, True, monkeypatch)
    ref = _run_planned(sym, shapes, False, False, monkeypatch)
    for seed in (1, 2):
        x = np.random.RandomState(seed).uniform(-1, 1, (2, 4))
        for e in (exe, ref):
            e.forward(is_train=True, data=x)
            e.backward(mx.nd.array([0.5]))
        np.testing.assert_allclose(exe.outputs[0].asnumpy(), ref.outputs[0].asnumpy(), rtol=1e-6)
        for k in ref.grad_dict:
            np.testing.assert_allclose(exe.grad_dict[k].asnumpy(), ref.grad_dict[k].asnumpy(), rtol=1e-6)


@pytest.mark.parametrize("net", ["arith", "mlp", "cnn", "group"])
def test_mxnet_files_load_infer_and_run_like_mxnet(net):
    """Files written by MXNet 1.9.1: the same arguments, outputs, auxiliary states and shapes,
    and the same forward (inference mode) from the same argument values."""
    m = _manifest()["nets"][net]
    s = mx.sym.load(os.path.join(FIX, net + "-symbol.json"))
    assert s.list_arguments() == m["arguments"]
    assert s.list_outputs() == m["outputs"]
    assert s.list_auxiliary_states() == m["auxiliary_states"]
    args, outs, aux = s.infer_shape(**{k: tuple(v) for k, v in m["shapes"].items()})
    assert [list(a) for a in args] == m["arg_shapes"]
    assert [list(o) for o in outs] == m["out_shapes"]
    assert [list(a) for a in aux] == m["aux_shapes"]
    arg_arrays = {k: mx.nd.array(np.array(m["args"][k], dtype=np.float32).reshape(sh))
                  for k, sh in zip(s.list_arguments(), args)}
    aux_arrays = {k: mx.nd.array(np.array(m["aux"][k], dtype=np.float32).reshape(sh))
                  for k, sh in zip(s.list_auxiliary_states(), aux)}
    exe = s.bind(mx.cpu(), arg_arrays, aux_states=aux_arrays, grad_req="null")
    for got, want in zip(exe.forward(is_train=False), m["forward"]):
        np.testing.assert_allclose(got.asnumpy().ravel(), want, rtol=1e-4, atol=1e-5)


def test_legacy_08_file_gets_aux_states_and_moved_attributes():
    """An MXNet 0.8 file: BatchNorm without its moving statistics (created by the upgrade,
    with MXNet's __init__), bare hidden keys, and weight_lr_mult on the op moving to the
    weight variable."""
    legacy = {
        "nodes": [
            {"op": "null", "param": {}, "name": "data", "inputs": [], "backward_source_id": -1},
            {"op": "null", "param": {}, "name": "fc1_weight", "inputs": [], "backward_source_id": -1},
            {"op": "null", "param": {}, "name": "fc1_bias", "inputs": [], "backward_source_id": -1},
            {"op": "FullyConnected", "param": {"no_bias": "False", "num_hidden": "4"}, "name": "fc1",
             "inputs": [[0, 0], [1, 0], [2, 0]], "backward_source_id": -1,
             "attr": {"ctx_group": "stage1", "weight_lr_mult": "0.2"}},
            {"op": "null", "param": {}, "name": "bn_gamma", "inputs": [], "backward_source_id": -1},
            {"op": "null", "param": {}, "name": "bn_beta", "inputs": [], "backward_source_id": -1},
            {"op": "BatchNorm", "param": {"eps": "0.001", "fix_gamma": "True", "momentum": "0.9"}, "name": "bn",
             "inputs": [[3, 0], [4, 0], [5, 0]], "backward_source_id": -1, "attr": {"ctx_group": "stage2"}},
            {"op": "null", "param": {}, "name": "sm_label", "inputs": [], "backward_source_id": -1},
            {"op": "Softmax", "param": {"grad_scale": "1"}, "name": "sm", "inputs": [[6, 0], [7, 0]],
             "backward_source_id": -1},
        ],
        "arg_nodes": [0, 1, 2, 4, 5, 7],
        "heads": [[8, 0]],
    }
    s = mx.sym.load_json(json.dumps(legacy))
    assert s.list_arguments() == ["data", "fc1_weight", "fc1_bias", "bn_gamma", "bn_beta", "sm_label"]
    assert s.list_auxiliary_states() == ["bn_moving_mean", "bn_moving_var"]
    internals = s.get_internals()
    assert internals["bn_moving_mean"].attr("__init__") == '["zero", {}]'
    assert internals["bn_moving_var"].attr("__init__") == '["one", {}]'
    # The created variables carry a copy of the op's attributes (MXNet's upgrade does so).
    assert internals["bn_moving_mean"].attr("eps") == "0.001"
    assert internals["bn_moving_var"].attr("__ctx_group__") == "stage2"
    assert internals["fc1_weight"].attr("__lr_mult__") == "0.2"
    assert internals["fc1_output"].attr("__ctx_group__") == "stage1"
    args, outs, aux = s.infer_shape(data=(2, 3))
    assert args[1] == (4, 3) and args[-1] == (2,) and aux == [(4,), (4,)] and outs == [(2, 4)]
    doc = json.loads(s.tojson())
    assert [n["op"] for n in doc["nodes"]].count("SoftmaxOutput") == 1
    bn = [n for n in doc["nodes"] if n["op"] == "BatchNorm"][0]
    assert [i[2] for i in bn["inputs"]] == [0, 0, 0, 1, 1]  # mutated variables: version 1, as MXNet
    exe = s.simple_bind(mx.cpu(), data=(2, 3))
    assert exe.forward()[0].shape == (2, 4)
    out_mv = mx.sym.BatchNorm(mx.sym.var("d"), output_mean_var=True, name="b")
    assert out_mv.list_outputs() == ["b_output", "b_mean", "b_var"]


# ---- fusion --------------------------------------------------------------------------------
def test_elementwise_chains_fuse_with_identical_results(monkeypatch):
    x, y = mx.sym.var("x"), mx.sym.var("y")
    z = mx.sym.tanh(mx.sym.exp(x * 0.5) + y * y - 1.0) / 3.0  # one chain of 7 element-wise ops
    w = mx.sym.sum(mx.sym.broadcast_mul(z, mx.sym.sigmoid(y)), name="w")
    shapes = {"x": (300, 70), "y": (300, 70)}  # several blocks, a partial last one
    plain = _run_planned(w, shapes, True, False, monkeypatch, fuse=False)
    fused = _run_planned(w, shapes, True, False, monkeypatch, fuse=True)
    assert plain.memory_plan["fused"] == 0 and fused.memory_plan["fused"] >= 2  # forward and backward
    assert fused.memory_plan["naive_bytes"] < plain.memory_plan["naive_bytes"]
    np.testing.assert_array_equal(fused.outputs[0].asnumpy(), plain.outputs[0].asnumpy())
    for k in plain.grad_dict:
        np.testing.assert_array_equal(fused.grad_dict[k].asnumpy(), plain.grad_dict[k].asnumpy())
    # A value read twice is not fused away: it stays, and both readers see it.
    a = mx.sym.exp(x)
    two = mx.sym.Group([mx.sym.sin(a) * 2, a + 1])
    monkeypatch.setenv("BRASS_FUSE", "1")
    exe = two.simple_bind(mx.cpu(), grad_req="null", x=(5,))
    outs = exe.forward(x=np.arange(5.0))
    np.testing.assert_allclose(outs[0].asnumpy(), np.sin(np.exp(np.arange(5.0))) * 2, rtol=1e-6)
    np.testing.assert_allclose(outs[1].asnumpy(), np.exp(np.arange(5.0)) + 1, rtol=1e-6)
    assert exe.memory_plan["fused"] == 1


def test_dead_nodes_are_dropped():
    text = json.dumps({"nodes": [{"op": "null", "name": "x", "inputs": []},
                                 {"op": "exp", "name": "dead", "inputs": [[0, 0, 0]]},
                                 {"op": "nosuch_but_unused", "name": "also_dead", "inputs": []}][:2] +
                      [{"op": "sin", "name": "live", "inputs": [[0, 0, 0]]}],
                      "arg_nodes": [0], "heads": [[2, 0, 0]]})
    s = mx.sym.load_json(text)
    assert s.get_internals().list_outputs() == ["x", "live_output"]
    assert [n["name"] for n in json.loads(s.tojson())["nodes"]] == ["x", "live"]
    seen = []
    exe = s.simple_bind(mx.cpu(), grad_req="null", x=(2,))
    exe.set_monitor_callback(lambda name, arr: seen.append(name))
    exe.forward()
    assert seen == ["live_output"]


def test_mutated_json_is_refused_or_loaded_never_a_crash():
    """Random byte edits of real MXNet files: each load either works (and the symbol can be
    listed, written and inferred) or raises BrassError."""
    rs = np.random.RandomState(123)
    texts = [open(os.path.join(FIX, n + "-symbol.json")).read() for n in ("mlp", "cnn", "group")]
    alphabet = list('{}[],:"0123456789-.eE ntfalsru') + ["\\u0000", "99999999999999999999", "-1"]
    loaded = refused = 0
    for k in range(400):
        t = texts[k % 3]
        for _ in range(rs.randint(1, 4)):
            i = rs.randint(len(t))
            op = rs.randint(3)
            if op == 0:
                t = t[:i] + t[i + 1:]
            elif op == 1:
                t = t[:i] + alphabet[rs.randint(len(alphabet))] + t[i:]
            else:
                j = min(len(t), i + rs.randint(1, 40))
                t = t[:i] + t[i:j] + t[i:]
        try:
            s = mx.sym.load_json(t)
        except mx.BrassError:
            refused += 1
            continue
        loaded += 1
        s.list_arguments(), s.list_outputs(), s.tojson()
        try:
            s.infer_shape_partial()
        except mx.BrassError:
            pass
    assert refused > 100 and loaded > 0, (loaded, refused)


# ---- regressions from review ---------------------------------------------------------------
def test_backward_with_outputs_that_reach_no_gradient():
    x, w, lab = mx.sym.var("x"), mx.sym.var("w"), mx.sym.var("lab")
    pred = mx.sym.FullyConnected(x, w, no_bias=True, num_hidden=3, name="fc")
    g = mx.sym.Group([mx.sym.SoftmaxOutput(pred, lab, name="sm"), mx.sym.BlockGrad(pred), lab])
    exe = g.simple_bind(mx.cpu(), grad_req={"x": "null", "w": "write", "lab": "null"}, x=(2, 4), lab=(2,))
    exe.forward(is_train=True, x=np.ones((2, 4)), lab=np.array([0, 2]))
    exe.backward()
    assert exe.grad_dict["w"].shape == (3, 4) and np.abs(exe.grad_dict["w"].asnumpy()).sum() > 0
    with pytest.raises(mx.BrassError, match="call forward"):
        exe.backward()  # a second backward needs another forward


def test_given_shapes_and_dtypes_win_over_hints():
    x = mx.sym.var("x", shape=(2, 3), dtype="float16")
    y = x * 2
    assert y.infer_shape(x=(4, 3))[0] == [(4, 3)]
    assert y.infer_type(x="float64")[0] == [np.float64]
    assert y.simple_bind(mx.cpu(), x=(2, 3)).arg_dict["x"].dtype == np.float16  # hint used
    fc = mx.sym.FullyConnected(mx.sym.var("data"), num_hidden=2, name="fc")
    exe = fc.simple_bind(mx.cpu(), type_dict={"data": "float64"}, data=(3, 4))
    assert exe.arg_dict["fc_weight"].dtype == np.float64  # weights follow the data


def test_attr_scope_reaches_created_inputs_and_abs():
    with mx.AttrScope(ctx_group="dev1", lr_mult="0.5"):
        fc = mx.sym.FullyConnected(mx.sym.var("d"), num_hidden=2, name="fc")
    internals = fc.get_internals()
    assert internals["fc_weight"].attr("__lr_mult__") == "0.5"
    assert internals["fc_bias"].attr("__ctx_group__") == "dev1"
    out = abs(mx.sym.var("v")).eval(v=mx.nd.array([-2.0, 3.0]))[0].asnumpy()
    assert out.tolist() == [2.0, 3.0]


def test_long_chains_bind_fuse_and_free_without_deep_recursion():
    x = mx.sym.var("x")
    h = x
    for _ in range(20000):
        h = h * 1.0
    exe = h.simple_bind(mx.cpu(), grad_req="null", x=(3,))
    assert exe.forward(x=np.array([1.0, 2.0, 3.0]))[0].asnumpy().tolist() == [1.0, 2.0, 3.0]
    assert exe.memory_plan["fused"] >= 20000 // 32
    del exe, h
    a = mx.nd.ones((2,))
    a.attach_grad()
    with mx.autograd.record():
        c = a
        for _ in range(200000):
            c = c + 1
    del c  # a 200,000-node recorded chain is freed iteratively
    assert (a + 1).asnumpy().tolist() == [2.0, 2.0]


def test_monitor_sees_every_op_output_of_a_fused_chain():
    x = mx.sym.var("x")
    y = mx.sym.exp(mx.sym.relu(x * 2.0, name="r") + 1.0, name="e")
    exe = y.simple_bind(mx.cpu(), grad_req="write", x=(3,))
    assert exe.memory_plan["fused"] >= 1  # the chain runs as one fused node
    seen = {}
    exe.set_monitor_callback(lambda name, arr: seen.__setitem__(name, arr.asnumpy().copy()))
    assert exe.memory_plan["fused"] == 0  # planned again without fusion
    xv = np.array([-1.0, 0.5, 2.0], dtype=np.float32)
    out = exe.forward(is_train=True, x=xv)[0].asnumpy()
    exe.backward()
    assert "r_output" in seen and "e_output" in seen, sorted(seen)
    np.testing.assert_allclose(seen["r_output"], np.maximum(xv * 2, 0), rtol=1e-6)
    np.testing.assert_allclose(out, np.exp(np.maximum(xv * 2, 0) + 1), rtol=1e-6)
    np.testing.assert_allclose(exe.grad_dict["x"].asnumpy(), out * 2 * (xv > 0), rtol=1e-5)


def test_batchnorm_activation_fusion(monkeypatch):
    """Inference executors (no gradients) run each BatchNorm whose output only an activation
    (Activation, relu, clip, sigmoid...) reads as one node, the activation applied to each span
    of BatchNorm's output while in cache: the same bits as unfused, in inference and training
    mode (moving statistics updated the same), channels first and last, float32 and float64;
    with gradients, or with BatchNorm's output read twice, nothing is fused."""
    def net(act, axis=1):
        x = mx.sym.var("data")
        y = mx.sym.Convolution(x, kernel=(3, 3), pad=(1, 1), num_filter=6, name="c")
        y = mx.sym.BatchNorm(y, fix_gamma=False, axis=axis, name="bn")
        return act(y)

    acts = [lambda y: mx.sym.Activation(y, act_type="relu"), lambda y: mx.sym.clip(y, a_min=0, a_max=6),
            lambda y: mx.sym.Activation(y, act_type="tanh"), lambda y: mx.sym.sigmoid(y)]
    rs = np.random.RandomState(4)
    x = rs.uniform(-1, 1, (2, 3, 7, 5))

    def run(sym, fuse, dtype, train, req="null"):
        monkeypatch.setenv("BRASS_FUSE", "1" if fuse else "0")
        exe = sym.simple_bind(mx.cpu(), data=x.shape, type_dict={"data": dtype}, grad_req=req)
        r = np.random.RandomState(1)
        for k in sorted(exe.arg_dict):
            exe.arg_dict[k][:] = x if k == "data" else r.uniform(0.5, 1.5, exe.arg_dict[k].shape)
        for k in sorted(exe.aux_dict):
            exe.aux_dict[k][:] = r.uniform(0.5, 1.5, exe.aux_dict[k].shape)
        out = exe.forward(is_train=train)[0].asnumpy()
        return exe, out, {k: v.asnumpy() for k, v in exe.aux_dict.items()}

    for act in acts:
        for dtype in ("float32", "float64"):
            for train in (False, True):
                sym = net(act)
                fused, y1, aux1 = run(sym, True, dtype, train)
                plain, y2, aux2 = run(sym, False, dtype, train)
                assert fused.memory_plan["fused"] >= 1 and plain.memory_plan["fused"] == 0
                np.testing.assert_array_equal(y1, y2)
                for k in aux1:
                    np.testing.assert_array_equal(aux1[k], aux2[k])
    # channels last (BatchNorm axis -1: spans of whole rows of channels)
    sym = mx.sym.Activation(mx.sym.BatchNorm(mx.sym.var("data"), axis=-1, fix_gamma=False, name="bn"),
                            act_type="relu")
    f, y1, _ = run(sym, True, "float32", False)
    p, y2, _ = run(sym, False, "float32", False)
    assert f.memory_plan["fused"] == 1
    np.testing.assert_array_equal(y1, y2)
    # with gradients BatchNorm's hidden outputs are read (the pair stays apart): forward and
    # backward as unfused
    sym = net(acts[1])
    g, y1, _ = run(sym, True, "float32", True, req="write")
    p, y2, _ = run(sym, False, "float32", True, req="write")
    np.testing.assert_array_equal(y1, y2)
    for e in (g, p):
        e.backward(mx.nd.ones(y1.shape))
    for k in p.grad_dict:
        np.testing.assert_array_equal(g.grad_dict[k].asnumpy(), p.grad_dict[k].asnumpy())
    # BatchNorm's output read by the activation and by another op: not fused
    y = mx.sym.BatchNorm(mx.sym.Convolution(mx.sym.var("data"), kernel=(1, 1), num_filter=4, name="c"),
                         fix_gamma=False, name="bn")
    sym = mx.sym.Group([mx.sym.Activation(y, act_type="relu"), y * 2])
    f, y1, _ = run(sym, True, "float32", False)
    p, y2, _ = run(sym, False, "float32", False)
    assert f.memory_plan["fused"] == 1  # the convolution and BatchNorm only
    np.testing.assert_array_equal(y1, y2)


def _bind_conv_bn(monkeypatch, sym, shape, fuse, dtype, req, edge, seed):
    """An executor of a Convolution ("c") -> BatchNorm ("bn") net, fused or not, its values
    drawn from seed; edge: channel 0 all -0 after BatchNorm (gamma 0, beta -0), channel 1 NaN
    (moving var < 0)."""
    monkeypatch.setenv("BRASS_FUSE", "1" if fuse else "0")
    exe = sym.simple_bind(mx.cpu(), data=shape, type_dict={"data": dtype}, grad_req=req)
    r = np.random.RandomState(seed)
    for k in sorted(exe.arg_dict):
        exe.arg_dict[k][:] = r.uniform(-1, 1, exe.arg_dict[k].shape)
    for k in sorted(exe.aux_dict):
        exe.aux_dict[k][:] = r.uniform(0.5, 1.5, exe.aux_dict[k].shape)
    if edge:
        exe.arg_dict["bn_gamma"][0:1] = 0.0
        exe.arg_dict["bn_beta"][0:1] = -0.0
        exe.aux_dict["bn_moving_var"][1:2] = -1.0
    return exe


def test_convolution_batchnorm_fusion(monkeypatch):
    """Inference executors run each channels-first Convolution whose output only a BatchNorm
    reads, with the relu or clip that alone reads BatchNorm's output, as one node: BatchNorm's
    affine map and the activation applied to each finished block of the convolution's output
    (GEMM strips, depthwise planes). The same bits as unfused, and the same moving statistics
    in training mode, for 1x1, 3x3 with a bias, grouped and strided, depthwise and 1-D
    convolutions, one sample and several, float32 and float64."""
    convs = [dict(kernel=(1, 1), num_filter=5, no_bias=True),
             dict(kernel=(3, 3), pad=(1, 1), num_filter=4),
             dict(kernel=(3, 3), stride=(2, 2), num_filter=4, num_group=2),
             dict(kernel=(3, 3), pad=(1, 1), num_filter=4, num_group=4, no_bias=True),
             dict(kernel=(3, 3), pad=(1, 1), stride=(2, 2), num_filter=8, num_group=4)]
    acts = [None, lambda y: mx.sym.Activation(y, act_type="relu"), lambda y: mx.sym.relu(y),
            lambda y: mx.sym.clip(y, a_min=-0.5, a_max=0.7), lambda y: mx.sym.clip(y, a_min=1, a_max=0)]

    def net(conv, act, bn=None, shape4=True):
        y = mx.sym.Convolution(mx.sym.var("data"), name="c", **conv)
        y = mx.sym.BatchNorm(y, name="bn", **(bn or dict(fix_gamma=False)))
        return act(y) if act else y

    def run(sym, shape, fuse, dtype, train, req="null", edge=False):
        exe = _bind_conv_bn(monkeypatch, sym, shape, fuse, dtype, req, edge, seed=3)
        out = exe.forward(is_train=train)[0].asnumpy()
        return exe, out, {k: v.asnumpy() for k, v in exe.aux_dict.items()}

    def same(sym, shape, dtype, train, fused_nodes, edge=False):
        f, y1, aux1 = run(sym, shape, True, dtype, train, edge=edge)
        p, y2, aux2 = run(sym, shape, False, dtype, train, edge=edge)
        assert f.memory_plan["fused"] == fused_nodes and p.memory_plan["fused"] == 0
        np.testing.assert_array_equal(y1.view(np.uint8), y2.view(np.uint8))  # bits: -0 and NaN too
        for k in aux1:
            np.testing.assert_array_equal(aux1[k], aux2[k])
        return y1

    for conv in convs:
        for act in acts:
            for n in (1, 3):
                for dtype in ("float32", "float64"):
                    sym = net(conv, act)
                    same(sym, (n, 4, 9, 8), dtype, False, 1)
                    if n == 3 and dtype == "float32":
                        same(sym, (n, 4, 9, 8), dtype, True, 1)  # batch statistics, moving ones updated
    # -0 and NaN through relu and clip as the ops give them
    for conv in convs[:2]:
        for act in acts[1:4]:
            y = same(net(conv, act), (2, 4, 6, 6), "float32", False, 1, edge=True)
            assert np.isnan(y[:, 1]).all()
    # each path of the depthwise planes, the epilogue applied as they are stored: a whole plane
    # at stride 1 (above), four phases at stride 2 on even sides, short rows run together (odd
    # sides), long rows
    dw2 = dict(kernel=(3, 3), pad=(1, 1), stride=(2, 2), num_filter=4, num_group=4, no_bias=True)
    for conv, shape in ((convs[3], (2, 4, 6, 6)), (dw2, (2, 4, 10, 12)), (dw2, (1, 4, 9, 9)),
                        (convs[3], (1, 4, 3, 40)), (dw2, (1, 4, 5, 70))):
        for act in acts:
            y = same(net(conv, act), shape, "float32", False, 1, edge=True)
            assert np.isnan(y[:, 1]).all()
    # BatchNorm variants; 1-D
    sym = net(convs[0], acts[1], bn=dict(fix_gamma=True, eps=1e-5))
    same(sym, (2, 4, 6, 6), "float32", False, 1)
    sym = net(convs[1], acts[3], bn=dict(fix_gamma=False, use_global_stats=True))
    same(sym, (2, 4, 6, 6), "float32", True, 1)
    sym = net(dict(kernel=(3,), pad=(1,), num_filter=6), acts[2])
    same(sym, (2, 4, 11), "float64", False, 1)
    # an activation the epilogue does not apply: the convolution and BatchNorm fuse, tanh stays
    sym = net(convs[1], lambda y: mx.sym.tanh(y))
    same(sym, (2, 4, 6, 6), "float32", False, 1)
    # channels last: BatchNorm + relu fuse, the convolution stays apart
    sym = mx.sym.Activation(mx.sym.BatchNorm(mx.sym.Convolution(mx.sym.var("data"), kernel=(3, 3), num_filter=4,
                                                                 layout="NHWC", name="c"),
                                             axis=-1, fix_gamma=False, name="bn"), act_type="relu")
    same(sym, (2, 6, 6, 4), "float32", False, 1)
    # the convolution's output read twice: nothing of it fuses
    c = mx.sym.Convolution(mx.sym.var("data"), kernel=(1, 1), num_filter=4, name="c")
    sym = mx.sym.Group([mx.sym.BatchNorm(c, fix_gamma=False, name="bn"), c * 2])
    same(sym, (2, 4, 5, 5), "float32", False, 0)
    # with gradients (BatchNorm reads the convolution's output again): apart, gradients as unfused
    sym = net(convs[1], acts[1])
    g, y1, _ = run(sym, (2, 4, 6, 6), True, "float32", True, req="write")
    p, y2, _ = run(sym, (2, 4, 6, 6), False, "float32", True, req="write")
    np.testing.assert_array_equal(y1, y2)
    for e in (g, p):
        e.backward(mx.nd.ones(y1.shape))
    for k in p.grad_dict:
        np.testing.assert_array_equal(g.grad_dict[k].asnumpy(), p.grad_dict[k].asnumpy())


def test_convolution_residual_fusion(monkeypatch):
    """Inference executors fold ResNet's sum into the fused convolution: act(BatchNorm(conv(x))
    + r) (relu or clip, the sum either way round, the sum read by the activation alone) is one
    node whose epilogue adds r after BatchNorm. The same bits as unfused (-0 and NaN too) on
    the GEMM strips and Winograd's tile blocks, one sample and several, float32 and float64,
    in training mode (batch statistics) too, and its intermediate values are gone from the
    plan; a sum whose value is read elsewhere, grouped convolutions, an activation the
    epilogue does not apply and gradients leave the sum apart."""
    def net(conv, act, r_first, keep_sum=False):
        x = mx.sym.var("data")
        y = mx.sym.Convolution(x, name="c", no_bias=True, **conv)
        y = mx.sym.BatchNorm(y, name="bn", fix_gamma=False)
        s = mx.sym.elemwise_add(x, y) if r_first else mx.sym.elemwise_add(y, x)
        out = act(s)
        return mx.sym.Group([out, s * 2]) if keep_sum else out

    def run(sym, shape, fuse, dtype, train, req="null", edge=False):
        exe = _bind_conv_bn(monkeypatch, sym, shape, fuse, dtype, req, edge, seed=5)
        if edge:  # and -0 residuals in channel 0
            exe.arg_dict["data"][:, 0:1] = -0.0
        return exe, [o.asnumpy() for o in exe.forward(is_train=train)]

    def same(sym, shape, dtype, train=False, sums=1, edge=False):
        f, a = run(sym, shape, True, dtype, train, edge=edge)
        p, b = run(sym, shape, False, dtype, train, edge=edge)
        fused = f.memory_plan
        assert p.memory_plan["fused"] == 0
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x.view(np.uint8), y.view(np.uint8))
        return fused, a[0]

    relu = lambda s: mx.sym.Activation(s, act_type="relu")  # noqa: E731
    clip = lambda s: mx.sym.clip(s, a_min=-0.5, a_max=0.7)  # noqa: E731
    gemm = dict(kernel=(3, 3), pad=(1, 1), num_filter=6)      # 6 channels: im2col and the GEMM
    wino = dict(kernel=(3, 3), pad=(1, 1), num_filter=16)     # 16 channels: Winograd
    one = dict(kernel=(1, 1), num_filter=6)
    for conv, c, hw in ((gemm, 6, (9, 8)), (wino, 16, (20, 21)), (wino, 16, (6, 7)), (one, 6, (5, 5))):
        for act in (relu, clip):
            for r_first in (False, True):
                for n in (1, 3):
                    for dtype in ("float32", "float64"):
                        plan, _ = same(net(conv, act, r_first), (n, c) + hw, dtype)
                        # conv + BatchNorm, then the sum and activation: one node, no value between
                        # (only BatchNorm's two hidden outputs)
                        assert plan["fused"] == 2, plan
                        assert plan["naive_bytes"] == 2 * c * np.dtype(dtype).itemsize, (plan, conv, r_first, n, dtype)
        same(net(conv, relu, True), (3, c) + hw, "float32", train=True)  # batch statistics
        _, y = same(net(conv, relu, False), (2, c) + hw, "float32", edge=True)
        assert np.isnan(y[:, 1]).all()
    # the sum also read elsewhere: conv + BatchNorm fuse, the sum stays
    plan, _ = same(net(gemm, relu, False, keep_sum=True), (2, 6, 9, 8), "float32")
    assert plan["naive_bytes"] >= 2 * 6 * 4 + 2 * 6 * 9 * 8 * 4  # a value between
    # grouped: the sum stays apart
    plan, _ = same(net(dict(gemm, num_group=2), relu, False), (2, 6, 9, 8), "float32")
    assert plan["naive_bytes"] >= 2 * 6 * 4 + 2 * 6 * 9 * 8 * 4  # a value between
    # with gradients: apart, gradients as unfused
    sym = net(gemm, relu, True)
    g, a = run(sym, (2, 6, 9, 8), True, "float32", True, req="write")
    p, b = run(sym, (2, 6, 9, 8), False, "float32", True, req="write")
    np.testing.assert_array_equal(a[0], b[0])
    for e in (g, p):
        e.backward(mx.nd.ones(a[0].shape))
    for k in p.grad_dict:
        np.testing.assert_array_equal(g.grad_dict[k].asnumpy(), p.grad_dict[k].asnumpy())


@pytest.mark.parametrize("fn,args,dtype", [("uniform", (-2.0, 3.0), "float32"), ("normal", (1.0, 2.0), "float64"),
                                           ("randint", (-3, 7), "int32")])
def test_sym_random_draws_what_nd_random_draws(fn, args, dtype):
    """mx.sym.random's nodes draw, after the same seed, the values mx.nd.random draws; each
    forward draws anew; the dtype and shape are the node's."""
    mx.random.seed(7)
    want = getattr(mx.nd.random, fn)(*args, shape=(3, 50), dtype=dtype).asnumpy()
    mx.random.seed(7)
    s = getattr(mx.sym.random, fn)(*args, shape=(3, 50), dtype=dtype, name="r")
    assert s.list_outputs() == ["r_output"]
    assert s.infer_shape()[1] == [(3, 50)]
    e = s.bind(mx.cpu(), {})
    got = e.forward()[0].asnumpy()
    assert got.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(got, want)
    assert (e.forward()[0].asnumpy() != got).any()
    if fn != "normal":
        assert got.min() >= args[0] and got.max() < args[1]


def test_sym_random_in_a_graph_and_refusals():
    x = mx.sym.var("x")
    y = x + mx.sym.random.normal(0, 0.1, shape=(2, 3))
    assert y.infer_shape(x=(2, 3))[1] == [(2, 3)]
    out = y.bind(mx.cpu(), {"x": mx.nd.ones((2, 3))}).forward()[0].asnumpy()
    assert np.abs(out - 1).max() < 1.0 and (out != 1).all()
    with pytest.raises(mx.base.BrassError, match="sym.random.uniform: low is a Symbol"):
        mx.sym.random.uniform(mx.sym.var("lo"), 1, shape=(2,))


def test_sym_random_doctest():
    import doctest
    import brass.symbol.random as r
    res = doctest.testmod(r)
    assert res.attempted > 0 and res.failed == 0
