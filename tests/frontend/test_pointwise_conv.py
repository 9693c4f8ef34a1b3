"""Pointwise convolutions as matmuls over the flattened pixels (frontend.transform.pointwise_conv):
which convolutions are rewritten, what the graph looks like after, and that compiled graphs
match onnxruntime on random data (untuned: the row-panel default schedule)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import onnx
import pytest
from graph_helpers import bottleneck_block, check_against_onnxruntime
from graph_helpers import he_weight as _w
from graph_helpers import onnx_model as _model
from onnx import helper

from onnxtune.frontend.ir import Call
from onnxtune.frontend.onnx import from_onnx
from onnxtune.frontend.transform import optimize
from onnxtune.frontend.transform.fold_batchnorm import fold_batchnorm
from onnxtune.frontend.transform.pointwise_conv import pointwise_conv_as_matmul


def _check(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> None:
    """Compiled in NCHW (no blocked layout: the convolutions this pass rewrites)."""
    check_against_onnxruntime(model, feeds, nchwc=False)


def _ops(model: onnx.ModelProto) -> Counter:
    mod = pointwise_conv_as_matmul(fold_batchnorm(from_onnx(model)))
    return Counter(b.value.op for b in mod["main"].bindings if isinstance(b.value, Call))


def test_bottleneck_rewritten_and_matches_onnxruntime():
    m = bottleneck_block(24, 32, 4, 8)  # 32 pixels: two vectors
    ops = _ops(m)
    # both pointwise convolutions → matmul; the 3x3 stays; the epilogue ops work flat
    assert ops["matmul"] == 2 and ops["nn.conv2d"] == 1
    assert ops["reshape"] >= 3  # x and skip flattened; values the 3x3 and outputs need
    rng = np.random.default_rng(5)
    _check(m, {"x": rng.standard_normal((2, 24, 4, 8)).astype(np.float32),
               "skip": rng.standard_normal((2, 32, 4, 8)).astype(np.float32)})


@pytest.mark.parametrize("attrs, shape", [
    ({"strides": [2, 2]}, (1, 8, 8, 8)),  # strided
    ({"pads": [1, 1, 1, 1]}, (1, 8, 6, 6)),  # padded (a 1x1 window over zeros)
    ({"group": 2}, (1, 8, 4, 4)),  # grouped
    ({}, (1, 8, 7, 7)),  # 49 pixels: not whole vectors
])
def test_other_convolutions_stay_and_match(attrs, shape):
    rng = np.random.default_rng(1)
    c = shape[1]
    w = _w(rng, 16, c // attrs.get("group", 1), 1, 1)
    m = _model([helper.make_node("Conv", ["x", "w"], ["c"], **attrs),
                helper.make_node("Relu", ["c"], ["y"])], [("x", list(shape))], ["y"], {"w": w})
    assert _ops(m)["matmul"] == 0
    _check(m, {"x": rng.standard_normal(shape).astype(np.float32)})


@pytest.mark.parametrize("c, o, hw", [(1, 16, (4, 4)), (13, 7, (2, 8)), (64, 48, (8, 6)),
                                      (3, 97, (16, 3))])
def test_edge_shapes_match(c, o, hw):
    """A prime channel count, one input channel, rows that no panel height divides."""
    rng = np.random.default_rng(c * o)
    b = rng.standard_normal((o, 1, 1)).astype(np.float32)
    m = _model([helper.make_node("Conv", ["x", "w"], ["c"]),
                helper.make_node("Add", ["c", "b"], ["a"]),
                helper.make_node("Sigmoid", ["a"], ["y"])],
               [("x", [1, c, *hw])], ["y"], {"w": _w(rng, o, c, 1, 1), "b": b})
    assert _ops(m)["matmul"] == 1
    _check(m, {"x": rng.standard_normal((1, c, *hw)).astype(np.float32)})


def test_broadcast_operand_with_partial_spatial_dims_ends_the_rewrite():
    """An operand broadcast along H only (shape (W,)) cannot be flattened: the add runs on
    the 4-d value (reshaped back), and the result still matches."""
    rng = np.random.default_rng(2)
    m = _model([helper.make_node("Conv", ["x", "w"], ["c"]),
                helper.make_node("Add", ["c", "row"], ["y"])],
               [("x", [1, 4, 4, 4])], ["y"],
               {"w": _w(rng, 8, 4, 1, 1), "row": rng.standard_normal(4).astype(np.float32)})
    ops = _ops(m)
    assert ops["matmul"] == 1 and ops["reshape"] == 2 and ops["add"] == 1
    _check(m, {"x": rng.standard_normal((1, 4, 4, 4)).astype(np.float32)})


def test_can_be_turned_off():
    m = bottleneck_block(8, 16, 4, 4)
    mod = optimize(from_onnx(m), fuse=False, pointwise_as_matmul=False)
    names = [mod[b.value.func].attrs["op_name"] for b in mod["main"].bindings]
    assert "matmul" not in names and names.count("nn.conv2d") == 3


def test_conv_with_a_bias_input_is_rewritten_and_matches():
    """ONNX Conv's third input (the bias) arrives as an add the epilogue carries."""
    rng = np.random.default_rng(4)
    m = _model([helper.make_node("Conv", ["x", "w", "b"], ["y"])], [("x", [3, 5, 4, 4])],
               ["y"], {"w": _w(rng, 6, 5, 1, 1), "b": rng.standard_normal(6).astype(np.float32)})
    assert _ops(m)["matmul"] == 1
    _check(m, {"x": rng.standard_normal((3, 5, 4, 4)).astype(np.float32)})
