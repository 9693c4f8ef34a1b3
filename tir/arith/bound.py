"""Constant integer bounds of expressions (TVM's ConstIntBound): ``[min, max]`` as Python
ints, given bounds of the free variables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .. import dtype as dt
from ..expr import (
    EQ,
    NE,
    Add,
    And,
    BinaryOp,
    Call,
    Cast,
    CmpOp,
    Div,
    FloatImm,
    FloorDiv,
    FloorMod,
    IntImm,
    Let,
    Max,
    Min,
    Mod,
    Mul,
    Not,
    Or,
    PrimExpr,
    Select,
    Sub,
    Var,
)
from .fold import int_info, trunc_div
from .linear import dtype_of

#: The sentinels of an unknown bound (TVM's kPosInf / kNegInf).
POS_INF = (1 << 63) - 1
NEG_INF = -POS_INF


@dataclass(frozen=True, slots=True)
class ConstIntBound:
    """``min_value <= expr <= max_value``; ``NEG_INF`` / ``POS_INF`` mean unbounded."""

    min_value: int
    max_value: int

    POS_INF = POS_INF
    NEG_INF = NEG_INF

    def is_const(self) -> bool:
        return self.min_value == self.max_value

    def __iter__(self):
        yield self.min_value
        yield self.max_value


def dtype_range(dtype: str) -> tuple[int, int]:
    """The values an integer (or bool) dtype can hold; floats: the unbounded sentinels."""
    if dt.is_float(dtype) or dtype not in dt.DTYPE_BITS:
        return NEG_INF, POS_INF
    _, _, lo, hi = int_info(dtype)
    return lo, hi


def clamp(lo: int, hi: int, dtype: str) -> tuple[int, int]:
    """Intersect ``[lo, hi]`` with the dtype's range.

    Signed arithmetic is assumed not to overflow (LLVM ``nsw``), so intersecting is sound;
    an unsigned result that may wrap gets the whole range.
    """
    dlo, dhi = dtype_range(dtype)
    if lo >= dlo and hi <= dhi:
        return lo, hi
    if dt.is_uint(dtype) or dtype == "bool":
        return dlo, dhi
    return (lo if lo > dlo else dlo), (hi if hi < dhi else dhi)


class BoundEval:
    """Evaluates bounds bottom-up with memoisation; ``var_bounds`` maps Var -> (lo, hi)."""

    __slots__ = ("var_bounds", "memo", "dtypes")

    def __init__(
        self,
        var_bounds: Mapping[Var, tuple[int, int]],
        dtypes: dict[int, tuple[PrimExpr, str]] | None = None,
    ):
        self.var_bounds = var_bounds
        self.memo: dict[int, tuple[PrimExpr, tuple[int, int]]] = {}
        self.dtypes = {} if dtypes is None else dtypes

    def bound(self, e: PrimExpr) -> tuple[int, int]:
        """``(lo, hi)`` of an expression; floats get ``(NEG_INF, POS_INF)``."""
        hit = self.memo.get(id(e))
        if hit is not None:
            return hit[1]
        fn = _DISPATCH.get(type(e))
        if fn is None:
            r = dtype_range(e.dtype) if e.dtype in dt.DTYPE_BITS else (NEG_INF, POS_INF)
        else:
            r = fn(self, e)
        self.memo[id(e)] = (e, r)
        return r

    # -- leaves ---------------------------------------------------------------------------
    def _int(self, e: IntImm) -> tuple[int, int]:
        return e.value, e.value

    def _float(self, e: FloatImm) -> tuple[int, int]:
        return NEG_INF, POS_INF

    def _var(self, e: Var) -> tuple[int, int]:
        b = self.var_bounds.get(e)
        return b if b is not None else dtype_range(e.dtype)

    # -- arithmetic -----------------------------------------------------------------------
    def _binary(self, e: BinaryOp) -> tuple[int, int]:
        dtype = dtype_of(e, self.dtypes)
        if dt.is_float(dtype):
            return NEG_INF, POS_INF
        al, ah = self.bound(e.a)
        bl, bh = self.bound(e.b)
        cls = type(e)
        if cls is Add:
            lo, hi = al + bl, ah + bh
        elif cls is Sub:
            lo, hi = al - bh, ah - bl
        elif cls is Mul:
            c = (al * bl, al * bh, ah * bl, ah * bh)
            lo, hi = min(c), max(c)
        elif cls is Min:
            lo, hi = min(al, bl), min(ah, bh)
        elif cls is Max:
            lo, hi = max(al, bl), max(ah, bh)
        elif cls is FloorDiv or cls is Div:
            lo, hi = _div_bound(al, ah, bl, bh, cls is FloorDiv)
        elif cls is FloorMod:
            lo, hi = _floormod_bound(al, ah, bl, bh)
        elif cls is Mod:
            lo, hi = _truncmod_bound(al, ah, bl, bh)
        else:
            return dtype_range(dtype)
        return clamp(lo, hi, dtype)

    def _cmp(self, e: PrimExpr) -> tuple[int, int]:
        return 0, 1

    def _select(self, e: Select) -> tuple[int, int]:
        cl, ch = self.bound(e.condition)
        if cl == ch == 1:
            return self.bound(e.true_value)
        if cl == ch == 0:
            return self.bound(e.false_value)
        tl, th = self.bound(e.true_value)
        fl, fh = self.bound(e.false_value)
        return min(tl, fl), max(th, fh)

    def _cast(self, e: Cast) -> tuple[int, int]:
        if dt.is_float(e.dtype):
            return NEG_INF, POS_INF
        if e.dtype == "bool":
            return 0, 1
        src = dtype_of(e.value, self.dtypes)
        if dt.is_float(src):
            return dtype_range(e.dtype)
        lo, hi = self.bound(e.value)
        dlo, dhi = dtype_range(e.dtype)
        if dlo <= lo and hi <= dhi:
            return lo, hi
        return dlo, dhi

    def _call(self, e: Call) -> tuple[int, int]:
        if dt.is_float(e.dtype):
            return NEG_INF, POS_INF
        if e.op == "if_then_else":
            return self._select(Select(*e.args))
        if e.op == "abs" and e.args:
            lo, hi = self.bound(e.args[0])
            dlo, dhi = dtype_range(e.dtype)
            if lo > dlo:
                m = max(abs(lo), abs(hi))
                return (0 if lo <= 0 <= hi else min(abs(lo), abs(hi))), m
        return dtype_range(e.dtype)

    def _let(self, e: Let) -> tuple[int, int]:
        vb = self.bound(e.value)
        inner = BoundEval({**self.var_bounds, e.var: vb}, self.dtypes)
        return inner.bound(e.body)


def _div_bound(al: int, ah: int, bl: int, bh: int, floor: bool) -> tuple[int, int]:
    if bl <= 0 <= bh:
        if bl == bh == 0:
            return min(al, 0), max(ah, 0)  # undefined at run time; keep something sound
        # the divisor may be any non-zero value in range: |a / b| <= |a|
        m = max(abs(al), abs(ah))
        return -m, m
    div = (lambda x, y: x // y) if floor else trunc_div
    c = (div(al, bl), div(al, bh), div(ah, bl), div(ah, bh))
    return min(c), max(c)


def _floormod_bound(al: int, ah: int, bl: int, bh: int) -> tuple[int, int]:
    if bl > 0:
        if al >= 0 and ah < bl:
            return al, ah
        if bl == bh and ah - al < bl and al // bl == ah // bl:
            return al % bl, ah % bl
        return 0, bh - 1
    if bh < 0:
        return bl + 1, 0
    m = max(abs(bl), abs(bh))
    return -(m - 1) if m else 0, (m - 1) if m else 0


def _truncmod_bound(al: int, ah: int, bl: int, bh: int) -> tuple[int, int]:
    m = max(abs(bl), abs(bh)) - 1
    if m < 0:
        m = 0
    if al >= 0:
        if bl > 0 and ah < bl:
            return al, ah
        return 0, min(ah, m)
    if ah <= 0:
        return max(al, -m), 0
    return max(al, -m), min(ah, m)


_DISPATCH = {
    IntImm: BoundEval._int,
    FloatImm: BoundEval._float,
    Var: BoundEval._var,
    Select: BoundEval._select,
    Cast: BoundEval._cast,
    Call: BoundEval._call,
    Let: BoundEval._let,
    And: BoundEval._cmp,
    Or: BoundEval._cmp,
    Not: BoundEval._cmp,
}
for _cls in (Add, Sub, Mul, Div, Mod, FloorDiv, FloorMod, Min, Max):
    _DISPATCH[_cls] = BoundEval._binary
for _cls in CmpOp.__subclasses__():
    _DISPATCH[_cls] = BoundEval._cmp
del _cls
_ = (EQ, NE)
