"""Region analysis for compute_at / cache_read / cache_write: relaxing a region over loop
domains, unions, containment and constant extents.

A region is a sequence of Ranges (one per buffer dimension); a BufferRegion is accepted
wherever a region is, and the result then is a BufferRegion of the same buffer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..buffer import BufferRegion
from ..expr import Add, IntImm, Max, Min, PrimExpr, Range, Sub, Var, _binary
from .analyzer import Analyzer
from .int_set import IntervalSet, IntSetEval, dom_bounds
from .linear import const_int, dtype_of, is_index_int
from .simplify import Simplifier
from .utils import expr_text

RegionLike = Sequence[Range] | BufferRegion


def _ranges(region: RegionLike) -> tuple[Range, ...]:
    return region.region if isinstance(region, BufferRegion) else tuple(region)


def _like(region: RegionLike, ranges: tuple[Range, ...]) -> RegionLike:
    if isinstance(region, BufferRegion):
        return BufferRegion(region.buffer, ranges)
    return ranges


def _describe(region: RegionLike, dim: int) -> str:
    where = f"buffer {region.buffer.name} " if isinstance(region, BufferRegion) else ""
    r = _ranges(region)[dim]
    return f"{where}dimension {dim} [{expr_text(r.min)}, +{expr_text(r.extent)})"


def relax_region(
    region: RegionLike,
    dom_map: Mapping[Var, Range | IntervalSet],
    analyzer: Analyzer | None = None,
) -> RegionLike:
    """The smallest box covering ``region`` while each variable of ``dom_map`` ranges over
    its domain, e.g. ``[i*4 + ii, +1)`` with ``ii ∈ [0, 4)`` → ``[i*4, +4)``.

    Raises ValueError naming the dimension when it cannot be bounded.
    """
    an = analyzer or Analyzer()
    simp = an._simplifier()
    ev = IntSetEval(simp, dom_bounds(simp, dom_map))
    out = []
    for d, r in enumerate(_ranges(region)):
        lo_set = ev.interval(r.min)
        ext = simp.visit(r.extent)
        if type(ext) is IntImm and ext.value == 1:
            hi = lo_set.max
        else:
            hi = ev.interval(_plus(_arith(Add, r.min, ext, simp), -1, simp)).max
        lo = lo_set.min
        if lo is None or hi is None:
            names = ", ".join(v.name for v in dom_map)
            raise ValueError(
                f"relax_region: {_describe(region, d)} has no finite bound when "
                f"{names} range over their domains"
            )
        out.append(Range(lo, simp.visit(_plus(_arith(Sub, hi, lo, simp), 1, simp))))
    return _like(region, tuple(out))


def _arith(cls: type, a: PrimExpr, b: PrimExpr, simp: Simplifier) -> PrimExpr:
    """``cls(a, b)`` as the operators build it: directly when the dtypes agree (looked up
    in the simplifier's memo: ``BinaryOp.dtype`` walks the whole left operand chain)."""
    if dtype_of(a, simp.dtypes) == dtype_of(b, simp.dtypes):
        return cls(a, b)
    return _binary(cls, a, b)


def _plus(a: PrimExpr, c: int, simp: Simplifier) -> PrimExpr:
    """``a + c`` (``a - (-c)`` for a negative ``c``) as the operators build it."""
    dtype = dtype_of(a, simp.dtypes)
    if not is_index_int(dtype):
        return a + c if c >= 0 else a - (-c)
    return Add(a, const_int(c, dtype)) if c >= 0 else Sub(a, const_int(-c, dtype))


def region_union(r1: RegionLike, r2: RegionLike, analyzer: Analyzer | None = None) -> RegionLike:
    """The smallest box covering both regions (per dimension ``[min of mins, max of ends)``)."""
    a, b = _ranges(r1), _ranges(r2)
    if len(a) != len(b):
        raise ValueError(f"region_union: regions of {len(a)} and {len(b)} dimensions")
    if isinstance(r1, BufferRegion) and isinstance(r2, BufferRegion):
        if r1.buffer is not r2.buffer:
            raise ValueError(
                f"region_union: regions of different buffers {r1.buffer.name} and "
                f"{r2.buffer.name}"
            )
    simp = (analyzer or Analyzer())._simplifier()
    out = []
    for x, y in zip(a, b, strict=True):
        lo = simp.visit(Min(*_pair(x.min, y.min)))
        hi = simp.visit(Max(*_pair(x.min + x.extent, y.min + y.extent)))
        out.append(Range(lo, simp.visit(hi - lo)))
    return _like(r1, tuple(out))


def _pair(a, b):
    from ..expr import _match

    return _match(a, b)


def region_covers(
    outer: RegionLike, inner: RegionLike, analyzer: Analyzer | None = None
) -> bool:
    """True if ``inner`` provably lies inside ``outer`` in every dimension."""
    a, b = _ranges(outer), _ranges(inner)
    if len(a) != len(b):
        raise ValueError(f"region_covers: regions of {len(a)} and {len(b)} dimensions")
    an = analyzer or Analyzer()
    for o, i in zip(a, b, strict=True):
        if not an.can_prove(o.min <= i.min):
            return False
        if not an.can_prove(i.min + i.extent <= o.min + o.extent):
            return False
    return True


def estimate_region_extents(
    region: RegionLike, analyzer: Analyzer | None = None
) -> list[int] | None:
    """The constant extent of each dimension, or None if one is not provably constant."""
    simp = (analyzer or Analyzer())._simplifier()
    out = []
    for r in _ranges(region):
        e = simp.visit(r.extent)
        if type(e) is not IntImm:
            return None
        out.append(e.value)
    return out
