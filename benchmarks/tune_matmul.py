"""Tune a float32 matmul with tune_tir and compare the best schedule with numpy.

    python benchmarks/tune_matmul.py [--n 512] [--trials 64] [--per-iter 16]
                                     [--population 512] [--work-dir DIR] [--seed 0]

Runs ``tune_tir`` (post-order-apply space, evolutionary search, XGB cost model, local
builder and runner) on an n×n×n matmul, then, in a fresh Python process that only reads
``work_dir``, recovers the best schedule with ``compile_tir``, checks it against numpy,
and times it. Prints our GFLOPS, numpy's (same process, same run), the ratio, the
tuning wall time, and whether the fresh process found the same schedule.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def _median_time(fn, repeat: int = 15, min_secs: float = 0.05) -> float:
    """Median seconds per call, each sample looping until ``min_secs``."""
    fn()
    times = []
    for _ in range(repeat):
        n, t0 = 0, time.perf_counter()
        while True:
            fn()
            n += 1
            dt = time.perf_counter() - t0
            if dt >= min_secs:
                break
        times.append(dt / n)
    return float(np.median(times))


def check_fresh(work_dir: str, n: int) -> dict:
    """Only reads work_dir: the best schedule through compile_tir, checked and timed."""
    from onnxtune.compile import build
    from onnxtune.tir import testing
    from onnxtune.tuner.database import JSONDatabase
    from onnxtune.tuner.search_strategy.search_strategy import module_key
    from onnxtune.tuner.tir_integration import compile_tir

    func, ref = testing.matmul(n, n, n)
    db = JSONDatabase(work_dir=work_dir, allow_missing=False)
    sch = compile_tir(db, func, "llvm")
    if sch is None:
        return {"found": False, "records": len(db)}
    mod = build(sch.mod, "llvm")
    args = testing.make_args(func, seed=0)
    mod["main"](*args)
    ok = bool(np.allclose(args[-1], ref(*args[:-1]), rtol=1e-3, atol=1e-3))
    secs = _median_time(lambda: mod["main"](*args))
    a, b = args[0], args[1]
    c = np.empty_like(args[-1])
    np_secs = _median_time(lambda: np.matmul(a, b, out=c))
    return {"found": True, "records": len(db), "key": module_key(sch.mod), "correct": ok,
            "secs": secs, "numpy_secs": np_secs}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=512)
    ap.add_argument("--trials", type=int, default=64)
    ap.add_argument("--per-iter", type=int, default=16)
    ap.add_argument("--population", type=int, default=512)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work-dir", default=None)
    ap.add_argument("--check-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.check_only:
        print(json.dumps(check_fresh(args.work_dir, args.n)))
        return

    from onnxtune.tir import testing
    from onnxtune.tuner import compile_tir, tune_tir
    from onnxtune.tuner.search_strategy import EvolutionarySearch
    from onnxtune.tuner.search_strategy.search_strategy import module_key

    work_dir = args.work_dir or tempfile.mkdtemp(prefix="onnxtune-tune-matmul-")
    n = args.n
    func, _ = testing.matmul(n, n, n)
    strategy = EvolutionarySearch(population_size=args.population,
                                  init_min_unmeasured=min(50, args.population))
    t0 = time.perf_counter()
    db = tune_tir(func, "llvm", work_dir, args.trials, num_trials_per_iter=args.per_iter,
                  strategy=strategy, seed=args.seed)
    wall = time.perf_counter() - t0
    best = compile_tir(db, func, "llvm")
    rec = db.query_tuning_record(func)
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--check-only",
                          "--work-dir", work_dir, "--n", str(n)],
                         capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        print(out.stderr, file=sys.stderr)
        raise SystemExit("the fresh-process check failed")
    fresh = json.loads(out.stdout.strip().splitlines()[-1])
    flop = 2.0 * n ** 3
    print(f"matmul {n}x{n}x{n} float32, {args.trials} trials ({args.per_iter} per round, "
          f"population {args.population}), work_dir {work_dir}")
    print(f"  records in the database      : {len(db)}")
    print(f"  tuning wall time             : {wall:.1f} s")
    print(f"  best measured while tuning   : {rec.mean_secs() * 1e3:.3f} ms "
          f"({flop / rec.mean_secs() / 1e9:.1f} GFLOPS)")
    if not fresh["found"]:
        raise SystemExit("compile_tir found no schedule in a fresh process")
    ours, theirs = flop / fresh["secs"] / 1e9, flop / fresh["numpy_secs"] / 1e9
    same = fresh["key"] == module_key(best.mod)
    print(f"  fresh process: compile_tir   : same schedule = {same}, correct = "
          f"{fresh['correct']}")
    print(f"  ours (median)                : {fresh['secs'] * 1e3:.3f} ms = {ours:.1f} GFLOPS")
    print(f"  numpy (median, same process) : {fresh['numpy_secs'] * 1e3:.3f} ms = "
          f"{theirs:.1f} GFLOPS")
    print(f"  ratio ours / numpy           : {ours / theirs:.2f}")


if __name__ == "__main__":
    main()
