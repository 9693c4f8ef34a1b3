"""The default schedules of convolutions into the channel-blocked layout ``NCHW{b}c``
(``b`` = the vector width; see ``frontend/transform/nchwc_layout.py``): a register tile of
``p`` output points of a row x ``u`` channel blocks, the ``b`` output channels of a block
in one vector.

Each step of the reduction (input block, window row, window column, input lane; for NCHW
data, a stem's, channel, row, column) loads ``u`` weight vectors (contiguous), broadcasts
``p`` input values (for blocked data one cache line per point) and does ``p x u``
multiply-adds. The tile is the one with the most accumulators, then the most multiply-adds
per load, that keeps every accumulator, weight vector and the broadcast in registers
(``p·u + u + 1 <= BLOCKED_REGISTERS``), ``p`` dividing the row and ``u`` the blocks: 14
points x 2 blocks for rows of 14, 28 or 56 points (measured faster than 7 x 4, which
spills, and 4 x 4, which loads less but runs its reduction loops twice as often). The
points of a small image's tile may be several whole rows (2 x 2 points x 4 blocks for a
2x2 image).

The epilogue (bias, residual, activation) runs on the tile's results right after it,
vectorized along the block. The outer loops run rows first when the weight fits a core's
L2 (each thread then reads the input rows the previous kernel wrote from the same core)
and there are rows for every thread, else channel groups first (each thread reads half
the weights); channel groups whose weights exceed ``BLOCKED_WEIGHT_BLOCK_BYTES`` block
their input channels, each block of weights serving every row while in L1. The padded
rows one output row reads are copied per row (or, with ``BLOCKED_PAD_INLINE``, read
through the padding condition). Where the input channels are carved and the weight is
larger than ``BLOCKED_PREFETCH_BYTES``, the reduction's innermost loop carries the
``software_prefetch`` annotation: each step prefetches the weights of the next block of
input channels, so that they stream in from memory while this block's rows run instead of
stalling its first row.

A depthwise convolution in the blocked layout (:func:`blocked_depthwise`) takes a tile of
up to ``BLOCKED_DEPTHWISE_POINTS`` points of a row, one vector of channels each, reading
its input in place through the padding's condition (:func:`blocked_depthwise_schedule`).
Knobs (read through the planner's ``knob``) are :mod:`.default_schedule`'s ``BLOCKED_*``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from onnxtune.tir import dtype as dt
from onnxtune.tir.functor import collect_vars
from onnxtune.tir.schedule import Schedule

from .codegen_stmt import PREFETCH_KEY
from .schedule_facts import (
    _const,
    _divisor_at_most,
    _epilogue_of,
    _Facts,
    _parallel_loops,
    _parallel_prefix,
    _prod,
    _vectorize_inner,
)


def _blocked_axes(f: _Facts, lanes: int) -> tuple[Any, Any, Any, Any] | None:
    """(block, row, column, lane) variables of a reduction into a channel-blocked output:
    five spatial axes ``(n, block, row, column, lane)`` in the output's order, the lane
    axis one vector wide. Else None."""
    if not f.is_reduction or len(f.spatial) != 5 or len(f.out_indices) != 5:
        return None
    if any(i is not v for i, (v, _) in zip(f.out_indices, f.spatial, strict=True)):
        return None
    (_, _), (blk, _), (row, _), (col, _), (lane, ext) = f.spatial
    return None if ext != lanes else (blk, row, col, lane)


def _epilogue_in_tile(s: Schedule, epilogue: Any, loop: Any, lanes: int) -> None:
    """Run the epilogue block under ``loop`` (the tile's), vectorized along the channel
    block when its innermost loop is one vector."""
    s.reverse_compute_at(epilogue, loop)
    loops = s.get_loops(epilogue)
    if (_const(s.get(loops[-1]).extent) or 0) == lanes:
        s.vectorize(loops[-1])


def _data_pads(s: Schedule, blk: Any, f: _Facts, widx: int) -> list:
    """The producers of ``blk`` that write its data (every read but the weight, read
    ``widx``): the padding stages."""
    data = [r.buffer for k, r in enumerate(f.block.reads) if k != widx]
    return [b for b in s.get_producers(blk) if any(w.buffer in data for w in s.get(b).writes)]


def blocked_conv(f: _Facts, lanes: int, params: Any) -> int | None:
    """The position of the weight among ``f``'s reads when ``f`` is a blocked
    convolution: five spatial axes ``(n, block, row, column, lane)`` in the output's order,
    the lane axis one vector wide, indexing the last dim of a parameter (the weight) that
    also reads ``block`` and the last of no other input; the data read by ``row`` and
    ``column`` but not ``block``, in its last dim along a reduction variable of one vector
    (blocked data) or the column (NCHW data, a stem's). Else None."""
    axes = _blocked_axes(f, lanes)
    if axes is None:
        return None
    blk, row, col, lane = axes
    reads = [r.buffer for r in f.block.reads]
    red = dict(f.reduce)
    widx = None
    for ld in f.loads:
        if not ld.indices:
            continue
        used = set().union(*(collect_vars(i) for i in ld.indices))
        last = ld.indices[-1]
        if last is lane:
            if ld.buffer not in params or blk not in used or ld.buffer not in reads:
                return None
            if any(lane in collect_vars(i) for i in ld.indices[:-1]):
                return None
            widx = reads.index(ld.buffer)
        elif lane in used:
            return None
        else:
            if blk in used or row not in used or col not in used:
                return None
            if red.get(last) != lanes and col not in collect_vars(last):
                return None  # (blocked data: its lanes; NCHW data: its columns)
    return widx


def blocked_tile(f: _Facts, width: int, blocks: int, knob: Callable[[str], Any],
                 rows: int = 1) -> tuple[int, int, int]:
    """(rows, points, channel blocks) of the register tile for an image of ``rows`` rows
    of ``width`` points and ``blocks`` channel blocks (see the module docstring;
    BLOCKED_POINTS / BLOCKED_VECTORS cap the points of a row and the blocks). A tile
    spans several rows only when it holds whole rows (a 2x2 image: its weights are then
    read once, not once per row)."""
    regs = knob("BLOCKED_REGISTERS")
    pmax = knob("BLOCKED_POINTS") or width
    umax = knob("BLOCKED_VECTORS") or 4
    best = (1, 0.5, 1, 1, 1)
    for u in range(1, min(blocks, umax) + 1):
        if blocks % u:
            continue
        for p in range(1, min(width, pmax) + 1):
            if width % p:
                continue
            for r in range(1, (rows if p == width else 1) + 1):
                acc = r * p * u
                if rows % r or acc + u + 1 > regs:
                    continue
                best = max(best, (acc, acc / (r * p + u), r, p, u))
    return best[2], best[3], best[4]


def _rows_outer(f: _Facts, wbytes: int, threads: int, knob: Callable[[str], Any]) -> bool:
    """Run the rows outermost (each thread its rows, every channel group per row) rather
    than the channel groups (each thread its groups, every row per group)? Rows, when the
    weight fits in a core's L2 (re-read from it per row) and there are rows enough for
    the threads: each thread then reads only the input rows the previous kernel, split
    the same way, wrote from this core."""
    forced = knob("BLOCKED_ROWS_OUTER")
    if forced is not None:
        return forced
    return (wbytes <= knob("BLOCKED_ROWS_WEIGHT_BYTES")
            and f.spatial[2][1] >= threads * knob("CHUNKS_PER_THREAD"))


def blocked_schedule(s: Schedule, f: _Facts, widx: int, lanes: int, parallel: bool,
                     threads: int, knob: Callable[[str], Any]) -> str:
    """Schedule block ``f`` of ``s`` (a blocked convolution, :func:`blocked_conv`) as the
    module docstring says. Returns the epilogue block's name (run in the tile) or ""."""
    blk = s.get_block(f.name)
    pads = _data_pads(s, blk, f, widx)
    if knob("BLOCKED_PAD_INLINE"):
        for pad in pads:
            s.compute_inline(pad)  # the padding: read through its condition
        pads = []
    out_buf = f.block.writes[0].buffer
    epilogue = _epilogue_of(s, blk, out_buf)
    n, ob, h, w, oi, *rd = s.get_loops(blk)
    width, blocks = f.spatial[3][1], f.spatial[1][1]
    r, p, u = blocked_tile(f, width, blocks, knob, f.spatial[2][1])
    hi = []
    if r > 1:
        h, h_in = s.split(h, [None, r])
        hi = [h_in]
    wo, wi = s.split(w, [None, p])
    oo, ou = s.split(ob, [None, u])
    wbuf = f.block.reads[widx].buffer
    wbytes = _prod([_const(d) or 1 for d in wbuf.shape]) * max(1, dt.itemsize(wbuf.dtype))
    rows_outer = _rows_outer(f, wbytes, threads, knob)
    outer = [n, h, oo, wo] if rows_outer else [n, oo, h, wo]
    red_outer = []
    # the weights one block of input channels is carved from, when they stream from L2
    # once per tile: a channel group's (groups outermost: every row reuses the block) or
    # all of them (rows outermost, BLOCKED_ROW_WEIGHT_BLOCKS: every tile of the row does).
    # The accumulators are stored and reloaded once per block, so there must be tiles
    # enough to share it; with groups outermost the groups alone then run in parallel, so
    # there must be a group per thread.
    carved = None
    if not rows_outer and (blocks // u >= threads or not parallel) \
            and f.spatial[2][1] // r * (width // p) >= knob("BLOCKED_WEIGHT_BLOCK_TILES"):
        carved = wbytes // max(1, blocks // u)
    elif rows_outer and knob("BLOCKED_ROW_WEIGHT_BLOCKS") \
            and (blocks // u) * (width // p) >= knob("BLOCKED_WEIGHT_BLOCK_TILES"):
        carved = wbytes
    if carved is not None and carved > knob("BLOCKED_WEIGHT_BLOCK_BYTES") and rd:
        first = f.reduce[0][1]
        b = _divisor_at_most(first, max(1, knob("BLOCKED_WEIGHT_BLOCK_BYTES")
                                        * first // carved))
        if b < first:
            ro, ri_ = s.split(rd[0], [None, b])
            red_outer, rd = [ro], [ri_, *rd[1:]]
    s.reorder(*outer[:2], *red_outer, *outer[2:], *rd, *hi, wi, ou, oi)
    limit = knob("BLOCKED_PREFETCH_BYTES")
    if red_outer and limit is not None and wbytes > limit:
        # the next block of input channels' weights, while this block's rows run
        wl = next(ld for ld in f.loads if ld.buffer is wbuf)
        pos = next(k for k, i in enumerate(wl.indices) if f.reduce[0][0] in collect_vars(i))
        step = _prod([_const(d) or 1 for d in wbuf.shape[pos + 1:]]) * b \
            * max(1, dt.itemsize(wbuf.dtype))
        s.annotate(rd[-1], PREFETCH_KEY, [wbuf.name, step])
    if epilogue is not None:
        _epilogue_in_tile(s, epilogue, outer[1] if red_outer else wo, lanes)
    for lp in (*hi, wi, ou):
        s.unroll(lp)
    s.vectorize(oi)
    row_loop = h
    if parallel:
        take = _parallel_loops(s, outer[:2] if red_outer else outer[:3], threads,
                               knob("CHUNKS_PER_THREAD"))
        par = _parallel_prefix(s, take, threads, knob("CHUNKS_PER_THREAD"))
        if par is not None and any(lp is h for lp in take):
            row_loop = par
    for pad in pads:  # the padded rows one output row reads, copied per row
        s.compute_at(pad, row_loop)
        _vectorize_inner(s, pad, lanes)
    if red_outer or rd:
        s.decompose_reduction(blk, (red_outer or rd)[0])
    return s.get(epilogue).name_hint if epilogue is not None else ""


def blocked_depthwise(f: _Facts, lanes: int, params: Any) -> int | None:
    """The position of the weight among ``f``'s reads when ``f`` is a depthwise convolution
    in a channel-blocked layout: five spatial axes ``(n, block, row, column, lane)`` in the
    output's order, the lane axis one vector wide; a parameter (the weight) indexed by
    ``block`` and, last, ``lane``; the data indexed by ``block``, ``row``, ``column`` and,
    last, ``lane``; the reduction over the window only (no variable indexes a lane). Else
    None."""
    axes = _blocked_axes(f, lanes)
    if axes is None:
        return None
    blk, row, col, lane = axes
    reads = [r.buffer for r in f.block.reads]
    widx, data = None, False
    for ld in f.loads:
        if not ld.indices or ld.buffer not in reads or ld.indices[-1] is not lane:
            return None
        used = set().union(*(collect_vars(i) for i in ld.indices[:-1]))
        if lane in used or blk not in used:
            return None
        if row in used and col in used:
            data = True
        elif ld.buffer in params and row not in used and col not in used:
            widx = reads.index(ld.buffer)
        else:
            return None
    return widx if data else None


def blocked_depthwise_schedule(s: Schedule, f: _Facts, widx: int, lanes: int,
                               parallel: bool, threads: int,
                               knob: Callable[[str], Any]) -> str:
    """Schedule block ``f`` of ``s`` (:func:`blocked_depthwise`): a tile of ``p`` output
    points of a row (the largest divisor of the row up to ``BLOCKED_DEPTHWISE_POINTS`` and
    ``BLOCKED_REGISTERS - 2``), one accumulator vector each; each window position loads
    its weight vector once and does ``p`` multiply-adds on input vectors read in place,
    through the padding's condition (the kernel is bound by memory: copies of the padded
    rows cost more than the conditions); the channel blocks and rows run in parallel, the
    epilogue in the tile. Returns the epilogue block's name (run in the tile) or ""."""
    blk = s.get_block(f.name)
    for pad in _data_pads(s, blk, f, widx):
        s.compute_inline(pad)
    epilogue = _epilogue_of(s, blk, f.block.writes[0].buffer)
    n, cb, h, w, ci, *rd = s.get_loops(blk)
    cap = min(knob("BLOCKED_DEPTHWISE_POINTS"), knob("BLOCKED_REGISTERS") - 2)
    wo, wi = s.split(w, [None, _divisor_at_most(f.spatial[3][1], max(1, cap))])
    s.reorder(n, cb, h, wo, *rd, wi, ci)
    if epilogue is not None:
        _epilogue_in_tile(s, epilogue, wo, lanes)
    s.unroll(wi)
    s.vectorize(ci)
    if parallel:
        _parallel_prefix(s, [n, cb, h], threads, knob("CHUNKS_PER_THREAD"))
    if rd:
        s.decompose_reduction(blk, rd[0])
    return s.get(epilogue).name_hint if epilogue is not None else ""
