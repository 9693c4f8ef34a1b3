"""Metrics for cost models: RMSE, average peak score (a-peak@N), Spearman rank correlation."""

from __future__ import annotations

import numpy as np


def rmse(pred: np.ndarray, target: np.ndarray, weight: np.ndarray | None = None) -> float:
    """Root mean squared error, optionally weighted."""
    pred = np.asarray(pred, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if pred.shape != target.shape:
        raise ValueError(f"rmse: shapes differ, {pred.shape} vs {target.shape}")
    if pred.size == 0:
        return 0.0
    err = (pred - target) ** 2
    if weight is None:
        return float(np.sqrt(err.mean()))
    w = np.asarray(weight, dtype=np.float64)
    total = w.sum()
    return float(np.sqrt((err * w).sum() / total)) if total > 0 else 0.0


def average_peak_score(pred: np.ndarray, target: np.ndarray, n: int) -> float:
    """a-peak@n: the mean true score of the ``n`` candidates ranked best by ``pred``,
    divided by the best true score (1.0: the model's top-n are the true best)."""
    pred = np.asarray(pred, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if pred.shape != target.shape:
        raise ValueError(f"average_peak_score: shapes differ, {pred.shape} vs {target.shape}")
    if n < 1:
        raise ValueError(f"average_peak_score: n must be >= 1, got {n}")
    if target.size == 0 or target.max() <= 0:
        return 0.0
    top = np.argsort(-pred, kind="stable")[:n]
    return float(target[top].mean() / target.max())


def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks starting at 0, ties get their average rank."""
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[order] = np.arange(len(x), dtype=np.float64)
    sx = x[order]
    i = 0
    while i < len(sx):
        j = i
        while j + 1 < len(sx) and sx[j + 1] == sx[i]:
            j += 1
        if j > i:
            ranks[order[i:j + 1]] = (i + j) / 2.0
        i = j + 1
    return ranks


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation (0.0 when either side is constant)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1)
    b = np.asarray(b, dtype=np.float64).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"spearman: lengths differ, {a.size} vs {b.size}")
    if a.size < 2:
        return 0.0
    ra, rb = _ranks(a), _ranks(b)
    ra -= ra.mean()
    rb -= rb.mean()
    den = np.sqrt((ra * ra).sum() * (rb * rb).sum())
    return float((ra * rb).sum() / den) if den > 0 else 0.0
