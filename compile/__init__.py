"""onnxtune.compile: targets, LLVM code generation, the native runtime and built modules."""

from __future__ import annotations

from typing import Any

from .build import build

__all__ = ["Alias", "Call", "Executable", "Module", "Program", "Target", "VirtualMachine", "build"]


def __getattr__(name: str) -> Any:
    # Target and Module live in the engine modules; resolved on first use so that the code
    # generator can be imported on its own
    if name == "Target":
        from .target import Target

        return Target
    if name == "Module":
        from .module import Module

        return Module
    if name in ("Alias", "Call", "Executable", "Program", "VirtualMachine"):
        from . import executable

        return getattr(executable, name)
    raise AttributeError(f"module 'onnxtune.compile' has no attribute {name!r}")
