"""An ``onnx.backend.base.Backend`` that runs models through onnxtune's compiler.

``prepare(model)`` returns a rep whose ``run(inputs)`` imports the model
(``from_onnx``), runs the graph passes, compiles every kernel (untuned) and executes the
graph. ONNX node tests feed shape-like operands (Reshape's shape, Slice's starts, ...) as
graph inputs; onnxtune needs them static, so the rep binds the values of exactly those
inputs as initializers before importing (see :data:`CONST_INPUTS`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper
from onnx.backend.base import Backend, BackendRep

#: op type → indices of the inputs that must be known at compile time
CONST_INPUTS: dict[str, tuple[int, ...]] = {
    "Reshape": (1,), "Expand": (1,), "Tile": (1,), "Slice": (1, 2, 3, 4),
    "Pad": (1, 2, 3), "Resize": (1, 2, 3), "Squeeze": (1,), "Unsqueeze": (1,),
    "ReduceMean": (1,), "ReduceSum": (1,), "ReduceMax": (1,), "ReduceMin": (1,),
    "ReduceProd": (1,), "Split": (1,), "TopK": (1,), "ConstantOfShape": (0,),
    "Dropout": (1, 2), "Clip": (1, 2),
}


#: ops whose output depends only on the input's static shape, not on its values
SHAPE_ONLY = frozenset({"Shape", "Size"})


def bind_shape_inputs(model: onnx.ModelProto, inputs: dict[str, np.ndarray]) -> onnx.ModelProto:
    """A copy of ``model`` where graph inputs used as shape-like operands are initializers:
    the inputs at :data:`CONST_INPUTS` positions and the graph inputs such an operand is
    computed from (CenterCropPad's expanded body computes Pad's pads from its ``shape``
    input with Max / Sub / Div). The walk back stops at Shape / Size, whose outputs are
    static for a static input."""
    names = {i.name for i in model.graph.input}
    producer = {o: n for n in model.graph.node for o in n.output if o}
    needed: list[str] = []
    for node in model.graph.node:
        for k in CONST_INPUTS.get(node.op_type, ()):
            if k < len(node.input) and node.input[k]:
                needed.append(node.input[k])
    seen: set[str] = set()
    bind: set[str] = set()
    while needed:
        t = needed.pop()
        if t in seen:
            continue
        seen.add(t)
        if t in names and t in inputs:
            bind.add(t)
        node = producer.get(t)
        if node is not None and node.op_type not in SHAPE_ONLY:
            needed.extend(i for i in node.input if i)
    if not bind:
        return model
    m = onnx.ModelProto()
    m.CopyFrom(model)
    kept = [i for i in m.graph.input if i.name not in bind]
    del m.graph.input[:]
    m.graph.input.extend(kept)
    for name in sorted(bind):
        m.graph.initializer.append(numpy_helper.from_array(np.asarray(inputs[name]), name))
    return m


def compile_onnx(model: onnx.ModelProto) -> Any:
    """Import, optimize and build a model; a function running it (→ tuple of outputs)."""
    from onnxtune.compile.executable import VirtualMachine
    from onnxtune.compile.graph_build import build_graph
    from onnxtune.frontend.onnx import from_onnx

    vm = VirtualMachine(build_graph(from_onnx(model), "llvm"))

    def run(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
        out = vm["main"](*arrays)
        return out if isinstance(out, tuple) else (out,)

    return run


class OnnxtuneRep(BackendRep):
    def __init__(self, model: onnx.ModelProto):
        self.model = model

    def run(self, inputs: Any, **kwargs: Any) -> tuple[Any, ...]:
        graph_inputs = [i.name for i in self.model.graph.input
                        if i.name not in {t.name for t in self.model.graph.initializer}]
        if isinstance(inputs, dict):
            feed = dict(inputs)
        else:
            if isinstance(inputs, (np.ndarray, onnx.TensorProto)):
                inputs = [inputs]
            feed = dict(zip(graph_inputs, inputs, strict=False))
        feed = {k: numpy_helper.to_array(v) if isinstance(v, onnx.TensorProto) else v
                for k, v in feed.items()}
        model = bind_shape_inputs(self.model, feed)
        ex = compile_onnx(model)
        remaining = [i.name for i in model.graph.input
                     if i.name not in {t.name for t in model.graph.initializer}]
        outs = ex(*[np.asarray(feed[n]) for n in remaining])
        return tuple(outs)


class OnnxtuneBackend(Backend):
    @classmethod
    def prepare(cls, model: onnx.ModelProto, device: str = "CPU", **kwargs: Any) -> OnnxtuneRep:
        super().prepare(model, device, **kwargs)
        return OnnxtuneRep(model)

    @classmethod
    def run_model(cls, model: onnx.ModelProto, inputs: Any, device: str = "CPU",
                  **kwargs: Any) -> tuple[Any, ...]:
        return cls.prepare(model, device, **kwargs).run(inputs)

    @classmethod
    def supports_device(cls, device: str) -> bool:
        return device == "CPU"
