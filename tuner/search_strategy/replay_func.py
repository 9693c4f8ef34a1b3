"""ReplayFunc: run the space generator again for every candidate."""

from __future__ import annotations

from typing import Any

from .search_strategy import MeasureCandidate, SearchStrategy, apply_postprocs, make_candidate


class ReplayFunc(SearchStrategy):
    """Each candidate comes from a fresh call of the task's space generator (which samples
    new decisions each time): one of the spaces it returns is picked at random and
    post-processed; a rejected one is redrawn, up to ``max_fail_count`` times."""

    def __init__(self, max_fail_count: int = 100):
        if max_fail_count < 1:
            raise ValueError(f"ReplayFunc: max_fail_count must be >= 1, got {max_fail_count}")
        self.max_fail_count = max_fail_count
        self._state: dict[str, Any] | None = None

    def pre_tuning(self, max_trials: int, num_trials_per_iter: int, design_spaces: list[Any],
                   database: Any = None, cost_model: Any = None) -> None:
        ctx = self._require_context("pre_tuning")
        if ctx.space_generator is None:
            raise ValueError("ReplayFunc needs a TuneContext with a space_generator")
        if self._state is not None:
            raise ValueError("ReplayFunc.pre_tuning called twice without post_tuning")
        self._check_pre_tuning_args(max_trials, num_trials_per_iter, design_spaces)
        self._state = {"max_trials": max_trials, "per_iter": num_trials_per_iter, "st": 0}

    def post_tuning(self) -> None:
        self._state = None

    def _state_or_raise(self, what: str) -> dict[str, Any]:
        if self._state is None:
            raise ValueError(f"ReplayFunc.{what} called before pre_tuning")
        return self._state

    def generate_measure_candidates(self) -> list[MeasureCandidate] | None:
        from onnxtune.tir.schedule import ScheduleError

        st = self._state_or_raise("generate_measure_candidates")
        n = min(st["per_iter"], st["max_trials"] - st["st"])
        if n <= 0:
            return None
        ctx = self.context
        out: list[MeasureCandidate] = []
        for _ in range(n):
            for _attempt in range(self.max_fail_count):
                try:
                    spaces = ctx.space_generator.generate_design_space(ctx.mod)
                except ScheduleError:
                    continue
                if not spaces:
                    continue
                sch = spaces[self._sample_int(0, len(spaces))]
                if apply_postprocs(sch, self.postprocs):
                    out.append(make_candidate(sch))
                    break
        return out or None

    def notify_runner_results(self, measure_candidates: list[MeasureCandidate],
                              results: list[Any]) -> None:
        st = self._state_or_raise("notify_runner_results")
        st["st"] += len(results)

    def clone(self) -> ReplayFunc:
        return ReplayFunc(self.max_fail_count)
