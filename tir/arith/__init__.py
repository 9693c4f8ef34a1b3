"""Arithmetic analysis: simplifier, integer bounds and sets, iterator maps, region helpers."""

from __future__ import annotations

from .analyzer import Analyzer, simplify
from .bound import ConstIntBound
from .eval import evaluate
from .int_set import IntervalSet
from .iter_map import (
    IterMapError,
    IterMapResult,
    IterMark,
    IterSplit,
    IterSum,
    detect_iter_map,
    normalize_iter_map,
)
from .region import estimate_region_extents, region_covers, region_union, relax_region
from .utils import get_const_int, is_const_int, is_one, is_zero

__all__ = [
    "Analyzer",
    "ConstIntBound",
    "IntervalSet",
    "IterMapError",
    "IterMapResult",
    "IterMark",
    "IterSplit",
    "IterSum",
    "detect_iter_map",
    "estimate_region_extents",
    "evaluate",
    "get_const_int",
    "is_const_int",
    "is_one",
    "is_zero",
    "normalize_iter_map",
    "region_covers",
    "region_union",
    "relax_region",
    "simplify",
]
