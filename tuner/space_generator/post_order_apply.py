"""PostOrderApply: the design spaces made by applying schedule rules to every block,
consumers before producers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from onnxtune.tir.schedule import Schedule
from onnxtune.tir.schedule.primitives.queries import child_realizes
from onnxtune.tir.schedule.sampling import RandState
from onnxtune.tir.stmt import BlockRealize

from .space_generator import SpaceGenerator


class PostOrderApply(SpaceGenerator):
    """TVM's PostOrderApply.

    ``generate_design_space(mod)`` starts from one schedule of ``mod``'s main function
    and applies each rule in turn (rules outermost) to every block that
    ``f_block_filter(block)`` accepts (all by default, the root included), taking the
    blocks from the last in post order back to the first, so consumers come before their
    producers and the root comes first. A rule returns forks; each fork continues with
    the remaining blocks. A block a rule removed (inlined) is skipped. A block annotated
    ``schedule_rule`` is left to ApplyCustomRule. The result is the list of schedules,
    whose traces hold the sampling instructions the search re-samples and mutates.

    ``default_variants`` (an onnxtune extension, 0 by default): append up to that many
    distinct variants of the untuned default schedule (see ``DefaultVariants``), fixed
    programs the evolutionary search measures in its first rounds.
    """

    def __init__(self, f_block_filter: Callable[[Any], bool] | None = None,
                 sch_rules: Any = "from-target", postprocs: Any = "from-target",
                 mutator_probs: Any = "from-target", default_variants: int = 0):
        if f_block_filter is not None and not callable(f_block_filter):
            raise TypeError("PostOrderApply: f_block_filter must be a callable(block) -> bool")
        if (not isinstance(default_variants, int) or isinstance(default_variants, bool)
                or default_variants < 0):
            raise ValueError(f"PostOrderApply: default_variants must be an int >= 0, got "
                             f"{default_variants!r}")
        self.default_variants = default_variants
        self.target: Any = None
        self.f_block_filter = f_block_filter
        self.sch_rules = sch_rules
        self.postprocs = postprocs
        self.mutator_probs = mutator_probs
        self._rand = RandState(None)

    def _initialize_with_tune_context(self, context: Any) -> None:
        seed = getattr(context, "rand_state", None)
        self._rand = RandState(None if seed in (None, -1) else seed)
        self.target = getattr(context, "target", None)
        super()._initialize_with_tune_context(context)

    def _rules(self) -> list[Any]:
        rules = self.sch_rules
        if rules is None or isinstance(rules, str):
            from ..schedule_rule import ScheduleRule

            self.sch_rules = rules = ScheduleRule.create("llvm" if rules in (
                None, "from-target", "default") else rules)
        return list(rules)

    def generate_design_space(self, mod: Any) -> list[Any]:
        from ..schedule_rule.analysis import CUSTOM_RULE, has_block
        from ..schedule_rule.apply_custom_rule import ApplyCustomRule

        rules = self._rules()
        sch = Schedule(mod, seed=self._rand.fork_seed(), debug_mask="none")
        blocks = [sch.get_block(n) for n in _collect_block_names(sch.func, self.f_block_filter)]
        result = [sch]
        for rule in rules:
            custom = isinstance(rule, ApplyCustomRule)
            stack = [(s, len(blocks)) for s in reversed(result)]
            result = []
            while stack:
                s, n = stack.pop()
                if n == 0:
                    result.append(s)
                    continue
                block = blocks[n - 1]
                if not has_block(s, block):
                    stack.append((s, n - 1))
                    continue
                if not custom and CUSTOM_RULE in s.get(block).annotations:
                    stack.append((s, n - 1))
                    continue
                applied = rule.apply(s, block)
                for s2 in reversed(applied):
                    stack.append((s2, n - 1))
        if self.default_variants:
            from .default_variants import variant_design_spaces

            result += variant_design_spaces(mod, self.target, self.default_variants)
        return result


def post_order_apply_with_default_variants(*args: Any, **kwargs: Any) -> PostOrderApply:
    """The kind "post-order-apply+default-variants": PostOrderApply whose design spaces
    end with the default schedule's variants (``default_variants`` defaults to
    ``DefaultVariants``' limit)."""
    from .default_variants import DEFAULT_LIMIT

    kwargs.setdefault("default_variants", DEFAULT_LIMIT)
    return PostOrderApply(*args, **kwargs)


def _collect_block_names(func: Any, f_block_filter: Callable[[Any], bool] | None) -> list[str]:
    """Block names in post order (children before their parent, program order), filtered."""
    out: list[str] = []

    def visit(realize: BlockRealize) -> None:
        for child in child_realizes(realize):
            visit(child)
        if f_block_filter is None or f_block_filter(realize.block):
            out.append(realize.block.name_hint)

    visit(func.body)
    return out
