"""Feature extractors for the cost model."""

from .feature_extractor import FeatureExtractor, PyFeatureExtractor

__all__ = ["FeatureExtractor", "PyFeatureExtractor"]
