"""gluon.data.vision: MNIST / FashionMNIST from IDX files (plain and gzipped), and the main
job trained on such a folder; truncated and missing files are BrassErrors."""
import gzip
import struct

import numpy as np
import pytest

import brass as mx
from brass.gluon.data import vision


def write_idx(path, arr, compress):
    header = bytes([0, 0, 0x08, arr.ndim]) + struct.pack(">%dI" % arr.ndim, *arr.shape)
    data = header + arr.astype(np.uint8).tobytes()
    with (gzip.open if compress else open)(path, "wb") as f:
        f.write(data)


def fake_mnist(folder, n_train=30, n_test=10, compress=True):
    r = np.random.RandomState(0)
    ext = ".gz" if compress else ""
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_idx(str(folder / ("%s-images-idx3-ubyte%s" % (prefix, ext))), r.randint(0, 256, (n, 28, 28)), compress)
        write_idx(str(folder / ("%s-labels-idx1-ubyte%s" % (prefix, ext))), np.arange(n) % 10, compress)


@pytest.mark.parametrize("compress", [True, False])
def test_mnist_reads_idx_files(tmp_path, compress):
    fake_mnist(tmp_path, compress=compress)
    ds = vision.MNIST(str(tmp_path), train=True)
    assert len(ds) == 30
    img, label = ds[13]
    assert img.shape == (28, 28, 1) and img.dtype == np.uint8 and label == 3
    test = vision.FashionMNIST(str(tmp_path), train=False, transform=lambda x, y: (x.astype("float32") / 255, y))
    assert len(test) == 10 and test[0][0].dtype == np.float32
    loader = mx.gluon.data.DataLoader(ds, batch_size=8)
    x, y = next(iter(loader))
    assert x.shape == (8, 28, 28, 1) and y.asnumpy().tolist() == list(range(8))


def test_bad_files(tmp_path):
    with pytest.raises(mx.BrassError, match="is not in"):
        vision.MNIST(str(tmp_path))
    fake_mnist(tmp_path, compress=False)
    p = tmp_path / "train-images-idx3-ubyte"
    p.write_bytes(p.read_bytes()[:-10])
    with pytest.raises(mx.BrassError, match="holds .* bytes of data"):
        vision.MNIST(str(tmp_path))
    p.write_bytes(b"\x01\x02\x03")
    with pytest.raises(mx.BrassError, match="not an IDX file"):
        vision.MNIST(str(tmp_path))


def test_main_job_on_an_idx_folder(tmp_path, capsys):
    from brass import demo
    fake_mnist(tmp_path, n_train=64, n_test=20)
    held = demo.main(["--plain", "--mnist-dir", str(tmp_path), "--epochs", "1", "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert "64 to train, 20 held out" in out and 0.0 <= held <= 1.0
