"""Runner helpers: random arguments from ArgInfo, CPU cache flushing, timing a module."""

from __future__ import annotations

import ctypes
import platform
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

_flush_fn: Any = None  # None: not built yet; else a callable(ptr, nbytes)
_scratch: np.ndarray | None = None
#: bytes written to evict the caches where clflush is not available (> any LLC here)
SCRATCH_BYTES = 256 << 20

_CLFLUSH_IR = """
declare void @llvm.x86.sse2.clflush(ptr)

define void @onnxtune_clflush(ptr %p, i64 %n) {
entry:
  %empty = icmp sle i64 %n, 0
  br i1 %empty, label %done, label %loop
loop:
  %i = phi i64 [0, %entry], [%next, %loop]
  %q = getelementptr i8, ptr %p, i64 %i
  call void @llvm.x86.sse2.clflush(ptr %q)
  %next = add i64 %i, 64
  %more = icmp slt i64 %next, %n
  br i1 %more, label %loop, label %last
last:
  %endp = getelementptr i8, ptr %p, i64 %n
  %lastp = getelementptr i8, ptr %endp, i64 -1
  call void @llvm.x86.sse2.clflush(ptr %lastp)
  fence seq_cst
  br label %done
done:
  ret void
}
"""


def _flusher() -> Callable[[int, int], None] | None:
    """A native ``flush(address, nbytes)`` (x86 clflush + fence), built once; None when the
    CPU has no clflush."""
    global _flush_fn
    if _flush_fn is None:
        if platform.machine().lower() not in ("x86_64", "amd64", "i686", "x86"):
            _flush_fn = False
        else:
            from onnxtune.compile.llvm_engine import compile_ir

            code = compile_ir(_CLFLUSH_IR, "llvm", optimize_ir=False)
            fn = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int64)(
                code.get_function_address("onnxtune_clflush"))
            _flush_fn = (fn, code)  # keep the code alive with the function
    return _flush_fn[0] if _flush_fn else None


def cpu_cache_flush(arrays: Sequence[np.ndarray]) -> None:
    """Evict ``arrays`` from every CPU cache level (clflush of each line; elsewhere, by
    writing a scratch buffer larger than the last-level cache)."""
    fn = _flusher()
    if fn is not None:
        for a in arrays:
            if a.nbytes:
                fn(a.ctypes.data, a.nbytes)
        return
    global _scratch
    if _scratch is None:
        _scratch = np.zeros(SCRATCH_BYTES // 8, np.float64)
    _scratch += 1.0


def random_fill(dtype: str, shape: Sequence[int], rng: np.random.Generator) -> np.ndarray:
    """A C-contiguous array of ``shape``: floats uniform in [-1, 1), small integers,
    random booleans."""
    dt = np.dtype(dtype)
    shape = tuple(int(s) for s in shape)
    if dt == np.bool_:
        return rng.integers(0, 2, size=shape).astype(np.bool_)
    if dt in (np.float32, np.float64):
        out = rng.random(shape, dtype=dt)  # [0, 1) drawn in the target dtype: no copy
        out *= 2
        out -= 1
        return out
    if dt.kind == "f":
        return rng.uniform(-1.0, 1.0, size=shape).astype(dt)
    if dt.kind == "u":
        return rng.integers(0, 8, size=shape).astype(dt)
    if dt.kind == "i":
        return rng.integers(-8, 8, size=shape).astype(dt)
    raise ValueError(f"random_fill: unsupported dtype {dtype!r}")


def _tensor_info(info: Any) -> tuple[str, tuple[int, ...]]:
    from ..arg_info import ArgInfo, TensorInfo

    if not isinstance(info, ArgInfo):
        info = ArgInfo.from_json(info)
    if not isinstance(info, TensorInfo):
        raise ValueError(f"cannot allocate an argument for {info!r}: only tensors are supported")
    return info.dtype, info.shape


def alloc_argument_common(args_info: Sequence[Any], alloc_repeat: int, seed: int = 0
                          ) -> list[list[np.ndarray]]:
    """``alloc_repeat`` independent lists of random arrays shaped like ``args_info``
    (ArgInfo objects or their JSON)."""
    if alloc_repeat < 1:
        raise ValueError(f"alloc_repeat must be >= 1, got {alloc_repeat}")
    infos = [_tensor_info(a) for a in args_info]
    rng = np.random.default_rng(seed)
    return [[random_fill(dt, shape, rng) for dt, shape in infos] for _ in range(alloc_repeat)]


def run_evaluator_common(rt_mod: Any, evaluator_config: Any,
                         repeated_args: Sequence[Sequence[np.ndarray]]) -> list[float]:
    """Time ``rt_mod``'s entry function on each argument list with its ``time_evaluator``;
    returns seconds per run, ``repeat`` values per argument list."""
    from .config import EvaluatorConfig

    cfg = EvaluatorConfig.normalize(evaluator_config)
    entry = getattr(rt_mod, "entry", None) or (
        "main" if "main" in rt_mod else rt_mod.functions[0])
    costs: list[float] = []
    for args in repeated_args:
        args = tuple(args)
        preproc = (lambda a=args: cpu_cache_flush(a)) if cfg.enable_cpu_cache_flush else None
        timer = rt_mod.time_evaluator(entry, number=cfg.number, repeat=cfg.repeat,
                                      min_repeat_ms=cfg.min_repeat_ms, f_preproc=preproc)
        costs.extend(float(x) for x in timer(*args).results)
    return costs
