"""Whole-function analyses used by the tuner: FLOP estimation."""

from __future__ import annotations

from .expr import (
    BinaryOp,
    BufferLoad,
    Call,
    Cast,
    CmpOp,
    IntImm,
    Node,
    PrimExpr,
    Select,
)
from .function import IRModule, PrimFunc
from .functor import children
from .stmt import Block, BlockRealize, BufferStore, For, Stmt


def _expr_flops(e: PrimExpr) -> int:
    """Arithmetic operations in ``e``, index arithmetic inside loads excluded."""
    n = 0
    stack: list[Node] = [e]
    while stack:
        x = stack.pop()
        if isinstance(x, BufferLoad):
            continue  # indices are address arithmetic, not work
        if isinstance(x, (BinaryOp, CmpOp, Select)):
            n += 1
        elif isinstance(x, Call) and x.op != "if_then_else":
            n += 1
        elif isinstance(x, Cast):
            pass
        stack.extend(children(x))
    return n


def estimate_flops(func: PrimFunc | IRModule) -> float:
    """Arithmetic operations one call performs (TVM's EstimateTIRFlops, simplified).

    Each store counts the operations of its value (at least one) times the product of
    the constant extents of the loops around it. Block ``init`` stores are not counted.
    """
    if isinstance(func, IRModule):
        return float(sum(estimate_flops(f) for f in func.functions.values()
                         if isinstance(f, PrimFunc)))
    total = 0
    stack: list[tuple[Stmt, int]] = [(func.body, 1)]
    while stack:
        s, mult = stack.pop()
        if isinstance(s, For):
            ext = s.extent.value if isinstance(s.extent, IntImm) else 1
            stack.append((s.body, mult * ext))
        elif isinstance(s, BufferStore):
            total += mult * max(1, _expr_flops(s.value))
        elif isinstance(s, BlockRealize):
            stack.append((s.block, mult))
        elif isinstance(s, Block):
            stack.append((s.body, mult))
        else:
            for c in children(s):
                if isinstance(c, Stmt):
                    stack.append((c, mult))
    return float(total)
