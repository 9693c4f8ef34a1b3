"""The Analyzer: variable bindings plus simplification, constant bounds, interval sets and
proofs over them; ``simplify(expr)`` for a one-off call."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from .. import dtype as dt
from ..expr import (
    EQ,
    GE,
    GT,
    LE,
    LT,
    NE,
    And,
    Cast,
    FloatImm,
    IntImm,
    IterVar,
    PrimExpr,
    Range,
    Var,
    convert,
)
from .bound import NEG_INF, POS_INF, BoundEval, ConstIntBound, clamp
from .fold import int_info
from .int_set import IntervalSet, IntSetEval, dom_bounds
from .linear import const_int, keep_identity, sum_sub
from .simplify import Simplifier
from .utils import expr_text

_F = TypeVar("_F", bound=Callable[..., Any])

#: memo entries after which an analyzer's simplifier is replaced by a fresh one (bounds
#: the memory of an analyzer that lives long; results do not depend on the memo)
_MEMO_LIMIT = 50000


def _deep_ok(fn: _F) -> _F:
    """Retry with a higher recursion limit when an expression is very deep (the analyses
    recurse about four frames per nesting level)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except RecursionError:
            old = sys.getrecursionlimit()
            sys.setrecursionlimit(max(old, 20000))
            try:
                return fn(*args, **kwargs)
            finally:
                sys.setrecursionlimit(old)

    return wrapper  # type: ignore[return-value]


class Analyzer:
    """Facts about variables and the analyses that use them.

    ``bind(v, Range)`` gives ``v`` a domain, ``bind(v, expr)`` a value. Construction and
    :meth:`copy` are cheap (three small dicts), so make one per scope.
    """

    __slots__ = ("_bounds", "_simp", "_values", "_ranges")

    def __init__(self) -> None:
        self._bounds: dict[Var, tuple[int, int]] = {}
        self._values: dict[Var, PrimExpr] = {}
        self._ranges: dict[Var, Range] = {}
        # the simplifier of the current bindings: its memo tables make repeated queries
        # about the same (sub)expressions cheap; a bind starts a new one
        self._simp: Simplifier | None = None

    def copy(self) -> Analyzer:
        """An independent analyzer with the same bindings."""
        a = Analyzer()
        a._bounds = dict(self._bounds)
        a._values = dict(self._values)
        a._ranges = dict(self._ranges)
        a._simp = None
        return a

    # -- facts ----------------------------------------------------------------------------
    def bind(self, var: Var | IterVar, value: Range | PrimExpr | int) -> None:
        """Bind ``var`` to a domain (a Range, ``[min, min + extent)``) or to a value.

        A later bind of the same variable replaces the earlier one. A range of extent 1
        binds the variable to its minimum.
        """
        if isinstance(var, IterVar):
            var = var.var
        if not isinstance(var, Var):
            raise TypeError(f"Analyzer.bind: expected a Var, got {type(var).__name__}")
        self._bounds.pop(var, None)
        self._values.pop(var, None)
        self._ranges.pop(var, None)
        self._simp = None
        if isinstance(value, Range) and self._bind_const_range(var, value):
            return
        simp = Simplifier(self._bounds, self._values)
        if isinstance(value, IterVar):
            value = value.dom
        if isinstance(value, Range):
            mn, ext = simp.visit(convert(value.min)), simp.visit(convert(value.extent))
            if type(ext) is IntImm and ext.value <= 0:
                raise ValueError(
                    f"Analyzer.bind: variable {var.name} bound to the empty range "
                    f"[{expr_text(mn)}, +{ext.value})"
                )
            if type(ext) is IntImm and ext.value == 1:
                self._bind_value(var, mn, simp)
                return
            self._ranges[var] = Range(mn, ext)
            if dt.is_int(var.dtype):
                lo = simp.bounds.bound(mn)[0]
                hi = simp.bounds.bound(simp.visit(mn + ext - 1))[1]
                self._bounds[var] = clamp(lo, hi, var.dtype)
            return
        self._bind_value(var, simp.visit(convert(value)), simp)

    def _bind_const_range(self, var: Var, rng: Range) -> bool:
        """The common case of :meth:`bind`, a constant integer range of the variable's own
        dtype, without a simplifier (same result); False if it does not apply."""
        mn, ext = rng.min, rng.extent
        dtype = var.dtype
        if type(mn) is not IntImm or type(ext) is not IntImm or mn.dtype != dtype \
                or ext.dtype != dtype or not dt.is_int(dtype) or ext.value <= 0:
            return False
        lo, hi = mn.value, mn.value + ext.value - 1
        _, _, dlo, dhi = int_info(dtype)
        if not (dlo <= lo and hi <= dhi and ext.value <= dhi):
            return False  # wrapping constants: the general path
        if ext.value == 1:
            self._values[var] = const_int(lo, dtype)
        else:
            self._ranges[var] = Range(const_int(lo, dtype), const_int(ext.value, dtype))
        self._bounds[var] = clamp(lo, hi, dtype)
        return True

    def _bind_value(self, var: Var, value: PrimExpr, simp: Simplifier) -> None:
        if value.dtype != var.dtype:
            value = simp.visit(Cast(var.dtype, value))
        self._values[var] = value
        if dt.is_int(var.dtype) and dt.is_int(value.dtype):
            self._bounds[var] = clamp(*simp.bounds.bound(value), var.dtype)

    def _simplifier(self) -> Simplifier:
        simp = self._simp
        if simp is None or len(simp.vmemo) > _MEMO_LIMIT:  # a long-lived analyzer: start over
            simp = self._simp = Simplifier(self._bounds, self._values)
        return simp

    # -- analyses -------------------------------------------------------------------------
    def simplify(self, expr: PrimExpr | int | float) -> PrimExpr:
        """The simplified expression (see :mod:`onnxtune.tir.arith.simplify`)."""
        t = type(expr)
        if t is Var:  # fast path: a variable without a value or a single-point bound
            if expr not in self._values:
                b = self._bounds.get(expr)
                if b is None or b[0] != b[1]:
                    return expr
        elif t is IntImm and const_int(expr.value, expr.dtype).value == expr.value:
            return expr  # an in-range constant is already simple
        if not isinstance(expr, PrimExpr):
            expr = convert(expr)
        simp = self._simp
        if simp is None or len(simp.vmemo) > _MEMO_LIMIT:
            simp = self._simplifier()
        try:
            return keep_identity(expr, simp.visit(expr))
        except RecursionError:
            return self._simplify_deep(expr)

    @_deep_ok
    def _simplify_deep(self, expr: PrimExpr) -> PrimExpr:
        return keep_identity(expr, self._simplifier().visit(expr))

    rewrite_simplify = simplify
    canonical_simplify = simplify

    @_deep_ok
    def const_int_bound(self, expr: PrimExpr | int) -> ConstIntBound:
        """Constant ``[min_value, max_value]`` of an integer expression (``NEG_INF`` /
        ``POS_INF`` where unbounded; floats are always unbounded)."""
        expr = convert(expr)
        if not (dt.is_int(expr.dtype) or expr.dtype == "bool"):
            return ConstIntBound(NEG_INF, POS_INF)
        simp = self._simplifier()
        lo, hi = BoundEval(self._bounds).bound(expr)
        r = simp.visit(expr)
        if type(r) is IntImm:
            return ConstIntBound(r.value, r.value)
        if dt.is_int(r.dtype):
            rl, rh = clamp(*simp.raw_bound(simp.lin(r)), r.dtype)
            lo, hi = max(lo, rl), min(hi, rh)
        return ConstIntBound(max(lo, NEG_INF), min(hi, POS_INF))

    @_deep_ok
    def int_set(
        self, expr: PrimExpr | int, dom_map: Mapping[Var, Range | IntervalSet] | None = None
    ) -> IntervalSet:
        """The interval ``expr`` covers when each variable of ``dom_map`` ranges over its
        domain; other variables stay symbolic. Bounds are simplified expressions."""
        expr = convert(expr)
        simp = self._simplifier()
        return IntSetEval(simp, dom_bounds(simp, dom_map or {})).interval(expr)

    @_deep_ok
    def can_prove(self, cond: PrimExpr | bool) -> bool:
        """True only if ``cond`` holds for every value the bound variables can take."""
        cond = convert(cond)
        simp = self._simplifier()
        r = simp.visit(cond)
        return self._prove(simp, r)

    def _prove(self, simp: Simplifier, r: PrimExpr) -> bool:
        if type(r) is IntImm:
            return bool(r.value)
        if type(r) is And:
            return self._prove(simp, r.a) and self._prove(simp, r.b)
        cls = type(r)
        symbolic = {
            v: rg
            for v, rg in self._ranges.items()
            if type(rg.min) is not IntImm or type(rg.extent) is not IntImm
        }
        if cls in (LT, LE, GT, GE, EQ, NE) and dt.is_int(r.a.dtype) and symbolic:
            # relax the variables with symbolic domains, then decide on the difference
            iv = IntSetEval(simp, dom_bounds(simp, symbolic)).interval(
                simp.emit(sum_sub(simp.lin(r.a), simp.lin(r.b)), r.a.dtype)
            )
            lo = None if iv.min is None else simp.raw_bound(simp.lin(iv.min))[0]
            hi = None if iv.max is None else simp.raw_bound(simp.lin(iv.max))[1]
            if cls is LT:
                return hi is not None and hi < 0
            if cls is LE:
                return hi is not None and hi <= 0
            if cls is GT:
                return lo is not None and lo > 0
            if cls is GE:
                return lo is not None and lo >= 0
            if cls is EQ:
                return lo is not None and lo == hi == 0
            return (lo is not None and lo > 0) or (hi is not None and hi < 0)
        return False

    @_deep_ok
    def can_prove_equal(self, a: Any, b: Any) -> bool:
        """True if ``a`` and ``b`` provably have the same value."""
        a, b = convert(a), convert(b)
        simp = self._simplifier()
        ra, rb = simp.visit(a), simp.visit(b)
        if ra is rb:
            return True
        if dt.is_int(ra.dtype) and ra.dtype == rb.dtype:
            d = simp.merge_fuse(sum_sub(simp.lin(ra), simp.lin(rb)))
            return not d.terms and d.base == 0
        if isinstance(ra, (IntImm, FloatImm)) and isinstance(rb, (IntImm, FloatImm)):
            return ra.dtype == rb.dtype and ra.value == rb.value
        return False

    # -- introspection --------------------------------------------------------------------
    def var_range(self, var: Var) -> Range | None:
        """The domain ``var`` was bound to, if any."""
        return self._ranges.get(var)

    def var_value(self, var: Var) -> PrimExpr | None:
        """The value ``var`` was bound to, if any."""
        return self._values.get(var)

    def bindings(self) -> Mapping[Var, Range | PrimExpr]:
        """Every binding (domains and values)."""
        return {**self._ranges, **self._values}


def simplify(expr: PrimExpr | int | float, analyzer: Analyzer | None = None) -> PrimExpr:
    """Simplify ``expr`` (with ``analyzer``'s bindings when given)."""
    return (analyzer or Analyzer()).simplify(expr)
