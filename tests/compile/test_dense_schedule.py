"""Packed column panels for matmuls against a constant weight (compile/dense_schedule.py):
which kernels take them, and their results against numpy on edge shapes."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import onnxtune
from onnxtune.compile.default_schedule import default_schedule_of
from onnxtune.compile.dense_schedule import dense_operands
from onnxtune.compile.schedule_facts import _facts
from onnxtune.frontend import from_onnx
from onnxtune.tir.schedule import Schedule
from onnxtune.tir.schedule.tree import index
from onnxtune.tuner.relax_integration import extract_tasks


def _model(x_shape, w, *, gemm_trans_b=False, bias=None, relu=False):
    inits = [numpy_helper.from_array(w, "w")]
    if gemm_trans_b:
        inputs = ["x", "w"] + (["b"] if bias is not None else [])
        nodes = [helper.make_node("Gemm", inputs, ["y"], transB=1)]
        n = w.shape[0]
    else:
        nodes = [helper.make_node("MatMul", ["x", "w"], ["y"])]
        n = w.shape[1]
        if bias is not None:
            nodes.append(helper.make_node("Add", ["y", "b"], ["yb"]))
            nodes[0].output[0], nodes[1].input[0] = "y0", "y0"
            nodes[1].output[0] = "y"
    if bias is not None:
        inits.append(numpy_helper.from_array(bias, "b"))
    if relu:
        nodes[-1].output[0] = "pre"
        nodes.append(helper.make_node("Relu", ["pre"], ["y"]))
    y_shape = [*x_shape[:-1], n]
    graph = helper.make_graph(
        nodes, "dense", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, y_shape)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _uses_panels(model) -> bool:
    """Does some task's reduction block qualify for packed column panels?"""
    for t in extract_tasks(from_onnx(model), "llvm"):
        sch = Schedule(t.mod)
        for name in index(sch.func).order:
            f = _facts(sch, name)
            if f is not None and f.reduce and dense_operands(sch.func, f, 16) is not None:
                return True
    return False


@pytest.mark.parametrize("x_shape,k,n,trans,bias,relu", [
    ((1, 13, 32), 32, 64, False, True, False),   # prime rows, 2 vectors per panel
    ((2, 7, 40), 40, 48, False, False, True),    # batch 2, odd vector count (1 per panel)
    ((6, 1), 1, 32, False, False, False),        # K = 1
    ((17, 3), 3, 96, True, True, False),         # Gemm with transB: W[j, k]
    ((128, 96), 96, 160, False, True, True),     # 10 vectors, rows split 128 = 16 x 8
])
def test_dense_panels_match_numpy(x_shape, k, n, trans, bias, relu):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((n, k) if trans else (k, n)).astype(np.float32)
    b = rng.standard_normal(n).astype(np.float32) if bias else None
    model = _model(list(x_shape), w, gemm_trans_b=trans, bias=b, relu=relu)
    assert _uses_panels(model)
    sess = onnxtune.InferenceSession(onnxtune.compile_model(model))
    x = rng.standard_normal(x_shape).astype(np.float32)
    (y,) = sess.run(None, {"x": x})
    ref = x @ (w.T if trans else w)
    if b is not None:
        ref = ref + b
    if relu:
        ref = np.maximum(ref, 0)
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5 * np.abs(ref).max())


def test_kernels_the_panels_leave_alone():
    rng = np.random.default_rng(0)
    # an output width that is not a whole number of vectors
    assert not _uses_panels(_model([8, 16], rng.standard_normal((16, 40)).astype(np.float32)))
    # a single row: nothing reuses a panel
    assert not _uses_panels(_model([1, 16], rng.standard_normal((16, 64)).astype(np.float32)))


def test_the_knob_turns_panels_off():
    rng = np.random.default_rng(0)
    model = _model([32, 64], rng.standard_normal((64, 64)).astype(np.float32))
    (task,) = [t for t in extract_tasks(from_onnx(model), "llvm")]
    on = str(default_schedule_of(task.mod["main"], "llvm").trace)
    off = str(default_schedule_of(task.mod["main"], "llvm", {"DENSE_PANELS": False}).trace)
    assert "layout_rewrite_preproc" in on and "layout_rewrite_preproc" not in off


# ----------------------------------------------------------------------------------------
# row panels: a constant left operand (pointwise convolutions over flattened pixels)


def _row_panel_func(m: int, k: int, p: int, batch: int = 1, dtype: str = "float32"):
    from onnxtune.tir import te

    a = te.placeholder((m, k), dtype, name="A")
    x = te.placeholder((batch, k, p), dtype, name="X")
    rk = te.reduce_axis((0, k), name="k")
    y = te.compute((batch, m, p), lambda b, i, j: te.sum(a[i, rk] * x[b, rk, j], axis=rk),
                   name="matmul")
    z = te.compute((batch, m, p), lambda b, i, j: te.max(y[b, i, j], 0.0), name="relu")
    return te.create_prim_func([a, x, z]).with_attr("layout_free_buffers", (0,))


@pytest.mark.parametrize("m,k,p,batch,knobs", [
    (7, 13, 32, 1, {}),                                  # prime rows and reduction
    (97, 3, 48, 2, {}),                                  # prime rows: panels of one row
    (64, 256, 64, 1, {}),                                # strip of 64 KB: staged
    (64, 256, 64, 1, {"PANEL_STAGE_BYTES": None}),       # ... or not
    (12, 40, 16 * 49, 1, {"PANEL_VECTORS": 7}),          # 49 vectors, 7 per strip
    (32, 16, 16, 1, {"PANEL_VECTORS": 1, "PANEL_ACCUMULATORS": 5}),
])
def test_row_panels_match_numpy(m, k, p, batch, knobs):
    from onnxtune.compile import build
    from onnxtune.compile.dense_schedule import row_panel_operands

    func = _row_panel_func(m, k, p, batch)
    s0 = Schedule(func)
    f = _facts(s0, "matmul")
    assert row_panel_operands(s0.func, f, 16) == 0
    sch = default_schedule_of(func, "llvm", knobs=knobs)
    text = sch.func.script()
    assert "layout_rewrite_preproc" in text and "T.vectorized(16)" in text
    staged = k * 16 * (4 if not knobs else knobs.get("PANEL_VECTORS", 4)) * 4 > 32 * 1024
    assert ("X_global" in text) == (staged and knobs.get("PANEL_STAGE_BYTES", 1) is not None)
    rng = np.random.default_rng(m + k + p)
    a = rng.standard_normal((m, k)).astype(np.float32)
    x = rng.standard_normal((batch, k, p)).astype(np.float32)
    out = np.empty((batch, m, p), np.float32)
    build(sch.func, "llvm")["main"](a, x, out)
    ref = np.maximum(np.einsum("ik,bkj->bij", a, x), 0)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5 * np.abs(ref).max())


def test_row_panels_stage_by_bytes_not_by_float32_elements():
    """float64: 8-lane vectors, so a 4-vector strip of K = 256 is 64 KB as with float32 and
    is staged; the result matches numpy in double precision."""
    from onnxtune.compile import build

    m, k, p = 16, 256, 64
    sch = default_schedule_of(_row_panel_func(m, k, p, dtype="float64"), "llvm")
    text = sch.func.script()
    assert "T.vectorized(8)" in text and "X_global" in text
    rng = np.random.default_rng(5)
    a, x = rng.standard_normal((m, k)), rng.standard_normal((1, k, p))
    out = np.empty((1, m, p))
    build(sch.func, "llvm")["main"](a, x, out)
    np.testing.assert_allclose(out, np.maximum(np.einsum("ik,bkj->bij", a, x), 0),
                               rtol=1e-12, atol=1e-12)


def test_row_panels_leave_other_matmuls_alone():
    from onnxtune.compile.dense_schedule import row_panel_operands
    from onnxtune.tir import te

    # a constant right operand (that is the column panels' case), and a 33-wide output
    a = te.placeholder((8, 16), name="A")
    x = te.placeholder((16, 33), name="X")
    rk = te.reduce_axis((0, 16), name="k")
    y = te.compute((8, 33), lambda i, j: te.sum(a[i, rk] * x[rk, j], axis=rk), name="mm")
    for free in ((1,), (0,)):
        func = te.create_prim_func([a, x, y]).with_attr("layout_free_buffers", free)
        s = Schedule(func)
        assert row_panel_operands(s.func, _facts(s, "mm"), 16) is None


def test_row_panels_of_14_lane_vectors(monkeypatch):
    """With PIXEL_MIN_LANES lowered, 196 columns split into 14 vectors of 14 lanes (masked
    accesses of the parameters); results still exact to rounding."""
    import onnxtune.frontend.transform.pointwise_conv as pc
    from onnxtune.compile import build

    assert pc.pixel_vector(196) == 0 and pc.pixel_vector(3136) == 16
    monkeypatch.setattr(pc, "PIXEL_MIN_LANES", 12)
    assert pc.pixel_vector(196) == 14 and pc.pixel_vector(49) == 0
    func = _row_panel_func(24, 37, 196)
    sch = default_schedule_of(func, "llvm")
    assert "T.vectorized(14)" in sch.func.script()
    rng = np.random.default_rng(3)
    a = rng.standard_normal((24, 37)).astype(np.float32)
    x = rng.standard_normal((1, 37, 196)).astype(np.float32)
    out = np.empty((1, 24, 196), np.float32)
    build(sch.func, "llvm")["main"](a, x, out)
    ref = np.maximum(np.einsum("ik,bkj->bij", a, x), 0)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5 * np.abs(ref).max())
