"""Shared analyses of the block primitives: scopes, block kinds, leaf removal, access regions."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

from ...arith import Analyzer, region_union, relax_region
from ...arith.iter_map import detect_iter_map
from ...buffer import Buffer, BufferRegion
from ...expr import BufferLoad, IntImm, IterType, PrimExpr, Range, Var
from ...function import PrimFunc
from ...functor import collect_vars, node_fields, post_order_visit
from ...stmt import Block, BlockRealize, BufferStore, For, SeqStmt, Stmt
from ..error import ScheduleError
from ..tree import Located, free_vars, index, replace, stmt_children, substitute_region
from .queries import child_realizes, scope_of

#: node class -> its field names, in order and as a set
_NAME_SETS: dict[type, tuple[tuple[str, ...], frozenset[str]]] = {}


def with_fields(node: Any, **changes: Any) -> Any:
    """A copy of an immutable IR node with some fields replaced (``dataclasses.replace``,
    faster: the nodes have no init-only fields and no post-init hooks)."""
    cls = type(node)
    names = _NAME_SETS.get(cls)
    if names is None:
        names = _NAME_SETS[cls] = (node_fields(cls), frozenset(node_fields(cls)))
    if not changes.keys() <= names[1]:
        return dataclasses.replace(node, **changes)  # raises the usual TypeError
    return cls(*[changes[n] if n in changes else getattr(node, n) for n in names[0]])


# ----------------------------------------------------------------------------------------
# locating


def locate_block(func: PrimFunc, name: str, prim: str) -> Located:
    """The BlockRealize of block ``name``; ScheduleError (stale or wrong name) otherwise."""
    loc = index(func).block(name, prim)
    if scope_of(loc) is None:
        raise ScheduleError(f"{prim}: block {name!r} is the root block; it cannot be scheduled")
    return loc


def locate_loop(func: PrimFunc, loop: Var, prim: str) -> Located:
    """The For of ``loop``; ScheduleError (stale, or not a loop variable) otherwise."""
    if not isinstance(loop, Var):
        raise TypeError(f"{prim}: expected a loop variable (Var), got {type(loop).__name__}")
    return index(func).loop(loop, prim)


def scope_block(loc: Located) -> Block:
    """The block whose scope holds ``loc`` (the innermost enclosing block)."""
    r = scope_of(loc)
    if r is None:
        raise ScheduleError("internal: statement outside any block")
    return r.block


def scope_children(loc: Located) -> list[BlockRealize]:
    """The child blocks (as realizes, program order) of the scope holding ``loc``."""
    r = scope_of(loc)
    return child_realizes(r) if r is not None else []


# ----------------------------------------------------------------------------------------
# block kinds (TVM's complete / reduction / output blocks)


def writers(children: Sequence[BlockRealize], buf: Buffer) -> list[Block]:
    """The blocks among ``children`` that write ``buf``."""
    return [r.block for r in children if any(w.buffer is buf for w in r.block.writes)]


def readers(children: Sequence[BlockRealize], buf: Buffer) -> list[Block]:
    return [r.block for r in children if any(w.buffer is buf for w in r.block.reads)]


def not_dominant(block: Block, children: Sequence[BlockRealize]) -> Buffer | None:
    """A buffer ``block`` writes that another block of the scope also writes, if any."""
    for w in block.writes:
        if len(writers(children, w.buffer)) > 1:
            return w.buffer
    return None


def is_output_block(block: Block, scope: Block) -> bool:
    """True if the block writes a buffer the scope block does not allocate (TVM)."""
    return any(w.buffer not in scope.alloc_buffers for w in block.writes)


def complete_block_error(block: Block, children: Sequence[BlockRealize]) -> str | None:
    """Why ``block`` is not a complete block, or None if it is one."""
    for iv in block.iter_vars:
        if iv.iter_type != IterType.DATA_PAR:
            kind = "a reduction block" if block.init is not None else "not a spatial block"
            return (f"block {block.name_hint} is {kind} (iter var {iv.var.name} is not "
                    "data-parallel); only a complete spatial block is allowed")
    buf = not_dominant(block, children)
    if buf is not None:
        return f"block {block.name_hint} is not the only writer of {buf.name}"
    written = {w.buffer for w in block.writes}
    for r in block.reads:
        if r.buffer in written:
            return f"block {block.name_hint} reads {r.buffer.name}, which it also writes"
    return None


def reduction_block_error(realize: BlockRealize, children: Sequence[BlockRealize],
                          loops: Sequence[For]) -> str | None:
    """Why the block of ``realize`` is not a reduction block, or None if it is one."""
    block = realize.block
    name = block.name_hint
    if block.init is None:
        return f"block {name} has no init statement, so it is not a reduction block"
    for iv in block.iter_vars:
        if iv.iter_type not in (IterType.DATA_PAR, IterType.COMM_REDUCE):
            return f"block {name}: iter var {iv.var.name} is neither spatial nor reduction"
    if not affine_binding(realize, loops):
        return f"block {name}: its iter bindings are not affine in the loops above it"
    buf = not_dominant(block, children)
    if buf is not None:
        return f"block {name} is not the only writer of {buf.name}"
    red = {iv.var for iv in block.iter_vars if iv.iter_type == IterType.COMM_REDUCE}
    for w in block.writes:
        for rg in w.region:
            if free_vars(rg.min) & red:
                return (f"block {name}: a reduction iter var indexes its output "
                        f"{w.buffer.name}")
    return None


def affine_binding(realize: BlockRealize, loops: Sequence[For]) -> bool:
    """True if the bindings are an affine (surjective) map of constant-extent loops."""
    doms = {}
    for f in loops:
        if not (isinstance(f.min, IntImm) and isinstance(f.extent, IntImm)):
            return True  # symbolic loops: do not reject what cannot be analyzed
        doms[f.loop_var] = Range(f.min, f.extent)
    if not realize.iter_values:
        return True
    res = detect_iter_map(realize.iter_values, doms, realize.predicate, "surjective")
    return res is not None


def check_complete_or_reduction(prim: str, loc: Located) -> None:
    realize = loc.stmt
    children = scope_children(loc)
    why_c = complete_block_error(realize.block, children)
    if why_c is None:
        return
    why_r = reduction_block_error(realize, children, loc.loops())
    if why_r is None:
        return
    raise ScheduleError(f"{prim}: block {realize.block.name_hint} is neither a complete block "
                        f"nor a reduction block: {why_c}; {why_r}")


# ----------------------------------------------------------------------------------------
# removing a leaf block (TVM's LeafBlockRemovalPlan)


def leaf_removal_point(loc: Located, prim: str) -> Located:
    """The statement to delete to remove a block: the realize with the loops that hold
    nothing else; ScheduleError if that would empty the scope."""
    cur: Stmt = loc.stmt
    anc = loc.ancestors
    k = len(anc) - 1
    while k >= 0:
        parent = anc[k]
        if isinstance(parent, SeqStmt):
            return Located(cur, anc[:k + 1])
        if isinstance(parent, (Block, BlockRealize)):
            break
        cur = parent
        k -= 1
    raise ScheduleError(
        f"{prim}: block {loc.stmt.block.name_hint} is the only statement of its scope; "
        "removing it would leave the scope empty"
    )


def remove_leaf(func: PrimFunc, loc: Located, prim: str) -> PrimFunc:
    """``func`` without the block at ``loc`` and the loops that only held it."""
    return replace(func, leaf_removal_point(loc, prim), None)


# ----------------------------------------------------------------------------------------
# access regions


def point_region(buf: Buffer, indices: Sequence[PrimExpr]) -> BufferRegion:
    return BufferRegion(buf, tuple(Range(i, IntImm(1, i.dtype)) for i in indices))


def collect_accesses(block: Block) -> tuple[dict[Buffer, BufferRegion], dict[Buffer, BufferRegion]]:
    """The regions the body (and init) of ``block`` loads and stores, per buffer, relaxed
    over the loops inside the block (nested blocks contribute their declared regions)."""
    reads: dict[Buffer, BufferRegion] = {}
    writes: dict[Buffer, BufferRegion] = {}
    an = Analyzer()

    def add(table: dict, reg: BufferRegion, loops: dict[Var, Range]) -> None:
        if loops:
            used = set()
            for rg in reg.region:
                used |= collect_vars(rg.min) | collect_vars(rg.extent)
            dom = {v: r for v, r in loops.items() if v in used}
            if dom:
                reg = relax_region(reg, dom, an)
        reg = BufferRegion(reg.buffer, tuple(Range(an.simplify(r.min), an.simplify(r.extent))
                                             for r in reg.region))
        old = table.get(reg.buffer)
        table[reg.buffer] = reg if old is None else region_union(old, reg, an)

    def loads(e: Any, loops: dict[Var, Range]) -> None:
        found: list[BufferLoad] = []
        post_order_visit(e, lambda n: found.append(n) if isinstance(n, BufferLoad) else None)
        for ld in found:
            add(reads, point_region(ld.buffer, ld.indices), loops)

    def walk(s: Stmt, loops: dict[Var, Range]) -> None:
        if isinstance(s, For):
            walk(s.body, {**loops, s.loop_var: Range(s.min, s.extent)})
            return
        if isinstance(s, BlockRealize):
            sub = dict(zip((iv.var for iv in s.block.iter_vars), s.iter_values, strict=True))
            for table, regs in ((reads, s.block.reads), (writes, s.block.writes)):
                for reg in regs:
                    if reg.buffer in s.block.alloc_buffers:
                        continue
                    add(table, substitute_region(reg, sub), loops)
            return
        if isinstance(s, BufferStore):
            add(writes, point_region(s.buffer, s.indices), loops)
            loads(s.value, loops)
            for i in s.indices:
                loads(i, loops)
            return
        for c in stmt_children(s):
            walk(c, loops)
        for name in ("condition", "value"):
            e = getattr(s, name, None)
            if isinstance(e, PrimExpr):
                loads(e, loops)

    if block.init is not None:
        walk(block.init, {})
    walk(block.body, {})
    local = set(block.alloc_buffers)
    return ({b: r for b, r in reads.items() if b not in local},
            {b: r for b, r in writes.items() if b not in local})


def merge_regions(old: Iterable[BufferRegion], new: dict[Buffer, BufferRegion],
                  drop: Iterable[Buffer] = ()) -> tuple[BufferRegion, ...]:
    """``old`` (minus ``drop``) widened by ``new``; buffers only in ``new`` take the place
    of the first dropped buffer (or are appended). Keeps declared-but-unloaded regions."""
    dropped = set(drop)
    old = list(old)
    old_bufs = {r.buffer for r in old}
    fresh = [r for b, r in new.items() if b not in old_bufs and b not in dropped]
    out: list[BufferRegion] = []
    seen: set[Buffer] = set()
    for r in old:
        if r.buffer in dropped:
            out.extend(fresh)  # the new buffers take the place of the dropped one
            fresh = []
            continue
        if r.buffer in seen:
            continue
        seen.add(r.buffer)
        extra = new.get(r.buffer)
        out.append(r if extra is None else region_union(r, extra))
    out.extend(fresh)
    return tuple(out)


def refresh_reads(block: Block, drop: Iterable[Buffer] = ()) -> Block:
    """``block`` with its reads widened to what its body loads and ``drop`` removed; loads
    of a buffer the block writes are not reads (as in a reduction's update)."""
    reads, _ = collect_accesses(block)
    written = {w.buffer for w in block.writes}
    reads = {b: r for b, r in reads.items() if b not in written}
    return with_fields(block, reads=merge_regions(block.reads, reads, drop))


# ----------------------------------------------------------------------------------------
# misc


_SCOPES = ("global", "shared", "shared.dyn", "local", "warp")
_SCOPE_PREFIXES = ("global.", "shared.", "local.", "wmma.", "m16n8k8.")


def check_storage_scope(prim: str, scope: str) -> None:
    """Reject a storage scope TVM would not know."""
    if not isinstance(scope, str) or not (scope in _SCOPES or scope.startswith(_SCOPE_PREFIXES)):
        raise ScheduleError(
            f"{prim}: invalid storage scope {scope!r}; expected one of {list(_SCOPES)} or a "
            f"tagged scope starting with {list(_SCOPE_PREFIXES)}"
        )


def nth_region(block: Block, n: int, kind: str, prim: str) -> BufferRegion:
    """The ``n``-th read (``kind="read"``) or write region of ``block``."""
    regions = block.reads if kind == "read" else block.writes
    if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n < len(regions):
        raise ScheduleError(
            f"{prim}: block {block.name_hint} has {len(regions)} {kind} region(s) "
            f"{[r.buffer.name for r in regions]}, so the buffer index must be in "
            f"[0, {len(regions)}); got {n!r}"
        )
    return regions[n]


def fresh_buffer_name(func: PrimFunc, base: str) -> str:
    """``base`` unless a parameter or allocated buffer has that name (then ``base_1``...)."""
    taken = {p.name for p in func.params}
    for realize in index(func).block_realizes():
        taken.update(b.name for b in realize.block.alloc_buffers)
    if base not in taken:
        return base
    k = 1
    while f"{base}_{k}" in taken:
        k += 1
    return f"{base}_{k}"

