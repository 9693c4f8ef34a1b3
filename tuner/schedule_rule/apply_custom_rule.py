"""ApplyCustomRule: run the user schedule function a block's ``schedule_rule`` annotation
names, and the registry of such functions."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from . import analysis as A
from .schedule_rule import ScheduleRule

_LOG = logging.getLogger(__name__)

#: (rule name, target key or None for any target) -> fn(sch, block) -> schedules
_REGISTRY: dict[tuple[str, str | None], Callable[[Any, Any], Any]] = {}


def register_rule(name: str, target_key: str | None = None,
                  override: bool = False) -> Callable[[Callable], Callable]:
    """Decorator registering ``fn(sch, block) -> None | Schedule | list[Schedule]`` as the
    custom rule ``name`` (TVM's ``meta_schedule.<key>.<name>`` global function) for the
    targets with key ``target_key`` ("cpu" for llvm), or for every target when None::

        @register_rule("my_dense")
        def my_dense(sch, block): ...

    A block annotated ``schedule_rule="my_dense"`` is then scheduled by it alone."""
    if not isinstance(name, str) or not name:
        raise ValueError("register_rule: the rule name must be a non-empty string")

    def deco(fn: Callable) -> Callable:
        if not callable(fn):
            raise TypeError(f"register_rule({name!r}): {fn!r} is not callable")
        key = (name, target_key)
        if key in _REGISTRY and not override and _REGISTRY[key] is not fn:
            raise ValueError(f"register_rule: a rule {name!r} for target key {target_key!r} "
                             "is already registered (pass override=True to replace it)")
        _REGISTRY[key] = fn
        return fn

    return deco


def unregister_rule(name: str, target_key: str | None = None) -> None:
    """Remove a registered custom rule (no error if absent)."""
    _REGISTRY.pop((name, target_key), None)


def get_rule(name: str, keys: tuple[str, ...] = ()) -> Callable | None:
    """The rule registered for ``name`` under the first matching key, else for any target."""
    for k in keys:
        fn = _REGISTRY.get((name, k))
        if fn is not None:
            return fn
    return _REGISTRY.get((name, None))


class ApplyCustomRule(ScheduleRule):
    """TVM's ApplyCustomRule: a block annotated ``schedule_rule=<name>`` is scheduled by the
    function registered under that name (see :func:`register_rule`) for one of the
    target's keys; its result (None: the schedule itself, a Schedule, or a list) replaces
    the schedule. ``"None"`` means no rule; an unknown name logs a warning. PostOrderApply
    applies no other rule to an annotated block."""

    def __init__(self) -> None:
        self.target_keys: tuple[str, ...] = ("cpu",)

    def _initialize_with_tune_context(self, context: Any) -> None:
        target = getattr(context, "target", None)
        if target is not None:
            self.target_keys = tuple(target.keys)

    def apply(self, sch: Any, block: Any) -> list[Any]:
        name = sch.get(block).annotations.get(A.CUSTOM_RULE)
        if name is None or name == "None":
            return [sch]
        fn = get_rule(str(name), self.target_keys)
        if fn is None:
            _LOG.warning("Unknown schedule rule %r for target keys %s; registered: %s", name,
                         list(self.target_keys), sorted({n for n, _ in _REGISTRY}))
            return [sch]
        return normalize_schedules(fn(sch, block), sch, f"custom rule {name!r}")


def normalize_schedules(result: Any, sch: Any, what: str) -> list[Any]:
    """None → [sch]; a Schedule → [it]; a list/tuple of Schedules → the list."""
    from onnxtune.tir.schedule import Schedule

    if result is None:
        return [sch]
    if isinstance(result, Schedule):
        return [result]
    if isinstance(result, (list, tuple)) and all(isinstance(x, Schedule) for x in result):
        return list(result)
    raise TypeError(f"{what} must return None, a Schedule or a list of Schedules, got "
                    f"{type(result).__name__}")
