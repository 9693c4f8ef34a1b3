"""Schedule.parallel / vectorize / unroll / bind / annotate / unannotate: results, TVM's
legality rules and their messages, numerical equivalence."""

from __future__ import annotations

import numpy as np
import pytest
from schedule_workloads import conv2d_bias_relu, matmul, renest, run, softmax

from onnxtune import tir
from onnxtune.tir import ForKind
from onnxtune.tir.structural import assert_structural_equal

RNG = np.random.default_rng(1)


def _loops(sch, name):
    return sch.get_loops(sch.get_block(name))


def _same_result(f0, f1, make, rtol=1e-5):
    arrays = make(RNG)
    np.testing.assert_allclose(run(f1, arrays)[-1], run(f0, arrays)[-1], rtol=rtol, atol=1e-5)


def test_parallel_vectorize_unroll_expected_ir():
    f, make = matmul(8, 12, 6)
    sch = tir.Schedule(f, debug_mask="all")
    i, j, k = _loops(sch, "C")
    sch.parallel(i)
    sch.unroll(k)
    sch.reorder(i, k, j)
    sch.vectorize(j)
    iv, jv, kv = (sch.get(x).loop_var for x in (i, j, k))
    expected = renest(f, "C", [(iv, 8, ForKind.PARALLEL), (kv, 6, ForKind.UNROLLED),
                               (jv, 12, ForKind.VECTORIZED)], [iv, jv, kv])
    assert_structural_equal(sch.func, expected)
    _same_result(f, sch.func, make)


def test_parallel_over_reduction_rejected():
    f, _ = matmul(8, 12, 6)
    sch = tir.Schedule(f)
    _, _, k = _loops(sch, "C")
    with pytest.raises(tir.ScheduleError,
                       match="parallel: cannot parallelize loop r0: block 'C' binds its "
                             "comm_reduce iter var vr0"):
        sch.parallel(k)


def test_vectorize_reduction_and_symbolic_extent_rejected():
    f, _ = matmul(8, 12, 6)
    sch = tir.Schedule(f)
    _, _, k = _loops(sch, "C")
    with pytest.raises(tir.ScheduleError, match="cannot vectorize loop r0"):
        sch.vectorize(k)
    from schedule_workloads import func, stage

    a = tir.decl_buffer((6,), name="A")
    g = func((a,), [stage("A", a, lambda i: tir.const(1.0))])
    g = g.with_body(_with_extent(g.body, tir.Var("n")))
    sch = tir.Schedule(g)
    (i,) = _loops(sch, "A")
    with pytest.raises(tir.ScheduleError,
                       match="cannot vectorize loop i: its extent n is not a constant"):
        sch.vectorize(i)


def _with_extent(body, n):
    from onnxtune.tir.functor import Mutator
    from onnxtune.tir.stmt import For

    class M(Mutator):
        def visit_For(self, f):
            return For(f.loop_var, f.min, n, f.kind, f.body)

    return M().visit(body)


def test_parallel_needs_compact_dataflow():
    """A loop over a block that reads and writes the same buffer cannot be parallel."""
    from schedule_workloads import func, stage

    a = tir.decl_buffer((6,), name="A")
    st = stage("inc", a, lambda i: a[i] + tir.const(1.0))
    sch = tir.Schedule(func((a,), [st]))
    (i,) = _loops(sch, "inc")
    with pytest.raises(tir.ScheduleError,
                       match="does not have compact dataflow: block 'inc' .* reads and writes"):
        sch.parallel(i)


def test_parallel_and_vectorize_fused_conv():
    f, make = conv2d_bias_relu()
    sch = tir.Schedule(f, debug_mask="all")
    n, c, _y, x, *_ = _loops(sch, "conv")
    sch.parallel(sch.fuse(n, c))
    x0, x1 = sch.split(x, [None, 4])
    sch.reorder(x0, *_loops(sch, "conv")[4:7], x1)
    sch.vectorize(x1)
    for blk in ("T_add", "T_relu"):
        n, c, _y, x = _loops(sch, blk)
        sch.parallel(n)
        sch.vectorize(x)
    _same_result(f, sch.func, make)


def test_bind_rules():
    f, _ = matmul(8, 12, 6)
    sch = tir.Schedule(f)
    i, j, k = _loops(sch, "C")
    sch.bind(i, "blockIdx.x")
    sch.bind(k, "threadIdx.x")  # a cross-thread reduction is allowed
    assert sch.get(i).kind == ForKind.THREAD_BINDING and sch.get(i).thread_binding == "blockIdx.x"
    with pytest.raises(tir.ScheduleError, match="unknown thread axis 'warp.x'"):
        sch.bind(j, "warp.x")
    sch2 = tir.Schedule(f)
    _, _, k = _loops(sch2, "C")
    with pytest.raises(tir.ScheduleError, match="cannot bind loop r0"):
        sch2.bind(k, "blockIdx.y")


def test_annotate_and_unannotate():
    f, make = softmax()
    sch = tir.Schedule(f, debug_mask="all")
    b = sch.get_block("T_exp")
    i, j = sch.get_loops(b)
    v = sch.sample_categorical([0, 16, 64], [0.2, 0.3, 0.5], decision=1)
    sch.annotate(b, "meta_schedule.unroll_explicit", v)
    sch.annotate(i, "pragma_list", [1, 2])
    sch.annotate(j, "name", "x")
    assert sch.get(b).annotations == {"meta_schedule.unroll_explicit": 16}
    assert sch.get(i).annotations == {"pragma_list": [1, 2]}
    sch.unannotate(j, "name")
    assert sch.get(j).annotations == {}
    with pytest.raises(tir.ScheduleError, match="loop j has no annotation 'name'"):
        sch.unannotate(j, "name")
    with pytest.raises(tir.ScheduleError, match="unsupported value"):
        sch.annotate(j, "bad", object())
    assert 'ann_val=v' in str(sch.trace)
    _same_result(f, sch.func, make)
