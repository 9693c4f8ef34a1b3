"""Pointwise convolutions as matmuls over the flattened pixels.

A 1x1 convolution with unit strides and no padding is a matrix product over the pixels:
``Y[n, o, h, w] = sum_c W[o, c] X[n, c, h, w]``, i.e. ``Y_f = W_2d @ X_f`` with
``X_f = X.reshape(N, C, H·W)``. In that form the pixels are one contiguous axis of every
tensor involved, so the product and its epilogue (bias, residual add, activation) are
vectorized along the pixels with no transposition; the convolution form vectorizes along
the output channels and stores its NCHW result through a 16 x w transposition (gathers)
per tile, which costs a quarter to a half of a ResNet-50 1x1 layer with 64 input
channels.

The rewrite, for every such ``nn.conv2d`` with a constant weight whose ``H·W`` splits into
whole vectors (:func:`pixel_vector`: 3136 = 196 x 16, 196 = 14 x 14 lanes):

    x_f = reshape(x, (N, C, H·W))            # a view: no copy, no kernel
    y_f = matmul(W.reshape(O, C), x_f)       # (N, O, H·W)

then each elementwise or broadcast consumer whose result has the convolution's shape is
rewritten to work on the flat form too (its other operands reshaped the same way: a
constant's ``(H, W)`` dims must be ``(1, 1)`` or ``(H, W)``, a tensor's too, reshaped by a
view), so FuseOps fuses the epilogue into the matmul as it did into the convolution.
Wherever a value is needed in its 4-d shape (a 3x3 convolution, a pooling, an output),
``reshape(y_f, (N, O, H, W))`` is bound under the original variable: again a view. A
pointwise convolution reading a flat value reads it directly.
"""

from __future__ import annotations

import numpy as np

from ..ir import Call, Constant, Expr, Function, IRModule, TensorType, Var, op_call
from .util import AltForms

#: lanes of a 512-bit vector of float32
PIXEL_LANES = 16
#: the narrowest vector (masked to it) a pixel count may split into instead. 16: whole
#: vectors only. (12 also rewrites ResNet-50's 14x14 pointwise convolutions, 196 = 14 x 14
#: lanes: measured the same in the model as the convolution form, so left off.)
PIXEL_MIN_LANES = 16


def pixel_vector(pixels: int, lanes: int = PIXEL_LANES) -> int:
    """The vector width the flat pixel axis splits into with no tail: ``lanes`` when it
    divides ``pixels``, else the largest width of at least PIXEL_MIN_LANES that does (196
    pixels = 14 x 14 lanes: a masked access per vector), else 0 (49 pixels: the
    convolution stays a convolution)."""
    if pixels % lanes == 0:
        return lanes
    for v in range(lanes - 1, min(lanes, PIXEL_MIN_LANES) - 1, -1):
        if pixels % v == 0:
            return v
    return 0


def pointwise_conv_as_matmul(mod: IRModule) -> IRModule:
    """Apply the rewrite to every graph function of ``mod`` (see the module docstring)."""
    out = {}
    for name, f in mod.functions.items():
        out[name] = _rewrite(f) if isinstance(f, Function) else f
    return IRModule(out)


def _ints(v, n: int) -> tuple[int, ...]:
    if isinstance(v, (int, np.integer)):
        return (int(v),) * n
    return tuple(int(x) for x in v)


def _pointwise(call: Call) -> bool:
    """Is ``call`` a 1x1, unit-stride, unpadded, ungrouped 2-d convolution of a 4-d input
    with a constant weight and a pixel count that splits into whole vectors?"""
    if call.op != "nn.conv2d" or len(call.args) != 2:
        return False
    x, w = call.args
    if not isinstance(w, Constant) or w.data.ndim != 4 or w.data.shape[2:] != (1, 1):
        return False
    if not isinstance(x.type, TensorType) or len(x.type.shape) != 4:
        return False
    a = call.attrs
    if int(a.get("groups", 1)) != 1:
        return False
    if any(s != 1 for s in _ints(a.get("strides", 1), 2)):
        return False
    if any(p != 0 for p in _ints(a.get("padding", 0), 2)):
        return False
    h, wd = x.type.shape[2:]
    return pixel_vector(h * wd) > 0


def _elementwise(call: Call) -> bool:
    """An elementwise or broadcast op with no axis or shape attribute."""
    from ..op import OpPattern, get_op

    try:
        pattern = get_op(call.op).pattern
    except KeyError:
        return False
    if pattern not in (OpPattern.ELEMWISE, OpPattern.BROADCAST):
        return False
    return not any(("axis" in k or "axes" in k or "shape" in k) for k in call.attrs)


def _flat_shape(shape: tuple[int, ...], hw: tuple[int, int]) -> tuple[int, ...] | None:
    """``shape`` (broadcast against a 4-d (N, C, H, W)) with its last two dims merged, or
    None when they are neither (1, 1) nor (H, W)."""
    if len(shape) > 4:
        return None
    s = (1,) * (4 - len(shape)) + tuple(shape)
    if s[2:] == (1, 1):
        return (s[0], s[1], 1)
    if s[2:] == hw:
        return (s[0], s[1], hw[0] * hw[1])
    return None


def _rewrite(func: Function) -> Function:
    # the 4-d value is bound (a reshape of the flat one) when something needs it
    forms = AltForms(lambda fv, v: op_call("reshape", [fv], {
        "newshape": tuple(v.type.shape)}))  # type: ignore[union-attr]
    emit, four_d = forms.emit, forms.original

    def flattens(a: Expr, hw: tuple[int, int]) -> bool:
        """Can ``a`` take part in the flat form (see :func:`as_flat`)?"""
        if forms.alt(a) is not None:
            return True
        t = a.type
        return isinstance(t, TensorType) and (
            not t.shape or _flat_shape(tuple(t.shape), hw) is not None)

    def as_flat(a: Expr, hw: tuple[int, int]) -> Expr:
        """``a`` in the flat form: a flat value itself, a scalar as it is, a constant
        reshaped, another tensor through a reshape (a view); ``flattens(a)`` holds."""
        fv = forms.alt(a)
        if fv is not None:
            return fv
        t = a.type
        if not t.shape:  # type: ignore[union-attr]
            return a
        new = _flat_shape(tuple(t.shape), hw)  # type: ignore[union-attr]
        if isinstance(a, Constant):
            return Constant(a.data.reshape(new), a.name)
        a = four_d(a)
        return emit(f"{a.name}_flat" if isinstance(a, Var) else "flat",
                    op_call("reshape", [a], {"newshape": new}))

    for b in func.bindings:
        v = b.value
        if isinstance(v, Call) and _pointwise(v):
            x, w = v.args
            n, c, h, wd = x.type.shape  # type: ignore[union-attr]
            xf = as_flat(x, (h, wd))
            w2 = Constant(w.data.reshape(w.data.shape[0], w.data.shape[1]), w.name)
            attrs = {"out_dtype": v.attrs["out_dtype"]} if v.attrs.get("out_dtype") else {}
            forms.record(b.var, emit(f"{b.var.name}_flat", op_call("matmul", [w2, xf], attrs)))
            continue
        if (isinstance(v, Call) and _elementwise(v) and isinstance(v.type, TensorType)
                and len(v.type.shape) == 4
                and any(forms.alt(a) is not None for a in v.args)):
            hw = tuple(v.type.shape[2:])
            if all(flattens(a, hw) for a in v.args):  # type: ignore[arg-type]
                args = [as_flat(a, hw) for a in v.args]  # type: ignore[arg-type]
                forms.record(b.var, emit(f"{b.var.name}_flat", op_call(v.op, args, v.attrs)))
                continue
        forms.keep(b)
    return forms.finish(func)
