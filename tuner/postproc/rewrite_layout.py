"""RewriteLayout: store constant weights in the layout the tiled loops read them in.

For each parameter listed in the PrimFunc attr ``layout_free_buffers`` (its data is
constant, e.g. a weight) that exactly one block reads, through a point access whose
flattened index is an affine map of that block's loops (TVM's SuggestIndexMap):

1. the flattened index is decomposed into the loop-digit splits that enumerate it
   (``k = k0*8 + k1`` and ``j = j0*12 + j1`` give digits k0, k1, j0, j1);
2. the digits are reordered in the order of the loops that produce them, outermost
   first, which becomes the new shape ``(J0, K0, K1, J1)`` for loops ``j0, k0, k1, j1``;
3. a ``cache_read`` block annotated ``meta_schedule.layout_rewrite_preproc`` copies the
   parameter into a new buffer, which ``transform_layout`` stores in that order, so the
   innermost loops walk the weight contiguously.

The copy runs in the scheduled function as it stands (so the program stays correct);
``tir.transform.layout_rewrite`` removes it for measurement (the weight is then a
parameter in the new layout) and splits it into its own function at compile time, where
constant weights are repacked once. A buffer whose access is not such a map, or that is
already in loop order, is left alone.
"""

from __future__ import annotations

import logging
from typing import Any

from onnxtune.tir.arith import Analyzer, detect_iter_map
from onnxtune.tir.expr import IntImm, PrimExpr, Range
from onnxtune.tir.functor import collect_vars, substitute
from onnxtune.tir.schedule import ScheduleError
from onnxtune.tir.schedule.index_map import IndexMap
from onnxtune.tir.schedule.tree import index

from .postproc import Postproc

log = logging.getLogger(__name__)

#: block annotation marking the weight-repacking block inserted by RewriteLayout
LAYOUT_REWRITE_PREPROC = "meta_schedule.layout_rewrite_preproc"
#: PrimFunc attr: indices of the parameters whose data is constant (weights)
LAYOUT_FREE_BUFFERS = "layout_free_buffers"


def layout_free_params(func: Any) -> list[int]:
    """The parameter indices listed in the function's ``layout_free_buffers`` attr."""
    raw = func.attrs.get(LAYOUT_FREE_BUFFERS, ()) or ()
    out = []
    for x in raw:
        v = x.value if isinstance(x, IntImm) else x
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < len(func.params):
            raise ScheduleError(
                f"RewriteLayout: attr {LAYOUT_FREE_BUFFERS!r} holds {x!r}, which is not the "
                f"index of one of the {len(func.params)} parameters"
            )
        out.append(v)
    return out


def suggest_index_map(buf: Any, indices: list[PrimExpr], loops: list[Any],
                      predicate: PrimExpr) -> IndexMap | None:
    """An index map that stores ``buf`` so that accessing ``buf[indices]`` inside
    ``loops`` (outermost first) walks memory in loop order, or None if the access is not
    an affine bijection onto the whole buffer or is already in loop order."""
    shape = [s.value if isinstance(s, IntImm) else None for s in buf.shape]
    if None in shape or not indices:
        return None
    an = Analyzer()
    flat: PrimExpr = indices[0]
    for d in range(1, len(shape)):
        flat = flat * shape[d] + indices[d]
    flat = an.simplify(flat)
    doms = {f.loop_var: Range(f.min, f.extent) for f in loops}
    res = detect_iter_map([flat], doms, predicate, "surjective", an)
    if res is None:
        return None
    ssum = res.indices[0]
    base = an.simplify(ssum.base)
    numel = 1
    for s in shape:
        numel *= s
    if not (isinstance(base, IntImm) and base.value == 0) or ssum.extent != numel:
        return None
    pos = {f.loop_var: i for i, f in enumerate(loops)}
    mark_pos: dict[int, int] = {}
    for v, mark in res.input_marks.items():
        mark_pos[id(mark)] = pos.get(v, len(loops))

    def order(split: Any) -> tuple[int, int]:
        p = mark_pos.get(id(split.mark))
        if p is None:  # a fused mark: place it at its outermost loop
            vs = [pos[v] for v in collect_vars(split.mark.source) if v in pos]
            p = min(vs) if vs else len(loops)
        return p, -split.lower_factor

    splits = [s for s in ssum.splits if s.extent > 1]
    ordered = sorted(splits, key=order)
    by_scale = sorted(splits, key=lambda s: -s.scale)
    if [id(s) for s in ordered] == [id(s) for s in by_scale]:
        return None  # the buffer is already read in loop order
    strides = []
    acc = 1
    for s in reversed(shape):
        strides.append(acc)
        acc *= s
    strides.reverse()

    def digit(idx: tuple, s: Any) -> Any:
        for d, st in enumerate(strides):
            span = st * shape[d]
            if s.scale % st == 0 and span % (s.scale * s.extent) == 0:
                e = idx[d] if s.scale == st else idx[d] // (s.scale // st)
                return e if s.scale * s.extent == span else e % s.extent
        f: Any = 0
        for i, st in zip(idx, strides, strict=True):
            f = f + i * st if st != 1 else f + i
        return (f // s.scale) % s.extent

    def fn(*idx: Any) -> tuple:
        return tuple(digit(idx, s) for s in ordered)

    return IndexMap.from_func(fn, len(shape))


def rewrite_layout(sch: Any) -> int:
    """Insert the layout-rewrite blocks; the number of buffers rewritten."""
    func = sch.func
    done = 0
    for p in layout_free_params(func):
        buf = sch.func.params[p]
        ix = index(sch.func)
        readers = [n for n in ix.order[1:]
                   if any(r.buffer is buf for r in ix.blocks[n].stmt.block.reads)]
        if len(readers) != 1:
            continue
        loc = ix.blocks[readers[0]]
        realize = loc.stmt
        block = realize.block
        if LAYOUT_REWRITE_PREPROC in block.annotations:
            continue  # already rewritten
        k = next(i for i, r in enumerate(block.reads) if r.buffer is buf)
        region = block.reads[k].region
        if not all(isinstance(r.extent, IntImm) and r.extent.value == 1 for r in region):
            continue
        binding = {iv.var: v for iv, v in zip(block.iter_vars, realize.iter_values,
                                              strict=True)}
        indices = [substitute(r.min, binding) for r in region]
        loops = loc.loops()
        if any(not isinstance(f.extent, IntImm) for f in loops):
            continue
        used = set()
        for i in indices:
            used |= collect_vars(i)
        if not used <= {f.loop_var for f in loops}:
            continue  # depends on something but this block's loops
        imap = suggest_index_map(buf, indices, loops, realize.predicate)
        if imap is None:
            continue
        block_rv = sch.get_block(readers[0])
        cache = sch.cache_read(block_rv, k, "global")
        sch.annotate(cache, LAYOUT_REWRITE_PREPROC, True)
        cache_name = sch.get(cache).name_hint
        blk = sch.get(block_rv)
        k2 = next(i for i, r in enumerate(blk.reads) if r.buffer.name == _written(sch, cache))
        sch.transform_layout(block_rv, ("read", k2), imap)
        log.debug("RewriteLayout: %s read by %s stored as %s (copy block %s)", buf.name,
                  readers[0], imap, cache_name)
        done += 1
    return done


def _written(sch: Any, block_rv: Any) -> str:
    return sch.get(block_rv).writes[0].buffer.name


class RewriteLayout(Postproc):
    """A postprocessor that rewrites the layout of constant input tensors (the params in
    the ``layout_free_buffers`` attr) to the order the tiled loops read them in."""

    def apply(self, sch: Any) -> bool:
        try:
            rewrite_layout(sch)
        except ValueError as err:  # ScheduleError and arithmetic errors
            log.debug("RewriteLayout rejected the schedule: %s", err)
            return False
        return True


__all__ = ["LAYOUT_FREE_BUFFERS", "LAYOUT_REWRITE_PREPROC", "RewriteLayout",
           "suggest_index_map"]
