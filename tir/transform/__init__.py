"""Lowering passes: pure PrimFunc → PrimFunc functions and the :func:`lower` pipeline."""

from __future__ import annotations

from .flatten_buffer import flatten_buffer
from .lower_blocks import convert_blocks_to_loops
from .pipeline import lower, lowering_passes
from .simplify import simplify
from .unroll import unroll_loops
from .verify import LoweringError, verify_lowered

__all__ = [
    "LoweringError",
    "convert_blocks_to_loops",
    "flatten_buffer",
    "lower",
    "lowering_passes",
    "simplify",
    "unroll_loops",
    "verify_lowered",
]
