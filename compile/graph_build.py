"""``build_graph``: a graph IRModule → an Executable (kernels, calls, constants, outputs).

The module is first brought to call_tir form by the frontend's pass pipeline (unless it
already is): constant folding, BatchNorm folding, DCE, legalization, FuseOps, FuseTIR.
Then ``main`` is walked in order: each distinct PrimFunc is scheduled (``schedule_fn``,
by default ``compile.default_schedule.default_schedule`` when that module exists) and
becomes one kernel; each call_tir binding becomes one call reading graph inputs,
constants or earlier values; tuple items select one output of a multi-output call.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import Any

import numpy as np

from onnxtune.frontend.ir import (
    Call,
    CallFunction,
    CallTIR,
    Constant,
    Expr,
    Function,
    IRModule,
    TensorType,
    Tuple,
    TupleGetItem,
    TupleType,
    Var,
)
from onnxtune.tir.function import PrimFunc

from .executable import Alias, Executable, Program
from .executable import Call as ExCall

log = logging.getLogger(__name__)


def needs_passes(mod: IRModule) -> bool:
    """True while ``main`` still holds op calls or calls of fused graph functions."""
    main = mod["main"]
    return any(isinstance(b.value, (Call, CallFunction)) for b in main.bindings)


class _Slots:
    def __init__(self) -> None:
        self.used: set[str] = set()

    def new(self, hint: str) -> str:
        base = hint or "v"
        name, k = base, 0
        while name in self.used:
            k += 1
            name = f"{base}_{k}"
        self.used.add(name)
        return name


def to_program(mod: IRModule, schedule_fn: Callable[[PrimFunc], PrimFunc] | None = None
               ) -> Program:
    """Walk ``main`` (call_tir form) into an executable :class:`Program`.

    Each distinct PrimFunc becomes one kernel (after ``schedule_fn``); a lone reshape or
    identity becomes an :class:`Alias` (no copy) unless its value is a graph output;
    a graph output that is an input, a constant, or listed twice gets a copy kernel.
    """
    main = mod["main"]
    if not isinstance(main, Function):
        raise TypeError(f"build_graph: module['main'] is a {type(main).__name__}, not a graph "
                        f"Function")
    names = _Slots()
    slot: dict[int, Any] = {}  # id(expr) -> slot name, or list of slot names for tuples
    inputs: list[tuple[str, tuple[int, ...], str]] = []
    constants: dict[str, np.ndarray] = {}
    kernels: dict[str, PrimFunc] = {}
    calls: list[Any] = []
    for p in main.params:
        if not isinstance(p.type, TensorType):
            raise TypeError(f"build_graph: parameter {p.name} has type {p.type}")
        inputs.append((names.new(p.name), tuple(p.type.shape), p.type.dtype))
        slot[id(p)] = inputs[-1][0]

    def slot_of(e: Expr) -> Any:
        if isinstance(e, Constant):
            s = slot.get(id(e))
            if s is None:
                s = names.new("const_" + _clean(e.name) if e.name else "const")
                constants[s] = np.array(e.data, order="C")
                slot[id(e)] = s
            return s
        if isinstance(e, Tuple):
            return [slot_of(f) for f in e.fields]
        if id(e) not in slot:
            raise ValueError(f"build_graph: value {e!r} is used before it is defined")
        return slot[id(e)]

    out_ids = {id(o) for o in main.outputs}
    for b in main.bindings:
        v = b.value
        if isinstance(v, CallTIR):
            pf = mod[v.func]
            if not isinstance(pf, PrimFunc):
                raise TypeError(f"build_graph: call_tir of {v.func}, not a PrimFunc")
            args = [slot_of(a) for a in v.args]
            if any(isinstance(a, list) for a in args):
                raise TypeError(f"build_graph: a tuple is passed to kernel {v.func}")
            if (pf.attrs.get("op_name") in ("reshape", "identity") and len(args) == 1
                    and id(b.var) not in out_ids and isinstance(v.type, TensorType)):
                dst = names.new(_clean(b.var.name))
                calls.append(Alias(args[0], dst, tuple(v.type.shape)))
                slot[id(b.var)] = dst
                continue
            if v.func not in kernels:
                kernels[v.func] = _schedule(schedule_fn, pf, v.func)
            if isinstance(v.type, TupleType):
                outs = [names.new(f"{_clean(b.var.name)}_{i}") for i in range(len(v.type.fields))]
                slot[id(b.var)] = outs
            else:
                outs = [names.new(_clean(b.var.name))]
                slot[id(b.var)] = outs[0]
            calls.append(ExCall(v.func, tuple(args + outs)))
        elif isinstance(v, TupleGetItem):
            slot[id(b.var)] = slot_of(v.value)[v.index]
        elif isinstance(v, (Tuple, Var, Constant)):
            slot[id(b.var)] = slot_of(v)
        else:
            raise TypeError(f"build_graph: binding {b.var.name} = {type(v).__name__} is not "
                            f"call_tir form; run the frontend passes first")
    out_names = list(main.attrs.get("output_names")
                     or [f"output{i}" for i in range(len(main.outputs))])
    outputs: list[tuple[str, str]] = []
    kernel_written = {a for c in calls if isinstance(c, ExCall) for a in c.args}
    seen: set[str] = set()
    for name, o in zip(out_names, main.outputs, strict=True):
        s = slot_of(o)
        if isinstance(s, list):
            raise TypeError(f"build_graph: graph output {name!r} is a tuple")
        if s in seen or s not in kernel_written or s in constants or s in {i[0] for i in inputs}:
            t = o.type
            assert isinstance(t, TensorType)
            kname = _copy_kernel(kernels, t)
            dst = names.new(_clean(name))
            calls.append(ExCall(kname, (s, dst)))
            s = dst
        seen.add(s)
        outputs.append((name, s))
    return Program(inputs, constants, kernels, calls, outputs)


def _schedule(schedule_fn: Callable[[PrimFunc], PrimFunc] | None, func: PrimFunc,
              name: str) -> PrimFunc:
    """``schedule_fn(func)``; the unscheduled kernel (with a warning) if scheduling fails."""
    if schedule_fn is None:
        return func
    try:
        return schedule_fn(func)
    except Exception as e:  # noqa: BLE001 - a heuristic schedule must not break a build
        log.warning("schedule_fn failed for kernel %s (%s: %s); using it unscheduled",
                    name, type(e).__name__, e)
        return func


def _copy_kernel(kernels: dict[str, PrimFunc], t: TensorType) -> str:
    from onnxtune.tir import te

    name = "copy_" + "x".join(str(d) for d in t.shape) + "_" + t.dtype
    if name not in kernels:
        x = te.placeholder(t.shape, t.dtype, "x")
        y = te.compute(t.shape, lambda *i: x[i], name="T_copy")
        kernels[name] = te.create_prim_func([x, y])
    return name


def _clean(name: str) -> str:
    return "".join(c if c.isalnum() or c == "_" else "_" for c in name)


def default_schedule_fn() -> Callable[[PrimFunc], PrimFunc] | None:
    """``compile.default_schedule.default_schedule`` if that module exists, else None."""
    try:
        mod = importlib.import_module("onnxtune.compile.default_schedule")
    except ModuleNotFoundError:
        return None
    return getattr(mod, "default_schedule", None)


def build_graph(mod: IRModule, target: Any = "llvm",
                schedule_fn: Callable[[PrimFunc], PrimFunc] | None = None,
                optimize: bool = True) -> Executable:
    """Compile a graph module (from ``from_onnx``, or already in call_tir form).

    The frontend passes run first when ``main`` still has op calls. ``schedule_fn(prim_func)
    -> prim_func`` schedules each kernel; by default the untuned default schedule
    (``compile.default_schedule.default_schedule``) when that module exists. Run the
    result with ``compile.VirtualMachine(ex)["main"](*arrays)``.
    """
    from onnxtune.frontend.transform import optimize as run_passes

    if optimize and needs_passes(mod):
        mod = run_passes(mod)
    if schedule_fn is None:
        schedule_fn = default_schedule_fn()
    return Executable.build(to_program(mod, schedule_fn), target)
