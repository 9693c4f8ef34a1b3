"""ONNX importer: op conversion, import-time shape folding, opset variants, clear errors."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnxtune.compile.executable import VirtualMachine
from onnxtune.compile.graph_build import build_graph
from onnxtune.frontend.ir import Call, Constant
from onnxtune.frontend.onnx import ONNXImportError, UnsupportedOpError, from_onnx

RNG = np.random.default_rng(0)


def _model(nodes, inputs, outputs, inits=(), opset=13):
    g = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def _vi(name, shape, t=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, t, shape)


def _compile(model):
    vm = VirtualMachine(build_graph(from_onnx(model)))

    def run(*arrays):
        out = vm["main"](*arrays)
        return out if isinstance(out, tuple) else (out,)

    return run


def _run_both(model, feeds):
    ours = _compile(model)(*feeds.values())
    so = ort.SessionOptions()
    so.log_severity_level = 3
    ref = ort.InferenceSession(model.SerializeToString(), so).run(None, feeds)
    return ours, ref


def test_shape_arithmetic_folds_at_import():
    # Reshape(x, Concat(Gather(Shape(x), 0), [-1])) → a static reshape
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
        helper.make_node("Unsqueeze", ["n", "ax0"], ["n1"]),
        helper.make_node("Concat", ["n1", "minus1"], ["shape"], axis=0),
        helper.make_node("Reshape", ["x", "shape"], ["y"]),
        helper.make_node("Relu", ["y"], ["z"]),
    ]
    inits = [numpy_helper.from_array(np.array(0, np.int64), "zero"),
             numpy_helper.from_array(np.array([0], np.int64), "ax0"),
             numpy_helper.from_array(np.array([-1], np.int64), "minus1")]
    m = _model(nodes, [_vi("x", [2, 3, 4])], [_vi("z", [2, 12])], inits)
    main = from_onnx(m)["main"]
    ops = [b.value.op for b in main.bindings]
    assert ops == ["reshape", "relu"]
    assert main.bindings[0].value.attrs["newshape"] == (2, 12)
    x = RNG.standard_normal((2, 3, 4)).astype("float32")
    ours, ref = _run_both(m, {"x": x})
    np.testing.assert_allclose(ours[0], ref[0])


def test_conv_bn_relu_gemm_matches_onnxruntime():
    w = RNG.standard_normal((8, 3, 3, 3)).astype("float32") * 0.3
    inits = [numpy_helper.from_array(w, "w"),
             numpy_helper.from_array(RNG.standard_normal(8).astype("float32"), "b"),
             numpy_helper.from_array(RNG.uniform(0.5, 2, 8).astype("float32"), "s"),
             numpy_helper.from_array(RNG.standard_normal(8).astype("float32"), "bb"),
             numpy_helper.from_array(RNG.standard_normal(8).astype("float32"), "m"),
             numpy_helper.from_array(RNG.uniform(0.5, 2, 8).astype("float32"), "v"),
             numpy_helper.from_array(RNG.standard_normal((5, 8)).astype("float32"), "fc"),
             numpy_helper.from_array(RNG.standard_normal(5).astype("float32"), "fcb")]
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("BatchNormalization", ["c", "s", "bb", "m", "v"], ["n"]),
        helper.make_node("Relu", ["n"], ["r"]),
        helper.make_node("GlobalAveragePool", ["r"], ["p"]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("Gemm", ["f", "fc", "fcb"], ["y"], transB=1, alpha=0.5),
        helper.make_node("Softmax", ["y"], ["z"], axis=1),
    ]
    m = _model(nodes, [_vi("x", [1, 3, 11, 13])], [_vi("z", [1, 5]), _vi("y", [1, 5])], inits,
               opset=11)
    x = RNG.standard_normal((1, 3, 11, 13)).astype("float32")
    ours, ref = _run_both(m, {"x": x})
    for o, r in zip(ours, ref, strict=True):
        np.testing.assert_allclose(o, r, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("opset", [11, 13])
def test_softmax_opset_variants(opset):
    m = _model([helper.make_node("Softmax", ["x"], ["y"], axis=1)], [_vi("x", [2, 3, 4])],
               [_vi("y", [2, 3, 4])], opset=opset)
    x = RNG.standard_normal((2, 3, 4)).astype("float32")
    ours, ref = _run_both(m, {"x": x})
    np.testing.assert_allclose(ours[0], ref[0], rtol=1e-5, atol=1e-6)


def test_split_and_topk_multiple_outputs():
    nodes = [helper.make_node("Split", ["x"], ["a", "b"], axis=1),
             helper.make_node("TopK", ["a", "k"], ["v", "i"], axis=-1)]
    inits = [numpy_helper.from_array(np.array([2], np.int64), "k")]
    m = _model(nodes, [_vi("x", [3, 10])],
               [_vi("b", [3, 5]), _vi("v", [3, 2]), _vi("i", [3, 2], TensorProto.INT64)], inits)
    x = RNG.standard_normal((3, 10)).astype("float32")
    ours, ref = _run_both(m, {"x": x})
    for o, r in zip(ours, ref, strict=True):
        np.testing.assert_allclose(o, r)


def test_unsupported_ops_and_attributes_are_all_listed():
    nodes = [
        helper.make_node("Relu", ["x"], ["a"], name="ok"),
        helper.make_node("NonMaxSuppression", ["a"], ["b"], name="nms"),
        helper.make_node("Acosh", ["a"], ["c"], name="acosh"),
        helper.make_node("Relu", ["c"], ["d"], name="after_bad"),  # skipped, not reported
        helper.make_node("LeakyRelu", ["x"], ["e"], name="lrelu", alpha=0.1, flavour=3),
    ]
    m = _model(nodes, [_vi("x", [4])], [_vi("b", [4]), _vi("d", [4]), _vi("e", [4])])
    with pytest.raises(UnsupportedOpError) as info:
        from_onnx(m)
    msg = str(info.value)
    assert "3 unsupported node(s)" in msg
    assert "NonMaxSuppression node 'nms' (opset 13): op type 'NonMaxSuppression'" in msg
    assert "Acosh node 'acosh' (opset 13)" in msg
    assert "LeakyRelu node 'lrelu' (opset 13): attribute 'flavour' is not supported" in msg
    assert "after_bad" not in msg
    assert [e["op_type"] for e in info.value.entries] == ["NonMaxSuppression", "Acosh",
                                                          "LeakyRelu"]


def test_unsupported_attribute_value_is_reported_with_the_others():
    nodes = [helper.make_node("Pad", ["x", "p"], ["y"], name="pad", mode="mirror"),
             helper.make_node("Celu", ["x"], ["z"], name="celu")]
    inits = [numpy_helper.from_array(np.array([1, 1], np.int64), "p")]
    m = _model(nodes, [_vi("x", [4])], [_vi("y", [6]), _vi("z", [4])], inits)
    with pytest.raises(UnsupportedOpError, match=r"(?s)Pad node 'pad'.*mode='mirror'.*Celu"):
        from_onnx(m)


def test_opset_out_of_range():
    # Add-6 (legacy broadcast attribute) differs from Add-7: rejected
    m = _model([helper.make_node("Add", ["x", "x"], ["y"])], [_vi("x", [4])],
               [_vi("y", [4])], opset=6)
    with pytest.raises(UnsupportedOpError,
                       match="opset 6 is older than the oldest supported.*Add-6 differs"):
        from_onnx(m)
    # Relu-6 is still in force at opset 7 (and Not-1): an older model using it imports
    for op, opset in (("Relu", 6), ("Sigmoid", 6), ("Not", 1)):
        t = TensorProto.BOOL if op == "Not" else TensorProto.FLOAT
        m = _model([helper.make_node(op, ["x"], ["y"])], [_vi("x", [2, 3], t)],
                   [_vi("y", [2, 3], t)], opset=opset)
        x = RNG.random((2, 3)) > 0.5 if op == "Not" else RNG.standard_normal((2, 3),
                                                                             np.float32)
        (got,) = _compile(m)(x)
        want = {"Relu": np.maximum, "Sigmoid": lambda v, _: 1 / (1 + np.exp(-v)),
                "Not": lambda v, _: ~v}[op](x, 0)
        np.testing.assert_allclose(got, want, rtol=1e-6)


def test_malformed_models():
    with pytest.raises(ONNXImportError, match="not a valid ONNX model"):
        from_onnx(b"\x08\x07garbage\xff\xff")
    with pytest.raises(ONNXImportError, match="does not exist"):
        from_onnx("/nonexistent/model.onnx")
    # a node reads a value nothing produces
    m = _model([helper.make_node("Relu", ["nothing"], ["y"], name="r")], [_vi("x", [4])],
               [_vi("y", [4])])
    with pytest.raises(ONNXImportError, match="input 'nothing' is not produced"):
        from_onnx(m)
    # a graph output nothing produces
    m = _model([helper.make_node("Relu", ["x"], ["y"])], [_vi("x", [4])], [_vi("q", [4])])
    with pytest.raises(ONNXImportError, match="graph output 'q'"):
        from_onnx(m)
    with pytest.raises(TypeError, match="ModelProto"):
        from_onnx(42)


def test_dynamic_dimensions_need_shape_dict():
    m = _model([helper.make_node("Relu", ["x"], ["y"])], [_vi("x", ["batch", 4])],
               [_vi("y", ["batch", 4])])
    with pytest.raises(ONNXImportError, match="dimension 0 is dynamic \\(batch\\)"):
        from_onnx(m)
    main = from_onnx(m, shape_dict={"x": (3, 4)})["main"]
    assert main.params[0].type.shape == (3, 4)
    with pytest.raises(ONNXImportError, match="not model inputs"):
        from_onnx(m, shape_dict={"x": (3, 4), "zz": (1,)})


def test_wrong_input_is_a_value_error():
    m = _model([helper.make_node("Relu", ["x"], ["y"])], [_vi("x", [2, 3])], [_vi("y", [2, 3])])
    ex = _compile(m)
    with pytest.raises(ValueError, match="x"):
        ex(np.zeros((3, 2), "float32"))
    with pytest.raises(ValueError, match="x"):
        ex(np.zeros((2, 3), "float64"))
    with pytest.raises(ValueError):
        ex()


def test_constants_keep_initializer_names():
    w = numpy_helper.from_array(np.ones((4, 4), np.float32), "weight")
    m = _model([helper.make_node("MatMul", ["x", "weight"], ["y"])], [_vi("x", [2, 4])],
               [_vi("y", [2, 4])], [w])
    call = from_onnx(m)["main"].bindings[0].value
    assert isinstance(call, Call) and isinstance(call.args[1], Constant)
    assert call.args[1].name == "weight"


def test_load_from_path(tmp_path):
    m = _model([helper.make_node("Abs", ["x"], ["y"])], [_vi("x", [3])], [_vi("y", [3])])
    p = tmp_path / "m.onnx"
    onnx.save(m, str(p))
    mod = from_onnx(str(p))
    assert mod["main"].attrs["output_names"] == ["y"]


def test_outputs_that_are_inputs_constants_or_repeated():
    nodes = [helper.make_node("Identity", ["x"], ["same"]),
             helper.make_node("Shape", ["x"], ["shape"]),
             helper.make_node("Relu", ["x"], ["r"]),
             helper.make_node("Identity", ["r"], ["r2"])]
    m = _model(nodes, [_vi("x", [2, 3])],
               [_vi("same", [2, 3]), _vi("shape", [2], TensorProto.INT64), _vi("r", [2, 3]),
                _vi("r2", [2, 3])])
    x = RNG.standard_normal((2, 3)).astype("float32")
    ours, ref = _run_both(m, {"x": x})
    for o, r in zip(ours, ref, strict=True):
        np.testing.assert_array_equal(o, r)
    assert ours[2] is not ours[3]
