"""compute_inline / reverse_compute_inline: expected IR, numerical equivalence on TE and
hand-built workloads, and the illegal uses with their messages."""

from __future__ import annotations

import pytest
from block_workloads import assert_same, chain, crop, transposing, two_writers
from ir_samples import block, loop, point, root
from schedule_workloads import func, stage

from onnxtune import tir
from onnxtune.tir import LT, BufferStore, PrimFunc, Var, const, decl_buffer, testing
from onnxtune.tir.schedule import ScheduleError
from onnxtune.tir.schedule.primitives.block_ops import (
    can_compute_inline,
    compute_inline,
    reverse_compute_inline,
)
from onnxtune.tir.structural import assert_structural_equal


def _sch(f):
    return tir.Schedule(f, debug_mask="all")


def test_compute_inline_expected_ir():
    f, (a, _, c) = chain(4, 6)
    sch = _sch(f)
    sch.compute_inline(sch.get_block("B"))
    i, j, vi, vj = Var("i"), Var("j"), Var("vi"), Var("vj")
    sc = block("C", [(vi, 4, False), (vj, 6, False)], [i, j],
               BufferStore(c, a[vi, vj] * const(2.0) + const(1.0), (vi, vj)),
               reads=(point(a, (vi, vj)),), writes=(point(c, (vi, vj)),))
    assert_structural_equal(sch.func, PrimFunc((a, c), root(loop(i, 4, loop(j, 6, sc)))))
    assert_same(f, sch.func)
    assert str(sch.trace).splitlines()[-1] == "sch.compute_inline(block=b0)"


def test_reverse_compute_inline_expected_ir():
    f, (a, _, c) = chain(4, 6)
    sch = _sch(f)
    sch.reverse_compute_inline(sch.get_block("C"))
    i, j, vi, vj = Var("i"), Var("j"), Var("vi"), Var("vj")
    sb = block("B", [(vi, 4, False), (vj, 6, False)], [i, j],
               BufferStore(c, a[vi, vj] * const(2.0) + const(1.0), (vi, vj)),
               reads=(point(a, (vi, vj)),), writes=(point(c, (vi, vj)),))
    assert_structural_equal(sch.func, PrimFunc((a, c), root(loop(i, 4, loop(j, 6, sb)))))
    assert_same(f, sch.func)


def test_inline_transposed_store_uses_the_inverse_map():
    f = transposing(3, 5, store_transposed=True)
    g = compute_inline(f, "B")
    assert [b.name for b in g.body.block.alloc_buffers] == []
    assert_same(f, g)


def test_reverse_inline_transposed_load():
    f = transposing(3, 5)
    g = reverse_compute_inline(f, "C")
    b = g.body.block.body.body.body.block
    assert b.name_hint == "B" and [w.buffer.name for w in b.writes] == ["C"]
    assert_same(f, g)


def test_reverse_inline_partial_consumer_adds_predicate():
    f = crop(9, 5)
    g = reverse_compute_inline(f, "C")
    realize = g.body.block.body.body
    assert isinstance(realize.predicate, LT) and realize.predicate.b.value == 5
    assert_same(f, g)


@pytest.mark.parametrize("blocks", [["pad_temp"], ["T_add"], ["pad_temp", "T_add"]])
def test_inline_conv_bias_relu(blocks):
    f, ref = testing.conv2d_bias_relu(1, 2, 5, 7, 3, 3, 3, padding=1)
    sch = _sch(f)
    for b in blocks:
        sch.compute_inline(sch.get_block(b))
    names = [r.buffer.name for r in sch.get(sch.get_block("conv2d_nchw")).reads]
    assert ("data" in names) == ("pad_temp" in blocks)
    assert_same(f, sch.func)


def test_inline_softmax_exp_into_two_consumers():
    f, ref = testing.softmax(3, 7)
    sch = _sch(f)
    sch.compute_inline(sch.get_block("T_softmax_exp"))
    kids = [sch.get(b).name_hint for b in sch.get_child_blocks(sch.get_block("root"))]
    assert kids == ["T_softmax_maxelem", "T_softmax_expsum", "T_softmax_norm"]
    names = [b.name for b in sch.func.body.block.alloc_buffers]
    assert "T_softmax_exp" not in names
    assert_same(f, sch.func)


def test_can_compute_inline():
    f, _ = testing.softmax(3, 7)
    assert can_compute_inline(f, "T_softmax_exp")
    assert not can_compute_inline(f, "T_softmax_maxelem")
    assert not can_compute_inline(f, "T_softmax_norm")


# ----------------------------------------------------------------------------------------
# illegal uses


def test_inline_reduction_block_is_rejected():
    f, _ = testing.softmax(3, 7)
    with pytest.raises(ScheduleError, match="compute_inline: block T_softmax_maxelem .*"
                                            "reduction block"):
        compute_inline(f, "T_softmax_maxelem")


def test_inline_output_block_is_rejected():
    f, _ = chain()
    with pytest.raises(ScheduleError, match="block C writes C, an output of its scope"):
        compute_inline(f, "C")


def test_inline_non_dominant_block_is_rejected():
    f = two_writers()
    with pytest.raises(ScheduleError, match="block B0 is not the only writer of B"):
        compute_inline(f, "B0")


def test_reverse_inline_needs_a_single_produced_input():
    f, _ = testing.softmax(3, 7)
    with pytest.raises(ScheduleError, match="must read exactly one buffer produced in its "
                                            "scope; it reads"):
        reverse_compute_inline(f, "T_softmax_norm")


def test_reverse_inline_needs_a_complete_producer():
    f, _ = testing.conv2d_bias_relu(1, 2, 5, 5, 3, 3, 3, padding=1)
    with pytest.raises(ScheduleError, match="the producer of conv2d_nchw must be a complete "
                                            "block, but block conv2d_nchw is a reduction"):
        reverse_compute_inline(f, "T_add")


def test_reverse_inline_producer_with_other_consumers():
    a, b, c, d = (decl_buffer((6,), name=x) for x in "ABCD")
    f = func((a, c, d), [stage("B", b, lambda i: a[i] * 2.0),
                         stage("C", c, lambda i: b[i] + 1.0),
                         stage("D", d, lambda i: b[i] * 3.0)], [b])
    with pytest.raises(ScheduleError, match=r"B is also read by \['D'\]"):
        reverse_compute_inline(f, "C")


def test_reverse_inline_of_a_block_reading_only_inputs():
    f, _ = chain()
    with pytest.raises(ScheduleError, match=r"block B must read exactly one buffer produced "
                                            r"in its scope; it reads \[\]"):
        reverse_compute_inline(f, "B")


def test_stale_block_after_inline():
    f, _ = chain()
    sch = _sch(f)
    b = sch.get_block("B")
    sch.compute_inline(b)
    with pytest.raises(ScheduleError, match="no longer exists"):
        sch.compute_inline(b)


def test_inlined_and_moved_blocks_agree_with_the_reference_interpreter():
    f, ref = testing.conv2d_bias_relu(1, 2, 4, 4, 2, 3, 3, padding=1)
    sch = _sch(f)
    sch.compute_inline(sch.get_block("pad_temp"))
    sch.reverse_compute_inline(sch.get_block("T_relu"))
    sch.compute_at(sch.get_block("conv2d_nchw"), sch.get_loops(sch.get_block("T_add"))[2])
    testing.check_workload(sch.func, ref)  # tir.interp, independent of the LLVM backend
