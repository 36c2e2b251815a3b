"""The compile-time operator selection of src/op (src/base/build_options.h): every statement of a
file's registration (its kRegistered initializer) sits under `#if BRASS_ALL_OPS || BRASS_OP_X ...`
naming the forward operators it registers, or under `#if BRASS_TRAINING` (backward operators,
gradients). Read from the sources (no compiler) and checked against the operators of the
installed library:

- every BRASS_OP_X of a guard is the macro of an operator (X: its name without the leading
  underscores), and the operators' macros are unique;
- no registration statement is outside a guard, and a guarded statement that names an operator
  (its first string literal that is one) is under guards that all name it;
- every operator whose name occurs in a string of the predictor's sources under src/op is named
  by a guard, unless it is a backward operator (`_backward_*`, or registered under
  BRASS_TRAINING).

Operators whose names occur only in files the predictor leaves out (amalgamate.py's
PREDICT_EXCLUDE: the optimizers) or outside src/op (fused operators) are not checked."""
import collections
import glob
import os
import re

import pytest

from brass._ffi import ffi, lib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# The tokens that matter here: string and char literals, comments, `.grad(`, brackets and `;`.
TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'|//[^\n]*|/\*.*?\*/|\.\s*grad\s*\(|[(){};]',
                   re.S)
GUARD = re.compile(r"BRASS_ALL_OPS((?:\s*\|\|\s*BRASS_OP_\w+)+)$")
REGISTERED = re.compile(r"(\[\[maybe_unused\]\] )?const bool kRegistered = \[")
# What a registration may hold outside the guards.
UNGUARDED = re.compile(r"((\[\[maybe_unused\]\]\s*)?auto&\s*R\s*=\s*OpRegistry::get\(\)|return true);$")


def library_ops():
    n = ffi.new("int32_t*")
    assert lib.brass_op_count(n) == 0
    names = []
    for i in range(n[0]):
        s = ffi.new("const char**")
        assert lib.brass_op_name(i, s) == 0
        names.append(ffi.string(s[0]).decode())
    return names


def predictor_sources():
    """{path from ROOT: text} of the .cc files under src/op that the predictor compiles and of
    the src/op headers they include."""
    with open(os.path.join(ROOT, "amalgamation", "amalgamate.py"), encoding="utf-8") as f:
        m = re.search(r"^PREDICT_EXCLUDE\s*=\s*\(([^)]*)\)", f.read(), re.M)
    assert m, "amalgamate.py: PREDICT_EXCLUDE not found"
    excluded = set(re.findall(r'"([^"]+)"', m.group(1)))
    sources = {}
    for path in sorted(glob.glob(os.path.join(ROOT, "src", "op", "**", "*.cc"), recursive=True)):
        rel = os.path.relpath(path, ROOT).replace(os.sep, "/")
        if rel not in excluded:
            with open(path, encoding="utf-8") as f:
                sources[rel] = f.read()
    for text in list(sources.values()):
        for inc in re.findall(r'^#include "(op/[^"]+\.h)"', text, re.M):
            if "src/" + inc not in sources:
                with open(os.path.join(ROOT, "src", inc), encoding="utf-8") as f:
                    sources["src/" + inc] = f.read()
    return sources


def conditions(lines):
    """Per line, the conditions of the #if blocks around it, innermost last: ("ops", macro
    names), ("training", None) or ("other", text); and the problems of the directives."""
    per_line, stack, problems = [], [], []
    i = 0
    while i < len(lines):
        first, line = i, lines[i].strip()
        while line.endswith("\\") and i + 1 < len(lines):  # continued
            i += 1
            line = line[:-1] + " " + lines[i].strip()
        d = re.match(r"#\s*(\w+)\s*(.*)$", line)
        kind, cond = (d.group(1), d.group(2).strip()) if d else (None, None)
        if kind in ("if", "ifdef", "ifndef"):
            g = GUARD.match(cond) if kind == "if" else None
            if g:
                stack.append(("ops", re.findall(r"BRASS_OP_(\w+)", g.group(1))))
            elif kind == "if" and cond == "BRASS_TRAINING":
                stack.append(("training", None))
            else:
                if re.search(r"BRASS_(OP_|ALL_OPS|TRAINING)", cond):
                    problems.append("line %d: not a guard of the form `#if BRASS_ALL_OPS || BRASS_OP_X "
                                    "...` or `#if BRASS_TRAINING`: %s" % (first + 1, line))
                stack.append(("other", cond))
        elif kind in ("else", "elif"):
            if stack and stack[-1][0] == "ops":
                problems.append("line %d: #%s in an operator guard (#if ... #endif only)" % (first + 1, kind))
            stack[-1:] = [("other", line)]
        elif kind == "endif":
            if not stack:
                problems.append("line %d: #endif without #if" % (first + 1))
            stack[-1:] = []
        per_line.extend(list(stack) for _ in range(first, i + 1))
        i += 1
    if stack:
        problems.append("an #if is not closed")
    return per_line, problems


def scan(rel, text, ops):
    """One file's facts: the macro names of its guards, the operators its strings name, the
    operators its registration registers (forward ones under op guards, the others under
    BRASS_TRAINING), and its problems."""
    lines = text.split("\n")
    conds, found = conditions(lines)
    facts = {"problems": ["%s: %s" % (rel, p) for p in found],
             "guards": {n for cs in conds for kind, names in cs if kind == "ops" for n in names},
             "named": {t[1:-1] for t in TOKEN.findall(text) if t[:1] == '"' and t[1:-1] in ops},
             "forward": set(), "training": set()}
    start = next((i for i, l in enumerate(lines) if REGISTERED.match(l)), None)
    if start is None:
        if re.search(r"OpRegistry::get\(\)\s*\.add\(", text) and rel.endswith(".cc"):
            facts["problems"].append(rel + ": registers operators outside a kRegistered initializer")
        return facts
    end = lines.index("}();", start)
    # The initializer's body without directives and comments (lines kept), cut into statements.
    body = "\n".join("" if l.lstrip().startswith("#") else l for l in lines[start + 1:end])
    body = TOKEN.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)) if m.group(0)[:2] in ("//", "/*")
                     else m.group(0), body)
    depth, grad, at, literals = 0, 0, 0, []
    for m in TOKEN.finditer(body):
        tok = m.group(0)
        if grad:  # inside .grad(...): the gradient, which registers nothing
            grad += {"(": 1, ")": -1}.get(tok, 0)
        elif tok[0] == ".":
            grad = 1
        elif tok in "({":
            depth += 1
        elif tok in ")}":
            depth -= 1
        elif tok == ";" and depth == 0:
            code = body[at:m.end()]
            line = start + 1 + body.count("\n", 0, at + len(code) - len(code.lstrip()))
            record(facts, "%s:%d" % (rel, line + 1), code.strip(), conds[line], literals)
            at, literals = m.end(), []
        elif tok[0] == '"' and tok[1:-1] in ops:
            literals.append(tok[1:-1])
    return facts


def record(facts, where, code, conds, literals):
    if any(kind == "training" for kind, _ in conds):
        facts["training"].update(literals[:1])
        return
    guards = [names for kind, names in conds if kind == "ops"]
    if not guards:
        if not UNGUARDED.match(code):
            facts["problems"].append("%s: a registration outside the guards: %s"
                                     % (where, " ".join(code.split())[:80]))
        return
    if literals:
        facts["forward"].add(literals[0])
        for names in guards:
            if literals[0].lstrip("_") not in names:
                facts["problems"].append("%s: %s is registered under a guard that does not name it (%s)"
                                         % (where, literals[0], ", ".join(names)))


def problems(facts, ops):
    found = [p for f in facts.values() for p in f["problems"]]
    macros = collections.Counter(op.lstrip("_") for op in ops)
    found += ["several operators have the macro BRASS_OP_" + m for m, c in macros.items() if c > 1]
    guarded = set().union(*(f["guards"] for f in facts.values()))
    found += ["BRASS_OP_%s names no operator" % m for m in sorted(guarded - set(macros))]
    training = set().union(*(f["training"] for f in facts.values()))
    for rel, f in sorted(facts.items()):
        for op in sorted(f["named"]):
            if op.lstrip("_") not in guarded and op not in training and not op.startswith("_backward_"):
                found.append("%s names the forward operator %s, which no guard names" % (rel, op))
    return found


@pytest.fixture(scope="module")
def scanned():
    ops = set(library_ops())
    sources = predictor_sources()
    return ops, sources, {rel: scan(rel, text, ops) for rel, text in sources.items()}


def test_guards(scanned):
    ops, sources, facts = scanned
    assert not problems(facts, ops)
    # The scan sees the registrations it checks.
    forward = set().union(*(f["forward"] for f in facts.values()))
    training = set().union(*(f["training"] for f in facts.values()))
    assert {"Convolution", "elemwise_add", "_plus_scalar", "_rminus_scalar", "abs", "Flatten"} <= forward
    assert {"_backward_Convolution_data", "_sum_to_like", "_cast_like", "_dot_grad_lhs"} <= training
    assert not forward & training


@pytest.mark.parametrize("rel,old,new", [
    # A typo in a macro name.
    ("src/op/nn/convolution.cc", "BRASS_OP_Convolution\n", "BRASS_OP_Convolutoin\n"),
    # A statement under the guard of another operator.
    ("src/op/tensor/elemwise_binary.cc", "BRASS_OP_elemwise_add\n", "BRASS_OP_elemwise_sub\n"),
    # A statement outside the guards.
    ("src/op/tensor/dot.cc", "#if BRASS_ALL_OPS || BRASS_OP_batch_dot\n  OpRegistry", "#if 1\n  OpRegistry"),
    # An operator registered through a name in a header, under another operator's guard.
    ("src/op/image/image.cc", "BRASS_OP_image_random_contrast\n", "BRASS_OP_image_random_brightness\n"),
])
def test_guards_catch_mistakes(scanned, rel, old, new):
    ops, sources, facts = scanned
    assert old in sources[rel]
    facts = dict(facts, **{rel: scan(rel, sources[rel].replace(old, new, 1), ops)})
    assert problems(facts, ops)
