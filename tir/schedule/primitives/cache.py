"""cache_read / cache_write: a copy stage to a buffer of another storage scope."""

from __future__ import annotations

from collections.abc import Sequence

from ...arith import Analyzer, relax_region
from ...arith.linear import const_int
from ...buffer import Buffer, BufferRegion
from ...expr import Add, BinaryOp, FloatImm, IntImm, IterType, IterVar, Mul, Range, Sub, Var
from ...function import PrimFunc
from ...functor import Mutator, _BufferReplacer
from ...stmt import Block, BlockRealize, BufferStore, For, ForKind, SeqStmt, Stmt, seq, true
from ..error import ScheduleError
from ..tree import Located, fresh_block_name, index, replace, substitute_region
from .block_common import (
    check_storage_scope,
    fresh_buffer_name,
    locate_block,
    nth_region,
    point_region,
    with_fields,
    writers,
)
from .queries import child_realizes, scope_of

#: where a stage goes: (None, pos) in the scope block's body, or (loop var, pos) in a loop's
_Loc = tuple[Var | None, int]


def cache_read(func: PrimFunc, block: str, read_buffer_index: int, storage_scope: str,
               consumer_blocks: Sequence[str] | None = None) -> tuple[PrimFunc, str]:
    """Copy the ``read_buffer_index``-th buffer ``block`` reads into a new buffer of
    ``storage_scope`` (named ``<buffer>_<scope>``) and make its readers read the copy.

    The copy block (same name as the new buffer) goes right after the buffer's producer,
    before the first reader (TVM's placement), or first in the scope for an input. Only
    ``consumer_blocks`` are retargeted when given. Returns the new function and the name
    of the copy block.
    """
    prim = "cache_read"
    check_storage_scope(prim, storage_scope)
    loc = locate_block(func, block, prim)
    buf = nth_region(loc.stmt.block, read_buffer_index, "read", prim).buffer
    if any(w.buffer is buf for w in loc.stmt.block.writes):
        raise ScheduleError(f"{prim}: block {block} writes {buf.name} itself (a reduction "
                            "update reads its output); cache its output with cache_write")
    scope = scope_of(loc)
    children = child_realizes(scope)
    ws = writers(children, buf)
    if len(ws) > 1:
        raise ScheduleError(f"{prim}: buffer {buf.name} is written by {len(ws)} blocks "
                            f"{[b.name_hint for b in ws]}; cache_read needs a single writer")
    readers = [r.block for r in children
               if any(x.buffer is buf for x in r.block.reads) and r.block not in ws]
    targets = _select(prim, readers, consumer_blocks, buf, children)
    cache = Buffer(fresh_buffer_name(func, _name(buf.name, storage_scope)), buf.shape,
                   buf.dtype, storage_scope)
    if ws:
        wloc = index(func).block(ws[0].name_hint)
        related = {b.name_hint for b in targets}
        where = _detect_location(scope.block, ws[0].name_hint, related)
        region = _relax_to(wloc, next(w for w in ws[0].writes if w.buffer is buf), where)
    else:
        where = (None, 0)
        region = buf.full_region()
    name = fresh_block_name(func, _name(buf.name, storage_scope))
    stage = _copy_stage(name, buf, cache, region)
    bmap = {buf: cache}
    return _rebuild(func, scope, {id(b) for b in targets}, bmap, where, stage, cache), name


def cache_write(func: PrimFunc, block: str, write_buffer_index: int, storage_scope: str,
                consumer_blocks: Sequence[str] | None = None) -> tuple[PrimFunc, str]:
    """Make ``block`` write a new buffer of ``storage_scope`` instead of its
    ``write_buffer_index``-th buffer, and add a block copying it back (placed before the
    first reader, or last in the scope). ``consumer_blocks`` read the cache directly.
    Returns the new function and the name of the copy block."""
    prim = "cache_write"
    check_storage_scope(prim, storage_scope)
    loc = locate_block(func, block, prim)
    blk = loc.stmt.block
    wreg = nth_region(blk, write_buffer_index, "write", prim)
    buf = wreg.buffer
    scope = scope_of(loc)
    children = child_realizes(scope)
    ws = writers(children, buf)
    if len(ws) != 1:
        raise ScheduleError(f"{prim}: block {block} is not the only writer of {buf.name} "
                            f"(written by {[b.name_hint for b in ws]}); cache_write needs one")
    readers = [r.block for r in children
               if any(x.buffer is buf for x in r.block.reads) and r.block is not blk]
    direct = _select(prim, readers, consumer_blocks, buf, children) if consumer_blocks else []
    cache = Buffer(fresh_buffer_name(func, _name(buf.name, storage_scope)), buf.shape,
                   buf.dtype, storage_scope)
    related = {b.name_hint for b in readers if b not in direct}
    where = _detect_location(scope.block, block, related)
    region = _relax_to(loc, wreg, where)
    name = fresh_block_name(func, _name(buf.name, storage_scope))
    stage = _copy_stage(name, cache, buf, region)
    targets = {id(blk)} | {id(b) for b in direct}
    return _rebuild(func, scope, targets, {buf: cache}, where, stage, cache), name


# ----------------------------------------------------------------------------------------
# helpers


def _name(base: str, scope: str) -> str:
    return f"{base}_{scope}".replace(".", "_")


def _select(prim: str, readers: list[Block], names: Sequence[str] | None, buf: Buffer,
            children: Sequence[BlockRealize]) -> list[Block]:
    if names is None:
        return readers
    by_name = {r.block.name_hint: r.block for r in children}
    out = []
    for n in names:
        b = by_name.get(n)
        if b is None:
            raise ScheduleError(f"{prim}: consumer block {n!r} is not a block of the same scope "
                                f"(blocks there: {sorted(by_name)})")
        if b not in readers:
            raise ScheduleError(f"{prim}: consumer block {n!r} does not read {buf.name}")
        if b not in out:
            out.append(b)
    return out


def _detect_location(scope: Block, writer: str, related: set[str]) -> _Loc:
    """TVM's CacheLocDetector: in the innermost sequence holding both the writer and a
    related block, the position of the first child that holds a related block."""
    if not related:
        body = scope.body
        return (None, len(body.seq) if isinstance(body, SeqStmt) else 1)
    found: list[_Loc] = []

    def visit(s: Stmt, owner: Var | None) -> tuple[bool, bool]:
        """(saw the writer, saw a related block) below ``s``; records the location."""
        if isinstance(s, BlockRealize):
            n = s.block.name_hint
            return n == writer, n in related
        if isinstance(s, For):
            return visit(s.body, s.loop_var)
        if isinstance(s, SeqStmt):
            vb = vr = False
            for i, c in enumerate(s.seq):
                b, r = visit(c, None)
                if found:
                    return True, True
                vb, vr = vb or b, vr or r
                if vb and vr:
                    found.append((owner, i))
                    return True, True
            return vb, vr
        vb = vr = False
        from ..tree import stmt_children

        for c in stmt_children(s):
            b, r = visit(c, owner)
            vb, vr = vb or b, vr or r
        return vb, vr

    visit(scope.body, None)
    if found:
        return found[0]
    return (None, 1)


def _relax_to(wloc: Located, region: BufferRegion, where: _Loc) -> BufferRegion:
    """The writer's region over every execution below the insertion location."""
    realize: BlockRealize = wloc.stmt
    sub = dict(zip((iv.var for iv in realize.block.iter_vars), realize.iter_values,
                   strict=True))
    loops = wloc.loops()
    if where[0] is not None:
        k = next((i for i, f in enumerate(loops) if f.loop_var is where[0]), None)
        loops = loops[k + 1:] if k is not None else loops
    dom = {f.loop_var: Range(f.min, f.extent) for f in loops}
    an = Analyzer()
    reg = substitute_region(region, sub)
    if dom:
        fast = _const_relax(reg, dom)
        if fast is not None:
            return fast
    try:
        reg = relax_region(reg, dom, an) if dom else reg
    except ValueError:
        return region.buffer.full_region()
    return BufferRegion(reg.buffer, tuple(Range(an.simplify(r.min), an.simplify(r.extent))
                                          for r in reg.region))


def _const_relax(reg: BufferRegion, dom: dict[Var, Range]) -> BufferRegion | None:
    """What :func:`_relax_to` makes of ``reg`` when every bound is a constant: each index
    an affine sum (``+ - *const``) of relaxed variables with constant domains, of one
    int32/int64 dtype (the writer relaxed over all its loops, the common case of
    cache_write), computed on ints; None otherwise (the general path decides)."""
    bounds: dict[Var, tuple[int, int]] = {}
    for v, r in dom.items():
        mn, ext = r.min, r.extent
        if type(mn) is not IntImm or type(ext) is not IntImm or ext.value < 1:
            return None
        bounds[v] = (mn.value, mn.value + ext.value - 1)
    out = []
    for r in reg.region:
        mn, ext = r.min, r.extent
        dtype = mn.dtype
        if (type(ext) is not IntImm or ext.value < 1 or ext.dtype != dtype
                or dtype not in ("int32", "int64")):
            return None
        coefs: dict[Var, int] = {}
        base = _affine_sum(mn, 1, coefs, dtype)
        if base is None:
            return None
        lo = hi = base
        for v, k in coefs.items():
            b = bounds.get(v)
            if b is None:
                return None
            if k >= 0:
                lo, hi = lo + k * b[0], hi + k * b[1]
            else:
                lo, hi = lo + k * b[1], hi + k * b[0]
        hi += ext.value - 1
        if not (-(1 << 31) <= lo <= hi < (1 << 31)):
            return None
        out.append(Range(const_int(lo, dtype), const_int(hi - lo + 1, dtype)))
    return BufferRegion(reg.buffer, tuple(out))


def _affine_sum(e: object, k: int, coefs: dict[Var, int], dtype: str) -> int | None:
    """Add ``k·e`` to ``coefs`` (variable -> coefficient); the constant part, or None if
    ``e`` is not an affine sum of ``dtype`` variables and constants."""
    t = type(e)
    if t is Var:
        if e.dtype != dtype:
            return None
        coefs[e] = coefs.get(e, 0) + k
        return 0
    if t is IntImm:
        return k * e.value if e.dtype == dtype else None
    if t is Add or t is Sub:
        a = _affine_sum(e.a, k, coefs, dtype)
        if a is None:
            return None
        b = _affine_sum(e.b, k if t is Add else -k, coefs, dtype)
        return None if b is None else a + b
    if t is Mul:
        if type(e.b) is IntImm and e.b.dtype == dtype:
            return _affine_sum(e.a, k * e.b.value, coefs, dtype)
        if type(e.a) is IntImm and e.a.dtype == dtype:
            return _affine_sum(e.b, k * e.a.value, coefs, dtype)
    return None


def _copy_stage(name: str, src: Buffer, dst: Buffer, region: BufferRegion) -> Stmt:
    loop_vars = [Var(f"ax{k}") for k in range(len(region.region))]
    ivs = tuple(IterVar(Range(IntImm(0, s.dtype), s), Var(f"v{k}", s.dtype), IterType.DATA_PAR)
                for k, s in enumerate(src.shape))
    idx = tuple(iv.var for iv in ivs)
    an = Analyzer()
    values = tuple(lv if isinstance(r.min, IntImm) and r.min.value == 0
                   else an.simplify(r.min + lv) for r, lv in zip(region.region, loop_vars,
                                                                strict=True))
    blk = Block(ivs, (point_region(src, idx),), (point_region(dst, idx),), name,
                BufferStore(dst, src[idx], idx))
    stmt: Stmt = BlockRealize(values, true(), blk)
    for lv, r in reversed(list(zip(loop_vars, region.region, strict=True))):
        stmt = For(lv, IntImm(0, lv.dtype), r.extent, ForKind.SERIAL, stmt)
    return stmt


class _Renamer(_BufferReplacer):
    """``functor.replace_buffers``, returning leaves at once (they hold no buffer)."""

    def visit_Var(self, n: Var) -> Var:
        return n

    def visit_IntImm(self, n: IntImm) -> IntImm:
        return n

    def visit_FloatImm(self, n: FloatImm) -> FloatImm:
        return n

    def visit_IterVar(self, n: IterVar) -> IterVar:
        d = n.dom
        if type(d.min) in _LEAVES and type(d.extent) in _LEAVES:
            return n  # a constant or variable domain holds no buffer
        return self.generic_visit(n)

    def visit_Range(self, n: Range) -> Range:
        if type(n.min) in _LEAVES and type(n.extent) in _LEAVES:
            return n
        return self.generic_visit(n)

    def visit_BinaryOp(self, n: BinaryOp) -> BinaryOp:
        if type(n.a) in _LEAVES and type(n.b) in _LEAVES:
            return n  # ``vy + vry``: index arithmetic of leaves holds no buffer
        return self.generic_visit(n)


_LEAVES = (IntImm, Var)


class _Rewriter(Mutator):
    def __init__(self, targets: set[int], bmap: dict[Buffer, Buffer], where: _Loc,
                 stage: Stmt):
        self.targets = targets
        self.bmap = bmap
        self.where = where
        self.stage = stage

    def visit_BlockRealize(self, r: BlockRealize) -> BlockRealize:
        if id(r.block) in self.targets:
            return _Renamer(self.bmap).visit(r) if self.bmap else r
        return r  # another block: its inside is another scope

    def visit_For(self, f: For) -> For:
        # only the body can hold blocks (the loop's min/extent are plain expressions)
        body = self.visit(f.body)
        new = f if body is f.body else with_fields(f, body=body)
        if f.loop_var is self.where[0]:
            new = with_fields(new, body=_insert(new.body, self.where[1], self.stage))
        return new


def _insert(body: Stmt, pos: int, stage: Stmt) -> Stmt:
    items = list(body.seq) if isinstance(body, SeqStmt) else [body]
    items.insert(pos, stage)
    return seq(*items)


def _rebuild(func: PrimFunc, scope: BlockRealize, targets: set[int],
             bmap: dict[Buffer, Buffer], where: _Loc, stage: Stmt, cache: Buffer) -> PrimFunc:
    rw = _Rewriter(targets, bmap, where, stage)
    sblk = scope.block
    body = rw.visit(sblk.body)
    if where[0] is None:
        body = _insert(body, where[1], stage)
    new_blk = with_fields(sblk, body=body, alloc_buffers=sblk.alloc_buffers + (cache,))
    sloc = index(func).block(sblk.name_hint)
    return replace(func, sloc, with_fields(scope, block=new_blk))
