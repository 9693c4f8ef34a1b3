"""Schedule fork + trace replay speed: the tuner's inner loop.

    python benchmarks/schedule_replay.py [--repeat 300]

Builds a ResNet-style conv2d (1x64x56x56, 64 filters 3x3, pad 1), schedules it with a
MetaSchedule-like trace of about 30 instructions (multi-level tiling with sampled tile
sizes, a cached write-back moved by reverse_compute_at, root annotations, a sampled
compute location for the padding, fuse + parallel + vectorize), then measures
``sch.copy()`` of the unscheduled schedule + ``trace.apply_to_schedule`` (the evolutionary
search does this thousands of times per round). Prints the median (over batches of 10)
and mean time per fork + replay (target: < 5 ms), its thread CPU time, and the mean time
of each instruction kind.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
from collections import defaultdict

from onnxtune import tir
from onnxtune.tir import IterType


def conv2d_func() -> tir.PrimFunc:
    """The conv2d workload: TE if available, else the test suite's TE-form builder."""
    try:
        from onnxtune.tir import te
    except ImportError:
        here = os.path.dirname(os.path.abspath(__file__))
        sys.path.insert(0, os.path.join(here, "..", "tests", "tir"))
        from schedule_workloads import conv2d

        return conv2d(1, 64, 56, 56, 64, 3, 1)[0]
    a = te.placeholder((1, 64, 56, 56), name="A")
    w = te.placeholder((64, 64, 3, 3), name="W")
    pad = te.compute(
        (1, 64, 58, 58),
        lambda n, c, y, x: tir.if_then_else(
            tir.all(y >= 1, y < 57, x >= 1, x < 57), a[n, c, y - 1, x - 1], 0.0),
        name="pad")
    rc, ry, rx = (te.reduce_axis((0, e), name=k) for e, k in ((64, "rc"), (3, "ry"), (3, "rx")))
    out = te.compute(
        (1, 64, 56, 56),
        lambda n, f, y, x: te.sum(pad[n, rc, y + ry, x + rx] * w[f, rc, ry, rx],
                                  axis=[rc, ry, rx]),
        name="conv")
    return te.create_prim_func([a, w, out])


def _has(method: str) -> bool:
    """True if a block primitive is implemented (it raises NotImplementedError if not)."""
    from onnxtune.tir.schedule.schedule_blocks import block_primitive

    try:
        block_primitive(method)
        return True
    except NotImplementedError:
        return False


def schedule(sch: tir.Schedule) -> None:
    """A MetaSchedule-like CPU trace: multi-level tiling "SSRSRS" of the reduction block
    with a cached write-back, the root's parallel/vectorize/unroll annotations, a sampled
    compute location for the padding, then post-processing (fuse + parallel + vectorize)."""
    root = sch.get_block("root")
    blocks = sch.get_child_blocks(root)
    conv = next(b for b in blocks
                if any(iv.iter_type == IterType.COMM_REDUCE for iv in sch.get(b).iter_vars))
    pad = next(b for b in blocks if sch.get(b).name_hint != sch.get(conv).name_hint)
    sch.annotate(conv, "meta_schedule.tiling_structure", "SSRSRS")
    loops = sch.get_loops(conv)
    spatial, reduce_ = loops[:4], loops[4:]
    s_tiles = [sch.split(lp, sch.sample_perfect_tile(lp, 4, 16)) for lp in spatial]
    r_tiles = [sch.split(lp, sch.sample_perfect_tile(lp, 2, 16)) for lp in reduce_]
    s0, s1, s2, s3 = zip(*s_tiles, strict=True)
    r0, r1 = zip(*r_tiles, strict=True)
    sch.reorder(*s0, *s1, *r0, *s2, *r1, *s3)
    if _has("cache_write") and _has("reverse_compute_at"):
        cw = sch.cache_write(conv, 0, "global")
        sch.reverse_compute_at(cw, s1[-1], preserve_unit_loops=True)
    sch.annotate(root, "meta_schedule.parallel", 32)
    sch.annotate(root, "meta_schedule.vectorize", 32)
    v = sch.sample_categorical([0, 16, 64, 512], [0.25, 0.25, 0.25, 0.25])
    sch.annotate(root, "meta_schedule.unroll_explicit", v)
    if _has("compute_location_candidates") and _has("compute_at"):
        sch.compute_at(pad, sch.sample_compute_location(pad))
    sch.enter_postproc()
    outer = sch.fuse(*s0)
    sch.parallel(outer)
    sch.vectorize(s3[-1])


def timed_replay(trace: tir.Trace, sch: tir.Schedule, stats: dict) -> None:
    """``trace.apply_to_schedule`` with the time of each instruction added to ``stats``."""
    rv_map: dict = {}

    def m(x):
        if isinstance(x, tuple):
            return tuple(m(v) for v in x)
        return rv_map.get(x, x) if isinstance(x, (tir.BlockRV, tir.LoopRV, tir.ExprRV)) else x

    for inst in trace.insts:
        inputs = [m(x) for x in inst.inputs]
        t0 = time.perf_counter()
        outs = inst.kind.apply_to_schedule(sch, inputs, inst.attrs, trace.get_decision(inst))
        stats[inst.kind.name].append(time.perf_counter() - t0)
        rv_map.update(zip(inst.outputs, outs, strict=True))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=300)
    args = ap.parse_args()
    func = conv2d_func()
    sch = tir.Schedule(func, seed=0)
    schedule(sch)
    trace = sch.trace
    base = tir.Schedule(func, seed=0)
    for _ in range(10):  # warm caches
        trace.apply_to_schedule(base.copy(), remove_postproc=False)
    batch = 10  # the median of batches: a busy machine inflates the mean
    walls, cpus = [], []
    for _ in range(max(1, args.repeat // batch)):
        t0, c0 = time.perf_counter(), time.thread_time()
        for _ in range(batch):
            trace.apply_to_schedule(base.copy(), remove_postproc=False)
        walls.append((time.perf_counter() - t0) / batch)
        cpus.append((time.thread_time() - c0) / batch)
    per = sum(walls) / len(walls)
    med = sorted(walls)[len(walls) // 2]
    per_cpu = sorted(cpus)[len(cpus) // 2]
    prof = cProfile.Profile()  # function calls: a cost measure that machine load leaves alone
    n_prof = min(args.repeat, 20)
    prof.enable()
    for _ in range(n_prof):
        trace.apply_to_schedule(base.copy(), remove_postproc=False)
    prof.disable()
    calls = pstats.Stats(prof).total_calls / n_prof
    t0 = time.perf_counter()
    for _ in range(args.repeat):
        base.copy()
    fork = (time.perf_counter() - t0) / args.repeat
    stats: dict = defaultdict(list)
    n_rep = min(args.repeat, 100)
    for _ in range(n_rep):
        timed_replay(trace, base.copy(), stats)
    print(f"conv2d 1x64x56x56, 64x3x3 filters; trace of {len(trace)} instructions")
    print(f"fork + replay: median {med * 1e3:.2f} ms, mean {per * 1e3:.2f} ms  (target < 5 ms; "
          f"fork alone {fork * 1e6:.1f} us)")
    print(f"  thread cpu median {per_cpu * 1e3:.2f} ms; {calls:,.0f} Python function calls per "
          f"fork + replay; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cpus")
    print(f"{'instruction':24s} {'count':>5s} {'mean us':>9s} {'total us':>9s}")
    for kind, ts in sorted(stats.items(), key=lambda kv: -sum(kv[1])):
        count = len(ts) // n_rep
        mean = sum(ts) / len(ts) * 1e6
        print(f"{kind:24s} {count:5d} {mean:9.1f} {mean * count:9.1f}")

if __name__ == "__main__":
    main()
