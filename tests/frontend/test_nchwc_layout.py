"""Convolutions in channel-blocked layouts (frontend.transform.nchwc_layout and the ops it
uses): which convolutions move to NCHW16c, what the graph looks like after, and that
compiled graphs match onnxruntime on random data."""

from __future__ import annotations

from collections import Counter

import numpy as np
import onnx
import pytest
from graph_helpers import bottleneck_block
from graph_helpers import check_against_onnxruntime as _check
from graph_helpers import he_weight as _w
from graph_helpers import onnx_model as _model
from onnx import helper

from onnxtune.compile import build
from onnxtune.frontend.ir import Call
from onnxtune.frontend.onnx import from_onnx
from onnxtune.frontend.op import get_op
from onnxtune.frontend.transform.fold_batchnorm import fold_batchnorm
from onnxtune.frontend.transform.nchwc_layout import block_channels, nchwc_layout
from onnxtune.tir import te


def _ops(model: onnx.ModelProto) -> Counter:
    mod = nchwc_layout(fold_batchnorm(from_onnx(model)))
    return Counter(b.value.op for b in mod["main"].bindings if isinstance(b.value, Call))


def test_a_residual_block_runs_blocked_and_matches_onnxruntime():
    model = bottleneck_block(32, 48, 9, 13, stride=2)
    ops = _ops(model)
    # three convolutions blocked; x and skip transformed in, y and c3 transformed out
    assert ops["nn.conv2d_nchwc"] == 3 and ops["nn.conv2d"] == 0
    assert ops["layout_transform"] == 4
    rng = np.random.default_rng(1)
    _check(model, {"x": rng.standard_normal((2, 32, 9, 13)).astype(np.float32),
                   "skip": rng.standard_normal((2, 48, 9, 13)).astype(np.float32)})


def test_convolutions_that_gain_nothing_stay_nchw():
    """A lone convolution (a transform on each side, nothing to share them with), channel
    counts that are no multiple of 16, a lone depthwise convolution, and pointwise
    convolutions next to a grouped (not depthwise) one, keep their layout."""
    rng = np.random.default_rng(2)
    lone = _model([helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])],
                  [("x", [1, 32, 8, 8])], ["y"], {"w": _w(rng, 32, 32, 3, 3)})
    assert _ops(lone)["nn.conv2d_nchwc"] == 0
    odd = _model([helper.make_node("Conv", ["x", "w1"], ["a"]),
                  helper.make_node("Conv", ["a", "w2"], ["y"])],
                 [("x", [1, 24, 8, 8])], ["y"], {"w1": _w(rng, 24, 24, 1, 1),
                                                 "w2": _w(rng, 24, 24, 1, 1)})
    assert _ops(odd)["nn.conv2d_nchwc"] == 0
    dw = _model([helper.make_node("Conv", ["x", "dw"], ["y"], group=32, pads=[1, 1, 1, 1])],
                [("x", [1, 32, 8, 8])], ["y"], {"dw": _w(rng, 32, 1, 3, 3)})
    assert _ops(dw)["nn.depthwise_conv2d_nchwc"] == 0
    grouped = _model([helper.make_node("Conv", ["x", "w1"], ["a"]),
                      helper.make_node("Relu", ["a"], ["ar"]),
                      helper.make_node("Conv", ["ar", "g"], ["d"], group=2, pads=[1, 1, 1, 1]),
                      helper.make_node("Conv", ["d", "w2"], ["y"])],
                     [("x", [1, 32, 8, 8])], ["y"],
                     {"w1": _w(rng, 64, 32, 1, 1), "g": _w(rng, 64, 32, 3, 3),
                      "w2": _w(rng, 32, 64, 1, 1)})
    assert _ops(grouped)["nn.conv2d_nchwc"] == 0
    _check(grouped, {"x": rng.standard_normal((1, 32, 8, 8)).astype(np.float32)})


@pytest.mark.parametrize("h,w,k,stride,pads", [
    (8, 8, 3, 1, [1] * 4), (13, 7, 3, 2, [1] * 4), (1, 1, 3, 1, [1] * 4),
    (9, 11, 5, 2, [2] * 4), (10, 12, 3, 2, [0, 0, 1, 1])])
def test_a_mobilenet_block_runs_blocked_with_its_depthwise_convolution(h, w, k, stride,
                                                                          pads):
    """Expand (1x1) → relu6 → depthwise (k x k, padded, strided) → relu6 → project (1x1)
    → residual add (stride 1): all three convolutions blocked, the depthwise one as
    nn.depthwise_conv2d_nchwc with its (C/16, KH, KW, 16) weight; one transform in, one
    out; prime sizes, a 1x1 image, a 5x5 window and TensorFlow's asymmetric "same"
    padding of a stride-2 window included; matches onnxruntime."""
    rng = np.random.default_rng(h * 100 + w)
    nodes = [helper.make_node("Conv", ["x", "w1"], ["a"]),
             helper.make_node("Clip", ["a", "lo", "hi"], ["ar"]),
             helper.make_node("Conv", ["ar", "dw"], ["d"], group=96, pads=pads,
                              strides=[stride] * 2),
             helper.make_node("Clip", ["d", "lo", "hi"], ["dr"]),
             helper.make_node("Conv", ["dr", "w2"], ["y"])]
    if stride == 1:
        nodes.append(helper.make_node("Add", ["y", "x"], ["out"]))
    inits = {"w1": _w(rng, 96, 32, 1, 1), "dw": _w(rng, 96, 1, k, k),
             "w2": _w(rng, 32, 96, 1, 1), "lo": np.float32(0.0), "hi": np.float32(6.0)}
    model = _model(nodes, [("x", [1, 32, h, w])], ["out" if stride == 1 else "y"], inits)
    ops = _ops(model)
    assert ops["nn.conv2d_nchwc"] == 2 and ops["nn.depthwise_conv2d_nchwc"] == 1
    assert ops["nn.conv2d"] == 0 and ops["layout_transform"] == 2
    _check(model, {"x": rng.standard_normal((1, 32, h, w)).astype(np.float32)})


def test_a_chain_of_mostly_3x3_convolutions_stays_nchw():
    """A basic-block chain (3x3, 3x3, 1x1: one pointwise of three) stays NCHW; with
    min_pointwise=0 it runs blocked, and matches onnxruntime either way."""
    rng = np.random.default_rng(6)
    model = _model([
        helper.make_node("Conv", ["x", "w1"], ["a"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["a"], ["ar"]),
        helper.make_node("Conv", ["ar", "w2"], ["b"], pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["b", "w3"], ["y"]),
    ], [("x", [1, 16, 6, 5])], ["y"], {
        "w1": _w(rng, 32, 16, 3, 3), "w2": _w(rng, 32, 32, 3, 3), "w3": _w(rng, 16, 32, 1, 1)})
    assert _ops(model)["nn.conv2d_nchwc"] == 0
    mod = nchwc_layout(fold_batchnorm(from_onnx(model)), min_pointwise=0)
    ops = Counter(b.value.op for b in mod["main"].bindings if isinstance(b.value, Call))
    assert ops["nn.conv2d_nchwc"] == 3 and ops["layout_transform"] == 2
    _check(model, {"x": rng.standard_normal((1, 16, 6, 5)).astype(np.float32)})


def test_a_chain_through_a_pool_stays_blocked():
    """conv → relu → conv, max pool, conv → sigmoid → conv: all blocked (the pool too), one
    transform in and one out; 1x1 images and a 7x7 window included."""
    rng = np.random.default_rng(3)
    model = _model([
        helper.make_node("Conv", ["x", "w1"], ["a"], pads=[3, 3, 3, 3]),
        helper.make_node("Relu", ["a"], ["ar"]),
        helper.make_node("Conv", ["ar", "w2"], ["b"]),
        helper.make_node("MaxPool", ["b"], ["p"], kernel_shape=[7, 7]),
        helper.make_node("Conv", ["p", "w3"], ["c"]),
        helper.make_node("Sigmoid", ["c"], ["cs"]),
        helper.make_node("Conv", ["cs", "w4"], ["y"]),
    ], [("x", [1, 16, 7, 7])], ["y"], {
        "w1": _w(rng, 32, 16, 7, 7), "w2": _w(rng, 16, 32, 1, 1),
        "w3": _w(rng, 32, 16, 1, 1), "w4": _w(rng, 16, 32, 1, 1)})
    ops = _ops(model)
    assert ops["nn.conv2d_nchwc"] == 4 and ops["layout_transform"] == 2
    _check(model, {"x": rng.standard_normal((1, 16, 7, 7)).astype(np.float32)})


def test_a_resnet_runs_blocked_from_its_stem_to_its_global_pool():
    """A stem (3 input channels: NCHW in, blocked out), its max pool (blocked), two
    convolutions, a global average pool (blocked): one transform, after the pool (fused
    with the flatten); a ceil-mode pool and a global max pool on a side branch too."""
    rng = np.random.default_rng(5)
    model = _model([
        helper.make_node("Conv", ["x", "w0"], ["s"], pads=[3, 3, 3, 3], strides=[2, 2]),
        helper.make_node("Relu", ["s"], ["sr"]),
        helper.make_node("MaxPool", ["sr"], ["p"], kernel_shape=[3, 3], strides=[2, 2],
                         pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["p", "w1"], ["a"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["a"], ["ar"]),
        helper.make_node("Conv", ["ar", "w2"], ["b"]),
        helper.make_node("GlobalAveragePool", ["b"], ["g"]),
        helper.make_node("Flatten", ["g"], ["y"]),
        helper.make_node("MaxPool", ["ar"], ["q"], kernel_shape=[2, 2], strides=[2, 2],
                         ceil_mode=1),
        helper.make_node("GlobalMaxPool", ["q"], ["z"]),
    ], [("x", [1, 3, 29, 23])], ["y", "z"], {
        "w0": _w(rng, 32, 3, 7, 7), "w1": _w(rng, 48, 32, 3, 3), "w2": _w(rng, 32, 48, 1, 1)})
    mod = nchwc_layout(fold_batchnorm(from_onnx(model)))
    calls = [b.value for b in mod["main"].bindings if isinstance(b.value, Call)]
    ops = Counter(c.op for c in calls)
    assert ops["nn.conv2d_nchwc"] == 3 and ops["nn.conv2d"] == 0
    assert ops["layout_transform"] == 2  # y's and z's pools, each out of the layout
    assert all(c.attrs.get("layout") == "NCHW16c" for c in calls
               if c.op in ("nn.max_pool2d", "nn.global_avg_pool2d", "nn.global_max_pool2d"))
    _check(model, {"x": rng.standard_normal((1, 3, 29, 23)).astype(np.float32)})


def _run_te(tensors, out, *arrays):
    func = te.create_prim_func([*tensors, out])
    res = np.zeros(out.static_shape(), np.float32)
    build(func)["main"](*arrays, res)
    return res


def test_layout_transform_round_trip():
    x = np.random.default_rng(4).standard_normal((2, 48, 5, 3)).astype(np.float32)
    op = get_op("layout_transform").compute
    t = te.placeholder(x.shape, "float32", name="x")
    blocked = _run_te([t], op(t, src_layout="NCHW", dst_layout="NCHW16c"), x)
    np.testing.assert_array_equal(blocked, block_channels(x, 16))
    tb = te.placeholder(blocked.shape, "float32", name="xb")
    back = _run_te([tb], op(tb, src_layout="NCHW16c", dst_layout="NCHW"), blocked)
    np.testing.assert_array_equal(back, x)


def test_blocked_ops_name_what_is_wrong():
    op = get_op("layout_transform").compute
    with pytest.raises(ValueError, match="channels a multiple of 16"):
        op(te.placeholder((1, 24, 4, 4), "float32", name="x"), src_layout="NCHW",
           dst_layout="NCHW16c")
    with pytest.raises(ValueError, match="neither 'NCHW' nor"):
        op(te.placeholder((1, 32, 4, 4), "float32", name="x"), src_layout="NCHW",
           dst_layout="NHWC")
    with pytest.raises(ValueError, match="exactly one of them"):
        op(te.placeholder((1, 32, 4, 4), "float32", name="x"), src_layout="NCHW",
           dst_layout="NCHW")
    conv = get_op("nn.conv2d_nchwc").compute
    x = te.placeholder((1, 2, 8, 8, 16), "float32", name="x")
    with pytest.raises(ValueError, match=r"expected \(O/16, 2, KH, KW, 16, 16\)"):
        conv(x, te.placeholder((2, 3, 3, 3, 16, 16), "float32", name="w"))
    with pytest.raises(ValueError, match="larger than the padded input"):
        conv(x, te.placeholder((2, 2, 9, 9, 16, 16), "float32", name="w"))
    with pytest.raises(ValueError, match="or 4-d NCHW with a 5-d"):
        conv(x, te.placeholder((2, 32, 3, 3, 16), "float32", name="w"))
    pool = get_op("nn.max_pool2d").compute
    with pytest.raises(ValueError, match="NCHW<b>c data must be 5-d"):
        pool(te.placeholder((1, 32, 8, 8), "float32", name="x"), pool_size=2,
             layout="NCHW16c")
    with pytest.raises(ValueError, match="only 2-d pools"):
        get_op("nn.max_pool1d").compute(te.placeholder((1, 2, 8, 16), "float32", name="x"),
                                        pool_size=2, layout="NCHW16c")
    gap = get_op("nn.global_avg_pool2d").compute
    with pytest.raises(ValueError, match=r"must be 5-d \(N, C/16, H, W, 16\)"):
        gap(te.placeholder((1, 2, 8, 8, 8), "float32", name="x"), layout="NCHW16c")
    dw = get_op("nn.depthwise_conv2d_nchwc").compute
    with pytest.raises(ValueError, match=r"expected \(2, KH, KW, 16\)"):
        dw(x, te.placeholder((3, 3, 3, 16), "float32", name="w"))
    with pytest.raises(ValueError, match=r"4-d \(C/b, KH, KW, b\)"):
        dw(x, te.placeholder((2, 1, 3, 3, 16), "float32", name="w"))


def test_depthwise_conv2d_nchwc_matches_numpy():
    """The blocked depthwise op on its own (stride 2, padding 2, dilation 2, a prime width):
    every lane its own channel's filter."""
    rng = np.random.default_rng(8)
    x = rng.standard_normal((1, 32, 11, 13)).astype(np.float32)
    wt = rng.standard_normal((32, 1, 3, 3)).astype(np.float32)
    xb = block_channels(x, 16)
    wb = np.ascontiguousarray(wt.reshape(2, 16, 3, 3).transpose(0, 2, 3, 1))
    tx = te.placeholder(xb.shape, "float32", name="x")
    tw = te.placeholder(wb.shape, "float32", name="w")
    out = get_op("nn.depthwise_conv2d_nchwc").compute(tx, tw, strides=2, padding=2,
                                                      dilation=2)
    got = _run_te([tx, tw], out, xb, wb)
    xp = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2))).astype(np.float64)
    oh, ow = (11 + 4 - 5) // 2 + 1, (13 + 4 - 5) // 2 + 1
    ref = np.zeros((1, 32, oh, ow))
    for i in range(3):
        for j in range(3):
            ref += xp[:, :, 2 * i:2 * i + 2 * oh:2, 2 * j:2 * j + 2 * ow:2] \
                * wt[None, :, 0, i, j, None, None]
    np.testing.assert_allclose(got, block_channels(ref, 16), rtol=1e-5, atol=1e-5)
