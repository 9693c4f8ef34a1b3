"""Tuned models end to end: onnxtune's ``tune_model`` vs onnxruntime (and apache-tvm's
``tune_relax`` where installed), same trial budget, same thread count.

    python benchmarks/e2e.py [--models resnet18,resnet50,mobilenet_v2,bert_encoder]
                             [--trials 2000] [--per-iter 64] [--seconds 3]
                             [--json out.json] [--work-dir DIR] [--tvm-python PATH]
                             [--skip-tvm] [--build-timeout 30] [--no-retime]
                             [--cache-flush]
    python benchmarks/e2e.py --models resnet18 --trials 64 --per-iter 8   # a quick run

For each model (bundled builders with random weights; any bundled name works):

* **onnxtune**: ``onnxtune.tune_model(model, max_trials_global=--trials,
  num_trials_per_iter=--per-iter)`` in this process, on a fresh work_dir. Reported: the
  wall time of the whole call (import, task extraction, tuning, compilation, validation)
  and of the tuning part, the accuracy against onnxruntime on a random input (max |diff|
  <= 1e-4 * max|ref| + 1e-5 on every output), then our latency and onnxruntime's
  (``intra_op_num_threads`` = the target's cores) and the untuned model's (default
  schedules; what tuning gained), timed in turns in this run after a warm-up, medians.
  Then ``benchmarks/retime.py`` times the three again in a fresh process ("fresh"
  column; ``--no-retime`` skips it): after tuning, the same executables have timed 20-35%
  apart between processes on this shared machine, so the two ratios bracket the truth.
* **apache-tvm** (if ``--tvm-python`` exists; it is never imported here): a subprocess of
  that interpreter imports the same ONNX file with ``tvm.relax.frontend.onnx.from_onnx``,
  legalizes and fuses it (``DecomposeOpsForInference``, ``LegalizeOps``, ``FoldConstant``,
  ``FuseOps``, ``FuseTIR``: TVM 0.27's task extraction finds no task without them), runs
  ``meta_schedule.relax_integration.tune_relax`` with the same budget, trials per
  round and target (``llvm -mcpu=<host> -num-cores <cores>``, ``TVM_NUM_THREADS`` = cores),
  applies the records to that module (``MetaScheduleApplyDatabase``; ``compile_relax``
  would fuse it again and match no record), builds it with ``relax.build`` and times the
  Relax VM (``time_evaluator``, median of
  repeats). Its outputs on the same input are checked against onnxruntime here. The TVM
  venv needs apache-tvm, onnx, xgboost-cpu, psutil and cloudpickle
  (see benchmarks/tune_vs_tvm.py).

The header prints the load average: the machine may be shared, and an oversubscribed
machine inflates every time (ours most: see benchmarks/models.py).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))


def _load_sibling(name: str):
    """benchmarks/<name>.py as a module (``models`` would clash with the models/ package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"benchmarks_{name}",
                                                  os.path.join(HERE, f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


_models_bench = _load_sibling("models")
interleaved_medians_n = _models_bench.interleaved_medians_n
load_average = _models_bench.load_average

MODELS = ["resnet18", "resnet50", "mobilenet_v2", "bert_encoder"]

TVM_SCRIPT = textwrap.dedent(r'''
    import json, os, sys, time
    import numpy as np
    import onnx
    import tvm
    from tvm import relax
    from tvm.relax.frontend.onnx import from_onnx
    try:
        from tvm.s_tir import meta_schedule as ms
    except ImportError:
        from tvm import meta_schedule as ms

    cfg = json.loads(sys.argv[1])
    t_start = time.perf_counter()
    model = onnx.load(cfg["model"])
    feed = dict(np.load(cfg["inputs"]))
    mod = from_onnx(model, shape_dict={k: v.shape for k, v in feed.items()})
    # tune_relax's task extraction in TVM 0.27 finds no task in an unlegalized module: run
    # the preparation compile_relax runs too (legalize, fold, fuse), so the keys match
    mod = tvm.transform.Sequential([
        relax.transform.DecomposeOpsForInference(), relax.transform.LegalizeOps(),
        relax.transform.AnnotateTIROpPattern(), relax.transform.FoldConstant(),
        relax.transform.FuseOps(), relax.transform.FuseTIR()])(mod)
    target = tvm.target.Target(cfg["target"])
    t0 = time.perf_counter()
    db = ms.relax_integration.tune_relax(
        mod, {}, target, cfg["work_dir"], cfg["trials"],
        num_trials_per_iter=cfg["per_iter"], seed=0,
        builder=ms.builder.LocalBuilder(timeout_sec=cfg["build_timeout"]))
    tune_s = time.perf_counter() - t0
    # how many of TVM's tasks got a record (the others run as LegalizeOps wrote them:
    # serial, unvectorized loops)
    try:
        tasks = ms.relax_integration.extract_tasks(mod, target)
        cover = {"tasks": len(tasks), "tasks_tuned": sum(
            1 for t in tasks
            if db.query_tuning_record(t.dispatched[0], target, t.task_name) is not None)}
    except Exception as e:  # noqa: BLE001  (an API difference: report, do not fail)
        cover = {"tasks_error": repr(e)[:200]}
    # not ms.relax_integration.compile_relax: it legalizes and fuses again, and on this
    # already fused module FuseOps fuses the fused functions ("fused_fused_conv2d...") so
    # that no record matches and every kernel runs untuned (resnet18_small: 126 ms against
    # 2.2 ms). Apply the records to the module the tasks came from, then build it.
    from tvm.relax.transform import MetaScheduleApplyDatabase
    with target, db, tvm.transform.PassContext(opt_level=3):
        ex = relax.build(MetaScheduleApplyDatabase()(mod), target=target)
    wall_s = time.perf_counter() - t_start
    dev = tvm.cpu()
    vm = relax.VirtualMachine(ex, dev)
    make = getattr(tvm.runtime, "tensor", None) or tvm.nd.array
    names = [i.name for i in model.graph.input if i.name in feed]
    args = [make(feed[n], dev) for n in names]
    out = vm["main"](*args)
    outs = list(out) if not hasattr(out, "numpy") else [out]
    np.savez(cfg["outputs"], *[o.numpy() for o in outs])
    f = vm.time_evaluator("main", dev, number=1, repeat=cfg["repeat"], min_repeat_ms=200)
    res = f(*args)
    secs = float(np.median(res.results))
    print(json.dumps({"tune_s": tune_s, "wall_s": wall_s, "secs": secs,
                      "version": tvm.__version__, **cover}))
''')


def accuracy(outs: list[np.ndarray], refs: list[np.ndarray]) -> dict:
    """max |diff| over every output against 1e-4 * max|ref| + 1e-5, per output."""
    ok, worst_diff, worst_ref = len(outs) == len(refs), 0.0, 0.0
    for a, b in zip(outs, refs, strict=False):
        if a.shape != b.shape:
            ok = False
            continue
        d = float(np.max(np.abs(a.astype(np.float64) - b))) if a.size else 0.0
        m = float(np.max(np.abs(b))) if b.size else 0.0
        ok &= d <= 1e-4 * m + 1e-5
        worst_diff, worst_ref = max(worst_diff, d), max(worst_ref, m)
    return {"ok": bool(ok), "max_abs_diff": worst_diff, "max_abs_ref": worst_ref,
            "outputs": len(refs)}


def run_ours(model, work_dir: str, args: argparse.Namespace) -> tuple[dict, object]:
    import onnxtune

    t0 = time.perf_counter()
    res = onnxtune.tune_model(model, target=args.target, work_dir=work_dir,
                              max_trials_global=args.trials,
                              num_trials_per_iter=args.per_iter, seed=0, validate=True,
                              benchmark=False, progress=not args.quiet,
                              evaluator_config=({"enable_cpu_cache_flush": True}
                                                if args.cache_flush else None))
    wall = time.perf_counter() - t0
    rep = res.report
    return {"wall_s": wall, "tune_s": rep.tuning_seconds, "trials": rep.trials,
            "tasks": len(rep.tasks), "kernels": rep.schedules, "accuracy": rep.accuracy,
            "interrupted": rep.interrupted}, res


def run_tvm(python: str, model_path: str, inputs_path: str, refs: list[np.ndarray],
            work_dir: str, args: argparse.Namespace) -> dict:
    from onnxtune.compile.target import Target

    tgt = Target(args.target)
    out_path = os.path.join(work_dir, "tvm_outputs.npz")
    cfg = {"model": model_path, "inputs": inputs_path, "outputs": out_path,
           "work_dir": work_dir, "trials": args.trials, "per_iter": args.per_iter,
           "repeat": max(5, int(args.seconds * 5)), "build_timeout": args.build_timeout,
           "target": {"kind": "llvm", "mcpu": tgt.mcpu, "num-cores": tgt.num_cores}}
    env = dict(os.environ, TVM_NUM_THREADS=str(tgt.num_cores))
    t0 = time.perf_counter()
    proc = subprocess.run([python, "-c", TVM_SCRIPT, json.dumps(cfg)], capture_output=True,
                          text=True, check=False, cwd=work_dir, env=env)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        return {"error": f"exit {proc.returncode}: {tail}", "elapsed_s": elapsed}
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    with np.load(out_path) as z:
        outs = [z[f"arr_{i}"] for i in range(len(z.files))]
    res["accuracy"] = accuracy(outs, refs)
    res["ms"] = res.pop("secs") * 1e3
    res["elapsed_s"] = elapsed
    return res


def bench(name: str, args: argparse.Namespace, root: str, tvm_python: str | None) -> dict:
    import onnx

    from onnxtune.compile.target import Target
    from onnxtune.models import get_model
    from onnxtune.tuning import onnxruntime_session, random_inputs

    model = get_model(name)
    threads = Target(args.target).num_cores
    work = os.path.join(root, name)
    os.makedirs(work, exist_ok=True)
    row: dict = {"model": name, "trials": args.trials, "per_iter": args.per_iter,
                 "threads": threads}
    ours, res = run_ours(model, os.path.join(work, "onnxtune"), args)
    row["onnxtune"] = ours
    import onnxtune
    from onnxtune import InferenceSession

    sess = InferenceSession(res.executable)
    ort = onnxruntime_session(model, threads)
    feed = random_inputs(sess.get_inputs(), seed=1)
    refs = [np.asarray(r) for r in ort.run(None, feed)]
    row["onnxtune"]["accuracy_seed1"] = accuracy(sess.run(None, feed), refs)
    # the same model compiled without tuning (default schedules), timed in the same turns:
    # what tuning gained
    untuned = InferenceSession(onnxtune.compile_model(model, target=args.target))
    (ours_s, untuned_s, ort_s), runs = interleaved_medians_n(
        [lambda: sess.run(None, feed), lambda: untuned.run(None, feed),
         lambda: ort.run(None, feed)], args.seconds)
    row["onnxtune"]["ms"] = ours_s * 1e3
    row["onnxtune"]["untuned_ms"] = untuned_s * 1e3
    row["onnxruntime_ms"] = ort_s * 1e3
    row["ratio"] = ours_s / ort_s
    row["runs"] = runs
    print(f"{name}: onnxtune {row['onnxtune']['ms']:.3f} ms (untuned {untuned_s * 1e3:.3f} "
          f"ms), onnxruntime {row['onnxruntime_ms']:.3f} ms ({row['ratio']:.2f}x), tuned "
          f"{ours['trials']} trials in {ours['tune_s']:.0f} s (whole call "
          f"{ours['wall_s']:.0f} s)", flush=True)
    if tvm_python:
        model_path = os.path.join(work, f"{name}.onnx")
        onnx.save(model, model_path)
        inputs_path = os.path.join(work, "inputs.npz")
        np.savez(inputs_path, **feed)
        tvm_dir = os.path.join(work, "tvm")
        os.makedirs(tvm_dir, exist_ok=True)
        row["tvm"] = run_tvm(tvm_python, model_path, inputs_path, refs, tvm_dir, args)
        if "ms" in row["tvm"]:
            row["tvm_ratio"] = row["tvm"]["ms"] / row["onnxruntime_ms"]
    return row


def retime_fresh(name: str, work_dir: str, args: argparse.Namespace) -> dict:
    """Tuned, untuned and onnxruntime timed again by benchmarks/retime.py in a fresh
    process (its medians and ratio), or {"error": ...}."""
    cmd = [sys.executable, os.path.join(HERE, "retime.py"), f"{name}={work_dir}",
           "--seconds", str(args.seconds), "--target", args.target]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 6 and parts[0] == name:
            return {"ms": float(parts[1]), "untuned_ms": float(parts[2]),
                    "onnxruntime_ms": float(parts[3]), "ratio": float(parts[1]) / float(parts[3]),
                    "accuracy_ok": parts[6] == "OK" if len(parts) > 6 else None}
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
    return {"error": f"retime.py exited {proc.returncode}: {tail[0]}"}


def _fmt(v: float | None, spec: str, width: int) -> str:
    return format(v, spec).rjust(width) if v is not None else "-".rjust(width)


def print_table(rows: list[dict], tvm: bool) -> None:
    head = (f"{'model':<14} {'trials':>6} {'tune s':>7} {'wall s':>7} {'ours ms':>9} "
            f"{'untuned':>9} {'ort ms':>9} {'ratio':>6} {'acc':>4} {'fresh':>6}")
    if tvm:
        head += f" | {'TVM tune s':>10} {'TVM wall s':>10} {'TVM ms':>9} {'ratio':>6} {'acc':>4}"
    print(head)
    print("-" * len(head))
    for r in rows:
        if "error" in r:
            print(f"{r['model']:<14} FAILED: {r['error'][:300]}")
            continue
        o = r["onnxtune"]
        ok = "OK" if o["accuracy"]["ok"] and o["accuracy_seed1"]["ok"] else "BAD"
        line = (f"{r['model']:<14} {o['trials']:>6} {o['tune_s']:>7.0f} {o['wall_s']:>7.0f} "
                f"{o['ms']:>9.3f} {o['untuned_ms']:>9.3f} {r['onnxruntime_ms']:>9.3f} "
                f"{r['ratio']:>5.2f}x {ok:>4}")
        fresh = r.get("fresh", {})
        line += f" {fresh['ratio']:>5.2f}x" if "ratio" in fresh else f" {'-':>6}"
        if tvm:
            t = r.get("tvm", {})
            if "error" in t:
                line += f" | TVM failed: {t['error'].splitlines()[-1][:120]}"
            else:
                tok = "OK" if t["accuracy"]["ok"] else "BAD"
                line += (f" | {t['tune_s']:>10.0f} {t['wall_s']:>10.0f} {t['ms']:>9.3f} "
                         f"{r['tvm_ratio']:>5.2f}x {tok:>4}")
                if "tasks" in t:
                    line += f" ({t['tasks_tuned']} of {t['tasks']} TVM tasks tuned)"
        print(line)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--trials", type=int, default=2000,
                    help="trial budget per model, both tuners (issue 6: 2000 for resnet50)")
    ap.add_argument("--per-iter", type=int, default=64, help="trials per round, both tuners")
    ap.add_argument("--seconds", type=float, default=3.0, help="timing time per model")
    ap.add_argument("--target", default="llvm")
    ap.add_argument("--work-dir", help="where the work_dirs go (default: a new temp dir); "
                                       "must not hold earlier runs, or they resume")
    ap.add_argument("--json", help="also write the rows to this JSON file")
    ap.add_argument("--tvm-python", default="/root/tvmvenv/bin/python")
    ap.add_argument("--skip-tvm", action="store_true")
    ap.add_argument("--build-timeout", type=float, default=30.0,
                    help="TVM's LocalBuilder timeout per candidate (its default: 30 s; on a "
                         "loaded machine its builds take longer and all fail)")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    ap.add_argument("--no-retime", action="store_true",
                    help="skip the re-timing in a fresh process (benchmarks/retime.py)")
    ap.add_argument("--cache-flush", action="store_true",
                    help="our tuner times every candidate cold (tune_model's "
                         "evaluator_config enable_cpu_cache_flush)")
    args = ap.parse_args(argv)

    import onnxruntime

    from onnxtune.compile.target import Target

    tgt = Target(args.target)
    tvm_python = None
    if args.skip_tvm:
        tvm_note = "TVM: skipped (--skip-tvm)"
    elif os.path.exists(args.tvm_python):
        tvm_python = args.tvm_python
        tvm_note = f"TVM: tune_relax via {tvm_python}"
    else:
        tvm_note = f"TVM is not installed ({args.tvm_python} not found): onnxtune only"
    root = args.work_dir or tempfile.mkdtemp(prefix="onnxtune-e2e-")
    print(f"onnxtune tune_model vs onnxruntime {onnxruntime.__version__} on {tgt} "
          f"({tgt.num_cores} threads each); budget {args.trials} trials per model, "
          f"{args.per_iter} per round")
    print(f"load average at start: {load_average()} (shared machine: times are inflated "
          f"when it exceeds {tgt.num_cores})")
    print(tvm_note)
    print(f"work dirs under {root}", flush=True)
    rows = []
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        try:
            row = bench(name, args, root, tvm_python)
            if not args.no_retime:
                row["fresh"] = retime_fresh(name, os.path.join(root, name, "onnxtune"), args)
        except Exception as e:  # noqa: BLE001 - report the model and go on
            row = {"model": name, "error": f"{type(e).__name__}: {e}"}
        rows.append(row)
        print(f"{name}: {json.dumps(row, default=str)}", flush=True)
    print(f"\nload average at end: {load_average()}; ratio = ms / onnxruntime ms "
          f"(below 1: faster) in this process, fresh = the same in a fresh one; tune s = "
          f"tuning only, wall s = the whole call")
    print_table(rows, tvm_python is not None)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"target": str(tgt), "trials": args.trials, "per_iter": args.per_iter,
                       "load_average_end": load_average(), "rows": rows}, f, indent=1,
                      default=str)
    bad = any("error" in r or not r["onnxtune"]["accuracy"]["ok"] for r in rows)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
