"""TensorIR schedules: Schedule (TVM's primitives), Trace, Instruction, random variables."""

from __future__ import annotations

from typing import Any

from .error import ScheduleError
from .instruction import (
    BlockRV,
    ExprRV,
    Instruction,
    InstructionKind,
    LoopRV,
    SBlockRV,
)
from .schedule import Schedule
from .trace import Trace

__all__ = [
    "BlockRV",
    "ExprRV",
    "IndexMap",
    "Instruction",
    "InstructionKind",
    "LoopRV",
    "SBlockRV",
    "Schedule",
    "ScheduleError",
    "Trace",
    "verify_well_formed",
]


def __getattr__(name: str) -> Any:
    if name == "IndexMap":
        from .index_map import IndexMap

        return IndexMap
    if name == "verify_well_formed":
        from .verify import verify_well_formed

        return verify_well_formed
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
