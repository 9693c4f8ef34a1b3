"""Reductions: sum / mean / max / min / prod over axes, argmax / argmin."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from onnxtune.tir import dtype as dt
from onnxtune.tir import te
from onnxtune.tir.expr import PrimExpr, cast, const

from . import OpPattern, register_op
from ._util import norm_axes, norm_axis, prod, scalar, shape_of


def reduce(x: te.Tensor, axis: Any, keepdims: bool, reducer: Callable[..., PrimExpr],
           name: str, dtype: str | None = None) -> te.Tensor:
    """One reduction block of ``reducer`` (te.sum, te.max, ...) over ``axis``."""
    shp = shape_of(x)
    axes = norm_axes(axis, len(shp), name)
    dtype = dtype or x.dtype
    kept = [j for j in range(len(shp)) if j not in axes]
    out = tuple(1 if j in axes else shp[j] for j in range(len(shp))) if keepdims else tuple(
        shp[j] for j in kept)

    if any(shp[j] == 0 for j in axes):  # nothing to reduce: the identity (ONNX empty set)
        ident = _EMPTY[reducer.__name__](dtype)
        return te.compute(out, lambda *i: ident, name=name)

    def f(*i: PrimExpr) -> PrimExpr:
        rs = [te.reduce_axis((0, shp[j]), name=f"k{j}") for j in axes]
        it_r = iter(rs)
        it_o = iter(i) if not keepdims else None
        src = []
        for j in range(len(shp)):
            if j in axes:
                src.append(next(it_r))
            else:
                src.append(i[j] if keepdims else next(it_o))  # type: ignore[arg-type]
        return reducer(cast(dtype, x[tuple(src)]), axis=rs)

    return te.compute(out, f, name=name)


def _extreme(dtype: str, sign: int) -> PrimExpr:
    if dt.is_float(dtype):
        return const(sign * float("inf"), dtype)
    return scalar(dt.max_value(dtype) if sign > 0 else dt.min_value(dtype), dtype)


#: what a reduction over nothing gives
_EMPTY = {
    "sum": lambda d: scalar(0, d),
    "prod": lambda d: scalar(1, d),
    "max": lambda d: _extreme(d, -1),
    "min": lambda d: _extreme(d, 1),
}


def _register(name: str, reducer: Callable[..., PrimExpr]) -> None:
    def compute(x: te.Tensor, axis: Any = None, keepdims: bool = False) -> te.Tensor:
        return reduce(x, axis, keepdims, reducer, name)

    compute.__name__ = name
    compute.__doc__ = f"The {name} over ``axis`` (None = all)."
    register_op(name, OpPattern.COMM_REDUCE)(compute)


_register("sum", te.sum)
_register("max", te.max)
_register("min", te.min)
_register("prod", te.prod)


@register_op("mean", OpPattern.COMM_REDUCE)
def mean(x: te.Tensor, axis: Any = None, keepdims: bool = False) -> te.Tensor:
    """Sum block, then a divide by the number of reduced points."""
    shp = shape_of(x)
    axes = norm_axes(axis, len(shp), "mean")
    s = reduce(x, axis, keepdims, te.sum, "mean_sum")
    n = prod([shp[j] for j in axes])
    if n == 0:  # the mean of nothing: NaN (0 for integers)
        nan = const(float("nan"), x.dtype) if dt.is_float(x.dtype) else scalar(0, x.dtype)
        return te.compute(s.shape, lambda *i: nan, name="mean")
    if dt.is_float(x.dtype):
        return te.compute(s.shape, lambda *i: s[i] * scalar(1.0 / n, x.dtype), name="mean")
    return te.compute(s.shape, lambda *i: te.truncdiv(s[i], scalar(n, x.dtype)), name="mean")


def _arg(x: te.Tensor, axis: int, keepdims: bool, select_last_index: bool,
         largest: bool) -> te.Tensor:
    name = "argmax" if largest else "argmin"
    shp = shape_of(x)
    ax = norm_axis(axis, len(shp), name)
    best = reduce(x, ax, True, te.max if largest else te.min, f"{name}_value")
    out = tuple(1 if j == ax else shp[j] for j in range(len(shp))) if keepdims else tuple(
        shp[j] for j in range(len(shp)) if j != ax)
    n = shp[ax]

    def f(*i: PrimExpr) -> PrimExpr:
        r = te.reduce_axis((0, n), name="k")
        full = list(i) if keepdims else [*i[:ax], 0, *i[ax:]]
        src = tuple(r if j == ax else full[j] for j in range(len(shp)))
        kept = tuple(0 if j == ax else full[j] for j in range(len(shp)))
        hit = x[src] == best[kept]
        idx = cast("int64", r)
        if select_last_index:
            return te.max(te.if_then_else(hit, idx, const(-1, "int64")), axis=r)
        return te.min(te.if_then_else(hit, idx, const(n, "int64")), axis=r)

    return te.compute(out, f, name=name)


@register_op("argmax", OpPattern.COMM_REDUCE)
def argmax(x: te.Tensor, axis: int = 0, keepdims: bool = True,
           select_last_index: bool = False) -> te.Tensor:
    """Index (int64) of the largest element along ``axis`` (first or last among ties)."""
    return _arg(x, axis, keepdims, select_last_index, True)


@register_op("argmin", OpPattern.COMM_REDUCE)
def argmin(x: te.Tensor, axis: int = 0, keepdims: bool = True,
           select_last_index: bool = False) -> te.Tensor:
    """Index (int64) of the smallest element along ``axis`` (first or last among ties)."""
    return _arg(x, axis, keepdims, select_last_index, False)
