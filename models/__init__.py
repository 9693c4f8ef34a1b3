"""Model zoo: ONNX builders with random weights and the models the onnx wheel ships."""

from __future__ import annotations

from collections.abc import Callable

import onnx

from .light import LIGHT_MODELS, light_path, load_light, randomize_constant_weights
from .zoo import bert_encoder, mobilenet_v2, resnet

_BUILDERS: dict[str, Callable[[], onnx.ModelProto]] = {
    "resnet18": lambda: resnet(18),
    "resnet50": lambda: resnet(50),
    "mobilenet_v2": mobilenet_v2,
    "bert_encoder": bert_encoder,
    "bert_tiny": lambda: bert_encoder(layers=2, hidden=128, heads=2, seq=32),
    "resnet18_small": lambda: resnet(18, image=64, classes=10),
}


def list_models() -> list[str]:
    """Every bundled model name: the builders, then ``light_<name>`` for the onnx wheel's."""
    return sorted(_BUILDERS) + [f"light_{n}" for n in LIGHT_MODELS]


def get_model(name: str, seed: int = 0) -> onnx.ModelProto:
    """A bundled model by name (see :func:`list_models`)."""
    if name in _BUILDERS:
        return _BUILDERS[name]() if seed == 0 else _with_seed(name, seed)
    if name.startswith("light_") and name.removeprefix("light_") in LIGHT_MODELS:
        return load_light(name, seed=seed)
    raise ValueError(f"unknown model {name!r}; bundled models: {', '.join(list_models())}")


def _with_seed(name: str, seed: int) -> onnx.ModelProto:
    if name.startswith("resnet"):
        small = name.endswith("_small")
        depth = int(name.removeprefix("resnet").removesuffix("_small"))
        return resnet(depth, seed=seed, **({"image": 64, "classes": 10} if small else {}))
    if name == "mobilenet_v2":
        return mobilenet_v2(seed=seed)
    if name == "bert_tiny":
        return bert_encoder(layers=2, hidden=128, heads=2, seq=32, seed=seed)
    return bert_encoder(seed=seed)


__all__ = [
    "LIGHT_MODELS", "bert_encoder", "get_model", "light_path", "list_models", "load_light",
    "mobilenet_v2", "randomize_constant_weights", "resnet",
]
