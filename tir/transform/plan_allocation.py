"""PlanAllocation: allocate each intermediate buffer at the lowest common ancestor of its uses.

Schedule primitives (cache_read / cache_write, rfactor, a producer kept next to its
consumer) declare their intermediate buffers in the ``alloc_buffers`` of the root block.
Lowered as declared, such a buffer would live for the whole function and, when it is only
used inside a parallel loop, be shared by every thread — a data race. This pass (TVM's
PlanAndUpdateBufferAllocationLocation) moves each allocation down to the innermost loop or
block that still encloses every access, so scratch used inside a parallel loop body is
allocated per thread (the code generator outlines the body; allocations made there are
the thread's own: stack when small and constant-sized, heap otherwise).

Where the lowest common ancestor (LCA) may not be:

* below a loop that a block writing the buffer reduces over (the accumulator must survive
  the reduction loop);
* inside a vectorized or unrolled loop (a per-iteration allocation there means nothing):
  the allocation goes above the outermost such loop on the path.

It runs on the block form, before ``convert_blocks_to_loops``. An LCA that is a block
keeps the buffer in that block's ``alloc_buffers``; an LCA that is a loop wraps the loop's
body in an :class:`~onnxtune.tir.stmt.Allocate`. Unused buffers stay where they were.

:func:`compact_allocation` (TVM's CompactBufferAllocation) then runs on the loop form.
First it makes sure that moving an allocation into a loop was safe: one iteration of the
loop must write (a box covering) everything of the buffer it reads, otherwise it would
read values from an earlier iteration (a schedule may recompute a consumer over data
produced across iterations); such an allocation goes back up, loop by loop, until this
holds. Then an allocation inside loops only needs the part of the buffer its body
touches (a cache_write of a 1024×1024 output computed at a register tile touches 8×32
elements per iteration): each buffer is shrunk to the box its accesses cover, with
indices shifted by the box's origin.
"""

from __future__ import annotations

from ..arith import Analyzer
from ..arith.region import relax_region
from ..buffer import Buffer
from ..expr import (
    LE,
    BufferLoad,
    Cast,
    IntImm,
    IterType,
    Max,
    Min,
    PrimExpr,
    Range,
    Sub,
    Var,
)
from ..function import PrimFunc
from ..functor import Mutator, Visitor, collect_vars
from ..stmt import Allocate, Block, BlockRealize, BufferStore, For, ForKind, LetStmt, Stmt

_Scope = For | Block


class _AccessCollector(Visitor):
    """For every allocated buffer, the scope paths (outermost first) of its accesses."""

    def __init__(self) -> None:
        self.stack: list[_Scope] = []
        self.owner: dict[Buffer, Block] = {}
        self.paths: dict[Buffer, list[tuple[_Scope, ...]]] = {}

    def _touch(self, buf: Buffer, path: tuple[_Scope, ...] | None = None) -> None:
        if buf in self.owner:
            self.paths.setdefault(buf, []).append(tuple(self.stack) if path is None else path)

    def visit_For(self, n: For) -> None:
        self.visit(n.min)
        self.visit(n.extent)
        self.stack.append(n)
        self.visit(n.body)
        self.stack.pop()

    def visit_BlockRealize(self, n: BlockRealize) -> None:
        for v in n.iter_values:
            self.visit(v)
        self.visit(n.predicate)
        block = n.block
        for buf in block.alloc_buffers:
            self.owner[buf] = block
        # a block reducing over loops: what it writes must outlive those loops
        red_vars: set[Var] = set()
        for iv, value in zip(block.iter_vars, n.iter_values, strict=True):
            if iv.iter_type == IterType.COMM_REDUCE:
                red_vars |= collect_vars(value)
        cut = len(self.stack)
        for k, scope in enumerate(self.stack):
            if isinstance(scope, For) and scope.loop_var in red_vars:
                cut = k
                break
        self.stack.append(block)
        for region in block.writes:
            self._touch(region.buffer, tuple(self.stack[:cut]) if cut < len(self.stack) - 1
                        else None)
        for region in block.reads:
            self._touch(region.buffer)
        if block.init is not None:
            self.visit(block.init)
        self.visit(block.body)
        self.stack.pop()

    def visit_Block(self, n: Block) -> None:
        raise ValueError(
            f"block {n.name_hint!r} appears without a BlockRealize; every block must be "
            "instantiated by a BlockRealize"
        )

    def visit_BufferLoad(self, n: BufferLoad) -> None:
        self._touch(n.buffer)
        for i in n.indices:
            self.visit(i)

    def visit_BufferStore(self, n: BufferStore) -> None:
        self._touch(n.buffer)
        self.visit(n.value)
        for i in n.indices:
            self.visit(i)


def _lca(paths: list[tuple[_Scope, ...]]) -> tuple[_Scope, ...]:
    first = paths[0]
    n = min(len(p) for p in paths)
    k = 0
    while k < n and all(p[k] is first[k] for p in paths):
        k += 1
    lca = first[:k]
    # never inside a vectorized or unrolled loop
    for j, scope in enumerate(lca):
        if isinstance(scope, For) and scope.kind in (ForKind.VECTORIZED, ForKind.UNROLLED):
            return lca[:j]
    return lca


class _Placer(Mutator):
    def __init__(self, at_block: dict[int, list[Buffer]], at_loop: dict[int, list[Buffer]],
                 moved: set[Buffer]):
        self.at_block, self.at_loop, self.moved = at_block, at_loop, moved

    def visit_For(self, n: For) -> For:
        new = self.generic_visit(n)
        bufs = self.at_loop.get(id(n))
        if not bufs:
            return new
        body = new.body
        for buf in reversed(bufs):
            body = Allocate(buf, body)
        return For(new.loop_var, new.min, new.extent, new.kind, body, new.thread_binding,
                   new.annotations)

    def visit_Block(self, n: Block) -> Block:
        new = self.generic_visit(n)
        keep = tuple(b for b in n.alloc_buffers if b not in self.moved)
        add = tuple(self.at_block.get(id(n), ()))
        allocs = keep + tuple(b for b in add if b not in keep)
        if allocs == new.alloc_buffers:
            return new
        return Block(new.iter_vars, new.reads, new.writes, new.name_hint, new.body, new.init,
                     allocs, new.annotations)


def plan_allocation(func: PrimFunc) -> PrimFunc:
    """Move every ``alloc_buffers`` entry to the lowest common ancestor (loop or block) of
    the buffer's accesses; see the module docstring for the rules."""
    col = _AccessCollector()
    col.visit(func.body)
    at_block: dict[int, list[Buffer]] = {}
    at_loop: dict[int, list[Buffer]] = {}
    moved: set[Buffer] = set()
    for buf, owner in col.owner.items():
        paths = col.paths.get(buf)
        if not paths:
            continue
        lca = _lca(paths)
        if not lca or lca[-1] is owner:
            continue  # already where it belongs (or, defensively, nowhere better)
        moved.add(buf)
        target = lca[-1]
        table = at_loop if isinstance(target, For) else at_block
        table.setdefault(id(target), []).append(buf)
    if not moved:
        return func
    body = _Placer(at_block, at_loop, moved).visit(func.body)
    return func.with_body(body)


# ----------------------------------------------------------------------------------------
# hoisting back and compaction (loop form)

_Box = list[tuple[PrimExpr, PrimExpr]]  # per dimension (min, max), inclusive


class _RegionCollector(Visitor):
    """The boxes of ``buf`` that the reads and the writes below cover, loops below relaxed
    over their ranges (variables defined outside stay symbolic)."""

    def __init__(self, buf: Buffer, analyzer: Analyzer):
        self.buf, self.an = buf, analyzer
        self.dom: dict[Var, Range] = {}
        self.reads: _Box | None = None
        self.writes: _Box | None = None
        self.failed = False

    def visit_For(self, n: For) -> None:
        self.visit(n.min)
        self.visit(n.extent)
        self.dom[n.loop_var] = Range(n.min, n.extent)
        self.visit(n.body)
        del self.dom[n.loop_var]

    def visit_LetStmt(self, n: LetStmt) -> None:
        self.visit(n.value)
        if collect_vars(n.value) & set(self.dom):
            self.failed = True  # an index through a varying let: leave the buffer alone
        self.visit(n.body)

    def _box(self, indices: tuple[PrimExpr, ...]) -> _Box | None:
        try:
            region = relax_region([Range(i, IntImm(1, i.dtype)) for i in indices], self.dom,
                                  self.an)
        except ValueError:
            self.failed = True
            return None
        simp = self.an.simplify
        return [(r.min, simp(r.min + r.extent - 1)) for r in region]

    def _union(self, a: _Box | None, b: _Box | None) -> _Box | None:
        if a is None or b is None:
            return b if a is None else a
        simp = self.an.simplify
        return [(simp(Min(a0, b0)), simp(Max(a1, b1)))
                for (a0, a1), (b0, b1) in zip(a, b, strict=True)]

    def visit_BufferLoad(self, n: BufferLoad) -> None:
        if n.buffer is self.buf and not self.failed:
            self.reads = self._union(self.reads, self._box(n.indices))
        for i in n.indices:
            self.visit(i)

    def visit_BufferStore(self, n: BufferStore) -> None:
        if n.buffer is self.buf and not self.failed:
            self.writes = self._union(self.writes, self._box(n.indices))
        self.visit(n.value)
        for i in n.indices:
            self.visit(i)


def _regions(buf: Buffer, body: Stmt, an: Analyzer) -> _RegionCollector:
    col = _RegionCollector(buf, an)
    col.visit(body)
    return col


def _self_contained(buf: Buffer, body: Stmt, an: Analyzer) -> bool:
    """True if ``body`` provably writes (a box covering) every element of ``buf`` it reads."""
    col = _regions(buf, body, an)
    if col.failed:
        return False
    if col.reads is None:
        return True
    if col.writes is None:
        return False
    return all(
        an.can_prove(LE(w0, r0)) and an.can_prove(LE(r1, w1))
        for (r0, r1), (w0, w1) in zip(col.reads, col.writes, strict=True)
    )


class _Hoister(Mutator):
    """Moves every allocation inside a loop up until its loop body is self-contained."""

    def __init__(self, an: Analyzer):
        self.an = an
        self.pending: list[Buffer] = []

    def visit_Allocate(self, n: Allocate) -> Stmt:
        self.pending.append(n.buffer)  # decided by the enclosing loop (or the top)
        return self.visit(n.body)

    def visit_For(self, n: For) -> Stmt:
        outer, self.pending = self.pending, []
        body = self.visit(n.body)
        up: list[Buffer] = []
        for buf in reversed(self.pending):
            if _self_contained(buf, body, self.an):
                body = Allocate(buf, body)
            else:
                up.append(buf)
        self.pending = outer + list(reversed(up))
        if body is n.body:
            return n
        return For(n.loop_var, n.min, n.extent, n.kind, body, n.thread_binding, n.annotations)


def _wrap(body: Stmt, bufs: list[Buffer]) -> Stmt:
    for buf in reversed(bufs):
        body = Allocate(buf, body)
    return body


class _Shift(Mutator):
    def __init__(self, old: Buffer, new: Buffer, origin: list[PrimExpr]):
        self.old, self.new, self.origin = old, new, origin

    def _idx(self, indices: tuple[PrimExpr, ...]) -> tuple[PrimExpr, ...]:
        out = []
        for i, o in zip(self.visit_tuple(indices), self.origin, strict=True):
            out.append(i if isinstance(o, IntImm) and o.value == 0 else Sub(i, _as(o, i.dtype)))
        return tuple(out)

    def visit_BufferLoad(self, n: BufferLoad) -> PrimExpr:
        if n.buffer is not self.old:
            return self.generic_visit(n)
        return BufferLoad(self.new, self._idx(n.indices))

    def visit_BufferStore(self, n: BufferStore) -> BufferStore:
        if n.buffer is not self.old:
            return self.generic_visit(n)
        return BufferStore(self.new, self.visit(n.value), self._idx(n.indices))


def _as(e: PrimExpr, dtype: str) -> PrimExpr:
    if e.dtype == dtype:
        return e
    return IntImm(e.value, dtype) if isinstance(e, IntImm) else Cast(dtype, e)


class _Compactor(Mutator):
    def __init__(self, an: Analyzer):
        self.an = an

    def visit_Allocate(self, n: Allocate) -> Allocate:
        body = self.visit(n.body)
        buf = n.buffer
        same = n if body is n.body else Allocate(buf, body)
        if buf.storage_align:  # a deliberate padded layout: keep it as declared
            return same
        col = _regions(buf, body, self.an)
        box = col._union(col.reads, col.writes)
        if col.failed or box is None:
            return same
        shape: list[PrimExpr] = []
        origin: list[PrimExpr] = []
        for (lo, hi), dim in zip(box, buf.shape, strict=True):
            ext = self.an.simplify(hi - lo + 1)
            if (isinstance(ext, IntImm) and isinstance(dim, IntImm)
                    and 0 < ext.value < dim.value):
                shape.append(IntImm(ext.value, dim.dtype))
                origin.append(lo)
            else:
                shape.append(dim)
                origin.append(IntImm(0, dim.dtype))
        if all(a is b for a, b in zip(shape, buf.shape, strict=True)):
            return same
        new = Buffer(buf.name, tuple(shape), buf.dtype, buf.scope, buf.align,
                     buf.storage_align)
        return Allocate(new, _Shift(buf, new, origin).visit(body))


def compact_allocation(func: PrimFunc) -> PrimFunc:
    """Hoist each ``Allocate`` inside a loop until one iteration of its loop writes all it
    reads of the buffer, then shrink it to the box its body accesses (loops inside the
    allocation relaxed over their ranges, outer variables symbolic); dimensions whose
    covered extent is not a constant smaller than the declared one keep their size. Runs
    on the loop form (after ``convert_blocks_to_loops``)."""
    an = Analyzer()
    hoister = _Hoister(an)
    body = _wrap(hoister.visit(func.body), hoister.pending)
    body = _Compactor(an).visit(body)
    return func if body is func.body else func.with_body(body)
