"""Locating blocks and loops in a PrimFunc and rebuilding the path above a replaced stmt.

Schedules refer to a block by its (unique) name and to a loop by its loop variable: both
survive any rebuild of the tree around them, which keeps random variables stable while
every node above a changed statement is a fresh object.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from ..arith.utils import substitute_expr
from ..buffer import BufferRegion
from ..expr import (
    EQ,
    GE,
    GT,
    LE,
    LT,
    NE,
    Add,
    And,
    FloorDiv,
    FloorMod,
    IntImm,
    Max,
    Min,
    Mul,
    Or,
    PrimExpr,
    Range,
    Sub,
    Var,
)
from ..function import PrimFunc
from ..functor import collect_vars
from ..stmt import (
    Allocate,
    Block,
    BlockRealize,
    For,
    IfThenElse,
    LetStmt,
    SeqStmt,
    Stmt,
)
from .error import ScheduleError


@dataclass(slots=True, unsafe_hash=True)  # not frozen: a frozen __init__ is slower
class Located:
    """A statement and its ancestors, outermost first (``ancestors[0]`` is ``func.body``).
    Treat it as immutable (the index shares it)."""

    stmt: Stmt
    ancestors: tuple[Stmt, ...]

    def loops(self) -> list[For]:
        """The loops between the innermost enclosing block and the statement, outer first."""
        out: list[For] = []
        for a in reversed(self.ancestors):
            t = type(a)
            if t is For:
                out.append(a)
            elif t is Block or t is BlockRealize:
                break
        out.reverse()
        return out

    def parent_block(self) -> Block | None:
        for a in reversed(self.ancestors):
            if isinstance(a, Block):
                return a
        return None


def stmt_children(s: Stmt) -> tuple[Stmt, ...]:
    """The statements directly under ``s`` (block init included)."""
    t = type(s)
    if t is For:
        return (s.body,)
    if t is SeqStmt:
        return s.seq
    if t is BlockRealize:
        return (s.block,)
    if t is Block:
        return (s.body,) if s.init is None else (s.init, s.body)
    if t is IfThenElse:
        return (s.then_case,) if s.else_case is None else (s.then_case, s.else_case)
    if t is LetStmt or t is Allocate:
        return (s.body,)
    return ()


def walk(func: PrimFunc) -> Iterator[Located]:
    """Every statement of ``func`` in pre-order, with its ancestors."""
    return walk_from(Located(func.body, ()))


def walk_from(loc: Located) -> Iterator[Located]:
    """``loc`` and every statement below it in pre-order, with their ancestors."""
    stack: list[tuple[Stmt, tuple[Stmt, ...]]] = [(loc.stmt, loc.ancestors)]
    while stack:
        s, anc = stack.pop()
        yield Located(s, anc)
        kids = stmt_children(s)
        if kids:
            anc2 = anc + (s,)
            for k in reversed(kids):
                stack.append((k, anc2))


class FuncIndex:
    """Every block (by name) and loop (by loop variable) of one PrimFunc.

    IR is immutable, so the index of a function object never goes stale; :func:`index`
    caches it for the most recently used functions. The index keeps each statement's
    parent and locates a block or loop (its ancestors) on demand: a primitive asks about
    a few of some 30 loops.

    (Deriving the index of a primitive's result from the index of its input, walking only
    the statements that are new objects, was tried: a split or fuse rebuilds the whole
    nest under the loop, so that walk covered most of the function, and the bookkeeping
    made it slower than a full build.)
    """

    __slots__ = ("_blocks", "_loc", "_loops", "_order", "_par", "func")

    def __init__(self, func: PrimFunc):
        self.func = func
        #: id(stmt) -> its parent statement (None for the body), for every statement with
        #: children (``func`` holds them all, so their ids stay theirs)
        self._par: dict[int, Stmt | None] = {}
        #: block name -> its BlockRealize (the first in pre-order)
        self._blocks: dict[str, BlockRealize] = {}
        #: loop variable -> its For
        self._loops: dict[Var, For] = {}
        #: id(stmt) -> its Located (made on demand)
        self._loc: dict[int, Located] = {}
        self._order: list[str] | None = None
        self._build()

    # -- building -------------------------------------------------------------------------
    def _build(self) -> None:
        par, blocks, loops = self._par, self._blocks, self._loops
        stack: list[tuple[Stmt, Stmt | None]] = [(self.func.body, None)]
        pop, push = stack.pop, stack.append
        n = 0
        while stack:
            s, p = pop()
            t = type(s)
            while t is For:  # loop nests: follow the chain without the stack
                loops[s.loop_var] = s
                par[id(s)] = p
                n += 1
                p, s = s, s.body
                t = type(s)
            if t is BlockRealize:
                name = s.block.name_hint
                if name not in blocks:  # duplicates are the verifier's business
                    blocks[name] = s
                push((s.block, s))
            elif t is SeqStmt:
                for k in reversed(s.seq):
                    push((k, s))
            elif t is Block:
                push((s.body, s))
                if s.init is not None:
                    push((s.init, s))
            else:
                kids = stmt_children(s)
                if not kids:
                    continue
                for k in reversed(kids):
                    push((k, s))
            par[id(s)] = p
            n += 1
        if n != len(par):  # one object at several places (ill-formed): explicit ancestors
            self._build_explicit()

    def _build_explicit(self) -> None:
        """The index of a function that holds one statement object at several places:
        each block and loop located by a walk (blocks: the first place in pre-order,
        loops: the last), nothing derived from it."""
        self._par.clear()
        self._blocks.clear()
        self._loops.clear()
        self._loc.clear()
        for loc in walk(self.func):
            s = loc.stmt
            if type(s) is For:
                self._loops[s.loop_var] = s
                self._loc[id(s)] = loc
            elif type(s) is BlockRealize and s.block.name_hint not in self._blocks:
                self._blocks[s.block.name_hint] = s
                self._loc[id(s)] = loc

    # -- locating -------------------------------------------------------------------------
    def _locate(self, s: Stmt) -> Located:
        loc = self._loc.get(id(s))
        if loc is not None:
            return loc
        par = self._par
        chain: list[Stmt] = []
        p = par[id(s)]
        while p is not None:
            chain.append(p)
            p = par[id(p)]
        chain.reverse()
        loc = self._loc[id(s)] = Located(s, tuple(chain))
        return loc

    def has_block(self, name: str) -> bool:
        return name in self._blocks

    def block(self, name: str, primitive: str = "get_block") -> Located:
        """The BlockRealize of the block called ``name`` (ScheduleError if absent)."""
        s = self._blocks.get(name)
        if s is None:
            raise ScheduleError(
                f"{primitive}: no block named {name!r} in the function; blocks are "
                f"{self.order}"
            )
        return self._locate(s)

    def block_realizes(self) -> Iterator[BlockRealize]:
        """Every block's BlockRealize (in no particular order)."""
        return iter(self._blocks.values())

    @property
    def order(self) -> list[str]:
        """Block names in pre-order (the root block first)."""
        if self._order is None:
            blocks = self._blocks
            order: list[str] = []
            seen: set[str] = set()
            stack: list[Stmt] = [self.func.body]
            while stack:
                s = stack.pop()
                if type(s) is BlockRealize:
                    name = s.block.name_hint
                    if name not in seen and blocks.get(name) is s:
                        seen.add(name)
                        order.append(name)
                kids = stmt_children(s)
                if kids:
                    stack.extend(reversed(kids))
            self._order = order
        return self._order

    @property
    def blocks(self) -> dict[str, Located]:
        """Block name -> its BlockRealize, located (pre-order: the root block first)."""
        return {n: self._locate(self._blocks[n]) for n in self.order}

    @property
    def loops(self) -> dict[Var, Located]:
        """Loop variable -> its For, located (pre-order)."""
        out: dict[Var, Located] = {}
        loops = self._loops
        stack: list[Stmt] = [self.func.body]
        while stack:
            s = stack.pop()
            if type(s) is For and s.loop_var not in out:
                out[s.loop_var] = self._locate(loops[s.loop_var])
            kids = stmt_children(s)
            if kids:
                stack.extend(reversed(kids))
        return out

    def has_loop(self, loop_var: Var) -> bool:
        return loop_var in self._loops

    def loop(self, loop_var: Var, primitive: str = "get_loops") -> Located:
        """The For whose loop variable is ``loop_var`` (ScheduleError if absent)."""
        s = self._loops.get(loop_var)
        if s is None:
            raise _no_loop(loop_var, primitive)
        return self._locate(s)


def _no_loop(loop_var: Var, primitive: str) -> ScheduleError:
    return ScheduleError(
        f"{primitive}: loop {loop_var.name} is not in the function (a later primitive such "
        "as split, fuse or compute_at removed it)"
    )


_INDEX_CACHE: dict[int, FuncIndex] = {}
_INDEX_CACHE_SIZE = 8  # a replay uses each function right after making it (the unscheduled
# function is indexed again at the start of each replay: 10 us); more only keeps old
# functions alive: survivors make the young-generation collections several times dearer


#: the most recently asked function and its index, as one tuple (replaced atomically)
_LAST: list[tuple] = [(None, None)]


def index(func: PrimFunc) -> FuncIndex:
    """The (cached) :class:`FuncIndex` of ``func``."""
    last = _LAST[0]
    if last[0] is func:
        return last[1]
    ix = _index(func)
    _LAST[0] = (func, ix)
    return ix


def _index(func: PrimFunc) -> FuncIndex:
    ix = _INDEX_CACHE.get(id(func))
    if ix is not None and ix.func is func:
        _INDEX_CACHE[id(func)] = _INDEX_CACHE.pop(id(func))  # most recently used last
        return ix
    ix = FuncIndex(func)
    if len(_INDEX_CACHE) >= _INDEX_CACHE_SIZE:
        del _INDEX_CACHE[next(iter(_INDEX_CACHE))]
    _INDEX_CACHE[id(func)] = ix  # holds ``func``, so its id cannot be reused meanwhile
    return ix


def search_loop(func: PrimFunc, loop_var: Var, primitive: str = "get_loops") -> Located:
    """:func:`find_loop` by a walk that stops at the loop, without indexing ``func`` (for
    an intermediate function a primitive asks about once)."""
    last = _LAST[0]
    if last[0] is func:
        return last[1].loop(loop_var, primitive)
    stack: list[tuple[Stmt, tuple[Stmt, ...]]] = [(func.body, ())]
    pop, push = stack.pop, stack.append
    while stack:
        s, anc = pop()
        t = type(s)
        if t is For:
            if s.loop_var is loop_var:
                return Located(s, anc)
            push((s.body, anc + (s,)))
        elif t is BlockRealize:
            push((s.block, anc + (s,)))
        else:
            kids = stmt_children(s)
            if kids:
                anc2 = anc + (s,)
                for k in reversed(kids):
                    push((k, anc2))
    raise _no_loop(loop_var, primitive)


def find_block(func: PrimFunc, name: str, primitive: str = "get_block") -> Located:
    """The BlockRealize of the block called ``name`` (raises ScheduleError if absent)."""
    return index(func).block(name, primitive)


def find_loop(func: PrimFunc, loop_var: Var, primitive: str = "get_loops") -> Located:
    """The For whose loop variable is ``loop_var`` (raises ScheduleError if absent)."""
    return index(func).loop(loop_var, primitive)


def all_blocks(func: PrimFunc) -> list[Located]:
    """Every BlockRealize in pre-order (the root block first)."""
    ix = index(func)
    return [ix.block(n) for n in ix.order]


def fresh_block_name(func: PrimFunc, base: str) -> str:
    """``base`` if no block has that name, else ``base_1``, ``base_2``, ... (the first free)."""
    ix = index(func)
    if not ix.has_block(base):
        return base
    k = 1
    while ix.has_block(f"{base}_{k}"):
        k += 1
    return f"{base}_{k}"


def with_child(parent: Stmt, old: Stmt, new: Stmt | None) -> Stmt:
    """``parent`` with its child ``old`` replaced by ``new`` (None removes it from a SeqStmt)."""
    if isinstance(parent, SeqStmt):
        items: list[Stmt] = []
        for c in parent.seq:
            if c is old:
                if new is None:
                    continue
                if isinstance(new, SeqStmt):
                    items.extend(new.seq)
                else:
                    items.append(new)
            else:
                items.append(c)
        if not items:
            raise ScheduleError("internal: removing the only statement of a sequence")
        return items[0] if len(items) == 1 else SeqStmt(tuple(items))
    if new is None:
        raise ScheduleError(f"internal: cannot remove the only child of a {type(parent).__name__}")
    if isinstance(parent, For):
        return For(parent.loop_var, parent.min, parent.extent, parent.kind, new,
                   parent.thread_binding, parent.annotations)
    if isinstance(parent, BlockRealize):
        assert isinstance(new, Block)
        return BlockRealize(parent.iter_values, parent.predicate, new)
    if isinstance(parent, Block):
        init, body = parent.init, parent.body
        if init is old:
            init = new
        else:
            body = new
        return Block(parent.iter_vars, parent.reads, parent.writes, parent.name_hint, body,
                     init, parent.alloc_buffers, parent.annotations)
    if isinstance(parent, IfThenElse):
        if parent.then_case is old:
            return IfThenElse(parent.condition, new, parent.else_case)
        return IfThenElse(parent.condition, parent.then_case, new)
    if isinstance(parent, LetStmt):
        return LetStmt(parent.var, parent.value, new)
    if isinstance(parent, Allocate):
        return Allocate(parent.buffer, new)
    raise ScheduleError(f"internal: {type(parent).__name__} has no child statements")


def replace(func: PrimFunc, loc: Located, new: Stmt | None) -> PrimFunc:
    """Rebuild ``func`` with ``loc.stmt`` replaced by ``new``; everything else is shared."""
    cur_old: Stmt = loc.stmt
    cur_new: Stmt | None = new
    pairs = _shallow_pairs(cur_old, new) if new is not None else None
    for parent in reversed(loc.ancestors):
        rebuilt = with_child(parent, cur_old, cur_new)
        cur_old, cur_new = parent, rebuilt
        if pairs is not None:
            pairs.append((parent, rebuilt))
    if cur_new is None:
        raise ScheduleError("internal: cannot remove the function body")
    out = func.with_body(cur_new)
    if pairs is not None:
        _derive_index(func, out, pairs)
    return out


def _shallow_pairs(old: Stmt, new: Stmt) -> list[tuple[Stmt, Stmt]] | None:
    """``[(old, new)]`` when ``new`` differs from ``old`` only in its own fields (the same
    child objects, the same loop variable or block name: annotate, parallel, vectorize,
    ...), with the block of a BlockRealize first when that is such a copy too; None
    otherwise."""
    t = type(new)
    if type(old) is not t or t is SeqStmt or t not in _CONTAINERS:
        return None
    ko, kn = stmt_children(old), stmt_children(new)
    if len(ko) != len(kn):
        return None
    if t is For:
        if new.loop_var is not old.loop_var or kn[0] is not ko[0]:
            return None
        return [(old, new)]
    if t is BlockRealize:
        if new.block.name_hint != old.block.name_hint:
            return None
        if kn[0] is ko[0]:
            return [(old, new)]
        inner = _shallow_pairs(ko[0], kn[0])
        return None if inner is None else [*inner, (old, new)]
    if t is Block and new.name_hint != old.name_hint:
        return None
    if any(a is not b for a, b in zip(ko, kn, strict=True)):
        return None
    return [(old, new)]


_CONTAINERS = frozenset((For, BlockRealize, Block, SeqStmt, IfThenElse, LetStmt, Allocate))
_GONE = object()


def _derive_index(func: PrimFunc, out: PrimFunc, pairs: list[tuple[Stmt, Stmt]]) -> None:
    """Cache the index of ``out``, made from ``func`` by replacing the statements of
    ``pairs`` (old, new; innermost first, up to the body) by copies with the same
    children, from the cached index of ``func`` (when there is one): only the parents of
    the copies and of their children change, not the rest of the tree."""
    last = _LAST[0]
    base = last[1] if last[0] is func else _INDEX_CACHE.get(id(func))
    if base is None or base.func is not func or len(pairs) * 4 > len(base._par):
        return  # no index to start from, or a long path: a full build is as cheap
    ix = FuncIndex.__new__(FuncIndex)
    ix.func = out
    ix._par = par = dict(base._par)
    ix._blocks = blocks = dict(base._blocks)
    ix._loops = loops = dict(base._loops)
    ix._loc = {}
    ix._order = None
    top = len(pairs) - 1
    for i, (o, n) in enumerate(pairs):
        if par.pop(id(o), _GONE) is _GONE:
            return
        par[id(n)] = pairs[i + 1][1] if i < top else None
        t = type(n)
        if t is For:
            if loops.get(n.loop_var) is not o:
                return
            loops[n.loop_var] = n
        elif t is BlockRealize:
            if blocks.get(n.block.name_hint) is not o:
                return
            blocks[n.block.name_hint] = n
        for c in stmt_children(n):
            if type(c) in _CONTAINERS:
                par[id(c)] = n
    if len(_INDEX_CACHE) >= _INDEX_CACHE_SIZE:
        del _INDEX_CACHE[next(iter(_INDEX_CACHE))]
    _INDEX_CACHE[id(out)] = ix


_FREE_VARS: dict[int, tuple[object, frozenset]] = {}
_FREE_VARS_SIZE = 1024  # a conv2d replay adds some 20; each entry keeps its node alive, and
# a long-lived cache of old IR makes every full collection walk it (16384: 40 ms each)


def free_vars(node: object) -> frozenset:
    """The variables under an IR node (:func:`collect_vars`), cached per node object: IR
    is immutable and shared between the functions a schedule produces, so the same
    statements and bindings are asked about again and again."""
    t = type(node)
    if t is Var:
        return frozenset((node,))
    if t is IntImm:
        return frozenset()
    hit = _FREE_VARS.get(id(node))
    if hit is not None and hit[0] is node:
        return hit[1]
    out = frozenset(_index_vars(node))
    if len(_FREE_VARS) >= _FREE_VARS_SIZE:
        _FREE_VARS.clear()
    _FREE_VARS[id(node)] = (node, out)  # holds ``node``: its id cannot be reused meanwhile
    return out


_INDEX_BINARY = frozenset((Add, Sub, Mul, FloorDiv, FloorMod, Min, Max, LT, LE, GT, GE, EQ, NE,
                           And, Or))


def _index_vars(node: object) -> set:
    """:func:`collect_vars` with a direct walk over the nodes of index arithmetic (the
    bindings and predicates asked about); any other node is collected generically."""
    out: set = set()
    stack = [node]
    pop, push = stack.pop, stack.append
    while stack:
        x = pop()
        t = type(x)
        if t is Var:
            out.add(x)
        elif t is IntImm:
            continue
        elif t in _INDEX_BINARY:
            push(x.a)
            push(x.b)
        else:
            out |= collect_vars(x)
    return out


def substitute_region(reg: BufferRegion, vmap: Mapping[Var, PrimExpr]) -> BufferRegion:
    """``functor.substitute`` of a BufferRegion (the same result, unchanged ranges shared),
    by :func:`~onnxtune.tir.arith.utils.substitute_expr` on each bound."""
    if not vmap:
        return reg
    out = []
    changed = False
    for r in reg.region:
        mn, ext = substitute_expr(r.min, vmap), substitute_expr(r.extent, vmap)
        if mn is r.min and ext is r.extent:
            out.append(r)
        else:
            out.append(Range(mn, ext))
            changed = True
    return BufferRegion(reg.buffer, tuple(out)) if changed else reg
