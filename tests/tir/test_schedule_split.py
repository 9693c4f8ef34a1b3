"""Schedule.split / fuse / reorder: expected IR, illegal uses and numerical equivalence."""

from __future__ import annotations

import numpy as np
import pytest
from schedule_workloads import conv2d, matmul, renest, run, softmax

from onnxtune import tir
from onnxtune.tir import LT, ForKind, Var, floordiv, floormod
from onnxtune.tir.structural import assert_structural_equal

RNG = np.random.default_rng(0)


def _loops(sch, name):
    return sch.get_loops(sch.get_block(name))


def _vars(sch, loops):
    return [sch.get(lp).loop_var for lp in loops]


def _same_result(f0, f1, make):
    arrays = make(RNG)
    np.testing.assert_allclose(run(f1, arrays)[-1], run(f0, arrays)[-1], rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------------------------------------
# split


def test_split_divisible_expected_ir():
    f, make = matmul(8, 12, 6)
    sch = tir.Schedule(f, debug_mask="all")
    i, j, k = _loops(sch, "C")
    i0, i1 = sch.split(i, [2, 4])
    a, b = _vars(sch, [i0, i1])
    jv, kv = _vars(sch, [j, k])
    expected = renest(f, "C", [(a, 2), (b, 4), (jv, 12), (kv, 6)], [a * 4 + b, jv, kv])
    assert_structural_equal(sch.func, expected)
    assert [sch.get(x).loop_var.name for x in (i0, i1)] == ["i_0", "i_1"]
    _same_result(f, sch.func, make)


def test_split_non_divisible_adds_predicate():
    f, make = matmul(8, 12, 6)
    sch = tir.Schedule(f, debug_mask="all")
    i, j, k = _loops(sch, "C")
    i0, i1 = sch.split(i, [None, 3])
    assert [sch.get(x).extent.value for x in (i0, i1)] == [3, 3]
    a, b = _vars(sch, [i0, i1])
    jv, kv = _vars(sch, [j, k])
    expected = renest(f, "C", [(a, 3), (b, 3), (jv, 12), (kv, 6)], [a * 3 + b, jv, kv],
                      predicate=LT(a * 3 + b, tir.const(8)))
    assert_structural_equal(sch.func, expected)
    _same_result(f, sch.func, make)


def test_split_three_ways_and_nested_predicates():
    f, make = matmul(7, 12, 5)
    sch = tir.Schedule(f, debug_mask="all")
    i, _j, k = _loops(sch, "C")
    i0, i1, i2 = sch.split(i, [2, None, 2])
    assert [sch.get(x).extent.value for x in (i0, i1, i2)] == [2, 2, 2]
    _k0, k1 = sch.split(k, [3, 2])
    _k10, k11 = sch.split(k1, [None, 1], preserve_unit_iters=False)
    assert sch.get(k11).extent.value == 1
    script = sch.func.script()
    assert "i_0 * 4 + i_1 * 2 + i_2 < 7" in script
    assert "r0_0 * 2 + r0_1_0 < 5" in script  # the unit iterator r0_1_1 was dropped
    _same_result(f, sch.func, make)


def test_split_preserve_unit_iters_keeps_unit_loop_var():
    f, _ = matmul(8, 12, 6)
    sch = tir.Schedule(f)
    i, _, _ = _loops(sch, "C")
    sch.split(i, [1, 8])
    assert "i_0 * 8 + i_1" in sch.func.script()
    sch2 = tir.Schedule(f)
    i, _, _ = _loops(sch2, "C")
    sch2.split(i, [1, 8], preserve_unit_iters=False)
    assert "T.axis.spatial(8, i_1)" in sch2.func.script()


def test_split_with_expr_rv_factors():
    f, make = matmul(8, 12, 6)
    sch = tir.Schedule(f, seed=3)
    _, j, _ = _loops(sch, "C")
    tiles = sch.sample_perfect_tile(j, 3, max_innermost_factor=4)
    loops = sch.split(j, tiles)
    assert [sch.get(lp).extent.value for lp in loops] == [sch.get(t) for t in tiles]
    _same_result(f, sch.func, make)


@pytest.mark.parametrize(
    "factors, message",
    [
        ([2, 3], "the product of the factors [2, 3] is 6, smaller than the extent 8 of loop i"),
        ([None, None], "only one factor can be None"),
        ([0, 8], "factor 0 is 0; factors must be positive"),
        ([2.5, None], "factor 0 is 2.5"),
        ([], "no factors given for loop i"),
    ],
)
def test_split_illegal(factors, message):
    f, _ = matmul(8, 12, 6)
    sch = tir.Schedule(f)
    i, _, _ = _loops(sch, "C")
    n = len(sch.trace)
    with pytest.raises((tir.ScheduleError, TypeError)) as err:
        sch.split(i, factors)
    assert message in str(err.value)
    assert len(sch.trace) == n and sch.func is f  # nothing half-done


def test_split_annotated_loop_and_stale_rv():
    f, _ = matmul(8, 12, 6)
    sch = tir.Schedule(f)
    i, j, _ = _loops(sch, "C")
    sch.annotate(j, "pragma_x", 1)
    with pytest.raises(tir.ScheduleError, match="loop j has annotations"):
        sch.split(j, [3, 4])
    sch.split(i, [2, 4])
    with pytest.raises(tir.ScheduleError, match="loop i no longer exists.*stale"):
        sch.split(i, [4, 2])


# ----------------------------------------------------------------------------------------
# fuse


def test_fuse_expected_ir():
    f, make = matmul(8, 12, 6)
    sch = tir.Schedule(f, debug_mask="all")
    i, j, k = _loops(sch, "C")
    fused = sch.fuse(i, j)
    fv = sch.get(fused).loop_var
    assert fv.name == "i_j_fused" and sch.get(fused).extent.value == 96
    kv = sch.get(k).loop_var
    expected = renest(f, "C", [(fv, 96), (kv, 6)], [floordiv(fv, 12), floormod(fv, 12), kv])
    assert_structural_equal(sch.func, expected)
    _same_result(f, sch.func, make)


def test_fuse_after_split_and_three_loops():
    f, make = conv2d()
    sch = tir.Schedule(f, debug_mask="all")
    loops = _loops(sch, "conv")
    a, b = sch.split(loops[1], [None, 3])  # f: 4 -> 2 x 3 with a predicate
    fused = sch.fuse(loops[0], a, b, loops[2])
    assert sch.get(fused).extent.value == 1 * 2 * 3 * 6
    _same_result(f, sch.func, make)


def test_fuse_illegal():
    f, _ = matmul(8, 12, 6)
    sch = tir.Schedule(f)
    i, j, k = _loops(sch, "C")
    with pytest.raises(tir.ScheduleError, match="loop i is not the parent of loop r0"):
        sch.fuse(i, k)
    with pytest.raises(tir.ScheduleError, match="not the parent"):
        sch.fuse(j, i)
    g, _ = softmax()
    sch = tir.Schedule(g)
    (i0, _), (i1, _) = _loops(sch, "T_max"), _loops(sch, "T_exp")
    with pytest.raises(tir.ScheduleError, match="not the parent"):
        sch.fuse(i0, i1)


def test_fuse_not_only_child():
    f, _ = softmax()
    sch = tir.Schedule(f)
    i, _ = _loops(sch, "T_exp")
    # put T_max under the same i loop as T_exp: build by hand (compute_at may not exist)
    from onnxtune.tir.schedule.tree import find_loop, replace
    from onnxtune.tir.stmt import For, SeqStmt

    loc = find_loop(sch.func, sch.get(i).loop_var)
    loop = loc.stmt
    j = Var("jj")
    inner = loop.body
    body = SeqStmt((For(j, tir.const(0), tir.const(1), ForKind.SERIAL,
                        tir.Evaluate(tir.const(0))), inner))
    g = replace(sch.func, loc, For(loop.loop_var, loop.min, loop.extent, loop.kind, body))
    sch2 = tir.Schedule(g)
    i2, j2 = _loops(sch2, "T_exp")
    with pytest.raises(tir.ScheduleError, match="not the only child of loop i"):
        sch2.fuse(i2, j2)


# ----------------------------------------------------------------------------------------
# reorder


def test_reorder_expected_ir():
    f, make = matmul(8, 12, 6)
    sch = tir.Schedule(f, debug_mask="all")
    i, j, k = _loops(sch, "C")
    sch.reorder(k, i)
    iv, jv, kv = _vars(sch, [i, j, k])
    expected = renest(f, "C", [(kv, 6), (jv, 12), (iv, 8)], [iv, jv, kv])
    assert_structural_equal(sch.func, expected)
    _same_result(f, sch.func, make)


def test_reorder_tiled_conv():
    f, make = conv2d()
    sch = tir.Schedule(f, debug_mask="all")
    _n, co, y, x, rc, ry, rx = _loops(sch, "conv")
    y0, y1 = sch.split(y, [None, 4])
    x0, x1 = sch.split(x, [2, None])
    sch.reorder(y0, x0, rc, ry, rx, co, y1, x1)
    names = [sch.get(lp).loop_var.name for lp in _loops(sch, "conv")]
    assert names == ["i", "k_0", "l_0", "r0", "r1", "r2", "j", "k_1", "l_1"]
    _same_result(f, sch.func, make)


def test_reorder_illegal():
    f, _ = softmax()
    sch = tir.Schedule(f)
    i0, j0 = _loops(sch, "T_max")
    i1, _ = _loops(sch, "T_exp")
    with pytest.raises(tir.ScheduleError, match="appears more than once"):
        sch.reorder(i0, j0, i0)
    with pytest.raises(tir.ScheduleError, match="not in one chain"):
        sch.reorder(j0, i1)


def test_reorder_opaque_iter_type_rejected():
    f, _ = matmul(4, 4, 4)
    from onnxtune.tir import Block, BlockRealize, IterType, IterVar
    from onnxtune.tir.schedule.tree import find_block, replace

    loc = find_block(f, "C")
    blk = loc.stmt.block
    ivs = list(blk.iter_vars)
    ivs[2] = IterVar(ivs[2].dom, ivs[2].var, IterType.ORDERED)
    nb = Block(tuple(ivs), blk.reads, blk.writes, blk.name_hint, blk.body, blk.init)
    g = replace(f, loc, BlockRealize(loc.stmt.iter_values, loc.stmt.predicate, nb))
    sch = tir.Schedule(g)
    i, _j, k = _loops(sch, "C")
    with pytest.raises(tir.ScheduleError, match="iter var vr0 of type ORDERED"):
        sch.reorder(k, i)


def test_dependent_loop_extents():
    """A loop whose extent depends on an outer loop cannot be fused with it or moved
    outside it."""
    f, _ = matmul(4, 4, 4)
    sch = tir.Schedule(f)
    i, j, k = (sch.get(x).loop_var for x in _loops(sch, "C"))
    t = Var("t")
    tri = renest(f, "C", [(i, 4), (t, i + 1), (j, 4), (k, 4)], [i, j, k])
    sch = tir.Schedule(tri)
    li, lt, lj, _ = _loops(sch, "C")
    with pytest.raises(tir.ScheduleError,
                       match="the min or extent of loop t depends on loop i"):
        sch.reorder(lt, li)
    with pytest.raises(tir.ScheduleError,
                       match="the extent of loop t depends on the outer loop i"):
        sch.fuse(li, lt)
    sch.reorder(lj, lt)  # t may move inward
