"""Helpers of the graph-pass tests: small ONNX graphs with random weights, compiled and
checked against onnxruntime."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from onnxtune.compile.executable import VirtualMachine
from onnxtune.compile.graph_build import build_graph
from onnxtune.frontend.onnx import from_onnx
from onnxtune.frontend.transform import graph_options


def onnx_model(nodes, inputs, outputs, inits) -> onnx.ModelProto:
    """A float32 graph of ``nodes``: ``inputs`` as (name, shape), ``outputs`` by name,
    ``inits`` {name: array} as initializers (opset 17)."""
    g = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in outputs],
        [numpy_helper.from_array(a, n) for n, a in inits.items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def he_weight(rng: np.random.Generator, *shape: int) -> np.ndarray:
    """A signed He-scaled weight (fan-in: every dim but the first)."""
    fan_in = int(np.prod(shape[1:]))
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)


def check_against_onnxruntime(model: onnx.ModelProto, feeds: dict[str, np.ndarray],
                              **graph: bool) -> None:
    """Compile ``model`` untuned (``graph``: the graph options, e.g. ``nchwc=False``) and
    assert every output matches onnxruntime's (relative to the output's largest value)."""
    with graph_options(**graph):
        vm = VirtualMachine(build_graph(from_onnx(model), "llvm"))
    ours = vm.run(feeds)
    so = ort.SessionOptions()
    so.log_severity_level = 3
    refs = ort.InferenceSession(model.SerializeToString(), so).run(None, feeds)
    for (name, o), r in zip(ours.items(), refs, strict=True):
        assert o.shape == r.shape, name
        err = float(np.abs(o - r).max())
        assert err <= 1e-4 * float(np.abs(r).max()) + 1e-5, f"{name}: max|diff| {err:.3g}"
