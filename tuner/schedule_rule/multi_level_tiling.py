"""MultiLevelTiling: tile a block with data reuse into a structure like "SSRSRS", with
optional read / write caches placed at tile levels."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from onnxtune.tir.expr import IterType

from . import analysis as A
from .schedule_rule import ScheduleRule

_REQS = ("no", "may", "must")


class ReuseType(NamedTuple):
    """Where a read or write cache goes: ``req`` "no" / "may" (fork with and without) /
    "must"; ``levels`` the tile levels (1-based, counted among the spatial tiles) to put
    it at; ``scope`` the storage scope of the cache."""

    req: str
    levels: list[int]
    scope: str

    def as_dict(self) -> dict[str, Any]:
        return {"req": self.req, "levels": list(self.levels), "scope": self.scope}


def _reuse(x: ReuseType | Mapping[str, Any] | None, what: str) -> ReuseType:
    if x is None:
        return ReuseType("no", [], "")
    if isinstance(x, Mapping):
        x = ReuseType(x.get("req", "no"), list(x.get("levels", [])), x.get("scope", "global"))
    if not isinstance(x, ReuseType):
        raise TypeError(f"MultiLevelTiling: {what} must be a ReuseType, a dict or None")
    if x.req not in _REQS:
        raise ValueError(f"MultiLevelTiling: {what}.req must be one of {_REQS}, got {x.req!r}")
    levels = [int(v) for v in x.levels]
    if x.req != "no" and (not levels or min(levels) < 1):
        raise ValueError(f"MultiLevelTiling: {what}.levels must be positive tile levels, got "
                         f"{x.levels!r}")
    return ReuseType(x.req, levels, x.scope)


@dataclass
class State:
    """One schedule being tiled: the block, its tiles (loops per structure letter, outer
    first) and the caches added so far."""

    sch: Any
    block_rv: Any
    tiles: list[list[Any]] = field(default_factory=list)
    tile_factors: list[list[Any]] = field(default_factory=list)
    read_reuse: dict[int, Any] = field(default_factory=dict)
    write_reuse: dict[int, Any] = field(default_factory=dict)

    def copy(self) -> State:
        sch = self.sch.copy()
        sch.seed(self.sch.fork_seed())
        return State(sch, self.block_rv, [list(t) for t in self.tiles],
                     [list(t) for t in self.tile_factors], dict(self.read_reuse),
                     dict(self.write_reuse))


class MultiLevelTiling(ScheduleRule):
    """TVM's MultiLevelTiling for CPU.

    Applies to blocks that need it (:func:`analysis.needs_multi_level_tiling`: reduction
    blocks with data reuse, such as matmul, conv2d, dense; not elementwise ones) or that
    ``filter_fn(sch, block)`` selects. Each spatial loop is split by
    ``sample_perfect_tile`` into as many tiles as ``structure`` has "S", each reduction
    loop into as many as it has "R"; the tiles are reordered into the structure and the
    block is annotated ``meta_schedule.tiling_structure``. ``reuse_write`` then adds a
    write cache (``cache_write`` + ``reverse_compute_at`` at each level, or reuses an
    elementwise consumer as the cache) and ``reuse_read`` read caches.
    """

    def __init__(self, structure: str = "SSRSRS", tile_binds: Sequence[str] | None = None,
                 max_innermost_factor: int | None = 64,
                 vector_load_lens: Sequence[int] | None = None,
                 reuse_read: ReuseType | Mapping[str, Any] | None = None,
                 reuse_write: ReuseType | Mapping[str, Any] | None = None,
                 filter_fn: Callable[[Any, Any], bool] | None = None):
        if not structure or set(structure) - {"S", "R"}:
            raise ValueError(f"MultiLevelTiling: structure must be made of 'S' and 'R', got "
                             f"{structure!r}")
        if tile_binds:
            raise NotImplementedError("MultiLevelTiling: tile_binds (GPU thread binding) "
                                      "comes with the CUDA target")
        if vector_load_lens:
            raise NotImplementedError("MultiLevelTiling: vector_load_lens (GPU cooperative "
                                      "fetch) comes with the CUDA target")
        self.structure = structure
        self.tile_binds = None
        self.max_innermost_factor = -1 if max_innermost_factor is None else int(
            max_innermost_factor)
        self.vector_load_lens = None
        self.reuse_read = _reuse(reuse_read, "reuse_read")
        self.reuse_write = _reuse(reuse_write, "reuse_write")
        self.filter_fn = filter_fn
        self.s_indices = [i for i, c in enumerate(structure) if c == "S"]
        self.r_indices = [i for i, c in enumerate(structure) if c == "R"]
        for what, r in (("reuse_read", self.reuse_read), ("reuse_write", self.reuse_write)):
            if r.req != "no" and max(r.levels) > len(self.s_indices):
                raise ValueError(f"MultiLevelTiling: {what}.levels {r.levels} exceed the "
                                 f"{len(self.s_indices)} spatial tile levels of {structure!r}")

    # -- the rule -------------------------------------------------------------------------
    def apply(self, sch: Any, block: Any) -> list[Any]:
        loc = A.locate(sch, block)
        selected = self.filter_fn(sch, block) if self.filter_fn is not None else False
        if not (selected or A.needs_multi_level_tiling(loc)):
            return [sch]
        sch.annotate(block, A.TILING_STRUCTURE, self.structure)
        states = [State(sch, block)]
        for sub in (self.tile_loop_nest, self.add_write_reuse, self.add_read_reuse):
            states = [s2 for s in states for s2 in sub(s)]
        return [s.sch for s in states]

    # -- sub-rules ------------------------------------------------------------------------
    def tile_loop_nest(self, state: State) -> list[State]:
        """Split every loop into its tiles and reorder them into the structure."""
        sch, block_rv = state.sch, state.block_rv
        loops = sch.get_loops(block_rv)
        loc = A.locate(sch, block_rv)
        fors = loc.loops()
        tiles: list[list[Any]] = [[] for _ in self.structure]
        factors: list[list[Any]] = [[] for _ in self.structure]
        for loop_rv, f in zip(loops, fors, strict=True):
            kind = A.loop_iter_type(loc, f)
            if kind == IterType.DATA_PAR:
                idx = self.s_indices
            elif kind == IterType.COMM_REDUCE:
                idx = self.r_indices
            else:
                continue
            if len(idx) == 1:
                tiles[idx[0]].append(loop_rv)
                continue
            fs = sch.sample_perfect_tile(loop_rv, len(idx), self.max_innermost_factor)
            splits = sch.split(loop_rv, fs)
            for j, i in enumerate(idx):
                tiles[i].append(splits[j])
                factors[i].append(fs[j])
        order = [lp for t in tiles for lp in t]
        if order:
            sch.reorder(*order)
        state.tiles = tiles
        state.tile_factors = factors
        return [state]

    def _level_loop(self, state: State, level: int) -> Any:
        """The innermost loop of the ``level``-th spatial tile group."""
        group = state.tiles[self.s_indices[level - 1]]
        if not group:
            raise ValueError("MultiLevelTiling: the block has no spatial loop to place a "
                             "cache at")
        return group[-1]

    def add_write_reuse(self, state: State) -> list[State]:
        cfg = self.reuse_write
        req, levels = cfg.req, list(cfg.levels)
        block = state.sch.get(state.block_rv)
        ann = block.annotations.get(A.WRITE_CACHE_LEVEL)
        if ann is not None:
            req, levels = "must", [int(v) for v in ann]
        if req == "no" or not _has_spatial_tiles(state, self.s_indices):
            return [state]
        results: list[State] = []
        if req == "may":
            consumers = state.sch.get_consumers(state.block_rv)
            if len(consumers) == 1 and A.is_write_cache(state.sch.get(consumers[0])):
                # an elementwise consumer already plays the write cache: fuse it at a level
                for level in levels:
                    s = state.copy()
                    s.sch.reverse_compute_at(consumers[0], self._level_loop(s, level), True)
                    s.write_reuse[0] = consumers[0]
                    results.append(s)
                state.write_reuse[0] = consumers[0]
                results.append(state)
                return results
            results.append(state.copy())  # no write cache
        cache = state.sch.cache_write(state.block_rv, 0, cfg.scope)
        state.write_reuse[0] = cache
        for level in levels:
            s = state.copy()
            s.sch.reverse_compute_at(cache, self._level_loop(s, level), True)
            results.append(s)
        return results

    def add_read_reuse(self, state: State) -> list[State]:
        cfg = self.reuse_read
        if cfg.req == "no" or not _has_spatial_tiles(state, self.s_indices):
            return [state]
        results: list[State] = [state.copy()] if cfg.req == "may" else []
        for level in cfg.levels:
            s = state.copy()
            n_reads = len(s.sch.get(s.block_rv).reads)
            for i in range(n_reads):
                cache = s.sch.cache_read(s.block_rv, i, cfg.scope, [s.block_rv])
                s.sch.compute_at(cache, self._level_loop(s, level), True)
                s.read_reuse[i] = cache
            results.append(s)
        return results


def _has_spatial_tiles(state: State, s_indices: list[int]) -> bool:
    return all(state.tiles[i] for i in s_indices)
