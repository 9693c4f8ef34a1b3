"""detect_iter_map: affine bindings of split/fuse/reorder loops, and what is rejected."""

from __future__ import annotations

import itertools

import pytest

from onnxtune import tir
from onnxtune.tir import Range, Var, arith
from onnxtune.tir.arith import evaluate

R = Range.from_min_extent


def splits(res, k):
    return [(s.lower_factor, s.extent, s.scale) for s in res.indices[k].splits]


@pytest.fixture
def it():
    return Var("i0"), Var("i1"), Var("f")


def test_plain_and_split_bindings(it):
    i0, i1, _ = it
    dom = {i0: R(0, 4), i1: R(0, 8)}
    res = arith.detect_iter_map([i0 * 8 + i1], dom)
    assert splits(res, 0) == [(1, 4, 8), (1, 8, 1)]
    assert res.indices[0].extent == 32
    res = arith.detect_iter_map([i0, i1], dom, check_level="bijective")
    assert [splits(res, 0), splits(res, 1)] == [[(1, 4, 1)], [(1, 8, 1)]]
    (rg,) = arith.detect_iter_map([i0 * 8 + i1 + 5], dom).index_ranges()
    assert (rg.min.value, rg.extent.value) == (5, 32)


def test_fuse_then_split(it):
    i0, i1, f = it
    dom = {i0: R(0, 4), i1: R(0, 8)}
    res = arith.detect_iter_map(
        [tir.floordiv(i0 * 8 + i1, 2), tir.floormod(i0 * 8 + i1, 2)], dom, check_level="bijective"
    )
    assert res is not None
    # a fused loop split back into three
    res = arith.detect_iter_map(
        [tir.floordiv(f, 16), tir.floordiv(tir.floormod(f, 16), 4), tir.floormod(f, 4)],
        {f: R(0, 64)},
        check_level="bijective",
    )
    assert [splits(res, k) for k in range(3)] == [[(16, 4, 1)], [(4, 4, 1)], [(1, 4, 1)]]


def test_non_divisible_split_needs_the_predicate():
    fo, fi = Var("fo"), Var("fi")
    dom = {fo: R(0, 11), fi: R(0, 3)}
    idx = [tir.floordiv(fo * 3 + fi, 8), tir.floormod(fo * 3 + fi, 8)]
    assert arith.detect_iter_map(idx, dom, check_level="bijective") is None
    res = arith.detect_iter_map(idx, dom, fo * 3 + fi < 32, check_level="bijective")
    assert res is not None and res.indices[0].splits[0].mark.extent == 32
    # the binding of a non-divisible split itself is affine (the predicate guards it)
    assert arith.detect_iter_map([fo * 3 + fi], dom) is not None


def test_rejections_say_why(it):
    i0, i1, _ = it
    dom = {i0: R(0, 4), i1: R(0, 8)}
    assert arith.detect_iter_map([i0, i0], dom) is None
    assert arith.detect_iter_map([i0 * i1], dom) is None
    assert arith.detect_iter_map([i0], dom, check_level="bijective") is None
    assert arith.detect_iter_map([i0 * 3 + i1], dom) is None
    assert arith.detect_iter_map([tir.floordiv(i0 * 8 + i1, 3)], dom) is not None
    with pytest.raises(arith.IterMapError, match="used twice"):
        arith.normalize_iter_map([i0, i0 + 1], dom)
    with pytest.raises(arith.IterMapError, match="not an affine function"):
        arith.normalize_iter_map([i0 * i1], dom)
    with pytest.raises(arith.IterMapError, match="do not fuse"):
        arith.normalize_iter_map([i0 * 3 + i1], dom)
    with pytest.raises(arith.IterMapError, match="i1 is not used"):
        arith.normalize_iter_map([i0], dom, check_level="bijective")
    with pytest.raises(arith.IterMapError, match="strided"):
        arith.normalize_iter_map([i0 * 2], dom)
    with pytest.raises(ValueError, match="check_level"):
        arith.normalize_iter_map([i0], dom, check_level="injective")
    assert arith.detect_iter_map([i0 * 2], dom, check_level="none") is not None


def test_free_symbols_go_to_the_base(it):
    i0, i1, _ = it
    k = Var("k")
    res = arith.detect_iter_map([i0 * 8 + i1 + k * 32], {i0: R(0, 4), i1: R(0, 8)})
    assert res is not None
    assert arith.Analyzer().can_prove_equal(res.indices[0].base, k * 32)


def test_nonzero_min_and_unit_extent():
    i, u = Var("i"), Var("u")
    res = arith.detect_iter_map([i + u], {i: R(2, 6), u: R(0, 1)}, check_level="bijective")
    assert res is not None and res.indices[0].base.value == 2


def test_normalized_form_evaluates_like_the_index(it):
    i0, i1, f = it
    dom = {i0: R(0, 4), i1: R(0, 8)}
    idx = [tir.floordiv(i0 * 8 + i1, 4), tir.floormod(i0 * 8 + i1, 4) * 3 + 1]
    res = arith.detect_iter_map(idx, dom, check_level="none")
    for a, b in itertools.product(range(4), range(8)):
        env = {i0: a, i1: b}
        for e, s in zip(idx, res.indices, strict=True):
            assert evaluate(s.to_expr(), env) == evaluate(e, env)
