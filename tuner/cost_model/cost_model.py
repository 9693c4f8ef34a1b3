"""CostModel: predicts how fast a candidate schedule will run, learning from measurements."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..utils import make


class CostModel:
    """The abstract cost model: higher predicted score = faster (normalized throughput)."""

    def load(self, path: str) -> None:
        raise NotImplementedError

    def save(self, path: str) -> None:
        raise NotImplementedError

    def update(self, context: Any, candidates: list[Any], results: list[Any]) -> None:
        """Learn from measured ``results`` (RunnerResult) of ``candidates``."""
        raise NotImplementedError

    def predict(self, context: Any, candidates: list[Any]) -> np.ndarray:
        """Predicted normalized score per candidate."""
        raise NotImplementedError

    @staticmethod
    def create(kind: str, *args: Any, **kwargs: Any) -> CostModel:
        """Create a cost model: "xgb", "mlp", "random" ("none" gives None)."""
        if kind == "none":
            return None  # type: ignore[return-value]
        return make(
            {
                "xgb": ".cost_model.xgb_model:XGBModel",
                "mlp": ".cost_model.mlp_model:MLPModel",
                "random": ".cost_model.random_model:RandomModel",
            },
            "CostModel", kind, *args, **kwargs,
        )


PyCostModel = CostModel
