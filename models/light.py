"""The model graphs the onnx wheel ships (``onnx/backend/test/data/light/``), with real weights.

Every weight in those files is ``ConstantOfShape(0.02)``: a network whose weights are all
equal computes nearly the same logits for every input and a uniform softmax, so comparing
its output proves nothing. :func:`load_light` replaces each such weight with random values
(signed and He-scaled for rank >= 2; positive for rank 1, which also covers BatchNorm
variances) and exposes the logits (the Softmax input) as an extra graph output.
"""

from __future__ import annotations

import os

import numpy as np
import onnx
from onnx import helper, numpy_helper

LIGHT_MODELS = (
    "alexnet", "densenet121", "inception_v1", "inception_v2", "resnet50", "shufflenet",
    "squeezenet", "vgg19", "zfnet512",
)
_FILES = {"alexnet": "light_bvlc_alexnet.onnx"}


def light_dir() -> str:
    """The folder of the light models inside the installed onnx package."""
    return os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light")


def light_path(name: str) -> str:
    """The path of a light model file (``name`` as in :data:`LIGHT_MODELS`)."""
    name = name.removeprefix("light_")
    if name not in LIGHT_MODELS:
        raise ValueError(f"unknown light model {name!r}; the onnx wheel ships {LIGHT_MODELS}")
    return os.path.join(light_dir(), _FILES.get(name, f"light_{name}.onnx"))


def _random_weight(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    if len(shape) >= 2:
        fan_in = int(np.prod(shape[1:])) or 1
        return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)
    return rng.uniform(0.5, 1.5, size=shape).astype(np.float32)


def randomize_constant_weights(model: onnx.ModelProto, seed: int = 0) -> onnx.ModelProto:
    """Replace every ``ConstantOfShape`` whose shape is an initializer by a random initializer
    of that shape (see the module docstring). Returns a new model."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    g = model.graph
    rng = np.random.default_rng(seed)
    inits = {t.name: t for t in g.initializer}
    keep, new_inits, used_shapes = [], [], set()
    for node in g.node:
        if node.op_type == "ConstantOfShape" and node.input and node.input[0] in inits:
            shape = tuple(int(d) for d in numpy_helper.to_array(inits[node.input[0]]))
            arr = _random_weight(shape, rng)
            new_inits.append(numpy_helper.from_array(arr, node.output[0]))
            used_shapes.add(node.input[0])
        else:
            keep.append(node)
    still_used = {i for n in keep for i in n.input}
    kept_inits = [t for t in g.initializer if t.name not in used_shapes or t.name in still_used]
    del g.node[:]
    g.node.extend(keep)
    del g.initializer[:]
    g.initializer.extend(kept_inits + new_inits)
    # old files declare initializers as graph inputs too: drop the declarations of the
    # shape tensors that went away
    gone = used_shapes - still_used
    inputs = [i for i in g.input if i.name not in gone]
    del g.input[:]
    g.input.extend(inputs)
    return model


def expose_logits(model: onnx.ModelProto) -> onnx.ModelProto:
    """Add the input of the final Softmax (the logits) as a graph output, if there is one."""
    g = model.graph
    outs = {o.name for o in g.output}
    for node in g.node:
        if node.op_type == "Softmax" and node.output[0] in outs and node.input[0] not in outs:
            g.output.append(helper.make_empty_tensor_value_info(node.input[0]))
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # noqa: BLE001 - shape inference is a nicety for the declared types
        return model
    vi = {v.name: v for v in list(inferred.graph.value_info) + list(inferred.graph.output)}
    for i, o in enumerate(g.output):
        if not o.type.HasField("tensor_type") and o.name in vi:
            g.output[i].CopyFrom(vi[o.name])
    return model


def load_light(name: str, seed: int = 0, logits: bool = True) -> onnx.ModelProto:
    """A light model with random weights (and its logits as an extra output)."""
    model = randomize_constant_weights(onnx.load(light_path(name)), seed)
    return expose_logits(model) if logits else model
