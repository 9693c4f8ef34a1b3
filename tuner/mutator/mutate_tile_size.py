"""MutateTileSize: move a factor between two positions of one sample_perfect_tile decision.

Also holds the helpers the other mutators share (random state, postproc-free traces).
"""

from __future__ import annotations

from typing import Any

from onnxtune.tir.schedule import Trace
from onnxtune.tir.schedule import instruction as K
from onnxtune.tir.schedule.sampling import RandState, prime_factors

from .mutator import Mutator

#: root-block annotations whose removal marks the start of RewriteParallelVectorizeUnroll
_PVU_KEYS = ("meta_schedule.parallel", "meta_schedule.vectorize",
             "meta_schedule.unroll_explicit", "meta_schedule.unroll_implicit")

_MAX_TRIES = 32


def as_rand_state(rand_state: Any) -> RandState:
    """A RandState from a RandState (used as is), an int seed, or None (OS seed)."""
    if isinstance(rand_state, RandState):
        return rand_state
    if rand_state is None or isinstance(rand_state, int):
        return RandState(rand_state)
    raise TypeError(f"rand_state must be a RandState, an int seed or None, got "
                    f"{type(rand_state).__name__}")


def pick(rand: RandState, n: int) -> int:
    """A uniform index in ``[0, n)`` from the high bits of the random state (the low bits
    of the linear congruential engine are strongly correlated across small seeds)."""
    if n < 1:
        raise ValueError("pick: empty range")
    return min(int(rand.uniform() * n), n - 1)


def workload_insts(trace: Trace) -> list[K.Instruction]:
    """The instructions before post-processing: up to EnterPostproc, or (for a trace
    recorded without it) up to RewriteParallelVectorizeUnroll's first unannotate."""
    out = []
    for inst in trace.insts:
        if inst.kind is K.ENTER_POSTPROC:
            break
        if inst.kind is K.UNANNOTATE and inst.attrs and inst.attrs[0] in _PVU_KEYS:
            break
        out.append(inst)
    return out


def with_decision(trace: Trace, inst: K.Instruction, decision: Any) -> Trace:
    """The postproc-free part of ``trace`` with ``inst``'s decision replaced."""
    insts = workload_insts(trace)
    decisions = {i: d for i, d in trace.decisions.items() if i in set(insts)}
    decisions[inst] = decision
    return Trace(insts, decisions)


def divisors(n: int) -> list[int]:
    """The divisors of ``n`` greater than 1, ascending."""
    out = {1}
    for p in prime_factors(n):
        out |= {d * p for d in out}
    return sorted(d for d in out if d > 1)


def mutate_tiles(tiles: list[int], max_innermost_factor: int, rand: RandState
                 ) -> list[int] | None:
    """``tiles`` with a divisor ``d > 1`` of one factor moved to another position (the
    product is unchanged and the innermost factor stays within ``max_innermost_factor``),
    or None if no such move exists."""
    n = len(tiles)
    sources = [i for i, t in enumerate(tiles) if t > 1]
    if n < 2 or not sources:
        return None
    limit = max_innermost_factor if max_innermost_factor and max_innermost_factor > 0 else None
    for _ in range(_MAX_TRIES):
        x = sources[pick(rand, len(sources))]
        y = pick(rand, n - 1)
        if y >= x:
            y += 1
        divs = divisors(tiles[x])
        d = divs[pick(rand, len(divs))]
        new = list(tiles)
        new[x] //= d
        new[y] *= d
        if limit is not None and new[-1] > limit:
            continue
        return new
    # the random picks kept breaking the innermost limit: try every move in order
    moves = []
    for x in sources:
        for y in range(n):
            if y == x:
                continue
            for d in divisors(tiles[x]):
                new = list(tiles)
                new[x] //= d
                new[y] *= d
                if limit is None or new[-1] <= limit:
                    moves.append(new)
    if not moves:
        return None
    return moves[pick(rand, len(moves))]


class MutateTileSize(Mutator):
    """Mutator that mutates the decision of a sample_perfect_tile instruction: a divisor of
    one tile factor moves to another tile position, keeping the product (TVM's
    MutateTileSize)."""

    def apply(self, trace: Trace, rand_state: Any = None) -> Trace | None:
        rand = as_rand_state(rand_state)
        insts = workload_insts(trace)
        cands = []
        for inst in insts:
            if inst.kind is not K.SAMPLE_PERFECT_TILE:
                continue
            d = trace.get_decision(inst)
            if d is not None and len(d) > 1 and any(int(t) > 1 for t in d):
                cands.append((inst, [int(t) for t in d]))
        while cands:
            k = pick(rand, len(cands))
            inst, tiles = cands.pop(k)
            new = mutate_tiles(tiles, int(inst.attrs[1]), rand)
            if new is not None and new != tiles:
                return with_decision(trace, inst, new)
        return None
