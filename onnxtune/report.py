"""``report.html``: the tuning curves (whole model and per task) and the per-task table;
the same curves as PNG files (``report_model.png``, ``report_task_<id>.png``).

Charts are inline SVG drawn here, so the report needs no plotting library and opens in any
browser as one self-contained file; the PNGs are rasterized by :mod:`onnxtune.png_chart`
(numpy and zlib only).
"""

from __future__ import annotations

import html
import math
import os
import re
from collections.abc import Sequence
from typing import Any

MODEL_PNG = "report_model.png"
_TASK_PNG = re.compile(r"report_task_(\d+)\.png")


def task_png(task_id: int) -> str:
    """The file name of task ``task_id``'s chart (the ID column of the table)."""
    return f"report_task_{task_id}.png"


def _charts(report: Any) -> list[tuple[str, Any, str, str, str, float, bool]]:
    """(png file, points, title, xlabel, ylabel, trials, is the model chart) for every chart;
    a curve holds the points where the best changed, the chart runs on to ``trials``."""
    out = [(MODEL_PNG, report.model_curve, "Whole model: estimated latency", "trials", "ms",
            float(report.trials), True)]
    for i, t in enumerate(report.tasks):
        out.append((task_png(i), t.curve, f"{t.name} (weight {t.weight:g})", "trials",
                    "best latency (us)", float(t.trials), False))
    return out


def svg_curve(points: Sequence[tuple[float, float]], title: str, xlabel: str, ylabel: str,
              width: int = 520, height: int = 220, extend_to: float | None = None) -> str:
    """A step chart of ``points`` (x ascending) as an SVG element; ``extend_to`` continues
    the last value horizontally up to that x (the trials spent after the last point)."""
    pts = [(float(x), float(y)) for x, y in points if math.isfinite(y)]
    esc = html.escape
    if not pts:
        return (f'<svg width="{width}" height="{height}"><text x="10" y="20">{esc(title)}: '
                f'no valid measurement yet</text></svg>')
    left, right, top, bottom = 64, 12, 26, 36
    x0, x1 = 0.0, max(max(p[0] for p in pts), extend_to or 0.0) or 1.0
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


def render_html(report: Any, png_links: bool = True) -> str:
    """The whole report as one HTML page (``png_links``: a link to each chart's PNG file)."""
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
    charts = []
    for png, points, title, xlabel, ylabel, trials, is_model in _charts(report):
        if not is_model and not points:
            continue
        svg = svg_curve(points, title, xlabel, ylabel, extend_to=trials) if is_model else \
            svg_curve(points, title, xlabel, ylabel, width=360, height=180, extend_to=trials)
        link = f"<a href='{esc(png)}'>PNG</a>" if png_links else ""
        charts.append(f"<figure>{svg}<figcaption>{link}</figcaption></figure>")
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>onnxtune report</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
        "td:nth-child(2){text-align:left}.charts figure{display:inline-block;margin:6px}"
        "figcaption{font-size:11px}</style></head><body>"
        f"<h1>{summary}</h1>"
        + "".join(f"<p>{esc(ln)}</p>" for ln in lines)
        + "<table><tr><th>ID</th><th>Task</th><th>Weight</th><th>MFLOP</th><th>Trials</th>"
        "<th>Best (us)</th><th>GFLOPS</th></tr>" + "".join(rows) + "</table>"
        + "<div class='charts'>" + "".join(charts) + "</div></body></html>")


def write_pngs(report: Any, work_dir: str) -> list[str]:
    """Write ``report_model.png`` and one ``report_task_<id>.png`` per task (a chart that says
    "no valid measurement yet" where a curve is empty) into ``work_dir``; remove task PNGs
    left from an earlier report with more tasks. Returns the paths written."""
    from .png_chart import write_curve_png

    written = []
    for png, points, title, xlabel, ylabel, trials, is_model in _charts(report):
        path = os.path.join(work_dir, png)
        size = (640, 320) if is_model else (480, 260)
        write_curve_png(path, points, title, xlabel, ylabel, *size, extend_to=trials)
        written.append(path)
    for name in os.listdir(work_dir):
        m = _TASK_PNG.fullmatch(name)
        if m and int(m.group(1)) >= len(report.tasks):
            os.remove(os.path.join(work_dir, name))
    return written


def write_html_and_pngs(report: Any, work_dir: str) -> list[str]:
    """``report.html`` and the PNG charts in ``work_dir``; returns the paths written."""
    path = os.path.join(work_dir, "report.html")
    with open(path, "w") as f:
        f.write(render_html(report))
    return [path, *write_pngs(report, work_dir)]


def report_from_json(data: dict[str, Any]) -> Any:
    """A :class:`~onnxtune.tuning.TuneReport` from the dict ``report.json`` holds (extra keys,
    such as the derived ``ratio``, are ignored; a missing field is a clear error)."""
    import dataclasses

    from .tuning import TaskReport, TuneReport

    def build(cls: type, d: Any, what: str) -> Any:
        if not isinstance(d, dict):
            raise ValueError(f"report.json: {what} is {type(d).__name__}, expected an object")
        names = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        missing = [f.name for f in dataclasses.fields(cls) if f.name not in kw
                   and f.default is dataclasses.MISSING
                   and f.default_factory is dataclasses.MISSING]
        if missing:
            raise ValueError(f"report.json: {what} lacks {', '.join(missing)}")
        return kw

    kw = build(TuneReport, data, "the report")
    tasks = kw.get("tasks")
    if not isinstance(tasks, list):
        raise ValueError("report.json: 'tasks' is not a list")
    tk = []
    for i, t in enumerate(tasks):
        d = build(TaskReport, t, f"task {i}")
        d["curve"] = [(int(x), float(y)) for x, y in d.get("curve", [])]
        tk.append(TaskReport(**d))
    kw["tasks"] = tk
    kw["model_curve"] = [(int(x), float(y)) for x, y in kw.get("model_curve", [])]
    return TuneReport(**kw)
