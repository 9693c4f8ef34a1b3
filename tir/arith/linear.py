"""The canonical linear form of integer expressions: ``Σ coef·atom + base``, the shared
integer constants, and a structural "unchanged?" check."""

from __future__ import annotations

from ..expr import BinaryOp, FloatImm, IntImm, PrimExpr, Var
from ..functor import node_fields
from .fold import int_info, wrap_int


class Sum:
    """``Σ terms[atom] · atom + base`` over Python ints; never mutated once built."""

    __slots__ = ("terms", "base")

    def __init__(self, terms: dict[PrimExpr, int], base: int):
        self.terms = terms
        self.base = base


EMPTY: dict[PrimExpr, int] = {}


def sum_add(x: Sum, y: Sum) -> Sum:
    if not y.terms:
        return x if y.base == 0 else Sum(x.terms, x.base + y.base)
    if not x.terms:
        return Sum(y.terms, x.base + y.base)
    t = dict(x.terms)
    for k, c in y.terms.items():
        n = t.get(k, 0) + c
        if n:
            t[k] = n
        else:
            del t[k]
    return Sum(t, x.base + y.base)


def sum_scale(x: Sum, k: int) -> Sum:
    if k == 1:
        return x
    if k == 0:
        return Sum(EMPTY, 0)
    return Sum({t: c * k for t, c in x.terms.items()}, x.base * k)


def sum_sub(x: Sum, y: Sum) -> Sum:
    """``x - y`` (the same terms, in the same order, as ``sum_add(x, sum_scale(y, -1))``)."""
    if not y.terms:
        return x if y.base == 0 else Sum(x.terms, x.base - y.base)
    if not x.terms:
        return Sum({t: -c for t, c in y.terms.items()}, x.base - y.base)
    t = dict(x.terms)
    for k, c in y.terms.items():
        n = t.get(k, 0) - c
        if n:
            t[k] = n
        else:
            del t[k]
    return Sum(t, x.base - y.base)


# Constants are immutable, so one IntImm per (value, dtype) is shared by every call:
# dtype -> value -> IntImm (no key tuple to build on the hot path).
_CONSTS: dict[str, dict[int, IntImm]] = {}
_N_CONSTS = [0]


def const_int(value: int, dtype: str) -> IntImm:
    """The shared IntImm for ``value`` wrapped to ``dtype``."""
    table = _CONSTS.get(dtype)
    if table is not None:
        c = table.get(value)
        if c is not None:
            return c
    return _new_const(value, dtype)


def _new_const(value: int, dtype: str) -> IntImm:
    if _N_CONSTS[0] > 50000:
        _CONSTS.clear()
        _N_CONSTS[0] = 0
    table = _CONSTS.get(dtype)
    if table is None:
        table = _CONSTS[dtype] = {}
    wrapped = wrap_int(value, dtype)
    c = table.get(wrapped)
    if c is None:
        c = table[wrapped] = IntImm(wrapped, dtype)
        _N_CONSTS[0] += 1
    if value != wrapped:
        table[value] = c  # the unwrapped value too
        _N_CONSTS[0] += 1
    return c




def is_index_int(dtype: str) -> bool:
    return dtype[0] in "iu" and dtype != "bool"


_HALF: dict[str, int] = {}


def signed_coef(k: int, dtype: str) -> int:
    """A coefficient as the signed value of its width (so ``x - 1`` prints as such)."""
    half = _HALF.get(dtype)
    if half is None:
        half = _HALF[dtype] = 1 << (int_info(dtype)[0] - 1)
    if -half <= k < half:
        return k  # already the signed value of its width
    bits = int_info(dtype)[0]
    k &= (1 << bits) - 1
    return k - (1 << bits) if k >> (bits - 1) else k


def keep_identity(orig: PrimExpr, new: PrimExpr) -> PrimExpr:
    """``orig`` itself when ``new`` has the same structure, else ``new`` (so callers can
    tell "unchanged" by identity)."""
    if orig is new:
        return orig
    cls = type(orig)
    if cls is not type(new):
        return new
    if cls is IntImm or cls is FloatImm:
        same = orig.dtype == new.dtype and repr(orig.value) == repr(new.value)
        return orig if same else new
    if cls is Var:
        return new
    for name in node_fields(cls):
        a, b = getattr(orig, name), getattr(new, name)
        if a is b:
            continue
        if isinstance(a, PrimExpr) and isinstance(b, PrimExpr):
            if keep_identity(a, b) is not a:
                return new
        elif type(a) is tuple and type(b) is tuple and len(a) == len(b):
            for x, y in zip(a, b, strict=True):
                if x is not y and not (
                    isinstance(x, PrimExpr) and isinstance(y, PrimExpr) and keep_identity(x, y) is x
                ):
                    return new
        elif a != b:
            return new
    return orig


def dtype_of(e: PrimExpr, memo: dict[int, tuple[PrimExpr, str]]) -> str:
    """``e.dtype`` in amortised O(1): ``BinaryOp.dtype`` walks the whole left operand
    chain, which makes deep expressions quadratic. A short chain is walked (no memo
    entries to make); a long one is memoised."""
    x = e
    for _ in range(8):
        if not isinstance(x, BinaryOp):
            return x.dtype
        x = x.a
    hit = memo.get(id(e))
    if hit is not None:
        return hit[1]
    if not isinstance(e, BinaryOp):
        return e.dtype
    chain = [e]  # down the left operands (no recursion), memoising the whole chain
    x = e.a
    while True:
        hit = memo.get(id(x))
        if hit is not None:
            t = hit[1]
            break
        if not isinstance(x, BinaryOp):
            t = x.dtype
            break
        chain.append(x)
        x = x.a
    for y in chain:
        memo[id(y)] = (y, t)
    return t
