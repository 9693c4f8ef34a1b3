"""ScheduleRule: expands one block of a schedule into one or more design spaces."""

from __future__ import annotations

from typing import Any


class ScheduleRule:
    """The abstract schedule rule: ``apply(sch, block) -> list[Schedule]``."""

    def _initialize_with_tune_context(self, context: Any) -> None:
        """Hook called once with the task's TuneContext."""

    def apply(self, sch: Any, block: Any) -> list[Any]:
        raise NotImplementedError

    def clone(self) -> ScheduleRule:
        import copy

        return copy.deepcopy(self)

    @staticmethod
    def create(kind: str = "llvm") -> list[ScheduleRule]:
        """The default rules of a target kind, in the order they are applied."""
        if kind == "llvm":
            from .defaults import llvm_rules

            return llvm_rules()
        if kind in ("cuda", "cuda-tensorcore", "hexagon"):
            raise NotImplementedError(f"schedule rules for {kind!r} are not built yet "
                                      "(CPU 'llvm' only)")
        raise ValueError(f"unknown ScheduleRule kind {kind!r}; expected one of "
                         "['llvm', 'cuda', 'cuda-tensorcore', 'hexagon']")


PyScheduleRule = ScheduleRule


def target_num_cores(context: Any) -> int:
    """The core count of the context's target (the host's when there is no target)."""
    target = getattr(context, "target", None)
    if target is not None:
        return int(target.num_cores)
    from onnxtune.compile.target import host_num_cores

    return int(host_num_cores())
