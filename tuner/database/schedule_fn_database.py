"""ScheduleFnDatabase: answers queries by running a hand-written schedule function."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from onnxtune.tir import IRModule

from .database import (
    Database,
    TuningRecord,
    Workload,
    as_module,
    check_module_equality,
)


class ScheduleFnDatabase(Database):
    """``schedule_fn(sch) -> bool`` schedules a workload; True means "use this schedule"."""

    def __init__(self, schedule_fn: Callable[[Any], bool], module_equality: str = "structural"):
        self.schedule_fn = schedule_fn
        self.module_equality = check_module_equality(module_equality)

    def _run(self, mod: IRModule) -> Any:
        from onnxtune.tir.schedule import Schedule

        sch = Schedule(mod)
        return sch if self.schedule_fn(sch) else None

    def has_workload(self, mod: IRModule) -> bool:
        return self._run(as_module(mod)) is not None

    def commit_workload(self, mod: IRModule) -> Workload:
        return Workload(mod, module_equality=self.module_equality)

    def commit_tuning_record(self, record: TuningRecord) -> None:
        raise NotImplementedError("ScheduleFnDatabase holds no records: it schedules on query")

    def get_top_k(self, workload: Workload, top_k: int) -> list[TuningRecord]:
        rec = self.query_tuning_record(workload.mod)
        return [rec] if rec is not None and top_k > 0 else []

    def get_all_tuning_records(self) -> list[TuningRecord]:
        return []

    def query_tuning_record(self, mod: Any, target: Any = None,
                            workload_name: str | None = "main") -> TuningRecord | None:
        mod = as_module(mod)
        sch = self._run(mod)
        if sch is None:
            return None
        return TuningRecord(sch.trace, Workload(mod, module_equality=self.module_equality),
                            [0.0], target)

    def query_schedule(self, mod: Any, target: Any = None,
                       workload_name: str | None = "main") -> Any:
        return self._run(as_module(mod))
