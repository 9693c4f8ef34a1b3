"""decompose_reduction and rfactor: expected IR, numerics on matmul / pooling / softmax,
and illegal uses."""

from __future__ import annotations

import pytest
from block_workloads import assert_same, chain
from ir_samples import block, loop, matmul, point, root

from onnxtune import tir
from onnxtune.tir import BufferRegion, BufferStore, PrimFunc, Range, Var, const, decl_buffer
from onnxtune.tir import testing as wl
from onnxtune.tir.schedule import ScheduleError
from onnxtune.tir.stmt import seq
from onnxtune.tir.structural import assert_structural_equal


def _sch(f):
    return tir.Schedule(f, debug_mask="all")


def _bufs(f):
    return f.params


def test_decompose_reduction_expected_ir():
    f = matmul(4, 6, 5)
    sch = _sch(f)
    c = sch.get_block("C")
    _, j, _ = sch.get_loops(c)
    init = sch.decompose_reduction(c, j)
    assert sch.get(init).name_hint == "C_init"
    a, b, cb = _bufs(f)
    i, ji, jj, k = Var("i"), Var("j_init"), Var("j"), Var("k")
    vi0, vj0, vi, vj, vk = Var("vi"), Var("vj"), Var("vi"), Var("vj"), Var("vk")
    init_b = block("C_init", [(vi0, 4, False), (vj0, 6, False)], [i, ji],
                   BufferStore(cb, const(0.0), (vi0, vj0)), writes=(point(cb, (vi0, vj0)),))
    upd = block("C", [(vi, 4, False), (vj, 6, False), (vk, 5, True)], [i, jj, k],
                BufferStore(cb, cb[vi, vj] + a[vi, vk] * b[vk, vj], (vi, vj)),
                reads=(point(cb, (vi, vj)), point(a, (vi, vk)), point(b, (vk, vj))),
                writes=(point(cb, (vi, vj)),))
    body = loop(i, 4, seq(loop(ji, 6, init_b), loop(jj, 6, loop(k, 5, upd))))
    assert_structural_equal(sch.func, PrimFunc((a, b, cb), root(body)))
    assert_same(f, sch.func)


@pytest.mark.parametrize("depth", [0, 1, 2])
def test_decompose_reduction_at_each_loop(depth):
    f, _ = wl.matmul(6, 5, 7)
    sch = _sch(f)
    c = sch.get_block("C")
    sch.decompose_reduction(c, sch.get_loops(c)[depth])
    assert sch.get(c).init is None
    assert_same(f, sch.func)


def test_decompose_reduction_after_split_keeps_predicate():
    f, _ = wl.matmul(7, 5, 6)
    sch = _sch(f)
    c = sch.get_block("C")
    i, _, _ = sch.get_loops(c)
    i0, _ = sch.split(i, [None, 3])
    sch.decompose_reduction(c, i0)
    assert "T.where" in sch.func.script().split('T.block("C_init")')[1].split("T.block")[0]
    assert_same(f, sch.func)


def test_rfactor_expected_ir():
    f = matmul(4, 5, 6)
    sch = _sch(f)
    c = sch.get_block("C")
    _, _, k = sch.get_loops(c)
    _, k1 = sch.split(k, [2, 3])
    rf = sch.rfactor(k1, 0)
    assert sch.get(rf).name_hint == "C_rf"
    a, b, cb = _bufs(f)
    crf = decl_buffer((3, 4, 5), name="C_rf")
    i, j, k0, k1v = Var("i"), Var("j"), Var("k_0"), Var("k_1")
    vk1, vi, vj, vk0 = Var("vk_1"), Var("vi"), Var("vj"), Var("vk_0")
    kk = vk0 * 3 + vk1
    rf_b = block("C_rf", [(vk1, 3, False), (vi, 4, False), (vj, 5, False), (vk0, 2, True)],
                 [k1v, i, j, k0],
                 BufferStore(crf, crf[vk1, vi, vj] + a[vi, kk] * b[kk, vj], (vk1, vi, vj)),
                 reads=(point(a, (vi, kk)), point(b, (kk, vj))),
                 writes=(point(crf, (vk1, vi, vj)),),
                 init=BufferStore(crf, const(0.0), (vk1, vi, vj)))
    i2, j2, k12 = Var("i"), Var("j"), Var("k_1")
    wk, wi, wj = Var("vk_1"), Var("vi"), Var("vj")
    wb = block("C", [(wk, 3, True), (wi, 4, False), (wj, 5, False)], [k12, i2, j2],
               BufferStore(cb, cb[wi, wj] + crf[wk, wi, wj], (wi, wj)),
               reads=(BufferRegion(crf, tuple(Range(x, const(1)) for x in (wk, wi, wj))),),
               writes=(point(cb, (wi, wj)),), init=BufferStore(cb, const(0.0), (wi, wj)))
    body = seq(loop(i, 4, loop(j, 5, loop(k0, 2, loop(k1v, 3, rf_b)))),
               loop(i2, 4, loop(j2, 5, loop(k12, 3, wb))))
    assert_structural_equal(sch.func, PrimFunc((a, b, cb), root(body, allocs=(crf,))))
    assert_same(f, sch.func)


@pytest.mark.parametrize("factor_axis", [0, 1, 2, -1, -3])
def test_rfactor_factor_axis(factor_axis):
    f, _ = wl.matmul(4, 5, 12)
    sch = _sch(f)
    c = sch.get_block("C")
    k0, k1 = sch.split(sch.get_loops(c)[2], [None, 4])
    rf = sch.rfactor(k0, factor_axis)
    shape = [s.value for s in sch.get(rf).writes[0].buffer.shape]
    expect = [4, 5]
    expect.insert(factor_axis if factor_axis >= 0 else factor_axis + 3, 3)
    assert shape == expect
    assert_same(f, sch.func)


def test_rfactor_non_divisible_split_then_decompose():
    f, _ = wl.matmul(3, 4, 10)
    sch = _sch(f)
    c = sch.get_block("C")
    _, k1 = sch.split(sch.get_loops(c)[2], [None, 4])
    rf = sch.rfactor(k1, 1)
    assert_same(f, sch.func)
    sch.decompose_reduction(rf, sch.get_loops(rf)[0])
    sch.decompose_reduction(c, sch.get_loops(c)[0])
    assert_same(f, sch.func)


@pytest.mark.parametrize("build", [
    lambda: wl.max_pool2d(1, 2, 6, 6, kernel=3, stride=2, padding=1),
    lambda: wl.softmax(3, 8),
])
def test_rfactor_other_reductions(build):
    f, _ = build()
    sch = _sch(f)
    name = "pool_max" if "pool_max" in f.script() else "T_softmax_maxelem"
    blk = sch.get_block(name)
    red = sch.get_loops(blk)[-1]
    sch.rfactor(red, 0)
    assert_same(f, sch.func)


# ----------------------------------------------------------------------------------------
# illegal uses


def test_decompose_loop_must_be_an_ancestor():
    f, _ = wl.softmax(3, 7)
    sch = _sch(f)
    other = sch.get_loops(sch.get_block("T_softmax_exp"))[0]
    with pytest.raises(ScheduleError, match="decompose_reduction: loop i0 is not an ancestor "
                                            "of block T_softmax_maxelem"):
        sch.decompose_reduction(sch.get_block("T_softmax_maxelem"), other)


def test_decompose_needs_a_reduction_block():
    f, _ = chain()
    sch = _sch(f)
    b = sch.get_block("B")
    with pytest.raises(ScheduleError, match="block B has no init statement"):
        sch.decompose_reduction(b, sch.get_loops(b)[0])


def test_decompose_below_a_reduction_loop():
    f, _ = wl.matmul(4, 4, 4)
    sch = _sch(f)
    c = sch.get_block("C")
    i, j, k = sch.get_loops(c)
    sch.reorder(k, j)
    with pytest.raises(ScheduleError, match="loop j must be outside every loop of block C "
                                            "bound to a reduction iter var, but loop k"):
        sch.decompose_reduction(c, j)


def test_rfactor_spatial_loop():
    f, _ = wl.matmul(4, 4, 4)
    sch = _sch(f)
    with pytest.raises(ScheduleError, match="rfactor: loop i is bound to a spatial iter var "
                                            "of block C"):
        sch.rfactor(sch.get_loops(sch.get_block("C"))[0], 0)


def test_rfactor_factor_axis_out_of_range():
    f, _ = wl.matmul(4, 4, 4)
    sch = _sch(f)
    with pytest.raises(ScheduleError, match=r"factor_axis 3 is out of range: buffer C has 2 "
                                            r"dimension\(s\), so it must be in \[-3, 2\]"):
        sch.rfactor(sch.get_loops(sch.get_block("C"))[2], 3)


def test_rfactor_needs_a_serial_loop_with_one_block():
    f, _ = wl.matmul(4, 4, 8)
    sch = _sch(f)
    c = sch.get_block("C")
    k = sch.get_loops(c)[2]
    s2 = sch.copy()
    s2.unroll(k)
    with pytest.raises(ScheduleError, match="loop k is unrolled; only a serial loop"):
        s2.rfactor(k, 0)
    sch.compute_at(sch.cache_read(c, "A", "local"), k)
    with pytest.raises(ScheduleError, match=r"loop k must hold exactly one block; it holds "
                                            r"\['A_local', 'C'\]"):
        sch.rfactor(k, 0)


def test_rfactor_outer_part_of_a_non_divisible_split():
    f, _ = wl.matmul(3, 4, 7)
    sch = _sch(f)
    c = sch.get_block("C")
    k0, _ = sch.split(sch.get_loops(c)[2], [6, None])  # 6 x 2: k0 = 4, 5 compute nothing
    sch.rfactor(k0, 0)
    wb = [b for b in sch.func.script().split("T.block(")[1:] if b.startswith('"C"')][0]
    assert "* 2 < 7)" in wb  # the write-back reads only the rf entries that were computed
    assert_same(f, sch.func)


def test_decompose_over_an_unbound_loop_is_rejected():
    f, _ = wl.softmax(3, 8)
    sch = _sch(f)
    norm = sch.get_block("T_softmax_norm")
    i, j = sch.get_loops(norm)
    s = sch.get_block("T_softmax_expsum")
    sch.compute_at(s, j)  # the whole sum is recomputed for every j
    with pytest.raises(ScheduleError, match=r"loop i1 \(at or under loop i0\) is bound to no "
                                            r"iter var of block T_softmax_expsum"):
        sch.decompose_reduction(s, i)
    sch.decompose_reduction(s, sch.get_loops(s)[2])  # inside j: fine
    assert_same(f, sch.func)
