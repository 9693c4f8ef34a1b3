"""TE tensors and the operations that produce them: ``placeholder`` and ``compute``."""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .. import dtype as dt
from ..buffer import Buffer
from ..expr import (
    BufferLoad,
    IntImm,
    IterType,
    IterVar,
    Let,
    PrimExpr,
    Range,
    Reduce,
    Var,
    const,
    convert,
)
from ..functor import pre_order_visit

# Buffer → the Tensor owning it (keyed by id; an entry lives as long as its tensor, and the
# tensor holds its buffer, so an id cannot be reused while its entry exists).
_OWNER: weakref.WeakValueDictionary[int, Tensor] = weakref.WeakValueDictionary()


class Operation:
    """Base of TE operations; an operation produces ``num_outputs`` tensors."""

    name: str
    tag: str
    attrs: dict[str, Any]

    def __init__(self, name: str, tag: str = "", attrs: Mapping[str, Any] | None = None):
        self.name = name
        self.tag = tag
        self.attrs = dict(attrs or {})
        self._outputs: tuple[Tensor, ...] = ()

    @property
    def num_outputs(self) -> int:
        return len(self._outputs)

    def output(self, index: int) -> Tensor:
        """The ``index``-th tensor this operation produces."""
        return self._outputs[index]

    @property
    def input_tensors(self) -> list[Tensor]:
        return []

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class PlaceholderOp(Operation):
    """An input of the computation: data supplied by the caller."""

    def __init__(self, name: str, shape: tuple[PrimExpr, ...], dtype: str):
        super().__init__(name)
        self.shape = shape
        self.dtype = dtype


class ComputeOp(Operation):
    """``out[axis] = body`` for every point of ``axis`` (a reduction when body is Reduce)."""

    def __init__(
        self,
        name: str,
        tag: str,
        attrs: Mapping[str, Any] | None,
        axis: tuple[IterVar, ...],
        body: tuple[PrimExpr, ...],
        inputs: list[Tensor],
    ):
        super().__init__(name, tag, attrs)
        self.axis = axis
        self.body = body
        self._inputs = inputs

    @property
    def reduce_axis(self) -> tuple[IterVar, ...]:
        """The reduction axes (empty unless the body is a reduction)."""
        b = self.body[0]
        return b.axis if isinstance(b, Reduce) else ()

    @property
    def input_tensors(self) -> list[Tensor]:
        """The tensors the body reads, in order of first use."""
        return list(self._inputs)


class Tensor:
    """An n-dimensional value produced by an operation; owns the ``tir.Buffer`` holding it.

    Indexing ``T[i, j]`` gives a ``BufferLoad`` of that buffer, to use in compute bodies.
    """

    __slots__ = ("op", "value_index", "buffer", "__weakref__")

    def __init__(self, op: Operation, value_index: int, buffer: Buffer):
        self.op = op
        self.value_index = value_index
        self.buffer = buffer
        _OWNER[id(buffer)] = self

    @property
    def shape(self) -> tuple[PrimExpr, ...]:
        return self.buffer.shape

    @property
    def dtype(self) -> str:
        return self.buffer.dtype

    @property
    def name(self) -> str:
        return self.buffer.name

    @property
    def ndim(self) -> int:
        return len(self.buffer.shape)

    def static_shape(self) -> tuple[int, ...]:
        """The shape as Python ints; raises ValueError if a dimension is not constant."""
        return self.buffer.static_shape()

    def __getitem__(self, indices: Any) -> BufferLoad:
        if not isinstance(indices, tuple):
            indices = (indices,)
        if len(indices) != self.ndim:
            raise ValueError(
                f"tensor {self.name} has {self.ndim} dimensions "
                f"{tuple(str(s) for s in self.shape)}, indexed with {len(indices)} indices"
            )
        out = []
        for k, i in enumerate(indices):
            if isinstance(i, Tensor):
                raise TypeError(
                    f"tensor {self.name}: index {k} is the tensor {i.name}; index with "
                    f"an element such as {i.name}[...] instead"
                )
            e = convert(i)
            if dt.is_float(e.dtype):
                raise TypeError(f"tensor {self.name}: index {k} ({e}) has dtype {e.dtype}")
            out.append(e)
        return BufferLoad(self.buffer, tuple(out))

    def __hash__(self) -> int:
        return id(self)

    def __eq__(self, other: object) -> bool:
        return self is other

    def __repr__(self) -> str:
        shape = ", ".join(str(s) for s in self.shape)
        return f"Tensor(name={self.name}, shape=({shape}), dtype={self.dtype})"


def tensor_of(buffer: Buffer) -> Tensor | None:
    """The live Tensor owning ``buffer``, if any."""
    t = _OWNER.get(id(buffer))
    return t if t is not None and t.buffer is buffer else None


def _shape(shape: Any, where: str) -> tuple[PrimExpr, ...]:
    if isinstance(shape, (int, PrimExpr)):
        shape = (shape,)
    if not isinstance(shape, (tuple, list)):
        raise TypeError(f"{where}: shape must be a tuple of ints or expressions, got {shape!r}")
    out = []
    for k, s in enumerate(shape):
        if isinstance(s, bool) or not isinstance(s, (int, PrimExpr)):
            raise TypeError(f"{where}: dimension {k} of the shape is {s!r}; expected an int")
        e = convert(s)
        if not dt.is_int(e.dtype):
            raise TypeError(f"{where}: dimension {k} ({e}) has dtype {e.dtype}; expected int")
        if isinstance(e, IntImm) and e.value < 0:
            raise ValueError(f"{where}: dimension {k} of the shape is negative ({e.value})")
        out.append(e)
    return tuple(out)


def placeholder(shape: Any, dtype: str = "float32", name: str = "placeholder") -> Tensor:
    """An input tensor of ``shape`` (ints or expressions) and ``dtype``."""
    shape_t = _shape(shape, f"placeholder {name}")
    dtype = dt.check_dtype(dtype)
    op = PlaceholderOp(name, shape_t, dtype)
    t = Tensor(op, 0, Buffer(name, shape_t, dtype))
    op._outputs = (t,)
    return t


def _axis_names(fcompute: Callable, ndim: int, name: str) -> list[str]:
    try:
        sig = inspect.signature(fcompute)
    except (TypeError, ValueError):  # builtins without a signature: fall back to i0, i1, ...
        return [f"i{k}" for k in range(ndim)]
    pos, required, varargs = [], 0, False
    for p in sig.parameters.values():
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            pos.append(p.name)
            required += p.default is p.empty
        elif p.kind is p.VAR_POSITIONAL:
            varargs = True
        elif p.kind is p.KEYWORD_ONLY and p.default is p.empty:
            raise TypeError(f"compute {name}: fcompute has the keyword-only argument {p.name}")
    if ndim < required or (ndim > len(pos) and not varargs):
        takes = f"{required}" if required == len(pos) else f"{required} to {len(pos)}"
        raise ValueError(
            f"compute {name}: fcompute takes {takes}{'+' if varargs else ''} index arguments "
            f"but the shape has {ndim} dimensions; pass one index per dimension"
        )
    names = pos[:ndim]
    return names + [f"i{k}" for k in range(len(names), ndim)]


def compute(
    shape: Any,
    fcompute: Callable[..., Any],
    name: str = "compute",
    tag: str = "",
    attrs: Mapping[str, Any] | None = None,
) -> Tensor | list[Tensor]:
    """A tensor whose element at index ``(i, j, ...)`` is ``fcompute(i, j, ...)``.

    ``fcompute`` receives one index Var per dimension and returns an expression, a
    reduction (``te.sum(..., axis=k)``, which must be the whole body) or a tuple of
    non-reduction expressions (then a list of tensors is returned, one per element).
    ``attrs`` (and ``tag`` as ``"tag"``) become the block's annotations.
    """
    shape_t = _shape(shape, f"compute {name}")
    names = _axis_names(fcompute, len(shape_t), name)
    axis = tuple(
        IterVar(Range(const(0, s.dtype), s), Var(n, s.dtype), IterType.DATA_PAR)
        for n, s in zip(names, shape_t, strict=True)
    )
    result = fcompute(*[a.var for a in axis])
    multi = isinstance(result, (tuple, list))
    bodies = tuple(_body_expr(b, name) for b in (result if multi else (result,)))
    if not bodies:
        raise ValueError(f"compute {name}: fcompute returned an empty tuple")
    inputs = _check_body(name, shape_t, axis, bodies)
    op = ComputeOp(name, tag, attrs, axis, bodies, inputs)
    outs = []
    for k, b in enumerate(bodies):
        bname = f"{name}_v{k}" if multi else name
        outs.append(Tensor(op, k, Buffer(bname, shape_t, b.dtype)))
    op._outputs = tuple(outs)
    return outs if multi else outs[0]


def _body_expr(value: Any, name: str) -> PrimExpr:
    if isinstance(value, Tensor):
        raise TypeError(
            f"compute {name}: fcompute returned the tensor {value.name}; return an element "
            f"expression such as {value.name}[i, j]"
        )
    try:
        e = convert(value)
    except TypeError as err:
        raise TypeError(f"compute {name}: fcompute returned {value!r}: {err}") from None
    if e.dtype == dt.HANDLE:
        raise TypeError(f"compute {name}: fcompute returned {e}, which is not a number")
    return e


def _check_body(
    name: str, shape: Sequence[PrimExpr], axis: tuple[IterVar, ...], bodies: tuple[PrimExpr, ...]
) -> list[Tensor]:
    """Validate a compute body; return the tensors it reads, in order of first use."""
    reduces = [b for b in bodies if isinstance(b, Reduce)]
    if reduces and len(bodies) > 1:
        raise NotImplementedError(
            f"compute {name}: a tuple of reductions (multi-output reduction) is not "
            f"supported; write one te.compute per reduced output"
        )
    spatial = {a.var for a in axis}
    shape_vars: set[Var] = set()
    for s in shape:
        shape_vars |= _vars_in(s)
    inputs: list[Tensor] = []
    seen: set[int] = set()
    free: list[tuple[Var, str]] = []  # variables that must be symbolic dimensions

    def scan(e: PrimExpr, allowed: set[Var], what: str) -> None:
        bound: set[Var] = set()

        def f(n: Any) -> bool:
            if isinstance(n, Reduce):
                raise ValueError(
                    f"compute {name}: {what} contains a reduction ({n.combiner}); a reduction "
                    f"must be the whole body of a compute (nested reductions are not "
                    f"allowed); compute it in its own te.compute and index that tensor"
                )
            if isinstance(n, Let):
                bound.add(n.var)
            elif isinstance(n, BufferLoad):
                t = tensor_of(n.buffer)
                if t is None:
                    raise ValueError(
                        f"compute {name}: reads buffer {n.buffer.name}, which belongs to no "
                        f"te tensor; index te.placeholder/te.compute tensors in fcompute"
                    )
                if id(t) not in seen:
                    seen.add(id(t))
                    inputs.append(t)
                    for s in t.shape:
                        shape_vars.update(_vars_in(s))
            elif isinstance(n, Var) and n not in allowed and n not in bound:
                free.append((n, what))
            return True

        pre_order_visit(e, f)

    for k, b in enumerate(bodies):
        what = "the body" if len(bodies) == 1 else f"output {k}"
        if not isinstance(b, Reduce):
            scan(b, spatial, what)
            continue
        raxes: set[Var] = set()
        for a in b.axis:
            if not isinstance(a, IterVar) or a.iter_type != IterType.COMM_REDUCE:
                raise TypeError(
                    f"compute {name}: reduction axis {a!r} is not a te.reduce_axis"
                )
            if a.var in raxes:
                raise ValueError(f"compute {name}: reduce axis {a.var.name} is listed twice")
            if a.var in spatial:
                raise ValueError(f"compute {name}: {a.var.name} is both a spatial and a "
                                 f"reduce axis")
            raxes.add(a.var)
        scan(b.source, spatial | raxes, "the reduction")
        if b.condition is not None:
            scan(b.condition, spatial | raxes, "the reduction's where= condition")
        if b.init is not None:
            scan(b.init, spatial, "the reduction's init")
    for v, what in free:
        if v not in shape_vars:
            axes = ", ".join(a.var.name for a in axis) or "none"
            raise ValueError(
                f"compute {name}: {what} uses the variable {v.name}, which is not one of its "
                f"axes ({axes}); a te.reduce_axis may only be used inside the reduction "
                f"(te.sum/max/min/prod) whose axis= lists it"
            )
    return inputs


def _vars_in(e: PrimExpr) -> set[Var]:
    out: set[Var] = set()

    def f(n: Any) -> None:
        if isinstance(n, Var):
            out.add(n)

    pre_order_visit(e, f)
    return out
