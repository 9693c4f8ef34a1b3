"""FuseOps/FuseTIR on the light models: group counts and anchor blocks (no compilation)."""

from __future__ import annotations

from collections import Counter

import pytest

from onnxtune.frontend.ir import CallTIR
from onnxtune.frontend.onnx import from_onnx
from onnxtune.frontend.transform import optimize
from onnxtune.models.light import load_light
from onnxtune.tir.module_equality import find_anchor_block


def test_resnet50_fusion_convolutions():
    mod = optimize(from_onnx(load_light("resnet50")), pointwise_as_matmul=False, nchwc=False)
    main = mod["main"]
    assert all(isinstance(b.value, CallTIR) for b in main.bindings)
    groups = Counter(mod[b.value.func].attrs["op_name"] for b in main.bindings)
    # every BatchNorm folded into its conv; bias, residual add and relu fused behind it
    assert groups == {
        "nn.conv2d+add+relu": 33, "nn.conv2d+add+add+relu": 16, "nn.conv2d+add": 4,
        "nn.max_pool2d": 1, "nn.avg_pool2d": 1, "reshape": 1, "nn.dense+add": 1,
        "nn.softmax": 1,
    }
    prim_funcs = [k for k in mod if k != "main"]
    assert len(main.bindings) == 58 and len(prim_funcs) == 29  # equal PrimFuncs are shared
    for b in main.bindings:
        pf = mod[b.value.func]
        if pf.attrs["op_name"].startswith("nn.conv2d"):
            assert find_anchor_block(pf).name_hint == "conv2d"


def test_resnet50_fusion_pointwise_as_matmul():
    mod = optimize(from_onnx(load_light("resnet50")), pointwise_as_matmul=True, nchwc=False)
    main = mod["main"]
    groups = Counter(mod[b.value.func].attrs["op_name"] for b in main.bindings)
    # the 1x1 convolutions over 56x56 and 28x28 pixels (16 of them) become matmuls with
    # the same epilogues; 14x14 and 7x7 ones (196, 49 pixels: not whole vectors) and the
    # strided downsamples stay convolutions
    assert groups == {
        "nn.conv2d+add+relu": 25, "matmul+add+relu": 8, "nn.conv2d+add+add+relu": 9,
        "matmul+add+add+relu": 7, "nn.conv2d+add": 3, "matmul+add": 1,
        "nn.max_pool2d": 1, "nn.avg_pool2d": 1, "reshape": 21, "nn.dense+add": 1,
        "nn.softmax": 1,
    }
    for b in main.bindings:
        pf = mod[b.value.func]
        if pf.attrs["op_name"].startswith("matmul"):
            assert find_anchor_block(pf).name_hint == "matmul"
            assert len(pf.params[1].shape) == 3  # (N, C, H·W)


def test_resnet50_fusion_blocked_layout():
    mod = optimize(from_onnx(load_light("resnet50")), winograd=False)
    main = mod["main"]
    groups = Counter(mod[b.value.func].attrs["op_name"] for b in main.bindings)
    # every convolution runs in NCHW16c with its epilogue fused (the stem, with its 3
    # input channels, reads NCHW), the max pool too; one transform out of the layout
    # before the (non-global) average pool
    assert groups == {
        "nn.conv2d_nchwc+add+relu": 33, "nn.conv2d_nchwc+add+add+relu": 16,
        "nn.conv2d_nchwc+add": 4, "nn.max_pool2d": 1, "layout_transform": 1,
        "nn.avg_pool2d": 1, "reshape": 1, "nn.dense+add": 1, "nn.softmax": 1,
    }
    for b in main.bindings:
        pf = mod[b.value.func]
        if pf.attrs["op_name"].startswith("nn.conv2d_nchwc"):
            assert find_anchor_block(pf).name_hint == "conv2d_nchwc"
            out = pf.params[-1].static_shape()
            assert len(out) == 5 and out[-1] == 16  # (1, O/16, H, W, 16)


def test_resnet50_fusion_winograd():
    """With the Winograd rewrite (the default), the 11 unit-stride 3x3 convolutions of the
    56x56, 28x28 and 14x14 stages are an input transform, a matmul and an output transform
    with the epilogue; the reshapes between them are views (kernels of their own, not
    fused); the stride-2 3x3s and the 7x7 stage stay convolutions."""
    mod = optimize(from_onnx(load_light("resnet50")))
    main = mod["main"]
    groups = Counter(mod[b.value.func].attrs["op_name"] for b in main.bindings)
    assert groups == {
        "nn.winograd_input": 11, "matmul": 11, "nn.winograd_output+add+relu": 11,
        "nn.conv2d_nchwc+add+relu": 22, "nn.conv2d_nchwc+add+add+relu": 16,
        "nn.conv2d_nchwc+add": 4, "nn.max_pool2d": 1, "layout_transform": 1,
        "nn.avg_pool2d": 1, "reshape": 23, "nn.dense+add": 1, "nn.softmax": 1,
    }
    for b in main.bindings:
        pf = mod[b.value.func]
        if pf.attrs["op_name"].startswith("nn.winograd_output"):
            # (its first step, A applied along the rows, has the most FLOPs)
            assert find_anchor_block(pf).name_hint == "winograd_MA"
        if pf.attrs["op_name"] == "matmul":
            assert len(pf.params[0].shape) == 3 and len(pf.params[1].shape) == 3


@pytest.mark.slow
def test_densenet_scale_shift_fuses_into_conv_and_concat_stays_injective():
    mod = optimize(from_onnx(load_light("densenet121")))
    groups = Counter(mod[b.value.func].attrs["op_name"] for b in mod["main"].bindings)
    assert not any("batch_norm" in g for g in groups)
    # densenet's BN → Mul → Add → Relu before each conv: an elementwise chain per layer
    # (a unit-stride 3x3 in Winograd counts by its output transform, which carries the
    # epilogue; two pointwise ones run as matmuls over the pixels, next to the Winograd
    # products)
    def count(*prefixes):
        return sum(n for g, n in groups.items() if g.startswith(prefixes))

    assert count("nn.winograd_output") == count("nn.winograd_input") > 0
    assert (count("nn.conv2d", "nn.winograd_output", "matmul")
            - count("nn.winograd_input")) == 121
