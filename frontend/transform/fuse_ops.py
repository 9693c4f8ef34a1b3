"""FuseOps: group call_tir bindings by operator pattern (TVM's OpPatternKind rules).

Rules, applied in binding order (each value's only consumer decides):

- an out-elementwise-fusable group (conv2d, matmul, pooling) absorbs a following
  elementwise or broadcast op that is the only consumer of the group's output;
- an injective-or-simpler group (elementwise, broadcast, injective) is absorbed by its only
  consumer when that consumer is injective-or-simpler or a reduction;
- opaque ops and multi-output calls stay alone.

A group keeps exactly one output (every other member's value has its single use inside
the group), so grouping never creates a cycle. A value with several consumers joins
them when they all end in one group (a diamond such as ``y = conv(x); z = y *
sigmoid(y)``), as TVM's post-dominator rule would; otherwise it ends its group.

Each group of two or more calls becomes a graph function ``fused_<op>_<op>...``
(attribute ``Primitive``) called from ``main`` by a :class:`CallFunction`; FuseTIR turns
those into single PrimFuncs.
"""

from __future__ import annotations

from typing import Any

from onnxtune.tir.function import PrimFunc

from ..ir import (
    Binding,
    CallFunction,
    CallTIR,
    Constant,
    Expr,
    Function,
    IRModule,
    TensorType,
    Var,
    uses,
)
from ..op import OpPattern
from .util import use_counts

#: Most calls in one fused group (TVM's max_fuse_depth).
MAX_FUSE_DEPTH = 256


def fuse_ops(mod: IRModule) -> IRModule:
    """Group the call_tir bindings of every graph function (see the module docstring)."""
    funcs: dict[str, Any] = dict(mod.functions)
    for name, f in mod.functions.items():
        if isinstance(f, Function) and not f.attrs.get("Primitive"):
            funcs[name] = _fuse(f, mod, funcs)
    return IRModule(funcs)


def _pattern(mod: IRModule, b: Binding) -> int:
    v = b.value
    if not isinstance(v, CallTIR) or not isinstance(v.type, TensorType):
        return int(OpPattern.OPAQUE)
    pf = mod[v.func]
    if not isinstance(pf, PrimFunc):
        return int(OpPattern.OPAQUE)
    return int(pf.attrs.get("op_pattern", OpPattern.OPAQUE))


def _fuse(func: Function, mod: IRModule, funcs: dict[str, Any]) -> Function:
    bindings = func.bindings
    uses_of = use_counts(func)
    index = {id(b.var): i for i, b in enumerate(bindings)}
    gid: list[int] = []
    members: list[list[int]] = []
    gpat: list[int] = []
    gout: list[int] = []  # binding index of the group's output
    EW, BC, INJ = int(OpPattern.ELEMWISE), int(OpPattern.BROADCAST), int(OpPattern.INJECTIVE)
    RED, OUT = int(OpPattern.COMM_REDUCE), int(OpPattern.OUT_EWISE_FUSABLE)
    del EW

    def producer_group(a: Expr) -> int | None:
        if not isinstance(a, Var) or id(a) not in index:
            return None
        j = index[id(a)]
        g = gid[j]
        if gout[g] != j or uses_of.get(id(a), 0) != 1:
            return None
        return g

    for i, b in enumerate(bindings):
        p = _pattern(mod, b)
        if p > OUT:  # opaque / tuple / not a call_tir
            gid.append(len(members))
            members.append([i])
            gpat.append(p)
            gout.append(i)
            continue
        args = uses(b.value)
        if p <= BC:
            target = None
            for a in args:
                g = producer_group(a)
                if g is not None and gpat[g] == OUT and len(members[g]) < MAX_FUSE_DEPTH:
                    target = g
                    break
            if target is not None:
                gid.append(target)
                members[target].append(i)
                gout[target] = i
                continue
        g_new = len(members)
        gid.append(g_new)
        members.append([i])
        gpat.append(p)
        gout.append(i)
        if p <= INJ or p == RED:
            seen: set[int] = set()
            for a in args:
                g = producer_group(a)
                if g is None or g in seen or gpat[g] > INJ:
                    continue
                if len(members[g]) + len(members[g_new]) > MAX_FUSE_DEPTH:
                    continue
                seen.add(g)
                for m in members[g]:
                    gid[m] = g_new
                members[g_new] = sorted(members[g] + members[g_new])
                members[g] = []
                gpat[g_new] = max(gpat[g_new], gpat[g])
    _merge_diamonds(bindings, func, gid, members, gpat, gout)
    # emit: each group at the position of its output binding
    out_bindings: list[Binding] = []
    names_used = set(funcs)
    for i, b in enumerate(bindings):
        g = gid[i]
        if gout[g] != i:
            continue
        ms = members[g]
        if len(ms) == 1:
            out_bindings.append(b)
            continue
        gname = _group_name([bindings[m] for m in ms], mod, names_used)
        gfunc, args = _group_function([bindings[m] for m in ms])
        funcs[gname] = gfunc
        out_bindings.append(Binding(b.var, CallFunction(gname, tuple(args), b.var.type)))
    return func.with_bindings(out_bindings, func.outputs)


def _merge_diamonds(bindings: tuple[Binding, ...], func: Function, gid: list[int],
                    members: list[list[int]], gpat: list[int], gout: list[int]) -> None:
    """Merge a group whose output has several consumers, all in one later group.

    This is where ``y = conv(x); z = y * sigmoid(y)`` (out-elementwise-fusable into
    elementwise) or ``y = exp(x); z = y * relu(y)`` (injective into injective) become one
    group. Every edge out of the producer group ends in the consumer group, so merging
    cannot create a cycle.
    """
    BC, INJ = int(OpPattern.BROADCAST), int(OpPattern.INJECTIVE)
    RED, OUT = int(OpPattern.COMM_REDUCE), int(OpPattern.OUT_EWISE_FUSABLE)
    consumers: dict[int, list[int]] = {}
    index = {id(b.var): i for i, b in enumerate(bindings)}
    for i, b in enumerate(bindings):
        for a in uses(b.value):
            j = index.get(id(a))
            if j is not None:
                consumers.setdefault(j, []).append(i)
    outputs = {id(a) for o in func.outputs for a in uses(o)}
    for g in sorted(range(len(members)), key=lambda k: gout[k]):
        if not members[g] or gpat[g] > OUT:
            continue
        o = gout[g]
        if id(bindings[o].var) in outputs or o not in consumers:
            continue
        targets = {gid[c] for c in consumers[o]}
        if len(targets) != 1:
            continue
        h = targets.pop()
        if h == g or len(members[g]) + len(members[h]) > MAX_FUSE_DEPTH:
            continue
        if gpat[g] == OUT and gpat[h] <= BC:
            merged = OUT
        elif gpat[g] <= INJ and (gpat[h] <= INJ or gpat[h] == RED):
            merged = max(gpat[g], gpat[h])
        else:
            continue
        for m in members[g]:
            gid[m] = h
        members[h] = sorted(members[g] + members[h])
        members[g] = []
        gpat[h] = merged


def _group_name(bs: list[Binding], mod: IRModule, used: set[str]) -> str:
    parts = []
    for b in bs:
        pf = mod[b.value.func]  # type: ignore[union-attr]
        parts.append(str(pf.attrs.get("op_name", b.value.func)).replace(".", "_")  # type: ignore
                     .replace("nn_", ""))
    base = "fused_" + "_".join(parts)
    if len(base) > 80:
        base = base[:80]
    name, k = base, 0
    while name in used:
        k += 1
        name = f"{base}{k}"
    used.add(name)
    return name


def _group_function(bs: list[Binding]) -> tuple[Function, list[Expr]]:
    """The group as a graph function of its external inputs (vars and constants)."""
    inner = {id(b.var) for b in bs}
    params: list[Var] = []
    args: list[Expr] = []
    pmap: dict[int, Var] = {}
    for b in bs:
        for a in uses(b.value):
            if id(a) in inner or id(a) in pmap:
                continue
            if isinstance(a, (Var, Constant)):
                pv = Var(f"p{len(params)}", a.type)
                pmap[id(a)] = pv
                params.append(pv)
                args.append(a)
    vmap: dict[int, Var] = {}
    new_bs = []
    for b in bs:
        v = b.value
        assert isinstance(v, CallTIR)
        new_args = tuple(vmap.get(id(a)) or pmap[id(a)] for a in v.args)
        nv = Var(b.var.name, b.var.type)
        vmap[id(b.var)] = nv
        new_bs.append(Binding(nv, CallTIR(v.func, new_args, v.type)))
    f = Function(tuple(params), tuple(new_bs), (new_bs[-1].var,), {"Primitive": True})
    return f, args
