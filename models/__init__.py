"""Model zoo: ONNX builders with random weights and the models the onnx wheel ships."""

from __future__ import annotations

from collections.abc import Callable

import onnx

from .light import LIGHT_MODELS, light_path, load_light, randomize_constant_weights
from .zoo import bert_encoder, mobilenet_v2, resnet

#: name -> builder(seed)
_BUILDERS: dict[str, Callable[[int], onnx.ModelProto]] = {
    "resnet18": lambda seed: resnet(18, seed=seed),
    "resnet50": lambda seed: resnet(50, seed=seed),
    "mobilenet_v2": lambda seed: mobilenet_v2(seed=seed),
    "bert_encoder": lambda seed: bert_encoder(seed=seed),
    "bert_tiny": lambda seed: bert_encoder(layers=2, hidden=128, heads=2, seq=32, seed=seed),
    "resnet18_small": lambda seed: resnet(18, image=64, classes=10, seed=seed),
}


def list_models() -> list[str]:
    """Every bundled model name: the builders, then ``light_<name>`` for the onnx wheel's."""
    return sorted(_BUILDERS) + [f"light_{n}" for n in LIGHT_MODELS]


def get_model(name: str, seed: int = 0) -> onnx.ModelProto:
    """A bundled model by name (see :func:`list_models`)."""
    if name in _BUILDERS:
        return _BUILDERS[name](seed)
    if name.startswith("light_") and name.removeprefix("light_") in LIGHT_MODELS:
        return load_light(name, seed=seed)
    raise ValueError(f"unknown model {name!r}; bundled models: {', '.join(list_models())}")


__all__ = [
    "LIGHT_MODELS", "bert_encoder", "get_model", "light_path", "list_models", "load_light",
    "mobilenet_v2", "randomize_constant_weights", "resnet",
]
