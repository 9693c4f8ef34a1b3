"""``cast``: conversions to and from the narrow dtypes (bfloat16, float8, 4- and 2-bit).

The narrow dtypes are storage-only in the IR (:data:`onnxtune.tir.dtype.NARROW_DTYPES`):
a value is its bit pattern in a uint8 / uint16. Converting is integer bit manipulation on
those patterns (``reinterpret`` float32 <-> uint32, shifts and masks written as
multiplications / floor divisions / floor mods by powers of two on uint32). The semantics
are ONNX's ``Cast`` (its reference implementation: ml_dtypes' conversions, a clip to the
finite range first when ``saturate`` for the float8 types, and ONNX's own float8e8m0
rounding), made exact and independent of the ml_dtypes version where that reference is not
(older ml_dtypes rounded float64 through float32; the out-of-range float -> integer results
changed in ml_dtypes 0.7):

* float or integer -> bfloat16 / float8 / float4: the exact source value rounded once, to
  nearest even, subnormals included (float64 and 64-bit integers too: no double rounding,
  as ml_dtypes >= 0.7). Out of range: ``saturate`` (float8 only) clips to the largest
  finite value (infinities too); otherwise bfloat16 and e5m2 give infinity, e4m3fn / the
  fnuz types NaN, float4_e2m1fn clips (it has no NaN or infinity). NaN gives the type's
  NaN (float4_e2m1fn: a zero of the opposite sign, as ml_dtypes). The fnuz types have no
  negative zero.
* float or integer -> float8_e8m0fnu: ONNX's rounding (``round_mode`` "up", "down",
  "nearest") of the float32 exponent; the sign is dropped; NaN and infinity give 0xFF. For
  a source wider than float32 the rule is applied to the exact value (ONNX's reference
  rounds it to float32 first), finite values beyond float32's range counting as just
  below 2**128 and nonzero ones below its range as float32 subnormals.
* float -> integer, where the source or the target is narrow (a float -> int4 / uint4 /
  int2 / uint2, a narrow float -> any integer): truncation toward zero; a result outside
  the target's range, NaN and infinities give 0 (ONNX leaves those undefined; this is what
  ml_dtypes >= 0.7 gives, where older versions wrapped). Float -> bool: nonzero (NaN too).
* integer -> int4 / uint4 / int2 / uint2: wrapping to the width (the low bits).
* narrow -> anything: exact to float32 / int32 (every narrow value is one), then as above
  or the ordinary cast (4- / 2-bit integers to wider ones: sign or zero extension, then
  C wrapping).

Sources wider than float32 (float64, 32- / 64-bit integers) are first rounded to float32
with round-to-odd (truncate, then set the last bit when inexact): float32 keeps at least
two bits more than any narrow format, so rounding that float32 again gives the correctly
rounded exact value (64-bit integers beyond 2**53 first have their bits below 2**29
folded into one sticky bit, so float64 holds them exactly).

The arithmetic is written once against two backends: TIR expressions (the kernel) and
numpy arrays (:func:`cast_numpy`, used to fold constants), so folding gives the kernel's
bits whatever ml_dtypes version is installed (ml_dtypes only supplies the array dtypes).
"""

from __future__ import annotations

from functools import reduce
from typing import Any

import numpy as np

from onnxtune.tir import dtype as dt
from onnxtune.tir import op as tir_op
from onnxtune.tir import te
from onnxtune.tir.expr import PrimExpr, cast, const

from . import OpPattern, register_op

U32 = "uint32"

#: narrow float formats: exponent bits, mantissa bits, bias, largest finite code, kind
#: (kind: "ieee" = infinities and NaNs at the all-ones exponent; "fn" = NaN at the all-ones
#: code only; "fnuz" = NaN at 0x80 (negative zero) only; "finite" = neither)
FLOAT_FORMATS: dict[str, tuple[int, int, int, int, str]] = {
    "float8_e4m3fn": (4, 3, 7, 0x7E, "fn"),
    "float8_e4m3fnuz": (4, 3, 8, 0x7F, "fnuz"),
    "float8_e5m2": (5, 2, 15, 0x7B, "ieee"),
    "float8_e5m2fnuz": (5, 2, 16, 0x7F, "fnuz"),
    "float4_e2m1fn": (2, 1, 1, 0x7, "finite"),
}
#: narrow integers: bits, signed
INT_FORMATS: dict[str, tuple[int, bool]] = {
    "int4": (4, True), "uint4": (4, False), "int2": (2, True), "uint2": (2, False),
}
#: the float8 types ``saturate`` applies to (ONNX)
SATURATING = ("float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2", "float8_e5m2fnuz")
ROUND_MODES = ("up", "down", "nearest")


# ----------------------------------------------------------------------------------------
# the two backends: the conversions below are written once, against ``B``


class _Tir:
    """TIR expressions (the kernel)."""

    const = staticmethod(const)
    cast = staticmethod(cast)
    select = staticmethod(tir_op.select)
    reinterpret = staticmethod(tir_op.reinterpret)
    floordiv = staticmethod(tir_op.floordiv)
    floormod = staticmethod(tir_op.floormod)
    all = staticmethod(tir_op.all)
    any = staticmethod(tir_op.any)
    min = staticmethod(tir_op.min)
    abs = staticmethod(tir_op.abs)

    @staticmethod
    def dtype(x: PrimExpr) -> str:
        return x.dtype


class _Numpy:
    """numpy arrays (:func:`cast_numpy`): the same operations, elementwise; integers wrap
    and floats round as the machine does, as in the kernel."""

    select = staticmethod(np.where)
    floordiv = staticmethod(np.floor_divide)
    floormod = staticmethod(np.mod)
    min = staticmethod(np.minimum)
    abs = staticmethod(np.abs)

    @staticmethod
    def const(v: Any, dtype: str) -> np.generic:
        return dt.to_numpy(dtype).type(v)

    @staticmethod
    def cast(dtype: str, x: Any) -> np.ndarray:
        x = np.asarray(x)
        return x if x.dtype.name == dtype else x.astype(dt.to_numpy(dtype))

    @staticmethod
    def reinterpret(dtype: str, x: Any) -> np.ndarray:
        return np.asarray(x).view(dt.to_numpy(dtype))

    @staticmethod
    def all(*conds: Any) -> np.ndarray:
        return reduce(np.logical_and, conds)

    @staticmethod
    def any(*conds: Any) -> np.ndarray:
        return reduce(np.logical_or, conds)

    @staticmethod
    def dtype(x: Any) -> str:
        return x.dtype.name


_TIR, _NUMPY = _Tir(), _Numpy()


def _u(B: Any, v: int) -> Any:
    return B.const(v, U32)


def _shr(B: Any, a: Any, k: int) -> Any:
    return B.floordiv(a, _u(B, 1 << k)) if k else a


def _shl(B: Any, a: Any, k: int) -> Any:
    return a * _u(B, 1 << k) if k else a


def _low(B: Any, a: Any, k: int) -> Any:
    return B.floormod(a, _u(B, 1 << k))


def _f32_bits(B: Any, v: int) -> Any:
    return B.reinterpret("float32", _u(B, v))


# ----------------------------------------------------------------------------------------
# decoding: narrow bits -> float32 / int32


def _decode_float(B: Any, u: Any, dtype: str) -> Any:
    """The float32 value of the narrow float whose bits are ``u`` (uint32)."""
    if dtype == "bfloat16":
        return B.reinterpret("float32", _shl(B, u, 16))
    if dtype == "float8_e8m0fnu":
        normal = B.reinterpret("float32", _shl(B, u, 23))
        return B.select(u == 0xFF, _f32_bits(B, 0x7FC00000),
                        B.select(u == 0, _f32_bits(B, 0x00400000), normal))  # 2**-127
    e, m, bias, _, kind = FLOAT_FORMATS[dtype]
    u = _low(B, u, 1 + e + m)
    sign = _shr(B, u, e + m)
    exp = _low(B, _shr(B, u, m), e)
    man = _low(B, u, m)
    normal = B.reinterpret("float32", _shl(B, exp + _u(B, 127 - bias), 23)
                           + _shl(B, man, 23 - m))
    sub = B.cast("float32", man) * B.const(2.0 ** (1 - bias - m), "float32")
    mag = B.reinterpret(U32, B.select(exp == 0, sub, normal))
    val = mag + _shl(B, sign, 31)
    nan = _u(B, 0x7FC00000) + _shl(B, sign, 31)
    if kind == "ieee":
        inf = _u(B, 0x7F800000) + _shl(B, sign, 31)
        val = B.select(exp == (1 << e) - 1, B.select(man == 0, inf, nan), val)
    elif kind == "fn":
        val = B.select(_low(B, u, e + m) == (1 << (e + m)) - 1, nan, val)
    elif kind == "fnuz":  # ml_dtypes reads 0x80 as a negative NaN
        val = B.select(u == 1 << (e + m), _u(B, 0xFFC00000), val)
    return B.reinterpret("float32", val)


def _decode_int(B: Any, u: Any, dtype: str) -> Any:
    """The int32 value of the 4- / 2-bit integer whose bits are ``u`` (uint32)."""
    nbits, signed = INT_FORMATS[dtype]
    v = B.cast("int32", _low(B, u, nbits))
    if signed:
        v = v - B.select(v >= 1 << (nbits - 1), B.const(1 << nbits, "int32"),
                         B.const(0, "int32"))
    return v


def _decode(B: Any, x: Any) -> Any:
    src = B.dtype(x)
    u = B.cast(U32, B.reinterpret(dt.storage_dtype(src), x))
    if src in INT_FORMATS:
        return _decode_int(B, u, src)
    return _decode_float(B, u, src)


def decode(x: PrimExpr) -> PrimExpr:
    """A narrow value as float32 (narrow floats) or int32 (narrow integers), exactly."""
    return _decode(_TIR, x)


# ----------------------------------------------------------------------------------------
# encoding: float32 / ints -> narrow bits


def _to_f32(B: Any, v: Any) -> Any:
    """``v`` as float32: exactly, or for float64 and 32- / 64-bit integers rounded with
    round-to-odd, which a second rounding to a narrow float leaves correctly rounded."""
    src = B.dtype(v)
    if src == "float32":
        return v
    if src in ("float16", "bool") or (dt.is_int(src) and dt.bits(src) <= 16):
        return B.cast("float32", v)
    if src in ("int64", "uint64"):
        # beyond 2**53 float32 keeps no bit below 2**30: fold the bits below 2**29 into a
        # sticky bit at 2**28 (for negatives too, floor division keeps it right), which
        # leaves at most 36 significant bits, exact in float64
        k = B.const(1 << 29, src)
        sticky = B.select(B.floormod(v, k) != B.const(0, src), B.const(1 << 28, src),
                          B.const(0, src))
        folded = B.floordiv(v, k) * k + sticky
        small = v <= B.const(2**53, src)
        if src == "int64":
            small = B.all(small, v >= B.const(-(2**53), src))
        v = B.select(small, v, folded)
    d = B.cast("float64", v)  # exact (int32 / uint32, or folded as above)
    f = B.cast("float32", d)  # to nearest even
    back = B.cast("float64", f)
    # truncate (one step back toward zero where it rounded away), then set the last bit
    # when inexact (NaN: != holds, and it stays a NaN of its sign)
    bits = B.reinterpret(U32, f) - B.select(B.abs(back) > B.abs(d), _u(B, 1), _u(B, 0))
    bits = B.select(back != d, bits - _low(B, bits, 1) + _u(B, 1), bits)
    return B.reinterpret("float32", bits)


def _encode_bf16(B: Any, x: Any) -> Any:
    w = B.reinterpret(U32, x)
    sign, a = _shr(B, w, 31), _low(B, w, 31)
    r = _shr(B, a + _u(B, 0x7FFF) + _low(B, _shr(B, a, 16), 1), 16)
    return B.select(a > 0x7F800000, _u(B, 0x7FC0), r) + _shl(B, sign, 15)


def _encode_e8m0(B: Any, x: Any, saturate: bool, round_mode: str) -> Any:
    """ONNX's float32 -> float8e8m0 (onnx.numpy_helper.to_float8e8m0)."""
    w = B.reinterpret(U32, x)
    exp = _low(B, _shr(B, w, 23), 8)
    if round_mode == "up":
        up = _low(B, w, 23) > 0
    elif round_mode == "nearest":
        g = _low(B, _shr(B, w, 22), 1) == 1
        r = _low(B, _shr(B, w, 21), 1) == 1
        s = _low(B, w, 21) > 0
        up = B.all(g, B.any(r, s, exp > 0))
    else:
        up = None
    if up is not None and saturate:
        up = B.all(up, exp != 0xFE)
    val = exp if up is None else exp + B.select(up, _u(B, 1), _u(B, 0))
    return B.select(exp == 0xFF, _u(B, 0xFF), val)


def _encode_float(B: Any, x: Any, dtype: str, saturate: bool) -> Any:
    """float32 -> the bits of a float8 / float4 format (round to nearest even)."""
    e, m, bias, max_code, kind = FLOAT_FORMATS[dtype]
    w = B.reinterpret(U32, x)
    sign, a = _shr(B, w, 31), _low(B, w, 31)
    shift = 23 - m
    emin = 1 - bias
    # normal in the target: round the exponent|mantissa bits as one integer (a carry out of
    # the mantissa bumps the exponent), then rebias
    normal = _shr(B, a + _u(B, (1 << (shift - 1)) - 1) + _low(B, _shr(B, a, shift), 1), shift)
    normal = normal - _u(B, (127 - bias) << m)
    # subnormal in the target: adding 2**(emin - m + 23) rounds |x| (RNE, by the FPU) to a
    # multiple of the subnormal spacing 2**(emin - m); the low bits are the code
    magic_bits = (emin - m + 23 + 127) << 23
    sub = B.reinterpret(U32, B.reinterpret("float32", a) + _f32_bits(B, magic_bits))
    sub = sub - _u(B, magic_bits)
    code = B.select(a < (emin + 127) << 23, sub, normal)
    overflow = code > max_code
    if saturate or kind == "finite":
        code = B.min(code, _u(B, max_code))
    top = 1 << (e + m)
    if kind == "fnuz":
        out = B.select(code == 0, _u(B, 0), code + _shl(B, sign, e + m))
        nan = _u(B, top)
    else:
        out = code + _shl(B, sign, e + m)
        if kind == "finite":  # ml_dtypes: NaN -> a zero of the opposite sign
            nan = _u(B, top) - _shl(B, sign, e + m)
        else:
            nan = _u(B, 0x7F if kind == "fn" else 0x7E) + _shl(B, sign, e + m)
    if not (saturate or kind == "finite"):
        ovf = _u(B, max_code + 1) + _shl(B, sign, e + m) if kind == "ieee" else nan
        out = B.select(overflow, ovf, out)
    return B.select(a > 0x7F800000, nan, out)


def _int_range(dtype: str) -> tuple[int, int]:
    if dtype not in INT_FORMATS:
        return int(dt.min_value(dtype)), int(dt.max_value(dtype))
    nbits, signed = INT_FORMATS[dtype]
    return (-(1 << (nbits - 1)), (1 << (nbits - 1)) - 1) if signed else (0, (1 << nbits) - 1)


def _float_to_int(B: Any, v: Any, dtype: str) -> Any:
    """A float truncated toward zero to the integer ``dtype`` (narrow ones: as int32); a
    result outside its range, NaN and infinities give 0 (as ml_dtypes >= 0.7)."""
    lo, hi = _int_range(dtype)
    d = B.cast("float64", v)
    # trunc(d) >= lo  <=>  d > lo - 1 (lo - 1 = -2**63 - 1 is no float64: d >= lo there)
    above = d > B.const(lo - 1, "float64") if lo > -(2**53) else d >= B.const(lo, "float64")
    inside = B.all(above, d < B.const(hi + 1, "float64"))  # hi + 1: a power of two
    out = "int32" if dtype in INT_FORMATS else dtype
    return B.cast(out, B.select(inside, d, B.const(0.0, "float64")))


def _encode_int(B: Any, v: Any, dtype: str) -> Any:
    """Any value -> the bits of a 4- / 2-bit integer (floats: truncate, out of range 0;
    integers: wrap)."""
    nbits, _ = INT_FORMATS[dtype]
    if B.dtype(v) == "bool":
        return B.cast(U32, v)
    if dt.is_float(B.dtype(v)):
        v = _float_to_int(B, v, dtype)
    return B.cast(U32, B.floormod(v, B.const(1 << nbits, B.dtype(v))))


def _encode(B: Any, v: Any, dtype: str, saturate: bool, round_mode: str) -> Any:
    if dtype in INT_FORMATS:
        bits = _encode_int(B, v, dtype)
    elif dtype == "float8_e8m0fnu":
        bits = _encode_e8m0(B, _to_f32(B, v), saturate, round_mode)
    elif dtype == "bfloat16":
        bits = _encode_bf16(B, _to_f32(B, v))
    else:
        bits = _encode_float(B, _to_f32(B, v), dtype, saturate and dtype in SATURATING)
    return B.reinterpret(dtype, B.cast(dt.storage_dtype(dtype), bits))


def encode(v: PrimExpr, dtype: str, saturate: bool = True, round_mode: str = "up") -> PrimExpr:
    """``v`` (a non-narrow value) converted to the narrow ``dtype``."""
    return _encode(_TIR, v, dtype, saturate, round_mode)


def _convert(B: Any, v: Any, dtype: str, saturate: bool, round_mode: str) -> Any:
    if B.dtype(v) == dtype:
        return v
    if dt.is_narrow(B.dtype(v)):
        v = _decode(B, v)
        if dt.is_int(dtype) and dt.is_float(B.dtype(v)):
            return _float_to_int(B, v, dtype)
    if dt.is_narrow(dtype):
        return _encode(B, v, dtype, saturate, round_mode)
    if dtype == "bool":
        return v != B.const(0, B.dtype(v))
    return B.cast(dtype, v)


def convert(v: PrimExpr, dtype: str, saturate: bool = True, round_mode: str = "up") -> PrimExpr:
    """``v`` converted to ``dtype``; either side may be narrow (ONNX Cast semantics)."""
    return _convert(_TIR, v, dtype, saturate, round_mode)


@register_op("cast", OpPattern.ELEMWISE)
def cast_op(x: te.Tensor, dtype: str, saturate: bool = True, round_mode: str = "up") -> te.Tensor:
    """ONNX ``Cast`` between any dtypes, the narrow ones included (see the module doc)."""
    dtype = dt.check_dtype(str(dtype))
    if round_mode not in ROUND_MODES:
        raise ValueError(f"cast: round_mode {round_mode!r} is not one of {ROUND_MODES}")
    return te.compute(x.shape, lambda *i: convert(x[i], dtype, bool(saturate), round_mode),
                      name="cast")


# ----------------------------------------------------------------------------------------
# numpy


def cast_numpy(x: np.ndarray, dtype: str, saturate: bool = True,
               round_mode: str = "up") -> np.ndarray:
    """ONNX ``Cast`` on a numpy array (narrow dtypes as ml_dtypes arrays): the kernel's
    arithmetic run by numpy, so a folded constant has the bits the kernel would compute."""
    if round_mode not in ROUND_MODES:
        raise ValueError(f"cast: round_mode {round_mode!r} is not one of {ROUND_MODES}")
    x = np.asarray(x)
    target = dt.to_numpy(dtype)
    if x.dtype == target:
        return x.copy()
    with np.errstate(all="ignore"):
        if not (dt.is_narrow(x.dtype.name) or dt.is_narrow(dtype)):
            return x.astype(target)
        # 1-d: numpy keeps arrays (wrapping silently) where 0-d would give scalars
        y = _convert(_NUMPY, x.reshape(-1), dtype, bool(saturate), round_mode)
    return np.asarray(y).reshape(x.shape)
