"""DisallowDynamicLoop: reject a schedule that has a loop whose extent is not a constant."""

from __future__ import annotations

import logging
from typing import Any

from onnxtune.tir.expr import IntImm
from onnxtune.tir.schedule.tree import walk
from onnxtune.tir.stmt import For

from .postproc import Postproc

log = logging.getLogger(__name__)


def dynamic_loops(func: Any) -> list[For]:
    """The loops of ``func`` whose extent (or start) is not an integer constant."""
    return [loc.stmt for loc in walk(func)
            if isinstance(loc.stmt, For)
            and not (isinstance(loc.stmt.extent, IntImm) and isinstance(loc.stmt.min, IntImm))]


class DisallowDynamicLoop(Postproc):
    """A postprocessor that rejects (returns False for) a schedule with any loop whose
    extent is not a constant (TVM's DisallowDynamicLoop)."""

    def apply(self, sch: Any) -> bool:
        bad = dynamic_loops(sch.func)
        if bad:
            log.debug("DisallowDynamicLoop: loop %s has a non-constant extent",
                      bad[0].loop_var.name)
            return False
        return True
