"""Vectorized loops: the loop body evaluated once with the loop variable as a vector of lanes.

A ``VECTORIZED`` loop with a constant extent N (2..512) is emitted as straight-line
vector code over ``<N x T>`` values:

* an access whose index does not depend on the loop variable is a scalar load (its
  value is broadcast where combined with vectors);
* an index affine in the loop variable with stride 1 is a vector load/store at the
  first lane's address; with AVX-512, a lane count that is not a power of two (a row of
  14 or 7 pixels) of a parameter is a masked load/store of the next power of two (one
  instruction, instead of the 8 + 4 + 2 pieces LLVM splits a 14-lane access into), the
  extra lanes off so they never touch memory;
* an unmasked load with a small constant stride s (2..4; a strided convolution's input)
  is one contiguous load of the ``(N-1)·s+1`` elements it spans and a shufflevector
  picking every s-th;
* any other index (non-unit or symbolic stride, floordiv/floormod, indirect) is a
  ``llvm.masked.gather`` / ``llvm.masked.scatter``;
* a condition that varies across lanes (``IfThenElse``, the predicate of a
  non-divisible split, ``if_then_else``) becomes a lane mask: loads and stores under it
  are masked, so lanes that are off never touch memory. Loads whose address is the same
  for all lanes are executed even when every lane is off (as in a scalar loop's
  speculation of an invariant load);
* nested serial/unrolled loops with lane-independent bounds stay loops whose body is
  vector code.

A vectorized loop that cannot be expressed this way — non-constant or too large an
extent, an allocation, a parallel or vectorized loop, or a store to an address that is
the same for every lane inside it — is emitted as a serial loop carrying
``llvm.loop.vectorize.enable`` metadata, leaving vectorization to LLVM's loop vectorizer
(which may or may not prove it legal and profitable).
"""

from __future__ import annotations

import contextlib
import logging

from llvmlite import ir

from onnxtune.tir import dtype as dt
from onnxtune.tir.arith.utils import expr_text
from onnxtune.tir.expr import Add, BufferLoad, Cast, IntImm, Mul, PrimExpr, Sub, Var
from onnxtune.tir.functor import uses_var
from onnxtune.tir.stmt import (
    Allocate,
    BufferStore,
    Evaluate,
    For,
    ForKind,
    IfThenElse,
    LetStmt,
    SeqStmt,
    Stmt,
)

from .codegen_expr import I1, I32, PTR, ltype
from .codegen_intrin import const_like, intrinsic

log = logging.getLogger(__name__)

MAX_LANES = 512
#: loads with a constant stride up to this are a wide load plus a shuffle, not a gather
MAX_SHUFFLE_STRIDE = 4
#: widen contiguous accesses of a non-power-of-two lane count to masked ones (AVX-512)
PAD_ODD_LANES = True


def _first_lanes(n: int, lanes: int) -> ir.Constant:
    """A constant ``<lanes x i1>`` mask with the first ``n`` lanes on."""
    return ir.Constant(ir.VectorType(I1, lanes), [int(k < n) for k in range(lanes)])


class VectorCodeGen:
    """Mixin: vectorized loops, vector/masked/gather memory access, lane masks."""

    b: ir.IRBuilder
    vars: dict[Var, ir.Value]
    lanes: int
    varying: set[Var]
    mask: ir.Value | None
    vstart: dict[Var, ir.Value]

    # -- analysis -----------------------------------------------------------------------
    def is_varying(self, e: PrimExpr) -> bool:
        if not self.lanes:
            return False
        vs = self.varying
        return uses_var(e, lambda v: v in vs)

    def affine_stride(self, e: PrimExpr, v: Var) -> int | None:
        """The integer coefficient of ``v`` if ``e`` is affine in ``v`` with lane-independent
        other terms and a constant coefficient, else None."""
        if not self.is_varying(e):
            return 0
        if isinstance(e, Var):
            return 1 if e is v else None
        if isinstance(e, (Add, Sub)):
            a, b = self.affine_stride(e.a, v), self.affine_stride(e.b, v)
            if a is None or b is None:
                return None
            return a + b if isinstance(e, Add) else a - b
        if isinstance(e, Mul):
            a, b = self.affine_stride(e.a, v), self.affine_stride(e.b, v)
            if a is None or b is None:
                return None
            if a == 0 and isinstance(e.a, IntImm):
                return b * e.a.value
            if b == 0 and isinstance(e.b, IntImm):
                return a * e.b.value
            return None
        if (
            isinstance(e, Cast)
            and dt.is_int(e.dtype)
            and dt.is_int(e.value.dtype)
            and dt.bits(e.dtype) >= dt.bits(e.value.dtype)
        ):
            return self.affine_stride(e.value, v)
        return None

    def cannot_vectorize(self, loop: For) -> str | None:
        """Why ``loop`` cannot be emitted as explicit vector code (None if it can)."""
        if not isinstance(loop.extent, IntImm):
            return f"its extent {expr_text(loop.extent)} is not a constant"
        if not 1 <= loop.extent.value <= MAX_LANES:
            return f"its extent {loop.extent.value} is outside 1..{MAX_LANES}"
        varying = {loop.loop_var}
        stack: list[Stmt] = [loop.body]
        while stack:
            s = stack.pop()
            if isinstance(s, SeqStmt):
                stack.extend(s.seq)
            elif isinstance(s, BufferStore):
                if not uses_var(s.indices[0], lambda x: x in varying):
                    return (
                        f"it stores to {s.buffer.name} at an address that is the same for "
                        "every lane"
                    )
            elif isinstance(s, IfThenElse):
                stack.append(s.then_case)
                if s.else_case is not None:
                    stack.append(s.else_case)
            elif isinstance(s, LetStmt):
                if uses_var(s.value, lambda x: x in varying):
                    varying.add(s.var)
                stack.append(s.body)
            elif isinstance(s, For):
                if s.kind not in (ForKind.SERIAL, ForKind.UNROLLED):
                    return f"it contains the {s.kind.name.lower()} loop {s.loop_var.name}"
                if uses_var(s.min, lambda x: x in varying) or uses_var(
                    s.extent, lambda x: x in varying
                ):
                    return f"the bounds of the inner loop {s.loop_var.name} vary across lanes"
                stack.append(s.body)
            elif isinstance(s, Allocate):
                return f"it allocates {s.buffer.name}"
            elif not isinstance(s, Evaluate):
                return f"it contains a {type(s).__name__}"
        return None

    # -- the loop -----------------------------------------------------------------------
    def vectorized_loop(self, loop: For) -> None:
        reason = None if not self.lanes else "it is nested in another vectorized loop"
        reason = reason or self.cannot_vectorize(loop)
        if reason is not None:
            log.debug("vectorized loop %s emitted as a loop: %s", loop.loop_var.name, reason)
            self.serial_loop(loop, {"llvm.loop.vectorize.enable": True})
            return
        n = loop.extent.value
        start = self.index_value(loop.min, loop.loop_var.dtype)
        var = loop.loop_var
        iota = ir.Constant(ltype(var.dtype, n), list(range(n)))
        saved = (self.lanes, set(self.varying), self.mask)
        self.lanes = n
        self.varying = {var}
        self.mask = None
        self.vstart[var] = start
        self.vars[var] = self.b.add(self.splat(start, n), iota)
        try:
            self.stmt(loop.body)
        finally:
            del self.vars[var]
            del self.vstart[var]
            self.lanes, self.varying, self.mask = saved

    @contextlib.contextmanager
    def masked(self, cond: ir.Value):
        """Run the body with the lane mask narrowed to ``cond`` (a vector of i1)."""
        saved = self.mask
        self.mask = cond if saved is None else self.b.and_(saved, cond)
        try:
            yield self.mask
        finally:
            self.mask = saved

    def _full_mask(self, n: int) -> ir.Value:
        return self.mask if self.mask is not None else ir.Constant(ir.VectorType(I1, n), [1] * n)

    # -- memory -------------------------------------------------------------------------
    def _first_lane_index(self, e: PrimExpr) -> ir.Value:
        """Emit ``e`` as a scalar i64 with every vectorized loop variable at lane 0."""
        saved = (self.lanes, self.varying, self.mask, self.vars)
        self.vars = {**self.vars, **self.vstart}
        self.lanes, self.varying, self.mask = 0, set(), None
        try:
            return self.index(e)
        finally:
            self.lanes, self.varying, self.mask, self.vars = saved

    def _access(self, buf, idx: PrimExpr, store: bool = False) -> tuple[str, ir.Value]:
        """Classify an access: ('scalar'|'contiguous'|'strided', pointer) or ('gather',
        <N x ptr>); 'strided' (loads only) leaves its stride in ``self._stride``."""
        et = ltype(buf.dtype, mem=True)
        base = self.buffer_ptr(buf)
        if not self.is_varying(idx):
            return "scalar", self.b.gep(base, [self.index(idx)], source_etype=et)
        vloops = [v for v in self.vstart if uses_var(idx, lambda x, v=v: x is v)]
        stride = self.affine_stride(idx, vloops[0]) if len(vloops) == 1 else None
        if stride == 1:
            off = self._first_lane_index(idx)
            return "contiguous", self.b.gep(base, [off], source_etype=et)
        if (not store and stride is not None and 2 <= stride <= MAX_SHUFFLE_STRIDE
                and self.mask is None):
            off = self._first_lane_index(idx)
            self._stride = stride
            return "strided", self.b.gep(base, [off], source_etype=et)
        if idx.dtype == "int32":
            # GEP sign-extends its indices: 32-bit lanes allow vgatherdps/vscatterdps
            saved, self.index_mode = self.index_mode, True
            try:
                vidx = self.splat(self.expr(idx), self.lanes)
            finally:
                self.index_mode = saved
        else:
            vidx = self.splat(self.index(idx), self.lanes)
        ptrs = self.b.gep(base, [vidx], source_etype=et)
        ptrs.type = ir.VectorType(PTR, self.lanes)
        return "gather", ptrs

    def _padded_lanes(self, buf) -> int:
        """The power-of-two lane count an unmasked contiguous access of ``self.lanes``
        lanes is widened to (a masked access), or 0 to keep it as it is: only when the
        target masks natively, the lanes are not a power of two, the widened vector of 4-
        or 8-byte elements fits one register, and the buffer is a parameter. (An
        intermediate's accesses stay plain: LLVM keeps an accumulator that a loop loads
        and stores in registers, which it cannot do through masked intrinsics — ResNet-50's
        14x14 pointwise matmuls ran 30x slower so.)"""
        n, item = self.lanes, dt.itemsize(buf.dtype)
        width = getattr(self, "masked_bytes", 0) if PAD_ODD_LANES else 0
        if buf not in getattr(self, "param_bufs", ()):
            return 0
        if not width or n < 3 or n & (n - 1) == 0 or item not in (4, 8) or buf.dtype == "bool":
            return 0
        p = 1 << n.bit_length()
        return p if p * item <= width else 0

    def vector_load(self, e: BufferLoad) -> ir.Value:
        buf = e.buffer
        kind, ptr = self._access(buf, e.indices[0])
        et = ltype(buf.dtype, mem=True)
        align = ir.Constant(I32, max(1, dt.itemsize(buf.dtype)))
        n = self.lanes
        if kind == "scalar":
            v = self.b.load(ptr, typ=et, align=align.constant)
        else:
            vt = ir.VectorType(et, n)
            passthru = ir.Constant(vt, None)
            padded = self._padded_lanes(buf) if kind == "contiguous" else 0
            if kind == "contiguous" and self.mask is None and padded:
                wt, mask = ir.VectorType(et, padded), _first_lanes(n, padded)
                fn = intrinsic(self.b.module, "llvm.masked.load", wt,
                               [PTR, I32, mask.type, wt], [wt, PTR])
                wide = self.b.call(fn, [ptr, align, mask, ir.Constant(wt, None)])
                v = self.b.shuffle_vector(wide, ir.Constant(wt, None),
                                          ir.Constant(ir.VectorType(I32, n), list(range(n))))
            elif kind == "contiguous" and self.mask is None:
                v = self.b.load(ptr, typ=vt, align=align.constant)
            elif kind == "strided":
                st = self._stride
                wide = ir.VectorType(et, (n - 1) * st + 1)
                full = self.b.load(ptr, typ=wide, align=align.constant)
                v = self.b.shuffle_vector(full, ir.Constant(wide, None),
                                          ir.Constant(ir.VectorType(I32, n),
                                                      [k * st for k in range(n)]))
            elif kind == "contiguous":
                fn = intrinsic(self.b.module, "llvm.masked.load", vt,
                               [PTR, I32, self.mask.type, vt], [vt, PTR])
                v = self.b.call(fn, [ptr, align, self.mask, passthru])
            else:
                fn = intrinsic(self.b.module, "llvm.masked.gather", vt,
                               [ptr.type, I32, ir.VectorType(I1, n), vt], [vt, ptr.type])
                v = self.b.call(fn, [ptr, align, self._full_mask(n), passthru])
        if buf.dtype == "bool":
            v = self.b.icmp_unsigned("!=", v, const_like(v.type, 0))
        return v

    def vector_store(self, s: BufferStore) -> None:
        buf = s.buffer
        kind, ptr = self._access(buf, s.indices[0], store=True)
        if kind == "scalar":
            raise ValueError(
                f"store to {buf.name} in a vectorized loop writes one address from every lane"
            )
        n = self.lanes
        val = self.splat(self.expr(s.value), n)
        if buf.dtype == "bool":
            val = self.b.zext(val, ltype("bool", n, mem=True))
        vt = val.type
        align = ir.Constant(I32, max(1, dt.itemsize(buf.dtype)))
        padded = self._padded_lanes(buf) if kind == "contiguous" else 0
        if kind == "contiguous" and self.mask is None and padded:
            wt, mask = ir.VectorType(vt.element, padded), _first_lanes(n, padded)
            wide = self.b.shuffle_vector(val, ir.Constant(vt, None), ir.Constant(
                ir.VectorType(I32, padded), [k if k < n else n for k in range(padded)]))
            fn = intrinsic(self.b.module, "llvm.masked.store", ir.VoidType(),
                           [wt, PTR, I32, mask.type], [wt, PTR])
            self.b.call(fn, [wide, ptr, align, mask])
        elif kind == "contiguous" and self.mask is None:
            self.b.store(val, ptr, align=align.constant)
        elif kind == "contiguous":
            fn = intrinsic(self.b.module, "llvm.masked.store", ir.VoidType(),
                           [vt, PTR, I32, self.mask.type], [vt, PTR])
            self.b.call(fn, [val, ptr, align, self.mask])
        else:
            fn = intrinsic(self.b.module, "llvm.masked.scatter", ir.VoidType(),
                           [vt, ptr.type, I32, ir.VectorType(I1, n)], [vt, ptr.type])
            self.b.call(fn, [val, ptr, align, self._full_mask(n)])
