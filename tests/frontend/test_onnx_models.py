"""The light models shipped in the onnx wheel: import, compile untuned, run, match onnxruntime.

Weights are random (``models.light.load_light``: the files' ConstantOfShape(0.02) weights
would give nearly input-independent outputs) and the logits are compared as well as the
softmax. Tolerance: max|diff| <= 1e-4 * max|ref| + 1e-5 per output.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from onnxtune.compile.executable import VirtualMachine
from onnxtune.compile.graph_build import build_graph
from onnxtune.frontend.onnx import from_onnx
from onnxtune.models.light import load_light

#: the heaviest models (slow untuned): run with ``-m slow``. resnet50 and squeezenet stay in
#: the default run (20 s + 10 s on the shared 2-core machine, mostly LLVM build time).
HEAVY = {"vgg19", "densenet121", "inception_v2", "inception_v1", "alexnet", "zfnet512",
         "shufflenet"}
MODELS = ["resnet50", "squeezenet", "shufflenet", "inception_v1", "inception_v2",
          "densenet121", "alexnet", "zfnet512", "vgg19"]


@pytest.mark.parametrize(
    "name", [pytest.param(m, marks=pytest.mark.slow) if m in HEAVY else m for m in MODELS])
def test_light_model_matches_onnxruntime(name):
    model = load_light(name, seed=0)
    mod = from_onnx(model)
    vm = VirtualMachine(build_graph(mod, "llvm"))
    p = mod["main"].params[0]
    x = np.random.default_rng(1).standard_normal(p.type.shape).astype(np.float32)
    ours = vm["main"](x)
    ours = ours if isinstance(ours, tuple) else (ours,)
    so = ort.SessionOptions()
    so.log_severity_level = 3
    refs = ort.InferenceSession(model.SerializeToString(), so).run(None, {p.name: x})
    # probabilities and logits (densenet121 ends at the logits: no Softmax)
    assert len(ours) == len(refs) == (1 if name == "densenet121" else 2)
    for o, r, n in zip(ours, refs, mod["main"].attrs["output_names"], strict=True):
        assert o.shape == r.shape, n
        err = float(np.abs(o - r).max())
        tol = 1e-4 * float(np.abs(r).max()) + 1e-5
        assert err <= tol, f"{name} output {n}: max|diff| {err:.3g} > {tol:.3g}"


def _zoo(name):
    from onnxtune.models import get_model
    from onnxtune.models.zoo import mobilenet_v2

    if name == "mobilenet_v2_small":
        return mobilenet_v2(image=64, classes=10)
    return get_model(name)


@pytest.mark.parametrize("name", ["bert_tiny", pytest.param("mobilenet_v2_small",
                                                            marks=pytest.mark.slow)])
def test_zoo_model_matches_onnxruntime(name):
    """Models built by ``onnxtune.models``: a transformer encoder (MatMul, LayerNorm, erf
    GELU, Softmax) and MobileNetV2 (depthwise convolutions, Clip)."""
    model = _zoo(name)
    mod = from_onnx(model)
    rng = np.random.default_rng(0)
    feeds = {}
    for p in mod["main"].params:
        t = p.type
        feeds[p.name] = (rng.integers(0, 2, t.shape).astype(t.dtype) if "int" in t.dtype
                         else rng.standard_normal(t.shape).astype(t.dtype))
    ours = VirtualMachine(build_graph(mod, "llvm"))["main"](*feeds.values())
    ours = ours if isinstance(ours, tuple) else (ours,)
    so = ort.SessionOptions()
    so.log_severity_level = 3
    refs = ort.InferenceSession(model.SerializeToString(), so).run(None, feeds)
    for o, r in zip(ours, refs, strict=True):
        err = float(np.abs(o - r).max())
        assert err <= 1e-4 * float(np.abs(r).max()) + 1e-5, f"{name}: max|diff| {err:.3g}"
