"""The block primitives of Schedule (compute_at, cache_read, rfactor, ...): thin methods that
resolve random variables, call the pure functions of ``primitives/`` and record the call."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from . import instruction as K
from .error import ScheduleError
from .instruction import BlockRV, LoopRV

_CACHE: dict[str, Callable] = {}


def block_primitive(name: str) -> Callable:
    """The pure function ``name`` of ``primitives/block_ops.py`` (imported lazily)."""
    fn = _CACHE.get(name)
    if fn is not None:
        return fn
    try:
        from .primitives import block_ops
    except ImportError as err:
        raise NotImplementedError(
            f"the schedule primitive {name} is not available: {err}") from None
    fn = getattr(block_ops, name, None)
    if not callable(fn):
        raise NotImplementedError(
            f"the schedule primitive {name} is not available: "
            "onnxtune.tir.schedule.primitives.block_ops does not define it")
    _CACHE[name] = fn
    return fn


class BlockPrimitives:
    """Mixin of :class:`~.schedule.Schedule` (uses its RV helpers and ``_func``)."""

    __slots__ = ()

    # these come from Schedule
    _func: Any
    _block: Callable
    _loop: Callable
    _lookup: Callable
    _new: Callable
    _update: Callable
    _record: Callable

    def _buffer_index(self, block_name: str, buffer: int | str, kind: str, prim: str) -> int:
        """An index into the block's reads/writes from an int or a buffer name."""
        if isinstance(buffer, bool):
            raise TypeError(f"{prim}: the buffer index must be an int or a buffer name")
        if isinstance(buffer, int):
            return buffer
        from .tree import index

        block = index(self._func).block(block_name, prim).stmt.block
        regions = block.reads if kind == "read" else block.writes
        for i, r in enumerate(regions):
            if r.buffer.name == buffer:
                return i
        raise ScheduleError(
            f"{prim}: block {block_name!r} does not {kind} a buffer named {buffer!r}; it "
            f"{kind}s {[r.buffer.name for r in regions]}"
        )

    def _special_loop(self, loop: LoopRV, prim: str) -> Any:
        if not isinstance(loop, LoopRV):
            raise TypeError(f"{prim}: expected a LoopRV, got {type(loop).__name__}")
        v = self._lookup(loop, prim)
        return v if isinstance(v, str) else self._loop(loop, prim)

    def compute_at(self, block: BlockRV, loop: LoopRV, preserve_unit_loops: bool = False,
                   index: int = -1) -> None:
        """Move a producer block under ``loop`` of its consumers, computing only the region
        they need. The special root location is a no-op; inline inlines the block."""
        name = self._block(block, "compute_at")
        target = self._special_loop(loop, "compute_at")
        if isinstance(target, str) and target == "inline":
            func = block_primitive("compute_inline")(self._func, name)
        elif isinstance(target, str):  # root: stay where it is
            func = self._func
        else:
            func = block_primitive("compute_at")(self._func, name, target,
                                                 preserve_unit_loops, index)
        self._update(func, "compute_at")
        self._record(K.COMPUTE_AT, (block, loop), (preserve_unit_loops, index), ())

    def reverse_compute_at(self, block: BlockRV, loop: LoopRV,
                           preserve_unit_loops: bool = False, index: int = -1) -> None:
        """Move a consumer block under ``loop`` of its producer."""
        name = self._block(block, "reverse_compute_at")
        target = self._special_loop(loop, "reverse_compute_at")
        if isinstance(target, str) and target == "inline":
            func = block_primitive("reverse_compute_inline")(self._func, name)
        elif isinstance(target, str):  # root: stay where it is
            func = self._func
        else:
            func = block_primitive("reverse_compute_at")(self._func, name, target,
                                                         preserve_unit_loops, index)
        self._update(func, "reverse_compute_at")
        self._record(K.REVERSE_COMPUTE_AT, (block, loop), (preserve_unit_loops, index), ())

    def compute_inline(self, block: BlockRV) -> None:
        """Inline a producer block into its consumers."""
        name = self._block(block, "compute_inline")
        self._update(block_primitive("compute_inline")(self._func, name), "compute_inline")
        self._record(K.COMPUTE_INLINE, (block,), (), ())

    def reverse_compute_inline(self, block: BlockRV) -> None:
        """Inline a consumer block into its producer."""
        name = self._block(block, "reverse_compute_inline")
        self._update(block_primitive("reverse_compute_inline")(self._func, name),
                     "reverse_compute_inline")
        self._record(K.REVERSE_COMPUTE_INLINE, (block,), (), ())

    def _consumer_names(self, consumer_blocks: Sequence[BlockRV] | None, prim: str):
        if consumer_blocks is None:
            return None, None
        rvs = tuple(consumer_blocks)
        return [self._block(b, prim) for b in rvs], rvs

    def cache_read(self, block: BlockRV, read_buffer_index: int | str, storage_scope: str,
                   consumer_blocks: Sequence[BlockRV] | None = None) -> BlockRV:
        """A block copying the block's ``read_buffer_index``-th read buffer into a new
        buffer of ``storage_scope``, read by the block (and ``consumer_blocks``)."""
        prim = "cache_read"
        name = self._block(block, prim)
        idx = self._buffer_index(name, read_buffer_index, "read", prim)
        names, rvs = self._consumer_names(consumer_blocks, prim)
        func, new = block_primitive(prim)(self._func, name, idx, storage_scope, names)
        self._update(func, prim)
        rv = self._new(BlockRV, new)
        self._record(K.CACHE_READ, (block, rvs), (idx, storage_scope), (rv,))
        return rv

    def cache_write(self, block: BlockRV, write_buffer_index: int | str, storage_scope: str,
                    consumer_blocks: Sequence[BlockRV] | None = None) -> BlockRV:
        """The block writes a new buffer of ``storage_scope``; a new block copies it out."""
        prim = "cache_write"
        name = self._block(block, prim)
        idx = self._buffer_index(name, write_buffer_index, "write", prim)
        names, rvs = self._consumer_names(consumer_blocks, prim)
        func, new = block_primitive(prim)(self._func, name, idx, storage_scope, names)
        self._update(func, prim)
        rv = self._new(BlockRV, new)
        self._record(K.CACHE_WRITE, (block, rvs), (idx, storage_scope), (rv,))
        return rv

    def set_scope(self, block: BlockRV, buffer_index: int | str, storage_scope: str) -> None:
        """Change the storage scope of the block's ``buffer_index``-th written buffer."""
        prim = "set_scope"
        name = self._block(block, prim)
        idx = self._buffer_index(name, buffer_index, "write", prim)
        self._update(block_primitive(prim)(self._func, name, idx, storage_scope), prim)
        self._record(K.SET_SCOPE, (block,), (idx, storage_scope), ())

    def decompose_reduction(self, block: BlockRV, loop: LoopRV) -> BlockRV:
        """Split a reduction block's init into its own block placed above ``loop``."""
        prim = "decompose_reduction"
        name = self._block(block, prim)
        func, new = block_primitive(prim)(self._func, name, self._loop(loop, prim))
        self._update(func, prim)
        rv = self._new(BlockRV, new)
        self._record(K.DECOMPOSE_REDUCTION, (block, loop), (), (rv,))
        return rv

    def rfactor(self, loop: LoopRV, factor_axis: int) -> BlockRV:
        """Factor the reduction over ``loop`` into an intermediate ``*_rf`` block."""
        prim = "rfactor"
        func, new = block_primitive(prim)(self._func, self._loop(loop, prim), factor_axis)
        self._update(func, prim)
        rv = self._new(BlockRV, new)
        self._record(K.RFACTOR, (loop,), (factor_axis,), (rv,))
        return rv

    def transform_layout(self, block: BlockRV, buffer: tuple[str, int] | str,
                         index_map: Any, pad_value: Any = None) -> None:
        """Rewrite a buffer's layout by ``index_map`` (an IndexMap or a Python callable such
        as ``lambda i, j: (j // 4, i, j % 4)``). ``buffer`` is ``("read", k)``,
        ``("write", k)`` or a buffer name."""
        prim = "transform_layout"
        name = self._block(block, prim)
        kind, idx = self._resolve_buffer(name, buffer, prim)
        if pad_value is not None:
            raise NotImplementedError("transform_layout: pad_value is not supported")
        imap = self._index_map(name, kind, idx, index_map, prim)
        func = block_primitive(prim)(self._func, name, idx, kind, imap)
        self._update(func, prim)
        self._record(K.TRANSFORM_LAYOUT, (block,), ((kind, idx), imap, None), ())

    def _resolve_buffer(self, name: str, buffer: Any, prim: str) -> tuple[str, int]:
        if isinstance(buffer, (tuple, list)) and len(buffer) == 2:
            kind, idx = buffer
            if kind not in ("read", "write") or not isinstance(idx, int):
                raise ScheduleError(
                    f"{prim}: buffer {tuple(buffer)!r} must be ('read', k) or ('write', k)")
            return kind, idx
        if isinstance(buffer, str):
            for kind in ("write", "read"):
                try:
                    return kind, self._buffer_index(name, buffer, kind, prim)
                except ScheduleError:
                    continue
            raise ScheduleError(f"{prim}: block {name!r} neither reads nor writes {buffer!r}")
        raise TypeError(f"{prim}: buffer must be ('read'|'write', index) or a buffer name")

    def _index_map(self, name: str, kind: str, idx: int, index_map: Any, prim: str) -> Any:
        from .index_map import IndexMap
        from .tree import index

        if isinstance(index_map, IndexMap):
            return index_map
        if not callable(index_map):
            raise TypeError(f"{prim}: index_map must be an IndexMap or a callable")
        block = index(self._func).block(name, prim).stmt.block
        regions = block.reads if kind == "read" else block.writes
        if not 0 <= idx < len(regions):
            raise ScheduleError(
                f"{prim}: block {name!r} has {len(regions)} {kind} buffers; index {idx} is "
                "out of range"
            )
        return IndexMap.from_func(index_map, len(regions[idx].buffer.shape))

    def storage_align(self, block: BlockRV, buffer_index: int, axis: int, factor: int,
                      offset: int) -> None:
        """Pad the stride of ``axis`` of the block's written buffer so that
        ``stride % factor == offset``."""
        prim = "storage_align"
        name = self._block(block, prim)
        idx = self._buffer_index(name, buffer_index, "write", prim)
        self._update(block_primitive(prim)(self._func, name, idx, axis, factor, offset), prim)
        self._record(K.STORAGE_ALIGN, (block,), (idx, axis, factor, offset), ())
