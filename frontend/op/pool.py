"""Pooling: max / average pooling over 1-3 spatial dims (NC...), global pooling."""

from __future__ import annotations

from typing import Any

from onnxtune.tir import dtype as dt
from onnxtune.tir import te
from onnxtune.tir.expr import PrimExpr, cast, const

from . import OpPattern, register_op
from ._util import float_dtype, ints, pad_stage, prod, scalar, shape_of
from .nn import conv_pads


def _geometry(data: te.Tensor, pool_size: Any, strides: Any, padding: Any, dilation: Any,
              ceil_mode: bool, name: str):
    shp = shape_of(data)
    nd = len(shp) - 2
    if nd < 1:
        raise ValueError(f"{name}: data must be at least 3-d (N, C, ...), got {shp}")
    k = ints(pool_size, nd, f"{name} pool_size")
    st = ints(strides, nd, f"{name} strides")
    dil = ints(dilation, nd, f"{name} dilation")
    before, after = conv_pads(padding, nd, name)
    osz, extra = [], []
    for j in range(nd):
        span = shp[2 + j] + before[j] + after[j] - dil[j] * (k[j] - 1) - 1
        if span < 0:
            raise ValueError(f"{name}: window {k} (dilation {dil}) exceeds the padded input")
        o = (-(-span // st[j]) if ceil_mode else span // st[j]) + 1
        # a window may not start in the end padding (ONNX / PyTorch ceil mode rule)
        if ceil_mode and (o - 1) * st[j] >= shp[2 + j] + before[j]:
            o -= 1
        osz.append(o)
        need = (o - 1) * st[j] + dil[j] * (k[j] - 1) + 1
        extra.append(max(0, need - (shp[2 + j] + before[j] + after[j])))
    return shp, nd, k, st, dil, before, after, osz, extra


def max_pool(data: te.Tensor, pool_size: Any, strides: Any = 1, padding: Any = 0,
             dilation: Any = 1, ceil_mode: bool = False, name: str = "max_pool") -> te.Tensor:
    """Max over each window; padding holds the dtype's lowest value."""
    return _max_pool_parts(data, pool_size, strides, padding, dilation, ceil_mode, name)[0]


def _max_pool_parts(data: te.Tensor, pool_size: Any, strides: Any, padding: Any,
                    dilation: Any, ceil_mode: bool, name: str):
    """(max values, padded input, geometry)."""
    geo = _geometry(data, pool_size, strides, padding, dilation, ceil_mode, name)
    shp, nd, k, st, dil, before, after, osz, extra = geo
    low = (const(float("-inf"), data.dtype) if dt.is_float(data.dtype)
           else scalar(dt.min_value(data.dtype), data.dtype))
    pad = pad_stage(data, (0, 0, *before),
                    (0, 0, *(a + e for a, e in zip(after, extra, strict=True))), low)
    rs = [te.reduce_axis((0, k[j]), name=f"rv{j}") for j in range(nd)]

    def f(n: PrimExpr, c: PrimExpr, *o: PrimExpr) -> PrimExpr:
        idx = (n, c, *(o[j] * st[j] + rs[j] * dil[j] for j in range(nd)))
        return te.max(pad[idx], axis=rs)

    return te.compute((shp[0], shp[1], *osz), f, name=name), pad, geo


def max_pool_blocked(data: te.Tensor, pool_size: Any, strides: Any = 1, padding: Any = 0,
                     dilation: Any = 1, ceil_mode: bool = False,
                     name: str = "max_pool2d") -> te.Tensor:
    """2-d max pool of ``NCHW{b}c`` data (N, C/b, H, W, b): windows over H and W, the
    channel lanes carried along."""
    shp = shape_of(data)
    if len(shp) != 5:
        raise ValueError(f"{name}: NCHW<b>c data must be 5-d, got shape {shp}")
    # the window geometry is that of the NCHW view (N, C/b, H, W)
    view = te.placeholder(shp[:4], data.dtype, name="view")
    _, nd, k, st, dil, before, after, osz, extra = _geometry(
        view, pool_size, strides, padding, dilation, ceil_mode, name)
    low = (const(float("-inf"), data.dtype) if dt.is_float(data.dtype)
           else scalar(dt.min_value(data.dtype), data.dtype))
    pad = pad_stage(data, (0, 0, *before, 0),
                    (0, 0, *(a + e for a, e in zip(after, extra, strict=True)), 0), low)
    rs = [te.reduce_axis((0, k[j]), name=f"rv{j}") for j in range(nd)]

    def f(n: PrimExpr, c: PrimExpr, y: PrimExpr, x: PrimExpr, lane: PrimExpr) -> PrimExpr:
        o = (y, x)
        idx = (n, c, *(o[j] * st[j] + rs[j] * dil[j] for j in range(nd)), lane)
        return te.max(pad[idx], axis=rs)

    return te.compute((shp[0], shp[1], *osz, shp[4]), f, name=name)


def max_pool_with_indices(data: te.Tensor, pool_size: Any, strides: Any = 1,
                          padding: Any = 0, dilation: Any = 1, ceil_mode: bool = False,
                          storage_order: int = 0,
                          name: str = "max_pool") -> tuple[te.Tensor, te.Tensor]:
    """(max values, int64 indices) as ONNX MaxPool's two outputs. An index is the flat
    position of the window's first maximum (in the window's row-major scan; padding never
    counts) in the whole input: ``(n * C + c) * prod(spatial) + s`` with ``s`` the
    row-major (``storage_order=0``) or column-major (``1``) spatial offset."""
    if storage_order not in (0, 1):
        raise ValueError(f"{name}: storage_order must be 0 or 1, got {storage_order!r}")
    vals, pad, geo = _max_pool_parts(data, pool_size, strides, padding, dilation,
                                     ceil_mode, name)
    shp, nd, k, st, dil, before, after, osz, extra = geo
    sp = shp[2:]
    big = const(prod(sp), "int64")  # above every spatial offset: "no hit"
    rs = [te.reduce_axis((0, k[j]), name=f"ri{j}") for j in range(nd)]

    def first(n: PrimExpr, c: PrimExpr, *o: PrimExpr) -> PrimExpr:
        # the first maximum in the row-major scan has the smallest row-major offset
        p = [o[j] * st[j] + rs[j] * dil[j] for j in range(nd)]
        conds = []
        for j in range(nd):
            if before[j]:
                conds.append(p[j] >= before[j])
            if (osz[j] - 1) * st[j] + (k[j] - 1) * dil[j] >= before[j] + sp[j]:
                conds.append(p[j] < before[j] + sp[j])
        conds.append(pad[(n, c, *p)] == vals[(n, c, *o)])
        off: Any = const(0, "int64")
        for j in range(nd):
            q = cast("int64", p[j] - before[j] if before[j] else p[j])
            off = off * sp[j] + q if j else q
        return te.min(te.if_then_else(te.all(*conds), off, big), axis=rs)

    rm = te.compute((shp[0], shp[1], *osz), first, name=f"{name}_argmax")

    def index(n: PrimExpr, c: PrimExpr, *o: PrimExpr) -> PrimExpr:
        f = rm[(n, c, *o)]
        if storage_order == 1 and nd > 1:  # the same element's column-major offset
            rem, coords = f, []
            for j in range(nd - 1, -1, -1):
                coords.append(rem % sp[j] if j else rem)
                rem = rem // sp[j]
            coords = coords[::-1]
            f = coords[nd - 1]
            for j in range(nd - 2, -1, -1):
                f = f * sp[j] + coords[j]
        base = (cast("int64", n) * shp[1] + cast("int64", c)) * prod(sp)
        return base + f

    return vals, te.compute((shp[0], shp[1], *osz), index, name=f"{name}_indices")


def avg_pool(data: te.Tensor, pool_size: Any, strides: Any = 1, padding: Any = 0,
             dilation: Any = 1, ceil_mode: bool = False, count_include_pad: bool = False,
             name: str = "avg_pool") -> te.Tensor:
    """Mean over each window: a sum block, then a divide by the window's point count (points
    in the input, or in the explicitly padded input with ``count_include_pad``)."""
    shp, nd, k, st, dil, before, after, osz, extra = _geometry(
        data, pool_size, strides, padding, dilation, ceil_mode, name)
    d = float_dtype(data.dtype)
    pad = pad_stage(data, (0, 0, *before),
                    (0, 0, *(a + e for a, e in zip(after, extra, strict=True))),
                    scalar(0, data.dtype))
    rs = [te.reduce_axis((0, k[j]), name=f"rv{j}") for j in range(nd)]

    def fsum(n: PrimExpr, c: PrimExpr, *o: PrimExpr) -> PrimExpr:
        idx = (n, c, *(o[j] * st[j] + rs[j] * dil[j] for j in range(nd)))
        return te.sum(cast(d, pad[idx]), axis=rs)

    total = te.compute((shp[0], shp[1], *osz), fsum, name=f"{name}_sum")

    def count(j: int, o: PrimExpr) -> PrimExpr:
        lo, hi = (0, shp[2 + j] + before[j] + after[j]) if count_include_pad else (
            before[j], before[j] + shp[2 + j])
        start = o * st[j]
        if dil[j] == 1:
            a = te.max(start, lo)
            b = te.min(start + k[j], hi)
            return te.max(b - a, 0)
        # the r in [0, k) with lo <= start + r * d < hi
        r0 = te.max(te.ceildiv(te.max(lo - start, 0), dil[j]), 0)
        r1 = te.min(te.floordiv(hi - 1 - start, dil[j]), k[j] - 1)
        return te.max(r1 - r0 + 1, 0)

    full = all(e == 0 for e in extra) and (
        count_include_pad or (not any(before) and not any(after)))

    def favg(n: PrimExpr, c: PrimExpr, *o: PrimExpr) -> PrimExpr:
        if full:
            cnt: PrimExpr = scalar(prod(k), d)
        else:
            cnt = cast(d, _product([count(j, o[j]) for j in range(nd)]))
        return cast(data.dtype, total[(n, c, *o)] / cnt)

    return te.compute((shp[0], shp[1], *osz), favg, name=name)


def _product(xs: list[PrimExpr]) -> PrimExpr:
    out = xs[0]
    for x in xs[1:]:
        out = out * x
    return out


for _nd in (1, 2, 3):

    def _mk(nd: int) -> None:
        def mp(data: te.Tensor, pool_size: Any, strides: Any = 1, padding: Any = 0,
               dilation: Any = 1, ceil_mode: bool = False, layout: str = "NCHW") -> te.Tensor:
            if layout != "NCHW":
                _blocked_layout(layout, nd, f"nn.max_pool{nd}d")
                return max_pool_blocked(data, pool_size, strides, padding, dilation,
                                        ceil_mode, name=f"max_pool{nd}d")
            _rank(data, nd, f"nn.max_pool{nd}d")
            return max_pool(data, pool_size, strides, padding, dilation, ceil_mode,
                            name=f"max_pool{nd}d")

        def ap(data: te.Tensor, pool_size: Any, strides: Any = 1, padding: Any = 0,
               dilation: Any = 1, ceil_mode: bool = False,
               count_include_pad: bool = False) -> te.Tensor:
            _rank(data, nd, f"nn.avg_pool{nd}d")
            return avg_pool(data, pool_size, strides, padding, dilation, ceil_mode,
                            count_include_pad, name=f"avg_pool{nd}d")

        def mpi(data: te.Tensor, pool_size: Any, strides: Any = 1, padding: Any = 0,
                dilation: Any = 1, ceil_mode: bool = False,
                storage_order: int = 0) -> tuple[te.Tensor, te.Tensor]:
            _rank(data, nd, f"nn.max_pool{nd}d_with_indices")
            return max_pool_with_indices(data, pool_size, strides, padding, dilation,
                                         ceil_mode, storage_order, name=f"max_pool{nd}d")

        register_op(f"nn.max_pool{nd}d", OpPattern.OUT_EWISE_FUSABLE)(mp)
        register_op(f"nn.max_pool{nd}d_with_indices", OpPattern.OPAQUE, num_outputs=2)(mpi)
        register_op(f"nn.avg_pool{nd}d", OpPattern.OUT_EWISE_FUSABLE)(ap)

    _mk(_nd)


def _blocked_layout(layout: str, nd: int, name: str) -> int:
    """The channel block of ``layout`` (``"NCHW{b}c"``, 2-d pools only)."""
    from .transform import channel_block

    b = channel_block(layout, name)
    if nd != 2 or not b:
        raise ValueError(f"{name}: layout {layout!r}: only 2-d pools take a blocked "
                         "layout ('NCHW<b>c')")
    return b


def _rank(data: te.Tensor, nd: int, name: str) -> None:
    if len(shape_of(data)) != nd + 2:
        raise ValueError(f"{name}: data must be {nd + 2}-d, got shape {shape_of(data)}")


def _global(data: te.Tensor, kind: str, layout: str = "NCHW") -> te.Tensor:
    name = f"nn.global_{kind}_pool2d"
    shp = shape_of(data)
    if len(shp) < 3:
        raise ValueError(f"{name}: data must be at least 3-d, got {shp}")
    lanes: tuple[int, ...] = ()
    if layout != "NCHW":
        b = _blocked_layout(layout, 2, name)
        if len(shp) != 5 or shp[4] != b:
            raise ValueError(f"{name}: {layout} data must be 5-d (N, C/{b}, H, W, {b}), "
                             f"got shape {shp}")
        lanes = (b,)
    sp = shp[2:len(shp) - len(lanes)]
    out = (shp[0], shp[1], *([1] * len(sp)), *lanes)
    d = float_dtype(data.dtype) if kind == "avg" else data.dtype

    def f(n: PrimExpr, c: PrimExpr, *rest: PrimExpr) -> PrimExpr:
        rs = [te.reduce_axis((0, s), name=f"rv{j}") for j, s in enumerate(sp)]
        v = data[(n, c, *rs, *rest[len(sp):])]
        return te.sum(cast(d, v), axis=rs) if kind == "avg" else te.max(v, axis=rs)

    red = te.compute(out, f, name=f"global_{kind}_pool_{'sum' if kind == 'avg' else 'max'}")
    if kind == "max":
        return red
    inv = scalar(1.0 / prod(sp), d)
    return te.compute(out, lambda *i: cast(data.dtype, red[i] * inv), name="global_avg_pool")


@register_op("nn.global_avg_pool2d", OpPattern.OUT_EWISE_FUSABLE)
def global_avg_pool2d(data: te.Tensor, layout: str = "NCHW") -> te.Tensor:
    """Mean over all spatial dims (any rank >= 3) → (N, C, 1, ...); ``layout="NCHW16c"``:
    over H and W of (N, C/16, H, W, 16) → (N, C/16, 1, 1, 16)."""
    return _global(data, "avg", layout)


@register_op("nn.global_max_pool2d", OpPattern.OUT_EWISE_FUSABLE)
def global_max_pool2d(data: te.Tensor, layout: str = "NCHW") -> te.Tensor:
    """Max over all spatial dims (any rank >= 3) → (N, C, 1, ...); ``layout`` as for
    ``nn.global_avg_pool2d``."""
    return _global(data, "max", layout)
