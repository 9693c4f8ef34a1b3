"""PNG charts of the report: the encoder (decoded here with zlib + struct), the rasterized
curve (pixels where the data says), edge cases, and the files ``write_report`` and
``onnxtune report`` write. No tuning runs here: reports are built directly."""

from __future__ import annotations

import json
import math
import os
import struct
import zlib

import numpy as np
import pytest

from onnxtune.cli import main
from onnxtune.png_chart import (
    GLYPHS,
    encode_png,
    format_tick,
    nice_ticks,
    render_curve,
    text_mask,
    write_curve_png,
)
from onnxtune.report import render_html, report_from_json, write_pngs
from onnxtune.tuning import TaskReport, TuneReport, write_report

CURVE = np.array([0x1F, 0x77, 0xB4])


# -- a tiny PNG decoder (8-bit grayscale or RGB, no interlace, all five row filters) -----------
def decode_png(data: bytes) -> np.ndarray:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "bad signature"
    pos, chunks = 8, []
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        (crc,) = struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF, f"bad CRC in {kind!r}"
        chunks.append((kind, body))
        pos += 12 + n
    assert pos == len(data)
    assert chunks[0][0] == b"IHDR" and chunks[-1] == (b"IEND", b"")
    w, h, depth, ctype, comp, filt, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (depth, comp, filt, interlace) == (8, 0, 0, 0) and ctype in (0, 2)
    ch = 3 if ctype == 2 else 1
    raw = zlib.decompress(b"".join(b for k, b in chunks if k == b"IDAT"))
    stride = w * ch
    assert len(raw) == h * (stride + 1)
    out = np.zeros((h, stride), dtype=np.uint8)
    prev = np.zeros(stride, dtype=np.int64)
    for r in range(h):
        ftype = raw[r * (stride + 1)]
        line = np.frombuffer(raw, np.uint8, stride, r * (stride + 1) + 1).astype(np.int64)
        cur = np.zeros(stride, dtype=np.int64)
        if ftype in (0, 2):  # None / Up (vectorized; our encoder writes 0)
            cur = (line + (prev if ftype == 2 else 0)) & 0xFF
            out[r], prev = cur, cur
            continue
        for i in range(stride):
            a = cur[i - ch] if i >= ch else 0
            b, c = prev[i], (prev[i - ch] if i >= ch else 0)
            if ftype == 0:
                pred = 0
            elif ftype == 1:
                pred = a
            elif ftype == 2:
                pred = b
            elif ftype == 3:
                pred = (a + b) // 2
            else:
                assert ftype == 4, f"filter type {ftype}"
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            cur[i] = (line[i] + pred) & 0xFF
        out[r], prev = cur, cur
    return out.reshape(h, w, ch) if ch == 3 else out.reshape(h, w)


def _curve_mask(img: np.ndarray) -> np.ndarray:
    """Pixels mostly of the curve's color (blue dominant, saturated)."""
    i = img.astype(np.int64)
    return (i[..., 2] - i[..., 0] > 60) & (i[..., 2] > 120)


def _dark(img: np.ndarray) -> np.ndarray:
    return img.astype(np.int64).sum(axis=-1) < 200


# -- encoder -------------------------------------------------------------------------------
def test_encode_decode_round_trip():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (7, 13, 3), dtype=np.uint8)
    np.testing.assert_array_equal(decode_png(encode_png(img)), img)
    gray = rng.integers(0, 256, (5, 3), dtype=np.uint8)
    np.testing.assert_array_equal(decode_png(encode_png(gray)), gray)
    with pytest.raises(ValueError, match="uint8"):
        encode_png(img.astype(np.float32))
    with pytest.raises(ValueError, match="empty"):
        encode_png(np.zeros((0, 4, 3), np.uint8))


def test_font_and_ticks():
    assert all(g.shape == (8, 5) for g in GLYPHS.values())
    assert all(g.any() for ch, g in GLYPHS.items() if ch != " ")
    assert text_mask("AB", 2).shape == (16, 22)
    np.testing.assert_array_equal(text_mask("\u2603"), text_mask("?"))  # unknown -> '?'
    assert nice_ticks(0, 10, 5) == [0, 2, 4, 6, 8, 10]
    t = nice_ticks(0.013, 0.087, 5)
    assert t[0] >= 0.013 and t[-1] <= 0.087 and len(t) >= 3
    assert nice_ticks(3.0, 3.0) == [3.0]
    assert format_tick(1500.0, 500.0) == "1500"
    assert format_tick(0.25, 0.05) == "0.25"
    assert format_tick(2.5e-7, 5e-8) == "2.5e-07"
    assert format_tick(3e9, 1e9) == "3e+09"
    assert format_tick(1e-17, 0.5) == "0"


# -- rasterized curves ---------------------------------------------------------------------
def test_rising_curve_pixels():
    pts = [(x, 1.0 + x) for x in range(0, 101, 10)]
    img = decode_png(encode_png(render_curve(pts, "Rising 0123", "trials", "ms",
                                             width=400, height=240)))
    assert img.shape == (240, 400, 3)
    assert (img[-1, -1] == 255).all() and (img[0, -1] == 255).all()
    assert (img == 255).all(axis=-1).mean() > 0.75  # mostly white background
    curve = _curve_mask(img)
    cols = np.nonzero(curve.any(axis=0))[0]
    assert cols.size > 200  # the curve spans most of the plot's width
    left_rows = np.nonzero(curve[:, cols[0]:cols[0] + 5].any(axis=1))[0]
    right_rows = np.nonzero(curve[:, cols[-1] - 4:cols[-1] + 1].any(axis=1))[0]
    assert left_rows.mean() > right_rows.mean() + 100  # y up: the left end is lower
    # the line is at least 2 px thick and anti-aliased (intermediate shades exist)
    mid = cols[cols.size // 2]
    assert curve[:, mid].sum() >= 2
    i = img.astype(np.int64)
    assert ((i[..., 0] > 60) & (i[..., 0] < 200) & (i[..., 2] > i[..., 0] + 20)).any()
    # title text in the top band, axis text at the bottom and left
    assert _dark(img[:24]).sum() > 50
    assert _dark(img[-12:]).any() and _dark(img[:, :12]).any()
    assert not curve[:24].any()


def test_falling_step_curve():
    pts = [(64, 5.0), (128, 3.2), (192, 3.2), (256, 2.1)]
    img = render_curve(pts, "Falling", "trials", "ms", markers=False)
    assert img.shape == (320, 640, 3) and img.dtype == np.uint8
    curve = _curve_mask(img)
    cols = np.nonzero(curve.any(axis=0))[0]
    left = np.nonzero(curve[:, cols[0]])[0].mean()
    right = np.nonzero(curve[:, cols[-1] - 3])[0].mean()
    assert left < right - 100  # the left end is higher
    # a step chart: the flat part between x=128 and x=256 is one row band
    seg = curve[:, cols[0] + (cols[-1] - cols[0]) * 3 // 4]
    assert 2 <= seg.sum() <= 4


def test_empty_curve_png(tmp_path):
    for pts in ([], [(1, math.nan), (2, math.inf), (3, -math.inf)]):
        path = str(tmp_path / "empty.png")
        write_curve_png(path, pts, "Nothing yet", "trials", "ms", 480, 260)
        img = decode_png(open(path, "rb").read())
        assert img.shape == (260, 480, 3)
        assert not _curve_mask(img).any()
        assert _dark(img[:24]).any()  # the title
        assert _dark(img[100:160]).sum() > 100  # "no valid measurement yet"


@pytest.mark.parametrize("pts", [
    [(5, 2.0)],                                  # one point
    [(0, 3.0), (50, 3.0), (100, 3.0)],           # flat
    [(0, 0.0), (10, 0.0)],                       # flat at zero
    [(1, 3e200), (2, 1e200), (9, 5e199)],        # huge
    [(1, 3e-200), (2, 1e-200), (9, 5e-201)],     # tiny
    [(1, 1e6 + 1e-3), (2, 1e6)],                 # tiny span at a large value
    [(1, 4.0), (2, math.nan), (3, math.inf), (4, 2.0), (math.nan, 1.0), (6, 1e308)],
])
def test_edge_cases_render(pts):
    img = decode_png(encode_png(render_curve(pts, "edge", "trials", "us", 480, 260)))
    assert img.shape == (260, 480, 3)
    assert _curve_mask(img).sum() > 10  # the valid points are drawn
    assert _dark(img[:24]).any()


def test_extend_to_continues_the_last_value():
    short = _curve_mask(render_curve([(1, 3.7)], "t", "trials", "us", 480, 260))
    long = _curve_mask(render_curve([(1, 3.7)], "t", "trials", "us", 480, 260, extend_to=8))
    assert np.ptp(np.nonzero(short.any(axis=0))[0]) < 10  # a lone marker
    cols = np.nonzero(long.any(axis=0))[0]
    assert np.ptp(cols) > 300  # a line from trial 1 to trial 8
    rows = np.nonzero(long[:, cols[-1] - 2])[0]
    assert np.ptp(rows) <= 3  # horizontal, at the point's height


def test_many_points_is_fast_enough():
    pts = [(i, 100.0 / (1 + i) ** 0.3) for i in range(1, 5001)]
    img = render_curve(pts, "long", "trials", "us", 480, 260)
    assert _curve_mask(img).any()


def test_bad_sizes():
    with pytest.raises(ValueError, match="too small"):
        render_curve([(1, 1.0)], "t", "x", "y", width=50, height=50)


# -- report files --------------------------------------------------------------------------
def _fake_report(work_dir: str) -> TuneReport:
    tasks = [
        TaskReport("fused_conv2d_add_relu", 2.0, 4.2e6, 12, 35.5, 118.3,
                   [(1, 80.0), (4, 50.0), (9, 35.5)]),
        TaskReport("fused_dense", 1.0, 1.0e4, 0, None, None, []),
        TaskReport("softmax", 1.0, 2.0e3, 3, 1.25, 1.6, [(3, 1.25)]),
    ]
    return TuneReport(model="small", target="llvm", work_dir=work_dir,
                      module_equality="anchor-block", tasks=tasks, trials=15,
                      tuning_seconds=3.0, interrupted=False, schedules={"tuned": 3},
                      threads=2, ours_ms=0.5, onnxruntime_ms=0.4,
                      model_curve=[(4, 0.9), (8, 0.7), (15, 0.5)])


def test_write_report_writes_pngs(tmp_path):
    work = str(tmp_path)
    open(os.path.join(work, "report_task_7.png"), "wb").write(b"stale")
    rep = _fake_report(work)
    write_report(rep, work)
    names = sorted(n for n in os.listdir(work) if n.endswith(".png"))
    assert names == ["report_model.png", "report_task_0.png", "report_task_1.png",
                     "report_task_2.png"]
    model = decode_png(open(os.path.join(work, "report_model.png"), "rb").read())
    assert model.shape == (320, 640, 3) and _curve_mask(model).sum() > 100
    t0 = decode_png(open(os.path.join(work, "report_task_0.png"), "rb").read())
    assert t0.shape == (260, 480, 3) and _curve_mask(t0).sum() > 100
    t1 = decode_png(open(os.path.join(work, "report_task_1.png"), "rb").read())
    assert not _curve_mask(t1).any()  # no valid measurement
    html = open(os.path.join(work, "report.html")).read()
    assert "href='report_model.png'" in html and "href='report_task_0.png'" in html
    assert "<svg" in html
    assert "report_task_1.png" not in html  # no chart for a task without a curve
    assert "report_model.png" not in render_html(rep, png_links=False)
    # write_report(html=False) writes neither HTML nor PNGs
    other = tmp_path / "other"
    other.mkdir()
    write_report(rep, str(other), html=False)
    assert sorted(os.listdir(other)) == ["report.json", "report.txt"]


def test_report_from_json_round_trip(tmp_path):
    rep = _fake_report(str(tmp_path))
    data = json.loads(json.dumps(rep.as_json()))
    back = report_from_json(data)
    assert back == rep
    with pytest.raises(ValueError, match="lacks"):
        report_from_json({k: v for k, v in data.items() if k != "threads"})
    with pytest.raises(ValueError, match="task 0"):
        report_from_json({**data, "tasks": [7]})


def test_cli_report_rerenders_pngs(tmp_path, capsys):
    work = str(tmp_path)
    write_report(_fake_report(work), work)
    for n in os.listdir(work):
        if n.endswith((".png", ".html")):
            os.remove(os.path.join(work, n))
    assert main(["report", work]) == 0
    out = capsys.readouterr().out
    assert "onnxtune report" in out and "4 PNG files" in out
    assert len(write_pngs(_fake_report(work), work)) == 4
    for n in ("report.html", "report_model.png", "report_task_2.png"):
        assert os.path.isfile(os.path.join(work, n))
    decode_png(open(os.path.join(work, "report_task_2.png"), "rb").read())
    # a report.json the charts can't be built from: a warning, the text still prints
    with open(os.path.join(work, "report.json"), "w") as f:
        json.dump({"model": "x"}, f)
    assert main(["report", work]) == 0
    cap = capsys.readouterr()
    assert "onnxtune report" in cap.out and "not re-rendered" in cap.err
