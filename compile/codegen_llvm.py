"""LLVM IR generation for lowered PrimFuncs (llvmlite.ir): one module, many functions.

Each PrimFunc ``name`` becomes two LLVM functions:

* ``void name(ptr args)`` — exported, the engine's calling convention: ``args[i]`` is
  the data pointer of the i-th buffer parameter. It loads the pointers and calls
* ``void name.compute(ptr noalias align(itemsize) dereferenceable(nbytes) ...)`` —
  internal, one pointer parameter per buffer, ``noalias`` so that LLVM may vectorize
  and reorder memory accesses without runtime alias checks (the caller must not pass
  overlapping arrays).

Indices: a flat index is computed in the dtype the flattening pass chose (int32 when the
buffer has < 2**31 elements, else int64) with ``nsw`` arithmetic and sign-extended to
i64 for the address computation, so LLVM can widen induction variables.

Loops: SERIAL → a loop; UNROLLED (left as a loop by the lowering) → a loop with
``llvm.loop.unroll.full``; VECTORIZED → explicit vector code (:mod:`codegen_vector`);
PARALLEL → outlined and run on the native thread pool (:mod:`codegen_parallel`);
THREAD_BINDING → ValueError. When the target has AVX-512 the functions carry
``"min-legal-vector-width"="512"`` so explicit 512-bit vectors use zmm registers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from llvmlite import ir

from onnxtune.tir import dtype as dt
from onnxtune.tir.buffer import Buffer
from onnxtune.tir.expr import IntImm, Var
from onnxtune.tir.function import PrimFunc

from .codegen_call import CallCodeGen
from .codegen_expr import I1, I32, I64, PTR, ExprCodeGen
from .codegen_parallel import ParallelCodeGen
from .codegen_stmt import StmtCodeGen
from .codegen_vector import VectorCodeGen

_LOOP_SELF = "__onnxtune_loop_self_"


class _FnAttrs(ir.values.FunctionAttributes):
    """Function attributes plus LLVM string attributes (``"key"="value"``)."""

    def __init__(self, strings: Mapping[str, str]):
        super().__init__()
        self.strings = dict(strings)

    def _to_list(self, ret_type):
        out = super()._to_list(ret_type)
        return out + [f'"{k}"="{v}"' for k, v in self.strings.items()]

    def __bool__(self) -> bool:
        return True


class CodeGenLLVM(ExprCodeGen, CallCodeGen, StmtCodeGen, VectorCodeGen, ParallelCodeGen):
    """Builds one LLVM module from lowered (block-free, flattened) PrimFuncs.

    ``features`` is the target's feature string (``+avx512f,...``); ``triple`` and
    ``data_layout`` are copied into the module when given.
    """

    def __init__(self, triple: str = "", data_layout: str = "", features: str = "",
                 cpu: str = ""):
        self.module = ir.Module("onnxtune")
        if triple:
            self.module.triple = triple
        if data_layout:
            self.module.data_layout = data_layout
        self.fn_strings: dict[str, str] = {}
        #: the widest vector register in bytes when the target masks loads and stores
        #: natively (AVX-512), else 0: see VectorCodeGen._padded_lanes
        self.masked_bytes = 0
        if "+avx512f" in features.split(","):
            self.fn_strings["min-legal-vector-width"] = "512"
            self.masked_bytes = 64
        self._loops = 0
        self._names: set[str] = set()

    # -- per-function state --------------------------------------------------------------
    def new_function(self, name: str, ftype: ir.FunctionType, internal: bool) -> ir.Function:
        """Create an LLVM function with entry/alloca and heap-init blocks; the builder
        ``self.b`` is positioned in its body."""
        fn = ir.Function(self.module, ftype, name)
        fn.attributes = _FnAttrs(self.fn_strings)
        fn.attributes.add("nounwind")
        if internal:
            fn.linkage = "internal"
        entry = fn.append_basic_block("entry")
        heap = fn.append_basic_block("alloc")
        body = fn.append_basic_block("body")
        self.alloca_builder = ir.IRBuilder(entry)
        self.heap_builder = ir.IRBuilder(heap)
        self.b = ir.IRBuilder(body)
        self.entry_targets = (heap, body)
        self.vars: dict[Var, ir.Value] = {}
        self.bufs: dict[Buffer, ir.Value] = {}
        self.varying: set[Var] = set()
        self.vstart: dict[Var, ir.Value] = {}
        self.lanes = 0
        self.mask = None
        self.index_mode = False
        self.heap_allocs: list[ir.Value] = []
        return fn

    def finish_function(self) -> None:
        """Close the entry blocks and return (freeing heap allocations) from the body."""
        heap, body = self.entry_targets
        self.alloca_builder.branch(heap)
        self.heap_builder.branch(body)
        if self.heap_allocs:
            free = self.module.globals.get("free")
            if free is None:
                free = ir.Function(self.module, ir.FunctionType(ir.VoidType(), [PTR]), "free")
            for p in self.heap_allocs:
                self.b.call(free, [p])
        self.b.ret_void()

    def save_state(self) -> tuple[Any, ...]:
        return (self.b, self.alloca_builder, self.heap_builder, self.entry_targets, self.vars,
                self.bufs, self.varying, self.vstart, self.lanes, self.mask, self.index_mode,
                self.heap_allocs)

    def restore_state(self, st: tuple[Any, ...]) -> None:
        (self.b, self.alloca_builder, self.heap_builder, self.entry_targets, self.vars,
         self.bufs, self.varying, self.vstart, self.lanes, self.mask, self.index_mode,
         self.heap_allocs) = st

    def unique_name(self, base: str) -> str:
        name, k = base, 0
        while name in self._names or name in self.module.globals:
            k += 1
            name = f"{base}.{k}"
        self._names.add(name)
        return name

    # -- functions -----------------------------------------------------------------------
    def add_function(self, name: str, func: PrimFunc) -> None:
        """Emit the exported ``name`` and its internal compute function for ``func``."""
        if name in self._names:
            raise ValueError(f"two functions are named {name!r} in one module")
        self._names.add(name)
        params = func.params
        compute_t = ir.FunctionType(ir.VoidType(), [PTR] * len(params))
        compute = self.new_function(self.unique_name(f"{name}.compute"), compute_t, True)
        self.param_bufs = set(params)
        for arg, buf in zip(compute.args, params, strict=True):
            arg.name = buf.name
            set_pointer_attrs(arg, buf)
            self.bufs[buf] = arg
        self.stmt(func.body)
        self.finish_function()
        # exported wrapper: void name(ptr args)
        wrapper = self.new_function(name, ir.FunctionType(ir.VoidType(), [PTR]), False)
        args = wrapper.args[0]
        args.name = "args"
        ptrs = []
        for i, buf in enumerate(params):
            slot = self.b.gep(args, [ir.Constant(I64, i)], source_etype=PTR)
            ptrs.append(self.b.load(slot, typ=PTR, name=buf.name))
        self.b.call(compute, ptrs)
        self.finish_function()

    # -- loop metadata -----------------------------------------------------------------
    def loop_metadata(self, props: Mapping[str, Any]) -> ir.MDValue:
        """A distinct ``llvm.loop`` node with ``props`` (True → i1 true, int → i32, None →
        a flag without value). The self-reference is patched in by :meth:`ir_text`."""
        self._loops += 1
        m = self.module
        ops: list[Any] = [ir.MetaDataString(m, f"{_LOOP_SELF}{self._loops}")]
        for k, v in props.items():
            item: list[Any] = [ir.MetaDataString(m, k)]
            if v is True or v is False:
                item.append(ir.Constant(I1, int(v)))
            elif isinstance(v, int):
                item.append(ir.Constant(I32, v))
            ops.append(m.add_metadata(item))
        return m.add_metadata(ops)

    def ir_text(self) -> str:
        """The module as LLVM assembly."""
        text = str(self.module)
        pat = re.compile(r'^(!\d+) = !\{\s*!"' + _LOOP_SELF + r'\d+"', re.MULTILINE)
        return pat.sub(lambda mt: f"{mt.group(1)} = distinct !{{{mt.group(1)}", text)


def set_pointer_attrs(arg: ir.Argument, buf: Buffer) -> None:
    """noalias, nocapture, alignment and dereferenceable size of a buffer parameter."""
    arg.add_attribute("noalias")
    arg.add_attribute("nonnull")
    arg.attributes.align = max(buf.align, dt.itemsize(buf.dtype))
    if len(buf.shape) == 1 and isinstance(buf.shape[0], IntImm) and buf.shape[0].value > 0:
        arg.attributes.dereferenceable = buf.shape[0].value * dt.itemsize(buf.dtype)


def codegen_llvm(
    funcs: Mapping[str, PrimFunc], triple: str = "", data_layout: str = "", features: str = ""
) -> str:
    """LLVM assembly for lowered PrimFuncs (see :func:`onnxtune.tir.transform.lower`)."""
    cg = CodeGenLLVM(triple, data_layout, features)
    for name, f in funcs.items():
        cg.add_function(name, f)
    return cg.ir_text()
