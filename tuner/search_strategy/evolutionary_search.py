"""EvolutionarySearch: cost-model-guided genetic search over a design space's decisions.

Each round (TVM's algorithm, same parameters):

1. **Initial population** of ``population_size``: the best ``init_measured_ratio`` share
   from the database's records of this workload (their traces replayed and
   post-processed) plus random samples of the design spaces (traces replayed with fresh
   decisions); fewer than ``init_min_unmeasured`` random samples ends the search.
2. **Evolution**, ``genetic_num_iters`` times: the cost model scores the population; each
   program not measured before goes into a heap of the best predicted; the next
   population is drawn by roulette on the scores, and each drawn parent is mutated with
   probability ``genetic_mutate_prob`` by a mutator chosen by the mutator probabilities
   (a failed mutation or postprocessing is retried up to ``genetic_max_fail_count`` times,
   then the parent is kept).
3. **Pick** the batch: the top predicted programs, plus ``eps_greedy`` of the batch drawn
   from the random samples, skipping every program already measured (structural hash).

Every candidate is post-processed; one a postprocessor rejects is discarded.

Design spaces without sampling instructions (fixed programs, e.g. the default schedule's
variants) are not drawn at random: each is replayed (and post-processed) once and picked
ahead of everything else in the first rounds, until every one is measured; evolution,
which has no decision of theirs to mutate, leaves them out.

One departure from TVM, on by default (``skip_uninformed=False`` turns it off): while the
cost model's scores are random (no model, a RandomModel, or a learned model still in its
warm-up), evolution guided by them would be a random walk costing thousands of replays,
so the batch is drawn from fresh random samples of the design spaces instead.
"""

from __future__ import annotations

import heapq
import json
import logging
import math
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .search_strategy import (
    MeasureCandidate,
    SearchStrategy,
    design_space_trace,
    is_fixed_trace,
    make_candidate,
    module_key,
    try_replay,
)

logger = logging.getLogger("onnxtune.tuner.search_strategy")


@dataclass
class _Member:
    """A program of the population: its schedule and structural hash."""

    sch: Any
    key: int


@dataclass
class _State:
    max_trials: int
    per_iter: int
    traces: list[Any]
    #: the design spaces that are one program each (no sampling instruction)
    fixed: list[Any]
    database: Any
    cost_model: Any
    workload: Any
    st: int = 0
    ed: int = 0
    num_empty_iters: int = 0
    measured: set[int] = field(default_factory=set)
    #: replay results by trace (decisions included): a trace met again is not replayed
    cache: OrderedDict[str, _Member | None] = field(default_factory=OrderedDict)
    replays: int = 0
    cache_hits: int = 0
    #: the fixed programs (replayed once), None until the first round
    fixed_members: list[_Member] | None = None


def _trace_key(trace: Any) -> str:
    return json.dumps(trace.as_json(remove_postproc=True), separators=(",", ":"))


class EvolutionarySearch(SearchStrategy):
    """Evolutionary search guided by a cost model (see the module docstring)."""

    #: rounds in a row that produced nothing new before the search gives up
    num_empty_iters_before_early_stop = 5

    def __init__(self, *, population_size: int = 512, init_measured_ratio: float = 0.2,
                 init_min_unmeasured: int = 50, max_fail_count: int = 5,
                 genetic_num_iters: int = 4, genetic_mutate_prob: float = 0.85,
                 genetic_max_fail_count: int = 10, eps_greedy: float = 0.05,
                 skip_uninformed: bool = True):
        def check(ok: bool, name: str, value: Any, want: str) -> None:
            if not ok:
                raise ValueError(f"EvolutionarySearch: {name} must be {want}, got {value!r}")

        check(population_size >= 1, "population_size", population_size, ">= 1")
        check(0.0 <= init_measured_ratio <= 1.0, "init_measured_ratio", init_measured_ratio,
              "in [0, 1]")
        check(init_min_unmeasured >= 0, "init_min_unmeasured", init_min_unmeasured, ">= 0")
        check(init_min_unmeasured <= population_size, "init_min_unmeasured",
              init_min_unmeasured, f"<= population_size ({population_size})")
        check(max_fail_count >= 1, "max_fail_count", max_fail_count, ">= 1")
        check(genetic_num_iters >= 0, "genetic_num_iters", genetic_num_iters, ">= 0")
        check(0.0 <= genetic_mutate_prob <= 1.0, "genetic_mutate_prob", genetic_mutate_prob,
              "in [0, 1]")
        check(genetic_max_fail_count >= 0, "genetic_max_fail_count", genetic_max_fail_count,
              ">= 0")
        check(0.0 <= eps_greedy <= 1.0, "eps_greedy", eps_greedy, "in [0, 1]")
        self.population_size = population_size
        self.init_measured_ratio = init_measured_ratio
        self.init_min_unmeasured = init_min_unmeasured
        self.max_fail_count = max_fail_count
        self.genetic_num_iters = genetic_num_iters
        self.genetic_mutate_prob = genetic_mutate_prob
        self.genetic_max_fail_count = genetic_max_fail_count
        self.eps_greedy = eps_greedy
        self.skip_uninformed = skip_uninformed
        self._state: _State | None = None

    def _config(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in (
            "population_size", "init_measured_ratio", "init_min_unmeasured", "max_fail_count",
            "genetic_num_iters", "genetic_mutate_prob", "genetic_max_fail_count", "eps_greedy",
            "skip_uninformed")}

    def clone(self) -> EvolutionarySearch:
        return EvolutionarySearch(**self._config())

    # -- lifecycle ------------------------------------------------------------------------
    def pre_tuning(self, max_trials: int, num_trials_per_iter: int, design_spaces: list[Any],
                   database: Any = None, cost_model: Any = None) -> None:
        ctx = self._require_context("pre_tuning")
        if self._state is not None:
            raise ValueError("EvolutionarySearch.pre_tuning called twice without post_tuning")
        self._check_pre_tuning_args(max_trials, num_trials_per_iter, design_spaces)
        workload = database.commit_workload(ctx.mod) if database is not None else None
        traces = [design_space_trace(s) for s in design_spaces]
        fixed = [t for t in traces if is_fixed_trace(t)]
        st = _State(max_trials, num_trials_per_iter,
                    [t for t in traces if not is_fixed_trace(t)], fixed, database,
                    cost_model, workload, st=0, ed=num_trials_per_iter)
        self._state = st
        st.measured = self._measured_keys()

    def post_tuning(self) -> None:
        self._state = None

    def _get_state(self, what: str) -> _State:
        if self._state is None:
            raise ValueError(f"EvolutionarySearch.{what} called before pre_tuning")
        return self._state

    def notify_runner_results(self, measure_candidates: list[MeasureCandidate],
                              results: list[Any]) -> None:
        st = self._get_state("notify_runner_results")
        st.st += len(results)
        st.ed += len(results)

    def generate_measure_candidates(self) -> list[MeasureCandidate] | None:
        st = self._get_state("generate_measure_candidates")
        if st.st >= st.max_trials:
            return None
        sample_num = st.per_iter
        if st.ed > st.max_trials:
            sample_num = st.max_trials - st.st
            st.ed = st.max_trials
        pop = self.population_size
        t0, n0, h0 = time.perf_counter(), st.replays, st.cache_hits
        informed = not self.skip_uninformed or self._model_is_informed()
        fixed = self._fixed_members()
        new_fixed = [m for m in fixed if m.key not in st.measured]
        fixed_picks = []
        for m in new_fixed[:sample_num]:  # fixed programs first, each measured once
            st.measured.add(m.key)
            fixed_picks.append(m)
        sample_num -= len(fixed_picks)
        if not st.traces or sample_num == 0:  # nothing to sample or evolve this round
            if not fixed_picks:
                return None
            self._log("info", "evolutionary search: picked %d fixed design spaces in %.1f s",
                      len(fixed_picks), time.perf_counter() - t0)
            return [make_candidate(m.sch) for m in fixed_picks]
        if informed:
            measured = self._pick_best_from_database(int(pop * self.init_measured_ratio))
            unmeasured = self._sample_init_population(max(1, pop - len(measured)))
        else:  # random scores cannot guide evolution: draw the batch from random samples
            measured = []
            unmeasured = self._sample_init_population(
                min(pop, max(self.init_min_unmeasured, 2 * sample_num)))
        t1 = time.perf_counter()
        if len(unmeasured) < self.init_min_unmeasured and not fixed_picks:
            self._log("warning", "only %d random samples of the design space are valid "
                      "(init_min_unmeasured=%d): the search stops", len(unmeasured),
                      self.init_min_unmeasured)
            return None
        if not measured and not unmeasured and not fixed_picks:
            return None
        if informed:
            # (the fixed programs stay out: picked above or measured, nothing to mutate)
            bests = self._evolve_with_cost_model(measured + unmeasured, sample_num)
            picks = self._pick_with_eps_greedy(unmeasured, bests, sample_num)
        else:
            picks = self._pick_with_eps_greedy(unmeasured, [], sample_num)
        picks = fixed_picks + picks
        self._log("info", "evolutionary search: population %d measured + %d fixed + %d sampled "
                  "in %.1f s; %s in %.1f s; %d replays, %d cache hits; picked %d (%d fixed)",
                  len(measured), len(fixed), len(unmeasured), t1 - t0,
                  "evolved" if informed else "cost model not trained yet: no evolution",
                  time.perf_counter() - t1, st.replays - n0, st.cache_hits - h0, len(picks),
                  len(fixed_picks))
        if not picks:
            st.num_empty_iters += 1
            if st.num_empty_iters >= self.num_empty_iters_before_early_stop:
                return None
        return [make_candidate(m.sch) for m in picks]

    # -- the steps ------------------------------------------------------------------------
    def _model_is_informed(self) -> bool:
        """False when the cost model's scores are random: no model, a RandomModel, or a
        learned model still in its warm-up (``trained`` is False)."""
        model = self._state.cost_model
        if model is None or type(model).__name__ == "RandomModel":
            return False
        return getattr(model, "trained", True) is not False

    def _log(self, level: str, msg: str, *args: Any) -> None:
        log = getattr(self.context, "logger", None) or logger
        getattr(log, level)(msg, *args)

    def _replay(self, trace: Any, *, resample: bool) -> _Member | None:
        """Replay + postprocess ``trace`` (memoized by the trace and its decisions when
        they are given, since the evolution meets the same programs again and again)."""
        st = self._state
        key = None if resample else _trace_key(trace)
        if key is not None and key in st.cache:
            st.cache.move_to_end(key)
            st.cache_hits += 1
            return st.cache[key]
        st.replays += 1
        sch = try_replay(self.context.mod, trace, self._fork_seed(), self.postprocs,
                         resample=resample)
        m = None if sch is None else _Member(sch, module_key(sch.mod))
        if key is None and m is not None:
            key = _trace_key(m.sch.trace)
        if key is not None:
            st.cache[key] = m
            while len(st.cache) > 8 * self.population_size:
                st.cache.popitem(last=False)
        return m

    def _fixed_members(self) -> list[_Member]:
        """The programs of the fixed design spaces (replayed and post-processed once; one
        a postprocessor rejects is left out), distinct."""
        st = self._state
        if st.fixed_members is None:
            seen: set[int] = set()
            st.fixed_members = []
            for trace in st.fixed:
                m = self._replay(trace, resample=False)
                if m is None:
                    self._log("warning", "a fixed design space failed its replay or a "
                              "postprocessor: left out")
                elif m.key not in seen:
                    seen.add(m.key)
                    st.fixed_members.append(m)
        return st.fixed_members

    def _measured_keys(self) -> set[int]:
        """Hashes of the programs the database already measured for this workload (a
        resumed run must not measure them again)."""
        st = self._state
        db = st.database
        if db is None or st.workload is None or not hasattr(db, "records_of"):
            return set()
        keys = set()
        for rec in db.records_of(st.workload):
            m = self._replay(rec.trace, resample=False)
            if m is not None:
                keys.add(m.key)
        return keys

    def _pick_best_from_database(self, num: int) -> list[_Member]:
        st = self._state
        if num <= 0 or st.database is None or st.workload is None:
            return []
        out = []
        for rec in st.database.get_top_k(st.workload, num):
            m = self._replay(rec.trace, resample=False)
            if m is not None:
                out.append(m)
        return out

    def _sample_init_population(self, num: int) -> list[_Member]:
        traces = self._state.traces
        out: list[_Member] = []
        fail_count = 0
        while len(out) < max(self.init_min_unmeasured, 1) and fail_count < self.max_fail_count:
            found = False
            for _ in range(num):
                m = self._replay(traces[self._sample_int(0, len(traces))], resample=True)
                if m is not None:
                    out.append(m)
                    found = True
            fail_count += not found
        return out

    def _predict(self, population: list[_Member]) -> np.ndarray:
        """Predicted normalized scores (>= 0), one cost-model call per distinct program."""
        model = self._state.cost_model
        if model is None or not population:
            return np.ones(len(population))
        first: dict[int, int] = {}
        uniq: list[_Member] = []
        for m in population:
            if m.key not in first:
                first[m.key] = len(uniq)
                uniq.append(m)
        scores = np.asarray(model.predict(self.context, [make_candidate(m.sch) for m in uniq]),
                            dtype=float).reshape(-1)
        if scores.shape[0] != len(uniq):
            raise ValueError(f"{type(model).__name__}.predict returned {scores.shape[0]} scores "
                             f"for {len(uniq)} candidates")
        scores = np.where(np.isfinite(scores), np.maximum(scores, 0.0), 0.0)
        return np.array([scores[first[m.key]] for m in population])

    def _roulette(self, scores: np.ndarray) -> int:
        total = float(scores.sum())
        n = len(scores)
        if not total > 0.0 or not math.isfinite(total):
            return self._sample_int(0, n)
        x = self._uniform() * total
        i = int(np.searchsorted(np.cumsum(scores), x, side="right"))
        return min(i, n - 1)

    def _mutator_table(self) -> tuple[list[Any], np.ndarray]:
        """[None (keep the parent), mutators...] with their probabilities."""
        items = [(m, float(p)) for m, p in (self.mutator_probs or {}).items() if p > 0]
        total = sum(p for _, p in items)
        if total <= 0.0 or self.genetic_mutate_prob <= 0.0:
            return [None], np.array([1.0])
        ms = [None] + [m for m, _ in items]
        ps = [1.0 - self.genetic_mutate_prob] + [p / total * self.genetic_mutate_prob
                                                 for _, p in items]
        return ms, np.cumsum(ps)

    def _evolve_with_cost_model(self, population: list[_Member], num: int) -> list[_Member]:
        st = self._state
        exists = set(st.measured)
        heap: list[tuple[float, int, _Member]] = []  # min-heap of the best ``num``
        counter = 0
        mutators, cum = self._mutator_table()
        for it in range(self.genetic_num_iters + 1):
            scores = self._predict(population)
            for m, s in zip(population, scores, strict=True):
                if m.key in exists:
                    continue
                exists.add(m.key)
                counter += 1
                item = (float(s), -counter, m)
                if len(heap) < num:
                    heapq.heappush(heap, item)
                elif item[:2] > heap[0][:2]:
                    heapq.heapreplace(heap, item)
            if it == self.genetic_num_iters or not population:
                break
            nxt: list[_Member] = []
            for _ in range(self.population_size):
                parent = child = None
                for _attempt in range(self.genetic_max_fail_count + 1):
                    parent = population[self._roulette(scores)]
                    k = int(np.searchsorted(cum, self._uniform() * cum[-1], side="right"))
                    mutator = mutators[min(k, len(mutators) - 1)]
                    if mutator is None:
                        break
                    new_trace = mutator.apply(parent.sch.trace, self.rand_state)
                    if new_trace is None:
                        continue
                    child = self._replay(new_trace, resample=False)
                    if child is not None:
                        break
                nxt.append(child if child is not None else parent)
            population = nxt
        heap.sort(key=lambda x: x[:2], reverse=True)
        return [m for _, _, m in heap]

    def _pick_with_eps_greedy(self, unmeasured: list[_Member], bests: list[_Member],
                              num: int) -> list[_Member]:
        st = self._state
        num_rands = int(num * self.eps_greedy)
        num_bests = num - num_rands
        order = list(range(len(unmeasured)))
        for i in range(len(order) - 1, 0, -1):  # Fisher-Yates with the task's random state
            j = self._sample_int(0, i + 1)
            order[i], order[j] = order[j], order[i]
        rands = [unmeasured[i] for i in order]
        out: list[_Member] = []
        ib = ir = 0
        while len(out) < num and (ib < len(bests) or ir < len(rands)):
            want_best = len(out) < num_bests
            if (want_best and ib < len(bests)) or ir >= len(rands):
                m, ib = bests[ib], ib + 1
            else:
                m, ir = rands[ir], ir + 1
            if m.key not in st.measured:
                st.measured.add(m.key)
                out.append(m)
        return out
