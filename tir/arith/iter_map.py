"""Affine iterator maps (TVM's DetectIterMap, the practical part): are index expressions
sums of independent splits/fuses of the loop variables?

An input iterator ``v ∈ [min, min + extent)`` becomes an :class:`IterMark` over
``v - min ∈ [0, extent)``. An index is an :class:`IterSum` of :class:`IterSplit` s, each
``(mark // lower_factor) % extent * scale``, plus a base free of the input iterators.
``x // c`` and ``x % c`` of a sum of several splits first fuse them into one mark (they
must form a mixed-radix number: scales ``s, s·e0, s·e0·e1, ...``). Finally no digit of a
mark may be used twice (the iterators stay independent); with ``check_level`` bijective or
surjective every index must itself enumerate a contiguous range, and with bijective every
input iterator must be used entirely.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .. import dtype as dt
from ..expr import LE, LT, And, FloorDiv, FloorMod, IntImm, PrimExpr, Range, Var, convert
from .analyzer import Analyzer
from .linear import Sum, sum_add, sum_scale, sum_sub
from .simplify import Simplifier
from .utils import expr_text

CHECK_LEVELS = ("bijective", "surjective", "none")


class IterMapError(ValueError):
    """The indices are not an affine map of the input iterators (the message says why)."""


@dataclass(frozen=True, slots=True, eq=False)
class IterMark:
    """An iterator ranging over ``[0, extent)``: ``source`` is ``v - min`` for an input
    variable, or the fused sum for a fused mark (whose ``parts`` are its splits, inner
    first)."""

    source: PrimExpr
    extent: int
    parts: tuple[IterSplit, ...] = ()


@dataclass(frozen=True, slots=True, eq=False)
class IterSplit:
    """``(mark // lower_factor) % extent * scale``."""

    mark: IterMark
    lower_factor: int
    extent: int
    scale: int

    def to_expr(self) -> PrimExpr:
        e = self.mark.source
        c = lambda v: IntImm(v, e.dtype)  # noqa: E731
        if self.lower_factor != 1:
            e = FloorDiv(e, c(self.lower_factor))
        if self.lower_factor * self.extent < self.mark.extent:
            e = FloorMod(e, c(self.extent))
        return e if self.scale == 1 else e * self.scale


@dataclass(frozen=True, slots=True, eq=False)
class IterSum:
    """``Σ splits + base``; ``base`` does not depend on the input iterators."""

    splits: tuple[IterSplit, ...]
    base: PrimExpr

    def to_expr(self) -> PrimExpr:
        e = self.base
        for s in self.splits:
            e = s.to_expr() + e
        return e

    @property
    def extent(self) -> int:
        """How many values the index takes (the product of the split extents)."""
        n = 1
        for s in self.splits:
            n *= s.extent
        return n


@dataclass(frozen=True, slots=True, eq=False)
class IterMapResult:
    """The normalized form of each index, and the marks of the input iterators."""

    indices: tuple[IterSum, ...]
    input_marks: dict[Var, IterMark] = field(default_factory=dict)

    def index_ranges(self, analyzer: Analyzer | None = None) -> list[Range]:
        """``[base, base + extent)`` of each index whose splits enumerate a contiguous
        range (the values the index covers while every input iterator varies)."""
        an = analyzer or Analyzer()
        return [Range(an.simplify(s.base), IntImm(s.extent, s.base.dtype)) for s in self.indices]


def detect_iter_map(
    indices: Sequence[PrimExpr],
    input_iters: Mapping[Var, Range],
    predicate: PrimExpr | bool = True,
    check_level: str = "surjective",
    analyzer: Analyzer | None = None,
) -> IterMapResult | None:
    """The iterator map of ``indices`` over ``input_iters``, or None if it is not affine
    (see :func:`normalize_iter_map` for the reason).

    ``predicate`` (e.g. a block's ``fo*3 + fi < 32`` after a non-divisible split) bounds
    fused iterators: a conjunct ``sum < c`` caps the extent of the mark fusing ``sum``.
    ``check_level``: "bijective", "surjective" or "none" (see the module docstring).
    """
    try:
        return normalize_iter_map(indices, input_iters, predicate, check_level, analyzer)
    except IterMapError:
        return None


def normalize_iter_map(
    indices: Sequence[PrimExpr],
    input_iters: Mapping[Var, Range],
    predicate: PrimExpr | bool = True,
    check_level: str = "surjective",
    analyzer: Analyzer | None = None,
) -> IterMapResult:
    """Like :func:`detect_iter_map`, but raises IterMapError saying what is not affine."""
    if check_level not in CHECK_LEVELS:
        raise ValueError(f"check_level {check_level!r}; expected one of {CHECK_LEVELS}")
    m = _Mapper(input_iters, analyzer, convert(predicate))
    return m.run([convert(i) for i in indices], check_level)


class _Mapper:
    def __init__(
        self, input_iters: Mapping[Var, Range], analyzer: Analyzer | None, predicate: PrimExpr
    ):
        an = analyzer.copy() if analyzer is not None else Analyzer()
        self.marks: dict[Var, tuple[IterMark, PrimExpr]] = {}
        for v, r in input_iters.items():
            an.bind(v, r)
        self.simp: Simplifier = an._simplifier()
        for v, r in input_iters.items():
            ext = self.simp.visit(convert(r.extent))
            if type(ext) is not IntImm:
                raise IterMapError(f"iterator {v.name}: extent {expr_text(ext)} is not constant")
            mn = self.simp.visit(convert(r.min))
            if ext.value > 1:
                src = v if type(mn) is IntImm and mn.value == 0 else v - mn
                self.marks[v] = (IterMark(src, ext.value), mn)
        self.fused: dict[tuple, IterMark] = {}
        self.limits: list[tuple[Sum, int]] = []
        stack = [self.simp.visit(predicate)]
        while stack:
            c = stack.pop()
            if type(c) is And:
                stack += [c.a, c.b]
            elif type(c) in (LT, LE) and type(c.b) is IntImm and dt.is_int(c.a.dtype):
                self.limits.append((self.simp.lin(c.a), c.b.value + (type(c) is LE)))

    def run(self, indices: list[PrimExpr], check_level: str) -> IterMapResult:
        sums = []
        for k, e in enumerate(indices):
            try:
                splits, base = self.parse(self.simp.visit(e))
            except IterMapError as err:
                raise IterMapError(f"index {k} ({expr_text(e)}): {err}") from None
            dtype = e.dtype
            sums.append(IterSum(tuple(splits), self.simp.emit(base, dtype)))
            if check_level != "none" and splits:
                try:
                    if self.order(splits)[0].scale != 1:
                        raise IterMapError("the index is strided (its smallest scale is not 1)")
                except IterMapError as err:
                    raise IterMapError(f"index {k} ({expr_text(e)}): {err}") from None
        self.check_independent(sums, check_level == "bijective")
        return IterMapResult(tuple(sums), {v: m for v, (m, _) in self.marks.items()})

    # -- parsing --------------------------------------------------------------------------
    def parse(self, e: PrimExpr) -> tuple[list[IterSplit], Sum]:
        s = self.simp
        lin = s.lin(e)
        splits: list[IterSplit] = []
        base = Sum({}, lin.base)
        for t, k in lin.terms.items():
            sp, b = self.atom(t)
            if not sp:
                base = sum_add(base, sum_scale(b, k))
                continue
            splits.extend(IterSplit(x.mark, x.lower_factor, x.extent, x.scale * k) for x in sp)
            base = sum_add(base, sum_scale(b, k))
        return splits, base

    def atom(self, t: PrimExpr) -> tuple[list[IterSplit], Sum]:
        s = self.simp
        if type(t) is Var:
            m = self.marks.get(t)
            if m is None:
                return [], s.lin(t)
            mark, mn = m
            return [IterSplit(mark, 1, mark.extent, 1)], s.lin(mn)
        if type(t) in (FloorDiv, FloorMod):
            if type(t.b) is not IntImm or t.b.value <= 0:
                if self.uses_iters(t):
                    raise IterMapError(f"{expr_text(t)} divides by a non-constant")
                return [], s.lin(t)
            splits, base = self.parse(t.a)
            if not splits:
                return [], s.lin(t)
            c = t.b.value
            if base.terms or base.base % c:
                raise IterMapError(
                    f"{expr_text(t)}: the offset {expr_text(s.emit(base, t.dtype))} is not "
                    f"a multiple of {c}"
                )
            sp = self.single(splits)
            if type(t) is FloorDiv:
                return [self.div(sp, c, t)], Sum({}, base.base // c)
            return [self.mod(sp, c, t)], Sum({}, 0)
        if self.uses_iters(t):
            raise IterMapError(f"{expr_text(t)} is not an affine function of the iterators")
        return [], s.lin(t)

    def uses_iters(self, e: PrimExpr) -> bool:
        from ..functor import uses_var

        return uses_var(e, lambda v: v in self.marks)

    def div(self, sp: IterSplit, c: int, t: PrimExpr) -> IterSplit:
        if sp.scale % c == 0:
            return IterSplit(sp.mark, sp.lower_factor, sp.extent, sp.scale // c)
        if c % sp.scale == 0:
            c2 = c // sp.scale
            if sp.extent % c2 == 0:
                return IterSplit(sp.mark, sp.lower_factor * c2, sp.extent // c2, 1)
            if sp.lower_factor * sp.extent >= sp.mark.extent:  # the top digits: no wrap
                return IterSplit(sp.mark, sp.lower_factor * c2, -(-sp.extent // c2), 1)
        raise IterMapError(
            f"{expr_text(t)}: cannot divide an iterator of extent {sp.extent} and scale "
            f"{sp.scale} by {c}"
        )

    def mod(self, sp: IterSplit, c: int, t: PrimExpr) -> IterSplit:
        if c % sp.scale == 0:
            c2 = c // sp.scale
            if sp.extent % c2 == 0:
                return IterSplit(sp.mark, sp.lower_factor, c2, sp.scale)
            if sp.extent <= c2:
                return sp
        raise IterMapError(
            f"{expr_text(t)}: cannot take an iterator of extent {sp.extent} and scale "
            f"{sp.scale} modulo {c}"
        )

    def single(self, splits: list[IterSplit]) -> IterSplit:
        """The splits as one iterator (fusing them) with the smallest scale."""
        if len(splits) == 1:
            return splits[0]
        order = self.order(splits)
        key = tuple((id(x.mark), x.lower_factor, x.extent, x.scale) for x in order)
        mark = self.fused.get(key)
        s0 = order[0].scale
        if mark is None:
            s = self.simp
            src = Sum({}, 0)
            n = 1
            for x in reversed(order):  # outermost first, as written
                part = IterSplit(x.mark, x.lower_factor, x.extent, x.scale // s0).to_expr()
                src = sum_add(src, s.lin(s.visit(part)))
                n *= x.extent
            for lim, c in self.limits:
                d = s.merge_fuse(sum_sub(lim, src))
                if not d.terms and d.base == 0:
                    n = min(n, c)
            mark = self.fused[key] = IterMark(
                s.emit(src, order[0].mark.source.dtype),
                n,
                tuple(IterSplit(x.mark, x.lower_factor, x.extent, 1) for x in order),
            )
        return IterSplit(mark, 1, mark.extent, s0)

    def order(self, splits: list[IterSplit]) -> list[IterSplit]:
        """Splits sorted by scale; raise unless they form a mixed-radix number."""
        order = sorted(splits, key=lambda x: abs(x.scale))
        expect = order[0].scale
        if expect < 0:
            raise IterMapError("an iterator has a negative scale")
        for x in order:
            if x.scale != expect:
                raise IterMapError(
                    f"the iterators do not fuse: scale {x.scale} where {expect} was expected "
                    f"(scales must be s, s*e0, s*e0*e1, ...)"
                )
            expect = x.scale * x.extent
        return order

    # -- independence ---------------------------------------------------------------------
    def check_independent(self, sums: list[IterSum], bijective: bool) -> None:
        uses: dict[int, tuple[IterMark, list[tuple[int, int]]]] = {}

        def use(sp: IterSplit) -> None:
            ent = uses.setdefault(id(sp.mark), (sp.mark, []))
            if not ent[1] and sp.mark.parts:  # a fused mark uses its parts once
                for p in sp.mark.parts:
                    use(p)
            ent[1].append((sp.lower_factor, sp.extent))

        for s in sums:
            for sp in s.splits:
                use(sp)
        for mark, digits in uses.values():
            digits.sort()
            for (lf0, e0), (lf1, _) in zip(digits, digits[1:], strict=False):
                if lf0 * e0 > lf1:
                    raise IterMapError(
                        f"iterator {expr_text(mark.source)} is used twice (digits "
                        f"[{lf0}, {lf0 * e0}) and [{lf1}, ...) overlap): the indices are "
                        "not independent"
                    )
            if bijective:
                expect = 1
                for lf, e in digits:
                    if lf != expect:
                        break
                    expect = lf * e
                if expect < mark.extent:
                    raise IterMapError(
                        f"iterator {expr_text(mark.source)} of extent {mark.extent} is not "
                        "covered entirely by the indices (not bijective)"
                    )
        if bijective:
            for v, (mark, _) in self.marks.items():
                if id(mark) not in uses:
                    raise IterMapError(f"iterator {v.name} is not used by any index")
