"""Weight layout rewrite blocks (inserted by the tuner's RewriteLayout): remove them for
measurement, or split them into a one-time repacking function at compile time.

A layout-rewrite block is a block annotated ``meta_schedule.layout_rewrite_preproc`` that
copies a parameter ``W`` into a buffer ``W_global`` stored in another layout, read by the
rest of the function instead of ``W``. Its loop nest sits directly in the root block.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..buffer import Buffer
from ..function import PrimFunc
from ..stmt import Block, BlockRealize, SeqStmt, Stmt, seq, true

#: block annotation of a layout-rewrite (weight repacking) block
LAYOUT_REWRITE_PREPROC = "meta_schedule.layout_rewrite_preproc"


@dataclass(frozen=True)
class _Rewrite:
    stmt: Stmt  # the top-level loop nest of the copy block, a child of the root body
    src: Buffer  # the parameter read
    dst: Buffer  # the buffer written, in the new layout


def _root(func: PrimFunc) -> tuple[BlockRealize, Block]:
    body = func.body
    if not isinstance(body, BlockRealize):
        raise ValueError("layout rewrite: the function body is not a root block (was it "
                         "lowered already?)")
    return body, body.block


def _top_level(block: Block) -> list[Stmt]:
    return list(block.body.seq) if isinstance(block.body, SeqStmt) else [block.body]


def _only_block(stmt: Stmt) -> BlockRealize | None:
    """The single BlockRealize a loop nest holds, or None if it holds several or none."""
    from ..schedule.primitives.queries import child_realizes

    if isinstance(stmt, BlockRealize):
        return stmt
    found = child_realizes(stmt)
    return found[0] if len(found) == 1 else None


def _uses(stmt: Stmt, buf: Buffer) -> bool:
    from ..schedule.primitives.queries import child_realizes

    for r in child_realizes(stmt) if not isinstance(stmt, BlockRealize) else [stmt]:
        b = r.block
        if any(x.buffer is buf for x in (*b.reads, *b.writes)):
            return True
    return False


def _find(func: PrimFunc) -> list[_Rewrite]:
    _, root = _root(func)
    tops = _top_level(root)
    out: list[_Rewrite] = []
    for stmt in tops:
        realize = _only_block(stmt)
        if realize is None or LAYOUT_REWRITE_PREPROC not in realize.block.annotations:
            continue
        blk = realize.block
        if len(blk.reads) != 1 or len(blk.writes) != 1:
            raise ValueError(f"layout rewrite block {blk.name_hint!r} must read one buffer and "
                             f"write one; it reads {len(blk.reads)} and writes "
                             f"{len(blk.writes)}")
        src, dst = blk.reads[0].buffer, blk.writes[0].buffer
        if src not in func.params:
            raise ValueError(f"layout rewrite block {blk.name_hint!r} reads {src.name}, which "
                             "is not a parameter of the function")
        if dst not in root.alloc_buffers:
            raise ValueError(f"layout rewrite block {blk.name_hint!r} writes {dst.name}, which "
                             "is not allocated by the root block")
        if any(s is not stmt and _uses(s, src) for s in tops):
            raise ValueError(f"parameter {src.name} is read outside its layout rewrite block "
                             f"{blk.name_hint!r}; it cannot be replaced by {dst.name}")
        out.append(_Rewrite(stmt, src, dst))
    return out


def _without(func: PrimFunc, rewrites: list[_Rewrite]) -> PrimFunc:
    realize, root = _root(func)
    drop = {id(r.stmt) for r in rewrites}
    dsts = {r.dst for r in rewrites}
    body = seq(*[s for s in _top_level(root) if id(s) not in drop])
    new_root = Block(root.iter_vars, root.reads, root.writes, root.name_hint, body, root.init,
                     tuple(b for b in root.alloc_buffers if b not in dsts), root.annotations)
    mapping = {r.src: r.dst for r in rewrites}
    params = tuple(mapping.get(p, p) for p in func.params)
    return PrimFunc(params, BlockRealize(realize.iter_values, realize.predicate, new_root),
                    func.attrs)


def remove_weight_layout_rewrite_block(func: PrimFunc) -> PrimFunc:
    """``func`` without its layout-rewrite blocks: each repacked parameter is replaced, at
    the same position, by the buffer in the new layout (the caller passes the weight
    already repacked). A function without such blocks is returned unchanged."""
    rewrites = _find(func)
    if not rewrites:
        return func
    return _without(func, rewrites)


def split_layout_rewrite_preproc(func: PrimFunc) -> tuple[PrimFunc | None, PrimFunc]:
    """``(preproc, compute)``: ``preproc`` holds the layout-rewrite blocks and takes the
    original parameters then the repacked buffers (``[W1, ..., Wk, W1_global, ...,
    Wk_global]``, in the order of ``func``'s parameters); ``compute`` is
    :func:`remove_weight_layout_rewrite_block` of ``func``. ``preproc`` is None if the
    function has no layout-rewrite block (``compute`` is then ``func``)."""
    rewrites = _find(func)
    if not rewrites:
        return None, func
    pos = {p: i for i, p in enumerate(func.params)}
    rewrites_sorted = sorted(rewrites, key=lambda r: pos[r.src])
    realize, root = _root(func)
    pre_root = Block((), (), (), "root", seq(*[r.stmt for r in rewrites]), None, (), {})
    params = tuple(r.src for r in rewrites_sorted) + tuple(r.dst for r in rewrites_sorted)
    attrs = {k: v for k, v in func.attrs.items() if k == "tir.noalias"}
    preproc = PrimFunc(params, BlockRealize((), true(), pre_root), attrs)
    return preproc, _without(func, rewrites)
