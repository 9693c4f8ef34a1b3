"""onnxtune.tir.te: the tensor expression DSL (placeholder, compute, reductions)."""

from __future__ import annotations

from ..expr import IterVar, Var, const
from ..op import (
    abs,
    all,
    any,
    ceil,
    ceildiv,
    cos,
    div,
    erf,
    exp,
    exp2,
    floor,
    floordiv,
    floormod,
    fmod,
    if_then_else,
    indexdiv,
    indexmod,
    isnan,
    log,
    log1p,
    log2,
    logical_not,
    max_value,
    min_value,
    pow,
    round,
    rsqrt,
    select,
    sigmoid,
    sin,
    sqrt,
    tanh,
    trunc,
    truncdiv,
    truncmod,
)
from .create_prim_func import create_prim_func
from .reduce import ReduceAxis, comm_reducer, max, min, prod, reduce_axis, sum
from .tensor import ComputeOp, Operation, PlaceholderOp, Tensor, compute, placeholder


def var(name: str = "tindex", dtype: str = "int32") -> Var:
    """A scalar variable (e.g. a symbolic dimension of a shape)."""
    from .. import dtype as dt

    return Var(name, dt.check_dtype(dtype))


def size_var(name: str = "size", dtype: str = "int32") -> Var:
    """A symbolic size (a variable meant to be a non-negative dimension)."""
    return var(name, dtype)


__all__ = [
    "ComputeOp",
    "IterVar",
    "Operation",
    "PlaceholderOp",
    "ReduceAxis",
    "Tensor",
    "abs",
    "all",
    "any",
    "ceil",
    "ceildiv",
    "comm_reducer",
    "compute",
    "const",
    "cos",
    "create_prim_func",
    "div",
    "erf",
    "exp",
    "exp2",
    "floor",
    "floordiv",
    "floormod",
    "fmod",
    "if_then_else",
    "indexdiv",
    "indexmod",
    "isnan",
    "log",
    "log1p",
    "log2",
    "logical_not",
    "max",
    "max_value",
    "min",
    "min_value",
    "placeholder",
    "pow",
    "prod",
    "reduce_axis",
    "round",
    "rsqrt",
    "select",
    "sigmoid",
    "sin",
    "size_var",
    "sqrt",
    "sum",
    "tanh",
    "trunc",
    "truncdiv",
    "truncmod",
    "var",
]
