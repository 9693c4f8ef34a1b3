"""Text form of graph functions (Relax-script-like), for debugging and golden tests."""

from __future__ import annotations

from typing import Any

import numpy as np

from .ir import Call, CallFunction, CallTIR, Constant, Expr, Function, Tuple, TupleGetItem, Var


def _attr_text(v: Any) -> str:
    if isinstance(v, np.ndarray):
        if v.size <= 8:
            return repr(v.tolist())
        return f"<array {v.shape} {v.dtype}>"
    if isinstance(v, (list, tuple)):
        inner = ", ".join(_attr_text(x) for x in v)
        return f"({inner},)" if isinstance(v, tuple) and len(v) == 1 else (
            f"({inner})" if isinstance(v, tuple) else f"[{inner}]"
        )
    if isinstance(v, float):
        return repr(v)
    return repr(v)


class _Names:
    def __init__(self) -> None:
        self.names: dict[int, str] = {}
        self.used: set[str] = set()
        self.consts: dict[int, int] = {}

    def var(self, v: Var) -> str:
        n = self.names.get(id(v))
        if n is None:
            base = "".join(c if c.isalnum() or c == "_" else "_" for c in v.name) or "v"
            if base[0].isdigit():
                base = "v" + base
            n, k = base, 0
            while n in self.used:
                k += 1
                n = f"{base}_{k}"
            self.used.add(n)
            self.names[id(v)] = n
        return n

    def atom(self, e: Expr) -> str:
        if isinstance(e, Var):
            return self.var(e)
        if isinstance(e, Constant):
            if e.data.size == 1 and e.data.ndim == 0:
                return f"R.const({e.data.item()!r}, {str(e.data.dtype)!r})"
            k = self.consts.setdefault(id(e), len(self.consts))
            return f"metadata[{k}]"
        return self.expr(e)

    def expr(self, e: Expr) -> str:
        if isinstance(e, Call):
            parts = [self.atom(a) for a in e.args]
            parts += [f"{k}={_attr_text(v)}" for k, v in e.attrs.items()]
            return f"R.{e.op}(" + ", ".join(parts) + ")"
        if isinstance(e, CallTIR):
            args = ", ".join(self.atom(a) for a in e.args)
            return f"R.call_tir({e.func}, ({args}), out={e.type})"
        if isinstance(e, CallFunction):
            args = ", ".join(self.atom(a) for a in e.args)
            return f"{e.func}({args})"
        if isinstance(e, Tuple):
            inner = ", ".join(self.atom(f) for f in e.fields)
            return f"({inner},)" if len(e.fields) == 1 else f"({inner})"
        if isinstance(e, TupleGetItem):
            return f"{self.atom(e.value)}[{e.index}]"
        return self.atom(e)


def function_text(func: Function, name: str = "main") -> str:
    """The function as text: one line per binding, constants listed as metadata."""
    nm = _Names()
    params = ", ".join(f"{nm.var(p)}: {p.type}" for p in func.params)
    lines = [f"def {name}({params}):"]
    for b in func.bindings:
        lines.append(f"    {nm.var(b.var)}: {b.var.type} = {nm.expr(b.value)}")
    outs = ", ".join(nm.atom(o) for o in func.outputs)
    lines.append(f"    return ({outs},)" if len(func.outputs) == 1 else f"    return ({outs})")
    if nm.consts:
        consts = {k: c for c in func.constants() if (k := nm.consts.get(id(c))) is not None}
        for k in sorted(consts):
            c = consts[k]
            lines.append(f"# metadata[{k}]: {c.name or '_'} {c.type}")
    return "\n".join(lines)
