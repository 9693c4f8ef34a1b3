"""EvaluatorConfig: how a runner times one candidate (TVM's fields and defaults)."""

from __future__ import annotations

from typing import Any, NamedTuple


class EvaluatorConfig(NamedTuple):
    """Config details of the evaluator.

    ``number``: runs averaged into one measurement; ``repeat``: measurements taken (each
    result of a run is ``repeat`` averages); ``min_repeat_ms``: a measurement shorter than
    this is redone with more runs; ``enable_cpu_cache_flush``: flush the arguments out of
    the CPU caches before each measurement. In total the function runs at least
    ``1 + number * repeat`` times: the first call is a discarded warm-up.
    """

    number: int = 3
    repeat: int = 1
    min_repeat_ms: int = 100
    enable_cpu_cache_flush: bool = False

    @staticmethod
    def _normalized(
        number: int | None = None,
        repeat: int | None = None,
        min_repeat_ms: int | None = None,
        enable_cpu_cache_flush: bool | None = None,
    ) -> EvaluatorConfig:
        """A config with every None replaced by its default, validated."""
        cfg = EvaluatorConfig(
            number=3 if number is None else int(number),
            repeat=1 if repeat is None else int(repeat),
            min_repeat_ms=100 if min_repeat_ms is None else min_repeat_ms,
            enable_cpu_cache_flush=bool(enable_cpu_cache_flush),
        )
        if cfg.number < 1 or cfg.repeat < 1:
            raise ValueError(f"EvaluatorConfig: number ({cfg.number}) and repeat "
                             f"({cfg.repeat}) must be at least 1")
        if cfg.min_repeat_ms < 0:
            raise ValueError(f"EvaluatorConfig: min_repeat_ms must be >= 0, got "
                             f"{cfg.min_repeat_ms}")
        return cfg

    @staticmethod
    def normalize(config: EvaluatorConfig | dict[str, Any] | None) -> EvaluatorConfig:
        """Accept None (defaults), an EvaluatorConfig (None fields filled) or a dict."""
        if config is None:
            return EvaluatorConfig._normalized()
        if isinstance(config, dict):
            unknown = set(config) - set(EvaluatorConfig._fields)
            if unknown:
                raise ValueError(f"EvaluatorConfig: unknown fields {sorted(unknown)}; "
                                 f"expected {list(EvaluatorConfig._fields)}")
            return EvaluatorConfig._normalized(**config)
        if isinstance(config, EvaluatorConfig):
            return EvaluatorConfig._normalized(*config)
        raise TypeError(f"evaluator_config must be an EvaluatorConfig, a dict or None, got "
                        f"{type(config).__name__}")

    def as_json(self) -> dict[str, Any]:
        return self._asdict()

    @staticmethod
    def from_json(obj: Any) -> EvaluatorConfig:
        return EvaluatorConfig.normalize(dict(obj))
