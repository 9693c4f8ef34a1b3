"""``create_prim_func``: TE tensors → a TensorIR PrimFunc with one block per compute."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .. import op as tir_op
from ..arith import simplify
from ..buffer import Buffer, BufferRegion
from ..expr import (
    BufferLoad,
    IntImm,
    IterType,
    IterVar,
    PrimExpr,
    Range,
    Reduce,
    Var,
    const,
)
from ..function import PrimFunc
from ..functor import pre_order_visit, substitute
from ..stmt import Block, BlockRealize, BufferStore, For, ForKind, Stmt, seq, true
from .reduce import combine, identity
from .tensor import ComputeOp, Operation, PlaceholderOp, Tensor


def create_prim_func(tensors: Sequence[Tensor]) -> PrimFunc:
    """A PrimFunc computing the listed tensors, shaped as TVM's ``te.create_prim_func``.

    ``tensors`` are the function's parameters in order (inputs and outputs); every
    placeholder the outputs depend on must be among them. Computed tensors that are not
    listed become intermediates (``alloc_buffers`` of the root block). Each compute is a
    nest of serial loops (spatial axes, then reduce axes) around one block named after it.
    """
    if isinstance(tensors, Tensor):
        tensors = [tensors]
    params: list[Tensor] = []
    listed: set[int] = set()
    for k, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(
                f"create_prim_func: argument {k} is {type(t).__name__}, expected a te.Tensor"
            )
        if id(t) in listed:
            raise ValueError(f"create_prim_func: tensor {t.name} is listed twice")
        listed.add(id(t))
        params.append(t)
    ops = _topo_order(params)
    for op, reader in ops:
        if isinstance(op, PlaceholderOp) and id(op.output(0)) not in listed:
            raise ValueError(
                f"create_prim_func: placeholder {op.name} (read by compute {reader}) is not "
                f"among the listed tensors; list every input placeholder, e.g. "
                f"create_prim_func([{op.name}, ..., outputs])"
            )
    names: set[str] = set()
    stmts: list[Stmt] = []
    allocs: list[Buffer] = []
    for op, _ in ops:
        if not isinstance(op, ComputeOp):
            continue
        stmts.append(_lower_compute(op, _unique(op.name, names)))
        for k in range(op.num_outputs):
            t = op.output(k)
            if id(t) not in listed:
                allocs.append(t.buffer)
    root = Block((), (), (), "root", seq(*stmts) if stmts else seq(), None, tuple(allocs))
    attrs: dict[str, Any] = {"global_symbol": "main", "tir.noalias": True}
    return PrimFunc(tuple(t.buffer for t in params), BlockRealize((), true(), root), attrs)


def _topo_order(outputs: list[Tensor]) -> list[tuple[Operation, str]]:
    """Operations the outputs depend on, producers first, each with one compute reading it."""
    order: list[tuple[Operation, str]] = []
    state: dict[int, int] = {}  # id(op) -> 1 visiting, 2 done
    for t in outputs:
        stack: list[tuple[Operation, str, bool]] = [(t.op, "(listed)", False)]
        while stack:
            op, reader, expanded = stack.pop()
            s = state.get(id(op))
            if expanded:
                state[id(op)] = 2
                order.append((op, reader))
                continue
            if s == 2:
                continue
            if s == 1:
                raise ValueError(f"create_prim_func: compute {op.name} depends on itself")
            state[id(op)] = 1
            stack.append((op, reader, True))
            for inp in reversed(op.input_tensors):
                if state.get(id(inp.op)) != 2:
                    stack.append((inp.op, op.name, False))
    return order


def _unique(name: str, used: set[str]) -> str:
    out, k = name, 0
    while out in used:
        k += 1
        out = f"{name}_{k}"
    used.add(out)
    return out


def _lower_compute(op: ComputeOp, block_name: str) -> Stmt:
    axes = list(op.axis) + list(op.reduce_axis)
    loop_vars = [Var(a.var.name, a.var.dtype) for a in axes]
    block_vars = [Var("v" + a.var.name, a.var.dtype) for a in axes]
    vmap = {a.var: v for a, v in zip(axes, block_vars, strict=True)}
    spatial = tuple(block_vars[: len(op.axis)])
    iter_vars = tuple(
        IterVar(a.dom, v, IterType.DATA_PAR if k < len(op.axis) else IterType.COMM_REDUCE)
        for k, (a, v) in enumerate(zip(axes, block_vars, strict=True))
    )
    outs = [op.output(k).buffer for k in range(op.num_outputs)]
    body0 = op.body[0]
    init: Stmt | None = None
    if isinstance(body0, Reduce):
        out = outs[0]
        lhs = BufferLoad(out, spatial)
        src = substitute(body0.source, vmap)
        value = combine(body0.combiner, lhs, src)
        if body0.condition is not None:
            value = tir_op.if_then_else(substitute(body0.condition, vmap), value, lhs)
        if body0.init is not None:
            init_v = substitute(body0.init, vmap)
        else:
            init_v = identity(body0.combiner, out.dtype)
        init = BufferStore(out, init_v, spatial)
        body: Stmt = BufferStore(out, value, spatial)
        # as TVM: a reduction block's reads are its inputs only, not the buffer it updates
        exprs = [src, init_v] if body0.condition is None else [
            src, substitute(body0.condition, vmap), init_v]
        reads = tuple(r for r in _regions(exprs) if r.buffer not in outs)
    else:
        values = [substitute(b, vmap) for b in op.body]
        body = seq(*(BufferStore(o, v, spatial) for o, v in zip(outs, values, strict=True)))
        reads = _regions(values)
    writes = tuple(
        BufferRegion(o, tuple(Range(v, const(1, v.dtype)) for v in spatial)) for o in outs
    )
    annotations = dict(op.attrs)
    if op.tag:
        annotations["tag"] = op.tag
    block = Block(iter_vars, reads, writes, block_name, body, init, (), annotations)
    stmt: Stmt = BlockRealize(tuple(loop_vars), true(), block)
    for a, lv in zip(reversed(axes), reversed(loop_vars), strict=True):
        stmt = For(lv, a.dom.min, a.dom.extent, ForKind.SERIAL, stmt)
    return stmt


def _regions(exprs: Sequence[PrimExpr]) -> tuple[BufferRegion, ...]:
    """One region per buffer loaded in ``exprs`` (in order of first load) covering its loads."""
    loads: dict[Buffer, list[tuple[PrimExpr, ...]]] = {}

    def f(n: Any) -> None:
        if isinstance(n, BufferLoad):
            loads.setdefault(n.buffer, []).append(n.indices)

    for e in exprs:
        pre_order_visit(e, f)
    return tuple(BufferRegion(b, _cover(b, idx)) for b, idx in loads.items())


def _cover(buf: Buffer, accesses: list[tuple[PrimExpr, ...]]) -> tuple[Range, ...]:
    """Per dimension: a point, the hull of indices differing by constants, or the extent."""
    out = []
    for d in range(len(buf.shape)):
        idx = [a[d] for a in accesses]
        first = idx[0]
        one = const(1, first.dtype)
        if all(i is first for i in idx[1:]) and not _has_load(first):
            out.append(Range(first, one))
            continue
        offsets = []
        for i in idx:
            diff = simplify(i - first) if not _has_load(i) else None
            if not isinstance(diff, IntImm):
                offsets = None
                break
            offsets.append(diff.value)
        if offsets is None:
            out.append(Range(const(0, buf.shape[d].dtype), buf.shape[d]))
            continue
        lo, hi = min(offsets), max(offsets)
        start = first if lo == 0 else simplify(first + lo)
        out.append(Range(start, const(hi - lo + 1, first.dtype)))
    return tuple(out)


def _has_load(e: PrimExpr) -> bool:
    found = False

    def f(n: Any) -> bool:
        nonlocal found
        if isinstance(n, BufferLoad):
            found = True
        return not found

    pre_order_visit(e, f)
    return found

