"""The default schedule of convolutions in channel-blocked layouts (compile/blocked_schedule):
the blocked register tile on edge shapes and under every knob, checked against numpy."""

from __future__ import annotations

import numpy as np
import pytest

from onnxtune.compile import build
from onnxtune.compile.blocked_schedule import blocked_tile
from onnxtune.compile.codegen_stmt import PREFETCH_KEY
from onnxtune.compile.default_schedule import default_schedule_of, resolve_knobs
from onnxtune.frontend.op import get_op
from onnxtune.frontend.transform.nchwc_layout import (
    block_channels,
    pack_weight,
    pack_weight_out,
)
from onnxtune.tir import te
from onnxtune.tir.functor import post_order_visit
from onnxtune.tir.stmt import For, ForKind

B = 16


def _conv_nchw(x, w, stride, pad):
    """numpy NCHW convolution (cross-correlation), symmetric padding."""
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh = (h + 2 * pad - kh) // stride + 1
    ow = (wd + 2 * pad - kw) // stride + 1
    out = np.zeros((n, o, oh, ow), np.float64)
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, :, i:i + stride * oh:stride, j:j + stride * ow:stride]
            out += np.einsum("nchw,oc->nohw", patch, w[:, :, i, j])
    return out


def _func(c, o, h, wd, k, stride, pad, residual):
    """conv2d_nchwc + bias (+ residual) + relu as one PrimFunc, the weight and bias
    constant (layout_free_buffers); NCHW data when ``c`` is no multiple of 16."""
    if c % B:
        x = te.placeholder((1, c, h, wd), "float32", name="x")
        w = te.placeholder((o // B, c, k, k, B), "float32", name="w")
    else:
        x = te.placeholder((1, c // B, h, wd, B), "float32", name="x")
        w = te.placeholder((o // B, c // B, k, k, B, B), "float32", name="w")
    b = te.placeholder((o // B, B), "float32", name="b")
    y = get_op("nn.conv2d_nchwc").compute(x, w, strides=stride, padding=pad)
    shp = y.static_shape()
    r = te.placeholder(shp, "float32", name="r") if residual else None

    def epi(n, ob, i, j, oi):
        v = y[n, ob, i, j, oi] + b[ob, oi]
        return te.max(v + r[n, ob, i, j, oi] if residual else v, 0.0)

    out = te.compute(shp, epi, name="relu")
    ins = [x, w, b] + ([r] if residual else [])
    return te.create_prim_func([*ins, out]).with_attr("layout_free_buffers", [1, 2])


def _run(c, o, h, wd, k, stride, pad, residual=False, knobs=None, seed=0):
    func = _func(c, o, h, wd, k, stride, pad, residual)
    sch = default_schedule_of(func, "llvm -num-cores=2", knobs=knobs)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((1, c, h, wd)).astype(np.float32)
    w = (rng.standard_normal((o, c, k, k)) / np.sqrt(c * k * k)).astype(np.float32)
    bias = rng.standard_normal(o).astype(np.float32)
    ref = _conv_nchw(x.astype(np.float64), w.astype(np.float64), stride, pad)
    ref += bias[None, :, None, None]
    if c % B:
        args = [x, pack_weight_out(w, B), bias.reshape(o // B, B)]
    else:
        args = [block_channels(x, B), pack_weight(w, B), bias.reshape(o // B, B)]
    if residual:
        res = rng.standard_normal(ref.shape).astype(np.float32)
        ref += res
        args.append(block_channels(res, B))
    ref = np.maximum(ref, 0.0)
    out = np.full(block_channels(ref.astype(np.float32), B).shape, np.nan, np.float32)
    build(sch.func)["main"](*args, out)
    np.testing.assert_allclose(out, block_channels(ref, B), rtol=1e-4, atol=1e-4)
    return sch.func


def _loops(func):
    """(extents of the unrolled loops, extents of the vectorized loops, parallel count)."""
    unrolled, vectorized, parallel = [], [], []

    def visit(n):
        if isinstance(n, For) and n.kind == ForKind.UNROLLED:
            unrolled.append(n.extent.value)
        elif isinstance(n, For) and n.kind == ForKind.VECTORIZED:
            vectorized.append(n.extent.value)
        elif isinstance(n, For) and n.kind == ForKind.PARALLEL:
            parallel.append(n.extent.value)

    post_order_visit(func.body, visit)
    return unrolled, vectorized, parallel


@pytest.mark.parametrize("c,o,h,wd,k,stride,pad", [
    (32, 64, 14, 14, 1, 1, 0),   # a 14x14 pointwise convolution
    (16, 32, 13, 13, 3, 1, 1),   # a prime width: a 13-point tile
    (16, 16, 7, 7, 3, 2, 1),     # one channel block, stride 2
    (48, 32, 1, 1, 1, 1, 0),     # a 1x1 image
    (16, 48, 9, 11, 3, 1, 2),    # three channel blocks, padding wider than the window half
    (3, 32, 23, 29, 7, 2, 3),    # a stem: NCHW data, 3 channels, 7x7 stride 2
    (32, 64, 2, 2, 3, 1, 1),     # a 2x2 image: a tile of both rows
    (16, 64, 6, 3, 1, 1, 0),     # 3-point rows, two per tile
])
def test_blocked_tile_matches_numpy(c, o, h, wd, k, stride, pad):
    func = _run(c, o, h, wd, k, stride, pad, residual=True, seed=3)
    unrolled, vectorized, _ = _loops(func)
    assert B in vectorized  # the output block is the vector
    ow = (wd + 2 * pad - k) // stride + 1
    oh = (h + 2 * pad - k) // stride + 1
    r, p, u = blocked_tile(None, ow, o // B, resolve_knobs().__getitem__, oh)
    assert all(x in unrolled or x == 1 for x in (r, p, u))


@pytest.mark.parametrize("knobs", [
    {"BLOCKED_ROWS_OUTER": True}, {"BLOCKED_ROWS_OUTER": False},
    {"BLOCKED_PAD_INLINE": True}, {"BLOCKED_WEIGHT_BLOCK_BYTES": 1024},
    {"BLOCKED_POINTS": 4, "BLOCKED_VECTORS": 1}, {"BLOCKED_REGISTERS": 3},
    {"BLOCKED_WEIGHT_BLOCK_BYTES": 1024, "BLOCKED_PREFETCH_BYTES": 0},
])
def test_every_blocked_knob_keeps_the_result(knobs):
    """Every knob the tuner's variant grid turns (loop order, padding inlined, input
    channels blocked for the weights, smaller tiles, a register budget of one
    accumulator) computes the same convolution: 3x3, padded, 28-point rows split by
    a tile that does not cover them in one."""
    _run(32, 32, 6, 28, 3, 1, 1, residual=False, knobs=knobs, seed=1)


def test_the_tile_fills_the_registers_without_spilling():
    """14 x 2 for rows of 14, 28 and 56 points (28 accumulators + 2 weights + 1 broadcast
    = 31 registers), never 7 x 4 (33); rows of 7 take 7 x 3 only where 3 divides the
    channel blocks; a single channel block takes the row alone; a 2x2 image takes both
    its rows."""
    knob = resolve_knobs().__getitem__
    for width in (14, 28, 56):
        assert blocked_tile(None, width, 16, knob, width) == (1, 14, 2)
    assert blocked_tile(None, 7, 32, knob, 7) == (1, 7, 2)
    assert blocked_tile(None, 7, 24, knob, 7) == (1, 7, 3)
    assert blocked_tile(None, 13, 1, knob, 13) == (1, 13, 1)
    # a 2x2 image: both rows in one tile (its weights read once), 4 blocks
    assert blocked_tile(None, 2, 32, knob, 2) == (2, 2, 4)
    r, p, u = blocked_tile(None, 56, 4, resolve_knobs({"BLOCKED_REGISTERS": 16}).__getitem__)
    assert r * p * u + u + 1 <= 16


def test_rows_or_channel_groups_run_in_parallel():
    """A small weight over many rows: the rows are the parallel loop (one per output row);
    a 2.4 MB weight: the channel groups are (16 blocks / 2 per tile = 8 groups), and its
    input channels are blocked (the accumulators stored between blocks)."""
    small = _run(16, 32, 16, 14, 3, 1, 1)
    assert _loops(small)[2] == [16]
    func = _func(256, 256, 14, 14, 3, 1, 1, residual=False)
    big = default_schedule_of(func, "llvm -num-cores=2").func
    assert _loops(big)[2] == [8]
    text = big.script()
    assert "rc_0" in text and "rc_1" in text


def _prefetches(func):
    """The software_prefetch annotations of ``func``'s loops."""
    found = []
    post_order_visit(func.body, lambda n: isinstance(n, For) and PREFETCH_KEY in n.annotations
                     and found.append(n.annotations[PREFETCH_KEY]))
    return found


def test_large_carved_weights_prefetch_the_next_block():
    """Input channels carved into blocks and a weight over BLOCKED_PREFETCH_BYTES: the
    reduction's innermost loop prefetches the next block's weights (one input-channel
    block of 3 x 3 x 16 x 16 floats ahead), and the result is unchanged; a weight under
    the limit, or the limit None, prefetches nothing."""
    knobs = {"BLOCKED_WEIGHT_BLOCK_BYTES": 4096, "BLOCKED_ROWS_OUTER": False}
    func = _run(48, 64, 7, 7, 3, 1, 1, residual=True, seed=5,
                knobs={**knobs, "BLOCKED_PREFETCH_BYTES": 1024})
    assert _prefetches(func) == [["w", 3 * 3 * B * B * 4]]
    for limit in (None, 1 << 30):
        func = _run(48, 64, 7, 7, 3, 1, 1, knobs={**knobs, "BLOCKED_PREFETCH_BYTES": limit})
        assert _prefetches(func) == []
    # the default: ResNet-50's layer4 3x3 (9.4 MB) prefetches, layer3's (2.4 MB) does not
    for c, h, want in ((512, 7, 1), (256, 14, 0)):
        sched = default_schedule_of(_func(c, c, h, h, 3, 1, 1, False), "llvm -num-cores=2")
        assert len(_prefetches(sched.func)) == want


def _run_depthwise(c, h, wd, k, stride, pad, dilation=1, knobs=None, seed=0):
    """A blocked depthwise convolution + bias + relu6 under the default schedule, checked
    against numpy; returns the scheduled function."""
    x = te.placeholder((1, c // B, h, wd, B), "float32", name="x")
    w = te.placeholder((c // B, k, k, B), "float32", name="w")
    b = te.placeholder((c // B, B), "float32", name="b")
    y = get_op("nn.depthwise_conv2d_nchwc").compute(x, w, strides=stride, padding=pad,
                                                    dilation=dilation)
    out = te.compute(y.static_shape(), lambda n, cb, i, j, ln: te.min(
        te.max(y[n, cb, i, j, ln] + b[cb, ln], 0.0), 6.0), name="relu6")
    func = te.create_prim_func([x, w, b, out]).with_attr("layout_free_buffers", [1, 2])
    sch = default_schedule_of(func, "llvm -num-cores=2", knobs=knobs)
    rng = np.random.default_rng(seed)
    xs = rng.standard_normal((1, c, h, wd)).astype(np.float32)
    ws = rng.standard_normal((c, 1, k, k)).astype(np.float32)
    bs = rng.standard_normal(c).astype(np.float32)
    xp = np.pad(xs, ((0, 0), (0, 0), (pad, pad), (pad, pad))).astype(np.float64)
    span = dilation * (k - 1) + 1
    oh, ow = (h + 2 * pad - span) // stride + 1, (wd + 2 * pad - span) // stride + 1
    ref = np.zeros((1, c, oh, ow)) + bs[None, :, None, None]
    for i in range(k):
        for j in range(k):
            r0, c0 = i * dilation, j * dilation
            ref += xp[:, :, r0:r0 + stride * oh:stride, c0:c0 + stride * ow:stride] \
                * ws[None, :, 0, i, j, None, None]
    ref = np.clip(ref, 0.0, 6.0)
    got = np.full(block_channels(ref.astype(np.float32), B).shape, np.nan, np.float32)
    wb = np.ascontiguousarray(ws.reshape(c // B, B, k, k).transpose(0, 2, 3, 1))
    build(sch.func)["main"](block_channels(xs, B), wb, bs.reshape(c // B, B), got)
    np.testing.assert_allclose(got, block_channels(ref, B), rtol=1e-5, atol=1e-5)
    return sch.func


@pytest.mark.parametrize("c,h,wd,k,stride,pad,dilation,knobs", [
    (32, 56, 56, 3, 1, 1, 1, None),      # MobileNet's: a 14-point tile, 4 per row
    (16, 13, 13, 3, 2, 1, 1, None),      # a prime width, stride 2: a 7-point tile
    (48, 1, 1, 3, 1, 1, 1, None),        # a 1x1 image: every tap but the centre padding
    (16, 9, 11, 5, 1, 2, 1, None),       # a 5x5 window
    (32, 12, 12, 3, 1, 2, 2, None),      # dilation 2
    (16, 28, 28, 3, 1, 1, 1, {"BLOCKED_DEPTHWISE_POINTS": 1}),
    (16, 28, 28, 3, 1, 1, 1, {"BLOCKED_DEPTHWISE_POINTS": 5}),  # -> 4 points
])
def test_blocked_depthwise_tile_matches_numpy(c, h, wd, k, stride, pad, dilation, knobs):
    """The depthwise tile: the largest divisor of the row up to BLOCKED_DEPTHWISE_POINTS
    (14) output points, unrolled, one vector of channels each, the padding read through
    its condition (no copy), the epilogue in the tile; right on edge shapes."""
    func = _run_depthwise(c, h, wd, k, stride, pad, dilation, knobs, seed=c + h)
    unrolled, vectorized, _ = _loops(func)
    ow = (wd + 2 * pad - dilation * (k - 1) - 1) // stride + 1
    cap = (knobs or {}).get("BLOCKED_DEPTHWISE_POINTS", 14)
    p = max(d for d in range(1, min(ow, cap) + 1) if ow % d == 0)
    assert B in vectorized
    assert p == 1 or p in unrolled
    assert "pad_temp" not in func.script()  # read in place
