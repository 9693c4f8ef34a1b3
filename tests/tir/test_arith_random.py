"""Property tests: simplifying a random expression never changes its value.

Random trees over a few bounded variables (and one unbounded) are simplified with the
bounds known, then the original and the result are evaluated with the reference
interpreter at random points inside the domains. Points where the original divides by
zero or overflows are skipped (the simplifier assumes index arithmetic does not overflow,
as the generated code's ``nsw`` does).
"""

from __future__ import annotations

import itertools
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from onnxtune import tir
from onnxtune.tir import Range, Var, arith
from onnxtune.tir.arith import evaluate
from onnxtune.tir.arith.utils import expr_text
from onnxtune.tir.expr import EQ, GE, GT, LE, LT, NE

X, Y, Z, W = Var("x"), Var("y"), Var("z"), Var("w")
#: bound in the analyzer; W is not (the simplifier must not assume anything about it)
DOMS = {X: (-7, 12), Y: (0, 15), Z: (-20, -1)}
SAMPLE = {**DOMS, W: (-30, 30)}

_BIN = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "min": tir.min,
    "max": tir.max,
}
_DIV = {
    "floordiv": tir.floordiv,
    "floormod": tir.floormod,
    "truncdiv": tir.truncdiv,
    "truncmod": tir.truncmod,
}
_CMP = {"lt": LT, "le": LE, "gt": GT, "ge": GE, "eq": EQ, "ne": NE}


def _var(name: str) -> Var:
    return {"x": X, "y": Y, "z": Z, "w": W}[name]


def _leaf():
    return st.one_of(
        st.sampled_from("xyzw").map(_var),
        st.integers(-12, 12).map(tir.const),
    )


def _extend(children):
    return st.one_of(
        st.builds(lambda f, a, b: _BIN[f](a, b), st.sampled_from(sorted(_BIN)), children, children),
        st.builds(
            lambda a, c: a * c, children, st.sampled_from([-3, -2, 2, 3, 4, 8]).map(tir.const)
        ),
        st.builds(
            lambda f, a, c: _DIV[f](a, c),
            st.sampled_from(sorted(_DIV)),
            children,
            st.sampled_from([1, 2, 3, 4, 8, 16, -2, -4]).map(tir.const),
        ),
        st.builds(lambda f, a, b: _DIV[f](a, b), st.sampled_from(sorted(_DIV)), children, children),
        st.builds(
            lambda c, a, b, p, q, neg: tir.select(~_CMP[c](a, b) if neg else _CMP[c](a, b), p, q),
            st.sampled_from(sorted(_CMP)),
            children,
            children,
            children,
            children,
            st.booleans(),
        ),
        st.builds(
            lambda a, b, c, d: tir.select((a < b) & (c != d), a, d), children, children, children,
            children,
        ),
    )


EXPRS = st.recursive(_leaf(), _extend, max_leaves=14)


def _check(analyzer, e, domains, rng, points=12):
    s = analyzer.simplify(e)
    for _ in range(points):
        env = {v: rng.randint(lo, hi) for v, (lo, hi) in domains.items()}
        try:
            ref = evaluate(e, env, check_overflow=True)
        except (ZeroDivisionError, OverflowError):
            continue
        got = evaluate(s, env)
        where = {v.name: x for v, x in env.items()}
        assert got == ref, f"{expr_text(e)} => {expr_text(s)} at {where}: {ref} != {got}"


def _analyzer():
    an = arith.Analyzer()
    for v, (lo, hi) in DOMS.items():
        an.bind(v, Range.from_min_extent(lo, hi - lo + 1))
    return an


@settings(
    max_examples=600,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(EXPRS)
def test_simplify_preserves_value(e):
    _check(_analyzer(), e, SAMPLE, random.Random(0))


def _index(rng, vs, depth):
    """A random split/fuse-style index expression over zero-based loop variables."""
    if depth == 0 or rng.random() < 0.25:
        return rng.choice(vs)
    a = _index(rng, vs, depth - 1)
    f = rng.choice([2, 3, 4, 8, 16])
    k = rng.random()
    if k < 0.3:
        return a * f + _index(rng, vs, depth - 1)
    if k < 0.5:
        return tir.floordiv(a, f)
    if k < 0.7:
        return tir.floormod(a, f)
    if k < 0.8:
        return tir.floordiv(a, f) * f + tir.floormod(a, f)
    if k < 0.9:
        return a + rng.randint(-5, 20)
    return a - _index(rng, vs, depth - 1)


def test_simplify_preserves_index_expressions():
    rng = random.Random(1234)
    vs = [Var("i"), Var("j"), Var("k")]
    for _ in range(400):
        an = arith.Analyzer()
        ext = {v: rng.choice([1, 2, 3, 4, 7, 8, 16, 32]) for v in vs}
        for v in vs:
            an.bind(v, Range.from_min_extent(0, ext[v]))
        e = _index(rng, vs, rng.randint(1, 6))
        s = an.simplify(e)
        pts = list(itertools.product(*[range(ext[v]) for v in vs]))
        for p in rng.sample(pts, min(25, len(pts))):
            env = dict(zip(vs, p, strict=True))
            assert evaluate(s, env) == evaluate(e, env), f"{expr_text(e)} => {expr_text(s)}"


def test_simplify_preserves_unsigned_and_narrow_types():
    """Unsigned arithmetic wraps by definition: the simplifier must stay exact there."""
    rng = random.Random(99)
    for dtype in ("uint8", "uint32", "int8", "int64"):
        vs = [Var("x", dtype), Var("y", dtype)]
        unsigned = dtype.startswith("u")
        for _ in range(150):
            an = arith.Analyzer()
            doms = {}
            for v in vs:
                lo = rng.randint(0, 10) if unsigned else rng.randint(-10, 10)
                n = rng.randint(1, 20)
                doms[v] = (lo, lo + n - 1)
                an.bind(v, Range(tir.const(lo, dtype), tir.const(n, dtype)))
            e = _typed(rng, vs, rng.randint(1, 4), dtype)
            s = an.simplify(e)
            for _ in range(12):
                env = {v: rng.randint(*doms[v]) for v in vs}
                try:
                    ref = evaluate(e, env, check_overflow=not unsigned)
                except (ZeroDivisionError, OverflowError):
                    continue
                assert evaluate(s, env) == ref, f"{dtype}: {expr_text(e)} => {expr_text(s)}"


def _typed(rng, vs, depth, dtype):
    if depth == 0 or rng.random() < 0.2:
        if rng.random() < 0.6:
            return rng.choice(vs)
        return tir.const(rng.randint(0, 12), dtype)
    a, b = _typed(rng, vs, depth - 1, dtype), _typed(rng, vs, depth - 1, dtype)
    k = rng.random()
    c = tir.const(rng.choice([1, 2, 3, 4, 8]), dtype)
    if k < 0.2:
        return a + b
    if k < 0.35:
        return a - b
    if k < 0.5:
        return a * c
    if k < 0.75:
        return rng.choice(list(_DIV.values()))(a, c if rng.random() < 0.85 else b)
    if k < 0.85:
        return rng.choice([tir.min, tir.max])(a, b)
    return tir.select(rng.choice(list(_CMP.values()))(a, b), _typed(rng, vs, depth - 1, dtype), b)
