"""MultiLevelTiling: which blocks it tiles, the SSRSRS structure, and the write cache."""

from __future__ import annotations

import numpy as np
import pytest

from onnxtune.compile import build
from onnxtune.tir import te, testing
from onnxtune.tir.expr import IterType
from onnxtune.tir.schedule import Schedule
from onnxtune.tuner.schedule_rule import MultiLevelTiling, ReuseType
from onnxtune.tuner.schedule_rule import analysis as A


def llvm_mlt(**kw) -> MultiLevelTiling:
    args = dict(structure="SSRSRS", tile_binds=None, max_innermost_factor=64,
                vector_load_lens=None, reuse_read=None,
                reuse_write=ReuseType(req="may", levels=[1, 2], scope="global"))
    args.update(kw)
    return MultiLevelTiling(**args)


def _apply(func, block: str, rule=None, seed: int = 0) -> list[Schedule]:
    sch = Schedule(func, seed=seed)
    return (rule or llvm_mlt()).apply(sch, sch.get_block(block))


def _insts(sch) -> list:
    return list(sch.trace.insts)


def _tiles(sch) -> list[tuple[int, list[int]]]:
    """(n, decision) of every sample_perfect_tile, in order."""
    return [(i.attrs[0], sch.trace.get_decision(i)) for i in _insts(sch)
            if i.kind.name == "SamplePerfectTile"]


def test_matmul_space_structure():
    func, _ = testing.matmul(64, 48, 32)
    spaces = _apply(func, "C", seed=3)
    assert len(spaces) == 3  # no write cache, cache at level 1, cache at level 2
    for k, s in enumerate(spaces):
        tiles = _tiles(s)
        # i and j split in 4 (the S of SSRSRS), k in 2 (the R)
        assert [n for n, _ in tiles] == [4, 4, 2]
        for (_, d), ext in zip(tiles, (64, 48, 32), strict=True):
            assert int(np.prod(d)) == ext and d[-1] <= 64
        names = [i.kind.name for i in _insts(s)]
        assert names.count("CacheWrite") == (0 if k == 0 else 1)
        assert names.count("ReverseComputeAt") == (0 if k == 0 else 1)
        assert s.get(s.get_block("C")).annotations[A.TILING_STRUCTURE] == "SSRSRS"
        # the loop nest of C reads S S R S R S: i0 j0 | i1 j1 | k0 | i2 j2 | k1 | i3 j3
        loc = A.locate(s, s.get_block("C"))
        kinds = [A.loop_iter_type(loc, f) for f in loc.loops()]
        D, R = IterType.DATA_PAR, IterType.COMM_REDUCE
        assert kinds == [D, D, D, D, R, D, D, R, D, D]
    # the cache sits under the innermost loop of the first / second spatial tile level
    for level, s in ((1, spaces[1]), (2, spaces[2])):
        rca = [i for i in _insts(s) if i.kind.name == "ReverseComputeAt"][0]
        loc = A.locate(s, s.get_block("C"))
        cache = [n for n in A.index(s.func).order if n.startswith("C") and n != "C"]
        assert len(cache) == 1
        cloc = A.index(s.func).block(cache[0])
        assert len(cloc.loops()) == 2 * level + 2  # its own 2 loops below the tile loops
        assert rca.attrs[0] is True  # preserve_unit_loops
        assert loc.loops()[2 * level - 1] in cloc.loops()


def test_tiled_programs_are_correct():
    func, ref = testing.matmul(12, 10, 7)
    args = testing.make_args(func, seed=2)
    for s in _apply(func, "C", seed=9):
        out = [a.copy() for a in args]
        build(s.mod, target="llvm -opt-level=0")["main"](*out)
        np.testing.assert_allclose(out[-1], ref(*args[:-1]), rtol=1e-5, atol=1e-5)


def test_elementwise_consumer_acts_as_the_write_cache():
    func, _ = testing.conv2d_bias_relu(1, 3, 6, 6, 4, 3, 3, padding=1)
    sch = Schedule(func)
    sch.compute_inline(sch.get_block("T_add"))  # as AutoInline does first
    spaces = llvm_mlt().apply(sch, sch.get_block("conv2d_nchw"))
    assert len(spaces) == 3
    for k, s in enumerate(spaces):
        names = [i.kind.name for i in _insts(s)]
        assert "CacheWrite" not in names
        assert names.count("ReverseComputeAt") == (1 if k < 2 else 0)
        tiles = _tiles(s)
        assert [n for n, _ in tiles] == [4, 4, 4, 4, 2, 2, 2]


def test_blocks_without_reuse_are_not_tiled():
    cases = [
        (testing.softmax(4, 9)[0], "T_softmax_maxelem"),
        (testing.add((4, 5), (4, 5))[0], "T_add"),
        (testing.max_pool2d(1, 2, 8, 8)[0], "pool_max"),
        (testing.layer_norm(4, 8)[0], "T_mean_sum"),
    ]
    for func, block in cases:
        (s,) = _apply(func, block)
        assert len(s.trace) == 1  # only get_block: nothing applied
    for func, block in ((testing.matmul(4, 4, 4)[0], "root"),):
        assert len(_apply(func, block)[0].trace) == 1


def test_dense_batch_matmul_and_conv2d_are_tiled():
    for func, block, n_tiles in (
        (testing.dense(8, 16, 12)[0], "T_matmul_NT", [4, 4, 2]),
        (testing.batch_matmul(2, 8, 6, 4)[0], "batch_matmul", [4, 4, 4, 2]),
        (testing.conv2d_nchw(1, 4, 8, 8, 8, 3, 3)[0], "conv2d_nchw", [4] * 4 + [2] * 3),
    ):
        spaces = _apply(func, block)
        assert len(spaces) == 3, block
        assert [n for n, _ in _tiles(spaces[0])] == n_tiles


def test_already_tiled_block_is_skipped():
    func, _ = testing.matmul(8, 8, 8)
    s = _apply(func, "C")[0]
    assert llvm_mlt().apply(s, s.get_block("C")) == [s]


def test_reuse_write_off_and_must():
    func, _ = testing.matmul(16, 16, 16)
    (s,) = _apply(func, "C", llvm_mlt(reuse_write=None))
    assert "CacheWrite" not in [i.kind.name for i in _insts(s)]
    must = _apply(func, "C", llvm_mlt(reuse_write={"req": "must", "levels": [2],
                                                   "scope": "global"}))
    assert len(must) == 1 and "CacheWrite" in [i.kind.name for i in _insts(must[0])]


def test_write_cache_level_annotation_forces_the_levels():
    func, _ = testing.matmul(16, 16, 16)
    sch = Schedule(func)
    b = sch.get_block("C")
    sch.annotate(b, A.WRITE_CACHE_LEVEL, [1])
    spaces = llvm_mlt().apply(sch, b)
    assert len(spaces) == 1
    assert "CacheWrite" in [i.kind.name for i in _insts(spaces[0])]


def test_reuse_read_adds_cache_reads_at_a_level():
    func, ref = testing.matmul(8, 12, 6)
    rule = llvm_mlt(reuse_write=None, reuse_read=ReuseType("must", [1], "global"))
    (s,) = _apply(func, "C", rule)
    names = [i.kind.name for i in _insts(s)]
    assert names.count("CacheRead") == 2 and names.count("ComputeAt") == 2
    args = testing.make_args(func, seed=1)
    out = [a.copy() for a in args]
    build(s.mod, target="llvm -opt-level=0")["main"](*out)
    np.testing.assert_allclose(out[-1], ref(*args[:-1]), rtol=1e-5, atol=1e-5)


def test_filter_fn_selects_blocks_and_other_structures():
    a = te.placeholder((8, 8), name="A")
    b = te.compute((8, 8), lambda i, j: a[i, j] + 1.0, name="B")
    func = te.create_prim_func([a, b])
    rule = llvm_mlt(structure="SS", reuse_write=None, filter_fn=lambda sch, blk: True)
    (s,) = _apply(func, "B", rule)
    assert [n for n, _ in _tiles(s)] == [2, 2]


def test_bad_arguments():
    with pytest.raises(ValueError, match="structure"):
        MultiLevelTiling(structure="SSX")
    with pytest.raises(NotImplementedError, match="CUDA"):
        MultiLevelTiling(tile_binds=["blockIdx.x"])
    with pytest.raises(ValueError, match="req"):
        MultiLevelTiling(reuse_write=ReuseType("sometimes", [1], "global"))
    with pytest.raises(ValueError, match="exceed"):
        MultiLevelTiling(structure="SRS", reuse_write=ReuseType("may", [3], "global"))
