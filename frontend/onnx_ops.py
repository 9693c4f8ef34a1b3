"""The ONNX op converters: one function per ONNX op, named exactly like the op.

Each receives the import :class:`~.onnx_context.Context`, the node's inputs (graph
expressions, ``None`` for an omitted optional input) and the node's attributes as keyword
arguments, and returns the output expression(s); opset differences are handled inside
(``ctx.opset``). :data:`OPS` maps op type to converter; the driver in ``onnx`` reads
each converter's signature to check a node's inputs and attributes before converting it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .ir import Constant, Expr
from .onnx_context import (
    Context,
    _auto_pad,
    _axis,
    _binary,
    _np_dtype,
    _onnx_pads,
    _unary,
    _Unsupported,
    _variadic,
)

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
