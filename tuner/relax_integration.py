"""MetaSchedule-graph integration: extract tasks from a model, tune them, compile the model.

TVM's names and arguments (``extract_tasks``, ``extracted_tasks_to_tune_contexts``,
``tune_relax``, ``compile_relax``) over onnxtune's graph IR: the module may come straight
from ``frontend.from_onnx``; the passes it needs (constant folding, BatchNorm folding,
legalization, FuseOps, FuseTIR) run here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from onnxtune.tir import IRModule, PrimFunc
from onnxtune.tir.module_equality import find_anchor_block, module_equal, module_hash

from .database import Database
from .database.database import check_module_equality
from .tir_integration import _space_for, _strategy_for
from .tune import tune_tasks
from .tune_context import TuneContext

logger = logging.getLogger(__name__)


@dataclass
class ExtractedTask:
    """A distinct tuning task: ``mod`` (``{"main": PrimFunc}``) stands for the functions in
    ``dispatched``, which together run ``weight`` times per model execution."""

    task_name: str
    mod: IRModule
    target: Any
    dispatched: list[IRModule]
    weight: int
    #: the graph module's PrimFunc names this task covers (one per dispatched module)
    func_names: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        return (f"ExtractedTask({self.task_name!r}, weight={self.weight}, "
                f"dispatched={len(self.dispatched)})")


def prepare(mod: Any, params: dict[str, Any] | None = None) -> Any:
    """The graph module in fused call_tir form (runs the frontend passes if needed), with
    ``layout_free_buffers`` attached to PrimFuncs whose weights are constants."""
    from onnxtune.compile.graph_build import needs_passes
    from onnxtune.frontend.transform import optimize

    if params:
        raise NotImplementedError(
            "extract_tasks(params=...): bind parameters at import instead (from_onnx keeps "
            "initializers as constants)")
    if needs_passes(mod):
        mod = optimize(mod)
    return attach_layout_free_buffers(mod)


def _call_sites(mod: Any) -> dict[str, list[Any]]:
    from onnxtune.frontend.ir import CallTIR

    sites: dict[str, list[Any]] = {}
    for b in mod["main"].bindings:
        if isinstance(b.value, CallTIR) and isinstance(mod[b.value.func], PrimFunc):
            sites.setdefault(b.value.func, []).append(b.value)
    return sites


def attach_layout_free_buffers(mod: Any) -> Any:
    """Mark, on each called PrimFunc, the parameters that receive a constant at every call
    site (weights): RewriteLayout may repack those once at compile time (TVM's
    AttachAttrLayoutFreeBuffers)."""
    from onnxtune.frontend.ir import Constant

    funcs = dict(mod.functions)
    changed = False
    for name, calls in _call_sites(mod).items():
        pf = funcs[name]
        free = [i for i in range(len(calls[0].args))
                if all(isinstance(c.args[i], Constant) for c in calls)]
        if free and list(pf.attrs.get("layout_free_buffers", [])) != free:
            funcs[name] = pf.with_attr("layout_free_buffers", free)
            changed = True
    return type(mod)(funcs) if changed else mod


def extract_tasks(mod: Any, target: Any, params: dict[str, Any] | None = None,
                  module_equality: str = "structural") -> list[ExtractedTask]:
    """The distinct tuning tasks of a graph module, by ``module_equality``:

    - ``"structural"``: functions equal up to names are one task;
    - ``"ignore-tensor"``: also ignoring the values of constant tensors inside them;
    - ``"anchor-block"``: functions whose anchor blocks (their heaviest reduction) are
      equal share one task, whatever their epilogues; functions without an anchor block
      are grouped structurally.

    A task's weight is how many times its functions are called per model run.
    """
    from onnxtune.compile.target import Target

    check_module_equality(module_equality)
    target = target if isinstance(target, Target) else Target(target)
    mod = prepare(mod, params)
    groups: dict[int, list[tuple[IRModule, list[str], int]]] = {}
    order: list[tuple[int, int]] = []
    for name, calls in _call_sites(mod).items():
        pf = mod[name]
        if pf.attrs.get("op_name") in ("reshape", "identity"):
            continue  # aliases at run time: no kernel to tune
        one = IRModule({"main": pf})
        mode = module_equality
        if mode == "anchor-block" and find_anchor_block(pf) is None:
            mode = "structural"
        h = module_hash(one, mode)
        bucket = groups.setdefault(h, [])
        for k, (rep, names, _) in enumerate(bucket):
            if module_equal(rep, one, mode):
                names.append(name)
                bucket[k] = (rep, names, bucket[k][2] + len(calls))
                break
        else:
            bucket.append((one, [name], len(calls)))
            order.append((h, len(bucket) - 1))
    tasks = []
    for h, k in order:
        rep, names, weight = groups[h][k]
        tasks.append(ExtractedTask(names[0], rep, target, [IRModule({"main": mod[n]})
                                                          for n in names], weight, names))
    return tasks


def extracted_tasks_to_tune_contexts(
    extracted_tasks: list[ExtractedTask], work_dir: str, space: Any = "post-order-apply",
    strategy: Any = "evolutionary", num_threads: Any = "physical", seed: int | None = None,
) -> tuple[list[TuneContext], list[float]]:
    """TuneContexts (one per task) and their weights."""
    del work_dir  # logs are set up by tune_tasks
    n = len(extracted_tasks)
    contexts = [TuneContext(t.mod, target=t.target, space_generator=_space_for(space, n),
                            search_strategy=_strategy_for(strategy, n), task_name=t.task_name,
                            rand_state=-1 if seed is None else seed, num_threads=num_threads)
                for t in extracted_tasks]
    return contexts, [float(t.weight) for t in extracted_tasks]


def tune_relax(mod: Any, params: dict[str, Any] | None, target: Any, work_dir: str,
               max_trials_global: int, max_trials_per_task: int | None = None,
               op_names: list[str] | None = None, *, num_trials_per_iter: int = 64,
               builder: Any = "local", runner: Any = "local", database: Any = "json",
               cost_model: Any = "xgb", measure_callbacks: Any = "default",
               task_scheduler: Any = "gradient", space: Any = "post-order-apply",
               strategy: Any = "evolutionary", seed: int | None = None,
               module_equality: str = "structural",
               post_optimization: bool | None = False) -> Database:
    """Extract the tasks of ``mod`` and tune them; returns the database. ``op_names`` keeps
    only tasks whose name contains one of them."""
    tasks = extract_tasks(mod, target, params, module_equality=module_equality)
    if op_names:
        tasks = [t for t in tasks if any(o in t.task_name for o in op_names)]
        if not tasks:
            raise ValueError(f"tune_relax: no task matches op_names={op_names}")
    contexts, weights = extracted_tasks_to_tune_contexts(tasks, work_dir, space, strategy,
                                                         seed=seed)
    return tune_tasks(tasks=contexts, task_weights=weights, work_dir=work_dir,
                      max_trials_global=max_trials_global,
                      max_trials_per_task=max_trials_per_task,
                      num_trials_per_iter=num_trials_per_iter, builder=builder, runner=runner,
                      database=database, cost_model=cost_model,
                      measure_callbacks=measure_callbacks, task_scheduler=task_scheduler,
                      module_equality=module_equality, post_optimization=post_optimization)


def schedule_from_database(database: Database | None, target: Any,
                           fallback: Callable[[PrimFunc], PrimFunc] | None = None,
                           stats: dict[str, int] | None = None
                           ) -> Callable[[PrimFunc], PrimFunc]:
    """A ``schedule_fn`` for the graph builder: the database's best schedule of a function;
    else, under anchor-block equality, the anchor task's trace applied to it
    (``trace_apply``) unless that trace is the anchor task's default schedule; else
    ``fallback`` (the default schedule). ``stats`` counts each outcome ("tuned", "anchor",
    "default")."""
    from onnxtune.tir.schedule import Schedule

    from .trace_apply import schedule_using_anchor_trace

    counts = stats if stats is not None else {}
    is_default: dict[int, bool] = {}

    def bump(k: str) -> None:
        counts[k] = counts.get(k, 0) + 1

    def default_record(rec: Any) -> bool:
        """Is ``rec`` the anchor task's default schedule? Then a kernel that shares only
        the anchor gets its own default schedule, not that one's trace replayed on it."""
        if id(rec) not in is_default:
            from onnxtune.compile.default_schedule import default_schedule_of

            try:
                own = default_schedule_of(rec.workload.mod["main"], target).trace.as_json()
                is_default[id(rec)] = own == rec.trace.as_json()
            except Exception:  # noqa: BLE001 - then it is not the default schedule
                is_default[id(rec)] = False
        return is_default[id(rec)]

    def schedule_fn(pf: PrimFunc) -> PrimFunc:
        one = IRModule({"main": pf})
        rec = None
        if database is not None:
            try:
                rec = database.query_tuning_record(one, target, "main")
            except Exception as e:  # noqa: BLE001 - a bad record must not stop compilation
                logger.warning("database query failed for a kernel: %s", e)
        if rec is not None:
            exact = module_equal(rec.workload.mod, one, "structural")
            if not exact and fallback is not None and default_record(rec):
                bump("default")
                return fallback(pf)
            sch = Schedule(one)
            try:
                if exact:
                    rec.trace.apply_to_schedule(sch, remove_postproc=False)
                else:
                    schedule_using_anchor_trace(sch, rec.trace, target)
                bump("tuned" if exact else "anchor")
                return sch.func
            except Exception as e:  # noqa: BLE001 - fall back to the default schedule
                logger.warning("replaying the tuned trace failed (%s); using the default "
                               "schedule", e)
        bump("default")
        return fallback(pf) if fallback is not None else pf

    return schedule_fn


def compile_relax(database: Database | None, mod: Any, target: Any,
                  params: dict[str, Any] | None = None, enable_warning: bool = False,
                  stats: dict[str, int] | None = None) -> Any:
    """Compile a graph module into an Executable, each kernel scheduled from ``database``
    (see :func:`schedule_from_database`), the rest with the default schedule."""
    from onnxtune.compile.executable import Executable
    from onnxtune.compile.graph_build import default_schedule_fn, to_program
    from onnxtune.compile.target import Target

    del enable_warning
    target = target if isinstance(target, Target) else Target(target)
    mod = prepare(mod, params)
    default = default_schedule_fn()
    fallback = (lambda pf: default(pf, target)) if default is not None else None
    program = to_program(mod, schedule_from_database(database, target, fallback, stats))
    fold_layout_rewrites(program, target)
    return Executable.build(program, target)


def fold_layout_rewrites(program: Any, target: Any) -> int:
    """Run each kernel's weight layout-rewrite blocks (inserted by RewriteLayout) once, at
    compile time, on the constants it is called with; the kernel then takes the repacked
    constants. Kernels called with a non-constant in a rewritten position keep their
    blocks. Returns the number of kernels changed."""
    from onnxtune.compile import build
    from onnxtune.compile.executable import Call
    from onnxtune.tir.transform.layout_rewrite import split_layout_rewrite_preproc

    changed = 0
    for name, func in list(program.kernels.items()):
        pre, compute = split_layout_rewrite_preproc(func)
        if pre is None:
            continue
        n_src = len(pre.params) // 2
        srcs = pre.params[:n_src]
        where = [func.params.index(b) for b in srcs]
        calls = [c for c in program.calls if isinstance(c, Call) and c.kernel == name]
        if not calls or any(c.args[i] not in program.constants for c in calls for i in where):
            continue
        pre_mod = build(pre, target, name="preproc")
        cache: dict[tuple[str, ...], list[str]] = {}
        for k, c in enumerate(program.calls):
            if not (isinstance(c, Call) and c.kernel == name):
                continue
            key = tuple(c.args[i] for i in where)
            if key not in cache:
                ins = [np.ascontiguousarray(program.constants[s]) for s in key]
                outs = [np.empty(b.static_shape(), b.dtype) for b in pre.params[n_src:]]
                pre_mod["preproc"](*ins, *outs)
                slots = []
                for s, arr in zip(key, outs, strict=True):
                    slot = f"{s}__{name}_packed"
                    program.constants[slot] = arr
                    slots.append(slot)
                cache[key] = slots
            args = list(c.args)
            for i, slot in zip(where, cache[key], strict=True):
                args[i] = slot
            program.calls[k] = Call(c.kernel, tuple(args))
        program.kernels[name] = compute
        changed += 1
    if changed:
        used = {a for c in program.calls if isinstance(c, Call) for a in c.args}
        used |= {s for _, s in program.outputs}
        for s in [s for s in program.constants if s not in used and not any(
                getattr(c, "src", None) == s for c in program.calls)]:
            del program.constants[s]
    return changed
