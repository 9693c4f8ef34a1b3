"""Cost models: predict candidate speed from features."""

from __future__ import annotations

from typing import Any

from .cost_model import CostModel, PyCostModel

__all__ = ["CostModel", "MLPModel", "PyCostModel", "RandomModel", "XGBConfig", "XGBModel"]

_LAZY = {"XGBModel": ".xgb_model", "XGBConfig": ".xgb_model", "MLPModel": ".mlp_model",
         "RandomModel": ".random_model"}


def __getattr__(name: str) -> Any:  # implementations load lazily (xgboost is heavy)
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
