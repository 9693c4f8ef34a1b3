"""SpaceGenerator: the design spaces (schedules with sampling decisions) of a workload."""

from __future__ import annotations

from typing import Any

from ..utils import make


class SpaceGenerator:
    """The abstract space generator; it also carries the rules, postprocs and mutators
    the search uses (TVM keeps them here)."""

    sch_rules: list[Any] | None = None
    postprocs: list[Any] | None = None
    mutator_probs: dict[Any, float] | None = None

    def _initialize_with_tune_context(self, context: Any) -> None:
        """Fill in the target's default rules, postprocs and mutators where unset."""
        kind = context.target.kind if context is not None and context.target is not None \
            else "llvm"
        from ..mutator import Mutator
        from ..postproc import Postproc
        from ..schedule_rule import ScheduleRule

        if _unset(self.sch_rules):
            self.sch_rules = ScheduleRule.create(kind)
        if _unset(self.postprocs):
            self.postprocs = Postproc.create(kind)
        if _unset(self.mutator_probs):
            self.mutator_probs = Mutator.create(kind)
        for x in list(self.sch_rules) + list(self.postprocs) + list(self.mutator_probs):
            x._initialize_with_tune_context(context)

    def generate_design_space(self, mod: Any) -> list[Any]:
        raise NotImplementedError

    def clone(self) -> SpaceGenerator:
        import copy

        return copy.deepcopy(self)

    @staticmethod
    def create(kind: Any = "post-order-apply", *args: Any, **kwargs: Any) -> SpaceGenerator:
        """Create a space generator: "post-order-apply", "default-variants" (the default
        schedule's knob variants), "post-order-apply+default-variants" (both), "union",
        or a schedule function."""
        if callable(kind):
            from .schedule_fn import ScheduleFn

            return ScheduleFn(kind, *args, **kwargs)
        return make(
            {
                "post-order-apply": ".space_generator.post_order_apply:PostOrderApply",
                "default-variants": ".space_generator.default_variants:DefaultVariants",
                "post-order-apply+default-variants":
                    ".space_generator.post_order_apply:post_order_apply_with_default_variants",
                "union": ".space_generator.space_generator_union:SpaceGeneratorUnion",
                "schedule-fn": ".space_generator.schedule_fn:ScheduleFn",
            },
            "SpaceGenerator", kind, *args, **kwargs,
        )


def _unset(x: Any) -> bool:
    """None, "default" or "from-target" (TVM's spelling): take the target's defaults."""
    return x is None or (isinstance(x, str) and x in ("default", "from-target"))


PySpaceGenerator = SpaceGenerator
