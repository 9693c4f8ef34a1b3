"""Constant folding and the reference evaluator agree with numpy's machine arithmetic."""

from __future__ import annotations

import numpy as np
import pytest

from onnxtune import tir
from onnxtune.tir import FloatImm, IntImm, Var, arith
from onnxtune.tir.arith import evaluate

INT_DTYPES = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]


def _operands(dtype: str, n: int = 60):
    rng = np.random.default_rng(sum(map(ord, dtype)))
    info = np.iinfo(dtype)
    a = rng.integers(info.min, info.max, size=n, dtype=dtype, endpoint=True)
    b = rng.integers(info.min, info.max, size=n, dtype=dtype, endpoint=True)
    # small values too, where the division flavours differ most; and edge values
    small = rng.integers(max(info.min, -9), 10, size=(2, n), dtype="int64").astype(dtype)
    edges = np.array([info.min, info.max, 0, 1], dtype=dtype)
    a = np.concatenate([a, small[0], edges, edges])
    b = np.concatenate([b, small[1], edges, edges[::-1]])
    return a, b


def _ref(op: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        if op == "add":
            return a + b
        if op == "sub":
            return a - b
        if op == "mul":
            return a * b
        if op == "floordiv":
            return np.floor_divide(a, b)
        if op == "floormod":
            return np.remainder(a, b)
        if op == "truncmod":
            return np.fmod(a, b)
        if op == "truncdiv":
            return np.floor_divide(a - np.fmod(a, b), b)  # exact division
        if op == "min":
            return np.minimum(a, b)
        return np.maximum(a, b)


_BUILD = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "floordiv": tir.floordiv,
    "floormod": tir.floormod,
    "truncdiv": tir.truncdiv,
    "truncmod": tir.truncmod,
    "min": tir.min,
    "max": tir.max,
}


@pytest.mark.parametrize("dtype", INT_DTYPES)
@pytest.mark.parametrize("op", list(_BUILD))
def test_integer_folding_matches_numpy(dtype, op):
    a, b = _operands(dtype)
    ref = _ref(op, a, b)
    x, y = Var("x", dtype), Var("y", dtype)
    sym = _BUILD[op](x, y)
    info = np.iinfo(dtype)
    for p, q, r in zip(a.tolist(), b.tolist(), ref.tolist(), strict=True):
        undefined = op in ("floordiv", "floormod", "truncdiv", "truncmod") and (
            q == 0 or (info.min < 0 and p == info.min and q == -1)
        )
        folded = arith.simplify(_BUILD[op](tir.const(p, dtype), tir.const(q, dtype)))
        if undefined:
            assert not isinstance(folded, IntImm), (op, dtype, p, q)
            continue
        assert isinstance(folded, IntImm) and folded.dtype == dtype
        assert folded.value == r, (op, dtype, p, q)
        assert evaluate(sym, {x: p, y: q}) == r, (op, dtype, p, q)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_float_folding_matches_numpy(dtype):
    rng = np.random.default_rng(7)
    a = (rng.standard_normal(40) * 100).astype(dtype)
    b = (rng.standard_normal(40) * 10).astype(dtype)
    ops = {
        "add": (lambda p, q: p + q, np.add),
        "sub": (lambda p, q: p - q, np.subtract),
        "mul": (lambda p, q: p * q, np.multiply),
        "div": (lambda p, q: p / q, np.divide),
        "floordiv": (tir.floordiv, lambda p, q: np.floor(p / q)),
    }
    for name, (build, ref) in ops.items():
        for p, q in zip(a, b, strict=True):
            folded = arith.simplify(build(tir.const(float(p), dtype), tir.const(float(q), dtype)))
            assert isinstance(folded, FloatImm) and folded.dtype == dtype
            expect = ref(p, q).astype(dtype)
            assert folded.value == float(expect), (name, dtype, p, q)


@pytest.mark.parametrize("src", INT_DTYPES)
@pytest.mark.parametrize("dst", ["int8", "uint8", "int32", "int64", "uint32", "float32", "bool"])
def test_cast_folding_matches_numpy(src, dst):
    a, _ = _operands(src, 30)
    if dst == "float32":
        a = a[np.abs(a.astype(np.float64)) < 2**53]
    for p in a.tolist():
        folded = arith.simplify(tir.Cast(dst, tir.const(p, src)))
        expect = np.array([p], dtype=src).astype(dst)[0]
        assert folded.value == (bool(expect) if dst == "bool" else expect.item()), (src, dst, p)


def test_float_to_int_cast_truncates():
    for p in [-3.7, -0.5, 0.0, 2.9, 1e9]:
        folded = arith.simplify(tir.Cast("int32", tir.const(p, "float64")))
        assert folded.value == int(np.float64(p).astype(np.int32))
    # out of range: poison in LLVM, left unfolded
    assert isinstance(arith.simplify(tir.Cast("int8", tir.const(300.0))), tir.Cast)


def test_evaluate_expression_against_numpy():
    x, y = Var("x"), Var("y")
    f = Var("f", "float32")
    A = tir.decl_buffer((5, 7), "float32", name="A")
    e = tir.select(
        x < y,
        tir.Cast("float32", tir.floormod(x * 3 - y, 7)) * f + A[tir.floormod(x, 5), y % 7],
        tir.exp(f) - tir.Cast("float32", tir.truncdiv(x, y + 10)),
    )
    rng = np.random.default_rng(3)
    arr = rng.standard_normal((5, 7)).astype("float32")
    for _ in range(50):
        xv, yv = int(rng.integers(-20, 20)), int(rng.integers(-9, 20))
        fv = np.float32(rng.standard_normal())
        got = evaluate(e, {x: xv, y: yv, f: float(fv), A: arr})
        if xv < yv:
            ref = np.float32((xv * 3 - yv) % 7) * fv + arr[xv % 5, yv % 7]
        else:
            q = abs(xv) // abs(yv + 10) * (1 if (xv >= 0) == (yv + 10 >= 0) else -1)
            ref = np.exp(fv) - np.float32(q)
        assert got == pytest.approx(float(ref), rel=1e-6)


def test_evaluate_reports_errors():
    x = Var("x")
    with pytest.raises(ZeroDivisionError):
        evaluate(tir.floordiv(x, x - 3), {x: 3})
    with pytest.raises(KeyError, match="x"):
        evaluate(x + 1, {})
    with pytest.raises(OverflowError):
        evaluate(x * 65536 * 65536, {x: 3}, check_overflow=True)
    assert evaluate(x * 65536 * 65536, {x: 3}) == 0  # wraps without the check
    assert evaluate(x < 3, {x: 1}) is True
    # if_then_else only evaluates the branch it takes
    assert evaluate(tir.if_then_else(x > 0, tir.floordiv(9, x), tir.const(-1)), {x: 0}) == -1


def test_const_utilities():
    x = Var("x")
    assert arith.is_const_int(tir.const(3)) and arith.is_const_int(tir.const(3), 3)
    assert not arith.is_const_int(tir.const(3), 4) and not arith.is_const_int(x)
    assert not arith.is_const_int(tir.const(3.0))
    assert arith.get_const_int(tir.const(-5)) == -5 and arith.get_const_int(7) == 7
    with pytest.raises(ValueError, match="integer constant"):
        arith.get_const_int(x + 1)
    assert arith.is_zero(tir.const(0)) and arith.is_zero(tir.const(0.0))
    assert arith.is_one(tir.const(1, "int64")) and not arith.is_one(tir.const(2))
