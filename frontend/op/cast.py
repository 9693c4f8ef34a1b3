"""``cast``: conversions to and from the narrow dtypes (bfloat16, float8, 4- and 2-bit).

The narrow dtypes are storage-only in the IR (:data:`onnxtune.tir.dtype.NARROW_DTYPES`):
a value is its bit pattern in a uint8 / uint16. Converting is integer bit manipulation on
those patterns (``reinterpret`` float32 <-> uint32, shifts and masks written as
multiplications / floor divisions / floor mods by powers of two on uint32), with the
semantics of ONNX's ``Cast`` (its reference implementation: ml_dtypes' conversions, a clip
to the finite range first when ``saturate`` for the float8 types, and ONNX's own float8e8m0
rounding):

* float -> bfloat16 / float8 / float4: round to nearest even, subnormals included. Out of
  range: ``saturate`` (float8 only) clips to the largest finite value (infinities too);
  otherwise e5m2 gives infinity, e4m3fn / the fnuz types NaN, float4_e2m1fn clips (it has
  no NaN or infinity). NaN gives the type's NaN (float4_e2m1fn: a zero of the opposite
  sign, as ml_dtypes). The fnuz types have no negative zero.
* float -> float8_e8m0fnu: ONNX's rounding (``round_mode`` "up", "down", "nearest") of the
  float32 exponent; the sign is dropped; NaN and infinity give 0xFF.
* float -> int4 / uint4 / int2 / uint2: truncation toward zero, then wrapping to the width
  (as ml_dtypes); NaN, infinities and magnitudes >= 2**31 give 0 (float -> integer is
  undefined there; ml_dtypes itself gives 15 for float8_e5m2 +inf -> int4). Integers wrap.
* narrow -> anything: exact to float32 (every narrow value is a float32), then the
  ordinary cast; the 4- / 2-bit integers go through int32.

Sources wider than float32 (float64, 32- / 64-bit integers) are rounded to float32 first
(double rounding, exactly as ml_dtypes and so ONNX's reference). Narrow floats -> integers:
truncation to int32 (int64 for 64-bit targets; out of range and NaN: 0), then wrapping.
The same conversions on numpy arrays (with ml_dtypes): :func:`cast_numpy`, used to fold
constants.
"""

from __future__ import annotations

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


def _u(v: int) -> PrimExpr:
    return const(v, U32)


def _shr(a: PrimExpr, k: int) -> PrimExpr:
    return tir_op.floordiv(a, _u(1 << k)) if k else a


def _shl(a: PrimExpr, k: int) -> PrimExpr:
    return a * _u(1 << k) if k else a


def _low(a: PrimExpr, k: int) -> PrimExpr:
    return tir_op.floormod(a, _u(1 << k))


def _sel(c: PrimExpr, t: Any, f: Any) -> PrimExpr:
    return tir_op.select(c, t, f)


def _f32_bits(v: int) -> PrimExpr:
    return tir_op.reinterpret("float32", _u(v))


# ----------------------------------------------------------------------------------------
# decoding: narrow bits -> float32 / int32


def _decode_float(u: PrimExpr, dtype: str) -> PrimExpr:
    """The float32 value of the narrow float whose bits are ``u`` (uint32)."""
    if dtype == "bfloat16":
        return tir_op.reinterpret("float32", _shl(u, 16))
    if dtype == "float8_e8m0fnu":
        normal = tir_op.reinterpret("float32", _shl(u, 23))
        return _sel(u == 0xFF, _f32_bits(0x7FC00000),
                    _sel(u == 0, _f32_bits(0x00400000), normal))  # 2**-127
    e, m, bias, _, kind = FLOAT_FORMATS[dtype]
    u = _low(u, 1 + e + m)
    sign = _shr(u, e + m)
    exp = _low(_shr(u, m), e)
    man = _low(u, m)
    normal = tir_op.reinterpret("float32", _shl(exp + (127 - bias), 23) + _shl(man, 23 - m))
    sub = cast("float32", man) * const(2.0 ** (1 - bias - m), "float32")
    mag = tir_op.reinterpret(U32, _sel(exp == 0, sub, normal))
    val = mag + _shl(sign, 31)
    nan = _u(0x7FC00000) + _shl(sign, 31)
    if kind == "ieee":
        inf = _u(0x7F800000) + _shl(sign, 31)
        val = _sel(exp == (1 << e) - 1, _sel(man == 0, inf, nan), val)
    elif kind == "fn":
        val = _sel(_low(u, e + m) == (1 << (e + m)) - 1, nan, val)
    elif kind == "fnuz":  # ml_dtypes reads 0x80 as a negative NaN
        val = _sel(u == 1 << (e + m), _u(0xFFC00000), val)
    return tir_op.reinterpret("float32", val)


def _decode_int(u: PrimExpr, dtype: str) -> PrimExpr:
    """The int32 value of the 4- / 2-bit integer whose bits are ``u`` (uint32)."""
    nbits, signed = INT_FORMATS[dtype]
    v = cast("int32", _low(u, nbits))
    if signed:
        v = v - _sel(v >= 1 << (nbits - 1), const(1 << nbits, "int32"), const(0, "int32"))
    return v


def decode(x: PrimExpr) -> PrimExpr:
    """A narrow value as float32 (narrow floats) or int32 (narrow integers), exactly."""
    u = cast(U32, tir_op.reinterpret(dt.storage_dtype(x.dtype), x))
    if x.dtype in INT_FORMATS:
        return _decode_int(u, x.dtype)
    return _decode_float(u, x.dtype)


# ----------------------------------------------------------------------------------------
# encoding: float32 / ints -> narrow bits


def _to_f32(v: PrimExpr) -> PrimExpr:
    """``v`` as float32 (wider sources are rounded once here, as ml_dtypes does)."""
    return v if v.dtype == "float32" else cast("float32", v)


def _encode_bf16(x: PrimExpr) -> PrimExpr:
    w = tir_op.reinterpret(U32, x)
    sign, a = _shr(w, 31), _low(w, 31)
    r = _shr(a + _u(0x7FFF) + _low(_shr(a, 16), 1), 16)
    return _sel(a > 0x7F800000, _u(0x7FC0), r) + _shl(sign, 15)


def _encode_e8m0(x: PrimExpr, saturate: bool, round_mode: str) -> PrimExpr:
    """ONNX's float32 -> float8e8m0 (onnx.numpy_helper.to_float8e8m0)."""
    w = tir_op.reinterpret(U32, x)
    exp = _low(_shr(w, 23), 8)
    if round_mode == "up":
        up = _low(w, 23) > 0
    elif round_mode == "nearest":
        g = _low(_shr(w, 22), 1) == 1
        r = _low(_shr(w, 21), 1) == 1
        s = _low(w, 21) > 0
        up = tir_op.all(g, tir_op.any(r, s, exp > 0))
    else:
        up = None
    if up is not None and saturate:
        up = tir_op.all(up, exp != 0xFE)
    val = exp if up is None else exp + _sel(up, _u(1), _u(0))
    return _sel(exp == 0xFF, _u(0xFF), val)


def _encode_float(x: PrimExpr, dtype: str, saturate: bool) -> PrimExpr:
    """float32 -> the bits of a float8 / float4 format (round to nearest even)."""
    e, m, bias, max_code, kind = FLOAT_FORMATS[dtype]
    w = tir_op.reinterpret(U32, x)
    sign, a = _shr(w, 31), _low(w, 31)
    shift = 23 - m
    emin = 1 - bias
    # normal in the target: round the exponent|mantissa bits as one integer (a carry out of
    # the mantissa bumps the exponent), then rebias
    normal = _shr(a + _u((1 << (shift - 1)) - 1) + _low(_shr(a, shift), 1), shift)
    normal = normal - _u((127 - bias) << m)
    # subnormal in the target: adding 2**(emin - m + 23) rounds |x| (RNE, by the FPU) to a
    # multiple of the subnormal spacing 2**(emin - m); the low bits are the code
    magic_bits = (emin - m + 23 + 127) << 23
    sub = tir_op.reinterpret(U32, tir_op.reinterpret("float32", a) + _f32_bits(magic_bits))
    sub = sub - _u(magic_bits)
    code = _sel(a < (emin + 127) << 23, sub, normal)
    overflow = code > max_code
    if saturate or kind == "finite":
        code = tir_op.min(code, _u(max_code))
    top = 1 << (e + m)
    if kind == "fnuz":
        out = _sel(code == 0, _u(0), code + _shl(sign, e + m))
        nan = _u(top)
    else:
        out = code + _shl(sign, e + m)
        if kind == "finite":  # ml_dtypes: NaN -> a zero of the opposite sign
            nan = _u(top) - _shl(sign, e + m)
        else:
            nan = _u(0x7F if kind == "fn" else 0x7E) + _shl(sign, e + m)
    if not (saturate or kind == "finite"):
        ovf = _u(max_code + 1) + _shl(sign, e + m) if kind == "ieee" else nan
        out = _sel(overflow, ovf, out)
    return _sel(a > 0x7F800000, nan, out)


def _encode_int(v: PrimExpr, dtype: str) -> PrimExpr:
    """Any value -> the bits of a 4- / 2-bit integer (truncate, wrap)."""
    nbits, _ = INT_FORMATS[dtype]
    if v.dtype == "bool":
        return cast(U32, v)
    if dt.is_float(v.dtype):
        v = _float_to_int(v, "int32")
    return cast(U32, tir_op.floormod(v, const(1 << nbits, v.dtype)))


def _float_to_int(v: PrimExpr, dtype: str) -> PrimExpr:
    """Truncate a float to int32 / int64 (values outside its range, NaN: 0, as ml_dtypes)."""
    d = v if v.dtype == "float64" else cast("float64", v)
    b = dt.bits(dtype) - 1
    lo = d >= const(-(2.0**b), "float64")
    hi = d <= const(2.0**b - 1, "float64") if b < 53 else d < const(2.0**b, "float64")
    inside = tir_op.all(lo, hi)
    return cast(dtype, _sel(inside, d, const(0.0, "float64")))


def encode(v: PrimExpr, dtype: str, saturate: bool = True, round_mode: str = "up") -> PrimExpr:
    """``v`` (a non-narrow value) converted to the narrow ``dtype``."""
    if dtype in INT_FORMATS:
        bits = _encode_int(v, dtype)
    elif dtype == "float8_e8m0fnu":
        bits = _encode_e8m0(cast("float32", v) if v.dtype != "float32" else v, saturate,
                            round_mode)
    elif dtype == "bfloat16":
        bits = _encode_bf16(_to_f32(v))
    else:
        bits = _encode_float(_to_f32(v), dtype, saturate and dtype in SATURATING)
    return tir_op.reinterpret(dtype, cast(dt.storage_dtype(dtype), bits))


def convert(v: PrimExpr, dtype: str, saturate: bool = True, round_mode: str = "up") -> PrimExpr:
    """``v`` converted to ``dtype``; either side may be narrow (ONNX Cast semantics)."""
    if v.dtype == dtype:
        return v
    if dt.is_narrow(v.dtype):
        v = decode(v)
        if dt.is_int(dtype) and dt.is_float(v.dtype):  # truncate, wrap (as ml_dtypes)
            v = _float_to_int(v, "int64" if dt.bits(dtype) == 64 else "int32")
    if dt.is_narrow(dtype):
        return encode(v, dtype, saturate, round_mode)
    if dtype == "bool":
        return v != const(0, v.dtype)
    return cast(dtype, v)


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
    """ONNX ``Cast`` on a numpy array (narrow dtypes as ml_dtypes arrays)."""
    import ml_dtypes

    x = np.asarray(x)
    target = dt.to_numpy(dtype)
    if x.dtype == target:
        return x.copy()
    if dt.is_narrow(x.dtype.name):
        x = x.astype(np.int32 if x.dtype.name in INT_FORMATS else np.float32)
    if dtype == "float8_e8m0fnu":
        return _e8m0_numpy(x.astype(np.float32), saturate, round_mode)
    if dtype in INT_FORMATS:
        nbits, _ = INT_FORMATS[dtype]
        if np.issubdtype(x.dtype, np.floating):
            with np.errstate(invalid="ignore"):
                x = x.astype(np.float64)
                inside = (x >= -(2.0**31)) & (x <= 2.0**31 - 1)
            x = np.where(inside, x, 0).astype(np.int64)
        bits = (x.astype(np.int64) % (1 << nbits)).astype(np.uint8)
        return bits.view(target)
    if saturate and dtype in SATURATING and np.issubdtype(x.dtype, np.floating):
        fi = ml_dtypes.finfo(target)
        x = np.clip(x, float(fi.min), float(fi.max))
    with np.errstate(invalid="ignore", over="ignore"):
        return x.astype(target)


def _e8m0_numpy(x: np.ndarray, saturate: bool, round_mode: str) -> np.ndarray:
    w = x.view(np.uint32).astype(np.int64)
    exp = (w >> 23) & 0xFF
    if round_mode == "up":
        up = (w & 0x7FFFFF) > 0
    elif round_mode == "nearest":
        up = ((w >> 22) & 1 == 1) & (((w >> 21) & 1 == 1) | ((w & 0x1FFFFF) > 0) | (exp > 0))
    else:
        up = np.zeros(w.shape, bool)
    if saturate:
        up &= exp != 0xFE
    out = np.where(exp == 0xFF, 0xFF, exp + up).astype(np.uint8)
    return out.view(dt.to_numpy("float8_e8m0fnu"))
