"""Fast vectorizable float32 exp, log, tanh, sigmoid and erf written as plain LLVM IR.

Each function takes an ``llvmlite.ir.IRBuilder`` and a ``float`` or ``<N x float>``
value and returns a value of the same type, using only operations LLVM vectorizes
(multiply-add, select, compare, bit casts, integer shifts): no libm calls. The
polynomial coefficients were fitted for this project (weighted minimax, Lawson
iteration) on the reduced ranges noted next to them. Special values follow C99/numpy:
NaN in, NaN out; exp(-inf) = 0, exp(inf) = inf, log(0) = -inf, log(x < 0) = NaN,
tanh/erf(+-inf) = +-1, sigmoid(-inf) = 0, sigmoid(inf) = 1; denormal results of exp
and denormal inputs of log are handled.
"""

from __future__ import annotations

from llvmlite import ir

F32 = ir.FloatType()
I32 = ir.IntType(32)
I1 = ir.IntType(1)

LOG2E = 1.4426950408889634
# ln 2 split so that n * LN2_HI is exact for |n| < 2**9
LN2_HI = 0.693145751953125
LN2_LO = 1.4286068203094172e-06
SQRT2_MANT = 0x3504F3  # mantissa bits of sqrt(2)

# exp(r) = 1 + r + r^2 * P(r),  r in [-ln2/2, ln2/2]
EXP_P = (
    0.5000000067659073, 0.16666665869409847, 0.041666295046069134,
    0.008333496987061028, 0.0013944651559601828, 0.00019790372519043955,
)
# log(1 + f) = f - f^2/2 + f^3 * P(f),  f in [sqrt(1/2) - 1, sqrt(2) - 1]
LOG_P = (
    0.3333333171534279, -0.2500082114016812, 0.20001226091320523, -0.16623353231831708,
    0.1420177409856007, -0.1316023793742099, 0.12761486341388453, -0.07634237446702044,
)
# tanh(x) = x + x^3 * P(x^2),  |x| < 0.625
TANH_P = (
    -0.333332819442646, 0.13331442241417824, -0.05373971772325113,
    0.020639093574638567, -0.005704992123590439,
)
TANH_SMALL = 0.625
# erf(x) = x * P(x^2),  |x| < 0.9
ERF_SMALL_P = (
    1.1283791667672327, -0.3761263498977779, 0.11283715130179729, -0.026860512545674717,
    0.0052038674834289315, -0.0008175720779632653, 8.513411043043517e-05,
)
ERF_SMALL = 0.9
# erf(x) = 1 - exp(Q(x)),  0.9 <= x < 3.92  (Q approximates log(erfc(x)))
ERF_LARGE_Q = (
    0.0001692083354130305, -1.1294884231980045, -0.6334008140591958, -0.10822042796057872,
    0.025080647241577454, -0.004156267535509974, 0.0004313963744644176,
    -2.0828879736718723e-05,
)
ERF_ONE = 3.92  # erf(x) rounds to 1.0f from here on

EXP_HI = 88.72283935546875  # largest x with a finite expf(x)
EXP_LO = -103.97208404541016  # below this expf(x) rounds to 0


def mangle(t: ir.Type) -> str:
    """The type suffix LLVM intrinsic names use (f32, v16f32, i64, v8i1, ...)."""
    if isinstance(t, ir.VectorType):
        return f"v{t.count}{mangle(t.element)}"
    if isinstance(t, ir.IntType):
        return f"i{t.width}"
    if isinstance(t, ir.HalfType):
        return "f16"
    if isinstance(t, ir.FloatType):
        return "f32"
    if isinstance(t, ir.DoubleType):
        return "f64"
    if isinstance(t, ir.PointerType):
        return "p0"
    raise TypeError(f"no intrinsic suffix for LLVM type {t}")


def intrinsic(
    module: ir.Module, name: str, ret: ir.Type, args: list[ir.Type], overload: list[ir.Type]
) -> ir.Function:
    """Declare (once) the intrinsic ``name`` overloaded on ``overload`` types."""
    full = ".".join([name] + [mangle(t) for t in overload])
    fn = module.globals.get(full)
    if fn is None:
        fn = ir.Function(module, ir.FunctionType(ret, args), full)
    return fn


def call_intrinsic(b: ir.IRBuilder, name: str, *args: ir.Value) -> ir.Value:
    """Call the elementwise intrinsic ``name`` whose result type is its first argument's."""
    t = args[0].type
    fn = intrinsic(b.module, name, t, [a.type for a in args], [t])
    return b.call(fn, list(args))


def const_like(t: ir.Type, value: float) -> ir.Constant:
    """A constant of type ``t`` (scalar or vector) holding ``value`` in every lane."""
    if isinstance(t, ir.VectorType):
        return ir.Constant(t, [value] * t.count)
    return ir.Constant(t, value)


def int_type_like(t: ir.Type, width: int = 32) -> ir.Type:
    it = ir.IntType(width)
    return ir.VectorType(it, t.count) if isinstance(t, ir.VectorType) else it


def _fma(b: ir.IRBuilder, x: ir.Value, y: ir.Value, z: ir.Value) -> ir.Value:
    return call_intrinsic(b, "llvm.fmuladd", x, y, z)


def _poly(b: ir.IRBuilder, t: ir.Value, coefs: tuple[float, ...]) -> ir.Value:
    """Horner evaluation of sum(coefs[k] * t**k) with multiply-adds."""
    acc: ir.Value = const_like(t.type, coefs[-1])
    for c in coefs[-2::-1]:
        acc = _fma(b, acc, t, const_like(t.type, c))
    return acc


def _abs(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    return call_intrinsic(b, "llvm.fabs", x)


def _copysign(b: ir.IRBuilder, mag: ir.Value, sign: ir.Value) -> ir.Value:
    return call_intrinsic(b, "llvm.copysign", mag, sign)


def _isnan(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    return b.fcmp_unordered("uno", x, x)


def _pow2i(b: ir.IRBuilder, n: ir.Value, ft: ir.Type) -> ir.Value:
    """2**n as float for an integer n in [-126, 127]."""
    it = n.type
    bits = b.shl(b.add(n, const_like(it, 127)), const_like(it, 23))
    return b.bitcast(bits, ft)


def fast_exp(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """exp(x) for float32: range reduction by ln 2, a degree-7 polynomial, 2**n scaling.

    Max error about 1 ulp over the whole range, gradual underflow to denormals included.
    """
    t = x.type
    it = int_type_like(t)
    nan = _isnan(b, x)
    # clamp (NaN → 0) so that the integer path never sees an out-of-range value
    xs = b.select(nan, const_like(t, 0.0), x)
    xs = b.select(b.fcmp_ordered(">", xs, const_like(t, EXP_HI)), const_like(t, EXP_HI), xs)
    xs = b.select(b.fcmp_ordered("<", xs, const_like(t, EXP_LO)), const_like(t, EXP_LO), xs)
    n = call_intrinsic(b, "llvm.roundeven", b.fmul(xs, const_like(t, LOG2E)))
    r = _fma(b, n, const_like(t, -LN2_HI), xs)
    r = _fma(b, n, const_like(t, -LN2_LO), r)
    p = _poly(b, r, EXP_P)
    p = _fma(b, b.fmul(r, r), p, b.fadd(r, const_like(t, 1.0)))
    # 2**n split into two factors so that n in [-150, 128] stays representable
    ni = b.fptosi(n, it)
    n1 = b.ashr(ni, const_like(it, 1))
    n2 = b.sub(ni, n1)
    out = b.fmul(b.fmul(p, _pow2i(b, n1, t)), _pow2i(b, n2, t))
    out = b.select(b.fcmp_ordered(">", x, const_like(t, EXP_HI)), const_like(t, float("inf")), out)
    out = b.select(b.fcmp_ordered("<", x, const_like(t, EXP_LO)), const_like(t, 0.0), out)
    return b.select(nan, x, out)


def fast_log(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """log(x) for float32: exponent extraction, mantissa in [sqrt(1/2), sqrt(2)), polynomial.

    Max error about 1 ulp; denormal inputs are rescaled by 2**23 first.
    """
    t = x.type
    it = int_type_like(t)
    tiny = b.fcmp_ordered("<", x, const_like(t, 1.1754943508222875e-38))
    xs = b.select(tiny, b.fmul(x, const_like(t, 8388608.0)), x)
    eadj = b.select(tiny, const_like(it, -23), const_like(it, 0))
    bits = b.bitcast(xs, it)
    mant = b.and_(bits, const_like(it, 0x7FFFFF))
    big = b.icmp_signed(">", mant, const_like(it, SQRT2_MANT))
    # exponent of the mantissa: 0x3f800000 (1.0) or 0x3f000000 (0.5) for m > sqrt(2)
    mexp = b.select(big, const_like(it, 0x3F000000), const_like(it, 0x3F800000))
    m = b.bitcast(b.or_(mant, mexp), t)
    e = b.sub(b.lshr(bits, const_like(it, 23)), const_like(it, 127))
    e = b.add(b.add(e, eadj), b.zext(big, it))
    ef = b.sitofp(e, t)
    f = b.fsub(m, const_like(t, 1.0))
    f2 = b.fmul(f, f)
    p = b.fmul(b.fmul(f2, f), _poly(b, f, LOG_P))
    p = _fma(b, f2, const_like(t, -0.5), p)
    p = _fma(b, ef, const_like(t, LN2_LO), p)
    out = b.fadd(f, p)
    out = _fma(b, ef, const_like(t, LN2_HI), out)
    # special values: x = 0 → -inf, x < 0 → NaN, x = inf → inf, NaN → NaN
    out = b.select(b.fcmp_ordered("==", x, const_like(t, float("inf"))), x, out)
    out = b.select(b.fcmp_ordered("==", x, const_like(t, 0.0)), const_like(t, float("-inf")), out)
    bad = b.fcmp_unordered("<", x, const_like(t, 0.0))
    return b.select(bad, const_like(t, float("nan")), out)


def fast_tanh(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """tanh(x) for float32: odd polynomial for |x| < 0.625, else 1 - 2 / (exp(2|x|) + 1)."""
    t = x.type
    a = _abs(b, x)
    x2 = b.fmul(x, x)
    small = _fma(b, b.fmul(x2, x), _poly(b, x2, TANH_P), x)
    e = fast_exp(b, b.fadd(a, a))
    large = b.fsub(const_like(t, 1.0), b.fdiv(const_like(t, 2.0), b.fadd(e, const_like(t, 1.0))))
    large = _copysign(b, large, x)
    return b.select(b.fcmp_ordered("<", a, const_like(t, TANH_SMALL)), small, large)


def fast_sigmoid(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """1 / (1 + exp(-x)) for float32, as e / (1 + e) with e = exp(-|x|) for x < 0.

    Both halves keep full relative accuracy (no cancellation, no premature overflow).
    """
    t = x.type
    e = fast_exp(b, b.fneg(_abs(b, x)))
    num = b.select(b.fcmp_ordered(">=", x, const_like(t, 0.0)), const_like(t, 1.0), e)
    return b.fdiv(num, b.fadd(e, const_like(t, 1.0)))


def fast_erf(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """erf(x) for float32: x * P(x^2) for |x| < 0.9, 1 - exp(Q(|x|)) up to 3.92, then +-1."""
    t = x.type
    a = _abs(b, x)
    small = b.fmul(x, _poly(b, b.fmul(x, x), ERF_SMALL_P))
    large = b.fsub(const_like(t, 1.0), fast_exp(b, _poly(b, a, ERF_LARGE_Q)))
    large = b.select(b.fcmp_ordered(">=", a, const_like(t, ERF_ONE)), const_like(t, 1.0), large)
    large = _copysign(b, large, x)
    return b.select(b.fcmp_ordered("<", a, const_like(t, ERF_SMALL)), small, large)


#: op name → fast float32 implementation
FAST_MATH = {
    "exp": fast_exp,
    "log": fast_log,
    "tanh": fast_tanh,
    "sigmoid": fast_sigmoid,
    "erf": fast_erf,
}
