"""``build``: lower PrimFuncs, generate one LLVM module, JIT it and return a callable Module."""

from __future__ import annotations

import logging
import time
from typing import Any

from onnxtune.tir.function import IRModule, PrimFunc
from onnxtune.tir.transform import lower

from .codegen_llvm import codegen_llvm
from .llvm_engine import load_c_libraries

log = logging.getLogger(__name__)

def _functions(func_or_mod: Any, name: str | None) -> dict[str, PrimFunc]:
    """The PrimFuncs to compile, by exported name."""
    if isinstance(func_or_mod, PrimFunc):
        sym = name or func_or_mod.attrs.get("global_symbol") or "main"
        return {str(sym): func_or_mod}
    if isinstance(func_or_mod, IRModule):
        funcs = {k: f for k, f in func_or_mod.functions.items() if isinstance(f, PrimFunc)}
        if not funcs:
            raise ValueError(
                f"the IRModule has no PrimFunc to build (it has {sorted(func_or_mod)})"
            )
        if name is not None:
            raise ValueError("name= renames a single PrimFunc; an IRModule keeps its names")
        return funcs
    raise TypeError(
        f"build expects a tir.PrimFunc or an IRModule of PrimFuncs, got "
        f"{type(func_or_mod).__name__}"
    )


def build(func_or_mod: Any, target: Any = "llvm", name: str | None = None):
    """Compile a PrimFunc (exported as ``name``, its ``global_symbol`` attr, or "main") or
    every PrimFunc of an IRModule (under its key) for a CPU target.

    Returns the engine's ``Module``: ``mod["main"](*arrays)`` runs the function on numpy
    arrays (outputs passed in) after checking their count, shapes, dtypes and layout.
    Raises NotImplementedError for dynamic shapes and ValueError for code the target
    cannot run (for example loops bound to GPU threads).
    """
    from .llvm_engine import jit_module
    from .target import Target

    tgt = target if isinstance(target, Target) else Target(target)
    if tgt.kind != "llvm":
        raise ValueError(f"build: unsupported target kind {tgt.kind!r}; this builds for 'llvm'")
    funcs = _functions(func_or_mod, name)
    t0 = time.perf_counter()
    lowered = {k: lower(f) for k, f in funcs.items()}
    t1 = time.perf_counter()
    text = codegen_llvm(lowered, tgt.triple, tgt.data_layout, tgt.features)
    t2 = time.perf_counter()
    load_c_libraries()
    mod = jit_module(text, {k: f.params for k, f in funcs.items()}, tgt)
    t3 = time.perf_counter()
    log.info(
        "build %s: lower %.1f ms, LLVM IR %.1f ms, LLVM opt+JIT %.1f ms",
        ",".join(funcs), (t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3,
    )
    return mod
