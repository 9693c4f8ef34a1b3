"""Fold inference BatchNormalization: into the preceding conv2d's weights, else a scale-shift.

``bn(conv2d(x, W), g, b, m, v)`` with constant parameters becomes
``conv2d(x, W * s[:, None, None, None]) + (b - m * s)[:, None, None]`` where
``s = g / sqrt(v + eps)``, when the convolution's only consumer is the BatchNorm and its
weight is a constant. Any other BatchNorm with constant parameters becomes
``x * s + t`` (elementwise, so it fuses with its neighbours).
"""

from __future__ import annotations

import numpy as np

from ..ir import Binding, Call, Constant, Function, IRModule, Var, op_call
from .util import use_counts


def fold_batchnorm(mod: IRModule) -> IRModule:
    """Apply the BatchNorm folding to every graph function of ``mod``."""
    out = {}
    for name, f in mod.functions.items():
        out[name] = _fold(f) if isinstance(f, Function) else f
    return IRModule(out)


def _fold(func: Function) -> Function:
    uses = use_counts(func)
    producer: dict[int, int] = {}  # id(var) -> index in new bindings
    bindings: list[Binding] = []
    for b in func.bindings:
        v = b.value
        if not (isinstance(v, Call) and v.op == "nn.batch_norm"
                and all(isinstance(a, Constant) for a in v.args[1:5])):
            producer[id(b.var)] = len(bindings)
            bindings.append(b)
            continue
        x = v.args[0]
        g, beta, mean, var = (a.data.astype(np.float64) for a in v.args[1:5])  # type: ignore
        axis = int(v.attrs.get("axis", 1))
        eps = float(v.attrs.get("epsilon", 1e-5))
        scale = g / np.sqrt(var + eps)
        shift = beta - mean * scale
        dtype = v.type.dtype  # type: ignore[union-attr]
        ndim = len(v.type.shape)  # type: ignore[union-attr]
        axis = axis + ndim if axis < 0 else axis
        bshape = (-1,) + (1,) * (ndim - axis - 1)
        k = producer.get(id(x)) if isinstance(x, Var) else None
        conv = bindings[k].value if k is not None else None
        if (isinstance(conv, Call) and conv.op == "nn.conv2d" and axis == 1
                and isinstance(conv.args[1], Constant) and uses.get(id(x), 0) == 1):
            w = conv.args[1].data
            w2 = (w.astype(np.float64) * scale.reshape((-1,) + (1,) * (w.ndim - 1)))
            new_w = Constant(w2.astype(w.dtype), conv.args[1].name)
            new_conv = Call(conv.op, (conv.args[0], new_w, *conv.args[2:]), conv.attrs,
                            conv.type)
            bindings[k] = Binding(bindings[k].var, new_conv)
            add = op_call("add", [x, Constant(shift.reshape(bshape).astype(dtype))])
            producer[id(b.var)] = len(bindings)
            bindings.append(Binding(b.var, add))
            continue
        mul_var = Var(b.var.name + "_scale", v.type)
        mul = op_call("multiply", [x, Constant(scale.reshape(bshape).astype(dtype))])
        bindings.append(Binding(mul_var, mul))
        add = op_call("add", [mul_var, Constant(shift.reshape(bshape).astype(dtype))])
        producer[id(b.var)] = len(bindings)
        bindings.append(Binding(b.var, add))
    return func.with_bindings(bindings, func.outputs)
