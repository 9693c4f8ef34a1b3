"""The default schedule of a reduction without a contiguous output axis to vectorize
(NCHW convolutions, a dense layer against ``W[j, k]``): a packed tile.

The weight is packed with the vectorized output axis innermost (``W[.., j] ->
Wp[j // V, .., j % V]``, a layout-rewrite block the graph builder runs once for constant
weights) and the tile vectorizes that axis: ``u`` vectors of output channels x a few points
of the other spatial axes in registers, the reduction inside. The accumulator is written
in the same packed layout and the epilogue (bias, residual, activation) writes the real
output from it. The data rows every channel block reads are staged per parallel iteration
in a compact buffer, large weight slices are blocked along the reduction, and the loop
order (channel blocks inner or outer) follows the weight's and input's sizes. Knobs (read
through the planner's ``knob``) are :mod:`.default_schedule`'s.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from onnxtune.tir import dtype as dt
from onnxtune.tir.functor import collect_vars
from onnxtune.tir.schedule import Schedule

from .schedule_facts import (
    _const,
    _constant_params,
    _divisor_at_most,
    _epilogue_of,
    _Facts,
    _parallel_prefix,
    _pointwise,
    _prod,
    _reads_along_last_axis,
)


def packed_axis(f: _Facts, lanes: int, constants: frozenset = frozenset()
                ) -> tuple[int, int, int, int] | None:
    """(spatial position, output dim, weight read index, weight dim) of an axis to
    vectorize after packing: a spatial var, a multiple of the vector width, that is a
    whole index of the output and of exactly one input (the weight: a convolution's
    output channels, a dense layer's outputs), which no other input depends on, while
    the weight is reused by at least 8 points of the other spatial axes — or by any
    number when the weight is one of ``constants`` (packed once, at compile time: a
    convolution over a 2x2 or 1x1 image then reads its weight once, in order)."""
    reads = [r.buffer for r in f.block.reads]
    best = None
    for k, (var, ext) in enumerate(f.spatial):
        if ext % lanes or var not in f.out_indices:
            continue
        odim = list(f.out_indices).index(var)
        holders = [ld for ld in f.loads
                   if any(var in collect_vars(i) for i in ld.indices)]
        if len({ld.buffer for ld in holders}) != 1:
            continue
        ld = holders[0]
        dims = [d for d, i in enumerate(ld.indices) if var in collect_vars(i)]
        if len(dims) != 1 or ld.indices[dims[0]] is not var or ld.buffer not in reads:
            continue
        wvars = set().union(*(collect_vars(i) for i in ld.indices))
        reuse = 1
        for v2, e2 in f.spatial:
            if v2 not in wvars:
                reuse *= e2
        if reuse < (1 if ld.buffer in constants else 8):
            continue
        cand = (k, odim, reads.index(ld.buffer), dims[0])
        if best is None or ext > f.spatial[best[0]][1]:
            best = cand
    return best


def packed_tile(s: Schedule, f: _Facts, fpos: int, odim: int, widx: int, wdim: int,
                lanes: int, parallel: bool, threads: int, knob: Callable[[str], Any]) -> str:
    """Schedule block ``f`` of ``s`` as a packed tile (see the module docstring) along the
    axis :func:`packed_axis` found; ``knob(name)`` reads a knob of the default schedule. Returns
    the epilogue block's name (inlined into the tile) or ""."""
    blk = s.get_block(f.name)
    V = lanes  # noqa: N806

    def move_last(d: int):
        return lambda *ix: (*ix[:d], ix[d] // V, *ix[d + 1:], ix[d] % V)

    wb = s.cache_read(blk, widx, "global")
    s.transform_layout(wb, ("write", 0), move_last(wdim))
    if f.block.reads[widx].buffer in _constant_params(s.func):
        # a constant weight: the graph builder runs this packing once, at compile time
        s.annotate(wb, "meta_schedule.layout_rewrite_preproc", 1)
    out_buf = f.block.writes[0].buffer
    epilogue = _epilogue_of(s, blk, out_buf)
    s.transform_layout(blk, ("write", 0), move_last(odim))
    loops = s.get_loops(blk)
    ns = len(f.spatial)
    sp, rd = loops[:ns], loops[ns:]
    # register tile over the other spatial axes, innermost first
    regs = knob("REGISTER_BUDGET")
    want = knob("PACKED_VECTORS")
    pointwise = _pointwise(f, widx)
    wide = (knob("POINTWISE_WIDE") and want is None and pointwise
            and 2 * f.spatial[-1][1] <= knob("POINTWISE_WIDE_REGISTERS") - 2)
    if wide:  # (see POINTWISE_WIDE)
        regs, want = knob("POINTWISE_WIDE_REGISTERS"), 2
    budget = regs - 2
    if want is not None:  # the points get what ``want`` channel vectors leave
        budget = max(1, budget // want)
    elif (knob("POINTWISE_HALF_TILE") and pointwise
            and f.spatial[-1][1] <= 2 * budget
            and 4 * _divisor_at_most(f.spatial[-1][1], budget // 2) >= budget):
        # no window along the output (a 1x1 convolution) and rows of at most two
        # tiles: half the points, two channel vectors — fewer loads per multiply-add.
        # (Wider rows keep the wide tile: with few input channels their time goes to
        # the epilogue, which a wide tile vectorizes.)
        budget //= 2
    factors = [1] * ns
    width_max = knob("PACKED_WIDTH_MAX")
    for k in range(ns - 1, -1, -1):
        if k == fpos:
            continue
        cap = budget if width_max is None else min(budget, width_max)
        width_max = None  # only the innermost axis
        factors[k] = _divisor_at_most(f.spatial[k][1], max(1, cap))
        budget //= factors[k]
    nvec = f.spatial[fpos][1] // V
    fu = _divisor_at_most(nvec, max(1, min(
        knob("PACKED_VECTORS_MAX") if want is None else want,
        (regs - 2) // max(1, _prod(factors)))))
    outer, inner, outer_ext, outer_pos = [], [], [], []
    for k, lp in enumerate(sp):
        ext = f.spatial[k][1]
        if k == fpos:
            o, u, v = s.split(lp, [None, fu, V])
            outer.append(o)
            fouter = o
            outer_ext.append(ext // (fu * V))
            outer_pos.append(k)
            fvec = (u, v)
        elif factors[k] > 1 and factors[k] < ext:
            o, i = s.split(lp, [None, factors[k]])
            outer.append(o)
            outer_ext.append(ext // factors[k])
            outer_pos.append(k)
            inner.append(i)
        elif factors[k] > 1:
            inner.append(lp)
        else:
            outer.append(lp)
            outer_ext.append(ext)
            outer_pos.append(k)
    # small weights (L2-resident) but large other inputs: channel blocks innermost of the
    # outer loops, so that each input tile is reused by every channel block while cached
    def nbytes(buf) -> int:
        return _prod([_const(d) or 1 for d in buf.shape]) * max(1, dt.itemsize(buf.dtype))

    wbuf = f.block.reads[widx].buffer
    others = max([nbytes(r.buffer) for r in f.block.reads
                  if r.buffer is not wbuf and r.buffer is not out_buf] or [0])
    large_input = others > knob("LARGE_INPUT_BYTES")
    channels_inner = knob("CHANNELS_INNER")
    if wide and channels_inner is None:
        channels_inner = False
    if channels_inner is None:
        channels_inner = (nbytes(wbuf) <= knob("SMALL_WEIGHT_BYTES")
                          and others > knob("INNER_INPUT_BYTES"))
    if channels_inner and len(outer) > 1:
        k = outer.index(fouter)
        outer.append(outer.pop(k))
        outer_ext.append(outer_ext.pop(k))
        outer_pos.append(outer_pos.pop(k))
    # the outer loops that will run in parallel (and hold the accumulators)
    npar, prod = 0, 1
    for e in outer_ext:
        npar += 1
        prod *= e
        if prod >= threads * knob("CHUNKS_PER_THREAD"):
            break
    stage_row = None
    if knob("CHANNEL_CHUNKS") and knob("STAGE_INPUT") and fouter in outer[:npar] \
            and len(outer) > 1 and large_input:
        # channel blocks in parallel (a large weight): a few chunks of them, each running
        # over the rows, every row staged once and used by all the chunk's blocks
        k = outer.index(fouter)
        nb = outer_ext[k]
        chunks = next((c for c in range(threads * knob("CHANNEL_CHUNKS"), nb)
                       if nb % c == 0), None)
        rows = [lp for lp, pos in zip(outer, outer_pos, strict=True) if pos == ns - 2]
        if chunks is not None and rows:
            fc, fi = s.split(fouter, [chunks, None])
            rest = [(lp, e) for lp, e in zip(outer, outer_ext, strict=True)
                    if lp is not fouter]
            outer = [fc, *[lp for lp, _ in rest], fi]
            outer_ext = [chunks, *[e for _, e in rest], nb // chunks]
            fouter, npar, stage_row = fi, 1, rows[0]
    # a weight slice too big for the cache: block the first reduction loop so that one
    # block of weights is reused by every remaining spatial tile while it is cached
    red_outer = []
    item = max(1, dt.itemsize(f.out_dtype))
    red_total = _prod([e for _, e in f.reduce])
    if (rd and npar < len(outer) and stage_row is None
            and red_total * fu * V * item > knob("WEIGHT_BLOCK_BYTES")):
        first = f.reduce[0][1]
        per = (red_total // first) * fu * V * item
        b = _divisor_at_most(first, max(1, knob("WEIGHT_BLOCK_BYTES") // per))
        if b < first:
            ro, ri = s.split(rd[0], [None, b])
            red_outer, rd = [ro], [ri, *rd[1:]]
    if red_outer:
        s.reorder(*outer[:npar], *red_outer, *outer[npar:], *rd, *inner, *fvec)
        anchor = outer[npar - 1]
    else:
        s.reorder(*outer, *rd, *inner, *fvec)
        anchor = outer[-1] if outer else None
    if epilogue is not None and anchor is not None:
        s.reverse_compute_at(epilogue, anchor)
        if knob("VECTOR_EPILOGUE") and _reads_along_last_axis(s, epilogue):
            # the epilogue reads another tensor along the output's contiguous axis (a
            # residual): vectorized along it, that load and the store are contiguous
            # and only the accumulator read is a gather — cheaper than all scalar
            ext = _const(s.get(s.get_loops(epilogue)[-1]).extent) or 1
            if ext >= 8:  # (a 7-lane gather costs more than it saves)
                s.vectorize(s.get_loops(epilogue)[-1])
    for lp in (*inner, fvec[0]):
        s.unroll(lp)
    s.vectorize(fvec[1])
    # the packing copy: the packed (innermost) V lanes vectorized — contiguous stores
    wl = s.get_loops(wb)
    if len(wl) == len(f.block.reads[widx].buffer.shape):
        wo, wi = s.split(wl[wdim], [None, V])
        rest = [lp for k, lp in enumerate(wl) if k != wdim]
        s.reorder(wo, *rest, wi)
        s.vectorize(wi)
        wl = [wo, *rest]
    if parallel and wl and (_const(s.get(wl[0]).extent) or 1) > 1:
        s.parallel(wl[0])
    par_loop = None
    if parallel and outer:
        par_loop = _parallel_prefix(s, outer[:npar], threads,
                                    knob("CHUNKS_PER_THREAD"))
    stage_at = par_loop if par_loop is not None else (outer[npar - 1] if outer else None)
    if stage_row is not None:
        stage_at = stage_row
    # staged only where every channel block reuses it (not re-copied per block)
    if knob("STAGE_INPUT") and stage_at is not None and fouter not in outer[:npar]:
        _stage_input(s, blk, s.get(wb).writes[0].buffer, out_buf, stage_at, V)
    if red_outer or rd:
        s.decompose_reduction(blk, (red_outer or rd)[0])
    return s.get(epilogue).name_hint if epilogue is not None else ""


def _stage_input(s: Schedule, blk, wbuf, out_buf, loop, lanes: int) -> None:
    """The largest input other than the weight, staged per iteration of ``loop`` (each
    thread's chunk of rows) in a compact buffer: the tile then reads its rows from a
    few KB (rows a tile visits successively lie a channel plane apart in the input —
    the same few L1 sets and a new page each — and the copy reads each plane's row
    once, contiguously). A padding producer is computed there instead of copied."""
    reads = [r.buffer for r in s.get(blk).reads]
    cands = [b for b in reads if b is not wbuf and b is not out_buf
             and b.scope != "local"]
    if not cands:
        return
    item = lambda b: _prod([_const(d) or 1 for d in b.shape])  # noqa: E731
    data = max(cands, key=item)
    producers = [p for p in s.get_producers(blk)
                 if any(w.buffer is data for w in s.get(p).writes)]
    if producers:
        stage = producers[0]
        if len(s.get_consumers(stage)) != 1:
            return
        s.compute_at(stage, loop)
    else:
        stage = s.cache_read(blk, reads.index(data), "global")
        s.compute_at(stage, loop)
    loops = s.get_loops(stage)
    inner = loops[-1]
    ext = _const(s.get(inner).extent) or 1
    if ext % lanes == 0:
        _, vi = s.split(inner, [None, lanes])
        s.vectorize(vi)
    elif ext > 1:
        s.vectorize(inner)
