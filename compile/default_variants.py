"""Variants of the default schedule: the distinct schedules its knobs make.

``default_schedule_variants(func, target)`` runs :func:`.default_schedule.default_schedule_of`
over a grid of knob settings (:data:`VARIANT_KNOBS`) and keeps the distinct results (by
structural hash), the default first. The tuner measures them as fixed design spaces
(``tuner/space_generator/default_variants.py``) next to its sampled ones.
"""

from __future__ import annotations

import logging
from typing import Any

from onnxtune.tir.function import PrimFunc
from onnxtune.tir.schedule import Schedule, ScheduleError

from .default_schedule import default_schedule_of

log = logging.getLogger(__name__)


#: the knob settings :func:`default_schedule_variants` tries, after the default, most
#: promising first (register tiles sized for AVX-512's 32 registers, other loop orders and
#: staging choices, parallel grain, weight blocking)
VARIANT_KNOBS: tuple[dict[str, Any], ...] = (
    # the older plans of matmuls and of depthwise / pooling windows (they change nothing
    # elsewhere: no slot taken)
    {"DENSE_PANELS": False},
    {"PAD_AT_TILE": False},
    # blocked convolutions (NCHW16c): loop order, padding, input-channel blocks, tiles
    {"BLOCKED_ROWS_OUTER": True},
    {"BLOCKED_ROWS_OUTER": False},
    {"BLOCKED_PAD_INLINE": True},
    {"BLOCKED_WEIGHT_BLOCK_BYTES": 1 << 40},
    {"BLOCKED_WEIGHT_BLOCK_BYTES": 8 * 1024},
    {"BLOCKED_POINTS": 7},
    {"BLOCKED_VECTORS": 1},
    {"BLOCKED_VECTORS": 4, "BLOCKED_REGISTERS": 33},
    {"BLOCKED_ROW_WEIGHT_BLOCKS": True},
    {"BLOCKED_DEPTHWISE_POINTS": 7},
    # row panels (a pointwise convolution as a matmul): register tiles, strip staging
    {"PANEL_VECTORS": 2},
    {"PANEL_VECTORS": 7},
    {"PANEL_ACCUMULATORS": 16},
    {"PANEL_STAGE_BYTES": None},
    {"PANEL_VECTORS": 2, "PANEL_STAGE_BYTES": 16 * 1024},
    {"PANEL_VECTORS": 1, "PANEL_ACCUMULATORS": 16},
    {"ROW_PANELS": False},
    # register tiles: AVX-512 has 32 vector registers, the default budgets 16
    {"POINTWISE_WIDE": False},  # (the default before it)
    {"ODD_ROW_REGISTERS": 16},  # (likewise)
    {"REGISTER_BUDGET": 30},
    {"PACKED_VECTORS": 2},
    {"REGISTER_BUDGET": 30, "PACKED_WIDTH_MAX": 7},
    {"REGISTER_BUDGET": 30, "PACKED_VECTORS": 3},
    {"PACKED_WIDTH_MAX": 7},
    # loop order: channel blocks innermost (input tiles reused) or outermost
    {"PACKED_WIDTH_MAX": 7, "CHANNELS_INNER": True},
    {"CHANNELS_INNER": True},
    {"CHANNELS_INNER": False},
    {"POINTWISE_HALF_TILE": False},
    {"REGISTER_BUDGET": 30, "POINTWISE_HALF_TILE": False},
    # weight blocks along the reduction, parallel grain
    {"WEIGHT_BLOCK_BYTES": 8 * 1024},
    {"WEIGHT_BLOCK_BYTES": 1 << 40},
    {"CHUNKS_PER_THREAD": 16},
    {"REGISTER_BUDGET": 30, "PACKED_VECTORS": 4},
    {"REGISTER_BUDGET": 24},
    {"REGISTER_BUDGET": 12},
    # (past the default limit of 16 for most convolutions)
    {"WEIGHT_BLOCK_BYTES": 32 * 1024},
    {"REGISTER_BUDGET": 30, "PACKED_WIDTH_MAX": 4},
    {"PACKED_WIDTH_MAX": 4},
    {"STAGE_INPUT": False},
    {"CHUNKS_PER_THREAD": 1},
    {"CHANNEL_CHUNKS": 0},
    {"CHANNEL_CHUNKS": 2},
    {"VECTOR_EPILOGUE": False},
    {"TILE_VECTORS_MAX": 4},
    {"TILE_VECTORS_MAX": 1},
    {"DEINTERLEAVE": False},
    {"PACKED_VECTORS_MAX": 2},
    {"PACKED_VECTORS_MAX": 1},
    {"REGISTER_BUDGET": 30, "CHANNELS_INNER": True},
    {"REGISTER_BUDGET": 30, "PACKED_VECTORS": 2},
)


#: knobs that size or order a packed tile: a grid setting that names one explores the
#: half tiles of pointwise reductions (POINTWISE_WIDE off)
_TILE_KNOBS = frozenset({"REGISTER_BUDGET", "PACKED_VECTORS", "PACKED_VECTORS_MAX",
                         "PACKED_WIDTH_MAX", "POINTWISE_HALF_TILE", "CHANNELS_INNER"})


def _with_half_tiles(knobs: dict[str, Any] | None) -> dict[str, Any] | None:
    """A grid setting that resizes packed tiles resizes the half tiles of pointwise
    reductions too: it turns POINTWISE_WIDE off unless it says otherwise (for any other
    reduction that changes nothing)."""
    if knobs and _TILE_KNOBS & set(knobs) and "POINTWISE_WIDE" not in knobs:
        return {**knobs, "POINTWISE_WIDE": False}
    return knobs


def default_schedule_variants(func: PrimFunc, target: Any = None, limit: int = 16,
                              grid: Any = None) -> list[Schedule]:
    """The distinct schedules (by structural hash of the scheduled module) that
    :func:`default_schedule_of` makes over the knob settings ``grid`` (default
    :data:`VARIANT_KNOBS`), the default schedule first, at most ``limit`` of them. Each is
    a plain Schedule whose trace has no sampling instruction; every one computes exactly
    what ``func`` computes (the planner only applies semantics-preserving primitives). A
    setting the planner rejects is skipped; one that resizes packed tiles also turns
    POINTWISE_WIDE off unless it names it (:func:`_with_half_tiles`)."""
    from onnxtune.tir.structural import module_hash

    if limit < 1:
        raise ValueError(f"default_schedule_variants: limit must be >= 1, got {limit}")
    settings = [None, *(_with_half_tiles(k) for k in (VARIANT_KNOBS if grid is None
                                                      else grid))]
    out: list[Schedule] = []
    seen: set[int] = set()
    for knobs in settings:
        if len(out) >= limit:
            break
        try:
            sch = default_schedule_of(func, target, knobs)
        except (ScheduleError, ValueError, NotImplementedError) as err:
            if knobs is None:
                raise
            log.debug("default_schedule_variants: knobs %s skipped: %s", knobs, err)
            continue
        h = module_hash(sch.mod, "structural")
        if h in seen:
            continue
        seen.add(h)
        out.append(sch)
    return out
