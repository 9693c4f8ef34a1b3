"""Hand-built PrimFuncs shaped like TE's create_prim_func output, for printer/equality tests."""

from __future__ import annotations

from onnxtune import tir
from onnxtune.tir import (
    Allocate,
    Block,
    BlockRealize,
    BufferRegion,
    BufferStore,
    Evaluate,
    For,
    ForKind,
    IfThenElse,
    IntImm,
    IterType,
    IterVar,
    LetStmt,
    PrimFunc,
    Range,
    Var,
    const,
    decl_buffer,
)
from onnxtune.tir.stmt import seq, true


def root(body, allocs=()):
    """The root block realize every TE-built function has."""
    return BlockRealize((), true(), Block((), (), (), "root", body, None, tuple(allocs)))


def loop(v, n, body, kind=ForKind.SERIAL, ann=None, thread=""):
    return For(v, const(0, v.dtype), const(n, v.dtype), kind, body, thread, dict(ann or {}))


def point(buf, idx):
    """The region of one element ``buf[idx]``."""
    return BufferRegion(buf, tuple(Range(tir.convert(i), const(1)) for i in idx))


def block(name, iters, values, body, reads=(), writes=(), init=None, predicate=None,
          allocs=(), ann=None):
    """A BlockRealize; ``iters`` holds (var, extent, is_reduce) triples."""
    ivs = tuple(
        IterVar(Range(const(0, v.dtype), const(e, v.dtype)), v,
                IterType.COMM_REDUCE if red else IterType.DATA_PAR)
        for v, e, red in iters
    )
    blk = Block(ivs, tuple(reads), tuple(writes), name, body, init, tuple(allocs),
                dict(ann or {}))
    return BlockRealize(tuple(tir.convert(x) for x in values),
                        true() if predicate is None else predicate, blk)


def matmul(m=128, n=96, k=64, dtype="float32", sfx="", order=("i", "j", "k"),
           swap_a=False, kinds=None, ann=None, init_value=0.0, red_op="add", b_shape=None,
           loop_ext=None, name="C"):
    """C[i, j] = sum_k A[i, k] * B[k, j]; keyword arguments make structural variants.

    ``sfx`` renames every variable and buffer; the other arguments change structure.
    """
    a = decl_buffer((k, m) if swap_a else (m, k), dtype, "A" + sfx)
    b = decl_buffer(b_shape or (k, n), dtype, "B" + sfx)
    c = decl_buffer((m, n), dtype, "C" + sfx)
    lv = {"i": Var("i" + sfx), "j": Var("j" + sfx), "k": Var("k" + sfx)}
    ext = {"i": m, "j": n, "k": k}
    vi, vj, vk = Var("vi" + sfx), Var("vj" + sfx), Var("vk" + sfx)
    a_load = a[vk, vi] if swap_a else a[vi, vk]
    prod = a_load * b[vk, vj]
    upd = c[vi, vj] + prod if red_op == "add" else tir.max(c[vi, vj], prod)
    body = BufferStore(c, upd, (vi, vj))
    init = BufferStore(c, const(init_value, dtype), (vi, vj))
    a_reg = point(a, (vk, vi) if swap_a else (vi, vk))
    br = block(name, [(vi, m, False), (vj, n, False), (vk, k, True)],
               [lv["i"], lv["j"], lv["k"]], body,
               reads=(a_reg, point(b, (vk, vj))), writes=(point(c, (vi, vj)),), init=init)
    kinds, ann = kinds or {}, ann or {}
    ext.update(loop_ext or {})
    stmt = br
    for ax in reversed(order):
        stmt = loop(lv[ax], ext[ax], stmt, kinds.get(ax, ForKind.SERIAL), ann.get(ax))
    return PrimFunc((a, b, c), root(stmt))


def elementwise(shape=(4, 8), dtype="float32", sfx="", fn=None):
    """B = fn(A) over a 2-D loop nest (default: exp)."""
    a = decl_buffer(shape, dtype, "A" + sfx)
    b = decl_buffer(shape, dtype, "B" + sfx)
    i, j, vi, vj = Var("i" + sfx), Var("j" + sfx), Var("vi" + sfx), Var("vj" + sfx)
    val = (fn or tir.exp)(a[vi, vj])
    br = block("B", [(vi, shape[0], False), (vj, shape[1], False)], [i, j],
               BufferStore(b, val, (vi, vj)), reads=(point(a, (vi, vj)),),
               writes=(point(b, (vi, vj)),))
    return PrimFunc((a, b), root(loop(i, shape[0], loop(j, shape[1], br))))


def two_stage(n=16, sfx="", scope="global", vec_ann=16):
    """T = A * 2 (intermediate alloc_buffer); B = T + 1 with parallel/vectorized loops."""
    a = decl_buffer((n, 8), "float32", "A" + sfx)
    out = decl_buffer((n, 8), "float32", "B" + sfx)
    t = decl_buffer((n, 8), "float32", "T" + sfx, scope)
    i0, j0, vi0, vj0 = (Var(x + sfx) for x in ("i", "j", "vi", "vj"))
    i1, j1, vi1, vj1 = (Var(x + sfx) for x in ("i", "j", "vi", "vj"))
    s0 = block("T", [(vi0, n, False), (vj0, 8, False)], [i0, j0],
               BufferStore(t, a[vi0, vj0] * const(2.0), (vi0, vj0)),
               reads=(point(a, (vi0, vj0)),), writes=(point(t, (vi0, vj0)),))
    s1 = block("B", [(vi1, n, False), (vj1, 8, False)], [i1, j1],
               BufferStore(out, t[vi1, vj1] + const(1.0), (vi1, vj1)),
               reads=(point(t, (vi1, vj1)),), writes=(point(out, (vi1, vj1)),),
               ann={"schedule_rule": "None", "meta": [1, 2.5, {"x": "y"}]})
    nest0 = loop(i0, n, loop(j0, 8, s0, ForKind.VECTORIZED), ForKind.PARALLEL)
    nest1 = loop(i1, n, loop(j1, 8, s1, ForKind.UNROLLED,
                             {"pragma_auto_unroll_max_step": vec_ann}))
    return PrimFunc((a, out), root(seq(nest0, nest1), allocs=(t,)))


def lowered(n=10, sfx=""):
    """A lowered-style function: Allocate, LetStmt, IfThenElse, Evaluate, int64 loop."""
    a = decl_buffer((n,), "float32", "A" + sfx)
    b = decl_buffer((n,), "float32", "B" + sfx)
    tmp = decl_buffer((4,), "float32", "tmp" + sfx, "local")
    i = Var("i" + sfx, "int64")
    x = Var("x" + sfx)
    ii = tir.cast("int32", i)
    body = LetStmt(x, ii * 2, IfThenElse(
        x < n,
        BufferStore(b, a[ii] + tmp[IntImm(0)], (ii,)),
        seq(BufferStore(b, const(0.0), (ii,)), Evaluate(const(0))),
    ))
    return PrimFunc((a, b), Allocate(tmp, For(i, const(0, "int64"), const(n, "int64"),
                                              ForKind.SERIAL, body)))


def constants(sfx=""):
    """Stores of float16 / int8 / bool / inf / -inf / nan constants."""
    h = decl_buffer((4,), "float16", "H" + sfx)
    c = decl_buffer((2,), "int8", "C" + sfx)
    m = decl_buffer((1,), "bool", "M" + sfx)
    f = decl_buffer((3,), "float32", "F" + sfx)
    stmts = seq(
        BufferStore(h, const(1.5, "float16"), (const(0),)),
        BufferStore(c, const(-7, "int8"), (const(1),)),
        BufferStore(m, const(True), (const(0),)),
        BufferStore(f, const(float("inf")), (const(0),)),
        BufferStore(f, const(float("-inf")), (const(1),)),
        BufferStore(f, const(float("nan")), (const(2),)),
        BufferStore(h, tir.cast("float16", f[const(0)]) * const(0.25, "float16"), (const(3),)),
    )
    return PrimFunc((h, c, m, f), stmts, {"global_symbol": "consts" + sfx, "tir.noalias": True})
