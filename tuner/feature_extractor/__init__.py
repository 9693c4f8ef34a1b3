"""Feature extractors for the cost model."""

from __future__ import annotations

from typing import Any

from .feature_extractor import FeatureExtractor, PyFeatureExtractor

__all__ = ["FeatureExtractor", "PerStoreFeature", "PyFeatureExtractor"]


def __getattr__(name: str) -> Any:
    if name == "PerStoreFeature":
        from .per_store_feature import PerStoreFeature

        return PerStoreFeature
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
