"""cache_read / cache_write: expected IR and placement, consumer_blocks, the tiling
pattern with compute_at, numerics, and illegal uses."""

from __future__ import annotations

import pytest
from block_workloads import assert_same, chain, two_writers
from ir_samples import block, loop, point, root

from onnxtune import tir
from onnxtune.tir import BufferStore, PrimFunc, Var, const, decl_buffer, testing
from onnxtune.tir.schedule import ScheduleError
from onnxtune.tir.schedule.primitives.block_ops import cache_read, cache_write
from onnxtune.tir.stmt import seq
from onnxtune.tir.structural import assert_structural_equal


def _sch(f):
    return tir.Schedule(f, debug_mask="all")


def _copy(name, src, dst, m=4, n=6):
    a0, a1, v0, v1 = Var("ax0"), Var("ax1"), Var("v0"), Var("v1")
    blk = block(name, [(v0, m, False), (v1, n, False)], [a0, a1],
                BufferStore(dst, src[v0, v1], (v0, v1)), reads=(point(src, (v0, v1)),),
                writes=(point(dst, (v0, v1)),))
    return loop(a0, m, loop(a1, n, blk))


def _ew(name, src, dst, fn, m=4, n=6):
    i, j, vi, vj = Var("i"), Var("j"), Var("vi"), Var("vj")
    blk = block(name, [(vi, m, False), (vj, n, False)], [i, j],
                BufferStore(dst, fn(src[vi, vj]), (vi, vj)), reads=(point(src, (vi, vj)),),
                writes=(point(dst, (vi, vj)),))
    return loop(i, m, loop(j, n, blk))


def test_cache_read_of_an_intermediate_expected_ir():
    f, (a, b, c) = chain(4, 6)
    sch = _sch(f)
    rv = sch.cache_read(sch.get_block("C"), 0, "shared")
    assert sch.get(rv).name_hint == "B_shared"
    bs = decl_buffer((4, 6), name="B_shared", scope="shared")
    body = seq(_ew("B", a, b, lambda x: x * const(2.0)), _copy("B_shared", b, bs),
               _ew("C", bs, c, lambda x: x + const(1.0)))
    assert_structural_equal(sch.func, PrimFunc((a, c), root(body, allocs=(b, bs))))
    assert_same(f, sch.func)


def test_cache_read_of_an_input_goes_first():
    f, (a, b, c) = chain(4, 6)
    sch = _sch(f)
    sch.cache_read(sch.get_block("B"), 0, "local")
    al = decl_buffer((4, 6), name="A_local", scope="local")
    body = seq(_copy("A_local", a, al), _ew("B", al, b, lambda x: x * const(2.0)),
               _ew("C", b, c, lambda x: x + const(1.0)))
    assert_structural_equal(sch.func, PrimFunc((a, c), root(body, allocs=(b, al))))
    assert_same(f, sch.func)


def test_cache_write_expected_ir():
    f, (a, b, c) = chain(4, 6)
    sch = _sch(f)
    rv = sch.cache_write(sch.get_block("C"), 0, "local")
    assert sch.get(rv).name_hint == "C_local"
    cl = decl_buffer((4, 6), name="C_local", scope="local")
    body = seq(_ew("B", a, b, lambda x: x * const(2.0)), _ew("C", b, cl, lambda x: x + const(1.0)),
               _copy("C_local", cl, c))
    assert_structural_equal(sch.func, PrimFunc((a, c), root(body, allocs=(b, cl))))
    assert_same(f, sch.func)


def test_cache_write_of_an_intermediate_goes_before_its_reader():
    f, _ = chain(4, 6)
    sch = _sch(f)
    sch.cache_write(sch.get_block("B"), 0, "global")
    kids = [sch.get(x).name_hint for x in sch.get_child_blocks(sch.get_block("root"))]
    assert kids == ["B", "B_global", "C"]
    assert_same(f, sch.func)


def test_cache_read_consumer_blocks():
    f, _ = testing.softmax(3, 7)
    sch = _sch(f)
    norm = sch.get_block("T_softmax_norm")
    sch.cache_read(norm, "T_softmax_exp", "local", consumer_blocks=[norm])
    kids = [sch.get(x).name_hint for x in sch.get_child_blocks(sch.get_block("root"))]
    assert kids == ["T_softmax_maxelem", "T_softmax_exp", "T_softmax_expsum",
                    "T_softmax_exp_local", "T_softmax_norm"]
    expsum_reads = [r.buffer.name for r in sch.get(sch.get_block("T_softmax_expsum")).reads]
    assert "T_softmax_exp" in expsum_reads
    assert "T_softmax_exp_local" in [r.buffer.name for r in sch.get(norm).reads]
    assert_same(f, sch.func)


def test_cache_write_consumer_blocks_read_the_cache():
    f, _ = chain(4, 6)
    sch = _sch(f)
    c = sch.get_block("C")
    sch.cache_write(sch.get_block("B"), 0, "local", consumer_blocks=[c])
    assert [r.buffer.name for r in sch.get(c).reads] == ["B_local"]
    kids = [sch.get(x).name_hint for x in sch.get_child_blocks(sch.get_block("root"))]
    assert kids == ["B", "C", "B_local"]
    assert_same(f, sch.func)


def test_cache_write_of_a_reduction():
    f, _ = testing.matmul(8, 12, 6)
    sch = _sch(f)
    c = sch.get_block("C")
    sch.cache_write(c, 0, "local")
    blk = sch.get(c)
    assert blk.init.buffer.name == "C_local" and blk.body.buffer.name == "C_local"
    assert_same(f, sch.func)


def test_tiling_pattern_with_caches():
    f, _ = testing.matmul(16, 12, 10)
    sch = _sch(f)
    c = sch.get_block("C")
    cw = sch.cache_write(c, 0, "local")
    i, j, k = sch.get_loops(c)
    i0, i1 = sch.split(i, [4, 4])
    j0, j1 = sch.split(j, [3, 4])
    k0, k1 = sch.split(k, [None, 4])
    sch.reorder(i0, j0, k0, i1, k1, j1)
    sch.compute_at(sch.cache_read(c, "A", "shared"), k0)
    sch.compute_at(sch.cache_read(c, "B", "shared"), k0)
    sch.reverse_compute_at(cw, j0)
    a_loops = sch.get_loops(sch.get_block("A_shared"))
    assert [sch.get(x).extent.value for x in a_loops[3:]] == [4, 4]
    assert_same(f, sch.func)
    replay = tir.Schedule(f, debug_mask="all")
    sch.trace.apply_to_schedule(replay, False)
    assert_structural_equal(replay.func, sch.func)


def test_fresh_names():
    f, _ = chain()
    g, n1 = cache_read(f, "C", 0, "shared")
    g, n2 = cache_write(g, "B", 0, "shared")
    assert (n1, n2) == ("B_shared", "B_shared_1")
    assert [b.name for b in g.body.block.alloc_buffers] == ["B", "B_shared", "B_shared_1"]
    assert_same(f, g)


# ----------------------------------------------------------------------------------------
# illegal uses


def test_invalid_storage_scope():
    f, _ = chain()
    with pytest.raises(ScheduleError, match="cache_read: invalid storage scope 'texture3'"):
        cache_read(f, "C", 0, "texture3")


def test_buffer_index_out_of_range():
    f, _ = chain()
    with pytest.raises(ScheduleError, match=r"cache_write: block C has 1 write region\(s\) "
                                            r"\['C'\], so the buffer index must be in \[0, 1\)"):
        cache_write(f, "C", 1, "local")


def test_consumer_block_must_read_the_buffer():
    f, _ = chain()
    with pytest.raises(ScheduleError, match="consumer block 'B' does not read B"):
        cache_read(f, "C", 0, "local", ["B"])


def test_multiple_writers():
    f = two_writers()
    with pytest.raises(ScheduleError, match=r"buffer B is written by 2 blocks \['B0', 'B1'\]"):
        cache_read(f, "C", 0, "local")
    with pytest.raises(ScheduleError, match="block B0 is not the only writer of B"):
        cache_write(f, "B0", 0, "local")


def test_cache_read_of_the_blocks_own_output():
    f, _ = testing.matmul(4, 4, 4)
    sch = _sch(f)
    c = sch.get_block("C")
    sch.decompose_reduction(c, sch.get_loops(c)[0])  # the update now reads C
    idx = [r.buffer.name for r in sch.get(c).reads].index("C")
    with pytest.raises(ScheduleError, match="block C writes C itself"):
        sch.cache_read(c, idx, "local")
