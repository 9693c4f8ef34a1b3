"""FeatureExtractor: turns candidate schedules into feature matrices for the cost model."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..utils import make


class FeatureExtractor:
    """The abstract feature extractor: one (n_stores, n_features) matrix per candidate."""

    def extract_from(self, context: Any, candidates: list[Any]) -> list[np.ndarray]:
        raise NotImplementedError

    @staticmethod
    def create(kind: str, *args: Any, **kwargs: Any) -> FeatureExtractor:
        """Create a feature extractor: "per-store-feature"."""
        return make({"per-store-feature": ".feature_extractor.per_store_feature:PerStoreFeature"},
                    "FeatureExtractor", kind, *args, **kwargs)


PyFeatureExtractor = FeatureExtractor
