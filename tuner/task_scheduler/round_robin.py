"""RoundRobin: tune the unfinished tasks in turn."""

from __future__ import annotations

from .task_scheduler import TaskScheduler


class RoundRobin(TaskScheduler):
    def __init__(self) -> None:
        super().__init__()
        self._next = 0

    def next_task_id(self) -> int:
        n = len(self.tasks)
        for step in range(n):
            i = (self._next + step) % n
            if not self.tasks[i].is_terminated:
                self._next = i + 1
                return i
        return -1
