"""Division rules of the simplifier: ``//`` and ``%`` by constants on canonical sums, using
known bounds, and the merge that undoes a split (``(x // c)·c + x % c → x``)."""

from __future__ import annotations

from math import gcd

from ..expr import Div, FloorDiv, FloorMod, IntImm, Mod, PrimExpr
from .fold import fold_int, int_info, wrap_int
from .linear import EMPTY, Sum, dtype_of, sum_add, sum_scale, sum_sub


class DivModRules:
    """Mixin of :class:`~.simplify.Simplifier`: needs ``lin``, ``emit``, ``mk``, ``const``,
    ``bounds`` and ``lmemo``."""

    def _lin_div(self, e: PrimExpr) -> Sum:
        cls = type(e)
        dtype = dtype_of(e, self.dtypes)
        sa, sb = self.lin(e.a), self.lin(e.b)
        if not sb.terms:
            c = wrap_int(sb.base, dtype)
            if not sa.terms:
                r = fold_int(cls, wrap_int(sa.base, dtype), c, dtype)
                if r is not None:
                    return Sum(EMPTY, r)
            elif c == 1:
                return sa if cls in (FloorDiv, Div) else Sum(EMPTY, 0)
            elif c > 0 and int_info(dtype)[1]:
                if cls is FloorDiv:
                    return self.floordiv(sa, c, dtype)
                if cls is FloorMod:
                    return self.floormod(sa, c, dtype)
                if sa.base % c == 0 and all(k % c == 0 for k in sa.terms.values()):
                    # an exact division: truncating or not, the quotient is the same
                    if cls is Mod:
                        return Sum(EMPTY, 0)
                    return Sum({t: k // c for t, k in sa.terms.items()}, sa.base // c)
                if self.raw_bound(sa)[0] >= 0:  # truncation == floor on non-negatives
                    return (self.floordiv if cls is Div else self.floormod)(sa, c, dtype)
        atom = self.mk(cls, self.emit(sa, dtype), self.emit(sb, dtype))
        return Sum({atom: 1}, 0)

    # -- bounds ---------------------------------------------------------------------------
    def raw_bound(self, s: Sum) -> tuple[int, int]:
        """Bound of the mathematical value of a sum (not clamped to any dtype)."""
        lo = hi = s.base
        bound = self.bounds.bound
        for t, k in s.terms.items():
            tl, th = bound(t)
            if k > 0:
                lo += k * tl
                hi += k * th
            else:
                lo += k * th
                hi += k * tl
        return lo, hi

    # -- division rules -------------------------------------------------------------------
    def floordiv(self, s: Sum, c: int, dtype: str) -> Sum:
        """``s // c`` for a constant ``c > 0`` (signed integers)."""
        s = self.merge_fuse(s)
        q: dict[PrimExpr, int] = {}
        r: dict[PrimExpr, int] = {}
        for t, k in s.terms.items():
            if k % c == 0:
                q[t] = k // c
            else:
                r[t] = k
        qb, rb = divmod(s.base, c)
        if not r:
            return Sum(q, qb)
        rest = Sum(r, rb)
        lo, hi = self.raw_bound(rest)
        if lo // c == hi // c:  # the remainder part never crosses a multiple of c
            return Sum(q, qb + lo // c)
        g = c
        for k in r.values():
            g = gcd(g, k)
        if g > 1:  # (g·x + b) // (g·c') == (x + b // g) // c'
            rest = Sum({t: k // g for t, k in r.items()}, rb // g)
            c //= g
        if len(rest.terms) == 1:
            ((t, k),) = rest.terms.items()
            if k == 1 and type(t) is FloorDiv and type(t.b) is IntImm and t.b.value > 0:
                a = t.b.value  # (x // a + b) // c == (x + a·b) // (a·c)
                inner = sum_add(self.lin(t.a), Sum(EMPTY, rest.base * a))
                return sum_add(Sum(q, qb), self.floordiv(inner, a * c, dtype))
        atom = self.mk(FloorDiv, self.emit(rest, dtype), self.const(c, dtype))
        self.lmemo[id(atom)] = (atom, Sum({atom: 1}, 0))
        return sum_add(Sum(q, qb), Sum({atom: 1}, 0))

    def floormod(self, s: Sum, c: int, dtype: str) -> Sum:
        """``s % c`` for a constant ``c > 0`` (signed integers)."""
        s = self.merge_fuse(s)
        r: dict[PrimExpr, int] = {}
        for t, k in s.terms.items():
            m = k % c
            if m:
                r[t] = m - c if c - m < m else m
        rest = Sum(r, s.base % c)
        if not r:
            return rest
        lo, hi = self.raw_bound(rest)
        if lo // c == hi // c:
            return sum_add(rest, Sum(EMPTY, -(lo // c) * c))
        # (x % a) may stand for x inside a "mod c" when c divides a
        subst = None
        for t, k in r.items():
            if type(t) is FloorMod and type(t.b) is IntImm and t.b.value % c == 0:
                if subst is None:
                    subst = rest
                subst = sum_add(subst, sum_scale(sum_sub(self.lin(t.a), Sum({t: 1}, 0)), k))
        if subst is not None:
            return self.floormod(subst, c, dtype)
        g = c
        for k in r.values():
            g = gcd(g, k)
        if g > 1:  # (g·x + b) % (g·c') == g·((x + b // g) % c') + b % g
            inner = Sum({t: k // g for t, k in r.items()}, rest.base // g)
            m = self.floormod(inner, c // g, dtype)
            return sum_add(sum_scale(m, g), Sum(EMPTY, rest.base % g))
        atom = self.mk(FloorMod, self.emit(rest, dtype), self.const(c, dtype))
        self.lmemo[id(atom)] = (atom, Sum({atom: 1}, 0))
        return Sum({atom: 1}, 0)

    def merge_fuse(self, s: Sum) -> Sum:
        """Undo a split: ``k·c·(x // c) + k·(x % c) → k·x`` (also ``(x % a) // c`` with
        ``c | a`` in place of ``x // c``, giving ``k·(x % a)``)."""
        terms = s.terms
        for t in terms:
            if type(t) is FloorMod:
                break
        else:
            return s
        base = s.base
        changed = True
        while changed:
            changed = False
            for t, k in terms.items():
                if type(t) is not FloorMod or type(t.b) is not IntImm or t.b.value <= 0:
                    continue
                c = t.b.value
                for d, kd in terms.items():
                    if kd != k * c or type(d) is not FloorDiv or type(d.b) is not IntImm:
                        continue
                    if d.b.value != c:
                        continue
                    x = d.a
                    if x is t.a:
                        repl = self.lin(x)
                    elif (
                        type(x) is FloorMod
                        and x.a is t.a
                        and type(x.b) is IntImm
                        and x.b.value % c == 0
                    ):
                        repl = Sum({x: 1}, 0)
                    else:
                        continue
                    rest = Sum({u: ku for u, ku in terms.items() if u is not t and u is not d}, 0)
                    merged = sum_add(rest, sum_scale(repl, k))
                    terms, base = merged.terms, base + merged.base
                    changed = True
                    break
                if changed:
                    break
        return Sum(terms, base)
