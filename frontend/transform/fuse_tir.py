"""FuseTIR: each fused group (a ``Primitive`` graph function) → one PrimFunc.

The members' PrimFuncs are merged at the TIR level: the group's inputs become the new
function's parameters (then the output), every intermediate value becomes a buffer
allocated in the root block, and each member's blocks keep their names (made unique with
``_1``, ``_2`` suffixes, as ``te.create_prim_func`` does), so the anchor block of a fused
conv2d + add + relu is still the conv2d's reduction block.
"""

from __future__ import annotations

from typing import Any

from onnxtune.tir.buffer import Buffer
from onnxtune.tir.function import PrimFunc
from onnxtune.tir.functor import Mutator, replace_buffers
from onnxtune.tir.stmt import Block, BlockRealize, Stmt, seq, true

from ..ir import Binding, CallFunction, CallTIR, Function, IRModule, TensorType
from ..op import OpPattern
from .dce import dead_code_elimination
from .util import FuncTable


def fuse_tir(mod: IRModule) -> IRModule:
    """Replace every call of a Primitive graph function by a call_tir of its fused PrimFunc."""
    table = FuncTable([n for n, f in mod.functions.items()
                       if not (isinstance(f, Function) and f.attrs.get("Primitive"))],
                      dedup=False)
    fused: dict[str, str] = {}
    for name, f in mod.functions.items():
        if isinstance(f, Function) and f.attrs.get("Primitive"):
            key = _group_key(f)
            gname = table.lookup(key)
            if gname is None:
                gname = table.add(merge_group(f, mod), name, key)
            fused[name] = gname
    funcs: dict[str, Any] = {}
    for name, f in mod.functions.items():
        if isinstance(f, Function) and f.attrs.get("Primitive"):
            continue
        if isinstance(f, Function):
            bs = []
            for b in f.bindings:
                v = b.value
                if isinstance(v, CallFunction) and v.func in fused:
                    v = CallTIR(fused[v.func], v.args, v.type)
                bs.append(Binding(b.var, v))
            f = f.with_bindings(bs, f.outputs)
        funcs[name] = f
    funcs.update(table.new)
    return dead_code_elimination(IRModule(funcs))


def _group_key(group: Function) -> Any:
    """How the group is wired: param types, then (PrimFunc, argument positions) per call.

    Groups with equal keys merge into the same PrimFunc (member PrimFuncs are already
    shared by name), so the merge runs once per key.
    """
    pos = {id(p): ("p", k) for k, p in enumerate(group.params)}
    calls = []
    for k, b in enumerate(group.bindings):
        v = b.value
        assert isinstance(v, CallTIR)
        calls.append((v.func, tuple(pos[id(a)] for a in v.args)))
        pos[id(b.var)] = ("b", k)
    return (tuple(p.type for p in group.params), tuple(calls))


class _RenameBlocks(Mutator):
    def __init__(self, used: set[str]):
        self.used = used

    def visit_Block(self, n: Block) -> Block:
        new = self.generic_visit(n)
        name, k = n.name_hint, 0
        while name in self.used:
            k += 1
            name = f"{n.name_hint}_{k}"
        self.used.add(name)
        if name == new.name_hint:
            return new
        return Block(new.iter_vars, new.reads, new.writes, name, new.body, new.init,
                     new.alloc_buffers, new.annotations)


def merge_group(group: Function, mod: IRModule) -> PrimFunc:
    """One PrimFunc computing the group function (its bindings are call_tir's)."""
    bufs: dict[int, Buffer] = {}
    params: list[Buffer] = []
    for k, p in enumerate(group.params):
        t = p.type
        assert isinstance(t, TensorType)
        b = Buffer(f"p{k}", tuple(_imm(s) for s in t.shape), t.dtype)
        bufs[id(p)] = b
        params.append(b)
    out_var = group.outputs[0]
    allocs: list[Buffer] = []
    bodies: list[Stmt] = []
    used_names: set[str] = {"root"}
    pattern = 0
    names = []
    for b in group.bindings:
        v = b.value
        assert isinstance(v, CallTIR)
        pf = mod[v.func]
        assert isinstance(pf, PrimFunc)
        pattern = max(pattern, int(pf.attrs.get("op_pattern", OpPattern.OPAQUE)))
        names.append(str(pf.attrs.get("op_name", v.func)))
        t = b.var.type
        assert isinstance(t, TensorType)
        ob = Buffer("T_" + _safe(b.var.name) if b.var is not out_var else "T_out",
                    tuple(_imm(s) for s in t.shape), t.dtype)
        bufs[id(b.var)] = ob
        if b.var is not out_var:
            allocs.append(ob)
        bmap = {}
        for fp, a in zip(pf.params, [*v.args, b.var], strict=True):
            bmap[fp] = bufs[id(a)]
        root = pf.body
        assert isinstance(root, BlockRealize)
        body = replace_buffers(root.block.body, bmap)
        body = _RenameBlocks(used_names).visit(body)
        bodies.append(body)
        allocs.extend(root.block.alloc_buffers)
    params.append(bufs[id(out_var)])
    root_block = Block((), (), (), "root", seq(*bodies), None, tuple(allocs))
    attrs = {"global_symbol": "main", "tir.noalias": True, "op_pattern": pattern,
             "op_name": "+".join(names)}
    return PrimFunc(tuple(params), BlockRealize((), true(), root_block), attrs)


def _imm(s: int) -> Any:
    from onnxtune.tir.expr import IntImm

    return IntImm(int(s), "int32")


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c == "_" else "_" for c in name)
