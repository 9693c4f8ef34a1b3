"""TE reductions: ``reduce_axis`` and the commutative reducers sum, prod, max and min."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import dtype as dt
from .. import op as tir_op
from ..expr import (
    IntImm,
    IterType,
    IterVar,
    PrimExpr,
    Range,
    Reduce,
    Var,
    _match,
    cast,
    const,
    convert,
)


class ReduceAxis(IterVar):
    """A reduction IterVar that also takes part in arithmetic (``ry * 2 + 1``, ``k < n``)
    through its variable, as TVM's IterVar does. Equality is identity: use ``k.var == 0``."""

    __slots__ = ()


def _delegate(name: str) -> Any:
    def method(self: ReduceAxis, *args: Any) -> Any:
        return getattr(self.var, name)(*args)

    method.__name__ = name
    return method


for _name in (
    "__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__",
    "__rtruediv__", "__floordiv__", "__rfloordiv__", "__mod__", "__rmod__", "__neg__",
    "__lt__", "__le__", "__gt__", "__ge__", "astype",
):
    setattr(ReduceAxis, _name, _delegate(_name))


def reduce_axis(dom: Any, name: str = "rv", thread_tag: str = "") -> ReduceAxis:
    """A reduction axis over ``dom``: a ``(lo, hi)`` pair (half-open), a Range or an extent."""
    if isinstance(dom, Range):
        rng = dom
    elif isinstance(dom, (tuple, list)):
        if len(dom) != 2:
            raise ValueError(f"reduce_axis {name}: dom must be (lo, hi), got {dom!r}")
        lo, hi = _match(dom[0], dom[1])
        if isinstance(lo, IntImm) and isinstance(hi, IntImm):
            rng = Range(lo, const(hi.value - lo.value, hi.dtype))
        else:
            rng = Range(lo, hi if _is_zero(lo) else hi - lo)
    elif isinstance(dom, (int, PrimExpr)) and not isinstance(dom, bool):
        ext = convert(dom)
        rng = Range(const(0, ext.dtype), ext)
    else:
        raise TypeError(f"reduce_axis {name}: dom must be (lo, hi) or a Range, got {dom!r}")
    for what, e in (("lower bound", rng.min), ("extent", rng.extent)):
        if not dt.is_int(e.dtype):
            raise TypeError(f"reduce_axis {name}: the {what} {e} has dtype {e.dtype}")
    return ReduceAxis(rng, Var(name, rng.extent.dtype), IterType.COMM_REDUCE, thread_tag)


def _is_zero(e: PrimExpr) -> bool:
    return getattr(e, "value", None) == 0


def _axes(axis: Any, reducer: str) -> tuple[IterVar, ...]:
    items = axis if isinstance(axis, (list, tuple)) else [axis]
    out = []
    for a in items:
        if not isinstance(a, IterVar):
            raise TypeError(
                f"te.{reducer}: axis must be a te.reduce_axis or a list of them, got {a!r}"
            )
        out.append(a)
    return tuple(out)


def _make_reducer(combiner: str, binary: Callable[[Any, Any], PrimExpr]) -> Callable[..., Any]:
    def reducer(expr: Any, axis: Any = None, where: Any = None, init: Any = None) -> PrimExpr:
        # te.max(a, b) with two expressions is the elementwise max, as in TVM
        if isinstance(axis, (PrimExpr, int, float)) and not isinstance(axis, IterVar):
            if where is not None or init is not None:
                raise TypeError(f"te.{combiner}(a, b) takes no where= or init=")
            return binary(expr, axis)
        if axis is None:
            raise TypeError(f"te.{combiner} needs axis= (a te.reduce_axis or a list of them)")
        source = convert(expr)
        cond = None if where is None else tir_op.all(where)
        init_e = None if init is None else cast(source.dtype, convert(init))
        return Reduce(combiner, source, _axes(axis, combiner), cond, init_e)

    reducer.__name__ = combiner
    reducer.__qualname__ = combiner
    reducer.__doc__ = (
        f"The {combiner} of ``expr`` over the reduce axes ``axis`` (only the points where "
        f"``where`` holds; starting from ``init`` instead of the identity when given). "
        f"With two expressions ``te.{combiner}(a, b)`` combines them elementwise."
    )
    return reducer


sum = _make_reducer("sum", lambda a, b: _add(a, b))  # noqa: A001 - TVM's name
prod = _make_reducer("prod", lambda a, b: _mul(a, b))
max = _make_reducer("max", tir_op.max)  # noqa: A001 - TVM's name
min = _make_reducer("min", tir_op.min)  # noqa: A001 - TVM's name


def _add(a: Any, b: Any) -> PrimExpr:
    x, y = _match(a, b)
    return x + y


def _mul(a: Any, b: Any) -> PrimExpr:
    x, y = _match(a, b)
    return x * y


def identity(combiner: str, dtype: str) -> PrimExpr:
    """The identity element of ``combiner`` in ``dtype`` (max/min use the dtype's extremes,
    as TVM does)."""
    if combiner == "sum":
        return const(0, dtype)
    if combiner == "prod":
        return const(1, dtype)
    if combiner == "max":
        return tir_op.min_value(dtype)
    if combiner == "min":
        return tir_op.max_value(dtype)
    raise ValueError(f"unknown reduction combiner {combiner!r}; known: sum, prod, max, min")


def combine(combiner: str, lhs: PrimExpr, rhs: PrimExpr) -> PrimExpr:
    """``lhs`` combined with ``rhs`` by ``combiner``."""
    if combiner == "sum":
        return lhs + rhs
    if combiner == "prod":
        return lhs * rhs
    if combiner == "max":
        return tir_op.max(lhs, rhs)
    if combiner == "min":
        return tir_op.min(lhs, rhs)
    raise ValueError(f"unknown reduction combiner {combiner!r}; known: sum, prod, max, min")


def comm_reducer(fcombine: Callable, fidentity: Callable, name: str = "reduce") -> Any:
    """User-defined reducers are not supported: the IR's Reduce names its combiner."""
    raise NotImplementedError(
        f"te.comm_reducer ({name}): user-defined reducers are not supported; use te.sum, "
        f"te.prod, te.max or te.min"
    )

