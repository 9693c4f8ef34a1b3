"""Small helpers on constant expressions: tests for and extraction of integer constants."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..expr import (
    Add,
    FloatImm,
    FloorDiv,
    FloorMod,
    IntImm,
    Max,
    Min,
    Mul,
    PrimExpr,
    Sub,
    Var,
)
from ..functor import substitute


def is_const_int(e: Any, value: int | None = None) -> bool:
    """True if ``e`` is an integer constant (an ``IntImm`` or a Python int), equal to
    ``value`` when given. Bool constants count (as 0/1)."""
    if isinstance(e, IntImm):
        v = e.value
    elif isinstance(e, int):
        v = int(e)
    else:
        return False
    return value is None or v == value


def get_const_int(e: Any) -> int:
    """The value of an integer constant; raises ValueError naming ``e`` otherwise."""
    if isinstance(e, IntImm):
        return e.value
    if isinstance(e, int):
        return int(e)
    if isinstance(e, PrimExpr):
        raise ValueError(f"expected an integer constant, got the expression {expr_text(e)}")
    raise ValueError(f"expected an integer constant, got {type(e).__name__} {e!r}")


def is_zero(e: Any) -> bool:
    """True if ``e`` is the constant 0 (integer) or 0.0 (float)."""
    if isinstance(e, FloatImm):
        return e.value == 0.0
    return is_const_int(e, 0)


def is_one(e: Any) -> bool:
    """True if ``e`` is the constant 1 (integer) or 1.0 (float)."""
    if isinstance(e, FloatImm):
        return e.value == 1.0
    return is_const_int(e, 1)


def expr_text(e: Any) -> str:
    """Printable text of an expression for error messages (falls back to the node type)."""
    try:
        return repr(e)
    except Exception:  # the printer may be missing or not know this node yet
        return f"<{type(e).__name__}>"


_BIN_TYPES = (Add, Sub, Mul, FloorDiv, FloorMod, Min, Max)


def substitute_expr(e: Any, vmap: Mapping[Var, PrimExpr]) -> Any:
    """:func:`onnxtune.tir.functor.substitute` of an index expression: the same result
    (unchanged subtrees shared), by a direct walk over variables, integer constants and
    binary arithmetic; any other node goes through the generic substituter."""
    if not vmap:
        return e
    t = type(e)
    if t is Var:
        return vmap.get(e, e)
    if t is IntImm:
        return e
    if t in _BIN_TYPES:
        a, b = substitute_expr(e.a, vmap), substitute_expr(e.b, vmap)
        return e if a is e.a and b is e.b else t(a, b)
    return substitute(e, vmap)
