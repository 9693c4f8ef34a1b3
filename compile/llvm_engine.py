"""The LLVM engine: parse, verify, optimize (O3) and JIT LLVM IR text, or emit object code.

Everything that touches ``llvmlite.binding`` lives here. Each compiled module gets its own
LLVM context and MCJIT execution engine, so dropping it (``JITCode.close()`` or garbage
collection) releases its machine code, IR and types. What cannot be released is
llvmlite's own: every run of the new pass manager leaks its PassInstrumentationCallbacks
(~70 KB per optimized module, constant in module size) — processes that build thousands
of modules (the tuner's builders) should be recycled now and then.
"""

from __future__ import annotations

import re
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import llvmlite.binding as llvm

from .target import Target

_lock = threading.RLock()
_initialized = False
_layouts: dict[tuple[str, str, str], str] = {}


class LLVMError(RuntimeError):
    """LLVM rejected the IR (parse or verification) or could not compile it."""


def initialize() -> None:
    """Initialize LLVM's native target once per process (idempotent, thread-safe)."""
    global _initialized
    if _initialized:
        return
    with _lock:
        if not _initialized:
            llvm.initialize_native_target()
            llvm.initialize_native_asmprinter()
            llvm.initialize_native_asmparser()
            # LLVM 22's loop vectorizer miscompiles interleaved groups of modular indices
            # (a[i % 3, j % 4, k % 5] over (18, 16, 10) drops the `j % 4`; cf.
            # llvm/llvm-project#156849): vectorize without interleaved-access groups
            llvm.set_option("", "-enable-interleaved-mem-accesses=0")
            _initialized = True


def _as_target(target: Any) -> Target:
    tgt = target if isinstance(target, Target) else Target(target)
    if tgt.kind != "llvm":
        raise NotImplementedError(
            f"code generation for target kind {tgt.kind!r} is not implemented; the LLVM "
            f"engine builds for 'llvm' (CPU) targets"
        )
    return tgt


def target_machine(target: Any, *, jit: bool = True, pic: bool = False) -> llvm.TargetMachine:
    """A new LLVM target machine for ``target`` (CPU name, features, opt level).

    ``jit``: code model for in-process JIT (large); otherwise the small code model, with
    position-independent code when ``pic`` (for objects linked into shared libraries).
    """
    tgt = _as_target(target)
    initialize()
    try:
        llvm_target = llvm.Target.from_triple(tgt.triple)
    except RuntimeError as e:
        raise LLVMError(f"LLVM has no backend for triple {tgt.triple!r}: {e}") from None
    return llvm_target.create_target_machine(
        cpu=tgt.mcpu, features=tgt.features, opt=tgt.opt_level,
        reloc="pic" if pic else "default",
        codemodel="jitdefault" if jit else "default", jit=jit,
    )


def data_layout(target: Any) -> str:
    """The data layout string of ``target`` (cached)."""
    tgt = _as_target(target)
    key = (tgt.triple, tgt.mcpu, tgt.features)
    if key not in _layouts:
        tm = target_machine(tgt)
        try:
            _layouts[key] = str(tm.target_data)
        finally:
            tm.close()
    return _layouts[key]


# -- parsing and verification -----------------------------------------------------------------
_LOC = re.compile(r"<string>:(\d+):(\d+): error: (.*)")


def _excerpt(text: str, line: int, col: int = 0) -> str:
    lines = text.splitlines()
    out = []
    for n in range(max(1, line - 2), min(len(lines), line + 1) + 1):
        mark = ">" if n == line else " "
        out.append(f"{mark}{n:5d} | {lines[n - 1]}")
        if n == line and col:
            out.append(" " * (col + 8) + "^")
    return "\n".join(out)


def parse(text: str, context: llvm.ContextRef | None = None) -> llvm.ModuleRef:
    """Parse LLVM IR text. Raises LLVMError with LLVM's message and the offending line."""
    initialize()
    try:
        return llvm.parse_assembly(text, context=context)
    except RuntimeError as e:
        msg = str(e).removeprefix("LLVM IR parsing error").strip()
        m = _LOC.search(msg)
        if m is None:
            raise LLVMError(f"LLVM could not parse the IR: {msg}") from None
        line, col, what = int(m.group(1)), int(m.group(2)), m.group(3)
        raise LLVMError(
            f"LLVM could not parse the IR: line {line}, column {col}: {what}\n"
            f"{_excerpt(text, line, col)}"
        ) from None


def verify(mod: llvm.ModuleRef, text: str = "") -> None:
    """Run LLVM's verifier; raises LLVMError naming the broken instructions and, when the
    IR text is given, where they are in it."""
    try:
        mod.verify()
    except RuntimeError as e:
        msg = str(e).strip()
        where = []
        lines = text.splitlines()
        for bad in msg.splitlines()[1:]:
            bad = bad.strip()
            hits = [i + 1 for i, ln in enumerate(lines)
                    if bad and ln.strip().replace('"', "") == bad.replace('"', "")]
            if hits:
                where.append(_excerpt(text, hits[0]))
        loc = ("\n" + "\n".join(where)) if where else ""
        raise LLVMError(f"LLVM IR verification failed: {msg}{loc}") from None


def external_symbols(mod: llvm.ModuleRef) -> list[str]:
    """The functions and globals ``mod`` declares but does not define (no intrinsics)."""
    names = [f.name for f in mod.functions
             if f.is_declaration and not f.name.startswith("llvm.")]
    return names + [g.name for g in mod.global_variables if g.is_declaration]


_c_libraries_loaded = False


def load_c_libraries() -> None:
    """Make libc and libm symbols (aligned_alloc, free, expf, fmodf, ...) resolvable by
    the JIT: generated code calls them, and LLVM's symbol search only sees libraries
    loaded permanently into it."""
    global _c_libraries_loaded
    if _c_libraries_loaded:
        return
    import ctypes.util

    with _lock:
        for name in ("c", "m"):
            path = ctypes.util.find_library(name)
            if path:
                llvm.load_library_permanently(path)
        _c_libraries_loaded = True


def check_symbols(names: Sequence[str]) -> None:
    """Every external symbol must resolve in this process (MCJIT would abort the process
    on an unresolved one): loads the runtime if one of its symbols is needed, then raises
    LLVMError naming what is still missing."""
    from . import runtime

    if any(runtime.provides(n) for n in names):
        runtime.load()
    if names:
        load_c_libraries()
    missing = [n for n in names if not llvm.address_of_symbol(n)]
    if missing:
        raise LLVMError(
            f"the module uses external symbols that are not loaded in this process: "
            f"{', '.join(sorted(missing))} (declare only libc/libm functions, LLVM "
            f"intrinsics, or the runtime's {', '.join(runtime.SYMBOLS)})"
        )


def _set_target(mod: llvm.ModuleRef, tgt: Target) -> None:
    """Give a module without a real triple / data layout the target's (as clang does)."""
    if not mod.triple or mod.triple.startswith("unknown"):
        mod.triple = tgt.triple
    if not mod.data_layout:
        mod.data_layout = data_layout(tgt)


def optimize(mod: llvm.ModuleRef, target: Any, level: int | None = None) -> None:
    """Run LLVM's default per-module pipeline (new pass manager) at ``level`` (default:
    the target's opt level, 3) with loop and SLP vectorization, unrolling, interleaving."""
    tgt = _as_target(target)
    level = tgt.opt_level if level is None else level
    tm = target_machine(tgt)
    pto = llvm.create_pipeline_tuning_options(speed_level=level)
    try:
        pto.loop_vectorization = level >= 2
        pto.slp_vectorization = level >= 2
        pto.loop_unrolling = level >= 1
        pto.loop_interleaving = level >= 2
        # a fresh PassBuilder each time: a shared one accumulates instrumentation
        # callbacks and gets slower with every run
        pb = llvm.create_pass_builder(tm, pto)
        try:
            mpm = pb.getModulePassManager()
            try:
                mpm.run(mod, pb)
            finally:
                mpm.close()
        finally:
            pb.close()
    finally:
        pto.close()
        tm.close()


@dataclass
class CompileTimes:
    """Seconds spent in each phase of one compilation."""

    parse: float = 0.0
    verify: float = 0.0
    optimize: float = 0.0
    jit: float = 0.0

    @property
    def total(self) -> float:
        return self.parse + self.verify + self.optimize + self.jit

    def __str__(self) -> str:
        return (f"parse {self.parse * 1e3:.1f} ms, verify {self.verify * 1e3:.1f} ms, "
                f"optimize {self.optimize * 1e3:.1f} ms, JIT {self.jit * 1e3:.1f} ms")


def _release(engine: Any, ctx: Any) -> None:
    # the engine (which owns the module) must go before the context its types live in
    with _lock:
        engine.close()
        ctx.close()


class JITCode:
    """Machine code of one module in this process. Function addresses stay valid while
    this object is alive and not closed; ``close()`` (or dropping it) frees the code."""

    def __init__(self, target: Target, ir: str, source_ir: str, times: CompileTimes,
                 engine: Any, context: Any):
        self.target = target
        self.ir = ir  # the optimized IR ("" when loaded from object code)
        self.source_ir = source_ir  # the IR as given
        self.times = times
        self.externals: tuple[str, ...] = ()  # the symbols it imports from the process
        self._engine = engine
        self._cache: dict[str, int] = {}
        # a finalizer, not __del__: it holds the engine and context, so garbage collection
        # of a cycle through this object cannot dispose of them in the wrong order
        self._finalizer = weakref.finalize(self, _release, engine, context)
        self._finalizer.atexit = False

    def get_function_address(self, name: str) -> int:
        """The native address of the function ``name`` (ValueError if it is absent)."""
        addr = self._cache.get(name)
        if addr is None:
            if self.closed:
                raise ValueError("this JIT code was closed; its functions are gone")
            with _lock:
                addr = self._engine.get_function_address(name)
            if not addr:
                raise ValueError(f"the module has no function {name!r}")
            self._cache[name] = addr
        return addr

    def assembly(self) -> str:
        """The machine code as assembly text."""
        return emit_assembly(self.ir, self.target, optimize_ir=False)

    def object_code(self, pic: bool = True) -> bytes:
        """The module as an object file."""
        return emit_object(self.ir, self.target, optimize_ir=False, pic=pic)

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    def close(self) -> None:
        """Free the machine code and LLVM data now (idempotent)."""
        self._cache.clear()
        self._engine = None
        self._finalizer()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{len(self.ir)} chars of IR"
        return f"<JITCode for {self.target} ({state})>"


def compile_ir(text: str, target: Any = "llvm", *, optimize_ir: bool = True) -> JITCode:
    """Parse, verify, optimize and JIT-compile LLVM IR text for the host ``target``.

    Modules compile in parallel from several threads (each has its own LLVM context);
    only creating the execution engine is serialized."""
    tgt = _as_target(target)
    times = CompileTimes()
    initialize()
    ctx = llvm.create_context()
    try:
        t0 = time.perf_counter()
        mod = parse(text, ctx)
        t1 = time.perf_counter()
        try:
            verify(mod, text)
            externals = external_symbols(mod)
            with _lock:
                check_symbols(externals)
            _set_target(mod, tgt)
            t2 = time.perf_counter()
            if optimize_ir:
                optimize(mod, tgt)
            t3 = time.perf_counter()
            opt_text = str(mod)
            with _lock:
                engine = llvm.create_mcjit_compiler(mod, target_machine(tgt))
        except BaseException:
            mod.close()
            raise
        try:  # the engine owns the module from here on
            with _lock:
                engine.finalize_object()
        except BaseException:
            engine.close()
            raise
        t4 = time.perf_counter()
    except BaseException:
        ctx.close()
        raise
    times.parse, times.verify, times.optimize, times.jit = t1 - t0, t2 - t1, t3 - t2, t4 - t3
    code = JITCode(tgt, opt_text, text, times, engine, ctx)
    code.externals = tuple(externals)
    return code


def jit_object(obj: bytes, target: Any = "llvm", externals: Sequence[str] = ()) -> JITCode:
    """Load object code (from ``emit_object``) into this process. ``externals``: the
    symbols it imports (``JITCode.externals`` of the compiled module), checked first —
    an object with an unresolvable symbol would abort the process."""
    tgt = _as_target(target)
    initialize()
    t0 = time.perf_counter()
    with _lock:
        check_symbols(list(externals))
        ctx = llvm.create_context()
        empty = llvm.parse_assembly("", context=ctx)
        empty.triple = tgt.triple
        engine = llvm.create_mcjit_compiler(empty, target_machine(tgt))
        engine.add_object_file(llvm.ObjectFileRef.from_data(obj))
        engine.finalize_object()
    code = JITCode(tgt, "", "", CompileTimes(jit=time.perf_counter() - t0), engine, ctx)
    code.externals = tuple(externals)
    return code


def _emit(text: str, tgt: Target, optimize_ir: bool, pic: bool, kind: str) -> Any:
    ctx = llvm.create_context()
    try:
        mod = parse(text, ctx)
        try:
            verify(mod, text)
            _set_target(mod, tgt)
            if optimize_ir:
                optimize(mod, tgt)
            tm = target_machine(tgt, jit=kind == "asm", pic=pic)
            try:
                return tm.emit_assembly(mod) if kind == "asm" else tm.emit_object(mod)
            finally:
                tm.close()
        finally:
            mod.close()
    finally:
        ctx.close()


def emit_assembly(text: str, target: Any = "llvm", *, optimize_ir: bool = True) -> str:
    """Assembly text for LLVM IR (optimized first unless ``optimize_ir=False``)."""
    return _emit(text, _as_target(target), optimize_ir, False, "asm")


def emit_object(text: str, target: Any = "llvm", *, optimize_ir: bool = True,
                pic: bool = True) -> bytes:
    """Object code for LLVM IR (optimized first unless ``optimize_ir=False``)."""
    return _emit(text, _as_target(target), optimize_ir, pic, "obj")


def jit_module(text: str, signatures: Mapping[str, Sequence[Any]], target: Any = "llvm",
               *, optimize_ir: bool = True):
    """Compile LLVM IR and wrap it as a callable :class:`~.module.Module`.

    ``signatures`` maps each exported function (``void name(ptr args)``, see
    :data:`~.module.CALLING_CONVENTION`) to its buffer parameters: ``Param`` objects,
    ``(name, shape, dtype)`` tuples, or objects with ``name``/``shape``/``dtype``.
    """
    from .module import Module

    return Module(compile_ir(text, target, optimize_ir=optimize_ir), signatures)
