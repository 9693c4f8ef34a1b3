"""Small TE-form PrimFuncs (root block, one loop nest per stage, reads/writes declared) for
the schedule tests: matmul, conv2d, fused conv2d+bias+relu, softmax and max pooling.

Each builder returns ``(func, make_inputs)``: ``make_inputs(rng)`` gives the arrays to
pass (inputs random, outputs filled with garbage)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from onnxtune import tir
from onnxtune.tir import (
    Block,
    BlockRealize,
    Buffer,
    BufferLoad,
    BufferRegion,
    BufferStore,
    For,
    ForKind,
    IntImm,
    IterType,
    IterVar,
    PrimFunc,
    Range,
    Var,
    const,
    decl_buffer,
)
from onnxtune.tir.arith import region_union
from onnxtune.tir.functor import post_order_visit
from onnxtune.tir.stmt import seq, true


def _reads(value) -> tuple[BufferRegion, ...]:
    regions: dict[Buffer, BufferRegion] = {}
    order: list[Buffer] = []

    def f(n):
        if isinstance(n, BufferLoad):
            r = BufferRegion(n.buffer, tuple(Range(i, const(1, i.dtype)) for i in n.indices))
            if n.buffer in regions:
                regions[n.buffer] = region_union(regions[n.buffer], r)
            else:
                regions[n.buffer] = r
                order.append(n.buffer)

    post_order_visit(value, f)
    return tuple(regions[b] for b in order)


def stage(name: str, out: Buffer, fn: Callable, reduce: Sequence[int] = (),
          combiner: str = "sum", axis_names: str = "ijklmn") -> For | BlockRealize:
    """The loop nest computing ``out[s] = fn(*s, *r)`` (reduced over ``reduce`` extents with
    ``combiner``: "sum" or "max")."""
    shape = [s.value for s in out.shape]
    sv = [Var(f"v{axis_names[d]}") for d in range(len(shape))]
    rv = [Var(f"vr{d}") for d in range(len(reduce))]
    loops = [Var(axis_names[d]) for d in range(len(shape))]
    loops += [Var(f"r{d}") for d in range(len(reduce))]
    value = tir.convert(fn(*sv, *rv))
    ivs = [IterVar(Range(const(0), const(e)), v, IterType.DATA_PAR)
           for v, e in zip(sv, shape, strict=True)]
    ivs += [IterVar(Range(const(0), const(e)), v, IterType.COMM_REDUCE)
            for v, e in zip(rv, reduce, strict=True)]
    cur = out[tuple(sv)]
    init = None
    if reduce:
        if combiner == "sum":
            upd, init_v = cur + value, const(0.0, out.dtype)
        else:
            upd, init_v = tir.max(cur, value), tir.min_value(out.dtype)
        body = BufferStore(out, upd, tuple(sv))
        init = BufferStore(out, init_v, tuple(sv))
    else:
        body = BufferStore(out, value, tuple(sv))
    writes = (BufferRegion(out, tuple(Range(v, const(1)) for v in sv)),)
    block = Block(tuple(ivs), _reads(value), writes, name, body, init)
    stmt = BlockRealize(tuple(loops), true(), block)
    for v, e in reversed(list(zip(loops, [*shape, *reduce], strict=True))):
        stmt = For(v, const(0), const(e), ForKind.SERIAL, stmt)
    return stmt


def func(params: Sequence[Buffer], stages: Sequence, allocs: Sequence[Buffer] = ()) -> PrimFunc:
    root = BlockRealize((), true(), Block((), (), (), "root", seq(*stages), None, tuple(allocs)))
    return PrimFunc(tuple(params), root)


def _inputs(params: Sequence[Buffer], n_out: int) -> Callable:
    def make(rng: np.random.Generator) -> list[np.ndarray]:
        arrs = []
        for k, p in enumerate(params):
            shape = tuple(s.value for s in p.shape)
            if k < len(params) - n_out:
                arrs.append(rng.standard_normal(shape).astype(p.dtype))
            else:
                arrs.append(np.full(shape, 7.5, p.dtype))
        return arrs

    return make


def matmul(m: int = 8, n: int = 12, k: int = 6):
    a, b = decl_buffer((m, k), name="A"), decl_buffer((k, n), name="B")
    c = decl_buffer((m, n), name="C")
    st = stage("C", c, lambda i, j, r: a[i, r] * b[r, j], reduce=(k,))
    return func((a, b, c), [st]), _inputs((a, b, c), 1)


def _conv(a: Buffer, w: Buffer, out: Buffer, pad: int, name: str = "conv"):
    n, c, h, wd = (s.value for s in a.shape)
    kh = w.shape[2].value
    apad = decl_buffer((n, c, h + 2 * pad, wd + 2 * pad), name="Apad")
    pad_st = stage("pad", apad, lambda i, j, y, x: tir.if_then_else(
        tir.all(y >= pad, y < h + pad, x >= pad, x < wd + pad),
        a[i, j, y - pad, x - pad], const(0.0)))
    conv_st = stage(name, out, lambda i, f, y, x, rc, ry, rx:
                    apad[i, rc, y + ry, x + rx] * w[f, rc, ry, rx], reduce=(c, kh, kh))
    return apad, pad_st, conv_st


def conv2d(n: int = 1, c: int = 3, h: int = 6, w: int = 5, f: int = 4, k: int = 3,
           pad: int = 1):
    a, wt = decl_buffer((n, c, h, w), name="A"), decl_buffer((f, c, k, k), name="W")
    oh, ow = h + 2 * pad - k + 1, w + 2 * pad - k + 1
    out = decl_buffer((n, f, oh, ow), name="Out")
    apad, p, cv = _conv(a, wt, out, pad)
    return func((a, wt, out), [p, cv], [apad]), _inputs((a, wt, out), 1)


def conv2d_bias_relu(n: int = 1, c: int = 2, h: int = 5, w: int = 6, f: int = 3, k: int = 3,
                     pad: int = 1):
    a, wt = decl_buffer((n, c, h, w), name="A"), decl_buffer((f, c, k, k), name="W")
    bias = decl_buffer((f,), name="bias")
    oh, ow = h + 2 * pad - k + 1, w + 2 * pad - k + 1
    conv = decl_buffer((n, f, oh, ow), name="conv_out")
    added = decl_buffer((n, f, oh, ow), name="T_add")
    out = decl_buffer((n, f, oh, ow), name="T_relu")
    apad, p, cv = _conv(a, wt, conv, pad)
    add = stage("T_add", added, lambda i, j, y, x: conv[i, j, y, x] + bias[j])
    relu = stage("T_relu", out, lambda i, j, y, x: tir.max(added[i, j, y, x], const(0.0)))
    params = (a, wt, bias, out)
    return func(params, [p, cv, add, relu], [apad, conv, added]), _inputs(params, 1)


def softmax(m: int = 4, n: int = 7):
    x = decl_buffer((m, n), name="X")
    mx = decl_buffer((m,), name="T_max")
    ex = decl_buffer((m, n), name="T_exp")
    sm = decl_buffer((m,), name="T_sum")
    out = decl_buffer((m, n), name="T_softmax")
    s1 = stage("T_max", mx, lambda i, r: x[i, r], reduce=(n,), combiner="max")
    s2 = stage("T_exp", ex, lambda i, j: tir.exp(x[i, j] - mx[i]))
    s3 = stage("T_sum", sm, lambda i, r: ex[i, r], reduce=(n,))
    s4 = stage("T_softmax", out, lambda i, j: ex[i, j] / sm[i])
    return func((x, out), [s1, s2, s3, s4], [mx, ex, sm]), _inputs((x, out), 1)


def max_pool(n: int = 1, c: int = 3, h: int = 7, w: int = 6, k: int = 3, stride: int = 2,
             pad: int = 1):
    a = decl_buffer((n, c, h, w), name="A")
    oh, ow = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
    apad = decl_buffer((n, c, h + 2 * pad, w + 2 * pad), name="pad_temp")
    out = decl_buffer((n, c, oh, ow), name="pool_max")
    lowest = tir.min_value("float32")
    p = stage("pad_temp", apad, lambda i, j, y, x: tir.if_then_else(
        tir.all(y >= pad, y < h + pad, x >= pad, x < w + pad), a[i, j, y - pad, x - pad],
        lowest))
    pool = stage("pool_max", out, lambda i, j, y, x, ry, rx:
                 apad[i, j, y * stride + ry, x * stride + rx], reduce=(k, k), combiner="max")
    return func((a, out), [p, pool], [apad]), _inputs((a, out), 1)


WORKLOADS = {
    "matmul": matmul,
    "conv2d": conv2d,
    "conv2d_bias_relu": conv2d_bias_relu,
    "softmax": softmax,
    "max_pool": max_pool,
}


def is_const(e) -> bool:
    return isinstance(e, IntImm)


def has_primitive(name: str) -> bool:
    """True once the block-primitive function ``name`` exists (another module's work)."""
    from onnxtune.tir.schedule.schedule_blocks import block_primitive

    try:
        block_primitive(name)
    except NotImplementedError:
        return False
    return True


def renest(f: PrimFunc, block: str, loops, bindings, predicate=None) -> PrimFunc:
    """``f`` with the loop nest holding ``block`` replaced by ``loops`` (``(var, extent)``
    or ``(var, extent, kind)``, outermost first) around the same block bound to
    ``bindings`` (the expected result of a loop primitive, built by hand)."""
    from onnxtune.tir.schedule.tree import find_block, replace

    loc = find_block(f, block)
    realize = loc.stmt
    stmt = BlockRealize(tuple(tir.convert(b) for b in bindings),
                        true() if predicate is None else predicate, realize.block)
    for item in reversed(loops):
        v, e = item[0], item[1]
        kind = item[2] if len(item) > 2 else ForKind.SERIAL
        stmt = For(v, const(0, v.dtype), tir.convert(e), kind, stmt)
    top = loc.loops()[0] if loc.loops() else realize
    return replace(f, find_loop_loc(f, top), stmt)


def find_loop_loc(f: PrimFunc, stmt):
    from onnxtune.tir.schedule.tree import walk

    for loc in walk(f):
        if loc.stmt is stmt:
            return loc
    raise KeyError("statement not in function")


def run(f: PrimFunc, arrays: list[np.ndarray], opt_level: int = 0) -> list[np.ndarray]:
    """Build ``f`` natively and run it on copies of ``arrays``; the arrays after the call.

    LLVM's -O0 keeps the builds fast (~10 ms); what is checked is the schedule's result.
    """
    from onnxtune.compile import build

    out = [a.copy() for a in arrays]
    build(f, target=f"llvm -opt-level={opt_level}")["main"](*out)
    return out
