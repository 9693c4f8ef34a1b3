"""The lowering passes: blocks → loops, unrolling, flattening, simplification, verification."""

from __future__ import annotations

import pytest

from onnxtune import tir
from onnxtune.tir import (
    Allocate,
    Block,
    BlockRealize,
    BufferLoad,
    BufferStore,
    For,
    ForKind,
    IfThenElse,
    IntImm,
    IterType,
    IterVar,
    PrimFunc,
    Range,
    SeqStmt,
    Var,
    const,
)
from onnxtune.tir.functor import post_order_visit
from onnxtune.tir.stmt import true
from onnxtune.tir.transform import (
    LoweringError,
    convert_blocks_to_loops,
    flatten_buffer,
    lower,
    simplify,
    unroll_loops,
    verify_lowered,
)


def _root(body, allocs=()):
    return BlockRealize((), true(), Block((), (), (), "root", body, None, tuple(allocs)))


def _block(name, iters, values, body, init=None, predicate=None, allocs=()):
    ivs = tuple(IterVar(Range.from_min_extent(0, e), v,
                        IterType.COMM_REDUCE if red else IterType.DATA_PAR)
                for v, e, red in iters)
    return BlockRealize(tuple(tir.convert(x) for x in values),
                        true() if predicate is None else predicate,
                        Block(ivs, (), (), name, body, init, tuple(allocs)))


def _loop(v, n, body, kind=ForKind.SERIAL, ann=None):
    return For(v, const(0), const(n), kind, body, "", ann or {})


def _nodes(node, cls):
    out = []
    post_order_visit(node, lambda n: out.append(n) if isinstance(n, cls) else None)
    return out


def _matmul(m=4, n=5, k=6):
    a = tir.decl_buffer((m, k), "float32", "A")
    b = tir.decl_buffer((k, n), "float32", "B")
    c = tir.decl_buffer((m, n), "float32", "C")
    i, j, r = Var("i"), Var("j"), Var("k")
    vi, vj, vk = Var("vi"), Var("vj"), Var("vk")
    body = BufferStore(c, c[vi, vj] + a[vi, vk] * b[vk, vj], (vi, vj))
    init = BufferStore(c, const(0.0), (vi, vj))
    br = _block("C", [(vi, m, False), (vj, n, False), (vk, k, True)], [i, j, r], body, init)
    return PrimFunc((a, b, c), _root(_loop(i, m, _loop(j, n, _loop(r, k, br))))), (i, j, r)


def test_blocks_become_loops_with_init_guard():
    func, (i, j, r) = _matmul()
    out = convert_blocks_to_loops(func)
    assert not _nodes(out.body, (Block, BlockRealize))
    (guard,) = _nodes(out.body, IfThenElse)
    assert isinstance(guard.condition, tir.EQ) and guard.condition.a is r
    assert isinstance(guard.then_case, BufferStore)  # the init
    stores = _nodes(out.body, BufferStore)
    assert all(s.indices[0] is i and s.indices[1] is j for s in stores)
    verify_lowered(out)


def test_predicate_alloc_and_unit_loops():
    n = 10
    a = tir.decl_buffer((n,), "float32", "A")
    t = tir.decl_buffer((4,), "float32", "T", scope="local")
    io, ii, one, vi = Var("io"), Var("ii"), Var("one"), Var("vi")
    pred = io * 4 + ii < n
    inner = _block("A", [(vi, n, False)], [io * 4 + ii + one],
                   BufferStore(a, a[vi] + t[ii], (vi,)), predicate=pred, allocs=[t])
    func = PrimFunc((a,), _root(_loop(io, 3, _loop(one, 1, _loop(ii, 4, inner)))))
    out = convert_blocks_to_loops(func)
    loops = _nodes(out.body, For)
    assert sorted(x.loop_var.name for x in loops) == ["ii", "io"]  # the extent-1 loop is gone
    (alloc,) = _nodes(out.body, Allocate)
    assert alloc.buffer is t and isinstance(alloc.body, IfThenElse)  # scoped to the block
    assert isinstance(out.body, For)  # nothing allocated at the top
    verify_lowered(out)


def test_root_allocations_wrap_the_body():
    n = 6
    a = tir.decl_buffer((n,), "float32", "A")
    t = tir.decl_buffer((n,), "float32", "T")
    i, vi = Var("i"), Var("vi")
    br = _block("T", [(vi, n, False)], [i], BufferStore(t, a[vi], (vi,)))
    out = convert_blocks_to_loops(PrimFunc((a,), _root(_loop(i, n, br), allocs=[t])))
    assert isinstance(out.body, Allocate) and out.body.buffer is t


def test_flatten_row_major_and_index_dtype():
    func, _ = _matmul(4, 5, 6)
    out = flatten_buffer(convert_blocks_to_loops(func))
    assert [p.shape[0].value for p in out.params] == [24, 30, 20]
    assert [p.name for p in out.params] == ["A", "B", "C"]
    for s in _nodes(out.body, (BufferStore, BufferLoad)):
        assert len(s.indices) == 1 and s.indices[0].dtype == "int32"
    big = tir.decl_buffer((70000, 40000), "int8", "big")
    x, vx = Var("x"), Var("vx")
    br = _block("big", [(vx, 70000, False)], [x], BufferStore(big, const(1, "int8"), (vx, vx)))
    out = flatten_buffer(convert_blocks_to_loops(PrimFunc((big,), _root(_loop(x, 70000, br)))))
    (store,) = _nodes(out.body, BufferStore)
    assert store.indices[0].dtype == "int64"


def test_flatten_storage_align_pads_rows():
    n = 6
    a = tir.decl_buffer((n, n), "float32", "A")
    t = tir.Buffer("T", (const(n), const(10)), "float32", "global", 0, ((0, 16, 1),))
    i, j, vi, vj = Var("i"), Var("j"), Var("vi"), Var("vj")
    br = _block("T", [(vi, n, False), (vj, n, False)], [i, j], BufferStore(t, a[vi, vj], (vi, vj)))
    out = lower(PrimFunc((a,), _root(_loop(i, n, _loop(j, n, br)), allocs=[t])))
    (alloc,) = _nodes(out.body, Allocate)
    assert alloc.buffer.shape[0].value == n * 17  # row stride 10 padded to 17 (17 % 16 == 1)
    assert alloc.buffer.align == 64


def test_unroll_explicit_and_auto():
    n = 4
    a = tir.decl_buffer((n, 3), "int32", "A")
    i, j, vi, vj = Var("i"), Var("j"), Var("vi"), Var("vj")
    br = _block("A", [(vi, n, False), (vj, 3, False)], [i, j],
                BufferStore(a, vi * 3 + vj, (vi, vj)))
    func = PrimFunc((a,), _root(_loop(i, n, _loop(j, 3, br, ForKind.UNROLLED))))
    out = unroll_loops(convert_blocks_to_loops(func))
    (outer,) = _nodes(out.body, For)
    assert isinstance(outer.body, SeqStmt) and len(outer.body.seq) == 3
    assert [s.indices[1].value for s in outer.body.seq] == [0, 1, 2]
    ann = {"pragma_auto_unroll_max_step": 12}
    func = PrimFunc((a,), _root(_loop(i, n, _loop(j, 3, br), ForKind.SERIAL, ann)))
    out = unroll_loops(convert_blocks_to_loops(func))
    assert len(_nodes(out.body, For)) == 1  # j (3 steps <= 12) expanded, i kept
    ann = {"pragma_auto_unroll_max_step": 12, "pragma_unroll_explicit": 0}
    func = PrimFunc((a,), _root(_loop(i, n, _loop(j, 3, br), ForKind.SERIAL, ann)))
    out = unroll_loops(convert_blocks_to_loops(func))
    kinds = sorted(x.kind for x in _nodes(out.body, For))
    assert kinds == [ForKind.SERIAL, ForKind.UNROLLED]


def test_unrolled_loop_needs_constant_extent():
    n = Var("n")
    a = tir.decl_buffer((8,), "int32", "A")
    i = Var("i")
    body = For(i, const(0), n, ForKind.UNROLLED, BufferStore(a, i, (i,)))
    with pytest.raises(ValueError, match="loop i .*not a constant"):
        unroll_loops(PrimFunc((a,), body))


def test_simplify_resolves_known_predicates():
    n = 16
    a = tir.decl_buffer((n,), "float32", "A")
    io, ii, vi = Var("io"), Var("ii"), Var("vi")
    br = _block("A", [(vi, n, False)], [io * 4 + ii], BufferStore(a, a[vi] * 2.0, (vi,)),
                predicate=io * 4 + ii < n)
    out = lower(PrimFunc((a,), _root(_loop(io, 4, _loop(ii, 4, br)))))
    assert not _nodes(out.body, IfThenElse)  # 4 * 4 == 16: the guard always holds
    out = simplify(flatten_buffer(convert_blocks_to_loops(
        PrimFunc((a,), _root(_loop(io, 5, _loop(ii, 4, br)))))))
    assert len(_nodes(out.body, IfThenElse)) == 1


def test_verifier_reports_undefined_vars_and_blocks(monkeypatch):
    a = tir.decl_buffer((4,), "float32", "A")
    stray = Var("stray")
    bad = PrimFunc((a,), BufferStore(a, const(1.0), (stray,)))
    with pytest.raises(LoweringError, match="stray"):
        verify_lowered(bad)
    func, _ = _matmul()
    with pytest.raises(LoweringError, match="block 'root'"):
        verify_lowered(func)
    monkeypatch.setenv("ONNXTUNE_DEBUG", "1")
    out = lower(func)  # verified after every pass
    assert all(len(p.shape) == 1 for p in out.params)


def test_dynamic_shapes_not_implemented():
    n = Var("n")
    a = tir.decl_buffer((n,), "float32", "A")
    with pytest.raises(NotImplementedError, match="parameter A .*dynamic"):
        lower(PrimFunc((a,), BufferStore(a, const(1.0), (IntImm(0),))))


def test_lowered_matmul_text():
    func, _ = _matmul(4, 5, 6)
    assert lower(func).script() == '''@T.prim_func
def main(A: T.Buffer((24,), "float32"), B: T.Buffer((30,), "float32"), C: T.Buffer((20,), "float32")):
    for i in range(4):
        for j in range(5):
            for k in range(6):
                if k == 0:
                    C[i * 5 + j] = T.float32(0)
                C[i * 5 + j] = C[i * 5 + j] + A[i * 6 + k] * B[k * 5 + j]'''  # noqa: E501
