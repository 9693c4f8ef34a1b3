"""A reference interpreter for expressions: ``evaluate(expr, env)`` with the generated
code's semantics (see :mod:`.fold`), for tests and constant checks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .. import dtype as dt
from ..buffer import Buffer
from ..expr import (
    And,
    BinaryOp,
    Broadcast,
    BufferLoad,
    Call,
    Cast,
    CmpOp,
    FloatImm,
    IntImm,
    Let,
    Mod,
    Not,
    Or,
    PrimExpr,
    Ramp,
    Select,
    Var,
)
from .fold import cast_value, fold_call, fold_cmp, fold_float, fold_int, int_info
from .utils import expr_text


def evaluate(
    expr: PrimExpr,
    env: Mapping[Any, Any] | None = None,
    *,
    check_overflow: bool = False,
) -> int | float | bool:
    """The value of ``expr`` with ``env`` mapping each free Var (and each Buffer it loads
    from) to a value (a numpy array for a buffer).

    Integers wrap like the machine; with ``check_overflow`` a signed integer overflow
    raises OverflowError instead (the simplifier assumes index arithmetic never
    overflows, as LLVM's ``nsw`` does). A division by zero raises ZeroDivisionError and a
    free variable missing from ``env`` raises KeyError naming it. Bool results are bools.
    """
    v = _Eval(dict(env or {}), check_overflow).run(expr)
    return bool(v) if expr.dtype == "bool" else v


class _Eval:
    def __init__(self, env: dict[Any, Any], check_overflow: bool):
        self.env = env
        self.check = check_overflow

    def run(self, e: PrimExpr) -> Any:
        fn = getattr(self, "e_" + type(e).__name__, None)
        if fn is None:
            for k in type(e).__mro__[1:]:
                fn = getattr(self, "e_" + k.__name__, None)
                if fn is not None:
                    break
        if fn is None:
            raise NotImplementedError(f"evaluate: {type(e).__name__} is not supported")
        return fn(e)

    def e_IntImm(self, e: IntImm) -> int:
        return e.value

    def e_FloatImm(self, e: FloatImm) -> float:
        return e.value

    def e_Var(self, e: Var) -> Any:
        if e not in self.env:
            raise KeyError(f"evaluate: no value for variable {e.name}")
        v = self.env[e]
        if dt.is_float(e.dtype):
            return float(v)
        return int(v)

    def e_BinaryOp(self, e: BinaryOp) -> Any:
        a, b = self.run(e.a), self.run(e.b)
        dtype = e.dtype
        if dt.is_float(dtype):
            r = fold_float(type(e), a, b, dtype)
            if r is None:
                raise ZeroDivisionError(f"evaluate: float division by zero in {expr_text(e)}")
            return r
        return self._int_op(type(e), a, b, e)

    def _int_op(self, cls: type, a: int, b: int, e: PrimExpr) -> int:
        dtype = e.dtype
        r = fold_int(cls, a, b, dtype)
        if r is None:
            if b == 0:
                raise ZeroDivisionError(f"evaluate: integer division by zero in {expr_text(e)}")
            raise OverflowError(f"evaluate: {a} / {b} overflows {dtype}")
        if self.check:
            _, signed, lo, hi = int_info(dtype)
            exact = {"Add": a + b, "Sub": a - b, "Mul": a * b}.get(cls.__name__)
            if signed and exact is not None and not lo <= exact <= hi:
                raise OverflowError(f"evaluate: {exact} overflows {dtype} in {expr_text(e)}")
        return r

    def e_CmpOp(self, e: CmpOp) -> bool:
        return fold_cmp(type(e), self.run(e.a), self.run(e.b))

    def e_And(self, e: And) -> bool:
        return bool(self.run(e.a)) and bool(self.run(e.b))

    def e_Or(self, e: Or) -> bool:
        return bool(self.run(e.a)) or bool(self.run(e.b))

    def e_Not(self, e: Not) -> bool:
        return not self.run(e.a)

    def e_Select(self, e: Select) -> Any:
        c, t, f = self.run(e.condition), self.run(e.true_value), self.run(e.false_value)
        return t if c else f

    def e_Cast(self, e: Cast) -> Any:
        v = self.run(e.value)
        r = cast_value(v, e.value.dtype, e.dtype)
        if r is None:
            raise OverflowError(f"evaluate: cannot cast {v} from {e.value.dtype} to {e.dtype}")
        return r

    def e_Call(self, e: Call) -> Any:
        if e.op == "if_then_else":
            c = self.run(e.args[0])
            return self.run(e.args[1] if c else e.args[2])
        args = [self.run(a) for a in e.args]
        if e.op == "fmod":
            if not dt.is_float(e.dtype):
                return self._int_op(Mod, args[0], args[1], e)
            r = fold_float(Mod, args[0], args[1], e.dtype)
            if r is None:
                raise ZeroDivisionError(f"evaluate: fmod by zero in {expr_text(e)}")
            return r
        r = fold_call(e.op, args, e.dtype)
        if r is None:
            raise NotImplementedError(f"evaluate: intrinsic {e.op} on {e.dtype}")
        return r

    def e_Let(self, e: Let) -> Any:
        old = self.env.get(e.var, _MISSING)
        self.env[e.var] = self.run(e.value)
        try:
            return self.run(e.body)
        finally:
            if old is _MISSING:
                del self.env[e.var]
            else:
                self.env[e.var] = old

    def e_BufferLoad(self, e: BufferLoad) -> Any:
        buf: Buffer = e.buffer
        if buf not in self.env:
            raise KeyError(f"evaluate: no array for buffer {buf.name}")
        idx = tuple(self.run(i) for i in e.indices)
        v = np.asarray(self.env[buf])[idx]
        return float(v) if dt.is_float(e.dtype) else int(v)

    def e_Ramp(self, e: Ramp) -> Any:
        raise NotImplementedError("evaluate: vector expressions (Ramp) are not supported")

    def e_Broadcast(self, e: Broadcast) -> Any:
        raise NotImplementedError("evaluate: vector expressions (Broadcast) are not supported")


_MISSING = object()
