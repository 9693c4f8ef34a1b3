"""ReplayTrace: replay a design space's trace with every sampling decision drawn afresh."""

from __future__ import annotations

from typing import Any

from .search_strategy import (
    MeasureCandidate,
    SearchStrategy,
    design_space_trace,
    make_candidate,
    try_replay,
)


class ReplayTrace(SearchStrategy):
    """Each candidate is a randomly chosen design space's trace replayed with new random
    decisions, then post-processed; a candidate a postprocessor rejects is redrawn, up to
    ``max_fail_count`` failed draws per candidate."""

    def __init__(self, max_fail_count: int = 100):
        if max_fail_count < 1:
            raise ValueError(f"ReplayTrace: max_fail_count must be >= 1, got {max_fail_count}")
        self.max_fail_count = max_fail_count
        self._state: dict[str, Any] | None = None

    def pre_tuning(self, max_trials: int, num_trials_per_iter: int, design_spaces: list[Any],
                   database: Any = None, cost_model: Any = None) -> None:
        self._require_context("pre_tuning")
        if self._state is not None:
            raise ValueError("ReplayTrace.pre_tuning called twice without post_tuning")
        self._check_pre_tuning_args(max_trials, num_trials_per_iter, design_spaces)
        self._state = {
            "max_trials": max_trials,
            "per_iter": num_trials_per_iter,
            "traces": [design_space_trace(s) for s in design_spaces],
            "st": 0,
        }

    def post_tuning(self) -> None:
        self._state = None

    def _state_or_raise(self, what: str) -> dict[str, Any]:
        if self._state is None:
            raise ValueError(f"ReplayTrace.{what} called before pre_tuning")
        return self._state

    def generate_measure_candidates(self) -> list[MeasureCandidate] | None:
        st = self._state_or_raise("generate_measure_candidates")
        n = min(st["per_iter"], st["max_trials"] - st["st"])
        if n <= 0:
            return None
        mod = self.context.mod
        traces = st["traces"]
        out: list[MeasureCandidate] = []
        for _ in range(n):
            for _attempt in range(self.max_fail_count):
                trace = traces[self._sample_int(0, len(traces))]
                sch = try_replay(mod, trace, self._fork_seed(), self.postprocs, resample=True)
                if sch is not None:
                    out.append(make_candidate(sch))
                    break
        return out or None

    def notify_runner_results(self, measure_candidates: list[MeasureCandidate],
                              results: list[Any]) -> None:
        st = self._state_or_raise("notify_runner_results")
        st["st"] += len(results)

    def clone(self) -> ReplayTrace:
        return ReplayTrace(self.max_fail_count)
