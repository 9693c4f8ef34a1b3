"""Schedule primitives as pure functions on PrimFunc (blocks by name, loops by loop var)."""

from __future__ import annotations

from .loop_kinds import annotate, bind, parallel, unannotate, unroll, vectorize
from .loop_ops import fuse, reorder, split
from .queries import (
    get_block,
    get_child_blocks,
    get_consumers,
    get_loops,
    get_producers,
)

__all__ = [
    "annotate",
    "bind",
    "fuse",
    "get_block",
    "get_child_blocks",
    "get_consumers",
    "get_loops",
    "get_producers",
    "parallel",
    "reorder",
    "split",
    "unannotate",
    "unroll",
    "vectorize",
]
