"""RandomComputeLocation: sample where an untiled producer block is computed."""

from __future__ import annotations

from typing import Any

from onnxtune.tir.schedule.primitives import queries
from onnxtune.tir.stmt import BlockRealize

from . import analysis as A
from .schedule_rule import ScheduleRule


class RandomComputeLocation(ScheduleRule):
    """TVM's RandomComputeLocation. For a block directly under the root, alone in its
    outermost loop, not multi-level tiled and with a consumer, sample a compute location
    (``sample_compute_location``: a loop of its consumer, the root or inline) and move it
    there. A block annotated ``meta_schedule.random_compute_producer`` (by AddRFactor)
    has its single producer placed the same way afterwards."""

    def apply(self, sch: Any, block: Any) -> list[Any]:
        if not self._check(sch, block):
            return [sch]
        producer = None
        if sch.get(block).annotations.get(A.RANDOM_COMPUTE_PRODUCER):
            producers = sch.get_producers(block)
            sch.unannotate(block, A.RANDOM_COMPUTE_PRODUCER)
            if len(producers) != 1:
                raise ValueError(
                    f"RandomComputeLocation: block {sch.get(block).name_hint!r} is annotated "
                    f"{A.RANDOM_COMPUTE_PRODUCER} but has {len(producers)} producers, not 1")
            producer = producers[0]
        _randomly_compute_at(sch, block)
        if producer is not None:
            _randomly_compute_at(sch, producer)
        return [sch]

    @staticmethod
    def _check(sch: Any, block: Any) -> bool:
        loc = A.locate(sch, block)
        if A.is_root(loc):
            return False
        # directly under the root block
        if any(isinstance(a, BlockRealize) for a in loc.ancestors[1:]):
            return False
        fors = loc.loops()
        if not fors:
            return False
        if len(queries.child_realizes(fors[0])) > 1:
            return False
        if A.has_been_multi_level_tiled(loc.stmt.block):
            return False
        return bool(queries.get_consumers(sch.func, loc.stmt.block.name_hint))


def _randomly_compute_at(sch: Any, block: Any) -> None:
    loop = sch.sample_compute_location(block)
    sch.compute_at(block, loop, True)
