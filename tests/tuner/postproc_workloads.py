"""Hand-built design-space schedules (what MultiLevelTiling + ParallelizeVectorizeUnroll
produce on CPU) shared by the postprocessor and mutator tests."""

from __future__ import annotations

import numpy as np

from onnxtune.compile import build
from onnxtune.tir import testing
from onnxtune.tir.schedule import Schedule

UNROLL_CANDIDATES = [0, 16, 64, 512]


def annotate_root(sch: Schedule, parallel: int = 32, vectorize: int = 64,
                  unroll: int | None = None, key: str = "meta_schedule.unroll_explicit"):
    """The root annotations of the ParallelizeVectorizeUnroll rule (unroll: the index of
    the sampled max step, None to sample)."""
    root = sch.get_block("root")
    if parallel is not None:
        sch.annotate(root, "meta_schedule.parallel", parallel)
    if vectorize is not None:
        sch.annotate(root, "meta_schedule.vectorize", vectorize)
    v = sch.sample_categorical(UNROLL_CANDIDATES, [0.25] * 4, decision=unroll)
    sch.annotate(root, key, v)


def tile_ssrsrs(sch: Schedule, block, spatial, reduce, decisions=None, max_inner=16):
    """Split each spatial loop in 4 and each reduction loop in 2, order S S R S R S."""
    decisions = decisions or {}
    sp = []
    for k, lv in enumerate(spatial):
        d = decisions.get(("s", k))
        sp.append(sch.split(lv, sch.sample_perfect_tile(lv, 4, max_inner, decision=d)))
    rd = []
    for k, lv in enumerate(reduce):
        d = decisions.get(("r", k))
        rd.append(sch.split(lv, sch.sample_perfect_tile(lv, 2, max_inner, decision=d)))
    order = ([s[0] for s in sp] + [s[1] for s in sp] + [r[0] for r in rd]
             + [s[2] for s in sp] + [r[1] for r in rd] + [s[3] for s in sp])
    sch.reorder(*order)
    return sp, rd


def tiled_matmul(m=64, n=48, k=32, seed=0, decisions=None, unroll=1, parallel=32,
                 vectorize=64, layout_free=False):
    """A matmul scheduled like TVM's CPU MultiLevelTiling (with a write cache computed at
    the second spatial tile level) and annotated for RewriteParallelVectorizeUnroll."""
    f, ref = testing.matmul(m, n, k)
    if layout_free:
        f = f.with_attr("layout_free_buffers", [1])
    sch = Schedule(f, seed=seed)
    c = sch.get_block("C")
    i, j, kk = sch.get_loops(c)
    sp, _ = tile_ssrsrs(sch, c, [i, j], [kk], decisions)
    cw = sch.cache_write(c, 0, "global")
    sch.reverse_compute_at(cw, sp[1][1])
    annotate_root(sch, parallel, vectorize, unroll)
    return sch, f, ref


def tiled_conv2d(seed=0, decisions=None, unroll=2, location=None, layout_free=False,
                 shape=(1, 4, 7, 7, 8, 3, 3)):
    """conv2d NCHW (padding 1): pad_temp at a sampled compute location, the conv block
    tiled S S R S R S over (ff, yy, xx) x (rc, ry, rx), root annotated."""
    f, ref = testing.conv2d_nchw(*shape, padding=1)
    if layout_free:
        f = f.with_attr("layout_free_buffers", [1])
    sch = Schedule(f, seed=seed)
    conv = sch.get_block("conv2d_nchw")
    _, ff, yy, xx, rc, ry, rx = sch.get_loops(conv)
    sp, _ = tile_ssrsrs(sch, conv, [ff, yy, xx], [rc, ry, rx], decisions)
    pad = sch.get_block("pad_temp")
    loc = sch.sample_compute_location(pad, decision=location)
    sch.compute_at(pad, loc)
    annotate_root(sch, 32, 64, unroll)
    return sch, f, ref


def run_and_check(func, ref, seed=0, rtol=1e-4, atol=1e-4):
    """Build ``func`` (layout-rewrite blocks kept), run it on random data, compare."""
    args = testing.make_args(func, seed)
    expected = ref(*[a.copy() for a in args[:-1]])
    build(func)["main"](*args)
    np.testing.assert_allclose(args[-1], expected, rtol=rtol, atol=atol)


def replay(trace, func, postprocs=()):
    """A fresh schedule of ``func`` with ``trace`` replayed, then ``postprocs`` applied."""
    sch = Schedule(func, seed=1)
    trace.apply_to_schedule(sch, remove_postproc=True)
    sch.enter_postproc()
    for p in postprocs:
        assert p.apply(sch), type(p).__name__
    return sch


def random_program(func, seed):
    """A random design-space-like program: the last reduction block (else the last block)
    tiled S S R S R S, sometimes with a write cache, every other block at a sampled compute
    location, and random parallel / vectorize / unroll annotations on the root."""
    from onnxtune.tir.expr import IterType
    from onnxtune.tir.schedule import ScheduleError
    from onnxtune.tir.schedule.tree import index

    sch = Schedule(func, seed=seed)
    ix = index(func)
    names = ix.order[1:]
    red = [n for n in names if ix.blocks[n].stmt.block.init is not None]
    anchor = red[-1] if red else names[-1]
    b = sch.get_block(anchor)
    loops = sch.get_loops(b)
    ivs = sch.get(b).iter_vars
    sp = [lv for lv, iv in zip(loops, ivs, strict=True) if iv.iter_type == IterType.DATA_PAR]
    rd = [lv for lv, iv in zip(loops, ivs, strict=True) if iv.iter_type != IterType.DATA_PAR]
    tiles, _ = tile_ssrsrs(sch, b, sp, rd)
    if red and sch.fork_seed() % 2 == 0:
        cw = sch.cache_write(b, 0, "global")
        sch.reverse_compute_at(cw, tiles[-1][1])
    for n in names:
        if n == anchor:
            continue
        try:
            blk = sch.get_block(n)
            sch.compute_at(blk, sch.sample_compute_location(blk))
        except ScheduleError:
            pass
    annotate_root(sch, [1, 4, 32, 64][seed % 4], [4, 16, 64][seed % 3], None)
    return sch
