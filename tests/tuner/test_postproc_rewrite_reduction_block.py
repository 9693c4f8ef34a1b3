"""Postproc RewriteReductionBlock: reduction inits become their own blocks."""

from __future__ import annotations

import pytest
from postproc_workloads import run_and_check, tiled_conv2d, tiled_matmul

from onnxtune.tir import te, testing
from onnxtune.tir.schedule import Schedule
from onnxtune.tir.schedule.tree import index
from onnxtune.tuner.postproc.rewrite_parallel_vectorize_unroll import (
    RewriteParallelVectorizeUnroll,
)
from onnxtune.tuner.postproc.rewrite_reduction_block import RewriteReductionBlock

RRB = RewriteReductionBlock
MATMUL = {("s", 0): [1, 4, 4, 4], ("s", 1): [1, 4, 1, 12], ("r", 0): [4, 8]}


def loop_names(func, block):
    return [f.loop_var.name for f in index(func).block(block).loops()]


def test_matmul_init_above_first_reduction_loop():
    sch, _, ref = tiled_matmul(decisions=MATMUL)
    assert RewriteParallelVectorizeUnroll().apply(sch)
    assert RRB().apply(sch)
    ix = index(sch.func)
    assert ix.blocks["C"].stmt.block.init is None
    init = ix.blocks["C_init"].stmt.block
    assert [w.buffer.name for w in init.writes] == ["C_global"]
    # the init nest sits under the parallel loop, before k_0, over the spatial loops
    # below k_0 (vectorized j_3 included)
    assert loop_names(sch.func, "C_init") == ["i_0_j_0_i_1_j_1_fused", "i_2_init",
                                              "j_2_init", "i_3_init", "j_3_init"]
    assert loop_names(sch.func, "C")[1] == "k_0"
    run_and_check(sch.func, ref)


def test_unscheduled_reductions():
    f, ref = testing.softmax(3, 11)
    sch = Schedule(f)
    assert RRB().apply(sch)
    ix = index(sch.func)
    assert {"T_softmax_maxelem_init", "T_softmax_expsum_init"} <= set(ix.order)
    assert all(ix.blocks[n].stmt.block.init is None for n in ix.order)
    run_and_check(sch.func, ref)


@pytest.mark.parametrize("loc", [-1, 0, 3, 6])
def test_conv2d(loc):
    sch, _, ref = tiled_conv2d(seed=5, location=loc)
    assert RewriteParallelVectorizeUnroll().apply(sch)
    assert RRB().apply(sch)
    assert "conv2d_nchw_init" in index(sch.func).order
    run_and_check(sch.func, ref)


def test_reduction_loop_outermost():
    a = te.placeholder((4, 1), name="A")
    k = te.reduce_axis((0, 1), name="k")
    b = te.compute((4,), lambda i: te.sum(a[i, k], axis=k), name="B")
    f = te.create_prim_func([a, b])
    sch = Schedule(f)
    blk = sch.get_block("B")
    i, kk = sch.get_loops(blk)
    sch.reorder(kk, i)
    assert RRB().apply(sch)
    # k (extent 1) comes first: the decompose point is k, init goes above it
    assert "B_init" in index(sch.func).order
    run_and_check(sch.func, lambda x: x.sum(axis=1))
