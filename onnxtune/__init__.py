"""onnxtune: a MetaSchedule-style deep-learning compiler for ONNX models."""

from __future__ import annotations

import os as _os

# In an installed package the subpackages (tir, compile, frontend, tuner, models) sit
# inside this folder. In a source checkout they are the repository's top-level folders,
# next to this one: extend the package path so `onnxtune.tir` resolves there too, and a
# checkout works (tests, benchmarks) whether or not it is installed.
_checkout = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
if not _os.path.isdir(_os.path.join(_os.path.dirname(__file__), "tir")) and _os.path.isfile(
    _os.path.join(_checkout, "tir", "__init__.py")
):
    __path__.append(_checkout)  # type: ignore[name-defined]  # noqa: F821

# the public entry points, imported on first use so that `import onnxtune` stays light and a
# process that only runs exported artifacts needs nothing but numpy and llvmlite
_EXPORTS = {
    "tune_model": "onnxtune.tuning:tune_model",
    "TuneResult": "onnxtune.tuning:TuneResult",
    "compile_model": "onnxtune.session:compile_model",
    "InferenceSession": "onnxtune.session:InferenceSession",
    "load": "onnxtune.session:load",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    target = _EXPORTS.get(name)
    if target is None:
        raise AttributeError(f"module 'onnxtune' has no attribute {name!r}")
    import importlib

    module, _, attr = target.partition(":")
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value
