"""Cost models: predict candidate speed from features."""

from .cost_model import CostModel, PyCostModel

__all__ = ["CostModel", "PyCostModel"]
