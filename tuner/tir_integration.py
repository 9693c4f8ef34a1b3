"""MetaSchedule-TIR integration: tune_tir and compile_tir (TVM's names and arguments)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from onnxtune.tir import IRModule, PrimFunc

from .database import Database
from .database.database import as_module
from .space_generator import SpaceGenerator
from .tune import tune_tasks
from .tune_context import TuneContext


def _space_for(space: Any, n_tasks: int) -> Any:
    """A space generator for one task: objects are cloned when several tasks share them."""
    if isinstance(space, SpaceGenerator) and n_tasks > 1:
        return space.clone()
    return space


def _strategy_for(strategy: Any, n_tasks: int) -> Any:
    from .search_strategy import SearchStrategy

    if isinstance(strategy, SearchStrategy) and n_tasks > 1:
        return strategy.clone()
    return strategy


def tune_tir(mod: IRModule | PrimFunc, target: Any, work_dir: str, max_trials_global: int, *,
             max_trials_per_task: int | None = None, num_trials_per_iter: int = 64,
             builder: Any = "local", runner: Any = "local", database: Any = "json",
             cost_model: Any = "xgb", measure_callbacks: Any = "default",
             task_scheduler: Any = "gradient", space: Any = "post-order-apply",
             strategy: Any = "evolutionary", num_tuning_cores: Any = "physical",
             seed: int | None = None, module_equality: str = "structural",
             special_space: Mapping[str, Any] | None = None,
             post_optimization: bool | None = False) -> Database:
    """Tune every PrimFunc of ``mod`` (one task each, weight 1) for ``target``; returns the
    database with all tuning records. ``space`` / ``strategy`` are objects or kind names
    (``space`` may also be a schedule function); ``special_space`` maps a function name to
    its own space; ``seed`` makes the search reproducible (None: random)."""
    mod = as_module(mod)
    funcs = [(name, f) for name, f in mod.functions.items() if isinstance(f, PrimFunc)]
    if not funcs:
        raise ValueError(f"tune_tir: the module has no PrimFunc to tune (it has {list(mod)})")
    special_space = dict(special_space or {})
    unknown = sorted(set(special_space) - {name for name, _ in funcs})
    if unknown:
        raise ValueError(f"tune_tir: special_space names {unknown}, which are not functions "
                         f"of the module ({[name for name, _ in funcs]})")
    n = len(funcs)
    tasks = []
    for name, func in funcs:
        tasks.append(TuneContext(
            IRModule({"main": func}), target=target,
            space_generator=_space_for(special_space.get(name, space), n),
            search_strategy=_strategy_for(strategy, n), task_name=name,
            rand_state=-1 if seed is None else seed, num_threads=num_tuning_cores))
    return tune_tasks(
        tasks=tasks, task_weights=[1.0] * n, work_dir=work_dir,
        max_trials_global=max_trials_global, max_trials_per_task=max_trials_per_task,
        num_trials_per_iter=num_trials_per_iter, builder=builder, runner=runner,
        database=database, cost_model=cost_model, measure_callbacks=measure_callbacks,
        task_scheduler=task_scheduler, module_equality=module_equality,
        post_optimization=post_optimization)


def compile_tir(database: Database, mod: IRModule | PrimFunc, target: Any) -> Any:
    """The best schedule the database holds for ``mod`` (its best record's trace replayed
    on ``mod``), or None when the database has no valid record of it."""
    from onnxtune.compile.target import Target

    if not isinstance(database, Database):
        raise TypeError(f"compile_tir: database must be a Database, got "
                        f"{type(database).__name__}")
    mod = as_module(mod)
    target = target if isinstance(target, Target) else Target(target)
    return database.query_schedule(mod, target, workload_name="main")
