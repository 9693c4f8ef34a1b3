"""Statement nodes of the tensor IR: loops, blocks, stores, branches and allocations."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from .buffer import Buffer, BufferRegion
from .expr import IntImm, IterVar, Node, PrimExpr, Var, fast_init


class Stmt(Node):
    """Base of statements."""

    __slots__ = ()


class ForKind(enum.IntEnum):
    SERIAL = 0
    PARALLEL = 1
    VECTORIZED = 2
    UNROLLED = 3
    THREAD_BINDING = 4


_EMPTY: dict[str, Any] = {}


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class For(Stmt):
    """``for loop_var in range(min, min + extent)``, run as ``kind`` says."""

    loop_var: Var
    min: PrimExpr
    extent: PrimExpr
    kind: ForKind
    body: Stmt
    thread_binding: str = ""
    annotations: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class BufferStore(Stmt):
    buffer: Buffer
    value: PrimExpr
    indices: tuple[PrimExpr, ...]


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Evaluate(Stmt):
    value: PrimExpr


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class SeqStmt(Stmt):
    seq: tuple[Stmt, ...]


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class IfThenElse(Stmt):
    condition: PrimExpr
    then_case: Stmt
    else_case: Stmt | None = None


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class LetStmt(Stmt):
    var: Var
    value: PrimExpr
    body: Stmt


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Allocate(Stmt):
    """Allocate ``buffer`` for the duration of ``body`` (produced by lowering)."""

    buffer: Buffer
    body: Stmt


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Block(Stmt):
    """A unit of computation with named iterators and declared reads and writes.

    ``init`` (reductions only) runs on the first iteration of the reduction iterators.
    ``alloc_buffers`` are the intermediate buffers whose lifetime is the block.
    """

    iter_vars: tuple[IterVar, ...]
    reads: tuple[BufferRegion, ...]
    writes: tuple[BufferRegion, ...]
    name_hint: str
    body: Stmt
    init: Stmt | None = None
    alloc_buffers: tuple[Buffer, ...] = ()
    annotations: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class BlockRealize(Stmt):
    """An instance of ``block``: binds each iter var to a value; runs if ``predicate``."""

    iter_values: tuple[PrimExpr, ...]
    predicate: PrimExpr
    block: Block


def seq(*stmts: Stmt | None) -> Stmt:
    """Flatten nested sequences; a single statement is returned as is."""
    out: list[Stmt] = []
    for s in stmts:
        if s is None:
            continue
        if isinstance(s, SeqStmt):
            out.extend(s.seq)
        else:
            out.append(s)
    if len(out) == 1:
        return out[0]
    return SeqStmt(tuple(out))


def true() -> IntImm:
    return IntImm(1, "bool")


fast_init(For, BufferStore, Evaluate, SeqStmt, IfThenElse, LetStmt, Allocate, Block,
          BlockRealize)
