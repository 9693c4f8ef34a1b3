"""Simplify: arithmetic simplification of indices, bounds and conditions (tir.arith)."""

from __future__ import annotations

from ..expr import IntImm, PrimExpr, Range
from ..function import PrimFunc
from ..functor import Mutator
from ..stmt import BufferStore, For, IfThenElse, SeqStmt, Stmt


class _Simplifier(Mutator):
    def __init__(self):
        from ..arith import Analyzer

        self.ana = Analyzer()

    def expr(self, e: PrimExpr) -> PrimExpr:
        return self.ana.simplify(e)

    def visit_For(self, s: For) -> Stmt:
        mn, ext = self.expr(s.min), self.expr(s.extent)
        if isinstance(ext, IntImm) and ext.value <= 0:
            return SeqStmt(())  # the loop never runs
        self.ana.bind(s.loop_var, Range(mn, ext))
        body = self.visit(s.body)
        if mn is s.min and ext is s.extent and body is s.body:
            return s
        return For(s.loop_var, mn, ext, s.kind, body, s.thread_binding, s.annotations)

    def visit_BufferStore(self, s: BufferStore) -> Stmt:
        idx = tuple(self.expr(i) for i in s.indices)
        val = self.visit(s.value)
        if val is s.value and all(a is b for a, b in zip(idx, s.indices, strict=True)):
            return s
        return BufferStore(s.buffer, val, idx)

    def visit_BufferLoad(self, e):
        idx = tuple(self.expr(i) for i in e.indices)
        if all(a is b for a, b in zip(idx, e.indices, strict=True)):
            return e
        return type(e)(e.buffer, idx)

    def visit_IfThenElse(self, s: IfThenElse) -> Stmt:
        cond = self.expr(s.condition)
        if isinstance(cond, IntImm):
            taken = s.then_case if cond.value else s.else_case
            return SeqStmt(()) if taken is None else self.visit(taken)
        then = self.visit(s.then_case)
        other = None if s.else_case is None else self.visit(s.else_case)
        if cond is s.condition and then is s.then_case and other is s.else_case:
            return s
        return IfThenElse(cond, then, other)


def simplify(func: PrimFunc) -> PrimFunc:
    """Simplify every buffer index, loop bound and branch condition with the arithmetic
    analyzer, knowing each loop variable's range; branches with a constant condition are
    resolved and loops with a constant extent <= 0 removed. Values stored (float math)
    are left as written, apart from the indices of the loads inside them."""
    body = _Simplifier().visit(func.body)
    return func if body is func.body else func.with_body(body)
