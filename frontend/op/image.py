"""``image.resize2d``: ONNX Resize over the two spatial dims of NCHW data."""

from __future__ import annotations

import math
from collections.abc import Sequence

from onnxtune.tir import op as tir_op
from onnxtune.tir import te
from onnxtune.tir.expr import PrimExpr, cast

from . import OpPattern, register_op
from ._util import scalar, shape_of

_COORD = ("half_pixel", "align_corners", "asymmetric", "pytorch_half_pixel",
          "tf_half_pixel_for_nn", "half_pixel_symmetric", "tf_crop_and_resize")
_NEAREST = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")


def _in_coord(o: PrimExpr, n_in: int, n_out: int, scale: float, mode: str,
              resized: float, roi: tuple[float, float] = (0.0, 1.0)) -> PrimExpr:
    """The input coordinate (float32) an output index maps to; ``resized`` is the resized
    length align_corners and tf_crop_and_resize divide by (``n_in * scale`` when ONNX
    scales are given, as the ONNX reference computes it; else ``n_out``); ``roi`` is the
    (start, end) of tf_crop_and_resize's crop, normalized to [0, 1]."""
    x = cast("float32", o)
    f = _c
    if mode == "tf_crop_and_resize":
        a, b = roi
        if resized == 1:
            return f((b - a) * (n_in - 1) / 2 + a * (n_in - 1))
        return x * f((b - a) * (n_in - 1) / (resized - 1)) + f(a * (n_in - 1))
    if mode == "half_pixel":
        return (x + f(0.5)) / f(scale) - f(0.5)
    if mode == "half_pixel_symmetric":
        adj = n_out / (scale * n_in)
        center = n_in / 2 * (1 - adj)
        return (x + f(0.5)) / f(scale) - f(0.5) + f(center)
    if mode == "pytorch_half_pixel":
        return (x + f(0.5)) / f(scale) - f(0.5) if n_out > 1 else f(0.0)
    if mode == "align_corners":
        return x * f((n_in - 1) / (resized - 1)) if resized > 1 and n_out > 1 else f(0.0)
    if mode == "asymmetric":
        return x / f(scale)
    return (x + f(0.5)) / f(scale)  # tf_half_pixel_for_nn


def _inside(n_in: int, n_out: int, roi: tuple[float, float], resized: float) -> list[int]:
    """The output indices whose tf_crop_and_resize coordinate lies in [0, n_in - 1] (the
    others get the extrapolation value), computed as the ONNX reference does (the roi
    terms in float32, the rest in float64), so a coordinate on the border falls on the
    same side; they form one interval (the coordinate is affine in the index)."""
    import numpy as np

    a, b = np.float32(roi[0]), np.float32(roi[1])
    width = float(b - a)
    base = float(a * np.float32(n_in - 1))
    out = []
    for o in range(n_out):
        if resized == 1:
            x = width * (n_in - 1) / 2
        else:
            x = o * width * (n_in - 1) / (resized - 1)
        x += base
        if 0 <= x <= n_in - 1:
            out.append(o)
    return out


def _in_range(o: PrimExpr, inside: list[int], n_out: int) -> PrimExpr | None:
    """Condition ``o in inside`` (None when every index is inside)."""
    if len(inside) == n_out:
        return None
    if not inside:
        return tir_op.all(o < 0)  # never
    conds = []
    if inside[0] > 0:
        conds.append(o >= inside[0])
    if inside[-1] < n_out - 1:
        conds.append(o <= inside[-1])
    return tir_op.all(*conds)


def _c(v: float) -> PrimExpr:
    from onnxtune.tir.expr import const

    return const(float(v), "float32")


def _clamp(i: PrimExpr, n: int) -> PrimExpr:
    return te.min(te.max(i, 0), n - 1)


def _nearest(x: PrimExpr, mode: str) -> PrimExpr:
    if mode == "round_prefer_floor":
        r = tir_op.ceil(x - _c(0.5))
    elif mode == "round_prefer_ceil":
        r = tir_op.floor(x + _c(0.5))
    elif mode == "floor":
        r = tir_op.floor(x)
    else:
        r = tir_op.ceil(x)
    return cast("int32", r)


def _cubic_weights(t: PrimExpr, a: float) -> list[PrimExpr]:
    """Keys cubic weights of the points at offsets -1, 0, 1, 2 from floor(x)."""
    A = _c(a)

    def far(d: PrimExpr) -> PrimExpr:  # 1 <= |d| < 2
        return ((A * d - _c(5 * a)) * d + _c(8 * a)) * d - _c(4 * a)

    def near(d: PrimExpr) -> PrimExpr:  # |d| <= 1
        return ((A + _c(2)) * d - (A + _c(3))) * d * d + _c(1)

    one = _c(1)
    return [far(t + one), near(t), near(one - t), far(_c(2) - t)]


@register_op("image.resize2d", OpPattern.INJECTIVE)
def resize2d(
    data: te.Tensor,
    size: Sequence[int],
    method: str = "nearest",
    coordinate_transformation_mode: str = "half_pixel",
    nearest_mode: str = "round_prefer_floor",
    cubic_coeff_a: float = -0.75,
    exclude_outside: bool = False,
    scales: Sequence[float] | None = None,
    roi: Sequence[Sequence[float]] | None = None,
    extrapolation_value: float = 0.0,
    antialias: bool = False,
) -> te.Tensor:
    """Resize the last two dims of ``data`` to ``size`` (``scales``, when given, are ONNX's
    scale factors used in the coordinate transform; default ``out / in``).

    ``coordinate_transformation_mode="tf_crop_and_resize"`` takes ``roi`` = ((h_start,
    h_end), (w_start, w_end)) in [0, 1] coordinates; outputs whose coordinate falls outside
    the input get ``extrapolation_value``. ``antialias`` (linear and cubic): when
    downsampling by a scale s < 1 the interpolation kernel is stretched by 1 / s and its
    weights renormalized (ONNX Resize-18 antialias), computed as one reduction per axis."""
    shp = shape_of(data)
    if len(shp) < 2:
        raise ValueError(f"image.resize2d: data must be at least 2-d, got {shp}")
    if method not in ("nearest", "linear", "cubic"):
        raise ValueError(f"image.resize2d: method must be nearest, linear or cubic, got "
                         f"{method!r}")
    if coordinate_transformation_mode not in _COORD:
        raise NotImplementedError(
            f"image.resize2d: coordinate_transformation_mode "
            f"{coordinate_transformation_mode!r} is not supported; supported: {', '.join(_COORD)}"
        )
    if method == "nearest" and nearest_mode not in _NEAREST:
        raise ValueError(f"image.resize2d: nearest_mode must be one of {_NEAREST}, got "
                         f"{nearest_mode!r}")
    if antialias and method == "nearest":
        raise ValueError("image.resize2d: antialias applies to linear and cubic, not nearest")
    lead = shp[:-2]
    hin, win = shp[-2:]
    hout, wout = (int(s) for s in size)
    sc = (hout / hin, wout / win) if scales is None else tuple(float(s) for s in scales)
    rh, rw = (hout, wout) if scales is None else (hin * sc[0], win * sc[1])
    mode = coordinate_transformation_mode
    rois: tuple[tuple[float, float], ...] = ((0.0, 1.0), (0.0, 1.0))
    if mode == "tf_crop_and_resize":
        if roi is None:
            raise ValueError("image.resize2d: tf_crop_and_resize needs roi ((h0, h1), (w0, w1))")
        rois = tuple((float(a), float(b)) for a, b in roi)
        if len(rois) != 2:
            raise ValueError(f"image.resize2d: roi must be two (start, end) pairs, got {roi!r}")
    extrap = scalar(extrapolation_value, data.dtype)
    if mode == "tf_crop_and_resize":
        ins_h = _inside(hin, hout, rois[0], rh)
        ins_w = _inside(win, wout, rois[1], rw)
    if antialias:
        geo = [(hin, hout, sc[0], rh, rois[0]), (win, wout, sc[1], rw, rois[1])]
        return _resize_antialias(data, geo, method, mode, cubic_coeff_a, exclude_outside,
                                 extrap)

    def f(*i: PrimExpr) -> PrimExpr:
        v = interp(*i)
        if mode != "tf_crop_and_resize":
            return v
        conds = [c for c in (_in_range(i[-2], ins_h, hout), _in_range(i[-1], ins_w, wout))
                 if c is not None]
        return te.if_then_else(tir_op.all(*conds), v, extrap) if conds else v

    def interp(*i: PrimExpr) -> PrimExpr:
        pre, y, x = i[:-2], i[-2], i[-1]
        fy = _in_coord(y, hin, hout, sc[0], mode, rh, rois[0])
        fx = _in_coord(x, win, wout, sc[1], mode, rw, rois[1])
        if method == "nearest":
            iy = _clamp(_nearest(fy, nearest_mode), hin)
            ix = _clamp(_nearest(fx, nearest_mode), win)
            return data[(*pre, iy, ix)]
        if method == "linear":
            fy = te.min(te.max(fy, _c(0)), _c(hin - 1))
            fx = te.min(te.max(fx, _c(0)), _c(win - 1))
            y0, x0 = cast("int32", tir_op.floor(fy)), cast("int32", tir_op.floor(fx))
            y1, x1 = te.min(y0 + 1, hin - 1), te.min(x0 + 1, win - 1)
            ty = fy - cast("float32", y0)
            tx = fx - cast("float32", x0)

            def v(a: PrimExpr, b: PrimExpr) -> PrimExpr:
                return cast("float32", data[(*pre, a, b)])

            one = _c(1)
            top = v(y0, x0) * (one - tx) + v(y0, x1) * tx
            bot = v(y1, x0) * (one - tx) + v(y1, x1) * tx
            return cast(data.dtype, top * (one - ty) + bot * ty)
        y0, x0 = cast("int32", tir_op.floor(fy)), cast("int32", tir_op.floor(fx))
        wy = _cubic_weights(fy - cast("float32", y0), cubic_coeff_a)
        wx = _cubic_weights(fx - cast("float32", x0), cubic_coeff_a)
        if exclude_outside:
            wy = _masked(wy, y0, hin)
            wx = _masked(wx, x0, win)
        total = None
        for a in range(4):
            row = None
            for b in range(4):
                p = cast("float32", data[(*pre, _clamp(y0 + (a - 1), hin),
                                          _clamp(x0 + (b - 1), win))]) * wx[b]
                row = p if row is None else row + p
            term = row * wy[a]
            total = term if total is None else total + term
        return cast(data.dtype, total)

    return te.compute((*lead, hout, wout), f, name="resize")


def _aa_kernel(d: PrimExpr, method: str, a: float) -> PrimExpr:
    """The antialias kernel at distance ``d`` (already scaled): the triangle, or Keys'
    cubic with coefficient ``a`` (zero beyond 2)."""
    ad = te.abs(d)
    if method == "linear":
        return te.max(_c(1) - ad, _c(0))
    A = _c(a)
    near = ((A + _c(2)) * ad - (A + _c(3))) * ad * ad + _c(1)
    far = ((A * ad - _c(5 * a)) * ad + _c(8 * a)) * ad - _c(4 * a)
    return tir_op.select(ad <= _c(1), near, tir_op.select(ad < _c(2), far, _c(0)))


def _resize_antialias(data: te.Tensor, geo: list, method: str, mode: str, cubic_a: float,
                      exclude_outside: bool, extrap: PrimExpr) -> te.Tensor:
    """Separable antialiased resize (H, then W), as the ONNX reference: for an output at
    input coordinate x and scale s' = min(s, 1), the taps are the n = 2 - 2 * start
    indices from ceil(x) + start - 1 (start = floor(-r / s') + 1, r = 1 linear, 2 cubic),
    weighted by kernel((idx - x) * s') normalized to sum 1 (edge values beyond the input;
    ``exclude_outside`` drops those taps)."""
    shp = shape_of(data)
    nd = len(shp)
    cur = data
    for j, (n_in, n_out, s, resized, roi) in enumerate(geo):
        ax = nd - 2 + j
        se = min(s, 1.0)
        start = math.floor((-1.0 if method == "linear" else -2.0) / se) + 1
        n = 2 - 2 * start
        src = cur

        def coord(o: PrimExpr, n_in=n_in, n_out=n_out, s=s, resized=resized,
                  roi=roi) -> PrimExpr:
            return _in_coord(o, n_in, n_out, s, mode, resized, roi)

        def weight(o: PrimExpr, t: PrimExpr, n_in=n_in, se=se, start=start,
                   coord=coord) -> tuple[PrimExpr, PrimExpr]:
            x = coord(o)
            idx = cast("int32", tir_op.ceil(x)) + (start - 1) + t
            w = _aa_kernel((cast("float32", idx) - x) * _c(se), method, cubic_a)
            if exclude_outside:
                w = tir_op.select(tir_op.all(idx >= 0, idx < n_in), w, _c(0))
            return w, _clamp(idx, n_in)

        def fnorm(o: PrimExpr, n=n, weight=weight) -> PrimExpr:
            t = te.reduce_axis((0, n), name="t")
            return te.sum(weight(o, t)[0], axis=t)

        norm = te.compute((n_out,), fnorm, name=f"resize_aa_norm{j}")

        def facc(*i: PrimExpr, ax=ax, n=n, src=src, weight=weight) -> PrimExpr:
            t = te.reduce_axis((0, n), name="t")
            w, idx = weight(i[ax], t)
            v = src[(*i[:ax], idx, *i[ax + 1:])]
            return te.sum(w * cast("float32", v), axis=t)

        oshape = tuple(n_out if k == ax else shape_of(src)[k] for k in range(nd))
        acc = te.compute(oshape, facc, name=f"resize_aa_sum{j}")
        last = j == len(geo) - 1
        inside = (_inside(n_in, n_out, roi, resized) if mode == "tf_crop_and_resize"
                  else list(range(n_out)))

        def fdiv(*i: PrimExpr, ax=ax, acc=acc, norm=norm, inside=inside, n_out=n_out,
                 last=last) -> PrimExpr:
            v = acc[i] / norm[i[ax]]
            if last:
                v = cast(data.dtype, v)
            c = _in_range(i[ax], inside, n_out)
            if c is None:
                return v
            e = extrap if last else cast("float32", extrap)
            return te.if_then_else(c, v, e)

        cur = te.compute(oshape, fdiv, name="resize" if last else f"resize_aa{j}")
    return cur


def _masked(w: list[PrimExpr], i0: PrimExpr, n: int) -> list[PrimExpr]:
    """Weights of points outside [0, n) set to zero and the rest renormalized."""
    out = [tir_op.select(tir_op.all(i0 + (k - 1) >= 0, i0 + (k - 1) < n), w[k], _c(0))
           for k in range(4)]
    s = out[0] + out[1] + out[2] + out[3]
    return [o / s for o in out]
