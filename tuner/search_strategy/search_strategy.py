"""SearchStrategy: proposes batches of candidates to measure and learns from the results."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..utils import make


@dataclass
class MeasureCandidate:
    """A schedule to measure and the arguments its function takes."""

    sch: Any
    args_info: list[Any]


class SearchStrategy:
    """The abstract search strategy, with TVM's lifecycle:

    ``pre_tuning`` → (``generate_measure_candidates`` → ``notify_runner_results``)* →
    ``post_tuning``. ``generate_measure_candidates`` returns None when the search is done.
    """

    def _initialize_with_tune_context(self, context: Any) -> None:
        """Hook called once with the task's TuneContext."""

    def pre_tuning(self, max_trials: int, num_trials_per_iter: int, design_spaces: list[Any],
                   database: Any = None, cost_model: Any = None) -> None:
        raise NotImplementedError

    def post_tuning(self) -> None:
        raise NotImplementedError

    def generate_measure_candidates(self) -> list[MeasureCandidate] | None:
        raise NotImplementedError

    def notify_runner_results(self, measure_candidates: list[MeasureCandidate],
                              results: list[Any]) -> None:
        raise NotImplementedError

    def clone(self) -> SearchStrategy:
        import copy

        return copy.deepcopy(self)

    @staticmethod
    def create(kind: str = "evolutionary", *args: Any, **kwargs: Any) -> SearchStrategy:
        """Create a strategy: "evolutionary", "replay-trace" or "replay-func"."""
        return make(
            {
                "evolutionary": ".search_strategy.evolutionary_search:EvolutionarySearch",
                "replay-trace": ".search_strategy.replay_trace:ReplayTrace",
                "replay-func": ".search_strategy.replay_func:ReplayFunc",
            },
            "SearchStrategy", kind, *args, **kwargs,
        )


PySearchStrategy = SearchStrategy
