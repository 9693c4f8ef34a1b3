"""compute_at / reverse_compute_at / compute location candidates: expected IR, regions
under split loops (predicates), insertion index, numerics, and illegal uses."""

from __future__ import annotations

import pytest
from block_workloads import assert_same, chain, two_writers
from ir_samples import block, loop, point, root
from schedule_workloads import func, stage

from onnxtune import tir
from onnxtune.tir import LT, BufferStore, PrimFunc, Var, const, decl_buffer, testing
from onnxtune.tir.schedule import ScheduleError
from onnxtune.tir.schedule.primitives.block_ops import compute_at, compute_location_candidates
from onnxtune.tir.stmt import seq
from onnxtune.tir.structural import assert_structural_equal


def _sch(f):
    return tir.Schedule(f, debug_mask="all")


def _stage_b(a, b, vals, m=4, n=6):
    vi, vj = Var("vi"), Var("vj")
    return block("B", [(vi, m, False), (vj, n, False)], vals,
                 BufferStore(b, a[vi, vj] * const(2.0), (vi, vj)),
                 reads=(point(a, (vi, vj)),), writes=(point(b, (vi, vj)),))


def _stage_c(b, c, vals, m=4, n=6):
    vi, vj = Var("vi"), Var("vj")
    return block("C", [(vi, m, False), (vj, n, False)], vals,
                 BufferStore(c, b[vi, vj] + const(1.0), (vi, vj)),
                 reads=(point(b, (vi, vj)),), writes=(point(c, (vi, vj)),))


def test_compute_at_expected_ir():
    f, (a, b, c) = chain(4, 6)
    sch = _sch(f)
    i, _ = sch.get_loops(sch.get_block("C"))
    sch.compute_at(sch.get_block("B"), i)
    li, lj, ax = Var("i"), Var("j"), Var("ax0")
    body = loop(li, 4, seq(loop(ax, 6, _stage_b(a, b, [li, ax])),
                           loop(lj, 6, _stage_c(b, c, [li, lj]))))
    assert_structural_equal(sch.func, PrimFunc((a, c), root(body, allocs=(b,))))
    assert_same(f, sch.func)
    assert str(sch.trace).splitlines()[-1] == (
        "sch.compute_at(block=b3, loop=l1, preserve_unit_loops=False, index=-1)")


def test_compute_at_preserve_unit_loops():
    f, (a, b, c) = chain(4, 6)
    sch = _sch(f)
    _, j = sch.get_loops(sch.get_block("C"))
    sch.compute_at(sch.get_block("B"), j, preserve_unit_loops=True)
    li, lj, ax0, ax1 = Var("i"), Var("j"), Var("ax0"), Var("ax1")
    inner = loop(ax0, 1, loop(ax1, 1, _stage_b(a, b, [li + ax0, lj + ax1])))
    body = loop(li, 4, loop(lj, 6, seq(inner, _stage_c(b, c, [li, lj]))))
    assert_structural_equal(sch.func, PrimFunc((a, c), root(body, allocs=(b,))))
    assert_same(f, sch.func)


def test_reverse_compute_at_expected_ir():
    f, (a, b, c) = chain(4, 6)
    sch = _sch(f)
    i, _ = sch.get_loops(sch.get_block("B"))
    sch.reverse_compute_at(sch.get_block("C"), i)
    li, lj, ax = Var("i"), Var("j"), Var("ax0")
    body = loop(li, 4, seq(loop(lj, 6, _stage_b(a, b, [li, lj])),
                           loop(ax, 6, _stage_c(b, c, [li, ax]))))
    assert_structural_equal(sch.func, PrimFunc((a, c), root(body, allocs=(b,))))
    assert_same(f, sch.func)


@pytest.mark.parametrize("depth", range(4))
def test_compute_at_pad_under_conv_loops(depth):
    f, _ = testing.conv2d_bias_relu(1, 2, 6, 5, 3, 3, 3, padding=1)
    sch = _sch(f)
    loops = sch.get_loops(sch.get_block("conv2d_nchw"))
    sch.compute_at(sch.get_block("pad_temp"), loops[depth])
    assert_same(f, sch.func)


def test_compute_at_region_is_the_window():
    f, _ = testing.conv2d_bias_relu(1, 2, 6, 5, 3, 3, 3, padding=1)
    sch = _sch(f)
    loops = sch.get_loops(sch.get_block("conv2d_nchw"))
    sch.compute_at(sch.get_block("pad_temp"), loops[3])
    pad_loops = sch.get_loops(sch.get_block("pad_temp"))
    extents = [sch.get(lp).extent.value for lp in pad_loops[4:]]
    assert extents == [2, 3, 3]  # channels, the 3 rows and the 3 columns of the window
    assert_same(f, sch.func)


def test_compute_at_split_loop_adds_predicate():
    f, _ = testing.conv2d_bias_relu(1, 2, 7, 5, 3, 3, 3, padding=1)
    sch = _sch(f)
    _, _, h, _, *_ = sch.get_loops(sch.get_block("conv2d_nchw"))
    h0, _ = sch.split(h, [None, 3])
    pad = sch.get_block("pad_temp")
    sch.compute_at(pad, h0)
    realize_pred = _realize(sch.func, "pad_temp").predicate
    assert isinstance(realize_pred, LT)  # rows h0*3 .. h0*3+4 clipped to the 9 rows
    assert realize_pred.b.value == 9
    assert_same(f, sch.func)


def _realize(f, name):
    from onnxtune.tir.schedule.tree import find_block

    return find_block(f, name).stmt


def test_compute_at_reduction_block():
    f, _ = testing.conv2d_bias_relu(1, 2, 5, 5, 3, 3, 3, padding=1)
    sch = _sch(f)
    for lp in sch.get_loops(sch.get_block("T_add"))[1:3]:
        s2 = sch.copy()
        s2.compute_at(s2.get_block("conv2d_nchw"), lp)
        assert_same(f, s2.func)


def test_insertion_index():
    f, _ = testing.matmul(8, 12, 6)
    sch = _sch(f)
    c = sch.get_block("C")
    a_s = sch.cache_read(c, "A", "shared")
    b_s = sch.cache_read(c, "B", "shared")
    k = sch.get_loops(c)[2]
    sch.compute_at(a_s, k)
    for index, order in [(-1, ["A_shared", "B_shared", "C"]), (-2, ["B_shared", "A_shared", "C"]),
                         (0, ["B_shared", "A_shared", "C"]), (1, ["A_shared", "B_shared", "C"])]:
        s2 = sch.copy()
        s2.compute_at(s2.get_block("B_shared"), k, index=index)
        assert [s2.get(b).name_hint for b in s2.get_child_blocks(k)] == order
        assert_same(f, s2.func)
    with pytest.raises(ScheduleError, match=r"index 3 is not a valid position under loop k; "
                                            r"valid: -1, -2 or an integer in \[0, 1\]"):
        sch.compute_at(b_s, k, index=3)


def test_compute_location_candidates():
    f, _ = testing.conv2d_bias_relu(1, 2, 5, 5, 3, 3, 3, padding=1)
    cands = compute_location_candidates(f, "pad_temp")
    assert cands[:2] == ["inline", "root"]
    assert [v.name for v in cands[2:]] == ["ff", "yy", "xx"]  # the unit batch loop skipped
    g, _ = testing.softmax(3, 7)
    assert compute_location_candidates(g, "T_softmax_exp") == ["inline", "root"]
    assert [c if isinstance(c, str) else c.name
            for c in compute_location_candidates(g, "T_softmax_maxelem")] == ["root", "i0", "i1"]


@pytest.mark.parametrize("decision", [-2, -1, 0, 1, 2])
def test_sample_compute_location_then_compute_at(decision):
    f, _ = testing.conv2d_bias_relu(1, 2, 5, 5, 3, 3, 3, padding=1)
    sch = tir.Schedule(f, seed=0, debug_mask="all")
    pad = sch.get_block("pad_temp")
    loc = sch.sample_compute_location(pad, decision=decision)
    sch.compute_at(pad, loc)
    assert_same(f, sch.func)


# ----------------------------------------------------------------------------------------
# illegal uses


def test_loop_must_hold_every_consumer():
    f, _ = testing.softmax(3, 7)
    loop_var = f.body.block.body.seq[2].loop_var  # T_softmax_expsum's outer loop
    with pytest.raises(ScheduleError, match=r"compute_at: loop i0 is not an ancestor of every "
                                            r"consumer of block T_softmax_exp: consumer\(s\) "
                                            r"\['T_softmax_norm'\] are outside it"):
        compute_at(f, "T_softmax_exp", loop_var)


def test_reverse_loop_must_hold_every_producer():
    f, _ = testing.softmax(3, 7)
    sch = _sch(f)
    i = sch.get_loops(sch.get_block("T_softmax_expsum"))[0]
    with pytest.raises(ScheduleError, match="not an ancestor of every producer of block "
                                            "T_softmax_norm"):
        sch.reverse_compute_at(sch.get_block("T_softmax_norm"), i)


def test_loop_of_the_block_itself():
    f, _ = chain()
    sch = _sch(f)
    b = sch.get_block("B")
    with pytest.raises(ScheduleError, match="loop i is an ancestor of block B"):
        sch.compute_at(b, sch.get_loops(b)[0])


def test_output_block_cannot_be_computed_at():
    f, _ = chain()
    sch = _sch(f)
    with pytest.raises(ScheduleError, match="block C writes an output of its scope"):
        sch.compute_at(sch.get_block("C"), sch.get_loops(sch.get_block("B"))[0])


def test_not_the_only_writer():
    f = two_writers()
    sch = _sch(f)
    with pytest.raises(ScheduleError, match="block B0 is neither a complete block nor a "
                                            "reduction block: block B0 is not the only writer "
                                            "of B"):
        sch.compute_at(sch.get_block("B0"), sch.get_loops(sch.get_block("C"))[0])


def test_reverse_compute_at_into_a_reduction_loop():
    f, _ = testing.conv2d_bias_relu(1, 2, 5, 5, 3, 3, 3, padding=1)
    sch = _sch(f)
    rc = sch.get_loops(sch.get_block("conv2d_nchw"))[4]
    with pytest.raises(ScheduleError, match="loop rc is a reduction loop of producer "
                                            "conv2d_nchw"):
        sch.reverse_compute_at(sch.get_block("T_add"), rc)


def test_shared_cache_is_relaxed_over_thread_loops():
    f, _ = testing.matmul(16, 8, 6)
    sch = _sch(f)
    c = sch.get_block("C")
    i, j, k = sch.get_loops(c)
    i0, i1 = sch.split(i, [4, 4])
    sch.reorder(i0, i1, k, j)
    sch.bind(i0, "blockIdx.x")
    sch.bind(i1, "threadIdx.x")
    a_sh = sch.cache_read(c, "A", "shared")
    a_lo = sch.cache_read(c, "A_shared", "local")
    sch.compute_at(a_lo, k)
    sch.compute_at(a_sh, k)
    ext = [sch.get(x).extent.value for x in sch.get_loops(a_sh)[3:]]
    assert ext == [4]  # the rows of all 4 threads of the block (k is a point)
    assert sch.get_loops(a_lo)[3:] == []  # a local copy: this thread's row only


def _elementwise_then_matmul(m=4, n=5, k=6):
    a, w = decl_buffer((m, k), name="A"), decl_buffer((k, n), name="W")
    c, d = decl_buffer((m, k), name="C"), decl_buffer((m, n), name="D")
    return func((a, w, d), [stage("C", c, lambda i, j: a[i, j] * 2.0),
                            stage("D", d, lambda i, j, r: c[i, r] * w[r, j], reduce=(k,))],
                [c])


@pytest.mark.parametrize("depth", [0, 1])
def test_reverse_compute_at_splits_a_reduction_across_the_loop(depth):
    f = _elementwise_then_matmul()
    sch = _sch(f)
    sch.reverse_compute_at(sch.get_block("D"), sch.get_loops(sch.get_block("C"))[depth])
    assert_same(f, sch.func)


def test_reduction_accumulated_twice_is_rejected():
    f, _ = testing.conv2d_bias_relu(1, 2, 5, 5, 3, 3, 3, padding=1)
    sch = _sch(f)
    sch.compute_inline(sch.get_block("T_add"))
    yy = sch.get_loops(sch.get_block("pad_temp"))[2]  # rows: the conv needs all of them
    with pytest.raises(ScheduleError, match=r"block conv2d_nchw is a reduction block whose "
                                            r"reduction over \['vrc'\] would be split across "
                                            r"iterations of the loops above it, but loop\(s\) "
                                            r"\['i2'\] do not select"):
        sch.reverse_compute_at(sch.get_block("conv2d_nchw"), yy)
