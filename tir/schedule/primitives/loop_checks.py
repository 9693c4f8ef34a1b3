"""Legality checks shared by the loop primitives (TVM's rules): affine block bindings,
block iter types, compact dataflow under a loop, and parallelizability of a loop."""

from __future__ import annotations

from ...expr import Add, FloorDiv, FloorMod, IntImm, IterType, Mul, PrimExpr, Range, Sub, Var
from ...functor import uses_var
from ...stmt import Block, BlockRealize, For, Stmt
from ..error import ScheduleError
from ..tree import Located, free_vars, stmt_children

_AFFINE_CACHE: dict[tuple, tuple[BlockRealize, tuple, bool]] = {}
_AFFINE_LIMIT = 64  # a conv2d replay adds 2; each entry keeps a whole loop nest alive


def scope_loops(loc: Located) -> list[For]:
    """The loops between ``loc``'s enclosing block and ``loc`` (``loc`` excluded)."""
    return loc.loops()


def loop_ranges(loops: list[For]) -> dict[Var, Range]:
    return {f.loop_var: Range(f.min, f.extent) for f in loops}


def is_affine_binding(loc: Located) -> bool:
    """True if the iter_values of a BlockRealize are an affine (surjective) map of the
    loops of its scope, under its predicate (TVM's IsAffineBinding). Cached per node."""
    realize = loc.stmt
    assert isinstance(realize, BlockRealize)
    loops = scope_loops(loc)
    key_loops = tuple((f.loop_var, f.min, f.extent) for f in loops)
    hit = _AFFINE_CACHE.get((id(realize), len(loops)))
    if hit is not None and hit[0] is realize and _same(hit[1], key_loops):
        return hit[2]
    result = _affine(realize, loops)
    if len(_AFFINE_CACHE) > _AFFINE_LIMIT:
        _AFFINE_CACHE.clear()
    _AFFINE_CACHE[(id(realize), len(loops))] = (realize, key_loops, result)
    return result


def _same(a: tuple, b: tuple) -> bool:
    return len(a) == len(b) and all(
        x[0] is y[0] and x[1] is y[1] and x[2] is y[2] for x, y in zip(a, b, strict=True))


def _linear(e: PrimExpr, out: dict[Var, int], k: int = 1) -> bool:
    """Accumulate ``e`` as ``Σ coef·var + c`` into ``out``; False if it is not of that form."""
    t = type(e)
    if t is Var:
        out[e] = out.get(e, 0) + k
        return True
    if t is IntImm:
        return True
    if t is Add:
        return _linear(e.a, out, k) and _linear(e.b, out, k)
    if t is Sub:
        return _linear(e.a, out, k) and _linear(e.b, out, -k)
    if t is Mul:
        if type(e.b) is IntImm:
            return _linear(e.a, out, k * e.b.value)
        if type(e.a) is IntImm:
            return _linear(e.b, out, k * e.a.value)
    return False


def _affine_fast(values: tuple, ext: dict[Var, int]) -> bool | None:
    """Decide the common case of bindings that are sums of loop vars times constants:
    affine iff no loop var is used twice and each binding is a mixed-radix number
    (scales 1, e0, e0·e1, ...). None when some binding is not of that form."""
    used: set[Var] = set()
    for v in values:
        terms: dict[Var, int] = {}
        if not _linear(v, terms):
            return None
        scale = 1
        for var, coef in sorted(((x, c) for x, c in terms.items() if c), key=lambda t: t[1]):
            e = ext.get(var)
            if e is None:
                return None  # not a loop of the scope (e.g. an outer block's iter var)
            if e == 1:
                continue
            if coef != scale or var in used:
                return False
            used.add(var)
            scale *= e
    return True


def _digit(t: PrimExpr, ext: dict[Var, int]) -> tuple[Var, int, int] | None:
    """``t`` as one digit ``(v // lower) % extent`` of a loop var ``v`` of the scope:
    ``v``, ``v // c``, ``v % c`` or ``v // c1 % c2`` with divisible extents (the forms
    fuse leaves); None otherwise."""
    lower = 1
    mod = None
    if type(t) is FloorMod and type(t.b) is IntImm:
        mod = t.b.value
        t = t.a
    if type(t) is FloorDiv and type(t.b) is IntImm:
        lower = t.b.value
        t = t.a
    if type(t) is not Var:
        return None
    e = ext.get(t)
    if e is None or lower <= 0 or e % lower:
        return None
    rest = e // lower
    if mod is not None:
        if mod <= 0 or rest % mod or mod == rest:
            return None
        rest = mod
    return t, lower, rest


def _digits(e: PrimExpr, out: dict, ext: dict[Var, int], k: int = 1) -> bool:
    """Accumulate ``e`` as ``Σ coef·digit + c`` (digits of :func:`_digit`) into ``out``."""
    t = type(e)
    if t is IntImm:
        return True
    if t is Add:
        return _digits(e.a, out, ext, k) and _digits(e.b, out, ext, k)
    if t is Sub:
        return _digits(e.a, out, ext, k) and _digits(e.b, out, ext, -k)
    if t is Mul:
        if type(e.b) is IntImm:
            return _digits(e.a, out, ext, k * e.b.value)
        if type(e.a) is IntImm:
            return _digits(e.b, out, ext, k * e.a.value)
        return False
    if t is Var:
        d = (e, 1, ext.get(e))
        if d[2] is None:
            return False
    else:
        d = _digit(e, ext)
        if d is None:
            return False
    out[d] = out.get(d, 0) + k
    return True


def _affine_digits(values: tuple, ext: dict[Var, int]) -> bool | None:
    """True when every binding is a mixed-radix number of digits of the loop vars (as
    fuse leaves them: ``f // 56 * 8 + g``, ``f // 2 % 28 * 2 + h``, ``f % 2``) and no two
    digits of one loop var overlap: the surjective affine map the iterator-map
    detection finds for such bindings. None when that cannot be shown this way."""
    used: dict[Var, list[tuple[int, int]]] = {}
    for v in values:
        terms: dict = {}
        if not _digits(v, terms, ext):
            return None
        scale = 1
        for (var, lower, e), coef in sorted(((d, c) for d, c in terms.items() if c),
                                            key=lambda t: t[1]):
            if e == 1:
                continue
            if coef != scale:
                return None
            used.setdefault(var, []).append((lower, lower * e))
            scale *= e
    for spans in used.values():
        spans.sort()
        for (_, hi), (lo, _) in zip(spans, spans[1:], strict=False):
            if hi > lo:
                return None
    return True


def _affine(realize: BlockRealize, loops: list[For]) -> bool:
    if not realize.iter_values:
        return True
    used: set[Var] = set()
    for v in (*realize.iter_values, realize.predicate):
        used |= free_vars(v)
    loops = [f for f in loops if f.loop_var in used]
    if not loops:
        return True
    if all(type(f.extent) is IntImm and type(f.min) is IntImm and f.min.value == 0
           for f in loops):
        ext = {f.loop_var: f.extent.value for f in loops}
        fast = _affine_fast(realize.iter_values, ext)
        if fast is not None:
            return fast
        if _affine_digits(realize.iter_values, ext):
            return True
    from ...arith import detect_iter_map

    res = detect_iter_map(realize.iter_values, loop_ranges(loops), realize.predicate,
                          "surjective")
    if res is None:
        return False
    return all(not s.splits or min(abs(sp.scale) for sp in s.splits) == 1
               for s in res.indices)


def check_affine_binding(loc: Located, primitive: str) -> None:
    if not is_affine_binding(loc):
        name = loc.stmt.block.name_hint
        raise ScheduleError(
            f"{primitive}: block {name!r} has a non-affine binding of its iter vars to the "
            "surrounding loops; the primitive needs affine (split/fuse-like) bindings"
        )


def check_iter_types(block: Block, primitive: str, context: str) -> None:
    """Every iter var of ``block`` must be data-parallel or a reduction."""
    for iv in block.iter_vars:
        if iv.iter_type not in (IterType.DATA_PAR, IterType.COMM_REDUCE):
            raise ScheduleError(
                f"{primitive}: block {block.name_hint!r} {context} has the iter var "
                f"{iv.var.name} of type {iv.iter_type.name}; only data-parallel and "
                "reduction iter vars are supported"
            )


def blocks_under(loc: Located, nested: bool = True) -> list[Located]:
    """The BlockRealizes below ``loc`` in program order (``loc`` excluded; block inits are
    not searched). With ``nested=False`` the search stops at each block found."""
    out: list[Located] = []
    base = loc.ancestors + (loc.stmt,)
    path: list[Stmt] = []  # the statements between ``loc`` and the one visited
    root = loc.stmt
    kids = (root.body,) if type(root) is Block else stmt_children(root)
    stack = [(k, 0) for k in reversed(kids)]
    pop, push = stack.pop, stack.append
    while stack:
        s, d = pop()
        del path[d:]
        t = type(s)
        if t is BlockRealize:
            out.append(Located(s, base + tuple(path)))
            if not nested:
                continue
            kids = (s.block,)
        elif t is For:
            kids = (s.body,)
        elif t is Block:
            kids = (s.body,)
        else:
            kids = stmt_children(s)
            if not kids:
                continue
        path.append(s)
        d += 1
        for k in reversed(kids):
            push((k, d))
    return out


def _outermost(loc: Located, subs: list[Located]) -> list[Located]:
    """The blocks of ``blocks_under(loc)`` not nested in another one of them
    (``blocks_under(loc, nested=False)``)."""
    n = len(loc.ancestors) + 1
    return [b for b in subs
            if not any(type(a) is BlockRealize for a in b.ancestors[n:])]


def _compact_reason(loc: Located) -> str | None:
    """Why a child block is neither a complete nor a reduction block (None if it is one)."""
    block = loc.stmt.block
    types = {iv.iter_type for iv in block.iter_vars}
    reads = {r.buffer for r in block.reads}
    writes = {r.buffer for r in block.writes}
    if types <= {IterType.DATA_PAR}:
        overlap = reads & writes
        if not overlap:
            return None
        return f"reads and writes the buffer {min(b.name for b in overlap)}"
    if block.init is None:
        return "has reduction iter vars but no init statement"
    if not types <= {IterType.DATA_PAR, IterType.COMM_REDUCE}:
        return "has iter vars that are neither data-parallel nor reductions"
    if not is_affine_binding(loc):
        return "has a non-affine binding"
    red = {iv.var for iv in block.iter_vars if iv.iter_type == IterType.COMM_REDUCE}
    for w in block.writes:
        for r in w.region:
            if uses_var(r.min, lambda v: v in red):
                return f"indexes its output {w.buffer.name} with a reduction iter var"
    return None


def check_compact_dataflow(loop_loc: Located, primitive: str,
                           top: list[Located] | None = None) -> None:
    """Every block directly under the loop must be a complete block (data-parallel iters
    only, no buffer both read and written) or a reduction block (init, affine binding,
    reduction vars not indexing the output). ``top``: those blocks, if known."""
    loop = loop_loc.stmt
    for sub in blocks_under(loop_loc, nested=False) if top is None else top:
        reason = _compact_reason(sub)
        if reason is not None:
            raise ScheduleError(
                f"{primitive}: loop {loop.loop_var.name} does not have compact dataflow: "
                f"block {sub.stmt.block.name_hint!r} under it is neither a complete block "
                f"nor a reduction block (it {reason})"
            )


_VERBS = {"parallel": "parallelize", "vectorize": "vectorize", "bind": "bind"}


def check_parallelizable(loop_loc: Located, primitive: str, thread_tag: str = "") -> None:
    """TVM's rule for parallel / vectorize / bind: compact dataflow under the loop, affine
    bindings (not required of purely data-parallel blocks), and every block iter whose
    binding uses the loop var is data-parallel (or a reduction when binding to
    ``threadIdx.*``)."""
    loop = loop_loc.stmt
    verb = _VERBS.get(primitive, primitive)
    subs = blocks_under(loop_loc)
    check_compact_dataflow(loop_loc, primitive, _outermost(loop_loc, subs))
    cross_thread = thread_tag.startswith("threadIdx.")
    lv = loop.loop_var
    for sub in subs:
        realize = sub.stmt
        block = realize.block
        if any(iv.iter_type != IterType.DATA_PAR for iv in block.iter_vars):
            # a purely spatial block (e.g. padding computed at a tile with a halo, bound
            # to ``y0 * 14 + ax1`` with ax1 < 16) may have overlapping bindings: every
            # iteration writes the same values, so it stays parallelizable
            check_affine_binding(sub, primitive)
        for iv, value in zip(block.iter_vars, realize.iter_values, strict=True):
            if lv not in free_vars(value):
                continue
            if iv.iter_type == IterType.DATA_PAR:
                continue
            if iv.iter_type == IterType.COMM_REDUCE and cross_thread:
                continue
            raise ScheduleError(
                f"{primitive}: cannot {verb} loop {lv.name}: block {block.name_hint!r} binds "
                f"its {iv.iter_type.name.lower()} iter var {iv.var.name} to an expression of "
                f"{lv.name}; only data-parallel block iters may depend on a loop that is "
                f"{'bound to ' + thread_tag if primitive == 'bind' else verb + 'd'}"
            )


def const_extent(loop: For) -> int | None:
    return loop.extent.value if isinstance(loop.extent, IntImm) else None
