"""Expression code generation: tir expressions → LLVM values, scalar or vector lanes.

Types: ``bool`` is ``i1`` in registers and ``i8`` in memory, ``float16`` is ``half``,
integers are ``iN`` whose signedness comes from the tir dtype. In a vectorized loop an
expression evaluates either to a scalar (it does not depend on the vectorized loop
variable) or to an ``<N x T>`` vector; operators broadcast scalars on demand.

Integer semantics: ``Div``/``Mod`` truncate (C), ``FloorDiv``/``FloorMod`` round toward
negative infinity (also for negative operands). Integer division by zero is undefined,
as in C. ``Min``/``Max`` on floats are ``a < b ? a : b`` / ``a > b ? a : b`` (what
x86 ``minps``/``maxps`` compute; a NaN first operand yields the second). Float ``Add``,
``Sub`` and ``Mul`` carry the ``contract`` flag (FMA formation allowed, no
reassociation); ``a * b + c`` on floats is emitted as ``llvm.fmuladd``. Index
arithmetic (buffer indices, loop bounds) uses ``nsw`` on signed integers.
"""

from __future__ import annotations

from llvmlite import ir

from onnxtune.tir import dtype as dt
from onnxtune.tir.arith.utils import expr_text
from onnxtune.tir.expr import (
    EQ,
    GE,
    GT,
    LE,
    LT,
    NE,
    Add,
    And,
    Broadcast,
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
    Ramp,
    Select,
    Sub,
    Var,
)

from .codegen_intrin import const_like

I1 = ir.IntType(1)
I8 = ir.IntType(8)
I32 = ir.IntType(32)
I64 = ir.IntType(64)
PTR = ir.PointerType()
FLOAT_TYPES = {"float16": ir.HalfType(), "float32": ir.FloatType(), "float64": ir.DoubleType()}
CONTRACT = ("contract",)


def ltype(dtype: str, lanes: int = 0, mem: bool = False) -> ir.Type:
    """The LLVM type of a tir dtype (``mem``: as stored in a buffer; ``lanes``: a vector)."""
    if dtype == "bool":
        t: ir.Type = I8 if mem else I1
    elif dtype in FLOAT_TYPES:
        t = FLOAT_TYPES[dtype]
    elif dt.is_int(dtype) or dt.is_narrow(dtype):  # narrow dtypes: their storage bits
        t = ir.IntType(dt.bits(dtype))
    else:
        raise NotImplementedError(f"the LLVM code generator has no type for dtype {dtype!r}")
    return ir.VectorType(t, lanes) if lanes else t


def lanes_of(v: ir.Value) -> int:
    return v.type.count if isinstance(v.type, ir.VectorType) else 0


def _pow2(v: int) -> int:
    """log2(v) for a positive power of two, else -1."""
    return v.bit_length() - 1 if v > 0 and v & (v - 1) == 0 else -1


_ICMP = {EQ: "==", NE: "!=", LT: "<", LE: "<=", GT: ">", GE: ">="}


class ExprCodeGen:
    """Mixin: expression emission. Expects ``b`` (IRBuilder), ``vars``, ``index_mode``."""

    b: ir.IRBuilder
    vars: dict[Var, ir.Value]
    varying: set[Var]
    index_mode: bool

    # -- dispatch -----------------------------------------------------------------------
    def expr(self, e: PrimExpr) -> ir.Value:
        fn = getattr(self, "_e_" + type(e).__name__, None)
        if fn is None:
            raise NotImplementedError(
                f"the LLVM code generator cannot emit a {type(e).__name__} expression "
                f"({expr_text(e)})"
            )
        return fn(e)

    def index(self, e: PrimExpr) -> ir.Value:
        """An index expression as i64 (a vector of i64 when it varies across lanes)."""
        saved, self.index_mode = self.index_mode, True
        try:
            v = self.expr(e)
        finally:
            self.index_mode = saved
        return self.cast_value(v, e.dtype, "int64")

    # -- vector helpers -----------------------------------------------------------------
    def splat(self, v: ir.Value, lanes: int) -> ir.Value:
        """``v`` repeated ``lanes`` times (a vector ``v`` is returned unchanged)."""
        if not lanes or isinstance(v.type, ir.VectorType):
            return v
        vt = ir.VectorType(v.type, lanes)
        if isinstance(v, ir.Constant) and not isinstance(v.constant, (list, tuple, str)):
            return ir.Constant(vt, [v.constant] * lanes)
        ins = self.b.insert_element(ir.Constant(vt, None), v, ir.Constant(I32, 0))
        return self.b.shuffle_vector(ins, ir.Constant(vt, None), ir.Constant(
            ir.VectorType(I32, lanes), [0] * lanes))

    def unify(self, *vals: ir.Value) -> list[ir.Value]:
        n = max(lanes_of(v) for v in vals)
        return [self.splat(v, n) for v in vals]

    def const(self, value: float, dtype: str, lanes: int = 0) -> ir.Constant:
        return const_like(ltype(dtype, lanes), value)

    # -- leaves -------------------------------------------------------------------------
    def _e_IntImm(self, e: IntImm) -> ir.Value:
        if e.dtype == "bool":
            return ir.Constant(I1, int(bool(e.value)))
        if dt.is_float(e.dtype):
            return ir.Constant(ltype(e.dtype), float(e.value))
        return ir.Constant(ltype(e.dtype), e.value)

    def _e_FloatImm(self, e: FloatImm) -> ir.Value:
        if not dt.is_float(e.dtype):
            raise ValueError(f"float constant {e.value} has the non-float dtype {e.dtype}")
        return ir.Constant(ltype(e.dtype), e.value)

    def _e_Var(self, e: Var) -> ir.Value:
        v = self.vars.get(e)
        if v is None:
            raise ValueError(
                f"variable {e.name} is used where it is not defined (not a loop variable, "
                "let variable or parameter in scope)"
            )
        return v

    def _e_Let(self, e: Let) -> ir.Value:
        self.bind(e.var, self.expr(e.value))
        try:
            return self.expr(e.body)
        finally:
            self.unbind(e.var)

    def bind(self, var: Var, value: ir.Value) -> None:
        """Define ``var``; a vector value makes it vary across lanes."""
        self.vars[var] = value
        if lanes_of(value):
            self.varying.add(var)

    def unbind(self, var: Var) -> None:
        del self.vars[var]
        self.varying.discard(var)

    def _e_Ramp(self, e: Ramp) -> ir.Value:
        base = self.splat(self.expr(e.base), e.lanes)
        stride = self.splat(self.expr(e.stride), e.lanes)
        iota = ir.Constant(ltype(e.dtype, e.lanes), list(range(e.lanes)))
        return self.b.add(base, self.b.mul(stride, iota))

    def _e_Broadcast(self, e: Broadcast) -> ir.Value:
        return self.splat(self.expr(e.value), e.lanes)

    # -- arithmetic ---------------------------------------------------------------------
    def _operands(self, e) -> tuple[ir.Value, ir.Value, str]:
        if e.a.dtype != e.b.dtype:
            raise ValueError(
                f"{type(e).__name__} operands have different dtypes ({e.a.dtype} and "
                f"{e.b.dtype}); cast one of them"
            )
        a, b = self.unify(self.expr(e.a), self.expr(e.b))
        return a, b, e.a.dtype

    def _divisor(self, b: ir.Value, dtype: str) -> ir.Value:
        """An integer divisor with lanes that are masked off set to 1 (they hold arbitrary
        values, and x86 traps on a division by zero even in a lane nobody reads)."""
        mask = getattr(self, "mask", None)
        if mask is None or dt.is_float(dtype) or not lanes_of(b):
            return b
        return self.b.select(mask, b, const_like(b.type, 1))

    def _safe_divisor(self, a: ir.Value, b: ir.Value, dtype: str
                      ) -> tuple[ir.Value, ir.Value | None]:
        """(divisor, zero) for an integer division of data: x86 traps on a zero divisor
        and on the minimum / -1 (killing the process), so those divisors become 1, and
        ``zero`` (None when nothing is guarded) marks the lanes whose result must be 0:
        numpy's answers are 0 for a zero divisor and the minimum (what dividing by 1
        gives), remainder 0, for the overflow. Index arithmetic and nonzero constant
        divisors are left alone."""
        if self.index_mode or dt.is_float(dtype) or dtype == "bool" or (
                isinstance(b, ir.Constant) and b.constant not in (0, -1, None)):
            return b, None
        bb = self.b
        one = const_like(b.type, 1)
        zero = bb.icmp_signed("==", b, const_like(b.type, 0))
        bad = zero
        if not dt.is_uint(dtype):
            lowest = const_like(a.type, -(1 << (dt.bits(dtype) - 1)))
            bad = bb.or_(zero, bb.and_(bb.icmp_signed("==", a, lowest),
                                       bb.icmp_signed("==", b, const_like(b.type, -1))))
        return bb.select(bad, one, b), zero

    def _zeroed(self, r: ir.Value, zero: ir.Value | None) -> ir.Value:
        """``r`` with the lanes ``zero`` marks set to 0 (see :meth:`_safe_divisor`)."""
        return r if zero is None else self.b.select(zero, const_like(r.type, 0), r)

    def _iflags(self, dtype: str) -> tuple[str, ...]:
        return ("nsw",) if self.index_mode and not dt.is_uint(dtype) else ()

    def _fmuladd(self, mul: Mul, other: PrimExpr, neg_mul: bool, neg_other: bool) -> ir.Value:
        from .codegen_intrin import call_intrinsic

        x, y, z = self.unify(self.expr(mul.a), self.expr(mul.b), self.expr(other))
        if neg_mul:
            x = self.b.fneg(x)
        if neg_other:
            z = self.b.fneg(z)
        return call_intrinsic(self.b, "llvm.fmuladd", x, y, z)

    def _e_Add(self, e: Add) -> ir.Value:
        if dt.is_float(e.dtype):
            if isinstance(e.a, Mul):
                return self._fmuladd(e.a, e.b, False, False)
            if isinstance(e.b, Mul):
                return self._fmuladd(e.b, e.a, False, False)
        a, b, dtype = self._operands(e)
        if dt.is_float(dtype):
            return self.b.fadd(a, b, flags=CONTRACT)
        return self.b.add(a, b, flags=self._iflags(dtype))

    def _e_Sub(self, e: Sub) -> ir.Value:
        if dt.is_float(e.dtype):
            if isinstance(e.a, Mul):
                return self._fmuladd(e.a, e.b, False, True)
            if isinstance(e.b, Mul):
                return self._fmuladd(e.b, e.a, True, False)
        a, b, dtype = self._operands(e)
        if dt.is_float(dtype):
            return self.b.fsub(a, b, flags=CONTRACT)
        return self.b.sub(a, b, flags=self._iflags(dtype))

    def _e_Mul(self, e: Mul) -> ir.Value:
        a, b, dtype = self._operands(e)
        if dt.is_float(dtype):
            return self.b.fmul(a, b, flags=CONTRACT)
        return self.b.mul(a, b, flags=self._iflags(dtype))

    def _e_Div(self, e: Div) -> ir.Value:
        a, b, dtype = self._operands(e)
        b, zero = self._safe_divisor(a, self._divisor(b, dtype), dtype)
        if dt.is_float(dtype):
            return self.b.fdiv(a, b)
        if dtype == "bool":
            return a
        return self._zeroed(self.b.udiv(a, b) if dt.is_uint(dtype) else self.b.sdiv(a, b),
                            zero)

    def _e_Mod(self, e: Mod) -> ir.Value:
        a, b, dtype = self._operands(e)
        b, zero = self._safe_divisor(a, self._divisor(b, dtype), dtype)
        if dt.is_float(dtype):
            return self.b.frem(a, b)
        if dtype == "bool":
            return ir.Constant(a.type, None)
        return self._zeroed(self.b.urem(a, b) if dt.is_uint(dtype) else self.b.srem(a, b),
                            zero)

    def _floor_float(self, x: ir.Value) -> ir.Value:
        from .codegen_intrin import call_intrinsic

        return call_intrinsic(self.b, "llvm.floor", x)

    def _e_FloorDiv(self, e: FloorDiv) -> ir.Value:
        a, b, dtype = self._operands(e)
        b, zero = self._safe_divisor(a, self._divisor(b, dtype), dtype)
        return self._zeroed(self._floordiv(e, a, b, dtype), zero)

    def _floordiv(self, e: FloorDiv, a: ir.Value, b: ir.Value, dtype: str) -> ir.Value:
        bb = self.b
        if dt.is_float(dtype):
            return self._floor_float(bb.fdiv(a, b))
        if dtype == "bool":
            return a
        if dt.is_uint(dtype):
            return bb.udiv(a, b)
        c = e.b.value if isinstance(e.b, IntImm) else None
        if c is not None and c > 0:
            k = _pow2(c)
            if k >= 0:
                return bb.ashr(a, const_like(a.type, k))
            q, r = bb.sdiv(a, b), bb.srem(a, b)
            neg = bb.icmp_signed("<", r, const_like(a.type, 0))
            return bb.add(q, bb.sext(neg, a.type))
        q, r = bb.sdiv(a, b), bb.srem(a, b)
        return bb.sub(q, bb.zext(self._needs_floor_fix(r, b), a.type))

    def _needs_floor_fix(self, r: ir.Value, b: ir.Value) -> ir.Value:
        """r != 0 and sign(r) != sign(b): truncation rounded toward zero, not down."""
        bb = self.b
        zero = const_like(r.type, 0)
        nz = bb.icmp_signed("!=", r, zero)
        diff = bb.icmp_signed("<", bb.xor(r, b), zero)
        return bb.and_(nz, diff)

    def _e_FloorMod(self, e: FloorMod) -> ir.Value:
        a, b, dtype = self._operands(e)
        b, zero = self._safe_divisor(a, self._divisor(b, dtype), dtype)
        return self._zeroed(self._floormod(e, a, b, dtype), zero)

    def _floormod(self, e: FloorMod, a: ir.Value, b: ir.Value, dtype: str) -> ir.Value:
        bb = self.b
        if dt.is_float(dtype):
            return bb.fsub(a, bb.fmul(self._floor_float(bb.fdiv(a, b)), b))
        if dtype == "bool":
            return ir.Constant(a.type, None)
        if dt.is_uint(dtype):
            return bb.urem(a, b)
        c = e.b.value if isinstance(e.b, IntImm) else None
        if c is not None and c > 0:
            if _pow2(c) >= 0:
                return bb.and_(a, const_like(a.type, c - 1))
            r = bb.srem(a, b)
            neg = bb.icmp_signed("<", r, const_like(a.type, 0))
            return bb.add(r, bb.select(neg, b, const_like(a.type, 0)))
        r = bb.srem(a, b)
        return bb.add(r, bb.select(self._needs_floor_fix(r, b), b, const_like(a.type, 0)))

    def _minmax(self, e, op: str) -> ir.Value:
        a, b, dtype = self._operands(e)
        if dt.is_float(dtype):
            cond = self.b.fcmp_ordered(op, a, b)
        elif dt.is_uint(dtype) or dtype == "bool":
            cond = self.b.icmp_unsigned(op, a, b)
        else:
            cond = self.b.icmp_signed(op, a, b)
        return self.b.select(cond, a, b)

    def _e_Min(self, e: Min) -> ir.Value:
        return self._minmax(e, "<")

    def _e_Max(self, e: Max) -> ir.Value:
        return self._minmax(e, ">")

    # -- comparisons and logic ----------------------------------------------------------
    def _e_CmpOp(self, e: CmpOp) -> ir.Value:
        a, b, dtype = self._operands(e)
        op = _ICMP[type(e)]
        if dt.is_float(dtype):
            # ordered comparisons are false on NaN; != is unordered (NaN != x is true)
            if op == "!=":
                return self.b.fcmp_unordered(op, a, b)
            return self.b.fcmp_ordered(op, a, b)
        if dt.is_uint(dtype) or dtype == "bool":
            return self.b.icmp_unsigned(op, a, b)
        return self.b.icmp_signed(op, a, b)

    _e_EQ = _e_NE = _e_LT = _e_LE = _e_GT = _e_GE = _e_CmpOp

    def _bool(self, e: PrimExpr) -> ir.Value:
        v = self.expr(e)
        return v if e.dtype == "bool" else self.cast_value(v, e.dtype, "bool")

    def _e_And(self, e: And) -> ir.Value:
        a, b = self.unify(self._bool(e.a), self._bool(e.b))
        return self.b.and_(a, b)

    def _e_Or(self, e: Or) -> ir.Value:
        a, b = self.unify(self._bool(e.a), self._bool(e.b))
        return self.b.or_(a, b)

    def _e_Not(self, e: Not) -> ir.Value:
        return self.b.not_(self._bool(e.a))

    def _e_Select(self, e: Select) -> ir.Value:
        if e.true_value.dtype != e.false_value.dtype:
            raise ValueError(
                f"Select branches have different dtypes ({e.true_value.dtype} and "
                f"{e.false_value.dtype})"
            )
        c, t, f = self.unify(self._bool(e.condition), self.expr(e.true_value),
                             self.expr(e.false_value))
        return self.b.select(c, t, f)

    # -- casts --------------------------------------------------------------------------
    def _e_Cast(self, e: Cast) -> ir.Value:
        return self.cast_value(self.expr(e.value), e.value.dtype, e.dtype)

    def _f64_to_f16(self, d: ir.Value) -> ir.Value:
        """double → half, correctly rounded without the ``__truncdfhf2`` runtime call:
        round to float with round-to-odd (sticky last bit), then float → half."""
        bb = self.b
        n = lanes_of(d)
        f = bb.fptrunc(d, ltype("float32", n))
        back = bb.fpext(f, d.type)
        inexact = bb.fcmp_ordered("!=", back, d)
        from .codegen_intrin import call_intrinsic

        away = bb.fcmp_ordered(">", call_intrinsic(bb, "llvm.fabs", back),
                               call_intrinsic(bb, "llvm.fabs", d))
        it = ltype("int32", n)
        bits = bb.sub(bb.bitcast(f, it), bb.zext(away, it))
        bits = bb.or_(bits, bb.zext(inexact, it))
        return bb.fptrunc(bb.bitcast(bits, f.type), ltype("float16", n))

    def cast_value(self, v: ir.Value, src: str, dst: str) -> ir.Value:
        """Convert ``v`` of dtype ``src`` to ``dst`` (C semantics; float→int truncates)."""
        if src == dst:
            return v
        bb = self.b
        n = lanes_of(v)
        to = ltype(dst, n)
        if dst == "bool":
            if dt.is_float(src):
                return bb.fcmp_unordered("!=", v, const_like(v.type, 0.0))
            return bb.icmp_unsigned("!=", v, const_like(v.type, 0))
        if dt.is_float(src) and dt.is_float(dst):
            if dt.bits(src) < dt.bits(dst):
                return bb.fpext(v, to)
            if src == "float64" and dst == "float16":
                return self._f64_to_f16(v)
            return bb.fptrunc(v, to)
        if dt.is_float(src):
            return bb.fptoui(v, to) if dt.is_uint(dst) else bb.fptosi(v, to)
        signed = not dt.is_uint(src) and src != "bool"
        if dt.is_float(dst):
            return bb.sitofp(v, to) if signed else bb.uitofp(v, to)
        sb, db = dt.bits(src), dt.bits(dst)
        if sb == db:
            return v
        if sb > db:
            return bb.trunc(v, to)
        return bb.sext(v, to) if signed else bb.zext(v, to)
