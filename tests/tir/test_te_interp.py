"""The reference interpreter (tir.interp): TensorIR semantics, dtypes and its errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from onnxtune.tir import (
    Block,
    BlockRealize,
    BufferRegion,
    BufferStore,
    For,
    ForKind,
    IfThenElse,
    IterType,
    IterVar,
    Let,
    LetStmt,
    PrimFunc,
    Range,
    Var,
    const,
    decl_buffer,
    interp,
    select,
    te,
)
from onnxtune.tir.interp import InterpError
from onnxtune.tir.stmt import seq, true


def _func(params, *stages, allocs=()):
    root = Block((), (), (), "root", seq(*stages), None, tuple(allocs))
    return PrimFunc(tuple(params), BlockRealize((), true(), root))


def _loop(var, extent, body):
    return For(var, const(0), const(extent), ForKind.SERIAL, body)


def _unary(fn, in_dtype, out_dtype=None):
    a = te.placeholder((6,), in_dtype, name="A")
    b = te.compute((6,), lambda i: fn(a[i]), name="B")
    assert out_dtype is None or b.dtype == out_dtype
    return te.create_prim_func([a, b])


def _run_unary(fn, x, out_dtype=None):
    f = _unary(fn, x.dtype.name, out_dtype)
    out = np.zeros(x.shape, f.params[1].dtype)
    interp.run(f, x, out)
    return out


def test_init_runs_when_reduce_vars_are_at_their_min():
    # vk is bound to 4 - k: the instance with vk == 0 (where init runs) comes last, so
    # everything accumulated before it is overwritten: out == A[0].
    a, c = decl_buffer((5,), name="A"), decl_buffer((1,), name="C")
    vi, vk, i, k = Var("vi"), Var("vk"), Var("i"), Var("k")
    ivs = (IterVar(Range(const(0), const(1)), vi, IterType.DATA_PAR),
           IterVar(Range(const(0), const(5)), vk, IterType.COMM_REDUCE))
    blk = Block(ivs, (), (), "C", BufferStore(c, c[vi] + a[vk], (vi,)),
                BufferStore(c, const(0.0), (vi,)))
    f = _func((a, c), _loop(i, 1, _loop(k, 5, BlockRealize((i, 4 - k), true(), blk))))
    x = np.arange(1, 6, dtype="float32")
    out = np.full(1, 100.0, "float32")
    interp.run(f, x, out)
    assert out[0] == x[0]


def test_predicate_skips_instances():
    a, b = decl_buffer((6,), name="A"), decl_buffer((6,), name="B")
    vi, i = Var("vi"), Var("i")
    blk = Block((IterVar(Range(const(0), const(6)), vi),), (), (), "B",
                BufferStore(b, a[vi] * 2.0, (vi,)))
    f = _func((a, b), _loop(i, 6, BlockRealize((i,), i < 4, blk)))
    x = np.arange(6, dtype="float32")
    out = np.full(6, -1.0, "float32")
    interp.run(f, x, out)
    np.testing.assert_array_equal(out, [0, 2, 4, 6, -1, -1])


def test_integer_division_flavours():
    a = te.placeholder((8,), "int32", name="A")
    b = te.placeholder((8,), "int32", name="B")
    outs = te.compute((8,), lambda i: (te.truncdiv(a[i], b[i]), te.truncmod(a[i], b[i]),
                                       te.floordiv(a[i], b[i]), te.floormod(a[i], b[i]),
                                       te.fmod(a[i], b[i])),
                      name="D")
    f = te.create_prim_func([a, b, *outs])
    x = np.array([7, -7, 7, -7, 0, 5, -1, 9], "int32")
    y = np.array([2, 2, -2, -2, 3, 5, 4, -4], "int32")
    res = [np.zeros(8, "int32") for _ in range(5)]
    interp.run(f, x, y, *res)
    np.testing.assert_array_equal(res[0], np.trunc(x / y).astype(int))
    np.testing.assert_array_equal(res[1], np.fmod(x, y))
    np.testing.assert_array_equal(res[2], np.floor_divide(x, y))
    np.testing.assert_array_equal(res[3], np.mod(x, y))
    np.testing.assert_array_equal(res[4], np.fmod(x, y))


def test_integer_wraparound_and_casts():
    x = np.array([2**31 - 1, -(2**31), 5, -5, 100, 127], "int32")
    np.testing.assert_array_equal(_run_unary(lambda v: v + 1, x), x + np.int32(1))
    np.testing.assert_array_equal(_run_unary(lambda v: v.astype("int8"), x, "int8"),
                                  x.astype("int8"))
    f = np.array([2.7, -2.7, 0.5, -0.5, 1e3, 3.0], "float32")
    np.testing.assert_array_equal(_run_unary(lambda v: v.astype("int32"), f, "int32"),
                                  np.trunc(f).astype("int32"))
    np.testing.assert_array_equal(_run_unary(lambda v: v.astype("bool"), f, "bool"), f != 0)


def test_float16_rounding_matches_numpy():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(6).astype("float16")
    got = _run_unary(lambda v: v * v + v / 3.0, x)
    np.testing.assert_array_equal(got, x * x + x / np.float16(3.0))


MATH = [
    (te.exp, np.exp), (te.log, np.log), (te.sqrt, np.sqrt), (te.rsqrt, lambda v: 1 / np.sqrt(v)),
    (te.tanh, np.tanh), (te.sigmoid, lambda v: 1 / (1 + np.exp(-v))),
    (te.erf, np.vectorize(math.erf)), (te.abs, np.abs), (te.floor, np.floor),
    (te.ceil, np.ceil), (te.round, np.rint), (lambda v: te.pow(v, 1.5), lambda v: v ** 1.5),
]


@pytest.mark.parametrize("fn,ref", MATH)
def test_math_calls(fn, ref):
    x = np.array([0.3, 1.7, 2.5, 3.5, 0.01, 4.0], "float32")
    np.testing.assert_allclose(_run_unary(fn, x), ref(x.astype(np.float64)), rtol=1e-6)


def test_if_then_else_is_lazy_select_is_not():
    a = te.placeholder((4,), name="A")
    guarded = te.compute((6,), lambda i: te.if_then_else(i < 4, a[te.min(i, 5)], 0.0),
                         name="G")
    f = te.create_prim_func([a, guarded])
    x = np.arange(4, dtype="float32")
    out = np.zeros(6, "float32")
    interp.run(f, x, out)
    np.testing.assert_array_equal(out, [0, 1, 2, 3, 0, 0])
    sel = te.compute((6,), lambda i: select(i < 4, a[te.min(i, 5)], 0.0), name="S")
    with pytest.raises(InterpError, match=r"in block S: load from buffer A at index \[4\]"):
        interp.run(te.create_prim_func([a, sel]), x, out)


def test_out_of_bounds_store_and_bad_binding():
    a, b = decl_buffer((4,), name="A"), decl_buffer((4,), name="B")
    vi, i = Var("vi"), Var("i")
    blk = Block((IterVar(Range(const(0), const(5)), vi),), (), (), "W",
                BufferStore(b, a[vi - 1], (vi,)))
    f = _func((a, b), _loop(i, 5, BlockRealize((i + 1,), i < 4, blk)))
    x, out = np.ones(4, "float32"), np.zeros(4, "float32")
    with pytest.raises(InterpError, match=r"in block W: store to buffer B at index \[4\]"):
        interp.run(f, x, out)
    blk2 = Block((IterVar(Range(const(0), const(4)), vi),), (), (), "W2",
                 BufferStore(b, a[vi], (vi,)))
    f2 = _func((a, b), _loop(i, 4, BlockRealize((i + 1,), true(), blk2)))
    with pytest.raises(InterpError, match=r"block W2: iter var vi is bound to 4, outside its "
                                          r"domain \[0, 4\)"):
        interp.run(f2, x, out)


def test_intermediates_start_as_nan():
    a, b = decl_buffer((3,), name="A"), decl_buffer((3,), name="B")
    tmp = decl_buffer((3,), name="tmp")
    vi, i = Var("vi"), Var("i")
    blk = Block((IterVar(Range(const(0), const(3)), vi),), (), (), "B",
                BufferStore(b, tmp[vi] + a[vi], (vi,)))
    f = _func((a, b), _loop(i, 3, BlockRealize((i,), true(), blk)), allocs=[tmp])
    out = np.zeros(3, "float32")
    interp.run(f, np.ones(3, "float32"), out)
    assert np.isnan(out).all()


def test_let_if_and_argument_checks():
    a, b = decl_buffer((4,), name="A"), decl_buffer((4,), name="B")
    i, t = Var("i"), Var("t", "float32")
    body = LetStmt(t, a[i] * 2.0, IfThenElse(i < 2, BufferStore(b, t, (i,)),
                                              BufferStore(b, Let(t, t + 1.0, t * t), (i,))))
    f = PrimFunc((a, b), _loop(i, 4, body))
    x, out = np.arange(4, dtype="float32"), np.zeros(4, "float32")
    interp.run(f, x, out)
    np.testing.assert_array_equal(out, [0, 2, 25, 49])
    with pytest.raises(ValueError, match="parameter A has dtype float32, the array float64"):
        interp.run(f, x.astype("float64"), out)
    with pytest.raises(ValueError, match=r"parameter B has shape \(4\), the array \(5,\)"):
        interp.run(f, x, np.zeros(5, "float32"))
    with pytest.raises(ValueError, match="takes 2 arrays"):
        interp.run(f, x)


def test_ill_typed_store_is_rejected():
    a, b = decl_buffer((2,), name="A"), decl_buffer((2,), "int32", name="B")
    i = Var("i")
    f = PrimFunc((a, b), _loop(i, 2, BufferStore(b, a[i], (i,))))
    with pytest.raises(InterpError, match="store of a float32 value into the int32 buffer B"):
        interp.run(f, np.zeros(2, "float32"), np.zeros(2, "int32"))


def test_regions_are_not_needed_for_execution():
    # the interpreter runs what the statements say; reads/writes are metadata
    a, b = decl_buffer((2,), name="A"), decl_buffer((2,), name="B")
    vi, i = Var("vi"), Var("i")
    blk = Block((IterVar(Range(const(0), const(2)), vi),), (BufferRegion(a, ()),), (), "B",
                BufferStore(b, a[vi] + 1.0, (vi,)))
    f = _func((a, b), _loop(i, 2, BlockRealize((i,), true(), blk)))
    out = np.zeros(2, "float32")
    interp.run(f, np.ones(2, "float32"), out)
    np.testing.assert_array_equal(out, [2, 2])
