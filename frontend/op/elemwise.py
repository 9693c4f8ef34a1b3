"""Unary elementwise ops: math, activations, clip and casts."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from onnxtune.tir import dtype as dt
from onnxtune.tir import op as tir_op
from onnxtune.tir import te
from onnxtune.tir.expr import PrimExpr, cast

from . import OpPattern, register_op
from ._util import scalar


def unary(x: te.Tensor, f: Callable[[PrimExpr], PrimExpr], name: str) -> te.Tensor:
    """``f`` applied to every element of ``x``."""
    return te.compute(x.shape, lambda *i: f(x[i]), name=name)


def _fl(e: PrimExpr) -> PrimExpr:
    """``e`` as a float (float32 for integer inputs)."""
    return e if dt.is_float(e.dtype) else cast("float32", e)


def _math(name: str, fn: Callable[[PrimExpr], PrimExpr]) -> None:
    def compute(x: te.Tensor) -> te.Tensor:
        return unary(x, lambda v: fn(_fl(v)), name)

    compute.__name__ = name
    compute.__doc__ = f"Elementwise {name}."
    register_op(name, OpPattern.ELEMWISE)(compute)


for _n, _f in (
    ("exp", tir_op.exp), ("log", tir_op.log), ("sqrt", tir_op.sqrt), ("rsqrt", tir_op.rsqrt),
    ("tanh", tir_op.tanh), ("sigmoid", tir_op.sigmoid), ("erf", tir_op.erf),
):
    _math(_n, _f)


def _rounding(name: str, fn: Callable[[PrimExpr], PrimExpr]) -> None:
    def compute(x: te.Tensor) -> te.Tensor:
        if not dt.is_float(x.dtype):
            return unary(x, lambda v: v, name)
        return unary(x, fn, name)

    compute.__name__ = name
    register_op(name, OpPattern.ELEMWISE)(compute)


_rounding("floor", tir_op.floor)
_rounding("ceil", tir_op.ceil)
_rounding("round", tir_op.round)  # round half to even, as numpy / ONNX


@register_op("identity", OpPattern.ELEMWISE)
def identity(x: te.Tensor) -> te.Tensor:
    return unary(x, lambda v: v, "identity")


@register_op("relu", OpPattern.ELEMWISE)
def relu(x: te.Tensor) -> te.Tensor:
    return unary(x, lambda v: tir_op.max(v, scalar(0, v.dtype)), "relu")


@register_op("abs", OpPattern.ELEMWISE)
def abs_(x: te.Tensor) -> te.Tensor:
    return unary(x, tir_op.abs, "abs")


@register_op("negative", OpPattern.ELEMWISE)
def negative(x: te.Tensor) -> te.Tensor:
    return unary(x, lambda v: scalar(0, v.dtype) - v, "negative")


@register_op("reciprocal", OpPattern.ELEMWISE)
def reciprocal(x: te.Tensor) -> te.Tensor:
    return unary(x, lambda v: scalar(1, v.dtype) / v, "reciprocal")


@register_op("sign", OpPattern.ELEMWISE)
def sign(x: te.Tensor) -> te.Tensor:
    def f(v: PrimExpr) -> PrimExpr:
        one, zero = scalar(1, v.dtype), scalar(0, v.dtype)
        return tir_op.select(v > zero, one, tir_op.select(v < zero, zero - one, zero))

    return unary(x, f, "sign")


@register_op("logical_not", OpPattern.ELEMWISE)
def logical_not(x: te.Tensor) -> te.Tensor:
    return unary(x, tir_op.logical_not, "logical_not")


@register_op("leaky_relu", OpPattern.ELEMWISE)
def leaky_relu(x: te.Tensor, alpha: float = 0.01) -> te.Tensor:
    def f(v: PrimExpr) -> PrimExpr:
        return tir_op.select(v >= scalar(0, v.dtype), v, v * scalar(alpha, v.dtype))

    return unary(x, f, "leaky_relu")


@register_op("elu", OpPattern.ELEMWISE)
def elu(x: te.Tensor, alpha: float = 1.0) -> te.Tensor:
    def f(v: PrimExpr) -> PrimExpr:
        neg = scalar(alpha, v.dtype) * (tir_op.exp(v) - scalar(1, v.dtype))
        return tir_op.select(v > scalar(0, v.dtype), v, neg)

    return unary(x, f, "elu")


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_GAMMA = 1.0507009873554804934193349852946


@register_op("selu", OpPattern.ELEMWISE)
def selu(x: te.Tensor, alpha: float = _SELU_ALPHA, gamma: float = _SELU_GAMMA) -> te.Tensor:
    def f(v: PrimExpr) -> PrimExpr:
        d = v.dtype
        neg = scalar(alpha, d) * (tir_op.exp(v) - scalar(1, d))
        return scalar(gamma, d) * tir_op.select(v > scalar(0, d), v, neg)

    return unary(x, f, "selu")


def _clamp01(v: PrimExpr) -> PrimExpr:
    return tir_op.min(tir_op.max(v, scalar(0, v.dtype)), scalar(1, v.dtype))


@register_op("hard_sigmoid", OpPattern.ELEMWISE)
def hard_sigmoid(x: te.Tensor, alpha: float = 0.2, beta: float = 0.5) -> te.Tensor:
    return unary(
        x, lambda v: _clamp01(v * scalar(alpha, v.dtype) + scalar(beta, v.dtype)),
        "hard_sigmoid",
    )


@register_op("hard_swish", OpPattern.ELEMWISE)
def hard_swish(x: te.Tensor) -> te.Tensor:
    return unary(
        x, lambda v: v * _clamp01(v * scalar(1 / 6, v.dtype) + scalar(0.5, v.dtype)),
        "hard_swish",
    )


@register_op("gelu", OpPattern.ELEMWISE)
def gelu(x: te.Tensor, approximate: str = "none") -> te.Tensor:
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")

    def f(v: PrimExpr) -> PrimExpr:
        v = _fl(v)
        d = v.dtype
        half, one = scalar(0.5, d), scalar(1, d)
        if approximate == "tanh":
            inner = scalar(math.sqrt(2 / math.pi), d) * (v + scalar(0.044715, d) * v * v * v)
            return half * v * (one + tir_op.tanh(inner))
        return half * v * (one + tir_op.erf(v * scalar(1 / math.sqrt(2), d)))

    return unary(x, f, "gelu")


@register_op("softplus", OpPattern.ELEMWISE)
def softplus(x: te.Tensor) -> te.Tensor:
    def f(v: PrimExpr) -> PrimExpr:
        v = _fl(v)
        d = v.dtype
        # log(1 + exp(v)) = max(v, 0) + log1p(exp(-|v|)), stable for large |v|
        return tir_op.max(v, scalar(0, d)) + tir_op.log(
            scalar(1, d) + tir_op.exp(scalar(0, d) - tir_op.abs(v))
        )

    return unary(x, f, "softplus")


@register_op("clip", OpPattern.ELEMWISE)
def clip(x: te.Tensor, a_min: Any = None, a_max: Any = None) -> te.Tensor:
    def f(v: PrimExpr) -> PrimExpr:
        if a_min is not None:
            v = tir_op.max(v, scalar(a_min, v.dtype))
        if a_max is not None:
            v = tir_op.min(v, scalar(a_max, v.dtype))
        return v

    return unary(x, f, "clip")


@register_op("astype", OpPattern.ELEMWISE)
def astype(x: te.Tensor, dtype: str) -> te.Tensor:
    dtype = dt.check_dtype(str(dtype))
    if dtype == "bool":
        return unary(x, lambda v: v != scalar(0, v.dtype), "astype")
    return unary(x, lambda v: cast(dtype, v), "astype")


