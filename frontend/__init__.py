"""onnxtune.frontend: the graph IR, the ONNX importer, the operator library, graph passes."""

from __future__ import annotations

from typing import Any

__all__ = ["from_onnx"]


def __getattr__(name: str) -> Any:
    # resolved lazily so that importing the op library does not import onnx
    if name == "from_onnx":
        from .onnx import from_onnx

        return from_onnx
    raise AttributeError(f"module 'onnxtune.frontend' has no attribute {name!r}")
