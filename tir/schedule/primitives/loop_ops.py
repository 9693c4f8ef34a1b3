"""Loop transformations as pure functions on PrimFunc: split, fuse and reorder.

Each takes loops by their loop variable and returns the new function (plus the new loop
variables it created); an illegal request raises ScheduleError naming the loop and the
broken condition, and nothing is changed. Loop kinds and annotations live in
:mod:`.loop_kinds`.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

from ...arith.linear import const_int, keep_identity
from ...arith.simplify import Simplifier
from ...expr import LT, And, BinaryOp, CmpOp, IntImm, Or, PrimExpr, Var
from ...function import PrimFunc
from ...functor import collect_vars, substitute
from ...op import ceildiv, floordiv, floormod
from ...stmt import (
    Allocate,
    Block,
    BlockRealize,
    For,
    ForKind,
    IfThenElse,
    LetStmt,
    SeqStmt,
    Stmt,
)
from ..error import ScheduleError
from ..tree import Located, free_vars, index, replace
from .loop_checks import blocks_under, check_affine_binding, check_iter_types


def _is_true(e: PrimExpr) -> bool:
    return type(e) is IntImm and e.value != 0


class BindingRewriter:
    """Substitutes loop variables below a rebuilt loop nest and re-simplifies the block
    bindings that changed (with the loop domains known); optionally appends a predicate to
    the first blocks reached. Block bodies are not visited: in TensorIR they only use
    their own iter vars (opaque blocks, without iter vars, are substituted entirely)."""

    def __init__(self, vmap: dict[Var, PrimExpr], bounds: dict[Var, tuple[int, int]],
                 predicate: PrimExpr | None = None, preserve_unit_iters: bool = True):
        self.vmap = vmap
        self.bounds = bounds
        self.predicate = predicate
        self.preserve_unit = preserve_unit_iters
        #: the simplifier shared by the bindings of one realize (same loop bounds)
        self._simp: Simplifier | None = None
        self._shared = False
        #: with :meth:`share_values`: one hash-consing table for every simplifier, and the
        #: linear forms of the substituted values, carried from one realize to the next
        self._intern: dict | None = None
        self._seed: dict[int, tuple] = {}
        self._values: list[PrimExpr] = []

    def share_values(self) -> None:
        """Carry the linear form of each substituted value from one realize's simplifier
        to the next (fuse: every block under the fused loop re-simplifies the same
        ``fused // k % e``). Sound when the values use only variables bound before the
        rewrite (the fused loop), whose bounds every realize sees alike."""
        self._intern = {}
        self._values = [v for v in self.vmap.values() if type(v) is not Var
                        and type(v) is not IntImm]

    def bind_loop(self, var: Var, mn: PrimExpr, ext: PrimExpr) -> None:
        if type(mn) is IntImm and type(ext) is IntImm:
            hi = mn.value + ext.value - 1
            if ext.value == 1 and self.preserve_unit:
                hi += 1  # a wider range keeps the unit iterator in the bindings (still sound)
            self.bounds[var] = (mn.value, hi)

    def expr(self, e: PrimExpr) -> PrimExpr:
        t = type(e)
        if t is Var:  # the substituted values are already in canonical form
            return self.vmap.get(e, e)
        if t is IntImm:
            return e
        ne = _subst(e, self.vmap)
        if ne is e:
            return e
        simp = self._simp
        if simp is None:
            simp = Simplifier(self.bounds, {})
            if self._intern is not None:
                simp.intern = self._intern
                simp.lmemo.update(self._seed)
            if self._shared:
                self._simp = simp
        out = keep_identity(e, simp.visit(ne))
        if self._intern is not None:
            lm = simp.lmemo
            for v in self._values:
                hit = lm.get(id(v))
                if hit is not None and hit[0] is v:
                    self._seed[id(v)] = hit
        return out

    def stmt(self, s: Stmt, top: bool = True) -> Stmt:
        t = type(s)
        if t is For:
            mn, ext = self.expr(s.min), self.expr(s.extent)
            self.bind_loop(s.loop_var, mn, ext)
            body = self.stmt(s.body, top)
            self.bounds.pop(s.loop_var, None)
            if mn is s.min and ext is s.extent and body is s.body:
                return s
            return For(s.loop_var, mn, ext, s.kind, body, s.thread_binding, s.annotations)
        if t is BlockRealize:
            return self.realize(s, top)
        if t is SeqStmt:
            items = tuple(self.stmt(x, top) for x in s.seq)
            if all(a is b for a, b in zip(items, s.seq, strict=True)):
                return s
            return SeqStmt(items)
        if t is IfThenElse:
            cond = self.expr(s.condition)
            then = self.stmt(s.then_case, top)
            other = None if s.else_case is None else self.stmt(s.else_case, top)
            if cond is s.condition and then is s.then_case and other is s.else_case:
                return s
            return IfThenElse(cond, then, other)
        if t is LetStmt:
            val, body = self.expr(s.value), self.stmt(s.body, top)
            return s if val is s.value and body is s.body else LetStmt(s.var, val, body)
        if t is Allocate:
            body = self.stmt(s.body, top)
            return s if body is s.body else Allocate(s.buffer, body)
        if not self.vmap or self.vmap.keys().isdisjoint(free_vars(s)):
            return s  # nothing to replace (the common case: a block's body)
        return substitute(s, self.vmap)

    def realize(self, r: BlockRealize, top: bool) -> BlockRealize:
        self._shared = True  # one simplifier for the bindings: the bounds stay put
        values = tuple(self.expr(v) for v in r.iter_values)
        pred = self.expr(r.predicate)
        self._shared, self._simp = False, None
        if top and self.predicate is not None:
            pred = self.predicate if _is_true(pred) else And(pred, self.predicate)
        block = r.block
        if not block.iter_vars:
            new_block = substitute(block, self.vmap) if self.vmap else block
        else:
            body = self.stmt(block.body, False)
            new_block = block if body is block.body else Block(
                block.iter_vars, block.reads, block.writes, block.name_hint, body, block.init,
                block.alloc_buffers, block.annotations)
        if (new_block is block and pred is r.predicate
                and all(a is b for a, b in zip(values, r.iter_values, strict=True))):
            return r
        return BlockRealize(values, pred, new_block)


_BINARY = (BinaryOp, CmpOp, And, Or)


def _subst(e: PrimExpr, vmap: dict[Var, PrimExpr]) -> PrimExpr:
    """``substitute`` with a fast path for the arithmetic and logic of bindings."""
    t = type(e)
    if t is Var:
        return vmap.get(e, e)
    if t is IntImm:
        return e
    if isinstance(e, _BINARY):
        a, b = _subst(e.a, vmap), _subst(e.b, vmap)
        return e if a is e.a and b is e.b else t(a, b)
    return substitute(e, vmap)


def outer_bounds(loc: Located, preserve_unit_iters: bool = True) -> dict[Var, tuple[int, int]]:
    """Constant bounds of the loops of ``loc``'s scope above it."""
    rw = BindingRewriter({}, {}, None, preserve_unit_iters)
    for f in loc.loops():
        rw.bind_loop(f.loop_var, f.min, f.extent)
    return rw.bounds


def check_plain_loop(loop: For, primitive: str) -> None:
    """No annotation, no thread binding, and a minimum of 0 (split and fuse need that)."""
    if loop.annotations or loop.thread_binding:
        what = "annotations " + str(sorted(loop.annotations)) if loop.annotations else (
            f"the thread binding {loop.thread_binding}")
        raise ScheduleError(
            f"{primitive}: loop {loop.loop_var.name} has {what}; the primitive applies only "
            "to loops without annotations or thread bindings"
        )
    if not (type(loop.min) is IntImm and loop.min.value == 0):
        raise ScheduleError(
            f"{primitive}: loop {loop.loop_var.name} does not start at 0; only loops "
            "starting at 0 are supported"
        )


# ----------------------------------------------------------------------------------------
# split


def split(
    func: PrimFunc,
    loop: Var,
    factors: Sequence[int | None],
    preserve_unit_iters: bool = True,
    disable_predication: bool = False,
) -> tuple[PrimFunc, list[Var]]:
    """Split ``loop`` into ``len(factors)`` nested loops, outermost first.

    At most one factor may be None: it is inferred as ``ceildiv(extent, product of the
    others)``. When the product exceeds the extent, the blocks under the loop get the
    predicate ``fused < extent`` (unless ``disable_predication``). Returns the new
    function and the new loop variables ``name_0, name_1, ...``.
    """
    prim = "split"
    loc = index(func).loop(loop, prim)
    f = loc.stmt
    name = f.loop_var.name
    check_plain_loop(f, prim)
    if len(factors) == 0:
        raise ScheduleError(f"{prim}: no factors given for loop {name}")
    n_none = sum(1 for x in factors if x is None)
    if n_none > 1:
        raise ScheduleError(
            f"{prim}: loop {name}: only one factor can be None (inferred); got {list(factors)}"
        )
    prod = 1
    for k, x in enumerate(factors):
        if x is None:
            continue
        if isinstance(x, bool) or not isinstance(x, int):
            raise ScheduleError(
                f"{prim}: loop {name}: factor {k} is {x!r}; factors must be positive "
                "integers, ExprRVs or one None"
            )
        if x <= 0:
            raise ScheduleError(
                f"{prim}: loop {name}: factor {k} is {x}; factors must be positive"
            )
        prod *= x
    dtype = f.loop_var.dtype
    ext = f.extent
    const_ext = ext.value if type(ext) is IntImm else None
    sizes: list[PrimExpr] = []
    for x in factors:
        if x is not None:
            sizes.append(IntImm(int(x), dtype))
        elif const_ext is not None:
            sizes.append(IntImm(-(-const_ext // prod), dtype))
        else:
            sizes.append(Simplifier({}, {}).visit(ceildiv(ext, IntImm(prod, dtype))))
    if n_none == 0:
        if const_ext is not None and prod < const_ext:
            raise ScheduleError(
                f"{prim}: the product of the factors {list(factors)} is {prod}, smaller than "
                f"the extent {const_ext} of loop {name}; the factors must cover the extent "
                "(use None for one factor to infer it)"
            )
        if const_ext is None:
            from ...arith import Analyzer

            if not Analyzer().can_prove(IntImm(prod, dtype) >= ext):
                raise ScheduleError(
                    f"{prim}: cannot prove that the product {prod} of the factors covers "
                    f"the symbolic extent of loop {name}"
                )
    new_vars = [Var(f"{name}_{k}", dtype) for k in range(len(factors))]
    # fused = v0 * (s1*s2*...) + v1 * (s2*...) + ... + v_{n-1}
    strides: list[PrimExpr] = []
    stride: PrimExpr = const_int(1, dtype)
    for s in reversed(sizes):
        strides.append(stride)
        stride = _mul(stride, s)
    strides.reverse()
    value: PrimExpr | None = None
    for v, st, sz in zip(new_vars, strides, sizes, strict=True):
        if not preserve_unit_iters and type(sz) is IntImm and sz.value == 1:
            continue  # a unit iterator contributes 0
        term = v if type(st) is IntImm and st.value == 1 else v * st
        value = term if value is None else value + term
    if value is None:
        value = const_int(0, dtype)
    need_pred = False
    if not disable_predication:
        if const_ext is not None and type(stride) is IntImm:
            need_pred = stride.value != const_ext
        else:
            need_pred = True
    rw = BindingRewriter({f.loop_var: value}, outer_bounds(loc, preserve_unit_iters),
                         LT(value, ext) if need_pred else None, preserve_unit_iters)
    for v, s in zip(new_vars, sizes, strict=True):
        rw.bind_loop(v, const_int(0, dtype), s)
    body = rw.stmt(f.body)
    for v, s in zip(reversed(new_vars), reversed(sizes), strict=True):
        body = For(v, const_int(0, dtype), s, ForKind.SERIAL, body)
    return replace(func, loc, body), new_vars


def _mul(a: PrimExpr, b: PrimExpr) -> PrimExpr:
    if type(a) is IntImm and type(b) is IntImm:
        return IntImm(a.value * b.value, a.dtype)
    return Simplifier({}, {}).visit(a * b)


# ----------------------------------------------------------------------------------------
# fuse


def fuse(
    func: PrimFunc, loops: Sequence[Var], preserve_unit_iters: bool = True
) -> tuple[PrimFunc, Var]:
    """Fuse perfectly nested loops (outermost first) into one loop ``a_b_fused``."""
    prim = "fuse"
    if not loops:
        raise ScheduleError(f"{prim}: needs at least one loop")
    ix = index(func)
    locs = [ix.loop(v, prim) for v in loops]
    fors: list[For] = [loc.stmt for loc in locs]
    seen: set[Var] = set()
    for i, (loc, f) in enumerate(zip(locs, fors, strict=True)):
        check_plain_loop(f, prim)
        if f.loop_var in seen:
            raise ScheduleError(f"{prim}: loop {f.loop_var.name} is given twice")
        if i > 0:
            outer = fors[i - 1]
            parent = next((a for a in reversed(loc.ancestors)
                           if isinstance(a, (For, Block, BlockRealize))), None)
            if parent is not outer:
                raise ScheduleError(
                    f"{prim}: loop {outer.loop_var.name} is not the parent of loop "
                    f"{f.loop_var.name}; fuse takes directly nested loops, outermost first"
                )
            if outer.body is not f:
                raise ScheduleError(
                    f"{prim}: loop {f.loop_var.name} is not the only child of loop "
                    f"{outer.loop_var.name}; fuse needs perfectly nested loops"
                )
            dep = None
            if type(f.extent) is not IntImm:
                dep = next((v for v in seen if v in collect_vars(f.extent)), None)
            if dep is not None:
                raise ScheduleError(
                    f"{prim}: the extent of loop {f.loop_var.name} depends on the outer loop "
                    f"{dep.name}; such loops cannot be fused"
                )
        seen.add(f.loop_var)
    dtype = fors[0].loop_var.dtype
    fused = Var("_".join(f.loop_var.name for f in fors) + "_fused", dtype)
    vmap: dict[Var, PrimExpr] = {}
    lower: PrimExpr = const_int(1, dtype)
    for i in range(len(fors) - 1, -1, -1):
        f = fors[i]
        if type(f.extent) is IntImm and f.extent.value == 1:
            vmap[f.loop_var] = const_int(0, dtype)
            continue
        q = fused if type(lower) is IntImm and lower.value == 1 else floordiv(fused, lower)
        vmap[f.loop_var] = q if i == 0 else floormod(q, f.extent)
        lower = _mul(lower, f.extent)
    total: PrimExpr = const_int(1, dtype)
    for f in fors:
        total = _mul(total, f.extent)
    rw = BindingRewriter(vmap, outer_bounds(locs[0], preserve_unit_iters), None,
                         preserve_unit_iters)
    rw.bind_loop(fused, const_int(0, dtype), total)
    rw.share_values()
    body = rw.stmt(fors[-1].body)
    new = For(fused, const_int(0, dtype), total, ForKind.SERIAL, body)
    return replace(func, locs[0], new), fused


# ----------------------------------------------------------------------------------------
# reorder


def reorder(func: PrimFunc, loops: Sequence[Var]) -> PrimFunc:
    """Reorder loops of one perfectly nested chain: the given loops take, in the given
    order, the positions the given loops occupy; loops in between stay where they are."""
    prim = "reorder"
    if len(loops) <= 1:
        if loops:
            index(func).loop(loops[0], prim)
        return func
    ix = index(func)
    locs = [ix.loop(v, prim) for v in loops]
    seen: set[Var] = set()
    for v in loops:
        if v in seen:
            raise ScheduleError(f"{prim}: loop {v.name} appears more than once")
        seen.add(v)
    scope0 = _scope(locs[0])
    for loc in locs[1:]:
        if _scope(loc) is not scope0:
            raise ScheduleError(
                f"{prim}: loops {loops[0].name} and {loc.stmt.loop_var.name} are not under "
                "the same block; reordered loops must form one chain"
            )
    by_depth = sorted(locs, key=lambda lc: len(lc.ancestors))
    for a, b in pairwise(by_depth):
        if a.stmt not in b.ancestors:
            raise ScheduleError(
                f"{prim}: loops {a.stmt.loop_var.name} and {b.stmt.loop_var.name} are not in "
                "one chain (neither is nested in the other)"
            )
    top, bottom = by_depth[0], by_depth[-1]
    chain: list[For] = [top.stmt]
    while chain[-1] is not bottom.stmt:
        nxt = chain[-1].body
        if not isinstance(nxt, For):
            raise ScheduleError(
                f"{prim}: the loops are not in a line: loop {chain[-1].loop_var.name} has a "
                f"{type(nxt).__name__} body, not a single loop, between the reordered loops"
            )
        chain.append(nxt)
    for sub in blocks_under(bottom):
        check_iter_types(sub.stmt.block, prim, "under the reordered loops")
        check_affine_binding(sub, prim)
    order = iter(fors_of(locs))
    new_chain = [next(order) if f.loop_var in seen else f for f in chain]
    body = bottom.stmt.body
    inner: set[Var] = set()
    for f in reversed(new_chain):
        dep = None
        if type(f.min) is not IntImm or type(f.extent) is not IntImm:
            used = collect_vars(f.min) | collect_vars(f.extent)
            dep = next((v for v in new_chain if v.loop_var in used and v.loop_var in inner),
                       None)
            dep = None if dep is None else dep.loop_var
        if dep is not None:
            raise ScheduleError(
                f"{prim}: the min or extent of loop {f.loop_var.name} depends on loop "
                f"{dep.name}, which would be inside it in the new order"
            )
        inner.add(f.loop_var)
        body = For(f.loop_var, f.min, f.extent, f.kind, body, f.thread_binding, f.annotations)
    return replace(func, top, body)


def fors_of(locs: Sequence[Located]) -> list[For]:
    return [loc.stmt for loc in locs]


def _scope(loc: Located) -> Stmt | None:
    for a in reversed(loc.ancestors):
        if isinstance(a, BlockRealize):
            return a
    return None
