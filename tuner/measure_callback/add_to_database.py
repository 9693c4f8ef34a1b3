"""AddToDatabase: commit every measured candidate (failures too) as a tuning record."""

from __future__ import annotations

from typing import Any

from ..database import TuningRecord
from ..database.database import FAILED_RUN_SECS
from .measure_callback import MeasureCallback


class AddToDatabase(MeasureCallback):
    def apply(self, task_scheduler: Any, task_id: int, measure_candidates: list[Any],
              builder_results: list[Any], runner_results: list[Any]) -> None:
        database = task_scheduler.database
        if database is None:
            return
        task = task_scheduler.tasks[task_id]
        workload = database.commit_workload(task.ctx.mod)
        for cand, b, r in zip(measure_candidates, builder_results, runner_results, strict=True):
            error = b.error_msg or r.error_msg
            run_secs = [FAILED_RUN_SECS] if error or not r.run_secs else r.run_secs
            database.commit_tuning_record(
                TuningRecord(cand.sch.trace, workload, run_secs, task.ctx.target,
                             cand.args_info, error_msg=error)
            )
