"""te.create_prim_func: the structure of the PrimFuncs it builds, and its errors."""

from __future__ import annotations

import numpy as np
import pytest

from onnxtune.tir import (
    Block,
    BlockRealize,
    BufferRegion,
    BufferStore,
    Call,
    For,
    ForKind,
    IntImm,
    IterType,
    IterVar,
    PrimFunc,
    Range,
    SeqStmt,
    Var,
    assert_structural_equal,
    const,
    decl_buffer,
    interp,
    structural_equal,
    te,
    testing,
)
from onnxtune.tir.stmt import true


def _blocks(f: PrimFunc) -> list[Block]:
    out = []

    def walk(s):
        if isinstance(s, BlockRealize):
            out.append(s.block)
            walk(s.block.body)
        elif isinstance(s, For):
            walk(s.body)
        elif isinstance(s, SeqStmt):
            for x in s.seq:
                walk(x)

    walk(f.body)
    return out


def _point(r: BufferRegion, *vars_) -> bool:
    return all(x.min is v and isinstance(x.extent, IntImm) and x.extent.value == 1
               for x, v in zip(r.region, vars_, strict=True))


MATMUL_TEXT = (
    '@T.prim_func\ndef main(A: T.Buffer((4, 3), "float32"), B: T.Buffer((3, 5), "float32"), '
    'C: T.Buffer((4, 5), "float32")):\n'
) + '''\
    T.func_attr({"global_symbol": "main", "tir.noalias": True})
    for i in range(4):
        for j in range(5):
            for k in range(3):
                with T.block("C"):
                    vi = T.axis.spatial(4, i)
                    vj = T.axis.spatial(5, j)
                    vk = T.axis.reduce(3, k)
                    T.reads(A[vi, vk], B[vk, vj])
                    T.writes(C[vi, vj])
                    with T.init():
                        C[vi, vj] = T.float32(0)
                    C[vi, vj] = C[vi, vj] + A[vi, vk] * B[vk, vj]'''


def _expected_matmul(m: int, n: int, k: int) -> PrimFunc:
    a, b = decl_buffer((m, k), name="A"), decl_buffer((k, n), name="B")
    c = decl_buffer((m, n), name="C")
    vi, vj, vk = Var("vi"), Var("vj"), Var("vk")
    loops = [Var("i"), Var("j"), Var("k")]

    def pt(buf, *vs):
        return BufferRegion(buf, tuple(Range(v, const(1)) for v in vs))

    ivs = (IterVar(Range(const(0), const(m)), vi, IterType.DATA_PAR),
           IterVar(Range(const(0), const(n)), vj, IterType.DATA_PAR),
           IterVar(Range(const(0), const(k)), vk, IterType.COMM_REDUCE))
    block = Block(ivs, (pt(a, vi, vk), pt(b, vk, vj)), (pt(c, vi, vj),), "C",
                  BufferStore(c, c[vi, vj] + a[vi, vk] * b[vk, vj], (vi, vj)),
                  BufferStore(c, const(0.0), (vi, vj)))
    stmt = BlockRealize(tuple(loops), true(), block)
    for v, e in reversed(list(zip(loops, (m, n, k), strict=True))):
        stmt = For(v, const(0), const(e), ForKind.SERIAL, stmt)
    root = Block((), (), (), "root", stmt)
    return PrimFunc((a, b, c), BlockRealize((), true(), root),
                    {"global_symbol": "main", "tir.noalias": True})


def test_matmul_structure_and_text():
    f, _ = testing.matmul(4, 5, 3)
    assert f.script() == MATMUL_TEXT
    assert_structural_equal(f, _expected_matmul(4, 5, 3))
    assert f.attrs == {"global_symbol": "main", "tir.noalias": True}
    root = f.body.block
    assert root.name_hint == "root" and root.iter_vars == () and root.alloc_buffers == ()
    (blk,) = _blocks(f)[1:]
    assert [iv.iter_type for iv in blk.iter_vars] == [IterType.DATA_PAR] * 2 + [
        IterType.COMM_REDUCE]
    assert [r.buffer.name for r in blk.reads] == ["A", "B"]  # inputs only, as TVM


def test_conv2d_with_pad_structure():
    f, _ = testing.conv2d_nchw(1, 3, 6, 6, 4, 3, 3, stride=2, padding=1)
    names = [b.name_hint for b in _blocks(f)]
    assert names == ["root", "pad_temp", "conv2d_nchw"]
    root, pad, conv = _blocks(f)
    assert [p.name for p in f.params] == ["data", "kernel", "conv2d_nchw"]
    assert [b.name for b in root.alloc_buffers] == ["pad_temp"]
    assert root.alloc_buffers[0].static_shape() == (1, 3, 8, 8)
    # pad: 4 spatial axes, reads data at a shifted point, an if_then_else body, no init
    assert [iv.iter_type for iv in pad.iter_vars] == [IterType.DATA_PAR] * 4
    assert pad.init is None and isinstance(pad.body.value, Call)
    assert pad.body.value.op == "if_then_else"
    (rd,) = pad.reads
    assert rd.buffer.name == "data" and repr(rd.region[2].min) == "vi2 - 1"
    # conv: spatial nn ff yy xx, reduce rc ry rx, init 0, reads pad_temp / kernel
    assert [iv.var.name for iv in conv.iter_vars] == ["vnn", "vff", "vyy", "vxx", "vrc",
                                                      "vry", "vrx"]
    assert [iv.iter_type for iv in conv.iter_vars] == [IterType.DATA_PAR] * 4 + [
        IterType.COMM_REDUCE] * 3
    assert [r.buffer.name for r in conv.reads] == ["pad_temp", "kernel"]
    assert repr(conv.reads[0].region[2].min) == "vyy * 2 + vry"
    assert isinstance(conv.init, BufferStore) and conv.init.value.value == 0.0
    vs = [iv.var for iv in conv.iter_vars]
    assert _point(conv.writes[0], *vs[:4])
    assert conv.annotations == {"tag": "conv2d_nchw"}
    # the loop nest: 7 serial loops named after the axes, bound in order
    loops, s = [], f.body.block.body.seq[1]
    while isinstance(s, For):
        loops.append(s)
        s = s.body
    assert [lp.loop_var.name for lp in loops] == ["nn", "ff", "yy", "xx", "rc", "ry", "rx"]
    assert all(lp.kind == ForKind.SERIAL for lp in loops)
    assert [lp.extent.value for lp in loops] == [1, 4, 3, 3, 3, 3, 3]
    assert all(v is lp.loop_var for v, lp in zip(s.iter_values, loops, strict=True))


def test_softmax_structure():
    f, _ = testing.softmax(3, 7)
    blocks = _blocks(f)[1:]
    assert [b.name_hint for b in blocks] == ["T_softmax_maxelem", "T_softmax_exp",
                                             "T_softmax_expsum", "T_softmax_norm"]
    assert [b.name for b in f.body.block.alloc_buffers] == ["T_softmax_maxelem",
                                                            "T_softmax_exp", "T_softmax_expsum"]
    mx, ex, sm, norm = blocks
    assert mx.init.value.value == float(np.finfo("float32").min)
    assert sm.init.value.value == 0.0 and ex.init is None and norm.init is None
    assert [r.buffer.name for r in ex.reads] == ["X", "T_softmax_maxelem"]
    assert [r.buffer.name for r in norm.reads] == ["T_softmax_exp", "T_softmax_expsum"]
    assert [iv.iter_type for iv in sm.iter_vars] == [IterType.DATA_PAR, IterType.COMM_REDUCE]


def test_region_hull_and_full_extent():
    a = te.placeholder((10, 6), name="A")
    b = te.compute((8, 6), lambda i, j: a[i, j] + a[i + 2, 0] + a[i + 1, j], name="B")
    (blk,) = _blocks(te.create_prim_func([a, b]))[1:]
    (r,) = blk.reads
    vi = blk.iter_vars[0].var
    assert r.region[0].min is vi and r.region[0].extent.value == 3   # [vi, vi + 3)
    assert r.region[1].min.value == 0 and r.region[1].extent.value == 6  # j and 0: full


def test_intermediates_unique_names_annotations():
    a = te.placeholder((4,), name="A")
    b = te.compute((4,), lambda i: a[i] + 1.0, name="T", attrs={"schedule_rule": "x"})
    c = te.compute((4,), lambda i: b[i] * 2.0, name="T")
    d = te.compute((4,), lambda i: c[i] - b[i], name="T_1")
    f = te.create_prim_func([a, d])
    assert [blk.name_hint for blk in _blocks(f)] == ["root", "T", "T_1", "T_1_1"]
    assert f.body.block.alloc_buffers == (b.buffer, c.buffer)
    assert _blocks(f)[1].annotations == {"schedule_rule": "x"}
    assert f.params == (a.buffer, d.buffer)


def test_listed_intermediate_becomes_param():
    a = te.placeholder((4,), name="A")
    b = te.compute((4,), lambda i: a[i] + 1.0, name="B")
    c = te.compute((4,), lambda i: b[i] * 2.0, name="C")
    f = te.create_prim_func([a, b, c])
    assert f.params == (a.buffer, b.buffer, c.buffer) and f.body.block.alloc_buffers == ()


def test_where_and_init_reduction():
    a = te.placeholder((4, 5), name="A")
    bias = te.placeholder((4,), name="bias")
    k = te.reduce_axis((0, 5), name="k")
    c = te.compute((4,), lambda i: te.max(a[i, k], axis=k, where=k < i + 1, init=bias[i]),
                   name="C")
    f = te.create_prim_func([a, bias, c])
    (blk,) = _blocks(f)[1:]
    assert [r.buffer.name for r in blk.reads] == ["A", "bias"]
    assert isinstance(blk.body.value, Call) and blk.body.value.op == "if_then_else"
    x = np.random.default_rng(1).standard_normal((4, 5)).astype("float32")
    bv = np.random.default_rng(2).standard_normal(4).astype("float32")
    out = np.zeros(4, "float32")
    interp.run(f, x, bv, out)
    want = [max(bv[i], x[i, : i + 1].max()) for i in range(4)]
    np.testing.assert_allclose(out, want)


def test_reduce_axis_with_offset():
    a = te.placeholder((9,), name="A")
    k = te.reduce_axis((2, 7), name="k")
    c = te.compute((1,), lambda i: te.sum(a[k + i], axis=k), name="C")
    f = te.create_prim_func([a, c])
    loops = []
    s = f.body.block.body
    while isinstance(s, For):
        loops.append(s)
        s = s.body
    assert loops[1].min.value == 2 and loops[1].extent.value == 5
    x = np.arange(9, dtype="float32")
    out = np.zeros(1, "float32")
    interp.run(f, x, out)
    assert out[0] == x[2:7].sum()


def test_symbolic_shape():
    n = te.var("n")
    a = te.placeholder((n, 3), name="A")
    b = te.compute((n, 3), lambda i, j: a[i, j] * 2.0, name="B")
    f = te.create_prim_func([a, b])
    x = np.random.default_rng(0).standard_normal((5, 3)).astype("float32")
    out = np.zeros((5, 3), "float32")
    interp.run(f, x, out)
    np.testing.assert_allclose(out, 2 * x)


def test_create_twice_gives_equal_independent_funcs():
    f1, _ = testing.conv2d_bias_relu(1, 2, 5, 4, 3, 3, 3, padding=1)
    f2, _ = testing.conv2d_bias_relu(1, 2, 5, 4, 3, 3, 3, padding=1)
    assert structural_equal(f1, f2)
    assert not structural_equal(f1, testing.conv2d_bias_relu(1, 2, 5, 4, 3, 3, 3)[0])


def test_missing_placeholder_error():
    a = te.placeholder((4,), name="A")
    w = te.placeholder((4,), name="W")
    b = te.compute((4,), lambda i: a[i] * w[i], name="B")
    with pytest.raises(ValueError, match=r"placeholder W \(read by compute B\) is not among"):
        te.create_prim_func([a, b])


def test_argument_errors():
    a = te.placeholder((4,), name="A")
    b = te.compute((4,), lambda i: a[i], name="B")
    with pytest.raises(ValueError, match="tensor A is listed twice"):
        te.create_prim_func([a, a, b])
    with pytest.raises(TypeError, match="argument 1 is Buffer, expected a te.Tensor"):
        te.create_prim_func([a, b.buffer])
