"""The lowering pipeline: scheduled PrimFunc (blocks, N-d buffers) → code-generator input."""

from __future__ import annotations

import logging
from collections.abc import Callable

from ..function import PrimFunc
from .flatten_buffer import flatten_buffer
from .lower_blocks import convert_blocks_to_loops
from .plan_allocation import compact_allocation, plan_allocation
from .simplify import simplify
from .unroll import unroll_loops
from .verify import debug_enabled, verify_lowered

log = logging.getLogger(__name__)

Pass = Callable[[PrimFunc], PrimFunc]


def lowering_passes() -> list[tuple[str, Pass]]:
    """The passes :func:`lower` runs, in order."""
    return [
        # intermediate buffers allocated at the lowest common ancestor loop/block of their
        # uses (per-thread scratch inside parallel loops), never inside vectorized/unrolled
        # loops nor below a loop the writing block reduces over
        ("plan_allocation", plan_allocation),
        # blocks → plain loops: iter vars replaced by their bindings, predicates become
        # IfThenElse, init runs when every reduce var is at its minimum, alloc_buffers
        # become Allocate at the block, extent-1 loops disappear
        ("convert_blocks_to_loops", convert_blocks_to_loops),
        # each allocation shrunk to the box its body touches (indices shifted)
        ("compact_allocation", compact_allocation),
        # UNROLLED loops and loops under pragma_auto_unroll_max_step are expanded
        ("unroll_loops", unroll_loops),
        # N-d buffer accesses → 1-D row-major accesses (storage_align padding included)
        ("flatten_buffer", flatten_buffer),
        # arithmetic simplification of indices and conditions, loop ranges known
        ("simplify", simplify),
    ]


def lower(func: PrimFunc) -> PrimFunc:
    """Lower a PrimFunc (TE or scheduled form) to block-free code over 1-D buffers.

    With ONNXTUNE_DEBUG=1 the result of every pass is verified (no block left, every
    variable defined in scope, every accessed buffer a parameter or allocated around
    the access).
    """
    _check_static(func)
    debug = debug_enabled()
    flat = blocks_lowered = False
    for name, fn in lowering_passes():
        func = fn(func)
        flat = flat or name == "flatten_buffer"
        blocks_lowered = blocks_lowered or name == "convert_blocks_to_loops"
        if debug and blocks_lowered:  # the verifier checks block-free code only
            verify_lowered(func, stage=name, flat=flat)
    return func


def _check_static(func: PrimFunc) -> None:
    from ..arith.utils import expr_text
    from ..expr import IntImm

    for p in func.params:
        for i, s in enumerate(p.shape):
            if not isinstance(s, IntImm):
                raise NotImplementedError(
                    f"parameter {p.name} has the dynamic dimension {i} ({expr_text(s)}); "
                    "only static shapes can be compiled"
                )
