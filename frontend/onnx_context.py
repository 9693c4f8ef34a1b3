"""The ONNX importer's shared pieces: its errors, the import :class:`Context` an op
converter receives, and small helpers for axes, dtypes, pads and op-function factories.

Split from the importer so that the converters (``onnx_ops``) and the driver (``onnx``)
import them from one place.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .ir import BlockBuilder, Constant, Expr, TupleGetItem
from .ir import Tuple as TupleExpr


class ONNXImportError(ValueError):
    """The model cannot be imported (malformed, dynamic shapes, bad input)."""


class UnsupportedOpError(ONNXImportError):
    """Nodes using ops or attributes the importer does not support (all listed)."""

    def __init__(self, entries: list[dict[str, Any]]):
        self.entries = entries
        lines = [f"{len(entries)} unsupported node(s) in the ONNX model:"]
        for e in entries:
            where = f"{e['op_type']} node {e['node']!r} (opset {e['opset']})"
            lines.append(f"  - {where}: {e['reason']}")
        super().__init__("\n".join(lines))


class _Unsupported(Exception):  # noqa: N818 - internal signal, reported per node
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


# ----------------------------------------------------------------------------------------
# the import context


class Context:
    """What an op function may use: the opset, emitting ops, constants and types."""

    def __init__(self, opset: int, bb: BlockBuilder, node_name: str = ""):
        self.opset = opset
        self.bb = bb
        self.node_name = node_name

    # --- values
    def const(self, value: Any, dtype: Any = None, name: str = "") -> Constant:
        return Constant(np.asarray(value, dtype=dtype), name)

    def value(self, e: Expr | None, what: str = "input") -> np.ndarray:
        """The numpy value of a constant input; unsupported if it is computed at run time."""
        if isinstance(e, Constant):
            return e.data
        raise _Unsupported(f"{what} must be a constant (initializer or folded), but is computed")

    def shape(self, e: Expr) -> tuple[int, ...]:
        return e.type.shape  # type: ignore[union-attr]

    def dtype(self, e: Expr) -> str:
        return e.type.dtype  # type: ignore[union-attr]

    def ndim(self, e: Expr) -> int:
        return len(self.shape(e))

    # --- emitting
    def emit(self, op: str, *args: Expr, **attrs: Any) -> Expr:
        """``op(*args, **attrs)``: folded with numpy when every arg is a constant."""
        from .transform.fold_constant import try_fold

        if args and all(isinstance(a, Constant) for a in args):
            folded = try_fold(op, [a.data for a in args], attrs)  # type: ignore[union-attr]
            if folded is not None:
                if isinstance(folded, tuple):
                    return TupleExpr(tuple(Constant(np.asarray(f)) for f in folded))
                return Constant(np.asarray(folded))
        return self.bb.call(op, *args, **attrs)

    def item(self, e: Expr, index: int) -> Expr:
        if isinstance(e, TupleExpr):
            return e.fields[index]
        return self.bb.emit(TupleGetItem(e, index))

    def reshape(self, x: Expr, shape: Sequence[int]) -> Expr:
        shape = tuple(int(s) for s in shape)
        if self.shape(x) == shape:
            return x
        return self.emit("reshape", x, newshape=shape)

    def cast(self, x: Expr, dtype: str) -> Expr:
        return x if self.dtype(x) == dtype else self.emit("astype", x, dtype=dtype)

    def scalar(self, v: Any, like: Expr) -> Constant:
        return self.const(np.asarray(v, dtype=self.dtype(like)))


# ----------------------------------------------------------------------------------------
# helpers


def _axis(a: int, ndim: int) -> int:
    return a + ndim if a < 0 else a


def _np_dtype(onnx_type: int) -> str:
    from onnx import helper

    return str(np.dtype(helper.tensor_dtype_to_np_dtype(onnx_type)))


def _unary(op: str) -> Callable[..., Expr]:
    def f(ctx: Context, x: Expr) -> Expr:
        return ctx.emit(op, x)

    return f


def _binary(op: str) -> Callable[..., Expr]:
    def f(ctx: Context, a: Expr, b: Expr) -> Expr:
        return ctx.emit(op, a, b)

    return f


def _variadic(op: str) -> Callable[..., Expr]:
    def f(ctx: Context, *xs: Expr) -> Expr:
        out = xs[0]
        for x in xs[1:]:
            out = ctx.emit(op, out, x)
        if len(xs) == 1:
            out = ctx.emit("identity", out) if not isinstance(out, Constant) else out
        return out

    return f


def _onnx_pads(pads: Sequence[int] | None, n: int) -> tuple[int, ...]:
    """ONNX pads (x1_begin, x2_begin, ..., x1_end, ...) → (b1, b2, ..., e1, e2, ...)."""
    if pads is None:
        return (0,) * (2 * n)
    return tuple(int(p) for p in pads)


def _auto_pad(
    auto_pad: str, in_sz: Sequence[int], k: Sequence[int], s: Sequence[int], d: Sequence[int],
    pads: Sequence[int] | None,
) -> tuple[int, ...]:
    n = len(in_sz)
    if auto_pad in ("NOTSET", ""):
        return _onnx_pads(pads, n)
    if auto_pad == "VALID":
        return (0,) * (2 * n)
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        begin, end = [], []
        for i in range(n):
            out = -(-in_sz[i] // s[i])
            ke = (k[i] - 1) * d[i] + 1
            total = max(0, (out - 1) * s[i] + ke - in_sz[i])
            lo = total // 2 if auto_pad == "SAME_UPPER" else total - total // 2
            begin.append(lo)
            end.append(total - lo)
        return tuple(begin + end)
    raise _Unsupported(f"attribute auto_pad={auto_pad!r}")
