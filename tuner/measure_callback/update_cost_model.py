"""UpdateCostModel: train the cost model on every measured batch."""

from __future__ import annotations

from typing import Any

from .measure_callback import MeasureCallback


class UpdateCostModel(MeasureCallback):
    def apply(self, task_scheduler: Any, task_id: int, measure_candidates: list[Any],
              builder_results: list[Any], runner_results: list[Any]) -> None:
        model = task_scheduler.cost_model
        if model is None:
            return
        task = task_scheduler.tasks[task_id]
        model.update(task.ctx, measure_candidates, runner_results)
