"""onnxtune.tuner: the MetaSchedule engine (the seed's API, class for class).

Names are imported lazily (PEP 562), so ``import onnxtune.tuner`` stays cheap and a part
that is not built yet only fails when it is used.
"""

from __future__ import annotations

import importlib
from typing import Any

#: public name -> "submodule" or "submodule:attribute"
_EXPORTS = {
    # submodules
    "arg_info": "arg_info", "builder": "builder", "cost_model": "cost_model",
    "database": "database", "feature_extractor": "feature_extractor",
    "measure_callback": "measure_callback", "mutator": "mutator", "postproc": "postproc",
    "runner": "runner", "schedule_rule": "schedule_rule", "search_strategy": "search_strategy",
    "space_generator": "space_generator", "task_scheduler": "task_scheduler",
    "tir_integration": "tir_integration", "relax_integration": "relax_integration",
    "trace_apply": "trace_apply", "post_optimization": "post_optimization",
    "tune_context": "tune_context", "profiler": "profiler", "utils": "utils", "tune": "tune",
    # classes and functions
    "ArgInfo": "arg_info:ArgInfo", "TensorInfo": "arg_info:TensorInfo",
    "Builder": "builder:Builder", "BuilderInput": "builder:BuilderInput",
    "BuilderResult": "builder:BuilderResult", "CostModel": "cost_model:CostModel",
    "Database": "database:Database", "TuningRecord": "database:TuningRecord",
    "Workload": "database:Workload", "ExtractedTask": "relax_integration:ExtractedTask",
    "FeatureExtractor": "feature_extractor:FeatureExtractor",
    "MeasureCallback": "measure_callback:MeasureCallback", "Mutator": "mutator:Mutator",
    "Postproc": "postproc:Postproc", "Profiler": "profiler:Profiler",
    "Runner": "runner:Runner", "RunnerFuture": "runner:RunnerFuture",
    "RunnerInput": "runner:RunnerInput", "RunnerResult": "runner:RunnerResult",
    "ScheduleRule": "schedule_rule:ScheduleRule",
    "MeasureCandidate": "search_strategy:MeasureCandidate",
    "SearchStrategy": "search_strategy:SearchStrategy",
    "SpaceGenerator": "space_generator:SpaceGenerator",
    "TaskScheduler": "task_scheduler:TaskScheduler", "TuneContext": "tune_context:TuneContext",
    "derived_object": "utils:derived_object", "tune_tir": "tir_integration:tune_tir",
    "compile_tir": "tir_integration:compile_tir", "tune_tasks": "tune:tune_tasks",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    target = _EXPORTS.get(name)
    if target is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, _, attr = target.partition(":")
    value = importlib.import_module(f".{module}", __name__)
    if attr:
        value = getattr(value, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
