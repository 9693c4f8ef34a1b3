"""Statement nodes of the tensor IR: loops, blocks, stores, branches and allocations."""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from typing import Any

from .buffer import Buffer, BufferRegion
from .expr import IntImm, IterVar, Node, PrimExpr, Var


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


def fast_init(*classes: type) -> None:
    """Give frozen slots dataclasses an ``__init__`` that sets each slot through its
    descriptor. The generated one calls ``object.__setattr__`` by name, about twice as
    slow, and schedule primitives rebuild every loop and block above what they change.
    Same parameters, defaults and default factories; the instances stay frozen."""
    for cls in classes:
        fs = dataclasses.fields(cls)
        if any(not f.init or f.kw_only for f in fs) or hasattr(cls, "__post_init__"):
            continue  # keep the generated one
        env: dict[str, Any] = {"_NONE": _NO_ARG}
        params: list[str] = []
        body: list[str] = []
        for k, f in enumerate(fs):
            env[f"_set{k}"] = getattr(cls, f.name).__set__
            if f.default is not dataclasses.MISSING:
                env[f"_d{k}"] = f.default
                params.append(f"{f.name}=_d{k}")
            elif f.default_factory is not dataclasses.MISSING:
                env[f"_f{k}"] = f.default_factory
                params.append(f"{f.name}=_NONE")
                body.append(f"    if {f.name} is _NONE:\n        {f.name} = _f{k}()")
            else:
                params.append(f.name)
            body.append(f"    _set{k}(self, {f.name})")
        src = f"def __init__(self, {', '.join(params)}):\n" + "\n".join(body) + "\n"
        exec(src, env)  # noqa: S102 - a constructor generated from the dataclass fields
        init = env["__init__"]
        init.__qualname__ = f"{cls.__qualname__}.__init__"
        init.__doc__ = cls.__init__.__doc__
        cls.__init__ = init


class _NoArg:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<factory>"


_NO_ARG = _NoArg()

fast_init(For, BufferStore, Evaluate, SeqStmt, IfThenElse, LetStmt, Allocate, Block,
          BlockRealize)
