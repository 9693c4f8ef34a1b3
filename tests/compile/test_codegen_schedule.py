"""Scheduled-form PrimFuncs (hand-built): parallel, vectorized, unrolled, predicated and
allocating loop nests, checked against numpy."""

from __future__ import annotations

import numpy as np
import pytest
from codegen_helpers import block, loop, matmul, root

from onnxtune import tir
from onnxtune.compile import build
from onnxtune.tir import BufferStore, ForKind, PrimFunc, Var, const
from onnxtune.tir.stmt import seq

P, V, U = ForKind.PARALLEL, ForKind.VECTORIZED, ForKind.UNROLLED
RNG = np.random.default_rng(0)


def _rand(*shape, dtype="float32"):
    return RNG.standard_normal(shape).astype(dtype)


def _call(func, *arrays):
    build(func)["main"](*arrays)


def _matmul_scheduled(m, n, k, ko_factor, jv, kinds):
    """C = A @ B with loops i (kinds[0]), ko, j_outer, ki (kinds[1]), j_inner (kinds[2])."""
    a = tir.decl_buffer((m, k), "float32", "A")
    b = tir.decl_buffer((k, n), "float32", "B")
    c = tir.decl_buffer((m, n), "float32", "C")
    i, ko, ki, jo, ji = (Var(x) for x in ("i", "ko", "ki", "jo", "ji"))
    vi, vj, vk = Var("vi"), Var("vj"), Var("vk")
    kf = (k + ko_factor - 1) // ko_factor
    jf = (n + jv - 1) // jv
    body = BufferStore(c, c[vi, vj] + a[vi, vk] * b[vk, vj], (vi, vj))
    init = BufferStore(c, const(0.0), (vi, vj))
    pred = (ko * ko_factor + ki < k) & (jo * jv + ji < n)
    br = block("C", [(vi, m, False), (vj, n, False), (vk, k, True)],
               [i, jo * jv + ji, ko * ko_factor + ki], body, init, predicate=pred)
    nest = loop(i, m, loop(ko, kf, loop(jo, jf, loop(ki, ko_factor, loop(ji, jv, br, kinds[2]),
                                                      kinds[1]))), kinds[0])
    return PrimFunc((a, b, c), root(nest))


@pytest.mark.parametrize("kinds", [(P, ForKind.SERIAL, V), (P, U, V), (ForKind.SERIAL, V, U)])
def test_matmul_split_reorder(kinds):
    """Non-divisible splits (predicates), the init under a split reduction, reordered loops;
    vectorizing ki (a reduction axis: same address for every lane) falls back to a loop."""
    m, n, k = 13, 37, 11
    func = _matmul_scheduled(m, n, k, 4, 16, kinds)
    a, b, c = _rand(m, k), _rand(k, n), np.full((m, n), 5, "float32")
    _call(func, a, b, c)
    np.testing.assert_allclose(c, a @ b, rtol=1e-5, atol=1e-5)


def test_matmul_parallel_edge_shapes():
    for m, n, k in [(1, 1, 1), (1, 1000, 1), (128, 64, 96)]:
        func = matmul(m, n, k)
        a, b, c = _rand(m, k), _rand(k, n), np.full((m, n), 5, "float32")
        _call(func, a, b, c)
        np.testing.assert_allclose(c, a @ b, rtol=1e-5, atol=1e-5)


def test_vectorized_strides():
    """Unit-stride load, non-unit-stride (gather) load and scatter store in one loop."""
    m, n = 7, 19
    a = tir.decl_buffer((m, n), "float32", "A")
    bt = tir.decl_buffer((n, m), "float32", "BT")
    i, j, vi, vj = Var("i"), Var("j"), Var("vi"), Var("vj")
    body = BufferStore(bt, a[vi, vj] * 2.0 + a[m - 1 - vi, (vj * 3) % n], (vj, vi))
    br = block("T", [(vi, m, False), (vj, n, False)], [i, j], body)
    func = PrimFunc((a, bt), root(loop(i, m, loop(j, n, br, V))))
    x, out = _rand(m, n), np.ones((n, m), "float32")
    _call(func, x, out)
    want = (x * 2 + x[::-1][:, (np.arange(n) * 3) % n]).T
    np.testing.assert_allclose(out, want, rtol=1e-6)


def _two_stage(n: int, outer_kind, scope: str):
    """T[i, k] = A[i, k] * 2 (intermediate), B[i, k] = T[i, k] + T[i, n-1-k]; T is
    allocated in the root block (global) or per row inside the i loop (local)."""
    m = 5
    a = tir.decl_buffer((m, n), "float32", "A")
    b = tir.decl_buffer((m, n), "float32", "B")
    i, k1, k2 = Var("i"), Var("k1"), Var("k2")
    vk, vk2 = Var("vk"), Var("vk2")
    if scope == "local":
        t = tir.decl_buffer((n,), "float32", "T", scope="local")

        def tw(x):
            return (x,)
    else:
        t = tir.decl_buffer((m, n), "float32", "T")

        def tw(x):
            return (i, x)
    s1 = block("T", [(vk, n, False)], [k1], BufferStore(t, a[i, vk] * 2.0, tw(vk)))
    s2 = block("B", [(vk2, n, False)], [k2],
               BufferStore(b, t[tw(vk2)] + t[tw(n - 1 - vk2)], (i, vk2)))
    body = seq(loop(k1, n, s1), loop(k2, n, s2))
    if scope == "local":
        vi = Var("vi")
        outer = block("row", [(vi, m, False)], [i], tir.substitute(body, {}), allocs=[t])
        nest = loop(i, m, outer, outer_kind)
        func = PrimFunc((a, b), root(nest))
    else:
        func = PrimFunc((a, b), root(loop(i, m, body, outer_kind), allocs=[t]))
    x, out = _rand(m, n), np.ones((m, n), "float32")
    _call(func, x, out)
    np.testing.assert_allclose(out, x * 2 + x[:, ::-1] * 2, rtol=1e-6)


@pytest.mark.parametrize("scope", ["local", "global"])
@pytest.mark.parametrize("kind", [ForKind.SERIAL, P])
def test_intermediate_on_stack(scope, kind):
    _two_stage(31, kind, scope)


@pytest.mark.parametrize("kind", [ForKind.SERIAL, P])
def test_intermediate_on_heap(kind):
    """> 64 KiB intermediates are malloc-ed (per thread inside the parallel loop)."""
    _two_stage(20_011, kind, "local")


def test_parallel_per_thread_allocation_nested_parallel():
    """A parallel loop whose body allocates a scratch row and holds another parallel loop
    (which runs serially): every thread must use its own scratch."""
    m, n = 64, 257
    a = tir.decl_buffer((m, n), "float32", "A")
    b = tir.decl_buffer((m, n), "float32", "B")
    t = tir.decl_buffer((n,), "float32", "T", scope="local")
    i, k1, k2, vi, vk, vk2 = (Var(x) for x in ("i", "k1", "k2", "vi", "vk", "vk2"))
    s1 = block("T", [(vk, n, False)], [k1], BufferStore(t, a[vi, vk] + 1.0, (vk,)))
    s2 = block("B", [(vk2, n, False)], [k2],
               BufferStore(b, t[vk2] * t[n - 1 - vk2], (vi, vk2)))
    row = block("row", [(vi, m, False)], [i], seq(loop(k1, n, s1, P), loop(k2, n, s2, V)),
                allocs=[t])
    func = PrimFunc((a, b), root(loop(i, m, row, P)))
    x, out = _rand(m, n), np.ones((m, n), "float32")
    _call(func, x, out)
    np.testing.assert_allclose(out, (x + 1) * (x[:, ::-1] + 1), rtol=1e-6)


def test_vectorized_fallbacks():
    """Vectorized loops that cannot be vector code (a reduction into one address, an
    allocation inside) still compute the right result."""
    n = 23
    a = tir.decl_buffer((n,), "float32", "A")
    s = tir.decl_buffer((1,), "float32", "S")
    k, vk = Var("k"), Var("vk")
    red = block("S", [(vk, n, True)], [k], BufferStore(s, s[0] + a[vk], (const(0),)),
                init=BufferStore(s, const(0.0), (const(0),)))
    func = PrimFunc((a, s), root(loop(k, n, red, V)))
    x, out = _rand(n), np.ones(1, "float32")
    _call(func, x, out)
    np.testing.assert_allclose(out[0], x.sum(), rtol=1e-5)


def test_vectorized_inner_serial_loop_and_branch():
    """A vectorized j loop holding a serial reduction loop over k and a lane-uniform
    branch (the init), plus a lane-varying condition."""
    m, n = 17, 24
    a = tir.decl_buffer((m, n), "float32", "A")
    c = tir.decl_buffer((n,), "float32", "C")
    j, k, vj, vk = Var("j"), Var("k"), Var("vj"), Var("vk")
    val = tir.if_then_else(vj % 3 == 0, a[vk, vj], -a[vk, vj])
    br = block("C", [(vj, n, False), (vk, m, True)], [j, k], BufferStore(c, c[vj] + val, (vj,)),
               init=BufferStore(c, const(0.0), (vj,)))
    func = PrimFunc((a, c), root(loop(j, n, loop(k, m, br), V)))
    x, out = _rand(m, n), np.ones(n, "float32")
    _call(func, x, out)
    sign = np.where(np.arange(n) % 3 == 0, 1, -1)
    np.testing.assert_allclose(out, (x * sign).sum(0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("explicit", [0, 1])
def test_unroll_pragmas(explicit):
    m, n = 6, 10
    a = tir.decl_buffer((m, n), "int32", "A")
    b = tir.decl_buffer((m, n), "int32", "B")
    i, j, vi, vj = Var("i"), Var("j"), Var("vi"), Var("vj")
    br = block("B", [(vi, m, False), (vj, n, False)], [i, j],
               BufferStore(b, a[vi, vj] * 3 - vj, (vi, vj)))
    ann = {"pragma_auto_unroll_max_step": 64, "pragma_unroll_explicit": explicit}
    func = PrimFunc((a, b), root(loop(i, m, loop(j, n, br), annotations=ann)))
    x = RNG.integers(-100, 100, (m, n)).astype("int32")
    out = np.ones((m, n), "int32")
    _call(func, x, out)
    np.testing.assert_array_equal(out, x * 3 - np.arange(n))


def test_thread_binding_rejected():
    n = 8
    a = tir.decl_buffer((n,), "float32", "A")
    i, vi = Var("i"), Var("vi")
    br = block("A", [(vi, n, False)], [i], BufferStore(a, a[vi] + 1.0, (vi,)))
    nest = tir.For(i, const(0), const(n), ForKind.THREAD_BINDING, br, "threadIdx.x")
    with pytest.raises(ValueError, match=r"loop i .*threadIdx\.x"):
        build(PrimFunc((a,), root(nest)))


def test_dynamic_shape_rejected():
    n = Var("n")
    a = tir.decl_buffer((n,), "float32", "A")
    i, vi = Var("i"), Var("vi")
    br = block("A", [(vi, n, False)], [i], BufferStore(a, a[vi] + 1.0, (vi,)))
    func = PrimFunc((a,), root(tir.For(i, const(0), n, ForKind.SERIAL, br)))
    with pytest.raises(NotImplementedError, match="dynamic"):
        build(func)
