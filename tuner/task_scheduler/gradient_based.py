"""GradientBased: give the next round to the task whose weighted latency falls fastest.

After one warm-up round per task, each task's score is an estimate of how much the
model's total latency (sum of weight × best latency) drops per trial spent on it:
``weight × (alpha × backward + (1 - alpha) × forward)`` where *backward* is the drop of
its best latency over the last ``window_size`` rounds (per round) and *forward* the
optimistic guess ``best / rounds`` that a task tuned little still has much to gain.
"""

from __future__ import annotations

import math
import random

from .task_scheduler import TaskScheduler


class GradientBased(TaskScheduler):
    def __init__(self, *, alpha: float = 0.2, window_size: int = 3, seed: int = -1):
        super().__init__()
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        if window_size < 1:
            raise ValueError(f"window_size must be >= 1, got {window_size}")
        self.alpha = alpha
        self.window_size = window_size
        self.rng = random.Random(None if seed == -1 else seed)
        self._warmup = 0

    def gradient(self, task_id: int) -> float:
        t = self.tasks[task_id]
        hist = t.best_history
        if not hist or not math.isfinite(hist[-1]):
            return math.inf  # nothing valid measured yet: worth a try
        n, w = len(hist), self.window_size
        best = hist[-1]
        back = (hist[-1 - w] - best) / w if n > w and math.isfinite(hist[-1 - w]) else 0.0
        fwd = best / n
        return t.weight * (self.alpha * back + (1 - self.alpha) * fwd)

    def next_task_id(self) -> int:
        alive = [i for i, t in enumerate(self.tasks) if not t.is_terminated]
        if not alive:
            return -1
        while self._warmup < len(self.tasks):
            i = self._warmup
            self._warmup += 1
            if not self.tasks[i].is_terminated:
                return i
        grads = {i: self.gradient(i) for i in alive}
        top = max(grads.values())
        return self.rng.choice([i for i, g in grads.items() if g == top])
