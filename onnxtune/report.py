"""``report.html``: the tuning curves (whole model and per task) and the per-task table.

Charts are inline SVG drawn here, so the report needs no plotting library and opens in any
browser as one self-contained file.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any


def svg_curve(points: Sequence[tuple[float, float]], title: str, xlabel: str, ylabel: str,
              width: int = 520, height: int = 220) -> str:
    """A step chart of ``points`` (x ascending) as an SVG element."""
    pts = [(float(x), float(y)) for x, y in points if math.isfinite(y)]
    esc = html.escape
    if not pts:
        return (f'<svg width="{width}" height="{height}"><text x="10" y="20">{esc(title)}: '
                f'no valid measurement yet</text></svg>')
    left, right, top, bottom = 64, 12, 26, 36
    x0, x1 = 0.0, max(p[0] for p in pts) or 1.0
    ys = [p[1] for p in pts]
    y0, y1 = min(ys), max(ys)
    if y1 - y0 < 1e-12:
        y0, y1 = y0 * 0.9, y1 * 1.1 + 1e-9

    def sx(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * (width - left - right)

    def sy(y: float) -> float:
        return top + (y1 - y) / (y1 - y0) * (height - top - bottom)

    path = []
    for k, (x, y) in enumerate(pts):
        if k:
            path.append(f"L{sx(x):.1f},{sy(pts[k - 1][1]):.1f}")
        path.append(f"{'M' if not k else 'L'}{sx(x):.1f},{sy(y):.1f}")
    path.append(f"L{sx(x1):.1f},{sy(pts[-1][1]):.1f}")
    ticks = []
    for k in range(5):
        v = y0 + (y1 - y0) * k / 4
        ticks.append(f'<text x="{left - 6}" y="{sy(v) + 4:.1f}" text-anchor="end" '
                     f'font-size="10">{v:.4g}</text>'
                     f'<line x1="{left}" x2="{width - right}" y1="{sy(v):.1f}" '
                     f'y2="{sy(v):.1f}" stroke="#eee"/>')
    return (
        f'<svg width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg" '
        f'font-family="sans-serif">'
        f'<text x="{left}" y="16" font-size="13" font-weight="bold">{esc(title)}</text>'
        + "".join(ticks)
        + f'<line x1="{left}" x2="{left}" y1="{top}" y2="{height - bottom}" stroke="#333"/>'
        f'<line x1="{left}" x2="{width - right}" y1="{height - bottom}" '
        f'y2="{height - bottom}" stroke="#333"/>'
        f'<text x="{left}" y="{height - bottom + 14}" font-size="10">{x0:g}</text>'
        f'<text x="{width - right}" y="{height - bottom + 14}" font-size="10" '
        f'text-anchor="end">{x1:g}</text>'
        f'<text x="{(left + width) / 2}" y="{height - 6}" font-size="11" '
        f'text-anchor="middle">{esc(xlabel)}</text>'
        f'<text x="12" y="{(top + height - bottom) / 2}" font-size="11" '
        f'transform="rotate(-90 12 {(top + height - bottom) / 2})" '
        f'text-anchor="middle">{esc(ylabel)}</text>'
        f'<path d="{" ".join(path)}" fill="none" stroke="#1f77b4" stroke-width="2"/>'
        + "".join(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2.5" fill="#1f77b4"/>'
                  for x, y in pts)
        + "</svg>")


def render_html(report: Any) -> str:
    """The whole report as one HTML page."""
    esc = html.escape
    rows = []
    for i, t in enumerate(report.tasks):
        best = f"{t.best_latency_us:.1f}" if t.best_latency_us is not None else "-"
        gf = f"{t.gflops:.1f}" if t.gflops is not None else "-"
        rows.append(f"<tr><td>{i}</td><td>{esc(t.name)}</td><td>{t.weight:g}</td>"
                    f"<td>{t.flop / 1e6:.1f}</td><td>{t.trials}</td><td>{best}</td>"
                    f"<td>{gf}</td></tr>")
    summary = esc(report.to_text().split("\n", 1)[0])
    lines = [ln for ln in report.to_text().splitlines() if ln.startswith(("latency",
                                                                          "accuracy",
                                                                          "trials"))]
    charts = [svg_curve(report.model_curve, "Whole model: estimated latency",
                        "trials", "ms")]
    for t in report.tasks:
        if t.curve:
            charts.append(svg_curve(t.curve, f"{t.name} (weight {t.weight:g})", "trials",
                                    "best latency (us)", width=360, height=180))
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>onnxtune report</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
        "td:nth-child(2){text-align:left}.charts svg{margin:6px}</style></head><body>"
        f"<h1>{summary}</h1>"
        + "".join(f"<p>{esc(ln)}</p>" for ln in lines)
        + "<table><tr><th>ID</th><th>Task</th><th>Weight</th><th>MFLOP</th><th>Trials</th>"
        "<th>Best (us)</th><th>GFLOPS</th></tr>" + "".join(rows) + "</table>"
        + "<div class='charts'>" + "".join(charts) + "</div></body></html>")
