"""Post-optimization: Droplet search around the best schedule found by tuning.

The tuned schedule's sampling decisions become a discrete space (:class:`Space`): each
``sample_perfect_tile`` decision is a knob over every perfect factorization of its loop
(respecting ``max_innermost_factor``) and each ``sample_categorical`` decision a knob over
its candidates. :class:`Droplet` then walks that space from the best schedule by
coordinate descent: it measures the neighbours one step away along each knob, moves to
the best one when it is faster by a significant margin (Welch's t-test at ``pvalue``),
and widens the step when no neighbour is better, until the budget is spent or no
unvisited neighbour is left. Every measurement is committed to the database as a
tuning record, so ``compile_tir`` / ``query_schedule`` pick the improvement up.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from onnxtune.tir.schedule.instruction import SAMPLE_CATEGORICAL, SAMPLE_PERFECT_TILE

from .database import Database, TuningRecord, Workload
from .database.database import FAILED_RUN_SECS

logger = logging.getLogger("onnxtune.tuner.post_optimization")

#: at most this many values per knob
SPACE_LIMIT = 10000
#: measurements per workload when tune_tasks(post_optimization=True)
DEFAULT_TRIALS = 100


def factorizations(extent: int, n: int, max_innermost: int = -1,
                   limit: int = SPACE_LIMIT) -> list[tuple[int, ...]]:
    """Every ordered ``n``-tuple of positive ints whose product is ``extent`` and whose last
    element is at most ``max_innermost`` (when positive), sorted, at most ``limit``."""
    out: list[tuple[int, ...]] = []

    def rec(rest: int, k: int, prefix: tuple[int, ...]) -> None:
        if len(out) >= limit:
            return
        if k == 1:
            if max_innermost <= 0 or rest <= max_innermost:
                out.append(prefix + (rest,))
            return
        for d in range(1, rest + 1):
            if rest % d == 0:
                rec(rest // d, k - 1, prefix + (d,))

    if extent < 1 or n < 1:
        return []
    rec(extent, n, ())
    return out


def _welch_significant(a: Sequence[float], b: Sequence[float], pvalue: float) -> bool:
    """True when mean(a) < mean(b) is significant at ``pvalue`` (one sample each side: the
    difference is taken as is, like TVM's Droplet)."""
    if len(a) <= 1 or len(b) <= 1:
        return True
    try:
        from scipy.stats import ttest_ind
    except ImportError:  # pragma: no cover - scipy comes with xgboost
        va, vb = np.var(a, ddof=1) / len(a), np.var(b, ddof=1) / len(b)
        if va + vb == 0:
            return True
        z = (np.mean(b) - np.mean(a)) / math.sqrt(va + vb)
        return math.erfc(abs(z) / math.sqrt(2)) <= pvalue  # normal approximation
    p = ttest_ind(a, b, equal_var=False).pvalue
    return bool(not np.isfinite(p) or p <= pvalue)


def _load_best(json_file: Any, workload_file: Any) -> TuningRecord:
    if isinstance(json_file, TuningRecord):
        return json_file
    from .database import JSONDatabase

    db = JSONDatabase(workload_file, json_file, allow_missing=False)
    best = None
    for rec in db.get_all_tuning_records():
        if rec.is_valid() and (best is None or rec.mean_secs() < best.mean_secs()):
            best = rec
    if best is None:
        raise ValueError(f"Droplet: {json_file} holds no valid tuning record to start from")
    return best


class Space:
    """The decisions of a record's trace as knobs (see the module docstring).

    ``data``: the TuningRecord (or its JSON); ``workload``: its Workload (or JSON).
    """

    def __init__(self, data: Any, workload: Any, target: Any):
        if not isinstance(workload, Workload):
            workload = Workload.from_json(workload)
        if not isinstance(data, TuningRecord):
            data = TuningRecord.from_json(data, workload)
        self.record = data
        self.workload = workload
        self.target = target
        self.trace = data.trace
        self.insts: list[Any] = []
        self.space: list[list[Any]] = []
        self.start: list[int] = []
        self.create_space()

    def create_space(self) -> None:
        """One knob per sampling decision of the trace (before post-processing)."""
        self.insts, self.space, self.start = [], [], []
        for inst in self.trace.insts:
            if inst.kind.name == "EnterPostproc":
                break
            dec = self.trace.get_decision(inst)
            if dec is None:
                continue
            if inst.kind is SAMPLE_PERFECT_TILE:
                cur = tuple(int(x) for x in dec)
                if any(x < 1 for x in cur):
                    continue  # a dynamic extent: nothing to enumerate
                values: list[Any] = factorizations(math.prod(cur), len(cur), int(inst.attrs[1]))
                if cur not in values:
                    values = self.add_space(values, [cur])
            elif inst.kind is SAMPLE_CATEGORICAL:
                values = list(range(len(inst.attrs[0])))
                cur = int(dec)
            else:
                continue
            if len(values) <= 1:
                continue
            self.insts.append(inst)
            self.space.append(values)
            self.start.append(values.index(cur))

    @property
    def dims(self) -> list[int]:
        return [len(v) for v in self.space]

    def get_value(self, key: int, pos: int) -> Any:
        """Value ``pos`` of knob ``key``."""
        return self.space[key][pos]

    @staticmethod
    def add_space(space_list: list, element_list: list, limit: int = SPACE_LIMIT) -> list:
        """``space_list`` with the new elements of ``element_list`` appended, at most
        ``limit`` long."""
        out = list(space_list)
        seen = set(out)
        for e in element_list:
            if len(out) >= limit:
                break
            if e not in seen:
                seen.add(e)
                out.append(e)
        return out

    def knob2point(self, knob: Sequence[int]) -> int:
        """Mixed-radix index of a knob vector."""
        point, mul = 0, 1
        for k, d in zip(knob, self.dims, strict=True):
            point += int(k) * mul
            mul *= d
        return point

    def point2knob(self, point: int) -> list[int]:
        knob = []
        for d in self.dims:
            knob.append(point % d)
            point //= d
        return knob

    def template(self, values: Sequence[int] | None = None, create: bool = True) -> Any:
        """The trace (without post-processing) whose decisions are the knob ``values``
        (default: the starting point). With ``create=False`` the decision list instead."""
        values = self.start if values is None else values
        decisions = [self.get_value(k, int(v)) for k, v in enumerate(values)]
        if not create:
            return decisions
        trace = self.trace
        for inst, d in zip(self.insts, decisions, strict=True):
            trace = trace.with_decision(inst, list(d) if isinstance(d, tuple) else d,
                                        remove_postproc=True)
        return trace


class Droplet:
    """Droplet search over a :class:`Space` (see the module docstring).

    ``json_file`` / ``workload_file``: the JSON database files to start from (their best
    valid record) or a TuningRecord and its Workload; ``log``: the Database the results
    are committed to (None: not recorded).
    """

    def __init__(self, json_file: Any, workload_file: Any, target: Any, log: Any = None,
                 pvalue: float = 0.05):
        record = _load_best(json_file, workload_file)
        workload = workload_file if isinstance(workload_file, Workload) else record.workload
        self.space = Space(record, workload, target)
        self.target = target
        self.log = log
        self.pvalue = pvalue
        self.dims = self.space.dims
        self.step = 1
        start = list(self.space.start)
        self.best_choice: tuple[int, list[int], list[float]] = (
            self.space.knob2point(start) if self.dims else 0, start, list(record.run_secs))
        self.visited: set[int] = {self.best_choice[0]}
        self.next: list[tuple[int, list[int]]] = self.next_pos(self.search_space())

    def search_space(self, factor: int = 1) -> list[list[int]]:
        """The moves of one coordinate-descent step: ±``factor`` along each knob."""
        moves = []
        for i in range(len(self.dims)):
            for s in (factor, -factor):
                m = [0] * len(self.dims)
                m[i] = s
                moves.append(m)
        return moves

    def next_pos(self, new_positions: list[list[int]]) -> list[tuple[int, list[int]]]:
        """The unvisited neighbours of the best point reached by ``new_positions``."""
        out = []
        best = self.best_choice[1]
        for move in new_positions:
            p = [b + m for b, m in zip(best, move, strict=True)]
            if any(not 0 <= x < d for x, d in zip(p, self.dims, strict=True)):
                continue
            idx = self.space.knob2point(p)
            if idx not in self.visited:
                self.visited.add(idx)
                out.append((idx, p))
        return out

    def has_next(self) -> bool:
        return bool(self.next)

    def update(self, positions: list[tuple[int, list[int]]],
               results: list[list[float] | None]) -> None:
        """Take measured ``results`` (seconds per repeat, None for a failure) of
        ``positions``; move to a significantly faster one, else widen the step."""
        found = False
        for pos, costs in zip(positions, results, strict=True):
            if not costs:
                continue
            if np.mean(costs) < np.mean(self.best_choice[2]) and _welch_significant(
                    costs, self.best_choice[2], self.pvalue):
                self.best_choice = (pos[0], list(pos[1]), list(costs))
                found = True
        done = {p[0] for p in positions}
        self.next = [p for p in self.next if p[0] not in done]
        if found:
            self.step = 1
            self.next = self.next_pos(self.search_space())
        elif not self.next:
            while not self.next and self.step < max(self.dims, default=0):
                self.step += 1
                self.next = self.next_pos(self.search_space(self.step))

    def run(self, builder: Any, runner: Any, postprocs: list[Any], trials: int = 100,
            batch: int | None = None, database: Database | None = None,
            measured: set[int] | None = None) -> TuningRecord | None:
        """Measure up to ``trials`` neighbours (in batches through ``builder`` and
        ``runner``), committing each to ``database`` (default ``self.log``); returns the
        best new record, or None when nothing beat the starting schedule."""
        from .builder import BuilderInput
        from .runner import RunnerInput
        from .search_strategy.search_strategy import make_candidate, module_key, try_replay

        database = database if database is not None else self.log
        mod = self.space.workload.mod
        wl = database.commit_workload(mod) if database is not None else self.space.workload
        measured = set() if measured is None else measured
        seed = 1
        spent = 0
        best_rec: TuningRecord | None = None
        while self.next and spent < trials:
            take = self.next[: min(batch or len(self.next), trials - spent)]
            cands, positions, skipped = [], [], []
            for pos in take:
                seed += 1
                sch = try_replay(mod, self.space.template(pos[1]), seed, postprocs,
                                 resample=False)
                if sch is None or module_key(sch.mod) in measured:
                    skipped.append(pos)
                    continue
                measured.add(module_key(sch.mod))
                cands.append(make_candidate(sch))
                positions.append(pos)
            results: list[list[float] | None] = []
            if cands:
                builds = builder.build([BuilderInput(c.sch.mod, self.target) for c in cands])
                ok = [i for i, b in enumerate(builds) if b.error_msg is None]
                futures = runner.run([RunnerInput(builds[i].artifact_path, "cpu",
                                                  cands[i].args_info) for i in ok])
                by_index = dict(zip(ok, (f.result() for f in futures), strict=True))
                for i, (c, b) in enumerate(zip(cands, builds, strict=True)):
                    r = by_index.get(i)
                    err = b.error_msg or (r.error_msg if r is not None else "not run")
                    secs = None if err or not r.run_secs else list(r.run_secs)
                    results.append(secs)
                    rec = TuningRecord(c.sch.trace, wl, secs or [FAILED_RUN_SECS], self.target,
                                       c.args_info, error_msg=err)
                    if database is not None:
                        database.commit_tuning_record(rec)
                    if secs and (best_rec is None or rec.mean_secs() < best_rec.mean_secs()):
                        best_rec = rec
                    if b.artifact_path and os.path.exists(b.artifact_path):
                        _remove(b.artifact_path)
                spent += len(cands)
            self.update(positions + skipped, results + [None] * len(skipped))
            logger.info("droplet: %d measured, best %.4g ms (step %d)", spent,
                        float(np.mean(self.best_choice[2])) * 1e3, self.step)
        start = float(np.mean(self.space.record.run_secs))
        return best_rec if best_rec is not None and best_rec.mean_secs() < start else None


def _remove(path: str) -> None:
    import shutil

    if os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            os.remove(path)
        except OSError:
            pass


class PostOpt:
    """Droplet search around the best record of every workload of ``work_dir``'s JSON
    database, ``trials`` measurements each at most; results are appended to it."""

    def __init__(self, work_dir: str, target: Any, trials: int = DEFAULT_TRIALS):
        from onnxtune.compile.target import Target

        self.work_dir = work_dir
        self.target = target if isinstance(target, Target) else Target(target)
        self.trials = trials

    def run(self, builder: Any = "local", runner: Any = "local",
            postprocs: list[Any] | None = None) -> None:
        from .builder import Builder
        from .database import JSONDatabase
        from .runner import Runner

        db = JSONDatabase(work_dir=self.work_dir, allow_missing=False)
        builder = Builder.create(builder) if isinstance(builder, str) else builder
        runner = Runner.create(runner) if isinstance(runner, str) else runner
        for wl in list(db.workloads):
            pp = postprocs if postprocs is not None else _default_postprocs(wl.mod, self.target)
            optimize_workload(db, wl.mod, self.target, builder, runner, pp, self.trials)


def _default_postprocs(mod: Any, target: Any) -> list[Any]:
    from .postproc import Postproc
    from .tune_context import TuneContext

    pps = Postproc.create(target.kind)
    ctx = TuneContext(mod, target=target, rand_state=1)
    for p in pps:
        p._initialize_with_tune_context(ctx)
    return pps


def optimize_workload(database: Database, mod: Any, target: Any, builder: Any, runner: Any,
                      postprocs: list[Any], trials: int = 100,
                      pvalue: float = 0.05) -> TuningRecord | None:
    """Droplet search around ``mod``'s best record in ``database``; the better record
    found (also committed to the database), or None."""
    best = database.query_tuning_record(mod, target)
    if best is None:
        logger.info("post-optimization: no valid record to start from; skipped")
        return None
    drop = Droplet(best, best.workload, target, database, pvalue)
    if not drop.dims:
        logger.info("post-optimization: the best schedule has no decisions to vary")
        return None
    from .search_strategy.search_strategy import module_key, try_replay

    measured = set()
    if hasattr(database, "records_of"):
        for r in database.records_of(best.workload):
            sch = try_replay(best.workload.mod, r.trace, 1, postprocs, resample=False)
            if sch is not None:
                measured.add(module_key(sch.mod))
    return drop.run(builder, runner, postprocs, trials, database=database, measured=measured)


def post_optimize_tasks(tasks: list[Any], database: Database, builder: Any, runner: Any,
                        work_dir: str, trials: int = DEFAULT_TRIALS) -> None:
    """``tune_tasks(post_optimization=True)``: Droplet search for each task."""
    for ctx in tasks:
        postprocs = list(getattr(ctx.space_generator, "postprocs", None) or [])
        log = getattr(ctx, "logger", None) or logger
        found = optimize_workload(database, ctx.mod, ctx.target, builder, runner, postprocs,
                                  trials)
        if found is not None:
            log.info("post-optimization improved the best schedule to %.4g ms",
                     found.mean_secs() * 1e3)
        else:
            log.info("post-optimization found nothing faster")
