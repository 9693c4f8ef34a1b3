"""Reuse a tuned schedule across fused functions that share an anchor block.

With ``module_equality="anchor-block"`` one task is tuned for every fused function whose
anchor block (the heaviest reduction: a conv2d, a matmul) is structurally equal, whatever
their epilogues (bias, relu, residual add...). :func:`schedule_using_anchor_trace` applies
the anchor's tuned trace to another such function:

1. blocks the trace never names (the other function's own epilogue or prologue) are
   inlined where legal, so the function's shape matches the one the trace was made on;
2. the trace is replayed with its decisions; an instruction whose block does not exist
   here, or that this function cannot take (a ``ScheduleError``), is skipped together with
   every later instruction that uses its results;
3. blocks still untouched by the trace that could not be inlined keep their loops.

The caller checks the result (build and compare, or fall back to the default schedule).
"""

from __future__ import annotations

from typing import Any

from onnxtune.tir.schedule import ScheduleError
from onnxtune.tir.schedule.trace import _map_rvs
from onnxtune.tir.schedule.tree import index


def _block_names_in(trace: Any) -> set[str]:
    return {inst.attrs[0] for inst in trace.insts if inst.kind.name == "GetBlock"}


def _inline_unnamed_blocks(sch: Any, keep: set[str]) -> None:
    """Inline (or reverse-inline) every block whose name the trace does not use. A refused
    primitive leaves the schedule as it was, so each is simply tried; the block list is
    read again after each success, since inlining changes it."""
    changed = True
    while changed:
        changed = False
        for name in list(index(sch.func).order):
            if name in keep or name == "root":
                continue
            for prim in ("compute_inline", "reverse_compute_inline"):
                try:
                    getattr(sch, prim)(sch.get_block(name))
                except ScheduleError:
                    continue
                changed = True
                break
            if changed:
                break


def schedule_using_anchor_trace(sch: Any, anchor_trace: Any, target: Any = None) -> int:
    """Apply ``anchor_trace`` (tuned on another function with the same anchor block) to
    ``sch`` in place. Returns the number of instructions that were skipped."""
    del target  # the trace already holds the target's decisions
    _inline_unnamed_blocks(sch, _block_names_in(anchor_trace))
    rv_map: dict[Any, Any] = {}
    skipped = 0
    for inst in anchor_trace.insts:
        try:  # an input made by a skipped instruction is missing from rv_map
            inputs = [_map_rvs(x, rv_map) for x in inst.inputs]
        except ValueError:
            skipped += 1
            continue
        try:
            outputs = inst.kind.apply_to_schedule(
                sch, inputs, inst.attrs, anchor_trace.get_decision(inst))
        except (ScheduleError, ValueError):
            skipped += 1
            continue
        for old, new in zip(inst.outputs, outputs, strict=True):
            rv_map[old] = new
    return skipped
