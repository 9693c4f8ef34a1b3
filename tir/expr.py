"""Expression nodes of the tensor IR: immutable, compared by identity, built with operators.

Every node is a frozen dataclass with slots. Nodes are *not* value-compared by ``==``:
``a == b`` builds an :class:`EQ` node (as in TVM) whose truth value is ``a is b``, so
nodes can be dict keys; use :func:`onnxtune.tir.structural_equal` to compare structure.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import dtype as dt

if TYPE_CHECKING:
    from .buffer import Buffer


class Node:
    """Base of every IR node (expressions, statements, ranges, iter vars, regions)."""

    __slots__ = ()

    def __repr__(self) -> str:  # the printer is imported lazily to avoid an import cycle
        from .printer import astext

        return astext(self)


class PrimExpr(Node):
    """A scalar expression with a dtype."""

    __slots__ = ()

    dtype: str

    # -- arithmetic -------------------------------------------------------------------
    def __add__(self, o):
        return _binary(Add, self, o)

    def __radd__(self, o):
        return _binary(Add, o, self)

    def __sub__(self, o):
        return _binary(Sub, self, o)

    def __rsub__(self, o):
        return _binary(Sub, o, self)

    def __mul__(self, o):
        return _binary(Mul, self, o)

    def __rmul__(self, o):
        return _binary(Mul, o, self)

    def __truediv__(self, o):
        return _binary(Div, self, o)

    def __rtruediv__(self, o):
        return _binary(Div, o, self)

    def __floordiv__(self, o):
        return _binary(FloorDiv, self, o)

    def __rfloordiv__(self, o):
        return _binary(FloorDiv, o, self)

    def __mod__(self, o):
        return _binary(FloorMod, self, o)

    def __rmod__(self, o):
        return _binary(FloorMod, o, self)

    def __neg__(self):
        if isinstance(self, IntImm):
            return IntImm(-self.value, self.dtype)
        if isinstance(self, FloatImm):
            return FloatImm(-self.value, self.dtype)
        return _binary(Sub, const(0, self.dtype), self)

    def __pos__(self):
        return self

    # -- comparison and logic ---------------------------------------------------------
    def __lt__(self, o):
        return _binary(LT, self, o)

    def __le__(self, o):
        return _binary(LE, self, o)

    def __gt__(self, o):
        return _binary(GT, self, o)

    def __ge__(self, o):
        return _binary(GE, self, o)

    def __eq__(self, o):  # type: ignore[override]
        return _binary(EQ, self, o)

    def __ne__(self, o):  # type: ignore[override]
        return _binary(NE, self, o)

    __hash__ = object.__hash__

    def __and__(self, o):
        return And(_as_bool(self), _as_bool(convert(o)))

    def __rand__(self, o):
        return And(_as_bool(convert(o)), _as_bool(self))

    def __or__(self, o):
        return Or(_as_bool(self), _as_bool(convert(o)))

    def __ror__(self, o):
        return Or(_as_bool(convert(o)), _as_bool(self))

    def __invert__(self):
        return Not(_as_bool(self))

    def __bool__(self) -> bool:
        raise TypeError(
            "a tir expression has no truth value; use tir.all/tir.any/tir.if_then_else, "
            "or tir.structural_equal to compare expressions"
        )

    def astype(self, dtype: str) -> PrimExpr:
        return cast(dtype, self)

    def same_as(self, other: object) -> bool:
        return self is other


# ----------------------------------------------------------------------------------------
# leaves


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Var(PrimExpr):
    """A scalar variable (loop variable, block iter var, ...). Identity is what counts."""

    name: str
    dtype: str = "int32"


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class IntImm(PrimExpr):
    value: int
    dtype: str = "int32"


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class FloatImm(PrimExpr):
    value: float
    dtype: str = "float32"


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class StringImm(PrimExpr):
    value: str
    dtype: str = "handle"


# ----------------------------------------------------------------------------------------
# binary arithmetic: result dtype is the operands' dtype (both are equal after promotion)


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class BinaryOp(PrimExpr):
    a: PrimExpr
    b: PrimExpr

    @property
    def dtype(self) -> str:  # type: ignore[override]
        return self.a.dtype


class Add(BinaryOp):
    __slots__ = ()


class Sub(BinaryOp):
    __slots__ = ()


class Mul(BinaryOp):
    __slots__ = ()


class Div(BinaryOp):
    """Division: true division for floats, truncating division for integers."""

    __slots__ = ()


class Mod(BinaryOp):
    """Truncating remainder (C semantics)."""

    __slots__ = ()


class FloorDiv(BinaryOp):
    __slots__ = ()


class FloorMod(BinaryOp):
    __slots__ = ()


class Min(BinaryOp):
    __slots__ = ()


class Max(BinaryOp):
    __slots__ = ()


# comparisons: result dtype bool


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class CmpOp(PrimExpr):
    a: PrimExpr
    b: PrimExpr

    @property
    def dtype(self) -> str:  # type: ignore[override]
        return "bool"


class EQ(CmpOp):
    __slots__ = ()

    def __bool__(self) -> bool:  # lets nodes be dict keys and ``in`` tests work
        return self.a is self.b


class NE(CmpOp):
    __slots__ = ()

    def __bool__(self) -> bool:
        return self.a is not self.b


class LT(CmpOp):
    __slots__ = ()


class LE(CmpOp):
    __slots__ = ()


class GT(CmpOp):
    __slots__ = ()


class GE(CmpOp):
    __slots__ = ()


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class And(PrimExpr):
    a: PrimExpr
    b: PrimExpr

    @property
    def dtype(self) -> str:  # type: ignore[override]
        return "bool"


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Or(PrimExpr):
    a: PrimExpr
    b: PrimExpr

    @property
    def dtype(self) -> str:  # type: ignore[override]
        return "bool"


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Not(PrimExpr):
    a: PrimExpr

    @property
    def dtype(self) -> str:  # type: ignore[override]
        return "bool"


# ----------------------------------------------------------------------------------------
# other expressions


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Cast(PrimExpr):
    dtype: str
    value: PrimExpr


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Select(PrimExpr):
    """``condition ? true_value : false_value``; both sides may be evaluated."""

    condition: PrimExpr
    true_value: PrimExpr
    false_value: PrimExpr

    @property
    def dtype(self) -> str:  # type: ignore[override]
        return self.true_value.dtype


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class BufferLoad(PrimExpr):
    buffer: Buffer
    indices: tuple[PrimExpr, ...]

    @property
    def dtype(self) -> str:  # type: ignore[override]
        return self.buffer.dtype


#: Intrinsics a Call may name, with their arity. ``if_then_else`` only evaluates the
#: branch its condition selects (unlike Select), so it may guard out-of-bounds loads.
CALL_OPS: dict[str, int] = {
    "exp": 1,
    "exp2": 1,
    "log": 1,
    "log2": 1,
    "log1p": 1,
    "sqrt": 1,
    "rsqrt": 1,
    "tanh": 1,
    "sigmoid": 1,
    "erf": 1,
    "sin": 1,
    "cos": 1,
    "abs": 1,
    "floor": 1,
    "ceil": 1,
    "round": 1,
    "trunc": 1,
    "isnan": 1,
    "pow": 2,
    "fmod": 2,
    "if_then_else": 3,
    "reinterpret": 1,
}


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Call(PrimExpr):
    dtype: str
    op: str
    args: tuple[PrimExpr, ...]


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Ramp(PrimExpr):
    """The vector ``base + stride * [0, 1, ..., lanes-1]`` (produced by lowering only)."""

    base: PrimExpr
    stride: PrimExpr
    lanes: int

    @property
    def dtype(self) -> str:  # type: ignore[override]
        return self.base.dtype


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Broadcast(PrimExpr):
    """``value`` repeated ``lanes`` times (produced by lowering only)."""

    value: PrimExpr
    lanes: int

    @property
    def dtype(self) -> str:  # type: ignore[override]
        return self.value.dtype


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Let(PrimExpr):
    var: Var
    value: PrimExpr
    body: PrimExpr

    @property
    def dtype(self) -> str:  # type: ignore[override]
        return self.body.dtype


# ----------------------------------------------------------------------------------------
# ranges, iteration variables, TE reductions


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Range(Node):
    """The half-open interval ``[min, min + extent)``."""

    min: PrimExpr
    extent: PrimExpr

    @staticmethod
    def from_min_extent(min: Any, extent: Any) -> Range:  # noqa: A002 - TVM's name
        return Range(convert(min), convert(extent))


class IterType(enum.IntEnum):
    """How a block iter var is used (TVM's IterVarType)."""

    DATA_PAR = 0
    THREAD_INDEX = 1
    COMM_REDUCE = 2
    ORDERED = 3
    OPAQUE = 4


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class IterVar(Node):
    """A variable with a domain and a role: a block iterator, a TE axis or a thread axis."""

    dom: Range
    var: Var
    iter_type: IterType = IterType.DATA_PAR
    thread_tag: str = ""


REDUCE_COMBINERS = ("sum", "prod", "max", "min")


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Reduce(PrimExpr):
    """A commutative reduction of ``source`` over ``axis`` (TE only; not valid in TIR)."""

    combiner: str
    source: PrimExpr
    axis: tuple[IterVar, ...]
    condition: PrimExpr | None = None
    init: PrimExpr | None = field(default=None)

    @property
    def dtype(self) -> str:  # type: ignore[override]
        return self.source.dtype


# ----------------------------------------------------------------------------------------
# construction helpers


def const(value: int | float | bool, dtype: str | None = None) -> PrimExpr:
    """A constant of ``dtype`` (inferred from the Python type when omitted)."""
    if dtype is None:
        if isinstance(value, bool):
            dtype = "bool"
        elif isinstance(value, int):
            dtype = "int32" if -(2**31) <= value < 2**31 else "int64"
        else:
            dtype = "float32"
    dtype = dt.check_dtype(dtype)
    if dt.is_float(dtype):
        return FloatImm(float(value), dtype)
    if dtype == "bool":
        return IntImm(int(bool(value)), "bool")
    if isinstance(value, float) and not float(value).is_integer():
        raise ValueError(f"cannot make an {dtype} constant from the float {value}")
    return IntImm(int(value), dtype)


def convert(value: Any) -> PrimExpr:
    """Turn a Python number (or an expression) into an expression."""
    if isinstance(value, PrimExpr):
        return value
    if isinstance(value, (bool, int, float)):
        return const(value)
    import numpy as np

    if isinstance(value, np.generic):
        return const(value.item(), value.dtype.name)
    if isinstance(value, IterVar):
        return value.var
    raise TypeError(f"cannot convert {type(value).__name__} {value!r} to a tir expression")


def cast(dtype: str, value: Any) -> PrimExpr:
    value = convert(value)
    dtype = dt.check_dtype(dtype)
    if value.dtype == dtype:
        return value
    if dt.is_narrow(dtype) or dt.is_narrow(value.dtype):
        raise TypeError(
            f"cannot cast {value.dtype} to {dtype}: narrow dtypes are storage-only; use "
            f"tir.op.reinterpret on their bits (frontend op 'cast' converts values)"
        )
    if isinstance(value, IntImm) and not dt.is_float(dtype):
        v = value.value
        if dtype == "bool":
            v = int(bool(v))
        elif dtype in dt.DTYPE_BITS:  # wrap to the target width, as the machine does
            b = dt.bits(dtype)
            v &= (1 << b) - 1
            if not dt.is_uint(dtype) and v >> (b - 1):
                v -= 1 << b
        return IntImm(v, dtype)
    if isinstance(value, (IntImm, FloatImm)) and dt.is_float(dtype):
        return FloatImm(float(value.value), dtype)
    return Cast(dtype, value)


def _as_bool(e: PrimExpr) -> PrimExpr:
    return e if e.dtype == "bool" else NE(e, const(0, e.dtype))


def _match(a: Any, b: Any) -> tuple[PrimExpr, PrimExpr]:
    """Convert both operands to expressions of one dtype (constants adopt the other side)."""
    if isinstance(a, IterVar):
        a = a.var
    if isinstance(b, IterVar):
        b = b.var
    a_py = not isinstance(a, PrimExpr)
    b_py = not isinstance(b, PrimExpr)
    if a_py and b_py:
        a, b = convert(a), convert(b)
    elif a_py:
        a = _const_like(a, b)
    elif b_py:
        b = _const_like(b, a)
    if a.dtype != b.dtype:
        target = dt.promote(a.dtype, b.dtype)
        a, b = cast(target, a), cast(target, b)
    return a, b


def _const_like(value: Any, other: PrimExpr) -> PrimExpr:
    if isinstance(value, float) and not dt.is_float(other.dtype):
        return const(value, "float32")
    if isinstance(value, bool) and other.dtype != "bool":
        return const(int(value), other.dtype)
    if not isinstance(value, (bool, int, float)):
        return convert(value)
    if isinstance(value, int) and other.dtype == "bool":
        return const(value)
    return const(value, other.dtype)


def _binary(cls: type, a: Any, b: Any) -> PrimExpr:
    a, b = _match(a, b)
    if a.dtype in dt.NARROW_DTYPES:
        raise TypeError(
            f"no {cls.__name__} on {a.dtype}: it is a storage-only dtype (reinterpret its bits "
            f"or convert it with the frontend 'cast' op)"
        )
    return cls(a, b)


def fast_init(*classes: type) -> None:
    """Give frozen slots dataclasses an ``__init__`` that sets each slot through its
    descriptor. The generated one calls ``object.__setattr__`` by name, about twice as
    slow, and schedule primitives rebuild every loop and block above what they change.
    Same parameters, defaults and default factories; the instances stay frozen."""
    for cls in classes:
        fs = dataclasses.fields(cls)
        if any(not f.init or f.kw_only for f in fs) or hasattr(cls, "__post_init__"):
            continue  # keep the generated one
        env: dict[str, Any] = {"_NONE": _NO_ARG}
        params: list[str] = []
        body: list[str] = []
        for k, f in enumerate(fs):
            env[f"_set{k}"] = getattr(cls, f.name).__set__
            if f.default is not dataclasses.MISSING:
                env[f"_d{k}"] = f.default
                params.append(f"{f.name}=_d{k}")
            elif f.default_factory is not dataclasses.MISSING:
                env[f"_f{k}"] = f.default_factory
                params.append(f"{f.name}=_NONE")
                body.append(f"    if {f.name} is _NONE:\n        {f.name} = _f{k}()")
            else:
                params.append(f.name)
            body.append(f"    _set{k}(self, {f.name})")
        src = f"def __init__(self, {', '.join(params)}):\n" + "\n".join(body) + "\n"
        exec(src, env)  # noqa: S102 - a constructor generated from the dataclass fields
        init = env["__init__"]
        init.__qualname__ = f"{cls.__qualname__}.__init__"
        init.__doc__ = cls.__init__.__doc__
        cls.__init__ = init


class _NoArg:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<factory>"


_NO_ARG = _NoArg()

fast_init(Var, IntImm, FloatImm, StringImm, BinaryOp, CmpOp, And, Or, Not, Cast, Select,
          BufferLoad, Call, Ramp, Broadcast, Let, Range, IterVar, Reduce)
