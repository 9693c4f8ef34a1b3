"""MeasureCallback: what happens after a batch of candidates has been built and run."""

from __future__ import annotations

from typing import Any


class MeasureCallback:
    """The abstract measure callback."""

    def apply(self, task_scheduler: Any, task_id: int, measure_candidates: list[Any],
              builder_results: list[Any], runner_results: list[Any]) -> None:
        raise NotImplementedError

    @staticmethod
    def create(kind: str = "default") -> list[MeasureCallback]:
        """"default" = [AddToDatabase, RemoveBuildArtifact, UpdateCostModel]."""
        if kind != "default":
            raise ValueError(f"unknown MeasureCallback kind {kind!r}; expected 'default'")
        from .add_to_database import AddToDatabase
        from .remove_build_artifact import RemoveBuildArtifact
        from .update_cost_model import UpdateCostModel

        return [AddToDatabase(), RemoveBuildArtifact(), UpdateCostModel()]


PyMeasureCallback = MeasureCallback
