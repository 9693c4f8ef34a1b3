"""PNG line charts with numpy and the standard library only (no plotting or imaging package).

A tiny rasterizer: a white RGB canvas (``numpy.uint8``, shape ``(height, width, 3)``), axes with
"nice" ticks and grid lines, an anti-aliased 2-px step curve with optional point markers, and
text from a built-in 5x7 bitmap font (8 rows with the descender row). :func:`encode_png` writes
the canvas as a PNG file (IHDR, one zlib IDAT, IEND, filter type 0 on every row).

The charts carry the same data as the report's SVG charts (:mod:`onnxtune.report`): a step
chart of ``(x, y)`` points, x ascending, NaN/inf points skipped; no valid point gives a chart
that says so.
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Sequence

import numpy as np

# -- font ----------------------------------------------------------------------------------
# Each glyph: 7 rows of 5 columns ('#' = ink), plus an 8th descender row for g j p q y , ;.
_GLYPH_ROWS = {
    "0": ".###. #...# #..## #.#.# ##..# #...# .###.",
    "1": "..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###.",
    "2": ".###. #...# ....# ...#. ..#.. .#... #####",
    "3": "##### ...#. ..#.. ...#. ....# #...# .###.",
    "4": "...#. ..##. .#.#. #..#. ##### ...#. ...#.",
    "5": "##### #.... ####. ....# ....# #...# .###.",
    "6": "..##. .#... #.... ####. #...# #...# .###.",
    "7": "##### ....# ...#. ..#.. .#... .#... .#...",
    "8": ".###. #...# #...# .###. #...# #...# .###.",
    "9": ".###. #...# #...# .#### ....# ...#. .##..",
    "A": ".###. #...# #...# #...# ##### #...# #...#",
    "B": "####. #...# #...# ####. #...# #...# ####.",
    "C": ".###. #...# #.... #.... #.... #...# .###.",
    "D": "###.. #..#. #...# #...# #...# #..#. ###..",
    "E": "##### #.... #.... ####. #.... #.... #####",
    "F": "##### #.... #.... ####. #.... #.... #....",
    "G": ".###. #...# #.... #.### #...# #...# .####",
    "H": "#...# #...# #...# ##### #...# #...# #...#",
    "I": ".###. ..#.. ..#.. ..#.. ..#.. ..#.. .###.",
    "J": "..### ...#. ...#. ...#. ...#. #..#. .##..",
    "K": "#...# #..#. #.#.. ##... #.#.. #..#. #...#",
    "L": "#.... #.... #.... #.... #.... #.... #####",
    "M": "#...# ##.## #.#.# #.#.# #...# #...# #...#",
    "N": "#...# #...# ##..# #.#.# #..## #...# #...#",
    "O": ".###. #...# #...# #...# #...# #...# .###.",
    "P": "####. #...# #...# ####. #.... #.... #....",
    "Q": ".###. #...# #...# #...# #.#.# #..#. .##.#",
    "R": "####. #...# #...# ####. #.#.. #..#. #...#",
    "S": ".#### #.... #.... .###. ....# ....# ####.",
    "T": "##### ..#.. ..#.. ..#.. ..#.. ..#.. ..#..",
    "U": "#...# #...# #...# #...# #...# #...# .###.",
    "V": "#...# #...# #...# #...# #...# .#.#. ..#..",
    "W": "#...# #...# #...# #.#.# #.#.# #.#.# .#.#.",
    "X": "#...# #...# .#.#. ..#.. .#.#. #...# #...#",
    "Y": "#...# #...# .#.#. ..#.. ..#.. ..#.. ..#..",
    "Z": "##### ....# ...#. ..#.. .#... #.... #####",
    "a": "..... ..... .###. ....# .#### #...# .####",
    "b": "#.... #.... #.##. ##..# #...# #...# ####.",
    "c": "..... ..... .###. #.... #.... #...# .###.",
    "d": "....# ....# .##.# #..## #...# #...# .####",
    "e": "..... ..... .###. #...# ##### #.... .###.",
    "f": "..##. .#..# .#... ###.. .#... .#... .#...",
    "g": "..... ..... .#### #...# #...# .#### ....# .###.",
    "h": "#.... #.... #.##. ##..# #...# #...# #...#",
    "i": "..#.. ..... .##.. ..#.. ..#.. ..#.. .###.",
    "j": "...#. ..... ..##. ...#. ...#. ...#. #..#. .##..",
    "k": "#.... #.... #..#. #.#.. ##... #.#.. #..#.",
    "l": ".##.. ..#.. ..#.. ..#.. ..#.. ..#.. .###.",
    "m": "..... ..... ##.#. #.#.# #.#.# #...# #...#",
    "n": "..... ..... #.##. ##..# #...# #...# #...#",
    "o": "..... ..... .###. #...# #...# #...# .###.",
    "p": "..... ..... ####. #...# #...# ####. #.... #....",
    "q": "..... ..... .##.# #..## #...# .#### ....# ....#",
    "r": "..... ..... #.##. ##..# #.... #.... #....",
    "s": "..... ..... .###. #.... .###. ....# ####.",
    "t": ".#... .#... ###.. .#... .#... .#..# ..##.",
    "u": "..... ..... #...# #...# #...# #..## .##.#",
    "v": "..... ..... #...# #...# #...# .#.#. ..#..",
    "w": "..... ..... #...# #...# #.#.# #.#.# .#.#.",
    "x": "..... ..... #...# .#.#. ..#.. .#.#. #...#",
    "y": "..... ..... #...# #...# #...# .#### ....# .###.",
    "z": "..... ..... ##### ...#. ..#.. .#... #####",
    "µ": "..... ..... #...# #...# #...# ##..# #.##. #....",
    " ": "..... ..... ..... ..... ..... ..... .....",
    ".": "..... ..... ..... ..... ..... .##.. .##..",
    ",": "..... ..... ..... ..... ..... .##.. ..#.. .#...",
    ";": "..... .##.. .##.. ..... .##.. ..#.. .#...",
    ":": "..... .##.. .##.. ..... .##.. .##.. .....",
    "-": "..... ..... ..... ##### ..... ..... .....",
    "+": "..... ..#.. ..#.. ##### ..#.. ..#.. .....",
    "=": "..... ..... ##### ..... ##### ..... .....",
    "(": "...#. ..#.. .#... .#... .#... ..#.. ...#.",
    ")": ".#... ..#.. ...#. ...#. ...#. ..#.. .#...",
    "[": ".###. .#... .#... .#... .#... .#... .###.",
    "]": ".###. ...#. ...#. ...#. ...#. ...#. .###.",
    "<": "...#. ..#.. .#... #.... .#... ..#.. ...#.",
    ">": ".#... ..#.. ...#. ....# ...#. ..#.. .#...",
    "/": "..... ....# ...#. ..#.. .#... #.... .....",
    "%": "##... ##..# ...#. ..#.. .#... #..## ...##",
    "_": "..... ..... ..... ..... ..... ..... #####",
    "?": ".###. #...# ....# ...#. ..#.. ..... ..#..",
    "!": "..#.. ..#.. ..#.. ..#.. ..#.. ..... ..#..",
    "'": "..#.. ..#.. .#... ..... ..... ..... .....",
    '"': ".#.#. .#.#. ..... ..... ..... ..... .....",
    "#": ".#.#. .#.#. ##### .#.#. ##### .#.#. .#.#.",
    "*": "..... ..#.. #.#.# .###. #.#.# ..#.. .....",
}
GLYPH_W, GLYPH_H, ADVANCE = 5, 8, 6


def _parse_glyphs() -> dict[str, np.ndarray]:
    out = {}
    for ch, spec in _GLYPH_ROWS.items():
        rows = spec.split()
        assert len(rows) in (7, 8) and all(len(r) == GLYPH_W for r in rows), ch
        rows = rows + ["....."] * (GLYPH_H - len(rows))
        out[ch] = np.array([[c == "#" for c in r] for r in rows], dtype=bool)
    return out


GLYPHS = _parse_glyphs()


def text_mask(text: str, scale: int = 1) -> np.ndarray:
    """The ink of ``text`` as a bool array ``(8*scale, 6*scale*len(text))``; characters the
    font lacks are drawn as '?'."""
    n = len(text)
    m = np.zeros((GLYPH_H, max(ADVANCE * n - 1, 1)), dtype=bool)
    for i, ch in enumerate(text):
        m[:, i * ADVANCE:i * ADVANCE + GLYPH_W] = GLYPHS.get(ch, GLYPHS["?"])
    if scale > 1:
        m = np.repeat(np.repeat(m, scale, axis=0), scale, axis=1)
    return m


def text_width(text: str, scale: int = 1) -> int:
    return max(ADVANCE * len(text) - 1, 1) * scale


# -- canvas --------------------------------------------------------------------------------
def _rgb(color: str | Sequence[int]) -> np.ndarray:
    if isinstance(color, str):
        c = color.lstrip("#")
        return np.array([int(c[k:k + 2], 16) for k in (0, 2, 4)], dtype=np.float64)
    return np.asarray(color, dtype=np.float64)


class Canvas:
    """An RGB image with a few drawing operations (coordinates: x = column, y = row)."""

    def __init__(self, width: int, height: int, background: str = "#ffffff"):
        if width < 1 or height < 1:
            raise ValueError(f"Canvas: size must be positive, got {width}x{height}")
        self.width, self.height = int(width), int(height)
        self.pixels = np.empty((self.height, self.width, 3), dtype=np.uint8)
        self.pixels[:] = _rgb(background).astype(np.uint8)

    def fill_rect(self, x0: int, y0: int, x1: int, y1: int, color: str) -> None:
        """Fill columns x0..x1-1, rows y0..y1-1 (clipped)."""
        x0, x1 = max(int(x0), 0), min(int(x1), self.width)
        y0, y1 = max(int(y0), 0), min(int(y1), self.height)
        if x0 < x1 and y0 < y1:
            self.pixels[y0:y1, x0:x1] = _rgb(color).astype(np.uint8)

    def hline(self, x0: int, x1: int, y: int, color: str) -> None:
        self.fill_rect(min(x0, x1), y, max(x0, x1) + 1, y + 1, color)

    def vline(self, x: int, y0: int, y1: int, color: str) -> None:
        self.fill_rect(x, min(y0, y1), x + 1, max(y0, y1) + 1, color)

    def blit_mask(self, mask: np.ndarray, x: int, y: int, color: str) -> None:
        """Paint ``mask``'s True pixels with its top-left corner at (x, y) (clipped)."""
        h, w = mask.shape
        cx0, cy0 = max(x, 0), max(y, 0)
        cx1, cy1 = min(x + w, self.width), min(y + h, self.height)
        if cx0 >= cx1 or cy0 >= cy1:
            return
        sub = mask[cy0 - y:cy1 - y, cx0 - x:cx1 - x]
        self.pixels[cy0:cy1, cx0:cx1][sub] = _rgb(color).astype(np.uint8)

    def text(self, s: str, x: int, y: int, color: str = "#222222", scale: int = 1,
             anchor: str = "start", rotate: bool = False) -> None:
        """Draw ``s`` with its top edge at ``y``; ``anchor`` start/middle/end places ``x``.
        ``rotate`` turns it 90 degrees counter-clockwise (reading upward; then ``y`` is the
        vertical anchor point and ``x`` the left edge)."""
        m = text_mask(s, scale)
        if rotate:
            m = np.rot90(m)
            off = {"start": m.shape[0], "middle": m.shape[0] // 2, "end": 0}[anchor]
            self.blit_mask(m, x, y - off, color)
            return
        off = {"start": 0, "middle": m.shape[1] // 2, "end": m.shape[1]}[anchor]
        self.blit_mask(m, x - off, y, color)

    def blend(self, alpha: np.ndarray, color: str) -> None:
        """Composite ``color`` over the image with per-pixel coverage ``alpha`` in [0, 1]."""
        a = np.clip(alpha, 0.0, 1.0)[..., None]
        img = self.pixels.astype(np.float64)
        self.pixels = np.rint(img * (1.0 - a) + _rgb(color) * a).astype(np.uint8)


def _segment_coverage(cov: np.ndarray, p: tuple[float, float], q: tuple[float, float],
                      half_width: float) -> None:
    """Max-accumulate into ``cov`` the anti-aliased coverage of a thick segment p-q (round
    caps): 1 within ``half_width`` of the segment, falling linearly to 0 over one pixel."""
    h, w = cov.shape
    pad = half_width + 1.0
    x0 = max(int(math.floor(min(p[0], q[0]) - pad)), 0)
    x1 = min(int(math.ceil(max(p[0], q[0]) + pad)) + 1, w)
    y0 = max(int(math.floor(min(p[1], q[1]) - pad)), 0)
    y1 = min(int(math.ceil(max(p[1], q[1]) + pad)) + 1, h)
    if x0 >= x1 or y0 >= y1:
        return
    xs = np.arange(x0, x1, dtype=np.float64)[None, :]
    ys = np.arange(y0, y1, dtype=np.float64)[:, None]
    dx, dy = q[0] - p[0], q[1] - p[1]
    ll = dx * dx + dy * dy
    if ll < 1e-12:
        t = 0.0
    else:
        t = np.clip(((xs - p[0]) * dx + (ys - p[1]) * dy) / ll, 0.0, 1.0)
    d = np.hypot(xs - (p[0] + t * dx), ys - (p[1] + t * dy))
    c = np.clip(half_width + 0.5 - d, 0.0, 1.0)
    np.maximum(cov[y0:y1, x0:x1], c, out=cov[y0:y1, x0:x1])


def polyline_coverage(shape: tuple[int, int], pts: Sequence[tuple[float, float]],
                      width: float = 2.0) -> np.ndarray:
    """Coverage (float array of ``shape``) of an anti-aliased polyline ``width`` px thick."""
    cov = np.zeros(shape, dtype=np.float64)
    if len(pts) == 1:
        _segment_coverage(cov, pts[0], pts[0], width / 2)
    for p, q in zip(pts[:-1], pts[1:], strict=False):
        _segment_coverage(cov, p, q, width / 2)
    return cov


def disc_coverage(shape: tuple[int, int], centers: Sequence[tuple[float, float]],
                  radius: float) -> np.ndarray:
    """Coverage of filled anti-aliased discs."""
    cov = np.zeros(shape, dtype=np.float64)
    for c in centers:
        _segment_coverage(cov, c, c, radius - 0.5)
    return cov


# -- axes ----------------------------------------------------------------------------------
def nice_ticks(lo: float, hi: float, target: int = 5) -> list[float]:
    """Round ticks inside ``[lo, hi]`` (steps of 1, 2 or 5 times a power of ten, about
    ``target`` of them). Falls back to ``[lo, hi]`` where the arithmetic under- or
    overflows."""
    span = hi - lo
    if not (math.isfinite(span) and span > 0):
        return [lo, hi] if lo != hi else [lo]
    raw = span / max(target, 1)
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next((m * mag for m in (1.0, 2.0, 5.0, 10.0) if raw <= m * mag * (1 + 1e-9)),
                10.0 * mag)
    if not (math.isfinite(step) and step > 0):
        return [lo, hi]
    k0, k1 = math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9)
    if k1 - k0 > 4 * target + 2 or k1 < k0:
        return [lo, hi]
    return [k * step for k in range(k0, k1 + 1)]


def format_tick(v: float, step: float) -> str:
    """A short label for tick ``v`` on an axis with tick spacing ``step``: fixed point with
    just the decimals the step needs for ordinary magnitudes, else compact scientific
    (``2.5e-07``, ``1e+09``)."""
    if not math.isfinite(v):
        return str(v)
    if step > 0 and abs(v) < step * 1e-6:
        return "0"
    big = max(abs(v), step)
    dec = max(0, -math.floor(math.log10(step) + 1e-9)) if step > 0 else 99
    if 1e-3 <= big < 1e6 and dec <= 8:
        return f"{v:.{dec}f}"
    if step > 0 and v != 0:  # enough mantissa digits that neighbouring ticks differ
        digits = max(0, min(15, math.floor(math.log10(abs(v)) + 1e-9)
                             - math.floor(math.log10(step) + 1e-9)))
    else:
        digits = 2
    m, e = f"{v:.{digits}e}".split("e")
    return f"{m}e{int(e):+03d}"


def _fit_text(s: str, max_width: int) -> tuple[str, int]:
    """(text, scale): scale 2 where it fits, else scale 1, shortened with '...' if needed."""
    if text_width(s, 2) <= max_width:
        return s, 2
    n = max(max_width // ADVANCE, 4)
    return (s if len(s) <= n else s[:n - 3] + "..."), 1


# -- chart ---------------------------------------------------------------------------------
CURVE_COLOR = "#1f77b4"
AXIS_COLOR = "#333333"
GRID_COLOR = "#e8e8e8"
TEXT_COLOR = "#222222"
_LIMIT = 1e300  # larger magnitudes (and NaN/inf) are skipped: the axis math would overflow


def render_curve(points: Sequence[tuple[float, float]], title: str, xlabel: str, ylabel: str,
                 width: int = 640, height: int = 320, markers: bool | None = None,
                 extend_to: float | None = None) -> np.ndarray:
    """A step chart of ``points`` (x ascending) as an RGB array ``(height, width, 3)``.

    Points with a non-finite x or y (or one beyond 1e300) are skipped; with none left the
    chart shows the title and "no valid measurement yet". ``markers`` (default: when at most
    60 points) draws a dot on each point. ``extend_to`` continues the last value horizontally
    up to that x (the trials spent after the last point; no marker there)."""
    if width < 120 or height < 80:
        raise ValueError(f"render_curve: {width}x{height} is too small (min 120x80)")
    cv = Canvas(width, height)
    pts = [(float(x), float(y)) for x, y in points
           if abs(float(x)) <= _LIMIT and abs(float(y)) <= _LIMIT]  # False for NaN
    t, ts = _fit_text(title, width - 16)
    cv.text(t, 8, 6, TEXT_COLOR, scale=ts)
    top = 6 + 8 * ts + 10
    if not pts:
        msg = "no valid measurement yet"
        cv.text(msg, width // 2, (top + height) // 2 - 8, TEXT_COLOR, scale=2, anchor="middle")
        return cv.pixels

    # ranges (as the SVG: x from 0, y padded when flat), then rounded to nice ticks
    xs = [p[0] for p in pts]
    ys = [p[1] for p in pts]
    x0 = min(0.0, min(xs))
    x1 = max(xs)
    if extend_to is not None and abs(extend_to) <= _LIMIT and extend_to > x1:
        x1 = float(extend_to)
    x_end = x1  # where the curve ends (x1 gets padding below)
    if not x1 > x0:
        x1 = x0 + 1.0
    y0, y1 = min(ys), max(ys)
    if not y1 - y0 > 1e-12 * max(abs(y0), abs(y1)):
        pad = abs(y0) * 0.1 if y0 != 0 else 1.0
        y0, y1 = y0 - pad, y1 + pad
    y0, y1 = y0 - 0.05 * (y1 - y0), y1 + 0.05 * (y1 - y0)
    x1 += 0.02 * (x1 - x0)
    xt, yt = nice_ticks(x0, x1, 6), nice_ticks(y0, y1, 5)
    xstep = xt[1] - xt[0] if len(xt) > 1 else abs(x1) or 1.0
    ystep = yt[1] - yt[0] if len(yt) > 1 else abs(y1) or 1.0
    ylabels = [format_tick(v, ystep) for v in yt]

    left = 4 + GLYPH_H + 8 + max(text_width(s) for s in ylabels) + 6
    right = 18
    bottom = 4 + GLYPH_H + 6 + GLYPH_H + 6
    pw, ph = width - left - right, height - top - bottom
    if pw < 20 or ph < 20:
        raise ValueError(f"render_curve: {width}x{height} leaves no room for the plot")

    def sx(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * (pw - 1)

    def sy(y: float) -> float:
        return top + (y1 - y) / (y1 - y0) * (ph - 1)

    # grid, axes, ticks and their labels
    for v, s in zip(yt, ylabels, strict=True):
        r = int(round(sy(v)))
        cv.hline(left, left + pw - 1, r, GRID_COLOR)
        cv.hline(left - 4, left - 1, r, AXIS_COLOR)
        cv.text(s, left - 7, r - 3, TEXT_COLOR, anchor="end")
    last_end = -10**9
    for v in xt:
        c = int(round(sx(v)))
        cv.vline(c, top, top + ph - 1, GRID_COLOR)
        cv.vline(c, top + ph, top + ph + 3, AXIS_COLOR)
        s = format_tick(v, xstep)
        tw = text_width(s)
        lx = min(max(c - tw // 2, 0), width - tw)
        if lx > last_end + 4:  # skip labels that would overlap the previous one
            cv.text(s, lx, top + ph + 6, TEXT_COLOR)
            last_end = lx + tw
    cv.vline(left, top, top + ph - 1, AXIS_COLOR)
    cv.hline(left, left + pw - 1, top + ph - 1, AXIS_COLOR)
    cv.text(xlabel, left + pw // 2, height - 4 - GLYPH_H, TEXT_COLOR, anchor="middle")
    cv.text(ylabel, 4, top + ph // 2, TEXT_COLOR, anchor="middle", rotate=True)

    # the step curve: horizontal at the previous best, then down/up to the new one
    verts: list[tuple[float, float]] = []
    for k, (x, y) in enumerate(pts):
        px, py = sx(x), sy(y)
        if k:
            verts.append((px, verts[-1][1]))
        verts.append((px, py))
    if x_end > pts[-1][0]:
        verts.append((sx(x_end), verts[-1][1]))
    verts = _simplify(verts)
    shape = (height, width)
    cov = polyline_coverage(shape, verts, 2.0)
    if markers is None:
        markers = len(pts) <= 60
    if markers:
        np.maximum(cov, disc_coverage(shape, [(sx(x), sy(y)) for x, y in pts], 3.0), out=cov)
    cv.blend(cov, CURVE_COLOR)
    return cv.pixels


def _simplify(verts: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Drop vertices that repeat (within 0.25 px) or sit inside a horizontal/vertical run, so
    a long curve with few changes costs few segments."""
    out: list[tuple[float, float]] = []
    for v in verts:
        if out and abs(v[0] - out[-1][0]) < 0.25 and abs(v[1] - out[-1][1]) < 0.25:
            continue
        if len(out) >= 2:
            a, b = out[-2], out[-1]
            if (abs(a[1] - b[1]) < 1e-9 and abs(b[1] - v[1]) < 1e-9) or \
                    (abs(a[0] - b[0]) < 1e-9 and abs(b[0] - v[0]) < 1e-9):
                out[-1] = v
                continue
        out.append(v)
    return out


# -- PNG -----------------------------------------------------------------------------------
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def encode_png(pixels: np.ndarray) -> bytes:
    """An 8-bit RGB (``(h, w, 3)``) or grayscale (``(h, w)``) uint8 array as PNG bytes."""
    a = np.asarray(pixels)
    if a.dtype != np.uint8 or a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] != 3):
        raise ValueError(f"encode_png: expected uint8 (h, w) or (h, w, 3), got {a.dtype} "
                         f"{a.shape}")
    h, w = a.shape[:2]
    if h < 1 or w < 1:
        raise ValueError(f"encode_png: empty image {a.shape}")
    color_type = 2 if a.ndim == 3 else 0
    rows = np.ascontiguousarray(a).reshape(h, -1)
    raw = np.concatenate([np.zeros((h, 1), dtype=np.uint8), rows], axis=1).tobytes()
    ihdr = struct.pack(">IIBBBBB", w, h, 8, color_type, 0, 0, 0)
    return (PNG_SIGNATURE + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(raw, 6))
            + _chunk(b"IEND", b""))


def write_curve_png(path: str, points: Sequence[tuple[float, float]], title: str,
                    xlabel: str, ylabel: str, width: int = 640, height: int = 320,
                    extend_to: float | None = None) -> None:
    """Render :func:`render_curve` and write it to ``path`` as PNG."""
    data = encode_png(render_curve(points, title, xlabel, ylabel, width, height,
                                   extend_to=extend_to))
    with open(path, "wb") as f:
        f.write(data)
