"""RandomModel: uniform random scores (the baseline, and the model used before any data)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from .cost_model import CostModel


class RandomModel(CostModel):
    """Scores drawn uniformly from [0, max_range); ``seed`` fixes the sequence, ``path``
    loads a saved random state. ``update`` learns nothing."""

    def __init__(self, *, seed: int | None = None, path: str | None = None,
                 max_range: int | None = 100):
        if max_range is not None and not max_range > 0:
            raise ValueError(f"RandomModel: max_range must be positive, got {max_range!r}")
        self.max_range = 100 if max_range is None else max_range
        self.rng = np.random.default_rng(seed)
        if path is not None:
            self.load(path)

    def update(self, context: Any, candidates: list[Any], results: list[Any]) -> None:
        if len(candidates) != len(results):
            raise ValueError(f"update: {len(candidates)} candidates but {len(results)} results")

    def predict(self, context: Any, candidates: list[Any]) -> np.ndarray:
        return self.rng.uniform(0.0, self.max_range, size=len(candidates))

    def save(self, path: str) -> None:
        """Write the random state as JSON."""
        state = {"kind": "random", "max_range": self.max_range,
                 "bit_generator": self.rng.bit_generator.state}
        with open(path, "w", encoding="utf-8") as f:
            json.dump(state, f)

    def load(self, path: str) -> None:
        with open(path, encoding="utf-8") as f:
            try:
                state = json.load(f)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}: not a RandomModel file ({e})") from None
        if not isinstance(state, dict) or state.get("kind") != "random":
            raise ValueError(f"{path}: not a RandomModel file (no kind 'random')")
        self.max_range = state["max_range"]
        self.rng.bit_generator.state = state["bit_generator"]
