"""The block primitives of the schedule as pure functions on PrimFunc (one import point)."""

from __future__ import annotations

# Each takes a PrimFunc plus block names / loop Vars and returns the new PrimFunc (and the
# names of the blocks it created), raising ScheduleError naming the primitive, the block or
# loop and the broken condition. They live in sibling modules by concept: compute_inline,
# compute_at, cache, reduction and layout.
from .cache import cache_read, cache_write
from .compute_at import compute_at, compute_location_candidates, reverse_compute_at
from .compute_inline import can_compute_inline, compute_inline, reverse_compute_inline
from .layout import BUFFER_DIM_ALIGN, set_scope, storage_align, transform_layout
from .reduction import decompose_reduction, rfactor

__all__ = [
    "BUFFER_DIM_ALIGN",
    "cache_read",
    "cache_write",
    "can_compute_inline",
    "compute_at",
    "compute_inline",
    "compute_location_candidates",
    "decompose_reduction",
    "reverse_compute_at",
    "reverse_compute_inline",
    "rfactor",
    "set_scope",
    "storage_align",
    "transform_layout",
]
