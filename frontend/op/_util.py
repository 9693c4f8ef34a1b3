"""Shared helpers of the operator library: axes, broadcasting, constants, naming."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from onnxtune.tir import dtype as dt
from onnxtune.tir import te
from onnxtune.tir.expr import PrimExpr, cast, const


def shape_of(t: te.Tensor) -> tuple[int, ...]:
    """The static shape of ``t`` as ints."""
    return t.static_shape()


def norm_axis(axis: int, ndim: int, op: str) -> int:
    """``axis`` in ``[0, ndim)`` (negative counts from the end); ValueError when out of range."""
    a = int(axis)
    if not -ndim <= a < max(ndim, 1):
        raise ValueError(f"{op}: axis {axis} is out of range for a {ndim}-d tensor")
    return a + ndim if a < 0 else a


def norm_axes(axis: Any, ndim: int, op: str) -> tuple[int, ...]:
    """Sorted unique axes from None (all), an int or a sequence of ints."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, int):
        axis = (axis,)
    out = sorted({norm_axis(a, ndim, op) for a in axis})
    if len(out) != len(tuple(axis)):
        raise ValueError(f"{op}: axis {tuple(axis)} lists an axis twice")
    return tuple(out)


def broadcast_shape(shapes: Sequence[Sequence[int]], op: str) -> tuple[int, ...]:
    """numpy's broadcast of ``shapes``; ValueError naming the shapes if incompatible."""
    ndim = max((len(s) for s in shapes), default=0)
    out = []
    for k in range(ndim):
        d = 1
        for s in shapes:
            j = k - (ndim - len(s))
            if j < 0:
                continue
            e = int(s[j])
            if e == 1:
                continue
            if d not in (1, e):
                raise ValueError(
                    f"{op}: shapes {[tuple(x) for x in shapes]} cannot be broadcast together"
                )
            d = e
        out.append(d)
    return tuple(out)


def bcast_index(t: te.Tensor, out_idx: Sequence[Any]) -> tuple[Any, ...]:
    """Index into ``t`` for output index ``out_idx`` under numpy broadcasting."""
    shp = shape_of(t)
    off = len(out_idx) - len(shp)
    return tuple(
        const(0, "int32") if shp[k] == 1 else out_idx[off + k] for k in range(len(shp))
    )


def scalar(value: float | int | bool, dtype: str) -> PrimExpr:
    """A constant of ``dtype``."""
    if dt.is_float(dtype):
        return const(float(value), dtype)
    if dtype == "bool":
        return const(bool(value), "bool")
    return const(int(value), dtype)


def to(dtype: str, e: Any) -> PrimExpr:
    return cast(dtype, e)


def float_dtype(dtype: str) -> str:
    """``dtype`` if a float, else float32 (what math on integers computes in)."""
    return dtype if dt.is_float(dtype) else "float32"


def ints(x: Any, n: int, what: str) -> tuple[int, ...]:
    """A tuple of ``n`` ints from an int or a sequence of length ``n``."""
    if isinstance(x, int):
        return (int(x),) * n
    t = tuple(int(v) for v in x)
    if len(t) != n:
        raise ValueError(f"{what} must be an int or {n} ints, got {tuple(x)}")
    return t


def prod(xs: Sequence[int]) -> int:
    out = 1
    for x in xs:
        out *= int(x)
    return out


def unravel(flat: PrimExpr, shape: Sequence[int]) -> list[PrimExpr]:
    """Row-major multi-index of the flat index ``flat`` within ``shape``."""
    idx: list[PrimExpr] = []
    rem = flat
    for k in range(len(shape) - 1, -1, -1):
        s = int(shape[k])
        if k == 0:
            idx.append(rem)
        elif s == 1:
            idx.append(const(0, flat.dtype))
        else:
            idx.append(rem % s)
            rem = rem // s
    return idx[::-1]


def ravel(idx: Sequence[Any], shape: Sequence[int]) -> PrimExpr:
    """Row-major flat index of ``idx`` within ``shape``."""
    out: Any = const(0, "int32")
    for i, s in zip(idx, shape, strict=True):
        out = out * int(s) + i if int(s) != 1 else out
    return out


def pad_stage(
    data: te.Tensor,
    before: Sequence[int],
    after: Sequence[int],
    value: PrimExpr,
    name: str = "pad_temp",
) -> te.Tensor:
    """``data`` padded by ``before``/``after`` elements per dimension with ``value`` (an
    injective stage of its own, as TOPI pads); ``data`` itself when nothing is padded.
    Negative amounts crop."""
    shp = shape_of(data)
    if not any(before) and not any(after):
        return data
    out = tuple(s + b + a for s, b, a in zip(shp, before, after, strict=True))

    def f(*i: PrimExpr) -> PrimExpr:
        conds = []
        src = []
        for k, (ik, b) in enumerate(zip(i, before, strict=True)):
            if b > 0:
                conds.append(ik >= b)
            if out[k] - b > shp[k]:
                conds.append(ik < shp[k] + b)
            src.append(ik - b if b else ik)
        if not conds:
            return data[tuple(src)]
        return te.if_then_else(te.all(*conds), data[tuple(src)], value)

    return te.compute(out, f, name=name)
