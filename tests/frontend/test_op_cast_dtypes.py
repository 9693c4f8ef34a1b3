"""The ``cast`` op on the narrow dtypes (bfloat16, float8, float4, 4-/2-bit integers),
bit for bit against ONNX's reference Cast (ml_dtypes' conversions, saturation, float8e8m0
rounding), and the ONNX import / executable / InferenceSession path with ml_dtypes arrays.

Where the reference depends on the ml_dtypes version, the expectation is computed here
instead: a float -> integer that ONNX leaves undefined (NaN, infinities, a truncation out
of the integer's range) must give 0 (ml_dtypes >= 0.7's rule, which older versions did not
follow), and a source wider than float32 (float64, 32- / 64-bit integers) whose value no
float32 holds must be rounded once, from the exact value (older ml_dtypes, and ONNX's
float8e8m0 at any version, round it to float32 first)."""

from __future__ import annotations

import bisect
import functools
import math
import warnings
from fractions import Fraction

import numpy as np
import pytest

md = pytest.importorskip("ml_dtypes")
onnx = pytest.importorskip("onnx")

from onnx import TensorProto, helper  # noqa: E402
from onnx.reference.ops.op_cast import cast_to  # noqa: E402

from onnxtune.compile import build  # noqa: E402
from onnxtune.frontend.op import get_op  # noqa: E402
from onnxtune.frontend.op.cast import cast_numpy  # noqa: E402
from onnxtune.tir import interp, te  # noqa: E402

NARROW = ["bfloat16", "float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2", "float8_e5m2fnuz",
          "float8_e8m0fnu", "float4_e2m1fn", "int4", "uint4", "int2", "uint2"]
NARROW_INTS = ["int4", "uint4", "int2", "uint2"]
NARROW_FLOATS = [d for d in NARROW if d not in NARROW_INTS]
SATURATING = ["float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2", "float8_e5m2fnuz"]
#: sources a float32 may not hold exactly
WIDE = ["float64", "int32", "uint32", "int64", "uint64"]


def _onnx_type(name: str) -> int:
    return helper.np_dtype_to_tensor_dtype(np.dtype(name))


def _reference(x: np.ndarray, dst: str, sat: bool, rm: str) -> np.ndarray:
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            y = cast_to(x, _onnx_type(dst), sat, rm)
        except TypeError:  # older ml_dtypes lack some casts between their own types
            if x.dtype.name not in NARROW:
                raise
            wide = np.int64 if x.dtype.name in NARROW_INTS else np.float32  # exact
            y = cast_to(x.astype(wide), _onnx_type(dst), sat, rm)
        return np.asarray(y).astype(np.dtype(dst))


def _bits(a: np.ndarray) -> np.ndarray:
    return a.view(f"uint{8 * a.dtype.itemsize}")


#: whether the installed ml_dtypes rounds float64 once (>= 0.7) rather than through float32
REF_ROUNDS_ONCE = int(_bits(_reference(np.array([1 + 2**-8 + 2**-40]), "bfloat16", True,
                                       "up"))[0]) == 0x3F81


# ----------------------------------------------------------------------------------------
# the expectation where the reference is version dependent


def _int_range(d: str) -> tuple[int, int]:
    info = md.iinfo(getattr(md, d)) if d in NARROW_INTS else np.iinfo(d)
    return int(info.min), int(info.max)


def _undefined(x: np.ndarray, d: str) -> np.ndarray:
    """Where ONNX leaves ``x`` -> ``d`` undefined: a float to an integer that is NaN,
    infinite, or whose truncation toward zero is out of the integer's range."""
    name = x.dtype.name
    if not (name.startswith(("float", "bfloat")) and d.startswith(("int", "uint"))):
        return np.zeros(x.shape, bool)
    with np.errstate(all="ignore"):
        t = np.trunc(x.astype(np.float64))
    lo, hi = _int_range(d)
    return ~np.isfinite(t) | (t < float(lo)) | (t >= float(hi + 1))


def _exact(v) -> Fraction:
    return Fraction(int(v)) if isinstance(v, (int, np.integer)) else Fraction(float(v))


@functools.cache
def _table(d: str):
    """The finite non-negative values of ``d`` by code, as Fractions, then the value the
    code after the largest would have (what rounds to it overflows)."""
    fi = md.finfo(getattr(md, d))
    u = f"uint{8 * np.dtype(d).itemsize}"
    top = int(np.array(fi.max, d).view(u))
    vals = [Fraction(float(v)) for v in np.arange(top + 1).astype(u).view(d).astype(np.float64)]
    vals.append(vals[-1] + Fraction(2) ** (math.floor(math.log2(vals[-1])) - fi.nmant))
    return vals, [float(v) for v in vals], 1 << (fi.bits - 1)


def _round_once(v: Fraction, d: str, overflow: tuple[int, int]) -> int:
    """The bits of the finite nonzero ``v`` rounded once to nearest even in ``d``;
    ``overflow``: the bits (positive, negative) for a value that rounds past the largest."""
    vals, floats, sign = _table(d)
    a = abs(v)
    i = min(max(bisect.bisect_right(floats, float(a)) - 1, 0), len(vals) - 1)
    while i + 1 < len(vals) and vals[i + 1] <= a:
        i += 1
    while vals[i] > a:
        i -= 1
    c = i
    if vals[i] != a and i + 1 < len(vals):
        below, above = a - vals[i], vals[i + 1] - a
        c = i + 1 if above < below or (above == below and i % 2) else i
    if c == len(vals) - 1:
        return overflow[v < 0]
    if v < 0 and not (c == 0 and d.endswith("fnuz")):  # the fnuz types have no -0
        c |= sign
    return c


def _e8m0_once(v: Fraction, sat: bool, rm: str) -> int:
    """ONNX's float8e8m0 rule (on a float32's exponent and fraction bits) applied to the
    exact ``v``: past float32's range as just below 2**128, under it as a subnormal."""
    a = abs(v)
    if a >= 2**128:
        e, frac = 254, Fraction(3, 4) + Fraction(1, 2**200)
    elif a >= Fraction(1, 2**126):
        k = a.numerator.bit_length() - a.denominator.bit_length()
        k += 1 if a >= Fraction(2) ** (k + 1) else -1 if a < Fraction(2) ** k else 0
        e, frac = k + 127, a / Fraction(2) ** k - 1
    else:
        e, frac = 0, a * 2**126
    g, rs = frac >= Fraction(1, 2), frac % Fraction(1, 2) != 0
    up = {"up": frac != 0, "down": False, "nearest": g and (rs or e > 0)}[rm]
    return e + int(up and not (sat and e == 254))


def _expected(x: np.ndarray, d: str, s: bool, r: str) -> np.ndarray:
    """The bits ``x`` -> ``d`` must give: the reference's, except 0 where ONNX leaves the
    conversion undefined, and the value rounded once where a wide source is not a float32
    (checked against the reference where it is, and everywhere when ml_dtypes rounds once)."""
    want = _bits(_reference(x, d, s, r)).copy()
    want[_undefined(x, d)] = 0
    if x.dtype.name not in WIDE or d not in NARROW_FLOATS:
        return want
    flat, w = x.reshape(-1), want.reshape(-1)
    ovf = [int(b) for b in _bits(_reference(np.array([np.inf, -np.inf], np.float32), d, s, r))]
    for i, xv in enumerate(flat.tolist()):
        if not (math.isfinite(xv) and xv != 0):
            continue
        v = _exact(xv)
        once = _e8m0_once(v, s, r) if d == "float8_e8m0fnu" else _round_once(v, d, ovf)
        with np.errstate(over="ignore"):
            f32 = float(np.float32(xv))
        in_f32 = math.isfinite(f32) and _exact(f32) == v
        if in_f32 or (REF_ROUNDS_ONCE and d != "float8_e8m0fnu"):
            assert once == int(w[i]), (f"{flat.dtype} -> {d} (saturate={s}, round_mode={r}): "
                                       f"{xv!r}: the reference gives {int(w[i]):#x}, "
                                       f"rounding once {once:#x}")
        w[i] = once
    return want


# ----------------------------------------------------------------------------------------
# the kernels


def _convs(dsts, src: str):
    """(dst, saturate, round_mode) for every conversion of ``src`` worth checking."""
    out = []
    for d in dsts:
        if d == src:
            continue
        if d in SATURATING and src not in NARROW:
            out += [(d, True, "up"), (d, False, "up")]
        elif d == "float8_e8m0fnu" and src not in NARROW:
            out += [(d, s, r) for s in (True, False) for r in ("up", "down", "nearest")]
        else:
            out.append((d, True, "up"))
    return out


def _run_all(x: np.ndarray, convs, use_interp: bool = False) -> list[np.ndarray]:
    """All conversions of ``x`` in one compiled function (one output each)."""
    p = te.placeholder(x.shape, x.dtype.name, "x")
    ys = [get_op("cast").compute(p, dtype=d, saturate=s, round_mode=r) for d, s, r in convs]
    f = te.create_prim_func([p, *ys])
    outs = [np.zeros(x.shape, np.dtype(d)) for d, _, _ in convs]
    if use_interp:
        interp.run(f, x, *outs)
    else:
        build(f, "llvm")["main"](x, *outs)
    return outs


def _nan_bits(a: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.isnan(a.astype(np.float64)) if a.dtype.kind != "b" else np.zeros(a.shape, bool)


def _check(x: np.ndarray, convs, outs, nan_payloads: bool = False) -> None:
    """The kernels' outputs are the expected bits, and folding (cast_numpy) gives the same
    bits as the kernels; with ``nan_payloads``, a float NaN may differ in payload only."""
    for (d, s, r), got in zip(convs, outs, strict=True):
        folded = cast_numpy(x, d, s, r)
        assert folded.dtype == got.dtype and folded.shape == got.shape
        for what, want in (("expected", _expected(x, d, s, r)), ("folded", _bits(folded))):
            gb = _bits(got)
            bad = gb != want
            if nan_payloads:
                bad &= ~(_nan_bits(got) & _nan_bits(want.view(got.dtype)))
            k = np.flatnonzero(bad)
            assert not k.size, (
                f"{x.dtype} -> {d} (saturate={s}, round_mode={r}): {k.size} differ, e.g. "
                f"{x[k[:4]].tolist()} gave {[hex(v) for v in gb[k[:4]]]}, {what} "
                f"{[hex(v) for v in want[k[:4]]]}")


def _f32_inputs() -> np.ndarray:
    rng = np.random.default_rng(0)
    edges = [0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, 1e-45, -1e-45, 1.1754942e-38,
             3.4028235e38, -3.4028235e38,
             448, 449, 464, 465, 480, 500, -464, 240, 247, 248, 57344, 61439, 61440, 61441,
             65536, 6, 5, 5.5, 7, 100, 0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 2**-6, 2**-7, 2**-9,
             2**-10, 3 * 2**-10, 2**-14, 2**-16, 2**-17, 3 * 2**-17, 1 + 2**-8, 1 + 3 * 2**-8,
             2.0**127, 2.0**-127, 1.5 * 2**127, -9, -8.5, 7.5, 15.5, 16, 17, 2**24 + 2, 2**30,
             7.9, -8.9, 8, -8, 3.99, 4, 1.9, -2.5, 2**31, -(2**31), 2**63, -(2**63)]
    nan_payloads = np.array([0x7FC00000, 0xFFC00000, 0x7F800001, 0xFF800001, 0x7FFFFFFF],
                            np.uint32).view(np.float32)
    return np.concatenate([
        np.array(edges, np.float32), nan_payloads,
        rng.integers(0, 2**32, 4000, dtype=np.uint64).astype(np.uint32).view(np.float32),
        (rng.standard_normal(4000) * np.exp2(rng.integers(-20, 20, 4000))).astype(np.float32),
        (rng.integers(-300, 300, 1000) / 4).astype(np.float32),
    ])


def _near_ties(rng, n: int = 60) -> np.ndarray:
    """float64 values a hair off the halfway points of every narrow float (and the
    float8e8m0 thresholds), which float32 rounds onto the halfway point itself."""
    out = []
    for d in ["bfloat16", "float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2",
              "float8_e5m2fnuz", "float4_e2m1fn"]:
        vals = np.array(_table(d)[1])
        i = rng.choice(len(vals) - 1, min(n, len(vals) - 1), replace=False)
        out.append((vals[i] + vals[i + 1]) / 2)
    k = np.exp2(np.arange(-135, 131, 5, dtype=np.float64))
    out += [k, 1.5 * k, np.array([2.0**-127, 1.25 * 2**-127, 1.75 * 2**-127])]
    mid = np.concatenate(out)
    mid = np.concatenate([mid, mid * (1 + 2**-35), mid * (1 - 2**-35)])
    return np.concatenate([mid, -mid])


def _wide_inputs(src: str) -> np.ndarray:
    rng = np.random.default_rng(2)
    if src == "float64":
        x = np.concatenate([rng.standard_normal(2000) * np.exp2(rng.integers(-30, 30, 2000)),
                            _near_ties(rng),
                            [1 + 2**-8 + 2**-40, 464.000000001, 2**31 - 0.5, 1e9 + 3,
                             2**40 + 3, np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, 1e39,
                             -1e300, 3.4e38 * (1 + 2**-30), 1e-300, -1e-300, 1e-40, 7.9, -8.9,
                             8.0, 2**63, 2**64]])
    elif src == "bool":
        x = rng.integers(0, 2, 50).astype(bool)
    else:
        info = np.iinfo(src)
        x = rng.integers(info.min, int(info.max) + 1, 2000, dtype=src)
        if 8 * np.dtype(src).itemsize > 24:  # a hair off bfloat16's halfway points, at every scale
            top = 63 if src == "uint64" else 8 * np.dtype(src).itemsize - 1
            m = rng.integers(128, 256, 400)
            k = rng.integers(9, top - 8, 400)
            t = [(2 * int(a) + 1) << int(b) for a, b in zip(m, k, strict=True)]
            t = [v + e for v in t for e in (-1, 0, 1) if v + e <= info.max]
            t += [-v for v in t if -v >= info.min]
            x = np.concatenate([x, np.array(t, dtype=src), np.array([info.min, info.max],
                                                                    dtype=src)])
    return np.asarray(x).astype(src)


def test_float32_to_narrow_matches_onnx_reference():
    x = _f32_inputs()
    convs = _convs(NARROW, "float32")
    _check(x, convs, _run_all(x, convs))


def test_every_float16_to_narrow_matches_onnx_reference():
    x = np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.float16)
    convs = _convs(NARROW, "float16")
    _check(x, convs, _run_all(x, convs))


@pytest.mark.parametrize("src", NARROW)
def test_every_narrow_value_to_wide_types_matches_onnx_reference(src):
    n = {"bfloat16": 65536, "int4": 16, "uint4": 16, "float4_e2m1fn": 16,
         "int2": 4, "uint2": 4}.get(src, 256)
    x = np.arange(n, dtype=np.uint32).astype(f"uint{8 * np.dtype(src).itemsize}")
    x = x.view(np.dtype(src))
    convs = _convs(["float32", "float16", "float64", "bool"], src)
    _check(x, convs, _run_all(x, convs), nan_payloads=True)
    # to integers: truncation; out of range (and NaN, infinities) 0
    convs = _convs(["int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64"],
                   src)
    _check(x, convs, _run_all(x, convs))


def test_narrow_to_narrow_matches_onnx_reference():
    x = np.arange(256, dtype=np.uint8).view(md.float8_e5m2)
    convs = _convs(NARROW, "float8_e5m2")
    _check(x, convs, _run_all(x, convs), nan_payloads=True)
    y = np.arange(16, dtype=np.uint8).view(md.int4)
    convs = _convs(["bfloat16", "float8_e4m3fn", "float4_e2m1fn", "uint4", "int2", "uint2"],
                   "int4")
    _check(y, convs, _run_all(y, convs))


@pytest.mark.parametrize("src", ["float64", "int32", "uint32", "int64", "uint64", "int8",
                                 "uint16", "bool"])
def test_wide_sources_to_narrow_match_onnx_reference(src):
    x = _wide_inputs(src)
    convs = _convs(NARROW, src)
    _check(x, convs, _run_all(x, convs))


def test_wide_sources_are_rounded_once():
    """No rounding through float32 first (which would give the second value)."""
    cases = [
        ("float64", 1 + 2**-8 + 2**-40, "bfloat16", True, "up", 0x3F81),  # not 0x3F80
        ("float64", -(1 + 2**-4 + 2**-40), "float8_e4m3fn", True, "up", 0xB9),  # 0xB8
        ("float64", 1 + 2**-3 + 2**-40, "float8_e5m2", False, "up", 0x3D),  # 0x3C
        ("float64", 1 + 2**-2 + 2**-40, "float4_e2m1fn", True, "up", 0x3),  # 0x2
        ("float64", 2**-17 * (1 + 2**-30), "float8_e5m2", True, "up", 0x1),  # 0x0
        ("float64", 2**31 - 0.5, "float8_e8m0fnu", True, "down", 157),  # 158 = 2**31
        ("float64", 2**40 + 3, "float8_e8m0fnu", True, "up", 168),  # 167
        ("float64", 1.5 * 2**20 * (1 - 2**-40), "float8_e8m0fnu", True, "nearest", 147),  # 148
        ("float64", 1e39, "float8_e8m0fnu", True, "down", 254),  # 255 (inf)
        ("float64", 1e39, "bfloat16", True, "up", 0x7F80),
        ("float64", -1e300, "float8_e4m3fn", True, "up", 0xFE),
        ("float64", -1e300, "float8_e4m3fn", False, "up", 0xFF),
        ("float64", -1e-300, "bfloat16", True, "up", 0x8000),
        ("int64", 2**62 + 2**54 + 1, "bfloat16", True, "up", 0x5E81),  # 0x5E80
        ("int64", -(2**62 + 2**54 + 1), "bfloat16", True, "up", 0xDE81),
        ("uint64", 2**63 + 2**55 + 1, "bfloat16", True, "up", 0x5F01),  # 0x5F00
        ("int32", 2**30 + 2**22 + 1, "bfloat16", True, "up", 0x4E81),  # 0x4E80
        ("uint32", 2**31 + 2**23 + 1, "bfloat16", True, "up", 0x4F01),  # 0x4F00
        ("int64", 2**30 + 1, "float8_e8m0fnu", True, "up", 158),  # 157
    ]
    for src, v, d, s, r, want in cases:
        x = np.array([v], dtype=src)
        got = _run_all(x, [(d, s, r)])[0]
        assert int(_bits(got)[0]) == want, (src, v, d, s, r, hex(int(_bits(got)[0])))
        assert int(_bits(cast_numpy(x, d, s, r))[0]) == want, (src, v, d, s, r)


def test_out_of_range_float_to_integer_gives_zero():
    """ONNX leaves it undefined; ours: truncation toward zero, and 0 where that is outside
    the integer's range, for NaN and for infinities (as ml_dtypes >= 0.7)."""
    nan, inf = float("nan"), float("inf")
    cases = [
        ("float32", [7.9, -8.9, 8.0, -9.0, 449.0, -0.5, 0.9, nan, inf, -inf], "int4",
         [7, -8, 0, 0, 0, 0, 0, 0, 0, 0]),
        ("float32", [15.9, 16.0, -0.9, -1.0, 2.0**40], "uint4", [15, 0, 0, 0, 0]),
        ("float16", [1.9, -2.5, 2.0, -3.0], "int2", [1, -2, 0, 0]),
        ("float64", [3.99, 4.0, -1e300, 2.0**64], "uint2", [3, 0, 0, 0]),
        ("float8_e4m3fn", [128.0, -128.0, 120.0, -144.0, nan], "int8", [0, -128, 120, 0, 0]),
        ("float8_e5m2", [inf, -inf, nan, 57344.0, -57344.0], "int16", [0, 0, 0, 0, 0]),
        ("float8_e5m2", [8.0, -8.0, 10.0], "int4", [0, -8, 0]),
        ("float4_e2m1fn", [-1.0, -0.5, 6.0], "uint8", [0, 0, 6]),
        ("bfloat16", [128.0, -129.0, -128.0, 127.0], "int8", [0, 0, -128, 127]),
        ("bfloat16", [2.0**31, -(2.0**31)], "int32", [0, -(2**31)]),
        ("bfloat16", [2.0**32, 2.0**31, -1.0], "uint32", [0, 2**31, 0]),
        ("bfloat16", [2.0**63, -(2.0**63), -(2.0**64)], "int64", [0, -(2**63), 0]),
        ("bfloat16", [2.0**63, 2.0**64, -1.0, -0.5], "uint64", [2**63, 0, 0, 0]),
        ("float8_e8m0fnu", [2.0**127, 2.0**-127, nan, 2.0**62], "int64", [0, 0, 0, 2**62]),
    ]
    for src, vals, d, want in cases:
        x = np.array(vals, np.float64).astype(src)
        for got in (_run_all(x, [(d, True, "up")])[0], cast_numpy(x, d)):
            assert [int(v) for v in got.astype(object if d == "uint64" else np.int64)] == want, (
                src, vals, d, got)
    zero_d = cast_numpy(np.float32(7.9), "int4")  # 0-d in, 0-d out
    assert zero_d.shape == () and int(zero_d.astype(np.int64)) == 7


def test_interpreter_agrees_with_the_compiled_kernels():
    x = _f32_inputs()[:400]
    convs = _convs(["bfloat16", "float8_e4m3fn", "float8_e8m0fnu", "int4", "float4_e2m1fn"],
                   "float32")
    for a, b in zip(_run_all(x, convs), _run_all(x, convs, use_interp=True), strict=True):
        np.testing.assert_array_equal(_bits(a), _bits(b))
    y = np.arange(256, dtype=np.uint8).view(md.float8_e4m3fnuz)
    convs = [("float32", True, "up"), ("int8", True, "up"), ("uint64", True, "up")]
    for a, b in zip(_run_all(y, convs), _run_all(y, convs, use_interp=True), strict=True):
        np.testing.assert_array_equal(_bits(a), _bits(b))
    for src in ("float64", "int64"):
        z = _wide_inputs(src)[-300:]
        convs = [("bfloat16", True, "up"), ("float8_e5m2", False, "up"),
                 ("float8_e8m0fnu", True, "nearest"), ("uint2", True, "up")]
        for a, b in zip(_run_all(z, convs), _run_all(z, convs, use_interp=True), strict=True):
            np.testing.assert_array_equal(_bits(a), _bits(b))


def test_cast_numpy_folding_matches_onnx_reference():
    x = _f32_inputs()
    for d, s, r in _convs(NARROW, "float32"):
        np.testing.assert_array_equal(_bits(cast_numpy(x, d, s, r)), _expected(x, d, s, r))
    y = np.arange(256, dtype=np.uint8).view(md.float8_e4m3fn)
    np.testing.assert_array_equal(cast_numpy(y, "float16"), _reference(y, "float16", True, "up"))
    z = _wide_inputs("float64")
    for d, s, r in _convs(NARROW, "float64"):
        np.testing.assert_array_equal(_bits(cast_numpy(z, d, s, r)), _expected(z, d, s, r))


@pytest.mark.parametrize("src", NARROW)
def test_every_narrow_to_narrow_folding_agrees_with_the_kernels(src):
    """Folding a constant gives the kernel's bits whatever ml_dtypes version is installed
    (the other pairs are compared in every test above)."""
    n = {"bfloat16": 65536, "int4": 16, "uint4": 16, "float4_e2m1fn": 16,
         "int2": 4, "uint2": 4}.get(src, 256)
    x = np.arange(n, dtype=np.uint32).astype(f"uint{8 * np.dtype(src).itemsize}")
    x = x.view(np.dtype(src))
    convs = _convs(NARROW, src)
    for (d, s, r), got in zip(convs, _run_all(x, convs), strict=True):
        np.testing.assert_array_equal(_bits(cast_numpy(x, d, s, r)), _bits(got),
                                      err_msg=f"{src} -> {d}")


def test_cast_rejects_an_unknown_round_mode():
    p = te.placeholder((4,), "float32", "x")
    with pytest.raises(ValueError, match="round_mode 'odd'"):
        get_op("cast").compute(p, dtype="float8_e8m0fnu", round_mode="odd")


# ----------------------------------------------------------------------------------------
# through the ONNX importer, the executable and InferenceSession


def _model(nodes, inputs, outputs, inits=(), opset=25):
    g = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def test_onnx_cast_chain_through_inference_session():
    from onnxtune import InferenceSession, compile_model

    shape = (4, 257)  # long enough rows to be vectorized by the default schedule
    vi = helper.make_tensor_value_info
    w = np.linspace(-600, 600, 257, dtype=np.float32)
    init = onnx.numpy_helper.from_array(w.astype(md.float8_e4m3fn), "w8")
    nodes = [
        helper.make_node("Cast", ["x"], ["x8"], to=TensorProto.FLOAT8E4M3FN, saturate=0),
        helper.make_node("Cast", ["x8"], ["x8f"], to=TensorProto.FLOAT),
        helper.make_node("Cast", ["w8"], ["wf"], to=TensorProto.FLOAT),  # folded at import
        helper.make_node("Add", ["x8f", "wf"], ["s"]),
        helper.make_node("CastLike", ["s", "b"], ["sb"]),
        helper.make_node("Cast", ["b"], ["bi"], to=TensorProto.INT4),
    ]
    model = _model(nodes, [vi("x", TensorProto.FLOAT, shape), vi("b", TensorProto.BFLOAT16,
                                                                    shape)],
                   [vi("x8", TensorProto.FLOAT8E4M3FN, shape), vi("sb", TensorProto.BFLOAT16,
                                                                   shape),
                    vi("bi", TensorProto.INT4, shape)], [init])
    sess = InferenceSession(compile_model(model))
    assert [(i.name, i.type) for i in sess.get_inputs()] == [("x", "tensor(float)"),
                                                              ("b", "tensor(bfloat16)")]
    assert [o.type for o in sess.get_outputs()] == ["tensor(float8e4m3fn)", "tensor(bfloat16)",
                                                    "tensor(int4)"]
    rng = np.random.default_rng(3)
    x = (rng.standard_normal(shape) * 300).astype(np.float32)
    b = (rng.standard_normal(shape) * 10).astype(md.bfloat16)
    x8, sb, bi = sess.run(None, {"x": x, "b": b})
    ref_x8 = _reference(x, "float8_e4m3fn", False, "up")
    np.testing.assert_array_equal(_bits(x8), _bits(ref_x8))
    ref_sb = (ref_x8.astype(np.float32) + w.astype(md.float8_e4m3fn).astype(np.float32))
    ref_sb = ref_sb.astype(md.bfloat16)
    nan = np.isnan(ref_sb.astype(np.float32))  # which NaN an addition returns may vary
    np.testing.assert_array_equal(np.isnan(sb.astype(np.float32)), nan)
    np.testing.assert_array_equal(_bits(sb)[~nan], _bits(ref_sb)[~nan])
    assert bi.dtype == md.int4
    np.testing.assert_array_equal(_bits(bi), _expected(b, "int4", True, "up"))
    with pytest.raises(ValueError, match="'b'.*bfloat16"):
        sess.run(None, {"x": x, "b": b.astype(np.float32)})


def test_onnx_einsum_on_bfloat16():
    from onnxtune.compile.executable import VirtualMachine
    from onnxtune.compile.graph_build import build_graph
    from onnxtune.frontend.onnx import from_onnx

    vi = helper.make_tensor_value_info
    model = _model([helper.make_node("Einsum", ["a", "b"], ["c"], equation="ij,jk->ik")],
                   [vi("a", TensorProto.BFLOAT16, (3, 5)), vi("b", TensorProto.BFLOAT16,
                                                               (5, 2))],
                   [vi("c", TensorProto.BFLOAT16, (3, 2))])
    vm = VirtualMachine(build_graph(from_onnx(model), "llvm"))
    rng = np.random.default_rng(4)
    a = rng.standard_normal((3, 5)).astype(md.bfloat16)
    b = rng.standard_normal((5, 2)).astype(md.bfloat16)
    c = vm["main"](a, b)
    c = c[0] if isinstance(c, tuple) else c
    assert c.dtype == md.bfloat16
    ref = (a.astype(np.float32) @ b.astype(np.float32)).astype(md.bfloat16)
    np.testing.assert_array_equal(_bits(c), _bits(ref))


def test_exported_narrow_model_runs_in_a_fresh_process(tmp_path):
    """ml_dtypes is imported only when a narrow dtype is met (not by importing onnxtune);
    an exported artifact with narrow inputs, outputs and constants loads and runs."""
    import os
    import subprocess
    import sys

    from onnxtune import compile_model

    vi = helper.make_tensor_value_info
    w = np.linspace(-3, 3, 12, dtype=np.float32).reshape(3, 4).astype(md.bfloat16)
    g = helper.make_graph(
        [helper.make_node("Cast", ["x"], ["y"], to=TensorProto.FLOAT8E5M2),
         helper.make_node("Cast", ["x"], ["xf"], to=TensorProto.FLOAT),
         helper.make_node("Cast", ["w"], ["wf"], to=TensorProto.FLOAT),
         helper.make_node("Add", ["xf", "wf"], ["z"])],
        "g", [vi("x", TensorProto.BFLOAT16, (3, 4))],
        [vi("y", TensorProto.FLOAT8E5M2, (3, 4)), vi("z", TensorProto.FLOAT, (3, 4))],
        [onnx.numpy_helper.from_array(w, "w")])
    path = str(tmp_path / "narrow.so")
    compile_model(_model(g.node, g.input, g.output, g.initializer, opset=21)).export_library(path)
    code = f"""
import sys
import numpy as np
import onnxtune, onnxtune.compile.executable, onnxtune.session
assert "ml_dtypes" not in sys.modules
s = onnxtune.InferenceSession({path!r})
import ml_dtypes as md
x = np.arange(12, dtype=np.float32).reshape(3, 4).astype(md.bfloat16)
y, z = s.run(None, {{"x": x}})
assert y.dtype == md.float8_e5m2, y.dtype
print(y.view(np.uint8).tolist(), z.tolist())
"""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                       timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    want_y = x.astype(md.float8_e5m2).view(np.uint8).tolist()
    want_z = (x + w.astype(np.float32)).tolist()
    assert r.stdout.strip() == f"{want_y} {want_z}"
