"""``tune_model``: tune an ONNX model end to end and report it against onnxruntime.

import → extract tasks (deduplicated by ``module_equality``) → tune them with a shared
trial budget (records appended to ``work_dir`` as they are measured) → compile from the
database → check the outputs against onnxruntime → time ours and onnxruntime's with the
same thread count. Re-running on the same ``work_dir`` resumes; Ctrl-C stops the search,
keeps every record and still compiles from what it has.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .session import compile_model, load_model

logger = logging.getLogger("onnxtune")

CONFIG_FILE = "onnxtune_config.json"
CURVE_FILE = os.path.join("logs", "model_curve.jsonl")


@dataclass
class TaskReport:
    """One task's tuning result (latency in microseconds; None before a valid trial)."""

    name: str
    weight: float
    flop: float
    trials: int
    best_latency_us: float | None
    gflops: float | None
    curve: list[tuple[int, float]] = field(default_factory=list)  # (trials, best µs)


@dataclass
class TuneReport:
    """What tuning achieved: per task, and for the whole model vs onnxruntime."""

    model: str
    target: str
    work_dir: str
    module_equality: str
    tasks: list[TaskReport]
    trials: int
    tuning_seconds: float
    interrupted: bool
    schedules: dict[str, int]  # kernels compiled from: tuned / anchor / default
    threads: int
    ours_ms: float | None = None
    onnxruntime_ms: float | None = None
    accuracy: dict[str, Any] | None = None
    model_curve: list[tuple[int, float]] = field(default_factory=list)  # (trials, est. ms)
    # the end-of-tuning verification: schedules re-measured, tasks whose choice changed,
    # seconds spent (None: not run)
    verification: dict[str, Any] | None = None

    @property
    def ratio(self) -> float | None:
        """ours / onnxruntime (below 1.0: we are faster)."""
        if self.ours_ms is None or not self.onnxruntime_ms:
            return None
        return self.ours_ms / self.onnxruntime_ms

    def as_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["ratio"] = self.ratio
        return d

    def to_text(self) -> str:
        head = (f"{'ID':>3}  {'Task':<34} {'Weight':>6} {'MFLOP':>10} {'Trials':>6} "
                f"{'Best (us)':>11} {'GFLOPS':>8}")
        lines = [f"onnxtune report: {self.model} on {self.target} ({self.threads} threads)",
                 head, "-" * len(head)]
        for i, t in enumerate(self.tasks):
            best = f"{t.best_latency_us:11.1f}" if t.best_latency_us is not None else \
                f"{'-':>11}"
            gf = f"{t.gflops:8.1f}" if t.gflops is not None else f"{'-':>8}"
            lines.append(f"{i:>3}  {t.name[:34]:<34} {t.weight:>6g} {t.flop / 1e6:>10.1f} "
                         f"{t.trials:>6} {best} {gf}")
        lines.append("-" * len(head))
        state = " (interrupted)" if self.interrupted else ""
        lines.append(f"trials: {self.trials} in {self.tuning_seconds:.0f} s{state}; kernels: "
                     + ", ".join(f"{v} {k}" for k, v in sorted(self.schedules.items())))
        if self.verification is not None:
            v = self.verification
            lines.append(f"verification: {v['schedules']} leading schedules of {v['tasks']} "
                         f"tasks re-measured side by side in {v['seconds']:.0f} s; "
                         f"{v['changed']} tasks changed their choice (best latencies above "
                         f"are the re-measured ones)")
            if v.get("model") is not None:
                m = v["model"]
                lines.append(f"in the model: {m['switched']} of {m['tasks']} tasks took their "
                             f"default schedule, faster there (all tuned {m['tuned_ms']:.2f} "
                             f"ms, all default {m['default_ms']:.2f} ms, chosen ~"
                             f"{m['chosen_ms']:.2f} ms; {m['seconds']:.0f} s)")
        if self.ours_ms is not None:
            ort_ms = f"{self.onnxruntime_ms:.3f} ms" if self.onnxruntime_ms else "n/a"
            ratio = f"{self.ratio:.2f}x" if self.ratio is not None else "n/a"
            lines.append(f"latency: onnxtune {self.ours_ms:.3f} ms, onnxruntime {ort_ms} "
                         f"(ours/onnxruntime = {ratio}, median, same threads)")
        if self.accuracy is not None:
            a = self.accuracy
            verdict = "OK" if a["ok"] else "MISMATCH"
            lines.append(f"accuracy vs onnxruntime: {verdict} (max |diff| {a['max_abs_diff']:.3g}"
                         f", max |ref| {a['max_abs_ref']:.3g}, tolerance "
                         f"1e-4*max|ref|+1e-5, {a['outputs']} outputs)")
        return "\n".join(lines)


@dataclass
class TuneResult:
    """``database`` (all records), ``executable`` (compiled from it), ``tasks`` (the
    extracted tasks), ``report`` (:class:`TuneReport`)."""

    database: Any
    executable: Any
    tasks: list[Any]
    report: TuneReport


# -- helpers -------------------------------------------------------------------------------
def random_inputs(sess_inputs: list[Any], seed: int = 0) -> dict[str, np.ndarray]:
    """Random data for each input (normal floats; small non-negative ints; random bools)."""
    rng = np.random.default_rng(seed)
    feed = {}
    for i in sess_inputs:
        dt = np.dtype(i.dtype)
        if dt.kind == "f":
            feed[i.name] = rng.standard_normal(i.shape).astype(dt)
        elif dt.kind == "b":
            feed[i.name] = rng.integers(0, 2, i.shape).astype(bool)
        else:
            feed[i.name] = rng.integers(0, 2, i.shape).astype(dt)
    return feed


def median_seconds(fn: Callable[[], Any], min_seconds: float = 1.0, min_runs: int = 5,
                   max_runs: int = 200) -> float:
    """Median wall time of ``fn()`` over at least ``min_runs`` runs / ``min_seconds``."""
    fn()  # warm-up
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < max_runs and (len(times) < min_runs
                                     or time.perf_counter() - start < min_seconds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def onnxruntime_session(model: Any, threads: int) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), opts,
                                providers=["CPUExecutionProvider"])


def compare_with_onnxruntime(session: Any, ort_session: Any, seed: int = 0) -> dict[str, Any]:
    """Run both on the same random inputs; max |diff| against 1e-4·max|ref| + 1e-5."""
    feed = random_inputs(session.get_inputs(), seed)
    ours = session.run(None, feed)
    names = [o.name for o in session.get_outputs()]
    ref = ort_session.run(names, feed)
    worst_diff, worst_ref, ok = 0.0, 0.0, True
    for a, b in zip(ours, ref, strict=True):
        b = np.asarray(b)
        if a.dtype.kind in "fc":
            diff = float(np.max(np.abs(a.astype(np.float64) - b))) if a.size else 0.0
            mref = float(np.max(np.abs(b))) if b.size else 0.0
            ok &= diff <= 1e-4 * mref + 1e-5 and bool(np.isfinite(a).all() == np.isfinite(b).all())
        else:
            diff = float(np.sum(a != b))
            mref = 0.0
            ok &= diff == 0
        worst_diff, worst_ref = max(worst_diff, diff), max(worst_ref, mref)
    return {"ok": bool(ok), "max_abs_diff": worst_diff, "max_abs_ref": worst_ref,
            "outputs": len(ours), "seed": seed}


class _Progress:
    """A one-line progress bar with ETA and the best estimated model latency so far."""

    def __init__(self, total: int, stream: Any, curve_path: str | None, already: int = 0):
        self.total, self.stream, self.curve_path = total, stream, curve_path
        self.start = time.perf_counter()
        self.already = already  # trials found in the work_dir (a resumed run)
        self.curve: list[tuple[int, float]] = []

    def __call__(self, scheduler: Any) -> None:
        done = scheduler.total_trials
        est = 0.0
        for t in scheduler.tasks:
            if math.isfinite(t.best_latency):
                est += t.best_latency * t.weight
            else:
                est = math.nan
                break
        if not math.isnan(est):
            self.curve.append((done, est * 1e3))
            if self.curve_path:
                with open(self.curve_path, "a") as f:
                    f.write(json.dumps([done, est * 1e3]) + "\n")
        if self.stream is None:
            return
        elapsed = time.perf_counter() - self.start
        frac = min(1.0, done / max(1, self.total))
        width = 30
        bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
        rate = (done - self.already) / elapsed if elapsed > 0 else 0
        eta = (self.total - done) / rate if rate > 0 else math.inf
        eta_s = f"{eta / 60:.0f}m{eta % 60:02.0f}s" if math.isfinite(eta) else "?"
        best = f"{est * 1e3:.3f} ms" if not math.isnan(est) else "n/a"
        self.stream.write(f"\r[{bar}] {done}/{self.total} trials  ETA {eta_s}  "
                          f"est. latency {best}   ")
        self.stream.flush()


def _task_reports(scheduler: Any, tasks: list[Any], database: Any,
                  verified: bool = False) -> list[TaskReport]:
    """One row per task; ``verified``: the best latency is the database's first-ranked
    record (re-measured by the verification) rather than the best single measurement."""
    from onnxtune.tir.analysis import estimate_flops

    rows = []
    sched_tasks = getattr(scheduler, "tasks", None) or []
    for k, task in enumerate(tasks):
        st = sched_tasks[k] if k < len(sched_tasks) else None
        if st is not None:
            lat, trials, curve, flop = st.best_latency, st.trials, st.latency_curve, st.flop
        else:  # the scheduler did not run (no budget): read the database
            flop = estimate_flops(task.mod)
            recs = database.records_of(database.commit_workload(task.mod)) \
                if database.has_workload(task.mod) else []
            trials, lat, curve = len(recs), math.inf, []
            for n, r in enumerate(recs, 1):
                if r.is_valid() and r.mean_secs() < lat:
                    lat = r.mean_secs()
                    curve.append((n, lat))
        if verified and database.has_workload(task.mod):
            top = database.get_top_k(database.commit_workload(task.mod), 1)
            if top:
                lat = top[0].mean_secs()
        ok = math.isfinite(lat) and lat > 0
        rows.append(TaskReport(task.task_name, float(task.weight), float(flop), int(trials),
                               lat * 1e6 if ok else None, flop / lat / 1e9 if ok else None,
                               [(int(n), float(v) * 1e6) for n, v in curve]))
    return rows


def _read_curve(path: str) -> list[tuple[int, float]]:
    out = []
    try:
        with open(path) as f:
            for line in f:
                try:
                    n, v = json.loads(line)
                    out.append((int(n), float(v)))
                except (ValueError, TypeError):
                    continue  # a line cut by a kill
    except OSError:
        pass
    return out


# -- the entry point -----------------------------------------------------------------------
def tune_model(model_or_path: Any, target: Any = "llvm", work_dir: str = "onnxtune_work",
               max_trials_global: int = 1000, max_trials_per_task: int | None = None,
               num_trials_per_iter: int = 64, module_equality: str = "anchor-block",
               validate: bool = True, benchmark: bool = True, *,
               cost_model: Any = "xgb", strategy: Any = "evolutionary",
               task_scheduler: str = "gradient", seed: int | None = None,
               post_optimization: bool | int = False, progress: bool | Any = True,
               report_html: bool = True, population_size: int | None = None,
               verify_top_k: int = 3, evaluator_config: Any = None) -> TuneResult:
    """Tune ``model_or_path`` (an ONNX ModelProto, a .onnx path or a bundled model name)
    for ``target`` with ``max_trials_global`` measured trials shared by its tasks.

    Records go to ``work_dir`` as they are measured; a rerun on the same ``work_dir``
    resumes (trials already there count against the budget). Ctrl-C stops tuning, keeps
    every record and still compiles. ``validate`` compares the outputs with onnxruntime on
    random inputs; ``benchmark`` times ours and onnxruntime's with the same thread count.
    ``progress``: True for a progress bar on stderr, False for none, or a stream.
    ``population_size``: the evolutionary search's population (default: 4 candidates per
    trial of a round, between 64 and 512 — the search is Python, so small budgets use a
    small population).
    ``verify_top_k``: when tuning ends, each task's ``verify_top_k`` best schedules and its
    default schedule are re-measured side by side (:func:`~onnxtune.tuner.verify.
    verify_best_records`), so that one lucky measurement cannot pick the schedule the
    model is compiled with; then each task's choice is timed in the model against its
    default schedule (:func:`~onnxtune.tuner.verify.select_in_model`: caches and the
    cores' split of the data differ there) and the faster one kept. 0 skips both (and a
    Ctrl-C skips them too).
    The graph passes' options (``ONNXTUNE_NCHWC``, ``ONNXTUNE_POINTWISE_MATMUL``) are
    written to ``work_dir``'s ``onnxtune_config.json``; resuming, and ``compile_model``
    from the work_dir, use those, so its records keep matching their tasks (a work_dir
    from before they were written down: NCHW, no blocked layout).
    ``evaluator_config``: how candidates are timed (an ``EvaluatorConfig`` or a dict of its
    fields: number, repeat, min_repeat_ms, enable_cpu_cache_flush), for the default
    schedules and the search. With ``enable_cpu_cache_flush`` the arguments are flushed
    from the caches before each timed run (number 1, min_repeat_ms 0 and repeat 8 unless
    given), so each sample starts cold, and the verification times that way too (else it
    keeps its own interleaved 40 ms samples). Measured on ResNet-50, cold timing chose
    slower schedules than the default warm timing (see README).
    Returns a :class:`TuneResult`; the report is also written to ``work_dir`` (report.json,
    report.txt and, with ``report_html``, report.html with PNG copies of its charts).
    """
    from onnxtune.compile.target import Target
    from onnxtune.frontend import from_onnx
    from onnxtune.frontend.transform.pipeline import (
        current_graph_options,
        graph_options,
        recorded_graph_options,
    )
    from onnxtune.tuner.database import JSONDatabase
    from onnxtune.tuner.relax_integration import (
        compile_relax,
        extract_tasks,
        extracted_tasks_to_tune_contexts,
    )
    from onnxtune.tuner.runner.local_runner import LocalRunner
    from onnxtune.tuner.task_scheduler import TaskScheduler
    from onnxtune.tuner.tune import tune_tasks

    if max_trials_global < 0:
        raise ValueError(f"tune_model: max_trials_global must be >= 0, got {max_trials_global}")
    if not isinstance(verify_top_k, int) or verify_top_k < 0:
        raise ValueError(f"tune_model: verify_top_k must be an int >= 0 (0 skips the "
                         f"verification), got {verify_top_k!r}")
    tgt = target if isinstance(target, Target) else Target(target)
    evaluator_config = _evaluator_config(evaluator_config)
    model = load_model(model_or_path)
    model_name = (model_or_path if isinstance(model_or_path, str)
                  else (model.graph.name or "model"))
    os.makedirs(os.path.join(work_dir, "logs"), exist_ok=True)
    config_path = os.path.join(work_dir, CONFIG_FILE)
    graph = current_graph_options()
    if os.path.exists(config_path):
        with open(config_path) as f:
            old = json.load(f)
        if old.get("module_equality", module_equality) != module_equality:
            raise ValueError(
                f"tune_model: {work_dir!r} was tuned with module_equality="
                f"{old['module_equality']!r}; resume with the same mode or use another "
                f"work_dir")
        # resume with the graph passes the records were measured under (their tasks)
        graph = recorded_graph_options(old)
    with open(config_path, "w") as f:
        json.dump({"module_equality": module_equality, "target": str(tgt),
                   "model": str(model_name), "graph": graph}, f)
    with graph_options(**graph):  # (the work_dir's: its records' tasks)
        mod = from_onnx(model)
        tasks = extract_tasks(mod, tgt, module_equality=module_equality)
        database = JSONDatabase(work_dir=work_dir, module_equality=module_equality)
        scheduler = TaskScheduler.create(task_scheduler)
        stream = sys.stderr if progress is True else (progress or None)
        bar = _Progress(max_trials_global, stream, os.path.join(work_dir, CURVE_FILE),
                        already=sum(database.trials_of(w) for w in database.workloads))
        scheduler.on_progress = bar
        scheduler.quiet = stream is None
        interrupted = False
        t0 = time.perf_counter()
        if tasks and max_trials_global // len(tasks) < num_trials_per_iter:
            # every task gets one warm-up round first: with a small budget, smaller rounds
            # let each task be measured at least once
            num_trials_per_iter = max(2, max_trials_global // len(tasks))
            logger.info("%d tasks share %d trials: %d trials per round", len(tasks),
                        max_trials_global, num_trials_per_iter)
        if strategy == "evolutionary":
            from onnxtune.tuner.search_strategy.evolutionary_search import EvolutionarySearch

            pop = population_size or min(512, max(64, 4 * num_trials_per_iter))
            strategy = EvolutionarySearch(population_size=pop,
                                          init_min_unmeasured=min(50, pop // 2))
        if max_trials_global > 0 and tasks:
            measure_default_schedules(tasks, database, tgt, evaluator_config)
            contexts, weights = extracted_tasks_to_tune_contexts(
                tasks, work_dir, "post-order-apply+default-variants", strategy, seed=seed)
            runner = LocalRunner(evaluator_config=evaluator_config)  # None: the defaults
            try:
                tune_tasks(tasks=contexts, task_weights=weights, work_dir=work_dir,
                           max_trials_global=max_trials_global,
                           max_trials_per_task=max_trials_per_task,
                           num_trials_per_iter=num_trials_per_iter, database=database,
                           cost_model=cost_model, task_scheduler=scheduler,
                           module_equality=module_equality, post_optimization=post_optimization,
                           runner=runner)
            except KeyboardInterrupt:
                interrupted = True
                logger.warning("tuning interrupted: compiling from the %d records measured so far",
                               len(database))
            finally:
                runner.close()
                if stream is not None:
                    stream.write("\n")
        tuning_seconds = time.perf_counter() - t0
        verification = None
        if max_trials_global > 0 and tasks and verify_top_k > 0 and not interrupted:
            verification = verify_tasks(tasks, database, tgt, verify_top_k, stream,
                                        evaluator_config)
            model_sel = select_tasks_in_model(tasks, database, mod, tgt, stream)
            verification["model"] = model_sel
            if model_sel is not None:  # a switched task's two in-model records
                verification["records"] += 2 * model_sel["switched"]
        stats: dict[str, int] = {}
        executable = compile_relax(database, mod, tgt, stats=stats)
        report = TuneReport(
            str(model_name), str(tgt), work_dir, module_equality,
            _task_reports(scheduler, tasks, database, verification is not None),
            getattr(scheduler, "total_trials", 0), tuning_seconds, interrupted, stats,
            tgt.num_cores, model_curve=_read_curve(os.path.join(work_dir, CURVE_FILE)),
            verification=verification)
        if validate or benchmark:
            from .session import InferenceSession

            sess = InferenceSession(executable)
            ort_sess = onnxruntime_session(model, tgt.num_cores)
            if validate:
                report.accuracy = compare_with_onnxruntime(sess, ort_sess)
            if benchmark:
                feed = random_inputs(sess.get_inputs(), 1)
                report.ours_ms = median_seconds(lambda: sess.run(None, feed)) * 1e3
                report.onnxruntime_ms = median_seconds(lambda: ort_sess.run(None, feed)) * 1e3
        write_report(report, work_dir, html=report_html)
        return TuneResult(database, executable, tasks, report)


def verify_tasks(tasks: list[Any], database: Any, target: Any, top_k: int,
                 stream: Any = None, evaluator_config: Any = None) -> dict[str, Any]:
    """Re-measure each task's ``top_k`` best schedules and its default schedule side by side
    (see :mod:`onnxtune.tuner.verify`); a summary for the report. A cache-flushing
    ``evaluator_config`` (see tune_model) times them cold too."""
    from onnxtune.compile.default_schedule import default_schedule_of
    from onnxtune.tuner.verify import verify_best_records

    t0 = time.perf_counter()
    if stream is not None:
        stream.write(f"verifying the best schedules of {len(tasks)} tasks ...")
        stream.flush()
    extra: dict[int, list[Any]] = {}
    for k, t in enumerate(tasks):
        try:
            extra[k] = [default_schedule_of(t.mod["main"], target)]
        except Exception as e:  # noqa: BLE001 - the tuned records are still verified
            logger.warning("no default schedule for task %s: %s", t.task_name, e)
    runner = None
    if evaluator_config is not None and evaluator_config.enable_cpu_cache_flush:
        from onnxtune.tuner.runner.local_runner import LocalRunner

        runner = LocalRunner(evaluator_config=evaluator_config)
    try:
        results = verify_best_records(database, [t.mod for t in tasks], target,
                                      top_k=top_k, extra=extra, runner=runner)
    except KeyboardInterrupt:
        logger.warning("verification interrupted: compiling from the records so far")
        results = []
    finally:
        if runner is not None:
            runner.close()
    seconds = time.perf_counter() - t0
    changed = sum(r.changed for r in results)
    if stream is not None:
        stream.write(f" {changed} of {len(results)} tasks changed their choice "
                     f"({seconds:.0f} s)\n")
    measured = sum(r.measured for r in results)  # one new record each
    return {"tasks": len(results), "schedules": measured, "records": measured,
            "changed": changed, "seconds": seconds}


def select_tasks_in_model(tasks: list[Any], database: Any, mod: Any, target: Any,
                          stream: Any = None) -> dict[str, Any] | None:
    """Tuned or default schedule, task by task, by their time in the model (see
    :func:`onnxtune.tuner.verify.select_in_model`); a summary for the report, or None."""
    from dataclasses import asdict

    from onnxtune.tuner.verify import select_in_model

    if stream is not None:
        stream.write("timing tuned and default kernels in the model ...")
        stream.flush()
    try:
        sel = select_in_model(database, mod, tasks, target)
    except KeyboardInterrupt:
        logger.warning("in-model selection interrupted: compiling from the records so far")
        sel = None
    if stream is not None:
        stream.write(" skipped\n" if sel is None else
                     f" {sel.switched} of {sel.tasks} tasks took their default schedule "
                     f"({sel.seconds:.0f} s)\n")
    return None if sel is None else asdict(sel)


def _evaluator_config(config: Any) -> Any:
    """tune_model's ``evaluator_config`` normalized (None stays None: the runners'
    defaults); a cache-flushing config times single cold runs unless told otherwise."""
    from onnxtune.tuner.runner import EvaluatorConfig

    if config is None:
        return None
    given = config._asdict() if isinstance(config, EvaluatorConfig) else dict(config)
    cfg = EvaluatorConfig.normalize(config)
    if cfg.enable_cpu_cache_flush:
        cfg = cfg._replace(number=given.get("number") or 1,
                           min_repeat_ms=given.get("min_repeat_ms") or 0,
                           repeat=given.get("repeat") or 8)
    return cfg


def measure_default_schedules(tasks: list[Any], database: Any, target: Any,
                              evaluator_config: Any = None) -> int:
    """Measure the untuned default schedule of every task not in ``database`` yet and
    record it (one trial per task): the best record, which compilation uses, is then never
    worse than the untuned default. Returns how many were recorded."""
    from onnxtune.compile.default_schedule import default_schedule_of
    from onnxtune.tuner.arg_info import ArgInfo
    from onnxtune.tuner.builder import BuilderInput
    from onnxtune.tuner.builder.local_builder import LocalBuilder
    from onnxtune.tuner.database import TuningRecord
    from onnxtune.tuner.runner import RunnerInput
    from onnxtune.tuner.runner.local_runner import LocalRunner

    todo, schs = [], []
    for t in tasks:
        if database.has_workload(t.mod):
            continue
        try:
            schs.append(default_schedule_of(t.mod["main"], target))
            todo.append(t)
        except Exception as e:  # noqa: BLE001 - the search still covers this task
            logger.warning("no default schedule for task %s: %s", t.task_name, e)
    if not todo:
        return 0
    builder, runner = LocalBuilder(), LocalRunner(evaluator_config=evaluator_config)
    try:
        built = builder.build([BuilderInput(s.mod, target) for s in schs])
        args = [ArgInfo.from_entry_func(s.mod) for s in schs]
        inputs = [(k, RunnerInput(b.artifact_path, "cpu", args[k]))
                  for k, b in enumerate(built) if b.error_msg is None]
        futures = runner.run([ri for _, ri in inputs])
        results: dict[int, Any] = {k: f.result() for (k, _), f in zip(inputs, futures,
                                                                        strict=True)}
    finally:
        for closer in (getattr(runner, "close", None), getattr(builder, "close", None)):
            if closer is not None:
                closer()
    for k, (t, s) in enumerate(zip(todo, schs, strict=True)):
        r = results.get(k)
        err = built[k].error_msg or (r.error_msg if r is not None else "not run")
        ok = r is not None and r.error_msg is None and r.run_secs
        database.commit_tuning_record(TuningRecord(
            s.trace, database.commit_workload(t.mod), r.run_secs if ok else None, target,
            args[k], None if ok else err))
    from onnxtune.tuner.measure_callback.remove_build_artifact import RemoveBuildArtifact

    RemoveBuildArtifact().apply(None, 0, [], built, [])
    return len(todo)


def write_report(report: TuneReport, work_dir: str, html: bool = True) -> None:
    """report.json and report.txt (and report.html with the PNG charts report_model.png and
    report_task_<id>.png) in ``work_dir``."""
    with open(os.path.join(work_dir, "report.json"), "w") as f:
        json.dump(report.as_json(), f, indent=1)
    with open(os.path.join(work_dir, "report.txt"), "w") as f:
        f.write(report.to_text() + "\n")
    if html:
        from .report import write_html_and_pngs

        write_html_and_pngs(report, work_dir)


def compile_from_work_dir(model_or_path: Any, work_dir: str, target: Any = "llvm") -> Any:
    """Compile a model with the records a previous ``tune_model`` left in ``work_dir``."""
    return compile_model(model_or_path, target=target, database=work_dir)
