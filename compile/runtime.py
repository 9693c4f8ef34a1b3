"""The native parallel runtime: libgomp's thread pool in-process, and IR helpers to use it.

Generated code runs a parallel region natively, never through Python threads:

    GOMP_parallel(void (*body)(ptr), ptr closure, i32 num_threads, i32 flags = 0)

runs ``body(closure)`` on ``num_threads`` threads (0: the pool's default) and returns when
all are done; inside, ``omp_get_thread_num()`` / ``omp_get_num_threads()`` give the
thread's id and the team size, from which the body takes its static chunk of the
iteration range (:func:`emit_static_chunk`).

Choice: the pool is libgomp (GCC's OpenMP runtime, present on nearly every Linux system
and bundled by many wheels); there is no home-made fallback pool. :func:`load` finds it
(``ONNXTUNE_LIBGOMP``, a copy already mapped into the process, the system linker's, the
usual lib directories, then ``*.libs/libgomp*.so*`` bundled in site-packages) and loads
it permanently; if none exists, building code with a parallel region raises a
RuntimeError that says what to install.

Waiting: before libgomp loads, ``GOMP_SPINCOUNT`` is set (unless the user set it or
``OMP_WAIT_POLICY``) so that an idle worker spins about :data:`SPIN_US` microseconds,
then sleeps. libgomp counts spins, not time, and one spin (a ``pause`` instruction) takes
from a few to ~50 ns depending on the CPU, so :func:`spin_count` times ``pause`` once per
process and converts. Long spins (milliseconds: libgomp's own default) made parallel
kernels 30x slower on a shared, busy machine; too short a spin costs a sleeping worker's
wake-up (12-50 us in these VMs) at nearly every region. libgomp reads the setting once,
when it is loaded: another library that loads it first (xgboost does) fixes it, so
:func:`prepare_env` must run before such an import (the XGBoost cost model calls it).

Thread count: the launch emitted by :func:`emit_parallel_launch` reads the process
global ``onnxtune_num_threads`` (set by :func:`set_num_threads`, initially
``ONNXTUNE_NUM_THREADS`` or 0 = libgomp's default: ``OMP_NUM_THREADS``, else every core
this process may use). Code that passes 0 itself follows ``omp_set_num_threads``, which
:func:`set_num_threads` also calls for the calling thread.

Fork: libgomp's threads do not survive ``fork()``, and a child that launches a region
on the parent's pool hangs. If the parent has run parallel code (through ``Module``, or
announced with :func:`note_parallel_use`), a forked child runs its regions on one thread
and logs a warning; use the "spawn" or "forkserver" start methods to keep parallelism.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import logging
import os
import platform
import site
import sys
import sysconfig
import threading

from llvmlite import ir

#: the native entry point that runs ``body(closure)`` on every thread of the pool
LAUNCH_SYMBOL = "GOMP_parallel"
#: process global (i32) holding the thread count launches use; 0 = the pool's default
NUM_THREADS_SYMBOL = "onnxtune_num_threads"
#: process global (i32): 0 = each thread runs one static chunk of a parallel loop; k > 0 =
#: threads take chunks of about n / (threads * k) iterations from a shared counter
DYNAMIC_CHUNKS_SYMBOL = "onnxtune_dynamic_chunks"
#: every symbol generated code may import from the runtime
SYMBOLS = (LAUNCH_SYMBOL, "omp_get_thread_num", "omp_get_num_threads", NUM_THREADS_SYMBOL,
           DYNAMIC_CHUNKS_SYMBOL)

_I32 = ir.IntType(32)
_I64 = ir.IntType(64)
_PTR = ir.PointerType()
_BODY_TYPE = ir.FunctionType(ir.VoidType(), [_PTR])

_lock = threading.Lock()
_lib: ctypes.CDLL | None = None
_lib_path: str | None = None
_num_threads = ctypes.c_int32(0)  # the storage behind NUM_THREADS_SYMBOL; never freed
_dynamic_chunks = ctypes.c_int32(0)  # the storage behind DYNAMIC_CHUNKS_SYMBOL
_used = False  # whether this process may have started the pool's threads
log = logging.getLogger(__name__)


def _env_threads() -> int:
    raw = os.environ.get("ONNXTUNE_NUM_THREADS", "").strip()
    if not raw:
        return 0
    try:
        n = int(raw)
    except ValueError:
        raise ValueError(f"ONNXTUNE_NUM_THREADS={raw!r} is not an integer") from None
    if n < 1:
        raise ValueError(f"ONNXTUNE_NUM_THREADS={raw!r} must be at least 1")
    return n


def _mapped_libgomp() -> str | None:
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1]
                if "/libgomp" in path and ".so" in path and os.path.isfile(path):
                    return path
    except OSError:
        pass
    return None


def candidates() -> list[str]:
    """Paths where libgomp may be, in the order :func:`find_libgomp` tries them."""
    out: list[str] = []
    if os.environ.get("ONNXTUNE_LIBGOMP"):
        out.append(os.environ["ONNXTUNE_LIBGOMP"])
    mapped = _mapped_libgomp()
    if mapped:
        out.append(mapped)
    name = ctypes.util.find_library("gomp")
    if name:
        out.append(name)
    multiarch = sysconfig.get_config_var("MULTIARCH") or ""
    for d in (f"/usr/lib/{multiarch}", "/usr/lib64", "/usr/lib", "/lib64", "/lib",
              f"/lib/{multiarch}", "/usr/local/lib", "/usr/local/lib64",
              os.path.join(sys.prefix, "lib")):
        out.append(os.path.join(d, "libgomp.so.1"))
    dirs = list(site.getsitepackages()) if hasattr(site, "getsitepackages") else []
    dirs += [site.getusersitepackages(), sysconfig.get_paths()["purelib"]]
    for d in dict.fromkeys(dirs):
        out += sorted(glob.glob(os.path.join(d, "*.libs", "libgomp*.so*")))
        out += sorted(glob.glob(os.path.join(d, "torch", "lib", "libgomp*.so*")))
    return list(dict.fromkeys(out))


def _loadable(path: str) -> bool:
    if os.sep in path and not os.path.isfile(path):
        return False
    try:
        lib = ctypes.CDLL(path)
        lib.GOMP_parallel  # noqa: B018  (a libgomp, not some other library)
    except (OSError, AttributeError):
        return False
    return True


def find_libgomp() -> str | None:
    """The first libgomp that can be loaded (see :func:`candidates`), or None. A path in
    ``ONNXTUNE_LIBGOMP`` must work: RuntimeError if it does not."""
    forced = os.environ.get("ONNXTUNE_LIBGOMP")
    if forced:
        if not _loadable(forced):
            raise RuntimeError(f"ONNXTUNE_LIBGOMP={forced!r} is not a loadable libgomp "
                               f"(no such file, or it lacks GOMP_parallel)")
        return forced
    return next((p for p in candidates() if _loadable(p)), None)


#: how long (microseconds) an idle libgomp worker spins before it sleeps, unless the user
#: chose GOMP_SPINCOUNT or OMP_WAIT_POLICY. Measured on 2 cores (AMD Zen 5, pause = 23 ns),
#: untuned models in turns with onnxruntime (benchmarks/models.py), quiet: MobileNetV2
#: 4.6 / 2.6 / 2.3 / 2.4 ms at 5 / 11 / 23 / 46 us, ResNet-50 20.6 / 18.3 / 18.1 / 19.2 ms
#: (onnxruntime 2.6 and 18.0-19.0 ms); with two CPU-bound processes beside it, 115 us
#: made MobileNetV2 2-3x slower than 5 or 23 us. Earlier, on an Intel machine at load 4,
#: resnet18 (64x64) took 12.5 ms with no spin and 388 ms with ~10 ms of spin.
SPIN_US = 25.0
#: the spin count used where ``pause`` cannot be timed (not x86) or timing fails
FALLBACK_SPINCOUNT = 1000
_SPIN_BOUNDS = (100, 20000)
_spin_count: int | None = None


def _time_pause() -> float:
    """Nanoseconds per iteration of a ``pause`` loop (best of 5 runs of 2,000)."""
    import time

    from .llvm_engine import compile_ir

    code = compile_ir("""
declare void @llvm.x86.sse2.pause()
define void @onnxtune_spin(i64 %n) {
entry:
  br label %loop
loop:
  %i = phi i64 [0, %entry], [%j, %loop]
  call void @llvm.x86.sse2.pause()
  %j = add i64 %i, 1
  %c = icmp slt i64 %j, %n
  br i1 %c, label %loop, label %done
done:
  ret void
}
""", optimize_ir=False)
    try:
        spin = ctypes.CFUNCTYPE(None, ctypes.c_int64)(code.get_function_address("onnxtune_spin"))
        n, best = 2000, float("inf")
        for _ in range(5):
            t = time.perf_counter()
            spin(n)
            best = min(best, time.perf_counter() - t)
        return best / n * 1e9
    finally:
        code.close()


def spin_count() -> int:
    """The GOMP_SPINCOUNT that makes an idle worker spin about :data:`SPIN_US` here:
    ``pause`` timed once per process on x86; :data:`FALLBACK_SPINCOUNT` elsewhere."""
    global _spin_count
    if _spin_count is None:
        count = FALLBACK_SPINCOUNT
        if platform.machine().lower() in ("x86_64", "amd64", "i386", "i686", "x86"):
            try:
                ns = _time_pause()
                count = round(SPIN_US * 1000.0 / max(ns, 0.1))
            except Exception as e:  # noqa: BLE001  (any failure: keep the fallback)
                log.debug("onnxtune: could not time the pause instruction (%s); "
                          "GOMP_SPINCOUNT=%d", e, count)
        _spin_count = min(max(count, _SPIN_BOUNDS[0]), _SPIN_BOUNDS[1])
    return _spin_count


def prepare_env() -> None:
    """Set the environment libgomp reads once, when it is loaded (the wait policy and
    ``ONNXTUNE_NUM_THREADS``), unless the user set it. Call before importing a library
    that loads libgomp itself (xgboost): after that, setting it changes nothing."""
    env = os.environ
    if _lib is not None:
        return
    user_policy = "GOMP_SPINCOUNT" in env or "OMP_WAIT_POLICY" in env
    if _mapped_libgomp() is not None:
        if not user_policy:
            log.info("onnxtune: libgomp was loaded by another library before onnxtune's "
                     "runtime; its wait policy (libgomp's default: spin ~300,000 rounds) "
                     "applies. Call onnxtune.compile.runtime.prepare_env() before "
                     "importing that library to get onnxtune's")
        return
    if not user_policy:
        env["GOMP_SPINCOUNT"] = str(spin_count())
    n = _env_threads()
    if n and "OMP_NUM_THREADS" not in env:
        env["OMP_NUM_THREADS"] = str(n)


def load() -> str:
    """Load the thread pool into the process (once) and return libgomp's path.

    Raises RuntimeError, saying what to install, when there is no libgomp."""
    global _lib, _lib_path
    if _lib is not None:
        return _lib_path or ""
    with _lock:
        if _lib is None:
            import llvmlite.binding as llvm

            prepare_env()
            path = find_libgomp()
            if path is None:
                raise RuntimeError(
                    "onnxtune's parallel runtime needs libgomp (GCC's OpenMP runtime) and "
                    "none was found. Install it (Debian/Ubuntu: apt install libgomp1; "
                    "Fedora/RHEL: dnf install libgomp; conda: conda install "
                    "_openmp_mutex=*=*gnu*) or point ONNXTUNE_LIBGOMP at libgomp.so.1. "
                    "Searched: " + ", ".join(candidates())
                )
            llvm.load_library_permanently(path)
            lib = ctypes.CDLL(path)
            lib.omp_get_max_threads.restype = ctypes.c_int
            lib.omp_set_num_threads.argtypes = [ctypes.c_int]
            _num_threads.value = _env_threads()
            llvm.add_symbol(NUM_THREADS_SYMBOL, ctypes.addressof(_num_threads))
            _dynamic_chunks.value = _env_dynamic_chunks()
            llvm.add_symbol(DYNAMIC_CHUNKS_SYMBOL, ctypes.addressof(_dynamic_chunks))
            _lib, _lib_path = lib, path
            if hasattr(os, "register_at_fork"):
                os.register_at_fork(after_in_child=_after_fork_in_child)
    return _lib_path or ""


def note_parallel_use() -> None:
    """Record that parallel regions ran in this process (forked children go serial)."""
    global _used
    _used = True


def _after_fork_in_child() -> None:
    global _used
    if _lib is not None and _used:
        _used = False
        _num_threads.value = 1
        _lib.omp_set_num_threads(1)
        log.warning(
            "onnxtune: this process was forked after its parent ran parallel code; "
            "libgomp's threads do not survive fork(), so parallel regions here run on 1 "
            "thread. Start workers with the 'spawn' or 'forkserver' method to keep them "
            "parallel."
        )


def load_if_available() -> bool:
    """Load the pool if libgomp exists; False (and nothing loaded) if it does not."""
    try:
        load()
    except RuntimeError:
        return False
    return True


def provides(symbol: str) -> bool:
    """Whether ``symbol`` is one the runtime defines for generated code."""
    return symbol in SYMBOLS


def set_num_threads(n: int | None) -> None:
    """Run later parallel regions on ``n`` threads (None: the default, all cores)."""
    if n is not None and (not isinstance(n, int) or n < 1):
        raise ValueError(f"set_num_threads: expected a positive int or None, got {n!r}")
    load()
    assert _lib is not None
    _num_threads.value = n or 0
    _lib.omp_set_num_threads(n or _default_threads())


def _env_dynamic_chunks() -> int:
    raw = os.environ.get("ONNXTUNE_DYNAMIC_CHUNKS", "").strip()
    if not raw:
        return 0
    if not raw.isdigit():
        raise ValueError(f"ONNXTUNE_DYNAMIC_CHUNKS must be a non-negative integer, got "
                         f"{raw!r}")
    return int(raw)


def set_dynamic_chunks(k: int) -> None:
    """How later parallel loops share their iterations: ``0`` (the default), each thread
    runs one static chunk; ``k > 0``, threads take chunks of about ``n / (threads * k)``
    iterations from a shared counter, so a thread the OS preempts (a busy machine) delays
    the region by one small chunk, not by its whole share. Also ``ONNXTUNE_DYNAMIC_CHUNKS``."""
    if not isinstance(k, int) or k < 0:
        raise ValueError(f"set_dynamic_chunks: expected an int >= 0, got {k!r}")
    load()
    _dynamic_chunks.value = k


def get_dynamic_chunks() -> int:
    """The current setting of :func:`set_dynamic_chunks`."""
    load()
    return _dynamic_chunks.value


def _default_threads() -> int:
    from .target import host_num_cores

    raw = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else host_num_cores()


def get_num_threads() -> int:
    """How many threads a parallel region launched now will use."""
    load()
    assert _lib is not None
    return _num_threads.value or int(_lib.omp_get_max_threads())


# -- IR helpers for the code generator ------------------------------------------------------
def _declare(module: ir.Module, name: str, fnty: ir.FunctionType) -> ir.Function:
    fn = module.globals.get(name)
    if fn is None:
        fn = ir.Function(module, fnty, name)
    return fn


def _external_i32(module: ir.Module, name: str) -> ir.GlobalVariable:
    gv = module.globals.get(name)
    if gv is None:
        gv = ir.GlobalVariable(module, _I32, name)
        gv.linkage = "external"
    return gv


def num_threads_global(module: ir.Module) -> ir.GlobalVariable:
    """The ``external global i32 @onnxtune_num_threads`` declaration in ``module``."""
    return _external_i32(module, NUM_THREADS_SYMBOL)


def emit_parallel_launch(module: ir.Module, builder: ir.IRBuilder, body: ir.Function,
                         closure: ir.Value, num_threads: ir.Value | int | None = None) -> None:
    """At ``builder``'s position, run ``body(closure)`` on the thread pool and wait.

    ``body`` must have type ``void (ptr)``; each thread calls it once and partitions its
    work with :func:`emit_thread_info` / :func:`emit_static_chunk`. ``num_threads``: an
    i32 value or int, or None to use the runtime's setting (:func:`set_num_threads`).
    """
    if not isinstance(body, ir.Function) or body.function_type.return_type != ir.VoidType() \
            or len(body.function_type.args) != 1 \
            or not isinstance(body.function_type.args[0], ir.PointerType):
        got = body.function_type if isinstance(body, ir.Function) else type(body).__name__
        raise ValueError(f"emit_parallel_launch: the body must be a function "
                         f"'void (ptr)', got {got}")
    if num_threads is None:
        nt = builder.load(num_threads_global(module), name="num_threads")
    elif isinstance(num_threads, int):
        if num_threads < 0:
            raise ValueError(f"emit_parallel_launch: num_threads={num_threads} is negative")
        nt = ir.Constant(_I32, num_threads)
    else:
        nt = num_threads
    launch = _declare(module, LAUNCH_SYMBOL,
                      ir.FunctionType(ir.VoidType(), [_PTR, _PTR, _I32, _I32]))
    builder.call(launch, [body, closure, nt, ir.Constant(_I32, 0)])


def dynamic_chunks_global(module: ir.Module) -> ir.GlobalVariable:
    """The ``external global i32 @onnxtune_dynamic_chunks`` declaration in ``module``."""
    return _external_i32(module, DYNAMIC_CHUNKS_SYMBOL)


def emit_thread_info(module: ir.Module, builder: ir.IRBuilder) -> tuple[ir.Value, ir.Value]:
    """``(thread_id, num_threads)`` as i32 values, inside a parallel body."""
    fnty = ir.FunctionType(_I32, [])
    tid = builder.call(_declare(module, "omp_get_thread_num", fnty), [], name="tid")
    nt = builder.call(_declare(module, "omp_get_num_threads", fnty), [], name="nthreads")
    return tid, nt


def emit_static_chunk(module: ir.Module, builder: ir.IRBuilder,
                      extent: ir.Value) -> tuple[ir.Value, ir.Value]:
    """This thread's static chunk ``[lo, hi)`` (i64) of ``[0, extent)``: chunks of
    ``ceil(extent / num_threads)``, the last ones short or empty."""
    tid, nt = emit_thread_info(module, builder)
    b = builder
    n = extent if extent.type == _I64 else b.sext(extent, _I64)
    tid64, nt64 = b.sext(tid, _I64), b.sext(nt, _I64)
    chunk = b.sdiv(b.add(n, b.sub(nt64, ir.Constant(_I64, 1))), nt64, name="chunk")
    lo = b.mul(tid64, chunk)
    lo = b.select(b.icmp_signed("<", lo, n), lo, n, name="lo")
    hi = b.add(lo, chunk)
    hi = b.select(b.icmp_signed("<", hi, n), hi, n, name="hi")
    return lo, hi
