"""Helpers for the operator-library tests: build one op through compile.build and run it."""

from __future__ import annotations

from typing import Any

import numpy as np

from onnxtune.compile import build
from onnxtune.frontend.op import get_op
from onnxtune.tir import te

RNG = np.random.default_rng(0)


def rand(*shape: int, dtype: str = "float32", lo: float = -3.0, hi: float = 3.0) -> np.ndarray:
    """Random data of ``dtype``: uniform floats, small integers, or random booleans."""
    if dtype == "bool":
        return RNG.integers(0, 2, shape).astype(bool)
    if np.issubdtype(np.dtype(dtype), np.integer):
        return RNG.integers(int(lo), int(hi) + 1, shape).astype(dtype)
    return RNG.uniform(lo, hi, shape).astype(dtype)


def _build(name: str, arrays: tuple, attrs: dict):
    ph = [None if a is None else te.placeholder(a.shape, a.dtype.name, name=f"in{k}")
          for k, a in enumerate(arrays)]
    res = get_op(name).compute(*ph, **attrs)
    outs = list(res) if isinstance(res, tuple) else [res]
    func = te.create_prim_func([p for p in ph if p is not None] + outs)
    return func, outs, isinstance(res, tuple)


def build_op(name: str, *arrays: np.ndarray | None, **attrs: Any):
    """(func, outputs) for op ``name`` on placeholders shaped like ``arrays`` (None passes
    None through, for optional inputs)."""
    func, outs, _ = _build(name, arrays, attrs)
    return func, outs


def run_op(name: str, *arrays: np.ndarray | None, **attrs: Any):
    """Build op ``name`` for the shapes of ``arrays`` and run it; the output array (a tuple
    for multi-output ops)."""
    func, outs, multi = _build(name, arrays, attrs)
    mod = build(func)
    results = []
    for o in outs:
        fill = np.nan if np.issubdtype(np.dtype(o.dtype), np.floating) else 0
        results.append(np.full(o.static_shape(), fill, o.dtype))
    mod["main"](*[a for a in arrays if a is not None], *results)
    return tuple(results) if multi else results[0]


def check(got: np.ndarray, want: np.ndarray, rtol: float = 1e-5, atol: float = 1e-5) -> None:
    """Equal shape and dtype, values within tolerance (exact for ints and bools)."""
    want = np.asarray(want)
    assert got.shape == want.shape, f"shape {got.shape} != {want.shape}"
    assert got.dtype == want.dtype, f"dtype {got.dtype} != {want.dtype}"
    if got.dtype.kind == "f":
        if got.dtype == np.float16:
            rtol, atol = max(rtol, 1e-2), max(atol, 1e-2)
        np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64),
                                   rtol=rtol, atol=atol)
    else:
        np.testing.assert_array_equal(got, want)


def ort_run(op_type: str, inputs: list[np.ndarray | None], n_outputs: int = 1,
            opset: int = 18, **attrs: Any) -> list[np.ndarray]:
    """Run a single ONNX node with onnxruntime: the reference for ONNX semantics (a None
    input is an omitted optional input)."""
    import onnx
    import onnxruntime as ort
    from onnx import helper

    node_in = ["" if a is None else f"x{k}" for k, a in enumerate(inputs)]
    names = [n for n in node_in if n]
    inputs = [a for a in inputs if a is not None]
    outs = [f"y{k}" for k in range(n_outputs)]
    node = helper.make_node(op_type, node_in, outs, **attrs)
    vi = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
          for n, a in zip(names, inputs, strict=True)]
    vo = [onnx.ValueInfoProto(name=n) for n in outs]
    graph = helper.make_graph([node], "g", vi, vo)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    model = onnx.shape_inference.infer_shapes(model)
    for o in model.graph.output:  # take the inferred output types
        for v in model.graph.value_info:
            if v.name == o.name:
                o.CopyFrom(v)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), opts,
                                providers=["CPUExecutionProvider"])
    return sess.run(None, dict(zip(names, inputs, strict=True)))
