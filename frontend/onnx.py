"""ONNX importer: ``from_onnx(model) -> IRModule`` with a graph function ``main``.

One function per ONNX op, named exactly like the op (tinygrad's style): it receives the
import context, the node's inputs (graph expressions, ``None`` for an omitted optional
input) and the node's attributes as keyword arguments, and returns the output
expression(s). Opset differences are handled inside the function (``ctx.opset``).
Values that are constant at import (initializers, Constant nodes, shapes of static
tensors) are evaluated with numpy as the graph is built, so shape arithmetic
(Shape → Gather → Concat → Reshape chains) folds away. Every node is checked before
conversion; unsupported ops and attributes are reported together in one
:class:`UnsupportedOpError`.
"""

from __future__ import annotations

import functools
import inspect
import math
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .ir import BlockBuilder, Constant, Expr, Function, IRModule, TensorType, TupleGetItem, Var
from .ir import Tuple as TupleExpr

__all__ = ["ONNXImportError", "UnsupportedOpError", "from_onnx", "supported_ops"]

#: opsets the importer follows op by op (newer opsets only widen types of the listed ops,
#: so they are accepted too; a model older than MIN_OPSET imports when each of its ops
#: is unchanged between the model's opset and MIN_OPSET, see ``_check_old_opset``)
MIN_OPSET, MAX_OPSET = 7, 21


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


# ----------------------------------------------------------------------------------------
# elementwise and broadcast ops

Sqrt = _unary("sqrt")
Exp = _unary("exp")
Log = _unary("log")
Erf = _unary("erf")
Tanh = _unary("tanh")
Sigmoid = _unary("sigmoid")
Relu = _unary("relu")
Neg = _unary("negative")
Abs = _unary("abs")
Reciprocal = _unary("reciprocal")
Floor = _unary("floor")
Ceil = _unary("ceil")
Not = _unary("logical_not")
Sign = _unary("sign")
Round = _unary("round")
HardSwish = _unary("hard_swish")
Softplus = _unary("softplus")
Add = _binary("add")
Sub = _binary("subtract")
Mul = _binary("multiply")
Div = _binary("divide")
Equal = _binary("equal")
Less = _binary("less")
Greater = _binary("greater")
LessOrEqual = _binary("less_equal")
GreaterOrEqual = _binary("greater_equal")
And = _binary("logical_and")
Or = _binary("logical_or")
Max = _variadic("maximum")
Min = _variadic("minimum")
Sum = _variadic("add")


def Pow(ctx: Context, x: Expr, y: Expr) -> Expr:
    return ctx.emit("power", x, y)


def Mean(ctx: Context, *xs: Expr) -> Expr:
    out = Sum(ctx, *xs)
    return ctx.emit("divide", out, ctx.scalar(len(xs), out))


def LeakyRelu(ctx: Context, x: Expr, *, alpha: float = 0.01) -> Expr:
    return ctx.emit("leaky_relu", x, alpha=alpha)


def Elu(ctx: Context, x: Expr, *, alpha: float = 1.0) -> Expr:
    return ctx.emit("elu", x, alpha=alpha)


def Selu(ctx: Context, x: Expr, *, alpha: float = 1.67326319217681884765625,
         gamma: float = 1.05070102214813232421875) -> Expr:
    return ctx.emit("selu", x, alpha=alpha, gamma=gamma)


def HardSigmoid(ctx: Context, x: Expr, *, alpha: float = 0.2, beta: float = 0.5) -> Expr:
    return ctx.emit("hard_sigmoid", x, alpha=alpha, beta=beta)


def Gelu(ctx: Context, x: Expr, *, approximate: str = "none") -> Expr:
    return ctx.emit("gelu", x, approximate=approximate)


def Clip(ctx: Context, x: Expr, lo: Expr | None = None, hi: Expr | None = None, *,
         min: float | None = None, max: float | None = None) -> Expr:  # noqa: A002
    if ctx.opset < 11:
        return ctx.emit("clip", x, a_min=min, a_max=max)
    a_min = a_max = None
    out = x
    if lo is not None:
        if isinstance(lo, Constant):
            a_min = lo.data.item()
        else:
            out = ctx.emit("maximum", out, lo)
    if hi is not None:
        if isinstance(hi, Constant):
            a_max = hi.data.item()
        else:
            out = ctx.emit("minimum", out, hi)
    if a_min is None and a_max is None:
        return out if out is not x else ctx.emit("identity", x)
    if a_min is not None and a_max is not None and a_min > a_max:
        # ONNX: min > max gives max everywhere
        a_min = a_max
    return ctx.emit("clip", out, a_min=a_min, a_max=a_max)


def Where(ctx: Context, c: Expr, x: Expr, y: Expr) -> Expr:
    return ctx.emit("where", c, x, y)


def Cast(ctx: Context, x: Expr, *, to: int, saturate: int = 1, round_mode: str = "up") -> Expr:
    dtype = _np_dtype(to)
    if dtype not in _SUPPORTED_DTYPES:
        raise _Unsupported(f"attribute to={to} (dtype {dtype})")
    return _cast_to(ctx, x, dtype, saturate, round_mode)


def CastLike(ctx: Context, x: Expr, like: Expr, *, saturate: int = 1,
             round_mode: str = "up") -> Expr:
    return _cast_to(ctx, x, ctx.dtype(like), saturate, round_mode)


def _cast_to(ctx: Context, x: Expr, dtype: str, saturate: int = 1,
             round_mode: str = "up") -> Expr:
    """ONNX Cast; the narrow dtypes (bfloat16, float8, 4-/2-bit) use the 'cast' op."""
    from onnxtune.tir.dtype import NARROW_DTYPES

    src = ctx.dtype(x)
    if src not in _SUPPORTED_DTYPES:
        raise _Unsupported(f"input dtype {src}")
    if round_mode not in ("up", "down", "nearest"):
        raise _Unsupported(f"attribute round_mode={round_mode!r}")
    if dtype not in NARROW_DTYPES and src not in NARROW_DTYPES:
        if isinstance(x, Constant):
            return ctx.const(x.data.astype(dtype))
        return ctx.cast(x, dtype)
    if src == dtype:
        return x
    attrs = {"dtype": dtype, "saturate": bool(saturate), "round_mode": round_mode}
    if isinstance(x, Constant):
        from .op.cast import cast_numpy

        return ctx.const(cast_numpy(x.data, **attrs))
    return ctx.emit("cast", x, **attrs)


_SUPPORTED_DTYPES = {"float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8",
                     "uint16", "uint32", "uint64", "bool", "bfloat16", "float8_e4m3fn",
                     "float8_e4m3fnuz", "float8_e5m2", "float8_e5m2fnuz", "float8_e8m0fnu",
                     "float4_e2m1fn", "int4", "uint4", "int2", "uint2"}


def Identity(ctx: Context, x: Expr) -> Expr:
    return x


def Dropout(ctx: Context, x: Expr, ratio_in: Expr | None = None,
            training_mode: Expr | None = None, *, ratio: float = 0.5, seed: int = 0,
            is_test: int = 0) -> Expr | list[Expr]:
    if training_mode is not None:
        if not isinstance(training_mode, Constant):
            raise _Unsupported("Dropout's training_mode must be a constant")
        if bool(training_mode.data.item()):
            # training: each element is zeroed with probability ratio (a random draw) and
            # the rest scaled by 1 / (1 - ratio); only ratio 0 is deterministic (identity)
            r = ratio if ratio_in is None else ctx.value(ratio_in, "ratio").item()
            if float(r) != 0.0:
                raise _Unsupported(
                    f"Dropout in training mode with ratio {float(r)} (a random mask; only "
                    f"ratio 0, the identity, is deterministic)")
    mask = ctx.const(np.ones(ctx.shape(x), dtype=bool))
    return [x, mask]


# ----------------------------------------------------------------------------------------
# constants and shapes


def Constant_(ctx: Context, *, value: Any = None, value_float: float | None = None,
              value_floats: Sequence[float] | None = None, value_int: int | None = None,
              value_ints: Sequence[int] | None = None, value_string: Any = None,
              value_strings: Any = None, sparse_value: Any = None) -> Expr:
    if value_string is not None or value_strings is not None:
        raise _Unsupported("attribute value_string(s): string tensors are not supported")
    if sparse_value is not None:
        raise _Unsupported("attribute sparse_value: sparse tensors are not supported")
    if value is not None:
        return ctx.const(value)
    if value_float is not None:
        return ctx.const(value_float, np.float32)
    if value_floats is not None:
        return ctx.const(list(value_floats), np.float32)
    if value_int is not None:
        return ctx.const(value_int, np.int64)
    if value_ints is not None:
        return ctx.const(list(value_ints), np.int64)
    raise _Unsupported("Constant without a value attribute")


def ConstantOfShape(ctx: Context, shape: Expr, *, value: Any = None) -> Expr:
    shp = tuple(int(s) for s in ctx.value(shape, "shape"))
    v = np.zeros((1,), np.float32) if value is None else np.asarray(value)
    return ctx.const(np.full(shp, v.reshape(-1)[0], dtype=v.dtype))


def Shape(ctx: Context, x: Expr, *, start: int = 0, end: int | None = None) -> Expr:
    shp = ctx.shape(x)
    return ctx.const(np.array(shp[start:end] if end is not None else shp[start:], np.int64))


def Size(ctx: Context, x: Expr) -> Expr:
    return ctx.const(np.array(int(np.prod(ctx.shape(x))), np.int64))


# ----------------------------------------------------------------------------------------
# convolution, normalization, matmul, pooling


def Conv(ctx: Context, x: Expr, w: Expr, b: Expr | None = None, *, auto_pad: str = "NOTSET",
         dilations: Sequence[int] | None = None, group: int = 1,
         kernel_shape: Sequence[int] | None = None, pads: Sequence[int] | None = None,
         strides: Sequence[int] | None = None) -> Expr:
    n = ctx.ndim(x) - 2
    if n not in (1, 2, 3):
        raise _Unsupported(f"Conv on a {n}-d input (1-, 2- and 3-d are supported)")
    ks = tuple(ctx.shape(w)[2:])
    s = tuple(strides or (1,) * n)
    d = tuple(dilations or (1,) * n)
    p = _auto_pad(auto_pad, ctx.shape(x)[2:], ks, s, d, pads)
    op = {1: "nn.conv1d", 2: "nn.conv2d", 3: "nn.conv3d"}[n]
    out = ctx.emit(op, x, w, strides=s, padding=p, dilation=d, groups=group)
    if b is not None:
        out = ctx.emit("add", out, ctx.reshape(b, (ctx.shape(b)[0],) + (1,) * n))
    return out


def ConvTranspose(ctx: Context, x: Expr, w: Expr, b: Expr | None = None, *,
                  auto_pad: str = "NOTSET", dilations: Sequence[int] | None = None,
                  group: int = 1, kernel_shape: Sequence[int] | None = None,
                  output_padding: Sequence[int] | None = None,
                  output_shape: Sequence[int] | None = None, pads: Sequence[int] | None = None,
                  strides: Sequence[int] | None = None) -> Expr:
    n = ctx.ndim(x) - 2
    if n == 1:  # as 2-d over (1, L)
        xs, ws = ctx.shape(x), ctx.shape(w)
        x2 = ctx.reshape(x, (*xs[:2], 1, xs[2]))
        w2 = ctx.reshape(w, (*ws[:2], 1, ws[2]))
        one = lambda v, z: None if v is None else (z, *v)  # noqa: E731
        p2 = None if pads is None else (0, pads[0], 0, pads[1])
        y = ConvTranspose(ctx, x2, w2, b, auto_pad=auto_pad, dilations=one(dilations, 1),
                          group=group, output_padding=one(output_padding, 0),
                          output_shape=one(output_shape, 1), pads=p2,
                          strides=one(strides, 1))
        ys = ctx.shape(y)
        return ctx.reshape(y, (*ys[:2], ys[3]))
    if n not in (2, 3):
        raise _Unsupported(f"ConvTranspose on a {n}-d input (1-, 2- and 3-d are supported)")
    ks = tuple(ctx.shape(w)[2:])
    s = tuple(strides or (1,) * n)
    d = tuple(dilations or (1,) * n)
    op_ = list(output_padding or (0,) * n)
    in_sz = ctx.shape(x)[2:]
    if output_shape is not None or auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        target = (tuple(output_shape)[-n:] if output_shape is not None
                  else tuple(in_sz[i] * s[i] for i in range(n)))
        begin, end = [], []
        for i in range(n):
            total = s[i] * (in_sz[i] - 1) + op_[i] + ((ks[i] - 1) * d[i] + 1) - target[i]
            if total < 0:  # a larger output than the kernel covers: extra output padding
                op_[i] -= total
                total = 0
            if auto_pad == "SAME_UPPER":
                lo = total // 2
            else:
                lo = total - total // 2
            begin.append(lo)
            end.append(total - lo)
        p = tuple(begin + end)
    elif auto_pad == "VALID":
        p = (0,) * (2 * n)
    else:
        p = _onnx_pads(pads, n)
    out = ctx.emit(f"nn.conv{n}d_transpose", x, w, strides=s, padding=p,
                   output_padding=tuple(op_), dilation=d, groups=group)
    if b is not None:
        out = ctx.emit("add", out, ctx.reshape(b, (ctx.shape(b)[0],) + (1,) * n))
    return out


def BatchNormalization(ctx: Context, x: Expr, scale: Expr, bias: Expr, mean: Expr,
                       var: Expr, *, epsilon: float = 1e-5, momentum: float = 0.9,
                       spatial: int = 1, training_mode: int = 0,
                       _num_node_outputs: int = 1) -> Expr | list[Expr]:
    if not spatial:
        raise _Unsupported("attribute spatial=0")
    if not training_mode:
        if _num_node_outputs > 1 and ctx.opset < 14:
            raise _Unsupported(f"{_num_node_outputs} outputs (training-mode BatchNormalization "
                               f"before opset 14: mean, var, saved_mean, saved_var)")
        return ctx.emit("nn.batch_norm", x, scale, bias, mean, var, axis=1, epsilon=epsilon)
    # training mode (opset 14+): normalize with the batch statistics (population variance
    # over every axis but the channel) and return the updated running statistics
    nd = ctx.ndim(x)
    c = ctx.shape(x)[1]
    axes = (0, *range(2, nd))
    xf = ctx.cast(x, "float32") if ctx.dtype(x) == "float16" else x
    bmean = ctx.emit("mean", xf, axis=axes, keepdims=True)
    d = ctx.emit("subtract", xf, bmean)
    bvar = ctx.emit("mean", ctx.emit("multiply", d, d), axis=axes, keepdims=False)
    bmean = ctx.reshape(bmean, (c,))
    y = ctx.emit("nn.batch_norm", xf, ctx.cast(scale, ctx.dtype(xf)),
                 ctx.cast(bias, ctx.dtype(xf)), bmean, bvar, axis=1, epsilon=epsilon)
    y = ctx.cast(y, ctx.dtype(x))

    def running(r: Expr, b: Expr) -> Expr:
        b = ctx.cast(b, ctx.dtype(r))
        return ctx.emit("add", ctx.emit("multiply", r, ctx.scalar(momentum, r)),
                        ctx.emit("multiply", b, ctx.scalar(1.0 - momentum, r)))

    return [y, running(mean, bmean), running(var, bvar)]


def InstanceNormalization(ctx: Context, x: Expr, scale: Expr, bias: Expr, *,
                          epsilon: float = 1e-5) -> Expr:
    return ctx.emit("nn.instance_norm", x, scale, bias, epsilon=epsilon)


def LayerNormalization(ctx: Context, x: Expr, scale: Expr, bias: Expr | None = None, *,
                       axis: int = -1, epsilon: float = 1e-5, stash_type: int = 1,
                       _num_node_outputs: int = 1) -> Expr | list[Expr]:
    nd = ctx.ndim(x)
    a = _axis(axis, nd)
    axes = tuple(range(a, nd))
    if bias is None:
        y = ctx.emit("nn.layer_norm", x, scale, axes=axes, epsilon=epsilon)
    else:
        y = ctx.emit("nn.layer_norm", x, scale, bias, axes=axes, epsilon=epsilon)
    if _num_node_outputs == 1:
        return y
    # the optional outputs: Mean and InvStdDev over the normalized axes (kept as size 1)
    mean = ctx.emit("mean", x, axis=axes, keepdims=True)
    d = ctx.emit("subtract", x, mean)
    var = ctx.emit("mean", ctx.emit("multiply", d, d), axis=axes, keepdims=True)
    inv = ctx.emit("rsqrt", ctx.emit("add", var, ctx.scalar(epsilon, var)))
    return [y, mean, inv]


def LRN(ctx: Context, x: Expr, *, size: int, alpha: float = 1e-4, beta: float = 0.75,
        bias: float = 1.0) -> Expr:
    return ctx.emit("nn.lrn", x, size=size, alpha=alpha, beta=beta, bias=bias)


def MatMul(ctx: Context, a: Expr, b: Expr) -> Expr:
    return ctx.emit("matmul", a, b)


def Gemm(ctx: Context, a: Expr, b: Expr, c: Expr | None = None, *, alpha: float = 1.0,
         beta: float = 1.0, transA: int = 0, transB: int = 0) -> Expr:  # noqa: N803
    if transA:
        a = ctx.emit("transpose", a, axes=(1, 0))
    if transB:  # a @ b.T: the weight stays [N, K] (no transposed copy)
        out = ctx.emit("nn.dense", a, b)
    else:
        out = ctx.emit("matmul", a, b)
    if alpha != 1.0:
        out = ctx.emit("multiply", out, ctx.scalar(alpha, out))
    if c is not None and beta != 0.0:
        if beta != 1.0:
            c = ctx.emit("multiply", c, ctx.scalar(beta, c))
        out = ctx.emit("add", out, c)
    return out


def _pool(ctx: Context, kind: str, x: Expr, auto_pad: str, ceil_mode: int,
          dilations: Sequence[int] | None, kernel_shape: Sequence[int],
          pads: Sequence[int] | None, strides: Sequence[int] | None,
          count_include_pad: int = 0, storage_order: int = 0,
          with_indices: bool = False) -> Expr | list[Expr]:
    n = ctx.ndim(x) - 2
    if n == 1:  # as 2-d pooling over (1, L) (flat indices are the same: H = 1)
        shp = ctx.shape(x)
        x2 = ctx.reshape(x, (*shp[:2], 1, shp[2]))
        ks1, s1, d1 = tuple(kernel_shape), tuple(strides or (1,)), tuple(dilations or (1,))
        p1 = _auto_pad(auto_pad, shp[2:], ks1, s1, d1, pads)
        y = _pool(ctx, kind, x2, "NOTSET", ceil_mode, (1, *d1), (1, *ks1),
                  (0, p1[0], 0, p1[1]), (1, *s1), count_include_pad, storage_order,
                  with_indices)
        ys = y if isinstance(y, list) else [y]
        out = [ctx.reshape(v, (*ctx.shape(v)[:2], ctx.shape(v)[3])) for v in ys]
        return out if with_indices else out[0]
    if n not in (2, 3):
        raise _Unsupported(f"{kind} pooling on a {n}-d input (1-, 2- and 3-d are supported)")
    ks = tuple(kernel_shape)
    s = tuple(strides or (1,) * n)
    d = tuple(dilations or (1,) * n)
    p = _auto_pad(auto_pad, ctx.shape(x)[2:], ks, s, d, pads)
    attrs: dict[str, Any] = {"pool_size": ks, "strides": s, "padding": p, "dilation": d,
                             "ceil_mode": bool(ceil_mode)}
    if kind == "avg":
        attrs["count_include_pad"] = bool(count_include_pad)
        return ctx.emit(f"nn.avg_pool{n}d", x, **attrs)
    if with_indices:
        out = ctx.emit(f"nn.max_pool{n}d_with_indices", x, storage_order=storage_order,
                       **attrs)
        return [ctx.item(out, 0), ctx.item(out, 1)]
    return ctx.emit(f"nn.max_pool{n}d", x, **attrs)


def MaxPool(ctx: Context, x: Expr, *, auto_pad: str = "NOTSET", ceil_mode: int = 0,
            dilations: Sequence[int] | None = None, kernel_shape: Sequence[int] = (),
            pads: Sequence[int] | None = None, storage_order: int = 0,
            strides: Sequence[int] | None = None,
            _num_node_outputs: int = 1) -> Expr | list[Expr]:
    return _pool(ctx, "max", x, auto_pad, ceil_mode, dilations, kernel_shape, pads, strides,
                 storage_order=storage_order, with_indices=_num_node_outputs > 1)


def AveragePool(ctx: Context, x: Expr, *, auto_pad: str = "NOTSET", ceil_mode: int = 0,
                count_include_pad: int = 0, dilations: Sequence[int] | None = None,
                kernel_shape: Sequence[int] = (), pads: Sequence[int] | None = None,
                strides: Sequence[int] | None = None) -> Expr:
    return _pool(ctx, "avg", x, auto_pad, ceil_mode, dilations, kernel_shape, pads, strides,
                 count_include_pad)


def GlobalAveragePool(ctx: Context, x: Expr) -> Expr:
    if ctx.ndim(x) == 4:
        return ctx.emit("nn.global_avg_pool2d", x)
    return ctx.emit("mean", x, axis=tuple(range(2, ctx.ndim(x))), keepdims=True)


def GlobalMaxPool(ctx: Context, x: Expr) -> Expr:
    if ctx.ndim(x) == 4:
        return ctx.emit("nn.global_max_pool2d", x)
    return ctx.emit("max", x, axis=tuple(range(2, ctx.ndim(x))), keepdims=True)


# ----------------------------------------------------------------------------------------
# shape manipulation


def Flatten(ctx: Context, x: Expr, *, axis: int = 1) -> Expr:
    shp = ctx.shape(x)
    a = _axis(axis, len(shp))
    return ctx.reshape(x, (int(np.prod(shp[:a])), int(np.prod(shp[a:]))))


def Reshape(ctx: Context, x: Expr, shape: Expr | None = None, *,
            allowzero: int = 0) -> Expr:
    if shape is None:
        raise _Unsupported("Reshape without a shape input (opset < 5 form)")
    target = [int(s) for s in ctx.value(shape, "shape")]
    in_shape = ctx.shape(x)
    out = []
    for i, s in enumerate(target):
        out.append(in_shape[i] if s == 0 and not allowzero else s)
    if -1 in out:
        known = int(np.prod([s for s in out if s != -1]))
        total = int(np.prod(in_shape))
        out[out.index(-1)] = total // known if known else 0
    return ctx.reshape(x, out)


def Transpose(ctx: Context, x: Expr, *, perm: Sequence[int] | None = None) -> Expr:
    axes = tuple(perm) if perm is not None else tuple(reversed(range(ctx.ndim(x))))
    if axes == tuple(range(len(axes))):
        return x
    return ctx.emit("transpose", x, axes=axes)


def Concat(ctx: Context, *xs: Expr, axis: int = 0) -> Expr:
    xs = tuple(x for x in xs if 0 not in ctx.shape(x)) or xs[:1]
    if len(xs) == 1:
        return xs[0]
    return ctx.emit("concat", *xs, axis=axis)


def Split(ctx: Context, x: Expr, split_in: Expr | None = None, *, axis: int = 0,
          split: Sequence[int] | None = None, num_outputs: int | None = None,
          _num_node_outputs: int = 1) -> list[Expr]:
    size = ctx.shape(x)[_axis(axis, ctx.ndim(x))]
    if split_in is not None:
        split = [int(v) for v in ctx.value(split_in, "split")]
    if split is None:
        k = num_outputs or _num_node_outputs
        chunk = -(-size // k)
        split = [min(chunk, size - i * chunk) for i in range(k)]
    indices = tuple(int(v) for v in np.cumsum(split)[:-1])
    out = ctx.emit("split", x, indices_or_sections=indices, axis=axis)
    return [ctx.item(out, i) for i in range(len(split))]


def Slice(ctx: Context, x: Expr, starts_in: Expr | None = None, ends_in: Expr | None = None,
          axes_in: Expr | None = None, steps_in: Expr | None = None, *,
          starts: Sequence[int] | None = None, ends: Sequence[int] | None = None,
          axes: Sequence[int] | None = None) -> Expr:
    if ctx.opset >= 10:
        starts = [int(v) for v in ctx.value(starts_in, "starts")]
        ends = [int(v) for v in ctx.value(ends_in, "ends")]
        axes = None if axes_in is None else [int(v) for v in ctx.value(axes_in, "axes")]
        steps = None if steps_in is None else [int(v) for v in ctx.value(steps_in, "steps")]
    else:
        steps = None
    axes = list(axes) if axes is not None else list(range(len(starts)))
    return ctx.emit("strided_slice", x, begin=tuple(starts), end=tuple(ends),
                    strides=tuple(steps) if steps is not None else None, axes=tuple(axes))


def Gather(ctx: Context, data: Expr, indices: Expr, *, axis: int = 0) -> Expr:
    return ctx.emit("take", data, indices, axis=axis)


def GatherElements(ctx: Context, data: Expr, indices: Expr, *, axis: int = 0) -> Expr:
    return ctx.emit("gather_elements", data, indices, axis=axis)


def Squeeze(ctx: Context, x: Expr, axes_in: Expr | None = None, *,
            axes: Sequence[int] | None = None) -> Expr:
    shp = ctx.shape(x)
    if axes_in is not None:
        axes = [int(v) for v in ctx.value(axes_in, "axes")]
    if axes is None:
        drop = {i for i, s in enumerate(shp) if s == 1}
    else:
        drop = {_axis(int(a), len(shp)) for a in axes}
    return ctx.reshape(x, [s for i, s in enumerate(shp) if i not in drop])


def Unsqueeze(ctx: Context, x: Expr, axes_in: Expr | None = None, *,
              axes: Sequence[int] | None = None) -> Expr:
    if axes_in is not None:
        axes = [int(v) for v in ctx.value(axes_in, "axes")]
    if axes is None:
        raise _Unsupported("Unsqueeze without axes")
    shp = list(ctx.shape(x))
    nd = len(shp) + len(axes)
    for a in sorted(_axis(int(a), nd) for a in axes):
        shp.insert(a, 1)
    return ctx.reshape(x, shp)


def Expand(ctx: Context, x: Expr, shape: Expr) -> Expr:
    target = [int(s) for s in ctx.value(shape, "shape")]
    out = np.broadcast_shapes(tuple(ctx.shape(x)), tuple(target))
    if tuple(out) == ctx.shape(x):
        return x
    return ctx.emit("broadcast_to", x, shape=tuple(int(s) for s in out))


def Tile(ctx: Context, x: Expr, repeats: Expr) -> Expr:
    reps = tuple(int(v) for v in ctx.value(repeats, "repeats"))
    return ctx.emit("tile", x, reps=reps)


def Pad(ctx: Context, x: Expr, pads_in: Expr | None = None, value_in: Expr | None = None,
        axes_in: Expr | None = None, *, mode: str = "constant",
        pads: Sequence[int] | None = None, value: float = 0.0) -> Expr:
    nd = ctx.ndim(x)
    if ctx.opset >= 11:
        pads = [int(v) for v in ctx.value(pads_in, "pads")]
        if value_in is not None:
            value = ctx.value(value_in, "constant_value").item()
    if mode not in ("constant", "edge", "reflect", "wrap"):
        raise _Unsupported(f"attribute mode={mode!r}")
    axes = list(range(nd))
    if axes_in is not None:
        axes = [_axis(int(a), nd) for a in ctx.value(axes_in, "axes")]
    k = len(axes)
    width = [(0, 0)] * nd
    for i, a in enumerate(axes):
        width[a] = (int(pads[i]), int(pads[i + k]))
    shp = ctx.shape(x)
    if any(s + b + e < 0 for s, (b, e) in zip(shp, width, strict=True)):
        raise ValueError(f"pads {pads} crop the input {shp} below zero")
    return ctx.emit("nn.pad", x, pad_width=tuple(width), pad_value=float(value), mode=mode)


def Resize(ctx: Context, x: Expr, roi: Expr | None = None, scales: Expr | None = None,
           sizes: Expr | None = None, *, antialias: int = 0, axes: Sequence[int] | None = None,
           coordinate_transformation_mode: str = "half_pixel", cubic_coeff_a: float = -0.75,
           exclude_outside: int = 0, extrapolation_value: float = 0.0,
           keep_aspect_ratio_policy: str = "stretch", mode: str = "nearest",
           nearest_mode: str = "round_prefer_floor") -> Expr:
    if ctx.ndim(x) != 4:
        raise _Unsupported(f"Resize of a {ctx.ndim(x)}-d input (4-d NCHW is supported)")
    if ctx.opset == 10:  # Resize-10: (X, scales), asymmetric
        scales, sizes, roi = roi, None, None
        coordinate_transformation_mode = "asymmetric"
        nearest_mode = "floor"
    method = {"nearest": "nearest", "linear": "linear", "cubic": "cubic"}.get(mode)
    if method is None:
        raise _Unsupported(f"attribute mode={mode!r}")
    if antialias and method == "nearest":
        raise _Unsupported("attribute antialias=1 with mode='nearest'")
    if keep_aspect_ratio_policy not in ("stretch", "not_larger", "not_smaller"):
        raise _Unsupported(f"attribute keep_aspect_ratio_policy={keep_aspect_ratio_policy!r}")
    shp = ctx.shape(x)
    ax = [_axis(int(a), 4) for a in axes] if axes is not None else list(range(4))
    full = list(shp)
    all_sc = [1.0] * 4
    given_scales: tuple[float, float] | None = None
    if sizes is not None and ctx.shape(sizes) != (0,):
        sz = [int(v) for v in ctx.value(sizes, "sizes")]
        if len(sz) != len(ax):
            raise ValueError(f"sizes has {len(sz)} values for {len(ax)} axes")
        for a, v in zip(ax, sz, strict=True):
            full[a] = v
        if keep_aspect_ratio_policy != "stretch":
            # one scale for every resized axis: the smallest / largest sizes[i] / in[i]
            ratios = [sz[i] / shp[a] for i, a in enumerate(ax)]
            k = min(ratios) if keep_aspect_ratio_policy == "not_larger" else max(ratios)
            for a in ax:
                full[a] = int(k * shp[a] + 0.5)
                all_sc[a] = k
            given_scales = (all_sc[2], all_sc[3])
    else:
        sc = [float(v) for v in ctx.value(scales, "scales")]
        if len(sc) != len(ax):
            raise ValueError(f"scales has {len(sc)} values for {len(ax)} axes")
        for a, v in zip(ax, sc, strict=True):
            full[a] = int(math.floor(shp[a] * v))
            all_sc[a] = v
        given_scales = (all_sc[2], all_sc[3])
    boxes = [(0.0, 1.0)] * 4
    if coordinate_transformation_mode == "tf_crop_and_resize":
        r = [float(v) for v in ctx.value(roi, "roi")] if roi is not None else []
        if len(r) != 2 * len(ax):
            raise ValueError(f"tf_crop_and_resize needs roi of {2 * len(ax)} values "
                             f"(starts, then ends, per resized axis), got {len(r)}")
        for i, a in enumerate(ax):
            boxes[a] = (r[i], r[len(ax) + i])
    for a in (0, 1):
        if full[a] != shp[a] or all_sc[a] != 1.0 or boxes[a] != (0.0, 1.0):
            raise _Unsupported("Resize of the batch or channel dimension")
    attrs: dict[str, Any] = {}
    if coordinate_transformation_mode == "tf_crop_and_resize":
        attrs = {"roi": (boxes[2], boxes[3]), "extrapolation_value": float(extrapolation_value)}
    if antialias:
        attrs["antialias"] = True
    return ctx.emit("image.resize2d", x, size=(full[2], full[3]), method=method,
                    coordinate_transformation_mode=coordinate_transformation_mode,
                    nearest_mode=nearest_mode, cubic_coeff_a=cubic_coeff_a,
                    exclude_outside=bool(exclude_outside), scales=given_scales, **attrs)


# ----------------------------------------------------------------------------------------
# reductions, softmax, einsum, topk


def _reduce(op: str, first_input_opset: int) -> Callable[..., Expr]:
    def f(ctx: Context, x: Expr, axes_in: Expr | None = None, *,
          axes: Sequence[int] | None = None, keepdims: int = 1,
          noop_with_empty_axes: int = 0) -> Expr:
        if axes_in is not None:
            axes = [int(v) for v in ctx.value(axes_in, "axes")]
        if not axes:
            if noop_with_empty_axes:
                return x
            axes = None
        ax = tuple(axes) if axes is not None else None
        shp = ctx.shape(x)
        red = range(len(shp)) if ax is None else [_axis(int(a), len(shp)) for a in ax]
        if any(shp[a] == 0 for a in red):  # reducing an empty set: the identity value
            out = [1 if i in red else d for i, d in enumerate(shp)] if keepdims else \
                [d for i, d in enumerate(shp) if i not in red]
            return ctx.const(np.full(out, _EMPTY_REDUCE[op](ctx.dtype(x)), ctx.dtype(x)))
        return ctx.emit(op, x, axis=ax, keepdims=bool(keepdims))

    return f


def _lowest(dtype: str) -> Any:
    d = np.dtype(dtype)
    if d == np.bool_:
        return False
    return -np.inf if d.kind == "f" else np.iinfo(d).min


def _highest(dtype: str) -> Any:
    d = np.dtype(dtype)
    if d == np.bool_:
        return True
    return np.inf if d.kind == "f" else np.iinfo(d).max


_EMPTY_REDUCE: dict[str, Callable[[str], Any]] = {
    "sum": lambda d: 0, "prod": lambda d: 1, "max": _lowest, "min": _highest,
    "mean": lambda d: np.nan,
}

ReduceMean = _reduce("mean", 18)
ReduceSum = _reduce("sum", 13)
ReduceMax = _reduce("max", 18)
ReduceMin = _reduce("min", 18)
ReduceProd = _reduce("prod", 18)


def ArgMax(ctx: Context, x: Expr, *, axis: int = 0, keepdims: int = 1,
           select_last_index: int = 0) -> Expr:
    return ctx.emit("argmax", x, axis=axis, keepdims=bool(keepdims),
                    select_last_index=bool(select_last_index))


def ArgMin(ctx: Context, x: Expr, *, axis: int = 0, keepdims: int = 1,
           select_last_index: int = 0) -> Expr:
    return ctx.emit("argmin", x, axis=axis, keepdims=bool(keepdims),
                    select_last_index=bool(select_last_index))


def _softmax(op: str) -> Callable[..., Expr]:
    def f(ctx: Context, x: Expr, *, axis: int | None = None) -> Expr:
        nd = ctx.ndim(x)
        if ctx.opset >= 13:
            return ctx.emit(op, x, axis=-1 if axis is None else axis)
        a = _axis(1 if axis is None else axis, nd)
        shp = ctx.shape(x)
        if a == nd - 1:
            return ctx.emit(op, x, axis=-1)
        flat = ctx.reshape(x, (int(np.prod(shp[:a])), int(np.prod(shp[a:]))))
        return ctx.reshape(ctx.emit(op, flat, axis=-1), shp)

    return f


Softmax = _softmax("nn.softmax")
LogSoftmax = _softmax("nn.log_softmax")


def Einsum(ctx: Context, *xs: Expr, equation: str) -> Expr:
    from onnxtune.tir.dtype import NARROW_DTYPES

    if xs and ctx.dtype(xs[0]) in NARROW_DTYPES:  # storage-only: compute in float32
        narrow = ctx.dtype(xs[0])
        xs = tuple(_cast_to(ctx, x, "float32") for x in xs)
        out = ctx.emit("einsum", *xs, subscripts=equation.replace(" ", ""))
        return _cast_to(ctx, out, narrow)
    return ctx.emit("einsum", *xs, subscripts=equation.replace(" ", ""))


def TopK(ctx: Context, x: Expr, k_in: Expr | None = None, *, axis: int = -1, largest: int = 1,
         sorted: int = 1, k: int | None = None) -> list[Expr]:  # noqa: A002
    if k_in is not None:
        k = int(ctx.value(k_in, "K").reshape(-1)[0])
    out = ctx.emit("topk", x, k=k, axis=axis, largest=bool(largest), sorted=bool(sorted))
    return [ctx.item(out, 0), ctx.item(out, 1)]


# ----------------------------------------------------------------------------------------
# the op table

_OPS: dict[str, Callable[..., Any]] = {
    name: fn
    for name, fn in globals().items()
    if callable(fn) and name[:1].isupper() and not name.startswith("_")
    and name not in ("Context", "ONNXImportError", "UnsupportedOpError", "BlockBuilder",
                     "Constant", "Expr", "Function", "IRModule", "TensorType",
                     "TupleGetItem", "Var", "TupleExpr", "Callable", "Sequence", "Any")
}
_OPS["Constant"] = Constant_
del _OPS["Constant_"]

#: attributes that are accepted and ignored (they do not change inference results)
_IGNORED_ATTRS = {"Dropout": {"seed"}, "BatchNormalization": {"is_test"},
                  "LayerNormalization": {"stash_type"}}


def supported_ops() -> list[str]:
    """The ONNX op types this importer converts."""
    return sorted(_OPS)


@functools.cache
def _signature(fn: Callable[..., Any]) -> tuple[int | None, frozenset[str], frozenset[str]]:
    """(max inputs or None for variadic, attribute names, private keywords) of an op."""
    sig = inspect.signature(fn)
    n_in: int | None = 0
    attrs = set()
    private = set()
    for name, p in list(sig.parameters.items())[1:]:
        if p.kind == p.VAR_POSITIONAL:
            n_in = None
        elif p.kind == p.KEYWORD_ONLY:
            (private if name.startswith("_") else attrs).add(name)
        elif n_in is not None:
            n_in += 1
    return n_in, frozenset(attrs), frozenset(private)


def _attribute_value(attr: Any) -> Any:
    from onnx import helper, numpy_helper

    v = helper.get_attribute_value(attr)
    if isinstance(v, bytes):
        return v.decode("utf-8")
    if attr.type == attr.TENSOR:
        return numpy_helper.to_array(v).copy()
    if isinstance(v, list) and v and isinstance(v[0], bytes):
        return [x.decode("utf-8") for x in v]
    return v


# ----------------------------------------------------------------------------------------
# the importer


def _load_model(model_or_path: Any) -> Any:
    import onnx

    if isinstance(model_or_path, (str, os.PathLike)):
        path = os.fspath(model_or_path)
        if not os.path.exists(path):
            raise ONNXImportError(f"ONNX model file {path!r} does not exist")
        try:
            return onnx.load(path)
        except Exception as e:  # noqa: BLE001 - any decode failure is a malformed file
            raise ONNXImportError(
                f"{path!r} is not a valid ONNX model (protobuf parse failed: {e})"
            ) from None
    if isinstance(model_or_path, bytes):
        try:
            return onnx.load_from_string(model_or_path)
        except Exception as e:  # noqa: BLE001
            raise ONNXImportError(f"bytes are not a valid ONNX model: {e}") from None
    if isinstance(model_or_path, onnx.ModelProto):
        return model_or_path
    raise TypeError(
        f"from_onnx expects an onnx.ModelProto, a path or bytes, got "
        f"{type(model_or_path).__name__}"
    )


def _opset_of(model: Any) -> int:
    opset = None
    for imp in model.opset_import:
        if imp.domain in ("", "ai.onnx"):
            opset = imp.version
    if opset is None:
        raise ONNXImportError("the model imports no default-domain ('ai.onnx') opset")
    return opset


def _check_old_opset(model: Any, opset: int) -> list[dict[str, Any]]:
    """For a model older than MIN_OPSET: the nodes whose op changed between the model's
    opset and MIN_OPSET (their old semantics are not implemented). An op whose schema
    version at the model's opset is the one still in force at MIN_OPSET (Not-1, Relu-6,
    MaxPool-1, ...) means the same thing, so it imports as at MIN_OPSET."""
    if opset >= MIN_OPSET:
        return []
    from onnx import defs

    bad = []
    for k, node in enumerate(model.graph.node):
        if node.domain not in ("", "ai.onnx") or node.op_type not in _OPS:
            continue  # reported by _check_nodes
        entry = {"op_type": node.op_type, "node": node.name or f"#{k}", "opset": opset,
                 "index": k}
        try:
            old = defs.get_schema(node.op_type, opset, "").since_version
        except defs.SchemaError:
            bad.append({**entry, "reason": f"op {node.op_type} does not exist at opset {opset}"})
            continue
        new = defs.get_schema(node.op_type, MIN_OPSET, "").since_version
        if old != new:
            bad.append({**entry, "reason": (
                f"opset {opset} is older than the oldest supported opset {MIN_OPSET} and "
                f"{node.op_type}-{old} differs from {node.op_type}-{new} (models older than "
                f"opset {MIN_OPSET} import only ops unchanged since; supported: "
                f"{MIN_OPSET}-{MAX_OPSET}, newer accepted)")})
    return bad


def _check_nodes(model: Any, opset: int) -> list[dict[str, Any]]:
    bad = []
    for k, node in enumerate(model.graph.node):
        name = node.name or f"#{k}"
        entry = {"op_type": node.op_type, "node": name, "opset": opset, "index": k}
        if node.domain not in ("", "ai.onnx"):
            bad.append({**entry, "reason": f"op domain {node.domain!r} is not supported"})
            continue
        fn = _OPS.get(node.op_type)
        if fn is None:
            bad.append({**entry, "reason": f"op type {node.op_type!r} is not supported"})
            continue
        accepted = _signature(fn)[1] | _IGNORED_ATTRS.get(node.op_type, set())
        for a in node.attribute:
            if a.name not in accepted:
                bad.append({**entry, "reason": f"attribute {a.name!r} is not supported",
                            "attribute": a.name})
    return bad


def _input_types(model: Any, shape_dict: dict[str, Any] | None,
                 inits: set[str]) -> list[tuple[str, TensorType]]:
    from onnx import TensorProto

    out = []
    problems = []
    shape_dict = dict(shape_dict or {})
    for inp in model.graph.input:
        if inp.name in inits:
            continue
        tt = inp.type.tensor_type
        if not inp.type.HasField("tensor_type"):
            problems.append(f"input {inp.name!r} is not a tensor")
            continue
        if tt.elem_type == TensorProto.UNDEFINED:
            problems.append(f"input {inp.name!r} has no element type")
            continue
        dtype = _np_dtype(tt.elem_type)
        if inp.name in shape_dict:
            shape = tuple(int(s) for s in shape_dict.pop(inp.name))
        else:
            shape = []
            for i, d in enumerate(tt.shape.dim):
                if d.HasField("dim_value"):
                    shape.append(int(d.dim_value))
                else:
                    problems.append(
                        f"input {inp.name!r} dimension {i} is dynamic "
                        f"({d.dim_param or '?'}); give its shape in shape_dict"
                    )
            shape = tuple(shape)
        out.append((inp.name, TensorType(shape, dtype)))
    if shape_dict:
        problems.append(
            f"shape_dict names {sorted(shape_dict)} which are not model inputs; inputs are "
            f"{[n for n, _ in out]}"
        )
    if problems:
        raise ONNXImportError("cannot import the ONNX model:\n  " + "\n  ".join(problems))
    return out


def from_onnx(model_or_path: Any, shape_dict: dict[str, Any] | None = None) -> IRModule:
    """Import an ONNX model (ModelProto, path, or bytes) into an IRModule with ``main``.

    ``shape_dict`` maps input names to static shapes (needed for dynamic dimensions).
    Initializers become named :class:`Constant`s in the graph (``main.attrs["params"]``
    lists their names). Raises :class:`UnsupportedOpError` listing every node whose op
    or attribute is not supported, and :class:`ONNXImportError` for a malformed model.
    """
    from onnx import numpy_helper

    model = _load_model(model_or_path)
    if not model.HasField("graph"):
        raise ONNXImportError("the ONNX model has no graph")
    opset = _opset_of(model)
    graph = model.graph
    bad = _check_old_opset(model, opset) + _check_nodes(model, opset)
    env: dict[str, Expr] = {}
    inits = set()
    for t in graph.initializer:
        try:
            arr = numpy_helper.to_array(t).copy()
        except Exception as e:  # noqa: BLE001 - report the malformed initializer
            raise ONNXImportError(f"initializer {t.name!r} cannot be read: {e}") from None
        env[t.name] = Constant(arr, t.name)
        inits.add(t.name)
    params = []
    for name, ty in _input_types(model, shape_dict, inits):
        v = Var(name, ty)
        env[name] = v
        params.append(v)
    bb = BlockBuilder()
    for p in params:
        bb._names.add(p.name)
    poisoned: set[str] = set()
    bad_nodes = {e["node"] for e in bad}
    for k, node in enumerate(graph.node):
        name = node.name or f"#{k}"
        if name in bad_nodes or any(i in poisoned for i in node.input if i):
            poisoned.update(o for o in node.output if o)
            continue
        fn = _OPS[node.op_type]
        args: list[Expr | None] = []
        for i in node.input:
            if i == "":
                args.append(None)
                continue
            if i not in env:
                raise ONNXImportError(
                    f"{node.op_type} node {name!r}: input {i!r} is not produced by any "
                    f"earlier node, initializer or graph input (the graph is malformed or "
                    f"not topologically sorted)"
                )
            args.append(env[i])
        attrs = {a.name: _attribute_value(a) for a in node.attribute
                 if a.name not in _IGNORED_ATTRS.get(node.op_type, ())}
        if "_num_node_outputs" in _signature(fn)[2]:
            attrs["_num_node_outputs"] = len([o for o in node.output if o])
        # an older model only gets here with ops unchanged up to MIN_OPSET (see above)
        ctx = Context(max(opset, MIN_OPSET), bb, name)
        try:
            out = _call(fn, ctx, args, attrs)
        except _Unsupported as e:
            bad.append({"op_type": node.op_type, "node": name, "opset": opset,
                        "index": k, "reason": e.reason})
            poisoned.update(o for o in node.output if o)
            continue
        except (ValueError, TypeError, KeyError, IndexError) as e:
            raise ONNXImportError(
                f"{node.op_type} node {name!r} (opset {opset}) failed to import: {e}"
            ) from e
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
        for j, oname in enumerate(node.output):
            if oname == "":
                continue
            if j >= len(outs):
                bad.append({"op_type": node.op_type, "node": name, "opset": opset,
                            "index": k, "reason": f"output {j} ({oname!r}) is not supported"})
                poisoned.add(oname)
                continue
            env[oname] = outs[j]
    if bad:
        raise UnsupportedOpError(sorted(bad, key=lambda e: e.get("index", -1)))
    outputs = []
    for o in graph.output:
        if o.name not in env:
            raise ONNXImportError(f"graph output {o.name!r} is not produced by any node")
        outputs.append(env[o.name])
    func = Function(tuple(params), tuple(bb.bindings), tuple(outputs),
                    {"output_names": [o.name for o in graph.output],
                     "input_names": [p.name for p in params], "opset": opset})
    return IRModule({"main": func})


def _call(fn: Callable[..., Any], ctx: Context, args: list[Expr | None],
          attrs: dict[str, Any]) -> Any:
    n_in = _signature(fn)[0]
    if n_in is None:
        return fn(ctx, *[a for a in args if a is not None], **attrs)
    while args and args[-1] is None:
        args = args[:-1]
    if len(args) > n_in:
        raise _Unsupported(f"{len(args)} inputs given, at most {n_in} are supported")
    return fn(ctx, *args, **attrs)
