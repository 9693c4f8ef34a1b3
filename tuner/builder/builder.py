"""Builder: turns scheduled IRModules into artifacts a Runner can load and time."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..utils import make


@dataclass
class BuilderInput:
    """An IRModule to build for ``target``; ``params`` are constants to bind (optional)."""

    mod: Any
    target: Any
    params: dict[str, Any] | None = None


@dataclass
class BuilderResult:
    """Where the artifact was written, or why the build failed (exactly one is set)."""

    artifact_path: str | None
    error_msg: str | None
    build_secs: float = field(default=0.0)


class Builder:
    """The abstract builder interface."""

    def build(self, build_inputs: list[BuilderInput]) -> list[BuilderResult]:
        """Build every input; a failed build is a result with ``error_msg``, never raised."""
        raise NotImplementedError

    @staticmethod
    def create(kind: str = "local", *args: Any, **kwargs: Any) -> Builder:
        """Create a Builder: "local" (a process pool on this machine)."""
        return make({"local": ".builder.local_builder:LocalBuilder"}, "Builder", kind, *args,
                    **kwargs)


PyBuilder = Builder
