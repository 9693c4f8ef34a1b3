"""Module equality modes of the tuner's database: structural, ignore-tensor, anchor-block.

- ``"structural"``: :func:`structural_equal` on the whole module (free variables mapped).
- ``"ignore-tensor"``: structural, except that the *values* of constant tensors do not
  count. Our PrimFuncs take tensors as buffer parameters, so constants can only appear
  in attributes and annotations: numpy arrays anywhere compare by shape and dtype only;
  the PrimFunc attributes named in :data:`IGNORED_TENSOR_ATTRS` are dropped; and the
  numbers inside the remaining PrimFunc attributes (Python ints/floats, IntImm/FloatImm)
  compare by type/dtype only.
- ``"anchor-block"``: only the anchor block of each module (see
  :func:`find_anchor_block`) is compared, ignore-tensor style: the block node itself
  (iter vars and domains, reads/writes, init, body), not the loops around it. A module
  without blocks (already lowered) falls back to ``"ignore-tensor"`` on the whole module.
"""

from __future__ import annotations

from typing import Any

from .analysis import estimate_flops
from .expr import FloatImm, IntImm, IterType, PrimExpr
from .function import IRModule, PrimFunc
from .functor import Mutator
from .stmt import Allocate, Block, BlockRealize, For, IfThenElse, LetStmt, SeqStmt, Stmt
from .structural import _eq_run, _EqState
from .structural_hash import _hash_run, _HashState

#: The module-equality modes, as the tuner's database names them.
MODULE_EQUALITY_MODES = ("structural", "ignore-tensor", "anchor-block")

#: PrimFunc attributes that hold constant data and are ignored in "ignore-tensor" mode.
IGNORED_TENSOR_ATTRS = frozenset({"constants", "tensor_constants", "params", "weights"})


def _check_mode(mode: str) -> str:
    if mode not in MODULE_EQUALITY_MODES:
        raise ValueError(
            f"unknown module equality mode {mode!r}; expected one of "
            f"{', '.join(MODULE_EQUALITY_MODES)}"
        )
    return mode


def _as_module(mod: Any) -> Any:
    return IRModule({"main": mod}) if isinstance(mod, PrimFunc) else mod


# ----------------------------------------------------------------------------------------
# ignore-tensor helpers


class _ZeroConsts(Mutator):
    def visit_IntImm(self, n: IntImm) -> IntImm:
        return IntImm(0, n.dtype)

    def visit_FloatImm(self, n: FloatImm) -> FloatImm:
        return FloatImm(0.0, n.dtype)


def blank_numbers(value: Any) -> Any:
    """``value`` with every number replaced by zero of the same type/dtype (recursively)."""
    t = type(value)
    if t is int:
        return 0
    if t is float:
        return 0.0
    if t in (list, tuple):
        return t(blank_numbers(v) for v in value)
    if t is dict:
        return {k: blank_numbers(v) for k, v in value.items()}
    if isinstance(value, PrimExpr):
        return _ZeroConsts().visit(value)
    return value


# ----------------------------------------------------------------------------------------
# the anchor block


def _blocks_in_order(stmt: Stmt) -> list[Block]:
    """Every block under ``stmt``, in program order (parents before children)."""
    out: list[Block] = []
    stack: list[Any] = [stmt]
    while stack:
        s = stack.pop()
        if isinstance(s, BlockRealize):
            stack.append(s.block)
        elif isinstance(s, Block):
            out.append(s)
            stack.append(s.body)
            if s.init is not None:
                stack.append(s.init)
        elif isinstance(s, SeqStmt):
            stack.extend(reversed(s.seq))
        elif isinstance(s, IfThenElse):
            if s.else_case is not None:
                stack.append(s.else_case)
            stack.append(s.then_case)
        elif isinstance(s, (For, LetStmt, Allocate)):
            stack.append(s.body)
    return out


def _block_flops(b: Block) -> float:
    """FLOPs of one execution of the block's body times the size of its iteration domain."""
    n = 1
    for iv in b.iter_vars:
        if isinstance(iv.dom.extent, IntImm):
            n *= iv.dom.extent.value
    return n * estimate_flops(PrimFunc((), b.body))


def block_reduces(b: Block) -> bool:
    """Does block ``b`` reduce (an ``init``, or a reduce iter var)?"""
    return b.init is not None or any(iv.iter_type == IterType.COMM_REDUCE for iv in b.iter_vars)


def find_anchor_block(func: PrimFunc | IRModule) -> Block | None:
    """The block that characterizes a workload (TVM's FindAnchorBlock, extended).

    Rule: among the non-root blocks (the root block is the one realized directly as a
    function body), the reduction blocks (a reduce iter var, or an ``init``) are
    preferred, and among those the one with the most FLOPs (iteration-domain size times
    the operations of one body execution); the first such block in program order wins a
    tie. Without reduction blocks, the block with the most FLOPs is chosen, the last one
    in program order winning a tie. None when the function has no non-root block. For an
    IRModule, the PrimFuncs are searched in name order under the same rule.
    """
    if isinstance(func, IRModule):
        funcs = [func[k] for k in sorted(func) if isinstance(func[k], PrimFunc)]
    else:
        funcs = [func]
    blocks: list[Block] = []
    for f in funcs:
        found = _blocks_in_order(f.body)
        if isinstance(f.body, BlockRealize) and found and found[0] is f.body.block:
            found = found[1:]
        blocks.extend(found)
    reductions = [b for b in blocks if block_reduces(b)]
    best: Block | None = None
    best_flops = -1.0
    if reductions:
        for b in reductions:
            fl = _block_flops(b)
            if fl > best_flops:
                best, best_flops = b, fl
        return best
    for b in blocks:
        fl = _block_flops(b)
        if fl >= best_flops:
            best, best_flops = b, fl
    return best


# ----------------------------------------------------------------------------------------
# the modes


def module_equal(lhs: Any, rhs: Any, mode: str = "structural") -> bool:
    """True if two IRModules (or PrimFuncs) count as the same workload under ``mode``."""
    _check_mode(mode)
    lhs, rhs = _as_module(lhs), _as_module(rhs)
    if mode == "anchor-block":
        la, ra = find_anchor_block(lhs), find_anchor_block(rhs)
        if la is not None and ra is not None:
            return _eq_run(_EqState(True, ignore_tensor=True), la, ra) is None
    return _eq_run(_EqState(True, ignore_tensor=mode != "structural"), lhs, rhs) is None


def module_hash(mod: Any, mode: str = "structural") -> int:
    """A 64-bit hash of an IRModule (or PrimFunc) consistent with :func:`module_equal`."""
    _check_mode(mode)
    mod = _as_module(mod)
    if mode == "anchor-block":
        anchor = find_anchor_block(mod)
        if anchor is not None:
            return _hash_run(_HashState(True, ignore_tensor=True), anchor)
    return _hash_run(_HashState(True, ignore_tensor=mode != "structural"), mod)


__all__ = [
    "IGNORED_TENSOR_ATTRS",
    "MODULE_EQUALITY_MODES",
    "blank_numbers",
    "find_anchor_block",
    "module_equal",
    "module_hash",
]
