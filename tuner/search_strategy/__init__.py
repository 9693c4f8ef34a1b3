"""Search strategies: evolutionary search, trace replay, function replay."""

from .search_strategy import MeasureCandidate, PySearchStrategy, SearchStrategy

__all__ = ["MeasureCandidate", "PySearchStrategy", "SearchStrategy"]
