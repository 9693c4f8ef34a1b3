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


def bottleneck_block(c: int, o: int, h: int, w: int, seed: int = 0,
                     stride: int = 1) -> onnx.ModelProto:
    """A residual block: 1x1 (c→o) + BN + residual + relu, times a full (C, H, W)
    constant, then a padded 3x3 and a 1x1 of that (both with ``stride``; the 1x1's result
    is a model output too), then their sum. Inputs x (2, c, h, w) and skip (2, o, h, w)."""
    rng = np.random.default_rng(seed)
    inits = {
        "w1": he_weight(rng, o, c, 1, 1), "w2": he_weight(rng, o, o, 3, 3),
        "w3": he_weight(rng, o, o, 1, 1),
        "g": rng.uniform(0.5, 1.5, o).astype(np.float32),
        "b": rng.standard_normal(o).astype(np.float32),
        "m": rng.standard_normal(o).astype(np.float32),
        "v": rng.uniform(0.5, 2.0, o).astype(np.float32),
        "sc": rng.standard_normal((o, h, w)).astype(np.float32),
    }
    st = [stride, stride]
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"]),
        helper.make_node("BatchNormalization", ["c1", "g", "b", "m", "v"], ["bn"]),
        helper.make_node("Add", ["bn", "skip"], ["s"]),
        helper.make_node("Relu", ["s"], ["r"]),
        helper.make_node("Mul", ["r", "sc"], ["rm"]),
        helper.make_node("Conv", ["rm", "w2"], ["c2"], pads=[1, 1, 1, 1], strides=st),
        helper.make_node("Conv", ["rm", "w3"], ["c3"], strides=st),
        helper.make_node("Add", ["c2", "c3"], ["y"]),
    ]
    return onnx_model(nodes, [("x", [2, c, h, w]), ("skip", [2, o, h, w])], ["y", "c3"],
                      inits)
