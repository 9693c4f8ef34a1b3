"""Small helpers shared by the tuner: derived_object, kind factories, thread counts."""

from __future__ import annotations

import importlib
import os
from typing import Any


def derived_object(cls: type) -> type:
    """TVM's decorator for Python subclasses of tuner classes.

    In TVM it registers the class with the C++ object system. Here every tuner class is
    plain Python, so subclassing the abstract class is all it takes; the decorator
    checks that the abstract methods are implemented and returns the class unchanged.
    """
    missing = sorted(getattr(cls, "__abstractmethods__", ()))
    if missing:
        raise TypeError(f"{cls.__name__} must implement {', '.join(missing)}")
    return cls


def make(kinds: dict[str, str], base: str, kind: str, *args: Any, **kwargs: Any) -> Any:
    """Instantiate ``kinds[kind]`` ("module:Class", imported lazily) or list the kinds."""
    if kind not in kinds:
        raise ValueError(f"unknown {base} kind {kind!r}; expected one of {sorted(kinds)}")
    module, _, name = kinds[kind].partition(":")
    mod = importlib.import_module(module, package=__package__)
    return getattr(mod, name)(*args, **kwargs)


def cpu_count(kind: str | int = "physical") -> int:
    """Cores usable by this process ("physical" and "logical" give the same count here)."""
    if isinstance(kind, int):
        if kind < 1:
            raise ValueError(f"num_threads must be >= 1, got {kind}")
        return kind
    if kind not in ("physical", "logical"):
        raise ValueError(f"num_threads must be an int, 'physical' or 'logical', got {kind!r}")
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)
