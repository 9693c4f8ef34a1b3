"""Untuned models vs onnxruntime: compile time, latency (same thread count, same run), ratio
and accuracy.

    python benchmarks/models.py [--models light_resnet50,resnet18] [--seconds 3]
                                [--target llvm] [--json out.json]

Models: the onnx wheel's light models (random weights, logits exposed as an output) and the
bundled builders (resnet18, resnet50, mobilenet_v2, bert_encoder). Each is compiled with
``onnxtune.compile_model(model)`` (no tuning database: default schedules), checked against
onnxruntime on a random input (every output, logits included: max |diff| <= 1e-4 * max|ref|
+ 1e-5), then both are timed. onnxruntime runs with ``intra_op_num_threads`` = the target's
cores. The two are timed in alternating blocks of about 0.25 s (each block starts with
one untimed run) for about ``--seconds`` per model, and the medians are compared: on a
shared machine the load then hits both alike. The header prints the load average
(``/proc/loadavg``); with a load above
the core count, absolute times are inflated and the ratios are noisier (our parallel regions
end in a barrier that waits for a descheduled thread, so an oversubscribed machine costs us
more than onnxruntime; ``OMP_WAIT_POLICY=passive`` helps there, spinning helps when idle).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

LIGHT = ["light_alexnet", "light_densenet121", "light_inception_v1", "light_inception_v2",
         "light_resnet50", "light_shufflenet", "light_squeezenet", "light_vgg19",
         "light_zfnet512"]
BUILDERS = ["resnet18", "resnet50", "mobilenet_v2", "bert_encoder"]


def load_average() -> str:
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "n/a"


def interleaved_medians(fa, fb, seconds: float, min_runs: int = 5, max_runs: int = 500,
                        block_seconds: float = 0.25) -> tuple[float, float, int]:
    """Median seconds of ``fa()`` and ``fb()``, timed in alternating blocks until
    ``seconds`` have passed and each ran at least ``min_runs`` times.

    Each block first runs its function once untimed, then times it for about
    ``block_seconds``. Alternating blocks rather than single runs: the first run of one
    right after the other is slower (onnxruntime's pool threads still spin, caches hold
    the other model's weights), which would charge each for the other's habits: measured
    on resnet18, ours ran 29 ms interleaved run by run and 21 ms on its own. Alternating
    blocks still spread load from elsewhere over both."""
    (a, b), runs = interleaved_medians_n([fa, fb], seconds, min_runs, max_runs,
                                         block_seconds)
    return a, b, runs


def interleaved_medians_n(fns, seconds: float, min_runs: int = 5, max_runs: int = 500,
                          block_seconds: float = 0.25) -> tuple[list[float], int]:
    """:func:`interleaved_medians` for any number of functions, in turn: their medians
    (seconds) and the fewest runs any of them got. The order rotates every round, so that
    each function follows each other one as often (onnxruntime's pool threads spin for a
    while after its runs: whatever always came next would pay for it)."""
    times: list[list[float]] = [[] for _ in fns]

    def block(fn, out: list[float]) -> None:
        fn()
        t_end = time.perf_counter() + block_seconds
        k = 0
        while k < 2 or time.perf_counter() < t_end:
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
            k += 1

    start = time.perf_counter()
    order = list(range(len(fns)))
    while len(times[0]) < max_runs and (min(len(t) for t in times) < min_runs
                                        or time.perf_counter() - start < seconds):
        for k in order:
            block(fns[k], times[k])
        order = order[1:] + order[:1]
    return [float(np.median(t)) for t in times], min(len(t) for t in times)


def bench_model(name: str, target: str, seconds: float) -> dict:
    import onnxtune
    from onnxtune.compile.target import Target
    from onnxtune.models import get_model
    from onnxtune.tuning import compare_with_onnxruntime, onnxruntime_session, random_inputs

    model = get_model(name)
    threads = Target(target).num_cores
    t0 = time.perf_counter()
    stats: dict[str, int] = {}
    ex = onnxtune.compile_model(model, target=target, stats=stats)
    compile_s = time.perf_counter() - t0
    sess = onnxtune.InferenceSession(ex)
    ort = onnxruntime_session(model, threads)
    acc = compare_with_onnxruntime(sess, ort, seed=0)
    feed = random_inputs(sess.get_inputs(), seed=1)
    ours, theirs, runs = interleaved_medians(lambda: sess.run(None, feed),
                                             lambda: ort.run(None, feed), seconds)
    return {"model": name, "compile_s": compile_s, "ours_ms": ours * 1e3,
            "onnxruntime_ms": theirs * 1e3, "ratio": ours / theirs, "runs": runs,
            "threads": threads, "kernels": stats, "accuracy": acc}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(LIGHT + BUILDERS),
                    help="comma-separated bundled model names (default: all light models "
                         "and the builders)")
    ap.add_argument("--seconds", type=float, default=3.0,
                    help="timing time per model (both runtimes together)")
    ap.add_argument("--target", default="llvm")
    ap.add_argument("--json", help="also write the rows to this JSON file")
    args = ap.parse_args(argv)

    import onnxruntime

    from onnxtune.compile.target import Target

    tgt = Target(args.target)
    names = [m.strip() for m in args.models.split(",") if m.strip()]
    print(f"untuned onnxtune vs onnxruntime {onnxruntime.__version__} on {tgt} "
          f"({tgt.num_cores} threads each), {platform.processor() or platform.machine()}")
    print(f"load average at start: {load_average()} (shared machine: other jobs run too; "
          f"the two runtimes are timed alternately so the load hits both)")
    head = (f"{'model':<20} {'compile s':>9} {'ours ms':>10} {'ort ms':>10} {'ratio':>7} "
            f"{'runs':>5}  accuracy (max|diff| / max|ref|)")
    print(head)
    print("-" * len(head), flush=True)
    rows, failures = [], 0
    for name in names:
        try:
            r = bench_model(name, args.target, args.seconds)
        except Exception as e:  # noqa: BLE001 - report the model and go on with the others
            failures += 1
            print(f"{name:<20} FAILED: {type(e).__name__}: {str(e).splitlines()[0][:200]}",
                  flush=True)
            rows.append({"model": name, "error": f"{type(e).__name__}: {e}"})
            continue
        a = r["accuracy"]
        failures += not a["ok"]
        rows.append(r)
        print(f"{name:<20} {r['compile_s']:>9.1f} {r['ours_ms']:>10.3f} "
              f"{r['onnxruntime_ms']:>10.3f} {r['ratio']:>6.2f}x {r['runs']:>5}  "
              f"{'OK' if a['ok'] else 'MISMATCH'} ({a['max_abs_diff']:.2g} / "
              f"{a['max_abs_ref']:.3g}, {a['outputs']} outputs)", flush=True)
    ok = [r for r in rows if "ratio" in r]
    if ok:
        geo = float(np.exp(np.mean([np.log(r["ratio"]) for r in ok])))
        print("-" * len(head))
        print(f"geometric mean ratio (ours/onnxruntime, below 1 = faster): {geo:.2f}x over "
              f"{len(ok)} models; load average at end: {load_average()}")
    print(f"libgomp wait policy: OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}, "
          f"GOMP_SPINCOUNT={os.environ.get('GOMP_SPINCOUNT', 'unset')}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"target": str(tgt), "load_average": load_average(), "rows": rows}, f,
                      indent=1)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
