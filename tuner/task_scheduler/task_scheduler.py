"""TaskScheduler: shares the trial budget among tasks and drives the measure loop."""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from typing import Any

from ..builder import BuilderInput, BuilderResult
from ..runner import RunnerInput, RunnerResult
from ..utils import make

logger = logging.getLogger("onnxtune.tuner")


@dataclass
class TaskRecord:
    """Per-task tuning state and statistics."""

    ctx: Any
    weight: float
    flop: float
    is_terminated: bool = False
    trials: int = 0
    build_errors: int = 0
    run_errors: int = 0
    best_latency: float = math.inf  # seconds
    best_history: list[float] = field(default_factory=list)  # best latency after each round
    latency_curve: list[tuple[int, float]] = field(default_factory=list)  # (trials, best)
    measure_candidates: list[Any] | None = None
    builder_results: list[BuilderResult] | None = None
    runner_futures: list[Any] | None = None


class TaskScheduler:
    """The abstract task scheduler. Subclasses choose ``next_task_id``; the loop is here."""

    def __init__(self) -> None:
        self.tasks: list[TaskRecord] = []
        self.database: Any = None
        self.cost_model: Any = None
        self.builder: Any = None
        self.runner: Any = None
        self.measure_callbacks: list[Any] = []
        self.max_trials_global = 0
        self.max_trials_per_task = 0
        self.num_trials_per_iter = 64
        self.work_dir: str | None = None
        self.remaining_tasks = 0
        self.total_trials = 0
        self.quiet = False
        self.on_progress: Any = None  # callable(scheduler) after each measured batch

    # -- what subclasses provide --------------------------------------------------------
    def next_task_id(self) -> int:
        """The task to tune next, or -1 when every task is done."""
        raise NotImplementedError

    # -- the tuning loop ----------------------------------------------------------------
    def tune(self, tasks: list[Any], task_weights: list[float], max_trials_global: int,
             max_trials_per_task: int | None, num_trials_per_iter: int, builder: Any,
             runner: Any, measure_callbacks: list[Any], database: Any, cost_model: Any) -> None:
        """Tune ``tasks`` (TuneContexts) until the budgets are spent or the search ends."""
        from onnxtune.tir.analysis import estimate_flops

        if len(tasks) != len(task_weights):
            raise ValueError(f"{len(tasks)} tasks but {len(task_weights)} task weights")
        if max_trials_global < 1:
            raise ValueError(f"max_trials_global must be >= 1, got {max_trials_global}")
        self.max_trials_global = max_trials_global
        self.max_trials_per_task = max_trials_per_task or max_trials_global
        self.num_trials_per_iter = num_trials_per_iter
        self.builder, self.runner = builder, runner
        self.measure_callbacks = list(measure_callbacks)
        self.database, self.cost_model = database, cost_model
        self.tasks = [TaskRecord(ctx, float(w), estimate_flops(ctx.mod))
                      for ctx, w in zip(tasks, task_weights, strict=True)]
        self.remaining_tasks = len(self.tasks)
        for i, t in enumerate(self.tasks):
            self._resume_from_database(t)
            t.ctx.logger.info("task %d %s: %.0f FLOP, weight %g", i, t.ctx.task_name, t.flop,
                              t.weight)
            design_spaces = t.ctx.generate_design_space()
            t.ctx.pre_tuning(max_trials=max(0, self.max_trials_per_task - t.trials),
                             num_trials_per_iter=num_trials_per_iter,
                             design_spaces=design_spaces, database=database,
                             cost_model=cost_model)
            if t.trials >= self.max_trials_per_task:
                self._terminate(i)
        if self.total_trials >= self.max_trials_global:
            for i in range(len(self.tasks)):
                self._terminate(i)
        try:
            while (task_id := self.next_task_id()) != -1:
                self._tune_one_round(task_id)
        finally:
            for t in self.tasks:
                if t.ctx.search_strategy is not None:
                    t.ctx.post_tuning()
            if not self.quiet:
                self.print_tuning_statistics()

    def _resume_from_database(self, t: TaskRecord) -> None:
        """Count trials already in the database for this task (a resumed run)."""
        db = self.database
        if db is None or not hasattr(db, "records_of") or not db.has_workload(t.ctx.mod):
            return
        wl = db.commit_workload(t.ctx.mod)
        recs = db.records_of(wl)
        # distinct schedules: one re-measured (by verification) is still one trial
        trials = db.trials_of(wl) if hasattr(db, "trials_of") else len(recs)
        t.trials = trials
        self.total_trials += trials  # they count against the global budget too
        for n, r in enumerate(recs, 1):
            if r.is_valid() and r.mean_secs() < t.best_latency:
                t.best_latency = r.mean_secs()
                t.latency_curve.append((n, t.best_latency))
        if recs:
            t.best_history.append(t.best_latency)

    def _tune_one_round(self, task_id: int) -> None:
        t = self.tasks[task_id]
        budget = min(self.max_trials_per_task - t.trials,
                     self.max_trials_global - self.total_trials)
        if budget <= 0:
            self._terminate(task_id)
            return
        cands = t.ctx.generate_measure_candidates()
        if not cands:
            self._terminate(task_id)
            return
        cands = cands[:budget]
        t.measure_candidates = cands
        t.builder_results = self.builder.build(
            [BuilderInput(c.sch.mod, t.ctx.target) for c in cands]
        )
        inputs, where = [], []
        for i, (c, b) in enumerate(zip(cands, t.builder_results, strict=True)):
            if b.error_msg is None:
                inputs.append(RunnerInput(b.artifact_path, "cpu", c.args_info))
                where.append(i)
        futures = self.runner.run(inputs) if inputs else []
        results: list[RunnerResult] = [
            RunnerResult(None, f"build failed: {b.error_msg}") for b in t.builder_results
        ]
        for i, f in zip(where, futures, strict=True):
            results[i] = f.result()
        self._join(task_id, results)

    def join_running_task(self, task_id: int) -> list[RunnerResult]:
        """Wait for the task's runner futures (this scheduler runs rounds synchronously)."""
        t = self.tasks[task_id]
        return [f.result() for f in (t.runner_futures or [])]

    def _join(self, task_id: int, results: list[RunnerResult]) -> None:
        t = self.tasks[task_id]
        cands, builds = t.measure_candidates or [], t.builder_results or []
        t.ctx.notify_runner_results(cands, results)
        for cb in self.measure_callbacks:
            cb.apply(self, task_id, cands, builds, results)
        for b, r in zip(builds, results, strict=True):
            t.trials += 1
            self.total_trials += 1
            if b.error_msg is not None:
                t.build_errors += 1
                t.ctx.logger.warning("build error: %s", b.error_msg.strip().splitlines()[-1:])
            elif r.error_msg is not None or not r.run_secs:
                t.run_errors += 1
                t.ctx.logger.warning("run error: %s", (r.error_msg or "").strip()[:500])
            else:
                lat = sum(r.run_secs) / len(r.run_secs)
                if lat < t.best_latency:
                    t.best_latency = lat
                    t.latency_curve.append((t.trials, lat))
        t.best_history.append(t.best_latency)
        t.measure_candidates = t.builder_results = t.runner_futures = None
        t.ctx.logger.info("round done: %d trials, best %.4g ms", t.trials,
                          t.best_latency * 1e3)
        if t.trials >= self.max_trials_per_task:
            self._terminate(task_id)
        if self.total_trials >= self.max_trials_global:
            for i in range(len(self.tasks)):
                self._terminate(i)
        if self.on_progress is not None:
            self.on_progress(self)
        elif not self.quiet:
            self.print_tuning_statistics()

    def _terminate(self, task_id: int) -> None:
        t = self.tasks[task_id]
        if not t.is_terminated:
            t.is_terminated = True
            self.remaining_tasks -= 1

    def terminate_task(self, task_id: int) -> None:
        self._terminate(task_id)

    def touch_task(self, task_id: int) -> None:
        t = self.tasks[task_id]
        if not t.is_terminated and t.trials >= self.max_trials_per_task:
            self._terminate(task_id)

    # -- reporting ----------------------------------------------------------------------
    def statistics(self) -> list[dict[str, Any]]:
        rows = []
        for i, t in enumerate(self.tasks):
            lat = t.best_latency
            rows.append({
                "id": i, "name": t.ctx.task_name, "flop": t.flop, "weight": t.weight,
                "gflops": t.flop / lat / 1e9 if math.isfinite(lat) and lat > 0 else None,
                "latency_us": lat * 1e6 if math.isfinite(lat) else None,
                "weighted_latency_us": lat * 1e6 * t.weight if math.isfinite(lat) else None,
                "trials": t.trials, "done": t.is_terminated,
                "build_errors": t.build_errors, "run_errors": t.run_errors,
            })
        return rows

    def tuning_statistics_table(self) -> str:
        head = (f"{'ID':>3} | {'Name':<28} | {'FLOP':>12} | {'Weight':>6} | {'GFLOPS':>9} | "
                f"{'Latency (us)':>12} | {'Weighted (us)':>13} | {'Trials':>6} | Done")
        lines = [head, "-" * len(head)]
        total = 0.0
        for r in self.statistics():
            def f(v: float | None, fmt: str) -> str:
                return format(v, fmt) if v is not None else "N/A"

            if r["weighted_latency_us"] is not None:
                total += r["weighted_latency_us"]
            lines.append(
                f"{r['id']:>3} | {r['name'][:28]:<28} | {r['flop']:>12.0f} | {r['weight']:>6g} | "
                f"{f(r['gflops'], '9.2f'):>9} | {f(r['latency_us'], '12.2f'):>12} | "
                f"{f(r['weighted_latency_us'], '13.2f'):>13} | {r['trials']:>6} | "
                f"{'Y' if r['done'] else ''}"
            )
        lines.append("-" * len(head))
        lines.append(f"Total trials: {self.total_trials}  Estimated total latency: "
                     f"{total / 1e3:.4f} ms")
        return "\n".join(lines)

    def print_tuning_statistics(self) -> None:
        text = self.tuning_statistics_table()
        logger.info("\n%s", text)
        if self.work_dir:
            with open(os.path.join(self.work_dir, "logs", "tuning_statistics.txt"), "w") as f:
                f.write(text + "\n")

    @staticmethod
    def create(kind: str = "gradient", *args: Any, **kwargs: Any) -> TaskScheduler:
        """Create a task scheduler: "round-robin" or "gradient"."""
        return make(
            {
                "round-robin": ".task_scheduler.round_robin:RoundRobin",
                "gradient": ".task_scheduler.gradient_based:GradientBased",
            },
            "TaskScheduler", kind, *args, **kwargs,
        )


PyTaskScheduler = TaskScheduler
