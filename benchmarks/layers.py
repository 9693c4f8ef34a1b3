"""Where a model's time goes, kernel by kernel, next to onnxruntime's nodes.

    PYTHONPATH=. python benchmarks/layers.py [--model resnet50] [--database WORK_DIR]
                                             [--rounds 12] [--top 15]

Ours: ``VirtualMachine.profile`` (every kernel call of a run timed in the model, the
caches as the calls before it left them; medians over ``--rounds`` runs). onnxruntime:
its profiler's per-node kernel times (``enable_profiling``, medians over the same runs),
with ``intra_op_num_threads`` = the target's cores. Turns, in this process: an
onnxruntime run, a 0.3 s pause (its pool threads spin after a run: our run right after
one took 75 ms where it takes 55), then two of ours, the second one timed. Not two phases
one after the other: the machine's speed drifts by 10-20% over minutes.

Printed: both totals; our slowest kernels; and, when the model has as many of our
convolution kernels as onnxruntime has Conv nodes (one kernel per conv, in graph order,
as with the bundled CNNs; a pointwise convolution compiled as a matmul over the flattened
pixels counts as one, a Winograd one's three kernels as one, so a model's other matmuls
would break the pairing), the
convolutions side by side and summed per stage (the first component of onnxruntime's node
name) and per kind (1x1 / 3x3 / other, from the ONNX graph's Conv weights, in the same
order).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import defaultdict

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def ort_node_times(model, threads: int, feed: dict, rounds: int, between) -> tuple[list, dict]:
    """(node names in execution order, {name: (op, median ms)}); ``between()`` runs after
    each of onnxruntime's runs (ours, in turns)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    opts.enable_profiling = True
    opts.profile_file_prefix = os.path.join(tempfile.mkdtemp(), "ort")
    sess = ort.InferenceSession(model.SerializeToString(), opts,
                                providers=["CPUExecutionProvider"])
    for _ in range(3):
        sess.run(None, feed)
    for _ in range(rounds):
        sess.run(None, feed)
        between()
    path = sess.end_profiling()
    with open(path) as f:
        events = json.load(f)
    os.remove(path)
    durs: dict[str, list[float]] = defaultdict(list)
    first: dict[str, float] = {}
    ops: dict[str, str] = {}
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            name = e["name"].removesuffix("_kernel_time")
            durs[name].append(e["dur"] / 1e3)
            first.setdefault(name, e["ts"])
            ops[name] = e["args"].get("op_name", "?")
    order = sorted(durs, key=first.__getitem__)
    # the 3 warm-up runs are the first entries of each node
    return order, {n: (ops[n], float(np.median(durs[n][3:] or durs[n]))) for n in order}


def conv_kind(weight_shape) -> str:
    if len(weight_shape) != 4:
        return "other"
    kh, kw = weight_shape[2:]
    return f"{kh}x{kw}" if (kh, kw) in ((1, 1), (3, 3)) else "other"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="resnet50")
    ap.add_argument("--database", default=None, help="a tuning work_dir (default: untuned)")
    ap.add_argument("--target", default="llvm")
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument("--top", type=int, default=15)
    args = ap.parse_args(argv)

    import onnxtune
    from onnxtune.compile.executable import VirtualMachine
    from onnxtune.compile.target import Target
    from onnxtune.models import get_model
    from onnxtune.tuning import random_inputs

    model = get_model(args.model)
    threads = Target(args.target).num_cores
    ex = onnxtune.compile_model(model, target=args.target, database=args.database)
    vm = VirtualMachine(ex)
    feed = random_inputs(onnxtune.InferenceSession(ex).get_inputs(), 0)
    arrays = tuple(np.ascontiguousarray(feed[n]) for n in vm._in_names)
    vm.profile(*arrays, repeat=2)  # warm-up
    runs: list[list[tuple[str, float]]] = []

    def ours_once() -> None:
        time.sleep(0.3)  # onnxruntime's pool threads spin after a run: let them park
        vm.profile(*arrays, repeat=1)  # (the first run after a pause is slower)
        runs.append(vm.profile(*arrays, repeat=1))

    order, ort_t = ort_node_times(model, threads, feed, args.rounds, ours_once)
    names = [k for k, _ in runs[0]]
    ours = np.median(np.array([[t for _, t in run] for run in runs]), axis=0) * 1e3
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"{args.model} ({'tuned: ' + args.database if args.database else 'untuned'}), "
          f"{threads} threads, {args.rounds} runs each in turns; load {load}")
    print(f"ours: {ours.sum():.2f} ms over {len(names)} kernel calls; onnxruntime: "
          f"{sum(t for _, t in ort_t.values()):.2f} ms over {len(order)} nodes")
    print("\nour slowest kernel calls:")
    for k in np.argsort(-ours)[:args.top]:
        print(f"  {ours[k]:8.3f} ms  #{k:<3d} {names[k]}")

    inits = {t.name: tuple(t.dims) for t in model.graph.initializer}
    kinds = [conv_kind(inits.get(n.input[1], ())) for n in model.graph.node
             if n.op_type == "Conv"]
    # a convolution's kernels: one, or a Winograd one's three (input transform, matmul,
    # output transform with the epilogue), summed
    ours_conv: list[list[int]] = []
    k = 0
    while k < len(names):
        if "winograd_input" in names[k]:
            ours_conv.append([k, k + 1, k + 2])
            k += 3
            continue
        if "conv" in names[k] or "matmul" in names[k]:
            ours_conv.append([k])
        k += 1
    ort_conv = [n for n in order if ort_t[n][0] in ("Conv", "FusedConv")]
    if not ours_conv or len(ours_conv) != len(ort_conv):
        print(f"\n{len(ours_conv)} conv kernels of ours, {len(ort_conv)} Conv nodes of "
              f"onnxruntime: no side-by-side table")
        return 0
    print("\nconvolutions in graph order (ours / onnxruntime):")
    groups: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0, 0])
    if len(kinds) != len(ort_conv):
        kinds = ["?"] * len(ort_conv)
    for ks, n, kind in zip(ours_conv, ort_conv, kinds, strict=True):
        o, u = ort_t[n][1], sum(ours[k] for k in ks)
        parts = " + ".join(f"{ours[k]:.3f}" for k in ks) if len(ks) > 1 else ""
        print(f"  {n[:36]:36s} {kind:5s} ort {o:7.3f}  ours {u:7.3f}  "
              f"x{u / o:5.2f}  {names[ks[-1]]} {parts}")
        g = groups[(n.split(".")[0], kind)]
        g[0] += o
        g[1] += u
        g[2] += 1
    print("\nper stage and kind:")
    gap = sum(g[1] - g[0] for g in groups.values())
    for (stage, kind), (o, u, c) in sorted(groups.items()):
        print(f"  {stage:10s} {kind:5s} {c:3d} convs  ort {o:7.2f}  ours {u:7.2f}  "
              f"x{u / o:5.2f}  gap {u - o:6.2f} ms")
    print(f"  conv gap in all: {gap:.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
