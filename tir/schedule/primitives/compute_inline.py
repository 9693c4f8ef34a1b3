"""compute_inline / reverse_compute_inline: fold an elementwise block into its neighbours."""

from __future__ import annotations

from ...arith import Analyzer
from ...arith.iter_map import detect_iter_map
from ...buffer import Buffer
from ...expr import BufferLoad, IntImm, PrimExpr, Range, Var
from ...function import PrimFunc
from ...functor import Mutator, collect_vars, post_order_visit, substitute
from ...stmt import Block, BlockRealize, BufferStore, For, Stmt
from ..error import ScheduleError
from ..index_map import inverse_affine
from ..tree import Located, index, replace, stmt_children
from .block_common import (
    collect_accesses,
    complete_block_error,
    is_output_block,
    leaf_removal_point,
    locate_block,
    merge_regions,
    readers,
    refresh_reads,
    remove_leaf,
    scope_block,
    scope_children,
    with_fields,
    writers,
)


def _store_pattern(block: Block, prim: str) -> BufferStore:
    if not isinstance(block.body, BufferStore):
        raise ScheduleError(
            f"{prim}: the body of block {block.name_hint} is a {type(block.body).__name__}, "
            "not a single buffer store 'B[...] = f(...)'"
        )
    return block.body


# ----------------------------------------------------------------------------------------
# compute_inline


class _Inliner(Mutator):
    """Replace loads of ``buf`` by ``value`` with the index placeholders substituted."""

    def __init__(self, buf: Buffer, idx_vars: tuple[Var, ...], value: PrimExpr):
        self.buf = buf
        self.idx_vars = idx_vars
        self.value = value

    def visit_BufferLoad(self, n: BufferLoad) -> PrimExpr:
        n = self.generic_visit(n)
        if n.buffer is not self.buf:
            return n
        return substitute(self.value, dict(zip(self.idx_vars, n.indices, strict=True)))

    def visit_Block(self, b: Block) -> Block:
        if not any(r.buffer is self.buf for r in b.reads) and not _has_nested_block(b):
            return b  # a leaf block that does not read the buffer: nothing to inline
        new = self.generic_visit(b)
        if new is b:
            return b
        return refresh_reads(new, drop=(self.buf,))

    def visit_For(self, f: For) -> For:
        if type(f.min) not in _LEAVES or type(f.extent) not in _LEAVES:
            return self.generic_visit(f)
        body = self.visit(f.body)  # constant or plain-variable bounds load nothing
        return f if body is f.body else with_fields(f, body=body)


_LEAVES = (IntImm, Var)


def _has_nested_block(b: Block) -> bool:
    """Does the body (or init) of ``b`` hold a BlockRealize? (statements only)"""
    stack: list[Stmt] = [b.body] if b.init is None else [b.init, b.body]
    while stack:
        s = stack.pop()
        if isinstance(s, BlockRealize):
            return True
        stack.extend(stmt_children(s))
    return False


def _inline_pattern(block: Block, prim: str) -> tuple[Buffer, tuple[Var, ...], PrimExpr]:
    """The stored buffer, index placeholders and the value in terms of them."""
    store = _store_pattern(block, prim)
    ivars = [iv.var for iv in block.iter_vars]
    if len(store.indices) == len(ivars) and all(
            i is v for i, v in zip(store.indices, ivars, strict=True)):
        return store.buffer, tuple(ivars), store.value
    # a bijective affine store index: invert it
    doms = {iv.var: iv.dom for iv in block.iter_vars}
    res = detect_iter_map(store.indices, doms, True, "bijective")
    if res is None:
        raise ScheduleError(
            f"{prim}: block {block.name_hint} stores {store.buffer.name} at indices that are "
            "not a bijective affine map of its iter vars; the body must be "
            "'B[f(i, j, ...)] = g(i, j, ...)' with f bijective"
        )
    ph = tuple(Var(f"ph_{k}", i.dtype) for k, i in enumerate(store.indices))
    inv = inverse_affine(res, ph, doms)
    return store.buffer, ph, substitute(store.value, inv)


def compute_inline(func: PrimFunc, block: str) -> PrimFunc:
    """Inline the block ``block`` into every block that reads its buffer.

    The block must be a complete (spatial, only-writer) block whose body is one store
    ``B[v0, v1, ...] = f(v0, v1, ...)`` (a bijective affine index is accepted too) and
    ``B`` must not be an output of the scope. Each load ``B[e0, e1, ...]`` becomes
    ``f(e0, e1, ...)``; the block, the loops that held only it and ``B``'s allocation go.
    """
    prim = "compute_inline"
    loc, buf, idx_vars, value = _check_inline(func, block, prim)
    func = remove_leaf(func, loc, prim)
    scope_loc = _scope_loc(func, loc)
    root = scope_loc.stmt
    inl = _Inliner(buf, idx_vars, value)
    new_body = inl.visit(root.block.body)
    allocs = tuple(b for b in root.block.alloc_buffers if b is not buf)
    new_block = with_fields(root.block, body=new_body, alloc_buffers=allocs)
    return replace(func, scope_loc, with_fields(root, block=new_block))


def _check_inline(func: PrimFunc, block: str, prim: str
                  ) -> tuple[Located, Buffer, tuple[Var, ...], PrimExpr]:
    """The conditions of compute_inline (ScheduleError if one fails): the block's location,
    the buffer it stores, the index placeholders and the stored value in terms of them."""
    loc = locate_block(func, block, prim)
    blk = loc.stmt.block
    if blk.init is not None:
        raise ScheduleError(f"{prim}: block {block} has an init statement (it is a reduction "
                            "block); only a complete spatial block can be inlined")
    if len(blk.writes) != 1:
        raise ScheduleError(f"{prim}: block {block} writes {len(blk.writes)} buffers; an "
                            "inlined block must write exactly one")
    scope = scope_block(loc)
    children = scope_children(loc)
    buf = blk.writes[0].buffer
    if is_output_block(blk, scope):
        raise ScheduleError(f"{prim}: block {block} writes {buf.name}, an output of its scope "
                            "(a function parameter); an output block cannot be inlined")
    why = complete_block_error(blk, children)
    if why is not None:
        raise ScheduleError(f"{prim}: {why}")
    _, idx_vars, value = _inline_pattern(blk, prim)
    used = collect_vars(value) - set(idx_vars)
    own = {iv.var for iv in blk.iter_vars}
    if used & own:
        names = sorted(v.name for v in used & own)
        raise ScheduleError(f"{prim}: the value of block {block} uses iter vars {names} that "
                            "do not index the stored buffer")
    self_loads: list[BufferLoad] = []
    post_order_visit(value, lambda n: self_loads.append(n)
                     if isinstance(n, BufferLoad) and n.buffer is buf else None)
    if self_loads:
        raise ScheduleError(f"{prim}: block {block} reads {buf.name}, the buffer it writes")
    leaf_removal_point(loc, prim)  # the block must not be the only statement of its scope
    return loc, buf, idx_vars, value


def _scope_loc(func: PrimFunc, old_loc):
    """The (re-located) BlockRealize of the scope that held ``old_loc`` before a rebuild."""
    for a in reversed(old_loc.ancestors):
        if isinstance(a, BlockRealize):
            return index(func).block(a.block.name_hint)
    raise ScheduleError("internal: block outside any scope")


def can_compute_inline(func: PrimFunc, block: str) -> bool:
    """True if :func:`compute_inline` would succeed (its conditions are checked without
    rewriting the function)."""
    try:
        _check_inline(func, block, "compute_inline")
    except ScheduleError:
        return False
    return True


# ----------------------------------------------------------------------------------------
# reverse_compute_inline


def reverse_compute_inline(func: PrimFunc, block: str) -> PrimFunc:
    """Inline the consumer block ``block`` into the single block producing what it reads.

    The consumer must be a complete block whose body is one store ``C[g(v)] = h(B[f(v)],
    ...)``, reading exactly one buffer ``B`` written inside the scope, every load of ``B``
    at the same indices ``f(v)``, an injective affine map of its iter vars; ``B``'s
    producer must be a complete block (not an output) that ``block`` is the only reader
    of. The producer then stores ``h`` directly into ``C``; ``B`` disappears. If the
    consumer covers only part of ``B``, the producer gets a predicate.
    """
    prim = "reverse_compute_inline"
    loc = locate_block(func, block, prim)
    realize: BlockRealize = loc.stmt
    blk = realize.block
    if blk.init is not None:
        raise ScheduleError(f"{prim}: block {block} has an init statement (it is a reduction "
                            "block); only a complete spatial block can be inlined")
    scope = scope_block(loc)
    children = scope_children(loc)
    written_in_scope = [r.buffer for r in blk.reads if writers(children, r.buffer)]
    cands = list(dict.fromkeys(written_in_scope))
    if len(cands) != 1:
        raise ScheduleError(
            f"{prim}: block {block} must read exactly one buffer produced in its scope; it "
            f"reads {[b.name for b in cands]}"
        )
    buf = cands[0]
    why = complete_block_error(blk, children)
    if why is not None:
        raise ScheduleError(f"{prim}: {why}")
    producers = writers(children, buf)
    if len(producers) != 1:
        raise ScheduleError(
            f"{prim}: the consumer block {block} must have a single producer of {buf.name}; "
            f"it is written by {[b.name_hint for b in producers]}"
        )
    prod_realize = next(r for r in children if r.block is producers[0])
    prod = prod_realize.block
    why = complete_block_error(prod, children)
    if why is not None:
        raise ScheduleError(f"{prim}: the producer of {buf.name} must be a complete block, "
                            f"but {why}")
    if is_output_block(prod, scope):
        raise ScheduleError(f"{prim}: the producer {prod.name_hint} writes {buf.name}, an "
                            "output of its scope; it cannot absorb a consumer")
    others = [b.name_hint for b in readers(children, buf) if b is not blk]
    if others:
        raise ScheduleError(f"{prim}: {buf.name} is also read by {others}; the producer "
                            f"{prod.name_hint} must have {block} as its only consumer")
    store = _store_pattern(blk, prim)
    if not (isinstance(realize.predicate, IntImm) and realize.predicate.value):
        raise ScheduleError(f"{prim}: block {block} has a predicate; it cannot be inlined")
    loads: list[BufferLoad] = []
    for e in (*store.indices, store.value):
        post_order_visit(e, lambda n: loads.append(n)
                         if isinstance(n, BufferLoad) and n.buffer is buf else None)
    from ...structural import structural_equal

    if not loads or any(not all(structural_equal(a, b) for a, b in zip(
            ld.indices, loads[0].indices, strict=True)) for ld in loads):
        raise ScheduleError(f"{prim}: block {block} must load {buf.name} at one index tuple "
                            "everywhere")
    doms = {iv.var: iv.dom for iv in blk.iter_vars}
    res = detect_iter_map(loads[0].indices, doms, True, "bijective")
    if res is None:
        raise ScheduleError(
            f"{prim}: block {block} loads {buf.name} at indices that are not an injective "
            "affine map of its iter vars (every iter var must be recoverable from them)"
        )
    p_store = _store_pattern(prod, prim)
    # consumer iter var -> expression of the producer's store indices
    inv = inverse_affine(res, p_store.indices, doms)
    for iv in blk.iter_vars:
        if _is_unit(iv.dom):
            inv.setdefault(iv.var, iv.dom.min)
    new_value = _ReplaceLoads(buf, p_store.value).visit(substitute(store.value, inv))
    new_idx = tuple(substitute(i, inv) for i in store.indices)
    new_store = BufferStore(store.buffer, new_value, new_idx)
    pred = _coverage_predicate(prod_realize, blk, inv, prim)
    new_prod = with_fields(prod, body=new_store)
    reads, writes = collect_accesses(new_prod)
    written = set(writes)
    new_prod = with_fields(
        new_prod,
        reads=merge_regions((r for r in prod.reads if r.buffer not in written),
                            {b: r for b, r in reads.items() if b not in written}),
        writes=tuple(writes[b] for b in writes),
    )
    new_realize = with_fields(prod_realize, block=new_prod, predicate=pred)
    func = remove_leaf(func, loc, prim)
    ploc = index(func).block(prod.name_hint)
    func = replace(func, ploc, new_realize)
    sloc = _scope_loc(func, ploc)
    sblk = sloc.stmt.block
    sblk = with_fields(sblk, alloc_buffers=tuple(b for b in sblk.alloc_buffers if b is not buf))
    return replace(func, sloc, with_fields(sloc.stmt, block=sblk))


def _is_unit(dom: Range) -> bool:
    return isinstance(dom.extent, IntImm) and dom.extent.value == 1


class _ReplaceLoads(Mutator):
    def __init__(self, buf: Buffer, value: PrimExpr):
        self.buf = buf
        self.value = value

    def visit_BufferLoad(self, n: BufferLoad) -> PrimExpr:
        n = self.generic_visit(n)
        return self.value if n.buffer is self.buf else n


def _coverage_predicate(prod_realize: BlockRealize, cons: Block, inv: dict, prim: str):
    """The producer's predicate, conjoined with ``consumer iter var in its domain`` when
    the producer's iterations reach past the consumer's domain."""
    prod = prod_realize.block
    an = Analyzer()
    for iv in prod.iter_vars:
        an.bind(iv.var, iv.dom)
    conds = []
    for iv in cons.iter_vars:
        e = inv.get(iv.var)
        if e is None:
            raise ScheduleError(f"{prim}: iter var {iv.var.name} of block {cons.name_hint} "
                                "cannot be recovered from the producer's indices")
        lo = iv.dom.min
        hi = iv.dom.min + iv.dom.extent
        s = an.int_set(e)
        if s.min is None or s.max is None:
            raise ScheduleError(f"{prim}: cannot bound {iv.var.name} over the producer")
        if an.can_prove(s.min > lo) or an.can_prove(s.max < hi - 1):
            raise ScheduleError(
                f"{prim}: the producer {prod.name_hint} does not cover the domain of iter var "
                f"{iv.var.name} of block {cons.name_hint}"
            )
        if not an.can_prove(s.min >= lo):
            conds.append(e >= lo)
        if not an.can_prove(s.max < hi):
            conds.append(e < hi)
    pred = prod_realize.predicate
    if not conds:
        return pred
    sub = dict(zip((iv.var for iv in prod.iter_vars), prod_realize.iter_values, strict=True))
    out = None
    for c in conds:
        c = substitute(c, sub)
        out = c if out is None else out & c
    if isinstance(pred, IntImm) and pred.value:
        return Analyzer().simplify(out)
    return Analyzer().simplify(pred & out)


__all__ = ["can_compute_inline", "compute_inline", "reverse_compute_inline"]
