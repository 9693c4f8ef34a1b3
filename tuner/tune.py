"""tune_tasks: tune a list of TuneContexts with a task scheduler (TVM's entry point).

Every argument accepts an object or its kind name (normalized here, at the boundary).
The work directory receives the JSON database (``database_workload.json``,
``database_tuning_record.json``), ``logs/`` (``tuner.log``, one ``task_<i>_<name>.log`` per
task, ``tuning_statistics.txt``) and, with ``post_optimization=True``, the records of the
Droplet search around each task's best schedule.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .builder import Builder
from .cost_model import CostModel
from .database import Database
from .database.database import check_module_equality
from .measure_callback import MeasureCallback
from .runner import Runner
from .task_scheduler import TaskScheduler

logger = logging.getLogger("onnxtune.tuner")

_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:80] or "task"


@contextmanager
def tuning_logs(work_dir: str, tasks: list[Any]) -> Iterator[None]:
    """Per-task log files under ``work_dir/logs`` and a ``tuner.log`` for the scheduler,
    removed again when tuning ends. Task loggers write only to their file; the
    scheduler's logger (``onnxtune.tuner``) also prints INFO to the console unless the
    application configured logging itself."""
    log_dir = os.path.join(work_dir, "logs")
    os.makedirs(log_dir, exist_ok=True)
    fmt = logging.Formatter(_LOG_FORMAT)
    added: list[tuple[logging.Logger, logging.Handler]] = []
    saved: list[tuple[logging.Logger, int, bool]] = []

    def attach(lg: logging.Logger, handler: logging.Handler) -> None:
        handler.setFormatter(fmt)
        lg.addHandler(handler)
        added.append((lg, handler))

    main = logging.getLogger("onnxtune.tuner")
    saved.append((main, main.level, main.propagate))
    if main.level == logging.NOTSET or main.level > logging.INFO:
        main.setLevel(logging.INFO)
    attach(main, logging.FileHandler(os.path.join(log_dir, "tuner.log")))
    if not logging.getLogger().handlers and not any(
            isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
            for h in main.handlers):
        attach(main, logging.StreamHandler())
    for i, ctx in enumerate(tasks):
        lg = logging.getLogger(f"onnxtune.tuner.task.{i}.{_safe(ctx.task_name)}")
        saved.append((lg, lg.level, lg.propagate))
        lg.setLevel(logging.DEBUG)
        lg.propagate = False
        attach(lg, logging.FileHandler(
            os.path.join(log_dir, f"task_{i}_{_safe(ctx.task_name)}.log")))
        ctx.logger = lg
    try:
        yield
    finally:
        for lg, h in added:
            lg.removeHandler(h)
            h.close()
        for lg, level, propagate in saved:
            lg.setLevel(level)
            lg.propagate = propagate


def _normalize(kind_or_obj: Any, base: type, what: str, *args: Any, **kwargs: Any) -> Any:
    if isinstance(kind_or_obj, str):
        return base.create(kind_or_obj, *args, **kwargs)
    if kind_or_obj is None or not isinstance(kind_or_obj, base):
        raise TypeError(f"tune_tasks: {what} must be a {base.__name__} or one of its kind "
                        f"names, got {type(kind_or_obj).__name__}")
    return kind_or_obj


def normalize_database(database: Any, work_dir: str, module_equality: str) -> Database:
    if database == "json":
        return Database.create("json", work_dir=work_dir, module_equality=module_equality)
    if database == "memory":
        return Database.create("memory", module_equality=module_equality)
    if isinstance(database, Database):
        return database
    raise TypeError(f"tune_tasks: database must be a Database, 'json' or 'memory', got "
                    f"{database!r}")


def normalize_callbacks(measure_callbacks: Any) -> list[MeasureCallback]:
    if isinstance(measure_callbacks, str):
        return MeasureCallback.create(measure_callbacks)
    if isinstance(measure_callbacks, MeasureCallback):
        return [measure_callbacks]
    cbs = list(measure_callbacks)
    for cb in cbs:
        if not isinstance(cb, MeasureCallback):
            raise TypeError(f"tune_tasks: measure_callbacks must hold MeasureCallback objects, "
                            f"got {type(cb).__name__}")
    return cbs


def _save_model(cost_model: Any, path: str) -> None:
    """Save atomically (write a temporary file, then rename); never raises."""
    root, ext = os.path.splitext(path)
    tmp = f"{root}.tmp{os.getpid()}{ext}"
    try:
        cost_model.save(tmp)
        os.replace(tmp, path)
    except Exception as e:  # noqa: BLE001 - the records matter, the model can be retrained
        logger.warning("cannot save the cost model to %s: %s", path, e)
        if os.path.exists(tmp):
            os.remove(tmp)


def tune_tasks(*, tasks: list[Any], task_weights: list[float], work_dir: str,
               max_trials_global: int, max_trials_per_task: int | None = None,
               num_trials_per_iter: int = 64, builder: Any = "local", runner: Any = "local",
               database: Any = "json", cost_model: Any = "xgb",
               measure_callbacks: Any = "default", task_scheduler: Any = "gradient",
               module_equality: str = "structural",
               post_optimization: bool | None = False) -> Database:
    """Tune ``tasks`` (TuneContexts with a module, target, space generator and search
    strategy) with a task scheduler sharing ``max_trials_global`` trials; returns the
    database holding every tuning record (failed candidates included, with their error).

    A rerun on the same ``work_dir`` with the JSON database continues where the previous
    run stopped: trials already recorded count against the budgets and are not measured
    again. ``post_optimization=True`` then runs a Droplet search of up to 100 more trials
    around each task's best schedule (an int instead of True sets that number)."""
    if not tasks:
        raise ValueError("tune_tasks: no tasks to tune")
    if len(tasks) != len(task_weights):
        raise ValueError(f"tune_tasks: {len(tasks)} tasks but {len(task_weights)} weights")
    for i, t in enumerate(tasks):
        missing = [a for a in ("mod", "target", "space_generator", "search_strategy")
                   if getattr(t, a, None) is None]
        if missing:
            raise ValueError(f"tune_tasks: task {i} ({getattr(t, 'task_name', '?')}) has no "
                             f"{', '.join(missing)}")
    if max_trials_global < 1:
        raise ValueError(f"tune_tasks: max_trials_global must be >= 1, got {max_trials_global}")
    if max_trials_per_task is None:
        max_trials_per_task = max_trials_global
    if num_trials_per_iter < 1:
        raise ValueError(f"tune_tasks: num_trials_per_iter must be >= 1, got "
                         f"{num_trials_per_iter}")
    check_module_equality(module_equality)
    os.makedirs(work_dir, exist_ok=True)
    builder = _normalize(builder, Builder, "builder")
    runner = _normalize(runner, Runner, "runner")
    database = normalize_database(database, work_dir, module_equality)
    model_path = None
    if isinstance(cost_model, str):
        kind = cost_model
        cost_model = CostModel.create(kind)
        # the model's training data and state live in work_dir, so a resumed run starts
        # with the model it had (not a cold one that predicts at random until warm-up)
        model_path = os.path.join(work_dir, f"cost_model_{kind}"
                                  + (".json" if kind == "random" else ".npz"))
        if os.path.exists(model_path):
            try:
                cost_model.load(model_path)
                logger.info("cost model loaded from %s", model_path)
            except Exception as e:  # noqa: BLE001 - a damaged file costs only the warm-up
                logger.warning("cannot load the cost model %s (%s); starting a new one",
                               model_path, e)
    elif cost_model is not None and not isinstance(cost_model, CostModel):
        raise TypeError(f"tune_tasks: cost_model must be a CostModel or 'xgb' / 'mlp' / "
                        f"'random', got {type(cost_model).__name__}")
    callbacks = normalize_callbacks(measure_callbacks)
    scheduler = _normalize(task_scheduler, TaskScheduler, "task_scheduler")
    scheduler.work_dir = work_dir
    with tuning_logs(work_dir, tasks):
        logger.info("tuning %d task(s), %d trials in all (%d per task at most), work_dir %s",
                    len(tasks), max_trials_global, max_trials_per_task, work_dir)
        try:
            scheduler.tune(tasks, task_weights, max_trials_global, max_trials_per_task,
                           num_trials_per_iter, builder, runner, callbacks, database,
                           cost_model)
        finally:
            if model_path is not None:
                _save_model(cost_model, model_path)
        if post_optimization:
            from .post_optimization import DEFAULT_TRIALS, post_optimize_tasks

            trials = DEFAULT_TRIALS if post_optimization is True else int(post_optimization)
            post_optimize_tasks(tasks, database, builder, runner, work_dir, trials)
    return database
