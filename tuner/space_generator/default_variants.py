"""DefaultVariants: the untuned default schedule and its knob variants as design spaces.

``compile.default_schedule`` holds hand-written heuristic schedules (packed convolution
tiles, staged input rows, weight blocks) that the multi-level-tiling space does not
contain. ``default_schedule_variants`` makes the distinct schedules over a small grid of
its knobs (register budget, loop order, staging, weight blocking, parallel grain, ...);
each is a design space whose trace has no sampling instruction: a fixed program, which
the evolutionary search puts into its first rounds as is (see
``EvolutionarySearch``), next to the random samples of the other spaces.
"""

from __future__ import annotations

import logging
from typing import Any

from .space_generator import SpaceGenerator

log = logging.getLogger(__name__)

#: design spaces per task when nothing else is said
DEFAULT_LIMIT = 16


def variant_design_spaces(mod: Any, target: Any, limit: int = DEFAULT_LIMIT,
                          grid: Any = None) -> list[Any]:
    """The default-schedule variants of ``mod``'s "main" PrimFunc (or of ``mod`` itself, a
    PrimFunc) for ``target``; [] (with a warning) when the module has no "main" (the
    variants' traces name it, as every tuning task's module does) or the planner cannot
    schedule it."""
    from onnxtune.compile.default_variants import default_schedule_variants
    from onnxtune.compile.target import Target
    from onnxtune.tir import IRModule, PrimFunc
    from onnxtune.tir.schedule import ScheduleError

    if isinstance(mod, PrimFunc):
        func = mod
    elif isinstance(mod, IRModule):
        func = mod.functions.get("main")
        if not isinstance(func, PrimFunc):
            log.warning("DefaultVariants: the module has no PrimFunc 'main' (it has %s): no "
                        "default-schedule variants", list(mod.functions))
            return []
    else:
        raise TypeError(f"DefaultVariants: expected an IRModule or PrimFunc, got "
                        f"{type(mod).__name__}")
    tgt = Target("llvm") if target is None else (
        target if isinstance(target, Target) else Target(target))
    try:
        return default_schedule_variants(func, tgt, limit=limit, grid=grid)
    except (ScheduleError, ValueError, NotImplementedError) as err:
        log.warning("DefaultVariants: no default schedule for this task: %s", err)
        return []


class DefaultVariants(SpaceGenerator):
    """The design spaces of the default schedule and up to ``limit - 1`` distinct knob
    variants (``grid``: a list of knob dicts, default ``VARIANT_KNOBS``). Used alone its
    spaces hold no sampling decisions, so a search over it measures each once; combine it
    with PostOrderApply (``PostOrderApply(default_variants=...)`` or the kind
    "post-order-apply+default-variants") to search both."""

    def __init__(self, limit: int = DEFAULT_LIMIT, grid: Any = None,
                 sch_rules: Any = "from-target", postprocs: Any = "from-target",
                 mutator_probs: Any = "from-target"):
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise ValueError(f"DefaultVariants: limit must be an int >= 1, got {limit!r}")
        self.limit = limit
        self.grid = None if grid is None else [dict(g) for g in grid]
        self.sch_rules = sch_rules
        self.postprocs = postprocs
        self.mutator_probs = mutator_probs
        self.target: Any = None

    def _initialize_with_tune_context(self, context: Any) -> None:
        self.target = getattr(context, "target", None)
        super()._initialize_with_tune_context(context)

    def generate_design_space(self, mod: Any) -> list[Any]:
        return variant_design_spaces(mod, self.target, self.limit, self.grid)
