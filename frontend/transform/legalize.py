"""Legalize: every op call → its TE compute → a PrimFunc (``te.create_prim_func``) → call_tir.

Each PrimFunc records the op's fusion pattern (``attrs["op_pattern"]``, an int of
``OpPattern``) and name (``attrs["op_name"]``) for FuseOps. Structurally equal PrimFuncs
are shared (one module function serves every identical call).
"""

from __future__ import annotations

from typing import Any

from onnxtune.tir import te
from onnxtune.tir.function import PrimFunc

from ..ir import Binding, Call, CallTIR, Function, IRModule, TensorType
from ..op import get_op
from .util import FuncTable, attrs_key


def legalize(mod: IRModule) -> IRModule:
    """Replace every op :class:`Call` in the module's graph functions by a :class:`CallTIR`."""
    table = FuncTable(mod)
    out: dict[str, Any] = {}
    for name, f in mod.functions.items():
        if isinstance(f, Function):
            out[name] = _legalize(f, table)
    funcs = dict(mod.functions)
    funcs.update(out)
    funcs.update(table.new)
    return IRModule(funcs)


def op_prim_func(call: Call) -> PrimFunc:
    """The PrimFunc computing ``call`` on fresh placeholders (args first, then outputs)."""
    opdef = get_op(call.op)
    phs = []
    for k, a in enumerate(call.args):
        t = a.type
        assert isinstance(t, TensorType)
        phs.append(te.placeholder(t.shape, t.dtype, f"p{k}"))
    out = opdef.compute(*phs, **call.attrs)
    outs = list(out) if isinstance(out, (list, tuple)) else [out]
    func = te.create_prim_func([*phs, *outs])
    return (func.with_attr("op_pattern", int(opdef.pattern))
            .with_attr("op_name", call.op))


def _legalize(func: Function, table: FuncTable) -> Function:
    bindings = []
    for b in func.bindings:
        v = b.value
        if isinstance(v, Call):
            ak = attrs_key(v.attrs)
            key = None if ak is None else (v.op, tuple(a.type for a in v.args), ak)
            gname = table.lookup(key)
            if gname is None:
                gname = table.add(op_prim_func(v), v.op.replace(".", "_"), key)
            v = CallTIR(gname, v.args, v.type)
        bindings.append(Binding(b.var, v))
    return func.with_bindings(bindings, func.outputs)
