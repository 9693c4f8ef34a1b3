"""VerifyCPUCode: reject a schedule that the CPU lowering pipeline cannot compile.

Not one of TVM's default llvm postprocessors (TVM finds such programs only when building);
add it to a space generator's postprocessors to drop them before they reach the builder.
"""

from __future__ import annotations

import logging
from typing import Any

from .postproc import Postproc

log = logging.getLogger(__name__)


class VerifyCPUCode(Postproc):
    """A postprocessor that lowers the scheduled function (blocks to loops, unrolling,
    buffer flattening, simplification, the structural checks of the lowering) and returns
    False if that fails: a dynamic shape, an unrolled loop of non-constant extent, a
    vectorized loop the lowering cannot handle, or ill-formed IR."""

    def apply(self, sch: Any) -> bool:
        from onnxtune.tir.transform import lower
        from onnxtune.tir.transform.layout_rewrite import remove_weight_layout_rewrite_block
        from onnxtune.tir.transform.verify import LoweringError, verify_lowered

        try:
            func = lower(remove_weight_layout_rewrite_block(sch.func))
            verify_lowered(func, stage="VerifyCPUCode", flat=True)
        except (LoweringError, ValueError, NotImplementedError) as err:
            log.debug("VerifyCPUCode rejected the schedule: %s", err)
            return False
        return True
