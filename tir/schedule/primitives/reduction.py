"""decompose_reduction and rfactor: reshaping reduction blocks (TVM semantics)."""

from __future__ import annotations

from ...arith import Analyzer
from ...buffer import Buffer, BufferRegion
from ...expr import (
    Add,
    And,
    BufferLoad,
    FloatImm,
    IntImm,
    IterType,
    IterVar,
    Max,
    Min,
    Mul,
    PrimExpr,
    Range,
    Var,
)
from ...function import PrimFunc
from ...functor import collect_vars, pre_order_visit, substitute
from ...op import max_value, min_value
from ...stmt import Block, BlockRealize, BufferStore, For, ForKind, SeqStmt, Stmt, seq, true
from ...structural import structural_equal
from ..error import ScheduleError
from ..tree import free_vars, fresh_block_name, index, replace
from .block_common import (
    fresh_buffer_name,
    locate_block,
    locate_loop,
    reduction_block_error,
    scope_children,
    with_fields,
)
from .queries import child_realizes, scope_of

# ----------------------------------------------------------------------------------------
# decompose_reduction


def decompose_reduction(func: PrimFunc, block: str, loop: Var) -> tuple[PrimFunc, str]:
    """Split the init of reduction ``block`` into a block ``<block>_init`` placed right
    before ``loop``, under copies of the loops between ``loop`` (inclusive) and the block
    that its spatial iter vars are bound to. ``loop`` must be an ancestor of the block and
    outside every loop a reduction iter var is bound to.

    The update block keeps its name (TVM renames it ``<block>_update``; names are the
    identity of blocks here, so renaming would invalidate the caller's BlockRV); its init
    is dropped and its written regions are added to its reads.
    """
    prim = "decompose_reduction"
    loc = locate_block(func, block, prim)
    lloc = locate_loop(func, loop, prim)
    realize: BlockRealize = loc.stmt
    blk = realize.block
    loops = loc.loops()
    if lloc.stmt not in loops:
        raise ScheduleError(f"{prim}: loop {loop.name} is not an ancestor of block {block}")
    why = reduction_block_error(realize, scope_children(loc), loops)
    if why is not None:
        raise ScheduleError(f"{prim}: {why}")
    k_loop = loops.index(lloc.stmt)
    for iv, v in zip(blk.iter_vars, realize.iter_values, strict=True):
        if iv.iter_type != IterType.COMM_REDUCE:
            continue
        for f in loops[:k_loop]:
            if f.loop_var in free_vars(v):
                raise ScheduleError(
                    f"{prim}: loop {loop.name} must be outside every loop of block {block} "
                    f"bound to a reduction iter var, but loop {f.loop_var.name} above it binds "
                    f"{iv.var.name}"
                )
    bound: set[Var] = set()
    for v in realize.iter_values:
        bound |= collect_vars(v)
    for f in loops[k_loop:]:
        if f.loop_var not in bound and not (isinstance(f.extent, IntImm)
                                            and f.extent.value == 1):
            raise ScheduleError(
                f"{prim}: loop {f.loop_var.name} (at or under loop {loop.name}) is bound to no "
                f"iter var of block {block}, so the update would run {f.extent!r} times per "
                "init; decompose at a loop under it"
            )
    # every output element must be updated by one iteration of the loops at or under
    # ``loop`` per init: their map to the spatial iter vars must be injective (a fused
    # loop bound as ``f // 7`` would rerun the whole reduction 7 times onto one init)
    from ...arith import detect_iter_map
    from ...expr import Range

    spatial = [v for iv, v in zip(blk.iter_vars, realize.iter_values, strict=True)
               if iv.iter_type == IterType.DATA_PAR]
    under = {f.loop_var: Range(f.min, f.extent) for f in loops[k_loop:]
             if any(f.loop_var in free_vars(v) for v in spatial)}
    if under:
        used_vals = [v for v in spatial if any(x in under for x in free_vars(v))]
        if detect_iter_map(used_vals, under, realize.predicate, "bijective") is None:
            raise ScheduleError(
                f"{prim}: the spatial bindings of block {block} ({', '.join(map(str, used_vals))}) "
                f"do not map the loops at or under loop {loop.name} one-to-one onto output "
                "elements, so an element's update would run several times per init"
            )
    # the init block: spatial iter vars only
    vmap: dict[Var, PrimExpr] = {}
    ivs, values = [], []
    for iv, v in zip(blk.iter_vars, realize.iter_values, strict=True):
        if iv.iter_type != IterType.DATA_PAR:
            continue
        nv = Var(iv.var.name, iv.var.dtype)
        vmap[iv.var] = nv
        ivs.append(IterVar(iv.dom, nv, iv.iter_type, iv.thread_tag))
        values.append(v)
    name = fresh_block_name(func, f"{block}_init")
    init_blk = Block(tuple(ivs), (), tuple(substitute(w, vmap) for w in blk.writes), name,
                     substitute(blk.init, vmap), None, (), dict(blk.annotations))
    used: set[Var] = set()
    for v in values:
        used |= collect_vars(v)
    chosen = [f for f in loops[k_loop:] if f.loop_var in used]
    discarded = {f.loop_var for f in loops[k_loop:] if f.loop_var not in used}
    lmap = {f.loop_var: Var(f"{f.loop_var.name}_init", f.loop_var.dtype) for f in chosen}
    pred = _keep_conjuncts(realize.predicate, discarded)
    stmt: Stmt = BlockRealize(tuple(substitute(v, lmap) for v in values),
                              substitute(pred, lmap), init_blk)
    for f in reversed(chosen):
        stmt = For(lmap[f.loop_var], f.min, f.extent, f.kind, stmt, f.thread_binding)
    # the update block: no init, reads what it writes
    read_bufs = {r.buffer for r in blk.reads}
    reads = tuple(w for w in blk.writes if w.buffer not in read_bufs) + blk.reads
    upd = with_fields(realize, block=with_fields(blk, init=None, reads=reads))
    func = replace(func, loc, upd)
    lloc = index(func).loop(loop, prim)
    return replace(func, lloc, SeqStmt((stmt, lloc.stmt))), name


def _keep_conjuncts(pred: PrimExpr, dropped: set[Var]) -> PrimExpr:
    parts: list[PrimExpr] = []
    stack = [pred]
    while stack:
        p = stack.pop()
        if isinstance(p, And):
            stack += [p.b, p.a]
        elif not (isinstance(p, IntImm) and p.value):
            parts.append(p)
    kept = [p for p in parts if not (collect_vars(p) & dropped)]
    if not kept:
        return true()
    out = kept[0]
    for p in kept[1:]:
        out = out & p
    return out


# ----------------------------------------------------------------------------------------
# rfactor


_COMBINERS = {Add: "sum", Mul: "prod", Min: "min", Max: "max"}


def _identity(kind: str, dtype: str) -> PrimExpr:
    from ...expr import const

    if kind == "sum":
        return const(0, dtype)
    if kind == "prod":
        return const(1, dtype)
    return max_value(dtype) if kind == "min" else min_value(dtype)


def _is_identity(kind: str, e: PrimExpr) -> bool:
    ident = _identity(kind, e.dtype)
    if not isinstance(e, (IntImm, FloatImm)):
        return False
    if e.value == ident.value:
        return True
    return isinstance(e, FloatImm) and e.value == (float("inf") if kind == "min"
                                                   else float("-inf") if kind == "max"
                                                   else None)


def _combine(kind: str, a: PrimExpr, b: PrimExpr) -> PrimExpr:
    return {"sum": Add, "prod": Mul, "min": Min, "max": Max}[kind](a, b)


def _match_reducer(prim: str, blk: Block) -> tuple[str, BufferStore, PrimExpr]:
    """(combiner kind, the update store, the right-hand side combined into the buffer)."""
    init, upd = blk.init, blk.body
    bad = ScheduleError(
        f"{prim}: block {blk.name_hint} is not a recognized reduction: its init must store "
        "the identity and its body 'C[i] = op(C[i], x)' with op one of +, *, min, max into "
        "the same buffer and indices"
    )
    if not isinstance(init, BufferStore) or not isinstance(upd, BufferStore):
        raise bad
    if init.buffer is not upd.buffer or not all(
            structural_equal(a, b) for a, b in zip(init.indices, upd.indices, strict=True)):
        raise bad
    kind = _COMBINERS.get(type(upd.value))
    if kind is None:
        raise bad

    def is_self(e: PrimExpr) -> bool:
        return isinstance(e, BufferLoad) and e.buffer is upd.buffer and all(
            structural_equal(a, b) for a, b in zip(e.indices, upd.indices, strict=True))

    a, b = upd.value.a, upd.value.b
    if is_self(a):
        rhs = b
    elif is_self(b):
        rhs = a
    else:
        raise bad
    if not _is_identity(kind, init.value):
        raise ScheduleError(f"{prim}: the init of block {blk.name_hint} stores {init.value!r}, "
                            f"not the identity of its {kind} reduction")
    return kind, upd, rhs


def rfactor(func: PrimFunc, loop: Var, factor_axis: int) -> tuple[PrimFunc, str]:
    """Factor the reduction over ``loop`` into an intermediate block ``<block>_rf`` that
    reduces into a new buffer ``<buffer>_rf`` with an extra dimension (``loop``'s extent) at
    ``factor_axis``; the original block then reduces that buffer over the new axis.

    ``loop`` must be a serial loop holding a single reduction block and be bound only to
    its reduction iter vars. The rf block runs under copies of all the original loops; the
    write-back block keeps the original loops that are spatial or ``loop`` itself.
    Returns the new function and the name of the rf block.
    """
    prim = "rfactor"
    lloc = locate_loop(func, loop, prim)
    rf_loop: For = lloc.stmt
    inner = child_realizes(rf_loop)
    if len(inner) != 1:
        raise ScheduleError(f"{prim}: loop {loop.name} must hold exactly one block; it holds "
                            f"{[r.block.name_hint for r in inner]}")
    bname = inner[0].block.name_hint
    loc = locate_block(func, bname, prim)
    realize: BlockRealize = loc.stmt
    blk = realize.block
    loops = loc.loops()
    why = reduction_block_error(realize, scope_children(loc), loops)
    if why is not None:
        raise ScheduleError(f"{prim}: {why}")
    if rf_loop.kind != ForKind.SERIAL:
        raise ScheduleError(f"{prim}: loop {loop.name} is {rf_loop.kind.name.lower()}; only a "
                            "serial loop can be rfactored")
    sp_vars: set[Var] = set()
    red_vars: set[Var] = set()
    for iv, v in zip(blk.iter_vars, realize.iter_values, strict=True):
        (sp_vars if iv.iter_type == IterType.DATA_PAR else red_vars).update(collect_vars(v))
    _check_loops(prim, loops, rf_loop, blk, sp_vars, red_vars)
    kind, upd, rhs = _match_reducer(prim, blk)
    buf = upd.buffer
    ndim = len(buf.shape)
    if isinstance(factor_axis, bool) or not isinstance(factor_axis, int) or \
            not -(ndim + 1) <= factor_axis <= ndim:
        raise ScheduleError(f"{prim}: factor_axis {factor_axis!r} is out of range: buffer "
                            f"{buf.name} has {ndim} dimension(s), so it must be in "
                            f"[{-(ndim + 1)}, {ndim}]")
    fa = factor_axis + ndim + 1 if factor_axis < 0 else factor_axis
    shape = list(buf.shape)
    shape.insert(fa, rf_loop.extent)
    rf_buf = Buffer(fresh_buffer_name(func, f"{buf.name}_rf"), tuple(shape), buf.dtype,
                    buf.scope)
    rf_name = fresh_block_name(func, f"{bname}_rf")
    rf_realize, rf_var, rf_idx = _rf_block(realize, rf_loop, loops, kind, upd, rhs, rf_buf, fa,
                                           rf_name)
    removed = {f.loop_var: Range(f.min, f.extent) for f in loops
               if f is not rf_loop and f.loop_var in red_vars}
    wb_pred = _wb_predicate(prim, realize.predicate, removed)
    wb_realize = _wb_block(realize, rf_loop, kind, upd, rf_buf, rf_var, rf_idx, wb_pred)
    # the rf block under copies of every loop
    lmap = {f.loop_var: Var(f.loop_var.name, f.loop_var.dtype) for f in loops}
    rf_stmt: Stmt = with_fields(rf_realize,
                                iter_values=tuple(substitute(v, lmap)
                                                  for v in rf_realize.iter_values),
                                predicate=substitute(rf_realize.predicate, lmap))
    for f in reversed(loops):
        rf_stmt = with_fields(f, loop_var=lmap[f.loop_var], body=rf_stmt)
    # the write-back block under the spatial loops and the rf loop
    loop_set = {f.loop_var for f in loops}

    def rebuild(s: Stmt) -> Stmt:
        if isinstance(s, For) and s.loop_var in loop_set:
            body = rebuild(s.body)
            if s is rf_loop or s.loop_var not in red_vars:
                return with_fields(s, body=body)
            return body
        if isinstance(s, BlockRealize):
            return wb_realize if s is realize else s
        if isinstance(s, SeqStmt):
            return seq(*(rebuild(c) for c in s.seq))
        return s

    top = loops[0]
    wb_stmt = rebuild(top)
    scope = scope_of(loc)
    top_loc = index(func).loop(top.loop_var)
    func = replace(func, top_loc, SeqStmt((rf_stmt, wb_stmt)))
    sloc = index(func).block(scope.block.name_hint)
    sblk = sloc.stmt.block
    sblk = with_fields(sblk, alloc_buffers=sblk.alloc_buffers + (rf_buf,))
    return replace(func, sloc, with_fields(sloc.stmt, block=sblk)), rf_name


def _check_loops(prim: str, loops: list[For], rf_loop: For, blk: Block, sp_vars: set[Var],
                 red_vars: set[Var]) -> None:
    first = child_realizes(loops[0])
    if not first or first[0].block is not blk:
        raise ScheduleError(f"{prim}: block {blk.name_hint} must be the first block under its "
                            f"outermost loop {loops[0].loop_var.name}")
    seen_red = False
    for f in loops:
        v = f.loop_var
        dp, red = v in sp_vars, v in red_vars
        if dp and red:
            raise ScheduleError(f"{prim}: loop {v.name} is bound to both spatial and reduction "
                                f"iter vars of block {blk.name_hint}")
        if dp:
            if f is rf_loop:
                raise ScheduleError(
                    f"{prim}: loop {v.name} is bound to a spatial iter var of block "
                    f"{blk.name_hint}; only a reduction loop can be rfactored")
        elif red:
            if not seen_red and len(child_realizes(f)) != 1:
                raise ScheduleError(f"{prim}: the outermost reduction loop {v.name} must hold "
                                    f"only block {blk.name_hint}")
            seen_red = True
        elif seen_red and not (isinstance(f.extent, IntImm) and f.extent.value == 1):
            raise ScheduleError(f"{prim}: loop {v.name} is bound to no iter var of block "
                                f"{blk.name_hint} but lies under a reduction loop")
    if rf_loop.loop_var not in red_vars:
        raise ScheduleError(f"{prim}: loop {rf_loop.loop_var.name} is bound to no reduction "
                            f"iter var of block {blk.name_hint}")


def _loop_vars_in_order(e: PrimExpr, loop_vars: set[Var]) -> list[Var]:
    out: list[Var] = []

    def f(n) -> None:
        if isinstance(n, Var) and n in loop_vars and n not in out:
            out.append(n)

    pre_order_visit(e, f)
    return out


def _rf_block(realize: BlockRealize, rf_loop: For, loops: list[For], kind: str,
              upd: BufferStore, rhs: PrimExpr, rf_buf: Buffer, fa: int, name: str):
    blk = realize.block
    rv = rf_loop.loop_var
    add = IterVar(Range(rf_loop.min, rf_loop.extent), Var(f"v{rv.name}", rv.dtype),
                  IterType.DATA_PAR)
    ivs: list[IterVar] = [add]
    values: list[PrimExpr] = [rv]
    loop2iter: dict[Var, PrimExpr] = {rv: add.var}
    by_var = {f.loop_var: f for f in loops}
    vmap: dict[Var, PrimExpr] = {}
    for iv, v in zip(blk.iter_vars, realize.iter_values, strict=True):
        if iv.iter_type == IterType.DATA_PAR or rv not in free_vars(v):
            ivs.append(iv)
            values.append(v)
            continue
        for lv in _loop_vars_in_order(v, set(by_var)):
            if lv not in loop2iter:
                f = by_var[lv]
                niv = IterVar(Range(f.min, f.extent), Var(f"v{lv.name}", lv.dtype),
                              IterType.COMM_REDUCE)
                loop2iter[lv] = niv.var
                ivs.append(niv)
                values.append(lv)
        vmap[iv.var] = substitute(v, loop2iter)
    idx = list(upd.indices)
    idx.insert(fa, add.var)
    idx_t = tuple(idx)
    body = BufferStore(rf_buf, _combine(kind, BufferLoad(rf_buf, idx_t), rhs), idx_t)
    body = substitute(body, vmap)
    init = substitute(BufferStore(rf_buf, _identity(kind, rf_buf.dtype), idx_t), vmap)

    def regions(regs: tuple[BufferRegion, ...]) -> tuple[BufferRegion, ...]:
        out = []
        for r in regs:
            if r.buffer is upd.buffer:
                rg = list(r.region)
                rg.insert(fa, Range(add.var, IntImm(1, add.var.dtype)))
                r = BufferRegion(rf_buf, tuple(rg))
            out.append(substitute(r, vmap))
        return tuple(out)

    new = Block(tuple(ivs), regions(blk.reads), regions(blk.writes), name, body, init, (),
                dict(blk.annotations))
    rf_idx = tuple(substitute(i, vmap) for i in idx_t)
    return BlockRealize(tuple(values), realize.predicate, new), add.var, rf_idx


def _wb_block(realize: BlockRealize, rf_loop: For, kind: str, upd: BufferStore,
              rf_buf: Buffer, rf_var: Var, rf_idx: tuple[PrimExpr, ...],
              pred: PrimExpr) -> BlockRealize:
    blk = realize.block
    rv = rf_loop.loop_var
    red = IterVar(Range(rf_loop.min, rf_loop.extent), Var(f"v{rv.name}", rv.dtype),
                  IterType.COMM_REDUCE)
    ivs: list[IterVar] = [red]
    values: list[PrimExpr] = [rv]
    vmap: dict[Var, PrimExpr] = {rf_var: red.var}
    for iv, v in zip(blk.iter_vars, realize.iter_values, strict=True):
        if iv.iter_type == IterType.DATA_PAR:
            nv = Var(iv.var.name, iv.var.dtype)
            ivs.append(IterVar(iv.dom, nv, IterType.DATA_PAR, iv.thread_tag))
            values.append(v)
            vmap[iv.var] = nv
    idx = tuple(substitute(i, vmap) for i in upd.indices)
    ridx = tuple(substitute(i, vmap) for i in rf_idx)
    lhs, rload = BufferLoad(upd.buffer, idx), BufferLoad(rf_buf, ridx)
    an = Analyzer()

    def point(buf: Buffer, ix: tuple[PrimExpr, ...]) -> BufferRegion:
        return BufferRegion(buf, tuple(Range(an.simplify(i), IntImm(1, i.dtype)) for i in ix))

    new = Block(tuple(ivs), (point(rf_buf, ridx),), (point(upd.buffer, idx),), blk.name_hint,
                BufferStore(upd.buffer, _combine(kind, lhs, rload), idx),
                BufferStore(upd.buffer, _identity(kind, upd.buffer.dtype), idx), (),
                dict(blk.annotations))
    return BlockRealize(tuple(values), pred, new)


def _wb_predicate(prim: str, pred: PrimExpr, removed: dict[Var, Range]) -> PrimExpr:
    """The write-back's predicate: an rf entry exists iff some iteration of the removed
    reduction loops passed the original predicate (TVM leaves the write-back unpredicated,
    which reads never-initialized entries after a non-divisible split)."""
    from ...expr import LE, LT

    an = Analyzer()
    parts: list[PrimExpr] = []
    stack = [pred]
    while stack:
        p = stack.pop()
        if isinstance(p, And):
            stack += [p.b, p.a]
        elif not (isinstance(p, IntImm) and p.value):
            parts.append(p)
    out: list[PrimExpr] = []
    for p in parts:
        vs = collect_vars(p)
        if not vs & set(removed):
            out.append(p)
            continue
        if not isinstance(p, (LT, LE)) or collect_vars(p.b) & set(removed):
            raise ScheduleError(f"{prim}: cannot rfactor under the predicate {p!r}")
        lo = an.int_set(p.a, {v: r for v, r in removed.items() if v in vs}).min
        if lo is None:
            raise ScheduleError(f"{prim}: cannot rfactor under the predicate {p!r}")
        relaxed = type(p)(lo, p.b)
        if collect_vars(relaxed):  # still depends on kept loops: keep the relaxed condition
            out.append(relaxed)
        elif not an.can_prove(relaxed):
            raise ScheduleError(f"{prim}: the predicate {p!r} of the block is never true")
    if not out:
        return true()
    res = out[0]
    for p in out[1:]:
        res = res & p
    return res
