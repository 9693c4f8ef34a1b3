"""Search strategies: evolutionary search, trace replay, function replay."""

from .evolutionary_search import EvolutionarySearch
from .replay_func import ReplayFunc
from .replay_trace import ReplayTrace
from .search_strategy import MeasureCandidate, PySearchStrategy, SearchStrategy, create

__all__ = ["EvolutionarySearch", "MeasureCandidate", "PySearchStrategy", "ReplayFunc",
           "ReplayTrace", "SearchStrategy", "create"]
