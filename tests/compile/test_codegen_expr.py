"""Expression semantics of the LLVM code generator against numpy, scalar and vectorized."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from codegen_helpers import _nest, elementwise, root

from onnxtune import tir
from onnxtune.compile import build
from onnxtune.tir import op as tir_op

N = 37  # prime: the vectorized variant has a predicated tail
INTS = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]
FLOATS = ["float16", "float32", "float64"]


def _data(dtype: str, rng: np.random.Generator, nonzero: bool = False) -> np.ndarray:
    if dtype == "bool":
        return rng.random(N) < 0.5
    if dtype.startswith("float"):
        x = (rng.standard_normal(N) * 10).astype(dtype)
        if nonzero:
            x[x == 0] = 1
        return x
    info = np.iinfo(dtype)
    x = rng.integers(info.min, info.max, N, dtype=dtype, endpoint=True)
    x[:4] = np.array([0, 1, info.max, info.min], dtype=dtype)
    if nonzero:
        x[x == 0] = 3
        if info.min < 0:
            x[x == -1] = 5  # INT_MIN / -1 is undefined
    return x


def _run(func, *arrays):
    mod = build(func)
    outs = [np.zeros(p.static_shape(), p.dtype) for p in func.params[len(arrays):]]
    for o in outs:
        o[...] = 1  # never zeros: a missing store must show
    mod["main"](*arrays, *outs)
    return outs


def _trunc_div(a, b):
    return (a - np.fmod(a, b)) // b


ARITH = {
    "add": (lambda a, b: a + b, lambda a, b: a + b),
    "sub": (lambda a, b: a - b, lambda a, b: a - b),
    "mul": (lambda a, b: a * b, lambda a, b: a * b),
    "min": (tir.min, np.minimum),
    "max": (tir.max, np.maximum),
}
DIVS_INT = {
    "div": (tir.truncdiv, _trunc_div),
    "mod": (tir.truncmod, np.fmod),
    "floordiv": (tir.floordiv, np.floor_divide),
    "floormod": (tir.floormod, np.mod),
}
DIVS_FLOAT = {
    "div": (tir.div, lambda a, b: a / b),
    "mod": (tir.truncmod, np.fmod),
    "floordiv": (tir.floordiv, lambda a, b: np.floor(a / b)),
    "floormod": (tir.floormod, lambda a, b: a - np.floor(a / b) * b),
}
CMPS = {
    "lt": (lambda a, b: a < b, np.less),
    "le": (lambda a, b: a <= b, np.less_equal),
    "gt": (lambda a, b: a > b, np.greater),
    "ge": (lambda a, b: a >= b, np.greater_equal),
    "eq": (lambda a, b: a == b, np.equal),
    "ne": (lambda a, b: a != b, np.not_equal),
}


@pytest.mark.parametrize("vector", [0, 16])
@pytest.mark.parametrize("dtype", INTS + FLOATS)
def test_binary_ops(dtype, vector):
    rng = np.random.default_rng(zlib.crc32(dtype.encode()))  # (hash() varies per process)
    a = _data(dtype, rng)
    b = _data(dtype, rng, nonzero=True)
    b[5] = a[5]  # equal operands for the comparisons (0 / 0 included for some seeds)
    ops = dict(ARITH)
    ops.update(DIVS_FLOAT if dtype.startswith("float") else DIVS_INT)
    fns = {k: (f, dtype) for k, (f, _) in ops.items()}
    fns.update({k: (f, "bool") for k, (f, _) in CMPS.items()})
    fns["select"] = (lambda x, y: tir.select(x < y, x, y - x), dtype)
    outs = _run(elementwise(fns, [dtype, dtype], N, vector), a, b)
    refs = {k: r for k, (_, r) in {**ops, **CMPS}.items()}
    refs["select"] = lambda x, y: np.where(x < y, x, y - x)
    with np.errstate(all="ignore"):
        for (name, _), got in zip(fns.items(), outs, strict=True):
            want = refs[name](a, b).astype(got.dtype)
            if dtype.startswith("float") and name in ("floormod", "floordiv", "div", "mod"):
                np.testing.assert_allclose(got, want, rtol=2e-3 if dtype == "float16" else 1e-6,
                                           atol=1e-6, err_msg=f"{name} {dtype}")
            else:
                np.testing.assert_array_equal(got, want, err_msg=f"{name} {dtype}")


@pytest.mark.parametrize("vector", [0, 16])
@pytest.mark.parametrize("dtype", ["int8", "int32", "int64", "uint16"])
def test_integer_division_by_zero_or_overflowing_gives_numpy_answers(dtype, vector):
    """x86 traps on a zero divisor and on the minimum / -1, which killed the process: now
    every division and remainder gives numpy's answer there (0 for a zero divisor; the
    minimum, remainder 0, for the overflow), and the other lanes are untouched."""
    info = np.iinfo(dtype)
    rng = np.random.default_rng(3)
    a = rng.integers(info.min, info.max, N, dtype=dtype, endpoint=True)
    b = rng.integers(info.min, info.max, N, dtype=dtype, endpoint=True)
    b[::3] = 0
    if info.min < 0:
        a[1::5], b[1::5] = info.min, -1
    ops = {**DIVS_INT, "fmod": (tir_op.fmod, np.fmod)}
    fns = {k: (f, dtype) for k, (f, _) in ops.items()}
    outs = _run(elementwise(fns, [dtype, dtype], N, vector), a, b)
    with np.errstate(all="ignore"):
        for (name, (_, ref)), got in zip(ops.items(), outs, strict=True):
            np.testing.assert_array_equal(got, ref(a, b).astype(dtype), err_msg=name)


@pytest.mark.parametrize("vector", [0, 8])
def test_bool_logic(vector):
    rng = np.random.default_rng(1)
    a, b = _data("bool", rng), _data("bool", rng)
    fns = {
        "and_": (lambda x, y: x & y, "bool"),
        "or_": (lambda x, y: x | y, "bool"),
        "not_": (lambda x, y: ~x, "bool"),
        "eq": (lambda x, y: x == y, "bool"),
        "sel": (lambda x, y: tir.select(x, y, tir.logical_not(y)), "bool"),
        "as_i32": (lambda x, y: x.astype("int32") + y.astype("int32"), "int32"),
        "as_f": (lambda x, y: x.astype("float32"), "float32"),
    }
    outs = _run(elementwise(fns, ["bool", "bool"], N, vector), a, b)
    refs = [a & b, a | b, ~a, a == b, np.where(a, b, ~b), a.astype("int32") + b, a * 1.0]
    for got, want in zip(outs, refs, strict=True):
        np.testing.assert_array_equal(got, want)


CAST_DTYPES = INTS + FLOATS + ["bool"]


@pytest.mark.parametrize("vector", [0, 16])
@pytest.mark.parametrize("src", CAST_DTYPES)
def test_casts(src, vector):
    rng = np.random.default_rng(2)
    if src.startswith("float"):
        # in range of every integer dtype, with fractions (truncation toward zero)
        x = rng.uniform(0, 120, N).astype(src)
        x[::3] = -x[::3]
        x[1] = 0.0
    else:
        x = _data(src, rng)
    fns = {f"to_{d}": ((lambda v, d=d: v.astype(d)), d) for d in CAST_DTYPES if d != src}
    outs = _run(elementwise(fns, [src], N, vector), x)
    for (name, (_, d)), got in zip(fns.items(), outs, strict=True):
        src_vals = x
        if src.startswith("float") and d.startswith("uint"):
            # float → unsigned of a negative value is undefined: compare the others
            keep = x >= 0
            got, src_vals = got[keep], x[keep]
        with np.errstate(all="ignore"):
            want = src_vals.astype(d)
        np.testing.assert_array_equal(got, want, err_msg=f"{src} {name}")


def test_if_then_else_guards_loads():
    """Only the selected side is evaluated: the guarded a[i + 1] is never read at i = n-1
    (a branch in scalar code, a masked load in vector code)."""
    n = 29
    x = np.random.default_rng(3).standard_normal(n).astype("float32")
    for vector in (0, 8):
        a = tir.decl_buffer((n,), "float32", "a")
        out = tir.decl_buffer((n,), "float32", "out")
        vi = tir.Var("vi")
        guarded = tir.if_then_else(vi < n - 1, a[vi + 1] * 2.0, -1.0)
        body = tir.BufferStore(out, guarded, (vi,))
        func = tir.PrimFunc((a, out), root(_nest("out", n, vi, body, vector)))
        (got,) = _run(func, x)
        np.testing.assert_array_equal(got, np.append(x[1:] * 2, -1.0).astype("float32"))


@pytest.mark.parametrize("dtype", ["int8", "int32", "int64", "uint16"])
def test_division_by_constants(dtype):
    """The strength-reduced paths: powers of two, other positive and negative divisors."""
    rng = np.random.default_rng(4)
    a = _data(dtype, rng)
    divisors = [1, 2, 8, 3, 7] + ([] if dtype.startswith("u") else [-3, -8])
    fns = {}
    for d in divisors:
        c = tir.const(d, dtype)
        fns[f"fd{d}"] = (lambda x, c=c: tir.floordiv(x, c), dtype)
        fns[f"fm{d}"] = (lambda x, c=c: tir.floormod(x, c), dtype)
        fns[f"td{d}"] = (lambda x, c=c: tir.truncdiv(x, c), dtype)
    outs = _run(elementwise(fns, [dtype], N, 16), a)
    with np.errstate(all="ignore"):
        for (name, _), got in zip(fns.items(), outs, strict=True):
            d = np.array(int(name[2:]), dtype=dtype)
            ref = {"fd": np.floor_divide, "fm": np.mod, "td": _trunc_div}[name[:2]]
            np.testing.assert_array_equal(got, ref(a, d).astype(dtype), err_msg=name)


def test_extreme_constants():
    cases = {"u64": ("uint64", 2**64 - 1), "i64": ("int64", -(2**63)), "u8": ("uint8", 255)}
    for dtype, c in cases.values():
        x = np.arange(5, dtype=dtype)
        const = tir.const(c, dtype)
        (got,) = _run(elementwise({"o": (lambda v, k=const: v + k, dtype)}, [dtype], 5), x)
        np.testing.assert_array_equal(got, x + np.array(c, dtype=dtype))
