"""Block facts and small schedule steps shared by the default schedules
(:mod:`.default_schedule`, :mod:`.dense_schedule`, :mod:`.packed_schedule`).

:func:`_facts` reads what the planners decide from: a block's spatial and reduction
iteration variables with their extents, its loads, its store's indices and dtype, and
whether its loops bind its variables one to one. The rest are questions about a block's
accesses (:func:`_pointwise`, :func:`_coef`, ...) and steps every tile takes (its epilogue
block, vectorizing an innermost loop, the parallel prefix of a loop nest).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from onnxtune.tir.expr import Add, BufferLoad, IntImm, IterType, Mul, PrimExpr, Sub, Var
from onnxtune.tir.functor import collect_vars, post_order_visit
from onnxtune.tir.schedule import Schedule
from onnxtune.tir.schedule.tree import find_block
from onnxtune.tir.stmt import Block, BlockRealize


@dataclass
class _Facts:
    name: str
    realize: BlockRealize
    block: Block
    spatial: list[tuple[Var, int]]  # (iter var, extent), in order
    reduce: list[tuple[Var, int]]
    trivial: bool  # every iter var bound to its own loop, in order, same extents
    loads: list[BufferLoad]  # of the inputs (the accumulator's own reads left out)
    out_indices: tuple[PrimExpr, ...]
    out_dtype: str

    @property
    def is_reduction(self) -> bool:
        return bool(self.reduce)


def _const(e: PrimExpr) -> int | None:
    v = getattr(e, "value", None)
    return v if isinstance(v, int) else None


def _facts(sch: Schedule, name: str) -> _Facts | None:
    loc = find_block(sch.func, name)
    realize = loc.stmt
    if not isinstance(realize, BlockRealize):
        return None
    block = realize.block
    spatial, reduce = [], []
    for iv in block.iter_vars:
        ext = _const(iv.dom.extent)
        if ext is None or _const(iv.dom.min) != 0:
            return None
        if iv.iter_type == IterType.DATA_PAR:
            spatial.append((iv.var, ext))
        elif iv.iter_type == IterType.COMM_REDUCE:
            reduce.append((iv.var, ext))
        else:
            return None
    loops = loc.loops()
    trivial = len(loops) == len(block.iter_vars) and all(
        value is lp.loop_var and _const(lp.extent) == _const(iv.dom.extent)
        for value, lp, iv in zip(realize.iter_values, loops, block.iter_vars, strict=True)
    )
    loads: list[BufferLoad] = []
    post_order_visit(block.body, lambda n: loads.append(n) if isinstance(n, BufferLoad) else None)
    if len(block.writes) != 1:
        return None
    store = _the_store(block)
    if store is None:
        return None
    loads = [ld for ld in loads if ld.buffer is not store.buffer]  # not the accumulator
    return _Facts(name, realize, block, spatial, reduce, trivial, loads, store.indices,
                  store.buffer.dtype)


def _the_store(block: Block):
    from onnxtune.tir.stmt import BufferStore

    stores: list[BufferStore] = []
    post_order_visit(block.body, lambda n: stores.append(n) if isinstance(n, BufferStore)
                     else None)
    return stores[0] if len(stores) == 1 else None


def _divisor_at_most(n: int, cap: int) -> int:
    for d in range(min(n, cap), 0, -1):
        if n % d == 0:
            return d
    return 1


def _reads_along_last_axis(s: Schedule, blk) -> bool:
    """``blk`` stores one value and loads, besides its producer's output, a buffer whose
    last index moves with the store's last index."""
    block = s.get(blk)
    store = _the_store(block)
    if store is None or not store.indices:
        return False
    last = collect_vars(store.indices[-1])
    producers = {w.buffer for p in s.get_producers(blk) for w in s.get(p).writes}
    loads: list[BufferLoad] = []
    post_order_visit(block.body,
                     lambda n: loads.append(n) if isinstance(n, BufferLoad) else None)
    return any(ld.buffer not in producers and ld.indices
               and collect_vars(ld.indices[-1]) & last for ld in loads)


def _pointwise(f: _Facts, widx: int) -> bool:
    """An image-like output (channels and two more axes) and no reduction variable
    indexing the other inputs alongside a spatial one (no sliding window: a 1x1
    convolution)."""
    wbuf = f.block.reads[widx].buffer
    rvars = {v for v, e in f.reduce if e > 1}
    svars = {v for v, e in f.spatial if e > 1}
    if len(svars) < 3:  # an image's rows and columns besides the channels
        return False
    for ld in f.loads:
        if ld.buffer is wbuf:
            continue
        for idx in ld.indices:
            used = collect_vars(idx)
            if used & rvars and used & svars:
                return False
    return True


def _uses(ld: BufferLoad, var: Var) -> bool:
    return any(var in collect_vars(i) for i in ld.indices)


def _coef(e: PrimExpr, v: Var) -> int | None:
    """The constant coefficient of ``v`` in ``e`` when ``e`` is linear in it, else None."""
    if e is v:
        return 1
    if isinstance(e, IntImm):
        return 0
    if isinstance(e, Add | Sub):
        a, b = _coef(e.a, v), _coef(e.b, v)
        if a is None or b is None:
            return None
        return a + b if isinstance(e, Add) else a - b
    if isinstance(e, Mul):
        for x, k in ((e.a, e.b), (e.b, e.a)):
            if isinstance(k, IntImm):
                c = _coef(x, v)
                return None if c is None else c * k.value
    return 0 if v not in collect_vars(e) else None


def _prod(xs: list[int]) -> int:
    out = 1
    for x in xs:
        out *= x
    return out


def _epilogue_of(s: Schedule, blk, out_buf):
    """The block a tile's results go through: a local cache_write when ``blk`` writes a
    function output itself, else its only consumer (None when it has several)."""
    if out_buf in set(s.func.params):
        return s.cache_write(blk, 0, "local")
    consumers = s.get_consumers(blk)
    return consumers[0] if len(consumers) == 1 else None


def _vectorize_inner(s: Schedule, blk, v: int, split: bool = False) -> None:
    """Vectorize the innermost loop of ``blk`` by ``v`` lanes when that divides it (with
    ``split``: whenever it is longer, the last vector partial)."""
    loops = s.get_loops(blk)
    if not loops:
        return
    inner = loops[-1]
    ext = _const(s.get(inner).extent)
    if ext is None or ext < 2:
        return
    if ext == v or (split and ext < v):
        s.vectorize(inner)
    elif ext % v == 0 or (split and ext > v):
        _, i = s.split(inner, [None, v])
        s.vectorize(i)


def _deinterleave(s: Schedule, f: _Facts, vvar: Var, rvar: Var) -> None:
    """An intermediate that the tile reads along its last axis with a constant stride ``k``
    in the vectorized variable (a strided convolution's padded input), shared by the
    tile's rows (independent of ``rvar``), is stored de-interleaved, ``[..., x] ->
    [..., x % k, x // k]``: each vector load is then contiguous instead of a wide load and
    shuffles. (A per-row input — a depthwise convolution's — is left alone: loaded once
    per multiply-add, the copy's scattered stores would cost more than they save.)"""
    params = set(s.func.params)
    done = set()
    for ld in f.loads:
        buf = ld.buffer
        if buf in params or buf in done or not ld.indices or _uses(ld, rvar):
            continue
        k = _coef(ld.indices[-1], vvar)
        if k is None or k < 2 or k > 4:
            continue
        writers = [b for b in s.get_producers(s.get_block(f.name))
                   if any(w.buffer is buf for w in s.get(b).writes)]
        if len(writers) != 1:
            continue
        s.transform_layout(writers[0], ("write", 0),
                           lambda *ix, k=k: (*ix[:-1], ix[-1] % k, ix[-1] // k))
        done.add(buf)


def _rfactor_lanes(s: Schedule, f: _Facts, lanes: int):
    """A reduction over one innermost axis of extent n: split it ``[n / d, d]`` (d a
    divisor of n up to the vector width, a power of two if possible, at least 4) and
    ``rfactor`` the ``d`` part — d partial results computed side by side (one vector),
    combined after the loop. Returns (the rfactor block, d), or None."""
    if len(f.reduce) != 1:
        return None
    ext = f.reduce[0][1]
    d = lanes
    while d > 1 and ext % d:
        d //= 2
    if d < 4:
        d = _divisor_at_most(ext, lanes)
    if d < 4 or ext < 2 * d:
        return None
    loops = s.get_loops(s.get_block(f.name))
    _, ki = s.split(loops[-1], [None, d])
    return s.rfactor(ki, len(f.spatial)), d


def _constant_params(func: Any) -> frozenset:
    """The parameters of ``func`` its ``layout_free_buffers`` attr marks (constant
    weights: a layout rewrite of them runs once, at compile time)."""
    params = list(func.params)
    return frozenset(params[i] for i in func.attrs.get("layout_free_buffers", ())
                     if 0 <= i < len(params))


def _parallel_loops(s: Schedule, loops: list, threads: int, chunks: int) -> list:
    """The leading ``loops`` (leading unit ones skipped) until there are enough iterations
    for every thread (``chunks`` each): what :func:`_parallel_prefix` fuses."""
    take, prod = [], 1
    for lp in loops:
        ext = _const(s.get(lp).extent) or 1
        if ext == 1 and not take:
            continue  # fusing a unit loop in adds nothing but a `fused % n` to every index
        take.append(lp)
        prod *= ext
        if prod >= threads * chunks:
            break
    return take


def _parallel_prefix(s: Schedule, loops: list, threads: int, chunks: int):
    """Fuse the leading loops until there are enough iterations for every thread
    (``chunks`` each), then mark the fused loop parallel. Returns the parallel loop (None
    if none)."""
    take = _parallel_loops(s, loops, threads, chunks)
    if _prod([_const(s.get(lp).extent) or 1 for lp in take]) < 2:
        return None
    fused = s.fuse(*take) if len(take) > 1 else take[0]
    s.parallel(fused)
    return fused
