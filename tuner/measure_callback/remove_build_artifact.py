"""RemoveBuildArtifact: delete built artifacts once they have been measured."""

from __future__ import annotations

import os
import shutil
from typing import Any

from .measure_callback import MeasureCallback


class RemoveBuildArtifact(MeasureCallback):
    def apply(self, task_scheduler: Any, task_id: int, measure_candidates: list[Any],
              builder_results: list[Any], runner_results: list[Any]) -> None:
        for b in builder_results:
            path = b.artifact_path
            if not path:
                continue
            if os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
            elif os.path.exists(path):
                os.remove(path)
            parent = os.path.dirname(path)
            if os.path.basename(parent).startswith("onnxtune-build-"):
                shutil.rmtree(parent, ignore_errors=True)
