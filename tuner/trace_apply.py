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
from onnxtune.tir.schedule.instruction import RV_TYPES
from onnxtune.tir.schedule.tree import index


def _block_names_in(trace: Any) -> set[str]:
    return {inst.attrs[0] for inst in trace.insts if inst.kind.name == "GetBlock"}


def _inline_unnamed_blocks(sch: Any, keep: set[str]) -> None:
    """Inline (or reverse-inline) every block whose name the trace does not use."""
    changed = True
    while changed:
        changed = False
        for name in list(index(sch.func).order):
            if name in keep or name == "root":
                continue
            for prim in ("compute_inline", "reverse_compute_inline"):
                trial = sch.copy()
                try:
                    getattr(trial, prim)(trial.get_block(name))
                except ScheduleError:
                    continue
                getattr(sch, prim)(sch.get_block(name))
                changed = True
                break
            if changed:
                break


def _inputs_ok(x: Any, rv_map: dict) -> bool:
    if isinstance(x, RV_TYPES):
        return x in rv_map
    if isinstance(x, tuple):
        return all(_inputs_ok(v, rv_map) for v in x)
    return True


def _map(x: Any, rv_map: dict) -> Any:
    if isinstance(x, RV_TYPES):
        return rv_map[x]
    if isinstance(x, tuple):
        return tuple(_map(v, rv_map) for v in x)
    return x


def schedule_using_anchor_trace(sch: Any, anchor_trace: Any, target: Any = None) -> int:
    """Apply ``anchor_trace`` (tuned on another function with the same anchor block) to
    ``sch`` in place. Returns the number of instructions that were skipped."""
    del target  # the trace already holds the target's decisions
    _inline_unnamed_blocks(sch, _block_names_in(anchor_trace))
    rv_map: dict[Any, Any] = {}
    skipped = 0
    for inst in anchor_trace.insts:
        if not all(_inputs_ok(x, rv_map) for x in inst.inputs):
            skipped += 1
            continue
        inputs = [_map(x, rv_map) for x in inst.inputs]
        try:
            outputs = inst.kind.apply_to_schedule(
                sch, inputs, inst.attrs, anchor_trace.get_decision(inst))
        except (ScheduleError, ValueError):
            skipped += 1
            continue
        for old, new in zip(inst.outputs, outputs, strict=True):
            rv_map[old] = new
    return skipped
