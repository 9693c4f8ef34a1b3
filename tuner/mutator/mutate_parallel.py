"""MutateParallel: change the root block's ``meta_schedule.parallel`` extent to another
value that makes RewriteParallelVectorizeUnroll fuse a different number of loops."""

from __future__ import annotations

from typing import Any

from onnxtune.tir.schedule import Schedule, ScheduleError, Trace
from onnxtune.tir.schedule import instruction as K
from onnxtune.tir.schedule.tree import index

from ..postproc.rewrite_parallel_vectorize_unroll import (
    PARALLEL,
    adjust_parallel_vectorize,
    parallel_loop_count,
    parse_annotations,
)
from .mutate_compute_location import workload_of
from .mutate_tile_size import as_rand_state, pick, workload_insts
from .mutator import Mutator


class MutateParallel(Mutator):
    """Mutator that mutates the parallel extent (TVM's MutateParallel): the trace is
    replayed, every extent up to ``max_jobs_per_core * num_cores`` that is a product of
    leading loop extents of some block is a candidate, each candidate is mapped to the
    loops RewriteParallelVectorizeUnroll would parallelize with it, and one extent whose
    plan differs from the current one replaces the annotation's value."""

    def __init__(self, max_jobs_per_core: int = 16) -> None:
        if isinstance(max_jobs_per_core, bool) or not isinstance(max_jobs_per_core, int) \
                or max_jobs_per_core < 1:
            raise ValueError(f"MutateParallel: max_jobs_per_core must be a positive int, got "
                             f"{max_jobs_per_core!r}")
        self.max_jobs_per_core = max_jobs_per_core
        self._mod: Any = None
        self._num_cores: int | None = None

    def _initialize_with_tune_context(self, context: Any) -> None:
        self._mod = getattr(context, "mod", None)
        target = getattr(context, "target", None)
        self._num_cores = getattr(target, "num_cores", None) if target is not None else None

    @property
    def max_parallel_extent(self) -> int:
        cores = self._num_cores
        if cores is None:
            from onnxtune.compile.target import host_num_cores

            cores = host_num_cores()
        return self.max_jobs_per_core * int(cores)

    def _plans(self, sch: Schedule, block: str) -> tuple[dict[tuple[int, ...], int], Any]:
        """plan (parallel loop count per child block) -> the smallest extent giving it."""
        ann = index(sch.func).block(block).stmt.block.annotations
        parsed = parse_annotations(ann)
        children = []
        for rv in sch.get_child_blocks(sch.get_block(block)):
            loops = [sch.get(lv) for lv in sch.get_loops(rv)]
            realize = index(sch.func).block(sch.get(rv).name_hint).stmt
            children.append((realize, loops))
        limits: set[int] = set()
        for _, loops in children:
            prod = 1
            for k in range(1, len(loops) + 1):
                n, prod = parallel_loop_count(loops[:k], 1 << 62)
                if n < k:
                    break
                if prod <= self.max_parallel_extent:
                    limits.add(prod)

        def plan(limit: int) -> tuple[int, ...]:
            parsed.max_parallel_extent = limit
            return tuple(adjust_parallel_vectorize(r, loops, parsed).num_parallel_loops
                         for r, loops in children)

        out: dict[tuple[int, ...], int] = {}
        for limit in sorted(limits):
            out.setdefault(plan(limit), limit)
        return out, plan

    def apply(self, trace: Trace, rand_state: Any = None) -> Trace | None:
        rand = as_rand_state(rand_state)
        insts = workload_insts(trace)
        anns = [i for i, inst in enumerate(insts)
                if inst.kind is K.ANNOTATE and inst.attrs[0] == PARALLEL
                and isinstance(inst.inputs[1], int) and not isinstance(inst.inputs[1], bool)]
        if not anns:
            return None
        pos = anns[pick(rand, len(anns))]
        target = insts[pos]
        sch = Schedule(workload_of(self), seed=1)
        seen: dict[str, Any] = {}

        def provider(inst: K.Instruction, inputs: list, attrs: tuple, decision: Any) -> Any:
            if inst is target:
                seen["block"] = inputs[0]
            return decision

        try:
            Trace(insts, trace.decisions).apply_to_schedule(sch, remove_postproc=True,
                                                            decision_provider=provider)
            block = sch.get(seen["block"]).name_hint
            if PARALLEL not in index(sch.func).block(block).stmt.block.annotations:
                return None
            plans, plan = self._plans(sch, block)
        except (ScheduleError, KeyError):
            return None
        plans.pop(plan(int(target.inputs[1])), None)
        if not plans:
            return None
        choices = sorted(plans.values())
        limit = choices[pick(rand, len(choices))]
        new_inst = K.Instruction(target.kind, (target.inputs[0], limit), target.attrs,
                                 target.outputs)
        new_insts = [new_inst if inst is target else inst for inst in insts]
        kept = set(insts)
        return Trace(new_insts, {i: d for i, d in trace.decisions.items() if i in kept})
