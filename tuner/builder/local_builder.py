"""LocalBuilder: builds candidates in a pool of worker processes on this machine.

Each BuilderInput travels to a worker as JSON (the IRModule through ``tir.serialize``, the
target through ``Target.as_json``, params as base64 arrays); the worker runs
``f_build(mod, target, params)`` then ``f_export(built) -> artifact path``. A build that
raises, crashes its worker or exceeds ``timeout_sec`` becomes a BuilderResult with an
``error_msg``; the pool replaces the worker and goes on. Workers are separate Python
processes started fresh (never forked: libgomp's threads do not survive fork) and are
retired every ``MAX_BUILDS_PER_WORKER`` builds (llvmlite leaks ~80 KB per module).
"""

from __future__ import annotations

import base64
import importlib
from collections.abc import Callable
from typing import Any

import numpy as np

from ..utils import cpu_count
from ..worker import function_name, resolve_function
from ..worker_pool import TaskResult, WorkerPool
from .artifact import BuiltModule, llvm_externals, write_artifact
from .builder import Builder, BuilderInput, BuilderResult

#: a builder worker is replaced after this many builds
MAX_BUILDS_PER_WORKER = 500
_LAYOUT_REWRITE = "onnxtune.tir.transform.layout_rewrite"
_WORKER_TASK = f"{__name__}:_worker_build"

T_BUILD = Callable[[Any, Any, "dict[str, np.ndarray] | None"], Any]
T_EXPORT = Callable[[Any], str]


def _remove_layout_rewrite() -> Callable[[Any], Any] | None:
    """``remove_weight_layout_rewrite_block`` if the layout-rewrite pass exists."""
    try:
        mod = importlib.import_module(_LAYOUT_REWRITE)
    except ImportError:
        return None
    return getattr(mod, "remove_weight_layout_rewrite_block", None)


def default_build(mod: Any, target: Any, params: dict[str, np.ndarray] | None = None
                  ) -> BuiltModule:
    """Lower every PrimFunc of ``mod``, generate LLVM IR, optimize it and emit an object.

    Weight layout-rewrite blocks are removed first (the runner feeds the weights already in
    the rewritten layout, as the compiled model will). ``params`` are not used: constants
    are bound at compile time, not per candidate.
    """
    del params
    from onnxtune.compile.codegen_llvm import codegen_llvm
    from onnxtune.compile.llvm_engine import emit_object
    from onnxtune.compile.target import Target
    from onnxtune.tir.function import IRModule, PrimFunc
    from onnxtune.tir.transform import lower

    tgt = target if isinstance(target, Target) else Target(target)
    if tgt.kind != "llvm":
        raise NotImplementedError(f"LocalBuilder builds for 'llvm' targets; target kind "
                                  f"{tgt.kind!r} is not supported yet")
    if isinstance(mod, PrimFunc):
        mod = IRModule({"main": mod})
    if not isinstance(mod, IRModule):
        raise TypeError(f"default_build expects an IRModule or PrimFunc, got "
                        f"{type(mod).__name__}")
    funcs = {k: f for k, f in mod.functions.items() if isinstance(f, PrimFunc)}
    if not funcs:
        raise ValueError(f"default_build: the IRModule has no PrimFunc (it has {list(mod)})")
    strip = _remove_layout_rewrite()
    if strip is not None:
        funcs = {k: strip(f) for k, f in funcs.items()}
    lowered = {k: lower(f) for k, f in funcs.items()}
    text = codegen_llvm(lowered, tgt.triple, tgt.data_layout, tgt.features)
    obj = emit_object(text, tgt)
    return BuiltModule(obj, {k: f.params for k, f in funcs.items()}, tgt,
                       tuple(llvm_externals(text)))


def default_export(mod: Any) -> str:
    """Write a built module (a ``BuiltModule`` or a JIT ``compile.Module``) to a new
    temporary folder as ``module.o`` + ``module.json``; returns the object file's path."""
    if not isinstance(mod, BuiltModule):
        from onnxtune.compile.module import Module

        if not isinstance(mod, Module):
            raise TypeError(f"default_export expects a BuiltModule or a compile.Module, got "
                            f"{type(mod).__name__}")
        sigs = {name: mod.signature(name) for name in mod.functions}
        mod = BuiltModule(mod.get_object(), sigs, mod.target, tuple(mod.code.externals))
    return write_artifact(mod)


# -- transport ------------------------------------------------------------------------------
def _encode_params(params: dict[str, Any] | None) -> dict[str, Any] | None:
    if params is None:
        return None
    out = {}
    for k, v in params.items():
        a = np.ascontiguousarray(np.asarray(v))
        out[str(k)] = {"dtype": str(a.dtype), "shape": list(a.shape),
                       "data": base64.b64encode(a.tobytes()).decode()}
    return out


def _decode_params(obj: dict[str, Any] | None) -> dict[str, np.ndarray] | None:
    if obj is None:
        return None
    return {k: np.frombuffer(base64.b64decode(v["data"]), dtype=v["dtype"])
            .reshape(v["shape"]).copy() for k, v in obj.items()}


def _worker_build(mod_json: str, target_json: Any, params_json: Any, f_build: str,
                  f_export: str) -> str:
    """Runs in a builder worker: rebuild the inputs, build, export, return the path."""
    from onnxtune.compile.target import Target
    from onnxtune.tir.serialize import load_json

    mod = load_json(mod_json)
    target = Target.from_json(target_json)
    built = resolve_function(f_build)(mod, target, _decode_params(params_json))
    path = resolve_function(f_export)(built)
    if not isinstance(path, str):
        raise TypeError(f"f_export {f_export!r} returned {type(path).__name__}, expected the "
                        f"artifact's path (str)")
    return path


def _warmup_build() -> None:
    """Import the compiler and initialize LLVM before the worker reports ready."""
    from onnxtune.compile import codegen_llvm, llvm_engine, target  # noqa: F401
    from onnxtune.tir import serialize, transform  # noqa: F401

    llvm_engine.initialize()
    llvm_engine.data_layout(target.Target("llvm"))
    _remove_layout_rewrite()


_worker_build.warmup = _warmup_build  # type: ignore[attr-defined]


def _task_args(inp: BuilderInput, f_build: str, f_export: str) -> list[Any]:
    from onnxtune.compile.target import Target
    from onnxtune.tir.function import IRModule, PrimFunc
    from onnxtune.tir.serialize import save_json

    mod = inp.mod
    if isinstance(mod, PrimFunc):
        mod = IRModule({"main": mod})
    if not isinstance(mod, IRModule):
        raise TypeError(f"BuilderInput.mod must be an IRModule or PrimFunc, got "
                        f"{type(mod).__name__}")
    tgt = inp.target if isinstance(inp.target, Target) else Target(inp.target)
    return [save_json(mod), tgt.as_json(), _encode_params(inp.params), f_build, f_export]


def _error(r: TaskResult, timeout_sec: float) -> str:
    if r.kind == "timeout":
        return (f"LocalBuilder: the build timed out after {timeout_sec:g} s (timeout_sec); "
                f"its worker was killed and replaced")
    if r.kind == "crash":
        return f"LocalBuilder: the build crashed its worker: {r.error}"
    if r.error and r.error.startswith("LocalBuilder:"):
        return r.error
    return f"LocalBuilder: the build failed: {r.error}"


class LocalBuilder(Builder):
    """A builder that builds the given inputs on the local host, in worker processes.

    Parameters (TVM's): ``max_workers`` (default: the cores of this machine),
    ``timeout_sec`` per build, ``f_build`` / ``f_export`` (a module-level callable or a
    ``"module:function"`` name; default :func:`default_build` / :func:`default_export`),
    ``initializer`` (run once in each worker; a callable or a name).
    """

    def __init__(
        self,
        *,
        max_workers: int | None = None,
        timeout_sec: float = 30.0,
        f_build: None | str | T_BUILD = None,
        f_export: None | str | T_EXPORT = None,
        initializer: None | str | Callable[[], None] = None,
    ):
        self.max_workers = cpu_count() if max_workers is None else int(max_workers)
        if self.max_workers < 1:
            raise ValueError(f"LocalBuilder: max_workers must be >= 1, got {max_workers}")
        if timeout_sec <= 0:
            raise ValueError(f"LocalBuilder: timeout_sec must be > 0, got {timeout_sec}")
        self.timeout_sec = float(timeout_sec)
        self.f_build = function_name(f_build or default_build, "f_build")
        self.f_export = function_name(f_export or default_export, "f_export")
        self.initializer = (None if initializer is None
                            else function_name(initializer, "initializer"))
        self._pool: WorkerPool | None = None

    @property
    def pool(self) -> WorkerPool:
        if self._pool is None:
            self._pool = WorkerPool(self.max_workers, self.initializer,
                                    max_tasks_per_worker=MAX_BUILDS_PER_WORKER)
        return self._pool

    def build(self, build_inputs: list[BuilderInput]) -> list[BuilderResult]:
        """Build every input in parallel; failures are results with ``error_msg``."""
        results: list[BuilderResult | None] = [None] * len(build_inputs)
        tasks, where = [], []
        for i, inp in enumerate(build_inputs):
            try:
                tasks.append(_task_args(inp, self.f_build, self.f_export))
                where.append(i)
            except Exception as e:  # noqa: BLE001 - a bad input is that input's error
                results[i] = BuilderResult(None, f"LocalBuilder: cannot send build input "
                                                 f"{i} to a worker: {type(e).__name__}: {e}")
        try:
            done = self.pool.map(_WORKER_TASK, tasks, self.timeout_sec) if tasks else []
        except Exception as e:  # noqa: BLE001 - e.g. no process could be started
            msg = f"LocalBuilder: the worker pool failed: {type(e).__name__}: {e}"
            done = [TaskResult(error=msg, kind="error") for _ in tasks]
        for i, r in zip(where, done, strict=True):
            if r.ok:
                results[i] = BuilderResult(r.value, None, r.seconds)
            else:
                results[i] = BuilderResult(None, _error(r, self.timeout_sec), r.seconds)
        return [r for r in results if r is not None]

    def close(self) -> None:
        """Stop the worker processes (a later build starts new ones)."""
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass
