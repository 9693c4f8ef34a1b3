"""The graph executable: compiled kernels + a call list + a static memory plan + constants.

A :class:`Program` names every tensor by a *slot*: the graph inputs, the constants, and
whatever kernels write (SSA: each slot is written once). ``calls`` run in order in
destination-passing style: a call's arguments are the slots it reads, then the slots it
writes (slots not defined before the call). An :class:`Alias` call gives an existing slot's
bytes a new shape (a reshape) at no cost.

:meth:`Executable.build` compiles all kernels into one LLVM module together with a native
*driver* ``void __onnxtune_vm_main(ptr args)`` that calls every kernel in order with
pointers it computes itself (arena base + planned offset, or an input / output / constant
pointer from ``args``). Running the program is therefore one native call: Python only
checks the inputs, allocates the outputs and passes their data pointers. Intermediates
live in one arena laid out by :mod:`.memory_plan` (buffers reuse memory by liveness).

``VirtualMachine(ex)["main"](*arrays)`` returns the output (a tuple when there are
several); ``VirtualMachine(ex).run({name: array})`` returns ``{output name: array}``.
A VirtualMachine owns its arena: use one per thread.
"""

from __future__ import annotations

import ctypes
import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from llvmlite import ir

from onnxtune.tir.dtype import to_numpy as _np_dtype
from onnxtune.tir.function import PrimFunc

from . import runtime
from .memory_plan import ALIGNMENT, Lifetime, MemoryPlan, plan_memory
from .module import _call as module_call

log = logging.getLogger(__name__)

DRIVER = "__onnxtune_vm_main"


@dataclass(frozen=True)
class Alias:
    """``dst`` is ``src``'s bytes viewed with ``shape`` (a reshape; no copy, no kernel)."""

    src: str
    dst: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class Call:
    """Run ``kernel`` on ``args``: the slots it reads, then the slots it writes."""

    kernel: str
    args: tuple[str, ...]


@dataclass
class Program:
    """A graph lowered to kernel calls (see the module docstring).

    inputs: ``(slot, shape, dtype)`` per graph input, in call order of ``main``.
    constants: slot → array. kernels: name → PrimFunc (already scheduled).
    calls: ``Call``/``Alias`` objects or ``(kernel, [slots])`` tuples.
    outputs: ``(output name, slot)`` per graph output.
    """

    inputs: list[tuple[str, tuple[int, ...], str]]
    constants: dict[str, np.ndarray]
    kernels: dict[str, PrimFunc]
    calls: list[Any]
    outputs: list[tuple[str, str]]


@dataclass(frozen=True)
class SlotInfo:
    """What a slot holds and where it lives."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    root: str  # the slot owning the storage (itself unless an alias)
    kind: str  # "input" | "constant" | "output" | "arena" (of the root)

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * _np_dtype(self.dtype).itemsize


@dataclass
class Executable:
    """A built program: the JIT module (kernels + driver), the slot table, the memory plan,
    the constants. Run it with :class:`VirtualMachine`."""

    program: Program
    module: Any
    slots: dict[str, SlotInfo]
    calls: list[Call | Alias]
    plan: MemoryPlan
    input_slots: list[str]
    output_roots: list[str]  # kernel-written roots backing graph outputs, one array per run
    const_slots: list[str]
    constants: list[np.ndarray]
    build_seconds: float = 0.0
    kernel_names: list[str] = field(default_factory=list)

    @staticmethod
    def build(program: Program, target: Any = "llvm") -> Executable:
        """Check ``program``, plan its memory and compile its kernels and driver."""
        from onnxtune.tir.transform import lower

        from .codegen_llvm import CodeGenLLVM
        from .llvm_engine import jit_module, load_c_libraries
        from .target import Target

        t0 = time.perf_counter()
        tgt = target if isinstance(target, Target) else Target(target)
        if tgt.kind != "llvm":
            raise ValueError(f"Executable.build: unsupported target kind {tgt.kind!r}; "
                             f"this builds for 'llvm'")
        calls, slots, lifetimes, used_kernels = _analyze(program)
        plan = plan_memory(lifetimes)
        inputs = [s for s, _, _ in program.inputs]
        output_roots: list[str] = []
        for _, slot in program.outputs:
            r = slots[slot].root
            if slots[r].kind == "output" and r not in output_roots:
                output_roots.append(r)
        const_slots = sorted(program.constants)
        consts = [np.ascontiguousarray(program.constants[s], dtype=slots[s].dtype)
                  for s in const_slots]
        ext = {s: k for k, s in enumerate(inputs + output_roots)}
        arena_index = len(ext)
        for k, s in enumerate(const_slots):
            ext[s] = arena_index + 1 + k

        cg = CodeGenLLVM(tgt.triple, tgt.data_layout, tgt.features)
        for name in used_kernels:
            if name == DRIVER:
                raise ValueError(f"Executable.build: the kernel name {DRIVER!r} is reserved")
            cg.add_function(name, lower(program.kernels[name]))
        _emit_driver(cg.module, calls, slots, ext, arena_index, plan)
        text = cg.ir_text()
        load_c_libraries()
        sigs: dict[str, Sequence[Any]] = {
            k: program.kernels[k].params for k in used_kernels}
        sigs[DRIVER] = (
            [(s, slots[s].shape, slots[s].dtype) for s in inputs]
            + [(s, slots[s].shape, slots[s].dtype, True) for s in output_roots]
            + [("arena", (plan.arena_bytes,), "uint8", True)]
            + [(s, slots[s].shape, slots[s].dtype) for s in const_slots])
        module = jit_module(text, sigs, tgt)
        ex = Executable(program, module, slots, calls, plan, inputs, output_roots,
                        const_slots, consts, time.perf_counter() - t0, list(used_kernels))
        log.info("Executable.build: %d kernels, %d calls, arena %d bytes (vs %d unplanned), "
                 "%.1f ms", len(used_kernels), len(calls), plan.arena_bytes, plan.total_bytes,
                 ex.build_seconds * 1e3)
        return ex

    def get_inputs(self) -> list[tuple[str, tuple[int, ...], str]]:
        """``(name, shape, dtype)`` per input."""
        return [(s, self.slots[s].shape, self.slots[s].dtype) for s in self.input_slots]

    def get_outputs(self) -> list[tuple[str, tuple[int, ...], str]]:
        """``(name, shape, dtype)`` per output."""
        return [(n, self.slots[s].shape, self.slots[s].dtype) for n, s in self.program.outputs]

    def export_library(self, path: str) -> None:
        """Write this executable to one file that ``onnxtune.load(path)`` reads back in a
        process with only numpy and llvmlite (see :mod:`.export`)."""
        from .export import export_executable

        export_executable(self, path)

    def __repr__(self) -> str:
        return (f"<Executable {len(self.kernel_names)} kernels, {len(self.calls)} calls, "
                f"arena {self.plan.arena_bytes} B, {len(self.constants)} constants>")


# -- analysis ----------------------------------------------------------------------------


def _norm_call(c: Any, k: int) -> Call | Alias:
    if isinstance(c, (Call, Alias)):
        return c
    if isinstance(c, (tuple, list)) and len(c) == 2 and isinstance(c[0], str):
        return Call(c[0], tuple(str(a) for a in c[1]))
    raise TypeError(f"Program.calls[{k}] must be a Call, an Alias or a (kernel, [slots]) "
                    f"tuple, got {c!r}")


def _analyze(program: Program):
    """Slot table, normalized calls, lifetimes of arena roots, kernels in first-use order."""
    slots: dict[str, SlotInfo] = {}
    for s, shape, dtype in program.inputs:
        if s in slots:
            raise ValueError(f"Program: input slot {s!r} is listed twice")
        slots[s] = SlotInfo(s, tuple(int(d) for d in shape), str(_np_dtype(dtype)), s, "input")
    for s, arr in program.constants.items():
        if s in slots:
            raise ValueError(f"Program: constant slot {s!r} is also an input")
        a = np.asarray(arr)
        slots[s] = SlotInfo(s, tuple(a.shape), str(a.dtype), s, "constant")
    calls = [_norm_call(c, k) for k, c in enumerate(program.calls)]
    out_slots = {s for _, s in program.outputs}
    written: dict[str, int] = {}
    last_use: dict[str, int] = {}
    used_kernels: list[str] = []
    writes_of: dict[str, set[int]] = {}
    for k, c in enumerate(calls):
        if isinstance(c, Alias):
            if c.src not in slots:
                raise ValueError(f"Program.calls[{k}]: alias source {c.src!r} is not defined "
                                 f"before it")
            if c.dst in slots:
                raise ValueError(f"Program.calls[{k}]: alias target {c.dst!r} is written twice")
            src = slots[c.src]
            shape = tuple(int(d) for d in c.shape)
            if math.prod(shape) != math.prod(src.shape):
                raise ValueError(f"Program.calls[{k}]: alias {c.dst!r} of shape {shape} cannot "
                                 f"view {c.src!r} of shape {src.shape}")
            slots[c.dst] = SlotInfo(c.dst, shape, src.dtype, src.root, src.kind)
            last_use[src.root] = k
            continue
        func = program.kernels.get(c.kernel)
        if func is None:
            raise ValueError(f"Program.calls[{k}]: no kernel {c.kernel!r}; kernels: "
                             f"{', '.join(sorted(program.kernels))}")
        if c.kernel not in used_kernels:
            used_kernels.append(c.kernel)
        if len(c.args) != len(func.params):
            raise ValueError(f"Program.calls[{k}]: kernel {c.kernel} takes "
                             f"{len(func.params)} buffers, got {len(c.args)} slots")
        writes = writes_of.get(c.kernel)
        if writes is None:
            writes = writes_of[c.kernel] = _written_params(func)
        for j, (s, p) in enumerate(zip(c.args, func.params, strict=True)):
            shape, dtype = p.static_shape(), p.dtype
            if j in writes:
                if s in slots:
                    raise ValueError(
                        f"Program.calls[{k}]: kernel {c.kernel} writes parameter {p.name} "
                        f"into slot {s!r}, which is already defined; inputs, constants and "
                        f"earlier results are read-only (each slot is written once)")
                slots[s] = SlotInfo(s, shape, dtype, s, "arena")
                written[s] = k
                last_use[s] = k
                continue
            if s not in slots:
                raise ValueError(f"Program.calls[{k}]: kernel {c.kernel} reads slot {s!r} "
                                 f"(parameter {p.name}) before anything defines it")
            info = slots[s]
            if written.get(s) == k:
                raise ValueError(f"Program.calls[{k}]: kernel {c.kernel} reads slot {s!r}, "
                                 f"which the same call writes")
            if info.shape != shape or info.dtype != dtype:
                raise ValueError(
                    f"Program.calls[{k}]: kernel {c.kernel} parameter {p.name} expects "
                    f"{dtype}{list(shape)}, slot {s!r} holds {info.dtype}{list(info.shape)}")
            last_use[info.root] = k
    for name, s in program.outputs:
        if s not in slots:
            raise ValueError(f"Program.outputs: output {name!r} names the undefined slot {s!r}")
    # roots that back a graph output get their own per-run array instead of arena space
    out_roots = {slots[s].root for s in out_slots}
    for s, info in list(slots.items()):
        if info.root in out_roots and slots[info.root].kind == "arena":
            slots[s] = SlotInfo(s, info.shape, info.dtype, info.root, "output")
    lifetimes = [Lifetime(s, slots[s].nbytes, written[s], last_use[s])
                 for s in written if slots[s].kind == "arena"]
    return calls, slots, lifetimes, used_kernels


def _written_params(func: PrimFunc) -> set[int]:
    """Indices of the parameters ``func`` stores to (its outputs)."""
    from onnxtune.tir.functor import post_order_visit
    from onnxtune.tir.stmt import BufferStore

    stored: set[int] = set()
    names: set[str] = set()

    def visit(n: Any) -> None:
        if isinstance(n, BufferStore):
            stored.add(id(n.buffer))
            names.add(n.buffer.name)

    post_order_visit(func.body, visit)
    by_id = {j for j, p in enumerate(func.params) if id(p) in stored}
    if by_id:
        return by_id
    return {j for j, p in enumerate(func.params) if p.name in names}


# -- the native driver -------------------------------------------------------------------


def _emit_driver(module: ir.Module, calls: list[Call | Alias], slots: dict[str, SlotInfo],
                 ext: dict[str, int], arena_index: int, plan: MemoryPlan) -> None:
    """``void __onnxtune_vm_main(ptr args)``: every kernel call in order; ``args`` holds
    the input, output-root, arena and constant data pointers."""
    ptr = ir.PointerType()
    i8, i64 = ir.IntType(8), ir.IntType(64)
    kern_t = ir.FunctionType(ir.VoidType(), [ptr])
    fn = ir.Function(module, kern_t, DRIVER)
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    (args,) = fn.args
    args.name = "args"
    cache: dict[str, ir.Value] = {}

    def ext_ptr(k: int, name: str) -> ir.Value:
        key = f"#{k}"
        if key not in cache:
            cache[key] = b.load(b.gep(args, [ir.Constant(i64, k)], source_etype=ptr), typ=ptr,
                                name=f"p.{name}")
        return cache[key]

    arena = ext_ptr(arena_index, "arena") if plan.offsets else None

    def slot_ptr(s: str) -> ir.Value:
        root = slots[s].root
        if root in ext:
            return ext_ptr(ext[root], root)
        off = plan.offsets[root]
        if root not in cache:
            cache[root] = b.gep(arena, [ir.Constant(i64, off)], source_etype=i8,
                                name=f"a.{root}") if off else arena
        return cache[root]

    width = max((len(c.args) for c in calls if isinstance(c, Call)), default=1)
    buf = b.alloca(ptr, size=ir.Constant(i64, max(width, 1)), name="callargs")
    funcs: dict[str, ir.Function] = {}
    for c in calls:
        if isinstance(c, Alias):
            continue
        f = funcs.get(c.kernel)
        if f is None:
            f = module.globals.get(c.kernel)
            funcs[c.kernel] = f
        for j, s in enumerate(c.args):
            b.store(slot_ptr(s), b.gep(buf, [ir.Constant(i64, j)], source_etype=ptr))
        b.call(f, [buf], attrs=("noinline",))
    b.ret_void()


# -- running -----------------------------------------------------------------------------


class VirtualMachine:
    """Runs an :class:`Executable`. ``vm["main"](*arrays)`` or ``vm.run({name: array})``.

    ``driver="native"`` (default) makes one native call per run; ``"python"`` calls each
    kernel from Python with prepared pointer arrays (slower; for comparison and debugging).
    """

    def __init__(self, executable: Executable, driver: str = "native"):
        if driver not in ("native", "python"):
            raise ValueError(f"VirtualMachine: driver must be 'native' or 'python', got "
                             f"{driver!r}")
        self.executable = ex = executable
        self.driver = driver
        self._arena_raw = np.empty(ex.plan.arena_bytes + ALIGNMENT, np.uint8)
        base = self._arena_raw.ctypes.data
        pad = -base % ALIGNMENT
        self._arena = self._arena_raw[pad:pad + ex.plan.arena_bytes]
        self._in = [(s, ex.slots[s].shape, _np_dtype(ex.slots[s].dtype)) for s in ex.input_slots]
        self._in_names = [s for s, _, _ in self._in]
        self._outs = [(r, ex.slots[r].shape, _np_dtype(ex.slots[r].dtype))
                      for r in ex.output_roots]
        self._tail = (self._arena, *ex.constants)
        root_index = {r: k for k, r in enumerate(ex.output_roots)}
        in_index = {s: k for k, s in enumerate(ex.input_slots)}
        const_map = dict(zip(ex.const_slots, ex.constants, strict=True))
        # how to produce each graph output from (inputs, output-root arrays)
        self._result: list[tuple[str, str, int, tuple[int, ...], Any]] = []
        seen: set[str] = set()
        for name, s in ex.program.outputs:
            info = ex.slots[s]
            root_kind = ex.slots[info.root].kind
            if root_kind == "output":
                how = "root_copy" if info.root in seen else "root"
                seen.add(info.root)
                self._result.append((name, how, root_index[info.root], info.shape, None))
            elif root_kind == "input":
                self._result.append((name, "input", in_index[info.root], info.shape, None))
            else:
                self._result.append((name, "const", 0, info.shape, const_map[info.root]))
        self._simple = all(h == "root" and ex.slots[ex.output_roots[k]].shape == shp
                           for _, h, k, shp, _ in self._result)
        drv = ex.module[DRIVER]
        self._addr, self._raw, self._ptrs_t = drv.address, drv._raw, drv._ptrs_t
        self._parallel = drv._parallel
        self._note_parallel = runtime.note_parallel_use
        self._call = module_call
        self._native = driver == "native"
        if driver == "python":
            self._prepare_python()

    # -- checks --------------------------------------------------------------------------
    def _check(self, arrays: tuple) -> None:
        if len(arrays) != len(self._in):
            raise ValueError(f"main() takes {len(self._in)} inputs "
                             f"({', '.join(self._in_names)}), got {len(arrays)}")
        for a, (name, shape, dtype) in zip(arrays, self._in, strict=True):
            if (not isinstance(a, np.ndarray) or a.shape != shape or a.dtype != dtype
                    or not a.flags.c_contiguous):
                raise ValueError(self._what(a, name, shape, dtype))

    @staticmethod
    def _what(a: Any, name: str, shape: tuple[int, ...], dtype: np.dtype) -> str:
        if not isinstance(a, np.ndarray):
            return (f"input {name!r} is a {type(a).__name__}; expected a numpy array of "
                    f"shape {shape} and dtype {dtype}")
        if a.shape != shape:
            return f"input {name!r} has shape {a.shape}; expected {shape}"
        if a.dtype != dtype:
            return f"input {name!r} has dtype {a.dtype}; expected {dtype}"
        return (f"input {name!r} is not C-contiguous (strides {a.strides}); pass "
                f"numpy.ascontiguousarray(...)")

    # -- running -------------------------------------------------------------------------
    def _execute(self, arrays: tuple) -> list[np.ndarray]:
        empty = np.empty
        outs = [empty(shape, dtype) for _, shape, dtype in self._outs]
        if self._parallel:
            self._note_parallel()
        if self._native:
            self._call(self._addr, (*arrays, *outs, *self._tail), self._raw, self._ptrs_t)
        else:
            self._run_python(arrays, outs)
        if self._simple:
            return outs
        res = []
        for _, how, k, shape, const in self._result:
            if how == "root":
                res.append(outs[k].reshape(shape))
            elif how == "root_copy":
                res.append(outs[k].reshape(shape).copy())
            elif how == "input":
                res.append(arrays[k].reshape(shape).copy())
            else:
                res.append(const.reshape(shape).copy())
        return res

    def invoke(self, *arrays: np.ndarray) -> Any:
        """Run on ``arrays`` (the inputs in order); the output, or a tuple of outputs."""
        self._check(arrays)
        res = self._execute(arrays)
        return res[0] if len(res) == 1 else tuple(res)

    def __getitem__(self, name: str) -> Any:
        if name != "main":
            raise KeyError(f"the executable has only the function 'main', not {name!r}")
        return self.invoke

    def run(self, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run with inputs by name; ``{output name: array}``."""
        unknown = sorted(set(feed) - set(self._in_names))
        missing = [n for n in self._in_names if n not in feed]
        if unknown or missing:
            raise ValueError(
                f"run(): {'unknown inputs ' + str(unknown) if unknown else ''}"
                f"{'; ' if unknown and missing else ''}"
                f"{'missing inputs ' + str(missing) if missing else ''}; "
                f"the inputs are {self._in_names}")
        arrays = tuple(feed[n] for n in self._in_names)
        self._check(arrays)
        res = self._execute(arrays)
        return {name: r for (name, *_), r in zip(self._result, res, strict=True)}

    # -- the per-kernel Python driver (reference path) ------------------------------------
    def _prepare_python(self) -> None:
        ex = self.executable
        base = self._arena.ctypes.data
        io_index = {s: k for k, s in enumerate(ex.input_slots + ex.output_roots)}
        const_ptr = {s: a.ctypes.data for s, a in zip(ex.const_slots, ex.constants,
                                                       strict=True)}
        self._py_calls: list[tuple[Any, Any]] = []
        self._py_patch: list[tuple[Any, int, int]] = []
        for c in ex.calls:
            if isinstance(c, Alias):
                continue
            f = ex.module[c.kernel]
            arr = (ctypes.c_void_p * max(1, len(c.args)))()
            for j, s in enumerate(c.args):
                root = ex.slots[s].root
                if root in io_index:
                    self._py_patch.append((arr, j, io_index[root]))
                elif root in const_ptr:
                    arr[j] = const_ptr[root]
                else:
                    arr[j] = base + ex.plan.offsets[root]
            self._py_calls.append((f._raw, arr))

    def profile(self, *arrays: np.ndarray, repeat: int = 10) -> list[tuple[str, float]]:
        """Time every kernel call of one run, in the model (each call meets the caches the
        calls before it left): ``repeat`` runs, one kernel at a time from Python; returns
        ``(kernel name, median seconds)`` per call, in call order."""
        if repeat < 1:
            raise ValueError(f"profile: repeat must be >= 1, got {repeat}")
        self._check(arrays)
        if not hasattr(self, "_py_calls"):
            self._prepare_python()
        outs = [np.empty(shape, dtype) for _, shape, dtype in self._outs]
        self._point_calls_at(arrays, outs)
        if self._parallel:
            self._note_parallel()
        times = np.empty((repeat, len(self._py_calls)))
        clock = time.perf_counter
        for r in range(repeat):
            for c, (raw, arr) in enumerate(self._py_calls):
                t0 = clock()
                raw(arr)
                times[r, c] = clock() - t0
        del outs  # (kept alive until here: the calls write into them)
        names = [c.kernel for c in self.executable.calls if not isinstance(c, Alias)]
        return list(zip(names, (float(t) for t in np.median(times, axis=0)), strict=True))

    def _point_calls_at(self, arrays: tuple, outs: list[np.ndarray]) -> None:
        """Point the prepared calls' input and output arguments at these arrays."""
        ptrs = [a.ctypes.data for a in (*arrays, *outs)]
        for arr, j, k in self._py_patch:
            arr[j] = ptrs[k]

    def _run_python(self, arrays: tuple, outs: list[np.ndarray]) -> None:
        self._point_calls_at(arrays, outs)
        for raw, arr in self._py_calls:
            raw(arr)
