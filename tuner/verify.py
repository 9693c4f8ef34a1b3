"""Verify the best records: re-measure each workload's leading schedules side by side.

A tuning run measures every candidate once. On a shared machine one measurement can be
30-50% off, and the best of hundreds of single measurements is then mostly the luckiest
one: replayed later, the "best" schedule of a ResNet-50 conv task ran 1.1 ms where its
record said 0.70 ms, and slower than the untuned default schedule it had displaced.

:func:`verify_best_records` re-measures, for each workload, the schedule the database ranks
first, its ``top_k`` fastest schedules by recorded time, and any ``extra`` schedules (e.g.
the untuned default) in ``rounds`` interleaved rounds: every candidate once per round, so
a slow drift of the machine hits all of them alike. Each candidate gets one new record
holding all its samples and the session's stamp (``verified``). The database ranks the
latest session's records first (see :mod:`.database.memory_database`): times measured
side by side decide, and a single measurement from tuning, made when the machine was
perhaps quieter, cannot outrank them. A later tuning run's new schedules rank after them
until the next verification, which re-measures the leader with the new fastest ones.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from .database import Database, TuningRecord, Workload
from .database.memory_database import schedule_key

logger = logging.getLogger("onnxtune.tuner.verify")


@dataclass
class VerifyResult:
    """What verification did to one workload: the best mean latency the database ranked
    first before and after (seconds), how many schedules were re-measured (each got one
    new record), whether the schedule ranked first changed, and each re-measured
    schedule's samples."""

    workload: Workload
    before_secs: float
    after_secs: float
    measured: int
    changed: bool
    samples: list[list[float]] = field(default_factory=list, repr=False)


@dataclass
class _Cand:
    sch: Any
    trace: Any
    args_info: list[Any] | None = None
    artifact: str | None = None
    error: str | None = None
    samples: list[float] = field(default_factory=list)


def verify_best_records(database: Database, workloads: list[Any], target: Any, *,
                        top_k: int = 3, rounds: int = 5,
                        extra: dict[int, list[Any]] | None = None,
                        builder: Any = None, runner: Any = None,
                        min_repeat_ms: float = 40.0) -> list[VerifyResult]:
    """Re-measure the leading schedules of every workload in ``workloads`` (Workload
    objects of ``database``, or modules) side by side and commit the new measurements.

    ``extra`` maps an index into ``workloads`` to more Schedules to measure with them (a
    schedule of the workload's module, e.g. its default schedule). ``builder`` / ``runner``
    default to a LocalBuilder and a LocalRunner timing ``min_repeat_ms`` per sample.
    Returns one :class:`VerifyResult` per workload that has a valid record."""
    from onnxtune.compile.target import Target

    from .arg_info import ArgInfo
    from .builder import BuilderInput
    from .builder.local_builder import LocalBuilder
    from .measure_callback.remove_build_artifact import RemoveBuildArtifact
    from .runner import EvaluatorConfig, RunnerInput
    from .runner.local_runner import LocalRunner

    if top_k < 1 or rounds < 1:
        raise ValueError(f"verify_best_records: top_k ({top_k}) and rounds ({rounds}) must "
                         f"be at least 1")
    target = target if isinstance(target, Target) else Target(target)
    own_builder, own_runner = builder is None, runner is None
    builder = builder or LocalBuilder()
    runner = runner or LocalRunner(evaluator_config=EvaluatorConfig(
        number=1, repeat=1, min_repeat_ms=int(min_repeat_ms)))
    extra = extra or {}
    wls = [w if isinstance(w, Workload) else database.commit_workload(w) for w in workloads]
    all_built: list[Any] = []

    def measure(wl: Workload, cands: list[_Cand], session: int) -> None:
        """Build ``cands``, time them in interleaved rounds, commit one record each."""
        built = builder.build([BuilderInput(c.sch.mod, target) for c in cands])
        all_built.extend(built)
        for c, b in zip(cands, built, strict=True):
            if b.error_msg is None:
                c.artifact = b.artifact_path
                c.args_info = ArgInfo.from_entry_func(c.sch.mod)
            else:
                c.error = f"build failed: {b.error_msg}"
        live = [c for c in cands if c.artifact is not None]
        for _ in range(rounds):
            futures = runner.run([RunnerInput(c.artifact, "cpu", c.args_info) for c in live])
            for c, f in zip(live, futures, strict=True):
                r = f.result()
                if r.error_msg is not None or not r.run_secs:
                    c.error = r.error_msg or "no timing"
                else:
                    c.samples.extend(r.run_secs)
            live = [c for c in live if c.error is None]
        for c in cands:
            ok = c.error is None and c.samples
            database.commit_tuning_record(TuningRecord(
                c.trace, wl, c.samples if ok else None, target, c.args_info,
                None if ok else f"verification: {c.error}", verified=session))

    results = []
    t0 = time.perf_counter()
    try:
        for i, wl in enumerate(wls):
            leader = database.get_top_k(wl, 1)
            fastest = (database.top_measured(wl, top_k) if hasattr(database, "top_measured")
                       else database.get_top_k(wl, top_k))
            if not leader and not fastest:
                continue
            before = leader[0].mean_secs() if leader else float("inf")
            first_key = schedule_key(leader[0].trace) if leader else None
            pool: dict[str, _Cand] = {}
            for rec in [*leader, *fastest]:
                k = schedule_key(rec.trace)
                if k not in pool:
                    sch = _replay(rec, wl)
                    if sch is not None:
                        pool[k] = _Cand(sch, rec.trace)
            for sch in extra.get(i, ()):
                pool.setdefault(schedule_key(sch.trace), _Cand(sch, sch.trace))
            measure(wl, list(pool.values()), time.time_ns())
            final = database.get_top_k(wl, 1)
            after = final[0].mean_secs() if final else float("inf")
            changed = bool(final) and schedule_key(final[0].trace) != first_key
            results.append(VerifyResult(wl, before, after, len(pool), changed,
                                        [c.samples for c in pool.values()]))
            logger.info("verified workload %d: %d schedules re-measured, best %.4g ms "
                        "(recorded %.4g ms)%s", i, len(pool), after * 1e3, before * 1e3,
                        "; the choice changed" if changed else "")
    finally:
        if own_runner:
            runner.close()
        if own_builder:
            builder.close()
        RemoveBuildArtifact().apply(None, 0, [], all_built, [])
    logger.info("verification of %d workloads took %.1f s", len(wls), time.perf_counter() - t0)
    return results


def _replay(rec: TuningRecord, wl: Workload) -> Any:
    from onnxtune.tir.schedule import ScheduleError

    try:
        return rec.schedule(wl.mod)
    except (ScheduleError, ValueError) as err:
        logger.warning("verification: a record's trace no longer replays (%s); skipped", err)
        return None


# ----------------------------------------------------------------------------------------
# in the model: tuned or default, task by task


@dataclass
class ModelSelection:
    """What :func:`select_in_model` found: how many tasks it compared and how many it
    switched to their default schedule; the model's time (median over runs of the summed
    kernel times, ms) with every kernel tuned and with every kernel default, an estimate
    with the choices made (tuned, less what the switched tasks gained), and the seconds
    it took."""

    tasks: int
    switched: int
    tuned_ms: float
    default_ms: float
    chosen_ms: float
    seconds: float


def select_in_model(database: Database, mod: Any, tasks: list[Any], target: Any, *,
                    rounds: int = 20, margin: float = 0.02,
                    seed: int = 0) -> ModelSelection | None:
    """Choose, task by task, between the database's schedule and the default schedule by
    their time *in the model*, and commit the result.

    A kernel timed alone (the runner, the verification) runs on caches it warmed itself;
    in the model it reads what the kernel before it wrote, and that data sits in the L2
    of whichever core wrote it. Two schedules that split their parallel loop differently
    (output channels vs rows) time the same alone and 30% apart in the model. So: the
    model is compiled twice, tuned (``database``) and untuned (default schedules), both
    are profiled kernel by kernel (``VirtualMachine.profile``) in ``rounds`` alternating
    runs on a random input, and each task's calls are summed per run. Where the default
    schedule's median beats the tuned one's by more than ``margin``, the task switches.

    A switched task's two schedules get a record each with their in-model time per call
    (the median over runs of the task's summed call times, divided by its calls) under a
    new verification stamp, so the database ranks the default first; nothing is deleted.
    Returns None when no task has a record (nothing to choose)."""
    import numpy as np

    from onnxtune.compile.default_schedule import default_schedule_of
    from onnxtune.compile.executable import VirtualMachine
    from onnxtune.compile.target import Target

    from .relax_integration import compile_relax

    target = target if isinstance(target, Target) else Target(target)
    t0 = time.perf_counter()
    leaders: dict[int, TuningRecord] = {}
    wls: dict[int, Workload] = {}
    for k, t in enumerate(tasks):
        wl = database.commit_workload(t.mod)
        top = database.get_top_k(wl, 1)
        if top:
            leaders[k], wls[k] = top[0], wl
    if not leaders:
        return None
    vms = [VirtualMachine(compile_relax(database, mod, target)),
           VirtualMachine(compile_relax(None, mod, target))]
    rng = np.random.default_rng(seed)
    arrays = tuple(_random_input(rng, shape, dtype) for _, shape, dtype in vms[0]._in)
    names = [n for n, _ in vms[0].profile(*arrays, repeat=1)]
    times = np.zeros((2, rounds, len(names)))
    for r in range(rounds):
        for j in (0, 1) if r % 2 == 0 else (1, 0):
            times[j, r] = [s for _, s in vms[j].profile(*arrays, repeat=1)]
    session = time.time_ns()
    gain = 0.0  # seconds the switched tasks save per run
    switched = 0
    for k in leaders:
        mine = set(tasks[k].func_names)
        cols = [c for c, n in enumerate(names) if n in mine]
        if not cols:
            continue
        sums = times[:, :, cols].sum(axis=2)  # (2, rounds)
        tuned, default = (float(np.median(sums[j])) for j in (0, 1))
        if not default < tuned * (1.0 - margin):
            continue
        try:
            dsch = default_schedule_of(tasks[k].mod["main"], target)
        except Exception as err:  # noqa: BLE001 - the tuned schedule simply stays
            logger.warning("in-model selection: no default schedule for task %s: %s",
                           tasks[k].task_name, err)
            continue
        if schedule_key(dsch.trace) == schedule_key(leaders[k].trace):
            continue  # the leader is the default schedule already
        n = len(cols)
        for trace, secs in ((leaders[k].trace, tuned), (dsch.trace, default)):
            database.commit_tuning_record(TuningRecord(
                trace, wls[k], [secs / n], target, leaders[k].args_info, verified=session))
        switched += 1
        gain += tuned - default
        logger.info("in-model selection: task %s takes its default schedule (%.3f ms in the "
                    "model against %.3f ms tuned)", tasks[k].task_name, default * 1e3,
                    tuned * 1e3)
    med = np.median(times.sum(axis=2), axis=1) * 1e3
    return ModelSelection(len(leaders), switched, float(med[0]), float(med[1]),
                          float(med[0] - gain * 1e3), time.perf_counter() - t0)


def _random_input(rng: Any, shape: tuple[int, ...], dtype: Any) -> Any:
    import numpy as np

    dt_ = np.dtype(dtype)
    if dt_.kind == "f":
        return rng.standard_normal(shape).astype(dt_)
    if dt_.kind == "b":
        return rng.integers(0, 2, shape).astype(dt_)
    return rng.integers(0, 8, shape).astype(dt_)
