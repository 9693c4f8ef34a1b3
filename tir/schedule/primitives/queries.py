"""Schedule queries as pure functions: blocks by name, the loops above a block, child
blocks, and producer/consumer blocks (read-after-write dependences inside one scope)."""

from __future__ import annotations

from ...expr import Var
from ...function import PrimFunc
from ...stmt import Block, BlockRealize, For, Stmt
from ..error import ScheduleError
from ..tree import Located, index, stmt_children


def get_block(func: PrimFunc, name: str) -> str:
    """``name`` itself, after checking that the function has a block of that name."""
    index(func).block(name, "get_block")
    return name


def get_loops(func: PrimFunc, block: str) -> list[Var]:
    """The loop variables of the loops above ``block`` inside its scope, outermost first."""
    loc = index(func).block(block, "get_loops")
    return [f.loop_var for f in loc.loops()]


_CHILDREN: dict[int, tuple[Stmt, tuple[BlockRealize, ...]]] = {}
_CHILDREN_SIZE = 32


def child_realizes(stmt: Stmt) -> list[BlockRealize]:
    """The BlockRealizes under ``stmt`` not nested in another block, in program order
    (``stmt`` itself excluded; the init of a block is not searched). Cached per statement
    object (IR is immutable; a primitive asks about the same scope several times)."""
    hit = _CHILDREN.get(id(stmt))
    if hit is not None and hit[0] is stmt:
        return list(hit[1])
    out = _child_realizes(stmt)
    if len(_CHILDREN) >= _CHILDREN_SIZE:
        _CHILDREN.clear()
    _CHILDREN[id(stmt)] = (stmt, tuple(out))  # holds ``stmt``: its id stays unique
    return out


def _child_realizes(stmt: Stmt) -> list[BlockRealize]:
    out: list[BlockRealize] = []
    if isinstance(stmt, BlockRealize):
        stack = [stmt.block.body]
    elif isinstance(stmt, Block):
        stack = [stmt.body]
    else:
        stack = list(reversed(stmt_children(stmt)))
    while stack:
        s = stack.pop()
        if isinstance(s, BlockRealize):
            out.append(s)
            continue
        stack.extend(reversed(stmt_children(s)))
    return out


def get_child_blocks(func: PrimFunc, target: str | Var) -> list[str]:
    """Names of the blocks directly under a block (by name) or a loop (by loop var)."""
    ix = index(func)
    loc = ix.loop(target, "get_child_blocks") if isinstance(target, Var) else ix.block(
        target, "get_child_blocks")
    return [r.block.name_hint for r in child_realizes(loc.stmt)]


def scope_of(loc: Located) -> BlockRealize | None:
    """The BlockRealize of the block whose scope holds ``loc`` (None for the root)."""
    for a in reversed(loc.ancestors):
        if isinstance(a, BlockRealize):
            return a
    return None


def _siblings(func: PrimFunc, block: str, primitive: str) -> tuple[list[Block], int]:
    loc = index(func).block(block, primitive)
    scope = scope_of(loc)
    if scope is None:
        raise ScheduleError(f"{primitive}: block {block!r} is the root block; it has no scope")
    sibs = [r.block for r in child_realizes(scope)]
    pos = next(i for i, b in enumerate(sibs) if b.name_hint == block)
    return sibs, pos


def _writes(b: Block) -> set:
    return {r.buffer for r in b.writes}


def _reads(b: Block) -> set:
    return {r.buffer for r in b.reads}


def get_producers(func: PrimFunc, block: str) -> list[str]:
    """Blocks of the same scope, earlier in program order, that write a buffer ``block``
    reads (TVM's read-after-write producers), in program order."""
    sibs, pos = _siblings(func, block, "get_producers")
    reads = _reads(sibs[pos])
    return [b.name_hint for b in sibs[:pos] if _writes(b) & reads]


def get_consumers(func: PrimFunc, block: str) -> list[str]:
    """Blocks of the same scope, later in program order, that read a buffer ``block``
    writes, in program order."""
    sibs, pos = _siblings(func, block, "get_consumers")
    writes = _writes(sibs[pos])
    return [b.name_hint for b in sibs[pos + 1:] if _reads(b) & writes]


def loop_chain(func: PrimFunc, loop: Var, primitive: str) -> tuple[Located, list[For]]:
    """A loop located, and the loops of its scope from the outermost down to it."""
    loc = index(func).loop(loop, primitive)
    return loc, [*loc.loops(), loc.stmt]
