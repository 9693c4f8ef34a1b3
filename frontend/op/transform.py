"""Layout and indexing ops: reshape, transpose, concat, split, slicing, gathers, tile, pad."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from onnxtune.tir import op as tir_op
from onnxtune.tir import te
from onnxtune.tir.expr import PrimExpr, cast, const

from . import OpPattern, register_op
from ._util import norm_axis, prod, ravel, scalar, shape_of, unravel


@register_op("reshape", OpPattern.INJECTIVE)
def reshape(x: te.Tensor, newshape: Sequence[int]) -> te.Tensor:
    """Same elements in row-major order, shape ``newshape`` (static ints, no -1/0 codes)."""
    shp = shape_of(x)
    new = tuple(int(s) for s in newshape)
    if any(s < 0 for s in new) or prod(new) != prod(shp):
        raise ValueError(f"reshape: cannot reshape {shp} ({prod(shp)} elements) to {new}")
    if new == shp:
        return te.compute(new, lambda *i: x[i], name="reshape")

    def f(*i: PrimExpr) -> PrimExpr:
        if not shp:
            return x[()]
        flat = ravel(i, new) if new else const(0, "int32")
        return x[tuple(unravel(flat, shp))]

    return te.compute(new, f, name="reshape")


def channel_block(layout: str, op: str) -> int:
    """The channel block ``b`` of a layout ``"NCHW"`` (0) or ``"NCHW{b}c"``; ValueError
    naming ``op`` and the layout for anything else."""
    if layout == "NCHW":
        return 0
    body = layout[4:-1] if layout.startswith("NCHW") and layout.endswith("c") else ""
    if body.isdigit() and int(body) > 0:
        return int(body)
    raise ValueError(f"{op}: layout {layout!r} is neither 'NCHW' nor 'NCHW<b>c' "
                     "(e.g. 'NCHW16c')")


@register_op("layout_transform", OpPattern.INJECTIVE)
def layout_transform(x: te.Tensor, src_layout: str, dst_layout: str) -> te.Tensor:
    """``NCHW`` <-> ``NCHW{b}c``: the channels split into blocks of ``b``, the block
    innermost (``y[n, c // b, h, w, c % b] = x[n, c, h, w]``), or back."""
    shp = shape_of(x)
    src = channel_block(src_layout, "layout_transform")
    dst = channel_block(dst_layout, "layout_transform")
    if bool(src) == bool(dst):
        raise ValueError(f"layout_transform: from {src_layout!r} to {dst_layout!r}: "
                         "exactly one of them must be blocked ('NCHW<b>c')")
    if dst:
        if len(shp) != 4 or shp[1] % dst:
            raise ValueError(f"layout_transform: an NCHW input of shape {shp} does not "
                             f"split into {dst_layout} (4-d, channels a multiple of {dst})")
        n, c, h, w = shp
        return te.compute((n, c // dst, h, w, dst),
                          lambda i, co, y, z, ci: x[i, co * dst + ci, y, z],
                          name="layout_transform")
    if len(shp) != 5 or shp[4] != src:
        raise ValueError(f"layout_transform: an input of shape {shp} is not {src_layout} "
                         f"(5-d, last dim {src})")
    n, co, h, w, b = shp
    return te.compute((n, co * b, h, w), lambda i, c, y, z: x[i, c // b, y, z, c % b],
                      name="layout_transform")


@register_op("transpose", OpPattern.INJECTIVE)
def transpose(x: te.Tensor, axes: Sequence[int] | None = None) -> te.Tensor:
    shp = shape_of(x)
    nd = len(shp)
    perm = tuple(range(nd))[::-1] if axes is None else tuple(
        norm_axis(a, nd, "transpose") for a in axes)
    if sorted(perm) != list(range(nd)):
        raise ValueError(f"transpose: axes {tuple(axes or ())} is not a permutation of 0..{nd - 1}")

    def f(*i: PrimExpr) -> PrimExpr:
        src: list[Any] = [None] * nd
        for k, a in enumerate(perm):
            src[a] = i[k]
        return x[tuple(src)]

    return te.compute(tuple(shp[a] for a in perm), f, name="transpose")


@register_op("concat", OpPattern.INJECTIVE)
def concat(*inputs: te.Tensor, axis: int = 0) -> te.Tensor:
    if not inputs:
        raise ValueError("concat: needs at least one input")
    shp0 = shape_of(inputs[0])
    ax = norm_axis(axis, len(shp0), "concat")
    for t in inputs[1:]:
        s = shape_of(t)
        if len(s) != len(shp0) or any(
                a != b for j, (a, b) in enumerate(zip(s, shp0, strict=True)) if j != ax):
            raise ValueError(f"concat: shapes {[shape_of(u) for u in inputs]} differ outside "
                             f"axis {ax}")
    parts = [t for t in inputs if shape_of(t)[ax] > 0] or [inputs[0]]
    offs, total = [], 0
    for t in parts:
        offs.append(total)
        total += shape_of(t)[ax]
    out = tuple(total if j == ax else s for j, s in enumerate(shp0))

    def f(*i: PrimExpr) -> PrimExpr:
        def at(k: int) -> PrimExpr:
            o = offs[k]
            return parts[k][tuple(i[j] - o if j == ax and o else i[j] for j in range(len(i)))]

        val = at(len(parts) - 1)
        for k in range(len(parts) - 2, -1, -1):
            val = te.if_then_else(i[ax] < offs[k + 1], at(k), val)
        return val

    return te.compute(out, f, name="concatenate")


def _slice_axis(x: te.Tensor, ax: int, start: int, stop: int, name: str) -> te.Tensor:
    shp = shape_of(x)
    out = tuple(stop - start if j == ax else s for j, s in enumerate(shp))
    return te.compute(
        out, lambda *i: x[tuple(i[j] + start if j == ax and start else i[j]
                                for j in range(len(i)))], name=name)


@register_op("split", OpPattern.INJECTIVE, num_outputs=None)
def split(x: te.Tensor, indices_or_sections: Any, axis: int = 0) -> tuple[te.Tensor, ...]:
    """An int: that many equal parts; a sequence: the split points (numpy.split)."""
    shp = shape_of(x)
    ax = norm_axis(axis, len(shp), "split")
    n = shp[ax]
    if isinstance(indices_or_sections, int):
        k = indices_or_sections
        if k <= 0 or n % k:
            raise ValueError(f"split: axis {ax} of length {n} does not split into {k} parts")
        points = [n // k * j for j in range(1, k)]
    else:
        points = [int(p) for p in indices_or_sections]
    bounds = [0, *points, n]
    for a, b in zip(bounds, bounds[1:], strict=False):
        if not 0 <= a <= b <= n:
            raise ValueError(f"split: split points {points} are not increasing within [0, {n}]")
    return tuple(
        _slice_axis(x, ax, a, b, "split") for a, b in zip(bounds, bounds[1:], strict=False))


@register_op("strided_slice", OpPattern.INJECTIVE)
def strided_slice(x: te.Tensor, begin: Sequence[int], end: Sequence[int],
                  strides: Sequence[int] | None = None,
                  axes: Sequence[int] | None = None) -> te.Tensor:
    """ONNX Slice: per listed axis ``x[begin:end:stride]`` with clamping, negative indices
    and negative strides."""
    shp = shape_of(x)
    nd = len(shp)
    axes_t = tuple(range(len(begin))) if axes is None else tuple(axes)
    strides_t = (1,) * len(begin) if strides is None else tuple(strides)
    if not len(begin) == len(end) == len(axes_t) == len(strides_t):
        raise ValueError(f"strided_slice: begin {tuple(begin)}, end {tuple(end)}, strides "
                         f"{strides_t} and axes {axes_t} must have equal lengths")
    start = [0] * nd
    step = [1] * nd
    size = list(shp)
    seen = set()
    for b, e, s, a in zip(begin, end, strides_t, axes_t, strict=True):
        ax = norm_axis(a, nd, "strided_slice")
        if ax in seen:
            raise ValueError(f"strided_slice: axis {a} is listed twice")
        seen.add(ax)
        if int(s) == 0:
            raise ValueError("strided_slice: a stride is 0")
        r = range(*slice(int(b), int(e), int(s)).indices(shp[ax]))
        start[ax], step[ax], size[ax] = r.start, r.step, len(r)

    def f(*i: PrimExpr) -> PrimExpr:
        src = []
        for j in range(nd):
            v = i[j] if step[j] == 1 else i[j] * step[j]
            src.append(v + start[j] if start[j] else v)
        return x[tuple(src)]

    return te.compute(tuple(size), f, name="strided_slice")


def _wrap(idx: PrimExpr, n: int) -> PrimExpr:
    """An index (any int dtype) as int32 in [0, n): negative values count from the end."""
    i = cast("int32", idx) if idx.dtype != "int32" else idx
    return tir_op.select(i < 0, i + n, i)


@register_op("take", OpPattern.INJECTIVE)
def take(data: te.Tensor, indices: te.Tensor, axis: int = 0) -> te.Tensor:
    """ONNX Gather: ``out[pre, idx, post] = data[pre, indices[idx], post]``."""
    shp, ish = shape_of(data), shape_of(indices)
    ax = norm_axis(axis, len(shp), "take")
    out = (*shp[:ax], *ish, *shp[ax + 1:])
    ni = len(ish)

    def f(*i: PrimExpr) -> PrimExpr:
        k = _wrap(indices[tuple(i[ax:ax + ni])], shp[ax])
        return data[(*i[:ax], k, *i[ax + ni:])]

    return te.compute(out, f, name="take")


@register_op("gather_elements", OpPattern.INJECTIVE)
def gather_elements(data: te.Tensor, indices: te.Tensor, axis: int = 0) -> te.Tensor:
    """``out[i] = data[i with i[axis] replaced by indices[i]]`` (ONNX GatherElements)."""
    shp, ish = shape_of(data), shape_of(indices)
    if len(shp) != len(ish):
        raise ValueError(f"gather_elements: data {shp} and indices {ish} differ in rank")
    ax = norm_axis(axis, len(shp), "gather_elements")

    def f(*i: PrimExpr) -> PrimExpr:
        k = _wrap(indices[i], shp[ax])
        return data[tuple(k if j == ax else i[j] for j in range(len(i)))]

    return te.compute(ish, f, name="gather_elements")


@register_op("tile", OpPattern.INJECTIVE)
def tile(x: te.Tensor, reps: Sequence[int]) -> te.Tensor:
    """numpy.tile: repeat ``reps[j]`` times along each dim (shorter side padded with 1s)."""
    shp = shape_of(x)
    reps_t = tuple(int(r) for r in reps)
    nd = max(len(shp), len(reps_t))
    s = (1,) * (nd - len(shp)) + shp
    r = (1,) * (nd - len(reps_t)) + reps_t
    out = tuple(a * b for a, b in zip(s, r, strict=True))
    off = nd - len(shp)

    def f(*i: PrimExpr) -> PrimExpr:
        return x[tuple(i[off + j] % s[off + j] if r[off + j] != 1 else i[off + j]
                       for j in range(len(shp)))]

    return te.compute(out, f, name="tile")


@register_op("nn.pad", OpPattern.INJECTIVE)
def pad(x: te.Tensor, pad_width: Sequence[Sequence[int]], pad_value: Any = 0.0,
        mode: str = "constant") -> te.Tensor:
    """Pad by ``pad_width[j] = (before, after)`` (negative crops): a constant, the edge
    value, the reflection (without repeating the edge), or the periodic wrap-around
    (``mode="wrap"``, numpy's and ONNX's wrap). A dim cropped on one side and padded on the
    other is cropped first, then padded from what is left (as onnxruntime does)."""
    shp = shape_of(x)
    pw = [(int(a), int(b)) for a, b in pad_width]
    if len(pw) != len(shp):
        raise ValueError(f"nn.pad: pad_width has {len(pw)} pairs for a {len(shp)}-d tensor")
    if mode not in ("constant", "edge", "reflect", "wrap"):
        raise ValueError(f"nn.pad: mode must be constant, edge, reflect or wrap, got {mode!r}")
    out = tuple(s + a + b for s, (a, b) in zip(shp, pw, strict=True))
    if any(o < 0 for o in out):
        raise ValueError(f"nn.pad: pad_width {pw} crops {shp} below zero")
    # per dim: the part kept after the crops, [lo, lo + m)
    kept = [(max(0, -a), s - max(0, -a) - max(0, -b)) for s, (a, b) in zip(shp, pw, strict=True)]
    for (a, b), (_, m) in zip(pw, kept, strict=True):
        if mode == "reflect" and max(a, b) > 0 and max(a, b) >= m:
            raise ValueError(f"nn.pad: reflect padding {pw} needs pads smaller than the "
                             f"(cropped) dims of {shp}")
        if mode in ("edge", "wrap") and max(a, b) > 0 and m <= 0:
            raise ValueError(f"nn.pad: {mode} padding {pw} of an empty dim of {shp}")
    value = scalar(pad_value, x.dtype)

    def f(*i: PrimExpr) -> PrimExpr:
        conds, src = [], []
        for j, ((a, b), n) in enumerate(zip(pw, shp, strict=True)):
            v = i[j] - a if a else i[j]  # index into x
            if a <= 0 and b <= 0:
                src.append(v)
                continue
            if mode == "constant":
                if a > 0:
                    conds.append(v >= 0)
                if b > 0:
                    conds.append(v < n)
                src.append(v)
                continue
            lo, m = kept[j]
            w = i[j] - a if a > 0 else i[j]  # index into the kept part
            if mode == "edge":
                w = te.min(te.max(w, 0), m - 1)
            elif mode == "wrap":
                w = te.floormod(w, m) if m > 1 else const(0, i[j].dtype)
            else:
                w = tir_op.select(w < 0, 0 - w, w)
                w = tir_op.select(w >= m, 2 * (m - 1) - w, w)
            src.append(w + lo if lo else w)
        if conds:
            return te.if_then_else(te.all(*conds), x[tuple(src)], value)
        return x[tuple(src)]

    return te.compute(out, f, name="pad")
