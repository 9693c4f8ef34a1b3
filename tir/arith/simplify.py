"""The expression simplifier: constant folding, a canonical linear form for integer index
arithmetic, floordiv/floormod rules that use known bounds, min/max, comparison and logic
folding.

Integer ``+ - *`` subtrees are turned into a sum ``Σ coef·atom + base`` (:class:`Sum`)
whose atoms are the non-linear leaves (variables, ``x // c``, ``x % c``, products, loads,
...). Every expression built during one call is hash-consed, so structurally equal atoms
are the same object and merge by identity. Rewriting is one bottom-up pass (memoised per
node): no rule can fire twice on the same node, so the cost is linear in the expression
size. Index arithmetic on signed integers is assumed not to overflow (the generated code
uses LLVM's ``nsw``), as in TVM.
"""

from __future__ import annotations

from collections.abc import Mapping
from math import gcd

from .. import dtype as dt
from ..expr import (
    EQ,
    GE,
    GT,
    LE,
    LT,
    NE,
    Add,
    And,
    Broadcast,
    BufferLoad,
    Call,
    Cast,
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
    Ramp,
    Select,
    Sub,
    Var,
)
from ..functor import node_fields
from .bound import BoundEval
from .divmod import DivModRules
from .fold import cast_value, fold_call, fold_cmp, fold_float, fold_int, int_info
from .linear import (
    _HALF,
    EMPTY,
    Sum,
    const_int,
    dtype_of,
    is_index_int,
    signed_coef,
    sum_add,
    sum_scale,
    sum_sub,
)

_TRUE = const_int(1, "bool")
_FALSE = const_int(0, "bool")
_ARITH = (Add, Sub, Mul, Div, Mod, FloorDiv, FloorMod)
_FLIP_INT = {LT: GE, GE: LT, LE: GT, GT: LE, EQ: NE, NE: EQ}  # logical negation
_SWAP = {LT: GT, GT: LT, LE: GE, GE: LE, EQ: EQ, NE: NE}  # operands exchanged


class Simplifier(DivModRules):
    """One simplification job: the hash-consing table and memo tables live as long as it.

    ``var_bounds`` maps a Var to its constant ``(lo, hi)``; ``var_values`` maps a Var to
    the expression it stands for (substituted, then simplified).
    """

    def __init__(
        self,
        var_bounds: Mapping[Var, tuple[int, int]],
        var_values: Mapping[Var, PrimExpr],
    ):
        self.var_bounds = var_bounds
        self.var_values = var_values
        self.dtypes: dict[int, tuple[PrimExpr, str]] = {}
        self.bounds = BoundEval(var_bounds, self.dtypes)
        self.intern: dict[tuple, PrimExpr] = {}
        self.vmemo: dict[int, tuple[PrimExpr, PrimExpr]] = {}
        self.lmemo: dict[int, tuple[PrimExpr, Sum]] = {}
        self.const = const_int  # the shared constants (saves a method call per constant)

    # -- node construction ----------------------------------------------------------------
    def mk(self, cls: type, *args) -> PrimExpr:
        """The canonical node ``cls(*args)`` (children must already be canonical)."""
        key = (cls, *args)
        n = self.intern.get(key)
        if n is None:
            n = self.intern[key] = cls(*args)
        return n

    def reuse(self, e: PrimExpr, *args) -> PrimExpr:
        """Like :meth:`mk`, but returns ``e`` itself when its children did not change."""
        key = (type(e), *args)
        n = self.intern.get(key)
        if n is None:
            same = True
            for f, a in zip(node_fields(type(e)), args, strict=True):
                old = getattr(e, f)
                if old is not a and not (
                    type(a) is tuple and all(x is y for x, y in zip(old, a, strict=True))
                ):
                    same = False
                    break
            n = self.intern[key] = e if same else type(e)(*args)
        return n

    def const(self, value: int, dtype: str) -> IntImm:
        return const_int(value, dtype)

    def fconst(self, value: float, dtype: str) -> FloatImm:
        key = (FloatImm, repr(value), dtype)  # repr keeps -0.0 apart from 0.0
        n = self.intern.get(key)
        if n is None:
            n = self.intern[key] = FloatImm(value, dtype)
        return n

    # -- entry ----------------------------------------------------------------------------
    def visit(self, e: PrimExpr) -> PrimExpr:
        hit = self.vmemo.get(id(e))
        if hit is not None:
            return hit[1]
        fn = _VISIT.get(type(e))
        r = fn(self, e) if fn is not None else self._v_generic(e)
        self.vmemo[id(e)] = (e, r)
        return r

    # -- linear form ----------------------------------------------------------------------
    def lin(self, e: PrimExpr) -> Sum:
        """The canonical sum of an integer expression."""
        hit = self.lmemo.get(id(e))
        if hit is not None:
            return hit[1]
        cls = type(e)
        if cls is IntImm:
            s = Sum(EMPTY, e.value)
        elif cls is Var:
            val = self.var_values.get(e)
            if val is not None:
                s = self.lin(self.visit(val))
            else:
                b = self.var_bounds.get(e)
                s = Sum(EMPTY, b[0]) if b is not None and b[0] == b[1] else Sum({e: 1}, 0)
        elif cls is Add:
            a, b = e.a, e.b
            tb = type(b)
            if tb is IntImm:  # x + c: no second lookup
                s = self.lin(a)
                s = Sum(s.terms, s.base + b.value)
            else:
                s = sum_add(self.lin(a), self.lin(b))
        elif cls is Sub:
            b = e.b
            if type(b) is IntImm:
                s = self.lin(e.a)
                s = Sum(s.terms, s.base - b.value)
            else:
                s = sum_sub(self.lin(e.a), self.lin(b))
        elif cls is Mul:
            b = e.b
            if type(b) is IntImm:  # x * c
                s = sum_scale(self.lin(e.a), b.value)
            else:
                s = self._lin_mul(e)
        elif cls in _DIVS:
            s = self._lin_div(e)
        else:
            r = self.visit(e)
            if type(r) is IntImm:
                s = Sum(EMPTY, r.value)
            elif r is not e and type(r) in _LIN_TYPES:
                s = self.lin(r)
            else:
                s = Sum({r: 1}, 0)
        self.lmemo[id(e)] = (e, s)
        return s

    def _lin_var(self, v: Var) -> Sum:
        val = self.var_values.get(v)
        if val is not None:
            return self.lin(self.visit(val))
        b = self.var_bounds.get(v)
        if b is not None and b[0] == b[1]:
            return Sum(EMPTY, b[0])
        return Sum({v: 1}, 0)

    def _lin_mul(self, e: Mul) -> Sum:
        sa, sb = self.lin(e.a), self.lin(e.b)
        if not sb.terms:
            return sum_scale(sa, sb.base)
        if not sa.terms:
            return sum_scale(sb, sa.base)
        dtype = dtype_of(e, self.dtypes)
        xa, ka = self._split_coef(sa, dtype)
        xb, kb = self._split_coef(sb, dtype)
        return Sum({self.mk(Mul, xa, xb): ka * kb}, 0)

    def _split_coef(self, s: Sum, dtype: str) -> tuple[PrimExpr, int]:
        if s.base == 0 and len(s.terms) == 1:
            ((t, k),) = s.terms.items()
            return t, k
        return self.emit(s, dtype), 1

    # -- back to expressions --------------------------------------------------------------
    def emit(self, s: Sum, dtype: str) -> PrimExpr:
        """The canonical expression of a sum: positive terms first, the constant last."""
        s = self.merge_fuse(s)
        terms = s.terms
        half = _HALF.get(dtype)
        base = s.base
        if half is None or not -half <= base < half:
            base = signed_coef(base, dtype)
        if not terms:
            return self.const(base, dtype)
        if base == 0 and len(terms) == 1:
            ((t, k),) = terms.items()
            if k == 1:
                self.lmemo[id(t)] = (t, s)
                return t
        mk = self.mk
        acc = None
        neg = []
        for t, k in terms.items():
            if half is None or not -half <= k < half:
                k = signed_coef(k, dtype)
            if k == 0:
                continue
            if k < 0:
                neg.append((t, k))
                continue
            term = t if k == 1 else mk(Mul, t, self.const(k, dtype))
            acc = term if acc is None else mk(Add, acc, term)
        if acc is None and base > 0:
            acc, base = self.const(base, dtype), 0
        for t, k in neg:
            if acc is None:
                acc = mk(Mul, t, self.const(k, dtype))
            else:
                acc = mk(Sub, acc, t if k == -1 else mk(Mul, t, self.const(-k, dtype)))
        if acc is None:
            acc = self.const(base, dtype)
        elif base > 0:
            acc = mk(Add, acc, self.const(base, dtype))
        elif base < 0:
            acc = mk(Sub, acc, self.const(-base, dtype))
        self.lmemo[id(acc)] = (acc, s)
        if type(acc) is not IntImm and dtype_of(acc, self.dtypes) == dtype:
            # simplifying the canonical form again gives itself (its sum is memoised
            # above and emits to the same nodes): callers re-simplify results often
            self.vmemo[id(acc)] = (acc, acc)
        return acc

    # -- visitors -------------------------------------------------------------------------
    def _v_int(self, e: IntImm) -> PrimExpr:
        return self.const(e.value, e.dtype)

    def _v_float(self, e: FloatImm) -> PrimExpr:
        return self.fconst(e.value, e.dtype)

    def _v_var(self, e: Var) -> PrimExpr:
        val = self.var_values.get(e)
        if val is not None:
            return self.visit(val)
        b = self.var_bounds.get(e)
        if b is not None and b[0] == b[1] and is_index_int(e.dtype):
            return self.const(b[0], e.dtype)
        return e

    def _v_arith(self, e: PrimExpr) -> PrimExpr:
        a = e.a
        ta = type(a)
        dtype = a.dtype if ta is Var or ta is IntImm else dtype_of(e, self.dtypes)
        if dtype[0] in "iu" and dtype != "bool":  # is_index_int, inline
            return self.emit(self.lin(e), dtype)
        a, b = self.visit(e.a), self.visit(e.b)
        cls = type(e)
        ca, cb = type(a) in (IntImm, FloatImm), type(b) in (IntImm, FloatImm)
        if ca and cb:
            if dt.is_float(dtype):
                r = fold_float(cls, a.value, b.value, dtype)
                if r is not None:
                    return self.fconst(r, dtype)
            else:
                r = fold_int(cls, a.value, b.value, dtype)
                if r is not None:
                    return self.const(r, dtype)
        elif dt.is_float(dtype):
            # exact identities only (x + 0.0 would turn -0.0 into +0.0)
            if cb and (
                (cls is Sub and b.value == 0)
                or (cls in (Mul, Div) and b.value == 1)
                or (cls is Add and b.value == 0 and str(b.value) == "-0.0")
            ):
                return a
            if ca and cls is Mul and a.value == 1:
                return b
        return self.reuse(e, a, b)

    def _v_minmax(self, e: PrimExpr) -> PrimExpr:
        a, b = self.visit(e.a), self.visit(e.b)
        if a is b:
            return a
        cls, dtype = type(e), dtype_of(a, self.dtypes)
        if type(a) is FloatImm and type(b) is FloatImm:
            r = fold_float(cls, a.value, b.value, dtype)
            if r is not None:
                return self.fconst(r, dtype)
        if is_index_int(dtype):
            d = self._diff_bound(a, b, dtype)
            if d is not None:
                lo, hi = d
                if hi <= 0:
                    return a if cls is Min else b
                if lo >= 0:
                    return b if cls is Min else a
        elif type(a) is IntImm and type(b) is IntImm:
            return self.const(fold_int(cls, a.value, b.value, dtype), dtype)
        return self.reuse(e, a, b)

    def _diff_bound(self, a: PrimExpr, b: PrimExpr, dtype: str) -> tuple[int, int] | None:
        """Bound of ``a - b`` as integers; None if unsigned values might wrap."""
        sa, sb = self.lin(a), self.lin(b)
        if not int_info(dtype)[1]:
            _, _, dlo, dhi = int_info(dtype)
            for s in (sa, sb):
                lo, hi = self.raw_bound(s)
                if lo < dlo or hi > dhi:
                    return None
        return self.raw_bound(self.merge_fuse(sum_sub(sa, sb)))

    def _v_cmp(self, e: PrimExpr) -> PrimExpr:
        a, b = self.visit(e.a), self.visit(e.b)
        cls, dtype = type(e), dtype_of(a, self.dtypes)
        if type(a) in (IntImm, FloatImm) and type(b) in (IntImm, FloatImm):
            return _TRUE if fold_cmp(cls, a.value, b.value) else _FALSE
        if not is_index_int(dtype):
            if a is b and cls in (EQ, NE) and not dt.is_float(dtype):
                return _TRUE if cls is EQ else _FALSE
            return self.reuse(e, a, b)
        bd = self._diff_bound(a, b, dtype)
        if bd is not None:
            lo, hi = bd
            t = _decide(cls, lo, hi)
            if t is not None:
                return _TRUE if t else _FALSE
        if not int_info(dtype)[1]:
            return self.reuse(e, a, b)
        return self._normal_cmp(e, cls, sum_sub(self.lin(a), self.lin(b)), dtype)

    def _normal_cmp(self, e: PrimExpr, cls: type, d: Sum, dtype: str) -> PrimExpr:
        """``d <op> 0`` as ``positive terms <op> negative terms + constant``, divided by the
        gcd of the coefficients."""
        d = self.merge_fuse(d)
        g = 0
        for k in d.terms.values():
            g = gcd(g, k)
        b = d.base
        if g > 1:
            if cls in (EQ, NE):
                if b % g:
                    return _FALSE if cls is EQ else _TRUE
                b //= g
            elif cls in (LT, GE):  # S·g + b < 0  <=>  S + floor(b / g) < 0
                b = b // g
            else:  # LE, GT: S·g + b <= 0  <=>  S + ceil(b / g) <= 0
                b = -((-b) // g)
            d = Sum({t: k // g for t, k in d.terms.items()}, b)
        if d.terms and all(k < 0 for k in d.terms.values()):
            d = sum_scale(d, -1)  # keep a term on the left: -x + 3 < 0  ->  x - 3 > 0
            cls = _SWAP[cls]
        pos = Sum({t: k for t, k in d.terms.items() if k > 0}, 0)
        neg = Sum({t: -k for t, k in d.terms.items() if k < 0}, -d.base)
        a, b = self.emit(pos, dtype), self.emit(neg, dtype)
        if cls is type(e):
            return self.reuse(e, a, b)
        return self.mk(cls, a, b)

    def _v_not(self, e: Not) -> PrimExpr:
        a = self.visit(e.a)
        if type(a) is IntImm:
            return _FALSE if a.value else _TRUE
        if type(a) is Not:
            return a.a
        flip = _FLIP_INT.get(type(a))
        if flip is not None and (is_index_int(dtype_of(a.a, self.dtypes)) or flip in (EQ, NE)):
            return self.visit(flip(a.a, a.b))
        return self.reuse(e, a)

    def _v_and(self, e: And) -> PrimExpr:
        a = self.visit(e.a)
        if type(a) is IntImm and not a.value:
            return _FALSE
        b = self.visit(e.b)
        if type(a) is IntImm:
            return b
        if type(b) is IntImm:
            return a if b.value else _FALSE
        if a is b:
            return a
        return self.reuse(e, a, b)

    def _v_or(self, e: Or) -> PrimExpr:
        a = self.visit(e.a)
        if type(a) is IntImm and a.value:
            return _TRUE
        b = self.visit(e.b)
        if type(a) is IntImm:
            return b
        if type(b) is IntImm:
            return _TRUE if b.value else a
        if a is b:
            return a
        return self.reuse(e, a, b)

    def _v_select(self, e: Select) -> PrimExpr:
        c = self.visit(e.condition)
        if type(c) is IntImm:
            return self.visit(e.true_value if c.value else e.false_value)
        t, f = self.visit(e.true_value), self.visit(e.false_value)
        if t is f:
            return t
        return self.reuse(e, c, t, f)

    def _v_cast(self, e: Cast) -> PrimExpr:
        v = self.visit(e.value)
        if dtype_of(v, self.dtypes) == e.dtype:
            return v
        if type(v) in (IntImm, FloatImm):
            r = cast_value(v.value, v.dtype, e.dtype)
            if r is not None:
                if dt.is_float(e.dtype):
                    return self.fconst(r, e.dtype)
                return self.const(r, e.dtype)
        return self.reuse(e, e.dtype, v)

    def _v_call(self, e: Call) -> PrimExpr:
        if e.op == "if_then_else":
            c = self.visit(e.args[0])
            if type(c) is IntImm:
                return self.visit(e.args[1] if c.value else e.args[2])
            t, f = self.visit(e.args[1]), self.visit(e.args[2])
            if t is f:
                return t
            return self.reuse(e, e.dtype, e.op, (c, t, f))
        args = tuple(self.visit(a) for a in e.args)
        if all(type(a) in (IntImm, FloatImm) for a in args) and e.op != "fmod":
            r = fold_call(e.op, [a.value for a in args], e.dtype)
            if r is not None:
                if dt.is_float(e.dtype):
                    return self.fconst(r, e.dtype)
                return self.const(int(r), e.dtype)
        return self.reuse(e, e.dtype, e.op, args)

    def _v_load(self, e: BufferLoad) -> PrimExpr:
        return self.reuse(e, e.buffer, tuple(self.visit(i) for i in e.indices))

    def _v_let(self, e: Let) -> PrimExpr:
        return self.reuse(e, e.var, self.visit(e.value), self.visit(e.body))

    def _v_generic(self, e: PrimExpr) -> PrimExpr:
        """Simplify the expression children of any other node (Ramp, Broadcast, Reduce...)."""
        names = node_fields(type(e))
        vals = []
        changed = False
        for name in names:
            v = getattr(e, name)
            if isinstance(v, PrimExpr):
                nv = self.visit(v)
            elif isinstance(v, tuple) and v and isinstance(v[0], PrimExpr):
                nv = tuple(self.visit(x) for x in v)
                nv = v if all(a is b for a, b in zip(nv, v, strict=True)) else nv
            else:
                nv = v
            changed = changed or nv is not v
            vals.append(nv)
        return type(e)(*vals) if changed else e


def _decide(cls: type, lo: int, hi: int) -> bool | None:
    """Truth of ``d <op> 0`` when ``lo <= d <= hi`` decides it, else None."""
    if cls is LT:
        return True if hi < 0 else (False if lo >= 0 else None)
    if cls is LE:
        return True if hi <= 0 else (False if lo > 0 else None)
    if cls is GT:
        return True if lo > 0 else (False if hi <= 0 else None)
    if cls is GE:
        return True if lo >= 0 else (False if hi < 0 else None)
    if cls is EQ:
        return True if lo == hi == 0 else (False if lo > 0 or hi < 0 else None)
    return False if lo == hi == 0 else (True if lo > 0 or hi < 0 else None)


_LIN_TYPES = frozenset((IntImm, Var) + _ARITH)
_DIVS = (FloorDiv, FloorMod, Div, Mod)

_VISIT = {
    IntImm: Simplifier._v_int,
    FloatImm: Simplifier._v_float,
    Var: Simplifier._v_var,
    Min: Simplifier._v_minmax,
    Max: Simplifier._v_minmax,
    Not: Simplifier._v_not,
    And: Simplifier._v_and,
    Or: Simplifier._v_or,
    Select: Simplifier._v_select,
    Cast: Simplifier._v_cast,
    Call: Simplifier._v_call,
    BufferLoad: Simplifier._v_load,
    Let: Simplifier._v_let,
    Ramp: Simplifier._v_generic,
    Broadcast: Simplifier._v_generic,
}
for _c in _ARITH:
    _VISIT[_c] = Simplifier._v_arith
for _c in (EQ, NE, LT, LE, GT, GE):
    _VISIT[_c] = Simplifier._v_cmp
del _c
