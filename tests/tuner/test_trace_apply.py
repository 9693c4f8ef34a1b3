"""trace_apply: a trace tuned on one fused function schedules another with the same anchor."""

from __future__ import annotations

import numpy as np

from onnxtune.compile import build
from onnxtune.tir import Schedule, testing
from onnxtune.tir.module_equality import module_equal
from onnxtune.tuner.trace_apply import schedule_using_anchor_trace


def _tile_conv(sch: Schedule) -> None:
    conv = sch.get_block("conv2d_nchw")
    sch.compute_inline(sch.get_block("pad_temp"))
    n, f, y, x, rc, ry, rx = sch.get_loops(conv)
    fo, fi = sch.split(f, [None, 4])
    xo, xi = sch.split(x, [None, 5])
    sch.reorder(n, fo, y, xo, rc, ry, rx, fi, xi)
    sch.parallel(fo)
    sch.unroll(xi)


def _run(func, ref, seed=0):
    args = testing.make_args(func, seed)
    build(func)["main"](*args)
    expect = ref(*args[:-1])
    np.testing.assert_allclose(args[-1], expect, rtol=1e-4, atol=1e-5)
    return args[-1]


def _loop_extents(func) -> list[int]:
    from onnxtune.tir.functor import pre_order_visit
    from onnxtune.tir.stmt import For

    out: list[int] = []
    pre_order_visit(func.body, lambda s: out.append(int(s.extent.value))
                    if isinstance(s, For) else None)
    return out


def test_anchor_trace_from_plain_conv_schedules_the_fused_one():
    plain, _ = testing.conv2d_nchw(1, 8, 10, 10, 16, 3, 3, padding=1)
    fused, fused_ref = testing.conv2d_bias_relu(1, 8, 10, 10, 16, 3, 3, padding=1)
    assert module_equal(plain, fused, "anchor-block")
    sch = Schedule(plain)
    _tile_conv(sch)
    target = Schedule(fused)
    skipped = schedule_using_anchor_trace(target, sch.trace, "llvm")
    assert skipped == 0
    # the anchor's tiles are there: an unrolled inner loop of 5, 4 output-channel tiles
    extents = _loop_extents(target.func)
    assert 5 in extents and 4 in extents
    _run(target.func, fused_ref)


def test_anchor_trace_from_fused_conv_skips_what_the_plain_one_lacks():
    plain, plain_ref = testing.conv2d_nchw(1, 8, 10, 10, 16, 3, 3, padding=1)
    fused, _ = testing.conv2d_bias_relu(1, 8, 10, 10, 16, 3, 3, padding=1)
    sch = Schedule(fused)
    _tile_conv(sch)
    sch.compute_inline(sch.get_block("T_add"))
    relu = sch.get_block("T_relu")
    sch.parallel(sch.get_loops(relu)[1])
    target = Schedule(plain)
    skipped = schedule_using_anchor_trace(target, sch.trace, "llvm")
    assert skipped >= 3  # get_block T_add / T_relu, the inline, the parallel and its query
    _run(target.func, plain_ref)
