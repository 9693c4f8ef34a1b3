"""The default schedule's knob variants against the default, on ResNet-50 tasks, in one run.

    python benchmarks/default_variants.py [--threads 2] [--rounds 15] [--number 5]
        [--tasks fused_conv2d_add_relu3,fused_conv2d_add_relu10,fused_conv2d_add_relu17]
        [--limit 16]

The tasks are extracted from ResNet-50 (``onnxtune.models.get_model("resnet50")``); the
default picks a 1x1 convolution over 56x56 (256 -> 64 channels), a 3x3 one over 28x28
(128 -> 128) and a 1x1 one over 14x14 (1024 -> 256), each with its fused bias + relu. For
every task, ``compile.default_variants.default_schedule_variants`` gives the distinct
schedules over the knob grid (the default first). Each is built as a model runs it: its
weight-packing blocks run once, before timing, and the timed kernel takes the packed
weights. Every variant's output is checked against the unscheduled build of the task.

Timing alternates blocks: each round times the default, then a variant, then the default,
then the next variant... (``--number`` calls per block, seconds per call); a variant's
ratio is the median over rounds of (its block / the default block just before it), so
load from other processes on the machine mostly cancels. Lower than 1.00 is faster than
the default.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from default_schedule import packed_kernel  # noqa: E402 - the sibling benchmark

DEFAULT_TASKS = "fused_conv2d_add_relu3,fused_conv2d_add_relu10,fused_conv2d_add_relu17"


def _knobs_of(func, target, sch) -> str:
    """The knob setting (of the default grid) that made ``sch``: the first whose schedule
    has the same structure."""
    from onnxtune.compile import default_schedule as ds
    from onnxtune.compile.default_variants import VARIANT_KNOBS
    from onnxtune.tir.structural import module_hash

    want = module_hash(sch.mod, "structural")
    for knobs in (None, *VARIANT_KNOBS):
        if module_hash(ds.default_schedule_of(func, target, knobs).mod, "structural") == want:
            return "default" if knobs is None else ",".join(f"{k}={v}" for k, v in
                                                             knobs.items())
    return "?"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--number", type=int, default=5, help="calls per timed block")
    ap.add_argument("--tasks", default=DEFAULT_TASKS, help="comma-separated task names, "
                    "or 'all'")
    ap.add_argument("--limit", type=int, default=16, help="variants per task, default "
                    "included")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import numpy as np

    from onnxtune.compile import build, runtime
    from onnxtune.compile.default_variants import default_schedule_variants
    from onnxtune.compile.target import Target
    from onnxtune.frontend.onnx import from_onnx
    from onnxtune.models import get_model
    from onnxtune.tir import testing
    from onnxtune.tuner.relax_integration import extract_tasks

    runtime.set_num_threads(args.threads)
    target = Target(f"llvm -num-cores={args.threads}")
    tasks = {t.task_name: t for t in extract_tasks(from_onnx(get_model("resnet50")), target)}
    names = list(tasks) if args.tasks == "all" else args.tasks.split(",")
    unknown = [n for n in names if n not in tasks]
    if unknown:
        raise SystemExit(f"unknown tasks {unknown}; ResNet-50 has {list(tasks)}")
    print(f"default-schedule variants vs the default, {args.threads} threads, {args.rounds} "
          f"rounds of alternating blocks of {args.number} calls")
    for name in names:
        func = tasks[name].mod["main"]
        shapes = " ".join("x".join(str(int(d.value)) for d in p.shape) for p in func.params)
        variants = default_schedule_variants(func, target, limit=args.limit)
        arrays = testing.make_args(func, seed=0)
        ref = [a.copy() for a in arrays]
        build(func)["main"](*ref)
        built = []
        for sch in variants:
            mod, vargs = packed_kernel(sch.mod["main"], arrays)
            out = [a.copy() for a in vargs]
            mod["main"](*out)
            np.testing.assert_allclose(out[-1], ref[-1], rtol=1e-3, atol=1e-3,
                                       err_msg=f"{name}: a variant is wrong")
            built.append((mod.time_evaluator("main", number=args.number, repeat=1), vargs))
        times: list[list[float]] = [[] for _ in built]
        base: list[list[float]] = [[] for _ in built]
        for _ in range(args.rounds):
            for k, (ev, vargs) in enumerate(built):
                if k == 0:
                    continue
                base[k].append(built[0][0](*built[0][1]).results[0])
                times[k].append(ev(*vargs).results[0])
            time.sleep(0.01)
        default_ms = float(np.median([t for b in base[1:] for t in b] or [float("nan")])) * 1e3
        print(f"\n{name} ({shapes}): {len(variants)} variants; default {default_ms:.3f} ms")
        print(f"  {'knobs':60s} {'ms':>8s} {'ratio':>6s}")
        best = (1.0, "default")
        for k, sch in enumerate(variants):
            if k == 0:
                continue
            ms = float(np.median(times[k])) * 1e3
            ratio = float(np.median(np.array(times[k]) / np.array(base[k])))
            label = _knobs_of(func, target, sch)
            best = min(best, (ratio, label))
            print(f"  {label:60s} {ms:8.3f} {ratio:6.2f}")
        print(f"  best: {best[1]} ({best[0]:.2f} x the default)")


if __name__ == "__main__":
    main()
