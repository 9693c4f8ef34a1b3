"""Constant folding: evaluate op calls whose inputs are all constants.

Cheap ops (shape arithmetic, elementwise math, layout changes) are evaluated with numpy
implementations that follow the op library's semantics (``NUMPY_OPS``). Other ops with
all-constant inputs are evaluated by compiling their TE compute (``fold_with_tir``) when
the pass runs with ``use_tir=True`` (the default), so any op folds, numpy or not.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..ir import (
    Binding,
    Call,
    Constant,
    Expr,
    Function,
    IRModule,
    Tuple,
    TupleGetItem,
    Var,
)

#: Largest output (elements) folded at import time (bigger folds wait for the pass).
IMPORT_FOLD_LIMIT = 1 << 22


def _norm_axis(axis: Any, ndim: int) -> Any:
    if axis is None:
        return None
    if isinstance(axis, (list, tuple)):
        return tuple(a + ndim if a < 0 else a for a in axis)
    return axis + ndim if axis < 0 else axis


def _divide(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if np.issubdtype(a.dtype, np.integer) and np.issubdtype(b.dtype, np.integer):
        with np.errstate(divide="ignore"):
            q = np.trunc(a.astype(np.float64) / b.astype(np.float64))
        return q.astype(np.result_type(a, b))
    return (a / b).astype(np.result_type(a, b))


def _reduce(fn: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    def f(x: np.ndarray, axis: Any = None, keepdims: bool = False) -> np.ndarray:
        ax = _norm_axis(axis, x.ndim)
        return np.asarray(fn(x, axis=ax, keepdims=keepdims)).astype(x.dtype)

    return f


def _strided_slice(x: np.ndarray, begin: Sequence[int], end: Sequence[int],
                   strides: Sequence[int] | None = None,
                   axes: Sequence[int] | None = None) -> np.ndarray:
    axes = list(axes) if axes is not None else list(range(len(begin)))
    strides = list(strides) if strides is not None else [1] * len(begin)
    sl = [slice(None)] * x.ndim
    for a, b, e, s in zip(axes, begin, end, strides, strict=True):
        a = a + x.ndim if a < 0 else a
        n = x.shape[a]
        # ONNX clamping: begin/end beyond the range are clamped (INT_MAX etc.)
        b = max(-n - 1, min(int(b), n))
        e = max(-n - 1, min(int(e), n))
        if s > 0:
            b = max(b + n, 0) if b < 0 else b
            e = max(e + n, 0) if e < 0 else e
            sl[a] = slice(b, e, s)
        else:
            b = b + n if b < 0 else min(b, n - 1)
            e = e + n if e < 0 else e
            sl[a] = slice(b, None if e < 0 else e, s)
    return x[tuple(sl)]


def _take(data: np.ndarray, indices: np.ndarray, axis: int = 0) -> np.ndarray:
    axis = axis + data.ndim if axis < 0 else axis
    idx = np.where(indices < 0, indices + data.shape[axis], indices)
    return np.take(data, idx, axis=axis)


def _split(x: np.ndarray, indices_or_sections: Any, axis: int = 0) -> tuple[np.ndarray, ...]:
    return tuple(np.split(x, indices_or_sections, axis=axis))


def _astype(x: np.ndarray, dtype: str) -> np.ndarray:
    return x.astype(dtype)


def _clip(x: np.ndarray, a_min: Any = None, a_max: Any = None) -> np.ndarray:
    out = x
    if a_min is not None:
        out = np.maximum(out, np.asarray(a_min, x.dtype))
    if a_max is not None:
        out = np.minimum(out, np.asarray(a_max, x.dtype))
    return out


def _same(fn: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    def f(*xs: np.ndarray) -> np.ndarray:
        return np.asarray(fn(*xs)).astype(np.result_type(*xs))

    return f


def _float_only(fn: Callable[..., np.ndarray]) -> Callable[..., np.ndarray | None]:
    def f(x: np.ndarray) -> np.ndarray | None:
        if not np.issubdtype(x.dtype, np.floating):
            return None
        with np.errstate(all="ignore"):
            return np.asarray(fn(x)).astype(x.dtype)

    return f


#: op name → numpy implementation (returns None when it declines to fold)
NUMPY_OPS: dict[str, Callable[..., Any]] = {
    "add": _same(np.add),
    "subtract": _same(np.subtract),
    "multiply": _same(np.multiply),
    "divide": _divide,
    "maximum": _same(np.maximum),
    "minimum": _same(np.minimum),
    "equal": np.equal,
    "less": np.less,
    "greater": np.greater,
    "less_equal": np.less_equal,
    "greater_equal": np.greater_equal,
    "logical_and": np.logical_and,
    "logical_or": np.logical_or,
    "logical_not": np.logical_not,
    "where": lambda c, x, y: np.where(c, x, y).astype(np.result_type(x, y)),
    "negative": np.negative,
    "abs": np.abs,
    "sqrt": _float_only(np.sqrt),
    "exp": _float_only(np.exp),
    "log": _float_only(np.log),
    "reciprocal": _float_only(lambda x: 1 / x),
    "floor": _float_only(np.floor),
    "ceil": _float_only(np.ceil),
    "relu": lambda x: np.maximum(x, np.zeros((), x.dtype)),
    "identity": lambda x: x,
    "astype": _astype,
    "clip": _clip,
    "reshape": lambda x, newshape: x.reshape(newshape),
    "transpose": lambda x, axes=None: np.ascontiguousarray(np.transpose(x, axes)),
    "concat": lambda *xs, axis=0: np.concatenate(xs, axis=axis),
    "split": _split,
    "strided_slice": _strided_slice,
    "take": _take,
    "broadcast_to": lambda x, shape: np.ascontiguousarray(np.broadcast_to(x, shape)),
    "tile": lambda x, reps: np.tile(x, reps),
    "sum": _reduce(np.sum),
    "prod": _reduce(np.prod),
    "max": _reduce(np.max),
    "min": _reduce(np.min),
}


def try_fold(op: str, args: Sequence[np.ndarray], attrs: dict[str, Any],
             limit: int | None = IMPORT_FOLD_LIMIT) -> Any:
    """numpy value of ``op(*args, **attrs)``, or None when ``op`` has no numpy rule (or
    the inputs hold more than ``limit`` elements)."""
    fn = NUMPY_OPS.get(op)
    if fn is None:
        return None
    if limit is not None and sum(int(a.size) for a in args) > limit:
        return None
    return fn(*args, **attrs)


def fold_with_tir(call: Call) -> Any:
    """Evaluate ``call`` (all-constant args) by compiling its TE compute; numpy outputs."""
    from onnxtune.compile import build
    from onnxtune.tir import te

    from ..op import get_op

    phs = [te.placeholder(a.type.shape, a.type.dtype, f"arg{k}") for k, a in enumerate(call.args)]
    out = get_op(call.op).compute(*phs, **call.attrs)
    outs = list(out) if isinstance(out, (list, tuple)) else [out]
    func = te.create_prim_func([*phs, *outs])
    arrays = [np.ascontiguousarray(a.data) for a in call.args]  # type: ignore[union-attr]
    results = [np.empty(o.static_shape(), o.dtype) for o in outs]
    build(func, "llvm")["main"](*arrays, *results)
    return tuple(results) if isinstance(out, (list, tuple)) else results[0]


def fold_constant(mod: IRModule, use_tir: bool = True) -> IRModule:
    """Replace every op call whose inputs are all constants by the constant result."""
    out = {}
    for name, f in mod.functions.items():
        out[name] = _fold_function(f, use_tir) if isinstance(f, Function) else f
    return IRModule(out)


def _fold_function(func: Function, use_tir: bool) -> Function:
    env: dict[int, Expr] = {}

    def sub(e: Expr) -> Expr:
        return env.get(id(e), e) if isinstance(e, Var) else e

    bindings: list[Binding] = []
    for b in func.bindings:
        v = b.value
        if isinstance(v, Call):
            args = tuple(sub(a) for a in v.args)
            if args and all(isinstance(a, Constant) for a in args):
                res = try_fold(v.op, [a.data for a in args], v.attrs,  # type: ignore[union-attr]
                               limit=None)
                if res is None and use_tir:
                    res = fold_with_tir(Call(v.op, args, v.attrs, v.type))
                if res is not None:
                    env[id(b.var)] = (Tuple(tuple(Constant(np.asarray(r)) for r in res))
                                      if isinstance(res, tuple) else Constant(np.asarray(res)))
                    continue
            v = Call(v.op, args, v.attrs, v.type)
        elif isinstance(v, TupleGetItem):
            src = sub(v.value)
            if isinstance(src, Tuple):
                env[id(b.var)] = sub(src.fields[v.index])
                continue
            v = TupleGetItem(src, v.index)
        elif isinstance(v, Tuple):
            v = Tuple(tuple(sub(a) for a in v.fields))
        else:
            v = _subst_args(v, sub)
        bindings.append(Binding(b.var, v))
    outputs = [sub(o) for o in func.outputs]
    return func.with_bindings(bindings, outputs)


def _subst_args(v: Expr, sub: Callable[[Expr], Expr]) -> Expr:
    from ..ir import CallTIR

    if isinstance(v, CallTIR):
        return CallTIR(v.func, tuple(sub(a) for a in v.args), v.type)
    return v
