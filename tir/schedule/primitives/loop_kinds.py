"""Loop kinds and annotations as pure functions: parallel, vectorize, unroll, bind,
annotate and unannotate (TVM's legality rules)."""

from __future__ import annotations

from typing import Any

from ...expr import IntImm, Var
from ...function import PrimFunc
from ...stmt import Block, BlockRealize, For, ForKind
from ..error import ScheduleError
from ..tree import Located, index, replace
from .loop_checks import check_parallelizable

THREAD_AXES = tuple(
    [f"blockIdx.{a}" for a in "xyz"] + [f"threadIdx.{a}" for a in "xyz"]
    + ["vthread"] + [f"vthread.{a}" for a in "xyz"]
)


def _with_kind(loop: For, kind: ForKind, thread: str = "") -> For:
    return For(loop.loop_var, loop.min, loop.extent, kind, loop.body, thread, loop.annotations)


def parallel(func: PrimFunc, loop: Var) -> PrimFunc:
    """Mark ``loop`` parallel. Every block iter whose binding uses it must be
    data-parallel, bindings affine, and the blocks under it complete or reductions."""
    loc = index(func).loop(loop, "parallel")
    check_parallelizable(loc, "parallel")
    return replace(func, loc, _with_kind(loc.stmt, ForKind.PARALLEL))


def vectorize(func: PrimFunc, loop: Var) -> PrimFunc:
    """Mark ``loop`` vectorized: parallel's conditions plus a constant extent."""
    loc = index(func).loop(loop, "vectorize")
    f = loc.stmt
    if type(f.extent) is not IntImm:
        from ...arith.utils import expr_text

        raise ScheduleError(
            f"vectorize: cannot vectorize loop {f.loop_var.name}: its extent "
            f"{expr_text(f.extent)} is not a constant"
        )
    check_parallelizable(loc, "vectorize")
    return replace(func, loc, _with_kind(f, ForKind.VECTORIZED))


def unroll(func: PrimFunc, loop: Var) -> PrimFunc:
    """Mark ``loop`` unrolled (always legal; a thread binding is dropped)."""
    loc = index(func).loop(loop, "unroll")
    return replace(func, loc, _with_kind(loc.stmt, ForKind.UNROLLED))


def bind(func: PrimFunc, loop: Var, thread_axis: str) -> PrimFunc:
    """Bind ``loop`` to a GPU thread axis (``blockIdx.x``, ``threadIdx.y``, ``vthread``...).
    Reduction block iters may only depend on a loop bound to ``threadIdx.*``."""
    loc = index(func).loop(loop, "bind")
    if thread_axis not in THREAD_AXES:
        raise ScheduleError(
            f"bind: unknown thread axis {thread_axis!r} for loop {loop.name}; expected one "
            f"of {', '.join(THREAD_AXES)}"
        )
    check_parallelizable(loc, "bind", thread_axis)
    return replace(func, loc, _with_kind(loc.stmt, ForKind.THREAD_BINDING, thread_axis))


# ----------------------------------------------------------------------------------------
# annotations


def _target(func: PrimFunc, target: str | Var, primitive: str) -> tuple[Located, Any]:
    ix = index(func)
    if isinstance(target, Var):
        loc = ix.loop(target, primitive)
        return loc, loc.stmt
    loc = ix.block(target, primitive)
    return loc, loc.stmt.block


def _check_value(value: Any, key: str, primitive: str) -> None:
    if value is None or isinstance(value, (bool, int, float, str)):
        return
    if isinstance(value, (list, tuple)):
        for v in value:
            _check_value(v, key, primitive)
        return
    if isinstance(value, dict):
        for k, v in value.items():
            _check_value(k, key, primitive)
            _check_value(v, key, primitive)
        return
    raise ScheduleError(
        f"{primitive}: annotation {key!r}: unsupported value {value!r} "
        f"({type(value).__name__}); accepted: int, float, str, bool, lists and dicts of them"
    )


def _with_annotations(func: PrimFunc, loc: Located, node: Any, ann: dict) -> PrimFunc:
    if isinstance(node, For):
        new = For(node.loop_var, node.min, node.extent, node.kind, node.body,
                  node.thread_binding, ann)
        return replace(func, loc, new)
    assert isinstance(node, Block)
    realize: BlockRealize = loc.stmt
    new_block = Block(node.iter_vars, node.reads, node.writes, node.name_hint, node.body,
                      node.init, node.alloc_buffers, ann)
    return replace(func, loc, BlockRealize(realize.iter_values, realize.predicate, new_block))


def annotate(func: PrimFunc, target: str | Var, key: str, value: Any) -> PrimFunc:
    """Set annotation ``key`` of a block (by name) or a loop (by loop var) to ``value``."""
    if not isinstance(key, str) or not key:
        raise ScheduleError(f"annotate: the annotation key must be a non-empty str, got {key!r}")
    _check_value(value, key, "annotate")
    loc, node = _target(func, target, "annotate")
    ann = dict(node.annotations)
    ann[key] = list(value) if isinstance(value, tuple) else value
    return _with_annotations(func, loc, node, ann)


def unannotate(func: PrimFunc, target: str | Var, key: str) -> PrimFunc:
    """Remove annotation ``key`` from a block (by name) or a loop (by loop var)."""
    loc, node = _target(func, target, "unannotate")
    if key not in node.annotations:
        what = f"loop {target.name}" if isinstance(target, Var) else f"block {target!r}"
        raise ScheduleError(
            f"unannotate: {what} has no annotation {key!r}; it has {sorted(node.annotations)}"
        )
    ann = {k: v for k, v in node.annotations.items() if k != key}
    return _with_annotations(func, loc, node, ann)
