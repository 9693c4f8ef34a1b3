"""Re-time tuned work dirs: tuned vs untuned vs onnxruntime, in turns, in one process.

    PYTHONPATH=. python benchmarks/retime.py resnet50=WORK_DIR [bert_encoder=DIR ...]
                                             [--seconds 6] [--target llvm]

For each ``model=work_dir`` (a bundled model name and the work_dir ``tune_model`` wrote, or
the folder ``e2e.py`` made for the model, whose ``onnxtune/`` sub-folder is that work_dir):
compile it from the work_dir's records and without them, check the tuned build against
onnxruntime on a random input, then time the three in alternating 0.25 s blocks
(``benchmarks/models.py``'s ``interleaved_medians_n``) and print medians and ratios.
Tuning and timing at different times see different machines (their speed drifts on a
shared host): this re-times everything in one quiet run.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))


def _models_bench():
    """benchmarks/models.py (the name would clash with the models/ package)."""
    spec = importlib.util.spec_from_file_location("benchmarks_models",
                                                  os.path.join(HERE, "models.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="model=work_dir")
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--target", default="llvm")
    args = ap.parse_args(argv)

    import onnxtune
    from onnxtune.compile.target import Target
    from onnxtune.models import get_model
    from onnxtune.tuner.database.json_database import RECORD_FILE
    from onnxtune.tuning import compare_with_onnxruntime, onnxruntime_session, random_inputs

    bench = _models_bench()
    threads = Target(args.target).num_cores
    print(f"{'model':14s} {'tuned ms':>9s} {'untuned':>9s} {'ort ms':>9s} {'tuned/ort':>9s} "
          f"{'untuned/ort':>11s}  acc  runs")
    for run in args.runs:
        name, sep, work_dir = run.partition("=")
        if not sep or not os.path.isdir(work_dir):
            ap.error(f"{run!r}: expected model=work_dir with an existing work_dir")
        if os.path.isfile(os.path.join(work_dir, "onnxtune", RECORD_FILE)):
            work_dir = os.path.join(work_dir, "onnxtune")  # e2e.py's folder of the model
        model = get_model(name)
        tuned = onnxtune.InferenceSession(
            onnxtune.compile_model(model, target=args.target, database=work_dir))
        untuned = onnxtune.InferenceSession(onnxtune.compile_model(model, target=args.target))
        ort = onnxruntime_session(model, threads)
        ok = compare_with_onnxruntime(tuned, ort)["ok"]
        feed = random_inputs(tuned.get_inputs(), 1)
        fns = [lambda s=s: s.run(None, feed) for s in (tuned, untuned, ort)]  # noqa: B023
        (t, u, o), runs = bench.interleaved_medians_n(fns, args.seconds)
        print(f"{name:14s} {t * 1e3:9.3f} {u * 1e3:9.3f} {o * 1e3:9.3f} {t / o:8.2f}x "
              f"{u / o:10.2f}x  {'OK' if ok else 'BAD':>3s} {runs:5d}", flush=True)
    print(f"load average at end: {bench.load_average()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
