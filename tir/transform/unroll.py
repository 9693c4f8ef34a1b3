"""UnrollLoop: expand unrolled loops (and auto-unroll small loop nests, TVM's pragmas)."""

from __future__ import annotations

from typing import Any

from ..arith.utils import expr_text
from ..expr import Add, IntImm, PrimExpr
from ..function import PrimFunc
from ..functor import substitute
from ..stmt import (
    Allocate,
    BufferStore,
    Evaluate,
    For,
    ForKind,
    IfThenElse,
    LetStmt,
    SeqStmt,
    Stmt,
)

#: For annotation: loops inside the annotated loop whose unrolled size (extent times the
#: statements of their body, nested loops multiplied in) is at most this are unrolled
PRAGMA_AUTO_UNROLL_MAX_STEP = "pragma_auto_unroll_max_step"
#: For annotation: 1 (default) expands unrolled loops in TIR, 0 leaves them as loops
#: marked for LLVM's full unroll (``llvm.loop.unroll.full``)
PRAGMA_UNROLL_EXPLICIT = "pragma_unroll_explicit"
#: an explicit unroll that would produce more statements than this is left to LLVM
MAX_EXPLICIT_STEPS = 65536


def _ann_int(value: Any, key: str, loop: str) -> int:
    if isinstance(value, IntImm):
        return value.value
    if isinstance(value, (bool, int)):
        return int(value)
    raise ValueError(f"loop {loop}: annotation {key} must be an integer, got {value!r}")


def _const(e: PrimExpr) -> int:
    return e.value if isinstance(e, IntImm) else -1


class _Unroller:
    def __init__(self, auto_max_step: int, explicit: bool, auto_max_depth: int):
        self.auto_max_step = auto_max_step
        self.explicit = explicit
        self.auto_max_depth = auto_max_depth

    def visit(self, s: Stmt) -> tuple[Stmt, int, int, int]:
        """Return (new stmt, statement count, unrolled depth, normal loop depth)."""
        if isinstance(s, For):
            return self.visit_for(s)
        if isinstance(s, SeqStmt):
            out, steps, ud, nd = [], 0, 0, 0
            for c in s.seq:
                c2, s2, u2, n2 = self.visit(c)
                out.append(c2)
                steps, ud, nd = steps + s2, max(ud, u2), max(nd, n2)
            same = all(a is b for a, b in zip(out, s.seq, strict=True))
            return (s if same else SeqStmt(tuple(out))), steps, ud, nd
        if isinstance(s, IfThenElse):
            t, s1, u1, n1 = self.visit(s.then_case)
            e, s2, u2, n2 = (None, 0, 0, 0) if s.else_case is None else self.visit(s.else_case)
            same = t is s.then_case and e is s.else_case
            new = s if same else IfThenElse(s.condition, t, e)
            return new, s1 + s2, max(u1, u2), max(n1, n2)
        if isinstance(s, (LetStmt, Allocate)):
            b, steps, ud, nd = self.visit(s.body)
            if b is s.body:
                return s, steps, ud, nd
            new = LetStmt(s.var, s.value, b) if isinstance(s, LetStmt) else Allocate(s.buffer, b)
            return new, steps, ud, nd
        if isinstance(s, (BufferStore, Evaluate)):
            return s, 1, 0, 0
        raise ValueError(
            f"unroll_loops: unexpected statement {type(s).__name__}; run it after the blocks "
            "are lowered to loops"
        )

    def visit_for(self, loop: For) -> tuple[Stmt, int, int, int]:
        name = loop.loop_var.name
        saved = (self.auto_max_step, self.explicit)
        ann = loop.annotations
        if PRAGMA_AUTO_UNROLL_MAX_STEP in ann:
            self.auto_max_step = _ann_int(ann[PRAGMA_AUTO_UNROLL_MAX_STEP], "max_step", name)
        if PRAGMA_UNROLL_EXPLICIT in ann:
            self.explicit = bool(_ann_int(ann[PRAGMA_UNROLL_EXPLICIT], "explicit", name))
        body, steps, ud, nd = self.visit(loop.body)
        self.auto_max_step, explicit = saved[0], self.explicit
        self.explicit = saved[1]
        if body is not loop.body:
            loop = For(loop.loop_var, loop.min, loop.extent, loop.kind, body,
                       loop.thread_binding, loop.annotations)
        value = _const(loop.extent)
        auto = (
            loop.kind == ForKind.SERIAL
            and value >= 0
            and nd == 0
            and ud <= self.auto_max_depth
            and value * steps <= self.auto_max_step
        )
        if loop.kind == ForKind.UNROLLED:
            if value < 0:
                raise ValueError(
                    f"loop {name} is marked unrolled but its extent "
                    f"{expr_text(loop.extent)} is not a constant; only loops with a constant "
                    "extent can be unrolled"
                )
            auto = True
        if not auto:
            return loop, steps, ud, nd + 1
        steps *= value
        if explicit and steps <= MAX_EXPLICIT_STEPS:
            return _expand(loop, value), steps, ud + 1, nd
        if loop.kind != ForKind.UNROLLED:
            loop = For(loop.loop_var, loop.min, loop.extent, ForKind.UNROLLED, loop.body,
                       loop.thread_binding, loop.annotations)
        return loop, steps, ud + 1, nd


def _expand(loop: For, extent: int) -> Stmt:
    out: list[Stmt] = []
    for i in range(extent):
        v = loop.min if i == 0 else _offset(loop.min, i)
        out.append(substitute(loop.body, {loop.loop_var: v}))
    if len(out) == 1:
        return out[0]
    return SeqStmt(tuple(out))


def _offset(base: PrimExpr, i: int) -> PrimExpr:
    if isinstance(base, IntImm):
        return IntImm(base.value + i, base.dtype)
    return Add(base, IntImm(i, base.dtype))


def unroll_loops(
    func: PrimFunc, auto_max_step: int = 0, explicit: bool = True, auto_max_depth: int = 8
) -> PrimFunc:
    """Expand UNROLLED loops and auto-unroll small serial loop nests (TVM's UnrollLoop).

    A loop annotated ``pragma_auto_unroll_max_step = n`` makes every serial loop inside it
    with a constant extent, no non-unrolled loop below it and an unrolled size (extent x
    statements of its body) of at most ``n`` an unrolled loop. ``pragma_unroll_explicit``
    (default 1) says whether unrolled loops are expanded here (each iteration a copy of
    the body with the loop variable replaced by a constant) or left to LLVM, which the
    code generator asks for a full unroll through loop metadata.
    """
    body, *_ = _Unroller(auto_max_step, explicit, auto_max_depth).visit(func.body)
    return func if body is func.body else func.with_body(body)
