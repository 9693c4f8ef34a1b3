"""AutoInline: which blocks get inlined, by block structure (TVM's conditions)."""

from __future__ import annotations

import numpy as np

from onnxtune.compile import build
from onnxtune.tir import te, testing
from onnxtune.tir.schedule import Schedule
from onnxtune.tuner.schedule_rule import AutoInline, InlineConstantScalars
from onnxtune.tuner.schedule_rule.auto_inline import InlineType

LLVM = dict(into_producer=False, into_consumer=True, inline_const_tensor=True,
            disallow_if_then_else=True, require_injective=True, require_ordered=True,
            disallow_op=["tir.exp"])


def _kinds(func, rule=None) -> dict[str, InlineType]:
    rule = rule or AutoInline(**LLVM)
    sch = Schedule(func)
    names = [n for n in _block_names(func) if n != "root"]
    return {n: rule.check_inline(sch, sch.get_block(n)) for n in names}


def _block_names(func):
    from onnxtune.tir.schedule.tree import index

    return list(index(func).order)


def test_conv2d_bias_relu_inlines_only_the_bias_add():
    func, _ = testing.conv2d_bias_relu(1, 3, 6, 6, 4, 3, 3, padding=1)
    kinds = _kinds(func)
    assert kinds == {
        "pad_temp": InlineType.NO_INLINE,       # if_then_else (not a spatial function)
        "conv2d_nchw": InlineType.NO_INLINE,    # a reduction
        "T_add": InlineType.INTO_CONSUMER,      # injective, ordered, one consumer
        "T_relu": InlineType.NO_INLINE,         # the output: no consumer
    }


def test_softmax_exp_is_kept_because_exp_is_disallowed():
    func, _ = testing.softmax(3, 7)
    assert _kinds(func)["T_softmax_exp"] is InlineType.NO_INLINE
    no_ban = AutoInline(**{**LLVM, "disallow_op": None})
    assert _kinds(func, no_ban)["T_softmax_exp"] is InlineType.INTO_CONSUMER


def test_spatial_function_inlines_padding_too():
    a = te.placeholder((4, 6), name="A")
    pad = te.compute((4, 8), lambda i, j: te.if_then_else(
        te.all(j >= 1, j < 7), a[i, j - 1], 0.0), name="pad")
    out = te.compute((4, 8), lambda i, j: pad[i, j] * 2.0, name="out")
    func = te.create_prim_func([a, out])
    assert _kinds(func)["pad"] is InlineType.INTO_CONSUMER
    sch = Schedule(func)
    AutoInline(**LLVM).apply(sch, sch.get_block("pad"))
    x = np.random.default_rng(0).standard_normal((4, 6)).astype("float32")
    y = np.zeros((4, 8), "float32")
    build(sch.mod)["main"](x, y)
    np.testing.assert_allclose(y, np.pad(x, ((0, 0), (1, 1))) * 2.0)


def test_transposed_read_is_not_ordered_and_broadcast_is_fine():
    k = te.reduce_axis((0, 5), name="k")
    a = te.placeholder((6, 5), name="A")
    s = te.compute((6,), lambda i: te.sum(a[i, k], axis=k), name="S")  # not spatial
    t = te.compute((5, 6), lambda i, j: a[j, i] + s[j], name="T")       # transposed read
    u = te.compute((5, 6), lambda i, j: t[i, j] * 2.0, name="U")
    func = te.create_prim_func([a, u])
    kinds = _kinds(func)
    assert kinds["T"] is InlineType.NO_INLINE
    relaxed = AutoInline(**{**LLVM, "require_ordered": False})
    assert _kinds(func, relaxed)["T"] is InlineType.INTO_CONSUMER


def test_constant_tensor_is_inlined_and_disable_annotation_is_respected():
    a = te.placeholder((8,), name="A")
    c = te.compute((8,), lambda i: te.const(3.0, "float32"), name="C")
    k = te.reduce_axis((0, 8), name="k")
    s = te.compute((1,), lambda i: te.sum(a[k] * c[k], axis=k), name="S")
    func = te.create_prim_func([a, s])
    assert _kinds(func)["C"] is InlineType.INTO_CONSUMER
    sch = Schedule(func)
    sch.annotate(sch.get_block("C"), "meta_schedule.inline_rule", "disable")
    b = sch.get_block("C")
    # a constant tensor is inlined whatever else holds (TVM's order of conditions)
    assert AutoInline(**LLVM).check_inline(sch, b) is InlineType.INTO_CONSUMER
    a2 = te.placeholder((8,), name="A")
    m = te.compute((8,), lambda i: a2[i] + 1.0, name="M")
    s2 = te.compute((1,), lambda i: te.sum(m[k], axis=k), name="S")
    sch = Schedule(te.create_prim_func([a2, s2]))
    sch.annotate(sch.get_block("M"), "meta_schedule.inline_rule", "disable")
    assert AutoInline(**LLVM).check_inline(sch, sch.get_block("M")) is InlineType.NO_INLINE


def test_into_producer_reverse_inlines_an_elementwise_epilogue():
    a = te.placeholder((4, 5), name="A")
    k = te.reduce_axis((0, 5), name="k")
    s = te.compute((4,), lambda i: te.sum(a[i, k], axis=k), name="S")
    b = te.compute((4, 5), lambda i, j: a[i, j] * 2.0, name="B")
    c = te.compute((4, 5), lambda i, j: b[i, j] + s[i], name="C")
    func = te.create_prim_func([a, c])
    rule = AutoInline(**{**LLVM, "into_producer": True, "into_consumer": False})
    sch = Schedule(func)
    # C reads two producers (B and S): no reverse inline
    assert rule.check_inline(sch, sch.get_block("C")) is InlineType.NO_INLINE
    d = te.compute((4, 5), lambda i, j: b[i, j] + 1.0, name="D")
    func2 = te.create_prim_func([a, d])
    sch = Schedule(func2)
    assert rule.check_inline(sch, sch.get_block("D")) is InlineType.INTO_PRODUCER
    (out,) = rule.apply(sch, sch.get_block("D"))
    assert "reverse_compute_inline" in str(out.trace)
    x = np.random.default_rng(1).standard_normal((4, 5)).astype("float32")
    y = np.zeros((4, 5), "float32")
    build(out.mod)["main"](x, y)
    np.testing.assert_allclose(y, x * 2 + 1, rtol=1e-6)


def test_root_and_multi_output_blocks_are_left_alone():
    func, _ = testing.matmul(4, 4, 4)
    sch = Schedule(func)
    root = sch.get_block("root")
    assert AutoInline(**LLVM).check_inline(sch, root) is InlineType.NO_INLINE
    assert AutoInline(**LLVM).apply(sch, root) == [sch]


def test_inline_constant_scalars():
    a = te.placeholder((8,), name="A")
    c = te.compute((), lambda: te.const(2.0, "float32"), name="C")
    b = te.compute((8,), lambda i: a[i] * c[()], name="B")
    sch = Schedule(te.create_prim_func([a, b]))
    InlineConstantScalars().apply(sch, sch.get_block("C"))
    assert "ComputeInline" in [i.kind.name for i in sch.trace.insts]
