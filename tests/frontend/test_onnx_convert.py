"""ONNX converters against onnx.reference on random data: 3-d pooling / ConvTranspose,
MaxPool's Indices, Pad wrap, Resize (tf_crop_and_resize, antialias, keep_aspect_ratio),
training-mode BatchNormalization and Dropout, opset < 7 models, import-time folding."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from onnxtune.compile.executable import VirtualMachine
from onnxtune.compile.graph_build import build_graph
from onnxtune.frontend.onnx import UnsupportedOpError, from_onnx

RNG = np.random.default_rng(0)
_T = {np.dtype("float32"): TensorProto.FLOAT, np.dtype("float16"): TensorProto.FLOAT16,
      np.dtype("int64"): TensorProto.INT64, np.dtype("bool"): TensorProto.BOOL,
      np.dtype("int32"): TensorProto.INT32, np.dtype("uint8"): TensorProto.UINT8}


def _node_model(op, inputs, consts=None, n_out=1, opset=19, out_type=TensorProto.UNDEFINED,
                **attrs):
    """One ``op`` node: ``inputs`` (name → array) are graph inputs, ``consts`` (name →
    array, or None for an omitted optional input) initializers, in the order given."""
    consts = consts or {}
    names = list(inputs) + list(consts)
    node_in = ["" if consts.get(n, 0) is None else n for n in names]
    while node_in and node_in[-1] == "":
        node_in.pop()
    outs = [f"y{k}" for k in range(n_out)]
    node = helper.make_node(op, node_in, outs, **attrs)
    g = helper.make_graph(
        [node], "g",
        [helper.make_tensor_value_info(n, _T[a.dtype], a.shape) for n, a in inputs.items()],
        [helper.make_tensor_value_info(o, out_type, None) for o in outs],
        [numpy_helper.from_array(np.asarray(a), n) for n, a in consts.items()
         if a is not None])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 10
    return m


def _check(model, inputs, rtol=1e-5, atol=1e-5, ref="onnx"):
    """Compile ``model`` with onnxtune and compare every output with onnx.reference
    (``ref="ort"``: onnxruntime, where the reference lacks the case)."""
    if ref == "ort":
        import onnxruntime as ort

        want = ort.InferenceSession(model.SerializeToString()).run(None, inputs)
    else:
        want = ReferenceEvaluator(model).run(None, inputs)
    vm = VirtualMachine(build_graph(from_onnx(model)))
    got = vm["main"](*inputs.values())
    got = got if isinstance(got, tuple) else (got,)
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        w = np.asarray(w)
        assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, g.dtype, w.shape, w.dtype)
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)
    return got


def _rand(*shape, dtype=np.float32):
    return RNG.standard_normal(shape).astype(dtype)


# ----------------------------------------------------------------------------------------
# 3-d pooling and ConvTranspose


@pytest.mark.parametrize("kind", ["MaxPool", "AveragePool"])
@pytest.mark.parametrize("attrs", [
    dict(kernel_shape=[2, 3, 2], strides=[1, 2, 2]),
    dict(kernel_shape=[3, 2, 3], strides=[2, 1, 3], pads=[1, 0, 1, 1, 1, 0], ceil_mode=1),
    dict(kernel_shape=[2, 2, 2], strides=[2, 2, 1], dilations=[2, 1, 3], ceil_mode=1,
         pads=[0, 1, 1, 1, 0, 1]),
    dict(kernel_shape=[3, 3, 3], auto_pad="SAME_UPPER", strides=[2, 2, 2]),
])
def test_pool3d(kind, attrs):
    x = _rand(1, 2, 7, 6, 11)
    if kind == "AveragePool":
        for include in (0, 1):
            _check(_node_model(kind, {"x": x}, count_include_pad=include, **attrs), {"x": x})
    else:
        _check(_node_model(kind, {"x": x}, **attrs), {"x": x})


def test_convtranspose3d():
    x, w, b = _rand(1, 4, 3, 2, 5), _rand(4, 3, 2, 3, 2), _rand(6)
    m = _node_model("ConvTranspose", {"x": x}, {"w": w, "b": b}, strides=[2, 1, 3], out_type=1,
                    pads=[1, 0, 1, 0, 1, 1], output_padding=[1, 0, 2], group=2)
    _check(m, {"x": x}, rtol=1e-4, atol=1e-4, ref="ort")  # the reference lacks groups
    m = _node_model("ConvTranspose", {"x": x}, {"w": w}, strides=[2, 2, 2], out_type=1,
                    auto_pad="SAME_UPPER", group=2)
    _check(m, {"x": x}, rtol=1e-4, atol=1e-4, ref="ort")


# ----------------------------------------------------------------------------------------
# Pad wrap, opset < 7, folding


def test_pad_wrap():
    x = _rand(3, 1, 5)
    pads = np.array([0, 2, 7, 1, 3, 4], np.int64)
    _check(_node_model("Pad", {"x": x}, {"p": pads}, mode="wrap"), {"x": x})
    pads = np.array([2, 0], np.int64)
    axes = np.array([-1], np.int64)
    _check(_node_model("Pad", {"x": x}, {"p": pads, "v": None, "a": axes}, mode="wrap"),
           {"x": x})


@pytest.mark.parametrize("mode", ["constant", "reflect"])
def test_pad_negative(mode):
    # negative pads crop (onnx.reference's np.pad rejects them: onnxruntime is the reference)
    x = _rand(2, 5, 6)
    pads = np.array([0, -1, 2, 1, 2, -2], np.int64)
    m = _node_model("Pad", {"x": x}, {"p": pads}, mode=mode, out_type=TensorProto.FLOAT)
    _check(m, {"x": x}, ref="ort")


def test_not_opset1():
    x = RNG.random((2, 3, 4)) > 0.5
    _check(_node_model("Not", {"x": x}, opset=1), {"x": x})


def test_center_crop_pad_body_folds_at_import():
    # CenterCropPad's expanded body: pads and slice bounds from Shape(x) and a constant
    # target shape (Max / Sub / Div / Concat / Add on int64) fold to static values
    x = _rand(5, 8, 3)
    target = np.array([7, 4], np.int64)
    c = lambda n, v: helper.make_node(  # noqa: E731
        "Constant", [], [n], value=numpy_helper.from_array(np.asarray(v, np.int64)))
    nodes = [
        c("k2", 2), c("axes", [0, 1]),
        helper.make_node("Shape", ["x"], ["s_all"]),
        helper.make_node("Gather", ["s_all", "axes"], ["s"]),
        helper.make_node("Max", ["s", "shape"], ["padded"]),
        helper.make_node("Sub", ["padded", "s"], ["amt"]),
        helper.make_node("Div", ["amt", "k2"], ["left"]),
        helper.make_node("Sub", ["amt", "left"], ["right"]),
        helper.make_node("Concat", ["left", "right"], ["pads"], axis=0),
        helper.make_node("Pad", ["x", "pads", "", "axes"], ["xp"]),
        helper.make_node("Shape", ["xp"], ["s2_all"]),
        helper.make_node("Gather", ["s2_all", "axes"], ["s2"]),
        helper.make_node("Sub", ["s2", "shape"], ["diff"]),
        helper.make_node("Div", ["diff", "k2"], ["start"]),
        helper.make_node("Add", ["start", "shape"], ["end"]),
        helper.make_node("Slice", ["xp", "start", "end", "axes"], ["y"]),
    ]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", 1, x.shape)],
                          [helper.make_tensor_value_info("y", 1, None)],
                          [numpy_helper.from_array(target, "shape")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)])
    mod = from_onnx(m)
    ops = [b.value.op for b in mod["main"].bindings if hasattr(b.value, "op")]
    assert set(ops) <= {"nn.pad", "strided_slice"}, ops
    (got,) = _check(m, {"x": x})
    assert got.shape == (7, 4, 3)


# ----------------------------------------------------------------------------------------
# training-mode BatchNormalization and Dropout


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (4, 3), (1, 5, 7), (3, 1, 2, 3, 2)])
def test_batchnorm_training_mode(shape):
    c = shape[1]
    x = _rand(*shape) * 2 + 1
    consts = {"s": _rand(c), "b": _rand(c), "mean": _rand(c),
              "var": RNG.random(c).astype(np.float32) + 0.5}
    m = _node_model("BatchNormalization", {"x": x}, consts, n_out=3, opset=15,
                    training_mode=1, epsilon=1e-3, momentum=0.7)
    _check(m, {"x": x}, rtol=1e-4, atol=1e-5)
    m = _node_model("BatchNormalization", {"x": x}, consts, n_out=1, opset=15,
                    training_mode=1)
    _check(m, {"x": x}, rtol=1e-4, atol=1e-5)


def test_dropout_training_zero_ratio_is_identity():
    x = _rand(3, 4, 5)
    m = _node_model("Dropout", {"x": x},
                    {"r": np.array(0.0, np.float32), "t": np.array(True)}, n_out=2, opset=13)
    _check(m, {"x": x})


def test_dropout_training_random_ratio_is_reported():
    x = _rand(3, 4)
    m = _node_model("Dropout", {"x": x},
                    {"r": np.array(0.25, np.float32), "t": np.array(True)}, n_out=2, opset=13)
    with pytest.raises(UnsupportedOpError, match=r"training mode with ratio 0.25 \(a random"):
        from_onnx(m)


# ----------------------------------------------------------------------------------------
# MaxPool's Indices output


@pytest.mark.parametrize("shape,attrs", [
    ((2, 3, 7, 6), dict(kernel_shape=[3, 2], strides=[2, 2], pads=[1, 0, 1, 1])),
    ((1, 2, 5, 5), dict(kernel_shape=[2, 2], auto_pad="SAME_UPPER", strides=[2, 2])),
    ((1, 2, 9), dict(kernel_shape=[3], strides=[2], pads=[1, 1])),
    ((1, 1, 4, 5, 3), dict(kernel_shape=[2, 3, 2], strides=[1, 2, 1])),
])
@pytest.mark.parametrize("order", [0, 1])
def test_maxpool_indices(shape, attrs, order):
    x = _rand(*shape)
    m = _node_model("MaxPool", {"x": x}, n_out=2, opset=12, storage_order=order, **attrs)
    _check(m, {"x": x})


# ----------------------------------------------------------------------------------------
# Resize: tf_crop_and_resize, antialias, keep_aspect_ratio_policy


def _resize(x, *, roi=None, scales=None, sizes=None, ref="onnx", **attrs):
    consts = {"roi": None if roi is None else np.asarray(roi, np.float32),
              "scales": None if scales is None else np.asarray(scales, np.float32),
              "sizes": None if sizes is None else np.asarray(sizes, np.int64)}
    m = _node_model("Resize", {"x": x}, consts, opset=19, out_type=TensorProto.FLOAT, **attrs)
    return _check(m, {"x": x}, rtol=1e-4, atol=1e-5, ref=ref)


@pytest.mark.parametrize("mode", ["nearest", "linear", "cubic"])
@pytest.mark.parametrize("roi,extra", [
    ([0, 0, 0.4, 0.6, 1, 1, 0.6, 0.8], {}),
    ([0, 0, -0.3, 0.2, 1, 1, 1.2, 0.9], dict(extrapolation_value=10.0)),  # outside the input
    ([0, 0, 0.8, 0.7, 1, 1, 0.1, 0.2], {}),  # reversed boxes flip the image
])
def test_resize_tf_crop_and_resize(mode, roi, extra):
    x = _rand(1, 2, 7, 5)
    kw = dict(mode=mode, coordinate_transformation_mode="tf_crop_and_resize", **extra)
    _resize(x, roi=roi, sizes=[1, 2, 6, 11], **kw)
    _resize(x, roi=roi, scales=[1, 1, 0.5, 1.7], **kw)
    _resize(x, roi=roi, sizes=[1, 2, 1, 4], **kw)  # one output row: the crop's middle


def test_resize_tf_crop_and_resize_axes():
    x = _rand(2, 1, 6, 9)
    for axes, roi, sizes in (([2, 3], [0.2, 0.1, 0.9, 1.3], [4, 7]),
                             ([3, 2], [0.1, 0.2, 1.3, 0.9], [7, 4]),
                             ([3], [-0.2, 0.7], [5])):
        _resize(x, roi=roi, sizes=sizes, axes=axes, mode="linear",
                coordinate_transformation_mode="tf_crop_and_resize", extrapolation_value=-1.5)


@pytest.mark.parametrize("mode,coord", [
    ("linear", "half_pixel"), ("cubic", "half_pixel"), ("linear", "align_corners"),
    ("cubic", "asymmetric"), ("linear", "pytorch_half_pixel"), ("cubic", "pytorch_half_pixel"),
])
def test_resize_antialias(mode, coord):
    x = _rand(1, 2, 16, 13)
    kw = dict(mode=mode, antialias=1, coordinate_transformation_mode=coord)
    _resize(x, scales=[1, 1, 0.6, 0.3], **kw)
    _resize(x, sizes=[1, 2, 4, 9], **kw)
    if mode == "cubic":
        _resize(x, scales=[1, 1, 0.25, 1.5], **kw)  # down on H, up on W (plain kernel)
    # one output row: pytorch_half_pixel maps it to 0 (the spec, onnxruntime), the
    # reference to -0.5
    _resize(x, sizes=[1, 2, 1, 2], exclude_outside=1, **kw,
            ref="ort" if coord == "pytorch_half_pixel" else "onnx")


def test_resize_antialias_exclude_outside_and_cubic_a():
    x = _rand(2, 1, 11, 17)
    _resize(x, scales=[1, 1, 0.45, 0.7], mode="cubic", antialias=1, exclude_outside=1,
            cubic_coeff_a=-0.5)
    _resize(x, sizes=[2, 1, 3, 5], mode="linear", antialias=1, exclude_outside=1)


@pytest.mark.parametrize("policy", ["not_larger", "not_smaller"])
@pytest.mark.parametrize("mode", ["nearest", "linear"])
def test_resize_keep_aspect_ratio(policy, mode):
    # onnxruntime as the reference: at an input coordinate of exactly 7 (10.5 / 1.4 - 0.5)
    # onnx.reference's vectorized neighbour search picks 6 (float rounding), not 7
    x = _rand(1, 3, 5, 8)
    kw = dict(mode=mode, keep_aspect_ratio_policy=policy, ref="ort")
    _resize(x, sizes=[7, 9], axes=[2, 3], **kw)
    _resize(x, sizes=[3, 2], axes=[2, 3], **kw)
    _resize(x, sizes=[6, 3], axes=[3, 2], **kw)
