"""ScheduleFn: the design space a user schedule function makes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from onnxtune.tir.schedule import Schedule
from onnxtune.tir.schedule.sampling import RandState

from .space_generator import SpaceGenerator


class ScheduleFn(SpaceGenerator):
    """TVM's ScheduleFn: ``sch_fn(sch)`` schedules a fresh Schedule of the module and
    returns None (the schedule itself is the space), a Schedule, or a list of them."""

    def __init__(self, sch_fn: Callable[[Schedule], Any], sch_rules: Any = "from-target",
                 postprocs: Any = "from-target", mutator_probs: Any = "from-target"):
        if not callable(sch_fn):
            raise TypeError(f"ScheduleFn: sch_fn must be callable, got {type(sch_fn).__name__}")
        self.sch_fn = sch_fn
        self.sch_rules = sch_rules
        self.postprocs = postprocs
        self.mutator_probs = mutator_probs
        self._rand = RandState(None)

    def _initialize_with_tune_context(self, context: Any) -> None:
        seed = getattr(context, "rand_state", None)
        self._rand = RandState(None if seed in (None, -1) else seed)
        super()._initialize_with_tune_context(context)

    def generate_design_space(self, mod: Any) -> list[Any]:
        from ..schedule_rule.apply_custom_rule import normalize_schedules

        sch = Schedule(mod, seed=self._rand.fork_seed(), debug_mask="none")
        name = getattr(self.sch_fn, "__name__", "sch_fn")
        return normalize_schedules(self.sch_fn(sch), sch, f"ScheduleFn {name}")
