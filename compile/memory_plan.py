"""Static memory planning: intermediate buffers share one arena when their lifetimes do not
overlap (greedy by size, best-fit gap), every offset aligned."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

ALIGNMENT = 64


@dataclass(frozen=True)
class Lifetime:
    """A buffer of ``nbytes`` live from call ``start`` (written) to call ``end`` (last read),
    both inclusive; buffers live at the same call never share memory."""

    name: str
    nbytes: int
    start: int
    end: int

    def overlaps(self, other: Lifetime) -> bool:
        return not (self.end < other.start or other.end < self.start)


@dataclass(frozen=True)
class MemoryPlan:
    """Where each buffer lives in the arena."""

    offsets: dict[str, int]
    arena_bytes: int  # peak: the arena size
    total_bytes: int  # what separate allocations would take (sum of aligned sizes)
    alignment: int = ALIGNMENT
    lifetimes: tuple[Lifetime, ...] = field(default=(), repr=False)

    @property
    def reuse_ratio(self) -> float:
        """total / arena (1.0: no reuse)."""
        return self.total_bytes / self.arena_bytes if self.arena_bytes else 1.0

    def check(self) -> None:
        """Raise AssertionError if two buffers that are live together overlap in memory."""
        lts = self.lifetimes
        for i, a in enumerate(lts):
            oa = self.offsets[a.name]
            assert oa % self.alignment == 0, f"{a.name} is misaligned at {oa}"
            assert oa + a.nbytes <= self.arena_bytes, f"{a.name} ends past the arena"
            for b in lts[i + 1:]:
                ob = self.offsets[b.name]
                if a.overlaps(b) and a.nbytes and b.nbytes:
                    assert oa + a.nbytes <= ob or ob + b.nbytes <= oa, (
                        f"{a.name} [{oa}, {oa + a.nbytes}) and {b.name} [{ob}, "
                        f"{ob + b.nbytes}) are live together and overlap")


def _align(n: int, alignment: int) -> int:
    return -(-n // alignment) * alignment


def plan_memory(buffers: Sequence[Lifetime], alignment: int = ALIGNMENT) -> MemoryPlan:
    """Place ``buffers`` in one arena: largest first, each in the smallest gap (between
    already placed buffers whose lifetimes overlap its own) that fits, else after them."""
    names = [b.name for b in buffers]
    if len(set(names)) != len(names):
        raise ValueError("plan_memory: buffer names must be unique")
    for b in buffers:
        if b.nbytes < 0 or b.start > b.end:
            raise ValueError(f"plan_memory: buffer {b.name} has size {b.nbytes} and lifetime "
                             f"[{b.start}, {b.end}]")
    order = sorted(buffers, key=lambda b: (-b.nbytes, b.start, b.name))
    placed: list[tuple[int, int, Lifetime]] = []  # (offset, aligned size, buffer)
    offsets: dict[str, int] = {}
    arena = 0
    for b in order:
        size = _align(max(b.nbytes, 1), alignment)
        busy = sorted((o, s) for o, s, p in placed if p.overlaps(b))
        best, best_gap, cursor = None, None, 0
        for o, s in busy:
            gap = o - cursor
            if gap >= size and (best_gap is None or gap < best_gap):
                best, best_gap = cursor, gap
            cursor = max(cursor, o + s)
        off = best if best is not None else cursor
        offsets[b.name] = off
        placed.append((off, size, b))
        arena = max(arena, off + size)
    total = sum(_align(max(b.nbytes, 1), alignment) for b in buffers)
    return MemoryPlan(offsets, arena, total, alignment, tuple(buffers))
