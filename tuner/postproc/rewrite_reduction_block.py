"""RewriteReductionBlock: move the init of every reduction block into its own block
(``decompose_reduction``) right above the block's outermost reduction loop."""

from __future__ import annotations

import logging
from typing import Any

from onnxtune.tir.expr import IterType
from onnxtune.tir.schedule import ScheduleError
from onnxtune.tir.schedule.tree import index

from .postproc import Postproc
from .rewrite_parallel_vectorize_unroll import loop_iter_type

log = logging.getLogger(__name__)


def decompose_point(sch: Any, loop_rvs: list[Any]) -> int:
    """Index of the first of a block's loops that is not purely data-parallel (TVM's
    FindDecomposePoint), or -1 if every loop is data-parallel."""
    for i, lv in enumerate(loop_rvs):
        if loop_iter_type(sch.get(lv)) != IterType.DATA_PAR:
            return i
    return -1


def rewrite_reduction_blocks(sch: Any) -> int:
    """Decompose every reduction block that still has an init; the number decomposed.

    A block whose loops are all data-parallel (e.g. every reduction loop has extent 1 and
    was dropped) keeps its init: the lowering runs it when the reduction iterators are at
    their minimum, which is equally correct. A decomposition the schedule refuses leaves
    the block as it was (decompose_reduction changes nothing when it raises)."""
    done = 0
    ix = index(sch.func)
    names = [n for n in ix.order if ix.blocks[n].stmt.block.init is not None]
    for name in names:
        block_rv = sch.get_block(name)
        loop_rvs = sch.get_loops(block_rv)
        k = decompose_point(sch, loop_rvs)
        if k == -1:
            continue
        try:
            sch.decompose_reduction(block_rv, loop_rvs[k])
            done += 1
        except ScheduleError as err:
            log.debug("RewriteReductionBlock: block %s keeps its init: %s", name, err)
    return done


class RewriteReductionBlock(Postproc):
    """A postprocessor that rewrites reduction blocks by moving the init block out
    (TVM's RewriteReductionBlock)."""

    def apply(self, sch: Any) -> bool:
        try:
            rewrite_reduction_blocks(sch)
        except ValueError as err:  # ScheduleError and arithmetic errors
            log.debug("RewriteReductionBlock rejected the schedule: %s", err)
            return False
        return True
