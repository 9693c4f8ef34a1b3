"""PerStoreFeature: slot layout, hand-computed values, schedule sensitivity, docs in sync."""

from __future__ import annotations

import os

import numpy as np
import pytest

from onnxtune.tir import testing
from onnxtune.tir.schedule import Schedule
from onnxtune.tuner.feature_extractor import FeatureExtractor
from onnxtune.tuner.feature_extractor.feature_table import features_markdown
from onnxtune.tuner.feature_extractor.per_store_feature import PerStoreFeature
from onnxtune.tuner.search_strategy.search_strategy import MeasureCandidate

DOCS = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "features.md")


def raw(row: np.ndarray, ext: PerStoreFeature, name: str) -> float:
    """A slot's value with the log2(1+x) scaling undone."""
    v = float(row[ext.feature_names.index(name)])
    f = ext.feature_table()[ext.feature_names.index(name)]
    return 2.0 ** v - 1.0 if f.scaling.startswith("log2") else v


def tiny_matmul(vectorize: bool = False) -> Schedule:
    """C[8, 12] = A[8, 6] @ B[6, 12], loops i0(2) j0(3) k(6) i1(4) j1(4)."""
    func, _ = testing.matmul(8, 12, 6)
    sch = Schedule(func, seed=0)
    b = sch.get_sblock("C")
    i, j, k = sch.get_loops(b)
    i0, i1 = sch.split(i, [2, 4])
    j0, j1 = sch.split(j, [3, 4])
    sch.reorder(i0, j0, k, i1, j1)
    if vectorize:
        sch.vectorize(j1)
    return sch


def test_create_and_length():
    ext = FeatureExtractor.create("per-store-feature")
    assert isinstance(ext, PerStoreFeature)
    assert ext.feature_vector_length == len(ext.feature_names) == 156
    assert len(set(ext.feature_names)) == ext.feature_vector_length
    ext2 = PerStoreFeature(buffers_per_store=2, arith_intensity_curve_num_samples=4,
                           extract_workload=True)
    assert ext2.feature_vector_length == 156 - 3 * 20 - 6 + 6
    with pytest.raises(ValueError, match="buffers_per_store"):
        PerStoreFeature(buffers_per_store=0)


def test_trip_counts_and_buffers_match_hand_computed_values():
    ext = PerStoreFeature()
    m = ext.extract_func(tiny_matmul())
    assert m.shape == (2, ext.feature_vector_length) and m.dtype == np.float32
    init, update = m
    # init: runs once per (i, j), the reduction loop k is not counted
    assert raw(init, ext, "is_init") == 1
    assert raw(init, ext, "outer_prod") == pytest.approx(96)
    assert raw(init, ext, "num_loops") == pytest.approx(4)
    # update: 8 * 12 * 6 multiply-adds, five loops, innermost j1 of extent 4
    assert raw(update, ext, "is_init") == 0
    assert raw(update, ext, "is_reduction_update") == 1
    assert raw(update, ext, "outer_prod") == pytest.approx(576)
    assert raw(update, ext, "float_mad") == pytest.approx(576)
    assert raw(update, ext, "float_mul") == 0 and raw(update, ext, "float_add_sub") == 0
    assert raw(update, ext, "num_loops") == pytest.approx(5)
    assert raw(update, ext, "innermost_extent") == pytest.approx(4)
    # buffers sorted by lines: C (read+write) first, then A and B
    got = {}
    for b in range(3):
        kind = [raw(update, ext, f"B{b}.acc_{t}") for t in ("read", "write", "read_write")]
        got[b] = {name: raw(update, ext, f"B{b}.{name}") for name in (
            "bytes", "unique_bytes", "reuse_ct", "reuse_dis_iter", "stride", "inner_stride",
            "reuse_loop_multiple_read")}
        got[b]["kind"] = kind
    c = got[0]
    # A and B tie on lines and bytes: tell them apart by their footprints
    a, bb = sorted((got[1], got[2]), key=lambda g: g["unique_bytes"])
    assert c["kind"] == [0, 0, 1]
    assert c["bytes"] == pytest.approx(576 * 2 * 4)  # read and write each iteration
    assert c["unique_bytes"] == pytest.approx(8 * 12 * 4)
    assert c["reuse_ct"] == pytest.approx(6)  # k does not move C[i, j]
    assert c["reuse_dis_iter"] == pytest.approx(16)  # i1 * j1 iterations between reuses
    assert c["stride"] == pytest.approx(1) and c["inner_stride"] == pytest.approx(1)
    assert bb["kind"] == [1, 0, 0]
    assert bb["unique_bytes"] == pytest.approx(6 * 12 * 4)
    assert bb["reuse_ct"] == pytest.approx(4) and bb["reuse_dis_iter"] == pytest.approx(4)
    assert a["kind"] == [1, 0, 0]
    assert a["bytes"] == pytest.approx(576 * 4)
    assert a["unique_bytes"] == pytest.approx(8 * 6 * 4)
    assert a["reuse_ct"] == pytest.approx(4) and a["reuse_dis_iter"] == pytest.approx(1)
    assert a["stride"] == pytest.approx(6)  # innermost loop moving A[i, k] is i1
    assert a["inner_stride"] == 0  # j1 broadcasts A
    # empty buffer slots are zero
    assert not update[ext.feature_names.index("B3.bytes")]
    # the arithmetic intensity curve ends at the whole nest: 2*576 flops / bytes touched
    total_bytes = (8 * 12 + 6 * 12 + 8 * 6) * 4
    assert raw(update, ext, "arith_intensity_9") == pytest.approx(2 * 576 / total_bytes,
                                                                  rel=1e-5)


def test_vectorize_changes_exactly_the_vector_slots():
    ext = PerStoreFeature()
    plain = ext.extract_func(tiny_matmul(False))
    vec = ext.extract_func(tiny_matmul(True))
    changed = {ext.feature_names[i] for i in np.nonzero((plain != vec).any(axis=0))[0]}
    assert changed, "vectorize left the features unchanged"
    allowed = {"vec_num", "vec_prod", "vec_len", "vec_pos_inner", "vec_pos_none"}
    allowed |= {f"B{b}.vec_stride" for b in range(5)}
    assert changed <= allowed, changed - allowed
    assert {"vec_num", "vec_len", "vec_pos_inner", "vec_pos_none"} <= changed
    upd = vec[1]
    assert raw(upd, ext, "vec_len") == pytest.approx(4)
    assert raw(upd, ext, "vec_pos_inner") == 1 and raw(upd, ext, "vec_pos_none") == 0
    assert raw(upd, ext, "B0.vec_stride") == pytest.approx(1)  # C: contiguous in j1
    assert raw(plain[1], ext, "vec_pos_none") == 1


def test_parallel_unroll_and_annotation_slots():
    sch = tiny_matmul()
    b = sch.get_sblock("C")
    i0, j0, k, i1, j1 = sch.get_loops(b)
    sch.parallel(i0)
    sch.unroll(i1)
    sch.annotate(i0, "pragma_auto_unroll_max_step", 64)
    ext = PerStoreFeature()
    upd = ext.extract_func(sch)[1]
    assert raw(upd, ext, "parallel_len") == pytest.approx(2)
    assert raw(upd, ext, "parallel_pos_outer") == 1
    assert raw(upd, ext, "unroll_len") == pytest.approx(4)
    assert raw(upd, ext, "unroll_pos_middle") == 1
    assert raw(upd, ext, "auto_unroll_max_step") == pytest.approx(64)


def test_tiling_changes_reuse_and_lines():
    ext = PerStoreFeature()
    func, _ = testing.matmul(64, 64, 64)
    rows = []
    for jt in (1, 16):
        sch = Schedule(func)
        i, j, k = sch.get_loops(sch.get_sblock("C"))
        j0, j1 = sch.split(j, [None, jt])
        sch.reorder(i, j0, k, j1)
        rows.append(ext.extract_func(sch)[1])
    names = ext.feature_names
    assert rows[0][names.index("outer_prod")] == rows[1][names.index("outer_prod")]
    # with j1 = 16 innermost, B is read along rows (stride 1) instead of columns
    assert not np.array_equal(rows[0], rows[1])


def test_conv2d_with_padding_cache_write_and_fused_loops():
    func, _ = testing.conv2d_nchw(1, 8, 10, 10, 8, 3, 3, padding=1)
    sch = Schedule(func, seed=3)
    b = sch.get_sblock("conv2d_nchw")
    n, k, h, w, rc, ry, rx = sch.get_loops(b)
    fused = sch.fuse(n, k, h)
    sch.parallel(fused)
    sch.cache_write(b, 0, "global")
    ext = PerStoreFeature(extract_workload=True)
    cand = MeasureCandidate(sch, [])

    class Ctx:
        mod = func

    (m,) = ext.extract_from(Ctx(), [cand])
    assert m.shape[1] == ext.feature_vector_length
    assert m.shape[0] == 4  # pad, conv init, conv update, copy-out of the cache
    assert np.isfinite(m).all()
    names = ext.feature_names
    pad = m[0]
    assert raw(pad, ext, "select_op") > 0 and raw(pad, ext, "alloc_size") > 0
    # the workload slots are the same on every row
    wl = [names.index(n) for n in names if n.startswith("wl_")]
    assert (m[:, wl] == m[0, wl]).all() and (m[0, wl[:-1]] > 0).all()
    with pytest.raises(ValueError, match="needs a TuneContext"):
        ext.extract_from(None, [cand])


def test_extract_from_many_candidates_shapes():
    ext = PerStoreFeature()
    cands = [MeasureCandidate(tiny_matmul(v), []) for v in (False, True)]
    out = ext.extract_from(None, cands)
    assert [a.shape for a in out] == [(2, 156), (2, 156)]


def test_docs_are_generated_from_the_table():
    with open(DOCS, encoding="utf-8") as f:
        text = f.read()
    assert text == features_markdown(), (
        "docs/features.md is stale: run python -m "
        "onnxtune.tuner.feature_extractor.per_store_feature docs/features.md")
    for name in PerStoreFeature(extract_workload=True).feature_names:
        assert f"`{name}`" in text


def test_fused_loop_non_affine_indices():
    """C[f // 12, f % 12] over a fused loop f: floordiv/floormod indices go through
    interval bounds and finite differences."""
    func, _ = testing.matmul(8, 12, 6)
    sch = Schedule(func)
    i, j, k = sch.get_loops(sch.get_sblock("C"))
    sch.reorder(k, i, j)
    sch.fuse(i, j)
    ext = PerStoreFeature()
    upd = ext.extract_func(sch)[1]
    assert raw(upd, ext, "num_loops") == pytest.approx(2)
    # C read and write: 2 each, A[f // 12, k] and B[k, f % 12]: 1 each
    assert raw(upd, ext, "int_div_mod") == pytest.approx(576 * 6)
    slots = {round(raw(upd, ext, f"B{b}.unique_bytes")): b for b in range(3)}
    c = slots[8 * 12 * 4]  # C: the whole buffer
    assert raw(upd, ext, f"B{c}.inner_stride") == pytest.approx(1)  # f -> f + 1
    b = slots[6 * 12 * 4]  # B[k, f % 12]: contiguous in f as well
    assert raw(upd, ext, f"B{b}.inner_stride") == pytest.approx(1)
    a = slots[8 * 6 * 4]  # A[f // 12, k]: 0 between f = 0 and 1
    assert raw(upd, ext, f"B{a}.inner_stride") == 0
    assert raw(upd, ext, f"B{a}.reuse_loop_multiple_read") == 0  # f moves A


@pytest.mark.parametrize("name", ["conv2d_bias_relu", "softmax", "avg_pool2d"])
def test_default_space_candidates(name):
    """Post-processed candidates of the default llvm space: finite rows of the right width,
    one per store, the same features for the same program."""
    from onnxtune.tuner.tune_context import TuneContext

    make = {
        "conv2d_bias_relu": lambda: testing.conv2d_bias_relu(1, 8, 10, 10, 16, 3, 3, padding=1),
        "softmax": lambda: testing.softmax(16, 100),
        "avg_pool2d": lambda: testing.avg_pool2d(1, 8, 12, 12),
    }[name]
    func, _ = make()
    ctx = TuneContext(func, target="llvm -num-cores=2", space_generator="post-order-apply",
                      search_strategy="replay-trace", rand_state=7)
    ctx.pre_tuning(4, 4)
    cands = ctx.generate_measure_candidates()
    ext = PerStoreFeature(extract_workload=True)
    feats = ext.extract_from(ctx, cands)
    assert len(feats) == len(cands) == 4
    for c, m in zip(cands, feats, strict=True):
        assert m.ndim == 2 and m.shape[0] >= 1 and m.shape[1] == ext.feature_vector_length
        assert np.isfinite(m).all()
        np.testing.assert_array_equal(m, ext.extract_func(c, func))


def test_work_is_invariant_under_scheduling():
    """Whatever the tiling, caching and loop kinds of the default space, the rows of a
    matmul candidate add up to M*N*K multiply-adds and one init per output element."""
    from onnxtune.tuner.tune_context import TuneContext

    func, _ = testing.matmul(32, 24, 40)
    ctx = TuneContext(func, target="llvm -num-cores=2", space_generator="post-order-apply",
                      search_strategy="replay-trace", rand_state=11)
    ctx.pre_tuning(8, 8)
    ext = PerStoreFeature()
    for m in ext.extract_from(ctx, ctx.generate_measure_candidates()):
        mads = sum(raw(r, ext, "float_mad") for r in m)
        # the init (a block's init or its decomposed block) is the store that reads nothing
        inits = sum(raw(r, ext, "outer_prod") for r in m if raw(r, ext, "B1.bytes") == 0)
        assert mads == pytest.approx(32 * 24 * 40, rel=1e-5)
        assert inits == pytest.approx(32 * 24, rel=1e-5)
