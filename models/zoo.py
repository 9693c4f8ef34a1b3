"""ONNX model builders with random weights: ResNet-18/50, MobileNetV2, a BERT-like encoder.

Each builder writes the graph with ``onnx.helper`` (opset 17), seeded random weights
(He-scaled convolutions, positive BatchNorm variances), a static batch size, and returns an
``onnx.ModelProto`` that ``onnx.checker`` accepts and onnxruntime runs.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


class GraphBuilder:
    """A small helper that names values, holds initializers and emits nodes."""

    def __init__(self, name: str, seed: int = 0):
        self.name = name
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self._count: dict[str, int] = {}

    def fresh(self, base: str) -> str:
        n = self._count.get(base, 0)
        self._count[base] = n + 1
        return f"{base}_{n}" if n else base

    def input(self, name: str, shape: tuple[int, ...], dtype: int = TensorProto.FLOAT) -> str:
        self.inputs.append(helper.make_tensor_value_info(name, dtype, list(shape)))
        return name

    def const(self, base: str, arr: np.ndarray) -> str:
        name = self.fresh(base)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def weight(self, base: str, shape: tuple[int, ...], fan_in: int | None = None) -> str:
        fan = fan_in if fan_in is not None else int(np.prod(shape[1:]))
        w = self.rng.standard_normal(shape) * np.sqrt(2.0 / max(fan, 1))
        return self.const(base, w.astype(np.float32))

    def op(self, op_type: str, inputs: list[str], base: str | None = None,
           n_out: int = 1, **attrs) -> str | list[str]:
        base = self.fresh(base or op_type.lower())
        outs = [base] if n_out == 1 else [f"{base}:{i}" for i in range(n_out)]
        self.nodes.append(helper.make_node(op_type, inputs, outs, name=base, **attrs))
        return outs[0] if n_out == 1 else outs

    # -- common layers -------------------------------------------------------------------
    def conv_bn(self, x: str, cin: int, cout: int, k: int, stride: int = 1,
                groups: int = 1, relu: str | None = "Relu", name: str = "conv",
                gain: float = 1.0) -> str:
        """Conv (same padding) + BatchNorm + activation; ``gain`` scales the BN scale (a
        residual branch's last BN uses a small one, so activations stay O(1) with depth)."""
        w = self.weight(f"{name}.w", (cout, cin // groups, k, k))
        pad = k // 2
        y = self.op("Conv", [x, w], name, kernel_shape=[k, k], strides=[stride, stride],
                    pads=[pad] * 4, group=groups)
        bn = [self.const(f"{name}.bn.{p}", v.astype(np.float32)) for p, v in (
            ("scale", self.rng.uniform(0.5, 1.5, cout) * gain),
            ("bias", self.rng.standard_normal(cout) * 0.1),
            ("mean", self.rng.standard_normal(cout) * 0.1),
            ("var", self.rng.uniform(0.5, 1.5, cout)),
        )]
        y = self.op("BatchNormalization", [y] + bn, f"{name}.bn", epsilon=1e-5)
        if relu == "Relu":
            y = self.op("Relu", [y], f"{name}.relu")
        elif relu == "Relu6":
            lo, hi = self.const("relu6.min", np.float32(0)), self.const("relu6.max", np.float32(6))
            y = self.op("Clip", [y, lo, hi], f"{name}.relu6")
        return y

    def linear(self, x: str, cin: int, cout: int, name: str) -> str:
        w = self.weight(f"{name}.w", (cin, cout), fan_in=cin)
        b = self.const(f"{name}.b", (self.rng.standard_normal(cout) * 0.02).astype(np.float32))
        return self.op("Add", [self.op("MatMul", [x, w], f"{name}.matmul"), b], f"{name}.add")

    def finish(self, outputs: list[tuple[str, int, tuple[int, ...]]]) -> onnx.ModelProto:
        outs = [helper.make_tensor_value_info(n, t, list(s)) for n, t, s in outputs]
        graph = helper.make_graph(self.nodes, self.name, self.inputs, outs, self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="onnxtune.models")
        model.ir_version = 8
        onnx.checker.check_model(model)
        return model


def _classifier(b: GraphBuilder, x: str, channels: int, batch: int, classes: int) -> str:
    x = b.op("GlobalAveragePool", [x], "gap")
    x = b.op("Flatten", [x], "flatten", axis=1)
    w = b.weight("fc.w", (classes, channels), fan_in=channels)
    bias = b.const("fc.b", (b.rng.standard_normal(classes) * 0.02).astype(np.float32))
    return b.op("Gemm", [x, w, bias], "fc", transB=1)


def resnet(depth: int = 50, batch: int = 1, image: int = 224, classes: int = 1000,
           seed: int = 0) -> onnx.ModelProto:
    """ResNet-18/34 (basic blocks) or ResNet-50/101 (bottlenecks), NCHW, logits output."""
    layers = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}
    if depth not in layers:
        raise ValueError(f"resnet depth must be one of {sorted(layers)}, got {depth}")
    bottleneck = depth >= 50
    b = GraphBuilder(f"resnet{depth}", seed)
    x = b.input("input", (batch, 3, image, image))
    x = b.conv_bn(x, 3, 64, 7, 2, name="stem")
    x = b.op("MaxPool", [x], "stem.pool", kernel_shape=[3, 3], strides=[2, 2], pads=[1] * 4)
    cin = 64
    for stage, blocks in enumerate(layers[depth]):
        width = 64 * 2 ** stage
        cout = width * 4 if bottleneck else width
        for i in range(blocks):
            stride = 2 if (i == 0 and stage > 0) else 1
            name = f"layer{stage + 1}.{i}"
            if bottleneck:
                y = b.conv_bn(x, cin, width, 1, 1, name=f"{name}.conv1")
                y = b.conv_bn(y, width, width, 3, stride, name=f"{name}.conv2")
                y = b.conv_bn(y, width, cout, 1, 1, relu=None, name=f"{name}.conv3",
                              gain=0.3)
            else:
                y = b.conv_bn(x, cin, width, 3, stride, name=f"{name}.conv1")
                y = b.conv_bn(y, width, cout, 3, 1, relu=None, name=f"{name}.conv2",
                              gain=0.3)
            if stride != 1 or cin != cout:
                x = b.conv_bn(x, cin, cout, 1, stride, relu=None, name=f"{name}.down")
            x = b.op("Relu", [b.op("Add", [x, y], f"{name}.add")], f"{name}.relu")
            cin = cout
    logits = _classifier(b, x, cin, batch, classes)
    return b.finish([(logits, TensorProto.FLOAT, (batch, classes))])


def mobilenet_v2(batch: int = 1, image: int = 224, classes: int = 1000,
                 seed: int = 0) -> onnx.ModelProto:
    """MobileNetV2 (width 1.0): inverted residuals with depthwise 3x3 convs and ReLU6."""
    b = GraphBuilder("mobilenet_v2", seed)
    x = b.input("input", (batch, 3, image, image))
    x = b.conv_bn(x, 3, 32, 3, 2, relu="Relu6", name="stem")
    cin = 32
    # (expansion t, channels c, repeats n, stride s)
    for stage, (t, c, n, s) in enumerate(((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2),
                                          (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                                          (6, 320, 1, 1))):
        for i in range(n):
            stride = s if i == 0 else 1
            name = f"block{stage}.{i}"
            hidden = cin * t
            y = x
            if t != 1:
                y = b.conv_bn(y, cin, hidden, 1, relu="Relu6", name=f"{name}.expand")
            y = b.conv_bn(y, hidden, hidden, 3, stride, groups=hidden, relu="Relu6",
                          name=f"{name}.dw")
            y = b.conv_bn(y, hidden, c, 1, relu=None, name=f"{name}.project", gain=0.5)
            x = b.op("Add", [x, y], f"{name}.add") if stride == 1 and cin == c else y
            cin = c
    x = b.conv_bn(x, cin, 1280, 1, relu="Relu6", name="head")
    logits = _classifier(b, x, 1280, batch, classes)
    return b.finish([(logits, TensorProto.FLOAT, (batch, classes))])


def bert_encoder(layers: int = 4, hidden: int = 768, heads: int = 12, seq: int = 128,
                 batch: int = 1, intermediate: int | None = None,
                 seed: int = 0) -> onnx.ModelProto:
    """A BERT-base-like encoder stack over embeddings (input: (batch, seq, hidden) floats):
    per layer multi-head self-attention, residual + LayerNorm, GELU feed-forward, residual +
    LayerNorm."""
    if hidden % heads:
        raise ValueError(f"hidden ({hidden}) must be divisible by heads ({heads})")
    inter = intermediate or 4 * hidden
    dh = hidden // heads
    b = GraphBuilder("bert_encoder", seed)
    x = b.input("hidden_states", (batch, seq, hidden))
    split_shape = b.const("shape.heads", np.array([batch, seq, heads, dh], np.int64))
    merge_shape = b.const("shape.merge", np.array([batch, seq, hidden], np.int64))
    scale = b.const("attn.scale", np.float32(1.0 / np.sqrt(dh)))

    def layer_norm(v: str, name: str) -> str:
        g = b.const(f"{name}.gamma", b.rng.uniform(0.8, 1.2, hidden).astype(np.float32))
        beta = b.const(f"{name}.beta", (b.rng.standard_normal(hidden) * 0.02).astype(np.float32))
        return b.op("LayerNormalization", [v, g, beta], name, axis=-1, epsilon=1e-12)

    for i in range(layers):
        name = f"layer{i}"

        def heads_of(v: str, perm: list[int], what: str, name: str = name) -> str:
            r = b.op("Reshape", [v, split_shape], f"{name}.{what}.split")
            return b.op("Transpose", [r], f"{name}.{what}.t", perm=perm)

        q = heads_of(b.linear(x, hidden, hidden, f"{name}.q"), [0, 2, 1, 3], "q")
        k = heads_of(b.linear(x, hidden, hidden, f"{name}.k"), [0, 2, 3, 1], "k")
        v = heads_of(b.linear(x, hidden, hidden, f"{name}.v"), [0, 2, 1, 3], "v")
        s = b.op("Mul", [b.op("MatMul", [q, k], f"{name}.qk"), scale], f"{name}.scale")
        p = b.op("Softmax", [s], f"{name}.softmax", axis=-1)
        ctx = b.op("Transpose", [b.op("MatMul", [p, v], f"{name}.pv")], f"{name}.ctx.t",
                   perm=[0, 2, 1, 3])
        ctx = b.op("Reshape", [ctx, merge_shape], f"{name}.ctx.merge")
        attn = b.linear(ctx, hidden, hidden, f"{name}.o")
        x = layer_norm(b.op("Add", [x, attn], f"{name}.res1"), f"{name}.ln1")
        h = b.linear(x, hidden, inter, f"{name}.ff1")
        h = b.op("Gelu", [h], f"{name}.gelu")  # expanded into Erf form by the finisher
        h = b.linear(h, inter, hidden, f"{name}.ff2")
        x = layer_norm(b.op("Add", [x, h], f"{name}.res2"), f"{name}.ln2")
    out = b.op("Identity", [x], "output")
    return _finish_with_erf_gelu(b, [(out, TensorProto.FLOAT, (batch, seq, hidden))])


def _finish_with_erf_gelu(b: GraphBuilder, outputs) -> onnx.ModelProto:
    """Opset 17 has no Gelu op: expand each Gelu node into 0.5·x·(1 + erf(x/√2)), the form
    exporters emit."""
    nodes = []
    half = b.const("gelu.half", np.float32(0.5))
    one = b.const("gelu.one", np.float32(1.0))
    rsqrt2 = b.const("gelu.rsqrt2", np.float32(1.0 / np.sqrt(2.0)))
    for n in b.nodes:
        if n.op_type != "Gelu":
            nodes.append(n)
            continue
        x, y, p = n.input[0], n.output[0], n.name
        nodes += [
            helper.make_node("Mul", [x, rsqrt2], [f"{p}.div"], name=f"{p}.div"),
            helper.make_node("Erf", [f"{p}.div"], [f"{p}.erf"], name=f"{p}.erf"),
            helper.make_node("Add", [f"{p}.erf", one], [f"{p}.add1"], name=f"{p}.add1"),
            helper.make_node("Mul", [x, f"{p}.add1"], [f"{p}.mul"], name=f"{p}.mul"),
            helper.make_node("Mul", [f"{p}.mul", half], [y], name=f"{p}.half"),
        ]
    b.nodes = nodes
    return b.finish(outputs)
