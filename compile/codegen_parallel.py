"""Parallel loops: outline the body and launch it once per region on the native thread pool.

For ``for v in parallel(min, min + n): body`` the code generator emits

* ``name.parK.body(ptr noalias buf..., T var..., i64 begin, i64 end)`` — internal; runs
  iterations ``[begin, end)`` of the loop, with every buffer the body touches passed as
  a ``noalias`` pointer and every outer variable it reads passed by value;
* ``name.parK(ptr closure)`` — the per-thread worker: reads the closure (a struct of
  ``n``, ``min``, a shared counter, the buffer pointers and the variable values), takes
  its static chunk ``[tid * ceil(n / T), min(n, (tid + 1) * ceil(n / T)))`` of the
  iteration range and calls the body function; or, when the runtime's
  ``onnxtune_dynamic_chunks`` is ``k > 0`` (:func:`runtime.set_dynamic_chunks`), takes
  chunks of ``ceil(n / (T * k))`` iterations from the counter (an atomic add) until none
  is left, so that a thread the OS preempts holds up one small chunk, not its share;
* at the loop's place: the closure is filled in (stack storage of the caller) and the
  region launched through :mod:`onnxtune.compile.runtime` (``GOMP_parallel`` on libgomp's
  pool with the runtime's thread count; the chunking is ``runtime.emit_static_chunk``).

Only the outermost parallel loop of a nest runs in parallel; parallel loops inside it
(or inside a vectorized loop) are serial loops. Allocations inside the body are made by
the body function, so every thread has its own.
"""

from __future__ import annotations

from llvmlite import ir

from onnxtune.tir.buffer import Buffer
from onnxtune.tir.expr import BufferLoad, Var
from onnxtune.tir.functor import post_order_visit
from onnxtune.tir.stmt import BufferStore, For

from . import runtime
from .codegen_expr import I32, I64, PTR, ltype


class ParallelCodeGen:
    """Mixin: outlining of parallel loops."""

    in_parallel: bool = False

    def _captures(self, loop: For) -> tuple[list[Buffer], list[Var]]:
        bufs: dict[Buffer, None] = {}
        used: dict[Var, None] = {}

        def visit(n) -> None:
            if isinstance(n, (BufferLoad, BufferStore)) and n.buffer in self.bufs:
                bufs[n.buffer] = None
            elif isinstance(n, Var) and n in self.vars:
                used[n] = None

        post_order_visit(loop.body, visit)
        return list(bufs), list(used)

    def parallel_loop(self, loop: For) -> None:
        if self.in_parallel:
            self.serial_loop(loop)
            return
        var = loop.loop_var
        start = self.cast_value(self.index_value(loop.min, var.dtype), var.dtype, "int64")
        extent = self.cast_value(self.index_value(loop.extent, var.dtype), var.dtype, "int64")
        bufs, vars_ = self._captures(loop)
        base = self.unique_name(f"{self.b.function.name.removesuffix('.compute')}.par")
        body_fn = self._outline_body(base + ".body", loop, bufs, vars_)
        # closure: { i64 n, i64 min, i64 next (the shared counter of dynamic chunks),
        #            ptr buf..., var... }
        fields = [I64, I64, I64] + [PTR] * len(bufs) + [self.vars[v].type for v in vars_]
        cty = ir.LiteralStructType(fields)
        worker = self._worker(base, cty, body_fn, len(bufs), len(vars_))
        closure = self.alloca_builder.alloca(cty, name=f"{base}.closure")
        closure.type = PTR  # an opaque pointer, like every pointer in the module
        values = [extent, start, ir.Constant(I64, 0)] + [self.bufs[b] for b in bufs] + [
            self.vars[v] for v in vars_]
        for i, val in enumerate(values):
            slot = self.b.gep(closure, [ir.Constant(I32, 0), ir.Constant(I32, i)],
                              source_etype=cty)
            self.b.store(val, slot)
        with self.b.if_then(self.b.icmp_signed(">", extent, ir.Constant(I64, 0))):
            runtime.emit_parallel_launch(self.module, self.b, worker, closure)

    def _outline_body(self, name: str, loop: For, bufs: list[Buffer], vars_: list[Var]):
        from .codegen_llvm import set_pointer_attrs

        var = loop.loop_var
        arg_types = [PTR] * len(bufs) + [self.vars[v].type for v in vars_] + [I64, I64]
        outer = self.save_state()
        saved_par = self.in_parallel
        fn = self.new_function(name, ir.FunctionType(ir.VoidType(), arg_types), True)
        try:
            self.in_parallel = True
            args = list(fn.args)
            for a, buf in zip(args, bufs, strict=False):
                a.name = buf.name
                set_pointer_attrs(a, buf)
                self.bufs[buf] = a
            for a, v in zip(args[len(bufs):], vars_, strict=False):
                a.name = v.name
                self.vars[v] = a
            # begin/end already include the loop's min (added by the worker)
            self._serial_range(var, loop.body, args[-2], args[-1])
            self.finish_function()
        finally:
            self.restore_state(outer)
            self.in_parallel = saved_par
        return fn

    def _serial_range(self, var: Var, body_stmt, begin: ir.Value, end: ir.Value) -> None:
        """``for (var = begin; var < end; ++var) body`` with i64 bounds in var's dtype."""
        vt = ltype(var.dtype)
        lo = self.b.trunc(begin, vt) if vt.width < 64 else begin
        hi = self.b.trunc(end, vt) if vt.width < 64 else end
        bb = self.b
        pre = bb.block
        head = bb.append_basic_block(f"par.{var.name}")
        body = bb.append_basic_block(f"par.{var.name}.body")
        done = bb.append_basic_block(f"par.{var.name}.end")
        bb.branch(head)
        bb.position_at_end(head)
        phi = bb.phi(vt, name=var.name)
        phi.add_incoming(lo, pre)
        bb.cbranch(bb.icmp_signed("<", phi, hi), body, done)
        bb.position_at_end(body)
        self.bind(var, phi)
        try:
            self.stmt(body_stmt)
        finally:
            self.unbind(var)
        nxt = bb.add(phi, ir.Constant(vt, 1), flags=("nsw",))
        phi.add_incoming(nxt, bb.block)
        bb.branch(head)
        bb.position_at_end(done)

    def _dynamic_chunks(self, closure, cty, body_fn, args, n, start, k) -> None:
        """Take chunks of ``c = max(1, ceil(n / (threads * k)))`` iterations from the
        closure's counter until it passes ``n``."""
        b = self.b
        _, nt = runtime.emit_thread_info(self.module, b)
        parts = b.mul(b.sext(nt, I64), b.sext(k, I64))
        c = b.sdiv(b.add(n, b.sub(parts, ir.Constant(I64, 1))), parts)
        c = b.select(b.icmp_signed("<", c, ir.Constant(I64, 1)), ir.Constant(I64, 1), c,
                     name="chunk")
        counter = b.gep(closure, [ir.Constant(I32, 0), ir.Constant(I32, 2)],
                        source_etype=cty)
        head = b.append_basic_block("dyn.next")
        body = b.append_basic_block("dyn.run")
        done = b.append_basic_block("dyn.done")
        b.branch(head)
        b.position_at_end(head)
        lo = b.atomic_rmw("add", counter, c, "monotonic", name="lo")
        b.cbranch(b.icmp_signed("<", lo, n), body, done)
        b.position_at_end(body)
        hi = b.add(lo, c)
        hi = b.select(b.icmp_signed("<", hi, n), hi, n, name="hi")
        b.call(body_fn, args + [b.add(lo, start), b.add(hi, start)])
        b.branch(head)
        b.position_at_end(done)

    def _worker(self, base: str, cty: ir.LiteralStructType, body_fn: ir.Function,
                nbufs: int, nvars: int) -> ir.Function:
        outer = self.save_state()
        fn = self.new_function(base, ir.FunctionType(ir.VoidType(), [PTR]), True)
        try:
            closure = fn.args[0]
            closure.name = "closure"
            b = self.b
            vals = []
            for i, t in enumerate(cty.elements):
                slot = b.gep(closure, [ir.Constant(I32, 0), ir.Constant(I32, i)],
                             source_etype=cty)
                vals.append(b.load(slot, typ=t))
            n, start = vals[0], vals[1]
            args = vals[3:3 + nbufs + nvars]
            k = b.load(runtime.dynamic_chunks_global(self.module), typ=I32, name="k")
            with b.if_else(b.icmp_signed("==", k, ir.Constant(I32, 0))) as (static, dynamic):
                with static:
                    lo, hi = runtime.emit_static_chunk(self.module, b, n)
                    with b.if_then(b.icmp_signed("<", lo, hi)):
                        b.call(body_fn, args + [b.add(lo, start), b.add(hi, start)])
                with dynamic:
                    self._dynamic_chunks(closure, cty, body_fn, args, n, start, k)
            self.finish_function()
        finally:
            self.restore_state(outer)
        return fn

