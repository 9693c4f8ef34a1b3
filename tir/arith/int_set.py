"""Symbolic integer intervals: the set an expression covers when some variables range over
their domains (TVM's IntervalSet / EvalSet)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .. import dtype as dt
from ..expr import (
    Add,
    Call,
    Cast,
    FloorDiv,
    FloorMod,
    IntImm,
    Max,
    Min,
    Mul,
    PrimExpr,
    Range,
    Select,
    Sub,
    Var,
)
from ..functor import children
from .bound import BoundEval, dtype_range
from .linear import Sum, sum_add, sum_scale
from .simplify import Simplifier


@dataclass(frozen=True, slots=True)
class IntervalSet:
    """The integers ``min <= x <= max`` (both inclusive); None means unbounded that side."""

    min: PrimExpr | None
    max: PrimExpr | None

    @staticmethod
    def single_point(e: PrimExpr) -> IntervalSet:
        return IntervalSet(e, e)

    @staticmethod
    def everything() -> IntervalSet:
        return IntervalSet(None, None)

    def is_single_point(self) -> bool:
        """True when ``min`` and ``max`` are the same expression object."""
        return self.min is not None and self.min is self.max

    def is_everything(self) -> bool:
        return self.min is None and self.max is None

    def has_lower_bound(self) -> bool:
        return self.min is not None

    def has_upper_bound(self) -> bool:
        return self.max is not None

    def is_bounded(self) -> bool:
        return self.min is not None and self.max is not None


_Bounds = tuple[Sum | None, Sum | None]


class IntSetEval:
    """Evaluates the interval of integer expressions with the variables of ``dom``
    relaxed to ``[lo, hi]`` (expressions, inclusive); every other variable is a point.

    Works on the canonical sums of ``simp``: a term ``k·atom`` contributes ``k·lo`` or
    ``k·hi`` of the atom's interval depending on the sign of ``k``.
    """

    def __init__(self, simp: Simplifier, dom: Mapping[Var, tuple[PrimExpr, PrimExpr]]):
        self.s = simp
        self.dom = dom
        self.uses: dict[int, tuple[PrimExpr, bool]] = {}
        self.memo: dict[int, tuple[PrimExpr, _Bounds]] = {}
        self._bounds: BoundEval | None = None

    def interval(self, e: PrimExpr) -> IntervalSet:
        """The (simplified) interval of ``e``."""
        s = self.s
        e = s.visit(e)
        if not self._uses_dom(e):
            return IntervalSet(e, e)
        if not _is_index(e.dtype):
            return IntervalSet.everything()
        lo, hi = self._sum_bounds(s.lin(e), e.dtype)
        return IntervalSet(
            None if lo is None else s.emit(lo, e.dtype),
            None if hi is None else s.emit(hi, e.dtype),
        )

    # -- helpers --------------------------------------------------------------------------
    def _uses_dom(self, e: PrimExpr) -> bool:
        hit = self.uses.get(id(e))
        if hit is not None:
            return hit[1]
        t = type(e)
        if t is Var:
            r = e in self.dom
        elif t is IntImm:
            r = False
        elif t in _BINARY:  # index arithmetic: its two operands, without the generic walk
            r = self._uses_dom(e.a) or self._uses_dom(e.b)
        else:
            r = any(self._uses_dom(c) for c in children(e) if isinstance(c, PrimExpr))
        self.uses[id(e)] = (e, r)
        return r

    def _sum_bounds(self, s: Sum, dtype: str) -> _Bounds:
        lo: Sum | None = Sum({}, s.base)
        hi: Sum | None = lo
        for t, k in s.terms.items():
            tl, th = self._atom(t, dtype)
            if k < 0:
                tl, th = th, tl
            lo = None if lo is None or tl is None else sum_add(lo, sum_scale(tl, k))
            hi = None if hi is None or th is None else sum_add(hi, sum_scale(th, k))
        return lo, hi

    def _atom(self, t: PrimExpr, dtype: str) -> _Bounds:
        hit = self.memo.get(id(t))
        if hit is not None:
            return hit[1]
        r = self._atom_uncached(t, dtype)
        self.memo[id(t)] = (t, r)
        return r

    def _atom_uncached(self, t: PrimExpr, dtype: str) -> _Bounds:
        s = self.s
        if not self._uses_dom(t):
            p = s.lin(t)
            return p, p
        cls = type(t)
        if cls is Var:
            lo, hi = self.dom[t]
            return (None if lo is None else s.lin(lo)), (None if hi is None else s.lin(hi))
        if cls in (FloorDiv, FloorMod) and type(t.b) is IntImm and t.b.value > 0:
            c = t.b.value
            lo, hi = self._sum_bounds(s.lin(t.a), dtype)
            if cls is FloorDiv:
                return (
                    None if lo is None else s.floordiv(lo, c, dtype),
                    None if hi is None else s.floordiv(hi, c, dtype),
                )
            if lo is not None and hi is not None:
                ql, qh = s.floordiv(lo, c, dtype), s.floordiv(hi, c, dtype)
                if _same(s, ql, qh, dtype):  # [lo, hi] lies inside one block of c
                    return s.floormod(lo, c, dtype), s.floormod(hi, c, dtype)
            return self._const(t)
        if cls in (Min, Max):
            al, ah = self._sum_bounds(s.lin(t.a), dtype)
            bl, bh = self._sum_bounds(s.lin(t.b), dtype)
            return self._minmax(cls, al, bl, dtype, True), self._minmax(cls, ah, bh, dtype, False)
        if cls is Select or (cls is Call and t.op == "if_then_else"):
            c, a, b = (t.condition, t.true_value, t.false_value) if cls is Select else t.args
            cv = s.visit(c)
            if type(cv) is IntImm:
                return self._sum_bounds(s.lin(a if cv.value else b), dtype)
            al, ah = self._sum_bounds(s.lin(a), dtype)
            bl, bh = self._sum_bounds(s.lin(b), dtype)
            return self._minmax(Min, al, bl, dtype, True), self._minmax(Max, ah, bh, dtype, False)
        if cls is Cast and _is_index(t.value.dtype):
            vlo, vhi = dtype_range(t.value.dtype)
            tlo, thi = dtype_range(t.dtype)
            if tlo <= vlo and vhi <= thi:  # widening: the interval carries over
                iv = self.interval(t.value)
                return (
                    None if iv.min is None else s.lin(s.visit(Cast(t.dtype, iv.min))),
                    None if iv.max is None else s.lin(s.visit(Cast(t.dtype, iv.max))),
                )
        return self._const(t)

    def _minmax(self, cls: type, a: Sum | None, b: Sum | None, dtype: str, low: bool):
        """min/max of two interval ends; an unbounded end (None) absorbs or yields."""
        if a is None or b is None:
            absorbing = (cls is Min) == low  # min of lows / max of highs
            if absorbing:
                return None
            return b if a is None else a
        s = self.s
        return s.lin(s.visit(cls(s.emit(a, dtype), s.emit(b, dtype))))

    def _const(self, t: PrimExpr) -> _Bounds:
        """Fallback: constant bounds of ``t`` with the relaxed variables at their extremes."""
        if self._bounds is None:
            vb = dict(self.s.var_bounds)
            for v, (lo, hi) in self.dom.items():
                bl = self.s.bounds.bound(lo)[0]
                bh = self.s.bounds.bound(hi)[1]
                vb[v] = (bl, bh)
            self._bounds = BoundEval(vb)
        lo, hi = self._bounds.bound(t)
        dlo, dhi = dtype_range(t.dtype)
        return (
            None if lo <= dlo else Sum({}, lo),
            None if hi >= dhi else Sum({}, hi),
        )


_BINARY = frozenset((Add, Sub, Mul, FloorDiv, FloorMod, Min, Max))


def _same(s: Simplifier, a: Sum, b: Sum, dtype: str) -> bool:
    d = s.merge_fuse(sum_add(a, sum_scale(b, -1)))
    return not d.terms and d.base == 0


def _is_index(dtype: str) -> bool:
    return dt.is_int(dtype)


def dom_bounds(
    simp: Simplifier, dom_map: Mapping[Var, Range | IntervalSet]
) -> dict[Var, tuple[PrimExpr | None, PrimExpr | None]]:
    """``{var: (min, max)}`` (inclusive, simplified) from ranges ``[min, min + extent)``."""
    out = {}
    for v, r in dom_map.items():
        if isinstance(r, IntervalSet):
            out[v] = (r.min, r.max)
            continue
        mn, ext = r.min, r.extent
        if type(mn) is IntImm and type(ext) is IntImm and mn.dtype == ext.dtype \
                and mn.dtype[0] in "iu":
            # constant domain: the same constants the simplifier would give, without
            # building and simplifying ``min + extent - 1``
            out[v] = (simp.const(mn.value, mn.dtype),
                      simp.const(mn.value + ext.value - 1, mn.dtype))
            continue
        lo = simp.visit(mn)
        out[v] = (lo, simp.visit(mn + ext - 1))
    return out

