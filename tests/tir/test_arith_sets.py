"""Constant bounds, interval sets, proofs and region helpers on split/fuse patterns."""

from __future__ import annotations

import itertools

import pytest

from onnxtune import tir
from onnxtune.tir import IntImm, Range, Var, arith
from onnxtune.tir.arith import ConstIntBound, evaluate

R = Range.from_min_extent


def const_range(r: Range) -> tuple[int, int]:
    assert isinstance(r.min, IntImm) and isinstance(r.extent, IntImm), (r.min, r.extent)
    return r.min.value, r.extent.value


def test_const_int_bound():
    i, j, x = Var("i"), Var("j"), Var("x")
    an = arith.Analyzer()
    an.bind(i, R(0, 8))
    an.bind(j, R(-3, 4))  # [-3, 0]
    assert tuple(an.const_int_bound(i * 4 + 3)) == (3, 31)
    assert tuple(an.const_int_bound(i - j)) == (0, 10)
    assert tuple(an.const_int_bound(i * j)) == (-21, 0)
    assert tuple(an.const_int_bound(tir.floordiv(i * 4 + 3, 4))) == (0, 7)
    assert tuple(an.const_int_bound(tir.floormod(x, 7))) == (0, 6)
    assert tuple(an.const_int_bound(tir.truncmod(j, 2))) == (-1, 0)
    assert tuple(an.const_int_bound(tir.min(i, 5) + tir.max(j, -1))) == (-1, 5)
    assert tuple(an.const_int_bound(tir.select(x < 0, i, j))) == (-3, 7)
    assert tuple(an.const_int_bound(i * 4 + 2 - i * 4)) == (2, 2)  # uses the linear form
    b = an.const_int_bound(x)
    assert b.min_value == -(2**31) and b.max_value == 2**31 - 1
    b = an.const_int_bound(tir.const(1.5) * tir.const(2.0))
    assert (b.min_value, b.max_value) == (ConstIntBound.NEG_INF, ConstIntBound.POS_INF)
    assert tuple(an.const_int_bound(tir.Cast("int8", i))) == (0, 7)
    assert tuple(an.const_int_bound(tir.Cast("int8", x))) == (-128, 127)
    assert tuple(an.const_int_bound(x < 3)) == (0, 1)


def test_const_int_bound_is_sound_on_random_points():
    i, j = Var("i"), Var("j")
    an = arith.Analyzer()
    an.bind(i, R(-5, 11))
    an.bind(j, R(1, 6))
    exprs = [
        tir.floordiv(i, j),
        tir.truncdiv(i, j),
        tir.floormod(i, j),
        tir.truncmod(i, j),
        tir.floordiv(i * 3 - 7, 4),
        tir.floormod(i - 20, 8),
        tir.truncmod(i * 5, 3),
        tir.max(i * j, tir.min(i, j) * 3),
    ]
    for e in exprs:
        lo, hi = an.const_int_bound(e)
        for a, b in itertools.product(range(-5, 6), range(1, 7)):
            assert lo <= evaluate(e, {i: a, j: b}) <= hi


def test_int_set_of_split_patterns():
    i, ii, j = Var("i"), Var("ii"), Var("j")
    an = arith.Analyzer()
    an.bind(i, R(0, 8))
    s = an.int_set(i * 4 + ii, {ii: R(0, 4)})
    assert arith.Analyzer().can_prove_equal(s.min, i * 4)
    assert arith.Analyzer().can_prove_equal(s.max, i * 4 + 3)
    s = an.int_set(i * 4 + ii, {ii: R(0, 4), i: R(0, 8)})
    assert (s.min.value, s.max.value) == (0, 31)
    s = an.int_set(tir.min(ii, 2) + j, {ii: R(0, 4)})
    assert arith.Analyzer().can_prove_equal(s.min, j)
    assert arith.Analyzer().can_prove_equal(s.max, j + 2)
    s = an.int_set(j * 2, {})
    assert s.is_single_point()
    s = an.int_set(tir.BufferLoad(tir.decl_buffer((4,), "int32", name="B"), (ii,)), {ii: R(0, 4)})
    assert s.is_everything()
    # a float expression: nothing is known
    assert an.int_set(tir.Cast("float32", ii), {ii: R(0, 4)}).is_everything()


def test_relax_region_split():
    i, ii = Var("i"), Var("ii")
    an = arith.Analyzer()
    an.bind(i, R(0, 8))
    (r,) = arith.relax_region((R(i * 4 + ii, 1),), {ii: R(0, 4)}, an)
    assert an.can_prove_equal(r.min, i * 4) and an.can_prove_equal(r.extent, 4)
    (r,) = arith.relax_region((R(i * 4 + ii, 1),), {ii: R(0, 4), i: R(0, 8)}, an)
    assert const_range(r) == (0, 32)
    # a window [i*4 + ii, +3) over ii in [0, 4): [i*4, +6)
    (r,) = arith.relax_region((R(i * 4 + ii, 3),), {ii: R(0, 4)}, an)
    assert an.can_prove_equal(r.min, i * 4) and an.can_prove_equal(r.extent, 6)


def test_relax_region_fuse_and_divmod():
    i, ii, f = Var("i"), Var("ii"), Var("f")
    an = arith.Analyzer()
    an.bind(i, R(0, 8))
    r0, r1 = arith.relax_region(
        (R(tir.floordiv(i * 4 + ii, 2), 1), R(tir.floormod(i * 4 + ii, 8), 1)), {ii: R(0, 4)}, an
    )
    assert an.can_prove_equal(r0.min, i * 2) and an.can_prove_equal(r0.extent, 2)
    assert an.can_prove_equal(r1.min, tir.floormod(i, 2) * 4)
    assert an.can_prove_equal(r1.extent, 4)
    r0, r1 = arith.relax_region(
        (R(tir.floordiv(f, 32), 1), R(tir.floormod(f, 32), 1)), {f: R(0, 128)}, an
    )
    assert const_range(r0) == (0, 4) and const_range(r1) == (0, 32)


def test_relax_region_is_sound_and_tight_on_random_splits():
    """Brute force: the relaxed box contains every touched index and is no larger."""
    i, ii, jj = Var("i"), Var("ii"), Var("jj")
    cases = [
        (i * 8 + ii * 2 + jj, {ii: 4, jj: 2}),
        (tir.floordiv(i * 6 + ii, 4), {ii: 6}),
        (tir.floormod(i * 4 + ii, 16), {ii: 4}),
        (tir.floordiv(tir.floormod(i * 12 + ii * 3 + jj, 24), 2), {ii: 4, jj: 3}),
        (ii * 3 - jj + i, {ii: 5, jj: 3}),
    ]
    for e, doms in cases:
        for iv in range(7):
            an = arith.Analyzer()
            an.bind(i, R(iv, 1))  # a fixed outer iteration
            (r,) = arith.relax_region((R(e, 1),), {v: R(0, n) for v, n in doms.items()}, an)
            lo, ext = const_range(r)
            vals = [
                evaluate(e, {i: iv, **dict(zip(doms, p, strict=True))})
                for p in itertools.product(*[range(n) for n in doms.values()])
            ]
            assert min(vals) == lo and max(vals) == lo + ext - 1


def test_relax_region_unbounded_raises():
    x, y = Var("x"), Var("y")
    A = tir.decl_buffer((16,), name="A")
    region = tir.BufferRegion(A, (R(tir.floordiv(x * y, 3), 1),))
    with pytest.raises(ValueError, match="buffer A dimension 0"):
        arith.relax_region(region, {x: R(0, 4)})


def test_region_union_covers_extents():
    i = Var("i")
    an = arith.Analyzer()
    an.bind(i, R(0, 8))
    (u,) = arith.region_union((R(i * 4, 4),), (R(i * 4 + 2, 4),), an)
    assert an.can_prove_equal(u.min, i * 4) and an.can_prove_equal(u.extent, 6)
    assert arith.region_covers((R(0, 32),), (R(i * 4, 4),), an)
    assert not arith.region_covers((R(0, 31),), (R(i * 4, 4),), an)
    assert arith.region_covers((R(i * 4, 8),), (R(i * 4 + 2, 4),), an)
    n = Var("n")
    assert arith.estimate_region_extents((R(i * 4, 4), R(i, i * 0 + 5)), an) == [4, 5]
    assert arith.estimate_region_extents((R(i * 4, 4), R(i, n)), an) is None
    A = tir.decl_buffer((32, 8), name="A")
    br = arith.region_union(
        tir.BufferRegion(A, (R(0, 4), R(i, 1))), tir.BufferRegion(A, (R(4, 4), R(i, 1))), an
    )
    assert br.buffer is A and const_range(br.region[0]) == (0, 8)
    with pytest.raises(ValueError, match="dimensions"):
        arith.region_union((R(0, 4),), (R(0, 4), R(0, 1)))


def test_can_prove_with_symbolic_ranges():
    j, n, m = Var("j"), Var("n"), Var("m")
    an = arith.Analyzer()
    an.bind(n, R(1, 100))
    an.bind(j, R(0, n))
    an.bind(m, R(0, n * 4))
    assert an.can_prove(j < n)
    assert an.can_prove(j >= 0)
    assert an.can_prove(m < n * 4)
    assert an.can_prove(j * 4 + 3 < n * 4)
    assert not an.can_prove(j * 4 + 4 < n * 4)
    assert not an.can_prove(j < n - 1)
    assert an.can_prove((j < n) & (j >= 0))
    assert an.can_prove_equal(j * 2 + n - j, j + n)
    assert not an.can_prove_equal(j, n)
    f = Var("f", "float32")
    assert an.can_prove_equal(tir.exp(f) + tir.const(1.0), tir.exp(f) + tir.const(1.0))
    assert an.bindings()[n].extent.value == 100
    with pytest.raises(ValueError, match="empty range"):
        an.bind(Var("e"), R(0, 0))
