"""Measurement overhead of the tuner's LocalBuilder and LocalRunner.

    python benchmarks/measure_overhead.py [--candidates 16] [--size 256]

Builder: throughput (candidates/s) building tiled-matmul candidates (different tile
sizes) with LocalBuilder(max_workers=2), workers already started, next to building the
same candidates one by one in this process.

Runner: wall time per candidate (run() to result), the kernel's time (median run_secs),
the time spent inside the evaluator (warm-up, timed runs, min_repeat_ms retries, cache
flushes), and the overhead = wall - evaluator time (loading the object, allocating
arguments, the round trip to the worker). The runner's kernel time is compared with an
in-process ``Module.time_evaluator`` of the same artifact (ratio ~1: the worker measures
what this process measures).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from onnxtune.tir import testing  # noqa: E402
from onnxtune.tir.schedule import Schedule  # noqa: E402
from onnxtune.tuner.arg_info import ArgInfo  # noqa: E402
from onnxtune.tuner.builder import BuilderInput, LocalBuilder, default_build, load_artifact  # noqa: E402
from onnxtune.tuner.runner import EvaluatorConfig, LocalRunner, RunnerInput  # noqa: E402
from onnxtune.tuner.runner.local_runner import default_run_evaluator  # noqa: E402
from onnxtune.tuner.runner.utils import alloc_argument_common  # noqa: E402


def candidates(size: int, count: int):
    """``count`` tiled schedules of a size^3 matmul, tile sizes varied."""
    func, _ = testing.matmul(size, size, size)
    tiles = [(ti, tj) for ti in (4, 8, 16, 32) for tj in (16, 32, 64, 128) if tj <= size]
    out = []
    for n in range(count):
        ti, tj = tiles[n % len(tiles)]
        sch = Schedule(func)
        i, j, k = sch.get_loops(sch.get_block("C"))
        i0, i1 = sch.split(i, [None, ti])
        j0, j1 = sch.split(j, [None, tj])
        sch.reorder(i0, j0, k, i1, j1)
        sch.parallel(i0)
        sch.vectorize(j1)
        out.append(sch.mod)
    return func, out


def timed_evaluator(rt_mod, device, evaluator_config, repeated_args):
    """The default evaluator, plus (as a last element) the seconds it took in all."""
    t0 = time.perf_counter()
    costs = default_run_evaluator(rt_mod, device, evaluator_config, repeated_args)
    return costs + [time.perf_counter() - t0]


def cleanup(paths):
    for p in paths:
        if p:
            shutil.rmtree(os.path.dirname(p), ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--candidates", type=int, default=16)
    ap.add_argument("--size", type=int, default=256)
    ns = ap.parse_args()
    func, mods = candidates(ns.size, ns.candidates)
    inputs = [BuilderInput(m, "llvm") for m in mods]
    print(f"matmul {ns.size}^3, {len(mods)} tiled candidates, {os.cpu_count()} CPUs\n")

    # -- builder ---------------------------------------------------------------------------
    t0 = time.perf_counter()
    for m in mods:
        default_build(m, "llvm")
    serial = time.perf_counter() - t0
    builder = LocalBuilder(max_workers=2)
    cleanup(r.artifact_path for r in builder.build(inputs[:2]))  # start both workers
    t0 = time.perf_counter()
    built = builder.build(inputs)
    par = time.perf_counter() - t0
    builder.close()
    errors = [r.error_msg for r in built if r.error_msg]
    assert not errors, errors[0]
    print("builder                                 candidates/s   ms/candidate")
    print(f"  in-process, one at a time             {len(mods) / serial:12.1f}   "
          f"{serial / len(mods) * 1e3:12.1f}")
    print(f"  LocalBuilder(max_workers=2)           {len(mods) / par:12.1f}   "
          f"{par / len(mods) * 1e3:12.1f}")
    print(f"  speed-up                              {serial / par:12.2f}x\n")

    # -- runner ----------------------------------------------------------------------------
    info = ArgInfo.from_prim_func(func)
    paths = [r.artifact_path for r in built]
    args = alloc_argument_common([a.as_json() for a in info], 1)[0]
    ref = []
    print("runner (per candidate)          wall ms   kernel ms   in evaluator ms   overhead ms"
          "   runner/in-process")
    for label, cfg in (("number=1,repeat=1,min_ms=0", EvaluatorConfig(1, 1, 0)),
                       ("default (3,1,100 ms)", EvaluatorConfig()),
                       ("number=1,repeat=5,cache flush", EvaluatorConfig(1, 5, 0, True))):
        runner = LocalRunner(timeout_sec=60, evaluator_config=cfg,
                             f_run_evaluator=timed_evaluator)
        runner.run([RunnerInput(paths[0], "cpu", info)])[0].result()  # start the worker
        walls, evals, ratios, kern = [], [], [], []
        for n, p in enumerate(paths):
            if len(ref) <= n:  # the same artifact timed in this process, once
                m = load_artifact(p)
                ref.append(m.time_evaluator(m.entry, number=3, repeat=5,
                                            min_repeat_ms=20)(*args).median)
                m.close()
                time.sleep(0.3)  # let this process's idle OpenMP threads stop spinning
            t0 = time.perf_counter()
            res = runner.run([RunnerInput(p, "cpu", info)])[0].result()
            walls.append(time.perf_counter() - t0)
            assert res.error_msg is None, res.error_msg
            *secs, in_eval = res.run_secs
            evals.append(in_eval)
            kern.append(statistics.median(secs))
            ratios.append(kern[-1] / ref[n])
        runner.close()
        over = [w - e for w, e in zip(walls, evals, strict=True)]
        print(f"  {label:29s} {statistics.median(walls) * 1e3:8.1f}   "
              f"{statistics.median(kern) * 1e3:9.3f}   {statistics.median(evals) * 1e3:15.1f}"
              f"   {statistics.median(over) * 1e3:11.1f}   {statistics.median(ratios):17.2f}")
    best = min(range(len(paths)), key=lambda i: ref[i])
    flops = 2 * ns.size ** 3
    print(f"\nbest candidate: {ref[best] * 1e3:.3f} ms = {flops / ref[best] / 1e9:.1f} GFLOPS "
          f"(in-process median)")
    cleanup(paths)


if __name__ == "__main__":
    main()
