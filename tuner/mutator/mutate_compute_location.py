"""MutateComputeLocation: re-sample a sample_compute_location decision among the
locations that are valid where the instruction runs."""

from __future__ import annotations

from typing import Any

from onnxtune.tir.schedule import Schedule, ScheduleError, Trace
from onnxtune.tir.schedule import instruction as K
from onnxtune.tir.schedule.schedule import compute_location_choices

from .mutate_tile_size import as_rand_state, pick, with_decision, workload_insts
from .mutator import Mutator

_MAX_TRIES = 8


def workload_of(mutator: Any) -> Any:
    mod = getattr(mutator, "_mod", None)
    if mod is None:
        raise ValueError(f"{type(mutator).__name__} needs the task's workload to replay "
                         "traces: call _initialize_with_tune_context(context) with a "
                         "TuneContext whose mod is set")
    return mod


class MutateComputeLocation(Mutator):
    """A mutator that mutates the compute-at location decision of a
    sample_compute_location instruction (TVM's MutateComputeLocation): the trace is
    replayed and, where each such instruction runs, its valid locations are collected;
    one instruction is picked and given another of its locations."""

    def __init__(self) -> None:
        self._mod: Any = None

    def _initialize_with_tune_context(self, context: Any) -> None:
        self._mod = getattr(context, "mod", None)

    def candidates(self, trace: Trace) -> list[tuple[K.Instruction, list[int]]]:
        """Each sample_compute_location instruction with the other decisions it could take."""
        sch = Schedule(workload_of(self), seed=1)
        found: list[tuple[K.Instruction, list[int]]] = []

        def provider(inst: K.Instruction, inputs: list, attrs: tuple, decision: Any) -> Any:
            if inst.kind is K.SAMPLE_COMPUTE_LOCATION and decision is not None:
                name = sch.get(inputs[0]).name_hint
                codes = [c for c, _ in compute_location_choices(sch.func, name)]
                others = [c for c in codes if c != int(decision)]
                if others:
                    found.append((inst, others))
            return decision

        Trace(workload_insts(trace), trace.decisions).apply_to_schedule(
            sch, remove_postproc=True, decision_provider=provider)
        return found

    def apply(self, trace: Trace, rand_state: Any = None) -> Trace | None:
        rand = as_rand_state(rand_state)
        try:
            cands = self.candidates(trace)
        except ScheduleError:
            return None
        # a location valid where the instruction runs can still break a later primitive
        # (one that used a loop the block brought along): replay to check, try others
        for _ in range(_MAX_TRIES):
            if not cands:
                return None
            k = pick(rand, len(cands))
            inst, others = cands[k]
            choice = others.pop(pick(rand, len(others)))
            if not others:
                cands.pop(k)
            new = with_decision(trace, inst, choice)
            try:
                new.apply_to_schedule(Schedule(workload_of(self), seed=1), remove_postproc=True)
            except (ScheduleError, ValueError):
                continue
            return new
        return None
