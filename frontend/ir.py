"""The graph IR (Relax-like): typed variables, op calls, call_tir, constants, functions.

A :class:`Function` is in A-normal form: parameters (typed :class:`Var`), a list of
:class:`Binding` ``var = value`` where ``value`` is a :class:`Call` of a high-level op, a
:class:`CallTIR` of a PrimFunc in the same module, a :class:`Tuple` or a
:class:`TupleGetItem`, and the outputs (vars or constants). Arguments are atoms: a
:class:`Var` or a :class:`Constant` (a named numpy array). Every value carries its type
(static shape and dtype), inferred when the call is made (:func:`op_call`). Graph
functions live next to PrimFuncs in a ``tir.IRModule``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from onnxtune.tir.function import IRModule, PrimFunc

__all__ = [
    "Binding",
    "BlockBuilder",
    "Call",
    "CallFunction",
    "CallTIR",
    "Constant",
    "Expr",
    "Function",
    "IRModule",
    "TensorType",
    "Tuple",
    "TupleGetItem",
    "TupleType",
    "Type",
    "Var",
    "const",
    "infer_call_type",
    "op_call",
    "structural_equal",
]


# ----------------------------------------------------------------------------------------
# types


@dataclass(frozen=True, slots=True)
class TensorType:
    """A tensor of static ``shape`` (ints) and ``dtype`` (numpy-style name)."""

    shape: tuple[int, ...]
    dtype: str

    def __str__(self) -> str:
        return f"Tensor({tuple(self.shape)}, {self.dtype!r})"

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def numel(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n


@dataclass(frozen=True, slots=True)
class TupleType:
    """The type of a tuple of values."""

    fields: tuple[Type, ...]

    def __str__(self) -> str:
        return "Tuple(" + ", ".join(str(f) for f in self.fields) + ")"


Type = TensorType | TupleType


def tensor_type(shape: Iterable[int], dtype: str) -> TensorType:
    return TensorType(tuple(int(s) for s in shape), str(np.dtype(dtype)))


# ----------------------------------------------------------------------------------------
# expressions


class Expr:
    """Base of graph expressions; ``type`` is the static type of the value."""

    __slots__ = ()
    type: Type


@dataclass(frozen=True, slots=True, eq=False)
class Var(Expr):
    """A named value (function parameter or binding target); compared by identity."""

    name: str
    type: Type

    def __repr__(self) -> str:
        return f"Var({self.name}: {self.type})"


@dataclass(frozen=True, slots=True, eq=False)
class Constant(Expr):
    """A constant tensor (weights, folded shapes); ``name`` is kept from the model."""

    data: np.ndarray
    name: str = ""

    @property
    def type(self) -> TensorType:  # type: ignore[override]
        return TensorType(tuple(int(s) for s in self.data.shape), str(self.data.dtype))

    def __repr__(self) -> str:
        return f"Constant({self.name or '_'}: {self.type})"


@dataclass(frozen=True, slots=True, eq=False)
class Call(Expr):
    """``op(*args, **attrs)`` of a high-level op (from ``frontend.op``)."""

    op: str
    args: tuple[Expr, ...]
    attrs: dict[str, Any]
    type: Type


@dataclass(frozen=True, slots=True, eq=False)
class CallTIR(Expr):
    """``call_tir(func, args)``: run the module's PrimFunc ``func`` on ``args``.

    The PrimFunc's parameters are the args then the outputs (destination passing);
    ``type`` is the output type (a TupleType for several outputs).
    """

    func: str
    args: tuple[Expr, ...]
    type: Type


@dataclass(frozen=True, slots=True, eq=False)
class CallFunction(Expr):
    """A call of the module's graph function ``func`` (a fused group made by FuseOps)."""

    func: str
    args: tuple[Expr, ...]
    type: Type


@dataclass(frozen=True, slots=True, eq=False)
class Tuple(Expr):
    fields: tuple[Expr, ...]

    @property
    def type(self) -> TupleType:  # type: ignore[override]
        return TupleType(tuple(f.type for f in self.fields))


@dataclass(frozen=True, slots=True, eq=False)
class TupleGetItem(Expr):
    value: Expr
    index: int

    @property
    def type(self) -> Type:  # type: ignore[override]
        t = self.value.type
        if not isinstance(t, TupleType):
            raise TypeError(f"TupleGetItem of a non-tuple value of type {t}")
        return t.fields[self.index]


@dataclass(frozen=True, slots=True, eq=False)
class Binding:
    var: Var
    value: Expr


@dataclass(frozen=True, slots=True, eq=False)
class Function:
    """A graph function: ``params``, ``bindings`` in order, and ``outputs``.

    ``attrs`` may hold ``output_names`` (the model's output names) and ``params``.
    """

    params: tuple[Var, ...]
    bindings: tuple[Binding, ...]
    outputs: tuple[Expr, ...]
    attrs: dict[str, Any] = field(default_factory=dict)

    def with_bindings(self, bindings: Sequence[Binding], outputs: Sequence[Expr]) -> Function:
        return Function(self.params, tuple(bindings), tuple(outputs), dict(self.attrs))

    def script(self, name: str = "main") -> str:
        from .printer import function_text

        return function_text(self, name)

    def show(self) -> None:
        print(self.script())

    def __repr__(self) -> str:
        return self.script()

    def constants(self) -> list[Constant]:
        """Every distinct constant used by the function, in order of first use."""
        seen: dict[int, Constant] = {}
        for b in self.bindings:
            for a in _atoms(b.value):
                if isinstance(a, Constant):
                    seen.setdefault(id(a), a)
        for o in self.outputs:
            for a in _atoms(o):
                if isinstance(a, Constant):
                    seen.setdefault(id(a), a)
        return list(seen.values())


def _atoms(e: Expr) -> list[Expr]:
    if isinstance(e, (Call, CallTIR, CallFunction)):
        return list(e.args)
    if isinstance(e, Tuple):
        return list(e.fields)
    if isinstance(e, TupleGetItem):
        return [e.value]
    return [e]


def uses(e: Expr) -> list[Expr]:
    """The atoms (vars and constants) that an expression reads."""
    return _atoms(e)


def const(value: Any, dtype: str | None = None, name: str = "") -> Constant:
    arr = np.asarray(value, dtype=dtype)
    return Constant(arr, name)


# ----------------------------------------------------------------------------------------
# type inference through the op library


_PH_CACHE: dict[tuple, Any] = {}


def _placeholder(t: TensorType, k: int) -> Any:
    from onnxtune.tir import te

    return te.placeholder(t.shape, t.dtype, f"arg{k}")


def infer_call_type(op: str, args: Sequence[Expr], attrs: dict[str, Any]) -> Type:
    """The output type of ``op(*args, **attrs)``, by running the op's TE compute."""
    from .op import get_op

    opdef = get_op(op)
    phs = []
    for k, a in enumerate(args):
        t = a.type
        if not isinstance(t, TensorType):
            raise TypeError(f"{op}: argument {k} has type {t}; expected a tensor")
        phs.append(_placeholder(t, k))
    out = opdef.compute(*phs, **attrs)
    return _te_type(out)


def _te_type(out: Any) -> Type:
    if isinstance(out, (list, tuple)):
        return TupleType(tuple(_te_type(o) for o in out))
    return TensorType(tuple(int(s) for s in out.static_shape()), str(out.dtype))


def op_call(op: str, args: Sequence[Expr], attrs: dict[str, Any] | None = None) -> Call:
    """A :class:`Call` with its type inferred from the op's TE compute."""
    attrs = dict(attrs or {})
    args = tuple(args)
    return Call(op, args, attrs, infer_call_type(op, args, attrs))


# ----------------------------------------------------------------------------------------
# building functions


class BlockBuilder:
    """Emit bindings in order; ``emit`` returns the bound Var."""

    def __init__(self) -> None:
        self.bindings: list[Binding] = []
        self._names: set[str] = set()
        self._counter = 0

    def fresh_name(self, hint: str = "") -> str:
        base = hint or f"lv{self._counter}"
        self._counter += 1
        name, k = base, 0
        while name in self._names:
            k += 1
            name = f"{base}_{k}"
        self._names.add(name)
        return name

    def emit(self, value: Expr, name: str = "") -> Var:
        if isinstance(value, Var):
            return value
        v = Var(self.fresh_name(name), value.type)
        self.bindings.append(Binding(v, value))
        return v

    def call(self, op: str, *args: Expr, name: str = "", **attrs: Any) -> Var:
        return self.emit(op_call(op, args, attrs), name)


# ----------------------------------------------------------------------------------------
# structural equality


def _val_eq(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        return a.shape == b.shape and a.dtype == b.dtype and bool(np.array_equal(a, b))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_val_eq(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_val_eq(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def structural_equal(lhs: Any, rhs: Any) -> bool:
    """Structural equality of graph functions, modules, or expressions.

    Variables are mapped by position (names are ignored); constants compare by value;
    PrimFuncs by ``tir.structural_equal``; modules by their function names and bodies.
    """
    if isinstance(lhs, IRModule) and isinstance(rhs, IRModule):
        if sorted(lhs) != sorted(rhs):
            return False
        return all(structural_equal(lhs[k], rhs[k]) for k in lhs)
    if isinstance(lhs, PrimFunc) and isinstance(rhs, PrimFunc):
        from onnxtune.tir import structural_equal as tir_eq

        return tir_eq(lhs, rhs)
    if isinstance(lhs, Function) and isinstance(rhs, Function):
        return _func_eq(lhs, rhs)
    return _expr_eq(lhs, rhs, {})


def _func_eq(a: Function, b: Function) -> bool:
    if len(a.params) != len(b.params) or len(a.bindings) != len(b.bindings):
        return False
    if len(a.outputs) != len(b.outputs):
        return False
    vmap: dict[int, Var] = {}
    for x, y in zip(a.params, b.params, strict=True):
        if x.type != y.type:
            return False
        vmap[id(x)] = y
    for x, y in zip(a.bindings, b.bindings, strict=True):
        if x.var.type != y.var.type or not _expr_eq(x.value, y.value, vmap):
            return False
        vmap[id(x.var)] = y.var
    return all(_expr_eq(x, y, vmap) for x, y in zip(a.outputs, b.outputs, strict=True))


def _expr_eq(x: Any, y: Any, vmap: dict[int, Var]) -> bool:
    if type(x) is not type(y):
        return False
    if isinstance(x, Var):
        return vmap.get(id(x), x) is y
    if isinstance(x, Constant):
        return _val_eq(x.data, y.data)
    if isinstance(x, Call):
        return (
            x.op == y.op
            and x.type == y.type
            and _val_eq(x.attrs, y.attrs)
            and _seq_eq(x.args, y.args, vmap)
        )
    if isinstance(x, (CallTIR, CallFunction)):
        return x.func == y.func and x.type == y.type and _seq_eq(x.args, y.args, vmap)
    if isinstance(x, Tuple):
        return _seq_eq(x.fields, y.fields, vmap)
    if isinstance(x, TupleGetItem):
        return x.index == y.index and _expr_eq(x.value, y.value, vmap)
    return _val_eq(x, y)


def _seq_eq(a: Sequence[Any], b: Sequence[Any], vmap: dict[int, Var]) -> bool:
    return len(a) == len(b) and all(_expr_eq(x, y, vmap) for x, y in zip(a, b, strict=True))
