"""LocalRunner: times built artifacts in a worker process on this machine, one at a time.

Every candidate runs in the runner's worker process (a fresh Python process, never a
fork): load the object (``llvm_engine.jit_object``), allocate random arguments from the
ArgInfo, time the entry function (``Module.time_evaluator``: a native loop, optional CPU
cache flush), clean up. A candidate that segfaults or runs longer than ``timeout_sec``
gets its worker killed; its result carries the error and a new worker serves the next
candidate. Candidates run strictly one after another (a single worker, a single
background thread), so measurements never overlap; parallel kernels use as many threads
as the target has cores (``-num-cores``).
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..worker import function_name, resolve_function
from ..worker_pool import TaskResult, WorkerPool, signal_name
from .config import EvaluatorConfig
from .runner import Runner, RunnerFuture, RunnerInput, RunnerResult
from .utils import alloc_argument_common, run_evaluator_common

_WORKER_TASK = f"{__name__}:_worker_run"
_DEVICE_TYPES = ("cpu", "llvm")


@dataclass(frozen=True)
class Device:
    """The device a runner worker allocates on and times: here always the host CPU."""

    device_type: str = "cpu"
    device_id: int = 0

    def sync(self) -> None:
        """Wait for queued work (CPU kernels are synchronous: nothing to wait for)."""

    def __str__(self) -> str:
        return f"{self.device_type}({self.device_id})"


T_ALLOC_ARGUMENT = Callable[[Device, list[Any], int], list[list[Any]]]
T_RUN_EVALUATOR = Callable[[Any, Device, EvaluatorConfig, list[list[Any]]], list[float]]
T_CLEANUP = Callable[[], None]


def default_alloc_argument(device: Device, args_info: list[Any], alloc_repeat: int
                           ) -> list[list[Any]]:
    """``alloc_repeat`` lists of random numpy arrays shaped like ``args_info`` (JSON)."""
    del device
    return alloc_argument_common(args_info, alloc_repeat)


def default_run_evaluator(rt_mod: Any, device: Device, evaluator_config: EvaluatorConfig,
                          repeated_args: list[list[Any]]) -> list[float]:
    """Seconds per run of the module's entry function, ``repeat`` values per argument list."""
    costs = run_evaluator_common(rt_mod, evaluator_config, repeated_args)
    device.sync()
    return costs


def default_cleanup() -> None:
    """Nothing to clean up: the module and arguments are dropped with the task."""


def _worker_run(artifact_path: str, device_type: str, args_info: list[Any],
                evaluator_config: dict[str, Any], alloc_repeat: int, f_alloc_argument: str,
                f_run_evaluator: str, f_cleanup: str) -> list[float]:
    """Runs in the runner worker: load, allocate, time, clean up; returns run_secs."""
    from onnxtune.compile import runtime

    from ..builder.artifact import load_artifact

    device = Device(device_type)
    config = EvaluatorConfig.from_json(evaluator_config)
    try:
        rt_mod = load_artifact(artifact_path)
        try:
            if any(runtime.provides(s) for s in rt_mod.code.externals):
                runtime.set_num_threads(rt_mod.target.num_cores)
            repeated_args = resolve_function(f_alloc_argument)(device, args_info, alloc_repeat)
            costs = resolve_function(f_run_evaluator)(rt_mod, device, config, repeated_args)
        finally:
            rt_mod.close()
    finally:
        resolve_function(f_cleanup)()
    costs = [float(c) for c in costs]
    if not costs:
        raise ValueError(f"f_run_evaluator {f_run_evaluator!r} returned no timings")
    return costs


def _warmup_run() -> None:
    """Import the engine, initialize LLVM and the parallel runtime before "ready"."""
    from onnxtune.compile import llvm_engine, module, runtime  # noqa: F401

    from ..builder import artifact  # noqa: F401

    llvm_engine.initialize()
    llvm_engine.load_c_libraries()
    runtime.load_if_available()


_worker_run.warmup = _warmup_run  # type: ignore[attr-defined]


class LocalRunnerFuture(RunnerFuture):
    """A local runner's result: ready at construction (``res`` or ``error_message``) or
    filled in later by the runner's background thread."""

    def __init__(self, res: list[float] | None = None, error_message: str | None = None):
        self._event = threading.Event()
        self._result: RunnerResult | None = None
        super().__init__(self._event.is_set, self._wait)
        if res is not None or error_message is not None:
            self.set_result(RunnerResult(res, error_message))

    def set_result(self, result: RunnerResult) -> None:
        self._result = result
        self._event.set()

    def _wait(self) -> RunnerResult:
        self._event.wait()
        assert self._result is not None
        return self._result


def _describe_failure(r: TaskResult, timeout_sec: float) -> str:
    if r.kind == "timeout":
        return (f"LocalRunner: the candidate timed out after {timeout_sec:g} s "
                f"(timeout_sec); its worker was killed and replaced")
    if r.kind == "crash":
        if r.signal is not None:
            how = f"signal {r.signal} {signal_name(r.signal)}"
        else:
            how = "its worker process exited"
        return f"LocalRunner: the candidate crashed ({how}); its worker was replaced\n{r.error}"
    return f"LocalRunner: running the candidate failed: {r.error}"


class LocalRunner(Runner):
    """Local runner (TVM's parameters): ``timeout_sec`` per candidate (loading, allocation
    and timing together), ``evaluator_config``, ``cooldown_sec`` (pause between two
    candidates), ``alloc_repeat`` (argument sets, each timed ``repeat`` times),
    ``f_alloc_argument`` / ``f_run_evaluator`` / ``f_cleanup`` (module-level callables or
    ``"module:function"`` names, run in the worker) and ``initializer`` (run once per
    worker process)."""

    def __init__(
        self,
        timeout_sec: float = 30,
        evaluator_config: EvaluatorConfig | None = None,
        cooldown_sec: float = 0.0,
        alloc_repeat: int = 1,
        f_alloc_argument: None | str | T_ALLOC_ARGUMENT = None,
        f_run_evaluator: None | str | T_RUN_EVALUATOR = None,
        f_cleanup: None | str | T_CLEANUP = None,
        initializer: None | str | Callable[[], None] = None,
    ):
        if timeout_sec <= 0:
            raise ValueError(f"LocalRunner: timeout_sec must be > 0, got {timeout_sec}")
        if cooldown_sec < 0:
            raise ValueError(f"LocalRunner: cooldown_sec must be >= 0, got {cooldown_sec}")
        if alloc_repeat < 1:
            raise ValueError(f"LocalRunner: alloc_repeat must be >= 1, got {alloc_repeat}")
        self.timeout_sec = float(timeout_sec)
        self.evaluator_config = EvaluatorConfig.normalize(evaluator_config)
        self.cooldown_sec = float(cooldown_sec)
        self.alloc_repeat = int(alloc_repeat)
        self.f_alloc_argument = function_name(f_alloc_argument or default_alloc_argument,
                                              "f_alloc_argument")
        self.f_run_evaluator = function_name(f_run_evaluator or default_run_evaluator,
                                             "f_run_evaluator")
        self.f_cleanup = function_name(f_cleanup or default_cleanup, "f_cleanup")
        self.initializer = (None if initializer is None
                            else function_name(initializer, "initializer"))
        self._pool = WorkerPool(1, self.initializer)
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._last_end = 0.0

    @property
    def executor(self) -> concurrent.futures.ThreadPoolExecutor:
        """The one thread that runs candidates one after another, in submission order."""
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="onnxtune-runner")
        return self._executor

    def run(self, runner_inputs: list[RunnerInput]) -> list[RunnerFuture]:
        """Queue every input for measurement; returns one future per input at once."""
        futures = []
        for inp in runner_inputs:
            fut = LocalRunnerFuture()
            try:
                args = self._task_args(inp)
            except Exception as e:  # noqa: BLE001 - a bad input is that input's error
                fut.set_result(RunnerResult(None, f"LocalRunner: invalid runner input: "
                                                  f"{type(e).__name__}: {e}"))
            else:
                self.executor.submit(self._run_one, args, fut)
            futures.append(fut)
        return futures

    def _task_args(self, inp: RunnerInput) -> list[Any]:
        if inp.device_type not in _DEVICE_TYPES:
            raise NotImplementedError(f"LocalRunner runs on the host CPU; device_type "
                                      f"{inp.device_type!r} is not supported yet")
        if not isinstance(inp.artifact_path, str) or not inp.artifact_path:
            raise ValueError(f"artifact_path must be a path, got {inp.artifact_path!r}")
        infos = [a.as_json() if hasattr(a, "as_json") else a for a in inp.args_info]
        return [inp.artifact_path, inp.device_type, infos, self.evaluator_config.as_json(),
                self.alloc_repeat, self.f_alloc_argument, self.f_run_evaluator, self.f_cleanup]

    def _run_one(self, args: list[Any], fut: LocalRunnerFuture) -> None:
        try:
            wait = self._last_end + self.cooldown_sec - time.perf_counter()
            if self._last_end and wait > 0:
                time.sleep(wait)
            (r,) = self._pool.map(_WORKER_TASK, [args], self.timeout_sec)
            self._last_end = time.perf_counter()
            if r.ok:
                fut.set_result(RunnerResult([float(x) for x in r.value], None))
            else:
                fut.set_result(RunnerResult(None, _describe_failure(r, self.timeout_sec)))
        except BaseException as e:  # noqa: BLE001 - never leave a future unresolved
            fut.set_result(RunnerResult(None, f"LocalRunner: internal error: "
                                              f"{type(e).__name__}: {e}"))

    def close(self) -> None:
        """Finish the queued candidates, then stop the worker process (a later ``run``
        starts a new one)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        self._pool.close()

    def __del__(self) -> None:
        try:
            if self._executor is not None:
                self._executor.shutdown(wait=False, cancel_futures=True)
            self._pool.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass
