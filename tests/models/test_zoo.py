"""The model zoo: builders make valid ONNX that onnxruntime runs; light models get weights."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from onnxtune import models


def _run(model: onnx.ModelProto, seed: int = 0) -> list[np.ndarray]:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    inits = {t.name for t in model.graph.initializer}
    rng = np.random.default_rng(seed)
    feeds = {i.name: rng.standard_normal(i.shape).astype(np.float32)
             for i in sess.get_inputs() if i.name not in inits}
    return sess.run(None, feeds)


@pytest.mark.parametrize("name", ["resnet18_small", "bert_tiny"])
def test_builders_make_checked_models_that_depend_on_the_input(name):
    model = models.get_model(name)
    onnx.checker.check_model(model)
    a, b = _run(model, 0)[0], _run(model, 1)[0]
    assert np.isfinite(a).all() and np.std(a) > 1e-3
    assert not np.allclose(a, b)


def test_builder_seed_changes_weights():
    a = models.get_model("bert_tiny", seed=0).graph.initializer
    b = models.get_model("bert_tiny", seed=1).graph.initializer
    wa = next(t for t in a if t.name == "layer0.q.w")
    wb = next(t for t in b if t.name == "layer0.q.w")
    assert not np.array_equal(onnx.numpy_helper.to_array(wa), onnx.numpy_helper.to_array(wb))


def test_resnet_depth_is_checked():
    with pytest.raises(ValueError, match="resnet depth must be one of"):
        models.resnet(19)


def test_unknown_model_lists_the_bundled_ones():
    with pytest.raises(ValueError, match="bundled models: .*resnet50"):
        models.get_model("resnet51")


def test_light_model_gets_random_weights_and_logits():
    model = models.load_light("squeezenet")
    assert not any(n.op_type == "ConstantOfShape" for n in model.graph.node)
    assert len(model.graph.output) == 2  # softmax and its logits
    probs, logits = _run(model, 0)
    probs2, logits2 = _run(model, 1)
    assert np.std(logits) > 1e-2 and not np.allclose(logits, logits2)
    ranks = {len(t.dims) for t in model.graph.initializer}
    assert ranks >= {1, 4}
    original = onnx.load(models.light_path("squeezenet"))
    made = {n.output[0] for n in original.graph.node if n.op_type == "ConstantOfShape"}
    one_d = [onnx.numpy_helper.to_array(t) for t in model.graph.initializer
             if t.name in made and len(t.dims) == 1]
    assert one_d and all((a > 0).all() for a in one_d)
