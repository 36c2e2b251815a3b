#!/usr/bin/env python3
"""Writes the single-file Brass library from the ordered list in sources.txt.

    python amalgamation/amalgamate.py -o OUTDIR

OUTDIR/brass.cc       every source of the engine, its operators and the C API, in one C++17
                      file, project headers inlined once each at their first use;
OUTDIR/brass.h        the public header (include/brass/c_api.h);
OUTDIR/brass_cuda.cu  the CUDA sources listed in cuda_sources.txt, headers inlined the same way
                      (on their own: it is a second translation unit);
OUTDIR/brass_predict.cc, OUTDIR/brass_predict.h
                      the predictor for apps: the same sources without the full C API, with
                      BRASS_PREDICT_ONLY defined, and its public header
                      (include/brass/c_predict_api.h): c++ -std=c++17 -O2 -c brass_predict.cc.

brass.cc compiles alone: c++ -std=c++17 -O2 -fPIC -shared brass.cc -I OUTDIR -pthread.
A CUDA build compiles both, brass.cc with -DBRASS_USE_CUDA, and links them with the CUDA runtime:
    nvcc -std=c++17 -O2 -Xcompiler -fPIC -c brass_cuda.cu -I OUTDIR
    c++ -std=c++17 -O2 -fPIC -DBRASS_USE_CUDA -shared brass.cc brass_cuda.o -I OUTDIR -pthread \
        -L$CUDA_HOME/lib64 -l:libcudart_static.a -ldl -lrt
--cuda-only writes brass_cuda.cu alone (the CMake CUDA build runs it as a second step).

--ops-from MODEL-symbol.json (repeatable) selects operators: brass_predict.cc then compiles
only the operators those models use (names and MXNet aliases resolved through
amalgamation/operators.txt), for a smaller binary. --write-op-table rewrites that table from
the installed brass package (run it after adding or renaming an operator; a test checks it).
"""
import argparse
import hashlib
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INCLUDE_DIRS = [os.path.join(ROOT, "src"), ROOT, os.path.join(ROOT, "include")]
PUBLIC = {"brass/c_api.h": "brass.h"}
INCLUDE_RE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def read_sources(name="sources.txt"):
    out = []
    with open(os.path.join(ROOT, name), encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                out.append(line)
    return out


def version():
    text = open(os.path.join(ROOT, "include/brass/c_api.h"), encoding="utf-8").read()
    return re.search(r'#define BRASS_VERSION_STRING "([^"]+)"', text).group(1)


def resolve(inc, here):
    for d in [os.path.dirname(here)] + INCLUDE_DIRS:
        p = os.path.normpath(os.path.join(d, inc))
        if os.path.isfile(p):
            return p
    return None


class Amalgamator:
    def __init__(self, public=None):
        self.done = set()
        self.out = []
        self.public = PUBLIC if public is None else public

    def emit_file(self, path, is_header):
        rel = os.path.relpath(path, ROOT)
        self.out.append("/*** begin %s ***/\n" % rel)
        with open(path, encoding="utf-8") as f:
            for line in f:
                m = INCLUDE_RE.match(line)
                if m:
                    inc = m.group(1)
                    if inc in self.public:
                        self.out.append('#include "%s"\n' % self.public[inc])
                        continue
                    p = resolve(inc, path)
                    if p is None:
                        sys.exit("amalgamate: %s: cannot find \"%s\"" % (rel, inc))
                    if p.endswith(".inc"):  # a body meant for each includer (no guard)
                        self.emit_file(p, True)
                        continue
                    if p not in self.done:
                        self.done.add(p)
                        self.emit_file(p, True)
                    continue
                if is_header and line.strip() == "#pragma once":
                    continue
                self.out.append(line)
        if not self.out[-1].endswith("\n"):
            self.out.append("\n")
        self.out.append("/*** end %s ***/\n" % rel)


def source_id(files):
    h = hashlib.sha256()
    for rel in sorted(set(files)):
        h.update(rel.encode())
        with open(os.path.join(ROOT, rel), "rb") as f:
            h.update(f.read())
    return h.hexdigest()[:16]


def write_if_changed(path, text):
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            if f.read() == text:
                return
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def amalgamate(list_name, exclude=(), public=None):
    """The sources named in list_name (but those in exclude) as one text, headers inlined once;
    and its source id.

    Each call has its own "already included" set: every output file is a separate unit."""
    am = Amalgamator(public)
    for rel in read_sources(list_name):
        if rel in exclude:
            continue
        p = os.path.join(ROOT, rel)
        am.done.add(p)
        am.emit_file(p, False)
    all_files = [os.path.relpath(p, ROOT) for p in am.done] + ["include/brass/c_api.h", list_name]
    return "".join(am.out), source_id(all_files)


# The full C API and the optimizers' update operators stay out of the predictor; its public
# header is the predict API's.
PREDICT_EXCLUDE = ("capi/c_api.cc", "capi/c_api_graph.cc", "src/op/nn/optimizer.cc")
PREDICT_PUBLIC = {"brass/c_predict_api.h": "brass_predict.h"}


OP_TABLE = os.path.join(ROOT, "amalgamation", "operators.txt")


def read_op_table(path=OP_TABLE):
    """{name or alias: operator name} from operators.txt (a line per operator: its name, then
    its aliases)."""
    table = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            words = line.split("#", 1)[0].split()
            for w in words:
                table[w] = words[0]
    return table


def write_op_table(path=OP_TABLE):
    """operators.txt from the installed package's registry."""
    from brass._ffi import ffi, lib  # only here: the build itself needs no brass installed

    count = ffi.new("int32_t*")
    lib.brass_op_count(count)
    lines = []
    for i in range(count[0]):
        name = ffi.new("const char**")
        lib.brass_op_name(i, name)
        op = ffi.new("brass_op_t*")
        lib.brass_op_find(name[0], op)
        strs = [ffi.new("const char**") for _ in range(4)]
        ints = [ffi.new("int32_t*") for _ in range(3)]
        lib.brass_op_info(op[0], strs[0], strs[1], ints[0], strs[2], ints[1], ints[2], strs[3])
        aliases = [a for a in ffi.string(strs[3][0]).decode().split(",") if a]
        lines.append(" ".join([ffi.string(name[0]).decode()] + sorted(aliases)))
    text = ("# The registered operators (a line each: name, then MXNet's aliases), for\n"
            "# amalgamate.py --ops-from. Rewritten by amalgamate.py --write-op-table.\n"
            + "\n".join(sorted(lines, key=str.lower)) + "\n")
    write_if_changed(path, text)


def ops_of_models(paths, table):
    """The operator names that the symbol JSON files use, resolved to registered names, and
    whether any of their convolutions is grouped (num_group > 1: depthwise kernels needed)."""
    ops, grouped = set(), False
    for path in paths:
        try:
            with open(path, encoding="utf-8") as f:
                nodes = json.load(f)["nodes"]
            used = {n["op"] for n in nodes if n.get("op", "null") != "null"}
            for n in nodes:
                # MXNet's files name a node's parameters attrs (1.x), attr or param (older).
                prm = n.get("attrs") or n.get("attr") or n.get("param") or {}
                if n.get("op") == "Convolution" and int(str(prm.get("num_group", "1")).strip()) > 1:
                    grouped = True
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise SystemExit("amalgamate.py: --ops-from %s: not a symbol JSON file (%s)" % (path, e))
        unknown = sorted(u for u in used if u not in table)
        if unknown:
            raise SystemExit("amalgamate.py: --ops-from %s: unknown operators: %s" % (path, ", ".join(unknown)))
        ops |= {table[u] for u in used}
    return sorted(ops), grouped


def op_macro(name):
    """The macro that selects an operator (src/base/build_options.h)."""
    return "BRASS_OP_" + name.lstrip("_")


def write_predict(outdir, ver, ops=None, grouped=True):
    text, sid = amalgamate("sources.txt", PREDICT_EXCLUDE, PREDICT_PUBLIC)
    selection = ""
    if ops is not None:
        selection = ("/* Operators selected (--ops-from): %s */\n#define BRASS_ALL_OPS 0\n" % " ".join(ops)
                     + "".join("#define %s 1\n" % op_macro(o) for o in ops)
                     + "#define BRASS_CONV_DEPTHWISE %d\n" % int(grouped))
    head = (
        "/* Generated by amalgamation/amalgamate.py; do not edit. */\n"
        "/* Brass %s, source id %s: the predictor (forward only) in one file, with */\n"
        "/* brass_predict.h: c++ -std=c++17 -O2 -c brass_predict.cc */\n"
        "#define BRASS_PREDICT_ONLY 1\n"
        "%s"
        '#define BRASS_SOURCE_ID "%s"\n'
        '#include "brass_predict.h"\n' % (ver, sid, selection, sid)
    )
    write_if_changed(os.path.join(outdir, "brass_predict.cc"), head + text)
    with open(os.path.join(ROOT, "include/brass/c_predict_api.h"), encoding="utf-8") as f:
        header = f.read()
    write_if_changed(
        os.path.join(outdir, "brass_predict.h"),
        "/* Generated by amalgamation/amalgamate.py from include/brass/c_predict_api.h; do not edit. */\n"
        + header,
    )


def write_cuda(outdir, ver):
    text, sid = amalgamate("cuda_sources.txt")
    head = (
        "/* Generated by amalgamation/amalgamate.py; do not edit. */\n"
        "/* Brass %s, source id %s: the CUDA kernels and device management in one file, */\n"
        "/* compiled with nvcc beside brass.cc (built with -DBRASS_USE_CUDA). */\n"
        '#include "brass.h"\n' % (ver, sid)
    )
    write_if_changed(os.path.join(outdir, "brass_cuda.cu"), head + text)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-o", "--outdir")
    ap.add_argument("--cuda-only", action="store_true", help="write brass_cuda.cu only")
    ap.add_argument("--ops-from", action="append", metavar="SYMBOL_JSON",
                    help="compile only the operators this model uses into brass_predict.cc (repeatable)")
    ap.add_argument("--write-op-table", action="store_true",
                    help="rewrite amalgamation/operators.txt from the installed brass package, then exit")
    args = ap.parse_args()
    if args.write_op_table:
        write_op_table()
        return 0
    if not args.outdir:
        ap.error("-o/--outdir is required")
    ops, grouped = ops_of_models(args.ops_from, read_op_table()) if args.ops_from else (None, True)
    os.makedirs(args.outdir, exist_ok=True)
    if args.cuda_only:
        write_cuda(args.outdir, version())
        return 0
    text, sid = amalgamate("sources.txt")
    ver = version()
    head = (
        "/* Generated by amalgamation/amalgamate.py; do not edit. */\n"
        "/* Brass %s, source id %s: the engine, every operator and the C API in one file. */\n"
        '#define BRASS_SOURCE_ID "%s"\n'
        '#include "brass.h"\n' % (ver, sid, sid)
    )
    write_if_changed(os.path.join(args.outdir, "brass.cc"), head + text)
    with open(os.path.join(ROOT, "include/brass/c_api.h"), encoding="utf-8") as f:
        header = f.read()
    write_if_changed(
        os.path.join(args.outdir, "brass.h"),
        "/* Generated by amalgamation/amalgamate.py from include/brass/c_api.h; do not edit. */\n" + header,
    )
    write_cuda(args.outdir, ver)
    write_predict(args.outdir, ver, ops, grouped)
    return 0


if __name__ == "__main__":
    sys.exit(main())
