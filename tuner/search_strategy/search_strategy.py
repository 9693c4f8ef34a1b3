"""SearchStrategy: proposes batches of candidates to measure and learns from the results.

Also the pieces every strategy shares: the per-task random state (a
:class:`~onnxtune.tir.schedule.sampling.RandState` seeded from the TuneContext, so two
processes never share a generator and a seed reproduces a search), replaying a design-space
trace with fresh or given decisions, applying the postprocessors, and the structural hash
used to skip programs that were already measured.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from ..utils import make

logger = logging.getLogger("onnxtune.tuner.search_strategy")


@dataclass
class MeasureCandidate:
    """A schedule to measure and the arguments its function takes."""

    sch: Any
    args_info: list[Any]


class SearchStrategy:
    """The abstract search strategy, with TVM's lifecycle:

    ``pre_tuning`` → (``generate_measure_candidates`` → ``notify_runner_results``)* →
    ``post_tuning``. ``generate_measure_candidates`` returns None when the search is done.

    Concrete strategies get from :meth:`_initialize_with_tune_context` the task's module,
    its random state (``self.rand_state``), and the space generator's postprocessors and
    mutators (``self.postprocs``, ``self.mutator_probs``).
    """

    context: Any = None
    rand_state: Any = None
    postprocs: list[Any] | None = None
    mutator_probs: dict[Any, float] | None = None

    def _initialize_with_tune_context(self, context: Any) -> None:
        """Take the task's module, seed and the space generator's postprocs / mutators."""
        from onnxtune.tir.schedule.sampling import RandState

        self.context = context
        self.rand_state = RandState(getattr(context, "rand_state", None))
        space = getattr(context, "space_generator", None)
        self.postprocs = list(getattr(space, "postprocs", None) or [])
        probs = getattr(space, "mutator_probs", None)
        self.mutator_probs = dict(probs) if isinstance(probs, dict) else {}

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
        """Create a strategy: "evolutionary", "replay-trace" or "replay-func" (extra
        arguments go to the strategy's constructor)."""
        return make(
            {
                "evolutionary": ".search_strategy.evolutionary_search:EvolutionarySearch",
                "replay-trace": ".search_strategy.replay_trace:ReplayTrace",
                "replay-func": ".search_strategy.replay_func:ReplayFunc",
            },
            "SearchStrategy", kind, *args, **kwargs,
        )

    # -- shared helpers for concrete strategies -------------------------------------------
    def _require_context(self, what: str) -> Any:
        if self.context is None or getattr(self.context, "mod", None) is None:
            raise ValueError(f"{type(self).__name__}.{what}: the strategy is not attached to a "
                             "TuneContext with a module (pass it as TuneContext("
                             "search_strategy=...))")
        if self.rand_state is None:
            self._initialize_with_tune_context(self.context)
        return self.context

    def _check_pre_tuning_args(self, max_trials: int, num_trials_per_iter: int,
                               design_spaces: list[Any]) -> None:
        name = type(self).__name__
        if max_trials < 0:
            raise ValueError(f"{name}.pre_tuning: max_trials must be >= 0, got {max_trials}")
        if num_trials_per_iter < 1:
            raise ValueError(f"{name}.pre_tuning: num_trials_per_iter must be >= 1, got "
                             f"{num_trials_per_iter}")
        if not design_spaces:
            raise ValueError(f"{name}.pre_tuning: no design spaces (the space generator "
                             "returned none)")

    def _fork_seed(self) -> int:
        return self.rand_state.fork_seed()

    def _sample_int(self, lo: int, hi: int) -> int:
        return self.rand_state.sample_int(lo, hi)

    def _uniform(self) -> float:
        return self.rand_state.uniform()


def design_space_trace(sch: Any) -> Any:
    """The trace of a design-space schedule without its postprocessing part."""
    trace = sch.trace if hasattr(sch, "trace") else sch
    return trace.simplified(remove_postproc=True) if hasattr(trace, "simplified") else trace


def is_fixed_trace(trace: Any) -> bool:
    """True when ``trace`` holds no sampling instruction: replaying it always makes the
    same program (a design space that is one program, e.g. a default-schedule variant)."""
    from onnxtune.tir.schedule.instruction import (
        SAMPLE_CATEGORICAL,
        SAMPLE_COMPUTE_LOCATION,
        SAMPLE_PERFECT_TILE,
    )

    sampling = (SAMPLE_PERFECT_TILE, SAMPLE_CATEGORICAL, SAMPLE_COMPUTE_LOCATION)
    return not any(inst.kind in sampling for inst in trace.insts)


def _resample(inst: Any, inputs: list, attrs: tuple, decision: Any) -> Any:
    return None


def replay_trace(mod: Any, trace: Any, seed: int, *, resample: bool) -> Any:
    """A fresh Schedule of ``mod`` (random state ``seed``) with ``trace`` replayed, either
    with the trace's decisions or (``resample``) sampling every decision afresh.
    Raises whatever the replay raises (ScheduleError for an illegal sampled program)."""
    from onnxtune.tir.schedule import Schedule

    sch = Schedule(mod, seed=seed)
    trace.apply_to_schedule(sch, remove_postproc=True,
                            decision_provider=_resample if resample else None)
    return sch


def apply_postprocs(sch: Any, postprocs: list[Any]) -> bool:
    """Enter the postprocessing part of the trace and run every postprocessor on ``sch``;
    False (the candidate is invalid) when one rejects it or raises a ScheduleError."""
    from onnxtune.tir.schedule import ScheduleError

    sch.enter_postproc()
    for p in postprocs:
        try:
            if not p.apply(sch):
                return False
        except ScheduleError as err:
            logger.debug("postproc %s rejected a candidate: %s", type(p).__name__, err)
            return False
    return True


def try_replay(mod: Any, trace: Any, seed: int, postprocs: list[Any], *,
               resample: bool) -> Any | None:
    """:func:`replay_trace` + :func:`apply_postprocs`; None when either fails."""
    from onnxtune.tir.schedule import ScheduleError

    try:
        sch = replay_trace(mod, trace, seed, resample=resample)
    except (ScheduleError, ValueError) as err:
        logger.debug("replaying a trace failed: %s", err)
        return None
    return sch if apply_postprocs(sch, postprocs) else None


def module_key(mod: Any) -> int:
    """The structural hash used to recognize an already-measured program."""
    from onnxtune.tir.structural import module_hash

    return module_hash(mod, "structural")


def make_candidate(sch: Any) -> MeasureCandidate:
    """A MeasureCandidate with the argument info of the schedule's entry function."""
    from ..arg_info import ArgInfo

    return MeasureCandidate(sch, ArgInfo.from_entry_func(sch.mod))


def create(kind: str = "evolutionary", *args: Any, **kwargs: Any) -> SearchStrategy:
    """Create a strategy: "evolutionary", "replay-trace" or "replay-func"."""
    return SearchStrategy.create(kind, *args, **kwargs)


PySearchStrategy = SearchStrategy
