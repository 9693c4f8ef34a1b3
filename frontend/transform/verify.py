"""A well-formedness check of graph modules, run between passes when ONNXTUNE_VERIFY=1."""

from __future__ import annotations

import os

from onnxtune.tir.function import PrimFunc

from ..ir import (
    Call,
    CallFunction,
    CallTIR,
    Constant,
    Function,
    IRModule,
    TensorType,
    Tuple,
    TupleGetItem,
    TupleType,
    Var,
    uses,
)


class GraphVerifyError(ValueError):
    """A graph module breaks an invariant (named, with the binding where it happens)."""


def verify_enabled() -> bool:
    return os.environ.get("ONNXTUNE_VERIFY", "") not in ("", "0")


def verify(mod: IRModule, after: str = "") -> None:
    """Check every graph function: vars defined once and before use, call_tir arguments
    matching the PrimFunc's parameters, callees present. Raises GraphVerifyError."""
    where = f" (after {after})" if after else ""
    for name, f in mod.functions.items():
        if not isinstance(f, Function):
            continue
        defined: set[int] = {id(p) for p in f.params}
        for b in f.bindings:
            here = f"{name}: binding {b.var.name}{where}"
            if id(b.var) in defined:
                raise GraphVerifyError(f"{here}: the variable is bound twice")
            for a in uses(b.value):
                if isinstance(a, Var) and id(a) not in defined:
                    raise GraphVerifyError(f"{here}: uses {a.name} before it is defined")
                if not isinstance(a, (Var, Constant)):
                    raise GraphVerifyError(f"{here}: argument {type(a).__name__} is not a "
                                           f"var or a constant")
            v = b.value
            if isinstance(v, (CallTIR, CallFunction)):
                if v.func not in mod:
                    raise GraphVerifyError(f"{here}: calls {v.func}, not in the module")
            if isinstance(v, CallTIR):
                _check_call_tir(mod[v.func], v, here)
            if isinstance(v, Call | CallTIR | CallFunction) and v.type != b.var.type:
                raise GraphVerifyError(f"{here}: var type {b.var.type} != value type {v.type}")
            if isinstance(v, TupleGetItem) and not isinstance(v.value.type, TupleType):
                raise GraphVerifyError(f"{here}: tuple item of a non-tuple")
            if isinstance(v, Tuple) and not v.fields:
                raise GraphVerifyError(f"{here}: empty tuple")
            defined.add(id(b.var))
        for o in f.outputs:
            for a in uses(o):
                if isinstance(a, Var) and id(a) not in defined:
                    raise GraphVerifyError(f"{name}: output {a.name} is never defined{where}")


def _check_call_tir(pf: object, v: CallTIR, here: str) -> None:
    if not isinstance(pf, PrimFunc):
        raise GraphVerifyError(f"{here}: call_tir of {v.func}, a {type(pf).__name__}")
    outs = v.type.fields if isinstance(v.type, TupleType) else (v.type,)
    types = [a.type for a in v.args] + list(outs)
    if len(types) != len(pf.params):
        raise GraphVerifyError(f"{here}: {v.func} takes {len(pf.params)} buffers, the call "
                               f"passes {len(v.args)} args + {len(outs)} outputs")
    for t, p in zip(types, pf.params, strict=True):
        if not isinstance(t, TensorType):
            raise GraphVerifyError(f"{here}: a {t} is passed to {v.func}")
        if t.shape != p.static_shape() or t.dtype != p.dtype:
            raise GraphVerifyError(f"{here}: {v.func} parameter {p.name} is "
                                   f"{p.dtype}{list(p.static_shape())}, given {t}")
