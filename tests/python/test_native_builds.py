"""The single file and the C API, built the way users build them:
- brass.cc compiled with exactly the bare command from the docs, linked --no-undefined;
- a C99 program that includes only brass.h, run against it under both engines and thread counts;
- the same program with the engine and pool built without threads (BRASS_NO_THREADS);
- the C tests under AddressSanitizer and UndefinedBehaviorSanitizer;
- the two-file predictor (brass_predict.cc + brass_predict.h) with an app written for MXNet.
Builds are cached in build/native-tests by the hash of the generated source."""
import hashlib
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CACHE = os.path.join(ROOT, "build", "native-tests")
CTEST = os.path.join(ROOT, "tests", "c", "test_capi.c")


def need(tool):
    if shutil.which(tool) is None:
        if os.environ.get("CI") == "true":
            pytest.fail("%s is required in CI" % tool)
        pytest.skip("%s not found" % tool)


def run(cmd, env=None, timeout=900):
    e = dict(os.environ)
    if env:
        e.update(env)
    p = subprocess.run(cmd, cwd=CACHE, env=e, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise AssertionError("%s failed (%d):\n%s\n%s" % (" ".join(cmd), p.returncode, p.stdout[-4000:], p.stderr[-4000:]))
    return p.stdout


@pytest.fixture(scope="module")
def amalgamation():
    need("c++")
    os.makedirs(CACHE, exist_ok=True)
    out = os.path.join(CACHE, "amalgamation")
    subprocess.run([sys.executable, os.path.join(ROOT, "amalgamation", "amalgamate.py"), "-o", out], check=True)
    with open(os.path.join(out, "brass.cc"), "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:16]
    return out, digest


def build_lib(amal, flags, tag):
    out, digest = amal
    lib = os.path.join(CACHE, "libbrass-%s-%s.so" % (tag, digest))
    if not os.path.exists(lib):
        tmp = lib + ".tmp"
        run(["c++", "-std=c++17"] + flags + ["-fPIC", "-shared", os.path.join(out, "brass.cc"), "-I", out,
                                              "-o", tmp, "-pthread", "-Wl,--no-undefined"], timeout=1200)
        os.replace(tmp, lib)
    return lib


def build_ctest(amal, lib, tag, extra=()):
    out, _ = amal
    exe = os.path.join(CACHE, "test_capi-" + tag)
    libdir = os.path.join(CACHE, "lib-" + tag)
    os.makedirs(libdir, exist_ok=True)
    shutil.copy(lib, os.path.join(libdir, "libbrass.so"))
    run(["cc", "-std=c99", "-Wall", "-Werror", "-DBRASS_TEST_AMALGAMATION", *extra, CTEST, "-I", out, "-L", libdir,
         "-lbrass", "-lpthread", "-Wl,-rpath," + libdir, "-o", exe])
    return exe


def test_bare_compile_and_c_api(amalgamation):
    # Exactly the documented command.
    lib = build_lib(amalgamation, ["-O2"], "O2")
    exe = build_ctest(amalgamation, lib, "O2")
    outputs = {}
    for engine in ("threaded", "naive"):
        for threads in ("1", "2"):
            o = run([exe], env={"BRASS_ENGINE": engine, "BRASS_NUM_THREADS": threads})
            assert "0 failed" in o and "engine %s threads %s" % (engine, threads) in o, o
            outputs[engine, threads] = o


def test_header_compiles_alone_as_c99(amalgamation):
    out, _ = amalgamation
    src = os.path.join(CACHE, "only_header.c")
    with open(src, "w") as f:
        f.write('#include "brass.h"\nint main(void) { return brass_version_number() == BRASS_VERSION_NUMBER ? 0 : 1; }\n')
    run(["cc", "-std=c99", "-pedantic", "-Wall", "-Werror", "-c", src, "-I", out, "-o", src + ".o"])


def test_no_threads_build(amalgamation):
    # -O0: this build checks behaviour, and the single file compiles several times faster.
    lib = build_lib(amalgamation, ["-O0", "-DBRASS_NO_THREADS"], "nothreads")
    exe = build_ctest(amalgamation, lib, "nothreads")
    o = run([exe])
    assert "0 failed" in o and "engine naive threads 1" in o, o


def test_sanitizers(amalgamation):
    flags = ["-O0", "-g", "-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-fno-sanitize-recover=undefined"]
    lib = build_lib(amalgamation, flags, "asan")
    exe = build_ctest(amalgamation, lib, "asan", extra=("-fsanitize=address,undefined", "-g"))
    env = {"ASAN_OPTIONS": "detect_leaks=0:abort_on_error=0", "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1"}
    for engine in ("threaded", "naive"):
        env["BRASS_ENGINE"] = engine
        o = run([exe], env=env)
        assert "0 failed" in o, o


def test_installed_library_exports_only_the_c_api():
    # The library pip built (CMake: --exclude-libs) exports brass_* and at most weak template
    # copies, never a static archive's symbols that would interpose the process's libstdc++.
    import brass

    from test_cuda import assert_exports_only_brass
    lib = os.path.join(os.path.dirname(brass.__file__), "libbrass.so")
    need("nm")
    assert_exports_only_brass(run(["nm", "-D", "--defined-only", os.path.realpath(lib)]))


def compile_predictor(folder, tag, cxx="c++"):
    """brass_predict.cc of folder compiled with exactly the documented command (nothing else:
    no -I, no defines; cxx may be a cross compiler), cached by the source's hash: the object's
    path."""
    src = os.path.join(folder, "brass_predict.cc")
    with open(src, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:16]
    obj = os.path.join(CACHE, "brass_predict-%s-%s.o" % (tag, digest))
    if not os.path.exists(obj):
        work = os.path.join(CACHE, "predict-build-" + tag)
        os.makedirs(work, exist_ok=True)
        for name in ("brass_predict.cc", "brass_predict.h"):
            shutil.copy(os.path.join(folder, name), os.path.join(work, name))
        p = subprocess.run([cxx, "-std=c++17", "-O2", "-c", "brass_predict.cc"], cwd=work, capture_output=True,
                           text=True, timeout=1200)
        assert p.returncode == 0, p.stderr[-4000:]
        os.replace(os.path.join(work, "brass_predict.o"), obj)
    return obj


@pytest.fixture(scope="module")
def predictor_object(amalgamation):
    return compile_predictor(amalgamation[0], "full")


def build_mxnet_app(amal_dir, obj, exe, cc="cc", cxx="c++", link=()):
    """tests/c/predict_mxnet_app.c (C99, MXNet's predict API) linked with a predictor object."""
    run([cc, "-std=c99", "-pedantic", "-Wall", "-Werror", "-DBRASS_TEST_AMALGAMATION", "-c",
         os.path.join(ROOT, "tests", "c", "predict_mxnet_app.c"), "-I", amal_dir, "-o", exe + ".o"])
    run([cxx, exe + ".o", obj, "-pthread", *link, "-o", exe])
    return exe


def run_mxnet_fixture(app, name, rtol=1e-4, atol=1e-5, prefix=()):
    """Runs MXNet 1.9.1's fixture network `name` through app (under `prefix`, an emulator);
    compares with MXNet's output. Returns the outputs and what the app wrote to stderr."""
    import json

    import numpy as np
    fix = os.path.join(ROOT, "tests", "fixtures", "mxnet_networks")
    with open(os.path.join(fix, "manifest.json")) as f:
        rec = json.load(f)[name]
    x = np.array(rec["data"], np.float32)
    p = subprocess.run([*prefix, app, os.path.join(fix, name + "-symbol.json"), os.path.join(fix, name + "-0000.params"),
                        *map(str, rec["data_shape"])], input=" ".join("%.9g" % v for v in x.ravel()),
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    y = np.array([float(v) for v in p.stdout.split()])
    np.testing.assert_allclose(y, np.array(rec["output"], np.float32).ravel(), rtol=rtol, atol=atol)
    return y, p.stderr


def test_two_file_predictor(amalgamation, predictor_object, tmp_path):
    """The predictor object (the documented bare compile), linked with a C99 app written for
    MXNet's predict API that includes only brass_predict.h: the app runs models MXNet 1.9.1
    wrote and prints MXNet's outputs."""
    app = build_mxnet_app(amalgamation[0], predictor_object, str(tmp_path / "app"))
    for name in ("lenet", "mlp"):
        run_mxnet_fixture(app, name)


def test_integer_elementwise_in_the_predictor(amalgamation, predictor_object, tmp_path):
    """The predictor's lean builds run integer element-wise math through the converters (one
    copy per functor for int32, int64 and uint8): unary, scalar and broadcast ops on each
    integer dtype give what the full library gives."""
    import numpy as np

    import brass as mx
    d, w = mx.sym.var("data"), mx.sym.var("w")
    outs = []
    for dt in ("int64", "int32", "uint8"):
        x = mx.sym.Cast(mx.sym.abs(d), dtype=dt)
        y = mx.sym.broadcast_add(mx.sym.broadcast_mul(x, mx.sym.Cast(w, dtype=dt)), x % 7)
        y = mx.sym.broadcast_maximum((200 - y) * 3, mx.sym.negative(x) + 5)
        outs.append(mx.sym.Cast(y, dtype="float32"))
    net = mx.sym.concat(*outs, dim=1)
    rng = np.random.RandomState(0)
    xv = rng.uniform(-60, 60, (2, 5)).astype(np.float32)
    wv = rng.randint(0, 4, (1, 5)).astype(np.float32)
    want = net.bind(mx.cpu(), {"data": mx.nd.array(xv), "w": mx.nd.array(wv)}).forward()[0].asnumpy()
    prefix = str(tmp_path / "ints")
    net.save(prefix + "-symbol.json")
    mx.nd.save(prefix + "-0000.params", {"arg:w": mx.nd.array(wv)})
    app = build_mxnet_app(amalgamation[0], predictor_object, str(tmp_path / "app"))
    p = subprocess.run([app, prefix + "-symbol.json", prefix + "-0000.params", "2", "5"],
                       input=" ".join("%.9g" % v for v in xv.ravel()), capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    got = np.array([float(v) for v in p.stdout.split()])
    np.testing.assert_array_equal(got, want.ravel())
    assert len(set(got.tolist())) > 10  # the values vary


def test_op_selected_predictor(predictor_object, tmp_path):
    """amalgamate.py --ops-from resnet18's symbol: a predictor with only ResNet-18's operators
    runs MXNet's ResNet-18 to MXNet's outputs, is smaller than the full one, and refuses a
    model with other operators, naming the operator."""
    need("c++")
    fix = os.path.join(ROOT, "tests", "fixtures", "mxnet_networks")
    out = os.path.join(CACHE, "amalgamation-resnet18")
    subprocess.run([sys.executable, os.path.join(ROOT, "amalgamation", "amalgamate.py"), "-o", out, "--ops-from",
                    os.path.join(fix, "resnet18_v1-symbol.json")], check=True)
    with open(os.path.join(out, "brass_predict.cc"), encoding="utf-8") as f:
        head = f.read(4000)
    assert "#define BRASS_ALL_OPS 0" in head and "#define BRASS_OP_Convolution 1" in head
    # ResNet-18 has no grouped convolutions: the depthwise kernels are left out.
    assert "#define BRASS_CONV_DEPTHWISE 0" in head
    obj = compile_predictor(out, "resnet18")
    app = build_mxnet_app(out, obj, str(tmp_path / "app"))
    run_mxnet_fixture(app, "resnet18_v1", rtol=1e-3, atol=1e-4)
    _depthwise_runs_as_grouped_gemm(app, tmp_path)
    # MobileNetV2 needs clip, which ResNet-18 does not use.
    p = subprocess.run([app, os.path.join(fix, "mobilenet_v2-symbol.json"), os.path.join(fix, "mobilenet_v2-0000.params"),
                        "1", "3", "16", "16"], input=" ".join(["0.5"] * 768), capture_output=True, text=True, timeout=60)
    assert p.returncode != 0
    assert "clip" in p.stdout + p.stderr
    assert os.path.getsize(obj) < 0.6 * os.path.getsize(predictor_object)


def _depthwise_runs_as_grouped_gemm(app, tmp_path):
    """A model of ResNet-18's operators with depthwise convolutions (stride 1 and 2) runs in a
    build without the depthwise kernels (as grouped GEMMs) to the outputs Python gives."""
    import numpy as np

    import brass as mx
    x = mx.sym.var("data")
    y = mx.sym.Activation(mx.sym.BatchNorm(mx.sym.Convolution(x, num_filter=8, kernel=(3, 3), pad=(1, 1), name="c0"),
                                           fix_gamma=False, name="b0"), act_type="relu")
    for i, stride in ((1, 1), (2, 2)):
        y = mx.sym.Convolution(y, num_filter=8, num_group=8, kernel=(3, 3), stride=(stride, stride), pad=(1, 1),
                               name="dw%d" % i)
        y = mx.sym.Activation(mx.sym.BatchNorm(y, fix_gamma=False, name="bd%d" % i), act_type="relu")
    y = mx.sym.Convolution(y, num_filter=6, kernel=(1, 1), name="pw")
    y = mx.sym.FullyConnected(mx.sym.Flatten(mx.sym.Pooling(y, global_pool=True, kernel=(1, 1), pool_type="avg")),
                              num_hidden=4, name="fc")
    shape = (1, 3, 16, 16)
    rs = np.random.RandomState(0)
    arg_shapes, _, aux_shapes = y.infer_shape(data=shape)
    args = {n: mx.nd.array(rs.uniform(-0.5, 0.5, s)) for n, s in zip(y.list_arguments(), arg_shapes) if n != "data"}
    aux = {n: mx.nd.array(rs.uniform(0.5, 1.5, s)) for n, s in zip(y.list_auxiliary_states(), aux_shapes)}
    prefix = str(tmp_path / "dw")
    mx.model.save_checkpoint(prefix, 0, y, args, aux)
    data = rs.uniform(-1, 1, shape).astype(np.float32)
    exe = y.simple_bind(mx.cpu(), grad_req="null", data=shape)
    for n, v in list(args.items()) + list(aux.items()):
        (exe.arg_dict if n in exe.arg_dict else exe.aux_dict)[n][:] = v
    exe.arg_dict["data"][:] = data
    want = exe.forward(is_train=False)[0].asnumpy().ravel()
    p = subprocess.run([app, prefix + "-symbol.json", prefix + "-0000.params", *map(str, shape)],
                       input=" ".join("%.9g" % v for v in data.ravel()), capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    np.testing.assert_allclose(np.array([float(v) for v in p.stdout.split()]), want, rtol=1e-4, atol=1e-5)


def test_ops_from_rejects_bad_input(tmp_path):
    """--ops-from names an unknown operator or a file that is not a symbol: an error, no output."""
    bad = tmp_path / "bad-symbol.json"
    bad.write_text('{"nodes": [{"op": "null", "name": "data"}, {"op": "NoSuchOp", "name": "x"}]}')
    amal = os.path.join(ROOT, "amalgamation", "amalgamate.py")
    p = subprocess.run([sys.executable, amal, "-o", str(tmp_path / "o"), "--ops-from", str(bad)],
                       capture_output=True, text=True)
    assert p.returncode != 0 and "NoSuchOp" in p.stderr
    bad.write_text("[1, 2")
    p = subprocess.run([sys.executable, amal, "-o", str(tmp_path / "o"), "--ops-from", str(bad)],
                       capture_output=True, text=True)
    assert p.returncode != 0 and "not a symbol JSON" in p.stderr
    assert not os.path.exists(tmp_path / "o" / "brass_predict.cc")


def test_operator_table_is_current(tmp_path):
    """amalgamation/operators.txt (the names and aliases --ops-from resolves) lists exactly the
    installed library's operators."""
    sys.path.insert(0, os.path.join(ROOT, "amalgamation"))
    try:
        import amalgamate
    finally:
        sys.path.pop(0)
    fresh = str(tmp_path / "operators.txt")
    amalgamate.write_op_table(fresh)
    with open(fresh) as f, open(amalgamate.OP_TABLE) as g:
        assert f.read() == g.read(), "run: python amalgamation/amalgamate.py --write-op-table"
    table = amalgamate.read_op_table()
    assert table["_Plus"] == "elemwise_add" and table["Convolution"] == "Convolution"




def test_classify_image_app(amalgamation, predictor_object, tmp_path):
    """examples/predict/classify_image.c (strict C99) linked with the predictor: PGM and PPM
    images, binary and text, through MXNet's LeNet and ResNet-18 give the classes and scores
    Brass's Python package computes; broken images are refused one by one with a message."""
    import numpy as np

    import brass as mx
    from brass import native_predictor
    src = os.path.join(ROOT, "examples", "predict", "classify_image.c")
    exe = str(tmp_path / "classify_image")
    run(["cc", "-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror", "-c", src, "-I", amalgamation[0],
         "-o", exe + ".o"])
    run(["c++", exe + ".o", predictor_object, "-pthread", "-o", exe])
    fix = os.path.join(ROOT, "tests", "fixtures", "mxnet_networks")
    rs = np.random.RandomState(0)

    def python_scores(name, x):
        net = mx.gluon.SymbolBlock.imports(os.path.join(fix, name + "-symbol.json"), ["data"],
                                           os.path.join(fix, name + "-0000.params"))
        return net(mx.nd.array(x)).asnumpy()

    # LeNet (1, 14, 14): binary and text PGM.
    imgs = rs.randint(0, 256, (3, 14, 14)).astype(np.uint8)
    files = []
    for i, img in enumerate(imgs):
        files.append(str(tmp_path / ("g%d.pgm" % i)))
        native_predictor.write_pgm(files[-1], img)
    text = str(tmp_path / "t.pgm")
    with open(text, "w") as f:
        f.write("P2\n# a comment\n14 14\n255\n" + " ".join(map(str, imgs[0].ravel())) + "\n")
    files.append(text)
    want = python_scores("lenet", np.concatenate([imgs, imgs[:1]])[:, None].astype(np.float32) / 255.0)
    got = native_predictor.classify(exe, os.path.join(fix, "lenet-symbol.json"), os.path.join(fix, "lenet-0000.params"),
                                    files, top=5)
    assert [g for g in got] == [list(np.argsort(-w, kind="stable")[:5]) for w in want]

    # ResNet-18 (3, 48, 48): PPM with per-channel mean and std, probabilities, labels.
    rgb = rs.randint(0, 256, (48, 48, 3)).astype(np.uint8)
    ppm = str(tmp_path / "c.ppm")
    with open(ppm, "wb") as f:
        f.write(b"P6\n48 48\n255\n" + rgb.tobytes())
    mean, std = np.array([0.485, 0.456, 0.406], np.float32), np.array([0.229, 0.224, 0.225], np.float32)
    x = ((rgb.astype(np.float32) / 255.0 - mean) / std).transpose(2, 0, 1)[None]
    logits = python_scores("resnet18_v1", x)[0]
    prob = np.exp(logits - logits.max())
    prob /= prob.sum()
    labels = tmp_path / "labels.txt"
    labels.write_text("".join("class-%d\n" % i for i in range(len(prob))))
    p = subprocess.run([exe, "--mean", "0.485,0.456,0.406", "--std", "0.229,0.224,0.225", "--softmax", "--labels",
                        str(labels), "-k", "3", os.path.join(fix, "resnet18_v1-symbol.json"),
                        os.path.join(fix, "resnet18_v1-0000.params"), ppm], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    parts = [w.strip() for w in p.stdout.strip().split(":", 1)[1].split(",")]
    top = np.argsort(-prob)[:3]
    assert [w.split()[0] for w in parts] == ["class-%d" % i for i in top]
    np.testing.assert_allclose([float(w.split("(")[1].rstrip(")")) for w in parts], prob[top], atol=2e-4)

    # Broken images: each refused with a reason; the good one between them still classified.
    broken = {"trunc.pgm": b"P5\n14 14\n255\n" + bytes(100), "magic.pgm": b"P7\n14 14\n255\n" + bytes(196),
              "huge.pgm": b"P5\n99999 99999\n255\n", "maxval.pgm": b"P5\n14 14\n0\n" + bytes(196),
              "text.pgm": b"P2\n2 2\n255\n1 2 300 4\n", "empty.pgm": b""}
    paths = []
    for name, data in broken.items():
        (tmp_path / name).write_bytes(data)
        paths.append(str(tmp_path / name))
    paths.insert(3, files[0])
    paths.append(str(tmp_path / "missing.pgm"))
    p = subprocess.run([exe, os.path.join(fix, "lenet-symbol.json"), os.path.join(fix, "lenet-0000.params")] + paths,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 1
    assert p.stdout.count("\n") == 1 and p.stdout.startswith(files[0] + ":")
    for why in ("truncated pixel data", "not a PGM or PPM", "unsupported size", "bad pixel value", "cannot open"):
        assert why in p.stderr, p.stderr
    # A model that does not load: one message, exit 1.
    p = subprocess.run([exe, os.path.join(fix, "lenet-symbol.json"), os.path.join(fix, "mlp-0000.params"), files[0]],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 1 and p.stderr.startswith("classify_image:") and not p.stdout
