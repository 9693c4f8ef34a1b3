"""``Module``: JIT-compiled functions called with numpy arrays, checked, timed, inspectable."""

from __future__ import annotations

import ctypes
import math
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from onnxtune.tir.dtype import NARROW_DTYPES, to_numpy

from . import runtime
from .llvm_engine import CompileTimes, JITCode, compile_ir

CALLING_CONVENTION = """\
Every exported function has the LLVM signature ``void @name(ptr %args)``: ``args`` points
to an array of ``n`` pointers, ``args[i]`` being the data pointer of the i-th buffer
parameter (C-contiguous, row-major, of the declared shape and dtype; outputs are passed
in and written in place). The function returns nothing and must not keep the pointers.
Scalar parameters are not part of the convention."""

#: dtypes a parameter may have (numpy names)
DTYPES = ("float32", "float16", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16",
          "uint32", "uint64", "bool")


class ArgumentError(ValueError, TypeError):
    """A function was called with the wrong number, shapes, dtypes or layouts of arrays."""


@dataclass(frozen=True, slots=True)
class Param:
    """A buffer parameter of an exported function."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    is_output: bool = False

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * to_numpy(self.dtype).itemsize

    def as_json(self) -> list[Any]:
        return [self.name, list(self.shape), self.dtype, self.is_output]

    @staticmethod
    def from_json(obj: Any) -> Param:
        return as_param(obj, 0, "?")


def _dim(d: Any, pname: str, i: int) -> int:
    if isinstance(d, (int, np.integer)) and not isinstance(d, bool):
        return int(d)
    value = getattr(d, "value", None)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise NotImplementedError(
        f"parameter {pname!r}: dimension {i} ({d}) is not a constant; compiled functions "
        f"take static shapes only"
    )


def as_param(obj: Any, index: int, func: str) -> Param:
    """A ``Param`` from a Param, a ``(name, shape, dtype[, is_output])`` tuple or list, a
    dict with those keys, or an object with ``name``/``shape``/``dtype`` (a tir Buffer)."""
    if isinstance(obj, Param):
        return obj
    if isinstance(obj, (tuple, list)) and len(obj) in (3, 4):
        name, shape, dtype, *rest = obj
        out = bool(rest[0]) if rest else False
    elif isinstance(obj, Mapping):
        name, shape, dtype = obj["name"], obj["shape"], obj["dtype"]
        out = bool(obj.get("is_output", False))
    elif all(hasattr(obj, a) for a in ("name", "shape", "dtype")):
        name, shape, dtype = obj.name, obj.shape, obj.dtype
        out = bool(getattr(obj, "is_output", False))
    else:
        raise TypeError(f"{func}(): parameter {index} must be a Param, a (name, shape, dtype) "
                        f"tuple or a buffer, got {obj!r}")
    dtype = str(dtype)
    if dtype not in DTYPES and dtype not in NARROW_DTYPES:
        raise ValueError(f"{func}(): parameter {index} {name!r} has dtype {dtype!r}; "
                         f"supported: {', '.join(DTYPES)}")
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    dims = tuple(_dim(d, str(name), i) for i, d in enumerate(shape))
    if any(d < 0 for d in dims):
        raise ValueError(f"{func}(): parameter {index} {name!r} has a negative dimension "
                         f"in {dims}")
    return Param(str(name), dims, dtype, out)


# -- the native call path -------------------------------------------------------------------
# Reading each array's data pointer from Python (``a.ctypes.data``) costs ~1 us. Instead a
# JIT-compiled trampoline receives the argument tuple itself and reads the pointers from
# the CPython tuple and numpy array structs; the offsets are measured (not assumed) at
# first use, and if they cannot be established the portable ctypes path is used.
_FILL = """
  %szp = getelementptr i8, ptr %args, i64 {size_off}
  %n = load i64, ptr %szp
  %items = getelementptr i8, ptr %args, i64 {items_off}
  %arr = alloca ptr, i64 %n
  br label %fill
fill:
  %k = phi i64 [0, %entry], [%k1, %fill.body]
  %more = icmp slt i64 %k, %n
  br i1 %more, label %fill.body, label %filled
fill.body:
  %op = getelementptr ptr, ptr %items, i64 %k
  %obj = load ptr, ptr %op
  %dp = getelementptr i8, ptr %obj, i64 {data_off}
  %data = load ptr, ptr %dp
  %slot = getelementptr ptr, ptr %arr, i64 %k
  store ptr %data, ptr %slot
  %k1 = add i64 %k, 1
  br label %fill
filled:"""

# both read the data pointers of the arrays in tuple %args into a stack array, then
# call %fn once / %number times with it
_TRAMPOLINES = """
define void @onnxtune_call(ptr %fn, ptr %args) {{
entry:{fill}
  call void %fn(ptr %arr)
  ret void
}}

define void @onnxtune_repeat(ptr %fn, ptr %args, i64 %number) {{
entry:{fill}
  br label %head
head:
  %i = phi i64 [0, %filled], [%i1, %body]
  %again = icmp slt i64 %i, %number
  br i1 %again, label %body, label %done
body:
  call void %fn(ptr %arr)
  %i1 = add i64 %i, 1
  br label %head
done:
  ret void
}}
"""
_native: Any = None  # None: not tried yet; False: unavailable; else (call, repeat, code)


def _offsets() -> tuple[int, int, int] | None:
    """(tuple size, tuple items, ndarray data) byte offsets, verified on live objects."""
    word = ctypes.sizeof(ctypes.c_void_p)
    if word != 8 or tuple.__itemsize__ != word:
        return None
    items_off, size_off = tuple.__basicsize__, tuple.__basicsize__ - word

    def peek(addr: int) -> int:
        return ctypes.c_void_p.from_address(addr).value or 0

    probes = [np.zeros(3, np.float32), np.ones((2, 5), np.int64), np.empty(7, np.uint8)]
    data_off = next((k for k in range(word, 128, word)
                     if peek(id(probes[0]) + k) == probes[0].ctypes.data), None)
    if data_off is None:
        return None
    t = tuple(probes)
    ok = ctypes.c_ssize_t.from_address(id(t) + size_off).value == len(t) and all(
        peek(id(t) + items_off + word * i) == id(a) and peek(id(a) + data_off) == a.ctypes.data
        for i, a in enumerate(t))
    return (size_off, items_off, data_off) if ok else None


def _native_path() -> Any:
    global _native
    if _native is None:
        offs = _offsets()
        if offs is None:
            _native = False
        else:
            fill = _FILL.format(size_off=offs[0], items_off=offs[1], data_off=offs[2])
            text = _TRAMPOLINES.format(fill=fill)
            code = compile_ir(text)
            call = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.py_object)(
                code.get_function_address("onnxtune_call"))
            rep = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.py_object, ctypes.c_int64)(
                code.get_function_address("onnxtune_repeat"))
            _native = (call, rep, code)
    return _native


def _call(addr: int, args: tuple, raw: Any, ptrs_t: Any) -> None:
    """Call ``fn(args)`` at ``addr`` with the data pointers of the (checked) arrays."""
    native = _native or _native_path()
    if native:
        native[0](addr, args)
    else:
        raw(ptrs_t(*[a.ctypes.data for a in args]))


def _repeater(addr: int, args: tuple, raw: Any, ptrs_t: Any):
    """``run(n)``: call the function ``n`` times back to back, natively if possible."""
    native = _native or _native_path()
    if native:
        rep = native[1]
        return lambda n: rep(addr, args, n)
    ptrs = ptrs_t(*[a.ctypes.data for a in args])

    def run(n: int) -> None:
        for _ in range(n):
            raw(ptrs)

    return run


@dataclass(frozen=True)
class ProfileResult:
    """Timings of ``time_evaluator``: seconds per run, one entry per repeat."""

    mean: float
    results: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.results)

    @property
    def min(self) -> float:
        return min(self.results)

    @property
    def max(self) -> float:
        return max(self.results)

    @property
    def std(self) -> float:
        return statistics.pstdev(self.results) if len(self.results) > 1 else 0.0

    def __str__(self) -> str:
        return (f"mean {self.mean * 1e3:.4f} ms, median {self.median * 1e3:.4f} ms, "
                f"std {self.std * 1e3:.4f} ms ({len(self.results)} repeats)")


class PackedFunc:
    """One exported function: ``f(*arrays)`` checks and calls it (outputs passed in)."""

    __slots__ = ("name", "params", "code", "_addr", "_checks", "_raw", "_n", "_ptrs_t",
                 "_parallel")

    def __init__(self, code: JITCode, name: str, params: Sequence[Param], addr: int):
        # holds the code, not the Module: no reference cycle, so dropping the last
        # reference frees the machine code at once rather than at the next GC
        self.code, self.name, self.params, self._addr = code, name, tuple(params), addr
        self._n = len(self.params)
        self._checks = tuple((p.shape, to_numpy(p.dtype), p.is_output) for p in self.params)
        self._raw = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(addr)
        self._ptrs_t = ctypes.c_void_p * max(1, self._n)
        self._parallel = any(runtime.provides(s) for s in code.externals)

    def _fail(self, args: tuple) -> ArgumentError:
        """The error for arguments that did not pass the fast checks."""
        sig = ", ".join(f"{p.name}: {p.dtype}{list(p.shape)}" for p in self.params)
        if len(args) != self._n:
            return ArgumentError(f"{self.name}() takes {self._n} arrays ({sig}), "
                                 f"got {len(args)}")
        for i, (a, p) in enumerate(zip(args, self.params, strict=True)):
            what = f"{self.name}(): argument {i} {p.name!r}"
            if not isinstance(a, np.ndarray):
                return ArgumentError(f"{what} is a {type(a).__name__}, expected a "
                                     f"numpy.ndarray of shape {p.shape} and dtype {p.dtype}")
            if a.shape != p.shape:
                return ArgumentError(f"{what} has shape {a.shape}, expected {p.shape}")
            if a.dtype != to_numpy(p.dtype):
                return ArgumentError(f"{what} has dtype {a.dtype}, expected {p.dtype}")
            if not a.flags.c_contiguous:
                return ArgumentError(f"{what} is not C-contiguous (strides {a.strides}); "
                                     f"pass numpy.ascontiguousarray(...)")
            if p.is_output and not a.flags.writeable:
                return ArgumentError(f"{what} is an output but the array is read-only")
        return ArgumentError(f"{self.name}(): invalid arguments")  # pragma: no cover

    def check(self, args: tuple) -> None:
        """Raise ArgumentError unless ``args`` match the signature."""
        if len(args) != self._n:
            raise self._fail(args)
        for a, (shape, dtype, out) in zip(args, self._checks, strict=True):
            if (not isinstance(a, np.ndarray) or a.shape != shape or a.dtype != dtype
                    or not a.flags.c_contiguous or (out and not a.flags.writeable)):
                raise self._fail(args)
        if not self._addr:
            raise RuntimeError(f"{self.name}(): the module was closed; rebuild it")
        if self._parallel:
            runtime.note_parallel_use()

    def __call__(self, *args: np.ndarray) -> None:
        self.check(args)
        _call(self._addr, args, self._raw, self._ptrs_t)

    def call_pointers(self, ptrs: Any) -> None:
        """Call with a prepared ``(ctypes.c_void_p * n)`` array of data pointers — no
        checks besides the module being open (for executors that plan buffers ahead)."""
        if not self._addr:
            raise RuntimeError(f"{self.name}(): the module was closed; rebuild it")
        if self._parallel:
            runtime.note_parallel_use()
        self._raw(ptrs)

    @property
    def address(self) -> int:
        """The native address of ``void name(ptr args)`` (0 once the module is closed)."""
        return self._addr

    def __repr__(self) -> str:
        sig = ", ".join(f"{p.name}: {p.dtype}{list(p.shape)}" for p in self.params)
        return f"<PackedFunc {self.name}({sig})>"


class Module:
    """A built module: its JIT code (kept alive here) and one ``PackedFunc`` per exported
    function. ``module["main"](a, b, c)`` runs ``main`` (see :data:`CALLING_CONVENTION`)."""

    def __init__(self, code: JITCode, signatures: Mapping[str, Sequence[Any]]):
        self.code = code
        self._sigs = {str(k): tuple(as_param(p, i, str(k)) for i, p in enumerate(v))
                      for k, v in signatures.items()}
        self._funcs: dict[str, PackedFunc] = {}
        for name in self._sigs:  # every exported function must exist
            self._funcs[name] = PackedFunc(code, name, self._sigs[name],
                                           code.get_function_address(name))

    @property
    def functions(self) -> list[str]:
        """The exported function names."""
        return list(self._sigs)

    @property
    def target(self):
        return self.code.target

    @property
    def times(self) -> CompileTimes:
        """How long parsing, verification, optimization and JIT compilation took."""
        return self.code.times

    def signature(self, name: str) -> tuple[Param, ...]:
        return self[name].params

    def __getitem__(self, name: str) -> PackedFunc:
        f = self._funcs.get(name)
        if f is None:
            raise KeyError(f"the module has no function {name!r}; it exports "
                           f"{', '.join(self._sigs) or 'nothing'}")
        return f

    get_function = __getitem__

    def __contains__(self, name: object) -> bool:
        return name in self._funcs

    def get_source(self, fmt: str = "ll") -> str:
        """``"ll"``: the optimized LLVM IR; ``"input"``: the IR as given; ``"asm"``: the
        machine code as assembly."""
        if fmt in ("asm", "s"):
            return self.code.assembly()
        if fmt == "ll":
            return self.code.ir
        if fmt == "input":
            return self.code.source_ir
        raise ValueError(f"get_source: unknown format {fmt!r}; accepted: 'll', 'input', 'asm'")

    def time_evaluator(self, name: str, number: int = 10, repeat: int = 1,
                       min_repeat_ms: float = 0.0, cooldown_interval_ms: float = 0.0,
                       f_preproc: Any = None):
        """TVM's ``time_evaluator``: returns ``f(*args) -> ProfileResult``. After one
        warm-up call, each of ``repeat`` measurements runs the function ``number`` times in
        a native loop (``number`` grows until a measurement lasts ``min_repeat_ms``) and
        records seconds per run. ``f_preproc()``, if given, runs (untimed) before each
        measurement, e.g. to flush the CPU caches."""
        func = self[name]
        if number < 1 or repeat < 1:
            raise ValueError(f"time_evaluator: number ({number}) and repeat ({repeat}) "
                             f"must be at least 1")

        def evaluate(*args: np.ndarray) -> ProfileResult:
            func.check(args)
            run = _repeater(func._addr, args, func._raw, func._ptrs_t)
            run(1)
            n, results = number, []
            for r in range(repeat):
                if r and cooldown_interval_ms > 0:
                    time.sleep(cooldown_interval_ms / 1e3)
                while True:
                    if f_preproc is not None:
                        f_preproc()
                    t0 = time.perf_counter()
                    run(n)
                    dt = time.perf_counter() - t0
                    if dt * 1e3 >= min_repeat_ms:
                        break
                    per_run_ms = max(dt * 1e3 / n, 1e-6)
                    n = max(int(min_repeat_ms / per_run_ms) + 1, int(n * 1.618) + 1)
                results.append(dt / n)
            return ProfileResult(sum(results) / len(results), tuple(results))

        return evaluate

    def get_object(self, pic: bool = True) -> bytes:
        """The module's object code (for export)."""
        if not self.code.ir:
            raise ValueError("this module was loaded from object code; its IR is not kept")
        return self.code.object_code(pic)

    def close(self) -> None:
        """Free the machine code now; calling a function afterwards raises RuntimeError."""
        for f in self._funcs.values():
            f._addr = 0
        self.code.close()

    def __repr__(self) -> str:
        return f"<Module {', '.join(self._sigs)} for {self.code.target}>"
