"""Feature extraction speed and cost-model ranking quality on measured matmul schedules.

    python benchmarks/cost_model.py [--size 256] [--cands 150] [--train 100] [--splits 5]
                                    [--seed 0]

1. PerStoreFeature on conv2d (1×64×56×56, 64 3×3 filters, padding 1): a hand-tiled,
   vectorized, parallel schedule (cache_write + decompose_reduction + auto-unroll), and
   32 candidates of the default design space (post-order-apply, replay-trace): median
   milliseconds per candidate, wall clock and process CPU time (the CPU time is the one
   to read on a busy machine).
2. ``--cands`` random schedules of a ``size``³ float32 matmul (tiles i0 j0 k0 i1 k1 j1 j2
   from sample_perfect_tile, random vectorize / parallel / unroll), each built and timed
   (median of 3 runs); XGBModel, MLPModel and RandomModel are trained on ``--train`` of
   them and rank the rest, over ``--splits`` random splits: Spearman correlation with
   the measured throughput and a-peak@8 (mean true throughput of the model's top 8 /
   best).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def conv2d_candidate():
    from onnxtune.tir import testing
    from onnxtune.tir.schedule import Schedule

    func, _ = testing.conv2d_nchw(1, 64, 56, 56, 64, 3, 3, padding=1)
    sch = Schedule(func, seed=1)
    b = sch.get_sblock("conv2d_nchw")
    n, k, h, w, rc, ry, rx = sch.get_loops(b)
    k0, k1 = sch.split(k, sch.sample_perfect_tile(k, 2))
    h0, h1 = sch.split(h, sch.sample_perfect_tile(h, 2))
    w0, w1 = sch.split(w, [None, 8])
    sch.reorder(n, k0, h0, w0, rc, ry, rx, k1, h1, w1)
    sch.vectorize(w1)
    outer = sch.fuse(n, k0)
    sch.parallel(outer)
    sch.annotate(outer, "pragma_auto_unroll_max_step", 64)
    cw = sch.cache_write(b, 0, "global")
    sch.reverse_compute_at(cw, w0)
    sch.decompose_reduction(b, rc)
    return sch


def space_candidates(n: int = 32):
    """``n`` conv2d candidates of the default llvm design space, post-processed."""
    from onnxtune.tir import testing
    from onnxtune.tuner.tune_context import TuneContext

    func, _ = testing.conv2d_nchw(1, 64, 56, 56, 64, 3, 3, padding=1)
    ctx = TuneContext(func, target="llvm -num-cores=2", space_generator="post-order-apply",
                      search_strategy="replay-trace", rand_state=1)
    ctx.pre_tuning(n, n)
    return ctx.generate_measure_candidates()


def _time(fn, reps: int) -> tuple[float, float]:
    """Median wall and process-CPU milliseconds of ``fn()``."""
    wall, cpu = [], []
    for _ in range(reps):
        w, c = time.perf_counter(), time.process_time()
        fn()
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
    return statistics.median(wall) * 1e3, statistics.median(cpu) * 1e3


def matmul_candidate(func, seed: int):
    from onnxtune.tir.schedule import Schedule

    rng = np.random.default_rng(seed)
    sch = Schedule(func, seed=seed)
    b = sch.get_sblock("C")
    i, j, k = sch.get_loops(b)
    i0, i1 = sch.split(i, sch.sample_perfect_tile(i, 2, max_innermost_factor=64))
    j0, j1, j2 = sch.split(j, sch.sample_perfect_tile(j, 3, max_innermost_factor=32))
    k0, k1 = sch.split(k, sch.sample_perfect_tile(k, 2, max_innermost_factor=64))
    sch.reorder(i0, j0, k0, i1, k1, j1, j2)
    if rng.integers(3):
        sch.vectorize(j2)
    if rng.integers(2):
        sch.parallel(i0)
    if rng.integers(3) == 0:
        sch.unroll(j1)
    return sch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--cands", type=int, default=150)
    ap.add_argument("--train", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--splits", type=int, default=5)
    args = ap.parse_args()

    from onnxtune.compile import build
    from onnxtune.tir import testing
    from onnxtune.tuner.cost_model import MLPModel, RandomModel, XGBModel
    from onnxtune.tuner.cost_model.metric import average_peak_score, spearman
    from onnxtune.tuner.feature_extractor.per_store_feature import PerStoreFeature
    from onnxtune.tuner.runner.runner import RunnerResult
    from onnxtune.tuner.search_strategy.search_strategy import MeasureCandidate

    ext = PerStoreFeature()
    sch = conv2d_candidate()
    rows = ext.extract_func(sch).shape[0]
    print(f"feature extraction ({ext.feature_vector_length} features per store):")
    wall, cpu = _time(lambda: ext.extract_func(sch), 200)
    print(f"  hand-tiled conv2d ({rows} stores): {wall:.2f} ms wall, {cpu:.2f} ms CPU "
          "per candidate (median of 200)")
    try:
        cands = space_candidates()
    except Exception as e:  # the space generator is optional here
        print(f"  default design space unavailable: {e}")
    else:
        rows = sorted({ext.extract_func(c).shape[0] for c in cands})
        wall, cpu = _time(lambda: ext.extract_from(None, cands), 10)
        print(f"  {len(cands)} conv2d candidates of the default space (stores {rows}): "
              f"{wall / len(cands):.2f} ms wall, {cpu / len(cands):.2f} ms CPU per candidate")

    n = args.size
    func, _ = testing.matmul(n, n, n)
    scheds = [matmul_candidate(func, args.seed * 100000 + s) for s in range(args.cands)]
    wall, cpu = _time(lambda: ext.extract_from(None, scheds), 3)
    print(f"  {len(scheds)} matmul candidates: {wall / len(scheds):.2f} ms wall, "
          f"{cpu / len(scheds):.2f} ms CPU per candidate")

    rng = np.random.default_rng(args.seed)
    a = rng.standard_normal((n, n)).astype(np.float32)
    b = rng.standard_normal((n, n)).astype(np.float32)
    c = np.zeros((n, n), np.float32)
    lat = []
    t0 = time.perf_counter()
    for s in scheds:
        mod = build(s.mod)
        timer = mod.time_evaluator("main", number=1, repeat=3, min_repeat_ms=10)
        lat.append(statistics.median(timer(a, b, c).results))
    lat = np.array(lat)
    print(f"measured {len(lat)} matmul {n}^3 candidates in {time.perf_counter() - t0:.0f} s: "
          f"{2 * n**3 / lat.min() / 1e9:.1f} .. {2 * n**3 / lat.max() / 1e9:.2f} GFLOPS")

    cands = [MeasureCandidate(s, []) for s in scheds]
    makers = {
        "xgb": lambda seed: XGBModel(num_warmup_samples=0, seed=seed),
        "mlp": lambda seed: MLPModel(num_warmup_samples=0, seed=seed),
        "random": lambda seed: RandomModel(seed=seed),
    }
    scores: dict[str, list] = {k: [] for k in makers}
    for split in range(args.splits):
        perm = np.random.default_rng(1000 + split).permutation(len(cands))
        tr, te = perm[:args.train], perm[args.train:]
        y = lat[te].min() / lat[te]
        for name, make in makers.items():
            model = make(split)
            t = time.perf_counter()
            model.update(None, [cands[i] for i in tr],
                         [RunnerResult([float(lat[i])], None) for i in tr])
            p = model.predict(None, [cands[i] for i in te])
            scores[name].append((spearman(p, y), average_peak_score(p, y, 8),
                                 time.perf_counter() - t))
    print(f"ranking the {len(cands) - args.train} held-out candidates after training on "
          f"{args.train}, mean ± std over {args.splits} random splits:")
    print(f"{'model':8s} {'spearman':>15s} {'a-peak@8':>15s} {'fit s':>6s}")
    for name, rows in scores.items():
        r = np.array(rows)
        print(f"{name:8s} {r[:, 0].mean():7.3f} ± {r[:, 0].std():5.3f} "
              f"{r[:, 1].mean():7.3f} ± {r[:, 1].std():5.3f} {r[:, 2].mean():6.2f}")


if __name__ == "__main__":
    main()
