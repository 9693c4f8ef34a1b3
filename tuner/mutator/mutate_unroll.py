"""MutateUnroll: change the sample_categorical decision that sets the auto-unroll max step."""

from __future__ import annotations

from typing import Any

from onnxtune.tir.schedule import Trace
from onnxtune.tir.schedule import instruction as K

from .mutate_tile_size import as_rand_state, pick, with_decision, workload_insts
from .mutator import Mutator

UNROLL_KEYS = ("meta_schedule.unroll_explicit", "meta_schedule.unroll_implicit")


def unroll_decisions(trace: Trace) -> list[K.Instruction]:
    """The sample_categorical instructions whose result is annotated on a block as
    ``meta_schedule.unroll_explicit`` / ``unroll_implicit`` and that have another
    candidate to switch to."""
    insts = workload_insts(trace)
    by_output = {inst.outputs[0]: inst for inst in insts
                 if inst.kind is K.SAMPLE_CATEGORICAL and inst.outputs}
    out: list[K.Instruction] = []
    for inst in insts:
        if inst.kind is not K.ANNOTATE or inst.attrs[0] not in UNROLL_KEYS:
            continue
        src = by_output.get(inst.inputs[1]) if isinstance(inst.inputs[1], K.ExprRV) else None
        if src is None or trace.get_decision(src) is None or src in out:
            continue
        if len(src.attrs[0]) >= 2:
            out.append(src)
    return out


class MutateUnroll(Mutator):
    """Mutator that mutates the auto unroll step: one sample_categorical decision feeding
    a ``meta_schedule.unroll_*`` annotation is redrawn from the other candidates, with
    their probabilities (TVM's MutateUnroll)."""

    def apply(self, trace: Trace, rand_state: Any = None) -> Trace | None:
        rand = as_rand_state(rand_state)
        cands = unroll_decisions(trace)
        if not cands:
            return None
        inst = cands[pick(rand, len(cands))]
        old = int(trace.get_decision(inst))
        probs = [float(p) for p in inst.attrs[1]]
        others = [i for i in range(len(probs)) if i != old]
        weights = [max(probs[i], 0.0) for i in others]
        total = sum(weights)
        if total <= 0:
            new = others[pick(rand, len(others))]
        else:
            x, acc, new = rand.uniform() * total, 0.0, others[-1]
            for i, w in zip(others, weights, strict=True):
                acc += w
                if x < acc:
                    new = i
                    break
        return with_decision(trace, inst, new)
