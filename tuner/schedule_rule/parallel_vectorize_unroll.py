"""ParallelizeVectorizeUnroll: annotate the root block with the parallel, vectorize and
unroll limits that the RewriteParallelVectorizeUnroll postproc turns into loops."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from . import analysis as A
from .schedule_rule import ScheduleRule, target_num_cores


class ParallelizeVectorizeUnroll(ScheduleRule):
    """TVM's ParallelizeVectorizeUnroll. On the root block only, it sets
    ``meta_schedule.parallel`` = cores × ``max_jobs_per_core`` (the largest fused extent
    to run in parallel), ``meta_schedule.vectorize`` = ``max_vectorize_extent`` and, unless
    every block is spatial, ``meta_schedule.unroll_explicit`` (or ``_implicit``) = a
    ``sample_categorical`` over ``unroll_max_steps`` with equal probabilities. -1 (or an
    empty list) turns a part off."""

    def __init__(self, max_jobs_per_core: int = 16, max_vectorize_extent: int = 16,
                 unroll_max_steps: Sequence[int] | None = None, unroll_explicit: bool = True):
        self.max_jobs_per_core = int(max_jobs_per_core)
        self.max_vectorize_extent = int(max_vectorize_extent)
        self.unroll_max_steps = [int(x) for x in (unroll_max_steps or [])]
        self.unroll_explicit = bool(unroll_explicit)
        self.max_parallel_extent = -1
        if self.max_jobs_per_core != -1:
            self.max_parallel_extent = target_num_cores(None) * self.max_jobs_per_core

    def _initialize_with_tune_context(self, context: Any) -> None:
        if self.max_jobs_per_core != -1:
            self.max_parallel_extent = target_num_cores(context) * self.max_jobs_per_core

    def apply(self, sch: Any, block: Any) -> list[Any]:
        if not A.is_root(A.locate(sch, block)):
            return [sch]
        if self.max_jobs_per_core != -1:
            sch.annotate(block, A.PARALLEL, self.max_parallel_extent)
        if self.max_vectorize_extent != -1:
            sch.annotate(block, A.VECTORIZE, self.max_vectorize_extent)
        if self.unroll_max_steps and not A.is_spatial_prim_func(sch.func):
            n = len(self.unroll_max_steps)
            step = sch.sample_categorical(self.unroll_max_steps, [1.0 / n] * n)
            key = A.UNROLL_EXPLICIT if self.unroll_explicit else A.UNROLL_IMPLICIT
            sch.annotate(block, key, step)
        return [sch]
