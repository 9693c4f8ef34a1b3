"""Small helpers on constant expressions: tests for and extraction of integer constants."""

from __future__ import annotations

from typing import Any

from ..expr import FloatImm, IntImm, PrimExpr


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
