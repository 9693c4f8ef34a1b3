"""Small hand-built PrimFuncs for the block-primitive tests (elementwise chains, a
transposing consumer, a cropping consumer, two writers), plus a native-build checker."""

from __future__ import annotations

import numpy as np
from ir_samples import block, loop, point, root

from onnxtune.tir import BufferStore, PrimFunc, Var, const, decl_buffer
from onnxtune.tir.stmt import seq
from onnxtune.tir.testing import make_args


def chain(m: int = 4, n: int = 6):
    """B = A * 2 (intermediate); C = B + 1 (output). Returns (func, parts) where parts
    holds the buffers for building expected IR."""
    a, b, c = (decl_buffer((m, n), name=x) for x in "ABC")
    i0, j0, vi0, vj0 = Var("i"), Var("j"), Var("vi"), Var("vj")
    i1, j1, vi1, vj1 = Var("i"), Var("j"), Var("vi"), Var("vj")
    sb = block("B", [(vi0, m, False), (vj0, n, False)], [i0, j0],
               BufferStore(b, a[vi0, vj0] * const(2.0), (vi0, vj0)),
               reads=(point(a, (vi0, vj0)),), writes=(point(b, (vi0, vj0)),))
    sc = block("C", [(vi1, m, False), (vj1, n, False)], [i1, j1],
               BufferStore(c, b[vi1, vj1] + const(1.0), (vi1, vj1)),
               reads=(point(b, (vi1, vj1)),), writes=(point(c, (vi1, vj1)),))
    f = PrimFunc((a, c), root(seq(loop(i0, m, loop(j0, n, sb)), loop(i1, m, loop(j1, n, sc))),
                              allocs=(b,)))
    return f, (a, b, c)


def transposing(m: int = 3, n: int = 5, store_transposed: bool = False):
    """B = A * 2; C[j, i] = B[i, j] + 1 read through a transposed index (C is (n, m)).

    With ``store_transposed`` the producer iterates (i, j) but stores ``B[j, i]`` (B is
    (n, m)) and the consumer reads ``B[vi, vj]``.
    """
    a = decl_buffer((m, n), name="A")
    b = decl_buffer((n, m) if store_transposed else (m, n), name="B")
    c = decl_buffer((n, m), name="C")
    i0, j0, vi0, vj0 = Var("i"), Var("j"), Var("vi"), Var("vj")
    i1, j1, vi1, vj1 = Var("i"), Var("j"), Var("vi"), Var("vj")
    st_idx = (vj0, vi0) if store_transposed else (vi0, vj0)
    sb = block("B", [(vi0, m, False), (vj0, n, False)], [i0, j0],
               BufferStore(b, a[vi0, vj0] * const(2.0), st_idx),
               reads=(point(a, (vi0, vj0)),), writes=(point(b, st_idx),))
    ld = (vi1, vj1) if store_transposed else (vj1, vi1)
    sc = block("C", [(vi1, n, False), (vj1, m, False)], [i1, j1],
               BufferStore(c, b[ld] + const(1.0), (vi1, vj1)),
               reads=(point(b, ld),), writes=(point(c, (vi1, vj1)),))
    return PrimFunc((a, c), root(seq(loop(i0, m, loop(j0, n, sb)),
                                     loop(i1, n, loop(j1, m, sc))), allocs=(b,)))


def crop(n: int = 9, k: int = 5):
    """B = A * 2 over n elements; C = B + 1 over the first k < n."""
    a, b, c = decl_buffer((n,), name="A"), decl_buffer((n,), name="B"), decl_buffer((k,), name="C")
    i0, vi0, i1, vi1 = Var("i"), Var("vi"), Var("i"), Var("vi")
    sb = block("B", [(vi0, n, False)], [i0], BufferStore(b, a[vi0] * const(2.0), (vi0,)),
               reads=(point(a, (vi0,)),), writes=(point(b, (vi0,)),))
    sc = block("C", [(vi1, k, False)], [i1], BufferStore(c, b[vi1] + const(1.0), (vi1,)),
               reads=(point(b, (vi1,)),), writes=(point(c, (vi1,)),))
    return PrimFunc((a, c), root(seq(loop(i0, n, sb), loop(i1, k, sc)), allocs=(b,)))


def two_writers(n: int = 6):
    """B = A; B = B + 1 (a second block writing B); C = B * 2."""
    a, b, c = (decl_buffer((n,), name=x) for x in "ABC")
    vs = [Var("vi") for _ in range(3)]
    ls = [Var("i") for _ in range(3)]
    s0 = block("B0", [(vs[0], n, False)], [ls[0]], BufferStore(b, a[vs[0]], (vs[0],)),
               reads=(point(a, (vs[0],)),), writes=(point(b, (vs[0],)),))
    s1 = block("B1", [(vs[1], n, False)], [ls[1]],
               BufferStore(b, b[vs[1]] + const(1.0), (vs[1],)),
               reads=(point(b, (vs[1],)),), writes=(point(b, (vs[1],)),))
    s2 = block("C", [(vs[2], n, False)], [ls[2]], BufferStore(c, b[vs[2]] * const(2.0),
                                                             (vs[2],)),
               reads=(point(b, (vs[2],)),), writes=(point(c, (vs[2],)),))
    nests = [loop(lv, n, s) for lv, s in zip(ls, (s0, s1, s2), strict=True)]
    return PrimFunc((a, c), root(seq(*nests), allocs=(b,)))


def run_native(f: PrimFunc, args: list[np.ndarray]) -> list[np.ndarray]:
    """Build ``f`` (LLVM -O0, fast) and run it on copies of ``args``."""
    from onnxtune.compile import build

    out = [x.copy() for x in args]
    build(f, target="llvm -opt-level=0")["main"](*out)
    return out


def assert_same(f0: PrimFunc, f1: PrimFunc, seed: int = 0, rtol: float = 1e-5) -> None:
    """``f1`` computes what ``f0`` computes on random inputs (outputs compared)."""
    args = make_args(f0, seed)
    np.testing.assert_allclose(run_native(f1, args)[-1], run_native(f0, args)[-1],
                               rtol=rtol, atol=1e-5)
