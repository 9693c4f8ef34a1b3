"""Functions that build expressions: math intrinsics, min/max, division flavours, logic."""

from __future__ import annotations

from typing import Any

from . import dtype as dt
from .expr import (
    CALL_OPS,
    And,
    Call,
    FloorDiv,
    FloorMod,
    Max,
    Min,
    Mod,
    Not,
    Or,
    PrimExpr,
    Select,
    _as_bool,
    _binary,
    _match,
    cast,
    const,
    convert,
)
from .expr import (
    Div as _Div,
)


def min(a: Any, b: Any) -> PrimExpr:  # noqa: A001 - TVM's name
    return _binary(Min, a, b)


def max(a: Any, b: Any) -> PrimExpr:  # noqa: A001 - TVM's name
    return _binary(Max, a, b)


def floordiv(a: Any, b: Any) -> PrimExpr:
    return _binary(FloorDiv, a, b)


def floormod(a: Any, b: Any) -> PrimExpr:
    return _binary(FloorMod, a, b)


def truncdiv(a: Any, b: Any) -> PrimExpr:
    return _binary(_Div, a, b)


def truncmod(a: Any, b: Any) -> PrimExpr:
    return _binary(Mod, a, b)


def div(a: Any, b: Any) -> PrimExpr:
    return _binary(_Div, a, b)


def indexdiv(a: Any, b: Any) -> PrimExpr:
    return floordiv(a, b)


def indexmod(a: Any, b: Any) -> PrimExpr:
    return floormod(a, b)


def ceildiv(a: Any, b: Any) -> PrimExpr:
    a, b = _match(a, b)
    return FloorDiv(a + b - const(1, b.dtype), b)


def all(*conds: Any) -> PrimExpr:  # noqa: A001 - TVM's name
    """Logical and of the arguments (True when there are none)."""
    if len(conds) == 1 and isinstance(conds[0], (list, tuple)):
        conds = tuple(conds[0])
    if not conds:
        return const(True)
    out = _as_bool(convert(conds[0]))
    for c in conds[1:]:
        out = And(out, _as_bool(convert(c)))
    return out


def any(*conds: Any) -> PrimExpr:  # noqa: A001 - TVM's name
    """Logical or of the arguments (False when there are none)."""
    if len(conds) == 1 and isinstance(conds[0], (list, tuple)):
        conds = tuple(conds[0])
    if not conds:
        return const(False)
    out = _as_bool(convert(conds[0]))
    for c in conds[1:]:
        out = Or(out, _as_bool(convert(c)))
    return out


def logical_not(a: Any) -> PrimExpr:
    return Not(_as_bool(convert(a)))


def select(cond: Any, t: Any, f: Any) -> PrimExpr:
    """Both sides are evaluated; use :func:`if_then_else` to guard an access."""
    t, f = _match(t, f)
    return Select(_as_bool(convert(cond)), t, f)


def if_then_else(cond: Any, t: Any, f: Any) -> PrimExpr:
    """``t`` if ``cond`` else ``f``; only the selected side is evaluated."""
    t, f = _match(t, f)
    return Call(t.dtype, "if_then_else", (_as_bool(convert(cond)), t, f))


def call_intrin(dtype: str, op: str, *args: Any) -> PrimExpr:
    if op not in CALL_OPS:
        raise ValueError(f"unknown intrinsic {op!r}; known: {', '.join(sorted(CALL_OPS))}")
    if len(args) != CALL_OPS[op]:
        raise ValueError(f"intrinsic {op} takes {CALL_OPS[op]} arguments, got {len(args)}")
    return Call(dt.check_dtype(dtype), op, tuple(convert(a) for a in args))


def _float_unary(op: str):
    def f(x: Any) -> PrimExpr:
        x = convert(x)
        if not dt.is_float(x.dtype):
            x = cast("float32", x)
        return Call(x.dtype, op, (x,))

    f.__name__ = op
    f.__doc__ = f"Elementwise {op} (float argument; integers are cast to float32)."
    return f


exp = _float_unary("exp")
exp2 = _float_unary("exp2")
log = _float_unary("log")
log2 = _float_unary("log2")
log1p = _float_unary("log1p")
sqrt = _float_unary("sqrt")
rsqrt = _float_unary("rsqrt")
tanh = _float_unary("tanh")
sigmoid = _float_unary("sigmoid")
erf = _float_unary("erf")
sin = _float_unary("sin")
cos = _float_unary("cos")
floor = _float_unary("floor")
ceil = _float_unary("ceil")
round = _float_unary("round")  # noqa: A001 - TVM's name
trunc = _float_unary("trunc")


def abs(x: Any) -> PrimExpr:  # noqa: A001 - TVM's name
    x = convert(x)
    if dt.is_uint(x.dtype) or x.dtype == "bool":
        return x
    return Call(x.dtype, "abs", (x,))


def reinterpret(dtype: str, value: Any) -> PrimExpr:
    """The bits of ``value`` read as ``dtype`` (same width; TVM's ``tir.reinterpret``):
    float32 <-> uint32, float16 <-> uint16, a narrow dtype <-> its storage integer."""
    value = convert(value)
    dtype = dt.check_dtype(dtype)
    if "bool" in (dtype, value.dtype) or dt.bits(dtype) != dt.bits(value.dtype):
        raise ValueError(
            f"reinterpret: {value.dtype} and {dtype} do not have the same width in bits"
        )
    if value.dtype == dtype:
        return value
    return Call(dtype, "reinterpret", (value,))


def isnan(x: Any) -> PrimExpr:
    x = convert(x)
    return Call("bool", "isnan", (x,))


def pow(a: Any, b: Any) -> PrimExpr:  # noqa: A001 - TVM's name
    a, b = _match(a, b)
    if not dt.is_float(a.dtype):
        a, b = cast("float32", a), cast("float32", b)
    return Call(a.dtype, "pow", (a, b))


def fmod(a: Any, b: Any) -> PrimExpr:
    a, b = _match(a, b)
    return Call(a.dtype, "fmod", (a, b))


def max_value(dtype: str) -> PrimExpr:
    return const(dt.max_value(dtype), dtype)


def min_value(dtype: str) -> PrimExpr:
    return const(dt.min_value(dtype), dtype)


def infinity(dtype: str) -> PrimExpr:
    return const(float("inf"), dtype)


