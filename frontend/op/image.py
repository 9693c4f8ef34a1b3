"""``image.resize2d``: ONNX Resize over the two spatial dims of NCHW data."""

from __future__ import annotations

from collections.abc import Sequence

from onnxtune.tir import op as tir_op
from onnxtune.tir import te
from onnxtune.tir.expr import PrimExpr, cast

from . import OpPattern, register_op
from ._util import shape_of

_COORD = ("half_pixel", "align_corners", "asymmetric", "pytorch_half_pixel",
          "tf_half_pixel_for_nn", "half_pixel_symmetric")
_NEAREST = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")


def _in_coord(o: PrimExpr, n_in: int, n_out: int, scale: float, mode: str,
              resized: float) -> PrimExpr:
    """The input coordinate (float32) an output index maps to; ``resized`` is the resized
    length align_corners divides by (``n_in * scale`` when ONNX scales are given, as the
    ONNX reference computes it; else ``n_out``)."""
    x = cast("float32", o)
    f = _c
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
) -> te.Tensor:
    """Resize the last two dims of ``data`` to ``size`` (``scales``, when given, are ONNX's
    scale factors used in the coordinate transform; default ``out / in``)."""
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
    lead = shp[:-2]
    hin, win = shp[-2:]
    hout, wout = (int(s) for s in size)
    sc = (hout / hin, wout / win) if scales is None else tuple(float(s) for s in scales)
    rh, rw = (hout, wout) if scales is None else (hin * sc[0], win * sc[1])
    mode = coordinate_transformation_mode

    def f(*i: PrimExpr) -> PrimExpr:
        pre, y, x = i[:-2], i[-2], i[-1]
        fy = _in_coord(y, hin, hout, sc[0], mode, rh)
        fx = _in_coord(x, win, wout, sc[1], mode, rw)
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


def _masked(w: list[PrimExpr], i0: PrimExpr, n: int) -> list[PrimExpr]:
    """Weights of points outside [0, n) set to zero and the rest renormalized."""
    out = [tir_op.select(tir_op.all(i0 + (k - 1) >= 0, i0 + (k - 1) < n), w[k], _c(0))
           for k in range(4)]
    s = out[0] + out[1] + out[2] + out[3]
    return [o / s for o in out]
