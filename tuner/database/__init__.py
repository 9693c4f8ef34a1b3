"""Tuning databases: workloads, tuning records, JSON / memory / union / schedule-fn kinds."""

from __future__ import annotations

from .database import Database, PyDatabase, TuningRecord, Workload, create
from .json_database import JSONDatabase
from .memory_database import MemoryDatabase
from .schedule_fn_database import ScheduleFnDatabase
from .union_database import OrderedUnionDatabase, UnionDatabase

__all__ = [
    "Database",
    "JSONDatabase",
    "MemoryDatabase",
    "OrderedUnionDatabase",
    "PyDatabase",
    "ScheduleFnDatabase",
    "TuningRecord",
    "UnionDatabase",
    "Workload",
    "create",
]
