"""Well-formedness of scheduled TensorIR: the invariants every schedule primitive keeps.

``verify_well_formed(func)`` checks unique block names; that every variable is used where
it is defined (a block body sees only its own iter vars, the iter vars of enclosing
blocks and loops inside it); that every buffer is a parameter or allocated by an
enclosing block; that bindings match the iter vars in number and stay in their domains
when that can be decided; that each block's reads/writes cover the accesses of its body;
and that loop kinds are legal (constant vectorized extents, no parallel loop inside a
parallel loop or over a reduction). It raises :class:`VerifyError` naming the block or
loop and the broken rule.
"""

from __future__ import annotations

from ..arith import Analyzer, region_covers, relax_region
from ..arith.utils import expr_text
from ..buffer import Buffer, BufferRegion
from ..expr import BufferLoad, IntImm, IterType, Let, Node, PrimExpr, Range, Var
from ..function import PrimFunc
from ..functor import children, collect_vars, substitute
from ..stmt import (
    Allocate,
    Block,
    BlockRealize,
    BufferStore,
    For,
    ForKind,
    LetStmt,
    Stmt,
)
from .error import ScheduleError
from .tree import stmt_children


class VerifyError(ScheduleError):
    """A scheduled function breaks a TensorIR invariant."""


def verify_well_formed(func: PrimFunc) -> None:
    """Raise :class:`VerifyError` if ``func`` is not well-formed scheduled TensorIR."""
    names: set[str] = set()
    shape_vars: set[Var] = set()
    for p in func.params:
        for s in p.shape:
            shape_vars |= collect_vars(s)
    _Checker(names).stmt(func.body, _Ctx(frozenset(shape_vars), frozenset(shape_vars),
                                         frozenset(func.params), (), None, None))


class _Ctx:
    __slots__ = ("base", "block", "buffers", "in_parallel", "loops", "visible")

    def __init__(self, visible, base, buffers, loops, in_parallel, block):
        self.visible: frozenset = visible  # variables usable here
        self.base: frozenset = base  # shape vars and enclosing blocks' iter vars
        self.buffers: frozenset = buffers
        self.loops: tuple[For, ...] = loops  # loops since the enclosing block
        self.in_parallel: For | None = in_parallel
        self.block: str | None = block

    def but(self, **kw) -> _Ctx:
        c = _Ctx(self.visible, self.base, self.buffers, self.loops, self.in_parallel,
                 self.block)
        for k, v in kw.items():
            setattr(c, k, v)
        return c


def _where(ctx: _Ctx) -> str:
    return f"in block {ctx.block!r}" if ctx.block else "at the top level"


class _Checker:
    def __init__(self, names: set[str]):
        self.names = names

    def fail(self, msg: str) -> None:
        raise VerifyError(f"ill-formed function: {msg}")

    # -- expressions ----------------------------------------------------------------------
    def expr(self, e: Node, ctx: _Ctx, what: str) -> None:
        stack: list[tuple[Node, frozenset]] = [(e, ctx.visible)]
        while stack:
            n, vis = stack.pop()
            if isinstance(n, Var):
                if n not in vis:
                    self.fail(f"variable {n.name} is used in {what} {_where(ctx)} outside the "
                              "scope that defines it")
                continue
            if isinstance(n, Let):
                stack.append((n.value, vis))
                stack.append((n.body, vis | {n.var}))
                continue
            if isinstance(n, BufferLoad):
                self.buffer(n.buffer, ctx, what)
            for c in children(n):
                stack.append((c, vis))

    def buffer(self, b: Buffer, ctx: _Ctx, what: str) -> None:
        if b not in ctx.buffers:
            self.fail(f"buffer {b.name} is accessed in {what} {_where(ctx)} but is neither a "
                      "parameter nor allocated by an enclosing block")

    # -- statements -----------------------------------------------------------------------
    def stmt(self, s: Stmt, ctx: _Ctx) -> None:
        if isinstance(s, For):
            self.loop(s, ctx)
        elif isinstance(s, BlockRealize):
            self.realize(s, ctx)
        elif isinstance(s, BufferStore):
            self.buffer(s.buffer, ctx, f"a store to {s.buffer.name}")
            for i in s.indices:
                self.expr(i, ctx, f"a store to {s.buffer.name}")
            self.expr(s.value, ctx, f"a store to {s.buffer.name}")
        elif isinstance(s, LetStmt):
            self.expr(s.value, ctx, "a let")
            self.stmt(s.body, ctx.but(visible=ctx.visible | {s.var}))
        elif isinstance(s, Allocate):
            self.stmt(s.body, ctx.but(buffers=ctx.buffers | {s.buffer}))
        else:
            for c in children(s):
                if isinstance(c, Stmt):
                    self.stmt(c, ctx)
                else:
                    self.expr(c, ctx, type(s).__name__)

    def loop(self, f: For, ctx: _Ctx) -> None:
        name = f.loop_var.name
        if f.kind == ForKind.VECTORIZED and not isinstance(f.extent, IntImm):
            self.fail(f"vectorized loop {name} has a non-constant extent")
        self.expr(f.min, ctx, f"the min of loop {name}")
        self.expr(f.extent, ctx, f"the extent of loop {name}")
        if f.loop_var in ctx.visible:
            self.fail(f"loop variable {name} is defined twice")
        if isinstance(f.extent, IntImm) and f.extent.value <= 0:
            self.fail(f"loop {name} has the non-positive extent {f.extent.value}")
        if f.kind == ForKind.THREAD_BINDING and not f.thread_binding:
            self.fail(f"loop {name} is THREAD_BINDING without a thread axis")
        par = ctx.in_parallel
        if f.kind == ForKind.PARALLEL:
            if par is not None:
                self.fail(f"parallel loop {name} is nested in parallel loop "
                          f"{par.loop_var.name}")
            par = f
        self.stmt(f.body, ctx.but(visible=ctx.visible | {f.loop_var}, loops=ctx.loops + (f,),
                                  in_parallel=par))

    def realize(self, r: BlockRealize, ctx: _Ctx) -> None:
        b = r.block
        if b.name_hint in self.names:
            self.fail(f"two blocks are named {b.name_hint!r}")
        self.names.add(b.name_hint)
        if len(r.iter_values) != len(b.iter_vars):
            self.fail(f"block {b.name_hint!r} has {len(b.iter_vars)} iter vars but "
                      f"{len(r.iter_values)} bound values")
        for v in r.iter_values:
            self.expr(v, ctx, f"the bindings of block {b.name_hint!r}")
        self.expr(r.predicate, ctx, f"the predicate of block {b.name_hint!r}")
        for iv in b.iter_vars:
            self.expr(iv.dom.min, ctx.but(visible=ctx.base), "an iter var domain")
            self.expr(iv.dom.extent, ctx.but(visible=ctx.base), "an iter var domain")
        self.bindings(r, ctx)
        own = frozenset(iv.var for iv in b.iter_vars)
        buffers = ctx.buffers | frozenset(b.alloc_buffers)
        if b.iter_vars:
            inner = ctx.but(visible=ctx.base | own, base=ctx.base | own, buffers=buffers,
                            loops=(), block=b.name_hint)
        else:  # an opaque block sees everything around it
            inner = ctx.but(visible=ctx.visible, buffers=buffers, block=b.name_hint)
        for reg in (*b.reads, *b.writes):
            self.buffer(reg.buffer, inner, f"the reads/writes of block {b.name_hint!r}")
            for rg in reg.region:
                self.expr(rg.min, inner, "a read/write region")
                self.expr(rg.extent, inner, "a read/write region")
        if b.init is not None:
            self.stmt(b.init, inner)
        self.stmt(b.body, inner)
        if b.iter_vars:
            _Coverage(b).check()

    def bindings(self, r: BlockRealize, ctx: _Ctx) -> None:
        b = r.block
        an = Analyzer()
        for f in ctx.loops:
            if isinstance(f.min, IntImm) and isinstance(f.extent, IntImm):
                an.bind(f.loop_var, Range(f.min, f.extent))
        trivial = isinstance(r.predicate, IntImm) and r.predicate.value != 0
        for iv, v in zip(b.iter_vars, r.iter_values, strict=True):
            if not (isinstance(iv.dom.min, IntImm) and isinstance(iv.dom.extent, IntImm)):
                continue
            lo_d = iv.dom.min.value
            hi_d = lo_d + iv.dom.extent.value - 1
            bd = an.const_int_bound(v)
            if bd.min_value < lo_d or (trivial and bd.max_value > hi_d):
                self.fail(
                    f"block {b.name_hint!r}: iter var {iv.var.name} is bound to "
                    f"{expr_text(v)}, which ranges over [{bd.min_value}, {bd.max_value}], "
                    f"outside its domain [{lo_d}, {hi_d}]"
                )
            if ctx.in_parallel is not None and iv.iter_type == IterType.COMM_REDUCE:
                lv = ctx.in_parallel.loop_var
                if lv in collect_vars(v):
                    self.fail(f"block {b.name_hint!r}: reduction iter var {iv.var.name} "
                              f"depends on parallel loop {lv.name} (a data race)")


class _Coverage:
    """Do a block's reads/writes cover the accesses of its body (and nested blocks)?"""

    def __init__(self, block: Block):
        self.block = block
        self.an = Analyzer()
        for iv in block.iter_vars:
            self.an.bind(iv.var, iv.dom)
        self.local = set(block.alloc_buffers)

    def check(self) -> None:
        b = self.block
        if b.init is not None:
            self.walk(b.init, {}, {})
        self.walk(b.body, {}, {})

    def walk(self, s: Stmt, loops: dict[Var, Range], vmap: dict[Var, PrimExpr]) -> None:
        if isinstance(s, For):
            self.walk(s.body, {**loops, s.loop_var: Range(s.min, s.extent)}, vmap)
            return
        if isinstance(s, BlockRealize):
            inner = s.block
            self.local |= set(inner.alloc_buffers)
            sub = dict(zip((iv.var for iv in inner.iter_vars), s.iter_values, strict=True))
            for reg in inner.reads:
                self.cover(reg, "read", loops, sub)
            for reg in inner.writes:
                self.cover(reg, "write", loops, sub)
            return
        if isinstance(s, BufferStore):
            self.point(s.buffer, s.indices, "write", loops)
            self.loads(s.value, loops)
            for i in s.indices:
                self.loads(i, loops)
            return
        if isinstance(s, Allocate):
            self.local.add(s.buffer)
        for c in stmt_children(s):
            self.walk(c, loops, vmap)
        for c in children(s):
            if isinstance(c, PrimExpr):
                self.loads(c, loops)

    def loads(self, e: PrimExpr, loops: dict[Var, Range]) -> None:
        stack = [e]
        while stack:
            n = stack.pop()
            if isinstance(n, BufferLoad):
                self.point(n.buffer, n.indices, "read", loops)
            stack.extend(children(n))

    def point(self, buf: Buffer, idx, kind: str, loops: dict[Var, Range]) -> None:
        reg = BufferRegion(buf, tuple(Range(i, IntImm(1, i.dtype)) for i in idx))
        self.cover(reg, kind, loops, {})

    def cover(self, reg: BufferRegion, kind: str, loops: dict[Var, Range],
              sub: dict[Var, PrimExpr]) -> None:
        if reg.buffer in self.local:
            return
        if sub:
            reg = BufferRegion(reg.buffer, tuple(
                Range(substitute(r.min, sub), substitute(r.extent, sub)) for r in reg.region))
        try:
            need = relax_region(reg, loops, self.an) if loops else reg
        except ValueError:
            return  # unbounded: cannot decide, do not complain
        # a block may read what it writes (a reduction's update) without declaring it read
        declared = self.block.reads + self.block.writes if kind == "read" else self.block.writes
        for d in declared:
            if d.buffer is reg.buffer and region_covers(d, need, self.an):
                return
        text = ", ".join(f"[{expr_text(r.min)}, +{expr_text(r.extent)})" for r in need.region)
        raise VerifyError(
            f"ill-formed function: block {self.block.name_hint!r} {kind}s {reg.buffer.name} "
            f"at {text}, which its declared {kind}s do not cover"
        )
