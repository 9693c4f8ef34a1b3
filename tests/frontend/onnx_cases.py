"""ONNX's own node test cases (``onnx.backend.test.case.node``) run through single frontend
ops: a small adapter from one ONNX node (attributes, constant inputs) to an op call.

Used by ``test_op_onnx_cases.py`` on a curated subset and as a script over every mapped op
type: ``python tests/frontend/onnx_cases.py [OpType ... | test_case_name ...]``.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

Adapter = Callable[[dict, list, int], tuple[str, list, dict]]
ADAPTERS: dict[str, Adapter] = {}


def adapter(*op_types: str):
    def deco(fn: Adapter) -> Adapter:
        for t in op_types:
            ADAPTERS[t] = fn
        return fn

    return deco


class Skip(Exception):
    """The case uses something the adapter (not the op) does not map."""


def _ints(a: Any) -> list[int]:
    return [int(v) for v in np.asarray(a).reshape(-1)]


@adapter("Conv", "ConvTranspose")
def _conv(at: dict, ins: list, opset: int, op_type: str = "Conv"):
    x, w = ins[0], ins[1]
    nd = x.ndim - 2
    if at.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise Skip("auto_pad")
    if "output_shape" in at:
        raise Skip("output_shape")
    kw = dict(strides=at.get("strides", [1] * nd), padding=at.get("pads", [0] * (2 * nd)),
              dilation=at.get("dilations", [1] * nd), groups=at.get("group", 1))
    if op_type == "ConvTranspose":
        kw["output_padding"] = at.get("output_padding", [0] * nd)
        name = f"nn.conv{nd}d_transpose"
    else:
        name = f"nn.conv{nd}d"
    post = None
    if len(ins) == 3:
        post = ("bias", ins[2])
    return name, [x, w], kw, post


def _pool_kw(at: dict, nd: int) -> dict:
    if at.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise Skip("auto_pad")
    if at.get("storage_order", 0):
        raise Skip("storage_order")
    if len(at.get("_outputs", ())) > 1:
        raise Skip("Indices output")
    return dict(pool_size=at["kernel_shape"], strides=at.get("strides", [1] * nd),
                padding=at.get("pads", [0] * (2 * nd)), dilation=at.get("dilations", [1] * nd),
                ceil_mode=bool(at.get("ceil_mode", 0)))


@adapter("MaxPool")
def _maxpool(at, ins, opset):
    nd = ins[0].ndim - 2
    return f"nn.max_pool{nd}d", ins, _pool_kw(at, nd)


@adapter("AveragePool")
def _avgpool(at, ins, opset):
    nd = ins[0].ndim - 2
    kw = _pool_kw(at, nd)
    kw["count_include_pad"] = bool(at.get("count_include_pad", 0))
    return f"nn.avg_pool{nd}d", ins, kw


@adapter("Resize")
def _resize(at, ins, opset):
    x = ins[0]
    roi = ins[1] if len(ins) > 1 else None
    scales = ins[2] if len(ins) > 2 and ins[2] is not None and ins[2].size else None
    sizes = ins[3] if len(ins) > 3 and ins[3] is not None and ins[3].size else None
    axes = [a % x.ndim for a in at.get("axes", range(x.ndim))]
    if sorted(axes) != axes:
        raise Skip("axes out of order")
    if scales is not None and len(axes) < x.ndim:
        full = [1.0] * x.ndim
        for a, v in zip(axes, scales, strict=True):
            full[a] = float(v)
        scales = np.array(full, np.float32)
    policy = at.get("keep_aspect_ratio_policy", b"stretch").decode()
    if sizes is not None:
        full = list(x.shape)
        for a, v in zip(axes, sizes, strict=True):
            full[a] = int(v)
        if policy != "stretch":
            pick = min if policy == "not_larger" else max
            sc = pick(full[a] / x.shape[a] for a in axes)
            scales = np.array([sc if a in axes else 1.0 for a in range(x.ndim)], np.float32)
            full = [int(round(d * s_)) for d, s_ in zip(x.shape, scales, strict=True)]
            sizes = None
            out = full
        else:
            sizes = np.array(full, np.int64)
    if at.get("antialias", 0):
        raise Skip("antialias")
    mode = at.get("mode", b"nearest").decode()
    ctm = at.get("coordinate_transformation_mode", b"half_pixel").decode()
    if ctm == "tf_crop_and_resize":
        raise Skip("tf_crop_and_resize")
    del roi
    if sizes is not None:
        out = [int(s) for s in sizes]
        sc = None
    else:
        if policy == "stretch":
            out = [int(np.floor(d * s)) for d, s in zip(x.shape, scales, strict=True)]
        sc = tuple(float(s) for s in scales[-2:])
    if out[:-2] != list(x.shape[:-2]):
        raise Skip("resize of leading dims")
    return "image.resize2d", [x], dict(
        size=out[-2:], method=mode, coordinate_transformation_mode=ctm,
        nearest_mode=at.get("nearest_mode", b"round_prefer_floor").decode(),
        cubic_coeff_a=at.get("cubic_coeff_a", -0.75),
        exclude_outside=bool(at.get("exclude_outside", 0)), scales=sc)


@adapter("Slice")
def _slice(at, ins, opset):
    x, starts, ends = ins[0], _ints(ins[1]), _ints(ins[2])
    axes = _ints(ins[3]) if len(ins) > 3 and ins[3] is not None else None
    steps = _ints(ins[4]) if len(ins) > 4 and ins[4] is not None else None
    return "strided_slice", [x], dict(begin=starts, end=ends, axes=axes, strides=steps)


@adapter("Gather")
def _gather(at, ins, opset):
    return "take", ins, dict(axis=at.get("axis", 0))


@adapter("GatherElements")
def _gather_el(at, ins, opset):
    return "gather_elements", ins, dict(axis=at.get("axis", 0))


@adapter("TopK")
def _topk(at, ins, opset):
    return "topk", [ins[0]], dict(k=_ints(ins[1])[0], axis=at.get("axis", -1),
                                  largest=bool(at.get("largest", 1)),
                                  sorted=bool(at.get("sorted", 1)))


@adapter("Einsum")
def _einsum(at, ins, opset):
    return "einsum", ins, dict(subscripts=at["equation"].decode())


@adapter("CumSum")
def _cumsum(at, ins, opset):
    return "cumsum", [ins[0]], dict(axis=_ints(ins[1])[0], exclusive=bool(at.get("exclusive", 0)),
                                    reverse=bool(at.get("reverse", 0)))


@adapter("LRN")
def _lrn(at, ins, opset):
    return "nn.lrn", ins, dict(size=at["size"], alpha=at.get("alpha", 1e-4),
                               beta=at.get("beta", 0.75), bias=at.get("bias", 1.0))


@adapter("ArgMax", "ArgMin")
def _arg(at, ins, opset, op_type="ArgMax"):
    return op_type.lower(), ins, dict(axis=at.get("axis", 0), keepdims=bool(at.get("keepdims", 1)),
                                      select_last_index=bool(at.get("select_last_index", 0)))


@adapter("Pad")
def _pad(at, ins, opset):
    x = ins[0]
    mode = at.get("mode", b"constant").decode()
    if mode == "wrap":
        raise Skip("wrap")
    pads = _ints(ins[1]) if opset >= 11 else list(at["pads"])
    value = ins[2] if len(ins) > 2 and ins[2] is not None else at.get("value", 0.0)
    value = float(np.asarray(value).reshape(-1)[0]) if np.size(value) else 0.0
    axes = _ints(ins[3]) if len(ins) > 3 and ins[3] is not None else list(range(x.ndim))
    axes = [a % x.ndim for a in axes]
    pw = [[0, 0] for _ in range(x.ndim)]
    for k, a in enumerate(axes):
        pw[a] = [pads[k], pads[k + len(axes)]]
    return "nn.pad", [x], dict(pad_width=pw, pad_value=value, mode=mode)


@adapter("Mod")
def _mod(at, ins, opset):
    return ("fmod" if at.get("fmod", 0) else "floor_mod"), ins, {}


@adapter("Pow")
def _pow(at, ins, opset):
    return "power", ins, {}


@adapter("Clip")
def _clip(at, ins, opset):
    lo = ins[1] if len(ins) > 1 and ins[1] is not None and ins[1].size else None
    hi = ins[2] if len(ins) > 2 and ins[2] is not None and ins[2].size else None
    return "clip", [ins[0]], dict(a_min=None if lo is None else lo.item(),
                                  a_max=None if hi is None else hi.item())


@adapter("InstanceNormalization")
def _inorm(at, ins, opset):
    return "nn.instance_norm", ins, dict(epsilon=at.get("epsilon", 1e-5))


@adapter("LayerNormalization")
def _lnorm(at, ins, opset):
    x = ins[0]
    ax = at.get("axis", -1) % x.ndim
    if at.get("stash_type", 1) != 1:
        raise Skip("stash_type")
    return "nn.layer_norm", [x, ins[1], ins[2] if len(ins) > 2 else None], dict(
        axes=tuple(range(ax, x.ndim)), epsilon=at.get("epsilon", 1e-5),
        return_stats=len(at["_outputs"]) > 1)


@adapter("Gelu")
def _gelu(at, ins, opset):
    return "gelu", ins, dict(approximate=at.get("approximate", b"none").decode())


@adapter("Softmax", "LogSoftmax")
def _softmax(at, ins, opset, op_type="Softmax"):
    if opset < 13:
        raise Skip("softmax before opset 13 (coerced 2-D)")
    name = "nn.softmax" if op_type == "Softmax" else "nn.log_softmax"
    return name, ins, dict(axis=at.get("axis", -1))


_REDUCE = {"ReduceSum": "sum", "ReduceMean": "mean", "ReduceMax": "max", "ReduceMin": "min",
           "ReduceProd": "prod"}


@adapter(*_REDUCE)
def _reduce(at, ins, opset, op_type="ReduceSum"):
    x = ins[0]
    if len(ins) > 1 and ins[1] is not None:
        axes = _ints(ins[1])
    else:
        axes = at.get("axes")
    if not axes:
        if at.get("noop_with_empty_axes", 0):
            raise Skip("noop_with_empty_axes")
        axes = None
    return _REDUCE[op_type], [x], dict(axis=axes, keepdims=bool(at.get("keepdims", 1)))


@adapter("MatMul")
def _matmul(at, ins, opset):
    return "matmul", ins, {}


@adapter("Tile")
def _tile(at, ins, opset):
    return "tile", [ins[0]], dict(reps=_ints(ins[1]))


@adapter("Split")
def _split(at, ins, opset):
    x = ins[0]
    axis = at.get("axis", 0)
    split = _ints(ins[1]) if len(ins) > 1 and ins[1] is not None else at.get("split")
    if split is None:
        if "num_outputs" in at or len(at["_outputs"]) > 1:
            n = at.get("num_outputs", len(at["_outputs"]))
            d = x.shape[axis]
            size = -(-d // n)
            split = [size] * (n - 1) + [d - size * (n - 1)]
        else:
            raise Skip("equal split by output count")
    points = list(np.cumsum(split)[:-1])
    return "split", [x], dict(indices_or_sections=[int(p) for p in points], axis=axis)


@adapter("Where")
def _where(at, ins, opset):
    return "where", ins, {}


_UNARY = {"Abs": "abs", "Ceil": "ceil", "Floor": "floor", "Exp": "exp", "Log": "log",
          "Sqrt": "sqrt", "Tanh": "tanh", "Sigmoid": "sigmoid", "Erf": "erf", "Relu": "relu",
          "Neg": "negative", "Reciprocal": "reciprocal", "Sign": "sign", "Round": "round",
          "Not": "logical_not", "HardSwish": "hard_swish", "Softplus": "softplus",
          "Identity": "identity"}


@adapter(*_UNARY)
def _unary(at, ins, opset, op_type="Abs"):
    return _UNARY[op_type], ins, {}


@adapter("LeakyRelu", "Elu", "Selu", "HardSigmoid")
def _act(at, ins, opset, op_type="Elu"):
    name = {"LeakyRelu": "leaky_relu", "Elu": "elu", "Selu": "selu",
            "HardSigmoid": "hard_sigmoid"}[op_type]
    return name, ins, {k: v for k, v in at.items() if not k.startswith("_")}


_BINARY = {"Add": "add", "Sub": "subtract", "Mul": "multiply", "Div": "divide",
           "Equal": "equal", "Less": "less", "Greater": "greater", "LessOrEqual": "less_equal",
           "GreaterOrEqual": "greater_equal", "And": "logical_and", "Or": "logical_or"}


@adapter(*_BINARY)
def _binary(at, ins, opset, op_type="Add"):
    return _BINARY[op_type], ins, {}


# -----------------------------------------------------------------------------------------


def cases(op_types: list[str] | None = None):
    """(name, op_type, attrs, inputs, outputs, opset) of single-node cases we map."""
    from onnx import helper
    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        all_cases = collect_testcases(None)
    for c in all_cases:
        g = c.model.graph
        if len(g.node) != 1 or not c.data_sets:
            continue
        node = g.node[0]
        if node.op_type not in ADAPTERS or (op_types and node.op_type not in op_types):
            continue
        if node.domain not in ("", "ai.onnx"):
            continue
        opset = max(o.version for o in c.model.opset_import if o.domain in ("", "ai.onnx"))
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        attrs["_outputs"] = [o for o in node.output if o]
        ins, outs = c.data_sets[0]
        # align inputs with the node's input names (empty name = omitted)
        it = iter(ins)
        full = [None if not n else next(it) for n in node.input]
        yield c.name, node.op_type, attrs, full, list(outs), opset


def run_case(op_type: str, attrs: dict, ins: list, opset: int) -> list[np.ndarray]:
    """Our result for one node (raises Skip when the adapter does not map it)."""
    from op_helpers import run_op

    fn = ADAPTERS[op_type]
    import inspect

    if "op_type" in inspect.signature(fn).parameters:
        res = fn(attrs, ins, opset, op_type=op_type)
    else:
        res = fn(attrs, ins, opset)
    name, arrays, kw = res[:3]
    post = res[3] if len(res) > 3 else None
    for a in arrays:
        if a is not None and not isinstance(a, np.ndarray):
            raise Skip(f"input of type {type(a).__name__}")
        if a is not None and a.dtype.kind not in "fiub":
            raise Skip(f"dtype {a.dtype}")
    arrays = [None if a is None else np.array(a, order="C") for a in arrays]
    out = run_op(name, *arrays, **kw)
    outs = list(out) if isinstance(out, tuple) else [out]
    if post is not None:
        b = post[1]
        outs[0] = outs[0] + b.reshape((1, -1) + (1,) * (outs[0].ndim - 2))
    return outs


def compare(got: list[np.ndarray], want: list[np.ndarray]) -> str | None:
    """None when equal within tolerance, else a message."""
    if len(got) < len(want):
        return f"{len(got)} outputs, expected {len(want)}"
    for k, (g, w) in enumerate(zip(got, want, strict=False)):
        w = np.asarray(w)
        if g.shape != w.shape:
            return f"output {k}: shape {g.shape} != {w.shape}"
        if g.dtype != w.dtype:
            return f"output {k}: dtype {g.dtype} != {w.dtype}"
        if w.dtype.kind == "f":
            tol = 1e-2 if w.dtype == np.float16 else 1e-4
            if not np.allclose(g, w, rtol=tol, atol=tol, equal_nan=True):
                return f"output {k}: max |diff| {np.nanmax(np.abs(g - w.astype(g.dtype)))}"
        elif not np.array_equal(g, w):
            return f"output {k}: values differ"
    return None


def main(argv: list[str]) -> int:
    ok = skip = bad = 0
    names = {a for a in argv if a.startswith("test_")}
    op_types = [a for a in argv if not a.startswith("test_")]
    for name, op_type, attrs, ins, outs, opset in cases(op_types or None):
        if names and name not in names:
            continue
        try:
            got = run_case(op_type, attrs, ins, opset)
        except Skip as e:
            skip += 1
            print(f"SKIP {name}: {e}")
            continue
        except Exception as e:  # noqa: BLE001 - a report of every failure
            bad += 1
            print(f"FAIL {name}: {type(e).__name__}: {str(e)[:200]}")
            continue
        msg = compare(got, outs)
        if msg:
            bad += 1
            print(f"FAIL {name}: {msg}")
        else:
            ok += 1
    print(f"{ok} passed, {bad} failed, {skip} skipped")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
