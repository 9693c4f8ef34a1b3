"""Untuned builds in NCHW16c (the default) and in NCHW, against onnxruntime, in turns.

    PYTHONPATH=. python benchmarks/layout.py [resnet50 resnet18 mobilenet_v2 ...]
                                             [--seconds 8] [--target llvm]

For each bundled model: compile it untuned twice, once with the channel-blocked layout
pass (``frontend/transform/nchwc_layout.py``, on by default) and once without
(``nchwc=False``, what ``ONNXTUNE_NCHWC=0`` gives), check both against onnxruntime on a
random input, then time the three in alternating 0.25 s blocks
(``benchmarks/models.py``'s ``interleaved_medians_n``) and print medians and ratios.
"""

from __future__ import annotations

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)

from retime import _models_bench  # noqa: E402  (benchmarks/models.py, loaded by path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*", default=["resnet50", "resnet18", "mobilenet_v2"])
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--target", default="llvm")
    args = ap.parse_args(argv)

    import onnxtune
    from onnxtune.compile.target import Target
    from onnxtune.frontend.transform import graph_options
    from onnxtune.models import get_model
    from onnxtune.tuning import compare_with_onnxruntime, onnxruntime_session, random_inputs

    bench = _models_bench()
    threads = Target(args.target).num_cores
    print(f"load average at start: {bench.load_average()}")
    print(f"{'model':14s} {'NCHW16c ms':>10s} {'NCHW ms':>9s} {'ort ms':>9s} "
          f"{'16c/NCHW':>8s} {'16c/ort':>8s} {'NCHW/ort':>8s}  acc  runs")
    for name in args.models:
        model = get_model(name)
        sessions = []
        for nchwc in (True, False):
            with graph_options(nchwc=nchwc):
                sessions.append(onnxtune.InferenceSession(
                    onnxtune.compile_model(model, target=args.target)))
        ort = onnxruntime_session(model, threads)
        ok = all(compare_with_onnxruntime(s, ort)["ok"] for s in sessions)
        feed = random_inputs(sessions[0].get_inputs(), 1)
        fns = [lambda s=s: s.run(None, feed) for s in (*sessions, ort)]  # noqa: B023
        (b, n, o), runs = bench.interleaved_medians_n(fns, args.seconds)
        print(f"{name:14s} {b * 1e3:10.3f} {n * 1e3:9.3f} {o * 1e3:9.3f} {b / n:7.3f}x "
              f"{b / o:7.2f}x {n / o:7.2f}x  {'OK' if ok else 'BAD':>3s} {runs:5d}", flush=True)
    print(f"load average at end: {bench.load_average()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
