"""Dead code elimination: drop bindings whose values no output depends on."""

from __future__ import annotations

from ..ir import CallFunction, CallTIR, Function, IRModule, PrimFunc, Var, uses


def dead_code_elimination(mod: IRModule) -> IRModule:
    """Drop unused bindings in every graph function, then functions nothing calls.

    ``main`` (and any function not called by another) is kept; PrimFuncs and graph
    functions that no kept function calls are removed.
    """
    funcs = {n: (_dce(f) if isinstance(f, Function) else f) for n, f in mod.functions.items()}
    called: set[str] = set()
    for f in funcs.values():
        if isinstance(f, Function):
            for b in f.bindings:
                if isinstance(b.value, (CallTIR, CallFunction)):
                    called.add(b.value.func)
    roots = [n for n, f in funcs.items() if isinstance(f, Function) and n not in called]
    keep: set[str] = set()
    stack = list(roots)
    while stack:
        n = stack.pop()
        if n in keep or n not in funcs:
            continue
        keep.add(n)
        f = funcs[n]
        if isinstance(f, Function):
            for b in f.bindings:
                if isinstance(b.value, (CallTIR, CallFunction)):
                    stack.append(b.value.func)
    return IRModule({n: f for n, f in funcs.items()
                     if n in keep or not isinstance(f, (Function, PrimFunc))})


def _dce(func: Function) -> Function:
    live: set[int] = set()
    for o in func.outputs:
        for a in uses(o):
            if isinstance(a, Var):
                live.add(id(a))
    kept = []
    for b in reversed(func.bindings):
        if id(b.var) not in live:
            continue
        kept.append(b)
        for a in uses(b.value):
            if isinstance(a, Var):
                live.add(id(a))
    kept.reverse()
    if len(kept) == len(func.bindings):
        return func
    return func.with_bindings(kept, func.outputs)
