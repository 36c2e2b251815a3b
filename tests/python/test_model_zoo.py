"""gluon.model_zoo.vision against MXNet 1.9.1 (tests/fixtures/model_zoo/model_zoo_mxnet191.json.gz,
written by make_model_zoo_manifest.py beside it, with MXNet): every model saves the same parameter names and
shapes and has the same full names; MXNet-named files load; with parameters filled from their
names, nine models compute MXNet's outputs; pretrained files are found (or refused) locally."""
import gzip
import hashlib
import importlib
import importlib.util
import json
import os

import numpy as np
import pytest

import brass as mx
from brass.base import BrassError
from brass.gluon.model_zoo import model_store, vision

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "model_zoo")


def _load_generator():
    spec = importlib.util.spec_from_file_location("make_model_zoo_manifest",
                                                  os.path.join(FIXTURES, "make_model_zoo_manifest.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GEN = _load_generator()  # param_values and numeric_input, shared with the MXNet side
with gzip.open(os.path.join(FIXTURES, "model_zoo_mxnet191.json.gz"), "rt") as _f:
    REF = json.load(_f)


def _fresh(name, **kwargs):
    """get_model in a fresh name scope, so full names start at <class>0_ as in MXNet's run."""
    with mx.name.NameManager():
        return vision.get_model(name, **kwargs)


@pytest.fixture(autouse=True)
def _release_cached_memory():
    """Each model's arrays go back to the system after its test (the storage pool would keep
    blocks of every size the 34 models used: several GB of resident memory)."""
    yield
    mx.nd.waitall()
    mx.cpu().empty_cache()


def test_fixture_covers_every_model():
    assert REF["mxnet_version"] == "1.9.1"
    assert sorted(REF["models"]) == vision.list_models()


@pytest.mark.parametrize("name", sorted(REF["models"]))
def test_saved_names_and_shapes_match_mxnet(name, tmp_path):
    ref = REF["models"][name]
    net = _fresh(name)
    assert net.prefix == ref["prefix"]
    # Neither gradient buffers nor random values (VGG holds 0.5 GB): names and shapes are tested
    # here; the networks' own initializers run in test_classes_sets_the_output_layer.
    net.collect_params().setattr("grad_req", "null")
    net.collect_params().setattr("init", mx.init.Zero())
    net.initialize()
    out = net(mx.nd.zeros(tuple(ref["input"])))
    assert list(out.shape) == ref["output_shape"]
    path = str(tmp_path / "p.params")
    net.save_parameters(path)
    try:
        saved = mx.nd.load(path)
        got = [[k, list(v.shape), np.dtype(v.dtype).name] for k, v in saved.items()]
    finally:
        os.remove(path)
    assert got == ref["params"]
    assert list(net.collect_params().keys()) == ref["collect_params"]


def _mxnet_named_file(path, ref, style):
    """A file with the manifest's names and shapes, parameter k holding the value k / 1000:
    'structural' (save_parameters) or 'stripped' (MXNet 1.x save_params: full names without the
    block's prefix)."""
    names = [p[0] for p in ref["params"]]
    if style == "stripped":
        # full names and structural names walk the same tree in the same order
        pairs = zip(ref["collect_params"], names)
        assert all(full.endswith("_" + s.rsplit(".", 1)[1]) for full, s in pairs)
        names = [full[len(ref["prefix"]):] for full in ref["collect_params"]]
    shapes = [tuple(p[1]) for p in ref["params"]]
    mx.nd.save(path, {n: mx.nd.full(s, k / 1000.0) for k, (n, s) in enumerate(zip(names, shapes))})


@pytest.mark.parametrize("style", ["structural", "stripped"])
@pytest.mark.parametrize("name", ["resnet18_v1", "resnet50_v2", "mobilenet1.0", "mobilenetv2_0.5", "vgg11_bn",
                                  "alexnet", "squeezenet1.0", "densenet121", "inceptionv3"])
def test_loads_a_file_with_mxnet_names(name, style, tmp_path):
    ref = REF["models"][name]
    path = str(tmp_path / "m.params")
    _mxnet_named_file(path, ref, style)
    net = _fresh(name)  # not initialized: shapes come from the file, as with pretrained=True
    try:
        net.load_parameters(path)
    finally:
        os.remove(path)
    params = net._collect_params_with_prefix()
    assert list(params) == [p[0] for p in ref["params"]]
    for k, (sname, shape, _) in enumerate(ref["params"]):
        p = params[sname]
        assert list(p.shape) == shape
        if k % 7 == 0 or k == len(ref["params"]) - 1:
            v = p.data().reshape((-1,))[:3].asnumpy()
            np.testing.assert_array_equal(v, np.float32(k / 1000.0))
    out = net(mx.nd.zeros(tuple(ref["input"])))
    assert list(out.shape) == ref["output_shape"]


@pytest.mark.parametrize("hybridize", [False, True])
@pytest.mark.parametrize("name", sorted(REF["numeric"]))
def test_outputs_match_mxnet(name, hybridize, tmp_path):
    """Parameters filled by param_values(structural name, shape), written with nd.save and read
    by load_parameters; the inference-mode output is MXNet's to 1e-4 of its largest value."""
    ref = REF["numeric"][name]
    x = mx.nd.array(GEN.numeric_input(ref["input"][2]))
    net = _fresh(name)
    net.initialize()
    net.infer_shape(x)
    params = net._collect_params_with_prefix()
    values = {k: mx.nd.array(GEN.param_values(k, p.shape)) for k, p in params.items()}
    path = str(tmp_path / "n.params")
    mx.nd.save(path, values)
    net.load_parameters(path)
    if hybridize:
        net.hybridize()
    got = net(x).asnumpy()
    want = np.array(ref["output"], dtype=np.float32).reshape(ref["output_shape"])
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


def test_module_exports_match_mxnet():
    for family, names in REF["exports"].items():
        module = importlib.import_module("brass.gluon.model_zoo.vision." + family)
        missing = [n for n in names if not hasattr(module, n) or n not in module.__all__]
        assert not missing, (family, missing)
        assert all(hasattr(vision, n) for n in names)


def test_unknown_model_lists_the_known_ones():
    with pytest.raises(BrassError) as e:
        vision.get_model("nope")
    msg = str(e.value)
    assert "'nope'" in msg
    for name in ("resnet18_v1", "mobilenetv2_0.25", "squeezenet1.1", "inceptionv3", "vgg19_bn"):
        assert name in msg


def test_names_are_case_insensitive():
    assert type(vision.get_model("ResNet18_V1")).__name__ == "ResNetV1"
    assert type(vision.get_model("MobileNetV2_1.0")).__name__ == "MobileNetV2"


@pytest.mark.parametrize("name", ["resnet18_v1", "resnet50_v2", "mobilenet0.25", "mobilenetv2_0.25",
                                  "squeezenet1.1", "densenet121", "vgg11", "alexnet", "inceptionv3"])
def test_classes_sets_the_output_layer(name):
    """classes=10: the output layer's 1000 becomes 10, nothing else changes."""
    ref = REF["models"][name]
    net = vision.get_model(name, classes=10)
    net.collect_params().setattr("grad_req", "null")
    net.initialize()
    assert net(mx.nd.zeros(tuple(ref["input"]))).shape == (1, 10)
    got = {k: list(p.shape) for k, p in net._collect_params_with_prefix().items()}
    want = {k: ([10] + s[1:] if k.startswith("output.") else s) for k, s, _ in ref["params"]}
    assert any(k.startswith("output.") and s[0] == 1000 for k, s, _ in ref["params"])
    assert got == want


def test_small_inputs_and_thumbnail():
    net = vision.resnet18_v1(classes=10, thumbnail=True)
    net.initialize()
    assert net(mx.nd.ones((2, 3, 32, 32))).shape == (2, 10)
    assert net.features[0].weight.shape == (64, 3, 3, 3)
    net = vision.resnet50_v2(classes=7, thumbnail=True)
    net.initialize()
    assert net(mx.nd.ones((1, 3, 32, 32))).shape == (1, 7)


def test_family_constructors_check_their_arguments():
    with pytest.raises(BrassError, match="no ResNet with 20 layers"):
        vision.get_resnet(1, 20)
    with pytest.raises(BrassError, match="version must be 1 or 2"):
        vision.get_resnet(3, 18)
    with pytest.raises(BrassError, match="no VGG with 12 layers"):
        vision.get_vgg(12)
    with pytest.raises(BrassError, match="no DenseNet with 100 layers"):
        vision.get_densenet(100)
    with pytest.raises(BrassError, match="version must be '1.0' or '1.1'"):
        vision.SqueezeNet("1.2")


def test_pretrained_without_the_file_names_file_and_folder(tmp_path):
    with pytest.raises(BrassError) as e:
        vision.get_model("resnet18_v1", pretrained=True, root=str(tmp_path))
    msg = str(e.value)
    assert "resnet18_v1-a0666292.params" in msg and str(tmp_path) in msg
    assert "apache-mxnet.s3-accelerate.dualstack.amazonaws.com/gluon/models/resnet18_v1-a0666292.zip" in msg
    assert os.listdir(str(tmp_path)) == []  # nothing written, nothing downloaded


def test_pretrained_default_folder_is_brass_home_models(tmp_path, monkeypatch):
    monkeypatch.setenv("BRASS_HOME", str(tmp_path / "home"))
    with pytest.raises(BrassError) as e:
        vision.mobilenet_v2_0_25(pretrained=True)
    assert "mobilenetv2_0.25-ae8f9392.params" in str(e.value)
    assert os.path.join(str(tmp_path / "home"), "models") in str(e.value)
    monkeypatch.delenv("BRASS_HOME")
    with pytest.raises(BrassError) as e:
        vision.squeezenet1_0(pretrained=True, root=str(tmp_path))  # root wins over the default
    assert "squeezenet1.0-264ba497.params" in str(e.value)
    assert model_store.data_dir() == os.path.expanduser(os.path.join("~", ".brass"))


def test_pretrained_file_with_the_wrong_sha1_is_refused(tmp_path):
    (tmp_path / "alexnet-44335d1f.params").write_bytes(b"not the published file")
    with pytest.raises(BrassError) as e:
        vision.alexnet(pretrained=True, root=str(tmp_path))
    msg = str(e.value)
    assert "sha1" in msg and hashlib.sha1(b"not the published file").hexdigest() in msg
    assert "44335d1f0046b328243b32a26a4fbd62d9057b45" in msg


def test_pretrained_loads_a_file_whose_sha1_matches(tmp_path, monkeypatch):
    """The whole pretrained path, with the table's sha1 replaced by that of a file written here."""
    ref = REF["models"]["mobilenet0.25"]
    path = str(tmp_path / "m.params")
    _mxnet_named_file(path, ref, "structural")
    with open(path, "rb") as f:
        sha1 = hashlib.sha1(f.read()).hexdigest()
    monkeypatch.setitem(model_store._model_sha1, "mobilenet0.25", sha1)
    os.rename(path, str(tmp_path / ("mobilenet0.25-%s.params" % sha1[:8])))
    found = model_store.get_model_file("mobilenet0.25", root=str(tmp_path))
    assert found == str(tmp_path / ("mobilenet0.25-%s.params" % sha1[:8]))
    net = vision.get_model("mobilenet0.25", pretrained=True, root=str(tmp_path))
    last, k = ref["params"][-1], len(ref["params"]) - 1
    got = net._collect_params_with_prefix()[last[0]].data().asnumpy()
    np.testing.assert_array_equal(got, np.full(last[1], np.float32(k / 1000.0)))
    assert net(mx.nd.zeros((1, 3, 32, 32))).shape == (1, 1000)
    model_store.purge(str(tmp_path))
    assert os.listdir(str(tmp_path)) == []


def test_model_store_names():
    assert model_store.short_hash("inceptionv3") == "ed47ec45"
    assert sorted(model_store._model_sha1) == vision.list_models()
    with pytest.raises(BrassError, match="no pretrained parameters for 'resnet19_v1'"):
        model_store.short_hash("resnet19_v1")


@pytest.mark.parametrize("module", ["model_store", "vision", "vision.resnet", "vision.mobilenet", "vision.vgg",
                                    "vision.alexnet", "vision.squeezenet", "vision.densenet", "vision.inception"])
def test_docstring_examples(module):
    import doctest
    res = doctest.testmod(importlib.import_module("brass.gluon.model_zoo." + module))
    assert res.attempted > 0 and res.failed == 0
