"""The `onnxtune` command line: `onnxtune <command> [options]`.

MODEL is a ``.onnx`` path or a bundled model name (``onnxtune models`` lists them).
Errors print one line and exit with status 1 (``--debug`` shows the traceback).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

DEFAULT_MODEL = "resnet18_small"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("onnxtune")
    except PackageNotFoundError:  # a source checkout that was never installed
        return "unknown (not installed)"


def _emit(args: argparse.Namespace, text: str, data: Any) -> None:
    if args.json:
        print(json.dumps(data, indent=1, default=str))
    elif not args.quiet:
        print(text)


# -- commands ------------------------------------------------------------------------------
def _tune(args: argparse.Namespace) -> int:
    from .tuning import tune_model

    res = tune_model(args.model, target=args.target, work_dir=args.work_dir,
                     max_trials_global=args.trials,
                     max_trials_per_task=args.trials_per_task,
                     num_trials_per_iter=args.trials_per_iter,
                     module_equality=args.module_equality, seed=args.seed,
                     progress=not (args.quiet or args.json),
                     benchmark=not args.no_bench, verify_top_k=args.verify_top_k,
                     evaluator_config=({"enable_cpu_cache_flush": True}
                                       if args.cache_flush else None))
    if args.output:
        res.executable.export_library(args.output)
    _emit(args, res.report.to_text() + f"\nreport: {os.path.join(args.work_dir, 'report.html')}",
          res.report.as_json())
    acc = res.report.accuracy
    return 0 if acc is None or acc["ok"] else 3


def _demo(args: argparse.Namespace) -> int:
    args.model = args.model or DEFAULT_MODEL
    return _tune(args)


def _compile(args: argparse.Namespace) -> int:
    from .session import compile_model

    stats: dict[str, int] = {}
    ex = compile_model(args.model, target=args.target, database=args.database, stats=stats)
    ex.export_library(args.output)
    size = os.path.getsize(args.output)
    _emit(args, f"wrote {args.output} ({size / 1e6:.1f} MB; kernels: "
          + ", ".join(f"{v} {k}" for k, v in sorted(stats.items())) + ")",
          {"output": args.output, "bytes": size, "kernels": stats})
    return 0


def _load_inputs(paths: list[str], sess: Any) -> dict[str, Any]:
    import numpy as np

    inputs = sess.get_inputs()
    feed = {}
    for k, item in enumerate(paths):
        name, sep, path = item.partition("=")
        if not sep:
            if k >= len(inputs):
                raise ValueError(f"--input {item}: the model has only {len(inputs)} inputs")
            name, path = inputs[k].name, item
        try:
            feed[name] = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise ValueError(f"--input {item}: cannot read {path!r} as a .npy array: {e}"
                             ) from None
    return feed


def _run(args: argparse.Namespace) -> int:
    import numpy as np

    from .session import InferenceSession

    sess = InferenceSession(args.artifact)
    feed = _load_inputs(args.input, sess)
    outs = sess.run(None, feed)
    names = [o.name for o in sess.get_outputs()]
    if args.output:
        if len(outs) == 1:
            np.save(args.output, outs[0])
        else:
            root, ext = os.path.splitext(args.output)
            for n, o in zip(names, outs, strict=True):
                np.save(f"{root}_{n.replace('/', '_')}{ext or '.npy'}", o)
    _emit(args, "\n".join(f"{n}: shape {list(o.shape)} {o.dtype}, mean {float(o.mean()):.6g}"
                          for n, o in zip(names, outs, strict=True)),
          {n: {"shape": list(o.shape), "dtype": str(o.dtype)}
           for n, o in zip(names, outs, strict=True)})
    return 0


def _bench(args: argparse.Namespace) -> int:
    from .session import InferenceSession, load_model
    from .tuning import (
        compare_with_onnxruntime,
        median_seconds,
        onnxruntime_session,
        random_inputs,
    )

    src = args.model_or_artifact
    from onnxtune.compile.artifact_format import is_artifact

    artifact = is_artifact(src)
    if artifact and not args.model:
        raise ValueError("bench: an artifact needs --model (the ONNX model it was compiled "
                         "from) to compare against onnxruntime")
    model = load_model(args.model or src)
    sess = InferenceSession(src) if artifact else InferenceSession(
        model, database=args.database, target=args.target)
    from onnxtune.compile.target import Target

    threads = Target(args.target).num_cores
    ort_sess = onnxruntime_session(model, threads)
    acc = compare_with_onnxruntime(sess, ort_sess)
    feed = random_inputs(sess.get_inputs(), 1)
    ours = median_seconds(lambda: sess.run(None, feed), args.seconds) * 1e3
    ref = median_seconds(lambda: ort_sess.run(None, feed), args.seconds) * 1e3
    _emit(args, f"onnxtune {ours:.3f} ms, onnxruntime {ref:.3f} ms, ours/onnxruntime "
          f"{ours / ref:.2f}x (median, {threads} threads); accuracy "
          f"{'OK' if acc['ok'] else 'MISMATCH'} (max |diff| {acc['max_abs_diff']:.3g})",
          {"ours_ms": ours, "onnxruntime_ms": ref, "ratio": ours / ref, "threads": threads,
           "accuracy": acc})
    return 0 if acc["ok"] else 3


def _tasks(args: argparse.Namespace) -> int:
    from onnxtune.frontend import from_onnx
    from onnxtune.tir.analysis import estimate_flops
    from onnxtune.tuner.relax_integration import extract_tasks

    from .session import load_model

    tasks = extract_tasks(from_onnx(load_model(args.model)), args.target,
                          module_equality=args.module_equality)
    rows = [{"id": i, "name": t.task_name, "weight": t.weight,
             "mflop": estimate_flops(t.mod) / 1e6, "functions": len(t.dispatched)}
            for i, t in enumerate(tasks)]
    head = f"{'ID':>3}  {'Task':<40} {'Weight':>6} {'MFLOP':>10} {'Functions':>9}"
    text = "\n".join([head, "-" * len(head)] + [
        f"{r['id']:>3}  {r['name'][:40]:<40} {r['weight']:>6} {r['mflop']:>10.1f} "
        f"{r['functions']:>9}" for r in rows]
        + [f"{len(rows)} tasks ({args.module_equality}), "
           f"{sum(r['weight'] for r in rows)} kernel calls"])
    _emit(args, text, rows)
    return 0


def _report(args: argparse.Namespace) -> int:
    path = os.path.join(args.work_dir, "report.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"report: {args.work_dir!r} has no report.json (run "
                                f"`onnxtune tune MODEL --work-dir {args.work_dir}` first)")
    with open(path) as f:
        data = json.load(f)
    txt = os.path.join(args.work_dir, "report.txt")
    text = open(txt).read().rstrip() if os.path.isfile(txt) else json.dumps(data, indent=1)
    from .report import report_from_json, write_html_and_pngs

    try:  # re-render report.html and the PNG charts from report.json
        written = write_html_and_pngs(report_from_json(data), args.work_dir)
        text += f"\nreport: {written[0]} (charts: {len(written) - 1} PNG files)"
    except (ValueError, TypeError, OSError) as e:  # the text report still prints
        if args.debug:
            raise
        print(f"onnxtune: warning: report.html and PNGs not re-rendered: {e}", file=sys.stderr)
    _emit(args, text, data)
    return 0


def _models(args: argparse.Namespace) -> int:
    from onnxtune.models import list_models

    names = list_models()
    _emit(args, "\n".join(names), names)
    return 0


# -- parser --------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    """The argument parser; each subcommand sets `handler` to a function(args) -> exit code."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--quiet", action="store_true", help="print nothing but errors")
    common.add_argument("--json", action="store_true", help="print the result as JSON")
    common.add_argument("--debug", action="store_true", help="show tracebacks and logs")
    parser = argparse.ArgumentParser(
        prog="onnxtune",
        description="A MetaSchedule-style deep-learning compiler and auto-tuner for ONNX models.",
        parents=[common])
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(title="commands", metavar="<command>")

    def tune_options(p: argparse.ArgumentParser, default_trials: int) -> None:
        p.add_argument("--trials", type=int, default=default_trials,
                       help=f"measured trials in all (default {default_trials})")
        p.add_argument("--trials-per-task", type=int, default=None)
        p.add_argument("--trials-per-iter", type=int, default=64)
        p.add_argument("--work-dir", default="onnxtune_work",
                       help="where records, logs and the report go (default ./onnxtune_work)")
        p.add_argument("--target", default="llvm")
        p.add_argument("--module-equality", default="anchor-block",
                       choices=["structural", "ignore-tensor", "anchor-block"])
        p.add_argument("--seed", type=int, default=None)
        p.add_argument("--no-bench", action="store_true",
                       help="skip timing against onnxruntime")
        p.add_argument("--verify-top-k", type=int, default=3,
                       help="re-measure each task's K best schedules and its default "
                            "side by side when tuning ends, then time the choice against "
                            "the default in the model (0: skip both; default 3)")
        p.add_argument("--cache-flush", action="store_true",
                       help="time every candidate cold: its arguments flushed from the "
                            "caches before each run")
        p.add_argument("-o", "--output", default=None,
                       help="also export the tuned executable to this file")

    p = commands.add_parser("tune", parents=[common], help="tune a model and report it")
    p.add_argument("model", help="an .onnx file or a bundled model name")
    tune_options(p, 1000)
    p.set_defaults(handler=_tune)

    p = commands.add_parser("demo", parents=[common],
                            help=f"tune the bundled {DEFAULT_MODEL} briefly and report it")
    p.add_argument("model", nargs="?", default=None)
    tune_options(p, 128)
    p.set_defaults(handler=_demo)

    p = commands.add_parser("compile", parents=[common],
                            help="compile a model (with a tuning database) to one file")
    p.add_argument("model")
    p.add_argument("--database", default=None, help="a tuning work_dir")
    p.add_argument("--target", default="llvm")
    p.add_argument("-o", "--output", required=True)
    p.set_defaults(handler=_compile)

    p = commands.add_parser("run", parents=[common], help="run an exported artifact")
    p.add_argument("artifact")
    p.add_argument("--input", action="append", default=[], required=True,
                   help="x.npy or NAME=x.npy, once per input")
    p.add_argument("-o", "--output", default=None, help="write the output(s) as .npy")
    p.set_defaults(handler=_run)

    p = commands.add_parser("bench", parents=[common],
                            help="time a model or artifact against onnxruntime")
    p.add_argument("model_or_artifact")
    p.add_argument("--model", default=None, help="the ONNX model of an artifact")
    p.add_argument("--database", default=None, help="a tuning work_dir")
    p.add_argument("--target", default="llvm")
    p.add_argument("--seconds", type=float, default=2.0, help="timing time per side")
    p.set_defaults(handler=_bench)

    p = commands.add_parser("tasks", parents=[common], help="list a model's tuning tasks")
    p.add_argument("model")
    p.add_argument("--target", default="llvm")
    p.add_argument("--module-equality", default="anchor-block",
                   choices=["structural", "ignore-tensor", "anchor-block"])
    p.set_defaults(handler=_tasks)

    p = commands.add_parser(
        "report", parents=[common],
        help="print a work_dir's report and re-render its report.html and PNG charts "
             "(report_model.png, report_task_<id>.png) from report.json")
    p.add_argument("work_dir")
    p.set_defaults(handler=_report)

    p = commands.add_parser("models", parents=[common], help="list the bundled models")
    p.set_defaults(handler=_models)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_usage(sys.stderr)
        print(f"{parser.prog}: error: a command is required", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO if args.debug else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    tuner_log = logging.getLogger("onnxtune.tuner")
    saved_level = tuner_log.level
    if not args.debug:
        tuner_log.setLevel(logging.ERROR)  # per-candidate warnings go to work_dir/logs
    try:
        return int(handler(args))
    except KeyboardInterrupt:
        print("onnxtune: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - one clear line, unless --debug
        if args.debug:
            raise
        msg = str(e).strip() or type(e).__name__
        print(f"onnxtune: error: {type(e).__name__}: {msg}", file=sys.stderr)
        return 1
    finally:
        tuner_log.setLevel(saved_level)  # main() may be called in a running program
