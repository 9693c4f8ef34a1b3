"""TE API: placeholders, computes, reductions, tensor attributes and error messages."""

from __future__ import annotations

import numpy as np
import pytest

from onnxtune.tir import (
    BufferLoad,
    Call,
    IntImm,
    IterType,
    Max,
    Reduce,
    Var,
    te,
)


def test_placeholder_attributes():
    a = te.placeholder((3, IntImm(5, "int32")), "float16", name="A")
    assert a.name == "A" and a.dtype == "float16" and a.ndim == 2
    assert all(isinstance(s, IntImm) for s in a.shape)
    assert a.static_shape() == (3, 5)
    assert isinstance(a.op, te.PlaceholderOp) and a.op.input_tensors == []
    assert a.op.output(0) is a and a.buffer.name == "A"
    load = a[1, 2]
    assert isinstance(load, BufferLoad) and load.buffer is a.buffer


@pytest.mark.parametrize("dtype", ["float32", "float16", "int8", "int32", "int64", "bool"])
def test_dtypes(dtype):
    a = te.placeholder((4,), dtype, name="A")
    b = te.compute((4,), lambda i: a[i], name="B")
    assert b.dtype == dtype
    f = te.create_prim_func([a, b])
    assert [p.dtype for p in f.params] == [dtype, dtype]


def test_int64_shape_gives_int64_axes():
    a = te.placeholder((IntImm(6, "int64"),), name="A")
    b = te.compute(a.shape, lambda i: a[i] + 1.0, name="B")
    assert b.op.axis[0].var.dtype == "int64"


def test_compute_axis_names_and_body():
    a = te.placeholder((4, 5), name="A")
    b = te.compute((4, 5), lambda x, y: a[x, y] * 2.0, name="B", tag="elemwise",
                   attrs={"k": 1})
    op = b.op
    assert isinstance(op, te.ComputeOp)
    assert [ax.var.name for ax in op.axis] == ["x", "y"]
    assert all(ax.iter_type == IterType.DATA_PAR for ax in op.axis)
    assert op.reduce_axis == () and op.input_tensors == [a]
    assert op.tag == "elemwise" and op.attrs == {"k": 1}
    assert len(op.body) == 1 and op.body[0].dtype == "float32"


def test_varargs_fcompute_names():
    a = te.placeholder((2, 3, 4), name="A")
    b = te.compute((2, 3, 4), lambda *i: a[i], name="B")
    assert [ax.var.name for ax in b.op.axis] == ["i0", "i1", "i2"]
    c = te.compute((2, 3, 4), lambda n, *i: a[(n, *i)], name="C")
    assert [ax.var.name for ax in c.op.axis] == ["n", "i1", "i2"]


def test_reduce_axis_and_reducers():
    a = te.placeholder((4, 6), name="A")
    k = te.reduce_axis((1, 6), name="k")
    assert k.iter_type == IterType.COMM_REDUCE
    assert k.dom.min.value == 1 and k.dom.extent.value == 5
    for fn, comb in [(te.sum, "sum"), (te.max, "max"), (te.min, "min"), (te.prod, "prod")]:
        c = te.compute((4,), lambda i, fn=fn: fn(a[i, k], axis=k), name="C")
        body = c.op.body[0]
        assert isinstance(body, Reduce) and body.combiner == comb
        assert c.op.reduce_axis == (k,)
    r = te.sum(a[0, k], axis=[k], where=k > 2, init=1)
    assert r.condition is not None and r.init.dtype == "float32"


def test_reduce_axis_arithmetic():
    k = te.reduce_axis((0, 3), name="k")
    e = k * 2 + 1
    assert e.dtype == "int32"
    assert isinstance(k < 2, type(Var("x") < 2))


def test_binary_max_min():
    a = te.placeholder((3,), name="A")
    assert isinstance(te.max(a[0], a[1]), Max)
    assert isinstance(te.max(a[0], 0.0), Max)


def test_math_reexports():
    x = te.placeholder((2,), name="X")[0]
    for fn in (te.exp, te.log, te.sqrt, te.rsqrt, te.tanh, te.sigmoid, te.erf, te.abs,
               te.floor, te.ceil, te.round):
        assert isinstance(fn(x), Call)
    assert isinstance(te.pow(x, 2.0), Call)
    assert te.max_value("int8").value == 127 and te.min_value("int32").value == -(2**31)
    assert te.const(3, "int64").dtype == "int64"
    assert te.var("n").dtype == "int32"
    assert te.all(x > 0, x < 1).dtype == "bool" and te.any(x > 0).dtype == "bool"
    assert te.if_then_else(x > 0, x, 0.0).op == "if_then_else"


def test_multi_output_compute():
    a = te.placeholder((3,), name="A")
    outs = te.compute((3,), lambda i: (a[i] + 1.0, a[i] * 2.0), name="T")
    assert isinstance(outs, list) and len(outs) == 2
    assert outs[0].op is outs[1].op and [t.value_index for t in outs] == [0, 1]
    assert [t.name for t in outs] == ["T_v0", "T_v1"]
    f = te.create_prim_func([a, *outs])
    from onnxtune.tir import interp

    x = np.random.default_rng(0).standard_normal(3).astype("float32")
    o0, o1 = np.zeros(3, "float32"), np.zeros(3, "float32")
    interp.run(f, x, o0, o1)
    np.testing.assert_allclose(o0, x + 1)
    np.testing.assert_allclose(o1, x * 2)


def test_scalar_compute():
    a = te.placeholder((5,), name="A")
    k = te.reduce_axis((0, 5), name="k")
    s = te.compute((), lambda: te.sum(a[k], axis=k), name="S")
    assert s.ndim == 0
    f = te.create_prim_func([a, s])
    from onnxtune.tir import interp

    x = np.arange(5, dtype="float32")
    out = np.zeros((), "float32")
    interp.run(f, x, out)
    assert out == 10


# -- errors ------------------------------------------------------------------------------


def test_wrong_arity():
    a = te.placeholder((3, 4), name="A")
    with pytest.raises(ValueError, match=r"compute B: fcompute takes 1 index arguments but "
                                         r"the shape has 2"):
        te.compute((3, 4), lambda i: a[i, 0], name="B")
    with pytest.raises(ValueError, match="compute B: fcompute takes 3"):
        te.compute((3, 4), lambda i, j, k: a[i, j], name="B")


def test_reduce_axis_outside_reduction():
    a = te.placeholder((3, 4), name="A")
    k = te.reduce_axis((0, 4), name="k")
    with pytest.raises(ValueError, match=r"compute B: the body uses the variable k.*axes \(i\)"):
        te.compute((3,), lambda i: a[i, k], name="B")
    with pytest.raises(ValueError, match=r"compute B: the reduction's init uses the variable k"):
        te.compute((3,), lambda i: te.sum(a[i, k], axis=k, init=a[i, k]), name="B")


def test_nested_reduce():
    a = te.placeholder((3, 4), name="A")
    k = te.reduce_axis((0, 4), name="k")
    j = te.reduce_axis((0, 3), name="j")
    with pytest.raises(ValueError, match="compute B: the reduction contains a reduction"):
        te.compute((3,), lambda i: te.sum(te.max(a[j, k], axis=j), axis=k), name="B")
    with pytest.raises(ValueError, match="compute C: the body contains a reduction"):
        te.compute((3,), lambda i: te.sum(a[i, k], axis=k) * 2.0, name="C")


def test_multi_output_reduce_not_implemented():
    a = te.placeholder((3, 4), name="A")
    k = te.reduce_axis((0, 4), name="k")
    with pytest.raises(NotImplementedError, match="compute B: a tuple of reductions"):
        te.compute((3,), lambda i: (te.sum(a[i, k], axis=k), te.max(a[i, k], axis=k)),
                   name="B")


def test_bad_indexing_and_shapes():
    a = te.placeholder((3, 4), name="A")
    with pytest.raises(ValueError, match="tensor A has 2 dimensions"):
        a[0]
    with pytest.raises(TypeError, match="dimension 0 of the shape is 2.5"):
        te.placeholder((2.5,), name="P")
    with pytest.raises(ValueError, match="negative"):
        te.placeholder((-1,), name="P")
    with pytest.raises(ValueError, match="unsupported dtype 'float8'"):
        te.placeholder((2,), "float8")
    with pytest.raises(TypeError, match="returned the tensor A"):
        te.compute((3, 4), lambda i, j: a, name="B")
    with pytest.raises(TypeError, match="te.sum needs axis="):
        te.sum(a[0, 0])


def test_comm_reducer_not_implemented():
    with pytest.raises(NotImplementedError, match="comm_reducer"):
        te.comm_reducer(lambda x, y: x + y, lambda t: 0)
