"""Statement code generation: stores, branches, loops, lets and allocations."""

from __future__ import annotations

from typing import Any

from llvmlite import ir

from onnxtune.tir import dtype as dt
from onnxtune.tir.arith.utils import expr_text
from onnxtune.tir.buffer import Buffer
from onnxtune.tir.expr import BufferLoad, IntImm, PrimExpr, Var
from onnxtune.tir.functor import collect_vars, pre_order_visit, substitute
from onnxtune.tir.stmt import (
    Allocate,
    Block,
    BlockRealize,
    BufferStore,
    Evaluate,
    For,
    ForKind,
    IfThenElse,
    LetStmt,
    SeqStmt,
    Stmt,
)

from .codegen_expr import I8, I32, I64, PTR, lanes_of, ltype
from .codegen_intrin import const_like

#: loop annotation ``[buffer name, bytes]``: each iteration first prefetches (into L2) the
#: cache line ``bytes`` past every distinct load of that buffer in its body (see
#: :meth:`StmtCodeGen.software_prefetch`)
PREFETCH_KEY = "software_prefetch"

#: allocations up to this many bytes with a constant size live on the stack
STACK_LIMIT = 64 * 1024
ALIGN = 64


class StmtCodeGen:
    """Mixin: statements. Expects the function state of :class:`CodeGenLLVM`."""

    b: ir.IRBuilder
    vars: dict[Var, ir.Value]
    bufs: dict[Buffer, ir.Value]
    lanes: int

    def stmt(self, s: Stmt) -> None:
        fn = getattr(self, "_s_" + type(s).__name__, None)
        if fn is None:
            raise NotImplementedError(f"the LLVM code generator cannot emit {type(s).__name__}")
        fn(s)

    def _s_SeqStmt(self, s: SeqStmt) -> None:
        for c in s.seq:
            self.stmt(c)

    def _s_Evaluate(self, s: Evaluate) -> None:
        if not isinstance(s.value, IntImm):
            self.expr(s.value)

    def _s_LetStmt(self, s: LetStmt) -> None:
        self.bind(s.var, self.expr(s.value))
        try:
            self.stmt(s.body)
        finally:
            self.unbind(s.var)

    def _s_Block(self, s: Block) -> None:
        raise ValueError(
            f"block {s.name_hint!r} reached the code generator; lower the function first "
            "(onnxtune.tir.transform.lower)"
        )

    def _s_BlockRealize(self, s: BlockRealize) -> None:
        self._s_Block(s.block)

    # -- memory -------------------------------------------------------------------------
    def buffer_ptr(self, buf: Buffer) -> ir.Value:
        p = self.bufs.get(buf)
        if p is None:
            raise ValueError(
                f"buffer {buf.name} is used where it is neither a parameter nor allocated"
            )
        return p

    def _check_flat(self, buf: Buffer, indices: tuple[PrimExpr, ...]) -> PrimExpr:
        if len(indices) != 1:
            raise ValueError(
                f"buffer {buf.name} is accessed with {len(indices)} indices; the code "
                "generator needs flattened (1-D) accesses — run flatten_buffer first"
            )
        return indices[0]

    def _e_BufferLoad(self, e: BufferLoad) -> ir.Value:
        idx = self._check_flat(e.buffer, e.indices)
        if self.lanes:
            return self.vector_load(e)
        et = ltype(e.buffer.dtype, mem=True)
        ptr = self.b.gep(self.buffer_ptr(e.buffer), [self.index(idx)], source_etype=et)
        v = self.b.load(ptr, typ=et, align=dt.itemsize(e.buffer.dtype))
        if e.buffer.dtype == "bool":
            v = self.b.icmp_unsigned("!=", v, ir.Constant(I8, 0))
        return v

    def _s_BufferStore(self, s: BufferStore) -> None:
        buf = s.buffer
        idx = self._check_flat(buf, s.indices)
        if s.value.dtype != buf.dtype:
            raise ValueError(
                f"store of a {s.value.dtype} value into the {buf.dtype} buffer {buf.name}; "
                "cast the value"
            )
        if self.lanes and self.is_varying(idx):
            self.vector_store(s)
            return
        val = self.expr(s.value)
        if lanes_of(val) or self.mask is not None:
            raise ValueError(
                f"store to {buf.name} in a vectorized loop writes one address from every lane"
            )
        et = ltype(buf.dtype, mem=True)
        if buf.dtype == "bool":
            val = self.b.zext(val, I8)
        ptr = self.b.gep(self.buffer_ptr(buf), [self.index(idx)], source_etype=et)
        self.b.store(val, ptr, align=dt.itemsize(buf.dtype))

    def _s_Allocate(self, s: Allocate) -> None:
        self.bufs[s.buffer] = self.allocate(s.buffer)
        try:
            self.stmt(s.body)
        finally:
            del self.bufs[s.buffer]

    def allocate(self, buf: Buffer) -> ir.Value:
        """Storage for ``buf`` for the whole current LLVM function, 64-byte aligned.

        Constant sizes up to 64 KiB are an ``alloca`` in the entry block; larger ones are
        ``aligned_alloc``-ed at entry and freed at the function's exit. Inside a parallel
        loop this runs in the outlined function, so every thread gets its own storage.
        """
        if len(buf.shape) != 1 or not isinstance(buf.shape[0], IntImm):
            raise NotImplementedError(
                f"buffer {buf.name}: allocation of the non-constant size "
                f"{expr_text(buf.shape[0])} is not supported"
            )
        nbytes = max(1, buf.shape[0].value * dt.itemsize(buf.dtype))
        align = max(ALIGN, buf.align)
        if nbytes <= STACK_LIMIT:
            ptr = self.alloca_builder.alloca(ir.ArrayType(I8, nbytes), name=buf.name)
            ptr.align = align
            ptr.type = PTR  # an opaque pointer, like every pointer in the module
            return ptr
        eb = self.heap_builder
        fn = self.b.module.globals.get("aligned_alloc")
        if fn is None:
            fn = ir.Function(self.b.module, ir.FunctionType(PTR, [I64, I64]), "aligned_alloc")
        size = (nbytes + align - 1) // align * align
        ptr = eb.call(fn, [ir.Constant(I64, align), ir.Constant(I64, size)], name=buf.name)
        failed = eb.icmp_unsigned("==", ptr, ir.Constant(PTR, None))
        with eb.if_then(failed, likely=False):
            trap = self.b.module.globals.get("llvm.trap")
            if trap is None:
                trap = ir.Function(self.b.module, ir.FunctionType(ir.VoidType(), []), "llvm.trap")
            eb.call(trap, [])
        self.heap_allocs.append(ptr)
        return ptr

    # -- control flow -------------------------------------------------------------------
    def _s_IfThenElse(self, s: IfThenElse) -> None:
        cond = self._bool(s.condition)
        if lanes_of(cond):
            with self.masked(cond):
                self.stmt(s.then_case)
            if s.else_case is not None:
                with self.masked(self.b.not_(cond)):
                    self.stmt(s.else_case)
            return
        if s.else_case is None:
            with self.b.if_then(cond):
                self.stmt(s.then_case)
            return
        with self.b.if_else(cond) as (then, otherwise):
            with then:
                self.stmt(s.then_case)
            with otherwise:
                self.stmt(s.else_case)

    def _s_For(self, s: For) -> None:
        kind = s.kind
        if kind == ForKind.THREAD_BINDING:
            raise ValueError(
                f"loop {s.loop_var.name} is bound to the GPU thread axis "
                f"{s.thread_binding or '?'!r}, which target llvm (CPU) cannot run; use "
                "parallel/vectorize instead of bind for CPU targets"
            )
        if kind == ForKind.VECTORIZED:
            self.vectorized_loop(s)
        elif kind == ForKind.PARALLEL and not self.lanes:
            self.parallel_loop(s)
        elif kind == ForKind.UNROLLED:
            self.serial_loop(s, {"llvm.loop.unroll.full": None})
        else:
            self.serial_loop(s)

    def index_value(self, e: PrimExpr, dtype: str) -> ir.Value:
        """A loop bound as a scalar of the loop variable's dtype."""
        saved, self.index_mode = self.index_mode, True
        try:
            v = self.expr(e)
        finally:
            self.index_mode = saved
        if lanes_of(v):
            raise ValueError(
                f"loop bound {expr_text(e)} varies across the lanes of a vectorized loop"
            )
        return self.cast_value(v, e.dtype, dtype)

    def serial_loop(self, s: For, md: dict | None = None) -> None:
        """``for (v = min; v < min + extent; ++v) body`` with optional loop metadata."""
        var = s.loop_var
        if not dt.is_int(var.dtype):
            raise ValueError(f"loop variable {var.name} has the non-integer dtype {var.dtype}")
        start = self.index_value(s.min, var.dtype)
        extent = self.index_value(s.extent, var.dtype)
        bb = self.b
        flags = () if dt.is_uint(var.dtype) else ("nsw",)
        end = bb.add(start, extent, flags=flags)
        pre = bb.block
        head = bb.append_basic_block(f"for.{var.name}")
        body = bb.append_basic_block(f"for.{var.name}.body")
        done = bb.append_basic_block(f"for.{var.name}.end")
        bb.branch(head)
        bb.position_at_end(head)
        phi = bb.phi(start.type, name=var.name)
        phi.add_incoming(start, pre)
        cmp = bb.icmp_unsigned if dt.is_uint(var.dtype) else bb.icmp_signed
        bb.cbranch(cmp("<", phi, end), body, done)
        bb.position_at_end(body)
        self.bind(var, phi)
        try:
            ann = s.annotations.get(PREFETCH_KEY)
            if ann is not None:
                self.software_prefetch(s, ann)
            self.stmt(s.body)
        finally:
            self.unbind(var)
        nxt = bb.add(phi, const_like(phi.type, 1), flags=flags)
        phi.add_incoming(nxt, bb.block)
        br = bb.branch(head)
        if md:
            br.set_metadata("llvm.loop", self.loop_metadata(md))
        bb.position_at_end(done)

    def software_prefetch(self, loop: For, ann: Any) -> None:
        """At the top of an iteration of ``loop`` (annotated ``[buffer name, bytes]``):
        ``llvm.prefetch`` (read, into L2) of the address ``bytes`` past each distinct load
        of that buffer in the body whose address is known here (every variable bound, a
        vectorized loop's at its first lane; loads under other loops are skipped). A
        prefetch never faults: one past the end of the buffer (the last block's) is
        harmless."""
        if (not isinstance(ann, (list, tuple)) or len(ann) != 2
                or not isinstance(ann[0], str) or isinstance(ann[1], bool)
                or not isinstance(ann[1], int)):
            raise ValueError(f"loop {loop.loop_var.name}: annotation {PREFETCH_KEY} must be "
                             f"[buffer name, bytes], got {ann!r}")
        name, dist = ann
        starts: dict[Var, PrimExpr] = {}
        seen: dict[str, tuple[Buffer, PrimExpr]] = {}  # distinct addresses, by their text

        def visit(n: Any) -> bool | None:
            if isinstance(n, For):
                if n.kind != ForKind.VECTORIZED:
                    return False  # its loads' addresses are not known at the top
                starts[n.loop_var] = n.min
            elif isinstance(n, BufferLoad) and n.buffer.name == name and len(n.indices) == 1:
                idx = substitute(n.indices[0], lambda v: starts.get(v))
                if all(v in self.vars for v in collect_vars(idx)):
                    seen.setdefault(expr_text(idx), (n.buffer, idx))
            return None

        pre_order_visit(loop.body, visit)
        if not seen or self.lanes:
            return  # (a loop inside a vectorized one: its addresses differ per lane)
        fn = self.b.module.globals.get("llvm.prefetch.p0")
        if fn is None:
            fn = ir.Function(self.b.module, ir.FunctionType(ir.VoidType(), [PTR, I32, I32, I32]),
                             "llvm.prefetch.p0")
        for buf, idx in seen.values():
            if buf not in self.bufs:
                continue  # allocated inside the loop
            et = ltype(buf.dtype, mem=True)
            ptr = self.b.gep(self.buffer_ptr(buf), [self.index(idx)], source_etype=et)
            ptr = self.b.gep(ptr, [ir.Constant(I64, dist)], source_etype=I8)
            # (address, read, locality 2 = keep in L2 and below, data cache)
            self.b.call(fn, [ptr, ir.Constant(I32, 0), ir.Constant(I32, 2), ir.Constant(I32, 1)])
