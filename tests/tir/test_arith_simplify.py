"""Rewrite rules of the arithmetic simplifier, one test per rule family."""

from __future__ import annotations

import pytest

from onnxtune import tir
from onnxtune.tir import FloatImm, IntImm, Range, Var, arith
from onnxtune.tir.arith.utils import expr_text
from onnxtune.tir.expr import EQ, GE, GT, LE, LT, NE, Call, FloorDiv, Min, Select
from onnxtune.tir.functor import node_fields

R = Range.from_min_extent


def same(a, b) -> bool:
    """Structural equality (variables by identity) — independent of the code under test."""
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, (IntImm, FloatImm)):
        return a.dtype == b.dtype and a.value == b.value
    if isinstance(a, Var):
        return False
    for name in node_fields(type(a)):
        x, y = getattr(a, name), getattr(b, name)
        if isinstance(x, tuple):
            if len(x) != len(y) or not all(same(p, q) for p, q in zip(x, y, strict=True)):
                return False
        elif isinstance(x, tir.PrimExpr):
            if not same(x, y):
                return False
        elif x != y and x is not y:
            return False
    return True


def check(an, e, expected):
    got = an.simplify(e)
    exp = tir.convert(expected)
    assert same(got, exp), f"got {expr_text(got)}, expected {expr_text(exp)}"


@pytest.fixture
def v():
    return {n: Var(n) for n in ("i", "j", "k", "x", "y", "n")}


@pytest.fixture
def an(v):
    a = arith.Analyzer()
    a.bind(v["i"], R(0, 8))
    a.bind(v["j"], R(0, 4))
    a.bind(v["k"], R(0, 32))
    return a


def test_linear_merges(an, v):
    i, j, x, y = v["i"], v["j"], v["x"], v["y"]
    check(an, i * 4 + j - i * 4, j)
    check(an, (x + y) - x, y)
    check(an, x * 2 * 3, x * 6)
    check(an, x + x + x, x * 3)
    check(an, (x - y) + (y - x), 0)
    check(an, 3 + x - 3, x)
    check(an, (x + 1) * 4 - 4, x * 4)
    check(an, x - 1, x - 1)
    check(an, 5 - x, 5 - x)
    check(an, x * 0, 0)


def test_floordiv_floormod_with_bounds(an, v):
    i, j, k, x = v["i"], v["j"], v["k"], v["x"]
    check(an, (i * 4 + j) // 4, i)
    check(an, (i * 4 + j) % 4, j)
    check(an, (i * 8 + j * 2) // 2, i * 4 + j)
    check(an, tir.floormod(x * 4, 2), 0)
    check(an, (x // 4) // 8, x // 32)
    check(an, (x % 32) % 4, x % 4)
    check(an, (x % 32) // 4, (x % 32) // 4)  # kept
    check(an, (x * 4 + 2) // 8, x // 2)
    check(an, (i * 4 + j) // 2, i * 2 + j // 2)
    check(an, (i * 4 + j + 1) // 4, i + (j + 1) // 4)
    check(an, k // 32, 0)
    check(an, k % 32, k)
    check(an, (k + 32) // 32, 1)
    check(an, (x + 8) // 4, x // 4 + 2)
    check(an, ((i * 32 + k) * 8 + j) // 8 % 32, k)


def test_split_fuse_roundtrip(an, v):
    x = v["x"]
    check(an, (x // 4) * 4 + x % 4, x)
    check(an, (x // 4) * 8 + (x % 4) * 2, x * 2)
    check(an, (x // 32) * 32 + ((x % 32) // 4) * 4 + x % 4, x)
    check(an, ((x % 32) // 4) * 4 + x % 4, x % 32)
    f = Var("f")
    an.bind(f, R(0, 128))
    # fuse(i0, i1) then index back: the bindings of a fused loop
    check(an, (f // 32) * 32 + f % 32, f)


def test_truncdiv_on_nonnegative_becomes_floor(an, v):
    i, j, x = v["i"], v["j"], v["x"]
    check(an, tir.truncdiv(i * 4 + j, 4), i)
    check(an, tir.truncmod(i * 4 + j, 4), j)
    # exact divisions need no sign: trunc and floor agree
    check(an, tir.truncdiv(x * 4 + 8, 2), x * 2 + 4)
    check(an, tir.truncmod(x * 4 + 8, 2), 0)
    # x may be negative: truncating division is kept as is
    check(an, tir.truncdiv(x, 4), tir.truncdiv(x, 4))
    check(an, tir.truncmod(x, 4), tir.truncmod(x, 4))


def test_division_by_zero_is_left_alone(an, v):
    x = v["x"]
    e = an.simplify(tir.floordiv(x, 0))
    assert isinstance(e, FloorDiv) and same(e.b, tir.const(0))
    e = an.simplify(tir.floordiv(tir.const(7), tir.const(0)))
    assert isinstance(e, FloorDiv)
    e = an.simplify(tir.truncmod(tir.const(7), tir.const(0)))
    assert not isinstance(e, IntImm)
    e = an.simplify(tir.const(1.0) / tir.const(0.0))
    assert not isinstance(e, FloatImm)
    # INT_MIN / -1 overflows: not folded either
    e = an.simplify(tir.truncdiv(tir.const(-(2**31)), tir.const(-1)))
    assert not isinstance(e, IntImm)


@pytest.mark.parametrize(
    "a,b",
    [(7, 2), (-7, 2), (7, -2), (-7, -2), (0, 3), (5, 7), (-1, 1), (2**30, -3)],
)
def test_integer_division_flavours_fold(a, b):
    ca, cb = tir.const(a), tir.const(b)
    q = abs(a) // abs(b) * (1 if (a >= 0) == (b >= 0) else -1)
    assert arith.simplify(tir.truncdiv(ca, cb)).value == q
    assert arith.simplify(tir.truncmod(ca, cb)).value == a - b * q
    assert arith.simplify(tir.floordiv(ca, cb)).value == a // b
    assert arith.simplify(tir.floormod(ca, cb)).value == a % b


def test_constant_folding_wraps_to_dtype():
    c8 = lambda x: tir.const(x, "int8")  # noqa: E731
    assert arith.simplify(c8(100) + c8(100)).value == -56
    assert arith.simplify(tir.const(250, "uint8") + tir.const(10, "uint8")).value == 4
    assert arith.simplify(tir.const(3, "uint8") - tir.const(5, "uint8")).value == 254
    assert arith.simplify(tir.const(2**31 - 1) + tir.const(1)).value == -(2**31)
    assert arith.simplify(tir.const(3, "int64") * tir.const(2**40, "int64")).value == 3 * 2**40


def test_float_folding_is_in_dtype_precision(v):
    a, b = tir.const(0.1, "float32"), tir.const(0.2, "float32")
    r = arith.simplify(a + b)
    import numpy as np

    assert r.value == float(np.float32(0.1) + np.float32(0.2))
    assert r.dtype == "float32"
    assert arith.simplify(tir.const(1.0) / tir.const(3.0)).value == float(
        np.float32(1) / np.float32(3)
    )
    f = Var("f", "float32")
    # exact identities only: f * 1 and f - 0 fold, f + 0.0 (sign of zero) and f * 0 do not
    assert arith.simplify(f * 1.0) is f
    assert arith.simplify(f - 0.0) is f
    assert not isinstance(arith.simplify(f * 0.0), FloatImm)
    assert arith.simplify(f + 0.0) is not f


def test_min_max(an, v):
    i, j, x, y = v["i"], v["j"], v["x"], v["y"]
    check(an, tir.min(i, 10), i)
    check(an, tir.max(i, 10), 10)
    check(an, tir.max(i * 4 + j, i * 4 + 4), i * 4 + 4)
    check(an, tir.min(x, x), x)
    check(an, tir.min(x + 1, x + 3), x + 1)
    e = an.simplify(tir.min(x, y))
    assert isinstance(e, Min)
    check(an, tir.max(tir.const(3), tir.const(-5)), 3)


def test_comparisons_fold_with_bounds(an, v):
    i, j, x, y = v["i"], v["j"], v["x"], v["y"]
    check(an, i < 10, True)
    check(an, i < 8, True)
    check(an, i >= 8, False)
    check(an, i * 4 + j < 32, True)
    check(an, i * 4 + j == 35, False)
    check(an, x == x, True)
    check(an, x * 4 == 6, False)
    check(an, x * 4 == 8, EQ(x, tir.const(2)))
    check(an, x * 4 < 8, LT(x, tir.const(2)))
    check(an, x * 4 <= 7, LE(x, tir.const(1)))
    check(an, x * 4 > 7, GT(x, tir.const(1)))
    check(an, x * 4 >= 7, GE(x, tir.const(2)))
    check(an, x + 1 < y + 1, LT(x, y))
    check(an, 0 - x > 2, LT(x, tir.const(-2)))
    check(an, x != x + 1, True)
    assert isinstance(an.simplify(i < 7), LT)
    assert isinstance(an.simplify(x != y), NE)


def test_logic(an, v):
    i, x, y = v["i"], v["x"], v["y"]
    check(an, (x < y) & (i < 8), LT(x, y))
    check(an, (x < y) | (i < 8), True)
    check(an, (x < y) & (i > 8), False)
    check(an, ~(x < y), GE(x, y))
    check(an, ~~(x < y), LT(x, y))
    check(an, tir.logical_not(i < 8), False)
    f = Var("f", "float32")
    # on floats !(a < b) is not a >= b (NaN): kept
    assert isinstance(an.simplify(~(f < tir.const(1.0))), tir.Not)


def test_select_and_if_then_else(an, v):
    i, x, y = v["i"], v["x"], v["y"]
    check(an, tir.select(i < 10, x, y), x)
    check(an, tir.select(i > 10, x, y), y)
    check(an, tir.if_then_else(i > 20, x, y), y)
    check(an, tir.if_then_else(x < y, x + 0, x), x)
    e = an.simplify(tir.select(x < y, x, y))
    assert isinstance(e, Select)
    e = an.simplify(tir.if_then_else(x < y, x, y))
    assert isinstance(e, Call) and e.op == "if_then_else"


def test_cast_folding():
    assert arith.simplify(tir.Cast("int8", tir.const(300))).value == 44
    assert arith.simplify(tir.Cast("float32", tir.const(3))).value == 3.0
    assert arith.simplify(tir.Cast("int32", tir.const(-2.7))).value == -2
    assert arith.simplify(tir.Cast("bool", tir.const(5))).value == 1
    # NaN -> int is undefined: not folded
    assert isinstance(arith.simplify(tir.Cast("int32", tir.const(float("nan")))), tir.Cast)
    x = Var("x")
    assert arith.simplify(tir.Cast("int32", x)) is x


def test_var_bound_to_value_or_unit_range(v):
    x, y, k = v["x"], v["y"], v["k"]
    a = arith.Analyzer()
    a.bind(x, y * 2 + 1)
    check(a, x - y, y + 1)
    a.bind(k, R(5, 1))  # extent 1: k is 5
    check(a, k * 2, 10)


def test_unchanged_expression_is_returned_itself(v):
    i, j = v["i"], v["j"]
    e = i * 4 + j
    assert arith.simplify(e) is e
    load = tir.decl_buffer((8, 8), name="A")[i, j]
    assert arith.simplify(load) is load


def test_loads_and_calls_simplify_their_arguments(an, v):
    i, j = v["i"], v["j"]
    A = tir.decl_buffer((64,), name="A")
    e = an.simplify(A[(i * 4 + j) // 4 * 4 + (i * 4 + j) % 4] + tir.const(1.0))
    assert same(e, A[i * 4 + j] + tir.const(1.0))
    assert arith.simplify(tir.exp(tir.const(0.0))).value == 1.0
    assert arith.simplify(tir.abs(tir.const(-3))).value == 3


def test_analyzer_copy_is_independent(v):
    x = v["x"]
    a = arith.Analyzer()
    a.bind(x, R(0, 4))
    b = a.copy()
    b.bind(x, R(0, 100))
    assert a.can_prove(x < 4)
    assert not b.can_prove(x < 4)


def test_int64_index_arithmetic():
    i = Var("i", "int64")
    a = arith.Analyzer()
    a.bind(i, R(tir.const(0, "int64"), tir.const(16, "int64")))
    e = a.simplify((i * 4 + 3) // 4)
    assert same(e, i) and e.dtype == "int64"
    assert a.simplify((i * 4 + 3) % 4).value == 3
