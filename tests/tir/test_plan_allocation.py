"""plan_allocation / compact_allocation: intermediate buffers allocated at the lowest common
ancestor of their uses (per thread inside parallel loops), shrunk to the box they touch,
and hoisted back when an iteration reads what an earlier one wrote."""

from __future__ import annotations

import numpy as np
import pytest

from onnxtune.compile import build, runtime
from onnxtune.tir import Schedule, testing
from onnxtune.tir.functor import post_order_visit
from onnxtune.tir.stmt import Allocate, For, ForKind
from onnxtune.tir.transform import lower


@pytest.fixture(autouse=True)
def _two_threads():
    runtime.set_num_threads(2)
    yield
    runtime.set_num_threads(None)


def _register_tiled_matmul(m: int, n: int, k: int, mi: int, ni: int, vec: int = 4):
    """C = A @ B with a cache_write register tile (mi × ni) reverse-computed at the tile
    loop under a parallel loop; non-divisible splits when the shapes say so."""
    func, ref = testing.matmul(m, n, k)
    sch = Schedule(func)
    c = sch.get_block("C")
    i, j, kk = sch.get_loops(c)
    i0, i1 = sch.split(i, [None, mi])
    j0, j1 = sch.split(j, [None, ni])
    sch.reorder(i0, j0, kk, i1, j1)
    cl = sch.cache_write(c, 0, "local")
    sch.reverse_compute_at(cl, j0)
    sch.parallel(sch.fuse(i0, j0))
    if ni % vec == 0:
        _, jv = sch.split(j1, [None, vec])
        sch.vectorize(jv)
    sch.decompose_reduction(c, kk)
    return sch.mod["main"], ref


def _allocations(func) -> list[tuple[Allocate, list[For]]]:
    """Each Allocate of the lowered ``func`` with the loops around it (outermost first)."""
    out: list[tuple[Allocate, list[For]]] = []

    def walk(node, loops):
        if isinstance(node, Allocate):
            out.append((node, list(loops)))
        if isinstance(node, For):
            walk(node.body, loops + [node])
            return
        from onnxtune.tir.functor import children

        for ch in children(node):
            walk(ch, loops)

    walk(func.body, [])
    return out


def _run(func, ref, seed=0):
    args = testing.make_args(func, seed)
    expected = ref(*[a.copy() for a in args[:-1]])
    build(func)["main"](*args)
    np.testing.assert_allclose(args[-1], expected, rtol=1e-4, atol=1e-4)


def test_cache_write_tile_is_per_thread_and_compact():
    func, ref = _register_tiled_matmul(64, 48, 40, 4, 16)
    low = lower(func)
    ((alloc, loops),) = _allocations(low)
    assert alloc.buffer.name == "C_local"
    assert [lp.kind for lp in loops] == [ForKind.PARALLEL]
    assert alloc.buffer.shape[0].value == 4 * 16  # flattened 4×16 register tile
    for seed in range(3):
        _run(func, ref, seed)


@pytest.mark.parametrize("shape", [(13, 37, 11), (1, 1, 1), (7, 5, 3), (17, 1, 29)])
def test_cache_write_non_divisible_and_prime_shapes(shape):
    m, n, k = shape
    func, ref = _register_tiled_matmul(m, n, k, 4, 8)
    for seed in range(2):
        _run(func, ref, seed)


def test_compute_at_producer_inside_parallel_loop():
    """A non-inlined producer (pad_temp) computed at a parallel consumer loop: each
    thread gets its own padded tile."""
    func, ref = testing.conv2d_nchw(1, 3, 11, 9, 5, 3, 3, padding=1)
    sch = Schedule(func)
    conv = sch.get_block("conv2d_nchw")
    loops = sch.get_loops(conv)
    sch.parallel(loops[1])
    sch.compute_at(sch.get_block("pad_temp"), loops[2])
    low = lower(sch.mod["main"])
    allocs = {a.buffer.name: lps for a, lps in _allocations(low)}
    assert any(lp.kind == ForKind.PARALLEL for lp in allocs["pad_temp"])
    for seed in range(3):
        _run(sch.mod["main"], ref, seed)


def test_rfactor_buffer_stays_above_the_reduction():
    func, ref = testing.matmul(9, 6, 23)
    sch = Schedule(func)
    c = sch.get_block("C")
    _, _, kk = sch.get_loops(c)
    _, ki = sch.split(kk, [None, 4])
    sch.rfactor(ki, 0)
    _run(sch.mod["main"], ref)


def test_recomputing_consumer_keeps_shared_producer():
    """pool_sum recomputed under every iteration of its producer's loops reads values
    written in earlier iterations: the producer's buffer may move into the channel loop
    (each channel is self-contained) but not into the row or column loops."""
    func, ref = testing.avg_pool2d(1, 2, 7, 6, kernel=3, stride=2, padding=1)
    sch = Schedule(func)
    pad = sch.get_block("pad_temp")
    sch.reverse_compute_at(sch.get_block("pool_sum"), sch.get_loops(pad)[-1])
    low = lower(sch.mod["main"])
    allocs = {a.buffer.name: lps for a, lps in _allocations(low)}
    assert [lp.loop_var.name for lp in allocs["pad_temp"]] == ["i1"]
    assert next(a for a, _ in _allocations(low) if a.buffer.name == "pad_temp"
                ).buffer.shape[0].value == 9 * 8
    _run(sch.mod["main"], ref)


def test_unused_and_root_buffers_untouched():
    func, ref = testing.softmax(5, 13)
    low = lower(func)
    names = []
    post_order_visit(low.body, lambda n: names.append(n.buffer.name)
                     if isinstance(n, Allocate) else None)
    assert names  # softmax's intermediates are still allocated (at the root)
    _run(func, ref)
