"""Generic traversal of IR trees: visitors, a sharing mutator, substitution, buffer renaming.

Every IR node is a dataclass whose children are nodes or tuples of nodes. The generic
traversal walks those fields; a subclass overrides ``visit_<ClassName>`` (looked up along
the class hierarchy, e.g. ``visit_BinaryOp`` catches Add, Mul, ...) for the nodes it
cares about. Buffers are leaves: they are referenced, not owned, by the nodes that use
them. The mutator returns the very same object when nothing below a node changed, so a
transformation rebuilds only the path it touches.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import Any

from .buffer import Buffer, BufferRegion
from .expr import BufferLoad, Node, PrimExpr, Var
from .stmt import Allocate, Block, BufferStore

_FIELDS: dict[type, tuple[str, ...]] = {}


def node_fields(cls: type) -> tuple[str, ...]:
    """Names of a node class's dataclass fields, in constructor order (cached)."""
    names = _FIELDS.get(cls)
    if names is None:
        names = tuple(f.name for f in fields(cls))
        _FIELDS[cls] = names
    return names


def children(node: Node) -> list[Node]:
    """The direct child nodes of ``node`` (buffers excluded), in field order."""
    out: list[Node] = []
    for name in node_fields(type(node)):
        v = getattr(node, name)
        if isinstance(v, Node):
            if not isinstance(v, Buffer):
                out.append(v)
        elif isinstance(v, tuple):
            for x in v:
                if isinstance(x, Node) and not isinstance(x, Buffer):
                    out.append(x)
    return out


class Visitor:
    """Read-only traversal; override ``visit_<ClassName>`` and call ``self.generic_visit``."""

    _cache: dict[type, Callable] | None = None

    def visit(self, node: Node) -> None:
        cls = type(node)
        table = type(self).__dict__.get("_table")
        if table is None:
            table = {}
            type(self)._table = table  # type: ignore[attr-defined]
        fn = table.get(cls)
        if fn is None:
            fn = _lookup(type(self), cls, "generic_visit")
            table[cls] = fn
        fn(self, node)

    def generic_visit(self, node: Node) -> None:
        for c in children(node):
            self.visit(c)


class Mutator:
    """Rebuilding traversal that shares every subtree it did not change."""

    def visit(self, node: Any) -> Any:
        cls = type(node)
        table = type(self).__dict__.get("_table")
        if table is None:
            table = {}
            type(self)._table = table  # type: ignore[attr-defined]
        fn = table.get(cls)
        if fn is None:
            fn = _lookup(type(self), cls, "generic_visit")
            table[cls] = fn
        return fn(self, node)

    def generic_visit(self, node: Node) -> Node:
        cls = type(node)
        names = node_fields(cls)
        vals = []
        changed = False
        for name in names:
            v = getattr(node, name)
            if isinstance(v, Node):
                nv = v if isinstance(v, Buffer) else self.visit(v)
            elif isinstance(v, tuple) and v and isinstance(v[0], Node):
                nv = self.visit_tuple(v)
            else:
                nv = v
            if nv is not v:
                changed = True
            vals.append(nv)
        if not changed:
            return node
        return cls(*vals)

    def visit_tuple(self, items: tuple) -> tuple:
        out = []
        changed = False
        for x in items:
            nx = x if isinstance(x, Buffer) or not isinstance(x, Node) else self.visit(x)
            if nx is not x:
                changed = True
            out.append(nx)
        return tuple(out) if changed else items


def _lookup(visitor_cls: type, node_cls: type, default: str) -> Callable:
    for k in node_cls.__mro__:
        fn = getattr(visitor_cls, "visit_" + k.__name__, None)
        if fn is not None:
            return fn
    return getattr(visitor_cls, default)


# ----------------------------------------------------------------------------------------
# convenience traversals


def post_order_visit(node: Node, fn: Callable[[Node], None]) -> None:
    """Call ``fn`` on every node below and including ``node``, children first."""
    stack: list[tuple[Node, bool]] = [(node, False)]
    while stack:
        n, expanded = stack.pop()
        if expanded:
            fn(n)
            continue
        stack.append((n, True))
        for c in reversed(children(n)):
            stack.append((c, False))


def pre_order_visit(node: Node, fn: Callable[[Node], bool | None]) -> None:
    """Call ``fn`` on every node, parents first; ``fn`` returning False skips the subtree."""
    stack: list[Node] = [node]
    while stack:
        n = stack.pop()
        if fn(n) is False:
            continue
        stack.extend(reversed(children(n)))


class _Substituter(Mutator):
    def __init__(self, vmap: Mapping[Var, PrimExpr] | Callable[[Var], PrimExpr | None]):
        self.vmap = vmap

    def visit_Var(self, v: Var) -> PrimExpr:
        if callable(self.vmap):
            r = self.vmap(v)
            return v if r is None else r
        return self.vmap.get(v, v)


def substitute(node: Any, vmap: Mapping[Var, PrimExpr] | Callable[[Var], PrimExpr | None]) -> Any:
    """Replace variables in ``node`` by expressions; shares every unchanged subtree."""
    if not callable(vmap) and not vmap:
        return node
    return _Substituter(vmap).visit(node)


def uses_var(node: Node, pred: Callable[[Var], bool]) -> bool:
    """True if some variable under ``node`` satisfies ``pred``."""
    found = False

    def f(n: Node) -> bool:
        nonlocal found
        if found:
            return False
        if isinstance(n, Var) and pred(n):
            found = True
            return False
        return True

    pre_order_visit(node, f)
    return found


def collect_vars(node: Node) -> set[Var]:
    out: set[Var] = set()

    def f(n: Node) -> None:
        if isinstance(n, Var):
            out.add(n)

    pre_order_visit(node, f)
    return out


class _BufferReplacer(Mutator):
    def __init__(self, bmap: Mapping[Buffer, Buffer]):
        self.bmap = bmap

    def visit_BufferLoad(self, n: BufferLoad) -> PrimExpr:
        idx = self.visit_tuple(n.indices)
        b = self.bmap.get(n.buffer, n.buffer)
        if b is n.buffer and idx is n.indices:
            return n
        return BufferLoad(b, idx)

    def visit_BufferStore(self, n: BufferStore) -> BufferStore:
        idx = self.visit_tuple(n.indices)
        val = self.visit(n.value)
        b = self.bmap.get(n.buffer, n.buffer)
        if b is n.buffer and idx is n.indices and val is n.value:
            return n
        return BufferStore(b, val, idx)

    def visit_BufferRegion(self, n: BufferRegion) -> BufferRegion:
        region = self.visit_tuple(n.region)
        b = self.bmap.get(n.buffer, n.buffer)
        if b is n.buffer and region is n.region:
            return n
        return BufferRegion(b, region)

    def visit_Allocate(self, n: Allocate) -> Allocate:
        body = self.visit(n.body)
        b = self.bmap.get(n.buffer, n.buffer)
        if b is n.buffer and body is n.body:
            return n
        return Allocate(b, body)

    def visit_Block(self, n: Block) -> Block:
        new = self.generic_visit(n)
        allocs = tuple(self.bmap.get(b, b) for b in n.alloc_buffers)
        if all(a is b for a, b in zip(allocs, n.alloc_buffers, strict=True)):
            return new
        return Block(
            new.iter_vars, new.reads, new.writes, new.name_hint, new.body, new.init, allocs,
            new.annotations,
        )


def replace_buffers(node: Any, bmap: Mapping[Buffer, Buffer]) -> Any:
    """Replace every reference to the buffers in ``bmap`` (loads, stores, regions, allocs)."""
    if not bmap:
        return node
    return _BufferReplacer(bmap).visit(node)
