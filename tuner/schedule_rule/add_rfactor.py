"""AddRFactor: factor a reduction with little spatial parallelism (rfactor forks)."""

from __future__ import annotations

from typing import Any

from onnxtune.tir.expr import IterType
from onnxtune.tir.schedule import ScheduleError

from . import analysis as A
from .schedule_rule import ScheduleRule, target_num_cores


def needs_rfactor(loc: Any, max_parallel_extent: int, max_parallel_basic: int) -> bool:
    """TVM's NeedsRFactorOrCrossThreadReduction: a reduction block with trivial bindings
    alone at the bottom of a perfect nest of spatial / reduction loops whose spatial
    extent is small next to its reduction extent."""
    if A.is_root(loc):
        return False
    block = loc.stmt.block
    if not block.writes:
        return False
    if not A.is_reduction_block(loc) or not A.is_trivial_binding(loc):
        return False
    if A.has_been_multi_level_tiled(block):
        return False
    loops = loc.loops()
    has_reduce = False
    for i, f in enumerate(loops):
        kind = A.loop_iter_type(loc, f)
        if kind not in (IterType.DATA_PAR, IterType.COMM_REDUCE):
            return False
        has_reduce |= kind == IterType.COMM_REDUCE
        inner = loops[i + 1] if i + 1 < len(loops) else loc.stmt
        if f.body is not inner:
            return False
    if not has_reduce:
        return False
    space, red = A.cumulative_lengths(loc)
    if space == -1 or red == -1:
        return False
    if A.needs_multi_level_tiling(loc):
        # enough spatial parallelism: tiling handles it
        return not (space >= red or space > max_parallel_extent)
    return red > max_parallel_basic


class AddRFactor(ScheduleRule):
    """TVM's AddRFactor: for a reduction block that :func:`needs_rfactor`, move the
    reduction loops innermost, fuse them, split the fused loop in two
    (``sample_perfect_tile``) and fork: rfactor over the outer part, rfactor over the
    inner part, and the unchanged schedule. The original block of an rfactored fork is
    annotated ``meta_schedule.random_compute_producer`` so that RandomComputeLocation
    also places the new rfactor block."""

    def __init__(self, max_jobs_per_core: int = 16, max_innermost_factor: int | None = None):
        self.max_jobs_per_core = int(max_jobs_per_core)
        self.max_innermost_factor = -1 if max_innermost_factor is None else int(
            max_innermost_factor)
        self.max_parallel_basic = target_num_cores(None)
        self.max_parallel_extent = self.max_parallel_basic * self.max_jobs_per_core

    def _initialize_with_tune_context(self, context: Any) -> None:
        self.max_parallel_basic = target_num_cores(context)
        self.max_parallel_extent = self.max_parallel_basic * self.max_jobs_per_core

    def apply(self, sch: Any, block: Any) -> list[Any]:
        loc = A.locate(sch, block)
        if not needs_rfactor(loc, self.max_parallel_extent, self.max_parallel_basic):
            return [sch]
        original = sch.copy()
        original.seed(sch.fork_seed())
        fused, num_spatial = _reorder_and_fuse_reduction_loops(sch, block)
        factors = sch.sample_perfect_tile(fused, 2, self.max_innermost_factor)
        split_loops = sch.split(fused, factors)
        out = []
        for loop in split_loops:
            s = sch.copy()
            s.seed(sch.fork_seed())
            try:
                s.rfactor(loop, num_spatial)
            except ScheduleError:
                continue
            s.annotate(block, A.RANDOM_COMPUTE_PRODUCER, 1)
            out.append(s)
        out.append(original)
        return out


def _reorder_and_fuse_reduction_loops(sch: Any, block: Any) -> tuple[Any, int]:
    """Spatial loops first, then the reduction loops fused into one."""
    loops = sch.get_loops(block)
    loc = A.locate(sch, block)
    kinds = [A.loop_iter_type(loc, f) for f in loc.loops()]
    spatial = [lp for lp, k in zip(loops, kinds, strict=True) if k == IterType.DATA_PAR]
    reduce = [lp for lp, k in zip(loops, kinds, strict=True) if k == IterType.COMM_REDUCE]
    order = spatial + reduce
    if any(a is not b for a, b in zip(order, loops, strict=True)):
        sch.reorder(*order)
    fused = sch.fuse(*reduce) if len(reduce) > 1 else reduce[0]
    return fused, len(spatial)
