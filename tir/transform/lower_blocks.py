"""ConvertBlocksToLoops: replace every block by the plain statements it stands for."""

from __future__ import annotations

from ..expr import EQ, And, IntImm, IterType, PrimExpr, Var
from ..function import PrimFunc
from ..functor import Mutator, substitute
from ..stmt import Allocate, Block, BlockRealize, For, ForKind, IfThenElse, Stmt, seq


def _is_true(e: PrimExpr) -> bool:
    return isinstance(e, IntImm) and e.value != 0


def _conj(conds: list[PrimExpr]) -> PrimExpr | None:
    out: PrimExpr | None = None
    for c in conds:
        out = c if out is None else And(out, c)
    return out


class _BlockLowerer(Mutator):
    def visit_BlockRealize(self, realize: BlockRealize) -> Stmt:
        block = realize.block
        if len(realize.iter_values) != len(block.iter_vars):
            raise ValueError(
                f"block {block.name_hint!r}: {len(block.iter_vars)} iter vars but "
                f"{len(realize.iter_values)} bound values in its BlockRealize"
            )
        vmap: dict[Var, PrimExpr] = {}
        init_conds: list[PrimExpr] = []
        for iv, value in zip(block.iter_vars, realize.iter_values, strict=True):
            vmap[iv.var] = value
            if iv.iter_type == IterType.COMM_REDUCE:
                # the init runs on the first iteration of every reduction iterator
                init_conds.append(EQ(value, iv.dom.min))
        body = self.visit(substitute(block.body, vmap))
        if block.init is not None:
            init = self.visit(substitute(block.init, vmap))
            cond = _conj([c for c in init_conds if not _same_const(c)])
            body = seq(init if cond is None else IfThenElse(cond, init), body)
        if not _is_true(realize.predicate):
            body = IfThenElse(self.visit(realize.predicate), body)
        for buf in reversed(block.alloc_buffers):
            body = Allocate(buf, body)
        return body

    def visit_For(self, loop: For) -> Stmt:
        # a loop of extent 1 is its body with the loop variable fixed to the minimum
        if (
            isinstance(loop.extent, IntImm)
            and loop.extent.value == 1
            and not loop.annotations
            and loop.kind != ForKind.THREAD_BINDING
        ):
            return self.visit(substitute(loop.body, {loop.loop_var: loop.min}))
        return self.generic_visit(loop)

    def visit_Block(self, block: Block) -> Stmt:
        raise ValueError(
            f"block {block.name_hint!r} appears without a BlockRealize; every block must be "
            "instantiated by a BlockRealize"
        )


def _same_const(cond: EQ) -> bool:
    """True for ``c == c`` with equal integer constants (an always-true init condition)."""
    a, b = cond.a, cond.b
    if a is b:
        return True
    return isinstance(a, IntImm) and isinstance(b, IntImm) and a.value == b.value


def convert_blocks_to_loops(func: PrimFunc) -> PrimFunc:
    """Lower blocks to plain code.

    Each block's iter vars are replaced by their bound values; a non-trivial predicate
    becomes an ``IfThenElse``; ``init`` runs before the body when every reduction iter
    var's value equals its domain minimum; ``alloc_buffers`` become ``Allocate`` scoped
    to the block (the root block's allocations therefore wrap the whole function body).
    Reads and writes are dropped. Loops of extent 1 without annotations are replaced by
    their body.
    """
    body = _BlockLowerer().visit(func.body)
    return func if body is func.body else func.with_body(body)
