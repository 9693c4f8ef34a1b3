"""A pool of persistent worker processes that run named functions on JSON arguments.

Builders and runners measure untrusted generated code: a candidate may crash the process
(segfault), never return, or fail to build. Each worker is a separate Python process
(``python -m onnxtune.tuner.worker``) talking JSON lines over pipes — no pickle. A task
that exceeds its timeout gets its worker killed; a worker that dies is replaced; either
way the task comes back as an error result and the pool goes on.

A task's clock starts when its worker is ready (started, initializer run, task module
imported), so process start-up never counts against the timeout. ``max_tasks_per_worker``
retires a worker after that many tasks (long-lived builders leak a little native memory
per module).
"""

from __future__ import annotations

import json
import os
import selectors
import signal as _signal
import subprocess
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass
from typing import Any


@dataclass
class TaskResult:
    """The outcome of one task: ``value`` on success, else ``error`` (a message)."""

    value: Any = None
    error: str | None = None
    seconds: float = 0.0
    #: "ok", "error" (the function raised), "crash" (the worker died) or "timeout"
    kind: str = "ok"
    #: the signal that killed the worker, for a crash by signal
    signal: int | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


#: seconds a new worker may take to start (Python, imports, initializer) before its first
#: task's own timeout begins
STARTUP_TIMEOUT = 120.0


def signal_name(signum: int) -> str:
    """``"SIGSEGV"`` for 11, or ``"signal N"`` for a number without a name."""
    try:
        return _signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class _Worker:
    def __init__(self, initializer: str | None, preload: str | None = None):
        self.log = tempfile.TemporaryFile(mode="w+b")
        env = dict(os.environ)
        # the worker imports what this process can: the package and the task's module
        paths = [_package_root()] + [p for p in sys.path if p and os.path.isdir(p)]
        env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
        cmd = [sys.executable, "-u", "-m", "onnxtune.tuner.worker"]
        if initializer:
            cmd += ["--initializer", initializer]
        if preload:
            cmd += ["--preload", preload]
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, env=env,
            cwd=os.getcwd(),
        )
        self.buf = b""
        self.ready = False  # set when the worker's {"ready": true} line arrives
        self.tasks_done = 0
        # (index, start, deadline, timeout); before the worker is ready the deadline
        # includes STARTUP_TIMEOUT
        self.task: tuple[int, float, float, float] | None = None

    def send(self, index: int, fn: str, args: list[Any], timeout: float) -> None:
        msg = json.dumps({"id": index, "fn": fn, "args": args}) + "\n"
        now = time.perf_counter()
        grace = 0.0 if self.ready else STARTUP_TIMEOUT
        self.task = (index, now, now + timeout + grace, timeout)
        assert self.proc.stdin is not None
        self.proc.stdin.write(msg.encode())
        self.proc.stdin.flush()

    def stderr_tail(self, n: int = 2000) -> str:
        try:
            self.log.seek(0, os.SEEK_END)
            size = self.log.tell()
            self.log.seek(max(0, size - n))
            return self.log.read().decode(errors="replace").strip()
        except (OSError, ValueError):
            return ""

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover - kill cannot be ignored
            pass
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                if f is not None:
                    f.close()
            except OSError:
                pass
        self.log.close()


def _package_root() -> str:
    """The folder that makes ``import onnxtune`` work in the worker as it does here."""
    import onnxtune

    return os.path.dirname(os.path.dirname(os.path.abspath(onnxtune.__file__)))


class WorkerPool:
    """``map(fn, args_list, timeout)`` over ``max_workers`` persistent processes.

    ``fn`` is ``"package.module:function"``; arguments and results are JSON values.
    """

    def __init__(self, max_workers: int = 1, initializer: str | None = None,
                 max_tasks_per_worker: int | None = None):
        if max_workers < 1:
            raise ValueError(f"max_workers must be >= 1, got {max_workers}")
        if max_tasks_per_worker is not None and max_tasks_per_worker < 1:
            raise ValueError(f"max_tasks_per_worker must be >= 1 or None, got "
                             f"{max_tasks_per_worker}")
        self.max_workers = max_workers
        self.initializer = initializer
        self.max_tasks_per_worker = max_tasks_per_worker
        self.workers_started = 0
        self._idle: list[_Worker] = []

    def _get_worker(self, fn: str) -> _Worker:
        while self._idle:
            w = self._idle.pop()
            if w.proc.poll() is None:
                return w
            w.kill()
        self.workers_started += 1
        return _Worker(self.initializer, preload=fn)

    def map(self, fn: str, args_list: list[list[Any]], timeout: float) -> list[TaskResult]:
        """Run ``fn(*args)`` for each args; results in order. Never raises for a task."""
        results: list[TaskResult | None] = [None] * len(args_list)
        pending = deque(range(len(args_list)))
        busy: dict[int, _Worker] = {}  # fd -> worker
        sel = selectors.DefaultSelector()
        try:
            while pending or busy:
                while pending and len(busy) < self.max_workers:
                    i = pending.popleft()
                    w = self._get_worker(fn)
                    try:
                        w.send(i, fn, args_list[i], timeout)
                    except (BrokenPipeError, OSError):
                        results[i] = TaskResult(error="worker process died before the task "
                                                f"started: {w.stderr_tail()}", kind="crash")
                        w.kill()
                        continue
                    assert w.proc.stdout is not None
                    fd = w.proc.stdout.fileno()
                    busy[fd] = w
                    sel.register(fd, selectors.EVENT_READ, w)
                if not busy:
                    continue
                now = time.perf_counter()
                wait = max(0.0, min(w.task[2] for w in busy.values()) - now)  # type: ignore[index]
                for key, _ in sel.select(timeout=min(wait, 1.0) + 1e-3):
                    w = key.data
                    chunk = os.read(key.fd, 1 << 16)
                    if not chunk:  # the worker died mid-task
                        self._finish(sel, busy, key.fd, w, results, self._crash_result(w),
                                     reuse=False)
                        continue
                    w.buf += chunk
                    while b"\n" in w.buf and w.task is not None:
                        line, w.buf = w.buf.split(b"\n", 1)
                        if not w.ready and line.strip() == b'{"ready": true}':
                            w.ready = True
                            idx, _, _, limit = w.task
                            now = time.perf_counter()
                            w.task = (idx, now, now + limit, limit)
                            continue
                        self._finish(sel, busy, key.fd, w, results, self._parse(w, line),
                                     reuse=True)
                now = time.perf_counter()
                for fd, w in list(busy.items()):
                    if w.task is not None and now > w.task[2]:
                        if w.ready:
                            what = f"the task timed out after {w.task[3]:g} s"
                        else:
                            what = (f"the worker did not start within {STARTUP_TIMEOUT:g} s: "
                                    f"{w.stderr_tail()}")
                        res = TaskResult(error=f"timeout: {what}; its worker was killed",
                                         seconds=now - w.task[1], kind="timeout")
                        self._finish(sel, busy, fd, w, results, res, reuse=False)
        finally:
            sel.close()
        return [r if r is not None else TaskResult(error="internal: no result") for r in results]

    def _parse(self, w: _Worker, line: bytes) -> TaskResult:
        assert w.task is not None
        elapsed = time.perf_counter() - w.task[1]
        try:
            msg = json.loads(line)
        except json.JSONDecodeError:
            return TaskResult(error=f"worker sent a malformed reply: {line[:200]!r}",
                              seconds=elapsed, kind="error")
        if "error" in msg:
            return TaskResult(error=msg["error"], seconds=elapsed, kind="error")
        return TaskResult(value=msg.get("ok"), seconds=elapsed)

    def _crash_result(self, w: _Worker) -> TaskResult:
        code = w.proc.wait()
        assert w.task is not None
        if code < 0:
            how = f"killed by signal {-code} {signal_name(-code)}"
        else:
            how = f"exited with status {code}"
        tail = w.stderr_tail()
        return TaskResult(error=f"worker process crashed ({how})" + (f": {tail}" if tail else ""),
                          seconds=time.perf_counter() - w.task[1], kind="crash",
                          signal=-code if code < 0 else None)

    def _finish(self, sel: selectors.BaseSelector, busy: dict[int, _Worker], fd: int,
                w: _Worker, results: list[TaskResult | None], res: TaskResult,
                reuse: bool) -> None:
        assert w.task is not None
        results[w.task[0]] = res
        w.task = None
        sel.unregister(fd)
        del busy[fd]
        w.tasks_done += 1
        retire = (self.max_tasks_per_worker is not None
                  and w.tasks_done >= self.max_tasks_per_worker)
        if reuse and not retire and w.proc.poll() is None:
            self._idle.append(w)
        else:
            w.kill()

    def close(self) -> None:
        for w in self._idle:
            w.kill()
        self._idle.clear()

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass
