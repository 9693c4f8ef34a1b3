"""Constant folding with the semantics LLVM gives each dtype (the ground truth for both the
simplifier and the reference evaluator).

Integers wrap to their width; ``Div``/``Mod`` truncate toward zero, ``FloorDiv``/``FloorMod``
round toward negative infinity. A fold that would be undefined at run time (division by
zero, ``INT_MIN / -1``, a float out of an integer's range) returns None: the caller leaves
the expression alone. Floats are computed in their own precision with numpy scalars.
"""

from __future__ import annotations

import math

import numpy as np

from .. import dtype as dt
from ..expr import (
    EQ,
    GE,
    GT,
    LE,
    LT,
    NE,
    Add,
    Div,
    FloorDiv,
    FloorMod,
    Max,
    Min,
    Mod,
    Mul,
    Sub,
)

_INFO: dict[str, tuple[int, bool, int, int]] = {}


def int_info(dtype: str) -> tuple[int, bool, int, int]:
    """``(bits, signed, min, max)`` of an integer or bool dtype (cached)."""
    info = _INFO.get(dtype)
    if info is None:
        b = dt.bits(dtype)
        signed = not (dt.is_uint(dtype) or dtype == "bool")
        lo = -(1 << (b - 1)) if signed else 0
        hi = (1 << (b - 1)) - 1 if signed else (1 << b) - 1
        info = _INFO[dtype] = (b, signed, lo, hi)
    return info


def wrap_int(value: int, dtype: str) -> int:
    """``value`` reduced to ``dtype`` as the machine would (two's complement; bool: != 0)."""
    if dtype == "bool":
        return int(value != 0)
    b, signed, lo, hi = int_info(dtype)
    if lo <= value <= hi:
        return value
    v = value & ((1 << b) - 1)
    if signed and v > hi:
        v -= 1 << b
    return v


def trunc_div(a: int, b: int) -> int:
    """C division of Python ints (rounds toward zero); ``b`` must be non-zero."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def fold_int(cls: type, a: int, b: int, dtype: str) -> int | None:
    """Fold an arithmetic or min/max op on integer constants; None if undefined."""
    if cls is Add:
        r = a + b
    elif cls is Sub:
        r = a - b
    elif cls is Mul:
        r = a * b
    elif cls is Min:
        return a if a <= b else b
    elif cls is Max:
        return a if a >= b else b
    else:
        if b == 0:
            return None
        if dtype == "bool":
            return a if cls in (Div, FloorDiv) else 0
        _, signed, lo, _ = int_info(dtype)
        if signed and a == lo and b == -1:
            return None  # overflows: undefined in C and LLVM
        if cls is Div:
            r = trunc_div(a, b)
        elif cls is Mod:
            r = a - b * trunc_div(a, b)
        elif cls is FloorDiv:
            r = a // b
        elif cls is FloorMod:
            r = a % b
        else:
            raise TypeError(f"fold_int: {cls.__name__} is not an arithmetic op")
    return wrap_int(r, dtype)


def fold_cmp(cls: type, a: int | float, b: int | float) -> bool:
    """Fold a comparison of constants (float NaN: all false except !=)."""
    if cls is LT:
        return a < b
    if cls is LE:
        return a <= b
    if cls is GT:
        return a > b
    if cls is GE:
        return a >= b
    if cls is EQ:
        return a == b
    if cls is NE:
        return a != b
    raise TypeError(f"fold_cmp: {cls.__name__} is not a comparison")


def _f(value: float, dtype: str):
    return np.dtype(dtype).type(value)


def fold_float(cls: type, a: float, b: float, dtype: str) -> float | None:
    """Fold a float op in ``dtype`` precision, as the generated code computes it.

    Division (all flavours) by zero is left alone. Min/Max follow the codegen's
    ``a < b ? a : b`` (a NaN first operand yields the second).
    """
    x, y = _f(a, dtype), _f(b, dtype)
    with np.errstate(all="ignore"):
        if cls is Add:
            r = x + y
        elif cls is Sub:
            r = x - y
        elif cls is Mul:
            r = x * y
        elif cls is Min:
            r = x if x < y else y
        elif cls is Max:
            r = x if x > y else y
        elif b == 0:
            return None
        elif cls is Div:
            r = x / y
        elif cls is FloorDiv:
            r = np.floor(x / y)
        elif cls is FloorMod:
            r = x - np.floor(x / y) * y
        elif cls is Mod:
            r = np.fmod(x, y)
        else:
            raise TypeError(f"fold_float: {cls.__name__} is not an arithmetic op")
    return float(_f(r, dtype))


def cast_value(value: int | float, src: str, dst: str) -> int | float | None:
    """Convert a constant from ``src`` to ``dst`` like LLVM's casts; None if undefined."""
    if dst == "bool":
        return int(value != 0)
    if dt.is_float(dst):
        if not dt.is_float(src) and abs(int(value)) > 2**53:
            return None  # numpy would round twice (via float64)
        return float(_f(value, dst))
    if dt.is_float(src):  # float -> int truncates; NaN/inf/out of range is poison
        if math.isnan(value) or math.isinf(value):
            return None
        v = math.trunc(value)
        _, _, lo, hi = int_info(dst)
        return v if lo <= v <= hi else None
    return wrap_int(int(value), dst)


#: Float intrinsics folded with numpy (``exp``/``tanh``/... may differ from the generated
#: code's fast approximations by a rounding error, no more).
_UNARY = {
    "exp": np.exp,
    "exp2": np.exp2,
    "log": np.log,
    "log2": np.log2,
    "log1p": np.log1p,
    "sqrt": np.sqrt,
    "tanh": np.tanh,
    "sin": np.sin,
    "cos": np.cos,
    "floor": np.floor,
    "ceil": np.ceil,
    "trunc": np.trunc,
    "round": np.rint,  # round half to even, like llvm.roundeven
}


def fold_call(op: str, args: list[int | float], dtype: str) -> int | float | bool | None:
    """Fold an intrinsic call on constant arguments; None when it is not folded."""
    if op == "abs":
        if dt.is_float(dtype):
            return abs(args[0])
        return wrap_int(abs(args[0]), dtype)
    if op == "isnan":
        return isinstance(args[0], float) and math.isnan(args[0])
    if not dt.is_float(dtype):
        return None
    with np.errstate(all="ignore"):
        if op in _UNARY:
            return float(_f(_UNARY[op](_f(args[0], dtype)), dtype))
        if op == "rsqrt":
            x = _f(args[0], dtype)
            return float(_f(_f(1.0, dtype) / np.sqrt(x), dtype))
        if op == "sigmoid":
            x = _f(args[0], dtype)
            one = _f(1.0, dtype)
            return float(_f(one / (one + np.exp(-x)), dtype))
        if op == "pow":
            return float(_f(np.power(_f(args[0], dtype), _f(args[1], dtype)), dtype))
    return None
