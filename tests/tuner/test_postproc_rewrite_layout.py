"""Postproc RewriteLayout: constant weights stored in the order the tiles read them."""

from __future__ import annotations

import numpy as np
from postproc_workloads import run_and_check, tiled_conv2d, tiled_matmul

from onnxtune.compile import build
from onnxtune.tir import testing
from onnxtune.tir.schedule import Schedule
from onnxtune.tir.schedule.tree import index
from onnxtune.tir.transform.layout_rewrite import remove_weight_layout_rewrite_block
from onnxtune.tuner.postproc import Postproc
from onnxtune.tuner.postproc.rewrite_layout import LAYOUT_REWRITE_PREPROC, RewriteLayout

MATMUL = {("s", 0): [1, 4, 4, 4], ("s", 1): [1, 4, 1, 12], ("r", 0): [4, 8]}


def _all(sch):
    for p in Postproc.create("llvm"):
        assert p.apply(sch), type(p).__name__
    return sch


def _shape(buf):
    return tuple(s.value for s in buf.shape)


def test_matmul_weight_in_tile_order():
    sch, f, ref = tiled_matmul(decisions=MATMUL, layout_free=True)
    _all(sch)
    ix = index(sch.func)
    pre = ix.blocks["B_global"].stmt.block
    assert pre.annotations[LAYOUT_REWRITE_PREPROC] is True
    assert [r.buffer.name for r in pre.reads] == ["B"]
    # B[k, j] with k = k0*8 + k1 and j = j1*12 + j3 (j0 = j2 = 1), loops
    # (i0 j0 i1 j1 fused), k0, i2, j2, k1, i3, j3: digits in loop order j1, k0, k1, j3
    assert _shape(pre.writes[0].buffer) == (4, 4, 8, 12)
    reads = {r.buffer.name for r in ix.blocks["C"].stmt.block.reads}
    assert "B_global" in reads and "B" not in reads
    run_and_check(sch.func, ref)
    # for measurement the function takes the repacked weight directly
    g = remove_weight_layout_rewrite_block(sch.func)
    assert [p.name for p in g.params] == ["A", "B_global", "C"]
    a, b, c = testing.make_args(f)
    packed = b.reshape(4, 8, 4, 12).transpose(2, 0, 1, 3).copy()
    build(g)["main"](a, packed, c)
    np.testing.assert_allclose(c, a @ b, rtol=1e-4, atol=1e-4)


def test_conv2d_kernel_rewritten():
    sch, _, ref = tiled_conv2d(seed=3, location=4, layout_free=True)
    _all(sch)
    assert "kernel_global" in index(sch.func).order
    run_and_check(sch.func, ref)


def test_without_attr_nothing_changes():
    sch, _, _ = tiled_matmul(decisions=MATMUL)
    _all(sch)
    assert "B_global" not in index(sch.func).order
    assert RewriteLayout().apply(sch)


def test_already_in_loop_order_is_left_alone():
    f, ref = testing.matmul(8, 8, 8)
    sch = Schedule(f.with_attr("layout_free_buffers", [1]))
    i, j, k = sch.get_loops(sch.get_block("C"))
    sch.reorder(i, k, j)
    before = sch.func
    assert RewriteLayout().apply(sch)  # loops i, k, j read B[k, j] in memory order
    assert sch.func is before
    # loops i, j, k read B column by column: B is stored transposed
    sch = Schedule(f.with_attr("layout_free_buffers", [1]))
    assert RewriteLayout().apply(sch)
    assert _shape(index(sch.func).blocks["B_global"].stmt.block.writes[0].buffer) == (8, 8)
    run_and_check(sch.func, ref)


def test_weight_read_by_two_blocks_is_skipped():
    f, _ = testing.add((4, 8), (4, 8))
    sch = Schedule(f.with_attr("layout_free_buffers", [0, 1]))
    assert RewriteLayout().apply(sch)


def test_bad_attr_rejected():
    f, _ = testing.matmul(8, 8, 8)
    sch = Schedule(f.with_attr("layout_free_buffers", [7]))
    assert RewriteLayout().apply(sch) is False


def test_idempotent():
    sch, _, ref = tiled_matmul(decisions=MATMUL, layout_free=True)
    _all(sch)
    before = sch.func
    assert RewriteLayout().apply(sch)
    assert sch.func is before
