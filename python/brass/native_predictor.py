"""The embeddable C predictor from Python: where its two files are, and how to compile them.

The package carries the predictor's amalgamation (``brass_predict.cc`` + ``brass_predict.h``,
what ``amalgamation/amalgamate.py`` writes) and the example app ``classify_image.c``, in
``brass/predictor/``. :func:`build_classifier` compiles them into a program the way an app
developer would, with bare compiler commands::

    c++ -std=c++17 -O2 -c brass_predict.cc
    cc -std=c99 -O2 -c classify_image.c
    c++ -o classify_image classify_image.o brass_predict.o -pthread

The main job (``python -m brass.demo``) uses it to classify the held-out digits in C.
"""
import os
import shutil
import subprocess
import sys
import threading
import time

from .base import BrassError

PREDICTOR_FILES = ("brass_predict.cc", "brass_predict.h", "classify_image.c")


def _repo_root():
    """The source checkout this package runs from (an editable install), or None."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return root if os.path.exists(os.path.join(root, "amalgamation", "amalgamate.py")) else None


def sources_dir(cache=None):
    """The folder holding brass_predict.cc, brass_predict.h and classify_image.c: the package's
    own copy, or (running from a source checkout) one written by amalgamate.py into ``cache``."""
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "predictor")
    if all(os.path.exists(os.path.join(here, f)) for f in PREDICTOR_FILES):
        return here
    root = _repo_root()
    if root is None:
        raise BrassError("native_predictor: this installation lacks brass/predictor/ (%s)"
                         % ", ".join(PREDICTOR_FILES))
    cache = cache or os.path.join(root, "build", "predictor-sources")
    os.makedirs(cache, exist_ok=True)
    subprocess.run([sys.executable, os.path.join(root, "amalgamation", "amalgamate.py"), "-o", cache],
                   check=True, capture_output=True)
    shutil.copyfile(os.path.join(root, "examples", "predict", "classify_image.c"),
                    os.path.join(cache, "classify_image.c"))
    return cache


def compiler(kind):
    """The C++ (kind "c++") or C ("cc") compiler: $CXX / $CC, else the first found on PATH."""
    env = os.environ.get("CXX" if kind == "c++" else "CC")
    if env:
        return env
    names = ("c++", "g++", "clang++") if kind == "c++" else ("cc", "gcc", "clang")
    for n in names:
        if shutil.which(n):
            return n
    raise BrassError("native_predictor: no %s compiler found (install g++ or set %s)"
                     % ("C++" if kind == "c++" else "C", "CXX" if kind == "c++" else "CC"))


def build_commands(opt="-O2"):
    """The three commands that build classify_image from the two files (run in their folder)."""
    cxx, cc = compiler("c++"), compiler("cc")
    return [[cxx, "-std=c++17", opt, "-c", "brass_predict.cc"],
            [cc, "-std=c99", opt, "-c", "classify_image.c"],
            [cxx, "-o", "classify_image", "classify_image.o", "brass_predict.o", "-pthread"]]


class Build:
    """A compile of the predictor and the example app into ``workdir``, running in the
    background from construction; :meth:`wait` returns the program's path."""

    def __init__(self, workdir, opt="-O2"):
        self.workdir = workdir
        self.commands = None
        self.error = None
        self.seconds = None
        os.makedirs(workdir, exist_ok=True)
        src = sources_dir()
        for f in PREDICTOR_FILES:
            if os.path.abspath(os.path.join(src, f)) != os.path.abspath(os.path.join(workdir, f)):
                shutil.copyfile(os.path.join(src, f), os.path.join(workdir, f))
        self.commands = build_commands(opt)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        t0 = time.perf_counter()
        for cmd in self.commands:
            p = subprocess.run(cmd, cwd=self.workdir, capture_output=True, text=True)
            if p.returncode != 0:
                self.error = "%s failed (exit %d):\n%s" % (" ".join(cmd), p.returncode, (p.stderr or p.stdout)[-4000:])
                return
        self.seconds = time.perf_counter() - t0

    def wait(self):
        self._thread.join()
        if self.error:
            raise BrassError("native_predictor: " + self.error)
        return os.path.join(self.workdir, "classify_image")


def build_classifier(workdir, opt="-O2"):
    """Compiles the predictor and classify_image in workdir; returns the program's path."""
    return Build(workdir, opt).wait()


def write_pgm(path, image):
    """A (H, W) uint8 array as a binary PGM file."""
    h, w = image.shape
    with open(path, "wb") as f:
        f.write(b"P5\n%d %d\n255\n" % (w, h))
        f.write(image.astype("uint8").tobytes())


def classify(program, symbol_file, params_file, images, extra_args=(), top=1):
    """Runs classify_image over image files; returns, per image, its top classes as ints."""
    cmd = [program] + list(extra_args) + ["-k", str(top), symbol_file, params_file] + list(images)
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise BrassError("native_predictor: %s failed (exit %d): %s" % (os.path.basename(program), p.returncode,
                                                                       p.stderr[-2000:]))
    out = []
    for line in p.stdout.splitlines():
        ranked = line.rsplit(":", 1)[1].split(",")
        out.append([int(r.split("(")[0]) for r in ranked])
    return out
