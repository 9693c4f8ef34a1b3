"""Math intrinsics of the LLVM code generator against numpy: accuracy and special values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from codegen_helpers import elementwise

from onnxtune import tir
from onnxtune.compile import build

SPECIALS = [0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 0.5, -0.5, 2.5, -2.5, 1e-45, -1e-45,
            1e-38, 3.4e38, -3.4e38, 88.72, 88.73, -87.5, -103.9, -104.0, 9.0, -9.0, 3.92, 0.9,
            0.625, -0.625, 1e-4, -1e-4]


def _inputs(n_random: int, lo: float, hi: float, dtype: str = "float32") -> np.ndarray:
    rng = np.random.default_rng(0)
    x = np.concatenate([
        rng.uniform(lo, hi, n_random),
        np.sign(rng.standard_normal(n_random)) * np.exp(rng.uniform(-20, 5, n_random)),
        SPECIALS,
    ])
    n = len(x) | 1  # odd length: the vectorized loop has a predicated tail
    with np.errstate(over="ignore"):
        return np.resize(x, n).astype(dtype)


def _erf(x: np.ndarray) -> np.ndarray:
    return np.vectorize(math.erf, otypes=[np.float64])(x)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return np.where(x >= 0, 1 / (1 + np.exp(-x)), np.exp(x) / (1 + np.exp(x)))


def _ulps(got: np.ndarray, want64: np.ndarray, dtype: str) -> np.ndarray:
    """|got - want| in units of the last place of ``want`` rounded to ``dtype``; special
    values (NaN, inf) must match exactly (0 ulp or inf)."""
    with np.errstate(all="ignore"):
        want = want64.astype(dtype)
        both_nan = np.isnan(got) & np.isnan(want)
        same = (got == want) | both_nan
        finite = np.isfinite(want) & np.isfinite(got)
        tiny = np.finfo(dtype).smallest_subnormal
        spacing = np.maximum(np.spacing(np.abs(want)).astype(np.float64), tiny)
        err = np.where(finite, np.abs(got.astype(np.float64) - want64) / spacing, np.inf)
    return np.where(same, 0.0, err)


FAST = {
    "exp": (tir.exp, np.exp, 2.0),
    "log": (tir.log, np.log, 2.0),
    "tanh": (tir.tanh, np.tanh, 2.0),
    "sigmoid": (tir.sigmoid, _sigmoid, 3.0),
    "erf": (tir.erf, _erf, 3.0),
}
LIBM = {
    "sqrt": (tir.sqrt, np.sqrt, 0.5),
    "rsqrt": (tir.rsqrt, lambda x: 1 / np.sqrt(x), 1.5),  # two roundings
    "exp2": (tir.exp2, np.exp2, 1.0),
    "log2": (tir.log2, np.log2, 1.0),
    "log1p": (tir.log1p, np.log1p, 1.0),
    "sin": (tir.sin, np.sin, 1.0),
    "cos": (tir.cos, np.cos, 1.0),
    "abs": (tir.abs, np.abs, 0.0),
    "floor": (tir.floor, np.floor, 0.0),
    "ceil": (tir.ceil, np.ceil, 0.0),
    "round": (tir.round, np.round, 0.0),  # half to even, like numpy and ONNX Round
    "trunc": (tir.trunc, np.trunc, 0.0),
}


def _check(ops, x, dtype, vector, ref_dtype=np.float64):
    fns = {k: (f, dtype) for k, (f, _, _) in ops.items()}
    func = elementwise(fns, [dtype], len(x), vector)
    outs = [np.full(len(x), 7, dtype) for _ in fns]
    build(func)["main"](x, *outs)
    xr = x.astype(ref_dtype)
    for (name, (_, ref, bound)), got in zip(ops.items(), outs, strict=True):
        with np.errstate(all="ignore"):
            want = ref(xr)
        err = _ulps(got, want, dtype)
        worst = int(np.argmax(err))
        assert err[worst] <= bound, (
            f"{name}({x[worst]!r}) = {got[worst]!r}, want {want[worst]!r}: {err[worst]:.2f} ulp"
        )


@pytest.mark.parametrize("vector", [0, 16])
def test_fast_math_float32(vector):
    x = _inputs(60_000, -30, 30)
    _check(FAST, x, "float32", vector)


def test_fast_exp_full_range():
    """exp over its whole float32 domain, overflow and gradual underflow included."""
    x = np.linspace(-110, 90, 200_001).astype("float32")
    _check({"exp": FAST["exp"]}, x, "float32", 16)


def test_fast_log_full_range():
    """log from denormals to FLT_MAX, plus 0 and negatives."""
    rng = np.random.default_rng(1)
    x = np.concatenate([np.exp2(rng.uniform(-149, 128, 100_000)), [0.0, -1.0, -np.inf]])
    x = np.resize(x, len(x) | 1).astype("float32")
    _check({"log": FAST["log"]}, x, "float32", 16)


def test_libm_float32():
    x = _inputs(20_000, -30, 30)
    _check(LIBM, x, "float32", 16)


def test_round_half_to_even():
    x = (np.arange(-41, 42) + 0.5).astype("float32")
    _check({"round": LIBM["round"]}, x, "float32", 16)


@pytest.mark.parametrize("dtype", ["float16", "float64"])
def test_math_other_floats(dtype):
    x = _inputs(5_000, -10, 10, dtype)
    bound = 1.5 if dtype == "float16" else 2.0
    ops = {k: (f, r, max(b, bound)) for k, (f, r, b) in {**FAST, **LIBM}.items()}
    # float16 results are float32 results rounded once more
    _check(ops, x, dtype, 8)


def test_pow_fmod_isnan():
    rng = np.random.default_rng(2)
    n = 101
    a = rng.uniform(0.1, 5, n).astype("float32")
    b = rng.uniform(-3, 3, n).astype("float32")
    a[0], b[1] = np.nan, np.nan
    fns = {
        "pow": (tir.pow, "float32"),
        "fmod": (tir.fmod, "float32"),
        "isnan": (lambda x, y: tir.isnan(x) | tir.isnan(y), "bool"),
        "ifmod": (lambda x, y: tir.fmod(x.astype("int32") - 2, y.astype("int32") + 7), "int32"),
    }
    for vector in (0, 16):
        outs = [np.ones(n, d) for _, d in fns.values()]
        build(elementwise(fns, ["float32", "float32"], n, vector))["main"](a, b, *outs)
        with np.errstate(all="ignore"):
            np.testing.assert_allclose(outs[0], np.power(a, b), rtol=2e-7)
            np.testing.assert_array_equal(outs[1], np.fmod(a, b))
            np.testing.assert_array_equal(outs[2], np.isnan(a) | np.isnan(b))
            ia, ib = a[2:].astype("int32") - 2, b[2:].astype("int32") + 7
            np.testing.assert_array_equal(outs[3][2:], np.fmod(ia, ib))
