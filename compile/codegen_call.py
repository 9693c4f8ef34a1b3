"""Intrinsic calls: math functions and the lazily evaluated ``if_then_else``.

float32 exp/log/tanh/sigmoid/erf use the inline polynomial versions of
:mod:`codegen_intrin` (vectorizable, ~1-2.5 ulp); float16 computes them in float32.
float64 uses LLVM intrinsics / libm (exact to libm's accuracy). ``round`` rounds half
to even (numpy's and ONNX's ``Round``), via ``llvm.roundeven``. ``rsqrt`` is
``1 / sqrt(x)`` (correctly rounded sqrt, then a division: not the approximate
``rsqrtps``). ``fmod`` is C's ``fmod`` (sign of the dividend), ``isnan`` is false for
integers, ``abs`` of the most negative integer wraps (as in numpy).
"""

from __future__ import annotations

from llvmlite import ir

from onnxtune.tir import dtype as dt
from onnxtune.tir.expr import Call

from .codegen_expr import I1, I32, lanes_of, ltype
from .codegen_intrin import FAST_MATH, call_intrinsic, const_like

# ops that are one LLVM float intrinsic
_LLVM_UNARY = {
    "sqrt": "llvm.sqrt",
    "floor": "llvm.floor",
    "ceil": "llvm.ceil",
    "trunc": "llvm.trunc",
    "round": "llvm.roundeven",
    "exp2": "llvm.exp2",
    "log2": "llvm.log2",
    "sin": "llvm.sin",
    "cos": "llvm.cos",
}
# float64 versions of the fast float32 functions
_F64 = {"exp": "llvm.exp", "log": "llvm.log"}
# libm functions (called per lane)
_LIBM = {"tanh": "tanh", "erf": "erf", "log1p": "log1p"}


class CallCodeGen:
    """Mixin: ``Call`` expressions."""

    b: ir.IRBuilder

    def _e_Call(self, e: Call) -> ir.Value:
        if e.op == "if_then_else":
            return self.if_then_else(e)
        handler = getattr(self, "_call_" + e.op, None)
        if handler is not None:
            return handler(e)
        if len(e.args) == 1 and dt.is_float(e.dtype):
            return self._float_unary(e)
        raise NotImplementedError(
            f"the LLVM code generator does not implement the intrinsic {e.op!r} for dtype "
            f"{e.dtype}"
        )

    def _float_arg(self, e: Call, i: int = 0) -> ir.Value:
        a = e.args[i]
        return self.cast_value(self.expr(a), a.dtype, e.dtype)

    def _float_unary(self, e: Call) -> ir.Value:
        x = self._float_arg(e)
        op, dtype = e.op, e.dtype
        if op in _LLVM_UNARY:
            return call_intrinsic(self.b, _LLVM_UNARY[op], x)
        if op in FAST_MATH and dtype == "float32":
            return FAST_MATH[op](self.b, x)
        if op in FAST_MATH and dtype == "float16":
            x32 = self.cast_value(x, "float16", "float32")
            return self.cast_value(FAST_MATH[op](self.b, x32), "float32", "float16")
        if op in _F64:
            return call_intrinsic(self.b, _F64[op], x)
        if op == "sigmoid":
            one = const_like(x.type, 1.0)
            ex = call_intrinsic(self.b, "llvm.exp", self.b.fneg(x))
            return self.b.fdiv(one, self.b.fadd(one, ex))
        if op in _LIBM:
            return self._libm(_LIBM[op], x, dtype)
        if op == "rsqrt":
            return self.b.fdiv(const_like(x.type, 1.0), call_intrinsic(self.b, "llvm.sqrt", x))
        if op == "abs":
            return call_intrinsic(self.b, "llvm.fabs", x)
        raise NotImplementedError(
            f"the LLVM code generator does not implement the intrinsic {op!r} for {dtype}"
        )

    def _libm(self, name: str, x: ir.Value, dtype: str) -> ir.Value:
        """Call the C library function ``name`` (float: ``name`` + 'f') on every lane."""
        if dtype == "float16":
            x32 = self.cast_value(x, "float16", "float32")
            return self.cast_value(self._libm(name, x32, "float32"), "float32", "float16")
        et = ltype(dtype)
        sym = name + "f" if dtype == "float32" else name
        fn = self.b.module.globals.get(sym)
        if fn is None:
            fn = ir.Function(self.b.module, ir.FunctionType(et, [et]), sym)
        n = lanes_of(x)
        if not n:
            return self.b.call(fn, [x])
        out = ir.Constant(x.type, None)
        for i in range(n):
            lane = self.b.extract_element(x, ir.Constant(I32, i))
            out = self.b.insert_element(out, self.b.call(fn, [lane]), ir.Constant(I32, i))
        return out

    def _call_abs(self, e: Call) -> ir.Value:
        if dt.is_float(e.dtype):
            return self._float_unary(e)
        x = self.expr(e.args[0])
        if dt.is_uint(e.dtype) or e.dtype == "bool":
            return x
        return call_intrinsic(self.b, "llvm.abs", x, ir.Constant(I1, 0))

    def _call_reinterpret(self, e: Call) -> ir.Value:
        x = self.expr(e.args[0])
        to = ltype(e.dtype, lanes_of(x))
        return x if x.type == to else self.b.bitcast(x, to)

    def _call_isnan(self, e: Call) -> ir.Value:
        a = e.args[0]
        x = self.expr(a)
        if not dt.is_float(a.dtype):
            return const_like(ltype("bool", lanes_of(x)), 0)
        return self.b.fcmp_unordered("uno", x, x)

    def _binary_args(self, e: Call) -> tuple[ir.Value, ir.Value]:
        a, b = e.args
        if a.dtype != b.dtype:
            raise ValueError(f"{e.op}: arguments have different dtypes ({a.dtype}, {b.dtype})")
        x, y = self.unify(self.expr(a), self.expr(b))
        if dt.is_float(e.dtype) and not dt.is_float(a.dtype):
            x, y = self.cast_value(x, a.dtype, e.dtype), self.cast_value(y, a.dtype, e.dtype)
        return x, y

    def _call_pow(self, e: Call) -> ir.Value:
        x, y = self._binary_args(e)
        if e.dtype == "float16":
            x32, y32 = (self.cast_value(v, "float16", "float32") for v in (x, y))
            r = call_intrinsic(self.b, "llvm.pow", x32, y32)
            return self.cast_value(r, "float32", "float16")
        return call_intrinsic(self.b, "llvm.pow", x, y)

    def _call_fmod(self, e: Call) -> ir.Value:
        x, y = self._binary_args(e)
        if dt.is_float(e.dtype):
            return self.b.frem(x, y)
        y, zero = self._safe_divisor(x, self._divisor(y, e.dtype), e.dtype)
        return self._zeroed(self.b.urem(x, y) if dt.is_uint(e.dtype) else self.b.srem(x, y),
                            zero)

    # -- if_then_else -------------------------------------------------------------------
    def if_then_else(self, e: Call) -> ir.Value:
        """Only the selected side is evaluated (branches; lane masks inside vector code)."""
        cond_e, t_e, f_e = e.args
        cond = self._bool(cond_e)
        if lanes_of(cond):
            with self.masked(cond):
                t = self.expr(t_e)
            with self.masked(self.b.not_(cond)):
                f = self.expr(f_e)
            c, t, f = self.unify(cond, t, f)
            return self.b.select(c, t, f)
        wide = self.lanes if (self.is_varying(t_e) or self.is_varying(f_e)) else 0
        bb = self.b
        then_bb = bb.append_basic_block("ite.then")
        else_bb = bb.append_basic_block("ite.else")
        merge_bb = bb.append_basic_block("ite.end")
        bb.cbranch(cond, then_bb, else_bb)
        bb.position_at_end(then_bb)
        t = self.splat(self.expr(t_e), wide)
        then_end = bb.block
        bb.branch(merge_bb)
        bb.position_at_end(else_bb)
        f = self.splat(self.expr(f_e), wide)
        else_end = bb.block
        bb.branch(merge_bb)
        bb.position_at_end(merge_bb)
        phi = bb.phi(t.type)
        phi.add_incoming(t, then_end)
        phi.add_incoming(f, else_end)
        return phi
