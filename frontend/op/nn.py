"""Neural-network ops: convolutions, matmul/dense, normalizations, softmax."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from onnxtune.tir import dtype as dt
from onnxtune.tir import op as tir_op
from onnxtune.tir import te
from onnxtune.tir.expr import PrimExpr, cast

from . import OpPattern, register_op
from ._util import (
    bcast_index,
    broadcast_shape,
    float_dtype,
    ints,
    norm_axes,
    norm_axis,
    pad_stage,
    prod,
    scalar,
    shape_of,
)

# ----------------------------------------------------------------------------------------
# convolution


def conv_pads(padding: Any, nd: int, what: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(before, after) per spatial dim from an int, ``nd`` symmetric values or ``2 * nd``
    values (all begins, then all ends: (top, left, bottom, right) for 2-D)."""
    if isinstance(padding, int):
        return (padding,) * nd, (padding,) * nd
    p = tuple(int(x) for x in padding)
    if len(p) == nd:
        return p, p
    if len(p) == 2 * nd:
        return p[:nd], p[nd:]
    raise ValueError(f"{what}: padding must be an int, {nd} or {2 * nd} ints, got {padding!r}")


def conv_out_sizes(name: str, sizes: Sequence[int], ksz: Sequence[int], st: Sequence[int],
                   dil: Sequence[int], before: Sequence[int], after: Sequence[int]
                   ) -> list[int]:
    """A convolution's output size per spatial dim; ValueError naming ``name`` when the
    (dilated) kernel is larger than the padded input."""
    out = []
    for j, size in enumerate(sizes):
        span = size + before[j] + after[j] - dil[j] * (ksz[j] - 1) - 1
        if span < 0:
            raise ValueError(
                f"{name}: kernel {tuple(ksz)} (dilation {tuple(dil)}) is larger than the "
                f"padded input {tuple(sizes)} + {tuple(before)} + {tuple(after)}")
        out.append(span // st[j] + 1)
    return out


def _win(o: PrimExpr, s: int, r: Any, d: int) -> PrimExpr:
    a = o if s == 1 else o * s
    b = r if d == 1 else r * d
    return a + b


def conv(
    data: te.Tensor,
    weight: te.Tensor,
    strides: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
    out_dtype: str | None = None,
    name: str = "conv",
) -> te.Tensor:
    """N-d convolution, data (N, C, *spatial), weight (K, C // groups, *kernel): a pad
    stage (if padded) and one reduction block over (channel, kernel window)."""
    dshape, wshape = shape_of(data), shape_of(weight)
    nd = len(dshape) - 2
    if nd < 1 or len(wshape) != nd + 2:
        raise ValueError(f"{name}: data {dshape} and weight {wshape} need equal rank >= 3")
    n, c = dshape[:2]
    k, cg = wshape[:2]
    groups = int(groups)
    if groups < 1 or c % groups or k % groups or c // groups != cg:
        raise ValueError(
            f"{name}: data has {c} channels and weight {wshape} with groups={groups}; the "
            f"weight must have {c // max(groups, 1)} input channels and a multiple of "
            f"{groups} output channels"
        )
    st, dil = ints(strides, nd, f"{name} strides"), ints(dilation, nd, f"{name} dilation")
    before, after = conv_pads(padding, nd, name)
    ksz = wshape[2:]
    osz = conv_out_sizes(name, dshape[2:], ksz, st, dil, before, after)
    out_dtype = out_dtype or data.dtype
    pad = pad_stage(data, (0, 0, *before), (0, 0, *after), scalar(0, data.dtype))
    rc = te.reduce_axis((0, cg), name="rc") if cg > 1 else None
    rnames = ("rz", "ry", "rx")[3 - nd:] if nd <= 3 else [f"r{j}" for j in range(nd)]
    rk = [te.reduce_axis((0, ksz[j]), name=rnames[j]) for j in range(nd)]
    kg = k // groups

    def f(nn: PrimExpr, ff: PrimExpr, *sp: PrimExpr) -> PrimExpr:
        ci = rc if rc is not None else 0
        ch = ci if groups == 1 else (ff // kg) * cg + ci
        x = pad[(nn, ch, *(_win(sp[j], st[j], rk[j], dil[j]) for j in range(nd)))]
        w = weight[(ff, ci, *rk)]
        axes = ([rc] if rc is not None else []) + rk
        return te.sum(cast(out_dtype, x) * cast(out_dtype, w), axis=axes)

    return te.compute((n, k, *osz), f, name=name)


for _nd in (1, 2, 3):

    def _mk(nd: int) -> None:
        def compute(
            data: te.Tensor,
            weight: te.Tensor,
            strides: Any = 1,
            padding: Any = 0,
            dilation: Any = 1,
            groups: int = 1,
            out_dtype: str | None = None,
        ) -> te.Tensor:
            if len(shape_of(data)) != nd + 2:
                raise ValueError(
                    f"nn.conv{nd}d: data must be {nd + 2}-d, got shape {shape_of(data)}"
                )
            return conv(data, weight, strides, padding, dilation, groups, out_dtype,
                        name=f"conv{nd}d")

        compute.__name__ = f"conv{nd}d"
        register_op(f"nn.conv{nd}d", OpPattern.OUT_EWISE_FUSABLE)(compute)

    _mk(_nd)


def _window_2d(name: str, sizes: tuple[int, int], ksz: tuple[int, int], strides: Any,
               padding: Any, dilation: Any) -> tuple:
    """A 2-d window's (strides, dilation, pads before, pads after, output sizes), each
    attribute checked (errors name ``name``)."""
    st, dil = ints(strides, 2, f"{name} strides"), ints(dilation, 2, f"{name} dilation")
    before, after = conv_pads(padding, 2, name)
    return st, dil, before, after, conv_out_sizes(name, sizes, ksz, st, dil, before, after)


@register_op("nn.conv2d_nchwc", OpPattern.OUT_EWISE_FUSABLE)
def conv2d_nchwc(
    data: te.Tensor,
    weight: te.Tensor,
    strides: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    out_dtype: str | None = None,
) -> te.Tensor:
    """2-d convolution into the blocked layout ``NCHW{b}c`` (N, O/b, OH, OW, b): a pad
    stage (if padded) and one reduction. Data ``NCHW{b}c`` (N, C/b, H, W, b) with weight
    ``OIHW{b}i{b}o`` (O/b, C/b, KH, KW, b_in, b_out), reduced over (input block, window
    row, column, lane in block); or data NCHW (N, C, H, W, any C: a stem's 3 channels)
    with weight ``OIHW{b}o`` (O/b, C, KH, KW, b), reduced over (channel, row, column)."""
    name = "nn.conv2d_nchwc"
    dshape, wshape = shape_of(data), shape_of(weight)
    if len(dshape) == 5 and len(wshape) == 6:
        n, cb, h, w, b = dshape
        ob, cb2, kh, kw, bi, bo = wshape
        if cb2 != cb or bi != b or bo != b:
            raise ValueError(f"{name}: weight {wshape} does not match data {dshape}: "
                             f"expected (O/{b}, {cb}, KH, KW, {b}, {b})")
    elif len(dshape) == 4 and len(wshape) == 5:
        n, cb, h, w = dshape
        ob, cb2, kh, kw, b = wshape
        if cb2 != cb:
            raise ValueError(f"{name}: weight {wshape} does not match NCHW data {dshape}: "
                             f"expected (O/b, {cb}, KH, KW, b)")
    else:
        raise ValueError(f"{name}: data must be 5-d NCHW<b>c with a 6-d OIHW<b>i<b>o "
                         f"weight, or 4-d NCHW with a 5-d OIHW<b>o weight; got {dshape} "
                         f"and {wshape}")
    blocked = len(dshape) == 5
    st, dil, before, after, osz = _window_2d(name, (h, w), (kh, kw), strides, padding,
                                             dilation)
    out_dtype = out_dtype or data.dtype
    lane = (0,) if blocked else ()
    pad = pad_stage(data, (0, 0, *before, *lane), (0, 0, *after, *lane),
                    scalar(0, data.dtype))
    rc = te.reduce_axis((0, cb), name="rc")
    ry = te.reduce_axis((0, kh), name="ry")
    rx = te.reduce_axis((0, kw), name="rx")
    ri = te.reduce_axis((0, b), name="ri") if blocked else None

    def f(nn: PrimExpr, oc: PrimExpr, y: PrimExpr, x: PrimExpr, oi: PrimExpr) -> PrimExpr:
        at = (nn, rc, _win(y, st[0], ry, dil[0]), _win(x, st[1], rx, dil[1]))
        if ri is not None:
            v, wv = pad[(*at, ri)], weight[oc, rc, ry, rx, ri, oi]
            axes = [rc, ry, rx, ri]
        else:
            v, wv = pad[at], weight[oc, rc, ry, rx, oi]
            axes = [rc, ry, rx]
        return te.sum(cast(out_dtype, v) * cast(out_dtype, wv), axis=axes)

    return te.compute((n, ob, osz[0], osz[1], b), f, name="conv2d_nchwc")


@register_op("nn.depthwise_conv2d_nchwc", OpPattern.OUT_EWISE_FUSABLE)
def depthwise_conv2d_nchwc(
    data: te.Tensor,
    weight: te.Tensor,
    strides: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    out_dtype: str | None = None,
) -> te.Tensor:
    """Depthwise 2-d convolution (one filter per channel, ONNX Conv with group = channels)
    in the blocked layout ``NCHW{b}c``: data (N, C/b, H, W, b), weight (C/b, KH, KW, b),
    result (N, C/b, OH, OW, b); a pad stage (if padded) and one reduction over the window
    (row, column), every lane its own channel."""
    name = "nn.depthwise_conv2d_nchwc"
    dshape, wshape = shape_of(data), shape_of(weight)
    if len(dshape) != 5 or len(wshape) != 4:
        raise ValueError(f"{name}: data must be 5-d NCHW<b>c and the weight 4-d "
                         f"(C/b, KH, KW, b); got {dshape} and {wshape}")
    n, cb, h, w, b = dshape
    cb2, kh, kw, b2 = wshape
    if cb2 != cb or b2 != b:
        raise ValueError(f"{name}: weight {wshape} does not match data {dshape}: "
                         f"expected ({cb}, KH, KW, {b})")
    st, dil, before, after, osz = _window_2d(name, (h, w), (kh, kw), strides, padding,
                                             dilation)
    out_dtype = out_dtype or data.dtype
    pad = pad_stage(data, (0, 0, *before, 0), (0, 0, *after, 0), scalar(0, data.dtype))
    ry = te.reduce_axis((0, kh), name="ry")
    rx = te.reduce_axis((0, kw), name="rx")

    def f(nn: PrimExpr, c: PrimExpr, y: PrimExpr, x: PrimExpr, ci: PrimExpr) -> PrimExpr:
        v = pad[nn, c, _win(y, st[0], ry, dil[0]), _win(x, st[1], rx, dil[1]), ci]
        return te.sum(cast(out_dtype, v) * cast(out_dtype, weight[c, ry, rx, ci]),
                      axis=[ry, rx])

    return te.compute((n, cb, osz[0], osz[1], b), f, name="depthwise_conv2d_nchwc")


def conv_transpose(
    data: te.Tensor,
    weight: te.Tensor,
    strides: Any = 1,
    padding: Any = 0,
    output_padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
    out_dtype: str | None = None,
    name: str = "conv_transpose",
) -> te.Tensor:
    """N-d transposed convolution, weight (C_in, K // groups, *kernel) (ONNX ConvTranspose):
    a stage holding the stride-dilated, padded input, then a convolution with the flipped
    kernel as one reduction block."""
    dshape, wshape = shape_of(data), shape_of(weight)
    nd = len(dshape) - 2
    if nd < 1 or len(wshape) != nd + 2:
        raise ValueError(f"{name}: data {dshape} and weight {wshape} need equal rank >= 3")
    n, c = dshape[:2]
    groups = int(groups)
    if wshape[0] != c or c % groups:
        raise ValueError(
            f"{name}: weight {wshape} must have {c} (= data channels) rows and the channels "
            f"must divide by groups={groups}"
        )
    cig, kog = c // groups, wshape[1]
    k = kog * groups
    st, dil = ints(strides, nd, f"{name} strides"), ints(dilation, nd, f"{name} dilation")
    opad = ints(output_padding, nd, f"{name} output_padding")
    before, after = conv_pads(padding, nd, name)
    ksz = wshape[2:]
    osz = [
        (dshape[2 + j] - 1) * st[j] - before[j] - after[j] + dil[j] * (ksz[j] - 1) + opad[j] + 1
        for j in range(nd)
    ]
    if min(osz) <= 0:
        raise ValueError(f"{name}: the output size {tuple(osz)} is not positive")
    # the input dilated by the strides and padded so that a plain convolution follows
    lo = [dil[j] * (ksz[j] - 1) - before[j] for j in range(nd)]
    psz = [osz[j] + dil[j] * (ksz[j] - 1) for j in range(nd)]
    zero = scalar(0, data.dtype)

    def fpad(nn: PrimExpr, cc: PrimExpr, *sp: PrimExpr) -> PrimExpr:
        conds, src = [], []
        for j in range(nd):
            y = sp[j] - lo[j] if lo[j] else sp[j]
            conds += [y >= 0, y < (dshape[2 + j] - 1) * st[j] + 1]
            if st[j] > 1:
                conds.append(y % st[j] == 0)
                y = y // st[j]
            src.append(y)
        return te.if_then_else(te.all(*conds), data[(nn, cc, *src)], zero)

    pad = te.compute((n, c, *psz), fpad, name="data_dilate_pad")
    out_dtype = out_dtype or data.dtype
    rc = te.reduce_axis((0, cig), name="rc") if cig > 1 else None
    rk = [te.reduce_axis((0, ksz[j]), name=f"rk{j}") for j in range(nd)]

    def f(nn: PrimExpr, ff: PrimExpr, *sp: PrimExpr) -> PrimExpr:
        ci = rc if rc is not None else 0
        g = ff // kog if groups > 1 else 0
        ch = g * cig + ci if groups > 1 else ci
        x = pad[(nn, ch, *(_win(sp[j], 1, rk[j], dil[j]) for j in range(nd)))]
        oc = ff % kog if groups > 1 else ff
        w = weight[(ch, oc, *(ksz[j] - 1 - rk[j] for j in range(nd)))]
        axes = ([rc] if rc is not None else []) + rk
        return te.sum(cast(out_dtype, x) * cast(out_dtype, w), axis=axes)

    return te.compute((n, k, *osz), f, name=name)


for _nd in (1, 2, 3):

    def _mkt(nd: int) -> None:
        def compute(
            data: te.Tensor,
            weight: te.Tensor,
            strides: Any = 1,
            padding: Any = 0,
            output_padding: Any = 0,
            dilation: Any = 1,
            groups: int = 1,
            out_dtype: str | None = None,
        ) -> te.Tensor:
            if len(shape_of(data)) != nd + 2:
                raise ValueError(
                    f"nn.conv{nd}d_transpose: data must be {nd + 2}-d, got {shape_of(data)}"
                )
            return conv_transpose(data, weight, strides, padding, output_padding, dilation,
                                  groups, out_dtype, name=f"conv{nd}d_transpose")

        compute.__name__ = f"conv{nd}d_transpose"
        register_op(f"nn.conv{nd}d_transpose", OpPattern.OUT_EWISE_FUSABLE)(compute)

    _mkt(_nd)


# ----------------------------------------------------------------------------------------
# matmul


@register_op("matmul", OpPattern.OUT_EWISE_FUSABLE)
def matmul(a: te.Tensor, b: te.Tensor, out_dtype: str | None = None) -> te.Tensor:
    """numpy ``matmul``: batch dims broadcast; a 1-D ``a`` is a row, a 1-D ``b`` a column
    (the added dim is dropped from the result). One reduction block."""
    sa, sb = shape_of(a), shape_of(b)
    if not sa or not sb:
        raise ValueError(f"matmul: operands must be at least 1-d, got {sa} and {sb}")
    a1, b1 = len(sa) == 1, len(sb) == 1
    ea = (1, *sa) if a1 else sa
    eb = (*sb, 1) if b1 else sb
    if ea[-1] != eb[-2]:
        raise ValueError(f"matmul: inner dimensions differ: {sa} @ {sb}")
    kk = ea[-1]
    batch = broadcast_shape([ea[:-2], eb[:-2]], "matmul")
    m, nn = ea[-2], eb[-1]
    out_shape = (*batch, *(() if a1 else (m,)), *(() if b1 else (nn,)))
    out_dtype = out_dtype or dt.promote(a.dtype, b.dtype)
    nb = len(batch)
    rk = te.reduce_axis((0, kk), name="k")

    def bidx(shape: Sequence[int], bi: Sequence[PrimExpr]) -> list[Any]:
        off = nb - len(shape)
        return [0 if shape[j] == 1 else bi[off + j] for j in range(len(shape))]

    def f(*idx: PrimExpr) -> PrimExpr:
        bi = idx[:nb]
        rest = list(idx[nb:])
        i = 0 if a1 else rest.pop(0)
        j = 0 if b1 else rest.pop(0)
        ia = [*bidx(ea[:-2], bi), rk] if a1 else [*bidx(ea[:-2], bi), i, rk]
        ib = [rk] if b1 else [*bidx(eb[:-2], bi), rk, j]
        return te.sum(cast(out_dtype, a[tuple(ia)]) * cast(out_dtype, b[tuple(ib)]), axis=rk)

    return te.compute(out_shape, f, name="matmul")


@register_op("nn.dense", OpPattern.OUT_EWISE_FUSABLE)
def dense(data: te.Tensor, weight: te.Tensor, out_dtype: str | None = None) -> te.Tensor:
    """``data @ weight.T`` with data (..., K) and weight (N, K)."""
    sd, sw = shape_of(data), shape_of(weight)
    if len(sw) != 2 or not sd or sd[-1] != sw[1]:
        raise ValueError(f"nn.dense: data {sd} and weight {sw} (N, K) do not match")
    out_dtype = out_dtype or dt.promote(data.dtype, weight.dtype)
    rk = te.reduce_axis((0, sw[1]), name="k")
    return te.compute(
        (*sd[:-1], sw[0]),
        lambda *i: te.sum(
            cast(out_dtype, data[(*i[:-1], rk)]) * cast(out_dtype, weight[i[-1], rk]), axis=rk
        ),
        name="T_matmul_NT",
    )


# ----------------------------------------------------------------------------------------
# normalization


@register_op("nn.batch_norm", OpPattern.BROADCAST)
def batch_norm(
    data: te.Tensor,
    gamma: te.Tensor,
    beta: te.Tensor,
    mean: te.Tensor,
    var: te.Tensor,
    axis: int = 1,
    epsilon: float = 1e-5,
) -> te.Tensor:
    """Inference batch norm: ``(x - mean) / sqrt(var + eps) * gamma + beta`` along ``axis``."""
    shp = shape_of(data)
    ax = norm_axis(axis, len(shp), "nn.batch_norm")
    for t, nm in ((gamma, "gamma"), (beta, "beta"), (mean, "mean"), (var, "var")):
        if shape_of(t) != (shp[ax],):
            raise ValueError(f"nn.batch_norm: {nm} must have shape ({shp[ax]},), got "
                             f"{shape_of(t)}")
    d = data.dtype

    def f(*i: PrimExpr) -> PrimExpr:
        c = i[ax]
        inv = tir_op.rsqrt(var[c] + scalar(epsilon, d))
        return (data[i] - mean[c]) * inv * gamma[c] + beta[c]

    return te.compute(shp, f, name="batch_norm")


def _moments(
    data: te.Tensor, axes: tuple[int, ...], name: str
) -> tuple[te.Tensor, te.Tensor, float]:
    """Per-point sum and sum of squared deviations over ``axes`` (kept as size-1 dims)."""
    shp = shape_of(data)
    kshape = tuple(1 if j in axes else s for j, s in enumerate(shp))
    count = prod([shp[j] for j in axes])
    d = float_dtype(data.dtype)

    def reduce_over(expr_of: Any, rname: str) -> te.Tensor:
        def f(*i: PrimExpr) -> PrimExpr:
            rs = [te.reduce_axis((0, shp[j]), name=f"k{j}") for j in axes]
            src, it = [], iter(rs)
            for j in range(len(shp)):
                src.append(next(it) if j in axes else i[j])
            return te.sum(expr_of(tuple(src), i), axis=rs)

        return te.compute(kshape, f, name=rname)

    inv_n = scalar(1.0 / count, d)
    s = reduce_over(lambda src, i: cast(d, data[src]), f"{name}_sum")

    def dev2(src: tuple, i: tuple) -> PrimExpr:
        v = cast(d, data[src]) - s[i] * inv_n
        return v * v

    v = reduce_over(dev2, f"{name}_var_sum")
    return s, v, 1.0 / count


@register_op("nn.layer_norm", OpPattern.OPAQUE, num_outputs=None)
def layer_norm(
    data: te.Tensor,
    gamma: te.Tensor | None,
    beta: te.Tensor | None = None,
    axes: Any = (-1,),
    epsilon: float = 1e-5,
    return_stats: bool = False,
) -> te.Tensor | tuple[te.Tensor, te.Tensor, te.Tensor]:
    """Normalize over ``axes``; gamma and beta broadcast against the data (right-aligned).
    With ``return_stats`` also the mean and 1/sqrt(var + eps) (ONNX LayerNormalization's
    Mean and InvStdDev: float32, normalized dims kept as 1): a tuple of three tensors."""
    shp = shape_of(data)
    ax = norm_axes(axes, len(shp), "nn.layer_norm")
    s, v, inv_n = _moments(data, ax, "layer_norm")
    d = float_dtype(data.dtype)

    def f(*i: PrimExpr) -> PrimExpr:
        k = tuple(0 if j in ax else i[j] for j in range(len(shp)))
        y = (cast(d, data[i]) - s[k] * scalar(inv_n, d)) * tir_op.rsqrt(
            v[k] * scalar(inv_n, d) + scalar(epsilon, d)
        )
        if gamma is not None:
            y = y * cast(d, gamma[bcast_index(gamma, i)])
        if beta is not None:
            y = y + cast(d, beta[bcast_index(beta, i)])
        return cast(data.dtype, y)

    out = te.compute(shp, f, name="layer_norm")
    if not return_stats:
        return out
    kshape = shape_of(s)
    mean = te.compute(kshape, lambda *i: cast("float32", s[i] * scalar(inv_n, d)),
                      name="layer_norm_mean")
    inv_std = te.compute(kshape, lambda *i: cast("float32", tir_op.rsqrt(
        v[i] * scalar(inv_n, d) + scalar(epsilon, d))), name="layer_norm_inv_std")
    return out, mean, inv_std


@register_op("nn.instance_norm", OpPattern.OPAQUE)
def instance_norm(
    data: te.Tensor, gamma: te.Tensor, beta: te.Tensor, epsilon: float = 1e-5
) -> te.Tensor:
    """Normalize each (n, c) over the spatial dims, then scale by gamma[c], shift by beta[c]."""
    shp = shape_of(data)
    if len(shp) < 3:
        raise ValueError(f"nn.instance_norm: data must be at least 3-d, got {shp}")
    ax = tuple(range(2, len(shp)))
    s, v, inv_n = _moments(data, ax, "instance_norm")
    d = float_dtype(data.dtype)

    def f(*i: PrimExpr) -> PrimExpr:
        k = (i[0], i[1], *([0] * len(ax)))
        y = (cast(d, data[i]) - s[k] * scalar(inv_n, d)) * tir_op.rsqrt(
            v[k] * scalar(inv_n, d) + scalar(epsilon, d)
        )
        return cast(data.dtype, y * cast(d, gamma[i[1]]) + cast(d, beta[i[1]]))

    return te.compute(shp, f, name="instance_norm")


@register_op("nn.lrn", OpPattern.OPAQUE)
def lrn(
    data: te.Tensor, size: int, alpha: float = 1e-4, beta: float = 0.75, bias: float = 1.0
) -> te.Tensor:
    """ONNX LRN: ``x / (bias + alpha / size * sum of x^2 over a channel window) ^ beta``."""
    shp = shape_of(data)
    size = int(size)
    lo, hi = (size - 1) // 2, (size - 1) - (size - 1) // 2
    zero = scalar(0, data.dtype)
    nrest = len(shp) - 2
    pad = pad_stage(data, (0, lo, *([0] * nrest)), (0, hi, *([0] * nrest)), zero,
                    name="lrn_pad")
    r = te.reduce_axis((0, size), name="rc")
    sq = te.compute(
        shp,
        lambda nn, cc, *sp: te.sum(pad[(nn, cc + r, *sp)] * pad[(nn, cc + r, *sp)], axis=r),
        name="lrn_sqsum",
    )
    d = data.dtype
    return te.compute(
        shp,
        lambda *i: data[i] / tir_op.pow(
            scalar(bias, d) + scalar(alpha / size, d) * sq[i], scalar(beta, d)
        ),
        name="lrn",
    )


def _softmax_parts(x: te.Tensor, axis: int, name: str):
    shp = shape_of(x)
    ax = norm_axis(axis, len(shp), name)
    kshape = tuple(1 if j == ax else s for j, s in enumerate(shp))

    def at(i: Sequence[PrimExpr], r: Any) -> tuple:
        return tuple(r if j == ax else i[j] for j in range(len(shp)))

    def kept(i: Sequence[PrimExpr]) -> tuple:
        return tuple(0 if j == ax else i[j] for j in range(len(shp)))

    def fmax(*i: PrimExpr) -> PrimExpr:
        r = te.reduce_axis((0, shp[ax]), name="k")
        return te.max(x[at(i, r)], axis=r)

    mx = te.compute(kshape, fmax, name=f"{name}_maxelem")

    def fsum(*i: PrimExpr) -> PrimExpr:
        r = te.reduce_axis((0, shp[ax]), name="k")
        return te.sum(tir_op.exp(x[at(i, r)] - mx[i]), axis=r)

    sm = te.compute(kshape, fsum, name=f"{name}_expsum")
    return shp, mx, sm, kept


@register_op("nn.softmax", OpPattern.OPAQUE)
def softmax(x: te.Tensor, axis: int = -1) -> te.Tensor:
    shp, mx, sm, kept = _softmax_parts(x, axis, "softmax")
    return te.compute(
        shp, lambda *i: tir_op.exp(x[i] - mx[kept(i)]) / sm[kept(i)], name="softmax_norm"
    )


@register_op("nn.log_softmax", OpPattern.OPAQUE)
def log_softmax(x: te.Tensor, axis: int = -1) -> te.Tensor:
    shp, mx, sm, kept = _softmax_parts(x, axis, "log_softmax")
    return te.compute(
        shp, lambda *i: x[i] - mx[kept(i)] - tir_op.log(sm[kept(i)]), name="log_softmax"
    )
