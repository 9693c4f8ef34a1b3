"""Buffer-level primitives: set_scope, storage_align and transform_layout."""

from __future__ import annotations

from ...arith import Analyzer
from ...buffer import Buffer, BufferRegion
from ...expr import BufferLoad, IntImm, PrimExpr, Range
from ...function import PrimFunc
from ...functor import Mutator, replace_buffers
from ...stmt import Block, BufferStore
from ..error import ScheduleError
from ..index_map import IndexMap
from .block_common import check_storage_scope, locate_block, nth_region, with_fields

#: the block annotation storage_align records: (write buffer index, axis, factor, offset)
BUFFER_DIM_ALIGN = "buffer_dim_align"


def _replace_everywhere(func: PrimFunc, old: Buffer, new: Buffer) -> PrimFunc:
    body = replace_buffers(func.body, {old: new})
    params = tuple(new if p is old else p for p in func.params)
    return PrimFunc(params, body, func.attrs)


def _allocated(func: PrimFunc, buf: Buffer) -> bool:
    return buf not in func.params


def set_scope(func: PrimFunc, block: str, buffer_index: int, storage_scope: str) -> PrimFunc:
    """Give the ``buffer_index``-th buffer ``block`` writes the storage scope
    ``storage_scope`` (the buffer must be allocated by a block, not a parameter)."""
    prim = "set_scope"
    check_storage_scope(prim, storage_scope)
    loc = locate_block(func, block, prim)
    buf = nth_region(loc.stmt.block, buffer_index, "write", prim).buffer
    if not _allocated(func, buf):
        raise ScheduleError(f"{prim}: buffer {buf.name} is a parameter of the function; only a "
                            "buffer allocated by a block can change its storage scope")
    if buf.scope == storage_scope:
        return func
    return _replace_everywhere(func, buf, with_fields(buf, scope=storage_scope))


def storage_align(func: PrimFunc, block: str, buffer_index: int, axis: int, factor: int,
                  offset: int) -> PrimFunc:
    """Pad the stride of dimension ``axis`` of the ``buffer_index``-th buffer ``block``
    writes so that ``stride % factor == offset``.

    Recorded twice, as TVM does plus what lowering reads: in the block annotation
    ``buffer_dim_align`` as ``(buffer_index, axis, factor, offset)`` tuples, and in the
    buffer's ``storage_align`` field as ``(axis, factor, offset)``. A later call for the
    same axis replaces the earlier one.
    """
    prim = "storage_align"
    loc = locate_block(func, block, prim)
    blk: Block = loc.stmt.block
    buf = nth_region(blk, buffer_index, "write", prim).buffer
    ndim = len(buf.shape)
    if isinstance(axis, bool) or not isinstance(axis, int) or not -ndim <= axis < ndim:
        raise ScheduleError(f"{prim}: axis {axis!r} is out of range for buffer {buf.name} of "
                            f"{ndim} dimension(s); expected an integer in [{-ndim}, {ndim})")
    axis = axis + ndim if axis < 0 else axis
    if not isinstance(factor, int) or factor < 1:
        raise ScheduleError(f"{prim}: factor {factor!r} must be a positive integer")
    if not isinstance(offset, int) or not 0 <= offset < factor:
        raise ScheduleError(f"{prim}: offset {offset!r} must be an integer in [0, {factor})")
    if not _allocated(func, buf):
        raise ScheduleError(f"{prim}: buffer {buf.name} is a parameter of the function; only a "
                            "buffer allocated by a block can be aligned")
    ann = dict(blk.annotations)
    entries = [tuple(e) for e in ann.get(BUFFER_DIM_ALIGN, ())
               if not (e[0] == buffer_index and e[1] == axis)]
    entries.append((buffer_index, axis, factor, offset))
    ann[BUFFER_DIM_ALIGN] = tuple(entries)
    func = _set_block(func, loc, with_fields(blk, annotations=ann))
    aligns = tuple(a for a in buf.storage_align if a[0] != axis) + ((axis, factor, offset),)
    return _replace_everywhere(func, buf, with_fields(buf, storage_align=aligns))


def _set_block(func: PrimFunc, loc, new_block: Block) -> PrimFunc:
    from ..tree import replace

    return replace(func, loc, with_fields(loc.stmt, block=new_block))


# ----------------------------------------------------------------------------------------
# transform_layout


class _Relayout(Mutator):
    def __init__(self, old: Buffer, new: Buffer, imap: IndexMap):
        self.old = old
        self.new = new
        self.imap = imap
        self.an = Analyzer()

    def indices(self, idx: tuple[PrimExpr, ...]) -> tuple[PrimExpr, ...]:
        return tuple(self.imap.map_indices(idx, self.an))

    def visit_BufferLoad(self, n: BufferLoad) -> PrimExpr:
        n = self.generic_visit(n)
        if n.buffer is not self.old:
            return n
        return BufferLoad(self.new, self.indices(n.indices))

    def visit_BufferStore(self, n: BufferStore) -> BufferStore:
        n = self.generic_visit(n)
        if n.buffer is not self.old:
            return n
        return BufferStore(self.new, n.value, self.indices(n.indices))

    def visit_BufferRegion(self, n: BufferRegion) -> BufferRegion:
        n = self.generic_visit(n)
        if n.buffer is not self.old:
            return n
        if all(isinstance(r.extent, IntImm) and r.extent.value == 1 for r in n.region):
            idx = self.indices(tuple(r.min for r in n.region))
            return BufferRegion(self.new, tuple(Range(i, IntImm(1, i.dtype)) for i in idx))
        return BufferRegion(self.new, tuple(self.imap.map_ranges(n.region, self.an)))

    def visit_Block(self, b: Block) -> Block:
        new = self.generic_visit(b)
        if self.old in new.alloc_buffers:
            allocs = tuple(self.new if x is self.old else x for x in new.alloc_buffers)
            new = with_fields(new, alloc_buffers=allocs)
        return new


def transform_layout(func: PrimFunc, block: str, buffer_index: int, buffer_index_type: str,
                     index_map: IndexMap) -> PrimFunc:
    """Store the ``buffer_index``-th read (``buffer_index_type="read"``) or write buffer of
    ``block`` in the layout ``index_map``: its shape becomes ``index_map.map_shape(shape)``
    and every access ``B[i]`` in the function becomes ``B[index_map(i)]``.

    For a buffer that is a parameter the function's parameter changes too (as in TVM): the
    caller must then pass the array in the new layout. ``storage_align`` hints of the old
    layout are dropped.
    """
    prim = "transform_layout"
    if buffer_index_type not in ("read", "write"):
        raise ScheduleError(f"{prim}: buffer_index_type must be 'read' or 'write', got "
                            f"{buffer_index_type!r}")
    if not isinstance(index_map, IndexMap):
        raise TypeError(f"{prim}: index_map must be an IndexMap, got {type(index_map).__name__}")
    loc = locate_block(func, block, prim)
    buf = nth_region(loc.stmt.block, buffer_index, buffer_index_type, prim).buffer
    if len(index_map.initial_indices) != len(buf.shape):
        raise ScheduleError(
            f"{prim}: the index map takes {len(index_map.initial_indices)} indices but buffer "
            f"{buf.name} has {len(buf.shape)} dimensions"
        )
    try:
        shape = tuple(index_map.map_shape(buf.shape))
    except ValueError as err:
        raise ScheduleError(f"{prim}: cannot transform buffer {buf.name}: {err}") from None
    _check_one_to_one(index_map, buf, block, prim)
    new = Buffer(buf.name, shape, buf.dtype, buf.scope, buf.align)
    body = _Relayout(buf, new, index_map).visit(func.body)
    params = tuple(new if p is buf else p for p in func.params)
    return PrimFunc(params, body, func.attrs)


def _check_one_to_one(index_map: IndexMap, buf: Buffer, block: str, prim: str) -> None:
    """A layout map must send distinct elements to distinct places (and, without padding,
    fill the new shape): a many-to-one map would alias elements."""
    from ...expr import IntImm, Range
    from ..index_map import detect_bijective

    dims = [d.value if isinstance(d, IntImm) else d for d in buf.shape]
    if not all(isinstance(d, int) for d in dims):
        return  # symbolic shapes: trusted, as before
    doms = {v: Range(IntImm(0, v.dtype), IntImm(int(d), v.dtype))
            for v, d in zip(index_map.initial_indices, dims, strict=True)}
    if detect_bijective(index_map.final_indices, doms) is None:
        raise ScheduleError(
            f"{prim}: the index map {index_map} is not one-to-one from buffer {buf.name} "
            f"(shape {dims}) onto its new shape (block {block}): elements would alias or "
            "the new layout would need padding, which is not supported"
        )
