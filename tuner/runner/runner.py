"""Runner: times built artifacts on the device and returns run times or errors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..utils import make


@dataclass
class RunnerInput:
    """An artifact to run on ``device_type`` ("cpu") with arguments shaped like ``args_info``."""

    artifact_path: str
    device_type: str
    args_info: list[Any]


@dataclass
class RunnerResult:
    """Measured seconds per repeat, or the error that stopped the run."""

    run_secs: list[float] | None
    error_msg: str | None


class RunnerFuture:
    """A result that may not be ready yet: ``done()`` polls, ``result()`` waits."""

    def __init__(
        self, f_done: Callable[[], bool], f_result: Callable[[], RunnerResult] | None = None
    ):
        self._f_done = f_done
        self._f_result = f_result

    def done(self) -> bool:
        return self._f_done()

    def result(self) -> RunnerResult:
        if self._f_result is None:
            raise NotImplementedError("this RunnerFuture has no result function")
        return self._f_result()


class Runner:
    """The abstract runner interface."""

    def run(self, runner_inputs: list[RunnerInput]) -> list[RunnerFuture]:
        raise NotImplementedError

    @staticmethod
    def create(kind: str = "local", *args: Any, **kwargs: Any) -> Runner:
        """Create a Runner: "local". ("rpc" is not built: it raises NotImplementedError.)"""
        if kind == "rpc":
            raise NotImplementedError("the RPC runner is not built yet; use kind='local'")
        return make({"local": ".runner.local_runner:LocalRunner"}, "Runner", kind, *args,
                    **kwargs)


PyRunner = Runner
PyRunnerFuture = RunnerFuture
