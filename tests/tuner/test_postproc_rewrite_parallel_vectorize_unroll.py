"""Postproc RewriteParallelVectorizeUnroll: root annotations become loop kinds."""

from __future__ import annotations

import pytest
from postproc_workloads import annotate_root, run_and_check, tiled_conv2d, tiled_matmul

from onnxtune.tir import testing
from onnxtune.tir.schedule import Schedule
from onnxtune.tir.schedule.tree import index
from onnxtune.tuner.postproc.rewrite_parallel_vectorize_unroll import (
    RewriteParallelVectorizeUnroll,
)

PVU = RewriteParallelVectorizeUnroll
MATMUL = {("s", 0): [1, 4, 4, 4], ("s", 1): [1, 4, 1, 12], ("r", 0): [4, 8]}
KIND = {0: "s", 1: "p", 2: "v", 3: "u"}


def loops_of(func, block):
    """``[(extent, kind letter, annotations)]`` of the loops above a block."""
    loc = index(func).block(block)
    return [(f.extent.value, KIND[int(f.kind)], dict(f.annotations)) for f in loc.loops()]


def root_annotations(func):
    return dict(func.body.block.annotations)


def test_matmul_structure_and_result():
    sch, _, ref = tiled_matmul(decisions=MATMUL, unroll=1)
    assert PVU().apply(sch)
    pragma = {"pragma_auto_unroll_max_step": 16, "pragma_unroll_explicit": 1}
    # i0 j0 i1 j1 (1*1*4*4) fused and parallel; the innermost j3 (contiguous in C and B)
    # vectorized; the unroll pragma on the outermost loop
    assert loops_of(sch.func, "C") == [
        (16, "p", pragma), (4, "s", {}), (4, "s", {}), (1, "s", {}), (8, "s", {}),
        (4, "s", {}), (12, "v", {})]
    assert loops_of(sch.func, "C_global") == [(16, "p", pragma), (16, "s", {}),
                                              (12, "v", {})]
    assert root_annotations(sch.func) == {}
    run_and_check(sch.func, ref)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_matmul_random_tiles_correct(seed):
    sch, _, ref = tiled_matmul(31, 17, 13, seed=seed, unroll=None)
    assert PVU().apply(sch)
    run_and_check(sch.func, ref)


def test_parallel_limit_counts_the_loop_that_passes_it():
    sch, _, _ = tiled_matmul(decisions=MATMUL, parallel=2)
    assert PVU().apply(sch)
    # i0 (1), j0 (1), i1 (4 > 2): fused up to and including i1, as TVM
    assert loops_of(sch.func, "C")[0][:2] == (4, "p")
    assert len(loops_of(sch.func, "C")) == 8


def test_implicit_unroll_and_zero_step():
    sch, _, _ = tiled_matmul(decisions=MATMUL)
    root = sch.get_block("root")
    sch.unannotate(root, "meta_schedule.unroll_explicit")
    v = sch.sample_categorical([0, 16, 64, 512], [0.25] * 4, decision=3)
    sch.annotate(root, "meta_schedule.unroll_implicit", v)
    assert PVU().apply(sch)
    assert loops_of(sch.func, "C")[0][2] == {"pragma_auto_unroll_max_step": 512,
                                             "pragma_unroll_explicit": 0}
    sch, _, _ = tiled_matmul(decisions=MATMUL, unroll=0)
    assert PVU().apply(sch)
    assert loops_of(sch.func, "C")[0][2] == {}


def test_softmax():
    f, ref = testing.softmax(5, 37)
    sch = Schedule(f)
    annotate_root(sch, 16, 64, unroll=2)
    assert PVU().apply(sch)
    pragma = {"pragma_auto_unroll_max_step": 64, "pragma_unroll_explicit": 1}
    assert loops_of(sch.func, "T_softmax_maxelem") == [(5, "p", pragma), (37, "s", {})]
    # spatial blocks get no unroll pragma; their contiguous last axis is vectorized
    assert loops_of(sch.func, "T_softmax_exp") == [(5, "p", {}), (37, "v", {})]
    assert loops_of(sch.func, "T_softmax_norm") == [(5, "p", {}), (37, "v", {})]
    run_and_check(sch.func, ref)


def test_conv2d_with_compute_at():
    sch, _, ref = tiled_conv2d(seed=3, location=4)
    assert PVU().apply(sch)
    first = loops_of(sch.func, "conv2d_nchw")[0]
    assert first[1] == "p" and first[2]["pragma_auto_unroll_max_step"] == 64
    run_and_check(sch.func, ref)


@pytest.mark.parametrize("shape,par,vec", [((7, 13), 32, 64), ((4, 6), 8, 32), ((5, 7), 64, 16),
                                           ((1, 1), 64, 16), ((3, 17), 1, 4)])
def test_elementwise_shapes(shape, par, vec):
    f, ref = testing.relu(*shape)
    sch = Schedule(f)
    annotate_root(sch, par, vec, unroll=1)
    assert PVU().apply(sch)
    run_and_check(sch.func, ref)


def test_everything_fusible_is_fused_then_split():
    f, ref = testing.relu(4, 6)
    sch = Schedule(f)
    annotate_root(sch, 8, 32, unroll=0)
    assert PVU().apply(sch)
    kinds = [k for _, k, _ in loops_of(sch.func, "T_relu")]
    assert kinds[-1] == "v" and len(kinds) <= 2
    run_and_check(sch.func, ref)


def test_no_annotation_is_a_no_op_and_bad_value_rejected():
    f, _ = testing.relu(4, 6)
    sch = Schedule(f)
    assert PVU().apply(sch)
    assert sch.func is f
    sch.annotate(sch.get_block("root"), "meta_schedule.parallel", "many")
    assert PVU().apply(sch) is False


WORKLOADS = {
    "matmul_primes": lambda: testing.matmul(31, 17, 13),
    "conv_stride2": lambda: testing.conv2d_nchw(1, 3, 7, 7, 5, 3, 3, stride=2, padding=1),
    "layer_norm": lambda: testing.layer_norm(4, 10),
    "depthwise": lambda: testing.depthwise_conv2d_nchw(1, 4, 6, 6, 3, 3, padding=1),
    "conv_bias_relu": lambda: testing.conv2d_bias_relu(1, 4, 5, 5, 6, 3, 3, padding=1),
}


@pytest.mark.parametrize("name", sorted(WORKLOADS))
@pytest.mark.parametrize("seed", [1, 6])
def test_random_design_space_programs(name, seed):
    from postproc_workloads import random_program

    from onnxtune.tuner.postproc import Postproc

    f, ref = WORKLOADS[name]()
    if len(f.params) > 2:
        f = f.with_attr("layout_free_buffers", [1])
    sch = random_program(f, seed)
    for p in Postproc.create("llvm"):
        assert p.apply(sch), type(p).__name__
    run_and_check(sch.func, ref, rtol=1e-3, atol=1e-3)


def test_rfactor_blocks():
    from onnxtune.tir import te

    a = te.placeholder((6, 60), name="A")
    k = te.reduce_axis((0, 60), name="k")
    b = te.compute((6,), lambda i: te.sum(a[i, k], axis=k), name="B")
    sch = Schedule(te.create_prim_func([a, b]))
    _, kk = sch.get_loops(sch.get_block("B"))
    _, k1 = sch.split(kk, [None, 12])
    sch.rfactor(k1, 1)
    annotate_root(sch, 32, 16, 1)
    assert PVU().apply(sch)
    # the rfactor block's spatial k_1 (contiguous in A and B_rf) is vectorized
    assert loops_of(sch.func, "B_rf")[-1][:2] == (12, "v")
    assert loops_of(sch.func, "B")[0][:2] == (6, "p")
    run_and_check(sch.func, lambda x: x.sum(axis=1))
