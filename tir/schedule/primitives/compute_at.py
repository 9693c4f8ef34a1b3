"""compute_at / reverse_compute_at and the candidate locations of sample_compute_location."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ...arith import Analyzer, relax_region
from ...arith.iter_map import detect_iter_map
from ...arith.linear import const_int, dtype_of, is_index_int
from ...arith.utils import substitute_expr
from ...buffer import Buffer, BufferRegion
from ...expr import (
    Add,
    FloorDiv,
    FloorMod,
    IntImm,
    IterType,
    Mul,
    PrimExpr,
    Range,
    Sub,
    Var,
    _binary,
)
from ...function import PrimFunc
from ...functor import collect_vars
from ...stmt import Block, BlockRealize, For, ForKind, SeqStmt, Stmt, true
from ..error import ScheduleError
from ..index_map import detect_bijective, inverse_affine
from ..tree import (
    Located,
    free_vars,
    index,
    replace,
    search_loop,
    stmt_children,
    substitute_region,
)
from .block_common import (
    check_complete_or_reduction,
    is_output_block,
    leaf_removal_point,
    locate_block,
    locate_loop,
    remove_leaf,
)
from .queries import get_consumers, get_producers, scope_of

_Interval = tuple[PrimExpr, PrimExpr]  # inclusive [min, max]


def compute_at(func: PrimFunc, block: str, loop: Var, preserve_unit_loops: bool = False,
               index: int = -1) -> PrimFunc:
    """Move producer ``block`` under ``loop``, an ancestor of all its consumers, computing
    per iteration of ``loop`` only the region those consumers read there.

    ``index`` is the position among the loop body's statements: -1 right before the first
    consumer, -2 right after the last producer, else a position between the two.
    """
    return _move(func, block, loop, preserve_unit_loops, index, True)


def reverse_compute_at(func: PrimFunc, block: str, loop: Var,
                       preserve_unit_loops: bool = False, index: int = -1) -> PrimFunc:
    """Move consumer ``block`` under ``loop``, an ancestor of all its producers, computing
    per iteration of ``loop`` only the region they produce there (``index`` as in
    :func:`compute_at`)."""
    return _move(func, block, loop, preserve_unit_loops, index, False)


@dataclass
class _Split:
    last_producer: int
    first_consumer: int
    found: dict[str, tuple[BlockRealize, list[For]]]  # dependent block -> realize, loop path


def _find_split(subtrees: Sequence[Stmt], producers: set[str], consumers: set[str]) -> _Split:
    last_p, first_c = -1, len(subtrees)
    found: dict[str, tuple[BlockRealize, list[For]]] = {}
    for i, st in enumerate(subtrees):
        stack: list[tuple[Stmt, list[For]]] = [(st, [])]
        while stack:
            s, path = stack.pop()
            if isinstance(s, BlockRealize):
                name = s.block.name_hint
                found[name] = (s, path)
                if name in producers:
                    last_p = i
                if name in consumers and first_c == len(subtrees):
                    first_c = i
                continue
            sub = path + [s] if isinstance(s, For) else path
            for c in reversed(stmt_children(s)):
                stack.append((c, sub))
    return _Split(last_p, first_c, found)


def _move(func: PrimFunc, block: str, loop: Var, preserve: bool, index_: int,
          is_compute_at: bool) -> PrimFunc:
    prim = "compute_at" if is_compute_at else "reverse_compute_at"
    bloc = locate_block(func, block, prim)
    lloc = locate_loop(func, loop, prim)
    scope = scope_of(bloc)
    if scope_of(lloc) is not scope:
        raise ScheduleError(f"{prim}: block {block} and loop {loop.name} are not in the same "
                            "block scope")
    if lloc.stmt in bloc.ancestors:
        raise ScheduleError(f"{prim}: loop {loop.name} is an ancestor of block {block}; the "
                            "target loop must be outside the block's own loop nest")
    check_complete_or_reduction(prim, bloc)
    blk: Block = bloc.stmt.block
    if is_compute_at and is_output_block(blk, scope.block):
        raise ScheduleError(f"{prim}: block {block} writes an output of its scope "
                            f"({', '.join(w.buffer.name for w in blk.writes)}); an output "
                            "block cannot be computed at a loop")
    producers = get_producers(func, block)
    consumers = get_consumers(func, block)
    # the analyzer knows the target loop and the loops above it
    an = Analyzer()
    outer = [*lloc.loops(), lloc.stmt]
    for f in outer:
        an.bind(f.loop_var, Range(f.min, f.extent))
    new_func = remove_leaf(func, bloc, prim)
    lloc = search_loop(new_func, loop, prim)  # new_func is a step: not worth indexing
    body = lloc.stmt.body
    subtrees = list(body.seq) if isinstance(body, SeqStmt) else [body]
    split = _find_split(subtrees, set(producers), set(consumers))
    required_names = consumers if is_compute_at else producers
    missing = [n for n in required_names if n not in split.found]
    if missing:
        what = "consumer" if is_compute_at else "producer"
        raise ScheduleError(
            f"{prim}: loop {loop.name} is not an ancestor of every {what} of block {block}: "
            f"{what}(s) {missing} are outside it (all {what}s {required_names} must be under "
            "the loop)"
        )
    if split.last_producer >= split.first_consumer:
        raise ScheduleError(
            f"{prim}: no insertion point under loop {loop.name}: the last producer of block "
            f"{block} is in statement {split.last_producer} of the loop body and the first "
            f"consumer in statement {split.first_consumer}"
        )
    pos = _insert_position(prim, loop, index_, split)
    if not is_compute_at:
        _check_not_in_reduction(prim, loop, producers, split)
    provided = blk.writes if is_compute_at else blk.reads
    required = _required_regions(
        provided, [split.found[n] for n in required_names], is_compute_at, outer, an)
    doms = _block_var_domains(blk, provided, required, an)
    _check_split_reduction(prim, blk, doms, outer, an)
    stmt = _make_loop_nest(bloc.stmt, doms, preserve, an)
    new_body = list(subtrees)
    new_body.insert(pos, stmt)
    new_loop = For(lloc.stmt.loop_var, lloc.stmt.min, lloc.stmt.extent, lloc.stmt.kind,
                   SeqStmt(tuple(new_body)), lloc.stmt.thread_binding,
                   lloc.stmt.annotations)
    return replace(new_func, lloc, new_loop)


def _insert_position(prim: str, loop: Var, index_: int, split: _Split) -> int:
    lo, hi = split.last_producer + 1, split.first_consumer
    if index_ == -1:
        return hi
    if index_ == -2:
        return lo
    if isinstance(index_, int) and lo <= index_ <= hi:
        return index_
    raise ScheduleError(f"{prim}: index {index_} is not a valid position under loop "
                        f"{loop.name}; valid: -1, -2 or an integer in [{lo}, {hi}]")


def _check_not_in_reduction(prim: str, loop: Var, producers: Sequence[str],
                            split: _Split) -> None:
    """A consumer moved under a reduction loop of its producer would read partial sums."""
    for n in producers:
        realize, _ = split.found[n]
        for iv, v in zip(realize.block.iter_vars, realize.iter_values, strict=True):
            if iv.iter_type == IterType.COMM_REDUCE and loop in free_vars(v):
                raise ScheduleError(
                    f"{prim}: loop {loop.name} is a reduction loop of producer {n} (it binds "
                    f"reduction iter var {iv.var.name}); a consumer under it would read "
                    "partial results"
                )


# ----------------------------------------------------------------------------------------
# regions


def _thread_rank(tag: str) -> int | None:
    if tag.startswith("blockIdx."):
        return 0
    if tag.startswith("threadIdx.") or tag.startswith("vthread"):
        return 1
    return None


def _relax_under_thread(scope: str, tag: str) -> bool:
    """Is a buffer of ``scope`` shared by the iterations of a loop bound to ``tag``?"""
    base = scope.split(".")[0]
    if base == "warp":
        return tag == "threadIdx.x"
    rank = {"global": 0, "shared": 1, "local": 3}.get(base, 3)
    tr = _thread_rank(tag)
    return tr is not None and rank <= tr


def _required_regions(provided: Sequence[BufferRegion],
                      deps: Sequence[tuple[BlockRealize, list[For]]], is_compute_at: bool,
                      outer: Sequence[For], an: Analyzer) -> dict[Buffer, list[BufferRegion]]:
    """The regions of the provided buffers the dependent blocks under the loop access in
    one iteration of it (their own loops below the target relaxed)."""
    wanted = {r.buffer for r in provided}
    out: dict[Buffer, list[BufferRegion]] = {b: [] for b in wanted}
    for realize, path in deps:
        blk = realize.block
        sub = dict(zip((iv.var for iv in blk.iter_vars), realize.iter_values, strict=True))
        regions = blk.reads if is_compute_at else blk.writes
        for reg in regions:
            if reg.buffer not in wanted:
                continue
            dom = {f.loop_var: Range(f.min, f.extent) for f in path}
            if is_compute_at:  # a shared buffer is shared by the threads above the loop
                for f in outer:
                    if f.kind == ForKind.THREAD_BINDING and _relax_under_thread(
                            reg.buffer.scope, f.thread_binding):
                        dom[f.loop_var] = Range(f.min, f.extent)
            r = substitute_region(reg, sub)
            try:
                r = relax_region(r, dom, an) if dom else r
            except ValueError as err:
                raise ScheduleError(f"cannot bound the region of {reg.buffer.name} that block "
                                    f"{blk.name_hint} accesses: {err}") from None
            out[reg.buffer].append(r)
    return out


@dataclass
class _Dom:
    dom: _Interval | None = None
    bound: _Interval | None = None

    def union(self, dom: _Interval | None, bound: _Interval | None) -> None:
        self.dom = _hull(self.dom, dom)
        self.bound = _hull(self.bound, bound)


def _hull(a: _Interval | None, b: _Interval | None) -> _Interval | None:
    if a is None:
        return b
    if b is None:
        return a
    from ... import op

    return op.min(a[0], b[0]), op.max(a[1], b[1])


def _block_var_domains(blk: Block, provided: Sequence[BufferRegion],
                       required: dict[Buffer, list[BufferRegion]], an: Analyzer
                       ) -> list[_Dom]:
    info = {iv.var: _Dom() for iv in blk.iter_vars}
    by_buf: dict[Buffer, list[BufferRegion]] = {}
    for p in provided:
        by_buf.setdefault(p.buffer, []).append(p)
    for buf, provs in by_buf.items():
        reqs = required.get(buf) or []
        if not reqs:
            continue
        req = [_interval_hull([(r.region[d].min, _last(r.region[d], an)) for r in reqs], an)
               for d in range(len(buf.shape))]
        prov = [_interval_hull([(p.region[d].min, _last(p.region[d], an)) for p in provs], an)
                for d in range(len(buf.shape))]
        if not _affine_update(blk, buf, prov, req, info, an):
            _dimwise_update(buf, prov, req, info, an)
    out = []
    for iv in blk.iter_vars:
        d = info[iv.var]
        full = (iv.dom.min, _last(iv.dom, an))
        d.bound = full if d.bound is None else _intersect(d.bound, full)
        _simplify_dom(d, an)
        out.append(d)
    return out


def _arith(cls: type, a: PrimExpr, b: PrimExpr, an: Analyzer) -> PrimExpr:
    """``cls(a, b)`` as the operators build it: directly when the dtypes agree (looked up
    in the simplifier's memo: ``BinaryOp.dtype`` walks the whole left operand chain)."""
    memo = an._simplifier().dtypes
    if dtype_of(a, memo) == dtype_of(b, memo):
        return cls(a, b)
    return _binary(cls, a, b)


def _add_int(a: PrimExpr, c: int, an: Analyzer) -> PrimExpr:
    """``a + c`` (``a - (-c)`` for a negative ``c``) as the operators build it."""
    dtype = dtype_of(a, an._simplifier().dtypes)
    if not is_index_int(dtype):
        return a + c if c >= 0 else a - (-c)
    return Add(a, const_int(c, dtype)) if c >= 0 else Sub(a, const_int(-c, dtype))


def _last(r: Range, an: Analyzer) -> PrimExpr:
    """``r.min + r.extent - 1``, the last index of a range."""
    return _add_int(_arith(Add, r.min, r.extent, an), -1, an)


def _interval_hull(items: list[_Interval], an: Analyzer) -> _Interval:
    lo, hi = items[0]
    for a, b in items[1:]:
        lo, hi = _hull((lo, hi), (a, b))
    return an.simplify(lo), an.simplify(hi)


def _intersect(a: _Interval, b: _Interval) -> _Interval:
    from ... import op

    return op.max(a[0], b[0]), op.min(a[1], b[1])


def _affine_update(blk: Block, buf: Buffer, prov: list[_Interval], req: list[_Interval],
                   info: dict[Var, _Dom], an: Analyzer) -> bool:
    """Invert a bijective provided point (``B[v // 4, v % 4]``) at the required corners."""
    if not all(an.can_prove_equal(lo, hi) for lo, hi in prov):
        return False
    doms = {iv.var: iv.dom for iv in blk.iter_vars}
    inv_an = Analyzer()  # no bindings (as inverse_affine's own), shared by the four calls
    top = [an.simplify(_add_int(s, -1, an)) for s in buf.shape]
    fast = _identity_inverse(prov, req, buf, doms, top, inv_an)
    if fast is not None:
        lo_pt, hi_pt, blo, bhi = fast
    else:
        res = detect_bijective([lo for lo, _ in prov], doms)
        if res is None:
            return False
        lo_pt = inverse_affine(res, [lo for lo, _ in req], doms, inv_an)
        hi_pt = inverse_affine(res, [hi for _, hi in req], doms, inv_an)
        zero = [IntImm(0, s.dtype) for s in buf.shape]
        blo = inverse_affine(res, zero, doms, inv_an)
        bhi = inverse_affine(res, top, doms, inv_an)
    from ... import op

    for v in lo_pt:
        if v not in info or v not in hi_pt:
            continue
        a, b = an.simplify(lo_pt[v]), an.simplify(hi_pt[v])
        dom = _min_max(a, b, an)
        if dom is None:
            dom = (an.simplify(op.min(a, b)), an.simplify(op.max(a, b)))
        bound = (blo[v], bhi[v]) if v in blo and v in bhi else None
        info[v].union(dom, bound)
    return True


def _identity_inverse(prov: list[_Interval], req: list[_Interval], buf: Buffer,
                      doms: dict[Var, Range], top: list[PrimExpr], inv_an: Analyzer
                      ) -> tuple[dict, dict, dict, dict] | None:
    """The four :func:`inverse_affine` results of :func:`_affine_update` when the provided
    point is the block's iter vars themselves, one per dimension (``B[v0, v1, ...]``, the
    common case), without detecting the iterator map; None when that is not the case (then
    the general path decides). Same values as the general path: that map is bijective
    exactly when every iter var of extent > 1 is one of the dimensions, and its inverse
    at a point is the point (iter vars of extent 1 map to their minimum)."""
    los = [lo for lo, _ in prov]
    if len({id(v) for v in los}) != len(los):
        return None
    used = set()
    for d, v in enumerate(los):
        if type(v) is not Var:
            return None
        r = doms.get(v)
        if r is None:
            return None
        mn, ext = r.min, r.extent
        if (type(mn) is not IntImm or mn.value != 0 or type(ext) is not IntImm
                or ext.value < 1 or mn.dtype != v.dtype or ext.dtype != v.dtype
                or buf.shape[d].dtype != v.dtype or req[d][0].dtype != v.dtype
                or req[d][1].dtype != v.dtype or top[d].dtype != v.dtype):
            return None
        if ext.value > 1:
            used.add(v)
    unit: dict[Var, PrimExpr] = {}
    for v, r in doms.items():
        ext = r.extent
        if type(ext) is not IntImm:
            return None
        if ext.value == 1:
            unit[v] = r.min
        elif v not in used:
            return None  # an iter var the point does not use: not bijective
    lo_pt: dict[Var, PrimExpr] = {}
    hi_pt: dict[Var, PrimExpr] = {}
    blo: dict[Var, PrimExpr] = {}
    bhi: dict[Var, PrimExpr] = {}
    at = {v: d for d, v in enumerate(los)}
    for v in doms:  # the iterators of extent > 1 first, in order (as inverse_affine)
        d = at.get(v)
        if d is None or v in unit:
            continue
        lo_pt[v] = _inv_simplify(req[d][0], unit, inv_an)
        hi_pt[v] = _inv_simplify(req[d][1], unit, inv_an)
        blo[v] = const_int(0, v.dtype)
        bhi[v] = _inv_simplify(top[d], unit, inv_an)
    for v, m in unit.items():
        for out in (lo_pt, hi_pt, blo, bhi):
            out.setdefault(v, m)
    return lo_pt, hi_pt, blo, bhi


def _inv_simplify(e: PrimExpr, unit: dict[Var, PrimExpr], inv_an: Analyzer) -> PrimExpr:
    """``inv_an.simplify(substitute_expr(e, unit))`` for ``e`` simplified by the caller's
    analyzer: when nothing is substituted and ``e`` is a sum of variables times constants
    (no division, so the bindings of that analyzer play no part in its form), ``e`` is
    already what a simplifier without bindings makes of it."""
    x = substitute_expr(e, unit)
    if x is e and _plain_linear(e):
        return e
    return inv_an.simplify(x)


def _plain_linear(e: PrimExpr) -> bool:
    """``e`` is built from variables and integer constants with ``+``, ``-`` and ``*`` by a
    constant."""
    stack = [e]
    while stack:
        x = stack.pop()
        t = type(x)
        if t is Var or t is IntImm:
            continue
        if t is Add or t is Sub:
            stack.append(x.a)
            stack.append(x.b)
        elif t is Mul and type(x.b) is IntImm:
            stack.append(x.a)
        else:
            return False
    return True


def _var_and_shift(e: PrimExpr) -> tuple[Var, PrimExpr] | None:
    """``e`` as ``v + c`` (c free of v)."""
    if isinstance(e, Var):
        return e, IntImm(0, e.dtype)
    an = Analyzer()
    vs = collect_vars(e)
    if len(vs) == 1:
        (v,) = vs
        c = an.simplify(e - v)
        if not collect_vars(c):
            return v, c
    return None


def _dimwise_update(buf: Buffer, prov: list[_Interval], req: list[_Interval],
                    info: dict[Var, _Dom], an: Analyzer) -> None:
    for d, ((plo, phi), (rlo, rhi)) in enumerate(zip(prov, req, strict=True)):
        dim_max = an.simplify(buf.shape[d] - 1)
        if not an.can_prove_equal(plo, phi):
            continue  # a provided range: leave the var its full domain (safe)
        plo = an.simplify(plo)
        if isinstance(plo, IntImm):
            continue
        if isinstance(plo, Mul) and isinstance(plo.a, Var) and isinstance(plo.b, IntImm) \
                and plo.b.value > 0:
            v, e = plo.a, plo.b
            dom = (FloorDiv(rlo, e), FloorDiv(rhi, e))
            bound = (IntImm(0, v.dtype), FloorDiv(dim_max, e))
        elif isinstance(plo, FloorDiv) and isinstance(plo.a, Var) \
                and isinstance(plo.b, IntImm) and plo.b.value > 0:
            v, f = plo.a, plo.b
            dom = (rlo * f, rhi * f + f - 1)
            bound = (IntImm(0, v.dtype), dim_max * f + f - 1)
        elif isinstance(plo, FloorMod):
            continue  # x % c says nothing about x's range
        else:
            vs = _var_and_shift(plo)
            if vs is None:
                continue  # unrecognized: the var keeps its full domain (safe)
            v, c = vs
            dom = (rlo - c, rhi - c)
            bound = (-c, dim_max - c)
        if v in info:
            info[v].union((an.simplify(dom[0]), an.simplify(dom[1])),
                          (an.simplify(bound[0]), an.simplify(bound[1])))


def _diff(a: PrimExpr, b: PrimExpr, an: Analyzer):
    """``(va, vb, bound of va - vb)``: the simplified operands as the simplifier's min/max
    rule sees them, and the constant bound of their difference it decides by (None: the
    rule does not apply, or the dtypes differ)."""
    simp = an._simplifier()
    va, vb = simp.visit(a), simp.visit(b)  # (simplifying keeps the dtype)
    dtype = dtype_of(va, simp.dtypes)
    if dtype != dtype_of(vb, simp.dtypes) or not is_index_int(dtype):
        return None
    if va is vb:
        return va, vb, (0, 0)
    d = simp._diff_bound(va, vb, dtype)
    return None if d is None else (va, vb, d)


def _min_max(a: PrimExpr, b: PrimExpr, an: Analyzer) -> _Interval | None:
    """``(simplify(min(a, b)), simplify(max(a, b)))`` when the bound of ``a - b`` decides
    both (one bound instead of two, no nodes built); None otherwise."""
    r = _diff(a, b, an)
    if r is None:
        return None
    va, vb, (lo, hi) = r
    if va is vb:
        return va, va
    if hi <= 0:  # the simplifier's order: ``hi <= 0`` is tried first
        return va, vb
    if lo >= 0:
        return vb, va
    return None


def _inside(dom: _Interval, b: _Interval, an: Analyzer) -> bool:
    """True when :func:`_simplify_dom`'s intersection of ``dom`` with ``b`` is ``dom``
    itself, decided by the bounds the simplifier's max/min rules use (False: unknown)."""
    r = _diff(dom[0], b[0], an)  # max(dom0, b0) is dom0
    if r is None:
        return False
    va, vb, (lo, hi) = r
    if va is not vb and not (hi > 0 and lo >= 0):
        return False
    r = _diff(dom[1], b[1], an)  # min(dom1, b1) is dom1
    if r is None:
        return False
    va, vb, (lo, hi) = r
    return va is vb or hi <= 0


def _simplify_dom(d: _Dom, an: Analyzer) -> None:
    if d.dom is None:
        d.dom, d.bound = d.bound, None
        return
    d.dom = (an.simplify(d.dom[0]), an.simplify(d.dom[1]))
    b = (an.simplify(d.bound[0]), an.simplify(d.bound[1]))
    if _inside(d.dom, b, an):
        d.bound = None
        return
    inter = _intersect(d.dom, b)
    inter = (an.simplify(inter[0]), an.simplify(inter[1]))
    if an.can_prove_equal(d.dom[0], inter[0]) and an.can_prove_equal(d.dom[1], inter[1]):
        d.bound = None
    elif an.can_prove_equal(b[0], inter[0]) and an.can_prove_equal(b[1], inter[1]):
        d.dom, d.bound = b, None
    elif isinstance(inter[0], IntImm) and isinstance(inter[1], IntImm):
        d.dom, d.bound = inter, None
    else:
        d.bound = b


def _check_split_reduction(prim: str, blk: Block, doms: list[_Dom], outer: Sequence[For],
                           an: Analyzer) -> None:
    """A reduction block whose reduction is split across iterations of the outer loops
    must see every instance exactly once: the outer loops must select distinct
    instances (an injective map to iter vars pinned to one value). Re-running a whole
    reduction is fine: its init runs again."""
    if blk.init is None:
        return
    split = [iv.var.name for iv, d in zip(blk.iter_vars, doms, strict=True)
             if iv.iter_type == IterType.COMM_REDUCE and not (
                 an.can_prove_equal(d.dom[0], iv.dom.min)
                 and an.can_prove_equal(d.dom[1], iv.dom.min + iv.dom.extent - 1))]
    if not split:
        return
    loops = {f.loop_var: Range(f.min, f.extent) for f in outer
             if not (isinstance(f.extent, IntImm) and f.extent.value == 1)}
    pins = [an.simplify(d.dom[0]) for d in doms if an.can_prove_equal(d.dom[0], d.dom[1])]
    pins = [p for p in pins if collect_vars(p) & set(loops)]
    used = set().union(*(collect_vars(p) for p in pins)) if pins else set()
    free = [v.name for v in loops if v not in used]
    ok = not free and (not loops or detect_iter_map(pins, loops, True, "none")
                       is not None)
    if not ok:
        why = (f"loop(s) {free} do not select" if free
               else "the loops do not map one-to-one to")
        raise ScheduleError(
            f"{prim}: block {blk.name_hint} is a reduction block whose reduction over "
            f"{split} would be split across iterations of the loops above it, but {why} "
            "distinct block instances: some would be accumulated more than once"
        )


def _make_loop_nest(realize: BlockRealize, doms: list[_Dom], preserve: bool,
                    an: Analyzer) -> Stmt:
    blk = realize.block
    loop_vars: list[tuple[Var, PrimExpr]] = []
    values: list[PrimExpr] = []
    conds: list[PrimExpr] = []
    # extents and unit values first: the new loop variables do not occur in them, and
    # every bind below starts a new simplifier (its memo lost)
    exts = [an.simplify(_add_int(_arith(Sub, d.dom[1], d.dom[0], an), 1, an)) for d in doms]
    units = [None if preserve or not (isinstance(ext, IntImm) and ext.value == 1)
             else an.simplify(d.dom[0]) for d, ext in zip(doms, exts, strict=True)]
    for iv, d, ext, unit in zip(blk.iter_vars, doms, exts, units, strict=True):
        lo = d.dom[0]
        if unit is None:
            v = Var(f"ax{len(loop_vars)}", iv.var.dtype)
            loop_vars.append((v, ext))
            value = v if isinstance(lo, IntImm) and lo.value == 0 else _arith(Add, lo, v, an)
            an.bind(v, Range(const_int(0, v.dtype), ext))
        else:
            value = unit
        values.append(value)
    for d, value in zip(doms, values, strict=True):
        if d.bound is not None:
            blo, bhi = d.bound
            if not an.can_prove(value >= blo):
                conds.append(value >= blo)
            if not an.can_prove(value < bhi + 1):
                conds.append(value < an.simplify(bhi + 1))
    # the old predicate was about the old loops; the bound predicate replaces it
    pred: PrimExpr | None = None
    for c in conds:
        pred = c if pred is None else pred & c
    pred = true() if pred is None else an.simplify(pred)
    stmt: Stmt = BlockRealize(tuple(values), pred, blk)
    for v, ext in reversed(loop_vars):
        stmt = For(v, const_int(0, v.dtype), ext, ForKind.SERIAL, stmt)
    return stmt


# ----------------------------------------------------------------------------------------
# sample_compute_location candidates


def _loop_iter_type(loop: For) -> str:
    n_sp = n_red = n_other = 0
    stack: list[Stmt] = [loop.body]
    while stack:
        s = stack.pop()
        if isinstance(s, BlockRealize):
            for iv, v in zip(s.block.iter_vars, s.iter_values, strict=True):
                if loop.loop_var in collect_vars(v):
                    if iv.iter_type == IterType.DATA_PAR:
                        n_sp += 1
                    elif iv.iter_type == IterType.COMM_REDUCE:
                        n_red += 1
                    else:
                        n_other += 1
            continue
        stack.extend(stmt_children(s))
    if n_other or (n_sp and n_red):
        return "opaque"
    return "reduce" if n_red else "spatial"


def _loop_iter_types(chain: Sequence[For]) -> list[str]:
    """:func:`_loop_iter_type` of every loop of a nested chain (outer first) in one walk:
    a loop's variable can only occur in the blocks under it, so each block binding is
    scanned once for all of them."""
    if not chain:
        return []
    counts = {f.loop_var: [0, 0, 0] for f in chain}  # spatial, reduce, other
    stack: list[Stmt] = [chain[0].body]
    while stack:
        s = stack.pop()
        if isinstance(s, BlockRealize):
            for iv, v in zip(s.block.iter_vars, s.iter_values, strict=True):
                k = 0 if iv.iter_type == IterType.DATA_PAR else (
                    1 if iv.iter_type == IterType.COMM_REDUCE else 2)
                for var in free_vars(v):
                    c = counts.get(var)
                    if c is not None:
                        c[k] += 1
            continue
        stack.extend(stmt_children(s))
    out = []
    for f in chain:
        n_sp, n_red, n_other = counts[f.loop_var]
        if n_other or (n_sp and n_red):
            out.append("opaque")
        else:
            out.append("reduce" if n_red else "spatial")
    return out


def _sref_ancestors(loc: Located) -> list[Stmt]:
    """The For/Block ancestors of a located statement inside its scope, outer first."""
    out: list[Stmt] = []
    for a in reversed(loc.ancestors):
        if isinstance(a, Block):
            break
        if isinstance(a, For):
            out.append(a)
    out.reverse()
    return out


def compute_location_candidates(func: PrimFunc, block: str) -> list[Var | str]:
    """Where sample_compute_location may put ``block`` (TVM's CollectComputeLocation):
    ``"inline"`` if it can be inlined, ``"root"``, then the loops of its first consumer down
    to the lowest common loop of all consumers that compute_at accepts (unit loops,
    spatial loops below a reduction loop and trailing reduction loops are skipped)."""
    from .compute_inline import can_compute_inline

    prim = "sample_compute_location"
    locate_block(func, block, prim)
    out: list[Var | str] = []
    if can_compute_inline(func, block):
        out.append("inline")
    out.append("root")
    consumers = get_consumers(func, block)
    if not consumers:
        return out
    ix = index(func)
    chains = [_sref_ancestors(ix.block(n)) for n in consumers]
    first = chains[0]
    if len(consumers) == 1:
        # the consumer's parent sref: its innermost loop, unless it sits right in the scope
        loc0 = ix.block(consumers[0])
        parent = next((a for a in reversed(loc0.ancestors) if isinstance(a, (For, Block))),
                      None)
        if not isinstance(parent, For):
            return out
        n_cand = len(first)
    else:
        n_cand = 0
        for k, f in enumerate(first):
            if all(len(c) > k and c[k] is f for c in chains):
                n_cand = k + 1
            else:
                break
        if n_cand == 0:
            return out
    kinds = _loop_iter_types(first[:n_cand])
    last_sp = max((i for i, k in enumerate(kinds) if k == "spatial"), default=-1)
    seen_reduce = False
    legal = None
    for i in range(n_cand):
        f = first[i]
        if isinstance(f.extent, IntImm) and f.extent.value == 1:
            continue
        if kinds[i] == "spatial":
            if seen_reduce:
                break
        else:
            seen_reduce = True
            if i > last_sp:
                break
        if legal is None:
            legal = _compute_at_checker(func, block, consumers)
        if legal(f.loop_var):
            out.append(f.loop_var)
    return out


def _is_affine_index(e: PrimExpr) -> bool:
    """``e`` is built from variables and constants with ``+ - *const //const %const``:
    interval relaxation always bounds such an index over finite loop domains."""
    stack = [e]
    while stack:
        x = stack.pop()
        t = type(x)
        if t is Var or t is IntImm:
            continue
        if t is Add or t is Sub:
            stack.append(x.a)
            stack.append(x.b)
        elif t is Mul:
            if type(x.b) is IntImm:
                stack.append(x.a)
            elif type(x.a) is IntImm:
                stack.append(x.b)
            else:
                return False
        elif (t is FloorDiv or t is FloorMod) and type(x.b) is IntImm and x.b.value > 0:
            stack.append(x.a)
        else:
            return False
    return True


def _compute_at_checker(func: PrimFunc, block: str, consumers: Sequence[str]):
    """A predicate ``loop_var -> bool``: would ``compute_at(func, block, loop_var, True)``
    succeed? The conditions compute_at checks are evaluated without transforming the
    function (TVM's CollectComputeLocation does the same); a reduction block, or consumer
    indices whose relaxation might be unbounded, fall back to a trial compute_at."""
    prim = "compute_at"

    def trial(loop: Var) -> bool:
        try:
            compute_at(func, block, loop, True)
        except ScheduleError:
            return False
        return True

    ix = index(func)
    bloc = ix.block(block, prim)
    blk: Block = bloc.stmt.block
    scope = scope_of(bloc)
    try:  # conditions on the block alone: every loop fails if one does
        check_complete_or_reduction(prim, bloc)
        if is_output_block(blk, scope.block):
            return lambda loop: False
        leaf_removal_point(bloc, prim)
    except ScheduleError:
        return lambda loop: False
    if blk.init is not None:
        return trial  # the split-reduction condition needs the regions
    wanted = {r.buffer for r in blk.writes}
    for n in consumers:
        realize = ix.block(n, prim).stmt
        for reg in realize.block.reads:
            if reg.buffer in wanted and not all(
                    _is_affine_index(r.min) and _is_affine_index(r.extent)
                    for r in reg.region):
                return trial
        if not all(_is_affine_index(v) for v in realize.iter_values):
            return trial
    producers = set(get_producers(func, block))
    consumer_set = set(consumers)

    def legal(loop: Var) -> bool:
        lloc = ix.loop(loop, prim)
        if scope_of(lloc) is not scope or lloc.stmt in bloc.ancestors:
            return False
        # the loop is not an ancestor of the block: removing the block leaves its body as is
        body = lloc.stmt.body
        subtrees = list(body.seq) if isinstance(body, SeqStmt) else [body]
        split = _find_split(subtrees, producers, consumer_set)
        if any(n not in split.found for n in consumers):
            return False
        return split.last_producer < split.first_consumer

    return legal


__all__ = ["compute_at", "compute_location_candidates", "reverse_compute_at"]
