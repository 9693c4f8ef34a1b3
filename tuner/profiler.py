"""Profiler: wall time spent in named phases of tuning (TVM's meta_schedule.Profiler)."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager


class Profiler:
    """Accumulates seconds per name; ``with Profiler():`` makes it current."""

    _stack: list[Profiler] = []

    def __init__(self) -> None:
        self._secs: dict[str, float] = defaultdict(float)
        self._calls: dict[str, int] = defaultdict(int)
        self._start = time.perf_counter()

    def __enter__(self) -> Profiler:
        Profiler._stack.append(self)
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self._secs["Total"] += time.perf_counter() - self._start
        self._calls["Total"] += 1
        Profiler._stack.remove(self)

    @staticmethod
    def current() -> Profiler | None:
        return Profiler._stack[-1] if Profiler._stack else None

    @staticmethod
    @contextmanager
    def timeit(name: str) -> Iterator[None]:
        """Time the ``with`` body under ``name`` in every active profiler."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            dt = time.perf_counter() - t0
            for p in Profiler._stack:
                p._secs[name] += dt
                p._calls[name] += 1

    def get(self) -> dict[str, float]:
        """Seconds per name."""
        return dict(self._secs)

    def table(self) -> str:
        """A text table: name, seconds, share of the total, calls; largest first."""
        total = self._secs.get("Total") or (time.perf_counter() - self._start)
        rows = sorted(self._secs.items(), key=lambda kv: -kv[1])
        width = max([len(k) for k, _ in rows] + [4])
        lines = [f"{'Name':<{width}}  {'Time (s)':>10}  {'Share':>7}  {'Calls':>6}"]
        lines.append("-" * len(lines[0]))
        for name, secs in rows:
            share = 100.0 * secs / total if total > 0 else 0.0
            lines.append(f"{name:<{width}}  {secs:>10.3f}  {share:>6.1f}%  {self._calls[name]:>6}")
        return "\n".join(lines)
