"""ONNX importer: ``from_onnx(model) -> IRModule`` with a graph function ``main``.

This module is the driver: it loads and checks the model, then converts node by node
with the converters of :mod:`.onnx_ops` (one function per ONNX op, named exactly like the
op, tinygrad's style: it receives the import context of :mod:`.onnx_context`, the node's
inputs (graph expressions, ``None`` for an omitted optional input) and the node's
attributes as keyword arguments, and returns the output expression(s); opset differences
are handled inside the function (``ctx.opset``)). Values that are constant at import
(initializers, Constant nodes, shapes of static tensors) are evaluated with numpy as the
graph is built, so shape arithmetic (Shape → Gather → Concat → Reshape chains) folds
away. Every node is checked before conversion; unsupported ops and attributes are
reported together in one :class:`UnsupportedOpError`.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable
from typing import Any

from .ir import BlockBuilder, Constant, Expr, Function, IRModule, TensorType, Var
from .onnx_context import Context, ONNXImportError, UnsupportedOpError, _np_dtype, _Unsupported
from .onnx_ops import _IGNORED_ATTRS, _OPS

__all__ = ["ONNXImportError", "UnsupportedOpError", "from_onnx", "supported_ops"]

#: opsets the importer follows op by op (newer opsets only widen types of the listed ops,
#: so they are accepted too; a model older than MIN_OPSET imports when each of its ops
#: is unchanged between the model's opset and MIN_OPSET, see ``_check_old_opset``)
MIN_OPSET, MAX_OPSET = 7, 21


def supported_ops() -> list[str]:
    """The ONNX op types this importer converts."""
    return sorted(_OPS)


@functools.cache
def _signature(fn: Callable[..., Any]) -> tuple[int | None, frozenset[str], frozenset[str]]:
    """(max inputs or None for variadic, attribute names, private keywords) of an op."""
    sig = inspect.signature(fn)
    n_in: int | None = 0
    attrs = set()
    private = set()
    for name, p in list(sig.parameters.items())[1:]:
        if p.kind == p.VAR_POSITIONAL:
            n_in = None
        elif p.kind == p.KEYWORD_ONLY:
            (private if name.startswith("_") else attrs).add(name)
        elif n_in is not None:
            n_in += 1
    return n_in, frozenset(attrs), frozenset(private)


def _attribute_value(attr: Any) -> Any:
    from onnx import helper, numpy_helper

    v = helper.get_attribute_value(attr)
    if isinstance(v, bytes):
        return v.decode("utf-8")
    if attr.type == attr.TENSOR:
        return numpy_helper.to_array(v).copy()
    if isinstance(v, list) and v and isinstance(v[0], bytes):
        return [x.decode("utf-8") for x in v]
    return v


# ----------------------------------------------------------------------------------------
# the importer


def _load_model(model_or_path: Any) -> Any:
    import onnx

    if isinstance(model_or_path, (str, os.PathLike)):
        path = os.fspath(model_or_path)
        if not os.path.exists(path):
            raise ONNXImportError(f"ONNX model file {path!r} does not exist")
        try:
            return onnx.load(path)
        except Exception as e:  # noqa: BLE001 - any decode failure is a malformed file
            raise ONNXImportError(
                f"{path!r} is not a valid ONNX model (protobuf parse failed: {e})"
            ) from None
    if isinstance(model_or_path, bytes):
        try:
            return onnx.load_from_string(model_or_path)
        except Exception as e:  # noqa: BLE001
            raise ONNXImportError(f"bytes are not a valid ONNX model: {e}") from None
    if isinstance(model_or_path, onnx.ModelProto):
        return model_or_path
    raise TypeError(
        f"from_onnx expects an onnx.ModelProto, a path or bytes, got "
        f"{type(model_or_path).__name__}"
    )


def _opset_of(model: Any) -> int:
    opset = None
    for imp in model.opset_import:
        if imp.domain in ("", "ai.onnx"):
            opset = imp.version
    if opset is None:
        raise ONNXImportError("the model imports no default-domain ('ai.onnx') opset")
    return opset


def _check_old_opset(model: Any, opset: int) -> list[dict[str, Any]]:
    """For a model older than MIN_OPSET: the nodes whose op changed between the model's
    opset and MIN_OPSET (their old semantics are not implemented). An op whose schema
    version at the model's opset is the one still in force at MIN_OPSET (Not-1, Relu-6,
    MaxPool-1, ...) means the same thing, so it imports as at MIN_OPSET."""
    if opset >= MIN_OPSET:
        return []
    from onnx import defs

    bad = []
    for k, node in enumerate(model.graph.node):
        if node.domain not in ("", "ai.onnx") or node.op_type not in _OPS:
            continue  # reported by _check_nodes
        entry = {"op_type": node.op_type, "node": node.name or f"#{k}", "opset": opset,
                 "index": k}
        try:
            old = defs.get_schema(node.op_type, opset, "").since_version
        except defs.SchemaError:
            bad.append({**entry, "reason": f"op {node.op_type} does not exist at opset {opset}"})
            continue
        new = defs.get_schema(node.op_type, MIN_OPSET, "").since_version
        if old != new:
            bad.append({**entry, "reason": (
                f"opset {opset} is older than the oldest supported opset {MIN_OPSET} and "
                f"{node.op_type}-{old} differs from {node.op_type}-{new} (models older than "
                f"opset {MIN_OPSET} import only ops unchanged since; supported: "
                f"{MIN_OPSET}-{MAX_OPSET}, newer accepted)")})
    return bad


def _check_nodes(model: Any, opset: int) -> list[dict[str, Any]]:
    bad = []
    for k, node in enumerate(model.graph.node):
        name = node.name or f"#{k}"
        entry = {"op_type": node.op_type, "node": name, "opset": opset, "index": k}
        if node.domain not in ("", "ai.onnx"):
            bad.append({**entry, "reason": f"op domain {node.domain!r} is not supported"})
            continue
        fn = _OPS.get(node.op_type)
        if fn is None:
            bad.append({**entry, "reason": f"op type {node.op_type!r} is not supported"})
            continue
        accepted = _signature(fn)[1] | _IGNORED_ATTRS.get(node.op_type, set())
        for a in node.attribute:
            if a.name not in accepted:
                bad.append({**entry, "reason": f"attribute {a.name!r} is not supported",
                            "attribute": a.name})
    return bad


def _input_types(model: Any, shape_dict: dict[str, Any] | None,
                 inits: set[str]) -> list[tuple[str, TensorType]]:
    from onnx import TensorProto

    out = []
    problems = []
    shape_dict = dict(shape_dict or {})
    for inp in model.graph.input:
        if inp.name in inits:
            continue
        tt = inp.type.tensor_type
        if not inp.type.HasField("tensor_type"):
            problems.append(f"input {inp.name!r} is not a tensor")
            continue
        if tt.elem_type == TensorProto.UNDEFINED:
            problems.append(f"input {inp.name!r} has no element type")
            continue
        dtype = _np_dtype(tt.elem_type)
        if inp.name in shape_dict:
            shape = tuple(int(s) for s in shape_dict.pop(inp.name))
        else:
            shape = []
            for i, d in enumerate(tt.shape.dim):
                if d.HasField("dim_value"):
                    shape.append(int(d.dim_value))
                else:
                    problems.append(
                        f"input {inp.name!r} dimension {i} is dynamic "
                        f"({d.dim_param or '?'}); give its shape in shape_dict"
                    )
            shape = tuple(shape)
        out.append((inp.name, TensorType(shape, dtype)))
    if shape_dict:
        problems.append(
            f"shape_dict names {sorted(shape_dict)} which are not model inputs; inputs are "
            f"{[n for n, _ in out]}"
        )
    if problems:
        raise ONNXImportError("cannot import the ONNX model:\n  " + "\n  ".join(problems))
    return out


def from_onnx(model_or_path: Any, shape_dict: dict[str, Any] | None = None) -> IRModule:
    """Import an ONNX model (ModelProto, path, or bytes) into an IRModule with ``main``.

    ``shape_dict`` maps input names to static shapes (needed for dynamic dimensions).
    Initializers become named :class:`Constant`s in the graph (``main.attrs["params"]``
    lists their names). Raises :class:`UnsupportedOpError` listing every node whose op
    or attribute is not supported, and :class:`ONNXImportError` for a malformed model.
    """
    from onnx import numpy_helper

    model = _load_model(model_or_path)
    if not model.HasField("graph"):
        raise ONNXImportError("the ONNX model has no graph")
    opset = _opset_of(model)
    graph = model.graph
    bad = _check_old_opset(model, opset) + _check_nodes(model, opset)
    env: dict[str, Expr] = {}
    inits = set()
    for t in graph.initializer:
        try:
            arr = numpy_helper.to_array(t).copy()
        except Exception as e:  # noqa: BLE001 - report the malformed initializer
            raise ONNXImportError(f"initializer {t.name!r} cannot be read: {e}") from None
        env[t.name] = Constant(arr, t.name)
        inits.add(t.name)
    params = []
    for name, ty in _input_types(model, shape_dict, inits):
        v = Var(name, ty)
        env[name] = v
        params.append(v)
    bb = BlockBuilder()
    for p in params:
        bb._names.add(p.name)
    poisoned: set[str] = set()
    bad_nodes = {e["node"] for e in bad}
    for k, node in enumerate(graph.node):
        name = node.name or f"#{k}"
        if name in bad_nodes or any(i in poisoned for i in node.input if i):
            poisoned.update(o for o in node.output if o)
            continue
        fn = _OPS[node.op_type]
        args: list[Expr | None] = []
        for i in node.input:
            if i == "":
                args.append(None)
                continue
            if i not in env:
                raise ONNXImportError(
                    f"{node.op_type} node {name!r}: input {i!r} is not produced by any "
                    f"earlier node, initializer or graph input (the graph is malformed or "
                    f"not topologically sorted)"
                )
            args.append(env[i])
        attrs = {a.name: _attribute_value(a) for a in node.attribute
                 if a.name not in _IGNORED_ATTRS.get(node.op_type, ())}
        if "_num_node_outputs" in _signature(fn)[2]:
            attrs["_num_node_outputs"] = len([o for o in node.output if o])
        # an older model only gets here with ops unchanged up to MIN_OPSET (see above)
        ctx = Context(max(opset, MIN_OPSET), bb, name)
        try:
            out = _call(fn, ctx, args, attrs)
        except _Unsupported as e:
            bad.append({"op_type": node.op_type, "node": name, "opset": opset,
                        "index": k, "reason": e.reason})
            poisoned.update(o for o in node.output if o)
            continue
        except (ValueError, TypeError, KeyError, IndexError) as e:
            raise ONNXImportError(
                f"{node.op_type} node {name!r} (opset {opset}) failed to import: {e}"
            ) from e
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
        for j, oname in enumerate(node.output):
            if oname == "":
                continue
            if j >= len(outs):
                bad.append({"op_type": node.op_type, "node": name, "opset": opset,
                            "index": k, "reason": f"output {j} ({oname!r}) is not supported"})
                poisoned.add(oname)
                continue
            env[oname] = outs[j]
    if bad:
        raise UnsupportedOpError(sorted(bad, key=lambda e: e.get("index", -1)))
    outputs = []
    for o in graph.output:
        if o.name not in env:
            raise ONNXImportError(f"graph output {o.name!r} is not produced by any node")
        outputs.append(env[o.name])
    func = Function(tuple(params), tuple(bb.bindings), tuple(outputs),
                    {"output_names": [o.name for o in graph.output],
                     "input_names": [p.name for p in params], "opset": opset})
    return IRModule({"main": func})


def _call(fn: Callable[..., Any], ctx: Context, args: list[Expr | None],
          attrs: dict[str, Any]) -> Any:
    n_in = _signature(fn)[0]
    if n_in is None:
        return fn(ctx, *[a for a in args if a is not None], **attrs)
    while args and args[-1] is None:
        args = args[:-1]
    if len(args) > n_in:
        raise _Unsupported(f"{len(args)} inputs given, at most {n_in} are supported")
    return fn(ctx, *args, **attrs)
